//! Hand-computed examples of every program type and tier mode, and property tests of the ledger.

use std::collections::HashSet;

use chrono::{NaiveDate, Utc};
use proptest::prelude::*;
use rust_decimal::Decimal;

use super::*;
use crate::domain::pos::{PosLine, TransactionType};
use crate::domain::{Money, PartnerId};

fn dec(text: &str) -> Decimal {
    text.parse().unwrap()
}

fn day(text: &str) -> NaiveDate {
    text.parse().unwrap()
}

fn partner() -> PartnerId {
    "ptn_01jc0000000000000000000000".parse().unwrap()
}

fn terms(rule: serde_json::Value) -> ProgramTerms {
    serde_json::from_value(serde_json::json!({
        "name": "FY26",
        "currency": "USD",
        "starts_on": "2026-01-01",
        "ends_on": "2026-12-31",
        "period": "quarter",
        "rule": rule,
    }))
    .unwrap()
}

fn program(rule: serde_json::Value) -> Program {
    Program::create(terms(rule), "admin", Utc::now()).unwrap()
}

fn tiered(mode: &str) -> Program {
    program(serde_json::json!({
        "type": "volume_rebate", "basis": "revenue", "mode": mode,
        "tiers": [{"from": "0", "rate": "0.01"}, {"from": "100000", "rate": "0.02"}, {"from": "200000", "rate": "0.03"}]
    }))
}

fn line(sku: &str, quantity: i64, price: &str) -> PosLine {
    PosLine {
        distributor: "ptn_01jc0000000000000000000001".parse().unwrap(),
        reseller_id: Some(partner()),
        reseller_name: None,
        end_customer_name: None,
        end_customer_country: None,
        sku: sku.into(),
        quantity,
        unit_price: Money::parse(price, "USD").unwrap(),
        invoice_number: "INV-1".into(),
        line_number: "1".into(),
        invoice_date: day("2026-05-10"),
        transaction_type: if quantity < 0 {
            TransactionType::Return
        } else {
            TransactionType::StockSale
        },
        held: false,
    }
}

#[test]
fn line_revenue_refuses_what_ingestion_never_accepts() {
    // The largest line ingestion accepts is in range, and exact.
    assert_eq!(
        line_revenue(&line("A", 1_000_000, "1000000000")).unwrap(),
        dec("1000000000000000")
    );
    assert_eq!(line_revenue(&line("A", -3, "2.50")).unwrap(), dec("-7.50"));
    for (quantity, price) in [
        (1_000_000, "7900000000000000000000000000"),
        (1, "1000000000.01"),
        (1, "-1"),
        (1_000_001, "1"),
        (i64::MIN, "1"),
        (i64::MAX, "79228162514264337593543950335"),
    ] {
        let refused = line_revenue(&line("A", quantity, price)).unwrap_err();
        assert!(refused.0.starts_with("invoice INV-1 line 1: "), "{refused}");
    }
}

/// Accrues `volumes` one after the other; returns the final figures and every entry.
fn run(program: &Program, volumes: &[&str]) -> (GroupFigures, Vec<EntryDraft>) {
    let mut state = GroupFigures::default();
    let mut all = Vec::new();
    for v in volumes {
        let (next, entries) = accrue(program, &partner(), &state, dec(v), 1).unwrap();
        state = next;
        all.extend(entries);
    }
    (state, all)
}

fn amounts(entries: &[EntryDraft]) -> Vec<(EntryKind, Decimal)> {
    entries.iter().map(|e| (e.kind, e.amount)).collect()
}

#[test]
fn retroactive_crossing_trues_up_earlier_volume_once() {
    let (state, entries) = run(&tiered("retroactive"), &["60000", "50000"]);
    // 110,000 at 2 % back to dollar one = 2,200: 600 at 1 %, then 1,000 for the new 50,000 at
    // 2 % and a true-up of 600 for the first 60,000 re-rated from 1 % to 2 %.
    assert_eq!(state.earned, dec("2200"));
    assert_eq!(state.tier, Some(2));
    assert_eq!(
        amounts(&entries),
        [
            (EntryKind::Accrual, dec("600")),
            (EntryKind::Accrual, dec("1000")),
            (EntryKind::TrueUp, dec("600")),
        ]
    );
    assert_eq!(entries[2].volume, dec("60000"));
}

