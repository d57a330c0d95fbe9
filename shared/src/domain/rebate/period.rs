//! Accrual periods: calendar months (`2026-11`) and quarters (`2026-Q4`).

use std::fmt;
use std::str::FromStr;

use chrono::{Datelike, Days, NaiveDate};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PeriodKind {
    Month,
    Quarter,
}

impl PeriodKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            PeriodKind::Month => "month",
            PeriodKind::Quarter => "quarter",
        }
    }
}

/// One month or quarter of one year.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Period {
    year: i32,
    kind: PeriodKind,
    /// 1 to 12 for a month, 1 to 4 for a quarter.
    index: u32,
}

impl Period {
    pub fn containing(kind: PeriodKind, date: NaiveDate) -> Self {
        let index = match kind {
            PeriodKind::Month => date.month(),
            PeriodKind::Quarter => (date.month() - 1) / 3 + 1,
        };
        Self {
            year: date.year(),
            kind,
            index,
        }
    }

    pub fn kind(&self) -> PeriodKind {
        self.kind
    }

    fn first_month(&self) -> u32 {
        match self.kind {
            PeriodKind::Month => self.index,
            PeriodKind::Quarter => (self.index - 1) * 3 + 1,
        }
    }

    pub fn first_day(&self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.year, self.first_month(), 1).expect("valid period")
    }

    pub fn last_day(&self) -> NaiveDate {
        let months = match self.kind {
            PeriodKind::Month => 1,
            PeriodKind::Quarter => 3,
        };
        let next = self
            .first_day()
            .checked_add_months(chrono::Months::new(months))
            .expect("date in range");
        next.pred_opt().expect("date in range")
    }

    /// The last day on which lines still count in this period: its end plus the grace days.
    pub fn closes_on(&self, grace_days: u32) -> NaiveDate {
        self.last_day()
            .checked_add_days(Days::new(u64::from(grace_days)))
            .expect("date in range")
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            PeriodKind::Month => write!(f, "{:04}-{:02}", self.year, self.index),
            PeriodKind::Quarter => write!(f, "{:04}-Q{}", self.year, self.index),
        }
    }
}

impl FromStr for Period {
    type Err = String;

    fn from_str(label: &str) -> Result<Self, Self::Err> {
        let fault = || format!("{label:?} is not a period (expected YYYY-MM or YYYY-Qn)");
        let (year, rest) = label.split_once('-').ok_or_else(fault)?;
        if year.len() != 4 {
            return Err(fault());
        }
        let year: i32 = year.parse().map_err(|_| fault())?;
        let (kind, index, max) = match rest.strip_prefix('Q') {
            Some(q) if q.len() == 1 => (PeriodKind::Quarter, q, 4),
            None if rest.len() == 2 => (PeriodKind::Month, rest, 12),
            _ => return Err(fault()),
        };
        let index: u32 = index.parse().map_err(|_| fault())?;
        if !(1..=max).contains(&index) || !(1900..=9999).contains(&year) {
            return Err(fault());
        }
        Ok(Self { year, kind, index })
    }
}

impl Serialize for Period {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Period {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    #[test]
    fn months_and_quarters_contain_their_days() {
        let q = Period::containing(PeriodKind::Quarter, day("2026-11-23"));
        assert_eq!(q.to_string(), "2026-Q4");
        assert_eq!(q.first_day(), day("2026-10-01"));
        assert_eq!(q.last_day(), day("2026-12-31"));
        let m = Period::containing(PeriodKind::Month, day("2024-02-10"));
        assert_eq!(m.to_string(), "2024-02");
        assert_eq!(m.last_day(), day("2024-02-29"));
        assert_eq!(m.closes_on(15), day("2024-03-15"));
    }

    #[test]
    fn labels_round_trip_and_bad_ones_are_refused() {
        for label in ["2026-Q1", "2026-12", "1999-01"] {
            assert_eq!(label.parse::<Period>().unwrap().to_string(), label);
        }
        for bad in [
            "2026", "2026-13", "2026-Q5", "2026-Q0", "26-01", "2026-1", "2026-q1", "",
        ] {
            assert!(bad.parse::<Period>().is_err(), "{bad:?} should be refused");
        }
    }
}
