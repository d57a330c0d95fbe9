//! The product catalog (SKUs): which SKUs exist. The catalog workflow (bulk upload by vendor
//! admins, costs) builds on these records; deal registration only asks which SKUs are known.

use std::collections::BTreeSet;
use std::future::Future;

use super::attr::{self, Item, Reader};
use super::keys::{PK, SK};
use super::{DynamoStore, StoreError};

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
        let keys = unique.into_iter().map(|sku| key(sku)).collect();
        let items = self
            .batch_get(keys, Some("sku"), "reading the catalog")
            .await?;
        items
            .iter()
            .map(|item| Ok(Reader::new(item).str("sku")?.to_string()))
            .collect()
    }

    async fn put_skus(&self, skus: &[(String, String)]) -> Result<(), StoreError> {
        let items = skus
            .iter()
            .map(|(sku, name)| {
                let mut item = key(sku);
                item.insert("sku".into(), attr::s(sku));
                item.insert("name".into(), attr::s(name));
                item
            })
            .collect();
        self.batch_put(items, 4, "writing the catalog").await?;
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
