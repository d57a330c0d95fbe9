//! Channel inventory state: snapshot history, each distributor/location/SKU's latest snapshot
//! with its alert state (and the notifications not yet sent), thresholds, sell-through and
//! sell-in day and week totals, price changes and price-protection credits.

use std::collections::HashMap;
use std::future::Future;

use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use chrono::{DateTime, Days, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::attr::{self, Item, Reader};
use super::keys::{GSI1, GSI1_PK, GSI1_SK, GSI2, GSI2_PK, GSI2_SK, PK, SK};
use super::{DynamoStore, StoreError, failed_conditions, sdk_error};
use crate::domain::PartnerId;
use crate::domain::inventory::{
    AlertTrack, MAX_SHIPMENTS_PER_REQUEST, PriceChange, PriceChangeStatus, ProtectionCredit,
    Shipment, StockState, Threshold,
};
use crate::domain::pos::InventoryLine;
use crate::domain::{PriceChangeId, inventory::OpenAlert};
use crate::messaging::messages::InventoryNotification;

/// Which stock a record is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct StockKey {
    pub distributor: PartnerId,
    pub location: String,
    pub sku: String,
}

/// A notification decided but not yet known to be sent: kept on the record that decided it and
/// sent (again, under the same id) until the send is confirmed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingNotice {
    pub id: String,
    pub notice: InventoryNotification,
}

/// The latest snapshot of one distributor, location and SKU, and its alert state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockRecord {
    #[serde(flatten)]
    pub key: StockKey,
    pub as_of: NaiveDate,
    pub on_hand: i64,
    pub on_order: i64,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "rust_decimal::serde::str_option"
    )]
    pub weeks_of_supply: Option<Decimal>,
    pub state: StockState,
    #[serde(default)]
    pub track: AlertTrack,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outbox: Vec<PendingNotice>,
    pub updated_at: DateTime<Utc>,
    /// 0 before the first write; every write is conditional on the one read.
    #[serde(skip)]
    pub revision: u64,
}

impl StockRecord {
    pub fn open_alert(&self) -> Option<&OpenAlert> {
        self.track.open.as_ref()
    }
}

/// A distributor, a SKU and the Monday of a week.
pub type SellOutWeek = (PartnerId, String, NaiveDate);

/// Sales (net units, by invoice date) or vendor shipments (by ship date) of a distributor's SKU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    SellOut,
    SellIn,
}

/// One day's (and its week's) units of a flow, to add.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct FlowDelta {
    pub distributor: PartnerId,
    pub sku: String,
    pub day: NaiveDate,
    pub units: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShipmentOutcome {
    /// New shipments recorded; those recorded before with the same content left as they were.
    Recorded {
        recorded: usize,
        already_recorded: usize,
    },
    /// These ids were recorded before with other content: nothing was written.
    Conflicting(Vec<String>),
}

pub trait InventoryStore {
    /// The records of `keys` that exist.
    fn stock_records(
        &self,
        keys: &[StockKey],
    ) -> impl Future<Output = Result<HashMap<StockKey, StockRecord>, StoreError>> + Send;

