//! Opening SMTP sessions to the relay (TCP, TLS, EHLO, AUTH) and keeping them for reuse.
//!
//! lettre's own pool is not used: it bounds only the idle connections, not how many are
//! open at once, and a send that is cancelled half-way (a timeout, a task aborted at
//! shutdown) hands its connection back as healthy, so the next message would be written
//! into the middle of the previous transaction. Here a connection goes back to the pool
//! only by an explicit `recycle()` after a completed transaction; dropping a checked-out
//! connection closes it.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, Certificate, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use secrecy::ExposeSecret;
use tokio::sync::{Semaphore, SemaphorePermit};
use tokio::time::timeout;

use super::outcome::{self, DeliveryOutcome, Stage};
use super::settings::{SmtpSecurity, SmtpSettings};
use super::socket::{ImplicitTls, connect_tcp};

/// Relays drop idle sessions after a few minutes (Postfix: 300 s); reconnecting is cheaper
/// than finding out on the next message.
const MAX_IDLE: Duration = Duration::from_secs(60);

pub(crate) struct ConnectionPool {
    relay: Relay,
    idle: Mutex<Vec<IdleConnection>>,
    /// One permit per connection that may be open at once.
    slots: Semaphore,
}

struct IdleConnection {
    connection: AsyncSmtpConnection,
    since: Instant,
}

/// A connection checked out of the pool. Dropping it closes the connection; `recycle()`
/// returns it for reuse.
pub(crate) struct PooledConnection<'a> {
    connection: AsyncSmtpConnection,
    pool: &'a ConnectionPool,
    _slot: SemaphorePermit<'a>,
}

impl ConnectionPool {
    pub(crate) fn new(settings: &SmtpSettings) -> Result<Self, String> {
        Ok(Self {
            relay: Relay::new(settings)?,
            idle: Mutex::new(Vec::new()),
            slots: Semaphore::new(settings.pool_size.max(1) as usize),
        })
    }

    pub(crate) fn settings(&self) -> &SmtpSettings {
        &self.relay.settings
    }

    /// A live connection: an idle one that still answers NOOP, or a new one. Waits while
    /// `pool_size` connections are in use.
    pub(crate) async fn checkout(&self) -> Result<PooledConnection<'_>, DeliveryOutcome> {
        let slot = self
            .slots
            .acquire()
            .await
            .map_err(|_| DeliveryOutcome::TemporaryFailure {
                reason: "the SMTP transport is shut down".to_owned(),
            })?;
        let limit = self.relay.settings.timeout;
        while let Some(idle) = self.take_idle() {
            if idle.since.elapsed() > MAX_IDLE {
                continue; // dropped: closed
            }
            let mut connection = idle.connection;
            if let Ok(true) = timeout(limit, connection.test_connected()).await {
                return Ok(PooledConnection {
                    connection,
                    pool: self,
                    _slot: slot,
                });
            }
        }
        let connection = timeout(limit, self.relay.connect())
            .await
            .map_err(|_| outcome::timed_out(Stage::Session, limit))??;
        Ok(PooledConnection {
            connection,
            pool: self,
            _slot: slot,
        })
    }

    /// Says goodbye (QUIT) to the idle connections.
    pub(crate) async fn close_idle(&self) {
        let idle = std::mem::take(&mut *self.idle.lock().unwrap_or_else(PoisonError::into_inner));
        for mut idle in idle {
            let _ = timeout(Duration::from_secs(1), idle.connection.quit()).await;
        }
    }

    fn take_idle(&self) -> Option<IdleConnection> {
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
    }

    fn park(&self, connection: AsyncSmtpConnection) {
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(IdleConnection {
                connection,
                since: Instant::now(),
            });
    }
}

impl PooledConnection<'_> {
    pub(crate) fn connection(&mut self) -> &mut AsyncSmtpConnection {
        &mut self.connection
    }

    /// Returns the connection to the pool; only call it between transactions.
    pub(crate) fn recycle(self) {
        self.pool.park(self.connection);
    }
}

/// How to open one SMTP session to the relay.
struct Relay {
    settings: SmtpSettings,
    /// Built once: loading the system's root certificates reads many files.
    tls: Option<TlsParameters>,
    hello: ClientId,
}

impl Relay {
    fn new(settings: &SmtpSettings) -> Result<Self, String> {
        Ok(Self {
            settings: settings.clone(),
            tls: tls_parameters(settings)?,
            // lettre's default is the machine's host name, often bare (`vm`).
            hello: ClientId::Domain(settings.ehlo_name.clone()),
        })
    }

