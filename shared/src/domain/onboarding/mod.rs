//! Partner onboarding rules: invitations, applications, the steps (agreement, compliance
//! documents, training) and when they are complete, and partner tiers from a rule table.
//! Pure: the workflow feeds it records, configuration and sales totals.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{Currency, Money, PartnerId, PartnerKind, ValidationErrors};

#[cfg(test)]
mod tests;

/// An invitation token reads `inv_<64 hex>`; only its SHA-256 is stored.
pub struct InvitationToken(String);

impl InvitationToken {
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).expect("the OS random source works");
        Self(format!("inv_{}", hex::encode(bytes)))
    }

    pub fn parse(text: &str) -> Option<Self> {
        let hex_part = text.strip_prefix("inv_")?;
        (hex_part.len() == 64 && hex_part.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| Self(text.to_string()))
    }

    pub fn reveal(&self) -> &str {
        &self.0
    }

    pub fn hash(&self) -> String {
        hex::encode(Sha256::digest(self.0.as_bytes()))
    }
}

impl fmt::Debug for InvitationToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("InvitationToken(inv_…)")
    }
}

/// What is stored of an invitation (never the token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invitation {
    pub token_hash: String,
    pub kind: PartnerKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// Why an application's token grants nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenRefusal {
    #[error("the invitation token is not valid")]
    Unknown,
    #[error("the invitation has expired")]
    Expired,
    #[error("the invitation was used already")]
    Used,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Contact {
    pub name: String,
    pub email: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
}

/// `POST /partners/applications`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Application {
    #[serde(skip_serializing, default)]
    pub token: String,
    pub company_name: String,
    pub country: String,
    pub tax_id: String,
    pub contact: Contact,
}

fn plausible_email(email: &str) -> bool {
    let email = email.trim();
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && email.len() <= 254
        && !email.chars().any(char::is_whitespace)
}

fn text(errors: &mut ValidationErrors, field: &str, value: &str, max: usize) {
    let value = value.trim();
    if value.is_empty() || value.chars().count() > max {
        errors.add(field, format!("required, 1 to {max} characters"));
    }
}

impl Application {
    /// Every fault of the body (the token is checked against the store).
    pub fn check(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        text(&mut errors, "company_name", &self.company_name, 200);
        let country = self.country.trim();
        if country.len() != 2 || !country.bytes().all(|b| b.is_ascii_alphabetic()) {
            errors.add("country", "an ISO 3166-1 alpha-2 code such as US or DE");
        }
        text(&mut errors, "tax_id", &self.tax_id, 50);
        text(&mut errors, "contact.name", &self.contact.name, 200);
        if !plausible_email(&self.contact.email) {
            errors.add("contact.email", "a valid email address");
        }
        if let Some(phone) = &self.contact.phone
            && (phone.trim().is_empty() || phone.len() > 40)
        {
            errors.add("contact.phone", "1 to 40 characters when given");
        }
        errors.into_result(())
    }
}

/// The onboarding steps a configuration may require.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    Agreement,
    Compliance,
    Training,
}

impl Step {
    pub fn as_str(&self) -> &'static str {
        match self {
            Step::Agreement => "agreement",
            Step::Compliance => "compliance",
            Step::Training => "training",
        }
    }
}

impl FromStr for Step {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value.trim() {
            "agreement" => Ok(Step::Agreement),
            "compliance" => Ok(Step::Compliance),
            "training" => Ok(Step::Training),
            other => Err(format!(
                "unknown onboarding step {other:?} (expected agreement, compliance or training)"
            )),
        }
    }
}

/// One tier of the rule table: trailing-12-month sales and certifications it takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TierRule {
    pub name: String,
    pub min_sales: Money,
    pub min_certifications: u32,
}

/// Parses `Platinum=10000000 USD/3;Gold=5000000 USD/2;Silver=1000000 USD/1`: highest first
/// after sorting; every rule in one currency (sales are not converted).
pub fn parse_tier_rules(text: &str) -> Result<Vec<TierRule>, String> {
    let mut rules = Vec::new();
    for part in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, rest) = part.split_once('=').ok_or_else(|| {
            format!("{part:?}: expected <tier>=<amount> <currency>/<certifications>")
        })?;
        let (money, certifications) = rest
            .split_once('/')
            .ok_or_else(|| format!("{part:?}: expected /<certifications> after the amount"))?;
        let (amount, currency) = money
            .trim()
            .split_once(' ')
            .ok_or_else(|| format!("{part:?}: expected \"<amount> <currency>\""))?;
        let min_sales =
            Money::parse(amount, currency.trim()).map_err(|e| format!("{part:?}: {e}"))?;
        if min_sales.amount.is_sign_negative() {
            return Err(format!("{part:?}: the amount is negative"));
        }
        let min_certifications = certifications
            .trim()
            .parse()
            .map_err(|_| format!("{part:?}: certifications must be a whole number"))?;
        let name = name.trim();
        if name.is_empty() || name.len() > 40 {
            return Err(format!("{part:?}: a tier name of 1 to 40 characters"));
        }
        rules.push(TierRule {
            name: name.to_string(),
            min_sales,
            min_certifications,
        });
    }
    if let Some(first) = rules.first()
        && rules
            .iter()
            .any(|r| r.min_sales.currency != first.min_sales.currency)
    {
        return Err("every tier rule must be in the same currency".into());
    }
    rules.sort_by(|a, b| {
        (b.min_sales.amount, b.min_certifications).cmp(&(a.min_sales.amount, a.min_certifications))
    });
    Ok(rules)
}

