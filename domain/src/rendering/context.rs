//! The variables a template sees, and the one shape they are serialised to.
//!
//! Template authors write `{{ contact.name }}`, `{{ contact.properties.city }}`,
//! `{{ list.name }}`, `{{ campaign.name }}`, `{{ unsubscribe_url }}` and, for a
//! transactional send, the request's `variables` both bare (`{{ order_id }}`, the way
//! other providers expose them) and namespaced (`{{ vars.order_id }}`, which cannot be
//! shadowed). Keeping that mapping in a hand-written `Serialize` makes it the single
//! place that defines the template namespace.

use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};

/// Names Mailroom defines; a transactional variable with one of these names is only
/// reachable as `vars.<name>`, so a request cannot replace the unsubscribe link.
const RESERVED_NAMES: [&str; 5] = ["contact", "list", "campaign", "unsubscribe_url", "vars"];

/// The recipient, as templates see it (`contact.*`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ContactVars {
    pub email: String,
    pub name: Option<String>,
    /// The contact's typed properties by name (`contact.properties.<name>`).
    pub properties: Map<String, Value>,
}

/// The list a campaign goes to (`list.*`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ListVars {
    pub name: String,
}

/// The campaign being sent (`campaign.*`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CampaignVars {
    pub name: String,
}

/// Everything one message's templates may refer to.
///
/// Serialises to the template namespace described in the module docs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RenderContext {
    pub contact: ContactVars,
    pub list: Option<ListVars>,
    pub campaign: Option<CampaignVars>,
    pub unsubscribe_url: Option<String>,
    /// A transactional send's `variables`.
    pub variables: Map<String, Value>,
}

impl Serialize for RenderContext {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        for (name, value) in &self.variables {
            if !RESERVED_NAMES.contains(&name.as_str()) {
                map.serialize_entry(name, value)?;
            }
        }
        map.serialize_entry("vars", &self.variables)?;
        map.serialize_entry("contact", &self.contact)?;
        map.serialize_entry("list", &self.list)?;
        map.serialize_entry("campaign", &self.campaign)?;
        map.serialize_entry("unsubscribe_url", &self.unsubscribe_url)?;
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn variables_are_top_level_and_namespaced_but_cannot_shadow_mailroom_names() {
        let mut variables = Map::new();
        variables.insert("order_id".into(), json!("A-17"));
        variables.insert("unsubscribe_url".into(), json!("https://evil.example/"));
        let ctx = RenderContext {
            contact: ContactVars {
                email: "ada@example.com".into(),
                ..Default::default()
            },
            unsubscribe_url: Some("https://mailroom.example/u/1".into()),
            variables,
            ..Default::default()
        };
        let value = serde_json::to_value(&ctx).unwrap();
        assert_eq!(value["order_id"], "A-17");
        assert_eq!(value["vars"]["order_id"], "A-17");
        assert_eq!(value["vars"]["unsubscribe_url"], "https://evil.example/");
        assert_eq!(value["unsubscribe_url"], "https://mailroom.example/u/1");
        assert_eq!(value["contact"]["email"], "ada@example.com");
    }
}
