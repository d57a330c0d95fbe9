//! The channel data API (ingestion itself runs in pos-ingest, from the drop bucket):
//! - `PUT /catalog/skus` (vendor admin): `{"skus": [{"sku": "NW-1", "name": "...", "cost":
//!   {"amount": "120.00", "currency": "USD"}}]}` (cost optional), up to 1000;
//! - `PUT /distributors/{id}/profile` (vendor admin): a mapping profile (docs/pos-and-inventory-files.md);
//!   `GET` the same (vendor staff, or the distributor itself);
//! - `GET /pos/files` (a distributor: its own; vendor staff: all, or `?distributor=`), newest
//!   first, `limit`, `cursor`; `GET /pos/files/{id}`: one file record with its counts.
//!
//! - `GET /pos/held-lines` (a distributor: its own; vendor staff: `?distributor=`): lines held
//!   out of incentives because no partner matched their reseller, per reported name;
//! - `POST /pos/held-lines/release` (vendor staff): `{"distributor", "reseller_name",
//!   "partner_id"}` credits those lines to the partner, sends them to rebate accrual and
//!   matches the name in the distributor's later files.
//!
//! Another organisation's profile or file answers 404, as if it did not exist.

use chrono::Utc;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Deserialize;
use tributary::domain::access;
use tributary::domain::catalog::{CatalogEntry, check_entries};
use tributary::domain::pos::{FileId, MappingProfile};
use tributary::domain::{Money, PartnerId, PartnerKind, Principal, Role, ValidationErrors};
use tributary::http::{ApiError, caller, json, json_body, path_param};
use tributary::paging::PageRequest;
use tributary::route;
use tributary::router::{Answer, Router};
use tributary::store::{Catalog, DynamoStore, Partners, PosStore};
use tributary::workflow::held_lines::{HeldLines, ReleaseRequest};

/// The held-lines workflow carries the store the other routes use.
type Deps = HeldLines<DynamoStore>;

pub async fn route(deps: &Deps, request: Request) -> Response<Body> {
    ROUTES.dispatch(deps, &request).await
}

/// This function's routes: the `HttpApi` events of `PosApiFunction` in the template.
pub static ROUTES: Router<Deps> = Router::new(&[
    route!("PUT /catalog/skus", put_skus),
    route!("PUT /distributors/{id}/profile", put_profile),
    route!("GET /distributors/{id}/profile", get_profile),
    route!("GET /pos/files", list_files),
    route!("GET /pos/files/{id}", get_file),
    route!("GET /pos/held-lines", held_lines),
    route!("POST /pos/held-lines/release", release_held_lines),
]);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SkuList {
    skus: Vec<SkuEntry>,
}

/// A catalog entry as the API takes it: unknown fields refused (a typo must not drop a cost).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SkuEntry {
    sku: String,
    name: String,
    #[serde(default)]
    cost: Option<Money>,
}

async fn put_skus(deps: &Deps, request: &Request) -> Answer {
    let principal = caller(request)?;
    access::require_or(
        &principal,
        &access::ADMINS,
        "only vendor admins change the catalog",
    )?;
    let list: SkuList = json_body(request)?;
    let skus: Vec<CatalogEntry> = list
        .skus
        .into_iter()
        .map(|e| CatalogEntry {
            sku: e.sku,
            name: e.name,
            cost: e.cost,
        })
        .collect();
    check_entries(&skus, "skus")?;
    deps.store.put_entries_as_of(&skus, Utc::now()).await?;
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({"upserted": skus.len()}),
    ))
}

async fn put_profile(deps: &Deps, request: &Request) -> Answer {
    let principal = caller(request)?;
    access::require_or(
        &principal,
        &access::ADMINS,
        "only vendor admins change mapping profiles",
    )?;
    let distributor = distributor(&deps.store, &principal, path_param(request, "id")?).await?;
    let profile: MappingProfile = json_body(request)?;
    profile.compile()?;
    deps.store
        .put_profile(&distributor, &profile, Utc::now())
        .await?;
    Ok(json(StatusCode::OK, &profile))
}

