//! ReplicaSet and ReplicationController controller: keep `spec.replicas` active pods owned
//! through `ownerReferences`, as upstream's replica set controller.
//!
//! ```text
//! workloads ─ key by hash(uid) ─────────────┐
//! pods ─ key by hash(controller owner uid) ─┴─ join ─ filter(uid) ─▶ Owned ──────────┐
//! workloads(not deleting) ─ key by hash(ns, first label) ─┐                           │
//! orphan pods ─ key by each hash(ns, label) ──────────────┴─ join ─ filter(ns, selector) ─▶ Orphan ─┤
//! workloads ─────────────────────────────────────────────────────▶ Workload ─────────────────┴─ reduce per workload ─▶ intents
//! ```
//! Per workload: owned pods whose labels stopped matching are released; matching orphans are
//! adopted; missing replicas are created under deterministic names (`<name>-<5 chars of uid
//! and index>`), so a lagging feed or a restart can never create a second pod for one
//! replica; surplus pods are deleted in upstream's order (unscheduled, then pending, then not
//! ready, then newest). Status is written through the status subresource.

use std::collections::BTreeSet;
use std::sync::Arc;

use differential_dataflow::VecCollection;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::controllers::token::suffix;
use crate::controllers::{join_key, keyed_once};
use crate::rows::{OwnerRef, PodPhase, PodRow, ReplicaSetRow};
use crate::types::{Diff, Intent, Kind, ObjectKey, Revision, Text};

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Member {
    /// Each shared, so that the reduce's arrangement copies a pointer when it merges. A pod
    /// is the input's own row: no member copies any of its fields.
    Workload(Arc<ReplicaSetRow>),
    Owned(Arc<PodRow>),
    Orphan(Arc<PodRow>),
}

