//! Open and click tracking: `GET /t/o/{token}` answers a 1×1 GIF, `GET /t/c/{token}` a
//! 302 to exactly the URL inside the signed token (never one from the query string, so
//! there is no open redirect). A tampered or unknown token answers 404 and records nothing.
//! Neither touches the database: the token is verified, the answer sent, and the event
//! handed to the bus (see `event_sink`). Tracked links only exist in mail of accounts that
//! enable tracking, to contacts who consent to it. Hits are rate-limited per client address
//! and per link (see `limits::public`); a link's repeated hits within a short window count
//! once, which the events worker decides as it records them (installation-wide).

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, get, web};
use std::net::IpAddr;

use mailroom_domain::events::{EventData, EventType, NewEvent};
use mailroom_domain::tokens::PublicToken;

use crate::client::{client_addr, user_agent};
use crate::state::AppState;

/// A transparent 1×1 GIF.
const PIXEL: &[u8] = &[
    0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00,
    0xff, 0xff, 0xff, 0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x01, 0x44, 0x00, 0x3b,
];

// Header values are static: a hit copies and validates none of them.
const NO_STORE: HeaderValue =
    HeaderValue::from_static("no-store, no-cache, must-revalidate, private, max-age=0");
const NO_CACHE: HeaderValue = HeaderValue::from_static("no-cache");
const EXPIRED: HeaderValue = HeaderValue::from_static("0");
const IMAGE_GIF: HeaderValue = HeaderValue::from_static("image/gif");
const NO_REFERRER: HeaderValue = HeaderValue::from_static("no-referrer");

fn not_found() -> HttpResponse {
    HttpResponse::NotFound()
        .insert_header((header::CACHE_CONTROL, NO_STORE))
        .content_type("text/plain; charset=utf-8")
        .body("not found")
}

/// The event data of a hit.
fn hit(req: &HttpRequest, client: Option<IpAddr>, url: Option<String>) -> EventData {
    EventData {
        url,
        ip: client.map(|ip| ip.to_string()),
        user_agent: user_agent(req),
        ..EventData::default()
    }
}

/// The open pixel of a tracked email.
#[utoipa::path(
    tag = "public",
    params(("token" = String, Path, description = "From the email's open pixel")),
    responses(
        (status = 200, description = "A 1×1 transparent GIF, never cached", content_type = "image/gif", body = Vec<u8>),
        (status = 404, description = "Unknown or tampered token: nothing recorded"),
        (status = 429, description = "Too many hits from this client address or of this pixel: nothing recorded; `Retry-After` says when to come back"),
    ),
    security(())
)]
#[get("/t/o/{token}")]
pub async fn open_pixel(
    req: HttpRequest,
    state: web::Data<AppState>,
    token: web::Path<String>,
) -> HttpResponse {
    let limits = &state.limits.public;
    let client = client_addr(&req);
    if let Err(refused) = limits.check_address(client) {
        return refused.into_response();
    }
    let Some(PublicToken::Open { message_id }) = state.signer.verify(&token) else {
        return not_found();
    };
    let link = limits.link(&token);
    if let Err(refused) = limits.check_link(link) {
        return refused.into_response();
    }
    state
        .events
        .submit(NewEvent::new(
            EventType::Open,
            message_id,
            hit(&req, client, None),
        ))
        .await;
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, NO_STORE))
        .insert_header((header::PRAGMA, NO_CACHE))
        .insert_header((header::EXPIRES, EXPIRED))
        .insert_header((header::CONTENT_TYPE, IMAGE_GIF))
        .body(PIXEL)
}

/// A tracked link: redirects to the link's original URL.
#[utoipa::path(
    tag = "public",
    params(("token" = String, Path, description = "From a tracked link of the email")),
    responses(
        (status = 302, description = "To the URL the link was created for (`Location`)"),
        (status = 404, description = "Unknown or tampered token: nothing recorded"),
        (status = 429, description = "Too many hits from this client address or of this link: nothing recorded; `Retry-After` says when to come back"),
    ),
    security(())
)]
#[get("/t/c/{token}")]
pub async fn click(
    req: HttpRequest,
    state: web::Data<AppState>,
    token: web::Path<String>,
) -> HttpResponse {
    let limits = &state.limits.public;
    let client = client_addr(&req);
    if let Err(refused) = limits.check_address(client) {
        return refused.into_response();
    }
    let Some(PublicToken::Click { message_id, url }) = state.signer.verify(&token) else {
        return not_found();
    };
    let Ok(location) = header::HeaderValue::from_str(&url) else {
        return not_found();
    };
    let link = limits.link(&token);
    if let Err(refused) = limits.check_link(link) {
        return refused.into_response();
    }
    state
        .events
        .submit(NewEvent::new(
            EventType::Click,
            message_id,
            hit(&req, client, Some(url)),
        ))
        .await;
    HttpResponse::Found()
        .insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, NO_STORE))
        .insert_header((header::REFERRER_POLICY, NO_REFERRER))
        .finish()
}
