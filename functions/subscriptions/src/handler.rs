//! The subscription routes, for vendor admins (any events, optionally one partner's) and
//! partners or distributors (their own events):
//! - `POST /subscriptions`: URL (https, public), event types; the secret is in this answer only;
//! - `GET /subscriptions`, `DELETE /subscriptions/{id}`;
//! - `GET /subscriptions/{id}/deliveries?limit=`: the latest deliveries with every attempt.
//!
//! Another owner's subscription answers 404, as if it did not exist.

use chrono::Utc;
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use tributary::http::{ApiError, caller, json, json_body, query_limit, respond};
use tributary::workflow::notify::Subscriptions;

pub async fn route(service: &Subscriptions, request: Request) -> Response<Body> {
    respond(dispatch(service, &request).await)
}

async fn dispatch(service: &Subscriptions, request: &Request) -> Result<Response<Body>, ApiError> {
    let principal = caller(request)?;
    let segments: Vec<&str> = request.uri().path().trim_matches('/').split('/').collect();
    match (request.method().clone(), segments.as_slice()) {
        (Method::POST, ["subscriptions"]) => {
            let created = service
                .create(&principal, json_body(request)?, Utc::now())
                .await?;
            Ok(json(StatusCode::CREATED, &created))
        }
        (Method::GET, ["subscriptions"]) => {
            let subscriptions = service.list(&principal).await?;
            Ok(json(
                StatusCode::OK,
                &serde_json::json!({ "subscriptions": subscriptions }),
            ))
        }
        (Method::DELETE, ["subscriptions", id]) => {
            service.delete(&principal, id).await?;
            Ok(Response::builder()
                .status(StatusCode::NO_CONTENT)
                .body(Body::Empty)
                .expect("a valid response"))
        }
        (Method::GET, ["subscriptions", id, "deliveries"]) => {
            let limit = query_limit(request)?;
            let deliveries = service.deliveries(&principal, id, limit).await?;
            Ok(json(
                StatusCode::OK,
                &serde_json::json!({ "deliveries": deliveries }),
            ))
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
mod tests {
    use super::*;
    use serde_json::{Value, json};
    use tributary::domain::webhook::AddressPolicy;
    use tributary::testing;

    const SAMPLE: &str = include_str!("../../../events/subscriptions.json");

    fn call(method: &str, path: &str, body: Option<Value>, role: &str, who: &str) -> Request {
        testing::api_request(SAMPLE, method, path, body, role, who)
    }

    #[tokio::test]
    async fn subscriptions_over_http() {
        let service = Subscriptions {
            store: testing::table().await,
            policy: AddressPolicy {
                allow_loopback: true,
            },
        };
        let partner = "ptn_01hzx3v4b5c6d7e8f9g0h1j2k3";
        let body =
            json!({ "url": "http://127.0.0.1:9/hook", "event_types": ["deal.*", "claim.paid"] });
        let response = route(
            &service,
            call("POST", "/subscriptions", Some(body), "partner", partner),
        )
        .await;
        assert_eq!(response.status(), 201);
        let created = testing::response_json(&response);
        assert!(created["secret"].as_str().unwrap().starts_with("whsec_"));
        assert_eq!(created["partner_id"], partner);
        let id = created["id"].as_str().unwrap().to_string();

        let response = route(
            &service,
            call("GET", "/subscriptions", None, "vendor_admin", "admin-1"),
        )
        .await;
        let listed = testing::response_json(&response);
        assert_eq!(listed["subscriptions"][0]["id"], id.as_str());
        assert!(listed["subscriptions"][0].get("secret").is_none());

        let deliveries = format!("/subscriptions/{id}/deliveries?limit=10");
        let response = route(&service, call("GET", &deliveries, None, "partner", partner)).await;
        assert_eq!(response.status(), 200);
        assert_eq!(testing::response_json(&response)["deliveries"], json!([]));
        let other = "ptn_01hzx3v4b5c6d7e8f9g0h1j2k4";
        assert_eq!(
            route(&service, call("GET", &deliveries, None, "partner", other))
                .await
                .status(),
            404
        );
        let bad_limit = format!("/subscriptions/{id}/deliveries?limit=0");
        assert_eq!(
            route(&service, call("GET", &bad_limit, None, "partner", partner))
                .await
                .status(),
            400
        );

        let bad =
            json!({ "url": "https://10.0.0.1/", "event_types": ["deal.approved"], "extra": 1 });
        assert_eq!(
            route(
                &service,
                call("POST", "/subscriptions", Some(bad), "partner", partner)
            )
            .await
            .status(),
            400
        );
        let bad = json!({ "url": "https://10.0.0.1/", "event_types": [] });
        let response = route(
            &service,
            call("POST", "/subscriptions", Some(bad), "partner", partner),
        )
        .await;
        assert_eq!(response.status(), 422);

        let path = format!("/subscriptions/{id}");
        assert_eq!(
            route(&service, call("DELETE", &path, None, "partner", other))
                .await
                .status(),
            404
        );
        assert_eq!(
            route(&service, call("DELETE", &path, None, "partner", partner))
                .await
                .status(),
            204
        );
        assert_eq!(
            route(&service, call("DELETE", &path, None, "partner", partner))
                .await
                .status(),
            404
        );
    }
}
