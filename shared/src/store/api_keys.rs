//! API key records: the port the authorizer and the admin tool use, and its DynamoDB adapter.

use std::future::Future;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};

use super::attr::{self, Item, Reader};
use super::keys::{GSI1, GSI1_PK, GSI1_SK, PK, SK};
use super::{DynamoStore, StoreError, sdk_error};
use crate::domain::{ApiKeyRecord, Conflict, KeyId, KeyStatus};

pub trait ApiKeys {
    fn get_key(
        &self,
        key_id: &KeyId,
    ) -> impl Future<Output = Result<Option<ApiKeyRecord>, StoreError>> + Send;

    /// Stores a new key; a key id that already exists is a conflict, never an overwrite.
    fn put_new_key(
        &self,
        record: &ApiKeyRecord,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Revokes an active key and returns the revoked record. Revoking twice is a conflict.
    fn revoke_key(
        &self,
        key_id: &KeyId,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<ApiKeyRecord, StoreError>> + Send;

    fn list_keys(
        &self,
        principal_id: &str,
    ) -> impl Future<Output = Result<Vec<ApiKeyRecord>, StoreError>> + Send;
}

fn pk(key_id: &KeyId) -> String {
    format!("APIKEY#{key_id}")
}

const SORT: &str = "APIKEY";

pub(super) fn to_item(record: &ApiKeyRecord) -> Item {
    let mut item = Item::from([
        (PK.into(), attr::s(pk(&record.key_id))),
        (SK.into(), attr::s(SORT)),
        (
            GSI1_PK.into(),
            attr::s(format!("PRINCIPAL#{}", record.principal_id)),
        ),
        (GSI1_SK.into(), attr::s(format!("APIKEY#{}", record.key_id))),
        ("key_id".into(), attr::s(record.key_id.as_str())),
        ("secret_hash".into(), attr::s(&record.secret_hash)),
        ("principal_id".into(), attr::s(&record.principal_id)),
        ("role".into(), attr::s(record.role.as_str())),
        ("status".into(), attr::s(record.status.as_str())),
        ("created_at".into(), attr::time(record.created_at)),
    ]);
    if let Some(label) = &record.label {
        item.insert("label".into(), attr::s(label));
    }
    if let Some(revoked_at) = record.revoked_at {
        item.insert("revoked_at".into(), attr::time(revoked_at));
    }
    item
}

fn from_item(item: &Item) -> Result<ApiKeyRecord, StoreError> {
    let r = Reader::new(item);
    Ok(ApiKeyRecord {
        key_id: r.parse("key_id")?,
        secret_hash: r.str("secret_hash")?.to_string(),
        principal_id: r.str("principal_id")?.to_string(),
        role: r.parse("role")?,
        status: r.parse("status")?,
        label: r.opt_str("label")?.map(str::to_string),
        created_at: r.time("created_at")?,
        revoked_at: r.opt_time("revoked_at")?,
    })
}

impl ApiKeys for DynamoStore {
    async fn get_key(&self, key_id: &KeyId) -> Result<Option<ApiKeyRecord>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PK, attr::s(pk(key_id)))
            .key(SK, attr::s(SORT))
            // A revocation must take effect on the very next request.
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("reading an API key", e))?;
        output.item.as_ref().map(from_item).transpose()
    }

    async fn put_new_key(&self, record: &ApiKeyRecord) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(record)))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map_err(|e| sdk_error("storing a new API key", e))?;
        Ok(())
    }

    async fn revoke_key(
        &self,
        key_id: &KeyId,
        now: DateTime<Utc>,
    ) -> Result<ApiKeyRecord, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, attr::s(pk(key_id)))
            .key(SK, attr::s(SORT))
            .update_expression("SET #status = :revoked, revoked_at = :now")
            .condition_expression("attribute_exists(pk) AND #status = :active")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":revoked", attr::s(KeyStatus::Revoked.as_str()))
            .expression_attribute_values(":active", attr::s(KeyStatus::Active.as_str()))
            .expression_attribute_values(":now", attr::time(now))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(output) => from_item(&output.attributes.unwrap_or_default()),
            Err(err) if super::is_condition_failure(&err) => match self.get_key(key_id).await? {
                None => Err(StoreError::NotFound(format!("API key {key_id}"))),
                Some(_) => Err(StoreError::Conflict(Conflict::already_done(format!(
                    "API key {key_id} is already revoked"
                )))),
            },
            Err(err) => Err(sdk_error("revoking an API key", err)),
        }
    }

    async fn list_keys(&self, principal_id: &str) -> Result<Vec<ApiKeyRecord>, StoreError> {
        let items = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(GSI1)
            .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
            .expression_attribute_names("#pk", GSI1_PK)
            .expression_attribute_names("#sk", GSI1_SK)
            .expression_attribute_values(
                ":pk",
                AttributeValue::S(format!("PRINCIPAL#{principal_id}")),
            )
            .expression_attribute_values(":prefix", attr::s("APIKEY#"))
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| sdk_error("listing API keys", e))?;
        items.iter().map(from_item).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ApiKey, ConflictKind, Role};
    use crate::testing;

    async fn store() -> DynamoStore {
        testing::table().await
    }

    fn new_record(principal: &str) -> (ApiKey, ApiKeyRecord) {
        let key = ApiKey::generate();
        let record = ApiKeyRecord::issue(
            &key,
            principal.into(),
            Role::ChannelManager,
            Some("ops".into()),
            Utc::now(),
        );
        (key, record)
    }

    #[tokio::test]
    async fn stores_reads_and_lists_keys() {
        let store = store().await;
        let (_, first) = new_record("alice");
        let (_, second) = new_record("alice");
        let (_, other) = new_record("bob");
        for record in [&first, &second, &other] {
            store.put_new_key(record).await.unwrap();
        }
        let read = store.get_key(&first.key_id).await.unwrap().unwrap();
        assert_eq!(read.secret_hash, first.secret_hash);
        assert_eq!(read.label.as_deref(), Some("ops"));
        let mut listed: Vec<_> = store
            .list_keys("alice")
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.key_id)
            .collect();
        listed.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        let mut expected = vec![first.key_id.clone(), second.key_id.clone()];
        expected.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        assert_eq!(listed, expected);
    }

    #[tokio::test]
    async fn never_overwrites_an_existing_key_id() {
        let store = store().await;
        let (_, record) = new_record("alice");
        store.put_new_key(&record).await.unwrap();
        let mut clash = record.clone();
        clash.principal_id = "mallory".into();
        assert!(matches!(
            store.put_new_key(&clash).await,
            Err(StoreError::Conflict(c)) if c.kind == ConflictKind::AlreadyExists
        ));
        let kept = store.get_key(&record.key_id).await.unwrap().unwrap();
        assert_eq!(kept.principal_id, "alice");
    }

    #[tokio::test]
    async fn revokes_once_and_reports_unknown_keys() {
        let store = store().await;
        let (key, record) = new_record("alice");
        store.put_new_key(&record).await.unwrap();
        let revoked = store.revoke_key(&record.key_id, Utc::now()).await.unwrap();
        assert_eq!(revoked.status, KeyStatus::Revoked);
        assert!(revoked.revoked_at.is_some());
        let again = store.revoke_key(&record.key_id, Utc::now()).await;
        assert!(
            matches!(&again, Err(StoreError::Conflict(c)) if c.kind == ConflictKind::AlreadyDone),
            "{again:?}"
        );
        let stored = store.get_key(key.key_id()).await.unwrap().unwrap();
        assert_eq!(
            stored.authenticate(&key),
            Err(crate::domain::Denied::Revoked)
        );
        let unknown = ApiKey::generate();
        assert!(matches!(
            store.revoke_key(unknown.key_id(), Utc::now()).await,
            Err(StoreError::NotFound(_))
        ));
    }
}
