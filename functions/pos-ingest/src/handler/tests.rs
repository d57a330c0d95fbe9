use std::io::Write;
use std::time::{Duration, Instant};

use chrono::{Duration as Days, Utc};
use tributary::domain::pos::{FileStatus, PosFile};
use tributary::messaging::Envelope;
use tributary::messaging::messages::{SalesReported, StockReported};
use tributary::store::PosStore;
use tributary::testing::{self, PosFixture};
use tributary::workflow::pos::Progress;

use super::*;

pub(super) fn later() -> Instant {
    Instant::now() + Duration::from_secs(900)
}

pub(super) fn day(days_ago: i64) -> String {
    (Utc::now() - Days::days(days_ago))
        .format("%Y-%m-%d")
        .to_string()
}

/// A POS file: a header and `lines` (invoice, line, reseller, SKU, quantity, price).
fn pos_csv(lines: &[(&str, &str, &str, &str, &str, &str)]) -> String {
    let mut text = String::from(
        "Invoice No,Line,Invoice Date,Sold To,Part Number,Qty,Unit Price,Currency\r\n",
    );
    for (invoice, line, reseller, sku, qty, price) in lines {
        text.push_str(&format!(
            "{invoice},{line},{},{reseller},{sku},{qty},{price},USD\r\n",
            day(3)
        ));
    }
    text
}

/// Puts an object and returns the S3 notification body announcing it, key URL-encoded as S3 does.
pub(super) async fn drop_file(f: &PosFixture, key: &str, body: Vec<u8>) -> String {
    let put = f
        .service
        .s3
        .put_object()
        .bucket(&f.bucket)
        .key(key)
        .body(body.into())
        .send()
        .await
        .unwrap();
    let encoded = key.replace(' ', "+");
    serde_json::json!({"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": Utc::now(), "eventName": "ObjectCreated:Put",
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "drop",
               "bucket": {"name": f.bucket, "arn": format!("arn:aws:s3:::{}", f.bucket)},
               "object": {"key": encoded, "size": 1, "eTag": put.e_tag.unwrap_or_default(),
                          "versionId": put.version_id.unwrap_or_default(), "sequencer": "01"}}
    }]})
    .to_string()
}

pub(super) async fn file_of(f: &PosFixture, key: &str) -> PosFile {
    let page = f
        .service
        .store
        .list_files(Some(&f.distributor), 100, None)
        .await
        .unwrap();
    page.files
        .into_iter()
        .find(|file| file.key == key)
        .expect("a file record for the key")
}

async fn object_text(f: &PosFixture, key: &str) -> String {
    let object = f
        .service
        .s3
        .get_object()
        .bucket(&f.bucket)
        .key(key)
        .send()
        .await
        .unwrap();
    String::from_utf8(object.body.collect().await.unwrap().to_vec()).unwrap()
}

/// The sales lines sent to rebate accrual; the same messages, under the same ids, must have
/// reached the stock queue for inventory's sell-through.
async fn sales_lines(f: &PosFixture) -> Vec<tributary::domain::pos::PosLine> {
    let sqs = testing::sqs_client().await;
    let decode = |bodies: Vec<String>| -> Vec<Envelope<SalesReported>> {
        bodies
            .iter()
            .map(|body| Envelope::<SalesReported>::decode(body).unwrap())
            .collect()
    };
    let sales = decode(testing::drain(&sqs, &f.service.settings.sales_queue_url).await);
    let stock = testing::drain(&sqs, &f.service.settings.stock_queue_url).await;
    let ids = |envelopes: &[Envelope<SalesReported>]| -> std::collections::BTreeSet<String> {
        envelopes.iter().map(|e| e.id.clone()).collect()
    };
    assert_eq!(ids(&sales), ids(&decode(stock)));
    sales.into_iter().flat_map(|e| e.payload.lines).collect()
}

