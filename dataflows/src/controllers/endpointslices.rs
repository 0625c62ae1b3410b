//! EndpointSlice controller: for every Service with a selector (and not of type ExternalName),
//! `discovery.k8s.io/v1` EndpointSlices of address type IPv4 listing the pods it selects, as
//! upstream's controller (pkg/controller/endpointslice/endpointslice_controller.go) with its
//! reconciler (staging/src/k8s.io/endpointslice/reconciler.go, utils.go):
//! - a pod is listed when it is not terminal and has an IPv4 address, terminating or not
//!   (`ShouldPodBeInEndpoints(pod, true)`), and its Node exists unless the Service publishes
//!   not-ready addresses;
//! - conditions as `podToEndpoint`: `serving` is the pod's readiness, `terminating` its
//!   deletion, `ready` is serving and not terminating, or always with `publishNotReadyAddresses`;
//!   with `nodeName`, the Node's zone, the hostname rule and a `targetRef` to the pod;
//! - ports resolved per pod (`getEndpointPorts`, named target ports through `FindPort`); pods
//!   with different resolved ports go to different slices;
//! - at most [`MAX_ENDPOINTS`] endpoints per slice; a Service without endpoints gets one empty
//!   placeholder slice;
//! - labels: the Service's, plus `kubernetes.io/service-name`, the managed-by label and the
//!   headless label; an ownerReference to the Service (controller, blockOwnerDeletion);
//! - managed slices of a Service that is gone, or whose uid changed, are deleted; those of a
//!   Service that exists without a selector are left alone, as upstream; a Service being
//!   deleted gets no new slices.
//!
//! ```text
//! selected (service, pod) pairs ─ filter(listed) ─ key by node ─┬─ join(nodes: zone) ──────────────────┐
//!                                                                └─ less those met ─ publishNotReady ───┤
//! services(receiving slices) ─ marker ────────────────────────────────────────────────────────────────┴─ reduce per service
//!   ─▶ desired slices (endpointslices view) ─┐
//! slices(managed, of a Service that is gone or receives slices) ─▶ observed ┴─ reconcile(Delete) ─ no creates for deleting Services ─▶ intents
//! ```
//!
//! **Names.** Upstream creates slices with `generateName: <service>-`. Here a slice is named
//! `<service>-<5 characters>` hashed from the Service's uid, the address type, the slice's
//! ports and its index among the slices with those ports, so a lagging feed or a restart never
//! creates a slice twice, and a recreated Service (new uid) never adopts its predecessor's.
//!
//! **Packing.** Endpoints with the same ports are sorted and cut into slices of 100, so the
//! slices are a function of the pods. Upstream instead keeps existing slices and fills the
//! fullest one with room, which depends on history and rewrites fewer slices when a Service
//! with more than 100 endpoints changes; here a change can shift the endpoints after it into
//! the next slice. Topology hints, trafficDistribution and the last-change-trigger-time
//! annotation (a clock reading) are not written; only the IPv4 address type is served.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::sync::Arc;

use differential_dataflow::VecCollection;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::endpoints::tcp;
use super::join_key;
use super::selection::{find_port, hostname, node_name, selected_by, TargetRef};
use super::token::suffix;
use crate::reconcile::{reconcile, reconcile_reference, Orphans};
use crate::rows::{owner_refs, Labels, ManagedRow, NodeRow, OwnerRef, PodRow, ServiceRow};
use crate::types::{Diff, Intent, Kind, ObjectKey, Revision, Text};

pub const MANAGED_BY: &str = "endpointslice.kubernetes.io/managed-by";
pub const CONTROLLER_NAME: &str = "endpointslice-controller.k8s.io";
pub const SERVICE_NAME: &str = "kubernetes.io/service-name";
const HEADLESS: &str = "service.kubernetes.io/headless";
/// Upstream's default `--max-endpoints-per-slice`.
pub const MAX_ENDPOINTS: usize = 100;
const ADDRESS_TYPE: &str = "IPv4";

#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Conditions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serving: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terminating: Option<bool>,
}

/// One endpoint of a slice, in the field order of `discovery.k8s.io/v1`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Endpoint {
    pub addresses: Vec<String>,
    #[serde(default)]
    pub conditions: Conditions,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_ref: Option<TargetRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SlicePort {
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<i64>,
    #[serde(default = "tcp")]
    pub protocol: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_protocol: Option<String>,
}

