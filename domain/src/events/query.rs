//! Listing an account's events, oldest first (ids are time-ordered), with filters.

use diesel::prelude::*;

use super::event::{Event, EventType};
use crate::error::Result;
use crate::pagination::{Page, PageRequest};
use crate::schema::events;
use crate::store::DbConnection;
use crate::store::sql_types::{Id, Timestamp};

#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    pub event_type: Option<EventType>,
    pub campaign_id: Option<Id>,
    pub contact_id: Option<Id>,
    pub message_id: Option<Id>,
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
}

impl EventQuery {
    pub fn run(
        &self,
        conn: &mut DbConnection,
        account_id: Id,
        page: &PageRequest,
    ) -> Result<Page<Event>> {
        let mut query = events::table
            .filter(events::account_id.eq(account_id))
            .select(Event::as_select())
            .order(events::id.asc())
            .limit(page.fetch_limit())
            .into_boxed();
        if let Some(t) = self.event_type {
            query = query.filter(events::event_type.eq(t.as_str()));
        }
        if let Some(id) = self.campaign_id {
            query = query.filter(events::campaign_id.eq(id));
        }
        if let Some(id) = self.contact_id {
            query = query.filter(events::contact_id.eq(id));
        }
        if let Some(id) = self.message_id {
            query = query.filter(events::message_id.eq(id));
        }
        if let Some(since) = self.since {
            query = query.filter(events::occurred_at.ge(since));
        }
        if let Some(until) = self.until {
            query = query.filter(events::occurred_at.lt(until));
        }
        if let Some(after) = page.after {
            query = query.filter(events::id.gt(after));
        }
        Ok(Page::from_rows(query.load(conn)?, page, |e| e.id))
    }
}
