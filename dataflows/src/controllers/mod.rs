//! The controllers, one file each. Every controller is a function from input collections to
//! its desired objects (and views); [`crate::reconcile`] turns desired against observed into
//! intents. Each file carries a plain from-scratch reference beside the dataflow.

pub mod deployment;
pub mod endpoints;
pub mod gc;
pub mod namespace;
pub mod replicaset;
pub mod resourcequota;
pub mod serviceaccount;
pub mod token;
