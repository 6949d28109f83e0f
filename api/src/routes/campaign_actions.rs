//! What can be done to a campaign: preview, test, schedule, send, cancel, pause, resume.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, post, web};
use mailroom_domain::accounts::{Account, Scope};
use mailroom_domain::campaigns::Campaign;
use mailroom_domain::contacts::{Contact, EmailAddress};
use mailroom_domain::lists::MailingList;
use mailroom_domain::messages::{MessageHeader, MessageKind, NewMessage, outbox};
use mailroom_domain::rendering::{
    self, Address, CampaignVars, ContactVars, ListUnsubscribe, ListVars, MimeInput, RenderContext,
    RenderFailure,
};
use mailroom_domain::sending_domains::SenderPolicy;
use mailroom_domain::{Error, Id, Timestamp};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::campaigns::CampaignView;
use crate::auth::Principal;
use crate::extract::ApiJson;
use crate::idempotency::{self, Answer};
use crate::problem::ApiError;
use crate::state::AppState;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewRequest {
    /// The contact to render the campaign for.
    pub contact_id: Id,
}

#[derive(Serialize, ToSchema)]
pub struct Preview {
    pub subject: String,
    pub html: Option<String>,
    pub text: String,
    /// The top-level headers the message would carry, in order.
    pub headers: Vec<MessageHeader>,
}

/// Renders the campaign for one contact, exactly as it would be sent (the unsubscribe link
/// is a placeholder).
#[utoipa::path(
    tag = "campaigns",
    params(("id" = Id, Path)),
    request_body = PreviewRequest,
    responses((status = 200, description = "The rendered message", body = Preview),
        (status = 422, description = "Invalid request or a template that fails for this contact (`validation_failed`), or the rendering budget ran out (`render_budget_exceeded`)", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is unreachable, or the server is too busy rendering other requests to start this one (`service_unavailable`); retry after `Retry-After` seconds", body = crate::problem::Problem, content_type = "application/problem+json"))
)]
#[post("/campaigns/{id}/preview")]
pub async fn preview_campaign(
    principal: Principal,
    state: web::Data<AppState>,
    id: web::Path<Id>,
    body: ApiJson<PreviewRequest>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::CampaignsRead)?;
    principal.require(Scope::ContactsRead)?;
    let (account, id, contact_id) = (principal.account_id, id.into_inner(), body.0.contact_id);
    let settings = state.settings.clone();
    let unsubscribe_url = format!("{}/u/preview", settings.public_url);
    let unsubscribe = unsubscribe_url.clone();
    let (campaign, contact, context) = state
        .db(move |conn| {
            let campaign = Campaign::find(conn, account, id)?;
            let contact = Contact::find(conn, account, contact_id)?;
            let list = campaign
                .list_ids()
                .first()
                .and_then(|l| MailingList::find(conn, account, *l).ok());
            let context = RenderContext {
                contact: ContactVars {
                    properties: contact.properties_map(),
                    email: contact.email.clone(),
                    name: contact.name.clone(),
                },
                list: list.map(|l| ListVars { name: l.name }),
                campaign: Some(CampaignVars {
                    name: campaign.name.clone(),
                }),
                unsubscribe_url: Some(unsubscribe),
                variables: Default::default(),
            };
            Ok((campaign, contact, context))
        })
        .await?;
    let preview = state
        .renderer
        .run(move |budget| {
            let rendered = rendering::render_within(
                &campaign.template(),
                &context,
                &rendering::RenderLimits::default(),
                rendering::MessageKind::Campaign,
                budget,
            )
            .map_err(preview_error)?;
            let message_id = Id::new();
            let built = rendering::build_mime(&MimeInput {
                message_id,
                from: Address {
                    email: campaign.from_email.clone(),
                    name: campaign.from_name.clone(),
                },
                to: Address {
                    email: contact.email.clone(),
                    name: contact.name.clone(),
                },
                reply_to: campaign
                    .reply_to
                    .clone()
                    .map(|email| Address { email, name: None }),
                rendered: &rendered,
                list_unsubscribe: Some(ListUnsubscribe {
                    https_url: unsubscribe_url,
                    mailto: settings.delivery.unsubscribe_mailto.clone(),
                }),
                envelope_from: rendering::verp_address(
                    message_id,
                    &settings.delivery.bounce_domain,
                ),
                extra_headers: Vec::new(),
                message_id_domain: settings.delivery.bounce_domain.clone(),
            })
            .map_err(|e| ApiError::Internal(format!("building the preview failed: {e}")))?;
            Ok::<_, ApiError>(Preview {
                subject: rendered.subject,
                html: rendered.html,
                text: rendered.text,
                headers: MessageHeader::from_pairs(built.headers),
            })
        })
        .await??;
    Ok(HttpResponse::Ok().json(preview))
}

