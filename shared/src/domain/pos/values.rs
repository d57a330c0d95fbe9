//! Dates and numbers as distributors write them. Parsing is hand-written on purpose: it runs
//! for every field of every line, and a compiled pattern is several times faster than a
//! general format parser.

use std::str::FromStr;

use chrono::NaiveDate;
use rust_decimal::Decimal;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    Year4,
    Year2,
    Month,
    MonthName,
    Day,
    Literal(u8),
}

/// A date format in the strftime subset distributors need: `%Y`, `%y`, `%m`, `%b` (Jan or
/// January), `%d`, and literal ASCII characters. Month and day take one or two digits.
/// A trailing time (`2026-03-04 00:00:00`, `2026-03-04T10:15`) is accepted and ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatePattern {
    source: String,
    tokens: Vec<Token>,
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];

impl DatePattern {
    /// The formats tried when a profile names none: ISO, compact ISO, dotted day-first (the
    /// European convention) and slashed month-first (the North American one).
    pub fn defaults() -> Vec<DatePattern> {
        ["%Y-%m-%d", "%Y%m%d", "%d.%m.%Y", "%m/%d/%Y", "%Y/%m/%d"]
            .iter()
            .map(|f| f.parse().expect("built-in date formats are valid"))
            .collect()
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }

    pub fn parse(&self, text: &str) -> Option<NaiveDate> {
        let bytes = text.trim().as_bytes();
        let (mut year, mut month, mut day) = (None, None, None);
        let mut at = 0;
        for token in &self.tokens {
            match *token {
                Token::Literal(c) => {
                    if bytes.get(at) != Some(&c) {
                        return None;
                    }
                    at += 1;
                }
                Token::Year4 => {
                    year = Some(digits(bytes, &mut at, 4, 4)? as i32);
                }
                Token::Year2 => {
                    // Two-digit years are this century: files report recent sales.
                    year = Some(2000 + digits(bytes, &mut at, 2, 2)? as i32);
                }
                Token::Month => month = Some(digits(bytes, &mut at, 1, 2)?),
                Token::Day => day = Some(digits(bytes, &mut at, 1, 2)?),
                Token::MonthName => {
                    let start = at;
                    while at < bytes.len() && bytes[at].is_ascii_alphabetic() {
                        at += 1;
                    }
                    let name = std::str::from_utf8(&bytes[start..at]).ok()?;
                    if name.len() < 3 {
                        return None;
                    }
                    let lower = name.to_ascii_lowercase();
                    let index = MONTHS.iter().position(|m| lower.starts_with(m))?;
                    month = Some(index as u32 + 1);
                }
            }
        }
        if at < bytes.len() && !is_time_suffix(&bytes[at..]) {
            return None;
        }
        NaiveDate::from_ymd_opt(year?, month?, day?)
    }
}

/// ` 00:00:00`, `T10:15:00.000Z`: a time part after the date, which POS files often carry.
fn is_time_suffix(rest: &[u8]) -> bool {
    matches!(rest[0], b' ' | b'T')
        && rest[1..].iter().all(|b| {
            b.is_ascii_digit()
                || matches!(
                    b,
                    b':' | b'.' | b' ' | b'Z' | b'+' | b'-' | b'A' | b'P' | b'M'
                )
        })
}

fn digits(bytes: &[u8], at: &mut usize, min: usize, max: usize) -> Option<u32> {
    let start = *at;
    let mut value = 0u32;
    while *at < bytes.len() && *at - start < max && bytes[*at].is_ascii_digit() {
        value = value * 10 + u32::from(bytes[*at] - b'0');
        *at += 1;
    }
    (*at - start >= min).then_some(value)
}

impl FromStr for DatePattern {
    type Err = String;

    fn from_str(format: &str) -> Result<Self, Self::Err> {
        let mut tokens = Vec::new();
        let mut chars = format.chars();
        let (mut has_year, mut has_month, mut has_day) = (false, false, false);
        while let Some(c) = chars.next() {
            if c == '%' {
                let token = match chars.next() {
                    Some('Y') => Token::Year4,
                    Some('y') => Token::Year2,
                    Some('m') => Token::Month,
                    Some('b') | Some('B') => Token::MonthName,
                    Some('d') | Some('e') => Token::Day,
                    other => {
                        return Err(format!(
                            "date format {format:?}: unsupported directive %{} (use %Y %y %m %b %d)",
                            other.map(String::from).unwrap_or_default()
                        ));
                    }
                };
                has_year |= matches!(token, Token::Year4 | Token::Year2);
                has_month |= matches!(token, Token::Month | Token::MonthName);
                has_day |= token == Token::Day;
                tokens.push(token);
            } else if c.is_ascii() && !c.is_ascii_alphanumeric() {
                tokens.push(Token::Literal(c as u8));
            } else {
                return Err(format!(
                    "date format {format:?}: {c:?} is neither a directive nor a separator"
                ));
            }
        }
        if !(has_year && has_month && has_day) {
            return Err(format!(
                "date format {format:?} must contain a year, a month and a day"
            ));
        }
        Ok(Self {
            source: format.to_string(),
            tokens,
        })
    }
}

/// How numbers are written: the decimal separator and an optional thousands separator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NumberFormat {
    pub decimal: char,
    pub thousands: Option<char>,
}

impl Default for NumberFormat {
    /// `1,234.50`: the convention of most English-language ERP exports.
    fn default() -> Self {
        Self {
            decimal: '.',
            thousands: Some(','),
        }
    }
}

