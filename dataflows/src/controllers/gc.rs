//! Garbage collector over `ownerReferences`, for objects of every kind the engine reads, as
//! upstream's (`pkg/controller/garbagecollector/garbagecollector.go`):
//! - **orphan**: an owner being deleted with the `orphan` finalizer has its reference removed
//!   from every dependent, then its finalizer removed;
//! - **foreground**: an owner being deleted with `foregroundDeletion` is "waiting for its
//!   dependents": they are deleted (foreground themselves, when they may have dependents),
//!   and its finalizer goes once no dependent that blocks it (`blockOwnerDeletion`) is left;
//! - **background**: a dependent none of whose owners is solid (present and not waiting) is
//!   deleted; one that still has a solid owner has its references to absent and waiting
//!   owners removed (upstream's `attemptToDeleteItem`).
//!
//! Every object is present by its uid's 64-bit hash, so the collector holds 8 bytes per
//! object beside the dependents and the finalizing owners it decides about; only references
//! that are not solid reach the second reduce, so a dependent whose owners all stand is held
//! once, by the first.
//!
//! **Deliberate gap:** a pod's presence is not kept (pods are most of a cluster, and rarely
//! own anything), so a reference to a Pod owner counts as solid, as does one to a kind the
//! engine does not read: their dependents are never collected in the background. A pod being
//! deleted with either finalizer is still handled.
//!
//! ```text
//! objects ─ members(presence, finalizing, one per owner reference) ─ reduce per owner uid ─┬─▶ owner intents
//!                                                                                            └─ verdict per reference ─ reduce per dependent ─▶ dependent intents
//! ```

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, BTreeSet};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use differential_dataflow::VecCollection;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::interned::OwnerRefs;
use crate::rows::{owner_refs, terminating, OwnerRef};
use crate::types::{CompactKey, Diff, Intent, Kind, ObjectKey, Revision};

pub const ORPHAN: &str = "orphan";
pub const FOREGROUND: &str = "foregroundDeletion";

/// The key an owner is collected under: its uid's hash.
pub fn uid_key(uid: &str) -> u64 {
    let mut h = DefaultHasher::new();
    uid.hash(&mut h);
    h.finish()
}

/// How an existing object stands as an owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Standing {
    Solid,
    /// Being deleted with `foregroundDeletion`: its dependents go first.
    WaitingForDependents,
}

/// An object being deleted with a finalizer the collector owns.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Finalizing {
    pub key: ObjectKey,
    pub finalizers: Vec<String>,
}

impl Finalizing {
    fn has(&self, finalizer: &str) -> bool {
        self.finalizers.iter().any(|f| f == finalizer)
    }
}

/// An object with owner references.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Dependent {
    pub key: CompactKey,
    pub deleting: bool,
    pub owners: OwnerRefs,
}

/// What one object contributes under one owner uid.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Member {
    /// The object with this uid exists.
    Present(Standing),
    Finalizing(Box<Finalizing>),
    /// The dependent's owner reference at this index names this uid.
    Reference(Arc<Dependent>, u32),
}

/// What a dependent's owner reference points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Verdict {
    Solid,
    Dangling,
    Waiting,
}

/// The collector's members of one object, each under its owner uid's key.
pub fn members(key: &ObjectKey, v: &Value) -> Result<Vec<(u64, Member)>, String> {
    let mut out = Vec::new();
    let uid = v.pointer("/metadata/uid").and_then(Value::as_str).unwrap_or_default();
    let deleting = terminating(v);
    let finalizers: Vec<String> =
        v.pointer("/metadata/finalizers").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).map(str::to_string).collect();
    let foreground = deleting && finalizers.iter().any(|f| f == FOREGROUND);
    if !uid.is_empty() && key.kind != Kind::Pod {
        out.push((uid_key(uid), Member::Present(if foreground { Standing::WaitingForDependents } else { Standing::Solid })));
    }
    if !uid.is_empty() && deleting && finalizers.iter().any(|f| f == ORPHAN || f == FOREGROUND) {
        out.push((uid_key(uid), Member::Finalizing(Box::new(Finalizing { key: key.clone(), finalizers }))));
    }
    let owners = owner_refs(v)?;
    if !owners.is_empty() {
        let dependent = Arc::new(Dependent { key: key.into(), deleting, owners });
        for (i, owner) in dependent.owners.iter().enumerate() {
            out.push((uid_key(&owner.uid), Member::Reference(dependent.clone(), i as u32)));
        }
    }
    Ok(out)
}

/// Whether the collector knows an owner of this reference's kind when it exists: else the
/// reference counts as solid, never dangling.
fn tracked(owner: &OwnerRef) -> bool {
    Kind::from_reference(&owner.api_version, &owner.kind).is_some_and(|k| k != Kind::Pod)
}

fn list_or_null(items: Vec<Value>) -> Value {
    if items.is_empty() {
        Value::Null
    } else {
        Value::Array(items)
    }
}

