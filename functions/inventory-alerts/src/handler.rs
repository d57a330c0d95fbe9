//! Channel inventory, from two triggers:
//! - the stock queue, whose messages are of three types, each handled on its own (partial
//!   batch response): `pos.stock` (snapshots → alert states → notifications), `pos.sales`
//!   (sell-through totals for weeks of supply and reconciliation, once per message) and
//!   `price.change_due` (price-protection credits, once per distributor);
//! - an EventBridge schedule: stale states, lasting quiet alerts, due price changes.

use aws_lambda_events::sqs::SqsEvent;
use chrono::Utc;
use serde_json::Value;
use tributary::messaging::messages::{PriceChangeDue, SalesReported, StockReported};
use tributary::messaging::{Envelope, Message, RecordError, process_records};
use tributary::workflow::inventory::InventoryService;

/// Messages of a batch handled at once; records of the same key settle by revision.
const CONCURRENCY: usize = 4;

pub async fn handle(
    service: &InventoryService,
    event: Value,
) -> Result<Value, lambda_runtime::Error> {
    if event.get("Records").is_some() {
        let batch: SqsEvent = serde_json::from_value(event)?;
        let response = process_records(batch, CONCURRENCY, |record| async move {
            let body = record.body.as_deref().unwrap_or_default();
            Box::pin(handle_message(service, body)).await
        })
        .await;
        Ok(serde_json::to_value(response)?)
    } else if event.get("source").and_then(Value::as_str) == Some("aws.events") {
        let summary = service.sweep(Utc::now()).await?;
        tracing::info!(?summary, "inventory sweep done");
        Ok(serde_json::to_value(summary)?)
    } else {
        Err("inventory-alerts expects an SQS batch or a scheduled event".into())
    }
}

