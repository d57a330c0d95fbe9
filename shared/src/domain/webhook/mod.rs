//! Webhooks, the pure rules: the signature scheme both ways, inbound events and their routed
//! data, the events subscribers may ask for, where deliveries may go, and the retry schedule.

mod address;
mod inbound;
mod records;
mod signature;

use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use address::{AddressPolicy, MAX_URL_LENGTH, is_public};
pub use inbound::{
    CatalogUpdated, InboundEvent, OpportunityEnd, OpportunityUpdated, ROUTED_TYPES, RoutedEvent,
    TrainingCompleted,
};
pub use records::{
    Attempt, Delivery, DeliveryStatus, EventStatus, SourceSecret, SourceView, StoredEvent,
    Subscription, SubscriptionStatus, SubscriptionView, WebhookSource,
};
pub use signature::{
    SIGNATURE_HEADER, SignatureError, TOLERANCE_SECONDS, generate_secret, sign, verify,
};

use super::ValidationErrors;

/// The delivery id of an outbound POST: receivers deduplicate on it.
pub const DELIVERY_HEADER: &str = "chan-delivery";
/// The event type of an outbound POST.
pub const EVENT_HEADER: &str = "chan-event";

/// The events subscribers may ask for (the notifications the workflows send).
pub const EVENT_TYPES: [&str; 18] = [
    "deal.approved",
    "deal.rejected",
    "deal.expiring",
    "deal.expired",
    "deal.won",
    "deal.lost",
    "claim.approved",
    "claim.needs_review",
    "claim.rejected",
    "claim.paid",
    "inventory.alert_raised",
    "inventory.alert_cleared",
    "price_protection.credited",
    "partner.activated",
    "partner.deactivated",
    "partner.tier_changed",
    "onboarding.reminder",
    "onboarding.document_rejected",
];

/// A webhook source's id, chosen by the vendor admin: it is the last segment of
/// `/webhooks/{source}` (`erp`, `salesforce`, `lms-eu`).
pub fn check_source_id(id: &str) -> Result<(), ValidationErrors> {
    let valid = (2..=40).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !id.starts_with('-');
    if valid {
        Ok(())
    } else {
        Err(ValidationErrors::single(
            "id",
            "2 to 40 lowercase letters, digits and dashes, not starting with a dash",
        ))
    }
}

/// What a subscription asks for: `*`, a family (`deal.*`) or one event type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EventPattern(String);

impl EventPattern {
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let known = if text == "*" {
            true
        } else if let Some(family) = text.strip_suffix(".*") {
            EVENT_TYPES
                .iter()
                .any(|t| t.split_once('.').is_some_and(|(f, _)| f == family))
        } else {
            EVENT_TYPES.contains(&text)
        };
        if known {
            Ok(Self(text.to_string()))
        } else {
            Err(format!(
                "{text:?} is not an event type, a family such as \"deal.*\", or \"*\""
            ))
        }
    }

    pub fn matches(&self, event_type: &str) -> bool {
        match self.0.strip_suffix('*') {
            Some(prefix) => event_type.starts_with(prefix),
            None => self.0 == event_type,
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// How long to wait before attempt `attempt + 1` after attempt `attempt` (1-based) failed:
/// `base` doubled each time, at most 15 minutes (the longest an SQS message can be delayed).
pub fn retry_delay(attempt: u32, base: Duration) -> Duration {
    const CAP: Duration = Duration::from_secs(900);
    let factor = 1u32
        .checked_shl(attempt.saturating_sub(1))
        .unwrap_or(u32::MAX);
    base.checked_mul(factor).map_or(CAP, |d| d.min(CAP))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_events_and_families() {
        let all = EventPattern::parse("*").unwrap();
        let deals = EventPattern::parse("deal.*").unwrap();
        let approved = EventPattern::parse("deal.approved").unwrap();
        assert!(all.matches("claim.paid"));
        assert!(deals.matches("deal.won"));
        assert!(!deals.matches("claim.approved"));
        assert!(approved.matches("deal.approved"));
        assert!(!approved.matches("deal.approved_later"));
        for bad in ["deal.approve", "dea.*", "", "**", "foo.*"] {
            assert!(EventPattern::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn retries_back_off_exponentially_up_to_fifteen_minutes() {
        let base = Duration::from_secs(30);
        let delays: Vec<u64> = (1..=7).map(|a| retry_delay(a, base).as_secs()).collect();
        assert_eq!(delays, [30, 60, 120, 240, 480, 900, 900]);
        assert_eq!(retry_delay(40, base).as_secs(), 900);
        assert_eq!(retry_delay(1, Duration::from_secs(1)).as_secs(), 1);
    }

    #[test]
    fn source_ids_are_url_safe_slugs() {
        for good in ["erp", "salesforce", "lms-eu", "x1"] {
            assert!(check_source_id(good).is_ok(), "{good}");
        }
        for bad in ["e", "ERP", "lms eu", "-erp", "a/b", &"a".repeat(41)] {
            assert!(check_source_id(bad).is_err(), "{bad}");
        }
    }
}
