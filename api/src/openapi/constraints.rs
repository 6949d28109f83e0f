//! Rules the server applies to every input of a kind, written into the contract once
//! instead of on each field: a string in a JSON body or a query never holds NUL (text
//! columns cannot store it), every paged collection takes the same `limit` and `cursor`,
//! and every `Idempotency-Key` follows one rule. Field-specific rules (lengths, patterns,
//! formats, bounds) sit on the fields' own schemas, beside the code that enforces them.
//!
//! An operation anyone may call says so with an empty `security` (`[]`): utoipa writes
//! `[{}]`, which generators read as "authentication optional".

use serde_json::{Value, json};

use mailroom_domain::pagination::{DEFAULT_LIMIT, MAX_LIMIT};

/// Any text without NUL.
pub const NO_NUL_PATTERN: &str = r"^[^\u0000]*$";
/// Text without NUL holding at least one character that is not Unicode whitespace (what
/// Rust's `trim` removes), for the required texts of `mailroom_domain::text`.
pub const NOT_BLANK_PATTERN: &str = r"^[^\u0000]*[^\u0000\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\u0000]*$";
/// Nothing but Unicode whitespace (what Rust's `trim` removes): blank optional text,
/// which counts as absent.
pub const BLANK_PATTERN: &str =
    r"^[\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$";
/// A cursor this API returned: 16 bytes in unpadded URL-safe base64 (the last character
/// carries 2 bits, so it is one of four), or empty for the first page.
pub const CURSOR_PATTERN: &str = r"^([A-Za-z0-9_-]{21}[AQgw])?$";
/// An `Idempotency-Key`: 1 to 255 visible ASCII characters (`idempotency::validate_key`).
pub const IDEMPOTENCY_KEY_PATTERN: &str = r"^[!-~]{1,255}$";

pub fn apply(doc: &mut Value) {
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for item in paths.values_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for operation in item.values_mut() {
            if operation.get("security") == Some(&json!([{}])) {
                operation["security"] = json!([]);
            }
            if let Some(parameters) = operation
                .get_mut("parameters")
                .and_then(Value::as_array_mut)
            {
                parameters.iter_mut().for_each(constrain_parameter);
            }
            if let Some(content) = operation
                .pointer_mut("/requestBody/content")
                .and_then(Value::as_object_mut)
            {
                for (media_type, body) in content.iter_mut() {
                    if media_type.contains("json")
                        && let Some(schema) = body.get_mut("schema")
                    {
                        forbid_nul(schema);
                    }
                }
            }
        }
    }
    if let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    {
        let request_schemas = request_schema_names(schemas);
        for name in request_schemas {
            if let Some(schema) = schemas.get_mut(&name) {
                forbid_nul(schema);
            }
        }
    }
}

fn constrain_parameter(parameter: &mut Value) {
    let location = parameter["in"].as_str().unwrap_or_default().to_owned();
    let name = parameter["name"].as_str().unwrap_or_default().to_owned();
    let Some(schema) = parameter.get_mut("schema") else {
        return;
    };
    match (location.as_str(), name.as_str()) {
        ("query", "limit") => {
            *schema = json!({
                "type": "integer",
                "format": "int64",
                "minimum": 1,
                "maximum": MAX_LIMIT,
                "default": DEFAULT_LIMIT,
            });
        }
        ("query", "cursor") => {
            *schema = json!({ "type": "string", "pattern": CURSOR_PATTERN });
        }
        ("header", "Idempotency-Key") => {
            *schema = json!({
                "type": "string",
                "minLength": 1,
                "maxLength": 255,
                "pattern": IDEMPOTENCY_KEY_PATTERN,
            });
        }
        ("query", _) => forbid_nul(schema),
        _ => {}
    }
}

/// The request bodies' named schemas: those referenced from a request body, and the
/// schemas they reference in turn.
fn request_schema_names(schemas: &serde_json::Map<String, Value>) -> Vec<String> {
    let mut names: Vec<String> = schemas
        .iter()
        .filter(|(_, s)| s.get("additionalProperties") == Some(&Value::Bool(false)))
        .map(|(name, _)| name.clone())
        .collect();
    let mut i = 0;
    while i < names.len() {
        let mut referenced = Vec::new();
        collect_refs(&schemas[&names[i]], &mut referenced);
        for r in referenced {
            if !names.contains(&r) && schemas.contains_key(&r) {
                names.push(r);
            }
        }
        i += 1;
    }
    names
}

fn collect_refs(schema: &Value, out: &mut Vec<String>) {
    match schema {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("$ref")
                && let Some(name) = r.strip_prefix("#/components/schemas/")
            {
                out.push(name.to_owned());
            }
            map.values().for_each(|v| collect_refs(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

/// Gives every plain string in the schema (one without a pattern, format or enum of its
/// own) the NUL-free pattern, or the not-blank one where the text is required
/// (`minLength` 1 or more).
fn forbid_nul(schema: &mut Value) {
    match schema {
        Value::Object(map) => {
            let is_string = match map.get("type") {
                Some(Value::String(t)) => t == "string",
                Some(Value::Array(types)) => types.iter().any(|t| t == "string"),
                _ => false,
            };
            if is_string
                && !map.contains_key("pattern")
                && !map.contains_key("format")
                && !map.contains_key("enum")
            {
                let required = map
                    .get("minLength")
                    .and_then(Value::as_u64)
                    .is_some_and(|n| n >= 1);
                let pattern = if required {
                    NOT_BLANK_PATTERN
                } else {
                    NO_NUL_PATTERN
                };
                map.insert("pattern".into(), json!(pattern));
            }
            for (key, value) in map.iter_mut() {
                if key != "example" && key != "examples" && key != "default" {
                    forbid_nul(value);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(forbid_nul),
        _ => {}
    }
}
