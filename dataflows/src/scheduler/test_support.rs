//! Builders for the scheduler's unit tests: rows projected from JSON written the way upstream's
//! tests build their fixtures (`st.MakePod()`, `st.MakeNode()`), so every test also exercises
//! the projections.

use serde_json::{json, Value};

use super::rows::{project_node, NodeRow};
use super::rows_pod::{project_pod, PodRow};
use super::snapshot::{ClusterSnapshot, NodeInfo};

/// A node projected from JSON.
pub fn node(v: Value) -> NodeRow {
    project_node(&v).expect("test node projects")
}

/// A pod projected from JSON.
pub fn pod(v: Value) -> PodRow {
    project_pod(&v).expect("test pod projects")
}

/// A node with a name and labels.
pub fn labelled_node(name: &str, labels: Value) -> NodeRow {
    node(json!({"metadata": {"name": name, "labels": labels}}))
}

/// A node whose capacity and allocatable are `resources` (upstream's `st.MakeNode().Capacity`).
pub fn sized_node(name: &str, resources: Value) -> NodeRow {
    node(json!({"metadata": {"name": name}, "status": {"allocatable": resources}}))
}

/// A pod with one container per request list (upstream's `st.MakePod().Req(...).Req(...)`).
pub fn requesting_pod(node_name: &str, requests: &[Value]) -> PodRow {
    let containers: Vec<Value> = requests.iter().map(|r| json!({"resources": {"requests": r}})).collect();
    pod(json!({"metadata": {"name": "p"}, "spec": {"nodeName": node_name, "containers": containers}}))
}

/// A snapshot of these nodes and pods, without namespaces or workloads.
pub fn snapshot(nodes: Vec<NodeRow>, pods: Vec<PodRow>) -> ClusterSnapshot {
    ClusterSnapshot::new(nodes, pods, vec![], vec![])
}

/// One node with its pods.
pub fn node_info(node: NodeRow, pods: Vec<PodRow>) -> NodeInfo {
    let mut info = NodeInfo::new(node);
    for p in pods {
        info.add_pod(std::sync::Arc::new(p));
    }
    info
}
