//! Transactional send, in the spirit of Mailjet's Send API v3.1: several messages per
//! request, each validated and answered on its own, so one bad message fails alone. A
//! header no sender may set refuses the whole request (422) instead.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, post, web};
use mailroom_domain::accounts::sending_gate;
use mailroom_domain::accounts::{Account, Scope};
use mailroom_domain::contacts::EmailAddress;
use mailroom_domain::messages::{MessageKind, NewMessage, outbox};
use mailroom_domain::rendering::{
    self, CheckFailure, ContactVars, RenderBudget, RenderCheck, RenderContext, RenderFailure,
    RenderLimits, SharedRenders, TemplateSource,
};
use mailroom_domain::sending_domains::SenderPolicy;
use mailroom_domain::suppressions::Suppression;
use mailroom_domain::{FieldError, Id};
use mailroom_worker::sender::compose::TransactionalPayload;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::auth::Principal;
use crate::extract::ApiJson;
use crate::idempotency::{self, Answer};
use crate::problem::ApiError;
use crate::state::AppState;

const MAX_MESSAGES: usize = 50;
const MAX_RECIPIENTS: usize = 50;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendRequest {
    /// Validate and render only; nothing is delivered or stored.
    #[serde(default)]
    pub sandbox_mode: bool,
    /// 1 to 50 messages.
    #[schema(min_items = 1, max_items = 50)]
    pub messages: Vec<OutgoingMessage>,
}

#[derive(Deserialize, ToSchema, Clone)]
pub struct Party {
    pub email: String,
    pub name: Option<String>,
}

