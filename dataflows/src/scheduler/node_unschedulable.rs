//! NodeUnschedulable (`pkg/scheduler/framework/plugins/nodeunschedulable/node_unschedulable.go`):
//! a node with `spec.unschedulable` takes only pods that tolerate the
//! `node.kubernetes.io/unschedulable:NoSchedule` taint.

use super::framework::{Code, FilterResult, Plugin, Rejection};
use super::node_conditions::TAINT_UNSCHEDULABLE;
use super::rows::{tolerated, NodeRow, Taint};
use super::rows_pod::PodRow;

/// Upstream's `ErrReasonUnschedulable`.
pub const ERR_REASON_UNSCHEDULABLE: &str = "node(s) were unschedulable";

pub fn filter(pod: &PodRow, node: &NodeRow) -> FilterResult {
    if !node.unschedulable {
        return Ok(());
    }
    let taint = Taint { key: TAINT_UNSCHEDULABLE.into(), value: String::new(), effect: "NoSchedule".into() };
    if tolerated(&pod.tolerations, &taint) {
        return Ok(());
    }
    Err(Rejection::new(Plugin::NodeUnschedulable, Code::UnschedulableAndUnresolvable, ERR_REASON_UNSCHEDULABLE))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::test_support::{node, pod};
    use serde_json::json;

    // Upstream: pkg/scheduler/framework/plugins/nodeunschedulable/node_unschedulable_test.go, TestNodeUnschedulable.
    #[test]
    fn upstream_node_unschedulable_cases() {
        let unschedulable = node(json!({"metadata": {"name": "n"}, "spec": {"unschedulable": true}}));
        let normal = node(json!({"metadata": {"name": "n"}, "spec": {"unschedulable": false}}));
        let plain = pod(json!({"metadata": {"name": "p"}}));
        let tolerating = pod(json!({"metadata": {"name": "p"}, "spec": {"tolerations": [{"key": TAINT_UNSCHEDULABLE, "effect": "NoSchedule"}]}}));

        // "Does not schedule pod to unschedulable node (node.Spec.Unschedulable==true)"
        let rejected = filter(&plain, &unschedulable).unwrap_err();
        assert_eq!((rejected.code, rejected.reasons), (Code::UnschedulableAndUnresolvable, vec![ERR_REASON_UNSCHEDULABLE.to_string()]));
        // "Schedule pod to normal node"
        assert!(filter(&plain, &normal).is_ok());
        // "Schedule pod with toleration to unschedulable node (node.Spec.Unschedulable==true)"
        assert!(filter(&tolerating, &unschedulable).is_ok());
    }
}
