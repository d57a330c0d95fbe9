//! POS ingestion: a dropped S3 object → a file record, stored canonical lines, a reject report
//! and sales / stock events.
//!
//! The object is streamed: a blocking thread decodes and parses it (see [`crate::formats`]) and
//! hands chunks of records to the async side, which validates them, drops duplicates, stores
//! the new lines in batches, publishes the chunk's events and then checkpoints the file record
//! (rows done, counts, the chunk's rejects) in one conditional transaction. A crash anywhere
//! resumes from the last checkpoint: the lines of the interrupted chunk are found stored with
//! this file and row, so they are neither lost nor counted twice (their events are sent again,
//! as stored, with the same message ids, which consumers apply once).
//!
//! One file per distributor runs at a time (a lease), so that two files reporting the same
//! invoice line cannot both store it. A file too big for one invocation is continued by a
//! message to the ingest queue.

use std::collections::{HashMap, HashSet};
use std::io::{self, Read};
use std::time::{Duration, Instant};

use chrono::Utc;
use tokio::sync::mpsc;

use crate::config::{self, ConfigError};
use crate::domain::pos::{
    DateWindow, FileCounts, FileId, FileKind, FileStatus, HeldUnder, Layout, PosFile, PosLine,
    Profile, Rejection, ResellerDirectory, Validator, Verdict, report_stem,
};
use crate::domain::{PartnerId, PartnerKind, PartnerStatus};
use crate::formats::{Detected, FormatError, Record, Records};
use crate::messaging::messages::{PosFileContinue, SalesReported, StockReported};
use crate::messaging::{Envelope, Message, PublishError, SqsPublisher};
use crate::store::{Catalog, DynamoStore, Partners, PosStore, StoreError, StoredLine};

/// The workflow's settings, from the environment.
#[derive(Debug, Clone)]
pub struct PosSettings {
    pub ingest_queue_url: String,
    pub sales_queue_url: String,
    pub stock_queue_url: String,
    /// Records per chunk: one checkpoint, one duplicate lookup round, a few event messages.
    pub chunk_lines: usize,
    /// Lines dated further back than this are outside the reporting window.
    pub max_age_days: i64,
    /// BatchWriteItem requests in flight at once.
    pub write_concurrency: usize,
    /// When this little time is left, the invocation hands the file on.
    pub time_reserve: Duration,
    /// How long a distributor's lease lasts (longer than the function's timeout).
    pub lease_seconds: i64,
    /// Lines per sales or stock message.
    pub lines_per_message: usize,
}

impl PosSettings {
    /// `POS_INGEST_QUEUE_URL`, `POS_SALES_QUEUE_URL`, `POS_STOCK_QUEUE_URL`, `POS_CHUNK_LINES`
    /// (1000), `POS_MAX_LINE_AGE_DAYS` (400), `POS_WRITE_CONCURRENCY` (4),
    /// `POS_TIME_RESERVE_SECONDS` (60), `POS_LEASE_SECONDS` (960).
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            ingest_queue_url: config::required("POS_INGEST_QUEUE_URL")?,
            sales_queue_url: config::required("POS_SALES_QUEUE_URL")?,
            stock_queue_url: config::required("POS_STOCK_QUEUE_URL")?,
            chunk_lines: config::optional("POS_CHUNK_LINES")?.unwrap_or(1000),
            max_age_days: config::optional("POS_MAX_LINE_AGE_DAYS")?.unwrap_or(400),
            write_concurrency: config::optional("POS_WRITE_CONCURRENCY")?.unwrap_or(4),
            time_reserve: Duration::from_secs(
                config::optional("POS_TIME_RESERVE_SECONDS")?.unwrap_or(60),
            ),
            lease_seconds: config::optional("POS_LEASE_SECONDS")?.unwrap_or(960),
            lines_per_message: 300,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Publish(#[from] PublishError),
    #[error("reading s3://{bucket}/{key}: {reason}")]
    S3 {
        bucket: String,
        key: String,
        reason: String,
    },
    #[error("message is neither an S3 notification nor a continuation: {0}")]
    Malformed(String),
}

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

/// The outcome of one invocation's work on a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// The file reached a final status (completed, refused, failed) now or earlier.
    Done(FileStatus),
    /// Handed on to another invocation (time ran short, or the distributor was busy).
    Continued,
    /// Not a file to ingest (a reject report, a key outside the layout).
    Ignored,
}

/// The ingestion service: clients and settings, built once per cold start.
pub struct PosIngest {
    pub store: DynamoStore,
    pub s3: aws_sdk_s3::Client,
    pub publisher: SqsPublisher,
    pub settings: PosSettings,
}

