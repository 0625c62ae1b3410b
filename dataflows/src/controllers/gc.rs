//! Garbage collector for pods owned by ReplicaSets and ReplicationControllers, with
//! upstream's three propagation policies:
//! - **background**: a pod whose controlling owner no longer exists is deleted;
//! - **orphan**: an owner being deleted with the `orphan` finalizer has its pods' owner
//!   references removed, then its finalizer removed;
//! - **foreground**: an owner being deleted with `foregroundDeletion` has its pods deleted,
//!   then (once none is left) its finalizer removed.
//!
//! ```text
//! owners ─ key by uid ──────────────────┐
//! pods ─ flat_map(each owner ref uid) ──┴─ reduce per owner uid ─▶ intents
//! ```

use std::collections::{BTreeMap, BTreeSet};

use differential_dataflow::VecCollection;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::controllers::replicaset::{workload_key, PodSummary};
use crate::rows::{OwnerRef, PodRow, ReplicaSetRow};
use crate::types::{Diff, Intent, Kind, ObjectKey, Revision};

pub const ORPHAN: &str = "orphan";
pub const FOREGROUND: &str = "foregroundDeletion";

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Member {
    Owner(ReplicaSetRow),
    Dependent { namespace: String, pod: PodSummary },
}

fn is_workload_kind(kind: &str) -> bool {
    matches!(kind, "ReplicaSet" | "ReplicationController")
}

fn finalizers_patch(finalizers: &[String], without: &str) -> String {
    let rest: Vec<&String> = finalizers.iter().filter(|f| *f != without).collect();
    json!({"metadata": {"finalizers": if rest.is_empty() { serde_json::Value::Null } else { json!(rest) }}}).to_string()
}

/// The intents for one owner uid given the owner (if it exists) and the pods referring to it.
pub fn decide(uid: &str, owner: Option<&ReplicaSetRow>, dependents: &[(&str, &PodSummary)]) -> Vec<Intent> {
    let mut out = Vec::new();
    let pod_key = |ns: &str, p: &PodSummary| ObjectKey::new(Kind::Pod, ns, p.name.clone());
    match owner {
        None => {
            // Background: the controlling owner is gone.
            for (ns, p) in dependents {
                if p.owners.iter().any(|o| o.uid == uid && o.controller) && !p.owners.iter().any(|o| o.uid != uid && o.controller) {
                    out.push(Intent::Delete { key: pod_key(ns, p) });
                }
            }
        }
        Some(w) if w.deleting && w.finalizers.iter().any(|f| f == ORPHAN) => {
            for (ns, p) in dependents {
                let rest: Vec<OwnerRef> = p.owners.iter().filter(|o| o.uid != uid).cloned().collect();
                let list: Vec<serde_json::Value> = rest.iter().map(OwnerRef::to_json).collect();
                let value = if list.is_empty() { serde_json::Value::Null } else { json!(list) };
                out.push(Intent::Patch { key: pod_key(ns, p), patch: json!({"metadata": {"ownerReferences": value}}).to_string() });
            }
            if dependents.is_empty() {
                out.push(Intent::Patch { key: workload_key(w), patch: finalizers_patch(&w.finalizers, ORPHAN) });
            }
        }
        Some(w) if w.deleting && w.finalizers.iter().any(|f| f == FOREGROUND) => {
            for (ns, p) in dependents {
                out.push(Intent::Delete { key: pod_key(ns, p) });
            }
            if dependents.is_empty() {
                out.push(Intent::Patch { key: workload_key(w), patch: finalizers_patch(&w.finalizers, FOREGROUND) });
            }
        }
        Some(_) => {}
    }
    out
}

/// The dataflow: garbage-collection intents.
pub fn garbage_collect<'s>(
    workloads: VecCollection<'s, Revision, ReplicaSetRow, Diff>,
    pods: VecCollection<'s, Revision, PodRow, Diff>,
) -> VecCollection<'s, Revision, Intent, Diff> {
    let owners = workloads.map(|w| (w.uid.clone(), Member::Owner(w)));
    let dependents = pods.flat_map(|p| {
        let summary = PodSummary::of(&p);
        p.owners
            .iter()
            .filter(|o| is_workload_kind(&o.kind))
            .map(|o| (o.uid.clone(), Member::Dependent { namespace: p.namespace.clone(), pod: summary.clone() }))
            .collect::<Vec<_>>()
    });
    owners
        .concat(dependents)
        .reduce_named("gc-decide", |uid: &String, input: &[(&Member, Diff)], output: &mut Vec<(Intent, Diff)>| {
            let mut owner = None;
            let mut deps = Vec::new();
            for (m, d) in input {
                if *d <= 0 {
                    continue;
                }
                match m {
                    Member::Owner(w) => owner = Some(w),
                    Member::Dependent { namespace, pod } => deps.push((namespace.as_str(), pod)),
                }
            }
            for intent in decide(uid, owner, &deps) {
                output.push((intent, 1));
            }
        })
        .map(|(_, intent)| intent)
}

/// The reference: the same intents, from scratch over a snapshot.
pub fn reference(workloads: &[ReplicaSetRow], pods: &[PodRow]) -> BTreeSet<Intent> {
    let mut by_uid: BTreeMap<&str, (Option<&ReplicaSetRow>, Vec<(String, PodSummary)>)> = BTreeMap::new();
    for w in workloads {
        by_uid.entry(w.uid.as_str()).or_default().0 = Some(w);
    }
    for p in pods {
        for o in p.owners.iter().filter(|o| is_workload_kind(&o.kind)) {
            by_uid.entry(o.uid.as_str()).or_default().1.push((p.namespace.clone(), PodSummary::of(p)));
        }
    }
    let mut out = BTreeSet::new();
    for (uid, (owner, deps)) in &by_uid {
        let deps: Vec<(&str, &PodSummary)> = deps.iter().map(|(ns, p)| (ns.as_str(), p)).collect();
        out.extend(decide(uid, *owner, &deps));
    }
    out
}
