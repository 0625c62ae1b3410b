//! The scheduler's input rows: what it reads of nodes, pods, priority classes, namespaces and
//! the workloads behind default spreading, projected from JSON. Every row is `Ord + Hash +
//! Serialize` so that it can be differential data; quantities stay exact ([`ResourceList`])
//! until a plugin turns them into upstream's integers ([`Resources`]).
//!
//! The pod projection lives in [`super::rows_pod`].

use deltakube_api::object::at;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::node_conditions::condition_taints;
use super::resources::{parse_list, ResourceList, Resources};
use super::selectors::{LabelSelector, NodeSelectorTerm};
use crate::rows::{labels, s, Labels};

/// `spec.taints[]` of a node.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Taint {
    pub key: String,
    pub value: String,
    /// `NoSchedule`, `PreferNoSchedule` or `NoExecute`.
    pub effect: String,
}

/// `spec.tolerations[]` of a pod.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Toleration {
    pub key: String,
    /// `Equal` (also when empty) or `Exists`.
    pub operator: String,
    pub value: String,
    /// Empty tolerates every effect.
    pub effect: String,
}

impl Toleration {
    /// Upstream's `Toleration.ToleratesTaint` (`k8s.io/api/core/v1/toleration.go`).
    pub fn tolerates(&self, taint: &Taint) -> bool {
        if !self.effect.is_empty() && self.effect != taint.effect {
            return false;
        }
        if !self.key.is_empty() && self.key != taint.key {
            return false;
        }
        match self.operator.as_str() {
            "" | "Equal" => self.value == taint.value,
            "Exists" => true,
            _ => false,
        }
    }
}

/// Upstream's `TolerationsTolerateTaint`.
pub fn tolerated(tolerations: &[Toleration], taint: &Taint) -> bool {
    tolerations.iter().any(|t| t.tolerates(taint))
}

/// One `status.images[]` entry of a node.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct NodeImage {
    pub names: Vec<String>,
    pub size_bytes: i64,
}

/// A node as the scheduler reads it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct NodeRow {
    pub name: String,
    pub labels: Labels,
    /// `spec.taints`, in the node's order (the first untolerated one is the one reported).
    pub taints: Vec<Taint>,
    /// The `NoSchedule` taints upstream's node lifecycle controller derives from conditions
    /// ([`super::node_conditions`]) that `spec.taints` does not already carry.
    pub condition_taints: Vec<Taint>,
    /// `status.allocatable`, exact.
    pub allocatable: ResourceList,
    /// `status.conditions` as sorted `(type, status)`.
    pub conditions: Vec<(String, String)>,
    pub unschedulable: bool,
    pub images: Vec<NodeImage>,
}

impl NodeRow {
    /// The taints the scheduler honours: the node's own, then those its conditions imply.
    pub fn effective_taints(&self) -> impl Iterator<Item = &Taint> {
        self.taints.iter().chain(self.condition_taints.iter())
    }

    /// Allocatable in the scheduler's integers (upstream's `NodeInfo.Allocatable`).
    pub fn allocatable_units(&self) -> Resources {
        Resources::from_list(&self.allocatable)
    }
}

/// A workload whose selector default spreading reads (`helper.DefaultSelector`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum WorkloadKind {
    Service,
    ReplicationController,
    ReplicaSet,
    StatefulSet,
}

/// A Service, ReplicationController, ReplicaSet or StatefulSet: its selector.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct WorkloadRow {
    pub kind: WorkloadKind,
    pub namespace: String,
    pub name: String,
    /// For Services and ReplicationControllers, the plain map (`None` when absent: a Service
    /// without a selector selects nothing, not everything).
    pub selector_map: Option<Labels>,
    /// For ReplicaSets and StatefulSets, the label selector.
    pub selector: LabelSelector,
}

/// A PriorityClass: its value and whether it is the global default.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PriorityClassRow {
    pub name: String,
    pub value: i32,
    pub global_default: bool,
}

