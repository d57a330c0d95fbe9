//! Rebate state: program versions, each accrual group's figures, the append-only ledger, and
//! per-period totals that are moved only in the same transaction as the entries they sum.

use std::collections::HashMap;
use std::future::Future;

use aws_sdk_dynamodb::types::{Put, TransactWriteItem, Update};
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::attr::{self, Item, Reader};
use super::keys::{PK, SK};
use super::{DynamoStore, StoreError, failed_conditions, is_transaction_conflict, sdk_error};
use crate::domain::Conflict;
use crate::domain::rebate::{EntryDraft, GroupFigures, GroupKey, Period, Program};
use crate::domain::{Currency, FundId, PartnerId, ProgramId};

/// A group's figures as stored, with the revision its next write is conditional on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredGroup {
    pub figures: GroupFigures,
    /// 0 while the group has never been written.
    pub revision: u64,
}

/// A ledger entry as stored and shown on statements.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    pub program_id: ProgramId,
    pub version: u32,
    pub program_name: String,
    /// The period whose volume the entry is about.
    pub period: Period,
    /// The statement period it is booked in (a later one when `period` was closed).
    pub booked_period: Period,
    pub currency: Currency,
    #[serde(flatten)]
    pub draft: EntryDraft,
    /// The sales message whose lines made the entry.
    pub message_id: String,
    pub recorded_at: DateTime<Utc>,
}

/// What a group shows on a statement: its figures for the period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupView {
    pub program_id: ProgramId,
    pub version: u32,
    pub program_name: String,
    pub rule: String,
    pub currency: Currency,
    #[serde(flatten)]
    pub figures: GroupFigures,
    /// `earned - accrued`: what the cap withheld.
    #[serde(with = "rust_decimal::serde::str")]
    pub capped: Decimal,
    /// For a co-op program: when the period's fund expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fund_expires_on: Option<NaiveDate>,
}

/// The sum of the entries booked in a period for one program version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgramTotal {
    pub program_id: ProgramId,
    pub version: u32,
    pub program_name: String,
    pub rule: String,
    pub currency: Currency,
    #[serde(with = "rust_decimal::serde::str")]
    pub accrued: Decimal,
    pub entries: u64,
}

/// Everything stored for one partner and period.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeriodLedger {
    pub totals: Vec<ProgramTotal>,
    pub groups: Vec<GroupView>,
    /// Oldest first.
    pub entries: Vec<LedgerEntry>,
}

/// One message's effect on one group, written all or nothing.
#[derive(Debug, Clone)]
pub struct GroupWrite<'a> {
    pub key: &'a GroupKey,
    pub program: &'a Program,
    pub message_id: &'a str,
    pub expected_revision: u64,
    pub figures: &'a GroupFigures,
    pub fund_expires_on: Option<NaiveDate>,
    /// Every entry is booked in the same period.
    pub entries: &'a [LedgerEntry],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    Written,
    /// The message was applied to this group before: nothing was written.
    AlreadyApplied,
    /// The group moved on since it was read: read it again and recompute.
    Stale,
}

