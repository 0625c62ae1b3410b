//! Scaling without rolling, as upstream's `sync` and `scale` (`pkg/controller/deployment/
//! sync.go`, with `GetProportion` from `util/deployment_util.go`). A Deployment takes this
//! step instead of a rollout step when it is paused, or when its replicas changed since its
//! active ReplicaSets were last sized (a *scaling event*: one of them carries a
//! `desired-replicas` annotation other than `spec.replicas`):
//! - one active ReplicaSet (or, with none active, the new one, else the newest) takes the
//!   Deployment's replicas;
//! - with the new one saturated, the old ones go to zero;
//! - otherwise, for RollingUpdate, the replicas to add or remove (up to `replicas + maxSurge`)
//!   are spread over the active ReplicaSets in proportion to their sizes, so a rollout in
//!   progress keeps its ratio of old to new. The leftover of the rounding goes to the first
//!   in order: the largest, the newest first when adding and the oldest first when removing.

use std::cmp::Reverse;

use super::{annotation, DeploymentRow, Strategy, DESIRED_REPLICAS, MAX_REPLICAS};
use crate::rows::{Labels, ReplicaSetRow};

/// An annotation as upstream's `getIntFromAnnotation` reads it: a 32-bit integer, or none.
fn int_annotation(annotations: &Labels, key: &str) -> Option<i64> {
    annotation(annotations, key)?.parse::<i32>().ok().map(i64::from)
}

/// Upstream's `isScalingEvent`: an active ReplicaSet was sized for other replicas.
pub(super) fn is_scaling_event(d: &DeploymentRow, new: Option<&ReplicaSetRow>, olds: &[&ReplicaSetRow]) -> bool {
    new.into_iter()
        .chain(olds.iter().copied())
        .filter(|r| r.replicas > 0)
        .any(|r| int_annotation(&r.annotations, DESIRED_REPLICAS).is_some_and(|n| n != d.replicas))
}

/// Upstream's `ReplicasAnnotationsNeedUpdate`.
pub(super) fn annotations_need_update(d: &DeploymentRow, surge: i64, r: &ReplicaSetRow) -> bool {
    annotation(&r.annotations, DESIRED_REPLICAS) != Some(d.replicas.to_string().as_str())
        || annotation(&r.annotations, MAX_REPLICAS) != Some((d.replicas + surge).to_string().as_str())
}

/// Upstream's `IsSaturated`: the new ReplicaSet is sized for, and has available, every replica.
fn is_saturated(d: &DeploymentRow, new: Option<&ReplicaSetRow>) -> bool {
    new.is_some_and(|n| n.replicas == d.replicas && int_annotation(&n.annotations, DESIRED_REPLICAS) == Some(d.replicas) && n.status_counts.2 == d.replicas)
}

/// Creation order, as upstream's `ReplicaSetsByCreationTimestamp`: older first, then by name.
fn age(r: &ReplicaSetRow) -> (&str, &str) {
    (r.created.as_str(), r.name.as_str())
}

