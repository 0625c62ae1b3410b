//! The one type file: the timestamp (a store revision), the diff type, the projection rows
//! that input collections hold, and the intents that outputs carry. Keeping them here keeps
//! differential-dataflow's API churn and the row shapes in one place.

use std::sync::Arc;

use compact_str::CompactString;
use serde::{Deserialize, Serialize};

/// Dataflow time: the store revision at which a change happened.
pub type Revision = u64;

/// Differential-dataflow's difference type: +1 insert, -1 retract.
pub type Diff = isize;

/// Shared immutable text: canonical JSON contents, bodies and patches ([`crate::text`]).
pub use crate::text::Text;

/// Which kind of object a key names: every kind a controller reads, and every other kind
/// whose objects take part in garbage collection (owners and dependents).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Kind {
    Namespace,
    Pod,
    Service,
    Endpoints,
    EndpointSlice,
    ServiceAccount,
    Secret,
    ConfigMap,
    ReplicaSet,
    ReplicationController,
    Deployment,
    StatefulSet,
    ResourceQuota,
    PersistentVolumeClaim,
    Node,
    PriorityClass,
    ControllerRevision,
    DaemonSet,
    Job,
    CronJob,
    Lease,
    PersistentVolume,
    PodDisruptionBudget,
    LimitRange,
    Role,
    RoleBinding,
    ClusterRole,
    ClusterRoleBinding,
}

/// Where a kind is served: its `apiVersion`, plural and kind name.
struct Served {
    api_version: &'static str,
    plural: &'static str,
    name: &'static str,
}

const fn served(api_version: &'static str, plural: &'static str, name: &'static str) -> Served {
    Served { api_version, plural, name }
}

impl Kind {
    fn served(self) -> Served {
        match self {
            Kind::Namespace => served("v1", "namespaces", "Namespace"),
            Kind::Pod => served("v1", "pods", "Pod"),
            Kind::Service => served("v1", "services", "Service"),
            Kind::Endpoints => served("v1", "endpoints", "Endpoints"),
            Kind::EndpointSlice => served("discovery.k8s.io/v1", "endpointslices", "EndpointSlice"),
            Kind::ServiceAccount => served("v1", "serviceaccounts", "ServiceAccount"),
            Kind::Secret => served("v1", "secrets", "Secret"),
            Kind::ConfigMap => served("v1", "configmaps", "ConfigMap"),
            Kind::ReplicaSet => served("apps/v1", "replicasets", "ReplicaSet"),
            Kind::ReplicationController => served("v1", "replicationcontrollers", "ReplicationController"),
            Kind::Deployment => served("apps/v1", "deployments", "Deployment"),
            Kind::StatefulSet => served("apps/v1", "statefulsets", "StatefulSet"),
            Kind::ResourceQuota => served("v1", "resourcequotas", "ResourceQuota"),
            Kind::PersistentVolumeClaim => served("v1", "persistentvolumeclaims", "PersistentVolumeClaim"),
            Kind::Node => served("v1", "nodes", "Node"),
            Kind::PriorityClass => served("scheduling.k8s.io/v1", "priorityclasses", "PriorityClass"),
            Kind::ControllerRevision => served("apps/v1", "controllerrevisions", "ControllerRevision"),
            Kind::DaemonSet => served("apps/v1", "daemonsets", "DaemonSet"),
            Kind::Job => served("batch/v1", "jobs", "Job"),
            Kind::CronJob => served("batch/v1", "cronjobs", "CronJob"),
            Kind::Lease => served("coordination.k8s.io/v1", "leases", "Lease"),
            Kind::PersistentVolume => served("v1", "persistentvolumes", "PersistentVolume"),
            Kind::PodDisruptionBudget => served("policy/v1", "poddisruptionbudgets", "PodDisruptionBudget"),
            Kind::LimitRange => served("v1", "limitranges", "LimitRange"),
            Kind::Role => served("rbac.authorization.k8s.io/v1", "roles", "Role"),
            Kind::RoleBinding => served("rbac.authorization.k8s.io/v1", "rolebindings", "RoleBinding"),
            Kind::ClusterRole => served("rbac.authorization.k8s.io/v1", "clusterroles", "ClusterRole"),
            Kind::ClusterRoleBinding => served("rbac.authorization.k8s.io/v1", "clusterrolebindings", "ClusterRoleBinding"),
        }
    }

    /// `(group, version, plural)` of the kind's resource.
    pub fn resource(self) -> (&'static str, &'static str, &'static str) {
        let s = self.served();
        let (group, version) = s.api_version.rsplit_once('/').unwrap_or(("", s.api_version));
        (group, version, s.plural)
    }

