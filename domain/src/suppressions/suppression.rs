//! Suppression entries: adding, finding by address, listing and removing them.

use std::collections::{HashMap, HashSet};

use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use super::hash::{HashKey, email_hash};
use crate::clock;
use crate::contacts::{EmailAddress, sensitive};
use crate::error::{Error, Result};
use crate::pagination::{Page, PageRequest};
use crate::schema::suppressions;
use crate::store::DbConnection;
use crate::store::sql_types::{Id, Timestamp};

/// How many hashes one batch query asks about.
const BATCH: usize = 500;
const MAX_NOTE_LEN: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SuppressionReason {
    /// Unsubscribed from everything the account sends.
    Unsubscribe,
    /// The address does not exist (a permanent delivery failure).
    HardBounce,
    /// The mailbox kept refusing mail (soft bounces in several campaigns).
    SoftBounce,
    /// The recipient reported a message as spam.
    Complaint,
    /// Suppressed by the account.
    Manual,
    /// The person had their data erased; only the address's hash remains.
    Erasure,
}

impl SuppressionReason {
    pub fn as_str(self) -> &'static str {
        match self {
            SuppressionReason::Unsubscribe => "unsubscribe",
            SuppressionReason::HardBounce => "hard_bounce",
            SuppressionReason::SoftBounce => "soft_bounce",
            SuppressionReason::Complaint => "complaint",
            SuppressionReason::Manual => "manual",
            SuppressionReason::Erasure => "erasure",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "unsubscribe" => Some(SuppressionReason::Unsubscribe),
            "hard_bounce" => Some(SuppressionReason::HardBounce),
            "soft_bounce" => Some(SuppressionReason::SoftBounce),
            "complaint" => Some(SuppressionReason::Complaint),
            "manual" => Some(SuppressionReason::Manual),
            "erasure" => Some(SuppressionReason::Erasure),
            _ => None,
        }
    }
}

/// One suppressed address of one account.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = suppressions)]
pub struct Suppression {
    pub id: Id,
    pub account_id: Id,
    /// The normalised address; `None` once erased.
    pub email: Option<String>,
    /// [`email_hash`] of the address: what lookups go by.
    pub email_hash: String,
    pub reason: String,
    pub note: Option<String>,
    pub created_at: Timestamp,
    /// The campaign whose delivery outcome created the entry (a bounce of its message).
    pub campaign_id: Option<Id>,
}

/// The outcome of adding: whether the entry is new.
#[derive(Debug, Clone)]
pub struct AddedSuppression {
    pub suppression: Suppression,
    pub created: bool,
}

fn clean_note(note: Option<String>) -> Result<Option<String>> {
    let Some(note) = note else { return Ok(None) };
    let note = note.trim();
    if note.chars().count() > MAX_NOTE_LEN {
        return Err(Error::invalid(
            "note",
            format!("must be at most {MAX_NOTE_LEN} characters"),
        ));
    }
    if let Some(kind) = sensitive::detect(note) {
        return Err(Error::SensitiveData {
            field: "note".into(),
            kind,
        });
    }
    Ok((!note.is_empty()).then(|| note.to_owned()))
}

impl Suppression {
    /// The stored reason; an unreadable one still suppresses, as `manual`.
    pub fn reason(&self) -> SuppressionReason {
        SuppressionReason::parse(&self.reason).unwrap_or(SuppressionReason::Manual)
    }

    /// Suppresses an address. An address already suppressed keeps its entry as it is
    /// (`created: false`), except that `Erasure` always wins: the entry becomes an
    /// erasure entry, and an erasure entry holds the hash only, never the address.
    pub fn add(
        conn: &mut DbConnection,
        account_id: Id,
        key: &HashKey,
        email: &EmailAddress,
        reason: SuppressionReason,
        note: Option<String>,
    ) -> Result<AddedSuppression> {
        Self::add_from(conn, account_id, key, email, reason, note, None)
    }

    /// [`add`](Self::add), noting the campaign whose delivery outcome suppresses the
    /// address (when the entry is new), so that what one campaign suppressed can be
    /// reviewed and undone.
    pub fn add_from(
        conn: &mut DbConnection,
        account_id: Id,
        key: &HashKey,
        email: &EmailAddress,
        reason: SuppressionReason,
        note: Option<String>,
        campaign_id: Option<Id>,
    ) -> Result<AddedSuppression> {
        let erasure = reason == SuppressionReason::Erasure;
        let entry = Suppression {
            id: Id::new(),
            account_id,
            email: (!erasure).then(|| email.as_str().to_owned()),
            email_hash: email_hash(key, email),
            reason: reason.as_str().to_owned(),
            note: clean_note(note)?,
            created_at: clock::now(),
            campaign_id,
        };
        conn.write_transaction(|conn| {
            // A concurrent removal can delete the entry that made the insert a no-op;
            // then the insert is simply tried again.
            for _ in 0..3 {
                if insert_unless_present(conn, &entry)? {
                    return Ok(AddedSuppression {
                        suppression: entry.clone(),
                        created: true,
                    });
                }
                let Some(mut existing) = find_by_hash(conn, account_id, &entry.email_hash)? else {
                    continue;
                };
                if erasure && existing.reason() != SuppressionReason::Erasure {
                    diesel::update(suppressions::table.find(existing.id))
                        .set((
                            suppressions::email.eq(None::<String>),
                            suppressions::reason.eq(&entry.reason),
                            suppressions::note.eq(&entry.note),
                        ))
                        .execute(conn)?;
                    existing.email = None;
                    existing.reason = entry.reason.clone();
                    existing.note = entry.note.clone();
                }
                return Ok(AddedSuppression {
                    suppression: existing,
                    created: false,
                });
            }
            Err(Error::Conflict(
                "the suppression list changed while adding; try again".into(),
            ))
        })
    }