/// Things read from the file record's surroundings once per invocation.
struct Run {
    file: PosFile,
    layout: Layout,
    profile: Profile,
    catalog: HashSet<String>,
    looked_up: HashSet<String>,
    resellers: ResellerDirectory,
    window: DateWindow,
}

/// What the parsing thread hands over.
enum Parsed {
    Layout(Box<Layout>, Detected),
    Chunk(Vec<Record>),
    /// The file cannot be read at all: refused whole.
    Refused(String),
    /// The file became unreadable part way.
    Failed(String),
}

/// Reject report rows kept per chunk: a DynamoDB item holds at most 400 KB.
const MAX_CHUNK_REJECTS_BYTES: usize = 300 * 1024;
/// The reject report is capped; further rows are counted in a closing line.
const MAX_REPORT_BYTES: usize = 16 * 1024 * 1024;
const REPORT_HEADER: &str = "row,field,value,reason\n";

impl PosIngest {
    pub async fn from_env() -> Result<Self, ConfigError> {
        let settings = PosSettings::from_env()?;
        let sdk = crate::aws::load_config().await;
        Ok(Self {
            store: DynamoStore::from_env(&sdk)?,
            s3: crate::aws::s3(&sdk),
            publisher: SqsPublisher::new(crate::aws::sqs(&sdk)),
            settings,
        })
    }

    /// Handles one ingest-queue message; `deadline` is when the invocation is cut off.
    pub async fn handle(
        &self,
        body: &str,
        deadline: Instant,
    ) -> Result<Vec<Progress>, IngestError> {
        match IngestRequest::parse(body)? {
            IngestRequest::Nothing => Ok(vec![]),
            IngestRequest::Continue(id) => {
                let file = self
                    .store
                    .get_file(&id)
                    .await?
                    .ok_or_else(|| IngestError::Malformed(format!("no file record {id}")))?;
                Ok(vec![self.work(file, deadline).await?])
            }
            IngestRequest::Objects(objects) => {
                let mut done = Vec::new();
                for object in objects {
                    done.push(self.ingest(object, deadline).await?);
                }
                Ok(done)
            }
        }
    }

    /// A dropped object: its file record (created once per object version), then the work.
    pub async fn ingest(
        &self,
        object: DroppedObject,
        deadline: Instant,
    ) -> Result<Progress, IngestError> {
        let Some((distributor, kind, name)) = parse_drop_key(&object.key) else {
            tracing::info!(key = %object.key, "not an input file; ignored");
            return Ok(Progress::Ignored);
        };
        let Ok(distributor) = distributor.parse::<PartnerId>() else {
            tracing::warn!(key = %object.key, "the first folder is not a partner id; ignored");
            return Ok(Progress::Ignored);
        };
        let version = object
            .version_id
            .clone()
            .or(object.etag.clone())
            .unwrap_or_default();
        let now = Utc::now();
        let file = PosFile {
            id: FileId::of_object(&object.bucket, &object.key, &version),
            distributor,
            kind,
            name: name.to_string(),
            bucket: object.bucket.clone(),
            key: object.key.clone(),
            version_id: object.version_id.clone(),
            etag: object.etag.clone(),
            size: object.size,
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
        };
        let file = match self.store.create_file(&file).await? {
            None => file,
            Some(existing) => existing,
        };
        self.work(file, deadline).await
    }

    /// Works on a file until it is done or the time is short, under its distributor's lease.
    async fn work(&self, file: PosFile, deadline: Instant) -> Result<Progress, IngestError> {
        if file.status.is_final() {
            tracing::info!(file = %file.id, status = ?file.status, "already ingested; nothing to do");
            return Ok(Progress::Done(file.status));
        }
        let holder = format!("{}:{}", file.id, hex::encode(rand_bytes()));
        let claimed = self
            .store
            .claim_lease(
                &file.distributor,
                &holder,
                Utc::now(),
                self.settings.lease_seconds,
            )
            .await?;
        if !claimed {
            tracing::info!(file = %file.id, "another file of this distributor is being ingested; retrying in a minute");
            self.hand_on(&file, Duration::from_secs(60)).await?;
            return Ok(Progress::Continued);
        }
        let result = self.work_leased(file.clone(), deadline).await;
        self.store.release_lease(&file.distributor, &holder).await?;
        result
    }

    async fn hand_on(&self, file: &PosFile, delay: Duration) -> Result<(), IngestError> {
        let envelope = Envelope::new(
            format!("continue:{}:{}", file.id, file.rows_done),
            PosFileContinue {
                file_id: file.id.clone(),
            },
            Utc::now(),
        );
        self.publisher
            .publish_delayed(&self.settings.ingest_queue_url, &envelope, delay)
            .await?;
        Ok(())
    }

