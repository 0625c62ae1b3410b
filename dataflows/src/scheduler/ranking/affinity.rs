//! A pod under inter-pod affinity decided from its class's ranking, without a pass over every
//! node: InterPodAffinity's states (`filtering.go`'s PreFilter counts, `scoring.go`'s domain
//! scores) single out the nodes in a topology pair with a pod counted in it, found through the
//! [`PlacedIndex`]'s domains. Every other node passes the filter or fails it alike, and scores
//! a raw 0; so the best of them is the first the ranking lists, with one offset for all.
//!
//! What is left to check is normalization over the feasible nodes, which the filter may have
//! narrowed: when the singled-out nodes it rejects change the node-local maxima, or when no
//! node is feasible, the pod is decided in full (`None`); the reference's code then lists
//! every node's verdict.
//!
//! PodTopologySpread must stand aside (the caller checks): its counts are not kept here.

use std::cmp::Reverse;
use std::collections::BTreeSet;

use super::{Ranking, Spread};
use crate::scheduler::config::SchedulerConfig;
use crate::scheduler::explain::MAX_SCORED_NODES;
use crate::scheduler::framework::Plugin;
use crate::scheduler::inter_pod_affinity::{self, AffinityFilterState, AffinityScoreState};
use crate::scheduler::placed::PlacedIndex;
use crate::scheduler::reference::{NodeScore, Outcome, PluginScore, PodDecision};
use crate::scheduler::rows_pod::PodRow;
use crate::scheduler::snapshot::ClusterSnapshot;

/// A feasible node the decision weighs: its position, InterPodAffinity's raw score, and its
/// weighted total.
struct Candidate {
    node: usize,
    raw: i64,
    total: i64,
}

impl Ranking {
    /// The decision on `pod` with InterPodAffinity over `placed` (see the module doc), or
    /// `None` when it must be decided in full.
    pub fn decide_with_affinity(
        &self,
        config: &SchedulerConfig,
        snapshot: &ClusterSnapshot,
        placed: &PlacedIndex,
        pod: &PodRow,
        priority: i32,
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
        let weight = config.weight(Plugin::InterPodAffinity);
        let normalized = |raw: i64| if score.is_some() { inter_pod_affinity::normalized(min, max, raw) } else { 0 };

        let mut candidates: Vec<Candidate> =
            feasible.iter().map(|&(node, raw)| Candidate { node, raw, total: self.total_with(config, &norms, node) + normalized(raw) * weight }).collect();
        if elsewhere {
            let unsingled = self.ranked.iter().filter(|(_, i)| !singled.contains(i)).take(MAX_SCORED_NODES);
            candidates.extend(unsingled.map(|&(Reverse(total), node)| Candidate { node, raw: 0, total: total + normalized(0) * weight }));
        }
        candidates.sort_by_key(|c| (Reverse(c.total), c.node));
        candidates.truncate(MAX_SCORED_NODES);

        let node_score = |c: &Candidate| {
            let plugins: Vec<PluginScore> = config
                .scoring()
                .map(|plugin| {
                    let (raw, normalized) = match plugin {
                        Plugin::InterPodAffinity => (score.as_ref().map(|_| c.raw), normalized(c.raw)),
                        _ => self.plugin_score_with(&norms, plugin, c.node),
                    };
                    PluginScore { plugin, raw, normalized, weight: config.weight(plugin) }
                })
                .collect();
            NodeScore { node: snapshot.nodes[c.node].name().to_string(), total: c.total, plugins }
        };
        let scores: Vec<NodeScore> = candidates.iter().map(node_score).collect();
        let node = scores[0].node.clone();
        Some(PodDecision { namespace: pod.namespace.clone(), name: pod.name.clone(), priority, outcome: Outcome::Bound { node }, filters: vec![], scores })
    }
}
