//! Hostile bodies on the webhook routes: mutations of valid source and rotation bodies, of
//! every routed event type (signed with the source's secret, so that they reach the event's
//! own checks), and arbitrary bytes under arbitrary signature headers, never panic the handler
//! and never get a 5xx (see `tributary::testing::fuzz`).

use super::*;
use serde_json::{Value, json};
use std::cell::Cell;
use tributary::domain::DealId;
use tributary::domain::webhook::sign;
use tributary::testing::{self, fuzz};

const SAMPLE: &str = include_str!("../../../../events/webhook-ingest.json");
/// An authenticated API request (the webhook route has no authorizer).
const API_SAMPLE: &str = include_str!("../../../../events/subscriptions.json");
const TYPES: [&str; 5] = [
    "catalog.updated",
    "price.changed",
    "training.completed",
    "opportunity.updated",
    "shipment.created",
];

fn admin(path: &str, body: Value) -> Request {
    testing::api_request(API_SAMPLE, "POST", path, Some(body), "vendor_admin", "ada")
}

/// `POST /webhooks/{source}` with raw `body` bytes and the given signature header, if any.
fn delivery(source: &str, body: &[u8], signature: Option<&[u8]>) -> Request {
    let mut event: Value = serde_json::from_str(SAMPLE).unwrap();
    event["rawPath"] = format!("/webhooks/{source}").into();
    event["requestContext"]["http"]["path"] = format!("/webhooks/{source}").into();
    event["pathParameters"] = json!({ "source": source });
    event.as_object_mut().unwrap().remove("body");
    event["headers"]
        .as_object_mut()
        .unwrap()
        .remove(SIGNATURE_HEADER);
    let mut request = lambda_http::request::from_str(&event.to_string()).unwrap();
    *request.body_mut() = Body::Binary(body.to_vec());
    if let Some(value) = signature {
        let value = lambda_http::http::HeaderValue::from_bytes(value).unwrap();
        request.headers_mut().insert(SIGNATURE_HEADER, value);
    }
    request
}

/// A source allowed every routed type; returns its secret.
async fn source(service: &WebhookIngest, id: &str) -> String {
    let body = json!({"id": id, "name": "The ERP", "event_types": TYPES});
    let response = route(service, admin("/webhook-sources", body)).await;
    assert_eq!(response.status(), 201);
    testing::response_json(&response)["secret"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn source_and_rotation_bodies_never_get_a_server_error() {
    let fixture = testing::webhooks().await;
    let service = &fixture.ingest;
    fuzz::check_route(
        "POST /webhook-sources",
        &json!({"id": "erp", "name": "SAP ERP", "event_types": ["price.changed", "shipment.created"]}),
        |body| admin("/webhook-sources", body),
        |r| route(service, r),
    )
    .await;
    fuzz::check_route(
        "POST /webhook-sources/{id}/rotate",
        &json!({"overlap_hours": 24}),
        |body| admin("/webhook-sources/erp/rotate", body),
        |r| route(service, r),
    )
    .await;
}

/// Every routed type (and one that is not routed), signed: the cases get past the signature.
#[tokio::test]
async fn signed_event_bodies_never_get_a_server_error() {
    let fixture = testing::webhooks().await;
    let service = &fixture.ingest;
    let secret = source(service, "erp").await;
    let [dist, _] = &fixture.distributors;
    let now = Utc::now();
    let today = now.date_naive().to_string();
    let usd = |amount: &str| json!({"amount": amount, "currency": "USD"});
    let data = [
        json!({"skus": [{"sku": "NW-1", "name": "Switch", "cost": usd("120.00")}, {"sku": "NW-2", "name": "Router"}]}),
        json!({"sku": "NW-1", "old_cost": usd("400.00"), "new_cost": usd("370.00"), "effective_date": today}),
        json!({"partner_id": dist, "course": "sales-101", "completed_on": today}),
        json!({"deal_id": DealId::generate(), "stage": "closed_won"}),
        json!({"id": "SHP-1", "distributor": dist, "sku": "NW-1", "quantity": 5, "shipped_on": today}),
        json!({"note": "not routed"}),
    ];
    let types = TYPES.iter().chain(&["crm.note_added"]);
    for (kind, data) in types.zip(data) {
        let id = format!("evt-{kind}");
        let sample = json!({"id": id, "type": kind,
            "occurred_at": (now - chrono::Duration::minutes(1)).to_rfc3339(), "data": data});
        // A case that kept the sample's id gets one of its own, or it would only be a 409.
        let n = Cell::new(0);
        let sign_and_send = |mut body: Value| {
            if body.get("id") == Some(&json!(id)) {
                n.set(n.get() + 1);
                body["id"] = format!("{id}-{}", n.get()).into();
            }
            let bytes = body.to_string().into_bytes();
            let signature = sign(&secret, Utc::now().timestamp(), &bytes);
            delivery("erp", &bytes, Some(signature.as_bytes()))
        };
        fuzz::check_route(
            &format!("POST /webhooks/{{source}} ({kind})"),
            &sample,
            sign_and_send,
            |r| route(service, r),
        )
        .await;
    }
}

/// Arbitrary bytes under arbitrary signature headers, a valid signature among them.
#[tokio::test]
async fn arbitrary_bytes_and_signatures_never_get_a_server_error() {
    let fixture = testing::webhooks().await;
    let service = &fixture.ingest;
    let secret = source(service, "erp").await;
    let sample = json!({"id": "evt-1", "type": "price.changed", "occurred_at": Utc::now().to_rfc3339(),
        "data": {"sku": "NW-1", "old_cost": {"amount": "4", "currency": "USD"},
            "new_cost": {"amount": "3", "currency": "USD"}, "effective_date": Utc::now().date_naive()}})
    .to_string()
    .into_bytes();
    let cases = fuzz::mutants("POST /webhooks/{source} (bytes)", &json!(null)).len();
    let mut rng = fuzz::Rng(0x5eed);
    for case in 0..cases {
        let (body, what) = fuzz::hostile_bytes(&mut rng, &sample);
        let now = Utc::now().timestamp();
        let valid = sign(&secret, now, &body);
        let signature: Option<Vec<u8>> = match rng.below(12) {
            0 => None,
            1 => Some(valid.into_bytes()),
            2 => Some(sign(&secret, now - 3600, &body).into_bytes()),
            3 => Some(
                format!("t={},{}", i64::MAX, &valid[valid.find(',').unwrap() + 1..]).into_bytes(),
            ),
            4 => Some(format!("t={}", i64::MIN).into_bytes()),
            5 => Some(b"".to_vec()),
            6 => Some(b"t=,v1=,,=,t".to_vec()),
            7 => Some(format!("t={now},v1=").into_bytes()),
            8 => Some(format!("t={now},{}", vec!["v1=00"; 20].join(",")).into_bytes()),
            9 => Some((0x80..=0xff).collect()),
            10 => Some(format!("t=1e3,t={now},v1=zz,v2={}", "a".repeat(4000)).into_bytes()),
            _ => Some(format!("{valid},{valid}").into_bytes()),
        };
        let source = match rng.below(6) {
            0 => "unknown",
            1 => "%00",
            _ => "erp",
        };
        let label = format!(
            "POST /webhooks/{source} (bytes), case {case} of {cases}: {what}, signature {:?}",
            signature
                .as_ref()
                .map(|s| String::from_utf8_lossy(&s[..s.len().min(200)]).to_string())
        );
        testing::send_user_request(
            &label,
            |r| route(service, r),
            delivery(source, &body, signature.as_deref()),
        )
        .await;
    }
}