fn status_content(replicas: i64, fully_labeled: i64, ready: i64, available: i64, generation: i64) -> String {
    json!({"status": {
        "replicas": replicas,
        "fullyLabeledReplicas": fully_labeled,
        "readyReplicas": ready,
        "availableReplicas": available,
        "observedGeneration": generation,
    }})
    .to_string()
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

/// Upstream's deletion preference: lower sorts first, so it is deleted first.
fn deletion_rank(p: &PodRow) -> (bool, u8, bool, std::cmp::Reverse<&str>, &str) {
    // Upstream's `podPhaseToOrdinal` is a map: a phase it does not name (an unset one) reads
    // as 0, like Pending. Finished pods are not active, so never ranked.
    let phase = match p.phase {
        PodPhase::Pending | PodPhase::Other => 0,
        PodPhase::Unknown => 1,
        PodPhase::Running => 2,
        PodPhase::Succeeded | PodPhase::Failed => 3,
    };
    (!p.node.is_empty(), phase, p.ready, std::cmp::Reverse(p.created.as_str()), p.name.as_str())
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

/// The decision for one workload given its members. Shared by the dataflow and the
/// reference: what differs between them is how members are found, which is what the churn
/// test checks. A workload being deleted is the garbage collector's: it gets its diff, with
/// nothing to do.
pub fn decide(w: &ReplicaSetRow, owned: &[&PodRow], orphans: &[&PodRow]) -> Decision {
    let mut out = Vec::new();
    let pod_key = |name: &str| ObjectKey::new(Kind::Pod, w.namespace.clone(), name);
    let (matching, released): (Vec<&PodRow>, Vec<&PodRow>) = owned.iter().copied().partition(|p| w.selector.matches(&p.labels));
    let mut active: Vec<&PodRow> = matching.iter().copied().filter(|p| p.is_active()).collect();
    // Orphans are claimed before replicas are counted, as upstream's ClaimPods does, so that
    // adopting one never comes with creating another.
    let adopting: Vec<&PodRow> = orphans.iter().copied().filter(|p| p.is_active()).collect();
    let ready = active.iter().chain(&adopting).filter(|p| p.ready).count() as i64;
    let actual = (active.len() + adopting.len()) as i64;
    let mut diff = ReplicaDiff { kind: w.kind.kind_name(), desired: w.replicas, actual, ready, ..ReplicaDiff::default() };
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
        active.sort_by_key(|p| deletion_rank(p));
        let surplus = active.len().min((-missing) as usize);
        for p in &active[..surplus] {
            out.push(Intent::Delete { key: pod_key(&p.name) });
        }
        diff.to_delete = surplus as i64;
    }
    let status = status_content(diff.actual, diff.actual, diff.ready, diff.ready, w.generation);
    if status != w.status {
        out.push(Intent::PatchStatus { key: workload_key(w), patch: status.into() });
    }
    Decision { diff, intents: out }
}

/// A row of the decide reduce's output: the workload's diff, or one of its intents. Rows
/// apart, so that a change of the diff leaves the unchanged intents where they are.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
enum Outcome {
    Diff(Text),
    Intent(Intent),
}

/// The dataflow: the replica diff (the `replica-diffs` view) and the intents of every
/// ReplicaSet and ReplicationController.
#[allow(clippy::type_complexity)]
pub fn replicasets<'s>(
    workloads: VecCollection<'s, Revision, ReplicaSetRow, Diff>,
    pods: VecCollection<'s, Revision, Arc<PodRow>, Diff>,
) -> (VecCollection<'s, Revision, (ObjectKey, Text), Diff>, VecCollection<'s, Revision, Intent, Diff>) {
    // Joins meet on hashes of the uid and of the labels ([`join_key`]); each match is then
    // checked on the strings themselves, which keeps it exact.
    let by_uid = workloads.clone().map(|w| (join_key(&w.uid), w));
    let owned_pods = pods.clone().flat_map(|p| {
        let c = p.controller()?;
        matches!(c.kind.as_str(), "ReplicaSet" | "ReplicationController").then(|| (join_key(&c.uid), p.clone()))
    });
    let owned = by_uid
        .join_map(owned_pods, |_, w, p| {
            let controlled = p.controller().is_some_and(|c| c.uid == w.uid);
            controlled.then(|| (workload_key(w), Member::Owned(p.clone())))
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
        .join_map(orphan_pods, |_, w, p| (w.namespace == p.namespace && w.selector.matches(&p.labels)).then(|| (workload_key(w), Member::Orphan(p.clone()))))
        .flat_map(|orphan| orphan);
    let markers = workloads.map(|w| (workload_key(&w), Member::Workload(Arc::new(w))));

    let decided =
        markers.concat(owned).concat(orphans).reduce_named("replicaset-decide", |_key, input: &[(&Member, Diff)], output: &mut Vec<(Outcome, Diff)>| {
            let mut workload = None;
            let (mut owned, mut orphans) = (Vec::new(), Vec::new());
            for (m, d) in input {
                if *d <= 0 {
                    continue;
                }
                match m {
                    Member::Workload(w) => workload = Some(w),
                    Member::Owned(p) => owned.push(&**p),
                    Member::Orphan(p) => orphans.push(&**p),
                }
            }
            if let Some(w) = workload {
                let Decision { diff, intents } = decide(w, &owned, &orphans);
                output.push((Outcome::Diff(diff.to_text()), 1));
                output.extend(intents.into_iter().map(|i| (Outcome::Intent(i), 1)));
            }
        });
    let diffs = decided.clone().flat_map(|(key, outcome)| match outcome {
        Outcome::Diff(diff) => Some((key, diff)),
        Outcome::Intent(_) => None,
    });
    let intents = decided.flat_map(|(_, outcome)| match outcome {
        Outcome::Intent(intent) => Some(intent),
        Outcome::Diff(_) => None,
    });
    (diffs, intents)
}

/// The reference: the same diffs and intents, from scratch over a snapshot.
pub fn reference(workloads: &[ReplicaSetRow], pods: &[PodRow]) -> (BTreeSet<(ObjectKey, Text)>, BTreeSet<Intent>) {
    let mut diffs = BTreeSet::new();
    let mut out = BTreeSet::new();
    for w in workloads {
        let in_namespace: Vec<&PodRow> = pods.iter().filter(|p| p.namespace == w.namespace).collect();
        let owned: Vec<&PodRow> = in_namespace
            .iter()
            .copied()
            .filter(|p| p.owners.iter().any(|o| o.controller && o.uid == w.uid && matches!(o.kind.as_str(), "ReplicaSet" | "ReplicationController")))
            .collect();
        let orphans: Vec<&PodRow> = in_namespace
            .iter()
            .copied()
            .filter(|p| !w.deleting && p.is_active() && !p.owners.iter().any(|o| o.controller) && w.selector.matches(&p.labels))
            .collect();
        let Decision { diff, intents } = decide(w, &owned, &orphans);
        diffs.insert((workload_key(w), diff.to_text()));
        out.extend(intents);
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
            finalizers: vec![],
            status: String::new(),
            labels: vec![],
            annotations: vec![],
            owners: vec![],
            created: String::new(),
            status_counts: (0, 0, 0),
        }
    }

    fn pod(name: &str, node: &str, phase: &str, ready: bool, created: &str) -> PodRow {
        PodRow {
            namespace: "ns".into(),
            name: name.into(),
            uid: format!("{name}-uid").into(),
            node: node.into(),
            phase: PodPhase::parse(phase),
            ready,
            created: created.into(),
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
        let pods = [
            pod("running-ready-old", "n1", "Running", true, "2026-01-01T00:00:00Z"),
            pod("running-ready-new", "n1", "Running", true, "2026-01-02T00:00:00Z"),
            pod("running-not-ready", "n1", "Running", false, "2026-01-01T00:00:00Z"),
            pod("pending", "n1", "Pending", false, "2026-01-01T00:00:00Z"),
            pod("unscheduled", "", "Pending", false, "2026-01-01T00:00:00Z"),
        ];
        let refs: Vec<&PodRow> = pods.iter().collect();
        let order = |keep: i64| deleted(&decide(&workload(keep), &refs, &[]).intents);
        assert_eq!(order(4), vec!["unscheduled"]);
        assert_eq!(order(2), vec!["unscheduled", "pending", "running-not-ready"]);
        assert_eq!(order(1), vec!["unscheduled", "pending", "running-not-ready", "running-ready-new"]);
    }

    #[test]
    fn creates_use_stable_names_that_skip_taken_ones() {
        let w = workload(3);
        let first = pod(&pod_name(&w, 0), "n1", "Running", true, "t");
        let Decision { diff, intents } = decide(&w, &[&first], &[]);
        assert_eq!(diff, ReplicaDiff { kind: "ReplicaSet", desired: 3, actual: 1, ready: 1, to_create: 2, ..ReplicaDiff::default() });
        let created: Vec<String> = intents
            .iter()
            .filter_map(|i| match i {
                Intent::Create { key, .. } => Some(key.name.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(created, vec![pod_name(&w, 1), pod_name(&w, 2)]);
        assert_eq!(decide(&w, &[&first], &[]).intents, intents, "deterministic");
    }

    #[test]
    fn relabelled_pods_are_released_and_matching_orphans_adopted() {
        let w = workload(1);
        let mut moved = pod("moved", "n1", "Running", true, "t");
        moved.labels = [("app".into(), "other".into())].into();
        let mut orphan = pod("orphan", "n1", "Running", true, "t");
        orphan.owners = [].into();
        let Decision { diff, intents } = decide(&w, &[&moved], &[&orphan]);
        // The orphan is adopted and counted: nothing is created beside it.
        assert_eq!(diff, ReplicaDiff { kind: "ReplicaSet", desired: 1, actual: 1, ready: 1, to_adopt: 1, to_release: 1, ..ReplicaDiff::default() });
        assert!(!intents.iter().any(|i| matches!(i, Intent::Create { .. })), "{intents:?}");
        assert!(intents.contains(&Intent::Patch { key: ObjectKey::new(Kind::Pod, "ns", "moved"), patch: owners_patch(&[]).into() }));
        assert!(intents.iter().any(|i| matches!(i, Intent::Patch { key, patch } if key.name == "orphan" && patch.to_str().contains("rs-uid"))));
    }
}
