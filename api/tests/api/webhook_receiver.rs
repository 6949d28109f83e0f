//! A real webhook receiver for tests: `scripts/webhook_receiver.py` in a child process,
//! verifying signatures with the `standardwebhooks` Python package, with the requests it
//! got read back from its directory.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

/// A running `scripts/webhook_receiver.py`, killed (and its files removed) on drop.
pub struct WebhookReceiver {
    pub port: u16,
    dir: PathBuf,
    root: PathBuf,
    child: Child,
    /// The receiver exits when this pipe closes, even if the test process is killed.
    _lifeline: Option<ChildStdin>,
}

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct ReceivedRequest {
    pub method: String,
    pub path: String,
    pub headers: Value,
    pub body: String,
    /// The status code it answered.
    pub answer: u16,
    /// Per secret given with `set_secrets`: whether the standardwebhooks library accepted
    /// the request with it.
    pub verified: Vec<bool>,
    /// Per signature in `webhook-signature`: the indexes of the secrets that verify it alone.
    pub signatures: Vec<Vec<usize>>,
}

impl ReceivedRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers[name].as_str()
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }
}

impl WebhookReceiver {
    pub fn start() -> WebhookReceiver {
        let root = std::env::temp_dir().join(format!(
            "mailroom-webhooks-{}",
            uuid::Uuid::now_v7().simple()
        ));
        let dir = root.join("requests");
        std::fs::create_dir_all(&dir).unwrap();
        let log_path = root.join("receiver.log");
        let log = std::fs::File::create(&log_path).unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/webhook_receiver.py");
        let mut child = Command::new("python3")
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
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap_or_else(|e| panic!("starting python3 {}: {e}", script.display()));
        let stdout = child.stdout.take();
        let lifeline = child.stdin.take();
        let (ready, ready_rx) = mpsc::channel();
        std::thread::spawn(move || {
            let Some(stdout) = stdout else { return };
            let mut lines = BufReader::new(stdout);
            let mut first = String::new();
            let _ = lines.read_line(&mut first);
            let _ = ready.send(first);
            let _ = std::io::copy(&mut lines, &mut std::io::sink());
        });
        let first = ready_rx.recv_timeout(Duration::from_secs(20));
        let port = first
            .as_deref()
            .ok()
            .and_then(|line| line.trim().strip_prefix("READY "))
            .and_then(|port| port.parse::<u16>().ok());
        let Some(port) = port else {
            let _ = child.kill();
            let _ = child.wait();
            let stderr = std::fs::read_to_string(&log_path).unwrap_or_default();
            let _ = std::fs::remove_dir_all(&root);
            panic!(
                "the webhook receiver did not become ready (got {first:?}); is standardwebhooks \
                 installed (bash scripts/services)? Its stderr:\n{stderr}"
            );
        };
        WebhookReceiver {
            port,
            dir,
            root,
            child,
            _lifeline: lifeline,
        }
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The secrets the receiver verifies each request with.
    pub fn set_secrets(&self, secrets: &[&str]) {
        std::fs::write(self.dir.join("SECRETS"), secrets.join("\n")).unwrap();
    }

    /// Answer this status from now on (`None`: 200).
    pub fn answer(&self, status: Option<u16>) {
        self.steer("STATUS", status.map(|s| s.to_string()));
    }

    /// Wait this long before answering (`None`: answer at once).
    pub fn sleep(&self, delay: Option<Duration>) {
        self.steer("SLEEP", delay.map(|d| d.as_secs_f64().to_string()));
    }

    fn steer(&self, name: &str, value: Option<String>) {
        let path = self.dir.join(name);
        match value {
            Some(value) => std::fs::write(path, value).unwrap(),
            None => {
                let _ = std::fs::remove_file(path);
            }
        }
    }

    /// The requests so far, in order of arrival.
    pub fn received(&self) -> Vec<ReceivedRequest> {
        let mut numbered: Vec<(u64, PathBuf)> = std::fs::read_dir(&self.dir)
            .unwrap()
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
        numbered.into_iter().map(|(_, path)| read(&path)).collect()
    }

    /// Polls until at least `n` requests arrived; panics after `timeout`.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<ReceivedRequest> {
        let deadline = Instant::now() + timeout;
        loop {
            let received = self.received();
            if received.len() >= n {
                return received;
            }
            assert!(
                Instant::now() < deadline,
                "the receiver got {} of {n} requests in {timeout:?}: {received:#?}\n{}",
                received.len(),
                std::fs::read_to_string(self.root.join("receiver.log")).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

fn read(path: &Path) -> ReceivedRequest {
    let v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    ReceivedRequest {
        method: v["method"].as_str().unwrap_or_default().to_owned(),
        path: v["path"].as_str().unwrap_or_default().to_owned(),
        headers: v["headers"].clone(),
        body: v["body"].as_str().unwrap_or_default().to_owned(),
        answer: v["answer"].as_u64().unwrap_or_default() as u16,
        verified: v["verified"]
            .as_array()
            .map(|a| a.iter().map(|b| b.as_bool() == Some(true)).collect())
            .unwrap_or_default(),
        signatures: v["signatures"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|s| {
                        s.as_array()
                            .map(|i| {
                                i.iter()
                                    .filter_map(|n| n.as_u64())
                                    .map(|n| n as usize)
                                    .collect()
                            })
                            .unwrap_or_default()
                    })
                    .collect()
            })
            .unwrap_or_default(),
    }
}
