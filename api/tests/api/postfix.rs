//! A private Postfix for one test: a real MTA on loopback ports, with its own
//! configuration, queue and mailboxes under a temporary directory, never touching the
//! machine's own mail setup (Debian's `postfix` package, installed unconfigured by
//! `scripts/services`; it runs as root).
//!
//! It relays nothing off the machine. Mail for `inbox.test` goes to Maildir mailboxes of
//! the users it lists; other users there are accepted and then bounced with a DSN
//! (5.1.1), which goes — like every message for the bounce domain `bounces.test` — to
//! Mailroom's inbound SMTP listener. A test adds policies: recipient access entries
//! (`550 5.7.1 …` at RCPT TO), HELO access entries, and domains whose mail is accepted
//! and then bounced with a DSN of a chosen status. Every instance also refuses
//! greetings that are not fully-qualified (`reject_non_fqdn_helo_hostname`), as many
//! relays do.
//!
//! Stopping: dropping the value stops Postfix, on a panic too; a watchdog shell holding
//! a pipe from the test stops it if the test process dies before that (killed by a
//! timeout, say). The test process becomes a child subreaper, so that the daemons Postfix
//! leaves are reaped here rather than left as zombies.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::{PermissionsExt, chown};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::free_port;

/// The domain of the test mailboxes.
pub const MAILBOX_DOMAIN: &str = "inbox.test";
/// Mailroom's bounce domain in these tests: DSNs to it go to the inbound listener.
pub const BOUNCE_DOMAIN: &str = "bounces.test";

/// What a test's Postfix does besides the basics.
#[derive(Default)]
pub struct PostfixPolicy {
    /// Users of `inbox.test` with a mailbox; any other user there bounces with a DSN.
    pub mailboxes: Vec<&'static str>,
    /// Recipient access entries: an address or domain, and the answer (`550 5.7.1 text`,
    /// `REJECT text`, …).
    pub recipients: Vec<(&'static str, &'static str)>,
    /// HELO access entries: a greeting name, and the answer.
    pub helos: Vec<(&'static str, &'static str)>,
    /// Domains whose mail Postfix accepts and then bounces with a DSN of this status and
    /// text (`error:5.7.26 text`, as a transport map entry).
    pub bounced_domains: Vec<(&'static str, &'static str)>,
}

pub struct Postfix {
    pub port: u16,
    dir: PathBuf,
    /// Stops Postfix when its standard input closes (when this value is dropped, or the
    /// test process dies).
    watchdog: Option<Child>,
}

/// The Postfix daemons' program names, as `/proc/<pid>/stat` shows them.
const DAEMONS: [&str; 21] = [
    "master",
    "pickup",
    "qmgr",
    "smtpd",
    "smtp",
    "cleanup",
    "trivial-rewrite",
    "bounce",
    "virtual",
    "postlogd",
    "anvil",
    "scache",
    "proxymap",
    "showq",
    "error",
    "discard",
    "verify",
    "flush",
    "postfix-script",
    "postsuper",
    "postlog",
];

