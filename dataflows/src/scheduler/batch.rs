//! The batch binder's decisions: the pending pods of one complete revision decided in queue
//! order, each against the snapshot plus the claims made so far — bindings in flight from
//! earlier rounds, and the picks of this round.
//!
//! A node no claim touches keeps the dataflow's `(class, node)` evaluation; a claimed node is
//! re-evaluated on the spot with its claims added (capacity, host ports, pod count), and the
//! cluster-wide plugins see every claim as a placed pod. Each pick is so checked against what
//! the batch already took, and the batch places pods exactly as the sequential reference
//! would from the same state: no pick can over-commit a node, and the total score is the
//! reference's.
//!
//! **Three ways to decide.** A pod for which every cluster-wide plugin stands aside — no pod
//! (anti-)affinity on it or on any pod bound or claimed, no spreading of its own or by
//! default, no PreFilter narrowing — is decided from its class's
//! [`Ranking`](super::ranking::Ranking): the feasible nodes ranked once, then kept across
//! rounds ([`Standing`]), each claim and each change in the readout re-ranking only its node.
//! This is the common case and costs `O(log n)` per pod. A pod that differs by pod
//! (anti-)affinity, its own or around it, or by soft spreading (ScheduleAnyway, which upstream's
//! default spreading is: any pod a Service or ReplicaSet selects), is decided from the same
//! ranking with InterPodAffinity and PodTopologySpread's score added over the placed pods,
//! grouped ([`PlacedIndex`](super::placed::PlacedIndex)): only the nodes in a topology pair
//! the affinity states count, and the nodes with pods the spreading counts, are looked at one
//! by one ([`Ranking::decide_with_cluster_plugins`](super::ranking::Ranking::decide_with_cluster_plugins)).
//! Any other pod (DoNotSchedule spreading, a PreFilter narrowing the nodes), and one of those
//! two whose filters leave no node or narrow a normalization, is decided as the reference
//! decides it, over a copy of the snapshot with the claims added. All give the reference's
//! choice, and for a pod they place list the scores of the best [`MAX_SCORED_NODES`] nodes
//! only, which is what the explain view shows, and no per-node verdicts.
//!
//! An unschedulable class of the first kind is remembered across rounds ([`RoundMemo`]):
//! its pods are not decided again until its pairs change or a claim is released.
//!
//! **Never over-commit.** A binding written but not yet seen bound in the feed stays a claim
//! (its pod is still pending in the readout): [`Standing`] keeps it until the readout no
//! longer lists the pod as pending, or the caller says the write failed. Whatever the order
//! in which feeds and writes arrive, a node's claims and bound pods never exceed what its
//! filters allow.

use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::config::SchedulerConfig;
use super::config::SpreadDefaulting;
use super::explain::MAX_SCORED_NODES;
use super::framework::Plugin;
use super::message::FitError;
use super::node_affinity::{self, PreFilter};
use super::pair::ClassId;
use super::pod_topology_spread::constraints_for;
use super::ranking::SoftSpread;
use super::readout::{PodName, Readout, ReadoutError};
use super::reference::{NodeScore, NodeVerdict, Outcome, PodDecision};
use super::rows::{ControllerRef, SpreadConstraint, WhenUnsatisfiable};
use super::rows_pod::PodRow;
use super::snapshot::ClusterSnapshot;
use crate::rows::Labels;

/// A binding in flight: the pod (as pending) and the node it was sent to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Claim {
    pub pod: PodRow,
    pub node: String,
}

/// One round's decision on one pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchDecision {
    pub class: ClassId,
    pub pod: PodRow,
    pub decision: PodDecision,
    /// Decided from the class's ranking (not as the reference decides, over a copy).
    pub ranked: bool,
}

/// An unschedulable class's decision, kept while nothing it rests on has changed.
#[derive(Debug)]
struct Unschedulable {
    /// [`Readout::class_changed`] and the caller's claims epoch when it was made.
    stamp: (u64, u64),
    id: u64,
    decision: PodDecision,
}

/// What rounds remember between them, so that a pod the last rounds found unschedulable is
/// not decided again (nor its Event and explain rows rewritten) until something it depends on
/// changes: its class's pairs, or a claim released without its pod being bound.
///
/// Only pods of the node-local kind (see the module doc) are remembered: whether they fit
/// depends on their class's pairs and the claims alone.
#[derive(Debug, Default)]
pub struct RoundMemo {
    unschedulable: HashMap<ClassId, Unschedulable>,
    /// The pods told a remembered decision, by namespace and name: uid and the decision's id.
    told: HashMap<String, HashMap<String, (String, u64)>>,
    next_id: u64,
}

