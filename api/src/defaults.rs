//! Server-side defaulting and deletion rules per kind, following upstream's strategies
//! where they matter to clients: pod phase, namespace phase and finalizer, deployment
//! strategy, and which objects delete gracefully.

use serde_json::{json, Value};

use crate::object;
use crate::resources::registry::ResourceDescriptor;

fn set_if_absent(obj: &mut Value, pointer: &str, value: Value) {
    if crate::object::at(obj, pointer).is_some() {
        return;
    }
    let mut parts: Vec<&str> = pointer.trim_start_matches('/').split('/').collect();
    let last = parts.pop().unwrap_or_default();
    let mut cur = obj;
    for p in parts {
        if !cur.get(p).is_some_and(Value::is_object) {
            cur[p] = json!({});
        }
        cur = &mut cur[p];
    }
    cur[last] = value;
}

/// Fills defaults on create and update.
pub fn apply(resource: &ResourceDescriptor, obj: &mut Value) {
    match (resource.group, resource.kind) {
        ("", "Pod") => {
            set_if_absent(obj, "/status/phase", json!("Pending"));
            if let Some(spec) = obj.get_mut("spec") {
                default_pod_spec(spec);
            }
        }
        ("", "Namespace") => {
            if object::meta(obj).is_some_and(|m| !m.contains_key("deletionTimestamp")) {
                set_if_absent(obj, "/status/phase", json!("Active"));
            }
            // Upstream labels every namespace with its name.
            let name = object::name(obj).unwrap_or_default().to_string();
            let meta = object::meta_mut(obj);
            let labels = meta.entry("labels").or_insert_with(|| json!({}));
            if let Some(l) = labels.as_object_mut() {
                l.insert("kubernetes.io/metadata.name".into(), json!(name));
            }
        }
        ("", "Service") => {
            set_if_absent(obj, "/spec/type", json!("ClusterIP"));
            set_if_absent(obj, "/spec/sessionAffinity", json!("None"));
            if let Some(ports) = obj.pointer_mut("/spec/ports").and_then(Value::as_array_mut) {
                for p in ports {
                    set_if_absent(p, "/protocol", json!("TCP"));
                    if p.get("targetPort").is_none() {
                        if let Some(port) = p.get("port").cloned() {
                            p["targetPort"] = port;
                        }
                    }
                }
            }
        }
        ("", "Secret") => set_if_absent(obj, "/type", json!("Opaque")),
        ("scheduling.k8s.io", "PriorityClass") => set_if_absent(obj, "/preemptionPolicy", json!(crate::admission::priority::PREEMPT_LOWER_PRIORITY)),
        ("apps", "Deployment") => {
            set_if_absent(obj, "/spec/replicas", json!(1));
            set_if_absent(obj, "/spec/revisionHistoryLimit", json!(10));
            set_if_absent(obj, "/spec/progressDeadlineSeconds", json!(600));
            if obj.pointer("/spec/strategy/type").is_none() || obj.pointer("/spec/strategy/type") == Some(&json!("RollingUpdate")) {
                set_if_absent(obj, "/spec/strategy/type", json!("RollingUpdate"));
                set_if_absent(obj, "/spec/strategy/rollingUpdate/maxUnavailable", json!("25%"));
                set_if_absent(obj, "/spec/strategy/rollingUpdate/maxSurge", json!("25%"));
            }
        }
        ("apps", "ReplicaSet") | ("apps", "StatefulSet") => {
            set_if_absent(obj, "/spec/replicas", json!(1));
        }
        ("", "ReplicationController") => {
            // Upstream's SetDefaults_ReplicationController: an empty selector, and empty
            // labels, are the template's labels.
            if let Some(labels) = obj.pointer("/spec/template/metadata/labels").filter(|l| l.as_object().is_some_and(|l| !l.is_empty())).cloned() {
                let empty = |v: Option<&Value>| v.and_then(Value::as_object).is_none_or(|m| m.is_empty());
                if empty(obj.pointer("/spec/selector")) {
                    obj["spec"]["selector"] = labels.clone();
                }
                if empty(obj.pointer("/metadata/labels")) && obj.get("metadata").is_some_and(Value::is_object) {
                    obj["metadata"]["labels"] = labels;
                }
            }
            set_if_absent(obj, "/spec/replicas", json!(1));
        }
        _ => {}
    }
    for template in ["/spec/template/spec", "/spec/jobTemplate/spec/template/spec"] {
        if let Some(spec) = obj.pointer_mut(template) {
            default_pod_spec(spec);
        }
    }
}