/// A preview that did not render: the template's own error, or the request's budget.
fn preview_error(failure: RenderFailure) -> ApiError {
    match failure {
        RenderFailure::Template(e) => ApiError::from(Error::invalid(
            e.field.clone(),
            format!(
                "template error{}: {}",
                e.line.map(|l| format!(" (line {l})")).unwrap_or_default(),
                e.message
            ),
        )),
        RenderFailure::Budget(e) => ApiError::RenderBudget {
            field: e.part.clone(),
            detail: e.to_string(),
        },
    }
}

/// An email address (at most 254 characters).
#[derive(ToSchema)]
#[schema(format = Email, max_length = 254)]
#[allow(dead_code)] // a schema only: never built
pub struct EmailAddressText(String);

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestRequest {
    /// 1 to 10 addresses; each gets the campaign with `[TEST]` before its subject.
    #[schema(min_items = 1, max_items = 10, value_type = Vec<EmailAddressText>, example = json!(["ada@example.com"]))]
    pub emails: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct TestMessage {
    pub email: String,
    pub message_id: Id,
}

#[derive(Serialize, ToSchema)]
pub struct TestAccepted {
    pub messages: Vec<TestMessage>,
}

/// Sends test copies now, ahead of any campaign work.
#[utoipa::path(
    tag = "campaigns",
    params(("id" = Id, Path), ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry of this request return the first answer instead of doing the work twice")),
    request_body = TestRequest,
    responses(
        (status = 202, description = "Test messages queued", body = TestAccepted),
        (status = 422, description = "Invalid input (`validation_failed`), or the campaign's `from_email` is on a domain the account has not verified while a relay is configured (`sender_domain_unverified`, `field` names it)", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 403, description = "The credentials lack a needed scope (`forbidden`), or the operator suspended the account (`account_suspended`, with the reason in `detail`)", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 409, description = "A request with this Idempotency-Key is still being processed", body = crate::problem::Problem, content_type = "application/problem+json"),
    )
)]
#[post("/campaigns/{id}/test")]
pub async fn test_campaign(
    req: HttpRequest,
    principal: Principal,
    state: web::Data<AppState>,
    id: web::Path<Id>,
    body: ApiJson<TestRequest>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::CampaignsWrite)?;
    let ApiJson(TestRequest { emails }, digest) = body;
    if emails.is_empty() || emails.len() > 10 {
        return Err(ApiError::invalid("emails", "must hold 1 to 10 addresses"));
    }
    let mut addresses = Vec::new();
    for (i, raw) in emails.iter().enumerate() {
        addresses.push(
            EmailAddress::parse(raw)
                .map_err(|e| ApiError::invalid(format!("emails[{i}]"), e.to_string()))?,
        );
    }
    let (account, id) = (principal.account_id, id.into_inner());
    let policy = SenderPolicy::of(&state.settings);
    idempotency::once(&state, &req, &principal, &digest, || async {
        let messages = state
            .db(move |conn| {
                conn.write_transaction(|conn| {
                    let campaign = Campaign::find(conn, account, id)?;
                    super::campaigns::check_sender(conn, policy, &campaign)?;
                    Account::ensure_may_send(conn, account)?;
                    let mut queued = Vec::new();
                    for email in addresses {
                        let message = outbox::queue_urgent(
                            conn,
                            account,
                            MessageKind::Test,
                            NewMessage {
                                to_email: email.as_str().to_owned(),
                                payload: Some(serde_json::json!({"campaign_id": id})),
                                ..NewMessage::default()
                            },
                        )?;
                        queued.push(TestMessage {
                            email: email.into_inner(),
                            message_id: message.id,
                        });
                    }
                    Ok(queued)
                })
            })
            .await?;
        Answer::new(StatusCode::ACCEPTED, &TestAccepted { messages })
    })
    .await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleRequest {
    /// When to start sending (RFC 3339, in the future).
    pub send_at: Timestamp,
}

