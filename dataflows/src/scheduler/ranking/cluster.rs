//! A pod under the cluster-wide plugins decided from its class's ranking, without a pass that
//! weighs every node: InterPodAffinity (its own terms, or terms of pods placed) and
//! PodTopologySpread's score (ScheduleAnyway constraints, its own or by default).
//!
//! - **InterPodAffinity.** Its states (`filtering.go`'s PreFilter counts, `scoring.go`'s
//!   domain scores) single out the nodes in a topology pair with a pod counted in it, found
//!   through the [`PlacedIndex`]'s domains. Every other node passes the filter or fails it
//!   alike, and scores a raw 0.
//! - **PodTopologySpread** ([`RankedSpread`]): the nodes with matching pods on them are
//!   scored one by one; every other node scores by its domain alone.
//!
//! So every node is either weighed on its own (singled out or touched), or its total is its
//! ranking total plus a bonus that depends on its domain only, at most the best domain's. The
//! ranking lists those in order of their ranking totals, so they are read from its head until
//! none of the rest could enter the best [`MAX_SCORED_NODES`].
//!
//! What is left to check is normalization over the feasible nodes, which the filter may have
//! narrowed: when the singled-out nodes it rejects change the node-local maxima, or when no
//! node is feasible, the pod is decided in full (`None`); the reference's code then lists
//! every node's verdict. A spreading shape [`RankedSpread`] does not cover is decided in full
//! too, and so is a pod with DoNotSchedule constraints (the caller checks).

use std::cmp::Reverse;
use std::collections::{BTreeSet, HashMap};

use super::spread::RankedSpread;
use super::{Ranking, Spread};
use crate::scheduler::config::SchedulerConfig;
use crate::scheduler::explain::MAX_SCORED_NODES;
use crate::scheduler::framework::Plugin;
use crate::scheduler::inter_pod_affinity::{self, AffinityFilterState, AffinityScoreState};
use crate::scheduler::placed::PlacedIndex;
use crate::scheduler::reference::{NodeScore, Outcome, PluginScore, PodDecision};
use crate::scheduler::rows::SpreadConstraint;
use crate::scheduler::rows_pod::PodRow;
use crate::scheduler::selectors::label_value;
use crate::scheduler::snapshot::ClusterSnapshot;

/// A pod's ScheduleAnyway constraints, for PodTopologySpread's score.
#[derive(Debug, Clone, Copy)]
pub struct SoftSpread<'c> {
    pub constraints: &'c [SpreadConstraint],
    /// Nodes lacking a topology key are left out of scoring (see [`RankedSpread`]).
    pub require_all: bool,
}

/// The feasible nodes of a decision: the ranking's, less the singled-out nodes the affinity
/// filter rejects; or, when only singled-out nodes may pass it, those that do.
pub(super) struct FeasibleNodes<'r> {
    ranking: &'r Ranking,
    singled: &'r BTreeSet<usize>,
    singled_feasible: &'r BTreeSet<usize>,
    rejected: &'r [usize],
    elsewhere: bool,
    count: usize,
}

impl FeasibleNodes<'_> {
    pub fn contains(&self, i: usize) -> bool {
        if self.singled.contains(&i) {
            self.singled_feasible.contains(&i)
        } else {
            self.elsewhere && self.ranking.evals[i].filter.is_ok()
        }
    }

    pub fn count(&self) -> usize {
        self.count
    }

    /// Per value of `key`, how many feasible nodes have it (the rest lack the key); `None` if
    /// the index and the snapshot disagree on a node's labels. It costs the fewer of the
    /// feasible and the infeasible nodes, not a pass over all.
    pub fn per_value<'s>(&self, key: &str, snapshot: &'s ClusterSnapshot, placed: &'s PlacedIndex) -> Option<HashMap<&'s str, usize>> {
        let value_of = |i: usize| label_value(&snapshot.nodes[i].node.labels, key);
        let mut counts: HashMap<&'s str, usize> = HashMap::new();
        let ranking = self.ranking;
        if !self.elsewhere {
            self.singled_feasible.iter().filter_map(|i| value_of(*i)).for_each(|v| *counts.entry(v).or_insert(0) += 1);
        } else if ranking.infeasible.len() + self.rejected.len() <= ranking.ranked.len() {
            counts.extend(placed.values(key).map(|(v, nodes)| (v, nodes.len())));
            for i in ranking.infeasible.iter().chain(self.rejected) {
                if let Some(v) = value_of(*i) {
                    let n = counts.get_mut(v).filter(|n| **n > 0)?;
                    *n -= 1;
                }
            }
            counts.retain(|_, n| *n > 0);
        } else {
            let rejected: BTreeSet<usize> = self.rejected.iter().copied().collect();
            let feasible = ranking.ranked.iter().map(|(_, i)| *i).filter(|i| !rejected.contains(i));
            feasible.filter_map(value_of).for_each(|v| *counts.entry(v).or_insert(0) += 1);
        }
        Some(counts)
    }
}

