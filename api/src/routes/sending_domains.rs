//! Sending domains: the domains an account sends from, the DNS records that prove them and
//! carry their DKIM keys, and checking those records.

use actix_web::{HttpResponse, delete, get, patch, post, web};
use mailroom_domain::accounts::Scope;
use mailroom_domain::audit::AuditRecord;
use mailroom_domain::pagination::Page;
use mailroom_domain::sending_domains::{
    CheckedRecord, DkimAlgorithm, DnsServers, DomainStatus, NewSendingDomain, RecordPurpose,
    RecordState, SendingDomain, check_domain,
};
use mailroom_domain::{Id, Timestamp};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::api_keys::PageQuery;
use crate::auth::Principal;
use crate::extract::ApiJson;
use crate::problem::ApiError;
use crate::state::AppState;

/// A DNS record to publish, with what the last check found there.
#[derive(Serialize, ToSchema)]
pub struct DnsRecordView {
    pub purpose: RecordPurpose,
    /// `TXT` or `CNAME`.
    #[serde(rename = "type")]
    #[schema(example = "TXT")]
    pub record_type: String,
    /// The fully qualified name to publish it at.
    #[schema(example = "mailroom1a2b3c._domainkey.example.com")]
    pub name: String,
    /// The value to publish (a TXT record's text, without quotes; a CNAME's target).
    pub value: String,
    /// Whether the domain's verification needs it (ownership and DKIM); the others are
    /// advice a receiver rewards (SPF, DMARC, the return path).
    pub required: bool,
    /// What the last check found: `unchecked` before the first.
    pub state: RecordState,
    /// The values found at `name` by the last check.
    pub found: Vec<String>,
    /// Why the last lookup failed (a timeout, a server failure), if it did.
    pub error: Option<String>,
}

impl From<CheckedRecord> for DnsRecordView {
    fn from(c: CheckedRecord) -> Self {
        DnsRecordView {
            purpose: c.record.purpose,
            record_type: c.record.record_type,
            name: c.record.name,
            value: c.record.value,
            required: c.record.required,
            state: c.state,
            found: c.found,
            error: c.error,
        }
    }
}

/// A sending domain. Its DKIM private key never leaves Mailroom.
#[derive(Serialize, ToSchema)]
pub struct SendingDomainView {
    pub id: Id,
    /// Lower-case ASCII (an internationalised name in its `xn--` form).
    pub domain: String,
    /// `pending` until checked; `verified` while the ownership token and DKIM key are
    /// published; `failed` when the last check did not find them.
    pub status: DomainStatus,
    pub dkim_algorithm: DkimAlgorithm,
    /// The DKIM selector (`s=`) Mailroom signs with.
    pub dkim_selector: String,
    /// The sender name of mail from the domain whose campaign or message names none.
    pub default_from_name: Option<String>,
    /// The Reply-To of mail from the domain whose campaign or message sets none.
    pub default_reply_to: Option<String>,
    /// The records to publish, each with what the last check found.
    pub records: Vec<DnsRecordView>,
    /// When the records were last checked.
    pub checked_at: Option<Timestamp>,
    /// When the domain was last found verified, after not being so.
    pub verified_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl SendingDomainView {
    fn of(domain: &SendingDomain, state: &AppState) -> Result<Self, ApiError> {
        Ok(SendingDomainView {
            id: domain.id,
            domain: domain.domain.clone(),
            status: domain.status()?,
            dkim_algorithm: domain.algorithm()?,
            dkim_selector: domain.dkim_selector.clone(),
            default_from_name: domain.default_from_name.clone(),
            default_reply_to: domain.default_reply_to.clone(),
            records: domain
                .checked_records(&state.settings.sending_domains)
                .into_iter()
                .map(DnsRecordView::from)
                .collect(),
            checked_at: domain.checked_at,
            verified_at: domain.verified_at,
            created_at: domain.created_at,
            updated_at: domain.updated_at,
        })
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSendingDomain {
    /// The domain mail will be sent from (`news.example.com`); its subdomains are covered
    /// too. Unicode names are stored in their `xn--` form.
    #[schema(min_length = 3, max_length = 200, example = "example.com")]
    pub domain: String,
    /// The DKIM key type: `rsa` (2048 bits, the default, verified everywhere) or `ed25519`.
    pub dkim_algorithm: Option<DkimAlgorithm>,
}

/// Adds a sending domain: Mailroom makes its DKIM key pair and answers the records to
/// publish. Publish them, then verify.
#[utoipa::path(
    tag = "sending_domains",
    request_body = CreateSendingDomain,
    responses(
        (status = 201, description = "Domain added; publish its records", body = SendingDomainView),
        (status = 409, description = "The account already has this domain (`conflict`)"),
    )
)]
#[post("/sending-domains")]
pub async fn create_sending_domain(
    principal: Principal,
    state: web::Data<AppState>,
    body: ApiJson<CreateSendingDomain>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::SendingDomainsWrite)?;
    let CreateSendingDomain {
        domain,
        dkim_algorithm,
    } = body.0;
    let new = NewSendingDomain {
        domain,
        dkim_algorithm: dkim_algorithm.unwrap_or(DkimAlgorithm::Rsa),
    };
    let account = principal.account_id;
    let sealer = state.secret_box.clone();
    let made = state
        .db_audited(
            &principal,
            |d: &SendingDomain| {
                AuditRecord::new("sending_domain.created", "sending_domain", Some(d.id))
                    .with_details(serde_json::json!({"domain": d.domain}))
            },
            move |conn| SendingDomain::create(conn, account, new, &sealer),
        )
        .await?;
    Ok(HttpResponse::Created().json(SendingDomainView::of(&made, &state)?))
}

