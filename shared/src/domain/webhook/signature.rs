//! The `Chan-Signature` scheme, inbound and outbound alike:
//! `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`.
//!
//! The timestamp is signed with the body, so a captured request cannot be replayed outside the
//! window; a header may carry several `v1` values (a sender in the middle of a rotation), and
//! unknown schemes are ignored so that a `v2` can be added later.
//!
//! Verifying costs one MAC of the body per active secret (at most two), however many values a
//! header offers: the header is unauthenticated input, so its shape is checked first (length,
//! at most [`MAX_SIGNATURES`] values of exactly one digest each) and each offered value is
//! compared with the computed digests, never hashed itself.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::{Choice, ConstantTimeEq};

/// The header, as HTTP clients and servers spell it (names are case-insensitive).
pub const SIGNATURE_HEADER: &str = "chan-signature";
/// A signature older or newer than this (seconds) is refused.
pub const TOLERANCE_SECONDS: i64 = 300;
/// The longest header accepted: a timestamp, five `v1` values and some room for other schemes.
pub const MAX_HEADER_LENGTH: usize = 1024;
/// The most `v1` values a header may offer (a sender rotating needs two).
pub const MAX_SIGNATURES: usize = 5;
/// Bytes of an HMAC-SHA256 digest (a `v1` value is twice as many hex digits).
pub const DIGEST_LENGTH: usize = 32;

type HmacSha256 = Hmac<Sha256>;
/// An HMAC-SHA256 digest.
pub type Digest = [u8; DIGEST_LENGTH];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the Chan-Signature header is missing")]
    Missing,
    #[error("the Chan-Signature header is malformed: {0}")]
    Malformed(&'static str),
    #[error(
        "the Chan-Signature header is malformed: it is {0} bytes long, longer than the {MAX_HEADER_LENGTH} accepted"
    )]
    TooLong(usize),
    #[error(
        "the Chan-Signature header is malformed: it carries more than {MAX_SIGNATURES} v1 values"
    )]
    TooManySignatures,
    #[error(
        "the signature's timestamp is {age} seconds away from now; at most {TOLERANCE_SECONDS} are accepted"
    )]
    Stale { age: i64 },
    #[error("the signature does not match the body under the source's secrets")]
    Mismatch,
}

/// A header whose shape is valid: its timestamp and 1 to [`MAX_SIGNATURES`] digests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureHeader {
    pub timestamp: i64,
    pub signatures: Vec<Digest>,
}

impl SignatureHeader {
    /// Reads a header; the work is bounded by [`MAX_HEADER_LENGTH`] and the values kept by
    /// [`MAX_SIGNATURES`], whatever the text.
    pub fn parse(header: &str) -> Result<Self, SignatureError> {
        if header.len() > MAX_HEADER_LENGTH {
            return Err(SignatureError::TooLong(header.len()));
        }
        let mut timestamp = None;
        let mut signatures = Vec::new();
        for part in header.split(',') {
            let (name, value) = part
                .trim()
                .split_once('=')
                .ok_or(SignatureError::Malformed(
                    "expected t=<unix seconds>,v1=<hex>",
                ))?;
            let value = value.trim();
            match name.trim() {
                "t" => {
                    let parsed = value
                        .parse::<i64>()
                        .map_err(|_| SignatureError::Malformed("t is not unix seconds"))?;
                    if timestamp.replace(parsed).is_some() {
                        return Err(SignatureError::Malformed("t appears twice"));
                    }
                }
                "v1" => {
                    if value.is_empty() {
                        return Err(SignatureError::Malformed("a v1 value is empty"));
                    }
                    if signatures.len() == MAX_SIGNATURES {
                        return Err(SignatureError::TooManySignatures);
                    }
                    let mut digest = [0u8; DIGEST_LENGTH];
                    hex::decode_to_slice(value, &mut digest).map_err(|_| {
                        SignatureError::Malformed("v1 is not 64 hexadecimal digits")
                    })?;
                    signatures.push(digest);
                }
                _ => {}
            }
        }
        let timestamp = timestamp.ok_or(SignatureError::Malformed("t is missing"))?;
        if signatures.is_empty() {
            return Err(SignatureError::Malformed("v1 is missing"));
        }
        Ok(Self {
            timestamp,
            signatures,
        })
    }

    /// Refuses a timestamp more than [`TOLERANCE_SECONDS`] from `now` (unix seconds).
    pub fn check_age(&self, now: i64) -> Result<(), SignatureError> {
        let age = now.saturating_sub(self.timestamp);
        if age.saturating_abs() > TOLERANCE_SECONDS {
            return Err(SignatureError::Stale { age });
        }
        Ok(())
    }

