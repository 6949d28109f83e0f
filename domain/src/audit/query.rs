//! Reading an account's audit log, oldest first (ids are time-ordered), with filters.

use diesel::prelude::*;

use super::entry::{ActorKind, AuditEvent};
use crate::error::Result;
use crate::pagination::{Page, PageRequest};
use crate::schema::audit_events;
use crate::store::DbConnection;
use crate::store::sql_types::{Id, Timestamp};

#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub actor: Option<ActorKind>,
    pub actor_id: Option<String>,
    /// An action (`contact.updated`) or, ending in `.`, a family (`contact.`).
    pub action: Option<String>,
    pub resource_type: Option<String>,
    pub resource_id: Option<String>,
    pub since: Option<Timestamp>,
}

impl AuditQuery {
    pub fn run(
        &self,
        conn: &mut DbConnection,
        account_id: Id,
        page: &PageRequest,
    ) -> Result<Page<AuditEvent>> {
        let mut query = audit_events::table
            .filter(audit_events::account_id.eq(account_id))
            .select(AuditEvent::as_select())
            .order(audit_events::id.asc())
            .limit(page.fetch_limit())
            .into_boxed();
        if let Some(actor) = self.actor {
            query = query.filter(audit_events::actor_type.eq(actor.as_str()));
        }
        if let Some(actor_id) = &self.actor_id {
            query = query.filter(audit_events::actor_id.eq(actor_id.clone()));
        }
        if let Some(action) = &self.action {
            query = match action.strip_suffix('.') {
                Some(family) => query.filter(audit_events::action.like(format!("{family}.%"))),
                None => query.filter(audit_events::action.eq(action.clone())),
            };
        }
        if let Some(resource) = &self.resource_type {
            query = query.filter(audit_events::resource_type.eq(resource.clone()));
        }
        if let Some(id) = &self.resource_id {
            query = query.filter(audit_events::resource_id.eq(id.clone()));
        }
        if let Some(since) = self.since {
            query = query.filter(audit_events::created_at.ge(since));
        }
        if let Some(after) = page.after {
            query = query.filter(audit_events::id.gt(after));
        }
        Ok(Page::from_rows(query.load(conn)?, page, |e| e.id))
    }

    /// The operator's audit log: what the operator did to any account, and the automatic
    /// suspensions, oldest first.
    pub fn operator_log(conn: &mut DbConnection, page: &PageRequest) -> Result<Page<AuditEvent>> {
        let mut query = audit_events::table
            .filter(
                audit_events::actor_type
                    .eq(ActorKind::Operator.as_str())
                    .or(audit_events::action.eq(crate::accounts::AUTOMATIC_SUSPENSION_ACTION)),
            )
            .select(AuditEvent::as_select())
            .order(audit_events::id.asc())
            .limit(page.fetch_limit())
            .into_boxed();
        if let Some(after) = page.after {
            query = query.filter(audit_events::id.gt(after));
        }
        Ok(Page::from_rows(query.load(conn)?, page, |e| e.id))
    }
}
