//! The schema catalog: maps each served group/version/kind to its `k8s-openapi` type, asks
//! schemars for that type's schema and every definition it references, and decorates the
//! definitions the way upstream's published OpenAPI does (`x-kubernetes-group-version-kind`,
//! synthesised `…List` kinds, the common patch strategies).
//!
//! Definitions are kept in Swagger 2.0 form (`$ref: "#/definitions/<name>"`); the v3 writer
//! rewrites the references.

use std::collections::{BTreeSet, HashMap};

use schemars::generate::{SchemaGenerator, SchemaSettings};
use schemars::JsonSchema;
use serde_json::{json, Map, Value};

use super::ServedKind;

/// `(group, version, kind)`, with `""` for the core group.
pub(crate) type Gvk = (String, String, String);

pub(crate) fn gvk(group: &str, version: &str, kind: &str) -> Gvk {
    (group.to_string(), version.to_string(), kind.to_string())
}

/// The upstream object form of a GVK, as used on operations and in definition lists.
pub(crate) fn gvk_json(g: &Gvk) -> Value {
    json!({ "group": g.0, "kind": g.2, "version": g.1 })
}

/// Prefix of every definition reference in the catalog.
pub(crate) const REF_PREFIX: &str = "#/definitions/";

pub(crate) const STATUS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Status";
pub(crate) const DELETE_OPTIONS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions";
pub(crate) const PATCH: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Patch";

type Register = fn(&mut SchemaGenerator) -> String;
type Check = fn(&serde_json::Value) -> Result<(), String>;

fn register<T: JsonSchema>(gen: &mut SchemaGenerator) -> String {
    gen.subschema_for::<T>();
    T::schema_name().into_owned()
}

/// Decodes the JSON into the kind's k8s-openapi type, as upstream's typed decoding does: a
/// value of the wrong type fails; missing required fields default, as k8s-openapi does.
fn check<T: serde::de::DeserializeOwned>(value: &serde_json::Value) -> Result<(), String> {
    T::deserialize(value).map(|_| ()).map_err(|e| e.to_string())
}

macro_rules! type_table {
    ($( ($g:expr, $v:expr, $k:expr) => $t:ty ),* $(,)?) => {
        /// Every kind this module knows a Rust type for.
        static TYPES: &[(&str, &str, &str, Register)] = &[
            $( ($g, $v, $k, register::<$t> as Register) ),*
        ];
        /// The typed check of every kind, in the same order.
        static CHECKS: &[(&str, &str, &str, Check)] = &[
            $( ($g, $v, $k, check::<$t> as Check) ),*
        ];
    };
}

/// Stands in for meta/v1 `Patch`: its schema, and a decoder that accepts any body (a patch
/// is free-form, and k8s-openapi gives `Patch` no Deserialize).
struct PatchBody;

impl JsonSchema for PatchBody {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        meta::Patch::schema_name()
    }

    fn schema_id() -> std::borrow::Cow<'static, str> {
        meta::Patch::schema_id()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> schemars::Schema {
        meta::Patch::json_schema(generator)
    }
}

impl<'de> serde::Deserialize<'de> for PatchBody {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        serde::de::IgnoredAny::deserialize(d)?;
        Ok(PatchBody)
    }
}

/// Checks an object against its kind's Rust type; `Ok` for kinds without one.
pub fn check_types(group: &str, version: &str, kind: &str, value: &serde_json::Value) -> Result<(), String> {
    match CHECKS.iter().find(|c| c.0 == group && c.1 == version && c.2 == kind) {
        Some(c) => (c.3)(value),
        None => Ok(()),
    }
}

use k8s_openapi::api as a;
use k8s_openapi::apimachinery::pkg::apis::meta::v1 as meta;

