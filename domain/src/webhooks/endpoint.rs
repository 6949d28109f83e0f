//! Webhook endpoints: where an account wants its events, which types, and the secret
//! that signs them.
//!
//! `event_types` is a non-empty list of event type names (`sent`, `bounce`, …), or `["*"]`
//! for every type, including types added later. The secret is kept as `whsec_…` because
//! every delivery must be signed with it; the API shows it once, when it is made (create
//! and rotate). Rotation keeps the old secret signing beside the new one for a grace
//! period, so receivers can switch without losing a delivery.

use std::fmt;
use std::time::Duration;

use diesel::prelude::*;

use super::sealed::SecretBox;
use super::signature::WebhookSecret;
use super::target::check_endpoint_url_with;
use crate::clock;
use crate::error::{Error, FieldError, Result};
use crate::events::EventType;
use crate::pagination::{Page, PageRequest};
use crate::schema::webhooks;
use crate::store::DbConnection;
use crate::store::sql_types::{Id, Json, Timestamp};

/// The `event_types` entry that subscribes to every type.
pub const ALL_EVENT_TYPES: &str = "*";

/// Event types about the account rather than a message: a sending domain's status changed.
pub const ACCOUNT_EVENT_TYPES: [&str; 1] = [crate::sending_domains::DOMAIN_STATUS_CHANGED];

/// Longest `disabled_reason` kept.
const MAX_REASON_LEN: usize = 500;

/// One endpoint of one account. `Debug` never prints the secrets.
#[derive(Clone, Queryable, Selectable, Insertable, Identifiable)]
#[diesel(table_name = webhooks)]
pub struct Webhook {
    pub id: Id,
    pub account_id: Id,
    pub url: String,
    /// A JSON array of type names, or `["*"]`.
    pub event_types: Json,
    pub enabled: bool,
    /// `whsec_…`: the signing secret.
    pub secret: String,
    /// The secret before the last rotation, signing too until `previous_secret_until`.
    pub previous_secret: Option<String>,
    pub previous_secret_until: Option<Timestamp>,
    /// Why Mailroom disabled the endpoint (a `410 Gone`); cleared when it is enabled again.
    pub disabled_reason: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl fmt::Debug for Webhook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Webhook")
            .field("id", &self.id)
            .field("account_id", &self.account_id)
            .field("url", &self.url)
            .field("event_types", &self.event_types)
            .field("enabled", &self.enabled)
            .field("disabled_reason", &self.disabled_reason)
            .finish_non_exhaustive()
    }
}

/// A new endpoint, as the account asked for it.
#[derive(Debug, Clone)]
pub struct NewWebhook {
    pub url: String,
    pub event_types: Vec<String>,
    pub enabled: bool,
}

/// What an update changes; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct WebhookChanges {
    pub url: Option<String>,
    pub event_types: Option<Vec<String>>,
    pub enabled: Option<bool>,
}

/// An endpoint and a secret just made for it: the only time the secret leaves the store.
#[derive(Debug, Clone)]
pub struct WebhookWithSecret {
    pub webhook: Webhook,
    pub secret: WebhookSecret,
}

/// Whether endpoints on private and loopback addresses are allowed (the operator's
/// `MAILROOM_WEBHOOK_ALLOW_PRIVATE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AllowPrivate(pub bool);

fn clean_url(raw: &str, allow: AllowPrivate) -> Result<String> {
    check_endpoint_url_with(raw, allow.0)
        .map(|url| url.to_string())
        .map_err(|e| Error::invalid("url", e.to_string()))
}

