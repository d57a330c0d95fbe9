//! Channel inventory rules: stock thresholds, weeks of supply, the alert state machine (raised
//! once on entry, cleared on exit, quiet while flapping), sell-in/sell-out reconciliation and
//! price-protection credits. Pure: the store and the workflow feed it numbers and dates.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Datelike, Days, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::{Money, PartnerId, PriceChangeId, ValidationErrors};

#[cfg(test)]
mod tests;

/// Weeks of sell-through that weeks of supply averages over.
pub const TRAILING_WEEKS: u32 = 4;

/// The state of one distributor's stock of one SKU at one location.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StockState {
    Ok,
    Low,
    Out,
    Excess,
    Stale,
}

impl StockState {
    pub fn as_str(&self) -> &'static str {
        match self {
            StockState::Ok => "ok",
            StockState::Low => "low",
            StockState::Out => "out",
            StockState::Excess => "excess",
            StockState::Stale => "stale",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [
            StockState::Ok,
            StockState::Low,
            StockState::Out,
            StockState::Excess,
            StockState::Stale,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }

    /// Every state but `ok` is an alert.
    pub fn is_alert(&self) -> bool {
        *self != StockState::Ok
    }
}

impl fmt::Display for StockState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Stock limits for a SKU, for every distributor or (an override) for one. An override replaces
/// the SKU's default as a whole, so what applies is always one record as written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Threshold {
    pub sku: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distributor: Option<PartnerId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_units: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_units: Option<i64>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "rust_decimal::serde::str_option"
    )]
    pub weeks_of_supply_floor: Option<Decimal>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "rust_decimal::serde::str_option"
    )]
    pub weeks_of_supply_ceiling: Option<Decimal>,
    /// Days after its as-of date that a snapshot is stale; the configured default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stale_after_days: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<DateTime<Utc>>,
}

/// Most thresholds one request may set (all in one transaction).
pub const MAX_THRESHOLDS_PER_REQUEST: usize = 100;
/// Bounds that keep every comparison far from overflow and catch typing mistakes.
const MAX_UNITS: i64 = 1_000_000_000;
const MAX_WEEKS: u32 = 520;
const MAX_STALE_DAYS: u32 = 365;

impl Threshold {
    /// Checks one threshold; faults are named `{prefix}.field`.
    pub fn check(&self, prefix: &str, errors: &mut ValidationErrors) {
        let field = |name: &str| format!("{prefix}{name}");
        if self.sku.trim().is_empty() || self.sku.len() > 64 {
            errors.add(field("sku"), "required, 1 to 64 characters");
        }
        for (name, value) in [("min_units", self.min_units), ("max_units", self.max_units)] {
            if let Some(v) = value
                && !(0..=MAX_UNITS).contains(&v)
            {
                errors.add(field(name), format!("must be 0 to {MAX_UNITS}"));
            }
        }
        if let (Some(min), Some(max)) = (self.min_units, self.max_units)
            && min > max
        {
            errors.add(
                field("max_units"),
                format!("{max} is below min_units {min}"),
            );
        }
        for (name, value) in [
            ("weeks_of_supply_floor", self.weeks_of_supply_floor),
            ("weeks_of_supply_ceiling", self.weeks_of_supply_ceiling),
        ] {
            if let Some(v) = value
                && (v.is_sign_negative() || v > Decimal::from(MAX_WEEKS) || v.scale() > 2)
            {
                errors.add(
                    field(name),
                    format!("must be 0 to {MAX_WEEKS} weeks with at most 2 decimals"),
                );
            }
        }
        if let (Some(floor), Some(ceiling)) =
            (self.weeks_of_supply_floor, self.weeks_of_supply_ceiling)
            && floor > ceiling
        {
            errors.add(
                field("weeks_of_supply_ceiling"),
                format!("{ceiling} is below weeks_of_supply_floor {floor}"),
            );
        }
        if let Some(days) = self.stale_after_days
            && !(1..=MAX_STALE_DAYS).contains(&days)
        {
            errors.add(
                field("stale_after_days"),
                format!("must be 1 to {MAX_STALE_DAYS}"),
            );
        }
    }
}

