//! The header of an import file: which column holds the address, the name, or a contact
//! property, and which columns are ignored.

use crate::contacts::sensitive;
use crate::contacts::{PropertyType, Schema};
use crate::error::{Error, Result};

/// Header cells longer than this are reported cut short.
const MAX_REPORTED_HEADER_CHARS: usize = 64;
/// Ignored columns reported at most (a file may have thousands).
const MAX_REPORTED_IGNORED: usize = 100;

/// Where each field Mailroom reads sits in a record.
#[derive(Debug, Clone)]
pub struct ColumnMap {
    pub email: usize,
    pub name: Option<usize>,
    pub properties: Vec<PropertyColumn>,
    /// Header cells that name nothing Mailroom knows, as written: reported, then ignored.
    pub ignored: Vec<String>,
    /// How many columns the header has.
    pub width: usize,
}

/// A column that fills a defined contact property.
#[derive(Debug, Clone)]
pub struct PropertyColumn {
    pub index: usize,
    pub name: String,
    pub property_type: PropertyType,
}

impl ColumnMap {
    /// Maps a header row: `email`, `name` and the names of defined contact properties,
    /// compared case-insensitively and ignoring surrounding spaces (and a UTF-8 byte order
    /// mark). A header without `email`, or naming one field twice, is refused.
    pub fn from_header(header: &[String], schema: &Schema) -> Result<ColumnMap> {
        let mut email = None;
        let mut name = None;
        let mut properties: Vec<PropertyColumn> = Vec::new();
        let mut ignored = Vec::new();
        let mut seen: Vec<(String, usize)> = Vec::new();
        for (index, cell) in header.iter().enumerate() {
            let key = canonical(cell);
            let known = key == "email" || key == "name" || schema.contains_key(&key);
            if !known {
                // A name repeated across the header (`a,a,a,…`) is reported once.
                let shown = reported(cell, index);
                if ignored.len() < MAX_REPORTED_IGNORED && !ignored.contains(&shown) {
                    ignored.push(shown);
                }
                continue;
            }
            if let Some((_, earlier)) = seen.iter().find(|(k, _)| *k == key) {
                return Err(Error::invalid(
                    "body",
                    format!(
                        "the header names `{key}` twice (columns {} and {})",
                        earlier + 1,
                        index + 1
                    ),
                ));
            }
            seen.push((key.clone(), index));
            match key.as_str() {
                "email" => email = Some(index),
                "name" => name = Some(index),
                _ => {
                    if let Some(property_type) = schema.get(&key) {
                        properties.push(PropertyColumn {
                            index,
                            name: key,
                            property_type: *property_type,
                        });
                    }
                }
            }
        }
        let email = email.ok_or_else(|| {
            Error::invalid(
                "body",
                "the header row (the file's first line) has no `email` column",
            )
        })?;
        Ok(ColumnMap {
            email,
            name,
            properties,
            ignored,
            width: header.len(),
        })
    }

    /// The fields read, in the file's column order.
    pub fn columns(&self) -> Vec<String> {
        let mut columns: Vec<(usize, String)> = vec![(self.email, "email".into())];
        if let Some(index) = self.name {
            columns.push((index, "name".into()));
        }
        columns.extend(self.properties.iter().map(|p| (p.index, p.name.clone())));
        columns.sort();
        columns.into_iter().map(|(_, name)| name).collect()
    }
}

fn canonical(cell: &str) -> String {
    cell.trim_start_matches('\u{feff}').trim().to_lowercase()
}

/// An ignored header cell as the import reports it: trimmed and cut short; a blank one,
/// or one that looks like a card number or national id, by its position only.
fn reported(cell: &str, index: usize) -> String {
    let cell = cell.trim_start_matches('\u{feff}').trim();
    if cell.is_empty() || sensitive::detect(cell).is_some() || cell.chars().any(char::is_control) {
        return format!("(column {})", index + 1);
    }
    let mut shown: String = cell.chars().take(MAX_REPORTED_HEADER_CHARS).collect();
    if shown.len() < cell.len() {
        shown.push('…');
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(cells: &[&str]) -> Vec<String> {
        cells.iter().map(|c| (*c).to_owned()).collect()
    }

    fn schema() -> Schema {
        [
            ("plan".to_owned(), PropertyType::String),
            ("seats".to_owned(), PropertyType::Number),
        ]
        .into_iter()
        .collect()
    }

    #[test]
    fn columns_map_by_name_whatever_their_case_and_order() {
        let map = ColumnMap::from_header(
            &header(&[
                "\u{feff}Plan",
                " NAME ",
                "Email",
                "favourite colour",
                "seats",
            ]),
            &schema(),
        )
        .unwrap();
        assert_eq!(map.email, 2);
        assert_eq!(map.name, Some(1));
        assert_eq!(map.properties.len(), 2);
        assert_eq!(map.columns(), ["plan", "name", "email", "seats"]);
        assert_eq!(map.ignored, ["favourite colour"]);
        assert_eq!(map.width, 5);
    }

    #[test]
    fn a_header_without_email_or_with_a_field_twice_is_refused() {
        let err = ColumnMap::from_header(&header(&["name", "plan"]), &schema()).unwrap_err();
        assert!(matches!(err, Error::Invalid(ref e) if e[0].message.contains("`email`")));
        let err = ColumnMap::from_header(&header(&["email", "EMAIL"]), &schema()).unwrap_err();
        assert!(matches!(err, Error::Invalid(ref e) if e[0].message.contains("columns 1 and 2")));
    }

    #[test]
    fn ignored_columns_never_echo_what_looks_sensitive() {
        let map = ColumnMap::from_header(
            &header(&["email", "", "4111 1111 1111 1111", &"x".repeat(100)]),
            &schema(),
        )
        .unwrap();
        assert_eq!(map.ignored[0], "(column 2)");
        assert_eq!(map.ignored[1], "(column 3)");
        assert_eq!(map.ignored[2], format!("{}…", "x".repeat(64)));
    }

    #[test]
    fn an_ignored_name_repeated_across_the_header_is_reported_once() {
        let mut cells = vec!["email"];
        cells.extend(std::iter::repeat_n("a", 999));
        cells.push("b");
        let map = ColumnMap::from_header(&header(&cells), &schema()).unwrap();
        assert_eq!(map.ignored, ["a", "b"]);
        assert_eq!(map.width, 1001);
    }
}
