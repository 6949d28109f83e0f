//! Double opt-in pages. `GET /confirm/{token}` shows a button; `POST` confirms. Confirming
//! needs a click rather than the link alone, so mail scanners that open links do not
//! subscribe anyone. Tampered or expired links get a clear page, never a 500.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use mailroom_domain::clock;
use mailroom_domain::lists::{ConfirmOutcome, ConfirmationEvidence, confirm_membership};
use mailroom_domain::tokens::PublicToken;

use crate::client::{client_addr, client_ip, user_agent};
use crate::pages::{escape, page};
use crate::problem::ApiError;
use crate::state::AppState;

enum Link {
    Valid {
        list_id: mailroom_domain::Id,
        contact_id: mailroom_domain::Id,
    },
    Expired,
    Invalid,
}

fn read(state: &AppState, token: &str) -> Link {
    match state.signer.verify(token) {
        Some(PublicToken::Confirm {
            list_id,
            contact_id,
            expires_at,
        }) => {
            if expires_at < clock::now() {
                Link::Expired
            } else {
                Link::Valid {
                    list_id,
                    contact_id,
                }
            }
        }
        _ => Link::Invalid,
    }
}

/// The page behind the link in a confirmation email.
#[utoipa::path(
    tag = "public",
    params(("token" = String, Path, description = "From the confirmation email")),
    responses(
        (status = 200, description = "A page with a confirm button", content_type = "text/html", body = String),
        (status = 404, description = "Unknown or tampered link", content_type = "text/html", body = String),
        (status = 410, description = "Expired link", content_type = "text/html", body = String),
        (status = 429, description = "Too many requests from this client address or for this link; `Retry-After` says when to come back", content_type = "text/plain", body = String),
    ),
    security(())
)]
#[get("/confirm/{token}")]
pub async fn show_confirmation(
    req: HttpRequest,
    state: web::Data<AppState>,
    token: web::Path<String>,
) -> HttpResponse {
    if let Err(refused) = state.limits.public.check_address(client_addr(&req)) {
        return refused.into_response();
    }
    let link = read(&state, &token);
    if let Link::Valid { .. } = link
        && let Err(refused) = state
            .limits
            .public
            .check_link(state.limits.public.link(&token))
    {
        return refused.into_response();
    }
    match link {
        Link::Valid { .. } => page(
            StatusCode::OK,
            "Confirm your subscription",
            "<p>Please confirm that you want to receive these emails.</p>\
             <form method=\"post\"><button type=\"submit\">Confirm my subscription</button></form>",
        ),
        Link::Expired => expired(),
        Link::Invalid => invalid(),
    }
}

/// Confirms the subscription the link was sent for.
#[utoipa::path(
    tag = "public",
    params(("token" = String, Path, description = "From the confirmation email")),
    responses(
        (status = 200, description = "Confirmed (or already confirmed)", content_type = "text/html", body = String),
        (status = 404, description = "Unknown or tampered link, or the subscription no longer exists", content_type = "text/html", body = String),
        (status = 410, description = "Expired link", content_type = "text/html", body = String),
        (status = 429, description = "Too many requests from this client address or for this link; `Retry-After` says when to come back", content_type = "text/plain", body = String),
    ),
    security(())
)]
#[post("/confirm/{token}")]
pub async fn confirm_subscription(
    req: HttpRequest,
    state: web::Data<AppState>,
    token: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let limits = &state.limits.public;
    if let Err(refused) = limits.check_address(client_addr(&req)) {
        return Ok(refused.into_response());
    }
    let (list_id, contact_id) = match read(&state, &token) {
        Link::Valid {
            list_id,
            contact_id,
        } => (list_id, contact_id),
        Link::Expired => return Ok(expired()),
        Link::Invalid => return Ok(invalid()),
    };
    if let Err(refused) = limits.check_link(state.limits.public.link(&token)) {
        return Ok(refused.into_response());
    }
    let evidence = ConfirmationEvidence {
        ip: client_ip(&req),
        user_agent: user_agent(&req),
    };
    let outcome = state
        .db(move |conn| confirm_membership(conn, list_id, contact_id, evidence))
        .await?;
    Ok(match outcome {
        ConfirmOutcome::Confirmed { list_name } => {
            tracing::info!(%list_id, "double opt-in confirmed");
            page(
                StatusCode::OK,
                "Subscription confirmed",
                &format!(
                    "<p>Thank you: you are now subscribed to <strong>{}</strong>.</p>",
                    escape(&list_name)
                ),
            )
        }
        ConfirmOutcome::AlreadySubscribed { list_name } => page(
            StatusCode::OK,
            "Already confirmed",
            &format!(
                "<p>You are already subscribed to <strong>{}</strong>.</p>",
                escape(&list_name)
            ),
        ),
        ConfirmOutcome::Unsubscribed { list_name } => page(
            StatusCode::OK,
            "Not subscribed",
            &format!(
                "<p>You unsubscribed from <strong>{}</strong> after this link was sent, so it no longer subscribes you.</p>",
                escape(&list_name)
            ),
        ),
        ConfirmOutcome::Gone => page(
            StatusCode::NOT_FOUND,
            "Subscription not found",
            "<p>This subscription no longer exists.</p>",
        ),
    })
}

fn expired() -> HttpResponse {
    page(
        StatusCode::GONE,
        "Link expired",
        "<p>This confirmation link has expired. Please sign up again to get a new one.</p>",
    )
}

fn invalid() -> HttpResponse {
    page(
        StatusCode::NOT_FOUND,
        "Link not valid",
        "<p>This confirmation link is not valid. Check that you copied all of it.</p>",
    )
}
