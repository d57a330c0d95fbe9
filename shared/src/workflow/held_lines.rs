//! Held POS lines: sales whose reseller no partner matched wait, out of incentives, until vendor
//! staff match the name to a partner. Releasing credits every line held under that name, sends
//! each to rebate accrual, and remembers the name so that the distributor's later files match it.
//!
//! A release first marks each held line released to the partner (conditional on it still being
//! held, so two releases of one line cannot both win) and files it under "releasing"; then it
//! sends each line in its own sales message, with an id made from the line's key; then it takes
//! the line off "releasing". A release repeated after a failure sends what is still filed under
//! "releasing" again, with the same ids, and the accrual's idempotency marker counts it once.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use futures_util::{StreamExt, TryStreamExt, stream};
use serde::{Deserialize, Serialize};

use crate::domain::deal::normalize_company_name;
use crate::domain::pos::{LineKey, MAX_NAME_BYTES, MAX_NAME_CHARS};
use crate::domain::{PartnerId, PartnerKind, ValidationErrors};
use crate::messaging::messages::SalesReported;
use crate::messaging::{Envelope, PublishError, SqsPublisher};
use crate::store::{HeldLine, Partners, PosStore, StoreError};

/// Lines marked released at once.
const CONCURRENCY: usize = 8;

/// The lines a distributor reported under one unmatched reseller name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HeldName {
    /// As the distributor wrote it (on the first line found).
    pub reseller_name: String,
    /// What releases match: the name normalised as company names are.
    pub normalized_name: String,
    pub lines: usize,
    pub first_invoice_date: NaiveDate,
    pub last_invoice_date: NaiveDate,
}

/// `POST /pos/held-lines/release`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseRequest {
    pub distributor: PartnerId,
    pub reseller_name: String,
    pub partner_id: PartnerId,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Released {
    pub distributor: PartnerId,
    pub normalized_name: String,
    pub partner_id: PartnerId,
    /// Lines this request credited to the partner.
    pub released: usize,
    /// Lines sent to accrual: those, and any an interrupted release left unsent.
    pub sent_to_accrual: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    #[error(transparent)]
    Invalid(#[from] ValidationErrors),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Publish(#[from] PublishError),
}

pub struct HeldLines<S> {
    pub store: S,
    pub publisher: SqsPublisher,
    pub sales_queue_url: String,
}

impl<S: PosStore + Partners + Sync> HeldLines<S> {
    /// A distributor's held lines, summed per reseller name.
    pub async fn by_name(&self, distributor: &PartnerId) -> Result<Vec<HeldName>, StoreError> {
        let mut names: BTreeMap<String, HeldName> = BTreeMap::new();
        for held in self.store.held_lines(distributor, None, false).await? {
            let date = held.line.invoice_date;
            let entry = names.entry(held.name.clone()).or_insert_with(|| HeldName {
                reseller_name: held.line.reseller_name.clone().unwrap_or_default(),
                normalized_name: held.name.clone(),
                lines: 0,
                first_invoice_date: date,
                last_invoice_date: date,
            });
            entry.lines += 1;
            entry.first_invoice_date = entry.first_invoice_date.min(date);
            entry.last_invoice_date = entry.last_invoice_date.max(date);
        }
        Ok(names.into_values().collect())
    }

    /// Credits every line held under `request.reseller_name` to `request.partner_id`.
    pub async fn release(
        &self,
        request: &ReleaseRequest,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<Released, ReleaseError> {
        let mut errors = ValidationErrors::new();
        let name = normalize_company_name(&request.reseller_name);
        if name.is_empty() {
            errors.add(
                "reseller_name",
                "must name the reseller as the distributor reported it",
            );
        } else if request.reseller_name.chars().count() > MAX_NAME_CHARS
            || request.reseller_name.len() > MAX_NAME_BYTES
            || name.len() > MAX_NAME_BYTES
        {
            // No POS line holds a longer name, and the alias key built from it must fit.
            errors.add(
                "reseller_name",
                format!(
                    "at most {MAX_NAME_CHARS} characters ({MAX_NAME_BYTES} bytes), as on a POS line"
                ),
            );
        }
        match self.store.get_partner(&request.distributor).await? {
            Some(p) if p.kind == PartnerKind::Distributor => {}
            _ => errors.add(
                "distributor",
                format!("{} is not a distributor", request.distributor),
            ),
        }
        match self.store.get_partner(&request.partner_id).await? {
            Some(p) if p.kind == PartnerKind::Reseller => {}
            _ => errors.add(
                "partner_id",
                format!("{} is not a reseller partner", request.partner_id),
            ),
        }
        errors.into_result(())?;

        self.store
            .put_reseller_alias(&request.distributor, &name, &request.partner_id, by, now)
            .await?;
        let held = self
            .store
            .held_lines(&request.distributor, Some(&name), false)
            .await?;
        let marked: Vec<(HeldLine, bool)> = stream::iter(held)
            .map(|h| async move {
                let mut line = h.line.clone();
                line.held = false;
                line.reseller_id = Some(request.partner_id.clone());
                let won = self.store.mark_releasing(&h.key, &line, by, now).await?;
                Ok::<_, StoreError>((HeldLine { line, ..h }, won))
            })
            .buffer_unordered(CONCURRENCY)
            .try_collect()
            .await?;
        let count = marked.iter().filter(|(_, won)| *won).count();
        // What this release marked, and what an earlier, interrupted one left to send.
        let mut pending: BTreeMap<LineKey, HeldLine> = marked
            .into_iter()
            .filter(|(_, won)| *won)
            .map(|(h, _)| (h.key.clone(), h))
            .collect();
        for h in self
            .store
            .held_lines(&request.distributor, Some(&name), true)
            .await?
        {
            pending.entry(h.key.clone()).or_insert(h);
        }
        let messages: Vec<_> = pending
            .values()
            .map(|h| {
                Envelope::new(
                    format!("pos-release:{}:{}", h.key.partition, h.key.item),
                    SalesReported {
                        file_id: h.file.clone(),
                        lines: vec![h.line.clone()],
                    },
                    now,
                )
            })
            .collect();
        self.publisher
            .publish(&self.sales_queue_url, &messages)
            .await?;
        stream::iter(pending.into_keys())
            .map(|key| async move { self.store.finish_release(&key).await })
            .buffer_unordered(CONCURRENCY)
            .try_collect::<Vec<()>>()
            .await?;
        tracing::info!(
            distributor = %request.distributor,
            partner = %request.partner_id,
            released = count,
            sent = messages.len(),
            "held lines released"
        );
        Ok(Released {
            distributor: request.distributor.clone(),
            normalized_name: name,
            partner_id: request.partner_id.clone(),
            released: count,
            sent_to_accrual: messages.len(),
        })
    }
}
