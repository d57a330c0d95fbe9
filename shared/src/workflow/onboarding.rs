//! Partner onboarding, from invitation to activation, and partner tiers. The rules are in
//! [`crate::domain::onboarding`]; this module sequences them with the store, the documents
//! bucket and the notifications queue. It owns a partner's status: activation when every
//! required step is done, deactivation by a manager (deal registration and claims gate on it).
//!
//! Every change is one write conditional on the onboarding record's version (with the partner
//! record, in one transaction, when its status or tier changes): a step done twice, or two
//! managers at once, never records anything twice.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::config::{self, ConfigError};
use crate::domain::access::{self, ADMINS, STAFF, require};
use crate::domain::onboarding::{
    AgreementAcceptance, AgreementRequest, Application, ComplianceDocument, DocumentRequest,
    DocumentReview, DocumentStatus, Invitation, InvitationToken, MAX_DOCUMENT_ATTEMPTS, Onboarding,
    OnboardingPolicy, ReviewDecision, Step, StepProgress, TierChange, TierRule, TrainingCompletion,
    TrainingRequest, parse_tier_rules, tier_change, tier_currency, trailing_months,
};
use crate::domain::{
    ApiKey, ApiKeyRecord, Conflict, KeyStatus, Partner, PartnerId, PartnerKind, PartnerStatus,
    Principal, Role, ValidationErrors,
};
use crate::messaging::{Envelope, Message, SqsPublisher};
use crate::store::{ApiKeys, ApplyError, DynamoStore, OnboardingStore, Partners, StoreError};
use crate::workflow::documents::{Upload, presigned_put, stored_object};
use crate::workflow::notify::disable_partner_subscriptions;

#[derive(Debug, Clone)]
pub struct OnboardingSettings {
    pub policy: OnboardingPolicy,
    pub tier_rules: Vec<TierRule>,
    pub invitation_days: i64,
    pub reminder_days: i64,
    pub documents_bucket: String,
    pub max_document_bytes: u64,
    pub notifications_queue_url: String,
    pub upload_expiry: Duration,
}

fn list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

impl OnboardingSettings {
    /// `ONBOARDING_REQUIRED_STEPS` (`agreement,compliance,training`),
    /// `ONBOARDING_AGREEMENT_VERSION` (`2026-1`), `ONBOARDING_REQUIRED_DOCUMENTS` (`tax_form`),
    /// `ONBOARDING_REQUIRED_TRAININGS` (`sales-foundations`), `ONBOARDING_INVITATION_DAYS` (14),
    /// `ONBOARDING_REMINDER_DAYS` (7), `PARTNER_TIER_RULES` (Platinum $10M/3, Gold $5M/2,
    /// Silver $1M/1), `CLAIM_DOCUMENTS_BUCKET`, `CLAIM_MAX_DOCUMENT_BYTES` (10 MiB),
    /// `NOTIFICATIONS_QUEUE_URL`.
    pub fn from_env() -> Result<Self, ConfigError> {
        let text = |name: &'static str, default: &str| -> Result<String, ConfigError> {
            Ok(config::optional::<String>(name)?.unwrap_or_else(|| default.to_string()))
        };
        let steps = text("ONBOARDING_REQUIRED_STEPS", "agreement,compliance,training")?;
        let required_steps = list(&steps)
            .iter()
            .map(|s| s.parse::<Step>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|reason| ConfigError::Invalid {
                name: "ONBOARDING_REQUIRED_STEPS",
                value: steps.clone(),
                reason,
            })?;
        let rules = text(
            "PARTNER_TIER_RULES",
            "Platinum=10000000 USD/3;Gold=5000000 USD/2;Silver=1000000 USD/1",
        )?;
        let tier_rules = parse_tier_rules(&rules).map_err(|reason| ConfigError::Invalid {
            name: "PARTNER_TIER_RULES",
            value: rules.clone(),
            reason,
        })?;
        Ok(Self {
            policy: OnboardingPolicy {
                required_steps,
                agreement_version: text("ONBOARDING_AGREEMENT_VERSION", "2026-1")?,
                required_documents: list(&text("ONBOARDING_REQUIRED_DOCUMENTS", "tax_form")?),
                required_trainings: list(&text(
                    "ONBOARDING_REQUIRED_TRAININGS",
                    "sales-foundations",
                )?),
            },
            tier_rules,
            invitation_days: config::optional("ONBOARDING_INVITATION_DAYS")?.unwrap_or(14),
            reminder_days: config::optional("ONBOARDING_REMINDER_DAYS")?.unwrap_or(7),
            documents_bucket: config::required("CLAIM_DOCUMENTS_BUCKET")?,
            max_document_bytes: config::optional("CLAIM_MAX_DOCUMENT_BYTES")?.unwrap_or(10 << 20),
            notifications_queue_url: config::required("NOTIFICATIONS_QUEUE_URL")?,
            upload_expiry: Duration::from_secs(900),
        })
    }
}

