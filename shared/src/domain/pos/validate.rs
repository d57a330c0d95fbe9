//! One record of a file → a canonical line, or the reasons it is rejected.

use std::collections::{HashMap, HashSet};

use chrono::{Duration, NaiveDate};
use rust_decimal::prelude::ToPrimitive;

use super::line::{FileKind, InventoryLine, PosLine, Rejection, TransactionType};
use super::profile::{Field, Layout, Profile};
use crate::domain::deal::normalize_company_name;
use crate::domain::{Currency, Money, PartnerId};

/// Units on one line beyond which a quantity is a typing slip, not a sale.
pub const MAX_UNITS: i64 = 1_000_000;
/// Longest accepted name (reseller, end customer), in characters and in UTF-8 bytes.
pub const MAX_NAME_CHARS: usize = 200;
pub const MAX_NAME_BYTES: usize = 400;
/// Longest accepted identifier (SKU, invoice and line number, location, reseller id), in
/// characters and in UTF-8 bytes. Identifiers go into the store's keys: with these bounds the
/// longest key built from a line (the held-line index's sort key: name, invoice and line) stays
/// well inside DynamoDB's 1,024 bytes.
pub const MAX_ID_CHARS: usize = 100;
pub const MAX_ID_BYTES: usize = 128;
/// Any other mapped column (country, currency, codes, numbers, dates): generous, still bounded.
const MAX_OTHER_BYTES: usize = 256;

/// Days after today a line may be dated: time zones put a distributor's today ahead of ours.
pub const MAX_AHEAD_DAYS: i64 = 1;
/// The highest unit price accepted (in any currency): above it a price is a typo, and a line's
/// value stays far inside exact decimal range for every sum made of it.
pub const MAX_UNIT_PRICE: i64 = 1_000_000_000;

/// The plausible dates of a line: not older than `max_age_days` before today, nor more than
/// [`MAX_AHEAD_DAYS`] after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateWindow {
    today: NaiveDate,
    max_age_days: i64,
    earliest: NaiveDate,
    latest: NaiveDate,
}

impl DateWindow {
    pub fn new(today: NaiveDate, max_age_days: i64) -> Self {
        Self {
            today,
            max_age_days,
            earliest: today - Duration::days(max_age_days),
            latest: today + Duration::days(MAX_AHEAD_DAYS),
        }
    }

    fn check(&self, date: NaiveDate) -> Result<(), String> {
        if date > self.latest {
            Err(format!("is in the future (today is {})", self.today))
        } else if date < self.earliest {
            Err(format!(
                "is more than {} days old: outside the reporting window",
                self.max_age_days
            ))
        } else {
            Ok(())
        }
    }
}

/// The partners a reported reseller can be matched to: by partner id, or by company name
/// compared as deal registration compares customers ("ABC Computers, Inc." ~ "abc computers").
#[derive(Debug, Clone, Default)]
pub struct ResellerDirectory {
    ids: HashSet<PartnerId>,
    names: HashMap<String, PartnerId>,
}

impl ResellerDirectory {
    /// `resellers`: (id, company name) of every partner that can be credited with sales.
    pub fn new(resellers: impl IntoIterator<Item = (PartnerId, String)>) -> Self {
        let mut directory = Self::default();
        for (id, name) in resellers {
            directory
                .names
                .insert(normalize_company_name(&name), id.clone());
            directory.ids.insert(id);
        }
        directory
    }

    /// Adds names a distributor uses for partners, as vendor staff matched them when releasing
    /// held lines (`normalised name`, partner).
    pub fn with_aliases(mut self, aliases: impl IntoIterator<Item = (String, PartnerId)>) -> Self {
        for (name, id) in aliases {
            if self.ids.contains(&id) {
                self.names.entry(name).or_insert(id);
            }
        }
        self
    }

    fn by_id(&self, id: &str) -> Option<PartnerId> {
        let id: PartnerId = id.parse().ok()?;
        self.ids.contains(&id).then_some(id)
    }
}

/// What one record becomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Sale(PosLine),
    Stock(InventoryLine),
    Rejected(Vec<Rejection>),
}

