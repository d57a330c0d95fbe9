//! Mapping profiles: how one distributor's columns, dates, numbers and codes translate into
//! canonical lines; and, without a profile, the dictionary of header names commonly seen.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::line::{FileKind, TransactionType};
use super::values::{DatePattern, NumberFormat};
use crate::domain::{Currency, ValidationErrors};

/// A canonical field of a POS or inventory line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Field {
    ResellerId,
    ResellerName,
    EndCustomerName,
    EndCustomerCountry,
    Sku,
    Quantity,
    UnitPrice,
    Currency,
    InvoiceNumber,
    LineNumber,
    InvoiceDate,
    TransactionType,
    Location,
    OnHand,
    OnOrder,
    AsOfDate,
}

const POS_FIELDS: &[Field] = &[
    Field::ResellerId,
    Field::ResellerName,
    Field::EndCustomerName,
    Field::EndCustomerCountry,
    Field::Sku,
    Field::Quantity,
    Field::UnitPrice,
    Field::Currency,
    Field::InvoiceNumber,
    Field::LineNumber,
    Field::InvoiceDate,
    Field::TransactionType,
];

const INVENTORY_FIELDS: &[Field] = &[
    Field::Location,
    Field::Sku,
    Field::OnHand,
    Field::OnOrder,
    Field::AsOfDate,
];

impl Field {
    pub fn name(&self) -> &'static str {
        match self {
            Field::ResellerId => "reseller_id",
            Field::ResellerName => "reseller_name",
            Field::EndCustomerName => "end_customer_name",
            Field::EndCustomerCountry => "end_customer_country",
            Field::Sku => "sku",
            Field::Quantity => "quantity",
            Field::UnitPrice => "unit_price",
            Field::Currency => "currency",
            Field::InvoiceNumber => "invoice_number",
            Field::LineNumber => "line_number",
            Field::InvoiceDate => "invoice_date",
            Field::TransactionType => "transaction_type",
            Field::Location => "location",
            Field::OnHand => "on_hand",
            Field::OnOrder => "on_order",
            Field::AsOfDate => "as_of_date",
        }
    }

    pub fn of_kind(kind: FileKind) -> &'static [Field] {
        match kind {
            FileKind::Pos => POS_FIELDS,
            FileKind::Inventory => INVENTORY_FIELDS,
        }
    }

    fn from_name(name: &str) -> Option<Field> {
        POS_FIELDS
            .iter()
            .chain(INVENTORY_FIELDS)
            .copied()
            .find(|f| f.name() == name)
    }

    /// Header names commonly used for the field, normalised (see [`normalise_header`]).
    fn common_headers(&self, kind: FileKind) -> &'static [&'static str] {
        match self {
            Field::ResellerId => &[
                "resellerid",
                "partnerid",
                "vendorpartnerid",
                "resellerpartnerid",
            ],
            Field::ResellerName => &[
                "reseller",
                "resellername",
                "soldto",
                "soldtoname",
                "soldtocustomer",
                "partner",
                "partnername",
                "dealer",
                "dealername",
                "var",
                "customername",
            ],
            Field::EndCustomerName => &[
                "endcustomer",
                "endcustomername",
                "enduser",
                "endusername",
                "shiptoname",
                "endusercustomer",
            ],
            Field::EndCustomerCountry => &[
                "endcustomercountry",
                "endusercountry",
                "country",
                "shiptocountry",
                "countrycode",
            ],
            Field::Sku => &[
                "sku",
                "vendorsku",
                "partnumber",
                "partno",
                "part",
                "vendorpartnumber",
                "mfrpartnumber",
                "manufacturerpartnumber",
                "mpn",
                "itemnumber",
                "itemno",
                "item",
                "productcode",
                "product",
                "productnumber",
                "materialnumber",
                "material",
            ],
            Field::Quantity => &[
                "qty",
                "quantity",
                "quantityshipped",
                "qtyshipped",
                "shippedqty",
                "units",
                "quantitysold",
                "qtysold",
                "soldqty",
                "unitssold",
            ],
            Field::UnitPrice => &[
                "unitprice",
                "price",
                "resaleprice",
                "unitresaleprice",
                "sellprice",
                "unitsellprice",
                "netprice",
                "unitnetprice",
                "salesprice",
            ],
            Field::Currency => &["currency", "currencycode", "curr", "cur", "ccy"],
            Field::InvoiceNumber => &[
                "invoice",
                "invoiceno",
                "invoicenumber",
                "invoicenbr",
                "invno",
                "invoiceid",
                "invoicenum",
                "documentnumber",
                "docno",
            ],
            Field::LineNumber => &[
                "line",
                "lineno",
                "linenumber",
                "linenbr",
                "invoiceline",
                "invoicelineno",
                "invoicelinenumber",
                "lineitem",
                "linenum",
            ],
            Field::InvoiceDate => &[
                "invoicedate",
                "invdate",
                "date",
                "transactiondate",
                "salesdate",
                "saledate",
                "documentdate",
                "billingdate",
            ],
            Field::TransactionType => &[
                "transactiontype",
                "trantype",
                "txntype",
                "type",
                "saletype",
                "salestype",
                "transactioncode",
            ],
            Field::Location => &[
                "location",
                "warehouse",
                "warehousecode",
                "whse",
                "site",
                "branch",
                "locationcode",
                "plant",
            ],
            Field::OnHand => &[
                "onhand",
                "qtyonhand",
                "onhandqty",
                "quantityonhand",
                "stockonhand",
                "onhandunits",
                "instock",
            ],
            Field::OnOrder => &[
                "onorder",
                "qtyonorder",
                "onorderqty",
                "quantityonorder",
                "openpo",
            ],
            Field::AsOfDate => match kind {
                FileKind::Inventory => &[
                    "asofdate",
                    "asof",
                    "date",
                    "snapshotdate",
                    "reportdate",
                    "inventorydate",
                    "stockdate",
                ],
                FileKind::Pos => &[],
            },
        }
    }
}

