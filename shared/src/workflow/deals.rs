//! The deal registration workflow: register, review (conflict check and auto-approval), manager
//! decisions, partner outcomes and the expiry sweep, over the store ports and the SQS publisher.
//! The rules themselves are in [`crate::domain::deal`]; this module sequences them with I/O.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::config::{self, ConfigError};
use crate::domain::access::{self, Forbidden, STAFF};
use crate::domain::deal::{
    Action, AutoApprovalPolicy, Deal, DealRequest, DealStatus, HistoryEntry, RejectionReason,
    ReviewOutcome, SweepAction, TransitionError, add_business_days, conflicts, review, transition,
};
use crate::domain::{ConflictKind, DealId, PartnerId, Principal, Role, ValidationErrors};
use crate::messaging::messages::{DealNotification, DealSubmitted};
use crate::messaging::{Envelope, PublishError, SqsPublisher};
use crate::store::{Catalog, DealPage, DealQuery, Deals, DynamoStore, Partners, StoreError};

/// The workflow's settings, from the environment.
#[derive(Debug, Clone)]
pub struct DealSettings {
    pub policy: AutoApprovalPolicy,
    pub protection: Duration,
    pub review_sla_business_days: u32,
    pub warn_before_expiry: Duration,
    /// A deal still `submitted` after this long is queued for review again (its first message
    /// may have been lost between the store and the queue).
    pub requeue_after: Duration,
    pub review_queue_url: String,
    pub notifications_queue_url: String,
}

impl DealSettings {
    /// `DEAL_AUTO_APPROVE_BELOW` ("10000 USD", or empty for none), `DEAL_AUTO_APPROVE_TIERS`
    /// ("gold=50000 USD;platinum=100000 USD"), `DEAL_PROTECTION_DAYS` (90),
    /// `DEAL_REVIEW_SLA_BUSINESS_DAYS` (2), `DEAL_EXPIRY_WARNING_DAYS` (7),
    /// `DEAL_REVIEW_QUEUE_URL`, `NOTIFICATIONS_QUEUE_URL`.
    pub fn from_env() -> Result<Self, ConfigError> {
        let default_threshold = config::optional_money("DEAL_AUTO_APPROVE_BELOW")?;
        let mut tier_thresholds = Vec::new();
        if let Some(text) = config::optional::<String>("DEAL_AUTO_APPROVE_TIERS")? {
            for part in text.split(';').filter(|p| !p.trim().is_empty()) {
                let (tier, amount) = part.split_once('=').ok_or_else(|| ConfigError::Invalid {
                    name: "DEAL_AUTO_APPROVE_TIERS",
                    value: text.clone(),
                    reason: String::from("expected \"tier=<amount> <currency>;...\""),
                })?;
                tier_thresholds.push((
                    tier.trim().to_string(),
                    config::parse_money("DEAL_AUTO_APPROVE_TIERS", amount)?,
                ));
            }
        }
        let days = |name, default: i64| -> Result<Duration, ConfigError> {
            Ok(Duration::days(
                config::optional::<i64>(name)?.unwrap_or(default),
            ))
        };
        Ok(Self {
            policy: AutoApprovalPolicy {
                default_threshold,
                tier_thresholds,
            },
            protection: days("DEAL_PROTECTION_DAYS", 90)?,
            review_sla_business_days: config::optional("DEAL_REVIEW_SLA_BUSINESS_DAYS")?
                .unwrap_or(2),
            warn_before_expiry: days("DEAL_EXPIRY_WARNING_DAYS", 7)?,
            requeue_after: Duration::minutes(15),
            review_queue_url: config::required("DEAL_REVIEW_QUEUE_URL")?,
            notifications_queue_url: config::required("NOTIFICATIONS_QUEUE_URL")?,
        })
    }
}

