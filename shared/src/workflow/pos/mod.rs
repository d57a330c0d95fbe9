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
//!
//! A fault in one file's processing (a panic, or an error on the message's last delivery) ends
//! that file `failed` with a reason and releases the lease, so the distributor's other files go on.
//!
//! Parts: [`request`] (what an ingest-queue message asks for), [`parse`] (the parsing thread and
//! the local check), [`chunk`] (one chunk: validate, dedupe, store, publish, checkpoint),
//! [`report`] (reject report rows).

mod chunk;
mod parse;
#[cfg(test)]
mod properties;
mod report;
mod request;

use std::collections::{HashMap, HashSet};
use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

use chrono::Utc;
use futures_util::FutureExt;

use crate::config::{self, ConfigError};
use crate::domain::pos::{
    DateWindow, FileId, FileKind, FileStatus, Layout, PosFile, Profile, ResellerDirectory,
};
use crate::domain::{PartnerId, PartnerKind, PartnerStatus};
use crate::messaging::messages::PosFileContinue;
use crate::messaging::{Envelope, MAX_MESSAGE_BYTES, PublishError, SqsPublisher};
use crate::store::{DynamoStore, Partners, PosStore, StoreError};

pub use parse::{LocalCheck, check_local};
pub use report::csv_row;
pub use request::{DroppedObject, IngestRequest, decode_key, parse_drop_key};

use parse::{Parsed, encoding_rejection, spawn_parser};
use report::{MAX_REPORT_BYTES, REPORT_HEADER};

/// Bytes of lines (as stored) per sales or stock message: SQS's limit less room for the
/// envelope and for a line re-sent as stored, which is never longer than its stored form.
const MESSAGE_LINE_BYTES: usize = MAX_MESSAGE_BYTES - 16 * 1024;

/// Tests only: a cell with this value makes its chunk panic, standing in for any defect in
/// one file's processing (the `testing` feature is never part of a deployed build).
#[cfg(feature = "testing")]
pub const INJECTED_PANIC: &str = "#tributary-test-panic#";

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
    /// Lines per sales or stock message (messages are also bounded in bytes).
    pub lines_per_message: usize,
    /// The ingest queue's `maxReceiveCount`: the delivery that is a message's last attempt.
    pub max_receives: u64,
}

