//! The records of webhooks: inbound sources and the events they sent, outbound subscriptions
//! and their deliveries, with the rules that change them.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::EventPattern;
use crate::domain::{PartnerId, SubscriptionId};

/// A system that sends events to `POST /webhooks/{id}`, with its signing secrets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookSource {
    pub id: String,
    pub name: String,
    /// The routed types it may send (1 or more when created). A source stored with none (the
    /// former default, "any") may send none: a routed type is never allowed by default.
    #[serde(default)]
    pub event_types: Vec<String>,
    /// Newest first; a secret with `expires_at` in the past no longer verifies.
    pub secrets: Vec<SourceSecret>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    #[serde(default)]
    pub rotated_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub version: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceSecret {
    pub secret: String,
    pub created_at: DateTime<Utc>,
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
}

impl WebhookSource {
    /// The secrets that verify at `now` (two while a rotation's old one lasts).
    pub fn active_secrets(&self, now: DateTime<Utc>) -> Vec<&str> {
        self.secrets
            .iter()
            .filter(|s| s.expires_at.is_none_or(|at| at > now))
            .map(|s| s.secret.as_str())
            .collect()
    }

    /// Makes `secret` the current one; the previous stays valid for `overlap` (zero ends it
    /// at once), and any older one is dropped.
    pub fn rotate(&mut self, secret: String, overlap: Duration, now: DateTime<Utc>) {
        let mut previous = self.secrets.drain(..).next();
        if let Some(old) = previous.as_mut() {
            let until = now + overlap;
            old.expires_at = Some(old.expires_at.map_or(until, |at| at.min(until)));
        }
        self.secrets.push(SourceSecret {
            secret,
            created_at: now,
            expires_at: None,
        });
        self.secrets.extend(
            previous.filter(|old| {
                overlap > Duration::zero() && old.expires_at.is_some_and(|at| at > now)
            }),
        );
        self.rotated_at = Some(now);
    }

    pub fn may_send(&self, event_type: &str) -> bool {
        self.event_types.iter().any(|t| t == event_type)
    }

    /// What admins see: never a secret.
    pub fn view(&self, now: DateTime<Utc>) -> SourceView {
        SourceView {
            id: self.id.clone(),
            name: self.name.clone(),
            event_types: self.event_types.clone(),
            active_secrets: self.active_secrets(now).len(),
            previous_secret_expires_at: self
                .secrets
                .iter()
                .filter_map(|s| s.expires_at)
                .find(|at| *at > now),
            created_by: self.created_by.clone(),
            created_at: self.created_at,
            rotated_at: self.rotated_at,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourceView {
    pub id: String,
    pub name: String,
    pub event_types: Vec<String>,
    pub active_secrets: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotated_at: Option<DateTime<Utc>>,
}

/// Where an inbound event is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventStatus {
    /// Stored, not yet queued (queueing failed: the sender's retry queues it).
    Received,
    Queued,
    /// An unknown type: kept, no effect.
    Ignored,
    Applied,
    /// Valid, but its workflow refused it (an unknown partner, a conflicting change).
    Rejected,
}

/// An event as received: the raw body, for processing and audit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredEvent {
    pub source: String,
    pub event_id: String,
    pub event_type: String,
    pub body: String,
    pub body_sha256: String,
    pub status: EventStatus,
    pub received_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processed_at: Option<DateTime<Utc>>,
}

impl StoredEvent {
    pub fn new(
        source: &str,
        event_id: &str,
        event_type: &str,
        body: &str,
        status: EventStatus,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            source: source.to_string(),
            event_id: event_id.to_string(),
            event_type: event_type.to_string(),
            body: body.to_string(),
            body_sha256: hex::encode(Sha256::digest(body.as_bytes())),
            status,
            received_at: now,
            outcome: None,
            processed_at: None,
        }
    }
}

