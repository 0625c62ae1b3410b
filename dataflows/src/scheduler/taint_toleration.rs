//! TaintToleration (`pkg/scheduler/framework/plugins/tainttoleration/taint_toleration.go`).
//!
//! - Filter: the first `NoSchedule` or `NoExecute` taint the pod does not tolerate rejects the
//!   node (`FindMatchingUntoleratedTaint`). Condition taints ([`super::node_conditions`]) count.
//! - Score: the number of `PreferNoSchedule` taints the pod's `PreferNoSchedule` (or
//!   effect-less) tolerations do not tolerate, normalized reversed (`DefaultNormalizeScore(100,
//!   true)`): no such taint scores 100.
//!
//! The reason names the taint, `node(s) had untolerated taint {key: value}`, as the issue asks
//! and as upstream through 1.34 wrote it (the test cases below are upstream's). Upstream 1.35
//! shortened it to `node(s) had untolerated taint(s)` so as not to reveal taint values; the
//! text is [`untolerated_reason`], in one place.

use super::framework::{default_normalize, Code, FilterResult, Plugin, Rejection, MAX_NODE_SCORE};
use super::rows::{tolerated, NodeRow, Taint, Toleration};
use super::rows_pod::PodRow;

/// The reason for an untolerated taint.
pub fn untolerated_reason(taint: &Taint) -> String {
    format!("node(s) had untolerated taint {{{}: {}}}", taint.key, taint.value)
}

/// Upstream's `FindMatchingUntoleratedTaint` with `DoNotScheduleTaintsFilterFunc`.
pub fn first_untolerated_taint<'a>(tolerations: &[Toleration], mut taints: impl Iterator<Item = &'a Taint>) -> Option<&'a Taint> {
    taints.find(|t| (t.effect == "NoSchedule" || t.effect == "NoExecute") && !tolerated(tolerations, t))
}

pub fn filter(pod: &PodRow, node: &NodeRow) -> FilterResult {
    match first_untolerated_taint(&pod.tolerations, node.effective_taints()) {
        None => Ok(()),
        Some(t) => Err(Rejection::new(Plugin::TaintToleration, Code::UnschedulableAndUnresolvable, untolerated_reason(t))),
    }
}

/// The raw score: how many `PreferNoSchedule` taints the pod does not tolerate.
pub fn score(pod: &PodRow, node: &NodeRow) -> i64 {
    let prefer: Vec<Toleration> = pod.tolerations.iter().filter(|t| t.effect.is_empty() || t.effect == "PreferNoSchedule").cloned().collect();
    node.effective_taints().filter(|t| t.effect == "PreferNoSchedule" && !tolerated(&prefer, t)).count() as i64
}

