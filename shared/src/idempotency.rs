//! Run a state change at most once per stable id (the protocol of Powertools' idempotency utility).
//!
//! 1. Claim the key with a conditional put of an `in_progress` record that expires after
//!    `in_progress_expiry` (longer than the function's timeout, so a crashed attempt frees it).
//! 2. If the key is taken: a `completed` record is read back and its stored result returned
//!    without running the work again; a live `in_progress` record fails this attempt, so SQS
//!    redelivers it later.
//! 3. Run the work. On success store its result (`completed`, kept for `retention`, then removed by
//!    the table's TTL); on failure delete the claim so the retry can run.
//!
//! The record also keeps a fingerprint of the payload: the same key with another payload is a
//! caller bug and is refused rather than answered with the first payload's result.

use std::future::Future;
use std::time::Duration;

use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::ReturnValue;
use chrono::Utc;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use crate::store::attr::{self, Reader};
use crate::store::keys::{EXPIRES_AT, PK, SK};
use crate::store::{DynamoStore, StoreError, is_condition_failure, sdk_error};

const IN_PROGRESS: &str = "in_progress";
const COMPLETED: &str = "completed";
const SORT: &str = "IDEMPOTENCY";

#[derive(Debug, Clone)]
pub struct Idempotency {
    store: DynamoStore,
    in_progress_expiry: Duration,
    retention: Duration,
}

/// What [`Idempotency::run`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome<T> {
    /// The work ran now.
    Ran(T),
    /// The work had already completed; this is its stored result.
    Replayed(T),
}

