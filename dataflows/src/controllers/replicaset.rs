//! ReplicaSet and ReplicationController controller: keep `spec.replicas` active pods owned
//! through `ownerReferences`, as upstream's replica set controller.
//!
//! ```text
//! workloads ─ key by hash(uid) ─────────────┐
//! pods ─ key by hash(controller owner uid) ─┴─ join ─ filter(uid) ─▶ Owned ──────────┐
//! workloads(not deleting) ─ key by hash(ns, first label) ─┐                           │
//! orphan pods ─ key by each hash(ns, label) ──────────────┴─ join ─ filter(ns, selector) ─▶ Orphan ─┤
//! claims (Owned, Orphan) ─ availability deadlines ─┐
//! clock ────────────────────────────────────────────┴─ expired ─▶ Available ───────────────────┤
//! workloads ─────────────────────────────────────────────────────▶ Workload ─────────────────┴─ reduce per family ─▶ intents
//! ```
//! Members are keyed by the workload's family ([`family_of`]: the workloads that share its
//! controller, a Deployment's ReplicaSets), because upstream ranks a pod for deletion by how
//! many of the family's pods share its node. Per workload: owned pods whose labels stopped
//! matching are released; matching orphans are adopted; missing replicas are created under
//! deterministic names (`<name>-<5 chars of uid and index>`), so a lagging feed or a restart
//! can never create a second pod for one replica; surplus pods are deleted in upstream's
//! order ([`deletion_rank`]). Status is written through the status subresource; a pod counts
//! as available once it has been ready for the workload's `minReadySeconds` by the clock
//! ([`crate::clock`]), which only the pods whose deadline a tick passes feel.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use compact_str::CompactString;

use differential_dataflow::VecCollection;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::controllers::token::suffix;
use crate::controllers::{join_key, keyed_once};
use crate::deadlines::{Micros, MICROS_PER_SECOND};
use crate::rows::{OwnerRef, PodPhase, PodRow, ReplicaSetRow};
use crate::types::{Diff, Intent, Kind, ObjectKey, Revision, Text};

/// What the reduce gathers per family. It holds one per pod, so the rare members are boxed
/// and each is two words.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Member {
    /// Each is the input's own shared row: the joins' and the reduce's arrangements copy a
    /// pointer when they merge, and no member copies any of the row's fields.
    Workload(Arc<ReplicaSetRow>),
    Owned(Arc<PodRow>),
    /// An orphan that the workload with this uid selects.
    Orphan(Box<(String, Arc<PodRow>)>),
    /// The pod with this uid has been ready for the `minReadySeconds` of the workload with
    /// that uid, by the clock: it is available ([`availability_deadline`]).
    Available(Box<(String, CompactString)>),
}

const _: () = assert!(std::mem::size_of::<Member>() == 16, "a member is two words");

/// A workload's family: the workloads of its kind and namespace that share its controller
/// owner (a Deployment's ReplicaSets), keyed `(kind, namespace, controller uid)`; a workload with no
/// controller is a family of one, keyed by its own uid. The controller decides a family at
/// once, because upstream ranks a pod for deletion by the family's pods on its node.
pub fn family_of(w: &ReplicaSetRow) -> (Kind, String, String) {
    let uid = w.controller().map_or(&w.uid, |c| &c.uid);
    (w.kind, w.namespace.clone(), uid.clone())
}

/// How many of a family's active pods run on each node: upstream's rank for deletion
/// (`getPodsRankedByRelatedPodsOnSameNode`), by which a pod doubled up with its relatives
/// goes first. Upstream's related pods are those that the selectors of every ReplicaSet with
/// the workload's controller list; here they are the ones the family claims (owned and
/// matching, or orphans it adopts), which leaves out a matching pod that another controller
/// owns, and an orphan that only a workload being deleted selects. A workload with no
/// controller has no related pods upstream: every rank is 0.
#[derive(Debug, Default)]
pub struct Colocation<'p>(HashMap<&'p str, i64>);

