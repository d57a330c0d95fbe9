//! The product catalog (SKUs): which SKUs exist. The catalog workflow (bulk upload by vendor
//! admins, costs) builds on these records; deal registration only asks which SKUs are known.

use std::collections::{BTreeSet, HashMap};
use std::future::Future;

use aws_sdk_dynamodb::types::{KeysAndAttributes, PutRequest, WriteRequest};

use super::attr::{self, Item, Reader};
use super::keys::{PK, SK};
use super::{DynamoStore, StoreError, sdk_error};

pub trait Catalog {
    /// Which of `skus` are in the catalog.
    fn known_skus(
        &self,
        skus: &[String],
    ) -> impl Future<Output = Result<BTreeSet<String>, StoreError>> + Send;

    /// Adds SKUs (existing ones are left as they are, with their name updated).
    fn put_skus(
        &self,
        skus: &[(String, String)],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

fn key(sku: &str) -> Item {
    Item::from([
        (PK.into(), attr::s(format!("SKU#{sku}"))),
        (SK.into(), attr::s("SKU")),
    ])
}

impl Catalog for DynamoStore {
    async fn known_skus(&self, skus: &[String]) -> Result<BTreeSet<String>, StoreError> {
        let unique: BTreeSet<&String> = skus.iter().collect();
        let mut known = BTreeSet::new();
        let unique: Vec<&String> = unique.into_iter().collect();
        // BatchGetItem takes 100 keys; unprocessed keys are asked again.
        for chunk in unique.chunks(100) {
            let mut pending: Vec<Item> = chunk.iter().map(|sku| key(sku)).collect();
            let mut attempts = 0;
            while !pending.is_empty() {
                attempts += 1;
                let request = KeysAndAttributes::builder()
                    .set_keys(Some(pending))
                    .projection_expression("sku")
                    .consistent_read(true)
                    .build()
                    .expect("keys are set");
                let output = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .send()
                    .await
                    .map_err(|e| sdk_error("reading the catalog", e))?;
                for item in output
                    .responses
                    .unwrap_or_default()
                    .remove(&self.table)
                    .unwrap_or_default()
                {
                    known.insert(Reader::new(&item).str("sku")?.to_string());
                }
                pending = output
                    .unprocessed_keys
                    .unwrap_or_default()
                    .remove(&self.table)
                    .map(|k| k.keys)
                    .unwrap_or_default();
                if !pending.is_empty() {
                    if attempts >= 5 {
                        return Err(StoreError::Unavailable(
                            "reading the catalog: keys left unprocessed".into(),
                        ));
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(50 << attempts)).await;
                }
            }
        }
        Ok(known)
    }

    async fn put_skus(&self, skus: &[(String, String)]) -> Result<(), StoreError> {
        for chunk in skus.chunks(25) {
            let mut requests: Vec<WriteRequest> = chunk
                .iter()
                .map(|(sku, name)| {
                    let mut item = key(sku);
                    item.insert("sku".into(), attr::s(sku));
                    item.insert("name".into(), attr::s(name));
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
            let mut attempts = 0;
            while !requests.is_empty() {
                attempts += 1;
                let output = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, requests)
                    .send()
                    .await
                    .map_err(|e| sdk_error("writing the catalog", e))?;
                let mut unprocessed: HashMap<String, Vec<WriteRequest>> =
                    output.unprocessed_items.unwrap_or_default();
                requests = unprocessed.remove(&self.table).unwrap_or_default();
                if !requests.is_empty() {
                    if attempts >= 5 {
                        return Err(StoreError::Unavailable(
                            "writing the catalog: items left unprocessed".into(),
                        ));
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(50 << attempts)).await;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing;

    #[tokio::test]
    async fn answers_which_skus_are_known() {
        let store = testing::table().await;
        let skus: Vec<(String, String)> = (0..30)
            .map(|n| (format!("SKU-{n}"), format!("Product {n}")))
            .collect();
        store.put_skus(&skus).await.unwrap();
        let asked = vec![
            "SKU-1".to_string(),
            "SKU-29".into(),
            "NOPE".into(),
            "SKU-1".into(),
        ];
        let known = store.known_skus(&asked).await.unwrap();
        assert_eq!(
            known,
            BTreeSet::from(["SKU-1".to_string(), "SKU-29".to_string()])
        );
    }
}
