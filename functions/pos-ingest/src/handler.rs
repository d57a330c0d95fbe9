//! The ingest queue's consumer: S3 notifications for dropped files, and continuation messages
//! for files handed on from an earlier invocation. Each record succeeds or fails on its own
//! (partial batch response); a failed one is redelivered and resumes from its checkpoint, and
//! on its last delivery (`ApproximateReceiveCount` at the queue's `maxReceiveCount`) a file
//! that still fails is marked failed rather than left `processing` behind a DLQ'd message.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use tributary::messaging::{RecordError, process_records};
use tributary::workflow::pos::PosIngest;

/// Files are big: one at a time per invocation (the template's batch size is 1 as well).
const CONCURRENCY: usize = 1;

/// Time assumed when the runtime's deadline has already passed as the invocation starts.
const FALLBACK_BUDGET: Duration = Duration::from_secs(60);

/// The invocation's deadline (epoch milliseconds from the runtime) as an `Instant`. Lambda's
/// deadline is always ahead at the start; a local emulator's may be stale (cargo-lambda watch
/// keeps the first one), and then a fixed budget stands in so that each invocation still works
/// for a while before handing on.
pub fn deadline(epoch_millis: u64) -> Instant {
    let now_millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let remaining = Duration::from_millis(epoch_millis.saturating_sub(now_millis));
    if remaining < Duration::from_secs(1) {
        tracing::warn!(
            deadline_ms = epoch_millis,
            "the runtime's deadline has passed already; assuming {FALLBACK_BUDGET:?}"
        );
        return Instant::now() + FALLBACK_BUDGET;
    }
    Instant::now() + remaining
}

pub async fn handle(service: &PosIngest, event: SqsEvent, deadline: Instant) -> SqsBatchResponse {
    process_records(event, CONCURRENCY, |record| async move {
        let receives: u64 = record
            .attributes
            .get("ApproximateReceiveCount")
            .and_then(|n| n.parse().ok())
            .unwrap_or(1);
        let last_attempt = receives >= service.settings.max_receives;
        let body = record.body.unwrap_or_default();
        let progress = service
            .handle_delivery(&body, deadline, last_attempt)
            .await
            .map_err(RecordError::from_display)?;
        tracing::info!(?progress, "ingest message handled");
        Ok::<_, RecordError>(())
    })
    .await
}

#[cfg(test)]
mod fault_tests;
#[cfg(test)]
mod tests;
