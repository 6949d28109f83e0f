//! Sending domains: the domains an account proved it owns, and the DKIM keys Mailroom
//! signs the account's mail with.
//!
//! - `name` parses a domain name as an account types it (IDNA, case, a trailing dot);
//! - `dkim` makes key pairs and signs messages with them (Stalwart's `mail-auth`);
//! - `sending_domain` owns the rows: create, list, find, delete, the records to publish,
//!   key rotation and the domain's defaults (sender name, Reply-To);
//! - `check` looks the records up in DNS and says, per record, what it found;
//! - `recheck` stores the periodic check's findings and announces status changes;
//! - `sender` decides whether an account may send from an address.

mod check;
mod dkim;
mod name;
mod recheck;
mod sender;
mod sending_domain;

pub use check::{CheckedRecord, DnsServers, DomainCheck, RecordFinding, RecordState, check_domain};
pub use dkim::{DKIM_SIGNED_HEADERS, DkimAlgorithm, DkimKeyPair, DomainSigner};
pub use name::parse_domain;
pub use recheck::{DOMAIN_STATUS_CHANGED, StatusChange, all_domain_ids, record_periodic_check};
pub use sender::{SenderCheck, SenderPolicy, domain_of_address, verified_domain_for};
pub use sending_domain::{DnsRecord, DomainStatus, NewSendingDomain, RecordPurpose, SendingDomain};