/// Lists the account's sending domains, oldest first.
#[utoipa::path(tag = "sending_domains", params(PageQuery), responses((status = 200, description = "A page of sending domains", body = Page<SendingDomainView>)))]
#[get("/sending-domains")]
pub async fn list_sending_domains(
    principal: Principal,
    state: web::Data<AppState>,
    query: crate::extract::ApiQuery<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::SendingDomainsRead)?;
    let page = query.page()?;
    let account = principal.account_id;
    let domains = state
        .db(move |conn| SendingDomain::list(conn, account, &page))
        .await?;
    let views = domains
        .data
        .iter()
        .map(|d| SendingDomainView::of(d, &state))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(HttpResponse::Ok().json(Page {
        data: views,
        next_cursor: domains.next_cursor,
    }))
}

/// Shows a sending domain, its records and what the last check found.
#[utoipa::path(tag = "sending_domains", params(("id" = Id, Path)), responses((status = 200, description = "The sending domain", body = SendingDomainView)))]
#[get("/sending-domains/{id}")]
pub async fn get_sending_domain(
    principal: Principal,
    state: web::Data<AppState>,
    id: web::Path<Id>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::SendingDomainsRead)?;
    let (account, id) = (principal.account_id, id.into_inner());
    let domain = state
        .db(move |conn| SendingDomain::find(conn, account, id))
        .await?;
    Ok(HttpResponse::Ok().json(SendingDomainView::of(&domain, &state)?))
}

/// Deletes a sending domain and its DKIM key. Mail from it is refused from then on.
#[utoipa::path(tag = "sending_domains", params(("id" = Id, Path)), responses((status = 204, description = "Domain and key deleted")))]
#[delete("/sending-domains/{id}")]
pub async fn delete_sending_domain(
    principal: Principal,
    state: web::Data<AppState>,
    id: web::Path<Id>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::SendingDomainsWrite)?;
    let (account, id) = (principal.account_id, id.into_inner());
    state
        .db_audited(
            &principal,
            move |_: &()| AuditRecord::new("sending_domain.deleted", "sending_domain", Some(id)),
            move |conn| SendingDomain::delete(conn, account, id),
        )
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Checks the domain's records in DNS now and answers what was found, record by record.
/// The domain is `verified` when its ownership token and DKIM key are published as asked.
/// A lookup DNS cannot answer (a timeout, a server failure) says nothing about what is
/// published: the check is not recorded and the domain keeps its status (503).
#[utoipa::path(tag = "sending_domains", params(("id" = Id, Path)), responses(
    (status = 200, description = "The domain with what the check found", body = SendingDomainView),
    (status = 503, description = "A required record could not be looked up (DNS timed out or failed; `service_unavailable`, `detail` says which): nothing is recorded and the domain keeps its status; retry after `Retry-After` seconds, or the database is unreachable"),
))]
#[post("/sending-domains/{id}/verify")]
pub async fn verify_sending_domain(
    principal: Principal,
    state: web::Data<AppState>,
    id: web::Path<Id>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::SendingDomainsWrite)?;
    let (account, id) = (principal.account_id, id.into_inner());
    let domain = state
        .db(move |conn| SendingDomain::find(conn, account, id))
        .await?;
    let servers = DnsServers(state.settings.sending_domains.dns_servers.clone());
    let check = check_domain(&servers, domain.records(&state.settings.sending_domains)).await?;
    if let Some(error) = check.lookup_failure() {
        return Err(ApiError::DnsUnavailable(error.to_owned()));
    }
    let was = domain.status()?;
    let checked = state
        .db_audited(
            &principal,
            move |d: &SendingDomain| {
                AuditRecord::new("sending_domain.checked", "sending_domain", Some(d.id))
                    .with_details(serde_json::json!({"from": was.as_str(), "to": d.status}))
            },
            move |conn| SendingDomain::record_check(conn, account, id, &check),
        )
        .await?;
    Ok(HttpResponse::Ok().json(SendingDomainView::of(&checked, &state)?))
}

