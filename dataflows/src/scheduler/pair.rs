//! What one node alone says about one kind of pod: the verdict of the filters that read only
//! the node and its pods, and the raw scores of the plugins that read only them.
//!
//! Pending pods fall into equivalence classes: two pods whose scheduling-relevant spec is
//! equal (the [`PodRow`] without name, uid and creation time, see [`class_of`]) get the same
//! verdicts and scores everywhere, so the dataflow evaluates each `(class, node)` pair once,
//! whatever the number of pods in the class. The plugins that look at the whole cluster
//! (PodTopologySpread, InterPodAffinity, ImageLocality's spread factor) and the normalizations
//! over feasible nodes are applied when the pairs are read out ([`super::readout::Readout::decide`]).

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use serde::{Deserialize, Serialize};

use super::config::SchedulerConfig;
use super::framework::{FilterResult, Plugin};
use super::rows_pod::PodRow;
use super::snapshot::NodeInfo;
use super::{balanced_allocation, node_affinity, node_name, node_ports, node_resources_fit, node_unschedulable, taint_toleration};

/// The filters that read only the pod and one node with its pods, in upstream's order. Every
/// other filter (PodTopologySpread, InterPodAffinity) runs after them.
pub const NODE_LOCAL_FILTERS: [Plugin; 6] =
    [Plugin::NodeUnschedulable, Plugin::NodeName, Plugin::TaintToleration, Plugin::NodeAffinity, Plugin::NodePorts, Plugin::NodeResourcesFit];

/// Names an equivalence class: a hash of its signature (see [`class_of`]).
pub type ClassId = u64;

/// A pod's node-local signature: exactly the fields the [`NODE_LOCAL_FILTERS`] and the
/// node-local scores read (requests, host ports, node name, node selector and affinity,
/// tolerations), everything else empty. Pods that differ only in labels, names, owners,
/// priority or pod affinity share a class, so a workload's pods (or a benchmark's, whatever
/// their labels) share their pairs; the cluster-wide plugins read the pod itself.
pub fn class_of(pod: &PodRow) -> PodRow {
    PodRow {
        node_name: pod.node_name.clone(),
        requests: pod.requests.clone(),
        nonzero_cpu_memory: pod.nonzero_cpu_memory,
        host_ports: pod.host_ports.clone(),
        node_selector: pod.node_selector.clone(),
        required_node_affinity: pod.required_node_affinity.clone(),
        preferred_node_affinity: pod.preferred_node_affinity.clone(),
        tolerations: pod.tolerations.clone(),
        ..PodRow::default()
    }
}

/// The id of a signature. `DefaultHasher::new()` has fixed keys, so every worker and process
/// of one build computes the same id.
pub fn class_id(signature: &PodRow) -> ClassId {
    let mut h = DefaultHasher::new();
    signature.hash(&mut h);
    h.finish()
}

/// One node's node-local verdict and raw scores for one class.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PairEval {
    /// The first rejection among the enabled [`NODE_LOCAL_FILTERS`].
    pub filter: FilterResult,
    /// TaintToleration's raw score (intolerable PreferNoSchedule taints).
    pub taint: i64,
    /// NodeAffinity's raw score; `None` when the plugin skips the pod.
    pub node_affinity: Option<i64>,
    /// NodeResourcesFit's score (already in `0..=100`).
    pub fit: i64,
    /// NodeResourcesBalancedAllocation's score; `None` when the plugin skips the pod.
    pub balanced: Option<i64>,
}

/// The node-local filters' verdict alone (the binder re-checks claimed nodes with it).
pub fn local_filter(config: &SchedulerConfig, pod: &PodRow, info: &NodeInfo) -> FilterResult {
    NODE_LOCAL_FILTERS.into_iter().filter(|p| config.filters(*p)).try_for_each(|p| match p {
        Plugin::NodeUnschedulable => node_unschedulable::filter(pod, &info.node),
        Plugin::NodeName => node_name::filter(pod, &info.node),
        Plugin::TaintToleration => taint_toleration::filter(pod, &info.node),
        Plugin::NodeAffinity => node_affinity::filter(pod, &info.node),
        Plugin::NodePorts => node_ports::filter(pod, info),
        Plugin::NodeResourcesFit => node_resources_fit::filter(pod, info, &config.fit),
        _ => Ok(()),
    })
}

/// Evaluates one pair with the plugins' pure functions. Scores are computed whatever the
/// verdict: they are cheap, and a node that fails only a cluster-wide filter is not scored
/// anyway.
pub fn evaluate(config: &SchedulerConfig, pod: &PodRow, info: &NodeInfo) -> PairEval {
    PairEval {
        filter: local_filter(config, pod, info),
        taint: taint_toleration::score(pod, &info.node),
        node_affinity: node_affinity::score(pod, &info.node),
        fit: node_resources_fit::score(pod, info, &config.fit),
        balanced: balanced_allocation::score(pod, info, &config.balanced_allocation_resources),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::test_support::{pod, sized_node};
    use serde_json::json;

    #[test]
    fn pods_of_one_template_share_a_class() {
        let a = pod(json!({"metadata": {"name": "a", "uid": "1", "creationTimestamp": "2026-01-01T00:00:00Z", "labels": {"app": "x"}}}));
        let b = pod(json!({"metadata": {"name": "b", "uid": "2", "creationTimestamp": "2026-01-01T00:00:01Z", "labels": {"app": "x"}}}));
        let c = pod(json!({"metadata": {"name": "c", "labels": {"app": "y"}}}));
        let d = pod(json!({"metadata": {"name": "d"}, "spec": {"containers": [{"resources": {"requests": {"cpu": "1"}}}]}}));
        assert_eq!(class_id(&class_of(&a)), class_id(&class_of(&b)));
        assert_eq!(class_id(&class_of(&a)), class_id(&class_of(&c)), "labels are not node-local");
        assert_ne!(class_id(&class_of(&a)), class_id(&class_of(&d)));
    }

    #[test]
    fn a_full_node_fails_the_local_filters() {
        let n = NodeInfo::new(sized_node("n", json!({"cpu": "1", "pods": "10"})));
        let big = pod(json!({"metadata": {"name": "p"}, "spec": {"containers": [{"resources": {"requests": {"cpu": "2"}}}]}}));
        let eval = evaluate(&SchedulerConfig::default(), &big, &n);
        assert_eq!(eval.filter.unwrap_err().reasons, vec!["Insufficient cpu".to_string()]);
    }
}
