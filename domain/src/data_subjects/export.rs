//! The export an access or portability request produces: everything the account holds
//! about the person, as one JSON document (format `mailroom.data-subject-export/1`,
//! documented in docs/privacy.md).

use diesel::prelude::*;
use serde_json::{Value, json};

use super::request::DataSubjectRequest;
use super::subject::Subject;
use crate::error::Result;
use crate::schema::{
    consents, data_subject_exports, data_subject_requests, list_members, lists, messages,
    suppressions,
};
use crate::store::DbConnection;
use crate::store::sql_types::{Id, Json, Timestamp};

pub const FORMAT: &str = "mailroom.data-subject-export/1";

/// A stored export.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = data_subject_exports)]
pub struct SubjectExport {
    pub request_id: Id,
    pub account_id: Id,
    pub document: Json,
    pub size_bytes: i64,
    pub created_at: Timestamp,
}

impl SubjectExport {
    /// The export of one of the account's requests, if it was made (and not purged since).
    pub fn find(
        conn: &mut DbConnection,
        account_id: Id,
        request_id: Id,
    ) -> Result<Option<SubjectExport>> {
        Ok(data_subject_exports::table
            .find(request_id)
            .filter(data_subject_exports::account_id.eq(account_id))
            .select(SubjectExport::as_select())
            .first(conn)
            .optional()?)
    }

    /// Gathers and stores the export of `request` (replacing one made before).
    pub fn produce(
        conn: &mut DbConnection,
        request: &DataSubjectRequest,
        subject: &Subject,
        now: Timestamp,
    ) -> Result<SubjectExport> {
        let document = gather(conn, request, subject, now)?;
        let size_bytes = serde_json::to_vec(&document).map(|b| b.len()).unwrap_or(0) as i64;
        let export = SubjectExport {
            request_id: request.id,
            account_id: request.account_id,
            document: Json(document),
            size_bytes,
            created_at: now,
        };
        diesel::delete(data_subject_exports::table.find(request.id)).execute(conn)?;
        diesel::insert_into(data_subject_exports::table)
            .values(&export)
            .execute(conn)?;
        Ok(export)
    }
}

