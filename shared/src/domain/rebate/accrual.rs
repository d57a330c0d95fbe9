//! Accrual maths: a period's figures for one partner under one program version, and the ledger
//! entries that move it from one state to the next.
//!
//! # The rounding rule
//! The rule is applied to the period's whole net volume at full precision, and the result is
//! rounded **once**, half away from zero, to the currency's minor unit: that is what the period
//! has `earned`. The cap (itself in minor units) limits it to what is `accrued`. Every ledger
//! entry is a difference of two such rounded figures, so entries are exact in minor units and a
//! period's entries always sum to its accrued figure, whatever the order or split of its lines.
//! A retroactive true-up is the part of that difference not explained by the new lines at the
//! new rate, so base plus true-up never counts anything twice.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use std::collections::BTreeMap;

use super::period::Period;
use super::program::{Program, Rule, TierMode};
use crate::domain::pos::{MAX_UNIT_PRICE, MAX_UNITS, PosLine};
use crate::domain::{Money, PartnerId, ProgramId};

/// One partner's volume under one program version in one period: the unit of accrual.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupKey {
    pub partner: PartnerId,
    pub program: ProgramId,
    pub version: u32,
    pub period: Period,
}

/// New volume for one group, from a batch of lines.
#[derive(Debug, Clone)]
pub struct GroupDelta<'a> {
    pub program: &'a Program,
    pub volume: Decimal,
    pub lines: u64,
}

/// A batch of lines sorted into groups.
#[derive(Debug, Default)]
pub struct Grouped<'a> {
    pub groups: BTreeMap<GroupKey, GroupDelta<'a>>,
    /// Lines no program applies to (held, outside every window, ineligible).
    pub unmatched: usize,
}

/// Sorts `lines` into the groups of every program version that applies to each; `tier_of`
/// gives a partner's tier for tier-gated programs.
pub fn group_lines<'a, 'l>(
    programs: &'a [Program],
    lines: impl IntoIterator<Item = &'l PosLine>,
    tier_of: impl Fn(&PartnerId) -> Option<&'l str>,
) -> Result<Grouped<'a>, OutOfRange> {
    let mut grouped = Grouped::default();
    for line in lines {
        let Some(partner) = line.reseller_id.as_ref() else {
            grouped.unmatched += 1;
            continue;
        };
        let tier = tier_of(partner);
        let mut counted = false;
        for program in programs.iter().filter(|p| p.applies_to(line, tier)) {
            let volume = program.contribution(line).ok_or_else(|| {
                OutOfRange(format!(
                    "invoice {} line {}: {} x {}",
                    line.invoice_number, line.line_number, line.quantity, line.unit_price
                ))
            })?;
            counted = true;
            let key = GroupKey {
                partner: partner.clone(),
                program: program.id.clone(),
                version: program.version,
                period: program.period_of(line.invoice_date),
            };
            let group = grouped.groups.entry(key).or_insert(GroupDelta {
                program,
                volume: Decimal::ZERO,
                lines: 0,
            });
            group.volume = add(group.volume, volume)?;
            group.lines += 1;
        }
        if !counted {
            grouped.unmatched += 1;
        }
    }
    Ok(grouped)
}

/// The running figures of one partner, program version and period (the accrual "group").
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupFigures {
    /// Net eligible volume in the rule's basis, at full precision.
    #[serde(with = "rust_decimal::serde::str")]
    pub volume: Decimal,
    /// Lines counted (returns included).
    pub lines: u64,
    /// The rule applied to `volume`, rounded to the minor unit.
    #[serde(with = "rust_decimal::serde::str")]
    pub earned: Decimal,
    /// `earned` limited by the cap; `earned - accrued` is what the cap withheld.
    #[serde(with = "rust_decimal::serde::str")]
    pub accrued: Decimal,
    /// The tier the volume reached (1-based) under a tiered rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<u32>,
    /// Why the period earns nothing although it has volume (a growth rebate without baseline).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flag: Option<String>,
}

impl GroupFigures {
    pub fn capped(&self) -> Decimal {
        self.earned - self.accrued
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// New lines at the rate that now applies.
    Accrual,
    /// New lines whose net volume is negative (returns).
    Reversal,
    /// Earlier volume of the period re-rated because a retroactive tier was crossed.
    TrueUp,
    /// A change in what the cap withholds (negative when the cap holds more back).
    Cap,
}

impl EntryKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            EntryKind::Accrual => "accrual",
            EntryKind::Reversal => "reversal",
            EntryKind::TrueUp => "true_up",
            EntryKind::Cap => "cap",
        }
    }
}

