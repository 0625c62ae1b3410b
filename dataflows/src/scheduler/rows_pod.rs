//! The scheduler's pod row and its projection from JSON: requests (exact and non-zero), host
//! ports, node selector and affinity, tolerations, pod (anti-)affinity, spread constraints,
//! priority, images and the controller owner.
//!
//! Malformed structure (a label that is not a string, a quantity that does not parse) fails the
//! projection. An invalid selector inside an affinity or spread term does not: it is recorded in
//! [`PodRow::constraint_errors`] and the term's list is dropped, as upstream's `PodInfo.Update`
//! does, so a bound pod with a bad term still counts on its node while a pending one is
//! unschedulable with the parse error as its message.

use deltakube_api::object::at;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::resources::{pod_nonzero_requests, pod_requests, ResourceList};
use super::rows::{
    AffinityTerm, ControllerRef, HostPort, PreferredNodeTerm, PriorityClassRow, SpreadConstraint, Toleration, WeightedAffinityTerm, WhenUnsatisfiable,
};
use super::selectors::{label_value, string_list, LabelSelector, NodeSelectorTerm, Operator, Requirement};
use crate::rows::{labels, s, terminating, Labels};

/// Upstream's default scheduler name; an empty `spec.schedulerName` means it too.
pub const DEFAULT_SCHEDULER_NAME: &str = "default-scheduler";
/// Built-in priority classes (`pkg/apis/scheduling/types.go`).
pub const SYSTEM_CLUSTER_CRITICAL: (&str, i32) = ("system-cluster-critical", 2_000_000_000);
pub const SYSTEM_NODE_CRITICAL: (&str, i32) = ("system-node-critical", 2_000_001_000);

/// A pod as the scheduler reads it, bound or pending.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PodRow {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub labels: Labels,
    /// `metadata.creationTimestamp` (RFC 3339, so it orders as text).
    pub created: String,
    pub scheduler_name: String,
    /// `spec.nodeName`; empty while pending.
    pub node_name: String,
    /// `status.phase` is Succeeded or Failed: upstream's scheduler does not see such pods.
    pub terminal: bool,
    /// `metadata.deletionTimestamp` is set.
    pub deleting: bool,
    /// `spec.schedulingGates` is not empty.
    pub gated: bool,
    /// `spec.priority`, set by admission.
    pub priority: Option<i32>,
    pub priority_class_name: String,
    /// Upstream's `PodRequests`, exact.
    pub requests: ResourceList,
    /// Millicores and bytes with upstream's non-zero defaults, for scoring.
    pub nonzero_cpu_memory: (i64, i64),
    pub host_ports: Vec<HostPort>,
    pub node_selector: Labels,
    /// `requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms`; `None` when absent.
    pub required_node_affinity: Option<Vec<NodeSelectorTerm>>,
    pub preferred_node_affinity: Vec<PreferredNodeTerm>,
    pub tolerations: Vec<Toleration>,
    pub required_affinity: Vec<AffinityTerm>,
    pub required_anti_affinity: Vec<AffinityTerm>,
    pub preferred_affinity: Vec<WeightedAffinityTerm>,
    pub preferred_anti_affinity: Vec<WeightedAffinityTerm>,
    pub spread_constraints: Vec<SpreadConstraint>,
    pub controller: Option<ControllerRef>,
    /// Init container, container and image volume images, normalized as ImageLocality does.
    pub images: Vec<String>,
    /// Parse errors of affinity and spread terms (see the module doc).
    pub constraint_errors: Vec<String>,
}

impl PodRow {
    /// Bound to a node and still running there, as far as the scheduler's cache is concerned.
    pub fn occupies_node(&self) -> bool {
        !self.node_name.is_empty() && !self.terminal
    }

    /// Waits for this scheduler: pending, default scheduler, not gated, not being deleted.
    pub fn awaits_default_scheduler(&self) -> bool {
        self.node_name.is_empty() && !self.terminal && !self.deleting && !self.gated && self.scheduler_name == DEFAULT_SCHEDULER_NAME
    }