/// Whether a subscription's deliveries succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionStatus {
    Active,
    /// A delivery used up its attempts; the next success makes it active again.
    Failing,
    /// Its owner, a partner, was deactivated: nothing more is delivered, and no delivery
    /// result makes it active again. Kept, with its deliveries, for the record.
    Disabled,
}

/// A subscriber's URL for some events: a partner's own events, or (vendor admins) everyone's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscription {
    pub id: SubscriptionId,
    pub url: String,
    pub event_types: Vec<EventPattern>,
    /// The partner whose events only it receives; `None`: every partner's.
    #[serde(default)]
    pub partner_id: Option<PartnerId>,
    pub secret: String,
    pub status: SubscriptionStatus,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failing_since: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_at: Option<DateTime<Utc>>,
}

impl Subscription {
    /// Whether it is to be told of `event_type` about `partner`: never once disabled.
    pub fn wants(&self, event_type: &str, partner: Option<&PartnerId>) -> bool {
        let own = match &self.partner_id {
            None => true,
            Some(mine) => partner == Some(mine),
        };
        self.status != SubscriptionStatus::Disabled
            && own
            && self.event_types.iter().any(|p| p.matches(event_type))
    }

    /// The partner that made it for its own events, and manages it; `None` for the vendor's
    /// (a vendor admin's about one partner included: the vendor keeps hearing of it).
    pub fn owner_partner(&self) -> Option<&PartnerId> {
        self.partner_id
            .as_ref()
            .filter(|p| p.as_str() == self.created_by)
    }

    /// Disables it at `now` (its owner was deactivated); `false` when it was already.
    pub fn disable(&mut self, now: DateTime<Utc>) -> bool {
        if self.status == SubscriptionStatus::Disabled {
            return false;
        }
        self.status = SubscriptionStatus::Disabled;
        self.disabled_at = Some(now);
        true
    }

    /// Marks it active or failing after a delivery; `false` when that changes nothing. A
    /// disabled subscription stays disabled (an attempt in flight may end after it was).
    pub fn mark(&mut self, status: SubscriptionStatus, now: DateTime<Utc>) -> bool {
        if self.status == status
            || self.status == SubscriptionStatus::Disabled
            || status == SubscriptionStatus::Disabled
        {
            return false;
        }
        self.status = status;
        self.failing_since = (status == SubscriptionStatus::Failing).then_some(now);
        true
    }

    /// What its owner sees after creation: never the secret.
    pub fn view(&self) -> SubscriptionView {
        SubscriptionView {
            id: self.id.clone(),
            url: self.url.clone(),
            event_types: self.event_types.clone(),
            partner_id: self.partner_id.clone(),
            status: self.status,
            created_by: self.created_by.clone(),
            created_at: self.created_at,
            failing_since: self.failing_since,
            disabled_at: self.disabled_at,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SubscriptionView {
    pub id: SubscriptionId,
    pub url: String,
    pub event_types: Vec<EventPattern>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partner_id: Option<PartnerId>,
    pub status: SubscriptionStatus,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failing_since: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    Pending,
    Retrying,
    Delivered,
    /// Every attempt failed; the delivery was parked in the dead-letter queue.
    Failed,
    /// The subscription was deleted or disabled (or its owner deactivated) before it could be
    /// delivered.
    Cancelled,
}

/// One try of a delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    pub attempt: u32,
    pub at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_code: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub duration_ms: u64,
}

impl Attempt {
    pub fn succeeded(&self) -> bool {
        self.status_code.is_some_and(|c| (200..300).contains(&c))
    }
}

/// One event to one subscription, with every attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    pub id: String,
    pub subscription_id: SubscriptionId,
    pub event_id: String,
    pub event_type: String,
    /// The exact body POSTed at every attempt.
    pub body: String,
    pub status: DeliveryStatus,
    pub attempts: Vec<Attempt>,
    pub created_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<DateTime<Utc>>,
}

impl Delivery {
    /// The id of `event_id` to `subscription`: the same pair always gets the same id, so a
    /// notification redelivered or published again creates nothing new.
    pub fn id_for(event_id: &str, subscription: &SubscriptionId) -> String {
        let digest = Sha256::digest(format!("{event_id}\n{subscription}").as_bytes());
        format!("dlv_{}", hex::encode(&digest[..12]))
    }

