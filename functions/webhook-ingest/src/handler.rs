//! Inbound webhooks and their sources:
//! - `POST /webhooks/{source}` (no API key: the `Chan-Signature` header is the credential):
//!   202 once the event is stored and queued, 200 for an unknown type (stored, ignored) or an
//!   id received before; 413 for a body over 256 KiB (before any hashing); 401 for an unknown
//!   source or a bad, stale, missing or malformed signature header (its shape is checked before
//!   any MAC), 400 for a body that is not an event or a routed type with invalid data
//!   (nothing stored);
//! - `POST /webhook-sources`, `POST /webhook-sources/{id}/rotate` (vendor admins): the secret
//!   is in that answer only;
//! - `GET /webhook-sources`, `GET /webhook-sources/{id}/events?limit=` (vendor staff).

use chrono::Utc;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use tributary::domain::webhook::{SIGNATURE_HEADER, SignatureError};
use tributary::http::{ApiError, MAX_BODY_BYTES, caller, json, json_body, path_param};
use tributary::paging::PageRequest;
use tributary::route;
use tributary::router::{Answer, Router};
use tributary::workflow::webhooks::{Receipt, RotationRequest, WebhookIngest};

pub async fn route(service: &WebhookIngest, request: Request) -> Response<Body> {
    ROUTES.dispatch(service, &request).await
}

/// This function's routes: the `HttpApi` events of `WebhookIngestFunction` in the template.
pub static ROUTES: Router<WebhookIngest> = Router::new(&[
    route!("POST /webhooks/{source}", receive),
    route!("POST /webhook-sources", create_source),
    route!("GET /webhook-sources", list_sources),
    route!("POST /webhook-sources/{id}/rotate", rotate_secret),
    route!("GET /webhook-sources/{id}/events", list_events),
]);

/// The public route: the signature is the credential, checked before the body is read.
async fn receive(service: &WebhookIngest, request: &Request) -> Answer {
    let body: &[u8] = request.body().as_ref();
    if body.len() > MAX_BODY_BYTES {
        return Err(ApiError::PayloadTooLarge(body.len()));
    }
    // A header of other than visible ASCII is there, and malformed: not "missing".
    let signature = match request.headers().get(SIGNATURE_HEADER) {
        None => None,
        Some(value) => Some(value.to_str().map_err(|_| {
            ApiError::SignatureRefused(SignatureError::Malformed("not visible ASCII").to_string())
        })?),
    };
    let source = path_param(request, "source")?;
    let (receipt, event_id) = service.receive(source, signature, body, Utc::now()).await?;
    let status = match receipt {
        Receipt::Queued => StatusCode::ACCEPTED,
        Receipt::Ignored | Receipt::Duplicate => StatusCode::OK,
    };
    Ok(json(
        status,
        &serde_json::json!({ "status": receipt, "event_id": event_id }),
    ))
}

async fn create_source(service: &WebhookIngest, request: &Request) -> Answer {
    let principal = caller(request)?;
    let created = service
        .create_source(&principal, json_body(request)?, Utc::now())
        .await?;
    Ok(json(StatusCode::CREATED, &created))
}

async fn list_sources(service: &WebhookIngest, request: &Request) -> Answer {
    let sources = service.sources(&caller(request)?, Utc::now()).await?;
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({ "sources": sources }),
    ))
}

async fn rotate_secret(service: &WebhookIngest, request: &Request) -> Answer {
    let principal = caller(request)?;
    let rotation = if request.body().is_empty() {
        RotationRequest::default()
    } else {
        json_body(request)?
    };
    let rotated = service
        .rotate(&principal, path_param(request, "id")?, rotation, Utc::now())
        .await?;
    Ok(json(StatusCode::OK, &rotated))
}

async fn list_events(service: &WebhookIngest, request: &Request) -> Answer {
    let principal = caller(request)?;
    let limit = PageRequest::newest_only(request)?;
    let events = service
        .events(&principal, path_param(request, "id")?, limit)
        .await?;
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({ "events": events }),
    ))
}

