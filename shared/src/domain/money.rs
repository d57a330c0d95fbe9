//! Money: an exact decimal amount with an ISO 4217 currency. Never a float.
//!
//! Amounts keep the precision they were given (rates and unit prices often have more decimals
//! than the currency's minor unit); [`Money::round_to_minor_unit`] is the one rounding rule:
//! half away from zero ("commercial rounding") to the currency's minor unit.

use std::fmt;
use std::str::FromStr;

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An ISO 4217 currency with a minor unit (funds and XXX-style codes are refused).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Currency(iso_currency::Currency);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("{0:?} is not an ISO 4217 currency code")]
    UnknownCurrency(String),
    #[error("cannot combine {0} and {1}")]
    CurrencyMismatch(Currency, Currency),
    #[error("{0:?} is not a decimal amount")]
    InvalidAmount(String),
    #[error("amount overflow")]
    Overflow,
}

impl Currency {
    pub fn code(&self) -> &'static str {
        self.0.code()
    }

    /// Digits after the decimal point of the currency's minor unit (USD 2, JPY 0, BHD 3).
    pub fn minor_unit_digits(&self) -> u32 {
        u32::from(self.0.exponent().unwrap_or(0))
    }
}

impl FromStr for Currency {
    type Err = MoneyError;

    fn from_str(code: &str) -> Result<Self, Self::Err> {
        let unknown = || MoneyError::UnknownCurrency(code.to_string());
        // Lower-case codes are a common input slip, but the code itself must be exact.
        if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(unknown());
        }
        let currency = iso_currency::Currency::from_code(code).ok_or_else(unknown)?;
        // Codes without a minor unit are funds, metals and test codes, not money we pay.
        currency.exponent().ok_or_else(unknown)?;
        Ok(Self(currency))
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl Serialize for Currency {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let code = String::deserialize(deserializer)?;
        code.parse().map_err(serde::de::Error::custom)
    }
}

/// The longest numeral (digits, `.`, `_` and signs) read as a decimal. rust_decimal reads a
/// numeral with one nested call per character, so a long run of zeros overflows the stack
/// (10,000 overflow a 2 MiB thread in a debug build) and aborts the process, which no error
/// handling can answer. No amount, rate or quantity needs more than 29 digits.
pub const MAX_NUMERAL_CHARS: usize = 100;

/// An exact amount in one currency. Serialised as `{"amount": "12.50", "currency": "USD"}`:
/// the amount is a string so that no JSON reader turns it into a float.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    #[serde(with = "bounded_amount")]
    pub amount: Decimal,
    pub currency: Currency,
}

impl Money {
    pub fn new(amount: Decimal, currency: Currency) -> Self {
        Self { amount, currency }
    }

    pub fn zero(currency: Currency) -> Self {
        Self::new(Decimal::ZERO, currency)
    }

    /// Parses an amount written with a `.` decimal point, as the API and the store hold it.
    pub fn parse(amount: &str, currency: &str) -> Result<Self, MoneyError> {
        let currency = currency.parse()?;
        if amount.trim().len() > MAX_NUMERAL_CHARS {
            return Err(MoneyError::InvalidAmount(format!(
                "{} characters",
                amount.len()
            )));
        }
        let amount = Decimal::from_str_exact(amount.trim())
            .map_err(|_| MoneyError::InvalidAmount(amount.to_string()))?;
        Ok(Self::new(amount, currency))
    }

    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        let amount = self
            .amount
            .checked_add(other.amount)
            .ok_or(MoneyError::Overflow)?;
        Ok(Money::new(amount, self.currency))
    }

    pub fn checked_sub(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        let amount = self
            .amount
            .checked_sub(other.amount)
            .ok_or(MoneyError::Overflow)?;
        Ok(Money::new(amount, self.currency))
    }

    /// Multiplies by a quantity or rate, keeping full precision (round afterwards, once).
    pub fn checked_mul(self, factor: Decimal) -> Result<Money, MoneyError> {
        let amount = self
            .amount
            .checked_mul(factor)
            .ok_or(MoneyError::Overflow)?;
        Ok(Money::new(amount, self.currency))
    }

    /// The project's one rounding rule: half away from zero, to the currency's minor unit.
    pub fn round_to_minor_unit(self) -> Money {
        let amount = self.amount.round_dp_with_strategy(
            self.currency.minor_unit_digits(),
            RoundingStrategy::MidpointAwayFromZero,
        );
        Money::new(amount, self.currency)
    }

    fn same_currency(&self, other: Money) -> Result<(), MoneyError> {
        if self.currency == other.currency {
            Ok(())
        } else {
            Err(MoneyError::CurrencyMismatch(self.currency, other.currency))
        }
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.amount, self.currency)
    }
}

