//! The `/partners` routes. So far: `GET /partners/{id}`, a partner record.
//!
//! A partner or distributor sees only its own record: another organisation's id answers 404, as
//! if it did not exist, so that ids cannot be probed. Vendor staff see every record.

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use tributary::domain::{PartnerId, Principal};
use tributary::http::{ApiError, caller, json, path_param, respond};
use tributary::store::Partners;

pub async fn route<P: Partners>(store: &P, request: Request) -> Response<Body> {
    respond(dispatch(store, &request).await)
}

async fn dispatch<P: Partners>(store: &P, request: &Request) -> Result<Response<Body>, ApiError> {
    let principal = caller(request)?;
    match *request.method() {
        Method::GET => get_partner(store, &principal, path_param(request, "id")?).await,
        _ => Err(ApiError::NotFound(format!(
            "no route for {} {}",
            request.method(),
            request.uri().path()
        ))),
    }
}

async fn get_partner<P: Partners>(
    store: &P,
    principal: &Principal,
    id: &str,
) -> Result<Response<Body>, ApiError> {
    let not_found = || ApiError::NotFound(format!("partner {id} not found"));
    let id: PartnerId = id.parse().map_err(|_| not_found())?;
    if !principal.role.is_vendor_staff() && principal.id != id.as_str() {
        return Err(not_found());
    }
    let partner = store.get_partner(&id).await?.ok_or_else(not_found)?;
    Ok(json(StatusCode::OK, &partner))
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::request::from_str;
    use tributary::domain::{Partner, PartnerStatus};
    use tributary::store::DynamoStore;
    use tributary::testing;

    /// The sample event in events/, for `partner_id`, as a caller with `role` and `principal`.
    fn request(partner_id: &str, role: &str, principal: &str) -> Request {
        let mut event: serde_json::Value =
            serde_json::from_str(include_str!("../../../events/onboarding-get-partner.json"))
                .unwrap();
        event["pathParameters"]["id"] = partner_id.into();
        event["rawPath"] = format!("/partners/{partner_id}").into();
        event["requestContext"]["authorizer"]["lambda"]["role"] = role.into();
        event["requestContext"]["authorizer"]["lambda"]["principalId"] = principal.into();
        from_str(&event.to_string()).unwrap()
    }

    async fn store_with_partner() -> (DynamoStore, Partner) {
        let store = testing::table().await;
        let partner = testing::partner(&store, PartnerStatus::Active).await;
        (store, partner)
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
        let mut event: serde_json::Value =
            serde_json::from_str(include_str!("../../../events/onboarding-get-partner.json"))
                .unwrap();
        event["requestContext"]
            .as_object_mut()
            .unwrap()
            .remove("authorizer");
        event["pathParameters"]["id"] = partner.id.as_str().into();
        let response = route(&store, from_str(&event.to_string()).unwrap()).await;
        assert_eq!(response.status(), 401);
    }
}