    /// Writes a record conditional on its revision being `record.revision` (absent for 0).
    /// `Ok(false)` when another writer got there first: read again and recompute.
    fn put_stock_record(
        &self,
        record: &StockRecord,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Empties a record's outbox once its notices were sent, unless the record moved on.
    fn clear_outbox(
        &self,
        key: &StockKey,
        revision: u64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Every record of a distributor.
    fn distributor_stock(
        &self,
        distributor: &PartnerId,
    ) -> impl Future<Output = Result<Vec<StockRecord>, StoreError>> + Send;

    /// Records with an open alert: every distributor's, or one's.
    fn open_alerts(
        &self,
        distributor: Option<&PartnerId>,
    ) -> impl Future<Output = Result<Vec<StockRecord>, StoreError>> + Send;

    /// Keeps each line in the history (idempotent puts) and notes who reports which SKU.
    fn record_snapshots(
        &self,
        lines: &[InventoryLine],
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Snapshots of a distributor's SKU as of `until` or up to 400 days earlier: (as of,
    /// location, on hand).
    fn snapshot_history(
        &self,
        distributor: &PartnerId,
        sku: &str,
        until: NaiveDate,
    ) -> impl Future<Output = Result<Vec<(NaiveDate, String, i64)>, StoreError>> + Send;

    /// Distributors that have reported inventory: all, or those reporting `sku`.
    fn inventory_distributors(
        &self,
        sku: Option<&str>,
    ) -> impl Future<Output = Result<Vec<PartnerId>, StoreError>> + Send;

    /// The SKU defaults and distributor overrides that apply to `pairs`.
    fn thresholds_for(
        &self,
        pairs: &[(PartnerId, String)],
    ) -> impl Future<Output = Result<Vec<Threshold>, StoreError>> + Send;

    /// Stores thresholds (at most 100), all or none.
    fn put_thresholds(
        &self,
        thresholds: &[Threshold],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn thresholds(
        &self,
        sku: Option<&str>,
    ) -> impl Future<Output = Result<Vec<Threshold>, StoreError>> + Send;

    /// Net sell-out of each pair in each of the weeks asked (absent: nothing sold that week).
    fn weekly_sell_out(
        &self,
        pairs: &[(PartnerId, String)],
        weeks: &[NaiveDate],
    ) -> impl Future<Output = Result<HashMap<SellOutWeek, i64>, StoreError>> + Send;

    /// Adds one sales message's day and week totals, exactly once per message (see
    /// `totals.rs`).
    fn add_sell_out(
        &self,
        message_id: &str,
        deltas: &[FlowDelta],
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Records shipments (at most [`MAX_SHIPMENTS_PER_REQUEST`]: each is a put plus at most
    /// one update, and a transaction holds 100) and adds them to their days' sell-in, all in
    /// one transaction, each id once.
    fn record_shipments(
        &self,
        shipments: &[Shipment],
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<ShipmentOutcome, StoreError>> + Send;

    /// Units of a flow of a distributor's SKU from `from` to `to`, both included.
    fn flow_units(
        &self,
        flow: Flow,
        distributor: &PartnerId,
        sku: &str,
        from: NaiveDate,
        to: NaiveDate,
    ) -> impl Future<Output = Result<i64, StoreError>> + Send;

    /// SKUs a distributor has reported stock of.
    fn reported_skus(
        &self,
        distributor: &PartnerId,
    ) -> impl Future<Output = Result<Vec<String>, StoreError>> + Send;

    /// Stores a new price change; `Some(existing)` (nothing written) when its id exists.
    fn create_price_change(
        &self,
        change: &PriceChange,
    ) -> impl Future<Output = Result<Option<PriceChange>, StoreError>> + Send;

    fn price_change(
        &self,
        id: &PriceChangeId,
    ) -> impl Future<Output = Result<Option<PriceChange>, StoreError>> + Send;

    /// Every price change, newest effective date first.
    fn price_changes(&self) -> impl Future<Output = Result<Vec<PriceChange>, StoreError>> + Send;

    /// Pending price changes effective on or before `day`.
    fn due_price_changes(
        &self,
        day: NaiveDate,
    ) -> impl Future<Output = Result<Vec<PriceChange>, StoreError>> + Send;

    /// Marks a pending change processed (conditional on it being pending; `Ok(false)` if not).
    fn finish_price_change(
        &self,
        change: &PriceChange,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Stores a credit once per price change and distributor; `Some(stored)` (nothing
    /// written) when that distributor was credited for the change before.
    fn put_credit(
        &self,
        credit: &ProtectionCredit,
    ) -> impl Future<Output = Result<Option<ProtectionCredit>, StoreError>> + Send;

    /// The credits made for one price change.
    fn change_credits(
        &self,
        id: &PriceChangeId,
    ) -> impl Future<Output = Result<Vec<ProtectionCredit>, StoreError>> + Send;

    /// Credits, newest first: every distributor's or one's.
    fn credits(
        &self,
        distributor: Option<&PartnerId>,
    ) -> impl Future<Output = Result<Vec<ProtectionCredit>, StoreError>> + Send;
}

const OPEN_ALERTS: &str = "INV_OPEN_ALERTS";
const DISTRIBUTORS: &str = "INV_DISTRIBUTORS";
const THRESHOLDS: &str = "THRESHOLDS";
const PRICE_CHANGES: &str = "PRICE_CHANGES";
const PRICE_CHANGES_PENDING: &str = "PRICE_CHANGES_PENDING";
const CREDITS: &str = "PPCREDITS";
/// How far back stock is looked for (price protection, reconciliation): a location silent for
/// longer has no stock worth counting, and the read stays bounded.
const HISTORY_DAYS: u64 = 400;

fn key_item(pk: String, sk: String) -> Item {
    HashMap::from([(PK.to_string(), attr::s(pk)), (SK.to_string(), attr::s(sk))])
}

fn stock_pk(distributor: &PartnerId) -> String {
    format!("INVSTATE#{distributor}")
}

/// `<sku>#<location>`, with `%` and `#` in the SKU escaped: SKUs and locations are free text,
/// and `A#B` at `C` must not be `A` at `B#C`.
fn stock_sk(key: &StockKey) -> String {
    let sku = key.sku.replace('%', "%25").replace('#', "%23");
    format!("{sku}#{}", key.location)
}

fn flow_pk(flow: Flow, distributor: &PartnerId, sku: &str) -> String {
    match flow {
        Flow::SellOut => format!("SELLOUT#{distributor}#{sku}"),
        Flow::SellIn => format!("SELLIN#{distributor}#{sku}"),
    }
}

fn day_sk(day: NaiveDate) -> String {
    format!("DAY#{day}")
}

fn week_sk(week: NaiveDate) -> String {
    format!("WEEK#{week}")
}

fn threshold_key(sku: &str, distributor: Option<&PartnerId>) -> Item {
    key_item(
        format!("THRESHOLD#{sku}"),
        distributor.map_or_else(|| "DEFAULT".to_string(), |d| format!("DIST#{d}")),
    )
}

fn doc<T: Serialize>(value: &T, what: &str) -> Result<AttributeValue, StoreError> {
    serde_json::to_string(value)
        .map(attr::s)
        .map_err(|e| StoreError::Backend(format!("{what} does not serialise: {e}")))
}

fn read_record(item: &Item) -> Result<StockRecord, StoreError> {
    let r = Reader::new(item);
    let mut record: StockRecord = r.json("doc")?;
    record.revision = r.u64("revision")?;
    Ok(record)
}

fn build_error(e: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::Backend(e.to_string())
}

impl DynamoStore {
    /// Items of a partition whose sort keys lie from `from` to `to`, both included.
    async fn sort_range(
        &self,
        pk: &str,
        from: &str,
        to: &str,
        doing: &str,
    ) -> Result<Vec<Item>, StoreError> {
        self.client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND sk BETWEEN :from AND :to")
            .expression_attribute_values(":pk", attr::s(pk))
            .expression_attribute_values(":from", attr::s(from))
            .expression_attribute_values(":to", attr::s(to))
            .consistent_read(true)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| sdk_error(doing, e))
    }
}

impl InventoryStore for DynamoStore {
    async fn stock_records(
        &self,
        keys: &[StockKey],
    ) -> Result<HashMap<StockKey, StockRecord>, StoreError> {
        let mut unique: Vec<&StockKey> = keys.iter().collect();
        unique.sort();
        unique.dedup();
        let items = unique
            .iter()
            .map(|k| key_item(stock_pk(&k.distributor), stock_sk(k)))
            .collect();
        let found = self.batch_get(items, None, "read stock records").await?;
        found
            .iter()
            .map(|item| read_record(item).map(|r| (r.key.clone(), r)))
            .collect()
    }

    async fn put_stock_record(&self, record: &StockRecord) -> Result<bool, StoreError> {
        let mut item = key_item(stock_pk(&record.key.distributor), stock_sk(&record.key));
        item.insert("doc".into(), doc(record, "stock record")?);
        item.insert("revision".into(), attr::n(record.revision + 1));
        if let Some(open) = record.open_alert() {
            let sort = format!(
                "{}#{}#{}#{}",
                open.since, record.key.distributor, record.key.location, record.key.sku
            );
            item.insert(GSI1_PK.into(), attr::s(OPEN_ALERTS));
            item.insert(GSI1_SK.into(), attr::s(sort.clone()));
            item.insert(
                GSI2_PK.into(),
                attr::s(format!("{OPEN_ALERTS}#{}", record.key.distributor)),
            );
            item.insert(GSI2_SK.into(), attr::s(sort));
        }
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item));
        put = if record.revision == 0 {
            put.condition_expression("attribute_not_exists(pk)")
        } else {
            put.condition_expression("revision = :rev")
                .expression_attribute_values(":rev", attr::n(record.revision))
        };
        match put.send().await {
            Ok(_) => Ok(true),
            Err(err) if super::is_condition_failure(&err) => Ok(false),
            Err(err) => Err(sdk_error("write a stock record", err)),
        }
    }

    async fn clear_outbox(&self, key: &StockKey, revision: u64) -> Result<(), StoreError> {
        // Read, empty, write back conditional on the revision: the outbox lives in the doc.
        let mut records = self.stock_records(std::slice::from_ref(key)).await?;
        let Some(mut record) = records.remove(key) else {
            return Ok(());
        };
        if record.revision != revision || record.outbox.is_empty() {
            return Ok(());
        }
        record.outbox.clear();
        // Losing the race is fine: the newer writer carries the outbox on and sends it.
        self.put_stock_record(&record).await.map(|_| ())
    }

    async fn distributor_stock(
        &self,
        distributor: &PartnerId,
    ) -> Result<Vec<StockRecord>, StoreError> {
        self.partition(&stock_pk(distributor), None, "read a distributor's stock")
            .await?
            .iter()
            .map(read_record)
            .collect()
    }

    async fn open_alerts(
        &self,
        distributor: Option<&PartnerId>,
    ) -> Result<Vec<StockRecord>, StoreError> {
        let items = match distributor {
            None => {
                self.index_partition(GSI1, GSI1_PK, OPEN_ALERTS, false, "list open alerts")
                    .await?
            }
            Some(d) => {
                self.index_partition(
                    GSI2,
                    GSI2_PK,
                    &format!("{OPEN_ALERTS}#{d}"),
                    false,
                    "list a distributor's open alerts",
                )
                .await?
            }
        };
        items.iter().map(read_record).collect()
    }

    async fn record_snapshots(
        &self,
        lines: &[InventoryLine],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut items = Vec::with_capacity(lines.len() * 2);
        let mut reporters = std::collections::BTreeSet::new();
        let mut seen = std::collections::HashSet::new();
        for line in lines {
            let pk = format!("INVHIST#{}#{}", line.distributor, line.sku);
            let sk = format!("{}#{}", line.as_of, line.location);
            if !seen.insert((pk.clone(), sk.clone())) {
                continue;
            }
            let mut item = key_item(pk, sk);
            item.insert("location".into(), attr::s(&line.location));
            item.insert("as_of".into(), attr::s(line.as_of.to_string()));
            item.insert("on_hand".into(), attr::n(line.on_hand));
            item.insert("on_order".into(), attr::n(line.on_order));
            items.push(item);
            if reporters.insert((line.sku.clone(), line.distributor.clone())) {
                let mut marker = key_item(
                    format!("INVSKU#{}", line.sku),
                    format!("DIST#{}", line.distributor),
                );
                marker.insert("distributor".into(), attr::s(line.distributor.as_str()));
                items.push(marker);
            }
        }
        self.batch_put(items, 4, "store inventory snapshots")
            .await?;
        let distributors: std::collections::BTreeSet<_> =
            lines.iter().map(|l| &l.distributor).collect();
        for distributor in distributors {
            let mut item = key_item(format!("INVDIST#{distributor}"), "DIST".into());
            item.insert("distributor".into(), attr::s(distributor.as_str()));
            item.insert("last_reported_at".into(), attr::time(now));
            item.insert(GSI1_PK.into(), attr::s(DISTRIBUTORS));
            item.insert(GSI1_SK.into(), attr::s(distributor.as_str()));
            self.client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item))
                .send()
                .await
                .map_err(|e| sdk_error("note an inventory reporter", e))?;
        }
        Ok(())
    }

    async fn snapshot_history(
        &self,
        distributor: &PartnerId,
        sku: &str,
        until: NaiveDate,
    ) -> Result<Vec<(NaiveDate, String, i64)>, StoreError> {
        // `<day>#<location>`: from HISTORY_DAYS before up to the day's last possible location.
        let from = until - Days::new(HISTORY_DAYS);
        let items = self
            .sort_range(
                &format!("INVHIST#{distributor}#{sku}"),
                &from.to_string(),
                &format!("{until}#\u{10ffff}"),
                "read snapshot history",
            )
            .await?;
        items
            .iter()
            .map(|item| {
                let r = Reader::new(item);
                Ok((
                    r.parse("as_of")?,
                    r.str("location")?.to_string(),
                    r.i64("on_hand")?,
                ))
            })
            .collect()
    }

    async fn inventory_distributors(
        &self,
        sku: Option<&str>,
    ) -> Result<Vec<PartnerId>, StoreError> {
        let items = match sku {
            Some(sku) => {
                self.partition(&format!("INVSKU#{sku}"), None, "list a SKU's reporters")
                    .await?
            }
            None => {
                self.index_partition(GSI1, GSI1_PK, DISTRIBUTORS, true, "list reporters")
                    .await?
            }
        };
        items
            .iter()
            .map(|item| Reader::new(item).parse("distributor"))
            .collect()
    }

    async fn thresholds_for(
        &self,
        pairs: &[(PartnerId, String)],
    ) -> Result<Vec<Threshold>, StoreError> {
        let mut keys = std::collections::BTreeSet::new();
        for (distributor, sku) in pairs {
            keys.insert((sku.clone(), None));
            keys.insert((sku.clone(), Some(distributor.clone())));
        }
        let items = keys
            .iter()
            .map(|(sku, d)| threshold_key(sku, d.as_ref()))
            .collect();
        self.batch_get(items, None, "read thresholds")
            .await?
            .iter()
            .map(|item| Reader::new(item).json("doc"))
            .collect()
    }

    async fn put_thresholds(&self, thresholds: &[Threshold]) -> Result<(), StoreError> {
        let mut items = Vec::with_capacity(thresholds.len());
        for t in thresholds {
            let mut item = threshold_key(&t.sku, t.distributor.as_ref());
            item.insert("doc".into(), doc(t, "threshold")?);
            item.insert(GSI1_PK.into(), attr::s(THRESHOLDS));
            item.insert(
                GSI1_SK.into(),
                attr::s(format!(
                    "{}#{}",
                    t.sku,
                    t.distributor.as_ref().map_or("", |d| d.as_str())
                )),
            );
            items.push(item);
        }
        let mut request = self.client.transact_write_items();
        for item in items {
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .build()
                .map_err(build_error)?;
            request = request.transact_items(TransactWriteItem::builder().put(put).build());
        }
        request
            .send()
            .await
            .map_err(|e| sdk_error("store thresholds", e))?;
        Ok(())
    }

    async fn thresholds(&self, sku: Option<&str>) -> Result<Vec<Threshold>, StoreError> {
        let items = match sku {
            Some(sku) => {
                self.partition(&format!("THRESHOLD#{sku}"), None, "read a SKU's thresholds")
                    .await?
            }
            None => {
                self.index_partition(GSI1, GSI1_PK, THRESHOLDS, true, "list thresholds")
                    .await?
            }
        };
        items
            .iter()
            .map(|item| Reader::new(item).json("doc"))
            .collect()
    }

    async fn weekly_sell_out(
        &self,
        pairs: &[(PartnerId, String)],
        weeks: &[NaiveDate],
    ) -> Result<HashMap<SellOutWeek, i64>, StoreError> {
        let mut by_pk = HashMap::new();
        let mut items = Vec::new();
        for pair in pairs {
            let pk = flow_pk(Flow::SellOut, &pair.0, &pair.1);
            if by_pk.insert(pk.clone(), pair.clone()).is_some() {
                continue;
            }
            for week in weeks {
                items.push(key_item(pk.clone(), week_sk(*week)));
            }
        }
        let mut totals = HashMap::new();
        for item in self.batch_get(items, None, "read sell-out weeks").await? {
            let r = Reader::new(&item);
            let week = r
                .str(SK)?
                .strip_prefix("WEEK#")
                .and_then(|w| w.parse().ok());
            if let (Some((distributor, sku)), Some(week)) = (by_pk.get(r.str(PK)?), week) {
                totals.insert((distributor.clone(), sku.clone(), week), r.i64("units")?);
            }
        }
        Ok(totals)
    }

    async fn add_sell_out(
        &self,
        message_id: &str,
        deltas: &[FlowDelta],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let totals = deltas.iter().flat_map(|d| {
            let pk = flow_pk(Flow::SellOut, &d.distributor, &d.sku);
            let week = crate::domain::inventory::week_start(d.day);
            let units = Decimal::from(d.units);
            [
                ((pk.clone(), day_sk(d.day)), units),
                ((pk, week_sk(week)), units),
            ]
        });
        self.add_totals_once("INV", message_id, "units", totals, now)
            .await
    }

    async fn record_shipments(
        &self,
        shipments: &[Shipment],
        now: DateTime<Utc>,
    ) -> Result<ShipmentOutcome, StoreError> {
        assert!(shipments.len() <= MAX_SHIPMENTS_PER_REQUEST);
        let shipment_key = |s: &Shipment| key_item(format!("SHIPMENT#{}", s.id), "SHIPMENT".into());
        let mut pending: Vec<&Shipment> = shipments.iter().collect();
        let mut already_recorded = 0;
        // Each round either writes everything left or finds some ids recorded before.
        for _ in 0..=MAX_SHIPMENTS_PER_REQUEST {
            if pending.is_empty() {
                break;
            }
            let mut request = self.client.transact_write_items();
            for shipment in &pending {
                let mut item = shipment_key(shipment);
                item.insert("doc".into(), doc(shipment, "shipment")?);
                item.insert("recorded_at".into(), attr::time(now));
                let put = Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(item))
                    .condition_expression("attribute_not_exists(pk)")
                    .build()
                    .map_err(build_error)?;
                request = request.transact_items(TransactWriteItem::builder().put(put).build());
            }
            // One update per day's sell-in: a transaction may not name an item twice.
            let mut days: std::collections::BTreeMap<(String, String), i64> = Default::default();
            for s in &pending {
                let pk = flow_pk(Flow::SellIn, &s.distributor, &s.sku);
                *days.entry((pk, day_sk(s.shipped_on))).or_insert(0) += s.quantity;
            }
            for ((pk, sk), units) in days {
                let add = Update::builder()
                    .table_name(&self.table)
                    .set_key(Some(key_item(pk, sk)))
                    .update_expression("ADD units :u")
                    .expression_attribute_values(":u", attr::n(units))
                    .build()
                    .map_err(build_error)?;
                request = request.transact_items(TransactWriteItem::builder().update(add).build());
            }
            let err = match request.send().await {
                Ok(_) => {
                    return Ok(ShipmentOutcome::Recorded {
                        recorded: pending.len(),
                        already_recorded,
                    });
                }
                Err(err) => err,
            };
            let failed = failed_conditions(&err);
            if failed.is_empty() {
                return Err(sdk_error("record shipments", err));
            }
            let existing: Vec<&Shipment> = failed
                .iter()
                .filter_map(|&i| pending.get(i).copied())
                .collect();
            let stored = self
                .batch_get(
                    existing.iter().map(|s| shipment_key(s)).collect(),
                    None,
                    "read shipments",
                )
                .await?;
            let stored: HashMap<String, Shipment> = stored
                .iter()
                .map(|item| {
                    Reader::new(item)
                        .json::<Shipment>("doc")
                        .map(|s| (s.id.clone(), s))
                })
                .collect::<Result<_, _>>()?;
            let conflicting: Vec<String> = existing
                .iter()
                .filter(|s| stored.get(&s.id) != Some(**s))
                .map(|s| s.id.clone())
                .collect();
            if !conflicting.is_empty() {
                return Ok(ShipmentOutcome::Conflicting(conflicting));
            }
            already_recorded += existing.len();
            pending.retain(|s| !stored.contains_key(&s.id));
        }
        Ok(ShipmentOutcome::Recorded {
            recorded: 0,
            already_recorded,
        })
    }

    async fn flow_units(
        &self,
        flow: Flow,
        distributor: &PartnerId,
        sku: &str,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<i64, StoreError> {
        let items = self
            .sort_range(
                &flow_pk(flow, distributor, sku),
                &day_sk(from),
                &day_sk(to),
                "read flow totals",
            )
            .await?;
        items
            .iter()
            .try_fold(0i64, |sum, item| Ok(sum + Reader::new(item).i64("units")?))
    }

    async fn reported_skus(&self, distributor: &PartnerId) -> Result<Vec<String>, StoreError> {
        let mut skus: Vec<String> = self
            .distributor_stock(distributor)
            .await?
            .into_iter()
            .map(|r| r.key.sku)
            .collect();
        skus.sort();
        skus.dedup();
        Ok(skus)
    }

    async fn create_price_change(
        &self,
        change: &PriceChange,
    ) -> Result<Option<PriceChange>, StoreError> {
        let mut item = key_item(format!("PRICECHANGE#{}", change.id), "CHANGE".into());
        let sort = format!("{}#{}", change.request.effective_date, change.id);
        item.insert("doc".into(), doc(change, "price change")?);
        item.insert(GSI1_PK.into(), attr::s(PRICE_CHANGES));
        item.insert(GSI1_SK.into(), attr::s(sort.clone()));
        item.insert(GSI2_PK.into(), attr::s(PRICE_CHANGES_PENDING));
        item.insert(GSI2_SK.into(), attr::s(sort));
        item.insert("status".into(), attr::s("pending"));
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(None),
            Err(err) if super::is_condition_failure(&err) => self.price_change(&change.id).await,
            Err(err) => Err(sdk_error("create a price change", err)),
        }
    }

    async fn price_change(&self, id: &PriceChangeId) -> Result<Option<PriceChange>, StoreError> {
        self.get_doc(
            key_item(format!("PRICECHANGE#{id}"), "CHANGE".into()),
            "read a price change",
        )
        .await
    }

    async fn price_changes(&self) -> Result<Vec<PriceChange>, StoreError> {
        self.index_partition(GSI1, GSI1_PK, PRICE_CHANGES, false, "list price changes")
            .await?
            .iter()
            .map(|item| Reader::new(item).json("doc"))
            .collect()
    }

    async fn due_price_changes(&self, day: NaiveDate) -> Result<Vec<PriceChange>, StoreError> {
        let items = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(GSI2)
            .key_condition_expression("gsi2pk = :pk AND gsi2sk <= :until")
            .expression_attribute_values(":pk", attr::s(PRICE_CHANGES_PENDING))
            .expression_attribute_values(":until", attr::s(format!("{day}#\u{10ffff}")))
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| sdk_error("list due price changes", e))?;
        items
            .iter()
            .map(|item| Reader::new(item).json("doc"))
            .collect()
    }

    async fn finish_price_change(&self, change: &PriceChange) -> Result<bool, StoreError> {
        debug_assert_eq!(change.status, PriceChangeStatus::Processed);
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key_item(
                format!("PRICECHANGE#{}", change.id),
                "CHANGE".into(),
            )))
            .update_expression("SET doc = :doc, #status = :done REMOVE gsi2pk, gsi2sk")
            .condition_expression("#status = :pending")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":doc", doc(change, "price change")?)
            .expression_attribute_values(":done", attr::s("processed"))
            .expression_attribute_values(":pending", attr::s("pending"))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err) if super::is_condition_failure(&err) => Ok(false),
            Err(err) => Err(sdk_error("finish a price change", err)),
        }
    }

    async fn put_credit(
        &self,
        credit: &ProtectionCredit,
    ) -> Result<Option<ProtectionCredit>, StoreError> {
        let key = key_item(
            format!("PPCREDIT#{}", credit.price_change_id),
            format!("DIST#{}", credit.distributor),
        );
        let mut item = key.clone();
        let sort = format!(
            "{}#{}#{}",
            attr::time_text(credit.created_at),
            credit.price_change_id,
            credit.distributor
        );
        item.insert("doc".into(), doc(credit, "credit")?);
        item.insert(
            GSI1_PK.into(),
            attr::s(format!("DIST_PPCREDITS#{}", credit.distributor)),
        );
        item.insert(GSI1_SK.into(), attr::s(sort.clone()));
        item.insert(GSI2_PK.into(), attr::s(CREDITS));
        item.insert(GSI2_SK.into(), attr::s(sort));
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(None),
            Err(err) if super::is_condition_failure(&err) => {
                self.get_doc(key, "read a price-protection credit").await
            }
            Err(err) => Err(sdk_error("store a price-protection credit", err)),
        }
    }

    async fn change_credits(
        &self,
        id: &PriceChangeId,
    ) -> Result<Vec<ProtectionCredit>, StoreError> {
        self.partition(
            &format!("PPCREDIT#{id}"),
            None,
            "read a price change's credits",
        )
        .await?
        .iter()
        .map(|item| Reader::new(item).json("doc"))
        .collect()
    }

    async fn credits(
        &self,
        distributor: Option<&PartnerId>,
    ) -> Result<Vec<ProtectionCredit>, StoreError> {
        let items = match distributor {
            Some(d) => {
                self.index_partition(
                    GSI1,
                    GSI1_PK,
                    &format!("DIST_PPCREDITS#{d}"),
                    false,
                    "list a distributor's credits",
                )
                .await?
            }
            None => {
                self.index_partition(GSI2, GSI2_PK, CREDITS, false, "list credits")
                    .await?
            }
        };
        items
            .iter()
            .map(|item| Reader::new(item).json("doc"))
            .collect()
    }
}