    async fn work_leased(
        &self,
        mut file: PosFile,
        deadline: Instant,
    ) -> Result<Progress, IngestError> {
        // Read again under the lease: another invocation may have moved it on meanwhile.
        if let Some(latest) = self.store.get_file(&file.id).await? {
            file = latest;
        }
        if file.status.is_final() {
            return Ok(Progress::Done(file.status));
        }
        file.invocations += 1;
        match self.store.get_partner(&file.distributor).await? {
            Some(p)
                if p.kind == PartnerKind::Distributor && p.status != PartnerStatus::Inactive => {}
            Some(p) if p.kind != PartnerKind::Distributor => {
                return self
                    .refuse(file, format!("{} is not a distributor", p.id))
                    .await;
            }
            Some(p) => {
                return self
                    .refuse(file, format!("distributor {} is inactive", p.id))
                    .await;
            }
            None => {
                return self
                    .refuse(
                        file.clone(),
                        format!("unknown distributor {}", file.distributor),
                    )
                    .await;
            }
        }
        let profile = match self.store.get_profile(&file.distributor).await? {
            None => Profile::default(),
            Some(stored) => stored.compile().map_err(|e| StoreError::Corrupt {
                key: format!("DISTPROFILE#{}", file.distributor),
                reason: e.to_string(),
            })?,
        };

        let mut request = self.s3.get_object().bucket(&file.bucket).key(&file.key);
        request = match (&file.version_id, &file.etag) {
            (Some(version), _) => request.version_id(version),
            (None, Some(etag)) => request.if_match(etag),
            (None, None) => request,
        };
        let object = match request.send().await {
            Ok(object) => object,
            Err(err) => {
                let code = err
                    .as_service_error()
                    .and_then(aws_sdk_s3::error::ProvideErrorMetadata::code)
                    .map(str::to_string);
                if matches!(
                    code.as_deref(),
                    Some("NoSuchKey") | Some("NoSuchVersion") | Some("PreconditionFailed")
                ) {
                    return self
                        .refuse(
                            file,
                            "the object is gone or was replaced before it was read".into(),
                        )
                        .await;
                }
                return Err(IngestError::S3 {
                    bucket: file.bucket.clone(),
                    key: file.key.clone(),
                    reason: aws_sdk_s3::error::DisplayErrorContext(&err).to_string(),
                });
            }
        };

        let mut parsed = spawn_parser(
            object.body,
            file.kind,
            profile.clone(),
            file.rows_done,
            self.settings.chunk_lines,
        );
        let (layout, detected) = match parsed.recv().await {
            Some(Parsed::Layout(layout, detected)) => (*layout, detected),
            Some(Parsed::Refused(reason)) | Some(Parsed::Failed(reason)) => {
                return self.refuse(file, reason).await;
            }
            Some(Parsed::Chunk(_)) | None => {
                return self.refuse(file, "the file could not be read".into()).await;
            }
        };
        file.detected = serde_json::to_value(&detected).ok();
        let resellers = match file.kind {
            FileKind::Pos => ResellerDirectory::new(
                self.store
                    .list_partners()
                    .await?
                    .into_iter()
                    .filter(|p| p.kind == PartnerKind::Reseller)
                    .map(|p| (p.id, p.name)),
            )
            .with_aliases(self.store.reseller_aliases(&file.distributor).await?),
            FileKind::Inventory => ResellerDirectory::default(),
        };
        // Keep the configured reserve, or a quarter of a short invocation (local runs).
        let reserve = self
            .settings
            .time_reserve
            .min(deadline.saturating_duration_since(Instant::now()) / 4);
        let mut run = Run {
            window: DateWindow::new(file.received_at.date_naive(), self.settings.max_age_days),
            file,
            layout,
            profile,
            catalog: HashSet::new(),
            looked_up: HashSet::new(),
            resellers,
        };
        loop {
            match parsed.recv().await {
                Some(Parsed::Chunk(records)) => {
                    self.chunk(&mut run, records).await?;
                    if Instant::now() + reserve > deadline {
                        tracing::info!(file = %run.file.id, rows_done = run.file.rows_done, "time is short; continuing in another invocation");
                        self.hand_on(&run.file, Duration::ZERO).await?;
                        return Ok(Progress::Continued);
                    }
                }
                Some(Parsed::Failed(reason)) => {
                    return self
                        .finish(run.file, FileStatus::Failed, Some(reason))
                        .await;
                }
                Some(Parsed::Refused(reason)) => return self.refuse(run.file, reason).await,
                Some(Parsed::Layout(..)) => unreachable!("the layout comes first and once"),
                None => break,
            }
        }
        if run.file.counts.lines == 0 {
            return self
                .refuse(run.file, "the file has a header but no data lines".into())
                .await;
        }
        self.finish(run.file, FileStatus::Completed, None).await
    }