    /// Whether the pod has any pod affinity or anti-affinity term (upstream's `podWithAffinity`).
    pub fn has_pod_affinity(&self) -> bool {
        !(self.required_affinity.is_empty()
            && self.required_anti_affinity.is_empty()
            && self.preferred_affinity.is_empty()
            && self.preferred_anti_affinity.is_empty())
    }
}

/// The pod's priority: `spec.priority`, else its class's value, else the global default
/// class's, else 0, as upstream's Priority admission resolves it.
pub fn resolve_priority(pod: &PodRow, classes: &[PriorityClassRow]) -> i32 {
    if let Some(p) = pod.priority {
        return p;
    }
    if !pod.priority_class_name.is_empty() {
        for (name, value) in [SYSTEM_CLUSTER_CRITICAL, SYSTEM_NODE_CRITICAL] {
            if pod.priority_class_name == name {
                return value;
            }
        }
        return classes.iter().find(|c| c.name == pod.priority_class_name).map_or(0, |c| c.value);
    }
    classes.iter().filter(|c| c.global_default).map(|c| c.value).min().unwrap_or(0)
}

/// Upstream's `normalizedImageName` (imagelocality): `:latest` when the name has no tag.
pub fn normalized_image_name(name: &str) -> String {
    if name.rfind(':').map_or(-1, |i| i as i64) <= name.rfind('/').map_or(-1, |i| i as i64) {
        format!("{name}:latest")
    } else {
        name.to_string()
    }
}

/// Projects a Pod.
pub fn project_pod(v: &Value) -> Result<PodRow, String> {
    let null = Value::Null;
    let spec = v.get("spec").unwrap_or(&null);
    let pod_namespace = s(v, "/metadata/namespace");
    let pod_labels = labels(at(v, "/metadata/labels"))?;
    let requests = pod_requests(spec)?;
    let nonzero_cpu_memory = pod_nonzero_requests(spec, &requests)?;
    let mut errors = Vec::new();
    let affinity = spec.get("affinity").unwrap_or(&null);
    let required = |pointer: &str| pod_affinity_terms(at(affinity, pointer), &pod_namespace, &pod_labels);
    let preferred = |pointer: &str| weighted_affinity_terms(at(affinity, pointer), &pod_namespace, &pod_labels);
    let required_affinity = kept(required("/podAffinity/requiredDuringSchedulingIgnoredDuringExecution"), "requiredAffinityTerms", &mut errors);
    let required_anti_affinity = kept(required("/podAntiAffinity/requiredDuringSchedulingIgnoredDuringExecution"), "requiredAntiAffinityTerms", &mut errors);
    let preferred_affinity = kept(preferred("/podAffinity/preferredDuringSchedulingIgnoredDuringExecution"), "preferredAffinityTerms", &mut errors);
    let preferred_anti_affinity =
        kept(preferred("/podAntiAffinity/preferredDuringSchedulingIgnoredDuringExecution"), "preferredAntiAffinityTerms", &mut errors);
    let (required_node_affinity, preferred_node_affinity) = node_affinity(affinity.get("nodeAffinity"), &mut errors)?;
    let spread_constraints = kept(spread_constraints(spec.get("topologySpreadConstraints"), &pod_labels), "topologySpreadConstraints", &mut errors);
    let scheduler_name = Some(s(spec, "/schedulerName")).filter(|n| !n.is_empty()).unwrap_or_else(|| DEFAULT_SCHEDULER_NAME.to_string());
    let phase = s(v, "/status/phase");
    Ok(PodRow {
        uid: s(v, "/metadata/uid"),
        name: s(v, "/metadata/name"),
        created: s(v, "/metadata/creationTimestamp"),
        scheduler_name,
        node_name: s(spec, "/nodeName"),
        terminal: phase == "Succeeded" || phase == "Failed",
        deleting: terminating(v),
        gated: spec.get("schedulingGates").and_then(Value::as_array).is_some_and(|g| !g.is_empty()),
        priority: spec.get("priority").and_then(Value::as_i64).and_then(|p| i32::try_from(p).ok()),
        priority_class_name: s(spec, "/priorityClassName"),
        requests,
        nonzero_cpu_memory,
        host_ports: host_ports(spec),
        node_selector: labels(spec.get("nodeSelector"))?,
        required_node_affinity,
        preferred_node_affinity,
        tolerations: tolerations(spec),
        required_affinity,
        required_anti_affinity,
        preferred_affinity,
        preferred_anti_affinity,
        spread_constraints,
        controller: controller(v),
        images: images(spec),
        constraint_errors: errors,
        namespace: pod_namespace,
        labels: pod_labels,
    })
}

