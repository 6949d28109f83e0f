//! The header-style fields of a report's machine-readable part.
//!
//! `message/delivery-status` (RFC 3464 §2.1) and `message/feedback-report` (RFC 5965 §3)
//! bodies are groups of `Name: value` fields separated by blank lines, with RFC 5322
//! folding. mail-parser hands these parts over as opaque bytes, so they are read here.

/// One blank-line separated group of fields, in the order they were written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct FieldGroup {
    /// Lower-cased names; values unfolded but not yet trimmed at the end.
    fields: Vec<(String, String)>,
}

impl FieldGroup {
    /// The first non-empty value of field `name` (any case), trimmed.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .filter(|(field, _)| field.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.trim())
            .find(|value| !value.is_empty())
    }

    fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }
}

/// Splits `text` into its field groups. Lines that are neither a field nor a
/// continuation are skipped, and so are continuations that follow one.
pub(crate) fn field_groups(text: &str) -> Vec<FieldGroup> {
    let mut groups = Vec::new();
    let mut group = FieldGroup::default();
    // Whether the last line was a field, so that a continuation line belongs to it.
    let mut continues_field = false;
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() {
            if !group.is_empty() {
                groups.push(std::mem::take(&mut group));
            }
            continues_field = false;
        } else if line.starts_with([' ', '\t']) {
            if let (true, Some((_, value))) = (continues_field, group.fields.last_mut()) {
                // Folded lines are joined with one space: MTAs indent continuations by
                // anything from one space to a tab, and none of it is meaningful.
                if !value.trim().is_empty() {
                    value.push(' ');
                }
                value.push_str(line.trim());
            }
        } else {
            continues_field = match field(line) {
                Some((name, value)) => {
                    group.fields.push((name, value));
                    true
                }
                None => false,
            };
        }
    }
    if !group.is_empty() {
        groups.push(group);
    }
    groups
}

/// The value of a typed field (`rfc822; x@example.net`, `dns; mx.example.net`) without
/// its type. A value without a type is taken whole.
pub(crate) fn untyped(value: &str) -> &str {
    match value.split_once(';') {
        Some((kind, rest)) if is_type_name(kind.trim()) => rest.trim(),
        _ => value.trim(),
    }
}

/// An address as reports write it, with or without `<>`; `None` when nothing is left.
pub(crate) fn bare_address(value: &str) -> Option<String> {
    let value = value.trim();
    let value = value
        .strip_prefix('<')
        .and_then(|v| v.strip_suffix('>'))
        .unwrap_or(value)
        .trim();
    (!value.is_empty()).then(|| value.to_owned())
}

/// Address and MTA types are atoms such as `rfc822`, `dns`, `x-postfix` or `utf-8`.
fn is_type_name(kind: &str) -> bool {
    !kind.is_empty()
        && kind
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

/// `Name: value` with a name of printable ASCII and no spaces (RFC 5322 §2.2).
fn field(line: &str) -> Option<(String, String)> {
    let (name, value) = line.split_once(':')?;
    let name = name.trim_end();
    let printable = |b: u8| b.is_ascii_graphic() && b != b':';
    if name.is_empty() || !name.bytes().all(printable) {
        return None;
    }
    Some((name.to_ascii_lowercase(), value.trim_start().to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_are_separated_by_blank_lines_and_names_ignore_case() {
        let groups = field_groups(
            "Reporting-MTA: dns; mx.example\r\n\r\n\r\nFINAL-RECIPIENT: rfc822; a@example.net\r\n\
             action: failed\r\n \r\nFinal-Recipient: rfc822; b@example.net\r\n",
        );
        assert_eq!(groups.len(), 3);
        assert_eq!(groups[0].get("reporting-mta"), Some("dns; mx.example"));
        assert_eq!(
            groups[1].get("Final-Recipient"),
            Some("rfc822; a@example.net")
        );
        assert_eq!(groups[1].get("Action"), Some("failed"));
        assert!(groups[2].get("final-recipient").is_some());
        assert_eq!(groups[2].get("action"), None);
    }

    #[test]
    fn folded_values_are_joined_with_one_space() {
        let groups = field_groups(
            "Diagnostic-Code: smtp; 550 5.1.1 <x@example.net>:\n\t  Recipient address\n    rejected\nStatus: 5.1.1",
        );
        assert_eq!(
            groups[0].get("diagnostic-code"),
            Some("smtp; 550 5.1.1 <x@example.net>: Recipient address rejected")
        );
        assert_eq!(groups[0].get("status"), Some("5.1.1"));
    }

    #[test]
    fn a_value_may_start_on_the_next_line() {
        let groups = field_groups("Diagnostic-Code:\n  smtp; 550 no");
        assert_eq!(groups[0].get("diagnostic-code"), Some("smtp; 550 no"));
    }

    #[test]
    fn noise_is_skipped_and_the_first_non_empty_value_wins() {
        let groups = field_groups(
            "  orphan continuation\nnot a field\n  its continuation\nbad name: x\nStatus:\nStatus: 4.4.1\nStatus: 5.0.0",
        );
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0].get("status"), Some("4.4.1"));
        assert_eq!(groups[0].get("bad name"), None);
        assert!(field_groups("").is_empty());
        assert!(field_groups("\n \r\n\t\n").is_empty());
    }

    #[test]
    fn typed_values_lose_their_type_and_addresses_their_brackets() {
        assert_eq!(untyped("rfc822; x@example.net"), "x@example.net");
        assert_eq!(untyped("rfc822;<X@example.net>"), "<X@example.net>");
        assert_eq!(untyped("X-Postfix; connect to mx"), "connect to mx");
        assert_eq!(untyped(" mx.example.net "), "mx.example.net");
        // A semicolon after something that is no type name is part of the value.
        assert_eq!(untyped("odd <a;b>@example.net"), "odd <a;b>@example.net");
        assert_eq!(
            bare_address(" <x@example.net> "),
            Some("x@example.net".into())
        );
        assert_eq!(bare_address("x@example.net"), Some("x@example.net".into()));
        assert_eq!(bare_address("<>"), None);
        assert_eq!(bare_address("  "), None);
    }
}
