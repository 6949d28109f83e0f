//! Operator endpoints over the accounts the installation hosts: list and inspect them
//! (counts and sending usage, never a contact's data), set their sending limits, suspend
//! and resume them. Every action on an account, reads included, is written to the
//! account's audit log as the operator's (`GET /v1/admin/audit-events` reads them all).

use actix_web::{HttpResponse, get, patch, post, web};
use mailroom_domain::accounts::quota::{self, MAX_LIMIT, WindowUsage};
use mailroom_domain::accounts::usage::{self, UsagePeriods};
use mailroom_domain::accounts::{
    Account, AccountStatus, LimitSetting, MAX_REASON_CHARS, SendingLimits, SuspendedBy,
};
use mailroom_domain::audit::{self, AuditRecord};
use mailroom_domain::pagination::{Page, PageRequest};
use mailroom_domain::store::DbConnection;
use mailroom_domain::{Error, Id, Timestamp};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Operator;
use crate::extract::{ApiJson, ApiQuery};
use crate::problem::ApiError;
use crate::state::AppState;

/// The current hour's and day's sending windows.
#[derive(Serialize, ToSchema)]
pub struct SendingWindows {
    pub hour: WindowUsage,
    pub day: WindowUsage,
}

/// An account as the operator sees it.
#[derive(Serialize, ToSchema)]
pub struct AdminAccountView {
    pub id: Id,
    pub name: String,
    pub status: AccountStatus,
    /// Why the account is suspended (`null` when active).
    pub suspended_reason: Option<String>,
    pub suspended_at: Option<Timestamp>,
    /// Who suspended it: the operator, or the automatic bounce and complaint protection.
    pub suspended_by: Option<SuspendedBy>,
    pub created_at: Timestamp,
    /// When a deletion the account asked for is due (`null`: none pending).
    pub deletion_due_at: Option<Timestamp>,
    /// How many contacts the account holds.
    pub contacts: i64,
    /// How many lists the account holds.
    pub lists: i64,
    /// The account's own limits: a number, `"unlimited"`, or `null` (the installation's
    /// default applies).
    pub limits: OwnLimits,
    /// The limits it is held to: its own, or the installation's defaults.
    pub effective_limits: SendingLimits,
    /// Messages handed to delivery in the current hour and UTC day.
    pub windows: SendingWindows,
    /// Sent, bounced, complained and blocked over the last 24 hours and 30 days.
    pub usage: UsagePeriods,
}

impl AdminAccountView {
    fn load(
        conn: &mut DbConnection,
        account: Account,
        defaults: &SendingLimits,
    ) -> mailroom_domain::Result<Self> {
        let now = mailroom_domain::clock::now().0;
        let (contacts, lists) = usage::holdings(conn, account.id)?;
        let effective = SendingLimits::of(&account, defaults);
        let (hour, day) = quota::usage(conn, account.id, &effective, now)?;
        let own = OwnLimits::of(&account);
        Ok(AdminAccountView {
            status: account.status()?,
            suspended_by: match account.suspended_by.as_deref() {
                Some("operator") => Some(SuspendedBy::Operator),
                Some("automatic") => Some(SuspendedBy::Automatic),
                _ => None,
            },
            usage: usage::usage_periods(conn, account.id, now)?,
            windows: SendingWindows { hour, day },
            limits: own,
            effective_limits: effective,
            contacts,
            lists,
            id: account.id,
            name: account.name,
            suspended_reason: account.suspended_reason,
            suspended_at: account.suspended_at,
            created_at: account.created_at,
            deletion_due_at: account.deletion_due_at,
        })
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AccountsQuery {
    /// Page size, 1–500 (default 50).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Only accounts of this status.
    #[param(inline)]
    pub status: Option<AccountStatus>,
}

/// Lists the installation's accounts, oldest first, with their usage. Each account listed
/// gets an `account.listed` entry in its audit log (and so in the operator's): the
/// operator read its usage.
#[utoipa::path(
    tag = "admin",
    params(AccountsQuery),
    responses((status = 200, description = "A page of accounts", body = Page<AdminAccountView>)),
    security(("admin_token" = []))
)]
#[get("/admin/accounts")]
pub async fn list_admin_accounts(
    operator: Operator,
    state: web::Data<AppState>,
    query: ApiQuery<AccountsQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = PageRequest::parse(query.limit, query.cursor.as_deref())?;
    let status = query.status;
    let defaults = state.settings.operator.default_limits;
    let actor = operator.actor();
    let page = state
        .db(move |conn| {
            conn.write_transaction(|conn| {
                let accounts = usage::list_accounts(conn, status, &page)?;
                let mut views = Vec::with_capacity(accounts.data.len());
                for account in accounts.data {
                    let id = account.id;
                    views.push(AdminAccountView::load(conn, account, &defaults)?);
                    let mut record = AuditRecord::new("account.listed", "account", Some(id));
                    record.details = status.map(|s| serde_json::json!({ "status": s }));
                    audit::record(conn, id, &actor, record)?;
                }
                Ok::<_, Error>(Page {
                    data: views,
                    next_cursor: accounts.next_cursor,
                })
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

/// One account, with its usage.
#[utoipa::path(
    tag = "admin",
    params(("id" = Id, Path)),
    responses((status = 200, description = "The account", body = AdminAccountView)),
    security(("admin_token" = []))
)]
#[get("/admin/accounts/{id}")]
pub async fn get_admin_account(
    operator: Operator,
    state: web::Data<AppState>,
    id: web::Path<Id>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let view = audited(
        &state,
        &operator,
        id,
        "account.read",
        None,
        move |conn, defaults| {
            let account = Account::find(conn, id)?;
            AdminAccountView::load(conn, account, defaults)
        },
    )
    .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// One limit an account has of its own: a number of messages (1–100000000), or
/// `"unlimited"` (no limit, whatever the installation's default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnLimit {
    Messages(i64),
    Unlimited,
}

const UNLIMITED: &str = "unlimited";

impl Serialize for OwnLimit {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            OwnLimit::Messages(n) => s.serialize_i64(*n),
            OwnLimit::Unlimited => s.serialize_str(UNLIMITED),
        }
    }
}

impl<'de> Deserialize<'de> for OwnLimit {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Limit;
        impl serde::de::Visitor<'_> for Limit {
            type Value = OwnLimit;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                write!(
                    f,
                    "a number of messages (1 to {MAX_LIMIT}), \"{UNLIMITED}\" or null"
                )
            }
            fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<OwnLimit, E> {
                Ok(OwnLimit::Messages(n))
            }
            fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<OwnLimit, E> {
                Ok(OwnLimit::Messages(i64::try_from(n).unwrap_or(i64::MAX)))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<OwnLimit, E> {
                if v == UNLIMITED {
                    Ok(OwnLimit::Unlimited)
                } else {
                    Err(E::invalid_value(serde::de::Unexpected::Str(v), &self))
                }
            }
        }
        d.deserialize_any(Limit)
    }
}

