//! The `/partners` routes and invitations: the onboarding journey from invitation to an active
//! partner, and deactivation.
//! - `POST /invitations` (vendor admin): a one-time token (shown once);
//! - `POST /partners/applications` (no API key: the token is the credential): the partner,
//!   pending, and its onboarding key (shown once);
//! - `GET /partners/{id}` and `GET /partners/{id}/onboarding` (the partner its own, staff any);
//! - `POST /partners/{id}/agreement`, `POST /partners/{id}/documents` (presigned upload),
//!   `POST /partners/{id}/api-key` (once active, once): the partner itself;
//! - `POST /partners/{id}/documents/{type}/review`, `POST /partners/{id}/trainings`,
//!   `POST /partners/{id}/deactivate`: channel managers and vendor admins.
//!
//! Another organisation's partner id answers 404, as if it did not exist, so that ids cannot
//! be probed.

use chrono::Utc;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::Deserialize;
use tributary::domain::onboarding::{
    AgreementRequest, Application, DocumentRequest, DocumentReview, TrainingRequest,
};
use tributary::domain::{PartnerId, access};
use tributary::http::{ApiError, caller, json, json_body, path_param};
use tributary::route;
use tributary::router::{Answer, Router};
use tributary::store::Partners;
use tributary::workflow::onboarding::{InvitationRequest, OnboardingService};

pub async fn route(service: &OnboardingService, request: Request) -> Response<Body> {
    ROUTES.dispatch(service, &request).await
}

/// This function's routes: the `HttpApi` events of `OnboardingFunction` in the template.
pub static ROUTES: Router<OnboardingService> = Router::new(&[
    route!("POST /invitations", invite),
    route!("POST /partners/applications", apply),
    route!("GET /partners/{id}", read_partner),
    route!("GET /partners/{id}/onboarding", read_onboarding),
    route!("POST /partners/{id}/agreement", accept_agreement),
    route!("POST /partners/{id}/documents", declare_document),
    route!(
        "POST /partners/{id}/documents/{type}/review",
        review_document
    ),
    route!("POST /partners/{id}/trainings", record_training),
    route!("POST /partners/{id}/api-key", collect_api_key),
    route!("POST /partners/{id}/deactivate", deactivate),
]);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Deactivation {
    reason: String,
}

async fn invite(service: &OnboardingService, request: &Request) -> Answer {
    let principal = caller(request)?;
    let body: InvitationRequest = json_body(request)?;
    let issued = service.invite(&principal, body, Utc::now()).await?;
    Ok(json(StatusCode::CREATED, &issued))
}

/// The one route without an API key: an applicant has none yet (the token in the body is the
/// credential).
async fn apply(service: &OnboardingService, request: &Request) -> Answer {
    let application: Application = json_body(request)?;
    let applied = service.apply(application, Utc::now()).await?;
    Ok(json(StatusCode::CREATED, &applied))
}

async fn read_partner(service: &OnboardingService, request: &Request) -> Answer {
    let principal = caller(request)?;
    let id = partner_id(request)?;
    let not_found = || ApiError::NotFound(format!("partner {id} not found"));
    if !access::may_see(&principal, id.as_str()) {
        return Err(not_found());
    }
    let record = service
        .store
        .get_partner(&id)
        .await?
        .ok_or_else(not_found)?;
    Ok(json(StatusCode::OK, &record))
}

async fn read_onboarding(service: &OnboardingService, request: &Request) -> Answer {
    let principal = caller(request)?;
    let view = service.view(&principal, &partner_id(request)?).await?;
    Ok(json(StatusCode::OK, &view))
}

async fn accept_agreement(service: &OnboardingService, request: &Request) -> Answer {
    let principal = caller(request)?;
    let body: AgreementRequest = json_body(request)?;
    let id = partner_id(request)?;
    let view = service
        .accept_agreement(&principal, &id, body, Utc::now())
        .await?;
    Ok(json(StatusCode::OK, &view))
}

async fn declare_document(service: &OnboardingService, request: &Request) -> Answer {
    let principal = caller(request)?;
    let body: DocumentRequest = json_body(request)?;
    let id = partner_id(request)?;
    let upload = service
        .document_upload(&principal, &id, body, Utc::now())
        .await?;
    Ok(json(StatusCode::CREATED, &upload))
}

async fn review_document(service: &OnboardingService, request: &Request) -> Answer {
    let principal = caller(request)?;
    let body: DocumentReview = json_body(request)?;
    let id = partner_id(request)?;
    let document_type = path_param(request, "type")?;
    let view = service
        .review_document(&principal, &id, document_type, body, Utc::now())
        .await?;
    Ok(json(StatusCode::OK, &view))
}

async fn record_training(service: &OnboardingService, request: &Request) -> Answer {
    let principal = caller(request)?;
    let body: TrainingRequest = json_body(request)?;
    let id = partner_id(request)?;
    let view = service
        .record_training_by_manager(&principal, &id, body, Utc::now())
        .await?;
    Ok(json(StatusCode::OK, &view))
}

async fn collect_api_key(service: &OnboardingService, request: &Request) -> Answer {
    let principal = caller(request)?;
    let key = service
        .collect_api_key(&principal, &partner_id(request)?, Utc::now())
        .await?;
    Ok(json(
        StatusCode::CREATED,
        &serde_json::json!({ "api_key": key }),
    ))
}

async fn deactivate(service: &OnboardingService, request: &Request) -> Answer {
    let principal = caller(request)?;
    let body: Deactivation = json_body(request)?;
    let id = partner_id(request)?;
    let view = service
        .deactivate(&principal, &id, &body.reason, Utc::now())
        .await?;
    Ok(json(StatusCode::OK, &view))
}

/// The `{id}` of a `/partners/{id}...` route: an id that cannot be a partner's is not found.
fn partner_id(request: &Request) -> Result<PartnerId, ApiError> {
    let id = path_param(request, "id")?;
    id.parse()
        .map_err(|_| ApiError::NotFound(format!("partner {id} not found")))
}

#[cfg(test)]
mod json_fuzz;

#[cfg(test)]
mod tests;