pub type OnboardingError = super::ServiceError;

/// Something partners and subscribers hear about (→ notifications queue):
/// `partner.activated`, `partner.deactivated`, `partner.tier_changed`, `onboarding.reminder`,
/// `onboarding.document_rejected`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartnerNotification {
    pub event: String,
    pub partner_id: PartnerId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier_change: Option<TierChange>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Message for PartnerNotification {
    const TYPE: &'static str = "partner.notification";
    const SCHEMA_VERSION: u32 = 1;
}

/// An invitation as its creator sees it, once: the token is never shown again.
#[derive(Debug, Clone, Serialize)]
pub struct IssuedInvitation {
    pub token: String,
    pub kind: PartnerKind,
    pub expires_at: DateTime<Utc>,
}

/// `POST /invitations`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InvitationRequest {
    #[serde(default)]
    pub kind: Option<PartnerKind>,
    #[serde(default)]
    pub email: Option<String>,
}

/// What `GET /partners/{id}/onboarding` shows.
#[derive(Debug, Clone, Serialize)]
pub struct OnboardingView {
    pub partner: Partner,
    pub complete: bool,
    pub steps: Vec<StepProgress>,
    pub onboarding: Onboarding,
    pub tier_history: Vec<TierChange>,
}

/// The answer to an application: the partner, pending, and its onboarding key (shown once).
#[derive(Debug, Clone, Serialize)]
pub struct Applied {
    pub partner: Partner,
    /// A key for the applicant's own onboarding steps; deals and claims stay closed to it until
    /// the partner is active.
    pub onboarding_api_key: String,
}

/// What the sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct OnboardingSweep {
    pub partners: usize,
    pub tier_changes: usize,
    pub reminders: usize,
    pub failures: usize,
}

const ONBOARDING_KEY_LABEL: &str = "onboarding";

pub struct OnboardingService {
    pub store: DynamoStore,
    pub s3: aws_sdk_s3::Client,
    pub publisher: SqsPublisher,
    pub settings: OnboardingSettings,
}

/// The caller acting for its own organisation `partner`.
fn require_own(principal: &Principal, partner: &PartnerId) -> Result<(), OnboardingError> {
    Ok(access::require_own(
        principal,
        partner.as_str(),
        "only the partner itself takes this step",
    )?)
}

impl OnboardingService {
    pub async fn from_env() -> Result<Self, ConfigError> {
        Self::from_env_with(&crate::aws::load_config().await)
    }

    /// With an SDK configuration already loaded: a function driving several workflows loads
    /// one, and its clients share one connection pool.
    pub fn from_env_with(sdk: &aws_config::SdkConfig) -> Result<Self, ConfigError> {
        Ok(Self {
            settings: OnboardingSettings::from_env()?,
            store: DynamoStore::from_env(sdk)?,
            s3: crate::aws::s3(sdk),
            publisher: SqsPublisher::new(crate::aws::sqs(sdk)),
        })
    }

    /// `POST /invitations` (vendor admin): a token for one application, shown once.
    pub async fn invite(
        &self,
        principal: &Principal,
        request: InvitationRequest,
        now: DateTime<Utc>,
    ) -> Result<IssuedInvitation, OnboardingError> {
        require(principal, &ADMINS, "inviting partners")?;
        if let Some(email) = &request.email
            && (email.trim().is_empty() || email.len() > 254 || !email.contains('@'))
        {
            return Err(ValidationErrors::single("email", "a valid email address").into());
        }
        let token = InvitationToken::generate();
        let invitation = Invitation {
            token_hash: token.hash(),
            kind: request.kind.unwrap_or(PartnerKind::Reseller),
            email: request.email,
            created_by: principal.id.clone(),
            created_at: now,
            expires_at: now + chrono::Duration::days(self.settings.invitation_days),
        };
        self.store.create_invitation(&invitation).await?;
        Ok(IssuedInvitation {
            token: token.reveal().to_string(),
            kind: invitation.kind,
            expires_at: invitation.expires_at,
        })
    }

