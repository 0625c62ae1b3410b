//! Garbage collector over `ownerReferences`, for the owners the engine reads (Deployments,
//! ReplicaSets, ReplicationControllers) and their dependents (ReplicaSets and pods), with
//! upstream's three propagation policies:
//! - **background**: a dependent whose controlling owner no longer exists is deleted;
//! - **orphan**: an owner being deleted with the `orphan` finalizer has its dependents' owner
//!   references removed, then its finalizer removed;
//! - **foreground**: an owner being deleted with `foregroundDeletion` has its dependents
//!   deleted, then (once none is left) its finalizer removed.
//!
//! ```text
//! owners ─ key by uid ─────────────────────┐
//! dependents ─ flat_map(each owner ref) ───┴─ reduce per owner uid ─▶ intents
//! ```

use std::collections::{BTreeMap, BTreeSet};

use differential_dataflow::VecCollection;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::controllers::deployment::DeploymentRow;
use crate::rows::{OwnerRef, PodRow, ReplicaSetRow};
use crate::types::{Diff, Intent, Kind, ObjectKey, Revision};

pub const ORPHAN: &str = "orphan";
pub const FOREGROUND: &str = "foregroundDeletion";

/// An owner as the collector sees it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Owner {
    pub key: ObjectKey,
    pub uid: String,
    pub deleting: bool,
    pub finalizers: Vec<String>,
}

/// A dependent: its key and its owner references.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Dependent {
    pub key: ObjectKey,
    pub owners: Vec<OwnerRef>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Member {
    Owner(Owner),
    Dependent(Dependent),
}

/// The owner kinds this collector follows.
fn followed(kind: &str) -> bool {
    matches!(kind, "ReplicaSet" | "ReplicationController" | "Deployment")
}

pub fn owner_of_workload(w: &ReplicaSetRow) -> Owner {
    Owner { key: ObjectKey::new(w.kind, w.namespace.clone(), w.name.clone()), uid: w.uid.clone(), deleting: w.deleting, finalizers: w.finalizers.clone() }
}

pub fn owner_of_deployment(d: &DeploymentRow) -> Owner {
    Owner {
        key: ObjectKey::new(Kind::Deployment, d.namespace.clone(), d.name.clone()),
        uid: d.uid.clone(),
        deleting: d.deleting,
        finalizers: d.finalizers.clone(),
    }
}

pub fn dependent_pod(p: &PodRow) -> Dependent {
    Dependent { key: ObjectKey::new(Kind::Pod, p.namespace.clone(), p.name.clone()), owners: p.owners.to_vec() }
}

pub fn dependent_workload(w: &ReplicaSetRow) -> Dependent {
    Dependent { key: ObjectKey::new(w.kind, w.namespace.clone(), w.name.clone()), owners: w.owners.clone() }
}

fn list_or_null(items: Vec<Value>) -> Value {
    if items.is_empty() {
        Value::Null
    } else {
        Value::Array(items)
    }
}

fn finalizers_patch(finalizers: &[String], without: &str) -> String {
    let rest: Vec<Value> = finalizers.iter().filter(|f| *f != without).map(|f| json!(f)).collect();
    json!({"metadata": {"finalizers": list_or_null(rest)}}).to_string()
}

/// The intents for one owner uid given the owner (if it exists) and its dependents.
pub fn decide(uid: &str, owner: Option<&Owner>, dependents: &[&Dependent]) -> Vec<Intent> {
    let mut out = Vec::new();
    match owner {
        None => {
            // Background: delete dependents whose controlling owner is this missing uid.
            for d in dependents {
                if d.owners.iter().any(|o| o.uid == uid && o.controller) {
                    out.push(Intent::Delete { key: d.key.clone() });
                }
            }
        }
        Some(o) if o.deleting && o.finalizers.iter().any(|f| f == ORPHAN) => {
            for d in dependents {
                let rest: Vec<Value> = d.owners.iter().filter(|r| r.uid != uid).map(OwnerRef::to_json).collect();
                out.push(Intent::Patch { key: d.key.clone(), patch: json!({"metadata": {"ownerReferences": list_or_null(rest)}}).to_string().into() });
            }
            if dependents.is_empty() {
                out.push(Intent::Patch { key: o.key.clone(), patch: finalizers_patch(&o.finalizers, ORPHAN).into() });
            }
        }
        Some(o) if o.deleting && o.finalizers.iter().any(|f| f == FOREGROUND) => {
            for d in dependents {
                out.push(Intent::Delete { key: d.key.clone() });
            }
            if dependents.is_empty() {
                out.push(Intent::Patch { key: o.key.clone(), patch: finalizers_patch(&o.finalizers, FOREGROUND).into() });
            }
        }
        Some(_) => {}
    }
    out
}

/// The dataflow: garbage-collection intents.
pub fn garbage_collect<'s>(
    owners: VecCollection<'s, Revision, Owner, Diff>,
    dependents: VecCollection<'s, Revision, Dependent, Diff>,
) -> VecCollection<'s, Revision, Intent, Diff> {
    let owners = owners.map(|o| (o.uid.clone(), Member::Owner(o)));
    let dependents =
        dependents.flat_map(|d| d.owners.iter().filter(|o| followed(&o.kind)).map(|o| (o.uid.clone(), Member::Dependent(d.clone()))).collect::<Vec<_>>());
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
                    Member::Owner(o) => owner = Some(o),
                    Member::Dependent(d) => deps.push(d),
                }
            }
            for intent in decide(uid, owner, &deps) {
                output.push((intent, 1));
            }
        })
        .map(|(_, intent)| intent)
}

/// The reference: the same intents, from scratch over a snapshot.
pub fn reference(owners: &[Owner], dependents: &[Dependent]) -> BTreeSet<Intent> {
    let mut by_uid: BTreeMap<&str, (Option<&Owner>, Vec<&Dependent>)> = BTreeMap::new();
    for o in owners {
        by_uid.entry(o.uid.as_str()).or_default().0 = Some(o);
    }
    for d in dependents {
        for o in d.owners.iter().filter(|o| followed(&o.kind)) {
            by_uid.entry(o.uid.as_str()).or_default().1.push(d);
        }
    }
    let mut out = BTreeSet::new();
    for (uid, (owner, deps)) in &by_uid {
        out.extend(decide(uid, *owner, deps));
    }
    out
}