async fn get_profile(deps: &Deps, request: &Request) -> Answer {
    let principal = caller(request)?;
    let distributor = distributor(&deps.store, &principal, path_param(request, "id")?).await?;
    let profile = deps.store.get_profile(&distributor).await?.ok_or_else(|| {
        ApiError::NotFound(format!(
            "distributor {distributor} has no mapping profile (the header dictionary is used)"
        ))
    })?;
    Ok(json(StatusCode::OK, &profile))
}

async fn list_files(deps: &Deps, request: &Request) -> Answer {
    let principal = caller(request)?;
    let params = request.query_string_parameters();
    let mut errors = ValidationErrors::new();
    let asked = params.first("distributor").and_then(|d| {
        d.parse::<PartnerId>()
            .map_err(|e| errors.add("distributor", e.to_string()))
            .ok()
    });
    let page = PageRequest::read(request, &mut errors);
    errors.into_result(())?;
    let scope = match principal.role {
        Role::Distributor => Some(access::own_id(&principal).ok_or_else(not_an_organisation)?),
        role if role.is_vendor_staff() => asked,
        _ => {
            return Err(ApiError::Forbidden(
                "POS files are for distributors and vendor staff".into(),
            ));
        }
    };
    let page = deps
        .store
        .list_files(scope.as_ref(), page.limit, page.cursor.as_deref())
        .await?;
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({"files": page.files, "next_cursor": page.next_cursor}),
    ))
}

async fn get_file(deps: &Deps, request: &Request) -> Answer {
    let principal = caller(request)?;
    let id = path_param(request, "id")?;
    let not_found = || ApiError::NotFound(format!("file {id} not found"));
    let id: FileId = id.parse().map_err(|_| not_found())?;
    let file = deps.store.get_file(&id).await?.ok_or_else(not_found)?;
    if !access::may_see_as(&principal, Role::Distributor, file.distributor.as_str()) {
        return Err(not_found());
    }
    Ok(json(StatusCode::OK, &file))
}

async fn held_lines(deps: &Deps, request: &Request) -> Answer {
    let principal = caller(request)?;
    let params = request.query_string_parameters();
    let distributor = match principal.role {
        Role::Distributor => access::own_id(&principal).ok_or_else(not_an_organisation)?,
        role if role.is_vendor_staff() => {
            let id = params.first("distributor").ok_or_else(|| {
                ValidationErrors::single("distributor", "required for vendor staff")
            })?;
            self::distributor(&deps.store, &principal, id).await?
        }
        _ => {
            return Err(ApiError::Forbidden(
                "held lines are for distributors and vendor staff".into(),
            ));
        }
    };
    let names = deps.by_name(&distributor).await?;
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({"distributor": distributor, "names": names}),
    ))
}

async fn release_held_lines(deps: &Deps, request: &Request) -> Answer {
    let principal = caller(request)?;
    access::require_or(
        &principal,
        &access::STAFF,
        "only vendor staff match resellers to partners",
    )?;
    let release: ReleaseRequest = json_body(request)?;
    let released = deps.release(&release, &principal.id, Utc::now()).await?;
    Ok(json(StatusCode::OK, &released))
}

/// A distributor's key whose principal is not a partner id (issued wrong by hand).
fn not_an_organisation() -> ApiError {
    ApiError::Forbidden("the caller is not a partner organisation".into())
}

/// The distributor at `id`, if the caller may see it: vendor staff, or the distributor itself.
async fn distributor<S: Partners>(
    store: &S,
    principal: &Principal,
    id: &str,
) -> Result<PartnerId, ApiError> {
    let not_found = || ApiError::NotFound(format!("distributor {id} not found"));
    let id: PartnerId = id.parse().map_err(|_| not_found())?;
    if !access::may_see(principal, id.as_str()) {
        return Err(not_found());
    }
    match store.get_partner(&id).await? {
        Some(p) if p.kind == PartnerKind::Distributor => Ok(id),
        Some(_) => Err(ApiError::Validation(ValidationErrors::single(
            "id",
            format!("{id} is a reseller, not a distributor"),
        ))),
        None => Err(not_found()),
    }
}

#[cfg(test)]
mod json_fuzz;