impl Postfix {
    /// Starts an instance whose DSNs for `bounces.test` go to `inbound_port`.
    pub fn start(inbound_port: u16, policy: PostfixPolicy) -> Postfix {
        assert!(
            Path::new("/usr/sbin/postfix").exists(),
            "these tests run a private Postfix: install it with scripts/services"
        );
        // SAFETY: `prctl` with PR_SET_CHILD_SUBREAPER only changes who adopts this
        // process's orphaned descendants.
        unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
        let port = free_port();
        let dir = std::env::temp_dir().join(format!(
            "mailroom-postfix-{}",
            uuid::Uuid::now_v7().simple()
        ));
        for sub in ["", "etc", "spool", "data", "mail"] {
            let path = dir.join(sub);
            std::fs::create_dir_all(&path).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let (postfix_uid, _) = user("postfix");
        let (nobody_uid, _) = user("nobody");
        let nogroup = group("nogroup");
        chown(dir.join("data"), Some(postfix_uid), None).unwrap();
        chown(dir.join("mail"), Some(nobody_uid), Some(nogroup)).unwrap();
        let etc = dir.join("etc");
        let d = dir.display();
        let main_cf = format!(
            "compatibility_level = 3.6
queue_directory = {d}/spool
data_directory = {d}/data
maillog_file = {d}/maillog
maillog_file_prefixes = {d}
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = mta.test
mydomain = test
myorigin = $myhostname
mydestination =
local_recipient_maps =
local_transport = error:local delivery disabled
alias_maps =
alias_database =
relay_domains =
mynetworks = 127.0.0.0/8
default_transport = error:nothing leaves this machine
relay_transport = error:nothing leaves this machine
virtual_mailbox_domains = {MAILBOX_DOMAIN}
virtual_mailbox_maps = texthash:{d}/etc/vmailbox
virtual_mailbox_base = {d}/mail
virtual_uid_maps = static:{nobody_uid}
virtual_gid_maps = static:{nogroup}
smtpd_reject_unlisted_recipient = no
smtpd_helo_required = yes
smtpd_helo_restrictions = reject_non_fqdn_helo_hostname, check_helo_access texthash:{d}/etc/helo_access
smtpd_recipient_restrictions = check_recipient_access texthash:{d}/etc/access, permit_mynetworks, reject_unauth_destination
access_map_reject_code = 550
smtpd_error_sleep_time = 0
transport_maps = texthash:{d}/etc/transport
smtp_dns_support_level = disabled
smtp_host_lookup = native
smtpd_peername_lookup = no
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
smtp_connect_timeout = 5s
delay_warning_time = 0
default_process_limit = 5
biff = no
append_dot_mydomain = no
smtputf8_enable = no
"
        );
        let master_cf = format!(
            "127.0.0.1:{port} inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
virtual   unix  -       n       n       -       -       virtual
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"
        );
        let lines = |entries: &[(&str, &str)]| -> String {
            entries
                .iter()
                .map(|(key, value)| format!("{key} {value}\n"))
                .collect()
        };
        let mailboxes: Vec<(String, String)> = policy
            .mailboxes
            .iter()
            .map(|user| (format!("{user}@{MAILBOX_DOMAIN}"), format!("{user}/")))
            .collect();
        let mailboxes: Vec<(&str, &str)> = mailboxes
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        let inbound = format!("smtp:[127.0.0.1]:{inbound_port}");
        let mut transports = vec![(BOUNCE_DOMAIN.to_owned(), inbound)];
        transports.extend(
            policy
                .bounced_domains
                .iter()
                .map(|(domain, answer)| (domain.to_string(), format!("error:{answer}"))),
        );
        let transports: Vec<(&str, &str)> = transports
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        for (name, text) in [
            ("main.cf", main_cf),
            ("master.cf", master_cf),
            ("vmailbox", lines(&mailboxes)),
            ("access", lines(&policy.recipients)),
            ("helo_access", lines(&policy.helos)),
            ("transport", lines(&transports)),
        ] {
            std::fs::write(etc.join(name), text).unwrap();
        }
        let mut postfix = Postfix {
            port,
            dir,
            watchdog: None,
        };
        postfix.run(&["check"]);
        postfix.run(&["start"]);
        // From here on, whatever happens to the test, the instance is stopped.
        postfix.watchdog = Some(
            Command::new("sh")
                .args([
                    "-c",
                    "read _; exec /usr/sbin/postfix -c \"$1\" stop",
                    "watchdog",
                ])
                .arg(&etc)
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        postfix.wait_for_greeting();
        postfix
    }

    /// `postfix -c DIR/etc <command>`; a failure shows the log, where Postfix explains.
    fn run(&self, command: &[&str]) {
        let out = Command::new("/usr/sbin/postfix")
            .arg("-c")
            .arg(self.dir.join("etc"))
            .args(command)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "postfix {command:?}: {}{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
    }

    fn wait_for_greeting(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                let mut greeting = [0u8; 3];
                if stream.read_exact(&mut greeting).is_ok() && &greeting == b"220" {
                    let _ = stream.write_all(b"QUIT\r\n");
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "Postfix did not greet on port {}:\n{}",
                self.port,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// What this instance answers a client greeting as `helo` at `RCPT TO:<to>` (where
    /// Postfix reports a refused greeting), as one line: `504 5.5.2 <vm>: Helo command
    /// rejected: …`.
    pub fn answer_to_recipient(&self, helo: &str, to: &str) -> String {
        let stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
        let mut writer = stream;
        // The last line of a reply (`250 …` after `250-…` lines).
        let mut reply = || {
            let mut line = String::new();
            loop {
                line.clear();
                std::io::BufRead::read_line(&mut reader, &mut line).unwrap();
                if line.as_bytes().get(3) != Some(&b'-') {
                    return line.trim_end().to_owned();
                }
            }
        };
        assert!(reply().starts_with("220"));
        let mut answer = String::new();
        for command in [
            format!("EHLO {helo}"),
            format!("MAIL FROM:<probe@{BOUNCE_DOMAIN}>"),
            format!("RCPT TO:<{to}>"),
            "QUIT".to_owned(),
        ] {
            writer
                .write_all(format!("{command}\r\n").as_bytes())
                .unwrap();
            let line = reply();
            if command.starts_with("RCPT") {
                answer = line;
            }
        }
        answer
    }

    /// `SMTP_URL` for this instance.
    pub fn smtp_url(&self) -> String {
        format!("smtp://127.0.0.1:{}?tls=none&timeout_secs=20", self.port)
    }

    /// Postfix's log: what it received, delivered, bounced and refused.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("maillog")).unwrap_or_default()
    }

    /// The messages delivered to `user@inbox.test`, as stored.
    pub fn mailbox(&self, user: &str) -> Vec<String> {
        let new = self.dir.join("mail").join(user).join("new");
        let Ok(entries) = std::fs::read_dir(new) else {
            return Vec::new();
        };
        entries
            .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
            .collect()
    }
}

impl Drop for Postfix {
    fn drop(&mut self) {
        if let Some(mut watchdog) = self.watchdog.take() {
            drop(watchdog.stdin.take()); // the watchdog stops Postfix now
            let _ = watchdog.wait();
        } else {
            let _ = Command::new("/usr/sbin/postfix")
                .arg("-c")
                .arg(self.dir.join("etc"))
                .arg("stop")
                .output();
        }
        reap_daemons(Duration::from_secs(10));
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Waits for the Postfix daemons adopted by this process to exit, and reaps them.
fn reap_daemons(patience: Duration) {
    let deadline = Instant::now() + patience;
    loop {
        let mut alive = false;
        for (pid, state) in postfix_children() {
            if state == 'Z' {
                // SAFETY: `pid` is a child of this process that has exited.
                unsafe { libc::waitpid(pid, std::ptr::null_mut(), libc::WNOHANG) };
            } else {
                alive = true;
            }
        }
        if !alive || Instant::now() > deadline {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// This process's children that are Postfix daemons: pid and state.
fn postfix_children() -> Vec<(i32, char)> {
    let me = std::process::id().to_string();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| {
            let name = entry.ok()?.file_name().into_string().ok()?;
            let pid: i32 = name.parse().ok()?;
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // `pid (comm) state ppid …`; comm may hold spaces, so split at its last ')'.
            let (head, tail) = stat.rsplit_once(')')?;
            let comm = head.split_once('(')?.1;
            let mut fields = tail.split_whitespace();
            let state = fields.next()?.chars().next()?;
            let parent = fields.next()?;
            (parent == me && DAEMONS.contains(&comm)).then_some((pid, state))
        })
        .collect()
}

/// A user's uid and gid, from `/etc/passwd`.
fn user(name: &str) -> (u32, u32) {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
    passwd
        .lines()
        .map(|line| line.split(':').collect::<Vec<_>>())
        .find(|f| f.first() == Some(&name))
        .map(|f| (f[2].parse().unwrap(), f[3].parse().unwrap()))
        .unwrap_or_else(|| panic!("no user {name}: is Postfix installed (scripts/services)?"))
}

/// A group's gid, from `/etc/group`.
fn group(name: &str) -> u32 {
    let groups = std::fs::read_to_string("/etc/group").unwrap();
    groups
        .lines()
        .map(|line| line.split(':').collect::<Vec<_>>())
        .find(|f| f.first() == Some(&name))
        .map(|f| f[2].parse().unwrap())
        .unwrap_or_else(|| panic!("no group {name}"))
}
