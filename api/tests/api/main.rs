//! Black-box HTTP tests: each starts Mailroom on port 0 and talks to it like a client,
//! on SQLite and on PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helpers;

mod account_deletion;
mod audit;
mod auth;
mod campaigns;
mod consents;
mod contacts;
mod data_subject_requests;
mod delivery;
mod delivery_outcomes;
mod dns_server;
mod double_opt_in;
mod erasure_at_rest;
mod errors;
mod export;
mod fair_work;
mod import_limits;
mod imports;
mod inbound;
mod isolation;
mod limits;
mod lists;
mod members;
mod openapi;
mod operations;
mod operator;
mod operator_limits;
mod postfix;
mod properties;
mod proxy;
mod rabbitmq;
mod retention;
mod sandbox;
mod scale_out;
mod send_limits;
mod sender_identity;
mod sending_domains;
mod sending_rules;
mod smoke;
mod smtp_server;
mod suppressions;
mod tenant_erasure;
mod tracking;
mod unsubscribe;
mod webhook_receiver;
mod webhooks;
