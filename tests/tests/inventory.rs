//! Channel inventory through the local stack: an inventory file dropped by a distributor ends as
//! an open alert (and its notification, delivered to the distributor's subscription), and a
//! price drop ends as a credit on the stock it held.

use e2e::Stack;
use serde_json::{Value, json};
use tributary::testing::Receiver;

/// The notifications about `sku` the receiver got, waiting up to `seconds` for the first.
fn notifications_about(receiver: &Receiver, sku: &str, seconds: u64) -> Vec<Value> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
    loop {
        let found: Vec<Value> = receiver
            .received()
            .iter()
            .filter_map(|r| serde_json::from_str::<Value>(&r.body).ok())
            .filter(|body| body["data"]["sku"] == sku)
            .collect();
        if !found.is_empty() || std::time::Instant::now() > deadline {
            return found;
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
}

// Worker threads serve the receiver while the test blocks on its HTTP calls.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inventory_file_ends_as_an_alert_and_a_price_drop_as_a_credit() {
    let stack = Stack::load();
    let admin = stack.demo_key("vendor_admin");
    let (distributor, distributor_key) = stack.partner_key(2);
    let stamp = chrono::Utc::now().timestamp_millis();
    let today = chrono::Utc::now().date_naive();
    let sku = format!("INV-{stamp}");
    let receiver = Receiver::start(vec![]).await;
    let reply = stack.send(
        "POST",
        "/subscriptions",
        Some(&distributor_key),
        Some(&json!({"url": receiver.url, "event_types": ["inventory.*"]})),
    );
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    let subscription = reply.body["id"].as_str().unwrap().to_string();

    let reply = stack.send(
        "PUT",
        "/catalog/skus",
        Some(&admin),
        Some(&json!({"skus": [{"sku": sku, "name": "Stocked widget"}]})),
    );
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    let reply = stack.send(
        "PUT",
        "/inventory/thresholds",
        Some(&admin),
        Some(&json!({"thresholds": [{"sku": sku, "min_units": 10}]})),
    );
    assert_eq!(reply.status, 200, "{:?}", reply.body);

    // Yesterday's stock at two locations: 3 in east (under the minimum of 10), 25 in west.
    let yesterday = today.pred_opt().unwrap();
    let csv =
        format!("Location,SKU,On Hand,Date\neast,{sku},3,{yesterday}\nwest,{sku},25,{yesterday}\n");
    stack
        .drop_file(
            &format!("{distributor}/inventory/stock {stamp}.csv"),
            csv.into_bytes(),
        )
        .await;
    let of_sku = |body: &Value| -> Vec<Value> {
        body["alerts"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|a| a["sku"] == sku.as_str())
            .cloned()
            .collect()
    };
    let reply = stack.wait_for("/inventory/alerts?state=open", &distributor_key, 90, |r| {
        r.status == 200 && !of_sku(&r.body).is_empty()
    });
    let alerts = of_sku(&reply.body);
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0]["location"], "east");
    assert_eq!(alerts[0]["state"], "low");
    // Vendor staff see it too, filtered by state.
    let manager = stack.demo_key("channel_manager");
    let staff = stack.request("GET", "/inventory/alerts?state=low", Some(&manager));
    assert_eq!(of_sku(&staff.body).len(), 1, "{:?}", staff.body);
    let sent = notifications_about(&receiver, &sku, 60);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["type"], "inventory.alert_raised");
    assert_eq!(sent[0]["data"]["state"], "low");
    let deleted = stack.request(
        "DELETE",
        &format!("/subscriptions/{subscription}"),
        Some(&distributor_key),
    );
    assert_eq!(deleted.status, 204);

    // A cost drop of 2.50 from yesterday, due today (a day after): 28 units on hand → 70.00.
    let reply = stack.send(
        "POST",
        "/price-changes",
        Some(&admin),
        Some(
            &json!({"sku": sku, "old_cost": {"amount": "40.00", "currency": "USD"},
                     "new_cost": {"amount": "37.50", "currency": "USD"},
                     "effective_date": yesterday}),
        ),
    );
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    let change = reply.body["id"].as_str().unwrap().to_string();
    let credits_of = |body: &Value| -> Vec<Value> {
        body["credits"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|c| c["price_change_id"] == change.as_str())
            .cloned()
            .collect()
    };
    let reply = stack.wait_for("/price-protection/credits", &distributor_key, 60, |r| {
        r.status == 200 && !credits_of(&r.body).is_empty()
    });
    let credits = credits_of(&reply.body);
    assert_eq!(credits[0]["units"], 28, "{credits:?}");
    assert_eq!(credits[0]["credit"]["amount"], "70.00");
    // Announced again: the same change, no second credit.
    let again = stack.send(
        "POST",
        "/price-changes",
        Some(&admin),
        Some(
            &json!({"sku": sku, "old_cost": {"amount": "40.00", "currency": "USD"},
                     "new_cost": {"amount": "37.50", "currency": "USD"},
                     "effective_date": yesterday}),
        ),
    );
    assert_eq!(again.status, 200, "{:?}", again.body);
    let swept = stack.send(
        "POST",
        "/_local/schedules/inventory-alerts/Sweep",
        None,
        None,
    );
    assert_eq!(swept.status, 200, "{:?}", swept.body);
    std::thread::sleep(std::time::Duration::from_secs(2));
    let reply = stack.request("GET", "/price-protection/credits", Some(&distributor_key));
    assert_eq!(credits_of(&reply.body).len(), 1, "{:?}", reply.body);
}
