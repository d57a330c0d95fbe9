//! Who may call and what each caller may see: roles, principals, API keys, and the one role and
//! ownership check every workflow and handler uses ([`require`], [`may_see`]).
//!
//! A partner (or distributor) sees its own, vendor staff see all: what belongs to another
//! organisation is answered "not found" by the caller, as if it did not exist.
//!
//! An API key reads `trb_<key id>_<secret>`: the key id (16 hex digits) finds the stored record,
//! the whole key's SHA-256 proves possession. Only that hash is stored; the key itself is shown
//! once, when issued, and never again.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::ids::{KeyId, PartnerId};

/// What a caller may do. Vendor staff are `channel_manager` and `vendor_admin`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Partner,
    ChannelManager,
    VendorAdmin,
    Distributor,
}

impl Role {
    pub const ALL: [Role; 4] = [
        Role::Partner,
        Role::ChannelManager,
        Role::VendorAdmin,
        Role::Distributor,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Role::Partner => "partner",
            Role::ChannelManager => "channel_manager",
            Role::VendorAdmin => "vendor_admin",
            Role::Distributor => "distributor",
        }
    }

    /// Vendor staff see every partner's data; partners and distributors only their own.
    pub fn is_vendor_staff(&self) -> bool {
        matches!(self, Role::ChannelManager | Role::VendorAdmin)
    }

    /// Partners and distributors act for an organisation, so their principal is a partner id.
    pub fn acts_for_organisation(&self) -> bool {
        matches!(self, Role::Partner | Role::Distributor)
    }

    /// Checks the shape of a principal id for this role: a partner id for organisations, a
    /// user name (1-128 visible characters) for vendor staff.
    pub fn check_principal(&self, principal_id: &str) -> Result<(), String> {
        if self.acts_for_organisation() {
            principal_id
                .parse::<super::ids::PartnerId>()
                .map(|_| ())
                .map_err(|e| e.to_string())
        } else if (1..=128).contains(&principal_id.chars().count())
            && principal_id.chars().all(|c| c.is_ascii_graphic())
        {
            Ok(())
        } else {
            Err(format!(
                "{principal_id:?} is not a valid user name for role {self} (1 to 128 visible ASCII characters)"
            ))
        }
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == value)
            .ok_or_else(|| {
                format!(
                    "unknown role {value:?} (expected one of: partner, channel_manager, vendor_admin, distributor)"
                )
            })
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The authenticated caller, as the authorizer hands it to the functions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    /// A partner id for partners and distributors; a staff user name for vendor roles.
    pub id: String,
    pub role: Role,
    pub key_id: KeyId,
}

/// Vendor staff: channel managers and vendor admins, who see every partner's data.
pub const STAFF: [Role; 2] = [Role::ChannelManager, Role::VendorAdmin];
/// Vendor admins alone: who configure (programs, the catalog, sources, funds).
pub const ADMINS: [Role; 1] = [Role::VendorAdmin];
/// Organisations: partners and distributors, whose principal is a partner id.
pub const ORGANISATIONS: [Role; 2] = [Role::Partner, Role::Distributor];

/// A caller refused for its role (403), saying why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Forbidden(pub String);

/// Refuses a caller whose role is not `allowed`, saying who `what` is for ("deciding claims is
/// for channel_manager or vendor_admin", the roles in `allowed`'s order).
pub fn require(principal: &Principal, allowed: &[Role], what: &str) -> Result<(), Forbidden> {
    if allowed.contains(&principal.role) {
        Ok(())
    } else {
        let roles: Vec<&str> = allowed.iter().map(Role::as_str).collect();
        Err(Forbidden(format!("{what} is for {}", roles.join(" or "))))
    }
}

/// Refuses a caller whose role is not `allowed` with the words `refusal`.
pub fn require_or(
    principal: &Principal,
    allowed: &[Role],
    refusal: impl Into<String>,
) -> Result<(), Forbidden> {
    if allowed.contains(&principal.role) {
        Ok(())
    } else {
        Err(Forbidden(refusal.into()))
    }
}

/// Refuses a caller that does not act for the organisation `owner` itself (vendor staff too)
/// with the words `refusal`: for steps only the organisation takes.
pub fn require_own(
    principal: &Principal,
    owner: &str,
    refusal: impl Into<String>,
) -> Result<(), Forbidden> {
    if is_own(principal, owner) {
        Ok(())
    } else {
        Err(Forbidden(refusal.into()))
    }
}

