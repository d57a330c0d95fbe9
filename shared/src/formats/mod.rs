//! File bytes → records: the formats distributors send, detected rather than declared.
//!
//! - gzip (any of the formats below, compressed), detected by its magic bytes;
//! - Excel workbooks (`.xlsx`, the first sheet), held in memory and so limited to
//!   [`MAX_XLSX_BYTES`], read cell by cell (never as a rows x columns grid);
//! - delimited text, streamed: UTF-8 with or without BOM, UTF-16 with BOM, Windows-1252 (the
//!   fallback when the start of the file is not UTF-8), comma, semicolon, tab or pipe detected
//!   from the header line, quoted fields, CRLF or LF.
//!
//! Blank records are skipped. A record whose bytes are not valid in the detected encoding is
//! returned with `encoding_error` set, so that it can be rejected with its row number.
//!
//! [`cell`] is the other direction: cells of the CSV files the system writes, neutralised
//! against CSV injection.

pub mod cell;
mod text;
mod xlsx;

use std::io::{self, Read};

use crate::domain::pos::TextEncoding;

/// The largest workbook accepted (uncompressed): xlsx files are read whole into memory.
pub const MAX_XLSX_BYTES: u64 = 32 * 1024 * 1024;

/// One record of a file.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// The record's row in the file: its first line for text, the sheet row for workbooks.
    pub row: u64,
    pub fields: csv::StringRecord,
    /// The record's bytes were not valid in the file's encoding (replaced by U+FFFD).
    pub encoding_error: bool,
}

impl Record {
    fn is_blank(fields: &csv::StringRecord) -> bool {
        fields.iter().all(|f| f.trim().is_empty())
    }
}

/// Why a file cannot be read. The first three are found before any record is read, and
/// refuse the file whole; `Corrupt` can also happen part way through a stream.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error("the file is empty")]
    Empty,
    #[error("unsupported format: {0}")]
    Unsupported(String),
    #[error(
        "the workbook is {size} bytes, over the {MAX_XLSX_BYTES}-byte limit for xlsx files; send CSV instead"
    )]
    TooLarge { size: u64 },
    #[error("the file is corrupt: {0}")]
    Corrupt(String),
}

impl From<io::Error> for FormatError {
    fn from(err: io::Error) -> Self {
        FormatError::Corrupt(err.to_string())
    }
}

/// What was detected, for the file record and the local check.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Detected {
    pub gzip: bool,
    /// `delimited` or `xlsx`.
    pub format: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encoding: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delimiter: Option<char>,
}

/// The records of one file, in order.
pub struct Records {
    source: Source,
    pub detected: Detected,
}

enum Source {
    Text(text::TextRecords),
    Sheet(xlsx::SheetRecords),
}

impl Records {
    /// Detects the format of `reader` and prepares to read its records. `encoding` and
    /// `delimiter` (from the distributor's profile) are used when they cannot be detected.
    pub fn open(
        reader: impl Read + Send + 'static,
        encoding: Option<TextEncoding>,
        delimiter: Option<u8>,
    ) -> Result<Self, FormatError> {
        let (prefix, reader) = peek(Box::new(reader), 4)?;
        if prefix.is_empty() {
            return Err(FormatError::Empty);
        }
        let (gzip, prefix, reader) = if prefix.starts_with(&[0x1f, 0x8b]) {
            let decoder: Box<dyn Read + Send> = Box::new(flate2::read::MultiGzDecoder::new(reader));
            let (prefix, reader) = peek(decoder, 4)
                .map_err(|e| FormatError::Corrupt(format!("not a readable gzip stream: {e}")))?;
            if prefix.is_empty() {
                return Err(FormatError::Empty);
            }
            (true, prefix, reader)
        } else {
            (false, prefix, reader)
        };
        if prefix.starts_with(b"PK\x03\x04") {
            let rows = xlsx::read_first_sheet(reader)?;
            return Ok(Records {
                source: Source::Sheet(rows),
                detected: Detected {
                    gzip,
                    format: "xlsx",
                    encoding: None,
                    delimiter: None,
                },
            });
        }
        if prefix.starts_with(&[0xd0, 0xcf, 0x11, 0xe0]) {
            return Err(FormatError::Unsupported(
                "a legacy Excel (.xls) workbook: save it as .xlsx or CSV".into(),
            ));
        }
        if prefix.starts_with(b"%PDF") {
            return Err(FormatError::Unsupported(
                "a PDF document, not a data file".into(),
            ));
        }
        let (records, encoding, delimiter) = text::TextRecords::open(reader, encoding, delimiter)?;
        Ok(Records {
            source: Source::Text(records),
            detected: Detected {
                gzip,
                format: "delimited",
                encoding: Some(encoding),
                delimiter: Some(delimiter as char),
            },
        })
    }

    /// The next non-blank record, `None` at the end.
    pub fn next_record(&mut self) -> Option<Result<Record, FormatError>> {
        match &mut self.source {
            Source::Text(text) => text.next_record(),
            Source::Sheet(rows) => rows.next_record(),
        }
    }
}

/// Reads up to `n` bytes from the start of `reader` and gives back a reader that still
/// yields them: format detection looks ahead without consuming.
fn peek(mut reader: Box<dyn Read + Send>, n: usize) -> io::Result<(Vec<u8>, Box<dyn Read + Send>)> {
    let mut prefix = Vec::with_capacity(n);
    (&mut reader).take(n as u64).read_to_end(&mut prefix)?;
    let again: Box<dyn Read + Send> = Box::new(io::Cursor::new(prefix.clone()).chain(reader));
    Ok((prefix, again))
}

#[cfg(test)]
mod tests;
