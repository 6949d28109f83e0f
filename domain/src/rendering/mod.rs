//! Email rendering: user templates to a finished RFC 5322 message.
//!
//! This module owns every step between a campaign's (or a transactional send's) stored
//! templates and the bytes handed to an SMTP relay:
//!
//! - [`check_templates`] compiles the subject, HTML and text templates so the API can
//!   reject a broken template with its field and line before anything is sent;
//! - [`render`] runs them for one recipient in a sandboxed, fuel-limited minijinja
//!   environment, HTML-escaping only the HTML part, deriving a text part when the
//!   account wrote none, and adding the unsubscribe footer that promise 1 requires
//!   when a marketing template forgot it;
//! - [`render_within`] and [`check_renders`] do the same under a request's
//!   [`RenderBudget`]: the fuel and time one API request may spend over all its renders;
//! - [`build_mime`] turns the rendered parts into a `multipart/alternative` message with
//!   Mailroom's headers (Message-ID, RFC 8058 one-click `List-Unsubscribe`, the
//!   message id used to match bounces) and the account's validated custom headers;
//! - [`verp_address`] / [`message_id_from_verp`] encode the message id in the envelope
//!   sender so that an asynchronous bounce can be tied back to the message it answers.

mod budget;
mod check;
mod context;
mod escape;
mod footer;
mod headers;
pub(crate) mod html_entities;
mod html_text;
mod mime;
mod render;
mod templates;
mod transfer_encoding;
mod verp;

#[cfg(test)]
mod mime_tests;
#[cfg(test)]
mod render_tests;

pub use budget::{BudgetExceeded, BudgetSpent, RenderBudget, RenderFailure};
pub use check::{CheckFailure, RenderCheck, SharedRenders, check_renders};
pub use context::{CampaignVars, ContactVars, ListVars, RenderContext};
pub use headers::{ListUnsubscribe, validate_custom_header};
pub use html_text::html_to_text;
pub use mime::{Address, BuiltMessage, MimeError, MimeInput, build_mime, with_return_path};
pub use render::{MessageKind, Rendered, render, render_within};
pub use templates::{RenderLimits, TemplateError, TemplateSource, check_templates};
pub use verp::{message_id_from_verp, verp_address};
