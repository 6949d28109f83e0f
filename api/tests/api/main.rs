//! Black-box HTTP tests: each starts Mailroom on port 0 and talks to it like a client,
//! on SQLite and on PostgreSQL.

mod helpers;

mod export;
mod isolation;
mod lists;
mod members;
mod smoke;
