//! What every HTTP function shares: the caller from the authorizer's context, JSON bodies, and
//! the one mapping from errors to responses (`application/problem+json`, RFC 9457).
//!
//! Expected failures are responses, never Lambda errors: a handler returns `Result<_, ApiError>`
//! and [`respond`] turns either side into a response.

use lambda_http::http::{StatusCode, header};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::domain::{Conflict, FieldError, KeyId, Principal, Role, ValidationErrors};

/// The `From<...> for ApiError` impls: every error a handler meets, in one place.
mod errors;

/// The authorizer's context keys (see functions/authorizer).
pub mod context {
    pub const PRINCIPAL_ID: &str = "principalId";
    pub const ROLE: &str = "role";
    pub const KEY_ID: &str = "keyId";
}

/// Where problem types live: `<PROBLEMS>/not-found`, `<PROBLEMS>/conflict/stale-version`.
pub const PROBLEMS: &str = "https://tributary.dev/problems";

/// Request bodies above this are refused before parsing.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// Strings of digits longer than this are refused before any field is read (see there).
pub use crate::domain::money::MAX_NUMERAL_CHARS;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Validation(ValidationErrors),
    #[error("{0}")]
    BadRequest(String),
    #[error("not authenticated")]
    Unauthenticated,
    /// A webhook whose signature (or source) did not verify: 401, saying why.
    #[error("{0}")]
    SignatureRefused(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(Conflict),
    #[error("request body is {0} bytes; the limit is {MAX_BODY_BYTES}")]
    PayloadTooLarge(usize),
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// Logged in full, answered without detail.
    #[error("internal error: {0}")]
    Internal(String),
    #[error("service unavailable: {0}")]
    Unavailable(String),
}

#[derive(Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    title: &'a str,
    status: u16,
    detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    errors: Option<&'a [FieldError]>,
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthenticated | ApiError::SignatureRefused(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The problem+json response. Server-side faults are logged here and answered vaguely.
    pub fn to_response(&self) -> Response<Body> {
        let status = self.status();
        let (kind, title) = match self {
            ApiError::Validation(_) => ("validation-error", "The request has invalid fields"),
            ApiError::BadRequest(_) => ("bad-request", "The request is malformed"),
            ApiError::Unauthenticated => ("unauthenticated", "Authentication required"),
            ApiError::SignatureRefused(_) => ("invalid-signature", "The signature did not verify"),
            ApiError::Forbidden(_) => ("forbidden", "Not allowed"),
            ApiError::NotFound(_) => ("not-found", "Not found"),
            ApiError::Conflict(_) => ("conflict", "The resource changed or is in another state"),
            ApiError::PayloadTooLarge(_) => ("payload-too-large", "The request body is too large"),
            ApiError::UnsupportedMediaType(_) => {
                ("unsupported-media-type", "Unsupported content type")
            }
            ApiError::Internal(_) => ("internal-error", "Internal error"),
            ApiError::Unavailable(_) => ("unavailable", "Temporarily unavailable"),
        };
        let detail = if let ApiError::Unavailable(_) = self {
            tracing::error!(error = %self, "request failed");
            String::from("A service the request needs is temporarily unavailable; retry later.")
        } else if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
            String::from("The request could not be completed.")
        } else {
            self.to_string()
        };
        let errors = match self {
            ApiError::Validation(errors) => Some(errors.0.as_slice()),
            _ => None,
        };
        // A conflict's type names its kind: what a client does about it differs by kind.
        let kind = match self {
            ApiError::Conflict(conflict) => format!("{PROBLEMS}/{kind}/{}", conflict.kind),
            _ => format!("{PROBLEMS}/{kind}"),
        };
        let problem = Problem {
            kind: &kind,
            title,
            status: status.as_u16(),
            detail,
            errors,
        };
        let body = serde_json::to_string(&problem).expect("a problem always serialises");
        Response::builder()
            .status(status)
            .header(header::CONTENT_TYPE, "application/problem+json")
            .body(Body::Text(body))
            .expect("a valid response")
    }
}

/// A JSON response with the given status.
pub fn json<T: Serialize>(status: StatusCode, value: &T) -> Response<Body> {
    match serde_json::to_string(value) {
        Ok(body) => Response::builder()
            .status(status)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::Text(body))
            .expect("a valid response"),
        Err(err) => ApiError::Internal(format!("response does not serialise: {err}")).to_response(),
    }
}

