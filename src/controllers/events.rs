//! The Event recorder (an edge of the engine): each problem the controllers report about an
//! object (a refusal such as `CIDRNotAvailable` or `AllocationFailed`, or an object they
//! cannot read, `InvalidObject`) becomes a Warning Event on that object, where `kubectl
//! describe` shows it, as upstream's controllers record theirs. A refused pod create or delete
//! also sets its ReplicaSet's `ReplicaFailure` condition, as upstream's ReplicaSet controller
//! does.
//!
//! An Event is named after its object and a hash of the object's uid and the problem, so a
//! problem is recorded once however often it is reported: again after a restart, or after it
//! went and came back, the create answers AlreadyExists. Upstream would count the repeat on the
//! Event instead; this recorder does not.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use deltakube_dataflows::types::{ControllerError, Kind, ObjectKey};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::api::Api;
use super::writer::collection_path;

/// The reason of a refused create, as upstream's ReplicaSet controller records it.
pub const FAILED_CREATE: &str = "FailedCreate";
/// What its Event's message starts with; the refusal follows.
pub const ERROR_CREATING: &str = "Error creating: ";
/// The reason of a refused pod delete, as upstream's ReplicaSet controller records it.
pub const FAILED_DELETE: &str = "FailedDelete";
/// What its Event's message starts with; the refusal follows.
pub const ERROR_DELETING: &str = "Error deleting: ";

/// The component Events name as their source.
const COMPONENT: &str = "deltakube-controllers";

pub struct EventRecorder {
    api: Api,
}

impl EventRecorder {
    pub fn new(api: Api) -> EventRecorder {
        EventRecorder { api }
    }

    /// Records each problem that arrives, until `input` closes.
    pub async fn run(self, mut input: mpsc::UnboundedReceiver<ControllerError>) {
        while let Some(problem) = input.recv().await {
            if let Err(e) = self.record(&problem).await {
                tracing::warn!(object = ?problem.key, reason = %problem.reason, error = %e, "recording an Event failed");
            }
        }
    }

    async fn record(&self, problem: &ControllerError) -> Result<(), String> {
        let key = &problem.key;
        let (code, object) = self.api.call("GET", &format!("{}/{}", collection_path(key), key.name), String::new(), "application/json").await?;
        match code {
            200..=299 => {}
            // The object went meanwhile: nothing left to tell about.
            404 => return Ok(()),
            code => return Err(format!("reading the object: {code} {}", object["message"].as_str().unwrap_or(""))),
        }
        let uid = object.pointer("/metadata/uid").and_then(Value::as_str).unwrap_or_default();
        let mut h = DefaultHasher::new();
        (uid, &problem.reason, &problem.message).hash(&mut h);
        // Events of cluster-scoped objects (Nodes) live in `default`, as upstream's do.
        let namespace = if key.namespace.is_empty() { "default" } else { key.namespace.as_str() };
        let now = deltakube_api::object::now_rfc3339();
        let event = json!({
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": format!("{}.{:016x}", key.name, h.finish()), "namespace": namespace},
            "involvedObject": {"apiVersion": key.kind.api_version(), "kind": key.kind.kind_name(), "namespace": key.namespace, "name": key.name, "uid": uid},
            "reason": problem.reason, "message": problem.message, "type": "Warning",
            "source": {"component": COMPONENT}, "reportingComponent": COMPONENT, "reportingInstance": COMPONENT,
            "firstTimestamp": now, "lastTimestamp": now, "count": 1,
        });
        let (code, answer) = self.api.call("POST", &format!("/api/v1/namespaces/{namespace}/events"), event.to_string(), "application/json").await?;
        match code {
            200..=299 | 409 => {}
            code => return Err(format!("creating the Event: {code} {}", answer["message"].as_str().unwrap_or(""))),
        }
        // The condition's message is the error upstream's pod control returns: a create's
        // refusal as it came, a delete's wrapped.
        let failure = match problem.reason.as_str() {
            FAILED_CREATE => Some(problem.message.trim_start_matches(ERROR_CREATING).to_string()),
            FAILED_DELETE => Some(format!("unable to delete pods: {}", problem.message.trim_start_matches(ERROR_DELETING))),
            _ => None,
        };
        if let Some(message) = failure.filter(|_| matches!(key.kind, Kind::ReplicaSet | Kind::ReplicationController)) {
            self.mark_replica_failure(key, &object, &problem.reason, &message).await?;
        }
        Ok(())
    }

    /// Upstream's ReplicaSet controller sets `ReplicaFailure` (FailedCreate or FailedDelete,
    /// with the error as its message) when a create or delete fails and the condition is not
    /// there yet; the controller removes it once nothing is left to create or delete. Written
    /// against the object's resourceVersion: a newer ReplicaSet is left for the next refusal.
    async fn mark_replica_failure(&self, key: &ObjectKey, object: &Value, reason: &str, message: &str) -> Result<(), String> {
        let mut conditions = object.pointer("/status/conditions").and_then(Value::as_array).cloned().unwrap_or_default();
        if conditions.iter().any(|c| c["type"] == "ReplicaFailure") {
            return Ok(());
        }
        conditions.push(json!({
            "type": "ReplicaFailure", "status": "True", "lastTransitionTime": deltakube_api::object::now_rfc3339(),
            "reason": reason, "message": message,
        }));
        let patch = json!({"metadata": {"resourceVersion": object.pointer("/metadata/resourceVersion")}, "status": {"conditions": conditions}});
        let path = format!("{}/{}/status", collection_path(key), key.name);
        let (code, answer) = self.api.call("PATCH", &path, patch.to_string(), "application/merge-patch+json").await?;
        match code {
            200..=299 | 404 | 409 => Ok(()),
            code => Err(format!("setting ReplicaFailure: {code} {}", answer["message"].as_str().unwrap_or(""))),
        }
    }
}