/// Why a workflow step did not happen. The HTTP layer maps each to a status.
#[derive(Debug, thiserror::Error)]
pub enum DealError {
    #[error(transparent)]
    Invalid(#[from] ValidationErrors),
    #[error("{0}")]
    Forbidden(String),
    #[error("deal {0} not found")]
    NotFound(String),
    #[error(transparent)]
    Transition(#[from] TransitionError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Publish(#[from] PublishError),
}

impl From<Forbidden> for DealError {
    fn from(refused: Forbidden) -> Self {
        DealError::Forbidden(refused.0)
    }
}

/// A partner's key whose principal is not a partner id (issued wrong by hand).
fn not_a_partner() -> DealError {
    DealError::Forbidden(String::from("the key's principal is not a partner"))
}

/// A manager's decision, as `POST /deals/{id}/decision` takes it.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case", deny_unknown_fields)]
pub enum Decision {
    Approve,
    Reject { reason: RejectionReason },
}

/// A partner's report, as `POST /deals/{id}/outcome` takes it.
#[derive(Debug, Clone, Copy, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Won,
    Lost,
}

/// What the sweep did.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct SweepReport {
    pub expired: usize,
    pub warned: usize,
    pub requeued: usize,
}

/// What the deal functions build once per cold start and keep.
pub struct DealService {
    pub store: DynamoStore,
    pub publisher: SqsPublisher,
    pub settings: DealSettings,
}

impl DealService {
    /// From the environment (`TABLE_NAME`, the queues and the `DEAL_*` settings).
    pub async fn from_env() -> Result<Self, ConfigError> {
        Self::from_env_with(&crate::aws::load_config().await)
    }

    /// With an SDK configuration already loaded: a function driving several workflows loads
    /// one, and its clients share one connection pool.
    pub fn from_env_with(sdk: &aws_config::SdkConfig) -> Result<Self, ConfigError> {
        Ok(Self {
            settings: DealSettings::from_env()?,
            store: DynamoStore::from_env(sdk)?,
            publisher: SqsPublisher::new(crate::aws::sqs(sdk)),
        })
    }

    pub fn flow(&self) -> DealWorkflow<'_, DynamoStore> {
        DealWorkflow {
            store: &self.store,
            publisher: &self.publisher,
            settings: &self.settings,
        }
    }
}

pub struct DealWorkflow<'a, S> {
    pub store: &'a S,
    pub publisher: &'a SqsPublisher,
    pub settings: &'a DealSettings,
}

