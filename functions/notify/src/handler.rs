//! Notifications to subscribers, from two queues (partial batch response):
//! - the notifications queue: each notification becomes a delivery per subscription that wants
//!   it, with its first attempt queued (a redelivered notification creates nothing new);
//! - the deliveries queue: `webhook.delivery` messages, one attempt each: a signed POST, its
//!   result recorded, the next attempt queued with backoff or, after the last, the delivery
//!   parked in the dead-letter queue and the subscription marked failing.

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use chrono::Utc;
use serde_json::Value;
use tributary::messaging::{Envelope, Message, RecordError, process_records};
use tributary::workflow::notify::{DeliveryDue, NotifyService};

/// Messages handled at once: most of the time goes to waiting for subscribers.
const CONCURRENCY: usize = 8;

pub async fn handle(service: &NotifyService, event: SqsEvent) -> SqsBatchResponse {
    process_records(event, CONCURRENCY, |record| async move {
        let body = record.body.as_deref().unwrap_or_default();
        Box::pin(handle_message(service, body)).await
    })
    .await
}

async fn handle_message(service: &NotifyService, body: &str) -> Result<(), RecordError> {
    let message_type = serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v.get("type").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_default();
    let now = Utc::now();
    if message_type == DeliveryDue::TYPE {
        let message = Envelope::<DeliveryDue>::decode(body).map_err(RecordError::from_display)?;
        let outcome = service
            .attempt(&message.payload, now)
            .await
            .map_err(RecordError::from_display)?;
        tracing::info!(delivery_id = %message.payload.delivery_id, attempt = message.payload.attempt, ?outcome, "delivery attempt");
    } else {
        let deliveries = service
            .fan_out(body, now)
            .await
            .map_err(RecordError::from_display)?;
        tracing::info!(message_type, deliveries, "notification fanned out");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;
    use tributary::domain::deal::DealStatus;
    use tributary::domain::onboarding::Application;
    use tributary::domain::webhook::{
        DeliveryStatus, SIGNATURE_HEADER, Subscription, SubscriptionStatus, verify,
    };
    use tributary::domain::{DealId, KeyId, PartnerId, PartnerStatus, Principal, Role};
    use tributary::messaging::messages::DealNotification;
    use tributary::store::{Partners, WebhookStore};
    use tributary::testing::{self, Receiver};
    use tributary::workflow::notify::{SubscriptionRequest, Subscriptions};
    use tributary::workflow::onboarding::InvitationRequest;

    use super::*;

    fn batch(bodies: Vec<String>) -> SqsEvent {
        testing::sqs_batch(bodies)
    }

    fn principal(role: Role, id: &str) -> Principal {
        Principal {
            id: id.into(),
            role,
            key_id: KeyId::from_bytes([3; 8]),
        }
    }

    fn subscriptions(service: &NotifyService) -> Subscriptions {
        Subscriptions {
            store: service.store.clone(),
            policy: service.settings.policy,
        }
    }

    async fn subscribe(
        service: &NotifyService,
        who: &Principal,
        url: &str,
        types: &[&str],
    ) -> (Subscription, String) {
        let request = SubscriptionRequest {
            url: url.into(),
            event_types: types.iter().map(|t| t.to_string()).collect(),
            partner_id: None,
        };
        let created = subscriptions(service)
            .create(who, request, Utc::now())
            .await
            .unwrap();
        let stored = service
            .store
            .subscription(&created.subscription.id)
            .await
            .unwrap()
            .unwrap();
        (stored, created.secret)
    }

    fn deal_approved(partner: &PartnerId, deal: &DealId) -> String {
        Envelope::new(
            format!("deal-approved:{deal}"),
            DealNotification {
                event: "deal.approved".into(),
                deal_id: deal.clone(),
                partner_id: partner.clone(),
                status: DealStatus::Approved,
                end_customer: "Contoso Ltd".into(),
                detail: None,
            },
            Utc::now(),
        )
        .to_json()
    }

    /// Waits for the deliveries queue's next messages (attempts are delayed by the backoff).
    async fn next_attempts(service: &NotifyService) -> Vec<String> {
        let sqs = testing::sqs_client().await;
        for _ in 0..40 {
            let bodies = testing::drain(&sqs, &service.settings.deliveries_queue_url).await;
            if !bodies.is_empty() {
                return bodies;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        panic!("no delivery attempt was queued");
    }

    #[tokio::test]
    async fn a_delivery_failing_twice_then_succeeding_records_every_attempt() {
        let service = testing::notify_service(5).await;
        let receiver = Receiver::start(vec![500, 503]).await;
        let partner = PartnerId::generate();
        let (subscription, secret) = subscribe(
            &service,
            &principal(Role::Partner, partner.as_str()),
            &receiver.url,
            &["deal.*"],
        )
        .await;
        let notification = deal_approved(&partner, &DealId::generate());
        let response = handle(&service, batch(vec![notification])).await;
        assert!(response.batch_item_failures.is_empty());
        let mut statuses = Vec::new();
        for _ in 0..3 {
            let due = next_attempts(&service).await;
            assert_eq!(due.len(), 1, "one attempt at a time");
            let response = handle(&service, batch(due)).await;
            assert!(response.batch_item_failures.is_empty());
            statuses.push(receiver.received().len());
        }
        assert_eq!(statuses, [1, 2, 3]);
        // Nothing more is queued once delivered.
        let sqs = testing::sqs_client().await;
        tokio::time::sleep(Duration::from_millis(4500)).await;
        assert!(
            testing::drain(&sqs, &service.settings.deliveries_queue_url)
                .await
                .is_empty()
        );

        let deliveries = subscriptions(&service)
            .deliveries(
                &principal(Role::Partner, partner.as_str()),
                subscription.id.as_str(),
                50,
            )
            .await
            .unwrap();
        assert_eq!(deliveries.len(), 1);
        let delivery = &deliveries[0];
        assert_eq!(delivery.status, DeliveryStatus::Delivered);
        let codes: Vec<Option<u16>> = delivery.attempts.iter().map(|a| a.status_code).collect();
        assert_eq!(codes, [Some(500), Some(503), Some(200)]);
        let numbers: Vec<u32> = delivery.attempts.iter().map(|a| a.attempt).collect();
        assert_eq!(numbers, [1, 2, 3]);
        // The backoff doubled: the third attempt came at least 1 s + 2 s after the first.
        let waited = delivery.attempts[2].at - delivery.attempts[0].at;
        assert!(waited >= chrono::Duration::seconds(3), "{waited}");

        // The receiver verifies every request with the secret it was shown once.
        for request in receiver.received() {
            assert_eq!(request.path, "/hooks/tributary");
            assert_eq!(request.headers["chan-delivery"], delivery.id);
            assert_eq!(request.headers["chan-event"], "deal.approved");
            let signature = request.headers.get(SIGNATURE_HEADER).map(String::as_str);
            verify(
                signature,
                request.body.as_bytes(),
                &[&secret],
                Utc::now().timestamp(),
            )
            .expect("the receiver verifies the signature");
            let body: Value = serde_json::from_str(&request.body).unwrap();
            assert_eq!(body["id"], delivery.id);
            assert_eq!(body["type"], "deal.approved");
            assert_eq!(body["data"]["partner_id"], partner.as_str());
        }
        assert!(
            verify(
                receiver.received()[0]
                    .headers
                    .get(SIGNATURE_HEADER)
                    .map(String::as_str),
                receiver.received()[0].body.as_bytes(),
                &["whsec_another"],
                Utc::now().timestamp()
            )
            .is_err()
        );
        let stored = service
            .store
            .subscription(&subscription.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.status, SubscriptionStatus::Active);
    }

    #[tokio::test]
    async fn the_last_failed_attempt_parks_the_delivery_and_marks_the_subscription() {
        let service = testing::notify_service(2).await;
        let receiver = Receiver::start(vec![500, 500, 500]).await;
        let (subscription, _) = subscribe(
            &service,
            &principal(Role::VendorAdmin, "admin-1"),
            &receiver.url,
            &["*"],
        )
        .await;
        let notification = deal_approved(&PartnerId::generate(), &DealId::generate());
        handle(&service, batch(vec![notification])).await;
        for _ in 0..2 {
            let due = next_attempts(&service).await;
            assert!(
                handle(&service, batch(due))
                    .await
                    .batch_item_failures
                    .is_empty()
            );
        }
        let sqs = testing::sqs_client().await;
        let parked = testing::drain(&sqs, &service.settings.deliveries_dlq_url).await;
        assert_eq!(parked.len(), 1);
        assert!(parked[0].contains(subscription.id.as_str()));
        let deliveries = service
            .store
            .recent_deliveries(&subscription.id, 10)
            .await
            .unwrap();
        assert_eq!(deliveries[0].status, DeliveryStatus::Failed);
        assert_eq!(deliveries[0].attempts.len(), 2);
        let stored = service
            .store
            .subscription(&subscription.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.status, SubscriptionStatus::Failing);
        assert!(stored.failing_since.is_some());
        tokio::time::sleep(Duration::from_millis(2500)).await;
        assert!(
            testing::drain(&sqs, &service.settings.deliveries_queue_url)
                .await
                .is_empty()
        );
        assert_eq!(receiver.received().len(), 2);

        // An operator redrives the parked message: one more attempt, parked again on failure...
        assert!(
            handle(&service, batch(parked.clone()))
                .await
                .batch_item_failures
                .is_empty()
        );
        let parked_again = testing::drain(&sqs, &service.settings.deliveries_dlq_url).await;
        assert_eq!(parked_again.len(), 1);
        // ...the same parked message a second time is stale and changes nothing...
        assert!(
            handle(&service, batch(parked))
                .await
                .batch_item_failures
                .is_empty()
        );
        assert_eq!(receiver.received().len(), 3);
        // ...and once the endpoint answers, the delivery and the subscription recover.
        assert!(
            handle(&service, batch(parked_again))
                .await
                .batch_item_failures
                .is_empty()
        );
        let deliveries = service
            .store
            .recent_deliveries(&subscription.id, 10)
            .await
            .unwrap();
        assert_eq!(deliveries[0].status, DeliveryStatus::Delivered);
        let codes: Vec<Option<u16>> = deliveries[0]
            .attempts
            .iter()
            .map(|a| a.status_code)
            .collect();
        assert_eq!(codes, [Some(500), Some(500), Some(500), Some(200)]);
        let stored = service
            .store
            .subscription(&subscription.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.status, SubscriptionStatus::Active);
        assert!(
            testing::drain(&sqs, &service.settings.deliveries_dlq_url)
                .await
                .is_empty()
        );
    }

    #[tokio::test]
    async fn notifications_go_to_matching_subscriptions_once() {
        let service = testing::notify_service(3).await;
        let receiver = Receiver::start(vec![]).await;
        let partner = PartnerId::generate();
        let other = PartnerId::generate();
        let admin = principal(Role::VendorAdmin, "admin-1");
        let (everyone, _) = subscribe(&service, &admin, &receiver.url, &["deal.approved"]).await;
        let (own, _) = subscribe(
            &service,
            &principal(Role::Partner, partner.as_str()),
            &receiver.url,
            &["deal.*"],
        )
        .await;
        subscribe(
            &service,
            &principal(Role::Partner, other.as_str()),
            &receiver.url,
            &["*"],
        )
        .await;
        subscribe(&service, &admin, &receiver.url, &["claim.*"]).await;
        let deal = DealId::generate();
        let notification = deal_approved(&partner, &deal);
        // The same notification again, published later (same id, another time) or redelivered:
        // one delivery each all the same.
        handle(&service, batch(vec![notification])).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
        handle(&service, batch(vec![deal_approved(&partner, &deal)])).await;
        let sqs = testing::sqs_client().await;
        let due = testing::drain(&sqs, &service.settings.deliveries_queue_url).await;
        // Both copies queued the first attempt of each (the first copy's may have been lost);
        // the attempt itself happens once, even with both copies in one batch.
        assert_eq!(due.len(), 4, "{due:?}");
        let response = handle(&service, batch(due.clone())).await;
        assert_eq!(receiver.received().len(), 2);
        // A second copy stands down while the first is in flight, and comes back later (or,
        // reaching the delivery once it was recorded, is skipped at once).
        let retried: Vec<String> = response
            .batch_item_failures
            .iter()
            .map(|f| due[f.item_identifier[1..].parse::<usize>().unwrap()].clone())
            .collect();
        assert!(retried.len() <= 2, "{response:?}");
        let response = handle(&service, batch(retried)).await;
        assert!(response.batch_item_failures.is_empty(), "{response:?}");
        assert_eq!(receiver.received().len(), 2);
        for subscription in [&everyone, &own] {
            let deliveries = service
                .store
                .recent_deliveries(&subscription.id, 10)
                .await
                .unwrap();
            assert_eq!(deliveries.len(), 1);
            assert_eq!(deliveries[0].attempts.len(), 1);
        }
        // A message that is not a notification fails alone.
        let response = handle(
            &service,
            batch(vec![json!({"type": "pos.sales"}).to_string()]),
        )
        .await;
        assert_eq!(response.batch_item_failures.len(), 1);
    }

    #[tokio::test]
    async fn a_deactivated_partners_subscriptions_are_disabled_and_hear_nothing_more() {
        let service = testing::notify_service(3).await;
        let mut onboarding = testing::onboarding_service().await;
        onboarding.store = service.store.clone();
        let admin = principal(Role::VendorAdmin, "admin-1");
        let token = onboarding
            .invite(&admin, InvitationRequest::default(), Utc::now())
            .await
            .unwrap()
            .token;
        let application: Application = serde_json::from_value(json!({
            "token": token, "company_name": "Wingtip Toys", "country": "FR", "tax_id": "FR-123",
            "contact": {"name": "Ana Silva", "email": "ana@wingtip.example"}
        }))
        .unwrap();
        let partner = onboarding
            .apply(application, Utc::now())
            .await
            .unwrap()
            .partner
            .id;
        let receiver = Receiver::start(vec![]).await;
        let own_principal = principal(Role::Partner, partner.as_str());
        let (own, _) = subscribe(&service, &own_principal, &receiver.url, &["*"]).await;
        let (vendor, _) =
            subscribe(&service, &admin, &receiver.url, &["partner.*", "deal.*"]).await;
        let manager = principal(Role::ChannelManager, "cm-1");
        onboarding
            .deactivate(&manager, &partner, "contract ended", Utc::now())
            .await
            .unwrap();
        // The announcement of the deactivation and a later event about the partner reach the
        // vendor's subscription only.
        let sqs = testing::sqs_client().await;
        let mut notifications =
            testing::drain(&sqs, &onboarding.settings.notifications_queue_url).await;
        assert_eq!(notifications.len(), 1, "partner.deactivated");
        notifications.push(deal_approved(&partner, &DealId::generate()));
        let response = handle(&service, batch(notifications)).await;
        assert!(response.batch_item_failures.is_empty(), "{response:?}");
        let store = &service.store;
        assert!(
            store
                .recent_deliveries(&own.id, 10)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            store.recent_deliveries(&vendor.id, 10).await.unwrap().len(),
            2
        );
        // The partner's subscription is kept, listed as disabled; deactivating again is harmless.
        onboarding
            .deactivate(&manager, &partner, "again", Utc::now())
            .await
            .unwrap();
        let listed =
            serde_json::to_value(subscriptions(&service).list(&admin).await.unwrap()).unwrap();
        let status = |id: &str| {
            listed
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["id"] == id)
                .map(|s| s["status"].clone())
        };
        assert_eq!(status(own.id.as_str()), Some(json!("disabled")), "{listed}");
        assert_eq!(
            status(vendor.id.as_str()),
            Some(json!("active")),
            "{listed}"
        );
    }

    #[tokio::test]
    async fn an_inactive_owner_hears_nothing_even_when_its_subscriptions_were_not_disabled() {
        let service = testing::notify_service(3).await;
        let receiver = Receiver::start(vec![]).await;
        let partner = testing::partner(&service.store, PartnerStatus::Active).await;
        let who = principal(Role::Partner, partner.id.as_str());
        let (own, _) = subscribe(&service, &who, &receiver.url, &["deal.*"]).await;
        // A delivery queued while the partner was active...
        handle(
            &service,
            batch(vec![deal_approved(&partner.id, &DealId::generate())]),
        )
        .await;
        let due = next_attempts(&service).await;
        // ...then the partner made inactive without its subscriptions disabled (by hand, or a
        // deactivation that stopped half way): neither a new event nor the queued attempt is sent.
        service
            .store
            .set_partner_status(
                &partner.id,
                PartnerStatus::Inactive,
                partner.version,
                Utc::now(),
            )
            .await
            .unwrap();
        handle(
            &service,
            batch(vec![deal_approved(&partner.id, &DealId::generate())]),
        )
        .await;
        let response = handle(&service, batch(due)).await;
        assert!(response.batch_item_failures.is_empty(), "{response:?}");
        assert!(receiver.received().is_empty());
        let deliveries = service.store.recent_deliveries(&own.id, 10).await.unwrap();
        assert_eq!(deliveries.len(), 1, "{deliveries:?}");
        assert_eq!(deliveries[0].status, DeliveryStatus::Cancelled);
    }

    #[tokio::test]
    async fn the_sample_event_is_handled() {
        let service = testing::notify_service(3).await;
        let sample: SqsEvent =
            serde_json::from_str(include_str!("../../../events/notify.json")).unwrap();
        assert_eq!(sample.records.len(), 2);
        // No subscription wants the notification; the delivery it names does not exist.
        let response = handle(&service, sample).await;
        assert!(response.batch_item_failures.is_empty(), "{response:?}");
    }

    #[tokio::test]
    async fn private_addresses_are_never_called() {
        let service = testing::notify_service(1).await;
        let subscription = Subscription {
            id: tributary::domain::SubscriptionId::generate(),
            // Stored as if the check had been passed: each attempt checks again.
            url: "https://169.254.169.254/latest/meta-data".into(),
            event_types: vec![tributary::domain::webhook::EventPattern::parse("*").unwrap()],
            partner_id: None,
            secret: "whsec_x".into(),
            status: SubscriptionStatus::Active,
            created_by: "admin-1".into(),
            created_at: Utc::now(),
            failing_since: None,
            disabled_at: None,
        };
        service
            .store
            .create_subscription(&subscription)
            .await
            .unwrap();
        handle(
            &service,
            batch(vec![deal_approved(
                &PartnerId::generate(),
                &DealId::generate(),
            )]),
        )
        .await;
        let due = next_attempts(&service).await;
        handle(&service, batch(due)).await;
        let deliveries = service
            .store
            .recent_deliveries(&subscription.id, 10)
            .await
            .unwrap();
        let attempt = &deliveries[0].attempts[0];
        assert_eq!(attempt.status_code, None);
        assert!(
            attempt.error.as_deref().unwrap().contains("private"),
            "{attempt:?}"
        );
        assert_eq!(deliveries[0].status, DeliveryStatus::Failed);
    }

    #[tokio::test]
    async fn subscriptions_are_checked_and_kept_to_their_owners() {
        let service = testing::notify_service(3).await;
        let subscriptions = subscriptions(&service);
        let partner = PartnerId::generate();
        let me = principal(Role::Partner, partner.as_str());
        let request =
            |url: &str, types: &[&str], partner_id: Option<PartnerId>| SubscriptionRequest {
                url: url.into(),
                event_types: types.iter().map(|t| t.to_string()).collect(),
                partner_id,
            };
        let refused = subscriptions
            .create(
                &me,
                request("http://hooks.example.com/x", &["deal.nope"], None),
                Utc::now(),
            )
            .await
            .unwrap_err()
            .to_string();
        assert!(
            refused.contains("url: must use https") && refused.contains("event_types[0]"),
            "{refused}"
        );
        let private = subscriptions
            .create(&me, request("https://10.1.2.3/x", &["*"], None), Utc::now())
            .await
            .unwrap_err()
            .to_string();
        assert!(private.contains("private"), "{private}");
        // A name that resolves to a non-public address is refused without saying which.
        let strict = Subscriptions {
            store: service.store.clone(),
            policy: tributary::domain::webhook::AddressPolicy {
                allow_loopback: false,
            },
        };
        let named = strict
            .create(
                &me,
                request("https://localhost/x", &["*"], None),
                Utc::now(),
            )
            .await
            .unwrap_err()
            .to_string();
        assert!(
            named.contains("localhost resolves to a non-public address"),
            "{named}"
        );
        assert!(
            !named.contains("127.0.0.1") && !named.contains("::1"),
            "{named}"
        );
        let others = subscriptions
            .create(
                &me,
                request("http://127.0.0.1:9/x", &["*"], Some(PartnerId::generate())),
                Utc::now(),
            )
            .await
            .unwrap_err()
            .to_string();
        assert!(others.contains("own events"), "{others}");
        let manager = principal(Role::ChannelManager, "cm-1");
        assert!(
            subscriptions
                .create(
                    &manager,
                    request("http://127.0.0.1:9/x", &["*"], None),
                    Utc::now()
                )
                .await
                .is_err()
        );
        let created = subscriptions
            .create(
                &me,
                request("http://127.0.0.1:9/x", &["deal.*"], None),
                Utc::now(),
            )
            .await
            .unwrap();
        assert!(created.secret.starts_with("whsec_"));
        assert_eq!(created.subscription.partner_id.as_ref(), Some(&partner));
        let listed = serde_json::to_string(&subscriptions.list(&me).await.unwrap()).unwrap();
        assert!(listed.contains(created.subscription.id.as_str()) && !listed.contains("whsec_"));
        // A vendor admin's subscription about the partner is not the partner's to manage.
        let admin = principal(Role::VendorAdmin, "admin-1");
        let about = subscriptions
            .create(
                &admin,
                request("http://127.0.0.1:9/y", &["*"], Some(partner.clone())),
                Utc::now(),
            )
            .await
            .unwrap();
        let mine = subscriptions.list(&me).await.unwrap();
        assert!(mine.iter().all(|s| s.id != about.subscription.id));
        assert!(
            subscriptions
                .delete(&me, about.subscription.id.as_str())
                .await
                .is_err()
        );
        let stranger = principal(Role::Partner, PartnerId::generate().as_str());
        assert!(subscriptions.list(&stranger).await.unwrap().is_empty());
        let id = created.subscription.id.as_str();
        assert!(
            subscriptions
                .delete(&stranger, id)
                .await
                .unwrap_err()
                .to_string()
                .contains("not found")
        );
        subscriptions.delete(&me, id).await.unwrap();
        assert!(subscriptions.list(&me).await.unwrap().is_empty());
        assert!(subscriptions.delete(&me, id).await.is_err());
    }
}
