//! NodeName (`pkg/scheduler/framework/plugins/nodename/node_name.go`): a pod that names a node
//! fits only that node.

use super::framework::{Code, FilterResult, Plugin, Rejection};
use super::rows::NodeRow;
use super::rows_pod::PodRow;

/// Upstream's `ErrReason`.
pub const ERR_REASON: &str = "node(s) didn't match the requested node name";

pub fn filter(pod: &PodRow, node: &NodeRow) -> FilterResult {
    if pod.node_name.is_empty() || pod.node_name == node.name {
        return Ok(());
    }
    Err(Rejection::new(Plugin::NodeName, Code::UnschedulableAndUnresolvable, ERR_REASON))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::test_support::{labelled_node, pod};
    use serde_json::json;

    // Upstream: pkg/scheduler/framework/plugins/nodename/node_name_test.go, TestNodeName.
    #[test]
    fn upstream_node_name_cases() {
        let foo = labelled_node("foo", json!({}));
        // "no host specified"
        assert!(filter(&pod(json!({"metadata": {"name": "p"}})), &labelled_node("", json!({}))).is_ok());
        // "host matches"
        assert!(filter(&pod(json!({"metadata": {"name": "p"}, "spec": {"nodeName": "foo"}})), &foo).is_ok());
        // "host doesn't match"
        let r = filter(&pod(json!({"metadata": {"name": "p"}, "spec": {"nodeName": "bar"}})), &foo).unwrap_err();
        assert_eq!((r.code, r.reasons), (Code::UnschedulableAndUnresolvable, vec![ERR_REASON.to_string()]));
    }
}
