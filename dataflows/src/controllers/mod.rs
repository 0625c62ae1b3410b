//! The controllers, one file each. Every controller is a function from input collections to
//! its desired objects (and views); [`crate::reconcile`] turns desired against observed into
//! intents. Each file carries a plain from-scratch reference beside the dataflow.
//!
//! Shared parts: [`selection`] (the pods each Service selects, for Endpoints and
//! EndpointSlices), [`pool`] (lowest-free allocation, for node IPAM and load balancers) and
//! [`cidr`] (their IPv4 pool configurations).

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
