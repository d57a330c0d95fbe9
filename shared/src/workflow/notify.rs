//! Outbound notifications: subscriptions (their owners manage them), the fan-out of each
//! notification to the subscriptions that want it, and each delivery's attempts.
//!
//! A notification becomes one delivery per matching subscription, with an id derived from the
//! pair (a redelivered notification creates nothing new), and a message on the deliveries
//! queue per attempt. An attempt that fails schedules the next with exponential backoff as a
//! delayed message; the last one parks the delivery in the dead-letter queue and marks the
//! subscription failing. The next attempt is always queued before the failed one is recorded,
//! so a crash repeats an attempt (receivers deduplicate on the delivery id) and never loses one.
//!
//! A deactivated partner hears nothing more: deactivation disables the subscriptions it made
//! ([`disable_partner_subscriptions`]), and whatever their status, fan-out skips them and an
//! attempt cancels their deliveries once their owner is inactive.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::ServiceError;
use super::onboarding::PartnerNotification;
use crate::config::{self, ConfigError};
use crate::domain::access::{self, require};
use crate::domain::webhook::{
    AddressPolicy, Delivery, DeliveryStatus, EventPattern, Subscription, SubscriptionStatus,
    SubscriptionView, generate_secret, retry_delay,
};
use crate::domain::{
    Conflict, PartnerId, PartnerStatus, Principal, Role, SubscriptionId, ValidationErrors,
};
use crate::messaging::messages::{
    ClaimNotification, DealNotification, InventoryNotification, PriceProtectionNotification,
};
use crate::messaging::{Envelope, Message, SqsPublisher};
use crate::outbound::{Outgoing, WebhookClient};
use crate::store::{DynamoStore, Partners, StoreError, WebhookStore};

pub type NotifyError = ServiceError;

/// Most subscriptions one owner (a partner, or the vendor) may have.
pub const MAX_SUBSCRIPTIONS_PER_OWNER: usize = 25;
/// Most patterns one subscription may list.
pub const MAX_PATTERNS: usize = 20;

/// Attempt `attempt` of a delivery is due (notify → deliveries queue → notify).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryDue {
    pub subscription_id: SubscriptionId,
    pub delivery_id: String,
    pub attempt: u32,
    /// Set on the message parked in the dead-letter queue: redriven to the deliveries queue,
    /// it makes one more attempt (and is parked again if that fails).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub parked: bool,
}

impl Message for DeliveryDue {
    const TYPE: &'static str = "webhook.delivery";
    const SCHEMA_VERSION: u32 = 1;
}

/// `WEBHOOK_ALLOW_LOOPBACK`: only the local stack sets it.
pub fn address_policy_from_env() -> Result<AddressPolicy, ConfigError> {
    Ok(AddressPolicy {
        allow_loopback: config::optional("WEBHOOK_ALLOW_LOOPBACK")?.unwrap_or(false),
    })
}

/// `POST /subscriptions`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionRequest {
    pub url: String,
    pub event_types: Vec<String>,
    /// Vendor admins only: one partner's events (absent: everyone's).
    #[serde(default)]
    pub partner_id: Option<PartnerId>,
}

/// A new subscription with its secret: the only time the secret is shown.
#[derive(Debug, Clone, Serialize)]
pub struct SubscriptionWithSecret {
    #[serde(flatten)]
    pub subscription: SubscriptionView,
    pub secret: String,
}

/// The subscription routes (function `subscriptions`).
pub struct Subscriptions {
    pub store: DynamoStore,
    pub policy: AddressPolicy,
}

impl Subscriptions {
    pub async fn from_env() -> Result<Self, ConfigError> {
        let policy = address_policy_from_env()?;
        let sdk = crate::aws::load_config().await;
        Ok(Self {
            store: DynamoStore::from_env(&sdk)?,
            policy,
        })
    }

