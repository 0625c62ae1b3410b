//! Projection rows: the few fields of each object that the controllers read, and the
//! projection from JSON. A malformed object becomes a [`ProjectionError`], never a panic.

use compact_str::CompactString;
use deltakube_api::object::at;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::interned::OwnerRefs;
use crate::types::{Kind, ObjectKey, ProjectionError, Text};

/// Sorted `(key, value)` pairs of a label map or selector.
pub type Labels = Vec<(String, String)>;

/// A pod's labels, as [`Labels`]; most keys and values fit in a [`CompactString`] without an
/// allocation.
pub type PodLabels = Box<[(CompactString, CompactString)]>;

/// A pod's addresses: one in place, as nearly every pod has (dual-stack pods spill two).
pub type PodIps = smallvec::SmallVec<[CompactString; 1]>;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct NamespaceRow {
    pub name: String,
    pub uid: String,
    /// Neither Terminating nor marked for deletion.
    pub active: bool,
    /// Marked for deletion and still holding the `kubernetes` finalizer.
    pub awaiting_purge: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ServiceAccountRow {
    pub namespace: String,
    pub name: String,
    pub uid: String,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SecretRow {
    pub namespace: String,
    pub name: String,
    pub type_: String,
    /// `kubernetes.io/service-account.name` and `.uid` annotations, for token Secrets.
    pub service_account: Option<(String, String)>,
    /// Whether `data.token` is present.
    pub has_token: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ConfigMapRow {
    pub namespace: String,
    pub name: String,
    /// `data["ca.crt"]`, kept only for `kube-root-ca.crt`.
    pub root_ca: Option<String>,
}

/// One `metadata.ownerReferences` entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct OwnerRef {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    pub uid: String,
    pub controller: bool,
    pub block_owner_deletion: bool,
}

impl OwnerRef {
    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "apiVersion": self.api_version, "kind": self.kind, "name": self.name, "uid": self.uid,
            "controller": self.controller, "blockOwnerDeletion": self.block_owner_deletion,
        })
    }
}

/// An object's `metadata.ownerReferences`, shared with every equal list (a ReplicaSet's
/// pods all hold one).
pub(crate) fn owner_refs(v: &Value) -> Result<OwnerRefs, String> {
    let refs = at(v, "/metadata/ownerReferences").and_then(Value::as_array).map_or(&[][..], Vec::as_slice);
    let mut out = Vec::with_capacity(refs.len());
    for r in refs {
        let field = |k: &str| r.get(k).and_then(Value::as_str).map(str::to_string).ok_or_else(|| format!("ownerReference without {k}"));
        out.push(OwnerRef {
            api_version: field("apiVersion")?,
            kind: field("kind")?,
            name: field("name")?,
            uid: field("uid")?,
            controller: r.get("controller").and_then(Value::as_bool).unwrap_or(false),
            block_owner_deletion: r.get("blockOwnerDeletion").and_then(Value::as_bool).unwrap_or(false),
        });
    }
    Ok(OwnerRefs::share(out))
}

/// One `matchExpressions` requirement: key, operator, values.
pub type Expression = (String, String, Vec<String>);

/// A label selector: `matchLabels` (sorted) and `matchExpressions`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Selector {
    pub match_labels: Labels,
    pub expressions: Vec<Expression>,
}

impl Selector {
    /// Whether `labels` satisfy the selector. An empty selector matches nothing here: a
    /// workload with an empty selector would own every pod, which validation refuses.
    pub fn matches<K: AsRef<str>, V: AsRef<str>>(&self, labels: &[(K, V)]) -> bool {
        if self.match_labels.is_empty() && self.expressions.is_empty() {
            return false;
        }
        let get = |k: &str| labels.iter().find(|(lk, _)| lk.as_ref() == k).map(|(_, v)| v.as_ref());
        self.match_labels.iter().all(|(k, v)| get(k) == Some(v.as_str()))
            && self.expressions.iter().all(|(k, op, values)| match op.as_str() {
                "In" => get(k).is_some_and(|v| values.iter().any(|x| x == v)),
                "NotIn" => get(k).is_none_or(|v| !values.iter().any(|x| x == v)),
                "Exists" => get(k).is_some(),
                "DoesNotExist" => get(k).is_none(),
                _ => false,
            })
    }
}