#[tokio::test]
async fn a_pos_file_becomes_stored_lines_events_a_report_and_a_file_record() {
    let f = testing::pos_service(1000).await;
    let key = format!("{}/pos/week 47.csv", f.distributor);
    let csv = pos_csv(&[
        ("INV-1", "1", "Northwind Traders", "NW-1", "2", "100.00"),
        ("INV-1", "2", "Unknown Shop", "NW-2", "1", "50"),
        ("INV-1", "3", "Northwind Traders", "NOPE", "1", "50"),
        ("INV-2", "1", "Northwind Traders", "NW-1", "0", "50"),
        ("INV-1", "1", "Northwind Traders", "NW-1", "2", "100.00"),
    ]);
    let body = drop_file(&f, &key, csv.into_bytes()).await;
    let progress = f.service.handle(&body, later()).await.unwrap();
    assert_eq!(progress, vec![Progress::Done(FileStatus::Completed)]);

    let file = file_of(&f, &key).await;
    assert_eq!(file.status, FileStatus::Completed);
    assert_eq!(file.name, "week 47.csv", "the key's + is a space");
    let c = file.counts;
    assert_eq!(
        (c.lines, c.accepted, c.rejected, c.duplicates, c.held),
        (5, 2, 2, 1, 1)
    );
    assert!(file.write_requests >= 1 && file.write_units >= 2);

    assert_eq!(
        file.reject_report.as_deref(),
        Some(format!("{}/rejects/pos/week 47.csv.{}.csv", f.distributor, file.id).as_str())
    );
    let report = object_text(&f, file.reject_report.as_deref().unwrap()).await;
    assert_eq!(
        report,
        "row,field,value,reason\n4,sku,NOPE,not in the vendor's catalog\n5,quantity,0,zero units: nothing was sold\n"
    );
    let lines = sales_lines(&f).await;
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0].reseller_id, Some(f.reseller.clone()));
    assert!(lines[1].held && lines[1].reseller_id.is_none());
}

#[tokio::test]
async fn the_same_object_delivered_twice_is_processed_once() {
    let f = testing::pos_service(1000).await;
    let key = format!("{}/pos/jan.csv", f.distributor);
    let body = drop_file(
        &f,
        &key,
        pos_csv(&[("I-1", "1", "Northwind Traders", "NW-1", "1", "10")]).into_bytes(),
    )
    .await;
    f.service.handle(&body, later()).await.unwrap();
    assert_eq!(sales_lines(&f).await.len(), 1);
    let first = file_of(&f, &key).await;
    f.service.handle(&body, later()).await.unwrap();
    assert_eq!(file_of(&f, &key).await, first);
    assert!(sales_lines(&f).await.is_empty(), "no second events");
}

#[tokio::test]
async fn lines_reported_again_in_a_later_file_are_counted_as_duplicates() {
    let f = testing::pos_service(1000).await;
    let lines = [
        ("I-1", "1", "Northwind Traders", "NW-1", "1", "10"),
        ("I-1", "2", "Northwind Traders", "NW-2", "1", "10"),
    ];
    let first = drop_file(
        &f,
        &format!("{}/pos/a.csv", f.distributor),
        pos_csv(&lines).into_bytes(),
    )
    .await;
    f.service.handle(&first, later()).await.unwrap();
    let mut more = lines.to_vec();
    more.push(("I-2", "1", "Northwind Traders", "NW-3", "4", "10"));
    let second = drop_file(
        &f,
        &format!("{}/pos/b.csv", f.distributor),
        pos_csv(&more).into_bytes(),
    )
    .await;
    f.service.handle(&second, later()).await.unwrap();
    let file = file_of(&f, &format!("{}/pos/b.csv", f.distributor)).await;
    assert_eq!((file.counts.accepted, file.counts.duplicates), (1, 2));
    assert_eq!(
        sales_lines(&f).await.len(),
        3,
        "two from a.csv, one from b.csv"
    );
}

