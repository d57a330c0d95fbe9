//! Hostile JSON bodies on `POST /subscriptions`, from a vendor admin and from a partner:
//! mutations of a valid body never panic the handler and never get a 5xx (see
//! `tributary::testing::fuzz`).

use super::*;
use serde_json::{Value, json};
use tributary::domain::webhook::AddressPolicy;
use tributary::testing::{self, fuzz};

const SAMPLE: &str = include_str!("../../../../events/subscriptions.json");
const PARTNER: &str = "ptn_01hzx3v4b5c6d7e8f9g0h1j2k3";

#[tokio::test]
async fn subscription_bodies_never_get_a_server_error() {
    let service = Subscriptions {
        store: testing::table().await,
        policy: AddressPolicy {
            allow_loopback: true,
        },
    };
    let sample = json!({"url": "http://127.0.0.1:9/hook", "event_types": ["deal.*", "claim.paid"]});
    let mut for_a_partner = sample.clone();
    for_a_partner["partner_id"] = PARTNER.into();
    for (name, body, role, who) in [
        ("vendor admin", for_a_partner, "vendor_admin", "ada"),
        ("partner", sample, "partner", PARTNER),
    ] {
        fuzz::check_route(
            &format!("POST /subscriptions ({name})"),
            &body,
            |body: Value| {
                testing::api_request(SAMPLE, "POST", "/subscriptions", Some(body), role, who)
            },
            |r| route(&service, r),
        )
        .await;
    }
}
