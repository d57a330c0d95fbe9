//! Ship and debit: a distributor sells at a special authorised cost to a named end customer and
//! the vendor repays the difference, `debit = (book cost - authorised cost) x quantity`, for
//! sales that its POS lines report within the authorisation's SKU, customer, window and
//! quantity. The claim names the POS lines; the debit is recomputed from them, never taken
//! from the claimant.

use std::collections::HashSet;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::deal::normalize_company_name;
use crate::domain::pos::{PosLine, TransactionType};
use crate::domain::{AuthorizationId, ClaimId, Money, PartnerId, ValidationErrors};

/// Units one authorisation may cover.
const MAX_QUANTITY: i64 = 1_000_000;
/// POS lines per claim (each is one item of the claim's transaction).
pub const MAX_LINES: usize = 90;

/// `POST /ship-debit/authorizations`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthorizationRequest {
    pub distributor_id: PartnerId,
    pub sku: String,
    pub end_customer: String,
    pub book_cost: Money,
    pub authorized_cost: Money,
    pub max_quantity: i64,
    pub starts_on: NaiveDate,
    pub ends_on: NaiveDate,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Authorization {
    pub id: AuthorizationId,
    pub distributor_id: PartnerId,
    pub sku: String,
    pub end_customer: String,
    /// The end customer as compared with POS lines (normalised like deal customers).
    pub end_customer_key: String,
    pub book_cost: Money,
    pub authorized_cost: Money,
    pub max_quantity: i64,
    pub starts_on: NaiveDate,
    pub ends_on: NaiveDate,
    pub created_at: DateTime<Utc>,
}

impl AuthorizationRequest {
    pub fn into_authorization(self, now: DateTime<Utc>) -> Result<Authorization, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let sku = self.sku.trim().to_string();
        if sku.is_empty() || sku.len() > 64 {
            errors.add("sku", "1 to 64 characters");
        }
        let end_customer = self.end_customer.trim().to_string();
        let end_customer_key = normalize_company_name(&end_customer);
        if end_customer_key.is_empty() || end_customer.chars().count() > 200 {
            errors.add(
                "end_customer",
                "the end customer's company name, 1 to 200 characters",
            );
        }
        let minor = self.book_cost.currency.minor_unit_digits();
        if self.book_cost.amount <= rust_decimal::Decimal::ZERO
            || self.book_cost.amount > rust_decimal::Decimal::from(1_000_000_000)
            || self.book_cost.amount.normalize().scale() > minor + 2
        {
            errors.add(
                "book_cost",
                "positive, at most 1,000,000,000, with at most two decimals beyond the minor unit",
            );
        }
        if self.authorized_cost.currency != self.book_cost.currency {
            errors.add("authorized_cost", "must be in the book cost's currency");
        } else if self.authorized_cost.amount < rust_decimal::Decimal::ZERO
            || self.authorized_cost.amount >= self.book_cost.amount
        {
            errors.add("authorized_cost", "must be from 0 to below the book cost");
        }
        if !(1..=MAX_QUANTITY).contains(&self.max_quantity) {
            errors.add("max_quantity", format!("1 to {MAX_QUANTITY} units"));
        }
        if self.ends_on < self.starts_on {
            errors.add("ends_on", "is before starts_on: the dates are reversed");
        }
        errors.into_result(Authorization {
            id: AuthorizationId::generate(),
            distributor_id: self.distributor_id,
            sku,
            end_customer,
            end_customer_key,
            book_cost: self.book_cost,
            authorized_cost: self.authorized_cost,
            max_quantity: self.max_quantity,
            starts_on: self.starts_on,
            ends_on: self.ends_on,
            created_at: now,
        })
    }
}

/// One POS line a claim names: the distributor's invoice and line number.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineRef {
    pub invoice_number: String,
    pub line_number: String,
}

/// `POST /ship-debit/claims` (a distributor).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShipDebitRequest {
    pub authorization_id: AuthorizationId,
    pub lines: Vec<LineRef>,
}