type_table! {
    ("", "v1", "Namespace") => a::core::v1::Namespace,
    ("", "v1", "Pod") => a::core::v1::Pod,
    ("", "v1", "Binding") => a::core::v1::Binding,
    ("", "v1", "Service") => a::core::v1::Service,
    ("", "v1", "Endpoints") => a::core::v1::Endpoints,
    ("", "v1", "Node") => a::core::v1::Node,
    ("", "v1", "ConfigMap") => a::core::v1::ConfigMap,
    ("", "v1", "Secret") => a::core::v1::Secret,
    ("", "v1", "ServiceAccount") => a::core::v1::ServiceAccount,
    ("", "v1", "ResourceQuota") => a::core::v1::ResourceQuota,
    ("", "v1", "LimitRange") => a::core::v1::LimitRange,
    ("", "v1", "Event") => a::core::v1::Event,
    ("", "v1", "ReplicationController") => a::core::v1::ReplicationController,
    ("", "v1", "PersistentVolume") => a::core::v1::PersistentVolume,
    ("", "v1", "PersistentVolumeClaim") => a::core::v1::PersistentVolumeClaim,
    ("", "v1", "PodTemplate") => a::core::v1::PodTemplate,
    ("", "v1", "ComponentStatus") => a::core::v1::ComponentStatus,
    ("apps", "v1", "ControllerRevision") => a::apps::v1::ControllerRevision,
    ("apps", "v1", "DaemonSet") => a::apps::v1::DaemonSet,
    ("apps", "v1", "Deployment") => a::apps::v1::Deployment,
    ("apps", "v1", "ReplicaSet") => a::apps::v1::ReplicaSet,
    ("apps", "v1", "StatefulSet") => a::apps::v1::StatefulSet,
    ("autoscaling", "v1", "Scale") => a::autoscaling::v1::Scale,
    ("autoscaling", "v1", "HorizontalPodAutoscaler") => a::autoscaling::v1::HorizontalPodAutoscaler,
    ("autoscaling", "v2", "HorizontalPodAutoscaler") => a::autoscaling::v2::HorizontalPodAutoscaler,
    ("policy", "v1", "Eviction") => a::policy::v1::Eviction,
    ("policy", "v1", "PodDisruptionBudget") => a::policy::v1::PodDisruptionBudget,
    ("authentication.k8s.io", "v1", "TokenRequest") => a::authentication::v1::TokenRequest,
    ("authentication.k8s.io", "v1", "TokenReview") => a::authentication::v1::TokenReview,
    ("authentication.k8s.io", "v1", "SelfSubjectReview") => a::authentication::v1::SelfSubjectReview,
    ("authorization.k8s.io", "v1", "LocalSubjectAccessReview") => a::authorization::v1::LocalSubjectAccessReview,
    ("authorization.k8s.io", "v1", "SelfSubjectAccessReview") => a::authorization::v1::SelfSubjectAccessReview,
    ("authorization.k8s.io", "v1", "SelfSubjectRulesReview") => a::authorization::v1::SelfSubjectRulesReview,
    ("authorization.k8s.io", "v1", "SubjectAccessReview") => a::authorization::v1::SubjectAccessReview,
    ("discovery.k8s.io", "v1", "EndpointSlice") => a::discovery::v1::EndpointSlice,
    ("coordination.k8s.io", "v1", "Lease") => a::coordination::v1::Lease,
    ("events.k8s.io", "v1", "Event") => a::events::v1::Event,
    ("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding") => a::rbac::v1::ClusterRoleBinding,
    ("rbac.authorization.k8s.io", "v1", "ClusterRole") => a::rbac::v1::ClusterRole,
    ("rbac.authorization.k8s.io", "v1", "RoleBinding") => a::rbac::v1::RoleBinding,
    ("rbac.authorization.k8s.io", "v1", "Role") => a::rbac::v1::Role,
    ("batch", "v1", "CronJob") => a::batch::v1::CronJob,
    ("batch", "v1", "Job") => a::batch::v1::Job,
    ("networking.k8s.io", "v1", "Ingress") => a::networking::v1::Ingress,
    ("networking.k8s.io", "v1", "IngressClass") => a::networking::v1::IngressClass,
    ("networking.k8s.io", "v1", "NetworkPolicy") => a::networking::v1::NetworkPolicy,
    ("storage.k8s.io", "v1", "StorageClass") => a::storage::v1::StorageClass,
    ("storage.k8s.io", "v1", "CSIDriver") => a::storage::v1::CSIDriver,
    ("storage.k8s.io", "v1", "CSINode") => a::storage::v1::CSINode,
    ("storage.k8s.io", "v1", "VolumeAttachment") => a::storage::v1::VolumeAttachment,
    ("scheduling.k8s.io", "v1", "PriorityClass") => a::scheduling::v1::PriorityClass,
    ("node.k8s.io", "v1", "RuntimeClass") => a::node::v1::RuntimeClass,
    ("certificates.k8s.io", "v1", "CertificateSigningRequest") => a::certificates::v1::CertificateSigningRequest,
    ("admissionregistration.k8s.io", "v1", "MutatingWebhookConfiguration") => a::admissionregistration::v1::MutatingWebhookConfiguration,
    ("admissionregistration.k8s.io", "v1", "ValidatingWebhookConfiguration") => a::admissionregistration::v1::ValidatingWebhookConfiguration,
    ("apiextensions.k8s.io", "v1", "CustomResourceDefinition") => k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
    ("", "v1", "Status") => meta::Status,
    ("", "v1", "DeleteOptions") => meta::DeleteOptions,
    ("", "v1", "Patch") => PatchBody,
}