/// What a Service's slices are built from, besides its endpoints.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ServiceMeta {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub labels: Labels,
    pub headless: bool,
    pub deleting: bool,
}

/// What flows into the per-service reduce. Both are the inputs' own rows, shared: the
/// reduce's arrangement holds two pointers per listed pod and copies no field of it. The
/// endpoint itself is made from them when the Service's slices are assembled.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Member {
    Service(Arc<ServiceRow>),
    /// A listed pod, with its Node's zone (None also when the Node does not exist).
    Endpoint(Arc<PodRow>, Option<Arc<str>>),
}

/// A listed pod's endpoint for one Service, made when the Service's slices are assembled.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Candidate {
    pub ports: Vec<SlicePort>,
    pub endpoint: Endpoint,
    /// Listed even when its Node does not exist.
    pub without_node: bool,
}

/// Whether the controller writes slices for the Service (`syncService`'s early returns).
pub fn receives_slices(s: &ServiceRow) -> bool {
    s.selector.is_some() && s.type_ != "ExternalName"
}

fn service_key(s: &ServiceRow) -> ObjectKey {
    ObjectKey::new(Kind::Service, s.namespace.clone(), s.name.clone())
}

fn meta(s: &ServiceRow) -> ServiceMeta {
    ServiceMeta {
        namespace: s.namespace.clone(),
        name: s.name.clone(),
        uid: s.uid.clone(),
        labels: s.labels.clone(),
        headless: s.headless,
        deleting: s.deleting,
    }
}

fn ipv4_addresses(pod: &PodRow) -> impl Iterator<Item = Ipv4Addr> + '_ {
    pod.ips.iter().filter_map(|ip| ip.parse::<Ipv4Addr>().ok())
}

/// Whether the Service lists the pod, apart from the Node condition, which the join with the
/// Nodes applies: not terminal, with an IPv4 address. [`candidate`] is Some exactly then.
pub fn listed(service: &ServiceRow, pod: &PodRow) -> bool {
    receives_slices(service) && !pod.phase.is_finished() && ipv4_addresses(pod).next().is_some()
}

/// The pod's endpoint for the service (`podToEndpoint`, `getEndpointPorts`), or None when
/// the pod is not listed.
pub fn candidate(service: &ServiceRow, pod: &PodRow) -> Option<Candidate> {
    listed(service, pod).then(|| endpoint_of(service, pod))
}

/// The endpoint of a pod the service lists ([`listed`], which this does not check again).
fn endpoint_of(service: &ServiceRow, pod: &PodRow) -> Candidate {
    let addresses: Vec<String> = ipv4_addresses(pod).map(|ip| ip.to_string()).collect();
    let mut ports: Vec<SlicePort> = if service.ports.is_empty() && service.headless {
        vec![]
    } else {
        service
            .ports
            .iter()
            .filter_map(|p| {
                Some(SlicePort { name: p.name.clone(), port: Some(find_port(p, pod)?), protocol: p.protocol.clone(), app_protocol: p.app_protocol.clone() })
            })
            .collect()
    };
    ports.sort();
    let serving = pod.ready;
    let endpoint = Endpoint {
        addresses,
        conditions: Conditions {
            ready: Some(service.publish_not_ready || (serving && !pod.terminating)),
            serving: Some(serving),
            terminating: Some(pod.terminating),
        },
        hostname: hostname(service, pod),
        node_name: node_name(pod),
        target_ref: Some(TargetRef::pod(pod)),
        zone: None,
    };
    Candidate { ports, endpoint, without_node: service.publish_not_ready }
}

fn labels(service: &ServiceMeta) -> BTreeMap<&str, &str> {
    let mut l: BTreeMap<&str, &str> =
        service.labels.iter().filter(|(k, _)| ![SERVICE_NAME, MANAGED_BY, HEADLESS].contains(&k.as_str())).map(|(k, v)| (k.as_str(), v.as_str())).collect();
    if service.headless {
        l.insert(HEADLESS, "");
    }
    l.insert(SERVICE_NAME, &service.name);
    l.insert(MANAGED_BY, CONTROLLER_NAME);
    l
}

