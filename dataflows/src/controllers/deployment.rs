//! Deployment controller: RollingUpdate (maxSurge, maxUnavailable) and Recreate over the
//! Deployment's ReplicaSets, with `pod-template-hash`, revision annotations, history
//! cleanup and status, following upstream's `pkg/controller/deployment` (sync.go,
//! rolling.go, recreate.go; `NewRSNewReplicas`, `reconcileOldReplicaSets`).
//!
//! ```text
//! deployments ─ key by uid ───────────┐
//! replicasets ─ key by controller uid ┴─ join ─▶ Owned ─┐
//! deployments ──────────────────────────────────▶ Self ─┴─ reduce per deployment ─▶ intents
//! ```
//! Each reduce re-derives one sync step from the current state (as upstream's sync does on
//! every event): create the new ReplicaSet, or scale it up, or scale old ones down, and keep
//! the status and revision annotations current. A paused Deployment, or one resized since its
//! ReplicaSets were, takes [`scale`]'s step instead (proportional scaling). Writes come back
//! through the feed and the next step follows, so a rollout is a sequence of small, idempotent decisions. Status and
//! conditions are [`status`]'s; a rollout that makes no progress for `progressDeadlineSeconds`
//! by the clock ([`crate::clock`]) times out, through a deadline that only its own tick
//! touches:
//! ```text
//! deployments ─ progress deadlines ─┐
//! clock ────────────────────────────┴─ expired ─▶ TimedOut ─▶ (the same reduce)
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use differential_dataflow::VecCollection;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::deadlines::Micros;
use crate::rows::{labels, owner_refs, s, selector, terminating, Labels, OwnerRef, ReplicaSetRow, Selector};
use crate::types::{Diff, Intent, Kind, ObjectKey, Revision};

mod scale;
pub mod status;

use status::{next_status, progress_deadline, DeploymentStatus, Step};

pub const REVISION: &str = "deployment.kubernetes.io/revision";
pub const DESIRED_REPLICAS: &str = "deployment.kubernetes.io/desired-replicas";
pub const MAX_REPLICAS: &str = "deployment.kubernetes.io/max-replicas";
pub const HASH_LABEL: &str = "pod-template-hash";

/// An int-or-percent field (`maxSurge`, `maxUnavailable`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum IntOrPercent {
    Int(i64),
    Percent(i64),
}

impl IntOrPercent {
    fn parse(v: Option<&Value>, default: IntOrPercent) -> Result<IntOrPercent, String> {
        match v {
            None | Some(Value::Null) => Ok(default),
            Some(Value::Number(n)) => n.as_i64().map(IntOrPercent::Int).ok_or_else(|| "not an integer".into()),
            Some(Value::String(s)) => match s.strip_suffix('%') {
                Some(p) => p.parse().map(IntOrPercent::Percent).map_err(|_| format!("invalid percent {s:?}")),
                None => s.parse().map(IntOrPercent::Int).map_err(|_| format!("invalid value {s:?}")),
            },
            Some(_) => Err("neither an integer nor a percent".into()),
        }
    }

