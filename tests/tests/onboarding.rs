//! Partner onboarding through the local stack, the whole journey: an invitation from the vendor
//! admin, the application (no API key: the token is the credential), the agreement, a compliance
//! document uploaded through its presigned URL and verified, training recorded by a manager,
//! activation, the API key collected once, and a first deal approved with it. Then deactivation
//! closes the door again.

use e2e::Stack;
use serde_json::{Value, json};

#[test]
fn from_invitation_to_a_first_approved_deal_and_back_out() {
    let stack = Stack::load();
    let admin = stack.demo_key("vendor_admin");
    let manager = stack.demo_key("channel_manager");
    let stamp = chrono::Utc::now().timestamp_micros();

    let invited = stack.send("POST", "/invitations", Some(&admin), Some(&json!({})));
    assert_eq!(invited.status, 201, "{:?}", invited.body);
    let token = invited.body["token"].as_str().unwrap().to_string();
    let application = json!({
        "token": token, "company_name": format!("Wingtip Toys {stamp}"), "country": "FR",
        "tax_id": "FR-123", "contact": {"name": "Ana Silva", "email": "ana@wingtip.example"}
    });
    let applied = stack.send("POST", "/partners/applications", None, Some(&application));
    assert_eq!(applied.status, 201, "{:?}", applied.body);
    let id = applied.body["partner"]["id"].as_str().unwrap().to_string();
    let onboarding_key = applied.body["onboarding_api_key"]
        .as_str()
        .unwrap()
        .to_string();
    // The same token again: refused.
    let again = stack.send("POST", "/partners/applications", None, Some(&application));
    assert_eq!(again.status, 403, "{:?}", again.body);
    // Pending: no deals yet.
    let early = stack.send("POST", "/deals", Some(&onboarding_key), Some(&deal(stamp)));
    assert_eq!(early.status, 403, "{:?}", early.body);

    let agreed = stack.send(
        "POST",
        &format!("/partners/{id}/agreement"),
        Some(&onboarding_key),
        Some(&json!({"version": "2026-1", "signer_name": "Ana Silva",
                     "signer_email": "ana@wingtip.example"})),
    );
    assert_eq!(agreed.status, 200, "{:?}", agreed.body);
    let document = b"%PDF-1.7\n";
    let declared = stack.send(
        "POST",
        &format!("/partners/{id}/documents"),
        Some(&onboarding_key),
        Some(&json!({"document_type": "tax_form", "file_name": "w9.pdf",
                     "content_type": "application/pdf", "size": document.len()})),
    );
    assert_eq!(declared.status, 201, "{:?}", declared.body);
    assert_eq!(e2e::upload(&declared.body, document), 200);
    let verified = stack.send(
        "POST",
        &format!("/partners/{id}/documents/tax_form/review"),
        Some(&manager),
        Some(&json!({"decision": "verify"})),
    );
    assert_eq!(verified.status, 200, "{:?}", verified.body);
    let trained = stack.send(
        "POST",
        &format!("/partners/{id}/trainings"),
        Some(&manager),
        Some(&json!({"course": "sales-foundations", "completed_on": "2026-11-30"})),
    );
    assert_eq!(trained.status, 200, "{:?}", trained.body);
    let progress = stack.request(
        "GET",
        &format!("/partners/{id}/onboarding"),
        Some(&onboarding_key),
    );
    assert_eq!(
        progress.body["partner"]["status"], "active",
        "{:?}",
        progress.body
    );
    assert_eq!(progress.body["complete"], true);

    let collected = stack.send(
        "POST",
        &format!("/partners/{id}/api-key"),
        Some(&onboarding_key),
        None,
    );
    assert_eq!(collected.status, 201, "{:?}", collected.body);
    let key = collected.body["api_key"].as_str().unwrap().to_string();
    // The onboarding key is revoked; the key is never shown again.
    let revoked = stack.request("GET", &format!("/partners/{id}"), Some(&onboarding_key));
    assert_eq!(revoked.status, 403);
    let twice = stack.send("POST", &format!("/partners/{id}/api-key"), Some(&key), None);
    assert_eq!(twice.status, 409, "{:?}", twice.body);
    assert_eq!(
        twice.body["type"], "https://tributary.dev/problems/conflict/already-done",
        "{:?}",
        twice.body
    );

    let registered = stack.send("POST", "/deals", Some(&key), Some(&deal(stamp)));
    assert_eq!(registered.status, 201, "{:?}", registered.body);
    let deal_id = registered.body["id"].as_str().unwrap().to_string();
    stack.wait_for(
        &format!("/deals/{deal_id}"),
        &key,
        30,
        |reply: &e2e::Reply| reply.body["deal"]["status"] == "approved",
    );

    let deactivated = stack.send(
        "POST",
        &format!("/partners/{id}/deactivate"),
        Some(&manager),
        Some(&json!({"reason": "contract ended"})),
    );
    assert_eq!(deactivated.status, 200, "{:?}", deactivated.body);
    assert_eq!(deactivated.body["partner"]["status"], "inactive");
    let refused = stack.send("POST", "/deals", Some(&key), Some(&deal(stamp + 1)));
    assert_eq!(refused.status, 403, "{:?}", refused.body);
    // History kept: the deal is still there for staff.
    let kept = stack.request("GET", &format!("/deals/{deal_id}"), Some(&manager));
    assert_eq!(kept.status, 200);
}

fn deal(stamp: i64) -> Value {
    json!({
        "end_customer": {"name": format!("Fabrikam Onboarding {stamp}"), "country": "FR"},
        "products": ["NW-SWITCH-24"],
        "estimated_value": {"amount": "900", "currency": "USD"},
        "expected_close_date": "2099-06-30"
    })
}
