//! The parsing side of ingestion: a blocking thread reads the object's bytes into records and
//! hands them over in chunks; the local check (`chanctl pos check`) runs the same parsing and
//! validation without AWS.

use std::collections::HashSet;
use std::io::{self, Read};

use tokio::sync::mpsc;

use crate::domain::PartnerId;
use crate::domain::pos::{
    DateWindow, FileCounts, FileKind, Layout, Profile, Rejection, ResellerDirectory, Validator,
    Verdict,
};
use crate::formats::{Detected, FormatError, Record, Records};

use super::report::{REPORT_HEADER, RejectRows};

/// What the parsing thread hands over.
pub(super) enum Parsed {
    Layout(Box<Layout>, Detected),
    Chunk(Vec<Record>),
    /// The file cannot be read at all: refused whole.
    Refused(String),
    /// The file became unreadable part way.
    Failed(String),
    /// Every record was handed over. A channel that closes without it means the parsing
    /// thread died: the file is failed, never taken as complete.
    End,
}

/// Streams the object's bytes into a blocking thread that parses them; chunks of records come
/// back through a channel with room for two, so memory stays bounded whatever the file size.
pub(super) fn spawn_parser(
    body: aws_sdk_s3::primitives::ByteStream,
    kind: FileKind,
    profile: Profile,
    rows_done: u64,
    chunk_lines: usize,
) -> mpsc::Receiver<Parsed> {
    let (bytes_tx, bytes_rx) = mpsc::channel::<io::Result<bytes::Bytes>>(8);
    tokio::spawn(async move {
        let mut body = body;
        loop {
            let next = body.try_next().await;
            let message = match next {
                Ok(Some(bytes)) => Ok(bytes),
                Ok(None) => break,
                Err(e) => Err(io::Error::other(e)),
            };
            let failed = message.is_err();
            if bytes_tx.send(message).await.is_err() || failed {
                break;
            }
        }
    });
    let (tx, rx) = mpsc::channel(2);
    tokio::task::spawn_blocking(move || {
        let reader = ChannelReader {
            rx: bytes_rx,
            current: Default::default(),
        };
        // A panic in the parsing (a defect, whatever the input) fails the file with a reason
        // instead of ending the stream as if the file were complete.
        let sender = tx.clone();
        let parsed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
            parse(reader, kind, &profile, rows_done, chunk_lines, |parsed| {
                sender.blocking_send(parsed).is_ok()
            })
        }));
        if let Err(panic) = parsed {
            tracing::error!(
                panic = crate::telemetry::panic_message(&panic),
                "the parsing thread panicked"
            );
            let _ = tx.blocking_send(Parsed::Failed(
                "an internal error stopped the reading of the file".into(),
            ));
        }
    });
    rx
}

/// The parsing loop, shared by ingestion and the local check: the layout first, then chunks of
/// records after `rows_done`. `send` returns false when the receiver is gone.
pub(super) fn parse(
    reader: impl Read + Send + 'static,
    kind: FileKind,
    profile: &Profile,
    rows_done: u64,
    chunk_lines: usize,
    mut send: impl FnMut(Parsed) -> bool,
) {
    let mut records = match Records::open(reader, profile.encoding, profile.delimiter) {
        Ok(records) => records,
        Err(e) => {
            send(Parsed::Refused(e.to_string()));
            return;
        }
    };
    let header = match records.next_record() {
        None => {
            send(Parsed::Refused(FormatError::Empty.to_string()));
            return;
        }
        Some(Err(e)) => {
            send(Parsed::Refused(e.to_string()));
            return;
        }
        Some(Ok(header)) => header,
    };
    let cells: Vec<&str> = header.fields.iter().collect();
    match Layout::resolve(kind, &cells, profile) {
        Ok(layout) => {
            if !send(Parsed::Layout(Box::new(layout), records.detected.clone())) {
                return;
            }
        }
        Err(e) => {
            send(Parsed::Refused(e.to_string()));
            return;
        }
    }
    let mut chunk = Vec::with_capacity(chunk_lines);
    let mut weight = 0;
    while let Some(next) = records.next_record() {
        match next {
            Ok(record) if record.row <= rows_done => {}
            Ok(record) => {
                weight += record_weight(&record);
                chunk.push(record);
                if (chunk.len() >= chunk_lines || weight >= MAX_CHUNK_WEIGHT)
                    && !send(Parsed::Chunk(std::mem::replace(
                        &mut chunk,
                        Vec::with_capacity(chunk_lines),
                    )))
                {
                    return;
                }
                if chunk.is_empty() {
                    weight = 0;
                }
            }
            Err(e) => {
                if !chunk.is_empty() && !send(Parsed::Chunk(std::mem::take(&mut chunk))) {
                    return;
                }
                send(Parsed::Failed(e.to_string()));
                return;
            }
        }
    }
    if !chunk.is_empty() && !send(Parsed::Chunk(chunk)) {
        return;
    }
    send(Parsed::End);
}

