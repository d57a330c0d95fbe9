//! Funds and claims: allocation, pre-approval, claim drafts with presigned uploads, submission,
//! validation (claim-validate), manager decisions, payment and the audit trail. The rules are
//! in [`crate::domain::claim`]; every state change is one transaction with its audit line and
//! its effect on the fund (see [`crate::store::Claims`]).
//!
//! A submitted claim is queued for validation after its transition is stored; if that publish
//! fails, the claim stays `submitted` until claim-validate's schedule ([`ClaimService::sweep`])
//! queues it again. Validation acts only on a claim still `submitted`, so a claim queued twice
//! is validated once.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::config::{self, ConfigError};
use crate::domain::access::{self, ADMINS, Forbidden, STAFF, require};
use crate::domain::claim::{
    AuditEntry, Claim, ClaimDraft, ClaimPolicy, ClaimStatus, Fund, FundRequest, MdfRequest,
    MdfRequestDraft, MdfStatus, Rejection, RejectionCode, StoredObject, check_claim, routing,
};
use crate::domain::{
    ClaimId, Conflict, FundId, MdfRequestId, PartnerId, PartnerKind, Principal, Role,
    ValidationErrors,
};
use crate::messaging::messages::{ClaimNotification, ClaimSubmitted};
use crate::messaging::{Envelope, SqsPublisher};
use crate::store::{
    ClaimTransition, Claims, DuplicateMove, DynamoStore, FundMove, Partners, PreApprovalMove,
    TransitionOutcome,
};
use crate::workflow::documents::Upload;
use crate::workflow::documents::{presigned_put, stored_object};

mod ship_debit;
pub use ship_debit::AuthorizationView;

#[derive(Debug, Clone)]
pub struct ClaimSettings {
    pub policy: ClaimPolicy,
    pub documents_bucket: String,
    pub submitted_queue_url: String,
    pub notifications_queue_url: String,
    /// How long a presigned upload URL stays valid.
    pub upload_expiry: Duration,
}

impl ClaimSettings {
    /// `CLAIM_DOCUMENTS_BUCKET`, `CLAIM_SUBMITTED_QUEUE_URL`, `NOTIFICATIONS_QUEUE_URL`,
    /// `CLAIM_DEADLINE_DAYS` (60), `CLAIM_AUTO_APPROVE_BELOW` ("1000 USD"; empty: never),
    /// `CLAIM_PREAPPROVAL_ABOVE` ("5000 USD"; empty: never), `CLAIM_MAX_DOCUMENT_BYTES` (10 MiB).
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            policy: ClaimPolicy {
                deadline_days: config::optional("CLAIM_DEADLINE_DAYS")?.unwrap_or(60),
                auto_approve_below: config::optional_money("CLAIM_AUTO_APPROVE_BELOW")?,
                preapproval_above: config::optional_money("CLAIM_PREAPPROVAL_ABOVE")?,
                max_document_bytes: config::optional("CLAIM_MAX_DOCUMENT_BYTES")?
                    .unwrap_or(10 << 20),
            },
            documents_bucket: config::required("CLAIM_DOCUMENTS_BUCKET")?,
            submitted_queue_url: config::required("CLAIM_SUBMITTED_QUEUE_URL")?,
            notifications_queue_url: config::required("NOTIFICATIONS_QUEUE_URL")?,
            upload_expiry: Duration::from_secs(900),
        })
    }
}

pub type ClaimError = super::ServiceError;

/// A claim still `submitted` this long after its submission is queued again by the sweep (its
/// message was lost between the store and the queue, or validation kept failing).
pub const REQUEUE_AFTER_MINUTES: i64 = 10;

/// What the sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ClaimSweep {
    pub requeued: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct CreatedClaim {
    pub claim: Claim,
    pub uploads: Vec<Upload>,
}

/// `POST /mdf-requests/{id}/decision` and `POST /claims/{id}/decision`.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case", deny_unknown_fields)]
pub enum Decision {
    Approve,
    Reject { reason: String },
}

/// `POST /claims/{id}/payment`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Payment {
    pub payment_reference: String,
}

