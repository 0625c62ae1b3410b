//! The static table of every resource the apiserver serves: group, version, kind, names,
//! scope, verbs and subresources. Discovery, routing, OpenAPI and tables all read this one table.

/// Verbs of an ordinary read-write resource.
pub const CRUD_VERBS: &[&str] = &["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];

/// Verbs of create-only review resources (TokenReview, SubjectAccessReview, …).
pub const CREATE_ONLY: &[&str] = &["create"];

/// A subresource served under `<plural>/<name>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subresource {
    /// The path segment, such as `status` or `scale`.
    pub name: &'static str,
    /// Group of the kind returned, `""` for core.
    pub group: &'static str,
    /// Version of the kind returned.
    pub version: &'static str,
    /// Kind returned: the parent kind for `status`, `Scale` for `scale`, …
    pub kind: &'static str,
    /// The verbs the subresource accepts.
    pub verbs: &'static [&'static str],
}

/// One served resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResourceDescriptor {
    /// API group, `""` for the core group.
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    /// The plural, lowercase name used in URLs: `pods`.
    pub plural: &'static str,
    pub singular: &'static str,
    pub namespaced: bool,
    pub verbs: &'static [&'static str],
    pub short_names: &'static [&'static str],
    pub categories: &'static [&'static str],
    pub subresources: &'static [Subresource],
}

impl ResourceDescriptor {
    /// `v1` for core, `apps/v1` otherwise.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The store key prefix of this resource, e.g. `/registry/pods/`.
    ///
    /// Upstream keeps a few resources under other names (services under `services/specs`,
    /// endpoint slices under `endpointslices`); we follow the plain `/registry/<plural>/` rule.
    pub fn key_prefix(&self) -> String {
        format!("/registry/{}/", self.storage_name())
    }

    /// The resource's name in store keys.
    pub fn storage_name(&self) -> &'static str {
        // Without conversion between the two Event shapes, events.k8s.io keeps its own keys.
        if self.group == "events.k8s.io" {
            "events.k8s.io/events"
        } else {
            self.plural
        }
    }

    pub fn subresource(&self, name: &str) -> Option<&'static Subresource> {
        self.subresources.iter().find(|s| s.name == name)
    }

    /// Whether objects of this resource are kept in the store (review kinds are not).
    pub fn is_stored(&self) -> bool {
        self.verbs.contains(&"get")
    }
}

const GET_PATCH_UPDATE: &[&str] = &["get", "patch", "update"];

const fn status(group: &'static str, version: &'static str, kind: &'static str) -> Subresource {
    Subresource { name: "status", group, version, kind, verbs: GET_PATCH_UPDATE }
}

const SCALE: Subresource = Subresource { name: "scale", group: "autoscaling", version: "v1", kind: "Scale", verbs: GET_PATCH_UPDATE };

const ALL: &[&str] = &["all"];
const NONE: &[&str] = &[];

macro_rules! resource {
    ($group:expr, $version:expr, $kind:expr, $plural:expr, $singular:expr, $namespaced:expr,
     verbs: $verbs:expr, short: $short:expr, categories: $cat:expr, sub: $sub:expr) => {
        ResourceDescriptor {
            group: $group,
            version: $version,
            kind: $kind,
            plural: $plural,
            singular: $singular,
            namespaced: $namespaced,
            verbs: $verbs,
            short_names: $short,
            categories: $cat,
            subresources: $sub,
        }
    };
}

