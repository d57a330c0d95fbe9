//! Distributor file drops through the local stack: S3 notification → ingest queue →
//! pos-ingest → file record (`GET /pos/files`), reject report in the bucket.

use e2e::Stack;
use serde_json::{Value, json};

/// A distributor of its own with its key, so that no other test's files share its lease.
fn own_distributor(stack: &Stack, name: &str) -> (String, String) {
    let partner = stack.chanctl(&[
        "partner",
        "create",
        "--name",
        name,
        "--country",
        "DE",
        "--kind",
        "distributor",
        "--status",
        "active",
    ]);
    let id = partner["id"].as_str().unwrap().to_string();
    let issued = stack.chanctl(&["key", "issue", "--role", "distributor", "--principal", &id]);
    (id, issued["api_key"].as_str().unwrap().to_string())
}

/// The reject report a file record points to.
async fn report_of(stack: &Stack, file: &Value) -> String {
    let config = tributary::testing::sdk_config_for(stack.aws_endpoint()).await;
    let report = tributary::aws::s3(&config)
        .get_object()
        .bucket(stack.resource("DropBucket"))
        .key(file["reject_report"].as_str().expect("a reject report"))
        .send()
        .await
        .expect("the reject report")
        .body
        .collect()
        .await
        .unwrap()
        .to_vec();
    String::from_utf8(report).unwrap()
}

