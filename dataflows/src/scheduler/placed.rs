//! The pods placed in the cluster (bound, and claimed by the binder) as the inter-pod
//! affinity states and PodTopologySpread's counts read them, kept by the batch binder ([`super::batch::Standing`]) from round to round:
//!
//! - **Groups.** Pods alike in what those states read of an existing pod (namespace, labels,
//!   pod (anti-)affinity terms), and in whether it is being deleted (PodTopologySpread's
//!   counts leave those out), form one group, counted per node. A pod's states then match
//!   each group's terms once, and visit the nodes of the groups that match only: a workload's
//!   replicas cost one match, not one per replica.
//! - **Domains.** The nodes of each topology pair `(label key, value)`, so that the few nodes
//!   whose verdict or score a pod's states single out are found without a pass over all.
//!
//! Positions are the snapshot's: a change of the node list drops the index, and it is built
//! again when next needed. Otherwise each node whose pods or labels changed is counted again
//! ([`PlacedIndex::refresh`]); the invariant, checked under seeded churn
//! (`tests/scheduler_churn.rs`), is that the index counts exactly the pods of the snapshot
//! with the claims added.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use crate::rows::Labels;
use crate::scheduler::rows::NodeRow;
use crate::scheduler::rows_pod::PodRow;
use crate::scheduler::snapshot::{ClusterSnapshot, NodeInfo};

/// Alike pods and how many of them sit on each node (positive counts only).
#[derive(Debug)]
struct Group {
    pod: Arc<PodRow>,
    hash: u64,
    nodes: HashMap<usize, i64>,
}

/// See the module doc.
#[derive(Debug, Default)]
pub struct PlacedIndex {
    groups: Vec<Group>,
    /// Positions in `groups` free for reuse (their group emptied).
    free: Vec<usize>,
    by_hash: HashMap<u64, Vec<usize>>,
    /// Per node position, the group of each pod counted there.
    on_node: Vec<Vec<usize>>,
    /// Per node position, its labels as indexed in `domains`.
    labels: Vec<Labels>,
    /// Per label key, per value, the node positions with that label.
    domains: HashMap<String, HashMap<String, Vec<usize>>>,
    /// Per label key, how many nodes have it.
    with_key: HashMap<String, usize>,
}

/// What the affinity states and PodTopologySpread's counts read of an existing pod, hashed.
fn group_hash(pod: &PodRow) -> u64 {
    let mut h = DefaultHasher::new();
    (pod.deleting, &pod.namespace, &pod.labels, &pod.required_affinity, &pod.required_anti_affinity, &pod.preferred_affinity, &pod.preferred_anti_affinity)
        .hash(&mut h);
    h.finish()
}

fn alike(a: &PodRow, b: &PodRow) -> bool {
    a.deleting == b.deleting
        && a.namespace == b.namespace
        && a.labels == b.labels
        && a.required_affinity == b.required_affinity
        && a.required_anti_affinity == b.required_anti_affinity
        && a.preferred_affinity == b.preferred_affinity
        && a.preferred_anti_affinity == b.preferred_anti_affinity
}

impl PlacedIndex {
    /// The index of `snapshot`'s pods, each node read through `current` (its overlay when
    /// claimed).
    pub fn build<'a>(snapshot: &'a ClusterSnapshot, current: impl Fn(usize) -> &'a NodeInfo) -> PlacedIndex {
        let n = snapshot.nodes.len();
        let mut index = PlacedIndex { on_node: vec![Vec::new(); n], labels: vec![Labels::new(); n], ..PlacedIndex::default() };
        for i in 0..n {
            index.refresh(i, current(i));
        }
        index
    }

    /// Counts node `i` again as `info` has it: its pods and its labels.
    pub fn refresh(&mut self, i: usize, info: &NodeInfo) {
        for g in std::mem::take(&mut self.on_node[i]) {
            self.uncount(g, i);
        }
        let counted: Vec<usize> = info.pods.iter().map(|pod| self.count(pod, i)).collect();
        self.on_node[i] = counted;
        if self.labels[i] != info.node.labels {
            for (key, value) in std::mem::take(&mut self.labels[i]) {
                if let Some(nodes) = self.domains.get_mut(&key).and_then(|values| values.get_mut(&value)) {
                    nodes.retain(|n| *n != i);
                }
                if let Some(n) = self.with_key.get_mut(&key) {
                    *n -= 1;
                }
            }
            for (key, value) in &info.node.labels {
                self.domains.entry(key.clone()).or_default().entry(value.clone()).or_default().push(i);
                *self.with_key.entry(key.clone()).or_insert(0) += 1;
            }
            self.labels[i] = info.node.labels.clone();
        }
    }

    fn count(&mut self, pod: &Arc<PodRow>, i: usize) -> usize {
        let hash = group_hash(pod);
        let found = self.by_hash.get(&hash).and_then(|gs| gs.iter().copied().find(|g| alike(&self.groups[*g].pod, pod)));
        let g = found.unwrap_or_else(|| {
            let group = Group { pod: pod.clone(), hash, nodes: HashMap::new() };
            let g = match self.free.pop() {
                Some(g) => {
                    self.groups[g] = group;
                    g
                }
                None => {
                    self.groups.push(group);
                    self.groups.len() - 1
                }
            };
            self.by_hash.entry(hash).or_default().push(g);
            g
        });
        *self.groups[g].nodes.entry(i).or_insert(0) += 1;
        g
    }

    fn uncount(&mut self, g: usize, i: usize) {
        let group = &mut self.groups[g];
        if let Some(count) = group.nodes.get_mut(&i) {
            *count -= 1;
            if *count == 0 {
                group.nodes.remove(&i);
            }
        }
        if group.nodes.is_empty() {
            let hash = group.hash;
            if let Some(gs) = self.by_hash.get_mut(&hash) {
                gs.retain(|x| *x != g);
                if gs.is_empty() {
                    self.by_hash.remove(&hash);
                }
            }
            self.free.push(g);
        }
    }

    /// Every group with the nodes it sits on and how many times, for
    /// [`AffinityFilterState::compute_over`](crate::scheduler::inter_pod_affinity::AffinityFilterState::compute_over).
    pub fn groups<'a>(&'a self, snapshot: &'a ClusterSnapshot) -> impl Iterator<Item = (&'a PodRow, GroupNodes<'a>)> {
        self.groups_by_position().map(move |(pod, nodes)| (pod, GroupNodes { snapshot, nodes }))
    }

    /// Every group with the positions of the nodes it sits on and how many times, for
    /// PodTopologySpread's counts ([`crate::scheduler::ranking`]).
    pub fn groups_by_position(&self) -> impl Iterator<Item = (&PodRow, &HashMap<usize, i64>)> {
        self.groups.iter().filter(|g| !g.nodes.is_empty()).map(|g| (&*g.pod, &g.nodes))
    }

    /// Each value of a label key with the positions of the nodes that have it.
    pub fn values<'a>(&'a self, key: &str) -> impl Iterator<Item = (&'a str, &'a [usize])> {
        self.domains.get(key).into_iter().flat_map(|values| values.iter().map(|(v, nodes)| (v.as_str(), nodes.as_slice())))
    }

    /// How many node positions the index has (the snapshot's node count when it was built).
    pub fn node_count(&self) -> usize {
        self.on_node.len()
    }

    /// The node positions in a topology pair.
    pub fn domain(&self, key: &str, value: &str) -> &[usize] {
        self.domains.get(key).and_then(|values| values.get(value)).map_or(&[], Vec::as_slice)
    }

    /// How many nodes have a label with this key.
    pub fn nodes_with_key(&self, key: &str) -> usize {
        self.with_key.get(key).copied().unwrap_or(0)
    }
}

