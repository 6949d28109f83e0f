// A real SMTP server for tests: `scripts/smtp_server.py` (aiosmtpd) in a child process,
// with the messages it accepted read back from its directory.
//
// Shared by the worker's and the API's tests: the API test crate `include!`s this file, so
// it has no inner attributes or `//!` docs, and uses only std and serde_json.
//
//     let server = SmtpServer::start();
//     // … deliver to server.url() …
//     let received = server.wait_for(1, Duration::from_secs(10));
//     assert_eq!(received[0].rcpt_tos, ["someone@example.com"]);

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long the server may take to print `READY`.
const SMTP_SERVER_START_TIMEOUT: Duration = Duration::from_secs(20);

/// A running `scripts/smtp_server.py`, killed (and its files removed) on drop.
pub struct SmtpServer {
    pub port: u16,
    /// Where the server stores `<n>.json` per accepted message (and the steering files).
    pub dir: PathBuf,
    root: PathBuf,
    child: Child,
    /// The server exits when this pipe closes, even if the test process is killed.
    _lifeline: Option<ChildStdin>,
}

/// How to start the server.
#[derive(Debug, Clone, Default)]
pub struct SmtpServerOptions {
    /// Offer STARTTLS with this certificate chain and key (PEM files).
    pub tls: Option<(PathBuf, PathBuf)>,
    /// With `tls`: speak TLS from the first byte (like port 465) instead of offering STARTTLS.
    pub implicit_tls: bool,
    /// Offer AUTH PLAIN/LOGIN, and require it before MAIL FROM: (user, password).
    pub require_auth: Option<(String, String)>,
}

/// One message the server accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMessage {
    pub mail_from: String,
    pub rcpt_tos: Vec<String>,
    /// The message as received (CRLF line ends; dot-stuffing undone).
    pub data: String,
    /// `ip:port` of the client side of the connection that carried it.
    pub peer: String,
    /// Whether the connection had been upgraded with STARTTLS.
    pub tls: bool,
    /// The user that logged in with AUTH, if any.
    pub auth_login: Option<String>,
}

/// One MAIL FROM command the server saw, accepted or not (`mail.log`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailCommand {
    pub mail_from: String,
    pub peer: String,
    pub tls: bool,
}

impl SmtpServer {
    pub fn start() -> SmtpServer {
        SmtpServer::start_with(SmtpServerOptions::default())
    }

