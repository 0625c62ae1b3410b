//! The `FailedScheduling` message, as upstream's `FitError.Error()`
//! (`pkg/scheduler/framework/types.go`):
//!
//! `0/N nodes are available: <PreFilterMsg>.` when a PreFilter rejected the pod, else
//! `0/N nodes are available: <count> <reason>, ....` with one entry per distinct reason, counted
//! over the rejected nodes (a node rejected for several reasons counts in each) and sorted as
//! strings, exactly as upstream sorts them (so `10 ...` sorts before `2 ...`). Nodes a
//! PreFilter result left out share one reason, counted once per such node.
//!
//! Upstream appends its PostFilter message, today that of DefaultPreemption
//! (`preemption: 0/N nodes are available: ...`), after a space. deltakube does not preempt, so
//! it runs no PostFilter and, like upstream with DefaultPreemption disabled, adds nothing;
//! [`FitError::post_filter_message`] is there for when preemption arrives.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::framework::Rejection;

/// Upstream's `ErrNoNodesAvailable`: the message when the cluster has no node at all.
pub const NO_NODES_AVAILABLE: &str = "no nodes available to schedule pods";

/// Why a pod fits no node: what the message is built from.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct FitError {
    pub num_all_nodes: usize,
    /// A PreFilter plugin's rejection; when set, node reasons are not listed.
    pub pre_filter_message: Option<String>,
    /// The rejection of each node the filters saw.
    pub rejections: Vec<Rejection>,
    /// Nodes a PreFilter result excluded: how many, and their one reason.
    pub absent_nodes: Option<(usize, String)>,
    pub post_filter_message: Option<String>,
}

impl FitError {
    /// Upstream's `FitError.Error()`.
    pub fn message(&self) -> String {
        let mut msg = format!("0/{} nodes are available:", self.num_all_nodes);
        if let Some(pre) = &self.pre_filter_message {
            msg.push_str(&format!(" {pre}."));
        } else {
            let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
            for reason in self.rejections.iter().flat_map(|r| r.reasons.iter()) {
                *counts.entry(reason.as_str()).or_insert(0) += 1;
            }
            if let Some((n, reason)) = &self.absent_nodes {
                *counts.entry(reason.as_str()).or_insert(0) += n;
            }
            let mut histogram: Vec<String> = counts.into_iter().map(|(reason, n)| format!("{n} {reason}")).collect();
            histogram.sort();
            if !histogram.is_empty() {
                msg.push_str(&format!(" {}.", histogram.join(", ")));
            }
        }
        if let Some(post) = &self.post_filter_message {
            msg.push_str(&format!(" {post}"));
        }
        msg
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::framework::{Code, Plugin};

    fn rejected(reasons: &[&str]) -> Rejection {
        Rejection { plugin: Plugin::NodeResourcesFit, code: Code::Unschedulable, reasons: reasons.iter().map(|r| r.to_string()).collect() }
    }

    // Upstream: pkg/scheduler/framework/types_test.go, TestFitError_Error.
    #[test]
    fn upstream_fit_error_cases() {
        let filter1 = "Node(s) failed Filter plugin FalseFilter-1";
        let pre = "Node(s) failed PreFilter plugin FalsePreFilter";
        let post = "Error running PostFilter plugin FailedPostFilter";
        let three = |reasons: [&str; 3]| reasons.iter().map(|r| rejected(&[r])).collect::<Vec<_>>();
        // "nodes failed Prefilter plugin"
        let e = FitError { num_all_nodes: 3, pre_filter_message: Some(pre.into()), rejections: three([pre, pre, pre]), ..FitError::default() };
        assert_eq!(e.message(), "0/3 nodes are available: Node(s) failed PreFilter plugin FalsePreFilter.");
        // "nodes failed Prefilter plugin and the preemption also failed"
        let e = FitError { post_filter_message: Some(post.into()), ..e };
        assert_eq!(e.message(), "0/3 nodes are available: Node(s) failed PreFilter plugin FalsePreFilter. Error running PostFilter plugin FailedPostFilter");
        // "nodes failed one Filter plugin with an empty PostFilterMsg"
        let e = FitError { num_all_nodes: 3, rejections: three([filter1, filter1, filter1]), ..FitError::default() };
        assert_eq!(e.message(), "0/3 nodes are available: 3 Node(s) failed Filter plugin FalseFilter-1.");
        // "nodes failed one Filter plugin with a non-empty PostFilterMsg"
        let e = FitError { post_filter_message: Some(post.into()), ..e };
        assert_eq!(e.message(), "0/3 nodes are available: 3 Node(s) failed Filter plugin FalseFilter-1. Error running PostFilter plugin FailedPostFilter");
        // "nodes failed two Filter plugins with an empty PostFilterMsg"
        let e = FitError { num_all_nodes: 3, rejections: three([filter1, filter1, "Node(s) failed Filter plugin FalseFilter-2"]), ..FitError::default() };
        assert_eq!(e.message(), "0/3 nodes are available: 1 Node(s) failed Filter plugin FalseFilter-2, 2 Node(s) failed Filter plugin FalseFilter-1.");
        // "failed to Permit on node"
        let e = FitError { num_all_nodes: 1, rejections: vec![rejected(&["Node failed Permit plugin Permit-1"])], ..FitError::default() };
        assert_eq!(e.message(), "0/1 nodes are available: 1 Node failed Permit plugin Permit-1.");
    }

    #[test]
    fn the_issues_example_and_string_order() {
        let taint = "node(s) had untolerated taint {dedicated: gpu}";
        let mut rejections = vec![rejected(&["Insufficient cpu"]), rejected(&["Insufficient cpu"])];
        rejections.extend((0..3).map(|_| rejected(&[taint])));
        let e = FitError { num_all_nodes: 5, rejections, ..FitError::default() };
        assert_eq!(e.message(), "0/5 nodes are available: 2 Insufficient cpu, 3 node(s) had untolerated taint {dedicated: gpu}.");
        // A node short of two resources counts in both; "10 ..." sorts before "9 ..." as strings.
        let mut rejections: Vec<Rejection> = (0..10).map(|_| rejected(&["Insufficient memory"])).collect();
        rejections.extend((0..9).map(|_| rejected(&["Insufficient cpu"])));
        rejections.push(rejected(&["Insufficient cpu", "Insufficient memory"]));
        let e = FitError { num_all_nodes: 20, rejections, absent_nodes: None, ..FitError::default() };
        assert_eq!(e.message(), "0/20 nodes are available: 10 Insufficient cpu, 11 Insufficient memory.");
        let e = FitError {
            num_all_nodes: 3,
            rejections: vec![rejected(&["x"])],
            absent_nodes: Some((2, "node(s) didn't satisfy plugin(s) [NodeAffinity]".into())),
            ..FitError::default()
        };
        assert_eq!(e.message(), "0/3 nodes are available: 1 x, 2 node(s) didn't satisfy plugin(s) [NodeAffinity].");
    }
}