/// Validates the records of one file. Holds small caches (currencies, reseller names), so one
/// validator serves one file.
pub struct Validator<'a> {
    layout: &'a Layout,
    profile: &'a Profile,
    distributor: PartnerId,
    window: DateWindow,
    /// `None`: SKUs are not checked (the local check without a catalog).
    catalog: Option<&'a HashSet<String>>,
    resellers: &'a ResellerDirectory,
    currencies: HashMap<String, Option<Currency>>,
    transaction_codes: HashMap<String, Option<TransactionType>>,
    reseller_names: HashMap<String, Option<PartnerId>>,
}

/// The faults found so far in one record.
struct Faults {
    row: u64,
    list: Vec<Rejection>,
}

impl Faults {
    fn add(&mut self, field: Field, value: &str, reason: impl Into<String>) {
        self.list.push(Rejection {
            row: self.row,
            field: field.name().to_string(),
            value: value.to_string(),
            reason: reason.into(),
        });
    }
}

impl<'a> Validator<'a> {
    pub fn new(
        layout: &'a Layout,
        profile: &'a Profile,
        distributor: PartnerId,
        window: DateWindow,
        catalog: Option<&'a HashSet<String>>,
        resellers: &'a ResellerDirectory,
    ) -> Self {
        Self {
            layout,
            profile,
            distributor,
            window,
            catalog,
            resellers,
            currencies: HashMap::new(),
            transaction_codes: HashMap::new(),
            reseller_names: HashMap::new(),
        }
    }