/// Schedules a draft (or reschedules a scheduled campaign).
#[utoipa::path(
    tag = "campaigns",
    params(("id" = Id, Path)),
    request_body = ScheduleRequest,
    responses(
        (status = 200, description = "Scheduled", body = CampaignView),
        (status = 422, description = "Invalid input (`validation_failed`), or the campaign's `from_email` is on a domain the account has not verified while a relay is configured (`sender_domain_unverified`, `field` names it)", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 403, description = "The credentials lack a needed scope (`forbidden`), or the operator suspended the account (`account_suspended`, with the reason in `detail`)", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not a draft or scheduled campaign", body = crate::problem::Problem, content_type = "application/problem+json"),
    )
)]
#[post("/campaigns/{id}/schedule")]
pub async fn schedule_campaign(
    principal: Principal,
    state: web::Data<AppState>,
    id: web::Path<Id>,
    body: ApiJson<ScheduleRequest>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::CampaignsWrite)?;
    let (account, id, send_at) = (principal.account_id, id.into_inner(), body.0.send_at);
    let policy = SenderPolicy::of(&state.settings);
    let view = state
        .db(move |conn| {
            let campaign = Campaign::find(conn, account, id)?;
            super::campaigns::check_sender(conn, policy, &campaign)?;
            Campaign::schedule(conn, account, id, send_at).and_then(|c| CampaignView::load(conn, c))
        })
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Starts sending now. Every subscribed member of the campaign's lists with marketing
/// consent, not suppressed, gets exactly one message.
#[utoipa::path(
    tag = "campaigns",
    params(("id" = Id, Path), ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry of this request return the first answer instead of doing the work twice")),
    responses(
        (status = 202, description = "Sending", body = CampaignView),
        (status = 422, description = "Invalid input (`validation_failed`), or the campaign's `from_email` is on a domain the account has not verified while a relay is configured (`sender_domain_unverified`, `field` names it)", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 403, description = "The credentials lack a needed scope (`forbidden`), or the operator suspended the account (`account_suspended`, with the reason in `detail`)", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already sent, sending or cancelled", body = crate::problem::Problem, content_type = "application/problem+json"),
    )
)]
#[post("/campaigns/{id}/send")]
pub async fn send_campaign(
    req: HttpRequest,
    principal: Principal,
    state: web::Data<AppState>,
    id: web::Path<Id>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::CampaignsWrite)?;
    let (account, id) = (principal.account_id, id.into_inner());
    let policy = SenderPolicy::of(&state.settings);
    let digest = crate::extract::BodyDigest::of(b"");
    idempotency::once(&state, &req, &principal, &digest, || async {
        let view = state
            .db(move |conn| {
                let campaign = Campaign::find(conn, account, id)?;
                super::campaigns::check_sender(conn, policy, &campaign)?;
                Campaign::send(conn, account, id).and_then(|c| CampaignView::load(conn, c))
            })
            .await?;
        Answer::new(StatusCode::ACCEPTED, &view)
    })
    .await
}

macro_rules! lifecycle_action {
    ($fn_name:ident, $path:literal, $domain:ident, $summary:literal, $ok:literal, $forbidden:literal) => {
        #[doc = $summary]
        #[utoipa::path(
            tag = "campaigns",
            params(("id" = Id, Path)),
            responses(
                (status = 200, description = $ok, body = CampaignView),
                (status = 403, description = $forbidden, body = crate::problem::Problem, content_type = "application/problem+json"),
                (status = 409, description = "Not possible in the campaign's current status", body = crate::problem::Problem, content_type = "application/problem+json"),
            )
        )]
        #[post($path)]
        pub async fn $fn_name(principal: Principal, state: web::Data<AppState>, id: web::Path<Id>) -> Result<HttpResponse, ApiError> {
            principal.require(Scope::CampaignsWrite)?;
            let (account, id) = (principal.account_id, id.into_inner());
            let view = state.db(move |conn| Campaign::$domain(conn, account, id).and_then(|c| CampaignView::load(conn, c))).await?;
            Ok(HttpResponse::Ok().json(view))
        }
    };
}

lifecycle_action!(
    cancel_campaign,
    "/campaigns/{id}/cancel",
    cancel,
    "Cancels a scheduled, sending or paused campaign; messages not yet sent are skipped.",
    "Cancelled",
    "The credentials lack the `campaigns:write` scope (`forbidden`)"
);
lifecycle_action!(
    pause_campaign,
    "/campaigns/{id}/pause",
    pause,
    "Pauses a sending campaign; nothing more is sent until it is resumed.",
    "Paused",
    "The credentials lack the `campaigns:write` scope (`forbidden`)"
);
lifecycle_action!(
    resume_campaign,
    "/campaigns/{id}/resume",
    resume,
    "Resumes a paused campaign (paused by request or by relay failures).",
    "Sending again",
    "The credentials lack the `campaigns:write` scope (`forbidden`), or the operator suspended the account (`account_suspended`, with the reason in `detail`): a campaign its suspension paused continues when the operator resumes the account"
);