/// A header cell compared with the dictionary: lower case, letters and digits only
/// (`Quantity Shipped`, `quantity_shipped` and `QUANTITY-SHIPPED` are one name).
pub fn normalise_header(header: &str) -> String {
    header
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Where a field's value is: a header name, or a column number (1 is the first column).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ColumnRef {
    Number(usize),
    Header(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TextEncoding {
    Utf8,
    Utf16le,
    Utf16be,
    Windows1252,
}

/// A distributor's mapping profile as the vendor admin writes it (`PUT /distributors/{id}/profile`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MappingProfile {
    /// Canonical field name → the column holding it. Unmapped fields use the header dictionary.
    #[serde(default)]
    pub columns: BTreeMap<String, ColumnRef>,
    /// Date formats tried in order (`%d/%m/%Y`, ...); the defaults when empty.
    #[serde(default)]
    pub date_formats: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decimal_separator: Option<char>,
    /// `null` or absent: the default (`,` when the decimal separator is `.`, `.` when it is `,`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thousands_separator: Option<char>,
    /// Used for lines without a currency column or value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_currency: Option<String>,
    /// The distributor's transaction type codes → canonical types (codes compared upper-cased).
    #[serde(default)]
    pub transaction_types: BTreeMap<String, TransactionType>,
    /// The file encoding when it cannot be detected (no BOM); detected otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding: Option<TextEncoding>,
    /// The delimiter of text files; detected from the header line otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delimiter: Option<char>,
}

/// A validated profile, ready to map records.
#[derive(Debug, Clone)]
pub struct Profile {
    pub columns: HashMap<Field, ColumnRef>,
    pub date_formats: Vec<DatePattern>,
    pub numbers: NumberFormat,
    pub default_currency: Option<Currency>,
    pub transaction_types: HashMap<String, TransactionType>,
    pub encoding: Option<TextEncoding>,
    pub delimiter: Option<u8>,
}

impl Default for Profile {
    /// No profile: the header dictionary, the default date formats and number convention.
    fn default() -> Self {
        MappingProfile::default()
            .compile()
            .expect("the empty profile is valid")
    }
}

const DELIMITERS: &[char] = &[',', ';', '\t', '|'];

impl MappingProfile {
    /// Checks every setting, naming each fault.
    pub fn compile(&self) -> Result<Profile, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let mut columns = HashMap::new();
        for (name, column) in &self.columns {
            let path = format!("columns.{name}");
            match Field::from_name(name) {
                None => errors.add(
                    path,
                    "is not a canonical field (see the README for the list)",
                ),
                Some(field) => {
                    match column {
                        ColumnRef::Number(0) => errors.add(path, "column numbers start at 1"),
                        ColumnRef::Header(h) if h.trim().is_empty() => {
                            errors.add(path, "names no header")
                        }
                        _ => {}
                    }
                    columns.insert(field, column.clone());
                }
            }
        }
        let mut date_formats = Vec::new();
        for (i, format) in self.date_formats.iter().enumerate() {
            match format.parse::<DatePattern>() {
                Ok(p) => date_formats.push(p),
                Err(e) => errors.add(format!("date_formats[{i}]"), e),
            }
        }
        if self.date_formats.is_empty() {
            date_formats = DatePattern::defaults();
        } else if !date_formats.iter().any(|p| p.as_str() == "%Y-%m-%d") {
            // Workbook date cells arrive as ISO dates whatever the profile says.
            date_formats.push("%Y-%m-%d".parse().expect("valid format"));
        }
        let decimal = self.decimal_separator.unwrap_or('.');
        if !matches!(decimal, '.' | ',') {
            errors.add("decimal_separator", "must be \".\" or \",\"");
        }
        let thousands = self
            .thousands_separator
            .or(Some(if decimal == ',' { '.' } else { ',' }));
        if let Some(t) = thousands {
            if t == decimal {
                errors.add(
                    "thousands_separator",
                    "must differ from the decimal separator",
                );
            } else if !matches!(t, ',' | '.' | ' ' | '\'' | '\u{a0}' | '\u{202f}') {
                errors.add("thousands_separator", "must be one of , . ' or a space");
            }
        }
        let default_currency = match &self.default_currency {
            None => None,
            Some(code) => match code.parse::<Currency>() {
                Ok(c) => Some(c),
                Err(e) => {
                    errors.add("default_currency", e.to_string());
                    None
                }
            },
        };
        let mut transaction_types = HashMap::new();
        for (code, kind) in &self.transaction_types {
            let key = code.trim().to_uppercase();
            if key.is_empty() {
                errors.add("transaction_types", "a code is empty");
            }
            transaction_types.insert(key, *kind);
        }
        let delimiter = match self.delimiter {
            None => None,
            Some(d) if DELIMITERS.contains(&d) => Some(d as u8),
            Some(_) => {
                errors.add("delimiter", "must be one of , ; | or a tab");
                None
            }
        };
        errors.into_result(Profile {
            columns,
            date_formats,
            numbers: NumberFormat { decimal, thousands },
            default_currency,
            transaction_types,
            encoding: self.encoding,
            delimiter,
        })
    }
}

