//! The messages functions exchange: one type per event, each with its schema version.

use serde::{Deserialize, Serialize};

use super::envelope::Message;
use crate::domain::deal::DealStatus;
use crate::domain::pos::{FileId, InventoryLine, PosLine};
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

/// Ingestion of a file goes on in another invocation (pos-ingest → ingest queue → pos-ingest):
/// the file was too big for one, or its distributor's lease was taken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PosFileContinue {
    pub file_id: FileId,
}

impl Message for PosFileContinue {
    const TYPE: &'static str = "pos.file.continue";
    const SCHEMA_VERSION: u32 = 1;
}

/// Accepted sales lines of one file (pos-ingest → sales queue → rebate accrual). A line may be
/// sent again after a crash and resume: its key (distributor, invoice, line) makes it unique.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SalesReported {
    pub file_id: FileId,
    pub lines: Vec<PosLine>,
}

impl Message for SalesReported {
    const TYPE: &'static str = "pos.sales";
    const SCHEMA_VERSION: u32 = 1;
}

/// Accepted inventory lines of one file (pos-ingest → stock queue → inventory alerts).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockReported {
    pub file_id: FileId,
    pub lines: Vec<InventoryLine>,
}

impl Message for StockReported {
    const TYPE: &'static str = "pos.stock";
    const SCHEMA_VERSION: u32 = 1;
}

/// A claim was submitted and waits for validation (claim-upload → claim-submitted queue →
/// claim-validate).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimSubmitted {
    pub claim_id: crate::domain::ClaimId,
}

impl Message for ClaimSubmitted {
    const TYPE: &'static str = "claim.submitted";
    const SCHEMA_VERSION: u32 = 1;
}

/// Something happened to a claim that its partner, subscribers and the vendor's ERP hear about
/// (→ notifications queue): `claim.approved`, `claim.needs_review`, `claim.rejected`,
/// `claim.paid` (with the payment reference, for the ERP).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimNotification {
    pub event: String,
    pub claim_id: crate::domain::ClaimId,
    pub partner_id: PartnerId,
    pub fund_id: crate::domain::FundId,
    pub amount: crate::domain::Money,
    pub status: crate::domain::claim::ClaimStatus,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rejections: Vec<crate::domain::claim::Rejection>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_reference: Option<String>,
}

impl Message for ClaimNotification {
    const TYPE: &'static str = "claim.notification";
    const SCHEMA_VERSION: u32 = 1;
}

/// An inventory alert raised or cleared (inventory-alerts → notifications queue):
/// `inventory.alert_raised`, `inventory.alert_cleared`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryNotification {
    pub event: String,
    pub distributor: PartnerId,
    pub location: String,
    pub sku: String,
    /// The state raised, or the state left.
    pub state: crate::domain::inventory::StockState,
    /// For a clear: the state entered instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub now: Option<crate::domain::inventory::StockState>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    pub on_hand: i64,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "rust_decimal::serde::str_option"
    )]
    pub weeks_of_supply: Option<rust_decimal::Decimal>,
    pub as_of: chrono::NaiveDate,
}

impl Message for InventoryNotification {
    const TYPE: &'static str = "inventory.notification";
    const SCHEMA_VERSION: u32 = 1;
}

/// A price change is due for price protection (inventory-api or the sweep → stock queue →
/// inventory-alerts).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriceChangeDue {
    pub price_change_id: crate::domain::PriceChangeId,
}

impl Message for PriceChangeDue {
    const TYPE: &'static str = "price.change_due";
    const SCHEMA_VERSION: u32 = 1;
}

/// A distributor was credited for a cost drop on its stock (→ notifications queue):
/// `price_protection.credited`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriceProtectionNotification {
    pub event: String,
    pub price_change_id: crate::domain::PriceChangeId,
    pub distributor: PartnerId,
    pub sku: String,
    pub units: i64,
    pub credit: crate::domain::Money,
}

impl Message for PriceProtectionNotification {
    const TYPE: &'static str = "price_protection.notification";
    const SCHEMA_VERSION: u32 = 1;
}
