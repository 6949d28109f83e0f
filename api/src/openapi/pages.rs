//! The paged collections: one named schema per item type (`Page_ContactView`, …) whose
//! `data` items refer to the item's own schema, and whose `next_cursor` is always present
//! (`null` on the last page), so that generated SDKs share one item model between a page
//! and the single resource.

use serde_json::{Map, Value, json};

pub fn name_items(doc: &mut Value) {
    let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    let pages: Vec<String> = schemas
        .keys()
        .filter(|name| name.starts_with("Page_"))
        .cloned()
        .collect();
    let mut items_to_add = Map::new();
    for page in pages {
        let item = page.trim_start_matches("Page_").to_owned();
        let Some(schema) = schemas.get_mut(&page) else {
            continue;
        };
        if let Some(items) = schema.pointer_mut("/properties/data/items") {
            if items.get("$ref").is_none() {
                items_to_add.insert(item.clone(), items.take());
            }
            *items = json!({ "$ref": format!("#/components/schemas/{item}") });
        }
        if let Some(cursor) = schema.pointer_mut("/properties/next_cursor") {
            cursor["pattern"] = json!(crate::openapi::constraints::CURSOR_PATTERN);
        }
        schema["required"] = json!(["data", "next_cursor"]);
    }
    for (item, schema) in items_to_add {
        schemas.entry(item).or_insert(schema);
    }
}
