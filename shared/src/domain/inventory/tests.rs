use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::*;

fn day(text: &str) -> NaiveDate {
    text.parse().unwrap()
}

fn dec(text: &str) -> Decimal {
    text.parse().unwrap()
}

fn limits() -> Limits {
    Limits {
        min_units: Some(10),
        max_units: Some(1000),
        floor: Some(dec("2")),
        ceiling: Some(dec("12")),
        stale_after_days: 7,
    }
}

const TODAY: &str = "2026-11-20";

fn state(on_hand: i64, weeks: Option<&str>, limits: &Limits) -> StockState {
    evaluate(on_hand, weeks.map(dec), limits, day(TODAY), day(TODAY)).0
}

#[test]
fn weeks_of_supply_at_the_edges() {
    // 40 units sold over 4 weeks = 10 a week; 25 on hand = 2.5 weeks.
    assert_eq!(weeks_of_supply(25, 40), Some(dec("2.5")));
    // Nothing sold, or more returned than sold: unbounded, not a division by zero.
    assert_eq!(weeks_of_supply(25, 0), None);
    assert_eq!(weeks_of_supply(25, -3), None);
    // Nothing on hand (or negative stock reported) is zero weeks.
    assert_eq!(weeks_of_supply(0, 40), Some(dec("0")));
    assert_eq!(weeks_of_supply(-5, 40), Some(dec("0")));
    // Rounded down to two decimals, so a floor of 1.33 is not met by 1.3333.
    assert_eq!(weeks_of_supply(1, 3), Some(dec("1.33")));
    // The largest stock against one unit sold stays exact.
    assert_eq!(weeks_of_supply(1_000_000, 1), Some(dec("4000000")));
}

#[test]
fn trailing_weeks_are_the_four_whole_weeks_before_the_snapshot_week() {
    // 2026-11-20 is a Friday; its week starts Monday 2026-11-16.
    assert_eq!(week_start(day("2026-11-20")), day("2026-11-16"));
    assert_eq!(week_start(day("2026-11-16")), day("2026-11-16"));
    assert_eq!(
        trailing_weeks(day("2026-11-20")),
        ["2026-10-19", "2026-10-26", "2026-11-02", "2026-11-09"].map(day)
    );
}

#[test]
fn states_from_units_and_weeks_of_supply() {
    let l = limits();
    assert_eq!(state(0, Some("0"), &l), StockState::Out);
    assert_eq!(state(-2, None, &l), StockState::Out);
    assert_eq!(state(9, Some("5"), &l), StockState::Low);
    assert_eq!(state(10, Some("5"), &l), StockState::Ok);
    assert_eq!(state(50, Some("1.99"), &l), StockState::Low);
    assert_eq!(state(50, Some("2"), &l), StockState::Ok);
    assert_eq!(state(1001, Some("5"), &l), StockState::Excess);
    assert_eq!(state(1000, Some("12"), &l), StockState::Ok);
    assert_eq!(state(500, Some("12.01"), &l), StockState::Excess);
    // Stock and no sell-through at all is more supply than any ceiling.
    assert_eq!(state(500, None, &l), StockState::Excess);
    // Without a ceiling, no sell-through is fine.
    let no_ceiling = Limits { ceiling: None, ..l };
    assert_eq!(state(500, None, &no_ceiling), StockState::Ok);
    // Without any threshold only out (and stale) exist.
    let none = Limits {
        stale_after_days: 7,
        ..Limits::default()
    };
    assert_eq!(state(1, Some("0.01"), &none), StockState::Ok);
    assert_eq!(state(0, None, &none), StockState::Out);
}

#[test]
fn staleness_counts_days_after_the_as_of_date() {
    let l = limits();
    let at = |as_of: &str| evaluate(0, None, &l, day(as_of), day(TODAY));
    assert_eq!(at("2026-11-13").0, StockState::Out); // 7 days old: still fresh
    let (stale, reason) = at("2026-11-12"); // 8 days old
    assert_eq!(stale, StockState::Stale);
    assert!(reason.contains("8 days old"), "{reason}");
}

#[test]
fn an_override_replaces_the_default_as_a_whole() {
    let default = Threshold {
        sku: "NW-1".into(),
        distributor: None,
        min_units: Some(10),
        max_units: Some(100),
        weeks_of_supply_floor: None,
        weeks_of_supply_ceiling: None,
        stale_after_days: Some(3),
        updated_by: None,
        updated_at: None,
    };
    let own = Threshold {
        distributor: Some(PartnerId::generate()),
        min_units: Some(50),
        max_units: None,
        stale_after_days: None,
        ..default.clone()
    };
    let applied = Limits::resolve(Some(&default), Some(&own), 14);
    assert_eq!(applied.min_units, Some(50));
    assert_eq!(applied.max_units, None);
    assert_eq!(applied.stale_after_days, 14);
    assert_eq!(
        Limits::resolve(Some(&default), None, 14).stale_after_days,
        3
    );
    assert_eq!(Limits::resolve(None, None, 14).min_units, None);
}

