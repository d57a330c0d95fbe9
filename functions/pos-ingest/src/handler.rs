//! The ingest queue's consumer: S3 notifications for dropped files, and continuation messages
//! for files handed on from an earlier invocation. Each record succeeds or fails on its own
//! (partial batch response); a failed one is redelivered and resumes from its checkpoint.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use tributary::messaging::{RecordError, process_records};
use tributary::workflow::pos::PosIngest;

/// Files are big: one at a time per invocation (the template's batch size is 1 as well).
const CONCURRENCY: usize = 1;

/// The invocation's deadline (epoch milliseconds from the runtime) as an `Instant`.
pub fn deadline(epoch_millis: u64) -> Instant {
    let now_millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    Instant::now() + Duration::from_millis(epoch_millis.saturating_sub(now_millis))
}

pub async fn handle(service: &PosIngest, event: SqsEvent, deadline: Instant) -> SqsBatchResponse {
    process_records(event, CONCURRENCY, |record| async move {
        let body = record.body.unwrap_or_default();
        let progress = service
            .handle(&body, deadline)
            .await
            .map_err(RecordError::from_display)?;
        tracing::info!(?progress, "ingest message handled");
        Ok::<_, RecordError>(())
    })
    .await
}

#[cfg(test)]
mod tests;
