//! Accrual rules throughput: `cargo bench -p tributary --bench accrual`.
//!
//! Runs 1,000,000 sales lines (2,000 partners in runs of 50 lines, 20 SKUs, two quarters, 5 %
//! returns, 2 % held)
//! through six programs (retroactive and incremental volume tiers, growth, spiff, percent of
//! revenue, co-op; one of them tier-gated) in messages of 300 lines, as rebate-accrue does:
//! sort each message's lines into groups (`group_lines`), then `accrue` each group against
//! its running figures, kept here in memory instead of DynamoDB. One thread.
//!
//! Reports lines per second (best of three runs: the machine is shared) and the store requests
//! a message would cost (1 transaction of partners' monthly sales for tiers, as long as a message
//! names at most 99 partner-months + 1 program query + 1 BatchGetItem per 50 groups + 1
//! transaction per group), against its number of lines.

use std::collections::HashMap;
use std::time::Instant;

use chrono::{NaiveDate, Utc};
use rust_decimal::Decimal;
use tributary::domain::pos::{PosLine, TransactionType};
use tributary::domain::rebate::{
    GroupFigures, GroupKey, Program, ProgramTerms, accrue, group_lines,
};
use tributary::domain::{Money, PartnerId};

const LINES: usize = 1_000_000;
const PARTNERS: usize = 2_000;
const PER_MESSAGE: usize = 300;
/// Consecutive lines of one reseller, as a distributor's report lists its invoices.
const RUN: usize = 50;

fn program(rule: serde_json::Value, tiers: &[&str]) -> Program {
    let mut terms: ProgramTerms = serde_json::from_value(serde_json::json!({
        "name": "bench", "currency": "USD", "starts_on": "2026-01-01", "ends_on": "2026-12-31",
        "period": "quarter", "cap": "250000", "rule": rule,
    }))
    .unwrap();
    terms.eligibility.tiers = tiers.iter().map(|t| t.to_string()).collect();
    Program::create(terms, "bench", Utc::now()).unwrap()
}

fn main() {
    let partners: Vec<PartnerId> = (0..PARTNERS).map(|_| PartnerId::generate()).collect();
    let baselines: Vec<_> = partners
        .iter()
        .step_by(2)
        .map(|p| serde_json::json!({"partner_id": p, "volume": "50000"}))
        .collect();
    let programs = vec![
        program(
            serde_json::json!({"type": "volume_rebate", "basis": "revenue", "mode": "retroactive",
            "tiers": [{"from": "0", "rate": "0.01"}, {"from": "100000", "rate": "0.02"}, {"from": "500000", "rate": "0.03"}]}),
            &[],
        ),
        program(
            serde_json::json!({"type": "volume_rebate", "basis": "units", "mode": "incremental",
            "tiers": [{"from": "0", "rate": "0.50"}, {"from": "1000", "rate": "0.75"}]}),
            &["Gold", "Platinum"],
        ),
        program(
            serde_json::json!({"type": "growth_rebate", "basis": "revenue", "rate": "0.04",
            "baseline_period": "2025-Q2", "baselines": baselines}),
            &[],
        ),
        program(
            serde_json::json!({"type": "unit_spiff", "amounts": [
            {"sku": "SKU-1", "amount": "5"}, {"sku": "SKU-2", "amount": "7.50"}, {"sku": "SKU-3", "amount": "12.25"}]}),
            &[],
        ),
        program(
            serde_json::json!({"type": "percent_of_revenue", "rate": "0.015"}),
            &[],
        ),
        program(
            serde_json::json!({"type": "co_op", "rate": "0.03", "fund_expiry_days": 365}),
            &[],
        ),
    ];
    let tiers: HashMap<PartnerId, &str> = partners
        .iter()
        .enumerate()
        .map(|(i, p)| (p.clone(), ["Gold", "Silver", "Platinum"][i % 3]))
        .collect();
    let distributor = PartnerId::generate();
    let start = NaiveDate::from_ymd_opt(2026, 4, 1).unwrap();
    let lines: Vec<PosLine> = (0..LINES)
        .map(|i| {
            let ret = i % 20 == 0;
            let held = i % 50 == 1;
            PosLine {
                distributor: distributor.clone(),
                reseller_id: (!held).then(|| partners[(i / RUN) % PARTNERS].clone()),
                reseller_name: Some("Reseller".into()),
                end_customer_name: None,
                end_customer_country: None,
                sku: format!("SKU-{}", i % 20),
                quantity: if ret { -1 } else { 1 + (i % 9) as i64 },
                unit_price: Money::new(
                    Decimal::new(1999 + (i % 500) as i64 * 100, 2),
                    "USD".parse().unwrap(),
                ),
                invoice_number: format!("INV-{}", i / 4),
                line_number: (i % 4).to_string(),
                invoice_date: start + chrono::Days::new((i % 180) as u64),
                transaction_type: if ret {
                    TransactionType::Return
                } else {
                    TransactionType::StockSale
                },
                held,
            }
        })
        .collect();

    let mut best = f64::MAX;
    let mut groups_per_message = 0.0;
    let mut total = Decimal::ZERO;
    for _ in 0..3 {
        let mut state: HashMap<GroupKey, GroupFigures> = HashMap::new();
        let mut groups = 0usize;
        let began = Instant::now();
        for message in lines.chunks(PER_MESSAGE) {
            let grouped = group_lines(&programs, message, |p| tiers.get(p).copied()).unwrap();
            groups += grouped.groups.len();
            for (key, delta) in grouped.groups {
                let figures = state.entry(key.clone()).or_default();
                let (next, _entries) = accrue(
                    delta.program,
                    &key.partner,
                    figures,
                    delta.volume,
                    delta.lines,
                )
                .unwrap();
                *figures = next;
            }
        }
        best = best.min(began.elapsed().as_secs_f64());
        groups_per_message = groups as f64 / LINES.div_ceil(PER_MESSAGE) as f64;
        total = state.values().map(|f| f.accrued).sum();
    }
    let requests = 2.0 + (groups_per_message / 50.0).ceil() + groups_per_message;
    println!(
        "accrual rules: {LINES} lines, {PARTNERS} partners, {} programs, messages of {PER_MESSAGE} lines",
        programs.len()
    );
    println!(
        "  best of 3: {:.3} s = {:.0} lines/s on one thread",
        best,
        LINES as f64 / best
    );
    println!(
        "  groups per message: {groups_per_message:.1}; store requests per message: {requests:.0} (for {PER_MESSAGE} lines)"
    );
    println!("  total accrued (checksum): {total}");
}
