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
