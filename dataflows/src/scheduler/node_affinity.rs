//! NodeAffinity (`pkg/scheduler/framework/plugins/nodeaffinity/node_affinity.go`, matching from
//! `k8s.io/component-helpers/scheduling/corev1/nodeaffinity/nodeaffinity.go`).
//!
//! - PreFilter: required terms that all pin `metadata.name` restrict the candidates to those
//!   names (DaemonSet pods); pins that leave no name reject the pod (`pod affinity terms conflict`).
//! - Filter: `spec.nodeSelector` and the required terms (ORed; a term's requirements ANDed).
//! - Score: the sum of the weights of the preferred terms the node matches, normalized
//!   (`DefaultNormalizeScore(100, false)`). A pod without preferred terms is not scored.

use std::collections::BTreeSet;

use super::framework::{default_normalize, Code, FilterResult, Plugin, Rejection, MAX_NODE_SCORE};
use super::rows::NodeRow;
use super::rows_pod::PodRow;
use super::selectors::label_value;

/// Upstream's `ErrReasonPod`.
pub const ERR_REASON_POD: &str = "node(s) didn't match Pod's node affinity/selector";
/// Upstream's `errReasonConflict`.
pub const ERR_REASON_CONFLICT: &str = "pod affinity terms conflict";

/// What NodeAffinity's PreFilter says about the candidate nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PreFilter {
    /// Neither a node selector nor required affinity: the filter has nothing to check.
    Skip,
    AllNodes,
    /// Only these nodes can match (upstream's `PreFilterResult.NodeNames`).
    Only(BTreeSet<String>),
    /// No node can match; the message is upstream's PreFilter status.
    Reject(String),
}

pub fn pre_filter(pod: &PodRow) -> PreFilter {
    let Some(terms) = &pod.required_node_affinity else {
        return if pod.node_selector.is_empty() { PreFilter::Skip } else { PreFilter::AllNodes };
    };
    if terms.is_empty() {
        return PreFilter::AllNodes;
    }
    let mut names = BTreeSet::new();
    for term in terms {
        match term.pinned_node_names() {
            None => return PreFilter::AllNodes,
            Some(pinned) => names.extend(pinned),
        }
    }
    if names.is_empty() {
        PreFilter::Reject(ERR_REASON_CONFLICT.to_string())
    } else {
        PreFilter::Only(names)
    }
}

/// Upstream's `RequiredNodeAffinity.Match`: the node selector, then the required terms.
pub fn required_matches(pod: &PodRow, node: &NodeRow) -> bool {
    let selector_ok = pod.node_selector.iter().all(|(k, v)| label_value(&node.labels, k) == Some(v.as_str()));
    selector_ok && pod.required_node_affinity.as_ref().is_none_or(|terms| terms.iter().any(|t| t.matches(&node.name, &node.labels)))
}

pub fn filter(pod: &PodRow, node: &NodeRow) -> FilterResult {
    if required_matches(pod, node) {
        Ok(())
    } else {
        Err(Rejection::new(Plugin::NodeAffinity, Code::UnschedulableAndUnresolvable, ERR_REASON_POD))
    }
}

/// The raw score, or `None` when the pod has no preferred terms (upstream's PreScore Skip).
pub fn score(pod: &PodRow, node: &NodeRow) -> Option<i64> {
    if pod.preferred_node_affinity.is_empty() {
        return None;
    }
    Some(pod.preferred_node_affinity.iter().filter(|p| p.term.matches(&node.name, &node.labels)).map(|p| p.weight).sum())
}

