//! `SMTP_URL`: where the relay is, how to secure the connection, and how to log in.
//!
//! ```text
//! smtp://[user:password@]host[:port][?option=value&…]    port 25, STARTTLS when offered
//! smtps://[user:password@]host[:port][?option=value&…]   port 465, TLS from the first byte
//! ```
//! User and password are percent-decoded (`p%40ss` → `p@ss`). Options:
//! - `tls=opportunistic` (the `smtp://` default) upgrades with STARTTLS when the relay offers
//!   it; `tls=required` refuses to send anything unless STARTTLS succeeds; `tls=none` never
//!   upgrades (a trusted local relay). The certificate is verified in every mode.
//! - `tls_ca=/path/ca.pem` trusts this CA besides the system's roots (a private relay).
//! - `tls_insecure=true` accepts any certificate. For tests with throw-away certificates
//!   only: it makes TLS worthless against an active attacker.
//! - `pool=N` (default 4): at most N connections to the relay at once, kept open between
//!   messages.
//! - `timeout_secs=N` (default 30): how long connecting (TCP, TLS, EHLO, AUTH) or one mail
//!   transaction may take before it counts as a temporary failure.

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use percent_encoding::percent_decode_str;
use secrecy::{ExposeSecret, SecretString};

const DEFAULT_SMTP_PORT: u16 = 25;
const DEFAULT_SMTPS_PORT: u16 = 465;
const DEFAULT_POOL_SIZE: u32 = 4;
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// A fully-qualified name for settings built without one: never the machine's bare host
/// name, which relays with a `reject_non_fqdn_helo_hostname` policy refuse.
const DEFAULT_EHLO_NAME: &str = "mailroom.localhost";

/// How the connection to the relay is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// Plain TCP, upgraded with STARTTLS when the relay offers it.
    Opportunistic,
    /// Plain TCP that must be upgraded with STARTTLS before anything else is sent.
    RequireStartTls,
    /// TLS from the first byte (`smtps://`, RFC 8314).
    ImplicitTls,
    /// Plain TCP only (`tls=none`): for a relay on a trusted network.
    None,
}

impl SmtpSecurity {
    fn url_option(self) -> &'static str {
        match self {
            Self::Opportunistic => "opportunistic",
            Self::RequireStartTls => "required",
            Self::ImplicitTls => "implicit",
            Self::None => "none",
        }
    }

    /// Whether this mode may talk TLS at all.
    pub fn uses_tls(self) -> bool {
        !matches!(self, Self::None)
    }
}

/// The SMTP relay settings, parsed once from `SMTP_URL`. `Display` (and `redacted()`)
/// never shows the password.
#[derive(Clone)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    /// User name and password for AUTH PLAIN/LOGIN.
    pub credentials: Option<(String, SecretString)>,
    pub security: SmtpSecurity,
    /// At most this many connections to the relay at once; idle ones are kept for reuse.
    pub pool_size: u32,
    /// Bound on connecting, and separately on one mail transaction.
    pub timeout: Duration,
    /// A PEM file of extra CA certificates to trust (`tls_ca=`).
    pub tls_ca: Option<PathBuf>,
    /// Accept any certificate (`tls_insecure=true`): for tests only.
    pub accept_invalid_certs: bool,
    /// The name Mailroom greets the relay with (EHLO), fully qualified
    /// (`MAILROOM_EHLO_NAME`; see [`with_ehlo_name`](Self::with_ehlo_name)).
    pub ehlo_name: String,
}

