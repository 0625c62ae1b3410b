//! A Deployment's status and conditions, as upstream's `calculateStatus`, `syncRolloutStatus`
//! and `checkPausedConditions` (`pkg/controller/deployment/sync.go`, `progress.go`) with the
//! condition helpers of `deployment/util/deployment_util.go`.
//!
//! Conditions keep their timestamps across steps, as upstream's `SetDeploymentCondition`
//! does: a condition whose status and reason stand is left as it is; one that changes gets
//! the time of the write ([`WRITE_TIME`], filled in by the writer), keeping its
//! `lastTransitionTime` when only its reason changes. Progressing's `lastUpdateTime` moves
//! with every sign of progress, and once it is `progressDeadlineSeconds` old by the clock
//! ([`progress_deadline`]) the rollout has timed out: `ProgressDeadlineExceeded`, which
//! `kubectl rollout status` reports as a failure.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::DeploymentRow;
use crate::clock::{micros, WRITE_TIME};
use crate::deadlines::{Micros, MICROS_PER_SECOND};
use crate::rows::ReplicaSetRow;

pub const AVAILABLE: &str = "Available";
pub const PROGRESSING: &str = "Progressing";
pub const NEW_RS_AVAILABLE: &str = "NewReplicaSetAvailable";
pub const TIMED_OUT: &str = "ProgressDeadlineExceeded";
const UPDATED: &str = "ReplicaSetUpdated";
const CREATED: &str = "NewReplicaSetCreated";
const PAUSED: &str = "DeploymentPaused";
pub const REPLICA_FAILURE: &str = "ReplicaFailure";
const RESUMED: &str = "DeploymentResumed";

/// One condition, as the object carries it.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Condition {
    pub kind: String,
    pub status: String,
    pub reason: String,
    pub message: String,
    pub last_update: String,
    pub last_transition: String,
}

impl Condition {
    /// A condition as of this write (upstream's `NewDeploymentCondition`).
    fn new(kind: &str, status: &str, reason: &str, message: String) -> Condition {
        Condition {
            kind: kind.into(),
            status: status.into(),
            reason: reason.into(),
            message,
            last_update: WRITE_TIME.into(),
            last_transition: WRITE_TIME.into(),
        }
    }

    fn to_json(&self) -> Value {
        let mut c = json!({"type": self.kind, "status": self.status});
        for (field, value) in
            [("lastUpdateTime", &self.last_update), ("lastTransitionTime", &self.last_transition), ("reason", &self.reason), ("message", &self.message)]
        {
            if !value.is_empty() {
                c[field] = json!(value);
            }
        }
        c
    }
}

/// The status fields this controller writes.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct DeploymentStatus {
    pub observed_generation: i64,
    pub replicas: i64,
    pub updated: i64,
    pub ready: i64,
    pub available: i64,
    pub unavailable: i64,
    pub conditions: Vec<Condition>,
}

impl DeploymentStatus {
    /// The status as it stands on an object.
    pub fn observed(v: &Value) -> DeploymentStatus {
        let n = |k: &str| v.pointer(&format!("/status/{k}")).and_then(Value::as_i64).unwrap_or(0);
        let text = |c: &Value, k: &str| c.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
        let conditions = v
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|c| Condition {
                kind: text(c, "type"),
                status: text(c, "status"),
                reason: text(c, "reason"),
                message: text(c, "message"),
                last_update: text(c, "lastUpdateTime"),
                last_transition: text(c, "lastTransitionTime"),
            })
            .collect();
        DeploymentStatus {
            observed_generation: n("observedGeneration"),
            replicas: n("replicas"),
            updated: n("updatedReplicas"),
            ready: n("readyReplicas"),
            available: n("availableReplicas"),
            unavailable: n("unavailableReplicas"),
            conditions,
        }
    }

    /// The status subresource's merge patch that writes this status.
    pub fn to_patch(&self) -> String {
        json!({"status": {
            "observedGeneration": self.observed_generation,
            "replicas": self.replicas,
            "updatedReplicas": self.updated,
            "readyReplicas": self.ready,
            "availableReplicas": self.available,
            "unavailableReplicas": self.unavailable,
            "conditions": self.conditions.iter().map(Condition::to_json).collect::<Vec<_>>(),
        }})
        .to_string()
    }

    /// Upstream's `DeploymentComplete`: every replica updated and available, and the
    /// Deployment's generation observed.
    pub fn complete(&self, d: &DeploymentRow) -> bool {
        self.updated == d.replicas && self.replicas == d.replicas && self.available == d.replicas && self.observed_generation >= d.generation
    }

    pub fn condition(&self, kind: &str) -> Option<&Condition> {
        self.conditions.iter().find(|c| c.kind == kind)
    }

    /// Upstream's `SetDeploymentCondition`: the same status and reason change nothing; the
    /// same status keeps the transition time; the condition goes last.
    fn set(&mut self, mut condition: Condition) {
        if let Some(current) = self.condition(&condition.kind) {
            if current.status == condition.status && current.reason == condition.reason {
                return;
            }
            if current.status == condition.status {
                condition.last_transition = current.last_transition.clone();
            }
        }
        self.remove(&condition.kind.clone());
        self.conditions.push(condition);
    }

    fn remove(&mut self, kind: &str) {
        self.conditions.retain(|c| c.kind != kind);
    }
}

