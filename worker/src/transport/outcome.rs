//! What became of one message handed to the relay, and how SMTP replies and errors map to it.

use std::error::Error as _;
use std::fmt;
use std::time::Duration;

use lettre::transport::smtp::Error as SmtpError;
use lettre::transport::smtp::response::Response;

/// The result of one delivery attempt, as the relay put it. What an answer means — a hard
/// or soft bounce, a blocked message, a retry — is for the classification table in
/// `mailroom_domain::outcomes` to say, not for the transport.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// The relay took responsibility for the message (2xx after DATA).
    Delivered {
        /// The relay's reply, e.g. `250 2.0.0 OK queued as 1A2B3C`.
        response: String,
    },
    /// No answer about this message: the relay could not be reached, the session failed
    /// (TLS, login, greeting), the relay refused our envelope sender, or it did not answer
    /// in time. Never the recipient's fault; retrying may help.
    TemporaryFailure { reason: String },
    /// The relay refused this recipient or this message: a 4xx or 5xx reply at RCPT TO or
    /// DATA. `text` is the reply's text, usually starting with an enhanced status code
    /// such as `5.1.1`.
    Refused { code: u16, text: String },
}

impl DeliveryOutcome {
    pub fn is_delivered(&self) -> bool {
        matches!(self, Self::Delivered { .. })
    }
}

impl fmt::Display for DeliveryOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Delivered { response } => write!(f, "delivered ({response})"),
            Self::TemporaryFailure { reason } => write!(f, "temporary failure: {reason}"),
            Self::Refused { code, text } => write!(f, "refused: {code} {text}"),
        }
    }
}

/// Where in the SMTP conversation something went wrong: only a refusal at RCPT TO or DATA
/// is about the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    /// TCP, greeting, EHLO, STARTTLS, AUTH, or the liveness check of a pooled connection.
    Session,
    /// MAIL FROM: the relay judging our sender, not the recipient.
    Sender,
    /// RCPT TO.
    Recipient,
    /// DATA and the message itself.
    Data,
}

impl Stage {
    fn describe(self) -> &'static str {
        match self {
            Self::Session => "SMTP session",
            Self::Sender => "MAIL FROM",
            Self::Recipient => "RCPT TO",
            Self::Data => "DATA",
        }
    }

    fn judges_the_message(self) -> bool {
        matches!(self, Self::Recipient | Self::Data)
    }
}

/// Maps a lettre error at `stage` to an outcome.
pub(crate) fn classify(stage: Stage, error: &SmtpError) -> DeliveryOutcome {
    match error.status() {
        Some(code) if stage.judges_the_message() => DeliveryOutcome::Refused {
            code: code.into(),
            text: reply_text(error),
        },
        Some(code) => DeliveryOutcome::TemporaryFailure {
            reason: format!(
                "{} refused: {} {}",
                stage.describe(),
                u16::from(code),
                reply_text(error)
            ),
        },
        None => DeliveryOutcome::TemporaryFailure {
            reason: format!("{}: {}", stage.describe(), error_chain(error)),
        },
    }
}

pub(crate) fn timed_out(stage: Stage, limit: Duration) -> DeliveryOutcome {
    DeliveryOutcome::TemporaryFailure {
        reason: format!(
            "{}: no answer from the relay within {} s",
            stage.describe(),
            limit.as_secs_f32()
        ),
    }
}

pub(crate) fn delivered(response: &Response) -> DeliveryOutcome {
    DeliveryOutcome::Delivered {
        response: reply(response),
    }
}

/// A reply as the relay sent it: `250 2.0.0 OK queued as 1`.
pub(crate) fn reply(response: &Response) -> String {
    let code: u16 = response.code().into();
    let text = response.message().collect::<Vec<_>>().join(" ");
    if text.is_empty() {
        code.to_string()
    } else {
        format!("{code} {text}")
    }
}

/// True when the relay answered with a reply code and is still in step with us, so the
/// connection can be reset and reused; 421 means the relay is closing it.
pub(crate) fn connection_survives(error: &SmtpError) -> bool {
    error.status().is_some_and(|code| u16::from(code) != 421)
}

/// The text of a negative reply (lettre keeps it as the error's source).
fn reply_text(error: &SmtpError) -> String {
    error.source().map(|s| s.to_string()).unwrap_or_default()
}

/// An error and the causes its message does not already include, without the repeats
/// that nested lettre errors produce ("Connection error: Connection error: …").
pub(crate) fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    let mut parts: Vec<&str> = text.split(": ").collect();
    parts.dedup();
    parts.join(": ")
}
