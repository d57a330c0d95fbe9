//! Structured JSON logs.
//!
//! `lambda_runtime` opens a span per invocation carrying the request id (`requestId`). Every line
//! lists its enclosing spans, so the request id is on it even when logged inside an inner span
//! (an SDK call, say), where the "current span" alone would hide it. `RUST_LOG` (or `AWS_LAMBDA_LOG_LEVEL`,
//! set by Lambda's advanced logging controls) chooses the level. Never log secrets: API keys, key
//! hashes and webhook secrets stay out of every field.

use tracing_subscriber::EnvFilter;

/// Installs the JSON subscriber. Call once, first thing in `main`.
pub fn init() {
    let filter = std::env::var("RUST_LOG")
        .or_else(|_| std::env::var("AWS_LAMBDA_LOG_LEVEL").map(|level| lambda_level(&level)))
        .map(EnvFilter::new)
        .unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .with_span_list(true)
        .with_target(false)
        .flatten_event(true)
        .with_ansi(false)
        .init();
}

/// Lambda's levels (TRACE..FATAL) as tracing directives; tracing has no FATAL.
fn lambda_level(level: &str) -> String {
    match level.to_ascii_lowercase().as_str() {
        "fatal" => String::from("error"),
        other => other.to_string(),
    }
}

/// For command-line tools: human-readable logs on stderr, quiet by default.
pub fn init_cli() {
    let filter = std::env::var("RUST_LOG")
        .map(EnvFilter::new)
        .unwrap_or_else(|_| EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

/// The text of a caught panic's payload (a `&str` or `String` for `panic!` with a message), for
/// logging where a panic is turned into an error.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}

#[cfg(test)]
mod tests {
    #[test]
    fn maps_lambda_log_levels_to_tracing_directives() {
        assert_eq!(super::lambda_level("FATAL"), "error");
        assert_eq!(super::lambda_level("WARN"), "warn");
        assert_eq!(super::lambda_level("DEBUG"), "debug");
    }
}