    async fn connect(&self) -> Result<AsyncSmtpConnection, DeliveryOutcome> {
        let settings = &self.settings;
        let failed =
            |error: lettre::transport::smtp::Error| outcome::classify(Stage::Session, &error);
        let tcp = connect_tcp(&settings.host, settings.port, settings.timeout).await?;
        let (mut connection, implicit_tls) = match (settings.security, &self.tls) {
            (SmtpSecurity::ImplicitTls, Some(tls)) => {
                let stream = ImplicitTls::handshake(tcp, tls.clone())
                    .await
                    .map_err(failed)?;
                let connection =
                    AsyncSmtpConnection::connect_with_transport(Box::new(stream), &self.hello)
                        .await
                        .map_err(failed)?;
                (connection, true)
            }
            _ => {
                let connection =
                    AsyncSmtpConnection::connect_with_transport(Box::new(tcp), &self.hello)
                        .await
                        .map_err(failed)?;
                (connection, false)
            }
        };
        match (settings.security, &self.tls) {
            // Fails before sending anything else when the relay does not offer STARTTLS.
            (SmtpSecurity::RequireStartTls, Some(tls)) => {
                connection
                    .starttls(tls.clone(), &self.hello)
                    .await
                    .map_err(failed)?;
            }
            (SmtpSecurity::Opportunistic, Some(tls)) if connection.can_starttls() => {
                connection
                    .starttls(tls.clone(), &self.hello)
                    .await
                    .map_err(failed)?;
            }
            _ => {}
        }
        if let Some((user, password)) = &settings.credentials {
            if !may_log_in(settings, implicit_tls || connection.is_encrypted()) {
                return Err(DeliveryOutcome::TemporaryFailure {
                    reason: "SMTP session: the relay offers no STARTTLS, and the password is not \
                             sent unencrypted (use smtps://, or tls=none on a trusted network)"
                        .to_owned(),
                });
            }
            let credentials = Credentials::new(user.clone(), password.expose_secret().to_owned());
            connection
                .auth(&[Mechanism::Plain, Mechanism::Login], &credentials)
                .await
                .map_err(failed)?;
        }
        Ok(connection)
    }
}

/// Whether the password may be sent on this connection. An attacker who strips STARTTLS
/// from the EHLO reply must not get it: unencrypted only to this machine, or where the
/// operator chose `tls=none`.
fn may_log_in(settings: &SmtpSettings, encrypted: bool) -> bool {
    encrypted || settings.security == SmtpSecurity::None || settings.is_loopback()
}

fn tls_parameters(settings: &SmtpSettings) -> Result<Option<TlsParameters>, String> {
    if !settings.security.uses_tls() {
        return Ok(None);
    }
    let mut builder = TlsParameters::builder(settings.host.clone())
        .dangerous_accept_invalid_certs(settings.accept_invalid_certs);
    if let Some(path) = &settings.tls_ca {
        let pem =
            std::fs::read(path).map_err(|e| format!("SMTP_URL tls_ca {}: {e}", path.display()))?;
        if !pem
            .windows(b"-----BEGIN CERTIFICATE-----".len())
            .any(|w| w == b"-----BEGIN CERTIFICATE-----")
        {
            return Err(format!(
                "SMTP_URL tls_ca {}: no PEM certificate in it",
                path.display()
            ));
        }
        let certificate = Certificate::from_pem(&pem)
            .map_err(|e| format!("SMTP_URL tls_ca {}: {e}", path.display()))?;
        builder = builder.add_root_certificate(certificate);
    }
    builder
        .build()
        .map(Some)
        .map_err(|e| format!("SMTP TLS settings: {}", outcome::error_chain(&e)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn settings(url: &str) -> SmtpSettings {
        SmtpSettings::from_url(url).unwrap()
    }

    #[test]
    fn the_password_is_sent_in_clear_only_to_this_machine_or_when_tls_is_off() {
        let remote = settings("smtp://u:p@relay.example.com");
        assert!(may_log_in(&remote, true));
        assert!(
            !may_log_in(&remote, false),
            "STARTTLS stripped: no password"
        );
        assert!(may_log_in(
            &settings("smtp://u:p@relay.example.com?tls=none"),
            false
        ));
        assert!(may_log_in(&settings("smtp://u:p@127.0.0.1:1025"), false));
        assert!(may_log_in(&settings("smtp://u:p@localhost:1025"), false));
    }
}
