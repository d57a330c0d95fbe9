//! Inbound webhooks: sources and their secrets (vendor admins), receiving a signed event
//! (verify, check, store once, queue, answer) and routing a queued event to its workflow.
//!
//! Receiving never does the work: the event is stored (its id once per source) and queued, and
//! `webhook-route` applies it. A redelivered id is acknowledged with no second effect; an event
//! stored but not queued (the queue failed) is queued again when its sender retries.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::ServiceError;
use super::deals::{DealError, DealService};
use super::inventory::InventoryService;
use super::onboarding::OnboardingService;
use crate::config::{self, ConfigError};
use crate::domain::access::{ADMINS, require};
use crate::domain::onboarding::TrainingRequest;
use crate::domain::webhook::{
    EventStatus, InboundEvent, OpportunityEnd, ROUTED_TYPES, RoutedEvent, SourceSecret, SourceView,
    StoredEvent, WebhookSource, check_source_id, generate_secret, verify,
};
use crate::domain::{Conflict, Principal, Role, ValidationErrors};
use crate::messaging::{Envelope, Message, SqsPublisher};
use crate::store::{Catalog, DynamoStore, StoreError, WebhookStore};

pub type WebhookError = ServiceError;

/// How long a rotated-out secret keeps verifying unless the rotation says otherwise.
pub const DEFAULT_ROTATION_OVERLAP_HOURS: u32 = 24;
/// The longest overlap a rotation may ask for.
pub const MAX_ROTATION_OVERLAP_HOURS: u32 = 168;

/// A received event waits to be applied (webhook-ingest → webhook events queue → webhook-route).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookReceived {
    pub source: String,
    pub event_id: String,
}

impl Message for WebhookReceived {
    const TYPE: &'static str = "webhook.received";
    const SCHEMA_VERSION: u32 = 1;
}

/// `POST /webhook-sources`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceRequest {
    pub id: String,
    pub name: String,
    /// The routed types the source may send: required, 1 to all of them (none is allowed by
    /// default).
    #[serde(default)]
    pub event_types: Vec<String>,
}

/// `POST /webhook-sources/{id}/rotate`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RotationRequest {
    /// Hours the old secret keeps verifying (0 to 168, default 24).
    #[serde(default)]
    pub overlap_hours: Option<u32>,
}

/// A source with its new secret: the only time the secret is shown.
#[derive(Debug, Clone, Serialize)]
pub struct SourceWithSecret {
    #[serde(flatten)]
    pub source: SourceView,
    pub secret: String,
}

/// Why a received request was refused, before anything was stored.
#[derive(Debug, thiserror::Error)]
pub enum ReceiveError {
    /// Unknown source, missing, malformed, stale or wrong signature: 401.
    #[error("{0}")]
    Unauthenticated(String),
    /// Not an event, or a routed type with invalid data: 400.
    #[error("{0}")]
    BadRequest(String),
    /// A type the source may not send: 403.
    #[error("{0}")]
    Forbidden(String),
    /// The id was received before with another body: 409.
    #[error("{0}")]
    Conflict(Conflict),
    #[error(transparent)]
    Service(#[from] ServiceError),
}

impl From<StoreError> for ReceiveError {
    fn from(err: StoreError) -> Self {
        Self::Service(err.into())
    }
}

/// What the sender is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Receipt {
    /// Stored and queued for its workflow (202).
    Queued,
    /// An unknown type, stored with no effect (200).
    Ignored,
    /// This id was received before (200).
    Duplicate,
}

/// What webhook-ingest builds once per cold start.
pub struct WebhookIngest {
    pub store: DynamoStore,
    pub publisher: SqsPublisher,
    /// `WEBHOOK_EVENTS_QUEUE_URL`.
    pub events_queue_url: String,
}

impl WebhookIngest {
    pub async fn from_env() -> Result<Self, ConfigError> {
        let events_queue_url = config::required("WEBHOOK_EVENTS_QUEUE_URL")?;
        let sdk = crate::aws::load_config().await;
        Ok(Self {
            store: DynamoStore::from_env(&sdk)?,
            publisher: SqsPublisher::new(crate::aws::sqs(&sdk)),
            events_queue_url,
        })
    }