    /// The SKU a record names, trimmed, so the caller can look up the catalog before validating.
    pub fn sku_of<'r>(&self, fields: &'r csv::StringRecord) -> Option<&'r str> {
        self.layout
            .column(Field::Sku)
            .and_then(|c| fields.get(c))
            .map(str::trim)
            .filter(|s| !s.is_empty())
    }

    /// Validates one record (`row` is its row in the file, for the reject report).
    pub fn validate(&mut self, row: u64, fields: &csv::StringRecord) -> Verdict {
        let mut faults = Faults {
            row,
            list: Vec::new(),
        };
        // Every mapped value is bounded first, in one place: what comes after (keys, messages,
        // reports) relies on it.
        self.bound_lengths(fields, &mut faults);
        if !faults.list.is_empty() {
            return Verdict::Rejected(faults.list);
        }
        let verdict = match self.layout.kind {
            FileKind::Pos => self.sale(fields, &mut faults).map(Verdict::Sale),
            FileKind::Inventory => self.stock(fields, &mut faults).map(Verdict::Stock),
        };
        match verdict {
            Some(v) if faults.list.is_empty() => v,
            _ => Verdict::Rejected(faults.list),
        }
    }

    /// A fault for every mapped value longer than its field allows (see [`MAX_NAME_CHARS`],
    /// [`MAX_ID_CHARS`]); unmapped columns are never read, so they need no bound.
    fn bound_lengths(&self, fields: &csv::StringRecord, faults: &mut Faults) {
        for (field, column) in self.layout.columns() {
            let Some(value) = fields.get(*column).map(str::trim) else {
                continue;
            };
            let (chars, bytes) = match field {
                Field::ResellerName | Field::EndCustomerName => (MAX_NAME_CHARS, MAX_NAME_BYTES),
                Field::ResellerId
                | Field::Sku
                | Field::InvoiceNumber
                | Field::LineNumber
                | Field::Location => (MAX_ID_CHARS, MAX_ID_BYTES),
                _ => (MAX_OTHER_BYTES, MAX_OTHER_BYTES),
            };
            if value.len() > bytes {
                let reason = if value.chars().count() > chars {
                    format!("longer than {chars} characters")
                } else {
                    format!("longer than {bytes} bytes of UTF-8")
                };
                faults.add(*field, value, reason);
            }
        }
    }

    fn text<'r>(&self, fields: &'r csv::StringRecord, field: Field) -> Option<&'r str> {
        self.layout
            .column(field)
            .and_then(|c| fields.get(c))
            .map(str::trim)
            .filter(|v| !v.is_empty())
    }

    fn required<'r>(
        &self,
        fields: &'r csv::StringRecord,
        field: Field,
        faults: &mut Faults,
    ) -> Option<&'r str> {
        let value = self.text(fields, field);
        if value.is_none() {
            faults.add(field, "", "required");
        }
        value
    }

    fn date(&self, value: &str, field: Field, faults: &mut Faults) -> Option<NaiveDate> {
        let Some(date) = self
            .profile
            .date_formats
            .iter()
            .find_map(|p| p.parse(value))
        else {
            let formats: Vec<&str> = self
                .profile
                .date_formats
                .iter()
                .map(|p| p.as_str())
                .collect();
            faults.add(
                field,
                value,
                format!(
                    "not a date in the expected formats ({})",
                    formats.join(", ")
                ),
            );
            return None;
        };
        if let Err(reason) = self.window.check(date) {
            faults.add(field, value, reason);
            return None;
        }
        Some(date)
    }

    fn units(&self, value: &str, field: Field, faults: &mut Faults) -> Option<i64> {
        // Whole numbers without separators are the common case; a plain integer parse is far
        // cheaper than a decimal one.
        if let Ok(units) = value.parse::<i64>()
            && units.abs() <= MAX_UNITS
        {
            return Some(units);
        }
        let Some(number) = self.profile.numbers.parse(value) else {
            faults.add(field, value, "not a number");
            return None;
        };
        if !number.fract().is_zero() {
            faults.add(field, value, "not a whole number of units");
            return None;
        }
        match number.to_i64() {
            Some(units) if units.abs() <= MAX_UNITS => Some(units),
            _ => {
                faults.add(
                    field,
                    value,
                    format!("beyond {MAX_UNITS} units: not plausible on one line"),
                );
                None
            }
        }
    }

    fn sku(&self, fields: &csv::StringRecord, faults: &mut Faults) -> Option<String> {
        let sku = self.required(fields, Field::Sku, faults)?;
        if let Some(catalog) = self.catalog
            && !catalog.contains(sku)
        {
            faults.add(Field::Sku, sku, "not in the vendor's catalog");
            return None;
        }
        Some(sku.to_string())
    }

    fn sale(&mut self, fields: &csv::StringRecord, faults: &mut Faults) -> Option<PosLine> {
        let sku = self.sku(fields, faults);
        let invoice = self.required(fields, Field::InvoiceNumber, faults);
        let line = self
            .required(fields, Field::LineNumber, faults)
            .map(canonical_line_number);
        let date = self
            .required(fields, Field::InvoiceDate, faults)
            .and_then(|v| self.date(v, Field::InvoiceDate, faults));

        let transaction_type = match self.text(fields, Field::TransactionType) {
            None => None,
            Some(code) => {
                let found = match self.transaction_codes.get(code) {
                    Some(found) => *found,
                    None => {
                        let upper = code.to_uppercase();
                        let found = self
                            .profile
                            .transaction_types
                            .get(&upper)
                            .copied()
                            .or_else(|| TransactionType::from_common_code(&upper));
                        self.transaction_codes.insert(code.to_string(), found);
                        found
                    }
                };
                if found.is_none() {
                    faults.add(
                        Field::TransactionType,
                        code,
                        "unknown transaction type code: map it in the distributor's profile",
                    );
                }
                found
            }
        };
        let quantity = self
            .required(fields, Field::Quantity, faults)
            .and_then(|v| self.units(v, Field::Quantity, faults).map(|q| (v, q)))
            .and_then(|(v, q)| {
                if q == 0 {
                    faults.add(Field::Quantity, v, "zero units: nothing was sold");
                    None
                } else {
                    Some(q)
                }
            });
        // A return is a negative quantity whichever way the distributor signs it; a negative
        // quantity without a type is a return.
        let (quantity, transaction_type) = match (quantity, transaction_type) {
            (Some(q), Some(TransactionType::Return)) => {
                (Some(-q.abs()), Some(TransactionType::Return))
            }
            (Some(q), None) if q < 0 => (Some(q), Some(TransactionType::Return)),
            (q, None) if self.text(fields, Field::TransactionType).is_none() => {
                (q, Some(TransactionType::StockSale))
            }
            other => other,
        };

        let currency = self.currency(fields, faults);
        let price = self
            .required(fields, Field::UnitPrice, faults)
            .and_then(|v| match self.profile.numbers.parse(v) {
                None => {
                    faults.add(Field::UnitPrice, v, "not a number");
                    None
                }
                Some(p) if p.is_sign_negative() && !p.is_zero() => {
                    faults.add(Field::UnitPrice, v, "negative: a price is never below zero");
                    None
                }
                Some(p) if p > rust_decimal::Decimal::from(MAX_UNIT_PRICE) => {
                    faults.add(Field::UnitPrice, v, "absurd: above 1,000,000,000 per unit");
                    None
                }
                Some(p) => Some(p),
            });

        let country = match self.text(fields, Field::EndCustomerCountry) {
            None => None,
            Some(c) => {
                let upper = c.to_ascii_uppercase();
                if upper.len() == 2 && upper.bytes().all(|b| b.is_ascii_uppercase()) {
                    Some(upper)
                } else {
                    faults.add(
                        Field::EndCustomerCountry,
                        c,
                        "not an ISO 3166-1 alpha-2 country code such as US",
                    );
                    None
                }
            }
        };
        let reseller_name = self.text(fields, Field::ResellerName).map(str::to_string);
        let reported_id = self.text(fields, Field::ResellerId);
        if reseller_name.is_none() && reported_id.is_none() {
            faults.add(
                Field::ResellerName,
                "",
                "required: the reseller's id or name",
            );
        }
        if !faults.list.is_empty() {
            return None;
        }
        let reseller_id = self.match_reseller(reported_id, reseller_name.as_deref());
        Some(PosLine {
            distributor: self.distributor.clone(),
            held: reseller_id.is_none(),
            reseller_id,
            reseller_name: reseller_name.or_else(|| reported_id.map(str::to_string)),
            end_customer_name: self
                .text(fields, Field::EndCustomerName)
                .map(str::to_string),
            end_customer_country: country,
            sku: sku?,
            quantity: quantity?,
            unit_price: Money::new(price?, currency?),
            invoice_number: invoice?.to_string(),
            line_number: line?,
            invoice_date: date?,
            transaction_type: transaction_type?,
        })
    }

    fn currency(&mut self, fields: &csv::StringRecord, faults: &mut Faults) -> Option<Currency> {
        match self.text(fields, Field::Currency) {
            None => {
                if self.profile.default_currency.is_none() {
                    faults.add(
                        Field::Currency,
                        "",
                        "required (the profile has no default currency)",
                    );
                }
                self.profile.default_currency
            }
            Some(code) => {
                let found = match self.currencies.get(code) {
                    Some(found) => *found,
                    None => {
                        let found = code.to_ascii_uppercase().parse().ok();
                        self.currencies.insert(code.to_string(), found);
                        found
                    }
                };
                if found.is_none() {
                    faults.add(Field::Currency, code, "not an ISO 4217 currency code");
                }
                found
            }
        }
    }

    fn match_reseller(&mut self, id: Option<&str>, name: Option<&str>) -> Option<PartnerId> {
        if let Some(found) = id.and_then(|id| self.resellers.by_id(id)) {
            return Some(found);
        }
        let name = name?;
        if let Some(cached) = self.reseller_names.get(name) {
            return cached.clone();
        }
        let found = self
            .resellers
            .names
            .get(&normalize_company_name(name))
            .cloned();
        self.reseller_names.insert(name.to_string(), found.clone());
        found
    }

    fn stock(&mut self, fields: &csv::StringRecord, faults: &mut Faults) -> Option<InventoryLine> {
        let sku = self.sku(fields, faults);
        let location = match self.text(fields, Field::Location) {
            None if self.layout.has(Field::Location) => {
                faults.add(Field::Location, "", "required");
                None
            }
            None => Some("all".to_string()),
            Some(l) => Some(l.to_string()),
        };
        let on_hand = self
            .required(fields, Field::OnHand, faults)
            .and_then(|v| self.units(v, Field::OnHand, faults));
        let on_order = match self.text(fields, Field::OnOrder) {
            None => Some(0),
            Some(v) => self.units(v, Field::OnOrder, faults).and_then(|q| {
                if q < 0 {
                    faults.add(
                        Field::OnOrder,
                        v,
                        "negative: units on order are never below zero",
                    );
                    None
                } else {
                    Some(q)
                }
            }),
        };
        let as_of = self
            .required(fields, Field::AsOfDate, faults)
            .and_then(|v| self.date(v, Field::AsOfDate, faults));
        Some(InventoryLine {
            distributor: self.distributor.clone(),
            location: location?,
            sku: sku?,
            on_hand: on_hand?,
            on_order: on_order?,
            as_of: as_of?,
        })
    }
}