impl<T> Outcome<T> {
    pub fn into_inner(self) -> T {
        match self {
            Outcome::Ran(value) | Outcome::Replayed(value) => value,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum IdempotencyError<E> {
    #[error("another attempt for {0} is in progress")]
    InProgress(String),
    #[error("{0} was already used with a different payload")]
    PayloadMismatch(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Work(E),
}

impl Idempotency {
    /// `in_progress_expiry` must exceed the function's timeout.
    pub fn new(store: DynamoStore, in_progress_expiry: Duration, retention: Duration) -> Self {
        Self {
            store,
            in_progress_expiry,
            retention,
        }
    }

    /// Runs `work` unless `key` already completed, in which case its stored result is returned.
    pub async fn run<T, E, F, Fut>(
        &self,
        key: &str,
        payload: &[u8],
        work: F,
    ) -> Result<Outcome<T>, IdempotencyError<E>>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let fingerprint = hex::encode(Sha256::digest(payload));
        let token = ulid::Ulid::new().to_string();
        if let Some(replayed) = self.claim(key, &fingerprint, &token).await? {
            return Ok(Outcome::Replayed(replayed));
        }
        match work().await {
            Ok(value) => {
                self.complete(key, &token, &value).await?;
                Ok(Outcome::Ran(value))
            }
            Err(err) => {
                if let Err(release_error) = self.release(key, &token).await {
                    // The claim expires by itself; the work's own error is what the caller needs.
                    tracing::warn!(key, error = %release_error, "could not release an idempotency claim");
                }
                Err(IdempotencyError::Work(err))
            }
        }
    }

    /// Claims the key, or returns the stored result of a completed run.
    async fn claim<T: DeserializeOwned, E>(
        &self,
        key: &str,
        fingerprint: &str,
        token: &str,
    ) -> Result<Option<T>, IdempotencyError<E>> {
        let now = Utc::now().timestamp();
        let result = self
            .store
            .client()
            .put_item()
            .table_name(self.store.table())
            .item(PK, attr::s(pk(key)))
            .item(SK, attr::s(SORT))
            .item("status", attr::s(IN_PROGRESS))
            .item("fingerprint", attr::s(fingerprint))
            .item("token", attr::s(token))
            .item("in_progress_until", attr::n(now + secs(self.in_progress_expiry)))
            // Never let the TTL clause below free a live claim.
            .item(EXPIRES_AT, attr::n(now + secs(self.retention.max(self.in_progress_expiry))))
            // Free, or held by a crashed attempt, or a completed record past its retention that
            // the TTL sweeper has not removed yet.
            .condition_expression(
                "attribute_not_exists(pk) OR (#status = :in_progress AND in_progress_until < :now) OR #expires < :now",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#expires", EXPIRES_AT)
            .expression_attribute_values(":in_progress", attr::s(IN_PROGRESS))
            .expression_attribute_values(":now", attr::n(now))
            .return_values_on_condition_check_failure(
                aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure::AllOld,
            )
            .send()
            .await;
        let err = match result {
            Ok(_) => return Ok(None),
            Err(err) if is_condition_failure(&err) => err,
            Err(err) => return Err(sdk_error("claiming an idempotency key", err).into()),
        };
        let existing = match err.into_service_error() {
            PutItemError::ConditionalCheckFailedException(failure) => failure.item,
            _ => None,
        };
        // Some servers do not return the old item; read it back.
        let existing = match existing {
            Some(item) => item,
            None => self.read(key).await?.ok_or_else(|| {
                // Deleted between our write and read: the other attempt failed; retry later.
                IdempotencyError::InProgress(key.to_string())
            })?,
        };
        let r = Reader::new(&existing);
        if r.str("fingerprint")? != fingerprint {
            return Err(IdempotencyError::PayloadMismatch(key.to_string()));
        }
        if r.str("status")? != COMPLETED {
            return Err(IdempotencyError::InProgress(key.to_string()));
        }
        let stored = r.str("result")?;
        let value = serde_json::from_str(stored).map_err(|e| StoreError::Corrupt {
            key: pk(key),
            reason: format!("stored result does not decode: {e}"),
        })?;
        Ok(Some(value))
    }

    async fn read(&self, key: &str) -> Result<Option<attr::Item>, StoreError> {
        let output = self
            .store
            .client()
            .get_item()
            .table_name(self.store.table())
            .key(PK, attr::s(pk(key)))
            .key(SK, attr::s(SORT))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("reading an idempotency record", e))?;
        Ok(output.item)
    }

    async fn complete<T: Serialize>(
        &self,
        key: &str,
        token: &str,
        value: &T,
    ) -> Result<(), StoreError> {
        let stored = serde_json::to_string(value).map_err(|e| StoreError::Corrupt {
            key: pk(key),
            reason: format!("result does not serialise: {e}"),
        })?;
        let expires = Utc::now().timestamp() + secs(self.retention);
        let result = self
            .store
            .client()
            .update_item()
            .table_name(self.store.table())
            .key(PK, attr::s(pk(key)))
            .key(SK, attr::s(SORT))
            .update_expression("SET #status = :completed, #result = :result, #expires = :expires REMOVE in_progress_until")
            .condition_expression("#token = :token")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#result", "result")
            .expression_attribute_names("#expires", EXPIRES_AT)
            .expression_attribute_names("#token", "token")
            .expression_attribute_values(":completed", attr::s(COMPLETED))
            .expression_attribute_values(":result", attr::s(stored))
            .expression_attribute_values(":expires", attr::n(expires))
            .expression_attribute_values(":token", attr::s(token))
            .return_values(ReturnValue::None)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) if is_condition_failure(&err) => {
                // Our claim expired and another attempt took the key: the work ran (at least)
                // twice. Raise in_progress_expiry above the function timeout if this is logged.
                tracing::warn!(key, "idempotency claim expired before the work completed");
                Ok(())
            }
            Err(err) => Err(sdk_error("completing an idempotency record", err)),
        }
    }

    async fn release(&self, key: &str, token: &str) -> Result<(), StoreError> {
        let result = self
            .store
            .client()
            .delete_item()
            .table_name(self.store.table())
            .key(PK, attr::s(pk(key)))
            .key(SK, attr::s(SORT))
            .condition_expression("#token = :token")
            .expression_attribute_names("#token", "token")
            .expression_attribute_values(":token", attr::s(token))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // Someone else holds it now; nothing of ours to release.
            Err(err) if is_condition_failure(&err) => Ok(()),
            Err(err) => Err(sdk_error("releasing an idempotency claim", err)),
        }
    }
}