pub(crate) fn selector(v: Option<&Value>, plain_map: bool) -> Result<Selector, String> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(Selector { match_labels: vec![], expressions: vec![] });
    };
    if plain_map {
        return Ok(Selector { match_labels: labels(Some(v))?, expressions: vec![] });
    }
    let mut expressions = Vec::new();
    for e in v.get("matchExpressions").and_then(Value::as_array).into_iter().flatten() {
        let values = e.get("values").and_then(Value::as_array).map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect()).unwrap_or_default();
        expressions.push((
            e.get("key").and_then(Value::as_str).ok_or("matchExpression without key")?.to_string(),
            e.get("operator").and_then(Value::as_str).ok_or("matchExpression without operator")?.to_string(),
            values,
        ));
    }
    expressions.sort();
    Ok(Selector { match_labels: labels(v.get("matchLabels"))?, expressions })
}

/// A ReplicaSet or ReplicationController, as the replica controller reads it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ReplicaSetRow {
    pub kind: Kind,
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub replicas: i64,
    pub selector: Selector,
    /// `spec.template` as JSON.
    pub template: String,
    /// `spec.minReadySeconds`: how long a pod is ready before it counts as available.
    pub min_ready_seconds: i64,
    pub generation: i64,
    pub deleting: bool,
    /// The status fields the controller writes, canonical.
    pub status: String,
    pub labels: Labels,
    pub annotations: Labels,
    pub owners: OwnerRefs,
    pub created: String,
    /// `status.replicas`, `status.readyReplicas`, `status.availableReplicas`.
    pub status_counts: (i64, i64, i64),
    /// The `ReplicaFailure` condition when True, as (reason, message, lastTransitionTime):
    /// set by the Event recorder when a create is refused, removed by the controller once
    /// nothing is left to create or delete.
    pub replica_failure: Option<(String, String, String)>,
}

/// A container port of a pod: name, number, protocol.
pub type ContainerPort = (CompactString, i64, CompactString);

/// A pod as the controllers read it. Its text fields are [`CompactString`]s, which hold up to
/// 24 bytes in place: a pod's names, addresses and timestamp cost no allocation of their own,
/// and the row is made once and shared by every controller (`Arc<PodRow>`). Every pod is
/// held this way, so the row is kept small: lists are boxed slices (no spare capacity), one
/// address sits in place, the phase is a byte, and the rarely set hostname and subdomain are
/// boxed together.
///
/// Rows compare field by field in this order, and every arrangement that holds pods sorts and
/// merges them by it: the name comes first because it tells two pods of one Service (which
/// share the namespace) apart at once.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PodRow {
    pub name: CompactString,
    pub namespace: CompactString,
    pub uid: CompactString,
    pub labels: PodLabels,
    pub node: CompactString,
    /// `status.podIPs` as upstream's v1 conversion leaves it (see `pod_ips`): the first is
    /// `status.podIP`.
    pub ips: PodIps,
    pub phase: PodPhase,
    /// The Ready condition is True.
    pub ready: bool,
    /// `metadata.deletionTimestamp` is set.
    pub terminating: bool,
    /// Container ports in spec order, containers first, then sidecars.
    pub ports: Box<[ContainerPort]>,
    /// `spec.hostname` and `spec.subdomain`, when both are set (a pod's DNS name under the
    /// Service its subdomain names, [`crate::controllers::selection::hostname_in`]); None
    /// otherwise.
    pub dns_name: Option<Box<(CompactString, CompactString)>>,
    pub owners: OwnerRefs,
    /// `metadata.creationTimestamp` in Unix seconds (the API's times have whole seconds); 0
    /// when unset, upstream's zero time (which is year 1: a time of exactly 1970-01-01T00:00:00Z
    /// reads as unset too).
    pub created: i64,
    /// When the Ready condition last turned True (its `lastTransitionTime`, Unix seconds), for
    /// a ready pod; 0 when not ready or not recorded.
    pub ready_since: i64,
    /// The `controller.kubernetes.io/pod-deletion-cost` annotation, read as upstream's
    /// `GetDeletionCostFromPodAnnotations` does: 0 when unset or not a canonical int32.
    pub deletion_cost: i32,
    /// The most restarts of any of `status.containerStatuses` (upstream's
    /// `maxContainerRestarts`).
    pub restarts: i32,
    /// The most restarts of any sidecar (an init container with `restartPolicy: Always`) in
    /// `status.initContainerStatuses`: upstream's tie-break after [`PodRow::restarts`].
    pub sidecar_restarts: i32,
}

