//! Deal registration rules: what a registration must contain, how end customers are normalised,
//! what counts as a conflict, when a deal may be approved automatically, and the deal's states.
//!
//! Everything here is pure; the functions that store deals and queue them for review build on it.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc, Weekday};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::ids::{DealId, PartnerId};
use super::money::{Currency, Money};
use super::validation::ValidationErrors;

/// Legal-form words dropped from company names before comparing them ("ABC Computers, Inc." and
/// "abc computers" are one customer). Compared after lower-casing and removing punctuation.
const LEGAL_SUFFIXES: &[&str] = &[
    "inc",
    "incorporated",
    "llc",
    "llp",
    "lp",
    "ltd",
    "limited",
    "corp",
    "corporation",
    "co",
    "company",
    "gmbh",
    "ag",
    "kg",
    "ohg",
    "ug",
    "sa",
    "sas",
    "sarl",
    "srl",
    "spa",
    "bv",
    "nv",
    "plc",
    "pty",
    "pte",
    "kk",
    "oy",
    "ab",
    "as",
    "aps",
    "sro",
    "sp",
    "zoo",
    "oyj",
];

/// The company name compared for conflicts: lower case, punctuation and "and" removed, legal
/// suffixes (Inc, LLC, GmbH, ...) and a leading "the" dropped, whitespace collapsed.
pub fn normalize_company_name(name: &str) -> String {
    // Dots and apostrophes join ("S.A." is "sa", "O'Neil" is "oneil"); other punctuation separates.
    let cleaned: String = name
        .to_lowercase()
        .chars()
        .filter(|c| !matches!(c, '.' | '\'' | '’'))
        .map(|c| if c.is_alphanumeric() { c } else { ' ' })
        .collect();
    // "&" and "and" are one word; dropping both keeps "A & B" and "A and B" equal.
    let mut words: Vec<&str> = cleaned.split_whitespace().filter(|w| *w != "and").collect();
    while words.len() > 1 && LEGAL_SUFFIXES.contains(words.last().expect("not empty")) {
        words.pop();
    }
    if words.len() > 1 && words[0] == "the" {
        words.remove(0);
    }
    words.join(" ")
}

/// The longest host name DNS allows, in bytes.
const MAX_HOST_BYTES: usize = 253;

/// The registrable domain compared for conflicts: `https://www.Sales.Example.com/x` and
/// `example.com` are one customer, as are `sales.abc.co.uk` and `abc.co.uk`, but not
/// `alice.github.io` and `bob.github.io`: the suffixes come from the Public Suffix List
/// (private ones included), an unknown top-level label counting as a suffix of its own. `None`
/// when the input is not a host name, or is a public suffix alone (`co.uk`).
pub fn normalize_domain(domain: &str) -> Option<String> {
    let mut host = domain.trim().to_lowercase();
    if let Some((_, rest)) = host.split_once("://") {
        host = rest.to_string();
    }
    if let Some((_, rest)) = host.split_once('@') {
        host = rest.to_string(); // an e-mail address names its domain
    }
    let host = host.split(['/', '?', '#', ':']).next().unwrap_or_default();
    let host = host.trim_end_matches('.');
    let labels: Vec<&str> = host.split('.').collect();
    let valid = labels.len() >= 2
        && host.len() <= MAX_HOST_BYTES
        && labels.iter().all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
        && labels
            .last()
            .is_some_and(|tld| tld.chars().all(|c| c.is_ascii_alphabetic()) && tld.len() >= 2);
    if !valid {
        return None;
    }
    psl::domain_str(host).map(str::to_string)
}

/// The end customer of an opportunity, as registered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndCustomer {
    pub name: String,
    pub domain: Option<String>,
    /// ISO 3166-1 alpha-2.
    pub country: String,
}

/// The keys under which a customer is matched: two registrations name the same customer when
/// their normalised names or their registrable domains are equal.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct CustomerKeys {
    pub name: String,
    pub domain: Option<String>,
}

impl CustomerKeys {
    pub fn of(customer: &EndCustomer) -> Self {
        Self {
            name: normalize_company_name(&customer.name),
            domain: customer.domain.as_deref().and_then(normalize_domain),
        }
    }

    /// Index keys, one per way of matching (`name:<name>`, `domain:<domain>`).
    pub fn index_keys(&self) -> Vec<String> {
        let mut keys = vec![format!("name:{}", self.name)];
        if let Some(domain) = &self.domain {
            keys.push(format!("domain:{domain}"));
        }
        keys
    }

