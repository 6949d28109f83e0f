//! One record of an import file, checked as the API checks a contact: the address parsed
//! and normalised, the name and each property screened by the sensitive-data guard and
//! typed by its definition. A row that fails is rejected with a reason that names the
//! column and never quotes the value.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Number, Value};

use super::columns::{ColumnMap, PropertyColumn};
use crate::contacts::{EmailAddress, PropertyType, clean_name, sensitive};
use crate::error::Error;

/// A row that passed every check.
#[derive(Debug, Clone)]
pub struct ImportedRow {
    /// The record's number in the file, the header being row 1 (as a spreadsheet counts).
    pub row: u32,
    pub email: EmailAddress,
    pub name: Option<String>,
    pub properties: Map<String, Value>,
}

/// A row that did not, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = ImportRejection)]
pub struct Rejection {
    /// The record's number in the file; the header is row 1.
    pub row: u32,
    /// What is wrong, naming the column; the value itself is never repeated.
    pub reason: String,
}

impl Rejection {
    fn new(row: u32, reason: impl Into<String>) -> Self {
        Rejection {
            row,
            reason: reason.into(),
        }
    }
}

/// Reads record `row` through the column map. Cells are trimmed; an empty cell sets
/// nothing. Cells of ignored columns are not read at all.
pub fn read_row(
    map: &ColumnMap,
    row: u32,
    record: &csv::ByteRecord,
) -> Result<ImportedRow, Rejection> {
    if record.len() > map.width {
        return Err(Rejection::new(
            row,
            format!(
                "the row has {} fields but the header has {}",
                record.len(),
                map.width
            ),
        ));
    }
    let cell = |index: usize, column: &str| -> Result<&str, Rejection> {
        let bytes = record.get(index).unwrap_or_default();
        std::str::from_utf8(bytes)
            .map(str::trim)
            .map_err(|_| Rejection::new(row, format!("{column} is not valid UTF-8")))
    };
    let email = EmailAddress::parse(cell(map.email, "email")?)
        .map_err(|e| Rejection::new(row, format!("email {e}")))?;
    let name = match map.name {
        Some(index) => {
            let raw = cell(index, "name")?;
            clean_name((!raw.is_empty()).then(|| raw.to_owned()))
                .map_err(|e| Rejection::new(row, reason_of(e)))?
        }
        None => None,
    };
    let mut properties = Map::new();
    for column in &map.properties {
        let raw = cell(column.index, &column.name)?;
        if raw.is_empty() {
            continue;
        }
        let value = typed_value(column, raw).map_err(|reason| Rejection::new(row, reason))?;
        properties.insert(column.name.clone(), value);
    }
    Ok(ImportedRow {
        row,
        email,
        name,
        properties,
    })
}

/// A cell as the JSON value its property's type asks for, screened first.
fn typed_value(column: &PropertyColumn, raw: &str) -> Result<Value, String> {
    let name = &column.name;
    if let Some(kind) = sensitive::detect(raw) {
        return Err(sensitive_reason(name, kind));
    }
    if raw.contains('\0') {
        return Err(format!("{name} must not contain NUL characters"));
    }
    let value = match column.property_type {
        PropertyType::String | PropertyType::Date => Value::String(raw.to_owned()),
        PropertyType::Number => parse_number(raw)
            .map(Value::Number)
            .ok_or_else(|| format!("{name} must be a number"))?,
        PropertyType::Boolean => match raw.to_ascii_lowercase().as_str() {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => return Err(format!("{name} must be a boolean (true or false)")),
        },
    };
    column
        .property_type
        .check(&value)
        .map_err(|e| format!("{name} {e}"))?;
    Ok(value)
}

/// Integers stay integers (`42`, not `42.0`); anything else must be a finite decimal.
fn parse_number(raw: &str) -> Option<Number> {
    if let Ok(n) = raw.parse::<i64>() {
        return Some(Number::from(n));
    }
    let looks_decimal = raw
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E'));
    if !looks_decimal {
        return None; // "inf", "NaN", "0x10"
    }
    raw.parse::<f64>().ok().and_then(Number::from_f64)
}

