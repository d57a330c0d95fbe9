//! Reject report rows: CSV, bounded per chunk so that they fit one DynamoDB item, and the
//! report's size cap.

use crate::domain::pos::Rejection;
use crate::formats::cell::spreadsheet_safe;

/// Reject report rows kept per chunk: a DynamoDB item holds at most 400 KB.
pub(super) const MAX_CHUNK_REJECTS_BYTES: usize = 300 * 1024;
/// The reject report is capped; further rows are counted in a closing line.
pub(super) const MAX_REPORT_BYTES: usize = 16 * 1024 * 1024;
pub(super) const REPORT_HEADER: &str = "row,field,value,reason\n";

/// A chunk's reject-report rows, CSV, bounded to fit one DynamoDB item: faults beyond the bound
/// are counted in a closing row instead of listed.
#[derive(Default)]
pub(super) struct RejectRows {
    text: String,
    omitted: u64,
}

impl RejectRows {
    pub(super) fn add(&mut self, faults: &[Rejection]) {
        for fault in faults {
            let value: String = fault.value.chars().take(120).collect();
            let row = csv_row(&[&fault.row.to_string(), &fault.field, &value, &fault.reason]);
            if self.omitted > 0 || self.text.len() + row.len() > MAX_CHUNK_REJECTS_BYTES {
                self.omitted += 1;
                continue;
            }
            self.text.push_str(&row);
        }
    }

    /// The rows, with the count of those left out.
    pub(super) fn finish(mut self) -> String {
        if self.omitted > 0 {
            self.text.push_str(&csv_row(&[
                "",
                "report",
                "",
                &format!(
                    "{} further faults in these rows are not listed",
                    self.omitted
                ),
            ]));
        }
        self.text
    }
}

/// One CSV row, quoted where needed, ending in LF; every cell is made safe to open in a
/// spreadsheet ([`spreadsheet_safe`]): distributors' values are written as sent otherwise.
pub fn csv_row(cells: &[&str]) -> String {
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    writer
        .write_record(cells.iter().map(|cell| spreadsheet_safe(cell).into_owned()))
        .expect("writing to memory");
    String::from_utf8(writer.into_inner().expect("writing to memory")).expect("UTF-8 cells")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_a_spreadsheet_would_evaluate_are_neutralised_and_numbers_stay_numbers() {
        let mut rows = RejectRows::default();
        rows.add(&[Rejection {
            row: 7,
            field: "reseller_name".into(),
            value: "=HYPERLINK(\"http://evil.example\",\"x\")".into(),
            reason: "@SUM(A1)".into(),
        }]);
        assert_eq!(
            rows.finish(),
            "7,reseller_name,\"'=HYPERLINK(\"\"http://evil.example\"\",\"\"x\"\")\",'@SUM(A1)\n"
        );
        assert_eq!(csv_row(&["-12.50", "+3", "-x"]), "-12.50,+3,'-x\n");
    }
}
