//! Test support shared by the worker's integration tests (and, for `smtp_server`, the API's).

#![allow(dead_code)]

pub mod smtp_server;
