//! Workflows: the rules of [`crate::domain`] sequenced with the store ports and messaging, one
//! module per workflow, shared by the functions that serve its triggers.

pub mod claims;
pub mod deals;
pub mod documents;
pub mod held_lines;
pub mod inventory;
pub mod notify;
pub mod onboarding;
pub mod pos;
pub mod rebates;
pub mod webhooks;

use crate::domain::access::Forbidden;
use crate::domain::{Conflict, ValidationErrors};
use crate::messaging::PublishError;
use crate::store::StoreError;

/// What a workflow step can fail with, mapped to HTTP in one place (with every other error, in
/// `http/errors.rs`). Each workflow names it after itself (`ClaimError`, `InventoryError`,
/// `OnboardingError`).
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Invalid(#[from] ValidationErrors),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    Conflict(Conflict),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Publish(#[from] PublishError),
    #[error("documents bucket: {0}")]
    Documents(String),
}

impl From<Forbidden> for ServiceError {
    fn from(refused: Forbidden) -> Self {
        ServiceError::Forbidden(refused.0)
    }
}
