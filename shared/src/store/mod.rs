//! State: the ports (traits) handlers depend on, and their DynamoDB adapter.
//!
//! # The table
//! One DynamoDB table holds every record kind. Its key schema, GSI and TTL attribute are defined
//! in `infra/template.yaml` (resource `Table`); the test harness creates its tables from there.
//!
//! | pk                     | sk            | gsi1pk              | gsi1sk             | record |
//! |------------------------|---------------|---------------------|--------------------|--------|
//! | `PARTNER#<partner id>` | `PROFILE`     | `PARTNERS`          | `<partner id>`     | partner |
//! | `APIKEY#<key id>`      | `APIKEY`      | `PRINCIPAL#<id>`    | `APIKEY#<key id>`  | API key (hash only) |
//! | `SKU#<sku>`            | `SKU`         |                     |                    | catalog entry |
//! | `DEAL#<deal id>`       | `DEAL`        | `PARTNER_DEALS#<partner>` | `<deal id>`  | deal (gsi2: `DEAL_STATUS#<status>` / `<time>#<deal id>`) |
//! | `DEAL#<deal id>`       | `HISTORY#<time>#<version>` |        |                    | one history line of the deal |
//! | `DEALCUST#<customer key>` | `DEAL#<deal id>` |               |                    | conflict index: the deal's claim on a customer |
//! | `DEALLOCK#<customer key>#<sku>` | `LOCK` |                   |                    | the approved deal holding a customer and product |
//! | `DISTPROFILE#<distributor>` | `PROFILE` |                |                    | a distributor's mapping profile (JSON) |
//! | `POSFILE#<file id>`    | `FILE`        | `DIST_FILES#<distributor>` | `<received>#<file id>` | a dropped file's record and checkpoint (gsi2: `POS_FILES` / same) |
//! | `POSFILE#<file id>`    | `REJECTS#<first row>` |             |                    | one chunk's reject-report rows (TTL 30 days) |
//! | `POSLEASE#<distributor>` | `LEASE`     |                     |                    | the invocation ingesting the distributor's files (TTL) |
//! | `POSLINE#<distributor>#<invoice>` | `LINE#<line>` |          |                    | an accepted sale, with the file and row that reported it first |
//! | `INVLINE#<distributor>#<day>#<location>` | `SKU#<sku>` |     |                    | an accepted inventory line, likewise |
//! | (a held `POSLINE`)     |               | `HELD#<distributor>` | `<normalised reseller name>#<pk>#<sk>` | the held-line index; `RELEASING#<distributor>` while a release sends it to accrual |
//! | `RESELLERALIAS#<distributor>` | `<normalised name>` |      |                    | a name the distributor uses for a partner (from a release) |
//! | `PROGRAMS`             | `<program id>#v<version>` |        |                    | one version of an incentive program (JSON) |
//! | `ACCRUAL#<partner>#<period>` | `GROUP#<program>#v<version>` |  |                | the period's figures under a program version (volume, tier, earned, accrued), with a revision |
//! | `ACCRUAL#<partner>#<period>` | `TOTAL#<program>#v<version>` |  |                | the sum of the entries booked in the period |
//! | `ACCRUAL#<partner>#<period>` | `ENTRY#<time>#<program>#v<version>#<period>#<message>#<n>` | | | one ledger entry (append-only) |
//! | `ACCAPPLIED#<partner>#<program>#v<version>#<period>` | `MSG#<message id>` | |   | a sales message was applied to the group (idempotency marker) |
//! | `FUND#<fund id>`       | `FUND`        | `PARTNER_FUNDS#<partner>` | `<fund id>` | a fund: window, expiry, `allocated`, `reserved`, `paid`, `available` as numbers |
//! | `MDFREQ#<request id>`  | `REQUEST`     | `PARTNER_MDF#<partner>` | `<request id>` | an MDF pre-approval request (JSON, version) |
//! | `CLAIM#<claim id>`     | `CLAIM`       | `PARTNER_CLAIMS#<partner>` | `<claim id>` | a claim (JSON, version; gsi2: `CLAIM_STATUS#<status>` / `<updated>#<claim id>`) |
//! | `CLAIM#<claim id>`     | `AUDIT#<time>#<version>` |          |                    | one state change of the claim |
//! | `CLAIMKEY#<hash>`      | `CLAIMKEY`    |                     |                    | the claim holding money for a partner, activity, amount and invoice (duplicates) |
//! | `SDAUTH#<authorisation id>` | `AUTH`   | `DIST_SDAUTH#<distributor>` | `<id>`   | a ship-and-debit authorisation (JSON) and its `remaining_quantity` |
//! | `SDCLAIM#<claim id>`   | `CLAIM`       | `DIST_SDCLAIMS#<distributor>` | `<claim id>` | an accepted ship-and-debit claim |
//! | `SDLINE#<POS line pk>#<sk>` | `SDLINE` |                     |                    | a POS line claimed for ship and debit (once) |
//! | `INVHIST#<distributor>#<sku>` | `<as of>#<location>` |        |                    | one inventory snapshot (history by as-of date) |
//! | `INVSKU#<sku>`         | `DIST#<distributor>` |              |                    | a distributor reports stock of the SKU (price protection) |
//! | `INVDIST#<distributor>` | `DIST`       | `INV_DISTRIBUTORS`  | `<distributor>`    | a distributor that reports inventory (the sweep) |
//! | `INVSTATE#<distributor>` | `<sku>#<location>` | `INV_OPEN_ALERTS` (while an alert is open) | `<since>#<distributor>#<location>#<sku>` | the latest snapshot, weeks of supply, alert state and unsent notices (JSON, revision; gsi2: `INV_OPEN_ALERTS#<distributor>` / same) |
//! | `THRESHOLD#<sku>`      | `DEFAULT` or `DIST#<distributor>` | `THRESHOLDS` | `<sku>#<distributor>` | stock limits for a SKU, or one distributor's override |
//! | `SELLOUT#<distributor>#<sku>` | `DAY#<day>`, `WEEK#<monday>` |  |                  | net units sold (`ADD`) |
//! | `SELLIN#<distributor>#<sku>` | `DAY#<day>` |               |                    | units the vendor shipped (`ADD`) |
//! | `SHIPMENT#<shipment id>` | `SHIPMENT`  |                     |                    | a vendor shipment, recorded once |
//! | `INVAPPLIED#<message id>` | `PART#<n>` |                     |                    | a sales message's sell-out part added (TTL 15 days) |
//! | `PRICECHANGE#<change id>` | `CHANGE`   | `PRICE_CHANGES`     | `<effective>#<id>` | a price change (JSON; gsi2 `PRICE_CHANGES_PENDING` / same while pending) |
//! | `PPCREDIT#<change id>` | `DIST#<distributor>` | `DIST_PPCREDITS#<distributor>` | `<created>#<change>#<distributor>` | a price-protection credit, once (gsi2: `PPCREDITS` / same) |
//! | `INVITE#<token hash>`  | `INVITE`      |                     |                    | an invitation (JSON, `expires_epoch`; `used_by` once used) |
//! | `ONBOARDING#<partner>` | `STATE`       |                     |                    | the onboarding record: application, agreement, documents, trainings, history (JSON, version) |
//! | `TIERHIST#<partner>`   | `<time>`      |                     |                    | one tier change (JSON) |
//! | `PARTNERSALES#<partner>` | `MONTH#<YYYY-MM>#<currency>` |    |                    | the partner's net POS revenue in the month (`ADD`) |
//! | `SALESAPPLIED#<message id>` | `PART#<n>` |                  |                    | a sales message's partner revenue added (TTL 15 days) |
//! | `WHSOURCE#<source id>` | `SOURCE`      | `WEBHOOK_SOURCES`   | `<source id>`      | a webhook source with its secrets (JSON, version) |
//! | `WHEVENT#<source>#<event id>` | `EVENT` | `WHEVENTS#<source>` | `<received>#<event id>` | a received event: raw body, status, outcome (TTL 90 days; gsi2 `WHEVENTS_UNQUEUED` / `<received>#<source>#<id>` until queued) |
//! | `SUBSCRIPTION#<id>`    | `SUBSCRIPTION` | `SUBSCRIPTIONS`    | `<id>`             | a webhook subscription with its secret and status: `active`, `failing`, `disabled` (JSON) |
//! | `SUBSCRIPTION#<id>`    | `DELIVERY#<delivery id>` | `DELIVERIES#<id>` | `<created>#<delivery id>` | one delivery: body, status, attempts, `attempt_count`, `claimed_until` (TTL 30 days) |
//!
//! A deal's gsi2 sort time is its review due time while it waits for a manager, its protection end
//! while approved, and its creation time otherwise: the manager's queue and the expiry sweep are
//! both range queries. Customer keys are `name:<normalised name>` and `domain:<registrable domain>`.
//!
//! Access patterns:
//! - authorizer: get an API key by key id (strongly consistent, so a revocation is seen at once);
//! - admin tool: list a principal's keys (gsi1 `PRINCIPAL#<id>`), revoke a key (conditional on active);
//! - every function: get a partner by id; admin: list partners (gsi1 `PARTNERS`, in creation order);
//! - consumers: no separate idempotency record; each makes a redelivery harmless with a marker or
//!   a condition written in the same transaction as its effect:
//!   - rebate-accrue: `ACCAPPLIED#<group>` / `MSG#<message id>` with the group's figures and
//!     entries, and `SALESAPPLIED#<message id>` / `PART#<n>` with the partner revenue `ADD`s;
//!   - inventory-alerts: `INVAPPLIED#<message id>` / `PART#<n>` with the sell-out `ADD`s;
//!     snapshots conditional on the record's revision (an older one changes nothing); one
//!     `PPCREDIT#` per change and distributor (conditional put);
//!   - claim-validate: acts only on a `submitted` claim, its transition conditional on the version;
//!   - deal-approve: reviews only a `submitted` deal, its transition conditional on the version;
//!   - notify: one `DELIVERY#` per event and subscription (conditional put), each attempt claimed
//!     conditional on `attempt_count`;
//!   - webhook-route: the stored event marked applied or rejected conditional on not being so;
//!     each workflow's write conditional as well (catalog entries on no later `as_of`);
//!   - pos-ingest: a file record once per object version (conditional put), lines stored once
//!     by key, checkpoints conditional on the file record's revision;
//! - deal-submit: check SKUs against the catalog (BatchGetItem); create a deal with its history and
//!   conflict-index entries (one transaction); list a partner's deals (gsi1) or deals by status (gsi2);
//! - deal-approve: find claims on a customer (query `DEALCUST#<key>` per key, never a scan); apply a
//!   transition (one transaction: the deal conditional on its version, a history line, the index
//!   entries, and on approval a lock per customer key and product, conditional on no other holder,
//!   so that two conflicting deals can never both be approved); sweep approved deals by protection
//!   end (gsi2 range query);
//! - pos-ingest: create a file record once per S3 object version (conditional put); take the
//!   distributor's lease (conditional put: absent, expired or ours); look up which lines of a
//!   chunk are stored already (BatchGetItem), store the new ones (BatchWriteItem); checkpoint
//!   (the file record conditional on its revision, with the chunk's rejects, in one transaction);
//!   read the rejects back for the report (query `POSFILE#<id>`, `REJECTS#` prefix);
//! - pos-api: put/get profiles; list file records by distributor (gsi1) or all (gsi2), newest first;
//!   list held lines by distributor and name (gsi1 `HELD#`); release one (conditional on `held`,
//!   moving it to `RELEASING#` until it was sent); put a reseller alias;
//! - rebate-accrue: list program versions (query `PROGRAMS`); read groups' figures and markers
//!   (BatchGetItem); apply a message to a group (one transaction: the marker, conditional on
//!   absence; the figures, conditional on their revision; the booked period's total, `ADD`; the
//!   entries);
//! - claim-upload: create a fund (conditional put), list a partner's funds (gsi1); MDF requests
//!   (conditional on version); create a claim with its first audit line (transaction); list a
//!   partner's claims (gsi1) or claims in a status (gsi2); a transition (transaction: the claim
//!   conditional on its version, an audit line, and the fund's balance moved: a reservation
//!   conditional on `available` covering it; on a rejection the duplicate key released);
//!   ship and debit: read the named POS lines (BatchGetItem), record a claim (transaction: the
//!   claim, the authorisation's units conditional on enough left, each line conditional on not
//!   claimed before);
//! - claim-validate: read the claim, fund and request; the reserving transition also holds the
//!   duplicate key (conditional on no other claim holding it); the sweep: claims left
//!   `submitted` (gsi2 range query on `CLAIM_STATUS#submitted`, whose sort key starts with the
//!   submission time);
//! - rebate-accrue, for co-op programs: the partner's co-op fund credited (`ADD`) in the group's
//!   transaction;
//! - rebate-api: create a program (conditional put); add a version (transaction: the latest
//!   version ended, conditional on nothing superseding it, and the new one); a statement (query
//!   `ACCRUAL#<partner>#<period>`: figures, totals and entries in one partition).
//! - inventory-alerts: store snapshots and reporter markers (BatchWriteItem); read the records,
//!   thresholds and trailing sell-out weeks of a message's keys (BatchGetItem); write each record
//!   conditional on its revision (a late, older snapshot changes nothing); add a sales message's
//!   day and week totals (transactions of 99 `ADD`s, each with a marker conditional on absence);
//!   sweep: list reporters (gsi1), read a distributor's records (query `INVSTATE#`); price
//!   protection: a SKU's reporters (query `INVSKU#`), their history up to the effective date
//!   (range query), a credit per distributor (conditional put), the change marked processed
//!   (conditional on pending); due changes (gsi2 range query);
//! - inventory-api: thresholds (BatchWriteItem; list gsi1), open alerts (gsi1 or gsi2), a
//!   shipment (transaction: the record conditional on absence, the day's sell-in `ADD`),
//!   reconciliation (history, sell-in and sell-out range queries per SKU), price changes
//!   (conditional put; list gsi1), credits (gsi1 or gsi2).
//! - onboarding: create an invitation (conditional put); apply (transaction: the invitation used,
//!   conditional on unused and unexpired; the partner, its onboarding record and its onboarding
//!   key, each conditional on absence); a step (the record conditional on its version, with the
//!   partner conditional on its version when its status or tier changes, and a tier-history line,
//!   in one transaction); the keys of a partner (gsi1 `PRINCIPAL#`) revoked; on deactivation,
//!   the subscriptions the partner made disabled (gsi1 `SUBSCRIPTIONS`, each conditional on the
//!   document read);
//! - onboarding-sweep: partners (gsi1 `PARTNERS`), each one's onboarding record, a partner's
//!   sales of the trailing 12 months (range query);
//! - rebate-accrue, for tiers: a message's partner revenue per month (`ADD`s with a marker per
//!   part, as sell-out totals).
//! - webhook-ingest: sources (get, conditional put, put conditional on version, list gsi1); an
//!   event stored once (conditional put), marked queued (conditional on its status); a source's
//!   latest events (gsi1, newest first);
//! - webhook-route: an event read and marked applied or rejected (conditional on not being so);
//!   catalog entries written conditional on no later `as_of`; the sweep: events stored but not
//!   queued (gsi2 range query);
//! - subscriptions, notify: subscriptions (conditional put, get, delete conditional on existence,
//!   list gsi1, status changes conditional on the document read); the owner partner of each
//!   matching subscription (get, once per owner and notification); a delivery created once per
//!   event and subscription (conditional put); an attempt
//!   claimed (conditional on `attempt_count` and no live claim) and recorded (conditional on
//!   `attempt_count`); a subscription's latest deliveries (gsi1, newest first).