pub trait Rebates {
    fn create_program(
        &self,
        program: &Program,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Stores `ended` (the latest version, now ending earlier) and `next`, provided the latest
    /// version is still the one read.
    fn add_program_version(
        &self,
        ended: &Program,
        next: &Program,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Every version of every program.
    fn programs(&self) -> impl Future<Output = Result<Vec<Program>, StoreError>> + Send;

    /// The versions of one program, oldest first (empty when it does not exist).
    fn program(
        &self,
        id: &ProgramId,
    ) -> impl Future<Output = Result<Vec<Program>, StoreError>> + Send;

    /// The stored figures of `keys` (absent groups are missing from the answer), and which of
    /// them `message_id` was applied to already.
    fn read_groups(
        &self,
        keys: &[GroupKey],
        message_id: &str,
    ) -> impl Future<Output = Result<(HashMap<GroupKey, StoredGroup>, Vec<GroupKey>), StoreError>> + Send;

    fn write_group(
        &self,
        write: GroupWrite<'_>,
    ) -> impl Future<Output = Result<WriteOutcome, StoreError>> + Send;

    fn period_ledger(
        &self,
        partner: &PartnerId,
        period: Period,
    ) -> impl Future<Output = Result<PeriodLedger, StoreError>> + Send;
}

const PROGRAMS_PK: &str = "PROGRAMS";

fn program_sk(id: &ProgramId, version: u32) -> String {
    format!("{id}#v{version:04}")
}

fn ledger_pk(partner: &PartnerId, period: Period) -> String {
    format!("ACCRUAL#{partner}#{period}")
}

fn group_sk(program: &ProgramId, version: u32) -> String {
    format!("GROUP#{program}#v{version:04}")
}

fn total_sk(program: &ProgramId, version: u32) -> String {
    format!("TOTAL#{program}#v{version:04}")
}

fn marker_pk(key: &GroupKey) -> String {
    format!(
        "ACCAPPLIED#{}#{}#v{:04}#{}",
        key.partner, key.program, key.version, key.period
    )
}

fn key_item(pk: String, sk: String) -> Item {
    HashMap::from([(PK.to_string(), attr::s(pk)), (SK.to_string(), attr::s(sk))])
}

fn group_key_item(key: &GroupKey) -> Item {
    key_item(
        ledger_pk(&key.partner, key.period),
        group_sk(&key.program, key.version),
    )
}

fn marker_key_item(key: &GroupKey, message_id: &str) -> Item {
    key_item(marker_pk(key), format!("MSG#{message_id}"))
}

fn program_item(program: &Program) -> Result<Item, StoreError> {
    let mut item = key_item(
        PROGRAMS_PK.to_string(),
        program_sk(&program.id, program.version),
    );
    let doc = serde_json::to_string(program)
        .map_err(|e| StoreError::Backend(format!("program does not serialise: {e}")))?;
    item.insert("doc".into(), attr::s(doc));
    item.insert("ends_on".into(), attr::s(program.terms.ends_on.to_string()));
    Ok(item)
}

fn read_program(item: &Item) -> Result<Program, StoreError> {
    Reader::new(item).json("doc")
}

impl Rebates for DynamoStore {
    async fn create_program(&self, program: &Program) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(program_item(program)?))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map_err(|e| sdk_error("create program", e))?;
        Ok(())
    }

