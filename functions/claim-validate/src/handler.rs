//! Claim validation, from two triggers:
//! - the claim-submitted queue: each message validates one claim on its own (partial batch
//!   response). Validation acts only on a claim still `submitted`, and its write is conditional
//!   on the claim's version, so a redelivered or repeated message changes nothing;
//! - a schedule: claims left `submitted` (their message was lost between the store and the
//!   queue) are queued again.

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use chrono::Utc;
use serde_json::Value;
use tributary::messaging::messages::ClaimSubmitted;
use tributary::messaging::{Envelope, process_envelopes};
use tributary::workflow::claims::{ClaimError, ClaimService};

/// Claims validated at once: each reads its documents and writes one transaction.
const CONCURRENCY: usize = 4;

pub async fn handle_event(
    service: &ClaimService,
    event: Value,
) -> Result<Value, lambda_runtime::Error> {
    if event.get("Records").is_some() {
        let batch: SqsEvent = serde_json::from_value(event)?;
        Ok(serde_json::to_value(handle(service, batch).await)?)
    } else if event.get("source").and_then(Value::as_str) == Some("aws.events") {
        let report = service.sweep(Utc::now()).await?;
        tracing::info!(requeued = report.requeued, "claim sweep done");
        Ok(serde_json::to_value(report)?)
    } else {
        Err("claim-validate expects an SQS batch or a scheduled event".into())
    }
}

