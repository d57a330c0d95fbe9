//! One `SdkConfig` per cold start and the clients built from it.
//!
//! `aws-config` reads region, credentials and `AWS_ENDPOINT_URL` (or a per-service
//! `AWS_ENDPOINT_URL_DYNAMODB`, ...) from the environment, which is how the local stack and the
//! tests point the real SDK clients at moto. All clients share one HTTPS client (rustls + ring).

use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_http_client::tls;

/// Loads the shared SDK configuration. Call once in `main`, before the runtime loop.
pub async fn load_config() -> SdkConfig {
    loader().load().await
}

/// The configuration loader with the project's HTTP client, for callers that override more
/// (the test harness sets endpoint, region and credentials explicitly).
pub fn loader() -> aws_config::ConfigLoader {
    let http_client = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    aws_config::defaults(BehaviorVersion::latest()).http_client(http_client)
}

pub fn dynamodb(config: &SdkConfig) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(config)
}

pub fn sqs(config: &SdkConfig) -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::new(config)
}

/// S3 with path-style addressing whenever a custom endpoint is set: a local server has no
/// per-bucket DNS names, and real S3 is reached with the default virtual-hosted style.
pub fn s3(config: &SdkConfig) -> aws_sdk_s3::Client {
    let path_style = config.endpoint_url().is_some();
    let s3_config = aws_sdk_s3::config::Builder::from(config)
        .force_path_style(path_style)
        .build();
    aws_sdk_s3::Client::from_conf(s3_config)
}