    async fn add_program_version(&self, ended: &Program, next: &Program) -> Result<(), StoreError> {
        // The stored version must still be the latest: no other new version got there first.
        let mut ended_item = program_item(ended)?;
        ended_item.insert("superseded".into(), attr::n(next.version));
        let ended_put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(ended_item))
            .condition_expression("attribute_exists(pk) AND attribute_not_exists(superseded)")
            .build()
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        let next_put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(program_item(next)?))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(ended_put).build())
            .transact_items(TransactWriteItem::builder().put(next_put).build())
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) if super::is_transaction_condition_failure(&err) => {
                Err(StoreError::Conflict(Conflict::stale_version(format!(
                    "program {} has a newer version than {}",
                    ended.id, ended.version
                ))))
            }
            Err(err) => Err(sdk_error("add a program version", err)),
        }
    }

    async fn programs(&self) -> Result<Vec<Program>, StoreError> {
        self.partition(PROGRAMS_PK, None, "list programs")
            .await?
            .iter()
            .map(read_program)
            .collect()
    }

    async fn program(&self, id: &ProgramId) -> Result<Vec<Program>, StoreError> {
        self.partition(PROGRAMS_PK, Some(&format!("{id}#")), "read a program")
            .await?
            .iter()
            .map(read_program)
            .collect()
    }

    async fn read_groups(
        &self,
        keys: &[GroupKey],
        message_id: &str,
    ) -> Result<(HashMap<GroupKey, StoredGroup>, Vec<GroupKey>), StoreError> {
        let mut by_key: HashMap<(String, String), (&GroupKey, bool)> = HashMap::new();
        let mut items = Vec::with_capacity(keys.len() * 2);
        for key in keys {
            for (item, is_marker) in [
                (group_key_item(key), false),
                (marker_key_item(key, message_id), true),
            ] {
                let pk = Reader::new(&item).str(PK)?.to_string();
                let sk = Reader::new(&item).str(SK)?.to_string();
                by_key.insert((pk, sk), (key, is_marker));
                items.push(item);
            }
        }
        let found = self.batch_get(items, None, "read accrual groups").await?;
        let mut groups = HashMap::new();
        let mut applied = Vec::new();
        for item in &found {
            let r = Reader::new(item);
            let Some((key, is_marker)) =
                by_key.get(&(r.str(PK)?.to_string(), r.str(SK)?.to_string()))
            else {
                continue;
            };
            if *is_marker {
                applied.push((*key).clone());
            } else {
                groups.insert(
                    (*key).clone(),
                    StoredGroup {
                        figures: r.json("figures")?,
                        revision: r.u64("revision")?,
                    },
                );
            }
        }
        Ok((groups, applied))
    }

    async fn write_group(&self, write: GroupWrite<'_>) -> Result<WriteOutcome, StoreError> {
        let build = |e: aws_sdk_dynamodb::error::BuildError| StoreError::Backend(e.to_string());
        let key = write.key;
        let program = write.program;
        let now = write
            .entries
            .first()
            .map_or_else(Utc::now, |e| e.recorded_at);

        let mut marker = marker_key_item(key, write.message_id);
        marker.insert("at".into(), attr::time(now));
        let marker = Put::builder()
            .table_name(&self.table)
            .set_item(Some(marker))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(build)?;

        let figures = serde_json::to_string(write.figures)
            .map_err(|e| StoreError::Backend(format!("figures do not serialise: {e}")))?;
        let mut group = group_key_item(key);
        group.extend([
            ("figures".to_string(), attr::s(figures)),
            ("revision".to_string(), attr::n(write.expected_revision + 1)),
            ("program_name".to_string(), attr::s(&program.terms.name)),
            ("rule".to_string(), attr::s(program.terms.rule.name())),
            (
                "currency".to_string(),
                attr::s(program.terms.currency.code()),
            ),
            ("updated_at".to_string(), attr::time(now)),
        ]);
        if let Some(expires) = write.fund_expires_on {
            group.insert("fund_expires_on".into(), attr::s(expires.to_string()));
        }
        let group = if write.expected_revision == 0 {
            Put::builder().condition_expression("attribute_not_exists(pk)")
        } else {
            Put::builder()
                .condition_expression("revision = :revision")
                .expression_attribute_values(":revision", attr::n(write.expected_revision))
        }
        .table_name(&self.table)
        .set_item(Some(group))
        .build()
        .map_err(build)?;

        let mut items = vec![
            TransactWriteItem::builder().put(marker).build(),
            TransactWriteItem::builder().put(group).build(),
        ];
        if let Some(booked) = write.entries.first().map(|e| e.booked_period) {
            let sum: Decimal = write.entries.iter().map(|e| e.draft.amount).sum();
            let total = Update::builder()
                .table_name(&self.table)
                .set_key(Some(key_item(
                    ledger_pk(&key.partner, booked),
                    total_sk(&key.program, key.version),
                )))
                .update_expression(
                    "ADD accrued :sum, entries :count SET program_name = :name, #rule = :rule, currency = :currency",
                )
                .expression_attribute_names("#rule", "rule")
                .expression_attribute_values(":sum", attr::n(sum))
                .expression_attribute_values(":count", attr::n(write.entries.len()))
                .expression_attribute_values(":name", attr::s(&program.terms.name))
                .expression_attribute_values(":rule", attr::s(program.terms.rule.name()))
                .expression_attribute_values(":currency", attr::s(program.terms.currency.code()))
                .build()
                .map_err(build)?;
            items.push(TransactWriteItem::builder().update(total).build());
            if let Some(expires) = write.fund_expires_on {
                items.push(co_op_credit(&self.table, key, program, expires, sum)?);
            }
        }
        for (i, entry) in write.entries.iter().enumerate() {
            let sk = format!(
                "ENTRY#{}#{}#v{:04}#{}#{}#{i}",
                attr::time_text(entry.recorded_at),
                entry.program_id,
                entry.version,
                entry.period,
                entry.message_id
            );
            let doc = serde_json::to_string(entry)
                .map_err(|e| StoreError::Backend(format!("entry does not serialise: {e}")))?;
            let mut item = key_item(ledger_pk(&key.partner, entry.booked_period), sk);
            item.insert("doc".into(), attr::s(doc));
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .build()
                .map_err(build)?;
            items.push(TransactWriteItem::builder().put(put).build());
        }

        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        match result {
            Ok(_) => Ok(WriteOutcome::Written),
            Err(err) => match failed_conditions(&err).as_slice() {
                [0, ..] => Ok(WriteOutcome::AlreadyApplied),
                [1] => Ok(WriteOutcome::Stale),
                // Another transaction on the same items was in flight: read again and retry.
                [] if is_transaction_conflict(&err) => Ok(WriteOutcome::Stale),
                _ => Err(sdk_error("write an accrual group", err)),
            },
        }
    }

    async fn period_ledger(
        &self,
        partner: &PartnerId,
        period: Period,
    ) -> Result<PeriodLedger, StoreError> {
        let items = self
            .partition(&ledger_pk(partner, period), None, "read a statement")
            .await?;
        let mut ledger = PeriodLedger::default();
        for item in &items {
            let r = Reader::new(item);
            let sk = r.str(SK)?;
            if sk.starts_with("ENTRY#") {
                ledger.entries.push(r.json("doc")?);
            } else if let Some(rest) = sk.strip_prefix("GROUP#") {
                let (program_id, version) = split_program_key(rest, sk)?;
                let figures: GroupFigures = r.json("figures")?;
                ledger.groups.push(GroupView {
                    program_id,
                    version,
                    program_name: r.str("program_name")?.to_string(),
                    rule: r.str("rule")?.to_string(),
                    currency: r.parse("currency")?,
                    capped: figures.capped(),
                    figures,
                    fund_expires_on: r.opt_parse("fund_expires_on")?,
                });
            } else if let Some(rest) = sk.strip_prefix("TOTAL#") {
                let (program_id, version) = split_program_key(rest, sk)?;
                ledger.totals.push(ProgramTotal {
                    program_id,
                    version,
                    program_name: r.str("program_name")?.to_string(),
                    rule: r.str("rule")?.to_string(),
                    currency: r.parse("currency")?,
                    accrued: r.decimal("accrued")?,
                    entries: r.u64("entries")?,
                });
            }
        }
        Ok(ledger)
    }
}

