//! The product catalog (SKUs): which SKUs exist, their names and, from the vendor's catalog
//! webhook, their costs. Deal registration and inventory only ask which SKUs are known.

use std::collections::BTreeSet;
use std::future::Future;

use chrono::{DateTime, Utc};

use super::attr::{self, Item, Reader};
use super::keys::{PK, SK};
use super::{DynamoStore, StoreError, is_condition_failure, sdk_error};
use crate::domain::catalog::CatalogEntry;

pub trait Catalog {
    /// Which of `skus` are in the catalog.
    fn known_skus(
        &self,
        skus: &[String],
    ) -> impl Future<Output = Result<BTreeSet<String>, StoreError>> + Send;

    /// Writes SKUs with their names, replacing what was stored (seeding demo and test data).
    fn put_skus(
        &self,
        skus: &[(String, String)],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Writes entries as the source held them at `as_of`: an entry written from a later
    /// `as_of` is left as it is (events can arrive out of order), and an entry without a cost
    /// keeps the stored one. Returns how many were written.
    fn put_entries_as_of(
        &self,
        entries: &[CatalogEntry],
        as_of: DateTime<Utc>,
    ) -> impl Future<Output = Result<usize, StoreError>> + Send;
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

    async fn put_entries_as_of(
        &self,
        entries: &[CatalogEntry],
        as_of: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let mut count = 0;
        // Eight at a time: one conditional put per entry (a batch write cannot be conditional).
        for chunk in entries.chunks(8) {
            let writes = chunk.iter().map(|entry| put_entry(self, entry, as_of));
            for written in futures_util::future::join_all(writes).await {
                count += usize::from(written?);
            }
        }
        Ok(count)
    }
}

/// One entry, unless a later state of it is stored: `Ok(false)` then. An entry without a cost
/// leaves the stored cost as it is.
async fn put_entry(
    store: &DynamoStore,
    entry: &CatalogEntry,
    as_of: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let mut update = store
        .client()
        .update_item()
        .table_name(store.table())
        .set_key(Some(key(entry.sku.trim())))
        .expression_attribute_names("#name", "name")
        .expression_attribute_values(":sku", attr::s(entry.sku.trim()))
        .expression_attribute_values(":name", attr::s(entry.name.trim()))
        .expression_attribute_values(":as_of", attr::time(as_of))
        .condition_expression("attribute_not_exists(as_of) OR as_of <= :as_of");
    let mut set = String::from("SET sku = :sku, #name = :name, as_of = :as_of");
    if let Some(cost) = entry.cost {
        set.push_str(", cost = :cost, cost_currency = :currency");
        update = update
            .expression_attribute_values(":cost", attr::s(cost.amount.to_string()))
            .expression_attribute_values(":currency", attr::s(cost.currency.code()));
    }
    match update.update_expression(set).send().await {
        Ok(_) => Ok(true),
        Err(err) if is_condition_failure(&err) => Ok(false),
        Err(err) => Err(sdk_error("writing a catalog entry", err)),
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

    #[tokio::test]
    async fn a_later_catalog_state_is_never_overwritten_by_an_earlier_one() {
        let store = testing::table().await;
        let entry = |name: &str, cost: &str| CatalogEntry {
            sku: "NW-9".into(),
            name: name.into(),
            cost: Some(crate::domain::Money::parse(cost, "USD").unwrap()),
        };
        let t = |h: u32| {
            chrono::NaiveDate::from_ymd_opt(2026, 12, 1)
                .unwrap()
                .and_hms_opt(h, 0, 0)
                .unwrap()
                .and_utc()
        };
        assert_eq!(
            store
                .put_entries_as_of(&[entry("Switch v2", "90.00")], t(12))
                .await
                .unwrap(),
            1
        );
        // Older news arriving late changes nothing; the same state again is harmless.
        assert_eq!(
            store
                .put_entries_as_of(&[entry("Switch", "100.00")], t(9))
                .await
                .unwrap(),
            0
        );
        assert_eq!(
            store
                .put_entries_as_of(&[entry("Switch v2", "90.00")], t(12))
                .await
                .unwrap(),
            1
        );
        let item = store.get(key("NW-9"), "test").await.unwrap().unwrap();
        let reader = Reader::new(&item);
        assert_eq!(reader.str("name").unwrap(), "Switch v2");
        assert_eq!(reader.str("cost").unwrap(), "90.00");
        // A later state without a cost renames and keeps the cost.
        let renamed = CatalogEntry {
            cost: None,
            ..entry("Switch v3", "0")
        };
        assert_eq!(store.put_entries_as_of(&[renamed], t(13)).await.unwrap(), 1);
        let item = store.get(key("NW-9"), "test").await.unwrap().unwrap();
        let reader = Reader::new(&item);
        assert_eq!(reader.str("name").unwrap(), "Switch v3");
        assert_eq!(reader.str("cost").unwrap(), "90.00");
        assert!(
            store
                .known_skus(&["NW-9".to_string()])
                .await
                .unwrap()
                .contains("NW-9")
        );
    }
}