/// The Rust type registered for a kind named by a subresource (which gives no group): the
/// parent's own kind first, then the same group, then core, then any group.
pub(crate) fn subresource_gvk(parent: &Gvk, kind: &str) -> Gvk {
    if kind == parent.2 {
        return parent.clone();
    }
    let pick = TYPES.iter().filter(|t| t.2 == kind);
    let best = pick.clone().find(|t| t.0 == parent.0).or_else(|| pick.clone().find(|t| t.0.is_empty())).or_else(|| pick.clone().next());
    match best {
        Some(t) => gvk(t.0, t.1, t.2),
        // Option kinds of connect subresources (PodExecOptions, …): core, no schema.
        None => gvk("", "v1", kind),
    }
}

/// All definitions, and which definition describes which kind.
pub(crate) struct Catalog {
    pub defs: Map<String, Value>,
    pub by_gvk: HashMap<Gvk, String>,
}

impl Catalog {
    pub fn build(kinds: &[ServedKind]) -> Catalog {
        let mut settings = SchemaSettings::draft07();
        settings.transforms.clear();
        settings.definitions_path = "/definitions".into();
        let mut gen = settings.into_generator();
        let mut by_gvk: HashMap<Gvk, String> = HashMap::new();
        let mut add = |gen: &mut SchemaGenerator, g: &Gvk| {
            if by_gvk.contains_key(g) {
                return;
            }
            if let Some(t) = TYPES.iter().find(|t| t.0 == g.0 && t.1 == g.1 && t.2 == g.2) {
                let name = (t.3)(gen);
                by_gvk.insert(g.clone(), name);
            }
        };
        for meta_kind in ["Status", "DeleteOptions", "Patch"] {
            add(&mut gen, &gvk("", "v1", meta_kind));
        }
        gen.subschema_for::<meta::ListMeta>();
        let mut listed = Vec::new();
        for k in kinds {
            let g = gvk(k.group, k.version, k.kind);
            add(&mut gen, &g);
            if k.verbs.contains(&"list") {
                listed.push(g.clone());
            }
            for (_, sub_kind) in &k.subresources {
                add(&mut gen, &subresource_gvk(&g, sub_kind));
            }
        }
        let mut defs = gen.take_definitions(false);
        by_gvk.remove(&gvk("", "v1", "Patch"));

        // The GVK extension, a list on definitions as upstream.
        let mut ext: Vec<(String, Value)> = Vec::new();
        for (g, name) in &by_gvk {
            ext.push((name.clone(), gvk_json(g)));
        }
        // DeleteOptions is accepted in every served group version, as upstream lists it.
        let mut gvs: BTreeSet<(String, String)> = BTreeSet::new();
        for k in kinds {
            gvs.insert((k.group.to_string(), k.version.to_string()));
        }
        for (gr, v) in &gvs {
            if !gr.is_empty() {
                ext.push((DELETE_OPTIONS.to_string(), gvk_json(&gvk(gr, v, "DeleteOptions"))));
            }
        }
        ext.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.to_string().cmp(&b.1.to_string())));
        for (name, value) in ext {
            if let Some(Value::Object(def)) = defs.get_mut(&name) {
                let list = def.entry("x-kubernetes-group-version-kind").or_insert_with(|| Value::Array(Vec::new()));
                if let Value::Array(items) = list {
                    if !items.contains(&value) {
                        items.push(value);
                    }
                }
            }
        }

        // `<Kind>List` definitions, which k8s-openapi models generically.
        for g in listed {
            let Some(item) = by_gvk.get(&g).cloned() else {
                continue;
            };
            let list_name = format!("{item}List");
            let list_gvk = gvk(&g.0, &g.1, &format!("{}List", g.2));
            defs.insert(list_name.clone(), list_schema(&g.2, &item, &list_gvk));
            by_gvk.insert(list_gvk, list_name);
        }
        apply_strategies(&mut defs);
        relax_metadata(&mut defs);
        Catalog { defs, by_gvk }
    }

    /// The definition describing a kind, if any.
    pub fn def_for(&self, g: &Gvk) -> Option<&str> {
        self.by_gvk.get(g).map(String::as_str)
    }

    /// The definitions reachable from `roots`, roots included, in catalog order.
    pub fn closure<'a>(&self, roots: impl IntoIterator<Item = &'a str>) -> Vec<String> {
        let mut seen: BTreeSet<String> = BTreeSet::new();
        let mut stack: Vec<String> = roots.into_iter().map(str::to_string).collect();
        while let Some(name) = stack.pop() {
            if !seen.insert(name.clone()) {
                continue;
            }
            if let Some(def) = self.defs.get(&name) {
                collect_refs(def, &mut stack);
            }
        }
        self.defs.keys().filter(|k| seen.contains(*k)).cloned().collect()
    }
}

