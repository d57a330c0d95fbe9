//! Incentive programs: what a vendor admin defines, validated, and which lines each one applies to.
//!
//! A program version is immutable. A change is a new version that takes effect from a future
//! date; the version before it ends the day before, so every line falls in at most one version.

use std::collections::HashSet;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::period::{Period, PeriodKind};
use crate::domain::pos::{MAX_AHEAD_DAYS, PosLine, TransactionType};
use crate::domain::{Currency, PartnerId, ProgramId, ValidationErrors};

/// What a tier threshold and a rate are measured in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    /// Net revenue (quantity x unit price) in the program's currency; a rate is a fraction of it.
    Revenue,
    /// Net units; a rate is an amount of the program's currency per unit.
    Units,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TierMode {
    /// Reaching a tier re-rates the whole period's volume at its rate ("back to dollar one").
    Retroactive,
    /// Each band of volume is paid at its own tier's rate.
    Incremental,
}

/// A band of volume from `from` (inclusive) to the next tier's `from`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tier {
    #[serde(with = "rust_decimal::serde::str")]
    pub from: Decimal,
    /// Optional: when given it must equal the next tier's `from` (the last tier is open-ended).
    #[serde(
        default,
        with = "rust_decimal::serde::str_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub to: Option<Decimal>,
    #[serde(with = "rust_decimal::serde::str")]
    pub rate: Decimal,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SkuAmount {
    pub sku: String,
    #[serde(with = "rust_decimal::serde::str")]
    pub amount: Decimal,
}

/// A partner's volume in the baseline period of a growth rebate, in the program's basis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Baseline {
    pub partner_id: PartnerId,
    #[serde(with = "rust_decimal::serde::str")]
    pub volume: Decimal,
}

/// How a program turns a period's eligible volume into money.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Rule {
    VolumeRebate {
        basis: Basis,
        mode: TierMode,
        tiers: Vec<Tier>,
    },
    /// A rate on the increase of the period's volume over the partner's baseline.
    GrowthRebate {
        basis: Basis,
        #[serde(with = "rust_decimal::serde::str")]
        rate: Decimal,
        /// The period the baselines describe (e.g. the same quarter a year earlier).
        baseline_period: Period,
        baselines: Vec<Baseline>,
        /// Pay a partner without a baseline on its whole volume; by default it is flagged, unpaid.
        #[serde(default)]
        pay_without_baseline: bool,
    },
    /// An amount per unit sold of each named SKU.
    UnitSpiff { amounts: Vec<SkuAmount> },
    PercentOfRevenue {
        #[serde(with = "rust_decimal::serde::str")]
        rate: Decimal,
    },
    /// A percentage of eligible revenue credited to the partner's co-op fund for the period; the
    /// fund expires `fund_expiry_days` after the period ends.
    CoOp {
        #[serde(with = "rust_decimal::serde::str")]
        rate: Decimal,
        fund_expiry_days: u32,
    },
}

impl Rule {
    pub fn name(&self) -> &'static str {
        match self {
            Rule::VolumeRebate { .. } => "volume_rebate",
            Rule::GrowthRebate { .. } => "growth_rebate",
            Rule::UnitSpiff { .. } => "unit_spiff",
            Rule::PercentOfRevenue { .. } => "percent_of_revenue",
            Rule::CoOp { .. } => "co_op",
        }
    }

    /// What the rule measures volume in (a spiff measures the spiff value of the units sold).
    pub fn basis(&self) -> Basis {
        match self {
            Rule::VolumeRebate { basis, .. } | Rule::GrowthRebate { basis, .. } => *basis,
            Rule::UnitSpiff { .. } => Basis::Units,
            Rule::PercentOfRevenue { .. } | Rule::CoOp { .. } => Basis::Revenue,
        }
    }
}

/// Which lines a program applies to. Empty lists mean "any".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Eligibility {
    /// Partners named here are eligible, and so are partners of the tiers named below.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub partners: Vec<PartnerId>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tiers: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skus: Vec<String>,
    /// Sale types that earn (default: stock sales and drop shipments). A return is eligible
    /// whenever its SKU and partner are, so that it reverses what the sale earned.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transaction_types: Vec<TransactionType>,
}

