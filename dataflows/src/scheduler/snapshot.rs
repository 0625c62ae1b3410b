//! What the plugins look at: each node with the pods bound to it and their totals (upstream's
//! `framework.NodeInfo`), and the cluster around it (namespaces, workloads, images).
//!
//! The reference scheduler builds a [`ClusterSnapshot`] from rows and adds each pod it places;
//! the dataflow keeps the same aggregates incrementally. Either way the plugins only read.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::resources::Resources;
use super::rows::{HostPort, NamespaceLabelsRow, NodeRow, WorkloadRow};
use super::rows_pod::PodRow;
use crate::rows::Labels;

/// A node, the pods that occupy it, and upstream's per-node totals.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct NodeInfo {
    /// Shared, as the pods are: the info is rebuilt on every binding to the node, and the
    /// node's row (labels, taints, images) does not change with it.
    pub node: Arc<NodeRow>,
    /// `status.allocatable` in the scheduler's integers.
    pub allocatable: Resources,
    /// Shared, not copied: a node's info is rebuilt and its arrangement merged on every
    /// binding to it, and each rebuild would otherwise copy every pod on the node.
    pub pods: Vec<Arc<PodRow>>,
    /// Upstream's `Requested`: the sum of the pods' requests.
    pub requested: Resources,
    /// Upstream's `NonZeroRequested` cpu (millicores) and memory (bytes).
    pub nonzero_requested: (i64, i64),
    /// Upstream's `UsedPorts`.
    pub used_ports: BTreeSet<HostPort>,
}

impl NodeInfo {
    pub fn new(node: impl Into<Arc<NodeRow>>) -> NodeInfo {
        let node = node.into();
        NodeInfo {
            allocatable: node.allocatable_units(),
            node,
            pods: Vec::new(),
            requested: Resources::default(),
            nonzero_requested: (0, 0),
            used_ports: BTreeSet::new(),
        }
    }

    pub fn name(&self) -> &str {
        &self.node.name
    }

    /// Upstream's `NodeInfo.AddPod`: the pod's requests, non-zero requests and host ports count.
    pub fn add_pod(&mut self, pod: Arc<PodRow>) {
        self.requested.accumulate(&Resources::from_list(&pod.requests), 1);
        self.nonzero_requested.0 += pod.nonzero_cpu_memory.0;
        self.nonzero_requested.1 += pod.nonzero_cpu_memory.1;
        self.used_ports.extend(pod.host_ports.iter().cloned());
        self.pods.push(pod);
    }
}

/// The cluster as one scheduling cycle sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterSnapshot {
    /// Sorted by node name.
    pub nodes: Vec<NodeInfo>,
    /// Namespace labels, for affinity terms with a `namespaceSelector`.
    pub namespaces: BTreeMap<String, Labels>,
    /// Services, ReplicationControllers, ReplicaSets and StatefulSets, for default spreading.
    pub workloads: Vec<WorkloadRow>,
}

impl ClusterSnapshot {
    /// The snapshot of these rows: pods that occupy a known node are counted on it (upstream's
    /// snapshot lists only nodes that exist; pods of a missing node are not seen).
    pub fn new(nodes: Vec<NodeRow>, pods: Vec<PodRow>, namespaces: Vec<NamespaceLabelsRow>, workloads: Vec<WorkloadRow>) -> ClusterSnapshot {
        let mut infos: Vec<NodeInfo> = nodes.into_iter().map(NodeInfo::new).collect();
        infos.sort_by(|a, b| a.node.name.cmp(&b.node.name));
        let mut snapshot = ClusterSnapshot { nodes: infos, namespaces: namespaces.into_iter().map(|n| (n.name, n.labels)).collect(), workloads };
        let mut bound: Vec<PodRow> = pods.into_iter().filter(PodRow::occupies_node).collect();
        bound.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
        for pod in bound {
            if let Some(i) = snapshot.node_index(&pod.node_name) {
                snapshot.nodes[i].add_pod(Arc::new(pod));
            }
        }
        snapshot
    }

    pub fn node_index(&self, name: &str) -> Option<usize> {
        self.nodes.binary_search_by(|n| n.node.name.as_str().cmp(name)).ok()
    }

    /// The labels of a namespace the cluster knows.
    pub fn namespace_labels(&self, namespace: &str) -> Option<&Labels> {
        self.namespaces.get(namespace)
    }

    /// How many nodes report each image name (upstream's `ImageStateSummary.NumNodes`).
    pub fn image_node_counts(&self) -> BTreeMap<String, i64> {
        let mut counts = BTreeMap::new();
        for n in &self.nodes {
            let names: BTreeSet<&String> = n.node.images.iter().flat_map(|i| i.names.iter()).collect();
            for name in names {
                *counts.entry(name.clone()).or_insert(0) += 1;
            }
        }
        counts
    }
}
