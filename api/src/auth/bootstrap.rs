//! Upstream's bootstrap RBAC policy (the roles that `kubectl auth can-i` and users expect)
//! and the namespaces every cluster starts with. Created at startup when absent.

use serde_json::{json, Value};

use crate::object;
use crate::resources::registry;
use crate::store::{Store, StoreError};

const READ: &[&str] = &["get", "list", "watch"];
const WRITE: &[&str] = &["create", "delete", "deletecollection", "patch", "update"];

fn rule(groups: &[&str], resources: &[&str], verbs: &[&str]) -> Value {
    json!({"apiGroups": groups, "resources": resources, "verbs": verbs})
}

fn non_resource(urls: &[&str], verbs: &[&str]) -> Value {
    json!({"nonResourceURLs": urls, "verbs": verbs})
}

/// Resources that `view` may read, by group (secrets excluded, as upstream).
fn viewable() -> Vec<Value> {
    vec![
        rule(
            &[""],
            &[
                "configmaps",
                "endpoints",
                "persistentvolumeclaims",
                "persistentvolumeclaims/status",
                "pods",
                "pods/log",
                "pods/status",
                "replicationcontrollers",
                "replicationcontrollers/scale",
                "replicationcontrollers/status",
                "serviceaccounts",
                "services",
                "services/status",
                "bindings",
                "events",
                "limitranges",
                "namespaces/status",
                "resourcequotas",
                "resourcequotas/status",
                "namespaces",
            ],
            READ,
        ),
        rule(
            &["apps"],
            &[
                "controllerrevisions",
                "daemonsets",
                "daemonsets/status",
                "deployments",
                "deployments/scale",
                "deployments/status",
                "replicasets",
                "replicasets/scale",
                "replicasets/status",
                "statefulsets",
                "statefulsets/scale",
                "statefulsets/status",
            ],
            READ,
        ),
        rule(&["batch"], &["cronjobs", "cronjobs/status", "jobs", "jobs/status"], READ),
        rule(&["policy"], &["poddisruptionbudgets", "poddisruptionbudgets/status"], READ),
        rule(&["discovery.k8s.io"], &["endpointslices"], READ),
        rule(&["events.k8s.io"], &["events"], READ),
    ]
}

fn editable() -> Vec<Value> {
    let mut rules = viewable();
    rules.extend([
        rule(
            &[""],
            &["pods", "pods/attach", "pods/exec", "pods/portforward", "pods/proxy", "pods/eviction"],
            &["create", "delete", "deletecollection", "patch", "update", "get", "list", "watch"],
        ),
        rule(
            &[""],
            &[
                "configmaps",
                "endpoints",
                "persistentvolumeclaims",
                "replicationcontrollers",
                "replicationcontrollers/scale",
                "secrets",
                "serviceaccounts",
                "services",
                "services/proxy",
            ],
            WRITE,
        ),
        rule(&[""], &["secrets"], READ),
        rule(&[""], &["serviceaccounts/token"], &["create"]),
        rule(
            &["apps"],
            &[
                "daemonsets",
                "deployments",
                "deployments/rollback",
                "deployments/scale",
                "replicasets",
                "replicasets/scale",
                "statefulsets",
                "statefulsets/scale",
            ],
            WRITE,
        ),
        rule(&["batch"], &["cronjobs", "jobs"], WRITE),
        rule(&["policy"], &["poddisruptionbudgets"], WRITE),
        rule(&["discovery.k8s.io"], &["endpointslices"], WRITE),
        rule(&["coordination.k8s.io"], &["leases"], &["get", "list", "watch", "create", "delete", "deletecollection", "patch", "update"]),
    ]);
    rules
}

fn cluster_role(name: &str, rules: Vec<Value>) -> Value {
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": name, "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"},
                     "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"}},
        "rules": rules,
    })
}

fn cluster_binding(name: &str, role: &str, groups: &[&str]) -> Value {
    let subjects: Vec<Value> = groups.iter().map(|g| json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": g})).collect();
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": name, "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"},
                     "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"}},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": subjects,
    })
}

/// The bootstrap objects: (plural, object).
pub fn objects() -> Vec<(&'static str, Value)> {
    let mut admin = editable();
    admin.push(rule(
        &["rbac.authorization.k8s.io"],
        &["rolebindings", "roles"],
        &["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
    ));
    admin.push(rule(&["authorization.k8s.io"], &["localsubjectaccessreviews"], &["create"]));
    let mut out = vec![
        ("clusterroles", cluster_role("cluster-admin", vec![rule(&["*"], &["*"], &["*"]), non_resource(&["*"], &["*"])])),
        ("clusterroles", cluster_role("admin", admin)),
        ("clusterroles", cluster_role("edit", editable())),
        ("clusterroles", cluster_role("view", viewable())),
        (
            "clusterroles",
            cluster_role(
                "system:discovery",
                vec![non_resource(
                    &["/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi", "/openapi/*", "/readyz", "/version", "/version/"],
                    &["get"],
                )],
            ),
        ),
        (
            "clusterroles",
            cluster_role(
                "system:basic-user",
                vec![
                    rule(&["authorization.k8s.io"], &["selfsubjectaccessreviews", "selfsubjectrulesreviews"], &["create"]),
                    rule(&["authentication.k8s.io"], &["selfsubjectreviews"], &["create"]),
                ],
            ),
        ),
        ("clusterroles", cluster_role("system:public-info-viewer", vec![non_resource(&["/healthz", "/livez", "/readyz", "/version", "/version/"], &["get"])])),
        ("clusterrolebindings", cluster_binding("cluster-admin", "cluster-admin", &["system:masters"])),
        ("clusterrolebindings", cluster_binding("system:discovery", "system:discovery", &["system:authenticated"])),
        ("clusterrolebindings", cluster_binding("system:basic-user", "system:basic-user", &["system:authenticated"])),
        ("clusterrolebindings", cluster_binding("system:public-info-viewer", "system:public-info-viewer", &["system:authenticated", "system:unauthenticated"])),
    ];
    for (name, value, description) in crate::validation::SYSTEM_PRIORITY_CLASSES {
        out.push((
            "priorityclasses",
            json!({"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": name}, "value": value, "description": description}),
        ));
    }
    for ns in crate::admission::IMMORTAL_NAMESPACES {
        out.push(("namespaces", json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})));
    }
    out
}

/// Creates every bootstrap object that is missing. Existing ones are left as they are.
pub async fn ensure(store: &dyn Store) -> Result<(), StoreError> {
    for (plural, mut obj) in objects() {
        let resource = registry::RESOURCES
            .iter()
            .find(|r| r.plural == plural && matches!(r.group, "" | "rbac.authorization.k8s.io" | "scheduling.k8s.io"))
            .expect("bootstrap kinds are registered");
        let name = object::name(&obj).unwrap_or_default().to_string();
        let key = object::key(resource, None, &name);
        if store.get(&key).await?.0.is_some() {
            continue;
        }
        {
            let meta = object::meta_mut(&mut obj);
            meta.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
            meta.insert("creationTimestamp".into(), json!(object::now_rfc3339()));
        }
        crate::defaults::apply(resource, &mut obj);
        let bytes = object::encode(&obj).map_err(|e| StoreError::Backend(e.message))?;
        match store.create(&key, bytes).await {
            Ok(_) | Err(StoreError::AlreadyExists(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
