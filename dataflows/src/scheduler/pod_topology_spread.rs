//! PodTopologySpread (`pkg/scheduler/framework/plugins/podtopologyspread/filtering.go`,
//! `scoring.go`, `common.go`), with the default spreading by Service and controller folded in
//! as upstream does (`systemDefaultConstraints` in `plugin.go`, `helper.DefaultSelector` in
//! `pkg/scheduler/framework/plugins/helper/spread.go`).
//!
//! - Filter (`DoNotSchedule`): for each constraint the node must carry the topology key, and
//!   `pods matching in the node's domain + 1 if the pod matches itself - the global minimum`
//!   must not exceed `maxSkew`. The minimum is over the eligible domains, 0 when there are fewer
//!   than `minDomains`. Only nodes with every topology key that pass the node inclusion policies
//!   (node affinity honoured, taints ignored unless `Honor`) make domains.
//! - Score (`ScheduleAnyway`): per constraint `count * ln(domains + 2) + maxSkew - 1`, summed and
//!   rounded; fewer matching pods is better, normalized as `100 * (max + min - s) / max`. Nodes
//!   lacking a topology key score 0, except under the system defaults, where nodes without a
//!   zone still spread by hostname.
//! - Defaults: a pod without constraints gets `kubernetes.io/hostname` maxSkew 3 and
//!   `topology.kubernetes.io/zone` maxSkew 5, both ScheduleAnyway, selecting the pods its
//!   Services and its ReplicationController, ReplicaSet or StatefulSet select.

use std::collections::{BTreeMap, BTreeSet};

use super::config::SpreadDefaulting;
use super::framework::{Code, FilterResult, Plugin, Rejection, MAX_NODE_SCORE};
use super::node_affinity::required_matches;
use super::rows::{NodeRow, SpreadConstraint, WhenUnsatisfiable, WorkloadKind, WorkloadRow};
use super::rows_pod::PodRow;
use super::selectors::{label_value, LabelSelector};
use super::snapshot::{ClusterSnapshot, NodeInfo};
use super::taint_toleration::first_untolerated_taint;

/// Upstream's `ErrReasonConstraintsNotMatch`.
pub const ERR_REASON_CONSTRAINTS_NOT_MATCH: &str = "node(s) didn't match pod topology spread constraints";
/// Upstream's `ErrReasonNodeLabelNotMatch`.
pub const ERR_REASON_NODE_LABEL_NOT_MATCH: &str = "node(s) didn't match pod topology spread constraints (missing required label)";

pub const LABEL_HOSTNAME: &str = "kubernetes.io/hostname";
pub const LABEL_TOPOLOGY_ZONE: &str = "topology.kubernetes.io/zone";

/// Upstream's `helper.DefaultSelector`: the merged selectors of the Services selecting the pod,
/// and of its controlling ReplicationController, ReplicaSet or StatefulSet.
pub fn default_selector(pod: &PodRow, workloads: &[WorkloadRow]) -> LabelSelector {
    let mut set: BTreeMap<String, String> = BTreeMap::new();
    for w in workloads.iter().filter(|w| w.kind == WorkloadKind::Service && w.namespace == pod.namespace) {
        if let Some(m) = w.selector_map.as_ref().filter(|m| LabelSelector::from_map(m).matches(&pod.labels)) {
            set.extend(m.iter().cloned());
        }
    }
    let as_selector = |set: &BTreeMap<String, String>| LabelSelector::from_map(&set.iter().map(|(k, v)| (k.clone(), v.clone())).collect());
    let mut selector = as_selector(&set);
    let Some(owner) = &pod.controller else { return selector };
    let kind = match (owner.api_version.as_str(), owner.kind.as_str()) {
        ("v1", "ReplicationController") => WorkloadKind::ReplicationController,
        ("apps/v1", "ReplicaSet") => WorkloadKind::ReplicaSet,
        ("apps/v1", "StatefulSet") => WorkloadKind::StatefulSet,
        _ => return selector,
    };
    let Some(w) = workloads.iter().find(|w| w.kind == kind && w.namespace == pod.namespace && w.name == owner.name) else { return selector };
    match kind {
        WorkloadKind::ReplicationController => {
            set.extend(w.selector_map.iter().flatten().cloned());
            selector = as_selector(&set);
        }
        _ => {
            if let LabelSelector::Requirements(rs) = &w.selector {
                selector = selector.and(rs.iter().cloned());
            }
        }
    }
    selector
}