mod api_keys;
pub mod attr;
mod batch;
mod catalog;
mod claims;
mod deals;
mod inventory;
mod onboarding;
mod partners;
mod pos;
mod rebates;
mod totals;
mod webhooks;

use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;

use crate::domain::Conflict;

pub use api_keys::ApiKeys;
pub use batch::WriteCost;
pub use catalog::Catalog;
pub use claims::{
    ClaimTransition, Claims, DuplicateMove, FundMove, PreApprovalMove, ShipDebitOutcome,
    TransitionOutcome,
};
pub use deals::{DealPage, DealQuery, Deals};
pub use inventory::{
    Flow, FlowDelta, InventoryStore, PendingNotice, SellOutWeek, ShipmentOutcome, StockKey,
    StockRecord,
};
pub use onboarding::{ApplyError, OnboardingStore};
pub use partners::Partners;
pub use pos::{FilePage, FirstReport, HeldLine, PosStore, StoredLine};
pub use rebates::{
    GroupView, GroupWrite, LedgerEntry, PeriodLedger, ProgramTotal, Rebates, StoredGroup,
    WriteOutcome, co_op_fund_id,
};
pub use webhooks::{DELIVERY_RETENTION_DAYS, EVENT_RETENTION_DAYS, WebhookStore};

/// The names of the table's key attributes and index, in one place.
pub mod keys {
    pub const PK: &str = "pk";
    pub const SK: &str = "sk";
    pub const GSI1: &str = "gsi1";
    pub const GSI1_PK: &str = "gsi1pk";
    pub const GSI1_SK: &str = "gsi1sk";
    pub const GSI2: &str = "gsi2";
    pub const GSI2_PK: &str = "gsi2pk";
    pub const GSI2_SK: &str = "gsi2sk";
    /// The table's TTL attribute (epoch seconds).
    pub const EXPIRES_AT: &str = "expires_at";
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0} not found")]
    NotFound(String),
    /// A conditional write found the record in another state than expected.
    #[error("conflict: {0}")]
    Conflict(Conflict),
    /// A stored record that cannot be read back: a bug or a manual edit, never a client error.
    #[error("stored record {key} is corrupt: {reason}")]
    Corrupt { key: String, reason: String },
    /// A page cursor that this store did not hand out.
    #[error(
        "the page cursor is not valid: pass the next_cursor of the same listing back unchanged"
    )]
    InvalidCursor,
    /// Throttled, timed out or a server-side fault: the same request may succeed later.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// Refused for good (permissions, a missing table, a malformed request): a bug or a
    /// misconfiguration, never worth retrying as is.
    #[error("storage error: {0}")]
    Backend(String),
}

