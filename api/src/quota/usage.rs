//! One object's quota usage, as upstream's evaluators measure it
//! (`pkg/quota/v1/evaluator/core/{pods,services,persistent_volume_claims}.go` and the generic
//! object count evaluator), and which quota resources each evaluator answers for.
//!
//! Both sides of quota use these rules: ResourceQuota admission in the API server and the
//! ResourceQuota controller's usage projection in `deltakube-dataflows`.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::quantity::Quantity;

/// Resource name → quantity, summed with upstream's `Add`.
pub type List = BTreeMap<String, Quantity>;

const POD_RESOURCES: &[&str] = &[
    "count/pods",
    "cpu",
    "memory",
    "ephemeral-storage",
    "requests.cpu",
    "requests.memory",
    "requests.ephemeral-storage",
    "limits.cpu",
    "limits.memory",
    "limits.ephemeral-storage",
    "pods",
];
const SERVICE_RESOURCES: &[&str] = &["count/services", "services", "services.nodeports", "services.loadbalancers"];
const PVC_RESOURCES: &[&str] = &["persistentvolumeclaims", "count/persistentvolumeclaims", "requests.storage"];
const STORAGE_CLASS_SUFFIX: &str = ".storageclass.storage.k8s.io/";
/// The object counts that kept their pre-`count/` names.
const LEGACY_COUNTS: &[&str] = &["configmaps", "resourcequotas", "replicationcontrollers", "secrets"];

/// One `spec.scopes` entry or `spec.scopeSelector` requirement.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Scope {
    pub scope: String,
    pub operator: String,
    pub values: Vec<String>,
}

/// What quota scopes can tell about an object (upstream's `podMatchesScopeFunc` inputs).
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ScopeClass {
    /// Only pods have scopes; any scope excludes every other kind.
    pub pod: bool,
    pub terminating: bool,
    pub best_effort: bool,
    pub priority_class: String,
    pub cross_namespace_affinity: bool,
}

impl ScopeClass {
    /// Upstream's `generic.Matches` scope part: every selector matches (none matches all).
    pub fn matches(&self, scopes: &[Scope]) -> bool {
        scopes.iter().all(|s| self.pod && self.matches_one(s))
    }

    fn matches_one(&self, s: &Scope) -> bool {
        match s.scope.as_str() {
            "Terminating" => self.terminating,
            "NotTerminating" => !self.terminating,
            "BestEffort" => self.best_effort,
            "NotBestEffort" => !self.best_effort,
            "CrossNamespacePodAffinity" => self.cross_namespace_affinity,
            "PriorityClass" => {
                let class = Some(self.priority_class.as_str()).filter(|c| !c.is_empty());
                match s.operator.as_str() {
                    "In" => class.is_some_and(|c| s.values.iter().any(|v| v == c)),
                    "NotIn" => class.is_none_or(|c| !s.values.iter().any(|v| v == c)),
                    "Exists" => class.is_some(),
                    "DoesNotExist" => class.is_none(),
                    _ => false,
                }
            }
            _ => false,
        }
    }
}

/// The scopes of a ResourceQuota.
pub fn scopes(quota: &Value) -> Vec<Scope> {
    let mut out: Vec<Scope> = quota
        .pointer("/spec/scopes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|s| Scope { scope: s.to_string(), operator: "Exists".into(), values: vec![] })
        .collect();
    for e in crate::object::at(quota, "/spec/scopeSelector/matchExpressions").and_then(Value::as_array).into_iter().flatten() {
        let field = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
        let values = e.get("values").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).map(str::to_string).collect();
        out.push(Scope { scope: field("scopeName"), operator: field("operator"), values });
    }
    out
}

/// Upstream's `IsNativeResource`: unprefixed, or under `kubernetes.io/`.
fn is_native(name: &str) -> bool {
    !name.contains('/') || name.contains("kubernetes.io/")
}

/// Which evaluator measures a kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Evaluator {
    Pod,
    Service,
    Claim,
    /// Upstream's generic object count evaluator, for every other kind.
    Count,
}

impl Evaluator {
    pub fn of(group: &str, plural: &str) -> Evaluator {
        match (group, plural) {
            ("", "pods") => Evaluator::Pod,
            ("", "services") => Evaluator::Service,
            ("", "persistentvolumeclaims") => Evaluator::Claim,
            _ => Evaluator::Count,
        }
    }