    pub fn same_customer(&self, other: &CustomerKeys) -> bool {
        self.name == other.name || (self.domain.is_some() && self.domain == other.domain)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DealStatus {
    /// Registered and queued for review (conflict check, auto-approval rule).
    Submitted,
    /// Waiting for a channel manager's decision.
    PendingReview,
    /// Approved: protected until its expiry, unless won or lost first.
    Approved,
    Rejected,
    Won,
    Lost,
    /// Protection ran out before the partner reported an outcome.
    Expired,
}

impl DealStatus {
    pub const ALL: [DealStatus; 7] = [
        DealStatus::Submitted,
        DealStatus::PendingReview,
        DealStatus::Approved,
        DealStatus::Rejected,
        DealStatus::Won,
        DealStatus::Lost,
        DealStatus::Expired,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            DealStatus::Submitted => "submitted",
            DealStatus::PendingReview => "pending_review",
            DealStatus::Approved => "approved",
            DealStatus::Rejected => "rejected",
            DealStatus::Won => "won",
            DealStatus::Lost => "lost",
            DealStatus::Expired => "expired",
        }
    }

    /// Not yet decided: such a registration blocks others for the same customer and product.
    pub fn is_pending(&self) -> bool {
        matches!(self, DealStatus::Submitted | DealStatus::PendingReview)
    }
}

impl FromStr for DealStatus {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        DealStatus::ALL
            .into_iter()
            .find(|s| s.as_str() == value)
            .ok_or_else(|| format!("unknown deal status {value:?}"))
    }
}

impl fmt::Display for DealStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a registration was rejected. A rejection always carries one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum RejectionReason {
    Duplicate,
    ExistingCustomer,
    OutsideTerritory,
    Incomplete,
    Other { text: String },
}

/// The longest free-text rejection reason: it travels in the deal's history and in the
/// partner's notification, which must stay far inside SQS's 256 KiB.
pub const MAX_REASON_CHARS: usize = 1000;

impl RejectionReason {
    /// `other` states its reason, in at most [`MAX_REASON_CHARS`] characters (4,000 bytes).
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        match self {
            RejectionReason::Other { text }
                if text.trim().is_empty() || text.chars().count() > MAX_REASON_CHARS =>
            {
                Err(ValidationErrors::single(
                    "reason.text",
                    format!("required for reason other, at most {MAX_REASON_CHARS} characters"),
                ))
            }
            _ => Ok(()),
        }
    }
}

/// What a deal needs for the conflict rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DealFacts {
    pub partner_id: String,
    pub customer: CustomerKeys,
    pub products: BTreeSet<String>,
    pub status: DealStatus,
    pub protected_until: Option<DateTime<Utc>>,
}

impl DealFacts {
    /// Whether this deal still holds its customer and products: pending, or approved and protected.
    pub fn holds_claim(&self, now: DateTime<Utc>) -> bool {
        self.status.is_pending()
            || (self.status == DealStatus::Approved
                && self.protected_until.is_some_and(|until| until > now))
    }
}

/// The conflict rule: another partner's pending, or approved and still protected, registration
/// for the same end customer that shares at least one product.
pub fn conflicts(candidate: &DealFacts, other: &DealFacts, now: DateTime<Utc>) -> bool {
    candidate.partner_id != other.partner_id
        && other.holds_claim(now)
        && candidate.customer.same_customer(&other.customer)
        && !candidate.products.is_disjoint(&other.products)
}

/// The auto-approval rule: with no conflict, a deal whose value is under the threshold for the
/// partner's tier (or the default threshold) is approved without a manager. A value in another
/// currency than the threshold's, or no threshold at all, waits for a manager.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AutoApprovalPolicy {
    pub default_threshold: Option<Money>,
    /// (tier, threshold); a tier's own threshold wins over the default.
    pub tier_thresholds: Vec<(String, Money)>,
}

impl AutoApprovalPolicy {
    pub fn threshold_for(&self, tier: Option<&str>) -> Option<Money> {
        tier.and_then(|tier| {
            self.tier_thresholds
                .iter()
                .find(|(t, _)| t.eq_ignore_ascii_case(tier))
                .map(|(_, threshold)| *threshold)
        })
        .or(self.default_threshold)
    }

    pub fn auto_approves(&self, value: Money, tier: Option<&str>, has_conflict: bool) -> bool {
        !has_conflict
            && self
                .threshold_for(tier)
                .is_some_and(|t| t.currency == value.currency && value.amount < t.amount)
    }
}

/// What review concludes for a submitted deal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReviewOutcome {
    AutoApprove,
    /// Waits for a manager; `conflict` says whether another partner's registration competes.
    NeedsManager {
        conflict: bool,
    },
}