/// A chunk also ends at this much memory (see [`record_weight`]): with a few chunks in flight,
/// wide records (up to a megabyte each, or a million empty fields) cannot add up to gigabytes.
const MAX_CHUNK_WEIGHT: usize = 8 * 1024 * 1024;

/// What a record holds in memory: its text and one position per field.
fn record_weight(record: &Record) -> usize {
    record.fields.as_slice().len() + record.fields.len() * std::mem::size_of::<usize>()
}

/// A blocking reader over byte chunks sent by the async side.
struct ChannelReader {
    rx: mpsc::Receiver<io::Result<bytes::Bytes>>,
    current: bytes::Bytes,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                None => return Ok(0),
                Some(Err(e)) => return Err(e),
                Some(Ok(chunk)) => self.current = chunk,
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        let _ = self.current.split_to(n);
        Ok(n)
    }
}

/// What the local check found in a file (`chanctl pos check`): the same reading, mapping and
/// validation as ingestion, without AWS.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LocalCheck {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detected: Option<Detected>,
    /// Canonical field → column number (1-based) as resolved from the header.
    pub columns: Vec<(String, usize)>,
    pub counts: FileCounts,
    /// Why the file would be refused whole (or failed part way).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
    /// The reject report as ingestion would write it.
    #[serde(skip)]
    pub report: String,
}

/// Runs a file through the ingestion core. `catalog: None` skips the SKU check; duplicates are
/// detected within the file when `detect_duplicates` (which keeps every line's key in memory).
#[allow(clippy::too_many_arguments)]
pub fn check_local(
    reader: impl Read + Send + 'static,
    kind: FileKind,
    profile: &Profile,
    distributor: PartnerId,
    catalog: Option<&HashSet<String>>,
    resellers: &ResellerDirectory,
    window: DateWindow,
    detect_duplicates: bool,
) -> LocalCheck {
    let mut check = LocalCheck {
        detected: None,
        columns: Vec::new(),
        counts: FileCounts::default(),
        refused: None,
        report: String::from(REPORT_HEADER),
    };
    let mut layout: Option<Layout> = None;
    let mut keys = HashSet::new();
    parse(reader, kind, profile, 0, 4096, |parsed| {
        match parsed {
            Parsed::Layout(found, detected) => {
                check.detected = Some(detected);
                check.columns = found
                    .columns()
                    .iter()
                    .map(|(f, c)| (f.name().to_string(), c + 1))
                    .collect();
                layout = Some(*found);
            }
            Parsed::Refused(reason) | Parsed::Failed(reason) => check.refused = Some(reason),
            Parsed::End => {}
            Parsed::Chunk(records) => {
                let layout = layout.as_ref().expect("the layout comes first");
                let mut validator = Validator::new(
                    layout,
                    profile,
                    distributor.clone(),
                    window,
                    catalog,
                    resellers,
                );
                let mut rejects = RejectRows::default();
                for record in records {
                    check.counts.lines += 1;
                    let verdict = if record.encoding_error {
                        Verdict::Rejected(vec![encoding_rejection(&record)])
                    } else {
                        validator.validate(record.row, &record.fields)
                    };
                    // Keys are built only when duplicates are tracked: they cost allocations.
                    let key = match &verdict {
                        Verdict::Sale(line) => {
                            Some((detect_duplicates.then(|| line.key()), line.held))
                        }
                        Verdict::Stock(line) => {
                            Some((detect_duplicates.then(|| line.key()), false))
                        }
                        Verdict::Rejected(faults) => {
                            check.counts.rejected += 1;
                            rejects.add(faults);
                            None
                        }
                    };
                    if let Some((key, held)) = key {
                        if key.is_some_and(|key| !keys.insert(key)) {
                            check.counts.duplicates += 1;
                        } else {
                            check.counts.accepted += 1;
                            check.counts.held += u64::from(held);
                        }
                    }
                }
                check.report.push_str(&rejects.finish());
            }
        }
        true
    });
    check
}