fn many_lines(n: usize) -> String {
    let lines: Vec<(String, String)> = (0..n)
        .map(|i| (format!("INV-{}", i / 3), format!("{}", i % 3 + 1)))
        .collect();
    let refs: Vec<(&str, &str, &str, &str, &str, &str)> = lines
        .iter()
        .enumerate()
        .map(|(i, (inv, line))| {
            (
                inv.as_str(),
                line.as_str(),
                "Northwind Traders",
                if i % 7 == 6 { "NOPE" } else { "NW-1" },
                "1",
                "10",
            )
        })
        .collect();
    pos_csv(&refs)
}

#[tokio::test]
async fn a_crash_after_storing_lines_and_before_the_checkpoint_neither_loses_nor_doubles() {
    let f = testing::pos_service(10).await;
    let key = format!("{}/pos/big.csv", f.distributor);
    let body = drop_file(&f, &key, many_lines(35).into_bytes()).await;
    f.service.handle(&body, later()).await.unwrap();
    let clean = file_of(&f, &key).await;
    let clean_events = sales_lines(&f).await;

    // Rewind the record to the checkpoint after the first chunk (rows 2-11), as if the process
    // died after storing the second chunk's lines but before checkpointing it.
    let rejects_in_first_chunk = (0..10).filter(|i| i % 7 == 6).count() as u64;
    let mut rewound = clean.clone();
    rewound.status = FileStatus::Processing;
    rewound.rows_done = 11;
    rewound.counts = tributary::domain::pos::FileCounts {
        lines: 10,
        accepted: 10 - rejects_in_first_chunk,
        rejected: rejects_in_first_chunk,
        duplicates: 0,
        held: 0,
    };
    rewound.completed_at = None;
    rewound.reject_report = None;
    rewound.revision = clean.revision + 1;
    f.service
        .store
        .save_file(&rewound, clean.revision, None, Utc::now())
        .await
        .unwrap();

    f.service.handle(&body, later()).await.unwrap();
    let resumed = file_of(&f, &key).await;
    assert_eq!(resumed.status, FileStatus::Completed);
    assert_eq!(
        resumed.counts, clean.counts,
        "no line lost or counted twice"
    );
    assert_eq!(resumed.counts.duplicates, 0);
    let report = object_text(&f, resumed.reject_report.as_deref().unwrap()).await;
    assert_eq!(report.lines().count() as u64, 1 + clean.counts.rejected);
    // Events of the resumed chunks are sent again with the same lines (consumers dedupe by key).
    let again = sales_lines(&f).await;
    assert_eq!(
        again.len(),
        clean_events.len() - 10 + rejects_in_first_chunk as usize
    );
}

/// Rewinds a file's record to before its first chunk, as if the process died after storing
/// the chunk's lines but before checkpointing them.
async fn rewind_to_start(f: &PosFixture, key: &str) {
    let done = file_of(f, key).await;
    let mut rewound = done.clone();
    rewound.status = FileStatus::Processing;
    rewound.rows_done = 1;
    rewound.counts = Default::default();
    rewound.completed_at = None;
    rewound.reject_report = None;
    rewound.revision = done.revision + 1;
    f.service
        .store
        .save_file(&rewound, done.revision, None, Utc::now())
        .await
        .unwrap();
}

