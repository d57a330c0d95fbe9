//! What one ingest-queue message asks for: objects named by an S3 notification, a continuation
//! of a file handed on, or nothing (S3's test event).

use crate::domain::pos::{FileId, FileKind};
use crate::messaging::messages::PosFileContinue;
use crate::messaging::{Envelope, Message};

use super::IngestError;

/// An object named by an S3 notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DroppedObject {
    pub bucket: String,
    /// Decoded (notifications URL-encode keys, with `+` for spaces).
    pub key: String,
    pub version_id: Option<String>,
    pub etag: Option<String>,
    pub size: u64,
}

/// What one ingest-queue message asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IngestRequest {
    Objects(Vec<DroppedObject>),
    Continue(FileId),
    /// S3's test event when the notification is configured: nothing to do.
    Nothing,
}

impl IngestRequest {
    pub fn parse(body: &str) -> Result<Self, IngestError> {
        let value: serde_json::Value =
            serde_json::from_str(body).map_err(|e| IngestError::Malformed(e.to_string()))?;
        if value.get("Event").and_then(|e| e.as_str()) == Some("s3:TestEvent") {
            return Ok(IngestRequest::Nothing);
        }
        if value.get("type").and_then(|t| t.as_str()) == Some(PosFileContinue::TYPE) {
            let envelope = Envelope::<PosFileContinue>::decode(body)
                .map_err(|e| IngestError::Malformed(e.to_string()))?;
            return Ok(IngestRequest::Continue(envelope.payload.file_id));
        }
        let event: S3Notification =
            serde_json::from_value(value).map_err(|e| IngestError::Malformed(e.to_string()))?;
        let objects = event
            .records
            .into_iter()
            .filter(|r| r.event_name.starts_with("ObjectCreated"))
            .map(|r| DroppedObject {
                bucket: r.s3.bucket.name,
                key: decode_key(&r.s3.object.key),
                version_id: r
                    .s3
                    .object
                    .version_id
                    .filter(|v| !v.is_empty() && v != "null"),
                etag: r.s3.object.e_tag.filter(|e| !e.is_empty()),
                size: r.s3.object.size.unwrap_or(0),
            })
            .collect();
        Ok(IngestRequest::Objects(objects))
    }
}

/// The parts of an S3 event notification ingestion reads (producers differ in the rest).
#[derive(serde::Deserialize)]
struct S3Notification {
    #[serde(rename = "Records")]
    records: Vec<S3Record>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct S3Record {
    event_name: String,
    s3: S3Entity,
}

#[derive(serde::Deserialize)]
struct S3Entity {
    bucket: S3Bucket,
    object: S3Object,
}

#[derive(serde::Deserialize)]
struct S3Bucket {
    name: String,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct S3Object {
    key: String,
    size: Option<u64>,
    version_id: Option<String>,
    #[serde(rename = "eTag")]
    e_tag: Option<String>,
}

/// S3 notifications encode keys as in an HTML form: `+` is a space, `%2B` a plus.
pub fn decode_key(key: &str) -> String {
    let spaced = key.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8_lossy()
        .into_owned()
}

/// `<distributor>/<pos|inventory>/<name>` → its parts; other keys (reject reports) are not input.
pub fn parse_drop_key(key: &str) -> Option<(&str, FileKind, &str)> {
    let (distributor, rest) = key.split_once('/')?;
    let (kind, name) = rest.split_once('/')?;
    let kind = kind.parse().ok()?;
    (!distributor.is_empty() && !name.is_empty() && !name.ends_with('/')).then_some((
        distributor,
        kind,
        name,
    ))
}