/// Upstream's `scale`: the sizes to give, through `resize(name, replicas)`. `surge` is the
/// Deployment's resolved maxSurge. A ReplicaSet is resized (with its replica annotations) when
/// its size changes; in the proportional case also when only its annotations are stale, so the
/// scaling event ends.
pub(super) fn scale(d: &DeploymentRow, surge: i64, new: Option<&ReplicaSetRow>, olds: &[&ReplicaSetRow], resize: &mut dyn FnMut(&str, i64)) {
    let mut active: Vec<&ReplicaSetRow> = olds.iter().copied().chain(new).filter(|r| r.replicas > 0).collect();
    // FindActiveOrLatest.
    let newest_old = || olds.iter().copied().max_by(|a, b| age(a).cmp(&age(b)));
    let target = match active.as_slice() {
        [] => new.or_else(newest_old),
        [only] => Some(*only),
        _ => None,
    };
    if let Some(r) = target {
        // Upstream leaves a ReplicaSet of the right size alone, even one whose stale
        // annotations keep this a scaling event on every sync; here it is resized to its own
        // size, with fresh annotations, so the event ends (a deliberate difference).
        if r.replicas != d.replicas || (r.replicas > 0 && annotations_need_update(d, surge, r)) {
            resize(&r.name, d.replicas);
        }
        return;
    }
    if is_saturated(d, new) {
        for old in olds.iter().filter(|r| r.replicas > 0) {
            resize(&old.name, 0);
        }
        return;
    }
    if !matches!(d.strategy, Strategy::RollingUpdate { .. }) {
        return;
    }
    let current: i64 = active.iter().map(|r| r.replicas).sum();
    let allowed = if d.replicas > 0 { d.replicas + surge } else { 0 };
    let to_add = allowed - current;
    if to_add > 0 {
        // ReplicaSetsBySizeNewer.
        active.sort_by(|a, b| b.replicas.cmp(&a.replicas).then_with(|| age(b).cmp(&age(a))));
    } else if to_add < 0 {
        // ReplicaSetsBySizeOlder.
        active.sort_by_key(|r| (Reverse(r.replicas), age(r)));
    }
    let mut added = 0;
    let mut sizes: Vec<i64> = active
        .iter()
        .map(|r| {
            let share = proportion(d, surge, r, to_add, added);
            added += share;
            r.replicas + share
        })
        .collect();
    if let Some(first) = sizes.first_mut() {
        *first = (*first + to_add - added).max(0);
    }
    for (r, size) in active.iter().zip(sizes) {
        if size != r.replicas || annotations_need_update(d, surge, r) {
            resize(&r.name, size);
        }
    }
}

/// Upstream's `GetProportion`: a ReplicaSet's share of `to_add`, given `added` so far, never
/// past what is left to add (or remove).
fn proportion(d: &DeploymentRow, surge: i64, r: &ReplicaSetRow, to_add: i64, added: i64) -> i64 {
    if r.replicas == 0 || to_add == 0 || to_add == added {
        return 0;
    }
    let fraction = fraction(d, surge, r);
    let left = to_add - added;
    if to_add > 0 {
        fraction.min(left)
    } else {
        fraction.max(left)
    }
}

