//! Channel inventory: stock reports into snapshots and alert states (inventory-alerts, from the
//! stock queue), sell-through totals from the same queue's sales messages, the staleness sweep,
//! price protection, and what inventory-api reads and records (thresholds, shipments,
//! reconciliation, price changes, credits). Rules are in [`crate::domain::inventory`].
//!
//! Notifications are decided in the same write as the state change that causes them (the
//! record's outbox), sent under ids derived from that write, and only then removed: a crash in
//! between sends them again under the same ids, never loses them.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Days, NaiveDate, Utc};
use futures_util::{StreamExt, TryStreamExt, stream};
use serde::Serialize;

use crate::config::{self, ConfigError};
use crate::domain::inventory::{
    AlertEvent, AlertTrack, Limits, MAX_SHIPMENTS_PER_REQUEST, PriceChange, PriceChangeRequest,
    PriceChangeStatus, ProtectionCredit, Reconciliation, Shipment, StockState, Threshold,
    check_thresholds, evaluate, reconcile, stock_at, trailing_weeks, weeks_of_supply,
};
use crate::domain::pos::InventoryLine;
use crate::domain::rebate::Period;
use crate::domain::{Conflict, PartnerId, PartnerKind, PriceChangeId, ValidationErrors};
use crate::messaging::messages::{
    InventoryNotification, PriceChangeDue, PriceProtectionNotification, SalesReported,
    StockReported,
};
use crate::messaging::{Envelope, SqsPublisher};
use crate::store::{
    Catalog, DynamoStore, Flow, FlowDelta, InventoryStore, Partners, PendingNotice, SellOutWeek,
    ShipmentOutcome, StockKey, StockRecord, StoreError,
};

#[derive(Debug, Clone)]
pub struct InventorySettings {
    pub notifications_queue_url: String,
    /// Where due price changes are queued for processing (the stock queue).
    pub stock_queue_url: String,
    /// Days after which a snapshot is stale when its threshold does not say.
    pub default_stale_days: u32,
    /// Days within which an alert state entered again is not announced again.
    pub quiet_days: u32,
    /// Days after its effective date that a price change is credited: distributors' snapshots
    /// as of that date arrive the next day or so.
    pub price_protection_delay_days: u32,
}

impl InventorySettings {
    /// `NOTIFICATIONS_QUEUE_URL`, `POS_STOCK_QUEUE_URL`, `INVENTORY_STALE_DAYS` (7),
    /// `INVENTORY_ALERT_QUIET_DAYS` (7), `PRICE_PROTECTION_DELAY_DAYS` (1).
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            notifications_queue_url: config::required("NOTIFICATIONS_QUEUE_URL")?,
            stock_queue_url: config::required("POS_STOCK_QUEUE_URL")?,
            default_stale_days: config::optional("INVENTORY_STALE_DAYS")?.unwrap_or(7),
            quiet_days: config::optional("INVENTORY_ALERT_QUIET_DAYS")?.unwrap_or(7),
            price_protection_delay_days: config::optional("PRICE_PROTECTION_DELAY_DAYS")?
                .unwrap_or(1),
        })
    }
}

pub type InventoryError = super::ServiceError;

/// What one stock message did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StockSummary {
    pub lines: usize,
    /// Records whose snapshot or state changed.
    pub updated: usize,
    /// Lines older than the record's snapshot: kept in the history only.
    pub late: usize,
    pub notices: usize,
}

/// What a sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SweepSummary {
    pub distributors: usize,
    pub records: usize,
    pub updated: usize,
    pub notices: usize,
    pub price_changes_queued: usize,
    /// Distributors whose records could not be swept this time (logged).
    pub failed_distributors: usize,
}

/// What processing a price change did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ProtectionSummary {
    pub credits: u32,
    pub already_processed: bool,
    /// Not due yet (effective date plus the delay): left for the sweep on its day.
    pub not_due: bool,
}

