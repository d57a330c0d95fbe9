//! Processing an SQS batch record by record and reporting only the failures.
//!
//! The function's event source mapping has `ReportBatchItemFailures`: the returned
//! `SqsBatchResponse` lists the message ids to redeliver, every other message is deleted. A message
//! that keeps failing reaches the queue's DLQ after the redrive policy's receive count.
//! On a FIFO queue, records are processed in order and everything after the first failure is
//! reported failed too, so that no later message overtakes an earlier one.

use std::fmt::Display;
use std::future::Future;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use futures_util::StreamExt;

use super::envelope::{Envelope, Message};

/// Why one record failed. Only its message is logged; the batch carries on.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct RecordError(pub String);

impl RecordError {
    pub fn from_display(err: impl Display) -> Self {
        Self(err.to_string())
    }
}

/// Runs `handle` on each record (up to `concurrency` at a time on a standard queue) and returns
/// the ids of those that failed.
pub async fn process_records<F, Fut, E>(
    event: SqsEvent,
    concurrency: usize,
    handle: F,
) -> SqsBatchResponse
where
    F: Fn(SqsMessage) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: Display,
{
    let fifo = event.records.iter().any(|r| {
        r.event_source_arn
            .as_deref()
            .is_some_and(|arn| arn.ends_with(".fifo"))
    });
    let mut failed = Vec::new();
    if fifo {
        let mut records = event.records.into_iter();
        for record in records.by_ref() {
            let id = message_id(&record);
            if let Err(err) = handle(record).await {
                tracing::error!(message_id = %id, error = %err, "record failed; later records in the batch are retried after it");
                failed.push(id);
                break;
            }
        }
        failed.extend(records.map(|r| message_id(&r)));
    } else {
        let results = futures_util::stream::iter(event.records)
            .map(|record| {
                let id = message_id(&record);
                let outcome = handle(record);
                async move { (id, outcome.await) }
            })
            .buffer_unordered(concurrency.max(1))
            .collect::<Vec<_>>()
            .await;
        for (id, result) in results {
            if let Err(err) = result {
                tracing::error!(message_id = %id, error = %err, "record failed; it will be redelivered");
                failed.push(id);
            }
        }
    }
    let mut response = SqsBatchResponse::default();
    response.set_failures(failed);
    response
}

/// Like [`process_records`], decoding each body as an `Envelope<T>` first. A body that does not
/// decode fails its record; after the redrive count it lands in the DLQ instead of looping.
pub async fn process_envelopes<T, F, Fut, E>(
    event: SqsEvent,
    concurrency: usize,
    handle: F,
) -> SqsBatchResponse
where
    T: Message,
    F: Fn(Envelope<T>) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: Display,
{
    process_records(event, concurrency, |record| {
        let decoded = Envelope::<T>::decode(record.body.as_deref().unwrap_or_default());
        let handled = decoded.map(&handle);
        async move {
            match handled {
                Ok(work) => work.await.map_err(RecordError::from_display),
                Err(err) => Err(RecordError::from_display(err)),
            }
        }
    })
    .await
}

fn message_id(record: &SqsMessage) -> String {
    // SQS always sets it; an empty id makes Lambda retry the whole batch, which is safe.
    record.message_id.clone().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messaging::envelope::tests::Ping;
    use chrono::Utc;
    use std::sync::Mutex;

    fn record(id: &str, body: String, arn: &str) -> SqsMessage {
        let mut message = SqsMessage::default();
        message.message_id = Some(id.to_string());
        message.body = Some(body);
        message.event_source_arn = Some(arn.to_string());
        message
    }

    fn event(bodies: &[(&str, String)], arn: &str) -> SqsEvent {
        let mut event = SqsEvent::default();
        event.records = bodies
            .iter()
            .map(|(id, body)| record(id, body.clone(), arn))
            .collect();
        event
    }

    fn ping(n: u32) -> String {
        Envelope::new(format!("ping:{n}"), Ping { n }, Utc::now()).to_json()
    }

    fn failed_ids(response: &SqsBatchResponse) -> Vec<String> {
        let mut ids: Vec<_> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.clone())
            .collect();
        ids.sort();
        ids
    }

    const STANDARD: &str = "arn:aws:sqs:us-east-1:123456789012:work";
    const FIFO: &str = "arn:aws:sqs:us-east-1:123456789012:work.fifo";

    #[tokio::test]
    async fn reports_only_the_failed_and_undecodable_records() {
        let batch = event(
            &[
                ("a", ping(1)),
                ("b", ping(2)),
                ("c", "garbage".into()),
                ("d", ping(4)),
            ],
            STANDARD,
        );
        let seen = Mutex::new(Vec::new());
        let response = process_envelopes::<Ping, _, _, _>(batch, 4, |envelope| {
            seen.lock().unwrap().push(envelope.payload.n);
            async move {
                if envelope.payload.n == 2 {
                    Err("boom")
                } else {
                    Ok(())
                }
            }
        })
        .await;
        assert_eq!(failed_ids(&response), ["b", "c"]);
        let mut seen = seen.into_inner().unwrap();
        seen.sort_unstable();
        assert_eq!(seen, [1, 2, 4]);
    }

    #[tokio::test]
    async fn all_successful_batch_reports_nothing() {
        let response = process_records(event(&[("a", ping(1))], STANDARD), 2, |_| async {
            Ok::<(), String>(())
        })
        .await;
        assert!(response.batch_item_failures.is_empty());
    }

    #[tokio::test]
    async fn fifo_batch_stops_at_the_first_failure() {
        let batch = event(&[("a", ping(1)), ("b", ping(2)), ("c", ping(3))], FIFO);
        let seen = Mutex::new(Vec::new());
        let response = process_envelopes::<Ping, _, _, _>(batch, 4, |envelope| {
            seen.lock().unwrap().push(envelope.payload.n);
            async move {
                if envelope.payload.n == 2 {
                    Err("boom")
                } else {
                    Ok(())
                }
            }
        })
        .await;
        assert_eq!(failed_ids(&response), ["b", "c"]);
        assert_eq!(
            seen.into_inner().unwrap(),
            [1, 2],
            "record c must not run before b succeeds"
        );
    }
}