impl<'p> Colocation<'p> {
    fn of(pods: impl IntoIterator<Item = &'p PodRow>) -> Colocation<'p> {
        let mut seen = BTreeSet::new();
        let mut on_node: HashMap<&'p str, i64> = HashMap::new();
        for p in pods {
            if p.is_active() && seen.insert(p.name.as_str()) {
                *on_node.entry(p.node.as_str()).or_default() += 1;
            }
        }
        Colocation(on_node)
    }

    fn rank(&self, node: &str) -> i64 {
        self.0.get(node).copied().unwrap_or(0)
    }
}

fn status_content(replicas: i64, fully_labeled: i64, ready: i64, available: i64, generation: i64) -> String {
    status_json(replicas, fully_labeled, ready, available, generation).to_string()
}

fn status_json(replicas: i64, fully_labeled: i64, ready: i64, available: i64, generation: i64) -> Value {
    json!({"status": {
        "replicas": replicas,
        "fullyLabeledReplicas": fully_labeled,
        "readyReplicas": ready,
        "availableReplicas": available,
        "observedGeneration": generation,
    }})
}

/// The status fields this controller writes, as they stand on an object.
pub fn observed_status(v: &Value) -> String {
    let n = |k: &str| v.pointer(&format!("/status/{k}")).and_then(Value::as_i64).unwrap_or(0);
    status_content(n("replicas"), n("fullyLabeledReplicas"), n("readyReplicas"), n("availableReplicas"), n("observedGeneration"))
}

pub fn workload_key(w: &ReplicaSetRow) -> ObjectKey {
    ObjectKey::new(w.kind, w.namespace.clone(), w.name.clone())
}

pub fn controller_ref(w: &ReplicaSetRow) -> OwnerRef {
    OwnerRef {
        api_version: w.kind.api_version().into(),
        kind: w.kind.kind_name().into(),
        name: w.name.clone(),
        uid: w.uid.clone(),
        controller: true,
        block_owner_deletion: true,
    }
}

fn owners_patch(owners: &[OwnerRef]) -> String {
    let list: Vec<Value> = owners.iter().map(OwnerRef::to_json).collect();
    let value = if list.is_empty() { Value::Null } else { Value::Array(list) };
    json!({"metadata": {"ownerReferences": value}}).to_string()
}

/// The name of the `index`-th replica of a workload.
pub fn pod_name(w: &ReplicaSetRow, index: usize) -> String {
    format!("{}-{}", w.name, suffix(&format!("{}/{index}", w.uid)))
}

fn pod_body(w: &ReplicaSetRow, name: &str) -> String {
    let template: Value = serde_json::from_str(&w.template).unwrap_or_else(|_| json!({}));
    let mut metadata = template.get("metadata").cloned().filter(Value::is_object).unwrap_or_else(|| json!({}));
    metadata["name"] = json!(name);
    metadata["namespace"] = json!(w.namespace);
    metadata["ownerReferences"] = json!([controller_ref(w).to_json()]);
    if let Some(m) = metadata.as_object_mut() {
        m.remove("creationTimestamp");
    }
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": template.get("spec").cloned().unwrap_or_else(|| json!({}))}).to_string()
}

/// The sort key of upstream's deletion order (`ActivePodsWithRanks.Less` in
/// `pkg/controller/controller_utils.go`): the pod that sorts first is deleted first.
/// 1. unscheduled before scheduled;
/// 2. Pending (or an unset phase), then Unknown, then Running;
/// 3. not ready before ready;
/// 4. lower `pod-deletion-cost` first;
/// 5. more of the family's active pods on the pod's node first ([`Colocation`]);
/// 6. both ready: the one ready for the shortest time first, one with no ready time first of all;
/// 7. more container restarts first, then more sidecar restarts;
/// 8. no creation time first, then the newest;
///
/// then by name, so that the choice is deterministic. Upstream compares the times of 6 and 8
/// on a logarithmic scale of their age against its clock (`LogarithmicScaleDown`), and two
/// pods whose differing times fall in one power-of-two bucket go by uid, skipping the rules
/// after; the dataflows read no clock, so the times compare exactly (as upstream does when it
/// has no clock reading). The two orders agree whenever two pods' ages fall in different
/// buckets.
#[allow(clippy::type_complexity)]
fn deletion_rank<'p>(
    p: &'p PodRow,
    colocated: &Colocation,
) -> (bool, u8, bool, i32, Reverse<i64>, (bool, Reverse<i64>), (Reverse<i32>, Reverse<i32>), (bool, Reverse<i64>), &'p str) {
    // Upstream's `podPhaseToOrdinal` is a map: a phase it does not name (an unset one) reads
    // as 0, like Pending. Finished pods are not active, so never ranked.
    let phase = match p.phase {
        PodPhase::Pending | PodPhase::Other => 0,
        PodPhase::Unknown => 1,
        PodPhase::Running => 2,
        PodPhase::Succeeded | PodPhase::Failed => 3,
    };
    // Upstream's `afterOrZero`: the zero time first, then the later time.
    let zero_then_latest = |t: i64| (t != 0, Reverse(t));
    let ready_time = if p.ready { zero_then_latest(p.ready_since) } else { zero_then_latest(0) };
    (
        !p.node.is_empty(),
        phase,
        p.ready,
        p.deletion_cost,
        Reverse(colocated.rank(&p.node)),
        ready_time,
        (Reverse(p.restarts), Reverse(p.sidecar_restarts)),
        zero_then_latest(p.created),
        p.name.as_str(),
    )
}

