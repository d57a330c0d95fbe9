//! Publishing envelopes to SQS in batches (SendMessageBatch), retrying the entries that failed.

use std::time::Duration;

use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use sha2::{Digest, Sha256};

use super::envelope::{Envelope, Message};

/// SQS limits: ten entries and 256 KiB of bodies per batch.
const MAX_BATCH_ENTRIES: usize = 10;
const MAX_BATCH_BYTES: usize = 256 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("message {id} is {size} bytes, over the SQS limit of {MAX_BATCH_BYTES}")]
    TooLarge { id: String, size: usize },
    #[error("{} message(s) not sent to {queue_url} ({reason}): {}", ids.len(), ids.join(", "))]
    NotSent {
        queue_url: String,
        ids: Vec<String>,
        reason: String,
    },
}

#[derive(Debug, Clone)]
pub struct SqsPublisher {
    client: aws_sdk_sqs::Client,
    max_attempts: u32,
    first_backoff: Duration,
}

struct Outgoing {
    id: String,
    body: String,
    group: Option<String>,
}

impl SqsPublisher {
    pub fn new(client: aws_sdk_sqs::Client) -> Self {
        Self {
            client,
            max_attempts: 4,
            first_backoff: Duration::from_millis(50),
        }
    }

    /// Sends every envelope, in order, batched. On a FIFO queue all go to one message group
    /// (the message type), which orders them all but sends one per request; use
    /// [`Self::publish_grouped`] to order per entity and batch across entities.
    pub async fn publish<T: Message>(
        &self,
        queue_url: &str,
        envelopes: &[Envelope<T>],
    ) -> Result<(), PublishError> {
        let grouped = envelopes.iter().map(|e| (T::TYPE.to_string(), e));
        self.send_all(queue_url, grouped).await
    }

    /// Like [`Self::publish`], with a FIFO message group per envelope (ignored on standard queues).
    pub async fn publish_grouped<T: Message>(
        &self,
        queue_url: &str,
        envelopes: &[(String, Envelope<T>)],
    ) -> Result<(), PublishError> {
        let grouped = envelopes.iter().map(|(group, e)| (group.clone(), e));
        self.send_all(queue_url, grouped).await
    }

    /// Sends one envelope that the queue delivers after `delay` (at most 15 minutes).
    pub async fn publish_delayed<T: Message>(
        &self,
        queue_url: &str,
        envelope: &Envelope<T>,
        delay: Duration,
    ) -> Result<(), PublishError> {
        self.client
            .send_message()
            .queue_url(queue_url)
            .message_body(envelope.to_json())
            .delay_seconds(delay.as_secs().min(900) as i32)
            .send()
            .await
            .map_err(|e| PublishError::NotSent {
                queue_url: queue_url.to_string(),
                ids: vec![envelope.id.clone()],
                reason: DisplayErrorContext(&e).to_string(),
            })?;
        Ok(())
    }