    /// Upstream's `MatchingResources` for one quota resource.
    pub fn matches(self, group: &str, plural: &str, resource: &str) -> bool {
        match self {
            Evaluator::Pod => {
                POD_RESOURCES.contains(&resource)
                    || resource.starts_with("hugepages-")
                    || resource.starts_with("requests.hugepages-")
                    || (resource.starts_with("requests.") && !is_native(resource))
            }
            Evaluator::Service => SERVICE_RESOURCES.contains(&resource),
            Evaluator::Claim => {
                PVC_RESOURCES.contains(&resource)
                    || ["persistentvolumeclaims", "requests.storage"].iter().any(|r| resource.ends_with(&format!("{STORAGE_CLASS_SUFFIX}{r}")))
            }
            Evaluator::Count => resource == count_name(group, plural) || (group.is_empty() && LEGACY_COUNTS.contains(&plural) && resource == plural),
        }
    }
}

/// `count/<plural>` or `count/<plural>.<group>`.
pub fn count_name(group: &str, plural: &str) -> String {
    if group.is_empty() {
        format!("count/{plural}")
    } else {
        format!("count/{plural}.{group}")
    }
}

fn parse_list(v: &Value, pointer: &str) -> Result<List, String> {
    let mut out = List::new();
    for (k, q) in crate::object::at(v, pointer).and_then(Value::as_object).into_iter().flatten() {
        let text = q.as_str().map(str::to_string).unwrap_or_else(|| q.to_string());
        let quantity = Quantity::parse(&text).map_err(|e| format!("{pointer}/{k}: {text:?}: {e}"))?;
        out.insert(k.clone(), quantity);
    }
    Ok(out)
}

fn add_list(into: &mut List, from: &List) {
    for (k, q) in from {
        into.entry(k.clone()).or_insert(Quantity::ZERO).add(q);
    }
}

/// Upstream's `maxResourceList`: the larger value (with its format) per resource.
fn max_list(into: &mut List, from: &List) {
    for (k, q) in from {
        match into.get(k) {
            Some(old) if q.cmp_value(old) != Ordering::Greater => {}
            _ => {
                into.insert(k.clone(), *q);
            }
        }
    }
}

/// A container's `resources.requests` or `resources.limits`.
pub fn container_list(c: &Value, field: &str) -> Result<List, String> {
    parse_list(c, &format!("/resources/{field}"))
}

/// Upstream's `aggregateContainerResourcesByFn`: containers summed, restartable init
/// containers (sidecars) added, then the larger of that and every init container's peak.
pub fn aggregate(spec: &Value, field: &str) -> Result<List, String> {
    let mut result = List::new();
    for c in spec.get("containers").and_then(Value::as_array).into_iter().flatten() {
        add_list(&mut result, &container_list(c, field)?);
    }
    let (mut sidecars, mut init_peak) = (List::new(), List::new());
    for c in spec.get("initContainers").and_then(Value::as_array).into_iter().flatten() {
        let resources = container_list(c, field)?;
        let during = if c.get("restartPolicy").and_then(Value::as_str) == Some("Always") {
            add_list(&mut result, &resources);
            add_list(&mut sidecars, &resources);
            sidecars.clone()
        } else {
            let mut combined = List::new();
            add_list(&mut combined, &resources);
            add_list(&mut combined, &sidecars);
            combined
        };
        max_list(&mut init_peak, &during);
    }
    max_list(&mut result, &init_peak);
    Ok(result)
}

/// Upstream's `PodRequests` and `PodLimits` over the spec (no pod-level resources, no
/// in-place resize status): overhead adds to every request and to every non-zero limit.
fn pod_requests_and_limits(spec: &Value) -> Result<(List, List), String> {
    let mut requests = aggregate(spec, "requests")?;
    let mut limits = aggregate(spec, "limits")?;
    let overhead = parse_list(spec, "/overhead")?;
    add_list(&mut requests, &overhead);
    for (k, q) in &overhead {
        if let Some(l) = limits.get_mut(k).filter(|l| !l.is_zero()) {
            l.add(q);
        }
    }
    Ok((requests, limits))
}

