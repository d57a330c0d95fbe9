//! The partner record: an organisation (reseller, integrator or distributor) and its status.
//!
//! Only `active` partners may register deals and submit claims (the readiness gate). The
//! onboarding workflow owns the transitions (activation when every required step is done,
//! deactivation by a manager); the admin tool can still set a status by hand.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ids::PartnerId;
use super::validation::ValidationErrors;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PartnerStatus {
    /// Applied or onboarding: known, but not yet allowed to transact.
    Pending,
    Active,
    /// Offboarded or suspended: history kept, new business refused.
    Inactive,
}

impl PartnerStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            PartnerStatus::Pending => "pending",
            PartnerStatus::Active => "active",
            PartnerStatus::Inactive => "inactive",
        }
    }
}

impl FromStr for PartnerStatus {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value {
            "pending" => Ok(PartnerStatus::Pending),
            "active" => Ok(PartnerStatus::Active),
            "inactive" => Ok(PartnerStatus::Inactive),
            other => Err(format!(
                "unknown partner status {other:?} (expected pending, active or inactive)"
            )),
        }
    }
}

impl fmt::Display for PartnerStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What kind of organisation a partner record describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PartnerKind {
    Reseller,
    Distributor,
}

impl PartnerKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            PartnerKind::Reseller => "reseller",
            PartnerKind::Distributor => "distributor",
        }
    }
}

impl FromStr for PartnerKind {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value {
            "reseller" => Ok(PartnerKind::Reseller),
            "distributor" => Ok(PartnerKind::Distributor),
            other => Err(format!(
                "unknown partner kind {other:?} (expected reseller or distributor)"
            )),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Partner {
    pub id: PartnerId,
    pub name: String,
    pub kind: PartnerKind,
    /// ISO 3166-1 alpha-2 country code.
    pub country: String,
    pub status: PartnerStatus,
    pub tier: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Incremented by every change; conditional writes compare it.
    pub version: u64,
}

impl Partner {
    /// A new partner record, validated: a name and a two-letter country code are required.
    pub fn new(
        name: &str,
        kind: PartnerKind,
        country: &str,
        status: PartnerStatus,
        now: DateTime<Utc>,
    ) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 200 {
            errors.add("name", "must be 1 to 200 characters");
        }
        let country = country.trim().to_ascii_uppercase();
        if country.len() != 2 || !country.bytes().all(|b| b.is_ascii_uppercase()) {
            errors.add(
                "country",
                "must be an ISO 3166-1 alpha-2 code such as US or DE",
            );
        }
        errors.into_result(Self {
            id: PartnerId::generate(),
            name: name.to_string(),
            kind,
            country,
            status,
            tier: None,
            created_at: now,
            updated_at: now,
            version: 1,
        })
    }

    /// The readiness gate for deals and claims.
    pub fn may_transact(&self) -> bool {
        self.status == PartnerStatus::Active
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_partner_normalises_country_and_starts_at_version_one() {
        let partner = Partner::new(
            " Acme ",
            PartnerKind::Reseller,
            "us",
            PartnerStatus::Active,
            Utc::now(),
        )
        .unwrap();
        assert_eq!(partner.name, "Acme");
        assert_eq!(partner.country, "US");
        assert_eq!(partner.version, 1);
        assert!(partner.may_transact());
    }

    #[test]
    fn reports_every_invalid_field() {
        let errors = Partner::new(
            "",
            PartnerKind::Reseller,
            "USA",
            PartnerStatus::Pending,
            Utc::now(),
        )
        .unwrap_err();
        let fields: Vec<_> = errors.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["name", "country"]);
    }

    #[test]
    fn only_active_partners_may_transact() {
        let mut partner = Partner::new(
            "Acme",
            PartnerKind::Reseller,
            "US",
            PartnerStatus::Pending,
            Utc::now(),
        )
        .unwrap();
        assert!(!partner.may_transact());
        partner.status = PartnerStatus::Inactive;
        assert!(!partner.may_transact());
    }
}
