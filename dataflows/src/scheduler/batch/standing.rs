//! What the batch binder keeps from one round to the next, so that a round costs what changed
//! since the last one (in the readout and in the claims), not the cluster's size:
//!
//! - **Claims.** A binding is a claim from the moment it is decided until the readout no
//!   longer lists its pod as pending with the same uid ([`Standing::catch_up`]), or its write
//!   is refused ([`Standing::release`]). Each claimed node is kept with its claims added (the
//!   overlay), rebuilt from the snapshot's info and its claims whenever either changes.
//! - **Rankings.** A class's [`Ranking`] is built from its pairs once, then follows what
//!   changes: a node whose info, pair or claims changed is evaluated again (from the overlay
//!   if claimed, else from the class's pair). A change of the node list or of the cluster's
//!   images rebuilds them all (positions moved, or every ImageLocality score may have). At most
//!   [`MAX_RANKINGS`] are kept; a class that leaves the queue takes its rankings along.
//! - **The placed pods** ([`PlacedIndex`]): built when a pod under inter-pod affinity is first
//!   decided, then each node whose info or claims changed is counted again; a change of the
//!   node list drops it.
//! - **Remembered unschedulable classes** ([`RoundMemo`]).
//!
//! The invariant, checked under seeded churn against rounds built afresh
//! (`tests/scheduler_churn.rs`): after [`Standing::catch_up`], every ranking and overlay is
//! what a fresh round with the same claims would build, so the decisions are the same.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use super::{Claim, RoundMemo};
use crate::scheduler::config::SchedulerConfig;
use crate::scheduler::pair::{self, ClassId, PairEval};
use crate::scheduler::placed::PlacedIndex;
use crate::scheduler::ranking::Ranking;
use crate::scheduler::readout::{Changes, PodName, Readout, ReadoutError};
use crate::scheduler::rows_pod::PodRow;
use crate::scheduler::snapshot::{ClusterSnapshot, NodeInfo};

/// Rankings kept at most; beyond it the least recently used goes (and is built again when its
/// class is next decided). Each holds an evaluation per node.
pub const MAX_RANKINGS: usize = 64;

/// A class's ranking for pods with these images (ImageLocality reads them).
type RankingKey = (ClassId, Vec<String>);

#[derive(Debug)]
struct Kept {
    /// A pod of the class: the node-local plugins read only what the class shares.
    pod: PodRow,
    ranking: Ranking,
    /// The round it last served, for eviction.
    used: u64,
}

/// The binder's state between rounds (see the module doc).
#[derive(Debug, Default)]
pub struct Standing {
    claims: BTreeMap<PodName, Claim>,
    /// Per node name, its claims in the order made, each as the pod bound there.
    by_node: HashMap<String, Vec<(PodName, Arc<PodRow>)>>,
    /// Claimed nodes the snapshot has, with their claims added.
    overlay: HashMap<String, NodeInfo>,
    /// Claims whose pods carry pod (anti-)affinity terms.
    affinity_claims: usize,
    rankings: HashMap<RankingKey, Kept>,
    /// The pods bound and claimed, once a pod under inter-pod affinity needed them.
    placed: Option<PlacedIndex>,
    /// ImageLocality's node count per image, while the layout stands.
    image_counts: Option<BTreeMap<String, i64>>,
    /// Snapshot positions whose claims changed since the rankings last caught up, in order;
    /// each ranking's `seen` says how far into it it is.
    touched: Vec<usize>,
    pub(super) memo: RoundMemo,
    /// Bumped whenever a claim goes other than by its pod being seen bound on its node:
    /// capacity came back, so remembered unschedulable classes are decided again.
    epoch: u64,
    rounds: u64,
}

impl Standing {
    /// Claims in flight.
    pub fn claims(&self) -> usize {
        self.claims.len()
    }

    /// Whether this pod has a binding in flight.
    pub fn is_claimed(&self, pod: &PodName) -> bool {
        self.claims.contains_key(pod)
    }

    /// The claims in flight, by pod.
    pub fn in_flight(&self) -> impl Iterator<Item = (&PodName, &Claim)> {
        self.claims.iter()
    }

    pub(super) fn epoch(&self) -> u64 {
        self.epoch
    }

    pub(super) fn affinity_claims(&self) -> usize {
        self.affinity_claims
    }

    /// Claimed node names the snapshot has, with their claims added.
    pub(super) fn overlay(&self) -> &HashMap<String, NodeInfo> {
        &self.overlay
    }

    /// Forgets a pod that left the queue, or whose report must be written again.
    pub fn forget(&mut self, pod: &PodName) {
        self.memo.forget(pod);
    }

