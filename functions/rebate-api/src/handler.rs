//! Incentive programs and accrual statements:
//! - `POST /programs` (vendor admin): a program's terms (docs/rebates.md) → its first version;
//! - `GET /programs` (vendor staff): every version of every program;
//! - `GET /programs/{id}` (vendor staff): one program's versions, oldest first;
//! - `POST /programs/{id}/versions` (vendor admin): new terms from a future `starts_on`; the
//!   latest version ends the day before (a version that has accrued is never changed otherwise);
//! - `GET /partners/{id}/accruals?period=2026-Q4` (the partner its own; vendor staff any):
//!   totals per program, the period's figures and the entries; `&format=csv` for the entries
//!   as CSV.

use chrono::Utc;
use lambda_http::http::{StatusCode, header};
use lambda_http::{Body, Request, RequestExt, Response};
use tributary::domain::access;
use tributary::domain::rebate::{Period, Program, ProgramTerms};
use tributary::domain::{PartnerId, ProgramId, Role, ValidationErrors};
use tributary::http::{ApiError, caller, json, json_body, path_param};
use tributary::route;
use tributary::router::{Answer, Router};
use tributary::store::{DynamoStore, Partners, Rebates};
use tributary::workflow::rebates::Statement;

/// Why a caller of the wrong role is refused (403).
const ADMINS_ONLY: &str = "only vendor admins define programs";
const STAFF_ONLY: &str = "programs are for vendor staff";

pub async fn route(store: &DynamoStore, request: Request) -> Response<Body> {
    ROUTES.dispatch(store, &request).await
}

/// This function's routes: the `HttpApi` events of `RebateApiFunction` in the template.
pub static ROUTES: Router<DynamoStore> = Router::new(&[
    route!("POST /programs", create_program),
    route!("GET /programs", list_programs),
    route!("GET /programs/{id}", read_program),
    route!("POST /programs/{id}/versions", add_version),
    route!("GET /partners/{id}/accruals", accruals),
]);

async fn create_program(store: &DynamoStore, request: &Request) -> Answer {
    let principal = caller(request)?;
    access::require_or(&principal, &access::ADMINS, ADMINS_ONLY)?;
    let terms: ProgramTerms = json_body(request)?;
    let program = Program::create(terms, &principal.id, Utc::now())?;
    store.create_program(&program).await?;
    Ok(json(StatusCode::CREATED, &program))
}

async fn list_programs(store: &DynamoStore, request: &Request) -> Answer {
    access::require_or(&caller(request)?, &access::STAFF, STAFF_ONLY)?;
    let programs = store.programs().await?;
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({ "programs": programs }),
    ))
}

async fn read_program(store: &DynamoStore, request: &Request) -> Answer {
    access::require_or(&caller(request)?, &access::STAFF, STAFF_ONLY)?;
    let (id, versions) = versions(store, path_param(request, "id")?).await?;
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({"id": id, "versions": versions}),
    ))
}

async fn add_version(store: &DynamoStore, request: &Request) -> Answer {
    let principal = caller(request)?;
    access::require_or(&principal, &access::ADMINS, ADMINS_ONLY)?;
    let (_, versions) = versions(store, path_param(request, "id")?).await?;
    let latest = versions.last().expect("a found program has a version");
    let terms: ProgramTerms = json_body(request)?;
    let (ended, next) = latest.next_version(terms, &principal.id, Utc::now())?;
    store.add_program_version(&ended, &next).await?;
    Ok(json(StatusCode::CREATED, &next))
}

async fn accruals(store: &DynamoStore, request: &Request) -> Answer {
    let principal = caller(request)?;
    let id = path_param(request, "id")?;
    let not_found = || ApiError::NotFound(format!("partner {id} not found"));
    let partner: PartnerId = id.parse().map_err(|_| not_found())?;
    // Accruals are a partner's: a distributor with the same id sees nothing either.
    if !access::may_see_as(&principal, Role::Partner, partner.as_str()) {
        return Err(not_found());
    }
    let params = request.query_string_parameters();
    let mut errors = ValidationErrors::new();
    let period = match params.first("period").map(str::parse::<Period>) {
        Some(Ok(period)) => Some(period),
        Some(Err(fault)) => {
            errors.add("period", fault);
            None
        }
        None => {
            errors.add("period", "required: YYYY-MM or YYYY-Qn");
            None
        }
    };
    let csv = match params.first("format") {
        None | Some("json") => false,
        Some("csv") => true,
        Some(other) => {
            errors.add("format", format!("{other:?}: expected json or csv"));
            false
        }
    };
    let period = errors.into_result(period)?.expect("checked above");
    store.get_partner(&partner).await?.ok_or_else(not_found)?;
    let ledger = store.period_ledger(&partner, period).await?;
    let statement = Statement::new(partner, period, ledger);
    if !csv {
        return Ok(json(StatusCode::OK, &statement));
    }
    let text = statement
        .to_csv()
        .map_err(|e| ApiError::Internal(format!("statement CSV: {e}")))?;
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/csv; charset=utf-8")
        .header(
            header::CONTENT_DISPOSITION,
            format!(
                "attachment; filename=\"accruals-{}-{period}.csv\"",
                statement.partner_id
            ),
        )
        .body(Body::Text(text))
        .map_err(|e| ApiError::Internal(e.to_string()))
}