    /// Validates, deduplicates, stores and publishes one chunk, then checkpoints.
    async fn chunk(&self, run: &mut Run, records: Vec<Record>) -> Result<(), IngestError> {
        let Some(last_row) = records.last().map(|r| r.row) else {
            return Ok(());
        };
        let first_row = records[0].row;
        // The catalog is asked only about SKUs this invocation has not seen.
        let column = run.layout.column(crate::domain::pos::Field::Sku);
        let unseen: Vec<String> = records
            .iter()
            .filter_map(|r| column.and_then(|c| r.fields.get(c)))
            .map(str::trim)
            .filter(|s| !s.is_empty() && !run.looked_up.contains(*s))
            .map(str::to_string)
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        if !unseen.is_empty() {
            run.catalog.extend(self.store.known_skus(&unseen).await?);
            run.looked_up.extend(unseen);
        }

        let mut counts = FileCounts {
            lines: records.len() as u64,
            ..Default::default()
        };
        let mut rejects = RejectRows::default();
        let mut sales = Vec::new();
        let mut stock = Vec::new();
        {
            let mut validator = Validator::new(
                &run.layout,
                &run.profile,
                run.file.distributor.clone(),
                run.window,
                Some(&run.catalog),
                &run.resellers,
            );
            for record in &records {
                let verdict = if record.encoding_error {
                    Verdict::Rejected(vec![encoding_rejection(record)])
                } else {
                    validator.validate(record.row, &record.fields)
                };
                match verdict {
                    Verdict::Sale(line) => sales.push((record.row, line)),
                    Verdict::Stock(line) => stock.push((record.row, line)),
                    Verdict::Rejected(faults) => {
                        counts.rejected += 1;
                        rejects.add(&faults);
                    }
                }
            }
        }

        // Duplicates: within the chunk, then against what any file stored before.
        let mut candidates: Vec<(u64, crate::domain::pos::LineKey, String, Option<HeldUnder>)> =
            Vec::new();
        let mut seen = HashSet::new();
        for (row, line) in &sales {
            let key = line.key();
            if seen.insert(key.clone()) {
                candidates.push((
                    *row,
                    key,
                    serde_json::to_string(line).expect("serialisable"),
                    line.held_under(),
                ));
            } else {
                counts.duplicates += 1;
            }
        }
        for (row, line) in &stock {
            let key = line.key();
            if seen.insert(key.clone()) {
                candidates.push((
                    *row,
                    key,
                    serde_json::to_string(line).expect("serialisable"),
                    None,
                ));
            } else {
                counts.duplicates += 1;
            }
        }
        let keys: Vec<_> = candidates.iter().map(|c| c.1.clone()).collect();
        let reported = self.store.first_reports(&keys).await?;
        let mut accepted_rows = HashSet::new();
        let mut new_lines = Vec::new();
        // Sales stored by this file before a crash are sent again as stored: re-validated now,
        // a held line could come out matched, and accrue here and again when released.
        let mut as_stored: HashMap<u64, PosLine> = HashMap::new();
        for (row, key, json, held) in candidates {
            match reported.get(&key) {
                Some(first) if first.file == run.file.id && first.row == row => {
                    // Stored by this file before a crash: accepted, not stored again.
                    accepted_rows.insert(row);
                    if key.partition.starts_with("POSLINE#") {
                        let mut stored: PosLine =
                            serde_json::from_str(&first.line).map_err(|e| StoreError::Corrupt {
                                key: format!("{}/{}", key.partition, key.item),
                                reason: e.to_string(),
                            })?;
                        if first.released {
                            // The release sent it to accrual under its own id.
                            stored.held = true;
                            stored.reseller_id = None;
                        }
                        as_stored.insert(row, stored);
                    }
                }
                Some(_) => counts.duplicates += 1,
                None => {
                    accepted_rows.insert(row);
                    new_lines.push(StoredLine {
                        key,
                        file: run.file.id.clone(),
                        row,
                        line: json,
                        held,
                    });
                }
            }
        }
        let cost = self
            .store
            .put_lines(new_lines, self.settings.write_concurrency)
            .await?;

        let now = Utc::now();
        let sales: Vec<_> = sales
            .into_iter()
            .filter(|(row, _)| accepted_rows.contains(row))
            .map(|(row, l)| as_stored.remove(&row).unwrap_or(l))
            .collect();
        let stock: Vec<_> = stock
            .into_iter()
            .filter(|(row, _)| accepted_rows.contains(row))
            .map(|(_, l)| l)
            .collect();
        counts.accepted = (sales.len() + stock.len()) as u64;
        counts.held = sales.iter().filter(|l| l.held).count() as u64;
        let id = &run.file.id;
        let per = self.settings.lines_per_message.max(1);
        if !sales.is_empty() {
            let envelopes: Vec<_> = sales
                .chunks(per)
                .enumerate()
                .map(|(i, lines)| {
                    Envelope::new(
                        format!("pos-sales:{id}:{first_row}:{i}"),
                        SalesReported {
                            file_id: id.clone(),
                            lines: lines.to_vec(),
                        },
                        now,
                    )
                })
                .collect();
            self.publisher
                .publish(&self.settings.sales_queue_url, &envelopes)
                .await?;
            // Inventory keeps sell-through for weeks of supply and reconciliation: the same
            // messages, under the same ids, on its own queue.
            self.publisher
                .publish(&self.settings.stock_queue_url, &envelopes)
                .await?;
        }
        if !stock.is_empty() {
            let envelopes: Vec<_> = stock
                .chunks(per)
                .enumerate()
                .map(|(i, lines)| {
                    Envelope::new(
                        format!("pos-stock:{id}:{first_row}:{i}"),
                        StockReported {
                            file_id: id.clone(),
                            lines: lines.to_vec(),
                        },
                        now,
                    )
                })
                .collect();
            self.publisher
                .publish(&self.settings.stock_queue_url, &envelopes)
                .await?;
        }

        let expected = run.file.revision;
        let mut next = run.file.clone();
        next.counts.add(&counts);
        next.rows_done = last_row;
        next.write_requests += cost.requests;
        next.write_units += cost.write_units;
        next.updated_at = now;
        next.revision += 1;
        let rejects = rejects.finish();
        let rejects = (!rejects.is_empty()).then_some((first_row, rejects));
        self.store.save_file(&next, expected, rejects, now).await?;
        run.file = next;
        Ok(())
    }