#[test]
fn thresholds_name_every_fault() {
    let bad: Threshold = serde_json::from_value(serde_json::json!({
        "sku": "", "min_units": 20, "max_units": 10, "weeks_of_supply_floor": "5",
        "weeks_of_supply_ceiling": "4.123", "stale_after_days": 0
    }))
    .unwrap();
    let errors = check_thresholds(&[bad.clone(), bad]).unwrap_err();
    let fields: Vec<_> = errors.0.iter().map(|e| e.field.as_str()).collect();
    for expected in [
        "thresholds[0].sku",
        "thresholds[0].max_units",
        "thresholds[0].weeks_of_supply_ceiling",
        "thresholds[0].stale_after_days",
        "thresholds[1]",
    ] {
        assert!(fields.contains(&expected), "{expected} in {fields:?}");
    }
    assert!(check_thresholds(&[]).is_err());
}

const QUIET: u32 = 7;

#[test]
fn entering_a_state_raises_once_and_leaving_clears() {
    let mut track = AlertTrack::default();
    let events = track.transition(
        StockState::Low,
        "below 10",
        day("2026-11-01"),
        day("2026-11-01"),
        QUIET,
    );
    assert_eq!(
        events,
        [AlertEvent::Raised {
            state: StockState::Low,
            reason: "below 10".into()
        }]
    );
    // The same state reported again (same numbers or not) raises nothing.
    for d in ["2026-11-02", "2026-11-03", "2026-11-20"] {
        assert!(
            track
                .transition(StockState::Low, "below 10", day(d), day(d), QUIET)
                .is_empty()
        );
    }
    let events = track.transition(
        StockState::Ok,
        "within limits",
        day("2026-11-21"),
        day("2026-11-21"),
        QUIET,
    );
    assert_eq!(
        events,
        [AlertEvent::Cleared {
            state: StockState::Low,
            to: StockState::Ok
        }]
    );
    assert_eq!(track.open, None);
    // Ok again: nothing.
    assert!(
        track
            .transition(
                StockState::Ok,
                "",
                day("2026-11-22"),
                day("2026-11-22"),
                QUIET
            )
            .is_empty()
    );
}

#[test]
fn moving_between_alert_states_clears_one_and_raises_the_other() {
    let mut track = AlertTrack::default();
    track.transition(
        StockState::Low,
        "low",
        day("2026-11-01"),
        day("2026-11-01"),
        QUIET,
    );
    let events = track.transition(
        StockState::Out,
        "out",
        day("2026-11-02"),
        day("2026-11-02"),
        QUIET,
    );
    assert_eq!(
        events,
        [
            AlertEvent::Cleared {
                state: StockState::Low,
                to: StockState::Out
            },
            AlertEvent::Raised {
                state: StockState::Out,
                reason: "out".into()
            }
        ]
    );
    assert_eq!(track.state(), StockState::Out);
}

#[test]
fn flapping_does_not_storm() {
    let mut track = AlertTrack::default();
    let start = day("2026-11-01");
    let mut events = Vec::new();
    // Low and ok on alternate days for 30 days.
    for i in 0..30u64 {
        let next = if i % 2 == 0 {
            StockState::Low
        } else {
            StockState::Ok
        };
        events.extend(track.transition(
            next,
            "r",
            start + Days::new(i),
            start + Days::new(i),
            QUIET,
        ));
    }
    // One raise and one clear per quiet period (days 0, 8, 16, 24), not 30 events.
    let raised = events
        .iter()
        .filter(|e| matches!(e, AlertEvent::Raised { .. }))
        .count();
    let cleared = events.len() - raised;
    assert_eq!(raised, 4, "{events:?}");
    assert_eq!(cleared, 4, "{events:?}");
}

#[test]
fn a_quiet_reopening_that_lasts_is_announced_after_the_quiet_period() {
    let mut track = AlertTrack::default();
    track.transition(
        StockState::Low,
        "r",
        day("2026-11-01"),
        day("2026-11-01"),
        QUIET,
    );
    track.transition(
        StockState::Ok,
        "r",
        day("2026-11-02"),
        day("2026-11-02"),
        QUIET,
    );
    // Back to low within the quiet period: open, not announced.
    assert!(
        track
            .transition(
                StockState::Low,
                "r",
                day("2026-11-03"),
                day("2026-11-03"),
                QUIET
            )
            .is_empty()
    );
    assert_eq!(track.state(), StockState::Low);
    assert!(!track.open.as_ref().unwrap().notified);
    assert!(track.announce_lasting(day("2026-11-07"), QUIET).is_empty());
    let events = track.announce_lasting(day("2026-11-08"), QUIET);
    assert_eq!(events.len(), 1);
    assert!(track.announce_lasting(day("2026-11-09"), QUIET).is_empty());
    // Leaving now clears it, since it was announced.
    assert_eq!(
        track
            .transition(
                StockState::Ok,
                "r",
                day("2026-11-10"),
                day("2026-11-10"),
                QUIET
            )
            .len(),
        1
    );
    // A quietly reopened alert that closes before being announced clears silently.
    track.transition(
        StockState::Low,
        "r",
        day("2026-11-11"),
        day("2026-11-11"),
        QUIET,
    );
    assert!(
        track
            .transition(
                StockState::Ok,
                "r",
                day("2026-11-12"),
                day("2026-11-12"),
                QUIET
            )
            .is_empty()
    );
}

