//! Which account a bounce address belongs to: the VERP address a message was sent from
//! (`bounces+<message id>@<bounce domain>`) names the message, and the message its
//! account. This is how mail arriving over SMTP, with no account token, finds its account.

use diesel::prelude::*;

use crate::error::Result;
use crate::rendering::message_id_from_verp;
use crate::schema::messages;
use crate::store::DbConnection;
use crate::store::sql_types::Id;

/// The account of the message `address` is the bounce address of; `None` for an address
/// of another domain, one that is not a VERP address, or one whose message does not exist
/// (never sent, or erased).
pub fn account_of_bounce_address(
    conn: &mut DbConnection,
    address: &str,
    bounce_domain: &str,
) -> Result<Option<Id>> {
    let Some((_, domain)) = address.trim().rsplit_once('@') else {
        return Ok(None);
    };
    if !domain.eq_ignore_ascii_case(bounce_domain) {
        return Ok(None);
    }
    let Some(message) = message_id_from_verp(address) else {
        return Ok(None);
    };
    Ok(messages::table
        .find(message)
        .select(messages::account_id)
        .first::<Id>(conn)
        .optional()?)
}