/// Upstream's `getReplicaSetFraction`: how much a ReplicaSet grows (or shrinks) to keep its
/// share of the Deployment's largest size, from the size it was last sized for (its
/// `max-replicas` annotation, else the Deployment's status replicas, else its own size).
fn fraction(d: &DeploymentRow, surge: i64, r: &ReplicaSetRow) -> i64 {
    if d.replicas == 0 {
        return -r.replicas;
    }
    let largest = d.replicas + surge;
    let before = int_annotation(&r.annotations, MAX_REPLICAS).filter(|n| *n != 0).or(Some(d.observed.replicas).filter(|n| *n != 0)).unwrap_or(r.replicas);
    // math.Round: halves away from zero.
    ((r.replicas * largest) as f64 / before as f64).round() as i64 - r.replicas
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::{json, Value};

    use super::super::{decide, project, HASH_LABEL, REVISION};
    use super::*;
    use crate::types::{Intent, Kind, ObjectKey};

    /// A RollingUpdate Deployment of `replicas` with maxSurge 3 and maxUnavailable 2, as in
    /// upstream's documentation of proportional scaling.
    fn deployment(replicas: i64, image: &str) -> DeploymentRow {
        let v = json!({"metadata": {"name": "web", "namespace": "ns", "uid": "uid-web"},
                       "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 3, "maxUnavailable": 2}},
                                "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": image}]}}}});
        project(&ObjectKey::new(Kind::Deployment, "ns", "web"), &v).unwrap()
    }

    /// A ReplicaSet of the Deployment, last sized for `sized_for` replicas (max `sized_for + 3`).
    fn replica_set(name: &str, image: &str, replicas: i64, available: i64, sized_for: i64, created: &str) -> ReplicaSetRow {
        let v = json!({"metadata": {"name": name, "namespace": "ns", "uid": format!("uid-{name}"), "creationTimestamp": created,
                                    "labels": {"app": "web", HASH_LABEL: name},
                                    "annotations": {REVISION: "1", DESIRED_REPLICAS: sized_for.to_string(), MAX_REPLICAS: (sized_for + 3).to_string()},
                                    "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": "uid-web", "controller": true}]},
                       "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web", HASH_LABEL: name}},
                                "template": {"metadata": {"labels": {"app": "web", HASH_LABEL: name}}, "spec": {"containers": [{"name": "c", "image": image}]}}},
                       "status": {"replicas": replicas, "readyReplicas": available, "availableReplicas": available}});
        match crate::rows::project(&ObjectKey::new(Kind::ReplicaSet, "ns", name), &v).unwrap() {
            crate::rows::Row::ReplicaSet(r) => r,
            other => panic!("{other:?}"),
        }
    }

    fn sizes(d: &DeploymentRow, new: Option<&ReplicaSetRow>, olds: &[&ReplicaSetRow]) -> BTreeMap<String, i64> {
        let mut out = BTreeMap::new();
        scale(d, 3, new, olds, &mut |name, replicas| {
            out.insert(name.to_string(), replicas);
        });
        out
    }

    #[test]
    fn a_rollout_in_progress_keeps_its_ratio_when_scaled() {
        // Upstream's example: 10 replicas, a stuck rollout with 8 old and 5 new; scaled to 15,
        // 3 more go to the old ReplicaSet and 2 to the new (18 = 15 + maxSurge).
        let old = replica_set("web-old", "v1", 8, 8, 10, "2026-01-01T00:00:00Z");
        let new = replica_set("web-new", "v2", 5, 0, 10, "2026-01-01T00:01:00Z");
        let d = deployment(15, "v2");
        assert!(is_scaling_event(&d, Some(&new), &[&old]));
        assert_eq!(sizes(&d, Some(&new), &[&old]), BTreeMap::from([("web-old".into(), 11), ("web-new".into(), 7)]));
        // Back down to 5 from there: 8 = 5 + maxSurge, removed in proportion, the larger first.
        let old = replica_set("web-old", "v1", 11, 8, 15, "2026-01-01T00:00:00Z");
        let new = replica_set("web-new", "v2", 7, 0, 15, "2026-01-01T00:01:00Z");
        assert_eq!(sizes(&deployment(5, "v2"), Some(&new), &[&old]), BTreeMap::from([("web-old".into(), 5), ("web-new".into(), 3)]));
        // To zero, everything goes.
        assert_eq!(sizes(&deployment(0, "v2"), Some(&new), &[&old]), BTreeMap::from([("web-old".into(), 0), ("web-new".into(), 0)]));
    }

    #[test]
    fn the_leftover_goes_to_the_largest_and_ties_favour_the_newest_when_adding() {
        // Two of 2, sized for 4 (max 7): to 5 (max 8) adds 4. Each one's fraction is
        // round(2 * 8 / 7) - 2 = 0, so the leftover 4 goes to the first: the newer one.
        let a = replica_set("web-a", "v1", 2, 2, 4, "2026-01-01T00:00:00Z");
        let b = replica_set("web-b", "v2", 2, 0, 4, "2026-01-01T00:01:00Z");
        assert_eq!(sizes(&deployment(5, "v2"), Some(&b), &[&a]), BTreeMap::from([("web-a".into(), 2), ("web-b".into(), 6)]));
        // Removing, ties favour the oldest: two of 3 sized for 4 (max 7) to 2 (max 5) remove
        // one; the first, the older, gives it (round(3 * 5 / 7) - 3 = -1), and then none is left.
        let a = replica_set("web-a", "v1", 3, 3, 4, "2026-01-01T00:00:00Z");
        let b = replica_set("web-b", "v2", 3, 0, 4, "2026-01-01T00:01:00Z");
        assert_eq!(sizes(&deployment(2, "v2"), Some(&b), &[&a]), BTreeMap::from([("web-a".into(), 2), ("web-b".into(), 3)]));
    }

    #[test]
    fn one_active_replica_set_takes_the_scale_and_a_saturated_new_one_ends_the_olds() {
        let old = replica_set("web-old", "v1", 0, 0, 10, "2026-01-01T00:00:00Z");
        let new = replica_set("web-new", "v2", 10, 10, 10, "2026-01-01T00:01:00Z");
        assert_eq!(sizes(&deployment(12, "v2"), Some(&new), &[&old]), BTreeMap::from([("web-new".into(), 12)]));
        // None active: the new one, else the newest old one.
        let idle_old = replica_set("web-older", "v0", 0, 0, 10, "2025-01-01T00:00:00Z");
        assert_eq!(sizes(&deployment(2, "v2"), None, &[&idle_old, &old]), BTreeMap::from([("web-old".into(), 2)]));
        // Saturated: the new one has all 10 available and is sized for 10.
        let lingering = replica_set("web-old", "v1", 3, 3, 10, "2026-01-01T00:00:00Z");
        assert_eq!(sizes(&deployment(10, "v2"), Some(&new), &[&lingering]), BTreeMap::from([("web-old".into(), 0)]));
    }

    #[test]
    fn a_scaling_event_resizes_instead_of_rolling() {
        let old = replica_set("web-old", "v1", 8, 8, 10, "2026-01-01T00:00:00Z");
        let new = replica_set("web-new", "v2", 5, 0, 10, "2026-01-01T00:01:00Z");
        let patches = |intents: Vec<Intent>| -> BTreeMap<String, Value> {
            intents
                .into_iter()
                .filter_map(|i| match i {
                    Intent::Patch { key, patch } if key.kind == Kind::ReplicaSet => {
                        Some((key.name.to_string(), serde_json::from_str(&patch.to_str()).unwrap()))
                    }
                    _ => None,
                })
                .collect()
        };
        let scaled = patches(decide(&deployment(15, "v2"), &[&old, &new], false));
        assert_eq!(scaled["web-old"]["spec"]["replicas"], 11, "{scaled:?}");
        assert_eq!(scaled["web-new"]["spec"]["replicas"], 7, "{scaled:?}");
        assert_eq!(scaled["web-new"]["metadata"]["annotations"][DESIRED_REPLICAS], "15");
        assert_eq!(scaled["web-new"]["metadata"]["annotations"][MAX_REPLICAS], "18");
        // Once sized for 15, the rollout goes on: nothing more to add while the new pods
        // are unavailable (18 pods, maxSurge reached), and no old one can go (13 of 15 would
        // be available, the least allowed).
        let old = replica_set("web-old", "v1", 11, 11, 15, "2026-01-01T00:00:00Z");
        let new = replica_set("web-new", "v2", 7, 0, 15, "2026-01-01T00:01:00Z");
        assert!(!is_scaling_event(&deployment(15, "v2"), Some(&new), &[&old]));
        let rolling = patches(decide(&deployment(15, "v2"), &[&old, &new], false));
        assert!(rolling.values().all(|p| p.get("spec").is_none()), "{rolling:?}");
        // A template change during a scaling event waits for the scale: no new ReplicaSet yet.
        let old = replica_set("web-old", "v1", 8, 8, 10, "2026-01-01T00:00:00Z");
        let intents = decide(&deployment(15, "v3"), &[&old, &new], false);
        assert!(!intents.iter().any(|i| matches!(i, Intent::Create { .. })), "{intents:?}");
    }
}
