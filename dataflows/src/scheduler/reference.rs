//! The plain sequential scheduler: the reference the dataflow scheduler must equal.
//!
//! Pods wait in upstream's PrioritySort order (priority, highest first, then the time they
//! were created; name breaks what is left). Each pod in turn:
//! 1. PreFilter: NodeAffinity may narrow the candidates to pinned names, or reject the pod;
//!    a pod whose affinity or spread terms do not parse is rejected with the parse error.
//! 2. Filter: every candidate node runs the enabled filters in upstream's order; the first
//!    rejection is the node's reason.
//! 3. Score: every feasible node gets each enabled score plugin's raw score, normalized as the
//!    plugin does upstream, times the plugin's weight; the highest total wins.
//! 4. The pod is accounted on its node (requests, ports, and as a pod for affinity and spread)
//!    before the next pod is considered.
//!
//! Where upstream differs on purpose:
//! - Ties: upstream picks at random among the best nodes (`selectHost`); here the node with
//!   the lowest name wins, so runs are reproducible.
//! - Every feasible node is scored (upstream's `percentageOfNodesToScore: 100`); upstream
//!   samples a share of nodes in clusters of more than 100, and skips scoring when one node fits.
//! - No preemption, hence no PostFilter message (see [`super::message`]).

use std::cmp::Reverse;

use serde::{Deserialize, Serialize};

use super::config::SchedulerConfig;
use super::framework::{Code, FilterResult, Plugin, Rejection};
use super::inter_pod_affinity::{self, AffinityFilterState, AffinityScoreState};
use super::message::{FitError, NO_NODES_AVAILABLE};
use super::node_affinity::{self, PreFilter};
use super::pair::{self, PairEval};
use super::pod_topology_spread::{self, SpreadFilterState, SpreadScoreState};
use super::rows::{NamespaceLabelsRow, NodeRow, PriorityClassRow, WorkloadRow};
use super::rows_pod::{resolve_priority, PodRow};
use super::snapshot::{ClusterSnapshot, NodeInfo};
use super::{image_locality, taint_toleration};

/// Everything the scheduler reads, as rows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchedulingInput {
    pub nodes: Vec<NodeRow>,
    /// Bound and pending pods alike.
    pub pods: Vec<PodRow>,
    pub namespaces: Vec<NamespaceLabelsRow>,
    pub workloads: Vec<WorkloadRow>,
    pub priority_classes: Vec<PriorityClassRow>,
}

/// One node's filter verdict for a pod.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct NodeVerdict {
    pub node: String,
    pub result: FilterResult,
}

/// One plugin's score of one node.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PluginScore {
    pub plugin: Plugin,
    /// The raw score; `None` when the plugin skipped the pod (nothing to score).
    pub raw: Option<i64>,
    /// After the plugin's normalization, in `0..=100`.
    pub normalized: i64,
    pub weight: i64,
}

/// A feasible node's scores and weighted total.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct NodeScore {
    pub node: String,
    pub plugins: Vec<PluginScore>,
    pub total: i64,
}

impl NodeScore {
    /// Best first: the highest total, then the lowest name (the reference's choice).
    pub fn best_first(a: &NodeScore, b: &NodeScore) -> std::cmp::Ordering {
        b.total.cmp(&a.total).then_with(|| a.node.cmp(&b.node))
    }
}

/// Where a pod goes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Outcome {
    Bound {
        node: String,
    },
    /// No node fits; the message is the `FailedScheduling` event's.
    Unschedulable {
        fit_error: FitError,
        message: String,
    },
}

/// The decision on one pod, with the explain-why data behind it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PodDecision {
    pub namespace: String,
    pub name: String,
    pub priority: i32,
    pub outcome: Outcome,
    /// Every node's verdict, by node name.
    pub filters: Vec<NodeVerdict>,
    /// Every feasible node's scores, by node name.
    pub scores: Vec<NodeScore>,
}

/// The reason of nodes a PreFilter result left out (`schedule_one.go`, `findNodesThatFitPod`).
fn absent_reason(plugin: Plugin) -> String {
    format!("node(s) didn't satisfy plugin(s) [{}]", plugin.name())
}

/// The pending pods this scheduler takes, in upstream's PrioritySort order, with their priorities.
pub fn queue(pods: &[PodRow], classes: &[PriorityClassRow]) -> Vec<(i32, PodRow)> {
    let mut q: Vec<(i32, PodRow)> = pods.iter().filter(|p| p.awaits_default_scheduler()).map(|p| (resolve_priority(p, classes), p.clone())).collect();
    q.sort_by(|(pa, a), (pb, b)| (Reverse(*pa), &a.created, &a.namespace, &a.name).cmp(&(Reverse(*pb), &b.created, &b.namespace, &b.name)));
    q
}

