//! What an API key may do. A key holds a set of scopes; `*` grants everything.

use serde::{Deserialize, Serialize};

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
pub enum Scope {
    #[serde(rename = "*")]
    All,
    #[serde(rename = "account:read")]
    AccountRead,
    #[serde(rename = "account:write")]
    AccountWrite,
    #[serde(rename = "api_keys:read")]
    ApiKeysRead,
    #[serde(rename = "api_keys:write")]
    ApiKeysWrite,
    #[serde(rename = "contacts:read")]
    ContactsRead,
    #[serde(rename = "contacts:write")]
    ContactsWrite,
    #[serde(rename = "lists:read")]
    ListsRead,
    #[serde(rename = "lists:write")]
    ListsWrite,
    #[serde(rename = "campaigns:read")]
    CampaignsRead,
    #[serde(rename = "campaigns:write")]
    CampaignsWrite,
    #[serde(rename = "send")]
    Send,
    #[serde(rename = "suppressions:read")]
    SuppressionsRead,
    #[serde(rename = "suppressions:write")]
    SuppressionsWrite,
    #[serde(rename = "events:read")]
    EventsRead,
    /// Submitting inbound reports (bounces and complaints) for the account's messages.
    #[serde(rename = "inbound:write")]
    InboundWrite,
    #[serde(rename = "webhooks:read")]
    WebhooksRead,
    #[serde(rename = "webhooks:write")]
    WebhooksWrite,
    #[serde(rename = "data_subject_requests:read")]
    DataSubjectRequestsRead,
    #[serde(rename = "data_subject_requests:write")]
    DataSubjectRequestsWrite,
    #[serde(rename = "audit:read")]
    AuditRead,
    #[serde(rename = "sending_domains:read")]
    SendingDomainsRead,
    /// Adding, verifying and deleting sending domains.
    #[serde(rename = "sending_domains:write")]
    SendingDomainsWrite,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::All => "*",
            Scope::AccountRead => "account:read",
            Scope::AccountWrite => "account:write",
            Scope::ApiKeysRead => "api_keys:read",
            Scope::ApiKeysWrite => "api_keys:write",
            Scope::ContactsRead => "contacts:read",
            Scope::ContactsWrite => "contacts:write",
            Scope::ListsRead => "lists:read",
            Scope::ListsWrite => "lists:write",
            Scope::CampaignsRead => "campaigns:read",
            Scope::CampaignsWrite => "campaigns:write",
            Scope::Send => "send",
            Scope::SuppressionsRead => "suppressions:read",
            Scope::SuppressionsWrite => "suppressions:write",
            Scope::EventsRead => "events:read",
            Scope::InboundWrite => "inbound:write",
            Scope::WebhooksRead => "webhooks:read",
            Scope::WebhooksWrite => "webhooks:write",
            Scope::DataSubjectRequestsRead => "data_subject_requests:read",
            Scope::DataSubjectRequestsWrite => "data_subject_requests:write",
            Scope::AuditRead => "audit:read",
            Scope::SendingDomainsRead => "sending_domains:read",
            Scope::SendingDomainsWrite => "sending_domains:write",
        }
    }
}

/// The scopes held by one key or token.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ScopeSet(Vec<Scope>);

impl ScopeSet {
    pub fn new(mut scopes: Vec<Scope>) -> Self {
        scopes.sort();
        scopes.dedup();
        ScopeSet(scopes)
    }

    pub fn all() -> Self {
        ScopeSet(vec![Scope::All])
    }

    /// What the operator's support staff may do under an account's grant: read its lists
    /// and contacts.
    pub fn support() -> Self {
        ScopeSet::new(vec![Scope::ListsRead, Scope::ContactsRead])
    }

    pub fn allows(&self, needed: Scope) -> bool {
        self.0.iter().any(|s| *s == Scope::All || *s == needed)
    }

    /// Whether a key holding `self` may mint a key holding `other`: never more than it has.
    pub fn covers(&self, other: &ScopeSet) -> bool {
        other.0.iter().all(|s| self.allows(*s))
    }

    /// The scopes of `other` that `self` does not allow, in `other`'s order.
    pub fn missing(&self, other: &ScopeSet) -> Vec<Scope> {
        other
            .0
            .iter()
            .copied()
            .filter(|s| !self.allows(*s))
            .collect()
    }

    pub fn as_slice(&self) -> &[Scope] {
        &self.0
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::Value::Array(
            self.0
                .iter()
                .map(|s| serde_json::Value::String(s.as_str().to_owned()))
                .collect(),
        )
    }

    /// Reads the stored form; unknown names (from a newer version) are ignored.
    pub fn from_json(value: &serde_json::Value) -> Self {
        let scopes = value
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(|v| serde_json::from_value(v.clone()).ok())
                    .collect()
            })
            .unwrap_or_default();
        ScopeSet::new(scopes)
    }

    /// Parses scope names as they appear in a JWT.
    pub fn from_names<S: AsRef<str>>(names: &[S]) -> Self {
        ScopeSet::new(
            names
                .iter()
                .filter_map(|n| {
                    serde_json::from_value(serde_json::Value::String(n.as_ref().to_owned())).ok()
                })
                .collect(),
        )
    }

    pub fn names(&self) -> Vec<String> {
        self.0.iter().map(|s| s.as_str().to_owned()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn star_allows_everything_and_others_only_themselves() {
        assert!(ScopeSet::all().allows(Scope::ListsWrite));
        let read = ScopeSet::new(vec![Scope::ContactsRead]);
        assert!(read.allows(Scope::ContactsRead));
        assert!(!read.allows(Scope::ContactsWrite));
    }

    #[test]
    fn a_key_cannot_mint_a_stronger_key() {
        let read = ScopeSet::new(vec![Scope::ContactsRead, Scope::ApiKeysWrite]);
        assert!(read.covers(&ScopeSet::new(vec![Scope::ContactsRead])));
        assert!(!read.covers(&ScopeSet::all()));
        assert!(ScopeSet::all().covers(&ScopeSet::new(vec![Scope::AuditRead])));
    }

    #[test]
    fn what_a_set_lacks_of_another_is_named() {
        let keys = ScopeSet::new(vec![Scope::ApiKeysWrite, Scope::ContactsRead]);
        assert_eq!(keys.missing(&ScopeSet::all()), vec![Scope::All]);
        assert_eq!(
            keys.missing(&ScopeSet::new(vec![Scope::ContactsRead, Scope::ListsRead])),
            vec![Scope::ListsRead]
        );
        assert!(ScopeSet::all().missing(&keys).is_empty());
    }

    #[test]
    fn names_round_trip() {
        let set = ScopeSet::new(vec![Scope::All, Scope::DataSubjectRequestsRead]);
        assert_eq!(ScopeSet::from_names(&set.names()), set);
        assert_eq!(ScopeSet::from_json(&set.to_json()), set);
    }
}
