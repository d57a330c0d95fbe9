//! Handlers never answer a server error to user input: the check every handler test can use,
//! and the request builders it needs beyond [`super::api_request`].

use std::sync::OnceLock;

use super::api_request;

/// [`api_request`] with a raw body (any bytes, not necessarily JSON) and extra headers, for
/// routes that read the bytes themselves (the signed webhook route) or for malformed bodies.
pub fn api_request_raw(
    sample: &str,
    method: &str,
    path: &str,
    body: &[u8],
    headers: &[(&str, &str)],
    role: &str,
    principal: &str,
) -> lambda_http::Request {
    let mut request = api_request(sample, method, path, None, role, principal);
    *request.body_mut() = lambda_http::Body::Binary(body.to_vec());
    for (name, value) in headers {
        let name = lambda_http::http::HeaderName::from_bytes(name.as_bytes())
            .expect("a valid header name");
        let value = lambda_http::http::HeaderValue::from_str(value).expect("a valid header value");
        request.headers_mut().append(name, value);
    }
    request
}

/// A request as a failure message shows it: method, path, headers and body (long bodies cut).
pub fn describe_request(request: &lambda_http::Request) -> String {
    let body: &[u8] = request.body().as_ref();
    let headers: Vec<String> = request
        .headers()
        .iter()
        .map(|(name, value)| format!("{name}: {}", String::from_utf8_lossy(value.as_bytes())))
        .collect();
    format!(
        "{} {}\nheaders: {}\nbody ({} bytes): {}",
        request.method(),
        request.uri(),
        headers.join(", "),
        body.len(),
        cut(&String::from_utf8_lossy(body), 2000)
    )
}

fn cut(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}... ({} more bytes)", &text[..end], text.len() - end)
}

/// Fails the test when `response`, the answer to a request built from user input (described
/// by `request`), is a server error: bad input must get a 4xx naming the fault, never a 5xx.
pub fn assert_not_server_error(response: &lambda_http::Response<lambda_http::Body>, request: &str) {
    let status = response.status();
    if status.is_server_error() {
        let body = String::from_utf8_lossy(response.body().as_ref()).to_string();
        panic!(
            "a request built from user input was answered {status} (bad input must be a 4xx; \
             the logged error is above)\nrequest: {request}\nanswer: {}",
            cut(&body, 2000)
        );
    }
}

/// Sends `request` to a handler (`|r| route(&deps, r)`) and fails the test, naming the request
/// and `what` it is (a fuzz case), when the handler panics or answers a server error. Errors
/// the handler logs are printed with the test's output. Returns the response.
pub async fn send_user_request<H, Fut>(
    what: &str,
    handler: H,
    request: lambda_http::Request,
) -> lambda_http::Response<lambda_http::Body>
where
    H: FnOnce(lambda_http::Request) -> Fut,
    Fut: std::future::Future<Output = lambda_http::Response<lambda_http::Body>>,
{
    use futures_util::FutureExt;
    static LOGS: OnceLock<()> = OnceLock::new();
    LOGS.get_or_init(|| {
        // Another subscriber may be installed already; then its output is the one shown.
        let _ = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::ERROR)
            .with_test_writer()
            .try_init();
    });
    let description = format!("{what}\n{}", describe_request(&request));
    // A stack overflow aborts the process before any message: this names the case first.
    if std::env::var_os("TRIBUTARY_FUZZ_LOG").is_some() {
        eprintln!("sending {}", cut(&description, 300));
    }
    match std::panic::AssertUnwindSafe(handler(request))
        .catch_unwind()
        .await
    {
        Ok(response) => {
            assert_not_server_error(&response, &description);
            response
        }
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("(not a string)");
            panic!(
                "the handler panicked ({message}) on a request built from user input\nrequest: {description}"
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::{Body, Response};

    const SAMPLE: &str = include_str!("../../../events/deal-submit.json");

    fn answer(status: u16) -> Response<Body> {
        Response::builder()
            .status(status)
            .body(Body::Text("{}".into()))
            .unwrap()
    }

    fn request() -> lambda_http::Request {
        api_request_raw(
            SAMPLE,
            "POST",
            "/deals",
            "{\"name\":\"ä\"}".as_bytes(),
            &[("x-test", "1")],
            "partner",
            "p",
        )
    }

    #[tokio::test]
    async fn client_errors_pass_and_the_request_is_described() {
        let response = send_user_request("a 422", |_| async { answer(422) }, request()).await;
        assert_eq!(response.status(), 422);
        let described = describe_request(&request());
        assert!(described.starts_with("POST https://"), "{described}");
        assert!(described.contains("/deals\n"), "{described}");
        assert!(described.contains("x-test: 1"), "{described}");
        assert!(described.contains("{\"name\":\"ä\"}"), "{described}");
        assert!(cut(&"é".repeat(2000), 2001).ends_with("(2000 more bytes)"));
    }

    #[tokio::test]
    #[should_panic(expected = "was answered 500 Internal Server Error")]
    async fn a_server_error_fails_the_test() {
        send_user_request("a 500", |_| async { answer(500) }, request()).await;
    }

    #[tokio::test]
    #[should_panic(expected = "the handler panicked (boom)")]
    async fn a_panic_fails_the_test_naming_the_request() {
        send_user_request(
            "a panic",
            |_| async {
                if true {
                    panic!("boom");
                }
                answer(200)
            },
            request(),
        )
        .await;
    }
}
