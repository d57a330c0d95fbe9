//! POS ingestion state: distributors' mapping profiles, file records with their checkpoints,
//! the stored lines (whose keys make duplicates detectable across files), the rejects of each
//! chunk, and the per-distributor lease that lets one file of a distributor run at a time.

use std::collections::HashMap;
use std::future::Future;

use aws_sdk_dynamodb::types::{Put, TransactWriteItem};
use chrono::{DateTime, Utc};

use super::attr::{self, Item, Reader};
use super::keys::{EXPIRES_AT, GSI1, GSI1_PK, GSI1_SK, GSI2, GSI2_PK, GSI2_SK, PK, SK};
use super::{
    DynamoStore, StoreError, WriteCost, is_condition_failure, is_transaction_condition_failure,
    sdk_error,
};
use crate::domain::pos::{FileId, HeldUnder, LineKey, MappingProfile, PosFile, PosLine};
use crate::domain::{Conflict, PartnerId};

/// A line as stored: its key, the file and row that first reported it, and the line itself.
#[derive(Debug, Clone)]
pub struct StoredLine {
    pub key: LineKey,
    pub file: FileId,
    pub row: u64,
    /// The canonical line as JSON.
    pub line: String,
    /// For a held line, where it waits to be released (indexed, see [`PosStore::held_lines`]).
    pub held: Option<HeldUnder>,
}

/// The longest reseller name (normalised, in bytes) a held line is indexed under; longer names
/// are cut at a character boundary, the same way when stored and when looked up.
const MAX_HELD_NAME_BYTES: usize = 400;

/// `name` as the held-line index keys it (see [`MAX_HELD_NAME_BYTES`]).
fn held_index_name(name: &str) -> &str {
    let mut end = name.len().min(MAX_HELD_NAME_BYTES);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    &name[..end]
}

impl StoredLine {
    /// The held-line index's key (`gsi1pk`, `gsi1sk`) for a held line.
    pub fn held_index_key(&self) -> Option<(String, String)> {
        self.held.as_ref().map(|held| {
            (
                held_pk(&held.distributor),
                format!(
                    "{}#{}#{}",
                    held_index_name(&held.name),
                    self.key.partition,
                    self.key.item
                ),
            )
        })
    }
}

/// Who first reported a line: a later report from another file or row is a duplicate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirstReport {
    pub file: FileId,
    pub row: u64,
    /// The line as stored (JSON): what a resumed chunk sends again, whatever the directory of
    /// partners says now.
    pub line: String,
    /// Released to a partner since it was stored held (the release sent it to accrual).
    pub released: bool,
}

#[derive(Debug, Clone)]
pub struct FilePage {
    pub files: Vec<PosFile>,
    pub next_cursor: Option<String>,
}

/// How long a chunk's rejects are kept after the file's report is written from them.
const REJECTS_RETENTION_DAYS: i64 = 30;