/// Validates and normalises `event_types`: known names, in a fixed order, each once; or
/// `["*"]`.
pub fn clean_event_types(names: &[String]) -> Result<Vec<String>> {
    if names.is_empty() {
        return Err(Error::invalid(
            "event_types",
            "must name at least one event type, or \"*\" for all",
        ));
    }
    let mut wanted = Vec::new();
    let mut account_wanted = Vec::new();
    let mut errors = Vec::new();
    let mut all = false;
    for (i, name) in names.iter().enumerate() {
        let name = name.trim();
        if name == ALL_EVENT_TYPES {
            all = true;
        } else if let Some(t) = EventType::parse(name) {
            wanted.push(t);
        } else if ACCOUNT_EVENT_TYPES.contains(&name) {
            account_wanted.push(name);
        } else {
            let known: Vec<&str> = EventType::ALL
                .iter()
                .map(|t| t.as_str())
                .chain(ACCOUNT_EVENT_TYPES)
                .collect();
            errors.push(FieldError::new(
                format!("event_types[{i}]"),
                format!(
                    "is not an event type: use one of {}, or \"*\" for all",
                    known.join(", ")
                ),
            ));
        }
    }
    if !errors.is_empty() {
        return Err(Error::Invalid(errors));
    }
    if all {
        return Ok(vec![ALL_EVENT_TYPES.to_owned()]);
    }
    Ok(EventType::ALL
        .into_iter()
        .filter(|t| wanted.contains(t))
        .map(|t| t.as_str())
        .chain(
            ACCOUNT_EVENT_TYPES
                .into_iter()
                .filter(|t| account_wanted.contains(t)),
        )
        .map(str::to_owned)
        .collect())
}

/// Both values, or every field error of both.
fn both<A, B>(a: Result<A>, b: Result<B>) -> Result<(A, B)> {
    match (a, b) {
        (Ok(a), Ok(b)) => Ok((a, b)),
        (a, b) => {
            let mut errors = Vec::new();
            for e in [a.err(), b.err()].into_iter().flatten() {
                match e {
                    Error::Invalid(fields) => errors.extend(fields),
                    other => return Err(other),
                }
            }
            Err(Error::Invalid(errors))
        }
    }
}

fn clean_reason(reason: &str) -> String {
    reason.chars().take(MAX_REASON_LEN).collect()
}