impl RoundMemo {
    /// Forgets a pod that left the queue.
    pub fn forget(&mut self, (namespace, name): &PodName) {
        if let Some(names) = self.told.get_mut(namespace) {
            names.remove(name);
            if names.is_empty() {
                self.told.remove(namespace);
            }
        }
    }

    fn was_told(&self, pod: &PodRow, id: u64) -> bool {
        self.told.get(&pod.namespace).and_then(|names| names.get(&pod.name)).is_some_and(|(uid, told)| *uid == pod.uid && *told == id)
    }
}

/// How a pod is decided.
enum Way {
    /// From its class's ranking alone.
    NodeLocal,
    /// From its class's ranking, with InterPodAffinity over the placed pods and
    /// PodTopologySpread's score under these constraints.
    Cluster(Option<Arc<SoftConstraints>>),
    /// As the reference decides it, over a copy of the snapshot with the claims.
    Full,
}

/// One round: the readout with the standing claims and rankings, plus what only this round
/// needs (a whole copy of the snapshot with the claims, made only if a pod needs the
/// cluster-wide plugins).
struct Round<'a> {
    config: &'a SchedulerConfig,
    readout: &'a Readout,
    standing: &'a mut Standing,
    full: Option<ClusterSnapshot>,
    spreads: HashMap<(String, Labels, Option<ControllerRef>), Spreading>,
}

/// A pod's spreading (see [`Round::spreading`]).
#[derive(Debug, Clone, Default)]
struct Spreading {
    /// DoNotSchedule constraints, and the filter on.
    hard: bool,
    /// ScheduleAnyway constraints, and the score on.
    soft: Option<Arc<SoftConstraints>>,
}

#[derive(Debug)]
struct SoftConstraints {
    constraints: Vec<SpreadConstraint>,
    require_all: bool,
}

