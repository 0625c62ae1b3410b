//! One class's feasible nodes ranked by weighted total, kept by the batch binder from round
//! to round ([`super::batch::Standing`]): built once from the dataflow's `(class, node)`
//! pairs, then each change (a claim, a node's pair) re-evaluates only its node. Picking the
//! next pod's node is the first entry, so `p` pods of one class over `n` nodes cost
//! `O(p log n)` once the ranking stands, instead of the reference's `O(p × n)`.
//!
//! It serves pods for which PreFilter narrowing and spreading's filter stand aside (see
//! [`super::batch`]). Its totals hold the node-local scores only; InterPodAffinity, when pod
//! (anti-)affinity is about, and PodTopologySpread's score, when the pod spreads, are added
//! per pod by [`Ranking::decide_with_cluster_plugins`] (in `ranking/cluster.rs`, with
//! spreading's counts in `ranking/spread.rs`). A node's total is the sum of node-local scores, normalized as [`super::reference`]
//! normalizes them over the feasible nodes: TaintToleration and NodeAffinity against their
//! maximum, the other plugins as they are (upstream's `DefaultNormalizeScore` and
//! `runScorePlugins`). Those maxima, and whether a plugin skips the pod, are kept as counts
//! over the feasible nodes; when a claim changes them, the totals are recomputed.
//!
//! Ties go to the lowest node name, as in the reference: nodes are ranked by total, then by
//! their index in the snapshot, which is in name order.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};

use super::config::SchedulerConfig;
use super::framework::{default_normalize, Plugin, MAX_NODE_SCORE};
use super::image_locality;
use super::pair::PairEval;
use super::reference::{NodeScore, PluginScore};
use super::rows_pod::PodRow;
use super::snapshot::ClusterSnapshot;

/// What normalization reads of the feasible nodes.
#[derive(Debug, Default, Clone)]
struct Spread {
    taints: BTreeMap<i64, usize>,
    affinities: BTreeMap<i64, usize>,
    affinity_skips: usize,
    balanced_skips: usize,
}

/// [`Spread`] reduced to what the totals depend on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Norms {
    max_taint: i64,
    max_affinity: i64,
    affinity_skipped: bool,
    balanced_skipped: bool,
}

fn count(map: &mut BTreeMap<i64, usize>, key: i64, add: bool) {
    if add {
        *map.entry(key).or_insert(0) += 1;
    } else if let Some(c) = map.get_mut(&key) {
        *c -= 1;
        if *c == 0 {
            map.remove(&key);
        }
    }
}

impl Spread {
    fn account(&mut self, eval: &PairEval, add: bool) {
        count(&mut self.taints, eval.taint, add);
        match eval.node_affinity {
            Some(a) => count(&mut self.affinities, a, add),
            None if add => self.affinity_skips += 1,
            None => self.affinity_skips -= 1,
        }
        if eval.balanced.is_none() {
            if add {
                self.balanced_skips += 1
            } else {
                self.balanced_skips -= 1
            }
        }
    }

    /// The spread without these evaluations (nodes that turned out infeasible).
    fn without<'a>(&self, evals: impl IntoIterator<Item = &'a PairEval>) -> Spread {
        let mut spread = self.clone();
        evals.into_iter().for_each(|e| spread.account(e, false));
        spread
    }

    /// As the reference: the maximum starts at 0 (`DefaultNormalizeScore`), and a plugin that
    /// skips the pod on any feasible node skips it on all.
    fn norms(&self) -> Norms {
        Norms {
            max_taint: self.taints.keys().next_back().copied().unwrap_or(0).max(0),
            max_affinity: self.affinities.keys().next_back().copied().unwrap_or(0).max(0),
            affinity_skipped: self.affinity_skips > 0,
            balanced_skipped: self.balanced_skips > 0,
        }
    }
}

/// `raw` normalized as `DefaultNormalizeScore` normalizes it among scores whose maximum is `max`.
fn normalized_against(max: i64, raw: i64, reverse: bool) -> i64 {
    let mut scores = [max, raw];
    default_normalize(MAX_NODE_SCORE, reverse, &mut scores);
    scores[1]
}

/// One class's nodes, ranked (see the module doc).
#[derive(Debug)]
pub struct Ranking {
    /// Per node of the snapshot, its node-local evaluation for the class.
    evals: Vec<PairEval>,
    /// ImageLocality's score per node (it reads the pod's images and the cluster's, neither of
    /// which a claim changes).
    images: Vec<i64>,
    totals: Vec<i64>,
    ranked: BTreeSet<(Reverse<i64>, usize)>,
    /// The nodes the node-local filters reject, by position.
    infeasible: BTreeSet<usize>,
    spread: Spread,
    norms: Norms,
    /// How far into [`super::batch::Standing`]'s list of nodes whose claims changed this
    /// ranking has caught up.
    pub seen: usize,
}

