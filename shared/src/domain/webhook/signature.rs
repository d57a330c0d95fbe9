//! The `Chan-Signature` scheme, inbound and outbound alike:
//! `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`.
//!
//! The timestamp is signed with the body, so a captured request cannot be replayed outside the
//! window; a header may carry several `v1` values (a sender in the middle of a rotation), and
//! unknown schemes are ignored so that a `v2` can be added later.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The header, as HTTP clients and servers spell it (names are case-insensitive).
pub const SIGNATURE_HEADER: &str = "chan-signature";
/// A signature older or newer than this (seconds) is refused.
pub const TOLERANCE_SECONDS: i64 = 300;

type HmacSha256 = Hmac<Sha256>;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the Chan-Signature header is missing")]
    Missing,
    #[error("the Chan-Signature header is malformed: {0}")]
    Malformed(&'static str),
    #[error(
        "the signature's timestamp is {age} seconds away from now; at most {TOLERANCE_SECONDS} are accepted"
    )]
    Stale { age: i64 },
    #[error("the signature does not match the body under the source's secrets")]
    Mismatch,
}

fn mac(secret: &str, timestamp: i64, body: &[u8]) -> HmacSha256 {
    let mut mac =
        HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The header value signing `body` at `timestamp` (unix seconds).
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let digest = mac(secret, timestamp, body).finalize().into_bytes();
    format!("t={timestamp},v1={}", hex::encode(digest))
}

/// Checks `header` against `body` under any of `secrets` (two during a rotation), at `now`
/// (unix seconds). Digests are compared in constant time.
pub fn verify(
    header: Option<&str>,
    body: &[u8],
    secrets: &[&str],
    now: i64,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        let (name, value) = part
            .trim()
            .split_once('=')
            .ok_or(SignatureError::Malformed(
                "expected t=<unix seconds>,v1=<hex>",
            ))?;
        match name.trim() {
            "t" => {
                let parsed = value
                    .trim()
                    .parse::<i64>()
                    .map_err(|_| SignatureError::Malformed("t is not unix seconds"))?;
                if timestamp.replace(parsed).is_some() {
                    return Err(SignatureError::Malformed("t appears twice"));
                }
            }
            "v1" => signatures.push(
                hex::decode(value.trim())
                    .map_err(|_| SignatureError::Malformed("v1 is not hexadecimal"))?,
            ),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed("t is missing"))?;
    if signatures.is_empty() {
        return Err(SignatureError::Malformed("v1 is missing"));
    }
    let age = now.saturating_sub(timestamp);
    if age.saturating_abs() > TOLERANCE_SECONDS {
        return Err(SignatureError::Stale { age });
    }
    for secret in secrets {
        for signature in &signatures {
            if mac(secret, timestamp, body).verify_slice(signature).is_ok() {
                return Ok(());
            }
        }
    }
    Err(SignatureError::Mismatch)
}

/// A new signing secret, `whsec_<64 hex>`, from the operating system's random source.
pub fn generate_secret() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the OS random source works");
    format!("whsec_{}", hex::encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;
    const BODY: &[u8] = br#"{"id":"evt_1","type":"price.changed","data":{}}"#;

    #[test]
    fn a_signature_made_with_the_secret_verifies() {
        let header = sign("whsec_a", NOW, BODY);
        assert!(header.starts_with(&format!("t={NOW},v1=")));
        assert_eq!(verify(Some(&header), BODY, &["whsec_a"], NOW), Ok(()));
        // Within the window either way.
        assert_eq!(verify(Some(&header), BODY, &["whsec_a"], NOW + 300), Ok(()));
        assert_eq!(verify(Some(&header), BODY, &["whsec_a"], NOW - 300), Ok(()));
    }

    #[test]
    fn wrong_secret_and_tampered_body_do_not_match() {
        let header = sign("whsec_a", NOW, BODY);
        assert_eq!(
            verify(Some(&header), BODY, &["whsec_b"], NOW),
            Err(SignatureError::Mismatch)
        );
        let tampered = br#"{"id":"evt_1","type":"price.changed","data":{"x":1}}"#;
        assert_eq!(
            verify(Some(&header), tampered, &["whsec_a"], NOW),
            Err(SignatureError::Mismatch)
        );
        // The timestamp is signed: moving it breaks the signature.
        let moved = header.replace(&format!("t={NOW}"), &format!("t={}", NOW + 1));
        assert_eq!(
            verify(Some(&moved), BODY, &["whsec_a"], NOW),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn old_and_future_timestamps_are_stale() {
        let header = sign("whsec_a", NOW, BODY);
        assert_eq!(
            verify(Some(&header), BODY, &["whsec_a"], NOW + 301),
            Err(SignatureError::Stale { age: 301 })
        );
        assert_eq!(
            verify(Some(&header), BODY, &["whsec_a"], NOW - 301),
            Err(SignatureError::Stale { age: -301 })
        );
        let extreme = sign("whsec_a", i64::MIN, BODY);
        assert!(matches!(
            verify(Some(&extreme), BODY, &["whsec_a"], NOW),
            Err(SignatureError::Stale { .. })
        ));
    }

    #[test]
    fn either_secret_of_a_rotation_verifies() {
        let old = sign("whsec_old", NOW, BODY);
        let new = sign("whsec_new", NOW, BODY);
        let secrets = ["whsec_new", "whsec_old"];
        assert_eq!(verify(Some(&old), BODY, &secrets, NOW), Ok(()));
        assert_eq!(verify(Some(&new), BODY, &secrets, NOW), Ok(()));
        // A sender rotating signs with both; one match is enough.
        let both = format!("{new},v1={}", old.split("v1=").nth(1).unwrap());
        assert_eq!(verify(Some(&both), BODY, &["whsec_old"], NOW), Ok(()));
    }

    #[test]
    fn missing_and_malformed_headers_are_named() {
        assert_eq!(
            verify(None, BODY, &["whsec_a"], NOW),
            Err(SignatureError::Missing)
        );
        for (header, why) in [
            ("", "expected t=<unix seconds>,v1=<hex>"),
            ("v1=00", "t is missing"),
            (&format!("t={NOW}"), "v1 is missing"),
            ("t=yesterday,v1=00", "t is not unix seconds"),
            (&format!("t={NOW},v1=zz"), "v1 is not hexadecimal"),
            (&format!("t={NOW},t={NOW},v1=00"), "t appears twice"),
        ] {
            assert_eq!(
                verify(Some(header), BODY, &["whsec_a"], NOW),
                Err(SignatureError::Malformed(why)),
                "{header}"
            );
        }
        // Unknown schemes are ignored, not refused.
        let header = format!("{},v0=abc", sign("whsec_a", NOW, BODY));
        assert_eq!(verify(Some(&header), BODY, &["whsec_a"], NOW), Ok(()));
    }

    #[test]
    fn no_secret_matches_nothing() {
        let header = sign("whsec_a", NOW, BODY);
        assert_eq!(
            verify(Some(&header), BODY, &[], NOW),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn secrets_are_random_and_well_formed() {
        let (a, b) = (generate_secret(), generate_secret());
        assert_ne!(a, b);
        assert_eq!(a.len(), "whsec_".len() + 64);
        assert!(a.starts_with("whsec_"));
    }
}
