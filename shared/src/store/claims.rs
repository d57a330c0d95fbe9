//! Funds, MDF requests, claims and their audit trail. A fund's balance figures are plain
//! numbers on its item, so that a reservation can be one update conditional on `available`
//! covering it, and accrual can credit a co-op fund with `ADD`.

use std::future::Future;

use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem, Update};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use super::attr::{self, Item, Reader};
use super::keys::{GSI1, GSI1_PK, GSI1_SK, GSI2, GSI2_PK, GSI2_SK, PK, SK};
use super::{DynamoStore, StoreError, failed_conditions, is_condition_failure, sdk_error};
use crate::domain::Conflict;
use crate::domain::claim::ship_debit::{Authorization, ShipDebitClaim};
use crate::domain::claim::{AuditEntry, Claim, ClaimStatus, Fund, FundKind, MdfRequest};
use crate::domain::pos::LineKey;
use crate::domain::{AuthorizationId, ClaimId, FundId, MdfRequestId, PartnerId};

/// Claims listed per request.
const LIST_LIMIT: i32 = 100;

/// What a claim's transition does to its fund.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FundMove {
    /// Hold the amount: only if the fund's available balance covers it.
    Reserve(Decimal),
    /// Give a held amount back.
    Release(Decimal),
    /// Turn a held amount into a paid one.
    Pay(Decimal),
}

/// What a transition does to the claim's duplicate key (held while the claim holds money).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DuplicateMove {
    /// Claim the key: only if no other claim holds it.
    Hold(String),
    Release(String),
}

/// What a transition does to the MDF request backing the claim: one request backs one claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PreApprovalMove {
    /// Only if no other claim uses the request.
    Hold(MdfRequestId),
    Release(MdfRequestId),
}