/// Checks a request's thresholds: each on its own, and no SKU and distributor twice.
pub fn check_thresholds(thresholds: &[Threshold]) -> Result<(), ValidationErrors> {
    let mut errors = ValidationErrors::new();
    if thresholds.is_empty() || thresholds.len() > MAX_THRESHOLDS_PER_REQUEST {
        errors.add(
            "thresholds",
            format!("1 to {MAX_THRESHOLDS_PER_REQUEST} thresholds per request"),
        );
    }
    let mut seen = std::collections::HashSet::new();
    for (i, threshold) in thresholds.iter().enumerate() {
        threshold.check(&format!("thresholds[{i}]."), &mut errors);
        if !seen.insert((threshold.sku.as_str(), threshold.distributor.as_ref())) {
            errors.add(
                format!("thresholds[{i}]"),
                "the same SKU and distributor appear twice",
            );
        }
    }
    errors.into_result(())
}

/// The limits that apply to one snapshot: the distributor's override, else the SKU's default,
/// else none (then only `out` and `stale` can be raised).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Limits {
    pub min_units: Option<i64>,
    pub max_units: Option<i64>,
    pub floor: Option<Decimal>,
    pub ceiling: Option<Decimal>,
    pub stale_after_days: u32,
}

impl Limits {
    pub fn resolve(
        default: Option<&Threshold>,
        distributor_override: Option<&Threshold>,
        default_stale_days: u32,
    ) -> Self {
        match distributor_override.or(default) {
            Some(t) => Self {
                min_units: t.min_units,
                max_units: t.max_units,
                floor: t.weeks_of_supply_floor,
                ceiling: t.weeks_of_supply_ceiling,
                stale_after_days: t.stale_after_days.unwrap_or(default_stale_days),
            },
            None => Self {
                stale_after_days: default_stale_days,
                ..Self::default()
            },
        }
    }
}

/// The Monday that starts the week of `day`: sell-through is kept per such week.
pub fn week_start(day: NaiveDate) -> NaiveDate {
    day - Days::new(u64::from(day.weekday().num_days_from_monday()))
}

/// The weeks averaged for a snapshot of `as_of`: the [`TRAILING_WEEKS`] whole weeks before the
/// week it falls in (that week is not over yet, so it would understate sales), oldest first.
pub fn trailing_weeks(as_of: NaiveDate) -> Vec<NaiveDate> {
    let current = week_start(as_of);
    (1..=TRAILING_WEEKS)
        .rev()
        .map(|back| current - Days::new(7 * u64::from(back)))
        .collect()
}

/// On hand divided by the average weekly net sell-through, to two decimals (rounded down, so a
/// floor is never missed by rounding). `None` when nothing was sold (or more was returned than
/// sold): supply is then unbounded, never a division by zero.
pub fn weeks_of_supply(on_hand: i64, trailing_units: i64) -> Option<Decimal> {
    if trailing_units <= 0 {
        return None;
    }
    let weeks = Decimal::from(on_hand.max(0)) * Decimal::from(TRAILING_WEEKS)
        / Decimal::from(trailing_units);
    Some(weeks.round_dp_with_strategy(2, rust_decimal::RoundingStrategy::ToZero))
}