    /// Records a binding sent for `pod` to `node`: the node holds it from now on. A claim on a
    /// node the snapshot lacks holds nothing there (but keeps its pod from being decided again).
    pub fn claim(&mut self, snapshot: &ClusterSnapshot, pod: &PodRow, node: &str) -> Option<usize> {
        let key = (pod.namespace.clone(), pod.name.clone());
        // A pod claimed again (a caller's list naming it twice) holds only its last node.
        if let Some(was) = self.drop_claim(&key) {
            self.rebuild(snapshot, &was);
            self.touched.extend(snapshot.node_index(&was));
        }
        let mut bound = pod.clone();
        bound.node_name = node.to_string();
        let bound = Arc::new(bound);
        self.affinity_claims += usize::from(bound.has_pod_affinity());
        self.claims.insert(key.clone(), Claim { pod: pod.clone(), node: node.to_string() });
        self.by_node.entry(node.to_string()).or_default().push((key, bound.clone()));
        let i = snapshot.node_index(node)?;
        let claimed = self.overlay.entry(node.to_string()).or_insert_with(|| snapshot.nodes[i].clone());
        claimed.add_pod(bound);
        if let Some(placed) = &mut self.placed {
            placed.refresh(i, claimed);
        }
        self.touched.push(i);
        Some(i)
    }

    /// The write of `pod`'s binding was refused: its node no longer holds it.
    pub fn release(&mut self, readout: &Readout, pod: &PodName) {
        if let Some(node) = self.drop_claim(pod) {
            self.epoch += 1;
            self.rebuild(readout.snapshot(), &node);
            self.touched.extend(readout.snapshot().node_index(&node));
        }
    }

    /// Removes a claim; returns its node.
    fn drop_claim(&mut self, pod: &PodName) -> Option<String> {
        let claim = self.claims.remove(pod)?;
        self.affinity_claims -= usize::from(claim.pod.has_pod_affinity());
        if let Some(on_node) = self.by_node.get_mut(&claim.node) {
            on_node.retain(|(k, _)| k != pod);
            if on_node.is_empty() {
                self.by_node.remove(&claim.node);
            }
        }
        Some(claim.node)
    }

    /// Makes a node's overlay its snapshot info with its claims added (none: no overlay).
    fn rebuild(&mut self, snapshot: &ClusterSnapshot, node: &str) {
        match (self.by_node.get(node), snapshot.node_index(node)) {
            (Some(claims), Some(i)) => {
                let mut info = snapshot.nodes[i].clone();
                for (_, pod) in claims {
                    info.add_pod(pod.clone());
                }
                self.overlay.insert(node.to_string(), info);
            }
            _ => {
                self.overlay.remove(node);
            }
        }
        self.recount(snapshot, node);
    }

    /// Counts a node's pods again in the placed index, as the overlay or the snapshot has them.
    /// A release between two catch-ups may see a snapshot whose node list changed since the
    /// index was built: positions moved, and the next catch-up drops the index, so it is left
    /// as it is until then.
    fn recount(&mut self, snapshot: &ClusterSnapshot, node: &str) {
        let Some(placed) = self.placed.as_mut().filter(|p| p.node_count() == snapshot.nodes.len()) else { return };
        let Some(i) = snapshot.node_index(node) else { return };
        placed.refresh(i, self.overlay.get(node).unwrap_or(&snapshot.nodes[i]));
    }

    /// Follows the readout's `changes` since the last call: settles the claims whose pods it
    /// shows bound or gone, rebuilds the overlay of every claimed node that changed, and brings
    /// every ranking up to date with the nodes, pairs and claims that changed.
    pub fn catch_up(&mut self, config: &SchedulerConfig, readout: &Readout, changes: &Changes) {
        let snapshot = readout.snapshot();
        if changes.layout {
            self.placed = None;
        }
        // A claim lasts while that very pod (by uid) is pending: one replaced under its name
        // meanwhile is a new pod, which the API server refuses the old binding for.
        let mut changed: BTreeSet<String> = BTreeSet::new();
        for key in &changes.pending {
            let Some(claim) = self.claims.get(key) else { continue };
            if readout.pending(key).is_some_and(|(_, p)| p.uid == claim.pod.uid) {
                continue;
            }
            let seen_bound = readout.bound_to(key) == Some(claim.node.as_str());
            let node = self.drop_claim(key).expect("claimed above");
            self.epoch += u64::from(!seen_bound);
            changed.insert(node);
        }
        changed.extend(changes.nodes.iter().filter(|n| self.by_node.contains_key(*n) || self.overlay.contains_key(*n)).cloned());
        for node in &changed {
            self.rebuild(snapshot, node);
        }
        for node in changes.nodes.difference(&changed) {
            self.recount(snapshot, node);
        }
        // An unclaimed node's evaluation is its pair: a change of its info shows in its pairs.

        if changes.layout {
            self.rankings.clear();
            self.image_counts = None;
        }
        self.rankings.retain(|(class, _), _| readout.has_class(*class));
        self.memo.unschedulable.retain(|class, _| readout.has_class(*class));
        let touched = std::mem::take(&mut self.touched);
        let mut rankings = std::mem::take(&mut self.rankings);
        rankings.retain(|(class, _), kept| {
            let mut at: BTreeSet<usize> = touched[kept.ranking.seen..].iter().copied().collect();
            let pairs = changes.pairs.get(class).into_iter().flatten();
            at.extend(changed.iter().chain(pairs).filter_map(|n| snapshot.node_index(n)));
            kept.ranking.seen = 0;
            // A class that lost a node's pair is not complete at this revision: its ranking is
            // built again when next needed (and the readout then says what is missing).
            at.into_iter().all(|i| self.eval(config, readout, *class, &kept.pod, i).map(|eval| kept.ranking.update(config, i, eval)).is_ok())
        });
        self.rankings = rankings;
        self.rounds += 1;
    }

