//! Vendor events applied to their workflows, from two triggers:
//! - the webhook events queue: each message applies one stored event (partial batch response).
//!   An event already applied or refused is left alone, and each workflow's own write is
//!   idempotent, so a redelivered message has no second effect;
//! - a schedule: events stored but never queued (the queue failed and the sender did not retry)
//!   are queued.

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use chrono::Utc;
use serde_json::Value;
use tributary::messaging::{Envelope, process_envelopes};
use tributary::workflow::webhooks::{WebhookError, WebhookReceived, WebhookRouter};

/// Events applied at once.
const CONCURRENCY: usize = 4;

pub async fn handle_event(
    router: &WebhookRouter,
    event: Value,
) -> Result<Value, lambda_runtime::Error> {
    if event.get("Records").is_some() {
        let batch: SqsEvent = serde_json::from_value(event)?;
        Ok(serde_json::to_value(handle(router, batch).await)?)
    } else if event.get("source").and_then(Value::as_str) == Some("aws.events") {
        let queued = router.queue_stranded(Utc::now()).await?;
        tracing::info!(queued, "webhook sweep done");
        Ok(serde_json::json!({ "queued": queued }))
    } else {
        Err("webhook-route expects an SQS batch or a scheduled event".into())
    }
}

pub async fn handle(router: &WebhookRouter, event: SqsEvent) -> SqsBatchResponse {
    process_envelopes(
        event,
        CONCURRENCY,
        |message: Envelope<WebhookReceived>| async move {
            Box::pin(router.route(&message.payload, Utc::now())).await?;
            Ok::<_, WebhookError>(())
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use chrono::{Days, NaiveDate};
    use serde_json::json;
    use tributary::domain::deal::{DealRequest, DealStatus};
    use tributary::domain::onboarding::Application;
    use tributary::domain::webhook::{EventStatus, ROUTED_TYPES, sign};
    use tributary::domain::{KeyId, Principal, Role};
    use tributary::store::{Deals, Flow, InventoryStore, OnboardingStore, WebhookStore};
    use tributary::testing::{self, WebhookFixture};
    use tributary::workflow::webhooks::{Receipt, SourceRequest};

    use super::*;

    fn admin() -> Principal {
        Principal {
            id: "admin-1".into(),
            role: Role::VendorAdmin,
            key_id: KeyId::from_bytes([1; 8]),
        }
    }

    /// Receives `event` from source `erp` (created on first use) and returns the queued
    /// messages as an SQS batch.
    async fn receive(fixture: &WebhookFixture, event: Value) -> SqsEvent {
        let ingest = &fixture.ingest;
        let secret = match ingest.store.source("erp").await.unwrap() {
            Some(source) => source.secrets[0].secret.clone(),
            None => {
                let request = SourceRequest {
                    id: "erp".into(),
                    name: "ERP".into(),
                    event_types: ROUTED_TYPES.iter().map(|t| t.to_string()).collect(),
                };
                ingest
                    .create_source(&admin(), request, Utc::now())
                    .await
                    .unwrap()
                    .secret
            }
        };
        let body = event.to_string();
        let now = Utc::now();
        let signature = sign(&secret, now.timestamp(), body.as_bytes());
        let (receipt, _) = ingest
            .receive("erp", Some(&signature), body.as_bytes(), now)
            .await
            .unwrap();
        assert_eq!(receipt, Receipt::Queued);
        let bodies = testing::drain(&testing::sqs_client().await, &ingest.events_queue_url).await;
        testing::sqs_batch(bodies)
    }

    /// Routes the batch twice (a redelivery) and returns the event's stored outcome.
    async fn route_twice(
        fixture: &WebhookFixture,
        batch: SqsEvent,
        id: &str,
    ) -> (EventStatus, String) {
        for _ in 0..2 {
            let response = handle(&fixture.router, batch.clone()).await;
            assert!(response.batch_item_failures.is_empty(), "{response:?}");
        }
        let event = fixture
            .router
            .store
            .event("erp", id)
            .await
            .unwrap()
            .unwrap();
        (event.status, event.outcome.unwrap_or_default())
    }

    fn today() -> NaiveDate {
        Utc::now().date_naive()
    }

    #[tokio::test]
    async fn the_sample_event_decodes_and_an_unknown_event_is_left() {
        let fixture = testing::webhooks().await;
        let sample: SqsEvent =
            serde_json::from_str(include_str!("../../../events/webhook-route.json")).unwrap();
        let response = handle(&fixture.router, sample).await;
        assert!(response.batch_item_failures.is_empty(), "{response:?}");
        // A body that is not a webhook message fails alone.
        let response = handle(&fixture.router, batch_of("{\"type\":\"pos.sales\"}")).await;
        assert_eq!(response.batch_item_failures.len(), 1);
    }

    fn batch_of(body: &str) -> SqsEvent {
        testing::sqs_batch(vec![body.to_string()])
    }

    #[tokio::test]
    async fn the_sweep_queues_events_stored_but_never_queued() {
        let fixture = testing::webhooks().await;
        let store = &fixture.router.store;
        let body = json!({ "id": "late", "type": "catalog.updated", "data": { "skus": [{ "sku": "NW-1", "name": "Switch" }] } }).to_string();
        let stranded = tributary::domain::webhook::StoredEvent::new(
            "erp",
            "late",
            "catalog.updated",
            &body,
            EventStatus::Received,
            Utc::now() - chrono::Duration::minutes(10),
        );
        let recent = tributary::domain::webhook::StoredEvent::new(
            "erp",
            "recent",
            "catalog.updated",
            &body,
            EventStatus::Received,
            Utc::now() - chrono::Duration::minutes(1),
        );
        store.record_event(&stranded).await.unwrap();
        store.record_event(&recent).await.unwrap();
        let sample: Value =
            serde_json::from_str(include_str!("../../../events/webhook-route-sweep.json")).unwrap();
        let result = handle_event(&fixture.router, sample.clone()).await.unwrap();
        assert_eq!(result["queued"], 1);
        let sqs = testing::sqs_client().await;
        let queued = testing::drain(&sqs, &fixture.router.events_queue_url).await;
        assert_eq!(queued.len(), 1);
        assert!(queued[0].contains("\"event_id\":\"late\""));
        let event = store.event("erp", "late").await.unwrap().unwrap();
        assert_eq!(event.status, EventStatus::Queued);
        assert_eq!(event.body, body);
        // Queued once: the next sweep finds nothing more.
        let result = handle_event(&fixture.router, sample).await.unwrap();
        assert_eq!(result["queued"], 0);
        let batch = batch_of(&queued[0]);
        assert!(
            handle(&fixture.router, batch)
                .await
                .batch_item_failures
                .is_empty()
        );
        assert_eq!(
            store.event("erp", "late").await.unwrap().unwrap().status,
            EventStatus::Applied
        );
    }

    #[tokio::test]
    async fn catalog_updates_reach_the_catalog() {
        let fixture = testing::webhooks().await;
        let event = json!({
            "id": "cat-1", "type": "catalog.updated", "occurred_at": Utc::now(),
            "data": { "skus": [
                { "sku": "NW-1", "name": "Switch 24 v2", "cost": { "amount": "118.00", "currency": "USD" } },
                { "sku": "NW-77", "name": "Access point" }
            ] }
        });
        let batch = receive(&fixture, event).await;
        let (status, outcome) = route_twice(&fixture, batch, "cat-1").await;
        assert_eq!(status, EventStatus::Applied, "{outcome}");
        assert!(outcome.starts_with("2 of 2"), "{outcome}");
        use tributary::store::Catalog;
        let known = fixture
            .router
            .store
            .known_skus(&["NW-77".to_string()])
            .await
            .unwrap();
        assert!(known.contains("NW-77"));
        // A sender's clock running a century ahead does not freeze the SKU.
        let future = json!({
            "id": "cat-2", "type": "catalog.updated", "occurred_at": "2126-01-01T00:00:00Z",
            "data": { "skus": [{ "sku": "NW-77", "name": "Access point (future)" }] }
        });
        let batch = receive(&fixture, future).await;
        let (status, _) = route_twice(&fixture, batch, "cat-2").await;
        assert_eq!(status, EventStatus::Applied);
        let later = tributary::domain::catalog::CatalogEntry {
            sku: "NW-77".into(),
            name: "Access point".into(),
            cost: None,
        };
        let written = fixture
            .router
            .store
            .put_entries_as_of(&[later], Utc::now() + chrono::Duration::seconds(1))
            .await
            .unwrap();
        assert_eq!(written, 1);
    }

    #[tokio::test]
    async fn price_changes_reach_price_protection_once() {
        let fixture = testing::webhooks().await;
        let effective = today().checked_sub_days(Days::new(5)).unwrap();
        let event = json!({
            "id": "price-1", "type": "price.changed",
            "data": { "sku": "NW-2", "old_cost": { "amount": "100.00", "currency": "USD" },
                      "new_cost": { "amount": "90.00", "currency": "USD" }, "effective_date": effective }
        });
        let batch = receive(&fixture, event).await;
        let (status, outcome) = route_twice(&fixture, batch, "price-1").await;
        assert_eq!(status, EventStatus::Applied, "{outcome}");
        let changes = fixture.router.store.price_changes().await.unwrap();
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].request.sku, "NW-2");
        assert_eq!(changes[0].created_by, "webhook:erp:price-1");
        // Another cost for that SKU and day is refused by the workflow, and recorded so.
        let conflicting = json!({
            "id": "price-2", "type": "price.changed",
            "data": { "sku": "NW-2", "old_cost": { "amount": "100.00", "currency": "USD" },
                      "new_cost": { "amount": "80.00", "currency": "USD" }, "effective_date": effective }
        });
        let batch = receive(&fixture, conflicting).await;
        let (status, outcome) = route_twice(&fixture, batch, "price-2").await;
        assert_eq!(status, EventStatus::Rejected);
        assert!(outcome.contains("already has a price change"), "{outcome}");
    }

    #[tokio::test]
    async fn training_completions_reach_onboarding() {
        let fixture = testing::webhooks().await;
        let onboarding = &fixture.router.onboarding;
        let invitation = onboarding
            .invite(
                &admin(),
                serde_json::from_value(json!({})).unwrap(),
                Utc::now(),
            )
            .await
            .unwrap();
        let mut application: Application = serde_json::from_value(json!({
            "company_name": "Acme Networks", "country": "US", "tax_id": "12-3456789",
            "contact": { "name": "Ann Ops", "email": "ops@acme.example" }
        }))
        .unwrap();
        application.token = invitation.token;
        let applied = onboarding.apply(application, Utc::now()).await.unwrap();
        let partner = applied.partner.id.clone();
        let event = json!({
            "id": "lms-1", "type": "training.completed",
            "data": { "partner_id": partner, "course": "sales-101", "completed_on": today() }
        });
        let batch = receive(&fixture, event).await;
        let (status, outcome) = route_twice(&fixture, batch, "lms-1").await;
        assert_eq!(status, EventStatus::Applied, "{outcome}");
        let record = onboarding
            .store
            .onboarding(&partner)
            .await
            .unwrap()
            .unwrap();
        let completion = &record.trainings["sales-101"];
        assert_eq!(completion.source, "webhook:erp:lms-1");
        // An unknown partner is the event's outcome, not a retry.
        let unknown = json!({
            "id": "lms-2", "type": "training.completed",
            "data": { "partner_id": "ptn_01hzx3v4b5c6d7e8f9g0h1j2k9", "course": "sales-101", "completed_on": today() }
        });
        let batch = receive(&fixture, unknown).await;
        let (status, outcome) = route_twice(&fixture, batch, "lms-2").await;
        assert_eq!(status, EventStatus::Rejected);
        assert!(outcome.contains("not found"), "{outcome}");
    }

    #[tokio::test]
    async fn opportunity_outcomes_reach_the_deal() {
        let fixture = testing::webhooks().await;
        let store = &fixture.router.store;
        let partner = testing::partner(store, tributary::domain::PartnerStatus::Active).await;
        let principal = Principal {
            id: partner.id.to_string(),
            role: Role::Partner,
            key_id: KeyId::from_bytes([2; 8]),
        };
        let request: DealRequest = serde_json::from_value(json!({
            "end_customer": { "name": "Contoso Ltd", "domain": "contoso.example", "country": "US" },
            "products": ["NW-1"],
            "estimated_value": { "amount": "50000.00", "currency": "USD" },
            "expected_close_date": today().checked_add_days(Days::new(30)).unwrap()
        }))
        .unwrap();
        let flow = fixture.router.deals.flow();
        let deal = flow
            .register(&principal, request, Utc::now())
            .await
            .unwrap();
        flow.review(&deal.id, Utc::now()).await.unwrap();
        let manager = Principal {
            role: Role::ChannelManager,
            ..admin()
        };
        flow.decide(
            &manager,
            deal.id.as_str(),
            serde_json::from_value(json!({ "decision": "approve" })).unwrap(),
            Utc::now(),
        )
        .await
        .unwrap();
        let open = json!({ "id": "opp-1", "type": "opportunity.updated", "data": { "deal_id": deal.id, "stage": "negotiation" } });
        let batch = receive(&fixture, open).await;
        let (status, outcome) = route_twice(&fixture, batch, "opp-1").await;
        assert_eq!(status, EventStatus::Applied);
        assert!(outcome.contains("does not end"), "{outcome}");
        let won = json!({ "id": "opp-2", "type": "opportunity.updated", "data": { "deal_id": deal.id, "stage": "Closed Won" } });
        let batch = receive(&fixture, won).await;
        let (status, outcome) = route_twice(&fixture, batch, "opp-2").await;
        assert_eq!(status, EventStatus::Applied, "{outcome}");
        let (stored, history) = store.get_deal(&deal.id).await.unwrap().unwrap();
        assert_eq!(stored.status, DealStatus::Won);
        assert_eq!(history.last().unwrap().actor, "webhook:erp:opp-2");
        // A lost after the win cannot undo it: refused, recorded.
        let lost = json!({ "id": "opp-3", "type": "opportunity.updated", "data": { "deal_id": deal.id, "stage": "lost" } });
        let batch = receive(&fixture, lost).await;
        let (status, _) = route_twice(&fixture, batch, "opp-3").await;
        assert_eq!(status, EventStatus::Rejected);
    }

    #[tokio::test]
    async fn shipments_reach_sell_in_once() {
        let fixture = testing::webhooks().await;
        let distributor = &fixture.distributors[0];
        let shipped = today().checked_sub_days(Days::new(1)).unwrap();
        let event = json!({
            "id": "ship-1", "type": "shipment.created",
            "data": { "id": "SH-1001", "distributor": distributor, "sku": "NW-3", "quantity": 40, "shipped_on": shipped, "carrier": "UPS" }
        });
        let batch = receive(&fixture, event).await;
        let (status, outcome) = route_twice(&fixture, batch, "ship-1").await;
        assert_eq!(status, EventStatus::Applied, "{outcome}");
        let sell_in = fixture
            .router
            .store
            .flow_units(Flow::SellIn, distributor, "NW-3", shipped, shipped)
            .await
            .unwrap();
        assert_eq!(sell_in, 40);
    }
}