    pub fn is_settled(&self) -> bool {
        matches!(
            self.status,
            DeliveryStatus::Delivered | DeliveryStatus::Failed | DeliveryStatus::Cancelled
        )
    }

    /// Records attempt `attempt` and its result: delivered, retried at `retry_at`, or failed
    /// for good when `retry_at` is `None`.
    pub fn record(&mut self, attempt: Attempt, retry_at: Option<DateTime<Utc>>) {
        self.status = if attempt.succeeded() {
            DeliveryStatus::Delivered
        } else if retry_at.is_some() {
            DeliveryStatus::Retrying
        } else {
            DeliveryStatus::Failed
        };
        self.next_attempt_at = if self.status == DeliveryStatus::Retrying {
            retry_at
        } else {
            None
        };
        self.attempts.push(attempt);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minutes: i64) -> DateTime<Utc> {
        "2026-12-01T12:00:00Z".parse::<DateTime<Utc>>().unwrap() + Duration::minutes(minutes)
    }

    fn source() -> WebhookSource {
        WebhookSource {
            id: "lms".into(),
            name: "LMS".into(),
            event_types: vec![],
            secrets: vec![SourceSecret {
                secret: "whsec_one".into(),
                created_at: at(0),
                expires_at: None,
            }],
            created_by: "admin".into(),
            created_at: at(0),
            rotated_at: None,
            version: 1,
        }
    }

    #[test]
    fn a_rotation_keeps_the_old_secret_for_the_overlap_only() {
        let mut source = source();
        source.rotate("whsec_two".into(), Duration::hours(24), at(10));
        assert_eq!(source.active_secrets(at(11)), ["whsec_two", "whsec_one"]);
        assert_eq!(source.active_secrets(at(10 + 24 * 60)), ["whsec_two"]);
        // A second rotation keeps only the one before it.
        source.rotate("whsec_three".into(), Duration::hours(1), at(20));
        assert_eq!(source.active_secrets(at(21)), ["whsec_three", "whsec_two"]);
        assert_eq!(source.secrets.len(), 2);
        // No overlap: the old secret stops at once.
        source.rotate("whsec_four".into(), Duration::zero(), at(30));
        assert_eq!(source.active_secrets(at(30)), ["whsec_four"]);
        let view = serde_json::to_string(&source.view(at(30))).unwrap();
        assert!(!view.contains("whsec_"), "{view}");
    }

    #[test]
    fn sources_may_send_only_their_listed_types() {
        let mut source = source();
        // A legacy source stored with no list (the old default "any") may send nothing.
        assert!(!source.may_send("price.changed"));
        assert!(!source.may_send("training.completed"));
        source.event_types = vec!["training.completed".into()];
        assert!(source.may_send("training.completed"));
        assert!(!source.may_send("price.changed"));
    }

    #[test]
    fn partner_subscriptions_hear_only_their_own_events() {
        let partner: PartnerId = "ptn_01jabcdefghjkmnpqrstvwxyz0".parse().unwrap();
        let other: PartnerId = "ptn_01jabcdefghjkmnpqrstvwxyz1".parse().unwrap();
        let mut subscription = Subscription {
            id: SubscriptionId::generate(),
            url: "https://hooks.example.com/".into(),
            event_types: vec![EventPattern::parse("deal.*").unwrap()],
            partner_id: Some(partner.clone()),
            secret: "whsec_x".into(),
            status: SubscriptionStatus::Active,
            created_by: "p".into(),
            created_at: at(0),
            failing_since: None,
            disabled_at: None,
        };
        assert!(subscription.wants("deal.approved", Some(&partner)));
        assert!(!subscription.wants("deal.approved", Some(&other)));
        assert!(!subscription.wants("claim.paid", Some(&partner)));
        subscription.partner_id = None;
        assert!(subscription.wants("deal.approved", Some(&other)));
        assert_eq!(subscription.owner_partner(), None);
        assert!(
            !serde_json::to_string(&subscription.view())
                .unwrap()
                .contains("whsec_x")
        );
    }

