//! Inventory evaluation throughput: `cargo bench -p tributary --bench inventory`.
//!
//! 100,000 distributor-SKU snapshots (50 distributors x 2,000 SKUs, one location each), with a
//! default threshold for every other SKU (units and weeks of supply) and an override for every
//! tenth distributor, and four weeks of sell-through per pair. Three passes, as inventory-alerts
//! makes them, with the store kept in memory:
//! 1. a first report of every pair (no stored record);
//! 2. a second report a day later, one pair in ten changing state (stored records, alerts);
//! 3. a sweep eight days later: every record goes stale.
//!
//! Each pass resolves limits (`limits_by_pair`), computes weeks of supply, evaluates the state
//! and runs the alert machine (`next_record`, or the sweep's `sweep_record`).
//! Reports snapshots per second per pass (best of three runs: the machine is shared) and the
//! notifications decided. One thread.

use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

use chrono::{Days, NaiveDate, Utc};
use rust_decimal::Decimal;
use tributary::domain::PartnerId;
use tributary::domain::inventory::{Threshold, trailing_weeks, weeks_of_supply};
use tributary::domain::pos::InventoryLine;
use tributary::store::{StockKey, StockRecord};
use tributary::workflow::inventory::{limits_by_pair, next_record, sweep_record};

const DISTRIBUTORS: usize = 50;
const SKUS: usize = 2_000;
const QUIET_DAYS: u32 = 7;
const STALE_DAYS: u32 = 7;

fn threshold(sku: &str, distributor: Option<&PartnerId>, min: i64) -> Threshold {
    Threshold {
        sku: sku.to_string(),
        distributor: distributor.cloned(),
        min_units: Some(min),
        max_units: Some(5_000),
        weeks_of_supply_floor: Some(Decimal::from(2)),
        weeks_of_supply_ceiling: Some(Decimal::from(26)),
        stale_after_days: None,
        updated_by: None,
        updated_at: None,
    }
}

fn lines(
    distributors: &[PartnerId],
    skus: &[String],
    as_of: NaiveDate,
    shift: i64,
) -> Vec<InventoryLine> {
    let mut lines = Vec::with_capacity(distributors.len() * skus.len());
    for (d, distributor) in distributors.iter().enumerate() {
        for (s, sku) in skus.iter().enumerate() {
            // Spread over out, low, ok and excess; `shift` moves one pair in ten to another state.
            let base = ((d * 7919 + s * 104_729) % 6_000) as i64;
            let on_hand = if (d + s) % 10 == 0 {
                (base + shift) % 6_000
            } else {
                base
            };
            lines.push(InventoryLine {
                distributor: distributor.clone(),
                location: "main".into(),
                sku: sku.clone(),
                on_hand,
                on_order: 0,
                as_of,
            });
        }
    }
    lines
}

struct Figures {
    seconds: f64,
    notices: usize,
}

fn run(
    distributors: &[PartnerId],
    skus: &[String],
    thresholds: &[Threshold],
    sold: &HashMap<(PartnerId, String), i64>,
) -> [Figures; 3] {
    let day1: NaiveDate = "2026-11-16".parse().unwrap();
    let now = Utc::now();
    let mut stored: HashMap<StockKey, StockRecord> = HashMap::new();
    let pairs: BTreeSet<(PartnerId, String)> = distributors
        .iter()
        .flat_map(|d| skus.iter().map(move |s| (d.clone(), s.clone())))
        .collect();

    let report = |lines: Vec<InventoryLine>, stored: &mut HashMap<StockKey, StockRecord>| {
        let start = Instant::now();
        let limits = limits_by_pair(thresholds, &pairs, STALE_DAYS);
        let mut notices = 0;
        for line in &lines {
            let key = StockKey {
                distributor: line.distributor.clone(),
                location: line.location.clone(),
                sku: line.sku.clone(),
            };
            let pair = (line.distributor.clone(), line.sku.clone());
            let units = sold.get(&pair).copied().unwrap_or(0);
            let current = stored.get(&key);
            if let Some(mut next) = next_record(
                current,
                line,
                &limits[&pair],
                units,
                line.as_of,
                QUIET_DAYS,
                now,
            ) {
                notices += next.outbox.len();
                next.outbox.clear();
                next.revision += 1;
                stored.insert(key, next);
            }
        }
        Figures {
            seconds: start.elapsed().as_secs_f64(),
            notices,
        }
    };
    let first = report(lines(distributors, skus, day1, 0), &mut stored);
    let second = report(
        lines(distributors, skus, day1 + Days::new(1), 2_500),
        &mut stored,
    );

    let start = Instant::now();
    let today = day1 + Days::new(9);
    let limits = limits_by_pair(thresholds, &pairs, STALE_DAYS);
    let mut notices = 0;
    for record in stored.values_mut() {
        let pair = (record.key.distributor.clone(), record.key.sku.clone());
        if sweep_record(record, &limits[&pair], today, QUIET_DAYS, now) {
            notices += record.outbox.len();
            record.outbox.clear();
        }
    }
    let sweep = Figures {
        seconds: start.elapsed().as_secs_f64(),
        notices,
    };
    [first, second, sweep]
}

fn main() {
    let distributors: Vec<PartnerId> = (0..DISTRIBUTORS).map(|_| PartnerId::generate()).collect();
    let skus: Vec<String> = (0..SKUS).map(|i| format!("SKU-{i:05}")).collect();
    let mut thresholds: Vec<Threshold> = skus
        .iter()
        .step_by(2)
        .map(|sku| threshold(sku, None, 100))
        .collect();
    for distributor in distributors.iter().step_by(10) {
        thresholds.extend(
            skus.iter()
                .step_by(2)
                .map(|sku| threshold(sku, Some(distributor), 250)),
        );
    }
    // Trailing sell-through as the store would sum it: four weeks per pair.
    let weeks = trailing_weeks("2026-11-17".parse().unwrap());
    let mut sold = HashMap::new();
    for (d, distributor) in distributors.iter().enumerate() {
        for (s, sku) in skus.iter().enumerate() {
            let units: i64 = weeks
                .iter()
                .enumerate()
                .map(|(w, _)| ((d + s + w) % 400) as i64 - 20)
                .sum();
            sold.insert((distributor.clone(), sku.clone()), units);
        }
    }
    let snapshots = DISTRIBUTORS * SKUS;
    // Keeps the weeks-of-supply maths in the measured path honest: a pair with sales has some.
    assert!(weeks_of_supply(100, 40).is_some());

    let mut best = [f64::MAX; 3];
    let mut notices = [0; 3];
    for _ in 0..3 {
        let figures = run(&distributors, &skus, &thresholds, &sold);
        for (i, f) in figures.iter().enumerate() {
            best[i] = best[i].min(f.seconds);
            notices[i] = f.notices;
        }
    }
    println!("inventory evaluation: {snapshots} distributor-SKU snapshots, one thread, best of 3");
    for (i, name) in ["first report", "second report", "stale sweep"]
        .iter()
        .enumerate()
    {
        println!(
            "  {name:<14} {:>8.1} ms  {:>10.0} snapshots/s  {:>6} notifications",
            best[i] * 1e3,
            snapshots as f64 / best[i],
            notices[i]
        );
    }
}
