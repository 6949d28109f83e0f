//! The operator: whoever holds `MAILROOM_ADMIN_TOKEN`. Creates, inspects, limits and
//! suspends accounts.

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::future::{Ready, ready};

use super::principal::bearer_token;
use crate::problem::ApiError;
use crate::state::AppState;

pub struct Operator {
    /// Where the request came from (for the audit log).
    pub ip: Option<String>,
}

impl Operator {
    /// The operator as an audit actor.
    pub fn actor(&self) -> mailroom_domain::audit::Actor {
        mailroom_domain::audit::Actor {
            kind: mailroom_domain::audit::ActorKind::Operator,
            id: None,
            ip: self.ip.clone(),
        }
    }
}

impl FromRequest for Operator {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let Some(state) = req.app_data::<web::Data<AppState>>() else {
            return ready(Err(ApiError::Internal("application state missing".into())));
        };
        if state.settings.admin_token.is_none() {
            return ready(Err(ApiError::Forbidden(
                "the admin API is off: set MAILROOM_ADMIN_TOKEN to enable it".into(),
            )));
        }
        ready(match bearer_token(req) {
            Some(token) if state.settings.admin_token_matches(&token) => Ok(Operator {
                ip: crate::client::client_ip(req),
            }),
            Some(_) => Err(ApiError::Unauthorized("the admin token is wrong".into())),
            None => Err(ApiError::Unauthorized(
                "send the admin token: Authorization: Bearer <token>".into(),
            )),
        })
    }
}
