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
//! **Never over-commit.** A binding written but not yet seen bound in the feed stays a claim
//! (its pod is still pending in the readout): the caller keeps it until the readout no longer
//! lists the pod as pending, or the write failed. Whatever the order in which feeds and writes
//! arrive, a node's claims and bound pods never exceed what its filters allow.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::config::SchedulerConfig;
use super::pair::{self, ClassId};
use super::readout::{Readout, ReadoutError};
use super::reference::{Outcome, PodDecision};
use super::rows_pod::PodRow;
use super::snapshot::ClusterSnapshot;

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
}

/// Adds a claim to the snapshot as a pod bound to its node (a claim on a node that is gone
/// holds nothing).
fn add_claim(snapshot: &mut ClusterSnapshot, claim: &Claim) -> bool {
    let Some(i) = snapshot.node_index(&claim.node) else { return false };
    let mut bound = claim.pod.clone();
    bound.node_name = claim.node.clone();
    snapshot.nodes[i].add_pod(bound);
    true
}

/// Decides up to `limit` pending pods in queue order. Pods with a claim in flight are skipped
/// (their binding is on its way), and so are those `skip` names (backing off after a failed
/// write); every other pod is bound or found unschedulable.
pub fn decide_batch(
    config: &SchedulerConfig,
    readout: &Readout,
    in_flight: &[Claim],
    skip: &dyn Fn(&PodRow) -> bool,
    limit: usize,
) -> Result<Vec<BatchDecision>, ReadoutError> {
    let mut snapshot = readout.snapshot();
    let mut claimed: BTreeSet<String> = BTreeSet::new();
    let mut busy: BTreeSet<(String, String)> = BTreeSet::new();
    for claim in in_flight {
        busy.insert((claim.pod.namespace.clone(), claim.pod.name.clone()));
        if add_claim(&mut snapshot, claim) {
            claimed.insert(claim.node.clone());
        }
    }
    let mut pairs_by_class = BTreeMap::new();
    let mut out = Vec::new();
    for (priority, class, pod) in readout.queue() {
        if out.len() >= limit {
            break;
        }
        if busy.contains(&(pod.namespace.clone(), pod.name.clone())) || skip(&pod) {
            continue;
        }
        let pairs = pairs_by_class.entry(class).or_insert_with(|| readout.pairs(class));
        let mut missing = None;
        let decision = super::reference::decide(config, &snapshot, &pod, priority, &mut |info| {
            if claimed.contains(info.name()) {
                return pair::evaluate(config, &pod, info);
            }
            match pairs.get(info.name()) {
                Some(eval) => (*eval).clone(),
                None => {
                    missing.get_or_insert_with(|| info.name().to_string());
                    pair::evaluate(config, &pod, info)
                }
            }
        });
        if let Some(node) = missing {
            return Err(ReadoutError::MissingPair { class, node });
        }
        if let Outcome::Bound { node } = &decision.outcome {
            let claim = Claim { pod: pod.clone(), node: node.clone() };
            if add_claim(&mut snapshot, &claim) {
                claimed.insert(node.clone());
            }
        }
        out.push(BatchDecision { class, pod, decision });
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