/// One stock-queue message, by its type.
async fn handle_message(service: &InventoryService, body: &str) -> Result<(), RecordError> {
    let message_type = serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v.get("type").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_default();
    let now = Utc::now();
    match message_type.as_str() {
        StockReported::TYPE => {
            let message =
                Envelope::<StockReported>::decode(body).map_err(RecordError::from_display)?;
            let summary = service
                .apply_stock(&message, now)
                .await
                .map_err(RecordError::from_display)?;
            tracing::info!(message_id = %message.id, ?summary, "stock applied");
        }
        SalesReported::TYPE => {
            let message =
                Envelope::<SalesReported>::decode(body).map_err(RecordError::from_display)?;
            let lines = service
                .apply_sales(&message, now)
                .await
                .map_err(RecordError::from_display)?;
            tracing::info!(message_id = %message.id, lines, "sell-through added");
        }
        PriceChangeDue::TYPE => {
            let message =
                Envelope::<PriceChangeDue>::decode(body).map_err(RecordError::from_display)?;
            let summary = service
                .process_price_change(&message.payload.price_change_id, now)
                .await
                .map_err(RecordError::from_display)?;
            tracing::info!(message_id = %message.id, ?summary, "price change processed");
        }
        other => {
            return Err(RecordError(format!(
                "the stock queue carries {}, {} and {}; not {other:?}",
                StockReported::TYPE,
                SalesReported::TYPE,
                PriceChangeDue::TYPE
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use aws_lambda_events::sqs::SqsMessage;
    use chrono::{DateTime, Days, NaiveDate};
    use rust_decimal::Decimal;
    use tributary::domain::inventory::{PriceChangeRequest, Shipment, StockState, Threshold};
    use tributary::domain::pos::{FileId, InventoryLine, PosLine, TransactionType};
    use tributary::domain::{Money, PartnerId};
    use tributary::messaging::messages::InventoryNotification;
    use tributary::store::{InventoryStore, StockKey};
    use tributary::testing;

    use super::*;

    fn at(day: NaiveDate) -> DateTime<Utc> {
        day.and_hms_opt(12, 0, 0).unwrap().and_utc()
    }

    fn day(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    fn stock(distributor: &PartnerId, as_of: NaiveDate, on_hand: i64) -> InventoryLine {
        InventoryLine {
            distributor: distributor.clone(),
            location: "main".into(),
            sku: "NW-1".into(),
            on_hand,
            on_order: 0,
            as_of,
        }
    }

    fn stock_message(id: &str, lines: Vec<InventoryLine>) -> Envelope<StockReported> {
        Envelope::new(
            id,
            StockReported {
                file_id: FileId::of_object("drop", "dist/inventory/f.csv", "v1"),
                lines,
            },
            Utc::now(),
        )
    }

    fn sale(distributor: &PartnerId, invoice: &str, date: NaiveDate, quantity: i64) -> PosLine {
        PosLine {
            distributor: distributor.clone(),
            reseller_id: None,
            reseller_name: Some("Acme".into()),
            end_customer_name: None,
            end_customer_country: None,
            sku: "NW-1".into(),
            quantity,
            unit_price: Money::parse("10", "USD").unwrap(),
            invoice_number: invoice.into(),
            line_number: "1".into(),
            invoice_date: date,
            transaction_type: TransactionType::StockSale,
            held: true,
        }
    }

    fn sales_message(id: &str, lines: Vec<PosLine>) -> Envelope<SalesReported> {
        Envelope::new(
            id,
            SalesReported {
                file_id: FileId::of_object("drop", "dist/inventory/f.csv", "v1"),
                lines,
            },
            Utc::now(),
        )
    }

    async fn thresholds(service: &InventoryService, json: serde_json::Value) {
        let thresholds: Vec<Threshold> = serde_json::from_value(json).unwrap();
        service
            .put_thresholds(thresholds, "admin", Utc::now())
            .await
            .unwrap();
    }

    async fn notices(service: &InventoryService) -> Vec<InventoryNotification> {
        let sqs = testing::sqs_client().await;
        testing::drain(&sqs, &service.settings.notifications_queue_url)
            .await
            .iter()
            .map(|body| {
                Envelope::<InventoryNotification>::decode(body)
                    .unwrap()
                    .payload
            })
            .collect()
    }

    async fn record(
        service: &InventoryService,
        distributor: &PartnerId,
    ) -> tributary::store::StockRecord {
        let key = StockKey {
            distributor: distributor.clone(),
            location: "main".into(),
            sku: "NW-1".into(),
        };
        service
            .store
            .stock_records(std::slice::from_ref(&key))
            .await
            .unwrap()
            .remove(&key)
            .unwrap()
    }

    fn record_event(id: &str, body: String) -> SqsMessage {
        let mut record = SqsMessage::default();
        record.message_id = Some(id.into());
        record.body = Some(body);
        record
    }

    #[tokio::test]
    async fn an_alert_is_raised_once_on_entry_and_cleared_on_exit() {
        let (service, [dist, _]) = testing::inventory_service().await;
        thresholds(
            &service,
            serde_json::json!([{"sku": "NW-1", "min_units": 10}]),
        )
        .await;
        let d = day("2026-11-02");

        let low = stock_message("m1", vec![stock(&dist, d, 4)]);
        let summary = service.apply_stock(&low, at(d)).await.unwrap();
        assert_eq!((summary.updated, summary.notices), (1, 1));
        let sent = notices(&service).await;
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].event, "inventory.alert_raised");
        assert_eq!(sent[0].state, StockState::Low);
        assert!(
            sent[0].reason.contains("below the minimum 10"),
            "{}",
            sent[0].reason
        );

        // The same message again, and the same numbers a day later: nothing more.
        service.apply_stock(&low, at(d)).await.unwrap();
        let again = stock_message("m2", vec![stock(&dist, d + Days::new(1), 4)]);
        service
            .apply_stock(&again, at(d + Days::new(1)))
            .await
            .unwrap();
        assert!(notices(&service).await.is_empty());
        let open = service.store.open_alerts(None).await.unwrap();
        assert_eq!(open.len(), 1);
        assert_eq!(
            service.store.open_alerts(Some(&dist)).await.unwrap().len(),
            1
        );

        let restocked = stock_message("m3", vec![stock(&dist, d + Days::new(2), 40)]);
        service
            .apply_stock(&restocked, at(d + Days::new(2)))
            .await
            .unwrap();
        let sent = notices(&service).await;
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].event, "inventory.alert_cleared");
        assert_eq!(
            (sent[0].state, sent[0].now),
            (StockState::Low, Some(StockState::Ok))
        );
        assert!(service.store.open_alerts(None).await.unwrap().is_empty());
        let stored = record(&service, &dist).await;
        assert_eq!((stored.on_hand, stored.state), (40, StockState::Ok));
        assert!(stored.outbox.is_empty());
    }

    #[tokio::test]
    async fn flapping_stock_does_not_storm() {
        let (service, [dist, _]) = testing::inventory_service().await;
        thresholds(
            &service,
            serde_json::json!([{"sku": "NW-1", "min_units": 10}]),
        )
        .await;
        let start = day("2026-11-02");
        for i in 0..6u64 {
            let d = start + Days::new(i);
            let units = if i % 2 == 0 { 4 } else { 40 };
            let message = stock_message(&format!("m{i}"), vec![stock(&dist, d, units)]);
            service.apply_stock(&message, at(d)).await.unwrap();
        }
        // Six changes of state in six days: one raise and one clear.
        let events: Vec<_> = notices(&service)
            .await
            .into_iter()
            .map(|n| n.event)
            .collect();
        assert_eq!(
            events,
            ["inventory.alert_raised", "inventory.alert_cleared"]
        );
    }

    #[tokio::test]
    async fn a_late_older_snapshot_never_overwrites_a_newer_one() {
        let (service, [dist, _]) = testing::inventory_service().await;
        let newer = stock_message("new", vec![stock(&dist, day("2026-11-10"), 50)]);
        service
            .apply_stock(&newer, at(day("2026-11-10")))
            .await
            .unwrap();
        let older = stock_message("old", vec![stock(&dist, day("2026-11-08"), 0)]);
        let summary = service
            .apply_stock(&older, at(day("2026-11-10")))
            .await
            .unwrap();
        assert_eq!((summary.updated, summary.late), (0, 1));
        let stored = record(&service, &dist).await;
        assert_eq!(
            (stored.as_of, stored.on_hand, stored.state),
            (day("2026-11-10"), 50, StockState::Ok)
        );
        assert!(notices(&service).await.is_empty());
        // Both are in the history.
        let history = service
            .store
            .snapshot_history(&dist, "NW-1", day("2026-11-30"))
            .await
            .unwrap();
        assert_eq!(history.len(), 2);
    }

    #[tokio::test]
    async fn weeks_of_supply_come_from_trailing_sell_through_counted_once() {
        let (service, [dist, other]) = testing::inventory_service().await;
        thresholds(
            &service,
            serde_json::json!([{"sku": "NW-1", "weeks_of_supply_floor": "3"}]),
        )
        .await;
        // Snapshot on Wed 2026-11-18: trailing weeks are those of Oct 19 to Nov 9.
        let sales = sales_message(
            "sales-1",
            vec![
                sale(&dist, "A", day("2026-10-19"), 30),
                sale(&dist, "B", day("2026-11-03"), 15),
                sale(&dist, "C", day("2026-11-15"), -5), // a return, in the trailing weeks
                sale(&dist, "D", day("2026-11-17"), 100), // this week: not yet counted
                sale(&dist, "E", day("2026-10-12"), 100), // before the trailing weeks
                sale(&other, "F", day("2026-11-03"), 100), // another distributor
            ],
        );
        service.apply_sales(&sales, Utc::now()).await.unwrap();
        service.apply_sales(&sales, Utc::now()).await.unwrap(); // redelivered: counted once
        let as_of = day("2026-11-18");
        let message = stock_message("s", vec![stock(&dist, as_of, 20)]);
        service.apply_stock(&message, at(as_of)).await.unwrap();
        // 40 net units over 4 weeks = 10 a week; 20 on hand = 2 weeks, under the floor of 3.
        let stored = record(&service, &dist).await;
        assert_eq!(stored.weeks_of_supply, Some(Decimal::from(2)));
        assert_eq!(stored.state, StockState::Low);
        // Another distributor's sales count for its own stock only.
        let message = stock_message("s2", vec![stock(&other, as_of, 20)]);
        service.apply_stock(&message, at(as_of)).await.unwrap();
        let stored = record(&service, &other).await;
        // Its only sale fell in a trailing week: 100 / 4 = 25 a week; 20 on hand = 0.8 weeks.
        assert_eq!(stored.weeks_of_supply, Some("0.8".parse().unwrap()));
    }

    #[tokio::test]
    async fn the_sweep_raises_stale_once_and_a_new_report_clears_it() {
        let (service, [dist, _]) = testing::inventory_service().await;
        let d = day("2026-11-02");
        let message = stock_message("m", vec![stock(&dist, d, 40)]);
        service.apply_stock(&message, at(d)).await.unwrap();
        // Within the 7-day window nothing happens.
        let summary = service.sweep(at(d + Days::new(7))).await.unwrap();
        assert_eq!((summary.records, summary.notices), (1, 0));
        let summary = service.sweep(at(d + Days::new(8))).await.unwrap();
        assert_eq!(summary.notices, 1);
        let sent = notices(&service).await;
        assert_eq!(
            (sent[0].event.as_str(), sent[0].state),
            ("inventory.alert_raised", StockState::Stale)
        );
        // Swept again: still stale, nothing new.
        assert_eq!(
            service.sweep(at(d + Days::new(9))).await.unwrap().notices,
            0
        );
        let alerts = service.store.open_alerts(Some(&dist)).await.unwrap();
        assert_eq!(alerts[0].state, StockState::Stale);
        // A fresh report clears it.
        let fresh = stock_message("m2", vec![stock(&dist, d + Days::new(10), 40)]);
        service
            .apply_stock(&fresh, at(d + Days::new(10)))
            .await
            .unwrap();
        let sent = notices(&service).await;
        assert_eq!(
            (sent[0].event.as_str(), sent[0].state),
            ("inventory.alert_cleared", StockState::Stale)
        );
        assert!(service.store.open_alerts(None).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_per_distributor_override_and_its_own_staleness() {
        let (service, [dist, other]) = testing::inventory_service().await;
        thresholds(
            &service,
            serde_json::json!([
                {"sku": "NW-1", "min_units": 10},
                {"sku": "NW-1", "distributor": dist, "min_units": 100, "stale_after_days": 2}
            ]),
        )
        .await;
        let d = day("2026-11-02");
        let message = stock_message("m", vec![stock(&dist, d, 50), stock(&other, d, 50)]);
        service.apply_stock(&message, at(d)).await.unwrap();
        assert_eq!(record(&service, &dist).await.state, StockState::Low);
        assert_eq!(record(&service, &other).await.state, StockState::Ok);
        service.sweep(at(d + Days::new(3))).await.unwrap();
        assert_eq!(record(&service, &dist).await.state, StockState::Stale);
        assert_eq!(record(&service, &other).await.state, StockState::Ok);
    }

    #[tokio::test]
    async fn the_sweep_applies_changed_thresholds_without_a_new_report() {
        let (service, [dist, _]) = testing::inventory_service().await;
        let d = day("2026-11-02");
        let message = stock_message("m", vec![stock(&dist, d, 50)]);
        service.apply_stock(&message, at(d)).await.unwrap();
        assert_eq!(record(&service, &dist).await.state, StockState::Ok);
        thresholds(
            &service,
            serde_json::json!([{"sku": "NW-1", "min_units": 100}]),
        )
        .await;
        service.sweep(at(d + Days::new(1))).await.unwrap();
        assert_eq!(record(&service, &dist).await.state, StockState::Low);
        let sent = notices(&service).await;
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].state, StockState::Low);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_deliveries_settle_on_the_newest_snapshot_and_announce_once() {
        let (service, [dist, _]) = testing::inventory_service().await;
        thresholds(
            &service,
            serde_json::json!([{"sku": "NW-1", "min_units": 10}]),
        )
        .await;
        let d = day("2026-11-02");
        // The same low report delivered 7 times at once, and 7 reports of later days (all
        // low) racing it: one record, the newest day, one announcement. A delivery that finds
        // notices not yet confirmed sends them again under their ids, so the queue may hold
        // copies: subscribers see one id.
        let mut messages = Vec::new();
        for i in 0..7u64 {
            messages.push(stock_message("same", vec![stock(&dist, d, 4)]));
            messages.push(stock_message(
                &format!("day{i}"),
                vec![stock(&dist, d + Days::new(i + 1), 3)],
            ));
        }
        let results = futures_util::future::join_all(
            messages
                .iter()
                .map(|m| service.apply_stock(m, at(d + Days::new(7)))),
        )
        .await;
        for result in results {
            result.unwrap();
        }
        let stored = record(&service, &dist).await;
        assert_eq!(
            (stored.as_of, stored.state),
            (d + Days::new(7), StockState::Low)
        );
        let sqs = testing::sqs_client().await;
        let ids: std::collections::BTreeSet<String> =
            testing::drain(&sqs, &service.settings.notifications_queue_url)
                .await
                .iter()
                .map(|body| Envelope::<InventoryNotification>::decode(body).unwrap().id)
                .collect();
        assert_eq!(ids.len(), 1, "{ids:?}");
        assert!(stored.outbox.is_empty());
    }

    fn price_change(old: &str, new: &str, effective: NaiveDate) -> PriceChangeRequest {
        PriceChangeRequest {
            sku: "NW-1".into(),
            old_cost: Money::parse(old, "USD").unwrap(),
            new_cost: Money::parse(new, "USD").unwrap(),
            effective_date: effective,
        }
    }

    /// Feeds the stock queue's messages to the handler, as the event source would.
    async fn deliver_stock_queue(service: &InventoryService) -> usize {
        let sqs = testing::sqs_client().await;
        let bodies = testing::drain(&sqs, &service.settings.stock_queue_url).await;
        let count = bodies.len();
        let records: Vec<_> = bodies
            .into_iter()
            .enumerate()
            .map(|(i, body)| record_event(&format!("r{i}"), body))
            .collect();
        let mut event = SqsEvent::default();
        event.records = records;
        let response = handle(service, serde_json::to_value(event).unwrap())
            .await
            .unwrap();
        assert_eq!(response["batchItemFailures"], serde_json::json!([]));
        count
    }

    #[tokio::test]
    async fn a_price_drop_credits_stock_on_hand_at_the_effective_date_once() {
        let (service, [with_stock, without]) = testing::inventory_service().await;
        let today = Utc::now().date_naive();
        let effective = today - Days::new(2);
        let mut east = stock(&with_stock, effective - Days::new(5), 30);
        east.location = "east".into();
        let lines = vec![
            east,
            stock(&with_stock, effective - Days::new(3), 99), // superseded by the next
            stock(&with_stock, effective, 10),
            stock(&with_stock, effective + Days::new(1), 500), // after the date: not counted
            stock(&without, effective - Days::new(1), 0),
        ];
        service
            .apply_stock(&stock_message("m", lines), Utc::now())
            .await
            .unwrap();
        notices(&service).await;

        let (created, change) = service
            .create_price_change(
                price_change("100.00", "92.50", effective),
                "admin",
                Utc::now(),
            )
            .await
            .unwrap();
        assert!(created);
        assert_eq!(deliver_stock_queue(&service).await, 1);
        let credits = service.store.credits(None).await.unwrap();
        assert_eq!(credits.len(), 1);
        // (100.00 - 92.50) x (30 east + 10 main).
        assert_eq!(credits[0].distributor, with_stock);
        assert_eq!(credits[0].units, 40);
        assert_eq!(credits[0].credit, Money::parse("300.00", "USD").unwrap());
        assert_eq!(
            service.store.credits(Some(&without)).await.unwrap().len(),
            0
        );

        // The same change announced again, and processed again: one credit.
        let (created, again) = service
            .create_price_change(
                price_change("100.00", "92.50", effective),
                "admin",
                Utc::now(),
            )
            .await
            .unwrap();
        assert!(!created);
        assert_eq!(again.id, change.id);
        let summary = service
            .process_price_change(&change.id, Utc::now())
            .await
            .unwrap();
        assert!(summary.already_processed);
        assert_eq!(service.store.credits(None).await.unwrap().len(), 1);
        // Another cost for the same SKU and day is refused.
        let conflict = service
            .create_price_change(
                price_change("100.00", "90.00", effective),
                "admin",
                Utc::now(),
            )
            .await;
        assert!(matches!(
            conflict,
            Err(tributary::workflow::inventory::InventoryError::Conflict(_))
        ));
        let stored = service
            .store
            .price_change(&change.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.credits, 1);
    }

    #[tokio::test]
    async fn a_price_increase_credits_nothing_and_a_future_change_waits_for_its_day() {
        let (service, [dist, _]) = testing::inventory_service().await;
        let today = Utc::now().date_naive();
        service
            .apply_stock(
                &stock_message("m", vec![stock(&dist, today, 10)]),
                Utc::now(),
            )
            .await
            .unwrap();
        service
            .create_price_change(
                price_change("100", "120", today - Days::new(1)),
                "admin",
                Utc::now(),
            )
            .await
            .unwrap();
        // Due (a day after its date), processed, and an increase: no credit.
        assert_eq!(deliver_stock_queue(&service).await, 1);
        assert!(service.store.credits(None).await.unwrap().is_empty());

        let future = today + Days::new(3);
        let (_, change) = service
            .create_price_change(price_change("100", "90", future), "admin", Utc::now())
            .await
            .unwrap();
        // Not queued before the day after its date (snapshots as of that date arrive then);
        // the sweep on that day queues it.
        assert_eq!(deliver_stock_queue(&service).await, 0);
        let service = &service;
        let queued = |at| async move { service.sweep(at).await.unwrap().price_changes_queued };
        assert_eq!(queued(Utc::now()).await, 0);
        assert_eq!(queued(at(future)).await, 0);
        let early = service.process_price_change(&change.id, at(future)).await;
        assert!(early.unwrap().not_due);
        let day_after = at(future + Days::new(1));
        assert_eq!(queued(day_after).await, 1);
        let summary = service
            .process_price_change(&change.id, day_after)
            .await
            .unwrap();
        assert_eq!(summary.credits, 1);
    }

    #[tokio::test]
    async fn messages_of_every_type_are_dispatched_and_a_bad_one_fails_alone() {
        let (service, [dist, _]) = testing::inventory_service().await;
        let today = Utc::now().date_naive();
        let stock = stock_message("s", vec![stock(&dist, today, 0)]);
        let sales = sales_message("p", vec![sale(&dist, "A", today, 3)]);
        let mut event = SqsEvent::default();
        event.records = vec![
            record_event("1", stock.to_json()),
            record_event("2", sales.to_json()),
            record_event("3", "{\"type\": \"deal.submitted\"}".into()),
            record_event("4", "not json".into()),
        ];
        let response = handle(&service, serde_json::to_value(event).unwrap())
            .await
            .unwrap();
        let mut failed: Vec<String> = response["batchItemFailures"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["itemIdentifier"].as_str().unwrap().to_string())
            .collect();
        failed.sort();
        assert_eq!(failed, ["3", "4"]);
        assert_eq!(record(&service, &dist).await.state, StockState::Out);
        let week = tributary::domain::inventory::week_start(today);
        let sold = service
            .store
            .weekly_sell_out(&[(dist.clone(), "NW-1".into())], &[week])
            .await
            .unwrap();
        assert_eq!(sold[&(dist, "NW-1".to_string(), week)], 3);
        // The sample event is a scheduled sweep.
        let sample: Value =
            serde_json::from_str(include_str!("../../../events/inventory-alerts-sweep.json"))
                .unwrap();
        let summary = handle(&service, sample).await.unwrap();
        assert_eq!(summary["distributors"], 1);
    }

    #[tokio::test]
    async fn reconciliation_shows_the_variance_per_sku() {
        let (service, [dist, _]) = testing::inventory_service().await;
        // October: 100 at the end of September, 55 shipped in, 30 sold, 115 reported.
        let lines = vec![
            stock(&dist, day("2026-09-30"), 100),
            stock(&dist, day("2026-10-31"), 115),
        ];
        service
            .apply_stock(&stock_message("m", lines), at(day("2026-11-01")))
            .await
            .unwrap();
        let shipment = Shipment {
            id: "SHIP-1".into(),
            distributor: dist.clone(),
            sku: "NW-1".into(),
            quantity: 50,
            shipped_on: day("2026-10-10"),
        };
        let summary = service
            .record_shipments(std::slice::from_ref(&shipment), Utc::now())
            .await
            .unwrap();
        assert_eq!(summary.recorded, 1);
        // The same shipment again adds nothing, beside a new one (same day: one sell-in item).
        let second = Shipment {
            id: "SHIP-2".into(),
            quantity: 5,
            ..shipment.clone()
        };
        let again = service
            .record_shipments(&[shipment.clone(), second.clone()], Utc::now())
            .await
            .unwrap();
        assert_eq!((again.recorded, again.already_recorded), (1, 1));
        // The same id with other numbers refuses the whole request: the new one in it too.
        let changed = Shipment {
            quantity: 60,
            ..shipment.clone()
        };
        let third = Shipment {
            id: "SHIP-3".into(),
            ..shipment
        };
        let refused = service
            .record_shipments(&[third, changed], Utc::now())
            .await;
        assert!(
            matches!(&refused, Err(tributary::workflow::inventory::InventoryError::Conflict(why)) if why.detail.contains("SHIP-1")),
            "{refused:?}"
        );
        let sales = sales_message(
            "p",
            vec![
                sale(&dist, "A", day("2026-10-05"), 35),
                sale(&dist, "B", day("2026-10-20"), -5),
                sale(&dist, "C", day("2026-11-02"), 7), // November
            ],
        );
        service.apply_sales(&sales, Utc::now()).await.unwrap();
        let lines = service
            .reconciliation(&dist, "2026-10".parse().unwrap(), None)
            .await
            .unwrap();
        assert_eq!(lines.len(), 1);
        let line = &lines[0];
        assert_eq!(
            (
                line.opening_units,
                line.sell_in_units,
                line.sell_out_units,
                line.expected_units
            ),
            (100, 55, 30, 125)
        );
        assert_eq!((line.reported_units, line.variance), (Some(115), Some(-10)));
    }
}
