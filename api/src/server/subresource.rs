//! Subresources: `status` (GET, PUT, PATCH), `scale` (autoscaling/v1 Scale), pod `binding`
//! and `eviction`. Streaming subresources (log, exec, attach, portforward) need a node agent.

use axum::body::Body;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value};

use super::negotiate::{content_type, decode_body, json_response};
use super::write::{self, apply_patch, Target};
use super::{read, read_body, Ctx, SharedState};
use crate::error::{ApiError, ApiResult};
use crate::object;
use crate::selectors::label::LabelSelector;

pub async fn handle(state: &SharedState, ctx: &Ctx, sub: &str, body: Body) -> ApiResult<Response> {
    let descriptor = ctx
        .resource
        .subresource(sub)
        .ok_or_else(|| ApiError::new(404, "NotFound", format!("the server could not find the requested resource ({}/{sub})", ctx.resource.plural)))?;
    let verb = ctx.info.verb;
    if !descriptor.verbs.contains(&verb) {
        return Err(ApiError::method_not_allowed(verb));
    }
    match (sub, verb) {
        ("status", "get") => read::get(state, ctx).await,
        ("status", "update") => write::update(state, ctx, body, Target::Status).await,
        ("status", "patch") => write::patch(state, ctx, body, Target::Status).await,
        ("scale", _) => scale(state, ctx, body).await,
        ("binding", "create") => bind(state, ctx, body).await,
        ("eviction", "create") => evict(state, ctx, body).await,
        ("token", "create") => token_request(state, ctx, body).await,
        ("finalize", "update") => finalize(state, ctx, body).await,
        ("log" | "exec" | "attach" | "portforward", _) => {
            let name = ctx.name()?;
            let key = object::key(ctx.resource, ctx.namespace(), name);
            let pod = state.cache.get(&key).ok_or_else(|| ApiError::not_found("", "pods", name))?;
            let node = pod.value.pointer("/spec/nodeName").and_then(Value::as_str).unwrap_or("");
            if node.is_empty() {
                return Err(ApiError::bad_request(format!("pod {name} does not have a host assigned")));
            }
            Err(ApiError::new(503, "ServiceUnavailable", format!("no kubelet is serving node {node:?} yet")))
        }
        _ => Err(ApiError::method_not_allowed(verb)),
    }
}

/// The Scale view of a scalable object.
fn to_scale(obj: &Value) -> Value {
    let selector = obj
        .pointer("/spec/selector")
        .map(|s| {
            if s.get("matchLabels").is_some() || s.get("matchExpressions").is_some() {
                LabelSelector::from_object(s).to_selector_string()
            } else {
                // ReplicationController selectors are a plain map.
                LabelSelector::from_object(&json!({"matchLabels": s})).to_selector_string()
            }
        })
        .unwrap_or_default();
    let meta = object::meta(obj).cloned().unwrap_or_default();
    let mut scale_meta = serde_json::Map::new();
    for f in ["name", "namespace", "uid", "resourceVersion", "creationTimestamp"] {
        if let Some(v) = meta.get(f) {
            scale_meta.insert(f.into(), v.clone());
        }
    }
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": scale_meta,
        "spec": {"replicas": obj.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(0)},
        "status": {
            "replicas": obj.pointer("/status/replicas").and_then(Value::as_i64).unwrap_or(0),
            "selector": selector,
        },
    })
}

async fn scale(state: &SharedState, ctx: &Ctx, body: Body) -> ApiResult<Response> {
    let name = ctx.name()?;
    let (key, kv, current) = write::current(state, ctx).await?;
    let current_scale = to_scale(&current);
    if ctx.info.verb == "get" {
        return Ok(json_response(StatusCode::OK, &current_scale));
    }
    let body = read_body(body).await?;
    let wanted = match ctx.info.verb {
        "update" => decode_body(&ctx.headers, &body)?,
        _ => apply_patch(&content_type(&ctx.headers), "Scale", &current_scale, &body)?,
    };
    if let Some(rv) = object::resource_version(&wanted)? {
        if rv != kv.mod_revision {
            return Err(ApiError::conflict(ctx.resource.group, ctx.resource.plural, name));
        }
    }
    let replicas = wanted.pointer("/spec/replicas").and_then(Value::as_i64).ok_or_else(|| ApiError::bad_request("spec.replicas must be an integer"))?;
    if replicas < 0 {
        return Err(ApiError::invalid(
            "autoscaling",
            "Scale",
            name,
            vec![crate::error::Cause {
                kind: "FieldValueInvalid".into(),
                message: format!("Invalid value: {replicas}: must be greater than or equal to 0"),
                field: "spec.replicas".into(),
            }],
        ));
    }
    let mut updated = current.clone();
    updated["spec"]["replicas"] = json!(replicas);
    let manager = ctx.query.field_manager.clone().unwrap_or_else(|| "kubectl-scale".into());
    let (written, code) = write::write_update(state, ctx, &key, kv.mod_revision, &current, updated, Target::Main, &manager, false).await?;
    Ok(json_response(code, &to_scale(&written.into_value()?)))
}

