//! The OpenAPI document: generated from the handlers' annotations, completed here with
//! security schemes and the problem responses every operation can give. `openapi.yaml` at
//! the repository root is this document, committed; a test keeps the two equal.

use actix_web::App;
use utoipa::OpenApi;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response, ResponseBuilder};
use utoipa_actix_web::AppExt;

use crate::problem::{PROBLEM_JSON, Problem};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Mailroom API",
        description = "Self-hostable, privacy-first email marketing: accounts, contacts, lists, consent, campaigns and data-subject requests. Errors are RFC 9457 problem documents with a stable `code`; collections are cursor-paginated (`?limit=&cursor=` → `{data, next_cursor}`).",
        license(name = "AGPL-3.0-or-later")
    ),
    security(("bearer" = [])),
    components(schemas(Problem, mailroom_domain::FieldError)),
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
    add_problem_responses(&mut doc);
    doc
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

/// The problem answers, by status: (name in components, status, when).
const PROBLEMS: &[(&str, &str, &str)] = &[
    (
        "MalformedRequest",
        "400",
        "The body is not valid JSON (`malformed_request`)",
    ),
    (
        "Unauthorized",
        "401",
        "Missing, invalid or expired credentials (`unauthorized`)",
    ),
    (
        "Forbidden",
        "403",
        "The credentials lack a needed scope (`forbidden`)",
    ),
    (
        "NotFound",
        "404",
        "No such resource in this account (`not_found`)",
    ),
    (
        "PayloadTooLarge",
        "413",
        "The body is over the size limit (`payload_too_large`)",
    ),
    (
        "UnsupportedMediaType",
        "415",
        "The body is not of a content type the operation accepts (`unsupported_media_type`)",
    ),
    (
        "ValidationFailed",
        "422",
        "Invalid input (`validation_failed`, `sensitive_data_rejected`), per field",
    ),
    (
        "InternalError",
        "500",
        "Unexpected failure; the body carries only the request id (`internal_error`)",
    ),
    (
        "ServiceUnavailable",
        "503",
        "The database is unreachable (`service_unavailable`)",
    ),
];

fn problem_response(description: &str) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            PROBLEM_JSON,
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Problem")))
                .build(),
        )
        .build()
}

fn add_problem_responses(doc: &mut utoipa::openapi::OpenApi) {
    let components = doc.components.get_or_insert_with(Default::default);
    for (name, _, description) in PROBLEMS {
        components
            .responses
            .insert((*name).to_owned(), RefOr::T(problem_response(description)));
    }
    for (path, item) in doc.paths.paths.iter_mut() {
        let probe = !path.starts_with("/v1/");
        let ops = [
            &mut item.get,
            &mut item.post,
            &mut item.put,
            &mut item.patch,
            &mut item.delete,
        ];
        for op in ops.into_iter().flatten() {
            for status in statuses_for(path, op, probe) {
                if let Some((name, _, _)) = PROBLEMS.iter().find(|(_, s, _)| *s == status) {
                    op.responses
                        .responses
                        .entry(status.to_owned())
                        .or_insert_with(|| {
                            RefOr::Ref(Ref::new(format!("#/components/responses/{name}")))
                        });
                }
            }
        }
    }
}

fn statuses_for(path: &str, op: &Operation, probe: bool) -> Vec<&'static str> {
    if probe {
        return Vec::new();
    }
    let public = op.security.as_ref().is_some_and(|reqs| {
        reqs.iter()
            .any(|r| serde_json::to_value(r).is_ok_and(|v| v == serde_json::json!({})))
    });
    let mut statuses = Vec::new();
    if op.request_body.is_some() {
        statuses.extend(["400", "413", "415", "422"]);
    }
    if !public {
        statuses.extend(["401", "403"]);
    }
    if path.contains('{') {
        statuses.push("404");
    }
    if op.parameters.as_ref().is_some_and(|p| !p.is_empty()) {
        statuses.push("422");
    }
    statuses.extend(["500", "503"]);
    statuses
}