/// `rust_decimal::serde::str`, for amounts of at most [`MAX_NUMERAL_CHARS`] characters.
mod bounded_amount {
    use super::MAX_NUMERAL_CHARS;
    use rust_decimal::Decimal;
    use serde::de::{Error, IntoDeserializer};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Decimal, serializer: S) -> Result<S::Ok, S::Error> {
        rust_decimal::serde::str::serialize(value, serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Decimal, D::Error> {
        let text = std::borrow::Cow::<str>::deserialize(deserializer)?;
        if text.len() > MAX_NUMERAL_CHARS {
            return Err(D::Error::custom(format!(
                "an amount of {} characters; amounts have at most {MAX_NUMERAL_CHARS}",
                text.len()
            )));
        }
        let text: &str = &text;
        rust_decimal::serde::str::deserialize(text.into_deserializer())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usd(amount: &str) -> Money {
        Money::parse(amount, "USD").unwrap()
    }

    /// rust_decimal reads a numeral with one nested call per character: 69,104 zeros in an
    /// amount (a webhook's price change, say) overflowed the stack and aborted the process.
    #[test]
    fn a_long_amount_is_refused_instead_of_overflowing_the_stack() {
        let zeros = "0".repeat(69_104);
        let outcome = std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(move || {
                let json = format!(r#"{{"amount": "{zeros}", "currency": "USD"}}"#);
                let parsed = serde_json::from_str::<Money>(&json).map_err(|e| e.to_string());
                (parsed, Money::parse(&zeros, "USD").is_err())
            })
            .expect("a thread")
            .join()
            .expect("no panic");
        let (parsed, refused) = outcome;
        assert!(
            parsed.as_ref().is_err_and(|e| e.contains("at most 100")),
            "{parsed:?}"
        );
        assert!(refused);
        let most = "79228162514264337593543950335";
        assert_eq!(
            serde_json::from_str::<Money>(&format!(r#"{{"amount": "{most}", "currency": "USD"}}"#))
                .unwrap(),
            usd(most)
        );
    }

    #[test]
    fn parses_known_currencies_and_refuses_others() {
        assert_eq!("USD".parse::<Currency>().unwrap().minor_unit_digits(), 2);
        assert_eq!("JPY".parse::<Currency>().unwrap().minor_unit_digits(), 0);
        assert_eq!("BHD".parse::<Currency>().unwrap().minor_unit_digits(), 3);
        for bad in ["usd", "US", "USDD", "ABC", "XAU", ""] {
            assert!(
                bad.parse::<Currency>().is_err(),
                "{bad:?} should be refused"
            );
        }
    }

    #[test]
    fn decimal_arithmetic_is_exact() {
        // 0.1 + 0.2 is exactly 0.3 in decimal, unlike binary floating point.
        assert_eq!(usd("0.1").checked_add(usd("0.2")).unwrap(), usd("0.3"));
    }

    #[test]
    fn rounds_half_away_from_zero_to_minor_unit() {
        assert_eq!(usd("2.345").round_to_minor_unit(), usd("2.35"));
        assert_eq!(usd("-2.345").round_to_minor_unit(), usd("-2.35"));
        assert_eq!(usd("2.344").round_to_minor_unit(), usd("2.34"));
        let yen = Money::parse("100.5", "JPY").unwrap().round_to_minor_unit();
        assert_eq!(yen.amount, Decimal::from(101));
    }

    #[test]
    fn refuses_mixed_currencies() {
        let eur = Money::parse("1", "EUR").unwrap();
        assert!(matches!(
            usd("1").checked_add(eur),
            Err(MoneyError::CurrencyMismatch(_, _))
        ));
    }

    #[test]
    fn serialises_amount_as_string() {
        let json = serde_json::to_value(usd("12.50")).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"amount": "12.50", "currency": "USD"})
        );
        let back: Money = serde_json::from_value(json).unwrap();
        assert_eq!(back, usd("12.50"));
        let bad = serde_json::json!({"amount": "1", "currency": "XYZ"});
        assert!(serde_json::from_value::<Money>(bad).is_err());
    }

    #[test]
    fn refuses_malformed_amounts() {
        for bad in ["", "1,5", "abc", "1e3"] {
            assert!(
                Money::parse(bad, "USD").is_err(),
                "{bad:?} should be refused"
            );
        }
    }
}