impl PosSettings {
    /// `POS_INGEST_QUEUE_URL`, `POS_SALES_QUEUE_URL`, `POS_STOCK_QUEUE_URL`, `POS_CHUNK_LINES`
    /// (1000), `POS_MAX_LINE_AGE_DAYS` (400), `POS_WRITE_CONCURRENCY` (4),
    /// `POS_TIME_RESERVE_SECONDS` (60), `POS_LEASE_SECONDS` (960), `POS_INGEST_MAX_RECEIVES` (3).
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
            max_receives: config::optional("POS_INGEST_MAX_RECEIVES")?.unwrap_or(3),
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
    /// Other files that first reported lines of this one: their last checkpoint if they failed.
    failed_checkpoints: HashMap<FileId, Option<u64>>,
}

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
        self.handle_delivery(body, deadline, false).await
    }

    /// [`Self::handle`] for a message's delivery: on its `last_attempt` (the queue moves it to the
    /// DLQ if this one fails too) a file that still cannot be ingested is failed with a reason,
    /// so that it never stays `processing`.
    pub async fn handle_delivery(
        &self,
        body: &str,
        deadline: Instant,
        last_attempt: bool,
    ) -> Result<Vec<Progress>, IngestError> {
        match IngestRequest::parse(body)? {
            IngestRequest::Nothing => Ok(vec![]),
            IngestRequest::Continue(id) => {
                let file = self
                    .store
                    .get_file(&id)
                    .await?
                    .ok_or_else(|| IngestError::Malformed(format!("no file record {id}")))?;
                Ok(vec![self.work(file, deadline, last_attempt).await?])
            }
            IngestRequest::Objects(objects) => {
                let mut done = Vec::new();
                for object in objects {
                    done.push(self.ingest(object, deadline, last_attempt).await?);
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
        last_attempt: bool,
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

        let file = PosFile {
            version_id: object.version_id.clone(),
            etag: object.etag.clone(),
            size: object.size,
            ..PosFile::received(
                &object.bucket,
                &object.key,
                &version,
                distributor,
                kind,
                name,
                Utc::now(),
            )
        };
        let file = match self.store.create_file(&file).await? {
            None => file,
            Some(existing) => existing,
        };
        self.work(file, deadline, last_attempt).await
    }

    /// Works on a file until it is done or the time is short, under its distributor's lease.
    async fn work(
        &self,
        file: PosFile,
        deadline: Instant,
        last_attempt: bool,
    ) -> Result<Progress, IngestError> {
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
        // Whatever happens to this file, the lease is released and the file record ends in a
        // final state when nothing more can be done: a panic (a defect) fails it at once, an
        // error fails it on the message's last delivery; until then the error is retried.
        let outcome = AssertUnwindSafe(self.work_leased(file.clone(), deadline))
            .catch_unwind()
            .await;
        let result = match outcome {
            Ok(Ok(progress)) => Ok(progress),
            Ok(Err(err)) if !last_attempt => Err(err),
            Ok(Err(err)) => {
                tracing::error!(file = %file.id, error = %err, "ingestion failed on the message's last delivery; the file is failed");
                self.fail(
                    &file,
                    "ingestion could not complete (storage or queue errors on every attempt)",
                )
                .await
            }
            Err(panic) => {
                tracing::error!(file = %file.id, panic = crate::telemetry::panic_message(&*panic), "ingestion panicked; the file is failed");
                self.fail(&file, "an internal error stopped ingestion")
                    .await
            }
        };
        let released = self.store.release_lease(&file.distributor, &holder).await;
        let progress = result?;
        released?;
        Ok(progress)
    }

    /// Ends a file `failed` after a fault: from its latest checkpoint (the lines stored up to
    /// there stay, and are listed as such), with its reject report when that can be written, or
    /// else with the status and reason alone.
    async fn fail(&self, file: &PosFile, what: &str) -> Result<Progress, IngestError> {
        let latest = self
            .store
            .get_file(&file.id)
            .await?
            .unwrap_or_else(|| file.clone());
        if latest.status.is_final() {
            return Ok(Progress::Done(latest.status));
        }
        let reason = if latest.rows_done == 0 {
            format!("{what}: nothing was ingested; drop the file again")
        } else {
            format!(
                "{what} after row {}: the rows up to there are ingested; drop the file again for the rest (rows already ingested count as duplicates)",
                latest.rows_done
            )
        };
        let finished =
            AssertUnwindSafe(self.finish(latest.clone(), FileStatus::Failed, Some(reason.clone())))
                .catch_unwind()
                .await;
        match finished {
            Ok(Ok(progress)) => return Ok(progress),
            Ok(Err(err)) => {
                tracing::error!(file = %file.id, error = %err, "the reject report could not be written; failing the file without it")
            }
            Err(panic) => {
                tracing::error!(file = %file.id, panic = crate::telemetry::panic_message(&*panic), "writing the reject report panicked; failing the file without it")
            }
        }
        let now = Utc::now();
        let expected = latest.revision;
        let mut failed = latest;
        failed.status = FileStatus::Failed;
        failed.reason = Some(reason);
        failed.completed_at = Some(now);
        failed.updated_at = now;
        failed.revision += 1;
        self.store.save_file(&failed, expected, None, now).await?;
        Ok(Progress::Done(FileStatus::Failed))
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
            Some(Parsed::Chunk(_)) | Some(Parsed::End) | None => {
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
            failed_checkpoints: HashMap::new(),
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
                Some(Parsed::End) => break,
                Some(Parsed::Layout(..)) | None => {
                    return self
                        .finish(
                            run.file,
                            FileStatus::Failed,
                            Some("an internal error stopped the reading of the file".into()),
                        )
                        .await;
                }
            }
        }
        if run.file.counts.lines == 0 {
            return self
                .refuse(run.file, "the file has a header but no data lines".into())
                .await;
        }
        self.finish(run.file, FileStatus::Completed, None).await
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
        let (chunks, unread) = self.store.rejects(&file.id, MAX_REPORT_BYTES).await?;
        let mut truncated = unread;
        for chunk in chunks {
            if report.len() + chunk.len() > MAX_REPORT_BYTES {
                truncated = true;
                break;
            }
            report.push_str(&chunk);
        }
        if truncated {
            report.push_str(&csv_row(&[
                "",
                "report",
                "",
                &format!(
                    "the report is capped at {MAX_REPORT_BYTES} bytes: further faults are not listed ({} lines were rejected in all)",
                    file.counts.rejected
                ),
            ]));
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
        let report_key = file.reject_report_key();
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

fn rand_bytes() -> [u8; 8] {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).expect("the system's random source");
    bytes
}