/// Binds a pod to a node: sets `spec.nodeName` once and marks it scheduled.
pub async fn bind(state: &SharedState, ctx: &Ctx, body: Body) -> ApiResult<Response> {
    let body = read_body(body).await?;
    let binding = decode_body(&ctx.headers, &body)?;
    let name =
        ctx.info.name.clone().or_else(|| object::name(&binding).map(str::to_string)).ok_or_else(|| ApiError::bad_request("a binding needs the pod's name"))?;
    let node = binding
        .pointer("/target/name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| {
            ApiError::invalid(
                "",
                "Binding",
                &name,
                vec![crate::error::Cause { kind: "FieldValueRequired".into(), message: "Required value".into(), field: "target.name".into() }],
            )
        })?
        .to_string();
    let uid = binding.pointer("/metadata/uid").and_then(Value::as_str);
    bind_pod(state, ctx.info.namespace.as_deref(), &name, uid, &node).await?;
    Ok(json_response(StatusCode::CREATED, &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201})))
}

/// Binds a pod to `node`, as a `pods/binding` create does: the pod (by `uid`, when given)
/// gets `spec.nodeName` and `PodScheduled=True`, compared on its revision.
pub async fn bind_pod(state: &SharedState, namespace: Option<&str>, name: &str, uid: Option<&str>, node: &str) -> ApiResult<()> {
    let pods = crate::resources::registry::find("", "v1", "pods").expect("pods are registered");
    let key = object::key(pods, namespace, name);
    for attempt in 0..5 {
        // The first attempt starts from the watch cache's copy, as upstream's GuaranteedUpdate
        // does from its cached object: the write compares on that copy's revision, so a stale
        // copy only costs a retry from the store. A refusal is only ever given on the store's.
        let cached = state.cache.get(&key).filter(|_| attempt == 0);
        let from_cache = cached.is_some();
        let (mut pod, revision) = match cached {
            Some(c) => (Value::clone(&c.value), c.mod_revision),
            None => {
                let kv = state.store.get(&key).await?.0.ok_or_else(|| ApiError::not_found("", "pods", name))?;
                (object::decode(&kv)?, kv.mod_revision)
            }
        };
        if let Err(refusal) = bindable(&pod, name, uid) {
            if from_cache {
                continue;
            }
            return Err(refusal);
        }
        pod["spec"]["nodeName"] = json!(node);
        let conditions = pod["status"].get("conditions").and_then(Value::as_array).cloned().unwrap_or_default();
        let mut conditions: Vec<Value> = conditions.into_iter().filter(|c| c.get("type") != Some(&json!("PodScheduled"))).collect();
        conditions.push(json!({"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": object::now_rfc3339()}));
        pod["status"]["conditions"] = json!(conditions);
        let bytes = object::encode(&pod)?;
        // Nothing here reads the bound pod again: the cache takes it as it is.
        match state.cache.write_offered(&key, &bytes, pod, state.store.update(&key, bytes.clone(), revision)).await {
            Ok(_) => return Ok(()),
            Err(crate::store::StoreError::Conflict { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::conflict("", "pods", name))
}

/// Why `pod` may not be bound now, as upstream's `assignPod` refuses: it is on a node
/// already, it is being deleted, or it is not the pod (by uid) the binding was decided for.
fn bindable(pod: &Value, name: &str, uid: Option<&str>) -> ApiResult<()> {
    if let Some(existing) = pod.pointer("/spec/nodeName").and_then(Value::as_str).filter(|n| !n.is_empty()) {
        return Err(ApiError::new(
            409,
            "Conflict",
            format!("Operation cannot be fulfilled on pods/binding \"{name}\": pod {name} is already assigned to node \"{existing}\""),
        ));
    }
    if object::meta(pod).is_some_and(|m| m.contains_key("deletionTimestamp")) {
        return Err(ApiError::new(409, "Conflict", format!("pod {name} is being deleted, cannot be assigned to a host")));
    }
    // The binding's uid is a precondition (upstream's `assignPod`): a binding decided for
    // a pod that was since deleted and recreated under its name must not place the new one.
    let pod_uid = pod.pointer("/metadata/uid").and_then(Value::as_str).unwrap_or_default();
    if let Some(wanted) = uid.filter(|u| !u.is_empty() && *u != pod_uid) {
        return Err(ApiError::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on pods/binding \"{name}\": Precondition failed: UID in precondition: {wanted}, UID in object meta: {pod_uid}"
            ),
        ));
    }
    Ok(())
}

/// Evicts a pod: deletes it with the eviction's DeleteOptions.
async fn evict(state: &SharedState, ctx: &Ctx, body: Body) -> ApiResult<Response> {
    let body = read_body(body).await?;
    let eviction = if body.is_empty() { json!({}) } else { decode_body(&ctx.headers, &body)? };
    let name = ctx.name()?;
    let options = write::DeleteOptions {
        grace_period_seconds: eviction.pointer("/deleteOptions/gracePeriodSeconds").and_then(Value::as_i64),
        dry_run: ctx.query.dry_run,
        ..Default::default()
    };
    write::delete_one(state, ctx, name, &options).await?;
    Ok(json_response(StatusCode::CREATED, &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201})))
}

