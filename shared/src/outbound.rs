//! The HTTP adapter of outbound webhooks: one signed POST per attempt, to public addresses only.
//!
//! Names are resolved by a resolver that drops every address the [`AddressPolicy`] refuses, so
//! a subscriber cannot point its name at an internal address after subscribing; literal
//! addresses are checked before connecting; redirects are not followed and proxies from the
//! environment are not used (either would bypass those checks).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::domain::webhook::{
    AddressPolicy, Attempt, DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, sign,
};

/// Longest error text recorded with an attempt.
const MAX_ERROR_LENGTH: usize = 300;

struct GuardedResolver {
    policy: AddressPolicy,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy;
        Box::pin(async move {
            let host = name.as_str().to_string();
            let resolved: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let permitted: Vec<SocketAddr> = resolved
                .into_iter()
                .filter(|addr| policy.permits(addr.ip()))
                .collect();
            if permitted.is_empty() {
                return Err(format!("{host} resolves to no public address").into());
            }
            Ok(Box::new(permitted.into_iter()) as Addrs)
        })
    }
}

/// Posts deliveries; built once per cold start.
#[derive(Clone)]
pub struct WebhookClient {
    client: reqwest::Client,
    policy: AddressPolicy,
}

/// One POST to make.
pub struct Outgoing<'a> {
    pub url: &'a str,
    pub secret: &'a str,
    pub delivery_id: &'a str,
    pub event_type: &'a str,
    pub body: &'a str,
    pub attempt: u32,
}

impl WebhookClient {
    pub fn new(policy: AddressPolicy, timeout: Duration) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .dns_resolver(Arc::new(GuardedResolver { policy }))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .timeout(timeout)
            .user_agent(concat!("Tributary-Webhooks/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("the HTTP client does not build: {e}"))?;
        Ok(Self { client, policy })
    }

    /// Makes one attempt and says how it went; a 2xx answer is a success, anything else
    /// (another status, a refused address, a timeout) a failure to retry.
    pub async fn post(&self, outgoing: &Outgoing<'_>, now: DateTime<Utc>) -> Attempt {
        let started = Instant::now();
        let result = self.send(outgoing, now).await;
        let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let (status_code, error) = match result {
            Ok(status) => (
                Some(status),
                (!(200..300).contains(&status)).then(|| format!("answered HTTP {status}")),
            ),
            Err(error) => (None, Some(truncate(error))),
        };
        Attempt {
            attempt: outgoing.attempt,
            at: now,
            status_code,
            error,
            duration_ms,
        }
    }

    async fn send(&self, outgoing: &Outgoing<'_>, now: DateTime<Utc>) -> Result<u16, String> {
        let url = self.policy.check_url(outgoing.url)?;
        let signature = sign(outgoing.secret, now.timestamp(), outgoing.body.as_bytes());
        let response = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, signature)
            .header(DELIVERY_HEADER, outgoing.delivery_id)
            .header(EVENT_HEADER, outgoing.event_type)
            .body(outgoing.body.to_string())
            .send()
            .await
            .map_err(describe)?;
        Ok(response.status().as_u16())
    }
}

/// The error and its causes, without the URL (the subscription already names it).
fn describe(err: reqwest::Error) -> String {
    let mut text = if err.is_timeout() {
        String::from("timed out")
    } else if err.is_connect() {
        String::from("could not connect")
    } else {
        String::from("request failed")
    };
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn truncate(mut text: String) -> String {
    if text.len() > MAX_ERROR_LENGTH {
        let mut end = MAX_ERROR_LENGTH;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A name pointed at an internal address is refused at delivery, without saying where it
    /// pointed (`localhost` resolves to loopback everywhere, through the hosts file).
    #[tokio::test]
    async fn a_name_resolving_to_loopback_is_refused_without_its_address() {
        let client = WebhookClient::new(AddressPolicy::default(), Duration::from_secs(5)).unwrap();
        let outgoing = Outgoing {
            url: "https://localhost:1/hook",
            secret: "whsec_a",
            delivery_id: "dlv_1",
            event_type: "deal.approved",
            body: "{}",
            attempt: 1,
        };
        let attempt = client.post(&outgoing, Utc::now()).await;
        let error = attempt.error.unwrap();
        assert_eq!(attempt.status_code, None);
        assert!(
            error.contains("localhost resolves to no public address"),
            "{error}"
        );
        for address in ["127.0.0.1", "::1"] {
            assert!(!error.contains(address), "{error}");
        }
    }
}
