//! The sales queue's consumer: each `pos.sales` message is accrued on its own (partial batch
//! response). A message that does not decode fails, and after the redrive count lands in the
//! DLQ; a redelivered message finds its idempotency markers and changes nothing.

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use chrono::Utc;
use tributary::messaging::messages::SalesReported;
use tributary::messaging::{Envelope, process_envelopes};
use tributary::store::{OnboardingStore, Partners, Rebates};
use tributary::workflow::rebates::{AccrualError, RebateAccrual};

/// Messages of a batch accrued at once; messages on the same group settle by revision.
const CONCURRENCY: usize = 4;

pub async fn handle<S: Rebates + Partners + OnboardingStore + Sync>(
    service: &RebateAccrual<S>,
    event: SqsEvent,
) -> SqsBatchResponse {
    process_envelopes(
        event,
        CONCURRENCY,
        |message: Envelope<SalesReported>| async move {
            // Boxed: inline, the nested futures are too deep for the compiler's layout query.
            let summary = Box::pin(service.handle(&message, Utc::now())).await?;
            tracing::info!(message_id = %message.id, ?summary, "sales accrued");
            Ok::<_, AccrualError>(())
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use aws_lambda_events::sqs::SqsMessage;
    use chrono::{DateTime, Days, NaiveDate};
    use rust_decimal::Decimal;
    use tributary::domain::pos::{FileId, PosLine, TransactionType};
    use tributary::domain::rebate::{Period, Program, ProgramTerms};
    use tributary::domain::{Money, PartnerId, PartnerStatus};
    use tributary::store::{Claims, DynamoStore, co_op_fund_id};
    use tributary::testing;

    use super::*;

    fn dec(text: &str) -> Decimal {
        text.parse().unwrap()
    }

    /// Two quarters in the past, so that "today" can be chosen inside or after them.
    const DAY: &str = "2026-05-10";

    fn now(day: &str) -> DateTime<Utc> {
        format!("{day}T12:00:00Z").parse().unwrap()
    }

    async fn program(store: &DynamoStore, rule: serde_json::Value, cap: Option<&str>) -> Program {
        let mut terms: ProgramTerms = serde_json::from_value(serde_json::json!({
            "name": "FY26 rebate", "currency": "USD", "starts_on": "2026-01-01",
            "ends_on": "2026-12-31", "period": "quarter", "grace_days": 15, "rule": rule,
        }))
        .unwrap();
        terms.cap = cap.map(dec);
        let program = Program::create(terms, "admin", Utc::now()).unwrap();
        store.create_program(&program).await.unwrap();
        program
    }

    fn tiers() -> serde_json::Value {
        serde_json::json!({"type": "volume_rebate", "basis": "revenue", "mode": "retroactive",
            "tiers": [{"from": "0", "rate": "0.01"}, {"from": "1000", "rate": "0.02"}]})
    }

    fn line(partner: &PartnerId, invoice: &str, quantity: i64, price: &str) -> PosLine {
        PosLine {
            distributor: PartnerId::generate(),
            reseller_id: Some(partner.clone()),
            reseller_name: Some("Acme".into()),
            end_customer_name: None,
            end_customer_country: None,
            sku: "NW-1".into(),
            quantity,
            unit_price: Money::parse(price, "USD").unwrap(),
            invoice_number: invoice.into(),
            line_number: "1".into(),
            invoice_date: DAY.parse::<NaiveDate>().unwrap(),
            transaction_type: if quantity < 0 {
                TransactionType::Return
            } else {
                TransactionType::StockSale
            },
            held: false,
        }
    }

    fn message(id: &str, lines: Vec<PosLine>) -> Envelope<SalesReported> {
        Envelope::new(
            id,
            SalesReported {
                file_id: FileId::of_object("drop", "dist/pos/a.csv", "v1"),
                lines,
            },
            Utc::now(),
        )
    }

    fn record(id: &str, body: String) -> SqsMessage {
        let mut record = SqsMessage::default();
        record.message_id = Some(id.into());
        record.body = Some(body);
        record
    }

    async fn statement_total(store: &DynamoStore, partner: &PartnerId, period: &str) -> Decimal {
        let ledger = store
            .period_ledger(partner, period.parse::<Period>().unwrap())
            .await
            .unwrap();
        let entries: Decimal = ledger.entries.iter().map(|e| e.draft.amount).sum();
        let totals: Decimal = ledger.totals.iter().map(|t| t.accrued).sum();
        assert_eq!(entries, totals, "the stored total sums its entries");
        totals
    }

    async fn setup() -> (RebateAccrual<DynamoStore>, DynamoStore, PartnerId) {
        let store = testing::table().await;
        let partner = testing::partner(&store, PartnerStatus::Active).await.id;
        (RebateAccrual::new(store.clone()), store, partner)
    }

    #[tokio::test]
    async fn a_redelivered_message_changes_nothing() {
        let (service, store, partner) = setup().await;
        program(&store, tiers(), None).await;
        let sales = message(
            "m1",
            vec![
                line(&partner, "I1", 6, "100"),
                line(&partner, "I2", 5, "100"),
            ],
        );
        let first = service.handle(&sales, now("2026-05-20")).await.unwrap();
        assert_eq!((first.lines, first.groups_written), (2, 1));
        assert_eq!(
            statement_total(&store, &partner, "2026-Q2").await,
            dec("22")
        );

        let again = service.handle(&sales, now("2026-05-21")).await.unwrap();
        assert_eq!((again.groups_written, again.groups_already_applied), (0, 1));
        assert_eq!(
            statement_total(&store, &partner, "2026-Q2").await,
            dec("22")
        );
    }

    /// A message id and its lines (invoice, quantity).
    type Delivery<'a> = (&'a str, &'a [(&'a str, i64)]);

    #[tokio::test]
    async fn any_order_and_split_ends_at_the_same_ledger_totals() {
        let orders: [&[Delivery]; 3] = [
            &[("a", &[("I1", 6), ("I2", 5), ("I3", -3)])],
            &[
                ("b", &[("I3", -3)]),
                ("c", &[("I2", 5)]),
                ("d", &[("I1", 6)]),
            ],
            &[("e", &[("I2", 5), ("I3", -3)]), ("f", &[("I1", 6)])],
        ];
        for deliveries in orders {
            let (service, store, partner) = setup().await;
            program(&store, tiers(), None).await;
            for (id, lines) in deliveries {
                let lines = lines
                    .iter()
                    .map(|(invoice, q)| line(&partner, invoice, *q, "100"))
                    .collect();
                service
                    .handle(&message(id, lines), now("2026-05-20"))
                    .await
                    .unwrap();
            }
            // Net 800 of revenue: below the 1,000 tier, 1 % back to dollar one.
            assert_eq!(statement_total(&store, &partner, "2026-Q2").await, dec("8"));
        }
    }

    #[tokio::test]
    async fn concurrent_consumers_on_one_group_neither_lose_nor_double() {
        let (service, store, partner) = setup().await;
        program(&store, tiers(), Some("30")).await;
        let messages: Vec<_> = (0..8)
            .map(|i| {
                message(
                    &format!("m{i}"),
                    vec![line(&partner, &format!("I{i}"), 2, "100")],
                )
            })
            .collect();
        // Every message twice, all at once: 16 deliveries racing on one group.
        let deliveries = messages.iter().chain(messages.iter());
        let results = futures_util::future::join_all(
            deliveries.map(|m| service.handle(m, now("2026-05-20"))),
        )
        .await;
        let written: usize = results
            .iter()
            .map(|r| r.as_ref().unwrap().groups_written)
            .sum();
        assert_eq!(written, 8, "each message applied once");
        // 1,600 of revenue at 2 % = 32, capped at 30.
        assert_eq!(
            statement_total(&store, &partner, "2026-Q2").await,
            dec("30")
        );
        let ledger = store
            .period_ledger(&partner, "2026-Q2".parse().unwrap())
            .await
            .unwrap();
        let figures = &ledger.groups[0].figures;
        assert_eq!((figures.volume, figures.lines), (dec("1600"), 8));
        assert_eq!(
            (figures.earned, figures.accrued, figures.tier),
            (dec("32"), dec("30"), Some(2))
        );
        assert_eq!(ledger.groups[0].capped, dec("2"));
    }

    #[tokio::test]
    async fn held_lines_and_lines_outside_every_program_do_not_accrue() {
        let (service, store, partner) = setup().await;
        program(
            &store,
            serde_json::json!({"type": "percent_of_revenue", "rate": "0.05"}),
            None,
        )
        .await;
        let mut held = line(&partner, "I1", 10, "100");
        held.held = true;
        held.reseller_id = None;
        let mut euro = line(&partner, "I2", 10, "100");
        euro.unit_price = Money::parse("100", "EUR").unwrap();
        let counted = line(&partner, "I3", 1, "100");
        let summary = service
            .handle(&message("m1", vec![held, euro, counted]), now("2026-05-20"))
            .await
            .unwrap();
        assert_eq!((summary.lines, summary.lines_without_program), (3, 2));
        assert_eq!(statement_total(&store, &partner, "2026-Q2").await, dec("5"));
    }

    #[tokio::test]
    async fn late_lines_of_a_closed_period_adjust_the_current_one() {
        let (service, store, partner) = setup().await;
        program(
            &store,
            serde_json::json!({"type": "co_op", "rate": "0.03", "fund_expiry_days": 180}),
            None,
        )
        .await;
        let today = NaiveDate::from_ymd_opt(2026, 8, 3).unwrap();
        service
            .handle(
                &message("late", vec![line(&partner, "I1", 10, "100")]),
                now(&today.to_string()),
            )
            .await
            .unwrap();
        assert_eq!(
            statement_total(&store, &partner, "2026-Q2").await,
            Decimal::ZERO
        );
        assert_eq!(
            statement_total(&store, &partner, "2026-Q3").await,
            dec("30")
        );
        let q3 = store
            .period_ledger(&partner, "2026-Q3".parse().unwrap())
            .await
            .unwrap();
        let note = q3.entries[0].draft.note.clone().unwrap();
        assert!(
            note.starts_with("late lines of 2026-Q2 (closed on 2026-07-15) adjust 2026-Q3"),
            "{note}"
        );
        // The figures stay with the period the lines belong to, with the co-op fund's expiry.
        let q2 = store
            .period_ledger(&partner, "2026-Q2".parse().unwrap())
            .await
            .unwrap();
        assert_eq!(q2.groups[0].figures.accrued, dec("30"));
        let expires = "2026-06-30"
            .parse::<NaiveDate>()
            .unwrap()
            .checked_add_days(Days::new(180));
        assert_eq!(q2.groups[0].fund_expires_on, expires);
        // The partner's co-op fund for the period is credited in the same transaction.
        let key = tributary::domain::rebate::GroupKey {
            partner: partner.clone(),
            program: q2.groups[0].program_id.clone(),
            version: 1,
            period: "2026-Q2".parse().unwrap(),
        };
        let fund = store
            .get_fund(&co_op_fund_id(&key))
            .await
            .unwrap()
            .expect("a co-op fund");
        assert_eq!(
            (fund.allocated, fund.available, fund.reserved),
            (dec("30"), dec("30"), dec("0"))
        );
        assert_eq!(
            (fund.partner_id, Some(fund.expires_on)),
            (partner.clone(), expires)
        );
        service
            .handle(
                &message("late", vec![line(&partner, "I1", 10, "100")]),
                now(&today.to_string()),
            )
            .await
            .unwrap();
        let again = store.get_fund(&co_op_fund_id(&key)).await.unwrap().unwrap();
        assert_eq!(again.allocated, dec("30"), "a redelivery credits nothing");
    }

    #[tokio::test]
    async fn a_malformed_message_fails_alone() {
        let (service, store, partner) = setup().await;
        program(
            &store,
            serde_json::json!({"type": "percent_of_revenue", "rate": "0.05"}),
            None,
        )
        .await;
        let good = message("m1", vec![line(&partner, "I1", 1, "100")]).to_json();
        let mut event = SqsEvent::default();
        event.records = vec![
            record("good", good),
            record(
                "bad",
                r#"{"type":"pos.sales","schema_version":1,"id":"x"}"#.into(),
            ),
        ];
        let response = handle(&service, event).await;
        let failed: Vec<_> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.clone())
            .collect();
        assert_eq!(failed, ["bad"]);
        // Accrued in its period; booked wherever today's date puts it.
        let q2 = store
            .period_ledger(&partner, "2026-Q2".parse().unwrap())
            .await
            .unwrap();
        assert_eq!(q2.groups[0].figures.accrued, dec("5"));
    }

    #[tokio::test]
    async fn an_absurd_line_is_refused_and_the_batch_goes_on() {
        let (service, store, partner) = setup().await;
        program(
            &store,
            serde_json::json!({"type": "percent_of_revenue", "rate": "0.05"}),
            None,
        )
        .await;
        // 7.9e27 x 1e6 is far outside exact decimal range: a forged or corrupt message.
        let absurd = line(&partner, "X1", 1_000_000, "7900000000000000000000000000");
        let mut event = SqsEvent::default();
        event.records = vec![
            record("absurd", message("m0", vec![absurd.clone()]).to_json()),
            record(
                "good",
                message("m1", vec![line(&partner, "I1", 1, "100")]).to_json(),
            ),
            record(
                "mixed",
                message("m2", vec![absurd, line(&partner, "I2", 2, "100")]).to_json(),
            ),
        ];
        let response = handle(&service, event).await;
        let failed: Vec<_> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.clone())
            .collect();
        assert!(failed.is_empty(), "{failed:?}");
        // 5 % of the good lines' 300, and nothing of the absurd ones.
        let q2 = store
            .period_ledger(&partner, "2026-Q2".parse().unwrap())
            .await
            .unwrap();
        assert_eq!(q2.groups[0].figures.volume, dec("300"));
        assert_eq!(q2.groups[0].figures.accrued, dec("15"));
        let sales = store
            .partner_sales(&partner, "USD".parse().unwrap(), "2026-05", "2026-05")
            .await
            .unwrap();
        assert_eq!(sales, dec("300"));
    }

    #[tokio::test]
    async fn the_sample_event_accrues() {
        let (service, store, _) = setup().await;
        let program = program(
            &store,
            serde_json::json!({"type": "percent_of_revenue", "rate": "0.02"}),
            None,
        )
        .await;
        let event: SqsEvent =
            serde_json::from_str(include_str!("../../../events/rebate-accrue.json")).unwrap();
        let response = handle(&service, event).await;
        assert!(response.batch_item_failures.is_empty());
        let partner: PartnerId = "ptn_01jcnw00000000000000000000".parse().unwrap();
        let q4 = store
            .period_ledger(&partner, "2026-Q4".parse().unwrap())
            .await
            .unwrap();
        // (10 x 1,250.00 + 4 x 399.99 - 1 x 1,250.00) x 2 % = 256.9992, rounded once.
        assert_eq!(q4.groups[0].program_id, program.id);
        assert_eq!(q4.groups[0].figures.volume, dec("12849.96"));
        assert_eq!(q4.groups[0].figures.accrued, dec("257.00"));
    }

    #[tokio::test]
    async fn store_requests_grow_with_groups_not_lines() {
        let (service, store, partner) = setup().await;
        let second = testing::partner(&store, PartnerStatus::Active).await.id;
        program(&store, tiers(), None).await;
        let lines = |prefix: &str, n: usize| -> Vec<PosLine> {
            (0..n)
                .map(|i| {
                    let to = if i % 2 == 0 { &partner } else { &second };
                    line(to, &format!("{prefix}{i}"), 1, "10")
                })
                .collect()
        };
        let few = service
            .handle(&message("few", lines("F", 4)), now("2026-05-20"))
            .await
            .unwrap();
        let many = service
            .handle(&message("many", lines("M", 600)), now("2026-05-20"))
            .await
            .unwrap();
        // Partners' monthly sales (one transaction), programs, one read of both groups'
        // figures and markers, one transaction per group.
        assert_eq!((few.groups_written, few.store_calls), (2, 5));
        assert_eq!((many.groups_written, many.store_calls), (2, 5));
    }
}