/// The partner id the caller acts for: `None` for vendor staff, and for an organisation's key
/// whose principal is not a partner id (issued wrong by hand).
pub fn own_id(principal: &Principal) -> Option<PartnerId> {
    if principal.role.acts_for_organisation() {
        principal.id.parse().ok()
    } else {
        None
    }
}

/// Whether the caller acts for the organisation `owner` itself.
pub fn is_own(principal: &Principal, owner: &str) -> bool {
    principal.role.acts_for_organisation() && principal.id == owner
}

/// Whether the caller may see what organisation `owner` owns: vendor staff everything, a
/// partner or distributor its own.
pub fn may_see(principal: &Principal, owner: &str) -> bool {
    principal.role.is_vendor_staff() || is_own(principal, owner)
}

/// [`may_see`] for what only organisations of one role own (a distributor's POS files, a
/// partner's accruals): the owner itself under that role, or vendor staff.
pub fn may_see_as(principal: &Principal, owner_role: Role, owner: &str) -> bool {
    principal.role.is_vendor_staff() || (principal.role == owner_role && principal.id == owner)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyStatus {
    Active,
    Revoked,
}

impl KeyStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            KeyStatus::Active => "active",
            KeyStatus::Revoked => "revoked",
        }
    }
}

impl FromStr for KeyStatus {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value {
            "active" => Ok(KeyStatus::Active),
            "revoked" => Ok(KeyStatus::Revoked),
            other => Err(format!("unknown key status {other:?}")),
        }
    }
}

/// A presented or freshly issued API key. Its `Debug` never prints the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey {
    key_id: KeyId,
    full: String,
}

const KEY_PREFIX: &str = "trb_";
const SECRET_HEX_LEN: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed API key")]
pub struct MalformedKey;

impl ApiKey {
    /// A new key from the operating system's random source: 8 bytes of id, 32 of secret.
    pub fn generate() -> Self {
        let mut id = [0u8; 8];
        let mut secret = [0u8; 32];
        getrandom::fill(&mut id).expect("the OS random source is available");
        getrandom::fill(&mut secret).expect("the OS random source is available");
        let key_id = KeyId::from_bytes(id);
        let full = format!("{KEY_PREFIX}{key_id}_{}", hex::encode(secret));
        Self { key_id, full }
    }

    /// Parses the value of an `Authorization` header (`Bearer <key>`, scheme case-insensitive).
    pub fn from_authorization_header(header: &str) -> Result<Self, MalformedKey> {
        let (scheme, key) = header.trim().split_once(' ').ok_or(MalformedKey)?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(MalformedKey);
        }
        key.trim().parse()
    }

    pub fn key_id(&self) -> &KeyId {
        &self.key_id
    }

    /// The whole key, to show once to whoever asked for it.
    pub fn reveal(&self) -> &str {
        &self.full
    }

    /// SHA-256 of the whole key, hex-encoded: the only form that is stored.
    pub fn hash(&self) -> String {
        hex::encode(Sha256::digest(self.full.as_bytes()))
    }
}

impl FromStr for ApiKey {
    type Err = MalformedKey;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let rest = value.strip_prefix(KEY_PREFIX).ok_or(MalformedKey)?;
        let (id, secret) = rest.split_once('_').ok_or(MalformedKey)?;
        let key_id: KeyId = id.parse().map_err(|_| MalformedKey)?;
        let secret_ok = secret.len() == SECRET_HEX_LEN
            && secret
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if !secret_ok {
            return Err(MalformedKey);
        }
        Ok(Self {
            key_id,
            full: value.to_string(),
        })
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKey({KEY_PREFIX}{}_…)", self.key_id)
    }
}

/// What is stored for a key: never the key, only its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    pub key_id: KeyId,
    pub secret_hash: String,
    pub principal_id: String,
    pub role: Role,
    pub status: KeyStatus,
    pub label: Option<String>,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Why a presented key grants nothing. The authorizer logs the reason and denies alike for all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    #[error("malformed key")]
    Malformed,
    #[error("unknown key")]
    Unknown,
    #[error("key does not match its record")]
    Mismatch,
    #[error("key revoked")]
    Revoked,
}