    /// `POST /subscriptions`: a vendor admin for any events (or one partner's), a partner or
    /// distributor for its own.
    pub async fn create(
        &self,
        principal: &Principal,
        request: SubscriptionRequest,
        now: DateTime<Utc>,
    ) -> Result<SubscriptionWithSecret, NotifyError> {
        let owner = match principal.role {
            Role::VendorAdmin => request.partner_id.clone(),
            Role::Partner | Role::Distributor => {
                let own: PartnerId = access::own_id(principal).ok_or_else(|| {
                    ServiceError::Forbidden(String::from("the key's principal is not a partner"))
                })?;
                if request.partner_id.as_ref().is_some_and(|p| *p != own) {
                    return Err(ServiceError::Forbidden(String::from(
                        "a partner subscribes to its own events only",
                    )));
                }
                Some(own)
            }
            Role::ChannelManager => {
                return Err(ServiceError::Forbidden(String::from(
                    "subscriptions are for vendor admins and partners",
                )));
            }
        };
        let mut errors = ValidationErrors::new();
        let mut patterns = Vec::new();
        if request.event_types.is_empty() || request.event_types.len() > MAX_PATTERNS {
            errors.add("event_types", format!("1 to {MAX_PATTERNS} event types"));
        }
        for (i, text) in request.event_types.iter().enumerate() {
            match EventPattern::parse(text) {
                Ok(pattern) => patterns.push(pattern),
                Err(why) => errors.add(format!("event_types[{i}]"), why),
            }
        }
        match self.policy.check_url(request.url.trim()) {
            Ok(url) => {
                if let Err(why) = self.check_resolves(&url).await {
                    errors.add("url", why);
                }
            }
            Err(why) => errors.add("url", why),
        }
        errors.into_result(())?;
        let existing = self
            .store
            .subscriptions()
            .await?
            .into_iter()
            .filter(|s| s.partner_id == owner)
            .count();
        if existing >= MAX_SUBSCRIPTIONS_PER_OWNER {
            return Err(ServiceError::Conflict(Conflict::limit_reached(format!(
                "at most {MAX_SUBSCRIPTIONS_PER_OWNER} subscriptions per owner; delete one first"
            ))));
        }
        let secret = generate_secret();
        let subscription = Subscription {
            id: SubscriptionId::generate(),
            url: request.url.trim().to_string(),
            event_types: patterns,
            partner_id: owner,
            secret: secret.clone(),
            status: SubscriptionStatus::Active,
            created_by: principal.id.clone(),
            created_at: now,
            failing_since: None,
            disabled_at: None,
        };
        self.store.create_subscription(&subscription).await?;
        Ok(SubscriptionWithSecret {
            subscription: subscription.view(),
            secret,
        })
    }

    /// A host name must resolve, and only to addresses the policy permits.
    async fn check_resolves(&self, url: &url::Url) -> Result<(), String> {
        let Some(url::Host::Domain(host)) = url.host() else {
            return Ok(());
        };
        let lookup = tokio::net::lookup_host((host, url.port_or_known_default().unwrap_or(443)));
        let addresses: Vec<IpAddr> = tokio::time::timeout(Duration::from_secs(5), lookup)
            .await
            .map_err(|_| format!("{host} did not resolve in time"))?
            .map_err(|e| format!("{host} does not resolve: {e}"))?
            .map(|addr| addr.ip())
            .collect();
        // The answer never says what the name resolved to: a subscriber must not learn the
        // addresses of the vendor's network from our refusals.
        self.policy.check_resolved(host, &addresses)
    }

    /// `GET /subscriptions`: vendor staff see all, a partner its own.
    pub async fn list(&self, principal: &Principal) -> Result<Vec<SubscriptionView>, NotifyError> {
        let all = self.store.subscriptions().await?;
        Ok(all
            .iter()
            .filter(|s| visible(principal, s))
            .map(Subscription::view)
            .collect())
    }

    /// `DELETE /subscriptions/{id}`: a vendor admin any, a partner its own.
    pub async fn delete(&self, principal: &Principal, id: &str) -> Result<(), NotifyError> {
        require(
            principal,
            &[Role::VendorAdmin, Role::Partner, Role::Distributor],
            "deleting subscriptions",
        )?;
        let subscription = self.visible(principal, id).await?;
        self.store.delete_subscription(&subscription.id).await?;
        Ok(())
    }

    /// `GET /subscriptions/{id}/deliveries`: the latest deliveries (newest event first) with
    /// every attempt.
    pub async fn deliveries(
        &self,
        principal: &Principal,
        id: &str,
        limit: i32,
    ) -> Result<Vec<Delivery>, NotifyError> {
        let subscription = self.visible(principal, id).await?;
        Ok(self
            .store
            .recent_deliveries(&subscription.id, limit)
            .await?)
    }

    /// The subscription, if the principal may see it; another owner's is "not found".
    async fn visible(&self, principal: &Principal, id: &str) -> Result<Subscription, NotifyError> {
        let not_found = || ServiceError::NotFound(format!("subscription {id}"));
        let id: SubscriptionId = id.parse().map_err(|_| not_found())?;
        let subscription = self.store.subscription(&id).await?.ok_or_else(not_found)?;
        if visible(principal, &subscription) {
            Ok(subscription)
        } else {
            Err(not_found())
        }
    }
}

