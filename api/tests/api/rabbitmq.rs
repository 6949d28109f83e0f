//! Scale-out test fixtures: a RabbitMQ virtual host of the test's own on the machine's
//! broker (removed afterwards), and worker binaries run as real processes.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A vhost on the local RabbitMQ, so that tests never see each other's queues.
pub struct TestVhost {
    pub name: String,
}

fn rabbitmqctl(args: &[&str]) -> String {
    let out = Command::new("rabbitmqctl")
        .args(args)
        .output()
        .expect("rabbitmqctl runs (bash scripts/services starts RabbitMQ)");
    assert!(
        out.status.success(),
        "rabbitmqctl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

impl TestVhost {
    pub fn create() -> TestVhost {
        let name = format!("mailroom-test-{}", uuid::Uuid::now_v7().simple());
        rabbitmqctl(&["add_vhost", &name]);
        rabbitmqctl(&["set_permissions", "-p", &name, "guest", ".*", ".*", ".*"]);
        TestVhost { name }
    }

    /// The URL through another port (a proxy in front of the broker).
    pub fn url_via(&self, port: u16) -> String {
        format!("amqp://guest:guest@127.0.0.1:{port}/{}", self.name)
    }

    /// Messages ready in a queue.
    pub fn queue_depth(&self, queue: &str) -> u64 {
        rabbitmqctl(&["list_queues", "-q", "-p", &self.name, "name", "messages"])
            .lines()
            .filter_map(|line| {
                let mut parts = line.split_whitespace();
                Some((parts.next()?.to_owned(), parts.next()?.parse().ok()?))
            })
            .find(|(name, _)| name == queue)
            .map(|(_, n)| n)
            .unwrap_or(0)
    }
}

impl Drop for TestVhost {
    fn drop(&mut self) {
        let _ = Command::new("rabbitmqctl")
            .args(["delete_vhost", &self.name])
            .output();
    }
}

/// A built binary of the workspace (`mailroom-sender`, …), next to the test executable's
/// directory.
pub fn workspace_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(|deps| deps.parent()).unwrap();
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is not built; `cargo build --workspace --bins` (scripts/test does) builds it",
        path.display()
    );
    path
}

/// A worker binary running as its own process, configured by environment variables alone
/// (as in production), its output kept in a log file.
pub struct WorkerProcess {
    child: Option<Child>,
    pub log: PathBuf,
}

impl WorkerProcess {
    pub fn start(binary: &str, vars: &HashMap<String, String>) -> WorkerProcess {
        let log = std::env::temp_dir().join(format!(
            "mailroom-{binary}-{}.log",
            uuid::Uuid::now_v7().simple()
        ));
        let out = std::fs::File::create(&log).unwrap();
        let err = out.try_clone().unwrap();
        let child = Command::new(workspace_binary(binary))
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("RUST_LOG", "info")
            .envs(vars)
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .unwrap();
        WorkerProcess {
            child: Some(child),
            log,
        }
    }

    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL: no chance to finish anything.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, then waits for the exit; answers how long the drain took.
    pub fn terminate(&mut self, limit: Duration) -> Duration {
        let started = Instant::now();
        let mut child = self.child.take().expect("running");
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                assert!(
                    status.success(),
                    "the worker exited with {status}:\n{}",
                    self.output()
                );
                return started.elapsed();
            }
            if started.elapsed() > limit {
                let _ = child.kill();
                panic!(
                    "the worker did not stop within {limit:?} of SIGTERM:\n{}",
                    self.output()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_file(&self.log);
    }
}