/// Which column holds each canonical field of one file, resolved from its header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub kind: FileKind,
    columns: Vec<(Field, usize)>,
    index: [Option<usize>; 16],
}

/// Why a file's header cannot be used: the whole file is refused with this reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LayoutError {
    #[error(
        "no recognisable header: the first line names none of the expected columns (such as {expected}); add a header line or a mapping profile"
    )]
    Unrecognised { expected: String },
    #[error("the header has no column for {}: {hint}", fields.join(", "))]
    Missing { fields: Vec<String>, hint: String },
    #[error("the profile maps {field} to {column}, which the header does not have")]
    ProfileColumn { field: String, column: String },
}

impl Layout {
    /// Maps the header: the profile's columns first, then the dictionary for the rest.
    pub fn resolve(
        kind: FileKind,
        header: &[&str],
        profile: &Profile,
    ) -> Result<Self, LayoutError> {
        let normalised: Vec<String> = header.iter().map(|h| normalise_header(h)).collect();
        let mut columns = Vec::new();
        let mut taken = vec![false; header.len()];
        // Profile mappings first, so that the dictionary cannot take their columns.
        for field in Field::of_kind(kind) {
            if let Some(column) = profile.columns.get(field) {
                let found = match column {
                    ColumnRef::Number(n) => (*n >= 1 && *n <= header.len()).then(|| n - 1),
                    ColumnRef::Header(name) => {
                        let wanted = normalise_header(name);
                        normalised.iter().position(|h| *h == wanted)
                    }
                };
                let Some(at) = found else {
                    return Err(LayoutError::ProfileColumn {
                        field: field.name().into(),
                        column: match column {
                            ColumnRef::Number(n) => format!("column {n}"),
                            ColumnRef::Header(h) => format!("{h:?}"),
                        },
                    });
                };
                taken[at] = true;
                columns.push((*field, at));
            }
        }
        for field in Field::of_kind(kind) {
            if profile.columns.contains_key(field) {
                continue;
            }
            // Dictionary order is preference order ("quantity" before "units").
            let found = field.common_headers(kind).iter().find_map(|name| {
                normalised
                    .iter()
                    .enumerate()
                    .position(|(i, h)| !taken[i] && h == name)
            });
            if let Some(at) = found {
                taken[at] = true;
                columns.push((*field, at));
            }
        }
        let mut index = [None; 16];
        for (field, at) in &columns {
            index[*field as usize] = Some(*at);
        }
        let layout = Layout {
            kind,
            columns,
            index,
        };
        if layout.columns.is_empty() {
            let expected = Field::of_kind(kind)
                .iter()
                .filter_map(|f| f.common_headers(kind).first())
                .take(5)
                .copied()
                .collect::<Vec<_>>()
                .join(", ");
            return Err(LayoutError::Unrecognised { expected });
        }
        let mut missing: Vec<String> = layout
            .required(profile)
            .iter()
            .filter(|f| !layout.has(**f))
            .map(|f| f.name().to_string())
            .collect();
        if kind == FileKind::Pos
            && !layout.has(Field::ResellerId)
            && !layout.has(Field::ResellerName)
        {
            missing.push("reseller_id or reseller_name".into());
        }
        if !missing.is_empty() {
            let hint = if profile.columns.is_empty() {
                "name the columns in the distributor's mapping profile".to_string()
            } else {
                "map them in the distributor's mapping profile".to_string()
            };
            return Err(LayoutError::Missing {
                fields: missing,
                hint,
            });
        }
        Ok(layout)
    }

