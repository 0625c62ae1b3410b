//! Endpoints controller: for every Service with a selector, an Endpoints object listing the
//! ready and not-ready addresses of the pods it selects, with ports resolved by number or by
//! container port name, as upstream's endpoints controller. Past 1,000 addresses the list is
//! truncated as upstream's (not-ready ones first) and marked `over-capacity: truncated`.
//!
//! ```text
//! selected (service, pod) pairs ─ filter(listed) ─┬─ reduce per service ─▶ desired Endpoints
//! services(selector) ─ marker ────────────────────┘
//! endpoints(ours or named after a selecting service) ─▶ observed ─▶ reconcile(Delete)
//! ```
//! The pairs come from [`super::selection::selected`], shared with the EndpointSlice
//! controller; a pod change touches only the services whose selectors it matches.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use differential_dataflow::VecCollection;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::selection::{bound_node, find_port, hostname_in, selected_by, selects, TargetRef};
use crate::reconcile::{reconcile, reconcile_reference, Orphans};
use crate::rows::{IpFamily, ManagedRow, PodRow, ServiceRow};
use crate::types::{Diff, Intent, Kind, ObjectKey, Revision, Text};

/// The label marking Endpoints this controller manages.
pub const MANAGED_BY: &str = "endpoints.kubernetes.io/managed-by";
pub const CONTROLLER_NAME: &str = "endpoint-controller";
/// Upstream's `maxCapacity`: the most addresses one Endpoints object lists.
pub const MAX_CAPACITY: usize = 1000;
/// Marks an Endpoints object that lists fewer addresses than its Service has.
pub const OVER_CAPACITY: &str = "endpoints.kubernetes.io/over-capacity";

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Address {
    pub ip: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_ref: Option<TargetRef>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct EndpointPort {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    pub port: i64,
    #[serde(default = "tcp")]
    pub protocol: String,
}

/// The protocol a port has when none is given.
pub(crate) fn tcp() -> String {
    "TCP".into()
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subset {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<Address>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_ready_addresses: Vec<Address>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<EndpointPort>,
}

/// What flows into the per-service reduce. Both are the inputs' own rows, shared: the
/// reduce's arrangement holds one pointer per listed pod and copies no field of it. A pod's
/// part ([`PodMember`]) is made from them when the Service's Endpoints are assembled, which
/// costs a change as many of them as its Service lists: the same order as writing the
/// content out, which the reduce does anyway.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Member {
    Service(Arc<ServiceRow>),
    /// A pod the Service selects and lists.
    Pod(Arc<PodRow>),
}

/// An [`Address`] borrowed from a pod's row and its Service's: it serializes and orders as
/// the owned one, so a desired content made from rows equals the same content read back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AddressRef<'a> {
    pub ip: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_ref: Option<PodRef<'a>>,
}

/// A [`TargetRef`] to a pod, borrowed: the same fields in the same order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct PodRef<'a> {
    pub kind: &'static str,
    pub namespace: &'a str,
    pub name: &'a str,
    pub uid: &'a str,
}

/// An [`EndpointPort`] borrowed from a Service's port: serialized and ordered as the owned one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct EndpointPortRef<'a> {
    #[serde(skip_serializing_if = "str::is_empty")]
    pub name: &'a str,
    pub port: i64,
    pub protocol: &'a str,
}

/// One pod's part of a service's Endpoints, borrowed from the rows: the ports it serves, its
/// address, and whether it is ready. Making one allocates only its list of ports.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct PodMember<'a> {
    pub ports: Vec<EndpointPortRef<'a>>,
    pub address: AddressRef<'a>,
    pub ready: bool,
}

impl<'a> PodMember<'a> {
    fn parts(&self) -> (&[EndpointPortRef<'a>], &AddressRef<'a>, bool) {
        (&self.ports, &self.address, self.ready)
    }
}

/// One subset as it is written, borrowing its addresses (`A`) and ports (`P`) from the
/// members: owned ones read back from an object, or borrowed ones made from rows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SubsetRef<'a, P, A> {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<&'a A>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_ready_addresses: Vec<&'a A>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<&'a P>,
}

