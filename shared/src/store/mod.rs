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
//! | `IDEMPOTENCY#<key>`    | `IDEMPOTENCY` |                     |                    | idempotency record |
//!
//! Access patterns:
//! - authorizer: get an API key by key id (strongly consistent, so a revocation is seen at once);
//! - admin tool: list a principal's keys (gsi1 `PRINCIPAL#<id>`), revoke a key (conditional on active);
//! - every function: get a partner by id; admin: list partners (gsi1 `PARTNERS`, in creation order);
//! - consumers: put/get/complete an idempotency record (conditional writes; `expires_at` is the TTL).

mod api_keys;
pub mod attr;
mod partners;

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

pub use api_keys::ApiKeys;
pub use partners::Partners;

/// The names of the table's key attributes and index, in one place.
pub mod keys {
    pub const PK: &str = "pk";
    pub const SK: &str = "sk";
    pub const GSI1: &str = "gsi1";
    pub const GSI1_PK: &str = "gsi1pk";
    pub const GSI1_SK: &str = "gsi1sk";
    /// The table's TTL attribute (epoch seconds).
    pub const EXPIRES_AT: &str = "expires_at";
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0} not found")]
    NotFound(String),
    /// A conditional write found the record in another state than expected.
    #[error("conflict: {0}")]
    Conflict(String),
    /// A stored record that cannot be read back: a bug or a manual edit, never a client error.
    #[error("stored record {key} is corrupt: {reason}")]
    Corrupt { key: String, reason: String },
    #[error("storage unavailable: {0}")]
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

    pub fn client(&self) -> &aws_sdk_dynamodb::Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }
}

/// True when the error is DynamoDB refusing a conditional write (or a transaction's condition).
pub fn is_condition_failure<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> bool {
    matches!(
        err.as_service_error().and_then(|e| e.code()),
        Some("ConditionalCheckFailedException" | "TransactionCanceledException")
    )
}

/// Maps an SDK error to the store's error, naming what was being done.
pub fn sdk_error<E, R>(doing: &str, err: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    if is_condition_failure(&err) {
        StoreError::Conflict(doing.to_string())
    } else {
        StoreError::Backend(format!("{doing}: {}", DisplayErrorContext(&err)))
    }
}
