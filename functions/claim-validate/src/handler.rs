//! The claim-submitted queue's consumer: each message validates one claim on its own (partial
//! batch response). Validation acts only on a claim still `submitted`, and its write is
//! conditional on the claim's version, so a redelivered message changes nothing.

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use tributary::messaging::messages::ClaimSubmitted;
use tributary::messaging::{Envelope, process_envelopes};
use tributary::workflow::claims::{ClaimError, ClaimService};

/// Claims validated at once: each reads its documents and writes one transaction.
const CONCURRENCY: usize = 4;

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
    use chrono::{Days, Utc};
    use tributary::domain::claim::{ClaimDraft, ClaimStatus, DocumentDraft, FundKind, FundRequest};
    use tributary::domain::{KeyId, Money, Principal, Role};
    use tributary::store::Claims;
    use tributary::testing;

    use super::*;

    fn record(id: &str, body: String) -> SqsMessage {
        let mut record = SqsMessage::default();
        record.message_id = Some(id.into());
        record.body = Some(body);
        record
    }

    #[tokio::test]
    async fn each_message_validates_its_claim_and_a_malformed_one_fails_alone() {
        let (service, partner) = testing::claim_service().await;
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
        let me = Principal {
            id: partner.id.to_string(),
            role: Role::Partner,
            key_id: KeyId::from_bytes([0; 8]),
        };
        let draft = ClaimDraft {
            fund_id: fund.id.clone(),
            activity_type: "webinar".into(),
            activity_starts_on: today,
            activity_ends_on: today,
            amount: Money::parse("250", "USD").unwrap(),
            invoice_number: "W-1".into(),
            mdf_request_id: None,
            documents: vec![DocumentDraft {
                file_name: "attendees.csv".into(),
                content_type: "text/csv".into(),
                size: 3,
            }],
        };
        let created = service.create_claim(&me, draft).await.unwrap();
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
        service.submit(&me, &created.claim.id).await.unwrap();
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
        let claim = service
            .store
            .get_claim(&created.claim.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (claim.status, claim.reserved),
            (ClaimStatus::Approved, true)
        );
    }
}