/// Groups addresses by identical port lists, as upstream's `RepackSubsets`, in a canonical
/// order. Nothing is copied: the subsets point into the members.
pub fn repack<'a, P: Ord, A: Ord>(members: impl IntoIterator<Item = (&'a [P], &'a A, bool)>) -> Vec<SubsetRef<'a, P, A>> {
    type Group<'a, A> = (BTreeSet<&'a A>, BTreeSet<&'a A>);
    let mut groups: BTreeMap<Vec<&'a P>, Group<'a, A>> = BTreeMap::new();
    for (ports, address, ready) in members {
        let mut ports: Vec<&P> = ports.iter().collect();
        ports.sort();
        ports.dedup();
        let entry = groups.entry(ports).or_default();
        if ready {
            entry.0.insert(address);
        } else {
            entry.1.insert(address);
        }
    }
    groups
        .into_iter()
        .map(|(ports, (ready, not_ready))| SubsetRef { addresses: ready.into_iter().collect(), not_ready_addresses: not_ready.into_iter().collect(), ports })
        .collect()
}

/// An Endpoints object's managed content as it is serialized: `{"metadata": {"labels"},
/// "subsets"}`, written straight to text (no `serde_json::Value` in between).
#[derive(Serialize)]
struct ContentDoc<'a, P, A> {
    metadata: LabelsDoc<'a>,
    subsets: &'a [SubsetRef<'a, P, A>],
}

/// The managed metadata: the labels, and of the annotations only [`OVER_CAPACITY`] (always
/// present as a map, so that a merge patch removes that one annotation, never the others).
#[derive(Serialize)]
struct LabelsDoc<'a> {
    labels: BTreeMap<&'a str, &'a str>,
    annotations: BTreeMap<&'a str, &'a str>,
}

/// The managed content of an Endpoints object: labels and subsets, canonical.
pub fn content<P: Serialize, A: Serialize>(labels: &[(String, String)], headless: bool, subsets: &[SubsetRef<'_, P, A>]) -> Text {
    content_string(labels, headless, subsets).into()
}

/// [`content`] as a plain string, before it is stored as a [`Text`].
fn content_string<P: Serialize, A: Serialize>(labels: &[(String, String)], headless: bool, subsets: &[SubsetRef<'_, P, A>]) -> String {
    let mut l: BTreeMap<&str, &str> = labels.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    l.insert(MANAGED_BY, CONTROLLER_NAME);
    if headless {
        l.insert("service.kubernetes.io/headless", "");
    }
    let truncated = truncate(subsets);
    let annotations = if truncated.is_some() { BTreeMap::from([(OVER_CAPACITY, "truncated")]) } else { BTreeMap::new() };
    serialize(&ContentDoc { metadata: LabelsDoc { labels: l, annotations }, subsets: truncated.as_deref().unwrap_or(subsets) })
}

/// Upstream's `truncateEndpoints`: over [`MAX_CAPACITY`] addresses in all, not-ready ones
/// are cut first, each subset keeping its share (rounded up, while room is left); with more
/// ready addresses than fit, ready ones are cut the same way and no not-ready one is kept.
/// None when everything fits.
fn truncate<'a, P, A>(subsets: &[SubsetRef<'a, P, A>]) -> Option<Vec<SubsetRef<'a, P, A>>> {
    let ready: usize = subsets.iter().map(|s| s.addresses.len()).sum();
    let not_ready: usize = subsets.iter().map(|s| s.not_ready_addresses.len()).sum();
    if ready + not_ready <= MAX_CAPACITY {
        return None;
    }
    let cut_ready = ready > MAX_CAPACITY;
    let (max, total) = if cut_ready { (MAX_CAPACITY, ready) } else { (MAX_CAPACITY - ready, not_ready) };
    let mut room = max;
    let truncated = subsets
        .iter()
        .map(|s| {
            let count = if cut_ready { s.addresses.len() } else { s.not_ready_addresses.len() };
            let share = ((count as f64 / total as f64) * max as f64).ceil() as usize;
            let keep = share.min(room);
            let (mut addresses, mut not_ready_addresses) = (s.addresses.clone(), s.not_ready_addresses.clone());
            if cut_ready {
                addresses.truncate(keep);
                not_ready_addresses.clear();
                room -= addresses.len();
            } else {
                not_ready_addresses.truncate(keep);
                room -= not_ready_addresses.len();
            }
            SubsetRef { addresses, not_ready_addresses, ports: s.ports.clone() }
        })
        .collect();
    Some(truncated)
}

