//! Typed identifiers: a short prefix naming the kind, then a ULID (sortable by creation time).
//!
//! The prefix makes an id pasted into the wrong place fail loudly (`ptn_...` is not a deal id).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not a valid {kind} id (expected {prefix}_ followed by 26 characters)")]
pub struct InvalidId {
    pub kind: &'static str,
    pub prefix: &'static str,
    pub value: String,
}

macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            /// A fresh id, ordered after every id made earlier.
            pub fn generate() -> Self {
                Self(format!("{}_{}", $prefix, ulid::Ulid::new().to_string().to_lowercase()))
            }

            /// The id named by `seed`: the same seed always gives the same id, so a record
            /// made from a stable cause (a co-op fund of a period, a price change of a SKU and
            /// day) can be written without looking it up first.
            pub fn derived(seed: &str) -> Self {
                use sha2::Digest;
                let digest = sha2::Sha256::digest(seed.as_bytes());
                let mut bytes = [0u8; 16];
                bytes.copy_from_slice(&digest[..16]);
                let ulid = ulid::Ulid(u128::from_be_bytes(bytes));
                Self(format!("{}_{}", $prefix, ulid.to_string().to_lowercase()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = InvalidId;

            fn from_str(value: &str) -> Result<Self, Self::Err> {
                let valid = value
                    .strip_prefix(concat!($prefix, "_"))
                    .is_some_and(|rest| ulid::Ulid::from_string(rest).is_ok());
                if valid {
                    Ok(Self(value.to_string()))
                } else {
                    Err(InvalidId { kind: $kind, prefix: $prefix, value: value.to_string() })
                }
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidId;

            fn try_from(value: String) -> Result<Self, Self::Error> {
                value.parse()
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

typed_id!(
    /// A partner (reseller, integrator) or distributor organisation.
    PartnerId,
    "partner",
    "ptn"
);

typed_id!(
    /// A webhook subscription (outbound notifications to a URL).
    SubscriptionId,
    "subscription",
    "sub"
);

typed_id!(
    /// A deal registration.
    DealId,
    "deal",
    "deal"
);

typed_id!(
    /// An incentive program (rebate, spiff, co-op); all its versions share the id.
    ProgramId,
    "program",
    "prg"
);

typed_id!(
    /// A marketing fund (MDF allocated to a partner, or a co-op fund credited by accrual).
    FundId,
    "fund",
    "fnd"
);

typed_id!(
    /// A partner's claim against a fund.
    ClaimId,
    "claim",
    "clm"
);

typed_id!(
    /// A request for MDF pre-approval.
    MdfRequestId,
    "MDF request",
    "mdf"
);

typed_id!(
    /// A ship-and-debit authorisation: a special cost for one distributor, SKU and end customer.
    AuthorizationId,
    "ship and debit authorisation",
    "sda"
);

/// The public half of an API key: names the key in listings and revocations, grants nothing.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct KeyId(String);

impl KeyId {
    /// 16 lower-case hex digits.
    pub const LEN: usize = 16;

    pub fn from_bytes(bytes: [u8; 8]) -> Self {
        Self(hex::encode(bytes))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for KeyId {
    type Err = InvalidId;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        if value.len() == Self::LEN
            && value
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        {
            Ok(Self(value.to_string()))
        } else {
            Err(InvalidId {
                kind: "API key",
                prefix: "trb",
                value: value.to_string(),
            })
        }
    }
}

impl TryFrom<String> for KeyId {
    type Error = InvalidId;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<KeyId> for String {
    fn from(id: KeyId) -> String {
        id.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_round_trip_and_sort_by_creation() {
        let first = PartnerId::generate();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let second = PartnerId::generate();
        assert!(first < second);
        assert_eq!(first.as_str().parse::<PartnerId>().unwrap(), first);
        assert!(first.as_str().starts_with("ptn_"));
    }

    #[test]
    fn refuses_ids_of_another_kind_or_shape() {
        for bad in [
            "",
            "ptn_",
            "deal_01hzx3v4b5c6d7e8f9g0h1j2k3",
            "ptn_not-a-ulid",
            "01HZX3V4B5C6D7E8F9G0H1J2K3",
        ] {
            assert!(
                bad.parse::<PartnerId>().is_err(),
                "{bad:?} should be refused"
            );
        }
        let err = "x".parse::<PartnerId>().unwrap_err();
        assert!(err.to_string().contains("partner"));
    }

    #[test]
    fn key_ids_are_sixteen_hex_digits() {
        assert!("0123456789abcdef".parse::<KeyId>().is_ok());
        assert!("0123456789ABCDEF".parse::<KeyId>().is_err());
        assert!("0123456789abcde".parse::<KeyId>().is_err());
    }
}

typed_id!(
    /// A change of a SKU's distributor cost from a day (derived from the SKU and the day).
    PriceChangeId,
    "price change",
    "ppc"
);
