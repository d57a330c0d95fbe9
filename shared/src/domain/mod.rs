//! Pure business rules and types: no AWS, no I/O, no async.

pub mod access;
pub mod catalog;
pub mod claim;
pub mod conflict;
pub mod deal;
pub mod ids;
pub mod inventory;
pub mod money;
pub mod onboarding;
pub mod partner;
pub mod pos;
pub mod rebate;
pub mod validation;
pub mod webhook;

pub use access::{ApiKey, ApiKeyRecord, Denied, KeyStatus, Principal, Role};
pub use conflict::{Conflict, ConflictKind};
pub use ids::{
    AuthorizationId, ClaimId, DealId, FundId, KeyId, MdfRequestId, PartnerId, PriceChangeId,
    ProgramId, SubscriptionId,
};
pub use money::{Currency, Money};
pub use partner::{Partner, PartnerKind, PartnerStatus};
pub use validation::{FieldError, ValidationErrors};