/// The pod's constraints for one action: its own if it has any, else the defaults with the
/// default selector (none when that selector is empty).
pub fn constraints_for(pod: &PodRow, action: WhenUnsatisfiable, defaulting: &SpreadDefaulting, workloads: &[WorkloadRow]) -> Vec<SpreadConstraint> {
    if !pod.spread_constraints.is_empty() {
        return pod.spread_constraints.iter().filter(|c| c.when_unsatisfiable == action).cloned().collect();
    }
    let defaults: Vec<(i64, String, WhenUnsatisfiable)> = match defaulting {
        SpreadDefaulting::System => {
            vec![(3, LABEL_HOSTNAME.to_string(), WhenUnsatisfiable::ScheduleAnyway), (5, LABEL_TOPOLOGY_ZONE.to_string(), WhenUnsatisfiable::ScheduleAnyway)]
        }
        SpreadDefaulting::List(list) => list
            .iter()
            .map(|c| (c.max_skew, c.topology_key.clone(), if c.schedule_anyway { WhenUnsatisfiable::ScheduleAnyway } else { WhenUnsatisfiable::DoNotSchedule }))
            .collect(),
    };
    let defaults: Vec<_> = defaults.into_iter().filter(|(_, _, w)| *w == action).collect();
    if defaults.is_empty() {
        return vec![];
    }
    let selector = default_selector(pod, workloads);
    if selector.is_empty() {
        return vec![];
    }
    defaults
        .into_iter()
        .map(|(max_skew, topology_key, when_unsatisfiable)| SpreadConstraint {
            max_skew,
            topology_key,
            when_unsatisfiable,
            selector: selector.clone(),
            min_domains: 1,
            honor_node_affinity: true,
            honor_node_taints: false,
        })
        .collect()
}

fn has_all_keys(node: &NodeRow, constraints: &[SpreadConstraint]) -> bool {
    constraints.iter().all(|c| label_value(&node.labels, &c.topology_key).is_some())
}

/// Upstream's `matchNodeInclusionPolicies`.
pub(crate) fn included(c: &SpreadConstraint, pod: &PodRow, node: &NodeRow) -> bool {
    (!c.honor_node_affinity || required_matches(pod, node))
        && (!c.honor_node_taints || first_untolerated_taint(&pod.tolerations, node.effective_taints()).is_none())
}

/// Upstream's `countPodsMatchSelector`: pods of the namespace, not being deleted, that match.
fn count_matching(info: &NodeInfo, selector: &LabelSelector, namespace: &str) -> i64 {
    if selector.is_empty() {
        return 0;
    }
    info.pods.iter().filter(|p| !p.deleting && p.namespace == namespace && selector.matches(&p.labels)).count() as i64
}

/// Upstream's PreFilter state: matching pods per domain of each hard constraint.
#[derive(Debug, Clone, PartialEq)]
pub struct SpreadFilterState {
    constraints: Vec<SpreadConstraint>,
    counts: Vec<BTreeMap<String, i64>>,
}

impl SpreadFilterState {
    /// The counts for `pod`, or `None` when it has no hard constraint (upstream's Skip).
    pub fn compute(pod: &PodRow, snapshot: &ClusterSnapshot, defaulting: &SpreadDefaulting) -> Option<SpreadFilterState> {
        let constraints = constraints_for(pod, WhenUnsatisfiable::DoNotSchedule, defaulting, &snapshot.workloads);
        if constraints.is_empty() {
            return None;
        }
        let mut counts = vec![BTreeMap::new(); constraints.len()];
        for info in snapshot.nodes.iter().filter(|i| has_all_keys(&i.node, &constraints)) {
            for (i, c) in constraints.iter().enumerate() {
                if included(c, pod, &info.node) {
                    let value = label_value(&info.node.labels, &c.topology_key).unwrap_or_default().to_string();
                    *counts[i].entry(value).or_insert(0) += count_matching(info, &c.selector, &pod.namespace);
                }
            }
        }
        Some(SpreadFilterState { constraints, counts })
    }

    /// The global minimum of a constraint, 0 with fewer domains than `minDomains`.
    fn min_match(&self, i: usize) -> i64 {
        if (self.counts[i].len() as i64) < self.constraints[i].min_domains {
            return 0;
        }
        self.counts[i].values().copied().min().unwrap_or(i64::from(i32::MAX))
    }

    pub fn filter(&self, pod: &PodRow, node: &NodeRow) -> FilterResult {
        for (i, c) in self.constraints.iter().enumerate() {
            let Some(value) = label_value(&node.labels, &c.topology_key) else {
                return Err(Rejection::new(Plugin::PodTopologySpread, Code::UnschedulableAndUnresolvable, ERR_REASON_NODE_LABEL_NOT_MATCH));
            };
            let self_match = i64::from(c.selector.matches(&pod.labels));
            let skew = self.counts[i].get(value).copied().unwrap_or(0) + self_match - self.min_match(i);
            if skew > c.max_skew {
                return Err(Rejection::new(Plugin::PodTopologySpread, Code::Unschedulable, ERR_REASON_CONSTRAINTS_NOT_MATCH));
            }
        }
        Ok(())
    }
}