/// One workload's replica diff, the `replica-diffs` view: how many replicas it wants, how
/// many active pods it has (those it owns that match, and the orphans it adopts, as upstream
/// counts the pods it claims; and how many of those are ready), and what this round of the
/// controller does about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplicaDiff {
    /// `ReplicaSet` or `ReplicationController`, which share the view's `namespace/name` keys.
    pub kind: &'static str,
    pub desired: i64,
    pub actual: i64,
    pub ready: i64,
    /// Ready for the workload's `minReadySeconds`, by the clock.
    pub available: i64,
    pub to_create: i64,
    pub to_delete: i64,
    pub to_adopt: i64,
    pub to_release: i64,
}

impl ReplicaDiff {
    pub fn to_text(&self) -> Text {
        serde_json::to_string(self).unwrap_or_default().into()
    }
}

/// What the controller decides for one workload: its diff and the intents that close it.
pub struct Decision {
    pub diff: ReplicaDiff,
    pub intents: Vec<Intent>,
}

/// When a ready pod that `w` claims becomes available, in the clock's microseconds: once the
/// clock is past its Ready condition's `lastTransitionTime` plus the workload's
/// `minReadySeconds` (upstream's `IsPodAvailable`). None when that is not a matter of time:
/// a workload with no `minReadySeconds` counts every ready pod available, and a pod not ready,
/// or ready with no transition time, is never available.
pub fn availability_deadline(w_min_ready_seconds: i64, p: &PodRow) -> Option<Micros> {
    (w_min_ready_seconds > 0 && p.ready && p.ready_since != 0).then(|| (p.ready_since + w_min_ready_seconds) * MICROS_PER_SECOND)
}

/// A claimed pod's availability deadline, keyed by the workload's uid and the pod's.
#[allow(clippy::type_complexity)]
fn claim_deadline(w: &ReplicaSetRow, p: &PodRow) -> Option<(String, CompactString, Micros)> {
    availability_deadline(w.min_ready_seconds, p).map(|at| (w.uid.clone(), p.uid.clone(), at))
}

/// Whether a pod `w` claims is available: ready, and for `minReadySeconds` when it has
/// some (`passed`: the uids of its pods whose [`availability_deadline`] the clock passed).
fn is_available(w: &ReplicaSetRow, p: &PodRow, passed: &BTreeSet<&str>) -> bool {
    p.ready && (w.min_ready_seconds <= 0 || passed.contains(p.uid.as_str()))
}

