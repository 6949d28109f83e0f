//! Accounts (tenants), their API keys and the scopes keys carry.

mod account;
mod api_key;
mod bootstrap;
mod scope;

pub use account::{Account, AccountSettings, UnsubscribeScope};
pub use api_key::{ApiKey, IssuedApiKey, VerifiedKey};
pub use bootstrap::ensure_default_account;
pub use scope::{Scope, ScopeSet};