/// `status.phase`; what the API does not define (or is unset) is `Other`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum PodPhase {
    Pending,
    Running,
    Succeeded,
    Failed,
    Unknown,
    #[default]
    Other,
}

impl PodPhase {
    pub fn parse(phase: &str) -> PodPhase {
        match phase {
            "Pending" => PodPhase::Pending,
            "Running" => PodPhase::Running,
            "Succeeded" => PodPhase::Succeeded,
            "Failed" => PodPhase::Failed,
            "Unknown" => PodPhase::Unknown,
            _ => PodPhase::Other,
        }
    }

    /// Succeeded or Failed: the pod's containers will not run again.
    pub fn is_finished(self) -> bool {
        matches!(self, PodPhase::Succeeded | PodPhase::Failed)
    }
}

impl ReplicaSetRow {
    /// The owner reference marked `controller: true`, if any (a Deployment's, for its
    /// ReplicaSets).
    pub fn controller(&self) -> Option<&OwnerRef> {
        self.owners.iter().find(|o| o.controller)
    }
}

impl PodRow {
    /// The owner reference marked `controller: true`, if any.
    pub fn controller(&self) -> Option<&OwnerRef> {
        self.owners.iter().find(|o| o.controller)
    }

    /// Counts toward a workload's replicas: not finished and not being deleted.
    pub fn is_active(&self) -> bool {
        !self.terminating && !self.phase.is_finished()
    }

    /// `status.podIP`: the first of [`PodRow::ips`], "" when there is none.
    pub fn ip(&self) -> &str {
        self.ips.first().map_or("", CompactString::as_str)
    }

    /// `spec.hostname` when `spec.subdomain` is set too.
    pub fn hostname(&self) -> Option<&str> {
        self.dns_name.as_deref().map(|(hostname, _)| hostname.as_str())
    }

    /// `spec.subdomain` when `spec.hostname` is set too.
    pub fn subdomain(&self) -> Option<&str> {
        self.dns_name.as_deref().map(|(_, subdomain)| subdomain.as_str())
    }
}

/// A Service's target port: a number or a container port name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum TargetPort {
    Number(i64),
    Name(String),
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ServicePortRow {
    pub name: String,
    pub port: i64,
    pub target: TargetPort,
    pub protocol: String,
    pub app_protocol: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ServiceRow {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub labels: Labels,
    /// None when the Service has no selector: the endpoints controller leaves it alone.
    pub selector: Option<Labels>,
    pub ports: Vec<ServicePortRow>,
    pub headless: bool,
    pub publish_not_ready: bool,
    /// `spec.type`; the API server defaults it to `ClusterIP`.
    pub type_: String,
    /// `spec.loadBalancerClass`: set, another implementation owns the load balancer.
    pub load_balancer_class: Option<String>,
    /// `spec.loadBalancerIP`, the deprecated request for one address ("" when unset).
    pub load_balancer_ip: String,
    /// `status.loadBalancer.ingress[].ip`, in order ("" for an entry without one).
    pub ingress: Vec<String>,
    /// `metadata.deletionTimestamp` is set.
    pub deleting: bool,
    /// The address family its endpoints take: `spec.ipFamilies[0]`, or without it (an API
    /// server that does not default the field) the family of `spec.clusterIP`; None for a
    /// headless Service without `ipFamilies`, whose pods each go by their `podIP`.
    pub ip_family: Option<IpFamily>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum IpFamily {
    V4,
    V6,
}

impl IpFamily {
    /// The family of an address as upstream's `utilnet.IsIPv6String` tells it: IPv6 when it
    /// parses as IPv6 and is not an IPv4-mapped one; anything else counts as IPv4.
    pub fn of(ip: &str) -> IpFamily {
        match ip.parse::<std::net::Ipv6Addr>() {
            Ok(v6) if v6.to_ipv4_mapped().is_none() => IpFamily::V6,
            _ => IpFamily::V4,
        }
    }
}

/// A Node, as node IPAM and the EndpointSlice controller read it. Heartbeats change none of
/// these fields, so they cost the dataflows nothing.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct NodeRow {
    pub name: String,
    /// `spec.podCIDRs`, or `[podCIDR]` when only the singular field is set.
    pub pod_cidrs: Vec<String>,
    /// The `topology.kubernetes.io/zone` label.
    pub zone: Option<String>,
}

/// An object as the endpoints controllers see what exists: its canonical managed content.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ManagedRow {
    pub key: ObjectKey,
    /// Canonical JSON of the fields a controller manages.
    pub content: Text,
    /// Carries the managing controller's label, so it may delete the object when unwanted.
    pub managed_by_controller: bool,
    /// An EndpointSlice's `kubernetes.io/service-name` label ("" for Endpoints).
    pub service: String,
}

