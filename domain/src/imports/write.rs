//! Writing one batch of an import: the rows go into a temporary staging table (PostgreSQL:
//! `COPY`; SQLite: one multi-row `INSERT`), and set-based statements move them on —
//! contacts upserted (the row's non-empty fields win), memberships added (an unsubscribed
//! member comes back only with consent evidence, as in the members API), consent records
//! appended. This is the one place that matches on the backend for imports.

use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Integer, Nullable, Text};
use diesel::sqlite::SqliteConnection;

use crate::error::Result;
use crate::lists::MemberStatus;
use crate::store::DbConnection;
use crate::store::sql_types::{Id, Json, PortableTimestamp, PortableUuid, Timestamp};

diesel::table! {
    use diesel::sql_types::*;
    use crate::store::sql_types::*;

    /// A connection's own temporary table (never in the migrations): one batch at a time.
    import_stage (row_no) {
        row_no -> Integer,
        new_id -> PortableUuid,
        consent_id -> PortableUuid,
        email -> Text,
        name -> Nullable<Text>,
        properties -> PortableJson,
        first_seen -> Bool,
    }
}

const CREATE_STAGE_POSTGRES: &str = "CREATE TEMP TABLE IF NOT EXISTS import_stage (\
    row_no integer NOT NULL, new_id uuid NOT NULL, consent_id uuid NOT NULL, \
    email text NOT NULL, name text, properties jsonb NOT NULL, first_seen boolean NOT NULL\
    ) ON COMMIT DELETE ROWS";

const CREATE_STAGE_SQLITE: &str = "CREATE TEMP TABLE IF NOT EXISTS import_stage (\
    row_no INTEGER NOT NULL, new_id TEXT NOT NULL, consent_id TEXT NOT NULL, \
    email TEXT NOT NULL, name TEXT, properties TEXT NOT NULL, first_seen INTEGER NOT NULL, \
    contact_id TEXT)";

/// One address of the batch, merged from its rows.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = import_stage)]
#[diesel(treat_none_as_default_value = false)]
pub struct StageRow {
    /// The row the address first appears on in this batch.
    pub row_no: i32,
    /// The contact's id if the address is new to the account.
    pub new_id: Id,
    pub consent_id: Id,
    pub email: String,
    pub name: Option<String>,
    pub properties: Json,
    /// The address's first row in the whole file: it gets the consent record and is
    /// counted as created or updated (later rows are counted as duplicates).
    pub first_seen: bool,
}

/// What the batch is written with.
#[derive(Debug, Clone, Copy)]
pub struct BatchTarget<'a> {
    pub import_id: Id,
    pub account_id: Id,
    pub list_id: Id,
    /// `pending` on a double opt-in list, else `subscribed`.
    pub fresh_status: &'a str,
    /// Consent evidence: its source and policy version.
    pub source: Option<&'a str>,
    pub policy_version: Option<&'a str>,
    pub now: Timestamp,
}

/// What happened to one staged address.
#[derive(Debug, Clone, QueryableByName)]
pub struct Applied {
    #[diesel(sql_type = Integer)]
    pub row_no: i32,
    #[diesel(sql_type = PortableUuid)]
    pub contact_id: Id,
    /// The contact is new.
    #[diesel(sql_type = Bool)]
    pub created: bool,
    /// The membership is new, or came back from `unsubscribed`.
    #[diesel(sql_type = Bool)]
    pub joined: bool,
}

/// Writes the staged addresses; call it inside the batch's transaction.
pub fn apply(
    conn: &mut DbConnection,
    target: &BatchTarget,
    rows: &[StageRow],
) -> Result<Vec<Applied>> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    match conn {
        DbConnection::Postgres(pg) => apply_postgres(pg, target, rows),
        DbConnection::Sqlite(lite) => apply_sqlite(lite, target, rows),
    }
}

/// PostgreSQL: `COPY` into the staging table, then one statement whose data-modifying
/// CTEs upsert the contacts, add the memberships and append the consent records.
const APPLY_POSTGRES: &str = "\
WITH upserted AS (
    INSERT INTO contacts AS c (id, account_id, email, name, properties, created_at, updated_at)
    SELECT s.new_id, $1, s.email, s.name, s.properties, $2, $2 FROM import_stage s
    ON CONFLICT (account_id, email) DO UPDATE
       SET name = COALESCE(EXCLUDED.name, c.name),
           properties = c.properties || EXCLUDED.properties,
           updated_at = EXCLUDED.updated_at
    RETURNING c.id, c.email
), staged AS (
    SELECT u.id AS contact_id, s.row_no, s.consent_id, s.first_seen, u.id = s.new_id AS created
    FROM upserted u JOIN import_stage s ON s.email = u.email
), joined AS (
    INSERT INTO list_members AS m (list_id, contact_id, account_id, status, subscribed_at,
                                   unsubscribed_at, created_at, updated_at)
    SELECT $3, contact_id, $1, $4, $5, NULL, $2, $2 FROM staged
    ON CONFLICT (list_id, contact_id) DO UPDATE
       SET status = EXCLUDED.status,
           subscribed_at = COALESCE(EXCLUDED.subscribed_at, m.subscribed_at),
           updated_at = EXCLUDED.updated_at
       WHERE m.status = 'unsubscribed' AND $6
    RETURNING m.contact_id
), consented AS (
    INSERT INTO consents (id, account_id, contact_id, list_id, purpose, status, method, source,
                          ip, user_agent, policy_version, evidence, created_at)
    SELECT consent_id, $1, contact_id, NULL, 'marketing_email', 'granted', 'import', $7,
           NULL, NULL, $8, jsonb_build_object('import_id', $9::text, 'row', row_no), $2
    FROM staged WHERE first_seen AND $7 IS NOT NULL
)
SELECT s.row_no, s.contact_id, s.created,
       s.contact_id IN (SELECT contact_id FROM joined) AS joined
