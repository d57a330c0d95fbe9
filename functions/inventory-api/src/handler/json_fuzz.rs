//! Hostile JSON bodies on the inventory and price-change routes: mutations of valid bodies
//! never panic the handler and never get a 5xx (see `tributary::testing::fuzz`).

use super::*;
use serde_json::{Value, json};
use tributary::testing::{self, fuzz};

const SAMPLE: &str = include_str!("../../../../events/inventory-api.json");

fn request(method: &str, path: &str, body: Value) -> Request {
    testing::api_request(SAMPLE, method, path, Some(body), "vendor_admin", "ada")
}

fn yesterday() -> String {
    (Utc::now().date_naive() - chrono::Days::new(1)).to_string()
}

#[tokio::test]
async fn threshold_bodies_never_get_a_server_error() {
    let (service, [dist, _]) = testing::inventory_service().await;
    let event: Value = serde_json::from_str(SAMPLE).unwrap();
    let mut sample: Value = serde_json::from_str(event["body"].as_str().unwrap()).unwrap();
    sample["thresholds"][0]["distributor"] = dist.as_str().into();
    fuzz::check_route(
        "PUT /inventory/thresholds",
        &sample,
        |body| request("PUT", "/inventory/thresholds", body),
        |r| route(&service, r),
    )
    .await;
}

#[tokio::test]
async fn shipment_bodies_never_get_a_server_error() {
    let (service, [dist, _]) = testing::inventory_service().await;
    let sample = json!({"shipments": [
        {"id": "S1", "distributor": dist, "sku": "NW-1", "quantity": 5, "shipped_on": yesterday()},
        {"id": "S2", "distributor": dist, "sku": "NW-2", "quantity": 1, "shipped_on": yesterday()},
    ]});
    fuzz::check_route(
        "POST /inventory/shipments",
        &sample,
        |body| request("POST", "/inventory/shipments", body),
        |r| route(&service, r),
    )
    .await;
}

#[tokio::test]
async fn price_change_bodies_never_get_a_server_error() {
    let (service, _) = testing::inventory_service().await;
    let sample = json!({"sku": "NW-1", "old_cost": {"amount": "5", "currency": "USD"},
        "new_cost": {"amount": "4", "currency": "USD"}, "effective_date": yesterday()});
    fuzz::check_route(
        "POST /price-changes",
        &sample,
        |body| request("POST", "/price-changes", body),
        |r| route(&service, r),
    )
    .await;
}
