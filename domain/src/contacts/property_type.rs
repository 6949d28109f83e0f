//! Typed custom contact properties: each property declares a type and every
//! value written to it is checked against that type, so segments and
//! templates can rely on the shape of the data.

use std::fmt;
use std::str::FromStr;

use serde_json::Value;

/// Longest accepted string value, in characters; keeps contact rows small.
pub const MAX_STRING_CHARS: usize = 10_000;

/// Names with a fixed meaning on every contact, which a custom property
/// must not shadow.
const RESERVED_NAMES: [&str; 5] = ["email", "name", "id", "created_at", "updated_at"];
const MAX_NAME_CHARS: usize = 64;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum PropertyType {
    String,
    Number,
    Boolean,
    Date,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown property type: expected one of string, number, boolean, date")]
pub struct UnknownPropertyType;

/// A value does not match its property's type; `message` completes a
/// sentence starting with the property name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct PropertyTypeMismatch {
    pub expected: PropertyType,
    pub message: &'static str,
}

impl PropertyType {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Number => "number",
            Self::Boolean => "boolean",
            Self::Date => "date",
        }
    }

    /// Checks `value` against this type. `null` always passes because it
    /// clears the property.
    pub fn check(&self, value: &Value) -> Result<(), PropertyTypeMismatch> {
        let mismatch = |message| {
            Err(PropertyTypeMismatch {
                expected: *self,
                message,
            })
        };
        match (self, value) {
            (_, Value::Null) => Ok(()),
            (Self::String, Value::String(s)) if s.chars().count() <= MAX_STRING_CHARS => Ok(()),
            (Self::String, Value::String(_)) => {
                mismatch("must be a string of at most 10000 characters")
            }
            (Self::String, _) => mismatch("must be a string"),
            // serde_json numbers are finite unless built from a float by hand.
            (Self::Number, Value::Number(n)) if n.as_f64().is_some_and(f64::is_finite) => Ok(()),
            (Self::Number, _) => mismatch("must be a number"),
            (Self::Boolean, Value::Bool(_)) => Ok(()),
            (Self::Boolean, _) => mismatch("must be a boolean (true or false)"),
            (Self::Date, Value::String(s)) if is_date(s) => Ok(()),
            (Self::Date, _) => mismatch("must be a date (YYYY-MM-DD or RFC 3339)"),
        }
    }
}

impl fmt::Display for PropertyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PropertyType {
    type Err = UnknownPropertyType;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "string" => Ok(Self::String),
            "number" => Ok(Self::Number),
            "boolean" => Ok(Self::Boolean),
            "date" => Ok(Self::Date),
            _ => Err(UnknownPropertyType),
        }
    }
}

/// `YYYY-MM-DD` (exactly; chrono alone would also take `2024-1-5`) or an
/// RFC 3339 date-time.
fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    let date_shaped = b.len() == 10
        && b.iter().enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                *c == b'-'
            } else {
                c.is_ascii_digit()
            }
        });
    (date_shaped && chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok())
        || chrono::DateTime::parse_from_rfc3339(s).is_ok()
}

/// Property names become template variables, hence the identifier rules.
pub fn validate_property_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > MAX_NAME_CHARS {
        return Err(format!("must be between 1 and {MAX_NAME_CHARS} characters"));
    }
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        return Err("must start with a lowercase letter (a-z)".to_owned());
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err("may only contain lowercase letters (a-z), digits and underscores".to_owned());
    }
    if RESERVED_NAMES.contains(&name) {
        return Err(format!("'{name}' is reserved"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(ty: PropertyType, value: Value) -> Result<(), &'static str> {
        ty.check(&value).map_err(|e| e.message)
    }

    #[test]
    fn null_clears_any_type() {
        for ty in [
            PropertyType::String,
            PropertyType::Number,
            PropertyType::Boolean,
            PropertyType::Date,
        ] {
            assert_eq!(check(ty, Value::Null), Ok(()));
        }
    }

    #[test]
    fn string_values() {
        assert_eq!(check(PropertyType::String, json!("hello")), Ok(()));
        assert_eq!(check(PropertyType::String, json!("")), Ok(()));
        assert_eq!(
            check(PropertyType::String, json!("é".repeat(MAX_STRING_CHARS))),
            Ok(())
        );
        assert_eq!(
            check(
                PropertyType::String,
                json!("a".repeat(MAX_STRING_CHARS + 1))
            ),
            Err("must be a string of at most 10000 characters")
        );
        assert_eq!(
            check(PropertyType::String, json!(1)),
            Err("must be a string")
        );
        assert_eq!(
            check(PropertyType::String, json!(["a"])),
            Err("must be a string")
        );
    }

    #[test]
    fn number_values() {
        for ok in [json!(0), json!(-3), json!(1.5), json!(u64::MAX)] {
            assert_eq!(check(PropertyType::Number, ok), Ok(()));
        }
        for bad in [json!("1"), json!(true), json!({})] {
            assert_eq!(check(PropertyType::Number, bad), Err("must be a number"));
        }
    }

    #[test]
    fn boolean_values() {
        assert_eq!(check(PropertyType::Boolean, json!(true)), Ok(()));
        assert_eq!(check(PropertyType::Boolean, json!(false)), Ok(()));
        for bad in [json!("true"), json!(1), json!([])] {
            assert_eq!(
                check(PropertyType::Boolean, bad),
                Err("must be a boolean (true or false)")
            );
        }
    }

    #[test]
    fn date_values() {
        for ok in [
            "2024-01-15",
            "2024-02-29",
            "2024-01-15T10:30:00Z",
            "2024-01-15T10:30:00.123+02:00",
        ] {
            assert_eq!(check(PropertyType::Date, json!(ok)), Ok(()), "{ok}");
        }
        let message = "must be a date (YYYY-MM-DD or RFC 3339)";
        for bad in [
            json!("2023-02-29"),
            json!("2024-13-01"),
            json!("2024-1-5"),
            json!("15/01/2024"),
            json!("2024-01-15T10:30:00"),
            json!("+12024-01-15"),
            json!(""),
            json!(20240115),
        ] {
            assert_eq!(
                check(PropertyType::Date, bad.clone()),
                Err(message),
                "{bad}"
            );
        }
        let err = PropertyType::Date.check(&json!("soon"));
        assert_eq!(err.map_err(|e| e.to_string()), Err(message.to_owned()));
    }

    #[test]
    fn names_round_trip() {
        for ty in [
            PropertyType::String,
            PropertyType::Number,
            PropertyType::Boolean,
            PropertyType::Date,
        ] {
            assert_eq!(ty.as_str().parse::<PropertyType>(), Ok(ty));
            assert_eq!(serde_json::to_value(ty).ok(), Some(json!(ty.as_str())));
            assert_eq!(
                serde_json::from_value::<PropertyType>(json!(ty.as_str())).ok(),
                Some(ty)
            );
        }
        assert_eq!("String".parse::<PropertyType>(), Err(UnknownPropertyType));
        assert_eq!("text".parse::<PropertyType>(), Err(UnknownPropertyType));
    }

    #[test]
    fn property_names() {
        for ok in ["plan", "first_name", "score2", "a", &"a".repeat(64)] {
            assert_eq!(validate_property_name(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "2fa",
            "_plan",
            "Plan",
            "first-name",
            "first name",
            "prénom",
            &"a".repeat(65),
            "email",
            "name",
            "id",
            "created_at",
            "updated_at",
        ] {
            assert!(validate_property_name(bad).is_err(), "{bad}");
        }
        assert_eq!(
            validate_property_name("email"),
            Err("'email' is reserved".to_owned())
        );
    }
}
