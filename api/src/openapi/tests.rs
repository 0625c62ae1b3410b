//! Tests of the built documents against what kubectl reads from them.

use prost::Message;
use serde_json::{json, Value};

use super::v2_proto::{self, NonBodyOneof, ParameterOneof, ParametersItemOneof};
use super::{OpenApiDocs, ServedKind};

/// The kinds the server really serves: the registry, as the apiserver passes it in.
pub(crate) fn served() -> Vec<ServedKind> {
    crate::apiserver::served_kinds()
}

fn docs() -> &'static OpenApiDocs {
    static DOCS: std::sync::OnceLock<OpenApiDocs> = std::sync::OnceLock::new();
    DOCS.get_or_init(|| OpenApiDocs::build(&served()))
}

fn gv_key(group: &str) -> String {
    if group.is_empty() {
        "api/v1".into()
    } else {
        format!("apis/{group}/v1")
    }
}

fn gvk(group: &str, kind: &str) -> Value {
    json!({ "group": group, "kind": kind, "version": "v1" })
}

#[test]
fn every_kind_has_a_v3_document_with_its_gvk() {
    let index: Value = serde_json::from_slice(&docs().v3_index()).unwrap();
    for kind in served() {
        let key = gv_key(kind.group);
        let (hash, body) = docs().v3_document(&key).unwrap_or_else(|| panic!("no document {key}"));
        let url = index["paths"][&key]["serverRelativeURL"].as_str().unwrap();
        assert_eq!(url, format!("/openapi/v3/{key}?hash={hash}"));
        let doc: Value = serde_json::from_slice(&body).unwrap();
        let want = gvk(kind.group, kind.kind);
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        let found = schemas.values().any(|s| s["x-kubernetes-group-version-kind"].as_array().is_some_and(|l| l.contains(&want)));
        assert!(found, "{key}: no schema for {want}");
        // Every reference resolves inside the document.
        let text = String::from_utf8(body.to_vec()).unwrap();
        for part in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
            let name = &part[..part.find('"').unwrap()];
            assert!(schemas.contains_key(name), "{key}: dangling {name}");
        }
        // What explain looks at: the GVK on an operation of the collection path.
        let collection = if kind.namespaced { format!("/{key}/namespaces/{{namespace}}/{}", kind.plural) } else { format!("/{key}/{}", kind.plural) };
        let ops = &doc["paths"][&collection];
        let op = ["get", "post"].iter().map(|m| &ops[*m]).find(|o| o.is_object()).expect("an operation");
        assert_eq!(op["x-kubernetes-group-version-kind"], want);
    }
}

#[test]
fn patch_operations_declare_field_validation_and_patch_types() {
    let (_, body) = docs().v3_document("apis/apps/v1").unwrap();
    let doc: Value = serde_json::from_slice(&body).unwrap();
    let mut patches = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        let Some(patch) = item.get("patch") else {
            continue;
        };
        patches += 1;
        let names: Vec<&str> = patch["parameters"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
        assert!(names.contains(&"fieldValidation"), "{path}");
        let content = patch["requestBody"]["content"].as_object().unwrap();
        for t in ["application/json-patch+json", "application/merge-patch+json", "application/strategic-merge-patch+json", "application/apply-patch+yaml"] {
            assert!(content.contains_key(t), "{path} {t}");
        }
    }
    assert!(patches >= 10);
    let dep = &doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
    assert_eq!(dep["x-kubernetes-group-version-kind"], gvk("apps", "Deployment"));
    let scale = &doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"]["patch"];
    assert_eq!(scale["x-kubernetes-group-version-kind"], json!({"group": "autoscaling", "kind": "Scale", "version": "v1"}));
    assert!(doc["components"]["schemas"]["io.k8s.api.autoscaling.v1.Scale"].is_object());
}

#[test]
fn explain_finds_descriptions() {
    let (_, body) = docs().v3_document("api/v1").unwrap();
    let doc: Value = serde_json::from_slice(&body).unwrap();
    let svc = &doc["components"]["schemas"]["io.k8s.api.core.v1.Service"];
    assert!(svc["description"].as_str().unwrap().contains("Service"));
    let spec = &svc["properties"]["spec"];
    assert_eq!(spec["allOf"][0]["$ref"], "#/components/schemas/io.k8s.api.core.v1.ServiceSpec");
    assert!(spec["description"].as_str().unwrap().starts_with("Spec defines"));
    let ports = &doc["components"]["schemas"]["io.k8s.api.core.v1.ServiceSpec"]["properties"]["ports"];
    assert_eq!(ports["x-kubernetes-patch-merge-key"], "port");
    let meta = &doc["components"]["schemas"]["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"];
    assert!(meta["properties"]["labels"]["additionalProperties"].is_object());
}

fn yaml_gvk(exts: &[v2_proto::NamedAny]) -> Option<Value> {
    let e = exts.iter().find(|e| e.name == "x-kubernetes-group-version-kind")?;
    serde_json::from_str(&e.value.as_ref()?.yaml).ok()
}