/// A group's nodes, each with its count of the group's pods.
#[derive(Clone)]
pub struct GroupNodes<'a> {
    snapshot: &'a ClusterSnapshot,
    nodes: &'a HashMap<usize, i64>,
}

impl<'a> IntoIterator for GroupNodes<'a> {
    type Item = (&'a NodeRow, i64);
    type IntoIter = Box<dyn Iterator<Item = (&'a NodeRow, i64)> + 'a>;

    fn into_iter(self) -> Self::IntoIter {
        let snapshot = self.snapshot;
        Box::new(self.nodes.iter().map(move |(i, n)| (&*snapshot.nodes[*i].node, *n)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::inter_pod_affinity::{placed_in, AffinityFilterState, AffinityScoreState};
    use crate::scheduler::test_support::{labelled_node, pod};
    use serde_json::json;

    fn anti(node: &str, app: &str, key: &str) -> PodRow {
        pod(json!({"metadata": {"name": format!("{app}-{node}"), "labels": {"app": app}}, "spec": {"nodeName": node, "affinity": {
            "podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{"labelSelector": {"matchLabels": {"app": app}}, "topologyKey": key}]},
            "podAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 5, "podAffinityTerm": {"labelSelector": {"matchLabels": {"app": "db"}}, "topologyKey": "zone"}}]}}}}))
    }

    /// Grouped counts give the states the reference computes pod by pod, and follow a node's
    /// pods and labels as they change.
    #[test]
    fn groups_give_the_states_of_the_pods_one_by_one() {
        let nodes = (0..6).map(|i| labelled_node(&format!("n{i}"), json!({"zone": format!("z{}", i % 2), "host": format!("n{i}")}))).collect::<Vec<_>>();
        let mut pods = Vec::new();
        for i in 0..6 {
            pods.push(anti(&format!("n{i}"), "web", "host"));
            pods.push(anti(&format!("n{i}"), if i < 3 { "db" } else { "web" }, "zone"));
        }
        let mut snapshot = ClusterSnapshot::new(nodes, pods, vec![], vec![]);
        let mut index = PlacedIndex::build(&snapshot, |i| &snapshot.nodes[i]);
        let incoming = anti("", "web", "zone");
        let args = crate::scheduler::config::SchedulerConfig::default().inter_pod_affinity;
        let check = |snapshot: &ClusterSnapshot, index: &PlacedIndex| {
            assert_eq!(
                AffinityFilterState::compute_over(&incoming, &snapshot.namespaces, index.groups(snapshot)),
                AffinityFilterState::compute_over(&incoming, &snapshot.namespaces, placed_in(snapshot))
            );
            assert_eq!(
                AffinityScoreState::compute_over(&incoming, &snapshot.namespaces, index.groups(snapshot), &args),
                AffinityScoreState::compute_over(&incoming, &snapshot.namespaces, placed_in(snapshot), &args)
            );
        };
        check(&snapshot, &index);
        assert_eq!(index.groups(&snapshot).count(), 3, "web by host, db by zone, web by zone");
        assert_eq!(index.domain("zone", "z1"), &[1, 3, 5]);

        // A node loses its pods and moves zone.
        let mut moved = NodeInfo::new(labelled_node("n1", json!({"zone": "z0", "host": "n1"})));
        moved.add_pod(Arc::new(anti("n1", "db", "zone")));
        snapshot.nodes[1] = moved;
        index.refresh(1, &snapshot.nodes[1]);
        check(&snapshot, &index);
        assert_eq!(index.domain("zone", "z1"), &[3, 5]);
        assert_eq!(index.nodes_with_key("zone"), 6);
    }
}