pub fn review(
    policy: &AutoApprovalPolicy,
    value: Money,
    tier: Option<&str>,
    has_conflict: bool,
) -> ReviewOutcome {
    if policy.auto_approves(value, tier, has_conflict) {
        ReviewOutcome::AutoApprove
    } else {
        ReviewOutcome::NeedsManager {
            conflict: has_conflict,
        }
    }
}

/// `from` plus `days` business days (Monday to Friday), keeping the time of day. A start on a
/// weekend counts from the following Monday.
pub fn add_business_days(from: DateTime<Utc>, days: u32) -> DateTime<Utc> {
    let mut at = from;
    while matches!(at.weekday(), Weekday::Sat | Weekday::Sun) {
        at += Duration::days(1);
    }
    let mut left = days;
    while left > 0 {
        at += Duration::days(1);
        if !matches!(at.weekday(), Weekday::Sat | Weekday::Sun) {
            left -= 1;
        }
    }
    at
}

/// A stored deal registration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deal {
    pub id: DealId,
    pub partner_id: PartnerId,
    pub status: DealStatus,
    pub end_customer: EndCustomer,
    pub customer_keys: CustomerKeys,
    pub products: BTreeSet<String>,
    pub estimated_value: Money,
    pub expected_close_date: NaiveDate,
    pub notes: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Incremented by every transition; each transition is conditional on it.
    pub version: u64,
    /// When a manager's decision is due (set when the deal waits for one).
    pub review_due_at: Option<DateTime<Utc>>,
    /// End of protection (set on approval).
    pub protected_until: Option<DateTime<Utc>>,
    pub rejection: Option<RejectionReason>,
    /// Whether the partner was warned of the coming expiry.
    pub expiry_warned: bool,
}

/// One line of a deal's history: who changed what, when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub at: DateTime<Utc>,
    pub actor: String,
    pub from: Option<DealStatus>,
    pub to: DealStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Deal {
    /// A new registration, `submitted` and waiting for review.
    pub fn register(
        partner_id: PartnerId,
        valid: ValidDeal,
        now: DateTime<Utc>,
    ) -> (Deal, HistoryEntry) {
        let deal = Deal {
            id: DealId::generate(),
            customer_keys: CustomerKeys::of(&valid.end_customer),
            partner_id,
            status: DealStatus::Submitted,
            end_customer: valid.end_customer,
            products: valid.products,
            estimated_value: valid.estimated_value,
            expected_close_date: valid.expected_close_date,
            notes: valid.notes,
            created_at: now,
            updated_at: now,
            version: 1,
            review_due_at: None,
            protected_until: None,
            rejection: None,
            expiry_warned: false,
        };
        let entry = HistoryEntry {
            at: now,
            actor: deal.partner_id.to_string(),
            from: None,
            to: DealStatus::Submitted,
            note: None,
        };
        (deal, entry)
    }

    pub fn facts(&self) -> DealFacts {
        DealFacts {
            partner_id: self.partner_id.to_string(),
            customer: self.customer_keys.clone(),
            products: self.products.clone(),
            status: self.status,
            protected_until: self.protected_until,
        }
    }
}

/// A change of a deal's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Review found a conflict or a value over the threshold: a manager decides by `due`.
    HoldForManager {
        due: DateTime<Utc>,
        conflict: bool,
    },
    Approve {
        protection: Duration,
    },
    Reject(RejectionReason),
    Win,
    Lose,
    Expire,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    #[error("deal is {status} and cannot be {action}")]
    NotAllowed {
        status: DealStatus,
        action: &'static str,
    },
    #[error("deal is protected until {0}; it expires only after that")]
    StillProtected(DateTime<Utc>),
}

impl Action {
    fn name(&self) -> &'static str {
        match self {
            Action::HoldForManager { .. } => "held for review",
            Action::Approve { .. } => "approved",
            Action::Reject(_) => "rejected",
            Action::Win => "marked won",
            Action::Lose => "marked lost",
            Action::Expire => "expired",
        }
    }
}