/// Turns a handler's result into the response Lambda returns.
pub fn respond(result: Result<Response<Body>, ApiError>) -> Response<Body> {
    result.unwrap_or_else(|err| err.to_response())
}

/// The authenticated caller, from the Lambda authorizer's context. Absent context means the
/// request did not pass the authorizer (a misconfigured route): refuse it.
pub fn caller(request: &Request) -> Result<Principal, ApiError> {
    let Some(RequestContext::ApiGatewayV2(ctx)) = request.request_context_ref() else {
        return Err(ApiError::Unauthenticated);
    };
    let fields = &ctx
        .authorizer
        .as_ref()
        .ok_or(ApiError::Unauthenticated)?
        .fields;
    let text = |name: &str| {
        fields
            .get(name)
            .and_then(|v| v.as_str())
            .ok_or(ApiError::Unauthenticated)
    };
    let role: Role = text(context::ROLE)?
        .parse()
        .map_err(|_| ApiError::Unauthenticated)?;
    let key_id: KeyId = text(context::KEY_ID)?
        .parse()
        .map_err(|_| ApiError::Unauthenticated)?;
    Ok(Principal {
        id: text(context::PRINCIPAL_ID)?.to_string(),
        role,
        key_id,
    })
}

/// A path parameter, or a 400 naming it.
pub fn path_param<'a>(request: &'a Request, name: &str) -> Result<&'a str, ApiError> {
    request
        .path_parameters_ref()
        .and_then(|params| params.first(name))
        .ok_or_else(|| ApiError::BadRequest(format!("missing path parameter {name}")))
}

