//! The deal registration API:
//! - `POST /deals` (partner): register; 201 with the deal, queued for review;
//! - `GET /deals` (partner: its own; vendor staff: `?status=` and/or `?partner=`), `limit`, `cursor`;
//! - `GET /deals/{id}`: the deal and its history (another partner's deal is a 404);
//! - `POST /deals/{id}/decision` (vendor staff): `{"decision":"approve"}` or
//!   `{"decision":"reject","reason":{"code":"duplicate"|"existing_customer"|"outside_territory"|"incomplete"|"other","text":...}}`;
//! - `POST /deals/{id}/outcome` (the deal's partner): `{"outcome":"won"|"lost"}`.
//!
//! Review, auto-approval and expiry run in deal-approve, from the review queue and a schedule.

use chrono::Utc;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Deserialize;
use tributary::domain::deal::DealRequest;
use tributary::domain::{PartnerId, ValidationErrors};
use tributary::http::{ApiError, caller, json, json_body, path_param};
use tributary::paging::PageRequest;
use tributary::route;
use tributary::router::{Answer, Router};
use tributary::store::DealQuery;
use tributary::workflow::deals::{DealService, Decision};

pub async fn route(deps: &DealService, request: Request) -> Response<Body> {
    ROUTES.dispatch(deps, &request).await
}

/// This function's routes: the `HttpApi` events of `DealSubmitFunction` in the template.
pub static ROUTES: Router<DealService> = Router::new(&[
    route!("POST /deals", register),
    route!("GET /deals", list),
    route!("GET /deals/{id}", read),
    route!("POST /deals/{id}/decision", decide),
    route!("POST /deals/{id}/outcome", report_outcome),
]);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OutcomeBody {
    outcome: tributary::workflow::deals::Outcome,
}

async fn register(deps: &DealService, request: &Request) -> Answer {
    let principal = caller(request)?;
    let body: DealRequest = json_body(request)?;
    let deal = deps.flow().register(&principal, body, Utc::now()).await?;
    Ok(json(StatusCode::CREATED, &deal))
}

async fn list(deps: &DealService, request: &Request) -> Answer {
    let principal = caller(request)?;
    let page = deps.flow().list(&principal, list_query(request)?).await?;
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({"deals": page.deals, "next_cursor": page.next_cursor}),
    ))
}

async fn read(deps: &DealService, request: &Request) -> Answer {
    let principal = caller(request)?;
    let (deal, history) = deps
        .flow()
        .read(&principal, path_param(request, "id")?)
        .await?;
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({"deal": deal, "history": history}),
    ))
}

async fn decide(deps: &DealService, request: &Request) -> Answer {
    let principal = caller(request)?;
    let decision: Decision = json_body(request)?;
    let deal = deps
        .flow()
        .decide(&principal, path_param(request, "id")?, decision, Utc::now())
        .await?;
    Ok(json(StatusCode::OK, &deal))
}

async fn report_outcome(deps: &DealService, request: &Request) -> Answer {
    let principal = caller(request)?;
    let body: OutcomeBody = json_body(request)?;
    let deal = deps
        .flow()
        .report_outcome(
            &principal,
            path_param(request, "id")?,
            body.outcome,
            Utc::now(),
        )
        .await?;
    Ok(json(StatusCode::OK, &deal))
}

fn list_query(request: &Request) -> Result<DealQuery, ApiError> {
    let params = request.query_string_parameters();
    let mut errors = ValidationErrors::new();
    let status = params
        .first("status")
        .and_then(|s| s.parse().map_err(|e: String| errors.add("status", e)).ok());
    let partner = params.first("partner").and_then(|p| {
        p.parse::<PartnerId>()
            .map_err(|e| errors.add("partner", e.to_string()))
            .ok()
    });
    let PageRequest { limit, cursor } = PageRequest::read(request, &mut errors);
    errors
        .into_result(DealQuery {
            partner,
            status,
            limit,
            cursor,
        })
        .map_err(ApiError::from)
}

#[cfg(test)]
mod json_fuzz;

#[cfg(test)]
mod tests {
    use super::*;
    use tributary::domain::PartnerStatus;
    use tributary::testing;

    #[test]
    fn the_route_table_is_the_templates() {
        testing::routes::assert_route_table("deal-submit", ROUTES.keys());
    }

    async fn deps() -> (DealService, aws_sdk_sqs::Client) {
        (
            testing::deal_service(None).await,
            testing::sqs_client().await,
        )
    }