// Written by hand: a generated SDK reads it as "an integer or the string `unlimited`".
impl utoipa::PartialSchema for OwnLimit {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
        OneOfBuilder::new()
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                        utoipa::openapi::KnownFormat::Int32,
                    )))
                    .minimum(Some(1))
                    .maximum(Some(MAX_LIMIT)),
            )
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some(["unlimited"])),
            )
            .description(Some(
                "A number of messages (1–100000000), or `unlimited`: no limit, whatever the installation's default.",
            ))
            .into()
    }
}

impl ToSchema for OwnLimit {}

impl OwnLimit {
    fn of(setting: LimitSetting) -> Option<OwnLimit> {
        match setting {
            LimitSetting::Default => None,
            LimitSetting::Unlimited => Some(OwnLimit::Unlimited),
            LimitSetting::AtMost(n) => Some(OwnLimit::Messages(i64::from(n))),
        }
    }

    /// `None` (JSON `null`): the installation's default.
    fn setting(limit: Option<OwnLimit>) -> Option<LimitSetting> {
        Some(match limit {
            None => LimitSetting::Default,
            Some(OwnLimit::Unlimited) => LimitSetting::Unlimited,
            Some(OwnLimit::Messages(n)) => LimitSetting::AtMost(u32::try_from(n).ok()?),
        })
    }
}

/// The limits an account has of its own: a number, `"unlimited"`, or `null` (the
/// installation's default applies).
#[derive(Serialize, ToSchema)]
pub struct OwnLimits {
    pub messages_per_hour: Option<OwnLimit>,
    pub messages_per_day: Option<OwnLimit>,
}

impl OwnLimits {
    fn of(account: &Account) -> OwnLimits {
        let (hour, day) = account.limit_settings();
        OwnLimits {
            messages_per_hour: OwnLimit::of(hour),
            messages_per_day: OwnLimit::of(day),
        }
    }
}

/// Limits to set: a number (1–100000000) sets one, `"unlimited"` lifts it (whatever the
/// installation's default), `null` returns it to the installation's default, an absent
/// field stays as it is.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LimitsChange {
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<OwnLimit>)]
    pub messages_per_hour: Option<Option<OwnLimit>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<OwnLimit>)]
    pub messages_per_day: Option<Option<OwnLimit>>,
}

fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<OwnLimit>>, D::Error> {
    Option::<OwnLimit>::deserialize(d).map(Some)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdminAccountUpdate {
    #[serde(deserialize_with = "crate::extract::object")]
    pub limits: LimitsChange,
}

/// Sets an account's sending limits per hour and per UTC day.
#[utoipa::path(
    tag = "admin",
    params(("id" = Id, Path)),
    request_body = AdminAccountUpdate,
    responses((status = 200, description = "The account as it is now", body = AdminAccountView)),
    security(("admin_token" = []))
)]
#[patch("/admin/accounts/{id}")]
pub async fn update_admin_account(
    operator: Operator,
    state: web::Data<AppState>,
    id: web::Path<Id>,
    body: ApiJson<AdminAccountUpdate>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let change = body.0.limits;
    let mut fields = Vec::new();
    for (field, value) in [
        ("messages_per_hour", change.messages_per_hour),
        ("messages_per_day", change.messages_per_day),
    ] {
        if let Some(Some(OwnLimit::Messages(n))) = value
            && !(1..=i64::from(MAX_LIMIT)).contains(&n)
        {
            return Err(ApiError::invalid(
                format!("limits.{field}"),
                format!(
                    "must be from 1 to {MAX_LIMIT}, \"unlimited\", or null for the installation's default"
                ),
            ));
        }
        if value.is_some() {
            fields.push(field);
        }
    }
    let details = serde_json::json!({
        "fields": fields,
        "messages_per_hour": change.messages_per_hour,
        "messages_per_day": change.messages_per_day,
    });
    let view = audited(
        &state,
        &operator,
        id,
        "account.limits_changed",
        Some(details),
        move |conn, defaults| {
            let account = Account::set_limits(
                conn,
                id,
                change.messages_per_hour.and_then(OwnLimit::setting),
                change.messages_per_day.and_then(OwnLimit::setting),
            )?;
            AdminAccountView::load(conn, account, defaults)
        },
    )
    .await?;
    tracing::info!(account_id = %id, "account sending limits changed");
    Ok(HttpResponse::Ok().json(view))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SuspendRequest {
    /// Why (1–500 characters); the account sees it, in `GET /v1/account` and in the
    /// `account_suspended` refusals of its sends.
    #[schema(
        min_length = 1,
        max_length = 500,
        example = "spam complaints from recipients"
    )]
    pub reason: String,
}

/// Suspends an account: its sends are refused, its sending campaigns pause, its queued
/// transactional mail is held until it is resumed. Reads, exports and webhooks go on.
/// Suspending a suspended account changes nothing.
#[utoipa::path(
    tag = "admin",
    params(("id" = Id, Path)),
    request_body = SuspendRequest,
    responses((status = 200, description = "The account, suspended", body = AdminAccountView)),
    security(("admin_token" = []))
)]
#[post("/admin/accounts/{id}/suspend")]
pub async fn suspend_account(
    operator: Operator,
    state: web::Data<AppState>,
    id: web::Path<Id>,
    body: ApiJson<SuspendRequest>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let reason = body.0.reason;
    if reason.trim().is_empty() || reason.chars().count() > MAX_REASON_CHARS {
        return Err(ApiError::invalid(
            "reason",
            format!("must be 1 to {MAX_REASON_CHARS} characters, not all whitespace"),
        ));
    }
    let view = audited(
        &state,
        &operator,
        id,
        "account.suspended",
        Some(serde_json::json!({ "reason": reason })),
        move |conn, defaults| {
            let (account, _) = Account::suspend(conn, id, &reason, SuspendedBy::Operator)?;
            AdminAccountView::load(conn, account, defaults)
        },
    )
    .await?;
    tracing::warn!(account_id = %id, "account suspended by the operator");
    Ok(HttpResponse::Ok().json(view))
}

/// Lifts a suspension: the campaigns it paused continue and the held transactional mail
/// is delivered.
#[utoipa::path(
    tag = "admin",
    params(("id" = Id, Path)),
    responses(
        (status = 200, description = "The account, active again", body = AdminAccountView),
        (status = 409, description = "The account is not suspended (`conflict`)", body = crate::problem::Problem, content_type = "application/problem+json"),
    ),
    security(("admin_token" = []))
)]
#[post("/admin/accounts/{id}/resume")]
pub async fn resume_account(
    operator: Operator,
    state: web::Data<AppState>,
    id: web::Path<Id>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let view = audited(
        &state,
        &operator,
        id,
        "account.resumed",
        None,
        move |conn, defaults| {
            let account = Account::resume_sending(conn, id)?;
            AdminAccountView::load(conn, account, defaults)
        },
    )
    .await?;
    tracing::info!(account_id = %id, "account resumed by the operator");
    Ok(HttpResponse::Ok().json(view))
}

/// Runs `work` and writes the operator's audit entry about account `id` in one
/// transaction.
async fn audited<T, F>(
    state: &AppState,
    operator: &Operator,
    id: Id,
    action: &'static str,
    details: Option<serde_json::Value>,
    work: F,
) -> Result<T, ApiError>
where
    F: FnOnce(&mut DbConnection, &SendingLimits) -> mailroom_domain::Result<T> + Send + 'static,
    T: Send + 'static,
{
    let actor = operator.actor();
    let defaults = state.settings.operator.default_limits;
    state
        .db(move |conn| {
            conn.write_transaction(|conn| {
                let out = work(conn, &defaults)?;
                let mut record = AuditRecord::new(action, "account", Some(id));
                record.details = details;
                audit::record(conn, id, &actor, record)?;
                Ok::<_, Error>(out)
            })
        })
        .await
}
