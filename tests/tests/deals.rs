//! Deal registration through the running stack: partners register over HTTP, the review queue
//! delivers to deal-approve, managers decide.

use e2e::Stack;
use serde_json::{Value, json};

fn registration(customer: &str, amount: &str) -> Value {
    json!({
        "end_customer": {"name": customer, "country": "US"},
        "products": ["NW-SWITCH-24", "SEC-FW-500"],
        "estimated_value": {"amount": amount, "currency": "USD"},
        "expected_close_date": "2099-06-30",
        "notes": "end-to-end"
    })
}

fn unique_customer(prefix: &str) -> String {
    format!("{prefix} {}", chrono::Utc::now().timestamp_micros())
}

fn status_is(status: &'static str) -> impl Fn(&e2e::Reply) -> bool {
    move |reply| reply.body["deal"]["status"] == status
}

#[test]
fn two_partners_register_the_same_customer_and_exactly_one_is_approved() {
    let stack = Stack::load();
    let (_, first_key) = stack.partner_key(0);
    let (_, second_key) = stack.partner_key(1);
    let manager = stack.demo_key("channel_manager");
    let customer = unique_customer("Contoso Pharma");

    // Under the auto-approval threshold and unopposed: approved by review, via the queue.
    let first = stack.send(
        "POST",
        "/deals",
        Some(&first_key),
        Some(&registration(&format!("{customer}, Inc."), "500")),
    );
    assert_eq!(first.status, 201, "{:?}", first.body);
    assert_eq!(first.body["status"], "submitted");
    let first_id = first.body["id"].as_str().unwrap().to_string();
    stack.wait_for(
        &format!("/deals/{first_id}"),
        &first_key,
        30,
        status_is("approved"),
    );

    // The same customer (other spelling) and a shared product from another partner: held.
    let second = stack.send(
        "POST",
        "/deals",
        Some(&second_key),
        Some(&registration(&customer.to_uppercase(), "500")),
    );
    assert_eq!(second.status, 201, "{:?}", second.body);
    let second_id = second.body["id"].as_str().unwrap().to_string();
    let held = stack.wait_for(
        &format!("/deals/{second_id}"),
        &second_key,
        30,
        status_is("pending_review"),
    );
    assert!(held.body["deal"]["review_due_at"].is_string());

    // A manager cannot approve it: the first holds the customer and products.
    let decision = stack.send(
        "POST",
        &format!("/deals/{second_id}/decision"),
        Some(&manager),
        Some(&json!({"decision": "approve"})),
    );
    assert_eq!(decision.status, 409, "{:?}", decision.body);
    let rejected = stack.send(
        "POST",
        &format!("/deals/{second_id}/decision"),
        Some(&manager),
        Some(&json!({"decision": "reject", "reason": {"code": "duplicate"}})),
    );
    assert_eq!(rejected.status, 200, "{:?}", rejected.body);
    assert_eq!(rejected.body["status"], "rejected");

    let history = stack
        .request("GET", &format!("/deals/{second_id}"), Some(&manager))
        .body["history"]
        .clone();
    let states: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["to"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["submitted", "pending_review", "rejected"]);
    assert_eq!(history[2]["actor"], "manager@vendor.example");

    // Partners see only their own deals; the first partner closes its deal as won.
    assert_eq!(
        stack
            .request("GET", &format!("/deals/{first_id}"), Some(&second_key))
            .status,
        404
    );
    let won = stack.send(
        "POST",
        &format!("/deals/{first_id}/outcome"),
        Some(&first_key),
        Some(&json!({"outcome": "won"})),
    );
    assert_eq!(won.body["status"], "won", "{:?}", won.body);
}

#[test]
fn invalid_registrations_name_every_fault_and_inactive_partners_are_refused() {
    let stack = Stack::load();
    let (_, key) = stack.partner_key(0);
    let mut bad = registration("Fabrikam", "-1");
    bad["products"] = json!(["NOT-A-SKU"]);
    bad["end_customer"]["country"] = json!("Narnia");
    bad["expected_close_date"] = json!("2001-01-01");
    let reply = stack.send("POST", "/deals", Some(&key), Some(&bad));
    assert_eq!(reply.status, 422, "{:?}", reply.body);
    assert_eq!(reply.content_type, "application/problem+json");
    let fields: Vec<&str> = reply.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        [
            "end_customer.country",
            "products[0]",
            "estimated_value.amount",
            "expected_close_date"
        ]
    );

    let pending = stack.demo()["partners"][3]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(stack.demo()["partners"][3]["status"], "pending");
    let issued = stack.chanctl(&["key", "issue", "--role", "partner", "--principal", &pending]);
    let refused = stack.send(
        "POST",
        "/deals",
        Some(issued["api_key"].as_str().unwrap()),
        Some(&registration("Fabrikam", "100")),
    );
    assert_eq!(refused.status, 403, "{:?}", refused.body);
}

#[test]
fn managers_list_by_status_and_the_sweep_runs_on_demand() {
    let stack = Stack::load();
    let manager = stack.demo_key("channel_manager");
    let listed = stack.request("GET", "/deals?status=approved&limit=5", Some(&manager));
    assert_eq!(listed.status, 200, "{:?}", listed.body);
    assert!(listed.body["deals"].is_array());
    let swept = stack.send("POST", "/_local/schedules/deal-approve/Sweep", None, None);
    assert_eq!(swept.status, 200, "{:?}", swept.body);
    assert!(
        swept.body["result"]["expired"].is_number(),
        "{:?}",
        swept.body
    );
}