#[cfg(test)]
mod json_fuzz;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};
    use tributary::domain::webhook::{EventStatus, sign};
    use tributary::store::WebhookStore;
    use tributary::testing;

    #[test]
    fn the_route_table_is_the_templates() {
        testing::routes::assert_route_table("webhook-ingest", ROUTES.keys());
    }

    const SAMPLE: &str = include_str!("../../../events/webhook-ingest.json");
    /// An authenticated API request (the webhook route has no authorizer).
    const API_SAMPLE: &str = include_str!("../../../events/subscriptions.json");

    fn admin(method: &str, path: &str, body: Option<Value>) -> Request {
        testing::api_request(API_SAMPLE, method, path, body, "vendor_admin", "admin-1")
    }

    /// `POST /webhooks/{source}` with `body` and, if any, the signature header as given.
    fn delivery(source: &str, body: &str, signature: Option<String>) -> Request {
        let mut event: Value = serde_json::from_str(SAMPLE).unwrap();
        event["rawPath"] = format!("/webhooks/{source}").into();
        event["requestContext"]["http"]["path"] = format!("/webhooks/{source}").into();
        event["pathParameters"] = json!({ "source": source });
        event["body"] = body.into();
        let headers = event["headers"].as_object_mut().unwrap();
        headers.remove("chan-signature");
        if let Some(signature) = signature {
            headers.insert("chan-signature".into(), signature.into());
        }
        lambda_http::request::from_str(&event.to_string()).unwrap()
    }

    fn signed(source: &str, secret: &str, body: &str) -> Request {
        delivery(
            source,
            body,
            Some(sign(secret, Utc::now().timestamp(), body.as_bytes())),
        )
    }

    async fn create_source(service: &WebhookIngest, id: &str, types: Value) -> String {
        let response = route(
            service,
            admin(
                "POST",
                "/webhook-sources",
                Some(json!({ "id": id, "name": "The LMS", "event_types": types })),
            ),
        )
        .await;
        assert_eq!(response.status(), 201);
        let body = testing::response_json(&response);
        body["secret"].as_str().unwrap().to_string()
    }

    fn training(id: &str, partner: &str) -> String {
        json!({
            "id": id,
            "type": "training.completed",
            "occurred_at": "2026-11-30T10:00:00Z",
            "data": { "partner_id": partner, "course": "sales-101", "completed_on": "2026-11-30" }
        })
        .to_string()
    }

    const PARTNER: &str = "ptn_01hzx3v4b5c6d7e8f9g0h1j2k3";

    #[tokio::test]
    async fn bad_signatures_are_refused_and_store_nothing() {
        let fixture = testing::webhooks().await;
        let service = &fixture.ingest;
        let secret = create_source(service, "lms", json!(["training.completed"])).await;
        let body = training("evt-1", PARTNER);
        let now = Utc::now().timestamp();
        let tampered = body.replace("sales-101", "sales-999");
        let cases = [
            (
                "wrong secret",
                Some(sign("whsec_not_it", now, body.as_bytes())),
                body.clone(),
            ),
            (
                "tampered body",
                Some(sign(&secret, now, body.as_bytes())),
                tampered,
            ),
            (
                "old timestamp",
                Some(sign(&secret, now - 301, body.as_bytes())),
                body.clone(),
            ),
            ("missing header", None, body.clone()),
            (
                "malformed header",
                Some(String::from("sha256=abc")),
                body.clone(),
            ),
        ];
        for (case, signature, sent) in cases {
            let response = route(service, delivery("lms", &sent, signature)).await;
            assert_eq!(response.status(), 401, "{case}");
            let problem = testing::response_json(&response);
            assert_eq!(
                problem["type"],
                "https://tributary.dev/problems/invalid-signature"
            );
            assert!(!problem["detail"].as_str().unwrap().is_empty(), "{case}");
        }
        // An unknown source is refused the same way.
        let response = route(service, signed("erp", &secret, &body)).await;
        assert_eq!(response.status(), 401);
        assert!(service.store.event("lms", "evt-1").await.unwrap().is_none());
        assert!(
            testing::drain(&testing::sqs_client().await, &service.events_queue_url)
                .await
                .is_empty()
        );
    }

    /// Defect 3: a large body under a header of 1,500 empty values was answered 401 only after
    /// one HMAC of the body per value and per secret. It is refused for the header's shape; an
    /// oversized body is refused before the signature is looked at.
    #[tokio::test]
    async fn signature_headers_of_a_bad_shape_are_refused_for_it() {
        let fixture = testing::webhooks().await;
        let service = &fixture.ingest;
        let secret = create_source(service, "lms", json!(["training.completed"])).await;
        let now = Utc::now().timestamp();
        let body = format!(
            r#"{{"id":"evt-big","type":"training.completed","pad":"{}"}}"#,
            "x".repeat(200 * 1024)
        );
        let valid = sign(&secret, now, body.as_bytes());
        let v1 = valid.split("v1=").nth(1).unwrap().to_string();
        let cases = [
            (format!("t={now}{}", ",v1=".repeat(1500)), "longer than"),
            (format!("t={now},v1="), "empty"),
            (format!("t={now},v1=,v1={v1}"), "empty"),
            (
                format!(
                    "t={now}{},v1={v1}",
                    format!(",v1={}", "0".repeat(64)).repeat(5)
                ),
                "more than 5",
            ),
        ];
        for (header, fault) in cases {
            let response = route(service, delivery("lms", &body, Some(header))).await;
            assert_eq!(response.status(), 401, "{fault}");
            let problem = testing::response_json(&response);
            let detail = problem["detail"].as_str().unwrap();
            assert!(
                detail.contains("malformed") && detail.contains(fault),
                "{fault}: {detail}"
            );
        }
        // Bytes that are not visible ASCII make a malformed header, not a missing one.
        let mut request = delivery("lms", &body, None);
        request.headers_mut().insert(
            SIGNATURE_HEADER,
            lambda_http::http::HeaderValue::from_bytes(b"t=1,v1=\xe9").unwrap(),
        );
        let response = route(service, request).await;
        assert_eq!(response.status(), 401);
        let detail = testing::response_json(&response)["detail"].to_string();
        assert!(detail.contains("malformed: not visible ASCII"), "{detail}");
        // A body over the limit is refused before any hashing, whatever the header.
        let oversized = format!("{{\"pad\":\"{}\"}}", "x".repeat(MAX_BODY_BYTES));
        let header = format!("t={now}{}", ",v1=".repeat(1500));
        let response = route(service, delivery("lms", &oversized, Some(header))).await;
        assert_eq!(response.status(), 413);
        assert!(
            service
                .store
                .event("lms", "evt-big")
                .await
                .unwrap()
                .is_none()
        );
    }

    #[tokio::test]
    async fn a_source_must_list_the_types_it_may_send() {
        let fixture = testing::webhooks().await;
        let service = &fixture.ingest;
        for (body, field) in [
            (json!({ "id": "lms", "name": "The LMS" }), "event_types"),
            (
                json!({ "id": "lms", "name": "The LMS", "event_types": [] }),
                "event_types",
            ),
        ] {
            let response = route(service, admin("POST", "/webhook-sources", Some(body))).await;
            assert_eq!(response.status(), 422);
            let problem = testing::response_json(&response);
            assert_eq!(problem["errors"][0]["field"], field, "{problem}");
        }
        assert!(service.store.source("lms").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn an_event_is_stored_and_queued_once() {
        let fixture = testing::webhooks().await;
        let service = &fixture.ingest;
        let secret = create_source(service, "lms", json!(["training.completed"])).await;
        let body = training("evt-1", PARTNER);
        let response = route(service, signed("lms", &secret, &body)).await;
        assert_eq!(response.status(), 202);
        assert_eq!(testing::response_json(&response)["status"], "queued");
        // The sender retries (say, our answer was lost): acknowledged, nothing more.
        let response = route(service, signed("lms", &secret, &body)).await;
        assert_eq!(response.status(), 200);
        assert_eq!(testing::response_json(&response)["status"], "duplicate");
        let stored = service.store.event("lms", "evt-1").await.unwrap().unwrap();
        assert_eq!(stored.status, EventStatus::Queued);
        assert_eq!(stored.body, body);
        let queued = testing::drain(&testing::sqs_client().await, &service.events_queue_url).await;
        assert_eq!(queued.len(), 1);
        assert!(queued[0].contains("\"event_id\":\"evt-1\""));
        // The same id with another body is not the same event.
        let other = training("evt-1", "ptn_01hzx3v4b5c6d7e8f9g0h1j2k4");
        assert_eq!(
            route(service, signed("lms", &secret, &other))
                .await
                .status(),
            409
        );
    }

    #[tokio::test]
    async fn rotation_keeps_the_old_secret_for_the_overlap() {
        let fixture = testing::webhooks().await;
        let service = &fixture.ingest;
        let old = create_source(service, "erp", json!(["training.completed"])).await;
        let response = route(
            service,
            admin(
                "POST",
                "/webhook-sources/erp/rotate",
                Some(json!({ "overlap_hours": 1 })),
            ),
        )
        .await;
        assert_eq!(response.status(), 200);
        let rotated = testing::response_json(&response);
        let new = rotated["secret"].as_str().unwrap().to_string();
        assert_ne!(new, old);
        assert_eq!(rotated["active_secrets"], 2);
        for (n, secret) in [&old, &new].into_iter().enumerate() {
            let body = training(&format!("evt-{n}"), PARTNER);
            assert_eq!(
                route(service, signed("erp", secret, &body)).await.status(),
                202
            );
        }
        // A rotation without overlap ends the previous secret at once.
        let response = route(
            service,
            admin(
                "POST",
                "/webhook-sources/erp/rotate",
                Some(json!({ "overlap_hours": 0 })),
            ),
        )
        .await;
        let newest = testing::response_json(&response)["secret"]
            .as_str()
            .unwrap()
            .to_string();
        let body = training("evt-9", PARTNER);
        assert_eq!(
            route(service, signed("erp", &new, &body)).await.status(),
            401
        );
        assert_eq!(
            route(service, signed("erp", &newest, &body)).await.status(),
            202
        );
        // Secrets are never shown again.
        let listed = route(service, admin("GET", "/webhook-sources", None)).await;
        let text = String::from_utf8(listed.body().to_vec()).unwrap();
        assert!(
            text.contains("\"id\":\"erp\"") && !text.contains("whsec_"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn unknown_types_are_kept_and_ignored_invalid_ones_refused() {
        let fixture = testing::webhooks().await;
        let service = &fixture.ingest;
        let secret = create_source(service, "crm", json!(["opportunity.updated"])).await;
        let unknown =
            json!({ "id": "evt-u", "type": "account.merged", "data": { "a": 1 } }).to_string();
        let response = route(service, signed("crm", &secret, &unknown)).await;
        assert_eq!(response.status(), 200);
        assert_eq!(testing::response_json(&response)["status"], "ignored");
        let stored = service.store.event("crm", "evt-u").await.unwrap().unwrap();
        assert_eq!(stored.status, EventStatus::Ignored);
        for (body, fault) in [
            (json!({ "id": "evt-b", "type": "opportunity.updated", "data": { "deal_id": "deal_01hzx3v4b5c6d7e8f9g0h1j2k3" } }).to_string(), "stage"),
            (json!({ "type": "opportunity.updated", "data": {} }).to_string(), "id"),
            (String::from("not json"), "not an event"),
        ] {
            let response = route(service, signed("crm", &secret, &body)).await;
            assert_eq!(response.status(), 400, "{body}");
            let detail = testing::response_json(&response)["detail"].as_str().unwrap().to_string();
            assert!(detail.contains(fault), "{detail}");
        }
        assert!(service.store.event("crm", "evt-b").await.unwrap().is_none());
        // A routed type this source may not send.
        let price = json!({ "id": "evt-p", "type": "price.changed", "data": {} }).to_string();
        assert_eq!(
            route(service, signed("crm", &secret, &price))
                .await
                .status(),
            403
        );
        let events = route(service, admin("GET", "/webhook-sources/crm/events", None)).await;
        let events = testing::response_json(&events);
        assert_eq!(events["events"].as_array().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn sources_are_for_vendor_admins_and_named_correctly() {
        let fixture = testing::webhooks().await;
        let service = &fixture.ingest;
        let partner = testing::api_request(
            API_SAMPLE,
            "POST",
            "/webhook-sources",
            Some(json!({ "id": "lms", "name": "x" })),
            "partner",
            PARTNER,
        );
        assert_eq!(route(service, partner).await.status(), 403);
        let bad = admin(
            "POST",
            "/webhook-sources",
            Some(json!({ "id": "LMS!", "name": "", "event_types": ["deal.approved"] })),
        );
        let response = route(service, bad).await;
        assert_eq!(response.status(), 422);
        let fields: Vec<String> = testing::response_json(&response)["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(fields, ["id", "name", "event_types[0]"]);
        create_source(service, "lms", json!(["training.completed"])).await;
        let again = admin(
            "POST",
            "/webhook-sources",
            Some(json!({ "id": "lms", "name": "x", "event_types": ["price.changed"] })),
        );
        assert_eq!(route(service, again).await.status(), 409);
        let unknown = admin("POST", "/webhook-sources/nope/rotate", None);
        assert_eq!(route(service, unknown).await.status(), 404);
    }
}