/// A namespace's labels, for affinity terms with a `namespaceSelector`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct NamespaceLabelsRow {
    pub name: String,
    pub labels: Labels,
}

/// A required or preferred pod (anti-)affinity term, with the namespaces it applies to
/// (upstream's `framework.AffinityTerm`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AffinityTerm {
    pub selector: LabelSelector,
    /// Explicit namespaces, or the pod's own when neither these nor a selector are given.
    pub namespaces: Vec<String>,
    pub namespace_selector: LabelSelector,
    pub topology_key: String,
}

impl AffinityTerm {
    /// Upstream's `AffinityTerm.Matches`: `ns_labels` are the labels of the pod's namespace,
    /// `None` when that namespace is unknown (then only the explicit namespaces count).
    pub fn matches(&self, namespace: &str, pod_labels: &Labels, ns_labels: Option<&Labels>) -> bool {
        let in_namespace = self.namespaces.iter().any(|n| n == namespace) || ns_labels.is_some_and(|l| self.namespace_selector.matches(l));
        in_namespace && self.selector.matches(pod_labels)
    }
}

/// A preferred pod (anti-)affinity term and its weight.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct WeightedAffinityTerm {
    pub weight: i64,
    pub term: AffinityTerm,
}

/// A preferred node affinity term and its weight.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PreferredNodeTerm {
    pub weight: i64,
    pub term: NodeSelectorTerm,
}

/// `whenUnsatisfiable` of a topology spread constraint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum WhenUnsatisfiable {
    DoNotSchedule,
    ScheduleAnyway,
}

/// A topology spread constraint with upstream's defaults applied (`filterTopologySpreadConstraints`
/// in `podtopologyspread/common.go`): `minDomains` 1, node affinity honoured, taints ignored,
/// `matchLabelKeys` merged into the selector.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SpreadConstraint {
    pub max_skew: i64,
    pub topology_key: String,
    pub when_unsatisfiable: WhenUnsatisfiable,
    pub selector: LabelSelector,
    pub min_domains: i64,
    pub honor_node_affinity: bool,
    pub honor_node_taints: bool,
}

/// A host port a pod claims (`schedutil.GetHostPorts`), sanitized as upstream's `HostPortInfo`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct HostPort {
    /// `0.0.0.0` when unset.
    pub ip: String,
    /// `TCP` when unset.
    pub protocol: String,
    pub port: i64,
}

/// The owner reference marked `controller: true`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ControllerRef {
    pub api_version: String,
    pub kind: String,
    pub name: String,
}

/// Projects a Node.
pub fn project_node(v: &Value) -> Result<NodeRow, String> {
    let mut taints = Vec::new();
    for t in at(v, "/spec/taints").and_then(Value::as_array).into_iter().flatten() {
        let field = |k: &str| t.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
        taints.push(Taint { key: field("key"), value: field("value"), effect: field("effect") });
    }
    let mut conditions: Vec<(String, String)> =
        at(v, "/status/conditions").and_then(Value::as_array).into_iter().flatten().map(|c| (s(c, "/type"), s(c, "/status"))).collect();
    conditions.sort();
    let mut images = Vec::new();
    for i in at(v, "/status/images").and_then(Value::as_array).into_iter().flatten() {
        let names = super::selectors::string_list(i.get("names"))?;
        images.push(NodeImage { names, size_bytes: i.get("sizeBytes").and_then(Value::as_i64).unwrap_or(0) });
    }
    let allocatable = parse_list(at(v, "/status/allocatable"), "status.allocatable")?;
    let condition_taints = condition_taints(&conditions, &taints);
    Ok(NodeRow {
        name: s(v, "/metadata/name"),
        labels: labels(at(v, "/metadata/labels"))?,
        taints,
        condition_taints,
        allocatable,
        conditions,
        unschedulable: at(v, "/spec/unschedulable").and_then(Value::as_bool).unwrap_or(false),
        images,
    })
}