    /// `POST /webhook-sources` (vendor admins): the source and its first secret, shown once.
    pub async fn create_source(
        &self,
        principal: &Principal,
        request: SourceRequest,
        now: DateTime<Utc>,
    ) -> Result<SourceWithSecret, WebhookError> {
        require(principal, &ADMINS, "managing webhook sources")?;
        let mut errors = check_source_id(&request.id).err().unwrap_or_default();
        let name = request.name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            errors.add("name", "1 to 100 characters");
        }
        if request.event_types.len() > ROUTED_TYPES.len() {
            errors.add(
                "event_types",
                format!("at most {} types, each once", ROUTED_TYPES.len()),
            );
        } else if request.event_types.is_empty() {
            errors.add(
                "event_types",
                format!(
                    "required: the routed types the source may send, 1 or more of {}",
                    ROUTED_TYPES.join(", ")
                ),
            );
        }
        for (i, event_type) in request.event_types.iter().enumerate() {
            if !ROUTED_TYPES.contains(&event_type.as_str()) {
                errors.add(
                    format!("event_types[{i}]"),
                    format!("{event_type:?} is not one of {}", ROUTED_TYPES.join(", ")),
                );
            }
        }
        errors.into_result(())?;
        let secret = generate_secret();
        let source = WebhookSource {
            id: request.id,
            name: name.to_string(),
            event_types: request.event_types,
            secrets: vec![SourceSecret {
                secret: secret.clone(),
                created_at: now,
                expires_at: None,
            }],
            created_by: principal.id.clone(),
            created_at: now,
            rotated_at: None,
            version: 0,
        };
        self.store.create_source(&source).await?;
        Ok(SourceWithSecret {
            source: source.view(now),
            secret,
        })
    }

    /// `POST /webhook-sources/{id}/rotate` (vendor admins): a new secret, shown once; the old
    /// one verifies for the overlap.
    pub async fn rotate(
        &self,
        principal: &Principal,
        id: &str,
        request: RotationRequest,
        now: DateTime<Utc>,
    ) -> Result<SourceWithSecret, WebhookError> {
        require(principal, &ADMINS, "managing webhook sources")?;
        let hours = request
            .overlap_hours
            .unwrap_or(DEFAULT_ROTATION_OVERLAP_HOURS);
        if hours > MAX_ROTATION_OVERLAP_HOURS {
            return Err(ValidationErrors::single(
                "overlap_hours",
                format!("0 to {MAX_ROTATION_OVERLAP_HOURS}"),
            )
            .into());
        }
        let mut source = self.source(id).await?;
        let secret = generate_secret();
        source.rotate(secret.clone(), Duration::hours(i64::from(hours)), now);
        self.store.save_source(&source).await?;
        Ok(SourceWithSecret {
            source: source.view(now),
            secret,
        })
    }

    /// `GET /webhook-sources` (vendor staff).
    pub async fn sources(
        &self,
        principal: &Principal,
        now: DateTime<Utc>,
    ) -> Result<Vec<SourceView>, WebhookError> {
        require(principal, &SOURCE_READERS, "reading webhook sources")?;
        let sources = self.store.sources().await?;
        Ok(sources.iter().map(|s| s.view(now)).collect())
    }

    /// `GET /webhook-sources/{id}/events` (vendor staff): the latest events, newest first,
    /// with what became of each.
    pub async fn events(
        &self,
        principal: &Principal,
        id: &str,
        limit: i32,
    ) -> Result<Vec<EventView>, WebhookError> {
        require(principal, &SOURCE_READERS, "reading webhook sources")?;
        self.source(id).await?;
        let events = self.store.recent_events(id, limit).await?;
        Ok(events.into_iter().map(EventView::from).collect())
    }

    async fn source(&self, id: &str) -> Result<WebhookSource, WebhookError> {
        // An id no source can have is not looked up: a path segment of kilobytes would be a
        // partition key DynamoDB refuses (a 500), where the answer is simply "no such source".
        if check_source_id(id).is_err() {
            return Err(ServiceError::NotFound(format!("webhook source {id:.60}")));
        }
        self.store
            .source(id)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("webhook source {id}")))
    }

    /// `POST /webhooks/{source}`: verify, check, store once, queue.
    pub async fn receive(
        &self,
        source_id: &str,
        signature: Option<&str>,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<(Receipt, String), ReceiveError> {
        if check_source_id(source_id).is_err() {
            return Err(ReceiveError::Unauthenticated(format!(
                "no webhook source {source_id:.60}"
            )));
        }
        let source = self.store.source(source_id).await?.ok_or_else(|| {
            ReceiveError::Unauthenticated(format!("no webhook source {source_id}"))
        })?;
        verify(
            signature,
            body,
            &source.active_secrets(now),
            now.timestamp(),
        )
        .map_err(|e| ReceiveError::Unauthenticated(e.to_string()))?;
        let text = std::str::from_utf8(body)
            .map_err(|_| ReceiveError::BadRequest(String::from("the body is not UTF-8 JSON")))?;
        let event = InboundEvent::parse(body).map_err(ReceiveError::BadRequest)?;
        let status = match RoutedEvent::parse(&event, now.date_naive()) {
            None => EventStatus::Ignored,
            Some(parsed) => {
                if !source.may_send(&event.event_type) {
                    let allowed = if source.event_types.is_empty() {
                        String::from("no routed type (it lists none)")
                    } else {
                        source.event_types.join(", ")
                    };
                    return Err(ReceiveError::Forbidden(format!(
                        "source {source_id} may send {allowed}, not {}",
                        event.event_type
                    )));
                }
                parsed.map_err(|errors| {
                    ReceiveError::BadRequest(format!(
                        "invalid {} event: {}",
                        event.event_type,
                        errors.summary()
                    ))
                })?;
                EventStatus::Received
            }
        };
        let mut stored =
            StoredEvent::new(source_id, &event.id, &event.event_type, text, status, now);
        if let Some(earlier) = self.store.record_event(&stored).await? {
            if earlier.body_sha256 != stored.body_sha256 {
                return Err(ReceiveError::Conflict(Conflict::already_exists(format!(
                    "event {} was received before with another body",
                    event.id
                ))));
            }
            if earlier.status != EventStatus::Received {
                return Ok((Receipt::Duplicate, event.id));
            }
            // Stored by an earlier delivery whose queueing failed: queue it now, as received then.
            stored = earlier;
        } else if status == EventStatus::Ignored {
            tracing::info!(source = source_id, event_id = %event.id, event_type = %event.event_type, "unknown event type stored and ignored");
            return Ok((Receipt::Ignored, event.id));
        }
        queue(
            &self.store,
            &self.publisher,
            &self.events_queue_url,
            &stored,
            now,
        )
        .await?;
        Ok((Receipt::Queued, event.id))
    }
}

