//! Decides whether a request's API key grants access, and to whom.
//!
//! API Gateway calls this with the `Authorization` header (the route's identity source). It answers
//! with a simple response: `isAuthorized`, and for granted requests a context with the principal
//! id, role and key id, which reaches the route's function as `requestContext.authorizer.lambda`.
//! A missing header never reaches here (API Gateway answers 401); a denial becomes a 403.
//! A storage failure is an error, so API Gateway answers 500: never grant when unsure.

use aws_lambda_events::apigw::{
    ApiGatewayV2CustomAuthorizerSimpleResponse, ApiGatewayV2CustomAuthorizerV2Request,
};
use serde_json::json;
use tributary::domain::access::Denied;
use tributary::domain::{ApiKey, Principal};
use tributary::http::context;
use tributary::store::{ApiKeys, StoreError};

pub type Response = ApiGatewayV2CustomAuthorizerSimpleResponse<serde_json::Value>;

pub async fn authorize<K: ApiKeys>(
    keys: &K,
    request: ApiGatewayV2CustomAuthorizerV2Request,
) -> Result<Response, StoreError> {
    let header = request
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let route = request.route_key.as_deref().unwrap_or_default();
    match check(keys, header).await? {
        Ok(principal) => {
            tracing::info!(route, key_id = %principal.key_id, role = %principal.role, "granted");
            Ok(granted(&principal))
        }
        Err(reason) => {
            tracing::warn!(route, reason = %reason, "denied");
            Ok(denied())
        }
    }
}

async fn check<K: ApiKeys>(
    keys: &K,
    header: &str,
) -> Result<Result<Principal, Denied>, StoreError> {
    let Ok(presented) = ApiKey::from_authorization_header(header) else {
        return Ok(Err(Denied::Malformed));
    };
    let Some(record) = keys.get_key(presented.key_id()).await? else {
        return Ok(Err(Denied::Unknown));
    };
    Ok(record.authenticate(&presented))
}

fn granted(principal: &Principal) -> Response {
    let mut response = Response::default();
    response.is_authorized = true;
    response.context = json!({
        context::PRINCIPAL_ID: principal.id,
        context::ROLE: principal.role.as_str(),
        context::KEY_ID: principal.key_id.as_str(),
    });
    response
}

fn denied() -> Response {
    let mut response = Response::default();
    response.is_authorized = false;
    response.context = json!({});
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use tributary::domain::{ApiKeyRecord, Role};
    use tributary::store::DynamoStore;
    use tributary::testing;

    /// The sample event in events/, with the given Authorization header (or none).
    fn request(authorization: Option<&str>) -> ApiGatewayV2CustomAuthorizerV2Request {
        let mut event: serde_json::Value =
            serde_json::from_str(include_str!("../../../events/authorizer.json")).unwrap();
        let headers = event["headers"].as_object_mut().unwrap();
        headers.remove("authorization");
        if let Some(value) = authorization {
            headers.insert("authorization".into(), value.into());
        }
        serde_json::from_value(event).unwrap()
    }

    async fn store_with_key(role: Role) -> (DynamoStore, ApiKey) {
        let store = testing::table().await;
        let key = ApiKey::generate();
        let record = ApiKeyRecord::issue(
            &key,
            "ptn_01hzx3v4b5c6d7e8f9g0h1j2k3".into(),
            role,
            None,
            Utc::now(),
        );
        store.put_new_key(&record).await.unwrap();
        (store, key)
    }

    #[tokio::test]
    async fn grants_an_active_key_with_principal_and_role_in_context() {
        let (store, key) = store_with_key(Role::Partner).await;
        let response = authorize(&store, request(Some(&format!("Bearer {}", key.reveal()))))
            .await
            .unwrap();
        assert!(response.is_authorized);
        assert_eq!(
            response.context["principalId"],
            "ptn_01hzx3v4b5c6d7e8f9g0h1j2k3"
        );
        assert_eq!(response.context["role"], "partner");
        assert_eq!(response.context["keyId"], key.key_id().as_str());
        let json = serde_json::to_value(&response).unwrap();
        assert_eq!(json["isAuthorized"], true, "simple-response field name");
    }

    #[tokio::test]
    async fn denies_a_revoked_key() {
        let (store, key) = store_with_key(Role::ChannelManager).await;
        store.revoke_key(key.key_id(), Utc::now()).await.unwrap();
        let response = authorize(&store, request(Some(&format!("Bearer {}", key.reveal()))))
            .await
            .unwrap();
        assert!(!response.is_authorized);
    }

    #[tokio::test]
    async fn denies_unknown_forged_and_malformed_keys() {
        let (store, key) = store_with_key(Role::VendorAdmin).await;
        let forged = format!("Bearer trb_{}_{}", key.key_id(), "f".repeat(64));
        let unknown = format!("Bearer {}", ApiKey::generate().reveal());
        for header in [
            Some(forged.as_str()),
            Some(unknown.as_str()),
            Some("Bearer nonsense"),
            Some(""),
            None,
        ] {
            let response = authorize(&store, request(header)).await.unwrap();
            assert!(!response.is_authorized, "{header:?} must be denied");
            assert_eq!(response.context, json!({}));
        }
    }

    #[tokio::test]
    async fn a_storage_failure_is_an_error_not_a_grant() {
        let (store, key) = store_with_key(Role::Partner).await;
        let missing_table = DynamoStore::new(store.client().clone(), "no-such-table");
        let result = authorize(
            &missing_table,
            request(Some(&format!("Bearer {}", key.reveal()))),
        )
        .await;
        assert!(result.is_err());
    }
}
