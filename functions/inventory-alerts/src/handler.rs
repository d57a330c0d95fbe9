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