/// Writes that lost a race are recomputed from a fresh read, after a jittered wait, up to
/// this many times (as accrual groups are).
const WRITE_ATTEMPTS: u32 = 20;
/// Records of one message written (or SKUs of a reconciliation read) at once.
const WRITE_CONCURRENCY: usize = 8;

/// How one key of a stock message ended; each carries what has notices to send.
enum Settled {
    Written(StockRecord),
    /// Older than the stored snapshot: history only.
    Late(Option<StockRecord>),
    Unchanged(Option<StockRecord>),
}

pub struct InventoryService {
    pub store: DynamoStore,
    pub publisher: SqsPublisher,
    pub settings: InventorySettings,
}

/// The next record for `line`, or `None` when it changes nothing: older than the stored
/// snapshot (a late file never overwrites a newer one) or the same snapshot again.
pub fn next_record(
    stored: Option<&StockRecord>,
    line: &InventoryLine,
    limits: &Limits,
    trailing_units: i64,
    today: NaiveDate,
    quiet_days: u32,
    now: DateTime<Utc>,
) -> Option<StockRecord> {
    if let Some(stored) = stored
        && (line.as_of < stored.as_of
            || (line.as_of == stored.as_of
                && line.on_hand == stored.on_hand
                && line.on_order == stored.on_order))
    {
        return None;
    }
    let weeks = weeks_of_supply(line.on_hand, trailing_units);
    let (state, reason) = evaluate(line.on_hand, weeks, limits, line.as_of, today);
    let mut record = match stored {
        Some(stored) => stored.clone(),
        None => StockRecord {
            key: StockKey {
                distributor: line.distributor.clone(),
                location: line.location.clone(),
                sku: line.sku.clone(),
            },
            as_of: line.as_of,
            on_hand: line.on_hand,
            on_order: line.on_order,
            weeks_of_supply: None,
            state: StockState::Ok,
            track: AlertTrack::default(),
            outbox: Vec::new(),
            updated_at: now,
            revision: 0,
        },
    };
    record.as_of = line.as_of;
    record.on_hand = line.on_hand;
    record.on_order = line.on_order;
    record.weeks_of_supply = weeks;
    record.updated_at = now;
    let events = record
        .track
        .transition(state, &reason, line.as_of, today, quiet_days);
    record.state = record.track.state();
    queue_notices(&mut record, events);
    Some(record)
}

/// The sweep's look at one record on `today`: evaluated again against the limits in force (so
/// a snapshot past its window turns stale, and changed thresholds apply without a new report),
/// and a quietly reopened alert announced once it lasted. `true` when the record changed (its
/// outbox holds the notices).
pub fn sweep_record(
    record: &mut StockRecord,
    limits: &Limits,
    today: NaiveDate,
    quiet_days: u32,
    now: DateTime<Utc>,
) -> bool {
    let before = record.track.clone();
    let mut events = Vec::new();
    let (state, reason) = evaluate(
        record.on_hand,
        record.weeks_of_supply,
        limits,
        record.as_of,
        today,
    );
    if state != record.state {
        events.extend(
            record
                .track
                .transition(state, &reason, today, today, quiet_days),
        );
    }
    events.extend(record.track.announce_lasting(today, quiet_days));
    // A quiet change (a quietly reopened or closed alert) is a change too.
    if record.track == before {
        return false;
    }
    record.state = record.track.state();
    record.updated_at = now;
    queue_notices(record, events);
    true
}

/// Adds `events` to the record's outbox under ids naming the write that decided them.
fn queue_notices(record: &mut StockRecord, events: Vec<AlertEvent>) {
    let revision = record.revision + 1;
    for (n, event) in events.into_iter().enumerate() {
        let (state, now, reason) = match &event {
            AlertEvent::Raised { state, reason } => (*state, None, reason.clone()),
            AlertEvent::Cleared { state, to } => (*state, Some(*to), String::new()),
        };
        let k = &record.key;
        record.outbox.push(PendingNotice {
            id: format!(
                "inventory-alert:{}:{}:{}:{revision}:{n}",
                k.distributor, k.location, k.sku
            ),
            notice: InventoryNotification {
                event: event.name().to_string(),
                distributor: k.distributor.clone(),
                location: k.location.clone(),
                sku: k.sku.clone(),
                state,
                now,
                reason,
                on_hand: record.on_hand,
                weeks_of_supply: record.weeks_of_supply,
                as_of: record.as_of,
            },
        });
    }
}

