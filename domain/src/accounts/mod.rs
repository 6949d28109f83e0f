//! Accounts (tenants), their settings, suspension, sending limits and deletion, their API
//! keys and the scopes keys carry.

mod account;
mod api_key;
mod bootstrap;
mod deletion;
pub mod operator_alert;
pub mod protection;
pub mod quota;
mod scope;
pub mod sending_gate;
mod suspension;
pub mod usage;

pub use account::{Account, AccountSettings, AccountStatus, UnsubscribeScope};
pub use api_key::{ApiKey, CheckMemory, IssuedApiKey, KeyCredentials, VerifiedKey};
pub use bootstrap::ensure_default_account;
pub use deletion::PAUSED_FOR_DELETION;
pub use quota::{LimitSetting, SendingLimits};
pub use scope::{Scope, ScopeSet};
pub use sending_gate::Admission;
pub use suspension::{
    AUTOMATIC_SUSPENSION_ACTION, MAX_REASON_CHARS, PAUSED_FOR_SUSPENSION, SuspendedBy,
};
