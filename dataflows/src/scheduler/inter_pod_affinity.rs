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

/// Pods counted per topology pair.
type TopologyCounts = BTreeMap<(String, String), i64>;

fn count_in_domain(counts: &mut TopologyCounts, node: &NodeRow, key: &str) {
    if let Some(value) = label_value(&node.labels, key) {
        *counts.entry((key.to_string(), value.to_string())).or_insert(0) += 1;
    }
}

fn matches_all(terms: &[AffinityTerm], namespace: &str, labels: &Labels, ns_labels: Option<&Labels>) -> bool {
    !terms.is_empty() && terms.iter().all(|t| t.matches(namespace, labels, ns_labels))
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
        let incoming_ns_labels = snapshot.namespace_labels(&pod.namespace).cloned().unwrap_or_default();
        let mut state = AffinityFilterState {
            existing_anti_affinity: TopologyCounts::new(),
            affinity: TopologyCounts::new(),
            anti_affinity: TopologyCounts::new(),
            matches_own_affinity: matches_all(&pod.required_affinity, &pod.namespace, &pod.labels, snapshot.namespace_labels(&pod.namespace)),
        };
        for info in &snapshot.nodes {
            for existing in &info.pods {
                for t in existing.required_anti_affinity.iter().filter(|t| t.matches(&pod.namespace, &pod.labels, Some(&incoming_ns_labels))) {
                    count_in_domain(&mut state.existing_anti_affinity, &info.node, &t.topology_key);
                }
                let existing_ns = snapshot.namespace_labels(&existing.namespace);
                if matches_all(&pod.required_affinity, &existing.namespace, &existing.labels, existing_ns) {
                    for t in &pod.required_affinity {
                        count_in_domain(&mut state.affinity, &info.node, &t.topology_key);
                    }
                }
                for t in pod.required_anti_affinity.iter().filter(|t| t.matches(&existing.namespace, &existing.labels, existing_ns)) {
                    count_in_domain(&mut state.anti_affinity, &info.node, &t.topology_key);
                }
            }
        }
        let nothing_to_check = state.existing_anti_affinity.is_empty() && pod.required_affinity.is_empty() && pod.required_anti_affinity.is_empty();
        (!nothing_to_check).then_some(state)
    }

    fn count(counts: &TopologyCounts, node: &NodeRow, key: &str) -> Option<i64> {
        label_value(&node.labels, key).map(|v| counts.get(&(key.to_string(), v.to_string())).copied().unwrap_or(0))
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
        self.existing_anti_affinity.is_empty()
            || node.labels.iter().all(|(k, v)| self.existing_anti_affinity.get(&(k.clone(), v.clone())).copied().unwrap_or(0) <= 0)
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
}

/// Upstream's PreScore state: the score of each topology domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AffinityScoreState {
    topology_score: BTreeMap<String, BTreeMap<String, i64>>,
}

impl AffinityScoreState {
    /// The domain scores for `pod`, or `None` when no term applies anywhere (upstream's Skip).
    pub fn compute(pod: &PodRow, snapshot: &ClusterSnapshot, args: &InterPodAffinityArgs) -> Option<AffinityScoreState> {
        let has_preferences = !pod.preferred_affinity.is_empty() || !pod.preferred_anti_affinity.is_empty();
        if args.ignore_preferred_terms_of_existing_pods && !has_preferences {
            return None;
        }
        let incoming_ns_labels = snapshot.namespace_labels(&pod.namespace).cloned().unwrap_or_default();
        let mut scores: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
        let mut add = |node: &NodeRow, key: &str, weight: i64| {
            if let Some(value) = label_value(&node.labels, key) {
                *scores.entry(key.to_string()).or_default().entry(value.to_string()).or_insert(0) += weight;
            }
        };
        for info in snapshot.nodes.iter().filter(|i| !i.node.labels.is_empty()) {
            for existing in info.pods.iter().filter(|p| has_preferences || p.has_pod_affinity()) {
                let existing_ns = snapshot.namespace_labels(&existing.namespace);
                for (terms, sign) in [(&pod.preferred_affinity, 1), (&pod.preferred_anti_affinity, -1)] {
                    for w in terms.iter().filter(|w| w.term.matches(&existing.namespace, &existing.labels, existing_ns)) {
                        add(&info.node, &w.term.topology_key, sign * w.weight);
                    }
                }
                if args.hard_pod_affinity_weight > 0 {
                    for t in existing.required_affinity.iter().filter(|t| t.matches(&pod.namespace, &pod.labels, Some(&incoming_ns_labels))) {
                        add(&info.node, &t.topology_key, args.hard_pod_affinity_weight);
                    }
                }
                for (terms, sign) in [(&existing.preferred_affinity, 1), (&existing.preferred_anti_affinity, -1)] {
                    for w in terms.iter().filter(|w| w.term.matches(&pod.namespace, &pod.labels, Some(&incoming_ns_labels))) {
                        add(&info.node, &w.term.topology_key, sign * w.weight);
                    }
                }
            }
        }
        (!scores.is_empty()).then_some(AffinityScoreState { topology_score: scores })
    }

    /// The raw score: the sum of the scores of the domains the node is in.
    pub fn score(&self, node: &NodeRow) -> i64 {
        self.topology_score.iter().filter_map(|(key, values)| label_value(&node.labels, key).map(|v| values.get(v).copied().unwrap_or(0))).sum()
    }
}

/// Upstream's NormalizeScore: min-max scaling to `0..=100`, all zero when every score is equal.
pub fn normalize(scores: &mut [i64]) {
    let (Some(min), Some(max)) = (scores.iter().min().copied(), scores.iter().max().copied()) else { return };
    let diff = max - min;
    for s in scores.iter_mut() {
        *s = if diff > 0 { (MAX_NODE_SCORE as f64 * ((*s - min) as f64 / diff as f64)) as i64 } else { 0 };
    }
}

#[cfg(test)]
mod tests;
