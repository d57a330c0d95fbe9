//! Deal registrations: the port deal-submit and deal-approve use, and its DynamoDB adapter.
//! The item layout and why it is shaped so are in the module docs of [`crate::store`].

use std::collections::{BTreeSet, HashMap};
use std::future::Future;

use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem, Update};
use chrono::{DateTime, Utc};

use super::attr::{self, Item, Reader};
use super::keys::{GSI1, GSI1_PK, GSI1_SK, GSI2, GSI2_PK, GSI2_SK, PK, SK};
use super::{DynamoStore, StoreError, is_transaction_condition_failure, sdk_error};
use crate::domain::Conflict;
use crate::domain::deal::{CustomerKeys, Deal, DealFacts, DealStatus, HistoryEntry};
use crate::domain::{DealId, Money, PartnerId};

/// Which deals to list, and where the previous page ended.
#[derive(Debug, Clone, Default)]
pub struct DealQuery {
    pub partner: Option<PartnerId>,
    pub status: Option<DealStatus>,
    pub limit: i32,
    /// Opaque, from the previous page's `next_cursor`.
    pub cursor: Option<String>,
}

#[derive(Debug, Clone)]
pub struct DealPage {
    pub deals: Vec<Deal>,
    pub next_cursor: Option<String>,
}

