//! The readout: the scheduler dataflow's rows gathered at one complete revision, and each
//! pending pod's decision from them — the node-local verdicts and raw scores looked up in its
//! class's pairs, the cluster-wide plugins and normalizations computed as the reference does.
//!
//! Rows from every worker are applied with their diffs; a revision's readout is exact once every
//! worker has reported it and [`Readout::compact`] has settled it. The snapshot, the queue and
//! the index of bound pods are kept as rows change, so a revision costs what it changed.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use thiserror::Error;

use super::config::SchedulerConfig;
use super::dataflow::SchedulerRow;
use super::keyed::Keyed;
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

/// A pod, by namespace and name.
pub type PodName = (String, String);

/// A pending pod's place in upstream's PrioritySort order: priority (highest first), creation
/// time, namespace, name.
type QueueKey = (Reverse<i32>, String, String, String);

/// The scheduler's rows at one revision, with what the binder reads kept up to date as they
/// change: the cluster snapshot, the queue in order, and which pods are bound where. Applying
/// a revision costs in proportion to the rows it changes.
#[derive(Debug, Default, Clone)]
pub struct Readout {
    nodes: Keyed<String, NodeInfo>,
    pending: Keyed<PodName, (ClassId, Arc<PodRow>)>,
    /// Per class, its pair with each node, by node name.
    pairs: BTreeMap<ClassId, Keyed<String, PairEval>>,
    namespaces: Keyed<NamespaceLabelsRow, ()>,
    workloads: Keyed<WorkloadRow, ()>,
    priority_classes: Keyed<PriorityClassRow, ()>,
    /// Kept from the rows above by [`Readout::compact`].
    snapshot: ClusterSnapshot,
    /// The queue in order, each entry with its pod's key (so that reading it copies nothing).
    queue: BTreeMap<QueueKey, PodName>,
    queued: HashMap<PodName, QueueKey>,
    bound: HashMap<PodName, String>,
    /// Bound pods with pod (anti-)affinity terms, which every other pod's placement must consult.
    affinity_pods: usize,
    /// Per class, the revision count at which one of its pairs last changed.
    class_changed: HashMap<ClassId, u64>,
    compactions: u64,
    changes: Changes,
}

/// What changed since the binder last asked ([`Readout::take_changes`]): what its standing
/// rankings, claimed nodes, memo and explain rows must look at again.
#[derive(Debug, Default, Clone)]
pub struct Changes {
    /// Nodes whose info changed (their pods, their object), added or removed.
    pub nodes: BTreeSet<String>,
    /// Per class, the nodes whose pair changed.
    pub pairs: HashMap<ClassId, BTreeSet<String>>,
    /// Pending pods added, replaced or gone.
    pub pending: BTreeSet<PodName>,
    /// The node list or the cluster's images changed: positions in the snapshot moved, or
    /// every node's ImageLocality score may have.
    pub layout: bool,
    /// Pods that left the queue, and pods that left the cluster.
    pub departures: Departures,
}

/// What left since the binder last asked.
#[derive(Debug, Default, Clone)]
pub struct Departures {
    /// No longer pending (bound, or gone).
    pub left_queue: Vec<PodName>,
    /// Neither pending nor bound.
    pub gone: Vec<PodName>,
}

fn queue_key(priority: i32, pod: &PodRow) -> QueueKey {
    (Reverse(priority), pod.created.clone(), pod.namespace.clone(), pod.name.clone())
}

impl Readout {
    /// The rows the dataflow maintains, computed from scratch over one snapshot of inputs
    /// (the dataflow's reference, and a readout for tests).
    pub fn from_scratch(config: &SchedulerConfig, input: &SchedulingInput) -> Readout {
        Self::from_scratch_lingering(config, input, &[])
    }

