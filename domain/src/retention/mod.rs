//! Retention: each account says how long its records are kept ([`RetentionPolicy`]), and
//! a purge removes what is past it — as of a moment it is given, never the wall clock, so
//! tests and operators can run it "as of" any time. The same purge erases accounts whose
//! deletion fell due ([`erasure`]) and finished job rows.
//!
//! Both the purge and the erasure are lists of per-table steps, each its own statement
//! batches: a run that dies half way leaves consistent tables and the next run carries on.

pub mod erasure;
mod finished_jobs;
mod policy;
mod purge;

pub use erasure::{ErasureReport, erase_account};
pub use finished_jobs::purge_finished_jobs;
pub use policy::{Cutoffs, RetentionChange, RetentionPolicy};
pub use purge::{AccountPurge, PurgeSummary, purge_account, run_purge};