/// Canonical JSON text of a content document.
fn serialize<P: Serialize, A: Serialize>(doc: &ContentDoc<'_, P, A>) -> String {
    serde_json::to_string(doc).expect("a content document serializes")
}

/// The canonical content of an existing Endpoints object, comparable with [`content`].
pub fn observed_content(v: &Value) -> Text {
    let labels: BTreeMap<&str, &str> = v
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .map(|m| m.iter().map(|(k, v)| (k.as_str(), v.as_str().unwrap_or_default())).collect())
        .unwrap_or_default();
    let subsets: Vec<Subset> = v.get("subsets").and_then(|s| serde_json::from_value(s.clone()).ok()).unwrap_or_default();
    let members = subsets.iter().flat_map(|s| {
        let ready = s.addresses.iter().map(|a| (s.ports.as_slice(), a, true));
        ready.chain(s.not_ready_addresses.iter().map(|a| (s.ports.as_slice(), a, false)))
    });
    let annotations: BTreeMap<&str, &str> =
        v.pointer("/metadata/annotations").and_then(|a| a.get(OVER_CAPACITY)).map(|oc| (OVER_CAPACITY, oc.as_str().unwrap_or_default())).into_iter().collect();
    // The labels already carry what `content` adds; pass them through unchanged.
    serialize(&ContentDoc { metadata: LabelsDoc { labels, annotations }, subsets: &repack(members) }).into()
}

/// Whether the service's Endpoints list the pod, as upstream's `ShouldPodBeInEndpoints` and
/// `FindPort` decide it: [`member`] is Some exactly then.
pub fn listed(service: &ServiceRow, pod: &PodRow) -> bool {
    if address_of(service, pod).is_none() || pod.phase.is_finished() {
        return false;
    }
    if pod.terminating && !service.publish_not_ready {
        return false;
    }
    service.ports.iter().any(|sp| find_port(sp, pod).is_some()) || (service.ports.is_empty() && service.headless)
}

/// The pod's contribution to the service's Endpoints; None when the pod is not listed.
pub fn member<'a>(service: &'a ServiceRow, pod: &'a PodRow) -> Option<PodMember<'a>> {
    listed(service, pod).then(|| part(service, pod))
}

/// The pod's address for the service, as upstream's `podToEndpointAddressForService`: the
/// first of its `podIPs` in the Service's family ([`ServiceRow::ip_family`]; for a headless
/// Service without one, the family of the pod's `podIP`). None, and the pod is not listed,
/// when it has none in that family.
fn address_of<'a>(service: &ServiceRow, pod: &'a PodRow) -> Option<&'a str> {
    let family = service.ip_family.unwrap_or_else(|| IpFamily::of(pod.ip()));
    pod.ips.iter().map(|ip| ip.as_str()).find(|ip| IpFamily::of(ip) == family)
}