/// The DynamoDB adapter for every store port.
#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl DynamoStore {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// The store over the table named by `TABLE_NAME`, with a client from `sdk`.
    pub fn from_env(sdk: &aws_config::SdkConfig) -> Result<Self, crate::config::ConfigError> {
        let table = crate::config::CommonConfig::from_env()?.table_name;
        Ok(Self::new(crate::aws::dynamodb(sdk), table))
    }

    /// Every item of a partition (strongly consistent, all pages), optionally only those whose
    /// sort key starts with `sk_prefix`.
    pub(crate) async fn partition(
        &self,
        pk: &str,
        sk_prefix: Option<&str>,
        doing: &str,
    ) -> Result<Vec<attr::Item>, StoreError> {
        let mut query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", attr::s(pk))
            .consistent_read(true);
        if let Some(prefix) = sk_prefix {
            query = query
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":prefix", attr::s(prefix));
        }
        query
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| sdk_error(doing, e))
    }

    /// Every item of an index partition, in sort-key order (`forward`) or reversed.
    pub(crate) async fn index_partition(
        &self,
        index: &str,
        pk_name: &str,
        pk: &str,
        forward: bool,
        doing: &str,
    ) -> Result<Vec<attr::Item>, StoreError> {
        self.client
            .query()
            .table_name(&self.table)
            .index_name(index)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", pk_name)
            .expression_attribute_values(":pk", attr::s(pk))
            .scan_index_forward(forward)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| sdk_error(doing, e))
    }

    /// One item (strongly consistent), or `None`.
    pub(crate) async fn get(
        &self,
        key: attr::Item,
        doing: &str,
    ) -> Result<Option<attr::Item>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error(doing, e))?;
        Ok(output.item)
    }

    /// The JSON document (attribute `doc`) of one item, or `None`: how most records are read.
    pub(crate) async fn get_doc<T: serde::de::DeserializeOwned>(
        &self,
        key: attr::Item,
        doing: &str,
    ) -> Result<Option<T>, StoreError> {
        self.get(key, doing)
            .await?
            .map(|item| attr::Reader::new(&item).json("doc"))
            .transpose()
    }

    pub fn client(&self) -> &aws_sdk_dynamodb::Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }
}

