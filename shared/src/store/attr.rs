//! Building and reading DynamoDB items, with errors that name the record and attribute, and
//! the page cursors of listings (each taken only by the query that issued it).

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

/// The longest cursor taken, in characters (a cursor is ASCII hex), checked before decoding:
/// about five times what the listings hand out (ids and times: some 400 characters), and a
/// bound on what a caller makes us parse. It also keeps every key value under 1,024 bytes.
pub const MAX_CURSOR_CHARS: usize = 2048;

/// The cursor a listing takes: the LastEvaluatedKey of the query that issued it. A start key
/// of another shape is refused by DynamoDB (a ValidationException, a 5xx to the caller), and
/// one of another partition would page a listing the caller did not ask for.
#[derive(Debug, Clone, Copy)]
pub struct CursorShape<'a> {
    /// Exactly the attribute names of the query's LastEvaluatedKey (distinct): the table's
    /// partition and sort key, then the index's.
    pub keys: &'a [&'a str],
    /// The index partition key's name and the value the query reads.
    pub partition: (&'a str, &'a str),
}

/// A page cursor: the last evaluated key (all string attributes here), hex-encoded JSON.
pub fn encode_cursor(key: &Item) -> String {
    let plain: HashMap<&str, &str> = key
        .iter()
        .filter_map(|(k, v)| v.as_s().ok().map(|s| (k.as_str(), s.as_str())))
        .collect();
    hex::encode(serde_json::to_vec(&plain).expect("serialisable"))
}