    async fn refuse(&self, file: PosFile, reason: String) -> Result<Progress, IngestError> {
        tracing::warn!(file = %file.id, key = %file.key, %reason, "file refused");
        self.finish(file, FileStatus::Refused, Some(reason)).await
    }

    /// Writes the reject report, then the file record's final status.
    async fn finish(
        &self,
        mut file: PosFile,
        status: FileStatus,
        reason: Option<String>,
    ) -> Result<Progress, IngestError> {
        let mut report = String::from(REPORT_HEADER);
        let mut omitted = 0u64;
        for chunk in self.store.rejects(&file.id).await? {
            if report.len() + chunk.len() > MAX_REPORT_BYTES {
                omitted += chunk.lines().count() as u64;
            } else {
                report.push_str(&chunk);
            }
        }
        if omitted > 0 {
            report.push_str(&csv_row(&["", "report", "", &format!("{omitted} further faults are not listed: the report is capped at {MAX_REPORT_BYTES} bytes")]));
        }
        if let Some(reason) = &reason {
            let field = if status == FileStatus::Refused {
                "file"
            } else {
                "file (from here on)"
            };
            report.push_str(&csv_row(&[
                &(file.rows_done + 1).to_string(),
                field,
                &file.name,
                reason,
            ]));
        }
        let report_key = format!(
            "{}/rejects/{}.csv",
            file.distributor,
            report_stem(&file.name)
        );
        self.s3
            .put_object()
            .bucket(&file.bucket)
            .key(&report_key)
            .content_type("text/csv; charset=utf-8")
            .body(report.into_bytes().into())
            .send()
            .await
            .map_err(|e| IngestError::S3 {
                bucket: file.bucket.clone(),
                key: report_key.clone(),
                reason: aws_sdk_s3::error::DisplayErrorContext(&e).to_string(),
            })?;
        let expected = file.revision;
        let now = Utc::now();
        file.status = status;
        file.reason = reason;
        file.reject_report = Some(report_key);
        file.completed_at = Some(now);
        file.updated_at = now;
        file.revision += 1;
        self.store.save_file(&file, expected, None, now).await?;
        tracing::info!(file = %file.id, status = ?file.status, counts = ?file.counts, write_requests = file.write_requests, write_units = file.write_units, "file ingested");
        Ok(Progress::Done(status))
    }
}

/// A chunk's reject-report rows, CSV, bounded to fit one DynamoDB item: faults beyond the bound
/// are counted in a closing row instead of listed.
#[derive(Default)]
struct RejectRows {
    text: String,
    omitted: u64,
}

impl RejectRows {
    fn add(&mut self, faults: &[Rejection]) {
        for fault in faults {
            let value: String = fault.value.chars().take(120).collect();
            let row = csv_row(&[&fault.row.to_string(), &fault.field, &value, &fault.reason]);
            if self.omitted > 0 || self.text.len() + row.len() > MAX_CHUNK_REJECTS_BYTES {
                self.omitted += 1;
                continue;
            }
            self.text.push_str(&row);
        }
    }