impl Webhook {
    /// The subscribed type names, as stored (`["*"]` for all).
    pub fn event_type_names(&self) -> Vec<String> {
        self.event_types
            .as_array()
            .map(|names| {
                names
                    .iter()
                    .filter_map(|n| n.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Whether the endpoint subscribed to events of this type.
    pub fn wants(&self, event_type: &str) -> bool {
        self.event_types.as_array().is_some_and(|names| {
            names
                .iter()
                .filter_map(|n| n.as_str())
                .any(|n| n == ALL_EVENT_TYPES || n == event_type)
        })
    }

    /// The secrets that sign a delivery at `now`: the current one, and the previous one
    /// during its grace period.
    pub fn signing_secrets(
        &self,
        now: Timestamp,
        sealer: &SecretBox,
    ) -> Result<Vec<WebhookSecret>> {
        let stored = |text: &str| {
            WebhookSecret::parse(&sealer.open(text)?).map_err(|e| {
                Error::Internal(format!("webhook {} has an unreadable secret: {e}", self.id))
            })
        };
        let mut secrets = vec![stored(&self.secret)?];
        if let (Some(previous), Some(until)) = (&self.previous_secret, self.previous_secret_until)
            && until > now
        {
            secrets.push(stored(previous)?);
        }
        Ok(secrets)
    }

    /// Until when the previous secret still signs, if it does.
    pub fn previous_secret_expires_at(&self, now: Timestamp) -> Option<Timestamp> {
        self.previous_secret
            .as_ref()
            .and(self.previous_secret_until)
            .filter(|until| *until > now)
    }

    pub fn create(
        conn: &mut DbConnection,
        account_id: Id,
        new: NewWebhook,
        allow: AllowPrivate,
        sealer: &SecretBox,
    ) -> Result<WebhookWithSecret> {
        let (url, event_types) = both(
            clean_url(&new.url, allow),
            clean_event_types(&new.event_types),
        )?;
        let secret = WebhookSecret::generate();
        let now = clock::now();
        let webhook = Webhook {
            id: Id::new(),
            account_id,
            url,
            event_types: Json(serde_json::json!(event_types)),
            enabled: new.enabled,
            secret: sealer.seal(&secret.to_string()),
            previous_secret: None,
            previous_secret_until: None,
            disabled_reason: None,
            created_at: now,
            updated_at: now,
        };
        diesel::insert_into(webhooks::table)
            .values(&webhook)
            .execute(conn)?;
        Ok(WebhookWithSecret { webhook, secret })
    }

    /// The endpoint, if it is the account's.
    pub fn find(conn: &mut DbConnection, account_id: Id, id: Id) -> Result<Webhook> {
        webhooks::table
            .find(id)
            .filter(webhooks::account_id.eq(account_id))
            .select(Webhook::as_select())
            .first(conn)
            .optional()?
            .ok_or(Error::NotFound("webhook"))
    }

    /// The endpoint, whoever's it is (the webhook worker).
    pub fn find_any(conn: &mut DbConnection, id: Id) -> Result<Option<Webhook>> {
        Ok(webhooks::table
            .find(id)
            .select(Webhook::as_select())
            .first(conn)
            .optional()?)
    }

    /// The account's endpoints, oldest first.
    pub fn list(conn: &mut DbConnection, account_id: Id, page: &PageRequest) -> Result<Page<Self>> {
        let mut query = webhooks::table
            .filter(webhooks::account_id.eq(account_id))
            .select(Webhook::as_select())
            .order(webhooks::id.asc())
            .limit(page.fetch_limit())
            .into_boxed();
        if let Some(after) = page.after {
            query = query.filter(webhooks::id.gt(after));
        }
        Ok(Page::from_rows(query.load(conn)?, page, |w| w.id))
    }

    /// The enabled endpoints of these accounts (fan-out).
    pub fn enabled_of(conn: &mut DbConnection, account_ids: &[Id]) -> Result<Vec<Webhook>> {
        Ok(webhooks::table
            .filter(webhooks::account_id.eq_any(account_ids))
            .filter(webhooks::enabled.eq(true))
            .select(Webhook::as_select())
            .order(webhooks::id.asc())
            .load(conn)?)
    }

    /// Changes the URL, the types or whether it is enabled. Enabling clears the reason
    /// Mailroom disabled it for.
    pub fn update(
        conn: &mut DbConnection,
        account_id: Id,
        id: Id,
        changes: WebhookChanges,
        allow: AllowPrivate,
    ) -> Result<Webhook> {
        let url = changes.url.map(|u| clean_url(&u, allow)).transpose();
        let types = changes
            .event_types
            .map(|t| clean_event_types(&t))
            .transpose();
        let (url, types) = both(url, types)?;
        conn.write_transaction(|conn| {
            let mut webhook = Webhook::find(conn, account_id, id)?;
            if let Some(url) = url {
                webhook.url = url;
            }
            if let Some(types) = types {
                webhook.event_types = Json(serde_json::json!(types));
            }
            if let Some(enabled) = changes.enabled {
                if enabled {
                    webhook.disabled_reason = None;
                }
                webhook.enabled = enabled;
            }
            webhook.updated_at = clock::now();
            diesel::update(webhooks::table.find(webhook.id))
                .set((
                    webhooks::url.eq(&webhook.url),
                    webhooks::event_types.eq(&webhook.event_types),
                    webhooks::enabled.eq(webhook.enabled),
                    webhooks::disabled_reason.eq(&webhook.disabled_reason),
                    webhooks::updated_at.eq(webhook.updated_at),
                ))
                .execute(conn)?;
            Ok(webhook)
        })
    }

    /// Deletes the endpoint and its delivery log; deliveries still queued are dropped.
    pub fn delete(conn: &mut DbConnection, account_id: Id, id: Id) -> Result<()> {
        let n = diesel::delete(
            webhooks::table
                .filter(webhooks::id.eq(id))
                .filter(webhooks::account_id.eq(account_id)),
        )
        .execute(conn)?;
        if n == 0 {
            Err(Error::NotFound("webhook"))
        } else {
            Ok(())
        }
    }

    /// Makes a new secret. The current one keeps signing beside it for `grace` (not at all
    /// when `grace` is zero); a secret rotated out earlier stops at once.
    pub fn rotate_secret(
        conn: &mut DbConnection,
        account_id: Id,
        id: Id,
        grace: Duration,
        sealer: &SecretBox,
    ) -> Result<WebhookWithSecret> {
        conn.write_transaction(|conn| {
            let mut webhook = Webhook::find(conn, account_id, id)?;
            let secret = WebhookSecret::generate();
            let now = clock::now();
            let until = chrono::Duration::from_std(grace)
                .ok()
                .and_then(|g| now.0.checked_add_signed(g))
                .map(Timestamp::from);
            let keep_old = !grace.is_zero() && until.is_some();
            webhook.previous_secret = keep_old.then(|| webhook.secret.clone());
            webhook.previous_secret_until = until.filter(|_| keep_old);
            webhook.secret = sealer.seal(&secret.to_string());
            webhook.updated_at = now;
            diesel::update(webhooks::table.find(webhook.id))
                .set((
                    webhooks::secret.eq(&webhook.secret),
                    webhooks::previous_secret.eq(&webhook.previous_secret),
                    webhooks::previous_secret_until.eq(webhook.previous_secret_until),
                    webhooks::updated_at.eq(now),
                ))
                .execute(conn)?;
            Ok(WebhookWithSecret { webhook, secret })
        })
    }

    /// Mailroom turns the endpoint off (its receiver answered `410 Gone`).
    pub fn disable(conn: &mut DbConnection, id: Id, reason: &str) -> Result<()> {
        diesel::update(webhooks::table.find(id))
            .set((
                webhooks::enabled.eq(false),
                webhooks::disabled_reason.eq(Some(clean_reason(reason))),
                webhooks::updated_at.eq(clock::now()),
            ))
            .execute(conn)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn event_types_are_known_names_in_a_fixed_order_or_all() {
        assert_eq!(
            clean_event_types(&names(&["click", "sent", "click", " bounce "])).unwrap(),
            names(&["sent", "bounce", "click"])
        );
        assert_eq!(
            clean_event_types(&names(&["sent", "*"])).unwrap(),
            names(&["*"])
        );
        let Err(Error::Invalid(errors)) = clean_event_types(&names(&["sent", "opened", "x"]))
        else {
            panic!("unknown names pass");
        };
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["event_types[1]", "event_types[2]"]);
        assert!(clean_event_types(&[]).is_err());
        assert_eq!(
            clean_event_types(&names(&["domain.status_changed", "sent"])).unwrap(),
            names(&["sent", "domain.status_changed"])
        );
        let Err(Error::Invalid(errors)) = clean_event_types(&names(&["domain.changed"])) else {
            panic!("unknown names pass");
        };
        assert!(
            errors[0].message.contains("domain.status_changed"),
            "{errors:?}"
        );
    }

    fn webhook(types: serde_json::Value) -> Webhook {
        let now = clock::now();
        Webhook {
            id: Id::new(),
            account_id: Id::new(),
            url: "https://hooks.example/".into(),
            event_types: Json(types),
            enabled: true,
            secret: sealer().seal(&WebhookSecret::generate().to_string()),
            previous_secret: Some(sealer().seal(&WebhookSecret::generate().to_string())),
            previous_secret_until: Some(Timestamp::from(now.0 + chrono::Duration::hours(1))),
            disabled_reason: None,
            created_at: now,
            updated_at: now,
        }
    }

    fn sealer() -> SecretBox {
        SecretBox::new(&secrecy::SecretString::from("test-signing-key"))
    }

    #[test]
    fn subscriptions_match_their_types_or_everything() {
        let some = webhook(serde_json::json!(["sent", "bounce"]));
        assert!(some.wants("sent") && some.wants("bounce") && !some.wants("open"));
        let all = webhook(serde_json::json!(["*"]));
        assert!(EventType::ALL.iter().all(|t| all.wants(t.as_str())));
        assert!(all.wants("domain.status_changed"));
        assert!(!some.wants("domain.status_changed"));
    }

    #[test]
    fn the_previous_secret_signs_only_during_its_grace_period_and_never_shows_in_debug() {
        let w = webhook(serde_json::json!(["*"]));
        let now = clock::now();
        assert_eq!(w.signing_secrets(now, &sealer()).unwrap().len(), 2);
        let later = Timestamp::from(now.0 + chrono::Duration::hours(2));
        assert_eq!(w.signing_secrets(later, &sealer()).unwrap().len(), 1);
        assert!(w.previous_secret_expires_at(later).is_none());
        let debug = format!("{w:?}");
        assert!(!debug.contains("whsec_"), "{debug}");
    }
}