    /// `POST /partners/applications` (no API key: the invitation token is the credential).
    pub async fn apply(
        &self,
        application: Application,
        now: DateTime<Utc>,
    ) -> Result<Applied, OnboardingError> {
        let refused = |why: &str| OnboardingError::Forbidden(why.to_string());
        let token = InvitationToken::parse(application.token.trim())
            .ok_or_else(|| refused("the invitation token is not valid"))?;
        application.check()?;
        let invitation = self
            .store
            .invitation(&token.hash())
            .await?
            .ok_or_else(|| refused("the invitation token is not valid"))?;
        let partner = Partner::new(
            application.company_name.trim(),
            invitation.kind,
            &application.country,
            PartnerStatus::Pending,
            now,
        )?;
        let key = ApiKey::generate();
        let record = ApiKeyRecord::issue(
            &key,
            partner.id.to_string(),
            role_of(&partner),
            Some(ONBOARDING_KEY_LABEL.into()),
            now,
        );
        let mut onboarding = Onboarding::new(partner.id.clone(), application, now);
        onboarding.onboarding_key_id = Some(record.key_id.clone());
        match self
            .store
            .apply(&token.hash(), &partner, &onboarding, &record, now)
            .await
        {
            Ok(()) => {}
            Err(ApplyError::Token(refusal)) => return Err(refused(&refusal.to_string())),
            Err(ApplyError::Store(err)) => return Err(err.into()),
        }
        Ok(Applied {
            partner,
            onboarding_api_key: key.reveal().to_string(),
        })
    }

    /// The partner and its onboarding record; the partner itself or vendor staff.
    async fn load(
        &self,
        principal: &Principal,
        id: &PartnerId,
    ) -> Result<(Partner, Onboarding), OnboardingError> {
        let not_found = || OnboardingError::NotFound(format!("partner {id}"));
        if !access::may_see(principal, id.as_str()) {
            return Err(not_found());
        }
        let partner = self.store.get_partner(id).await?.ok_or_else(not_found)?;
        let onboarding = self
            .store
            .onboarding(id)
            .await?
            .ok_or_else(|| OnboardingError::NotFound(format!("onboarding of partner {id}")))?;
        Ok((partner, onboarding))
    }

    /// `GET /partners/{id}/onboarding`.
    pub async fn view(
        &self,
        principal: &Principal,
        id: &PartnerId,
    ) -> Result<OnboardingView, OnboardingError> {
        let (partner, onboarding) = self.load(principal, id).await?;
        let tier_history = self.store.tier_history(id).await?;
        Ok(OnboardingView {
            complete: onboarding.complete(&self.settings.policy),
            steps: onboarding.progress(&self.settings.policy),
            partner,
            onboarding,
            tier_history,
        })
    }

    /// `POST /partners/{id}/agreement` (the partner): the current version only; the same
    /// acceptance again changes nothing.
    pub async fn accept_agreement(
        &self,
        principal: &Principal,
        id: &PartnerId,
        request: AgreementRequest,
        now: DateTime<Utc>,
    ) -> Result<OnboardingView, OnboardingError> {
        require_own(principal, id)?;
        request.check(&self.settings.policy)?;
        let (partner, mut onboarding) = self.load(principal, id).await?;
        refuse_inactive(&partner)?;
        let current = onboarding
            .agreement
            .as_ref()
            .is_some_and(|a| a.version == request.version);
        if !current {
            onboarding.agreement = Some(AgreementAcceptance {
                version: request.version.clone(),
                signer_name: request.signer_name.trim().to_string(),
                signer_email: request.signer_email.trim().to_string(),
                accepted_by: principal.id.clone(),
                accepted_at: now,
            });
            onboarding.record(
                "agreement accepted",
                &principal.id,
                now,
                Some(format!(
                    "version {} signed by {}",
                    request.version,
                    request.signer_name.trim()
                )),
            );
            self.save_and_activate(partner, onboarding, &principal.id, now)
                .await?;
        }
        self.view(principal, id).await
    }

