//! Small HTML pages for recipients (confirmation, unsubscribe): no scripts, no tracking,
//! never cached, no referrer leaked to whatever they open next.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};

pub fn page(status: StatusCode, title: &str, body: &str) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header(("cache-control", "no-store"))
        .insert_header(("referrer-policy", "no-referrer"))
        .body(format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">\
             <title>{title}</title></head><body style=\"font-family:sans-serif;max-width:32em;margin:3em auto\"><h1>{title}</h1>{body}</body></html>"
        ))
}

pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The client's IP address for consent evidence; anything that is not an IP address (a
/// forged forwarding header, say) is left out rather than failing the request.
pub fn client_ip(req: &HttpRequest) -> Option<String> {
    let addr = req.connection_info().realip_remote_addr()?.to_owned();
    if let Ok(socket) = addr.parse::<std::net::SocketAddr>() {
        return Some(socket.ip().to_string());
    }
    addr.trim_matches(['[', ']'])
        .parse::<std::net::IpAddr>()
        .ok()
        .map(|ip| ip.to_string())
}

pub fn user_agent(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get("user-agent")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}