/// The highest tier whose sales and certifications are both met (at the boundary counts), or
/// none.
pub fn tier_for(rules: &[TierRule], sales: Decimal, certifications: u32) -> Option<&TierRule> {
    rules
        .iter()
        .find(|r| sales >= r.min_sales.amount && certifications >= r.min_certifications)
}

/// The currency tiers are measured in (sales in others do not count).
pub fn tier_currency(rules: &[TierRule]) -> Option<Currency> {
    rules.first().map(|r| r.min_sales.currency)
}

/// The months a trailing-12-month total covers on `today`: this month and the 11 before.
pub fn trailing_months(today: NaiveDate) -> (String, String) {
    use chrono::Datelike;
    let index = today.year() * 12 + today.month0() as i32 - 11;
    let first = format!(
        "{:04}-{:02}",
        index.div_euclid(12),
        index.rem_euclid(12) + 1
    );
    (first, today.format("%Y-%m").to_string())
}

/// What onboarding asks of partners, from configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnboardingPolicy {
    pub required_steps: Vec<Step>,
    pub agreement_version: String,
    pub required_documents: Vec<String>,
    pub required_trainings: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgreementAcceptance {
    pub version: String,
    pub signer_name: String,
    pub signer_email: String,
    pub accepted_by: String,
    pub accepted_at: DateTime<Utc>,
}

/// `POST /partners/{id}/agreement`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgreementRequest {
    pub version: String,
    pub signer_name: String,
    pub signer_email: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DocumentStatus {
    /// An upload link was handed out; a manager checks it once uploaded.
    Uploaded,
    Verified,
    Rejected,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComplianceDocument {
    pub document_type: String,
    pub file_name: String,
    pub content_type: String,
    pub size: u64,
    /// The object key in the documents bucket.
    pub key: String,
    pub status: DocumentStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Upload links handed out for this document type so far.
    #[serde(default)]
    pub attempts: u32,
    pub updated_by: String,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrainingCompletion {
    pub course: String,
    pub completed_on: NaiveDate,
    /// `manager:<id>` or `lms:<event id>`.
    pub source: String,
    pub recorded_at: DateTime<Utc>,
}

/// One recorded event of the journey: who did what, when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JourneyEvent {
    pub what: String,
    pub by: String,
    pub at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// A partner's onboarding record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Onboarding {
    pub partner_id: PartnerId,
    pub application: Application,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agreement: Option<AgreementAcceptance>,
    #[serde(default)]
    pub documents: BTreeMap<String, ComplianceDocument>,
    #[serde(default)]
    pub trainings: BTreeMap<String, TrainingCompletion>,
    #[serde(default)]
    pub history: Vec<JourneyEvent>,
    /// The last time a step moved (reminders count from it).
    pub last_progress_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reminded_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activated_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deactivated_at: Option<DateTime<Utc>>,
    /// The key issued on activation was handed out (once).
    #[serde(default)]
    pub api_key_issued: bool,
    /// The key the applicant got with its application, revoked when the API key is handed out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub onboarding_key_id: Option<super::KeyId>,
    /// Incremented by every change; writes are conditional on it.
    pub version: u64,
}

/// One step's progress as `GET /partners/{id}/onboarding` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StepProgress {
    pub step: Step,
    pub required: bool,
    pub done: bool,
    /// What is still missing, when not done.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<String>,
}

impl Onboarding {
    pub fn new(partner_id: PartnerId, application: Application, now: DateTime<Utc>) -> Self {
        Self {
            partner_id,
            history: vec![JourneyEvent {
                what: "applied".into(),
                by: application.contact.email.clone(),
                at: now,
                detail: None,
            }],
            application,
            agreement: None,
            documents: BTreeMap::new(),
            trainings: BTreeMap::new(),
            last_progress_at: now,
            reminded_at: None,
            activated_at: None,
            deactivated_at: None,
            api_key_issued: false,
            onboarding_key_id: None,
            version: 0,
        }
    }

    pub fn record(&mut self, what: &str, by: &str, at: DateTime<Utc>, detail: Option<String>) {
        self.history.push(JourneyEvent {
            what: what.to_string(),
            by: by.to_string(),
            at,
            detail,
        });
        self.last_progress_at = at;
    }