/// Every resource served, in discovery order.
pub static RESOURCES: &[ResourceDescriptor] = &[
    // core/v1
    resource!("", "v1", "Namespace", "namespaces", "namespace", false, verbs: &["create", "delete", "get", "list", "patch", "update", "watch"], short: &["ns"], categories: NONE,
        sub: &[status("", "v1", "Namespace"), Subresource { name: "finalize", group: "", version: "v1", kind: "Namespace", verbs: &["update"] }]),
    resource!("", "v1", "Pod", "pods", "pod", true, verbs: CRUD_VERBS, short: &["po"], categories: ALL,
    sub: &[
        status("", "v1", "Pod"),
        Subresource { name: "binding", group: "", version: "v1", kind: "Binding", verbs: &["create"] },
        Subresource { name: "eviction", group: "policy", version: "v1", kind: "Eviction", verbs: &["create"] },
        Subresource { name: "log", group: "", version: "v1", kind: "Pod", verbs: &["get"] },
        Subresource { name: "exec", group: "", version: "v1", kind: "PodExecOptions", verbs: &["create", "get"] },
        Subresource { name: "attach", group: "", version: "v1", kind: "PodAttachOptions", verbs: &["create", "get"] },
        Subresource { name: "portforward", group: "", version: "v1", kind: "PodPortForwardOptions", verbs: &["create", "get"] },
    ]),
    resource!("", "v1", "Binding", "bindings", "binding", true, verbs: CREATE_ONLY, short: NONE, categories: NONE, sub: &[]),
    resource!("", "v1", "Service", "services", "service", true, verbs: CRUD_VERBS, short: &["svc"], categories: ALL, sub: &[status("", "v1", "Service")]),
    resource!("", "v1", "Endpoints", "endpoints", "endpoints", true, verbs: CRUD_VERBS, short: &["ep"], categories: NONE, sub: &[]),
    resource!("", "v1", "Node", "nodes", "node", false, verbs: CRUD_VERBS, short: &["no"], categories: NONE, sub: &[status("", "v1", "Node")]),
    resource!("", "v1", "ConfigMap", "configmaps", "configmap", true, verbs: CRUD_VERBS, short: &["cm"], categories: NONE, sub: &[]),
    resource!("", "v1", "Secret", "secrets", "secret", true, verbs: CRUD_VERBS, short: NONE, categories: NONE, sub: &[]),
    resource!("", "v1", "ServiceAccount", "serviceaccounts", "serviceaccount", true, verbs: CRUD_VERBS, short: &["sa"], categories: NONE,
        sub: &[Subresource { name: "token", group: "authentication.k8s.io", version: "v1", kind: "TokenRequest", verbs: &["create"] }]),
    resource!("", "v1", "ResourceQuota", "resourcequotas", "resourcequota", true, verbs: CRUD_VERBS, short: &["quota"], categories: NONE, sub: &[status("", "v1", "ResourceQuota")]),
    resource!("", "v1", "LimitRange", "limitranges", "limitrange", true, verbs: CRUD_VERBS, short: &["limits"], categories: NONE, sub: &[]),
    resource!("", "v1", "Event", "events", "event", true, verbs: CRUD_VERBS, short: &["ev"], categories: NONE, sub: &[]),
    resource!("", "v1", "ReplicationController", "replicationcontrollers", "replicationcontroller", true, verbs: CRUD_VERBS, short: &["rc"], categories: ALL,
        sub: &[status("", "v1", "ReplicationController"), SCALE]),
    resource!("", "v1", "PersistentVolume", "persistentvolumes", "persistentvolume", false, verbs: CRUD_VERBS, short: &["pv"], categories: NONE, sub: &[status("", "v1", "PersistentVolume")]),
    resource!("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", "persistentvolumeclaim", true, verbs: CRUD_VERBS, short: &["pvc"], categories: NONE, sub: &[status("", "v1", "PersistentVolumeClaim")]),
    // apps/v1
    resource!("apps", "v1", "ControllerRevision", "controllerrevisions", "controllerrevision", true, verbs: CRUD_VERBS, short: NONE, categories: NONE, sub: &[]),
    resource!("apps", "v1", "DaemonSet", "daemonsets", "daemonset", true, verbs: CRUD_VERBS, short: &["ds"], categories: ALL, sub: &[status("apps", "v1", "DaemonSet")]),
    resource!("apps", "v1", "Deployment", "deployments", "deployment", true, verbs: CRUD_VERBS, short: &["deploy"], categories: ALL, sub: &[status("apps", "v1", "Deployment"), SCALE]),
    resource!("apps", "v1", "ReplicaSet", "replicasets", "replicaset", true, verbs: CRUD_VERBS, short: &["rs"], categories: ALL, sub: &[status("apps", "v1", "ReplicaSet"), SCALE]),
    resource!("apps", "v1", "StatefulSet", "statefulsets", "statefulset", true, verbs: CRUD_VERBS, short: &["sts"], categories: ALL, sub: &[status("apps", "v1", "StatefulSet"), SCALE]),
    // discovery.k8s.io/v1
    resource!("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", "endpointslice", true, verbs: CRUD_VERBS, short: NONE, categories: NONE, sub: &[]),
    // coordination.k8s.io/v1
    resource!("coordination.k8s.io", "v1", "Lease", "leases", "lease", true, verbs: CRUD_VERBS, short: NONE, categories: NONE, sub: &[]),
    // events.k8s.io/v1
    resource!("events.k8s.io", "v1", "Event", "events", "event", true, verbs: CRUD_VERBS, short: &["ev"], categories: NONE, sub: &[]),
    // rbac.authorization.k8s.io/v1
    resource!("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", "clusterrolebinding", false, verbs: CRUD_VERBS, short: NONE, categories: NONE, sub: &[]),
    resource!("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", "clusterrole", false, verbs: CRUD_VERBS, short: NONE, categories: NONE, sub: &[]),
    resource!("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", "rolebinding", true, verbs: CRUD_VERBS, short: NONE, categories: NONE, sub: &[]),
    resource!("rbac.authorization.k8s.io", "v1", "Role", "roles", "role", true, verbs: CRUD_VERBS, short: NONE, categories: NONE, sub: &[]),
    // authorization.k8s.io/v1
    resource!("authorization.k8s.io", "v1", "LocalSubjectAccessReview", "localsubjectaccessreviews", "localsubjectaccessreview", true, verbs: CREATE_ONLY, short: NONE, categories: NONE, sub: &[]),
    resource!("authorization.k8s.io", "v1", "SelfSubjectAccessReview", "selfsubjectaccessreviews", "selfsubjectaccessreview", false, verbs: CREATE_ONLY, short: NONE, categories: NONE, sub: &[]),
    resource!("authorization.k8s.io", "v1", "SelfSubjectRulesReview", "selfsubjectrulesreviews", "selfsubjectrulesreview", false, verbs: CREATE_ONLY, short: NONE, categories: NONE, sub: &[]),
    resource!("authorization.k8s.io", "v1", "SubjectAccessReview", "subjectaccessreviews", "subjectaccessreview", false, verbs: CREATE_ONLY, short: NONE, categories: NONE, sub: &[]),
    // authentication.k8s.io/v1
    resource!("authentication.k8s.io", "v1", "SelfSubjectReview", "selfsubjectreviews", "selfsubjectreview", false, verbs: CREATE_ONLY, short: NONE, categories: NONE, sub: &[]),
    resource!("authentication.k8s.io", "v1", "TokenReview", "tokenreviews", "tokenreview", false, verbs: CREATE_ONLY, short: NONE, categories: NONE, sub: &[]),
    // scheduling.k8s.io/v1
    resource!("scheduling.k8s.io", "v1", "PriorityClass", "priorityclasses", "priorityclass", false, verbs: CRUD_VERBS, short: &["pc"], categories: NONE, sub: &[]),
    // batch/v1
    resource!("batch", "v1", "CronJob", "cronjobs", "cronjob", true, verbs: CRUD_VERBS, short: &["cj"], categories: ALL, sub: &[status("batch", "v1", "CronJob")]),
    resource!("batch", "v1", "Job", "jobs", "job", true, verbs: CRUD_VERBS, short: NONE, categories: ALL, sub: &[status("batch", "v1", "Job")]),
    // apiextensions.k8s.io/v1: definitions are stored and listed (kubectl's client-side
    // validation lists them); serving the custom resources they define is future work.
    resource!("apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions", "customresourcedefinition", false, verbs: CRUD_VERBS, short: &["crd", "crds"], categories: &["api-extensions"],
        sub: &[status("apiextensions.k8s.io", "v1", "CustomResourceDefinition")]),
    // policy/v1
    resource!("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", "poddisruptionbudget", true, verbs: CRUD_VERBS, short: &["pdb"], categories: NONE, sub: &[status("policy", "v1", "PodDisruptionBudget")]),
];