/// Starts a key rotation: makes a new DKIM key pair (same type) under a new selector and
/// answers it as the `dkim_next` record. Publish it beside the current key and verify:
/// from the first check that finds it, Mailroom signs with it, and the old key becomes the
/// `dkim_previous` record — keep it published a few days (mail in transit was signed with
/// it), then remove it. Rotating again before the switch replaces the pending key.
#[utoipa::path(tag = "sending_domains", params(("id" = Id, Path)), responses((status = 200, description = "The domain with its next key to publish", body = SendingDomainView)))]
#[post("/sending-domains/{id}/rotate-dkim")]
pub async fn rotate_sending_domain_dkim(
    principal: Principal,
    state: web::Data<AppState>,
    id: web::Path<Id>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::SendingDomainsWrite)?;
    let (account, id) = (principal.account_id, id.into_inner());
    let sealer = state.secret_box.clone();
    let rotated = state
        .db_audited(
            &principal,
            move |d: &SendingDomain| {
                AuditRecord::new("sending_domain.dkim_rotated", "sending_domain", Some(d.id))
                    .with_details(serde_json::json!({"next_selector": d.next_dkim_selector}))
            },
            move |conn| SendingDomain::rotate_dkim(conn, account, id, None, &sealer),
        )
        .await?;
    Ok(HttpResponse::Ok().json(SendingDomainView::of(&rotated, &state)?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateSendingDomain {
    /// The sender name of mail from the domain (or its subdomains) whose campaign or
    /// message names none; `null` clears it.
    #[serde(default, deserialize_with = "super::campaigns::double_option")]
    #[schema(value_type = Option<String>, max_length = 200, pattern = r"^[^\u0000-\u001f\u007f-\u009f]*$")]
    pub default_from_name: Option<Option<String>>,
    /// The Reply-To of such mail that sets none; `null` clears it.
    #[serde(default, deserialize_with = "super::campaigns::double_option")]
    #[schema(value_type = Option<String>, format = Email, max_length = 254)]
    pub default_reply_to: Option<Option<String>>,
}

/// Sets the domain's defaults for mail sent from it: a sender name and a Reply-To, used
/// where a campaign or message gives none.
#[utoipa::path(tag = "sending_domains", params(("id" = Id, Path)), request_body = UpdateSendingDomain, responses((status = 200, description = "The updated domain", body = SendingDomainView)))]
#[patch("/sending-domains/{id}")]
pub async fn update_sending_domain(
    principal: Principal,
    state: web::Data<AppState>,
    id: web::Path<Id>,
    body: ApiJson<UpdateSendingDomain>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::SendingDomainsWrite)?;
    let UpdateSendingDomain {
        default_from_name,
        default_reply_to,
    } = body.0;
    let (account, id) = (principal.account_id, id.into_inner());
    let domain = state
        .db_audited(
            &principal,
            move |_: &SendingDomain| {
                AuditRecord::new("sending_domain.updated", "sending_domain", Some(id))
            },
            move |conn| {
                SendingDomain::set_defaults(conn, account, id, default_from_name, default_reply_to)
            },
        )
        .await?;
    Ok(HttpResponse::Ok().json(SendingDomainView::of(&domain, &state)?))
}
