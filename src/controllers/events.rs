//! The Event recorder (an edge of the engine): each problem the controllers report about an
//! object (a refusal such as `CIDRNotAvailable` or `AllocationFailed`, or an object they
//! cannot read, `InvalidObject`) becomes a Warning Event on that object, where `kubectl
//! describe` shows it, as upstream's controllers record theirs.
//!
//! An Event is named after its object and a hash of the object's uid and the problem, so a
//! problem is recorded once however often it is reported: again after a restart, or after it
//! went and came back, the create answers AlreadyExists. Upstream would count the repeat on the
//! Event instead; this recorder does not.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use deltakube_dataflows::types::ControllerError;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::api::Api;
use super::writer::collection_path;

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
            200..=299 => Ok(()),
            409 => Ok(()),
            code => Err(format!("creating the Event: {code} {}", answer["message"].as_str().unwrap_or(""))),
        }
    }
}
