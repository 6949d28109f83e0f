//! Erasure (GDPR art. 17): the person is removed from every table that holds personal data,
//! and every reference that must remain is replaced by the keyed hash of their address.
//!
//! - Deleted: the contact, its properties, list memberships and consent ledger; messages
//!   other than campaign messages; events that belong to no campaign; every webhook
//!   delivery of their events; sandbox copies of their mail; inbound reports about their
//!   messages; the exports of requests about them.
//! - Kept anonymous, so campaign counters and per-link clicks stay as they were: campaign
//!   messages (the recipient becomes the pseudonym; subject, name, payload, errors go) and
//!   campaign events (contact, address, IP, user agent, identifiers go).
//! - Pseudonymised: requests about them (their address goes, the hash stays), audit
//!   events, job and outbox rows, stored idempotent responses and import reports that
//!   mention their address or contact id.
//! - Added: one suppression entry holding only the hash, so the address is refused later
//!   (422 `subject_erased`) unless the person consents anew.
//!
//! All of it in one transaction: an erasure happens whole or not at all.

use diesel::prelude::*;
use diesel::sql_types::Text;
use serde::Serialize;
use serde_json::Value;

use super::subject::Subject;
use crate::error::{Error, Result};
use crate::jobs::{AccountRows, Job, JobTarget};
use crate::schema::{
    audit_events, consents, contacts, data_subject_exports, data_subject_requests, events,
    idempotency_keys, imports, inbound_reports, jobs, list_members, messages, sandbox_messages,
    tracking_counts, webhook_deliveries,
};
use crate::store::DbConnection;
use crate::store::sql_types::{Id, Json, Timestamp};
use crate::suppressions::{HashKey, Suppression, SuppressionReason};

/// What an erasure did, in counts (this is what the request's `outcome` keeps).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ErasureOutcome {
    pub contact_deleted: bool,
    pub memberships_deleted: usize,
    pub consents_deleted: usize,
    pub messages_deleted: usize,
    pub messages_anonymised: usize,
    pub events_deleted: usize,
    pub events_anonymised: usize,
    pub webhook_deliveries_deleted: usize,
    pub sandbox_messages_deleted: usize,
    pub inbound_reports_deleted: usize,
    pub exports_deleted: usize,
    pub requests_pseudonymised: usize,
    pub audit_events_pseudonymised: usize,
    pub jobs_pseudonymised: usize,
    pub idempotent_responses_pseudonymised: usize,
    pub imports_pseudonymised: usize,
}

/// How a pseudonym starts.
pub const ERASED_PREFIX: &str = "erased:";

/// What stands for an erased person wherever a reference must remain.
pub fn pseudonym(hash: &str) -> String {
    format!("{ERASED_PREFIX}{hash}")
}

/// Erases `subject` from the account.
pub fn erase(
    conn: &mut DbConnection,
    account_id: Id,
    key: &HashKey,
    subject: &Subject,
    now: Timestamp,
) -> Result<ErasureOutcome> {
    conn.write_transaction(|conn| erase_in_transaction(conn, account_id, key, subject, now))
}

