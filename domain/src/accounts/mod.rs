//! Accounts (tenants), their settings and deletion, their API keys and the scopes keys
//! carry.

mod account;
mod api_key;
mod bootstrap;
mod deletion;
mod scope;

pub use account::{Account, AccountSettings, UnsubscribeScope};
pub use api_key::{ApiKey, CheckMemory, IssuedApiKey, KeyCredentials, VerifiedKey};
pub use bootstrap::ensure_default_account;
pub use deletion::PAUSED_FOR_DELETION;
pub use scope::{Scope, ScopeSet};