/// The limits for each distributor and SKU, from the thresholds read for them.
pub fn limits_by_pair(
    thresholds: &[Threshold],
    pairs: &BTreeSet<(PartnerId, String)>,
    default_stale_days: u32,
) -> HashMap<(PartnerId, String), Limits> {
    let defaults: HashMap<&str, &Threshold> = thresholds
        .iter()
        .filter(|t| t.distributor.is_none())
        .map(|t| (t.sku.as_str(), t))
        .collect();
    let overrides: HashMap<(&PartnerId, &str), &Threshold> = thresholds
        .iter()
        .filter_map(|t| t.distributor.as_ref().map(|d| ((d, t.sku.as_str()), t)))
        .collect();
    pairs
        .iter()
        .map(|(d, sku)| {
            let limits = Limits::resolve(
                defaults.get(sku.as_str()).copied(),
                overrides.get(&(d, sku.as_str())).copied(),
                default_stale_days,
            );
            ((d.clone(), sku.clone()), limits)
        })
        .collect()
}

impl InventoryService {
    pub async fn from_env() -> Result<Self, ConfigError> {
        Self::from_env_with(&crate::aws::load_config().await)
    }

    /// With an SDK configuration already loaded: a function driving several workflows loads
    /// one, and its clients share one connection pool.
    pub fn from_env_with(sdk: &aws_config::SdkConfig) -> Result<Self, ConfigError> {
        Ok(Self {
            settings: InventorySettings::from_env()?,
            store: DynamoStore::from_env(sdk)?,
            publisher: SqsPublisher::new(crate::aws::sqs(sdk)),
        })
    }

    /// A stock report: history, then each distributor/location/SKU's record and alerts.
    pub async fn apply_stock(
        &self,
        message: &Envelope<StockReported>,
        now: DateTime<Utc>,
    ) -> Result<StockSummary, InventoryError> {
        let lines = &message.payload.lines;
        self.store.record_snapshots(lines, now).await?;
        // Per key, the newest line of the message (the others are history only).
        let mut newest: BTreeMap<StockKey, &InventoryLine> = BTreeMap::new();
        for line in lines {
            let key = StockKey {
                distributor: line.distributor.clone(),
                location: line.location.clone(),
                sku: line.sku.clone(),
            };
            let entry = newest.entry(key).or_insert(line);
            if line.as_of > entry.as_of {
                *entry = line;
            }
        }
        let pairs: BTreeSet<(PartnerId, String)> = newest
            .keys()
            .map(|k| (k.distributor.clone(), k.sku.clone()))
            .collect();
        let pair_list: Vec<_> = pairs.iter().cloned().collect();
        let thresholds = self.store.thresholds_for(&pair_list).await?;
        let limits = limits_by_pair(&thresholds, &pairs, self.settings.default_stale_days);
        let weeks: BTreeSet<NaiveDate> = newest
            .values()
            .flat_map(|l| trailing_weeks(l.as_of))
            .collect();
        let weeks: Vec<_> = weeks.into_iter().collect();
        let sold = self.store.weekly_sell_out(&pair_list, &weeks).await?;
        let trailing = |line: &InventoryLine| -> i64 {
            trailing_weeks(line.as_of)
                .into_iter()
                .map(|w| {
                    let key: SellOutWeek = (line.distributor.clone(), line.sku.clone(), w);
                    sold.get(&key).copied().unwrap_or(0)
                })
                .sum()
        };

        let keys: Vec<StockKey> = newest.keys().cloned().collect();
        let mut stored = self.store.stock_records(&keys).await?;
        let mut summary = StockSummary {
            lines: lines.len(),
            ..StockSummary::default()
        };
        let work: Vec<_> = newest
            .iter()
            .map(|(key, line)| {
                let limits = limits[&(key.distributor.clone(), key.sku.clone())];
                (key, *line, limits, trailing(line), stored.remove(key))
            })
            .collect();
        let settled: Vec<Settled> = stream::iter(work)
            .map(|(key, line, limits, units, current)| {
                self.settle(key, line, limits, units, current, now)
            })
            .buffer_unordered(WRITE_CONCURRENCY)
            .try_collect()
            .await?;
        let mut to_send = Vec::new();
        for outcome in settled {
            match outcome {
                Settled::Written(record) => {
                    summary.updated += 1;
                    to_send.push(record);
                }
                Settled::Late(leftover) => {
                    summary.late += 1;
                    to_send.extend(leftover);
                }
                Settled::Unchanged(leftover) => to_send.extend(leftover),
            }
        }
        summary.notices = self.send_outboxes(&to_send).await?;
        Ok(summary)
    }