/// Removes one finalizer, keeping the others.
fn without_finalizer(owner: &Finalizing, finalizer: &str) -> Intent {
    let rest: Vec<Value> = owner.finalizers.iter().filter(|f| *f != finalizer).map(|f| json!(f)).collect();
    Intent::Patch { key: owner.key.clone(), patch: json!({"metadata": {"finalizers": list_or_null(rest)}}).to_string().into() }
}

/// Keeps only the dependent's owner references that `keep` accepts.
fn keeping_references(dependent: &Dependent, keep: impl Fn(&OwnerRef) -> bool) -> Intent {
    let rest: Vec<Value> = dependent.owners.iter().filter(|r| keep(r)).map(OwnerRef::to_json).collect();
    Intent::Patch { key: (&dependent.key).into(), patch: json!({"metadata": {"ownerReferences": list_or_null(rest)}}).to_string().into() }
}

/// A verdict on the dependent's owner reference at an index.
pub type ReferenceVerdict = (Arc<Dependent>, u32, Verdict);

/// What the owner side decides: intents for the owner (and orphaned dependents), and each
/// reference's verdict.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum OwnerOutcome {
    Intent(Intent),
    Verdict(Arc<Dependent>, u32, Verdict),
}

/// One owner uid: whether it is present and how, its finalizing state, and the references
/// to it.
pub fn decide_owner(present: Option<Standing>, finalizing: Option<&Finalizing>, references: &[(&Arc<Dependent>, u32)]) -> Vec<OwnerOutcome> {
    let mut out = Vec::new();
    let orphaning = finalizing.is_some_and(|f| f.has(ORPHAN));
    let waiting = !orphaning && (finalizing.is_some_and(|f| f.has(FOREGROUND)) || present == Some(Standing::WaitingForDependents));
    if let Some(owner) = finalizing {
        if orphaning {
            let uid = references.first().map(|(d, i)| d.owners[*i as usize].uid.as_str());
            // Once per dependent, however many of its references name this owner.
            let dependents: BTreeSet<&Arc<Dependent>> = references.iter().map(|(d, _)| *d).collect();
            for dependent in dependents {
                out.push(OwnerOutcome::Intent(keeping_references(dependent, |r| Some(r.uid.as_str()) != uid)));
            }
            if references.is_empty() {
                out.push(OwnerOutcome::Intent(without_finalizer(owner, ORPHAN)));
            }
        } else if waiting && !references.iter().any(|(d, i)| d.owners[*i as usize].block_owner_deletion) {
            out.push(OwnerOutcome::Intent(without_finalizer(owner, FOREGROUND)));
        }
    }
    // Only the references that are not solid: a dependent whose owners all stand (nearly
    // every one) costs the second reduce nothing.
    for (dependent, index) in references {
        let verdict = if orphaning || (present.is_some() && !waiting) {
            Verdict::Solid
        } else if waiting {
            Verdict::Waiting
        } else if tracked(&dependent.owners[*index as usize]) {
            Verdict::Dangling
        } else {
            Verdict::Solid
        };
        if verdict != Verdict::Solid {
            out.push(OwnerOutcome::Verdict((*dependent).clone(), *index, verdict));
        }
    }
    out
}

/// One dependent, given the verdicts on those of its owner references that are not solid
/// (every other reference is).
pub fn decide_dependent(dependent: &Dependent, verdicts: &[(u32, Verdict)]) -> Option<Intent> {
    let gone: BTreeSet<usize> = verdicts.iter().filter(|(_, v)| *v != Verdict::Solid).map(|(i, _)| *i as usize).collect();
    if dependent.deleting || gone.is_empty() {
        return None;
    }
    if gone.len() < dependent.owners.len() {
        let uids: BTreeSet<&str> = gone.iter().map(|i| dependent.owners[*i].uid.as_str()).collect();
        return Some(keeping_references(dependent, |r| !uids.contains(r.uid.as_str())));
    }
    // A dependent of a waiting owner goes in the foreground too when it may have dependents
    // of its own; pods are taken to have none (see the module's gap).
    if verdicts.iter().any(|(_, v)| *v == Verdict::Waiting) && dependent.key.kind != Kind::Pod {
        Some(Intent::DeleteForeground { key: (&dependent.key).into() })
    } else {
        Some(Intent::Delete { key: (&dependent.key).into() })
    }
}