/// Queues a stored event for webhook-route and marks it queued.
async fn queue(
    store: &DynamoStore,
    publisher: &SqsPublisher,
    queue_url: &str,
    event: &StoredEvent,
    now: DateTime<Utc>,
) -> Result<(), ServiceError> {
    let message = Envelope::new(
        format!("webhook:{}:{}", event.source, event.event_id),
        WebhookReceived {
            source: event.source.clone(),
            event_id: event.event_id.clone(),
        },
        now,
    );
    publisher.publish(queue_url, &[message]).await?;
    let queued = StoredEvent {
        status: EventStatus::Queued,
        ..event.clone()
    };
    match store.update_event(&queued, &[EventStatus::Received]).await {
        // Already applied by the router: it only moves forward.
        Ok(()) | Err(StoreError::Conflict(_)) => Ok(()),
        Err(err) => Err(err.into()),
    }
}

/// Vendor staff, in the order their refusal names them.
const SOURCE_READERS: [Role; 2] = [Role::VendorAdmin, Role::ChannelManager];

/// An event as admins see it: no body.
#[derive(Debug, Clone, Serialize)]
pub struct EventView {
    pub event_id: String,
    pub event_type: String,
    pub status: EventStatus,
    pub received_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub processed_at: Option<DateTime<Utc>>,
}

