//! What the ResourceQuota controller reads: each quota projected into a [`ResourceQuotaRow`],
//! and each object's quota usage into a [`UsageRow`], measured by the rules admission also
//! uses ([`deltakube_api::quota::usage`], upstream's evaluators). Usage is a second projection
//! of every object, fed to its own input, so that the rows other controllers read stay as
//! they are.

use deltakube_api::quota::quantity::{canonical, Quantity};
use deltakube_api::quota::usage::{self as rules, Evaluator};
pub use deltakube_api::quota::usage::{Scope as ScopeSelector, ScopeClass};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::types::{Kind, ObjectKey, ProjectionError};

/// A ResourceQuota as the controller reads it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ResourceQuotaRow {
    pub namespace: String,
    pub name: String,
    /// `spec.hard`, by resource: the printed text (`ParseQuantity(s).String()`) and the value.
    pub hard: Vec<(String, String, Quantity)>,
    pub scopes: Vec<ScopeSelector>,
    /// `status.hard` and `status.used` as they stand, compared by value (None when a value
    /// does not parse, which always differs).
    pub observed_hard: Vec<(String, Option<i128>)>,
    pub observed_used: Vec<(String, Option<i128>)>,
}

/// One object's quota usage.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct UsageRow {
    pub namespace: String,
    pub class: ScopeClass,
    /// Per resource name, sorted.
    pub usage: Vec<(String, Quantity)>,
}

/// Whether some evaluator measures `resource`: those get a `used` entry, zero when nothing
/// uses them; the others are left out of `status.used`, as upstream's `CalculateUsage`.
pub fn tracked(resource: &str) -> bool {
    if [(Evaluator::Pod, "pods"), (Evaluator::Service, "services"), (Evaluator::Claim, "persistentvolumeclaims")]
        .into_iter()
        .any(|(evaluator, plural)| evaluator.matches("", plural, resource))
    {
        return true;
    }
    // An object count (or its legacy name) of a namespaced kind the engine reads.
    let (plural, group) = match resource.strip_prefix("count/") {
        Some(rest) => rest.split_once('.').unwrap_or((rest, "")),
        None => (resource, ""),
    };
    Kind::from_store_key(&format!("/registry/{plural}/")).is_some_and(|k| {
        let (g, _, p) = k.resource();
        !matches!(k, Kind::Namespace | Kind::Node) && g == group && p == plural && Evaluator::Count.matches(g, p, resource)
    })
}

fn list_of(v: &Value, pointer: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = v
        .pointer(pointer)
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(k, q)| (k.clone(), q.as_str().map(str::to_string).unwrap_or_else(|| q.to_string())))
        .collect();
    out.sort();
    out
}

/// Projects a ResourceQuota.
pub fn project_quota(key: &ObjectKey, v: &Value) -> Result<ResourceQuotaRow, String> {
    let mut hard = Vec::new();
    for (k, s) in list_of(v, "/spec/hard") {
        let q = Quantity::parse(&s).map_err(|e| format!("spec.hard[{k}]: {s:?}: {e}"))?;
        let text = canonical(&s).map_err(|e| e.to_string())?;
        hard.push((k, text, q));
    }
    let mut scopes = rules::scopes(v);
    scopes.sort();
    let observed = |pointer: &str| -> Vec<(String, Option<i128>)> {
        list_of(v, pointer).into_iter().map(|(k, s)| (k, Quantity::parse(&s).ok().map(|q| q.nanos))).collect()
    };
    Ok(ResourceQuotaRow {
        namespace: key.namespace.clone(),
        name: key.name.clone(),
        hard,
        scopes,
        observed_hard: observed("/status/hard"),
        observed_used: observed("/status/used"),
    })
}

