//! Rebate accrual: sales events in, ledger entries out, exactly once per message and group.
//!
//! A sales message's eligible lines are grouped by partner, program version and period. Each
//! group is then written in one transaction: an idempotency marker for (message, group), the
//! group's new figures conditional on the revision they were computed from, the entries and
//! the booked period's total. A redelivered message finds its markers and writes nothing; two
//! consumers on the same group cannot both win its revision, and the loser recomputes from the
//! winner's figures. Requests per message: one program query, one partner read per distinct
//! partner when a program is tier-gated, one BatchGetItem per 50 groups, one transaction per
//! group; none of them grows with lines. A line no ingestion could have accepted (a unit price
//! or quantity out of bounds, as only a forged or corrupt message holds) is refused alone, with
//! its reason logged, and the message's other lines accrue.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Days, NaiveDate, Utc};
use futures_util::{StreamExt, TryStreamExt, stream};
use serde::Serialize;

use crate::domain::pos::PosLine;
use crate::domain::rebate::{
    GroupDelta, GroupKey, Grouped, OutOfRange, Period, Program, Rule, accrue, booking_period,
    group_lines, line_revenue,
};
use crate::domain::{Money, PartnerId};
use crate::formats::cell::spreadsheet_safe;
use crate::messaging::Envelope;
use crate::messaging::messages::SalesReported;
use crate::store::{
    GroupView, GroupWrite, LedgerEntry, OnboardingStore, Partners, PeriodLedger, ProgramTotal,
    Rebates, StoreError, StoredGroup, WriteOutcome,
};

/// Groups written at once by one message.
const GROUP_CONCURRENCY: usize = 8;
/// Recomputations of one group after losing its revision to another consumer.
const STALE_RETRIES: u32 = 20;

/// What one sales message did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AccrualSummary {
    pub lines: usize,
    /// Lines refused as out of range (a unit price or quantity no ingestion accepts): they
    /// count nowhere, and the reason is logged.
    pub lines_refused: usize,
    /// Lines no program applies to (held, out of every window, ineligible).
    pub lines_without_program: usize,
    pub groups_written: usize,
    /// Groups this message had been applied to already (a redelivery).
    pub groups_already_applied: usize,
    pub entries: usize,
    /// Store requests made (each one DynamoDB request, short of pages and retries): they grow
    /// with groups, never with lines.
    pub store_calls: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum AccrualError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A forged or corrupt message: it fails, and reaches the DLQ after its receives.
    #[error(transparent)]
    OutOfRange(#[from] OutOfRange),
}

/// Applies sales messages to the ledger.
pub struct RebateAccrual<S> {
    store: S,
}

impl<S: Rebates + Partners + OnboardingStore + Sync> RebateAccrual<S> {
    /// Partners' net sales per month and currency, for their tiers: every matched line (held
    /// ones count once released), once per message. Returns the store calls made.
    async fn add_partner_sales(
        &self,
        message: &Envelope<SalesReported>,
        lines: &[&PosLine],
        now: DateTime<Utc>,
    ) -> Result<usize, AccrualError> {
        let mut sales: Vec<(PartnerId, String, Money)> = Vec::new();
        for line in lines.iter().filter(|l| !l.held) {
            let Some(partner) = line.reseller_id.clone() else {
                continue;
            };
            // Within range: lines beyond ingestion's bounds were refused by `handle`, so
            // a message's sums stay far below exact decimal range.
            let amount = line_revenue(line)?;
            let month = line.invoice_date.format("%Y-%m").to_string();
            sales.push((partner, month, Money::new(amount, line.unit_price.currency)));
        }
        if sales.is_empty() {
            return Ok(0);
        }
        self.store
            .add_partner_sales(&message.id, &sales, now)
            .await?;
        let totals: HashSet<_> = sales
            .iter()
            .map(|(p, m, money)| (p, m, money.currency))
            .collect();
        Ok(totals.len().div_ceil(99))
    }

    pub fn new(store: S) -> Self {
        Self { store }
    }

