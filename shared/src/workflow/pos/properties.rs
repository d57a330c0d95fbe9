//! Properties of the whole POS path, bytes → records → lines → keys → messages, over arbitrary
//! Unicode in every text field and the file name, long fields and many columns: nothing
//! panics, and every key and message stays within its AWS limit.

use std::collections::HashSet;
use std::io::Cursor;

use chrono::{NaiveDate, Utc};
use proptest::prelude::*;

use super::chunk::messages;
use super::parse::{Parsed, parse};
use super::report::{MAX_CHUNK_REJECTS_BYTES, RejectRows};
use crate::domain::PartnerId;
use crate::domain::pos::{
    DateWindow, FileCounts, FileKind, PosFile, Profile, ResellerDirectory, Validator, Verdict,
};
use crate::messaging::messages::{SalesReported, StockReported};
use crate::messaging::{Envelope, MAX_MESSAGE_BYTES};
use crate::store::StoredLine;

/// DynamoDB's key limits, in bytes.
const MAX_PARTITION_KEY_BYTES: usize = 2048;
const MAX_SORT_KEY_BYTES: usize = 1024;

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 23).unwrap()
}

/// A text cell: arbitrary Unicode (any plane, combining marks, quotes, delimiters, line breaks)
/// up to well past every field's bound.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\PC{0,40}",
        "\\PC{90,130}",
        "[\u{1F600}-\u{1F64F}\u{10000}-\u{10FFF}]{20,140}",
        "[a-z\"',;\t\r\n ]{0,300}",
        "\\PC{150,700}",
    ]
}

/// One sales row: the identifiers and names arbitrary, the rest mostly valid so that lines
/// are accepted and reach the keys and messages.
fn sale_row() -> impl Strategy<Value = Vec<String>> {
    (
        text(),
        text(),
        text(),
        text(),
        text(),
        1u32..2000,
        0usize..3,
    )
        .prop_map(
            |(invoice, line, reseller, customer, sku, quantity, extra)| {
                let mut row = vec![
                    invoice,
                    line,
                    "2026-11-20".to_string(),
                    reseller,
                    customer,
                    sku,
                    quantity.to_string(),
                    "12.50".to_string(),
                    "USD".to_string(),
                ];
                row.extend(std::iter::repeat_n("x".to_string(), extra * 100));
                row
            },
        )
}

fn stock_row() -> impl Strategy<Value = Vec<String>> {
    (text(), text(), 0u32..5000).prop_map(|(location, sku, on_hand)| {
        vec![location, sku, on_hand.to_string(), "2026-11-20".to_string()]
    })
}

fn csv_bytes(header: &[&str], rows: &[Vec<String>]) -> Vec<u8> {
    let mut writer = csv::WriterBuilder::new()
        .flexible(true)
        .from_writer(Vec::new());
    writer.write_record(header).unwrap();
    for row in rows {
        writer.write_record(row).unwrap();
    }
    writer.into_inner().unwrap()
}