fn sensitive_reason(column: &str, kind: sensitive::SensitiveKind) -> String {
    format!(
        "{column} looks like a {} and was not stored",
        kind.as_str().replace('_', " ")
    )
}

/// A contact rule's error as a rejection reason (the field first, as in API details).
fn reason_of(error: Error) -> String {
    match error {
        Error::Invalid(errors) => errors
            .iter()
            .map(|e| format!("{} {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("; "),
        Error::SensitiveData { field, kind } => sensitive_reason(&field, kind),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contacts::Schema;

    fn map() -> ColumnMap {
        let schema: Schema = [
            ("plan".to_owned(), PropertyType::String),
            ("seats".to_owned(), PropertyType::Number),
            ("vip".to_owned(), PropertyType::Boolean),
            ("since".to_owned(), PropertyType::Date),
        ]
        .into_iter()
        .collect();
        let header: Vec<String> = ["email", "name", "plan", "seats", "vip", "since", "notes"]
            .iter()
            .map(|c| (*c).to_owned())
            .collect();
        ColumnMap::from_header(&header, &schema).unwrap()
    }

    fn read(cells: &[&str]) -> Result<ImportedRow, Rejection> {
        read_row(&map(), 7, &csv::ByteRecord::from(cells.to_vec()))
    }

    fn reason(cells: &[&str]) -> String {
        read(cells).unwrap_err().reason
    }

    #[test]
    fn a_good_row_is_normalised_and_typed() {
        let row = read(&[
            " Ada@Example.COM ",
            " Ada ",
            "pro",
            "12",
            "TRUE",
            "2024-01-15",
            "x",
        ])
        .unwrap();
        assert_eq!(row.email.as_str(), "ada@example.com");
        assert_eq!(row.name.as_deref(), Some("Ada"));
        assert_eq!(
            Value::Object(row.properties),
            serde_json::json!({"plan": "pro", "seats": 12, "vip": true, "since": "2024-01-15"})
        );
        let row = read(&["b@example.com", "", "", "2.5"]).unwrap();
        assert_eq!(row.name, None);
        assert_eq!(
            Value::Object(row.properties),
            serde_json::json!({"seats": 2.5})
        );
    }

    #[test]
    fn bad_rows_are_rejected_naming_the_column_not_the_value() {
        assert_eq!(
            reason(&["nobody"]),
            "email is not a valid email address: missing @"
        );
        assert_eq!(
            reason(&["", "Ada"]),
            "email is not a valid email address: it is empty"
        );
        assert_eq!(
            reason(&["a@example.com", "", "", "many"]),
            "seats must be a number"
        );
        assert_eq!(
            reason(&["a@example.com", "", "", "inf"]),
            "seats must be a number"
        );
        assert_eq!(
            reason(&["a@example.com", "", "", "", "yes"]),
            "vip must be a boolean (true or false)"
        );
        assert_eq!(
            reason(&["a@example.com", "", "", "", "", "15/01/2024"]),
            "since must be a date (YYYY-MM-DD or RFC 3339)"
        );
        assert_eq!(
            reason(&["a@example.com", "", "", "", "", "", "", "extra"]),
            "the row has 8 fields but the header has 7"
        );
        let card = "4111 1111 1111 1111";
        for cells in [["a@example.com", "", card], ["a@example.com", card, ""]] {
            let reason = reason(&cells);
            assert!(
                reason.ends_with("looks like a payment card and was not stored"),
                "{reason}"
            );
            assert!(!reason.contains("4111"), "{reason}");
        }
        assert_eq!(
            reason(&["a@example.com", "", "", "123-45-6789"]),
            "seats looks like a national id and was not stored"
        );
    }

    #[test]
    fn invalid_utf8_is_rejected_only_where_it_is_read() {
        let record = csv::ByteRecord::from(vec![&b"a@example.com"[..], b"Ad\xffa"]);
        assert_eq!(
            read_row(&map(), 3, &record).unwrap_err().reason,
            "name is not valid UTF-8"
        );
        let record = csv::ByteRecord::from(vec![
            &b"a@example.com"[..],
            b"",
            b"",
            b"",
            b"",
            b"",
            b"\xff",
        ]);
        assert!(read_row(&map(), 3, &record).is_ok());
    }
}
