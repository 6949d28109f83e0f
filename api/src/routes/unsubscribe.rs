//! Unsubscribe pages. `GET /u/{token}` shows a confirm button; `POST /u/{token}` — the
//! button, or a mail client's RFC 8058 one-click request (`List-Unsubscribe=One-Click`, no
//! cookies, no auth) — unsubscribes from the list the message was sent for, records the
//! withdrawal (and, where the account unsubscribes account-wide, a suppression) before it
//! answers 200 without a redirect; the `unsub` event follows through the events worker.
//! Repeating it changes nothing.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use mailroom_domain::Id;
use mailroom_domain::lists::{UnsubscribeOutcome, UnsubscribeVia, unsubscribe_by_message};
use mailroom_domain::tokens::PublicToken;

use crate::client::{client_addr, client_ip, user_agent};
use crate::pages::{escape, page};
use crate::problem::ApiError;
use crate::state::AppState;

fn message_of(state: &AppState, token: &str) -> Option<Id> {
    match state.signer.verify(token) {
        Some(PublicToken::Unsubscribe { message_id }) => Some(message_id),
        _ => None,
    }
}

fn invalid() -> HttpResponse {
    page(
        StatusCode::NOT_FOUND,
        "Link not valid",
        "<p>This unsubscribe link is not valid. Check that you copied all of it.</p>",
    )
}

/// The page behind an email's unsubscribe link.
#[utoipa::path(
    tag = "public",
    params(("token" = String, Path, description = "From the email's unsubscribe link")),
    responses(
        (status = 200, description = "A page with an unsubscribe button", content_type = "text/html", body = String),
        (status = 404, description = "Unknown or tampered link", content_type = "text/html", body = String),
        (status = 429, description = "Too many requests from this client address or for this link; `Retry-After` says when to come back", content_type = "text/plain", body = String),
    ),
    security(())
)]
#[get("/u/{token}")]
pub async fn show_unsubscribe(
    req: HttpRequest,
    state: web::Data<AppState>,
    token: web::Path<String>,
) -> HttpResponse {
    let limits = &state.limits.public;
    if let Err(refused) = limits.check_address(client_addr(&req)) {
        return refused.into_response();
    }
    let message = message_of(&state, &token);
    if message.is_some()
        && let Err(refused) = limits.check_link(state.limits.public.link(&token))
    {
        return refused.into_response();
    }
    match message {
        Some(_) => page(
            StatusCode::OK,
            "Unsubscribe",
            "<p>Do you want to stop receiving these emails?</p>\
             <form method=\"post\"><button type=\"submit\">Unsubscribe</button></form>",
        ),
        None => invalid(),
    }
}

/// Unsubscribes (the button, or RFC 8058 one-click).
#[utoipa::path(
    tag = "public",
    params(("token" = String, Path, description = "From the email's unsubscribe link")),
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "Empty (the page's button) or `List-Unsubscribe=One-Click` (RFC 8058)"),
    responses(
        (status = 200, description = "Unsubscribed (or already)", content_type = "text/html", body = String),
        (status = 404, description = "Unknown or tampered link, or the subscription no longer exists", content_type = "text/html", body = String),
        (status = 429, description = "Too many requests from this client address or for this link; `Retry-After` says when to come back", content_type = "text/plain", body = String),
    ),
    security(())
)]
#[post("/u/{token}")]
pub async fn unsubscribe(
    req: HttpRequest,
    state: web::Data<AppState>,
    token: web::Path<String>,
    body: String,
) -> Result<HttpResponse, ApiError> {
    let limits = &state.limits.public;
    if let Err(refused) = limits.check_address(client_addr(&req)) {
        return Ok(refused.into_response());
    }
    let Some(message_id) = message_of(&state, &token) else {
        return Ok(invalid());
    };
    if let Err(refused) = limits.check_link(state.limits.public.link(&token)) {
        return Ok(refused.into_response());
    }
    let (ip, agent) = (client_ip(&req), user_agent(&req));
    let via = if body.split('&').any(|pair| {
        pair.trim()
            .eq_ignore_ascii_case("List-Unsubscribe=One-Click")
    }) {
        UnsubscribeVia::OneClick
    } else {
        UnsubscribeVia::Link
    };
    let hash_key = state.hash_key.clone();
    let outcome = state
        .db(move |conn| unsubscribe_by_message(conn, &hash_key, message_id, via, ip, agent))
        .await?;
    Ok(match outcome {
        UnsubscribeOutcome::Unsubscribed { list_name }
        | UnsubscribeOutcome::AlreadyUnsubscribed { list_name } => page(
            StatusCode::OK,
            "Unsubscribed",
            &format!(
                "<p>You will no longer receive <strong>{}</strong>.</p>",
                escape(&list_name)
            ),
        ),
        UnsubscribeOutcome::NotListMail => page(
            StatusCode::OK,
            "Nothing to unsubscribe from",
            "<p>This email was not sent to a list.</p>",
        ),
        UnsubscribeOutcome::Gone => page(
            StatusCode::OK,
            "Unsubscribed",
            "<p>You are not subscribed.</p>",
        ),
    })
}
