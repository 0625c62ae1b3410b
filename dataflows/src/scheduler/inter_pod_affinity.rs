//! InterPodAffinity (`pkg/scheduler/framework/plugins/interpodaffinity/filtering.go` and
//! `scoring.go`).
//!
//! Filter, from counts per topology pair `(key, value)` over every pod on every node:
//! 1. the pod's required affinity: every term's topology key is on the node, and some pod that
//!    matches *all* the terms sits in the node's domain, unless no pod anywhere matches and the
//!    pod matches its own terms (the first of a group may land);
//! 2. the pod's required anti-affinity: no pod matching a term sits in the node's domain;
//! 3. existing pods' required anti-affinity: no pod whose term matches this pod shares any of the
//!    node's `(label, value)` pairs with the term's domain.
//!
//! Score: each pod in a domain adds the weights of the incoming pod's preferred terms it matches
//! (anti-affinity subtracts), and the weights of its own preferred terms (and, with
//! `hardPodAffinityWeight`, its required affinity terms) that the incoming pod matches. A node
//! scores the sum over the domains it is in; scores are min-max normalized to `0..=100`.
//!
//! A term's `namespaceSelector` is read against the labels of the namespace of the pod being
//! matched. For the incoming pod's terms an unknown namespace never matches (upstream merges
//! the selector into a namespace list); for existing pods' terms the incoming pod's namespace
//! labels are empty when unknown, as upstream's `GetNamespaceLabelsSnapshot`.

use std::collections::BTreeMap;

use super::config::InterPodAffinityArgs;
use super::framework::{Code, FilterResult, Plugin, Rejection, MAX_NODE_SCORE};
use super::rows::{AffinityTerm, NodeRow};
use super::rows_pod::PodRow;
use super::selectors::label_value;
use super::snapshot::ClusterSnapshot;
use crate::rows::Labels;

/// Upstream's `ErrReasonExistingAntiAffinityRulesNotMatch`.
pub const ERR_REASON_EXISTING_ANTI_AFFINITY: &str = "node(s) didn't satisfy existing pods anti-affinity rules";
/// Upstream's `ErrReasonAffinityRulesNotMatch`.
pub const ERR_REASON_AFFINITY: &str = "node(s) didn't match pod affinity rules";
/// Upstream's `ErrReasonAntiAffinityRulesNotMatch`.
pub const ERR_REASON_ANTI_AFFINITY: &str = "node(s) didn't match pod anti-affinity rules";

/// Pods counted per topology pair: topology key, then value.
type TopologyCounts = BTreeMap<String, BTreeMap<String, i64>>;

fn add_in_domain(counts: &mut TopologyCounts, node: &NodeRow, key: &str, n: i64) {
    let Some(value) = label_value(&node.labels, key) else { return };
    let values = match counts.get_mut(key) {
        Some(values) => values,
        None => counts.entry(key.to_string()).or_default(),
    };
    match values.get_mut(value) {
        Some(count) => *count += n,
        None => {
            values.insert(value.to_string(), n);
        }
    }
}

fn count_at(counts: &TopologyCounts, key: &str, value: &str) -> i64 {
    counts.get(key).and_then(|values| values.get(value)).copied().unwrap_or(0)
}

/// The `(key, value)` pairs whose count is not zero.
fn nonzero(counts: &TopologyCounts) -> impl Iterator<Item = (&str, &str)> {
    counts.iter().flat_map(|(key, values)| values.iter().filter(|(_, n)| **n != 0).map(move |(value, _)| (key.as_str(), value.as_str())))
}

fn matches_all(terms: &[AffinityTerm], namespace: &str, labels: &Labels, ns_labels: Option<&Labels>) -> bool {
    !terms.is_empty() && terms.iter().all(|t| t.matches(namespace, labels, ns_labels))
}

/// The states below read the pods placed in the cluster as pairs of a pod and the nodes it
/// sits on, each with how many times: one pod, one node, once for the reference
/// ([`placed_in`]); alike pods grouped by the batch binder's index, so that terms are matched
/// once per group.
/// Every pod of the snapshot, once on its node.
pub fn placed_in(snapshot: &ClusterSnapshot) -> impl Iterator<Item = (&PodRow, std::iter::Once<(&NodeRow, i64)>)> {
    snapshot.nodes.iter().flat_map(|info| info.pods.iter().map(move |p| (&**p, std::iter::once((&*info.node, 1)))))
}

/// Upstream's PreFilter state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AffinityFilterState {
    existing_anti_affinity: TopologyCounts,
    affinity: TopologyCounts,
    anti_affinity: TopologyCounts,
    /// The pod matches all its own required affinity terms.
    matches_own_affinity: bool,
}

