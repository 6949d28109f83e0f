//! The query-string extractor, and the error handler of actix's path extractor.

use actix_web::dev::Payload;
use actix_web::error::PathError;
use actix_web::{FromRequest, HttpRequest};
use futures_util::future::{Ready, ready};
use serde::de::DeserializeOwned;

use crate::problem::ApiError;

/// Query parameters; a parameter that does not fit is a 422 naming it.
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<T> ApiQuery<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for ApiQuery<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned> FromRequest for ApiQuery<T> {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(parse_query(req.query_string()).map(ApiQuery))
    }
}

pub fn parse_query<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    if let Some((name, _)) = form_urlencoded_parse(query).find(|(_, v)| v.contains('\0')) {
        return Err(ApiError::invalid(
            name.into_owned(),
            "must not contain NUL characters",
        ));
    }
    let de = serde_urlencoded::Deserializer::new(form_urlencoded_parse(query));
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let message = e.into_inner().to_string();
        let field = if path == "." {
            message
                .split('`')
                .nth(1)
                .map(str::to_owned)
                .unwrap_or_else(|| "query".into())
        } else {
            path
        };
        ApiError::invalid(field, message)
    })
}

fn form_urlencoded_parse(query: &str) -> url::form_urlencoded::Parse<'_> {
    url::form_urlencoded::parse(query.as_bytes())
}

/// A path segment that is not an id (or holds a NUL) can name no resource: 404.
pub fn path_error(_err: PathError, _req: &HttpRequest) -> actix_web::Error {
    ApiError::NotFound("no such resource".into()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Q {
        limit: Option<i64>,
        format: Option<Format>,
    }
    #[derive(Debug, serde::Deserialize)]
    #[serde(rename_all = "lowercase")]
    enum Format {
        Csv,
    }

    fn field_of(query: &str) -> String {
        match parse_query::<Q>(query) {
            Err(ApiError::Validation(errors)) => errors[0].field.clone(),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn a_bad_parameter_is_named() {
        assert_eq!(field_of("format=xml"), "format");
        assert_eq!(field_of("limit=ten"), "limit");
        assert!(parse_query::<Q>("limit=5&format=csv").is_ok());
    }
}
