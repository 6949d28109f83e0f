//! Who is calling: operators (admin token) and API callers (access tokens from API keys).

mod operator;
mod principal;
mod token;

pub use operator::Operator;
pub use principal::{KEY_STATUS_TTL, KeyStatusCache, Principal, bearer_token};
pub use token::{TokenKeys, TokenSubject};