impl AffinityFilterState {
    /// The counts for `pod`, or `None` when the filter has nothing to check (upstream's Skip).
    pub fn compute(pod: &PodRow, snapshot: &ClusterSnapshot) -> Option<AffinityFilterState> {
        Self::compute_over(pod, &snapshot.namespaces, placed_in(snapshot))
    }

    /// [`AffinityFilterState::compute`] over `placed`, with these namespaces' labels.
    pub fn compute_over<'a, N>(
        pod: &PodRow,
        namespaces: &BTreeMap<String, Labels>,
        placed: impl IntoIterator<Item = (&'a PodRow, N)>,
    ) -> Option<AffinityFilterState>
    where
        N: IntoIterator<Item = (&'a NodeRow, i64)> + Clone,
    {
        let incoming_ns_labels = namespaces.get(&pod.namespace).cloned().unwrap_or_default();
        let mut state = AffinityFilterState {
            existing_anti_affinity: TopologyCounts::new(),
            affinity: TopologyCounts::new(),
            anti_affinity: TopologyCounts::new(),
            matches_own_affinity: matches_all(&pod.required_affinity, &pod.namespace, &pod.labels, namespaces.get(&pod.namespace)),
        };
        for (existing, nodes) in placed {
            let existing_ns = namespaces.get(&existing.namespace);
            let counted = |counts: &mut TopologyCounts, key: &str| nodes.clone().into_iter().for_each(|(node, n)| add_in_domain(counts, node, key, n));
            for t in existing.required_anti_affinity.iter().filter(|t| t.matches(&pod.namespace, &pod.labels, Some(&incoming_ns_labels))) {
                counted(&mut state.existing_anti_affinity, &t.topology_key);
            }
            if matches_all(&pod.required_affinity, &existing.namespace, &existing.labels, existing_ns) {
                for t in &pod.required_affinity {
                    counted(&mut state.affinity, &t.topology_key);
                }
            }
            for t in pod.required_anti_affinity.iter().filter(|t| t.matches(&existing.namespace, &existing.labels, existing_ns)) {
                counted(&mut state.anti_affinity, &t.topology_key);
            }
        }
        let nothing_to_check = state.existing_anti_affinity.is_empty() && pod.required_affinity.is_empty() && pod.required_anti_affinity.is_empty();
        (!nothing_to_check).then_some(state)
    }

    fn count(counts: &TopologyCounts, node: &NodeRow, key: &str) -> Option<i64> {
        label_value(&node.labels, key).map(|v| count_at(counts, key, v))
    }

    fn satisfies_pod_affinity(&self, pod: &PodRow, node: &NodeRow) -> bool {
        let mut pods_exist = true;
        for t in &pod.required_affinity {
            match Self::count(&self.affinity, node, &t.topology_key) {
                None => return false,
                Some(n) if n <= 0 => pods_exist = false,
                Some(_) => {}
            }
        }
        pods_exist || (self.affinity.is_empty() && self.matches_own_affinity)
    }

    fn satisfies_pod_anti_affinity(&self, pod: &PodRow, node: &NodeRow) -> bool {
        pod.required_anti_affinity.iter().all(|t| Self::count(&self.anti_affinity, node, &t.topology_key).unwrap_or(0) <= 0)
    }

    fn satisfies_existing_anti_affinity(&self, node: &NodeRow) -> bool {
        self.existing_anti_affinity.is_empty() || node.labels.iter().all(|(k, v)| count_at(&self.existing_anti_affinity, k, v) <= 0)
    }

    pub fn filter(&self, pod: &PodRow, node: &NodeRow) -> FilterResult {
        if !self.satisfies_pod_affinity(pod, node) {
            return Err(Rejection::new(Plugin::InterPodAffinity, Code::UnschedulableAndUnresolvable, ERR_REASON_AFFINITY));
        }
        if !self.satisfies_pod_anti_affinity(pod, node) {
            return Err(Rejection::new(Plugin::InterPodAffinity, Code::Unschedulable, ERR_REASON_ANTI_AFFINITY));
        }
        if !self.satisfies_existing_anti_affinity(node) {
            return Err(Rejection::new(Plugin::InterPodAffinity, Code::Unschedulable, ERR_REASON_EXISTING_ANTI_AFFINITY));
        }
        Ok(())
    }

    /// The topology pairs with a pod counted in them: a node in none of them passes the filter
    /// exactly when [`AffinityFilterState::passes_elsewhere`] says so.
    pub fn counted_domains(&self) -> impl Iterator<Item = (&str, &str)> {
        nonzero(&self.existing_anti_affinity).chain(nonzero(&self.affinity)).chain(nonzero(&self.anti_affinity))
    }

    /// The verdict on a node in none of [`AffinityFilterState::counted_domains`]: `Some(true)`
    /// it passes, `Some(false)` it fails, `None` it passes if it has every topology key of
    /// the pod's required affinity terms (the first pod of a group may land).
    pub fn passes_elsewhere(&self, pod: &PodRow) -> Option<bool> {
        if pod.required_affinity.is_empty() {
            Some(true)
        } else if self.affinity.is_empty() && self.matches_own_affinity {
            None
        } else {
            Some(false)
        }
    }
}

/// Upstream's PreScore state: the score of each topology domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AffinityScoreState {
    topology_score: TopologyCounts,
}