    /// True if any offered value equals one of `expected`. Every pair is compared, in constant
    /// time, so the answer's timing says nothing about which value came close.
    pub fn matches(&self, expected: &[Digest]) -> bool {
        let mut found = Choice::from(0);
        for digest in expected {
            for offered in &self.signatures {
                found |= digest.ct_eq(offered);
            }
        }
        found.into()
    }
}

/// The digest of `body` signed at `timestamp` under `secret`: one pass over the body.
pub fn digest(secret: &str, timestamp: i64, body: &[u8]) -> Digest {
    let mut mac =
        HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let mut out = [0u8; DIGEST_LENGTH];
    out.copy_from_slice(&mac.finalize().into_bytes());
    out
}

/// The header value signing `body` at `timestamp` (unix seconds).
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    format!(
        "t={timestamp},v1={}",
        hex::encode(digest(secret, timestamp, body))
    )
}

/// Checks `header` against `body` under any of `secrets` (two during a rotation), at `now`
/// (unix seconds): the shape first, then the age, then one MAC per secret.
pub fn verify(
    header: Option<&str>,
    body: &[u8],
    secrets: &[&str],
    now: i64,
) -> Result<(), SignatureError> {
    verify_with(header, secrets, now, |secret, timestamp| {
        digest(secret, timestamp, body)
    })
}