#[test]
fn v2_protobuf_round_trips_with_gvk_extensions() {
    let bytes = docs().v2_protobuf();
    let doc = v2_proto::Document::decode(bytes.as_ref()).expect("decodes");
    assert_eq!(doc.swagger, "2.0");
    assert_eq!(doc.encode_to_vec(), bytes.to_vec());
    let defs = &doc.definitions.as_ref().unwrap().additional_properties;
    let names: std::collections::HashSet<&str> = defs.iter().map(|d| d.name.as_str()).collect();
    for kind in served() {
        let want = gvk(kind.group, kind.kind);
        let found = defs.iter().any(|d| {
            let list = yaml_gvk(&d.value.as_ref().unwrap().vendor_extension);
            list.and_then(|l| l.as_array().cloned()).is_some_and(|l| l.contains(&want))
        });
        assert!(found, "no definition for {want}");
    }
    // kube-openapi's proto parser: references point at existing definitions, arrays have one
    // item schema, a reference has neither type nor properties.
    fn check(s: &v2_proto::Schema, names: &std::collections::HashSet<&str>, at: &str) {
        if !s.r#ref.is_empty() {
            let name = s.r#ref.strip_prefix("#/definitions/").expect("definition ref");
            assert!(names.contains(name), "{at}: {name}");
            assert!(s.r#type.is_none() && s.properties.is_none(), "{at}");
        }
        if s.r#type.as_ref().is_some_and(|t| t.value == ["array"]) {
            assert_eq!(s.items.as_ref().map(|i| i.schema.len()), Some(1), "{at}");
        }
        for p in s.properties.iter().flat_map(|p| &p.additional_properties) {
            check(p.value.as_ref().unwrap(), names, &format!("{at}.{}", p.name));
        }
        for i in s.items.iter().flat_map(|i| &i.schema) {
            check(i, names, at);
        }
        if let Some(v2_proto::AdditionalPropertiesOneof::Schema(a)) = s.additional_properties.as_ref().and_then(|a| a.oneof.as_ref()) {
            check(a, names, at);
        }
    }
    for d in defs {
        check(d.value.as_ref().unwrap(), &names, &d.name);
    }
    // The PATCH of a LimitRange carries its GVK and the fieldValidation query parameter.
    let paths = &doc.paths.as_ref().unwrap().path;
    let item = paths.iter().find(|p| p.name == "/api/v1/namespaces/{namespace}/limitranges/{name}").unwrap();
    let patch = item.value.as_ref().unwrap().patch.as_ref().unwrap();
    let op_gvk: Value =
        serde_json::from_str(&patch.vendor_extension.iter().find(|e| e.name == "x-kubernetes-group-version-kind").unwrap().value.as_ref().unwrap().yaml)
            .unwrap();
    assert_eq!(op_gvk, gvk("", "LimitRange"));
    let has_fv = patch.parameters.iter().any(|p| match &p.oneof {
        Some(ParametersItemOneof::Parameter(p)) => matches!(&p.oneof, Some(ParameterOneof::NonBodyParameter(nb))
            if matches!(&nb.oneof, Some(NonBodyOneof::QueryParameterSubSchema(q)) if q.name == "fieldValidation")),
        _ => false,
    });
    assert!(has_fv);
    assert!(patch.consumes.iter().any(|c| c == "application/strategic-merge-patch+json"));
}

#[test]
fn v2_json_parses() {
    let v: Value = serde_json::from_slice(&docs().v2_json()).unwrap();
    assert_eq!(v["swagger"], "2.0");
    assert!(v["definitions"]["io.k8s.api.core.v1.PodList"]["x-kubernetes-group-version-kind"].is_array());
}

#[test]
fn unknown_fields_in_a_limit_range() {
    let lr = json!({
        "apiVersion": "v1", "kind": "LimitRange",
        "metadata": { "name": "x", "labels": { "any": "thing" }, "annotations": { "a/b": "c" } },
        "spec": { "limits": [{ "type": "Container", "defaulyRequest": { "cpu": "100m" }, "default": { "cpu": "1" } }] },
    });
    assert_eq!(docs().unknown_fields("", "v1", "LimitRange", &lr), vec!["spec.limits[0].defaulyRequest"]);
    assert!(docs().unknown_fields("", "v1", "NoSuchKind", &lr).is_empty());
}

#[test]
fn a_valid_deployment_has_no_unknown_fields() {
    let d = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": { "name": "web", "namespace": "default", "labels": { "app": "web" },
                      "managedFields": [{ "manager": "kubectl", "operation": "Apply", "fieldsType": "FieldsV1",
                                          "fieldsV1": { "f:spec": { "f:replicas": {} } } }] },
        "spec": {
            "replicas": 2,
            "selector": { "matchLabels": { "app": "web" } },
            "strategy": { "type": "RollingUpdate", "rollingUpdate": { "maxSurge": "25%", "maxUnavailable": 1 } },
            "template": {
                "metadata": { "labels": { "app": "web" } },
                "spec": {
                    "containers": [{
                        "name": "web", "image": "nginx:1.27",
                        "ports": [{ "containerPort": 80, "protocol": "TCP" }],
                        "env": [{ "name": "A", "valueFrom": { "fieldRef": { "fieldPath": "metadata.name" } } }],
                        "resources": { "limits": { "cpu": "500m", "memory": "128Mi" }, "requests": { "cpu": 1 } },
                        "readinessProbe": { "httpGet": { "path": "/", "port": "http" }, "periodSeconds": 5 },
                        "volumeMounts": [{ "name": "data", "mountPath": "/data" }],
                    }],
                    "volumes": [{ "name": "data", "emptyDir": {} }],
                    "nodeSelector": { "kubernetes.io/os": "linux" },
                },
            },
        },
        "status": { "replicas": 2, "conditions": [{ "type": "Available", "status": "True" }] },
    });
    assert_eq!(docs().unknown_fields("apps", "v1", "Deployment", &d), Vec::<String>::new());
    let mut bad = d.clone();
    bad["spec"]["template"]["spec"]["containers"][0]["imagePullPolice"] = json!("Always");
    bad["metadata"]["nmae"] = json!("x");
    assert_eq!(docs().unknown_fields("apps", "v1", "Deployment", &bad), vec!["metadata.nmae", "spec.template.spec.containers[0].imagePullPolice"]);
}