    fn required(&self, profile: &Profile) -> Vec<Field> {
        match self.kind {
            FileKind::Pos => {
                let mut fields = vec![
                    Field::Sku,
                    Field::Quantity,
                    Field::UnitPrice,
                    Field::InvoiceNumber,
                    Field::LineNumber,
                    Field::InvoiceDate,
                ];
                if profile.default_currency.is_none() {
                    fields.push(Field::Currency);
                }
                fields
            }
            FileKind::Inventory => vec![Field::Sku, Field::OnHand, Field::AsOfDate],
        }
    }

    pub fn has(&self, field: Field) -> bool {
        self.index[field as usize].is_some()
    }

    /// The column of a field, if the file has one.
    pub fn column(&self, field: Field) -> Option<usize> {
        self.index[field as usize]
    }

    /// The fields found, with their columns, for messages and the local check.
    pub fn columns(&self) -> &[(Field, usize)] {
        &self.columns
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(cells: &str) -> Vec<&str> {
        cells.split(',').collect()
    }

    #[test]
    fn matches_common_header_names_without_a_profile() {
        let profile = Profile::default();
        let h = header(
            "Invoice No,Line,Invoice Date,Sold To,Part Number,Quantity Shipped,Unit Price,Currency",
        );
        let layout = Layout::resolve(FileKind::Pos, &h, &profile).unwrap();
        assert_eq!(layout.column(Field::InvoiceNumber), Some(0));
        assert_eq!(layout.column(Field::ResellerName), Some(3));
        assert_eq!(layout.column(Field::Sku), Some(4));
        assert_eq!(layout.column(Field::Quantity), Some(5));
        assert_eq!(layout.column(Field::Currency), Some(7));
        assert_eq!(layout.column(Field::ResellerId), None);
    }

    #[test]
    fn profile_columns_win_over_the_dictionary() {
        let profile = MappingProfile {
            columns: BTreeMap::from([
                ("sku".to_string(), ColumnRef::Header("Artikel".into())),
                ("quantity".to_string(), ColumnRef::Number(3)),
            ]),
            default_currency: Some("EUR".into()),
            ..Default::default()
        }
        .compile()
        .unwrap();
        let h = header("Rechnung,Position,Menge,Artikel,Qty,Price,Date,Reseller");
        let h: Vec<&str> = h
            .iter()
            .map(|c| match *c {
                "Rechnung" => "Invoice",
                "Position" => "Line",
                other => other,
            })
            .collect();
        let layout = Layout::resolve(FileKind::Pos, &h, &profile).unwrap();
        assert_eq!(layout.column(Field::Sku), Some(3));
        assert_eq!(layout.column(Field::Quantity), Some(2));
        assert_eq!(layout.column(Field::Currency), None);
    }

    #[test]
    fn names_the_missing_columns() {
        let err = Layout::resolve(
            FileKind::Pos,
            &header("Invoice,Line,Qty"),
            &Profile::default(),
        )
        .unwrap_err();
        let message = err.to_string();
        for field in [
            "sku",
            "unit_price",
            "invoice_date",
            "currency",
            "reseller_id or reseller_name",
        ] {
            assert!(message.contains(field), "{message}");
        }
    }

    #[test]
    fn refuses_a_header_it_cannot_recognise() {
        let err = Layout::resolve(FileKind::Inventory, &header("a,b,c"), &Profile::default())
            .unwrap_err();
        assert!(matches!(err, LayoutError::Unrecognised { .. }), "{err}");
        let err = Layout::resolve(
            FileKind::Pos,
            &header("2026-01-01,ABC,3"),
            &Profile::default(),
        )
        .unwrap_err();
        assert!(matches!(err, LayoutError::Unrecognised { .. }), "{err}");
    }

    #[test]
    fn a_profile_column_the_file_lacks_is_named() {
        let profile = MappingProfile {
            columns: BTreeMap::from([("sku".to_string(), ColumnRef::Header("Artikel".into()))]),
            ..Default::default()
        }
        .compile()
        .unwrap();
        let err = Layout::resolve(
            FileKind::Inventory,
            &header("Location,SKU,On Hand,Date"),
            &profile,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "the profile maps sku to \"Artikel\", which the header does not have"
        );
    }

    #[test]
    fn profile_faults_are_all_named() {
        let profile: MappingProfile = serde_json::from_value(serde_json::json!({
            "columns": {"sku": "Part", "colour": "Colour", "quantity": 0},
            "date_formats": ["%d/%m/%Y", "%H"],
            "decimal_separator": ",",
            "thousands_separator": ",",
            "default_currency": "XYZ",
            "delimiter": "#"
        }))
        .unwrap();
        let errors = profile.compile().unwrap_err();
        let fields: Vec<&str> = errors.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "columns.colour",
                "columns.quantity",
                "date_formats[1]",
                "thousands_separator",
                "default_currency",
                "delimiter"
            ]
        );
    }

    #[test]
    fn european_profiles_default_to_dot_thousands() {
        let profile = MappingProfile {
            decimal_separator: Some(','),
            ..Default::default()
        }
        .compile()
        .unwrap();
        assert_eq!(profile.numbers.thousands, Some('.'));
    }
}
