//! Documents partners upload straight to the documents bucket: presigned PUTs out, and what
//! the bucket holds read back (claims' proof of performance, onboarding's compliance files).

use std::time::Duration;

use aws_sdk_s3::presigning::PresigningConfig;
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::domain::claim::StoredObject;

/// A presigned upload for one declared document.
#[derive(Debug, Clone, Serialize)]
pub struct Upload {
    pub file_name: String,
    pub method: String,
    pub url: String,
    /// Headers the upload must send as they are (they are signed).
    pub headers: Vec<(String, String)>,
    pub expires_at: DateTime<Utc>,
}

/// A PUT of `key` with `content_type`, valid for `expiry` from `now`.
pub async fn presigned_put(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    file_name: &str,
    content_type: &str,
    expiry: Duration,
    now: DateTime<Utc>,
) -> Result<Upload, String> {
    let config = PresigningConfig::expires_in(expiry).map_err(|e| e.to_string())?;
    let presigned = s3
        .put_object()
        .bucket(bucket)
        .key(key)
        .content_type(content_type)
        .presigned(config)
        .await
        .map_err(|e| e.to_string())?;
    Ok(Upload {
        file_name: file_name.to_string(),
        method: presigned.method().to_string(),
        url: presigned.uri().to_string(),
        headers: presigned
            .headers()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        expires_at: now + chrono::Duration::from_std(expiry).unwrap_or_default(),
    })
}

/// The type and size of `key` in the bucket, or `None` when it was never uploaded.
pub async fn stored_object(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
) -> Result<Option<StoredObject>, String> {
    match s3.head_object().bucket(bucket).key(key).send().await {
        Ok(head) => Ok(Some(StoredObject {
            content_type: head.content_type,
            size: head.content_length.unwrap_or(0).max(0) as u64,
        })),
        Err(err) if err.as_service_error().is_some_and(|e| e.is_not_found()) => Ok(None),
        Err(err) => Err(format!(
            "reading {key}: {}",
            aws_sdk_s3::error::DisplayErrorContext(&err)
        )),
    }
}
