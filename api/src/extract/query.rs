//! Error handlers for actix's query and path extractors.

use actix_web::HttpRequest;
use actix_web::error::{PathError, QueryPayloadError};

use crate::problem::ApiError;

/// A query string that does not fit: 422 naming the parameter where serde says which.
pub fn query_error(err: QueryPayloadError, _req: &HttpRequest) -> actix_web::Error {
    let message = err.to_string();
    let field = message
        .split('`')
        .nth(1)
        .map(str::to_owned)
        .unwrap_or_else(|| "query".to_owned());
    ApiError::invalid(
        field,
        message
            .trim_start_matches("Query deserialize error: ")
            .to_owned(),
    )
    .into()
}

/// A path segment that is not an id can name no resource: 404.
pub fn path_error(_err: PathError, _req: &HttpRequest) -> actix_web::Error {
    ApiError::NotFound("no such resource".into()).into()
}