#[test]
fn incremental_bands_split_inside_one_line() {
    let (state, entries) = run(&tiered("incremental"), &["250000"]);
    // 100,000 x 1 % + 100,000 x 2 % + 50,000 x 3 %.
    assert_eq!(state.earned, dec("4500"));
    assert_eq!(state.tier, Some(3));
    assert_eq!(amounts(&entries), [(EntryKind::Accrual, dec("4500"))]);
}

#[test]
fn a_return_below_a_tier_reverses_and_re_rates() {
    let (state, entries) = run(&tiered("retroactive"), &["110000", "-20000"]);
    // 90,000 at 1 % = 900: the return is reversed at 1 % (-200) and the 110,000 earlier
    // volume goes back from 2 % to 1 % (-1,100).
    assert_eq!(state.accrued, dec("900"));
    assert_eq!(state.tier, Some(1));
    assert_eq!(
        amounts(&entries[1..]),
        [
            (EntryKind::Reversal, dec("-200")),
            (EntryKind::TrueUp, dec("-1100"))
        ]
    );
}

#[test]
fn volume_below_the_first_tier_earns_nothing() {
    let p = program(serde_json::json!({
        "type": "volume_rebate", "basis": "units", "mode": "retroactive",
        "tiers": [{"from": "100", "rate": "2.50"}]
    }));
    let (state, _) = run(&p, &["99"]);
    assert_eq!((state.earned, state.tier), (Decimal::ZERO, None));
    let (state, entries) = run(&p, &["99", "1"]);
    assert_eq!(state.earned, dec("250"));
    assert_eq!(
        amounts(&entries[1..]),
        [
            (EntryKind::Accrual, dec("2.5")),
            (EntryKind::TrueUp, dec("247.5"))
        ]
    );
}

#[test]
fn a_cap_stops_accrual_and_shows_what_it_withheld() {
    let mut t = terms(serde_json::json!({"type": "percent_of_revenue", "rate": "0.10"}));
    t.cap = Some(dec("1000"));
    let p = Program::create(t, "admin", Utc::now()).unwrap();
    let (state, entries) = run(&p, &["6000", "6000", "-3000"]);
    assert_eq!(
        amounts(&entries),
        [
            (EntryKind::Accrual, dec("600")),
            (EntryKind::Accrual, dec("600")),
            (EntryKind::Cap, dec("-200")),
            (EntryKind::Reversal, dec("-300")),
            (EntryKind::Cap, dec("200")),
        ]
    );
    assert_eq!(
        (state.earned, state.accrued, state.capped()),
        (dec("900"), dec("900"), dec("0"))
    );
    let (state, _) = run(&p, &["20000"]);
    assert_eq!((state.accrued, state.capped()), (dec("1000"), dec("1000")));
}

#[test]
fn spiff_pays_per_unit_of_named_skus_only() {
    let p = program(serde_json::json!({
        "type": "unit_spiff", "amounts": [{"sku": "NW-1", "amount": "5.25"}]
    }));
    let sold = line("NW-1", 3, "100");
    assert_eq!(p.contribution(&sold), Some(dec("15.75")));
    assert!(p.applies_to(&sold, None));
    assert!(!p.applies_to(&line("NW-2", 3, "100"), None));
    let (state, _) = run(&p, &["15.75", "-5.25"]);
    assert_eq!(state.accrued, dec("10.50"));
}

#[test]
fn growth_pays_the_increase_and_flags_a_partner_without_baseline() {
    let rule = |baselines: serde_json::Value| {
        program(serde_json::json!({
            "type": "growth_rebate", "basis": "revenue", "rate": "0.05",
            "baseline_period": "2025-Q2", "baselines": baselines
        }))
    };
    let with = rule(serde_json::json!([{"partner_id": partner().to_string(), "volume": "100000"}]));
    assert_eq!(run(&with, &["150000"]).0.accrued, dec("2500"));
    assert_eq!(run(&with, &["90000"]).0.accrued, dec("0"));

    let without = rule(serde_json::json!([]));
    let (state, entries) = run(&without, &["150000"]);
    assert_eq!(state.accrued, Decimal::ZERO);
    let flag = state.flag.expect("flagged");
    assert!(flag.contains("no baseline"), "{flag}");
    assert_eq!(entries[0].note.as_deref(), Some(flag.as_str()));
}

#[test]
fn co_op_and_percent_of_revenue_are_linear() {
    let p = program(serde_json::json!({"type": "co_op", "rate": "0.03", "fund_expiry_days": 365}));
    let (state, entries) = run(&p, &["1000.50", "-500"]);
    assert_eq!(state.accrued, dec("15.02"));
    assert_eq!(
        amounts(&entries),
        [
            (EntryKind::Accrual, dec("30.02")),
            (EntryKind::Reversal, dec("-15.00"))
        ]
    );
}

