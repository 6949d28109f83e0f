//! Requests no route takes: a path the API knows, asked with a method it does not serve,
//! is a 405 problem whose `Allow` header lists the methods it does serve; any other path
//! is a 404 problem.
//!
//! The known paths and their methods come from the OpenAPI document, which the router
//! builds (a test keeps the two identical), plus the few routes the document does not
//! describe (itself and the Swagger UI).

use actix_web::dev::ResourceDef;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};

use crate::problem::ApiError;

/// Served beside the documented routes: the document itself and its UI.
const UNDOCUMENTED_ROUTES: &[(&str, &[&str])] = &[
    ("/openapi.json", &["GET"]),
    ("/docs", &["GET"]),
    ("/docs/{_:.*}", &["GET"]),
];

/// Every path pattern the API serves, with the methods it serves it with.
pub struct KnownPaths(Vec<(ResourceDef, HeaderValue)>);

impl KnownPaths {
    pub fn from_document(doc: &utoipa::openapi::OpenApi) -> KnownPaths {
        let documented = doc.paths.paths.iter().map(|(path, item)| {
            let methods: Vec<&str> = [
                ("GET", item.get.is_some()),
                ("PUT", item.put.is_some()),
                ("POST", item.post.is_some()),
                ("DELETE", item.delete.is_some()),
                ("OPTIONS", item.options.is_some()),
                ("HEAD", item.head.is_some()),
                ("PATCH", item.patch.is_some()),
                ("TRACE", item.trace.is_some()),
            ]
            .into_iter()
            .filter_map(|(method, served)| served.then_some(method))
            .collect();
            (path.as_str(), methods)
        });
        let undocumented = UNDOCUMENTED_ROUTES
            .iter()
            .map(|(path, methods)| (*path, methods.to_vec()));
        KnownPaths(
            documented
                .chain(undocumented)
                .filter_map(|(path, methods)| {
                    let allow = HeaderValue::from_str(&methods.join(", ")).ok()?;
                    Some((ResourceDef::new(path), allow))
                })
                .collect(),
        )
    }

    /// The `Allow` value of the path, when the API serves it at all.
    pub fn allow(&self, path: &str) -> Option<&HeaderValue> {
        self.0
            .iter()
            .find(|(pattern, _)| pattern.is_match(path))
            .map(|(_, allow)| allow)
    }
}

/// The default service: 405 with `Allow` for a known path, 404 for any other.
pub async fn unmatched_request(req: HttpRequest, known: web::Data<KnownPaths>) -> HttpResponse {
    match known.allow(req.path()) {
        Some(allow) => {
            let mut response = ApiError::MethodNotAllowed(format!(
                "{} is not served on this path; it serves {}",
                req.method(),
                allow.to_str().unwrap_or_default()
            ))
            .error_response();
            response.headers_mut().insert(header::ALLOW, allow.clone());
            response
        }
        None => ApiError::NotFound("no such route".into()).error_response(),
    }
}
