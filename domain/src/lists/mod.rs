//! Lists and their members.

mod list;
mod member;

pub use list::{ListChanges, MailingList};
pub use member::{
    AddedMember, Member, MemberStatus, MemberSubject, MembershipRow, parse_member_email,
};