/// Upstream's PreScore state: matching pods per domain of each soft constraint, over the
/// domains of the feasible nodes, and each constraint's weight.
#[derive(Debug, Clone, PartialEq)]
pub struct SpreadScoreState {
    constraints: Vec<SpreadConstraint>,
    /// Feasible nodes missing a topology key (scored 0).
    ignored: BTreeSet<String>,
    counts: Vec<BTreeMap<String, i64>>,
    weights: Vec<f64>,
}

impl SpreadScoreState {
    /// The state for scoring `feasible` nodes, or `None` when the pod has no soft constraint.
    pub fn compute(pod: &PodRow, snapshot: &ClusterSnapshot, feasible: &[&NodeRow], defaulting: &SpreadDefaulting) -> Option<SpreadScoreState> {
        if snapshot.nodes.is_empty() {
            return None;
        }
        let constraints = constraints_for(pod, WhenUnsatisfiable::ScheduleAnyway, defaulting, &snapshot.workloads);
        if constraints.is_empty() {
            return None;
        }
        // Only the system defaults let nodes without a zone spread by hostname.
        let require_all = !pod.spread_constraints.is_empty() || !matches!(defaulting, SpreadDefaulting::System);
        let mut ignored = BTreeSet::new();
        let mut counts = vec![BTreeMap::new(); constraints.len()];
        for node in feasible {
            if require_all && !has_all_keys(node, &constraints) {
                ignored.insert(node.name.clone());
                continue;
            }
            for (i, c) in constraints.iter().enumerate().filter(|(_, c)| c.topology_key != LABEL_HOSTNAME) {
                counts[i].entry(label_value(&node.labels, &c.topology_key).unwrap_or_default().to_string()).or_insert(0);
            }
        }
        let weights = constraints
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let size = if c.topology_key == LABEL_HOSTNAME { feasible.len() - ignored.len() } else { counts[i].len() };
                ((size + 2) as f64).ln()
            })
            .collect();
        for info in &snapshot.nodes {
            if require_all && !has_all_keys(&info.node, &constraints) {
                continue;
            }
            for (i, c) in constraints.iter().enumerate() {
                if !included(c, pod, &info.node) {
                    continue;
                }
                let value = label_value(&info.node.labels, &c.topology_key).unwrap_or_default();
                if let Some(count) = counts[i].get_mut(value) {
                    *count += count_matching(info, &c.selector, &pod.namespace);
                }
            }
        }
        Some(SpreadScoreState { constraints, ignored, counts, weights })
    }

    /// Whether the node is left out of scoring for lacking a topology key.
    pub fn ignores(&self, node: &str) -> bool {
        self.ignored.contains(node)
    }

    /// The raw score: the rounded sum of `count * weight + maxSkew - 1` over the constraints
    /// whose key the node has.
    pub fn score(&self, pod: &PodRow, info: &NodeInfo) -> i64 {
        if self.ignores(info.name()) {
            return 0;
        }
        let mut score = 0.0;
        for (i, c) in self.constraints.iter().enumerate() {
            let Some(value) = label_value(&info.node.labels, &c.topology_key) else { continue };
            let count = if c.topology_key == LABEL_HOSTNAME {
                count_matching(info, &c.selector, &pod.namespace)
            } else {
                self.counts[i].get(value).copied().unwrap_or(0)
            };
            score += count as f64 * self.weights[i] + (c.max_skew - 1) as f64;
        }
        score.round() as i64
    }
}

/// Upstream's NormalizeScore: `100 * (max + min - s) / max` over the nodes not ignored, 100 for
/// all when every score is 0, and 0 for ignored nodes.
pub fn normalize(scores: &mut [i64], ignored: &[bool]) {
    let kept = || scores.iter().zip(ignored).filter(|(_, i)| !**i).map(|(s, _)| *s);
    let min = kept().min().unwrap_or(i64::MAX);
    let max = kept().fold(0, i64::max);
    for (s, ignored) in scores.iter_mut().zip(ignored) {
        *s = if *ignored { 0 } else { normalized(min, max, *s) };
    }
}

/// One raw score normalized among scores from `min` to `max` (see [`normalize`]).
pub fn normalized(min: i64, max: i64, raw: i64) -> i64 {
    if max == 0 {
        MAX_NODE_SCORE
    } else {
        MAX_NODE_SCORE * (max + min - raw) / max
    }
}

#[cfg(test)]
mod tests;
