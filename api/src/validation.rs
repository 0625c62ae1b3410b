//! Per-kind validation, following upstream's rules where the data model allows: required
//! fields, and immutable fields on update. A failure becomes 422 Invalid with causes.

use serde_json::Value;

use crate::error::Cause;
use crate::resources::registry::ResourceDescriptor;

fn required(field: &str) -> Cause {
    Cause { kind: "FieldValueRequired".into(), message: "Required value".into(), field: field.into() }
}

fn invalid(field: &str, message: String) -> Cause {
    Cause { kind: "FieldValueInvalid".into(), message, field: field.into() }
}

fn containers(spec: &Value, path: &str, causes: &mut Vec<Cause>) {
    match spec.get("containers").and_then(Value::as_array) {
        None => causes.push(required(&format!("{path}.containers"))),
        Some(list) if list.is_empty() => causes.push(required(&format!("{path}.containers"))),
        Some(list) => {
            let mut names = std::collections::HashSet::new();
            for (i, c) in list.iter().enumerate() {
                let name = c.get("name").and_then(Value::as_str).unwrap_or("");
                if name.is_empty() {
                    causes.push(required(&format!("{path}.containers[{i}].name")));
                } else if !names.insert(name) {
                    causes.push(Cause {
                        kind: "FieldValueDuplicate".into(),
                        message: format!("Duplicate value: {name:?}"),
                        field: format!("{path}.containers[{i}].name"),
                    });
                }
                if c.get("image").and_then(Value::as_str).is_none_or(str::is_empty) {
                    causes.push(required(&format!("{path}.containers[{i}].image")));
                }
            }
        }
    }
}

fn forbidden(field: &str, message: String) -> Cause {
    Cause { kind: "FieldValueForbidden".into(), message: format!("Forbidden: {message}"), field: field.into() }
}

/// Upstream's `pkg/apis/scheduling` constants: the highest priority a user's class may have,
/// and the system classes that alone may use the `system-` prefix.
const HIGHEST_USER_DEFINABLE_PRIORITY: i64 = 1_000_000_000;
pub const SYSTEM_PRIORITY_CLASSES: [(&str, i64, &str); 2] = [
    ("system-node-critical", 2_000_001_000, "Used for system critical pods that must not be moved from their current node."),
    ("system-cluster-critical", 2_000_000_000, "Used for system critical pods that must run in the cluster, but can be moved to another node if necessary."),
];

/// Upstream's `ValidatePriorityClass`.
fn priority_class(obj: &Value, causes: &mut Vec<Cause>) {
    let name = obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default();
    let Some(value) = obj.get("value").and_then(Value::as_i64) else {
        causes.push(required("value"));
        return;
    };
    if name.starts_with("system-") {
        let known = SYSTEM_PRIORITY_CLASSES.iter().find(|(n, _, _)| *n == name);
        let global_default = obj.get("globalDefault").and_then(Value::as_bool) == Some(true);
        let error = match known {
            None => Some(format!("{name:?} is not a known system priority class")),
            Some((_, v, _)) if *v != value => Some(format!("value of {name} PriorityClass must be {v}")),
            Some(_) if global_default => Some(format!("globalDefault of {name} PriorityClass must be false")),
            Some(_) => None,
        };
        if let Some(error) = error {
            causes.push(forbidden("metadata.name", format!("priority class names with 'system-' prefix are reserved for system use only. error: {error}")));
        }
    } else if value > HIGHEST_USER_DEFINABLE_PRIORITY {
        causes.push(forbidden("value", format!("maximum allowed value of a user defined priority is {HIGHEST_USER_DEFINABLE_PRIORITY}")));
    }
    if let Some(policy) = obj.get("preemptionPolicy").and_then(Value::as_str) {
        if !matches!(policy, "PreemptLowerPriority" | "Never") {
            causes.push(Cause {
                kind: "FieldValueNotSupported".into(),
                message: format!("Unsupported value: {policy:?}: supported values: \"Never\", \"PreemptLowerPriority\""),
                field: "preemptionPolicy".into(),
            });
        }
    }
}

/// Validates an object of `resource`; returns the causes of failure.
pub fn validate(resource: &ResourceDescriptor, obj: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    match (resource.group, resource.kind) {
        ("", "Pod") => match obj.get("spec") {
            Some(spec) => containers(spec, "spec", &mut causes),
            None => causes.push(required("spec.containers")),
        },
        ("apps", "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet") => {
            if obj.pointer("/spec/selector").is_none() {
                causes.push(required("spec.selector"));
            }
            match obj.pointer("/spec/template/spec") {
                Some(spec) => containers(spec, "spec.template.spec", &mut causes),
                None => causes.push(required("spec.template.spec.containers")),
            }
            if let Some(r) = obj.pointer("/spec/replicas").and_then(Value::as_i64) {
                if r < 0 {
                    causes.push(invalid("spec.replicas", format!("Invalid value: {r}: must be greater than or equal to 0")));
                }
            }
        }
        ("", "Service") => {
            let ty = obj.pointer("/spec/type").and_then(Value::as_str).unwrap_or("ClusterIP");
            // Upstream's ValidateService: a headless Service may have no ports.
            let headless = obj.pointer("/spec/clusterIP").and_then(Value::as_str) == Some("None");
            if ty != "ExternalName" && !headless && obj.pointer("/spec/ports").and_then(Value::as_array).is_none_or(Vec::is_empty) {
                causes.push(required("spec.ports"));
            }
        }
        ("scheduling.k8s.io", "PriorityClass") => priority_class(obj, &mut causes),
        ("", "ConfigMap" | "Secret") => {
            for field in ["data", "binaryData", "stringData"] {
                if let Some(map) = obj.get(field).and_then(Value::as_object) {
                    for key in map.keys() {
                        let ok = !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
                        if !ok {
                            causes.push(invalid(
                                &format!("{field}[{key}]"),
                                format!("Invalid value: {key:?}: a valid config key must consist of alphanumeric characters, '-', '_' or '.'"),
                            ));
                        }
                    }
                }
            }
        }
        _ => {}
    }
    causes
}

/// Checks fields that may not change on update.
pub fn validate_update(resource: &ResourceDescriptor, old: &Value, new: &Value) -> Result<(), Vec<Cause>> {
    let mut causes = Vec::new();
    let immutable = |pointer: &str, field: &str, causes: &mut Vec<Cause>| {
        let before = old.pointer(pointer);
        if before.is_some() && before != new.pointer(pointer) {
            causes.push(invalid(field, "Invalid value: field is immutable".to_string()));
        }
    };
    match (resource.group, resource.kind) {
        ("apps", "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet") => {
            immutable("/spec/selector", "spec.selector", &mut causes);
        }
        ("", "Pod") => {
            immutable("/spec/nodeName", "spec.nodeName", &mut causes);
        }
        // Upstream's `ValidatePriorityClassUpdate`.
        ("scheduling.k8s.io", "PriorityClass") => {
            if old.get("value") != new.get("value") {
                causes.push(forbidden("value", "may not be changed in an update.".to_string()));
            }
            immutable("/preemptionPolicy", "preemptionPolicy", &mut causes);
        }
        ("", "Secret" | "ConfigMap") if old.get("immutable") == Some(&Value::Bool(true)) => {
            immutable("/data", "data", &mut causes);
        }
        _ => {}
    }
    if causes.is_empty() {
        Ok(())
    } else {
        Err(causes)
    }
}
