//! NodePorts (`pkg/scheduler/framework/plugins/nodeports/node_ports.go`): a pod's host ports must
//! be free on the node. A port bound on `0.0.0.0` conflicts with the same protocol and port on
//! any address, and the reverse (`HostPortInfo.CheckConflict` in `k8s.io/kube-scheduler/framework`).

use std::collections::BTreeSet;

use super::framework::{Code, FilterResult, Plugin, Rejection};
use super::rows::HostPort;
use super::rows_pod::PodRow;
use super::snapshot::NodeInfo;

/// Upstream's `ErrReason`.
pub const ERR_REASON: &str = "node(s) didn't have free ports for the requested pod ports";

const BIND_ALL: &str = "0.0.0.0";

/// Upstream's `CheckConflict` of one wanted port against the ports in use.
pub fn conflicts(used: &BTreeSet<HostPort>, want: &HostPort) -> bool {
    used.iter().any(|u| u.protocol == want.protocol && u.port == want.port && (want.ip == BIND_ALL || u.ip == BIND_ALL || u.ip == want.ip))
}

pub fn filter(pod: &PodRow, node: &NodeInfo) -> FilterResult {
    if pod.host_ports.iter().any(|p| conflicts(&node.used_ports, p)) {
        return Err(Rejection::new(Plugin::NodePorts, Code::Unschedulable, ERR_REASON));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::rows_pod::PodRow;
    use crate::scheduler::test_support::{labelled_node, node_info, pod};
    use serde_json::{json, Value};

    /// Upstream's `newPod(host, "PROTOCOL/IP/PORT"...)`.
    fn pod_with_ports(node: &str, ports: &[&str]) -> PodRow {
        let ports: Vec<Value> = ports
            .iter()
            .map(|p| {
                let parts: Vec<&str> = p.split('/').collect();
                json!({"hostIP": parts[1], "hostPort": parts[2].parse::<i64>().unwrap(), "protocol": parts[0]})
            })
            .collect();
        pod(json!({"metadata": {"name": "p"}, "spec": {"nodeName": node, "containers": [{"ports": ports}]}}))
    }

    fn fits(want: &[&str], existing: &[&str]) -> bool {
        let info = node_info(labelled_node("m1", json!({})), vec![pod_with_ports("m1", existing)]);
        filter(&pod_with_ports("", want), &info).is_ok()
    }

    // Upstream: pkg/scheduler/framework/plugins/nodeports/node_ports_test.go, TestNodePorts.
    #[test]
    fn upstream_node_ports_cases() {
        assert!(fits(&["UDP/127.0.0.1/8080"], &["UDP/127.0.0.1/9090"]), "other port");
        assert!(!fits(&["UDP/127.0.0.1/8080"], &["UDP/127.0.0.1/8080"]), "same udp port");
        assert!(!fits(&["TCP/127.0.0.1/8080"], &["TCP/127.0.0.1/8080"]), "same tcp port");
        assert!(fits(&["TCP/127.0.0.1/8080"], &["TCP/127.0.0.2/8080"]), "different host ip");
        assert!(fits(&["UDP/127.0.0.1/8080"], &["TCP/127.0.0.1/8080"]), "different protocol");
        assert!(!fits(&["UDP/127.0.0.1/8000", "UDP/127.0.0.1/8080"], &["UDP/127.0.0.1/8080"]), "second udp port conflict");
        assert!(!fits(&["TCP/127.0.0.1/8001", "UDP/127.0.0.1/8080"], &["TCP/127.0.0.1/8001", "UDP/127.0.0.1/8081"]), "first tcp port conflict");
        assert!(!fits(&["TCP/0.0.0.0/8001"], &["TCP/127.0.0.1/8001"]), "first tcp port conflict due to 0.0.0.0 hostIP");
        assert!(!fits(&["TCP/10.0.10.10/8001", "TCP/0.0.0.0/8001"], &["TCP/127.0.0.1/8001"]), "TCP hostPort conflict due to 0.0.0.0 hostIP");
        assert!(!fits(&["TCP/127.0.0.1/8001"], &["TCP/0.0.0.0/8001"]), "second tcp port conflict to 0.0.0.0 hostIP");
        assert!(fits(&["UDP/127.0.0.1/8001"], &["TCP/0.0.0.0/8001"]), "second different protocol");
        assert!(!fits(&["UDP/127.0.0.1/8001"], &["TCP/0.0.0.0/8001", "UDP/0.0.0.0/8001"]), "UDP hostPort conflict due to 0.0.0.0 hostIP");
    }

    // Upstream: node_ports_test.go, TestNodePorts, "non-sidecar initContainer using hostPort" and
    // "TCP hostPort conflict from sidecar initContainer".
    #[test]
    fn only_sidecar_init_containers_claim_host_ports() {
        let info = node_info(labelled_node("m1", json!({})), vec![pod_with_ports("m1", &["TCP/0.0.0.0/8001"])]);
        let init = |restart: Value| {
            pod(json!({"metadata": {"name": "p"}, "spec": {"initContainers": [
                {"restartPolicy": restart, "ports": [{"containerPort": 8001, "hostPort": 8001, "protocol": "TCP"}]}
            ]}}))
        };
        assert!(filter(&init(Value::Null), &info).is_ok());
        let r = filter(&init(json!("Always")), &info).unwrap_err();
        assert_eq!((r.code, r.reasons), (Code::Unschedulable, vec![ERR_REASON.to_string()]));
    }
}