/// A slice's managed content as it is serialized, in the field order of `discovery.k8s.io/v1`
/// and of [`observed_content`], written straight to text (no `serde_json::Value` in between).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SliceDoc<'a> {
    metadata: SliceMetadata<'a>,
    address_type: &'static str,
    endpoints: &'a [&'a Endpoint],
    ports: &'a [SlicePort],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SliceMetadata<'a> {
    labels: BTreeMap<&'a str, &'a str>,
    owner_references: [ServiceOwner<'a>; 1],
}

/// The ownerReference to the Service (controller, blockOwnerDeletion), as
/// [`OwnerRef::to_json`] writes one.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ServiceOwner<'a> {
    api_version: &'static str,
    kind: &'static str,
    name: &'a str,
    uid: &'a str,
    controller: bool,
    block_owner_deletion: bool,
}

fn content(service: &ServiceMeta, ports: &[SlicePort], endpoints: &[&Endpoint]) -> Text {
    let owner = ServiceOwner { api_version: "v1", kind: "Service", name: &service.name, uid: &service.uid, controller: true, block_owner_deletion: true };
    let doc = SliceDoc { metadata: SliceMetadata { labels: labels(service), owner_references: [owner] }, address_type: ADDRESS_TYPE, endpoints, ports };
    serde_json::to_string(&doc).expect("a slice serializes").into()
}

/// The canonical content of an existing slice, comparable with what [`assemble`] makes.
pub fn observed_content(v: &Value) -> Text {
    let labels: BTreeMap<String, String> = crate::rows::labels(v.pointer("/metadata/labels")).unwrap_or_default().into_iter().collect();
    let owners: Vec<Value> = owner_refs(v).unwrap_or_default().iter().map(OwnerRef::to_json).collect();
    let parsed = |field: &str| v.get(field).cloned().unwrap_or(Value::Null);
    let endpoints = match serde_json::from_value::<Vec<Endpoint>>(parsed("endpoints")) {
        Ok(mut e) => {
            e.sort();
            json!(e)
        }
        Err(_) => parsed("endpoints"),
    };
    let ports = match serde_json::from_value::<Vec<SlicePort>>(parsed("ports")) {
        Ok(mut p) => {
            p.sort();
            json!(p)
        }
        Err(_) => parsed("ports"),
    };
    json!({"metadata": {"labels": labels, "ownerReferences": owners}, "addressType": parsed("addressType"), "endpoints": endpoints, "ports": ports})
        .to_string()
        .into()
}

/// A Service's slices: endpoints grouped by ports, sorted, cut into slices of
/// [`MAX_ENDPOINTS`], each under its deterministic name; a placeholder when there are none.
pub fn assemble<'a>(service: &ServiceMeta, endpoints: impl IntoIterator<Item = (&'a [SlicePort], &'a Endpoint)>) -> Vec<(ObjectKey, Text)> {
    let mut groups: BTreeMap<&[SlicePort], BTreeSet<&Endpoint>> = BTreeMap::new();
    for (ports, endpoint) in endpoints {
        groups.entry(ports).or_default().insert(endpoint);
    }
    if groups.is_empty() {
        groups.insert(&[], BTreeSet::new());
    }
    let mut names = BTreeSet::new();
    let mut out = Vec::new();
    for (ports, endpoints) in groups {
        let endpoints: Vec<&Endpoint> = endpoints.into_iter().collect();
        let chunks: Vec<&[&Endpoint]> = if endpoints.is_empty() { vec![&[]] } else { endpoints.chunks(MAX_ENDPOINTS).collect() };
        let ports_text = serde_json::to_string(ports).expect("ports serialize");
        for (index, chunk) in chunks.into_iter().enumerate() {
            // Five characters rarely collide; when they do, the later slice rehashes.
            let name = (0..)
                .map(|attempt| format!("{}-{}", service.name, suffix(&format!("{}/{ADDRESS_TYPE}/{ports_text}/{index}/{attempt}", service.uid))))
                .find(|n| !names.contains(n))
                .expect("an unused name");
            names.insert(name.clone());
            out.push((ObjectKey::new(Kind::EndpointSlice, service.namespace.clone(), name), content(service, ports, chunk)));
        }
    }
    out
}