pub(crate) fn s(v: &Value, pointer: &str) -> String {
    str_at(v, pointer).to_string()
}

/// The string at `pointer`, "" when absent or not a string.
fn str_at<'v>(v: &'v Value, pointer: &str) -> &'v str {
    at(v, pointer).and_then(Value::as_str).unwrap_or_default()
}

pub(crate) fn labels<K: for<'a> From<&'a str> + Ord, V: for<'a> From<&'a str> + Ord>(v: Option<&Value>) -> Result<Vec<(K, V)>, String> {
    match v {
        None | Some(Value::Null) => Ok(vec![]),
        Some(Value::Object(m)) => {
            let mut out = Vec::with_capacity(m.len());
            for (k, v) in m {
                let v = v.as_str().ok_or_else(|| format!("label {k:?} is not a string"))?;
                out.push((K::from(k.as_str()), V::from(v)));
            }
            out.sort();
            Ok(out)
        }
        Some(_) => Err("labels are not a map".into()),
    }
}

/// The Node label naming its zone (upstream's `v1.LabelTopologyZone`).
pub const ZONE_LABEL: &str = "topology.kubernetes.io/zone";

fn label<'v>(v: &'v Value, key: &str) -> Option<&'v str> {
    at(v, "/metadata/labels").and_then(|l| l.get(key)).and_then(Value::as_str)
}

/// The string `field` of every entry of the array at `pointer` ("" where it is missing).
fn strings_at<S: for<'a> From<&'a str>, C: FromIterator<S>>(v: &Value, pointer: &str, field: &str) -> C {
    at(v, pointer).and_then(Value::as_array).into_iter().flatten().map(|e| S::from(e.get(field).and_then(Value::as_str).unwrap_or_default())).collect()
}

/// [`ServiceRow::ip_family`], as upstream's `podToEndpointAddressForService` reads it.
fn service_ip_family(v: &Value) -> Option<IpFamily> {
    match at(v, "/spec/ipFamilies/0").and_then(Value::as_str) {
        Some("IPv6") => return Some(IpFamily::V6),
        Some(_) => return Some(IpFamily::V4),
        None => {}
    }
    match str_at(v, "/spec/clusterIP") {
        "" | "None" => None,
        ip => Some(IpFamily::of(ip)),
    }
}

/// `status.podIPs` as upstream's v1 → internal conversion leaves it: `[podIP]` when only
/// `podIP` is set, or when both are and `podIP` is not the first of `podIPs` (`podIP` is
/// authoritative then). So the first is always `podIP`. Collected straight into the row's
/// list, so that one address stays in place.
fn pod_ips(v: &Value) -> PodIps {
    let ip = str_at(v, "/status/podIP");
    let ips: PodIps = strings_at(v, "/status/podIPs", "ip");
    match ips.first() {
        _ if ip.is_empty() => ips,
        Some(first) if first == ip => ips,
        _ => smallvec::smallvec![ip.into()],
    }
}

/// An optional JSON time (the field named `field`) as Unix seconds, 0 when unset; an error
/// when it is not an RFC 3339 string.
fn unix_seconds(t: Option<&Value>, field: &str) -> Result<i64, String> {
    match t {
        None | Some(Value::Null) => Ok(0),
        Some(t) => t.as_str().and_then(|t| t.parse::<jiff::Timestamp>().ok()).map(|t| t.as_second()).ok_or_else(|| format!("{field} is not an RFC 3339 time")),
    }
}

/// A pod's deletion cost as upstream's `GetDeletionCostFromPodAnnotations` reads it: a
/// decimal int32 with no plus sign and no leading zero, else (or unset) 0.
fn deletion_cost(value: &str) -> i32 {
    let canonical = match value.as_bytes() {
        [] => false,
        [b'-', ..] | [b'1'..=b'9', ..] => true,
        [b'0'] => true,
        _ => false,
    };
    if canonical {
        value.parse::<i32>().unwrap_or(0)
    } else {
        0
    }
}

