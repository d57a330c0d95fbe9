//! Channel inventory over HTTP:
//! - `PUT /inventory/thresholds` (vendor admin) `{"thresholds": [...]}`; `GET` (vendor staff,
//!   `?sku=`);
//! - `GET /inventory/stock` and `GET /inventory/alerts?state=open` (vendor staff, any or
//!   `?distributor=`; a distributor its own). `state` is `open` (every alert) or one alert
//!   state (`low`, `out`, `excess`, `stale`);
//! - `POST /inventory/shipments` (vendor admin) `{"shipments": [...]}`: sell-in;
//! - `GET /inventory/reconciliation?period=2026-11[&sku=]` (vendor staff with `distributor`, a
//!   distributor its own);
//! - `POST /price-changes` (vendor admin), `GET /price-changes` (vendor staff);
//! - `GET /price-protection/credits` (vendor staff, any or `?distributor=`; a distributor its own).

use chrono::{NaiveDate, Utc};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Deserialize;
use tributary::domain::access;
use tributary::domain::inventory::{PriceChangeRequest, Shipment, StockState, Threshold};
use tributary::domain::rebate::Period;
use tributary::domain::{Money, PartnerId, Principal, Role, ValidationErrors};
use tributary::http::{ApiError, caller, json, json_body};
use tributary::route;
use tributary::router::{Answer, Router};
use tributary::store::InventoryStore;
use tributary::workflow::inventory::InventoryService;

pub async fn route(service: &InventoryService, request: Request) -> Response<Body> {
    ROUTES.dispatch(service, &request).await
}

/// This function's routes: the `HttpApi` events of `InventoryApiFunction` in the template.
pub static ROUTES: Router<InventoryService> = Router::new(&[
    route!("PUT /inventory/thresholds", set_thresholds),
    route!("GET /inventory/thresholds", list_thresholds),
    route!("GET /inventory/stock", distributor_stock),
    route!("GET /inventory/alerts", list_alerts),
    route!("POST /inventory/shipments", record_shipments),
    route!("GET /inventory/reconciliation", reconcile),
    route!("POST /price-changes", announce_price_change),
    route!("GET /price-changes", list_price_changes),
    route!("GET /price-protection/credits", list_credits),
]);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Thresholds {
    thresholds: Vec<Threshold>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Shipments {
    shipments: Vec<Shipment>,
}

/// `POST /price-changes` (the stored change flattens the request, so the strict reading of the
/// body is here).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PriceChangeBody {
    sku: String,
    old_cost: Money,
    new_cost: Money,
    effective_date: NaiveDate,
}

async fn set_thresholds(service: &InventoryService, request: &Request) -> Answer {
    let principal = caller(request)?;
    access::require_or(
        &principal,
        &access::ADMINS,
        "setting thresholds is for vendor admins",
    )?;
    let body: Thresholds = json_body(request)?;
    let stored = service
        .put_thresholds(body.thresholds, &principal.id, Utc::now())
        .await?;
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({ "thresholds": stored }),
    ))
}

async fn list_thresholds(service: &InventoryService, request: &Request) -> Answer {
    let principal = caller(request)?;
    access::require_or(&principal, &access::STAFF, "this is for vendor staff")?;
    let thresholds = service
        .store
        .thresholds(sku_param(query(request, "sku"))?)
        .await?;
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({ "thresholds": thresholds }),
    ))
}

async fn distributor_stock(service: &InventoryService, request: &Request) -> Answer {
    let principal = caller(request)?;
    let distributor =
        scope(&principal, query(request, "distributor"))?.ok_or_else(|| required("distributor"))?;
    let stock = service.store.distributor_stock(&distributor).await?;
    Ok(json(StatusCode::OK, &serde_json::json!({ "stock": stock })))
}

async fn list_alerts(service: &InventoryService, request: &Request) -> Answer {
    let principal = caller(request)?;
    let distributor = scope(&principal, query(request, "distributor"))?;
    let only = match query(request, "state").unwrap_or("open") {
        "open" => None,
        other => match StockState::parse(other).filter(StockState::is_alert) {
            Some(state) => Some(state),
            None => {
                return Err(ValidationErrors::single(
                    "state",
                    format!("{other:?}: expected open, low, out, excess or stale"),
                )
                .into());
            }
        },
    };
    let alerts: Vec<_> = service
        .store
        .open_alerts(distributor.as_ref())
        .await?
        .into_iter()
        .filter(|r| only.is_none_or(|s| r.state == s))
        .collect();
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({ "alerts": alerts }),
    ))
}

