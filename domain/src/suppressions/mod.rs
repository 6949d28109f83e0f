//! The suppression list: addresses an account must never mail again (bounced, complained,
//! unsubscribed account-wide, suppressed by hand, or erased).
//!
//! Every entry is found by a keyed hash of the normalised address, never by the address
//! itself: erasure removes the address from the entry but keeps the hash, so an erased
//! person who is re-imported is still never mailed.

mod hash;
mod suppression;

pub use hash::{HashKey, email_hash};
pub use suppression::{
    AddedSuppression, Suppression, SuppressionFilter, SuppressionReason, UNDOABLE_REASONS,
};