    /// The value for `total` replicas, rounding a percent up or down.
    fn resolve(&self, total: i64, round_up: bool) -> i64 {
        match self {
            IntOrPercent::Int(n) => *n,
            IntOrPercent::Percent(p) => {
                let scaled = total * p;
                if round_up {
                    (scaled + 99) / 100
                } else {
                    scaled / 100
                }
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Strategy {
    Recreate,
    RollingUpdate { max_surge: IntOrPercent, max_unavailable: IntOrPercent },
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct DeploymentRow {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub replicas: i64,
    pub selector: Selector,
    /// `spec.template` as JSON.
    pub template: String,
    pub strategy: Strategy,
    pub paused: bool,
    pub revision_history_limit: i64,
    pub min_ready_seconds: i64,
    /// `spec.progressDeadlineSeconds`; None when unset or "never" (`MaxInt32`).
    pub progress_deadline_seconds: Option<i64>,
    pub generation: i64,
    pub annotations: Labels,
    pub deleting: bool,
    /// The status fields this controller writes, as they stand.
    pub observed: DeploymentStatus,
    /// When this rollout times out by the clock ([`status::progress_deadline`]).
    pub progress_deadline: Option<Micros>,
}

/// Projects a Deployment object.
pub fn project(key: &ObjectKey, v: &Value) -> Result<DeploymentRow, String> {
    let strategy = match v.pointer("/spec/strategy/type").and_then(Value::as_str) {
        Some("Recreate") => Strategy::Recreate,
        _ => Strategy::RollingUpdate {
            max_surge: IntOrPercent::parse(v.pointer("/spec/strategy/rollingUpdate/maxSurge"), IntOrPercent::Percent(25))?,
            max_unavailable: IntOrPercent::parse(v.pointer("/spec/strategy/rollingUpdate/maxUnavailable"), IntOrPercent::Percent(25))?,
        },
    };
    let _ = owner_refs(v)?;
    let int = |field: &str| v.pointer(field).map(|n| n.as_i64().ok_or(format!("{} is not an integer", &field[1..].replace('/', "."))));
    let progress_deadline_seconds = int("/spec/progressDeadlineSeconds").transpose()?.filter(|s| *s != i64::from(i32::MAX));
    let observed = DeploymentStatus::observed(v);
    Ok(DeploymentRow {
        progress_deadline: progress_deadline(&observed, progress_deadline_seconds)?,
        progress_deadline_seconds,
        min_ready_seconds: int("/spec/minReadySeconds").transpose()?.unwrap_or(0),
        namespace: key.namespace.clone(),
        name: key.name.clone(),
        uid: s(v, "/metadata/uid"),
        replicas: v.pointer("/spec/replicas").map_or(Ok(1), |r| r.as_i64().ok_or("spec.replicas is not an integer"))?,
        selector: selector(v.pointer("/spec/selector"), false)?,
        template: v.pointer("/spec/template").map(Value::to_string).unwrap_or_default(),
        strategy,
        paused: v.pointer("/spec/paused").and_then(Value::as_bool).unwrap_or(false),
        revision_history_limit: v.pointer("/spec/revisionHistoryLimit").and_then(Value::as_i64).unwrap_or(10),
        generation: v.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(0),
        annotations: labels(v.pointer("/metadata/annotations"))?,
        deleting: terminating(v),
        observed,
    })
}

/// `pod-template-hash`: FNV-32a of the template, spelled in upstream's safe alphabet.
pub fn template_hash(template: &str) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut hash: u32 = 0x811c_9dc5;
    for b in template.bytes() {
        hash = (hash ^ u32::from(b)).wrapping_mul(0x0100_0193);
    }
    hash.to_string().bytes().map(|b| ALPHABET[b as usize % ALPHABET.len()] as char).collect()
}

/// Whether a Deployment's annotation is copied to its new ReplicaSet (all but upstream's
/// `annotationsToSkip`, in `pkg/controller/deployment/util/deployment_util.go`): so the
/// ReplicaSet carries `kubernetes.io/change-cause`, which `kubectl rollout history` shows.
fn copied_to_replica_set(key: &str) -> bool {
    !matches!(
        key,
        "kubectl.kubernetes.io/last-applied-configuration"
            | REVISION
            | "deployment.kubernetes.io/revision-history"
            | DESIRED_REPLICAS
            | MAX_REPLICAS
            | "deprecated.deployment.rollback.to"
    )
}

fn annotation<'a>(annotations: &'a Labels, key: &str) -> Option<&'a str> {
    annotations.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

fn revision(annotations: &Labels) -> i64 {
    annotation(annotations, REVISION).and_then(|v| v.parse().ok()).unwrap_or(0)
}

/// Whether a ReplicaSet's template is the Deployment's, ignoring `pod-template-hash`.
fn same_template(deployment: &str, replica_set: &str) -> bool {
    let (Ok(d), Ok(mut r)) = (serde_json::from_str::<Value>(deployment), serde_json::from_str::<Value>(replica_set)) else {
        return false;
    };
    if let Some(l) = r.pointer_mut("/metadata/labels").and_then(Value::as_object_mut) {
        l.remove(HASH_LABEL);
    }
    d == r
}

fn rs_key(d: &DeploymentRow, name: &str) -> ObjectKey {
    ObjectKey::new(Kind::ReplicaSet, d.namespace.clone(), name)
}

fn max_surge(d: &DeploymentRow) -> (i64, i64) {
    match &d.strategy {
        Strategy::Recreate => (0, 0),
        Strategy::RollingUpdate { max_surge, max_unavailable } => {
            let surge = max_surge.resolve(d.replicas, true);
            let unavailable = max_unavailable.resolve(d.replicas, false);
            // Upstream's resolveFenceposts: both zero would never progress.
            if surge == 0 && unavailable == 0 {
                (0, 1)
            } else {
                (surge, unavailable)
            }
        }
    }
}

fn new_replica_set_body(d: &DeploymentRow, hash: &str, replicas: i64, revision: i64) -> (String, String) {
    let name = format!("{}-{hash}", d.name);
    let mut template: Value = serde_json::from_str(&d.template).unwrap_or_else(|_| json!({}));
    if !template.get("metadata").is_some_and(Value::is_object) {
        template["metadata"] = json!({});
    }
    if !template["metadata"].get("labels").is_some_and(Value::is_object) {
        template["metadata"]["labels"] = json!({});
    }
    template["metadata"]["labels"][HASH_LABEL] = json!(hash);
    let mut match_labels: BTreeMap<String, String> = d.selector.match_labels.iter().cloned().collect();
    match_labels.insert(HASH_LABEL.into(), hash.into());
    let expressions: Vec<Value> = d.selector.expressions.iter().map(|(k, op, vals)| json!({"key": k, "operator": op, "values": vals})).collect();
    let mut selector = json!({"matchLabels": match_labels});
    if !expressions.is_empty() {
        selector["matchExpressions"] = json!(expressions);
    }
    let owner = OwnerRef {
        api_version: "apps/v1".into(),
        kind: "Deployment".into(),
        name: d.name.clone(),
        uid: d.uid.clone(),
        controller: true,
        block_owner_deletion: true,
    };
    let (surge, _) = max_surge(d);
    let mut annotations: serde_json::Map<String, Value> =
        d.annotations.iter().filter(|(k, _)| copied_to_replica_set(k)).map(|(k, v)| (k.clone(), json!(v))).collect();
    annotations.insert(REVISION.into(), json!(revision.to_string()));
    annotations.insert(DESIRED_REPLICAS.into(), json!(d.replicas.to_string()));
    annotations.insert(MAX_REPLICAS.into(), json!((d.replicas + surge).to_string()));
    let body = json!({
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": name,
            "namespace": d.namespace,
            "labels": template["metadata"]["labels"],
            "annotations": annotations,
            "ownerReferences": [owner.to_json()],
        },
        "spec": {"replicas": replicas, "minReadySeconds": d.min_ready_seconds, "selector": selector, "template": template},
    });
    (name, body.to_string())
}

/// One sync step of a Deployment over its ReplicaSets. Shared by the dataflow and the
/// reference; the churn test checks how the members are found and maintained.
pub fn decide(d: &DeploymentRow, owned: &[&ReplicaSetRow], deadline_passed: bool) -> Vec<Intent> {
    let mut out = Vec::new();
    if d.deleting {
        return out;
    }
    let mut rs_patches: BTreeMap<String, Value> = BTreeMap::new();
    let patch_rs = |name: &str, patch: Value, patches: &mut BTreeMap<String, Value>| {
        let entry = patches.entry(name.to_string()).or_insert_with(|| json!({}));
        json_merge(entry, patch);
    };
    let new = owned.iter().filter(|r| same_template(&d.template, &r.template)).max_by_key(|r| (revision(&r.annotations), r.name.clone())).copied();
    let olds: Vec<&ReplicaSetRow> = owned.iter().copied().filter(|r| new.is_none_or(|n| n.name != r.name)).collect();
    let max_old_revision = olds.iter().map(|r| revision(&r.annotations)).max().unwrap_or(0);
    let (surge, max_unavailable) = max_surge(d);
    let all_spec: i64 = owned.iter().map(|r| r.replicas).sum();

    // Paused, or resized since the active ReplicaSets were: scale without rolling.
    let scaling_only = d.paused || scale::is_scaling_event(d, new, &olds);

    let mut new_revision = new.map(|n| revision(&n.annotations));
    let mut created = None;
    match new {
        None if !scaling_only => {
            let initial = match d.strategy {
                Strategy::Recreate => {
                    let olds_running = olds.iter().any(|r| r.replicas > 0 || r.status_counts.0 > 0);
                    for r in olds.iter().filter(|r| r.replicas > 0) {
                        patch_rs(&r.name, scale_patch(d, surge, 0), &mut rs_patches);
                    }
                    (!olds_running).then_some(d.replicas)
                }
                Strategy::RollingUpdate { .. } => Some((d.replicas + surge - all_spec).clamp(0, d.replicas)),
            };
            if let Some(replicas) = initial {
                let hash = template_hash(&d.template);
                let (name, body) = new_replica_set_body(d, &hash, replicas, max_old_revision + 1);
                out.push(Intent::Create { key: rs_key(d, &name), body: body.into() });
                new_revision = Some(max_old_revision + 1);
                created = Some(name);
            }
        }
        None => {}
        Some(n) => {
            if revision(&n.annotations) <= max_old_revision {
                new_revision = Some(max_old_revision + 1);
                patch_rs(&n.name, json!({"metadata": {"annotations": {REVISION: (max_old_revision + 1).to_string()}}}), &mut rs_patches);
            }
            if n.min_ready_seconds != d.min_ready_seconds {
                patch_rs(&n.name, json!({"spec": {"minReadySeconds": d.min_ready_seconds}}), &mut rs_patches);
            }
            // Upstream's copyDeploymentAnnotationsToReplicaSet: added or overwritten, never removed.
            for (k, v) in d.annotations.iter().filter(|(k, _)| copied_to_replica_set(k)) {
                if !n.annotations.iter().any(|(nk, nv)| nk == k && nv == v) {
                    patch_rs(&n.name, json!({"metadata": {"annotations": {k.as_str(): v}}}), &mut rs_patches);
                }
            }
            let resize = |replicas: i64| scale_patch(d, surge, replicas);
            match d.strategy {
                _ if scaling_only => {}
                Strategy::Recreate => {
                    let olds_running = olds.iter().any(|r| r.replicas > 0 || r.status_counts.0 > 0);
                    for r in olds.iter().filter(|r| r.replicas > 0) {
                        patch_rs(&r.name, resize(0), &mut rs_patches);
                    }
                    if !olds_running && n.replicas != d.replicas {
                        patch_rs(&n.name, resize(d.replicas), &mut rs_patches);
                    }
                }
                Strategy::RollingUpdate { .. } => {
                    let target = if n.replicas > d.replicas {
                        d.replicas
                    } else {
                        // NewRSNewReplicas.
                        let room = (d.replicas + surge - all_spec).max(0);
                        n.replicas + room.min(d.replicas - n.replicas)
                    };
                    if target != n.replicas {
                        patch_rs(&n.name, resize(target), &mut rs_patches);
                    } else {
                        for (name, replicas) in scale_down_olds(d, n, &olds, max_unavailable) {
                            patch_rs(&name, resize(replicas), &mut rs_patches);
                        }
                    }
                }
            }
        }
    }

    if scaling_only {
        scale::scale(d, surge, new, &olds, &mut |name, replicas| patch_rs(name, scale_patch(d, surge, replicas), &mut rs_patches));
    }

    // History, as upstream's `cleanupDeployment`: once the rollout is complete by the status
    // on the object (or while paused), the oldest old ReplicaSets beyond the limit go, those
    // of them that have nothing left.
    let clean_up = if scaling_only { d.paused } else { d.observed.complete(d) };
    if clean_up {
        let mut cleanable: Vec<&ReplicaSetRow> = olds.iter().copied().filter(|r| !r.deleting).collect();
        cleanable.sort_by_key(|r| (revision(&r.annotations), r.created.clone(), r.name.clone()));
        let surplus = cleanable.len() as i64 - d.revision_history_limit.max(0);
        let empty = |r: &&ReplicaSetRow| r.replicas == 0 && r.status_counts.0 == 0 && !rs_patches.contains_key(&r.name);
        for r in cleanable.into_iter().take(surplus.max(0) as usize).filter(empty) {
            out.push(Intent::Delete { key: rs_key(d, &r.name) });
        }
    }
    for (name, patch) in rs_patches {
        out.push(Intent::Patch { key: rs_key(d, &name), patch: patch.to_string().into() });
    }

    let deployment_key = ObjectKey::new(Kind::Deployment, d.namespace.clone(), d.name.clone());
    if let Some(r) = new_revision {
        if revision(&d.annotations) != r {
            out.push(Intent::Patch { key: deployment_key.clone(), patch: json!({"metadata": {"annotations": {REVISION: r.to_string()}}}).to_string().into() });
        }
    }
    let step = Step { new, creating: created.as_deref(), owned, max_unavailable, deadline_passed, scaling_only };
    let status = next_status(d, &step);
    if status != d.observed {
        out.push(Intent::PatchStatus { key: deployment_key, patch: status.to_patch().into() });
    }
    out
}

/// A ReplicaSet's scale to `replicas` for the Deployment, with the replica annotations.
fn scale_patch(d: &DeploymentRow, surge: i64, replicas: i64) -> Value {
    json!({"spec": {"replicas": replicas}, "metadata": {"annotations": {DESIRED_REPLICAS: d.replicas.to_string(), MAX_REPLICAS: (d.replicas + surge).to_string()}}})
}

/// Upstream's `reconcileOldReplicaSets`: scale old ReplicaSets down as far as availability
/// allows, unhealthy replicas first. Returns the new sizes of the ones that change.
fn scale_down_olds(d: &DeploymentRow, new: &ReplicaSetRow, olds: &[&ReplicaSetRow], max_unavailable: i64) -> Vec<(String, i64)> {
    let old_pods: i64 = olds.iter().map(|r| r.replicas).sum();
    if old_pods == 0 {
        return vec![];
    }
    let all_pods: i64 = olds.iter().map(|r| r.replicas).sum::<i64>() + new.replicas;
    let min_available = d.replicas - max_unavailable;
    let new_unavailable = new.replicas - new.status_counts.2;
    let mut budget = all_pods - min_available - new_unavailable;
    if budget <= 0 {
        return vec![];
    }
    let mut sizes: BTreeMap<String, i64> = olds.iter().map(|r| (r.name.clone(), r.replicas)).collect();
    let mut order: Vec<&&ReplicaSetRow> = olds.iter().collect();
    order.sort_by_key(|r| (r.created.clone(), r.name.clone()));
    // cleanupUnhealthyReplicas: replicas that are not available go first.
    for r in &order {
        if budget <= 0 {
            break;
        }
        let unhealthy = (r.replicas - r.status_counts.2).max(0).min(budget);
        if unhealthy > 0 {
            *sizes.get_mut(&r.name).expect("listed") -= unhealthy;
            budget -= unhealthy;
        }
    }
    // scaleDownOldReplicaSetsForRollingUpdate: then available ones, keeping minAvailable.
    let available: i64 = olds.iter().map(|r| r.status_counts.2.min(sizes[&r.name])).sum::<i64>() + new.status_counts.2;
    let mut total = (available - min_available).max(0);
    for r in &order {
        if total <= 0 {
            break;
        }
        let size = sizes[&r.name];
        let down = size.min(total);
        if down > 0 {
            sizes.insert(r.name.clone(), size - down);
            total -= down;
        }
    }
    olds.iter().filter(|r| sizes[&r.name] != r.replicas).map(|r| (r.name.clone(), sizes[&r.name])).collect()
}

fn json_merge(into: &mut Value, patch: Value) {
    match (into, patch) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                json_merge(a.entry(k).or_insert(Value::Null), v);
            }
        }
        (slot, v) => *slot = v,
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Member {
    Deployment(Box<DeploymentRow>),
    Owned(Arc<ReplicaSetRow>),
    /// The clock passed the Deployment's progress deadline.
    TimedOut,
}

/// The dataflow: intents of every Deployment.
pub fn deployments<'s>(
    deployments: VecCollection<'s, Revision, DeploymentRow, Diff>,
    replicasets: VecCollection<'s, Revision, Arc<ReplicaSetRow>, Diff>,
    clock: VecCollection<'s, Revision, Micros, Diff>,
) -> VecCollection<'s, Revision, Intent, Diff> {
    let key = |d: &DeploymentRow| ObjectKey::new(Kind::Deployment, d.namespace.clone(), d.name.clone());
    let by_uid = deployments.clone().map(move |d| (d.uid.clone(), key(&d)));
    let owned = replicasets
        .filter(|r| r.kind == Kind::ReplicaSet)
        .flat_map(|r| {
            let owner = r.owners.iter().find(|o| o.controller && o.kind == "Deployment")?.uid.clone();
            Some((owner, r))
        })
        .join_map(by_uid, |_, r, k| (k.clone(), Member::Owned(r.clone())));
    let deadlines = deployments.clone().flat_map(move |d| d.progress_deadline.map(|at| (key(&d), at)));
    let timed_out = crate::deadlines::expired(deadlines, clock).map(|k| (k, Member::TimedOut));
    let selves = deployments.map(move |d| (key(&d), Member::Deployment(Box::new(d))));
    selves
        .concat(owned)
        .concat(timed_out)
        .reduce_named("deployment-decide", |_key, input: &[(&Member, Diff)], output: &mut Vec<(Intent, Diff)>| {
            let mut deployment = None;
            let mut owned = Vec::new();
            let mut deadline_passed = false;
            for (m, d) in input {
                if *d <= 0 {
                    continue;
                }
                match m {
                    Member::Deployment(d) => deployment = Some(&**d),
                    Member::Owned(r) => owned.push(&**r),
                    Member::TimedOut => deadline_passed = true,
                }
            }
            if let Some(d) = deployment {
                for intent in decide(d, &owned, deadline_passed) {
                    output.push((intent, 1));
                }
            }
        })
        .map(|(_, intent)| intent)
}

