//! Hostile JSON bodies on the catalog, profile and held-line routes: mutations of valid bodies
//! never panic the handler and never get a 5xx (see `tributary::testing::fuzz`).

use super::*;
use serde_json::{Value, json};
use tributary::domain::pos::{FileId, PosLine, TransactionType};
use tributary::domain::{Partner, PartnerStatus};
use tributary::store::{DynamoStore, StoredLine};
use tributary::testing::{self, fuzz};

const SAMPLE: &str = include_str!("../../../../events/pos-api.json");

fn request(method: &str, path: &str, body: Value) -> Request {
    testing::api_request(SAMPLE, method, path, Some(body), "vendor_admin", "ada")
}

/// A fresh table with a distributor, and the held-line service over it.
async fn setup() -> (DynamoStore, HeldLines<DynamoStore>, Partner) {
    let store = testing::table().await;
    let distributor = Partner::new(
        "Fabrikam",
        PartnerKind::Distributor,
        "US",
        PartnerStatus::Active,
        Utc::now(),
    )
    .unwrap();
    store.create_partner(&distributor).await.unwrap();
    let sqs = testing::sqs_client().await;
    let held = HeldLines {
        store: store.clone(),
        publisher: tributary::messaging::SqsPublisher::new(sqs.clone()),
        sales_queue_url: testing::queue(&sqs, false).await,
    };
    (store, held, distributor)
}

#[tokio::test]
async fn catalog_bodies_never_get_a_server_error() {
    let (_, held, _) = setup().await;
    let sample = json!({"skus": [
        {"sku": "NW-1", "name": "Switch", "cost": {"amount": "120.00", "currency": "USD"}},
        {"sku": "NW-2", "name": "Router"},
    ]});
    fuzz::check_route(
        "PUT /catalog/skus",
        &sample,
        |body| request("PUT", "/catalog/skus", body),
        |r| route(&held, r),
    )
    .await;
}

#[tokio::test]
async fn profile_bodies_never_get_a_server_error() {
    let (_, held, distributor) = setup().await;
    let path = format!("/distributors/{}/profile", distributor.id);
    let sample = json!({"columns": {"sku": "Artikel", "quantity": 3, "reseller_name": "Kunde"},
        "date_formats": ["%d/%m/%Y", "%Y%m%d"], "decimal_separator": ",", "thousands_separator": ".",
        "default_currency": "EUR", "transaction_types": {"VK": "stock_sale", "GS": "return"},
        "encoding": "windows1252", "delimiter": ";"});
    fuzz::check_route(
        "PUT /distributors/{id}/profile",
        &sample,
        |body| request("PUT", &path, body),
        |r| route(&held, r),
    )
    .await;
}

#[tokio::test]
async fn release_bodies_never_get_a_server_error() {
    let (store, held, distributor) = setup().await;
    let partner = testing::partner(&store, PartnerStatus::Active).await.id;
    // Held lines under the name, more than the cases can release.
    let lines: Vec<StoredLine> = (0..40)
        .map(|i| {
            let line = PosLine {
                distributor: distributor.id.clone(),
                reseller_id: None,
                reseller_name: Some("NWR Group".into()),
                end_customer_name: None,
                end_customer_country: None,
                sku: "NW-1".into(),
                quantity: 2,
                unit_price: Money::parse("10", "USD").unwrap(),
                invoice_number: format!("I{i}"),
                line_number: "1".into(),
                invoice_date: Utc::now().date_naive(),
                transaction_type: TransactionType::StockSale,
                held: true,
            };
            StoredLine {
                key: line.key(),
                file: FileId::of_object("drop", "k", "v"),
                row: i + 2,
                line: serde_json::to_string(&line).unwrap(),
                held: line.held_under(),
            }
        })
        .collect();
    store.put_lines(lines, 1).await.unwrap();
    let sample =
        json!({"distributor": distributor.id, "reseller_name": "NWR Group", "partner_id": partner});
    fuzz::check_route(
        "POST /pos/held-lines/release",
        &sample,
        |body| {
            testing::api_request(
                SAMPLE,
                "POST",
                "/pos/held-lines/release",
                Some(body),
                "channel_manager",
                "cm",
            )
        },
        |r| route(&held, r),
    )
    .await;
}
