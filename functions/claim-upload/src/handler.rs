//! Funds, MDF requests and claims over HTTP (validation itself runs in claim-validate):
//! - `POST /funds` (vendor admin): MDF for a partner and period; `GET /funds` (a partner its
//!   own; vendor staff `?partner=`): allocated, reserved, paid and available per fund;
//! - `POST /mdf-requests` (active partner), `GET /mdf-requests` (own; staff `?partner=`),
//!   `POST /mdf-requests/{id}/decision` (manager);
//! - `POST /claims` (active partner): a draft and a presigned PUT per proof document;
//!   `GET /claims` (own; staff `?status=` and/or `?partner=`), `GET /claims/{id}`;
//! - `POST /claims/{id}/submit` (its partner), `POST /claims/{id}/decision` and
//!   `POST /claims/{id}/payment` (manager), `GET /claims/{id}/audit`;
//! - `POST /ship-debit/authorizations` (vendor admin), `GET /ship-debit/authorizations` and
//!   `GET /ship-debit/claims` (a distributor its own; staff `?distributor=`),
//!   `POST /ship-debit/claims` (a distributor: the POS lines of the sales it claims).

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, RequestExt, Response};
use tributary::domain::claim::ClaimStatus;
use tributary::domain::{ClaimId, MdfRequestId, PartnerId, ValidationErrors};
use tributary::http::{ApiError, caller, json, json_body, respond};
use tributary::workflow::claims::ClaimService;

pub async fn route(service: &ClaimService, request: Request) -> Response<Body> {
    respond(dispatch(service, &request).await)
}

async fn dispatch(service: &ClaimService, request: &Request) -> Result<Response<Body>, ApiError> {
    let principal = caller(request)?;
    let segments: Vec<&str> = request.uri().path().trim_matches('/').split('/').collect();
    let params = request.query_string_parameters();
    let partner_param = || -> Result<Option<PartnerId>, ApiError> {
        params
            .first("partner")
            .map(|p| {
                p.parse().map_err(|e: tributary::domain::ids::InvalidId| {
                    ValidationErrors::single("partner", e.to_string()).into()
                })
            })
            .transpose()
    };
    let distributor_param = || -> Result<Option<PartnerId>, ApiError> {
        params
            .first("distributor")
            .map(|p| {
                p.parse().map_err(|e: tributary::domain::ids::InvalidId| {
                    ValidationErrors::single("distributor", e.to_string()).into()
                })
            })
            .transpose()
    };
    let claim_id = |id: &str| -> Result<ClaimId, ApiError> {
        id.parse()
            .map_err(|_| ApiError::NotFound(format!("claim {id} not found")))
    };
    match (request.method().clone(), segments.as_slice()) {
        (Method::POST, ["funds"]) => {
            let fund = service.create_fund(&principal, json_body(request)?).await?;
            Ok(json(StatusCode::CREATED, &fund))
        }
        (Method::GET, ["funds"]) => {
            let funds = service.funds(&principal, partner_param()?).await?;
            Ok(json(StatusCode::OK, &serde_json::json!({ "funds": funds })))
        }
        (Method::POST, ["mdf-requests"]) => {
            let created = service
                .create_mdf_request(&principal, json_body(request)?)
                .await?;
            Ok(json(StatusCode::CREATED, &created))
        }
        (Method::GET, ["mdf-requests"]) => {
            let requests = service.mdf_requests(&principal, partner_param()?).await?;
            Ok(json(
                StatusCode::OK,
                &serde_json::json!({ "mdf_requests": requests }),
            ))
        }
        (Method::POST, ["mdf-requests", id, "decision"]) => {
            let id: MdfRequestId = id
                .parse()
                .map_err(|_| ApiError::NotFound(format!("MDF request {id} not found")))?;
            let decided = service
                .decide_mdf_request(&principal, &id, json_body(request)?)
                .await?;
            Ok(json(StatusCode::OK, &decided))
        }
        (Method::POST, ["claims"]) => {
            let created = service
                .create_claim(&principal, json_body(request)?)
                .await?;
            Ok(json(StatusCode::CREATED, &created))
        }
        (Method::GET, ["claims"]) => {
            let status = params
                .first("status")
                .map(|s| {
                    s.parse::<ClaimStatus>()
                        .map_err(|e| ApiError::from(ValidationErrors::single("status", e)))
                })
                .transpose()?;
            let claims = service.claims(&principal, partner_param()?, status).await?;
            Ok(json(
                StatusCode::OK,
                &serde_json::json!({ "claims": claims }),
            ))
        }
        (Method::GET, ["claims", id]) => {
            let claim = service.claim(&principal, &claim_id(id)?).await?;
            Ok(json(StatusCode::OK, &claim))
        }
        (Method::GET, ["claims", id, "audit"]) => {
            let audit = service.audit(&principal, &claim_id(id)?).await?;
            Ok(json(StatusCode::OK, &serde_json::json!({ "audit": audit })))
        }
        (Method::POST, ["claims", id, "submit"]) => {
            let claim = service.submit(&principal, &claim_id(id)?).await?;
            Ok(json(StatusCode::ACCEPTED, &claim))
        }
        (Method::POST, ["claims", id, "decision"]) => {
            let claim = service
                .decide(&principal, &claim_id(id)?, json_body(request)?)
                .await?;
            Ok(json(StatusCode::OK, &claim))
        }
        (Method::POST, ["claims", id, "payment"]) => {
            let claim = service
                .pay(&principal, &claim_id(id)?, json_body(request)?)
                .await?;
            Ok(json(StatusCode::OK, &claim))
        }
        (Method::POST, ["ship-debit", "authorizations"]) => {
            let created = service
                .create_authorization(&principal, json_body(request)?)
                .await?;
            Ok(json(StatusCode::CREATED, &created))
        }
        (Method::GET, ["ship-debit", "authorizations"]) => {
            let list = service
                .authorizations(&principal, distributor_param()?)
                .await?;
            Ok(json(
                StatusCode::OK,
                &serde_json::json!({ "authorizations": list }),
            ))
        }
        (Method::POST, ["ship-debit", "claims"]) => {
            let claim = service
                .claim_ship_debit(&principal, json_body(request)?)
                .await?;
            Ok(json(StatusCode::CREATED, &claim))
        }
        (Method::GET, ["ship-debit", "claims"]) => {
            let list = service
                .ship_debit_claims(&principal, distributor_param()?)
                .await?;
            Ok(json(StatusCode::OK, &serde_json::json!({ "claims": list })))
        }
        _ => Err(ApiError::NotFound(format!(
            "no route for {} {}",
            request.method(),
            request.uri().path()
        ))),
    }
}

#[cfg(test)]
mod json_fuzz;
#[cfg(test)]
mod tests;
