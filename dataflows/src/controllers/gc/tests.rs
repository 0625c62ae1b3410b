//! The collector's rules on small worlds: each case is decided by the reference and by the
//! members' decision functions, which must agree.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde_json::{json, Value};

use super::*;

fn key(kind: Kind, name: &str) -> ObjectKey {
    ObjectKey::new(kind, "ns", name)
}

fn owner_ref(kind: &str, api_version: &str, name: &str, block: bool) -> Value {
    json!({"apiVersion": api_version, "kind": kind, "name": name, "uid": format!("uid-{name}"), "blockOwnerDeletion": block})
}

fn object(name: &str, owners: Vec<Value>) -> Value {
    json!({"metadata": {"name": name, "namespace": "ns", "uid": format!("uid-{name}"), "ownerReferences": owners}})
}

fn deleting(mut v: Value, finalizer: &str) -> Value {
    v["metadata"]["deletionTimestamp"] = json!("2026-12-07T00:00:00Z");
    v["metadata"]["finalizers"] = json!(["example.com/keep", finalizer]);
    v
}

/// The intents from the members, decided as the dataflow decides them (per owner uid, then
/// per dependent), without the dataflow.
fn by_members(world: &BTreeMap<ObjectKey, Value>) -> BTreeSet<Intent> {
    let mut by_uid: BTreeMap<u64, Vec<Member>> = BTreeMap::new();
    for (k, v) in world {
        for (uid, m) in members(k, v).unwrap() {
            by_uid.entry(uid).or_default().push(m);
        }
    }
    let mut out = BTreeSet::new();
    type Verdicts = (Arc<Dependent>, Vec<(u32, Verdict)>);
    let mut verdicts: BTreeMap<CompactKey, Verdicts> = BTreeMap::new();
    for ms in by_uid.values() {
        let present = ms.iter().find_map(|m| if let Member::Present(s) = m { Some(*s) } else { None });
        let finalizing = ms.iter().find_map(|m| if let Member::Finalizing(f) = m { Some(&**f) } else { None });
        let references: Vec<(&Arc<Dependent>, u32)> = ms.iter().filter_map(|m| if let Member::Reference(d, i) = m { Some((d, *i)) } else { None }).collect();
        for outcome in decide_owner(present, finalizing, &references) {
            match outcome {
                OwnerOutcome::Intent(i) => {
                    out.insert(i);
                }
                OwnerOutcome::Verdict(d, i, v) => verdicts.entry(d.key.clone()).or_insert_with(|| (d.clone(), vec![])).1.push((i, v)),
            }
        }
    }
    for (d, vs) in verdicts.values() {
        out.extend(decide_dependent(d, vs));
    }
    out
}

fn decide(world: &[(ObjectKey, Value)]) -> BTreeSet<Intent> {
    let world: BTreeMap<ObjectKey, Value> = world.iter().cloned().collect();
    let reference = reference(world.iter());
    assert_eq!(reference, by_members(&world), "the reference and the members' decisions disagree");
    reference
}

fn patch(kind: Kind, name: &str, patch: Value) -> Intent {
    Intent::Patch { key: key(kind, name), patch: patch.to_string().into() }
}

#[test]
fn an_orphaned_owner_of_any_kind_loses_its_finalizer_once_no_dependent_names_it() {
    // A ConfigMap deleted with --cascade=orphan, and a Secret that it owns.
    let owner = deleting(object("settings", vec![]), ORPHAN);
    let dependent = object("copy", vec![owner_ref("ConfigMap", "v1", "settings", true)]);
    let intents = decide(&[(key(Kind::ConfigMap, "settings"), owner.clone()), (key(Kind::Secret, "copy"), dependent)]);
    assert_eq!(intents, BTreeSet::from([patch(Kind::Secret, "copy", json!({"metadata": {"ownerReferences": null}}))]));
    let intents = decide(&[(key(Kind::ConfigMap, "settings"), owner)]);
    assert_eq!(intents, BTreeSet::from([patch(Kind::ConfigMap, "settings", json!({"metadata": {"finalizers": ["example.com/keep"]}}))]));
}

