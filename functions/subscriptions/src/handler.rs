//! The subscription routes, for vendor admins (any events, optionally one partner's) and
//! partners or distributors (their own events):
//! - `POST /subscriptions`: URL (https, public), event types; the secret is in this answer only;
//! - `GET /subscriptions`, `DELETE /subscriptions/{id}`;
//! - `GET /subscriptions/{id}/deliveries?limit=`: the latest deliveries with every attempt.
//!
//! Another owner's subscription answers 404, as if it did not exist.

use chrono::Utc;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use tributary::http::{caller, json, json_body, path_param};
use tributary::paging::PageRequest;
use tributary::route;
use tributary::router::{Answer, Router};
use tributary::workflow::notify::Subscriptions;

pub async fn route(service: &Subscriptions, request: Request) -> Response<Body> {
    ROUTES.dispatch(service, &request).await
}

/// This function's routes: the `HttpApi` events of `SubscriptionsFunction` in the template.
pub static ROUTES: Router<Subscriptions> = Router::new(&[
    route!("POST /subscriptions", create),
    route!("GET /subscriptions", list),
    route!("DELETE /subscriptions/{id}", delete),
    route!("GET /subscriptions/{id}/deliveries", deliveries),
]);

async fn create(service: &Subscriptions, request: &Request) -> Answer {
    let principal = caller(request)?;
    let created = service
        .create(&principal, json_body(request)?, Utc::now())
        .await?;
    Ok(json(StatusCode::CREATED, &created))
}

async fn list(service: &Subscriptions, request: &Request) -> Answer {
    let subscriptions = service.list(&caller(request)?).await?;
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({ "subscriptions": subscriptions }),
    ))
}

async fn delete(service: &Subscriptions, request: &Request) -> Answer {
    let principal = caller(request)?;
    service
        .delete(&principal, path_param(request, "id")?)
        .await?;
    Ok(Response::builder()
        .status(StatusCode::NO_CONTENT)
        .body(Body::Empty)
        .expect("a valid response"))
}

async fn deliveries(service: &Subscriptions, request: &Request) -> Answer {
    let principal = caller(request)?;
    let limit = PageRequest::newest_only(request)?;
    let deliveries = service
        .deliveries(&principal, path_param(request, "id")?, limit)
        .await?;
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({ "deliveries": deliveries }),
    ))
}

#[cfg(test)]
mod json_fuzz;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};
    use tributary::domain::webhook::AddressPolicy;
    use tributary::testing;

    #[test]
    fn the_route_table_is_the_templates() {
        testing::routes::assert_route_table("subscriptions", ROUTES.keys());
    }

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
            422
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