impl Ranking {
    /// Ranks the nodes of `snapshot` from their evaluations (one per node, in order) for `pod`.
    pub fn new(config: &SchedulerConfig, snapshot: &ClusterSnapshot, pod: &PodRow, evals: Vec<PairEval>, image_counts: &BTreeMap<String, i64>) -> Ranking {
        let images = if config.scores(Plugin::ImageLocality) {
            let total = snapshot.nodes.len() as i64;
            snapshot.nodes.iter().map(|n| image_locality::score(pod, &n.node, image_counts, total)).collect()
        } else {
            vec![0; evals.len()]
        };
        let mut spread = Spread::default();
        evals.iter().filter(|e| e.filter.is_ok()).for_each(|e| spread.account(e, true));
        let infeasible = evals.iter().enumerate().filter(|(_, e)| e.filter.is_err()).map(|(i, _)| i).collect();
        let mut ranking = Ranking { totals: vec![0; evals.len()], evals, images, ranked: BTreeSet::new(), infeasible, norms: spread.norms(), spread, seen: 0 };
        ranking.rerank(config);
        ranking
    }

    fn rerank(&mut self, config: &SchedulerConfig) {
        self.ranked.clear();
        for i in 0..self.evals.len() {
            if self.evals[i].filter.is_ok() {
                self.totals[i] = self.total(config, i);
                self.ranked.insert((Reverse(self.totals[i]), i));
            }
        }
    }

    /// One plugin's raw and normalized score of node `i`, as [`super::reference`] gives them.
    fn plugin_score(&self, plugin: Plugin, i: usize) -> (Option<i64>, i64) {
        self.plugin_score_with(&self.norms, plugin, i)
    }

    /// [`Ranking::plugin_score`] normalized with `norms`, over another set of feasible nodes.
    fn plugin_score_with(&self, norms: &Norms, plugin: Plugin, i: usize) -> (Option<i64>, i64) {
        let e = &self.evals[i];
        match plugin {
            Plugin::TaintToleration => (Some(e.taint), normalized_against(norms.max_taint, e.taint, true)),
            Plugin::NodeAffinity => match e.node_affinity {
                Some(a) if !norms.affinity_skipped => (Some(a), normalized_against(norms.max_affinity, a, false)),
                _ => (None, 0),
            },
            Plugin::NodeResourcesFit => (Some(e.fit), e.fit),
            Plugin::NodeResourcesBalancedAllocation => match e.balanced {
                Some(b) if !norms.balanced_skipped => (Some(b), b),
                _ => (None, 0),
            },
            Plugin::ImageLocality => (Some(self.images[i]), self.images[i]),
            // The cluster-wide plugins stand aside for the pods a ranking serves alone (and
            // InterPodAffinity's and PodTopologySpread's scores are added by
            // `decide_with_cluster_plugins`).
            Plugin::PodTopologySpread | Plugin::InterPodAffinity | Plugin::NodeUnschedulable | Plugin::NodeName | Plugin::NodePorts => (None, 0),
        }
    }

    fn scoring(config: &SchedulerConfig) -> impl Iterator<Item = Plugin> + '_ {
        config.scoring()
    }

    fn total(&self, config: &SchedulerConfig, i: usize) -> i64 {
        self.total_with(config, &self.norms, i)
    }

    fn total_with(&self, config: &SchedulerConfig, norms: &Norms, i: usize) -> i64 {
        Self::scoring(config).map(|p| self.plugin_score_with(norms, p, i).1 * config.weight(p)).sum()
    }

    /// Node `i`'s scores, as the reference lists them for the explain-why view.
    pub fn node_score(&self, config: &SchedulerConfig, snapshot: &ClusterSnapshot, i: usize) -> NodeScore {
        // Sized once: a decision keeps this for each of its top nodes.
        let mut plugins: Vec<PluginScore> = Vec::with_capacity(Plugin::ALL.len());
        plugins.extend(Self::scoring(config).map(|plugin| {
            let (raw, normalized) = self.plugin_score(plugin, i);
            PluginScore { plugin, raw, normalized, weight: config.weight(plugin) }
        }));
        NodeScore { node: snapshot.nodes[i].name().to_string(), total: plugins.iter().map(|p| p.normalized * p.weight).sum(), plugins }
    }

    /// Node `i` has a new evaluation (a claim landed on it).
    pub fn update(&mut self, config: &SchedulerConfig, i: usize, eval: PairEval) {
        let old = std::mem::replace(&mut self.evals[i], eval);
        if old.filter.is_ok() {
            self.ranked.remove(&(Reverse(self.totals[i]), i));
            self.spread.account(&old, false);
        }
        if self.evals[i].filter.is_ok() {
            self.spread.account(&self.evals[i], true);
            self.infeasible.remove(&i);
        } else {
            self.infeasible.insert(i);
        }
        let norms = self.spread.norms();
        if norms != self.norms {
            self.norms = norms;
            self.rerank(config);
        } else if self.evals[i].filter.is_ok() {
            self.totals[i] = self.total(config, i);
            self.ranked.insert((Reverse(self.totals[i]), i));
        }
    }

    /// The best node's index: highest total, then lowest name.
    pub fn best(&self) -> Option<usize> {
        self.ranked.first().map(|(_, i)| *i)
    }

    /// The best `n` nodes' indexes, best first.
    pub fn top(&self, n: usize) -> impl Iterator<Item = usize> + '_ {
        self.ranked.iter().take(n).map(|(_, i)| *i)
    }

    /// Every node's evaluation, in snapshot order.
    pub fn evals(&self) -> &[PairEval] {
        &self.evals
    }
}

mod cluster;
mod spread;

pub use cluster::SoftSpread;