fn erase_in_transaction(
    conn: &mut DbConnection,
    account_id: Id,
    key: &HashKey,
    subject: &Subject,
    now: Timestamp,
) -> Result<ErasureOutcome> {
    let mut done = ErasureOutcome::default();
    let scrub = Scrubber::new(subject);

    // Messages and events first: they are found through the contact.
    let message_ids = subject.message_ids(conn, account_id)?;
    let found = subject.events(conn, account_id, &message_ids)?;
    let event_ids: Vec<Id> = found.iter().map(|e| e.id).collect();
    for batch in event_ids.chunks(500) {
        done.webhook_deliveries_deleted += diesel::delete(
            webhook_deliveries::table
                .filter(webhook_deliveries::account_id.eq(account_id))
                .filter(webhook_deliveries::event_id.eq_any(batch.to_vec())),
        )
        .execute(conn)?;
    }
    for event in &found {
        if event.campaign_id.is_some() {
            let url = event.url.as_deref().filter(|u| !scrub.mentions(u));
            diesel::update(events::table.find((account_id, event.id)))
                .set((
                    events::contact_id.eq(None::<Id>),
                    events::email.eq(None::<String>),
                    events::custom_id.eq(None::<String>),
                    events::ip.eq(None::<String>),
                    events::user_agent.eq(None::<String>),
                    events::diagnostic.eq(None::<String>),
                    events::url.eq(url),
                ))
                .execute(conn)?;
            done.events_anonymised += 1;
        } else {
            done.events_deleted +=
                diesel::delete(events::table.find((account_id, event.id))).execute(conn)?;
        }
    }
    for batch in message_ids.chunks(500) {
        let batch = batch.to_vec();
        done.sandbox_messages_deleted += diesel::delete(
            sandbox_messages::table
                .filter(sandbox_messages::account_id.eq(account_id))
                .filter(sandbox_messages::message_id.eq_any(batch.clone())),
        )
        .execute(conn)?;
        done.inbound_reports_deleted += diesel::delete(
            inbound_reports::table
                .filter(inbound_reports::account_id.eq(account_id))
                .filter(inbound_reports::message_id.eq_any(batch.clone())),
        )
        .execute(conn)?;
        // The repeat window's marks of the person's links (hashes of URLs that may name them).
        diesel::delete(
            tracking_counts::table.filter(tracking_counts::message_id.eq_any(batch.clone())),
        )
        .execute(conn)?;
        // Mail not yet out is not sent to an erased person.
        diesel::update(
            messages::table
                .filter(messages::account_id.eq(account_id))
                .filter(messages::id.eq_any(batch.clone()))
                .filter(messages::status.eq_any(crate::messages::MessageStatus::OPEN)),
        )
        .set((messages::status.eq("skipped"), messages::updated_at.eq(now)))
        .execute(conn)?;
        done.messages_anonymised += diesel::update(
            messages::table
                .filter(messages::account_id.eq(account_id))
                .filter(messages::id.eq_any(batch.clone()))
                .filter(messages::kind.eq("campaign")),
        )
        .set((
            messages::to_email.eq(pseudonym(&subject.hash)),
            messages::to_name.eq(None::<String>),
            messages::contact_id.eq(None::<Id>),
            messages::subject.eq(None::<String>),
            messages::payload.eq(None::<Json>),
            messages::custom_id.eq(None::<String>),
            messages::last_error.eq(None::<String>),
            messages::updated_at.eq(now),
        ))
        .execute(conn)?;
        done.messages_deleted += diesel::delete(
            messages::table
                .filter(messages::account_id.eq(account_id))
                .filter(messages::id.eq_any(batch))
                .filter(messages::kind.ne("campaign")),
        )
        .execute(conn)?;
    }
    done.sandbox_messages_deleted += diesel::delete(
        sandbox_messages::table
            .filter(sandbox_messages::account_id.eq(account_id))
            .filter(sandbox_messages::to_email.eq(subject.email.as_str())),
    )
    .execute(conn)?;

    if let Some(contact) = subject.contact_id() {
        done.memberships_deleted += diesel::delete(
            list_members::table
                .filter(list_members::account_id.eq(account_id))
                .filter(list_members::contact_id.eq(contact)),
        )
        .execute(conn)?;
        done.consents_deleted += diesel::delete(
            consents::table
                .filter(consents::account_id.eq(account_id))
                .filter(consents::contact_id.eq(contact)),
        )
        .execute(conn)?;
        done.contact_deleted = diesel::delete(
            contacts::table
                .filter(contacts::id.eq(contact))
                .filter(contacts::account_id.eq(account_id)),
        )
        .execute(conn)?
            > 0;
    }

    // Requests about the person: the address and anything they wrote go; the hash stays.
    let requests: Vec<(Id, Option<Json>)> = data_subject_requests::table
        .filter(data_subject_requests::account_id.eq(account_id))
        .filter(data_subject_requests::subject_hash.eq(&subject.hash))
        .select((
            data_subject_requests::id,
            data_subject_requests::verification,
        ))
        .load(conn)?;
    for (id, verification) in &requests {
        let method = verification
            .as_ref()
            .and_then(|v| v.0.get("method").cloned())
            .map(|m| Json(serde_json::json!({"method": m, "note": null})));
        done.exports_deleted += diesel::delete(
            data_subject_exports::table
                .find(*id)
                .filter(data_subject_exports::account_id.eq(account_id)),
        )
        .execute(conn)?;
        diesel::update(data_subject_requests::table.find(*id))
            .set((
                data_subject_requests::subject_email.eq(None::<String>),
                data_subject_requests::changes.eq(None::<Json>),
                data_subject_requests::verification.eq(method),
            ))
            .execute(conn)?;
        done.requests_pseudonymised += 1;
    }

    done.audit_events_pseudonymised = pseudonymise_audit(conn, account_id, &scrub)?;
    done.jobs_pseudonymised = pseudonymise_jobs(conn, account_id, &scrub)?;
    done.idempotent_responses_pseudonymised = pseudonymise_responses(conn, account_id, &scrub)?;
    done.imports_pseudonymised = pseudonymise_imports(conn, account_id, &scrub)?;
    done.webhook_deliveries_deleted += delete_mentioning_deliveries(conn, account_id, &scrub)?;
    done.inbound_reports_deleted += delete_mentioning_reports(conn, account_id, &scrub)?;

    Suppression::add(
        conn,
        account_id,
        key,
        &subject.email,
        SuppressionReason::Erasure,
        None,
    )?;
    Ok(done)
}