/// When a Deployment's rollout times out, in the clock's microseconds: its Progressing
/// condition's `lastUpdateTime` plus `progressDeadlineSeconds`, while that can still happen
/// (upstream's `DeploymentTimedOut`: not once the new ReplicaSet is available, nor once it
/// timed out already).
pub fn progress_deadline(observed: &DeploymentStatus, deadline_seconds: Option<i64>) -> Result<Option<Micros>, String> {
    let (Some(seconds), Some(progressing)) = (deadline_seconds, observed.condition(PROGRESSING)) else {
        return Ok(None);
    };
    if progressing.reason == NEW_RS_AVAILABLE || progressing.reason == TIMED_OUT {
        return Ok(None);
    }
    let from = micros(Some(&json!(progressing.last_update)).filter(|_| !progressing.last_update.is_empty()), "the Progressing condition's lastUpdateTime")?;
    Ok(Some(from + seconds * MICROS_PER_SECOND))
}

/// What this step of the rollout sees and does that its status tells.
pub struct Step<'a> {
    pub new: Option<&'a ReplicaSetRow>,
    /// The name of the new ReplicaSet this step creates.
    pub creating: Option<&'a str>,
    pub owned: &'a [&'a ReplicaSetRow],
    pub max_unavailable: i64,
    /// The clock is past [`progress_deadline`].
    pub deadline_passed: bool,
    /// A scaling event's step (upstream's `sync`): the counts, but no rollout conditions.
    pub scaling_only: bool,
}

/// The status after this step.
pub fn next_status(d: &DeploymentRow, step: &Step) -> DeploymentStatus {
    let observed = &d.observed;
    let has_deadline = d.progress_deadline_seconds.is_some();
    let mut conditions = observed.clone();
    // checkPausedConditions.
    if has_deadline && observed.condition(PROGRESSING).is_none_or(|c| c.reason != TIMED_OUT) {
        let paused_shown = observed.condition(PROGRESSING).is_some_and(|c| c.reason == PAUSED);
        if d.paused && !paused_shown {
            conditions.set(Condition::new(PROGRESSING, "Unknown", PAUSED, "Deployment is paused".into()));
        } else if !d.paused && paused_shown {
            conditions.set(Condition::new(PROGRESSING, "Unknown", RESUMED, "Deployment is resumed".into()));
        }
    }
    // getNewReplicaSet's NewReplicaSetCreated, once the create is in: upstream sets it
    // after its create succeeds, and here the first step that sees the new ReplicaSet does,
    // knowing it new by its being younger than the Progressing condition (an older one,
    // such as the one `rollout undo` brings back, is not "created").
    if has_deadline && !d.paused {
        if let Some(new) = step.new.filter(|new| created_since(new, conditions.condition(PROGRESSING))) {
            conditions.set(Condition::new(PROGRESSING, "True", CREATED, format!("Created new replica set {:?}", new.name)));
        }
    }
    let mut status = calculate_status(d, step, conditions.conditions.clone());
    if d.paused || step.scaling_only {
        return status;
    }
    sync_rollout_status(d, step, &conditions, &mut status);
    match replica_failure(step) {
        Some(failure) => status.set(failure),
        None => status.remove(REPLICA_FAILURE),
    }
    status
}