/// A claim's new state, written all or nothing with its audit line and effects.
#[derive(Debug, Clone)]
pub struct ClaimTransition<'a> {
    /// The new state; its `version` is the stored one plus one.
    pub claim: &'a Claim,
    pub audit: &'a AuditEntry,
    pub fund: Option<FundMove>,
    pub duplicate: Option<DuplicateMove>,
    pub pre_approval: Option<PreApprovalMove>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransitionOutcome {
    Done,
    /// The claim is no longer at the version read: nothing was written.
    ClaimChanged,
    InsufficientFunds,
    Duplicate,
    /// The MDF request backs another claim already.
    PreApprovalUsed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShipDebitOutcome {
    Recorded,
    /// The authorisation has fewer units left than the claim.
    ExceedsAuthorization,
    /// One of the claim's POS lines was claimed before.
    LineClaimed,
}

pub trait Claims {
    fn create_fund(&self, fund: &Fund) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn get_fund(
        &self,
        id: &FundId,
    ) -> impl Future<Output = Result<Option<Fund>, StoreError>> + Send;

    fn list_funds(
        &self,
        partner: &PartnerId,
    ) -> impl Future<Output = Result<Vec<Fund>, StoreError>> + Send;

    fn create_mdf_request(
        &self,
        request: &MdfRequest,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn get_mdf_request(
        &self,
        id: &MdfRequestId,
    ) -> impl Future<Output = Result<Option<MdfRequest>, StoreError>> + Send;

    /// Writes `request` if the stored one is still at `request.version - 1`.
    fn save_mdf_request(
        &self,
        request: &MdfRequest,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn list_mdf_requests(
        &self,
        partner: &PartnerId,
    ) -> impl Future<Output = Result<Vec<MdfRequest>, StoreError>> + Send;

    fn create_claim(
        &self,
        claim: &Claim,
        audit: &AuditEntry,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn get_claim(
        &self,
        id: &ClaimId,
    ) -> impl Future<Output = Result<Option<Claim>, StoreError>> + Send;

    /// The 100 newest claims of a partner, or in a status (vendor staff's queue).
    fn list_claims(
        &self,
        partner: Option<&PartnerId>,
        status: Option<ClaimStatus>,
    ) -> impl Future<Output = Result<Vec<Claim>, StoreError>> + Send;

    /// Every claim in `status` last changed before `until`, oldest first (gsi2 range query:
    /// the sweep's claims left `submitted`).
    fn claims_in_status_before(
        &self,
        status: ClaimStatus,
        until: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<Claim>, StoreError>> + Send;

    fn transition_claim(
        &self,
        transition: ClaimTransition<'_>,
    ) -> impl Future<Output = Result<TransitionOutcome, StoreError>> + Send;

    /// The claim's audit trail, oldest first.
    fn claim_audit(
        &self,
        id: &ClaimId,
    ) -> impl Future<Output = Result<Vec<AuditEntry>, StoreError>> + Send;

    fn create_authorization(
        &self,
        authorization: &Authorization,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The authorisation and the units it has left.
    fn get_authorization(
        &self,
        id: &AuthorizationId,
    ) -> impl Future<Output = Result<Option<(Authorization, i64)>, StoreError>> + Send;

    fn list_authorizations(
        &self,
        distributor: &PartnerId,
    ) -> impl Future<Output = Result<Vec<(Authorization, i64)>, StoreError>> + Send;

    /// Stores an accepted claim, takes its units from the authorisation (only if that many are
    /// left) and marks each of its POS lines claimed (only if none was): all or nothing.
    fn record_ship_debit(
        &self,
        claim: &ShipDebitClaim,
        lines: &[LineKey],
    ) -> impl Future<Output = Result<ShipDebitOutcome, StoreError>> + Send;

    fn list_ship_debit_claims(
        &self,
        distributor: &PartnerId,
    ) -> impl Future<Output = Result<Vec<ShipDebitClaim>, StoreError>> + Send;
}

fn authorization_key(id: &AuthorizationId) -> Item {
    key(format!("SDAUTH#{id}"), "AUTH")
}

fn read_authorization(item: &Item) -> Result<(Authorization, i64), StoreError> {
    let r = Reader::new(item);
    let remaining = r.decimal("remaining_quantity")?;
    let remaining =
        i64::try_from(remaining.trunc().mantissa()).map_err(|_| StoreError::Corrupt {
            key: r.str(PK).unwrap_or_default().to_string(),
            reason: "remaining_quantity out of range".into(),
        })?;
    Ok((r.json("doc")?, remaining))
}

fn key(pk: String, sk: &str) -> Item {
    [(PK.to_string(), attr::s(pk)), (SK.to_string(), attr::s(sk))].into()
}

pub(crate) fn fund_key(id: &FundId) -> Item {
    key(format!("FUND#{id}"), "FUND")
}

pub(crate) fn partner_funds_pk(partner: &PartnerId) -> String {
    format!("PARTNER_FUNDS#{partner}")
}

fn claim_key(id: &ClaimId) -> Item {
    key(format!("CLAIM#{id}"), "CLAIM")
}

fn request_key(id: &MdfRequestId) -> Item {
    key(format!("MDFREQ#{id}"), "REQUEST")
}

fn duplicate_key(hash: &str) -> Item {
    key(format!("CLAIMKEY#{hash}"), "CLAIMKEY")
}

fn fund_item(fund: &Fund) -> Item {
    let mut item = fund_key(&fund.id);
    item.extend([
        ("partner_id".to_string(), attr::s(fund.partner_id.as_str())),
        (
            "kind".to_string(),
            attr::s(match fund.kind {
                FundKind::Mdf => "mdf",
                FundKind::CoOp => "co_op",
            }),
        ),
        ("fund_name".to_string(), attr::s(&fund.name)),
        ("currency".to_string(), attr::s(fund.currency.code())),
        ("starts_on".to_string(), attr::s(fund.starts_on.to_string())),
        ("ends_on".to_string(), attr::s(fund.ends_on.to_string())),
        (
            "expires_on".to_string(),
            attr::s(fund.expires_on.to_string()),
        ),
        ("allocated".to_string(), attr::n(fund.allocated)),
        ("reserved".to_string(), attr::n(fund.reserved)),
        ("paid".to_string(), attr::n(fund.paid)),
        ("available".to_string(), attr::n(fund.available)),
        (
            GSI1_PK.to_string(),
            attr::s(partner_funds_pk(&fund.partner_id)),
        ),
        (GSI1_SK.to_string(), attr::s(fund.id.as_str())),
    ]);
    item
}

fn read_fund(item: &Item) -> Result<Fund, StoreError> {
    let r = Reader::new(item);
    let id: FundId = r.str(PK)?.trim_start_matches("FUND#").parse().map_err(
        |e: crate::domain::ids::InvalidId| StoreError::Corrupt {
            key: r.str(PK).unwrap_or_default().to_string(),
            reason: e.to_string(),
        },
    )?;
    Ok(Fund {
        id,
        partner_id: r.parse("partner_id")?,
        kind: match r.str("kind")? {
            "co_op" => FundKind::CoOp,
            _ => FundKind::Mdf,
        },
        name: r.str("fund_name")?.to_string(),
        currency: r.parse("currency")?,
        starts_on: r.parse("starts_on")?,
        ends_on: r.parse("ends_on")?,
        expires_on: r.parse("expires_on")?,
        allocated: r.decimal("allocated")?,
        reserved: r.decimal("reserved")?,
        paid: r.decimal("paid")?,
        available: r.decimal("available")?,
    })
}

fn claim_item(claim: &Claim) -> Result<Item, StoreError> {
    let mut item = claim_key(&claim.id);
    let doc = serde_json::to_string(claim)
        .map_err(|e| StoreError::Backend(format!("claim does not serialise: {e}")))?;
    item.extend([
        ("doc".to_string(), attr::s(doc)),
        ("version".to_string(), attr::n(claim.version)),
        (
            GSI1_PK.to_string(),
            attr::s(format!("PARTNER_CLAIMS#{}", claim.partner_id)),
        ),
        (GSI1_SK.to_string(), attr::s(claim.id.as_str())),
        (
            GSI2_PK.to_string(),
            attr::s(format!("CLAIM_STATUS#{}", claim.status)),
        ),
        (
            GSI2_SK.to_string(),
            attr::s(format!(
                "{}#{}",
                attr::time_text(claim.updated_at),
                claim.id
            )),
        ),
    ]);
    Ok(item)
}

fn audit_item(id: &ClaimId, version: u64, entry: &AuditEntry) -> Result<Item, StoreError> {
    let mut item = key(
        format!("CLAIM#{id}"),
        &format!("AUDIT#{}#{version:010}", attr::time_text(entry.at)),
    );
    let doc = serde_json::to_string(entry)
        .map_err(|e| StoreError::Backend(format!("audit entry does not serialise: {e}")))?;
    item.insert("doc".into(), attr::s(doc));
    Ok(item)
}

fn build<T>(result: Result<T, aws_sdk_dynamodb::error::BuildError>) -> Result<T, StoreError> {
    result.map_err(|e| StoreError::Backend(e.to_string()))
}

impl DynamoStore {
    async fn by_gsi1(&self, pk: String, doing: &str) -> Result<Vec<Item>, StoreError> {
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(GSI1)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", GSI1_PK)
            .expression_attribute_values(":pk", attr::s(pk))
            .scan_index_forward(false)
            .limit(LIST_LIMIT)
            .send()
            .await
            .map_err(|e| sdk_error(doing, e))?;
        Ok(output.items.unwrap_or_default())
    }
}

impl Claims for DynamoStore {
    async fn create_fund(&self, fund: &Fund) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(fund_item(fund)))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map_err(|e| sdk_error("create a fund", e))?;
        Ok(())
    }

    async fn get_fund(&self, id: &FundId) -> Result<Option<Fund>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(fund_key(id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("read a fund", e))?;
        output.item.as_ref().map(read_fund).transpose()
    }

    async fn list_funds(&self, partner: &PartnerId) -> Result<Vec<Fund>, StoreError> {
        self.by_gsi1(partner_funds_pk(partner), "list funds")
            .await?
            .iter()
            .map(read_fund)
            .collect()
    }

    async fn create_mdf_request(&self, request: &MdfRequest) -> Result<(), StoreError> {
        let mut item = request_key(&request.id);
        let doc = serde_json::to_string(request)
            .map_err(|e| StoreError::Backend(format!("request does not serialise: {e}")))?;
        item.extend([
            ("doc".to_string(), attr::s(doc)),
            ("version".to_string(), attr::n(request.version)),
            (
                GSI1_PK.to_string(),
                attr::s(format!("PARTNER_MDF#{}", request.partner_id)),
            ),
            (GSI1_SK.to_string(), attr::s(request.id.as_str())),
        ]);
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item));
        put = if request.version == 1 {
            put.condition_expression("attribute_not_exists(pk)")
        } else {
            put.condition_expression("version = :v")
                .expression_attribute_values(":v", attr::n(request.version - 1))
        };
        match put.send().await {
            Ok(_) => Ok(()),
            Err(err) if is_condition_failure(&err) => Err(StoreError::Conflict(
                Conflict::stale_version(format!("MDF request {} changed meanwhile", request.id)),
            )),
            Err(err) => Err(sdk_error("store an MDF request", err)),
        }
    }

    async fn get_mdf_request(&self, id: &MdfRequestId) -> Result<Option<MdfRequest>, StoreError> {
        self.get_doc(request_key(id), "read an MDF request").await
    }

    async fn save_mdf_request(&self, request: &MdfRequest) -> Result<(), StoreError> {
        self.create_mdf_request(request).await
    }

    async fn list_mdf_requests(&self, partner: &PartnerId) -> Result<Vec<MdfRequest>, StoreError> {
        self.by_gsi1(format!("PARTNER_MDF#{partner}"), "list MDF requests")
            .await?
            .iter()
            .map(|item| Reader::new(item).json("doc"))
            .collect()
    }

    async fn create_claim(&self, claim: &Claim, audit: &AuditEntry) -> Result<(), StoreError> {
        let claim_put = build(
            Put::builder()
                .table_name(&self.table)
                .set_item(Some(claim_item(claim)?))
                .condition_expression("attribute_not_exists(pk)")
                .build(),
        )?;
        let audit_put = build(
            Put::builder()
                .table_name(&self.table)
                .set_item(Some(audit_item(&claim.id, claim.version, audit)?))
                .build(),
        )?;
        self.client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(claim_put).build())
            .transact_items(TransactWriteItem::builder().put(audit_put).build())
            .send()
            .await
            .map_err(|e| sdk_error("create a claim", e))?;
        Ok(())
    }

    async fn get_claim(&self, id: &ClaimId) -> Result<Option<Claim>, StoreError> {
        self.get_doc(claim_key(id), "read a claim").await
    }

    async fn list_claims(
        &self,
        partner: Option<&PartnerId>,
        status: Option<ClaimStatus>,
    ) -> Result<Vec<Claim>, StoreError> {
        let items = match (partner, status) {
            (Some(partner), _) => {
                self.by_gsi1(format!("PARTNER_CLAIMS#{partner}"), "list claims")
                    .await?
            }
            (None, Some(status)) => self
                .client
                .query()
                .table_name(&self.table)
                .index_name(GSI2)
                .key_condition_expression("#pk = :pk")
                .expression_attribute_names("#pk", GSI2_PK)
                .expression_attribute_values(":pk", attr::s(format!("CLAIM_STATUS#{status}")))
                .scan_index_forward(false)
                .limit(LIST_LIMIT)
                .send()
                .await
                .map_err(|e| sdk_error("list claims by status", e))?
                .items
                .unwrap_or_default(),
            (None, None) => return Ok(Vec::new()),
        };
        let claims: Vec<Claim> = items
            .iter()
            .map(|item| Reader::new(item).json("doc"))
            .collect::<Result<_, _>>()?;
        Ok(claims
            .into_iter()
            .filter(|c| status.is_none_or(|s| c.status == s))
            .collect())
    }

    async fn claims_in_status_before(
        &self,
        status: ClaimStatus,
        until: DateTime<Utc>,
    ) -> Result<Vec<Claim>, StoreError> {
        let items = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(GSI2)
            .key_condition_expression("#pk = :pk AND #sk < :until")
            .expression_attribute_names("#pk", GSI2_PK)
            .expression_attribute_names("#sk", GSI2_SK)
            .expression_attribute_values(":pk", attr::s(format!("CLAIM_STATUS#{status}")))
            // Sort keys are "<time>#<id>": everything at or before `until` sorts below "<until>$".
            .expression_attribute_values(":until", attr::s(format!("{}$", attr::time_text(until))))
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| sdk_error("finding claims by status and age", e))?;
        let claims: Vec<Claim> = items
            .iter()
            .map(|item| Reader::new(item).json("doc"))
            .collect::<Result<_, _>>()?;
        // The index is eventually consistent: a claim that moved on meanwhile is left out.
        Ok(claims.into_iter().filter(|c| c.status == status).collect())
    }

    async fn transition_claim(
        &self,
        transition: ClaimTransition<'_>,
    ) -> Result<TransitionOutcome, StoreError> {
        let claim = transition.claim;
        let mut items = vec![
            TransactWriteItem::builder()
                .put(build(
                    Put::builder()
                        .table_name(&self.table)
                        .set_item(Some(claim_item(claim)?))
                        .condition_expression("version = :v")
                        .expression_attribute_values(":v", attr::n(claim.version - 1))
                        .build(),
                )?)
                .build(),
            TransactWriteItem::builder()
                .put(build(
                    Put::builder()
                        .table_name(&self.table)
                        .set_item(Some(audit_item(
                            &claim.id,
                            claim.version,
                            transition.audit,
                        )?))
                        .build(),
                )?)
                .build(),
        ];
        if let Some(fund_move) = transition.fund {
            let update = Update::builder()
                .table_name(&self.table)
                .set_key(Some(fund_key(&claim.fund_id)));
            let update = match fund_move {
                FundMove::Reserve(amount) => update
                    .update_expression("SET available = available - :a, reserved = reserved + :a")
                    .condition_expression("available >= :a")
                    .expression_attribute_values(":a", attr::n(amount)),
                FundMove::Release(amount) => update
                    .update_expression("SET available = available + :a, reserved = reserved - :a")
                    .condition_expression("attribute_exists(pk)")
                    .expression_attribute_values(":a", attr::n(amount)),
                FundMove::Pay(amount) => update
                    .update_expression("SET reserved = reserved - :a, paid = paid + :a")
                    .condition_expression("attribute_exists(pk)")
                    .expression_attribute_values(":a", attr::n(amount)),
            };
            items.push(
                TransactWriteItem::builder()
                    .update(build(update.build())?)
                    .build(),
            );
        }
        match &transition.duplicate {
            Some(DuplicateMove::Hold(hash)) => {
                let mut item = duplicate_key(hash);
                item.insert("claim_id".into(), attr::s(claim.id.as_str()));
                items.push(
                    TransactWriteItem::builder()
                        .put(build(
                            Put::builder()
                                .table_name(&self.table)
                                .set_item(Some(item))
                                .condition_expression("attribute_not_exists(pk) OR claim_id = :id")
                                .expression_attribute_values(":id", attr::s(claim.id.as_str()))
                                .build(),
                        )?)
                        .build(),
                );
            }
            Some(DuplicateMove::Release(hash)) => items.push(
                TransactWriteItem::builder()
                    .delete(build(
                        Delete::builder()
                            .table_name(&self.table)
                            .set_key(Some(duplicate_key(hash)))
                            .condition_expression("attribute_not_exists(pk) OR claim_id = :id")
                            .expression_attribute_values(
                                ":id",
                                AttributeValue::S(claim.id.to_string()),
                            )
                            .build(),
                    )?)
                    .build(),
            ),
            None => {}
        }
        let fund_at = transition.fund.map(|_| 2);
        let duplicate_at = transition.duplicate.as_ref().map(|_| items.len() - 1);
        let claim_id = attr::s(claim.id.as_str());
        let pre_approval_at = match &transition.pre_approval {
            Some(PreApprovalMove::Hold(request)) => {
                items.push(
                    TransactWriteItem::builder()
                        .update(build(
                            Update::builder()
                                .table_name(&self.table)
                                .set_key(Some(request_key(request)))
                                .update_expression("SET claim_id = :claim")
                                .condition_expression(
                                    "attribute_exists(pk) AND (attribute_not_exists(claim_id) OR claim_id = :claim)",
                                )
                                .expression_attribute_values(":claim", claim_id)
                                .build(),
                        )?)
                        .build(),
                );
                Some(items.len() - 1)
            }
            Some(PreApprovalMove::Release(request)) => {
                items.push(
                    TransactWriteItem::builder()
                        .update(build(
                            Update::builder()
                                .table_name(&self.table)
                                .set_key(Some(request_key(request)))
                                .update_expression("REMOVE claim_id")
                                .condition_expression("claim_id = :claim")
                                .expression_attribute_values(":claim", claim_id)
                                .build(),
                        )?)
                        .build(),
                );
                None
            }
            None => None,
        };
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        match result {
            Ok(_) => Ok(TransitionOutcome::Done),
            Err(err) => {
                let failed = failed_conditions(&err);
                if failed.contains(&0) {
                    Ok(TransitionOutcome::ClaimChanged)
                } else if fund_at.is_some_and(|i| failed.contains(&i)) {
                    Ok(TransitionOutcome::InsufficientFunds)
                } else if duplicate_at.is_some_and(|i| failed.contains(&i)) {
                    Ok(TransitionOutcome::Duplicate)
                } else if pre_approval_at.is_some_and(|i| failed.contains(&i)) {
                    Ok(TransitionOutcome::PreApprovalUsed)
                } else {
                    Err(sdk_error("change a claim", err))
                }
            }
        }
    }

    async fn claim_audit(&self, id: &ClaimId) -> Result<Vec<AuditEntry>, StoreError> {
        self.partition(
            &format!("CLAIM#{id}"),
            Some("AUDIT#"),
            "read a claim's audit",
        )
        .await?
        .iter()
        .map(|item| Reader::new(item).json("doc"))
        .collect()
    }

    async fn create_authorization(&self, authorization: &Authorization) -> Result<(), StoreError> {
        let mut item = authorization_key(&authorization.id);
        let doc = serde_json::to_string(authorization)
            .map_err(|e| StoreError::Backend(format!("authorisation does not serialise: {e}")))?;
        item.extend([
            ("doc".to_string(), attr::s(doc)),
            (
                "remaining_quantity".to_string(),
                attr::n(authorization.max_quantity),
            ),
            (
                GSI1_PK.to_string(),
                attr::s(format!("DIST_SDAUTH#{}", authorization.distributor_id)),
            ),
            (GSI1_SK.to_string(), attr::s(authorization.id.as_str())),
        ]);
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map_err(|e| sdk_error("create a ship-and-debit authorisation", e))?;
        Ok(())
    }

    async fn get_authorization(
        &self,
        id: &AuthorizationId,
    ) -> Result<Option<(Authorization, i64)>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(authorization_key(id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("read a ship-and-debit authorisation", e))?;
        output.item.as_ref().map(read_authorization).transpose()
    }

    async fn list_authorizations(
        &self,
        distributor: &PartnerId,
    ) -> Result<Vec<(Authorization, i64)>, StoreError> {
        self.by_gsi1(
            format!("DIST_SDAUTH#{distributor}"),
            "list ship-and-debit authorisations",
        )
        .await?
        .iter()
        .map(read_authorization)
        .collect()
    }

    async fn record_ship_debit(
        &self,
        claim: &ShipDebitClaim,
        lines: &[LineKey],
    ) -> Result<ShipDebitOutcome, StoreError> {
        let mut item = key(format!("SDCLAIM#{}", claim.id), "CLAIM");
        let doc = serde_json::to_string(claim)
            .map_err(|e| StoreError::Backend(format!("claim does not serialise: {e}")))?;
        item.extend([
            ("doc".to_string(), attr::s(doc)),
            (
                GSI1_PK.to_string(),
                attr::s(format!("DIST_SDCLAIMS#{}", claim.distributor_id)),
            ),
            (GSI1_SK.to_string(), attr::s(claim.id.as_str())),
        ]);
        let mut items = vec![
            TransactWriteItem::builder()
                .put(build(
                    Put::builder()
                        .table_name(&self.table)
                        .set_item(Some(item))
                        .condition_expression("attribute_not_exists(pk)")
                        .build(),
                )?)
                .build(),
            TransactWriteItem::builder()
                .update(build(
                    Update::builder()
                        .table_name(&self.table)
                        .set_key(Some(authorization_key(&claim.authorization_id)))
                        .update_expression("SET remaining_quantity = remaining_quantity - :q")
                        .condition_expression("remaining_quantity >= :q")
                        .expression_attribute_values(":q", attr::n(claim.quantity))
                        .build(),
                )?)
                .build(),
        ];
        for line in lines {
            let mut item = key(format!("SDLINE#{}#{}", line.partition, line.item), "SDLINE");
            item.insert("claim_id".into(), attr::s(claim.id.as_str()));
            items.push(
                TransactWriteItem::builder()
                    .put(build(
                        Put::builder()
                            .table_name(&self.table)
                            .set_item(Some(item))
                            .condition_expression("attribute_not_exists(pk)")
                            .build(),
                    )?)
                    .build(),
            );
        }
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        match result {
            Ok(_) => Ok(ShipDebitOutcome::Recorded),
            Err(err) => {
                let failed = failed_conditions(&err);
                if failed.contains(&1) {
                    Ok(ShipDebitOutcome::ExceedsAuthorization)
                } else if failed.iter().any(|i| *i >= 2) {
                    Ok(ShipDebitOutcome::LineClaimed)
                } else {
                    Err(sdk_error("record a ship-and-debit claim", err))
                }
            }
        }
    }

    async fn list_ship_debit_claims(
        &self,
        distributor: &PartnerId,
    ) -> Result<Vec<ShipDebitClaim>, StoreError> {
        self.by_gsi1(
            format!("DIST_SDCLAIMS#{distributor}"),
            "list ship-and-debit claims",
        )
        .await?
        .iter()
        .map(|item| Reader::new(item).json("doc"))
        .collect()
    }
}