/// The decision for one workload given its members. Shared by the dataflow and the
/// reference: what differs between them is how members are found, which is what the churn
/// test checks. A workload being deleted is the garbage collector's: it gets its diff, with
/// nothing to do.
pub fn decide(w: &ReplicaSetRow, owned: &[&PodRow], orphans: &[&PodRow], passed: &BTreeSet<&str>, colocated: &Colocation) -> Decision {
    let mut out = Vec::new();
    let pod_key = |name: &str| ObjectKey::new(Kind::Pod, w.namespace.clone(), name);
    let (matching, released): (Vec<&PodRow>, Vec<&PodRow>) = owned.iter().copied().partition(|p| w.selector.matches(&p.labels));
    let mut active: Vec<&PodRow> = matching.iter().copied().filter(|p| p.is_active()).collect();
    // Orphans are claimed before replicas are counted, as upstream's ClaimPods does, so that
    // adopting one never comes with creating another.
    let adopting: Vec<&PodRow> = orphans.iter().copied().filter(|p| p.is_active()).collect();
    let ready = active.iter().chain(&adopting).filter(|p| p.ready).count() as i64;
    let available = active.iter().chain(&adopting).filter(|p| is_available(w, p, passed)).count() as i64;
    let actual = (active.len() + adopting.len()) as i64;
    let mut diff = ReplicaDiff { kind: w.kind.kind_name(), desired: w.replicas, actual, ready, available, ..ReplicaDiff::default() };
    if w.deleting {
        return Decision { diff, intents: out };
    }
    for p in &released {
        // Its labels no longer match: release it.
        let rest: Vec<OwnerRef> = p.owners.iter().filter(|o| o.uid != w.uid).cloned().collect();
        out.push(Intent::Patch { key: pod_key(&p.name), patch: owners_patch(&rest).into() });
    }
    diff.to_release = released.len() as i64;
    for p in &adopting {
        let mut owners = p.owners.to_vec();
        owners.push(controller_ref(w));
        out.push(Intent::Patch { key: pod_key(&p.name), patch: owners_patch(&owners).into() });
    }
    diff.to_adopt = adopting.len() as i64;
    let missing = w.replicas - diff.actual;
    if missing > 0 {
        let taken: BTreeSet<&str> = owned.iter().map(|p| p.name.as_str()).collect();
        let names = (0..).map(|i| pod_name(w, i)).filter(|n| !taken.contains(n.as_str())).take(missing as usize);
        for name in names {
            out.push(Intent::Create { key: pod_key(&name), body: pod_body(w, &name).into() });
        }
        diff.to_create = missing;
    } else if missing < 0 {
        // Only pods already owned are deleted; one being adopted is, if still surplus, once
        // its owner reference is written (one write per pod per round).
        active.sort_by_cached_key(|p| deletion_rank(p, colocated));
        let surplus = active.len().min((-missing) as usize);
        for p in &active[..surplus] {
            out.push(Intent::Delete { key: pod_key(&p.name) });
        }
        diff.to_delete = surplus as i64;
    }
    let status = status_content(diff.actual, diff.actual, diff.ready, diff.available, w.generation);
    // Upstream's calculateStatus drops ReplicaFailure once a sync has nothing to fail at.
    let failure_over = w.replica_failure.is_some() && diff.to_create == 0 && diff.to_delete == 0;
    if status != w.status || failure_over {
        // A ReplicaSet's only condition is ReplicaFailure: the patch removes them all.
        let patch = if failure_over {
            let mut patch = status_json(diff.actual, diff.actual, diff.ready, diff.available, w.generation);
            patch["status"]["conditions"] = Value::Null;
            patch.to_string()
        } else {
            status
        };
        out.push(Intent::PatchStatus { key: workload_key(w), patch: patch.into() });
    }
    Decision { diff, intents: out }
}

/// A workload with what it claims: the pods it owns, the orphans it selects, and the uids of
/// those available by the clock.
type WorkloadClaims<'a> = (&'a ReplicaSetRow, Vec<&'a PodRow>, Vec<&'a PodRow>, BTreeSet<&'a str>);

/// The decisions for one family ([`family_of`]) given its workloads, the pods they own, the
/// orphans each selects, and the pods available by the clock to each (both by the workload's
/// uid). Shared by the dataflow and the reference.
pub fn decide_family(workloads: &[&ReplicaSetRow], owned: &[&PodRow], orphans: &[(&str, &PodRow)], passed: &[(&str, &str)]) -> Vec<(ObjectKey, Decision)> {
    let controlled_by = |p: &PodRow, w: &ReplicaSetRow| p.controller().is_some_and(|c| c.uid == w.uid);
    let members: Vec<WorkloadClaims> = workloads
        .iter()
        .map(|w| {
            let own = owned.iter().copied().filter(|p| controlled_by(p, w)).collect();
            let selected = orphans.iter().filter(|(uid, _)| *uid == w.uid).map(|(_, p)| *p).collect();
            let available = passed.iter().filter(|(uid, _)| *uid == w.uid).map(|(_, pod)| *pod).collect();
            (*w, own, selected, available)
        })
        .collect();
    let controlled = |w: &ReplicaSetRow| w.controller().is_some();
    let claimed = members.iter().filter(|(w, ..)| controlled(w));
    let colocated = Colocation::of(claimed.flat_map(|(w, own, selected, _)| own.iter().filter(|p| w.selector.matches(&p.labels)).chain(selected).copied()));
    let alone = Colocation::default();
    members
        .iter()
        .map(|(w, own, selected, available)| (workload_key(w), decide(w, own, selected, available, if controlled(w) { &colocated } else { &alone })))
        .collect()
}