    /// `group/version`, or the version alone for the core group.
    pub fn api_version(self) -> &'static str {
        self.served().api_version
    }

    pub fn kind_name(self) -> &'static str {
        self.served().name
    }

    /// Every kind the engine reads, in the order the remote feed lists them.
    pub const ALL: &'static [Kind] = &[
        Kind::Namespace,
        Kind::Pod,
        Kind::Service,
        Kind::Endpoints,
        Kind::EndpointSlice,
        Kind::ServiceAccount,
        Kind::Secret,
        Kind::ConfigMap,
        Kind::ReplicaSet,
        Kind::ReplicationController,
        Kind::Deployment,
        Kind::StatefulSet,
        Kind::ResourceQuota,
        Kind::PersistentVolumeClaim,
        Kind::Node,
        Kind::PriorityClass,
        Kind::ControllerRevision,
        Kind::DaemonSet,
        Kind::Job,
        Kind::CronJob,
        Kind::Lease,
        Kind::PersistentVolume,
        Kind::PodDisruptionBudget,
        Kind::LimitRange,
        Kind::Role,
        Kind::RoleBinding,
        Kind::ClusterRole,
        Kind::ClusterRoleBinding,
    ];

    /// The kind stored under a `/registry/<plural>/` key prefix, if the engine reads it.
    pub fn from_store_key(key: &str) -> Option<Kind> {
        let rest = key.strip_prefix("/registry/")?;
        let plural = rest.split('/').next()?;
        Kind::ALL.iter().copied().find(|k| k.resource().2 == plural)
    }

    /// The kind an owner reference names by `apiVersion` and `kind`, if the engine reads it.
    /// The version is not compared: an object is one object at every version it is served at.
    pub fn from_reference(api_version: &str, kind: &str) -> Option<Kind> {
        let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
        Kind::ALL.iter().copied().find(|k| k.kind_name() == kind && k.resource().0 == group)
    }
}

/// Names one object: kind, namespace ("" for cluster-scoped) and name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ObjectKey {
    pub kind: Kind,
    pub namespace: String,
    pub name: String,
}

impl ObjectKey {
    pub fn new(kind: Kind, namespace: impl Into<String>, name: impl Into<String>) -> ObjectKey {
        ObjectKey { kind, namespace: namespace.into(), name: name.into() }
    }
}

/// An [`ObjectKey`] kept for every pod (the garbage collector's dependents): names of up to
/// 24 bytes, nearly all of them, sit in place without an allocation of their own.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CompactKey {
    pub kind: Kind,
    pub namespace: CompactString,
    pub name: CompactString,
}

impl From<&ObjectKey> for CompactKey {
    fn from(key: &ObjectKey) -> CompactKey {
        CompactKey { kind: key.kind, namespace: key.namespace.as_str().into(), name: key.name.as_str().into() }
    }
}

impl From<&CompactKey> for ObjectKey {
    fn from(key: &CompactKey) -> ObjectKey {
        ObjectKey::new(key.kind, key.namespace.as_str(), key.name.as_str())
    }
}

/// One change of the feed: an object's new state (None when deleted) at a revision.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedEvent {
    pub revision: Revision,
    pub key: ObjectKey,
    /// The previous state, as the feed knows it (None for a create).
    pub old: Option<Arc<serde_json::Value>>,
    /// The new state (None for a delete).
    pub new: Option<Arc<serde_json::Value>>,
}

/// What a controller wants written. Objects travel as canonical JSON strings so that rows
/// stay `Ord + Hash` and cheap to compare.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Intent {
    /// Create the object. The body is its JSON content; the writer completes apiVersion,
    /// kind, name and namespace from the key ([`crate::reconcile::identify`]).
    Create { key: ObjectKey, body: Text },
    /// Apply a JSON merge patch to the object.
    Patch { key: ObjectKey, patch: Text },
    /// Apply a JSON merge patch to the object's `status` subresource.
    PatchStatus { key: ObjectKey, patch: Text },
    /// Hand the object part of a shared pool with a JSON merge patch (of the `status`
    /// subresource when [`Pool::status`] says so). Each allocation is decided over the whole
    /// pool, so the writer sends a pool's allocations only as computed from one complete
    /// revision, and only while none of that pool's earlier allocations is unconfirmed: two
    /// claimants can then never be handed one slot from views of different ages.
    Allocate { key: ObjectKey, pool: Pool, patch: Text },
    /// Delete the object.
    Delete { key: ObjectKey },
    /// Delete the object with `propagationPolicy: Foreground`: its dependents go first.
    DeleteForeground { key: ObjectKey },
    /// Delete everything in the namespace `key.name`, then remove its `kubernetes` finalizer.
    PurgeNamespace { key: ObjectKey },
}

impl Intent {
    pub fn key(&self) -> &ObjectKey {
        match self {
            Intent::Create { key, .. }
            | Intent::Patch { key, .. }
            | Intent::PatchStatus { key, .. }
            | Intent::Allocate { key, .. }
            | Intent::Delete { key }
            | Intent::DeleteForeground { key }
            | Intent::PurgeNamespace { key } => key,
        }
    }
}

/// A shared pool that [`Intent::Allocate`] hands out from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Pool {
    /// Pod CIDR blocks of `--cluster-cidr`, written to a Node's `spec.podCIDR(s)`.
    PodCidr,
    /// Addresses of `--load-balancer-ip-range`, written to a Service's
    /// `status.loadBalancer.ingress`.
    LoadBalancerIp,
}

impl Pool {
    /// Whether the allocation is written through the `status` subresource.
    pub fn status(self) -> bool {
        matches!(self, Pool::LoadBalancerIp)
    }
}

/// A controller's refusal about one object, which upstream records as an Event (such as
/// `CIDRNotAvailable`): the object, the Event's reason and its message. Rows of the
/// `controller-errors` view, never a panic.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ControllerError {
    pub key: ObjectKey,
    pub reason: String,
    pub message: String,
}

/// A projection that failed: the object and why, surfaced as an Event, never a panic.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ProjectionError {
    pub key: ObjectKey,
    pub message: String,
}

/// The reason of the Event recorded for an object the controllers cannot read.
pub const INVALID_OBJECT: &str = "InvalidObject";

impl ProjectionError {
    /// The problem recorded about the object: an `InvalidObject` Event.
    pub fn into_problem(self) -> ControllerError {
        ControllerError { key: self.key, reason: INVALID_OBJECT.into(), message: format!("the controllers cannot read this object: {}", self.message) }
    }
}