pub trait Deals {
    /// Stores a new deal, its first history line and its conflict-index entries, all or nothing.
    fn create_deal(
        &self,
        deal: &Deal,
        entry: &HistoryEntry,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn get_deal(
        &self,
        id: &DealId,
    ) -> impl Future<Output = Result<Option<(Deal, Vec<HistoryEntry>)>, StoreError>> + Send;

    /// Writes a transition computed from `before`: conditional on `before.version`, with its
    /// history line. Approving takes a lock per customer key and product: if another deal holds
    /// one, nothing is written and the error says so. Leaving `approved` releases the locks.
    fn apply_transition(
        &self,
        before: &Deal,
        after: &Deal,
        entry: &HistoryEntry,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Records that the partner was warned of the coming expiry (conditional on the version).
    fn mark_expiry_warned(
        &self,
        deal: &Deal,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Every deal with a claim on any of `keys`: the conflict lookup (an index query per key).
    fn claims_on(
        &self,
        keys: &CustomerKeys,
    ) -> impl Future<Output = Result<Vec<(DealId, DealFacts)>, StoreError>> + Send;

    fn list_deals(
        &self,
        query: &DealQuery,
    ) -> impl Future<Output = Result<DealPage, StoreError>> + Send;

    /// Deals in `status` whose gsi2 sort time is at or before `until`, oldest first.
    fn deals_due(
        &self,
        status: DealStatus,
        until: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<Deal>, StoreError>> + Send;
}

fn deal_pk(id: &DealId) -> String {
    format!("DEAL#{id}")
}

const DEAL_SK: &str = "DEAL";

/// Fixed-width (nanoseconds) so that times sort as text in keys.
fn ts(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// The gsi2 sort time: when a manager's decision is due, when protection ends, or creation.
fn status_sort_key(deal: &Deal) -> String {
    let time = match deal.status {
        DealStatus::PendingReview => deal.review_due_at,
        DealStatus::Approved => deal.protected_until,
        _ => None,
    }
    .unwrap_or(deal.created_at);
    format!("{}#{}", ts(time), deal.id)
}

fn json_attr<T: serde::Serialize>(value: &T) -> AttributeValue {
    attr::s(serde_json::to_string(value).expect("serialisable"))
}

fn deal_item(deal: &Deal) -> Item {
    let mut item = Item::from([
        (PK.into(), attr::s(deal_pk(&deal.id))),
        (SK.into(), attr::s(DEAL_SK)),
        (
            GSI1_PK.into(),
            attr::s(format!("PARTNER_DEALS#{}", deal.partner_id)),
        ),
        (GSI1_SK.into(), attr::s(deal.id.as_str())),
        ("id".into(), attr::s(deal.id.as_str())),
        ("partner_id".into(), attr::s(deal.partner_id.as_str())),
        ("end_customer".into(), json_attr(&deal.end_customer)),
        ("customer_keys".into(), json_attr(&deal.customer_keys)),
        (
            "products".into(),
            AttributeValue::Ss(deal.products.iter().cloned().collect()),
        ),
        ("value_amount".into(), attr::n(deal.estimated_value.amount)),
        (
            "value_currency".into(),
            attr::s(deal.estimated_value.currency.code()),
        ),
        (
            "expected_close_date".into(),
            attr::s(deal.expected_close_date.to_string()),
        ),
        ("created_at".into(), attr::time(deal.created_at)),
    ]);
    if let Some(notes) = &deal.notes {
        item.insert("notes".into(), attr::s(notes));
    }
    item.extend(mutable_attributes(deal));
    item
}

/// What a transition may change, with the gsi2 keys that follow from it.
fn mutable_attributes(deal: &Deal) -> Vec<(String, AttributeValue)> {
    let optional_time =
        |t: Option<DateTime<Utc>>| t.map(attr::time).unwrap_or(AttributeValue::Null(true));
    vec![
        ("status".into(), attr::s(deal.status.as_str())),
        ("version".into(), attr::n(deal.version)),
        ("updated_at".into(), attr::time(deal.updated_at)),
        ("review_due_at".into(), optional_time(deal.review_due_at)),
        (
            "protected_until".into(),
            optional_time(deal.protected_until),
        ),
        (
            "rejection".into(),
            deal.rejection
                .as_ref()
                .map(json_attr)
                .unwrap_or(AttributeValue::Null(true)),
        ),
        (
            "expiry_warned".into(),
            AttributeValue::Bool(deal.expiry_warned),
        ),
        (
            GSI2_PK.into(),
            attr::s(format!("DEAL_STATUS#{}", deal.status)),
        ),
        (GSI2_SK.into(), attr::s(status_sort_key(deal))),
    ]
}

fn json_field<T: serde::de::DeserializeOwned>(r: &Reader, name: &str) -> Result<T, StoreError> {
    let text = r.str(name)?;
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt {
        key: format!("deal attribute {name}"),
        reason: e.to_string(),
    })
}

fn deal_from_item(item: &Item) -> Result<Deal, StoreError> {
    let r = Reader::new(item);
    let products = match item.get("products") {
        Some(AttributeValue::Ss(list)) => list.iter().cloned().collect(),
        _ => BTreeSet::new(),
    };
    let rejection = match r.opt_str("rejection")? {
        Some(_) => Some(json_field(&r, "rejection")?),
        None => None,
    };
    Ok(Deal {
        id: r.parse("id")?,
        partner_id: r.parse("partner_id")?,
        status: r.parse("status")?,
        end_customer: json_field(&r, "end_customer")?,
        customer_keys: json_field(&r, "customer_keys")?,
        products,
        estimated_value: Money::new(r.decimal("value_amount")?, r.parse("value_currency")?),
        expected_close_date: r.parse("expected_close_date")?,
        notes: r.opt_str("notes")?.map(str::to_string),
        created_at: r.time("created_at")?,
        updated_at: r.time("updated_at")?,
        version: r.u64("version")?,
        review_due_at: r.opt_time("review_due_at")?,
        protected_until: r.opt_time("protected_until")?,
        rejection,
        expiry_warned: matches!(item.get("expiry_warned"), Some(AttributeValue::Bool(true))),
    })
}

fn history_item(deal: &Deal, entry: &HistoryEntry) -> Item {
    let mut item = Item::from([
        (PK.into(), attr::s(deal_pk(&deal.id))),
        (
            SK.into(),
            attr::s(format!("HISTORY#{}#{:06}", ts(entry.at), deal.version)),
        ),
        ("at".into(), attr::time(entry.at)),
        ("actor".into(), attr::s(&entry.actor)),
        ("to".into(), attr::s(entry.to.as_str())),
    ]);
    if let Some(from) = entry.from {
        item.insert("from".into(), attr::s(from.as_str()));
    }
    if let Some(note) = &entry.note {
        item.insert("note".into(), attr::s(note));
    }
    item
}

fn history_from_item(item: &Item) -> Result<HistoryEntry, StoreError> {
    let r = Reader::new(item);
    Ok(HistoryEntry {
        at: r.time("at")?,
        actor: r.str("actor")?.to_string(),
        from: r.opt_parse("from")?,
        to: r.parse("to")?,
        note: r.opt_str("note")?.map(str::to_string),
    })
}

fn index_pk(key: &str) -> String {
    format!("DEALCUST#{key}")
}

fn index_item(deal: &Deal, key: &str) -> Item {
    let mut item = Item::from([
        (PK.into(), attr::s(index_pk(key))),
        (SK.into(), attr::s(deal_pk(&deal.id))),
        ("deal_id".into(), attr::s(deal.id.as_str())),
        ("partner_id".into(), attr::s(deal.partner_id.as_str())),
        ("customer_keys".into(), json_attr(&deal.customer_keys)),
        (
            "products".into(),
            AttributeValue::Ss(deal.products.iter().cloned().collect()),
        ),
    ]);
    item.extend(index_state(deal));
    item
}

fn index_state(deal: &Deal) -> Vec<(String, AttributeValue)> {
    vec![
        ("status".into(), attr::s(deal.status.as_str())),
        (
            "protected_until".into(),
            deal.protected_until
                .map(attr::time)
                .unwrap_or(AttributeValue::Null(true)),
        ),
    ]
}

fn lock_key(key: &str, sku: &str) -> Item {
    Item::from([
        (PK.into(), attr::s(format!("DEALLOCK#{key}#{sku}"))),
        (SK.into(), attr::s("LOCK")),
    ])
}

/// SET clause and values for a list of attributes (names aliased: some are reserved words).
fn set_clause(
    attributes: Vec<(String, AttributeValue)>,
) -> (String, HashMap<String, String>, Item) {
    let mut names = HashMap::new();
    let mut values = Item::new();
    let mut parts = Vec::new();
    for (index, (name, value)) in attributes.into_iter().enumerate() {
        names.insert(format!("#a{index}"), name);
        values.insert(format!(":a{index}"), value);
        parts.push(format!("#a{index} = :a{index}"));
    }
    (format!("SET {}", parts.join(", ")), names, values)
}

impl DynamoStore {
    fn put(&self, item: Item, condition: Option<&str>) -> TransactWriteItem {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .set_condition_expression(condition.map(str::to_string))
            .build()
            .expect("table and item are set");
        TransactWriteItem::builder().put(put).build()
    }

    fn update(
        &self,
        key: Item,
        attributes: Vec<(String, AttributeValue)>,
        condition: Option<(&str, Vec<(&str, AttributeValue)>)>,
    ) -> TransactWriteItem {
        let (expression, names, mut values) = set_clause(attributes);
        let mut update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key))
            .update_expression(expression)
            .set_expression_attribute_names(Some(names));
        if let Some((condition, condition_values)) = condition {
            update = update.condition_expression(condition);
            values.extend(
                condition_values
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v)),
            );
        }
        let update = update
            .set_expression_attribute_values(Some(values))
            .build()
            .expect("table, key and expression are set");
        TransactWriteItem::builder().update(update).build()
    }

