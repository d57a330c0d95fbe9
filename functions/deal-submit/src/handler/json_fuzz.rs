//! Hostile JSON bodies on every deal route with a body: mutations of a valid body never panic
//! the handler and never get a 5xx (see `tributary::testing::fuzz`).

use super::*;
use serde_json::{Value, json};
use tributary::domain::PartnerStatus;
use tributary::testing::{self, fuzz};

const SAMPLE: &str = include_str!("../../../../events/deal-submit.json");

fn request(method: &str, path: &str, body: Option<Value>, role: &str, who: &str) -> Request {
    testing::api_request(SAMPLE, method, path, body, role, who)
}

fn sample() -> Value {
    let event: Value = serde_json::from_str(SAMPLE).unwrap();
    serde_json::from_str(event["body"].as_str().unwrap()).unwrap()
}

/// A deal of `partner` for a customer of its own (so that approvals never conflict).
async fn deal(deps: &DealService, partner: &str, n: usize) -> String {
    let mut body = sample();
    body["end_customer"]["name"] = format!("Customer {n}").into();
    body["end_customer"]["domain"] = format!("customer-{n}.com").into();
    let created = route(
        deps,
        request("POST", "/deals", Some(body), "partner", partner),
    )
    .await;
    assert_eq!(created.status(), 201);
    testing::response_json(&created)["id"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn registration_bodies_never_get_a_server_error() {
    let deps = testing::deal_service(None).await;
    let me = testing::partner(&deps.store, PartnerStatus::Active)
        .await
        .id;
    fuzz::check_route(
        "POST /deals",
        &sample(),
        |body| request("POST", "/deals", Some(body), "partner", me.as_str()),
        |r| route(&deps, r),
    )
    .await;
}

/// Each case meets an undecided deal (a new one once a case decided the last), so that no case
/// meets only the conflict of an earlier case's decision.
#[tokio::test]
async fn decision_and_outcome_bodies_never_get_a_server_error() {
    let deps = testing::deal_service(None).await;
    let me = testing::partner(&deps.store, PartnerStatus::Active)
        .await
        .id;
    let me = me.as_str();
    let reject = json!({"decision": "reject", "reason": {"code": "other", "text": "not ours"}});
    let mut n = 0;
    let mut open: Option<String> = None;
    for (name, sample) in [
        ("approve", json!({"decision": "approve"})),
        ("reject", reject),
    ] {
        for mutant in fuzz::mutants(&format!("POST /deals/{{id}}/decision ({name})"), &sample) {
            let id = match open.take() {
                Some(id) => id,
                None => {
                    n += 1;
                    deal(&deps, me, n).await
                }
            };
            let path = format!("/deals/{id}/decision");
            let request = request("POST", &path, Some(mutant.body), "channel_manager", "cm");
            let response =
                testing::send_user_request(&mutant.what, |r| route(&deps, r), request).await;
            if !response.status().is_success() {
                open = Some(id);
            }
        }
    }
    let approve = json!({"decision": "approve"});
    let mut approved: Option<String> = None;
    for mutant in fuzz::mutants("POST /deals/{id}/outcome", &json!({"outcome": "won"})) {
        let path = match approved.take() {
            Some(path) => path,
            None => {
                n += 1;
                let path = format!("/deals/{}", deal(&deps, me, n).await);
                let decided = route(
                    &deps,
                    request(
                        "POST",
                        &format!("{path}/decision"),
                        Some(approve.clone()),
                        "channel_manager",
                        "cm",
                    ),
                )
                .await;
                assert_eq!(decided.status(), 200);
                path
            }
        };
        let request = request(
            "POST",
            &format!("{path}/outcome"),
            Some(mutant.body),
            "partner",
            me,
        );
        let response = testing::send_user_request(&mutant.what, |r| route(&deps, r), request).await;
        if !response.status().is_success() {
            approved = Some(path);
        }
    }
}