/// What a vendor admin writes to create a program or a new version of one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProgramTerms {
    pub name: String,
    pub currency: Currency,
    pub starts_on: NaiveDate,
    pub ends_on: NaiveDate,
    pub period: PeriodKind,
    /// Days after a period ends during which its late lines still count in it; later lines
    /// adjust the current period instead.
    #[serde(default)]
    pub grace_days: u32,
    #[serde(default)]
    pub eligibility: Eligibility,
    /// The most one partner can earn in one period, in the program's currency.
    #[serde(
        default,
        with = "rust_decimal::serde::str_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub cap: Option<Decimal>,
    pub rule: Rule,
}

/// One version of a program, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Program {
    pub id: ProgramId,
    pub version: u32,
    #[serde(flatten)]
    pub terms: ProgramTerms,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
}

const MAX_LIST: usize = 1000;
/// The largest volume threshold, baseline or cap (10^15): far above any real program, and far
/// below the limit of exact decimals for every product the accrual maths takes.
const MAX_VOLUME: i64 = 1_000_000_000_000_000;
/// The largest amount per unit (a units rate or a spiff).
const MAX_PER_UNIT: i64 = 1_000_000;

impl ProgramTerms {
    /// Every fault of the terms, each naming its field.
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > 200 {
            errors.add("name", "must be 1 to 200 characters");
        }
        if self.ends_on < self.starts_on {
            errors.add(
                "ends_on",
                format!(
                    "the window is empty: ends_on {} is before starts_on {}",
                    self.ends_on, self.starts_on
                ),
            );
        }
        if self.grace_days > 366 {
            errors.add("grace_days", "at most 366");
        }
        let minor = self.currency.minor_unit_digits();
        if let Some(cap) = self.cap {
            if cap <= Decimal::ZERO || cap > Decimal::from(MAX_VOLUME) {
                errors.add("cap", "must be positive and at most 10^15");
            } else if cap.normalize().scale() > minor {
                errors.add(
                    "cap",
                    format!("at most {minor} decimals in {}", self.currency),
                );
            }
        }
        let e = &self.eligibility;
        if e.partners.len() > MAX_LIST || e.skus.len() > MAX_LIST || e.tiers.len() > 20 {
            errors.add(
                "eligibility",
                "at most 1000 partners, 1000 SKUs and 20 tiers",
            );
        }
        if e.skus.iter().any(|s| s.trim().is_empty()) {
            errors.add("eligibility.skus", "SKUs must not be empty");
        }
        self.validate_rule(&mut errors);
        errors.into_result(())
    }

    fn validate_rule(&self, errors: &mut ValidationErrors) {
        let rate_ok = |field: &str, basis: Basis, rate: Decimal, errors: &mut ValidationErrors| {
            if rate < Decimal::ZERO {
                errors.add(field, format!("negative rate {rate}"));
            } else if basis == Basis::Revenue && rate > Decimal::ONE {
                errors.add(
                    field,
                    format!("{rate} is over 1: a revenue rate is a fraction (0.02 is 2 %)"),
                );
            } else if rate > Decimal::from(MAX_PER_UNIT) {
                errors.add(field, format!("{rate} is over {MAX_PER_UNIT} per unit"));
            }
        };
        match &self.rule {
            Rule::VolumeRebate { basis, tiers, .. } => {
                if tiers.is_empty() || tiers.len() > 20 {
                    errors.add("rule.tiers", "1 to 20 tiers");
                }
                for (i, tier) in tiers.iter().enumerate() {
                    let field = format!("rule.tiers[{i}]");
                    rate_ok(&format!("{field}.rate"), *basis, tier.rate, errors);
                    if tier.from < Decimal::ZERO || tier.from > Decimal::from(MAX_VOLUME) {
                        errors.add(format!("{field}.from"), "from 0 to 10^15");
                    }
                    let next = tiers.get(i + 1);
                    if let Some(next) = next
                        && next.from <= tier.from
                    {
                        let fault = if next.from == tier.from {
                            "overlaps the next tier (same from)"
                        } else {
                            "tiers are out of order: each from must be above the previous one"
                        };
                        errors.add(format!("rule.tiers[{}].from", i + 1), fault);
                    }
                    match (tier.to, next) {
                        (Some(to), Some(next)) if to > next.from => errors.add(
                            format!("{field}.to"),
                            format!("overlaps the next tier, which starts at {}", next.from),
                        ),
                        (Some(to), Some(next)) if to < next.from => errors.add(
                            format!("{field}.to"),
                            format!("leaves a gap before the next tier at {}", next.from),
                        ),
                        (Some(_), None) => errors.add(
                            format!("{field}.to"),
                            "the last tier is open-ended: leave to out",
                        ),
                        _ => {}
                    }
                    if let Some(to) = tier.to
                        && to <= tier.from
                    {
                        errors.add(format!("{field}.to"), "must be above from");
                    }
                }
            }
            Rule::GrowthRebate {
                basis,
                rate,
                baselines,
                baseline_period,
                ..
            } => {
                rate_ok("rule.rate", *basis, *rate, errors);
                if baseline_period.kind() != self.period {
                    errors.add(
                        "rule.baseline_period",
                        format!(
                            "{baseline_period} is not a {} like the program's periods",
                            self.period.as_str()
                        ),
                    );
                } else if baseline_period.last_day() >= self.starts_on {
                    errors.add(
                        "rule.baseline_period",
                        format!("{baseline_period} must end before the program starts"),
                    );
                }
                let mut seen = HashSet::new();
                for (i, b) in baselines.iter().enumerate() {
                    if b.volume < Decimal::ZERO {
                        errors.add(
                            format!("rule.baselines[{i}].volume"),
                            "must not be negative",
                        );
                    }
                    if !seen.insert(&b.partner_id) {
                        errors.add(
                            format!("rule.baselines[{i}].partner_id"),
                            format!("{} has two baselines", b.partner_id),
                        );
                    }
                }
                if baselines.len() > MAX_LIST {
                    errors.add("rule.baselines", "at most 1000");
                }
            }
            Rule::UnitSpiff { amounts } => {
                if amounts.is_empty() || amounts.len() > MAX_LIST {
                    errors.add("rule.amounts", "1 to 1000 SKUs");
                }
                let mut seen = HashSet::new();
                for (i, a) in amounts.iter().enumerate() {
                    if a.amount < Decimal::ZERO || a.amount > Decimal::from(MAX_PER_UNIT) {
                        errors.add(
                            format!("rule.amounts[{i}].amount"),
                            format!("{} is not from 0 to {MAX_PER_UNIT}", a.amount),
                        );
                    }
                    if a.sku.trim().is_empty() || !seen.insert(a.sku.as_str()) {
                        errors.add(format!("rule.amounts[{i}].sku"), "empty or named twice");
                    }
                }
            }
            Rule::PercentOfRevenue { rate } => rate_ok("rule.rate", Basis::Revenue, *rate, errors),
            Rule::CoOp {
                rate,
                fund_expiry_days,
            } => {
                rate_ok("rule.rate", Basis::Revenue, *rate, errors);
                if *fund_expiry_days == 0 || *fund_expiry_days > 3660 {
                    errors.add("rule.fund_expiry_days", "1 to 3660 days");
                }
            }
        }
    }
}

