//! Cells of the CSV files the system writes (reject reports, statements), made safe to open in
//! a spreadsheet.
//!
//! A spreadsheet evaluates a cell that starts with `=`, `+`, `-` or `@` as a formula, and one
//! that starts with a tab or a carriage return may be re-parsed into one (CSV injection:
//! `=HYPERLINK(...)` in a reseller name sent by a distributor runs on the reader's machine).
//! OWASP's rule: such a cell is prefixed with a single quote, which the spreadsheet shows as
//! text. Numbers the system writes itself (`-12.50`, `+3`) stay numbers: a signed decimal is
//! not a formula, and quoting it would turn every negative amount into text.

use std::borrow::Cow;

/// The first characters a spreadsheet may evaluate.
const DANGEROUS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// `cell` as it can be written to a CSV a spreadsheet will open: unchanged unless it starts
/// with a character a spreadsheet would evaluate and is not a plain decimal number, in which
/// case it is prefixed with `'`.
pub fn spreadsheet_safe(cell: &str) -> Cow<'_, str> {
    match cell.chars().next() {
        Some(first) if DANGEROUS.contains(&first) && !is_plain_number(cell) => {
            Cow::Owned(format!("'{cell}"))
        }
        _ => Cow::Borrowed(cell),
    }
}

/// A plain decimal as the system writes amounts and quantities: an optional sign, digits, and
/// optionally a point followed by digits. No exponent, spaces, separators or anything else, so
/// nothing that passes can carry a formula.
fn is_plain_number(cell: &str) -> bool {
    let unsigned = cell.strip_prefix(['+', '-']).unwrap_or(cell);
    let (whole, fraction) = match unsigned.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (unsigned, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    digits(whole) && fraction.is_none_or(digits)
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use proptest::prelude::*;
    use rust_decimal::Decimal;

    use super::*;

    #[test]
    fn formulas_are_quoted() {
        for (cell, expected) in [
            (
                "=HYPERLINK(\"http://x\",\"y\")",
                "'=HYPERLINK(\"http://x\",\"y\")",
            ),
            ("=1+1", "'=1+1"),
            ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
            ("-2+3", "'-2+3"),
            ("-", "'-"),
            ("+", "'+"),
            ("@SUM(A1:A2)", "'@SUM(A1:A2)"),
            ("\t=1", "'\t=1"),
            ("\r=1", "'\r=1"),
            ("\t12", "'\t12"),
            ("-1e5", "'-1e5"),
            ("- 3", "'- 3"),
            ("-3.", "'-3."),
            ("-.5", "'-.5"),
            ("--3", "'--3"),
            ("-١٢", "'-١٢"),
        ] {
            assert_eq!(spreadsheet_safe(cell), expected, "{cell:?}");
        }
    }

    #[test]
    fn numbers_stay_numbers() {
        for cell in [
            "-12.50",
            "+3",
            "-0.5",
            "0",
            "12",
            "-7",
            "+0.001",
            "123456789.123456",
        ] {
            let safe = spreadsheet_safe(cell);
            assert!(matches!(safe, Cow::Borrowed(_)), "{cell:?} was copied");
            assert_eq!(safe, cell);
        }
    }

    #[test]
    fn ordinary_text_is_unchanged() {
        for cell in [
            "",
            "Acme GmbH",
            "Umsätze",
            "a=b",
            "1-2",
            " =1",
            "'=1",
            "SKU-1",
        ] {
            assert_eq!(spreadsheet_safe(cell), cell);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]

        /// The output is the input or the input behind one quote, and it never starts with a
        /// character a spreadsheet evaluates unless it is a decimal number.
        #[test]
        fn output_never_starts_dangerously(cell in prop_oneof![
            any::<String>(),
            "[=+\\-@\t\r]?[0-9.eE+\\-=@ ]{0,8}",
        ]) {
            let safe = spreadsheet_safe(&cell);
            let quoted = format!("'{cell}");
            prop_assert!(safe == cell || *safe == quoted, "{:?}", safe);
            if safe.starts_with(DANGEROUS) {
                prop_assert_eq!(&*safe, cell.as_str());
                prop_assert!(Decimal::from_str(&safe).is_ok(), "{:?} left as is", safe);
            }
        }
    }
}
