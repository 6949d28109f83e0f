//! `SmtpTransport`: hands one finished RFC 5322 message to the relay for one recipient.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use lettre::address::{Address, Envelope};
use lettre::transport::smtp::Error as SmtpError;
use lettre::transport::smtp::client::AsyncSmtpConnection;
use lettre::transport::smtp::commands::{Data, Mail, Noop, Rcpt, Rset};
use lettre::transport::smtp::extension::{Extension, MailBodyParameter, MailParameter};
use lettre::transport::smtp::response::Response;
use tokio::time::timeout;

use super::outcome::{self, DeliveryOutcome, Stage};
use super::pool::ConnectionPool;
use super::settings::SmtpSettings;

/// Delivers over pooled SMTP connections to one relay. Cheap to clone; clones share the
/// pool. At most `pool_size` messages are in flight at once: further calls wait for a
/// connection.
#[derive(Clone)]
pub struct SmtpTransport {
    pool: Arc<ConnectionPool>,
}

impl SmtpTransport {
    /// Prepares the transport; it connects lazily, on the first message or `check()`.
    /// Fails only on settings that can never work (an unreadable `tls_ca` file).
    pub fn new(settings: &SmtpSettings) -> Result<Self, String> {
        Ok(Self {
            pool: Arc::new(ConnectionPool::new(settings)?),
        })
    }

    pub fn settings(&self) -> &SmtpSettings {
        self.pool.settings()
    }

    /// Sends `raw`, a complete RFC 5322 message, with the envelope `MAIL FROM:<envelope_from>`
    /// (empty for the null sender) and `RCPT TO:<to>`. The relay receives the bytes as they
    /// are, except that a bare CR or LF becomes CRLF (RFC 5322 allows no other line end, and
    /// relays that read them differently can be tricked into ending DATA early) and a
    /// message that does not end with CRLF gets one.
    pub async fn deliver(&self, envelope_from: &str, to: &str, raw: &[u8]) -> DeliveryOutcome {
        let envelope = match envelope(envelope_from, to) {
            Ok(envelope) => envelope,
            Err(outcome) => return outcome,
        };
        let mut pooled = match self.pool.checkout().await {
            Ok(pooled) => pooled,
            Err(outcome) => return outcome,
        };
        let options = match mail_options(pooled.connection(), envelope_from, to, raw) {
            Ok(options) => options,
            Err(outcome) => {
                pooled.recycle(); // nothing was sent on it
                return outcome;
            }
        };
        let limit = self.settings().timeout;
        let mut stage = Stage::Sender;
        let sent = timeout(
            limit,
            transaction(pooled.connection(), &envelope, options, raw, &mut stage),
        )
        .await;
        match sent {
            Ok(Ok(response)) => {
                pooled.recycle();
                outcome::delivered(&response)
            }
            Ok(Err(error)) => {
                let outcome = outcome::classify(stage, &error);
                // A refusal leaves the session usable: reset it instead of reconnecting.
                if outcome::connection_survives(&error)
                    && matches!(
                        timeout(limit, pooled.connection().command(Rset)).await,
                        Ok(Ok(_))
                    )
                {
                    pooled.recycle();
                }
                outcome
            }
            // The connection is dropped (closed) mid-transaction, so the relay discards it.
            Err(_) => outcome::timed_out(stage, limit),
        }
    }

    /// Whether the relay can be reached, logged in to and answers NOOP: for readiness probes.
    pub async fn check(&self) -> Result<(), String> {
        let limit = self.settings().timeout;
        let mut pooled = self.pool.checkout().await.map_err(|o| o.to_string())?;
        match timeout(limit, pooled.connection().command(Noop)).await {
            Ok(Ok(_)) => {
                pooled.recycle();
                Ok(())
            }
            Ok(Err(error)) => Err(format!("NOOP: {}", outcome::error_chain(&error))),
            Err(_) => Err(format!("NOOP: no answer within {} s", limit.as_secs_f32())),
        }
    }

    /// Closes the idle connections politely (QUIT), e.g. at shutdown.
    pub async fn close(&self) {
        self.pool.close_idle().await;
    }
}

impl fmt::Debug for SmtpTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpTransport")
            .field("relay", &self.settings().redacted())
            .finish()
    }
}