impl AffinityScoreState {
    /// The domain scores for `pod`, or `None` when no term applies anywhere (upstream's Skip).
    pub fn compute(pod: &PodRow, snapshot: &ClusterSnapshot, args: &InterPodAffinityArgs) -> Option<AffinityScoreState> {
        Self::compute_over(pod, &snapshot.namespaces, placed_in(snapshot), args)
    }

    /// [`AffinityScoreState::compute`] over `placed`, with these namespaces' labels.
    pub fn compute_over<'a, N>(
        pod: &PodRow,
        namespaces: &BTreeMap<String, Labels>,
        placed: impl IntoIterator<Item = (&'a PodRow, N)>,
        args: &InterPodAffinityArgs,
    ) -> Option<AffinityScoreState>
    where
        N: IntoIterator<Item = (&'a NodeRow, i64)> + Clone,
    {
        let has_preferences = !pod.preferred_affinity.is_empty() || !pod.preferred_anti_affinity.is_empty();
        if args.ignore_preferred_terms_of_existing_pods && !has_preferences {
            return None;
        }
        let incoming_ns_labels = namespaces.get(&pod.namespace).cloned().unwrap_or_default();
        let mut scores = TopologyCounts::new();
        for (existing, nodes) in placed {
            if !(has_preferences || existing.has_pod_affinity()) {
                continue;
            }
            let mut add = |key: &str, weight: i64| nodes.clone().into_iter().for_each(|(node, n)| add_in_domain(&mut scores, node, key, weight * n));
            let existing_ns = namespaces.get(&existing.namespace);
            for (terms, sign) in [(&pod.preferred_affinity, 1), (&pod.preferred_anti_affinity, -1)] {
                for w in terms.iter().filter(|w| w.term.matches(&existing.namespace, &existing.labels, existing_ns)) {
                    add(&w.term.topology_key, sign * w.weight);
                }
            }
            if args.hard_pod_affinity_weight > 0 {
                for t in existing.required_affinity.iter().filter(|t| t.matches(&pod.namespace, &pod.labels, Some(&incoming_ns_labels))) {
                    add(&t.topology_key, args.hard_pod_affinity_weight);
                }
            }
            for (terms, sign) in [(&existing.preferred_affinity, 1), (&existing.preferred_anti_affinity, -1)] {
                for w in terms.iter().filter(|w| w.term.matches(&pod.namespace, &pod.labels, Some(&incoming_ns_labels))) {
                    add(&w.term.topology_key, sign * w.weight);
                }
            }
        }
        (!scores.is_empty()).then_some(AffinityScoreState { topology_score: scores })
    }

    /// The raw score: the sum of the scores of the domains the node is in.
    pub fn score(&self, node: &NodeRow) -> i64 {
        self.topology_score.iter().filter_map(|(key, values)| label_value(&node.labels, key).map(|v| values.get(v).copied().unwrap_or(0))).sum()
    }

    /// The topology pairs whose score is not zero: a node in none of them scores 0.
    pub fn scored_domains(&self) -> impl Iterator<Item = (&str, &str)> {
        nonzero(&self.topology_score)
    }
}

/// Upstream's NormalizeScore: min-max scaling to `0..=100`, all zero when every score is equal.
pub fn normalize(scores: &mut [i64]) {
    let (Some(min), Some(max)) = (scores.iter().min().copied(), scores.iter().max().copied()) else { return };
    for s in scores.iter_mut() {
        *s = normalized(min, max, *s);
    }
}

/// One raw score as [`normalize`] scales it among scores from `min` to `max`.
pub fn normalized(min: i64, max: i64, raw: i64) -> i64 {
    let diff = max - min;
    if diff > 0 {
        (MAX_NODE_SCORE as f64 * ((raw - min) as f64 / diff as f64)) as i64
    } else {
        0
    }
}

#[cfg(test)]
mod tests;