    /// [`Readout::from_scratch`] where the classes of `lingering` pods (pending at some revision
    /// from [`class_linger_revisions`](SchedulerConfig::class_linger_revisions) before this one
    /// on) keep their pairs too.
    pub fn from_scratch_lingering(config: &SchedulerConfig, input: &SchedulingInput, lingering: &[PodRow]) -> Readout {
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
            readout.apply(SchedulerRow::Pending { class, pod: Arc::new(pod.clone()) }, 1);
        }
        for pod in lingering {
            let signature = class_of(pod);
            classes.insert(class_id(&signature), signature);
        }
        for (class, signature) in &classes {
            for info in &snapshot.nodes {
                readout.apply(SchedulerRow::Pair { class: *class, node: info.node.name.clone(), eval: evaluate(config, signature, info) }, 1);
            }
        }
        input.namespaces.iter().for_each(|n| readout.apply(SchedulerRow::Namespace(n.clone()), 1));
        input.workloads.iter().for_each(|w| readout.apply(SchedulerRow::Workload(w.clone()), 1));
        input.priority_classes.iter().for_each(|c| readout.apply(SchedulerRow::PriorityClass(c.clone()), 1));
        readout.compact();
        readout
    }

    /// Every row with a non-zero count, for comparing two readouts.
    pub fn rows(&self) -> Vec<(SchedulerRow, Diff)> {
        let mut out = Vec::new();
        out.extend(self.nodes.all().map(|(_, n, d)| (SchedulerRow::Node(n.clone()), d)));
        out.extend(self.pending.all().map(|(_, (class, pod), d)| (SchedulerRow::Pending { class: *class, pod: pod.clone() }, d)));
        for (class, pairs) in &self.pairs {
            out.extend(pairs.all().map(|(node, eval, d)| (SchedulerRow::Pair { class: *class, node: node.clone(), eval: eval.clone() }, d)));
        }
        out.extend(self.namespaces.all().map(|(n, _, d)| (SchedulerRow::Namespace(n.clone()), d)));
        out.extend(self.workloads.all().map(|(w, _, d)| (SchedulerRow::Workload(w.clone()), d)));
        out.extend(self.priority_classes.all().map(|(c, _, d)| (SchedulerRow::PriorityClass(c.clone()), d)));
        out.retain(|(_, d)| *d != 0);
        out.sort();
        out
    }

    /// Applies one row's change; [`Readout::compact`] once the revision is complete.
    pub fn apply(&mut self, row: SchedulerRow, diff: Diff) {
        match row {
            SchedulerRow::Node(info) => self.nodes.update(info.node.name.clone(), info, diff),
            SchedulerRow::Pending { class, pod } => self.pending.update((pod.namespace.clone(), pod.name.clone()), (class, pod), diff),
            SchedulerRow::Pair { class, node, eval } => self.pairs.entry(class).or_default().update(node, eval, diff),
            SchedulerRow::Namespace(n) => self.namespaces.update(n, (), diff),
            SchedulerRow::Workload(w) => self.workloads.update(w, (), diff),
            SchedulerRow::PriorityClass(c) => self.priority_classes.update(c, (), diff),
        }
    }

    /// Settles the rows applied since the last call: drops cancelled changes and brings the
    /// snapshot, the queue and the bound pods up to date, touching only what changed.
    pub fn compact(&mut self) {
        self.compactions += 1;
        let mut left: Vec<PodName> = Vec::new();
        // A touched node that stays is replaced where it stands: removing and inserting would
        // shift the whole sorted list once per binding.
        for name in self.nodes.compact() {
            let at = self.snapshot.node_index(&name);
            let node_before = at.map(|i| self.snapshot.nodes[i].node.clone());
            if let Some(i) = at {
                let old = &mut self.snapshot.nodes[i];
                self.affinity_pods -= old.pods.iter().filter(|p| p.has_pod_affinity()).count();
                for p in std::mem::take(&mut old.pods) {
                    let key = (p.namespace.clone(), p.name.clone());
                    self.bound.remove(&key);
                    left.push(key);
                }
            }
            let Some(info) = self.nodes.get(&name) else {
                if let Some(i) = at {
                    self.snapshot.nodes.remove(i);
                    self.changes.layout = true;
                }
                self.changes.nodes.insert(name);
                continue;
            };
            self.changes.layout |= node_before.as_ref().is_none_or(|before| before.images != info.node.images);
            self.affinity_pods += info.pods.iter().filter(|p| p.has_pod_affinity()).count();
            for p in &info.pods {
                self.bound.insert((p.namespace.clone(), p.name.clone()), name.clone());
            }
            match at {
                Some(i) => self.snapshot.nodes[i] = info.clone(),
                None => {
                    let i = self.snapshot.nodes.partition_point(|n| n.node.name < name);
                    self.snapshot.nodes.insert(i, info.clone());
                }
            }
            self.changes.nodes.insert(name);
        }

        if !self.priority_classes.compact().is_empty() {
            let classes = self.priority_classes();
            self.queue.clear();
            for (key, (_, pod)) in self.pending.present() {
                let k = queue_key(resolve_priority(pod, &classes), pod);
                self.queue.insert(k.clone(), key.clone());
                self.queued.insert(key.clone(), k);
            }
        }
        let touched_pending = self.pending.compact();
        if !touched_pending.is_empty() {
            let classes = self.priority_classes();
            for key in touched_pending {
                self.changes.pending.insert(key.clone());
                let was = self.queued.remove(&key);
                if let Some(k) = &was {
                    self.queue.remove(k);
                }
                match self.pending.get(&key) {
                    Some((_, pod)) => {
                        let k = queue_key(resolve_priority(pod, &classes), pod);
                        self.queue.insert(k.clone(), key.clone());
                        self.queued.insert(key, k);
                    }
                    None if was.is_some() => {
                        self.changes.departures.left_queue.push(key.clone());
                        left.push(key);
                    }
                    None => {}
                }
            }
        }
        for (class, pairs) in &mut self.pairs {
            let touched = pairs.compact();
            if !touched.is_empty() {
                self.class_changed.insert(*class, self.compactions);
                self.changes.pairs.entry(*class).or_default().extend(touched);
            }
        }
        self.pairs.retain(|_, pairs| !pairs.is_empty());
        self.class_changed.retain(|class, _| self.pairs.contains_key(class));
        if !self.namespaces.compact().is_empty() {
            self.snapshot.namespaces = self.namespaces.present().map(|(n, _)| (n.name.clone(), n.labels.clone())).collect();
        }
        if !self.workloads.compact().is_empty() {
            self.snapshot.workloads = self.workloads.present().map(|(w, _)| w.clone()).collect();
        }
        left.sort();
        left.dedup();
        let gone = left.into_iter().filter(|k| !self.bound.contains_key(k) && !self.queued.contains_key(k));
        self.changes.departures.gone.extend(gone);
    }

    /// What changed since the last call.
    pub fn take_changes(&mut self) -> Changes {
        std::mem::take(&mut self.changes)
    }

    /// The cluster as these rows say (nodes with their bound pods).
    pub fn snapshot(&self) -> &ClusterSnapshot {
        &self.snapshot
    }

    /// The node a pod is bound to.
    pub fn bound_to(&self, pod: &PodName) -> Option<&str> {
        self.bound.get(pod).map(String::as_str)
    }

    /// How many bound pods carry pod (anti-)affinity terms.
    pub fn pods_with_affinity(&self) -> usize {
        self.affinity_pods
    }

    /// The priority classes the rows hold.
    pub fn priority_classes(&self) -> Vec<PriorityClassRow> {
        self.priority_classes.present().map(|(c, _)| c.clone()).collect()
    }

    /// The pending pod of that name, with its class.
    pub fn pending(&self, pod: &PodName) -> Option<(ClassId, &PodRow)> {
        self.pending.get(pod).map(|(class, p)| (*class, p.as_ref()))
    }

    /// How many pods are pending.
    pub fn pending_count(&self) -> usize {
        self.queued.len()
    }

    /// The pending pods with their priorities and classes, in upstream's queue order (as
    /// [`super::reference::queue`]).
    pub fn queue_iter(&self) -> impl Iterator<Item = (i32, ClassId, &PodRow)> {
        self.queue_keyed().map(|(_, priority, class, pod)| (priority, class, pod))
    }

    /// [`Readout::queue_iter`] with each pod's key.
    pub fn queue_keyed(&self) -> impl Iterator<Item = (&PodName, i32, ClassId, &PodRow)> {
        self.queue.iter().filter_map(|((Reverse(priority), ..), key)| {
            let (class, pod) = self.pending.get(key)?;
            Some((key, *priority, *class, pod.as_ref()))
        })
    }

    /// [`Readout::queue_iter`], owned.
    pub fn queue(&self) -> Vec<(i32, ClassId, PodRow)> {
        self.queue_iter().map(|(priority, class, pod)| (priority, class, pod.clone())).collect()
    }

    /// The class's node-local evaluation of one node.
    pub fn pair(&self, class: ClassId, node: &str) -> Option<&PairEval> {
        self.pairs.get(&class)?.get(node)
    }

    /// The class's node-local evaluation of every node, in node name order.
    pub fn class_pairs(&self, class: ClassId) -> impl Iterator<Item = (&str, &PairEval)> {
        self.pairs.get(&class).into_iter().flat_map(|p| p.present().map(|(node, eval)| (node.as_str(), eval)))
    }

    /// Whether the class has pairs (some pending pod is of it, or was until this revision).
    pub fn has_class(&self, class: ClassId) -> bool {
        self.pairs.contains_key(&class)
    }

    /// When one of the class's pairs last changed (a count of compactions): equal stamps mean
    /// the class's node-local verdicts and scores are the same.
    pub fn class_changed(&self, class: ClassId) -> u64 {
        self.class_changed.get(&class).copied().unwrap_or(0)
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
        self.decide_with_claims(config, snapshot, class, pod, priority, &|_| false)
    }

    /// [`Readout::decide`] where `claimed` nodes of `snapshot` carry claims the pairs do not
    /// know of: those are evaluated on the spot.
    pub fn decide_with_claims(
        &self,
        config: &SchedulerConfig,
        snapshot: &ClusterSnapshot,
        class: ClassId,
        pod: &PodRow,
        priority: i32,
        claimed: &dyn Fn(&NodeInfo) -> bool,
    ) -> Result<PodDecision, ReadoutError> {
        let mut missing = None;
        let decision = decide(config, snapshot, pod, priority, &mut |info| {
            if claimed(info) {
                return super::pair::evaluate(config, pod, info);
            }
            match self.pair(class, info.name()) {
                Some(eval) => eval.clone(),
                None => {
                    missing.get_or_insert_with(|| info.name().to_string());
                    super::pair::evaluate(config, pod, info)
                }
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
        self.queue_iter().map(|(priority, class, pod)| self.decide(config, &self.snapshot, class, pod, priority)).collect()
    }
}
