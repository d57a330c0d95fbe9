//! The messages functions exchange: one type per event, each with its schema version.

use serde::{Deserialize, Serialize};

use super::envelope::Message;
use crate::domain::deal::DealStatus;
use crate::domain::{DealId, PartnerId};

/// A deal was registered and waits for review (deal-submit → review queue → deal-approve).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DealSubmitted {
    pub deal_id: DealId,
}

impl Message for DealSubmitted {
    const TYPE: &'static str = "deal.submitted";
    const SCHEMA_VERSION: u32 = 1;
}

/// Something happened to a deal that its partner and subscribers hear about (→ notifications queue).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DealNotification {
    /// `deal.approved`, `deal.rejected`, `deal.expiring`, `deal.expired`, `deal.won`, `deal.lost`.
    pub event: String,
    pub deal_id: DealId,
    pub partner_id: PartnerId,
    pub status: DealStatus,
    pub end_customer: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl Message for DealNotification {
    const TYPE: &'static str = "deal.notification";
    const SCHEMA_VERSION: u32 = 1;
}
