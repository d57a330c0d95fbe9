//! The envelope: type, schema version, a stable id, the time, and the payload.
//!
//! The id names the *cause* (`deal-submitted:<deal id>`), not the send: publishing the same event
//! twice yields the same id, so a consumer's idempotency key ignores the duplicate.

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// A payload type that travels in an envelope.
pub trait Message: Serialize + DeserializeOwned {
    /// The message type, dotted (`deal.submitted`).
    const TYPE: &'static str;
    /// Bumped on any incompatible change of the payload.
    const SCHEMA_VERSION: u32;
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope<T> {
    #[serde(rename = "type")]
    pub message_type: String,
    pub schema_version: u32,
    pub id: String,
    pub time: DateTime<Utc>,
    pub payload: T,
}

#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    #[error("message body is not a valid envelope: {0}")]
    Malformed(serde_json::Error),
    #[error("expected message type {expected}, got {actual}")]
    WrongType {
        expected: &'static str,
        actual: String,
    },
    #[error(
        "message type {message_type} has schema version {actual}; this consumer reads {expected}"
    )]
    UnsupportedVersion {
        message_type: &'static str,
        expected: u32,
        actual: u32,
    },
    #[error("payload of {message_type} is invalid: {source}")]
    InvalidPayload {
        message_type: &'static str,
        source: serde_json::Error,
    },
}

impl<T: Message> Envelope<T> {
    pub fn new(id: impl Into<String>, payload: T, time: DateTime<Utc>) -> Self {
        Self {
            message_type: T::TYPE.to_string(),
            schema_version: T::SCHEMA_VERSION,
            id: id.into(),
            time,
            payload,
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("an envelope of a Serialize payload always serialises")
    }

    /// Decodes a message body, checking type and version before the payload.
    pub fn decode(body: &str) -> Result<Self, EnvelopeError> {
        let raw: Envelope<serde_json::Value> =
            serde_json::from_str(body).map_err(EnvelopeError::Malformed)?;
        if raw.message_type != T::TYPE {
            return Err(EnvelopeError::WrongType {
                expected: T::TYPE,
                actual: raw.message_type,
            });
        }
        if raw.schema_version != T::SCHEMA_VERSION {
            return Err(EnvelopeError::UnsupportedVersion {
                message_type: T::TYPE,
                expected: T::SCHEMA_VERSION,
                actual: raw.schema_version,
            });
        }
        let payload = serde_json::from_value(raw.payload).map_err(|source| {
            EnvelopeError::InvalidPayload {
                message_type: T::TYPE,
                source,
            }
        })?;
        Ok(Envelope {
            message_type: raw.message_type,
            schema_version: raw.schema_version,
            id: raw.id,
            time: raw.time,
            payload,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct Ping {
        pub n: u32,
    }

    impl Message for Ping {
        const TYPE: &'static str = "test.ping";
        const SCHEMA_VERSION: u32 = 2;
    }

    #[test]
    fn round_trips_through_json() {
        let envelope = Envelope::new("ping:1", Ping { n: 1 }, Utc::now());
        let decoded = Envelope::<Ping>::decode(&envelope.to_json()).unwrap();
        assert_eq!(decoded, envelope);
        let json: serde_json::Value = serde_json::from_str(&envelope.to_json()).unwrap();
        assert_eq!(json["type"], "test.ping");
        assert_eq!(json["schema_version"], 2);
    }

    #[test]
    fn refuses_wrong_type_version_and_payload() {
        let body = |t: &str, v: u32, payload: &str| {
            format!(
                r#"{{"type":"{t}","schema_version":{v},"id":"x","time":"2026-01-01T00:00:00Z","payload":{payload}}}"#
            )
        };
        assert!(matches!(
            Envelope::<Ping>::decode(&body("test.pong", 2, r#"{"n":1}"#)),
            Err(EnvelopeError::WrongType { .. })
        ));
        assert!(matches!(
            Envelope::<Ping>::decode(&body("test.ping", 1, r#"{"n":1}"#)),
            Err(EnvelopeError::UnsupportedVersion { actual: 1, .. })
        ));
        assert!(matches!(
            Envelope::<Ping>::decode(&body("test.ping", 2, r#"{"n":"one"}"#)),
            Err(EnvelopeError::InvalidPayload { .. })
        ));
        assert!(matches!(
            Envelope::<Ping>::decode("not json"),
            Err(EnvelopeError::Malformed(_))
        ));
    }
}
