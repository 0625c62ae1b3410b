//! The readout: the scheduler dataflow's rows gathered at one complete revision, and each
//! pending pod's decision from them — the node-local verdicts and raw scores looked up in its
//! class's pairs, the cluster-wide plugins and normalizations computed as the reference does.
//!
//! Rows from every worker are applied with their diffs; a revision's readout is exact once every
//! worker has reported it.

use std::collections::BTreeMap;

use thiserror::Error;

use super::config::SchedulerConfig;
use super::dataflow::SchedulerRow;
use super::pair::{class_id, class_of, evaluate, ClassId, PairEval};
use super::reference::{decide, PodDecision, SchedulingInput};
use super::rows::{NamespaceLabelsRow, PriorityClassRow, WorkloadRow};
use super::rows_pod::{resolve_priority, PodRow};
use super::snapshot::{ClusterSnapshot, NodeInfo};
use crate::types::Diff;

/// What a readout cannot do.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ReadoutError {
    /// A pending pod's class has no pair for a node: the rows are not from one complete
    /// revision.
    #[error("class {class} has no pair for node {node}")]
    MissingPair { class: ClassId, node: String },
}

/// A multiset of rows, as the dataflow's diffs leave them.
#[derive(Debug, Clone)]
struct Multiset<K: Ord> {
    rows: BTreeMap<K, Diff>,
}

impl<K: Ord> Default for Multiset<K> {
    fn default() -> Self {
        Multiset { rows: BTreeMap::new() }
    }
}

impl<K: Ord> Multiset<K> {
    fn update(&mut self, key: K, diff: Diff) {
        *self.rows.entry(key).or_insert(0) += diff;
    }

    fn compact(&mut self) {
        self.rows.retain(|_, d| *d != 0);
    }

    /// The rows present (a positive count).
    fn present(&self) -> impl Iterator<Item = &K> {
        self.rows.iter().filter(|(_, d)| **d > 0).map(|(k, _)| k)
    }
}

/// The scheduler's rows at one revision.
#[derive(Debug, Default, Clone)]
pub struct Readout {
    nodes: Multiset<NodeInfo>,
    pending: Multiset<(String, String, ClassId, PodRow)>,
    pairs: BTreeMap<ClassId, Multiset<(String, PairEval)>>,
    namespaces: Multiset<NamespaceLabelsRow>,
    workloads: Multiset<WorkloadRow>,
    priority_classes: Multiset<PriorityClassRow>,
}

impl Readout {
    /// The rows the dataflow maintains, computed from scratch over one snapshot of inputs
    /// (the dataflow's reference, and a readout for tests).
    pub fn from_scratch(config: &SchedulerConfig, input: &SchedulingInput) -> Readout {
        let mut readout = Readout::default();
        let snapshot = ClusterSnapshot::new(input.nodes.clone(), input.pods.clone(), vec![], vec![]);
        for info in &snapshot.nodes {
            readout.apply(SchedulerRow::Node(info.clone()), 1);
        }
        let mut classes = BTreeMap::new();
        for pod in input.pods.iter().filter(|p| p.awaits_default_scheduler()) {
            let signature = class_of(pod);
            let class = class_id(&signature);
            classes.insert(class, signature);
            readout.apply(SchedulerRow::Pending { class, pod: pod.clone() }, 1);
        }
        for (class, signature) in &classes {
            for info in &snapshot.nodes {
                readout.apply(SchedulerRow::Pair { class: *class, node: info.node.name.clone(), eval: evaluate(config, signature, info) }, 1);
            }
        }
        input.namespaces.iter().for_each(|n| readout.apply(SchedulerRow::Namespace(n.clone()), 1));
        input.workloads.iter().for_each(|w| readout.apply(SchedulerRow::Workload(w.clone()), 1));
        input.priority_classes.iter().for_each(|c| readout.apply(SchedulerRow::PriorityClass(c.clone()), 1));
        readout
    }

    /// Every row with a positive count, for comparing two readouts.
    pub fn rows(&self) -> Vec<(SchedulerRow, Diff)> {
        let mut out = Vec::new();
        out.extend(self.nodes.rows.iter().map(|(n, d)| (SchedulerRow::Node(n.clone()), *d)));
        out.extend(self.pending.rows.iter().map(|((_, _, class, pod), d)| (SchedulerRow::Pending { class: *class, pod: pod.clone() }, *d)));
        for (class, pairs) in &self.pairs {
            out.extend(pairs.rows.iter().map(|((node, eval), d)| (SchedulerRow::Pair { class: *class, node: node.clone(), eval: eval.clone() }, *d)));
        }
        out.extend(self.namespaces.rows.iter().map(|(n, d)| (SchedulerRow::Namespace(n.clone()), *d)));
        out.extend(self.workloads.rows.iter().map(|(w, d)| (SchedulerRow::Workload(w.clone()), *d)));
        out.extend(self.priority_classes.rows.iter().map(|(c, d)| (SchedulerRow::PriorityClass(c.clone()), *d)));
        out.retain(|(_, d)| *d != 0);
        out.sort();
        out
    }