/// Upstream's `getReplicaFailures`: the new ReplicaSet's ReplicaFailure, else an old one's,
/// as a Deployment condition (`ReplicaSetToDeploymentCondition`: both times the transition's).
fn replica_failure(step: &Step) -> Option<Condition> {
    let of = |r: &ReplicaSetRow| {
        r.replica_failure.as_ref().map(|(reason, message, at)| Condition {
            kind: REPLICA_FAILURE.into(),
            status: "True".into(),
            reason: reason.clone(),
            message: message.clone(),
            last_update: at.clone(),
            last_transition: at.clone(),
        })
    };
    step.new.and_then(of).or_else(|| step.owned.iter().find_map(|r| of(r)))
}

/// Whether a ReplicaSet was created after the Progressing condition was last updated (or
/// there is none).
fn created_since(replica_set: &ReplicaSetRow, progressing: Option<&Condition>) -> bool {
    let Some(condition) = progressing else {
        return true;
    };
    let time = |t: &str| micros(Some(&json!(t)).filter(|_| !t.is_empty()), "").unwrap_or(0);
    condition.last_update != WRITE_TIME && time(&replica_set.created) > time(&condition.last_update)
}

/// Upstream's `calculateStatus`: the counts, and Available.
fn calculate_status(d: &DeploymentRow, step: &Step, conditions: Vec<Condition>) -> DeploymentStatus {
    let owned = step.owned;
    let available: i64 = owned.iter().map(|r| r.status_counts.2).sum();
    let total: i64 = owned.iter().map(|r| r.replicas).sum();
    let mut status = DeploymentStatus {
        observed_generation: d.generation,
        replicas: owned.iter().map(|r| r.status_counts.0).sum(),
        updated: step.new.map_or(0, |n| n.status_counts.0),
        ready: owned.iter().map(|r| r.status_counts.1).sum(),
        available,
        unavailable: (total - available).max(0),
        conditions,
    };
    if available >= d.replicas - step.max_unavailable {
        status.set(Condition::new(AVAILABLE, "True", "MinimumReplicasAvailable", "Deployment has minimum availability.".into()));
    } else {
        status.set(Condition::new(AVAILABLE, "False", "MinimumReplicasUnavailable", "Deployment does not have minimum availability.".into()));
    }
    status
}

/// Upstream's `syncRolloutStatus`: Progressing, from what changed since `before` (the status
/// as the step began, with the conditions this step set).
fn sync_rollout_status(d: &DeploymentRow, step: &Step, before: &DeploymentStatus, status: &mut DeploymentStatus) {
    let Some(_) = d.progress_deadline_seconds else {
        status.remove(PROGRESSING);
        return;
    };
    let current = before.condition(PROGRESSING);
    if status.replicas == status.updated && current.is_some_and(|c| c.reason == NEW_RS_AVAILABLE) {
        return;
    }
    let subject = match step.new.map(|n| n.name.as_str()).or(step.creating) {
        Some(name) => format!("ReplicaSet {name:?}"),
        None => format!("Deployment {:?}", d.name),
    };
    let observed = &d.observed;
    let complete = status.complete(d);
    // DeploymentProgressing, against the status on the object.
    let progressing = status.updated > observed.updated
        || status.replicas - status.updated < observed.replicas - observed.updated
        || status.ready > observed.ready
        || status.available > observed.available;
    if complete {
        status.set(Condition::new(PROGRESSING, "True", NEW_RS_AVAILABLE, format!("{subject} has successfully progressed.")));
    } else if progressing {
        // Progress moves lastUpdateTime even with the same reason (upstream replaces the
        // condition rather than set it).
        let mut condition = Condition::new(PROGRESSING, "True", UPDATED, format!("{subject} is progressing."));
        if let Some(c) = current.filter(|c| c.status == "True") {
            condition.last_transition = c.last_transition.clone();
        }
        status.remove(PROGRESSING);
        status.conditions.push(condition);
    } else if timed_out(status, step.deadline_passed) {
        status.set(Condition::new(PROGRESSING, "False", TIMED_OUT, format!("{subject} has timed out progressing.")));
    }
}

/// Upstream's `DeploymentTimedOut` over the status so far: a condition this step just set is
/// new, so not out of time; the one on the object is, once the clock passed its deadline.
fn timed_out(status: &DeploymentStatus, deadline_passed: bool) -> bool {
    match status.condition(PROGRESSING) {
        None => false,
        Some(c) if c.reason == NEW_RS_AVAILABLE => false,
        Some(c) if c.reason == TIMED_OUT => true,
        Some(c) if c.last_update == WRITE_TIME => false,
        Some(_) => deadline_passed,
    }
}