/// Upstream's pod spec defaults (`SetDefaults_PodSpec`, `SetDefaults_Container`), for pods and
/// pod templates alike.
fn default_pod_spec(spec: &mut Value) {
    set_if_absent(spec, "/restartPolicy", json!("Always"));
    set_if_absent(spec, "/dnsPolicy", json!("ClusterFirst"));
    set_if_absent(spec, "/schedulerName", json!("default-scheduler"));
    set_if_absent(spec, "/terminationGracePeriodSeconds", json!(30));
    set_if_absent(spec, "/securityContext", json!({}));
    for list in ["containers", "initContainers"] {
        let Some(containers) = spec.get_mut(list).and_then(Value::as_array_mut) else {
            continue;
        };
        for c in containers {
            let image = c.get("image").and_then(Value::as_str).unwrap_or("");
            let last = image.rsplit('/').next().unwrap_or("");
            let latest = !last.contains(':') && !last.contains('@') || last.ends_with(":latest");
            set_if_absent(c, "/imagePullPolicy", json!(if latest { "Always" } else { "IfNotPresent" }));
            set_if_absent(c, "/terminationMessagePath", json!("/dev/termination-log"));
            set_if_absent(c, "/terminationMessagePolicy", json!("File"));
            set_if_absent(c, "/resources", json!({}));
            if let Some(ports) = c.get_mut("ports").and_then(Value::as_array_mut) {
                for p in ports {
                    set_if_absent(p, "/protocol", json!("TCP"));
                }
            }
        }
    }
}

/// Whether upstream tracks `metadata.generation` for this kind (its spec is desired state
/// that a controller observes).
pub fn tracks_generation(resource: &ResourceDescriptor) -> bool {
    matches!(resource.group, "apps" | "batch" | "policy") || matches!((resource.group, resource.kind), ("", "ReplicationController"))
}

/// Defaults set only when an object is created: a namespace starts with the `kubernetes`
/// finalizer, which only the `finalize` subresource may change afterwards.
pub fn on_create(resource: &ResourceDescriptor, obj: &mut Value) {
    if (resource.group, resource.kind) == ("", "Namespace") {
        set_if_absent(obj, "/spec/finalizers", json!(["kubernetes"]));
    }
}

/// Whether a delete marks the object and waits, as upstream's graceful pod deletion: only a
/// pod already bound to a node, with a grace period above zero, waits for its kubelet.
pub fn needs_graceful_delete(resource: &ResourceDescriptor, obj: &Value, grace: Option<i64>) -> bool {
    if (resource.group, resource.kind) == ("", "Namespace") {
        // A namespace waits for its controller while `spec.finalizers` is not empty.
        return obj.pointer("/spec/finalizers").and_then(Value::as_array).is_some_and(|f| !f.is_empty());
    }
    if (resource.group, resource.kind) != ("", "Pod") {
        return false;
    }
    let bound = obj.pointer("/spec/nodeName").and_then(Value::as_str).is_some_and(|n| !n.is_empty());
    let terminal = matches!(obj.pointer("/status/phase").and_then(Value::as_str), Some("Succeeded" | "Failed"));
    let grace = grace.or_else(|| obj.pointer("/spec/terminationGracePeriodSeconds").and_then(Value::as_i64)).unwrap_or(30);
    bound && !terminal && grace > 0
}

/// Changes a kind makes when marked for deletion: a namespace becomes Terminating.
pub fn on_deletion_marked(resource: &ResourceDescriptor, obj: &mut Value) {
    if (resource.group, resource.kind) == ("", "Namespace") {
        obj["status"] = json!({"phase": "Terminating"});
    }
}