/// Upstream's `podComputeUsageHelper`.
pub fn pod_compute_usage(requests: &List, limits: &List, out: &mut List) {
    out.insert("pods".into(), Quantity::units(1));
    for (resource, request_names, limit_name) in [
        ("cpu", ["cpu", "requests.cpu"], "limits.cpu"),
        ("memory", ["memory", "requests.memory"], "limits.memory"),
        ("ephemeral-storage", ["ephemeral-storage", "requests.ephemeral-storage"], "limits.ephemeral-storage"),
    ] {
        if let Some(q) = requests.get(resource) {
            for name in request_names {
                out.insert(name.into(), *q);
            }
        }
        if let Some(q) = limits.get(resource) {
            out.insert(limit_name.into(), *q);
        }
    }
    for (name, q) in requests {
        if name.starts_with("hugepages-") {
            out.insert(name.clone(), *q);
            out.insert(format!("requests.{name}"), *q);
        }
        if !is_native(name) && !name.starts_with("requests.") {
            out.insert(format!("requests.{name}"), *q);
        }
    }
}

/// Upstream's `ComputePodQOS` (or `status.qosClass` when set) is BestEffort.
fn best_effort(v: &Value) -> Result<bool, String> {
    if let Some(class) = crate::object::at(v, "/status/qosClass").and_then(Value::as_str).filter(|c| !c.is_empty()) {
        return Ok(class == "BestEffort");
    }
    let spec = v.get("spec").cloned().unwrap_or(Value::Null);
    for f in ["containers", "initContainers"] {
        for c in spec.get(f).and_then(Value::as_array).into_iter().flatten() {
            for field in ["requests", "limits"] {
                if container_list(c, field)?.iter().any(|(n, q)| (n == "cpu" || n == "memory") && q.nanos > 0) {
                    return Ok(false);
                }
            }
        }
    }
    Ok(true)
}

fn cross_namespace_affinity(spec: &Value) -> bool {
    let cross = |term: &Value| {
        term.get("namespaces").and_then(Value::as_array).is_some_and(|n| !n.is_empty()) || term.get("namespaceSelector").is_some_and(|s| !s.is_null())
    };
    ["podAffinity", "podAntiAffinity"].iter().any(|kind| {
        let Some(a) = crate::object::at(spec, &format!("/affinity/{kind}")) else {
            return false;
        };
        let required = a.get("requiredDuringSchedulingIgnoredDuringExecution").and_then(Value::as_array).into_iter().flatten().any(cross);
        let preferred = a
            .get("preferredDuringSchedulingIgnoredDuringExecution")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .any(|w| w.get("podAffinityTerm").is_some_and(cross));
        required || preferred
    })
}

/// A pod counts toward compute quota unless it finished or is being deleted (upstream's
/// `QuotaV1Pod`, which keeps charging a deleted pod until its grace period has run out; the
/// controller takes no clock, so both sides stop at deletion).
fn charged(v: &Value) -> bool {
    let phase = crate::object::at(v, "/status/phase").and_then(Value::as_str).unwrap_or_default();
    let deleting = crate::object::at(v, "/metadata/deletionTimestamp").is_some_and(|t| !t.is_null());
    !matches!(phase, "Succeeded" | "Failed") && !deleting
}

/// The scope class of an object: pods only.
pub fn class_of(evaluator: Evaluator, v: &Value) -> Result<ScopeClass, String> {
    if evaluator != Evaluator::Pod {
        return Ok(ScopeClass::default());
    }
    let spec = v.get("spec").cloned().unwrap_or(Value::Null);
    Ok(ScopeClass {
        pod: true,
        terminating: spec.get("activeDeadlineSeconds").and_then(Value::as_i64).is_some_and(|s| s >= 0),
        best_effort: best_effort(v)?,
        priority_class: spec.get("priorityClassName").and_then(Value::as_str).unwrap_or_default().to_string(),
        cross_namespace_affinity: cross_namespace_affinity(&spec),
    })
}

fn service_usage(v: &Value, out: &mut List) {
    let ports = crate::object::at(v, "/spec/ports").and_then(Value::as_array).cloned().unwrap_or_default();
    let count = |n: usize| Quantity::units(n as i64);
    out.insert("services".into(), count(1));
    let (node_ports, balancers) = match crate::object::at(v, "/spec/type").and_then(Value::as_str) {
        Some("NodePort") => (ports.len(), 0),
        Some("LoadBalancer") if crate::object::at(v, "/spec/allocateLoadBalancerNodePorts") == Some(&Value::Bool(false)) => {
            (ports.iter().filter(|p| p.get("nodePort").and_then(Value::as_i64).unwrap_or(0) != 0).count(), 1)
        }
        Some("LoadBalancer") => (ports.len(), 1),
        _ => (0, 0),
    };
    out.insert("services.nodeports".into(), count(node_ports));
    out.insert("services.loadbalancers".into(), count(balancers));
}