    /// Every item under one partition key (strongly consistent).
    async fn transact(
        &self,
        doing: &str,
        items: Vec<TransactWriteItem>,
        describe_failure: impl Fn(usize) -> Conflict,
    ) -> Result<(), StoreError> {
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) if is_transaction_condition_failure(&err) => {
                // Name the first condition that failed: its position says which item it was.
                let failed = super::failed_conditions(&err).first().copied().unwrap_or(0);
                Err(StoreError::Conflict(describe_failure(failed)))
            }
            Err(err) => Err(sdk_error(doing, err)),
        }
    }
}

impl Deals for DynamoStore {
    async fn create_deal(&self, deal: &Deal, entry: &HistoryEntry) -> Result<(), StoreError> {
        let mut items = vec![
            self.put(deal_item(deal), Some("attribute_not_exists(pk)")),
            self.put(history_item(deal, entry), None),
        ];
        for key in deal.customer_keys.index_keys() {
            items.push(self.put(index_item(deal, &key), None));
        }
        self.transact("registering a deal", items, |_| {
            Conflict::already_exists(format!("deal {} already exists", deal.id))
        })
        .await
    }

    async fn get_deal(&self, id: &DealId) -> Result<Option<(Deal, Vec<HistoryEntry>)>, StoreError> {
        let items = self.partition(&deal_pk(id), None, "reading a deal").await?;
        let mut deal = None;
        let mut history = Vec::new();
        for item in &items {
            match item.get(SK) {
                Some(AttributeValue::S(sk)) if sk == DEAL_SK => deal = Some(deal_from_item(item)?),
                Some(AttributeValue::S(sk)) if sk.starts_with("HISTORY#") => {
                    history.push(history_from_item(item)?)
                }
                _ => {}
            }
        }
        Ok(deal.map(|d| (d, history)))
    }