/// The dataflow over the selected (service, pod) pairs and the Nodes: desired slices (the
/// `endpointslices` view) and the intents.
#[allow(clippy::type_complexity)]
pub fn endpoint_slices<'s>(
    services: VecCollection<'s, Revision, ServiceRow, Diff>,
    selected: VecCollection<'s, Revision, (Arc<ServiceRow>, Arc<PodRow>), Diff>,
    nodes: VecCollection<'s, Revision, NodeRow, Diff>,
    existing: VecCollection<'s, Revision, ManagedRow, Diff>,
) -> (VecCollection<'s, Revision, (ObjectKey, Text), Diff>, VecCollection<'s, Revision, Intent, Diff>) {
    // The listed pairs by the hash of their pod's Node name ([`join_key`]), then by name.
    let by_node = selected.filter(|(service, pod)| listed(service, pod)).map(|(service, pod)| (join_key(&pod.node.as_str()), (pod, service)));
    let zones = nodes.map(|n| (join_key(&n.name.as_str()), (n.name, n.zone.map(Arc::<str>::from))));
    let met = by_node
        .clone()
        .join_map(zones, |_, (pod, service), (name, zone)| (pod.node == *name).then(|| (pod.clone(), service.clone(), zone.clone())))
        .flat_map(|met| met);
    let nodeless = by_node
        .map(|(_, pair)| pair)
        .concat(met.clone().map(|(pod, service, _)| (pod, service)).negate())
        .filter(|(_, service)| service.publish_not_ready)
        .map(|(pod, service)| (pod, service, None));
    let members = met.concat(nodeless).map(|(pod, service, zone)| (service_key(&service), Member::Endpoint(pod, zone)));
    let receiving = services.clone().filter(receives_slices);
    let markers = receiving.map(|s| (service_key(&s), Member::Service(Arc::new(s))));
    let slices = members.concat(markers).reduce_named(
        "endpointslices-assemble",
        |_key, input: &[(&Member, Diff)], output: &mut Vec<((ObjectKey, Text, bool), Diff)>| {
            let mut service = None;
            let mut listed = Vec::new();
            for (member, _) in input.iter().filter(|(_, d)| *d > 0) {
                match member {
                    Member::Service(s) => service = Some(s),
                    Member::Endpoint(pod, zone) => listed.push((pod, zone)),
                }
            }
            if let Some(service) = service {
                let candidates: Vec<Candidate> = listed
                    .into_iter()
                    .map(|(pod, zone)| {
                        // Listed against this same row of the Service when it joined.
                        let mut c = endpoint_of(service, pod);
                        c.endpoint.zone = zone.as_deref().map(str::to_string);
                        c
                    })
                    .collect();
                let meta = meta(service);
                let slices = assemble(&meta, candidates.iter().map(|c| (c.ports.as_slice(), &c.endpoint)));
                output.extend(slices.into_iter().map(|(key, content)| ((key, content, !meta.deleting), 1)));
            }
        },
    );
    let slices = slices.map(|(_, slice)| slice);
    let desired = slices.clone().map(|(key, content, _)| (key, content));
    let blocked = slices.filter(|(_, _, creatable)| !creatable).map(|(key, _, _)| key);
    let left_alone = services.filter(|s| !receives_slices(s)).map(|s| (s.namespace, s.name));
    let observed = existing
        .filter(|e| e.key.kind == Kind::EndpointSlice && e.managed_by_controller && !e.service.is_empty())
        .map(|e| ((e.key.namespace.clone(), e.service.clone()), (e.key, e.content)))
        .antijoin(left_alone)
        .map(|(_, observed)| observed);
    let intents = reconcile("endpointslices", desired.clone(), observed, Orphans::Delete);
    let creates = intents.clone().filter(|i| matches!(i, Intent::Create { .. })).map(|i| (i.key().clone(), i)).antijoin(blocked).map(|(_, i)| i);
    let intents = intents.filter(|i| !matches!(i, Intent::Create { .. })).concat(creates);
    (desired, intents)
}