/// Finds and replaces the person's address and contact id in free text and JSON.
pub(crate) struct Scrubber {
    /// Lower-case needles: the address, and the contact id when there is one.
    needles: Vec<String>,
    replacement: String,
}

impl Scrubber {
    fn new(subject: &Subject) -> Scrubber {
        let mut needles = vec![subject.email.as_str().to_ascii_lowercase()];
        if let Some(id) = subject.contact_id() {
            needles.push(id.to_string().to_ascii_lowercase());
        }
        Scrubber {
            needles,
            replacement: pseudonym(&subject.hash),
        }
    }

    /// `LIKE` patterns for finding candidate rows: the needles, their `%`, `_` and `\`
    /// escaped (the queries say `ESCAPE '\'`), so an address spelled with wildcards
    /// matches only itself.
    fn patterns(&self) -> (String, String) {
        let first = like_pattern(&self.needles[0]);
        let second = self
            .needles
            .get(1)
            .map(|n| like_pattern(n))
            .unwrap_or_else(|| first.clone());
        (first, second)
    }

    fn mentions(&self, text: &str) -> bool {
        let lower = text.to_ascii_lowercase();
        self.needles.iter().any(|n| lower.contains(n.as_str()))
    }

    /// `text` with every needle (ASCII case-insensitively) replaced.
    fn text(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for needle in &self.needles {
            out = replace_ignoring_ascii_case(&out, needle, &self.replacement);
        }
        out
    }

    fn json(&self, value: &Json) -> Json {
        let text = serde_json::to_string(&value.0).unwrap_or_default();
        if !self.mentions(&text) {
            return value.clone();
        }
        Json(serde_json::from_str(&self.text(&text)).unwrap_or(Value::Null))
    }

    fn opt_text(&self, text: &Option<String>) -> Option<String> {
        text.as_deref().map(|t| self.text(t))
    }
}

