//! The API contract, served without a key by the stack itself:
//! - `GET /openapi.json`: the OpenAPI 3.1 document (`api/openapi.json`, compiled in);
//! - `GET /docs`: a page rendering it (script and style inline, allowed by their hashes in a
//!   content security policy that forbids everything else but fetching the document).
//!
//! The assets are compiled into the binary: the deployed document is always the one of the
//! code that serves the routes, and `sam deploy` alone publishes it.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use lambda_http::http::{StatusCode, header};
use lambda_http::{Body, Request, Response};
use sha2::{Digest, Sha256};
use tributary::route;
use tributary::router::{Answer, Router};

const DOCUMENT: &str = include_str!("../../../api/openapi.json");
const SCRIPT: &str = include_str!("docs.js");
const STYLE: &str = include_str!("docs.css");

/// The page and its policy, built once per cold start.
pub struct Site {
    page: String,
    policy: String,
}

impl Site {
    pub fn new() -> Self {
        let hash = |text: &str| format!("'sha256-{}'", STANDARD.encode(Sha256::digest(text)));
        let policy = format!(
            "default-src 'none'; script-src {}; style-src {}; connect-src 'self'; \
             base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
            hash(SCRIPT),
            hash(STYLE)
        );
        let page = format!(
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>Tributary API</title><style>{STYLE}</style></head>\
             <body><nav><strong>Tributary API</strong><p><a href=\"/openapi.json\">openapi.json</a></p>\
             <input id=\"filter\" type=\"search\" placeholder=\"filter: post deals\" aria-label=\"filter operations\">\
             <ul id=\"tags\"></ul></nav><main><h1 id=\"title\">Tributary API</h1>\
             <p id=\"intro\" class=\"desc\"></p><div id=\"operations\"></div></main>\
             <script>{SCRIPT}</script></body></html>\n"
        );
        Site { page, policy }
    }
}

impl Default for Site {
    fn default() -> Self {
        Self::new()
    }
}

pub async fn route(site: &Site, request: Request) -> Response<Body> {
    ROUTES.dispatch(site, &request).await
}

/// This function's routes: the `HttpApi` events of `WebFunction` in the template.
pub static ROUTES: Router<Site> = Router::new(&[
    route!("GET /openapi.json", document),
    route!("GET /docs", docs_page),
]);

async fn document(_: &Site, _: &Request) -> Answer {
    Ok(asset("application/json", DOCUMENT.to_string(), None))
}

async fn docs_page(site: &Site, _: &Request) -> Answer {
    Ok(asset(
        "text/html; charset=utf-8",
        site.page.clone(),
        Some(&site.policy),
    ))
}

fn asset(content_type: &str, body: String, policy: Option<&str>) -> Response<Body> {
    let mut response = Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, content_type)
        // Short: a deployment changes both, and the document is small.
        .header(header::CACHE_CONTROL, "public, max-age=300")
        .header("x-content-type-options", "nosniff");
    if let Some(policy) = policy {
        response = response.header(header::CONTENT_SECURITY_POLICY, policy);
    }
    response.body(Body::Text(body)).expect("a valid response")
}

#[cfg(test)]
mod tests {
    use super::*;
    use tributary::testing;

    fn get(path: &str) -> Request {
        testing::api_request(
            include_str!("../../../events/subscriptions.json"),
            "GET",
            path,
            None,
            "partner",
            "anyone",
        )
    }

    #[test]
    fn the_route_table_is_the_templates() {
        testing::routes::assert_route_table("web", ROUTES.keys());
    }

    #[tokio::test]
    async fn the_document_is_the_bundle_and_lists_every_template_route() {
        let response = route(&Site::new(), get("/openapi.json")).await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "application/json");
        let served: serde_json::Value = testing::response_json(&response);
        assert_eq!(served["openapi"], "3.1.0");
        assert_eq!(served, testing::openapi::bundle());
    }

    #[tokio::test]
    async fn the_docs_page_allows_only_its_own_script_and_style() {
        let response = route(&Site::new(), get("/docs")).await;
        assert_eq!(response.status(), 200);
        let policy = response.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_string();
        let page = String::from_utf8(response.body().to_vec()).unwrap();
        let script = page
            .split("<script>")
            .nth(1)
            .and_then(|rest| rest.split("</script>").next())
            .expect("an inline script");
        let digest = STANDARD.encode(Sha256::digest(script));
        assert!(
            policy.contains(&format!("script-src 'sha256-{digest}';")),
            "{policy}"
        );
        assert!(policy.starts_with("default-src 'none';"), "{policy}");
        assert!(page.contains("fetch(\"/openapi.json\")"));
    }
}