#[cfg(test)]
mod tests {
    use super::*;
    use tributary::domain::pos::{
        FileCounts, FileId, FileKind, FileStatus, PosFile, PosLine, TransactionType,
    };
    use tributary::domain::{Partner, PartnerStatus};
    use tributary::messaging::Envelope;
    use tributary::messaging::messages::SalesReported;
    use tributary::store::DynamoStore;
    use tributary::store::StoredLine;
    use tributary::testing;

    #[test]
    fn the_route_table_is_the_templates() {
        testing::routes::assert_route_table("pos-api", ROUTES.keys());
    }

    fn request(
        method: &str,
        path: &str,
        role: &str,
        principal: &str,
        body: Option<serde_json::Value>,
    ) -> Request {
        testing::api_request(
            include_str!("../../../events/pos-api.json"),
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

    /// The held-line service over `store`, sending to a fresh sales queue.
    async fn held(store: &DynamoStore) -> HeldLines<DynamoStore> {
        let sqs = testing::sqs_client().await;
        HeldLines {
            store: store.clone(),
            publisher: tributary::messaging::SqsPublisher::new(sqs.clone()),
            sales_queue_url: testing::queue(&sqs, false).await,
        }
    }

    async fn setup() -> (DynamoStore, Partner) {
        let store = testing::table().await;
        let distributor = Partner::new(
            "Fabrikam",
            PartnerKind::Distributor,
            "US",
            PartnerStatus::Active,
            Utc::now(),
        )
        .unwrap();
        store.create_partner(&distributor).await.unwrap();
        (store, distributor)
    }

    #[tokio::test]
    async fn vendor_admins_load_the_catalog_in_bulk_and_bad_entries_are_named() {
        let (store, _) = setup().await;
        let ok = serde_json::json!({"skus": [{"sku": "NW-1", "name": "Switch"}, {"sku": "NW-2", "name": "Router"}]});
        let response = route(
            &held(&store).await,
            request(
                "PUT",
                "/catalog/skus",
                "vendor_admin",
                "ada",
                Some(ok.clone()),
            ),
        )
        .await;
        assert_eq!(
            (response.status(), body(&response)["upserted"].clone()),
            (StatusCode::OK, 2.into())
        );
        assert_eq!(store.known_skus(&["NW-2".into()]).await.unwrap().len(), 1);
        let bad = serde_json::json!({"skus": [{"sku": "has space", "name": ""}]});
        let response = route(
            &held(&store).await,
            request("PUT", "/catalog/skus", "vendor_admin", "ada", Some(bad)),
        )
        .await;
        assert_eq!(response.status(), 422);
        let fields: Vec<_> = body(&response)["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(fields, ["skus[0].sku", "skus[0].name"]);
        // A misspelt field is refused, not dropped with the cost it meant.
        let typo = serde_json::json!({"skus": [{"sku": "NW-2", "name": "x", "costs": {"amount": "1", "currency": "USD"}}]});
        let response = route(
            &held(&store).await,
            request("PUT", "/catalog/skus", "vendor_admin", "ada", Some(typo)),
        )
        .await;
        assert_eq!(response.status(), 400);
        let response = route(
            &held(&store).await,
            request("PUT", "/catalog/skus", "channel_manager", "cm", Some(ok)),
        )
        .await;
        assert_eq!(response.status(), 403);
    }

    #[tokio::test]
    async fn a_profile_is_validated_stored_and_read_by_its_distributor_only() {
        let (store, distributor) = setup().await;
        let path = format!("/distributors/{}/profile", distributor.id);
        let profile = serde_json::json!({"columns": {"sku": "Artikel"}, "date_formats": ["%d.%m.%Y"], "decimal_separator": ",", "default_currency": "EUR"});
        let response = route(
            &held(&store).await,
            request("PUT", &path, "vendor_admin", "ada", Some(profile)),
        )
        .await;
        assert_eq!(response.status(), 200);
        let response = route(
            &held(&store).await,
            request("GET", &path, "distributor", distributor.id.as_str(), None),
        )
        .await;
        assert_eq!(
            (
                response.status(),
                body(&response)["default_currency"].clone()
            ),
            (StatusCode::OK, "EUR".into())
        );
        let other = PartnerId::generate();
        let response = route(
            &held(&store).await,
            request("GET", &path, "distributor", other.as_str(), None),
        )
        .await;
        assert_eq!(response.status(), 404);
        let bad = serde_json::json!({"columns": {"colour": "C"}, "default_currency": "EURO"});
        let response = route(
            &held(&store).await,
            request("PUT", &path, "vendor_admin", "ada", Some(bad)),
        )
        .await;
        assert_eq!(response.status(), 422);
        assert_eq!(body(&response)["errors"].as_array().unwrap().len(), 2);
        let unknown = serde_json::json!({"colums": {}});
        let response = route(
            &held(&store).await,
            request("PUT", &path, "vendor_admin", "ada", Some(unknown)),
        )
        .await;
        assert_eq!(
            response.status(),
            400,
            "unknown settings are named, not ignored"
        );
    }

    #[tokio::test]
    async fn file_records_are_listed_for_their_distributor_and_vendor_staff() {
        let (store, distributor) = setup().await;
        let now = Utc::now();
        let file = PosFile {
            id: FileId::of_object("b", "k", "v"),
            distributor: distributor.id.clone(),
            kind: FileKind::Pos,
            name: "jan.csv".into(),
            bucket: "b".into(),
            key: "k".into(),
            version_id: Some("v".into()),
            etag: None,
            size: 10,
            status: FileStatus::Completed,
            reason: None,
            counts: FileCounts {
                lines: 3,
                accepted: 2,
                rejected: 1,
                duplicates: 0,
                held: 0,
            },
            rows_done: 4,
            reject_report: Some("x".into()),
            detected: None,
            write_requests: 1,
            write_units: 2,
            invocations: 1,
            received_at: now,
            updated_at: now,
            completed_at: Some(now),
            revision: 1,
        };
        store.create_file(&file).await.unwrap();
        let own = route(
            &held(&store).await,
            request(
                "GET",
                "/pos/files",
                "distributor",
                distributor.id.as_str(),
                None,
            ),
        )
        .await;
        assert_eq!(body(&own)["files"][0]["counts"]["accepted"], 2);
        let staff = route(
            &held(&store).await,
            request(
                "GET",
                &format!("/pos/files?distributor={}", distributor.id),
                "channel_manager",
                "cm",
                None,
            ),
        )
        .await;
        assert_eq!(body(&staff)["files"].as_array().unwrap().len(), 1);
        let one = route(
            &held(&store).await,
            request(
                "GET",
                &format!("/pos/files/{}", file.id),
                "vendor_admin",
                "ada",
                None,
            ),
        )
        .await;
        assert_eq!(body(&one)["status"], "completed");
        let other = PartnerId::generate();
        let hidden = route(
            &held(&store).await,
            request(
                "GET",
                &format!("/pos/files/{}", file.id),
                "distributor",
                other.as_str(),
                None,
            ),
        )
        .await;
        assert_eq!(hidden.status(), 404);
        let theirs = route(
            &held(&store).await,
            request("GET", "/pos/files", "distributor", other.as_str(), None),
        )
        .await;
        assert!(body(&theirs)["files"].as_array().unwrap().is_empty());
        let partner = route(
            &held(&store).await,
            request("GET", "/pos/files", "partner", other.as_str(), None),
        )
        .await;
        assert_eq!(partner.status(), 403);
    }

    fn held_line(distributor: &PartnerId, invoice: &str, name: &str) -> StoredLine {
        let line = PosLine {
            distributor: distributor.clone(),
            reseller_id: None,
            reseller_name: Some(name.into()),
            end_customer_name: None,
            end_customer_country: None,
            sku: "NW-1".into(),
            quantity: 2,
            unit_price: tributary::domain::Money::parse("10", "USD").unwrap(),
            invoice_number: invoice.into(),
            line_number: "1".into(),
            invoice_date: Utc::now().date_naive(),
            transaction_type: TransactionType::StockSale,
            held: true,
        };
        StoredLine {
            key: line.key(),
            file: FileId::of_object("drop", "k", "v"),
            row: 2,
            line: serde_json::to_string(&line).unwrap(),
            held: line.held_under(),
        }
    }

    #[tokio::test]
    async fn staff_release_held_lines_to_a_partner_once() {
        let (store, distributor) = setup().await;
        let partner = testing::partner(&store, PartnerStatus::Active).await.id;
        let held = held(&store).await;
        let lines = vec![
            held_line(&distributor.id, "I1", "NWR Group, Inc."),
            held_line(&distributor.id, "I2", "nwr group"),
            held_line(&distributor.id, "I3", "Other Co"),
        ];
        store.put_lines(lines.clone(), 1).await.unwrap();
        let call = |method: &str, path: &str, role: &str, who: &str, body| {
            route(&held, request(method, path, role, who, body))
        };

        let listed = call(
            "GET",
            "/pos/held-lines",
            "distributor",
            distributor.id.as_str(),
            None,
        )
        .await;
        assert_eq!(listed.status(), StatusCode::OK);
        let names = body(&listed)["names"].clone();
        assert_eq!(names[0]["normalized_name"], "nwr group");
        assert_eq!(names[0]["lines"], 2);
        assert_eq!(names[1]["reseller_name"], "Other Co");
        let unscoped = call("GET", "/pos/held-lines", "channel_manager", "ada", None).await;
        assert_eq!(unscoped.status(), StatusCode::UNPROCESSABLE_ENTITY);

        let release = |name: &str, to: &PartnerId| serde_json::json!({"distributor": distributor.id, "reseller_name": name, "partner_id": to});
        let path = "/pos/held-lines/release";
        let refused = call(
            "POST",
            path,
            "partner",
            partner.as_str(),
            Some(release("NWR Group", &partner)),
        )
        .await;
        assert_eq!(refused.status(), StatusCode::FORBIDDEN);
        let not_reseller = call(
            "POST",
            path,
            "channel_manager",
            "ada",
            Some(release("NWR Group", &distributor.id)),
        )
        .await;
        assert_eq!(not_reseller.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            body(&not_reseller)
                .to_string()
                .contains("is not a reseller partner")
        );

        let done = call(
            "POST",
            path,
            "channel_manager",
            "ada",
            Some(release("NWR Group", &partner)),
        )
        .await;
        assert_eq!(done.status(), StatusCode::OK);
        assert_eq!(
            (
                body(&done)["released"].clone(),
                body(&done)["sent_to_accrual"].clone()
            ),
            (2.into(), 2.into())
        );
        let sent = testing::drain(&testing::sqs_client().await, &held.sales_queue_url).await;
        assert_eq!(sent.len(), 2);
        for text in &sent {
            let message: Envelope<SalesReported> = Envelope::decode(text).unwrap();
            assert!(
                message.id.starts_with("pos-release:POSLINE#"),
                "{}",
                message.id
            );
            let line = &message.payload.lines[0];
            assert_eq!(
                (line.held, line.reseller_id.as_ref()),
                (false, Some(&partner))
            );
        }
        // The name now matches in the distributor's later files.
        let aliases = store.reseller_aliases(&distributor.id).await.unwrap();
        assert_eq!(aliases, [("nwr group".to_string(), partner.clone())]);

        let again = call(
            "POST",
            path,
            "channel_manager",
            "ada",
            Some(release("NWR Group", &partner)),
        )
        .await;
        assert_eq!(body(&again)["released"], 0);
        assert_eq!(body(&again)["sent_to_accrual"], 0);

        // A release interrupted after marking a line sends it when repeated.
        let other = &lines[2];
        let mut released: PosLine = serde_json::from_str(&other.line).unwrap();
        released.held = false;
        released.reseller_id = Some(partner.clone());
        assert!(
            store
                .mark_releasing(&other.key, &released, "ada", Utc::now())
                .await
                .unwrap()
        );
        let resumed = call(
            "POST",
            path,
            "channel_manager",
            "ada",
            Some(release("Other Co", &partner)),
        )
        .await;
        assert_eq!(body(&resumed)["released"], 0);
        assert_eq!(body(&resumed)["sent_to_accrual"], 1);
        let left = call(
            "GET",
            "/pos/held-lines",
            "distributor",
            distributor.id.as_str(),
            None,
        )
        .await;
        assert_eq!(body(&left)["names"], serde_json::json!([]));
    }
}