async fn record_shipments(service: &InventoryService, request: &Request) -> Answer {
    let principal = caller(request)?;
    access::require_or(
        &principal,
        &access::ADMINS,
        "recording shipments is for vendor admins",
    )?;
    let body: Shipments = json_body(request)?;
    let summary = service
        .record_shipments(&body.shipments, Utc::now())
        .await?;
    Ok(json(StatusCode::OK, &summary))
}

async fn reconcile(service: &InventoryService, request: &Request) -> Answer {
    let principal = caller(request)?;
    let distributor = scope(&principal, query(request, "distributor"))?;
    let sku = sku_param(query(request, "sku"))?;
    let mut errors = ValidationErrors::new();
    if distributor.is_none() {
        errors.add("distributor", "required for vendor staff");
    }
    let period = match query(request, "period").map(str::parse::<Period>) {
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
    let (distributor, period) = errors.into_result((distributor, period))?;
    let (distributor, period) = (distributor.expect("checked"), period.expect("checked"));
    let lines = service.reconciliation(&distributor, period, sku).await?;
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({
            "distributor": distributor,
            "period": period,
            "from": period.first_day(),
            "to": period.last_day(),
            "lines": lines,
        }),
    ))
}

async fn announce_price_change(service: &InventoryService, request: &Request) -> Answer {
    let principal = caller(request)?;
    access::require_or(
        &principal,
        &access::ADMINS,
        "announcing price changes is for vendor admins",
    )?;
    let body: PriceChangeBody = json_body(request)?;
    let change = PriceChangeRequest {
        sku: body.sku,
        old_cost: body.old_cost,
        new_cost: body.new_cost,
        effective_date: body.effective_date,
    };
    let (created, change) = service
        .create_price_change(change, &principal.id, Utc::now())
        .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(json(status, &change))
}

async fn list_price_changes(service: &InventoryService, request: &Request) -> Answer {
    let principal = caller(request)?;
    access::require_or(&principal, &access::STAFF, "this is for vendor staff")?;
    let changes = service.store.price_changes().await?;
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({ "price_changes": changes }),
    ))
}

async fn list_credits(service: &InventoryService, request: &Request) -> Answer {
    let principal = caller(request)?;
    let distributor = scope(&principal, query(request, "distributor"))?;
    let credits = service.store.credits(distributor.as_ref()).await?;
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({ "credits": credits }),
    ))
}

/// The first value of the query parameter `name`.
fn query<'a>(request: &'a Request, name: &str) -> Option<&'a str> {
    request
        .query_string_parameters_ref()
        .and_then(|q| q.first(name))
}

/// A `sku` query parameter, checked like a SKU in a body.
fn sku_param(sku: Option<&str>) -> Result<Option<&str>, ApiError> {
    match sku {
        Some(sku) if sku.trim().is_empty() || sku.len() > 64 => {
            Err(ValidationErrors::single("sku", "1 to 64 characters").into())
        }
        other => Ok(other),
    }
}

fn required(field: &str) -> ApiError {
    ValidationErrors::single(field, "required for vendor staff").into()
}

/// Whose inventory a read is about: a distributor always its own (asking for another is a
/// 403); vendor staff whichever they name, or every distributor.
fn scope(principal: &Principal, asked: Option<&str>) -> Result<Option<PartnerId>, ApiError> {
    let asked = asked
        .map(|d| {
            d.parse::<PartnerId>()
                .map_err(|e| ApiError::from(ValidationErrors::single("distributor", e.to_string())))
        })
        .transpose()?;
    match principal.role {
        Role::Distributor => {
            let own = access::own_id(principal)
                .ok_or_else(|| ApiError::Forbidden("the caller is not a distributor".into()))?;
            if asked
                .as_ref()
                .is_some_and(|a| !access::may_see(principal, a.as_str()))
            {
                return Err(ApiError::Forbidden(
                    "a distributor sees only its own inventory".into(),
                ));
            }
            Ok(Some(own))
        }
        role if role.is_vendor_staff() => Ok(asked),
        _ => Err(ApiError::Forbidden(
            "inventory is for vendor staff and distributors".into(),
        )),
    }
}

#[cfg(test)]
mod json_fuzz;

#[cfg(test)]
mod tests {
    use lambda_http::http::StatusCode;
    use serde_json::{Value, json};
    use tributary::domain::PartnerId;
    use tributary::testing;

    use super::*;

    const SAMPLE: &str = include_str!("../../../events/inventory-api.json");

    async fn call(
        service: &InventoryService,
        method: &str,
        path: &str,
        body: Option<Value>,
        role: &str,
        principal: &str,
    ) -> (StatusCode, Value) {
        let request = testing::api_request(SAMPLE, method, path, body, role, principal);
        let response = route(service, request).await;
        let status = response.status();
        (status, testing::response_json(&response))
    }