/// The part of a pod the service lists ([`listed`], which this does not check again).
fn part<'a>(service: &'a ServiceRow, pod: &'a PodRow) -> PodMember<'a> {
    let ports: Vec<EndpointPortRef<'a>> =
        service.ports.iter().filter_map(|sp| Some(EndpointPortRef { name: &sp.name, port: find_port(sp, pod)?, protocol: &sp.protocol })).collect();
    let target_ref = PodRef { kind: "Pod", namespace: &pod.namespace, name: &pod.name, uid: &pod.uid };
    let address = AddressRef {
        ip: address_of(service, pod).unwrap_or_default(),
        hostname: hostname_in(service, pod),
        node_name: bound_node(pod),
        target_ref: Some(target_ref),
    };
    PodMember { ports, address, ready: pod.ready || service.publish_not_ready }
}

/// A service's desired content from its own row and its pods' parts.
fn content_of(service: &ServiceRow, members: &[PodMember]) -> Text {
    plain_content_of(service, members).into()
}

/// [`content_of`] as a plain string.
fn plain_content_of(service: &ServiceRow, members: &[PodMember]) -> String {
    content_string(&service.labels, service.headless, &repack(members.iter().map(PodMember::parts)))
}

fn service_key(s: &ServiceRow) -> ObjectKey {
    ObjectKey::new(Kind::Endpoints, s.namespace.clone(), s.name.clone())
}

/// Builds the desired content from a service's members.
fn assemble(members: &[&Member]) -> Option<Text> {
    let service = members.iter().find_map(|m| match m {
        Member::Service(s) => Some(s),
        Member::Pod(_) => None,
    })?;
    // Every pod here was listed against this same row of the Service when it joined.
    let parts: Vec<PodMember> = members
        .iter()
        .filter_map(|m| match m {
            Member::Pod(p) => Some(part(service, p)),
            Member::Service(_) => None,
        })
        .collect();
    Some(content_of(service, &parts))
}

/// The dataflow over the selected (service, pod) pairs: desired Endpoints per service (also
/// the `endpoints` view) and the intents.
#[allow(clippy::type_complexity)]
pub fn endpoints<'s>(
    services: VecCollection<'s, Revision, ServiceRow, Diff>,
    selected: VecCollection<'s, Revision, (Arc<ServiceRow>, Arc<PodRow>), Diff>,
    existing: VecCollection<'s, Revision, ManagedRow, Diff>,
) -> (VecCollection<'s, Revision, (ObjectKey, Text), Diff>, VecCollection<'s, Revision, Intent, Diff>) {
    let selecting = services.filter(|s| s.selector.is_some());
    let members = selected.filter(|(service, pod)| listed(service, pod)).map(|(service, pod)| (service_key(&service), Member::Pod(pod)));
    let markers = selecting.clone().map(|s| (service_key(&s), Member::Service(Arc::new(s))));
    let desired = members.concat(markers).reduce_named("endpoints-assemble", |_key, input: &[(&Member, Diff)], output: &mut Vec<(Text, Diff)>| {
        let members: Vec<&Member> = input.iter().filter(|(_, d)| *d > 0).map(|(m, _)| *m).collect();
        if let Some(c) = assemble(&members) {
            output.push((c, 1));
        }
    });
    let selecting_keys = selecting.map(|s| service_key(&s));
    let ours = existing.clone().filter(|e| e.managed_by_controller && e.key.kind == Kind::Endpoints).map(|e| (e.key, e.content));
    let named_after_service =
        existing.filter(|e| !e.managed_by_controller && e.key.kind == Kind::Endpoints).map(|e| (e.key, e.content)).semijoin(selecting_keys);
    let observed = ours.concat(named_after_service);
    let intents = reconcile("endpoints", desired.clone(), observed, Orphans::Delete);
    (desired, intents)
}

