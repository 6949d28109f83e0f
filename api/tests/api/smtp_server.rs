//! The real SMTP server for tests (`scripts/smtp_server.py`), shared with the worker's tests.

#![allow(dead_code)]

include!("../../../worker/tests/support/smtp_server.rs");