pub struct ClaimService {
    pub store: DynamoStore,
    pub s3: aws_sdk_s3::Client,
    pub publisher: SqsPublisher,
    pub settings: ClaimSettings,
}

fn own_partner(principal: &Principal) -> Result<PartnerId, ClaimError> {
    access::require_or(
        principal,
        &[Role::Partner],
        "only partners draw on funds and claim",
    )?;
    access::own_id(principal)
        .ok_or_else(|| Forbidden("the caller is not a partner organisation".into()).into())
}

/// A manager's reason for a rejection: stated, and of a size a record can hold.
fn rejection_reason(reason: &str) -> Result<String, ClaimError> {
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > 1000 {
        return Err(ValidationErrors::single(
            "reason",
            "a rejection states its reason (1 to 1000 characters)",
        )
        .into());
    }
    Ok(reason.to_string())
}

impl ClaimService {
    pub async fn from_env() -> Result<Self, ConfigError> {
        let settings = ClaimSettings::from_env()?;
        let sdk = crate::aws::load_config().await;
        Ok(Self {
            store: DynamoStore::from_env(&sdk)?,
            s3: crate::aws::s3(&sdk),
            publisher: SqsPublisher::new(crate::aws::sqs(&sdk)),
            settings,
        })
    }

    /// The readiness gate: only active partners draw on funds.
    async fn active_partner(&self, principal: &Principal) -> Result<PartnerId, ClaimError> {
        let id = own_partner(principal)?;
        match self.store.get_partner(&id).await? {
            Some(p) if p.may_transact() => Ok(id),
            Some(p) => Err(ClaimError::Forbidden(format!(
                "partner {id} is {}: only active partners may request funds or claim",
                p.status
            ))),
            None => Err(ClaimError::Forbidden(format!("partner {id} is not known"))),
        }
    }

    /// The caller's own fund, or a 422 naming `field` (unknown, or another partner's).
    async fn partner_fund(
        &self,
        partner: &PartnerId,
        id: &FundId,
        field: &str,
    ) -> Result<Fund, ClaimError> {
        match self.store.get_fund(id).await? {
            Some(fund) if &fund.partner_id == partner => Ok(fund),
            _ => Err(
                ValidationErrors::single(field, format!("{id} is not one of your funds")).into(),
            ),
        }
    }

    pub async fn create_fund(
        &self,
        principal: &Principal,
        request: FundRequest,
    ) -> Result<Fund, ClaimError> {
        require(principal, &ADMINS, "allocating MDF")?;
        match self.store.get_partner(&request.partner_id).await? {
            Some(p) if p.kind == PartnerKind::Reseller => {}
            _ => {
                return Err(ValidationErrors::single(
                    "partner_id",
                    format!("{} is not a reseller partner", request.partner_id),
                )
                .into());
            }
        }
        let fund = request.into_fund()?;
        self.store.create_fund(&fund).await?;
        Ok(fund)
    }

    /// A partner's own funds; vendor staff name the partner.
    pub async fn funds(
        &self,
        principal: &Principal,
        partner: Option<PartnerId>,
    ) -> Result<Vec<Fund>, ClaimError> {
        let partner = self.scope(principal, partner)?;
        Ok(self.store.list_funds(&partner).await?)
    }

    fn scope(
        &self,
        principal: &Principal,
        partner: Option<PartnerId>,
    ) -> Result<PartnerId, ClaimError> {
        if principal.role.is_vendor_staff() {
            partner.ok_or_else(|| {
                ValidationErrors::single("partner", "required for vendor staff").into()
            })
        } else {
            own_partner(principal)
        }
    }

    pub async fn create_mdf_request(
        &self,
        principal: &Principal,
        draft: MdfRequestDraft,
    ) -> Result<MdfRequest, ClaimError> {
        let partner = self.active_partner(principal).await?;
        self.partner_fund(&partner, &draft.fund_id, "fund_id")
            .await?;
        let request = draft.into_request(partner, Utc::now())?;
        self.store.create_mdf_request(&request).await?;
        Ok(request)
    }