/// Vendor staff see every subscription; a partner those it made (not a vendor admin's about it).
fn visible(principal: &Principal, subscription: &Subscription) -> bool {
    match subscription.owner_partner() {
        Some(owner) => access::may_see(principal, owner.as_str()),
        None => principal.role.is_vendor_staff(),
    }
}

/// Deactivation: every subscription `partner` made is disabled (kept, with its deliveries).
/// Safe to repeat; returns how many this call disabled.
pub async fn disable_partner_subscriptions(
    store: &DynamoStore,
    partner: &PartnerId,
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    let disabled = store.disable_partner_subscriptions(partner, now).await?;
    if disabled > 0 {
        tracing::info!(partner_id = %partner, disabled, "subscriptions of a deactivated partner disabled");
    }
    Ok(disabled)
}

/// Whether a subscription's owner is a deactivated partner (asked once per partner and call:
/// a notification's fan-out reads each owner once).
async fn owner_inactive(
    store: &DynamoStore,
    subscription: &Subscription,
    known: &mut HashMap<PartnerId, bool>,
) -> Result<bool, StoreError> {
    let Some(owner) = subscription.owner_partner() else {
        return Ok(false);
    };
    if let Some(inactive) = known.get(owner) {
        return Ok(*inactive);
    }
    let inactive = store
        .get_partner(owner)
        .await?
        .is_some_and(|p| p.status == PartnerStatus::Inactive);
    known.insert(owner.clone(), inactive);
    Ok(inactive)
}

/// A notification as subscribers see it.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboundEvent {
    pub event_id: String,
    pub event_type: String,
    pub partner: Option<PartnerId>,
    pub occurred_at: DateTime<Utc>,
    pub data: Value,
}

/// Reads a notifications-queue message: every notification type the workflows send.
pub fn outbound_event(body: &str) -> Result<OutboundEvent, String> {
    fn typed<T: Message>(
        body: &str,
        event: impl Fn(&T) -> (String, Option<PartnerId>),
    ) -> Result<OutboundEvent, String> {
        let envelope = Envelope::<T>::decode(body).map_err(|e| e.to_string())?;
        let (event_type, partner) = event(&envelope.payload);
        Ok(OutboundEvent {
            event_id: envelope.id,
            event_type,
            partner,
            occurred_at: envelope.time,
            data: serde_json::to_value(&envelope.payload).map_err(|e| e.to_string())?,
        })
    }
    let message_type = serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v.get("type").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_default();
    match message_type.as_str() {
        DealNotification::TYPE => typed(body, |n: &DealNotification| {
            (n.event.clone(), Some(n.partner_id.clone()))
        }),
        ClaimNotification::TYPE => typed(body, |n: &ClaimNotification| {
            (n.event.clone(), Some(n.partner_id.clone()))
        }),
        InventoryNotification::TYPE => typed(body, |n: &InventoryNotification| {
            (n.event.clone(), Some(n.distributor.clone()))
        }),
        PriceProtectionNotification::TYPE => typed(body, |n: &PriceProtectionNotification| {
            (n.event.clone(), Some(n.distributor.clone()))
        }),
        PartnerNotification::TYPE => typed(body, |n: &PartnerNotification| {
            (n.event.clone(), Some(n.partner_id.clone()))
        }),
        other => Err(format!("{other:?} is not a notification type")),
    }
}

/// The body POSTed for `event` as delivery `delivery_id`.
fn delivery_body(delivery_id: &str, event: &OutboundEvent) -> String {
    serde_json::json!({
        "id": delivery_id,
        "event_id": event.event_id,
        "type": event.event_type,
        "occurred_at": event.occurred_at,
        "data": event.data,
    })
    .to_string()
}

/// The settings of `notify`, from the environment.
#[derive(Debug, Clone)]
pub struct NotifySettings {
    pub deliveries_queue_url: String,
    pub deliveries_dlq_url: String,
    pub max_attempts: u32,
    pub retry_base: Duration,
    pub timeout: Duration,
    pub policy: AddressPolicy,
}

