use std::io::Write;

use super::*;

fn records(bytes: Vec<u8>) -> (Detected, Vec<Record>) {
    let mut records = Records::open(std::io::Cursor::new(bytes), None, None).unwrap();
    let mut all = Vec::new();
    while let Some(record) = records.next_record() {
        all.push(record.unwrap());
    }
    (records.detected, all)
}

fn fields(record: &Record) -> Vec<&str> {
    record.fields.iter().collect()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

fn utf16(text: &str, little_endian: bool) -> Vec<u8> {
    let mut bytes = if little_endian {
        vec![0xff, 0xfe]
    } else {
        vec![0xfe, 0xff]
    };
    for unit in text.encode_utf16() {
        let pair = if little_endian {
            unit.to_le_bytes()
        } else {
            unit.to_be_bytes()
        };
        bytes.extend_from_slice(&pair);
    }
    bytes
}

const SAMPLE: &str =
    "SKU,Qty,Reseller\r\nNW-1,3,\"Müller, GmbH\"\r\n\r\nNW-2,-1,\"Café \"\"Zur Post\"\"\"\r\n";

fn expect_sample(found: &[Record]) {
    assert_eq!(found.len(), 3, "{found:?}");
    assert_eq!(fields(&found[0]), ["SKU", "Qty", "Reseller"]);
    assert_eq!(fields(&found[1]), ["NW-1", "3", "Müller, GmbH"]);
    assert_eq!(fields(&found[2]), ["NW-2", "-1", "Café \"Zur Post\""]);
    assert_eq!(found[2].row, 4, "the blank line is skipped but counted");
    assert!(found.iter().all(|r| !r.encoding_error));
}

#[test]
fn reads_utf8_with_and_without_bom() {
    let (detected, found) = records(SAMPLE.as_bytes().to_vec());
    assert_eq!(detected.encoding, Some("utf-8"));
    expect_sample(&found);
    let mut with_bom = vec![0xef, 0xbb, 0xbf];
    with_bom.extend_from_slice(SAMPLE.as_bytes());
    let (_, found) = records(with_bom);
    expect_sample(&found);
}

#[test]
fn reads_utf16_with_bom_both_byte_orders() {
    for little_endian in [true, false] {
        let (detected, found) = records(utf16(SAMPLE, little_endian));
        assert_eq!(
            detected.encoding,
            Some(if little_endian {
                "utf-16le"
            } else {
                "utf-16be"
            })
        );
        expect_sample(&found);
    }
}

#[test]
fn falls_back_to_windows_1252_when_not_utf8() {
    let (bytes, _, _) = encoding_rs::WINDOWS_1252.encode(SAMPLE);
    let (detected, found) = records(bytes.into_owned());
    assert_eq!(detected.encoding, Some("windows-1252"));
    expect_sample(&found);
}

#[test]
fn detects_each_delimiter_and_line_ending() {
    for delimiter in [",", ";", "\t", "|"] {
        for ending in ["\n", "\r\n"] {
            let text = format!(
                "SKU{d}Qty{d}Note{e}NW-1{d}3{d}\"a{d}b\"{e}",
                d = delimiter,
                e = ending
            );
            let (detected, found) = records(text.into_bytes());
            assert_eq!(detected.delimiter, delimiter.chars().next());
            assert_eq!(fields(&found[1]), ["NW-1", "3", &format!("a{delimiter}b")]);
        }
    }
}

#[test]
fn reads_gzip_compressed_text() {
    let (detected, found) = records(gzip(SAMPLE.as_bytes()));
    assert!(detected.gzip);
    expect_sample(&found);
    let (bytes, _, _) = encoding_rs::WINDOWS_1252.encode(SAMPLE);
    let (detected, found) = records(gzip(&bytes));
    assert_eq!(detected.encoding, Some("windows-1252"));
    expect_sample(&found);
}

#[test]
fn a_record_not_valid_in_utf8_is_flagged_not_dropped() {
    // Valid UTF-8 up to the sample size; one Latin-1 byte far into the file.
    let mut text = String::from("SKU,Qty\n");
    while text.len() < 70_000 {
        text.push_str("NW-1,1\n");
    }
    let mut bytes = text.into_bytes();
    bytes.extend_from_slice(b"NW-\xe9,2\nNW-3,3\n");
    let (_, found) = records(bytes);
    let flagged: Vec<&Record> = found.iter().filter(|r| r.encoding_error).collect();
    assert_eq!(flagged.len(), 1);
    assert_eq!(fields(flagged[0]), ["NW-\u{fffd}", "2"]);
    assert_eq!(fields(found.last().unwrap()), ["NW-3", "3"]);
}

/// A minimal workbook: one sheet, inline strings, numbers and a date cell.
pub(crate) fn xlsx(rows: &[&[&str]]) -> Vec<u8> {
    xlsx_with(rows, "")
}

/// [`xlsx`] with raw `<row>` XML after the rows (cells anywhere on the sheet).
pub(crate) fn xlsx_with(rows: &[&[&str]], extra_rows: &str) -> Vec<u8> {
    let mut sheet = String::from(
        r#"<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>"#,
    );
    for (r, row) in rows.iter().enumerate() {
        sheet.push_str(&format!(r#"<row r="{}">"#, r + 1));
        for (c, value) in row.iter().enumerate() {
            let cell = format!("{}{}", (b'A' + c as u8) as char, r + 1);
            if let Some(serial) = value.strip_prefix("date:") {
                sheet.push_str(&format!(r#"<c r="{cell}" s="1"><v>{serial}</v></c>"#));
            } else if value.parse::<f64>().is_ok() {
                sheet.push_str(&format!(r#"<c r="{cell}"><v>{value}</v></c>"#));
            } else {
                sheet.push_str(&format!(
                    r#"<c r="{cell}" t="inlineStr"><is><t>{value}</t></is></c>"#
                ));
            }
        }
        sheet.push_str("</row>");
    }
    sheet.push_str(extra_rows);
    sheet.push_str("</sheetData></worksheet>");
    let files = [
        ("[Content_Types].xml", r#"<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/><Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/></Types>"#.to_string()),
        ("_rels/.rels", r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#.to_string()),
        ("xl/workbook.xml", r#"<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="POS" sheetId="1" r:id="rId1"/></sheets></workbook>"#.to_string()),
        ("xl/_rels/workbook.xml.rels", r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/></Relationships>"#.to_string()),
        ("xl/styles.xml", r#"<?xml version="1.0" encoding="UTF-8"?><styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><cellXfs count="2"><xf numFmtId="0"/><xf numFmtId="14" applyNumberFormat="1"/></cellXfs></styleSheet>"#.to_string()),
        ("xl/worksheets/sheet1.xml", sheet),
    ];
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, body) in files {
        zip.start_file(name, options).unwrap();
        zip.write_all(body.as_bytes()).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

#[test]
fn reads_the_first_sheet_of_a_workbook() {
    let book = xlsx(&[
        &["SKU", "Qty", "Price", "Date"],
        &["NW-1", "3", "12.5", "date:46085"],
        &["", "", "", ""],
        &["NW-2", "-1", "1234567", "2026-03-04"],
    ]);
    let (detected, found) = records(book.clone());
    assert_eq!(detected.format, "xlsx");
    assert_eq!(found.len(), 3);
    assert_eq!(fields(&found[1]), ["NW-1", "3", "12.5", "2026-03-04"]);
    assert_eq!(fields(&found[2]), ["NW-2", "-1", "1234567", "2026-03-04"]);
    assert_eq!(found[2].row, 4);
    let (detected, again) = records(gzip(&book));
    assert!(detected.gzip);
    assert_eq!(again, found);
}

#[test]
fn refuses_what_it_cannot_read() {
    let refuse = |bytes: Vec<u8>| {
        Records::open(std::io::Cursor::new(bytes), None, None)
            .err()
            .unwrap()
    };
    assert!(matches!(refuse(vec![]), FormatError::Empty));
    assert!(matches!(refuse(b"\n\r\n  \n".to_vec()), FormatError::Empty));
    assert!(matches!(refuse(gzip(b"")), FormatError::Empty));
    assert!(
        matches!(refuse(vec![0xd0, 0xcf, 0x11, 0xe0, 0, 0]), FormatError::Unsupported(m) if m.contains(".xls"))
    );
    assert!(matches!(
        refuse(b"%PDF-1.7 ...".to_vec()),
        FormatError::Unsupported(_)
    ));
    assert!(
        matches!(refuse(b"PK\x03\x04 not really a zip".to_vec()), FormatError::Unsupported(m) if m.contains("xlsx"))
    );
    let binary: Vec<u8> = (0..4096u32).map(|i| (i * 7 % 256) as u8).collect();
    assert!(matches!(refuse(binary), FormatError::Unsupported(m) if m.contains("binary")));
    let mut truncated = gzip(SAMPLE.as_bytes());
    truncated.truncate(12);
    assert!(matches!(refuse(truncated), FormatError::Corrupt(_)));
}

#[test]
fn refuses_an_oversized_workbook() {
    let mut book = b"PK\x03\x04".to_vec();
    book.resize(MAX_XLSX_BYTES as usize + 10, 0);
    let err = Records::open(std::io::Cursor::new(book), None, None)
        .err()
        .unwrap();
    assert!(matches!(err, FormatError::TooLarge { .. }), "{err}");
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]
    /// Whatever the bytes, reading them ends in records or an error, never a panic.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2048),
                                   gz in proptest::prelude::any::<bool>()) {
        let input = if gz { gzip(&bytes) } else { bytes };
        if let Ok(mut records) = Records::open(std::io::Cursor::new(input), None, None) {
            while let Some(record) = records.next_record() {
                if record.is_err() { break; }
            }
        }
    }
}

/// A sheet whose cells span A1 to XFD1048576 (a stray value in the last cell): read cell by
/// cell, not as a rows x columns grid (17 billion cells).
#[test]
fn a_workbook_spanning_the_whole_sheet_is_read_without_allocating_the_grid() {
    let book = xlsx_with(
        &[&["SKU", "Qty"], &["NW-1", "2"]],
        r#"<row r="1048576"><c r="XFD1048576" s="1"/></row>"#,
    );
    let (detected, found) = records(book);
    assert_eq!(detected.format, "xlsx");
    assert_eq!(found.len(), 2, "the empty styled cell is no record");
    assert_eq!(fields(&found[1]), ["NW-1", "2"]);

    let stray = xlsx_with(
        &[&["SKU", "Qty"], &["NW-1", "2"]],
        r#"<row r="1048576"><c r="XFD1048576"><v>7</v></c></row>"#,
    );
    let mut opened = Records::open(std::io::Cursor::new(stray), None, None).unwrap();
    let mut read = Vec::new();
    while let Some(next) = opened.next_record() {
        read.push(next);
    }
    match read.last() {
        Some(Err(FormatError::Corrupt(reason))) => {
            assert!(reason.contains("column XFD"), "{reason}")
        }
        other => panic!("expected the stray cell to be refused, got {other:?}"),
    }
}

/// A quote left open makes one field of everything after it: gzip turns a few kilobytes into
/// gigabytes of it. The record is cut off at its bound instead of growing without limit.
#[test]
fn a_quote_left_open_fails_the_file_at_the_record_bound() {
    struct Endless(u64);
    impl std::io::Read for Endless {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.0 > 64 * super::text::MAX_RECORD_BYTES {
                return Ok(0);
            }
            buf.fill(b'x');
            self.0 += buf.len() as u64;
            Ok(buf.len())
        }
    }
    use std::io::Read as _;
    let start = std::io::Cursor::new(b"SKU,Qty\nNW-1,2\nNW-2,\"".to_vec());
    let mut opened = Records::open(start.chain(Endless(0)), None, None).unwrap();
    let mut read = Vec::new();
    while let Some(next) = opened.next_record() {
        let failed = next.is_err();
        read.push(next);
        if failed {
            break;
        }
    }
    assert_eq!(read.len(), 3, "header, one line, then the failure");
    match &read[2] {
        Err(FormatError::Corrupt(reason)) => assert!(reason.contains("longer than"), "{reason}"),
        other => panic!("expected the open quote to fail the file, got {other:?}"),
    }
}