    pub async fn mdf_requests(
        &self,
        principal: &Principal,
        partner: Option<PartnerId>,
    ) -> Result<Vec<MdfRequest>, ClaimError> {
        let partner = self.scope(principal, partner)?;
        Ok(self.store.list_mdf_requests(&partner).await?)
    }

    pub async fn decide_mdf_request(
        &self,
        principal: &Principal,
        id: &MdfRequestId,
        decision: Decision,
    ) -> Result<MdfRequest, ClaimError> {
        require(principal, &STAFF, "deciding MDF requests")?;
        let mut request = self
            .store
            .get_mdf_request(id)
            .await?
            .ok_or_else(|| ClaimError::NotFound(format!("MDF request {id}")))?;
        if request.status != MdfStatus::Pending {
            return Err(ClaimError::Conflict(Conflict::already_done(format!(
                "MDF request {id} was decided already ({})",
                serde_json::to_value(request.status).unwrap_or_default()
            ))));
        }
        let (status, reason) = match decision {
            Decision::Approve => (MdfStatus::Approved, None),
            Decision::Reject { reason } => (MdfStatus::Rejected, Some(rejection_reason(&reason)?)),
        };
        request.status = status;
        request.reason = reason;
        request.decided_by = Some(principal.id.clone());
        request.version += 1;
        self.store.save_mdf_request(&request).await?;
        Ok(request)
    }

    /// A draft claim and a presigned PUT for each of its documents.
    pub async fn create_claim(
        &self,
        principal: &Principal,
        draft: ClaimDraft,
    ) -> Result<CreatedClaim, ClaimError> {
        let partner = self.active_partner(principal).await?;
        self.partner_fund(&partner, &draft.fund_id, "fund_id")
            .await?;
        if let Some(id) = &draft.mdf_request_id {
            match self.store.get_mdf_request(id).await? {
                Some(r) if r.partner_id == partner => {}
                _ => {
                    return Err(ValidationErrors::single(
                        "mdf_request_id",
                        format!("{id} is not one of your MDF requests"),
                    )
                    .into());
                }
            }
        }
        let now = Utc::now();
        let claim = draft.into_claim(partner, self.settings.policy.max_document_bytes, now)?;
        let audit = AuditEntry {
            at: now,
            actor: principal.id.clone(),
            from: None,
            to: ClaimStatus::Draft,
            reason: None,
        };
        self.store.create_claim(&claim, &audit).await?;
        let uploads = self.uploads(&claim, now).await?;
        Ok(CreatedClaim { claim, uploads })
    }

    async fn uploads(&self, claim: &Claim, now: DateTime<Utc>) -> Result<Vec<Upload>, ClaimError> {
        let mut uploads = Vec::with_capacity(claim.documents.len());
        for document in &claim.documents {
            uploads.push(
                presigned_put(
                    &self.s3,
                    &self.settings.documents_bucket,
                    &document.key,
                    &document.file_name,
                    &document.content_type,
                    self.settings.upload_expiry,
                    now,
                )
                .await
                .map_err(ClaimError::Documents)?,
            );
        }
        Ok(uploads)
    }

    /// A claim the caller may see: its partner's, or any for vendor staff.
    pub async fn claim(&self, principal: &Principal, id: &ClaimId) -> Result<Claim, ClaimError> {
        let not_found = || ClaimError::NotFound(format!("claim {id}"));
        let claim = self.store.get_claim(id).await?.ok_or_else(not_found)?;
        if access::may_see(principal, claim.partner_id.as_str()) {
            Ok(claim)
        } else {
            Err(not_found())
        }
    }

    pub async fn claims(
        &self,
        principal: &Principal,
        partner: Option<PartnerId>,
        status: Option<ClaimStatus>,
    ) -> Result<Vec<Claim>, ClaimError> {
        let partner = if principal.role.is_vendor_staff() {
            if partner.is_none() && status.is_none() {
                return Err(ValidationErrors::single(
                    "status",
                    "vendor staff filter by status or partner",
                )
                .into());
            }
            partner
        } else {
            Some(own_partner(principal)?)
        };
        Ok(self.store.list_claims(partner.as_ref(), status).await?)
    }