    pub fn start_with(options: SmtpServerOptions) -> SmtpServer {
        let root = unique_temp_dir();
        let dir = root.join("mail");
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
        let log_path = root.join("server.log");
        let log = std::fs::File::create(&log_path)
            .unwrap_or_else(|e| panic!("creating {}: {e}", log_path.display()));
        let script = repo_root().join("scripts").join("smtp_server.py");
        let mut command = Command::new("python3");
        command
            .arg(&script)
            .args([
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--exit-on-stdin-eof",
                "--dir",
            ])
            .arg(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log));
        if let Some((cert, key)) = &options.tls {
            command
                .arg("--tls-cert")
                .arg(cert)
                .arg("--tls-key")
                .arg(key);
            if options.implicit_tls {
                command.arg("--implicit-tls");
            }
        }
        if let Some((user, password)) = &options.require_auth {
            command
                .arg("--require-auth")
                .arg(format!("{user}:{password}"));
        }
        let mut child = command.spawn().unwrap_or_else(|e| {
            panic!(
                "starting python3 {}: {e} (is python3 installed?)",
                script.display()
            )
        });
        let stdout = child.stdout.take();
        let lifeline = child.stdin.take();
        let (ready, ready_rx) = mpsc::channel();
        std::thread::spawn(move || {
            let Some(stdout) = stdout else { return };
            let mut lines = BufReader::new(stdout);
            let mut first = String::new();
            let _ = lines.read_line(&mut first);
            let _ = ready.send(first);
            // Keep draining so the server never writes into a closed pipe.
            let _ = std::io::copy(&mut lines, &mut std::io::sink());
        });
        let first_line = ready_rx.recv_timeout(SMTP_SERVER_START_TIMEOUT);
        let port = first_line
            .as_deref()
            .ok()
            .and_then(|line| line.trim().strip_prefix("READY "))
            .and_then(|port| port.parse::<u16>().ok());
        match port {
            Some(port) => SmtpServer {
                port,
                dir,
                root,
                child,
                _lifeline: lifeline,
            },
            None => {
                let _ = child.kill();
                let _ = child.wait();
                let mut stderr = String::new();
                if let Ok(mut file) = std::fs::File::open(&log_path) {
                    let _ = file.read_to_string(&mut stderr);
                }
                let _ = std::fs::remove_dir_all(&root);
                panic!(
                    "the SMTP test server did not become ready (got {first_line:?}); is aiosmtpd \
                     installed (bash scripts/services)? Its stderr:\n{stderr}"
                );
            }
        }
    }

    /// `smtp://127.0.0.1:<port>`: plain SMTP, STARTTLS when the server has a certificate.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// The messages accepted so far, in order of arrival.
    pub fn received(&self) -> Vec<ReceivedMessage> {
        let entries = std::fs::read_dir(&self.dir)
            .unwrap_or_else(|e| panic!("reading {}: {e}", self.dir.display()));
        let mut numbered: Vec<(u64, PathBuf)> = entries
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter_map(|path| {
                let n = path
                    .file_name()?
                    .to_str()?
                    .strip_suffix(".json")?
                    .parse::<u64>()
                    .ok()?;
                Some((n, path))
            })
            .collect();
        numbered.sort();
        numbered
            .into_iter()
            .map(|(_, path)| read_message(&path))
            .collect()
    }

    /// Polls until at least `n` messages arrived or `timeout` passed, and returns what
    /// arrived by then (the caller asserts on it). Blocks the thread: in an async test whose
    /// runtime also runs the sender, use `wait_for_async`.
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Vec<ReceivedMessage> {
        let deadline = Instant::now() + timeout;
        loop {
            let received = self.received();
            if received.len() >= n || Instant::now() >= deadline {
                return received;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// `wait_for` that yields to the async runtime between polls.
    pub async fn wait_for_async(&self, n: usize, timeout: Duration) -> Vec<ReceivedMessage> {
        let deadline = Instant::now() + timeout;
        loop {
            let received = self.received();
            if received.len() >= n || Instant::now() >= deadline {
                return received;
            }
            std_sleep(Duration::from_millis(25)).await;
        }
    }

    /// Every MAIL FROM the server saw, in order, including those of failed transactions.
    pub fn mail_commands(&self) -> Vec<MailCommand> {
        let text = match std::fs::read_to_string(self.dir.join("mail.log")) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => panic!("reading mail.log: {e}"),
        };
        text.lines()
            .map(|line| {
                let v: serde_json::Value = serde_json::from_str(line)
                    .unwrap_or_else(|e| panic!("mail.log line {line:?}: {e}"));
                MailCommand {
                    mail_from: string_field(&v, "mail_from"),
                    peer: string_field(&v, "peer"),
                    tls: v["tls"].as_bool().unwrap_or(false),
                }
            })
            .collect()
    }

    /// While on, every RCPT TO gets `421 4.3.2 service not available`.
    pub fn fail_all(&self, on: bool) {
        self.flag("FAIL_ALL", on);
    }

    /// While on, the server waits 2 s before it stores a message and answers its DATA.
    pub fn slow(&self, on: bool) {
        self.flag("SLOW", on);
    }

    /// What the server wrote to stderr so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.root.join("server.log")).unwrap_or_default()
    }

    fn flag(&self, name: &str, on: bool) {
        let path = self.dir.join(name);
        let result = if on {
            std::fs::write(&path, b"")
        } else {
            match std::fs::remove_file(&path) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                other => other,
            }
        };
        result.unwrap_or_else(|e| panic!("setting {}: {e}", path.display()));
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// A private CA and a certificate it signed for `localhost` and 127.0.0.1, made with the
/// `openssl` command: `ca` is what the client trusts (`tls_ca=`), `cert`/`key` go to the
/// server. The files are removed on drop.
pub struct TestCertificates {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    dir: PathBuf,
}

impl TestCertificates {
    pub fn generate() -> TestCertificates {
        let dir = unique_temp_dir();
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
        let path = |name: &str| dir.join(name).to_string_lossy().into_owned();
        let (ca, ca_key, key, csr, cert, ext) = (
            path("ca.pem"),
            path("ca.key"),
            path("server.key"),
            path("server.csr"),
            path("server.pem"),
            path("server.ext"),
        );
        std::fs::write(
            &ext,
            "subjectAltName = DNS:localhost, IP:127.0.0.1\nbasicConstraints = CA:FALSE\n",
        )
        .unwrap_or_else(|e| panic!("writing {ext}: {e}"));
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=Mailroom SMTP test CA",
            "-keyout",
            &ca_key,
            "-out",
            &ca,
        ]);
        openssl(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
            &key,
            "-out",
            &csr,
        ]);
        openssl(&[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &ca,
            "-CAkey",
            &ca_key,
            "-CAcreateserial",
            "-days",
            "1",
            "-extfile",
            &ext,
            "-out",
            &cert,
        ]);
        TestCertificates {
            ca: ca.into(),
            cert: cert.into(),
            key: key.into(),
            dir,
        }
    }
}

impl Drop for TestCertificates {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn openssl(args: &[&str]) {
    let output = Command::new("openssl")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running openssl (is it installed?): {e}"));
    assert!(
        output.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn read_message(path: &Path) -> ReceivedMessage {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let v: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    ReceivedMessage {
        mail_from: string_field(&v, "mail_from"),
        rcpt_tos: v["rcpt_tos"]
            .as_array()
            .map(|tos| {
                tos.iter()
                    .filter_map(|t| t.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default(),
        data: string_field(&v, "data"),
        peer: string_field(&v, "peer"),
        tls: v["tls"].as_bool().unwrap_or(false),
        auth_login: v["auth_login"].as_str().map(str::to_owned),
    }
}

fn string_field(v: &serde_json::Value, name: &str) -> String {
    v[name].as_str().unwrap_or_default().to_owned()
}

/// The workspace root: both test crates sit one level below it.
fn repo_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.parent().unwrap_or(manifest_dir).to_path_buf()
}

fn unique_temp_dir() -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    std::env::temp_dir().join(format!(
        "mailroom-smtp-{}-{}-{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ))
}

/// An async sleep with std only (the API's tests share this file and may run any runtime):
/// a helper thread wakes the task.
async fn std_sleep(duration: Duration) {
    let deadline = Instant::now() + duration;
    std::future::poll_fn(move |cx| {
        let now = Instant::now();
        if now >= deadline {
            return std::task::Poll::Ready(());
        }
        let waker = cx.waker().clone();
        let left = deadline - now;
        std::thread::spawn(move || {
            std::thread::sleep(left);
            waker.wake();
        });
        std::task::Poll::Pending
    })
    .await
}