/// Applies `action` to `deal`: the new state and the history line, or why it is not allowed.
/// A decision is final: deciding a decided deal is refused (the API answers 409).
pub fn transition(
    deal: &Deal,
    action: &Action,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<(Deal, HistoryEntry), TransitionError> {
    use DealStatus::*;
    let refuse = || TransitionError::NotAllowed {
        status: deal.status,
        action: action.name(),
    };
    let mut next = deal.clone();
    let mut note = None;
    match (deal.status, action) {
        (Submitted, Action::HoldForManager { due, conflict }) => {
            next.status = PendingReview;
            next.review_due_at = Some(*due);
            if *conflict {
                note = Some(String::from(
                    "conflicts with another partner's registration",
                ));
            }
        }
        (Submitted | PendingReview, Action::Approve { protection }) => {
            next.status = Approved;
            next.protected_until = Some(now + *protection);
            next.review_due_at = None;
        }
        (Submitted | PendingReview, Action::Reject(reason)) => {
            next.status = Rejected;
            next.rejection = Some(reason.clone());
            next.review_due_at = None;
            note = Some(match reason {
                RejectionReason::Other { text } => text.clone(),
                other => serde_json::to_value(other).expect("serialisable")["code"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            });
        }
        (Approved, Action::Win) => next.status = Won,
        (Approved, Action::Lose) => next.status = Lost,
        (Approved, Action::Expire) => match deal.protected_until {
            Some(until) if until > now => return Err(TransitionError::StillProtected(until)),
            _ => next.status = Expired,
        },
        _ => return Err(refuse()),
    }
    next.version = deal.version + 1;
    next.updated_at = now;
    let entry = HistoryEntry {
        at: now,
        actor: actor.to_string(),
        from: Some(deal.status),
        to: next.status,
        note,
    };
    Ok((next, entry))
}

/// What the scheduled sweep does with an approved deal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SweepAction {
    Expire,
    Warn,
}

pub fn sweep_action(deal: &Deal, now: DateTime<Utc>, warn_before: Duration) -> Option<SweepAction> {
    let until = deal.protected_until?;
    if deal.status != DealStatus::Approved {
        None
    } else if until <= now {
        Some(SweepAction::Expire)
    } else if !deal.expiry_warned && until - warn_before <= now {
        Some(SweepAction::Warn)
    } else {
        None
    }
}

/// A registration as a partner submits it (`POST /deals`), before validation.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DealRequest {
    pub end_customer: Option<EndCustomerRequest>,
    pub products: Option<Vec<String>>,
    pub estimated_value: Option<MoneyRequest>,
    pub expected_close_date: Option<String>,
    pub notes: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndCustomerRequest {
    pub name: Option<String>,
    pub domain: Option<String>,
    pub country: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MoneyRequest {
    /// A decimal string ("12500.00"); a JSON number is accepted and read exactly.
    pub amount: Option<serde_json::Value>,
    pub currency: Option<String>,
}

/// A registration that passed validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidDeal {
    pub end_customer: EndCustomer,
    pub products: BTreeSet<String>,
    pub estimated_value: Money,
    pub expected_close_date: NaiveDate,
    pub notes: Option<String>,
}

/// Approving a deal locks each (customer key, product) pair in one DynamoDB transaction of at
/// most 100 items: two keys times 40 products, plus the deal, its history and index entries.
pub const MAX_PRODUCTS: usize = 40;
/// The longest SKU the catalog holds (see `domain::catalog`): a longer one cannot be known, and
/// is never looked up.
pub const MAX_SKU_BYTES: usize = 64;
pub const MAX_NOTES_CHARS: usize = 2000;

impl DealRequest {
    /// The SKUs [`DealRequest::validate`] needs the catalog to answer for: none when the list
    /// is missing or longer than [`MAX_PRODUCTS`] (refused whatever the catalog holds), and
    /// never an empty or over-long one. So a request costs at most one catalog read of
    /// [`MAX_PRODUCTS`] small keys, however large its list.
    pub fn skus_to_look_up(&self) -> Vec<String> {
        match &self.products {
            Some(list) if list.len() <= MAX_PRODUCTS => list
                .iter()
                .map(|sku| sku.trim())
                .filter(|sku| !sku.is_empty() && sku.len() <= MAX_SKU_BYTES)
                .map(str::to_string)
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Checks every field and reports every fault at once. `is_known_sku` answers from the catalog.
    pub fn validate(
        self,
        today: NaiveDate,
        is_known_sku: impl Fn(&str) -> bool,
    ) -> Result<ValidDeal, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let customer = self.end_customer.unwrap_or_default();
        let name = customer.name.unwrap_or_default().trim().to_string();
        if name.is_empty() || name.chars().count() > 200 {
            errors.add("end_customer.name", "required, at most 200 characters");
        } else if normalize_company_name(&name).is_empty() {
            errors.add("end_customer.name", "must contain letters or digits");
        }
        let domain = customer
            .domain
            .map(|d| d.trim().to_string())
            .filter(|d| !d.is_empty());
        if let Some(domain) = &domain
            && normalize_domain(domain).is_none()
        {
            errors.add(
                "end_customer.domain",
                "is not a domain name such as example.com",
            );
        }
        let country = customer
            .country
            .unwrap_or_default()
            .trim()
            .to_ascii_uppercase();
        if country.len() != 2 || !country.bytes().all(|b| b.is_ascii_uppercase()) {
            errors.add(
                "end_customer.country",
                "required, an ISO 3166-1 alpha-2 code such as US",
            );
        }

        let mut products = BTreeSet::new();
        match self.products {
            None => errors.add("products", "required: at least one SKU"),
            Some(list) if list.is_empty() => errors.add("products", "required: at least one SKU"),
            Some(list) if list.len() > MAX_PRODUCTS => {
                errors.add("products", format!("at most {MAX_PRODUCTS} SKUs"))
            }
            Some(list) => {
                for (index, sku) in list.into_iter().enumerate() {
                    let sku = sku.trim().to_string();
                    if sku.is_empty() {
                        errors.add(format!("products[{index}]"), "empty SKU");
                    } else if sku.len() > MAX_SKU_BYTES {
                        errors.add(
                            format!("products[{index}]"),
                            format!("at most {MAX_SKU_BYTES} bytes"),
                        );
                    } else if !is_known_sku(&sku) {
                        errors.add(format!("products[{index}]"), format!("unknown SKU {sku:?}"));
                    } else {
                        products.insert(sku);
                    }
                }
            }
        }

        let value = parse_money(self.estimated_value, "estimated_value", &mut errors);
        let close = match self.expected_close_date.as_deref().map(str::trim) {
            None | Some("") => {
                errors.add("expected_close_date", "required, YYYY-MM-DD");
                None
            }
            Some(text) => match NaiveDate::parse_from_str(text, "%Y-%m-%d") {
                Ok(date) if date < today => {
                    errors.add("expected_close_date", "is in the past");
                    None
                }
                Ok(date) => Some(date),
                Err(_) => {
                    errors.add(
                        "expected_close_date",
                        "is not a date in the form YYYY-MM-DD",
                    );
                    None
                }
            },
        };
        let notes = self
            .notes
            .map(|n| n.trim().to_string())
            .filter(|n| !n.is_empty());
        if notes
            .as_ref()
            .is_some_and(|n| n.chars().count() > MAX_NOTES_CHARS)
        {
            errors.add("notes", format!("at most {MAX_NOTES_CHARS} characters"));
        }
        match (value, close) {
            (Some(estimated_value), Some(expected_close_date)) if errors.is_empty() => {
                Ok(ValidDeal {
                    end_customer: EndCustomer {
                        name,
                        domain,
                        country,
                    },
                    products,
                    estimated_value,
                    expected_close_date,
                    notes,
                })
            }
            _ => Err(errors),
        }
    }
}

fn parse_money(
    request: Option<MoneyRequest>,
    field: &str,
    errors: &mut ValidationErrors,
) -> Option<Money> {
    let Some(request) = request else {
        errors.add(
            field,
            "required: {\"amount\": \"...\", \"currency\": \"USD\"}",
        );
        return None;
    };
    let currency = match request.currency.as_deref().map(str::parse::<Currency>) {
        Some(Ok(currency)) => Some(currency),
        Some(Err(err)) => {
            errors.add(format!("{field}.currency"), err.to_string());
            None
        }
        None => {
            errors.add(format!("{field}.currency"), "required, an ISO 4217 code");
            None
        }
    };
    let amount = match request.amount {
        Some(serde_json::Value::String(text)) => Decimal::from_str_exact(text.trim()).ok(),
        // serde_json keeps a number's digits; reading them as text avoids any float.
        Some(serde_json::Value::Number(number)) => {
            Decimal::from_str_exact(&number.to_string()).ok()
        }
        _ => None,
    };
    let amount = match amount {
        None => {
            errors.add(
                format!("{field}.amount"),
                "required, a decimal number such as \"12500.00\"",
            );
            None
        }
        Some(amount) if amount.is_sign_negative() || amount.is_zero() => {
            errors.add(format!("{field}.amount"), "must be greater than zero");
            None
        }
        Some(amount) => Some(amount),
    };
    Some(Money::new(amount?, currency?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn company_names_normalise_case_punctuation_and_legal_suffixes() {
        for (a, b) in [
            ("ABC Computers, Inc.", "abc computers"),
            ("Müller GmbH & Co. KG", "müller"),
            ("The Widget Company Ltd", "widget"),
            ("  Acme   Corp. ", "acme"),
            ("Globex S.A.", "globex"),
            ("O'Neil & Sons", "ONeil and sons"),
        ] {
            assert_eq!(
                normalize_company_name(a),
                normalize_company_name(b),
                "{a} ~ {b}"
            );
        }
        assert_ne!(
            normalize_company_name("Acme Labs"),
            normalize_company_name("Acme")
        );
        // A name made only of a legal word stays itself rather than becoming empty.
        assert_eq!(normalize_company_name("Inc"), "inc");
    }

    #[test]
    fn domains_normalise_to_the_registrable_domain() {
        for (input, expected) in [
            ("example.com", "example.com"),
            ("sub.example.com", "example.com"),
            ("https://WWW.Sales.Example.com/contact?x=1", "example.com"),
            ("buyer@shop.example.com", "example.com"),
            ("acme.co.uk", "acme.co.uk"),
            ("eu.acme.co.uk", "acme.co.uk"),
            ("example.com.", "example.com"),
        ] {
            assert_eq!(
                normalize_domain(input).as_deref(),
                Some(expected),
                "{input}"
            );
        }
        for bad in [
            "",
            "localhost",
            "not a domain",
            "exa_mple.com",
            "1.2.3.4",
            "-x.com",
        ] {
            assert_eq!(normalize_domain(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn registrable_domains_follow_the_public_suffix_list() {
        let domain = |d: &str| normalize_domain(d);
        // github.io is a public suffix: each user's site is its own registrable domain.
        assert_eq!(
            domain("alice.github.io").as_deref(),
            Some("alice.github.io")
        );
        assert_ne!(domain("alice.github.io"), domain("bob.github.io"));
        for (input, expected) in [
            ("sales.abc.co.uk", "abc.co.uk"),
            ("www.shop.example.com.au", "example.com.au"),
            ("eu.acme.co.jp", "acme.co.jp"),
            ("docs.acme.gov.br", "acme.gov.br"),
            ("a.b.acme.de", "acme.de"),
            // Suffixes a hand list misses.
            ("sales.acme.ltd.uk", "acme.ltd.uk"),
            ("foo.city.kawasaki.jp", "city.kawasaki.jp"),
            // An unknown top-level label counts as a suffix of its own.
            ("sales.acme.internalcorp", "acme.internalcorp"),
        ] {
            assert_eq!(domain(input).as_deref(), Some(expected), "{input}");
        }
        // A public suffix alone names no customer.
        for suffix in ["co.uk", "github.io", "com.au"] {
            assert_eq!(domain(suffix), None, "{suffix}");
        }
        // Hosts are at most 253 bytes (DNS); the customer key stays far inside DynamoDB's limits.
        let long = format!("{}.example.com", ["a"; 130].join("."));
        assert_eq!(domain(&long), None);
    }

    fn facts(
        partner: &str,
        name: &str,
        domain: Option<&str>,
        products: &[&str],
        status: DealStatus,
    ) -> DealFacts {
        DealFacts {
            partner_id: partner.into(),
            customer: CustomerKeys::of(&EndCustomer {
                name: name.into(),
                domain: domain.map(Into::into),
                country: "US".into(),
            }),
            products: products.iter().map(|p| p.to_string()).collect(),
            status,
            protected_until: None,
        }
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap()
    }

    #[test]
    fn another_partners_pending_deal_for_the_same_customer_and_a_shared_product_conflicts() {
        let mine = facts(
            "p1",
            "ABC Computers, Inc.",
            None,
            &["A", "B"],
            DealStatus::Submitted,
        );
        let theirs = facts(
            "p2",
            "abc computers",
            None,
            &["B", "C"],
            DealStatus::PendingReview,
        );
        assert!(conflicts(&mine, &theirs, now()));
    }

    #[test]
    fn same_domain_under_different_names_conflicts() {
        let mine = facts("p1", "ABC", Some("abc.com"), &["A"], DealStatus::Submitted);
        let theirs = facts(
            "p2",
            "ABC Holdings",
            Some("eu.abc.com"),
            &["A"],
            DealStatus::Submitted,
        );
        assert!(conflicts(&mine, &theirs, now()));
    }

    #[test]
    fn no_conflict_without_a_shared_product_or_with_the_same_partner() {
        let mine = facts("p1", "ABC", None, &["A"], DealStatus::Submitted);
        assert!(!conflicts(
            &mine,
            &facts("p2", "ABC", None, &["B"], DealStatus::Submitted),
            now()
        ));
        assert!(!conflicts(
            &mine,
            &facts("p1", "ABC", None, &["A"], DealStatus::Submitted),
            now()
        ));
        assert!(!conflicts(
            &mine,
            &facts("p2", "XYZ", None, &["A"], DealStatus::Submitted),
            now()
        ));
    }

    #[test]
    fn approved_deals_conflict_only_while_protected_and_decided_ones_never() {
        let mine = facts("p1", "ABC", None, &["A"], DealStatus::Submitted);
        let mut approved = facts("p2", "ABC", None, &["A"], DealStatus::Approved);
        approved.protected_until = Some(now() + Duration::days(1));
        assert!(conflicts(&mine, &approved, now()));
        approved.protected_until = Some(now() - Duration::seconds(1));
        assert!(!conflicts(&mine, &approved, now()));
        for status in [
            DealStatus::Rejected,
            DealStatus::Won,
            DealStatus::Lost,
            DealStatus::Expired,
        ] {
            assert!(
                !conflicts(&mine, &facts("p2", "ABC", None, &["A"], status), now()),
                "{status}"
            );
        }
    }

    fn usd(amount: &str) -> Money {
        Money::parse(amount, "USD").unwrap()
    }

    #[test]
    fn auto_approval_needs_no_conflict_and_a_value_under_the_tier_threshold() {
        let policy = AutoApprovalPolicy {
            default_threshold: Some(usd("10000")),
            tier_thresholds: vec![("gold".into(), usd("50000"))],
        };
        assert_eq!(
            review(&policy, usd("9999.99"), None, false),
            ReviewOutcome::AutoApprove
        );
        assert_eq!(
            review(&policy, usd("10000"), None, false),
            ReviewOutcome::NeedsManager { conflict: false }
        );
        assert_eq!(
            review(&policy, usd("40000"), Some("Gold"), false),
            ReviewOutcome::AutoApprove
        );
        assert_eq!(
            review(&policy, usd("1"), Some("gold"), true),
            ReviewOutcome::NeedsManager { conflict: true }
        );
        let euros = Money::parse("1", "EUR").unwrap();
        assert_eq!(
            review(&policy, euros, None, false),
            ReviewOutcome::NeedsManager { conflict: false }
        );
        let manual_only = AutoApprovalPolicy {
            default_threshold: None,
            tier_thresholds: vec![],
        };
        assert!(!manual_only.auto_approves(usd("1"), None, false));
    }

    #[test]
    fn review_due_time_skips_weekends() {
        let friday = Utc.with_ymd_and_hms(2026, 11, 27, 9, 30, 0).unwrap();
        assert_eq!(
            add_business_days(friday, 2),
            Utc.with_ymd_and_hms(2026, 12, 1, 9, 30, 0).unwrap()
        );
        let saturday = Utc.with_ymd_and_hms(2026, 11, 28, 9, 30, 0).unwrap();
        assert_eq!(
            add_business_days(saturday, 1),
            Utc.with_ymd_and_hms(2026, 12, 1, 9, 30, 0).unwrap()
        );
        let monday = Utc.with_ymd_and_hms(2026, 11, 23, 9, 30, 0).unwrap();
        assert_eq!(add_business_days(monday, 0), monday);
    }

    fn request(json: serde_json::Value) -> DealRequest {
        serde_json::from_value(json).unwrap()
    }

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 23).unwrap()
    }

    #[test]
    fn a_complete_registration_validates() {
        let deal = request(serde_json::json!({
            "end_customer": {"name": "ABC Computers, Inc.", "domain": "abc.com", "country": "us"},
            "products": ["SKU-1", "SKU-2", "SKU-1"],
            "estimated_value": {"amount": "12500.50", "currency": "USD"},
            "expected_close_date": "2026-12-31",
            "notes": "  renewal  "
        }))
        .validate(today(), |_| true)
        .unwrap();
        assert_eq!(deal.end_customer.country, "US");
        assert_eq!(deal.products.len(), 2);
        assert_eq!(deal.estimated_value, usd("12500.50"));
        assert_eq!(deal.notes.as_deref(), Some("renewal"));
    }

    #[test]
    fn every_faulty_field_is_named() {
        let errors = request(serde_json::json!({
            "end_customer": {"name": "", "domain": "not a domain", "country": "USA"},
            "products": ["SKU-1", "NOPE", ""],
            "estimated_value": {"amount": "-5", "currency": "XYZ"},
            "expected_close_date": "2020-01-01",
            "notes": "x".repeat(MAX_NOTES_CHARS + 1)
        }))
        .validate(today(), |sku| sku == "SKU-1")
        .unwrap_err();
        let fields: Vec<_> = errors.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "end_customer.name",
                "end_customer.domain",
                "end_customer.country",
                "products[1]",
                "products[2]",
                "estimated_value.currency",
                "estimated_value.amount",
                "expected_close_date",
                "notes"
            ]
        );
    }

    #[test]
    fn missing_fields_are_required_and_numbers_are_read_exactly() {
        let errors = DealRequest::default()
            .validate(today(), |_| true)
            .unwrap_err();
        let fields: Vec<_> = errors.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "end_customer.name",
                "end_customer.country",
                "products",
                "estimated_value",
                "expected_close_date"
            ]
        );
        let deal = request(serde_json::json!({
            "end_customer": {"name": "ABC", "country": "US"},
            "products": ["A"],
            "estimated_value": {"amount": 0.1, "currency": "USD"},
            "expected_close_date": "2026-11-23"
        }))
        .validate(today(), |_| true)
        .unwrap();
        assert_eq!(deal.estimated_value, usd("0.1"));
    }

    #[test]
    fn unknown_fields_are_refused() {
        let parsed: Result<DealRequest, _> =
            serde_json::from_value(serde_json::json!({"product": ["A"]}));
        assert!(parsed.is_err());
    }

    fn registered() -> Deal {
        let valid = request(serde_json::json!({
            "end_customer": {"name": "ABC", "country": "US"},
            "products": ["A"],
            "estimated_value": {"amount": "100", "currency": "USD"},
            "expected_close_date": "2026-12-01"
        }))
        .validate(today(), |_| true)
        .unwrap();
        Deal::register(PartnerId::generate(), valid, now()).0
    }

    #[test]
    fn a_held_deal_is_decided_once() {
        let deal = registered();
        let due = add_business_days(now(), 2);
        let (held, entry) = transition(
            &deal,
            &Action::HoldForManager {
                due,
                conflict: true,
            },
            "review",
            now(),
        )
        .unwrap();
        assert_eq!(
            (held.status, held.version, held.review_due_at),
            (DealStatus::PendingReview, 2, Some(due))
        );
        assert_eq!(
            (entry.from, entry.to),
            (Some(DealStatus::Submitted), DealStatus::PendingReview)
        );
        let (approved, _) = transition(
            &held,
            &Action::Approve {
                protection: Duration::days(90),
            },
            "mgr",
            now(),
        )
        .unwrap();
        assert_eq!(approved.protected_until, Some(now() + Duration::days(90)));
        assert_eq!(approved.review_due_at, None);
        for action in [
            Action::Approve {
                protection: Duration::days(1),
            },
            Action::Reject(RejectionReason::Duplicate),
        ] {
            assert!(matches!(
                transition(&approved, &action, "mgr2", now()),
                Err(TransitionError::NotAllowed { .. })
            ));
        }
    }

    #[test]
    fn rejection_records_its_reason() {
        let (rejected, entry) = transition(
            &registered(),
            &Action::Reject(RejectionReason::Other {
                text: "no budget".into(),
            }),
            "mgr",
            now(),
        )
        .unwrap();
        assert_eq!(rejected.status, DealStatus::Rejected);
        assert_eq!(entry.note.as_deref(), Some("no budget"));
        let (_, entry) = transition(
            &registered(),
            &Action::Reject(RejectionReason::OutsideTerritory),
            "mgr",
            now(),
        )
        .unwrap();
        assert_eq!(entry.note.as_deref(), Some("outside_territory"));
    }

    #[test]
    fn only_approved_deals_are_won_lost_or_expired_and_expiry_waits_for_the_end_of_protection() {
        let deal = registered();
        assert!(transition(&deal, &Action::Win, "p", now()).is_err());
        let (approved, _) = transition(
            &deal,
            &Action::Approve {
                protection: Duration::days(60),
            },
            "mgr",
            now(),
        )
        .unwrap();
        assert_eq!(
            transition(&approved, &Action::Lose, "p", now())
                .unwrap()
                .0
                .status,
            DealStatus::Lost
        );
        assert!(matches!(
            transition(&approved, &Action::Expire, "sweep", now()),
            Err(TransitionError::StillProtected(_))
        ));
        let later = now() + Duration::days(60);
        assert_eq!(
            transition(&approved, &Action::Expire, "sweep", later)
                .unwrap()
                .0
                .status,
            DealStatus::Expired
        );
    }

    #[test]
    fn the_sweep_warns_once_before_expiry_then_expires() {
        let (mut approved, _) = transition(
            &registered(),
            &Action::Approve {
                protection: Duration::days(90),
            },
            "m",
            now(),
        )
        .unwrap();
        let warn = Duration::days(7);
        assert_eq!(sweep_action(&approved, now(), warn), None);
        assert_eq!(
            sweep_action(&approved, now() + Duration::days(84), warn),
            Some(SweepAction::Warn)
        );
        approved.expiry_warned = true;
        assert_eq!(
            sweep_action(&approved, now() + Duration::days(84), warn),
            None
        );
        assert_eq!(
            sweep_action(&approved, now() + Duration::days(90), warn),
            Some(SweepAction::Expire)
        );
    }
}