/// One ledger entry to append, before it gets its keys and booking period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryDraft {
    pub kind: EntryKind,
    /// In minor units of the program's currency.
    #[serde(with = "rust_decimal::serde::str")]
    pub amount: Decimal,
    /// The volume the entry is about: the new lines' for an accrual, the earlier volume
    /// re-rated for a true-up.
    #[serde(with = "rust_decimal::serde::str")]
    pub volume: Decimal,
    pub lines: u64,
    #[serde(
        default,
        with = "rust_decimal::serde::str_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub rate: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The rule applied to a volume, before rounding.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Evaluation {
    earned: Decimal,
    /// The rate of the tier reached (retroactive tiers: what new volume is paid at).
    rate: Option<Decimal>,
    tier: Option<u32>,
    flag: Option<String>,
}

/// An amount beyond exact decimal range: refused, never wrapped or rounded away. Ingestion and
/// program validation bound every input far below it, so only a forged message gets here.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("amount out of range: {0}")]
pub struct OutOfRange(pub String);

/// A sales line's revenue (unit price x quantity), or why the line is refused. Ingestion
/// accepts unit prices from 0 to [`MAX_UNIT_PRICE`] and at most [`MAX_UNITS`] units a line, so
/// a line beyond that is forged or corrupt: it is refused here, before any sum made of it could
/// leave exact decimal range (7.9e27 x 1e6 would), rather than failing its whole message.
pub fn line_revenue(line: &PosLine) -> Result<Decimal, OutOfRange> {
    let price = line.unit_price.amount;
    let refused = |why: &str| {
        OutOfRange(format!(
            "invoice {:.64} line {:.64}: {} x {}: {why}",
            line.invoice_number, line.line_number, line.quantity, line.unit_price
        ))
    };
    if (price.is_sign_negative() && !price.is_zero()) || price > Decimal::from(MAX_UNIT_PRICE) {
        return Err(refused("unit price outside 0 to 1,000,000,000"));
    }
    if line.quantity.unsigned_abs() > MAX_UNITS.unsigned_abs() {
        return Err(refused("more than 1,000,000 units"));
    }
    mul(price, Decimal::from(line.quantity))
}

fn mul(a: Decimal, b: Decimal) -> Result<Decimal, OutOfRange> {
    a.checked_mul(b)
        .ok_or_else(|| OutOfRange(format!("{a} x {b}")))
}

fn add(a: Decimal, b: Decimal) -> Result<Decimal, OutOfRange> {
    a.checked_add(b)
        .ok_or_else(|| OutOfRange(format!("{a} + {b}")))
}

fn sub(a: Decimal, b: Decimal) -> Result<Decimal, OutOfRange> {
    a.checked_sub(b)
        .ok_or_else(|| OutOfRange(format!("{a} - {b}")))
}

fn evaluate(
    program: &Program,
    partner: &PartnerId,
    volume: Decimal,
) -> Result<Evaluation, OutOfRange> {
    let plain = |earned, rate| Evaluation {
        earned,
        rate,
        tier: None,
        flag: None,
    };
    Ok(match &program.terms.rule {
        Rule::VolumeRebate { mode, tiers, .. } => {
            // The highest tier whose threshold the volume reached; below the first, none.
            let reached = tiers.iter().rposition(|t| volume >= t.from);
            let tier = reached.map(|i| i as u32 + 1);
            match (mode, reached) {
                (_, None) => Evaluation {
                    earned: Decimal::ZERO,
                    rate: Some(Decimal::ZERO),
                    tier: None,
                    flag: None,
                },
                (TierMode::Retroactive, Some(i)) => Evaluation {
                    earned: mul(volume, tiers[i].rate)?,
                    rate: Some(tiers[i].rate),
                    tier,
                    flag: None,
                },
                (TierMode::Incremental, Some(i)) => {
                    let mut earned = Decimal::ZERO;
                    for (j, t) in tiers[..=i].iter().enumerate() {
                        let top = tiers.get(j + 1).map_or(volume, |n| n.from.min(volume));
                        earned = add(earned, mul(sub(top, t.from)?, t.rate)?)?;
                    }
                    Evaluation {
                        earned,
                        rate: Some(tiers[i].rate),
                        tier,
                        flag: None,
                    }
                }
            }
        }
        Rule::GrowthRebate {
            rate,
            baseline_period,
            baselines,
            pay_without_baseline,
            ..
        } => match baselines.iter().find(|b| &b.partner_id == partner) {
            Some(b) => plain(
                mul(sub(volume, b.volume)?.max(Decimal::ZERO), *rate)?,
                Some(*rate),
            ),
            None if *pay_without_baseline => {
                plain(mul(volume.max(Decimal::ZERO), *rate)?, Some(*rate))
            }
            None => Evaluation {
                earned: Decimal::ZERO,
                rate: None,
                tier: None,
                flag: Some(format!(
                    "no baseline for {partner} in {baseline_period}: not paid"
                )),
            },
        },
        Rule::UnitSpiff { .. } => plain(volume, None),
        Rule::PercentOfRevenue { rate } | Rule::CoOp { rate, .. } => {
            plain(mul(volume, *rate)?, Some(*rate))
        }
    })
}