pub async fn handle(service: &ClaimService, event: SqsEvent) -> SqsBatchResponse {
    process_envelopes(
        event,
        CONCURRENCY,
        |message: Envelope<ClaimSubmitted>| async move {
            let outcome = Box::pin(service.validate(&message.payload.claim_id)).await?;
            tracing::info!(claim_id = %message.payload.claim_id, ?outcome, "claim validated");
            Ok::<_, ClaimError>(())
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use aws_lambda_events::sqs::SqsMessage;
    use chrono::{Days, Duration, Utc};
    use tributary::domain::claim::{
        AuditEntry, ClaimDraft, ClaimStatus, DocumentDraft, FundKind, FundRequest,
    };
    use tributary::domain::{ClaimId, KeyId, Money, Partner, Principal, Role};
    use tributary::store::{ClaimTransition, Claims, TransitionOutcome};
    use tributary::testing;
    use tributary::workflow::claims::ClaimSettings;

    use super::*;

    fn record(id: &str, body: String) -> SqsMessage {
        let mut record = SqsMessage::default();
        record.message_id = Some(id.into());
        record.body = Some(body);
        record
    }

    fn partner_principal(partner: &Partner) -> Principal {
        Principal {
            id: partner.id.to_string(),
            role: Role::Partner,
            key_id: KeyId::from_bytes([0; 8]),
        }
    }

    /// A draft claim of 250 USD on a fresh MDF fund of the partner, its document uploaded.
    async fn drafted(service: &ClaimService, partner: &Partner, invoice: &str) -> ClaimId {
        let today = Utc::now().date_naive();
        let fund = FundRequest {
            partner_id: partner.id.clone(),
            name: "MDF".into(),
            amount: Money::parse("1000", "USD").unwrap(),
            starts_on: today.checked_sub_days(Days::new(30)).unwrap(),
            ends_on: today,
            expires_on: today.checked_add_days(Days::new(30)).unwrap(),
        }
        .into_fund()
        .unwrap();
        assert_eq!(fund.kind, FundKind::Mdf);
        service.store.create_fund(&fund).await.unwrap();
        let draft = ClaimDraft {
            fund_id: fund.id.clone(),
            activity_type: "webinar".into(),
            activity_starts_on: today,
            activity_ends_on: today,
            amount: Money::parse("250", "USD").unwrap(),
            invoice_number: invoice.into(),
            mdf_request_id: None,
            documents: vec![DocumentDraft {
                file_name: "attendees.csv".into(),
                content_type: "text/csv".into(),
                size: 3,
            }],
        };
        let created = service
            .create_claim(&partner_principal(partner), draft)
            .await
            .unwrap();
        service
            .s3
            .put_object()
            .bucket(&service.settings.documents_bucket)
            .key(&created.claim.documents[0].key)
            .content_type("text/csv")
            .body(b"a,b".to_vec().into())
            .send()
            .await
            .unwrap();
        created.claim.id
    }

    /// The claim written `submitted` at `at`, as a submission whose publish failed leaves it.
    async fn submitted_unqueued(service: &ClaimService, id: &ClaimId, at: chrono::DateTime<Utc>) {
        let mut claim = service.store.get_claim(id).await.unwrap().unwrap();
        let audit = AuditEntry {
            at,
            actor: claim.partner_id.to_string(),
            from: Some(claim.status),
            to: ClaimStatus::Submitted,
            reason: None,
        };
        claim.status = ClaimStatus::Submitted;
        claim.version += 1;
        claim.updated_at = at;
        claim.submitted_at = Some(at);
        let outcome = service
            .store
            .transition_claim(ClaimTransition {
                claim: &claim,
                audit: &audit,
                fund: None,
                duplicate: None,
                pre_approval: None,
            })
            .await
            .unwrap();
        assert_eq!(outcome, TransitionOutcome::Done);
    }

    #[tokio::test]
    async fn each_message_validates_its_claim_and_a_malformed_one_fails_alone() {
        let (service, partner) = testing::claim_service().await;
        let id = drafted(&service, &partner, "W-1").await;
        service
            .submit(&partner_principal(&partner), &id)
            .await
            .unwrap();
        let sqs = testing::sqs_client().await;
        let queued = testing::drain(&sqs, &service.settings.submitted_queue_url).await;
        assert_eq!(queued.len(), 1);

        let mut event: SqsEvent =
            serde_json::from_str(include_str!("../../../events/claim-validate.json")).unwrap();
        event.records = vec![
            record("good", queued[0].clone()),
            record(
                "bad",
                r#"{"type":"claim.submitted","schema_version":1}"#.into(),
            ),
        ];
        let response = handle(&service, event).await;
        let failed: Vec<_> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.clone())
            .collect();
        assert_eq!(failed, ["bad"]);
        let claim = service.store.get_claim(&id).await.unwrap().unwrap();
        assert_eq!(
            (claim.status, claim.reserved),
            (ClaimStatus::Approved, true)
        );
    }

    #[tokio::test]
    async fn the_sweep_queues_claims_left_submitted_and_they_end_validated_once() {
        let (service, partner) = testing::claim_service().await;
        let stranded = drafted(&service, &partner, "W-1").await;
        let recent = drafted(&service, &partner, "W-2").await;
        submitted_unqueued(&service, &stranded, Utc::now() - Duration::minutes(20)).await;
        submitted_unqueued(&service, &recent, Utc::now() - Duration::minutes(1)).await;
        let sample: serde_json::Value =
            serde_json::from_str(include_str!("../../../events/claim-validate-sweep.json"))
                .unwrap();
        let sweep = handle_event(&service, sample.clone()).await.unwrap();
        assert_eq!(sweep, serde_json::json!({"requeued": 1}));
        // A second sweep before the first message is handled queues it again: harmless.
        assert_eq!(
            handle_event(&service, sample.clone()).await.unwrap()["requeued"],
            1
        );
        let sqs = testing::sqs_client().await;
        let queued = testing::drain(&sqs, &service.settings.submitted_queue_url).await;
        assert_eq!(queued.len(), 2);
        assert!(
            queued.iter().all(|m| m.contains(stranded.as_str())),
            "{queued:?}"
        );
        let batch = testing::sqs_batch(queued);
        let response = handle_event(&service, serde_json::to_value(batch).unwrap())
            .await
            .unwrap();
        assert_eq!(response, serde_json::json!({"batchItemFailures": []}));
        let claim = service.store.get_claim(&stranded).await.unwrap().unwrap();
        assert_eq!(
            (claim.status, claim.reserved),
            (ClaimStatus::Approved, true)
        );
        let validations = service
            .store
            .claim_audit(&stranded)
            .await
            .unwrap()
            .into_iter()
            .filter(|entry| entry.actor == "claim-validate")
            .count();
        assert_eq!(validations, 1);
        let fund = service
            .store
            .get_fund(&claim.fund_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(fund.reserved, Money::parse("250", "USD").unwrap().amount);
        // Validated: the next sweep leaves it alone (the recent one is still not due).
        assert_eq!(handle_event(&service, sample).await.unwrap()["requeued"], 0);
    }

    #[tokio::test]
    async fn a_submission_whose_publish_failed_is_queued_by_the_sweep() {
        let (service, partner) = testing::claim_service().await;
        let id = drafted(&service, &partner, "W-1").await;
        let broken = ClaimService {
            store: service.store.clone(),
            s3: service.s3.clone(),
            publisher: service.publisher.clone(),
            settings: ClaimSettings {
                submitted_queue_url: format!("{}-gone", service.settings.submitted_queue_url),
                ..service.settings.clone()
            },
        };
        assert!(
            broken
                .submit(&partner_principal(&partner), &id)
                .await
                .is_err()
        );
        let claim = service.store.get_claim(&id).await.unwrap().unwrap();
        assert_eq!(claim.status, ClaimStatus::Submitted);
        let report = service
            .sweep(Utc::now() + Duration::minutes(16))
            .await
            .unwrap();
        assert_eq!(report.requeued, 1);
        let sqs = testing::sqs_client().await;
        let queued = testing::drain(&sqs, &service.settings.submitted_queue_url).await;
        assert_eq!(
            handle(&service, testing::sqs_batch(queued))
                .await
                .batch_item_failures
                .len(),
            0
        );
        let claim = service.store.get_claim(&id).await.unwrap().unwrap();
        assert_eq!(claim.status, ClaimStatus::Approved);
    }
}
