//! The sender binary starts, logs its configuration without secrets, and stops cleanly on
//! SIGTERM.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn the_sender_logs_its_configuration_and_exits_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_mailroom-sender"))
        .env("MAILROOM_DATA_DIR", dir.path())
        .env("MAILROOM_ADMIN_TOKEN", "admin-token-never-logged")
        .env("MAILROOM_JWT_SECRET", "jwt-secret-never-logged")
        .env("MAILROOM_SIGNING_KEY", "signing-never-logged")
        .env("MAILROOM_HASH_KEY", "hash-never-logged")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Give it time to start and install its signal handlers.
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the worker keeps running until told to stop"
    );
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the worker did not stop within 10 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status}");
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    assert!(out.contains("worker starting"), "{out}");
    assert!(out.contains("SIGTERM"), "{out}");
    for secret in [
        "admin-token-never-logged",
        "jwt-secret-never-logged",
        "signing-never-logged",
        "hash-never-logged",
    ] {
        assert!(!out.contains(secret), "{out}");
    }
}