fn gather(
    conn: &mut DbConnection,
    request: &DataSubjectRequest,
    subject: &Subject,
    now: Timestamp,
) -> Result<Value> {
    let account = request.account_id;
    let contact = subject.contact.as_ref();
    let contact_json = contact.map(|c| {
        json!({
            "id": c.id,
            "email": c.email,
            "name": c.name,
            "properties": c.properties.0,
            "created_at": c.created_at,
            "updated_at": c.updated_at,
            "processing_restricted_since": c.restricted_at,
        })
    });

    let mut consent_ledger = Vec::new();
    let mut memberships = Vec::new();
    if let Some(contact) = contact {
        type ConsentRow = (
            Id,
            Option<Id>,
            String,
            String,
            String,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<Json>,
            Timestamp,
        );
        let records: Vec<ConsentRow> = consents::table
            .filter(consents::account_id.eq(account))
            .filter(consents::contact_id.eq(contact.id))
            .select((
                consents::id,
                consents::list_id,
                consents::purpose,
                consents::status,
                consents::method,
                consents::source,
                consents::ip,
                consents::user_agent,
                consents::policy_version,
                consents::evidence,
                consents::created_at,
            ))
            .order(consents::id.asc())
            .load(conn)?;
        for (id, list_id, purpose, status, method, source, ip, user_agent, policy, evidence, at) in
            records
        {
            consent_ledger.push(json!({
                "id": id,
                "list_id": list_id,
                "purpose": purpose,
                "status": status,
                "method": method,
                "source": source,
                "ip": ip,
                "user_agent": user_agent,
                "policy_version": policy,
                "evidence": evidence.map(|e| e.0),
                "recorded_at": at,
            }));
        }
        type MemberRow = (
            Id,
            String,
            String,
            Option<Timestamp>,
            Option<Timestamp>,
            Timestamp,
            Timestamp,
        );
        let rows: Vec<MemberRow> = list_members::table
            .inner_join(lists::table)
            .filter(list_members::account_id.eq(account))
            .filter(list_members::contact_id.eq(contact.id))
            .select((
                list_members::list_id,
                lists::name,
                list_members::status,
                list_members::subscribed_at,
                list_members::unsubscribed_at,
                list_members::created_at,
                list_members::updated_at,
            ))
            .order(list_members::list_id.asc())
            .load(conn)?;
        for (list_id, name, status, subscribed_at, unsubscribed_at, created_at, updated_at) in rows
        {
            // The list's own consent records: its subscription history.
            let history: Vec<&Value> = consent_ledger
                .iter()
                .filter(|r| r["list_id"] == json!(list_id))
                .collect();
            memberships.push(json!({
                "list_id": list_id,
                "list_name": name,
                "status": status,
                "subscribed_at": subscribed_at,
                "unsubscribed_at": unsubscribed_at,
                "member_since": created_at,
                "updated_at": updated_at,
                "history": history,
            }));
        }
    }

    let message_ids = subject.message_ids(conn, account)?;
    type MessageRow = (
        Id,
        String,
        Option<Id>,
        String,
        Option<String>,
        String,
        Timestamp,
        Option<Timestamp>,
        Option<Timestamp>,
        Option<Timestamp>,
    );
    let mut sent = Vec::new();
    for batch in message_ids.chunks(500) {
        let rows: Vec<MessageRow> = messages::table
            .filter(messages::account_id.eq(account))
            .filter(messages::id.eq_any(batch.to_vec()))
            .select((
                messages::id,
                messages::kind,
                messages::campaign_id,
                messages::to_email,
                messages::subject,
                messages::status,
                messages::created_at,
                messages::sent_at,
                messages::opened_at,
                messages::clicked_at,
            ))
            .order(messages::id.asc())
            .load(conn)?;
        for (id, kind, campaign_id, to, subject_line, status, created, sent_at, opened, clicked) in
            rows
        {
            sent.push(json!({
                "id": id,
                "kind": kind,
                "campaign_id": campaign_id,
                "to": to,
                "subject": subject_line,
                "status": status,
                "created_at": created,
                "sent_at": sent_at,
                "first_opened_at": opened,
                "first_clicked_at": clicked,
            }));
        }
    }

    let mut activity = Vec::new();
    for event in subject.events(conn, account, &message_ids)? {
        activity.push(json!({
            "id": event.id,
            "type": event.event_type,
            "message_id": event.message_id,
            "campaign_id": event.campaign_id,
            "url": event.url,
            "ip": event.ip,
            "user_agent": event.user_agent,
            "bounce_class": event.bounce_class,
            "diagnostic": event.diagnostic,
            "source": event.source,
            "occurred_at": event.occurred_at,
        }));
    }

    let suppression_entries: Vec<(String, Option<String>, Timestamp)> = suppressions::table
        .filter(suppressions::account_id.eq(account))
        .filter(suppressions::email_hash.eq(&subject.hash))
        .select((
            suppressions::reason,
            suppressions::note,
            suppressions::created_at,
        ))
        .load(conn)?;
    let suppression_entries: Vec<Value> = suppression_entries
        .into_iter()
        .map(|(reason, note, at)| json!({"reason": reason, "note": note, "since": at}))
        .collect();

    type RequestRow = (
        Id,
        String,
        String,
        Timestamp,
        Timestamp,
        Option<Timestamp>,
        Option<Timestamp>,
        Option<String>,
    );
    let earlier: Vec<RequestRow> = data_subject_requests::table
        .filter(data_subject_requests::account_id.eq(account))
        .filter(data_subject_requests::subject_hash.eq(&subject.hash))
        .filter(data_subject_requests::id.ne(request.id))
        .select((
            data_subject_requests::id,
            data_subject_requests::kind,
            data_subject_requests::status,
            data_subject_requests::received_at,
            data_subject_requests::due_at,
            data_subject_requests::completed_at,
            data_subject_requests::rejected_at,
            data_subject_requests::rejection_reason,
        ))
        .order(data_subject_requests::id.asc())
        .load(conn)?;
    let earlier: Vec<Value> = earlier
        .into_iter()
        .map(
            |(id, kind, status, received, due, completed, rejected, reason)| {
                json!({
                    "id": id,
                    "kind": kind,
                    "status": status,
                    "received_at": received,
                    "due_at": due,
                    "completed_at": completed,
                    "rejected_at": rejected,
                    "rejection_reason": reason,
                })
            },
        )
        .collect();

    Ok(json!({
        "format": FORMAT,
        "generated_at": now,
        "request": {
            "id": request.id,
            "kind": request.kind,
            "received_at": request.received_at,
        },
        "subject": {"email": subject.email.as_str()},
        "contact": contact_json,
        "list_memberships": memberships,
        "consents": consent_ledger,
        "messages": sent,
        "events": activity,
        "suppressions": suppression_entries,
        "requests": earlier,
    }))
}
