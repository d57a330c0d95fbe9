//! Funds and claims (MDF and co-op): what a partner may draw, what it claims, and the checks a
//! claim passes before it reserves money. Pure: the workflow (`workflow::claims`) reads the
//! fund, the documents and the pre-approval, and stores what these rules decide.
//!
//! States: draft → submitted → approved | needs_review | rejected; needs_review → approved |
//! rejected; approved → paid. Every change is audited.

use std::fmt;

use chrono::{DateTime, Days, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::{ClaimId, Currency, FundId, MdfRequestId, Money, PartnerId, ValidationErrors};

/// Proof-of-performance types accepted.
pub const DOCUMENT_TYPES: [&str; 4] = ["application/pdf", "image/jpeg", "image/png", "text/csv"];
/// Documents per claim.
pub const MAX_DOCUMENTS: usize = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FundKind {
    /// Allocated by the vendor (`POST /funds`).
    Mdf,
    /// Credited by rebate accrual from a co-op program.
    CoOp,
}

/// A fund and its balance. `available = allocated - reserved - paid` is kept as a stored
/// figure, because a reservation is a write conditional on it covering the amount.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fund {
    pub id: FundId,
    pub partner_id: PartnerId,
    pub kind: FundKind,
    pub name: String,
    pub currency: Currency,
    /// Activities claimed against the fund must take place within these dates.
    pub starts_on: NaiveDate,
    pub ends_on: NaiveDate,
    /// No claim is accepted after this day.
    pub expires_on: NaiveDate,
    #[serde(with = "rust_decimal::serde::str")]
    pub allocated: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub reserved: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub paid: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub available: Decimal,
}

/// `POST /funds`: MDF for one partner and period.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FundRequest {
    pub partner_id: PartnerId,
    pub name: String,
    pub amount: Money,
    pub starts_on: NaiveDate,
    pub ends_on: NaiveDate,
    pub expires_on: NaiveDate,
}

fn positive_money(errors: &mut ValidationErrors, field: &str, money: &Money) {
    let digits = money.currency.minor_unit_digits();
    if money.amount <= Decimal::ZERO {
        errors.add(field, "must be positive");
    } else if money.amount.normalize().scale() > digits {
        errors.add(
            field,
            format!("at most {digits} decimals in {}", money.currency),
        );
    } else if money.amount > Decimal::from(1_000_000_000_000i64) {
        errors.add(field, "at most 10^12");
    }
}

fn text(errors: &mut ValidationErrors, field: &str, value: &str, max: usize) -> String {
    let value = value.trim();
    if value.is_empty() || value.chars().count() > max || value.chars().any(char::is_control) {
        errors.add(field, format!("1 to {max} characters"));
    }
    value.to_string()
}

fn ordered(errors: &mut ValidationErrors, field: &str, from: NaiveDate, to: NaiveDate) {
    if to < from {
        errors.add(
            field,
            format!("{to} is before {from}: the dates are reversed"),
        );
    }
}