    async fn apply_transition(
        &self,
        before: &Deal,
        after: &Deal,
        entry: &HistoryEntry,
    ) -> Result<(), StoreError> {
        let deal_key = Item::from([
            (PK.into(), attr::s(deal_pk(&before.id))),
            (SK.into(), attr::s(DEAL_SK)),
        ]);
        let mut items = vec![
            self.update(
                deal_key,
                mutable_attributes(after),
                Some((
                    "version = :expected",
                    vec![(":expected", attr::n(before.version))],
                )),
            ),
            self.put(history_item(after, entry), None),
        ];
        let keys = after.customer_keys.index_keys();
        for key in &keys {
            let index_key = Item::from([
                (PK.into(), attr::s(index_pk(key))),
                (SK.into(), attr::s(deal_pk(&after.id))),
            ]);
            items.push(self.update(index_key, index_state(after), None));
        }
        let now = attr::time(entry.at);
        let mut locks = 0;
        if after.status == DealStatus::Approved && before.status != DealStatus::Approved {
            for key in &keys {
                for sku in &after.products {
                    let mut lock = lock_key(key, sku);
                    lock.insert("deal_id".into(), attr::s(after.id.as_str()));
                    lock.insert(
                        "protected_until".into(),
                        after
                            .protected_until
                            .map(attr::time)
                            .unwrap_or(AttributeValue::Null(true)),
                    );
                    let put = Put::builder()
                        .table_name(&self.table)
                        .set_item(Some(lock))
                        // Free, ours, or held by a deal whose protection has run out.
                        .condition_expression(
                            "attribute_not_exists(pk) OR deal_id = :me OR protected_until < :now",
                        )
                        .expression_attribute_values(":me", attr::s(after.id.as_str()))
                        .expression_attribute_values(":now", now.clone())
                        .build()
                        .expect("table and item are set");
                    items.push(TransactWriteItem::builder().put(put).build());
                    locks += 1;
                }
            }
        } else if before.status == DealStatus::Approved && after.status != DealStatus::Approved {
            for key in &keys {
                for sku in &after.products {
                    let delete = Delete::builder()
                        .table_name(&self.table)
                        .set_key(Some(lock_key(key, sku)))
                        .condition_expression("attribute_not_exists(pk) OR deal_id = :me")
                        .expression_attribute_values(":me", attr::s(after.id.as_str()))
                        .build()
                        .expect("table and key are set");
                    items.push(TransactWriteItem::builder().delete(delete).build());
                }
            }
        }
        let first_lock = 2 + keys.len();
        self.transact("changing a deal", items, |failed| {
            if failed >= first_lock && locks > 0 {
                Conflict::lock_held(format!(
                    "another registration for this customer and product is already approved; deal {} cannot be",
                    after.id
                ))
            } else {
                Conflict::stale_version(format!("deal {} changed meanwhile; read it again", after.id))
            }
        })
        .await
    }

