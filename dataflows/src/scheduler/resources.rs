//! Resource requests as the scheduler counts them.
//!
//! - A pod's requests are upstream's `resourcehelper.PodRequests`
//!   (`k8s.io/component-helpers/resource/helpers.go`): containers summed, restartable init
//!   containers (sidecars) added, the larger of that and each init container's peak, pod-level
//!   requests where set, then `spec.overhead`. The container part is
//!   [`deltakube_api::quota::usage::aggregate`], the same rule quota uses.
//! - The non-zero requests used for scoring give every container that names no cpu or memory
//!   request upstream's defaults, 100m cpu and 200Mi memory (`pkg/scheduler/util/pod_resources.go`,
//!   applied per container as `getNonMissingContainerRequests` in `pkg/scheduler/framework/types.go`).
//! - [`Resources`] is upstream's `framework.Resource`: integers, cpu in millicores, everything else
//!   in units, each rounded up from the exact [`Quantity`] (`MilliValue`, `Value`).

use std::collections::BTreeMap;

use deltakube_api::object::at;
use deltakube_api::quota::quantity::Quantity;
use deltakube_api::quota::usage::{aggregate, List};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Exact quantities by resource name.
pub type ResourceList = List;

/// Upstream's `schedutil.DefaultMilliCPURequest`.
pub const DEFAULT_MILLI_CPU_REQUEST: i64 = 100;
/// Upstream's `schedutil.DefaultMemoryRequest` (200Mi).
pub const DEFAULT_MEMORY_REQUEST: i64 = 200 * 1024 * 1024;

pub const CPU: &str = "cpu";
pub const MEMORY: &str = "memory";
pub const EPHEMERAL_STORAGE: &str = "ephemeral-storage";
pub const PODS: &str = "pods";

/// Upstream's `framework.Resource`.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Resources {
    pub milli_cpu: i64,
    pub memory: i64,
    pub ephemeral_storage: i64,
    /// `AllowedPodNumber`: only allocatable carries it.
    pub pods: i64,
    /// Extended, hugepages, attachable-volume and prefixed native resources.
    pub scalar: BTreeMap<String, i64>,
}

impl Resources {
    /// Upstream's `NewResource(list)`: unknown unprefixed resources are dropped.
    pub fn from_list(list: &ResourceList) -> Resources {
        let mut r = Resources::default();
        for (name, q) in list {
            let units = clamp(q.scaled(0));
            match name.as_str() {
                CPU => r.milli_cpu += clamp(q.scaled(3)),
                MEMORY => r.memory += units,
                EPHEMERAL_STORAGE => r.ephemeral_storage += units,
                PODS => r.pods += units,
                other if is_scalar_resource(other) => *r.scalar.entry(other.to_string()).or_insert(0) += units,
                _ => {}
            }
        }
        r
    }

    /// Adds (`sign` = 1) or removes (`sign` = -1) a pod's requests, as `NodeInfo.update` does.
    pub fn accumulate(&mut self, other: &Resources, sign: i64) {
        self.milli_cpu += sign * other.milli_cpu;
        self.memory += sign * other.memory;
        self.ephemeral_storage += sign * other.ephemeral_storage;
        for (k, v) in &other.scalar {
            *self.scalar.entry(k.clone()).or_insert(0) += sign * v;
        }
    }

    /// The amount of one resource in the scheduler's units (millicores for cpu).
    pub fn get(&self, name: &str) -> i64 {
        match name {
            CPU => self.milli_cpu,
            MEMORY => self.memory,
            EPHEMERAL_STORAGE => self.ephemeral_storage,
            PODS => self.pods,
            other => self.scalar.get(other).copied().unwrap_or(0),
        }
    }
}

