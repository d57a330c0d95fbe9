//! Deal review and expiry, from two triggers:
//! - the review queue (`deal.submitted` messages): conflict check and auto-approval, or hold for
//!   a manager with a due time. Each record is reported on its own (partial batch response);
//!   reviewing a deal twice changes nothing, so redelivery is harmless;
//! - an EventBridge schedule: expire approved deals past protection, warn before expiry, and
//!   queue again deals left `submitted`.

use aws_lambda_events::sqs::SqsEvent;
use chrono::Utc;
use serde_json::Value;
use tributary::messaging::messages::DealSubmitted;
use tributary::messaging::process_envelopes;
use tributary::workflow::deals::DealService;

/// Deals reviewed at once from one batch.
const CONCURRENCY: usize = 4;

pub async fn handle(service: &DealService, event: Value) -> Result<Value, lambda_runtime::Error> {
    let flow = service.flow();
    if event.get("Records").is_some() {
        let batch: SqsEvent = serde_json::from_value(event)?;
        let response =
            process_envelopes::<DealSubmitted, _, _, _>(batch, CONCURRENCY, |envelope| {
                let flow = &flow;
                async move { flow.review(&envelope.payload.deal_id, Utc::now()).await }
            })
            .await;
        Ok(serde_json::to_value(response)?)
    } else if event.get("source").and_then(Value::as_str) == Some("aws.events") {
        let report = flow.sweep(Utc::now()).await?;
        tracing::info!(
            expired = report.expired,
            warned = report.warned,
            requeued = report.requeued,
            "sweep done"
        );
        Ok(serde_json::to_value(report)?)
    } else {
        Err("deal-approve expects an SQS batch or a scheduled event".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tributary::domain::deal::{DealRequest, DealStatus};
    use tributary::domain::{DealId, PartnerStatus, Principal, Role};
    use tributary::store::Deals;
    use tributary::testing;

    async fn deps() -> DealService {
        testing::deal_service(Some("10000 USD")).await
    }

    async fn registered(deps: &DealService, amount: &str) -> DealId {
        let partner = testing::partner(&deps.store, PartnerStatus::Active).await;
        let principal = Principal {
            id: partner.id.to_string(),
            role: Role::Partner,
            key_id: "0123456789abcdef".parse().unwrap(),
        };
        let request: DealRequest = serde_json::from_value(serde_json::json!({
            "end_customer": {"name": "ABC", "country": "US"},
            "products": ["SKU-1"],
            "estimated_value": {"amount": amount, "currency": "USD"},
            "expected_close_date": "2099-01-31"
        }))
        .unwrap();
        deps.flow()
            .register(&principal, request, Utc::now())
            .await
            .unwrap()
            .id
    }

    /// The sample SQS event in events/, carrying `bodies` as its records.
    fn sqs_event(bodies: &[String]) -> Value {
        let mut event: Value =
            serde_json::from_str(include_str!("../../../events/deal-approve-review.json")).unwrap();
        let template = event["Records"][0].clone();
        event["Records"] = bodies
            .iter()
            .enumerate()
            .map(|(n, body)| {
                let mut record = template.clone();
                record["messageId"] = format!("m-{n}").into();
                record["body"] = body.clone().into();
                record
            })
            .collect();
        event
    }

    fn submitted(id: &DealId) -> String {
        tributary::messaging::Envelope::new(
            format!("deal-submitted:{id}"),
            DealSubmitted {
                deal_id: id.clone(),
            },
            Utc::now(),
        )
        .to_json()
    }

    #[tokio::test]
    async fn reviews_a_batch_and_reports_only_the_undecodable_record() {
        let deps = deps().await;
        let id = registered(&deps, "500").await;
        let event = sqs_event(&[submitted(&id), "not an envelope".into(), submitted(&id)]);
        let response = handle(&deps, event).await.unwrap();
        assert_eq!(
            response,
            serde_json::json!({"batchItemFailures": [{"itemIdentifier": "m-1"}]})
        );
        let (deal, history) = deps.store.get_deal(&id).await.unwrap().unwrap();
        assert_eq!(deal.status, DealStatus::Approved);
        assert_eq!(history.len(), 2, "the duplicate message changed nothing");
    }

    #[tokio::test]
    async fn the_sample_review_event_parses() {
        let deps = deps().await;
        let event: Value =
            serde_json::from_str(include_str!("../../../events/deal-approve-review.json")).unwrap();
        // Its deal does not exist here: reviewed as "unknown, skipped", not failed.
        let response = handle(&deps, event).await.unwrap();
        assert_eq!(response, serde_json::json!({"batchItemFailures": []}));
    }

    #[tokio::test]
    async fn the_scheduled_sweep_runs_from_the_sample_event() {
        let deps = deps().await;
        let event: Value =
            serde_json::from_str(include_str!("../../../events/deal-approve-sweep.json")).unwrap();
        let report = handle(&deps, event).await.unwrap();
        assert_eq!(
            report,
            serde_json::json!({"expired": 0, "warned": 0, "requeued": 0})
        );
        assert!(
            handle(&deps, serde_json::json!({"hello": 1}))
                .await
                .is_err()
        );
    }
}
