//! Mailroom's stateless HTTP API.
//!
//! `startup` builds the application; `routes` holds one file per resource; `auth` says who
//! is calling; `problem` is the one error type; `openapi` completes the generated contract;
//! `renderer` runs templates off the HTTP threads under a per-request budget.

pub mod auth;
pub mod client;
pub mod event_sink;
pub mod extract;
pub mod idempotency;
pub mod inbound_smtp;
pub mod limits;
pub mod openapi;
pub mod operator;
pub mod pages;
pub mod problem;
pub mod renderer;
pub mod routes;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod tls;
pub mod unmatched;
