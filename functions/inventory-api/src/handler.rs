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

use chrono::Utc;
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Deserialize;
use tributary::domain::inventory::{PriceChangeRequest, Shipment, StockState, Threshold};
use tributary::domain::rebate::Period;
use tributary::domain::{PartnerId, Principal, Role, ValidationErrors};
use tributary::http::{ApiError, caller, json, json_body, respond};
use tributary::store::InventoryStore;
use tributary::workflow::inventory::InventoryService;

pub async fn route(service: &InventoryService, request: Request) -> Response<Body> {
    respond(dispatch(service, &request).await)
}

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

async fn dispatch(
    service: &InventoryService,
    request: &Request,
) -> Result<Response<Body>, ApiError> {
    let principal = caller(request)?;
    let segments: Vec<&str> = request.uri().path().trim_matches('/').split('/').collect();
    let params = request.query_string_parameters();
    let store = &service.store;
    let now = Utc::now();
    match (request.method().clone(), segments.as_slice()) {
        (Method::PUT, ["inventory", "thresholds"]) => {
            require_admin(&principal, "setting thresholds")?;
            let body: Thresholds = json_body(request)?;
            let stored = service
                .put_thresholds(body.thresholds, &principal.id, now)
                .await?;
            Ok(json(
                StatusCode::OK,
                &serde_json::json!({ "thresholds": stored }),
            ))
        }
        (Method::GET, ["inventory", "thresholds"]) => {
            require_staff(&principal)?;
            let thresholds = store.thresholds(params.first("sku")).await?;
            Ok(json(
                StatusCode::OK,
                &serde_json::json!({ "thresholds": thresholds }),
            ))
        }
        (Method::GET, ["inventory", "stock"]) => {
            let distributor = scope(&principal, params.first("distributor"))?
                .ok_or_else(|| required("distributor"))?;
            let stock = store.distributor_stock(&distributor).await?;
            Ok(json(StatusCode::OK, &serde_json::json!({ "stock": stock })))
        }
        (Method::GET, ["inventory", "alerts"]) => {
            let distributor = scope(&principal, params.first("distributor"))?;
            let only = match params.first("state").unwrap_or("open") {
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
            let alerts: Vec<_> = store
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
        (Method::POST, ["inventory", "shipments"]) => {
            require_admin(&principal, "recording shipments")?;
            let body: Shipments = json_body(request)?;
            let summary = service.record_shipments(&body.shipments, now).await?;
            Ok(json(StatusCode::OK, &summary))
        }
        (Method::GET, ["inventory", "reconciliation"]) => {
            let distributor = scope(&principal, params.first("distributor"))?;
            let mut errors = ValidationErrors::new();
            if distributor.is_none() {
                errors.add("distributor", "required for vendor staff");
            }
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
            let (distributor, period) = errors.into_result((distributor, period))?;
            let (distributor, period) = (distributor.expect("checked"), period.expect("checked"));
            let lines = service
                .reconciliation(&distributor, period, params.first("sku"))
                .await?;
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
        (Method::POST, ["price-changes"]) => {
            require_admin(&principal, "announcing price changes")?;
            let body: PriceChangeRequest = json_body(request)?;
            let (created, change) = service
                .create_price_change(body, &principal.id, now)
                .await?;
            let status = if created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            Ok(json(status, &change))
        }
        (Method::GET, ["price-changes"]) => {
            require_staff(&principal)?;
            let changes = store.price_changes().await?;
            Ok(json(
                StatusCode::OK,
                &serde_json::json!({ "price_changes": changes }),
            ))
        }
        (Method::GET, ["price-protection", "credits"]) => {
            let distributor = scope(&principal, params.first("distributor"))?;
            let credits = store.credits(distributor.as_ref()).await?;
            Ok(json(
                StatusCode::OK,
                &serde_json::json!({ "credits": credits }),
            ))
        }
        _ => Err(ApiError::NotFound(format!(
            "no route for {} {}",
            request.method(),
            request.uri().path()
        ))),
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
            let own: PartnerId = principal
                .id
                .parse()
                .map_err(|_| ApiError::Forbidden("the caller is not a distributor".into()))?;
            if asked.as_ref().is_some_and(|a| *a != own) {
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

fn require_admin(principal: &Principal, what: &str) -> Result<(), ApiError> {
    if principal.role == Role::VendorAdmin {
        Ok(())
    } else {
        Err(ApiError::Forbidden(format!("{what} is for vendor admins")))
    }
}

fn require_staff(principal: &Principal) -> Result<(), ApiError> {
    if principal.role.is_vendor_staff() {
        Ok(())
    } else {
        Err(ApiError::Forbidden("this is for vendor staff".into()))
    }
}