    pub async fn audit(
        &self,
        principal: &Principal,
        id: &ClaimId,
    ) -> Result<Vec<AuditEntry>, ClaimError> {
        self.claim(principal, id).await?;
        Ok(self.store.claim_audit(id).await?)
    }

    /// Draft → submitted, queued for validation. Submitting a submitted claim queues it again
    /// (after a lost message) and changes nothing else; any other state is a conflict.
    pub async fn submit(&self, principal: &Principal, id: &ClaimId) -> Result<Claim, ClaimError> {
        let mut claim = self.claim(principal, id).await?;
        access::require_own(
            principal,
            claim.partner_id.as_str(),
            "only the claim's partner submits it",
        )?;
        match claim.status {
            ClaimStatus::Draft => {
                let now = Utc::now();
                let audit = self.next(&mut claim, ClaimStatus::Submitted, &principal.id, None, now);
                claim.submitted_at = Some(now);
                let outcome = self
                    .store
                    .transition_claim(ClaimTransition {
                        claim: &claim,
                        audit: &audit,
                        fund: None,
                        duplicate: None,
                        pre_approval: None,
                    })
                    .await?;
                if outcome != TransitionOutcome::Done {
                    return Err(ClaimError::Conflict(Conflict::stale_version(format!(
                        "claim {id} changed meanwhile"
                    ))));
                }
            }
            ClaimStatus::Submitted => {}
            other => {
                return Err(ClaimError::Conflict(Conflict::invalid_state(format!(
                    "claim {id} is {other}: only a draft is submitted"
                ))));
            }
        }
        // Stored: if this publish fails, the sweep queues the claim later.
        self.queue_for_validation(std::slice::from_ref(id), Utc::now())
            .await?;
        Ok(claim)
    }

    /// claim-validate's schedule: claims left `submitted` longer than
    /// [`REQUEUE_AFTER_MINUTES`] are queued for validation again (gsi2, never a scan). A claim
    /// whose message is still on its way is queued twice, which is harmless.
    pub async fn sweep(&self, now: DateTime<Utc>) -> Result<ClaimSweep, ClaimError> {
        let until = now - chrono::Duration::minutes(REQUEUE_AFTER_MINUTES);
        let stranded: Vec<ClaimId> = self
            .store
            .claims_in_status_before(ClaimStatus::Submitted, until)
            .await?
            .into_iter()
            .map(|c| c.id)
            .collect();
        if !stranded.is_empty() {
            tracing::warn!(
                claims = stranded.len(),
                "claims left submitted; queued again"
            );
        }
        self.queue_for_validation(&stranded, now).await?;
        Ok(ClaimSweep {
            requeued: stranded.len(),
        })
    }

    /// One `claim.submitted` message per claim; the id names the claim, so any copy is the same.
    async fn queue_for_validation(
        &self,
        ids: &[ClaimId],
        now: DateTime<Utc>,
    ) -> Result<(), ClaimError> {
        let messages: Vec<_> = ids
            .iter()
            .map(|id| {
                Envelope::new(
                    format!("claim-submitted:{id}"),
                    ClaimSubmitted {
                        claim_id: id.clone(),
                    },
                    now,
                )
            })
            .collect();
        self.publisher
            .publish(&self.settings.submitted_queue_url, &messages)
            .await?;
        Ok(())
    }

    /// Moves `claim` to `to` (version + 1) and returns the audit line for it.
    fn next(
        &self,
        claim: &mut Claim,
        to: ClaimStatus,
        actor: &str,
        reason: Option<String>,
        now: DateTime<Utc>,
    ) -> AuditEntry {
        let audit = AuditEntry {
            at: now,
            actor: actor.to_string(),
            from: Some(claim.status),
            to,
            reason,
        };
        claim.status = to;
        claim.version += 1;
        claim.updated_at = now;
        audit
    }