    async fn partner(deps: &DealService) -> String {
        let partner = testing::partner(&deps.store, PartnerStatus::Active).await;
        partner.id.to_string()
    }

    /// The sample event in events/, with method, path, body and caller replaced.
    fn request(
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
        role: &str,
        principal: &str,
    ) -> Request {
        testing::api_request(
            include_str!("../../../events/deal-submit.json"),
            method,
            path,
            body,
            role,
            principal,
        )
    }

    fn body(response: &Response<Body>) -> serde_json::Value {
        testing::response_json(response)
    }

    fn sample() -> serde_json::Value {
        serde_json::from_str::<serde_json::Value>(include_str!("../../../events/deal-submit.json"))
            .map(|e| serde_json::from_str(e["body"].as_str().unwrap()).unwrap())
            .unwrap()
    }

    #[tokio::test]
    async fn registers_a_deal_and_reads_it_back_with_its_history() {
        let (deps, sqs) = deps().await;
        let me = partner(&deps).await;
        let created = route(
            &deps,
            request("POST", "/deals", Some(sample()), "partner", &me),
        )
        .await;
        assert_eq!(created.status(), 201, "{:?}", body(&created));
        let id = body(&created)["id"].as_str().unwrap().to_string();
        assert_eq!(body(&created)["status"], "submitted");
        assert_eq!(
            testing::drain(&sqs, &deps.settings.review_queue_url)
                .await
                .len(),
            1
        );

        let read = route(
            &deps,
            request("GET", &format!("/deals/{id}"), None, "partner", &me),
        )
        .await;
        assert_eq!(read.status(), 200);
        assert_eq!(body(&read)["history"][0]["to"], "submitted");
        let listed = route(
            &deps,
            request("GET", "/deals?limit=10", None, "partner", &me),
        )
        .await;
        assert_eq!(body(&listed)["deals"][0]["id"], id.as_str());
        let other = partner(&deps).await;
        let hidden = route(
            &deps,
            request("GET", &format!("/deals/{id}"), None, "partner", &other),
        )
        .await;
        assert_eq!(hidden.status(), 404);
    }

    #[tokio::test]
    async fn bad_input_names_each_field_and_stores_nothing() {
        let (deps, sqs) = deps().await;
        let me = partner(&deps).await;
        let mut bad = sample();
        bad["products"] = serde_json::json!(["SKU-404"]);
        bad["estimated_value"]["amount"] = "-1".into();
        bad["estimated_value"]["currency"] = "ZZZ".into();
        let response = route(&deps, request("POST", "/deals", Some(bad), "partner", &me)).await;
        assert_eq!(response.status(), 422);
        let fields: Vec<_> = body(&response)["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(
            fields,
            [
                "products[0]",
                "estimated_value.currency",
                "estimated_value.amount"
            ]
        );
        let malformed = route(
            &deps,
            request("POST", "/deals", Some("{".into()), "partner", &me),
        )
        .await;
        assert_eq!(malformed.status(), 400);
        assert!(
            testing::drain(&sqs, &deps.settings.review_queue_url)
                .await
                .is_empty()
        );
        let listed = route(&deps, request("GET", "/deals", None, "partner", &me)).await;
        assert_eq!(body(&listed)["deals"], serde_json::json!([]));
    }

    #[tokio::test]
    async fn a_manager_decides_once_and_the_second_decision_is_a_409() {
        let (deps, _) = deps().await;
        let me = partner(&deps).await;
        let created = route(
            &deps,
            request("POST", "/deals", Some(sample()), "partner", &me),
        )
        .await;
        let id = body(&created)["id"].as_str().unwrap().to_string();
        let path = format!("/deals/{id}/decision");
        let approve = serde_json::json!({"decision": "approve"});
        let as_partner = route(
            &deps,
            request("POST", &path, Some(approve.clone()), "partner", &me),
        )
        .await;
        assert_eq!(as_partner.status(), 403);
        let first = route(
            &deps,
            request(
                "POST",
                &path,
                Some(approve.clone()),
                "channel_manager",
                "alice",
            ),
        )
        .await;
        assert_eq!(first.status(), 200, "{:?}", body(&first));
        assert_eq!(body(&first)["status"], "approved");
        let reject = serde_json::json!({"decision": "reject", "reason": {"code": "duplicate"}});
        let second = route(
            &deps,
            request("POST", &path, Some(reject), "channel_manager", "bob"),
        )
        .await;
        assert_eq!(second.status(), 409);
        let won = route(
            &deps,
            request(
                "POST",
                &format!("/deals/{id}/outcome"),
                Some(serde_json::json!({"outcome": "won"})),
                "partner",
                &me,
            ),
        )
        .await;
        assert_eq!(body(&won)["status"], "won");
    }

