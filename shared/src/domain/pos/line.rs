//! The canonical lines every distributor layout is translated into.

use std::fmt;
use std::str::FromStr;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::domain::{Money, PartnerId};

/// What a dropped file reports: sales (`<distributor>/pos/...`) or stock (`.../inventory/...`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileKind {
    Pos,
    Inventory,
}

impl FileKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            FileKind::Pos => "pos",
            FileKind::Inventory => "inventory",
        }
    }
}

impl FromStr for FileKind {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value {
            "pos" => Ok(FileKind::Pos),
            "inventory" => Ok(FileKind::Inventory),
            other => Err(format!(
                "unknown file kind {other:?} (expected pos or inventory)"
            )),
        }
    }
}

impl fmt::Display for FileKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransactionType {
    StockSale,
    DropShip,
    ShipAndDebit,
    Return,
}

impl TransactionType {
    pub fn as_str(&self) -> &'static str {
        match self {
            TransactionType::StockSale => "stock_sale",
            TransactionType::DropShip => "drop_ship",
            TransactionType::ShipAndDebit => "ship_and_debit",
            TransactionType::Return => "return",
        }
    }

    /// The codes understood without a profile (compared upper-cased).
    pub(super) fn from_common_code(code: &str) -> Option<Self> {
        Some(match code {
            "STOCK_SALE" | "STOCK SALE" | "SALE" | "S" | "SS" | "SL" | "INV" | "INVOICE" => {
                TransactionType::StockSale
            }
            "DROP_SHIP" | "DROP SHIP" | "DROPSHIP" | "DS" | "D" => TransactionType::DropShip,
            "SHIP_AND_DEBIT" | "SHIP AND DEBIT" | "SHIP & DEBIT" | "SHIPDEBIT" | "SD" | "SPA" => {
                TransactionType::ShipAndDebit
            }
            "RETURN" | "R" | "RET" | "RTN" | "RMA" | "CREDIT" | "CR" => TransactionType::Return,
            _ => return None,
        })
    }
}

/// One sale (or return) reported by a distributor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PosLine {
    pub distributor: PartnerId,
    /// The partner the sale is credited to; `None` while the reseller is not matched.
    pub reseller_id: Option<PartnerId>,
    /// The reseller as the distributor named it (kept for matching later).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reseller_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_customer_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_customer_country: Option<String>,
    pub sku: String,
    /// Units; negative for returns.
    pub quantity: i64,
    pub unit_price: Money,
    pub invoice_number: String,
    pub line_number: String,
    pub invoice_date: NaiveDate,
    pub transaction_type: TransactionType,
    /// Held out of incentives until the reseller is matched to a partner.
    pub held: bool,
}

/// Stock at one distributor location on one day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryLine {
    pub distributor: PartnerId,
    pub location: String,
    pub sku: String,
    pub on_hand: i64,
    pub on_order: i64,
    pub as_of: NaiveDate,
}

/// What makes a line the same line in any file: a distributor reports an invoice line (or a
/// location's stock of a SKU on a day) once; a second report is a duplicate.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LineKey {
    /// The store's partition for the line (distributor and invoice, or distributor, day and location).
    pub partition: String,
    /// The line within it (the invoice line number, or the SKU).
    pub item: String,
}

/// Where a held line waits until vendor staff match its reseller: the distributor and the
/// reseller's name as reported, normalised as company names are.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HeldUnder {
    pub distributor: PartnerId,
    pub name: String,
}

impl PosLine {
    /// `Some` for a held line.
    pub fn held_under(&self) -> Option<HeldUnder> {
        self.held.then(|| HeldUnder {
            distributor: self.distributor.clone(),
            name: crate::domain::deal::normalize_company_name(
                self.reseller_name.as_deref().unwrap_or_default(),
            ),
        })
    }

    pub fn key(&self) -> LineKey {
        LineKey::sale(&self.distributor, &self.invoice_number, &self.line_number)
    }
}

impl LineKey {
    /// The key of a distributor's invoice line.
    pub fn sale(distributor: &PartnerId, invoice_number: &str, line_number: &str) -> Self {
        Self {
            partition: format!("POSLINE#{distributor}#{invoice_number}"),
            item: format!("LINE#{line_number}"),
        }
    }
}

impl InventoryLine {
    pub fn key(&self) -> LineKey {
        LineKey {
            partition: format!(
                "INVLINE#{}#{}#{}",
                self.distributor,
                self.as_of.format("%Y-%m-%d"),
                self.location
            ),
            item: format!("SKU#{}", self.sku),
        }
    }
}

/// One fault of a rejected record, as the reject report lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejection {
    /// The record's row in the file (1 is the first line, usually the header).
    pub row: u64,
    /// The canonical field at fault, or `record` for the record as a whole.
    pub field: String,
    pub value: String,
    pub reason: String,
}