    /// claim-validate: checks a submitted claim and reserves its amount, or rejects it with
    /// reasons. Anything but a submitted claim was handled already: nothing to do.
    pub async fn validate(&self, id: &ClaimId) -> Result<Option<ClaimStatus>, ClaimError> {
        let Some(stored) = self.store.get_claim(id).await? else {
            return Err(ClaimError::NotFound(format!("claim {id}")));
        };
        if stored.status != ClaimStatus::Submitted {
            return Ok(None);
        }
        let fund = self
            .store
            .get_fund(&stored.fund_id)
            .await?
            .ok_or_else(|| ClaimError::NotFound(format!("fund {}", stored.fund_id)))?;
        let request = match &stored.mdf_request_id {
            Some(r) => self.store.get_mdf_request(r).await?,
            None => None,
        };
        let mut objects = Vec::with_capacity(stored.documents.len());
        for document in &stored.documents {
            objects.push(self.stored_object(&document.key).await?);
        }
        let policy = &self.settings.policy;
        let submitted = stored
            .submitted_at
            .unwrap_or(stored.updated_at)
            .date_naive();
        let mut rejections = check_claim(
            &stored,
            &fund,
            request.as_ref(),
            &objects,
            policy,
            submitted,
        );
        let now = Utc::now();
        if rejections.is_empty() {
            let mut claim = stored.clone();
            let to = routing(&claim, policy);
            let reason = (to == ClaimStatus::NeedsReview)
                .then(|| "at or above the auto-approval amount".to_string());
            let audit = self.next(&mut claim, to, "claim-validate", reason, now);
            claim.reserved = true;
            let outcome = self
                .store
                .transition_claim(ClaimTransition {
                    claim: &claim,
                    audit: &audit,
                    fund: Some(FundMove::Reserve(claim.amount.amount)),
                    duplicate: Some(DuplicateMove::Hold(claim.duplicate_key())),
                    pre_approval: claim.mdf_request_id.clone().map(PreApprovalMove::Hold),
                })
                .await?;
            match outcome {
                TransitionOutcome::Done => {
                    self.notify(&claim).await;
                    return Ok(Some(to));
                }
                TransitionOutcome::ClaimChanged => return Ok(None),
                TransitionOutcome::InsufficientFunds => rejections.push(Rejection::new(
                    RejectionCode::InsufficientFunds,
                    format!(
                        "the fund's available balance does not cover {}",
                        claim.amount
                    ),
                )),
                TransitionOutcome::Duplicate => rejections.push(Rejection::new(
                    RejectionCode::Duplicate,
                    "another claim of this partner has the same activity, amount and invoice",
                )),
                TransitionOutcome::PreApprovalUsed => rejections.push(Rejection::new(
                    RejectionCode::PreApprovalRequired,
                    "the MDF request backs another claim already",
                )),
            }
        }
        let mut claim = stored;
        let reason = rejections
            .iter()
            .map(|r| r.detail.as_str())
            .collect::<Vec<_>>()
            .join("; ");
        let audit = self.next(
            &mut claim,
            ClaimStatus::Rejected,
            "claim-validate",
            Some(reason),
            now,
        );
        claim.rejections = rejections;
        let outcome = self
            .store
            .transition_claim(ClaimTransition {
                claim: &claim,
                audit: &audit,
                fund: None,
                duplicate: None,
                pre_approval: None,
            })
            .await?;
        if outcome == TransitionOutcome::Done {
            self.notify(&claim).await;
            Ok(Some(ClaimStatus::Rejected))
        } else {
            Ok(None)
        }
    }

    async fn stored_object(&self, key: &str) -> Result<Option<StoredObject>, ClaimError> {
        stored_object(&self.s3, &self.settings.documents_bucket, key)
            .await
            .map_err(ClaimError::Documents)
    }