impl SmtpSettings {
    /// Parses an `smtp://` or `smtps://` URL (see the module docs). The error names what is
    /// wrong and never repeats the URL, which may hold a password.
    pub fn from_url(input: &str) -> Result<Self, String> {
        let url = url::Url::parse(input).map_err(|e| format!("SMTP_URL is not a URL: {e}"))?;
        let (default_port, mut security) = match url.scheme() {
            "smtp" => (DEFAULT_SMTP_PORT, SmtpSecurity::Opportunistic),
            "smtps" => (DEFAULT_SMTPS_PORT, SmtpSecurity::ImplicitTls),
            other => {
                return Err(format!(
                    "SMTP_URL scheme must be smtp or smtps, not {other:?}"
                ));
            }
        };
        let host = match url.host() {
            Some(url::Host::Domain(name)) if !name.is_empty() => {
                percent_decode(name, "host")?.to_ascii_lowercase()
            }
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            _ => return Err("SMTP_URL has no host".to_owned()),
        };
        if !matches!(url.path(), "" | "/") || url.fragment().is_some() {
            return Err("SMTP_URL takes no path or fragment".to_owned());
        }
        let credentials = credentials(&url)?;
        let mut settings = SmtpSettings {
            host,
            port: url.port().unwrap_or(default_port),
            credentials,
            security,
            pool_size: DEFAULT_POOL_SIZE,
            timeout: DEFAULT_TIMEOUT,
            tls_ca: None,
            accept_invalid_certs: false,
            ehlo_name: DEFAULT_EHLO_NAME.to_owned(),
        };
        for (key, value) in url.query_pairs() {
            match key.as_ref() {
                "tls" => {
                    security = match (value.as_ref(), url.scheme()) {
                        ("implicit", "smtps") => SmtpSecurity::ImplicitTls,
                        ("opportunistic", "smtp") => SmtpSecurity::Opportunistic,
                        ("required", "smtp") => SmtpSecurity::RequireStartTls,
                        ("none", "smtp") => SmtpSecurity::None,
                        (other, "smtps") => {
                            return Err(format!(
                                "SMTP_URL: smtps:// is always TLS; tls={other} does not apply"
                            ));
                        }
                        (other, _) => {
                            return Err(format!(
                                "SMTP_URL: tls must be opportunistic, required or none, not {other:?}"
                            ));
                        }
                    }
                }
                "pool" => settings.pool_size = positive(&key, &value)?,
                "timeout_secs" => settings.timeout = Duration::from_secs(positive(&key, &value)?),
                "tls_ca" if value.is_empty() => {
                    return Err("SMTP_URL: tls_ca needs a file name".to_owned());
                }
                "tls_ca" => settings.tls_ca = Some(PathBuf::from(&*value)),
                "tls_insecure" => {
                    settings.accept_invalid_certs = match value.as_ref() {
                        "true" | "1" => true,
                        "false" | "0" => false,
                        other => {
                            return Err(format!(
                                "SMTP_URL: tls_insecure must be true or false, not {other:?}"
                            ));
                        }
                    }
                }
                other => return Err(format!("SMTP_URL: unknown option {other:?}")),
            }
        }
        settings.security = security;
        if !security.uses_tls() && (settings.tls_ca.is_some() || settings.accept_invalid_certs) {
            return Err("SMTP_URL: tls_ca and tls_insecure need TLS, but tls=none".to_owned());
        }
        Ok(settings)
    }

    /// Greets the relay with `name` (a fully-qualified name, checked by the settings).
    pub fn with_ehlo_name(mut self, name: &str) -> Self {
        self.ehlo_name = name.to_owned();
        self
    }

    /// The settings as a URL with the password (and a user name equal to it) masked.
    pub fn redacted(&self) -> String {
        let scheme = match self.security {
            SmtpSecurity::ImplicitTls => "smtps",
            _ => "smtp",
        };
        let user = match &self.credentials {
            // Some relays (Postmark) take the same API token as user and password.
            Some((user, password)) if user == password.expose_secret() => "***:***@".to_owned(),
            Some((user, _)) => format!("{}:***@", encode_userinfo(user)),
            None => String::new(),
        };
        let host = match self.host.parse::<IpAddr>() {
            Ok(IpAddr::V6(ip)) => format!("[{ip}]"),
            _ => self.host.clone(),
        };
        let mut options = vec![format!("pool={}", self.pool_size)];
        if self.security != SmtpSecurity::ImplicitTls {
            options.insert(0, format!("tls={}", self.security.url_option()));
        }
        options.push(format!("timeout_secs={}", self.timeout.as_secs()));
        if let Some(ca) = &self.tls_ca {
            options.push(format!("tls_ca={}", ca.display()));
        }
        if self.accept_invalid_certs {
            options.push("tls_insecure=true".to_owned());
        }
        format!(
            "{scheme}://{user}{host}:{port}?{options}",
            port = self.port,
            options = options.join("&")
        )
    }

    /// Whether the relay is on this machine, where an unencrypted login can't be overheard.
    pub fn is_loopback(&self) -> bool {
        self.host == "localhost" || self.host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
    }
}

impl fmt::Display for SmtpSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("SmtpSettings")
            .field(&self.redacted())
            .finish()
    }
}

fn credentials(url: &url::Url) -> Result<Option<(String, SecretString)>, String> {
    let user = percent_decode(url.username(), "user name")?;
    let password = url
        .password()
        .map(|p| percent_decode(p, "password"))
        .transpose()?;
    match (user.is_empty(), password) {
        (true, None) => Ok(None),
        (false, Some(password)) => Ok(Some((user, SecretString::from(password)))),
        (false, None) => Err("SMTP_URL has a user name but no password".to_owned()),
        (true, Some(_)) => Err("SMTP_URL has a password but no user name".to_owned()),
    }
}

fn percent_decode(raw: &str, what: &str) -> Result<String, String> {
    percent_decode_str(raw)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| format!("SMTP_URL: the {what} is not UTF-8 once percent-decoded"))
}

fn encode_userinfo(raw: &str) -> String {
    const USERINFO: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(raw, USERINFO).to_string()
}