impl FundRequest {
    pub fn into_fund(self) -> Result<Fund, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let name = text(&mut errors, "name", &self.name, 200);
        positive_money(&mut errors, "amount", &self.amount);
        ordered(&mut errors, "ends_on", self.starts_on, self.ends_on);
        if self.expires_on < self.ends_on {
            errors.add("expires_on", "must not be before ends_on");
        }
        errors.into_result(Fund {
            id: FundId::generate(),
            partner_id: self.partner_id,
            kind: FundKind::Mdf,
            name,
            currency: self.amount.currency,
            starts_on: self.starts_on,
            ends_on: self.ends_on,
            expires_on: self.expires_on,
            allocated: self.amount.amount,
            reserved: Decimal::ZERO,
            paid: Decimal::ZERO,
            available: self.amount.amount,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MdfStatus {
    Pending,
    Approved,
    Rejected,
}

/// `POST /mdf-requests`: a partner asks before it spends.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MdfRequestDraft {
    pub fund_id: FundId,
    pub activity_type: String,
    pub starts_on: NaiveDate,
    pub ends_on: NaiveDate,
    pub cost: Money,
    pub requested: Money,
    pub expected_outcome: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MdfRequest {
    pub id: MdfRequestId,
    pub partner_id: PartnerId,
    pub fund_id: FundId,
    pub activity_type: String,
    pub starts_on: NaiveDate,
    pub ends_on: NaiveDate,
    pub cost: Money,
    pub requested: Money,
    pub expected_outcome: String,
    pub status: MdfStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub version: u64,
}

impl MdfRequestDraft {
    pub fn into_request(
        self,
        partner_id: PartnerId,
        now: DateTime<Utc>,
    ) -> Result<MdfRequest, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let activity_type = text(&mut errors, "activity_type", &self.activity_type, 100);
        let expected_outcome = text(
            &mut errors,
            "expected_outcome",
            &self.expected_outcome,
            2000,
        );
        ordered(&mut errors, "ends_on", self.starts_on, self.ends_on);
        positive_money(&mut errors, "cost", &self.cost);
        positive_money(&mut errors, "requested", &self.requested);
        if self.requested.currency != self.cost.currency {
            errors.add("requested", "must be in the cost's currency");
        } else if self.requested.amount > self.cost.amount {
            errors.add("requested", "must not exceed the cost");
        }
        errors.into_result(MdfRequest {
            id: MdfRequestId::generate(),
            partner_id,
            fund_id: self.fund_id,
            activity_type,
            starts_on: self.starts_on,
            ends_on: self.ends_on,
            cost: self.cost,
            requested: self.requested,
            expected_outcome,
            status: MdfStatus::Pending,
            decided_by: None,
            reason: None,
            created_at: now,
            version: 1,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClaimStatus {
    Draft,
    Submitted,
    Approved,
    NeedsReview,
    Rejected,
    Paid,
}

impl ClaimStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            ClaimStatus::Draft => "draft",
            ClaimStatus::Submitted => "submitted",
            ClaimStatus::Approved => "approved",
            ClaimStatus::NeedsReview => "needs_review",
            ClaimStatus::Rejected => "rejected",
            ClaimStatus::Paid => "paid",
        }
    }
}

impl fmt::Display for ClaimStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ClaimStatus {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        serde_json::from_value(serde_json::Value::String(value.to_string()))
            .map_err(|_| format!("unknown claim status {value:?}"))
    }
}

/// A proof-of-performance document as the partner declares it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DocumentDraft {
    pub file_name: String,
    pub content_type: String,
    /// Bytes.
    pub size: u64,
}

/// A declared document and where it is uploaded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Document {
    pub file_name: String,
    pub content_type: String,
    pub size: u64,
    /// The S3 key in the documents bucket.
    pub key: String,
}

/// `POST /claims`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimDraft {
    pub fund_id: FundId,
    pub activity_type: String,
    pub activity_starts_on: NaiveDate,
    pub activity_ends_on: NaiveDate,
    pub amount: Money,
    pub invoice_number: String,
    #[serde(default)]
    pub mdf_request_id: Option<MdfRequestId>,
    pub documents: Vec<DocumentDraft>,
}

/// Why a claim was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectionCode {
    DocumentMissing,
    DocumentInvalid,
    PastDeadline,
    OutsideFundPeriod,
    FundExpired,
    CurrencyMismatch,
    PreApprovalRequired,
    Duplicate,
    InsufficientFunds,
    /// A manager's decision.
    Declined,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejection {
    pub code: RejectionCode,
    pub detail: String,
}