    pub async fn handle(
        &self,
        message: &Envelope<SalesReported>,
        now: DateTime<Utc>,
    ) -> Result<AccrualSummary, AccrualError> {
        let mut summary = AccrualSummary::default();
        // A line is unique by its key; a message never counts one twice.
        let mut seen = HashSet::new();
        let distinct: Vec<_> = message
            .payload
            .lines
            .iter()
            .filter(|l| seen.insert(l.key()))
            .collect();
        summary.lines = distinct.len();
        // A line no ingestion could have accepted is refused alone: the message's other lines
        // accrue, and the batch goes on.
        let lines: Vec<_> = distinct
            .into_iter()
            .filter(|line| match line_revenue(line) {
                Ok(_) => true,
                Err(why) => {
                    tracing::warn!(message_id = %message.id, reason = %why, "sales line refused");
                    summary.lines_refused += 1;
                    false
                }
            })
            .collect();
        summary.store_calls += self.add_partner_sales(message, &lines, now).await?;
        let programs = self.store.programs().await?;
        let tiers = self.partner_tiers(&programs, &lines).await?;

        let Grouped { groups, unmatched } = group_lines(&programs, lines.iter().copied(), |p| {
            tiers.get(p).and_then(|t| t.as_deref())
        })?;
        summary.lines_without_program = unmatched;
        summary.store_calls += 1 + tiers.len();
        if groups.is_empty() {
            return Ok(summary);
        }

        let keys: Vec<GroupKey> = groups.keys().cloned().collect();
        let mut stored = HashMap::new();
        let mut applied = HashSet::new();
        // Two items (figures and marker) per group: 50 groups fill one BatchGetItem.
        for chunk in keys.chunks(50) {
            summary.store_calls += 1;
            let (found, done) = self.store.read_groups(chunk, &message.id).await?;
            stored.extend(found);
            applied.extend(done);
        }
        let outcomes: Vec<(WriteOutcome, usize, usize)> = stream::iter(groups.iter())
            .map(|(key, group)| {
                let start = if applied.contains(key) {
                    None
                } else {
                    Some(stored.get(key).cloned().unwrap_or_default())
                };
                self.write(key, group, start, &message.id, now)
            })
            .buffer_unordered(GROUP_CONCURRENCY)
            .try_collect()
            .await?;
        for (outcome, entries, calls) in outcomes {
            summary.store_calls += calls;
            match outcome {
                WriteOutcome::Written => summary.groups_written += 1,
                WriteOutcome::AlreadyApplied => summary.groups_already_applied += 1,
                WriteOutcome::Stale => unreachable!("stale writes are retried"),
            }
            summary.entries += entries;
        }
        Ok(summary)
    }

    /// The tier of every partner in `lines`, read only when some program is gated by tier.
    async fn partner_tiers(
        &self,
        programs: &[Program],
        lines: &[&crate::domain::pos::PosLine],
    ) -> Result<HashMap<PartnerId, Option<String>>, StoreError> {
        if programs
            .iter()
            .all(|p| p.terms.eligibility.tiers.is_empty())
        {
            return Ok(HashMap::new());
        }
        let partners: HashSet<&PartnerId> = lines
            .iter()
            .filter_map(|l| l.reseller_id.as_ref())
            .collect();
        stream::iter(partners)
            .map(|id| async move {
                let partner = self.store.get_partner(id).await?;
                Ok::<_, StoreError>((id.clone(), partner.and_then(|p| p.tier)))
            })
            .buffer_unordered(GROUP_CONCURRENCY)
            .try_collect()
            .await
    }

    /// Writes one group, recomputing from fresh figures as long as another consumer wins the
    /// revision first. `start` is `None` when the message was applied to the group already.
    async fn write(
        &self,
        key: &GroupKey,
        group: &GroupDelta<'_>,
        start: Option<StoredGroup>,
        message_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(WriteOutcome, usize, usize), AccrualError> {
        let Some(mut current) = start else {
            return Ok((WriteOutcome::AlreadyApplied, 0, 0));
        };
        let mut calls = 0;
        let program = group.program;
        let (booked, late_note) = booking_period(program, key.period, now.date_naive());
        for attempt in 0..STALE_RETRIES {
            let (figures, drafts) = accrue(
                program,
                &key.partner,
                &current.figures,
                group.volume,
                group.lines,
            )?;
            let entries: Vec<LedgerEntry> = drafts
                .into_iter()
                .map(|mut draft| {
                    if let Some(late) = &late_note {
                        draft.note = Some(match draft.note.take() {
                            Some(note) => format!("{late}; {note}"),
                            None => late.clone(),
                        });
                    }
                    LedgerEntry {
                        program_id: program.id.clone(),
                        version: program.version,
                        program_name: program.terms.name.clone(),
                        period: key.period,
                        booked_period: booked,
                        currency: program.terms.currency,
                        draft,
                        message_id: message_id.to_string(),
                        recorded_at: now,
                    }
                })
                .collect();
            calls += 1;
            let outcome = self
                .store
                .write_group(GroupWrite {
                    key,
                    program,
                    message_id,
                    expected_revision: current.revision,
                    figures: &figures,
                    fund_expires_on: fund_expiry(program, key.period),
                    entries: &entries,
                })
                .await?;
            match outcome {
                WriteOutcome::Written => return Ok((outcome, entries.len(), calls)),
                WriteOutcome::AlreadyApplied => return Ok((outcome, 0, calls)),
                WriteOutcome::Stale => {
                    // Let the winner's transaction settle; back off more as contention lasts.
                    tokio::time::sleep(std::time::Duration::from_millis(5 << attempt.min(5))).await;
                    calls += 1;
                    let (mut found, done) = self
                        .store
                        .read_groups(std::slice::from_ref(key), message_id)
                        .await?;
                    if !done.is_empty() {
                        return Ok((WriteOutcome::AlreadyApplied, 0, calls));
                    }
                    current = found.remove(key).unwrap_or_default();
                }
            }
        }
        Err(StoreError::Unavailable(format!(
            "accrual group {}/{}/{} kept changing under {STALE_RETRIES} attempts",
            key.partner, key.program, key.period
        ))
        .into())
    }
}

/// When a co-op program's fund for `period` expires.
pub fn fund_expiry(program: &Program, period: Period) -> Option<NaiveDate> {
    match program.terms.rule {
        Rule::CoOp {
            fund_expiry_days, ..
        } => period
            .last_day()
            .checked_add_days(Days::new(u64::from(fund_expiry_days))),
        _ => None,
    }
}

/// A partner's accrual statement for one period.
#[derive(Debug, Clone, Serialize)]
pub struct Statement {
    pub partner_id: PartnerId,
    pub period: Period,
    /// Per program version: the entries booked in the period and their sum.
    pub programs: Vec<ProgramTotal>,
    /// Per program version: the period's volume, tier, earned, accrued and capped figures.
    pub figures: Vec<GroupView>,
    pub entries: Vec<LedgerEntry>,
}

impl Statement {
    pub fn new(partner_id: PartnerId, period: Period, ledger: PeriodLedger) -> Self {
        Self {
            partner_id,
            period,
            programs: ledger.totals,
            figures: ledger.groups,
            entries: ledger.entries,
        }
    }

