//! Excel workbooks: the first sheet's rows as records.

use std::io::{Cursor, Read};

use calamine::{Data, Reader, Xlsx};
use chrono::{Duration, NaiveDate};

use super::{FormatError, MAX_XLSX_BYTES, Record};

pub(super) fn read_first_sheet(reader: Box<dyn Read + Send>) -> Result<Vec<Record>, FormatError> {
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
    let mut workbook = Xlsx::new(Cursor::new(bytes)).map_err(unreadable)?;
    let range = workbook
        .worksheet_range_at(0)
        .ok_or_else(|| FormatError::Unsupported("the workbook has no sheet".into()))?
        .map_err(unreadable)?;
    let first_row = range.start().map_or(0, |(row, _)| u64::from(row));
    let first_column = range.start().map_or(0, |(_, column)| column as usize);
    let mut records = Vec::with_capacity(range.height());
    for (i, cells) in range.rows().enumerate() {
        // Columns left of the used range are empty: keep them, so column numbers match Excel's.
        let fields: csv::StringRecord = std::iter::repeat_n(String::new(), first_column)
            .chain(cells.iter().map(cell_text))
            .collect();
        if Record::is_blank(&fields) {
            continue;
        }
        records.push(Record {
            row: first_row + i as u64 + 1,
            fields,
            encoding_error: false,
        });
    }
    Ok(records)
}

/// A cell as text. Numbers use the shortest form that reads back to the same value (Excel
/// stores them as binary floats; `12.5` stays `12.5`); dates become ISO dates.
fn cell_text(cell: &Data) -> String {
    match cell {
        Data::Empty => String::new(),
        Data::String(s) => s.clone(),
        Data::Int(i) => i.to_string(),
        Data::Float(f) => f.to_string(),
        Data::Bool(b) => b.to_string(),
        Data::DateTime(d) => excel_date(d.as_f64()),
        Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
        Data::Error(e) => format!("#{e:?}"),
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