/// Waits for the file record of `key` to reach a final status and returns it.
fn file_record(stack: &Stack, key: &str, api_key: &str) -> Value {
    let reply = stack.wait_for("/pos/files?limit=100", api_key, 60, |reply| {
        reply.status == 200
            && reply.body["files"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|f| f["key"] == key && f["status"] != "processing")
    });
    let file = reply.body["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["key"] == key)
        .unwrap()
        .clone();
    let id = file["id"].as_str().unwrap();
    let one = stack.request("GET", &format!("/pos/files/{id}"), Some(api_key));
    assert_eq!(one.status, 200, "{:?}", one.body);
    one.body
}

#[tokio::test]
async fn a_dropped_pos_file_ends_as_a_file_record_and_a_reject_report() {
    let stack = Stack::load();
    let admin = stack.demo_key("vendor_admin");
    let (distributor, distributor_key) = stack.partner_key(2);
    let stamp = chrono::Utc::now().timestamp_millis();

    // A new SKU through the catalog API, used by the file below.
    let sku = format!("E2E-{stamp}");
    let reply = stack.send(
        "PUT",
        "/catalog/skus",
        Some(&admin),
        Some(&json!({"skus": [{"sku": sku, "name": "End-to-end widget"}]})),
    );
    assert_eq!(reply.status, 200, "{:?}", reply.body);

    let today = chrono::Utc::now().format("%Y-%m-%d");
    let csv = format!(
        "Invoice No;Line;Invoice Date;Sold To;Part Number;Qty;Unit Price;Currency\n\
         E-{stamp};1;{today};Northwind Resellers;{sku};2;100.00;USD\n\
         E-{stamp};2;{today};Somebody Unknown;NW-SWITCH-24;1;50;USD\n\
         E-{stamp};3;{today};Northwind Resellers;NOT-A-SKU;1;50;USD\n\
         E-{stamp};1;{today};Northwind Resellers;{sku};2;100.00;USD\n"
    );
    let key = format!("{distributor}/pos/week {stamp}.csv");
    stack.drop_file(&key, csv.into_bytes()).await;

    let file = file_record(&stack, &key, &distributor_key);
    assert_eq!(file["status"], "completed", "{file:?}");
    assert_eq!(
        file["counts"],
        json!({"lines": 4, "accepted": 2, "rejected": 1, "duplicates": 1, "held": 1})
    );
    let report_key = file["reject_report"].as_str().unwrap();
    assert_eq!(
        report_key,
        format!(
            "{distributor}/rejects/pos/week {stamp}.csv.{}.csv",
            file["id"].as_str().unwrap()
        )
    );
    assert_eq!(
        report_of(&stack, &file).await,
        "row,field,value,reason\n4,sku,NOT-A-SKU,not in the vendor's catalog\n"
    );

    // Vendor staff see it too; another organisation does not.
    let staff = stack.request(
        "GET",
        &format!("/pos/files/{}", file["id"].as_str().unwrap()),
        Some(&stack.demo_key("channel_manager")),
    );
    assert_eq!(staff.status, 200);
    let (_, reseller_key) = stack.partner_key(0);
    let other = stack.request(
        "GET",
        &format!("/pos/files/{}", file["id"].as_str().unwrap()),
        Some(&reseller_key),
    );
    assert_eq!(other.status, 404);
}

#[tokio::test]
async fn an_empty_file_is_refused_whole_with_a_reason() {
    let stack = Stack::load();
    let (distributor, distributor_key) = stack.partner_key(2);
    let key = format!(
        "{distributor}/inventory/empty {}.csv",
        chrono::Utc::now().timestamp_millis()
    );
    stack.drop_file(&key, Vec::new()).await;
    let file = file_record(&stack, &key, &distributor_key);
    assert_eq!(file["status"], "refused");
    assert_eq!(file["reason"], "the file is empty");
    assert_eq!(file["counts"]["accepted"], 0);
}

/// A file name with a non-ASCII letter once panicked pos-ingest after its lines were stored:
/// the file stayed `processing` and the distributor's lease was held for minutes. Now it
/// completes, and the distributor's next file is ingested on its first invocation.
#[tokio::test]
async fn a_file_named_with_non_ascii_letters_completes_and_the_next_file_goes_on() {
    let stack = Stack::load();
    let (distributor, distributor_key) = own_distributor(&stack, "Umsatz Distribution GmbH");
    let stamp = chrono::Utc::now().timestamp_millis();
    let today = chrono::Utc::now().format("%Y-%m-%d");
    let line = |invoice: &str| {
        format!(
            "Invoice No,Line,Invoice Date,Sold To,Part Number,Qty,Unit Price,Currency\n\
             {invoice},1,{today},Northwind Resellers,NW-SWITCH-24,1,50.00,USD\n"
        )
    };
    let key = format!("{distributor}/pos/{stamp}-Umsätze.csv");
    stack
        .drop_file(&key, line(&format!("U-{stamp}")).into_bytes())
        .await;
    let file = file_record(&stack, &key, &distributor_key);
    assert_eq!(file["status"], "completed", "{file:?}");
    assert_eq!(file["counts"]["accepted"], 1);
    assert!(
        file["reject_report"]
            .as_str()
            .unwrap()
            .contains("/rejects/pos/"),
        "{file:?}"
    );
    assert_eq!(report_of(&stack, &file).await, "row,field,value,reason\n");

    let next = format!("{distributor}/pos/{stamp}-next.csv");
    stack
        .drop_file(&next, line(&format!("N-{stamp}")).into_bytes())
        .await;
    let file = file_record(&stack, &next, &distributor_key);
    assert_eq!(file["status"], "completed", "{file:?}");
    assert_eq!(
        file["invocations"], 1,
        "ingested at once, not handed on behind a lease never released: {file:?}"
    );
}

/// A 1,500-character reseller name on a held line once failed every BatchWriteItem (the held
/// index's sort key is over 1,024 bytes) and stuck the file. Now the line is rejected with
/// its reason and the rest of the file completes.
#[tokio::test]
async fn a_line_with_an_overlong_name_is_rejected_and_the_file_completes() {
    let stack = Stack::load();
    let (distributor, distributor_key) = own_distributor(&stack, "Longname Distribution");
    let stamp = chrono::Utc::now().timestamp_millis();
    let today = chrono::Utc::now().format("%Y-%m-%d");
    let long_name = "Unmatched Reseller ".repeat(79);
    assert!(long_name.len() > 1500);
    let csv = format!(
        "Invoice No,Line,Invoice Date,Sold To,Part Number,Qty,Unit Price,Currency\n\
         L-{stamp},1,{today},{long_name},NW-SWITCH-24,1,50.00,USD\n\
         L-{stamp},2,{today},Somebody Unknown,NW-SWITCH-24,1,50.00,USD\n"
    );
    let key = format!("{distributor}/pos/long {stamp}.csv");
    stack.drop_file(&key, csv.into_bytes()).await;
    let file = file_record(&stack, &key, &distributor_key);
    assert_eq!(file["status"], "completed", "{file:?}");
    assert_eq!(
        (
            &file["counts"]["accepted"],
            &file["counts"]["rejected"],
            &file["counts"]["held"]
        ),
        (&json!(1), &json!(1), &json!(1))
    );
    let report = report_of(&stack, &file).await;
    assert!(
        report.contains("2,reseller_name,") && report.contains("longer than 200 characters"),
        "{report}"
    );
}
