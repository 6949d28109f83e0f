//! Delivery to an SMTP relay: `SMTP_URL` settings, pooled connections (lettre's SMTP
//! client over rustls), and typed outcomes that tell a bounce from a retry.
//!
//! Rate and concurrency limits are the caller's; the transport only bounds how many
//! connections it opens (`pool=`).

mod outcome;
mod pool;
mod settings;
mod smtp;
mod socket;

pub use outcome::DeliveryOutcome;
pub use settings::{SmtpSecurity, SmtpSettings};
pub use smtp::SmtpTransport;
