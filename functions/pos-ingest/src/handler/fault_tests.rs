//! Faults in one file's processing: whatever happens, the file ends in a final state with a
//! reason, the distributor's lease is released and its next file goes on at once.

use chrono::Utc;
use tributary::domain::pos::FileStatus;
use tributary::store::PosStore;
use tributary::testing::{self, PosFixture};
use tributary::workflow::pos::{INJECTED_PANIC, Progress};

use super::tests::{day, drop_file, file_of, later};

/// A POS file of one-unit lines (invoice, reseller, SKU).
fn pos_csv(lines: &[(&str, &str, &str)]) -> Vec<u8> {
    let date = day(3);
    let mut text =
        String::from("Invoice No,Line,Invoice Date,Sold To,Part Number,Qty,Unit Price,Currency\n");
    for (invoice, reseller, sku) in lines {
        text.push_str(&format!(
            "{invoice},1,{date},{reseller},{sku},1,10.00,USD\n"
        ));
    }
    text.into_bytes()
}

/// Whether the distributor's lease is free now (taken and given back by a probe).
async fn lease_is_free(f: &PosFixture) -> bool {
    let free = f
        .service
        .store
        .claim_lease(&f.distributor, "probe", Utc::now(), 1)
        .await
        .unwrap();
    f.service
        .store
        .release_lease(&f.distributor, "probe")
        .await
        .unwrap();
    free
}

/// The distributor's next file is ingested now, not handed on to wait for a lease.
async fn next_file_goes_on(f: &PosFixture, name: &str) {
    let key = format!("{}/pos/{name}", f.distributor);
    let body = drop_file(f, &key, pos_csv(&[(name, "Northwind Traders", "NW-1")])).await;
    assert_eq!(
        f.service.handle(&body, later()).await.unwrap(),
        vec![Progress::Done(FileStatus::Completed)],
        "the lease was released"
    );
}

#[tokio::test]
async fn a_file_name_with_non_ascii_letters_is_ingested_and_reported() {
    let f = testing::pos_service(1000).await;
    let key = format!("{}/pos/1-Umsätze.csv", f.distributor);
    let body = drop_file(
        &f,
        &key,
        pos_csv(&[("U-1", "Northwind Traders", "NW-1"), ("U-2", "x", "NOPE")]),
    )
    .await;
    assert_eq!(
        f.service.handle(&body, later()).await.unwrap(),
        vec![Progress::Done(FileStatus::Completed)]
    );
    let file = file_of(&f, &key).await;
    assert_eq!((file.counts.accepted, file.counts.rejected), (1, 1));
    let report = file.reject_report.expect("a reject report");
    assert!(
        report.ends_with(&format!("/rejects/pos/1-Umsätze.csv.{}.csv", file.id)),
        "{report}"
    );
    next_file_goes_on(&f, "after-umlaut.csv").await;
}

#[tokio::test]
async fn a_panic_in_one_file_fails_it_with_a_reason_and_releases_the_lease() {
    let f = testing::pos_service(2).await;
    let key = format!("{}/pos/defect.csv", f.distributor);
    let body = drop_file(
        &f,
        &key,
        pos_csv(&[
            ("P-1", "Northwind Traders", "NW-1"),
            ("P-2", "Northwind Traders", "NW-2"),
            ("P-3", INJECTED_PANIC, "NW-1"),
        ]),
    )
    .await;
    assert_eq!(
        f.service.handle(&body, later()).await.unwrap(),
        vec![Progress::Done(FileStatus::Failed)],
        "answered, not a crashed invocation"
    );
    let file = file_of(&f, &key).await;
    assert_eq!(file.status, FileStatus::Failed);
    let reason = file.reason.unwrap();
    assert!(
        reason.contains("internal error") && reason.contains("after row 3:"),
        "{reason}"
    );
    assert_eq!(file.counts.accepted, 2, "the first chunk stays stored");
    assert!(file.reject_report.is_some());
    next_file_goes_on(&f, "after-panic.csv").await;
}

#[tokio::test]
async fn a_file_that_keeps_failing_is_failed_on_its_last_delivery() {
    let mut f = testing::pos_service(1000).await;
    // Every publish of sales fails: an error on each delivery, not a panic.
    let sales_queue = f.service.settings.sales_queue_url.clone();
    f.service.settings.sales_queue_url = "http://127.0.0.1:1/000000000000/missing".into();
    let key = format!("{}/pos/stuck.csv", f.distributor);
    let body = drop_file(&f, &key, pos_csv(&[("S-1", "Northwind Traders", "NW-1")])).await;

    assert!(
        f.service
            .handle_delivery(&body, later(), false)
            .await
            .is_err()
    );
    assert_eq!(
        file_of(&f, &key).await.status,
        FileStatus::Processing,
        "retried meanwhile"
    );
    assert!(
        lease_is_free(&f).await,
        "the lease is released after an error too"
    );

    assert_eq!(
        f.service
            .handle_delivery(&body, later(), true)
            .await
            .unwrap(),
        vec![Progress::Done(FileStatus::Failed)]
    );
    let file = file_of(&f, &key).await;
    assert!(file.reason.unwrap().contains("could not complete"));
    assert!(lease_is_free(&f).await, "and on the last delivery");
    // Dropped again, its line is ingested: stored by the failed file but never counted nor
    // sent, it is no duplicate.
    f.service.settings.sales_queue_url = sales_queue;
    let again = format!("{}/pos/stuck-again.csv", f.distributor);
    let body = drop_file(&f, &again, pos_csv(&[("S-1", "Northwind Traders", "NW-1")])).await;
    f.service.handle(&body, later()).await.unwrap();
    let file = file_of(&f, &again).await;
    assert_eq!(
        (file.status, file.counts.accepted, file.counts.duplicates),
        (FileStatus::Completed, 1, 0)
    );
}