/// The API groups in discovery order, each with its one served version.
pub fn groups() -> Vec<(&'static str, &'static str)> {
    let mut out: Vec<(&str, &str)> = Vec::new();
    for r in RESOURCES {
        if !r.group.is_empty() && !out.iter().any(|(g, _)| *g == r.group) {
            out.push((r.group, r.version));
        }
    }
    out
}

/// Looks a resource up by group, version and plural.
pub fn find(group: &str, version: &str, plural: &str) -> Option<&'static ResourceDescriptor> {
    RESOURCES.iter().find(|r| r.group == group && r.version == version && r.plural == plural)
}

/// Looks a resource up by group and kind.
pub fn find_kind(group: &str, kind: &str) -> Option<&'static ResourceDescriptor> {
    RESOURCES.iter().find(|r| r.group == group && r.kind == kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plurals_are_unique_within_a_group_version() {
        for (i, a) in RESOURCES.iter().enumerate() {
            for b in &RESOURCES[i + 1..] {
                assert!(!(a.group == b.group && a.version == b.version && a.plural == b.plural), "duplicate {}/{}", a.group, a.plural);
            }
        }
    }

    #[test]
    fn apps_group_lists_the_seed_resources() {
        let apps: Vec<_> = RESOURCES.iter().filter(|r| r.group == "apps").map(|r| r.plural).collect();
        for want in ["controllerrevisions", "daemonsets", "deployments", "replicasets", "statefulsets"] {
            assert!(apps.contains(&want), "{want}");
        }
    }
}