/// Projects a Service, ReplicationController, ReplicaSet or StatefulSet.
pub fn project_workload(kind: WorkloadKind, v: &Value) -> Result<WorkloadRow, String> {
    let (selector_map, selector) = match kind {
        WorkloadKind::Service | WorkloadKind::ReplicationController => match at(v, "/spec/selector") {
            None | Some(Value::Null) => (None, LabelSelector::Nothing),
            some => (Some(labels(some)?), LabelSelector::Nothing),
        },
        WorkloadKind::ReplicaSet | WorkloadKind::StatefulSet => (None, LabelSelector::from_json(at(v, "/spec/selector"))?),
    };
    Ok(WorkloadRow { kind, namespace: s(v, "/metadata/namespace"), name: s(v, "/metadata/name"), selector_map, selector })
}

/// Projects a PriorityClass.
pub fn project_priority_class(v: &Value) -> Result<PriorityClassRow, String> {
    let value = v.get("value").and_then(Value::as_i64).ok_or("PriorityClass without an integer value")?;
    Ok(PriorityClassRow {
        name: s(v, "/metadata/name"),
        value: i32::try_from(value).map_err(|_| "PriorityClass value out of range")?,
        global_default: v.get("globalDefault").and_then(Value::as_bool).unwrap_or(false),
    })
}

/// Projects a Namespace's labels.
pub fn project_namespace_labels(v: &Value) -> Result<NamespaceLabelsRow, String> {
    Ok(NamespaceLabelsRow { name: s(v, "/metadata/name"), labels: labels(at(v, "/metadata/labels"))? })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    // Upstream: k8s.io/api/core/v1 toleration_test.go semantics, as exercised by
    // pkg/scheduler/framework/plugins/tainttoleration/taint_toleration_test.go,
    // "The pod has a toleration that keys and values match the taint on the node, the effect of
    // toleration is empty, and the effect of taint is NoSchedule. Pod can be scheduled onto the node".
    #[test]
    fn empty_effect_tolerates_every_effect() {
        let t = Toleration { key: "foo".into(), operator: "Equal".into(), value: "bar".into(), effect: String::new() };
        assert!(t.tolerates(&Taint { key: "foo".into(), value: "bar".into(), effect: "NoSchedule".into() }));
        let exists = Toleration { key: String::new(), operator: "Exists".into(), value: String::new(), effect: String::new() };
        assert!(exists.tolerates(&Taint { key: "any".into(), value: "x".into(), effect: "NoExecute".into() }));
    }

    #[test]
    fn node_projection_reads_what_the_scheduler_needs() {
        let n = project_node(&json!({
            "metadata": {"name": "n1", "labels": {"zone": "a"}},
            "spec": {"unschedulable": true, "taints": [{"key": "k", "value": "v", "effect": "NoSchedule"}]},
            "status": {
                "allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110", "nvidia.com/gpu": "2"},
                "conditions": [{"type": "Ready", "status": "False"}],
                "images": [{"names": ["nginx:latest"], "sizeBytes": 1000}],
            },
        }))
        .unwrap();
        let units = n.allocatable_units();
        assert_eq!((units.milli_cpu, units.memory, units.pods, units.scalar["nvidia.com/gpu"]), (4000, 8 << 30, 110, 2));
        assert!(n.unschedulable);
        assert_eq!(n.condition_taints.len(), 1);
        assert_eq!(n.effective_taints().count(), 2);
        assert_eq!(n.images[0].size_bytes, 1000);
    }

    #[test]
    fn a_service_without_selector_selects_nothing() {
        let svc = project_workload(WorkloadKind::Service, &json!({"metadata": {"namespace": "ns", "name": "s"}, "spec": {}})).unwrap();
        assert_eq!(svc.selector_map, None);
    }
}