#[test]
fn a_foreground_owner_waits_only_for_the_dependents_that_block_it() {
    let owner = deleting(object("web", vec![]), FOREGROUND);
    let blocking = object("web-1", vec![owner_ref("Deployment", "apps/v1", "web", true)]);
    let other = object("web-cm", vec![owner_ref("Deployment", "apps/v1", "web", false)]);
    let pod = object("web-pod", vec![owner_ref("Deployment", "apps/v1", "web", false)]);
    let world = [
        (key(Kind::Deployment, "web"), owner.clone()),
        (key(Kind::ReplicaSet, "web-1"), blocking),
        (key(Kind::ConfigMap, "web-cm"), other.clone()),
        (key(Kind::Pod, "web-pod"), pod.clone()),
    ];
    // Dependents that may own others go in the foreground too; pods plainly.
    assert_eq!(
        decide(&world),
        BTreeSet::from([
            Intent::DeleteForeground { key: key(Kind::ReplicaSet, "web-1") },
            Intent::DeleteForeground { key: key(Kind::ConfigMap, "web-cm") },
            Intent::Delete { key: key(Kind::Pod, "web-pod") },
        ])
    );
    // With the blocking one gone, the finalizer goes, while the others are still deleted.
    let world = [(key(Kind::Deployment, "web"), owner), (key(Kind::ConfigMap, "web-cm"), other), (key(Kind::Pod, "web-pod"), pod)];
    assert_eq!(
        decide(&world),
        BTreeSet::from([
            patch(Kind::Deployment, "web", json!({"metadata": {"finalizers": ["example.com/keep"]}})),
            Intent::DeleteForeground { key: key(Kind::ConfigMap, "web-cm") },
            Intent::Delete { key: key(Kind::Pod, "web-pod") },
        ])
    );
}

#[test]
fn a_dependent_goes_only_when_no_owner_is_solid() {
    let both = object("shared", vec![owner_ref("ConfigMap", "v1", "gone", false), owner_ref("Service", "v1", "here", false)]);
    let here = object("here", vec![]);
    // One owner is absent and one present: the dangling reference is removed, nothing deleted.
    let intents = decide(&[(key(Kind::ConfigMap, "shared"), both.clone()), (key(Kind::Service, "here"), here)]);
    let kept = json!({"metadata": {"ownerReferences": [{"apiVersion": "v1", "kind": "Service", "name": "here", "uid": "uid-here", "controller": false, "blockOwnerDeletion": false}]}});
    assert_eq!(intents, BTreeSet::from([patch(Kind::ConfigMap, "shared", kept)]));
    // Both absent: deleted.
    assert_eq!(decide(&[(key(Kind::ConfigMap, "shared"), both)]), BTreeSet::from([Intent::Delete { key: key(Kind::ConfigMap, "shared") }]));
}

#[test]
fn owners_the_collector_cannot_see_count_as_solid() {
    // A Pod owner (pods' presence is not kept) and a kind the engine does not read.
    let of_pod = object("claim", vec![owner_ref("Pod", "v1", "runner", true)]);
    let of_widget = object("widget-data", vec![owner_ref("Widget", "example.com/v1", "w", true)]);
    assert!(decide(&[(key(Kind::PersistentVolumeClaim, "claim"), of_pod), (key(Kind::ConfigMap, "widget-data"), of_widget)]).is_empty());
    // A Job owner is read: its absence makes the dependent dangle.
    let of_job = object("job-pod", vec![owner_ref("Job", "batch/v1", "nightly", true)]);
    assert_eq!(decide(&[(key(Kind::Pod, "job-pod"), of_job)]), BTreeSet::from([Intent::Delete { key: key(Kind::Pod, "job-pod") }]));
}

#[test]
fn a_pod_deleted_in_the_foreground_is_finalized_too() {
    let pod = deleting(object("runner", vec![]), FOREGROUND);
    assert_eq!(
        decide(&[(key(Kind::Pod, "runner"), pod)]),
        BTreeSet::from([patch(Kind::Pod, "runner", json!({"metadata": {"finalizers": ["example.com/keep"]}}))])
    );
}