/// The controller recomputed from scratch the way a conventional controller would, with
/// pods indexed by namespace and label first: the baseline the churn benchmark compares the
/// incremental dataflow against (`--engine recompute`). Returns the desired Endpoints as
/// plain strings: such a controller would not compress what it writes, as [`Text`] does.
pub fn recompute(services: &[ServiceRow], pods: &[PodRow]) -> BTreeMap<ObjectKey, String> {
    let mut index: std::collections::HashMap<(&str, &str, &str), Vec<&PodRow>> = std::collections::HashMap::new();
    for p in pods {
        for (k, v) in &p.labels {
            index.entry((p.namespace.as_str(), k.as_str(), v.as_str())).or_default().push(p);
        }
    }
    let mut out = BTreeMap::new();
    for s in services {
        let Some(selector) = &s.selector else {
            continue;
        };
        let Some((k, v)) = selector.first() else {
            continue;
        };
        let candidates = index.get(&(s.namespace.as_str(), k.as_str(), v.as_str())).map(Vec::as_slice).unwrap_or(&[]);
        let parts: Vec<PodMember> = candidates.iter().filter(|p| selects(s, p)).filter_map(|p| member(s, p)).collect();
        out.insert(service_key(s), plain_content_of(s, &parts));
    }
    out
}