FROM staged s";

fn apply_postgres(
    pg: &mut PgConnection,
    target: &BatchTarget,
    rows: &[StageRow],
) -> Result<Vec<Applied>> {
    use diesel::ExecuteCopyFromDsl;
    diesel::sql_query(CREATE_STAGE_POSTGRES).execute(pg)?;
    diesel::copy_from(import_stage::table)
        .from_insertable(rows)
        .execute(pg)?;
    Ok(diesel::sql_query(APPLY_POSTGRES)
        .bind::<PortableUuid, _>(target.account_id)
        .bind::<PortableTimestamp, _>(target.now)
        .bind::<PortableUuid, _>(target.list_id)
        .bind::<Text, _>(target.fresh_status)
        .bind::<Nullable<PortableTimestamp>, _>(subscribed_at(target))
        .bind::<Bool, _>(target.source.is_some())
        .bind::<Nullable<Text>, _>(target.source)
        .bind::<Nullable<Text>, _>(target.policy_version)
        .bind::<Text, _>(target.import_id.to_string())
        .load(pg)?)
}

/// SQLite has neither `COPY` nor data-modifying CTEs: the same steps, one statement each.
fn apply_sqlite(
    lite: &mut SqliteConnection,
    target: &BatchTarget,
    rows: &[StageRow],
) -> Result<Vec<Applied>> {
    diesel::sql_query(CREATE_STAGE_SQLITE).execute(lite)?;
    diesel::sql_query("DELETE FROM import_stage").execute(lite)?;
    // SQLite allows 32,766 bound values per statement; a row binds 7.
    for chunk in rows.chunks(4000) {
        diesel::insert_into(import_stage::table)
            .values(chunk)
            .execute(lite)?;
    }
    diesel::sql_query(
        "INSERT INTO contacts (id, account_id, email, name, properties, created_at, updated_at) \
         SELECT new_id, ?1, email, name, properties, ?2, ?2 FROM import_stage WHERE true \
         ON CONFLICT (account_id, email) DO UPDATE \
            SET name = COALESCE(excluded.name, contacts.name), \
                properties = json_patch(contacts.properties, excluded.properties), \
                updated_at = excluded.updated_at",
    )
    .bind::<PortableUuid, _>(target.account_id)
    .bind::<PortableTimestamp, _>(target.now)
    .execute(lite)?;
    diesel::sql_query(
        "UPDATE import_stage SET contact_id = \
           (SELECT c.id FROM contacts c WHERE c.account_id = ?1 AND c.email = import_stage.email)",
    )
    .bind::<PortableUuid, _>(target.account_id)
    .execute(lite)?;
    #[derive(QueryableByName)]
    struct Joined {
        #[diesel(sql_type = PortableUuid)]
        contact_id: Id,
    }
    let joined: std::collections::HashSet<Id> = diesel::sql_query(
        "INSERT INTO list_members (list_id, contact_id, account_id, status, subscribed_at, \
                                   unsubscribed_at, created_at, updated_at) \
         SELECT ?1, contact_id, ?2, ?3, ?4, NULL, ?5, ?5 FROM import_stage WHERE true \
         ON CONFLICT (list_id, contact_id) DO UPDATE \
            SET status = excluded.status, \
                subscribed_at = COALESCE(excluded.subscribed_at, list_members.subscribed_at), \
                updated_at = excluded.updated_at \
            WHERE list_members.status = 'unsubscribed' AND ?6 \
         RETURNING contact_id",
    )
    .bind::<PortableUuid, _>(target.list_id)
    .bind::<PortableUuid, _>(target.account_id)
    .bind::<Text, _>(target.fresh_status)
    .bind::<Nullable<PortableTimestamp>, _>(subscribed_at(target))
    .bind::<PortableTimestamp, _>(target.now)
    .bind::<Bool, _>(target.source.is_some())
    .load::<Joined>(lite)?
    .into_iter()
    .map(|j| j.contact_id)
    .collect();
    if target.source.is_some() {
        diesel::sql_query(
            "INSERT INTO consents (id, account_id, contact_id, list_id, purpose, status, method, \
                                   source, ip, user_agent, policy_version, evidence, created_at) \
             SELECT consent_id, ?1, contact_id, NULL, 'marketing_email', 'granted', 'import', ?2, \
                    NULL, NULL, ?3, json_object('import_id', ?4, 'row', row_no), ?5 \
             FROM import_stage WHERE first_seen",
        )
        .bind::<PortableUuid, _>(target.account_id)
        .bind::<Nullable<Text>, _>(target.source)
        .bind::<Nullable<Text>, _>(target.policy_version)
        .bind::<Text, _>(target.import_id.to_string())
        .bind::<PortableTimestamp, _>(target.now)
        .execute(lite)?;
    }
    #[derive(QueryableByName)]
    struct Staged {
        #[diesel(sql_type = Integer)]
        row_no: i32,
        #[diesel(sql_type = PortableUuid)]
        contact_id: Id,
        #[diesel(sql_type = Bool)]
        created: bool,
    }
    Ok(diesel::sql_query(
        "SELECT row_no, contact_id, contact_id = new_id AS created FROM import_stage",
    )
    .load::<Staged>(lite)?
    .into_iter()
    .map(|s| Applied {
        joined: joined.contains(&s.contact_id),
        row_no: s.row_no,
        contact_id: s.contact_id,
        created: s.created,
    })
    .collect())
}

fn subscribed_at(target: &BatchTarget) -> Option<Timestamp> {
    (target.fresh_status == MemberStatus::Subscribed.as_str()).then_some(target.now)
}