    /// Writes one key's next record, recomputing from a fresh read when another writer got
    /// there first.
    async fn settle(
        &self,
        key: &StockKey,
        line: &InventoryLine,
        limits: Limits,
        units: i64,
        mut current: Option<StockRecord>,
        now: DateTime<Utc>,
    ) -> Result<Settled, InventoryError> {
        let today = now.date_naive();
        for attempt in 0..WRITE_ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(crate::backoff::jittered(5, attempt)).await;
            }
            let Some(next) = next_record(
                current.as_ref(),
                line,
                &limits,
                units,
                today,
                self.settings.quiet_days,
                now,
            ) else {
                let late = current.as_ref().is_some_and(|c| line.as_of < c.as_of);
                // Notices a crash left behind go out now.
                let leftover = current.filter(|c| !c.outbox.is_empty());
                return Ok(if late {
                    Settled::Late(leftover)
                } else {
                    Settled::Unchanged(leftover)
                });
            };
            if self.store.put_stock_record(&next).await? {
                return Ok(Settled::Written(StockRecord {
                    revision: next.revision + 1,
                    ..next
                }));
            }
            current = self
                .store
                .stock_records(std::slice::from_ref(key))
                .await?
                .remove(key);
        }
        Err(StoreError::Unavailable(format!(
            "stock record {} {} {} kept changing",
            key.distributor, key.location, key.sku
        ))
        .into())
    }

    /// Publishes the records' outboxes, then empties them.
    async fn send_outboxes(&self, records: &[StockRecord]) -> Result<usize, InventoryError> {
        let envelopes: Vec<_> = records
            .iter()
            .flat_map(|r| &r.outbox)
            .map(|p| Envelope::new(p.id.clone(), p.notice.clone(), Utc::now()))
            .collect();
        if envelopes.is_empty() {
            return Ok(0);
        }
        self.publisher
            .publish(&self.settings.notifications_queue_url, &envelopes)
            .await?;
        for record in records.iter().filter(|r| !r.outbox.is_empty()) {
            self.store
                .clear_outbox(&record.key, record.revision)
                .await?;
        }
        Ok(envelopes.len())
    }

    /// A sales message: its lines' net units added to day and week totals, once.
    pub async fn apply_sales(
        &self,
        message: &Envelope<SalesReported>,
        now: DateTime<Utc>,
    ) -> Result<usize, InventoryError> {
        // Held lines are sales too: the reseller's name is unmatched, the stock did move.
        let deltas: Vec<FlowDelta> = message
            .payload
            .lines
            .iter()
            .map(|l| FlowDelta {
                distributor: l.distributor.clone(),
                sku: l.sku.clone(),
                day: l.invoice_date,
                units: l.quantity,
            })
            .collect();
        self.store.add_sell_out(&message.id, &deltas, now).await?;
        Ok(deltas.len())
    }

    /// The schedule: stale states for snapshots past their window, quiet alerts that lasted,
    /// notices left behind, and price changes whose day has come.
    pub async fn sweep(&self, now: DateTime<Utc>) -> Result<SweepSummary, InventoryError> {
        let today = now.date_naive();
        let mut summary = SweepSummary::default();
        // Price changes first: they must not wait for a long pass over the stock.
        let due = self
            .store
            .due_price_changes(self.last_due_day(today))
            .await?;
        self.queue_due(&due, now).await?;
        summary.price_changes_queued = due.len();
        for distributor in self.store.inventory_distributors(None).await? {
            summary.distributors += 1;
            // One distributor's failure is logged and retried by the next sweep; the others
            // go on.
            match self.sweep_distributor(&distributor, now).await {
                Ok((records, updated, notices)) => {
                    summary.records += records;
                    summary.updated += updated;
                    summary.notices += notices;
                }
                Err(err) => {
                    tracing::error!(%distributor, error = %err, "sweep of a distributor failed");
                    summary.failed_distributors += 1;
                }
            }
        }
        Ok(summary)
    }

    /// The last effective date that is due on `today`.
    fn last_due_day(&self, today: NaiveDate) -> NaiveDate {
        today - Days::new(u64::from(self.settings.price_protection_delay_days))
    }

    async fn queue_due(
        &self,
        changes: &[PriceChange],
        now: DateTime<Utc>,
    ) -> Result<(), InventoryError> {
        let envelopes: Vec<_> = changes
            .iter()
            .map(|c| {
                Envelope::new(
                    format!("price-change-due:{}", c.id),
                    PriceChangeDue {
                        price_change_id: c.id.clone(),
                    },
                    now,
                )
            })
            .collect();
        if !envelopes.is_empty() {
            self.publisher
                .publish(&self.settings.stock_queue_url, &envelopes)
                .await?;
        }
        Ok(())
    }

    /// One distributor's records swept: (records, updated, notices sent).
    async fn sweep_distributor(
        &self,
        distributor: &PartnerId,
        now: DateTime<Utc>,
    ) -> Result<(usize, usize, usize), InventoryError> {
        let today = now.date_naive();
        let records = self.store.distributor_stock(distributor).await?;
        let count = records.len();
        let pairs: BTreeSet<(PartnerId, String)> = records
            .iter()
            .map(|r| (distributor.clone(), r.key.sku.clone()))
            .collect();
        let pair_list: Vec<_> = pairs.iter().cloned().collect();
        let thresholds = self.store.thresholds_for(&pair_list).await?;
        let limits = limits_by_pair(&thresholds, &pairs, self.settings.default_stale_days);
        let mut to_send = Vec::new();
        let mut changed = Vec::new();
        for mut record in records {
            let limits = limits[&(distributor.clone(), record.key.sku.clone())];
            if sweep_record(&mut record, &limits, today, self.settings.quiet_days, now) {
                changed.push(record);
            } else if !record.outbox.is_empty() {
                to_send.push(record);
            }
        }
        // A lost race means a stock message just wrote the record: the next sweep looks again.
        let written: Vec<Option<StockRecord>> = stream::iter(changed)
            .map(|record| async move {
                let won = self.store.put_stock_record(&record).await?;
                Ok::<_, InventoryError>(won.then(|| StockRecord {
                    revision: record.revision + 1,
                    ..record
                }))
            })
            .buffer_unordered(WRITE_CONCURRENCY)
            .try_collect()
            .await?;
        let written: Vec<StockRecord> = written.into_iter().flatten().collect();
        let updated = written.len();
        to_send.extend(written);
        let notices = self.send_outboxes(&to_send).await?;
        Ok((count, updated, notices))
    }

    /// Credits every distributor that held stock of the SKU at the effective date, once.
    pub async fn process_price_change(
        &self,
        id: &PriceChangeId,
        now: DateTime<Utc>,
    ) -> Result<ProtectionSummary, InventoryError> {
        let mut change = self
            .store
            .price_change(id)
            .await?
            .ok_or_else(|| InventoryError::NotFound(format!("price change {id}")))?;
        if change.status == PriceChangeStatus::Processed {
            return Ok(ProtectionSummary {
                already_processed: true,
                credits: change.credits,
                ..ProtectionSummary::default()
            });
        }
        let request = &change.request;
        if request.effective_date > self.last_due_day(now.date_naive()) {
            return Ok(ProtectionSummary {
                not_due: true,
                ..ProtectionSummary::default()
            });
        }
        // Credits an earlier, interrupted run made stand as made: they are counted and
        // announced again as stored, never recomputed.
        let mut made: HashMap<PartnerId, ProtectionCredit> = self
            .store
            .change_credits(&change.id)
            .await?
            .into_iter()
            .map(|c| (c.distributor.clone(), c))
            .collect();
        let mut credited = Vec::new();
        if request.is_drop() {
            for distributor in self
                .store
                .inventory_distributors(Some(&request.sku))
                .await?
            {
                if let Some(credit) = made.remove(&distributor) {
                    credited.push(credit);
                    continue;
                }
                let history = self
                    .store
                    .snapshot_history(&distributor, &request.sku, request.effective_date)
                    .await?;
                let units = stock_at(&history, request.effective_date).unwrap_or(0);
                let Some(amount) = request.credit(units) else {
                    continue;
                };
                let credit = ProtectionCredit {
                    price_change_id: change.id.clone(),
                    distributor: distributor.clone(),
                    sku: request.sku.clone(),
                    effective_date: request.effective_date,
                    units,
                    old_cost: request.old_cost,
                    new_cost: request.new_cost,
                    credit: amount,
                    created_at: now,
                };
                // A concurrent run may have stored it first: then that one stands.
                let stored = self.store.put_credit(&credit).await?;
                credited.push(stored.unwrap_or(credit));
            }
        }
        credited.extend(made.into_values());
        let credits = credited.len() as u32;
        let notices: Vec<_> = credited
            .into_iter()
            .map(|credit| {
                Envelope::new(
                    format!(
                        "price-protection:{}:{}",
                        credit.price_change_id, credit.distributor
                    ),
                    PriceProtectionNotification {
                        event: "price_protection.credited".into(),
                        price_change_id: credit.price_change_id,
                        distributor: credit.distributor,
                        sku: credit.sku,
                        units: credit.units,
                        credit: credit.credit,
                    },
                    now,
                )
            })
            .collect();
        if !notices.is_empty() {
            self.publisher
                .publish(&self.settings.notifications_queue_url, &notices)
                .await?;
        }
        change.status = PriceChangeStatus::Processed;
        change.processed_at = Some(now);
        change.credits = credits;
        self.store.finish_price_change(&change).await?;
        Ok(ProtectionSummary {
            credits,
            ..ProtectionSummary::default()
        })
    }

    /// `POST /price-changes`: recorded once per SKU and day (`Ok((false, existing))` when the
    /// same change was recorded before; another change of that SKU and day is a conflict), and
    /// queued at once when already due (effective date plus the delay).
    pub async fn create_price_change(
        &self,
        request: PriceChangeRequest,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<(bool, PriceChange), InventoryError> {
        request.check(now.date_naive())?;
        let request = PriceChangeRequest {
            sku: request.sku.trim().to_string(),
            ..request
        };
        self.require_skus(std::iter::once(request.sku.clone()), |_| "sku".into())
            .await?;
        let change = PriceChange {
            id: request.id(),
            request,
            status: PriceChangeStatus::Pending,
            created_by: by.to_string(),
            created_at: now,
            processed_at: None,
            credits: 0,
        };
        let (created, change) = match self.store.create_price_change(&change).await? {
            None => (true, change),
            Some(existing) if existing.request != change.request => {
                return Err(InventoryError::Conflict(Conflict::already_exists(format!(
                    "SKU {} already has a price change effective {} ({}): a SKU's cost changes once a day",
                    change.request.sku, change.request.effective_date, existing.id
                ))));
            }
            Some(existing) => (false, existing),
        };
        // Queued when due; queued again when announced again while pending (the first
        // announcement's message may have been lost after the change was stored).
        let due = change.status == PriceChangeStatus::Pending
            && change.request.effective_date <= self.last_due_day(now.date_naive());
        if due {
            self.queue_due(std::slice::from_ref(&change), now).await?;
        }
        Ok((created, change))
    }

    /// Refuses SKUs the catalog does not know, naming each (`field(i)`).
    async fn require_skus(
        &self,
        skus: impl Iterator<Item = String>,
        field: impl Fn(usize) -> String,
    ) -> Result<(), InventoryError> {
        let skus: Vec<String> = skus.collect();
        let known = self.store.known_skus(&skus).await?;
        let mut errors = ValidationErrors::new();
        for (i, sku) in skus.iter().enumerate() {
            if !known.contains(sku) {
                errors.add(field(i), format!("{sku:?} is not in the vendor's catalog"));
            }
        }
        errors.into_result(()).map_err(Into::into)
    }

    /// `PUT /inventory/thresholds`: every threshold checked (and its SKU and distributor
    /// known) before any is stored.
    pub async fn put_thresholds(
        &self,
        mut thresholds: Vec<Threshold>,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<Threshold>, InventoryError> {
        check_thresholds(&thresholds)?;
        self.require_skus(thresholds.iter().map(|t| t.sku.clone()), |i| {
            format!("thresholds[{i}].sku")
        })
        .await?;
        let mut errors = ValidationErrors::new();
        for (i, t) in thresholds.iter().enumerate() {
            if let Some(d) = &t.distributor
                && !self.is_distributor(d).await?
            {
                errors.add(
                    format!("thresholds[{i}].distributor"),
                    format!("{d} is not a distributor"),
                );
            }
        }
        errors.into_result(())?;
        for t in &mut thresholds {
            t.updated_by = Some(by.to_string());
            t.updated_at = Some(now);
        }
        self.store.put_thresholds(&thresholds).await?;
        Ok(thresholds)
    }

    async fn is_distributor(&self, id: &PartnerId) -> Result<bool, InventoryError> {
        Ok(self
            .store
            .get_partner(id)
            .await?
            .is_some_and(|p| p.kind == PartnerKind::Distributor))
    }

    /// `POST /inventory/shipments`: all or nothing, in one transaction with their sell-in; an
    /// id recorded before with the same numbers is left as it was, with other numbers it
    /// refuses the request by name.
    pub async fn record_shipments(
        &self,
        shipments: &[Shipment],
        now: DateTime<Utc>,
    ) -> Result<ShipmentsSummary, InventoryError> {
        let mut errors = ValidationErrors::new();
        if shipments.is_empty() || shipments.len() > MAX_SHIPMENTS_PER_REQUEST {
            errors.add(
                "shipments",
                format!("1 to {MAX_SHIPMENTS_PER_REQUEST} shipments per request"),
            );
        }
        let mut ids = BTreeSet::new();
        for (i, s) in shipments.iter().enumerate() {
            s.check(&format!("shipments[{i}]."), now.date_naive(), &mut errors);
            if !ids.insert(s.id.as_str()) {
                errors.add(format!("shipments[{i}].id"), "appears twice in the request");
            }
        }
        errors.into_result(())?;
        self.require_skus(shipments.iter().map(|s| s.sku.clone()), |i| {
            format!("shipments[{i}].sku")
        })
        .await?;
        let mut errors = ValidationErrors::new();
        let mut checked: HashMap<&PartnerId, bool> = HashMap::new();
        for (i, s) in shipments.iter().enumerate() {
            let known = match checked.get(&s.distributor) {
                Some(known) => *known,
                None => {
                    let known = self.is_distributor(&s.distributor).await?;
                    checked.insert(&s.distributor, known);
                    known
                }
            };
            if !known {
                errors.add(
                    format!("shipments[{i}].distributor"),
                    format!("{} is not a distributor", s.distributor),
                );
            }
        }
        errors.into_result(())?;
        match self.store.record_shipments(shipments, now).await? {
            ShipmentOutcome::Recorded {
                recorded,
                already_recorded,
            } => Ok(ShipmentsSummary {
                recorded,
                already_recorded,
            }),
            ShipmentOutcome::Conflicting(ids) => {
                Err(InventoryError::Conflict(Conflict::already_exists(format!(
                    "shipments {} were recorded before with other numbers; nothing was recorded",
                    ids.join(", ")
                ))))
            }
        }
    }

    /// `GET /inventory/reconciliation`: per SKU the distributor reported (or `sku`), opening
    /// stock + sell-in - sell-out against the stock reported at the period's end.
    pub async fn reconciliation(
        &self,
        distributor: &PartnerId,
        period: Period,
        sku: Option<&str>,
    ) -> Result<Vec<Reconciliation>, InventoryError> {
        let skus = match sku {
            Some(sku) => vec![sku.to_string()],
            None => self.store.reported_skus(distributor).await?,
        };
        let first = period.first_day();
        let last = period.last_day();
        let opening_day = first.pred_opt().expect("a period starts after year 1");
        // Three queries per SKU, a few SKUs at a time; answered in SKU order.
        let mut lines: Vec<Reconciliation> = stream::iter(skus)
            .map(|sku| async move {
                let history = self.store.snapshot_history(distributor, &sku, last).await?;
                let sell_in = self
                    .store
                    .flow_units(Flow::SellIn, distributor, &sku, first, last)
                    .await?;
                let sell_out = self
                    .store
                    .flow_units(Flow::SellOut, distributor, &sku, first, last)
                    .await?;
                Ok::<_, InventoryError>(reconcile(
                    distributor.clone(),
                    sku,
                    stock_at(&history, opening_day),
                    sell_in,
                    sell_out,
                    stock_at(&history, last),
                ))
            })
            .buffer_unordered(WRITE_CONCURRENCY)
            .try_collect()
            .await?;
        lines.sort_by(|a, b| a.sku.cmp(&b.sku));
        Ok(lines)
    }
}

/// What `POST /inventory/shipments` did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ShipmentsSummary {
    pub recorded: usize,
    /// Recorded before with the same numbers: left as they were.
    pub already_recorded: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    #[test]
    fn the_sweep_keeps_quiet_changes() {
        let line = InventoryLine {
            distributor: PartnerId::generate(),
            location: "main".into(),
            sku: "NW-1".into(),
            on_hand: 5,
            on_order: 0,
            as_of: day("2026-11-03"),
        };
        let low = Limits {
            min_units: Some(10),
            stale_after_days: 7,
            ..Limits::default()
        };
        let now = day("2026-11-03").and_hms_opt(12, 0, 0).unwrap().and_utc();
        // Announced low on the 1st, ok on the 2nd, low again on the 3rd: reopened quietly.
        let mut record = next_record(None, &line, &low, 0, day("2026-11-01"), 7, now).unwrap();
        record
            .track
            .transition(StockState::Ok, "", day("2026-11-02"), day("2026-11-02"), 7);
        record.track.transition(
            StockState::Low,
            "r",
            day("2026-11-03"),
            day("2026-11-03"),
            7,
        );
        record.state = record.track.state();
        record.outbox.clear();
        assert!(!record.track.open.as_ref().unwrap().notified);
        // The threshold is lowered: the sweep finds it ok. Nothing to announce (the reopening
        // never was), but the record changes, so the alert leaves the open list.
        let ok = Limits {
            min_units: Some(1),
            ..low
        };
        assert!(sweep_record(&mut record, &ok, day("2026-11-04"), 7, now));
        assert_eq!(record.state, StockState::Ok);
        assert!(record.outbox.is_empty());
        // Nothing more to do on the next sweep.
        assert!(!sweep_record(&mut record, &ok, day("2026-11-05"), 7, now));
    }
}
