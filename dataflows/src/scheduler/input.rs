//! The scheduler's input rows, projected from feed objects beside the controllers' rows: nodes,
//! pods, namespaces' labels, workloads (for default spreading) and priority classes.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::rows::{
    project_namespace_labels, project_node, project_priority_class, project_workload, NamespaceLabelsRow, NodeRow, PriorityClassRow, WorkloadKind, WorkloadRow,
};
use super::rows_pod::{project_pod, PodRow};
use crate::types::{Kind, ObjectKey};

/// One object as the scheduler reads it. A pod's row is shared: the node's reduce, the
/// pending rows and the readout hold the one row, never a copy.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum SchedulerInput {
    Node(NodeRow),
    Pod(Arc<PodRow>),
    Namespace(NamespaceLabelsRow),
    Workload(WorkloadRow),
    PriorityClass(PriorityClassRow),
}

/// The scheduler's row of an object, `None` for kinds it does not read, or why the object does
/// not project.
pub fn project(key: &ObjectKey, v: &Value) -> Result<Option<SchedulerInput>, String> {
    if !v.is_object() {
        return Err("object is not a JSON object".into());
    }
    let workload = |kind| project_workload(kind, v).map(|w| Some(SchedulerInput::Workload(w)));
    match key.kind {
        Kind::Node => project_node(v).map(|n| Some(SchedulerInput::Node(n))),
        Kind::Pod => project_pod(v).map(|p| Some(SchedulerInput::Pod(Arc::new(p)))),
        Kind::Namespace => project_namespace_labels(v).map(|n| Some(SchedulerInput::Namespace(n))),
        Kind::Service => workload(WorkloadKind::Service),
        Kind::ReplicationController => workload(WorkloadKind::ReplicationController),
        Kind::ReplicaSet => workload(WorkloadKind::ReplicaSet),
        Kind::StatefulSet => workload(WorkloadKind::StatefulSet),
        Kind::PriorityClass => project_priority_class(v).map(|c| Some(SchedulerInput::PriorityClass(c))),
        _ => Ok(None),
    }
}