fn pk(key: &str) -> String {
    format!("IDEMPOTENCY#{key}")
}

fn secs(duration: Duration) -> i64 {
    i64::try_from(duration.as_secs()).unwrap_or(i64::MAX / 2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing;
    use std::sync::atomic::{AtomicU32, Ordering};

    async fn idempotency(in_progress_expiry: Duration) -> Idempotency {
        Idempotency::new(
            testing::table().await,
            in_progress_expiry,
            Duration::from_secs(3600),
        )
    }

    #[tokio::test]
    async fn second_run_replays_the_stored_result_without_working() {
        let idem = idempotency(Duration::from_secs(60)).await;
        let runs = AtomicU32::new(0);
        let work = || async {
            runs.fetch_add(1, Ordering::SeqCst);
            Ok::<_, String>(vec![1, 2, 3])
        };
        let first = idem.run("msg-1", b"payload", work).await.unwrap();
        let second = idem.run("msg-1", b"payload", work).await.unwrap();
        assert_eq!(first, Outcome::Ran(vec![1, 2, 3]));
        assert_eq!(second, Outcome::Replayed(vec![1, 2, 3]));
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_failed_run_releases_the_key_for_the_retry() {
        let idem = idempotency(Duration::from_secs(60)).await;
        let failed = idem
            .run("msg-2", b"p", || async { Err::<u32, _>("downstream down") })
            .await;
        assert!(matches!(
            failed,
            Err(IdempotencyError::Work("downstream down"))
        ));
        let retried = idem
            .run("msg-2", b"p", || async { Ok::<_, String>(5) })
            .await
            .unwrap();
        assert_eq!(retried, Outcome::Ran(5));
    }

    #[tokio::test]
    async fn a_concurrent_attempt_is_refused_while_the_first_runs() {
        let idem = idempotency(Duration::from_secs(60)).await;
        let (started_tx, started_rx) = tokio::sync::oneshot::channel();
        let (finish_tx, finish_rx) = tokio::sync::oneshot::channel::<()>();
        let first = {
            let idem = idem.clone();
            tokio::spawn(async move {
                idem.run("msg-3", b"p", || async move {
                    started_tx.send(()).unwrap();
                    finish_rx.await.unwrap();
                    Ok::<_, String>(1)
                })
                .await
            })
        };
        started_rx.await.unwrap();
        let second = idem
            .run("msg-3", b"p", || async { Ok::<_, String>(2) })
            .await;
        assert!(
            matches!(second, Err(IdempotencyError::InProgress(_))),
            "{second:?}"
        );
        finish_tx.send(()).unwrap();
        assert_eq!(first.await.unwrap().unwrap(), Outcome::Ran(1));
    }

    #[tokio::test]
    async fn an_expired_claim_of_a_crashed_attempt_can_be_taken_over() {
        let idem = idempotency(Duration::from_secs(0)).await;
        // A crashed attempt: it claimed the key and never completed or released it.
        idem.claim::<u32, String>("msg-4", "fp", "crashed")
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let outcome = idem
            .run("msg-4", b"p", || async { Ok::<_, String>(9) })
            .await;
        // The fingerprint differs from the crashed attempt's, but an expired claim is free.
        assert_eq!(outcome.unwrap(), Outcome::Ran(9));
    }

    #[tokio::test]
    async fn the_same_key_with_another_payload_is_refused() {
        let idem = idempotency(Duration::from_secs(60)).await;
        idem.run("msg-5", b"one", || async { Ok::<_, String>(1) })
            .await
            .unwrap();
        let other = idem
            .run("msg-5", b"two", || async { Ok::<_, String>(2) })
            .await;
        assert!(
            matches!(other, Err(IdempotencyError::PayloadMismatch(_))),
            "{other:?}"
        );
    }
}
