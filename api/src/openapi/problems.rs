//! The error answers of the contract: every `/v1` operation declares the problems it can
//! give, each as `application/problem+json` with the one `Problem` schema, so that a
//! generated SDK decodes any of them into one typed error.
//!
//! What every operation of a kind can answer is added here: credentials (401, 403, and
//! 429 for the per-key rate limit), a body (400, 408, 413, 415, 422), parameters (422), a
//! path naming a resource (404), and the database being away (503). What only some operations answer (409 conflicts, 404 for a
//! resource named in the body, 429 rate limits) each handler declares with a description
//! of when; this module gives those the problem body and the headers of their status.

use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::Operation;
use utoipa::openapi::schema::{Object, Type};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr, Response, ResponseBuilder};

use crate::problem::PROBLEM_JSON;

/// The shared problem answers: (name in components, status, when).
pub const SHARED: &[(&str, &str, &str)] = &[
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
        "MethodNotAllowed",
        "405",
        "The path exists but not with this method (`method_not_allowed`); `Allow` lists the methods it serves",
    ),
    (
        "RequestTimeout",
        "408",
        "The body did not arrive within the server's body timeout (`request_timeout`); the connection is closed",
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
        "Invalid input (`validation_failed` with one entry per field in `errors`, or `sensitive_data_rejected`)",
    ),
    (
        "RateLimited",
        "429",
        "Over the API key's request rate (`rate_limited`, when the operator set one); retry after `Retry-After` seconds. `RateLimit-Policy` and `RateLimit` describe the limit",
    ),
    (
        "InternalError",
        "500",
        "Unexpected failure; the body carries only the request id (`internal_error`)",
    ),
    (
        "ServiceUnavailable",
        "503",
        "The database is unreachable (`service_unavailable`); retry after `Retry-After` seconds",
    ),
];

/// Adds the shared answers to the components, the ones that apply to each operation, and
/// the problem body to the error answers handlers declared.
pub fn declare(doc: &mut OpenApi) {
    let components = doc.components.get_or_insert_with(Default::default);
    for (name, status, description) in SHARED {
        components.responses.insert(
            (*name).to_owned(),
            RefOr::T(problem_response(status, description)),
        );
    }
    for (path, item) in doc.paths.paths.iter_mut() {
        if !path.starts_with("/v1/") {
            continue;
        }
        let operations = [
            &mut item.get,
            &mut item.post,
            &mut item.put,
            &mut item.patch,
            &mut item.delete,
        ];
        for operation in operations.into_iter().flatten() {
            complete_declared(operation);
            for status in applicable(path, operation) {
                if let Some((name, _, _)) = SHARED.iter().find(|(_, s, _)| *s == status) {
                    operation
                        .responses
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

/// Statuses every operation of this shape can answer.
fn applicable(path: &str, operation: &Operation) -> Vec<&'static str> {
    let mut statuses = Vec::new();
    if operation.request_body.is_some() {
        statuses.extend(["400", "408", "413", "415", "422"]);
    }
    if requires_credentials(operation) {
        statuses.extend(["401", "403", "429"]);
    }
    if path.contains('{') {
        statuses.push("404");
    }
    if operation.parameters.as_ref().is_some_and(|p| !p.is_empty()) {
        statuses.push("422");
    }
    statuses.extend(["500", "503"]);
    statuses
}

/// Whether the operation needs credentials: it does unless its security names `{}`.
fn requires_credentials(operation: &Operation) -> bool {
    !operation.security.as_ref().is_some_and(|requirements| {
        requirements
            .iter()
            .any(|r| serde_json::to_value(r).is_ok_and(|v| v == serde_json::json!({})))
    })
}

/// Gives each error answer a handler declared the problem body and its status's headers.
fn complete_declared(operation: &mut Operation) {
    for (status, response) in operation.responses.responses.iter_mut() {
        let RefOr::T(response) = response else {
            continue;
        };
        if !status.starts_with('4') && !status.starts_with('5') {
            continue;
        }
        let completed = problem_response(status, &response.description);
        response.content = completed.content;
        for (name, header) in completed.headers {
            response.headers.entry(name).or_insert(header);
        }
    }
}

fn problem_response(status: &str, description: &str) -> Response {
    let mut response = ResponseBuilder::new().description(description).content(
        PROBLEM_JSON,
        ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("Problem")))
            .build(),
    );
    let header = |description: &str, schema_type: Type| {
        HeaderBuilder::new()
            .schema(Some(Object::with_type(schema_type)))
            .description(Some(description))
            .build()
    };
    match status {
        "401" => {
            response = response.header(
                "WWW-Authenticate",
                header("`Bearer`: send an access token", Type::String),
            );
        }
        "405" => {
            response =
                response.header("Allow", header("The methods the path serves", Type::String));
        }
        "429" => {
            response = response
                .header(
                    "Retry-After",
                    header("Seconds to wait before trying again", Type::Integer),
                )
                .header(
                    "RateLimit-Policy",
                    header(
                        "The limit (per-key limit only), IETF draft-ietf-httpapi-ratelimit-headers: `\"per-key\";q=<requests>;w=<seconds>`",
                        Type::String,
                    ),
                )
                .header(
                    "RateLimit",
                    header(
                        "What remains of it: `\"per-key\";r=<remaining>;t=<seconds until whole>`",
                        Type::String,
                    ),
                );
        }
        "503" => {
            response = response.header(
                "Retry-After",
                header("Seconds to wait before trying again", Type::Integer),
            );
        }
        _ => {}
    }
    response.build()
}