fn collect_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                match (k.as_str(), x) {
                    ("$ref", Value::String(r)) => {
                        if let Some(name) = r.strip_prefix(REF_PREFIX) {
                            out.push(name.to_string());
                        }
                    }
                    _ => collect_refs(x, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|x| collect_refs(x, out)),
        _ => {}
    }
}

fn list_schema(kind: &str, item_def: &str, list_gvk: &Gvk) -> Value {
    json!({
        "description": format!("{kind}List is a list of {kind} objects."),
        "type": "object",
        "required": ["items"],
        "properties": {
            "apiVersion": {
                "description": "APIVersion defines the versioned schema of this representation of an object.",
                "type": "string"
            },
            "items": {
                "description": format!("List of {kind} objects."),
                "type": "array",
                "items": { "$ref": format!("{REF_PREFIX}{item_def}") }
            },
            "kind": {
                "description": "Kind is a string value representing the REST resource this object represents.",
                "type": "string"
            },
            "metadata": {
                "description": "Standard list metadata.",
                "$ref": format!("{REF_PREFIX}io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta")
            }
        },
        "x-kubernetes-group-version-kind": [gvk_json(list_gvk)]
    })
}

// ---- Strategic-merge-patch hints ----
//
// Upstream publishes `x-kubernetes-patch-strategy` and `x-kubernetes-patch-merge-key` on list
// fields, and k8s-openapi's schemas leave them out. kubectl's client-side `apply` reads them
// (from `/openapi/v2` up to 1.28, from v3 later) to compute three-way strategic merge patches;
// without them it would treat lists such as `containers` as atomic. This table carries the
// commonly used ones; fields not listed are published without a strategy ("replace").