impl From<StoredEvent> for EventView {
    fn from(event: StoredEvent) -> Self {
        Self {
            event_id: event.event_id,
            event_type: event.event_type,
            status: event.status,
            received_at: event.received_at,
            outcome: event.outcome,
            processed_at: event.processed_at,
        }
    }
}

/// How long an event may stay stored but unqueued before the sweep queues it: longer than a
/// receiving request lasts, so that the sweep never races the request that stored it.
pub const UNQUEUED_GRACE_MINUTES: i64 = 5;

/// Routes queued events to the workflows (webhook-route).
pub struct WebhookRouter {
    pub store: DynamoStore,
    pub publisher: SqsPublisher,
    /// `WEBHOOK_EVENTS_QUEUE_URL`, for the sweep.
    pub events_queue_url: String,
    pub deals: DealService,
    pub onboarding: OnboardingService,
    pub inventory: InventoryService,
}

/// What an event came to.
enum Applied {
    Done(String),
    Refused(String),
}

impl WebhookRouter {
    pub async fn from_env() -> Result<Self, ConfigError> {
        let events_queue_url = config::required("WEBHOOK_EVENTS_QUEUE_URL")?;
        let sdk = crate::aws::load_config().await;
        Ok(Self {
            store: DynamoStore::from_env(&sdk)?,
            publisher: SqsPublisher::new(crate::aws::sqs(&sdk)),
            events_queue_url,
            deals: DealService::from_env_with(&sdk)?,
            onboarding: OnboardingService::from_env_with(&sdk)?,
            inventory: InventoryService::from_env_with(&sdk)?,
        })
    }

    /// Applies a queued event once: an event already applied or refused is left alone. A
    /// refusal by its workflow (an unknown partner, a conflicting change) is recorded on the
    /// event; a failure of storage or queues is returned, and the message is retried.
    pub async fn route(
        &self,
        message: &WebhookReceived,
        now: DateTime<Utc>,
    ) -> Result<EventStatus, WebhookError> {
        let Some(mut stored) = self.store.event(&message.source, &message.event_id).await? else {
            tracing::warn!(source = %message.source, event_id = %message.event_id, "queued event not found (expired?)");
            return Ok(EventStatus::Ignored);
        };
        if !matches!(stored.status, EventStatus::Received | EventStatus::Queued) {
            return Ok(stored.status);
        }
        let applied = match InboundEvent::parse(stored.body.as_bytes()) {
            Err(why) => Applied::Refused(why),
            Ok(event) => match RoutedEvent::parse(&event, stored.received_at.date_naive()) {
                None => Applied::Refused(format!("{} is not a routed type", event.event_type)),
                Some(Err(errors)) => Applied::Refused(errors.to_string()),
                Some(Ok(routed)) => {
                    let actor = format!("webhook:{}:{}", stored.source, stored.event_id);
                    // A sender's clock may run ahead: never later than the event was received,
                    // or one event dated in the future would freeze its SKUs.
                    let as_of = event
                        .occurred_at
                        .map_or(stored.received_at, |at| at.min(stored.received_at));
                    self.apply(routed, &actor, as_of, now).await?
                }
            },
        };
        let (status, outcome) = match applied {
            Applied::Done(what) => (EventStatus::Applied, what),
            Applied::Refused(why) => (EventStatus::Rejected, why),
        };
        tracing::info!(source = %stored.source, event_id = %stored.event_id, event_type = %stored.event_type, ?status, %outcome, "webhook event routed");
        stored.status = status;
        stored.outcome = Some(outcome);
        stored.processed_at = Some(now);
        match self
            .store
            .update_event(&stored, &[EventStatus::Received, EventStatus::Queued])
            .await
        {
            // A concurrent copy of the message recorded it first: the workflows' own checks
            // made the second application a no-op.
            Ok(()) | Err(StoreError::Conflict(_)) => Ok(status),
            Err(err) => Err(err.into()),
        }
    }