impl<S: Deals + Partners + Catalog + Sync> DealWorkflow<'_, S> {
    /// `POST /deals`: validate, apply the readiness gate, store, queue for review.
    pub async fn register(
        &self,
        principal: &Principal,
        request: DealRequest,
        now: DateTime<Utc>,
    ) -> Result<Deal, DealError> {
        access::require_or(principal, &[Role::Partner], "only partners register deals")?;
        let partner_id: PartnerId = access::own_id(principal).ok_or_else(not_a_partner)?;
        let partner =
            self.store.get_partner(&partner_id).await?.ok_or_else(|| {
                DealError::Forbidden(format!("partner {partner_id} does not exist"))
            })?;
        if !partner.may_transact() {
            return Err(DealError::Forbidden(format!(
                "partner {partner_id} is {}; only active partners may register deals",
                partner.status
            )));
        }
        // Only a list within bounds is looked up: a huge one is refused without a read.
        let asked = request.skus_to_look_up();
        let known: BTreeSet<String> = if asked.is_empty() {
            BTreeSet::new()
        } else {
            self.store.known_skus(&asked).await?
        };
        let valid = request.validate(now.date_naive(), |sku| known.contains(sku))?;
        let (deal, entry) = Deal::register(partner_id, valid, now);
        self.store.create_deal(&deal, &entry).await?;
        if let Err(err) = self.queue_for_review(&deal.id, now).await {
            // The deal is stored; the sweep queues deals left `submitted` for review again.
            tracing::error!(deal_id = %deal.id, error = %err, "deal stored but not queued; the sweep will requeue it");
        }
        Ok(deal)
    }

    async fn queue_for_review(&self, id: &DealId, now: DateTime<Utc>) -> Result<(), PublishError> {
        let envelope = Envelope::new(
            format!("deal-submitted:{id}"),
            DealSubmitted {
                deal_id: id.clone(),
            },
            now,
        );
        self.publisher
            .publish(&self.settings.review_queue_url, &[envelope])
            .await
    }

    /// Reads a deal the principal may see: a partner its own (another's is "not found").
    pub async fn read(
        &self,
        principal: &Principal,
        id: &str,
    ) -> Result<(Deal, Vec<HistoryEntry>), DealError> {
        let not_found = || DealError::NotFound(id.to_string());
        let id: DealId = id.parse().map_err(|_| not_found())?;
        let (deal, history) = self.store.get_deal(&id).await?.ok_or_else(not_found)?;
        if !access::may_see(principal, deal.partner_id.as_str()) {
            return Err(not_found());
        }
        Ok((deal, history))
    }

    /// `GET /deals`: a partner lists its own; vendor staff filter by status or partner (or both).
    pub async fn list(
        &self,
        principal: &Principal,
        mut query: DealQuery,
    ) -> Result<DealPage, DealError> {
        match principal.role {
            Role::Partner => {
                query.partner = Some(access::own_id(principal).ok_or_else(not_a_partner)?)
            }
            Role::ChannelManager | Role::VendorAdmin => {
                if query.partner.is_none() && query.status.is_none() {
                    return Err(ValidationErrors::single(
                        "status",
                        "vendor staff list deals by status or partner: add ?status= or ?partner=",
                    )
                    .into());
                }
            }
            Role::Distributor => {
                return Err(DealError::Forbidden(String::from(
                    "distributors have no deals",
                )));
            }
        }
        Ok(self.store.list_deals(&query).await?)
    }

    /// Review of a queued deal (deal-approve). Safe to repeat: a deal no longer `submitted` is
    /// left alone, and every change is conditional on the version read.
    pub async fn review(&self, id: &DealId, now: DateTime<Utc>) -> Result<(), DealError> {
        match self.review_once(id, now).await {
            // Reviewed concurrently (a duplicate message): fine once the deal has moved on.
            Err(DealError::Store(StoreError::Conflict(reason)))
                if reason.kind == ConflictKind::StaleVersion =>
            {
                match self.store.get_deal(id).await? {
                    Some((deal, _)) if deal.status != DealStatus::Submitted => Ok(()),
                    _ => Err(DealError::Store(StoreError::Conflict(reason))),
                }
            }
            other => other,
        }
    }

    async fn review_once(&self, id: &DealId, now: DateTime<Utc>) -> Result<(), DealError> {
        let Some((deal, _)) = self.store.get_deal(id).await? else {
            tracing::warn!(deal_id = %id, "review of an unknown deal skipped");
            return Ok(());
        };
        if deal.status != DealStatus::Submitted {
            return Ok(());
        }
        let has_conflict = self.has_conflict(&deal, now).await?;
        let tier = self
            .store
            .get_partner(&deal.partner_id)
            .await?
            .and_then(|p| p.tier);
        match review(
            &self.settings.policy,
            deal.estimated_value,
            tier.as_deref(),
            has_conflict,
        ) {
            ReviewOutcome::AutoApprove => match self.approve(&deal, "auto-approval", now).await {
                Err(DealError::Store(StoreError::Conflict(reason)))
                    if reason.kind == ConflictKind::LockHeld =>
                {
                    // Another registration won the customer meanwhile.
                    self.step(
                        &deal,
                        Action::Reject(RejectionReason::Duplicate),
                        "review",
                        now,
                    )
                    .await?;
                    Ok(())
                }
                other => other.map(|_| ()),
            },
            ReviewOutcome::NeedsManager { conflict } => {
                let due = add_business_days(now, self.settings.review_sla_business_days);
                self.step(
                    &deal,
                    Action::HoldForManager { due, conflict },
                    "review",
                    now,
                )
                .await?;
                Ok(())
            }
        }
    }

    async fn has_conflict(&self, deal: &Deal, now: DateTime<Utc>) -> Result<bool, DealError> {
        let facts = deal.facts();
        Ok(self
            .store
            .claims_on(&deal.customer_keys)
            .await?
            .iter()
            .any(|(other_id, other)| other_id != &deal.id && conflicts(&facts, other, now)))
    }

    /// `POST /deals/{id}/decision` (vendor staff).
    pub async fn decide(
        &self,
        principal: &Principal,
        id: &str,
        decision: Decision,
        now: DateTime<Utc>,
    ) -> Result<Deal, DealError> {
        access::require_or(principal, &STAFF, "only vendor staff decide deals")?;
        let (deal, _) = self.read(principal, id).await?;
        match decision {
            Decision::Approve => self.approve(&deal, &principal.id, now).await,
            Decision::Reject { reason } => {
                reason.validate()?;
                self.step(&deal, Action::Reject(reason), &principal.id, now)
                    .await
            }
        }
    }

    /// Approves and then rejects, as duplicates, the other partners' pending registrations that
    /// conflict with it.
    async fn approve(
        &self,
        deal: &Deal,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Deal, DealError> {
        let approved = self
            .step(
                deal,
                Action::Approve {
                    protection: self.settings.protection,
                },
                actor,
                now,
            )
            .await?;
        let facts = approved.facts();
        for (other_id, other) in self.store.claims_on(&approved.customer_keys).await? {
            if other_id == approved.id
                || !other.status.is_pending()
                || !conflicts(&other, &facts, now)
            {
                continue;
            }
            let Some((pending, _)) = self.store.get_deal(&other_id).await? else {
                continue;
            };
            match self
                .step(
                    &pending,
                    Action::Reject(RejectionReason::Duplicate),
                    "duplicate-check",
                    now,
                )
                .await
            {
                Ok(_)
                | Err(DealError::Transition(_))
                | Err(DealError::Store(StoreError::Conflict(_))) => {}
                Err(err) => {
                    tracing::warn!(deal_id = %other_id, error = %err, "could not reject a duplicate")
                }
            }
        }
        Ok(approved)
    }

    /// `POST /deals/{id}/outcome` (the deal's partner): won or lost ends protection.
    pub async fn report_outcome(
        &self,
        principal: &Principal,
        id: &str,
        outcome: Outcome,
        now: DateTime<Utc>,
    ) -> Result<Deal, DealError> {
        access::require_or(
            principal,
            &[Role::Partner],
            "the deal's partner reports its outcome",
        )?;
        let (deal, _) = self.read(principal, id).await?;
        let action = match outcome {
            Outcome::Won => Action::Win,
            Outcome::Lost => Action::Lose,
        };
        self.step(&deal, action, &principal.id, now).await
    }

    /// The CRM's won or lost for a deal (`opportunity.updated`): as the partner's report, by
    /// `actor`. A deal already so ended is left as it is.
    pub async fn record_crm_outcome(
        &self,
        id: &DealId,
        won: bool,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Deal, DealError> {
        let (deal, _) = self
            .store
            .get_deal(id)
            .await?
            .ok_or_else(|| DealError::NotFound(id.to_string()))?;
        let (target, action) = if won {
            (DealStatus::Won, Action::Win)
        } else {
            (DealStatus::Lost, Action::Lose)
        };
        if deal.status == target {
            return Ok(deal);
        }
        self.step(&deal, action, actor, now).await
    }

    /// The scheduled sweep: expire deals past protection, warn those about to expire, and queue
    /// again deals left `submitted`.
    pub async fn sweep(&self, now: DateTime<Utc>) -> Result<SweepReport, DealError> {
        let mut report = SweepReport::default();
        for deal in self
            .store
            .deals_due(DealStatus::Approved, now + self.settings.warn_before_expiry)
            .await?
        {
            match crate::domain::deal::sweep_action(&deal, now, self.settings.warn_before_expiry) {
                Some(SweepAction::Expire) => {
                    match self.step(&deal, Action::Expire, "expiry-sweep", now).await {
                        Ok(_) => report.expired += 1,
                        // Won, lost or swept by another run meanwhile.
                        Err(DealError::Store(StoreError::Conflict(_))) => {}
                        Err(err) => return Err(err),
                    }
                }
                Some(SweepAction::Warn) => match self.store.mark_expiry_warned(&deal).await {
                    Ok(()) => {
                        let detail = deal.protected_until.map(|t| format!("protection ends {t}"));
                        self.announce(&deal, "deal.expiring", detail, now).await;
                        report.warned += 1;
                    }
                    Err(StoreError::Conflict(_)) => {}
                    Err(err) => return Err(err.into()),
                },
                None => {}
            }
        }
        // Deals are sorted by creation time in the `submitted` partition.
        for deal in self
            .store
            .deals_due(DealStatus::Submitted, now - self.settings.requeue_after)
            .await?
        {
            self.queue_for_review(&deal.id, now).await?;
            report.requeued += 1;
        }
        Ok(report)
    }

    /// Applies one transition and announces it.
    async fn step(
        &self,
        deal: &Deal,
        action: Action,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Deal, DealError> {
        let (after, entry) = transition(deal, &action, actor, now)?;
        self.store.apply_transition(deal, &after, &entry).await?;
        let event = match after.status {
            DealStatus::Approved => Some("deal.approved"),
            DealStatus::Rejected => Some("deal.rejected"),
            DealStatus::Expired => Some("deal.expired"),
            DealStatus::Won => Some("deal.won"),
            DealStatus::Lost => Some("deal.lost"),
            DealStatus::Submitted | DealStatus::PendingReview => None,
        };
        if let Some(event) = event {
            self.announce(&after, event, entry.note.clone(), now).await;
        }
        Ok(after)
    }

    /// Publishes a change that is already committed. A failure is logged, not returned: the change
    /// stands either way, and failing the request would only invite a retry that the state machine
    /// refuses (the notification would be lost all the same).
    async fn announce(&self, deal: &Deal, event: &str, detail: Option<String>, now: DateTime<Utc>) {
        if let Err(err) = self.notify(deal, event, detail, now).await {
            tracing::error!(deal_id = %deal.id, event, error = %err, "notification not published");
        }
    }

    async fn notify(
        &self,
        deal: &Deal,
        event: &str,
        detail: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<(), DealError> {
        let notification = DealNotification {
            event: event.to_string(),
            deal_id: deal.id.clone(),
            partner_id: deal.partner_id.clone(),
            status: deal.status,
            end_customer: deal.end_customer.name.clone(),
            detail,
        };
        // The id names the change (deal and version), so a repeated step announces it once.
        let envelope = Envelope::new(
            format!("{event}:{}:{}", deal.id, deal.version),
            notification,
            now,
        );
        self.publisher
            .publish(&self.settings.notifications_queue_url, &[envelope])
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{KeyId, Partner, PartnerKind, PartnerStatus};
    use crate::store::DynamoStore;
    use crate::testing;

    struct World {
        service: DealService,
        sqs: aws_sdk_sqs::Client,
    }

    impl World {
        async fn new() -> Self {
            Self {
                service: testing::deal_service(Some("10000 USD")).await,
                sqs: testing::sqs_client().await,
            }
        }

        fn flow(&self) -> DealWorkflow<'_, DynamoStore> {
            self.service.flow()
        }

        async fn partner(&self, status: PartnerStatus) -> Principal {
            let partner =
                Partner::new("Reseller", PartnerKind::Reseller, "US", status, Utc::now()).unwrap();
            self.service.store.create_partner(&partner).await.unwrap();
            Principal {
                id: partner.id.to_string(),
                role: Role::Partner,
                key_id: key_id(),
            }
        }

        async fn register(&self, who: &Principal, amount: &str) -> Result<Deal, DealError> {
            self.flow()
                .register(who, request("ABC Computers, Inc.", amount), Utc::now())
                .await
        }
    }

    fn key_id() -> KeyId {
        "0123456789abcdef".parse().unwrap()
    }

    fn manager(name: &str) -> Principal {
        Principal {
            id: name.into(),
            role: Role::ChannelManager,
            key_id: key_id(),
        }
    }

    fn request(customer: &str, amount: &str) -> DealRequest {
        serde_json::from_value(serde_json::json!({
            "end_customer": {"name": customer, "domain": "abc.com", "country": "US"},
            "products": ["SKU-1"],
            "estimated_value": {"amount": amount, "currency": "USD"},
            "expected_close_date": "2099-06-30"
        }))
        .unwrap()
    }

    async fn status_of(world: &World, id: &DealId) -> DealStatus {
        world
            .service
            .store
            .get_deal(id)
            .await
            .unwrap()
            .unwrap()
            .0
            .status
    }

    #[tokio::test]
    async fn only_active_partners_register_and_every_deal_is_queued_for_review() {
        let world = World::new().await;
        let pending = world.partner(PartnerStatus::Pending).await;
        assert!(matches!(
            world.register(&pending, "100").await,
            Err(DealError::Forbidden(_))
        ));
        let active = world.partner(PartnerStatus::Active).await;
        let deal = world.register(&active, "100").await.unwrap();
        let queued = testing::drain(&world.sqs, &world.service.settings.review_queue_url).await;
        assert_eq!(queued.len(), 1);
        assert_eq!(
            Envelope::<DealSubmitted>::decode(&queued[0])
                .unwrap()
                .payload
                .deal_id,
            deal.id
        );
    }

    #[tokio::test]
    async fn unknown_skus_are_named_and_nothing_is_stored() {
        let world = World::new().await;
        let partner = world.partner(PartnerStatus::Active).await;
        let mut bad = request("ABC", "100");
        bad.products = Some(vec!["SKU-1".into(), "SKU-404".into()]);
        match world.flow().register(&partner, bad, Utc::now()).await {
            Err(DealError::Invalid(errors)) => assert_eq!(errors.0[0].field, "products[1]"),
            other => panic!("{other:?}"),
        }
        let page = world
            .service
            .store
            .list_deals(&DealQuery {
                partner: Some(partner.id.parse().unwrap()),
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        assert!(page.deals.is_empty());
    }

    #[tokio::test]
    async fn review_auto_approves_small_deals_without_conflict_and_holds_the_rest() {
        let world = World::new().await;
        let first = world.partner(PartnerStatus::Active).await;
        let small = world.register(&first, "9000").await.unwrap();
        world.flow().review(&small.id, Utc::now()).await.unwrap();
        assert_eq!(status_of(&world, &small.id).await, DealStatus::Approved);
        let notes =
            testing::drain(&world.sqs, &world.service.settings.notifications_queue_url).await;
        assert!(
            notes.iter().any(|n| n.contains("deal.approved")),
            "{notes:?}"
        );

        // Another partner, same customer and product: a conflict, so a manager decides.
        let second = world.partner(PartnerStatus::Active).await;
        let rival = world.register(&second, "100").await.unwrap();
        world.flow().review(&rival.id, Utc::now()).await.unwrap();
        let (held, history) = world
            .service
            .store
            .get_deal(&rival.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(held.status, DealStatus::PendingReview);
        assert!(held.review_due_at.is_some());
        assert!(
            history
                .last()
                .unwrap()
                .note
                .as_deref()
                .unwrap_or_default()
                .contains("conflict")
        );
        // Reviewing twice changes nothing.
        world.flow().review(&rival.id, Utc::now()).await.unwrap();
        assert_eq!(
            world
                .service
                .store
                .get_deal(&rival.id)
                .await
                .unwrap()
                .unwrap()
                .1
                .len(),
            2
        );
        // A manager cannot approve it: the first deal holds the customer and the product.
        let refused = world
            .flow()
            .decide(
                &manager("alice"),
                rival.id.as_str(),
                Decision::Approve,
                Utc::now(),
            )
            .await;
        let Err(DealError::Store(StoreError::Conflict(conflict))) = refused else {
            panic!("expected a conflict, got {refused:?}");
        };
        assert_eq!(conflict.kind, ConflictKind::LockHeld, "{conflict}");
        let answer = crate::http::ApiError::Conflict(conflict).to_response();
        let body: serde_json::Value = serde_json::from_slice(answer.body().as_ref()).unwrap();
        assert_eq!(
            body["type"],
            "https://tributary.dev/problems/conflict/lock-held"
        );
        assert_eq!(
            status_of(&world, &rival.id).await,
            DealStatus::PendingReview
        );
    }

    #[tokio::test]
    async fn fifty_rival_registrations_and_racing_managers_leave_exactly_one_approved() {
        let world = World::new().await;
        let mut partners = Vec::new();
        for _ in 0..50 {
            partners.push(world.partner(PartnerStatus::Active).await);
        }
        let registered =
            futures_util::future::join_all(partners.iter().map(|p| world.register(p, "500"))).await;
        let deals: Vec<Deal> = registered.into_iter().map(Result::unwrap).collect();
        let flow = world.flow();
        futures_util::future::join_all(deals.iter().map(|d| flow.review(&d.id, Utc::now())))
            .await
            .into_iter()
            .for_each(Result::unwrap);
        let mut approved = Vec::new();
        for deal in &deals {
            if status_of(&world, &deal.id).await == DealStatus::Approved {
                approved.push(deal.id.clone());
            }
        }
        assert!(
            approved.is_empty(),
            "all 50 see each other pending, so none is auto-approved"
        );

        // Two managers approve the same deal at the same moment.
        let target = deals[7].id.to_string();
        let (alice, bob) = (manager("alice"), manager("bob"));
        let (a, b) = tokio::join!(
            flow.decide(&alice, &target, Decision::Approve, Utc::now()),
            flow.decide(&bob, &target, Decision::Approve, Utc::now()),
        );
        assert!(a.is_ok() != b.is_ok(), "{a:?} / {b:?}");
        // A third manager tries a rival: it was rejected as a duplicate, so it cannot be approved.
        let rival = deals[8].id.to_string();
        assert!(
            world
                .flow()
                .decide(&manager("carol"), &rival, Decision::Approve, Utc::now())
                .await
                .is_err()
        );

        let mut statuses = std::collections::HashMap::new();
        for deal in &deals {
            let (read, history) = world
                .service
                .store
                .get_deal(&deal.id)
                .await
                .unwrap()
                .unwrap();
            *statuses.entry(read.status).or_insert(0) += 1;
            // A consistent history: a chain from submitted to the current state.
            assert_eq!(history.first().unwrap().to, DealStatus::Submitted);
            for pair in history.windows(2) {
                assert_eq!(pair[1].from, Some(pair[0].to), "{:?}", history);
            }
            assert_eq!(history.last().unwrap().to, read.status);
        }
        assert_eq!(
            statuses.get(&DealStatus::Approved),
            Some(&1),
            "{statuses:?}"
        );
        assert_eq!(
            statuses.get(&DealStatus::Rejected),
            Some(&49),
            "{statuses:?}"
        );
    }

    #[tokio::test]
    async fn a_decided_deal_cannot_be_decided_again_and_partners_see_only_their_own() {
        let world = World::new().await;
        let partner = world.partner(PartnerStatus::Active).await;
        let deal = world.register(&partner, "50000").await.unwrap();
        world.flow().review(&deal.id, Utc::now()).await.unwrap();
        let reject = Decision::Reject {
            reason: RejectionReason::OutsideTerritory,
        };
        world
            .flow()
            .decide(
                &manager("alice"),
                deal.id.as_str(),
                reject.clone(),
                Utc::now(),
            )
            .await
            .unwrap();
        let again = world
            .flow()
            .decide(
                &manager("bob"),
                deal.id.as_str(),
                Decision::Approve,
                Utc::now(),
            )
            .await;
        assert!(matches!(again, Err(DealError::Transition(_))), "{again:?}");
        let stranger = world.partner(PartnerStatus::Active).await;
        assert!(matches!(
            world.flow().read(&stranger, deal.id.as_str()).await,
            Err(DealError::NotFound(_))
        ));
        assert!(matches!(
            world
                .flow()
                .decide(&partner, deal.id.as_str(), Decision::Approve, Utc::now())
                .await,
            Err(DealError::Forbidden(_))
        ));
    }

    #[tokio::test]
    async fn the_sweep_warns_then_expires_and_requeues_forgotten_submissions() {
        let world = World::new().await;
        let partner = world.partner(PartnerStatus::Active).await;
        let deal = world.register(&partner, "100").await.unwrap();
        testing::drain(&world.sqs, &world.service.settings.review_queue_url).await;
        let now = Utc::now();
        let report = world
            .flow()
            .sweep(now + Duration::minutes(16))
            .await
            .unwrap();
        assert_eq!(report.requeued, 1);
        assert_eq!(
            testing::drain(&world.sqs, &world.service.settings.review_queue_url)
                .await
                .len(),
            1
        );

        world.flow().review(&deal.id, now).await.unwrap();
        assert_eq!(status_of(&world, &deal.id).await, DealStatus::Approved);
        let report = world.flow().sweep(now + Duration::days(85)).await.unwrap();
        assert_eq!((report.warned, report.expired), (1, 0));
        let report = world.flow().sweep(now + Duration::days(86)).await.unwrap();
        assert_eq!((report.warned, report.expired), (0, 0), "warned once");
        let report = world.flow().sweep(now + Duration::days(91)).await.unwrap();
        assert_eq!(report.expired, 1);
        assert_eq!(status_of(&world, &deal.id).await, DealStatus::Expired);
        let notes =
            testing::drain(&world.sqs, &world.service.settings.notifications_queue_url).await;
        assert!(
            notes.iter().any(|n| n.contains("deal.expiring"))
                && notes.iter().any(|n| n.contains("deal.expired"))
        );
    }

    /// The deal store, counting the SKUs asked of the catalog: what a registration reads.
    struct CountingCatalog<'a> {
        inner: &'a DynamoStore,
        asked: std::sync::Mutex<Vec<usize>>,
    }

    impl Catalog for CountingCatalog<'_> {
        async fn known_skus(&self, skus: &[String]) -> Result<BTreeSet<String>, StoreError> {
            self.asked.lock().unwrap().push(skus.len());
            self.inner.known_skus(skus).await
        }
        async fn put_skus(&self, skus: &[(String, String)]) -> Result<(), StoreError> {
            self.inner.put_skus(skus).await
        }
        async fn put_entries_as_of(
            &self,
            entries: &[crate::domain::catalog::CatalogEntry],
            as_of: DateTime<Utc>,
        ) -> Result<usize, StoreError> {
            self.inner.put_entries_as_of(entries, as_of).await
        }
    }

    impl Partners for CountingCatalog<'_> {
        async fn get_partner(&self, id: &PartnerId) -> Result<Option<Partner>, StoreError> {
            self.inner.get_partner(id).await
        }
        async fn create_partner(&self, partner: &Partner) -> Result<(), StoreError> {
            self.inner.create_partner(partner).await
        }
        async fn set_partner_status(
            &self,
            id: &PartnerId,
            status: PartnerStatus,
            expected_version: u64,
            now: DateTime<Utc>,
        ) -> Result<Partner, StoreError> {
            self.inner
                .set_partner_status(id, status, expected_version, now)
                .await
        }
        async fn list_partners(&self) -> Result<Vec<Partner>, StoreError> {
            self.inner.list_partners().await
        }
    }

    impl Deals for CountingCatalog<'_> {
        async fn create_deal(&self, deal: &Deal, entry: &HistoryEntry) -> Result<(), StoreError> {
            self.inner.create_deal(deal, entry).await
        }
        async fn get_deal(
            &self,
            id: &DealId,
        ) -> Result<Option<(Deal, Vec<HistoryEntry>)>, StoreError> {
            self.inner.get_deal(id).await
        }
        async fn apply_transition(
            &self,
            before: &Deal,
            after: &Deal,
            entry: &HistoryEntry,
        ) -> Result<(), StoreError> {
            self.inner.apply_transition(before, after, entry).await
        }
        async fn mark_expiry_warned(&self, deal: &Deal) -> Result<(), StoreError> {
            self.inner.mark_expiry_warned(deal).await
        }
        async fn claims_on(
            &self,
            keys: &crate::domain::deal::CustomerKeys,
        ) -> Result<Vec<(DealId, crate::domain::deal::DealFacts)>, StoreError> {
            self.inner.claims_on(keys).await
        }
        async fn list_deals(
            &self,
            query: &DealQuery,
        ) -> Result<crate::store::DealPage, StoreError> {
            self.inner.list_deals(query).await
        }
        async fn deals_due(
            &self,
            status: DealStatus,
            until: DateTime<Utc>,
        ) -> Result<Vec<Deal>, StoreError> {
            self.inner.deals_due(status, until).await
        }
    }

    #[tokio::test]
    async fn product_lists_and_ids_are_bounded_before_the_catalog_is_read() {
        let world = World::new().await;
        let partner = world.partner(PartnerStatus::Active).await;
        let store = CountingCatalog {
            inner: &world.service.store,
            asked: Default::default(),
        };
        let flow = DealWorkflow {
            store: &store,
            publisher: &world.service.publisher,
            settings: &world.service.settings,
        };
        let faults = |result: Result<Deal, DealError>| match result {
            Err(DealError::Invalid(errors)) => {
                errors.0.iter().map(|e| e.field.clone()).collect::<Vec<_>>()
            }
            other => panic!("{other:?}"),
        };

        let mut huge = request("ABC", "100");
        huge.products = Some((0..100_000).map(|i| format!("SKU-{i}")).collect());
        assert_eq!(
            faults(flow.register(&partner, huge, Utc::now()).await),
            ["products"]
        );
        let mut long_id = request("ABC", "100");
        long_id.products = Some(vec!["SKU-1".into(), "S".repeat(3000)]);
        assert_eq!(
            faults(flow.register(&partner, long_id, Utc::now()).await),
            ["products[1]"]
        );
        // Neither list was read; the SKU within bounds was looked up alone.
        assert_eq!(*store.asked.lock().unwrap(), [1]);
    }
}
