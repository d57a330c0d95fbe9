//! Hostile JSON bodies on the program routes: mutations of valid terms never panic the handler
//! and never get a 5xx (see `tributary::testing::fuzz`).

use super::*;
use serde_json::Value;
use tributary::testing::{self, fuzz};

const SAMPLE: &str = include_str!("../../../../events/rebate-api.json");

fn request(method: &str, path: &str, body: Option<Value>) -> Request {
    testing::api_request(SAMPLE, method, path, body, "vendor_admin", "ada")
}

fn terms() -> Value {
    let event: Value = serde_json::from_str(SAMPLE).unwrap();
    serde_json::from_str(event["body"].as_str().unwrap()).unwrap()
}

#[tokio::test]
async fn program_bodies_never_get_a_server_error() {
    let store = testing::table().await;
    fuzz::check_route(
        "POST /programs",
        &terms(),
        |body| request("POST", "/programs", Some(body)),
        |r| route(&store, r),
    )
    .await;
}

/// Each case adds a version to a program that has one only (a new program once a case added
/// a version), so that a case never meets only the versions an earlier case added.
#[tokio::test]
async fn version_bodies_never_get_a_server_error() {
    let store = testing::table().await;
    let mut next = terms();
    next["starts_on"] = "2027-07-01".into();
    let mut fresh: Option<String> = None;
    for mutant in fuzz::mutants("POST /programs/{id}/versions", &next) {
        let id = match fresh.take() {
            Some(id) => id,
            None => {
                let created = route(&store, request("POST", "/programs", Some(terms()))).await;
                assert_eq!(created.status(), 201);
                testing::response_json(&created)["id"]
                    .as_str()
                    .unwrap()
                    .to_string()
            }
        };
        let request = request(
            "POST",
            &format!("/programs/{id}/versions"),
            Some(mutant.body),
        );
        let response =
            testing::send_user_request(&mutant.what, |r| route(&store, r), request).await;
        if !response.status().is_success() {
            fresh = Some(id);
        }
    }
}
