//! Audit entries and how they are written.

use diesel::prelude::*;
use serde::Serialize;

use crate::clock;
use crate::error::Result;
use crate::schema::audit_events;
use crate::store::DbConnection;
use crate::store::sql_types::{Id, Json, Timestamp};

/// Who acted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActorKind {
    /// A caller with one of the account's API keys (`actor_id` is the key's id).
    ApiKey,
    /// The operator, with the admin token.
    Operator,
    /// The operator's support staff, under the account's time-limited grant.
    Support,
    /// The recipient of a message, through a signed link (unsubscribe, confirm).
    Recipient,
    /// Mailroom itself (a bounce, a complaint, a retention purge).
    System,
}

impl ActorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ActorKind::ApiKey => "api_key",
            ActorKind::Operator => "operator",
            ActorKind::Support => "support",
            ActorKind::Recipient => "recipient",
            ActorKind::System => "system",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            ActorKind::ApiKey,
            ActorKind::Operator,
            ActorKind::Support,
            ActorKind::Recipient,
            ActorKind::System,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// An actor and, where it has one, its id; with the IP the request came from.
#[derive(Debug, Clone)]
pub struct Actor {
    pub kind: ActorKind,
    pub id: Option<String>,
    pub ip: Option<String>,
}

/// What an entry says happened.
#[derive(Debug, Clone)]
pub struct AuditRecord {
    /// `<resource>.<verb>`, e.g. `contact.updated`, `list.exported`, `contact.read`.
    pub action: &'static str,
    pub resource_type: &'static str,
    pub resource_id: Option<Id>,
    /// Field names, counts, formats — never personal values.
    pub details: Option<serde_json::Value>,
}

impl AuditRecord {
    pub fn new(action: &'static str, resource_type: &'static str, resource_id: Option<Id>) -> Self {
        AuditRecord {
            action,
            resource_type,
            resource_id,
            details: None,
        }
    }

    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.details = Some(details);
        self
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = audit_events)]
pub struct AuditEvent {
    pub id: Id,
    pub account_id: Id,
    pub actor_type: String,
    pub actor_id: Option<String>,
    pub action: String,
    pub resource_type: String,
    pub resource_id: Option<String>,
    pub ip: Option<String>,
    pub details: Option<Json>,
    pub created_at: Timestamp,
}

/// Appends an entry; call it in the transaction of the change it records.
pub fn record(
    conn: &mut DbConnection,
    account_id: Id,
    actor: &Actor,
    what: AuditRecord,
) -> Result<()> {
    let entry = AuditEvent {
        id: Id::new(),
        account_id,
        actor_type: actor.kind.as_str().to_owned(),
        actor_id: actor.id.clone(),
        action: what.action.to_owned(),
        resource_type: what.resource_type.to_owned(),
        resource_id: what.resource_id.map(|id| id.to_string()),
        ip: actor.ip.clone(),
        details: what.details.map(Json),
        created_at: clock::now(),
    };
    diesel::insert_into(audit_events::table)
        .values(&entry)
        .execute(conn)?;
    Ok(())
}