/// The parsed terms, or none with the error recorded (upstream's `PodInfo.Update` drops a list
/// that does not parse).
fn kept<T>(parsed: Result<Vec<T>, String>, what: &str, errors: &mut Vec<String>) -> Vec<T> {
    parsed.unwrap_or_else(|e| {
        errors.push(format!("{what}: {e}"));
        vec![]
    })
}

/// Upstream's `schedutil.GetHostPorts`: ports with a host port, of containers and of restartable
/// init containers (which run for the pod's whole life).
fn host_ports(spec: &Value) -> Vec<HostPort> {
    let sidecars =
        spec.get("initContainers").and_then(Value::as_array).into_iter().flatten().filter(|c| c.get("restartPolicy").and_then(Value::as_str) == Some("Always"));
    let containers = spec.get("containers").and_then(Value::as_array).into_iter().flatten();
    let mut out = Vec::new();
    for c in sidecars.chain(containers) {
        for p in c.get("ports").and_then(Value::as_array).into_iter().flatten() {
            let port = p.get("hostPort").and_then(Value::as_i64).unwrap_or(0);
            if port <= 0 {
                continue;
            }
            let ip = p.get("hostIP").and_then(Value::as_str).filter(|ip| !ip.is_empty()).unwrap_or("0.0.0.0");
            let protocol = p.get("protocol").and_then(Value::as_str).filter(|p| !p.is_empty()).unwrap_or("TCP");
            out.push(HostPort { ip: ip.to_string(), protocol: protocol.to_string(), port });
        }
    }
    out
}

fn tolerations(spec: &Value) -> Vec<Toleration> {
    let field = |t: &Value, k: &str| t.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
    spec.get("tolerations")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|t| Toleration { key: field(t, "key"), operator: field(t, "operator"), value: field(t, "value"), effect: field(t, "effect") })
        .collect()
}

fn controller(v: &Value) -> Option<ControllerRef> {
    let r = at(v, "/metadata/ownerReferences")?.as_array()?.iter().find(|r| r.get("controller").and_then(Value::as_bool) == Some(true))?;
    Some(ControllerRef { api_version: s(r, "/apiVersion"), kind: s(r, "/kind"), name: s(r, "/name") })
}

fn images(spec: &Value) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for field in ["initContainers", "containers"] {
        for c in spec.get(field).and_then(Value::as_array).into_iter().flatten() {
            out.push(normalized_image_name(c.get("image").and_then(Value::as_str).unwrap_or_default()));
        }
    }
    for vol in spec.get("volumes").and_then(Value::as_array).into_iter().flatten() {
        if let Some(reference) = at(vol, "/image/reference").and_then(Value::as_str) {
            out.push(normalized_image_name(reference));
        }
    }
    out
}

type NodeAffinity = (Option<Vec<NodeSelectorTerm>>, Vec<PreferredNodeTerm>);

