//! Mailroom's workers. Each binary under `src/bin/` is a thin `main` over a module here.
//!
//! For now the sender only starts, logs its configuration and waits for SIGTERM or
//! Ctrl-C; campaign dispatch and delivery arrive with the campaigns work.

pub mod lifecycle;
