//! Partner records: the port and its DynamoDB adapter.

use std::future::Future;

use chrono::{DateTime, Utc};

use super::attr::{self, Item, Reader};
use super::keys::{GSI1, GSI1_PK, GSI1_SK, PK, SK};
use super::{DynamoStore, StoreError, sdk_error};
use crate::domain::{Conflict, Partner, PartnerId, PartnerStatus};

pub trait Partners {
    fn get_partner(
        &self,
        id: &PartnerId,
    ) -> impl Future<Output = Result<Option<Partner>, StoreError>> + Send;

    fn create_partner(
        &self,
        partner: &Partner,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Changes the status if the record is still at `expected_version`; returns the new record.
    fn set_partner_status(
        &self,
        id: &PartnerId,
        status: PartnerStatus,
        expected_version: u64,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Partner, StoreError>> + Send;

    /// Every partner, oldest first.
    fn list_partners(&self) -> impl Future<Output = Result<Vec<Partner>, StoreError>> + Send;
}

pub(super) fn pk(id: &PartnerId) -> String {
    format!("PARTNER#{id}")
}

pub(super) const SORT: &str = "PROFILE";
const ALL_PARTNERS: &str = "PARTNERS";

pub(super) fn to_item(partner: &Partner) -> Item {
    let mut item = Item::from([
        (PK.into(), attr::s(pk(&partner.id))),
        (SK.into(), attr::s(SORT)),
        (GSI1_PK.into(), attr::s(ALL_PARTNERS)),
        (GSI1_SK.into(), attr::s(partner.id.as_str())),
        ("id".into(), attr::s(partner.id.as_str())),
        ("name".into(), attr::s(&partner.name)),
        ("kind".into(), attr::s(partner.kind.as_str())),
        ("country".into(), attr::s(&partner.country)),
        ("status".into(), attr::s(partner.status.as_str())),
        ("created_at".into(), attr::time(partner.created_at)),
        ("updated_at".into(), attr::time(partner.updated_at)),
        ("version".into(), attr::n(partner.version)),
    ]);
    if let Some(tier) = &partner.tier {
        item.insert("tier".into(), attr::s(tier));
    }
    item
}

fn from_item(item: &Item) -> Result<Partner, StoreError> {
    let r = Reader::new(item);
    Ok(Partner {
        id: r.parse("id")?,
        name: r.str("name")?.to_string(),
        kind: r.parse("kind")?,
        country: r.str("country")?.to_string(),
        status: r.parse("status")?,
        tier: r.opt_str("tier")?.map(str::to_string),
        created_at: r.time("created_at")?,
        updated_at: r.time("updated_at")?,
        version: r.u64("version")?,
    })
}

impl Partners for DynamoStore {
    async fn get_partner(&self, id: &PartnerId) -> Result<Option<Partner>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PK, attr::s(pk(id)))
            .key(SK, attr::s(SORT))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("reading a partner", e))?;
        output.item.as_ref().map(from_item).transpose()
    }

    async fn create_partner(&self, partner: &Partner) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(partner)))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map_err(|e| sdk_error(&format!("creating partner {}", partner.id), e))?;
        Ok(())
    }

    async fn set_partner_status(
        &self,
        id: &PartnerId,
        status: PartnerStatus,
        expected_version: u64,
        now: DateTime<Utc>,
    ) -> Result<Partner, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, attr::s(pk(id)))
            .key(SK, attr::s(SORT))
            .update_expression("SET #status = :status, updated_at = :now, version = :next")
            .condition_expression("version = :expected")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":status", attr::s(status.as_str()))
            .expression_attribute_values(":now", attr::time(now))
            .expression_attribute_values(":expected", attr::n(expected_version))
            .expression_attribute_values(":next", attr::n(expected_version + 1))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(output) => from_item(&output.attributes.unwrap_or_default()),
            Err(err) if super::is_condition_failure(&err) => match self.get_partner(id).await? {
                None => Err(StoreError::NotFound(format!("partner {id}"))),
                Some(current) => Err(StoreError::Conflict(Conflict::stale_version(format!(
                    "partner {id} is at version {}, not {expected_version}",
                    current.version
                )))),
            },
            Err(err) => Err(sdk_error("updating a partner's status", err)),
        }
    }

    async fn list_partners(&self) -> Result<Vec<Partner>, StoreError> {
        let items = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(GSI1)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", GSI1_PK)
            .expression_attribute_values(":pk", attr::s(ALL_PARTNERS))
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| sdk_error("listing partners", e))?;
        items.iter().map(from_item).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ConflictKind, PartnerKind};
    use crate::testing;

    fn acme() -> Partner {
        Partner::new(
            "Acme",
            PartnerKind::Reseller,
            "US",
            PartnerStatus::Pending,
            Utc::now(),
        )
        .unwrap()
    }

    #[tokio::test]
    async fn creates_reads_and_lists_partners() {
        let store = testing::table().await;
        let first = acme();
        // Ids order by creation time at millisecond resolution.
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        let second = acme();
        store.create_partner(&first).await.unwrap();
        store.create_partner(&second).await.unwrap();
        assert_eq!(
            store.get_partner(&first.id).await.unwrap().unwrap().name,
            "Acme"
        );
        let ids: Vec<_> = store
            .list_partners()
            .await
            .unwrap()
            .into_iter()
            .map(|p| p.id)
            .collect();
        assert_eq!(ids, [first.id.clone(), second.id]);
        assert!(matches!(
            store.create_partner(&first).await,
            Err(StoreError::Conflict(c)) if c.kind == ConflictKind::AlreadyExists
        ));
    }

    #[tokio::test]
    async fn status_change_is_conditional_on_version() {
        let store = testing::table().await;
        let partner = acme();
        store.create_partner(&partner).await.unwrap();
        let updated = store
            .set_partner_status(&partner.id, PartnerStatus::Active, 1, Utc::now())
            .await
            .unwrap();
        assert_eq!(
            (updated.status, updated.version),
            (PartnerStatus::Active, 2)
        );
        // A writer that read version 1 loses: its change would overwrite one it never saw.
        let stale = store
            .set_partner_status(&partner.id, PartnerStatus::Inactive, 1, Utc::now())
            .await;
        assert!(
            matches!(&stale, Err(StoreError::Conflict(c)) if c.kind == ConflictKind::StaleVersion),
            "{stale:?}"
        );
        let missing = store
            .set_partner_status(&PartnerId::generate(), PartnerStatus::Active, 1, Utc::now())
            .await;
        assert!(matches!(missing, Err(StoreError::NotFound(_))));
    }
}
