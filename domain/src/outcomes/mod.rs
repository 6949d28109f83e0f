//! Delivery outcomes: what the relay, a delivery status notification or a feedback report
//! said about one message, what that answer means ([`classify`]: one table of enhanced
//! status codes, RFC 3463, with a fallback by reply code and text), and — in one place,
//! [`record`] — what it does to the message, its address and its campaign.
//!
//! The sender records the relay's answers, the inbound reports module the DSNs and ARF
//! reports; neither decides for itself what a bounce does.

mod classify;
mod record;
mod status;

pub use classify::{
    AnswerClass, Classification, NO_ANSWER, REPLY_TABLE, ReplyRule, STATUS_TABLE, StatusRule,
    classify_reply, classify_report, status_rule,
};
pub use record::{Next, Outcome, OutcomePolicy, Recorded, RelayAnswer, record};
pub use status::EnhancedStatus;