/// TokenRequest: a bound token for a service account (`kubectl create token`).
async fn token_request(state: &SharedState, ctx: &Ctx, body: Body) -> ApiResult<Response> {
    let body = read_body(body).await?;
    let mut request = if body.is_empty() { json!({}) } else { decode_body(&ctx.headers, &body)? };
    let name = ctx.name()?;
    let key = object::key(ctx.resource, ctx.namespace(), name);
    let account = state.store.get(&key).await?.0.ok_or_else(|| ApiError::not_found("", "serviceaccounts", name))?;
    let account = object::decode(&account)?;
    let expiration = request.pointer("/spec/expirationSeconds").and_then(Value::as_i64).unwrap_or(3600);
    if expiration < 600 {
        return Err(ApiError::invalid(
            "authentication.k8s.io",
            "TokenRequest",
            name,
            vec![crate::error::Cause {
                kind: "FieldValueInvalid".into(),
                message: format!("Invalid value: {expiration}: may not specify a duration less than 10 minutes"),
                field: "spec.expirationSeconds".into(),
            }],
        ));
    }
    let audiences: Vec<String> = request
        .pointer("/spec/audiences")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
        .filter(|a: &Vec<String>| !a.is_empty())
        .unwrap_or_else(|| vec![crate::auth::serviceaccount::ISSUER.to_string()]);
    let now = jiff::Timestamp::now().as_second();
    let uid = object::meta_str(&account, "uid").unwrap_or("").to_string();
    let (token, exp) = state.service_account_tokens.issue(
        &crate::auth::serviceaccount::TokenRequest {
            namespace: ctx.namespace().unwrap_or(""),
            name,
            uid: &uid,
            audiences: audiences.clone(),
            expiration_seconds: expiration,
        },
        now,
    );
    let expires = jiff::Timestamp::from_second(exp).map(|t| t.to_string()).unwrap_or_default();
    request["apiVersion"] = json!("authentication.k8s.io/v1");
    request["kind"] = json!("TokenRequest");
    request["metadata"] = json!({"name": name, "namespace": ctx.namespace(), "creationTimestamp": null});
    request["spec"]["audiences"] = json!(audiences);
    request["spec"]["expirationSeconds"] = json!(expiration);
    request["status"] = json!({"token": token, "expirationTimestamp": expires});
    Ok(json_response(StatusCode::CREATED, &request))
}

/// PUT `namespaces/<name>/finalize`: replaces `spec.finalizers` (the namespace controller
/// removes `kubernetes` once the namespace is empty); a namespace being deleted with no
/// finalizers left is removed.
async fn finalize(state: &SharedState, ctx: &Ctx, body: Body) -> ApiResult<Response> {
    let body = read_body(body).await?;
    let wanted = decode_body(&ctx.headers, &body)?;
    let (key, kv, current) = write::current(state, ctx).await?;
    if let Some(rv) = object::resource_version(&wanted)? {
        if rv != kv.mod_revision {
            return Err(ApiError::conflict("", "namespaces", ctx.name()?));
        }
    }
    let mut updated = current.clone();
    updated["spec"]["finalizers"] = wanted.pointer("/spec/finalizers").cloned().unwrap_or_else(|| json!([]));
    let (written, code) = write::write_update(state, ctx, &key, kv.mod_revision, &current, updated, Target::Finalize, "namespace-controller", false).await?;
    Ok(written.respond(code, &[]))
}