    /// The rows, with the count of those left out.
    fn finish(mut self) -> String {
        if self.omitted > 0 {
            self.text.push_str(&csv_row(&[
                "",
                "report",
                "",
                &format!(
                    "{} further faults in these rows are not listed",
                    self.omitted
                ),
            ]));
        }
        self.text
    }
}

/// One CSV row, quoted where needed, ending in LF.
pub fn csv_row(cells: &[&str]) -> String {
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    writer.write_record(cells).expect("writing to memory");
    String::from_utf8(writer.into_inner().expect("writing to memory")).expect("UTF-8 cells")
}

fn rand_bytes() -> [u8; 8] {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).expect("the system's random source");
    bytes
}

/// Streams the object's bytes into a blocking thread that parses them; chunks of records come
/// back through a channel with room for two, so memory stays bounded whatever the file size.
fn spawn_parser(
    body: aws_sdk_s3::primitives::ByteStream,
    kind: FileKind,
    profile: Profile,
    rows_done: u64,
    chunk_lines: usize,
) -> mpsc::Receiver<Parsed> {
    let (bytes_tx, bytes_rx) = mpsc::channel::<io::Result<bytes::Bytes>>(8);
    tokio::spawn(async move {
        let mut body = body;
        loop {
            let next = body.try_next().await;
            let message = match next {
                Ok(Some(bytes)) => Ok(bytes),
                Ok(None) => break,
                Err(e) => Err(io::Error::other(e)),
            };
            let failed = message.is_err();
            if bytes_tx.send(message).await.is_err() || failed {
                break;
            }
        }
    });
    let (tx, rx) = mpsc::channel(2);
    tokio::task::spawn_blocking(move || {
        let reader = ChannelReader {
            rx: bytes_rx,
            current: Default::default(),
        };
        parse(reader, kind, &profile, rows_done, chunk_lines, |parsed| {
            tx.blocking_send(parsed).is_ok()
        });
    });
    rx
}

/// The parsing loop, shared by ingestion and the local check: the layout first, then chunks of
/// records after `rows_done`. `send` returns false when the receiver is gone.
fn parse(
    reader: impl Read + Send + 'static,
    kind: FileKind,
    profile: &Profile,
    rows_done: u64,
    chunk_lines: usize,
    mut send: impl FnMut(Parsed) -> bool,
) {
    let mut records = match Records::open(reader, profile.encoding, profile.delimiter) {
        Ok(records) => records,
        Err(e) => {
            send(Parsed::Refused(e.to_string()));
            return;
        }
    };
    let header = match records.next_record() {
        None => {
            send(Parsed::Refused(FormatError::Empty.to_string()));
            return;
        }
        Some(Err(e)) => {
            send(Parsed::Refused(e.to_string()));
            return;
        }
        Some(Ok(header)) => header,
    };
    let cells: Vec<&str> = header.fields.iter().collect();
    match Layout::resolve(kind, &cells, profile) {
        Ok(layout) => {
            if !send(Parsed::Layout(Box::new(layout), records.detected.clone())) {
                return;
            }
        }
        Err(e) => {
            send(Parsed::Refused(e.to_string()));
            return;
        }
    }
    let mut chunk = Vec::with_capacity(chunk_lines);
    while let Some(next) = records.next_record() {
        match next {
            Ok(record) if record.row <= rows_done => {}
            Ok(record) => {
                chunk.push(record);
                if chunk.len() >= chunk_lines
                    && !send(Parsed::Chunk(std::mem::replace(
                        &mut chunk,
                        Vec::with_capacity(chunk_lines),
                    )))
                {
                    return;
                }
            }
            Err(e) => {
                if !chunk.is_empty() && !send(Parsed::Chunk(std::mem::take(&mut chunk))) {
                    return;
                }
                send(Parsed::Failed(e.to_string()));
                return;
            }
        }
    }
    if !chunk.is_empty() {
        send(Parsed::Chunk(chunk));
    }
}

/// A blocking reader over byte chunks sent by the async side.
struct ChannelReader {
    rx: mpsc::Receiver<io::Result<bytes::Bytes>>,
    current: bytes::Bytes,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                None => return Ok(0),
                Some(Err(e)) => return Err(e),
                Some(Ok(chunk)) => self.current = chunk,
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        let _ = self.current.split_to(n);
        Ok(n)
    }
}