/// A row of the decide reduce's output: the workload's diff, or one of its intents. Rows
/// apart, so that a change of the diff leaves the unchanged intents where they are.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
enum Outcome {
    Diff(ObjectKey, Text),
    Intent(Intent),
}

/// The dataflow: the replica diff (the `replica-diffs` view) and the intents of every
/// ReplicaSet and ReplicationController.
#[allow(clippy::type_complexity)]
pub fn replicasets<'s>(
    workloads: VecCollection<'s, Revision, Arc<ReplicaSetRow>, Diff>,
    pods: VecCollection<'s, Revision, Arc<PodRow>, Diff>,
    clock: VecCollection<'s, Revision, Micros, Diff>,
) -> (VecCollection<'s, Revision, (ObjectKey, Text), Diff>, VecCollection<'s, Revision, Intent, Diff>) {
    // Joins meet on hashes of the uid and of the labels ([`join_key`]); each match is then
    // checked on the strings themselves, which keeps it exact.
    let by_uid = workloads.clone().map(|w| (join_key(&w.uid), w));
    let owned_pods = pods.clone().flat_map(|p| {
        let c = p.controller()?;
        matches!(c.kind.as_str(), "ReplicaSet" | "ReplicationController").then(|| (join_key(&c.uid), p.clone()))
    });
    // Each claimed pod with the workload's deadline for it, if it has one.
    let owned = by_uid
        .join_map(owned_pods, |_, w, p| {
            // Owner references never cross namespaces: one that does is not the workload's.
            let controlled = p.controller().is_some_and(|c| c.uid == w.uid) && p.namespace == w.namespace;
            controlled.then(|| (family_of(w), Member::Owned(p.clone()), claim_deadline(w, p)))
        })
        .flat_map(|owned| owned);

    // Orphans are matched by label: each workload on one of its labels (or on its namespace
    // alone when it selects by expressions only), each orphan on all of its labels.
    let seeking = workloads.clone().filter(|w| !w.deleting).map(|w| {
        let (k, v) = w.selector.match_labels.first().cloned().unwrap_or_default();
        (join_key(&(&w.namespace, k, v)), w)
    });
    let orphan_pods = pods.filter(|p| p.controller().is_none() && p.is_active()).flat_map(|p| {
        let keys: Vec<u64> = p.labels.iter().map(|(k, v)| join_key(&(&p.namespace, k, v))).chain([join_key(&(&p.namespace, "", ""))]).collect();
        keyed_once(keys, p)
    });
    let orphans = seeking
        .join_map(orphan_pods, |_, w, p| {
            let selected = w.namespace == p.namespace && w.selector.matches(&p.labels);
            selected.then(|| (family_of(w), Member::Orphan(Box::new((w.uid.clone(), p.clone()))), claim_deadline(w, p)))
        })
        .flat_map(|orphan| orphan);
    let claims = owned.concat(orphans);
    let deadlines = claims.clone().flat_map(|(family, _, deadline)| deadline.map(|(workload, pod, at)| ((family, workload, pod), at)));
    let available = crate::deadlines::expired(deadlines, clock).map(|(family, workload, pod)| (family, Member::Available(Box::new((workload, pod)))));
    let markers = workloads.map(|w| (family_of(&w), Member::Workload(w)));

    let decided = markers.concat(claims.map(|(family, member, _)| (family, member))).concat(available).reduce_named(
        "replicaset-decide",
        |_key, input: &[(&Member, Diff)], output: &mut Vec<(Outcome, Diff)>| {
            let (mut workloads, mut owned, mut orphans, mut passed) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            for (m, d) in input {
                if *d <= 0 {
                    continue;
                }
                match m {
                    Member::Workload(w) => workloads.push(&**w),
                    Member::Owned(p) => owned.push(&**p),
                    Member::Orphan(orphan) => orphans.push((orphan.0.as_str(), &*orphan.1)),
                    Member::Available(available) => passed.push((available.0.as_str(), available.1.as_str())),
                }
            }
            for (key, Decision { diff, intents }) in decide_family(&workloads, &owned, &orphans, &passed) {
                output.push((Outcome::Diff(key, diff.to_text()), 1));
                output.extend(intents.into_iter().map(|i| (Outcome::Intent(i), 1)));
            }
        },
    );
    let diffs = decided.clone().flat_map(|(_, outcome)| match outcome {
        Outcome::Diff(key, diff) => Some((key, diff)),
        Outcome::Intent(_) => None,
    });
    let intents = decided.flat_map(|(_, outcome)| match outcome {
        Outcome::Intent(intent) => Some(intent),
        Outcome::Diff(..) => None,
    });
    (diffs, intents)
}

