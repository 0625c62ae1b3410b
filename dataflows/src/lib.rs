//! deltakube's controllers as incremental differential dataflows.
//!
//! - [`types`]: the timestamp, diff, keys, feed events and intents (the one type file);
//!   [`text`]: the shared text contents travel as, compressed when that makes it smaller.
//! - [`rows`]: projections of objects into input rows; [`rows_quota`]: quotas and usage;
//!   [`interned`]: owner-reference lists, held once however many rows share them.
//! - [`engine`]: timely workers, inputs, progress and outputs; [`feeder`]: hands batches to
//!   the workers, merging those that queue while they are busy; [`inputs`]: the input
//!   sessions of the parts that run.
//! - [`reconcile`]: desired against observed objects into intents.
//! - [`controllers`]: one file per controller, each with its from-scratch reference.
//! - [`scheduler`]: the scheduler's plugins as pure functions, and its sequential reference.
//! - [`clock`]: time as an input collection (the controller manager's Lease renewals);
//!   [`deadlines`]: which deadlines the clock has passed, visiting only those a tick passes.
//! - [`slow_operators`]: a diagnostic that logs operators running longer than a threshold.
//!
//! **Invariant:** this crate is pure computation: no IO, no clock, no locks in controllers.
//! (The feeder's only wait is on the workers' progress, with a timeout for liveness.)

pub mod clock;
pub mod controllers;
pub mod deadlines;
pub mod engine;
pub mod feeder;
pub mod inputs;
pub mod interned;
pub mod outbox;
pub mod reconcile;
pub mod rows;
pub mod rows_quota;
pub mod scheduler;
pub mod slow_operators;
pub mod text;
pub mod types;