    /// Node `i`'s node-local evaluation for the class, claims included.
    fn eval(&self, config: &SchedulerConfig, readout: &Readout, class: ClassId, pod: &PodRow, i: usize) -> Result<PairEval, ReadoutError> {
        let name = readout.snapshot().nodes[i].name();
        match self.overlay.get(name) {
            Some(claimed) => Ok(pair::evaluate(config, pod, claimed)),
            None => readout.pair(class, name).cloned().ok_or_else(|| ReadoutError::MissingPair { class, node: name.to_string() }),
        }
    }

    /// The class's ranking for pods with `pod`'s images, up to date with every claim.
    pub(super) fn ranking(&mut self, config: &SchedulerConfig, readout: &Readout, class: ClassId, pod: &PodRow) -> Result<&Ranking, ReadoutError> {
        let key = (class, pod.images.clone());
        if !self.rankings.contains_key(&key) {
            let ranking = self.build(config, readout, class, pod)?;
            if self.rankings.len() >= MAX_RANKINGS {
                let oldest = self.rankings.iter().min_by_key(|(_, k)| k.used).map(|(k, _)| k.clone());
                oldest.map(|k| self.rankings.remove(&k));
            }
            self.rankings.insert(key.clone(), Kept { pod: pod.clone(), ranking, used: self.rounds });
        }
        let mut kept = self.rankings.remove(&key).expect("inserted above");
        for &i in &self.touched[kept.ranking.seen..] {
            let eval = self.eval(config, readout, class, &kept.pod, i)?;
            kept.ranking.update(config, i, eval);
        }
        kept.ranking.seen = self.touched.len();
        kept.used = self.rounds;
        Ok(&self.rankings.entry(key).or_insert(kept).ranking)
    }

    /// [`Standing::ranking`], with the placed pods (built if need be) for InterPodAffinity.
    pub(super) fn ranking_with_placed(
        &mut self,
        config: &SchedulerConfig,
        readout: &Readout,
        class: ClassId,
        pod: &PodRow,
    ) -> Result<(&Ranking, &PlacedIndex), ReadoutError> {
        let snapshot = readout.snapshot();
        if self.placed.is_none() {
            let overlay = &self.overlay;
            self.placed = Some(PlacedIndex::build(snapshot, |i| overlay.get(snapshot.nodes[i].name()).unwrap_or(&snapshot.nodes[i])));
        }
        self.ranking(config, readout, class, pod)?;
        let ranking = &self.rankings[&(class, pod.images.clone())].ranking;
        Ok((ranking, self.placed.as_ref().expect("built above")))
    }

    /// A ranking from the class's pairs, claimed nodes evaluated with their claims.
    fn build(&mut self, config: &SchedulerConfig, readout: &Readout, class: ClassId, pod: &PodRow) -> Result<Ranking, ReadoutError> {
        let snapshot = readout.snapshot();
        // The class's pairs come in node name order, as the snapshot's nodes: one pass.
        let mut pairs = readout.class_pairs(class).peekable();
        let mut evals = Vec::with_capacity(snapshot.nodes.len());
        for info in &snapshot.nodes {
            while pairs.next_if(|(node, _)| *node < info.name()).is_some() {}
            let pair = pairs.next_if(|(node, _)| *node == info.name());
            let eval = match (self.overlay.get(info.name()), pair) {
                (Some(claimed), _) => pair::evaluate(config, pod, claimed),
                (None, Some((_, eval))) => eval.clone(),
                (None, None) => return Err(ReadoutError::MissingPair { class, node: info.name().to_string() }),
            };
            evals.push(eval);
        }
        let counts = self.image_counts.get_or_insert_with(|| snapshot.image_node_counts());
        let mut ranking = Ranking::new(config, snapshot, pod, evals, counts);
        ranking.seen = self.touched.len();
        Ok(ranking)
    }
}