    /// Whether the account may take `email` in as a contact again. An erased person's
    /// address is refused (`SubjectErased`) — unless `consents_anew` (the request carries the
    /// person's fresh, granted marketing consent), when the erasure entry is removed and
    /// `true` answered so the caller can audit it.
    pub fn admit(
        conn: &mut DbConnection,
        account_id: Id,
        key: &HashKey,
        email: &EmailAddress,
        consents_anew: bool,
    ) -> Result<bool> {
        let Some(entry) = Self::find(conn, account_id, key, email)? else {
            return Ok(false);
        };
        if entry.reason() != SuppressionReason::Erasure {
            return Ok(false);
        }
        if !consents_anew {
            return Err(Error::SubjectErased(
                "this address belongs to a person whose data was erased at their request; it \
                 can be added again only with their new consent (a granted marketing_email \
                 consent given with the list membership)"
                    .into(),
            ));
        }
        diesel::delete(suppressions::table.find(entry.id)).execute(conn)?;
        Ok(true)
    }

    /// The entry that suppresses `email` in the account, if any.
    pub fn find(
        conn: &mut DbConnection,
        account_id: Id,
        key: &HashKey,
        email: &EmailAddress,
    ) -> Result<Option<Suppression>> {
        find_by_hash(conn, account_id, &email_hash(key, email))
    }

    /// Why `email` must not be mailed by the account, or `None` when it may be.
    pub fn is_suppressed(
        conn: &mut DbConnection,
        account_id: Id,
        key: &HashKey,
        email: &EmailAddress,
    ) -> Result<Option<SuppressionReason>> {
        Ok(Self::find(conn, account_id, key, email)?.map(|s| s.reason()))
    }

    /// Of `hashes` (see [`email_hash`]), those suppressed in the account: the sender's
    /// check over a batch of recipients.
    pub fn suppressed_hashes(
        conn: &mut DbConnection,
        account_id: Id,
        hashes: &[String],
    ) -> Result<HashSet<String>> {
        let mut suppressed = HashSet::new();
        for batch in hashes.chunks(BATCH) {
            let found: Vec<String> = suppressions::table
                .filter(suppressions::account_id.eq(account_id))
                .filter(suppressions::email_hash.eq_any(batch))
                .select(suppressions::email_hash)
                .load(conn)?;
            suppressed.extend(found);
        }
        Ok(suppressed)
    }

    /// Of `hashes` (see [`email_hash`]), the suppressed ones and why: an import's check
    /// over a batch of rows, which skips erased addresses apart from the others.
    pub fn reasons_by_hash(
        conn: &mut DbConnection,
        account_id: Id,
        hashes: &[String],
    ) -> Result<HashMap<String, SuppressionReason>> {
        let found: Vec<Suppression> = match conn {
            // One round trip whatever the batch: `email_hash = ANY($2)` binds one array.
            DbConnection::Postgres(pg) => suppressions::table
                .filter(suppressions::account_id.eq(account_id))
                .filter(suppressions::email_hash.eq_any(hashes))
                .select(Suppression::as_select())
                .load(pg)?,
            DbConnection::Sqlite(_) => {
                let mut found = Vec::new();
                for batch in hashes.chunks(BATCH) {
                    found.extend(
                        suppressions::table
                            .filter(suppressions::account_id.eq(account_id))
                            .filter(suppressions::email_hash.eq_any(batch))
                            .select(Suppression::as_select())
                            .load(conn)?,
                    );
                }
                found
            }
        };
        Ok(found
            .into_iter()
            .map(|s| (s.email_hash.clone(), s.reason()))
            .collect())
    }

    /// The account's entries, oldest first, optionally of one reason or created by one
    /// campaign's delivery outcomes.
    pub fn list(
        conn: &mut DbConnection,
        account_id: Id,
        filter: &SuppressionFilter,
        page: &PageRequest,
    ) -> Result<Page<Suppression>> {
        let mut query = suppressions::table
            .filter(suppressions::account_id.eq(account_id))
            .select(Suppression::as_select())
            .order(suppressions::id.asc())
            .limit(page.fetch_limit())
            .into_boxed();
        if let Some(reason) = filter.reason {
            query = query.filter(suppressions::reason.eq(reason.as_str()));
        }
        if let Some(campaign_id) = filter.campaign_id {
            query = query.filter(suppressions::campaign_id.eq(campaign_id));
        }
        if let Some(after) = page.after {
            query = query.filter(suppressions::id.gt(after));
        }
        Ok(Page::from_rows(query.load(conn)?, page, |s| s.id))
    }