/// A feasible node the decision weighs: its position, InterPodAffinity's raw score, and its
/// weighted total.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    node: usize,
    raw: i64,
    total: i64,
}

impl Candidate {
    fn order(&self) -> (Reverse<i64>, usize) {
        (Reverse(self.total), self.node)
    }
}

/// The best [`MAX_SCORED_NODES`] candidates, best first.
#[derive(Default)]
struct Best(Vec<Candidate>);

impl Best {
    fn offer(&mut self, c: Candidate) {
        let at = self.0.partition_point(|b| b.order() < c.order());
        if at < MAX_SCORED_NODES {
            self.0.insert(at, c);
            self.0.truncate(MAX_SCORED_NODES);
        }
    }

    /// Whether no node ranked after `(bound, node)` could enter: each has a total of at most
    /// `bound`, and an equal total only with a position after `node`.
    fn closed_to(&self, bound: i64, node: usize) -> bool {
        self.0.len() == MAX_SCORED_NODES && self.0.last().is_some_and(|last| (Reverse(bound), node) > last.order())
    }
}

impl Ranking {
    /// The decision on `pod` with InterPodAffinity over `placed`, and PodTopologySpread's
    /// score when `spread` is given (see the module doc), or `None` when it must be decided
    /// in full.
    pub fn decide_with_cluster_plugins(
        &self,
        config: &SchedulerConfig,
        snapshot: &ClusterSnapshot,
        placed: &PlacedIndex,
        pod: &PodRow,
        priority: i32,
        spread: Option<SoftSpread<'_>>,
    ) -> Option<PodDecision> {
        let namespaces = &snapshot.namespaces;
        let filter = config.filters(Plugin::InterPodAffinity).then(|| AffinityFilterState::compute_over(pod, namespaces, placed.groups(snapshot))).flatten();
        let score = config
            .scores(Plugin::InterPodAffinity)
            .then(|| AffinityScoreState::compute_over(pod, namespaces, placed.groups(snapshot), &config.inter_pod_affinity))
            .flatten();

        let mut singled: BTreeSet<usize> = BTreeSet::new();
        let domains = filter.iter().flat_map(|f| f.counted_domains()).chain(score.iter().flat_map(|s| s.scored_domains()));
        for (key, value) in domains {
            singled.extend(placed.domain(key, value));
        }
        // Whether a node singled out by nothing passes the filter.
        let elsewhere = match filter.as_ref().map(|f| f.passes_elsewhere(pod)) {
            None => true,
            Some(Some(passes)) => passes,
            Some(None) => {
                let every = |key: &str| placed.nodes_with_key(key) == snapshot.nodes.len();
                if !pod.required_affinity.iter().all(|t| every(&t.topology_key)) {
                    return None;
                }
                true
            }
        };

        let raw_of = |i: usize| score.as_ref().map_or(0, |s| s.score(&snapshot.nodes[i].node));
        let (mut feasible, mut rejected) = (Vec::new(), Vec::new());
        for &i in singled.iter().filter(|i| self.evals[**i].filter.is_ok()) {
            match filter.as_ref().map_or(Ok(()), |f| f.filter(pod, &snapshot.nodes[i].node)) {
                Ok(()) => feasible.push((i, raw_of(i))),
                Err(_) => rejected.push(i),
            }
        }
        let others = if elsewhere { self.ranked.len() - feasible.len() - rejected.len() } else { 0 };
        if feasible.is_empty() && others == 0 {
            return None;
        }
        let norms = if elsewhere {
            let narrowed = self.spread.without(rejected.iter().map(|i| &self.evals[*i])).norms();
            if narrowed != self.norms {
                return None;
            }
            self.norms
        } else {
            let mut spread = Spread::default();
            feasible.iter().for_each(|(i, _)| spread.account(&self.evals[*i], true));
            spread.norms()
        };

        // InterPodAffinity's normalization over the feasible nodes: the others all score 0.
        let raws = feasible.iter().map(|(_, raw)| *raw).chain((others > 0).then_some(0));
        let (min, max) = raws.fold((i64::MAX, i64::MIN), |(lo, hi), r| (lo.min(r), hi.max(r)));
        let affinity_weight = config.weight(Plugin::InterPodAffinity);
        let normalized = |raw: i64| if score.is_some() { inter_pod_affinity::normalized(min, max, raw) } else { 0 };

        let singled_feasible: BTreeSet<usize> = feasible.iter().map(|(i, _)| *i).collect();
        let nodes = FeasibleNodes {
            ranking: self,
            singled: &singled,
            singled_feasible: &singled_feasible,
            rejected: &rejected,
            elsewhere,
            count: feasible.len() + others,
        };
        let spread = match spread {
            Some(s) => Some(RankedSpread::compute(pod, s.constraints, s.require_all, snapshot, placed, &nodes)?),
            None => None,
        };
        let spread_weight = config.weight(Plugin::PodTopologySpread);
        let spread_bonus = |i: usize| spread.as_ref().map_or(0, |s| s.normalized(i) * spread_weight);

        // Nodes weighed on their own: singled out, or touched by spreading.
        let mut best = Best::default();
        let touched: Vec<usize> = spread.iter().flat_map(|s| s.touched()).filter(|i| !singled.contains(i) && nodes.contains(*i)).collect();
        for (node, raw) in feasible.iter().copied().chain(touched.iter().map(|&i| (i, 0))) {
            best.offer(Candidate { node, raw, total: self.total_with(config, &norms, node) + normalized(raw) * affinity_weight + spread_bonus(node) });
        }
        // The rest, from the ranking's head, while one could still enter the best.
        if elsewhere {
            let offset = normalized(0) * affinity_weight;
            let most = spread.as_ref().map_or(0, |s| s.most_untouched() * spread_weight);
            let unweighed = self.ranked.iter().filter(|(_, i)| !singled.contains(i) && !spread.as_ref().is_some_and(|s| s.is_touched(*i)));
            for &(Reverse(total), node) in unweighed {
                if best.closed_to(total + offset + most, node) {
                    break;
                }
                best.offer(Candidate { node, raw: 0, total: total + offset + spread_bonus(node) });
            }
        }

        let node_score = |c: &Candidate| {
            let plugins: Vec<PluginScore> = config
                .scoring()
                .map(|plugin| {
                    let (raw, normalized) = match (plugin, &spread) {
                        (Plugin::InterPodAffinity, _) => (score.as_ref().map(|_| c.raw), normalized(c.raw)),
                        (Plugin::PodTopologySpread, Some(s)) => (Some(s.raw(c.node)), s.normalized(c.node)),
                        _ => self.plugin_score_with(&norms, plugin, c.node),
                    };
                    PluginScore { plugin, raw, normalized, weight: config.weight(plugin) }
                })
                .collect();
            NodeScore { node: snapshot.nodes[c.node].name().to_string(), total: c.total, plugins }
        };
        let scores: Vec<NodeScore> = best.0.iter().map(node_score).collect();
        let node = scores.first()?.node.clone();
        Some(PodDecision { namespace: pod.namespace.clone(), name: pod.name.clone(), priority, outcome: Outcome::Bound { node }, filters: vec![], scores })
    }
}