/// The reference: desired Endpoints and intents, from scratch over a snapshot.
pub fn reference(services: &[ServiceRow], pods: &[PodRow], existing: &[ManagedRow]) -> (BTreeSet<(ObjectKey, Text)>, BTreeSet<Intent>) {
    let mut desired = BTreeSet::new();
    let mut selecting = BTreeSet::new();
    for s in services.iter().filter(|s| s.selector.is_some()) {
        selecting.insert(service_key(s));
        let parts: Vec<PodMember> = selected_by(s, pods).filter_map(|p| member(s, p)).collect();
        desired.insert((service_key(s), content_of(s, &parts)));
    }
    let observed: BTreeSet<(ObjectKey, Text)> = existing
        .iter()
        .filter(|e| e.key.kind == Kind::Endpoints && (e.managed_by_controller || selecting.contains(&e.key)))
        .map(|e| (e.key.clone(), e.content.clone()))
        .collect();
    let mut intents = BTreeSet::new();
    reconcile_reference(&desired, &observed, true, &mut intents);
    (desired, intents)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn address(ip: &str, hostname: Option<&str>) -> Address {
        Address {
            ip: ip.into(),
            hostname: hostname.map(str::to_string),
            node_name: Some("n1".into()),
            target_ref: Some(TargetRef { kind: "Pod".into(), namespace: "ns".into(), name: format!("p-{ip}"), uid: format!("u-{ip}") }),
        }
    }

    #[test]
    fn content_is_written_straight_and_reads_back_the_same() {
        let http = vec![EndpointPort { name: "http".into(), port: 8080, protocol: "TCP".into() }];
        let both = vec![EndpointPort { name: "b".into(), port: 2, protocol: "UDP".into() }, EndpointPort { name: "a".into(), port: 1, protocol: "TCP".into() }];
        let (a, b, c) = (address("10.0.0.2", Some("web-0")), address("10.0.0.1", None), address("10.0.0.3", None));
        let members = [(http.as_slice(), &a, true), (http.as_slice(), &b, false), (both.as_slice(), &c, true)];
        let text = content(&[("team".into(), "x".into())], true, &repack(members));
        let reference = |ip: &str| serde_json::json!({"ip": ip, "nodeName": "n1", "targetRef": {"kind": "Pod", "namespace": "ns", "name": format!("p-{ip}"), "uid": format!("u-{ip}")}});
        let mut named = reference("10.0.0.2");
        named.as_object_mut().unwrap().shift_insert(1, "hostname".into(), "web-0".into());
        let expected = serde_json::json!({
            "metadata": {"labels": {MANAGED_BY: CONTROLLER_NAME, "service.kubernetes.io/headless": "", "team": "x"}, "annotations": {}},
            "subsets": [
                {"addresses": [reference("10.0.0.3")], "ports": [{"name": "a", "port": 1, "protocol": "TCP"}, {"name": "b", "port": 2, "protocol": "UDP"}]},
                {"addresses": [named], "notReadyAddresses": [reference("10.0.0.1")], "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]},
            ],
        });
        assert_eq!(text.to_str(), expected.to_string(), "field order and canonical order as the API server stores them");
        let stored: Value = serde_json::from_str(&text.to_str()).unwrap();
        assert_eq!(observed_content(&stored), text, "what the controller writes, it reads back as its own: no patch follows");
    }

    /// `n` addresses from `first`, as `10.a.b.c`.
    fn addresses(first: u32, n: u32) -> Vec<Address> {
        (first..first + n).map(|i| address(&std::net::Ipv4Addr::from(0x0a00_0000 + i).to_string(), None)).collect()
    }

    #[test]
    fn over_a_thousand_addresses_are_truncated_as_upstream() {
        let (p1, p2) = (
            vec![EndpointPort { name: "a".into(), port: 1, protocol: "TCP".into() }],
            vec![EndpointPort { name: "b".into(), port: 2, protocol: "TCP".into() }],
        );
        let count = |text: &Text| -> (Vec<(usize, usize)>, Value) {
            let v: Value = serde_json::from_str(&text.to_str()).unwrap();
            let sizes = v["subsets"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| (s["addresses"].as_array().map_or(0, Vec::len), s["notReadyAddresses"].as_array().map_or(0, Vec::len)))
                .collect();
            (sizes, v["metadata"]["annotations"].clone())
        };
        // 800 ready and 400 not ready over two subsets (300 + 100): 200 not-ready fit, each
        // subset keeping its share rounded up (150 and 50).
        let (ready, not_ready_1, not_ready_2) = (addresses(1, 800), addresses(5000, 300), addresses(9000, 100));
        let members = ready
            .iter()
            .map(|a| (p1.as_slice(), a, true))
            .chain(not_ready_1.iter().map(|a| (p1.as_slice(), a, false)))
            .chain(not_ready_2.iter().map(|a| (p2.as_slice(), a, false)));
        let text = content(&[], false, &repack(members));
        assert_eq!(count(&text), (vec![(800, 150), (0, 50)], json!({OVER_CAPACITY: "truncated"})));
        // 1,201 ready in two subsets (1,000 and 201): ready ones are cut to 833 and 167 (the
        // first's share rounded up, the second what is left), and not-ready ones all go.
        let (big, small, idle) = (addresses(1, 1000), addresses(5000, 201), addresses(9000, 5));
        let members = big
            .iter()
            .map(|a| (p1.as_slice(), a, true))
            .chain(idle.iter().map(|a| (p1.as_slice(), a, false)))
            .chain(small.iter().map(|a| (p2.as_slice(), a, true)));
        let text = content(&[], false, &repack(members));
        assert_eq!(count(&text).0, vec![(833, 0), (167, 0)]);
        // What was truncated reads back as written; at capacity, nothing is cut or marked.
        let stored: Value = serde_json::from_str(&text.to_str()).unwrap();
        assert_eq!(observed_content(&stored), text);
        let fits = addresses(1, 1000);
        let text = content(&[], false, &repack(fits.iter().map(|a| (p1.as_slice(), a, true))));
        assert_eq!(count(&text), (vec![(1000, 0)], json!({})));
        // A merge patch from the truncated content to this one removes that annotation alone.
        let patch = crate::reconcile::merge_diff(&stored, &serde_json::from_str(&text.to_str()).unwrap());
        assert_eq!(patch["metadata"]["annotations"], json!({OVER_CAPACITY: null}), "{patch}");
    }

    #[test]
    fn content_made_from_rows_reads_back_the_same() {
        use crate::rows::{project, Row};
        let service = json!({"metadata": {"name": "web", "namespace": "ns", "uid": "s1", "labels": {"team": "x"}},
            "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}]}});
        let Ok(Row::Service(service)) = project(&ObjectKey::new(Kind::Service, "ns", "web"), &service) else { panic!("a service row") };
        let pod = |name: &str, ip: &str, ready: &str, hostname: Option<&str>| {
            let mut spec = json!({"nodeName": "n1", "containers": [{"name": "c", "ports": [{"name": "http", "containerPort": 8080}]}]});
            if let Some(h) = hostname {
                spec["hostname"] = json!(h);
                spec["subdomain"] = json!("web");
            }
            let v = json!({"metadata": {"name": name, "namespace": "ns", "uid": format!("u-{name}"), "labels": {"app": "web"}}, "spec": spec,
                "status": {"phase": "Running", "podIP": ip, "conditions": [{"type": "Ready", "status": ready}]}});
            match project(&ObjectKey::new(Kind::Pod, "ns", name), &v) {
                Ok(Row::Pod(p)) => p,
                other => panic!("a pod row: {other:?}"),
            }
        };
        let pods = [pod("b", "10.0.0.2", "True", Some("web-b")), pod("a", "10.0.0.1", "False", None), pod("c", "10.0.0.3", "True", None)];
        let parts: Vec<PodMember> = pods.iter().filter_map(|p| member(&service, p)).collect();
        let text = content_of(&service, &parts);
        let stored: Value = serde_json::from_str(&text.to_str()).unwrap();
        assert_eq!(observed_content(&stored), text, "borrowed parts write what the owned read-back writes: no patch follows");
        assert!(
            text.to_str().contains(r#""hostname":"web-b""#)
                && text.to_str().contains(r#""notReadyAddresses""#)
                && text.to_str().contains(r#""protocol":"UDP""#),
            "{text}"
        );
    }

    #[test]
    fn a_pod_is_listed_by_its_address_in_the_services_family() {
        use crate::rows::{project, Row};
        let service = |spec: Value| {
            let v = json!({"metadata": {"name": "web", "namespace": "ns"}, "spec": spec});
            let Ok(Row::Service(s)) = project(&ObjectKey::new(Kind::Service, "ns", "web"), &v) else { panic!("a service row") };
            s
        };
        let pod = |status: Value| {
            let v = json!({"metadata": {"name": "p", "namespace": "ns", "labels": {"app": "web"}}, "spec": {"containers": [{"name": "c"}]}, "status": status});
            let Ok(Row::Pod(p)) = project(&ObjectKey::new(Kind::Pod, "ns", "p"), &v) else { panic!("a pod row") };
            p
        };
        let selector = json!({"app": "web"});
        let ports = json!([{"port": 80}]);
        let v4_service = service(json!({"selector": selector, "ports": ports, "clusterIP": "10.96.0.10"}));
        let v6_service = service(json!({"selector": selector, "ports": ports, "ipFamilies": ["IPv6", "IPv4"], "clusterIP": "fd00::10"}));
        let headless = service(json!({"selector": selector, "clusterIP": "None"}));
        let dual_v6_first = pod(json!({"podIP": "fd00::7", "podIPs": [{"ip": "fd00::7"}, {"ip": "10.0.0.7"}]}));
        let v4_only = pod(json!({"podIP": "10.0.0.8"}));
        let ip = |s: &ServiceRow, p: &PodRow| member(s, p).map(|m| m.address.ip.to_string());
        assert_eq!(ip(&v4_service, &dual_v6_first).as_deref(), Some("10.0.0.7"));
        assert_eq!(ip(&v6_service, &dual_v6_first).as_deref(), Some("fd00::7"));
        // Headless without ipFamilies: each pod by the family of its podIP.
        assert_eq!(ip(&headless, &dual_v6_first).as_deref(), Some("fd00::7"));
        assert_eq!(ip(&headless, &v4_only).as_deref(), Some("10.0.0.8"));
        // No address in the Service's family: not listed.
        assert_eq!(ip(&v6_service, &v4_only), None);
    }
}
