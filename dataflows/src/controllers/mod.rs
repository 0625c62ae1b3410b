//! The controllers, one file each. Every controller is a function from input collections to
//! its desired objects (and views); [`crate::reconcile`] turns desired against observed into
//! intents. Each file carries a plain from-scratch reference beside the dataflow.
//!
//! Shared parts: [`selection`] (the pods each Service selects, for Endpoints and
//! EndpointSlices), [`pool`] (lowest-free allocation, for node IPAM and load balancers) and
//! [`cidr`] (their IPv4 pool configurations), and [`join_key`] with [`keyed_once`].

pub mod cidr;
pub mod deployment;
pub mod endpoints;
pub mod endpointslices;
pub mod gc;
pub mod loadbalancer;
pub mod namespace;
pub mod nodeipam;
pub mod pool;
pub mod replicaset;
pub mod resourcequota;
pub mod selection;
pub mod serviceaccount;
pub mod token;

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

/// A join key: the hash of what must be equal (a label in a namespace, a uid, a Node name).
///
/// The largest arrangements hold every pod under such keys; a `u64` leaves them no strings to
/// copy when batches merge or to free when they are dropped, which otherwise stalls a worker
/// for tens of milliseconds whenever the merges of big batches complete. A join on hashes is
/// exact only with a check of the strings themselves after it, and each pod must be keyed
/// once per distinct hash; every caller does both. `DefaultHasher::new()` has fixed keys, so
/// every worker and process hashes alike.
pub fn join_key(value: &impl Hash) -> u64 {
    let mut h = DefaultHasher::new();
    value.hash(&mut h);
    h.finish()
}

/// `value` under each of `keys` once: equal hashes (two labels that collide) give one row, so
/// a join on [`join_key`]s never meets the same pair twice.
pub fn keyed_once<T: Clone>(keys: impl IntoIterator<Item = u64>, value: T) -> Vec<(u64, T)> {
    let mut keys: Vec<u64> = keys.into_iter().collect();
    keys.sort_unstable();
    keys.dedup();
    keys.into_iter().map(|key| (key, value.clone())).collect()
}