    /// A manager's decision on a claim waiting for review; a rejection releases its amount.
    pub async fn decide(
        &self,
        principal: &Principal,
        id: &ClaimId,
        decision: Decision,
    ) -> Result<Claim, ClaimError> {
        require(principal, &STAFF, "deciding claims")?;
        let mut claim = self.claim(principal, id).await?;
        if claim.status != ClaimStatus::NeedsReview {
            return Err(ClaimError::Conflict(Conflict::invalid_state(format!(
                "claim {id} is {}: only a claim waiting for review is decided",
                claim.status
            ))));
        }
        let now = Utc::now();
        let (to, reason, fund, duplicate, pre_approval) = match decision {
            Decision::Approve => (ClaimStatus::Approved, None, None, None, None),
            Decision::Reject { reason } => {
                // Bounded like every free-text reason: it travels in the claim's notification.
                let reason = rejection_reason(&reason)?;
                claim.rejections = vec![Rejection::new(RejectionCode::Declined, reason.clone())];
                claim.reserved = false;
                (
                    ClaimStatus::Rejected,
                    Some(reason),
                    Some(FundMove::Release(claim.amount.amount)),
                    Some(DuplicateMove::Release(claim.duplicate_key())),
                    claim.mdf_request_id.clone().map(PreApprovalMove::Release),
                )
            }
        };
        let audit = self.next(&mut claim, to, &principal.id, reason, now);
        match self
            .store
            .transition_claim(ClaimTransition {
                claim: &claim,
                audit: &audit,
                fund,
                duplicate,
                pre_approval,
            })
            .await?
        {
            TransitionOutcome::Done => {
                self.notify(&claim).await;
                Ok(claim)
            }
            _ => Err(ClaimError::Conflict(Conflict::stale_version(format!(
                "claim {id} changed meanwhile"
            )))),
        }
    }

    /// Approved → paid: the reserved amount becomes paid, once; the ERP hears of it. The same
    /// payment recorded again changes nothing; another payment of a paid claim is a conflict.
    pub async fn pay(
        &self,
        principal: &Principal,
        id: &ClaimId,
        payment: Payment,
    ) -> Result<Claim, ClaimError> {
        require(principal, &STAFF, "recording payments")?;
        let reference = payment.payment_reference.trim().to_string();
        if reference.is_empty() || reference.chars().count() > 100 {
            return Err(
                ValidationErrors::single("payment_reference", "1 to 100 characters").into(),
            );
        }
        let mut claim = self.claim(principal, id).await?;
        if claim.status == ClaimStatus::Paid
            && claim.payment_reference.as_deref() == Some(reference.as_str())
        {
            // The same payment recorded again: nothing moves; the ERP hears of it again (same
            // message id), in case the first message was lost.
            self.notify(&claim).await;
            return Ok(claim);
        }
        if claim.status != ClaimStatus::Approved {
            return Err(ClaimError::Conflict(Conflict::invalid_state(format!(
                "claim {id} is {}: only an approved claim is paid",
                claim.status
            ))));
        }
        let audit = self.next(
            &mut claim,
            ClaimStatus::Paid,
            &principal.id,
            Some(format!("payment {reference}")),
            Utc::now(),
        );
        claim.payment_reference = Some(reference);
        claim.reserved = false;
        match self
            .store
            .transition_claim(ClaimTransition {
                claim: &claim,
                audit: &audit,
                fund: Some(FundMove::Pay(claim.amount.amount)),
                duplicate: None,
                pre_approval: None,
            })
            .await?
        {
            TransitionOutcome::Done => {
                self.notify(&claim).await;
                Ok(claim)
            }
            _ => Err(ClaimError::Conflict(Conflict::stale_version(format!(
                "claim {id} changed meanwhile"
            )))),
        }
    }

    /// Tells the partner, subscribers and the ERP. The change stands already: a failed
    /// publish is logged, not returned (the publisher has retried).
    async fn notify(&self, claim: &Claim) {
        let message = Envelope::new(
            format!("claim:{}:{}", claim.id, claim.version),
            ClaimNotification {
                event: format!("claim.{}", claim.status),
                claim_id: claim.id.clone(),
                partner_id: claim.partner_id.clone(),
                fund_id: claim.fund_id.clone(),
                amount: claim.amount,
                status: claim.status,
                rejections: claim.rejections.clone(),
                payment_reference: claim.payment_reference.clone(),
            },
            Utc::now(),
        );
        if let Err(err) = self
            .publisher
            .publish(&self.settings.notifications_queue_url, &[message])
            .await
        {
            tracing::error!(claim_id = %claim.id, error = %err, "claim notification not sent");
        }
    }
}