#[test]
fn rounding_happens_once_per_period_figure() {
    // 1.5 % of 0.33 is 0.00495: each line alone rounds to 0.00, three lines earn 0.01.
    let p = program(serde_json::json!({"type": "percent_of_revenue", "rate": "0.015"}));
    let (state, entries) = run(&p, &["0.33", "0.33", "0.33"]);
    assert_eq!(state.accrued, dec("0.01"));
    let sum: Decimal = entries.iter().map(|e| e.amount).sum();
    assert_eq!(sum, state.accrued);
}

#[test]
fn eligibility_by_window_currency_type_partner_and_tier() {
    let mut t = terms(serde_json::json!({"type": "percent_of_revenue", "rate": "0.02"}));
    t.eligibility.tiers = vec!["Gold".into()];
    let p = Program::create(t, "admin", Utc::now()).unwrap();
    let sale = line("NW-1", 2, "10");
    assert!(p.applies_to(&sale, Some("gold")));
    assert!(!p.applies_to(&sale, Some("Silver")));
    assert!(!p.applies_to(&sale, None));

    let open = program(serde_json::json!({"type": "percent_of_revenue", "rate": "0.02"}));
    assert!(open.applies_to(&sale, None));
    let mut held = sale.clone();
    held.held = true;
    held.reseller_id = None;
    assert!(!open.applies_to(&held, None));
    let mut euro = sale.clone();
    euro.unit_price = Money::parse("10", "EUR").unwrap();
    assert!(!open.applies_to(&euro, None), "no currency conversion");
    let mut late = sale.clone();
    late.invoice_date = day("2027-01-01");
    assert!(!open.applies_to(&late, None));
    let mut debit = sale.clone();
    debit.transaction_type = TransactionType::ShipAndDebit;
    assert!(!open.applies_to(&debit, None), "not a default sale type");
    let mut spiff_only = terms(serde_json::json!({"type": "percent_of_revenue", "rate": "0.02"}));
    spiff_only.eligibility.transaction_types = vec![TransactionType::DropShip];
    let drop_ship_only = Program::create(spiff_only, "admin", Utc::now()).unwrap();
    assert!(!drop_ship_only.applies_to(&sale, None));
    assert!(
        drop_ship_only.applies_to(&line("NW-1", -1, "10"), None),
        "returns always reverse"
    );
}

#[test]
fn closed_periods_book_into_the_current_one_saying_so() {
    let mut t = terms(serde_json::json!({"type": "percent_of_revenue", "rate": "0.02"}));
    t.grace_days = 10;
    let p = Program::create(t, "admin", Utc::now()).unwrap();
    let q3: Period = "2026-Q3".parse().unwrap();
    assert_eq!(booking_period(&p, q3, day("2026-10-10")), (q3, None));
    let (booked, note) = booking_period(&p, q3, day("2026-11-23"));
    assert_eq!(booked.to_string(), "2026-Q4");
    assert_eq!(
        note.unwrap(),
        "late lines of 2026-Q3 (closed on 2026-10-10) adjust 2026-Q4"
    );
}

fn faults(rule: serde_json::Value, edit: impl FnOnce(&mut ProgramTerms)) -> Vec<String> {
    let mut t = terms(rule);
    edit(&mut t);
    match t.validate() {
        Ok(()) => vec![],
        Err(errors) => errors
            .0
            .into_iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect(),
    }
}