impl Program {
    /// The first version of a new program.
    pub fn create(
        terms: ProgramTerms,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<Self, ValidationErrors> {
        terms.validate()?;
        Ok(Self {
            id: ProgramId::generate(),
            version: 1,
            terms,
            created_at: now,
            created_by: by.to_string(),
        })
    }

    /// The next version, taking effect on its `starts_on`, which must be after `today` (accrued
    /// lines are never re-rated) and inside this version's window. This version then ends the
    /// day before; the caller stores both, conditional on this one being unchanged.
    pub fn next_version(
        &self,
        terms: ProgramTerms,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<(Program, Program), ValidationErrors> {
        terms.validate()?;
        let today = now.date_naive();
        let from = terms.starts_on;
        let mut errors = ValidationErrors::new();
        // Sales may be dated up to MAX_AHEAD_DAYS ahead: a version starting later than that
        // cannot cover a line that accrued already.
        let first_open = today + chrono::Days::new(MAX_AHEAD_DAYS as u64 + 1);
        if from < first_open {
            errors.add(
                "starts_on",
                format!("a new version takes effect from {first_open} at the earliest: accrued lines are never re-rated"),
            );
        }
        // A period never straddles two versions, so its volume, tiers and cap stay whole.
        for kind in [self.terms.period, terms.period] {
            if Period::containing(kind, from).first_day() != from {
                errors.add(
                    "starts_on",
                    format!(
                        "{from} is not the first day of a {}: a period is never split between versions",
                        kind.as_str()
                    ),
                );
            }
        }
        if from <= self.terms.starts_on || from > self.terms.ends_on {
            errors.add(
                "starts_on",
                format!(
                    "must fall after {} and by {}, inside version {}'s window",
                    self.terms.starts_on, self.terms.ends_on, self.version
                ),
            );
        }
        errors.into_result(())?;
        let mut ended = self.clone();
        ended.terms.ends_on = from.pred_opt().expect("date in range");
        let next = Program {
            id: self.id.clone(),
            version: self.version + 1,
            terms,
            created_at: now,
            created_by: by.to_string(),
        };
        Ok((ended, next))
    }

    /// Whether `line`, sold by a partner of tier `tier`, counts under this version: not held,
    /// inside the window, an eligible partner, SKU and sale type, and (on a revenue basis) in the
    /// program's currency: there is no currency conversion.
    pub fn applies_to(&self, line: &PosLine, tier: Option<&str>) -> bool {
        let t = &self.terms;
        let Some(partner) = line.reseller_id.as_ref() else {
            return false;
        };
        if line.held || line.invoice_date < t.starts_on || line.invoice_date > t.ends_on {
            return false;
        }
        let e = &t.eligibility;
        let partner_ok = (e.partners.is_empty() && e.tiers.is_empty())
            || e.partners.contains(partner)
            || tier.is_some_and(|tier| e.tiers.iter().any(|t| t.eq_ignore_ascii_case(tier)));
        let sku_ok = e.skus.is_empty() || e.skus.contains(&line.sku);
        let type_ok = line.transaction_type == TransactionType::Return
            || if e.transaction_types.is_empty() {
                matches!(
                    line.transaction_type,
                    TransactionType::StockSale | TransactionType::DropShip
                )
            } else {
                e.transaction_types.contains(&line.transaction_type)
            };
        let currency_ok = t.rule.basis() == Basis::Units || line.unit_price.currency == t.currency;
        partner_ok && sku_ok && type_ok && currency_ok && self.covers(line)
    }

    /// Whether the rule covers the line at all (a spiff covers only its named SKUs).
    pub fn covers(&self, line: &PosLine) -> bool {
        match &self.terms.rule {
            Rule::UnitSpiff { amounts } => amounts.iter().any(|a| a.sku == line.sku),
            _ => true,
        }
    }

    /// What a covered `line` adds to the period's volume: revenue, units, or (for a spiff) the
    /// spiff value. `None` only when the amount is beyond exact decimal range.
    pub fn contribution(&self, line: &PosLine) -> Option<Decimal> {
        let units = Decimal::from(line.quantity);
        match &self.terms.rule {
            Rule::UnitSpiff { amounts } => amounts
                .iter()
                .find(|a| a.sku == line.sku)
                .and_then(|a| a.amount.checked_mul(units)),
            rule => match rule.basis() {
                Basis::Units => Some(units),
                Basis::Revenue => line.unit_price.amount.checked_mul(units),
            },
        }
    }

    /// The period a line dated `invoice_date` accrues in.
    pub fn period_of(&self, invoice_date: NaiveDate) -> Period {
        Period::containing(self.terms.period, invoice_date)
    }
}