#[tokio::test]
async fn a_resumed_chunk_sends_its_sales_as_stored_not_as_matched_now() {
    let f = testing::pos_service(10).await;
    let key = format!("{}/pos/held.csv", f.distributor);
    let csv = pos_csv(&[
        ("H-1", "1", "Unknown Shop", "NW-1", "1", "10"),
        ("H-2", "1", "Unknown Shop", "NW-1", "1", "10"),
    ]);
    let body = drop_file(&f, &key, csv.into_bytes()).await;
    f.service.handle(&body, later()).await.unwrap();
    assert!(sales_lines(&f).await.iter().all(|l| l.held));

    // Between the crash and the resume the name became known: the stored lines stay held
    // (a release will send them), and one of them was released already.
    let store = &f.service.store;
    store
        .put_reseller_alias(
            &f.distributor,
            "unknown shop",
            &f.reseller,
            "ada",
            Utc::now(),
        )
        .await
        .unwrap();
    let held = store
        .held_lines(&f.distributor, Some("unknown shop"), false)
        .await
        .unwrap();
    let mut released = held[0].line.clone();
    released.held = false;
    released.reseller_id = Some(f.reseller.clone());
    assert!(
        store
            .mark_releasing(&held[0].key, &released, "ada", Utc::now())
            .await
            .unwrap()
    );
    rewind_to_start(&f, &key).await;

    f.service.handle(&body, later()).await.unwrap();
    let again = sales_lines(&f).await;
    assert_eq!(again.len(), 2);
    assert!(
        again.iter().all(|l| l.held && l.reseller_id.is_none()),
        "{again:?}"
    );
    assert_eq!(file_of(&f, &key).await.counts.held, 2);
}

#[tokio::test]
async fn a_file_too_big_for_one_invocation_is_continued_by_a_message() {
    let f = testing::pos_service(10).await;
    let key = format!("{}/pos/long.csv", f.distributor);
    let body = drop_file(&f, &key, many_lines(25).into_bytes()).await;
    // Less time left than the reserve: one chunk, then hand on.
    let progress = f.service.handle(&body, Instant::now()).await.unwrap();
    assert_eq!(progress, vec![Progress::Continued]);
    assert_eq!(file_of(&f, &key).await.rows_done, 11);
    let sqs = testing::sqs_client().await;
    let mut rounds = 0;
    loop {
        let messages = testing::drain(&sqs, &f.service.settings.ingest_queue_url).await;
        if messages.is_empty() {
            break;
        }
        for message in messages {
            f.service.handle(&message, later()).await.unwrap();
        }
        rounds += 1;
    }
    assert_eq!(rounds, 1);
    let file = file_of(&f, &key).await;
    assert_eq!(
        (file.status, file.counts.lines, file.invocations),
        (FileStatus::Completed, 25, 2)
    );
}

#[tokio::test]
async fn a_busy_distributor_hands_the_file_on_with_a_delay() {
    let f = testing::pos_service(10).await;
    assert!(
        f.service
            .store
            .claim_lease(&f.distributor, "someone-else", Utc::now(), 600)
            .await
            .unwrap()
    );
    let key = format!("{}/pos/wait.csv", f.distributor);
    let body = drop_file(&f, &key, many_lines(3).into_bytes()).await;
    assert_eq!(
        f.service.handle(&body, later()).await.unwrap(),
        vec![Progress::Continued]
    );
    assert_eq!(file_of(&f, &key).await.status, FileStatus::Processing);
    f.service
        .store
        .release_lease(&f.distributor, "someone-else")
        .await
        .unwrap();
}