/// The reference: the same intents, from scratch over a snapshot.
pub fn reference(deployments: &[DeploymentRow], replicasets: &[ReplicaSetRow], now: Option<Micros>) -> BTreeSet<Intent> {
    let mut out = BTreeSet::new();
    for d in deployments {
        let owned: Vec<&ReplicaSetRow> = replicasets
            .iter()
            .filter(|r| r.kind == Kind::ReplicaSet && r.owners.iter().any(|o| o.controller && o.kind == "Deployment" && o.uid == d.uid))
            .collect();
        let deadline_passed = d.progress_deadline.is_some_and(|at| now.is_some_and(|now| at < now));
        out.extend(decide(d, &owned, deadline_passed));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percents_round_as_upstream() {
        assert_eq!(IntOrPercent::Percent(25).resolve(3, true), 1);
        assert_eq!(IntOrPercent::Percent(25).resolve(3, false), 0);
        assert_eq!(IntOrPercent::Percent(25).resolve(10, true), 3);
        assert_eq!(IntOrPercent::Percent(25).resolve(10, false), 2);
        assert_eq!(IntOrPercent::parse(Some(&json!("30%")), IntOrPercent::Int(0)), Ok(IntOrPercent::Percent(30)));
    }

    fn deployment(replicas: i64, paused: bool, annotations: Value) -> DeploymentRow {
        let v = json!({"metadata": {"name": "web", "namespace": "ns", "uid": "uid-web", "annotations": annotations},
                       "spec": {"replicas": replicas, "paused": paused, "selector": {"matchLabels": {"app": "web"}},
                                "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "v1"}]}}}});
        project(&ObjectKey::new(Kind::Deployment, "ns", "web"), &v).unwrap()
    }

    fn replica_set(name: &str, image: &str, replicas: i64, revision: i64) -> ReplicaSetRow {
        let v = json!({"metadata": {"name": name, "namespace": "ns", "uid": format!("uid-{name}"), "labels": {"app": "web", HASH_LABEL: "h"},
                                    "annotations": {REVISION: revision.to_string()},
                                    "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": "uid-web", "controller": true}]},
                       "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web", HASH_LABEL: "h"}},
                                "template": {"metadata": {"labels": {"app": "web", HASH_LABEL: "h"}}, "spec": {"containers": [{"name": "c", "image": image}]}}},
                       "status": {"replicas": replicas, "readyReplicas": replicas, "availableReplicas": replicas}});
        match crate::rows::project(&ObjectKey::new(Kind::ReplicaSet, "ns", name), &v).unwrap() {
            crate::rows::Row::ReplicaSet(r) => r,
            other => panic!("{other:?}"),
        }
    }

    fn patches_of(intents: &[Intent], name: &str) -> Vec<Value> {
        intents
            .iter()
            .filter_map(|i| match i {
                Intent::Patch { key, patch } if key.kind == Kind::ReplicaSet && key.name == name => Some(serde_json::from_str(&patch.to_str()).unwrap()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_paused_deployment_still_scales_its_one_active_replica_set() {
        let current = replica_set("web-a", "v1", 3, 1);
        let intents = decide(&deployment(5, true, json!({})), &[&current], false);
        assert_eq!(patches_of(&intents, "web-a")[0]["spec"]["replicas"], 5, "{intents:?}");
        // A template change while paused rolls nothing: the old one, still the only active
        // one, takes the scale, and no new ReplicaSet is made.
        let old = replica_set("web-old", "v0", 3, 1);
        let intents = decide(&deployment(4, true, json!({})), &[&old], false);
        assert_eq!(patches_of(&intents, "web-old")[0]["spec"]["replicas"], 4, "{intents:?}");
        assert!(!intents.iter().any(|i| matches!(i, Intent::Create { .. })), "{intents:?}");
        // Two active ones share the scale in proportion (`scale.rs` has the arithmetic): up
        // to replicas + maxSurge (9 + 3), each sized for the new replicas.
        let intents = decide(&deployment(9, true, json!({})), &[&current, &old], false);
        let patches: Vec<Value> = patches_of(&intents, "web-a").into_iter().chain(patches_of(&intents, "web-old")).collect();
        assert_eq!(patches.iter().map(|p| p["spec"]["replicas"].as_i64().unwrap()).sum::<i64>(), 12, "{intents:?}");
        assert!(patches.iter().all(|p| p["metadata"]["annotations"][DESIRED_REPLICAS] == "9"), "{intents:?}");
    }

    #[test]
    fn history_is_cleaned_once_the_rollout_is_complete() {
        let with_status = |available: i64| {
            let v = json!({"metadata": {"name": "web", "namespace": "ns", "uid": "uid-web", "generation": 4},
                           "spec": {"replicas": 2, "revisionHistoryLimit": 1, "selector": {"matchLabels": {"app": "web"}},
                                    "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "v1"}]}}},
                           "status": {"observedGeneration": 4, "replicas": 2, "updatedReplicas": 2, "readyReplicas": available, "availableReplicas": available}});
            project(&ObjectKey::new(Kind::Deployment, "ns", "web"), &v).unwrap()
        };
        let (oldest, older, new) = (replica_set("web-a", "v0", 0, 1), replica_set("web-b", "v0b", 0, 2), replica_set("web-c", "v1", 2, 3));
        let deletes = |d: &DeploymentRow| -> Vec<String> {
            decide(d, &[&oldest, &older, &new], false)
                .into_iter()
                .filter_map(|i| if let Intent::Delete { key } = i { Some(key.name.to_string()) } else { None })
                .collect()
        };
        // Two old ReplicaSets over a limit of one: the oldest goes, once every replica is
        // updated and available.
        assert_eq!(deletes(&with_status(2)), vec!["web-a".to_string()]);
        assert!(deletes(&with_status(1)).is_empty(), "not while the rollout is in progress");
    }

    #[test]
    fn annotations_but_upstreams_skipped_ones_go_to_the_new_replica_set() {
        let annotations =
            json!({"kubernetes.io/change-cause": "kubectl set image v2", "kubectl.kubernetes.io/last-applied-configuration": "{}", REVISION: "1"});
        let d = deployment(2, false, annotations);
        let created = decide(&d, &[], false)
            .into_iter()
            .find_map(|i| if let Intent::Create { body, .. } = i { Some(serde_json::from_str::<Value>(&body.to_str()).unwrap()) } else { None })
            .unwrap();
        let got = &created["metadata"]["annotations"];
        assert_eq!(got["kubernetes.io/change-cause"], "kubectl set image v2");
        assert!(got.get("kubectl.kubernetes.io/last-applied-configuration").is_none(), "{got}");
        assert_eq!(got[REVISION], "1");
        // An existing new ReplicaSet without it gets it.
        let current = replica_set("web-a", "v1", 2, 1);
        let patches = patches_of(&decide(&d, &[&current], false), "web-a");
        assert_eq!(patches[0]["metadata"]["annotations"]["kubernetes.io/change-cause"], "kubectl set image v2", "{patches:?}");
    }

    fn status_patch(intents: &[Intent]) -> Value {
        intents
            .iter()
            .find_map(|i| if let Intent::PatchStatus { patch, .. } = i { Some(serde_json::from_str::<Value>(&patch.to_str()).unwrap()) } else { None })
            .expect("a status patch")
    }

    fn progressing(patch: &Value) -> Value {
        patch["status"]["conditions"].as_array().unwrap().iter().find(|c| c["type"] == "Progressing").cloned().unwrap()
    }

    /// Upstream's `syncRolloutStatus`: a stalled rollout times out once the clock passes its
    /// progress deadline; progress moves `lastUpdateTime` to the write's time and keeps the
    /// transition time.
    #[test]
    fn a_stalled_rollout_times_out_and_progress_moves_the_update_time() {
        let mut d = deployment(2, false, json!({}));
        d.progress_deadline_seconds = Some(10);
        let stalled = json!({"status": {"observedGeneration": 0, "replicas": 1, "updatedReplicas": 1, "readyReplicas": 0, "availableReplicas": 0,
            "conditions": [{"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated", "message": "m",
                            "lastUpdateTime": "2026-01-01T00:00:00Z", "lastTransitionTime": "2025-12-31T00:00:00Z"}]}});
        d.observed = DeploymentStatus::observed(&stalled);
        d.progress_deadline = progress_deadline(&d.observed, d.progress_deadline_seconds).unwrap();
        assert_eq!(d.progress_deadline, Some(1_767_225_610 * crate::deadlines::MICROS_PER_SECOND));
        let mut current = replica_set("web-a", "v1", 2, 1);
        current.status_counts = (1, 0, 0);

        let waiting = progressing(&status_patch(&decide(&d, &[&current], false)));
        assert_eq!((waiting["reason"].as_str(), waiting["lastUpdateTime"].as_str()), (Some("ReplicaSetUpdated"), Some("2026-01-01T00:00:00Z")));
        let timed_out = progressing(&status_patch(&decide(&d, &[&current], true)));
        assert_eq!((timed_out["status"].as_str(), timed_out["reason"].as_str()), (Some("False"), Some(status::TIMED_OUT)));
        assert_eq!(timed_out["message"], "ReplicaSet \"web-a\" has timed out progressing.");
        assert_eq!(timed_out["lastUpdateTime"], crate::clock::WRITE_TIME);

        current.status_counts = (2, 1, 0);
        let moved = progressing(&status_patch(&decide(&d, &[&current], true)));
        assert_eq!((moved["reason"].as_str(), moved["lastUpdateTime"].as_str()), (Some("ReplicaSetUpdated"), Some(crate::clock::WRITE_TIME)));
        assert_eq!(moved["lastTransitionTime"], "2025-12-31T00:00:00Z");
    }

    /// Upstream's `NewReplicaSetCreated` comes once the new ReplicaSet exists, not with the
    /// create (which admission may refuse); a ReplicaSet older than the Progressing condition,
    /// as `rollout undo` brings back, is not "created".
    #[test]
    fn created_is_reported_once_the_new_replica_set_exists() {
        let mut d = deployment(2, false, json!({}));
        d.progress_deadline_seconds = Some(600);
        let creating = decide(&d, &[], false);
        assert!(status_patch(&creating)["status"]["conditions"].as_array().unwrap().iter().all(|c| c["type"] != "Progressing"), "{creating:?}");
        let mut new = replica_set("web-a", "v1", 2, 1);
        new.created = "2026-01-01T00:01:00Z".into();
        new.status_counts = (0, 0, 0);
        let created = progressing(&status_patch(&decide(&d, &[&new], false)));
        assert_eq!((created["reason"].as_str(), created["message"].as_str()), (Some("NewReplicaSetCreated"), Some("Created new replica set \"web-a\"")));

        let later = json!({"status": {"conditions": [{"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable", "message": "m",
                            "lastUpdateTime": "2026-01-01T00:02:00Z", "lastTransitionTime": "2026-01-01T00:02:00Z"}]}});
        d.observed = DeploymentStatus::observed(&later);
        let undone = status_patch(&decide(&d, &[&new], false));
        assert_ne!(progressing(&undone)["reason"], "NewReplicaSetCreated", "{undone}");
    }

    #[test]
    fn hash_is_stable_and_safe() {
        let h = template_hash(r#"{"spec":{}}"#);
        assert_eq!(h, template_hash(r#"{"spec":{}}"#));
        assert!(h.chars().all(|c| "bcdfghjklmnpqrstvwxz2456789".contains(c)));
        assert_ne!(h, template_hash(r#"{"spec":{"x":1}}"#));
    }
}