/// `%needle%` for `LIKE … ESCAPE '\'`: `needle` matched literally, anywhere.
fn like_pattern(needle: &str) -> String {
    let mut pattern = String::with_capacity(needle.len() + 2);
    pattern.push('%');
    for c in needle.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// Replaces `needle` (lower case) in `haystack` whatever the ASCII case of the match.
/// Lower-casing ASCII keeps byte offsets, so positions found in the lowered copy hold in
/// the original.
fn replace_ignoring_ascii_case(haystack: &str, needle: &str, replacement: &str) -> String {
    if needle.is_empty() {
        return haystack.to_owned();
    }
    let lowered = haystack.to_ascii_lowercase();
    let mut out = String::with_capacity(haystack.len());
    let mut last = 0;
    for (at, _) in lowered.match_indices(needle) {
        out.push_str(&haystack[last..at]);
        out.push_str(replacement);
        last = at + needle.len();
    }
    out.push_str(&haystack[last..]);
    out
}

#[derive(QueryableByName)]
struct FoundId {
    #[diesel(sql_type = Text)]
    id: String,
}

/// Ids of rows whose text mentions a needle. `pg` and `sqlite` are the same query in each
/// dialect, with the two `LIKE` patterns bound first and the account id (as text) third.
fn mentioning(
    conn: &mut DbConnection,
    pg: &str,
    sqlite: &str,
    scrub: &Scrubber,
    account_id: Option<Id>,
) -> Result<Vec<Id>> {
    let (first, second) = scrub.patterns();
    let account = account_id.map(|a| a.to_string()).unwrap_or_default();
    let rows: Vec<FoundId> = match conn {
        DbConnection::Postgres(c) => diesel::sql_query(pg)
            .bind::<Text, _>(&first)
            .bind::<Text, _>(&second)
            .bind::<Text, _>(&account)
            .load(c)?,
        DbConnection::Sqlite(c) => diesel::sql_query(sqlite)
            .bind::<Text, _>(&first)
            .bind::<Text, _>(&second)
            .bind::<Text, _>(&account)
            .load(c)?,
    };
    rows.iter()
        .map(|r| {
            r.id.parse()
                .map_err(|_| Error::Internal("an id in the database does not parse".into()))
        })
        .collect()
}

fn pseudonymise_audit(conn: &mut DbConnection, account_id: Id, scrub: &Scrubber) -> Result<usize> {
    let ids = mentioning(
        conn,
        "SELECT id::text AS id FROM audit_events WHERE account_id::text = $3 AND \
         (details::text ILIKE $1 ESCAPE '\\' OR details::text ILIKE $2 ESCAPE '\\' OR resource_id ILIKE $1 ESCAPE '\\' \
          OR resource_id ILIKE $2 ESCAPE '\\' OR actor_id ILIKE $1 ESCAPE '\\' OR actor_id ILIKE $2 ESCAPE '\\')",
        "SELECT id FROM audit_events WHERE (details LIKE ?1 ESCAPE '\\' OR details LIKE ?2 ESCAPE '\\' \
         OR resource_id LIKE ?1 ESCAPE '\\' OR resource_id LIKE ?2 ESCAPE '\\' OR actor_id LIKE ?1 ESCAPE '\\' OR actor_id LIKE ?2 ESCAPE '\\') \
         AND account_id = ?3",
        scrub,
        Some(account_id),
    )?;
    let mut changed = 0;
    for id in &ids {
        let (actor, resource, details): (Option<String>, Option<String>, Option<Json>) =
            audit_events::table
                .find(*id)
                .filter(audit_events::account_id.eq(account_id))
                .select((
                    audit_events::actor_id,
                    audit_events::resource_id,
                    audit_events::details,
                ))
                .first(conn)?;
        let scrubbed = (
            scrub.opt_text(&actor),
            scrub.opt_text(&resource),
            details.as_ref().map(|d| scrub.json(d)),
        );
        // `LIKE` found a candidate; only a row that really names the person changes.
        if scrubbed == (actor, resource, details) {
            continue;
        }
        diesel::update(audit_events::table.find(*id))
            .set((
                audit_events::actor_id.eq(scrubbed.0),
                audit_events::resource_id.eq(scrubbed.1),
                audit_events::details.eq(scrubbed.2),
            ))
            .execute(conn)?;
        changed += 1;
    }
    Ok(changed)
}

/// Job rows carry no account: the rows that mention the person are found by text, and
/// of those only the account's are scrubbed (whose a job is, its payload's ids say). In a
/// batch of events that mixes accounts, only the account's events are.
fn pseudonymise_jobs(conn: &mut DbConnection, account_id: Id, scrub: &Scrubber) -> Result<usize> {
    let ids = mentioning(
        conn,
        "SELECT id::text AS id FROM jobs WHERE (payload::text ILIKE $1 ESCAPE '\\' OR payload::text ILIKE $2 ESCAPE '\\' \
         OR last_error ILIKE $1 ESCAPE '\\' OR last_error ILIKE $2 ESCAPE '\\') AND $3 = $3",
        "SELECT id FROM jobs WHERE (payload LIKE ?1 ESCAPE '\\' OR payload LIKE ?2 ESCAPE '\\' \
         OR last_error LIKE ?1 ESCAPE '\\' OR last_error LIKE ?2 ESCAPE '\\') AND ?3 = ?3",
        scrub,
        None,
    )?;
    let mut rows: Vec<(Id, String, Json, Option<String>)> = Vec::new();
    for chunk in ids.chunks(500) {
        rows.extend(
            jobs::table
                .filter(jobs::id.eq_any(chunk.to_vec()))
                .select((jobs::id, jobs::kind, jobs::payload, jobs::last_error))
                .load::<(Id, String, Json, Option<String>)>(conn)?,
        );
    }
    let targets: Vec<Option<JobTarget>> = rows
        .iter()
        .map(|(_, kind, payload, _)| {
            Job::from_parts(kind, payload)
                .ok()
                .map(|j| JobTarget::of(&j))
        })
        .collect();
    let owned = AccountRows::among(conn, account_id, targets.iter().flatten())?;
    let mut changed = 0;
    for ((id, _, payload, error), target) in rows.iter().zip(&targets) {
        let Some(target) = target.as_ref().filter(|t| owned.owns(t)) else {
            continue;
        };
        let scrubbed = match target {
            JobTarget::Messages(_) => scrub_own_events(scrub, payload, &owned),
            _ => scrub.json(payload),
        };
        let error_scrubbed = scrub.opt_text(error);
        if &scrubbed == payload && &error_scrubbed == error {
            continue;
        }
        diesel::update(jobs::table.find(*id))
            .set((
                jobs::payload.eq(scrubbed),
                jobs::last_error.eq(error_scrubbed),
            ))
            .execute(conn)?;
        changed += 1;
    }
    Ok(changed)
}

/// An `events.record` payload with the account's events scrubbed and the others' as they
/// were.
fn scrub_own_events(scrub: &Scrubber, payload: &Json, owned: &AccountRows) -> Json {
    let mut value = payload.0.clone();
    if let Some(events) = value.get_mut("events").and_then(Value::as_array_mut) {
        for event in events.iter_mut() {
            let ours = event
                .get("message_id")
                .and_then(Value::as_str)
                .and_then(|m| m.parse::<Id>().ok())
                .is_some_and(|m| owned.messages.contains(&m));
            if ours {
                *event = scrub.json(&Json(event.clone())).0;
            }
        }
    }
    Json(value)
}

fn pseudonymise_responses(
    conn: &mut DbConnection,
    account_id: Id,
    scrub: &Scrubber,
) -> Result<usize> {
    let rows: Vec<(String, String, Json)> = idempotency_keys::table
        .filter(idempotency_keys::account_id.eq(account_id))
        .select((
            idempotency_keys::endpoint,
            idempotency_keys::idempotency_key,
            idempotency_keys::response,
        ))
        .load(conn)?;
    let mut changed = 0;
    for (endpoint, key, response) in rows {
        let scrubbed = scrub.json(&response);
        if scrubbed == response {
            continue;
        }
        diesel::update(idempotency_keys::table.find((account_id, endpoint.clone(), key.clone())))
            .set(idempotency_keys::response.eq(scrubbed))
            .execute(conn)?;
        changed += 1;
    }
    Ok(changed)
}

fn pseudonymise_imports(
    conn: &mut DbConnection,
    account_id: Id,
    scrub: &Scrubber,
) -> Result<usize> {
    let rows: Vec<(Id, Json, Option<String>)> = imports::table
        .filter(imports::account_id.eq(account_id))
        .select((imports::id, imports::rejections, imports::error))
        .load(conn)?;
    let mut changed = 0;
    for (id, rejections, error) in rows {
        let scrubbed = scrub.json(&rejections);
        let error_scrubbed = scrub.opt_text(&error);
        if scrubbed == rejections && error_scrubbed == error {
            continue;
        }
        diesel::update(imports::table.find(id))
            .set((
                imports::rejections.eq(scrubbed),
                imports::error.eq(error_scrubbed),
            ))
            .execute(conn)?;
        changed += 1;
    }
    Ok(changed)
}

/// Deliveries whose payload names the person although their event was not found (the
/// event was purged since, say).
fn delete_mentioning_deliveries(
    conn: &mut DbConnection,
    account_id: Id,
    scrub: &Scrubber,
) -> Result<usize> {
    let ids = mentioning(
        conn,
        "SELECT id::text AS id FROM webhook_deliveries WHERE (payload::text ILIKE $1 ESCAPE '\\' \
         OR payload::text ILIKE $2 ESCAPE '\\' OR last_error ILIKE $1 ESCAPE '\\' OR last_error ILIKE $2 ESCAPE '\\') \
         AND account_id::text = $3",
        "SELECT id FROM webhook_deliveries WHERE (payload LIKE ?1 ESCAPE '\\' OR payload LIKE ?2 ESCAPE '\\' \
         OR last_error LIKE ?1 ESCAPE '\\' OR last_error LIKE ?2 ESCAPE '\\') AND account_id = ?3",
        scrub,
        Some(account_id),
    )?;
    delete_in_chunks(conn, &ids, |conn, chunk| {
        Ok(
            diesel::delete(webhook_deliveries::table.filter(webhook_deliveries::id.eq_any(chunk)))
                .execute(conn)?,
        )
    })
}

/// Reports that name the person but matched none of their messages.
fn delete_mentioning_reports(
    conn: &mut DbConnection,
    account_id: Id,
    scrub: &Scrubber,
) -> Result<usize> {
    let ids = mentioning(
        conn,
        "SELECT id::text AS id FROM inbound_reports WHERE (summary::text ILIKE $1 ESCAPE '\\' \
         OR summary::text ILIKE $2 ESCAPE '\\') AND account_id::text = $3",
        "SELECT id FROM inbound_reports WHERE (summary LIKE ?1 ESCAPE '\\' OR summary LIKE ?2 ESCAPE '\\') \
         AND account_id = ?3",
        scrub,
        Some(account_id),
    )?;
    delete_in_chunks(conn, &ids, |conn, chunk| {
        Ok(
            diesel::delete(inbound_reports::table.filter(inbound_reports::id.eq_any(chunk)))
                .execute(conn)?,
        )
    })
}

/// Deletes rows by id, a statement per 500 (SQLite limits a statement's parameters).
fn delete_in_chunks(
    conn: &mut DbConnection,
    ids: &[Id],
    delete: impl Fn(&mut DbConnection, Vec<Id>) -> Result<usize>,
) -> Result<usize> {
    let mut deleted = 0;
    for chunk in ids.chunks(500) {
        deleted += delete(conn, chunk.to_vec())?;
    }
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replacing_ignores_ascii_case_and_keeps_the_rest() {
        assert_eq!(
            replace_ignoring_ascii_case(
                "to Ada@Example.com and ada@example.com.",
                "ada@example.com",
                "X"
            ),
            "to X and X."
        );
        assert_eq!(
            replace_ignoring_ascii_case("nothing here", "ada@example.com", "X"),
            "nothing here"
        );
        assert_eq!(
            replace_ignoring_ascii_case("é ADA@EXAMPLE.COM é", "ada@example.com", "X"),
            "é X é"
        );
    }

    #[test]
    fn like_patterns_match_the_address_literally() {
        assert_eq!(like_pattern("ada@example.com"), "%ada@example.com%");
        assert_eq!(like_pattern("%@example.com"), "%\\%@example.com%");
        assert_eq!(like_pattern("_da@x.example"), "%\\_da@x.example%");
        assert_eq!(like_pattern("a\\b@x.example"), "%a\\\\b@x.example%");
    }

    #[test]
    fn the_pseudonym_is_the_hash_and_nothing_else() {
        assert_eq!(pseudonym("ab12"), "erased:ab12");
    }
}