impl<'a> Round<'a> {
    fn snapshot(&self) -> &'a ClusterSnapshot {
        self.readout.snapshot()
    }

    /// Adds a claim as a pod bound to its node (a claim on a node that is gone holds nothing).
    fn claim(&mut self, pod: &PodRow, node: &str) {
        let Some(i) = self.standing.claim(self.readout.snapshot(), pod, node) else { return };
        if let Some(full) = &mut self.full {
            full.nodes[i] = self.standing.overlay()[node].clone();
        }
    }

    /// The snapshot with every claim, for the cluster-wide plugins: each claimed node is its
    /// overlay (the node with its claims added in order).
    fn full(&mut self) -> &ClusterSnapshot {
        let (snapshot, overlay) = (self.readout.snapshot(), self.standing.overlay());
        self.full.get_or_insert_with(|| {
            let mut full = snapshot.clone();
            for (name, claimed) in overlay {
                if let Some(i) = snapshot.node_index(name) {
                    full.nodes[i] = claimed.clone();
                }
            }
            full
        })
    }

    /// How `pod` is decided (see the module doc): from its class's ranking when no PreFilter
    /// narrows the nodes, spreading's filter stands aside (no DoNotSchedule constraint of its
    /// own nor by default) and every term parsed; with the cluster-wide plugins added when a
    /// pod bound, claimed or this one carries pod (anti-)affinity, or this one spreads; else
    /// in full.
    fn way(&mut self, pod: &PodRow) -> Way {
        if self.snapshot().nodes.is_empty() || !pod.constraint_errors.is_empty() {
            return Way::Full;
        }
        if self.config.filters(Plugin::NodeAffinity) && !matches!(node_affinity::pre_filter(pod), PreFilter::Skip | PreFilter::AllNodes) {
            return Way::Full;
        }
        let spreading = self.spreading(pod);
        if spreading.hard {
            Way::Full
        } else if spreading.soft.is_some() || pod.has_pod_affinity() || self.readout.pods_with_affinity() + self.standing.affinity_claims() > 0 {
            Way::Cluster(spreading.soft)
        } else {
            Way::NodeLocal
        }
    }

    /// The pod's spreading as the enabled PodTopologySpread filter and score see it: its own
    /// constraints, or the defaults with the default selector (kept per namespace, labels and
    /// controller, which that selector reads).
    fn spreading(&mut self, pod: &PodRow) -> Spreading {
        let (config, workloads) = (self.config, &self.readout.snapshot().workloads);
        let of = |pod: &PodRow| {
            let hard = config.filters(Plugin::PodTopologySpread)
                && !constraints_for(pod, WhenUnsatisfiable::DoNotSchedule, &config.spread_defaulting, workloads).is_empty();
            let soft =
                config.scores(Plugin::PodTopologySpread).then(|| constraints_for(pod, WhenUnsatisfiable::ScheduleAnyway, &config.spread_defaulting, workloads));
            let require_all = !pod.spread_constraints.is_empty() || !matches!(config.spread_defaulting, SpreadDefaulting::System);
            let soft = soft.filter(|c| !c.is_empty()).map(|constraints| Arc::new(SoftConstraints { constraints, require_all }));
            Spreading { hard, soft }
        };
        if !pod.spread_constraints.is_empty() {
            return of(pod);
        }
        if workloads.is_empty() {
            return Spreading::default();
        }
        self.spreads.entry((pod.namespace.clone(), pod.labels.clone(), pod.controller.clone())).or_insert_with(|| of(pod)).clone()
    }

    /// A node-local pod's decision from its class's ranking: the best node, or no node with
    /// every node's verdict (the reference's decision, with the scores of the best nodes only).
    fn decide_node_local(&mut self, class: ClassId, pod: &PodRow, priority: i32) -> Result<PodDecision, ReadoutError> {
        let (config, snapshot) = (self.config, self.snapshot());
        let ranking = self.standing.ranking(config, self.readout, class, pod)?;
        let decision = |outcome, filters, scores| PodDecision { namespace: pod.namespace.clone(), name: pod.name.clone(), priority, outcome, filters, scores };
        match ranking.best() {
            Some(best) => {
                let scores = ranking.top(MAX_SCORED_NODES).map(|i| ranking.node_score(config, snapshot, i)).collect();
                Ok(decision(Outcome::Bound { node: snapshot.nodes[best].name().to_string() }, vec![], scores))
            }
            None => {
                let mut fit = FitError { num_all_nodes: snapshot.nodes.len(), ..FitError::default() };
                let filters = snapshot
                    .nodes
                    .iter()
                    .zip(ranking.evals())
                    .map(|(info, eval)| {
                        if let Err(r) = &eval.filter {
                            fit.rejections.push(r.clone());
                        }
                        NodeVerdict { node: info.name().to_string(), result: eval.filter.clone() }
                    })
                    .collect();
                Ok(decision(Outcome::Unschedulable { message: fit.message(), fit_error: fit }, filters, vec![]))
            }
        }
    }

    /// A node-local pod's decision, or the one its class was told while nothing it rests on
    /// changed ([`RoundMemo`]); `None` when this pod was told it already.
    fn decide_remembered(&mut self, class: ClassId, pod: &PodRow, priority: i32) -> Result<Option<PodDecision>, ReadoutError> {
        let stamp = (self.readout.class_changed(class), self.standing.epoch());
        let memo = &self.standing.memo;
        let known = memo.unschedulable.get(&class).filter(|m| m.stamp == stamp);
        if known.is_some_and(|m| memo.was_told(pod, m.id)) {
            return Ok(None);
        }
        let decision = match known {
            Some(m) => PodDecision { namespace: pod.namespace.clone(), name: pod.name.clone(), priority, ..m.decision.clone() },
            None => self.decide_node_local(class, pod, priority)?,
        };
        if matches!(decision.outcome, Outcome::Unschedulable { .. }) {
            let memo = &mut self.standing.memo;
            let id = match memo.unschedulable.get_mut(&class) {
                Some(m) if m.decision.outcome == decision.outcome && m.decision.filters == decision.filters => {
                    m.stamp = stamp;
                    m.id
                }
                _ => {
                    memo.next_id += 1;
                    memo.unschedulable.insert(class, Unschedulable { stamp, id: memo.next_id, decision: decision.clone() });
                    memo.next_id
                }
            };
            if memo.was_told(pod, id) {
                return Ok(None);
            }
            memo.told.entry(pod.namespace.clone()).or_default().insert(pod.name.clone(), (pod.uid.clone(), id));
        }
        Ok(Some(decision))
    }

    /// A pod's decision from its class's ranking with the cluster-wide plugins over the placed
    /// pods, or in full when the ranking cannot tell (see
    /// [`Ranking::decide_with_cluster_plugins`]); with whether the ranking decided.
    ///
    /// [`Ranking::decide_with_cluster_plugins`]: super::ranking::Ranking::decide_with_cluster_plugins
    fn decide_with_cluster_plugins(
        &mut self,
        class: ClassId,
        pod: &PodRow,
        priority: i32,
        soft: Option<Arc<SoftConstraints>>,
    ) -> Result<(PodDecision, bool), ReadoutError> {
        let (config, snapshot) = (self.config, self.snapshot());
        let (ranking, placed) = self.standing.ranking_with_placed(config, self.readout, class, pod)?;
        let spread = soft.as_deref().map(|s| SoftSpread { constraints: &s.constraints, require_all: s.require_all });
        match ranking.decide_with_cluster_plugins(config, snapshot, placed, pod, priority, spread) {
            Some(decision) => Ok((decision, true)),
            None => Ok((self.decide_in_full(class, pod, priority)?, false)),
        }
    }

    /// Any pod's decision, as the reference makes it over the snapshot with every claim. A
    /// placed pod keeps, as from a ranking, the scores of the best [`MAX_SCORED_NODES`] nodes
    /// only and no per-node verdicts: those of every node, kept in the explain view for each
    /// placed pod, would hold a few hundred bytes per node and pod.
    fn decide_in_full(&mut self, class: ClassId, pod: &PodRow, priority: i32) -> Result<PodDecision, ReadoutError> {
        let (config, readout) = (self.config, self.readout);
        self.full();
        let (full, overlay) = (self.full.as_ref().expect("made above"), self.standing.overlay());
        let mut decision = readout.decide_with_claims(config, full, class, pod, priority, &|info| overlay.contains_key(info.name()))?;
        if matches!(decision.outcome, Outcome::Bound { .. }) {
            decision.filters = Vec::new();
            decision.scores.sort_by(NodeScore::best_first);
            decision.scores.truncate(MAX_SCORED_NODES);
        }
        Ok(decision)
    }
}