    #[test]
    fn a_disabled_subscription_wants_nothing_and_stays_disabled() {
        let partner: PartnerId = "ptn_01jabcdefghjkmnpqrstvwxyz0".parse().unwrap();
        let mut subscription = Subscription {
            id: SubscriptionId::generate(),
            url: "https://hooks.example.com/".into(),
            event_types: vec![EventPattern::parse("*").unwrap()],
            partner_id: Some(partner.clone()),
            secret: "whsec_x".into(),
            status: SubscriptionStatus::Active,
            created_by: partner.to_string(),
            created_at: at(0),
            failing_since: None,
            disabled_at: None,
        };
        assert_eq!(subscription.owner_partner(), Some(&partner));
        assert!(subscription.mark(SubscriptionStatus::Failing, at(1)));
        assert!(subscription.disable(at(2)));
        assert!(!subscription.disable(at(3)), "once");
        assert_eq!(subscription.disabled_at, Some(at(2)));
        assert!(!subscription.wants("deal.approved", Some(&partner)));
        // A delivery that ends after the deactivation does not bring it back.
        assert!(!subscription.mark(SubscriptionStatus::Active, at(4)));
        assert_eq!(subscription.status, SubscriptionStatus::Disabled);
        let view = serde_json::to_value(subscription.view()).unwrap();
        assert_eq!(view["status"], "disabled");
        // A vendor admin's subscription about the partner is not the partner's own.
        subscription.created_by = "admin-1".into();
        assert_eq!(subscription.owner_partner(), None);
    }

    #[test]
    fn delivery_ids_are_stable_per_event_and_subscription() {
        let subscription = SubscriptionId::generate();
        let a = Delivery::id_for("deal-approved:1", &subscription);
        assert_eq!(a, Delivery::id_for("deal-approved:1", &subscription));
        assert_ne!(a, Delivery::id_for("deal-approved:2", &subscription));
        assert_ne!(
            a,
            Delivery::id_for("deal-approved:1", &SubscriptionId::generate())
        );
        assert_eq!(a.len(), "dlv_".len() + 24);
    }

    #[test]
    fn attempts_settle_a_delivery() {
        let mut delivery = Delivery {
            id: "dlv".into(),
            subscription_id: SubscriptionId::generate(),
            event_id: "e".into(),
            event_type: "deal.approved".into(),
            body: "{}".into(),
            status: DeliveryStatus::Pending,
            attempts: vec![],
            created_at: at(0),
            next_attempt_at: None,
        };
        let attempt = |n, code| Attempt {
            attempt: n,
            at: at(n as i64),
            status_code: code,
            error: None,
            duration_ms: 5,
        };
        delivery.record(attempt(1, Some(500)), Some(at(2)));
        assert_eq!(delivery.status, DeliveryStatus::Retrying);
        assert_eq!(delivery.next_attempt_at, Some(at(2)));
        delivery.record(attempt(2, None), Some(at(4)));
        delivery.record(attempt(3, Some(204)), None);
        assert_eq!(delivery.status, DeliveryStatus::Delivered);
        assert!(delivery.is_settled() && delivery.next_attempt_at.is_none());
        delivery.status = DeliveryStatus::Retrying;
        delivery.record(attempt(4, Some(410)), None);
        assert_eq!(delivery.status, DeliveryStatus::Failed);
    }
}
