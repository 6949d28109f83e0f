//! Mailroom's workers. Each binary under `src/bin/` is a thin `main` over a module here;
//! embedded mode runs the same job loop inside the API process (`embedded`).
//!
//! `runner` takes jobs from a `bus` (the job table when embedded) and hands them to
//! `sender` (dispatch, compose, deliver), which delivers through `transport` (SMTP) or
//! into the sandbox mailbox.

pub mod bus;
pub mod context;
pub mod data_subjects;
pub mod embedded;
pub mod events;
pub mod imports;
pub mod lanes;
pub mod lifecycle;
pub mod operator_alerts;
pub mod probes;
pub mod process;
pub mod relay_thread;
pub mod retention;
pub mod runner;
pub mod sender;
pub mod sending_domains;
pub mod transport;
pub mod webhooks;
