//! Rebate accrual through the local stack: a program defined by the vendor admin, POS files
//! dropped by a distributor, the accruals on the reseller's own statement (JSON and CSV), and a
//! held line (unknown reseller name) that accrues only once staff release it to the partner.

use chrono::Datelike;
use e2e::Stack;
use serde_json::{Value, json};

#[tokio::test]
async fn a_dropped_pos_file_ends_as_accruals_on_the_partners_statement() {
    let stack = Stack::load();
    let admin = stack.demo_key("vendor_admin");
    let (reseller, reseller_key) = stack.partner_key(0);
    let (distributor, _) = stack.partner_key(2);
    let stamp = chrono::Utc::now().timestamp_millis();
    let today = chrono::Utc::now().date_naive();

    // A SKU of its own, so that only this test's lines count under this program.
    let sku = format!("REB-{stamp}");
    let reply = stack.send(
        "PUT",
        "/catalog/skus",
        Some(&admin),
        Some(&json!({"skus": [{"sku": sku, "name": "Rebated widget"}]})),
    );
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    let reply = stack.send(
        "POST",
        "/programs",
        Some(&admin),
        Some(&json!({
            "name": format!("E2E volume rebate {stamp}"),
            "currency": "USD",
            "starts_on": format!("{}-01-01", today.year()),
            "ends_on": format!("{}-12-31", today.year() + 1),
            "period": "quarter",
            "grace_days": 15,
            "eligibility": {"skus": [sku]},
            "rule": {"type": "volume_rebate", "basis": "revenue", "mode": "retroactive",
                     "tiers": [{"from": "0", "rate": "0.01"}, {"from": "1000", "rate": "0.02"}]}
        })),
    );
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    let program = reply.body["id"].as_str().unwrap().to_string();

    // 2 x 300 + 3 x 200 = 1,200 of revenue: the second tier, 2 % back to dollar one = 24.00.
    // The third line's reseller is a name no partner has: held, it does not accrue.
    let variant = format!("NWR Group {stamp}");
    let header = "Invoice No,Line,Invoice Date,Sold To,Part Number,Qty,Unit Price,Currency\n";
    let csv = format!(
        "{header}\
         R-{stamp},1,{today},Northwind Resellers,{sku},2,300.00,USD\n\
         R-{stamp},2,{today},Northwind Resellers,{sku},3,200.00,USD\n\
         R-{stamp},3,{today},{variant},{sku},1,500.00,USD\n"
    );
    stack
        .drop_file(
            &format!("{distributor}/pos/rebates {stamp}.csv"),
            csv.into_bytes(),
        )
        .await;

    let quarter = format!("{}-Q{}", today.year(), (today.month() - 1) / 3 + 1);
    let path = format!("/partners/{reseller}/accruals?period={quarter}");
    let of_program = |body: &Value, list: &str| -> Vec<Value> {
        body[list]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|item| item["program_id"] == program.as_str())
            .cloned()
            .collect()
    };
    let reply = stack.wait_for(&path, &reseller_key, 90, |reply| {
        reply.status == 200 && !of_program(&reply.body, "programs").is_empty()
    });
    let totals = of_program(&reply.body, "programs");
    assert_eq!(totals[0]["accrued"], "24.00", "{:?}", reply.body);
    let figures = of_program(&reply.body, "figures");
    assert_eq!(figures[0]["volume"], "1200.00");
    assert_eq!(figures[0]["tier"], 2);
    let entries = of_program(&reply.body, "entries");
    let sum: rust_decimal::Decimal = entries
        .iter()
        .map(|e| {
            e["amount"]
                .as_str()
                .unwrap()
                .parse::<rust_decimal::Decimal>()
                .unwrap()
        })
        .sum();
    assert_eq!(sum.to_string(), "24.00");

    let csv = stack.request("GET", &format!("{path}&format=csv"), Some(&reseller_key));
    assert_eq!(csv.status, 200);
    assert!(
        csv.content_type.starts_with("text/csv"),
        "{}",
        csv.content_type
    );
    let text = csv.body.as_str().unwrap();
    assert!(
        text.starts_with("recorded_at,program_id,version,program_name"),
        "{text}"
    );
    assert!(text.contains(&program), "{text}");

    // Another reseller cannot read this statement.
    let (_, other_key) = stack.partner_key(1);
    assert_eq!(stack.request("GET", &path, Some(&other_key)).status, 404);

    // Staff match the held name to the partner: the line accrues (1,700 x 2 % = 34.00).
    let manager = stack.demo_key("channel_manager");
    let held = stack.request(
        "GET",
        &format!("/pos/held-lines?distributor={distributor}"),
        Some(&manager),
    );
    assert_eq!(held.status, 200, "{:?}", held.body);
    assert!(
        held.body["names"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["reseller_name"] == variant.as_str()),
        "{:?}",
        held.body
    );
    let released = stack.send(
        "POST",
        "/pos/held-lines/release",
        Some(&manager),
        Some(
            &json!({"distributor": distributor, "reseller_name": variant, "partner_id": reseller}),
        ),
    );
    assert_eq!(released.status, 200, "{:?}", released.body);
    assert_eq!(released.body["released"], 1);
    let accrued = |amount: &'static str| {
        let program = program.clone();
        move |reply: &e2e::Reply| {
            reply.status == 200
                && reply.body["programs"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|t| t["program_id"] == program.as_str() && t["accrued"] == amount)
        }
    };
    stack.wait_for(&path, &reseller_key, 60, accrued("34.00"));

    // The distributor's next file uses the same name: it now matches, nothing is held.
    let csv = format!("{header}R2-{stamp},1,{today},{variant},{sku},1,100.00,USD\n");
    stack
        .drop_file(
            &format!("{distributor}/pos/rebates {stamp} b.csv"),
            csv.into_bytes(),
        )
        .await;
    stack.wait_for(&path, &reseller_key, 90, accrued("36.00"));
}