fn node_affinity(v: Option<&Value>, errors: &mut Vec<String>) -> Result<NodeAffinity, String> {
    let Some(v) = v.filter(|v| !v.is_null()) else { return Ok((None, vec![])) };
    let required = match v.get("requiredDuringSchedulingIgnoredDuringExecution").filter(|r| !r.is_null()) {
        None => None,
        Some(r) => {
            Some(r.get("nodeSelectorTerms").and_then(Value::as_array).into_iter().flatten().map(NodeSelectorTerm::from_json).collect::<Result<Vec<_>, _>>()?)
        }
    };
    let mut preferred = Vec::new();
    for (i, p) in v.get("preferredDuringSchedulingIgnoredDuringExecution").and_then(Value::as_array).into_iter().flatten().enumerate() {
        let weight = p.get("weight").and_then(Value::as_i64).unwrap_or(0);
        let term = NodeSelectorTerm::from_json(p.get("preference").unwrap_or(&Value::Null))?;
        if let Some(e) = &term.error {
            errors.push(format!("preferredDuringSchedulingIgnoredDuringExecution[{i}]: {e}"));
        }
        // Upstream's NewPreferredSchedulingTerms skips terms of weight 0.
        if weight != 0 {
            preferred.push(PreferredNodeTerm { weight, term });
        }
    }
    Ok((required, preferred))
}

/// Upstream's `newAffinityTerm`, plus the `matchLabelKeys` / `mismatchLabelKeys` merge the API
/// server applies at creation (`In` / `NotIn` the pod's own value for each key it carries).
fn affinity_term(t: &Value, namespace: &str, pod_labels: &Labels) -> Result<AffinityTerm, String> {
    let mut selector = LabelSelector::from_json(t.get("labelSelector"))?;
    let mut merged = Vec::new();
    for (field, operator) in [("matchLabelKeys", Operator::In), ("mismatchLabelKeys", Operator::NotIn)] {
        for key in string_list(t.get(field))? {
            if let Some(value) = label_value(pod_labels, &key) {
                merged.push(Requirement { key: key.clone(), operator, values: vec![value.to_string()] });
            }
        }
    }
    if !merged.is_empty() {
        selector = selector.and(merged);
    }
    let mut namespaces = string_list(t.get("namespaces"))?;
    let namespace_selector = LabelSelector::from_json(t.get("namespaceSelector"))?;
    if namespaces.is_empty() && namespace_selector == LabelSelector::Nothing {
        namespaces.push(namespace.to_string());
    }
    namespaces.sort();
    namespaces.dedup();
    Ok(AffinityTerm { selector, namespaces, namespace_selector, topology_key: s(t, "/topologyKey") })
}

fn pod_affinity_terms(v: Option<&Value>, namespace: &str, pod_labels: &Labels) -> Result<Vec<AffinityTerm>, String> {
    v.and_then(Value::as_array).into_iter().flatten().map(|t| affinity_term(t, namespace, pod_labels)).collect()
}

fn weighted_affinity_terms(v: Option<&Value>, namespace: &str, pod_labels: &Labels) -> Result<Vec<WeightedAffinityTerm>, String> {
    v.and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|w| {
            let term = affinity_term(w.get("podAffinityTerm").unwrap_or(&Value::Null), namespace, pod_labels)?;
            Ok(WeightedAffinityTerm { weight: w.get("weight").and_then(Value::as_i64).unwrap_or(0), term })
        })
        .collect()
}

