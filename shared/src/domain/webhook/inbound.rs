//! Inbound events: the envelope every source sends and the typed data of the routed types.
//!
//! An event reads `{"id": "...", "type": "...", "occurred_at": "<RFC 3339>", "data": {...}}`.
//! Unknown fields are ignored (sources add fields over time); the fields each type needs are
//! checked here, before the event is queued, so that a bad event is refused to its sender.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::domain::catalog::CatalogEntry;
use crate::domain::inventory::{PriceChangeRequest, Shipment};
use crate::domain::onboarding::TrainingRequest;
use crate::domain::{DealId, PartnerId, ValidationErrors};

/// The types routed to a workflow; any other type is stored and acknowledged as ignored.
pub const ROUTED_TYPES: [&str; 5] = [
    "catalog.updated",
    "price.changed",
    "training.completed",
    "opportunity.updated",
    "shipment.created",
];

/// Longest event id accepted.
pub const MAX_EVENT_ID_LENGTH: usize = 128;

/// The envelope, as received.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct InboundEvent {
    pub id: String,
    #[serde(rename = "type")]
    pub event_type: String,
    #[serde(default)]
    pub occurred_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub data: Value,
}

impl InboundEvent {
    /// Parses a body; the fault is named for the sender.
    pub fn parse(body: &[u8]) -> Result<Self, String> {
        let event: InboundEvent =
            serde_json::from_slice(body).map_err(|e| format!("the body is not an event: {e}"))?;
        if event.id.is_empty()
            || event.id.len() > MAX_EVENT_ID_LENGTH
            || !event.id.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(format!(
                "id must be 1 to {MAX_EVENT_ID_LENGTH} visible ASCII characters"
            ));
        }
        if event.event_type.is_empty()
            || event.event_type.len() > 100
            || !event.event_type.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(String::from(
                "type must be 1 to 100 visible ASCII characters",
            ));
        }
        Ok(event)
    }

    pub fn is_routed(&self) -> bool {
        ROUTED_TYPES.contains(&self.event_type.as_str())
    }
}

/// `catalog.updated`: SKUs as the source holds them now (name and, optionally, cost).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CatalogUpdated {
    pub skus: Vec<CatalogEntry>,
}

/// `training.completed`: a partner's user completed a course in the LMS.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingCompleted {
    pub partner_id: PartnerId,
    pub course: String,
    pub completed_on: NaiveDate,
}

/// `opportunity.updated`: the CRM's opportunity of a registered deal moved. Only `won` and
/// `lost` (also spelled `closed_won`, `closed_lost`) change the deal; other stages are noted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpportunityUpdated {
    pub deal_id: DealId,
    pub stage: String,
}

/// The end an opportunity's stage means for its deal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpportunityEnd {
    Won,
    Lost,
}

impl OpportunityUpdated {
    pub fn end(&self) -> Option<OpportunityEnd> {
        match self.stage.trim().to_ascii_lowercase().as_str() {
            "won" | "closed_won" | "closed won" => Some(OpportunityEnd::Won),
            "lost" | "closed_lost" | "closed lost" => Some(OpportunityEnd::Lost),
            _ => None,
        }
    }
}

/// A routed event's data, typed and checked.
#[derive(Debug, Clone, PartialEq)]
pub enum RoutedEvent {
    CatalogUpdated(CatalogUpdated),
    PriceChanged(PriceChangeRequest),
    TrainingCompleted(TrainingCompleted),
    OpportunityUpdated(OpportunityUpdated),
    ShipmentCreated(Shipment),
}

/// The data as the API takes it, with unknown fields allowed: `data` objects are sources'.
fn typed<T: serde::de::DeserializeOwned>(data: &Value) -> Result<T, ValidationErrors> {
    serde_json::from_value(data.clone())
        .map_err(|e| ValidationErrors::single("data", e.to_string()))
}

/// Drops the fields `T` does not know from `data` (the API types refuse unknown fields).
fn known_fields(data: &Value, fields: &[&str]) -> Value {
    match data {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| fields.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        other => other.clone(),
    }
}