/// The start key of a cursor [`encode_cursor`] wrote for a query of `shape`: exactly its key
/// names, non-empty strings (DynamoDB refuses an empty key), the query's partition. Anything
/// else is [`StoreError::InvalidCursor`], before any request is sent.
pub fn decode_cursor(cursor: &str, shape: &CursorShape) -> Result<Item, StoreError> {
    let invalid = || StoreError::InvalidCursor;
    if cursor.len() > MAX_CURSOR_CHARS {
        return Err(invalid());
    }
    let bytes = hex::decode(cursor).map_err(|_| invalid())?;
    let plain: HashMap<String, String> = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
    let exact_keys = plain.len() == shape.keys.len()
        && shape
            .keys
            .iter()
            .all(|name| plain.get(*name).is_some_and(|value| !value.is_empty()));
    let (name, value) = shape.partition;
    if !exact_keys || plain.get(name).map(String::as_str) != Some(value) {
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

    use crate::store::keys::{GSI1_PK, GSI1_SK, GSI2_PK, GSI2_SK, PK, SK};

    /// The status queue's shape, and a key its query hands out (ids and times at full length).
    const QUEUE: CursorShape = CursorShape {
        keys: &[PK, SK, GSI2_PK, GSI2_SK],
        partition: (GSI2_PK, "DEAL_STATUS#submitted"),
    };

    fn queue_key(partition: &str) -> Item {
        Item::from([
            (PK.into(), s("DEAL#deal_01m8t3ad39d1de5yet9vkm8em2")),
            (SK.into(), s("DEAL")),
            (GSI2_PK.into(), s(partition)),
            (
                GSI2_SK.into(),
                s("2026-12-02T00:43:18.123456789Z#deal_01m8t3ad39d1de5yet9vkm8em2"),
            ),
        ])
    }

    fn cursor_of(plain: serde_json::Value) -> String {
        hex::encode(plain.to_string())
    }

    #[test]
    fn a_cursor_round_trips_for_the_query_that_issued_it() {
        let key = queue_key("DEAL_STATUS#submitted");
        let cursor = encode_cursor(&key);
        assert!(cursor.len() < MAX_CURSOR_CHARS / 4, "{}", cursor.len());
        assert_eq!(decode_cursor(&cursor, &QUEUE).unwrap(), key);
    }

    #[test]
    fn a_cursor_of_another_listing_is_refused() {
        // The same index, another partition: another queue.
        let approved = encode_cursor(&queue_key("DEAL_STATUS#approved"));
        // Another index: a partner's listing.
        let partners = CursorShape {
            keys: &[PK, SK, GSI1_PK, GSI1_SK],
            partition: (GSI1_PK, "PARTNER_DEALS#ptn_1"),
        };
        let queue = encode_cursor(&queue_key("DEAL_STATUS#submitted"));
        assert!(matches!(
            decode_cursor(&approved, &QUEUE),
            Err(StoreError::InvalidCursor)
        ));
        assert!(matches!(
            decode_cursor(&queue, &partners),
            Err(StoreError::InvalidCursor)
        ));
    }

    #[test]
    fn a_cursor_needs_exactly_the_key_names_of_its_query() {
        let full = queue_key("DEAL_STATUS#submitted");
        let mut shapes = Vec::new();
        for missing in [PK, SK, GSI2_PK, GSI2_SK] {
            let mut key = full.clone();
            key.remove(missing);
            shapes.push((format!("without {missing}"), key));
        }
        for extra in [GSI1_PK, "status"] {
            let mut key = full.clone();
            key.insert(extra.into(), s("x"));
            shapes.push((format!("with {extra}"), key));
        }
        let mut empty = full.clone();
        empty.insert(SK.into(), s(""));
        shapes.push(("an empty sort key".into(), empty));
        shapes.push(("no key".into(), Item::new()));
        for (what, key) in shapes {
            assert!(
                matches!(
                    decode_cursor(&encode_cursor(&key), &QUEUE),
                    Err(StoreError::InvalidCursor)
                ),
                "{what}"
            );
        }
        // The defect's cursor: {"pk":"x"}.
        assert!(matches!(
            decode_cursor("7b22706b223a2278227d", &QUEUE),
            Err(StoreError::InvalidCursor)
        ));
    }

    #[test]
    fn a_cursor_holds_strings_only() {
        let partition = "DEAL_STATUS#submitted";
        for value in [
            serde_json::json!(1),
            serde_json::json!(null),
            serde_json::json!(true),
            serde_json::json!({"S": "DEAL"}),
            serde_json::json!(["DEAL"]),
        ] {
            let cursor = cursor_of(serde_json::json!({
                "pk": "DEAL#d", "sk": value, "gsi2pk": partition, "gsi2sk": "t#d"
            }));
            assert!(
                matches!(
                    decode_cursor(&cursor, &QUEUE),
                    Err(StoreError::InvalidCursor)
                ),
                "{value}"
            );
        }
        let valid = serde_json::json!({
            "pk": "DEAL#d", "sk": "DEAL", "gsi2pk": partition, "gsi2sk": "t#d"
        });
        assert!(decode_cursor(&cursor_of(valid), &QUEUE).is_ok());
    }

    #[test]
    fn garbage_is_refused() {
        let not_json = hex::encode("not json");
        let array = cursor_of(serde_json::json!(["pk", "sk"]));
        // The queue's shape with a pk that is not UTF-8, or a lone surrogate: not a string.
        let rest = br#""sk":"DEAL","gsi2pk":"DEAL_STATUS#submitted","gsi2sk":"t"}"#;
        let bad_text = hex::encode([&b"{\"pk\":\"\xff\","[..], rest].concat());
        let surrogate = hex::encode([&br#"{"pk":"\ud800","#[..], rest].concat());
        let fine = hex::encode([&br#"{"pk":"\u00e9","#[..], rest].concat());
        assert!(decode_cursor(&fine, &QUEUE).is_ok());
        for cursor in [
            "zz",
            "abc",
            "7b22",
            "\u{e9}\u{e9}",
            &not_json,
            &array,
            &bad_text,
            &surrogate,
        ] {
            assert!(
                matches!(
                    decode_cursor(cursor, &QUEUE),
                    Err(StoreError::InvalidCursor)
                ),
                "{cursor}"
            );
        }
    }

    #[test]
    fn a_cursor_longer_than_the_bound_is_refused_before_decoding() {
        // A well-formed cursor of the right shape, `chars` long (its sort key padded).
        let padded = |chars: usize| {
            let mut key = queue_key("DEAL_STATUS#submitted");
            key.insert(GSI2_SK.into(), s(""));
            let base = encode_cursor(&key).len();
            key.insert(GSI2_SK.into(), s("t".repeat((chars - base) / 2)));
            encode_cursor(&key)
        };
        let longest = padded(MAX_CURSOR_CHARS);
        assert_eq!(longest.len(), MAX_CURSOR_CHARS);
        assert!(decode_cursor(&longest, &QUEUE).is_ok());
        let too_long = padded(MAX_CURSOR_CHARS + 2);
        assert_eq!(too_long.len(), MAX_CURSOR_CHARS + 2);
        assert!(matches!(
            decode_cursor(&too_long, &QUEUE),
            Err(StoreError::InvalidCursor)
        ));
    }

    #[test]
    fn decimal_round_trips_exactly() {
        let value: Decimal = "1234567890.123456789".parse().unwrap();
        let mut item = Item::new();
        item.insert("v".into(), n(value));
        assert_eq!(Reader::new(&item).decimal("v").unwrap(), value);
    }
}