fn split_program_key(rest: &str, sk: &str) -> Result<(ProgramId, u32), StoreError> {
    let corrupt = || StoreError::Corrupt {
        key: sk.to_string(),
        reason: "not <program>#v<version>".into(),
    };
    let (id, version) = rest.split_once("#v").ok_or_else(corrupt)?;
    Ok((
        id.parse().map_err(|_| corrupt())?,
        version.parse().map_err(|_| corrupt())?,
    ))
}

/// The co-op fund of a group, credited with what the group accrued: created on the first
/// credit, with the period's first day to its expiry as the window for activities.
fn co_op_credit(
    table: &str,
    key: &GroupKey,
    program: &Program,
    expires: NaiveDate,
    amount: Decimal,
) -> Result<TransactWriteItem, StoreError> {
    let fund = co_op_fund_id(key);
    let update = Update::builder()
        .table_name(table)
        .set_key(Some(super::claims::fund_key(&fund)))
        .update_expression(
            "SET partner_id = :partner, kind = :kind, fund_name = :name, currency = :currency, \
             starts_on = :starts, ends_on = :expires, expires_on = :expires, \
             reserved = if_not_exists(reserved, :zero), paid = if_not_exists(paid, :zero), \
             gsi1pk = :gsi1pk, gsi1sk = :gsi1sk \
             ADD allocated :amount, available :amount",
        )
        .expression_attribute_values(":partner", attr::s(key.partner.as_str()))
        .expression_attribute_values(":kind", attr::s("co_op"))
        .expression_attribute_values(
            ":name",
            attr::s(format!("{} {}", program.terms.name, key.period)),
        )
        .expression_attribute_values(":currency", attr::s(program.terms.currency.code()))
        .expression_attribute_values(":starts", attr::s(key.period.first_day().to_string()))
        .expression_attribute_values(":expires", attr::s(expires.to_string()))
        .expression_attribute_values(":zero", attr::n(0))
        .expression_attribute_values(
            ":gsi1pk",
            attr::s(super::claims::partner_funds_pk(&key.partner)),
        )
        .expression_attribute_values(":gsi1sk", attr::s(fund.as_str()))
        .expression_attribute_values(":amount", attr::n(amount))
        .build()
        .map_err(|e| StoreError::Backend(e.to_string()))?;
    Ok(TransactWriteItem::builder().update(update).build())
}

/// The co-op fund a co-op program's group credits.
pub fn co_op_fund_id(key: &GroupKey) -> FundId {
    FundId::derived(&format!(
        "co-op/{}/{}/v{}/{}",
        key.partner, key.program, key.version, key.period
    ))
}
