//! The calling account and its settings: tracking (off by default), where an unsubscribe
//! reaches (the list, or the whole account), whether tracking IPs are truncated, how long
//! records are kept (retention), whether a deletion is pending, and whether the operator
//! suspended the account or limits what it sends.

use actix_web::{HttpResponse, get, patch, web};
use mailroom_domain::accounts::{
    Account, AccountSettings, AccountStatus, Scope, SendingLimits, UnsubscribeScope,
};
use mailroom_domain::audit::AuditRecord;
use mailroom_domain::retention::{RetentionChange, RetentionPolicy};
use mailroom_domain::{Id, Timestamp};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Principal;
use crate::extract::ApiJson;
use crate::problem::ApiError;
use crate::state::AppState;

#[derive(Serialize, ToSchema)]
pub struct AccountView {
    pub id: Id,
    pub name: String,
    /// Opens and clicks are tracked (only for contacts whose `tracking` consent is granted,
    /// and only in mail that asks for it). Default `false`.
    pub tracking_enabled: bool,
    /// `list`: an unsubscribe leaves the list the email was sent for (default). `account`:
    /// it also suppresses the address for all of the account's marketing mail.
    pub unsubscribe_scope: UnsubscribeScope,
    /// Tracking events keep IPs truncated (IPv4 /24, IPv6 /48).
    pub truncate_ips: bool,
    /// Until when the operator's support staff may read this account's lists and
    /// contacts (`null`: no access). Every support read is in the audit log.
    pub support_access_until: Option<Timestamp>,
    /// How many days each kind of record is kept; the hourly purge removes what is older.
    pub retention: RetentionPolicy,
    /// When the account asked to be deleted (`null`: no deletion pending).
    pub deletion_requested_at: Option<Timestamp>,
    /// When the account and everything in it will be erased, unless the deletion is
    /// cancelled before (`DELETE /v1/account/deletion`). While it is pending, nothing is
    /// sent.
    pub deletion_due_at: Option<Timestamp>,
    /// `active`, or `suspended` by the operator: a suspended account sends nothing (sends
    /// are refused with `account_suspended`, campaigns pause, queued transactional mail
    /// waits) while reads, exports and webhooks go on.
    pub status: AccountStatus,
    /// Why the operator suspended the account (`null` when active).
    pub suspended_reason: Option<String>,
    /// Since when the account is suspended (`null` when active).
    pub suspended_at: Option<Timestamp>,
    /// The sending limits the account is held to (`null`: unlimited); set by the operator.
    pub sending_limits: SendingLimits,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl AccountView {
    /// The account as its owner sees it, with the limits it is held to (its own, or the
    /// installation's `defaults`).
    pub fn new(a: Account, defaults: &SendingLimits) -> Result<Self, ApiError> {
        Ok(AccountView {
            status: a.status()?,
            sending_limits: SendingLimits::of(&a, defaults),
            suspended_reason: a.suspended_reason.clone(),
            suspended_at: a.suspended_at,
            unsubscribe_scope: a.unsubscribe_scope(),
            retention: a.retention(),
            deletion_requested_at: a.deletion_requested_at,
            deletion_due_at: a.deletion_due_at,
            id: a.id,
            name: a.name,
            tracking_enabled: a.tracking_enabled,
            truncate_ips: a.truncate_ips,
            support_access_until: a.support_access_until,
            created_at: a.created_at,
            updated_at: a.updated_at,
        })
    }
}

/// Settings to change; absent fields stay as they are.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountUpdate {
    /// 1–200 characters, not blank.
    #[schema(min_length = 1, max_length = 200)]
    pub name: Option<String>,
    pub tracking_enabled: Option<bool>,
    pub unsubscribe_scope: Option<UnsubscribeScope>,
    pub truncate_ips: Option<bool>,
    /// Grants the operator's support staff read access to lists and contacts until this
    /// time (at most 30 days ahead); `null` withdraws the grant.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub support_access_until: Option<Option<Timestamp>>,
    /// Days to keep each kind of record (1–3650); settings left out stay as they are.
    pub retention: Option<RetentionChange>,
}

fn double_option<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<Timestamp>>, D::Error> {
    Option::<Timestamp>::deserialize(d).map(Some)
}

/// The calling account and its settings.
#[utoipa::path(
    tag = "account",
    responses((status = 200, description = "The account", body = AccountView))
)]
#[get("/account")]
pub async fn get_account(
    principal: Principal,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::AccountRead)?;
    let id = principal.account_id;
    let account = state.db(move |conn| Account::find(conn, id)).await?;
    let defaults = &state.settings.operator.default_limits;
    Ok(HttpResponse::Ok().json(AccountView::new(account, defaults)?))
}

/// Changes the account's settings.
#[utoipa::path(
    tag = "account",
    request_body = AccountUpdate,
    responses((status = 200, description = "The account as it is now", body = AccountView))
)]
#[patch("/account")]
pub async fn update_account(
    principal: Principal,
    state: web::Data<AppState>,
    body: ApiJson<AccountUpdate>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::AccountWrite)?;
    let body = body.0;
    let change = AccountSettings {
        name: body.name,
        tracking_enabled: body.tracking_enabled,
        unsubscribe_scope: body.unsubscribe_scope,
        truncate_ips: body.truncate_ips,
        support_access_until: body.support_access_until,
        retention: body.retention,
    };
    let mut fields = Vec::new();
    for (name, set) in [
        ("name", change.name.is_some()),
        ("tracking_enabled", change.tracking_enabled.is_some()),
        ("unsubscribe_scope", change.unsubscribe_scope.is_some()),
        ("truncate_ips", change.truncate_ips.is_some()),
        (
            "support_access_until",
            change.support_access_until.is_some(),
        ),
    ] {
        if set {
            fields.push(name);
        }
    }
    if let Some(retention) = &change.retention {
        fields.extend(retention.fields());
    }
    let id = principal.account_id;
    let action = if change.support_access_until.is_some() {
        "account.support_access_changed"
    } else if change.retention.is_some() {
        "account.retention_changed"
    } else {
        "account.updated"
    };
    let account = state
        .db_audited(
            &principal,
            move |_: &Account| {
                AuditRecord::new(action, "account", Some(id))
                    .with_details(serde_json::json!({ "fields": fields }))
            },
            move |conn| Account::update_settings(conn, id, &change),
        )
        .await?;
    let defaults = &state.settings.operator.default_limits;
    Ok(HttpResponse::Ok().json(AccountView::new(account, defaults)?))
}
