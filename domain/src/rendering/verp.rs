//! VERP: the message id encoded in the envelope sender.
//!
//! An asynchronous bounce (a DSN sent hours later by the recipient's server) goes to
//! the envelope sender, and DSNs rarely quote the original headers reliably. Putting
//! the message id in that address (`bounces+<id>@<bounce domain>`) ties every bounce to
//! the message, and so to the contact and campaign, without parsing the DSN body.

use crate::Id;

const PREFIX: &str = "bounces+";

/// The envelope sender (Return-Path) for message `message_id`.
pub fn verp_address(message_id: Id, bounce_domain: &str) -> String {
    format!("{PREFIX}{}@{bounce_domain}", message_id.0.simple())
}

/// The message id a bounce address carries, if it is one of Mailroom's.
///
/// Accepts the address with or without angle brackets and in any case: some servers
/// upper-case local parts on the way back.
pub fn message_id_from_verp(address: &str) -> Option<Id> {
    let address = address.trim();
    let address = address
        .strip_prefix('<')
        .and_then(|a| a.strip_suffix('>'))
        .unwrap_or(address);
    let (local, domain) = address.rsplit_once('@')?;
    if domain.is_empty() || local.len() != PREFIX.len() + 32 {
        return None;
    }
    let (prefix, tag) = local.split_at_checked(PREFIX.len())?;
    if !prefix.eq_ignore_ascii_case(PREFIX) || !tag.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    uuid::Uuid::try_parse(tag).ok().map(Id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bounce_address_leads_back_to_its_message() {
        let id = Id::new();
        let address = verp_address(id, "bounces.example.com");
        assert!(address.starts_with("bounces+"));
        assert!(address.ends_with("@bounces.example.com"));
        assert_eq!(
            address.len(),
            "bounces+".len() + 32 + "@bounces.example.com".len()
        );
        assert_eq!(message_id_from_verp(&address), Some(id));
        assert_eq!(
            message_id_from_verp(&format!("<{}>", address.to_uppercase())),
            Some(id)
        );
    }

    #[test]
    fn other_addresses_carry_no_message_id() {
        assert_eq!(message_id_from_verp("postmaster@example.com"), None);
        assert_eq!(message_id_from_verp("bounces+1234@example.com"), None);
        assert_eq!(
            message_id_from_verp(&format!("bounces+{}@", "a".repeat(32))),
            None
        );
        assert_eq!(
            message_id_from_verp(&format!("bounces+{}@x.example", "g".repeat(32))),
            None
        );
        assert_eq!(
            message_id_from_verp(&format!("other+{}@x.example", "a".repeat(32))),
            None
        );
    }
}
