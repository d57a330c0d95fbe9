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

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, RequestExt, Response};
use tributary::domain::claim::ClaimStatus;
use tributary::domain::{ClaimId, MdfRequestId, PartnerId, ValidationErrors};
use tributary::http::{ApiError, caller, json, json_body, path_param};
use tributary::route;
use tributary::router::{Answer, Router};
use tributary::workflow::claims::ClaimService;

pub async fn route(service: &ClaimService, request: Request) -> Response<Body> {
    ROUTES.dispatch(service, &request).await
}

/// This function's routes: the `HttpApi` events of `ClaimUploadFunction` in the template.
pub static ROUTES: Router<ClaimService> = Router::new(&[
    route!("POST /funds", create_fund),
    route!("GET /funds", list_funds),
    route!("POST /mdf-requests", request_mdf),
    route!("GET /mdf-requests", list_mdf_requests),
    route!("POST /mdf-requests/{id}/decision", decide_mdf_request),
    route!("POST /claims", create_claim),
    route!("GET /claims", list_claims),
    route!("GET /claims/{id}", read_claim),
    route!("GET /claims/{id}/audit", read_claim_audit),
    route!("POST /claims/{id}/submit", submit_claim),
    route!("POST /claims/{id}/decision", decide_claim),
    route!("POST /claims/{id}/payment", pay_claim),
    route!("POST /ship-debit/authorizations", authorize_ship_debit),
    route!("GET /ship-debit/authorizations", list_authorizations),
    route!("POST /ship-debit/claims", claim_ship_debit),
    route!("GET /ship-debit/claims", list_ship_debit_claims),
]);

async fn create_fund(service: &ClaimService, request: &Request) -> Answer {
    let principal = caller(request)?;
    let fund = service.create_fund(&principal, json_body(request)?).await?;
    Ok(json(StatusCode::CREATED, &fund))
}

async fn list_funds(service: &ClaimService, request: &Request) -> Answer {
    let principal = caller(request)?;
    let partner = partner_filter(request, "partner")?;
    let funds = service.funds(&principal, partner).await?;
    Ok(json(StatusCode::OK, &serde_json::json!({ "funds": funds })))
}

async fn request_mdf(service: &ClaimService, request: &Request) -> Answer {
    let principal = caller(request)?;
    let created = service
        .create_mdf_request(&principal, json_body(request)?)
        .await?;
    Ok(json(StatusCode::CREATED, &created))
}

async fn list_mdf_requests(service: &ClaimService, request: &Request) -> Answer {
    let principal = caller(request)?;
    let partner = partner_filter(request, "partner")?;
    let requests = service.mdf_requests(&principal, partner).await?;
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({ "mdf_requests": requests }),
    ))
}

async fn decide_mdf_request(service: &ClaimService, request: &Request) -> Answer {
    let principal = caller(request)?;
    let id = path_param(request, "id")?;
    let id: MdfRequestId = id
        .parse()
        .map_err(|_| ApiError::NotFound(format!("MDF request {id} not found")))?;
    let decided = service
        .decide_mdf_request(&principal, &id, json_body(request)?)
        .await?;
    Ok(json(StatusCode::OK, &decided))
}

async fn create_claim(service: &ClaimService, request: &Request) -> Answer {
    let principal = caller(request)?;
    let created = service
        .create_claim(&principal, json_body(request)?)
        .await?;
    Ok(json(StatusCode::CREATED, &created))
}

async fn list_claims(service: &ClaimService, request: &Request) -> Answer {
    let principal = caller(request)?;
    let status = request
        .query_string_parameters_ref()
        .and_then(|q| q.first("status"))
        .map(|s| {
            s.parse::<ClaimStatus>()
                .map_err(|e| ApiError::from(ValidationErrors::single("status", e)))
        })
        .transpose()?;
    let partner = partner_filter(request, "partner")?;
    let claims = service.claims(&principal, partner, status).await?;
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({ "claims": claims }),
    ))
}

async fn read_claim(service: &ClaimService, request: &Request) -> Answer {
    let principal = caller(request)?;
    let claim = service.claim(&principal, &claim_id(request)?).await?;
    Ok(json(StatusCode::OK, &claim))
}

async fn read_claim_audit(service: &ClaimService, request: &Request) -> Answer {
    let principal = caller(request)?;
    let audit = service.audit(&principal, &claim_id(request)?).await?;
    Ok(json(StatusCode::OK, &serde_json::json!({ "audit": audit })))
}

async fn submit_claim(service: &ClaimService, request: &Request) -> Answer {
    let principal = caller(request)?;
    let claim = service.submit(&principal, &claim_id(request)?).await?;
    Ok(json(StatusCode::ACCEPTED, &claim))
}

async fn decide_claim(service: &ClaimService, request: &Request) -> Answer {
    let principal = caller(request)?;
    let claim = service
        .decide(&principal, &claim_id(request)?, json_body(request)?)
        .await?;
    Ok(json(StatusCode::OK, &claim))
}

async fn pay_claim(service: &ClaimService, request: &Request) -> Answer {
    let principal = caller(request)?;
    let claim = service
        .pay(&principal, &claim_id(request)?, json_body(request)?)
        .await?;
    Ok(json(StatusCode::OK, &claim))
}

async fn authorize_ship_debit(service: &ClaimService, request: &Request) -> Answer {
    let principal = caller(request)?;
    let created = service
        .create_authorization(&principal, json_body(request)?)
        .await?;
    Ok(json(StatusCode::CREATED, &created))
}

async fn list_authorizations(service: &ClaimService, request: &Request) -> Answer {
    let principal = caller(request)?;
    let distributor = partner_filter(request, "distributor")?;
    let list = service.authorizations(&principal, distributor).await?;
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({ "authorizations": list }),
    ))
}

async fn claim_ship_debit(service: &ClaimService, request: &Request) -> Answer {
    let principal = caller(request)?;
    let claim = service
        .claim_ship_debit(&principal, json_body(request)?)
        .await?;
    Ok(json(StatusCode::CREATED, &claim))
}

async fn list_ship_debit_claims(service: &ClaimService, request: &Request) -> Answer {
    let principal = caller(request)?;
    let distributor = partner_filter(request, "distributor")?;
    let list = service.ship_debit_claims(&principal, distributor).await?;
    Ok(json(StatusCode::OK, &serde_json::json!({ "claims": list })))
}

/// `?partner=` or `?distributor=`: a partner id, a 422 naming the parameter when malformed.
fn partner_filter(request: &Request, name: &str) -> Result<Option<PartnerId>, ApiError> {
    request
        .query_string_parameters_ref()
        .and_then(|q| q.first(name))
        .map(|p| {
            p.parse().map_err(|e: tributary::domain::ids::InvalidId| {
                ValidationErrors::single(name, e.to_string()).into()
            })
        })
        .transpose()
}

/// The `{id}` of a `/claims/{id}/...` route: an id that cannot be a claim's is not found.
fn claim_id(request: &Request) -> Result<ClaimId, ApiError> {
    let id = path_param(request, "id")?;
    id.parse()
        .map_err(|_| ApiError::NotFound(format!("claim {id} not found")))
}

#[cfg(test)]
mod json_fuzz;
#[cfg(test)]
mod tests;