async fn versions<S: Rebates>(store: &S, id: &str) -> Result<(ProgramId, Vec<Program>), ApiError> {
    let not_found = || ApiError::NotFound(format!("program {id} not found"));
    let id: ProgramId = id.parse().map_err(|_| not_found())?;
    let versions = store.program(&id).await?;
    if versions.is_empty() {
        return Err(not_found());
    }
    Ok((id, versions))
}

#[cfg(test)]
mod json_fuzz;

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;
    use tributary::domain::PartnerStatus;
    use tributary::domain::pos::{FileId, PosLine, TransactionType};
    use tributary::messaging::Envelope;
    use tributary::messaging::messages::SalesReported;
    use tributary::store::DynamoStore;
    use tributary::testing::{self, response_json};
    use tributary::workflow::rebates::RebateAccrual;

    #[test]
    fn the_route_table_is_the_templates() {
        tributary::testing::routes::assert_route_table("rebate-api", super::ROUTES.keys());
    }

    use super::*;

    fn request(
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
        role: &str,
        principal: &str,
    ) -> Request {
        testing::api_request(
            include_str!("../../../events/rebate-api.json"),
            method,
            path,
            body,
            role,
            principal,
        )
    }

    fn sample_terms() -> serde_json::Value {
        let sample: serde_json::Value =
            serde_json::from_str(include_str!("../../../events/rebate-api.json")).unwrap();
        serde_json::from_str(sample["body"].as_str().unwrap()).unwrap()
    }

    async fn call(
        store: &DynamoStore,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
        role: &str,
    ) -> (StatusCode, serde_json::Value) {
        let response = route(store, request(method, path, body, role, "ada")).await;
        (response.status(), response_json(&response))
    }

    #[tokio::test]
    async fn admins_create_programs_and_staff_read_them() {
        let store = testing::table().await;
        let (status, created) = call(
            &store,
            "POST",
            "/programs",
            Some(sample_terms()),
            "vendor_admin",
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        assert_eq!(created["version"], 1);
        assert_eq!(created["rule"]["tiers"][1]["rate"], "0.02");
        let id = created["id"].as_str().unwrap();

        let (status, listed) = call(&store, "GET", "/programs", None, "channel_manager").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(listed["programs"][0]["id"], id);
        let (status, one) = call(
            &store,
            "GET",
            &format!("/programs/{id}"),
            None,
            "channel_manager",
        )
        .await;
        assert_eq!(
            (status, one["versions"].as_array().unwrap().len()),
            (StatusCode::OK, 1)
        );

        let (status, _) = call(
            &store,
            "POST",
            "/programs",
            Some(sample_terms()),
            "channel_manager",
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, _) = call(
            &store,
            "GET",
            "/programs/prg_01jc0000000000000000000000",
            None,
            "vendor_admin",
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn bad_programs_are_refused_naming_the_fault_and_nothing_is_stored() {
        let store = testing::table().await;
        let cases: [(&str, serde_json::Value, StatusCode, &str); 5] = [
            (
                "/rule/tiers/1/from",
                "300000".into(),
                StatusCode::UNPROCESSABLE_ENTITY,
                "rule.tiers[2].from",
            ),
            (
                "/rule/tiers/0/rate",
                "-0.01".into(),
                StatusCode::UNPROCESSABLE_ENTITY,
                "negative rate",
            ),
            (
                "/ends_on",
                "2026-06-30".into(),
                StatusCode::UNPROCESSABLE_ENTITY,
                "the window is empty",
            ),
            (
                "/currency",
                "ABC".into(),
                StatusCode::BAD_REQUEST,
                "\\\"ABC\\\" is not an ISO 4217 currency code",
            ),
            (
                "/rule/tiers/0/to",
                "150000".into(),
                StatusCode::UNPROCESSABLE_ENTITY,
                "overlaps the next tier",
            ),
        ];
        for (pointer, value, expected, fault) in cases {
            let mut terms = sample_terms();
            let (parent, field) = pointer.rsplit_once('/').unwrap();
            *terms_field(&mut terms, parent, field) = value;
            let (status, problem) =
                call(&store, "POST", "/programs", Some(terms), "vendor_admin").await;
            assert_eq!(status, expected, "{pointer}: {problem}");
            assert!(problem.to_string().contains(fault), "{pointer}: {problem}");
        }
        assert!(store.programs().await.unwrap().is_empty());
    }

    /// The `field` of the object at `parent`, added when the sample leaves it out.
    fn terms_field<'a>(
        terms: &'a mut serde_json::Value,
        parent: &str,
        field: &str,
    ) -> &'a mut serde_json::Value {
        let object = terms.pointer_mut(parent).unwrap().as_object_mut().unwrap();
        object
            .entry(field.to_string())
            .or_insert(serde_json::Value::Null)
    }

    #[tokio::test]
    async fn a_new_version_ends_the_previous_one() {
        let store = testing::table().await;
        let (_, created) = call(
            &store,
            "POST",
            "/programs",
            Some(sample_terms()),
            "vendor_admin",
        )
        .await;
        let id = created["id"].as_str().unwrap();
        let mut terms = sample_terms();
        terms["starts_on"] = "2027-07-01".into();
        terms["rule"]["tiers"][2]["rate"] = "0.035".into();
        let path = format!("/programs/{id}/versions");
        let (status, next) = call(&store, "POST", &path, Some(terms.clone()), "vendor_admin").await;
        assert_eq!(
            (status, next["version"].clone()),
            (StatusCode::CREATED, 2.into()),
            "{next}"
        );
        let (_, one) = call(
            &store,
            "GET",
            &format!("/programs/{id}"),
            None,
            "vendor_admin",
        )
        .await;
        assert_eq!(one["versions"][0]["ends_on"], "2027-06-30");
        assert_eq!(one["versions"][1]["starts_on"], "2027-07-01");
        terms["starts_on"] = "2020-01-01".into();
        let (status, problem) = call(&store, "POST", &path, Some(terms), "vendor_admin").await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            problem
                .to_string()
                .contains("at the earliest: accrued lines are never re-rated"),
            "{problem}"
        );
    }

    #[tokio::test]
    async fn a_partner_reads_its_own_statement_as_json_and_csv() {
        let store = testing::table().await;
        let partner = testing::partner(&store, PartnerStatus::Active).await.id;
        let other = testing::partner(&store, PartnerStatus::Active).await.id;
        let mut terms = sample_terms();
        terms["starts_on"] = "2026-01-01".into();
        terms["eligibility"] = serde_json::json!({});
        store
            .create_program(
                &Program::create(serde_json::from_value(terms).unwrap(), "ada", Utc::now())
                    .unwrap(),
            )
            .await
            .unwrap();
        let line = PosLine {
            distributor: PartnerId::generate(),
            reseller_id: Some(partner.clone()),
            reseller_name: None,
            end_customer_name: None,
            end_customer_country: None,
            sku: "NW-1".into(),
            quantity: 3,
            unit_price: tributary::domain::Money::parse("1000", "USD").unwrap(),
            invoice_number: "I1".into(),
            line_number: "1".into(),
            invoice_date: NaiveDate::from_ymd_opt(2026, 5, 2).unwrap(),
            transaction_type: TransactionType::StockSale,
            held: false,
        };
        let message = Envelope::new(
            "m1",
            SalesReported {
                file_id: FileId::of_object("b", "k", "v"),
                lines: vec![line],
            },
            Utc::now(),
        );
        let now = "2026-05-20T00:00:00Z".parse().unwrap();
        RebateAccrual::new(store.clone())
            .handle(&message, now)
            .await
            .unwrap();

        let own = |path: &str| request("GET", path, None, "partner", partner.as_str());
        let response = route(
            &store,
            own(&format!("/partners/{partner}/accruals?period=2026-Q2")),
        )
        .await;
        assert_eq!(response.status(), StatusCode::OK);
        let statement = response_json(&response);
        assert_eq!(statement["programs"][0]["accrued"], "30.00");
        assert_eq!(statement["figures"][0]["volume"], "3000");
        assert_eq!(statement["entries"][0]["kind"], "accrual");

        let response = route(
            &store,
            own(&format!(
                "/partners/{partner}/accruals?period=2026-Q2&format=csv"
            )),
        )
        .await;
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "text/csv; charset=utf-8"
        );
        let text = std::str::from_utf8(response.body().as_ref())
            .unwrap()
            .to_string();
        let rows: Vec<&str> = text.lines().collect();
        assert_eq!(rows.len(), 2, "{text}");
        assert!(
            rows[0].starts_with("recorded_at,program_id,version"),
            "{text}"
        );
        assert!(
            rows[1].contains(",2026-Q2,2026-Q2,accrual,30.00,USD,3000,1,0.01,"),
            "{text}"
        );

        let theirs = route(
            &store,
            own(&format!("/partners/{other}/accruals?period=2026-Q2")),
        )
        .await;
        assert_eq!(theirs.status(), StatusCode::NOT_FOUND);
        let manager = request(
            "GET",
            &format!("/partners/{partner}/accruals?period=2026-Q2"),
            None,
            "channel_manager",
            "ada",
        );
        assert_eq!(route(&store, manager).await.status(), StatusCode::OK);
        for bad in ["", "?period=2026-Q9", "?period=2026-Q2&format=pdf"] {
            let response = route(&store, own(&format!("/partners/{partner}/accruals{bad}"))).await;
            assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        }
    }
}
