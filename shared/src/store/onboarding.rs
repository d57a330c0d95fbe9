//! Onboarding state: invitations (by token hash), each partner's onboarding record, tier
//! history, and partners' monthly sales totals for tiers.

use std::future::Future;

use aws_sdk_dynamodb::types::{Put, TransactWriteItem, Update};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use super::attr::{self, Item, Reader};
use super::keys::{PK, SK};
use super::{DynamoStore, StoreError, failed_conditions, sdk_error};
use crate::domain::Conflict;
use crate::domain::onboarding::{Invitation, Onboarding, TierChange, TokenRefusal};
use crate::domain::{ApiKeyRecord, Currency, Money, Partner, PartnerId};

/// Why an application was not stored.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error(transparent)]
    Token(#[from] TokenRefusal),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub trait OnboardingStore {
    fn create_invitation(
        &self,
        invitation: &Invitation,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn invitation(
        &self,
        token_hash: &str,
    ) -> impl Future<Output = Result<Option<Invitation>, StoreError>> + Send;

    /// Uses the invitation and stores the partner (pending), its onboarding record and its
    /// onboarding key, all in one transaction: an unknown, expired or used token writes nothing.
    fn apply(
        &self,
        token_hash: &str,
        partner: &Partner,
        onboarding: &Onboarding,
        key: &ApiKeyRecord,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), ApplyError>> + Send;

    fn onboarding(
        &self,
        partner: &PartnerId,
    ) -> impl Future<Output = Result<Option<Onboarding>, StoreError>> + Send;

    /// Writes the record conditional on its version being `onboarding.version` (then bumps
    /// it); with `partner`, the partner record too, conditional on its version, in the same
    /// transaction (activation, deactivation, a tier change with `tier_change` recorded).
    fn save_onboarding(
        &self,
        onboarding: &Onboarding,
        partner: Option<&Partner>,
        tier_change: Option<&TierChange>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Hands out a partner's API key, all in one transaction: the new key (conditional on
    /// absence), the record marked (conditional on its version), the onboarding key revoked,
    /// and the partner still active at the version read. `Conflict` when any of it moved.
    fn hand_out_key(
        &self,
        onboarding: &Onboarding,
        key: &ApiKeyRecord,
        partner: &Partner,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn tier_history(
        &self,
        partner: &PartnerId,
    ) -> impl Future<Output = Result<Vec<TierChange>, StoreError>> + Send;

    /// Adds a sales message's net revenue per partner, month and currency, once.
    fn add_partner_sales(
        &self,
        message_id: &str,
        sales: &[(PartnerId, String, Money)],
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// A partner's net sales in `currency` over the months `from` to `to` (`YYYY-MM`).
    fn partner_sales(
        &self,
        partner: &PartnerId,
        currency: Currency,
        from: &str,
        to: &str,
    ) -> impl Future<Output = Result<Decimal, StoreError>> + Send;
}

fn key_item(pk: String, sk: &str) -> Item {
    Item::from([(PK.to_string(), attr::s(pk)), (SK.to_string(), attr::s(sk))])
}

fn invitation_key(hash: &str) -> Item {
    key_item(format!("INVITE#{hash}"), "INVITE")
}

fn onboarding_key(partner: &PartnerId) -> Item {
    key_item(format!("ONBOARDING#{partner}"), "STATE")
}

fn build_error(e: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::Backend(e.to_string())
}

fn onboarding_item(onboarding: &Onboarding) -> Result<Item, StoreError> {
    let mut next = onboarding.clone();
    next.version += 1;
    let mut item = onboarding_key(&onboarding.partner_id);
    let doc = serde_json::to_string(&next)
        .map_err(|e| StoreError::Backend(format!("onboarding does not serialise: {e}")))?;
    item.insert("doc".into(), attr::s(doc));
    item.insert("version".into(), attr::n(next.version));
    Ok(item)
}

fn put_versioned(table: &str, item: Item, version: u64) -> Result<Put, StoreError> {
    let builder = Put::builder().table_name(table).set_item(Some(item));
    let builder = if version == 0 {
        builder.condition_expression("attribute_not_exists(pk)")
    } else {
        builder
            .condition_expression("version = :v")
            .expression_attribute_values(":v", attr::n(version))
    };
    builder.build().map_err(build_error)
}

impl OnboardingStore for DynamoStore {
    async fn create_invitation(&self, invitation: &Invitation) -> Result<(), StoreError> {
        let mut item = invitation_key(&invitation.token_hash);
        let doc = serde_json::to_string(invitation)
            .map_err(|e| StoreError::Backend(format!("invitation does not serialise: {e}")))?;
        item.insert("doc".into(), attr::s(doc));
        item.insert(
            "expires_epoch".into(),
            attr::n(invitation.expires_at.timestamp()),
        );
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map_err(|e| sdk_error("create an invitation", e))?;
        Ok(())
    }

    async fn invitation(&self, token_hash: &str) -> Result<Option<Invitation>, StoreError> {
        self.get_doc(invitation_key(token_hash), "read an invitation")
            .await
    }

    async fn apply(
        &self,
        token_hash: &str,
        partner: &Partner,
        onboarding: &Onboarding,
        key: &ApiKeyRecord,
        now: DateTime<Utc>,
    ) -> Result<(), ApplyError> {
        let use_invitation = Update::builder()
            .table_name(&self.table)
            .set_key(Some(invitation_key(token_hash)))
            .update_expression("SET used_by = :partner, used_at = :now")
            .condition_expression(
                "attribute_exists(pk) AND attribute_not_exists(used_by) AND expires_epoch > :epoch",
            )
            .expression_attribute_values(":partner", attr::s(partner.id.as_str()))
            .expression_attribute_values(":now", attr::time(now))
            .expression_attribute_values(":epoch", attr::n(now.timestamp()))
            .build()
            .map_err(build_error)?;
        let partner_put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(super::partners::to_item(partner)))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(build_error)?;
        let key_put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(super::api_keys::to_item(key)))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(build_error)?;
        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().update(use_invitation).build())
            .transact_items(TransactWriteItem::builder().put(partner_put).build())
            .transact_items(
                TransactWriteItem::builder()
                    .put(put_versioned(&self.table, onboarding_item(onboarding)?, 0)?)
                    .build(),
            )
            .transact_items(TransactWriteItem::builder().put(key_put).build())
            .send()
            .await;
        let err = match result {
            Ok(_) => return Ok(()),
            Err(err) => err,
        };
        if super::is_transaction_conflict(&err) {
            return Err(StoreError::Conflict(Conflict::lock_held(
                "the invitation is being used by another application",
            ))
            .into());
        }
        if failed_conditions(&err).first() != Some(&0) {
            return Err(sdk_error("store an application", err).into());
        }
        let stored = self
            .get(invitation_key(token_hash), "read an invitation")
            .await?;
        let refusal = match stored {
            None => TokenRefusal::Unknown,
            Some(item) if item.contains_key("used_by") => TokenRefusal::Used,
            Some(_) => TokenRefusal::Expired,
        };
        Err(refusal.into())
    }

    async fn onboarding(&self, partner: &PartnerId) -> Result<Option<Onboarding>, StoreError> {
        self.get_doc(onboarding_key(partner), "read an onboarding record")
            .await
    }

    async fn save_onboarding(
        &self,
        onboarding: &Onboarding,
        partner: Option<&Partner>,
        tier_change: Option<&TierChange>,
    ) -> Result<(), StoreError> {
        let onboarding_put = put_versioned(
            &self.table,
            onboarding_item(onboarding)?,
            onboarding.version,
        )?;
        let mut request = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(onboarding_put).build());
        if let Some(partner) = partner {
            // The partner as given, its version bumped, conditional on the version read.
            let mut next = partner.clone();
            next.version += 1;
            let partner_put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(super::partners::to_item(&next)))
                .condition_expression("version = :pv")
                .expression_attribute_values(":pv", attr::n(partner.version))
                .build()
                .map_err(build_error)?;
            request = request.transact_items(TransactWriteItem::builder().put(partner_put).build());
        }
        if let Some(change) = tier_change {
            let mut item = key_item(
                format!("TIERHIST#{}", change.partner_id),
                &attr::time_text(change.at),
            );
            let doc = serde_json::to_string(change)
                .map_err(|e| StoreError::Backend(format!("tier change does not serialise: {e}")))?;
            item.insert("doc".into(), attr::s(doc));
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .build()
                .map_err(build_error)?;
            request = request.transact_items(TransactWriteItem::builder().put(put).build());
        }
        match request.send().await {
            Ok(_) => Ok(()),
            Err(err) if super::is_transaction_condition_failure(&err) => {
                Err(StoreError::Conflict(Conflict::stale_version(format!(
                    "the onboarding of partner {} changed meanwhile",
                    onboarding.partner_id
                ))))
            }
            Err(err) => Err(sdk_error("save an onboarding record", err)),
        }
    }

    async fn hand_out_key(
        &self,
        onboarding: &Onboarding,
        key: &ApiKeyRecord,
        partner: &Partner,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let key_put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(super::api_keys::to_item(key)))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(build_error)?;
        let partner_check = aws_sdk_dynamodb::types::ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(key_item(
                super::partners::pk(&partner.id),
                super::partners::SORT,
            )))
            .condition_expression("version = :pv AND #status = :active")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":pv", attr::n(partner.version))
            .expression_attribute_values(":active", attr::s("active"))
            .build()
            .map_err(build_error)?;
        let mut request = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(key_put).build())
            .transact_items(
                TransactWriteItem::builder()
                    .put(put_versioned(
                        &self.table,
                        onboarding_item(onboarding)?,
                        onboarding.version,
                    )?)
                    .build(),
            )
            .transact_items(
                TransactWriteItem::builder()
                    .condition_check(partner_check)
                    .build(),
            );
        if let Some(old) = &onboarding.onboarding_key_id {
            let revoke = Update::builder()
                .table_name(&self.table)
                .set_key(Some(key_item(format!("APIKEY#{old}"), "APIKEY")))
                .update_expression("SET #status = :revoked, revoked_at = :now")
                .condition_expression("attribute_exists(pk)")
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":revoked", attr::s("revoked"))
                .expression_attribute_values(":now", attr::time(now))
                .build()
                .map_err(build_error)?;
            request = request.transact_items(TransactWriteItem::builder().update(revoke).build());
        }
        match request.send().await {
            Ok(_) => Ok(()),
            Err(err)
                if super::is_transaction_condition_failure(&err)
                    || super::is_transaction_conflict(&err) =>
            {
                Err(StoreError::Conflict(Conflict::stale_version(format!(
                    "partner {} changed while its key was handed out",
                    partner.id
                ))))
            }
            Err(err) => Err(sdk_error("hand out an API key", err)),
        }
    }

    async fn tier_history(&self, partner: &PartnerId) -> Result<Vec<TierChange>, StoreError> {
        self.partition(&format!("TIERHIST#{partner}"), None, "read tier history")
            .await?
            .iter()
            .map(|item| Reader::new(item).json("doc"))
            .collect()
    }

    async fn add_partner_sales(
        &self,
        message_id: &str,
        sales: &[(PartnerId, String, Money)],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let totals = sales.iter().map(|(partner, month, money)| {
            (
                (
                    format!("PARTNERSALES#{partner}"),
                    format!("MONTH#{month}#{}", money.currency),
                ),
                money.amount,
            )
        });
        self.add_totals_once("SALES", message_id, "amount", totals, now)
            .await
    }

    async fn partner_sales(
        &self,
        partner: &PartnerId,
        currency: Currency,
        from: &str,
        to: &str,
    ) -> Result<Decimal, StoreError> {
        let items = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND sk BETWEEN :from AND :to")
            .expression_attribute_values(":pk", attr::s(format!("PARTNERSALES#{partner}")))
            .expression_attribute_values(":from", attr::s(format!("MONTH#{from}")))
            .expression_attribute_values(":to", attr::s(format!("MONTH#{to}#\u{10ffff}")))
            .consistent_read(true)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| sdk_error("read partner sales", e))?;
        let mut total = Decimal::ZERO;
        for item in &items {
            let r = Reader::new(item);
            if r.str(SK)?.ends_with(&format!("#{currency}")) {
                total += r.decimal("amount")?;
            }
        }
        Ok(total)
    }
}