/// A snapshot's state and why. `stale` wins (old numbers say nothing about today), then `out`,
/// `low`, `excess`, in that order.
pub fn evaluate(
    on_hand: i64,
    weeks: Option<Decimal>,
    limits: &Limits,
    as_of: NaiveDate,
    today: NaiveDate,
) -> (StockState, String) {
    let age = (today - as_of).num_days();
    if age > i64::from(limits.stale_after_days) {
        return (
            StockState::Stale,
            format!(
                "last report is {age} days old (as of {as_of}); stale after {} days",
                limits.stale_after_days
            ),
        );
    }
    if on_hand <= 0 {
        return (StockState::Out, format!("on hand is {on_hand}"));
    }
    if let Some(min) = limits.min_units
        && on_hand < min
    {
        return (
            StockState::Low,
            format!("on hand {on_hand} is below the minimum {min}"),
        );
    }
    if let (Some(floor), Some(weeks)) = (limits.floor, weeks)
        && weeks < floor
    {
        return (
            StockState::Low,
            format!("{weeks} weeks of supply is below the floor {floor}"),
        );
    }
    if let Some(max) = limits.max_units
        && on_hand > max
    {
        return (
            StockState::Excess,
            format!("on hand {on_hand} is above the maximum {max}"),
        );
    }
    if let Some(ceiling) = limits.ceiling {
        match weeks {
            Some(weeks) if weeks > ceiling => {
                return (
                    StockState::Excess,
                    format!("{weeks} weeks of supply is above the ceiling {ceiling}"),
                );
            }
            None => {
                return (
                    StockState::Excess,
                    format!(
                        "{on_hand} on hand and no net sell-through in the trailing {TRAILING_WEEKS} weeks"
                    ),
                );
            }
            _ => {}
        }
    }
    (StockState::Ok, "within limits".to_string())
}

/// The alert of one distributor, location and SKU while its state is not `ok`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenAlert {
    pub state: StockState,
    pub reason: String,
    /// The day the state was entered (a snapshot's as-of date, or the sweep's day for `stale`).
    pub since: NaiveDate,
    /// False while the alert was reopened within the quiet period: nobody was told yet.
    pub notified: bool,
}

/// What the alert machine remembers of one distributor, location and SKU.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AlertTrack {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open: Option<OpenAlert>,
    /// The last day an alert of each state was announced: within the quiet period after it, the
    /// same state is reopened without a new announcement (flapping does not storm).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub announced: BTreeMap<StockState, NaiveDate>,
}

/// A change subscribers hear about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum AlertEvent {
    /// `inventory.alert_raised`
    Raised { state: StockState, reason: String },
    /// `inventory.alert_cleared`: the state was left (for `to`).
    Cleared { state: StockState, to: StockState },
}

impl AlertEvent {
    pub fn name(&self) -> &'static str {
        match self {
            AlertEvent::Raised { .. } => "inventory.alert_raised",
            AlertEvent::Cleared { .. } => "inventory.alert_cleared",
        }
    }
}

impl AlertTrack {
    pub fn state(&self) -> StockState {
        self.open.as_ref().map_or(StockState::Ok, |a| a.state)
    }

    /// Moves to `next`, entered on `since` (a snapshot's as-of date, or the sweep's day),
    /// decided on `today`. The same state again changes nothing (re-reporting the same numbers
    /// raises nothing); leaving an announced alert clears it; entering an alert state announces
    /// it unless the same state was announced within `quiet_days` before `today` (the quiet
    /// period runs on the processing clock, so late or weekly files do not stretch it).
    pub fn transition(
        &mut self,
        next: StockState,
        reason: &str,
        since: NaiveDate,
        today: NaiveDate,
        quiet_days: u32,
    ) -> Vec<AlertEvent> {
        let current = self.state();
        if next == current {
            if let Some(open) = self.open.as_mut() {
                open.reason = reason.to_string();
            }
            return Vec::new();
        }
        let mut events = Vec::new();
        if let Some(open) = self.open.take()
            && open.notified
        {
            events.push(AlertEvent::Cleared {
                state: open.state,
                to: next,
            });
        }
        if next.is_alert() {
            let quiet = self
                .announced
                .get(&next)
                .is_some_and(|last| (today - *last).num_days() < i64::from(quiet_days));
            if !quiet {
                self.announced.insert(next, today);
                events.push(AlertEvent::Raised {
                    state: next,
                    reason: reason.to_string(),
                });
            }
            self.open = Some(OpenAlert {
                state: next,
                reason: reason.to_string(),
                since,
                notified: !quiet,
            });
        }
        events
    }