pub(super) fn encoding_rejection(record: &Record) -> Rejection {
    Rejection {
        row: record.row,
        field: "record".into(),
        value: record.fields.iter().collect::<Vec<_>>().join(" | "),
        reason: "bytes that are not text in the file's encoding: set the encoding in the distributor's profile".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::report::MAX_CHUNK_REJECTS_BYTES;
    use super::super::{IngestRequest, decode_key, parse_drop_key};
    use super::*;
    use crate::domain::pos::FileId;
    use crate::domain::pos::MappingProfile;
    use crate::messaging::Envelope;
    use crate::messaging::messages::PosFileContinue;
    use chrono::NaiveDate;
    use chrono::Utc;

    fn window() -> DateWindow {
        DateWindow::new(NaiveDate::from_ymd_opt(2026, 11, 23).unwrap(), 400)
    }

    fn run(
        bytes: Vec<u8>,
        kind: FileKind,
        profile: &Profile,
        catalog: &HashSet<String>,
    ) -> LocalCheck {
        let resellers =
            ResellerDirectory::new([(PartnerId::generate(), "Northwind Traders".to_string())]);
        check_local(
            std::io::Cursor::new(bytes),
            kind,
            profile,
            PartnerId::generate(),
            Some(catalog),
            &resellers,
            window(),
            true,
        )
    }

    #[test]
    fn a_european_file_checks_out_with_its_profile() {
        let profile = MappingProfile {
            columns: [(
                "sku".to_string(),
                crate::domain::pos::ColumnRef::Header("Artikel".into()),
            )]
            .into(),
            date_formats: vec!["%d.%m.%Y".into()],
            decimal_separator: Some(','),
            default_currency: Some("EUR".into()),
            ..Default::default()
        }
        .compile()
        .unwrap();
        let text = "Rechnung;Position;Datum;Händler;Artikel;Menge;Preis\r\n\
                    R-1;1;02.11.2026;Northwind Traders;NW-1;3;1.234,50\r\n\
                    R-1;2;02.11.2026;Müller GmbH;NW-1;1;9,99\r\n\
                    R-1;1;02.11.2026;Northwind Traders;NW-1;3;1.234,50\r\n\
                    R-2;1;31.11.2026;Northwind Traders;NW-1;1;1\r\n";
        let text = text
            .replace("Rechnung", "Invoice")
            .replace("Position", "Line")
            .replace("Datum", "Date")
            .replace("Händler", "Reseller")
            .replace("Menge", "Qty")
            .replace("Preis", "Price");
        let (bytes, _, _) = encoding_rs::WINDOWS_1252.encode(&text);
        let catalog = HashSet::from(["NW-1".to_string()]);
        let check = run(bytes.into_owned(), FileKind::Pos, &profile, &catalog);
        assert_eq!(check.refused, None);
        assert_eq!(
            check.detected.as_ref().unwrap().encoding,
            Some("windows-1252")
        );
        assert_eq!(check.detected.as_ref().unwrap().delimiter, Some(';'));
        let c = check.counts;
        assert_eq!(
            (c.lines, c.accepted, c.rejected, c.duplicates, c.held),
            (4, 2, 1, 1, 1)
        );
        assert!(
            check
                .report
                .starts_with("row,field,value,reason\n5,invoice_date,31.11.2026,\"not a date"),
            "{}",
            check.report
        );
    }

    #[test]
    fn a_line_not_valid_in_the_declared_encoding_is_rejected_with_its_row() {
        let profile = MappingProfile {
            encoding: Some(crate::domain::pos::TextEncoding::Utf8),
            ..Default::default()
        }
        .compile()
        .unwrap();
        let mut bytes = b"Warehouse,SKU,On Hand,As Of\nDAL,NW-1,4,2026-11-20\n".to_vec();
        bytes.extend_from_slice(b"M\xfcnchen,NW-1,4,2026-11-20\n");
        let check = run(
            bytes,
            FileKind::Inventory,
            &profile,
            &HashSet::from(["NW-1".to_string()]),
        );
        assert_eq!((check.counts.accepted, check.counts.rejected), (1, 1));
        assert!(check.report.contains("\n3,record,"), "{}", check.report);
    }

    #[test]
    fn a_chunk_with_more_faults_than_an_item_holds_says_how_many_are_left_out() {
        let mut rows = RejectRows::default();
        let fault = Rejection {
            row: 2,
            field: "sku".into(),
            value: "X".repeat(200),
            reason: "not in the vendor's catalog".into(),
        };
        rows.add(&vec![fault; 5000]);
        let text = rows.finish();
        assert!(text.len() <= MAX_CHUNK_REJECTS_BYTES + 100);
        let listed = text.lines().filter(|l| l.starts_with("2,sku,")).count();
        let last = text.lines().last().unwrap();
        assert_eq!(
            last,
            format!(
                ",report,,{} further faults in these rows are not listed",
                5000 - listed
            )
        );
    }

    #[test]
    fn keys_in_notifications_are_form_decoded() {
        assert_eq!(
            decode_key("ptn_1/pos/Week+47%2B48%2Fb.csv"),
            "ptn_1/pos/Week 47+48/b.csv"
        );
        assert_eq!(
            parse_drop_key("ptn_1/pos/a/b.csv"),
            Some(("ptn_1", FileKind::Pos, "a/b.csv"))
        );
        assert_eq!(parse_drop_key("ptn_1/rejects/a.csv"), None);
        assert_eq!(parse_drop_key("ptn_1/pos/"), None);
    }

    #[test]
    fn a_continuation_and_a_test_event_are_recognised() {
        let id = FileId::of_object("b", "k", "v");
        let body = Envelope::new(
            "x",
            PosFileContinue {
                file_id: id.clone(),
            },
            Utc::now(),
        )
        .to_json();
        assert_eq!(
            IngestRequest::parse(&body).unwrap(),
            IngestRequest::Continue(id)
        );
        let test = r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Bucket":"b"}"#;
        assert_eq!(IngestRequest::parse(test).unwrap(), IngestRequest::Nothing);
        assert!(IngestRequest::parse(r#"{"Records": "nope"}"#).is_err());
    }

    /// Wide records end a chunk early: memory is bounded by bytes, not only by a line count.
    #[test]
    fn chunks_of_wide_records_are_bounded_in_memory() {
        let mut file = String::from("Invoice,Line,Date,Reseller,SKU,Qty,Price,Currency,Notes\n");
        let notes = "n".repeat(1_000_000);
        for i in 0..30 {
            file.push_str(&format!(
                "I-{i},1,2026-11-20,Northwind,NW-1,1,10,USD,{notes}\n"
            ));
        }
        let mut sizes = Vec::new();
        parse(
            std::io::Cursor::new(file.into_bytes()),
            FileKind::Pos,
            &Profile::default(),
            0,
            1000,
            |parsed| {
                if let Parsed::Chunk(records) = parsed {
                    sizes.push(records.len());
                }
                true
            },
        );
        assert_eq!(sizes.iter().sum::<usize>(), 30);
        assert!(sizes.iter().all(|n| *n <= 9), "{sizes:?}");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]
        /// Any text, read as a POS file without a profile, ends in verdicts or a refusal.
        #[test]
        fn arbitrary_text_never_panics(lines in proptest::collection::vec("[ -~äé,;\"]{0,60}", 0..20)) {
            let mut text = String::from("Invoice,Line,Date,Reseller,SKU,Qty,Price,Currency,Type,Country\n");
            text.push_str(&lines.join("\n"));
            let check = run(text.into_bytes(), FileKind::Pos, &Profile::default(), &HashSet::new());
            proptest::prop_assert_eq!(check.counts.lines, check.counts.accepted + check.counts.rejected + check.counts.duplicates);
        }
    }
}