/// The quota usage of any namespaced object: its object count (and legacy alias), plus what
/// the pod, service and claim evaluators measure. None for cluster-scoped objects.
pub fn usage(key: &ObjectKey, v: &Value) -> Result<Option<UsageRow>, ProjectionError> {
    if key.namespace.is_empty() || !v.is_object() {
        return Ok(None);
    }
    let (group, _, plural) = key.kind.resource();
    let error = |message: String| ProjectionError { key: key.clone(), message: format!("quota usage: {message}") };
    let usage = rules::usage(group, plural, v).map_err(error)?;
    let class = rules::class_of(Evaluator::of(group, plural), v).map_err(error)?;
    Ok(Some(UsageRow { namespace: key.namespace.clone(), class, usage: usage.into_iter().collect() }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::BTreeMap;

    fn usage_of(kind: Kind, v: Value) -> BTreeMap<String, String> {
        let row = usage(&ObjectKey::new(kind, "ns", "x"), &v).unwrap().unwrap();
        row.usage.into_iter().map(|(k, q)| (k, q.to_string())).collect()
    }

    #[test]
    fn pod_requests_follow_upstream_pod_requests() {
        // Two containers summed, an init container larger than their sum, and overhead.
        let pod = json!({"spec": {
            "containers": [
                {"name": "a", "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "200m"}}},
                {"name": "b", "resources": {"requests": {"cpu": "250m", "memory": "128Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}}},
            ],
            "initContainers": [{"name": "i", "resources": {"requests": {"cpu": "1", "nvidia.com/gpu": "1"}}}],
            "overhead": {"cpu": "10m", "memory": "1Mi"},
        }});
        let u = usage_of(Kind::Pod, pod);
        assert_eq!(u["requests.cpu"], "1010m");
        assert_eq!(u["cpu"], "1010m");
        assert_eq!(u["requests.memory"], "257Mi");
        assert_eq!(u["limits.cpu"], "1210m");
        // Overhead adds only to limits that are set.
        assert_eq!(u["limits.memory"], "1025Mi");
        assert_eq!(u["requests.nvidia.com/gpu"], "1");
        assert_eq!(u["pods"], "1");
        assert_eq!(u["count/pods"], "1");
    }

    #[test]
    fn sidecars_add_to_the_containers_and_to_later_init_containers() {
        let pod = json!({"spec": {
            "containers": [{"name": "a", "resources": {"requests": {"cpu": "100m"}}}],
            "initContainers": [
                {"name": "s", "restartPolicy": "Always", "resources": {"requests": {"cpu": "200m"}}},
                {"name": "i", "resources": {"requests": {"cpu": "250m"}}},
            ],
        }});
        // max(100m + 200m, 200m + 250m) = 450m.
        assert_eq!(usage_of(Kind::Pod, pod)["requests.cpu"], "450m");
    }

    #[test]
    fn finished_and_deleted_pods_only_count_as_objects() {
        for pod in [
            json!({"spec": {"containers": [{"name": "a", "resources": {"requests": {"cpu": "1"}}}]}, "status": {"phase": "Succeeded"}}),
            json!({"metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z"}, "spec": {"containers": [{"name": "a", "resources": {"requests": {"cpu": "1"}}}]}}),
        ] {
            let u = usage_of(Kind::Pod, pod);
            assert_eq!(u.keys().collect::<Vec<_>>(), vec!["count/pods"]);
        }
    }

    #[test]
    fn services_count_node_ports_and_balancers() {
        let svc = json!({"spec": {"type": "LoadBalancer", "ports": [{"port": 80}, {"port": 443}]}});
        let u = usage_of(Kind::Service, svc);
        assert_eq!((u["services"].as_str(), u["services.loadbalancers"].as_str(), u["services.nodeports"].as_str()), ("1", "1", "2"));
        assert_eq!(u["count/services"], "1");
    }

    #[test]
    fn claims_count_storage_per_class() {
        let pvc = json!({"spec": {"storageClassName": "gold", "resources": {"requests": {"storage": "1.5"}}}});
        let u = usage_of(Kind::PersistentVolumeClaim, pvc);
        assert_eq!(u["requests.storage"], "2");
        assert_eq!(u["gold.storageclass.storage.k8s.io/requests.storage"], "2");
        assert_eq!(u["gold.storageclass.storage.k8s.io/persistentvolumeclaims"], "1");
    }

    #[test]
    fn legacy_names_and_count_names() {
        let u = usage_of(Kind::Secret, json!({}));
        assert_eq!(u.keys().collect::<Vec<_>>(), vec!["count/secrets", "secrets"]);
        assert_eq!(usage_of(Kind::ReplicaSet, json!({})).keys().collect::<Vec<_>>(), vec!["count/replicasets.apps"]);
        assert!(tracked("count/replicasets.apps") && tracked("count/pods") && tracked("secrets") && tracked("requests.example.com/foo"));
        assert!(!tracked("count/deployments") && !tracked("count/namespaces") && !tracked("count/nodes") && !tracked("requests.storagex"));
    }

    #[test]
    fn scopes_select_pods_only() {
        let pod = ScopeClass { pod: true, best_effort: true, priority_class: "high".into(), ..ScopeClass::default() };
        let scope = |s: &str, op: &str, v: &[&str]| ScopeSelector { scope: s.into(), operator: op.into(), values: v.iter().map(|x| x.to_string()).collect() };
        assert!(pod.matches(&[scope("BestEffort", "Exists", &[]), scope("NotTerminating", "Exists", &[])]));
        assert!(pod.matches(&[scope("PriorityClass", "In", &["high", "low"])]));
        assert!(!pod.matches(&[scope("PriorityClass", "NotIn", &["high"])]));
        assert!(!ScopeClass::default().matches(&[scope("NotBestEffort", "Exists", &[])]));
        assert!(ScopeClass::default().matches(&[]));
    }
}