fn envelope(envelope_from: &str, to: &str) -> Result<Envelope, DeliveryOutcome> {
    // The address is not repeated: logs mask recipients.
    let recipient = to
        .parse::<Address>()
        .map_err(|e| DeliveryOutcome::Refused {
            code: 553,
            text: format!("5.1.3 invalid recipient address, not sent: {e}"),
        })?;
    let sender =
        if envelope_from.is_empty() {
            None
        } else {
            Some(envelope_from.parse::<Address>().map_err(|e| {
                DeliveryOutcome::TemporaryFailure {
                    reason: format!("invalid envelope sender {envelope_from:?}: {e}"),
                }
            })?)
        };
    Envelope::new(sender, vec![recipient]).map_err(|e| DeliveryOutcome::TemporaryFailure {
        reason: format!("invalid envelope: {e}"),
    })
}

/// MAIL FROM parameters the message needs, refusing what the relay can't carry (as lettre
/// does): non-ASCII addresses need SMTPUTF8, a non-ASCII body needs 8BITMIME.
fn mail_options(
    connection: &AsyncSmtpConnection,
    envelope_from: &str,
    to: &str,
    raw: &[u8],
) -> Result<Vec<MailParameter>, DeliveryOutcome> {
    let server = connection.server_info();
    let mut options = Vec::new();
    if !envelope_from.is_ascii() || !to.is_ascii() {
        if !server.supports_feature(Extension::SmtpUtfEight) {
            return Err(DeliveryOutcome::TemporaryFailure {
                reason: "the relay does not support SMTPUTF8, needed for a non-ASCII address"
                    .to_owned(),
            });
        }
        options.push(MailParameter::SmtpUtfEight);
    }
    if !raw.is_ascii() {
        if !server.supports_feature(Extension::EightBitMime) {
            return Err(DeliveryOutcome::TemporaryFailure {
                reason: "the relay does not support 8BITMIME, needed for this 8-bit message"
                    .to_owned(),
            });
        }
        options.push(MailParameter::Body(MailBodyParameter::EightBitMime));
    }
    Ok(options)
}

/// MAIL FROM, RCPT TO, DATA and the message, noting the stage so that an error or a
/// timeout can say where it happened.
async fn transaction(
    connection: &mut AsyncSmtpConnection,
    envelope: &Envelope,
    options: Vec<MailParameter>,
    raw: &[u8],
    stage: &mut Stage,
) -> Result<Response, SmtpError> {
    *stage = Stage::Sender;
    connection
        .command(Mail::new(envelope.from().cloned(), options))
        .await?;
    *stage = Stage::Recipient;
    for recipient in envelope.to() {
        connection
            .command(Rcpt::new(recipient.clone(), Vec::new()))
            .await?;
    }
    *stage = Stage::Data;
    connection.command(Data).await?;
    connection.message(&data_payload(raw)).await
}

/// What to send after DATA: CRLF line ends only, and without the final CRLF, which lettre
/// sends as the start of the end-of-data marker (`\r\n.\r\n`).
fn data_payload(raw: &[u8]) -> Cow<'_, [u8]> {
    let bare_line_break = raw.iter().enumerate().any(|(i, &byte)| match byte {
        b'\n' => i == 0 || raw[i - 1] != b'\r',
        b'\r' => raw.get(i + 1) != Some(&b'\n'),
        _ => false,
    });
    let mut payload = if bare_line_break {
        let mut crlf = Vec::with_capacity(raw.len() + raw.len() / 32);
        let mut bytes = raw.iter().peekable();
        while let Some(&byte) = bytes.next() {
            match byte {
                b'\r' => {
                    crlf.extend_from_slice(b"\r\n");
                    bytes.next_if_eq(&&b'\n');
                }
                b'\n' => crlf.extend_from_slice(b"\r\n"),
                other => crlf.push(other),
            }
        }
        Cow::Owned(crlf)
    } else {
        Cow::Borrowed(raw)
    };
    if payload.ends_with(b"\r\n") {
        match &mut payload {
            Cow::Borrowed(bytes) => *bytes = &bytes[..bytes.len() - 2],
            Cow::Owned(bytes) => bytes.truncate(bytes.len() - 2),
        }
    }
    payload
}

#[cfg(test)]
mod tests {
    use super::data_payload;

    #[test]
    fn the_data_payload_has_crlf_line_ends_and_leaves_the_last_one_to_the_terminator() {
        assert_eq!(&*data_payload(b"A: b\r\n\r\nbody\r\n"), b"A: b\r\n\r\nbody");
        assert_eq!(&*data_payload(b"A: b\r\n\r\nbody"), b"A: b\r\n\r\nbody");
        assert_eq!(
            &*data_payload(b"A: b\n\nx\r.\n\r\n"),
            b"A: b\r\n\r\nx\r\n.\r\n"
        );
        assert_eq!(&*data_payload(b"\n"), b"");
        assert_eq!(&*data_payload(b""), b"");
    }
}