    fn fields(body: &Value) -> Vec<String> {
        body["errors"]
            .as_array()
            .map(|errors| {
                errors
                    .iter()
                    .map(|e| e["field"].as_str().unwrap().to_string())
                    .collect()
            })
            .unwrap_or_default()
    }

    #[tokio::test]
    async fn the_sample_event_sets_a_threshold() {
        let (service, _) = testing::inventory_service().await;
        let request = lambda_http::request::from_str(SAMPLE).unwrap();
        let response = route(&service, request).await;
        assert_eq!(response.status(), StatusCode::OK);
        let (status, body) = call(
            &service,
            "GET",
            "/inventory/thresholds",
            None,
            "channel_manager",
            "cm",
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["thresholds"][0]["sku"], "NW-1");
        assert_eq!(body["thresholds"][0]["updated_by"], "ada");
    }

    #[tokio::test]
    async fn bad_thresholds_are_refused_by_name_and_nothing_is_stored() {
        let (service, [dist, _]) = testing::inventory_service().await;
        let reseller = PartnerId::generate();
        let bad = json!({"thresholds": [
            {"sku": "NW-1", "min_units": 20, "max_units": 10},
            {"sku": "NOT-A-SKU", "weeks_of_supply_floor": "-1"},
            {"sku": "NW-2", "distributor": reseller},
        ]});
        let (status, body) = call(
            &service,
            "PUT",
            "/inventory/thresholds",
            Some(bad),
            "vendor_admin",
            "ada",
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let named = fields(&body);
        assert!(
            named.contains(&"thresholds[0].max_units".to_string()),
            "{named:?}"
        );
        assert!(
            named.contains(&"thresholds[1].weeks_of_supply_floor".to_string()),
            "{named:?}"
        );
        // Shape first, then the catalog, then the distributors: each refusal names its field.
        let unknown = json!({"thresholds": [{"sku": "NOT-A-SKU"}]});
        let (status, body) = call(
            &service,
            "PUT",
            "/inventory/thresholds",
            Some(unknown),
            "vendor_admin",
            "ada",
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(fields(&body), ["thresholds[0].sku"]);
        let not_a_distributor = json!({"thresholds": [{"sku": "NW-2", "distributor": reseller}]});
        let (status, body) = call(
            &service,
            "PUT",
            "/inventory/thresholds",
            Some(not_a_distributor),
            "vendor_admin",
            "ada",
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(fields(&body), ["thresholds[0].distributor"]);
        let (status, _) = call(
            &service,
            "PUT",
            "/inventory/thresholds",
            Some(json!({"thresholds": [{"sku": "NW-1"}]})),
            "distributor",
            dist.as_str(),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        // A misspelt limit is refused, not stored as a threshold without limits.
        let typo = json!({"thresholds": [{"sku": "NW-1", "min_unit": 10}]});
        let (status, body) = call(
            &service,
            "PUT",
            "/inventory/thresholds",
            Some(typo),
            "vendor_admin",
            "ada",
        )
        .await;
        assert!(status.is_client_error(), "{status} {body}");
        assert!(
            body["detail"].as_str().unwrap().contains("min_unit"),
            "{body}"
        );
        let (_, body) = call(
            &service,
            "GET",
            "/inventory/thresholds",
            None,
            "vendor_admin",
            "ada",
        )
        .await;
        assert_eq!(body["thresholds"], json!([]));
        let long = "X".repeat(65);
        let (status, body) = call(
            &service,
            "GET",
            &format!("/inventory/thresholds?sku={long}"),
            None,
            "vendor_admin",
            "ada",
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(fields(&body), ["sku"]);
    }

    #[tokio::test]
    async fn price_changes_refuse_bad_input_and_are_recorded_once() {
        let (service, [dist, _]) = testing::inventory_service().await;
        let today = Utc::now().date_naive();
        let bad = json!({"sku": "NOT-A-SKU", "old_cost": {"amount": "-5", "currency": "USD"},
            "new_cost": {"amount": "4", "currency": "EUR"}, "effective_date": "2020-01-01"});
        let (status, body) = call(
            &service,
            "POST",
            "/price-changes",
            Some(bad),
            "vendor_admin",
            "ada",
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        let named = fields(&body);
        for field in ["old_cost.amount", "new_cost.currency", "effective_date"] {
            assert!(named.contains(&field.to_string()), "{field} in {named:?}");
        }
        let unknown = json!({"sku": "NOT-A-SKU", "old_cost": {"amount": "5", "currency": "USD"},
            "new_cost": {"amount": "4", "currency": "USD"}, "effective_date": today});
        let (status, body) = call(
            &service,
            "POST",
            "/price-changes",
            Some(unknown),
            "vendor_admin",
            "ada",
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(fields(&body), ["sku"]);
        let good = json!({"sku": "NW-1", "old_cost": {"amount": "5", "currency": "USD"},
            "new_cost": {"amount": "4", "currency": "USD"}, "effective_date": today});
        let (status, _) = call(
            &service,
            "POST",
            "/price-changes",
            Some(good.clone()),
            "distributor",
            dist.as_str(),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, created) = call(
            &service,
            "POST",
            "/price-changes",
            Some(good.clone()),
            "vendor_admin",
            "ada",
        )
        .await;
        assert_eq!(status, StatusCode::CREATED);
        assert_eq!(created["status"], "pending");
        let (status, again) = call(
            &service,
            "POST",
            "/price-changes",
            Some(good),
            "vendor_admin",
            "ada",
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(again["id"], created["id"]);
        let other = json!({"sku": "NW-1", "old_cost": {"amount": "5", "currency": "USD"},
            "new_cost": {"amount": "3", "currency": "USD"}, "effective_date": today});
        let (status, _) = call(
            &service,
            "POST",
            "/price-changes",
            Some(other),
            "vendor_admin",
            "ada",
        )
        .await;
        assert_eq!(status, StatusCode::CONFLICT);
        let (_, list) = call(
            &service,
            "GET",
            "/price-changes",
            None,
            "channel_manager",
            "cm",
        )
        .await;
        assert_eq!(list["price_changes"].as_array().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn distributors_see_only_their_own_inventory() {
        let (service, [dist, other]) = testing::inventory_service().await;
        let (status, body) = call(
            &service,
            "GET",
            &format!("/inventory/alerts?state=open&distributor={other}"),
            None,
            "distributor",
            dist.as_str(),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        for path in [
            "/inventory/alerts?state=open".to_string(),
            "/inventory/stock".to_string(),
            "/price-protection/credits".to_string(),
            "/inventory/reconciliation?period=2026-10".to_string(),
        ] {
            let (status, body) =
                call(&service, "GET", &path, None, "distributor", dist.as_str()).await;
            assert_eq!(status, StatusCode::OK, "{path}: {body}");
        }
        let (status, _) = call(
            &service,
            "GET",
            "/inventory/alerts",
            None,
            "partner",
            PartnerId::generate().as_str(),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, body) = call(
            &service,
            "GET",
            "/inventory/alerts?state=sunny",
            None,
            "channel_manager",
            "cm",
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(fields(&body), ["state"]);
        let (status, body) = call(
            &service,
            "GET",
            "/inventory/reconciliation?period=2026-13",
            None,
            "channel_manager",
            "cm",
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(fields(&body), ["distributor", "period"]);
    }

    #[tokio::test]
    async fn bad_shipments_are_refused_by_name_and_nothing_is_recorded() {
        let (service, [dist, _]) = testing::inventory_service().await;
        let bad = json!({"shipments": [
            {"id": "S1", "distributor": dist, "sku": "NW-1", "quantity": 0, "shipped_on": "2026-10-01"},
            {"id": "S1", "distributor": dist, "sku": "NW-1", "quantity": 5, "shipped_on": "2099-10-01"},
        ]});
        let (status, body) = call(
            &service,
            "POST",
            "/inventory/shipments",
            Some(bad),
            "vendor_admin",
            "ada",
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            fields(&body),
            [
                "shipments[0].quantity",
                "shipments[1].shipped_on",
                "shipments[1].id"
            ]
        );
        let day: chrono::NaiveDate = "2026-10-01".parse().unwrap();
        let sell_in = || {
            service
                .store
                .flow_units(tributary::store::Flow::SellIn, &dist, "NW-1", day, day)
        };
        assert_eq!(sell_in().await.unwrap(), 0);
        let good = json!({"shipments": [
            {"id": "S1", "distributor": dist, "sku": "NW-1", "quantity": 5, "shipped_on": "2026-10-01"},
        ]});
        let (status, body) = call(
            &service,
            "POST",
            "/inventory/shipments",
            Some(good),
            "vendor_admin",
            "ada",
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["recorded"], 1);
        assert_eq!(sell_in().await.unwrap(), 5);
    }

    #[test]
    fn the_route_table_is_the_templates() {
        tributary::testing::routes::assert_route_table("inventory-api", ROUTES.keys());
    }
}
