//! What became of one message handed to the relay, and how SMTP replies and errors map to it.

use std::error::Error as _;
use std::fmt;
use std::time::Duration;

use lettre::transport::smtp::Error as SmtpError;
use lettre::transport::smtp::response::Response;

/// The result of one delivery attempt.
///
/// Only a refusal of this recipient or this message is permanent. A relay that is down,
/// slow, misconfigured (TLS, login), refuses our envelope sender or refuses to relay for us
/// is a temporary failure: retrying may help, and bouncing the recipient for the relay's
/// fault would suppress addresses that are fine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// The relay took responsibility for the message (2xx after DATA).
    Delivered {
        /// The relay's reply, e.g. `250 2.0.0 OK queued as 1A2B3C`.
        response: String,
    },
    /// Try again later: a 4xx reply, or no usable SMTP session (refused, reset or timed-out
    /// connection, TLS or AUTH failing, the sender refused).
    TemporaryFailure { reason: String },
    /// The relay refused the recipient or the message for good (5xx at RCPT TO or DATA):
    /// a bounce. `reason` is the relay's text, usually starting with an enhanced status code
    /// such as `5.1.1`.
    PermanentFailure { code: u16, reason: String },
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
            Self::PermanentFailure { code, reason } => {
                write!(f, "permanent failure: {code} {reason}")
            }
        }
    }
}

/// Where in the SMTP conversation something went wrong; it decides whether a 5xx bounces.
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
        Some(code)
            if error.is_permanent()
                && stage.judges_the_message()
                && !blames_our_setup(code.into(), &reply_text(error)) =>
        {
            DeliveryOutcome::PermanentFailure {
                code: code.into(),
                reason: reply_text(error),
            }
        }
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

/// A 5xx at RCPT TO that refuses us rather than the recipient: the relay wants a login
/// (530) or will not relay for us. Bouncing on it would suppress every address on the
/// list because of one configuration mistake.
fn blames_our_setup(code: u16, text: &str) -> bool {
    const RELAY_REFUSALS: [&str; 5] = [
        "relay access denied",
        "relaying denied",
        "unable to relay",
        "relay not permitted",
        "relaying not allowed",
    ];
    let text = text.to_ascii_lowercase();
    matches!(code, 530 | 535) || RELAY_REFUSALS.iter().any(|refusal| text.contains(refusal))
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

#[cfg(test)]
mod tests {
    use super::blames_our_setup;

    #[test]
    fn a_relay_refusing_to_relay_for_us_is_not_the_recipients_fault() {
        assert!(blames_our_setup(530, "5.7.0 Authentication required"));
        assert!(blames_our_setup(
            554,
            "5.7.1 <a@example.com>: Relay access denied"
        ));
        assert!(blames_our_setup(
            550,
            "5.7.54 SMTP; Unable to relay recipient in non-accepted domain"
        ));
        assert!(!blames_our_setup(550, "5.1.1 user unknown"));
        assert!(!blames_our_setup(552, "5.2.2 mailbox full"));
        assert!(!blames_our_setup(554, "5.7.1 rejected as spam"));
    }
}