    /// Every step with what it still lacks under `policy`.
    pub fn progress(&self, policy: &OnboardingPolicy) -> Vec<StepProgress> {
        [Step::Agreement, Step::Compliance, Step::Training]
            .into_iter()
            .map(|step| {
                let missing: Vec<String> = match step {
                    Step::Agreement => match &self.agreement {
                        Some(a) if a.version == policy.agreement_version => vec![],
                        Some(a) => vec![format!(
                            "agreement version {} (accepted {})",
                            policy.agreement_version, a.version
                        )],
                        None => vec![format!("agreement version {}", policy.agreement_version)],
                    },
                    Step::Compliance => policy
                        .required_documents
                        .iter()
                        .filter(|d| {
                            self.documents.get(*d).map(|doc| doc.status)
                                != Some(DocumentStatus::Verified)
                        })
                        .map(|d| format!("document {d} verified"))
                        .collect(),
                    Step::Training => policy
                        .required_trainings
                        .iter()
                        .filter(|c| !self.trainings.contains_key(*c))
                        .map(|c| format!("training {c}"))
                        .collect(),
                };
                StepProgress {
                    step,
                    required: policy.required_steps.contains(&step),
                    done: missing.is_empty(),
                    missing,
                }
            })
            .collect()
    }

    /// Every required step done.
    pub fn complete(&self, policy: &OnboardingPolicy) -> bool {
        self.progress(policy).iter().all(|p| !p.required || p.done)
    }

    /// Certifications count toward tiers: every completed course.
    pub fn certifications(&self) -> u32 {
        self.trainings.len() as u32
    }
}

/// A compliance document a partner declares before uploading it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DocumentRequest {
    pub document_type: String,
    pub file_name: String,
    pub content_type: String,
    pub size: u64,
}

/// Upload links one document type may get: enough for honest mistakes, and the record (one
/// item) stays small.
pub const MAX_DOCUMENT_ATTEMPTS: u32 = 20;

/// Types a compliance document may have.
pub const DOCUMENT_TYPES: [&str; 3] = ["application/pdf", "image/jpeg", "image/png"];

impl DocumentRequest {
    pub fn check(&self, policy: &OnboardingPolicy, max_bytes: u64) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        if !policy.required_documents.contains(&self.document_type) {
            errors.add(
                "document_type",
                format!(
                    "{:?} is not asked for (expected one of {})",
                    self.document_type,
                    policy.required_documents.join(", ")
                ),
            );
        }
        let name = self.file_name.trim();
        if name.is_empty()
            || name.len() > 200
            || name.contains('/')
            || name.contains('\\')
            || name.chars().any(char::is_control)
        {
            errors.add("file_name", "1 to 200 characters, without slashes");
        }
        if !DOCUMENT_TYPES.contains(&self.content_type.as_str()) {
            errors.add(
                "content_type",
                format!("expected one of {}", DOCUMENT_TYPES.join(", ")),
            );
        }
        if self.size == 0 || self.size > max_bytes {
            errors.add("size", format!("1 to {max_bytes} bytes"));
        }
        errors.into_result(())
    }
}

/// `POST /partners/{id}/documents/{type}/review`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DocumentReview {
    pub decision: ReviewDecision,
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewDecision {
    Verify,
    Reject,
}

/// `POST /partners/{id}/trainings`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainingRequest {
    pub course: String,
    pub completed_on: NaiveDate,
}

impl TrainingRequest {
    pub fn check(&self, today: NaiveDate) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        text(&mut errors, "course", &self.course, 100);
        if self.completed_on > today {
            errors.add("completed_on", "is in the future");
        }
        errors.into_result(())
    }
}

impl AgreementRequest {
    pub fn check(&self, policy: &OnboardingPolicy) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        if self.version != policy.agreement_version {
            errors.add(
                "version",
                format!(
                    "{:?} is not the current agreement (version {})",
                    self.version, policy.agreement_version
                ),
            );
        }
        text(&mut errors, "signer_name", &self.signer_name, 200);
        if !plausible_email(&self.signer_email) {
            errors.add("signer_email", "a valid email address");
        }
        errors.into_result(())
    }
}

/// A change of a partner's tier, recorded and announced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TierChange {
    pub partner_id: PartnerId,
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub to: Option<String>,
    /// `upgrade` or `downgrade`.
    pub direction: String,
    #[serde(with = "rust_decimal::serde::str")]
    pub trailing_sales: Decimal,
    pub certifications: u32,
    pub at: DateTime<Utc>,
}

/// The change from `current` to what the rules give, if any.
pub fn tier_change(
    rules: &[TierRule],
    partner_id: &PartnerId,
    current: Option<&str>,
    sales: Decimal,
    certifications: u32,
    now: DateTime<Utc>,
) -> Option<TierChange> {
    let next = tier_for(rules, sales, certifications).map(|r| r.name.clone());
    if next.as_deref() == current {
        return None;
    }
    let rank = |name: Option<&str>| {
        name.and_then(|n| rules.iter().position(|r| r.name == n))
            .map_or(0, |i| rules.len() - i)
    };
    let direction = if rank(next.as_deref()) > rank(current) {
        "upgrade"
    } else {
        "downgrade"
    };
    Some(TierChange {
        partner_id: partner_id.clone(),
        from: current.map(str::to_string),
        to: next,
        direction: direction.into(),
        trailing_sales: sales,
        certifications,
        at: now,
    })
}