/// The per-pod states of the filters that look at the whole cluster.
struct FilterStates {
    spread: Option<SpreadFilterState>,
    affinity: Option<AffinityFilterState>,
}

/// The verdict of the cluster-wide filters, which upstream runs after the node-local ones.
fn cluster_filter(config: &SchedulerConfig, states: &FilterStates, pod: &PodRow, info: &NodeInfo) -> FilterResult {
    if config.filters(Plugin::PodTopologySpread) {
        states.spread.as_ref().map_or(Ok(()), |s| s.filter(pod, &info.node))?;
    }
    if config.filters(Plugin::InterPodAffinity) {
        states.affinity.as_ref().map_or(Ok(()), |s| s.filter(pod, &info.node))?;
    }
    Ok(())
}

/// The raw scores of one plugin on the feasible nodes, normalized in place into the second
/// vector; `None` raw scores mean the plugin skipped the pod.
fn plugin_scores(
    plugin: Plugin,
    config: &SchedulerConfig,
    snapshot: &ClusterSnapshot,
    pod: &PodRow,
    feasible: &[&NodeInfo],
    evals: &[PairEval],
) -> (Vec<Option<i64>>, Vec<i64>) {
    let skipped = || (vec![None; feasible.len()], vec![0; feasible.len()]);
    let raw: Vec<i64> = match plugin {
        Plugin::TaintToleration => evals.iter().map(|e| e.taint).collect(),
        Plugin::NodeAffinity => match evals.iter().map(|e| e.node_affinity).collect::<Option<Vec<i64>>>() {
            Some(raw) => raw,
            None => return skipped(),
        },
        Plugin::NodeResourcesFit => evals.iter().map(|e| e.fit).collect(),
        Plugin::NodeResourcesBalancedAllocation => match evals.iter().map(|e| e.balanced).collect::<Option<Vec<i64>>>() {
            Some(raw) => raw,
            None => return skipped(),
        },
        Plugin::ImageLocality => {
            let counts = snapshot.image_node_counts();
            feasible.iter().map(|i| image_locality::score(pod, &i.node, &counts, snapshot.nodes.len() as i64)).collect()
        }
        Plugin::PodTopologySpread => {
            let rows: Vec<&NodeRow> = feasible.iter().map(|i| &*i.node).collect();
            let Some(state) = SpreadScoreState::compute(pod, snapshot, &rows, &config.spread_defaulting) else { return skipped() };
            let raw: Vec<i64> = feasible.iter().map(|i| state.score(pod, i)).collect();
            let ignored: Vec<bool> = feasible.iter().map(|i| state.ignores(i.name())).collect();
            let mut normalized = raw.clone();
            pod_topology_spread::normalize(&mut normalized, &ignored);
            return (raw.into_iter().map(Some).collect(), normalized);
        }
        Plugin::InterPodAffinity => {
            let Some(state) = AffinityScoreState::compute(pod, snapshot, &config.inter_pod_affinity) else { return skipped() };
            feasible.iter().map(|i| state.score(&i.node)).collect()
        }
        Plugin::NodeUnschedulable | Plugin::NodeName | Plugin::NodePorts => return skipped(),
    };
    let mut normalized = raw.clone();
    match plugin {
        Plugin::TaintToleration => taint_toleration::normalize(&mut normalized),
        Plugin::NodeAffinity => node_affinity::normalize(&mut normalized),
        Plugin::InterPodAffinity => inter_pod_affinity::normalize(&mut normalized),
        _ => {}
    }
    (raw.into_iter().map(Some).collect(), normalized)
}

/// Every node rejected with one PreFilter status (upstream fills the node statuses so).
fn rejected_by_pre_filter(snapshot: &ClusterSnapshot, plugin: Plugin, message: String) -> (Vec<NodeVerdict>, FitError) {
    let rejection = Rejection::new(plugin, Code::UnschedulableAndUnresolvable, message.clone());
    let filters = snapshot.nodes.iter().map(|n| NodeVerdict { node: n.name().to_string(), result: Err(rejection.clone()) }).collect();
    (filters, FitError { num_all_nodes: snapshot.nodes.len(), pre_filter_message: Some(message), ..FitError::default() })
}

/// Decides one pod against the snapshot, which it does not change.
pub fn schedule_one(config: &SchedulerConfig, snapshot: &ClusterSnapshot, pod: &PodRow, priority: i32) -> PodDecision {
    decide(config, snapshot, pod, priority, &mut |info| pair::evaluate(config, pod, info))
}