/// The reference: the same diffs and intents, from scratch over a snapshot.
pub fn reference(workloads: &[ReplicaSetRow], pods: &[PodRow], now: Option<Micros>) -> (BTreeSet<(ObjectKey, Text)>, BTreeSet<Intent>) {
    let mut diffs = BTreeSet::new();
    let mut out = BTreeSet::new();
    let mut families: BTreeMap<(Kind, String, String), Vec<&ReplicaSetRow>> = BTreeMap::new();
    for w in workloads {
        families.entry(family_of(w)).or_default().push(w);
    }
    for ((_, namespace, _), family) in families {
        let in_namespace: Vec<&PodRow> = pods.iter().filter(|p| p.namespace == namespace).collect();
        let owned: Vec<&PodRow> = in_namespace
            .iter()
            .copied()
            .filter(|p| {
                p.owners
                    .iter()
                    .any(|o| o.controller && family.iter().any(|w| w.uid == o.uid) && matches!(o.kind.as_str(), "ReplicaSet" | "ReplicationController"))
            })
            .collect();
        let mut orphans: Vec<(&str, &PodRow)> = Vec::new();
        for w in family.iter().filter(|w| !w.deleting) {
            let selected = in_namespace.iter().filter(|p| p.is_active() && p.controller().is_none() && w.selector.matches(&p.labels));
            orphans.extend(selected.map(|p| (w.uid.as_str(), *p)));
        }
        // Availability by the clock, for every claimed pod alike (an owned one that no longer
        // matches is released, whatever it says).
        let claimed = owned.iter().flat_map(|p| family.iter().filter(move |w| p.controller().is_some_and(|c| c.uid == w.uid)).map(move |w| (*w, *p)));
        let selected = orphans.iter().flat_map(|(uid, p)| family.iter().filter(move |w| w.uid == *uid).map(move |w| (*w, *p)));
        let passed: Vec<(&str, &str)> = claimed
            .chain(selected)
            .filter(|(w, p)| availability_deadline(w.min_ready_seconds, p).is_some_and(|at| now.is_some_and(|now| at < now)))
            .map(|(w, p)| (w.uid.as_str(), p.uid.as_str()))
            .collect();
        for (key, Decision { diff, intents }) in decide_family(&family, &owned, &orphans, &passed) {
            diffs.insert((key, diff.to_text()));
            out.extend(intents);
        }
    }
    (diffs, out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rows::Selector;

    fn workload(replicas: i64) -> ReplicaSetRow {
        ReplicaSetRow {
            kind: Kind::ReplicaSet,
            namespace: "ns".into(),
            name: "web".into(),
            uid: "rs-uid".into(),
            replicas,
            selector: Selector { match_labels: vec![("app".into(), "web".into())], expressions: vec![] },
            template: r#"{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"c","image":"x"}]}}"#.into(),
            generation: 1,
            deleting: false,
            status: String::new(),
            labels: vec![],
            annotations: vec![],
            owners: Default::default(),
            created: String::new(),
            status_counts: (0, 0, 0),
            min_ready_seconds: 0,
            replica_failure: None,
        }
    }

    fn pod(name: &str, node: &str, phase: &str, ready: bool, created: i64) -> PodRow {
        PodRow {
            namespace: "ns".into(),
            name: name.into(),
            uid: format!("{name}-uid").into(),
            node: node.into(),
            phase: PodPhase::parse(phase),
            ready,
            created,
            labels: [("app".into(), "web".into())].into(),
            owners: [controller_ref(&workload(0))].into(),
            ..PodRow::default()
        }
    }

    fn deleted(intents: &[Intent]) -> Vec<String> {
        intents
            .iter()
            .filter_map(|i| match i {
                Intent::Delete { key } => Some(key.name.clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn surplus_pods_go_in_upstream_order() {
        const DAY: i64 = 86_400;
        let pods = [
            pod("running-ready-old", "n1", "Running", true, 1),
            pod("running-ready-new", "n1", "Running", true, 1 + DAY),
            pod("running-not-ready", "n1", "Running", false, 1),
            pod("pending", "n1", "Pending", false, 1),
            pod("unscheduled", "", "Pending", false, 1),
        ];
        let refs: Vec<&PodRow> = pods.iter().collect();
        let order = |keep: i64| deleted(&decide(&workload(keep), &refs, &[], &BTreeSet::new(), &Colocation::default()).intents);
        assert_eq!(order(4), vec!["unscheduled"]);
        assert_eq!(order(2), vec!["unscheduled", "pending", "running-not-ready"]);
        assert_eq!(order(1), vec!["unscheduled", "pending", "running-not-ready", "running-ready-new"]);
    }

    /// Rules 4 to 8 of upstream's order, each deciding between two otherwise equal running,
    /// ready pods (`TestSortingActivePodsWithRanks` in upstream's `controller_utils_test.go`
    /// walks the same rules).
    #[test]
    fn ties_go_by_deletion_cost_colocation_ready_time_restarts_and_age() {
        let base = || pod("p", "n1", "Running", true, 100);
        let first_deleted = |a: PodRow, b: PodRow, colocated: &Colocation| {
            let (mut a, mut b) = (a, b);
            (a.name, b.name) = ("a".into(), "b".into());
            let w = workload(1);
            let forward = deleted(&decide(&w, &[&a, &b], &[], &BTreeSet::new(), colocated).intents);
            let backward = deleted(&decide(&w, &[&b, &a], &[], &BTreeSet::new(), colocated).intents);
            assert_eq!(forward, backward, "the order does not depend on the input's");
            forward[0].clone()
        };
        let none = Colocation::default();
        // 4. The lower deletion cost goes first, before every later rule.
        let (mut cheap, mut costly) = (base(), base());
        (cheap.deletion_cost, costly.deletion_cost, cheap.created) = (-5, 0, 1);
        assert_eq!(first_deleted(cheap, costly, &none), "a");
        // 5. The pod whose node has more of the family's pods goes first.
        let (mut doubled, single) = (base(), base());
        doubled.node = "n2".into();
        let family = [pod("x", "n2", "Running", true, 1), pod("y", "n2", "Running", true, 1), pod("z", "n1", "Running", true, 1)];
        let colocated = Colocation::of(family.iter());
        assert_eq!(first_deleted(doubled.clone(), single.clone(), &colocated), "a");
        assert_eq!(first_deleted(single, doubled, &colocated), "b");
        // 6. Ready for less time first; a ready pod with no ready time before both.
        let (mut recent, mut long) = (base(), base());
        (recent.ready_since, long.ready_since, recent.created) = (500, 200, 1);
        assert_eq!(first_deleted(recent.clone(), long.clone(), &none), "a");
        let mut unknown = base();
        unknown.ready_since = 0;
        assert_eq!(first_deleted(recent, unknown, &none), "b");
        // 7. More restarts first.
        let (mut crashy, steady) = (base(), base());
        (crashy.restarts, crashy.created) = (3, 1);
        assert_eq!(first_deleted(crashy, steady, &none), "a");
        // ... then more sidecar restarts.
        let (mut sidecar, plain) = (base(), base());
        (sidecar.sidecar_restarts, sidecar.created) = (1, 1);
        assert_eq!(first_deleted(sidecar, plain, &none), "a");
        // 8. No creation time first, then the newest.
        let (mut newer, older) = (base(), base());
        newer.created = 200;
        assert_eq!(first_deleted(newer.clone(), older, &none), "a");
        let mut unset = base();
        unset.created = 0;
        assert_eq!(first_deleted(newer, unset, &none), "b");
    }

    /// A Deployment's ReplicaSets are one family: a pod that shares its node with more of the
    /// family's pods (of either ReplicaSet) goes first. A ReplicaSet with no controller ranks
    /// every pod 0, as upstream, whose related pods it leaves empty.
    #[test]
    fn a_family_ranks_pods_by_its_pods_on_their_node() {
        let deployment = OwnerRef { kind: "Deployment".into(), uid: "d-uid".into(), controller: true, ..OwnerRef::default() };
        let mut old = workload(0);
        (old.name, old.uid, old.owners) = ("old".into(), "old-uid".into(), [deployment.clone()].into());
        let mut new = workload(1);
        new.owners = [deployment].into();
        let owned_by = |w: &ReplicaSetRow, name: &str, node: &str| {
            let mut p = pod(name, node, "Running", true, 100);
            p.owners = [controller_ref(w)].into();
            p
        };
        // new's n1 pod has two of the old ReplicaSet's beside it; its n2 pod is alone and
        // newer, which would otherwise make it go first.
        let mut alone = owned_by(&new, "alone", "n2");
        alone.created = 200;
        let pods = [owned_by(&new, "crowded", "n1"), alone, owned_by(&old, "old-1", "n1"), owned_by(&old, "old-2", "n1")];
        let refs: Vec<&PodRow> = pods.iter().collect();
        let decisions = decide_family(&[&old, &new], &refs, &[], &[]);
        let of = |name: &str| &decisions.iter().find(|(k, _)| k.name == name).unwrap().1;
        assert_eq!(deleted(&of("web").intents), vec!["crowded"]);
        assert_eq!(deleted(&of("old").intents), vec!["old-1", "old-2"]);
        // Without a controller the same pods rank alike: the newer goes.
        new.owners = Default::default();
        let decisions = decide_family(&[&new], &refs[..2], &[], &[]);
        assert_eq!(deleted(&decisions[0].1.intents), vec!["alone"]);
    }

    #[test]
    fn creates_use_stable_names_that_skip_taken_ones() {
        let w = workload(3);
        let first = pod(&pod_name(&w, 0), "n1", "Running", true, 0);
        let Decision { diff, intents } = decide(&w, &[&first], &[], &BTreeSet::new(), &Colocation::default());
        assert_eq!(diff, ReplicaDiff { kind: "ReplicaSet", desired: 3, actual: 1, ready: 1, available: 1, to_create: 2, ..ReplicaDiff::default() });
        let created: Vec<String> = intents
            .iter()
            .filter_map(|i| match i {
                Intent::Create { key, .. } => Some(key.name.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(created, vec![pod_name(&w, 1), pod_name(&w, 2)]);
        assert_eq!(decide(&w, &[&first], &[], &BTreeSet::new(), &Colocation::default()).intents, intents, "deterministic");
    }

    #[test]
    fn relabelled_pods_are_released_and_matching_orphans_adopted() {
        let w = workload(1);
        let mut moved = pod("moved", "n1", "Running", true, 0);
        moved.labels = [("app".into(), "other".into())].into();
        let mut orphan = pod("orphan", "n1", "Running", true, 0);
        orphan.owners = [].into();
        let Decision { diff, intents } = decide(&w, &[&moved], &[&orphan], &BTreeSet::new(), &Colocation::default());
        // The orphan is adopted and counted: nothing is created beside it.
        assert_eq!(
            diff,
            ReplicaDiff { kind: "ReplicaSet", desired: 1, actual: 1, ready: 1, available: 1, to_adopt: 1, to_release: 1, ..ReplicaDiff::default() }
        );
        assert!(!intents.iter().any(|i| matches!(i, Intent::Create { .. })), "{intents:?}");
        assert!(intents.contains(&Intent::Patch { key: ObjectKey::new(Kind::Pod, "ns", "moved"), patch: owners_patch(&[]).into() }));
        assert!(intents.iter().any(|i| matches!(i, Intent::Patch { key, patch } if key.name == "orphan" && patch.to_str().contains("rs-uid"))));
    }
}