impl ApiKeyRecord {
    /// A new active record for a freshly generated key.
    pub fn issue(
        key: &ApiKey,
        principal_id: String,
        role: Role,
        label: Option<String>,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            key_id: key.key_id().clone(),
            secret_hash: key.hash(),
            principal_id,
            role,
            status: KeyStatus::Active,
            label,
            created_at: now,
            revoked_at: None,
        }
    }

    /// Checks a presented key against this record. The hash comparison runs in constant time.
    pub fn authenticate(&self, presented: &ApiKey) -> Result<Principal, Denied> {
        let matches: bool = presented
            .hash()
            .as_bytes()
            .ct_eq(self.secret_hash.as_bytes())
            .into();
        if !matches || presented.key_id() != &self.key_id {
            return Err(Denied::Mismatch);
        }
        if self.status != KeyStatus::Active {
            return Err(Denied::Revoked);
        }
        Ok(Principal {
            id: self.principal_id.clone(),
            role: self.role,
            key_id: self.key_id.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record_for(key: &ApiKey) -> ApiKeyRecord {
        ApiKeyRecord::issue(
            key,
            "ptn_01hzx3v4b5c6d7e8f9g0h1j2k3".into(),
            Role::Partner,
            None,
            Utc::now(),
        )
    }

    #[test]
    fn generated_key_parses_back_from_a_bearer_header() {
        let key = ApiKey::generate();
        let header = format!("Bearer {}", key.reveal());
        let parsed = ApiKey::from_authorization_header(&header).unwrap();
        assert_eq!(parsed, key);
        assert!(ApiKey::from_authorization_header(&format!("bearer  {}", key.reveal())).is_ok());
    }

    #[test]
    fn refuses_malformed_headers() {
        let key = ApiKey::generate();
        let truncated = &key.reveal()[..key.reveal().len() - 1];
        for bad in [
            String::new(),
            key.reveal().to_string(), // no scheme
            format!("Basic {}", key.reveal()),
            format!("Bearer {truncated}"),
            format!("Bearer {}", key.reveal().to_uppercase()),
            "Bearer trb_0123456789abcdef".to_string(),
        ] {
            assert_eq!(
                ApiKey::from_authorization_header(&bad),
                Err(MalformedKey),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn active_key_authenticates_as_its_principal() {
        let key = ApiKey::generate();
        let principal = record_for(&key).authenticate(&key).unwrap();
        assert_eq!(principal.role, Role::Partner);
        assert_eq!(&principal.key_id, key.key_id());
    }

    #[test]
    fn wrong_secret_with_same_key_id_is_refused() {
        let key = ApiKey::generate();
        let forged: ApiKey = format!("trb_{}_{}", key.key_id(), "0".repeat(64))
            .parse()
            .unwrap();
        assert_eq!(
            record_for(&key).authenticate(&forged),
            Err(Denied::Mismatch)
        );
    }

    #[test]
    fn revoked_key_is_refused() {
        let key = ApiKey::generate();
        let mut record = record_for(&key);
        record.status = KeyStatus::Revoked;
        assert_eq!(record.authenticate(&key), Err(Denied::Revoked));
    }

    #[test]
    fn debug_output_hides_the_secret() {
        let key = ApiKey::generate();
        let secret = key.reveal().rsplit('_').next().unwrap().to_string();
        assert!(!format!("{key:?}").contains(&secret));
    }

    #[test]
    fn principals_must_fit_their_role() {
        assert!(
            Role::Partner
                .check_principal("ptn_01hzx3v4b5c6d7e8f9g0h1j2k3")
                .is_ok()
        );
        assert!(Role::Distributor.check_principal("alice").is_err());
        assert!(
            Role::ChannelManager
                .check_principal("alice@vendor.example")
                .is_ok()
        );
        assert!(Role::VendorAdmin.check_principal("two words").is_err());
        assert!(Role::VendorAdmin.check_principal("").is_err());
    }

    fn caller(role: Role, id: &str) -> Principal {
        Principal {
            id: id.into(),
            role,
            key_id: ApiKey::generate().key_id().clone(),
        }
    }

    const PARTNER: &str = "ptn_01hzx3v4b5c6d7e8f9g0h1j2k3";
    const OTHER: &str = "ptn_01hzx3v4b5c6d7e8f9g0h1j2k4";

    #[test]
    fn require_lets_the_allowed_roles_through_and_names_them_to_the_others() {
        for role in Role::ALL {
            let outcome = require(&caller(role, "x"), &STAFF, "deciding claims");
            if role.is_vendor_staff() {
                assert_eq!(outcome, Ok(()), "{role}");
            } else {
                assert_eq!(
                    outcome,
                    Err(Forbidden(
                        "deciding claims is for channel_manager or vendor_admin".into()
                    )),
                    "{role}"
                );
            }
        }
        // The roles are named in the order given.
        let refused = require(
            &caller(Role::Partner, PARTNER),
            &[Role::VendorAdmin, Role::ChannelManager],
            "reading webhook sources",
        );
        assert_eq!(
            refused.unwrap_err().to_string(),
            "reading webhook sources is for vendor_admin or channel_manager"
        );
        assert!(require(&caller(Role::ChannelManager, "cm"), &ADMINS, "inviting").is_err());
        assert!(require(&caller(Role::VendorAdmin, "va"), &ADMINS, "inviting").is_ok());
    }

    #[test]
    fn require_or_and_require_own_refuse_with_the_given_words() {
        let refused = require_or(
            &caller(Role::Distributor, PARTNER),
            &ADMINS,
            "only vendor admins define programs",
        );
        assert_eq!(
            refused,
            Err(Forbidden("only vendor admins define programs".into()))
        );
        assert_eq!(
            require_or(&caller(Role::VendorAdmin, "va"), &ADMINS, "no"),
            Ok(())
        );
        let step = "only the partner itself takes this step";
        assert_eq!(
            require_own(&caller(Role::Partner, PARTNER), PARTNER, step),
            Ok(())
        );
        for refused in [
            caller(Role::Partner, OTHER),
            caller(Role::VendorAdmin, PARTNER),
            caller(Role::ChannelManager, "cm"),
        ] {
            assert_eq!(
                require_own(&refused, PARTNER, step),
                Err(Forbidden(step.into())),
                "{refused:?}"
            );
        }
    }

    #[test]
    fn a_partner_sees_its_own_and_staff_see_all() {
        for role in ORGANISATIONS {
            let own = caller(role, PARTNER);
            assert!(may_see(&own, PARTNER), "{role}");
            assert!(!may_see(&own, OTHER), "{role}");
            assert!(is_own(&own, PARTNER), "{role}");
            assert!(!is_own(&own, OTHER), "{role}");
        }
        for role in STAFF {
            let staff = caller(role, "alice");
            assert!(may_see(&staff, PARTNER), "{role}");
            assert!(may_see(&staff, OTHER), "{role}");
            // Staff see all but never act as an organisation, even one named like them.
            assert!(!is_own(&caller(role, PARTNER), PARTNER), "{role}");
        }
    }

    #[test]
    fn may_see_as_also_wants_the_owners_role() {
        assert!(may_see_as(
            &caller(Role::Distributor, PARTNER),
            Role::Distributor,
            PARTNER
        ));
        assert!(!may_see_as(
            &caller(Role::Partner, PARTNER),
            Role::Distributor,
            PARTNER
        ));
        assert!(!may_see_as(
            &caller(Role::Distributor, OTHER),
            Role::Distributor,
            PARTNER
        ));
        for role in STAFF {
            assert!(may_see_as(&caller(role, "bob"), Role::Partner, PARTNER));
        }
    }

    #[test]
    fn own_id_is_an_organisations_partner_id() {
        assert_eq!(
            own_id(&caller(Role::Partner, PARTNER)),
            Some(PARTNER.parse().unwrap())
        );
        assert_eq!(
            own_id(&caller(Role::Distributor, PARTNER)),
            Some(PARTNER.parse().unwrap())
        );
        assert_eq!(own_id(&caller(Role::Partner, "not-a-partner-id")), None);
        assert_eq!(own_id(&caller(Role::VendorAdmin, PARTNER)), None);
    }

    #[test]
    fn role_sets() {
        assert!(STAFF.iter().all(Role::is_vendor_staff));
        assert!(ORGANISATIONS.iter().all(Role::acts_for_organisation));
        assert_eq!(STAFF.len() + ORGANISATIONS.len(), Role::ALL.len());
        assert!(ADMINS.iter().all(|r| STAFF.contains(r)));
    }

    #[test]
    fn roles_round_trip_through_their_names() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>().unwrap(), role);
        }
        assert!("admin".parse::<Role>().is_err());
    }
}