    async fn mark_expiry_warned(&self, deal: &Deal) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, attr::s(deal_pk(&deal.id)))
            .key(SK, attr::s(DEAL_SK))
            .update_expression("SET expiry_warned = :yes")
            .condition_expression("version = :version AND #status = :approved")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":yes", AttributeValue::Bool(true))
            .expression_attribute_values(":version", attr::n(deal.version))
            .expression_attribute_values(":approved", attr::s(DealStatus::Approved.as_str()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) if super::is_condition_failure(&err) => Err(StoreError::Conflict(
                Conflict::stale_version(format!("deal {} changed meanwhile", deal.id)),
            )),
            Err(err) => Err(sdk_error("marking a deal warned", err)),
        }
    }

    async fn claims_on(&self, keys: &CustomerKeys) -> Result<Vec<(DealId, DealFacts)>, StoreError> {
        let mut found: HashMap<String, (DealId, DealFacts)> = HashMap::new();
        for key in keys.index_keys() {
            let items = self
                .partition(&index_pk(&key), None, "looking up claims on a customer")
                .await?;
            for item in &items {
                let r = Reader::new(item);
                let id: DealId = r.parse("deal_id")?;
                let products = match item.get("products") {
                    Some(AttributeValue::Ss(list)) => list.iter().cloned().collect(),
                    _ => BTreeSet::new(),
                };
                let facts = DealFacts {
                    partner_id: r.str("partner_id")?.to_string(),
                    customer: json_field(&r, "customer_keys")?,
                    products,
                    status: r.parse("status")?,
                    protected_until: r.opt_time("protected_until")?,
                };
                found.insert(id.to_string(), (id, facts));
            }
        }
        let mut claims: Vec<_> = found.into_values().collect();
        claims.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(claims)
    }

    async fn list_deals(&self, query: &DealQuery) -> Result<DealPage, StoreError> {
        let (index, pk_name, sk_name, partition, ascending) = match (&query.partner, query.status) {
            (Some(partner), _) => (
                GSI1,
                GSI1_PK,
                GSI1_SK,
                format!("PARTNER_DEALS#{partner}"),
                false,
            ),
            // The manager's queue: what is due first comes first.
            (None, Some(status)) => (
                GSI2,
                GSI2_PK,
                GSI2_SK,
                format!("DEAL_STATUS#{status}"),
                true,
            ),
            (None, None) => {
                return Err(StoreError::Backend(
                    "listing every deal needs a status or a partner".into(),
                ));
            }
        };
        // A cursor is taken only from this same query: its index keys, its partition.
        let shape = attr::CursorShape {
            keys: &[PK, SK, pk_name, sk_name],
            partition: (pk_name, &partition),
        };
        let start = query
            .cursor
            .as_deref()
            .map(|cursor| attr::decode_cursor(cursor, &shape))
            .transpose()?;
        let mut request = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(index)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", pk_name)
            .expression_attribute_values(":pk", attr::s(partition))
            .limit(query.limit.clamp(1, 100))
            .scan_index_forward(ascending)
            .set_exclusive_start_key(start);
        if let (Some(_), Some(status)) = (&query.partner, query.status) {
            request = request
                .filter_expression("#status = :status")
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":status", attr::s(status.as_str()));
        }
        let output = request
            .send()
            .await
            .map_err(|e| sdk_error("listing deals", e))?;
        let deals = output
            .items()
            .iter()
            .map(deal_from_item)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(DealPage {
            deals,
            next_cursor: output.last_evaluated_key.as_ref().map(attr::encode_cursor),
        })
    }

    async fn deals_due(
        &self,
        status: DealStatus,
        until: DateTime<Utc>,
    ) -> Result<Vec<Deal>, StoreError> {
        let items = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(GSI2)
            .key_condition_expression("#pk = :pk AND #sk < :until")
            .expression_attribute_names("#pk", GSI2_PK)
            .expression_attribute_names("#sk", GSI2_SK)
            .expression_attribute_values(":pk", attr::s(format!("DEAL_STATUS#{status}")))
            // Sort keys are "<time>#<id>": everything at or before `until` sorts below "<until>$".
            .expression_attribute_values(":until", attr::s(format!("{}$", ts(until))))
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| sdk_error("finding deals due", e))?;
        items.iter().map(deal_from_item).collect()
    }
}

#[cfg(test)]
mod tests;
