//! BatchGetItem and BatchWriteItem with what DynamoDB leaves to the caller: requests cut to
//! the API's sizes, unprocessed keys and items sent again with backoff, bounded concurrency.

use std::time::Duration;

use aws_sdk_dynamodb::types::{KeysAndAttributes, PutRequest, WriteRequest};
use futures_util::{StreamExt, TryStreamExt, stream};

use super::attr::Item;
use super::{DynamoStore, StoreError, sdk_error};

/// Keys per BatchGetItem and items per BatchWriteItem: the API's limits.
const GET_BATCH: usize = 100;
const WRITE_BATCH: usize = 25;
/// Attempts per batch before unprocessed entries are reported as unavailable.
const ATTEMPTS: u32 = 6;

/// What a batch of writes cost, for the ingestion figures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteCost {
    pub requests: u64,
    /// Write capacity units: one per started KiB of each item written.
    pub write_units: u64,
}

impl WriteCost {
    pub fn add(&mut self, other: WriteCost) {
        self.requests += other.requests;
        self.write_units += other.write_units;
    }
}

fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(25 << attempt.min(6))
}

impl DynamoStore {
    /// Reads the items at `keys` (strongly consistent); absent ones are simply not returned.
    pub(crate) async fn batch_get(
        &self,
        keys: Vec<Item>,
        projection: Option<&str>,
        doing: &str,
    ) -> Result<Vec<Item>, StoreError> {
        let mut found = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(GET_BATCH) {
            let mut pending = chunk.to_vec();
            let mut attempt = 0;
            while !pending.is_empty() {
                attempt += 1;
                let request = KeysAndAttributes::builder()
                    .set_keys(Some(pending))
                    .set_projection_expression(projection.map(str::to_string))
                    .consistent_read(true)
                    .build()
                    .expect("keys are set");
                let output = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .send()
                    .await
                    .map_err(|e| sdk_error(doing, e))?;
                found.extend(
                    output
                        .responses
                        .unwrap_or_default()
                        .remove(&self.table)
                        .unwrap_or_default(),
                );
                pending = output
                    .unprocessed_keys
                    .unwrap_or_default()
                    .remove(&self.table)
                    .map(|k| k.keys)
                    .unwrap_or_default();
                if !pending.is_empty() {
                    if attempt >= ATTEMPTS {
                        return Err(StoreError::Unavailable(format!(
                            "{doing}: keys left unprocessed"
                        )));
                    }
                    tokio::time::sleep(backoff(attempt)).await;
                }
            }
        }
        Ok(found)
    }

    /// Puts `items` (unconditionally: callers make puts idempotent by their keys), at most
    /// `concurrency` requests at a time.
    pub(crate) async fn batch_put(
        &self,
        items: Vec<Item>,
        concurrency: usize,
        doing: &str,
    ) -> Result<WriteCost, StoreError> {
        let batches: Vec<Vec<Item>> = items.chunks(WRITE_BATCH).map(<[Item]>::to_vec).collect();
        let costs: Vec<WriteCost> = stream::iter(batches)
            .map(|batch| self.write_batch(batch, doing))
            .buffer_unordered(concurrency.max(1))
            .try_collect()
            .await?;
        let mut total = WriteCost::default();
        for cost in costs {
            total.add(cost);
        }
        Ok(total)
    }

    async fn write_batch(&self, items: Vec<Item>, doing: &str) -> Result<WriteCost, StoreError> {
        let write_units = items
            .iter()
            .map(|item| item_size(item).div_ceil(1024) as u64)
            .sum();
        let mut requests: Vec<WriteRequest> = items
            .into_iter()
            .map(|item| {
                WriteRequest::builder()
                    .put_request(
                        PutRequest::builder()
                            .set_item(Some(item))
                            .build()
                            .expect("item set"),
                    )
                    .build()
            })
            .collect();
        let mut cost = WriteCost {
            requests: 0,
            write_units,
        };
        let mut attempt = 0;
        while !requests.is_empty() {
            attempt += 1;
            cost.requests += 1;
            let output = self
                .client
                .batch_write_item()
                .request_items(&self.table, requests)
                .send()
                .await
                .map_err(|e| sdk_error(doing, e))?;
            requests = output
                .unprocessed_items
                .unwrap_or_default()
                .remove(&self.table)
                .unwrap_or_default();
            if !requests.is_empty() {
                if attempt >= ATTEMPTS {
                    return Err(StoreError::Unavailable(format!(
                        "{doing}: items left unprocessed"
                    )));
                }
                tokio::time::sleep(backoff(attempt)).await;
            }
        }
        Ok(cost)
    }
}

/// An item's size as DynamoDB bills it (names plus values), close enough for the figures.
fn item_size(item: &Item) -> usize {
    use aws_sdk_dynamodb::types::AttributeValue as V;
    item.iter()
        .map(|(name, value)| {
            name.len()
                + match value {
                    V::S(s) => s.len(),
                    V::N(n) => n.len().div_ceil(2) + 1,
                    V::Bool(_) | V::Null(_) => 1,
                    V::B(b) => b.as_ref().len(),
                    _ => 64,
                }
        })
        .sum::<usize>()
        .max(1)
}