/// `(definition, field, strategy, merge key)`.
const STRATEGIES: &[(&str, &str, &str, Option<&str>)] = &[
    ("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta", "finalizers", "merge", None),
    ("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta", "ownerReferences", "merge", Some("uid")),
    ("io.k8s.api.core.v1.PodSpec", "containers", "merge", Some("name")),
    ("io.k8s.api.core.v1.PodSpec", "initContainers", "merge", Some("name")),
    ("io.k8s.api.core.v1.PodSpec", "ephemeralContainers", "merge", Some("name")),
    ("io.k8s.api.core.v1.PodSpec", "volumes", "merge,retainKeys", Some("name")),
    ("io.k8s.api.core.v1.PodSpec", "imagePullSecrets", "merge", Some("name")),
    ("io.k8s.api.core.v1.PodSpec", "hostAliases", "merge", Some("ip")),
    ("io.k8s.api.core.v1.PodSpec", "topologySpreadConstraints", "merge", Some("topologyKey")),
    ("io.k8s.api.core.v1.PodSpec", "schedulingGates", "merge", Some("name")),
    ("io.k8s.api.core.v1.PodSpec", "resourceClaims", "merge,retainKeys", Some("name")),
    ("io.k8s.api.core.v1.Container", "env", "merge", Some("name")),
    ("io.k8s.api.core.v1.Container", "ports", "merge", Some("containerPort")),
    ("io.k8s.api.core.v1.Container", "volumeMounts", "merge", Some("mountPath")),
    ("io.k8s.api.core.v1.Container", "volumeDevices", "merge", Some("devicePath")),
    ("io.k8s.api.core.v1.EphemeralContainer", "env", "merge", Some("name")),
    ("io.k8s.api.core.v1.EphemeralContainer", "ports", "merge", Some("containerPort")),
    ("io.k8s.api.core.v1.EphemeralContainer", "volumeMounts", "merge", Some("mountPath")),
    ("io.k8s.api.core.v1.EphemeralContainer", "volumeDevices", "merge", Some("devicePath")),
    ("io.k8s.api.core.v1.PodStatus", "conditions", "merge", Some("type")),
    ("io.k8s.api.core.v1.PodStatus", "podIPs", "merge", Some("ip")),
    ("io.k8s.api.core.v1.PodStatus", "hostIPs", "merge", Some("ip")),
    ("io.k8s.api.core.v1.ServiceSpec", "ports", "merge", Some("port")),
    ("io.k8s.api.core.v1.ServiceStatus", "conditions", "merge", Some("type")),
    ("io.k8s.api.core.v1.ServiceAccount", "secrets", "merge", Some("name")),
    ("io.k8s.api.core.v1.NodeSpec", "podCIDRs", "merge", None),
    ("io.k8s.api.core.v1.NodeStatus", "conditions", "merge", Some("type")),
    ("io.k8s.api.core.v1.NodeStatus", "addresses", "merge", Some("type")),
    ("io.k8s.api.core.v1.NamespaceStatus", "conditions", "merge", Some("type")),
    ("io.k8s.api.core.v1.PersistentVolumeClaimStatus", "conditions", "merge", Some("type")),
    ("io.k8s.api.core.v1.ReplicationControllerStatus", "conditions", "merge", Some("type")),
    ("io.k8s.api.apps.v1.DeploymentSpec", "strategy", "retainKeys", None),
    ("io.k8s.api.apps.v1.DeploymentStatus", "conditions", "merge", Some("type")),
    ("io.k8s.api.apps.v1.ReplicaSetStatus", "conditions", "merge", Some("type")),
    ("io.k8s.api.apps.v1.StatefulSetStatus", "conditions", "merge", Some("type")),
    ("io.k8s.api.apps.v1.DaemonSetStatus", "conditions", "merge", Some("type")),
    ("io.k8s.api.batch.v1.JobStatus", "conditions", "merge", Some("type")),
    ("io.k8s.api.policy.v1.PodDisruptionBudgetStatus", "conditions", "merge", Some("type")),
];

/// Drops `metadata` from every `required` list. k8s-openapi models ObjectMeta as a plain
/// (non-optional) field, but upstream's schemas never require it, and kubectl's client-side
/// validation would otherwise refuse objects such as a TokenReview written without one.
fn relax_metadata(defs: &mut Map<String, Value>) {
    for def in defs.values_mut() {
        if let Some(Value::Array(required)) = def.get_mut("required") {
            required.retain(|f| f != "metadata");
        }
        if def.get("required").and_then(Value::as_array).is_some_and(Vec::is_empty) {
            if let Some(obj) = def.as_object_mut() {
                obj.remove("required");
            }
        }
    }
}

/// Adds the patch-strategy extensions to the catalog's definitions.
fn apply_strategies(defs: &mut Map<String, Value>) {
    for (def, field, strategy, key) in STRATEGIES {
        let Some(prop) = defs.get_mut(*def).and_then(|d| d.get_mut("properties")).and_then(|p| p.get_mut(*field)).and_then(Value::as_object_mut) else {
            continue;
        };
        prop.insert("x-kubernetes-patch-strategy".into(), Value::String(strategy.to_string()));
        if let Some(key) = key {
            prop.insert("x-kubernetes-patch-merge-key".into(), Value::String(key.to_string()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subresource_kinds_resolve_to_their_groups() {
        let deploy = gvk("apps", "v1", "Deployment");
        assert_eq!(subresource_gvk(&deploy, "Scale"), gvk("autoscaling", "v1", "Scale"));
        assert_eq!(subresource_gvk(&deploy, "Deployment"), deploy);
        let pod = gvk("", "v1", "Pod");
        assert_eq!(subresource_gvk(&pod, "Eviction"), gvk("policy", "v1", "Eviction"));
        assert_eq!(subresource_gvk(&pod, "PodExecOptions"), gvk("", "v1", "PodExecOptions"));
        let ev = gvk("events.k8s.io", "v1", "Event");
        assert_eq!(subresource_gvk(&ev, "Event"), ev);
    }
}