/// What the local check found in a file (`chanctl pos check`): the same reading, mapping and
/// validation as ingestion, without AWS.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LocalCheck {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detected: Option<Detected>,
    /// Canonical field → column number (1-based) as resolved from the header.
    pub columns: Vec<(String, usize)>,
    pub counts: FileCounts,
    /// Why the file would be refused whole (or failed part way).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
    /// The reject report as ingestion would write it.
    #[serde(skip)]
    pub report: String,
}

/// Runs a file through the ingestion core. `catalog: None` skips the SKU check; duplicates are
/// detected within the file when `detect_duplicates` (which keeps every line's key in memory).
#[allow(clippy::too_many_arguments)]
pub fn check_local(
    reader: impl Read + Send + 'static,
    kind: FileKind,
    profile: &Profile,
    distributor: PartnerId,
    catalog: Option<&HashSet<String>>,
    resellers: &ResellerDirectory,
    window: DateWindow,
    detect_duplicates: bool,
) -> LocalCheck {
    let mut check = LocalCheck {
        detected: None,
        columns: Vec::new(),
        counts: FileCounts::default(),
        refused: None,
        report: String::from(REPORT_HEADER),
    };
    let mut layout: Option<Layout> = None;
    let mut keys = HashSet::new();
    parse(reader, kind, profile, 0, 4096, |parsed| {
        match parsed {
            Parsed::Layout(found, detected) => {
                check.detected = Some(detected);
                check.columns = found
                    .columns()
                    .iter()
                    .map(|(f, c)| (f.name().to_string(), c + 1))
                    .collect();
                layout = Some(*found);
            }
            Parsed::Refused(reason) | Parsed::Failed(reason) => check.refused = Some(reason),
            Parsed::Chunk(records) => {
                let layout = layout.as_ref().expect("the layout comes first");
                let mut validator = Validator::new(
                    layout,
                    profile,
                    distributor.clone(),
                    window,
                    catalog,
                    resellers,
                );
                let mut rejects = RejectRows::default();
                for record in records {
                    check.counts.lines += 1;
                    let verdict = if record.encoding_error {
                        Verdict::Rejected(vec![encoding_rejection(&record)])
                    } else {
                        validator.validate(record.row, &record.fields)
                    };
                    // Keys are built only when duplicates are tracked: they cost allocations.
                    let key = match &verdict {
                        Verdict::Sale(line) => {
                            Some((detect_duplicates.then(|| line.key()), line.held))
                        }
                        Verdict::Stock(line) => {
                            Some((detect_duplicates.then(|| line.key()), false))
                        }
                        Verdict::Rejected(faults) => {
                            check.counts.rejected += 1;
                            rejects.add(faults);
                            None
                        }
                    };
                    if let Some((key, held)) = key {
                        if key.is_some_and(|key| !keys.insert(key)) {
                            check.counts.duplicates += 1;
                        } else {
                            check.counts.accepted += 1;
                            check.counts.held += u64::from(held);
                        }
                    }
                }
                check.report.push_str(&rejects.finish());
            }
        }
        true
    });
    check
}