impl NumberFormat {
    /// Parses `1,234.50`, `-3`, `3-` (trailing minus), `(3)` (accounting negative), with an
    /// optional currency symbol. Thousands separators must group by three, so that `1,5` is
    /// refused rather than read as fifteen.
    pub fn parse(&self, text: &str) -> Option<Decimal> {
        let text = text.trim();
        // The common case, a plain number, skips all the work below.
        if self.decimal == '.'
            && !text.is_empty()
            && text
                .bytes()
                .all(|b| b.is_ascii_digit() || b == b'.' || b == b'-')
            && let Ok(value) = Decimal::from_str(text)
        {
            return Some(value);
        }
        let mut negative = false;
        let mut body = text;
        if let Some(inner) = body.strip_prefix('(').and_then(|b| b.strip_suffix(')')) {
            negative = true;
            body = inner.trim();
        }
        if let Some(rest) = body.strip_prefix('-') {
            negative = !negative;
            body = rest.trim_start();
        } else if let Some(rest) = body.strip_suffix('-') {
            negative = !negative;
            body = rest.trim_end();
        } else if let Some(rest) = body.strip_prefix('+') {
            body = rest.trim_start();
        }
        body = body
            .trim_start_matches(['$', '€', '£', '¥'])
            .trim_end_matches(['$', '€', '£', '¥'])
            .trim();
        let (whole, fraction) = match body.split_once(self.decimal) {
            Some((w, f)) => (w, Some(f)),
            None => (body, None),
        };
        let mut digits = String::with_capacity(body.len() + 1);
        if negative {
            digits.push('-');
        }
        match self.thousands {
            Some(sep) if whole.contains(sep) => {
                let mut groups = whole.split(sep);
                let first = groups.next()?;
                if first.is_empty() || first.len() > 3 || !first.bytes().all(|b| b.is_ascii_digit())
                {
                    return None;
                }
                digits.push_str(first);
                for group in groups {
                    if group.len() != 3 || !group.bytes().all(|b| b.is_ascii_digit()) {
                        return None;
                    }
                    digits.push_str(group);
                }
            }
            _ => {
                if whole.is_empty() && fraction.is_none() {
                    return None;
                }
                if !whole.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                digits.push_str(if whole.is_empty() { "0" } else { whole });
            }
        }
        if let Some(fraction) = fraction {
            if fraction.is_empty() || !fraction.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            digits.push('.');
            digits.push_str(fraction);
        }
        Decimal::from_str(&digits).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros_free::dec;

    mod rust_decimal_macros_free {
        /// `dec("1.5")`: a Decimal from text, for readable expectations.
        pub fn dec(text: &str) -> rust_decimal::Decimal {
            text.parse().unwrap()
        }
    }

    fn date(y: i32, m: u32, d: u32) -> Option<NaiveDate> {
        NaiveDate::from_ymd_opt(y, m, d)
    }

    #[test]
    fn parses_the_common_date_layouts() {
        let p = |f: &str, t: &str| f.parse::<DatePattern>().unwrap().parse(t);
        assert_eq!(p("%Y-%m-%d", "2026-03-04"), date(2026, 3, 4));
        assert_eq!(p("%Y-%m-%d", "2026-03-04 00:00:00"), date(2026, 3, 4));
        assert_eq!(p("%Y-%m-%d", "2026-03-04T10:15:00Z"), date(2026, 3, 4));
        assert_eq!(p("%Y%m%d", "20260304"), date(2026, 3, 4));
        assert_eq!(p("%d.%m.%Y", "4.3.2026"), date(2026, 3, 4));
        assert_eq!(p("%m/%d/%Y", "3/4/2026"), date(2026, 3, 4));
        assert_eq!(p("%d/%m/%y", "04/03/26"), date(2026, 3, 4));
        assert_eq!(p("%d-%b-%Y", "04-Mar-2026"), date(2026, 3, 4));
        assert_eq!(p("%d %b %Y", "4 March 2026"), date(2026, 3, 4));
    }

    #[test]
    fn refuses_dates_that_do_not_exist_or_do_not_fit() {
        let iso: DatePattern = "%Y-%m-%d".parse().unwrap();
        for bad in [
            "2026-02-30",
            "2026-13-01",
            "26-03-04",
            "2026-03-04x",
            "",
            "2026-03",
            "yesterday",
        ] {
            assert_eq!(iso.parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn refuses_formats_it_cannot_honour() {
        for bad in ["%Y-%m", "%H:%M", "%Y-%m-%dQ", "%Y-%j"] {
            assert!(bad.parse::<DatePattern>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn parses_numbers_in_each_convention() {
        let us = NumberFormat::default();
        let eu = NumberFormat {
            decimal: ',',
            thousands: Some('.'),
        };
        let swiss = NumberFormat {
            decimal: '.',
            thousands: Some('\''),
        };
        assert_eq!(us.parse("1,234.50"), Some(dec("1234.50")));
        assert_eq!(us.parse("1234.5"), Some(dec("1234.5")));
        assert_eq!(us.parse("-3"), Some(dec("-3")));
        assert_eq!(us.parse("3-"), Some(dec("-3")));
        assert_eq!(us.parse("(3)"), Some(dec("-3")));
        assert_eq!(us.parse("$ 12.00"), Some(dec("12.00")));
        assert_eq!(us.parse(".5"), Some(dec("0.5")));
        assert_eq!(eu.parse("1.234,50"), Some(dec("1234.50")));
        assert_eq!(eu.parse("12,5"), Some(dec("12.5")));
        assert_eq!(eu.parse("€12,50"), Some(dec("12.50")));
        assert_eq!(swiss.parse("1'234.50"), Some(dec("1234.50")));
    }

    #[test]
    fn refuses_malformed_numbers() {
        let us = NumberFormat::default();
        for bad in [
            "",
            "1,5",
            "12,34,567",
            "1.2.3",
            "abc",
            "1e5",
            "--3",
            "1,234.",
            "٣",
        ] {
            assert_eq!(us.parse(bad), None, "{bad:?}");
        }
    }
}