    /// The entries as CSV, one row each, for a partner's or finance's spreadsheet. Every cell
    /// goes through [`spreadsheet_safe`]: a program name or note that starts like a formula is
    /// shown as text, while amounts stay numbers.
    pub fn to_csv(&self) -> Result<String, csv::Error> {
        let mut out = csv::Writer::from_writer(Vec::new());
        out.write_record([
            "recorded_at",
            "program_id",
            "version",
            "program_name",
            "period",
            "booked_period",
            "kind",
            "amount",
            "currency",
            "volume",
            "lines",
            "rate",
            "note",
            "message_id",
        ])?;
        for e in &self.entries {
            let row = [
                crate::store::attr::time_text(e.recorded_at),
                e.program_id.to_string(),
                e.version.to_string(),
                e.program_name.clone(),
                e.period.to_string(),
                e.booked_period.to_string(),
                e.draft.kind.as_str().to_string(),
                e.draft.amount.to_string(),
                e.currency.to_string(),
                e.draft.volume.to_string(),
                e.draft.lines.to_string(),
                e.draft.rate.map(|r| r.to_string()).unwrap_or_default(),
                e.draft.note.clone().unwrap_or_default(),
                e.message_id.clone(),
            ];
            out.write_record(row.iter().map(|cell| spreadsheet_safe(cell).into_owned()))?;
        }
        let bytes = out.into_inner().map_err(|e| e.into_error())?;
        Ok(String::from_utf8(bytes).expect("CSV of UTF-8 fields is UTF-8"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ProgramId;
    use crate::domain::rebate::{EntryDraft, EntryKind};

    fn entry(program_name: &str, amount: &str, note: Option<&str>) -> LedgerEntry {
        let period: Period = "2026-Q2".parse().unwrap();
        LedgerEntry {
            program_id: ProgramId::generate(),
            version: 1,
            program_name: program_name.into(),
            period,
            booked_period: period,
            currency: "USD".parse().unwrap(),
            draft: EntryDraft {
                kind: EntryKind::Reversal,
                amount: amount.parse().unwrap(),
                volume: "-1250".parse().unwrap(),
                lines: 1,
                rate: Some("0.01".parse().unwrap()),
                note: note.map(str::to_string),
            },
            message_id: "m1".into(),
            recorded_at: "2026-05-20T00:00:00Z".parse().unwrap(),
        }
    }

    /// The cells of `csv`, row by row.
    fn cells(csv: &str) -> Vec<Vec<String>> {
        csv::Reader::from_reader(csv.as_bytes())
            .records()
            .map(|r| r.unwrap().iter().map(str::to_string).collect())
            .collect()
    }

    #[test]
    fn statement_csv_neutralises_formulas_and_keeps_numbers() {
        let statement = Statement {
            partner_id: PartnerId::generate(),
            period: "2026-Q2".parse().unwrap(),
            programs: vec![],
            figures: vec![],
            entries: vec![entry(
                "=HYPERLINK(\"http://evil.example\",\"Q2 rebate\")",
                "-12.50",
                Some("@SUM(A1:A9)"),
            )],
        };
        let rows = cells(&statement.to_csv().unwrap());
        let row = &rows[0];
        assert_eq!(row[3], "'=HYPERLINK(\"http://evil.example\",\"Q2 rebate\")");
        assert_eq!(row[12], "'@SUM(A1:A9)");
        // Amounts and volumes the system writes stay numbers.
        assert_eq!(row[7], "-12.50");
        assert_eq!(row[9], "-1250");
        assert_eq!(row[11], "0.01");
    }
}
