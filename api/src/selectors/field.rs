//! Field selectors: `metadata.name` and `metadata.namespace` on every kind, plus the
//! per-kind fields upstream supports (`spec.nodeName` and `status.phase` on pods, …).
//! An unsupported field is a 400, as upstream.

use serde_json::Value;

/// One `field=value` or `field!=value` term.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldTerm {
    pub field: String,
    pub value: String,
    pub negated: bool,
}

/// A parsed field selector; empty matches everything.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FieldSelector {
    pub terms: Vec<FieldTerm>,
}

/// A selector that does not parse or names a field the kind does not support.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldSelectorError {
    #[error("invalid selector: {0:?}; expected field=value or field!=value")]
    Syntax(String),
    #[error("field label not supported: {0}")]
    Unsupported(String),
}

/// The JSON pointer of a selectable field of `(group, plural)`, or None if unsupported.
fn pointer(group: &str, plural: &str, field: &str) -> Option<&'static str> {
    let common = match field {
        "metadata.name" => Some("/metadata/name"),
        "metadata.namespace" => Some("/metadata/namespace"),
        _ => None,
    };
    common.or(match (group, plural, field) {
        ("", "pods", "spec.nodeName") => Some("/spec/nodeName"),
        ("", "pods", "spec.restartPolicy") => Some("/spec/restartPolicy"),
        ("", "pods", "spec.schedulerName") => Some("/spec/schedulerName"),
        ("", "pods", "spec.serviceAccountName") => Some("/spec/serviceAccountName"),
        ("", "pods", "spec.hostNetwork") => Some("/spec/hostNetwork"),
        ("", "pods", "status.phase") => Some("/status/phase"),
        ("", "pods", "status.podIP") => Some("/status/podIP"),
        ("", "pods", "status.nominatedNodeName") => Some("/status/nominatedNodeName"),
        ("", "events", "involvedObject.kind") => Some("/involvedObject/kind"),
        ("", "events", "involvedObject.namespace") => Some("/involvedObject/namespace"),
        ("", "events", "involvedObject.name") => Some("/involvedObject/name"),
        ("", "events", "involvedObject.uid") => Some("/involvedObject/uid"),
        ("", "events", "involvedObject.apiVersion") => Some("/involvedObject/apiVersion"),
        ("", "events", "involvedObject.resourceVersion") => Some("/involvedObject/resourceVersion"),
        ("", "events", "involvedObject.fieldPath") => Some("/involvedObject/fieldPath"),
        ("", "events", "reason") => Some("/reason"),
        ("", "events", "reportingComponent") => Some("/reportingComponent"),
        ("", "events", "source") => Some("/source/component"),
        ("", "events", "type") => Some("/type"),
        ("events.k8s.io", "events", "regarding.kind") => Some("/regarding/kind"),
        ("events.k8s.io", "events", "regarding.name") => Some("/regarding/name"),
        ("events.k8s.io", "events", "regarding.namespace") => Some("/regarding/namespace"),
        ("events.k8s.io", "events", "regarding.uid") => Some("/regarding/uid"),
        ("events.k8s.io", "events", "reason") => Some("/reason"),
        ("events.k8s.io", "events", "type") => Some("/type"),
        ("", "secrets", "type") => Some("/type"),
        ("", "nodes", "spec.unschedulable") => Some("/spec/unschedulable"),
        ("", "namespaces", "status.phase") => Some("/status/phase"),
        ("", "replicationcontrollers", "status.replicas") => Some("/status/replicas"),
        ("apps", "replicasets", "status.replicas") => Some("/status/replicas"),
        ("batch", "jobs", "status.successful") => Some("/status/succeeded"),
        _ => None,
    })
}

/// Renders a JSON value as upstream's field set renders it ("" for absent, "true", "3").
fn as_field_string(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Bool(b)) => b.to_string(),
        Some(Value::Number(n)) => n.to_string(),
        Some(other) => other.to_string(),
    }
}

impl FieldSelector {
    /// Parses `input` for objects of `(group, plural)`.
    pub fn parse(group: &str, plural: &str, input: &str) -> Result<FieldSelector, FieldSelectorError> {
        let mut terms = Vec::new();
        for part in input.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (field, value, negated) = if let Some((f, v)) = part.split_once("!=") {
                (f, v, true)
            } else if let Some((f, v)) = part.split_once("==") {
                (f, v, false)
            } else if let Some((f, v)) = part.split_once('=') {
                (f, v, false)
            } else {
                return Err(FieldSelectorError::Syntax(part.to_string()));
            };
            let field = field.trim();
            if pointer(group, plural, field).is_none() {
                return Err(FieldSelectorError::Unsupported(field.to_string()));
            }
            terms.push(FieldTerm { field: field.to_string(), value: value.trim().to_string(), negated });
        }
        Ok(FieldSelector { terms })
    }

    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// The value a term requires of `metadata.name`, if any: lets a get-by-name watch skip others.
    pub fn required_name(&self) -> Option<&str> {
        self.terms.iter().find(|t| t.field == "metadata.name" && !t.negated).map(|t| t.value.as_str())
    }

    pub fn matches(&self, group: &str, plural: &str, object: &Value) -> bool {
        self.terms.iter().all(|t| {
            let Some(p) = pointer(group, plural, &t.field) else {
                return false;
            };
            let actual = as_field_string(object.pointer(p));
            // Upstream renders an unset boolean field as "false".
            let actual = if actual.is_empty() && t.field == "spec.unschedulable" { "false".to_string() } else { actual };
            (actual == t.value) != t.negated
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pod_fields_match() {
        let pod = json!({"metadata": {"name": "a", "namespace": "n"}, "spec": {"nodeName": "node1"}, "status": {"phase": "Running"}});
        let sel = FieldSelector::parse("", "pods", "spec.nodeName=node1,status.phase!=Pending").unwrap();
        assert!(sel.matches("", "pods", &pod));
        let sel = FieldSelector::parse("", "pods", "metadata.name=b").unwrap();
        assert!(!sel.matches("", "pods", &pod));
    }

    #[test]
    fn unsupported_fields_are_refused() {
        assert_eq!(FieldSelector::parse("", "configmaps", "spec.nodeName=x"), Err(FieldSelectorError::Unsupported("spec.nodeName".into())));
        assert!(FieldSelector::parse("", "pods", "nonsense").is_err());
    }
}