impl NotifySettings {
    /// `NOTIFY_DELIVERIES_QUEUE_URL`, `NOTIFY_DELIVERIES_DLQ_URL`, `NOTIFY_MAX_ATTEMPTS` (8),
    /// `NOTIFY_RETRY_BASE_SECONDS` (30), `NOTIFY_TIMEOUT_SECONDS` (10), `WEBHOOK_ALLOW_LOOPBACK`.
    pub fn from_env() -> Result<Self, ConfigError> {
        // Bounded: no instant retries, and two waves of attempts fit notify's 60 s timeout.
        let seconds = |name, default: u64, max: u64| -> Result<Duration, ConfigError> {
            Ok(Duration::from_secs(
                config::optional::<u64>(name)?
                    .unwrap_or(default)
                    .clamp(1, max),
            ))
        };
        Ok(Self {
            deliveries_queue_url: config::required("NOTIFY_DELIVERIES_QUEUE_URL")?,
            deliveries_dlq_url: config::required("NOTIFY_DELIVERIES_DLQ_URL")?,
            max_attempts: config::optional::<u32>("NOTIFY_MAX_ATTEMPTS")?
                .unwrap_or(8)
                .clamp(1, 20),
            retry_base: seconds("NOTIFY_RETRY_BASE_SECONDS", 30, 900)?,
            timeout: seconds("NOTIFY_TIMEOUT_SECONDS", 10, 25)?,
            policy: address_policy_from_env()?,
        })
    }
}

/// What `notify` builds once per cold start.
pub struct NotifyService {
    pub store: DynamoStore,
    pub publisher: SqsPublisher,
    pub client: WebhookClient,
    pub settings: NotifySettings,
}

/// What became of one delivery message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptOutcome {
    Delivered,
    /// Failed; the next attempt is queued.
    Retrying,
    /// The last attempt failed: parked in the dead-letter queue.
    Parked,
    /// Nothing to do: already attempted, settled, or gone.
    Skipped,
}

impl NotifyService {
    pub async fn from_env() -> Result<Self, ConfigError> {
        let settings = NotifySettings::from_env()?;
        let sdk = crate::aws::load_config().await;
        let client = WebhookClient::new(settings.policy, settings.timeout).map_err(|reason| {
            ConfigError::Invalid {
                name: "NOTIFY_TIMEOUT_SECONDS",
                value: settings.timeout.as_secs().to_string(),
                reason,
            }
        })?;
        Ok(Self {
            store: DynamoStore::from_env(&sdk)?,
            publisher: SqsPublisher::new(crate::aws::sqs(&sdk)),
            client,
            settings,
        })
    }

    /// A notification: a delivery per subscription that wants it, and its first attempt
    /// queued. Safe to repeat; returns how many deliveries it concerns.
    pub async fn fan_out(&self, body: &str, now: DateTime<Utc>) -> Result<usize, NotifyError> {
        let event = match outbound_event(body) {
            Ok(event) => event,
            Err(why) => {
                return Err(ValidationErrors::single("message", why).into());
            }
        };
        let subscriptions = self.store.subscriptions().await?;
        let mut due = Vec::new();
        let mut owners = HashMap::new();
        for subscription in subscriptions
            .iter()
            .filter(|s| s.wants(&event.event_type, event.partner.as_ref()))
        {
            // Its owner deactivated, even if the subscription was not disabled (made inactive
            // by hand, or a deactivation that stopped half way): nothing for it.
            if owner_inactive(&self.store, subscription, &mut owners).await? {
                continue;
            }
            let id = Delivery::id_for(&event.event_id, &subscription.id);
            let delivery = Delivery {
                body: delivery_body(&id, &event),
                id,
                subscription_id: subscription.id.clone(),
                event_id: event.event_id.clone(),
                event_type: event.event_type.clone(),
                status: DeliveryStatus::Pending,
                attempts: Vec::new(),
                created_at: now,
                next_attempt_at: Some(now),
            };
            let queue_first = match self.store.create_delivery(&delivery).await? {
                None => true,
                // Created by an earlier copy of this notification, maybe not queued: again.
                Some(earlier) => earlier.attempts.is_empty() && !earlier.is_settled(),
            };
            if queue_first {
                due.push(attempt_message(
                    &delivery.subscription_id,
                    &delivery.id,
                    1,
                    now,
                ));
            }
        }
        let count = due.len();
        self.publisher
            .publish(&self.settings.deliveries_queue_url, &due)
            .await?;
        Ok(count)
    }