fn positive<T: std::str::FromStr + PartialOrd + Default>(
    key: &str,
    value: &str,
) -> Result<T, String> {
    match value.parse::<T>() {
        Ok(n) if n > T::default() => Ok(n),
        _ => Err(format!(
            "SMTP_URL: {key} must be a positive whole number, not {value:?}"
        )),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn parse(url: &str) -> SmtpSettings {
        SmtpSettings::from_url(url).unwrap()
    }

    #[test]
    fn smtp_urls_default_to_port_25_with_starttls_when_offered() {
        let s = parse("smtp://relay.example.com");
        assert_eq!(s.host, "relay.example.com");
        assert_eq!(s.port, 25);
        assert_eq!(s.security, SmtpSecurity::Opportunistic);
        assert!(s.credentials.is_none());
        assert_eq!(s.pool_size, 4);
        assert_eq!(s.timeout, Duration::from_secs(30));
        assert!(s.tls_ca.is_none());
        assert!(!s.accept_invalid_certs);
    }

    #[test]
    fn smtps_urls_use_implicit_tls_on_port_465() {
        let s = parse("smtps://relay.example.com");
        assert_eq!((s.port, s.security), (465, SmtpSecurity::ImplicitTls));
        let s = parse("smtps://relay.example.com:2465");
        assert_eq!((s.port, s.security), (2465, SmtpSecurity::ImplicitTls));
    }

    #[test]
    fn tls_required_insists_on_starttls() {
        let s = parse("smtp://relay.example.com:587?tls=required");
        assert_eq!((s.port, s.security), (587, SmtpSecurity::RequireStartTls));
        assert_eq!(parse("smtp://h?tls=none").security, SmtpSecurity::None);
        assert_eq!(
            parse("smtp://h?tls=opportunistic").security,
            SmtpSecurity::Opportunistic
        );
    }

    #[test]
    fn credentials_are_percent_decoded() {
        let s = parse("smtp://us%40er%3Ax:p%40ss%3Aw%2Fo%20rd%25@relay.example.com:587");
        let (user, password) = s.credentials.unwrap();
        assert_eq!(user, "us@er:x");
        assert_eq!(password.expose_secret(), "p@ss:w/o rd%");
    }

    #[test]
    fn pool_timeout_and_certificate_options_are_read() {
        let s = parse(
            "smtp://h:2525?pool=16&timeout_secs=5&tls_ca=/etc/mailroom/ca.pem&tls_insecure=true",
        );
        assert_eq!(s.pool_size, 16);
        assert_eq!(s.timeout, Duration::from_secs(5));
        assert_eq!(s.tls_ca, Some(PathBuf::from("/etc/mailroom/ca.pem")));
        assert!(s.accept_invalid_certs);
    }

    #[test]
    fn ip_hosts_are_accepted() {
        assert_eq!(parse("smtp://127.0.0.1:1025").host, "127.0.0.1");
        let v6 = parse("smtp://[::1]:1025");
        assert_eq!(v6.host, "::1");
        assert!(v6.is_loopback());
        assert!(parse("smtp://localhost").is_loopback());
        assert!(!parse("smtp://relay.example.com").is_loopback());
    }

    #[test]
    fn invalid_urls_are_rejected_without_repeating_the_password() {
        for url in [
            "http://u:secret-pw@h",
            "smtp://u:secret-pw@h?tls=require",
            "smtp://u:secret-pw@h?pool=0",
            "smtp://u:secret-pw@h?timeout_secs=-1",
            "smtp://u:secret-pw@h?poolsize=3",
            "smtps://u:secret-pw@h?tls=required",
            "smtp://u:secret-pw@h?tls=none&tls_insecure=true",
            "smtp://u:secret-pw@h?tls_insecure=yes",
            "smtp://u:secret-pw@h/path",
            "smtp://u@h",
            "smtp://:secret-pw@h",
            "smtp://",
            "not a url secret-pw",
        ] {
            let err = SmtpSettings::from_url(url)
                .err()
                .unwrap_or_else(|| panic!("{url} parsed"));
            assert!(!err.contains("secret-pw"), "{url}: {err}");
        }
    }

    #[test]
    fn display_and_debug_never_show_the_password() {
        let s = parse("smtp://mailer:hunter2%40x@relay.example.com:587?tls=required&pool=8");
        let shown = s.to_string();
        assert_eq!(
            shown,
            "smtp://mailer:***@relay.example.com:587?tls=required&pool=8&timeout_secs=30"
        );
        assert!(!format!("{s:?}").contains("hunter2"));
        assert_eq!(s.redacted(), shown);
        // A user name that is the password itself is masked too.
        let token = parse("smtps://tok-123:tok-123@smtp.example.com");
        assert_eq!(
            token.to_string(),
            "smtps://***:***@smtp.example.com:465?pool=4&timeout_secs=30"
        );
    }

    #[test]
    fn the_redacted_form_parses_back_to_the_same_settings_apart_from_the_password() {
        let s = parse("smtp://a%40b:pw@[::1]:2525?tls=none&pool=2&timeout_secs=9");
        let again = parse(&s.redacted());
        assert_eq!(again.host, "::1");
        assert_eq!(again.port, 2525);
        assert_eq!(again.security, SmtpSecurity::None);
        assert_eq!(again.credentials.unwrap().0, "a@b");
        assert_eq!(
            (again.pool_size, again.timeout),
            (2, Duration::from_secs(9))
        );
    }
}