    /// Applies one row's change.
    pub fn apply(&mut self, row: SchedulerRow, diff: Diff) {
        match row {
            SchedulerRow::Node(info) => self.nodes.update(info, diff),
            SchedulerRow::Pending { class, pod } => self.pending.update((pod.namespace.clone(), pod.name.clone(), class, pod), diff),
            SchedulerRow::Pair { class, node, eval } => self.pairs.entry(class).or_default().update((node, eval), diff),
            SchedulerRow::Namespace(n) => self.namespaces.update(n, diff),
            SchedulerRow::Workload(w) => self.workloads.update(w, diff),
            SchedulerRow::PriorityClass(c) => self.priority_classes.update(c, diff),
        }
    }

    /// Drops rows whose changes cancelled; call once a revision is complete.
    pub fn compact(&mut self) {
        self.nodes.compact();
        self.pending.compact();
        self.pairs.values_mut().for_each(Multiset::compact);
        self.pairs.retain(|_, p| !p.rows.is_empty());
        self.namespaces.compact();
        self.workloads.compact();
        self.priority_classes.compact();
    }

    /// The cluster as these rows say (nodes with their bound pods).
    pub fn snapshot(&self) -> ClusterSnapshot {
        let mut nodes: Vec<NodeInfo> = self.nodes.present().cloned().collect();
        nodes.sort_by(|a, b| a.node.name.cmp(&b.node.name));
        ClusterSnapshot {
            nodes,
            namespaces: self.namespaces.present().map(|n| (n.name.clone(), n.labels.clone())).collect(),
            workloads: self.workloads.present().cloned().collect(),
        }
    }

    /// Every pod bound to a node, as `(namespace, name)`.
    pub fn bound_pods(&self) -> std::collections::BTreeSet<(String, String)> {
        self.nodes.present().flat_map(|n| n.pods.iter().map(|p| (p.namespace.clone(), p.name.clone()))).collect()
    }

    /// The priority classes the rows hold.
    pub fn priority_classes(&self) -> Vec<PriorityClassRow> {
        self.priority_classes.present().cloned().collect()
    }

    /// The pending pods with their classes and priorities, in upstream's queue order (as
    /// [`super::reference::queue`]).
    pub fn queue(&self) -> Vec<(i32, ClassId, PodRow)> {
        let classes = self.priority_classes();
        let mut q: Vec<(i32, ClassId, PodRow)> =
            self.pending.present().map(|(_, _, class, pod)| (resolve_priority(pod, &classes), *class, pod.clone())).collect();
        q.sort_by(|(pa, _, a), (pb, _, b)| {
            (std::cmp::Reverse(*pa), &a.created, &a.namespace, &a.name).cmp(&(std::cmp::Reverse(*pb), &b.created, &b.namespace, &b.name))
        });
        q
    }

    /// The class's node-local evaluation of every node, by node name.
    pub fn pairs(&self, class: ClassId) -> BTreeMap<&str, &PairEval> {
        self.pairs.get(&class).map(|m| m.present().map(|(n, e)| (n.as_str(), e)).collect()).unwrap_or_default()
    }

    /// A pending pod's decision against `snapshot` (this readout's, perhaps with claims added
    /// by the binder), with the class's pairs for the node-local plugins.
    pub fn decide(
        &self,
        config: &SchedulerConfig,
        snapshot: &ClusterSnapshot,
        class: ClassId,
        pod: &PodRow,
        priority: i32,
    ) -> Result<PodDecision, ReadoutError> {
        let pairs = self.pairs(class);
        let mut missing = None;
        let decision = decide(config, snapshot, pod, priority, &mut |info| match pairs.get(info.name()) {
            Some(eval) => (*eval).clone(),
            None => {
                missing.get_or_insert_with(|| info.name().to_string());
                super::pair::evaluate(config, pod, info)
            }
        });
        match missing {
            Some(node) => Err(ReadoutError::MissingPair { class, node }),
            None => Ok(decision),
        }
    }

    /// Every pending pod's decision at this revision, in queue order, each against the same
    /// snapshot (the explain-why views show these).
    pub fn explain(&self, config: &SchedulerConfig) -> Result<Vec<PodDecision>, ReadoutError> {
        let snapshot = self.snapshot();
        self.queue().into_iter().map(|(priority, class, pod)| self.decide(config, &snapshot, class, &pod, priority)).collect()
    }
}