    /// One attempt of a delivery, recorded; the next one queued, or the delivery parked.
    pub async fn attempt(
        &self,
        due: &DeliveryDue,
        now: DateTime<Utc>,
    ) -> Result<AttemptOutcome, NotifyError> {
        let Some(mut delivery) = self
            .store
            .delivery(&due.subscription_id, &due.delivery_id)
            .await?
        else {
            tracing::warn!(delivery_id = %due.delivery_id, "delivery not found (expired?)");
            return Ok(AttemptOutcome::Skipped);
        };
        let before = delivery.attempts.len();
        let Ok(number) = u32::try_from(before + 1) else {
            return Ok(AttemptOutcome::Skipped);
        };
        // An operator redrove the parked message: one more attempt for a delivery that failed.
        let redriven =
            due.parked && delivery.status == DeliveryStatus::Failed && number == due.attempt + 1;
        if !redriven && (delivery.is_settled() || number != due.attempt) {
            return Ok(AttemptOutcome::Skipped);
        }
        // Another copy of this message may be attempting it now (or one that failed before
        // recording it holds a claim that has not lapsed): try again later, when the attempt is
        // recorded (then this copy is skipped) or the claim has lapsed (then it is made).
        let claim_until = now
            + chrono::Duration::from_std(self.settings.timeout * 2).unwrap_or_default()
            + chrono::Duration::seconds(30);
        if !self
            .store
            .claim_attempt(&delivery, before, now, claim_until)
            .await?
        {
            return Err(ServiceError::Conflict(Conflict::lock_held(format!(
                "attempt {number} of delivery {} is in flight; retried later",
                delivery.id
            ))));
        }
        // Deleted, disabled, or its owner deactivated since the delivery was queued: cancelled.
        let subscription = match self.store.subscription(&due.subscription_id).await? {
            Some(s)
                if s.status != SubscriptionStatus::Disabled
                    && !owner_inactive(&self.store, &s, &mut HashMap::new()).await? =>
            {
                s
            }
            _ => {
                delivery.status = DeliveryStatus::Cancelled;
                delivery.next_attempt_at = None;
                self.save(&delivery, before).await?;
                return Ok(AttemptOutcome::Skipped);
            }
        };
        let attempt = self
            .client
            .post(
                &Outgoing {
                    url: &subscription.url,
                    secret: &subscription.secret,
                    delivery_id: &delivery.id,
                    event_type: &delivery.event_type,
                    body: &delivery.body,
                    attempt: number,
                },
                now,
            )
            .await;
        let outcome = if attempt.succeeded() {
            delivery.record(attempt, None);
            AttemptOutcome::Delivered
        } else if !redriven && number < self.settings.max_attempts {
            let delay = retry_delay(number, self.settings.retry_base);
            let next = attempt_message(&due.subscription_id, &delivery.id, number + 1, now);
            self.publisher
                .publish_delayed(&self.settings.deliveries_queue_url, &next, delay)
                .await?;
            let at = now + chrono::Duration::from_std(delay).unwrap_or_default();
            tracing::info!(delivery_id = %delivery.id, attempt = number, error = ?attempt.error, next_in_s = delay.as_secs(), "delivery failed; retrying");
            delivery.record(attempt, Some(at));
            AttemptOutcome::Retrying
        } else {
            let parked = Envelope::new(
                format!("delivery:{}:parked:{number}", delivery.id),
                DeliveryDue {
                    subscription_id: due.subscription_id.clone(),
                    delivery_id: delivery.id.clone(),
                    attempt: number,
                    parked: true,
                },
                now,
            );
            self.publisher
                .publish(&self.settings.deliveries_dlq_url, &[parked])
                .await?;
            tracing::warn!(delivery_id = %delivery.id, subscription_id = %subscription.id, attempts = number, "delivery failed for good; parked in the dead-letter queue");
            delivery.record(attempt, None);
            AttemptOutcome::Parked
        };
        // The subscription's status before the delivery: once the delivery is saved, a retry
        // of this message is skipped and could not mark it any more.
        let status = match outcome {
            AttemptOutcome::Delivered => Some(SubscriptionStatus::Active),
            AttemptOutcome::Parked => Some(SubscriptionStatus::Failing),
            _ => None,
        };
        if let Some(status) = status {
            self.store
                .set_subscription_status(&subscription.id, status, now)
                .await?;
        }
        if !self.save(&delivery, before).await? {
            return Ok(AttemptOutcome::Skipped);
        }
        Ok(outcome)
    }

    /// Saves the delivery unless a concurrent copy of the attempt did (`Ok(false)`).
    async fn save(&self, delivery: &Delivery, before: usize) -> Result<bool, NotifyError> {
        match self.store.save_delivery(delivery, before).await {
            Ok(()) => Ok(true),
            Err(StoreError::Conflict(_)) => Ok(false),
            Err(err) => Err(err.into()),
        }
    }
}

fn attempt_message(
    subscription: &SubscriptionId,
    delivery_id: &str,
    attempt: u32,
    now: DateTime<Utc>,
) -> Envelope<DeliveryDue> {
    Envelope::new(
        format!("delivery:{delivery_id}:{attempt}"),
        DeliveryDue {
            subscription_id: subscription.clone(),
            delivery_id: delivery_id.to_string(),
            attempt,
            parked: false,
        },
        now,
    )
}