    /// The schedule's sweep: queues events stored more than [`UNQUEUED_GRACE_MINUTES`] ago but
    /// never queued (the queue failed, and the sender did not retry). Returns how many.
    pub async fn queue_stranded(&self, now: DateTime<Utc>) -> Result<usize, WebhookError> {
        let before = now - Duration::minutes(UNQUEUED_GRACE_MINUTES);
        let mut queued = 0;
        loop {
            let stranded = self.store.unqueued_events(before, 100).await?;
            for event in &stranded {
                queue(
                    &self.store,
                    &self.publisher,
                    &self.events_queue_url,
                    event,
                    now,
                )
                .await?;
                tracing::warn!(source = %event.source, event_id = %event.event_id, "stored event queued by the sweep");
            }
            queued += stranded.len();
            if stranded.len() < 100 {
                return Ok(queued);
            }
        }
    }

    async fn apply(
        &self,
        routed: RoutedEvent,
        actor: &str,
        as_of: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Applied, WebhookError> {
        match routed {
            RoutedEvent::CatalogUpdated(update) => {
                let written = self.store.put_entries_as_of(&update.skus, as_of).await?;
                Ok(Applied::Done(format!(
                    "{written} of {} catalog entries written (newer states kept)",
                    update.skus.len()
                )))
            }
            RoutedEvent::PriceChanged(change) => refused_by_workflow(
                self.inventory
                    .create_price_change(change, actor, now)
                    .await
                    .map(|(created, change)| {
                        if created {
                            format!("price change {} recorded", change.id)
                        } else {
                            format!("price change {} was recorded before", change.id)
                        }
                    }),
            ),
            RoutedEvent::TrainingCompleted(training) => refused_by_workflow(
                self.onboarding
                    .record_training(
                        &training.partner_id,
                        &TrainingRequest {
                            course: training.course.clone(),
                            completed_on: training.completed_on,
                        },
                        actor,
                        now,
                    )
                    .await
                    .map(|()| {
                        format!(
                            "course {} recorded for {}",
                            training.course.trim(),
                            training.partner_id
                        )
                    }),
            ),
            RoutedEvent::OpportunityUpdated(update) => {
                let Some(end) = update.end() else {
                    return Ok(Applied::Done(format!(
                        "stage {:?} does not end deal {}",
                        update.stage, update.deal_id
                    )));
                };
                match self
                    .deals
                    .flow()
                    .record_crm_outcome(&update.deal_id, end == OpportunityEnd::Won, actor, now)
                    .await
                {
                    Ok(deal) => Ok(Applied::Done(format!(
                        "deal {} is {}",
                        deal.id, deal.status
                    ))),
                    Err(DealError::Store(StoreError::NotFound(what))) => {
                        Ok(Applied::Refused(format!("{what} not found")))
                    }
                    Err(DealError::Store(err)) => Err(err.into()),
                    Err(DealError::Publish(err)) => Err(err.into()),
                    Err(refused) => Ok(Applied::Refused(refused.to_string())),
                }
            }
            RoutedEvent::ShipmentCreated(shipment) => refused_by_workflow(
                self.inventory
                    .record_shipments(std::slice::from_ref(&shipment), now)
                    .await
                    .map(|summary| {
                        if summary.recorded > 0 {
                            format!("shipment {} recorded", shipment.id)
                        } else {
                            format!("shipment {} was recorded before", shipment.id)
                        }
                    }),
            ),
        }
    }
}

/// A workflow's refusal (invalid, forbidden, unknown, conflicting) is the event's outcome;
/// storage and queue failures are returned for a retry.
fn refused_by_workflow(result: Result<String, ServiceError>) -> Result<Applied, WebhookError> {
    match result {
        Ok(done) => Ok(Applied::Done(done)),
        Err(
            err @ (ServiceError::Invalid(_)
            | ServiceError::Forbidden(_)
            | ServiceError::NotFound(_)
            | ServiceError::Conflict(_)
            | ServiceError::Store(StoreError::NotFound(_))),
        ) => Ok(Applied::Refused(err.to_string())),
        Err(err) => Err(err),
    }
}