/// True when the error is DynamoDB refusing a conditional write.
pub fn is_condition_failure<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> bool {
    err.as_service_error().and_then(|e| e.code()) == Some("ConditionalCheckFailedException")
}

/// True when a transaction was cancelled because one of its conditions failed. A transaction
/// cancelled for another reason (a concurrent transaction, throttling) is not a conflict.
pub fn is_transaction_condition_failure<R>(err: &SdkError<TransactWriteItemsError, R>) -> bool {
    !failed_conditions(err).is_empty()
}

/// The positions of a cancelled transaction's items whose condition failed: they say which.
pub fn failed_conditions<R>(err: &SdkError<TransactWriteItemsError, R>) -> Vec<usize> {
    match err.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => cancelled
            .cancellation_reasons()
            .iter()
            .enumerate()
            .filter(|(_, reason)| reason.code() == Some("ConditionalCheckFailed"))
            .map(|(i, _)| i)
            .collect(),
        _ => Vec::new(),
    }
}

/// True when a transaction was cancelled because another one on the same items was in flight:
/// the same write may succeed once it is recomputed from a fresh read.
pub fn is_transaction_conflict<R>(err: &SdkError<TransactWriteItemsError, R>) -> bool {
    match err.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => cancelled
            .cancellation_reasons()
            .iter()
            .any(|reason| reason.code() == Some("TransactionConflict")),
        Some(TransactWriteItemsError::TransactionInProgressException(_)) => true,
        _ => false,
    }
}

/// Error codes after which the same request may succeed.
const TRANSIENT_CODES: &[&str] = &[
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "TransactionCanceledException",
    "TransactionConflictException",
    "TransactionInProgressException",
];

/// Maps an SDK error to the store's error, naming what was being done. Callers that expect a
/// condition to fail check [`is_condition_failure`] (or the transaction variant) first.
pub fn sdk_error<E>(doing: &str, err: SdkError<E, HttpResponse>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let transient = match &err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(service) => {
            service.raw().status().is_server_error()
                || err
                    .as_service_error()
                    .and_then(|e| e.code())
                    .is_some_and(|code| TRANSIENT_CODES.contains(&code))
        }
        _ => false,
    };
    let detail = format!("{doing}: {}", DisplayErrorContext(&err));
    if is_condition_failure(&err) {
        // The single writes left to fail their condition here are creations
        // (`attribute_not_exists(pk)`): the others check the failure first.
        StoreError::Conflict(Conflict::already_exists(doing))
    } else if transient {
        StoreError::Unavailable(detail)
    } else {
        StoreError::Backend(detail)
    }
}
