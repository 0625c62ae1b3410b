//! The pods a Service selects, shared by the Endpoints and EndpointSlice controllers so that
//! the join is built once: Service selector ⋈ pod labels in one namespace. Beside it, the
//! per-pod rules both controllers apply the same way upstream: `FindPort`
//! (staging/src/k8s.io/endpointslice/utils.go, pkg/api/v1/pod/util.go) and
//! `ShouldSetHostname` (staging/src/k8s.io/endpointslice/util/controller_utils.go), and the
//! `targetRef` both put on a listed pod.
//!
//! ```text
//! services(selector) ─ key by hash(ns, first selector label) ─┐
//! pods ─ flat_map(each label → hash(ns, label)) ──────────────┴─ join ─ filter(selector ⊆ labels) ─▶ (service, pod)
//! ```
//! A pod change touches only the services whose selectors it matches.

use std::sync::Arc;

use differential_dataflow::VecCollection;
use serde::{Deserialize, Serialize};

use super::{join_key, keyed_once};
use crate::rows::{PodRow, ServicePortRow, ServiceRow, TargetPort};
use crate::types::{Diff, Revision};

/// The reference to a listed pod (an `ObjectReference` with the fields upstream sets).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TargetRef {
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub uid: String,
}

impl TargetRef {
    pub fn pod(pod: &PodRow) -> TargetRef {
        TargetRef { kind: "Pod".into(), namespace: pod.namespace.to_string(), name: pod.name.to_string(), uid: pod.uid.to_string() }
    }
}

/// The Node the pod is bound to, if any.
pub fn node_name(pod: &PodRow) -> Option<String> {
    bound_node(pod).map(str::to_string)
}

/// [`node_name`], borrowed.
pub fn bound_node(pod: &PodRow) -> Option<&str> {
    (!pod.node.is_empty()).then_some(pod.node.as_str())
}

/// Whether the service's selector selects the pod (same namespace, every selector label).
pub fn selects(service: &ServiceRow, pod: &PodRow) -> bool {
    match &service.selector {
        Some(sel) => service.namespace == pod.namespace && sel.iter().all(|(k, v)| pod.labels.iter().any(|(pk, pv)| pk == k && pv == v)),
        None => false,
    }
}

/// Every (service, pod) pair where the service's selector selects the pod. The rows are
/// shared: the pod's copies under each of its labels, the pairs and what the controllers
/// arrange from them point to one row, so merging those arrangements copies pointers.
pub fn selected<'s>(
    services: VecCollection<'s, Revision, ServiceRow, Diff>,
    pods: VecCollection<'s, Revision, Arc<PodRow>, Diff>,
) -> VecCollection<'s, Revision, (Arc<ServiceRow>, Arc<PodRow>), Diff> {
    let by_first_label = services.flat_map(|s| {
        let (k, v) = s.selector.as_ref()?.first()?;
        Some((label_key(&s.namespace, k, v), Arc::new(s)))
    });
    let pods_by_label = pods.flat_map(|p| {
        let keys: Vec<u64> = p.labels.iter().map(|(k, v)| label_key(&p.namespace, k, v)).collect();
        keyed_once(keys, p)
    });
    by_first_label.join_map(pods_by_label, |_, service, pod| (service.clone(), pod.clone())).filter(|(service, pod)| selects(service, pod))
}

/// The join key of a label in a namespace (see [`join_key`]). A collision only brings a pod
/// to a service that does not select it, which the [`selects`] filter after the join drops.
fn label_key(namespace: &str, key: &str, value: &str) -> u64 {
    join_key(&(namespace, key, value))
}

/// The reference form of [`selected`]: the pods the service selects, by a scan.
pub fn selected_by<'a>(service: &'a ServiceRow, pods: &'a [PodRow]) -> impl Iterator<Item = &'a PodRow> + 'a {
    pods.iter().filter(move |p| selects(service, p))
}

/// The container port a service port targets on this pod, as upstream's `FindPort`: a number
/// as it is, a name by the pod's (and its sidecars') container ports of the same protocol.
pub fn find_port(port: &ServicePortRow, pod: &PodRow) -> Option<i64> {
    match &port.target {
        TargetPort::Number(n) => Some(*n),
        TargetPort::Name(name) => pod.ports.iter().find(|(n, _, protocol)| n == name && *protocol == port.protocol).map(|p| p.1),
    }
}

/// The pod's hostname when it names itself into the service's subdomain, as upstream's
/// `ShouldSetHostname`.
pub fn hostname(service: &ServiceRow, pod: &PodRow) -> Option<String> {
    hostname_in(service, pod).map(str::to_string)
}

/// [`hostname`], borrowed.
pub fn hostname_in<'a>(service: &ServiceRow, pod: &'a PodRow) -> Option<&'a str> {
    (pod.subdomain()? == service.name && pod.namespace == service.namespace).then_some(pod.hostname()?)
}
