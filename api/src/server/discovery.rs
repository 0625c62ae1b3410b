//! Discovery (`/api`, `/apis`, per group-version resource lists), `/version`, health, and
//! the OpenAPI documents. Legacy discovery only: every kubectl from 1.27 on falls back to it
//! when a server does not answer the aggregated form.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use super::negotiate::{json_response, raw_json};
use super::SharedState;
use crate::error::ApiError;
use crate::resources::registry::{self, RESOURCES};

/// The Kubernetes version the API follows.
pub const KUBE_MAJOR: &str = "1";
pub const KUBE_MINOR: &str = "33";

pub async fn version() -> Response {
    json_response(
        StatusCode::OK,
        &json!({
            "major": KUBE_MAJOR,
            "minor": KUBE_MINOR,
            "gitVersion": format!("v{KUBE_MAJOR}.{KUBE_MINOR}.0-deltakube.{}", env!("CARGO_PKG_VERSION")),
            "gitCommit": "deltakube",
            "gitTreeState": "clean",
            "buildDate": "2026-11-26T00:00:00Z",
            "goVersion": "rust",
            "compiler": "rustc",
            "platform": "linux/amd64",
        }),
    )
}

pub async fn ok() -> Response {
    let mut r = (StatusCode::OK, "ok").into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    r
}

pub async fn core_versions(State(state): State<SharedState>, headers: HeaderMap) -> Response {
    if let Some(version) = aggregated_version(&headers) {
        return aggregated(version, true);
    }
    json_response(
        StatusCode::OK,
        &json!({
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": state.advertise_address}],
        }),
    )
}

fn group_json(group: &str, version: &str) -> Value {
    let gv = json!({"groupVersion": format!("{group}/{version}"), "version": version});
    json!({"name": group, "versions": [gv.clone()], "preferredVersion": gv})
}

pub async fn group_list(headers: HeaderMap) -> Response {
    if let Some(version) = aggregated_version(&headers) {
        return aggregated(version, false);
    }
    let groups: Vec<Value> = registry::groups().into_iter().map(|(g, v)| group_json(g, v)).collect();
    json_response(StatusCode::OK, &json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}))
}

/// The aggregated discovery version the client asks for first, if any: `v2` (kubectl 1.30+)
/// or `v2beta1` (1.27–1.29). Clients list it before plain JSON in Accept.
fn aggregated_version(headers: &HeaderMap) -> Option<&'static str> {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok())?;
    for media in accept.split(',') {
        if !media.contains("as=APIGroupDiscoveryList") || !media.contains("g=apidiscovery.k8s.io") {
            continue;
        }
        let version = media.split(';').map(str::trim).find_map(|p| p.strip_prefix("v="));
        match version {
            Some("v2") => return Some("v2"),
            Some("v2beta1") => return Some("v2beta1"),
            _ => {}
        }
    }
    None
}

/// `APIGroupDiscoveryList`: every group with its resources in one document.
fn aggregated(version: &'static str, core: bool) -> Response {
    let groups: Vec<(&str, &str)> = if core { vec![("", "v1")] } else { registry::groups() };
    let items: Vec<Value> = groups
        .into_iter()
        .map(|(group, gv)| {
            let resources: Vec<Value> = RESOURCES
                .iter()
                .filter(|r| r.group == group && r.version == gv)
                .map(|r| {
                    let subresources: Vec<Value> = r
                        .subresources
                        .iter()
                        .map(|s| json!({"subresource": s.name, "responseKind": {"group": s.group, "version": s.version, "kind": s.kind}, "verbs": s.verbs}))
                        .collect();
                    json!({
                        "resource": r.plural,
                        "responseKind": {"group": r.group, "version": r.version, "kind": r.kind},
                        "scope": if r.namespaced { "Namespaced" } else { "Cluster" },
                        "singularResource": r.singular,
                        "verbs": r.verbs,
                        "shortNames": r.short_names,
                        "categories": r.categories,
                        "subresources": subresources,
                    })
                })
                .collect();
            json!({"metadata": {"name": group}, "versions": [{"version": gv, "resources": resources, "freshness": "Current"}]})
        })
        .collect();
    let body = json!({"kind": "APIGroupDiscoveryList", "apiVersion": format!("apidiscovery.k8s.io/{version}"), "metadata": {}, "items": items});
    let mut r = json_response(StatusCode::OK, &body);
    let content_type = format!("application/json;g=apidiscovery.k8s.io;v={version};as=APIGroupDiscoveryList");
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_str(&content_type).expect("ascii"));
    r.headers_mut().insert(header::VARY, HeaderValue::from_static("Accept"));
    r
}

fn resource_list(group: &str, version: &str) -> Value {
    let mut resources = Vec::new();
    for r in RESOURCES.iter().filter(|r| r.group == group && r.version == version) {
        resources.push(json!({
            "name": r.plural,
            "singularName": r.singular,
            "namespaced": r.namespaced,
            "kind": r.kind,
            "verbs": r.verbs,
            "shortNames": r.short_names,
            "categories": r.categories,
        }));
        for s in r.subresources {
            let mut entry = json!({
                "name": format!("{}/{}", r.plural, s.name),
                "singularName": "",
                "namespaced": r.namespaced,
                "kind": s.kind,
                "verbs": s.verbs,
            });
            if s.group != r.group || s.version != r.version {
                entry["group"] = json!(s.group);
                entry["version"] = json!(s.version);
            }
            resources.push(entry);
        }
    }
    let gv = if group.is_empty() { version.to_string() } else { format!("{group}/{version}") };
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources})
}

/// Answers `/api/v1`, `/apis/<group>` and `/apis/<group>/<version>`; None for other paths.
pub fn group_document(path: &str) -> Option<Response> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    match parts.as_slice() {
        ["api", "v1"] => Some(json_response(StatusCode::OK, &resource_list("", "v1"))),
        ["apis", group] => {
            let (g, v) = registry::groups().into_iter().find(|(g, _)| g == group)?;
            let mut doc = group_json(g, v);
            doc["kind"] = json!("APIGroup");
            doc["apiVersion"] = json!("v1");
            Some(json_response(StatusCode::OK, &doc))
        }
        ["apis", group, version] => {
            registry::groups().into_iter().find(|(g, v)| g == group && v == version)?;
            Some(json_response(StatusCode::OK, &resource_list(group, version)))
        }
        _ => None,
    }
}

/// `/openapi/v2`: protobuf when asked for (kubectl 1.27/1.28 validation), JSON otherwise.
pub async fn openapi_v2(State(state): State<SharedState>, headers: HeaderMap) -> Response {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
    if accept.contains("protobuf") {
        let mut r = (StatusCode::OK, state.openapi.v2_protobuf()).into_response();
        r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/com.github.proto-openapi.spec.v2.v1.0+protobuf"));
        return r;
    }
    raw_json(StatusCode::OK, state.openapi.v2_json())
}

pub async fn openapi_v3_index(State(state): State<SharedState>) -> Response {
    raw_json(StatusCode::OK, state.openapi.v3_index())
}

pub async fn openapi_v3_document(State(state): State<SharedState>, Path(path): Path<String>) -> Response {
    match state.openapi.v3_document(path.trim_matches('/')) {
        Some((_hash, body)) => {
            let mut r = raw_json(StatusCode::OK, body);
            r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("public, immutable"));
            r
        }
        None => ApiError::new(404, "NotFound", format!("no OpenAPI document for {path}")).into_response(),
    }
}
