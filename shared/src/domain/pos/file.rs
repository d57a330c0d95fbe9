//! The record of one dropped file: where it came from, how far ingestion got, what it found.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::line::FileKind;
use crate::domain::PartnerId;

/// A file's id, derived from the S3 object (bucket, key and version): the same object
/// delivered twice has the same id, so it is processed once.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct FileId(String);

impl FileId {
    pub fn of_object(bucket: &str, key: &str, version: &str) -> Self {
        let digest = Sha256::digest(format!("{bucket}\n{key}\n{version}").as_bytes());
        Self(format!("file_{}", &hex::encode(digest)[..26]))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for FileId {
    type Error = String;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        let valid = value.strip_prefix("file_").is_some_and(|hex| {
            hex.len() == 26
                && hex
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        });
        if valid {
            Ok(Self(value))
        } else {
            Err(format!(
                "{value:?} is not a file id (file_ followed by 26 hex digits)"
            ))
        }
    }
}

impl std::str::FromStr for FileId {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Self::try_from(value.to_string())
    }
}

impl From<FileId> for String {
    fn from(id: FileId) -> String {
        id.0
    }
}

impl fmt::Display for FileId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileStatus {
    /// Being read; `rows_done` says how far.
    Processing,
    /// Every record was read; the counts and the reject report are final.
    Completed,
    /// Refused whole before any line was stored (empty, unreadable, no header...): see `reason`.
    Refused,
    /// Became unreadable part way (a corrupt stream): the lines before stay; see `reason`.
    Failed,
}

impl FileStatus {
    pub fn is_final(&self) -> bool {
        !matches!(self, FileStatus::Processing)
    }
}

/// Counts over a file's data records: `lines = accepted + rejected + duplicates`;
/// `held` counts the accepted sales whose reseller is not matched.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileCounts {
    pub lines: u64,
    pub accepted: u64,
    pub rejected: u64,
    pub duplicates: u64,
    pub held: u64,
}

impl FileCounts {
    pub fn add(&mut self, other: &FileCounts) {
        self.lines += other.lines;
        self.accepted += other.accepted;
        self.rejected += other.rejected;
        self.duplicates += other.duplicates;
        self.held += other.held;
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PosFile {
    pub id: FileId,
    pub distributor: PartnerId,
    pub kind: FileKind,
    /// The file's name under `<distributor>/<kind>/`.
    pub name: String,
    pub bucket: String,
    pub key: String,
    /// The S3 object version, when the bucket is versioned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    pub size: u64,
    pub status: FileStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub counts: FileCounts,
    /// The row of the last record whose lines are stored and counted: the resume point.
    pub rows_done: u64,
    /// Where the reject report is (`<distributor>/rejects/<name>.csv`), once written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reject_report: Option<String>,
    /// Format, encoding and delimiter as detected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detected: Option<serde_json::Value>,
    /// DynamoDB writes spent on the file's lines (requests, write units).
    #[serde(default)]
    pub write_requests: u64,
    #[serde(default)]
    pub write_units: u64,
    /// Invocations that worked on the file (more than one when it was continued).
    #[serde(default)]
    pub invocations: u32,
    pub received_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<DateTime<Utc>>,
    /// Incremented by every change; conditional writes compare it.
    pub revision: u64,
}

/// `jan.csv.gz` → `jan`: the reject report's name is the file's name without its extensions.
pub fn report_stem(name: &str) -> &str {
    let mut stem = name;
    for ext in [".gz", ".csv", ".txt", ".tsv", ".xlsx"] {
        if let Some(rest) = stem.strip_suffix(ext).or_else(|| {
            (stem.len() >= ext.len() && stem[stem.len() - ext.len()..].eq_ignore_ascii_case(ext))
                .then(|| &stem[..stem.len() - ext.len()])
        }) {
            stem = rest;
        }
    }
    if stem.is_empty() { name } else { stem }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_object_has_the_same_id_and_another_version_another() {
        let a = FileId::of_object("drop", "ptn_1/pos/jan.csv", "v1");
        assert_eq!(a, FileId::of_object("drop", "ptn_1/pos/jan.csv", "v1"));
        assert_ne!(a, FileId::of_object("drop", "ptn_1/pos/jan.csv", "v2"));
        assert_eq!(FileId::try_from(a.to_string()), Ok(a));
        assert!(FileId::try_from("file_XYZ".to_string()).is_err());
    }

    #[test]
    fn report_names_drop_the_file_extensions() {
        assert_eq!(report_stem("jan.csv.gz"), "jan");
        assert_eq!(report_stem("2026/Jan Sales.XLSX"), "2026/Jan Sales");
        assert_eq!(report_stem("weekly"), "weekly");
        assert_eq!(report_stem(".csv"), ".csv");
    }
}