#[test]
fn stock_at_a_day_sums_each_locations_latest_snapshot() {
    let snapshots = vec![
        (day("2026-10-01"), "east".to_string(), 10),
        (day("2026-10-05"), "east".to_string(), 7),
        (day("2026-10-03"), "west".to_string(), 4),
        (day("2026-10-09"), "west".to_string(), 1),
    ];
    assert_eq!(stock_at(&snapshots, day("2026-09-30")), None);
    assert_eq!(stock_at(&snapshots, day("2026-10-01")), Some(10));
    assert_eq!(stock_at(&snapshots, day("2026-10-05")), Some(11));
    assert_eq!(stock_at(&snapshots, day("2026-10-31")), Some(8));
}

#[test]
fn reconciliation_variance() {
    let partner = PartnerId::generate();
    let r = reconcile(partner.clone(), "NW-1".into(), Some(100), 50, 30, Some(115));
    assert_eq!(r.expected_units, 120);
    assert_eq!(r.variance, Some(-5));
    assert!(r.notes.is_empty());
    let r = reconcile(partner, "NW-1".into(), None, 50, 30, None);
    assert_eq!(r.expected_units, 20);
    assert_eq!(r.variance, None);
    assert_eq!(r.notes.len(), 2);
}

fn change(old: &str, new: &str) -> PriceChangeRequest {
    PriceChangeRequest {
        sku: "NW-1".into(),
        old_cost: Money::parse(old, "USD").unwrap(),
        new_cost: Money::parse(new, "USD").unwrap(),
        effective_date: day(TODAY),
    }
}

#[test]
fn price_protection_credits_a_drop_on_stock_only() {
    let drop = change("100.00", "92.50");
    assert_eq!(
        drop.credit(40),
        Some(Money::parse("300.00", "USD").unwrap())
    );
    assert_eq!(drop.credit(0), None);
    assert_eq!(drop.credit(-3), None);
    assert_eq!(change("100", "110").credit(40), None);
    // Sub-cent costs are multiplied exactly and rounded once.
    assert_eq!(
        change("1.0005", "1.0000").credit(3),
        Some(Money::parse("0.00", "USD").unwrap())
    );
    assert_eq!(
        change("1.0005", "1.0000").credit(10),
        Some(Money::parse("0.01", "USD").unwrap())
    );
}

#[test]
fn price_changes_name_every_fault() {
    let mut bad = change("-1", "-1");
    bad.sku = String::new();
    bad.new_cost = Money::parse("5", "EUR").unwrap();
    bad.effective_date = day("2020-01-01");
    let errors = bad.check(day(TODAY)).unwrap_err();
    let fields: Vec<_> = errors.0.iter().map(|e| e.field.as_str()).collect();
    for expected in [
        "sku",
        "old_cost.amount",
        "new_cost.currency",
        "effective_date",
    ] {
        assert!(fields.contains(&expected), "{expected} in {fields:?}");
    }
    assert!(change("10", "10").check(day(TODAY)).is_err());
    assert!(change("10", "9").check(day(TODAY)).is_ok());
}

#[test]
fn the_quiet_period_runs_on_the_processing_clock() {
    let mut track = AlertTrack::default();
    // A weekly file, processed 6 days after its as-of date.
    let raised = track.transition(
        StockState::Low,
        "r",
        day("2026-11-01"),
        day("2026-11-07"),
        QUIET,
    );
    assert_eq!(raised.len(), 1);
    assert_eq!(track.open.as_ref().unwrap().since, day("2026-11-01"));
    assert_eq!(track.announced[&StockState::Low], day("2026-11-07"));
    track.transition(
        StockState::Ok,
        "r",
        day("2026-11-08"),
        day("2026-11-09"),
        QUIET,
    );
    // Entered again 5 days after the announcement (by the processing clock): quiet, although
    // its as-of date is 13 days after the first one's.
    assert!(
        track
            .transition(
                StockState::Low,
                "r",
                day("2026-11-14"),
                day("2026-11-12"),
                QUIET
            )
            .is_empty()
    );
    assert!(track.announce_lasting(day("2026-11-13"), QUIET).is_empty());
    assert_eq!(track.announce_lasting(day("2026-11-14"), QUIET).len(), 1);
}