    async fn send_all<'a, T: Message + 'a>(
        &self,
        queue_url: &str,
        envelopes: impl Iterator<Item = (String, &'a Envelope<T>)>,
    ) -> Result<(), PublishError> {
        let fifo = queue_url.ends_with(".fifo");
        let outgoing = envelopes
            .map(|(group, envelope)| {
                let body = envelope.to_json();
                if body.len() > MAX_BATCH_BYTES {
                    return Err(PublishError::TooLarge {
                        id: envelope.id.clone(),
                        size: body.len(),
                    });
                }
                Ok(Outgoing {
                    id: envelope.id.clone(),
                    body,
                    group: fifo.then_some(group),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut batches = batches(outgoing).into_iter();
        while let Some(batch) = batches.next() {
            if let Err((mut unsent, reason)) = self.send_batch(queue_url, batch).await {
                // Nothing after a failed batch is sent: report every message that is not out.
                unsent.extend(batches.flatten().map(|m| m.id));
                return Err(PublishError::NotSent {
                    queue_url: queue_url.to_string(),
                    ids: unsent,
                    reason,
                });
            }
        }
        Ok(())
    }

    /// Sends one batch, retrying entries that SQS failed on its side. Returns the ids not sent.
    async fn send_batch(
        &self,
        queue_url: &str,
        mut pending: Vec<Outgoing>,
    ) -> Result<(), (Vec<String>, String)> {
        let ids = |messages: Vec<Outgoing>| messages.into_iter().map(|m| m.id).collect::<Vec<_>>();
        let mut backoff = self.first_backoff;
        let mut last_reason = String::new();
        for attempt in 1..=self.max_attempts {
            if attempt > 1 {
                tokio::time::sleep(backoff).await;
                backoff *= 2;
            }
            let entries = pending.iter().enumerate().map(|(index, message)| {
                let mut entry = SendMessageBatchRequestEntry::builder()
                    .id(index.to_string())
                    .message_body(&message.body);
                if let Some(group) = &message.group {
                    // The deduplication id must be at most 128 characters: hash the stable id.
                    entry = entry
                        .message_group_id(group)
                        .message_deduplication_id(hex::encode(Sha256::digest(&message.id)));
                }
                entry.build().expect("id and body are set")
            });
            let result = self
                .client
                .send_message_batch()
                .queue_url(queue_url)
                .set_entries(Some(entries.collect()))
                .send()
                .await;
            // The SDK has already retried transient request failures; what remains is final.
            let output = result.map_err(|err| {
                (
                    ids(std::mem::take(&mut pending)),
                    DisplayErrorContext(&err).to_string(),
                )
            })?;
            if output.failed.is_empty() {
                return Ok(());
            }
            let mut slots: Vec<Option<Outgoing>> = pending.into_iter().map(Some).collect();
            let mut retry = Vec::new();
            let mut refused = Vec::new();
            for failure in output.failed {
                let index = failure.id.parse::<usize>().ok();
                let Some(message) = index.and_then(|i| slots.get_mut(i)?.take()) else {
                    continue;
                };
                last_reason = format!("{}: {}", failure.code, failure.message.unwrap_or_default());
                // A sender fault (a malformed entry) fails the same way every time.
                if failure.sender_fault {
                    refused.push(message);
                } else {
                    retry.push(message);
                }
            }
            if !refused.is_empty() {
                refused.extend(retry);
                return Err((ids(refused), last_reason));
            }
            tracing::warn!(attempt, failed = retry.len(), reason = %last_reason, "retrying failed batch entries");
            pending = retry;
        }
        Err((ids(pending), last_reason))
    }
}

/// Splits messages into batches within the entry and byte limits, keeping their order. On a FIFO
/// queue a batch holds at most one message per group: a retried entry then cannot fall behind a
/// later message of its own group, because later messages go in later batches.
fn batches(messages: Vec<Outgoing>) -> Vec<Vec<Outgoing>> {
    let mut batches: Vec<Vec<Outgoing>> = Vec::new();
    let mut bytes = 0;
    for message in messages {
        let size = message.body.len();
        let full = batches.last().is_none_or(|batch| {
            batch.len() == MAX_BATCH_ENTRIES
                || bytes + size > MAX_BATCH_BYTES
                || (message.group.is_some() && batch.iter().any(|m| m.group == message.group))
        });
        if full {
            batches.push(Vec::new());
            bytes = 0;
        }
        bytes += size;
        batches
            .last_mut()
            .expect("a batch was just pushed")
            .push(message);
    }
    batches
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messaging::envelope::tests::Ping;
    use crate::testing;
    use chrono::Utc;

    fn outgoing(size: usize) -> Outgoing {
        Outgoing {
            id: "x".into(),
            body: "a".repeat(size),
            group: None,
        }
    }

    #[test]
    fn fifo_batches_hold_one_message_per_group() {
        let message = |id: &str, group: &str| Outgoing {
            id: id.into(),
            body: "x".into(),
            group: Some(group.into()),
        };
        let split = batches(vec![
            message("a1", "a"),
            message("b1", "b"),
            message("a2", "a"),
            message("c1", "c"),
        ]);
        let ids: Vec<Vec<&str>> = split
            .iter()
            .map(|b| b.iter().map(|m| m.id.as_str()).collect())
            .collect();
        assert_eq!(ids, [vec!["a1", "b1"], vec!["a2", "c1"]]);
    }

    #[test]
    fn batches_respect_entry_and_byte_limits() {
        let sizes: Vec<usize> = batches((0..25).map(|_| outgoing(10)).collect())
            .iter()
            .map(Vec::len)
            .collect();
        assert_eq!(sizes, [10, 10, 5]);
        let big = batches((0..3).map(|_| outgoing(100 * 1024)).collect());
        assert_eq!(big.iter().map(Vec::len).collect::<Vec<_>>(), [2, 1]);
    }

    #[tokio::test]
    async fn publishes_every_envelope_in_batches() {
        let sqs = testing::sqs_client().await;
        let queue_url = testing::queue(&sqs, false).await;
        let envelopes: Vec<_> = (0..23)
            .map(|n| Envelope::new(format!("ping:{n}"), Ping { n }, Utc::now()))
            .collect();
        SqsPublisher::new(sqs.clone())
            .publish(&queue_url, &envelopes)
            .await
            .unwrap();
        let mut received: Vec<u32> = testing::drain(&sqs, &queue_url)
            .await
            .iter()
            .map(|body| Envelope::<Ping>::decode(body).unwrap().payload.n)
            .collect();
        received.sort_unstable();
        assert_eq!(received, (0..23).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn fifo_queue_drops_a_republished_envelope() {
        let sqs = testing::sqs_client().await;
        let queue_url = testing::queue(&sqs, true).await;
        let envelope = Envelope::new("ping:dup", Ping { n: 7 }, Utc::now());
        let publisher = SqsPublisher::new(sqs.clone());
        publisher
            .publish(&queue_url, std::slice::from_ref(&envelope))
            .await
            .unwrap();
        publisher.publish(&queue_url, &[envelope]).await.unwrap();
        assert_eq!(testing::drain(&sqs, &queue_url).await.len(), 1);
    }

    #[tokio::test]
    async fn refuses_an_oversized_message_before_sending_anything() {
        let sqs = testing::sqs_client().await;
        let queue_url = testing::queue(&sqs, false).await;
        let small = Envelope::new("small", Ping { n: 1 }, Utc::now());
        let mut huge = Envelope::new("huge", Ping { n: 2 }, Utc::now());
        huge.id = "h".repeat(MAX_BATCH_BYTES);
        let err = SqsPublisher::new(sqs.clone())
            .publish(&queue_url, &[small, huge])
            .await
            .unwrap_err();
        assert!(matches!(err, PublishError::TooLarge { .. }), "{err}");
        assert!(testing::drain(&sqs, &queue_url).await.is_empty());
    }

    #[tokio::test]
    async fn reports_every_message_that_could_not_be_sent() {
        let sqs = testing::sqs_client().await;
        let missing = format!("{}/000000000000/no-such-queue", testing::endpoint());
        let envelopes: Vec<_> = (0..12)
            .map(|n| Envelope::new(format!("lost:{n}"), Ping { n }, Utc::now()))
            .collect();
        let err = SqsPublisher::new(sqs)
            .publish(&missing, &envelopes)
            .await
            .unwrap_err();
        let expected: Vec<String> = (0..12).map(|n| format!("lost:{n}")).collect();
        assert!(
            matches!(&err, PublishError::NotSent { ids, .. } if ids == &expected),
            "{err}"
        );
    }
}