pub fn normalize(scores: &mut [i64]) {
    default_normalize(MAX_NODE_SCORE, false, scores);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::test_support::{labelled_node, pod};
    use serde_json::{json, Value};

    fn required(terms: Value) -> PodRow {
        pod(
            json!({"metadata": {"name": "p"}, "spec": {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}}}}}),
        )
    }

    fn expr(key: &str, op: &str, values: &[&str]) -> Value {
        json!({"key": key, "operator": op, "values": values})
    }

    fn fits(p: &PodRow, name: &str, labels: Value) -> bool {
        filter(p, &labelled_node(name, labels)).is_ok()
    }

    // Upstream: pkg/scheduler/framework/plugins/nodeaffinity/node_affinity_test.go, TestNodeAffinity.
    #[test]
    fn upstream_filter_cases() {
        let selector = |m: Value| pod(json!({"metadata": {"name": "p"}, "spec": {"nodeSelector": m}}));
        assert!(!fits(&selector(json!({"foo": "bar"})), "n", json!({})), "missing labels");
        assert!(fits(&selector(json!({"foo": "bar"})), "n", json!({"foo": "bar"})), "same labels");
        assert!(fits(&selector(json!({"foo": "bar"})), "n", json!({"foo": "bar", "baz": "blah"})), "node labels are superset");
        assert!(!fits(&selector(json!({"foo": "bar", "baz": "blah"})), "n", json!({"foo": "bar"})), "node labels are subset");
        let one = |e: Value| required(json!([{"matchExpressions": [e]}]));
        assert!(fits(&one(expr("foo", "In", &["bar", "value2"])), "n", json!({"foo": "bar"})), "In operator that matches");
        assert!(fits(&one(expr("kernel-version", "Gt", &["0204"])), "n", json!({"kernel-version": "0206"})), "Gt operator that matches");
        assert!(fits(&one(expr("mem-type", "NotIn", &["DDR", "DDR2"])), "n", json!({"mem-type": "DDR3"})), "NotIn operator that matches");
        assert!(fits(&one(json!({"key": "GPU", "operator": "Exists"})), "n", json!({"GPU": "NVIDIA-GRID-K1"})), "Exists operator that matches");
        assert!(!fits(&one(expr("foo", "In", &["value1", "value2"])), "n", json!({"foo": "bar"})), "affinity that don't match node's labels");
        assert!(!fits(&required(json!([{"matchExpressions": []}])), "n", json!({"foo": "bar"})), "empty MatchExpressions matches no objects");
        let anded = |op: &str| required(json!([{"matchExpressions": [{"key": "GPU", "operator": "Exists"}, expr("GPU", op, &["AMD", "INTER"])]}]));
        assert!(fits(&anded("NotIn"), "n", json!({"GPU": "NVIDIA-GRID-K1"})), "multiple matchExpressions ANDed that matches");
        assert!(!fits(&anded("In"), "n", json!({"GPU": "NVIDIA-GRID-K1"})), "multiple matchExpressions ANDed that doesn't match");
        let ored = required(
            json!([{"matchExpressions": [expr("foo", "In", &["bar", "value2"])]}, {"matchExpressions": [expr("diffkey", "In", &["wrong", "value2"])]}]),
        );
        assert!(fits(&ored, "n", json!({"foo": "bar"})), "multiple NodeSelectorTerms ORed");
        let both = |v: &str| {
            let p = pod(json!({"metadata": {"name": "p"}, "spec": {"nodeSelector": {"foo": "bar"},
                "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": [{"key": "foo", "operator": "Exists"}]}]}}}}}));
            fits(&p, "n", json!({"foo": v}))
        };
        assert!(both("bar"), "Affinity and NodeSelector both satisfied");
        assert!(!both("barrrrrr"), "Affinity matches but NodeSelector is not satisfied");
        assert!(!fits(&one(expr("foo", "NotIn", &["invalid value: ___@#$%^"])), "n", json!({"foo": "bar"})), "invalid value in Affinity term");
        let pinned = required(json!([{"matchFields": [expr("metadata.name", "In", &["node1"])]}]));
        assert!(fits(&pinned, "node1", json!({})), "matchFields In that matches");
        assert!(!fits(&pinned, "node2", json!({})), "matchFields In that does not match");
        assert_eq!(pre_filter(&pinned), PreFilter::Only(["node1".to_string()].into()));
        let two_terms = required(json!([
            {"matchFields": [expr("metadata.name", "In", &["node1"]), expr("metadata.name", "In", &["node2"])]},
            {"matchExpressions": [expr("foo", "In", &["bar"])]},
        ]));
        assert!(fits(&two_terms, "node2", json!({"foo": "bar"})), "two terms: matchFields does not match, but matchExpressions matches");
        assert_eq!(pre_filter(&two_terms), PreFilter::AllNodes);
        assert_eq!(pre_filter(&pod(json!({"metadata": {"name": "p"}}))), PreFilter::Skip, "Pod with no Affinity");
    }

    #[test]
    fn conflicting_name_pins_reject_in_pre_filter() {
        let p = required(json!([{"matchFields": [expr("metadata.name", "In", &["node1"]), expr("metadata.name", "In", &["node2"])]}]));
        assert_eq!(pre_filter(&p), PreFilter::Reject(ERR_REASON_CONFLICT.to_string()));
    }

    // Upstream: node_affinity_test.go, TestNodeAffinityPriority.
    #[test]
    fn upstream_score_cases() {
        let preferred = |terms: Value| {
            pod(json!({"metadata": {"name": "p"}, "spec": {"affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": terms}}}}))
        };
        let term = |w: i64, exprs: Value| json!({"weight": w, "preference": {"matchExpressions": exprs}});
        let affinity1 = preferred(json!([term(2, json!([expr("foo", "In", &["bar"])]))]));
        let affinity2 = preferred(json!([
            term(2, json!([expr("foo", "In", &["bar"])])),
            term(4, json!([expr("key", "In", &["value"])])),
            term(5, json!([expr("foo", "In", &["bar"]), expr("key", "In", &["value"]), expr("az", "In", &["az1"])])),
        ]));
        let label1 = json!({"foo": "bar"});
        let label2 = json!({"key": "value"});
        let label3 = json!({"az": "az1"});
        let label4 = json!({"abc": "az11", "def": "az22"});
        let label5 = json!({"foo": "bar", "key": "value", "az": "az1"});
        let run = |p: &PodRow, nodes: Vec<(&str, Value)>| -> Option<Vec<i64>> {
            let mut s = nodes.into_iter().map(|(n, l)| score(p, &labelled_node(n, l))).collect::<Option<Vec<i64>>>()?;
            normalize(&mut s);
            Some(s)
        };
        // "Skip is returned in PreScore when NodeAffinity is nil"
        assert_eq!(run(&pod(json!({"metadata": {"name": "p"}})), vec![("node1", label1.clone())]), None);
        // "no node matches preferred scheduling requirements in NodeAffinity of pod so all nodes' priority is zero"
        assert_eq!(run(&affinity1, vec![("node1", label4), ("node2", label2.clone()), ("node3", label3.clone())]), Some(vec![0, 0, 0]));
        // "only node1 matches the preferred scheduling requirements of pod"
        assert_eq!(run(&affinity1, vec![("node1", label1.clone()), ("node2", label2.clone()), ("node3", label3)]), Some(vec![100, 0, 0]));
        // "all nodes matches the preferred scheduling requirements of pod but with different priorities "
        assert_eq!(run(&affinity2, vec![("node1", label1), ("node5", label5), ("node2", label2)]), Some(vec![18, 100, 36]));
    }
}