    /// Lets the account mail `email` again. An erasure entry cannot be removed (`Conflict`):
    /// it is what keeps an erased person from being mailed.
    pub fn remove(
        conn: &mut DbConnection,
        account_id: Id,
        key: &HashKey,
        email: &EmailAddress,
    ) -> Result<()> {
        conn.write_transaction(|conn| {
            let entry =
                Self::find(conn, account_id, key, email)?.ok_or(Error::NotFound("suppression"))?;
            if entry.reason() == SuppressionReason::Erasure {
                return Err(Error::Conflict(
                    "this address belongs to a person whose data was erased at their request; \
                     its suppression keeps them from being mailed again and cannot be removed"
                        .into(),
                ));
            }
            diesel::delete(suppressions::table.find(entry.id)).execute(conn)?;
            Ok(())
        })
    }
}

/// Which suppressions to list.
#[derive(Debug, Clone, Default)]
pub struct SuppressionFilter {
    pub reason: Option<SuppressionReason>,
    /// Only entries a delivery outcome of this campaign created.
    pub campaign_id: Option<Id>,
}

/// Bounce suppressions a campaign's delivery outcomes create, and which an operator may
/// undo in one call (a complaint is the recipient's own word and is never undone so).
pub const UNDOABLE_REASONS: [SuppressionReason; 2] =
    [SuppressionReason::HardBounce, SuppressionReason::SoftBounce];

impl Suppression {
    /// Removes the entries with `reason` that delivery outcomes of one campaign created:
    /// the undo for a misconfigured relay that bounced a list. Answers how many went.
    /// Entries that became erasure entries since, or that existed before the campaign,
    /// are not touched.
    pub fn remove_for_campaign(
        conn: &mut DbConnection,
        account_id: Id,
        campaign_id: Id,
        reason: SuppressionReason,
    ) -> Result<usize> {
        if !UNDOABLE_REASONS.contains(&reason) {
            return Err(Error::invalid(
                "reason",
                "only hard_bounce and soft_bounce suppressions of a campaign can be undone",
            ));
        }
        Ok(diesel::delete(
            suppressions::table
                .filter(suppressions::account_id.eq(account_id))
                .filter(suppressions::campaign_id.eq(campaign_id))
                .filter(suppressions::reason.eq(reason.as_str())),
        )
        .execute(conn)?)
    }
}

fn find_by_hash(
    conn: &mut DbConnection,
    account_id: Id,
    hash: &str,
) -> Result<Option<Suppression>> {
    Ok(suppressions::table
        .filter(suppressions::account_id.eq(account_id))
        .filter(suppressions::email_hash.eq(hash))
        .select(Suppression::as_select())
        .first(conn)
        .optional()?)
}

/// Inserts the entry unless the account already suppresses its hash; answers whether it
/// did. `ON CONFLICT DO NOTHING` does not compile through the multi-backend connection,
/// hence one arm per backend.
fn insert_unless_present(conn: &mut DbConnection, entry: &Suppression) -> Result<bool> {
    let insert = diesel::insert_into(suppressions::table)
        .values(entry)
        .on_conflict_do_nothing();
    let inserted = match conn {
        DbConnection::Postgres(pg) => insert.execute(pg)?,
        DbConnection::Sqlite(lite) => insert.execute(lite)?,
    };
    Ok(inserted > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_round_trip() {
        for reason in [
            SuppressionReason::Unsubscribe,
            SuppressionReason::HardBounce,
            SuppressionReason::SoftBounce,
            SuppressionReason::Complaint,
            SuppressionReason::Manual,
            SuppressionReason::Erasure,
        ] {
            assert_eq!(SuppressionReason::parse(reason.as_str()), Some(reason));
            assert_eq!(
                serde_json::to_value(reason).unwrap(),
                serde_json::Value::String(reason.as_str().into())
            );
        }
        assert_eq!(SuppressionReason::parse("bounced"), None);
    }

    #[test]
    fn notes_are_trimmed_bounded_and_screened() {
        assert_eq!(clean_note(Some("  ".into())).unwrap(), None);
        assert_eq!(
            clean_note(Some(" asked by phone ".into()))
                .unwrap()
                .as_deref(),
            Some("asked by phone")
        );
        assert!(matches!(
            clean_note(Some("x".repeat(1001))),
            Err(Error::Invalid(_))
        ));
        assert!(matches!(
            clean_note(Some("card 4111 1111 1111 1111".into())),
            Err(Error::SensitiveData { .. })
        ));
    }
}
