//! One chunk of a file's records: validated, deduplicated against every file's stored lines,
//! stored, published as sales and stock messages, then checkpointed with its rejects.

use std::collections::{HashMap, HashSet};

use chrono::Utc;

#[cfg(feature = "testing")]
use super::INJECTED_PANIC;
use super::report::RejectRows;
use super::{IngestError, MESSAGE_LINE_BYTES, PosIngest, Run, encoding_rejection};
use crate::domain::pos::{FileCounts, FileStatus, HeldUnder, PosLine, Validator, Verdict};
use crate::formats::Record;
use crate::messaging::messages::{SalesReported, StockReported};
use crate::messaging::{Envelope, Message, ranges_by_size};
use crate::store::{Catalog, PosStore, StoreError, StoredLine};

impl PosIngest {
    /// Validates, deduplicates, stores and publishes one chunk, then checkpoints.
    pub(super) async fn chunk(
        &self,
        run: &mut Run,
        records: Vec<Record>,
    ) -> Result<(), IngestError> {
        #[cfg(feature = "testing")]
        if records
            .iter()
            .any(|r| r.fields.iter().any(|f| f == INJECTED_PANIC))
        {
            panic!("a fault injected by a test");
        }
        let Some(last_row) = records.last().map(|r| r.row) else {
            return Ok(());
        };
        let first_row = records[0].row;
        // The catalog is asked only about SKUs this invocation has not seen.
        let column = run.layout.column(crate::domain::pos::Field::Sku);
        let unseen: Vec<String> = records
            .iter()
            .filter_map(|r| column.and_then(|c| r.fields.get(c)))
            .map(str::trim)
            .filter(|s| !s.is_empty() && !run.looked_up.contains(*s))
            .map(str::to_string)
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        if !unseen.is_empty() {
            run.catalog.extend(self.store.known_skus(&unseen).await?);
            run.looked_up.extend(unseen);
        }

        let mut counts = FileCounts {
            lines: records.len() as u64,
            ..Default::default()
        };
        let mut rejects = RejectRows::default();
        let mut sales = Vec::new();
        let mut stock = Vec::new();
        {
            let mut validator = Validator::new(
                &run.layout,
                &run.profile,
                run.file.distributor.clone(),
                run.window,
                Some(&run.catalog),
                &run.resellers,
            );
            for record in &records {
                let verdict = if record.encoding_error {
                    Verdict::Rejected(vec![encoding_rejection(record)])
                } else {
                    validator.validate(record.row, &record.fields)
                };
                match verdict {
                    Verdict::Sale(line) => sales.push((record.row, line)),
                    Verdict::Stock(line) => stock.push((record.row, line)),
                    Verdict::Rejected(faults) => {
                        counts.rejected += 1;
                        rejects.add(&faults);
                    }
                }
            }
        }

        // Duplicates: within the chunk, then against what any file stored before.
        let mut candidates: Vec<(u64, crate::domain::pos::LineKey, String, Option<HeldUnder>)> =
            Vec::new();
        let mut seen = HashSet::new();
        for (row, line) in &sales {
            let key = line.key();
            if seen.insert(key.clone()) {
                candidates.push((
                    *row,
                    key,
                    serde_json::to_string(line).expect("serialisable"),
                    line.held_under(),
                ));
            } else {
                counts.duplicates += 1;
            }
        }
        for (row, line) in &stock {
            let key = line.key();
            if seen.insert(key.clone()) {
                candidates.push((
                    *row,
                    key,
                    serde_json::to_string(line).expect("serialisable"),
                    None,
                ));
            } else {
                counts.duplicates += 1;
            }
        }
        let keys: Vec<_> = candidates.iter().map(|c| c.1.clone()).collect();
        let reported = self.store.first_reports(&keys).await?;
        // A line stored by a file that then failed, past that file's last checkpoint, was never
        // counted nor sent: it is not a duplicate, and this file stores and sends it.
        for first in reported.values() {
            if first.file != run.file.id && !run.failed_checkpoints.contains_key(&first.file) {
                let checkpoint = self
                    .store
                    .get_file(&first.file)
                    .await?
                    .filter(|f| f.status == FileStatus::Failed)
                    .map(|f| f.rows_done);
                run.failed_checkpoints
                    .insert(first.file.clone(), checkpoint);
            }
        }
        let abandoned = |first: &crate::store::FirstReport| {
            !first.released
                && run
                    .failed_checkpoints
                    .get(&first.file)
                    .copied()
                    .flatten()
                    .is_some_and(|rows_done| first.row > rows_done)
        };
        let mut accepted_rows = HashSet::new();
        let mut new_lines = Vec::new();
        // Sales stored by this file before a crash are sent again as stored: re-validated now,
        // a held line could come out matched, and accrue here and again when released.
        let mut as_stored: HashMap<u64, PosLine> = HashMap::new();
        // Each accepted row's size as stored: messages are split by it, the same way on a
        // resumed chunk as on the first run (so under the same message ids).
        let mut stored_sizes: HashMap<u64, usize> = HashMap::new();
        for (row, key, json, held) in candidates {
            match reported.get(&key) {
                Some(first) if first.file == run.file.id && first.row == row => {
                    // Stored by this file before a crash: accepted, not stored again.
                    accepted_rows.insert(row);
                    stored_sizes.insert(row, first.line.len());
                    if key.partition.starts_with("POSLINE#") {
                        let mut stored: PosLine =
                            serde_json::from_str(&first.line).map_err(|e| StoreError::Corrupt {
                                key: format!("{}/{}", key.partition, key.item),
                                reason: e.to_string(),
                            })?;
                        if first.released {
                            // The release sent it to accrual under its own id.
                            stored.held = true;
                            stored.reseller_id = None;
                        }
                        as_stored.insert(row, stored);
                    }
                }
                Some(first) if !abandoned(first) => counts.duplicates += 1,
                _ => {
                    accepted_rows.insert(row);
                    stored_sizes.insert(row, json.len());
                    new_lines.push(StoredLine {
                        key,
                        file: run.file.id.clone(),
                        row,
                        line: json,
                        held,
                    });
                }
            }
        }
        let cost = self
            .store
            .put_lines(new_lines, self.settings.write_concurrency)
            .await?;

        let now = Utc::now();
        let sales: Vec<_> = sales
            .into_iter()
            .filter(|(row, _)| accepted_rows.contains(row))
            .map(|(row, l)| (row, as_stored.remove(&row).unwrap_or(l)))
            .collect();
        let stock: Vec<_> = stock
            .into_iter()
            .filter(|(row, _)| accepted_rows.contains(row))
            .collect();
        counts.accepted = (sales.len() + stock.len()) as u64;
        counts.held = sales.iter().filter(|(_, l)| l.held).count() as u64;
        let id = &run.file.id;
        let per = self.settings.lines_per_message;
        if !sales.is_empty() {
            let envelopes = messages(
                &format!("pos-sales:{id}:{first_row}"),
                &sales,
                &stored_sizes,
                per,
                now,
                |lines| SalesReported {
                    file_id: id.clone(),
                    lines,
                },
            );
            self.publisher
                .publish(&self.settings.sales_queue_url, &envelopes)
                .await?;
            // Inventory keeps sell-through for weeks of supply and reconciliation: the same
            // messages, under the same ids, on its own queue.
            self.publisher
                .publish(&self.settings.stock_queue_url, &envelopes)
                .await?;
        }
        if !stock.is_empty() {
            let envelopes = messages(
                &format!("pos-stock:{id}:{first_row}"),
                &stock,
                &stored_sizes,
                per,
                now,
                |lines| StockReported {
                    file_id: id.clone(),
                    lines,
                },
            );
            self.publisher
                .publish(&self.settings.stock_queue_url, &envelopes)
                .await?;
        }

        let expected = run.file.revision;
        let mut next = run.file.clone();
        next.counts.add(&counts);
        next.rows_done = last_row;
        next.write_requests += cost.requests;
        next.write_units += cost.write_units;
        next.updated_at = now;
        next.revision += 1;
        let rejects = rejects.finish();
        let rejects = (!rejects.is_empty()).then_some((first_row, rejects));
        self.store.save_file(&next, expected, rejects, now).await?;
        run.file = next;
        Ok(())
    }
}

/// A chunk's accepted `(row, line)`s as messages of at most `per` lines and
/// [`MESSAGE_LINE_BYTES`] of lines as stored (`stored_sizes` by row), with ids `<prefix>:<n>`.
pub(super) fn messages<L: Clone, T: Message>(
    prefix: &str,
    lines: &[(u64, L)],
    stored_sizes: &HashMap<u64, usize>,
    per: usize,
    now: chrono::DateTime<Utc>,
    payload: impl Fn(Vec<L>) -> T,
) -> Vec<Envelope<T>> {
    let sizes: Vec<usize> = lines
        .iter()
        .map(|(row, _)| stored_sizes.get(row).copied().unwrap_or(0))
        .collect();
    ranges_by_size(&sizes, per, MESSAGE_LINE_BYTES)
        .into_iter()
        .enumerate()
        .map(|(i, range)| {
            let lines = lines[range].iter().map(|(_, l)| l.clone()).collect();
            Envelope::new(format!("{prefix}:{i}"), payload(lines), now)
        })
        .collect()
}
