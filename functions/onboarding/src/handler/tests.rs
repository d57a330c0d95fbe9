use super::*;
use lambda_http::request::from_str;
use tributary::domain::{Partner, PartnerStatus};
use tributary::testing;

/// The sample event in events/, for `partner_id`, as a caller with `role` and `principal`.
fn request(partner_id: &str, role: &str, principal: &str) -> Request {
    let mut event: serde_json::Value = serde_json::from_str(include_str!(
        "../../../../events/onboarding-get-partner.json"
    ))
    .unwrap();
    event["pathParameters"]["id"] = partner_id.into();
    event["rawPath"] = format!("/partners/{partner_id}").into();
    event["requestContext"]["authorizer"]["lambda"]["role"] = role.into();
    event["requestContext"]["authorizer"]["lambda"]["principalId"] = principal.into();
    from_str(&event.to_string()).unwrap()
}

async fn store_with_partner() -> (OnboardingService, Partner) {
    let service = testing::onboarding_service().await;
    let partner = testing::partner(&service.store, PartnerStatus::Active).await;
    (service, partner)
}

fn body(response: &Response<Body>) -> serde_json::Value {
    testing::response_json(response)
}

#[tokio::test]
async fn a_partner_reads_its_own_record() {
    let (store, partner) = store_with_partner().await;
    let response = route(
        &store,
        request(partner.id.as_str(), "partner", partner.id.as_str()),
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(body(&response)["name"], "Acme");
    assert_eq!(body(&response)["status"], "active");
}

#[tokio::test]
async fn another_partners_record_is_a_404() {
    let (store, partner) = store_with_partner().await;
    let other = PartnerId::generate();
    let response = route(
        &store,
        request(partner.id.as_str(), "partner", other.as_str()),
    )
    .await;
    assert_eq!(response.status(), 404);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
}

#[tokio::test]
async fn vendor_staff_read_any_record_and_unknown_ids_are_404() {
    let (store, partner) = store_with_partner().await;
    let response = route(
        &store,
        request(partner.id.as_str(), "channel_manager", "alice"),
    )
    .await;
    assert_eq!(response.status(), 200);
    let unknown = PartnerId::generate();
    let response = route(&store, request(unknown.as_str(), "vendor_admin", "bob")).await;
    assert_eq!(response.status(), 404);
    let response = route(&store, request("not-an-id", "vendor_admin", "bob")).await;
    assert_eq!(response.status(), 404);
}

#[tokio::test]
async fn a_request_without_authorizer_context_is_refused() {
    let (store, partner) = store_with_partner().await;
    let mut event: serde_json::Value = serde_json::from_str(include_str!(
        "../../../../events/onboarding-get-partner.json"
    ))
    .unwrap();
    event["requestContext"]
        .as_object_mut()
        .unwrap()
        .remove("authorizer");
    event["pathParameters"]["id"] = partner.id.as_str().into();
    let response = route(&store, from_str(&event.to_string()).unwrap()).await;
    assert_eq!(response.status(), 401);
}

// The onboarding journey, through the routes.

const SAMPLE: &str = include_str!("../../../../events/onboarding-get-partner.json");

async fn call(
    service: &OnboardingService,
    method: &str,
    path: &str,
    body: Option<serde_json::Value>,
    role: &str,
    principal: &str,
) -> (u16, serde_json::Value) {
    let request = testing::api_request(SAMPLE, method, path, body, role, principal);
    let response = route(service, request).await;
    let status = response.status().as_u16();
    (status, testing::response_json(&response))
}

/// `POST /partners/applications` with `body`, as the gateway passes it: its route key, and
/// no authorizer context (the route needs no API key).
pub(super) fn application(body: &serde_json::Value) -> Request {
    let mut event: serde_json::Value = serde_json::from_str(SAMPLE).unwrap();
    event["requestContext"]
        .as_object_mut()
        .unwrap()
        .remove("authorizer");
    event["routeKey"] = "POST /partners/applications".into();
    event["requestContext"]["routeKey"] = "POST /partners/applications".into();
    event["pathParameters"] = serde_json::json!({});
    event["requestContext"]["http"]["method"] = "POST".into();
    event["requestContext"]["http"]["path"] = "/partners/applications".into();
    event["rawPath"] = "/partners/applications".into();
    event["body"] = body.to_string().into();
    from_str(&event.to_string()).unwrap()
}

/// An application through the route that needs no API key.
async fn apply(service: &OnboardingService, token: &str) -> (u16, serde_json::Value) {
    let body = serde_json::json!({
        "token": token, "company_name": "Wingtip Toys", "country": "FR", "tax_id": "FR-123",
        "contact": {"name": "Ana Silva", "email": "ana@wingtip.example"}
    });
    let response = route(service, application(&body)).await;
    let status = response.status().as_u16();
    (status, testing::response_json(&response))
}

async fn invitation(service: &OnboardingService) -> String {
    let (status, body) = call(
        service,
        "POST",
        "/invitations",
        Some(serde_json::json!({"email": "ana@wingtip.example"})),
        "vendor_admin",
        "ada",
    )
    .await;
    assert_eq!(status, 201, "{body}");
    body["token"].as_str().unwrap().to_string()
}

/// A partner through the whole journey: applied, agreed, document verified, trained.
async fn activated(service: &OnboardingService) -> (String, String) {
    let token = invitation(service).await;
    let (status, applied) = apply(service, &token).await;
    assert_eq!(status, 201, "{applied}");
    let id = applied["partner"]["id"].as_str().unwrap().to_string();
    let key = applied["onboarding_api_key"].as_str().unwrap().to_string();
    assert_eq!(applied["partner"]["status"], "pending");
    let agreement = serde_json::json!({"version": "2026-1", "signer_name": "Ana Silva",
        "signer_email": "ana@wingtip.example"});
    let (status, body) = call(
        service,
        "POST",
        &format!("/partners/{id}/agreement"),
        Some(agreement),
        "partner",
        &id,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let declared = serde_json::json!({"document_type": "tax_form", "file_name": "w9.pdf",
        "content_type": "application/pdf", "size": 4});
    let (status, upload) = call(
        service,
        "POST",
        &format!("/partners/{id}/documents"),
        Some(declared),
        "partner",
        &id,
    )
    .await;
    assert_eq!(status, 201, "{upload}");
    // Verifying what was never uploaded is refused.
    let verify = serde_json::json!({"decision": "verify"});
    let review = format!("/partners/{id}/documents/tax_form/review");
    let (status, _) = call(
        service,
        "POST",
        &review,
        Some(verify.clone()),
        "channel_manager",
        "cm",
    )
    .await;
    assert_eq!(status, 409);
    service
        .s3
        .put_object()
        .bucket(&service.settings.documents_bucket)
        .key(format!("onboarding/{id}/tax_form/01/w9.pdf"))
        .content_type("application/pdf")
        .body(b"%PDF".to_vec().into())
        .send()
        .await
        .unwrap();
    let (status, body) = call(
        service,
        "POST",
        &review,
        Some(verify),
        "channel_manager",
        "cm",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["partner"]["status"], "pending");
    let training = serde_json::json!({"course": "sales-101", "completed_on": "2026-11-20"});
    let (status, body) = call(
        service,
        "POST",
        &format!("/partners/{id}/trainings"),
        Some(training),
        "channel_manager",
        "cm",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["partner"]["status"], "active");
    assert_eq!(body["complete"], true);
    (id, key)
}

#[tokio::test]
async fn the_journey_from_invitation_to_an_active_partner_with_its_key() {
    let service = testing::onboarding_service().await;
    let (id, onboarding_key) = activated(&service).await;
    // The agreement accepted again (a step done twice) records nothing more.
    let agreement = serde_json::json!({"version": "2026-1", "signer_name": "Ana Silva",
        "signer_email": "ana@wingtip.example"});
    let (_, before) = call(
        &service,
        "GET",
        &format!("/partners/{id}/onboarding"),
        None,
        "partner",
        &id,
    )
    .await;
    let (status, after) = call(
        &service,
        "POST",
        &format!("/partners/{id}/agreement"),
        Some(agreement),
        "partner",
        &id,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        before["onboarding"]["history"].as_array().unwrap().len(),
        after["onboarding"]["history"].as_array().unwrap().len()
    );
    let whats: Vec<_> = after["onboarding"]["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["what"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        whats,
        [
            "applied",
            "agreement accepted",
            "document declared",
            "document verified",
            "training completed",
            "activated"
        ]
    );
    // The key: handed out once (two calls at once: one key), the onboarding key revoked.
    let path = format!("/partners/{id}/api-key");
    let (first, second) = tokio::join!(
        call(&service, "POST", &path, None, "partner", &id),
        call(&service, "POST", &path, None, "partner", &id)
    );
    let mut statuses = [first.0, second.0];
    statuses.sort();
    assert_eq!(statuses, [201, 409], "{first:?} {second:?}");
    let body = if first.0 == 201 { first.1 } else { second.1 };
    let key = body["api_key"].as_str().unwrap();
    assert!(key.starts_with("trb_"));
    let (status, _) = call(&service, "POST", &path, None, "partner", &id).await;
    assert_eq!(status, 409);
    use tributary::store::ApiKeys;
    let keys = service.store.list_keys(&id).await.unwrap();
    let active: Vec<_> = keys
        .iter()
        .filter(|k| k.status == tributary::domain::KeyStatus::Active)
        .collect();
    assert_eq!(active.len(), 1);
    assert!(!onboarding_key.contains(active[0].key_id.as_str()));
    // Activation was announced.
    let sqs = testing::sqs_client().await;
    let events: Vec<String> = testing::drain(&sqs, &service.settings.notifications_queue_url)
        .await
        .iter()
        .map(|b| {
            serde_json::from_str::<serde_json::Value>(b).unwrap()["payload"]["event"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert!(
        events.contains(&"partner.activated".to_string()),
        "{events:?}"
    );
}

#[tokio::test]
async fn tokens_are_refused_when_unknown_reused_or_expired() {
    let service = testing::onboarding_service().await;
    let (status, body) = apply(&service, "inv_nonsense").await;
    assert_eq!(status, 403, "{body}");
    let unknown = format!("inv_{}", "a".repeat(64));
    assert_eq!(apply(&service, &unknown).await.0, 403);
    let token = invitation(&service).await;
    assert_eq!(apply(&service, &token).await.0, 201);
    let (status, body) = apply(&service, &token).await;
    assert_eq!(status, 403);
    assert!(body["detail"].as_str().unwrap().contains("used"), "{body}");
    // An expired invitation.
    use tributary::domain::onboarding::{Invitation, InvitationToken};
    use tributary::store::OnboardingStore;
    let old = InvitationToken::generate();
    let long_ago = chrono::Utc::now() - chrono::Duration::days(30);
    service
        .store
        .create_invitation(&Invitation {
            token_hash: old.hash(),
            kind: tributary::domain::PartnerKind::Reseller,
            email: None,
            created_by: "ada".into(),
            created_at: long_ago,
            expires_at: long_ago + chrono::Duration::days(14),
        })
        .await
        .unwrap();
    let (status, body) = apply(&service, old.reveal()).await;
    assert_eq!(status, 403);
    assert!(
        body["detail"].as_str().unwrap().contains("expired"),
        "{body}"
    );
    // Only vendor admins invite.
    let (status, _) = call(
        &service,
        "POST",
        "/invitations",
        Some(serde_json::json!({})),
        "channel_manager",
        "cm",
    )
    .await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn a_new_agreement_version_requires_acceptance_again() {
    let mut service = testing::onboarding_service().await;
    let (id, _) = activated(&service).await;
    service.settings.policy.agreement_version = "2027-1".into();
    // An active partner with a new agreement to accept is reminded once the period passes.
    let later = chrono::Utc::now() + chrono::Duration::days(8);
    assert_eq!(service.sweep(later).await.unwrap().reminders, 1);
    let (_, view) = call(
        &service,
        "GET",
        &format!("/partners/{id}/onboarding"),
        None,
        "channel_manager",
        "cm",
    )
    .await;
    assert_eq!(view["complete"], false);
    assert_eq!(view["steps"][0]["done"], false);
    let old = serde_json::json!({"version": "2026-1", "signer_name": "Ana Silva",
        "signer_email": "ana@wingtip.example"});
    let (status, body) = call(
        &service,
        "POST",
        &format!("/partners/{id}/agreement"),
        Some(old),
        "partner",
        &id,
    )
    .await;
    assert_eq!(status, 422, "{body}");
    let new = serde_json::json!({"version": "2027-1", "signer_name": "Ana Silva",
        "signer_email": "ana@wingtip.example"});
    let (status, view) = call(
        &service,
        "POST",
        &format!("/partners/{id}/agreement"),
        Some(new),
        "partner",
        &id,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(view["complete"], true);
    assert_eq!(view["onboarding"]["agreement"]["version"], "2027-1");
}

#[tokio::test]
async fn tiers_move_up_and_down_at_their_boundaries() {
    use tributary::domain::Money;
    use tributary::store::OnboardingStore;
    let service = testing::onboarding_service().await;
    let (id, _) = activated(&service).await;
    let partner: PartnerId = id.parse().unwrap();
    let month = chrono::Utc::now().format("%Y-%m").to_string();
    let usd = |amount: &str| Money::parse(amount, "USD").unwrap();
    let sale = |n: &str, amount: &str| {
        let sales = vec![(partner.clone(), month.clone(), usd(amount))];
        let store = &service.store;
        let n = n.to_string();
        async move {
            store
                .add_partner_sales(&n, &sales, chrono::Utc::now())
                .await
                .unwrap()
        }
    };
    // One certification and exactly $1M: Silver.
    sale("m1", "1000000.00").await;
    sale("m1", "1000000.00").await; // redelivered: counted once
    let summary = service.sweep(chrono::Utc::now()).await.unwrap();
    assert_eq!(summary.tier_changes, 1);
    let tier = || async {
        service
            .store
            .get_partner(&partner)
            .await
            .unwrap()
            .unwrap()
            .tier
    };
    assert_eq!(tier().await.as_deref(), Some("Silver"));
    // $5M and a second certification: Gold, at once when the course is recorded.
    sale("m2", "4000000.00").await;
    let training =
        serde_json::json!({"course": "advanced-networking", "completed_on": "2026-11-21"});
    call(
        &service,
        "POST",
        &format!("/partners/{id}/trainings"),
        Some(training),
        "channel_manager",
        "cm",
    )
    .await;
    assert_eq!(tier().await.as_deref(), Some("Gold"));
    // A return of one cent takes it under $5M: Silver again, on the next sweep.
    sale("m3", "-0.01").await;
    service.sweep(chrono::Utc::now()).await.unwrap();
    assert_eq!(tier().await.as_deref(), Some("Silver"));
    let history = service.store.tier_history(&partner).await.unwrap();
    let moves: Vec<_> = history
        .iter()
        .map(|c| (c.to.clone(), c.direction.clone()))
        .collect();
    assert_eq!(
        moves,
        [
            (Some("Silver".to_string()), "upgrade".to_string()),
            (Some("Gold".to_string()), "upgrade".to_string()),
            (Some("Silver".to_string()), "downgrade".to_string())
        ]
    );
    // Nothing changes on a sweep with the same numbers.
    assert_eq!(
        service
            .sweep(chrono::Utc::now())
            .await
            .unwrap()
            .tier_changes,
        0
    );
}

#[tokio::test]
async fn deactivation_revokes_keys_and_keeps_history() {
    let service = testing::onboarding_service().await;
    let (id, _) = activated(&service).await;
    let (status, _) = call(
        &service,
        "POST",
        &format!("/partners/{id}/deactivate"),
        Some(serde_json::json!({"reason": "contract ended"})),
        "partner",
        &id,
    )
    .await;
    assert_eq!(status, 403);
    let (status, view) = call(
        &service,
        "POST",
        &format!("/partners/{id}/deactivate"),
        Some(serde_json::json!({"reason": "contract ended"})),
        "channel_manager",
        "cm",
    )
    .await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["partner"]["status"], "inactive");
    assert_eq!(view["onboarding"]["history"].as_array().unwrap().len(), 7);
    use tributary::store::ApiKeys;
    let keys = service.store.list_keys(&id).await.unwrap();
    assert!(
        keys.iter()
            .all(|k| k.status == tributary::domain::KeyStatus::Revoked)
    );
    let partner = service
        .store
        .get_partner(&id.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(!partner.may_transact());
    // Its steps are refused now.
    let agreement = serde_json::json!({"version": "2026-1", "signer_name": "Ana Silva",
        "signer_email": "ana@wingtip.example"});
    let (status, _) = call(
        &service,
        "POST",
        &format!("/partners/{id}/agreement"),
        Some(agreement),
        "partner",
        &id,
    )
    .await;
    assert_eq!(status, 403);
    let training = serde_json::json!({"course": "late", "completed_on": "2026-11-21"});
    let (status, _) = call(
        &service,
        "POST",
        &format!("/partners/{id}/trainings"),
        Some(training),
        "channel_manager",
        "cm",
    )
    .await;
    assert_eq!(status, 403);
    // Deactivating again changes nothing more.
    let (status, view) = call(
        &service,
        "POST",
        &format!("/partners/{id}/deactivate"),
        Some(serde_json::json!({"reason": "again"})),
        "channel_manager",
        "cm",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(view["onboarding"]["history"].as_array().unwrap().len(), 7);
}

#[tokio::test]
async fn stalled_onboardings_get_one_reminder_per_period() {
    let service = testing::onboarding_service().await;
    let token = invitation(&service).await;
    let (_, applied) = apply(&service, &token).await;
    let id = applied["partner"]["id"].as_str().unwrap().to_string();
    let later = chrono::Utc::now() + chrono::Duration::days(8);
    assert_eq!(
        service.sweep(chrono::Utc::now()).await.unwrap().reminders,
        0
    );
    assert_eq!(service.sweep(later).await.unwrap().reminders, 1);
    assert_eq!(service.sweep(later).await.unwrap().reminders, 0);
    let sqs = testing::sqs_client().await;
    let reminders: Vec<serde_json::Value> =
        testing::drain(&sqs, &service.settings.notifications_queue_url)
            .await
            .iter()
            .map(|b| serde_json::from_str::<serde_json::Value>(b).unwrap()["payload"].clone())
            .filter(|p| p["event"] == "onboarding.reminder")
            .collect();
    assert_eq!(reminders.len(), 1);
    assert_eq!(reminders[0]["partner_id"], id.as_str());
    assert_eq!(reminders[0]["missing"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn bad_onboarding_input_is_refused_by_name() {
    let service = testing::onboarding_service().await;
    let token = invitation(&service).await;
    let (_, applied) = apply(&service, &token).await;
    let id = applied["partner"]["id"].as_str().unwrap().to_string();
    let bad = serde_json::json!({"document_type": "passport", "file_name": "a/b.exe",
        "content_type": "application/x-msdownload", "size": 0});
    let (status, body) = call(
        &service,
        "POST",
        &format!("/partners/{id}/documents"),
        Some(bad),
        "partner",
        &id,
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(body["errors"].as_array().unwrap().len(), 4);
    let other = PartnerId::generate();
    let (status, _) = call(
        &service,
        "GET",
        &format!("/partners/{id}/onboarding"),
        None,
        "partner",
        other.as_str(),
    )
    .await;
    assert_eq!(status, 404);
    let reject = serde_json::json!({"decision": "reject"});
    let declared = serde_json::json!({"document_type": "tax_form", "file_name": "w9.pdf",
        "content_type": "application/pdf", "size": 4});
    call(
        &service,
        "POST",
        &format!("/partners/{id}/documents"),
        Some(declared),
        "partner",
        &id,
    )
    .await;
    let (status, body) = call(
        &service,
        "POST",
        &format!("/partners/{id}/documents/tax_form/review"),
        Some(reject),
        "channel_manager",
        "cm",
    )
    .await;
    assert_eq!(status, 422, "{body}");
    let future = serde_json::json!({"course": "sales-101", "completed_on": "2099-01-01"});
    let (status, _) = call(
        &service,
        "POST",
        &format!("/partners/{id}/trainings"),
        Some(future),
        "channel_manager",
        "cm",
    )
    .await;
    assert_eq!(status, 422);
}

#[test]
fn the_route_table_is_the_templates() {
    tributary::testing::routes::assert_route_table("onboarding", ROUTES.keys());
}