impl Rejection {
    pub fn new(code: RejectionCode, detail: impl Into<String>) -> Self {
        Self {
            code,
            detail: detail.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claim {
    pub id: ClaimId,
    pub partner_id: PartnerId,
    pub fund_id: FundId,
    pub activity_type: String,
    pub activity_starts_on: NaiveDate,
    pub activity_ends_on: NaiveDate,
    pub amount: Money,
    pub invoice_number: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mdf_request_id: Option<MdfRequestId>,
    pub documents: Vec<Document>,
    pub status: ClaimStatus,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rejections: Vec<Rejection>,
    /// True while the amount is held against the fund (approved or waiting for a manager).
    pub reserved: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_reference: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submitted_at: Option<DateTime<Utc>>,
    pub version: u64,
}

/// One state change of a claim, as the audit trail shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub at: DateTime<Utc>,
    pub actor: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<ClaimStatus>,
    pub to: ClaimStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl ClaimDraft {
    /// A draft claim, every fault named. Document keys live under the claim's id.
    pub fn into_claim(
        self,
        partner_id: PartnerId,
        max_document_bytes: u64,
        now: DateTime<Utc>,
    ) -> Result<Claim, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let activity_type = text(&mut errors, "activity_type", &self.activity_type, 100);
        let invoice_number = text(&mut errors, "invoice_number", &self.invoice_number, 64);
        ordered(
            &mut errors,
            "activity_ends_on",
            self.activity_starts_on,
            self.activity_ends_on,
        );
        positive_money(&mut errors, "amount", &self.amount);
        if self.documents.is_empty() || self.documents.len() > MAX_DOCUMENTS {
            errors.add(
                "documents",
                format!("1 to {MAX_DOCUMENTS} proof-of-performance documents"),
            );
        }
        let id = ClaimId::generate();
        let mut documents = Vec::with_capacity(self.documents.len());
        for (i, d) in self.documents.into_iter().enumerate() {
            let field = format!("documents[{i}]");
            let name = text(
                &mut errors,
                &format!("{field}.file_name"),
                &d.file_name,
                200,
            );
            if name.contains('/') || name.contains('\\') {
                errors.add(format!("{field}.file_name"), "a file name, not a path");
            }
            if !DOCUMENT_TYPES.contains(&d.content_type.as_str()) {
                errors.add(
                    format!("{field}.content_type"),
                    format!(
                        "{:?} is not accepted (PDF, JPEG, PNG or CSV: {})",
                        d.content_type,
                        DOCUMENT_TYPES.join(", ")
                    ),
                );
            }
            if d.size == 0 || d.size > max_document_bytes {
                errors.add(
                    format!("{field}.size"),
                    format!("1 to {max_document_bytes} bytes"),
                );
            }
            documents.push(Document {
                key: format!("claims/{id}/{i}-{name}"),
                file_name: name,
                content_type: d.content_type,
                size: d.size,
            });
        }
        errors.into_result(Claim {
            id,
            partner_id,
            fund_id: self.fund_id,
            activity_type,
            activity_starts_on: self.activity_starts_on,
            activity_ends_on: self.activity_ends_on,
            amount: self.amount,
            invoice_number,
            mdf_request_id: self.mdf_request_id,
            documents,
            status: ClaimStatus::Draft,
            rejections: Vec::new(),
            reserved: false,
            payment_reference: None,
            created_at: now,
            updated_at: now,
            submitted_at: None,
            version: 1,
        })
    }
}

impl Claim {
    /// What makes two claims the same claim: partner, activity, amount and invoice.
    pub fn duplicate_key(&self) -> String {
        use sha2::Digest;
        let seed = format!(
            "{}\n{}\n{}\n{}\n{}",
            self.partner_id,
            self.activity_type.to_lowercase(),
            self.amount.amount.normalize(),
            self.amount.currency,
            self.invoice_number.trim().to_uppercase()
        );
        hex::encode(sha2::Sha256::digest(seed.as_bytes()))
    }
}

/// The configurable rules of claim validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimPolicy {
    /// Days after the activity ends within which the claim must be submitted.
    pub deadline_days: u32,
    /// Claims below this amount (same currency) are approved without a manager.
    pub auto_approve_below: Option<Money>,
    /// Claims above this amount (same currency) must reference an approved MDF request.
    pub preapproval_above: Option<Money>,
    pub max_document_bytes: u64,
}

/// A document as found in the bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredObject {
    pub content_type: Option<String>,
    pub size: u64,
}

