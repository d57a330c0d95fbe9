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
    /// Where the reject report is ([`PosFile::reject_report_key`]), once written.
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

/// S3's limit on an object key, in bytes.
pub const MAX_OBJECT_KEY_BYTES: usize = 1024;

impl PosFile {
    /// The record of an object dropped at `bucket`/`key` (`<distributor>/<kind>/<name>`):
    /// `processing`, nothing read yet, its id from the object and `version` (the version id,
    /// or the etag where versioning is off).
    pub fn received(
        bucket: &str,
        key: &str,
        version: &str,
        distributor: PartnerId,
        kind: FileKind,
        name: &str,
        now: DateTime<Utc>,
    ) -> Self {
        PosFile {
            id: FileId::of_object(bucket, key, version),
            distributor,
            kind,
            name: name.to_string(),
            bucket: bucket.to_string(),
            key: key.to_string(),
            version_id: None,
            etag: None,
            size: 0,
            status: FileStatus::Processing,
            reason: None,
            counts: FileCounts::default(),
            rows_done: 0,
            reject_report: None,
            detected: None,
            write_requests: 0,
            write_units: 0,
            invocations: 0,
            received_at: now,
            updated_at: now,
            completed_at: None,
            revision: 1,
        }
    }

    /// Where the file's reject report goes: `<distributor>/rejects/<kind>/<name>.<file id>.csv`.
    /// The kind, the whole name (extension included) and the file id keep the reports of
    /// `pos/a.csv`, `inventory/a.csv`, `pos/a.xlsx` and a second version of `pos/a.csv` apart;
    /// a name too long for S3's key limit is cut at a character boundary.
    pub fn reject_report_key(&self) -> String {
        let prefix = format!("{}/rejects/{}/", self.distributor, self.kind);
        let suffix = format!(".{}.csv", self.id);
        let room = MAX_OBJECT_KEY_BYTES.saturating_sub(prefix.len() + suffix.len());
        let mut end = self.name.len().min(room);
        while !self.name.is_char_boundary(end) {
            end -= 1;
        }
        format!("{prefix}{}{suffix}", &self.name[..end])
    }
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

    fn file(kind: FileKind, name: &str, version: &str) -> PosFile {
        let distributor: PartnerId = "ptn_01m848fy9d66yty6h02sxvjzan".parse().unwrap();
        let key = format!("{distributor}/{kind}/{name}");
        PosFile::received(
            "drop",
            &key,
            version,
            distributor,
            kind,
            name,
            chrono::Utc::now(),
        )
    }

    #[test]
    fn reject_reports_of_files_of_one_name_do_not_collide() {
        let keys: std::collections::HashSet<String> = [
            file(FileKind::Pos, "a.csv", "v1"),
            file(FileKind::Inventory, "a.csv", "v1"),
            file(FileKind::Pos, "a.xlsx", "v1"),
            file(FileKind::Pos, "a.csv", "v2"),
        ]
        .iter()
        .map(PosFile::reject_report_key)
        .collect();
        assert_eq!(keys.len(), 4, "{keys:?}");
        let umlaut = file(FileKind::Pos, "1-Umsätze.csv", "v1");
        assert_eq!(
            umlaut.reject_report_key(),
            format!(
                "ptn_01m848fy9d66yty6h02sxvjzan/rejects/pos/1-Umsätze.csv.{}.csv",
                umlaut.id
            )
        );
    }

    proptest::proptest! {
        /// Any name (S3 allows 1,024 bytes of any Unicode) gives a report key within S3's limit,
        /// cut at a character boundary, without panicking.
        #[test]
        fn report_keys_stay_within_the_s3_limit(name in "\\PC{1,400}") {
            let key = file(FileKind::Pos, &name, "v1").reject_report_key();
            proptest::prop_assert!(key.len() <= MAX_OBJECT_KEY_BYTES);
            proptest::prop_assert!(key.ends_with(".csv"));
        }
    }
}