fn encoding_rejection(record: &Record) -> Rejection {
    Rejection {
        row: record.row,
        field: "record".into(),
        value: record.fields.iter().collect::<Vec<_>>().join(" | "),
        reason: "bytes that are not text in the file's encoding: set the encoding in the distributor's profile".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::pos::MappingProfile;
    use chrono::NaiveDate;

    fn window() -> DateWindow {
        DateWindow::new(NaiveDate::from_ymd_opt(2026, 11, 23).unwrap(), 400)
    }

    fn run(
        bytes: Vec<u8>,
        kind: FileKind,
        profile: &Profile,
        catalog: &HashSet<String>,
    ) -> LocalCheck {
        let resellers =
            ResellerDirectory::new([(PartnerId::generate(), "Northwind Traders".to_string())]);
        check_local(
            std::io::Cursor::new(bytes),
            kind,
            profile,
            PartnerId::generate(),
            Some(catalog),
            &resellers,
            window(),
            true,
        )
    }

    #[test]
    fn a_european_file_checks_out_with_its_profile() {
        let profile = MappingProfile {
            columns: [(
                "sku".to_string(),
                crate::domain::pos::ColumnRef::Header("Artikel".into()),
            )]
            .into(),
            date_formats: vec!["%d.%m.%Y".into()],
            decimal_separator: Some(','),
            default_currency: Some("EUR".into()),
            ..Default::default()
        }
        .compile()
        .unwrap();
        let text = "Rechnung;Position;Datum;Händler;Artikel;Menge;Preis\r\n\
                    R-1;1;02.11.2026;Northwind Traders;NW-1;3;1.234,50\r\n\
                    R-1;2;02.11.2026;Müller GmbH;NW-1;1;9,99\r\n\
                    R-1;1;02.11.2026;Northwind Traders;NW-1;3;1.234,50\r\n\
                    R-2;1;31.11.2026;Northwind Traders;NW-1;1;1\r\n";
        let text = text
            .replace("Rechnung", "Invoice")
            .replace("Position", "Line")
            .replace("Datum", "Date")
            .replace("Händler", "Reseller")
            .replace("Menge", "Qty")
            .replace("Preis", "Price");
        let (bytes, _, _) = encoding_rs::WINDOWS_1252.encode(&text);
        let catalog = HashSet::from(["NW-1".to_string()]);
        let check = run(bytes.into_owned(), FileKind::Pos, &profile, &catalog);
        assert_eq!(check.refused, None);
        assert_eq!(
            check.detected.as_ref().unwrap().encoding,
            Some("windows-1252")
        );
        assert_eq!(check.detected.as_ref().unwrap().delimiter, Some(';'));
        let c = check.counts;
        assert_eq!(
            (c.lines, c.accepted, c.rejected, c.duplicates, c.held),
            (4, 2, 1, 1, 1)
        );
        assert!(
            check
                .report
                .starts_with("row,field,value,reason\n5,invoice_date,31.11.2026,\"not a date"),
            "{}",
            check.report
        );
    }

    #[test]
    fn a_line_not_valid_in_the_declared_encoding_is_rejected_with_its_row() {
        let profile = MappingProfile {
            encoding: Some(crate::domain::pos::TextEncoding::Utf8),
            ..Default::default()
        }
        .compile()
        .unwrap();
        let mut bytes = b"Warehouse,SKU,On Hand,As Of\nDAL,NW-1,4,2026-11-20\n".to_vec();
        bytes.extend_from_slice(b"M\xfcnchen,NW-1,4,2026-11-20\n");
        let check = run(
            bytes,
            FileKind::Inventory,
            &profile,
            &HashSet::from(["NW-1".to_string()]),
        );
        assert_eq!((check.counts.accepted, check.counts.rejected), (1, 1));
        assert!(check.report.contains("\n3,record,"), "{}", check.report);
    }

    #[test]
    fn a_chunk_with_more_faults_than_an_item_holds_says_how_many_are_left_out() {
        let mut rows = RejectRows::default();
        let fault = Rejection {
            row: 2,
            field: "sku".into(),
            value: "X".repeat(200),
            reason: "not in the vendor's catalog".into(),
        };
        rows.add(&vec![fault; 5000]);
        let text = rows.finish();
        assert!(text.len() <= MAX_CHUNK_REJECTS_BYTES + 100);
        let listed = text.lines().filter(|l| l.starts_with("2,sku,")).count();
        let last = text.lines().last().unwrap();
        assert_eq!(
            last,
            format!(
                ",report,,{} further faults in these rows are not listed",
                5000 - listed
            )
        );
    }

    #[test]
    fn keys_in_notifications_are_form_decoded() {
        assert_eq!(
            decode_key("ptn_1/pos/Week+47%2B48%2Fb.csv"),
            "ptn_1/pos/Week 47+48/b.csv"
        );
        assert_eq!(
            parse_drop_key("ptn_1/pos/a/b.csv"),
            Some(("ptn_1", FileKind::Pos, "a/b.csv"))
        );
        assert_eq!(parse_drop_key("ptn_1/rejects/a.csv"), None);
        assert_eq!(parse_drop_key("ptn_1/pos/"), None);
    }

    #[test]
    fn a_continuation_and_a_test_event_are_recognised() {
        let id = FileId::of_object("b", "k", "v");
        let body = Envelope::new(
            "x",
            PosFileContinue {
                file_id: id.clone(),
            },
            Utc::now(),
        )
        .to_json();
        assert_eq!(
            IngestRequest::parse(&body).unwrap(),
            IngestRequest::Continue(id)
        );
        let test = r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Bucket":"b"}"#;
        assert_eq!(IngestRequest::parse(test).unwrap(), IngestRequest::Nothing);
        assert!(IngestRequest::parse(r#"{"Records": "nope"}"#).is_err());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]
        /// Any text, read as a POS file without a profile, ends in verdicts or a refusal.
        #[test]
        fn arbitrary_text_never_panics(lines in proptest::collection::vec("[ -~äé,;\"]{0,60}", 0..20)) {
            let mut text = String::from("Invoice,Line,Date,Reseller,SKU,Qty,Price,Currency,Type,Country\n");
            text.push_str(&lines.join("\n"));
            let check = run(text.into_bytes(), FileKind::Pos, &Profile::default(), &HashSet::new());
            proptest::prop_assert_eq!(check.counts.lines, check.counts.accepted + check.counts.rejected + check.counts.duplicates);
        }
    }
}