/// [`verify`] with the digest computation given: `digest(secret, timestamp)` is called once per
/// secret at most, and only for a header of a valid shape and age.
fn verify_with(
    header: Option<&str>,
    secrets: &[&str],
    now: i64,
    mut digest: impl FnMut(&str, i64) -> Digest,
) -> Result<(), SignatureError> {
    let header = SignatureHeader::parse(header.ok_or(SignatureError::Missing)?)?;
    header.check_age(now)?;
    let expected: Vec<Digest> = secrets
        .iter()
        .map(|secret| digest(secret, header.timestamp))
        .collect();
    if header.matches(&expected) {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
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
        let zeros = "0".repeat(64);
        for (header, why) in [
            ("", "expected t=<unix seconds>,v1=<hex>"),
            (&format!("v1={zeros}"), "t is missing"),
            (&format!("t={NOW}"), "v1 is missing"),
            (&format!("t=yesterday,v1={zeros}"), "t is not unix seconds"),
            (&format!("t={NOW},v1=zz"), "v1 is not 64 hexadecimal digits"),
            (&format!("t={NOW},v1=00"), "v1 is not 64 hexadecimal digits"),
            (
                &format!("t={NOW},v1={zeros}00"),
                "v1 is not 64 hexadecimal digits",
            ),
            (&format!("t={NOW},t={NOW},v1={zeros}"), "t appears twice"),
            (&format!("t={NOW},v1="), "a v1 value is empty"),
            (&format!("t={NOW},v1= ,v1={zeros}"), "a v1 value is empty"),
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

    /// The 1,500 empty `v1=` values of defect 3 (and shorter variants) are refused for their
    /// shape, before any MAC is computed.
    #[test]
    fn empty_and_too_many_values_are_refused_as_malformed() {
        let big = vec![b'x'; 200 * 1024];
        let empties = format!("t={NOW}{}", ",v1=".repeat(1500));
        let one_empty = format!("t={NOW},v1=");
        let six = format!("t={NOW}{}", format!(",v1={}", "ab".repeat(32)).repeat(6));
        for (header, fault) in [
            (&empties, SignatureError::TooLong(empties.len())),
            (&one_empty, SignatureError::Malformed("a v1 value is empty")),
            (&six, SignatureError::TooManySignatures),
        ] {
            let refused = verify(Some(header), &big, &["whsec_a", "whsec_b"], NOW);
            assert_eq!(refused, Err(fault), "{}", &header[..40]);
        }
    }

    #[test]
    fn long_headers_and_many_values_are_refused_by_name() {
        let value = "ab".repeat(32);
        let five = format!("t={NOW}{}", format!(",v1={value}").repeat(5));
        assert_eq!(
            verify(Some(&five), BODY, &["whsec_a"], NOW),
            Err(SignatureError::Mismatch)
        );
        let six = format!("{five},v1={value}");
        assert_eq!(
            verify(Some(&six), BODY, &["whsec_a"], NOW),
            Err(SignatureError::TooManySignatures)
        );
        // Another scheme's values are not counted, but the whole header is bounded.
        let padded = format!("{},v0={}", sign("whsec_a", NOW, BODY), "a".repeat(600));
        assert_eq!(verify(Some(&padded), BODY, &["whsec_a"], NOW), Ok(()));
        let long = format!("{padded}{}", ",v1=".repeat(1500));
        assert_eq!(
            verify(Some(&long), BODY, &["whsec_a"], NOW),
            Err(SignatureError::TooLong(long.len()))
        );
        for err in [
            SignatureError::TooLong(6013),
            SignatureError::TooManySignatures,
            SignatureError::Malformed("a v1 value is empty"),
        ] {
            let text = err.to_string();
            assert!(
                text.starts_with("the Chan-Signature header is malformed: "),
                "{text}"
            );
        }
        assert!(
            SignatureError::TooLong(6013)
                .to_string()
                .contains("6013 bytes long")
        );
    }

    /// One MAC per active secret, whatever the header offers; none for a header refused for its
    /// shape or age.
    #[test]
    fn each_secret_is_hashed_once_whatever_the_values() {
        let value = |n: u8| hex::encode([n; DIGEST_LENGTH]);
        let offered = format!(
            "t={NOW},v1={},v1={},v1={},v1={},v1={}",
            value(1),
            value(2),
            value(3),
            value(4),
            value(5)
        );
        let mut calls = Vec::new();
        let result = verify_with(Some(&offered), &["whsec_new", "whsec_old"], NOW, |s, t| {
            calls.push((s.to_string(), t));
            [9; DIGEST_LENGTH]
        });
        assert_eq!(result, Err(SignatureError::Mismatch));
        assert_eq!(
            calls,
            [
                ("whsec_new".to_string(), NOW),
                ("whsec_old".to_string(), NOW)
            ]
        );
        // The matching digest is found whichever value and secret it is.
        let result = verify_with(Some(&offered), &["whsec_new", "whsec_old"], NOW, |s, _| {
            if s == "whsec_old" {
                [4; DIGEST_LENGTH]
            } else {
                [0; DIGEST_LENGTH]
            }
        });
        assert_eq!(result, Ok(()));
        let mut hashed = 0;
        for refused in [
            format!("t={NOW}{}", ",v1=".repeat(1500)),
            format!("t={NOW}{}", format!(",v1={}", value(1)).repeat(6)),
            format!("t={},v1={}", NOW - 3600, value(1)),
        ] {
            let result = verify_with(Some(&refused), &["whsec_a", "whsec_b"], NOW, |_, _| {
                hashed += 1;
                [1; DIGEST_LENGTH]
            });
            assert!(result.is_err());
        }
        assert_eq!(hashed, 0);
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

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

        /// Any text (Unicode, runs of commas and `=`, long values) is parsed without a panic,
        /// keeping at most MAX_SIGNATURES values.
        #[test]
        fn any_header_text_parses_or_is_refused(text in "(\\PC|[,=tv1 ]){0,1200}") {
            check_parse(&text);
        }

        #[test]
        fn any_header_bytes_parse_or_are_refused(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2048),
        ) {
            check_parse(&String::from_utf8_lossy(&bytes));
        }

        /// Headers of the scheme's own pieces, in any number and order.
        #[test]
        fn headers_built_of_the_schemes_pieces_parse_or_are_refused(
            pieces in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::prelude::Just(String::from("v1=")),
                    proptest::prelude::Just(format!("v1={}", "ab".repeat(32))),
                    proptest::prelude::Just(format!("t={NOW}")),
                    proptest::prelude::Just(String::from("=")),
                    proptest::prelude::Just(String::new()),
                    "[a-z0-9]{0,3}=[0-9a-f]{0,80}",
                ],
                0..400,
            ),
        ) {
            check_parse(&pieces.join(","));
        }
    }

    fn check_parse(text: &str) {
        match SignatureHeader::parse(text) {
            Ok(parsed) => {
                assert!(text.len() <= MAX_HEADER_LENGTH);
                assert!((1..=MAX_SIGNATURES).contains(&parsed.signatures.len()));
            }
            Err(SignatureError::TooLong(length)) => assert!(length > MAX_HEADER_LENGTH),
            Err(SignatureError::Malformed(_) | SignatureError::TooManySignatures) => {}
            Err(other) => panic!("parsing alone refused {text:?} with {other:?}"),
        }
        // And verifying any such header answers without a panic.
        let _ = verify(Some(text), BODY, &["whsec_a"], NOW);
    }
}