#[tokio::test]
async fn files_that_cannot_be_ingested_are_refused_whole_with_a_reason() {
    let f = testing::pos_service(1000).await;
    let gz = |text: &str| {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(text.as_bytes()).unwrap();
        e.finish().unwrap()
    };
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty.csv", vec![], "the file is empty"),
        (
            "noheader.csv",
            format!("I-1,1,{},X,NW-1,1,10,USD\n", day(1)).into_bytes(),
            "no recognisable header",
        ),
        (
            "header-only.csv.gz",
            gz("Invoice,Line,Date,Reseller,SKU,Qty,Price,Currency\n"),
            "no data lines",
        ),
        (
            "legacy.xls",
            vec![0xd0, 0xcf, 0x11, 0xe0, 1, 2, 3, 4],
            "legacy Excel",
        ),
        (
            "missing.csv",
            b"Invoice,SKU,Qty\nI-1,NW-1,1\n".to_vec(),
            "no column for",
        ),
    ];
    for (name, bytes, reason) in cases {
        let key = format!("{}/pos/{name}", f.distributor);
        let body = drop_file(&f, &key, bytes).await;
        assert_eq!(
            f.service.handle(&body, later()).await.unwrap(),
            vec![Progress::Done(FileStatus::Refused)]
        );
        let file = file_of(&f, &key).await;
        assert!(
            file.reason.as_deref().unwrap().contains(reason),
            "{name}: {:?}",
            file.reason
        );
        assert_eq!(file.counts.accepted, 0);
    }
    // A folder that is not a partner's id, and a reject report, are not input.
    let stranger = drop_file(&f, "nobody/pos/x.csv", b"a".to_vec()).await;
    assert_eq!(
        f.service.handle(&stranger, later()).await.unwrap(),
        vec![Progress::Ignored]
    );
    let report = drop_file(
        &f,
        &format!("{}/rejects/x.csv", f.distributor),
        b"a".to_vec(),
    )
    .await;
    assert_eq!(
        f.service.handle(&report, later()).await.unwrap(),
        vec![Progress::Ignored]
    );
    // An unknown distributor gets a record saying so.
    let unknown = tributary::domain::PartnerId::generate();
    let key = format!("{unknown}/pos/x.csv");
    let body = drop_file(&f, &key, pos_csv(&[]).into_bytes()).await;
    f.service.handle(&body, later()).await.unwrap();
    let page = f
        .service
        .store
        .list_files(Some(&unknown), 10, None)
        .await
        .unwrap();
    assert!(
        page.files[0]
            .reason
            .as_deref()
            .unwrap()
            .starts_with("unknown distributor")
    );
    assert!(sales_lines(&f).await.is_empty());
}

#[tokio::test]
async fn an_inventory_file_becomes_stock_events() {
    let f = testing::pos_service(1000).await;
    let key = format!("{}/inventory/stock.csv", f.distributor);
    let text = format!(
        "Warehouse;SKU;On Hand;On Order;As Of\nDAL;NW-1;40;5;{d}\nDAL;NW-2;0;;{d}\nDAL;NOPE;1;;{d}\n",
        d = day(1)
    );
    let body = drop_file(&f, &key, text.into_bytes()).await;
    f.service.handle(&body, later()).await.unwrap();
    let file = file_of(&f, &key).await;
    assert_eq!((file.counts.accepted, file.counts.rejected), (2, 1));
    let sqs = testing::sqs_client().await;
    let lines: Vec<_> = testing::drain(&sqs, &f.service.settings.stock_queue_url)
        .await
        .iter()
        .flat_map(|b| Envelope::<StockReported>::decode(b).unwrap().payload.lines)
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!((lines[0].on_hand, lines[0].on_order), (40, 5));
}

#[tokio::test]
async fn a_handler_batch_reports_only_the_failed_record() {
    let f = testing::pos_service(1000).await;
    let good = drop_file(
        &f,
        &format!("{}/pos/ok.csv", f.distributor),
        pos_csv(&[("I", "1", "X", "NW-1", "1", "1")]).into_bytes(),
    )
    .await;
    let mut event: SqsEvent =
        serde_json::from_str(include_str!("../../../../events/pos-ingest.json")).unwrap();
    let mut bad = event.records[0].clone();
    bad.message_id = Some("bad".into());
    bad.body = Some("{not json".into());
    event.records[0].body = Some(good);
    event.records.push(bad);
    let response = handle(&f.service, event, later()).await;
    let failed: Vec<_> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect();
    assert_eq!(failed, ["bad"]);
}

#[test]
fn a_stale_runtime_deadline_is_replaced_by_a_fixed_budget() {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let ahead = deadline(now_ms + 120_000).saturating_duration_since(Instant::now());
    assert!(
        ahead > Duration::from_secs(110) && ahead <= Duration::from_secs(120),
        "{ahead:?}"
    );
    let stale = deadline(now_ms - 5_000).saturating_duration_since(Instant::now());
    assert!(
        stale > Duration::from_secs(50) && stale <= Duration::from_secs(60),
        "{stale:?}"
    );
}
