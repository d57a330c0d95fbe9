//! Building and reading DynamoDB items, with errors that name the record and attribute.

use std::collections::HashMap;
use std::str::FromStr;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use super::StoreError;

pub type Item = HashMap<String, AttributeValue>;

pub fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

/// A DynamoDB number. Decimals are written with their exact digits, never through a float.
pub fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// RFC 3339 in UTC with nanoseconds: exact round trip, and fixed width, so it sorts as text.
pub fn time(value: DateTime<Utc>) -> AttributeValue {
    AttributeValue::S(time_text(value))
}

/// The text of [`time`], for sort keys.
pub fn time_text(value: DateTime<Utc>) -> String {
    value.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// Typed access to an item's attributes.
pub struct Reader<'a> {
    item: &'a Item,
    key: String,
}

impl<'a> Reader<'a> {
    pub fn new(item: &'a Item) -> Self {
        let part = |name: &str| match item.get(name) {
            Some(AttributeValue::S(v)) => v.as_str(),
            _ => "?",
        };
        let key = format!("{}/{}", part(super::keys::PK), part(super::keys::SK));
        Self { item, key }
    }

    fn corrupt(&self, attribute: &str, reason: impl std::fmt::Display) -> StoreError {
        StoreError::Corrupt {
            key: self.key.clone(),
            reason: format!("attribute {attribute}: {reason}"),
        }
    }

    pub fn opt_str(&self, name: &str) -> Result<Option<&'a str>, StoreError> {
        match self.item.get(name) {
            None | Some(AttributeValue::Null(_)) => Ok(None),
            Some(AttributeValue::S(value)) => Ok(Some(value.as_str())),
            Some(_) => Err(self.corrupt(name, "not a string")),
        }
    }

    pub fn str(&self, name: &str) -> Result<&'a str, StoreError> {
        self.opt_str(name)?
            .ok_or_else(|| self.corrupt(name, "missing"))
    }

    /// A string attribute parsed into a domain type.
    pub fn parse<T>(&self, name: &str) -> Result<T, StoreError>
    where
        T: FromStr,
        T::Err: std::fmt::Display,
    {
        self.str(name)?.parse().map_err(|e| self.corrupt(name, e))
    }

    pub fn opt_parse<T>(&self, name: &str) -> Result<Option<T>, StoreError>
    where
        T: FromStr,
        T::Err: std::fmt::Display,
    {
        self.opt_str(name)?
            .map(|v| v.parse().map_err(|e| self.corrupt(name, e)))
            .transpose()
    }

    fn number(&self, name: &str) -> Result<&'a str, StoreError> {
        match self.item.get(name) {
            Some(AttributeValue::N(value)) => Ok(value.as_str()),
            None => Err(self.corrupt(name, "missing")),
            Some(_) => Err(self.corrupt(name, "not a number")),
        }
    }

    /// A string attribute holding a JSON document.
    pub fn json<T: serde::de::DeserializeOwned>(&self, name: &str) -> Result<T, StoreError> {
        serde_json::from_str(self.str(name)?).map_err(|e| self.corrupt(name, e))
    }

    pub fn u64(&self, name: &str) -> Result<u64, StoreError> {
        self.number(name)?
            .parse()
            .map_err(|e| self.corrupt(name, e))
    }

    pub fn i64(&self, name: &str) -> Result<i64, StoreError> {
        self.number(name)?
            .parse()
            .map_err(|e| self.corrupt(name, e))
    }

    pub fn decimal(&self, name: &str) -> Result<Decimal, StoreError> {
        let raw = self.number(name)?;
        // DynamoDB may hand back exponent notation for numbers it normalised.
        Decimal::from_str_exact(raw)
            .or_else(|_| Decimal::from_scientific(raw))
            .map_err(|e| self.corrupt(name, e))
    }

    pub fn time(&self, name: &str) -> Result<DateTime<Utc>, StoreError> {
        self.opt_time(name)?
            .ok_or_else(|| self.corrupt(name, "missing"))
    }

    pub fn opt_time(&self, name: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.opt_str(name)?
            .map(|v| {
                DateTime::parse_from_rfc3339(v)
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(|e| self.corrupt(name, e))
            })
            .transpose()
    }
}

/// A page cursor: the last evaluated key (all string attributes here), hex-encoded JSON.
pub fn encode_cursor(key: &Item) -> String {
    let plain: HashMap<&str, &str> = key
        .iter()
        .filter_map(|(k, v)| v.as_s().ok().map(|s| (k.as_str(), s.as_str())))
        .collect();
    hex::encode(serde_json::to_vec(&plain).expect("serialisable"))
}

pub fn decode_cursor(cursor: &str) -> Result<Item, StoreError> {
    let invalid = || StoreError::InvalidCursor;
    let bytes = hex::decode(cursor).map_err(|_| invalid())?;
    let plain: HashMap<String, String> = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
    use super::keys::*;
    let allowed = [PK, SK, GSI1_PK, GSI1_SK, GSI2_PK, GSI2_SK];
    if plain.is_empty() || !plain.keys().all(|k| allowed.contains(&k.as_str())) {
        return Err(invalid());
    }
    Ok(plain.into_iter().map(|(k, v)| (k, s(v))).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_typed_attributes_and_names_the_faulty_one() {
        let mut item = Item::new();
        item.insert("pk".into(), s("PARTNER#x"));
        item.insert("sk".into(), s("PROFILE"));
        item.insert("amount".into(), n(Decimal::new(12345, 3)));
        item.insert("version".into(), n(7));
        item.insert("name".into(), AttributeValue::N("1".into()));
        let reader = Reader::new(&item);
        assert_eq!(reader.decimal("amount").unwrap(), Decimal::new(12345, 3));
        assert_eq!(reader.u64("version").unwrap(), 7);
        let err = reader.str("name").unwrap_err().to_string();
        assert!(
            err.contains("PARTNER#x/PROFILE") && err.contains("name"),
            "{err}"
        );
        assert!(
            reader
                .str("absent")
                .unwrap_err()
                .to_string()
                .contains("missing")
        );
        assert_eq!(reader.opt_str("absent").unwrap(), None);
    }

    #[test]
    fn decimal_round_trips_exactly() {
        let value: Decimal = "1234567890.123456789".parse().unwrap();
        let mut item = Item::new();
        item.insert("v".into(), n(value));
        assert_eq!(Reader::new(&item).decimal("v").unwrap(), value);
    }
}