    /// `POST /partners/{id}/documents` (the partner): a presigned upload for a required
    /// compliance document; a verified one is not replaced.
    pub async fn document_upload(
        &self,
        principal: &Principal,
        id: &PartnerId,
        request: DocumentRequest,
        now: DateTime<Utc>,
    ) -> Result<Upload, OnboardingError> {
        require_own(principal, id)?;
        request.check(&self.settings.policy, self.settings.max_document_bytes)?;
        let (partner, mut onboarding) = self.load(principal, id).await?;
        refuse_inactive(&partner)?;
        let earlier = onboarding.documents.get(&request.document_type);
        if earlier.is_some_and(|d| d.status == DocumentStatus::Verified) {
            return Err(OnboardingError::Conflict(Conflict::already_done(format!(
                "document {} is verified already",
                request.document_type
            ))));
        }
        let attempts = earlier.map_or(0, |d| d.attempts) + 1;
        if attempts > MAX_DOCUMENT_ATTEMPTS {
            return Err(OnboardingError::Conflict(Conflict::limit_reached(format!(
                "document {} had {MAX_DOCUMENT_ATTEMPTS} upload links already; ask a manager",
                request.document_type
            ))));
        }
        // A key of its own per upload link: a later link never overwrites what a manager saw.
        let key = format!(
            "onboarding/{id}/{}/{attempts:02}/{}",
            request.document_type,
            request.file_name.trim()
        );
        onboarding.documents.insert(
            request.document_type.clone(),
            ComplianceDocument {
                document_type: request.document_type.clone(),
                file_name: request.file_name.trim().to_string(),
                content_type: request.content_type.clone(),
                size: request.size,
                key: key.clone(),
                status: DocumentStatus::Uploaded,
                reason: None,
                attempts,
                updated_by: principal.id.clone(),
                updated_at: now,
            },
        );
        onboarding.record(
            "document declared",
            &principal.id,
            now,
            Some(request.document_type.clone()),
        );
        self.store.save_onboarding(&onboarding, None, None).await?;
        presigned_put(
            &self.s3,
            &self.settings.documents_bucket,
            &key,
            request.file_name.trim(),
            &request.content_type,
            self.settings.upload_expiry,
            now,
        )
        .await
        .map_err(OnboardingError::Documents)
    }

    /// `POST /partners/{id}/documents/{type}/review` (a manager): verify (only once it is in
    /// the bucket with its declared type and size) or reject with a reason.
    pub async fn review_document(
        &self,
        principal: &Principal,
        id: &PartnerId,
        document_type: &str,
        review: DocumentReview,
        now: DateTime<Utc>,
    ) -> Result<OnboardingView, OnboardingError> {
        require(principal, &STAFF, "reviewing documents")?;
        let (partner, mut onboarding) = self.load(principal, id).await?;
        refuse_inactive(&partner)?;
        let document = onboarding
            .documents
            .get_mut(document_type)
            .ok_or_else(|| OnboardingError::NotFound(format!("document {document_type}")))?;
        let reason = review.reason.map(|r| r.trim().to_string());
        match review.decision {
            ReviewDecision::Verify if document.status == DocumentStatus::Verified => {
                return self.view(principal, id).await;
            }
            ReviewDecision::Verify => {
                let stored =
                    stored_object(&self.s3, &self.settings.documents_bucket, &document.key)
                        .await
                        .map_err(OnboardingError::Documents)?;
                let fits = stored.is_some_and(|o| {
                    o.size == document.size
                        && o.content_type.as_deref() == Some(document.content_type.as_str())
                });
                if !fits {
                    return Err(OnboardingError::Conflict(Conflict::invalid_state(format!(
                        "document {document_type} is not in the bucket as declared ({}, {} bytes): it cannot be verified",
                        document.content_type, document.size
                    ))));
                }
                document.status = DocumentStatus::Verified;
                document.reason = None;
            }
            ReviewDecision::Reject => {
                let Some(reason) = reason.filter(|r| !r.is_empty() && r.chars().count() <= 1000)
                else {
                    return Err(ValidationErrors::single(
                        "reason",
                        "a rejection states its reason (1 to 1000 characters)",
                    )
                    .into());
                };
                document.status = DocumentStatus::Rejected;
                document.reason = Some(reason);
            }
        }
        document.updated_by = principal.id.clone();
        document.updated_at = now;
        let status = document.status;
        let reason = document.reason.clone();
        let what = match status {
            DocumentStatus::Verified => "document verified",
            _ => "document rejected",
        };
        onboarding.record(what, &principal.id, now, Some(document_type.to_string()));
        self.save_and_activate(partner, onboarding, &principal.id, now)
            .await?;
        if status == DocumentStatus::Rejected {
            self.notify(
                "onboarding.document_rejected",
                id,
                None,
                vec![document_type.to_string()],
                reason,
                now,
            )
            .await;
        }
        self.view(principal, id).await
    }

