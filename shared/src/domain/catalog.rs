//! Catalog entries as vendor admins and the vendor's catalog webhook send them: a SKU, its
//! name and, optionally, its cost.

use serde::{Deserialize, Serialize};

use super::{Money, ValidationErrors};

/// Most entries one request or event may carry.
pub const MAX_ENTRIES: usize = 1000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogEntry {
    pub sku: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<Money>,
}

/// Checks entries (1 to [`MAX_ENTRIES`]; SKUs without spaces, names, costs not negative),
/// naming each fault under `field` (`skus`, `data.skus`).
pub fn check_entries(entries: &[CatalogEntry], field: &str) -> Result<(), ValidationErrors> {
    let mut errors = ValidationErrors::new();
    if entries.is_empty() || entries.len() > MAX_ENTRIES {
        errors.add(field, format!("1 to {MAX_ENTRIES} entries"));
    }
    let mut seen = std::collections::BTreeSet::new();
    for (i, entry) in entries.iter().enumerate() {
        let sku = entry.sku.trim();
        if sku.is_empty()
            || sku.len() > 64
            || sku.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            errors.add(format!("{field}[{i}].sku"), "1 to 64 characters, no spaces");
        } else if !seen.insert(sku) {
            errors.add(format!("{field}[{i}].sku"), "appears twice");
        }
        let name = entry.name.trim();
        if name.is_empty() || name.chars().count() > 200 {
            errors.add(format!("{field}[{i}].name"), "1 to 200 characters");
        }
        if let Some(cost) = entry.cost
            && cost.amount.is_sign_negative()
        {
            errors.add(format!("{field}[{i}].cost"), "must not be negative");
        }
    }
    errors.into_result(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(sku: &str, name: &str, cost: Option<&str>) -> CatalogEntry {
        CatalogEntry {
            sku: sku.into(),
            name: name.into(),
            cost: cost.map(|c| Money::parse(c, "USD").unwrap()),
        }
    }

    #[test]
    fn names_each_faulty_entry() {
        assert!(check_entries(&[entry("NW-1", "Switch", Some("10.00"))], "skus").is_ok());
        let errors = check_entries(
            &[
                entry("NW 1", "Switch", None),
                entry("NW-2", " ", None),
                entry("NW-3", "Router", Some("-1")),
                entry("NW-3", "Router", None),
            ],
            "data.skus",
        )
        .unwrap_err();
        let fields: Vec<&str> = errors.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "data.skus[0].sku",
                "data.skus[1].name",
                "data.skus[2].cost",
                "data.skus[3].sku"
            ]
        );
        assert!(check_entries(&[], "skus").is_err());
    }
}
