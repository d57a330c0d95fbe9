//! Ingestion through the running local stack, measured: drops a POS file of N lines (default
//! 100,000) in the bucket and reports the wall time until its file record is final, and the
//! DynamoDB writes it cost (from the file record).
//!
//! `infra/local/with-stack.sh cargo run -q -p e2e --bin ingest_figures -- 100000`

use std::time::Instant;

use e2e::Stack;

#[tokio::main]
async fn main() {
    let lines: usize = std::env::args()
        .nth(1)
        .map_or(100_000, |n| n.parse().expect("a line count"));
    let stack = Stack::load();
    let (distributor, key) = stack.partner_key(2);
    let stamp = chrono::Utc::now().timestamp_millis();
    let today = chrono::Utc::now().format("%Y-%m-%d");
    let skus = ["NW-SWITCH-24", "NW-ROUTER-100", "SEC-FW-500"];
    let mut csv =
        String::from("Invoice No,Line,Invoice Date,Sold To,Part Number,Qty,Unit Price,Currency\n");
    for i in 0..lines {
        csv.push_str(&format!(
            "F{stamp}-{},{},{today},Northwind Resellers,{},{},{}.50,USD\n",
            i / 5,
            i % 5 + 1,
            skus[i % 3],
            i % 9 + 1,
            100 + i % 400
        ));
    }
    let object_key = format!("{distributor}/pos/figures-{stamp}.csv");
    let config = tributary::testing::sdk_config_for(stack.aws_endpoint()).await;
    let started = Instant::now();
    tributary::aws::s3(&config)
        .put_object()
        .bucket(stack.resource("DropBucket"))
        .key(&object_key)
        .body(csv.into_bytes().into())
        .send()
        .await
        .expect("put into the drop bucket");
    let reply = stack.wait_for("/pos/files?limit=100", &key, 3600, |reply| {
        reply.body["files"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|f| f["key"] == object_key.as_str() && f["status"] != "processing")
    });
    let elapsed = started.elapsed().as_secs_f64();
    let file = reply.body["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["key"] == object_key.as_str())
        .unwrap()
        .clone();
    let accepted = file["counts"]["accepted"].as_f64().unwrap_or(0.0);
    let requests = file["write_requests"].as_f64().unwrap_or(0.0);
    let units = file["write_units"].as_f64().unwrap_or(0.0);
    println!(
        "{lines} lines: status {}, {accepted} accepted in {elapsed:.1} s ({:.0} lines/s), {} invocation(s); \
         BatchWriteItem requests {requests} ({:.1} per 1,000 lines), write units {units} ({:.0} per 1,000 lines)",
        file["status"],
        lines as f64 / elapsed,
        file["invocations"],
        requests * 1000.0 / accepted.max(1.0),
        units * 1000.0 / accepted.max(1.0),
    );
}