/// Upstream's `RoundUp(0)`: whole units, rounding up, keeping the format.
fn round_up_to_units(q: Quantity) -> Quantity {
    Quantity { nanos: q.scaled(0) * 1_000_000_000, format: q.format }
}

fn claim_usage(v: &Value, out: &mut List) -> Result<(), String> {
    out.insert("persistentvolumeclaims".into(), Quantity::units(1));
    let class = match crate::object::at(v, "/metadata/annotations/volume.beta.kubernetes.io~1storage-class").and_then(Value::as_str) {
        Some(c) => c.to_string(),
        None => crate::object::at(v, "/spec/storageClassName").and_then(Value::as_str).unwrap_or_default().to_string(),
    };
    if !class.is_empty() {
        out.insert(format!("{class}{STORAGE_CLASS_SUFFIX}persistentvolumeclaims"), Quantity::units(1));
    }
    let requested = parse_list(v, "/spec/resources/requests")?;
    let allocated = parse_list(v, "/status/allocatedResources")?;
    if let Some(r) = requested.get("storage") {
        let mut storage = round_up_to_units(*r);
        if let Some(a) = allocated.get("storage").filter(|a| a.cmp_value(&storage) == Ordering::Greater) {
            storage = round_up_to_units(*a);
        }
        out.insert("requests.storage".into(), storage);
        if !class.is_empty() {
            out.insert(format!("{class}{STORAGE_CLASS_SUFFIX}requests.storage"), storage);
        }
    }
    Ok(())
}

/// The quota usage of a namespaced object of `group`/`plural`: its object count (and legacy
/// alias), plus what the pod, service and claim evaluators measure.
pub fn usage(group: &str, plural: &str, v: &Value) -> Result<List, String> {
    let mut out = List::new();
    out.insert(count_name(group, plural), Quantity::units(1));
    if group.is_empty() && LEGACY_COUNTS.contains(&plural) {
        out.insert(plural.to_string(), Quantity::units(1));
    }
    match Evaluator::of(group, plural) {
        Evaluator::Pod if charged(v) => {
            let (requests, limits) = pod_requests_and_limits(v.get("spec").unwrap_or(&Value::Null))?;
            pod_compute_usage(&requests, &limits, &mut out);
        }
        Evaluator::Service => service_usage(v, &mut out),
        Evaluator::Claim => claim_usage(v, &mut out)?,
        _ => {}
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn evaluators_answer_for_their_resources() {
        assert!(Evaluator::Pod.matches("", "pods", "requests.cpu"));
        assert!(Evaluator::Pod.matches("", "pods", "requests.nvidia.com/gpu"));
        assert!(!Evaluator::Pod.matches("", "pods", "requests.storage"));
        assert!(Evaluator::Count.matches("", "secrets", "secrets"));
        assert!(Evaluator::Count.matches("apps", "deployments", "count/deployments.apps"));
        assert!(!Evaluator::Count.matches("apps", "deployments", "count/deployments"));
        assert!(Evaluator::Claim.matches("", "persistentvolumeclaims", "gold.storageclass.storage.k8s.io/requests.storage"));
    }

    #[test]
    fn a_pod_with_defaults_uses_what_the_seed_quota_limits() {
        let pod = json!({"spec": {"containers": [{"name": "c", "resources": {
            "requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"cpu": "200m", "memory": "512Mi"}}}]}});
        let u: BTreeMap<String, String> = usage("", "pods", &pod).unwrap().into_iter().map(|(k, q)| (k, q.to_string())).collect();
        let want = [
            ("count/pods", "1"),
            ("cpu", "100m"),
            ("limits.cpu", "200m"),
            ("limits.memory", "512Mi"),
            ("memory", "256Mi"),
            ("pods", "1"),
            ("requests.cpu", "100m"),
            ("requests.memory", "256Mi"),
        ];
        assert_eq!(u, want.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect());
    }
}