/// Decides up to `limit` pending pods in queue order, with `in_flight` claims, from scratch
/// (a fresh [`Standing`]; see [`decide_round`]).
pub fn decide_batch(
    config: &SchedulerConfig,
    readout: &Readout,
    in_flight: &[Claim],
    skip: &dyn Fn(&PodName) -> bool,
    limit: usize,
) -> Result<Vec<BatchDecision>, ReadoutError> {
    let mut standing = Standing::default();
    for claim in in_flight {
        standing.claim(readout.snapshot(), &claim.pod, &claim.node);
    }
    decide_round(config, readout, &mut standing, skip, limit)
}

/// Decides up to `limit` pending pods in queue order on `standing`, which must have caught up
/// with `readout` ([`Standing::catch_up`]). Pods with a claim in flight are skipped (their
/// binding is on its way), and so are those `skip` names (backing off after a failed write);
/// every other pod is bound, and claimed in `standing`, or found unschedulable. A pod already
/// told its class's unchanged unschedulable decision is left out.
pub fn decide_round(
    config: &SchedulerConfig,
    readout: &Readout,
    standing: &mut Standing,
    skip: &dyn Fn(&PodName) -> bool,
    limit: usize,
) -> Result<Vec<BatchDecision>, ReadoutError> {
    let mut round = Round { config, readout, standing, full: None, spreads: HashMap::new() };
    let mut out = Vec::new();
    let decided = decide_each(&mut round, skip, limit, &mut out);
    if decided.is_err() {
        // The caller sends none of this round's bindings and reports: their claims go, and
        // the pods told an unschedulable decision are told again next time.
        for d in &out {
            let key = (d.pod.namespace.clone(), d.pod.name.clone());
            match d.decision.outcome {
                Outcome::Bound { .. } => round.standing.release(readout, &key),
                Outcome::Unschedulable { .. } => round.standing.forget(&key),
            }
        }
    }
    decided.map(|()| out)
}

/// [`decide_round`]'s loop: decisions go into `out` as they are made.
fn decide_each(round: &mut Round, skip: &dyn Fn(&PodName) -> bool, limit: usize, out: &mut Vec<BatchDecision>) -> Result<(), ReadoutError> {
    let readout = round.readout;
    for (key, priority, class, pod) in readout.queue_keyed() {
        if out.len() >= limit {
            break;
        }
        if round.standing.is_claimed(key) || skip(key) {
            continue;
        }
        let (decision, ranked) = match round.way(pod) {
            Way::NodeLocal => match round.decide_remembered(class, pod, priority)? {
                Some(decision) => (decision, true),
                None => continue,
            },
            Way::Cluster(soft) => round.decide_with_cluster_plugins(class, pod, priority, soft)?,
            Way::Full => (round.decide_in_full(class, pod, priority)?, false),
        };
        if let Outcome::Bound { node } = &decision.outcome {
            round.claim(pod, node);
        }
        out.push(BatchDecision { class, pod: pod.clone(), decision, ranked });
    }
    Ok(())
}

mod standing;
#[cfg(test)]
mod tests;

pub use standing::Standing;