/// The dataflow: garbage-collection intents from every object's members.
pub fn garbage_collect<'s>(members: VecCollection<'s, Revision, (u64, Member), Diff>) -> VecCollection<'s, Revision, Intent, Diff> {
    let outcomes = members.reduce_named("gc-owner", |_uid: &u64, input: &[(&Member, Diff)], output: &mut Vec<(OwnerOutcome, Diff)>| {
        let mut present = None;
        let mut finalizing = None;
        let mut references = Vec::new();
        for (m, d) in input {
            if *d <= 0 {
                continue;
            }
            match m {
                Member::Present(s) => present = Some(*s),
                Member::Finalizing(f) => finalizing = Some(&**f),
                Member::Reference(d, i) => references.push((d, *i)),
            }
        }
        output.extend(decide_owner(present, finalizing, &references).into_iter().map(|o| (o, 1)));
    });
    let owner_intents = outcomes.clone().flat_map(|(_, o)| match o {
        OwnerOutcome::Intent(i) => Some(i),
        OwnerOutcome::Verdict(..) => None,
    });
    let verdicts = outcomes.flat_map(|(_, o)| match o {
        OwnerOutcome::Verdict(d, i, v) => Some((d.key.clone(), (d, i, v))),
        OwnerOutcome::Intent(_) => None,
    });
    let dependent_intents = verdicts
        .reduce_named("gc-dependent", |_key: &CompactKey, input: &[(&ReferenceVerdict, Diff)], output: &mut Vec<(Intent, Diff)>| {
            let Some(((dependent, _, _), _)) = input.iter().find(|(_, d)| *d > 0) else { return };
            let verdicts: Vec<(u32, Verdict)> = input.iter().filter(|(_, d)| *d > 0).map(|((_, i, v), _)| (*i, *v)).collect();
            output.extend(decide_dependent(dependent, &verdicts).map(|i| (i, 1)));
        })
        .map(|(_, intent)| intent);
    owner_intents.concat(dependent_intents)
}

/// The reference: the same intents, from scratch over a snapshot of every object.
pub fn reference<'a>(objects: impl IntoIterator<Item = (&'a ObjectKey, &'a Value)>) -> BTreeSet<Intent> {
    let mut present: BTreeMap<String, Standing> = BTreeMap::new();
    let mut finalizing: BTreeMap<String, Finalizing> = BTreeMap::new();
    let mut dependents: Vec<Arc<Dependent>> = Vec::new();
    for (key, v) in objects {
        let uid = v["metadata"]["uid"].as_str().unwrap_or_default().to_string();
        let deleting = terminating(v);
        let finalizers: Vec<String> = v["metadata"]["finalizers"].as_array().into_iter().flatten().filter_map(Value::as_str).map(str::to_string).collect();
        let foreground = deleting && finalizers.contains(&FOREGROUND.to_string());
        if !uid.is_empty() && key.kind != Kind::Pod {
            present.insert(uid.clone(), if foreground { Standing::WaitingForDependents } else { Standing::Solid });
        }
        if !uid.is_empty() && deleting && finalizers.iter().any(|f| f == ORPHAN || f == FOREGROUND) {
            finalizing.insert(uid.clone(), Finalizing { key: key.clone(), finalizers });
        }
        let owners = owner_refs(v).expect("well-formed owner references");
        if !owners.is_empty() {
            dependents.push(Arc::new(Dependent { key: key.into(), deleting, owners }));
        }
    }
    let mut out = BTreeSet::new();
    // Owners being finalized.
    for (uid, owner) in &finalizing {
        let references: Vec<(&Arc<Dependent>, &OwnerRef)> =
            dependents.iter().flat_map(|d| d.owners.iter().filter(|r| &r.uid == uid).map(move |r| (d, r))).collect();
        if owner.has(ORPHAN) {
            for (d, _) in &references {
                out.insert(keeping_references(d, |r| &r.uid != uid));
            }
            if references.is_empty() {
                out.insert(without_finalizer(owner, ORPHAN));
            }
        } else if !references.iter().any(|(_, r)| r.block_owner_deletion) {
            out.insert(without_finalizer(owner, FOREGROUND));
        }
    }
    // Every dependent, reference by reference.
    for d in &dependents {
        if d.deleting {
            continue;
        }
        let verdict = |r: &OwnerRef| {
            let owner = finalizing.get(&r.uid);
            if owner.is_some_and(|o| o.has(ORPHAN)) {
                Verdict::Solid
            } else if owner.is_some_and(|o| o.has(FOREGROUND)) || present.get(&r.uid) == Some(&Standing::WaitingForDependents) {
                Verdict::Waiting
            } else if present.contains_key(&r.uid) || !tracked(r) {
                Verdict::Solid
            } else {
                Verdict::Dangling
            }
        };
        let verdicts: Vec<Verdict> = d.owners.iter().map(verdict).collect();
        let solid = verdicts.contains(&Verdict::Solid);
        let waiting = verdicts.contains(&Verdict::Waiting);
        if !waiting && !verdicts.contains(&Verdict::Dangling) {
            continue;
        }
        if solid {
            let gone: BTreeSet<&str> = d.owners.iter().zip(&verdicts).filter(|(_, v)| **v != Verdict::Solid).map(|(r, _)| r.uid.as_str()).collect();
            out.insert(keeping_references(d, |r| !gone.contains(r.uid.as_str())));
        } else if waiting && d.key.kind != Kind::Pod {
            out.insert(Intent::DeleteForeground { key: (&d.key).into() });
        } else {
            out.insert(Intent::Delete { key: (&d.key).into() });
        }
    }
    out
}

#[cfg(test)]
mod tests;
