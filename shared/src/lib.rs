//! Tributary's shared library.
//!
//! Every function is a thin `main.rs` over this crate. What lives where:
//! - [`domain`]: pure business rules and types (money, ids, principals); no I/O.
//! - [`store`]: ports (traits) for state and their DynamoDB adapters, with the table's access patterns.
//! - [`messaging`]: the SQS message envelope, the batched publisher and the batch-consumer helper.
//! - [`http`]: what every HTTP function shares: the caller from the authorizer, problem+json errors;
//!   [`router`]: one route table per function, keyed by API Gateway route keys; [`paging`]: `limit`
//!   and `cursor` of every listing.
//! - [`workflow`]: the workflows (deal registration, ...) that sequence the rules with I/O.
//! - [`config`], [`aws`], [`telemetry`]: typed environment, one `SdkConfig` per cold start, JSON logs.

pub mod aws;
pub mod backoff;
pub mod config;
pub mod domain;
pub mod formats;
pub mod http;
pub mod messaging;
pub mod outbound;
pub mod paging;
pub mod router;
pub mod store;
pub mod telemetry;
pub mod workflow;

#[cfg(feature = "testing")]
pub mod testing;
