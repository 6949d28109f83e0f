//! Lists and their members.

mod confirmation;
mod list;
mod member;
mod unsubscribe;

pub use confirmation::{ConfirmOutcome, ConfirmationEvidence, confirm_membership};
pub use list::{ListChanges, MailingList};
pub use member::{
    AddedMember, Member, MemberStatus, MemberSubject, MembershipRow, parse_member_email,
};
pub use unsubscribe::{UnsubscribeOutcome, UnsubscribeVia, unsubscribe_by_message};
