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
    assert_eq!(
        decision.body["type"], "https://tributary.dev/problems/conflict/lock-held",
        "{:?}",
        decision.body
    );
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

/// 50 partners register the same customer at the same moment; then two managers decide the same
/// deal at the same moment. Exactly one deal ends approved, and every history is a consistent chain.
#[tokio::test(flavor = "multi_thread")]
async fn fifty_simultaneous_registrations_and_racing_managers_leave_one_approved_deal() {
    use tributary::domain::{ApiKey, ApiKeyRecord, Partner, PartnerKind, PartnerStatus, Role};
    use tributary::store::{ApiKeys, DynamoStore, Partners};

    let stack = std::sync::Arc::new(Stack::load());
    let config = tributary::testing::sdk_config_for(stack.aws_endpoint()).await;
    let store = DynamoStore::new(tributary::aws::dynamodb(&config), stack.resource("Table"));
    let mut keys = Vec::new();
    for n in 0..50 {
        let partner = Partner::new(
            &format!("Rival {n}"),
            PartnerKind::Reseller,
            "US",
            PartnerStatus::Active,
            chrono::Utc::now(),
        )
        .unwrap();
        store.create_partner(&partner).await.unwrap();
        let key = ApiKey::generate();
        store
            .put_new_key(&ApiKeyRecord::issue(
                &key,
                partner.id.to_string(),
                Role::Partner,
                None,
                chrono::Utc::now(),
            ))
            .await
            .unwrap();
        keys.push(key.reveal().to_string());
    }
    let customer = unique_customer("Northwind Health");
    let body = registration(&customer, "500");
    let submitted: Vec<(String, String)> = std::thread::scope(|scope| {
        let handles: Vec<_> = keys
            .iter()
            .map(|key| {
                let (stack, body) = (&stack, &body);
                scope.spawn(move || {
                    let reply = stack.send("POST", "/deals", Some(key), Some(body));
                    assert_eq!(reply.status, 201, "{:?}", reply.body);
                    (reply.body["id"].as_str().unwrap().to_string(), key.clone())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });

    let manager = stack.demo_key("channel_manager");
    let admin = stack.demo_key("vendor_admin");
    let settled = |stack: &Stack| -> Vec<String> {
        submitted
            .iter()
            .map(|(id, key)| {
                let reply = stack.wait_for(&format!("/deals/{id}"), key, 60, |r| {
                    r.body["deal"]["status"] != "submitted"
                });
                reply.body["deal"]["status"].as_str().unwrap().to_string()
            })
            .collect()
    };
    let statuses = settled(&stack);
    let approved_by_review = statuses.iter().filter(|s| *s == "approved").count();
    assert!(approved_by_review <= 1, "{statuses:?}");

    if let Some(index) = statuses.iter().position(|s| s == "pending_review") {
        let path = format!("/deals/{}/decision", submitted[index].0);
        let approve = json!({"decision": "approve"});
        let (a, b) = std::thread::scope(|scope| {
            let a = scope.spawn(|| {
                stack
                    .send("POST", &path, Some(&manager), Some(&approve))
                    .status
            });
            let b = scope.spawn(|| {
                stack
                    .send("POST", &path, Some(&admin), Some(&approve))
                    .status
            });
            (a.join().unwrap(), b.join().unwrap())
        });
        let wins = [a, b].iter().filter(|s| **s == 200).count();
        assert_eq!(
            wins,
            1 - approved_by_review,
            "decisions answered {a} and {b}"
        );
        assert!([a, b].iter().all(|s| *s == 200 || *s == 409), "{a} {b}");
    }

    let mut approved = 0;
    for (id, key) in &submitted {
        let reply = stack.request("GET", &format!("/deals/{id}"), Some(key));
        let history = reply.body["history"].as_array().unwrap();
        assert_eq!(history[0]["to"], "submitted");
        for pair in history.windows(2) {
            assert_eq!(pair[1]["from"], pair[0]["to"], "{history:?}");
        }
        assert_eq!(history.last().unwrap()["to"], reply.body["deal"]["status"]);
        if reply.body["deal"]["status"] == "approved" {
            approved += 1;
        }
    }
    assert_eq!(approved, 1);
}