    /// An alert reopened quietly that is still open once the quiet period is over is announced
    /// then: flapping is muted, a lasting state is not.
    pub fn announce_lasting(&mut self, today: NaiveDate, quiet_days: u32) -> Vec<AlertEvent> {
        let Some(open) = self.open.as_mut() else {
            return Vec::new();
        };
        let last = self.announced.get(&open.state).copied();
        let due = last.is_none_or(|last| (today - last).num_days() >= i64::from(quiet_days));
        if open.notified || !due {
            return Vec::new();
        }
        open.notified = true;
        self.announced.insert(open.state, today);
        vec![AlertEvent::Raised {
            state: open.state,
            reason: open.reason.clone(),
        }]
    }
}

/// Stock of one SKU at one distributor on a day, summed over its locations: each location's
/// latest snapshot at or before the day. `None` when no location had reported by then.
pub fn stock_at(snapshots: &[(NaiveDate, String, i64)], day: NaiveDate) -> Option<i64> {
    let mut latest: BTreeMap<&str, (NaiveDate, i64)> = BTreeMap::new();
    for (as_of, location, on_hand) in snapshots {
        if *as_of > day {
            continue;
        }
        let entry = latest
            .entry(location.as_str())
            .or_insert((*as_of, *on_hand));
        if *as_of >= entry.0 {
            *entry = (*as_of, *on_hand);
        }
    }
    (!latest.is_empty()).then(|| latest.values().map(|(_, units)| units).sum())
}

/// Sell-in and sell-out against reported stock for one distributor and SKU over a period:
/// `opening + sell_in - sell_out` should be `closing`; `variance = closing - expected`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reconciliation {
    pub distributor: PartnerId,
    pub sku: String,
    /// Stock at the end of the day before the period (0 when nothing was reported by then).
    pub opening_units: i64,
    pub sell_in_units: i64,
    pub sell_out_units: i64,
    pub expected_units: i64,
    /// Stock at the end of the period's last day, when reported.
    pub reported_units: Option<i64>,
    pub variance: Option<i64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

pub fn reconcile(
    distributor: PartnerId,
    sku: String,
    opening: Option<i64>,
    sell_in: i64,
    sell_out: i64,
    closing: Option<i64>,
) -> Reconciliation {
    let mut notes = Vec::new();
    if opening.is_none() {
        notes.push("no stock reported before the period: opening taken as 0".to_string());
    }
    if closing.is_none() {
        notes.push("no stock reported by the end of the period".to_string());
    }
    let expected = opening.unwrap_or(0) + sell_in - sell_out;
    Reconciliation {
        distributor,
        sku,
        opening_units: opening.unwrap_or(0),
        sell_in_units: sell_in,
        sell_out_units: sell_out,
        expected_units: expected,
        reported_units: closing,
        variance: closing.map(|c| c - expected),
        notes,
    }
}

/// A lower (or higher) distributor cost for a SKU from a day, as the vendor announces it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriceChangeRequest {
    pub sku: String,
    pub old_cost: Money,
    pub new_cost: Money,
    pub effective_date: NaiveDate,
}

/// Costs above this are refused as mistakes (and keep `cost x units` in range).
const MAX_COST: i64 = 1_000_000_000;