#[test]
fn bad_programs_are_refused_naming_the_fault() {
    let tiers = |tiers: serde_json::Value| serde_json::json!({"type": "volume_rebate", "basis": "revenue", "mode": "retroactive", "tiers": tiers});
    let overlapping = faults(
        tiers(
            serde_json::json!([{"from": "0", "to": "150", "rate": "0.01"}, {"from": "100", "rate": "0.02"}]),
        ),
        |_| {},
    );
    assert_eq!(
        overlapping,
        ["rule.tiers[0].to: overlaps the next tier, which starts at 100"]
    );
    let out_of_order = faults(
        tiers(serde_json::json!([{"from": "100", "rate": "0.01"}, {"from": "50", "rate": "0.02"}])),
        |_| {},
    );
    assert!(
        out_of_order[0].contains("rule.tiers[1].from: tiers are out of order"),
        "{out_of_order:?}"
    );
    let same_from = faults(
        tiers(serde_json::json!([{"from": "0", "rate": "0.01"}, {"from": "0", "rate": "0.02"}])),
        |_| {},
    );
    assert!(same_from[0].contains("overlaps"), "{same_from:?}");
    let negative = faults(
        serde_json::json!({"type": "percent_of_revenue", "rate": "-0.01"}),
        |_| {},
    );
    assert_eq!(negative, ["rule.rate: negative rate -0.01"]);
    let empty = faults(
        serde_json::json!({"type": "percent_of_revenue", "rate": "0.01"}),
        |t| t.ends_on = day("2025-12-31"),
    );
    assert!(
        empty[0].starts_with("ends_on: the window is empty"),
        "{empty:?}"
    );
    let cap = faults(
        serde_json::json!({"type": "percent_of_revenue", "rate": "0.01"}),
        |t| t.cap = Some(dec("10.001")),
    );
    assert_eq!(cap, ["cap: at most 2 decimals in USD"]);
    let late_baseline = faults(
        serde_json::json!({"type": "growth_rebate", "basis": "units", "rate": "1",
            "baseline_period": "2026-Q1", "baselines": []}),
        |_| {},
    );
    assert_eq!(
        late_baseline,
        ["rule.baseline_period: 2026-Q1 must end before the program starts"]
    );
    let quarterly_baseline = faults(
        serde_json::json!({"type": "growth_rebate", "basis": "units", "rate": "1",
            "baseline_period": "2025-06", "baselines": []}),
        |_| {},
    );
    assert_eq!(
        quarterly_baseline,
        ["rule.baseline_period: 2025-06 is not a quarter like the program's periods"]
    );
    let beyond = faults(
        serde_json::json!({"type": "unit_spiff", "amounts": [{"sku": "A", "amount": "1000001"}]}),
        |t| t.cap = Some(dec("1000000000000001")),
    );
    assert_eq!(
        beyond,
        [
            "cap: must be positive and at most 10^15",
            "rule.amounts[0].amount: 1000001 is not from 0 to 1000000"
        ]
    );
    let unknown_currency = serde_json::from_value::<ProgramTerms>(serde_json::json!({
        "name": "x", "currency": "XYZ", "starts_on": "2026-01-01", "ends_on": "2026-12-31",
        "period": "month", "rule": {"type": "percent_of_revenue", "rate": "0.01"}
    }))
    .unwrap_err();
    assert!(
        unknown_currency
            .to_string()
            .contains("\"XYZ\" is not an ISO 4217 currency code")
    );
}

#[test]
fn a_new_version_starts_in_the_future_and_ends_the_old_one() {
    let p = program(serde_json::json!({"type": "percent_of_revenue", "rate": "0.02"}));
    let now = "2026-05-01T00:00:00Z".parse().unwrap();
    let mut t = p.terms.clone();
    t.starts_on = day("2026-07-01");
    let (ended, next) = p.next_version(t.clone(), "admin", now).unwrap();
    assert_eq!(ended.terms.ends_on, day("2026-06-30"));
    assert_eq!((next.version, next.id.clone()), (2, p.id.clone()));
    t.starts_on = day("2026-04-01");
    let past = p.next_version(t.clone(), "admin", now).unwrap_err();
    assert!(past.0[0].message.contains("at the earliest"), "{past:?}");
    // Sales may be dated a day ahead: tomorrow is too early as well.
    t.starts_on = day("2026-05-02");
    let tomorrow = p.next_version(t.clone(), "admin", now).unwrap_err();
    assert!(
        tomorrow.0[0]
            .message
            .contains("from 2026-05-03 at the earliest"),
        "{tomorrow:?}"
    );
    t.starts_on = day("2026-08-01");
    let mid = p.next_version(t, "admin", now).unwrap_err();
    assert_eq!(
        mid.0[0].message,
        "2026-08-01 is not the first day of a quarter: a period is never split between versions"
    );
}

#[test]
fn amounts_beyond_range_are_an_error_not_a_panic() {
    let p = program(serde_json::json!({"type": "percent_of_revenue", "rate": "1"}));
    let huge = Decimal::MAX - Decimal::ONE;
    let (state, _) = accrue(&p, &partner(), &GroupFigures::default(), huge, 1).unwrap();
    assert!(accrue(&p, &partner(), &state, huge, 1).is_err());
    let mut forged = line("NW-1", 1_000_000, "1");
    forged.unit_price.amount = Decimal::MAX;
    let err = group_lines(std::slice::from_ref(&p), [&forged], |_| None).unwrap_err();
    assert!(err.to_string().contains("invoice INV-1 line 1"), "{err}");
}

