//! The scheduler's logic: upstream kube-scheduler's default plugins as pure functions over rows,
//! and a plain sequential reference scheduler built from them. No IO, no clock: the dataflow
//! that maintains filters and scores incrementally calls the same functions.
//!
//! Map of the module:
//! - Inputs: [`rows`] (nodes, workloads, priority classes, namespaces, term types),
//!   [`rows_pod`] (pods), [`resources`] (requests as upstream counts them), [`selectors`]
//!   (label and node selectors), [`node_conditions`] (conditions as `NoSchedule` taints).
//! - Shared vocabulary: [`framework`] (plugin names, rejections, normalization),
//!   [`snapshot`] (nodes with their pods and totals), [`config`] (weights, enabled plugins,
//!   scoring strategy).
//! - One file per plugin, filter and score together as upstream: [`node_unschedulable`],
//!   [`node_name`], [`node_ports`], [`node_affinity`], [`node_resources_fit`] and
//!   [`balanced_allocation`], [`taint_toleration`], [`inter_pod_affinity`],
//!   [`pod_topology_spread`] (with the default spreading by Service and controller),
//!   [`image_locality`].
//! - Outputs: [`message`] (the `FailedScheduling` text) and [`reference`](mod@reference) (pod by pod, with
//!   per-node verdicts and per-plugin scores for explain-why).
//! - The incremental scheduler: [`input`] (rows from feed objects), [`pair`] (equivalence
//!   classes and the node-local evaluation of a `(class, node)` pair), [`dataflow`] (node
//!   aggregates, classes and pairs, maintained), [`keyed`] and [`readout`] (its rows kept
//!   with the snapshot and queue they imply, and decisions from them), [`ranking`] (a class's
//!   nodes ranked for a round, InterPodAffinity added per pod), [`placed`] (the pods placed,
//!   grouped, and the nodes of each topology pair) and [`batch`] (a round of bindings, checked against the claims
//!   of the round and in flight); [`explain`] renders a decision for the explain-why views.
//!
//! **Invariant:** a plugin function reads only its arguments; the same rows give the same
//! verdicts and scores, whoever calls.

pub mod balanced_allocation;
pub mod batch;
pub mod config;
pub mod config_file;
pub mod dataflow;
pub mod explain;
pub mod framework;
pub mod image_locality;
pub mod input;
pub mod inter_pod_affinity;
pub mod keyed;
pub mod message;
pub mod node_affinity;
pub mod node_conditions;
pub mod node_name;
pub mod node_ports;
pub mod node_resources_fit;
pub mod node_unschedulable;
pub mod pair;
pub mod placed;
pub mod pod_topology_spread;
pub mod ranking;
pub mod readout;
pub mod reference;
pub mod resources;
pub mod rows;
pub mod rows_pod;
pub mod selectors;
pub mod snapshot;
pub mod taint_toleration;

#[cfg(test)]
mod test_support;