    #[tokio::test]
    async fn staff_list_by_status_and_reject_unknown_filters() {
        let (deps, _) = deps().await;
        let me = partner(&deps).await;
        route(
            &deps,
            request("POST", "/deals", Some(sample()), "partner", &me),
        )
        .await;
        let listed = route(
            &deps,
            request(
                "GET",
                "/deals?status=submitted",
                None,
                "channel_manager",
                "alice",
            ),
        )
        .await;
        assert_eq!(body(&listed)["deals"].as_array().unwrap().len(), 1);
        let unfiltered = route(
            &deps,
            request("GET", "/deals", None, "channel_manager", "alice"),
        )
        .await;
        assert_eq!(unfiltered.status(), 422);
        let bad = route(
            &deps,
            request(
                "GET",
                "/deals?status=nope&limit=0&cursor=zz",
                None,
                "vendor_admin",
                "x",
            ),
        )
        .await;
        assert_eq!(bad.status(), 422);
        let bad_cursor = route(
            &deps,
            request(
                "GET",
                "/deals?status=submitted&cursor=zz",
                None,
                "vendor_admin",
                "x",
            ),
        )
        .await;
        assert_eq!(bad_cursor.status(), 400);
    }

    /// The fields a 422 names.
    fn faults(response: &Response<Body>) -> Vec<String> {
        body(response)["errors"]
            .as_array()
            .unwrap_or(&Vec::new())
            .iter()
            .map(|e| e["field"].as_str().unwrap().to_string())
            .collect()
    }

    #[tokio::test]
    async fn a_huge_product_list_or_product_id_is_a_422_naming_it() {
        let (deps, _) = deps().await;
        let me = partner(&deps).await;
        // 30,000 distinct SKUs still fit a request body (256 KiB): 300 catalog reads if looked up.
        let mut huge = sample();
        huge["products"] = (0..30_000).map(|i| format!("{i:x}")).collect();
        // Refused by validation, before any catalog read (counted by the workflow's test
        // `product_lists_and_ids_are_bounded_before_the_catalog_is_read`; no timing here).
        let response = route(&deps, request("POST", "/deals", Some(huge), "partner", &me)).await;
        assert_eq!(response.status(), 422, "{:?}", body(&response));
        assert_eq!(faults(&response), ["products"]);

        let mut long_id = sample();
        long_id["products"] = serde_json::json!(["S".repeat(3000)]);
        let response = route(
            &deps,
            request("POST", "/deals", Some(long_id), "partner", &me),
        )
        .await;
        assert_eq!(response.status(), 422, "{:?}", body(&response));
        assert_eq!(faults(&response), ["products[0]"]);
        assert!(
            body(&response).to_string().contains("at most 64 bytes"),
            "{:?}",
            body(&response)
        );
    }

    #[tokio::test]
    async fn a_rejection_reason_is_bounded() {
        let (deps, sqs) = deps().await;
        let me = partner(&deps).await;
        let created = route(
            &deps,
            request("POST", "/deals", Some(sample()), "partner", &me),
        )
        .await;
        let id = body(&created)["id"].as_str().unwrap().to_string();
        let path = format!("/deals/{id}/decision");
        let reject = |text: String| serde_json::json!({"decision": "reject", "reason": {"code": "other", "text": text}});
        // Within a request body, yet a notification carrying it would pass SQS's 256 KiB.
        for text in ["x".repeat(260_000), "é".repeat(1001)] {
            let response = route(
                &deps,
                request("POST", &path, Some(reject(text)), "channel_manager", "ada"),
            )
            .await;
            assert_eq!(response.status(), 422, "{:?}", body(&response)["status"]);
            assert_eq!(faults(&response), ["reason.text"]);
        }
        testing::drain(&sqs, &deps.settings.notifications_queue_url).await;
        let response = route(
            &deps,
            request(
                "POST",
                &path,
                Some(reject("é".repeat(1000))),
                "channel_manager",
                "ada",
            ),
        )
        .await;
        assert_eq!(response.status(), 200, "{:?}", body(&response)["detail"]);
        assert_eq!(body(&response)["status"], "rejected");
    }
}