// Property: for random lines, any order, any redelivery and any split into batches, the ledger
// ends where the rule applied once to the whole set puts it, with entries summing to it.

fn any_program() -> impl Strategy<Value = Program> {
    let rule = prop_oneof![
        Just(
            serde_json::json!({"type": "volume_rebate", "basis": "revenue", "mode": "retroactive",
            "tiers": [{"from": "0", "rate": "0.01"}, {"from": "500", "rate": "0.025"}, {"from": "2000", "rate": "0.04"}]})
        ),
        Just(
            serde_json::json!({"type": "volume_rebate", "basis": "revenue", "mode": "incremental",
            "tiers": [{"from": "100", "rate": "0.015"}, {"from": "900", "rate": "0.035"}]})
        ),
        Just(
            serde_json::json!({"type": "volume_rebate", "basis": "units", "mode": "retroactive",
            "tiers": [{"from": "0", "rate": "0.10"}, {"from": "40", "rate": "0.333"}]})
        ),
        Just(serde_json::json!({"type": "percent_of_revenue", "rate": "0.0175"})),
        Just(
            serde_json::json!({"type": "unit_spiff", "amounts": [{"sku": "A", "amount": "1.005"}, {"sku": "B", "amount": "7"}]})
        ),
        Just(
            serde_json::json!({"type": "growth_rebate", "basis": "revenue", "rate": "0.05",
            "baseline_period": "2025-Q2", "baselines": [{"partner_id": "ptn_01jc0000000000000000000000", "volume": "300"}]})
        ),
    ];
    (rule, prop::option::of(1u32..40)).prop_map(|(rule, cap)| {
        let mut t = terms(rule);
        t.cap = cap.map(|c| Decimal::from(c * 25));
        Program::create(t, "admin", Utc::now()).unwrap()
    })
}

fn any_lines() -> impl Strategy<Value = Vec<PosLine>> {
    let one = (
        prop_oneof![Just("A"), Just("B")],
        -4i64..30,
        prop_oneof![Just("9.99"), Just("0.33"), Just("125.125"), Just("49")],
    )
        .prop_filter("a line has units", |(_, q, _)| *q != 0)
        .prop_map(|(sku, q, price)| line(sku, q, price));
    prop::collection::vec(one, 1..40)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn ledger_total_is_the_rule_on_the_whole_set(
        program in any_program(),
        lines in any_lines(),
        cuts in prop::collection::vec(0usize..40, 0..8),
        order in any::<u64>(),
        redeliveries in prop::collection::vec(0usize..10, 0..6),
    ) {
        let contributions: Vec<Decimal> = lines.iter().filter_map(|l| program.contribution(l)).collect();
        // Split into batches at the cut points, each batch a delivery with an id.
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (contributions.len() + 1)).collect();
        cuts.extend([0, contributions.len()]);
        cuts.sort_unstable();
        cuts.dedup();
        let mut batches: Vec<(usize, Vec<Decimal>)> = cuts
            .windows(2)
            .enumerate()
            .map(|(id, w)| (id, contributions[w[0]..w[1]].to_vec()))
            .collect();
        for r in redeliveries {
            if let Some(again) = batches.get(r % batches.len().max(1)).cloned() {
                batches.push(again);
            }
        }
        // A deterministic shuffle from the seed.
        let mut seed = order;
        for i in (1..batches.len()).rev() {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            batches.swap(i, (seed >> 33) as usize % (i + 1));
        }

        let mut applied = HashSet::new();
        let mut state = GroupFigures::default();
        let mut ledger = Decimal::ZERO;
        for (id, batch) in &batches {
            if !applied.insert(*id) {
                continue; // the store's idempotency marker refuses a delivered batch again
            }
            let volume: Decimal = batch.iter().sum();
            let (next, entries) = accrue(&program, &partner(), &state, volume, batch.len() as u64).unwrap();
            for e in &entries {
                prop_assert!(e.amount.scale() <= 2 || e.amount.normalize().scale() <= 2, "{e:?}");
                ledger += e.amount;
            }
            state = next;
        }
        let whole: Decimal = contributions.iter().sum();
        let (once, _) = accrue(&program, &partner(), &GroupFigures::default(), whole, contributions.len() as u64).unwrap();
        prop_assert_eq!(state.accrued, once.accrued);
        prop_assert_eq!(state.earned, once.earned);
        prop_assert_eq!(ledger, once.accrued);
        if let Some(cap) = program.terms.cap {
            prop_assert!(state.accrued <= cap);
        }
    }
}