/// Every check that needs no balance (the store checks duplicates and funds atomically), on a
/// claim submitted at `submitted`. `objects[i]` is what the bucket holds for document `i`.
pub fn check_claim(
    claim: &Claim,
    fund: &Fund,
    request: Option<&MdfRequest>,
    objects: &[Option<StoredObject>],
    policy: &ClaimPolicy,
    submitted: NaiveDate,
) -> Vec<Rejection> {
    use RejectionCode::*;
    let mut found = Vec::new();
    for (document, object) in claim.documents.iter().zip(objects) {
        match object {
            None => found.push(Rejection::new(
                DocumentMissing,
                format!("{} was never uploaded", document.file_name),
            )),
            Some(o) if o.size > policy.max_document_bytes || o.size == 0 => {
                found.push(Rejection::new(
                    DocumentInvalid,
                    format!(
                        "{} is {} bytes (1 to {} allowed)",
                        document.file_name, o.size, policy.max_document_bytes
                    ),
                ))
            }
            Some(o)
                if o.content_type.as_deref() != Some(document.content_type.as_str())
                    || !DOCUMENT_TYPES.contains(&document.content_type.as_str()) =>
            {
                found.push(Rejection::new(
                    DocumentInvalid,
                    format!(
                        "{} was uploaded as {:?}, declared {}",
                        document.file_name,
                        o.content_type.as_deref().unwrap_or("no type"),
                        document.content_type
                    ),
                ))
            }
            Some(_) => {}
        }
    }
    let deadline = claim
        .activity_ends_on
        .checked_add_days(Days::new(u64::from(policy.deadline_days)))
        .unwrap_or(NaiveDate::MAX);
    if submitted > deadline {
        found.push(Rejection::new(
            PastDeadline,
            format!(
                "submitted {submitted}, after the deadline {deadline} ({} days after the activity ended)",
                policy.deadline_days
            ),
        ));
    }
    if claim.activity_starts_on < fund.starts_on || claim.activity_ends_on > fund.ends_on {
        found.push(Rejection::new(
            OutsideFundPeriod,
            format!(
                "the activity ({} to {}) is outside the fund's period ({} to {})",
                claim.activity_starts_on, claim.activity_ends_on, fund.starts_on, fund.ends_on
            ),
        ));
    }
    if submitted > fund.expires_on {
        found.push(Rejection::new(
            FundExpired,
            format!("the fund expired on {}", fund.expires_on),
        ));
    }
    if claim.amount.currency != fund.currency {
        found.push(Rejection::new(
            CurrencyMismatch,
            format!(
                "the claim is in {}, the fund in {}",
                claim.amount.currency, fund.currency
            ),
        ));
    }
    let above = |limit: &Option<Money>| {
        limit.is_some_and(|l| l.currency != claim.amount.currency || claim.amount.amount > l.amount)
    };
    if above(&policy.preapproval_above) {
        let approved = request.is_some_and(|r| {
            r.status == MdfStatus::Approved
                && r.partner_id == claim.partner_id
                && r.fund_id == claim.fund_id
                && r.requested.currency == claim.amount.currency
                && claim.amount.amount <= r.requested.amount
                && r.starts_on <= claim.activity_starts_on
                && claim.activity_ends_on <= r.ends_on
        });
        if !approved {
            found.push(Rejection::new(
                PreApprovalRequired,
                format!(
                    "claims above {} need an approved MDF request of this fund covering the amount and the activity's dates",
                    policy.preapproval_above.expect("checked above")
                ),
            ));
        }
    }
    found
}

/// Where a claim that passed every check goes: approved below the auto-approval amount, else
/// to a manager.
pub fn routing(claim: &Claim, policy: &ClaimPolicy) -> ClaimStatus {
    match policy.auto_approve_below {
        Some(limit)
            if limit.currency == claim.amount.currency && claim.amount.amount < limit.amount =>
        {
            ClaimStatus::Approved
        }
        _ => ClaimStatus::NeedsReview,
    }
}

pub mod ship_debit;

#[cfg(test)]
mod tests;
