//! An MDF claim through the local stack, as a partner and the vendor would make it: a fund
//! allocated, a draft with a presigned upload of its proof, the upload itself (straight to the
//! bucket), submission, validation by claim-validate through the queue, payment, audit.

use e2e::Stack;
use serde_json::json;

#[test]
fn a_claim_is_uploaded_validated_and_paid() {
    let stack = Stack::load();
    let admin = stack.demo_key("vendor_admin");
    let manager = stack.demo_key("channel_manager");
    let (partner, partner_key) = stack.partner_key(0);
    let stamp = chrono::Utc::now().timestamp_millis();
    let today = chrono::Utc::now().date_naive();
    let days = |n: i64| (today + chrono::Duration::days(n)).to_string();

    let fund = stack.send(
        "POST",
        "/funds",
        Some(&admin),
        Some(
            &json!({"partner_id": partner, "name": format!("E2E MDF {stamp}"),
            "amount": {"amount": "2000.00", "currency": "USD"},
            "starts_on": days(-30), "ends_on": days(30), "expires_on": days(60)}),
        ),
    );
    assert_eq!(fund.status, 201, "{:?}", fund.body);
    let fund_id = fund.body["id"].as_str().unwrap().to_string();

    let draft = stack.send(
        "POST",
        "/claims",
        Some(&partner_key),
        Some(&json!({"fund_id": fund_id, "activity_type": "event",
            "activity_starts_on": days(-3), "activity_ends_on": days(-2),
            "amount": {"amount": "750.00", "currency": "USD"}, "invoice_number": format!("EVT-{stamp}"),
            "documents": [{"file_name": "invoice.pdf", "content_type": "application/pdf", "size": 9}]})),
    );
    assert_eq!(draft.status, 201, "{:?}", draft.body);
    let id = draft.body["claim"]["id"].as_str().unwrap().to_string();
    assert_eq!(e2e::upload(&draft.body["uploads"][0], b"%PDF-1.7\n"), 200);

    let submitted = stack.request("POST", &format!("/claims/{id}/submit"), Some(&partner_key));
    assert_eq!(submitted.status, 202, "{:?}", submitted.body);
    let claim = stack.wait_for(&format!("/claims/{id}"), &partner_key, 60, |reply| {
        reply.status == 200 && reply.body["status"] != "submitted"
    });
    assert_eq!(claim.body["status"], "approved", "{:?}", claim.body);

    let paid = stack.send(
        "POST",
        &format!("/claims/{id}/payment"),
        Some(&manager),
        Some(&json!({"payment_reference": format!("ERP-{stamp}")})),
    );
    assert_eq!(paid.status, 200, "{:?}", paid.body);
    let again = stack.send(
        "POST",
        &format!("/claims/{id}/payment"),
        Some(&manager),
        Some(&json!({"payment_reference": format!("ERP-{stamp}-2")})),
    );
    assert_eq!(again.status, 409, "paid once only");
    assert_eq!(
        again.body["type"], "https://tributary.dev/problems/conflict/invalid-state",
        "{:?}",
        again.body
    );

    let funds = stack.request("GET", "/funds", Some(&partner_key));
    let mine = funds.body["funds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == fund_id.as_str())
        .unwrap()
        .clone();
    let amount =
        |field: &str| -> rust_decimal::Decimal { mine[field].as_str().unwrap().parse().unwrap() };
    assert_eq!(
        (amount("paid"), amount("reserved"), amount("available")),
        (750.into(), 0.into(), 1250.into())
    );
    let audit = stack.request("GET", &format!("/claims/{id}/audit"), Some(&partner_key));
    let trail: Vec<_> = audit.body["audit"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["to"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(trail, ["draft", "submitted", "approved", "paid"]);

    // Another partner sees neither the claim nor the fund.
    let (_, other_key) = stack.partner_key(1);
    assert_eq!(
        stack
            .request("GET", &format!("/claims/{id}"), Some(&other_key))
            .status,
        404
    );
}