/// Decides one pod with the node-local verdicts and raw scores that `local` gives for each node
/// (computed on the spot by [`schedule_one`]; looked up in the dataflow's `(class, node)` pairs
/// by [`super::readout`]), and the cluster-wide plugins computed over the snapshot.
pub fn decide(config: &SchedulerConfig, snapshot: &ClusterSnapshot, pod: &PodRow, priority: i32, local: &mut dyn FnMut(&NodeInfo) -> PairEval) -> PodDecision {
    let decision = |outcome, filters, scores| PodDecision { namespace: pod.namespace.clone(), name: pod.name.clone(), priority, outcome, filters, scores };
    let unschedulable = |fit_error: FitError| Outcome::Unschedulable { message: fit_error.message(), fit_error };
    if snapshot.nodes.is_empty() {
        return decision(Outcome::Unschedulable { fit_error: FitError::default(), message: NO_NODES_AVAILABLE.to_string() }, vec![], vec![]);
    }

    let mut candidates: Option<std::collections::BTreeSet<String>> = None;
    if config.filters(Plugin::NodeAffinity) {
        match node_affinity::pre_filter(pod) {
            PreFilter::Reject(message) => {
                let (filters, fit) = rejected_by_pre_filter(snapshot, Plugin::NodeAffinity, message);
                return decision(unschedulable(fit), filters, vec![]);
            }
            PreFilter::Only(names) => candidates = Some(names),
            PreFilter::Skip | PreFilter::AllNodes => {}
        }
    }
    if let Some(error) = pod.constraint_errors.first() {
        let (filters, fit) = rejected_by_pre_filter(snapshot, Plugin::InterPodAffinity, format!("parsing pod: {error}"));
        return decision(unschedulable(fit), filters, vec![]);
    }

    let states = FilterStates {
        spread: config.filters(Plugin::PodTopologySpread).then(|| SpreadFilterState::compute(pod, snapshot, &config.spread_defaulting)).flatten(),
        affinity: config.filters(Plugin::InterPodAffinity).then(|| AffinityFilterState::compute(pod, snapshot)).flatten(),
    };
    let mut fit = FitError { num_all_nodes: snapshot.nodes.len(), ..FitError::default() };
    let mut filters = Vec::with_capacity(snapshot.nodes.len());
    let mut feasible: Vec<&NodeInfo> = Vec::new();
    let mut evals: Vec<PairEval> = Vec::new();
    let mut absent = 0;
    for info in &snapshot.nodes {
        let result = if candidates.as_ref().is_some_and(|c| !c.contains(info.name())) {
            absent += 1;
            Err(Rejection::new(Plugin::NodeAffinity, Code::UnschedulableAndUnresolvable, absent_reason(Plugin::NodeAffinity)))
        } else {
            let eval = local(info);
            let result = match &eval.filter {
                Ok(()) => cluster_filter(config, &states, pod, info),
                Err(r) => Err(r.clone()),
            };
            match &result {
                Ok(()) => {
                    feasible.push(info);
                    evals.push(eval);
                }
                Err(r) => fit.rejections.push(r.clone()),
            }
            result
        };
        filters.push(NodeVerdict { node: info.name().to_string(), result });
    }
    if candidates.is_some() && absent > 0 {
        fit.absent_nodes = Some((absent, absent_reason(Plugin::NodeAffinity)));
    }
    if feasible.is_empty() {
        return decision(unschedulable(fit), filters, vec![]);
    }

    let mut scores: Vec<NodeScore> = feasible.iter().map(|i| NodeScore { node: i.name().to_string(), plugins: vec![], total: 0 }).collect();
    for plugin in config.scoring() {
        let weight = config.weight(plugin);
        let (raw, normalized) = plugin_scores(plugin, config, snapshot, pod, &feasible, &evals);
        for (s, (raw, normalized)) in scores.iter_mut().zip(raw.into_iter().zip(normalized)) {
            s.total += normalized * weight;
            s.plugins.push(PluginScore { plugin, raw, normalized, weight });
        }
    }
    // The first of the best totals: nodes are in name order, so the lowest name wins ties.
    let best = scores.iter().fold(None::<&NodeScore>, |best, s| match best {
        Some(b) if b.total >= s.total => Some(b),
        _ => Some(s),
    });
    let node = best.map(|s| s.node.clone()).unwrap_or_default();
    decision(Outcome::Bound { node }, filters, scores)
}

/// Schedules every pending pod in queue order, each seeing the pods placed before it.
pub fn schedule(config: &SchedulerConfig, input: SchedulingInput) -> Vec<PodDecision> {
    let pending = queue(&input.pods, &input.priority_classes);
    let mut snapshot = ClusterSnapshot::new(input.nodes, input.pods, input.namespaces, input.workloads);
    let mut decisions = Vec::with_capacity(pending.len());
    for (priority, pod) in pending {
        let decision = schedule_one(config, &snapshot, &pod, priority);
        if let Outcome::Bound { node } = &decision.outcome {
            if let Some(i) = snapshot.node_index(node) {
                let mut bound = pod.clone();
                bound.node_name = node.clone();
                snapshot.nodes[i].add_pod(std::sync::Arc::new(bound));
            }
        }
        decisions.push(decision);
    }
    decisions
}

#[cfg(test)]
mod tests;