impl ShipDebitRequest {
    /// What can be refused before any POS line is read: the number of lines, their
    /// references, lines named twice.
    pub fn check_shape(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        if self.lines.is_empty() || self.lines.len() > MAX_LINES {
            errors.add("lines", format!("1 to {MAX_LINES} POS lines"));
            return Err(errors);
        }
        let mut seen = HashSet::new();
        for (i, line) in self.lines.iter().enumerate() {
            let valid = |text: &str| !text.trim().is_empty() && text.len() <= 64;
            if !valid(&line.invoice_number) || !valid(&line.line_number) {
                errors.add(
                    format!("lines[{i}]"),
                    "invoice and line numbers of 1 to 64 characters",
                );
            } else if !seen.insert(line) {
                errors.add(format!("lines[{i}]"), "named twice");
            }
        }
        errors.into_result(())
    }
}

/// An accepted ship-and-debit claim, with the debit the POS supports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShipDebitClaim {
    pub id: ClaimId,
    pub distributor_id: PartnerId,
    pub authorization_id: AuthorizationId,
    pub lines: Vec<LineRef>,
    pub quantity: i64,
    pub debit: Money,
    pub created_at: DateTime<Utc>,
}

/// Checks a claim against its authorisation and the POS lines it names (`found[i]` is the
/// stored line for `request.lines[i]`), and computes the debit. Every unsupported line is named.
pub fn check_ship_debit(
    request: &ShipDebitRequest,
    authorization: &Authorization,
    found: &[Option<PosLine>],
    now: DateTime<Utc>,
) -> Result<ShipDebitClaim, ValidationErrors> {
    let mut errors = ValidationErrors::new();
    if request.lines.is_empty() || request.lines.len() > MAX_LINES {
        errors.add("lines", format!("1 to {MAX_LINES} POS lines"));
    }
    let mut seen = HashSet::new();
    let mut quantity = 0i64;
    for (i, (line_ref, line)) in request.lines.iter().zip(found).enumerate() {
        let field = format!("lines[{i}]");
        if !seen.insert(line_ref) {
            errors.add(&field, "named twice");
            continue;
        }
        let Some(line) = line else {
            errors.add(
                &field,
                format!(
                    "no POS line of yours reports invoice {} line {}",
                    line_ref.invoice_number, line_ref.line_number
                ),
            );
            continue;
        };
        let mut faults = Vec::new();
        if line.sku != authorization.sku {
            faults.push(format!(
                "SKU {} is not the authorised {}",
                line.sku, authorization.sku
            ));
        }
        let customer = line
            .end_customer_name
            .as_deref()
            .map(normalize_company_name);
        if customer.as_deref() != Some(authorization.end_customer_key.as_str()) {
            faults.push(format!(
                "end customer {:?} is not the authorised {}",
                line.end_customer_name.as_deref().unwrap_or(""),
                authorization.end_customer
            ));
        }
        if line.invoice_date < authorization.starts_on || line.invoice_date > authorization.ends_on
        {
            faults.push(format!(
                "sold on {}, outside {} to {}",
                line.invoice_date, authorization.starts_on, authorization.ends_on
            ));
        }
        if line.transaction_type != TransactionType::ShipAndDebit {
            faults.push(format!(
                "reported as {}, not ship_and_debit",
                line.transaction_type.as_str()
            ));
        }
        if line.quantity <= 0 {
            faults.push("not a sale (no units shipped)".to_string());
        }
        if faults.is_empty() {
            quantity += line.quantity;
        } else {
            errors.add(&field, faults.join("; "));
        }
    }
    if quantity > authorization.max_quantity {
        errors.add(
            "lines",
            format!(
                "{quantity} units exceed the authorised {}",
                authorization.max_quantity
            ),
        );
    }
    let per_unit = authorization.book_cost.amount - authorization.authorized_cost.amount;
    let debit = Money::new(
        per_unit * rust_decimal::Decimal::from(quantity),
        authorization.book_cost.currency,
    )
    .round_to_minor_unit();
    errors.into_result(ShipDebitClaim {
        id: ClaimId::generate(),
        distributor_id: authorization.distributor_id.clone(),
        authorization_id: authorization.id.clone(),
        lines: request.lines.clone(),
        quantity,
        debit,
        created_at: now,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usd(amount: &str) -> Money {
        Money::parse(amount, "USD").unwrap()
    }

    fn authorization() -> Authorization {
        AuthorizationRequest {
            distributor_id: PartnerId::generate(),
            sku: "SEC-FW-500".into(),
            end_customer: "Contoso Hospital, Inc.".into(),
            book_cost: usd("1000.00"),
            authorized_cost: usd("820.00"),
            max_quantity: 10,
            starts_on: "2026-10-01".parse().unwrap(),
            ends_on: "2026-12-31".parse().unwrap(),
        }
        .into_authorization(Utc::now())
        .unwrap()
    }

    fn line(invoice: &str, quantity: i64) -> PosLine {
        PosLine {
            distributor: PartnerId::generate(),
            reseller_id: None,
            reseller_name: Some("Any".into()),
            end_customer_name: Some("CONTOSO HOSPITAL".into()),
            end_customer_country: None,
            sku: "SEC-FW-500".into(),
            quantity,
            unit_price: usd("900"),
            invoice_number: invoice.into(),
            line_number: "1".into(),
            invoice_date: "2026-11-02".parse().unwrap(),
            transaction_type: TransactionType::ShipAndDebit,
            held: false,
        }
    }

    fn request(invoices: &[&str]) -> ShipDebitRequest {
        ShipDebitRequest {
            authorization_id: authorization().id,
            lines: invoices
                .iter()
                .map(|i| LineRef {
                    invoice_number: i.to_string(),
                    line_number: "1".into(),
                })
                .collect(),
        }
    }

    #[test]
    fn the_debit_is_recomputed_from_the_pos_lines() {
        let a = authorization();
        let claim = check_ship_debit(
            &request(&["A", "B"]),
            &a,
            &[Some(line("A", 3)), Some(line("B", 4))],
            Utc::now(),
        )
        .unwrap();
        // (1,000.00 - 820.00) x 7 units.
        assert_eq!((claim.quantity, claim.debit), (7, usd("1260.00")));
    }

    #[test]
    fn what_the_pos_does_not_support_is_refused_line_by_line() {
        let a = authorization();
        let mut other_sku = line("B", 1);
        other_sku.sku = "NW-1".into();
        let mut other_customer = line("C", 1);
        other_customer.end_customer_name = Some("Fabrikam".into());
        let mut late = line("D", 1);
        late.invoice_date = "2027-01-02".parse().unwrap();
        let mut stock_sale = line("E", 1);
        stock_sale.transaction_type = TransactionType::StockSale;
        let errors = check_ship_debit(
            &request(&["A", "B", "C", "D", "E", "A"]),
            &a,
            &[
                None,
                Some(other_sku),
                Some(other_customer),
                Some(late),
                Some(stock_sale),
                None,
            ],
            Utc::now(),
        )
        .unwrap_err();
        let messages: Vec<_> = errors
            .0
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect();
        assert_eq!(
            messages[0],
            "lines[0]: no POS line of yours reports invoice A line 1"
        );
        assert!(messages[1].contains("SKU NW-1 is not the authorised SEC-FW-500"));
        assert!(messages[2].contains("end customer \"Fabrikam\""));
        assert!(messages[3].contains("outside 2026-10-01 to 2026-12-31"));
        assert!(messages[4].contains("reported as stock_sale"));
        assert_eq!(messages[5], "lines[5]: named twice");
    }

    #[test]
    fn malformed_requests_are_refused_before_any_lookup() {
        let twice = request(&["A", "B", "A"]);
        assert_eq!(twice.check_shape().unwrap_err().0[0].field, "lines[2]");
        assert!(request(&[]).check_shape().is_err());
        let long = request(&[&"9".repeat(65)]);
        assert!(long.check_shape().is_err());
        assert!(request(&["A", "B"]).check_shape().is_ok());
    }

    #[test]
    fn more_than_the_authorised_quantity_is_refused() {
        let errors = check_ship_debit(
            &request(&["A", "B"]),
            &authorization(),
            &[Some(line("A", 6)), Some(line("B", 5))],
            Utc::now(),
        )
        .unwrap_err();
        assert_eq!(errors.0[0].message, "11 units exceed the authorised 10");
    }

    #[test]
    fn bad_authorizations_name_their_faults() {
        let errors = AuthorizationRequest {
            distributor_id: PartnerId::generate(),
            sku: "".into(),
            end_customer: "Inc.".into(),
            book_cost: usd("100"),
            authorized_cost: usd("120"),
            max_quantity: 0,
            starts_on: "2026-12-01".parse().unwrap(),
            ends_on: "2026-11-01".parse().unwrap(),
        }
        .into_authorization(Utc::now())
        .unwrap_err();
        let fields: Vec<_> = errors.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            ["sku", "authorized_cost", "max_quantity", "ends_on"]
        );
    }
}
