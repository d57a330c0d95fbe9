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

use crate::domain::{Conflict, Principal, Role, ValidationErrors};
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

/// Channel managers and vendor admins: who decides on claims and onboarding steps.
pub(crate) const MANAGERS: [Role; 2] = [Role::ChannelManager, Role::VendorAdmin];

/// Refuses a caller whose role is not `allowed`, saying who `what` is for.
pub(crate) fn require(
    principal: &Principal,
    allowed: &[Role],
    what: &str,
) -> Result<(), ServiceError> {
    if allowed.contains(&principal.role) {
        Ok(())
    } else {
        let roles: Vec<&str> = allowed.iter().map(Role::as_str).collect();
        Err(ServiceError::Forbidden(format!(
            "{what} is for {}",
            roles.join(" or ")
        )))
    }
}