/// `0010` and `10` are one invoice line; other line labels (`10a`) are kept as written.
fn canonical_line_number(value: &str) -> String {
    if !value.starts_with('0') {
        return value.to_string();
    }
    match value.parse::<u64>() {
        Ok(n) => n.to_string(),
        Err(_) => value.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::pos::MappingProfile;

    const HEADER: &str =
        "Invoice,Line,Date,Reseller,Reseller Id,End Customer,Country,SKU,Qty,Price,Currency,Type";

    fn record(text: &str) -> csv::StringRecord {
        text.split(',').collect()
    }

    struct Fixture {
        layout: Layout,
        profile: Profile,
        catalog: HashSet<String>,
        resellers: ResellerDirectory,
        northwind: PartnerId,
    }

    fn fixture(profile: Profile) -> Fixture {
        let header = record(HEADER);
        let header: Vec<&str> = header.iter().collect();
        let layout = Layout::resolve(FileKind::Pos, &header, &profile).unwrap();
        let northwind = PartnerId::generate();
        Fixture {
            layout,
            profile,
            catalog: HashSet::from(["NW-1".to_string(), "NW-2".to_string()]),
            resellers: ResellerDirectory::new([(
                northwind.clone(),
                "Northwind Traders, Inc.".to_string(),
            )]),
            northwind,
        }
    }

    fn check(f: &Fixture, line: &str) -> Verdict {
        check_fields(f, &record(line))
    }

    /// Validates `fields` as row 7 of a file received on 2026-11-23.
    fn check_fields(f: &Fixture, fields: &csv::StringRecord) -> Verdict {
        let today = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
        let mut validator = Validator::new(
            &f.layout,
            &f.profile,
            PartnerId::generate(),
            DateWindow::new(today, 365),
            Some(&f.catalog),
            &f.resellers,
        );
        validator.validate(7, fields)
    }

    fn faults(verdict: Verdict) -> Vec<(String, String)> {
        match verdict {
            Verdict::Rejected(list) => {
                assert!(list.iter().all(|r| r.row == 7));
                list.into_iter().map(|r| (r.field, r.reason)).collect()
            }
            other => panic!("expected a rejection, got {other:?}"),
        }
    }

    #[test]
    fn a_valid_sale_becomes_a_canonical_line_credited_to_the_matched_reseller() {
        let f = fixture(Profile::default());
        let Verdict::Sale(line) = check(
            &f,
            "INV-1,0010,2026-11-02,NORTHWIND TRADERS,,ACME,us,NW-1,1,250.00,usd,",
        ) else {
            panic!("expected a sale");
        };
        assert_eq!(line.reseller_id, Some(f.northwind.clone()));
        assert!(!line.held);
        assert_eq!(line.line_number, "10");
        assert_eq!(line.quantity, 1);
        assert_eq!(line.unit_price, Money::parse("250.00", "USD").unwrap());
        assert_eq!(line.end_customer_country.as_deref(), Some("US"));
        assert_eq!(line.transaction_type, TransactionType::StockSale);
    }

    #[test]
    fn a_sale_matched_by_partner_id_or_not_at_all() {
        let f = fixture(Profile::default());
        let by_id = format!("INV-1,1,2026-11-02,,{},,,NW-1,1,10,USD,", f.northwind);
        let Verdict::Sale(line) = check(&f, &by_id) else {
            panic!()
        };
        assert_eq!(line.reseller_id, Some(f.northwind.clone()));
        let Verdict::Sale(line) =
            check(&f, "INV-1,1,2026-11-02,Unknown Reseller,,,,NW-1,1,10,USD,")
        else {
            panic!()
        };
        assert!(line.held, "an unmatched reseller is kept but held");
        assert_eq!(line.reseller_name.as_deref(), Some("Unknown Reseller"));
    }

    #[test]
    fn returns_are_negative_whichever_way_they_are_signed() {
        let f = fixture(Profile::default());
        let Verdict::Sale(line) = check(&f, "INV-1,1,2026-11-02,X,,,,NW-1,2,10,USD,R") else {
            panic!()
        };
        assert_eq!(
            (line.quantity, line.transaction_type),
            (-2, TransactionType::Return)
        );
        let Verdict::Sale(line) = check(&f, "INV-1,1,2026-11-02,X,,,,NW-1,-2,10,USD,") else {
            panic!()
        };
        assert_eq!(
            (line.quantity, line.transaction_type),
            (-2, TransactionType::Return)
        );
    }

    #[test]
    fn every_fault_of_a_line_is_named() {
        let f = fixture(Profile::default());
        let found = faults(check(&f, ",,2026-13-45,,,,USA,NOPE,1.5,-3,EURO,ZZ"));
        let fields: Vec<&str> = found.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            fields,
            [
                "sku",
                "invoice_number",
                "line_number",
                "invoice_date",
                "transaction_type",
                "quantity",
                "currency",
                "unit_price",
                "end_customer_country",
                "reseller_name"
            ]
        );
        assert_eq!(found[0].1, "not in the vendor's catalog");
        assert_eq!(found[5].1, "not a whole number of units");
        assert_eq!(found[7].1, "negative: a price is never below zero");
    }

    #[test]
    fn quantities_must_be_sane_and_dates_plausible() {
        let f = fixture(Profile::default());
        let reasons = |line: &str| {
            faults(check(&f, line))
                .into_iter()
                .map(|(_, r)| r)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            reasons("I,1,2026-11-02,X,,,,NW-1,0,10,USD,"),
            ["zero units: nothing was sold"]
        );
        assert!(reasons("I,1,2026-11-02,X,,,,NW-1,5000000,10,USD,")[0].contains("not plausible"));
        assert_eq!(
            reasons("I,1,2026-11-02,X,,,,NW-1,1,1000000000.01,USD,"),
            ["absurd: above 1,000,000,000 per unit"]
        );
        assert!(reasons("I,1,2027-01-02,X,,,,NW-1,1,10,USD,")[0].contains("in the future"));
        assert!(
            reasons("I,1,2024-01-02,X,,,,NW-1,1,10,USD,")[0]
                .contains("outside the reporting window")
        );
        assert!(reasons("I,1,02/30/2026,X,,,,NW-1,1,10,USD,")[0].starts_with("not a date"));
        assert_eq!(
            reasons("I,1,2026-11-02,X,,,,NW-1,ten,10,USD,"),
            ["not a number"]
        );
    }

    #[test]
    fn the_profile_translates_conventions_and_codes() {
        let profile = MappingProfile {
            date_formats: vec!["%d/%m/%Y".into()],
            decimal_separator: Some(','),
            default_currency: Some("EUR".into()),
            transaction_types: [
                ("VK".to_string(), TransactionType::StockSale),
                ("GS".to_string(), TransactionType::Return),
            ]
            .into(),
            ..Default::default()
        }
        .compile()
        .unwrap();
        let f = fixture(profile);
        // Commas are the decimal separator here, so the record is built field by field.
        let fields: csv::StringRecord = [
            "R-9",
            "2",
            "03/11/2026",
            "Northwind Traders",
            "",
            "",
            "",
            "NW-2",
            "3",
            "1.234,50",
            "",
            "gs",
        ]
        .into_iter()
        .collect();
        let Verdict::Sale(line) = check_fields(&f, &fields) else {
            panic!()
        };
        assert_eq!(
            line.invoice_date,
            NaiveDate::from_ymd_opt(2026, 11, 3).unwrap()
        );
        assert_eq!(line.unit_price, Money::parse("1234.50", "EUR").unwrap());
        assert_eq!(
            (line.quantity, line.transaction_type),
            (-3, TransactionType::Return)
        );
    }

    #[test]
    fn inventory_lines_default_their_location_and_on_order() {
        let header = ["Warehouse", "SKU", "On Hand", "On Order", "As Of"];
        let layout = Layout::resolve(FileKind::Inventory, &header, &Profile::default()).unwrap();
        let profile = Profile::default();
        let catalog = HashSet::from(["NW-1".to_string()]);
        let resellers = ResellerDirectory::default();
        let today = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
        let mut validator = Validator::new(
            &layout,
            &profile,
            PartnerId::generate(),
            DateWindow::new(today, 365),
            Some(&catalog),
            &resellers,
        );
        let Verdict::Stock(line) = validator.validate(2, &record("DAL,NW-1,40,,2026-11-20")) else {
            panic!()
        };
        assert_eq!(
            (line.location.as_str(), line.on_hand, line.on_order),
            ("DAL", 40, 0)
        );
        let Verdict::Rejected(found) = validator.validate(3, &record(",NW-1,4,-2,2026-11-20"))
        else {
            panic!()
        };
        let fields: Vec<&str> = found.iter().map(|r| r.field.as_str()).collect();
        assert_eq!(fields, ["location", "on_order"]);
    }
}