    /// `POST /partners/{id}/trainings` (a manager): a course completed.
    pub async fn record_training_by_manager(
        &self,
        principal: &Principal,
        id: &PartnerId,
        request: TrainingRequest,
        now: DateTime<Utc>,
    ) -> Result<OnboardingView, OnboardingError> {
        require(principal, &STAFF, "recording training")?;
        request.check(now.date_naive())?;
        self.record_training(id, &request, &format!("manager:{}", principal.id), now)
            .await?;
        self.view(principal, id).await
    }

    /// A course completed (a manager, or the LMS's `training.completed` event): once per
    /// course; certifications move the tier at once for an active partner.
    pub async fn record_training(
        &self,
        id: &PartnerId,
        request: &TrainingRequest,
        source: &str,
        now: DateTime<Utc>,
    ) -> Result<(), OnboardingError> {
        let not_found = || OnboardingError::NotFound(format!("partner {id}"));
        let partner = self.store.get_partner(id).await?.ok_or_else(not_found)?;
        refuse_inactive(&partner)?;
        let mut onboarding = self.store.onboarding(id).await?.ok_or_else(not_found)?;
        let course = request.course.trim().to_string();
        if onboarding.trainings.contains_key(&course) {
            return Ok(());
        }
        onboarding.trainings.insert(
            course.clone(),
            TrainingCompletion {
                course: course.clone(),
                completed_on: request.completed_on,
                source: source.to_string(),
                recorded_at: now,
            },
        );
        onboarding.record("training completed", source, now, Some(course));
        self.save_and_activate(partner, onboarding, source, now)
            .await
    }