/// Upstream's `filterTopologySpreadConstraints` for both actions: defaults applied, and
/// `matchLabelKeys` merged as `key=value` of the pod's own labels.
fn spread_constraints(v: Option<&Value>, pod_labels: &Labels) -> Result<Vec<SpreadConstraint>, String> {
    let mut out = Vec::new();
    for c in v.and_then(Value::as_array).into_iter().flatten() {
        let when_unsatisfiable = match c.get("whenUnsatisfiable").and_then(Value::as_str) {
            Some("ScheduleAnyway") => WhenUnsatisfiable::ScheduleAnyway,
            _ => WhenUnsatisfiable::DoNotSchedule,
        };
        let mut selector = LabelSelector::from_json(c.get("labelSelector"))?;
        let keys: Vec<Requirement> =
            string_list(c.get("matchLabelKeys"))?.iter().filter_map(|k| label_value(pod_labels, k).map(|v| Requirement::equals(k, v))).collect();
        if !keys.is_empty() {
            selector = selector.and(keys);
        }
        out.push(SpreadConstraint {
            max_skew: c.get("maxSkew").and_then(Value::as_i64).unwrap_or(1),
            topology_key: s(c, "/topologyKey"),
            when_unsatisfiable,
            selector,
            min_domains: c.get("minDomains").and_then(Value::as_i64).unwrap_or(1),
            honor_node_affinity: c.get("nodeAffinityPolicy").and_then(Value::as_str) != Some("Ignore"),
            honor_node_taints: c.get("nodeTaintsPolicy").and_then(Value::as_str) == Some("Honor"),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    // Upstream: pkg/scheduler/framework/plugins/imagelocality/image_locality_test.go, TestNormalizedImageName.
    #[test]
    fn normalized_image_names() {
        assert_eq!(normalized_image_name("root"), "root:latest");
        assert_eq!(normalized_image_name("gcr.io:5000/root"), "gcr.io:5000/root:latest");
        assert_eq!(normalized_image_name("root:tag"), "root:tag");
        assert_eq!(normalized_image_name("root@sha256:abc"), "root@sha256:abc");
    }

    #[test]
    fn projection_defaults_and_errors() {
        let p = project_pod(&json!({
            "metadata": {"namespace": "ns", "name": "p", "labels": {"app": "a"}},
            "spec": {
                "containers": [{"image": "nginx", "ports": [{"containerPort": 80, "hostPort": 8080}, {"containerPort": 81}]}],
                "affinity": {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                    {"labelSelector": {"matchExpressions": [{"key": "service", "operator": "In", "values": ["{{.bad-value.}}"]}]}, "topologyKey": "region"}
                ]}},
            },
        }))
        .unwrap();
        assert_eq!(p.scheduler_name, DEFAULT_SCHEDULER_NAME);
        assert_eq!(p.host_ports, vec![HostPort { ip: "0.0.0.0".into(), protocol: "TCP".into(), port: 8080 }]);
        assert_eq!(p.images, vec!["nginx:latest".to_string()]);
        assert!(p.required_affinity.is_empty());
        assert!(p.constraint_errors[0].starts_with("requiredAffinityTerms: values[0][service]: Invalid value"));
        assert!(p.awaits_default_scheduler());
    }

    #[test]
    fn affinity_terms_default_to_the_pods_namespace_and_merge_match_label_keys() {
        let p = project_pod(&json!({
            "metadata": {"namespace": "ns", "name": "p", "labels": {"app": "a", "rev": "1"}},
            "spec": {"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                {"labelSelector": {"matchLabels": {"app": "a"}}, "topologyKey": "zone", "matchLabelKeys": ["rev"]}
            ]}}},
        }))
        .unwrap();
        let t = &p.required_anti_affinity[0];
        assert_eq!(t.namespaces, vec!["ns".to_string()]);
        let other = vec![("app".to_string(), "a".to_string()), ("rev".to_string(), "2".to_string())];
        assert!(!t.matches("ns", &other, None));
        assert!(t.matches("ns", &p.labels, None));
    }

    #[test]
    fn priority_resolution() {
        let classes = vec![
            PriorityClassRow { name: "high".into(), value: 1000, global_default: false },
            PriorityClassRow { name: "default".into(), value: 7, global_default: true },
        ];
        let mut p = project_pod(&json!({"metadata": {"name": "p"}, "spec": {}})).unwrap();
        assert_eq!(resolve_priority(&p, &classes), 7);
        p.priority_class_name = "high".into();
        assert_eq!(resolve_priority(&p, &classes), 1000);
        p.priority_class_name = "system-node-critical".into();
        assert_eq!(resolve_priority(&p, &classes), 2_000_001_000);
        p.priority = Some(5);
        assert_eq!(resolve_priority(&p, &classes), 5);
    }
}
