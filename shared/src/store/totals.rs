//! Running totals that a message adds to exactly once: the totals are written in transactions
//! of at most 99 `ADD`s, each with a marker for (message, part) conditional on its absence, so
//! a redelivered message adds nothing. Parts are deterministic: the same message always splits
//! the same way.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::{Put, TransactWriteItem, Update};
use chrono::{DateTime, Days, Utc};
use rust_decimal::Decimal;

use super::attr::{self, Item};
use super::keys::{EXPIRES_AT, PK, SK};
use super::{DynamoStore, StoreError, failed_conditions, is_transaction_conflict, sdk_error};

/// Items per transaction besides its marker (DynamoDB allows 100).
const ITEMS_PER_TRANSACTION: usize = 99;
/// Tries of one part while other transactions on its items cancel it.
const CONFLICT_ATTEMPTS: u32 = 10;

/// Markers outlive any redelivery: SQS keeps a message 14 days at most.
const MARKER_DAYS: u64 = 15;

fn key_item(pk: String, sk: String) -> Item {
    Item::from([(PK.to_string(), attr::s(pk)), (SK.to_string(), attr::s(sk))])
}

impl DynamoStore {
    /// Adds `totals` (summed per item first, as no transaction may name an item twice) to the
    /// attribute `attribute` of their items, once per `message_id`; markers are
    /// `<scope>APPLIED#<message id>` / `PART#<n>`.
    pub(crate) async fn add_totals_once(
        &self,
        scope: &str,
        message_id: &str,
        attribute: &str,
        totals: impl IntoIterator<Item = ((String, String), Decimal)>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let build = |e: aws_sdk_dynamodb::error::BuildError| StoreError::Backend(e.to_string());
        let mut summed: BTreeMap<(String, String), Decimal> = BTreeMap::new();
        for (key, amount) in totals {
            *summed.entry(key).or_default() += amount;
        }
        let summed: Vec<_> = summed.into_iter().collect();
        let expires = now + Days::new(MARKER_DAYS);
        for (part, chunk) in summed.chunks(ITEMS_PER_TRANSACTION).enumerate() {
            let mut marker = key_item(
                format!("{scope}APPLIED#{message_id}"),
                format!("PART#{part:04}"),
            );
            marker.insert(EXPIRES_AT.into(), attr::n(expires.timestamp()));
            let mut request = self.client.transact_write_items().transact_items(
                TransactWriteItem::builder()
                    .put(
                        Put::builder()
                            .table_name(&self.table)
                            .set_item(Some(marker))
                            .condition_expression("attribute_not_exists(pk)")
                            .build()
                            .map_err(build)?,
                    )
                    .build(),
            );
            for ((pk, sk), amount) in chunk {
                request = request.transact_items(
                    TransactWriteItem::builder()
                        .update(
                            Update::builder()
                                .table_name(&self.table)
                                .set_key(Some(key_item(pk.clone(), sk.clone())))
                                .update_expression("ADD #total :amount")
                                .expression_attribute_names("#total", attribute)
                                .expression_attribute_values(":amount", attr::n(amount))
                                .build()
                                .map_err(build)?,
                        )
                        .build(),
                );
            }
            // Consumers adding to the same items at once cancel each other's transactions:
            // the marker makes a retry safe.
            let mut attempt = 0;
            loop {
                attempt += 1;
                match request.clone().send().await {
                    Ok(_) => break,
                    // The marker exists: this part was added by an earlier delivery.
                    Err(err) if failed_conditions(&err) == [0] => break,
                    Err(err) if is_transaction_conflict(&err) && attempt < CONFLICT_ATTEMPTS => {
                        tokio::time::sleep(crate::backoff::jittered(10, attempt)).await;
                    }
                    Err(err) => return Err(sdk_error(&format!("add {scope} totals"), err)),
                }
            }
        }
        Ok(())
    }
}
