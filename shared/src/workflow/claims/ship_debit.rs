//! Ship and debit: a vendor admin's authorisations for a distributor, and the distributor's
//! claims against them, each debit recomputed from the POS lines it names (the rules are in
//! [`crate::domain::claim::ship_debit`]).

use chrono::Utc;
use serde::Serialize;

use super::{ClaimError, ClaimService};
use crate::domain::access::{self, ADMINS, Forbidden, require};
use crate::domain::claim::ship_debit::{
    Authorization, AuthorizationRequest, ShipDebitClaim, ShipDebitRequest, check_ship_debit,
};
use crate::domain::pos::{LineKey, PosLine};
use crate::domain::{Conflict, PartnerId, PartnerKind, Principal, Role, ValidationErrors};
use crate::store::{Claims, Partners, PosStore, ShipDebitOutcome};

/// An authorisation with the units it has left.
#[derive(Debug, Clone, Serialize)]
pub struct AuthorizationView {
    #[serde(flatten)]
    pub authorization: Authorization,
    pub remaining_quantity: i64,
}

impl ClaimService {
    pub async fn create_authorization(
        &self,
        principal: &Principal,
        request: AuthorizationRequest,
    ) -> Result<Authorization, ClaimError> {
        require(principal, &ADMINS, "authorising ship and debit")?;
        match self.store.get_partner(&request.distributor_id).await? {
            Some(p) if p.kind == PartnerKind::Distributor => {}
            _ => {
                return Err(ValidationErrors::single(
                    "distributor_id",
                    format!("{} is not a distributor", request.distributor_id),
                )
                .into());
            }
        }
        let authorization = request.into_authorization(Utc::now())?;
        self.store.create_authorization(&authorization).await?;
        Ok(authorization)
    }

    /// The caller's own organisation as a distributor, or the one vendor staff name.
    fn distributor_scope(
        &self,
        principal: &Principal,
        asked: Option<PartnerId>,
    ) -> Result<PartnerId, ClaimError> {
        match principal.role {
            Role::Distributor => access::own_id(principal).ok_or_else(|| {
                Forbidden("the caller is not a distributor organisation".into()).into()
            }),
            role if role.is_vendor_staff() => asked.ok_or_else(|| {
                ValidationErrors::single("distributor", "required for vendor staff").into()
            }),
            _ => Err(ClaimError::Forbidden(
                "ship and debit is for distributors and vendor staff".into(),
            )),
        }
    }

    /// Authorisations with the units each has left.
    pub async fn authorizations(
        &self,
        principal: &Principal,
        distributor: Option<PartnerId>,
    ) -> Result<Vec<AuthorizationView>, ClaimError> {
        let distributor = self.distributor_scope(principal, distributor)?;
        Ok(self
            .store
            .list_authorizations(&distributor)
            .await?
            .into_iter()
            .map(|(authorization, remaining_quantity)| AuthorizationView {
                authorization,
                remaining_quantity,
            })
            .collect())
    }

    /// A distributor's claim against an authorisation: the debit is recomputed from the POS
    /// lines it names; what they do not support, or more units than are left, is refused.
    pub async fn claim_ship_debit(
        &self,
        principal: &Principal,
        request: ShipDebitRequest,
    ) -> Result<ShipDebitClaim, ClaimError> {
        access::require_or(
            principal,
            &[Role::Distributor],
            "distributors claim ship and debit",
        )?;
        let distributor = self.distributor_scope(principal, None)?;
        request.check_shape()?;
        let (authorization, remaining) = match self
            .store
            .get_authorization(&request.authorization_id)
            .await?
        {
            Some((a, remaining)) if a.distributor_id == distributor => (a, remaining),
            _ => {
                return Err(ValidationErrors::single(
                    "authorization_id",
                    format!(
                        "{} is not one of your authorisations",
                        request.authorization_id
                    ),
                )
                .into());
            }
        };
        let keys: Vec<LineKey> = request
            .lines
            .iter()
            .map(|l| LineKey::sale(&distributor, &l.invoice_number, &l.line_number))
            .collect();
        let reported = self.store.first_reports(&keys).await?;
        let found: Vec<Option<PosLine>> = keys
            .iter()
            .map(|k| {
                reported
                    .get(k)
                    .and_then(|r| serde_json::from_str(&r.line).ok())
            })
            .collect();
        let claim = check_ship_debit(&request, &authorization, &found, Utc::now())?;
        match self.store.record_ship_debit(&claim, &keys).await? {
            ShipDebitOutcome::Recorded => Ok(claim),
            ShipDebitOutcome::ExceedsAuthorization => Err(ValidationErrors::single(
                "lines",
                format!(
                    "{} units exceed the {remaining} the authorisation has left",
                    claim.quantity
                ),
            )
            .into()),
            ShipDebitOutcome::LineClaimed => Err(ClaimError::Conflict(Conflict::lock_held(
                "a POS line of this claim was claimed before",
            ))),
        }
    }

    pub async fn ship_debit_claims(
        &self,
        principal: &Principal,
        distributor: Option<PartnerId>,
    ) -> Result<Vec<ShipDebitClaim>, ClaimError> {
        let distributor = self.distributor_scope(principal, distributor)?;
        Ok(self.store.list_ship_debit_claims(&distributor).await?)
    }
}
