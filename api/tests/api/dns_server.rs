//! A real authoritative DNS server for tests: `scripts/dns_server.py` (dnslib) in a child
//! process, serving the records the test writes. Mailroom resolves through it with
//! `MAILROOM_DNS_SERVERS`, and `dkimpy` does when it verifies signatures.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{Value, json};

/// A running `scripts/dns_server.py`, killed (and its files removed) on drop.
pub struct DnsServer {
    pub port: u16,
    dir: PathBuf,
    child: Child,
    /// The server exits when this pipe closes, even if the test process is killed.
    _lifeline: Option<ChildStdin>,
}

pub fn repo_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.parent().unwrap_or(manifest_dir).to_path_buf()
}

impl DnsServer {
    pub fn start() -> DnsServer {
        let dir =
            std::env::temp_dir().join(format!("mailroom-dns-{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("records.json"), "[]").unwrap();
        let mut child = Command::new("python3")
            .arg(repo_root().join("scripts").join("dns_server.py"))
            .arg("--records")
            .arg(dir.join("records.json"))
            .arg("--exit-on-stdin-eof")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 scripts/dns_server.py");
        let stdout = child.stdout.take().unwrap();
        let lifeline = child.stdin.take();
        let (ready, ready_rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout);
            let mut first = String::new();
            let _ = lines.read_line(&mut first);
            let _ = ready.send(first);
            let _ = std::io::copy(&mut lines, &mut std::io::sink());
        });
        let line = ready_rx
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_default();
        let Some(port) = line
            .trim()
            .strip_prefix("READY ")
            .and_then(|p| p.parse().ok())
        else {
            let _ = child.kill();
            panic!(
                "the DNS test server did not start ({line:?}); is dnslib installed (bash scripts/services)?"
            );
        };
        DnsServer {
            port,
            dir,
            child,
            _lifeline: lifeline,
        }
    }

    /// `127.0.0.1:<port>`, for `MAILROOM_DNS_SERVERS`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Replaces what the server answers (atomically: a query sees the old or the new set).
    pub fn serve(&self, records: &[Value]) {
        let tmp = self.dir.join("records.json.tmp");
        std::fs::write(&tmp, serde_json::to_vec(records).unwrap()).unwrap();
        std::fs::rename(&tmp, self.dir.join("records.json")).unwrap();
    }

    /// Serves exactly the records a sending domain asks for (the `records` of its view).
    pub fn publish(&self, domain_view: &Value) {
        let records: Vec<Value> = domain_view["records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| json!({"name": r["name"], "type": r["type"], "value": r["value"]}))
            .collect();
        self.serve(&records);
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