/// Runs `bytes` through parsing, validation, keys and message splitting as ingestion does, and
/// checks every bound on the way.
fn check_path(bytes: Vec<u8>, kind: FileKind, name: &str) -> Result<FileCounts, TestCaseError> {
    let distributor = PartnerId::generate();
    let key = format!("{distributor}/{kind}/{name}");
    let file = PosFile::received(
        "drop",
        &key,
        "v1",
        distributor.clone(),
        kind,
        name,
        Utc::now(),
    );
    prop_assert!(file.reject_report_key().len() <= 1024);
    let profile = Profile::default();
    let resellers = ResellerDirectory::new([(PartnerId::generate(), "Known Reseller".to_string())]);
    let window = DateWindow::new(today(), 400);
    let mut layout = None;
    let mut counts = FileCounts::default();
    let mut failure: Option<TestCaseError> = None;
    parse(Cursor::new(bytes), kind, &profile, 0, 50, |parsed| {
        let check = || -> Result<(), TestCaseError> {
            match parsed {
                Parsed::Layout(found, _) => layout = Some(*found),
                Parsed::Chunk(records) => {
                    let layout = layout.as_ref().expect("the layout comes first");
                    let mut validator = Validator::new(
                        layout,
                        &profile,
                        distributor.clone(),
                        window,
                        None,
                        &resellers,
                    );
                    let mut rejects = RejectRows::default();
                    let (mut sales, mut stock) = (Vec::new(), Vec::new());
                    let mut sizes = std::collections::HashMap::new();
                    let mut seen = HashSet::new();
                    for record in &records {
                        counts.lines += 1;
                        match validator.validate(record.row, &record.fields) {
                            Verdict::Rejected(faults) => {
                                counts.rejected += 1;
                                rejects.add(&faults);
                            }
                            Verdict::Sale(line) => {
                                let stored = StoredLine {
                                    key: line.key(),
                                    file: file.id.clone(),
                                    row: record.row,
                                    line: serde_json::to_string(&line).unwrap(),
                                    held: line.held_under(),
                                };
                                prop_assert!(stored.key.partition.len() <= MAX_PARTITION_KEY_BYTES);
                                prop_assert!(stored.key.item.len() <= MAX_SORT_KEY_BYTES);
                                if let Some((pk, sk)) = stored.held_index_key() {
                                    prop_assert!(pk.len() <= MAX_PARTITION_KEY_BYTES);
                                    prop_assert!(
                                        sk.len() <= MAX_SORT_KEY_BYTES,
                                        "held index key of {} bytes",
                                        sk.len()
                                    );
                                }
                                if seen.insert(stored.key.clone()) {
                                    counts.accepted += 1;
                                    sizes.insert(record.row, stored.line.len());
                                    sales.push((record.row, line));
                                }
                            }
                            Verdict::Stock(line) => {
                                let key = line.key();
                                prop_assert!(key.partition.len() <= MAX_PARTITION_KEY_BYTES);
                                prop_assert!(key.item.len() <= MAX_SORT_KEY_BYTES);
                                if seen.insert(key) {
                                    counts.accepted += 1;
                                    sizes.insert(
                                        record.row,
                                        serde_json::to_string(&line).unwrap().len(),
                                    );
                                    stock.push((record.row, line));
                                }
                            }
                        }
                    }
                    prop_assert!(rejects.finish().len() <= MAX_CHUNK_REJECTS_BYTES + 200);
                    // The messages as ingestion builds them.
                    let sales =
                        messages("pos-sales:f:1", &sales, &sizes, 300, Utc::now(), |lines| {
                            SalesReported {
                                file_id: file.id.clone(),
                                lines,
                            }
                        });
                    let stock =
                        messages("pos-stock:f:1", &stock, &sizes, 300, Utc::now(), |lines| {
                            StockReported {
                                file_id: file.id.clone(),
                                lines,
                            }
                        });
                    for message in sales
                        .iter()
                        .map(Envelope::to_json)
                        .chain(stock.iter().map(Envelope::to_json))
                    {
                        prop_assert!(
                            message.len() <= MAX_MESSAGE_BYTES,
                            "a message of {} bytes",
                            message.len()
                        );
                    }
                }
                Parsed::Refused(_) | Parsed::Failed(_) | Parsed::End => {}
            }
            Ok(())
        };
        match check() {
            Ok(()) => true,
            Err(e) => {
                failure = Some(e);
                false
            }
        }
    });
    match failure {
        Some(e) => Err(e),
        None => Ok(counts),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn sales_files_of_any_text_stay_within_every_limit(
        rows in proptest::collection::vec(sale_row(), 1..40),
        name in "\\PC{1,300}",
    ) {
        let header = [
            "Invoice", "Line", "Invoice Date", "Reseller", "End Customer", "SKU", "Qty",
            "Unit Price", "Currency",
        ];
        let counts = check_path(csv_bytes(&header, &rows), FileKind::Pos, &name)?;
        prop_assert_eq!(counts.lines, rows.len() as u64);
    }

    #[test]
    fn inventory_files_of_any_text_stay_within_every_limit(
        rows in proptest::collection::vec(stock_row(), 1..40),
        name in "\\PC{1,300}",
    ) {
        let header = ["Location", "SKU", "On Hand", "As Of"];
        check_path(csv_bytes(&header, &rows), FileKind::Inventory, &name)?;
    }

    /// Raw bytes, text or not: parsing and validation end in verdicts or a refusal.
    #[test]
    fn arbitrary_bytes_never_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..4000),
        name in "\\PC{1,50}",
    ) {
        let mut file = b"Invoice,Line,Invoice Date,Reseller,SKU,Qty,Unit Price,Currency\n".to_vec();
        file.extend(bytes);
        check_path(file, FileKind::Pos, &name)?;
    }
}

/// Messages stay within SQS's limit even when every line is as long as validation allows.
#[test]
fn a_chunk_of_the_longest_lines_is_split_into_messages_within_the_limit() {
    let long = |n: usize| "\u{10348}".repeat(n); // 4 bytes each
    let rows: Vec<Vec<String>> = (0..1000)
        .map(|i| {
            vec![
                format!("{}{i:04}", long(28)),
                format!("{i}"),
                "2026-11-20".into(),
                long(100),
                long(100),
                long(32),
                "1".into(),
                "1.00".into(),
                "USD".into(),
            ]
        })
        .collect();
    let header = [
        "Invoice",
        "Line",
        "Invoice Date",
        "Reseller",
        "End Customer",
        "SKU",
        "Qty",
        "Unit Price",
        "Currency",
    ];
    let counts = check_path(csv_bytes(&header, &rows), FileKind::Pos, "long.csv").unwrap();
    assert_eq!(
        counts.accepted, 1000,
        "every line is within the bounds: {counts:?}"
    );
}