fn clamp(v: i128) -> i64 {
    v.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

/// Upstream's `schedutil.IsScalarResourceName`: extended resources, `hugepages-*`,
/// `attachable-volumes-*`, and native resources under `kubernetes.io/`.
pub fn is_scalar_resource(name: &str) -> bool {
    name.starts_with("hugepages-") || name.starts_with("attachable-volumes-") || name.contains("kubernetes.io/") || is_extended_resource(name)
}

/// Upstream's `v1helper.IsExtendedResourceName`: a qualified name outside `kubernetes.io/`,
/// not under `requests.`.
pub fn is_extended_resource(name: &str) -> bool {
    name.contains('/') && !name.contains("kubernetes.io/") && !name.starts_with("requests.")
}

/// Pod-level requests the scheduler honours (`IsSupportedPodLevelResource`).
fn is_pod_level_resource(name: &str) -> bool {
    name == CPU || name == MEMORY || name.starts_with("hugepages-")
}

pub(crate) fn parse_list(v: Option<&Value>, what: &str) -> Result<ResourceList, String> {
    let mut out = ResourceList::new();
    for (k, q) in v.and_then(Value::as_object).into_iter().flatten() {
        let text = q.as_str().map(str::to_string).unwrap_or_else(|| q.to_string());
        let quantity = Quantity::parse(&text).map_err(|e| format!("{what}[{k}]: {text:?}: {e}"))?;
        out.insert(k.clone(), quantity);
    }
    Ok(out)
}

/// Upstream's `PodRequests` over a pod spec.
pub fn pod_requests(spec: &Value) -> Result<ResourceList, String> {
    let mut requests = aggregate(spec, "requests")?;
    let pod_level = parse_list(at(spec, "/resources/requests"), "spec.resources.requests")?;
    for (name, q) in pod_level.into_iter().filter(|(n, _)| is_pod_level_resource(n)) {
        requests.insert(name, q);
    }
    for (name, q) in parse_list(spec.get("overhead"), "spec.overhead")? {
        requests.entry(name).or_insert(Quantity::ZERO).add(&q);
    }
    Ok(requests)
}

/// The cpu (millicores) and memory (bytes) the scheduler scores with: a container that names no
/// cpu or memory request counts upstream's default, unless the pod sets that resource at pod
/// level (`getNonMissingContainerRequests`).
pub fn pod_nonzero_requests(spec: &Value, requests: &ResourceList) -> Result<(i64, i64), String> {
    let pod_level_set = at(spec, "/resources/requests").and_then(Value::as_object).is_some_and(|m| m.keys().any(|k| is_pod_level_resource(k)));
    let defaults: Vec<(&str, String)> = [(CPU, format!("{DEFAULT_MILLI_CPU_REQUEST}m")), (MEMORY, DEFAULT_MEMORY_REQUEST.to_string())]
        .into_iter()
        .filter(|(name, _)| !pod_level_set || !requests.contains_key(*name))
        .collect();
    let names_every_default =
        |c: &Value| at(c, "/resources/requests").and_then(Value::as_object).is_some_and(|r| defaults.iter().all(|(n, _)| r.contains_key(*n)));
    let nothing_missing =
        ["containers", "initContainers"].iter().all(|f| spec.get(*f).and_then(Value::as_array).is_none_or(|cs| cs.iter().all(names_every_default)));
    let units = if defaults.is_empty() || nothing_missing {
        // No container lacks a default: the defaulted spec is the spec.
        Resources::from_list(requests)
    } else {
        let mut defaulted = spec.clone();
        for field in ["containers", "initContainers"] {
            for c in defaulted.get_mut(field).and_then(Value::as_array_mut).into_iter().flatten() {
                apply_missing_requests(c, &defaults);
            }
        }
        Resources::from_list(&pod_requests(&defaulted)?)
    };
    Ok((units.milli_cpu, units.memory))
}

/// Upstream's `applyNonMissing`: adds each default the container does not name.
fn apply_missing_requests(container: &mut Value, defaults: &[(&str, String)]) {
    let Some(obj) = container.as_object_mut() else { return };
    let resources = obj.entry("resources").or_insert_with(|| Value::Object(Default::default()));
    if !resources.is_object() {
        *resources = Value::Object(Default::default());
    }
    let requests = resources.as_object_mut().map(|r| r.entry("requests").or_insert_with(|| Value::Object(Default::default())));
    let Some(requests) = requests.and_then(Value::as_object_mut) else { return };
    for (name, value) in defaults {
        requests.entry(name.to_string()).or_insert_with(|| Value::String(value.clone()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn units(spec: Value) -> (Resources, (i64, i64)) {
        let reqs = pod_requests(&spec).unwrap();
        let nonzero = pod_nonzero_requests(&spec, &reqs).unwrap();
        (Resources::from_list(&reqs), nonzero)
    }

    // Upstream's worked example in the computePodResourceRequest doc comment,
    // pkg/scheduler/framework/plugins/noderesources/fit.go: init containers 2/1G and 2/3G,
    // containers 2/1G and 1/1G give CPU 3, memory 3G.
    #[test]
    fn init_containers_take_the_max_and_containers_sum() {
        let (r, _) = units(json!({
            "initContainers": [{"resources": {"requests": {"cpu": "2", "memory": "1G"}}}, {"resources": {"requests": {"cpu": "2", "memory": "3G"}}}],
            "containers": [{"resources": {"requests": {"cpu": "2", "memory": "1G"}}}, {"resources": {"requests": {"cpu": "1", "memory": "1G"}}}],
        }));
        assert_eq!((r.milli_cpu, r.memory), (3000, 3_000_000_000));
    }

    #[test]
    fn sidecars_add_and_overhead_adds() {
        let (r, _) = units(json!({
            "initContainers": [{"restartPolicy": "Always", "resources": {"requests": {"cpu": "500m"}}}],
            "containers": [{"resources": {"requests": {"cpu": "1"}}}],
            "overhead": {"cpu": "100m", "memory": "10Mi"},
        }));
        assert_eq!((r.milli_cpu, r.memory), (1600, 10 * 1024 * 1024));
    }

    #[test]
    fn nonzero_defaults_apply_per_container_without_a_request() {
        // Two containers without requests and one with an explicit zero memory request.
        let (_, nonzero) = units(json!({"containers": [{}, {}, {"resources": {"requests": {"cpu": "1", "memory": "0"}}}]}));
        assert_eq!(nonzero, (1200, 2 * DEFAULT_MEMORY_REQUEST));
        // A pod without containers gets no default (upstream's st.MakePod()).
        assert_eq!(units(json!({})).1, (0, 0));
    }

    // Upstream: pkg/scheduler/framework/types_test.go, TestPodInfoCalculateResources.
    #[test]
    fn upstream_calculate_resources_cases() {
        let req = |cpu: &str, mem: &str| json!({"resources": {"requests": {"cpu": cpu, "memory": mem}}});
        let mi = |n: i64| n * 1024 * 1024;
        // "requestless container"
        let (r, nonzero) = units(json!({"containers": [{}]}));
        assert_eq!((r.milli_cpu, r.memory, nonzero), (0, 0, (DEFAULT_MILLI_CPU_REQUEST, DEFAULT_MEMORY_REQUEST)));
        // "2X container with requests"
        let (r, nonzero) = units(json!({"containers": [req("500m", "500Mi"), req("700m", "800Mi")]}));
        assert_eq!((r.milli_cpu, r.memory, nonzero), (1200, mi(1300), (1200, mi(1300))));
        // "1X container and 1X init container with pod-level requests"
        let pod_level = json!({"requests": {"cpu": "1200m", "memory": "1200Mi"}});
        let (r, nonzero) = units(json!({"initContainers": [req("500m", "500Mi")], "containers": [req("500m", "500Mi")], "resources": pod_level}));
        assert_eq!((r.milli_cpu, r.memory, nonzero), (1200, mi(1200), (1200, mi(1200))));
        // "1X container and 1X sidecar container with pod-level requests"
        let mut sidecar = req("500m", "500Mi");
        sidecar["restartPolicy"] = json!("Always");
        let (r, _) = units(json!({"initContainers": [sidecar], "containers": [req("500m", "500Mi")], "resources": pod_level}));
        assert_eq!((r.milli_cpu, r.memory), (1200, mi(1200)));
        // "1X container with pod-level memory requests"
        let (r, nonzero) = units(json!({"initContainers": [{}], "containers": [{}], "resources": {"requests": {"memory": "1200Mi"}}}));
        assert_eq!((r.memory, nonzero), (mi(1200), (DEFAULT_MILLI_CPU_REQUEST, mi(1200))));
        // "1X container with pod-level cpu requests"
        let (r, nonzero) = units(json!({"initContainers": [{}], "containers": [{}], "resources": {"requests": {"cpu": "500m"}}}));
        assert_eq!((r.milli_cpu, nonzero), (500, (500, DEFAULT_MEMORY_REQUEST)));
        // "1X container unsupported resources and pod-level supported resources"
        let (r, nonzero) = units(json!({
            "initContainers": [{"resources": {"requests": {"ephemeral-storage": "500Mi"}}}],
            "containers": [{"resources": {"requests": {"ephemeral-storage": "800Mi"}}}],
            "resources": {"requests": {"cpu": "500m"}},
        }));
        assert_eq!((r.milli_cpu, r.ephemeral_storage, nonzero), (500, mi(800), (500, DEFAULT_MEMORY_REQUEST)));
    }

    #[test]
    fn scalar_resources() {
        assert!(is_scalar_resource("nvidia.com/gpu"));
        assert!(is_scalar_resource("hugepages-2Mi"));
        assert!(!is_scalar_resource("storage"));
        assert!(!is_extended_resource("kubernetes.io/foo"));
    }
}
