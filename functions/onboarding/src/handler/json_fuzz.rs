//! Hostile JSON bodies on every onboarding route with a body: mutations of valid bodies never
//! panic the handler and never get a 5xx (see `tributary::testing::fuzz`).

use super::*;
use serde_json::{Value, json};
use tributary::testing::{self, fuzz};

const SAMPLE: &str = include_str!("../../../../events/onboarding-get-partner.json");
/// Stands for a fresh invitation token in the application sample.
const TOKEN: &str = "<token>";

fn request(path: &str, body: Value, role: &str, who: &str) -> Request {
    testing::api_request(SAMPLE, "POST", path, Some(body), role, who)
}

/// `POST /partners/applications`, which has no authorizer context.
fn application(body: Value) -> Request {
    super::tests::application(&body)
}

fn application_sample() -> Value {
    json!({"token": TOKEN, "company_name": "Wingtip Toys", "country": "FR", "tax_id": "FR-123",
        "contact": {"name": "Ana Silva", "email": "ana@wingtip.example", "phone": "+33 1 23 45 67 89"}})
}

async fn invitation(service: &OnboardingService) -> String {
    let response = route(
        service,
        request("/invitations", json!({}), "vendor_admin", "ada"),
    )
    .await;
    assert_eq!(response.status(), 201);
    testing::response_json(&response)["token"]
        .as_str()
        .unwrap()
        .to_string()
}

/// A pending partner, applied through the route.
async fn applicant(service: &OnboardingService) -> String {
    let mut body = application_sample();
    body["token"] = invitation(service).await.into();
    let response = route(service, application(body)).await;
    assert_eq!(response.status(), 201);
    testing::response_json(&response)["partner"]["id"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn invitation_bodies_never_get_a_server_error() {
    let service = testing::onboarding_service().await;
    fuzz::check_route(
        "POST /invitations",
        &json!({"kind": "distributor", "email": "ana@wingtip.example"}),
        |body| request("/invitations", body, "vendor_admin", "ada"),
        |r| route(&service, r),
    )
    .await;
}

/// Each case gets an unused token (a new one once a case used the last) unless the case
/// replaced the token itself.
#[tokio::test]
async fn application_bodies_never_get_a_server_error() {
    let service = testing::onboarding_service().await;
    let mut token: Option<String> = None;
    for mutant in fuzz::mutants("POST /partners/applications", &application_sample()) {
        let mut body = mutant.body;
        let fresh = body.get("token") == Some(&json!(TOKEN));
        if fresh {
            let current = match token.take() {
                Some(token) => token,
                None => invitation(&service).await,
            };
            body["token"] = current.clone().into();
            token = Some(current);
        }
        let response =
            testing::send_user_request(&mutant.what, |r| route(&service, r), application(body))
                .await;
        if response.status().is_success() {
            token = None;
        }
    }
}

#[tokio::test]
async fn partner_step_bodies_never_get_a_server_error() {
    let service = testing::onboarding_service().await;
    let id = applicant(&service).await;
    let yesterday = (Utc::now().date_naive() - chrono::Days::new(1)).to_string();
    let as_partner = [
        (
            "agreement",
            json!({"version": "2026-1", "signer_name": "Ana Silva", "signer_email": "ana@wingtip.example"}),
        ),
        (
            "documents",
            json!({"document_type": "tax_form", "file_name": "w9.pdf", "content_type": "application/pdf", "size": 4}),
        ),
    ];
    for (step, sample) in as_partner {
        let path = format!("/partners/{id}/{step}");
        fuzz::check_route(
            &format!("POST /partners/{{id}}/{step}"),
            &sample,
            |body| request(&path, body, "partner", &id),
            |r| route(&service, r),
        )
        .await;
    }
    let as_manager = [
        (
            "documents/tax_form/review",
            json!({"decision": "reject", "reason": "the scan is unreadable"}),
        ),
        (
            "trainings",
            json!({"course": "sales-101", "completed_on": yesterday}),
        ),
    ];
    for (step, sample) in as_manager {
        let path = format!("/partners/{id}/{step}");
        fuzz::check_route(
            &format!("POST /partners/{{id}}/{step}"),
            &sample,
            |body| request(&path, body, "channel_manager", "cm"),
            |r| route(&service, r),
        )
        .await;
    }
}

#[tokio::test]
async fn deactivation_bodies_never_get_a_server_error() {
    let service = testing::onboarding_service().await;
    let id = applicant(&service).await;
    let path = format!("/partners/{id}/deactivate");
    fuzz::check_route(
        "POST /partners/{id}/deactivate",
        &json!({"reason": "contract ended"}),
        |body| request(&path, body, "channel_manager", "cm"),
        |r| route(&service, r),
    )
    .await;
}