pub(crate) fn terminating(v: &Value) -> bool {
    at(v, "/metadata/deletionTimestamp").is_some_and(|t| !t.is_null())
}

/// Every projection an object yields: one row of its kind.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Row {
    Namespace(NamespaceRow),
    ServiceAccount(ServiceAccountRow),
    Secret(SecretRow),
    ConfigMap(ConfigMapRow),
    Pod(PodRow),
    Service(ServiceRow),
    Node(NodeRow),
    /// Endpoints and EndpointSlices, by their managed content.
    Managed(ManagedRow),
    ReplicaSet(ReplicaSetRow),
    Deployment(crate::controllers::deployment::DeploymentRow),
    ResourceQuota(crate::rows_quota::ResourceQuotaRow),
    /// An object no controller reads as a row; the quota controller counts it through its
    /// usage projection ([`crate::rows_quota::usage`]), and the garbage collector follows it
    /// through its own ([`crate::controllers::gc::members`]).
    CountedOnly(ObjectKey),
}

/// Projects an object of `key.kind` into its row.
pub fn project(key: &ObjectKey, v: &Value) -> Result<Row, ProjectionError> {
    project_inner(key, v).map_err(|message| ProjectionError { key: key.clone(), message })
}

fn project_inner(key: &ObjectKey, v: &Value) -> Result<Row, String> {
    if !v.is_object() {
        return Err("object is not a JSON object".into());
    }
    let ns = key.namespace.clone();
    let name = key.name.clone();
    let uid = s(v, "/metadata/uid");
    Ok(match key.kind {
        Kind::Namespace => Row::Namespace(NamespaceRow {
            name,
            uid,
            active: !terminating(v) && at(v, "/status/phase").and_then(Value::as_str) != Some("Terminating"),
            awaiting_purge: terminating(v) && at(v, "/spec/finalizers").and_then(Value::as_array).is_some_and(|f| f.iter().any(|x| x == "kubernetes")),
        }),
        Kind::ServiceAccount => Row::ServiceAccount(ServiceAccountRow { namespace: ns, name, uid }),
        Kind::Secret => {
            let ann = |k: &str| at(v, "/metadata/annotations").and_then(|a| a.get(k)).and_then(Value::as_str).map(str::to_string);
            let service_account = match (ann("kubernetes.io/service-account.name"), ann("kubernetes.io/service-account.uid")) {
                (Some(n), Some(u)) => Some((n, u)),
                (Some(n), None) => Some((n, String::new())),
                _ => None,
            };
            Row::Secret(SecretRow {
                namespace: ns,
                name,
                type_: s(v, "/type"),
                service_account,
                has_token: at(v, "/data/token").and_then(Value::as_str).is_some_and(|t| !t.is_empty()),
            })
        }
        Kind::ConfigMap => {
            let root_ca = (name == "kube-root-ca.crt").then(|| s(v, "/data/ca.crt"));
            Row::ConfigMap(ConfigMapRow { namespace: ns, name, root_ca })
        }
        Kind::Pod => {
            let mut ports = Vec::new();
            // In spec order, containers before sidecars (init containers that keep running): a
            // named target port resolves to the first match, as upstream's FindPort.
            let sidecars = v
                .pointer("/spec/initContainers")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter(|c| c.get("restartPolicy").and_then(Value::as_str) == Some("Always"));
            for c in at(v, "/spec/containers").and_then(Value::as_array).into_iter().flatten().chain(sidecars.clone()) {
                for p in c.get("ports").and_then(Value::as_array).into_iter().flatten() {
                    let number = p.get("containerPort").and_then(Value::as_i64).ok_or("containerPort is not a number")?;
                    ports.push((
                        p.get("name").and_then(Value::as_str).unwrap_or_default().into(),
                        number,
                        p.get("protocol").and_then(Value::as_str).unwrap_or("TCP").into(),
                    ));
                }
            }
            // Upstream's IsPodReady reads the first Ready condition only.
            let ready_condition = v
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .find(|c| c.get("type").and_then(Value::as_str) == Some("Ready"))
                .filter(|c| c.get("status").and_then(Value::as_str) == Some("True"));
            let ready_since = unix_seconds(ready_condition.and_then(|c| c.get("lastTransitionTime")), "status.conditions[Ready].lastTransitionTime")?;
            let created = unix_seconds(at(v, "/metadata/creationTimestamp"), "metadata.creationTimestamp")?;
            // Upstream's `maxContainerRestarts`: the regular containers', then the sidecars'.
            let sidecar_names: Vec<&str> = sidecars.clone().filter_map(|c| c.get("name").and_then(Value::as_str)).collect();
            let most_restarts = |statuses: &str, counted: &dyn Fn(&Value) -> bool| {
                at(v, statuses)
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter(|c| counted(c))
                    .filter_map(|c| c.get("restartCount").and_then(Value::as_i64))
                    .max()
                    .map_or(0, |n| n.clamp(0, i32::MAX as i64) as i32)
            };
            let restarts = most_restarts("/status/containerStatuses", &|_| true);
            let sidecar_restarts =
                most_restarts("/status/initContainerStatuses", &|c| c.get("name").and_then(Value::as_str).is_some_and(|name| sidecar_names.contains(&name)));
            let c = |pointer: &str| CompactString::from(str_at(v, pointer));
            let (hostname, subdomain) = (c("/spec/hostname"), c("/spec/subdomain"));
            Row::Pod(PodRow {
                namespace: ns.into(),
                name: name.into(),
                uid: uid.into(),
                labels: labels(at(v, "/metadata/labels"))?.into_boxed_slice(),
                node: c("/spec/nodeName"),
                ips: pod_ips(v),
                phase: PodPhase::parse(str_at(v, "/status/phase")),
                ready: ready_condition.is_some(),
                terminating: terminating(v),
                ports: ports.into_boxed_slice(),
                dns_name: (!hostname.is_empty() && !subdomain.is_empty()).then(|| Box::new((hostname, subdomain))),
                owners: owner_refs(v)?,
                created,
                ready_since,
                deletion_cost: deletion_cost(str_at(v, "/metadata/annotations/controller.kubernetes.io~1pod-deletion-cost")),
                restarts,
                sidecar_restarts,
            })
        }
        Kind::Service => {
            let selector = match at(v, "/spec/selector") {
                None | Some(Value::Null) => None,
                sel => Some(labels(sel)?).filter(|l| !l.is_empty()),
            };
            let mut ports = Vec::new();
            for p in at(v, "/spec/ports").and_then(Value::as_array).into_iter().flatten() {
                let port = p.get("port").and_then(Value::as_i64).ok_or("service port is not a number")?;
                let target = match p.get("targetPort") {
                    Some(Value::Number(n)) => TargetPort::Number(n.as_i64().ok_or("targetPort is not an integer")?),
                    Some(Value::String(name)) => match name.parse::<i64>() {
                        Ok(n) => TargetPort::Number(n),
                        Err(_) => TargetPort::Name(name.clone()),
                    },
                    _ => TargetPort::Number(port),
                };
                ports.push(ServicePortRow {
                    name: p.get("name").and_then(Value::as_str).unwrap_or_default().to_string(),
                    port,
                    target,
                    protocol: p.get("protocol").and_then(Value::as_str).unwrap_or("TCP").to_string(),
                    app_protocol: p.get("appProtocol").and_then(Value::as_str).map(str::to_string),
                });
            }
            Row::Service(ServiceRow {
                namespace: ns,
                name,
                uid,
                labels: labels(at(v, "/metadata/labels"))?,
                selector,
                ports,
                headless: at(v, "/spec/clusterIP").and_then(Value::as_str) == Some("None"),
                publish_not_ready: at(v, "/spec/publishNotReadyAddresses").and_then(Value::as_bool).unwrap_or(false),
                type_: at(v, "/spec/type").and_then(Value::as_str).unwrap_or("ClusterIP").to_string(),
                load_balancer_class: at(v, "/spec/loadBalancerClass").and_then(Value::as_str).map(str::to_string),
                load_balancer_ip: s(v, "/spec/loadBalancerIP"),
                ingress: strings_at(v, "/status/loadBalancer/ingress", "ip"),
                deleting: terminating(v),
                ip_family: service_ip_family(v),
            })
        }
        Kind::Node => {
            let mut pod_cidrs: Vec<String> =
                at(v, "/spec/podCIDRs").and_then(Value::as_array).into_iter().flatten().map(|c| c.as_str().unwrap_or_default().to_string()).collect();
            if pod_cidrs.is_empty() && !s(v, "/spec/podCIDR").is_empty() {
                pod_cidrs.push(s(v, "/spec/podCIDR"));
            }
            let zone = label(v, ZONE_LABEL).filter(|z| !z.is_empty()).map(str::to_string);
            Row::Node(NodeRow { name, pod_cidrs, zone })
        }
        Kind::Endpoints => Row::Managed(ManagedRow {
            key: key.clone(),
            content: crate::controllers::endpoints::observed_content(v),
            managed_by_controller: label(v, crate::controllers::endpoints::MANAGED_BY) == Some(crate::controllers::endpoints::CONTROLLER_NAME),
            service: String::new(),
        }),
        Kind::EndpointSlice => Row::Managed(ManagedRow {
            key: key.clone(),
            content: crate::controllers::endpointslices::observed_content(v),
            managed_by_controller: label(v, crate::controllers::endpointslices::MANAGED_BY) == Some(crate::controllers::endpointslices::CONTROLLER_NAME),
            service: label(v, crate::controllers::endpointslices::SERVICE_NAME).unwrap_or_default().to_string(),
        }),
        Kind::ReplicaSet | Kind::ReplicationController => Row::ReplicaSet(ReplicaSetRow {
            kind: key.kind,
            namespace: ns,
            name,
            uid,
            replicas: at(v, "/spec/replicas").map_or(Ok(1), |r| r.as_i64().ok_or("spec.replicas is not an integer"))?,
            selector: selector(at(v, "/spec/selector"), key.kind == Kind::ReplicationController)?,
            template: at(v, "/spec/template").map(Value::to_string).unwrap_or_default(),
            min_ready_seconds: at(v, "/spec/minReadySeconds").map_or(Ok(0), |r| r.as_i64().ok_or("spec.minReadySeconds is not an integer"))?,
            generation: at(v, "/metadata/generation").and_then(Value::as_i64).unwrap_or(0),
            deleting: terminating(v),
            status: crate::controllers::replicaset::observed_status(v),
            labels: labels(at(v, "/metadata/labels"))?,
            annotations: labels(at(v, "/metadata/annotations"))?,
            owners: owner_refs(v)?,
            created: s(v, "/metadata/creationTimestamp"),
            status_counts: (
                at(v, "/status/replicas").and_then(Value::as_i64).unwrap_or(0),
                at(v, "/status/readyReplicas").and_then(Value::as_i64).unwrap_or(0),
                at(v, "/status/availableReplicas").and_then(Value::as_i64).unwrap_or(0),
            ),
            replica_failure: at(v, "/status/conditions")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .find(|c| c["type"] == "ReplicaFailure" && c["status"] == "True")
                .map(|c| (s(c, "/reason"), s(c, "/message"), s(c, "/lastTransitionTime"))),
        }),
        Kind::Deployment => Row::Deployment(crate::controllers::deployment::project(key, v)?),
        Kind::ResourceQuota => Row::ResourceQuota(crate::rows_quota::project_quota(key, v)?),
        // PriorityClasses are read by the scheduler alone (its own projection); the others
        // by the quota counts and the garbage collector alone (theirs).
        Kind::PersistentVolumeClaim
        | Kind::StatefulSet
        | Kind::PriorityClass
        | Kind::ControllerRevision
        | Kind::DaemonSet
        | Kind::Job
        | Kind::CronJob
        | Kind::Lease
        | Kind::PersistentVolume
        | Kind::PodDisruptionBudget
        | Kind::LimitRange
        | Kind::Role
        | Kind::RoleBinding
        | Kind::ClusterRole
        | Kind::ClusterRoleBinding => Row::CountedOnly(key.clone()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pod_row_stays_small_and_keeps_a_typical_pod_in_place() {
        // Every pod is held as one of these for as long as it exists (see the type's doc).
        assert!(std::mem::size_of::<PodRow>() <= 216, "{} bytes", std::mem::size_of::<PodRow>());
        let pod = serde_json::json!({
            "metadata": {"name": "web-7d9f8c6b5-x2k4p", "namespace": "default", "labels": {"app": "web"}},
            "spec": {"nodeName": "node-1", "hostname": "h", "subdomain": "svc", "containers": [{"name": "c", "ports": [{"containerPort": 80}]}]},
            "status": {"phase": "Running", "podIP": "10.0.0.7", "podIPs": [{"ip": "10.0.0.7"}]}
        });
        let row = pod_row(&pod);
        assert!(!row.ips.spilled(), "a kubelet writes both fields; the one address stays in place");
        assert_eq!((row.ip(), row.phase, row.hostname(), row.subdomain()), ("10.0.0.7", PodPhase::Running, Some("h"), Some("svc")));
        assert_eq!(&*row.ports, &[("".into(), 80, "TCP".into())]);
    }

    fn pod_row(pod: &Value) -> PodRow {
        let Ok(Row::Pod(row)) = project(&ObjectKey::new(Kind::Pod, "default", "p"), pod) else { panic!("a pod row") };
        row
    }

    #[test]
    fn deletion_order_fields_read_as_upstream_reads_them() {
        let row = pod_row(&serde_json::json!({
            "metadata": {"name": "p", "creationTimestamp": "2026-01-01T00:00:10Z",
                         "annotations": {"controller.kubernetes.io/pod-deletion-cost": "-7"}},
            "status": {"conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "2026-01-01T00:01:00Z"}],
                       "containerStatuses": [{"restartCount": 2}, {"restartCount": 5}, {}],
                       "initContainerStatuses": [{"name": "sidecar", "restartCount": 3}, {"name": "init", "restartCount": 9}]},
            "spec": {"initContainers": [{"name": "sidecar", "restartPolicy": "Always"}, {"name": "init"}]}
        }));
        assert_eq!((row.created, row.ready_since, row.deletion_cost, row.restarts), (1_767_225_610, 1_767_225_660, -7, 5));
        assert_eq!(row.sidecar_restarts, 3, "only a sidecar's restarts count, not a plain init container's");
        let not_ready = pod_row(&serde_json::json!({"metadata": {"name": "p"},
            "status": {"conditions": [{"type": "Ready", "status": "False", "lastTransitionTime": "2026-01-01T00:01:00Z"}]}}));
        assert_eq!((not_ready.created, not_ready.ready_since, not_ready.ready), (0, 0, false));
        let first_wins = pod_row(&serde_json::json!({"metadata": {"name": "p"},
            "status": {"conditions": [{"type": "Ready", "status": "False"}, {"type": "Ready", "status": "True"}]}}));
        assert!(!first_wins.ready, "upstream's IsPodReady reads the first Ready condition");
        // Upstream's GetDeletionCostFromPodAnnotations: no plus sign, no leading zero, int32.
        for (value, cost) in [("0", 0), ("100", 100), ("-2147483648", i32::MIN), ("+5", 0), ("007", 0), ("-", 0), ("", 0), ("2147483648", 0), ("1e3", 0)] {
            assert_eq!(deletion_cost(value), cost, "{value:?}");
        }
        let malformed = serde_json::json!({"metadata": {"name": "p", "namespace": "ns", "creationTimestamp": "yesterday"}});
        assert!(project(&ObjectKey::new(Kind::Pod, "ns", "p"), &malformed).is_err(), "a time that is not RFC 3339 is a projection error");
    }

    #[test]
    fn pod_ips_read_as_upstreams_conversion_leaves_them() {
        let ips = |status: Value| pod_row(&serde_json::json!({"metadata": {"name": "p"}, "status": status})).ips.to_vec();
        let ip = |s: &str| CompactString::from(s);
        assert_eq!(ips(serde_json::json!({"podIP": "10.0.0.1"})), [ip("10.0.0.1")]);
        assert_eq!(ips(serde_json::json!({"podIPs": [{"ip": "10.0.0.1"}, {"ip": "fd00::1"}]})), [ip("10.0.0.1"), ip("fd00::1")]);
        assert_eq!(ips(serde_json::json!({"podIP": "fd00::1", "podIPs": [{"ip": "fd00::1"}, {"ip": "10.0.0.1"}]})), [ip("fd00::1"), ip("10.0.0.1")]);
        // Both set and disagreeing: podIP is authoritative.
        assert_eq!(ips(serde_json::json!({"podIP": "10.0.0.9", "podIPs": [{"ip": "10.0.0.1"}]})), [ip("10.0.0.9")]);
        assert_eq!(ips(serde_json::json!({})), Vec::<CompactString>::new());
    }
}