/// Adds `volume` (net, from `lines` new lines) to a group and returns its new figures with the
/// entries that explain the change; the entries sum to `after.accrued - before.accrued`.
pub fn accrue(
    program: &Program,
    partner: &PartnerId,
    before: &GroupFigures,
    volume: Decimal,
    lines: u64,
) -> Result<(GroupFigures, Vec<EntryDraft>), OutOfRange> {
    let currency = program.terms.currency;
    let round = |amount: Decimal| Money::new(amount, currency).round_to_minor_unit().amount;
    let total = add(before.volume, volume)?;
    let eval = evaluate(program, partner, total)?;
    let earned = round(eval.earned);
    let accrued = program.terms.cap.map_or(earned, |cap| earned.min(cap));
    let after = GroupFigures {
        volume: total,
        lines: before.lines + lines,
        earned,
        accrued,
        tier: eval.tier,
        flag: eval.flag.clone(),
    };

    let change = sub(earned, before.earned)?;
    let retroactive = matches!(
        program.terms.rule,
        Rule::VolumeRebate {
            mode: TierMode::Retroactive,
            ..
        }
    );
    let (base, true_up) = if retroactive {
        let base = round(mul(volume, eval.rate.unwrap_or_default())?);
        (base, sub(change, base)?)
    } else {
        (change, Decimal::ZERO)
    };
    let kind = if volume < Decimal::ZERO {
        EntryKind::Reversal
    } else {
        EntryKind::Accrual
    };
    let mut entries = vec![EntryDraft {
        kind,
        amount: base,
        volume,
        lines,
        rate: eval.rate,
        note: eval.flag,
    }];
    if !true_up.is_zero() {
        let note = match (before.tier, after.tier) {
            (from, to) if from != to => format!(
                "tier {} to {}: earlier volume re-rated",
                from.map_or("none".to_string(), |t| t.to_string()),
                to.map_or("none".to_string(), |t| t.to_string())
            ),
            _ => "rounding of the re-rated period".to_string(),
        };
        entries.push(EntryDraft {
            kind: EntryKind::TrueUp,
            amount: true_up,
            volume: before.volume,
            lines: 0,
            rate: eval.rate,
            note: Some(note),
        });
    }
    let cap_change = sub(before.capped(), after.capped())?;
    if !cap_change.is_zero() {
        entries.push(EntryDraft {
            kind: EntryKind::Cap,
            amount: cap_change,
            volume: Decimal::ZERO,
            lines: 0,
            rate: None,
            note: Some(format!(
                "cap {} {currency}: {} withheld in the period",
                program.terms.cap.unwrap_or_default(),
                after.capped()
            )),
        });
    }
    Ok((after, entries))
}

/// Where a period's entries are booked: in the period itself while it is open, else in the
/// period open on `today`, with a note saying which closed period they adjust.
pub fn booking_period(
    program: &Program,
    period: Period,
    today: NaiveDate,
) -> (Period, Option<String>) {
    let closes_on = period.closes_on(program.terms.grace_days);
    if today <= closes_on {
        (period, None)
    } else {
        let current = Period::containing(period.kind(), today);
        (
            current,
            Some(format!(
                "late lines of {period} (closed on {closes_on}) adjust {current}"
            )),
        )
    }
}