/// The reference: desired slices and intents, from scratch over a snapshot.
pub fn reference(services: &[ServiceRow], pods: &[PodRow], nodes: &[NodeRow], existing: &[ManagedRow]) -> (BTreeSet<(ObjectKey, Text)>, BTreeSet<Intent>) {
    let zones: BTreeMap<&str, &Option<String>> = nodes.iter().map(|n| (n.name.as_str(), &n.zone)).collect();
    let mut desired = BTreeSet::new();
    let mut blocked = BTreeSet::new();
    for s in services.iter().filter(|s| receives_slices(s)) {
        let candidates: Vec<Candidate> = selected_by(s, pods)
            .filter_map(|p| candidate(s, p))
            .filter_map(|mut c| {
                match zones.get(c.endpoint.node_name.as_deref().unwrap_or_default()) {
                    Some(zone) => c.endpoint.zone = (*zone).clone(),
                    None if c.without_node => {}
                    None => return None,
                }
                Some(c)
            })
            .collect();
        for slice in assemble(&meta(s), candidates.iter().map(|c| (c.ports.as_slice(), &c.endpoint))) {
            if s.deleting {
                blocked.insert(slice.0.clone());
            }
            desired.insert(slice);
        }
    }
    let left_alone: BTreeSet<(&str, &str)> = services.iter().filter(|s| !receives_slices(s)).map(|s| (s.namespace.as_str(), s.name.as_str())).collect();
    let observed: BTreeSet<(ObjectKey, Text)> = existing
        .iter()
        .filter(|e| e.key.kind == Kind::EndpointSlice && e.managed_by_controller && !e.service.is_empty())
        .filter(|e| !left_alone.contains(&(e.key.namespace.as_str(), e.service.as_str())))
        .map(|e| (e.key.clone(), e.content.clone()))
        .collect();
    let mut intents = BTreeSet::new();
    reconcile_reference(&desired, &observed, true, &mut intents);
    intents.retain(|i| !(matches!(i, Intent::Create { .. }) && blocked.contains(i.key())));
    (desired, intents)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rows::{IpFamily, PodPhase, ServicePortRow, TargetPort};

    fn service() -> ServiceRow {
        ServiceRow {
            namespace: "ns".into(),
            name: "web".into(),
            uid: "svc-uid".into(),
            labels: vec![("team".into(), "a".into())],
            selector: Some(vec![("app".into(), "web".into())]),
            ports: vec![ServicePortRow { name: "http".into(), port: 80, target: TargetPort::Name("web".into()), protocol: "TCP".into(), app_protocol: None }],
            headless: false,
            publish_not_ready: false,
            type_: "ClusterIP".into(),
            load_balancer_class: None,
            load_balancer_ip: String::new(),
            ingress: vec![],
            deleting: false,
            ip_family: Some(IpFamily::V4),
        }
    }

    fn pod(i: usize, node: &str) -> PodRow {
        PodRow {
            namespace: "ns".into(),
            name: format!("web-{i:03}").into(),
            uid: format!("pod-uid-{i}").into(),
            labels: [("app".into(), "web".into())].into(),
            node: node.into(),
            ips: smallvec::smallvec![format!("10.1.{}.{}", i / 200, i % 200 + 1).into()],
            phase: PodPhase::Running,
            ready: true,
            terminating: false,
            ports: [("web".into(), 8080, "TCP".into())].into(),
            dns_name: None,
            owners: [].into(),
            ..PodRow::default()
        }
    }

    fn node(name: &str, zone: Option<&str>) -> NodeRow {
        NodeRow { name: name.into(), pod_cidrs: vec![], zone: zone.map(str::to_string) }
    }

    fn slices(pods: &[PodRow], nodes: &[NodeRow]) -> Vec<Value> {
        let (desired, _) = reference(&[service()], pods, nodes, &[]);
        desired.into_iter().map(|(_, c)| serde_json::from_str(&c.to_str()).unwrap()).collect()
    }

    #[test]
    fn a_slice_lists_the_pods_with_conditions_ports_zone_and_owner() {
        let mut terminating = pod(2, "n1");
        terminating.terminating = true;
        let mut unready = pod(3, "n1");
        unready.ready = false;
        let mut v6 = pod(4, "n1");
        v6.ips = smallvec::smallvec!["fd00::4".into()];
        let got = slices(&[pod(1, "n1"), terminating, unready, v6, pod(5, "gone")], &[node("n1", Some("z1"))]);
        assert_eq!(got.len(), 1);
        let slice = &got[0];
        assert_eq!(slice["metadata"]["labels"], json!({"team": "a", SERVICE_NAME: "web", MANAGED_BY: CONTROLLER_NAME}));
        assert_eq!(
            slice["metadata"]["ownerReferences"],
            json!([{"apiVersion": "v1", "kind": "Service", "name": "web", "uid": "svc-uid", "controller": true, "blockOwnerDeletion": true}])
        );
        assert_eq!(slice["ports"], json!([{"name": "http", "port": 8080, "protocol": "TCP"}]), "the named target port is resolved per pod");
        let conditions: Vec<(&str, &Value)> =
            slice["endpoints"].as_array().unwrap().iter().map(|e| (e["addresses"][0].as_str().unwrap(), &e["conditions"])).collect();
        assert_eq!(
            conditions,
            vec![
                ("10.1.0.2", &json!({"ready": true, "serving": true, "terminating": false})),
                ("10.1.0.3", &json!({"ready": false, "serving": true, "terminating": true})),
                ("10.1.0.4", &json!({"ready": false, "serving": false, "terminating": false})),
            ],
            "an IPv6-only pod and a pod whose Node is gone are left out"
        );
        assert_eq!(slice["endpoints"][0]["zone"], "z1");
        assert_eq!(slice["endpoints"][0]["nodeName"], "n1");
        assert_eq!(slice["endpoints"][0]["targetRef"], json!({"kind": "Pod", "namespace": "ns", "name": "web-001", "uid": "pod-uid-1"}));
    }

    #[test]
    fn a_slice_is_written_straight_and_reads_back_the_same() {
        let mut headless = service();
        headless.headless = true;
        let mut unready = pod(2, "n2");
        unready.ready = false;
        let (desired, _) = reference(&[headless], &[pod(1, "n1"), unready, pod(3, "n1")], &[node("n1", Some("z1")), node("n2", None)], &[]);
        let (_, text) = desired.into_iter().next().unwrap();
        let stored: Value = serde_json::from_str(&text.to_str()).unwrap();
        let keys: Vec<&String> = stored.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["metadata", "addressType", "endpoints", "ports"]);
        assert_eq!(stored["metadata"]["labels"][HEADLESS], "");
        assert_eq!(observed_content(&stored), text, "what the controller writes, it reads back as its own: no patch follows");
    }

    #[test]
    fn slices_hold_at_most_a_hundred_endpoints_and_an_empty_service_gets_a_placeholder() {
        let pods: Vec<PodRow> = (0..250).map(|i| pod(i, "n1")).collect();
        let sizes: Vec<usize> = slices(&pods, &[node("n1", None)]).iter().map(|s| s["endpoints"].as_array().unwrap().len()).collect();
        assert_eq!(sizes.iter().sum::<usize>(), 250);
        assert!(sizes.iter().all(|n| *n <= MAX_ENDPOINTS) && sizes.len() == 3, "{sizes:?}");
        let placeholder = slices(&[], &[]);
        assert_eq!((placeholder.len(), &placeholder[0]["endpoints"], &placeholder[0]["ports"]), (1, &json!([]), &json!([])));
    }

    #[test]
    fn names_are_stable_and_a_deleting_service_gets_no_new_slices() {
        let (first, intents) = reference(&[service()], &[pod(1, "n1")], &[node("n1", None)], &[]);
        let (again, _) = reference(&[service()], &[pod(1, "n1"), pod(2, "n1")], &[node("n1", None)], &[]);
        let names = |d: &BTreeSet<(ObjectKey, Text)>| d.iter().map(|(k, _)| k.name.clone()).collect::<Vec<_>>();
        assert_eq!(names(&first), names(&again));
        assert!(names(&first)[0].starts_with("web-") && names(&first)[0].len() == "web-".len() + 5);
        assert!(matches!(intents.iter().next(), Some(Intent::Create { .. })));
        let mut deleting = service();
        deleting.deleting = true;
        assert!(reference(&[deleting], &[pod(1, "n1")], &[node("n1", None)], &[]).1.is_empty());
    }
}