impl RoutedEvent {
    /// The typed data of a routed type (`None` for any other type), checked as of `today`.
    pub fn parse(event: &InboundEvent, today: NaiveDate) -> Option<Result<Self, ValidationErrors>> {
        let data = &event.data;
        let parsed = match event.event_type.as_str() {
            "catalog.updated" => typed::<CatalogUpdated>(data).and_then(|update| {
                crate::domain::catalog::check_entries(&update.skus, "data.skus")?;
                Ok(Self::CatalogUpdated(update))
            }),
            "price.changed" => typed::<PriceChangeRequest>(data).and_then(|change| {
                change.check(today).map_err(|e| e.prefixed("data."))?;
                Ok(Self::PriceChanged(change))
            }),
            "training.completed" => typed::<TrainingCompleted>(data).and_then(|training| {
                TrainingRequest {
                    course: training.course.clone(),
                    completed_on: training.completed_on,
                }
                .check(today)
                .map_err(|e| e.prefixed("data."))?;
                Ok(Self::TrainingCompleted(training))
            }),
            "opportunity.updated" => typed::<OpportunityUpdated>(data).and_then(|update| {
                if update.stage.trim().is_empty() || update.stage.len() > 100 {
                    return Err(ValidationErrors::single(
                        "data.stage",
                        "required, 1 to 100 characters",
                    ));
                }
                Ok(Self::OpportunityUpdated(update))
            }),
            "shipment.created" => {
                let fields = ["id", "distributor", "sku", "quantity", "shipped_on"];
                typed::<Shipment>(&known_fields(data, &fields)).and_then(|shipment| {
                    let mut errors = ValidationErrors::new();
                    shipment.check("data.", today, &mut errors);
                    errors.into_result(Self::ShipmentCreated(shipment))
                })
            }
            _ => return None,
        };
        Some(parsed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(event_type: &str, data: Value) -> InboundEvent {
        InboundEvent {
            id: "evt_1".into(),
            event_type: event_type.into(),
            occurred_at: None,
            data,
        }
    }

    fn today() -> NaiveDate {
        "2026-12-01".parse().unwrap()
    }

    fn fault(event_type: &str, data: Value) -> String {
        RoutedEvent::parse(&event(event_type, data), today())
            .expect("a routed type")
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn envelopes_need_an_id_and_a_type() {
        let ok = InboundEvent::parse(br#"{"id":"e1","type":"x.y","data":{},"extra":1}"#).unwrap();
        assert_eq!((ok.id.as_str(), ok.event_type.as_str()), ("e1", "x.y"));
        assert!(!ok.is_routed());
        assert!(
            InboundEvent::parse(b"{")
                .unwrap_err()
                .contains("not an event")
        );
        assert!(
            InboundEvent::parse(br#"{"type":"x"}"#)
                .unwrap_err()
                .contains("id")
        );
        assert!(
            InboundEvent::parse(br#"{"id":"a b","type":"x"}"#)
                .unwrap_err()
                .contains("id must")
        );
        assert!(
            InboundEvent::parse(br#"{"id":"a","type":""}"#)
                .unwrap_err()
                .contains("type must")
        );
        let long = format!(r#"{{"id":"{}","type":"x"}}"#, "a".repeat(129));
        assert!(InboundEvent::parse(long.as_bytes()).is_err());
    }

    #[test]
    fn each_routed_type_parses_its_data() {
        let parsed = |t: &str, data: Value| {
            RoutedEvent::parse(&event(t, data), today())
                .unwrap()
                .unwrap()
        };
        assert!(matches!(
            parsed("catalog.updated", json!({"skus": [{"sku": "NW-1", "name": "Switch", "cost": {"amount": "120.00", "currency": "USD"}}]})),
            RoutedEvent::CatalogUpdated(update) if update.skus[0].cost.is_some()
        ));
        assert!(matches!(
            parsed(
                "price.changed",
                json!({"sku": "NW-1", "old_cost": {"amount": "100", "currency": "USD"}, "new_cost": {"amount": "90", "currency": "USD"}, "effective_date": "2026-11-20"})
            ),
            RoutedEvent::PriceChanged(_)
        ));
        assert!(matches!(
            parsed(
                "training.completed",
                json!({"partner_id": "ptn_01jabcdefghjkmnpqrstvwxyz0", "course": "sales-101", "completed_on": "2026-11-30", "user": "ann"})
            ),
            RoutedEvent::TrainingCompleted(_)
        ));
        let RoutedEvent::OpportunityUpdated(update) = parsed(
            "opportunity.updated",
            json!({"deal_id": "deal_01jabcdefghjkmnpqrstvwxyz0", "stage": "Closed_Won", "amount": 5}),
        ) else {
            panic!("an opportunity")
        };
        assert_eq!(update.end(), Some(OpportunityEnd::Won));
        assert!(matches!(
            parsed(
                "shipment.created",
                json!({"id": "SH-1", "distributor": "ptn_01jabcdefghjkmnpqrstvwxyz0", "sku": "NW-1", "quantity": 10, "shipped_on": "2026-11-30", "carrier": "UPS"})
            ),
            RoutedEvent::ShipmentCreated(_)
        ));
        assert!(RoutedEvent::parse(&event("partner.created", json!({})), today()).is_none());
    }

    #[test]
    fn invalid_data_names_the_fault() {
        assert!(fault("catalog.updated", json!({"skus": []})).contains("data.skus"));
        assert!(
            fault(
                "catalog.updated",
                json!({"skus": [{"sku": "A B", "name": "x"}]})
            )
            .contains("data.skus[0].sku")
        );
        assert!(fault("price.changed", json!({"sku": "NW-1"})).contains("old_cost"));
        assert!(fault("training.completed", json!({"partner_id": "ptn_01jabcdefghjkmnpqrstvwxyz0", "course": "x", "completed_on": "2027-01-01"})).contains("data.completed_on"));
        assert!(
            fault(
                "opportunity.updated",
                json!({"deal_id": "deal_01jabcdefghjkmnpqrstvwxyz0", "stage": " "})
            )
            .contains("data.stage")
        );
        assert!(
            fault(
                "opportunity.updated",
                json!({"deal_id": "nope", "stage": "won"})
            )
            .contains("data")
        );
        assert!(fault("shipment.created", json!({"id": "SH-1", "distributor": "ptn_01jabcdefghjkmnpqrstvwxyz0", "sku": "NW-1", "quantity": 0, "shipped_on": "2026-11-30"})).contains("data.quantity"));
    }

    #[test]
    fn other_stages_do_not_end_a_deal() {
        let update = |stage: &str| OpportunityUpdated {
            deal_id: "deal_01jabcdefghjkmnpqrstvwxyz0".parse().unwrap(),
            stage: stage.into(),
        };
        assert_eq!(update("lost").end(), Some(OpportunityEnd::Lost));
        assert_eq!(update("Closed Lost").end(), Some(OpportunityEnd::Lost));
        assert_eq!(update("negotiation").end(), None);
    }
}
