//! Ingestion through the running local stack, measured: drops POS files of the given line counts
//! (default 100,000) in the bucket, one after the other, and reports for each the wall time until
//! its file record is final, the DynamoDB writes it cost (from the file record), and the peak
//! memory of the local pos-ingest process so far (flat across sizes when memory does not grow).
//!
//! `infra/local/with-stack.sh cargo run -q -p e2e --bin ingest_figures -- 10000 100000`

use std::time::Instant;

use e2e::Stack;

#[tokio::main]
async fn main() {
    let mut sizes: Vec<usize> = std::env::args()
        .skip(1)
        .map(|n| n.parse().expect("a line count"))
        .collect();
    if sizes.is_empty() {
        sizes.push(100_000);
    }
    let stack = Stack::load();
    for lines in sizes {
        measure(&stack, lines).await;
    }
}

/// The peak resident memory of the local pos-ingest processes (MiB), read from /proc.
fn pos_ingest_peak_mib() -> Option<f64> {
    let mut peak: Option<f64> = None;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let program = cmdline.split(|b| *b == 0).next().unwrap_or_default();
        if !program.ends_with(b"/pos-ingest") {
            continue;
        }
        let status = std::fs::read_to_string(entry.path().join("status")).unwrap_or_default();
        let kib = status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok());
        if let Some(kib) = kib {
            peak = Some(peak.map_or(kib / 1024.0, |p| p.max(kib / 1024.0)));
        }
    }
    peak
}

async fn measure(stack: &Stack, lines: usize) {
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
    let started = Instant::now();
    stack.drop_file(&object_key, csv.into_bytes()).await;
    let reply = stack.wait_for("/pos/files?limit=100", &key, 7200, |reply| {
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
         BatchWriteItem requests {requests} ({:.1} per 1,000 lines), write units {units} ({:.0} per 1,000 lines); \
         pos-ingest peak RSS {}",
        file["status"],
        lines as f64 / elapsed,
        file["invocations"],
        requests * 1000.0 / accepted.max(1.0),
        units * 1000.0 / accepted.max(1.0),
        pos_ingest_peak_mib().map_or("not found".to_string(), |m| format!("{m:.1} MiB")),
    );
}
