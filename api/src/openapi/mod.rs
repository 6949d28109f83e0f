//! The OpenAPI document: generated from the handlers' annotations, completed here with
//! security schemes and (in `problems`) the problem responses every operation can give. `openapi.yaml` at
//! the repository root is this document, committed; a test keeps the two equal.

use actix_web::App;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_actix_web::AppExt;

use crate::problem::Problem;

pub mod constraints;
mod pages;
mod problems;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Mailroom API",
        description = "Self-hostable, privacy-first email marketing: accounts, contacts, lists, consent, campaigns and data-subject requests. Errors are RFC 9457 problem documents with a stable `code`; collections are cursor-paginated (`?limit=&cursor=` → `{data, next_cursor}`).",
        license(name = "AGPL-3.0-or-later")
    ),
    security(("bearer" = [])),
    components(schemas(Problem, mailroom_domain::FieldError, crate::routes::list_export::ExportFormat)),
    tags(
        (name = "operations", description = "Health and readiness probes"),
        (name = "admin", description = "Operator endpoints (the admin token)"),
        (name = "auth", description = "Exchanging API keys for access tokens"),
        (name = "account", description = "The calling account and its settings (tracking, unsubscribe scope, IP truncation)"),
        (name = "api_keys", description = "An account's API keys"),
        (name = "contacts", description = "People an account may mail"),
        (name = "contact_properties", description = "Typed fields on contacts"),
        (name = "lists", description = "Mailing lists, their members and exports"),
        (name = "consents", description = "Each contact's append-only consent ledger"),
        (name = "suppressions", description = "Addresses the account never mails again"),
        (name = "campaigns", description = "Campaigns: content, lifecycle, preview, test sends and progress"),
        (name = "send", description = "Transactional email, and the sandbox mailbox"),
        (name = "data-subject requests", description = "GDPR rights of the people an account holds data about — access, portability, rectification, erasure, restriction, objection — tracked from receipt to answer, due in 30 days"),
        (name = "audit", description = "The append-only audit log: every change to personal data, every export, every support read"),
        (name = "events", description = "What happened to messages after they left: sent, deferred, bounce, blocked, open, click, unsub, spam"),
        (name = "inbound", description = "Bounces (RFC 3464 DSNs) and complaints (RFC 5965 ARF reports) received at the bounce address"),
        (name = "sending_domains", description = "The domains an account sends from: the DNS records that prove them (ownership, DKIM, SPF, DMARC, return path), their checks, and the DKIM keys Mailroom signs with"),
        (name = "webhooks", description = "Webhook endpoints (Standard Webhooks signatures), their secrets and delivery log"),
        (name = "public", description = "Endpoints for recipients: double opt-in confirmation, unsubscribe, open and click tracking (no authentication; signed links)"),
    )
)]
struct ApiDoc;

/// Builds the whole document.
pub fn document() -> utoipa::openapi::OpenApi {
    let (_, mut doc) = App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .configure(crate::routes::configure)
        .split_for_parts();
    add_security_schemes(&mut doc);
    problems::declare(&mut doc);
    edit_as_json(doc, |json| {
        pages::name_items(json);
        constraints::apply(json);
    })
}

/// Edits the document as JSON, for rules that read better over the whole tree than
/// through utoipa's builders. A document that does not survive the trip stays as it was.
fn edit_as_json(
    doc: utoipa::openapi::OpenApi,
    edit: impl FnOnce(&mut serde_json::Value),
) -> utoipa::openapi::OpenApi {
    let Ok(mut json) = serde_json::to_value(&doc) else {
        return doc;
    };
    edit(&mut json);
    serde_json::from_value(json).unwrap_or(doc)
}

pub fn to_yaml(doc: &utoipa::openapi::OpenApi) -> Result<String, String> {
    doc.to_yaml().map_err(|e| e.to_string())
}

fn add_security_schemes(doc: &mut utoipa::openapi::OpenApi) {
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("JWT")
                .description(Some("An access token from POST /v1/auth/token"))
                .build(),
        ),
    );
    components.add_security_scheme(
        "admin_token",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some("The operator's MAILROOM_ADMIN_TOKEN"))
                .build(),
        ),
    );
}