impl PriceChangeRequest {
    pub fn check(&self, today: NaiveDate) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        if self.sku.trim().is_empty() || self.sku.len() > 64 {
            errors.add("sku", "required, 1 to 64 characters");
        }
        for (name, cost) in [("old_cost", self.old_cost), ("new_cost", self.new_cost)] {
            if cost.amount.is_sign_negative()
                || cost.amount.is_zero()
                || cost.amount > Decimal::from(MAX_COST)
            {
                errors.add(
                    format!("{name}.amount"),
                    format!("must be above 0 and at most {MAX_COST}"),
                );
            }
            if cost.amount.scale() > 6 {
                errors.add(format!("{name}.amount"), "at most 6 decimals");
            }
        }
        if self.old_cost.currency != self.new_cost.currency {
            errors.add(
                "new_cost.currency",
                format!(
                    "{} differs from old_cost's {}",
                    self.new_cost.currency, self.old_cost.currency
                ),
            );
        }
        if self.old_cost.amount == self.new_cost.amount {
            errors.add("new_cost.amount", "equals old_cost: nothing changes");
        }
        let earliest = today - Days::new(365);
        let latest = today + Days::new(365);
        if self.effective_date < earliest || self.effective_date > latest {
            errors.add(
                "effective_date",
                format!("must be within a year of today ({earliest} to {latest})"),
            );
        }
        errors.into_result(())
    }

    /// A drop in cost is protected; an increase credits nothing.
    pub fn is_drop(&self) -> bool {
        self.new_cost.amount < self.old_cost.amount
    }

    /// `(old - new) x units`, rounded once to the currency's minor unit; `None` for an increase
    /// or when the distributor held no stock.
    pub fn credit(&self, units_on_hand: i64) -> Option<Money> {
        if !self.is_drop() || units_on_hand <= 0 {
            return None;
        }
        let drop = self.old_cost.amount - self.new_cost.amount;
        // In range: costs are at most 1e9 and units per line at most 1e6 (POS validation).
        let amount = drop.checked_mul(Decimal::from(units_on_hand))?;
        Some(Money::new(amount, self.old_cost.currency).round_to_minor_unit())
    }
}

impl PriceChangeRequest {
    /// A SKU's cost changes once per day: the same SKU and day always name the same change, so
    /// the same announcement sent twice is one change and credits once.
    pub fn id(&self) -> PriceChangeId {
        PriceChangeId::derived(&format!("{}/{}", self.sku.trim(), self.effective_date))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PriceChangeStatus {
    /// Recorded; credits are made once the effective date has come.
    Pending,
    /// Credits made (none for an increase).
    Processed,
}

/// A recorded price change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriceChange {
    pub id: PriceChangeId,
    #[serde(flatten)]
    pub request: PriceChangeRequest,
    pub status: PriceChangeStatus,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processed_at: Option<DateTime<Utc>>,
    /// Distributors credited, once processed.
    #[serde(default)]
    pub credits: u32,
}

/// One distributor's credit for one price drop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProtectionCredit {
    pub price_change_id: PriceChangeId,
    pub distributor: PartnerId,
    pub sku: String,
    pub effective_date: NaiveDate,
    /// Units on hand at the effective date, summed over the distributor's locations.
    pub units: i64,
    pub old_cost: Money,
    pub new_cost: Money,
    pub credit: Money,
    pub created_at: DateTime<Utc>,
}

/// Units the vendor shipped to a distributor (sell-in), under the vendor's own shipment id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Shipment {
    pub id: String,
    pub distributor: PartnerId,
    pub sku: String,
    pub quantity: i64,
    pub shipped_on: NaiveDate,
}

/// Most shipments one request may record (all in one transaction).
pub const MAX_SHIPMENTS_PER_REQUEST: usize = 50;

impl Shipment {
    pub fn check(&self, prefix: &str, today: NaiveDate, errors: &mut ValidationErrors) {
        let field = |name: &str| format!("{prefix}{name}");
        if self.id.trim().is_empty() || self.id.len() > 100 {
            errors.add(field("id"), "required, 1 to 100 characters");
        }
        if self.sku.trim().is_empty() || self.sku.len() > 64 {
            errors.add(field("sku"), "required, 1 to 64 characters");
        }
        if !(1..=MAX_UNITS).contains(&self.quantity) {
            errors.add(field("quantity"), format!("must be 1 to {MAX_UNITS}"));
        }
        if self.shipped_on > today + Days::new(1) {
            errors.add(field("shipped_on"), "is in the future");
        }
    }
}