/// One message: `subject`, `html` and `text` are templates; `variables` fill them
/// (`{{ order_id }}` or `{{ vars.order_id }}`), as do `{{ contact.email }}`/`{{ contact.name }}`
/// of each recipient. Every recipient gets a message of their own.
#[derive(Deserialize, ToSchema, Clone)]
pub struct OutgoingMessage {
    pub from: Option<Party>,
    #[serde(default)]
    pub to: Vec<Party>,
    pub reply_to: Option<String>,
    pub subject: Option<String>,
    pub html: Option<String>,
    pub text: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub variables: Option<Map<String, Value>>,
    /// Your reference, returned in events and webhooks.
    pub custom_id: Option<String>,
    /// Extra headers (not Mailroom's own: From, To, Subject, Message-ID, List-*,
    /// X-Mailroom-*; not what mail servers write: Received, Authentication-Results,
    /// Resent-*, ARC-*; no read receipts). One such header refuses the whole request (422).
    /// Names are printable ASCII without `:`; values are strings without line breaks or
    /// control characters.
    #[schema(value_type = Option<HashMap<String, String>>)]
    pub headers: Option<Map<String, Value>>,
    /// Track opens and clicks (default `true`; happens only when the account enables
    /// tracking and the recipient consents to it).
    pub tracking: Option<bool>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SendStatus {
    Success,
    Error,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RecipientStatus {
    /// Accepted for delivery.
    Queued,
    /// On the suppression list: not sent.
    Suppressed,
    /// Sandbox mode: validated and rendered, not sent.
    Sandbox,
}

#[derive(Serialize, ToSchema)]
pub struct RecipientResult {
    pub email: String,
    pub status: RecipientStatus,
    pub message_id: Option<Id>,
}

#[derive(Serialize, ToSchema)]
pub struct MessageResult {
    pub status: SendStatus,
    pub custom_id: Option<String>,
    /// For `error`: what is wrong, by field (`messages[2].to[0].email`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    pub to: Vec<RecipientResult>,
}

#[derive(Serialize, ToSchema)]
pub struct SendResponse {
    pub messages: Vec<MessageResult>,
}

/// A message that passed validation.
struct Valid {
    payload: TransactionalPayload,
    recipients: Vec<(EmailAddress, Option<String>)>,
    custom_id: Option<String>,
    tracking: bool,
}

fn validate(index: usize, m: OutgoingMessage) -> Result<Valid, Vec<FieldError>> {
    let at = |field: &str| format!("messages[{index}].{field}");
    let mut errors = Vec::new();
    let from = match &m.from {
        None => {
            errors.push(FieldError::new(at("from"), "is required"));
            None
        }
        Some(p) => match EmailAddress::parse(&p.email) {
            Ok(e) => Some((e, p.name.clone())),
            Err(e) => {
                errors.push(FieldError::new(at("from.email"), e.to_string()));
                None
            }
        },
    };
    if m.to.is_empty() || m.to.len() > MAX_RECIPIENTS {
        errors.push(FieldError::new(
            at("to"),
            format!("must hold 1 to {MAX_RECIPIENTS} recipients"),
        ));
    }
    let mut recipients = Vec::new();
    for (i, party) in m.to.iter().enumerate() {
        match EmailAddress::parse(&party.email) {
            Ok(e) => recipients.push((e, party.name.clone())),
            Err(e) => errors.push(FieldError::new(
                at(&format!("to[{i}].email")),
                e.to_string(),
            )),
        }
    }
    let subject = m.subject.clone().unwrap_or_default();
    if subject.trim().is_empty() || subject.chars().count() > 998 {
        errors.push(FieldError::new(
            at("subject"),
            "must be 1 to 998 characters",
        ));
    }
    if m.html.as_deref().is_none_or(|h| h.trim().is_empty())
        && m.text.as_deref().is_none_or(|t| t.trim().is_empty())
    {
        errors.push(FieldError::new(at("html"), "give html, text or both"));
    }
    let reply_to = match m.reply_to.as_deref().map(EmailAddress::parse).transpose() {
        Ok(r) => r.map(EmailAddress::into_inner),
        Err(e) => {
            errors.push(FieldError::new(at("reply_to"), e.to_string()));
            None
        }
    };
    if m.custom_id
        .as_ref()
        .is_some_and(|c| c.chars().count() > 255)
    {
        errors.push(FieldError::new(
            at("custom_id"),
            "must be at most 255 characters",
        ));
    }
    // Checked for the whole request by `refuse_bad_headers`.
    let headers: Vec<(String, String)> = m
        .headers
        .iter()
        .flatten()
        .filter_map(|(name, value)| Some((name.clone(), value.as_str()?.to_owned())))
        .collect();
    let template = TemplateSource {
        subject: subject.clone(),
        html: m.html.clone().unwrap_or_default(),
        text: m.text.clone(),
    };
    if let Err(template_errors) = rendering::check_templates(&template) {
        for e in template_errors {
            let line = e.line.map(|l| format!(" (line {l})")).unwrap_or_default();
            errors.push(FieldError::new(
                at(&e.field),
                format!("template error{line}: {}", e.message),
            ));
        }
    }
    let Some((from_email, from_name)) = from.filter(|_| errors.is_empty()) else {
        return Err(errors);
    };
    Ok(Valid {
        payload: TransactionalPayload {
            from_email: from_email.into_inner(),
            from_name,
            reply_to,
            subject,
            html: m.html,
            text: m.text,
            variables: m.variables.unwrap_or_default(),
            headers,
        },
        recipients,
        custom_id: m.custom_id,
        tracking: m.tracking.unwrap_or(true),
    })
}

/// Refuses the whole request, before anything is rendered or queued, when a message asks
/// for a header no sender may set (one Mailroom writes, one only mail servers write, a
/// read receipt) or for a malformed one: such a header is not a mistake in one message
/// but an attempt the request as a whole must not get partly through.
fn refuse_bad_headers(messages: &[OutgoingMessage]) -> Result<(), ApiError> {
    let mut errors = Vec::new();
    for (index, message) in messages.iter().enumerate() {
        for (name, value) in message.headers.iter().flatten() {
            let field = format!("messages[{index}].headers.{name}");
            let refusal = match value.as_str() {
                Some(value) => rendering::validate_custom_header(name, value).err(),
                None => Some("must be a string".to_owned()),
            };
            if let Some(message) = refusal {
                errors.push(FieldError::new(field, message));
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Validation(errors))
    }
}

/// Validates every message and renders each valid one for each of its recipients (the
/// sandbox promises it, and a template that breaks for real data fails here rather than in
/// the worker). Runs on the render pool: a message that fails fails alone, but the request
/// as a whole stops once its rendering budget is spent.
fn check_messages(
    messages: Vec<OutgoingMessage>,
    budget: &mut RenderBudget,
) -> Result<Vec<Result<Valid, Vec<FieldError>>>, ApiError> {
    let mut shared = SharedRenders::default();
    let mut checked = Vec::with_capacity(messages.len());
    for (index, message) in messages.into_iter().enumerate() {
        let outcome = match validate(index, message) {
            Ok(valid) => render_check(index, &valid, budget, &mut shared)?.map(|()| valid),
            Err(errors) => Err(errors),
        };
        checked.push(outcome);
    }
    Ok(checked)
}

/// Renders a valid message for each recipient: `Err` when the request's budget ran out,
/// `Ok(Err)` when the message's template failed.
fn render_check(
    index: usize,
    valid: &Valid,
    budget: &mut RenderBudget,
    shared: &mut SharedRenders,
) -> Result<Result<(), Vec<FieldError>>, ApiError> {
    let template = TemplateSource {
        subject: valid.payload.subject.clone(),
        html: valid.payload.html.clone().unwrap_or_default(),
        text: valid.payload.text.clone(),
    };
    let context = RenderContext {
        variables: valid.payload.variables.clone(),
        ..RenderContext::default()
    };
    let recipients: Vec<ContactVars> = valid
        .recipients
        .iter()
        .map(|(email, name)| ContactVars {
            email: email.as_str().to_owned(),
            name: name.clone(),
            properties: Map::new(),
        })
        .collect();
    let check = RenderCheck {
        template: &template,
        shared: &context,
        recipients: &recipients,
    };
    let Err(CheckFailure { recipient, failure }) =
        rendering::check_renders(&check, &RenderLimits::default(), budget, shared)
    else {
        return Ok(Ok(()));
    };
    match failure {
        RenderFailure::Template(e) => {
            let line = e.line.map(|l| format!(" (line {l})")).unwrap_or_default();
            Ok(Err(vec![FieldError::new(
                format!("messages[{index}].{}", e.field),
                format!("template error{line}: {}", e.message),
            )]))
        }
        RenderFailure::Budget(e) => Err(ApiError::RenderBudget {
            field: format!("messages[{index}].{}", e.part),
            detail: format!(
                "messages[{index}].to[{recipient}]: {e}; send fewer recipients per request or \
                 a lighter template"
            ),
        }),
    }
}

/// Sends transactional messages.
#[utoipa::path(
    tag = "send",
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry of this request return the first answer instead of doing the work twice")),
    request_body = SendRequest,
    responses((status = 202, description = "Per message: success (with each recipient's message id or suppression) or error (with its fields)", body = SendResponse),
        (status = 403, description = "The credentials lack the `send` scope (`forbidden`), or the operator suspended the account (`account_suspended`, with the reason in `detail`)", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 409, description = "A request with this Idempotency-Key is still being processed, or the account's deletion is pending", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 429, description = "The account's sending limit per hour or per day is reached (`quota_exceeded`): retry after `Retry-After` seconds, when the next window starts; or over the API key's request rate (`rate_limited`)", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid request (`validation_failed`; a custom header no sender may set refuses the whole request, each named as `messages[i].headers.<Name>`), or its rendering budget ran out (`render_budget_exceeded`: `field` names the template part, `detail` the recipient and the budget), or a message's `from.email` is on a domain the account has not verified while a relay is configured (`sender_domain_unverified`: `field` names it, as `messages[i].from.email`; nothing is queued)", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is unreachable, or the server is too busy rendering other requests to start this one (`service_unavailable`); retry after `Retry-After` seconds", body = crate::problem::Problem, content_type = "application/problem+json"))
)]
#[post("/send")]
pub async fn send_messages(
    req: HttpRequest,
    principal: Principal,
    state: web::Data<AppState>,
    body: ApiJson<SendRequest>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::Send)?;
    let ApiJson(request, digest) = body;
    if request.messages.is_empty() || request.messages.len() > MAX_MESSAGES {
        return Err(ApiError::invalid(
            "messages",
            format!("must hold 1 to {MAX_MESSAGES} messages"),
        ));
    }
    refuse_bad_headers(&request.messages)?;
    idempotency::once(&state, &req, &principal, &digest, || async {
        let account = principal.account_id;
        let hash_key = state.hash_key.clone();
        let sandbox = request.sandbox_mode;
        let policy = SenderPolicy::of(&state.settings);
        let limits = state.settings.operator.default_limits;
        let messages = request.messages;
        let checked = state
            .renderer
            .run(move |budget| check_messages(messages, budget))
            .await??;
        let results = state
            .db(move |conn| {
                conn.write_transaction(|conn| {
                    if !sandbox {
                        Account::ensure_may_send(conn, account)?;
                        let found = Account::find(conn, account)?;
                        let now = mailroom_domain::clock::now().0;
                        sending_gate::ensure_within_limits(conn, &found, &limits, now)?;
                    }
                    if !sandbox {
                        for (index, outcome) in checked.iter().enumerate() {
                            if let Ok(valid) = outcome {
                                policy.check(
                                    conn,
                                    account,
                                    &format!("messages[{index}].from.email"),
                                    &valid.payload.from_email,
                                )?;
                            }
                        }
                    }
                    let mut results = Vec::new();
                    for outcome in checked {
                        let valid = match outcome {
                            Ok(valid) => valid,
                            Err(errors) => {
                                results.push(MessageResult {
                                    status: SendStatus::Error,
                                    custom_id: None,
                                    errors,
                                    to: Vec::new(),
                                });
                                continue;
                            }
                        };
                        let mut to = Vec::new();
                        for (email, name) in &valid.recipients {
                            if Suppression::is_suppressed(conn, account, &hash_key, email)?
                                .is_some()
                            {
                                to.push(RecipientResult {
                                    email: email.as_str().to_owned(),
                                    status: RecipientStatus::Suppressed,
                                    message_id: None,
                                });
                                continue;
                            }
                            if sandbox {
                                to.push(RecipientResult {
                                    email: email.as_str().to_owned(),
                                    status: RecipientStatus::Sandbox,
                                    message_id: None,
                                });
                                continue;
                            }
                            let message = outbox::queue_urgent(
                                conn,
                                account,
                                MessageKind::Transactional,
                                NewMessage {
                                    to_email: email.as_str().to_owned(),
                                    to_name: name.clone(),
                                    subject: Some(valid.payload.subject.clone()),
                                    payload: Some(
                                        serde_json::to_value(&valid.payload).unwrap_or_default(),
                                    ),
                                    custom_id: valid.custom_id.clone(),
                                    tracking: valid.tracking,
                                    ..NewMessage::default()
                                },
                            )?;
                            to.push(RecipientResult {
                                email: email.as_str().to_owned(),
                                status: RecipientStatus::Queued,
                                message_id: Some(message.id),
                            });
                        }
                        results.push(MessageResult {
                            status: SendStatus::Success,
                            custom_id: valid.custom_id,
                            errors: Vec::new(),
                            to,
                        });
                    }
                    Ok(results)
                })
            })
            .await?;
        Answer::new(StatusCode::ACCEPTED, &SendResponse { messages: results })
    })
    .await
}
