//! Webhook state: inbound sources (with their secrets) and the events they sent, outbound
//! subscriptions (with theirs) and each delivery's attempts. Every record is a JSON document
//! (`doc`) with the numbers its conditional writes test beside it.

use std::future::Future;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Duration, Utc};

use super::attr::{self, Item, Reader};
use super::keys::{EXPIRES_AT, GSI1, GSI1_PK, GSI1_SK, GSI2, GSI2_PK, GSI2_SK, PK, SK};
use super::{DynamoStore, StoreError, is_condition_failure, sdk_error};
use crate::domain::webhook::{
    Delivery, EventStatus, StoredEvent, Subscription, SubscriptionStatus, WebhookSource,
};
use crate::domain::{Conflict, PartnerId, SubscriptionId};

/// How long a received event (and so its id's deduplication) is kept.
pub const EVENT_RETENTION_DAYS: i64 = 90;
/// How long a delivery and its attempts are kept.
pub const DELIVERY_RETENTION_DAYS: i64 = 30;

pub trait WebhookStore {
    /// Stores a new source; `Conflict` when the id is taken.
    fn create_source(
        &self,
        source: &WebhookSource,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn source(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<Option<WebhookSource>, StoreError>> + Send;

    fn sources(&self) -> impl Future<Output = Result<Vec<WebhookSource>, StoreError>> + Send;

    /// Writes the source conditional on its stored version being `source.version` (then
    /// bumps it).
    fn save_source(
        &self,
        source: &WebhookSource,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Stores an event once per source and id: `None` when stored, the earlier one otherwise.
    fn record_event(
        &self,
        event: &StoredEvent,
    ) -> impl Future<Output = Result<Option<StoredEvent>, StoreError>> + Send;

    fn event(
        &self,
        source: &str,
        event_id: &str,
    ) -> impl Future<Output = Result<Option<StoredEvent>, StoreError>> + Send;

    /// Moves an event from `from` to `event.status` (with its outcome); `Conflict` when it
    /// was not in `from`.
    fn update_event(
        &self,
        event: &StoredEvent,
        from: &[EventStatus],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Events stored but not queued since before `before` (their queueing failed and their
    /// sender did not retry), oldest first, at most `limit`.
    fn unqueued_events(
        &self,
        before: DateTime<Utc>,
        limit: i32,
    ) -> impl Future<Output = Result<Vec<StoredEvent>, StoreError>> + Send;

    /// A source's latest events, newest first.
    fn recent_events(
        &self,
        source: &str,
        limit: i32,
    ) -> impl Future<Output = Result<Vec<StoredEvent>, StoreError>> + Send;

    fn create_subscription(
        &self,
        subscription: &Subscription,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn subscription(
        &self,
        id: &SubscriptionId,
    ) -> impl Future<Output = Result<Option<Subscription>, StoreError>> + Send;

    fn subscriptions(&self) -> impl Future<Output = Result<Vec<Subscription>, StoreError>> + Send;

    /// Removes a subscription; `NotFound` when there is none. Its deliveries stay until they
    /// expire.
    fn delete_subscription(
        &self,
        id: &SubscriptionId,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Marks a subscription failing (since `now`) or active again; nothing when it is already
    /// so, disabled, or gone.
    fn set_subscription_status(
        &self,
        id: &SubscriptionId,
        status: SubscriptionStatus,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Disables every subscription `partner` made for its own events (it was deactivated),
    /// each with a write conditional on the document read; returns how many it disabled (none
    /// on a repeated call). The subscriptions and their deliveries are kept.
    fn disable_partner_subscriptions(
        &self,
        partner: &PartnerId,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<usize, StoreError>> + Send;

    /// Stores a new delivery: `None` when stored, the earlier one with that id otherwise.
    fn create_delivery(
        &self,
        delivery: &Delivery,
    ) -> impl Future<Output = Result<Option<Delivery>, StoreError>> + Send;

    fn delivery(
        &self,
        subscription: &SubscriptionId,
        id: &str,
    ) -> impl Future<Output = Result<Option<Delivery>, StoreError>> + Send;

    /// Takes the next attempt of a delivery having `attempts_before` attempts, until `until`:
    /// `Ok(false)` when another copy of the message holds it (or made it).
    fn claim_attempt(
        &self,
        delivery: &Delivery,
        attempts_before: usize,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Writes a delivery (releasing its claim) conditional on it having `attempts_before`
    /// attempts stored: a concurrent copy of the same attempt gets `Conflict`.
    fn save_delivery(
        &self,
        delivery: &Delivery,
        attempts_before: usize,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// A subscription's latest deliveries, newest event first.
    fn recent_deliveries(
        &self,
        subscription: &SubscriptionId,
        limit: i32,
    ) -> impl Future<Output = Result<Vec<Delivery>, StoreError>> + Send;
}

fn key(pk: String, sk: &str) -> Item {
    Item::from([(PK.to_string(), attr::s(pk)), (SK.to_string(), attr::s(sk))])
}

fn source_key(id: &str) -> Item {
    key(format!("WHSOURCE#{id}"), "SOURCE")
}

fn event_key(source: &str, event_id: &str) -> Item {
    key(format!("WHEVENT#{source}#{event_id}"), "EVENT")
}

fn subscription_key(id: &SubscriptionId) -> Item {
    key(format!("SUBSCRIPTION#{id}"), "SUBSCRIPTION")
}

fn delivery_key(subscription: &SubscriptionId, id: &str) -> Item {
    key(
        format!("SUBSCRIPTION#{subscription}"),
        &format!("DELIVERY#{id}"),
    )
}

fn doc_item<T: serde::Serialize>(
    mut item: Item,
    value: &T,
    what: &str,
) -> Result<Item, StoreError> {
    let doc = serde_json::to_string(value)
        .map_err(|e| StoreError::Backend(format!("{what} does not serialise: {e}")))?;
    item.insert("doc".into(), attr::s(doc));
    Ok(item)
}

fn expires(at: DateTime<Utc>, days: i64) -> AttributeValue {
    attr::n((at + Duration::days(days)).timestamp())
}

fn docs<T: serde::de::DeserializeOwned>(items: &[Item]) -> Result<Vec<T>, StoreError> {
    items
        .iter()
        .map(|item| Reader::new(item).json("doc"))
        .collect()
}

impl DynamoStore {
    /// Puts `item` unless its key exists: `Ok(false)` when it did.
    async fn put_if_absent(&self, item: Item, doing: &str) -> Result<bool, StoreError> {
        match self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(err) if is_condition_failure(&err) => Ok(false),
            Err(err) => Err(sdk_error(doing, err)),
        }
    }

    /// Puts `item` if the stored `attribute` equals `expected`: `Ok(false)` when it did not.
    async fn put_if_equal(
        &self,
        item: Item,
        attribute: &str,
        expected: AttributeValue,
        doing: &str,
    ) -> Result<bool, StoreError> {
        match self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("#a = :expected")
            .expression_attribute_names("#a", attribute)
            .expression_attribute_values(":expected", expected)
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(err) if is_condition_failure(&err) => Ok(false),
            Err(err) => Err(sdk_error(doing, err)),
        }
    }

    /// Applies `change` to a subscription (read, changed, written conditional on the document
    /// read: a concurrent change is read again); `Ok(false)` when `change` changed nothing or
    /// the subscription is gone.
    async fn update_subscription(
        &self,
        id: &SubscriptionId,
        mut change: impl FnMut(&mut Subscription) -> bool + Send,
    ) -> Result<bool, StoreError> {
        for _ in 0..5 {
            let Some(item) = self
                .get(subscription_key(id), "reading a subscription")
                .await?
            else {
                return Ok(false);
            };
            let reader = Reader::new(&item);
            let mut subscription: Subscription = reader.json("doc")?;
            if !change(&mut subscription) {
                return Ok(false);
            }
            let mut next = doc_item(subscription_key(id), &subscription, "subscription")?;
            next.insert(GSI1_PK.into(), attr::s("SUBSCRIPTIONS"));
            next.insert(GSI1_SK.into(), attr::s(id.as_str()));
            let before = attr::s(reader.str("doc")?);
            if self
                .put_if_equal(next, "doc", before, "updating a subscription")
                .await?
            {
                return Ok(true);
            }
        }
        Err(StoreError::Conflict(Conflict::stale_version(format!(
            "subscription {id} kept changing; it was not updated"
        ))))
    }

    /// The newest `limit` items of an index partition.
    async fn newest(
        &self,
        index: &str,
        pk_name: &str,
        pk: String,
        limit: i32,
        doing: &str,
    ) -> Result<Vec<Item>, StoreError> {
        self.client
            .query()
            .table_name(&self.table)
            .index_name(index)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", pk_name)
            .expression_attribute_values(":pk", attr::s(pk))
            .scan_index_forward(false)
            .limit(limit)
            .send()
            .await
            .map(|out| out.items.unwrap_or_default())
            .map_err(|e| sdk_error(doing, e))
    }
}

impl WebhookStore for DynamoStore {
    async fn create_source(&self, source: &WebhookSource) -> Result<(), StoreError> {
        let mut stored = source.clone();
        stored.version = 1;
        let mut item = doc_item(source_key(&source.id), &stored, "webhook source")?;
        item.insert(GSI1_PK.into(), attr::s("WEBHOOK_SOURCES"));
        item.insert(GSI1_SK.into(), attr::s(&source.id));
        item.insert("version".into(), attr::n(1));
        if self
            .put_if_absent(item, "creating a webhook source")
            .await?
        {
            Ok(())
        } else {
            Err(StoreError::Conflict(Conflict::already_exists(format!(
                "webhook source {} exists already",
                source.id
            ))))
        }
    }

    async fn source(&self, id: &str) -> Result<Option<WebhookSource>, StoreError> {
        self.get_doc(source_key(id), "reading a webhook source")
            .await
    }

    async fn sources(&self) -> Result<Vec<WebhookSource>, StoreError> {
        let items = self
            .index_partition(
                GSI1,
                GSI1_PK,
                "WEBHOOK_SOURCES",
                true,
                "listing webhook sources",
            )
            .await?;
        docs(&items)
    }

    async fn save_source(&self, source: &WebhookSource) -> Result<(), StoreError> {
        let mut next = source.clone();
        next.version += 1;
        let mut item = doc_item(source_key(&source.id), &next, "webhook source")?;
        item.insert(GSI1_PK.into(), attr::s("WEBHOOK_SOURCES"));
        item.insert(GSI1_SK.into(), attr::s(&source.id));
        item.insert("version".into(), attr::n(next.version));
        let saved = self
            .put_if_equal(
                item,
                "version",
                attr::n(source.version),
                "saving a webhook source",
            )
            .await?;
        if saved {
            Ok(())
        } else {
            Err(StoreError::Conflict(Conflict::stale_version(format!(
                "webhook source {} changed meanwhile; retry",
                source.id
            ))))
        }
    }

    async fn record_event(&self, event: &StoredEvent) -> Result<Option<StoredEvent>, StoreError> {
        let mut item = doc_item(
            event_key(&event.source, &event.event_id),
            &without_body(event),
            "event",
        )?;
        item.insert("body".into(), attr::s(&event.body));
        if event.status == EventStatus::Received {
            // Indexed until queued, for the sweep.
            item.insert(GSI2_PK.into(), attr::s("WHEVENTS_UNQUEUED"));
            item.insert(
                GSI2_SK.into(),
                attr::s(format!(
                    "{}#{}#{}",
                    attr::time_text(event.received_at),
                    event.source,
                    event.event_id
                )),
            );
        }
        item.insert("status".into(), attr::s(status_text(event.status)));
        item.insert(
            GSI1_PK.into(),
            attr::s(format!("WHEVENTS#{}", event.source)),
        );
        item.insert(
            GSI1_SK.into(),
            attr::s(format!(
                "{}#{}",
                attr::time_text(event.received_at),
                event.event_id
            )),
        );
        item.insert(
            EXPIRES_AT.into(),
            expires(event.received_at, EVENT_RETENTION_DAYS),
        );
        if self
            .put_if_absent(item, "recording a webhook event")
            .await?
        {
            return Ok(None);
        }
        self.event(&event.source, &event.event_id)
            .await?
            .map(Some)
            .ok_or_else(|| {
                StoreError::Conflict(Conflict::stale_version(format!(
                    "event {} changed meanwhile",
                    event.event_id
                )))
            })
    }

    async fn event(&self, source: &str, event_id: &str) -> Result<Option<StoredEvent>, StoreError> {
        self.get(event_key(source, event_id), "reading a webhook event")
            .await?
            .map(|item| read_event(&item))
            .transpose()
    }

    async fn update_event(
        &self,
        event: &StoredEvent,
        from: &[EventStatus],
    ) -> Result<(), StoreError> {
        let doc = serde_json::to_string(&without_body(event))
            .map_err(|e| StoreError::Backend(format!("event does not serialise: {e}")))?;
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(event_key(&event.source, &event.event_id)))
            .update_expression("SET #doc = :doc, #status = :status REMOVE gsi2pk, gsi2sk")
            .expression_attribute_names("#doc", "doc")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":doc", attr::s(doc))
            .expression_attribute_values(":status", attr::s(status_text(event.status)));
        let mut allowed = Vec::new();
        for (i, status) in from.iter().enumerate() {
            let name = format!(":from{i}");
            update = update.expression_attribute_values(&name, attr::s(status_text(*status)));
            allowed.push(name);
        }
        update = update.condition_expression(format!("#status IN ({})", allowed.join(", ")));
        match update.send().await {
            Ok(_) => Ok(()),
            Err(err) if is_condition_failure(&err) => {
                Err(StoreError::Conflict(Conflict::stale_version(format!(
                    "event {} of {} is no longer {:?}",
                    event.event_id, event.source, from
                ))))
            }
            Err(err) => Err(sdk_error("updating a webhook event", err)),
        }
    }

    async fn unqueued_events(
        &self,
        before: DateTime<Utc>,
        limit: i32,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(GSI2)
            .key_condition_expression("#pk = :pk AND #sk < :before")
            .expression_attribute_names("#pk", GSI2_PK)
            .expression_attribute_names("#sk", GSI2_SK)
            .expression_attribute_values(":pk", attr::s("WHEVENTS_UNQUEUED"))
            .expression_attribute_values(":before", attr::s(attr::time_text(before)))
            .limit(limit)
            .send()
            .await
            .map_err(|e| sdk_error("listing unqueued webhook events", e))?;
        output
            .items
            .unwrap_or_default()
            .iter()
            .map(read_event)
            .collect()
    }

    async fn recent_events(
        &self,
        source: &str,
        limit: i32,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        // Documents only: bodies (up to 256 KiB each) would fill the 1 MB page.
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(GSI1)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", GSI1_PK)
            .expression_attribute_names("#doc", "doc")
            .expression_attribute_values(":pk", attr::s(format!("WHEVENTS#{source}")))
            .projection_expression("#doc")
            .scan_index_forward(false)
            .limit(limit)
            .send()
            .await
            .map_err(|e| sdk_error("listing webhook events", e))?;
        docs(&output.items.unwrap_or_default())
    }

    async fn create_subscription(&self, subscription: &Subscription) -> Result<(), StoreError> {
        let mut item = doc_item(
            subscription_key(&subscription.id),
            subscription,
            "subscription",
        )?;
        item.insert(GSI1_PK.into(), attr::s("SUBSCRIPTIONS"));
        item.insert(GSI1_SK.into(), attr::s(subscription.id.as_str()));
        if self.put_if_absent(item, "creating a subscription").await? {
            Ok(())
        } else {
            Err(StoreError::Conflict(Conflict::already_exists(format!(
                "subscription {} exists already",
                subscription.id
            ))))
        }
    }

    async fn subscription(&self, id: &SubscriptionId) -> Result<Option<Subscription>, StoreError> {
        self.get_doc(subscription_key(id), "reading a subscription")
            .await
    }

    async fn subscriptions(&self) -> Result<Vec<Subscription>, StoreError> {
        let items = self
            .index_partition(
                GSI1,
                GSI1_PK,
                "SUBSCRIPTIONS",
                true,
                "listing subscriptions",
            )
            .await?;
        docs(&items)
    }

    async fn delete_subscription(&self, id: &SubscriptionId) -> Result<(), StoreError> {
        match self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(subscription_key(id)))
            .condition_expression("attribute_exists(pk)")
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(err) if is_condition_failure(&err) => {
                Err(StoreError::NotFound(format!("subscription {id}")))
            }
            Err(err) => Err(sdk_error("deleting a subscription", err)),
        }
    }

    async fn set_subscription_status(
        &self,
        id: &SubscriptionId,
        status: SubscriptionStatus,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.update_subscription(id, |s| s.mark(status, now))
            .await
            .map(|_| ())
    }

    async fn disable_partner_subscriptions(
        &self,
        partner: &PartnerId,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let mut disabled = 0;
        for subscription in self.subscriptions().await? {
            if subscription.owner_partner() == Some(partner)
                && subscription.status != SubscriptionStatus::Disabled
                && self
                    .update_subscription(&subscription.id, |s| s.disable(now))
                    .await?
            {
                disabled += 1;
            }
        }
        Ok(disabled)
    }

    async fn create_delivery(&self, delivery: &Delivery) -> Result<Option<Delivery>, StoreError> {
        let mut item = doc_item(
            delivery_key(&delivery.subscription_id, &delivery.id),
            delivery,
            "delivery",
        )?;
        item.insert("attempt_count".into(), attr::n(delivery.attempts.len()));
        index_delivery(&mut item, delivery);
        item.insert(
            EXPIRES_AT.into(),
            expires(delivery.created_at, DELIVERY_RETENTION_DAYS),
        );
        if self.put_if_absent(item, "creating a delivery").await? {
            return Ok(None);
        }
        self.delivery(&delivery.subscription_id, &delivery.id)
            .await?
            .map(Some)
            .ok_or_else(|| {
                StoreError::Conflict(Conflict::stale_version(format!(
                    "delivery {} changed meanwhile",
                    delivery.id
                )))
            })
    }

    async fn delivery(
        &self,
        subscription: &SubscriptionId,
        id: &str,
    ) -> Result<Option<Delivery>, StoreError> {
        self.get_doc(delivery_key(subscription, id), "reading a delivery")
            .await
    }

    async fn claim_attempt(
        &self,
        delivery: &Delivery,
        attempts_before: usize,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let claimed = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(delivery_key(&delivery.subscription_id, &delivery.id)))
            .update_expression("SET claimed_until = :until")
            .condition_expression(
                "attempt_count = :before AND (attribute_not_exists(claimed_until) OR claimed_until < :now)",
            )
            .expression_attribute_values(":until", attr::n(until.timestamp_millis()))
            .expression_attribute_values(":now", attr::n(now.timestamp_millis()))
            .expression_attribute_values(":before", attr::n(attempts_before))
            .send()
            .await;
        match claimed {
            Ok(_) => Ok(true),
            Err(err) if is_condition_failure(&err) => Ok(false),
            Err(err) => Err(sdk_error("claiming a delivery attempt", err)),
        }
    }

    async fn save_delivery(
        &self,
        delivery: &Delivery,
        attempts_before: usize,
    ) -> Result<(), StoreError> {
        let mut item = doc_item(
            delivery_key(&delivery.subscription_id, &delivery.id),
            delivery,
            "delivery",
        )?;
        item.insert("attempt_count".into(), attr::n(delivery.attempts.len()));
        index_delivery(&mut item, delivery);
        item.insert(
            EXPIRES_AT.into(),
            expires(delivery.created_at, DELIVERY_RETENTION_DAYS),
        );
        let saved = self
            .put_if_equal(
                item,
                "attempt_count",
                attr::n(attempts_before),
                "saving a delivery",
            )
            .await?;
        if saved {
            Ok(())
        } else {
            Err(StoreError::Conflict(Conflict::stale_version(format!(
                "delivery {} was attempted meanwhile",
                delivery.id
            ))))
        }
    }

    async fn recent_deliveries(
        &self,
        subscription: &SubscriptionId,
        limit: i32,
    ) -> Result<Vec<Delivery>, StoreError> {
        let items = self
            .newest(
                GSI1,
                GSI1_PK,
                format!("DELIVERIES#{subscription}"),
                limit,
                "listing deliveries",
            )
            .await?;
        docs(&items)
    }
}

/// A subscription's deliveries by creation time (gsi1), for the newest-first listing.
fn index_delivery(item: &mut Item, delivery: &Delivery) {
    item.insert(
        GSI1_PK.into(),
        attr::s(format!("DELIVERIES#{}", delivery.subscription_id)),
    );
    item.insert(
        GSI1_SK.into(),
        attr::s(format!(
            "{}#{}",
            attr::time_text(delivery.created_at),
            delivery.id
        )),
    );
}

fn read_event(item: &Item) -> Result<StoredEvent, StoreError> {
    let reader = Reader::new(item);
    let mut event: StoredEvent = reader.json("doc")?;
    event.body = reader.str("body")?.to_string();
    Ok(event)
}

/// The event's document: its body is an attribute of its own (raw, not escaped into the JSON,
/// so that a 256 KiB body stays well within an item's 400 KB).
fn without_body(event: &StoredEvent) -> StoredEvent {
    StoredEvent {
        body: String::new(),
        ..event.clone()
    }
}

fn status_text(status: EventStatus) -> &'static str {
    match status {
        EventStatus::Received => "received",
        EventStatus::Queued => "queued",
        EventStatus::Ignored => "ignored",
        EventStatus::Applied => "applied",
        EventStatus::Rejected => "rejected",
    }
}