/// Parses a JSON body: size limit, content type, syntax and numerals' length are checked, each
/// with its own error.
pub fn json_body<T: DeserializeOwned>(request: &Request) -> Result<T, ApiError> {
    let bytes: &[u8] = request.body().as_ref();
    if bytes.len() > MAX_BODY_BYTES {
        return Err(ApiError::PayloadTooLarge(bytes.len()));
    }
    if let Some(content_type) = request.headers().get(header::CONTENT_TYPE) {
        let content_type = content_type.to_str().unwrap_or_default();
        if !content_type.starts_with("application/json") {
            return Err(ApiError::UnsupportedMediaType(format!(
                "expected application/json, got {content_type}"
            )));
        }
    }
    if bytes.is_empty() {
        return Err(ApiError::BadRequest(String::from(
            "a JSON body is required",
        )));
    }
    let invalid = |e: serde_json::Error| ApiError::BadRequest(format!("invalid JSON: {e}"));
    // Read as plain JSON first (serde_json reads strings without recursion and nesting up to
    // 128 levels), so that a numeral no field may hold is refused before any field is read.
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(invalid)?;
    let mut errors = ValidationErrors::new();
    long_numerals(&value, &mut String::new(), &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    // From the bytes again rather than the value: the errors keep their line and column.
    serde_json::from_slice(bytes).map_err(invalid)
}

/// Adds an error for each string of `value` that a decimal parser would read character by
/// character and that is longer than [`MAX_NUMERAL_CHARS`], named like the validation errors
/// (`rule.tiers[1].from`).
fn long_numerals(value: &serde_json::Value, path: &mut String, errors: &mut ValidationErrors) {
    match value {
        serde_json::Value::String(text) => {
            let numeral = text
                .bytes()
                .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-' | b'+'));
            if numeral && text.len() > MAX_NUMERAL_CHARS {
                errors.add(
                    path.clone(),
                    format!(
                        "a number of {} characters; numbers have at most {MAX_NUMERAL_CHARS}",
                        text.len()
                    ),
                );
            }
        }
        serde_json::Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                long_numerals(item, path, errors);
                path.truncate(len);
            }
        }
        serde_json::Value::Object(fields) => {
            for (name, field) in fields {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(name);
                long_numerals(field, path, errors);
                path.truncate(len);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreError;

    fn problem(err: ApiError) -> (u16, serde_json::Value) {
        let response = err.to_response();
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
        let body: serde_json::Value = serde_json::from_slice(response.body().as_ref()).unwrap();
        (response.status().as_u16(), body)
    }

    #[test]
    fn failed_conditional_write_is_a_409() {
        let (status, body) = problem(
            StoreError::Conflict(Conflict::already_done("deal d1 was already decided")).into(),
        );
        assert_eq!(status, 409);
        assert_eq!(body["status"], 409);
        assert_eq!(body["detail"], "deal d1 was already decided");
    }

    #[test]
    fn a_conflicts_problem_type_names_its_kind() {
        for kind in crate::domain::ConflictKind::ALL {
            let (status, body) = problem(ApiError::Conflict(Conflict::new(kind, "why")));
            assert_eq!(status, 409);
            assert_eq!(
                body["type"],
                format!("https://tributary.dev/problems/conflict/{kind}")
            );
            assert_eq!(body["title"], "The resource changed or is in another state");
            assert_eq!(body["detail"], "why");
        }
        let (_, body) = problem(ApiError::NotFound("deal d1 not found".into()));
        assert_eq!(body["type"], "https://tributary.dev/problems/not-found");
    }

    #[test]
    fn validation_errors_name_every_field() {
        let mut errors = ValidationErrors::new();
        errors.add("value.amount", "must not be negative");
        errors.add("currency", "unknown currency");
        let (status, body) = problem(errors.into());
        assert_eq!(status, 422);
        let fields: Vec<_> = body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].clone())
            .collect();
        assert_eq!(fields, ["value.amount", "currency"]);
    }

    fn post(body: &str) -> Request {
        let mut request = Request::new(Body::Text(body.to_string()));
        request.headers_mut().insert(
            header::CONTENT_TYPE,
            "application/json".parse().expect("a header value"),
        );
        request
    }

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Terms {
        rule: Rule,
    }

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Rule {
        tiers: Vec<Tier>,
    }

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Tier {
        from: rust_decimal::Decimal,
        amount: Option<crate::domain::Money>,
    }

    /// rust_decimal parses a numeral with one nested call per character: 69,104 zeros (found
    /// by the handlers' fuzz tests) overflowed the stack and aborted the process. Such a body
    /// is a 422 naming the field, before any field is read.
    #[test]
    fn a_long_numeral_is_refused_by_name_instead_of_overflowing_the_stack() {
        let zeros = "0".repeat(69_104);
        for body in [
            format!(r#"{{"rule": {{"tiers": [{{"from": "1"}}, {{"from": "{zeros}"}}]}}}}"#),
            format!(
                r#"{{"rule": {{"tiers": [{{"from": "1", "amount": {{"amount": "{zeros}", "currency": "USD"}}}}]}}}}"#
            ),
            // The same zeros written as escapes are the same string once decoded.
            format!(
                r#"{{"rule": {{"tiers": [{{"from": "{}"}}]}}}}"#,
                "\\u0030".repeat(20_000)
            ),
        ] {
            let request = post(&body);
            // A thread with a Lambda-like stack, so that an overflow fails this test only.
            let outcome = std::thread::Builder::new()
                .stack_size(2 << 20)
                .spawn(move || json_body::<Terms>(&request).map(|_| ()))
                .expect("a thread")
                .join()
                .expect("no panic");
            let Err(ApiError::Validation(errors)) = outcome else {
                panic!("expected a 422, got {outcome:?}");
            };
            let text = errors.to_string();
            assert!(text.contains("rule.tiers["), "{text}");
            assert!(text.contains("characters"), "{text}");
        }
        // Numerals of ordinary length are read as before.
        let ok = post(r#"{"rule": {"tiers": [{"from": "79228162514264337593543950335"}]}}"#);
        assert!(json_body::<Terms>(&ok).is_ok());
    }

    #[test]
    fn server_faults_do_not_leak_details() {
        let (status, body) =
            problem(StoreError::Unavailable("timeout talking to 10.0.0.1".into()).into());
        assert_eq!(status, 503);
        assert!(!body["detail"].as_str().unwrap().contains("10.0.0.1"));
        let (status, body) = problem(StoreError::Backend("AccessDenied for role x".into()).into());
        assert_eq!(status, 500);
        assert!(!body["detail"].as_str().unwrap().contains("AccessDenied"));
        let (status, _) = problem(StoreError::NotFound("partner p".into()).into());
        assert_eq!(status, 404);
    }
}
