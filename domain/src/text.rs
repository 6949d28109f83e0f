//! Free text from requests, one rule for every field: its length is counted in characters
//! as sent, a required text holds at least one non-whitespace character, and what is kept
//! is trimmed (blank optional text counts as absent). The contract states the same rule
//! (`minLength`/`maxLength`, and a pattern for "not blank"), so a client can check first.

use crate::error::FieldError;

/// A required text of 1 to `max` characters, not blank; answered trimmed.
pub fn required(field: &str, value: &str, max: usize) -> Result<String, FieldError> {
    let trimmed = value.trim();
    if trimmed.is_empty() || value.chars().count() > max {
        return Err(FieldError::new(
            field,
            format!("must be 1 to {max} characters, not all whitespace"),
        ));
    }
    Ok(trimmed.to_owned())
}

/// An optional text of at most `max` characters; answered trimmed, blank as absent.
pub fn optional(
    field: &str,
    value: Option<String>,
    max: usize,
) -> Result<Option<String>, FieldError> {
    match value {
        Some(v) if v.chars().count() > max => Err(FieldError::new(
            field,
            format!("must be at most {max} characters"),
        )),
        Some(v) => Ok(Some(v.trim().to_owned()).filter(|v| !v.is_empty())),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_is_counted_as_sent_and_blank_is_refused() {
        assert_eq!(required("name", "  News ", 200).unwrap(), "News");
        assert!(required("name", " \t\u{3000}", 200).is_err());
        assert!(required("name", "", 200).is_err());
        assert!(required("name", &format!(" {}", "a".repeat(200)), 200).is_err());
        assert_eq!(
            required("name", &"é".repeat(200), 200).unwrap(),
            "é".repeat(200)
        );
        assert_eq!(optional("note", Some("  ".into()), 10).unwrap(), None);
        assert!(optional("note", Some("a".repeat(11)), 10).is_err());
        assert_eq!(
            optional("note", Some(" a ".into()), 10).unwrap(),
            Some("a".into())
        );
    }
}
