//! Excel workbooks: the first sheet's rows as records, read cell by cell.
//!
//! The sheet is never loaded as a grid: calamine's `Range` allocates rows x columns of the
//! used range, and a single stray cell at XFD1048576 makes that 17 billion cells. Cells are
//! streamed instead, by a thread that owns the workbook, and assembled into records row by
//! row; empty cells are skipped, and a value beyond [`MAX_COLUMNS`] refuses the file.

use std::io::{Cursor, Read};
use std::sync::mpsc;

use calamine::{DataRef, Reader, Xlsx};
use chrono::{Duration, NaiveDate};

use super::{FormatError, MAX_XLSX_BYTES, Record};

/// Columns read from a sheet: POS layouts use a few dozen.
pub const MAX_COLUMNS: u32 = 256;

/// The most a workbook's parts may expand to (as their zip entries declare): the shared
/// strings are held in memory while the sheet is read.
pub const MAX_EXPANDED_BYTES: u64 = 96 * 1024 * 1024;

/// Records handed over ahead of the reader.
const AHEAD: usize = 1024;

/// The first sheet's records, in row order, from a thread that reads them cell by cell.
pub(super) struct SheetRecords {
    rows: mpsc::Receiver<Result<Record, FormatError>>,
}

impl SheetRecords {
    pub(super) fn next_record(&mut self) -> Option<Result<Record, FormatError>> {
        self.rows.recv().ok()
    }
}

pub(super) fn read_first_sheet(reader: Box<dyn Read + Send>) -> Result<SheetRecords, FormatError> {
    let mut bytes = Vec::new();
    reader.take(MAX_XLSX_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_XLSX_BYTES {
        return Err(FormatError::TooLarge {
            size: bytes.len() as u64,
        });
    }
    let unreadable = |e: calamine::XlsxError| {
        FormatError::Unsupported(format!("not a readable xlsx workbook ({e})"))
    };
    check_expanded_size(&bytes)?;
    let mut workbook = Xlsx::new(Cursor::new(bytes)).map_err(unreadable)?;
    let sheet = workbook
        .sheet_names()
        .first()
        .cloned()
        .ok_or_else(|| FormatError::Unsupported("the workbook has no sheet".into()))?;
    // Opened here, so that a workbook without a readable sheet is refused before any record.
    workbook
        .worksheet_cells_reader(&sheet)
        .map_err(unreadable)?;
    let (tx, rows) = mpsc::sync_channel(AHEAD);
    std::thread::spawn(move || {
        let mut cells = match workbook.worksheet_cells_reader(&sheet) {
            Ok(cells) => cells,
            Err(e) => {
                let _ = tx.send(Err(unreadable(e)));
                return;
            }
        };
        let mut row: Option<(u32, Vec<String>)> = None;
        let emit = |(index, fields): (u32, Vec<String>)| {
            let fields: csv::StringRecord = fields.into_iter().collect();
            if Record::is_blank(&fields) {
                return true;
            }
            let record = Record {
                row: u64::from(index) + 1,
                fields,
                encoding_error: false,
            };
            tx.send(Ok(record)).is_ok()
        };
        loop {
            let cell = match cells.next_cell() {
                Ok(Some(cell)) => cell,
                Ok(None) => break,
                Err(e) => {
                    let _ = tx.send(Err(FormatError::Corrupt(format!("unreadable sheet: {e}"))));
                    return;
                }
            };
            let text = cell_text(cell.get_value());
            if text.is_empty() {
                continue;
            }
            let (index, column) = cell.get_position();
            if column >= MAX_COLUMNS {
                let _ = tx.send(Err(FormatError::Corrupt(format!(
                    "a value in column {} of row {}: only the first {MAX_COLUMNS} columns are read; remove stray cells or send CSV",
                    column_name(column),
                    index + 1
                ))));
                return;
            }
            if row.as_ref().is_some_and(|(current, _)| *current != index)
                && !emit(row.take().expect("a row in progress"))
            {
                return;
            }
            let (_, fields) = row.get_or_insert_with(|| (index, Vec::new()));
            let column = column as usize;
            if fields.len() <= column {
                fields.resize(column + 1, String::new());
            }
            fields[column] = text;
        }
        if let Some(last) = row {
            emit(last);
        }
    });
    Ok(SheetRecords { rows })
}

/// Refuses a workbook whose parts declare more than [`MAX_EXPANDED_BYTES`] uncompressed (a
/// zip bomb in the shared strings, say) before anything is decompressed.
fn check_expanded_size(bytes: &[u8]) -> Result<(), FormatError> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes))
        .map_err(|e| FormatError::Unsupported(format!("not a readable xlsx workbook ({e})")))?;
    let mut total: u64 = 0;
    for i in 0..archive.len() {
        let entry = archive
            .by_index_raw(i)
            .map_err(|e| FormatError::Unsupported(format!("not a readable xlsx workbook ({e})")))?;
        total = total.saturating_add(entry.size());
    }
    if total > MAX_EXPANDED_BYTES {
        return Err(FormatError::Unsupported(format!(
            "the workbook expands to {total} bytes, over the {MAX_EXPANDED_BYTES}-byte limit; send CSV instead"
        )));
    }
    Ok(())
}

/// `0` → `A`, `16383` → `XFD`: columns as Excel names them.
fn column_name(mut column: u32) -> String {
    let mut name = Vec::new();
    loop {
        name.push(b'A' + (column % 26) as u8);
        if column < 26 {
            break;
        }
        column = column / 26 - 1;
    }
    name.reverse();
    String::from_utf8(name).expect("ASCII letters")
}

/// A cell as text. Numbers use the shortest form that reads back to the same value (Excel
/// stores them as binary floats; `12.5` stays `12.5`); dates become ISO dates.
fn cell_text(cell: &DataRef<'_>) -> String {
    match cell {
        DataRef::Empty => String::new(),
        DataRef::String(s) => s.clone(),
        DataRef::SharedString(s) => s.to_string(),
        DataRef::Int(i) => i.to_string(),
        DataRef::Float(f) => f.to_string(),
        DataRef::Bool(b) => b.to_string(),
        DataRef::DateTime(d) => excel_date(d.as_f64()),
        DataRef::DateTimeIso(s) | DataRef::DurationIso(s) => s.clone(),
        DataRef::Error(e) => format!("#{e:?}"),
    }
}

/// Excel serial day numbers count from 1899-12-30 (for every date after February 1900).
fn excel_date(serial: f64) -> String {
    let epoch = NaiveDate::from_ymd_opt(1899, 12, 30).expect("valid date");
    match epoch.checked_add_signed(Duration::days(serial.floor() as i64)) {
        Some(date) => date.format("%Y-%m-%d").to_string(),
        None => serial.to_string(),
    }
}