    /// Saves `onboarding`; activates the partner when every required step is done, and moves
    /// its tier when its certifications changed it, in the same transaction.
    async fn save_and_activate(
        &self,
        mut partner: Partner,
        mut onboarding: Onboarding,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<(), OnboardingError> {
        let activating =
            partner.status == PartnerStatus::Pending && onboarding.complete(&self.settings.policy);
        if activating {
            partner.status = PartnerStatus::Active;
            partner.updated_at = now;
            onboarding.activated_at = Some(now);
            onboarding.record("activated", by, now, None);
        }
        let change = if partner.status == PartnerStatus::Active {
            self.tier_change(&partner, &onboarding, now).await?
        } else {
            None
        };
        if let Some(change) = &change {
            partner.tier = change.to.clone();
            partner.updated_at = now;
        }
        let partner_changed = activating || change.is_some();
        self.store
            .save_onboarding(
                &onboarding,
                partner_changed.then_some(&partner),
                change.as_ref(),
            )
            .await?;
        if activating {
            self.notify("partner.activated", &partner.id, None, vec![], None, now)
                .await;
        }
        if let Some(change) = change {
            self.notify(
                "partner.tier_changed",
                &partner.id,
                Some(change),
                vec![],
                None,
                now,
            )
            .await;
        }
        Ok(())
    }

    /// The tier change the partner's trailing-12-month sales and certifications call for.
    async fn tier_change(
        &self,
        partner: &Partner,
        onboarding: &Onboarding,
        now: DateTime<Utc>,
    ) -> Result<Option<TierChange>, OnboardingError> {
        let Some(currency) = tier_currency(&self.settings.tier_rules) else {
            return Ok(None);
        };
        let (from, to) = trailing_months(now.date_naive());
        let sales = self
            .store
            .partner_sales(&partner.id, currency, &from, &to)
            .await?;
        Ok(tier_change(
            &self.settings.tier_rules,
            &partner.id,
            partner.tier.as_deref(),
            sales,
            onboarding.certifications(),
            now,
        ))
    }

    /// `POST /partners/{id}/api-key` (the partner, once active): the key issued on activation,
    /// shown this once; the onboarding key is revoked. A second call is a conflict.
    pub async fn collect_api_key(
        &self,
        principal: &Principal,
        id: &PartnerId,
        now: DateTime<Utc>,
    ) -> Result<String, OnboardingError> {
        require_own(principal, id)?;
        let (partner, mut onboarding) = self.load(principal, id).await?;
        if partner.status != PartnerStatus::Active {
            return Err(OnboardingError::Conflict(Conflict::invalid_state(format!(
                "partner {id} is {}: its API key is issued on activation",
                partner.status
            ))));
        }
        if onboarding.api_key_issued {
            return Err(OnboardingError::Conflict(Conflict::already_done(
                "the API key was handed out already and is never shown again; ask a manager for a new one",
            )));
        }
        let key = ApiKey::generate();
        let record = ApiKeyRecord::issue(&key, id.to_string(), role_of(&partner), None, now);
        onboarding.api_key_issued = true;
        onboarding.record("API key issued", &principal.id, now, None);
        // The key, the mark and the onboarding key's revocation in one transaction, on the
        // partner still active: of two calls at once one hands out a key, the other nothing.
        self.store
            .hand_out_key(&onboarding, &record, &partner, now)
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => OnboardingError::Conflict(Conflict::stale_version(
                    "the partner changed while its key was handed out; ask again",
                )),
                other => other.into(),
            })?;
        Ok(key.reveal().to_string())
    }

    /// `POST /partners/{id}/deactivate` (a manager): keys revoked, new deals and claims
    /// refused, its subscriptions disabled, every record kept.
    pub async fn deactivate(
        &self,
        principal: &Principal,
        id: &PartnerId,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<OnboardingView, OnboardingError> {
        require(principal, &STAFF, "deactivating partners")?;
        let reason = reason.trim();
        if reason.is_empty() || reason.chars().count() > 1000 {
            return Err(ValidationErrors::single("reason", "1 to 1000 characters").into());
        }
        let (mut partner, mut onboarding) = self.load(principal, id).await?;
        // Keys first: whatever happens next, access has ended. Again on a repeated call, for
        // a key that slipped through.
        self.revoke_keys(id, now).await?;
        if partner.status != PartnerStatus::Inactive {
            partner.status = PartnerStatus::Inactive;
            partner.updated_at = now;
            onboarding.deactivated_at = Some(now);
            onboarding.record("deactivated", &principal.id, now, Some(reason.to_string()));
            self.store
                .save_onboarding(&onboarding, Some(&partner), None)
                .await?;
            self.notify(
                "partner.deactivated",
                id,
                None,
                vec![],
                Some(reason.to_string()),
                now,
            )
            .await;
        }
        // Its subscriptions disabled once it is inactive (from then on fan-out skips them
        // whatever their status); again on a repeated call, for one that stopped before this.
        disable_partner_subscriptions(&self.store, id, now).await?;
        self.view(principal, id).await
    }

    /// The schedule: tiers of active partners from their sales; reminders for onboardings
    /// stalled longer than the reminder period (and for active partners with a new agreement
    /// to accept); pending partners whose steps are complete under the current configuration
    /// activated. One partner's failure is logged and the others go on.
    pub async fn sweep(&self, now: DateTime<Utc>) -> Result<OnboardingSweep, OnboardingError> {
        let mut summary = OnboardingSweep::default();
        for partner in self.store.list_partners().await? {
            if partner.status == PartnerStatus::Inactive {
                continue;
            }
            summary.partners += 1;
            match self.sweep_partner(partner.clone(), now).await {
                Ok((tier_changed, reminded)) => {
                    summary.tier_changes += usize::from(tier_changed);
                    summary.reminders += usize::from(reminded);
                }
                Err(err) => {
                    tracing::error!(partner = %partner.id, error = %err, "onboarding sweep of a partner failed");
                    summary.failures += 1;
                }
            }
        }
        Ok(summary)
    }

    /// One partner on the schedule: (tier moved, reminded).
    async fn sweep_partner(
        &self,
        partner: Partner,
        now: DateTime<Utc>,
    ) -> Result<(bool, bool), OnboardingError> {
        let Some(onboarding) = self.store.onboarding(&partner.id).await? else {
            return Ok((false, false)); // made by the admin tool, not onboarded here
        };
        let complete = onboarding.complete(&self.settings.policy);
        if partner.status == PartnerStatus::Pending && complete {
            // Fewer steps are required than when it took its last one.
            self.save_and_activate(partner, onboarding, "schedule", now)
                .await?;
            return Ok((false, false));
        }
        let reminded = !complete && self.remind_if_due(&onboarding, now).await?;
        let moved =
            partner.status == PartnerStatus::Active && self.sweep_tier(partner, now).await?;
        Ok((moved, reminded))
    }

    /// A reminder of what is missing (a stalled application, or a new agreement version an
    /// active partner has not accepted), at most once per reminder period.
    async fn remind_if_due(
        &self,
        onboarding: &Onboarding,
        now: DateTime<Utc>,
    ) -> Result<bool, OnboardingError> {
        let due = chrono::Duration::days(self.settings.reminder_days);
        let stalled = now - onboarding.last_progress_at >= due;
        let reminded_lately = onboarding.reminded_at.is_some_and(|at| now - at < due);
        if !stalled || reminded_lately {
            return Ok(false);
        }
        let missing: Vec<String> = onboarding
            .progress(&self.settings.policy)
            .into_iter()
            .filter(|p| p.required && !p.done)
            .flat_map(|p| p.missing)
            .collect();
        let mut reminded = onboarding.clone();
        reminded.reminded_at = Some(now);
        // Conditional on the version: a step taken meanwhile wins, and no reminder goes out.
        match self.store.save_onboarding(&reminded, None, None).await {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => return Ok(false),
            Err(err) => return Err(err.into()),
        }
        self.notify(
            "onboarding.reminder",
            &onboarding.partner_id,
            None,
            missing,
            None,
            now,
        )
        .await;
        Ok(true)
    }

    /// One active partner's tier on the schedule; `true` when it moved. Nothing is written
    /// when it stays.
    async fn sweep_tier(
        &self,
        mut partner: Partner,
        now: DateTime<Utc>,
    ) -> Result<bool, OnboardingError> {
        let Some(onboarding) = self.store.onboarding(&partner.id).await? else {
            return Ok(false); // made by the admin tool, not onboarded here
        };
        let Some(change) = self.tier_change(&partner, &onboarding, now).await? else {
            return Ok(false);
        };
        partner.tier = change.to.clone();
        partner.updated_at = now;
        self.store
            .save_onboarding(&onboarding, Some(&partner), Some(&change))
            .await?;
        let partner_id = partner.id.clone();
        self.notify(
            "partner.tier_changed",
            &partner_id,
            Some(change),
            vec![],
            None,
            now,
        )
        .await;
        Ok(true)
    }

    /// Revokes the partner's active keys; one revoked meanwhile is fine.
    async fn revoke_keys(&self, id: &PartnerId, now: DateTime<Utc>) -> Result<(), OnboardingError> {
        for key in self.store.list_keys(id.as_str()).await? {
            if key.status != KeyStatus::Active {
                continue;
            }
            match self.store.revoke_key(&key.key_id, now).await {
                Ok(_) | Err(StoreError::Conflict(_) | StoreError::NotFound(_)) => {}
                Err(err) => return Err(err.into()),
            }
        }
        Ok(())
    }

    /// Announces a committed change. A failed publish is logged, never turned into a failure
    /// of the change that already stands (as deals do; there is no outbox here).
    async fn notify(
        &self,
        event: &str,
        partner: &PartnerId,
        tier_change: Option<TierChange>,
        missing: Vec<String>,
        reason: Option<String>,
        now: DateTime<Utc>,
    ) {
        let envelope = Envelope::new(
            format!("{event}:{partner}:{}", now.timestamp_millis()),
            PartnerNotification {
                event: event.to_string(),
                partner_id: partner.clone(),
                tier_change,
                missing,
                reason,
            },
            now,
        );
        if let Err(err) = self
            .publisher
            .publish(&self.settings.notifications_queue_url, &[envelope])
            .await
        {
            tracing::error!(%partner, event, error = %err, "notification not sent");
        }
    }
}

/// The role a partner's keys carry.
fn role_of(partner: &Partner) -> Role {
    match partner.kind {
        PartnerKind::Reseller => Role::Partner,
        PartnerKind::Distributor => Role::Distributor,
    }
}

/// Steps of a deactivated partner are refused: its history is kept as it was.
fn refuse_inactive(partner: &Partner) -> Result<(), OnboardingError> {
    if partner.status == PartnerStatus::Inactive {
        Err(OnboardingError::Forbidden(format!(
            "partner {} is deactivated",
            partner.id
        )))
    } else {
        Ok(())
    }
}