pub trait PosStore {
    fn put_profile(
        &self,
        distributor: &PartnerId,
        profile: &MappingProfile,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn get_profile(
        &self,
        distributor: &PartnerId,
    ) -> impl Future<Output = Result<Option<MappingProfile>, StoreError>> + Send;

    /// Creates the file record, or returns the one already there for this object.
    fn create_file(
        &self,
        file: &PosFile,
    ) -> impl Future<Output = Result<Option<PosFile>, StoreError>> + Send;

    fn get_file(
        &self,
        id: &FileId,
    ) -> impl Future<Output = Result<Option<PosFile>, StoreError>> + Send;

    /// Newest first; a distributor's own, or every distributor's.
    fn list_files(
        &self,
        distributor: Option<&PartnerId>,
        limit: i32,
        cursor: Option<&str>,
    ) -> impl Future<Output = Result<FilePage, StoreError>> + Send;

    /// Writes `file` if the stored record is still at `expected_revision`, with a chunk's
    /// rejects (reject-report CSV rows, keyed by the chunk's first row) in the same transaction.
    fn save_file(
        &self,
        file: &PosFile,
        expected_revision: u64,
        rejects: Option<(u64, String)>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The rejects of the chunks, in row order, up to about `max_bytes` (the item that crosses
    /// the bound is the last one read), and whether chunks were left unread. The bound keeps
    /// memory flat for a file with millions of rejects.
    fn rejects(
        &self,
        id: &FileId,
        max_bytes: usize,
    ) -> impl Future<Output = Result<(Vec<String>, bool), StoreError>> + Send;

    /// Takes the distributor's lease for `seconds` unless another holder has it.
    fn claim_lease(
        &self,
        distributor: &PartnerId,
        holder: &str,
        now: DateTime<Utc>,
        seconds: i64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    fn release_lease(
        &self,
        distributor: &PartnerId,
        holder: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Which of `keys` are stored already, and who reported them first.
    fn first_reports(
        &self,
        keys: &[LineKey],
    ) -> impl Future<Output = Result<HashMap<LineKey, FirstReport>, StoreError>> + Send;

    fn put_lines(
        &self,
        lines: Vec<StoredLine>,
        concurrency: usize,
    ) -> impl Future<Output = Result<WriteCost, StoreError>> + Send;

    /// A distributor's held lines (all, or those under one normalised reseller name), by name;
    /// with `releasing`, the lines released but not yet sent to accrual instead.
    fn held_lines(
        &self,
        distributor: &PartnerId,
        name: Option<&str>,
        releasing: bool,
    ) -> impl Future<Output = Result<Vec<HeldLine>, StoreError>> + Send;

    /// Stores `released` in place of the held line at `key` and moves it to the releasing
    /// index, unless it is no longer held (then `false`).
    fn mark_releasing(
        &self,
        key: &LineKey,
        released: &PosLine,
        by: &str,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Takes a released line off the releasing index once it was sent to accrual.
    fn finish_release(&self, key: &LineKey) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Records that `distributor` calls `partner` by `name` (normalised), for later files.
    fn put_reseller_alias(
        &self,
        distributor: &PartnerId,
        name: &str,
        partner: &PartnerId,
        by: &str,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Every (normalised name, partner) alias of a distributor.
    fn reseller_aliases(
        &self,
        distributor: &PartnerId,
    ) -> impl Future<Output = Result<Vec<(String, PartnerId)>, StoreError>> + Send;
}

/// A stored line held out of incentives until its reseller is matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldLine {
    pub key: LineKey,
    pub file: FileId,
    /// The normalised reseller name it is held under.
    pub name: String,
    pub line: PosLine,
}

fn held_pk(distributor: &PartnerId) -> String {
    format!("HELD#{distributor}")
}

fn releasing_pk(distributor: &PartnerId) -> String {
    format!("RELEASING#{distributor}")
}

fn alias_pk(distributor: &PartnerId) -> String {
    format!("RESELLERALIAS#{distributor}")
}

fn file_pk(id: &FileId) -> String {
    format!("POSFILE#{id}")
}

fn key(pk: String, sk: &str) -> Item {
    Item::from([(PK.into(), attr::s(pk)), (SK.into(), attr::s(sk))])
}

fn file_item(file: &PosFile) -> Item {
    let mut item = key(file_pk(&file.id), "FILE");
    let sort = format!("{}#{}", attr::time_text(file.received_at), file.id);
    item.insert(
        GSI1_PK.into(),
        attr::s(format!("DIST_FILES#{}", file.distributor)),
    );
    item.insert(GSI1_SK.into(), attr::s(sort.clone()));
    item.insert(GSI2_PK.into(), attr::s("POS_FILES"));
    item.insert(GSI2_SK.into(), attr::s(sort));
    item.insert("revision".into(), attr::n(file.revision));
    item.insert(
        "doc".into(),
        attr::s(serde_json::to_string(file).expect("serialisable")),
    );
    item
}

fn file_from_item(item: &Item) -> Result<PosFile, StoreError> {
    let r = Reader::new(item);
    r.json("doc")
}

impl PosStore for DynamoStore {
    async fn put_profile(
        &self,
        distributor: &PartnerId,
        profile: &MappingProfile,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut item = key(format!("DISTPROFILE#{distributor}"), "PROFILE");
        item.insert(
            "doc".into(),
            attr::s(serde_json::to_string(profile).expect("serialisable")),
        );
        item.insert("updated_at".into(), attr::time(now));
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| sdk_error("writing a mapping profile", e))?;
        Ok(())
    }

    async fn get_profile(
        &self,
        distributor: &PartnerId,
    ) -> Result<Option<MappingProfile>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(format!("DISTPROFILE#{distributor}"), "PROFILE")))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("reading a mapping profile", e))?;
        output
            .item
            .as_ref()
            .map(|item| Reader::new(item).json("doc"))
            .transpose()
    }

    async fn create_file(&self, file: &PosFile) -> Result<Option<PosFile>, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(file_item(file)))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(None),
            Err(err) if is_condition_failure(&err) => {
                self.get_file(&file.id).await?.map(Some).ok_or_else(|| {
                    StoreError::Conflict(Conflict::stale_version("the file record vanished"))
                })
            }
            Err(err) => Err(sdk_error("creating a file record", err)),
        }
    }

    async fn get_file(&self, id: &FileId) -> Result<Option<PosFile>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(file_pk(id), "FILE")))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("reading a file record", e))?;
        output.item.as_ref().map(file_from_item).transpose()
    }

    async fn list_files(
        &self,
        distributor: Option<&PartnerId>,
        limit: i32,
        cursor: Option<&str>,
    ) -> Result<FilePage, StoreError> {
        let (index, pk_name, sk_name, pk) = match distributor {
            Some(d) => (GSI1, GSI1_PK, GSI1_SK, format!("DIST_FILES#{d}")),
            None => (GSI2, GSI2_PK, GSI2_SK, "POS_FILES".to_string()),
        };
        // A cursor is taken only from this same query: its index keys, its partition.
        let shape = attr::CursorShape {
            keys: &[PK, SK, pk_name, sk_name],
            partition: (pk_name, &pk),
        };
        let start = cursor
            .map(|cursor| attr::decode_cursor(cursor, &shape))
            .transpose()?;
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(index)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", pk_name)
            .expression_attribute_values(":pk", attr::s(pk))
            .scan_index_forward(false)
            .limit(limit.clamp(1, 100))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| sdk_error("listing files", e))?;
        Ok(FilePage {
            files: output
                .items()
                .iter()
                .map(file_from_item)
                .collect::<Result<_, _>>()?,
            next_cursor: output.last_evaluated_key.as_ref().map(attr::encode_cursor),
        })
    }

    async fn save_file(
        &self,
        file: &PosFile,
        expected_revision: u64,
        rejects: Option<(u64, String)>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(file_item(file)))
            .condition_expression("revision = :expected")
            .expression_attribute_values(":expected", attr::n(expected_revision))
            .build()
            .expect("table and item set");
        let Some((first_row, csv)) = rejects else {
            let result = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(put.item))
                .condition_expression("revision = :expected")
                .expression_attribute_values(":expected", attr::n(expected_revision))
                .send()
                .await;
            return match result {
                Ok(_) => Ok(()),
                Err(err) if is_condition_failure(&err) => Err(StoreError::Conflict(
                    Conflict::stale_version(format!("file {} changed meanwhile", file.id)),
                )),
                Err(err) => Err(sdk_error("saving a file record", err)),
            };
        };
        let mut rejects = key(file_pk(&file.id), &format!("REJECTS#{first_row:012}"));
        rejects.insert("csv".into(), attr::s(csv));
        rejects.insert(
            EXPIRES_AT.into(),
            attr::n((now + chrono::Duration::days(REJECTS_RETENTION_DAYS)).timestamp()),
        );
        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(put).build())
            .transact_items(
                TransactWriteItem::builder()
                    .put(
                        Put::builder()
                            .table_name(&self.table)
                            .set_item(Some(rejects))
                            .build()
                            .expect("table and item set"),
                    )
                    .build(),
            )
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) if is_transaction_condition_failure(&err) => Err(StoreError::Conflict(
                Conflict::stale_version(format!("file {} changed meanwhile", file.id)),
            )),
            Err(err) => Err(sdk_error("saving a file checkpoint", err)),
        }
    }

    async fn rejects(
        &self,
        id: &FileId,
        max_bytes: usize,
    ) -> Result<(Vec<String>, bool), StoreError> {
        // A few chunks per page (each up to 300 KB), so that little is read past the bound.
        let mut pages = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", attr::s(file_pk(id)))
            .expression_attribute_values(":prefix", attr::s("REJECTS#"))
            .consistent_read(true)
            .limit(4)
            .into_paginator()
            .send();
        let mut chunks = Vec::new();
        let mut bytes = 0;
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| sdk_error("reading a file's rejects", e))?;
            let more = page.last_evaluated_key().is_some();
            for item in page.items() {
                if bytes >= max_bytes {
                    return Ok((chunks, true));
                }
                let csv = Reader::new(item).str("csv")?.to_string();
                bytes += csv.len();
                chunks.push(csv);
            }
            if !more {
                break;
            }
            if bytes >= max_bytes {
                return Ok((chunks, true));
            }
        }
        Ok((chunks, false))
    }

    async fn claim_lease(
        &self,
        distributor: &PartnerId,
        holder: &str,
        now: DateTime<Utc>,
        seconds: i64,
    ) -> Result<bool, StoreError> {
        let mut item = key(format!("POSLEASE#{distributor}"), "LEASE");
        item.insert("holder".into(), attr::s(holder));
        item.insert("until".into(), attr::n(now.timestamp() + seconds));
        item.insert(EXPIRES_AT.into(), attr::n(now.timestamp() + seconds + 3600));
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk) OR #until < :now OR holder = :holder")
            .expression_attribute_names("#until", "until")
            .expression_attribute_values(":now", attr::n(now.timestamp()))
            .expression_attribute_values(":holder", attr::s(holder))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err) if is_condition_failure(&err) => Ok(false),
            Err(err) => Err(sdk_error("taking a distributor's lease", err)),
        }
    }

    async fn release_lease(&self, distributor: &PartnerId, holder: &str) -> Result<(), StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(format!("POSLEASE#{distributor}"), "LEASE")))
            .condition_expression("holder = :holder")
            .expression_attribute_values(":holder", attr::s(holder))
            .send()
            .await;
        match result {
            // Expired and taken by another holder meanwhile: theirs now.
            Ok(_) => Ok(()),
            Err(err) if is_condition_failure(&err) => Ok(()),
            Err(err) => Err(sdk_error("releasing a distributor's lease", err)),
        }
    }

    async fn first_reports(
        &self,
        keys: &[LineKey],
    ) -> Result<HashMap<LineKey, FirstReport>, StoreError> {
        let items = keys
            .iter()
            .map(|k| key(k.partition.clone(), &k.item))
            .collect();
        let found = self
            .batch_get(
                items,
                Some("pk, sk, file_id, line_row, line, released_by"),
                "looking up reported lines",
            )
            .await?;
        found
            .iter()
            .map(|item| {
                let r = Reader::new(item);
                let line_key = LineKey {
                    partition: r.str(PK)?.to_string(),
                    item: r.str(SK)?.to_string(),
                };
                let report = FirstReport {
                    file: r.parse("file_id")?,
                    row: r.u64("line_row")?,
                    line: r.str("line")?.to_string(),
                    released: r.opt_str("released_by")?.is_some(),
                };
                Ok((line_key, report))
            })
            .collect()
    }

    async fn put_lines(
        &self,
        lines: Vec<StoredLine>,
        concurrency: usize,
    ) -> Result<WriteCost, StoreError> {
        let items = lines
            .into_iter()
            .map(|line| {
                let mut item = key(line.key.partition.clone(), &line.key.item);
                item.insert("file_id".into(), attr::s(line.file.to_string()));
                item.insert("line_row".into(), attr::n(line.row));
                item.insert(
                    "held".into(),
                    aws_sdk_dynamodb::types::AttributeValue::Bool(line.held.is_some()),
                );
                if let Some((index_pk, index_sk)) = line.held_index_key() {
                    item.insert(GSI1_PK.into(), attr::s(index_pk));
                    item.insert(GSI1_SK.into(), attr::s(index_sk));
                }
                item.insert("line".into(), attr::s(line.line));
                item
            })
            .collect();
        self.batch_put(items, concurrency, "storing POS lines")
            .await
    }

    async fn held_lines(
        &self,
        distributor: &PartnerId,
        name: Option<&str>,
        releasing: bool,
    ) -> Result<Vec<HeldLine>, StoreError> {
        let pk = if releasing {
            releasing_pk(distributor)
        } else {
            held_pk(distributor)
        };
        let mut query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(GSI1)
            .key_condition_expression("gsi1pk = :pk")
            .expression_attribute_values(":pk", attr::s(pk));
        if let Some(name) = name {
            query = query
                .key_condition_expression("gsi1pk = :pk AND begins_with(gsi1sk, :name)")
                .expression_attribute_values(
                    ":name",
                    attr::s(format!("{}#", held_index_name(name))),
                );
        }
        let items: Vec<Item> = query
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| sdk_error("listing held lines", e))?;
        items
            .iter()
            .map(|item| {
                let r = Reader::new(item);
                let indexed = r.str(GSI1_SK)?;
                let partition = r.str(PK)?;
                let name = indexed
                    .strip_suffix(&format!("#{partition}#{}", r.str(SK)?))
                    .unwrap_or(indexed);
                Ok(HeldLine {
                    key: LineKey {
                        partition: partition.to_string(),
                        item: r.str(SK)?.to_string(),
                    },
                    file: r.parse("file_id")?,
                    name: name.to_string(),
                    line: r.json("line")?,
                })
            })
            .collect()
    }

    async fn mark_releasing(
        &self,
        key: &LineKey,
        released: &PosLine,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        use aws_sdk_dynamodb::types::AttributeValue;
        let line = serde_json::to_string(released)
            .map_err(|e| StoreError::Backend(format!("line does not serialise: {e}")))?;
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(self::key(key.partition.clone(), &key.item)))
            .condition_expression("held = :held")
            .update_expression(
                "SET held = :released, line = :line, released_by = :by, released_at = :at, gsi1pk = :releasing",
            )
            .expression_attribute_values(":held", AttributeValue::Bool(true))
            .expression_attribute_values(":released", AttributeValue::Bool(false))
            .expression_attribute_values(":line", attr::s(line))
            .expression_attribute_values(":by", attr::s(by))
            .expression_attribute_values(":at", attr::time(now))
            .expression_attribute_values(":releasing", attr::s(releasing_pk(&released.distributor)))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err) if is_condition_failure(&err) => Ok(false),
            Err(err) => Err(sdk_error("releasing a held line", err)),
        }
    }

    async fn finish_release(&self, key: &LineKey) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(self::key(key.partition.clone(), &key.item)))
            .update_expression("REMOVE gsi1pk, gsi1sk")
            .send()
            .await
            .map_err(|e| sdk_error("finishing a line's release", e))?;
        Ok(())
    }

    async fn put_reseller_alias(
        &self,
        distributor: &PartnerId,
        name: &str,
        partner: &PartnerId,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut item = key(alias_pk(distributor), name);
        item.insert("partner_id".into(), attr::s(partner.as_str()));
        item.insert("by".into(), attr::s(by));
        item.insert("at".into(), attr::time(now));
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| sdk_error("storing a reseller alias", e))?;
        Ok(())
    }

    async fn reseller_aliases(
        &self,
        distributor: &PartnerId,
    ) -> Result<Vec<(String, PartnerId)>, StoreError> {
        self.partition(&alias_pk(distributor), None, "reading reseller aliases")
            .await?
            .iter()
            .map(|item| {
                let r = Reader::new(item);
                Ok((r.str(SK)?.to_string(), r.parse("partner_id")?))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