/// Upstream's NormalizeScore: reversed default normalization.
pub fn normalize(scores: &mut [i64]) {
    default_normalize(MAX_NODE_SCORE, true, scores);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::test_support::{node, pod};
    use serde_json::{json, Value};

    fn tainted(name: &str, taints: Value) -> NodeRow {
        node(json!({"metadata": {"name": name}, "spec": {"taints": taints}}))
    }

    fn tolerating(tolerations: Value) -> PodRow {
        pod(json!({"metadata": {"name": "pod1"}, "spec": {"tolerations": tolerations}}))
    }

    fn scores(p: &PodRow, nodes: &[NodeRow]) -> Vec<i64> {
        let mut s: Vec<i64> = nodes.iter().map(|n| score(p, n)).collect();
        normalize(&mut s);
        s
    }

    // Upstream: pkg/scheduler/framework/plugins/tainttoleration/taint_toleration_test.go, TestTaintTolerationScore.
    #[test]
    fn upstream_score_cases() {
        let prefer = |k: &str, v: &str| json!({"key": k, "value": v, "effect": "PreferNoSchedule"});
        // "node with taints tolerated by the pod, gets a higher score than those node with intolerable taints"
        let p = tolerating(json!([{"key": "foo", "operator": "Equal", "value": "bar", "effect": "PreferNoSchedule"}]));
        assert_eq!(scores(&p, &[tainted("nodeA", json!([prefer("foo", "bar")])), tainted("nodeB", json!([prefer("foo", "blah")]))]), [100, 0]);
        // "the nodes that all of their taints are tolerated by the pod, get the same score, no matter how many tolerable taints a node has"
        let p = tolerating(json!([
            {"key": "cpu-type", "operator": "Equal", "value": "arm64", "effect": "PreferNoSchedule"},
            {"key": "disk-type", "operator": "Equal", "value": "ssd", "effect": "PreferNoSchedule"},
        ]));
        let three = [
            tainted("nodeA", json!([])),
            tainted("nodeB", json!([prefer("cpu-type", "arm64")])),
            tainted("nodeC", json!([prefer("cpu-type", "arm64"), prefer("disk-type", "ssd")])),
        ];
        assert_eq!(scores(&p, &three), [100, 100, 100]);
        // "the more intolerable taints a node has, the lower score it gets."
        let p = tolerating(json!([{"key": "foo", "operator": "Equal", "value": "bar", "effect": "PreferNoSchedule"}]));
        assert_eq!(scores(&p, &three), [100, 50, 0]);
        // "only taints and tolerations that have effect PreferNoSchedule are checked by taints-tolerations priority function"
        let p = tolerating(json!([
            {"key": "cpu-type", "operator": "Equal", "value": "arm64", "effect": "NoSchedule"},
            {"key": "disk-type", "operator": "Equal", "value": "ssd", "effect": "NoSchedule"},
        ]));
        let nodes = [
            tainted("nodeA", json!([])),
            tainted("nodeB", json!([{"key": "cpu-type", "value": "arm64", "effect": "NoSchedule"}])),
            tainted("nodeC", json!([prefer("cpu-type", "arm64"), prefer("disk-type", "ssd")])),
        ];
        assert_eq!(scores(&p, &nodes), [100, 100, 0]);
        // "Default behaviour No taints and tolerations, lands on node with no taints"
        let p = tolerating(json!([]));
        assert_eq!(scores(&p, &[tainted("nodeA", json!([])), tainted("nodeB", json!([prefer("cpu-type", "arm64")]))]), [100, 0]);
    }

    // Upstream: taint_toleration_test.go, TestTaintTolerationFilter.
    #[test]
    fn upstream_filter_cases() {
        let user1 = tainted("nodeA", json!([{"key": "dedicated", "value": "user1", "effect": "NoSchedule"}]));
        let reason = |p: &PodRow, n: &NodeRow| filter(p, n).err().map(|r| (r.code, r.reasons));
        let want = |s: &str| Some((Code::UnschedulableAndUnresolvable, vec![s.to_string()]));
        // "A pod having no tolerations can't be scheduled onto a node with nonempty taints"
        assert_eq!(reason(&tolerating(json!([])), &user1), want("node(s) had untolerated taint {dedicated: user1}"));
        // "A pod which can be scheduled on a dedicated node assigned to user1 with effect NoSchedule"
        assert_eq!(reason(&tolerating(json!([{"key": "dedicated", "value": "user1", "effect": "NoSchedule"}])), &user1), None);
        // "A pod which can't be scheduled on a dedicated node assigned to user2 with effect NoSchedule"
        let user2 = tolerating(json!([{"key": "dedicated", "operator": "Equal", "value": "user2", "effect": "NoSchedule"}]));
        assert_eq!(reason(&user2, &user1), want("node(s) had untolerated taint {dedicated: user1}"));
        // "A pod can be scheduled onto the node, with a toleration uses operator Exists that tolerates the taints on the node"
        let foo_bar = tainted("nodeA", json!([{"key": "foo", "value": "bar", "effect": "NoSchedule"}]));
        assert_eq!(reason(&tolerating(json!([{"key": "foo", "operator": "Exists", "effect": "NoSchedule"}])), &foo_bar), None);
        // "A pod has multiple tolerations, node has multiple taints, all the taints are tolerated, pod can be scheduled onto the node"
        let both =
            tainted("nodeA", json!([{"key": "dedicated", "value": "user2", "effect": "NoSchedule"}, {"key": "foo", "value": "bar", "effect": "NoSchedule"}]));
        let p = tolerating(json!([
            {"key": "dedicated", "operator": "Equal", "value": "user2", "effect": "NoSchedule"},
            {"key": "foo", "operator": "Exists", "effect": "NoSchedule"},
        ]));
        assert_eq!(reason(&p, &both), None);
        // "A pod has a toleration that keys and values match the taint on the node, but (non-empty) effect doesn't match, can't be scheduled onto the node"
        let p = tolerating(json!([{"key": "foo", "operator": "Equal", "value": "bar", "effect": "PreferNoSchedule"}]));
        assert_eq!(reason(&p, &foo_bar), want("node(s) had untolerated taint {foo: bar}"));
        // "The pod has a toleration that keys and values match the taint on the node, the effect of toleration is empty, and the effect of taint is NoSchedule. Pod can be scheduled onto the node"
        assert_eq!(reason(&tolerating(json!([{"key": "foo", "operator": "Equal", "value": "bar"}])), &foo_bar), None);
        // "The pod has a toleration that key and value don't match the taint on the node, but the effect of taint on node is PreferNoSchedule. Pod can be scheduled onto the node"
        let prefer_user1 = tainted("nodeA", json!([{"key": "dedicated", "value": "user1", "effect": "PreferNoSchedule"}]));
        assert_eq!(reason(&user2, &prefer_user1), None);
        // "The pod has no toleration, but the effect of taint on node is PreferNoSchedule. Pod can be scheduled onto the node"
        assert_eq!(reason(&tolerating(json!([])), &prefer_user1), None);
    }

    #[test]
    fn a_not_ready_node_is_rejected_by_its_condition_taint_unless_tolerated() {
        let n = node(json!({"metadata": {"name": "n"}, "status": {"conditions": [{"type": "Ready", "status": "False"}]}}));
        let r = filter(&tolerating(json!([])), &n).unwrap_err();
        assert_eq!(r.reasons, vec!["node(s) had untolerated taint {node.kubernetes.io/not-ready: }".to_string()]);
        assert!(filter(&tolerating(json!([{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoSchedule"}])), &n).is_ok());
    }
}
