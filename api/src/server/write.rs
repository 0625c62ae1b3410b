//! Writes: create, update, patch (all four types), delete and deletecollection, through
//! validation, admission and optimistic concurrency on the store's mod-revision.

use axum::body::Body;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value};

use super::negotiate::{content_type, decode_body, decode_yaml, json_response, with_warnings};
use super::read::{list_objects, parse_rv};
use super::{read_body, Ctx, SharedState};
use crate::admission;
use crate::error::{ApiError, ApiResult};
use crate::object;
use crate::patch;
use crate::store::{KeyValue, StoreError};
use crate::stored_bytes::StoredBytes;
use bytes::Bytes;

/// Which part of an object a write may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The object, except `status` where the kind has a status subresource.
    Main,
    /// Only `status` (the `/status` subresource).
    Status,
    /// A namespace's `spec.finalizers` (the `/finalize` subresource), besides what Main may change.
    Finalize,
}

/// How many times a patch without a resourceVersion is re-applied after losing a race with
/// another writer. Upstream's storage retries such an update until it lands; each lost race
/// means someone else's write landed, so a generous bound only guards against a livelock.
const PATCH_RETRIES: usize = 64;

fn manager(ctx: &Ctx) -> String {
    if let Some(m) = &ctx.query.field_manager {
        return m.clone();
    }
    ctx.headers
        .get(http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .and_then(|ua| ua.split('/').next())
        .filter(|s| !s.is_empty())
        .unwrap_or("unknown")
        .to_string()
}

/// Checks apiVersion and kind of a body against the URL's resource.
fn check_type(ctx: &Ctx, obj: &Value, kind: &str, api_version: &str) -> ApiResult<()> {
    if let Some(av) = obj.get("apiVersion").and_then(Value::as_str) {
        if av != api_version {
            return Err(ApiError::bad_request(format!("the API version in the data ({av}) does not match the expected API version ({api_version})")));
        }
    }
    if let Some(k) = obj.get("kind").and_then(Value::as_str) {
        if k != kind {
            return Err(ApiError::bad_request(format!("the kind in the data ({k}) does not match the expected kind ({kind})")));
        }
    }
    let _ = ctx;
    Ok(())
}

/// Applies `fieldValidation`: Strict refuses unknown fields, Warn (the default) warns.
fn field_validation(state: &SharedState, ctx: &Ctx, obj: &Value) -> ApiResult<Vec<String>> {
    let mode = ctx.query.field_validation.as_deref().unwrap_or("Warn");
    if mode == "Ignore" {
        return Ok(vec![]);
    }
    let r = ctx.resource;
    let unknown = state.openapi.unknown_fields(r.group, r.version, r.kind, obj);
    let messages: Vec<String> = unknown.iter().map(|f| format!("unknown field \"{}\"", f.trim_start_matches('.'))).collect();
    if messages.is_empty() {
        return Ok(vec![]);
    }
    if mode == "Strict" {
        return Err(ApiError::bad_request(format!(
            "{} in version \"{}\" cannot be handled as a {}: strict decoding error: {}",
            r.kind,
            r.api_version(),
            r.kind,
            messages.join(", ")
        )));
    }
    Ok(messages)
}

/// Fills namespace and name rules for a new object, checking them against the URL.
fn place(ctx: &Ctx, obj: &mut Value) -> ApiResult<()> {
    let resource = ctx.resource;
    let url_ns = ctx.namespace().map(str::to_string);
    let meta = object::meta_mut(obj);
    if resource.namespaced {
        match (meta.get("namespace").and_then(Value::as_str), url_ns.as_deref()) {
            (Some(body), Some(url)) if !body.is_empty() && body != url => {
                return Err(ApiError::bad_request(format!(
                    "the namespace of the provided object does not match the namespace sent on the request ({body} != {url})"
                )))
            }
            (_, Some(url)) => {
                meta.insert("namespace".into(), json!(url));
            }
            _ => {}
        }
    } else {
        meta.remove("namespace");
    }
    Ok(())
}

/// Validation common to every kind: values of the right types (400, as upstream's decoding),
/// a valid name, plus the kind's own rules (422).
fn validate(ctx: &Ctx, obj: &Value) -> ApiResult<()> {
    let r = ctx.resource;
    crate::openapi::check_types(r.group, r.version, r.kind, obj)
        .map_err(|e| ApiError::bad_request(format!("{} in version \"{}\" cannot be handled as a {}: {e}", r.kind, r.version, r.kind)))?;
    let name = object::name(obj).unwrap_or("");
    let mut causes = object::validate_name(ctx.resource, name);
    causes.extend(crate::validation::validate(ctx.resource, obj));
    if causes.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(ctx.resource.group, ctx.resource.kind, name, causes))
    }
}

/// The part of an object that bumps `metadata.generation` when it changes.
fn generation_relevant(obj: &Value) -> Value {
    let mut o = obj.clone();
    if let Some(m) = o.as_object_mut() {
        m.remove("metadata");
        m.remove("status");
    }
    o
}

fn respond(code: StatusCode, value: &Value, warnings: &[String]) -> Response {
    with_warnings(json_response(code, value), warnings)
}

fn respond_served(code: StatusCode, served: Bytes, warnings: &[String]) -> Response {
    with_warnings(super::negotiate::raw_json(code, served), warnings)
}

/// POST: create.
pub async fn create(state: &SharedState, ctx: &Ctx, body: Body) -> ApiResult<Response> {
    let body = read_body(body).await?;
    let mut obj = decode_body(&ctx.headers, &body)?;
    check_type(ctx, &obj, ctx.resource.kind, &ctx.resource.api_version())?;
    if !ctx.resource.is_stored() {
        return crate::reviews::create(state, ctx, obj).await;
    }
    let warnings = field_validation(state, ctx, &obj)?;
    place(ctx, &mut obj)?;
    let (created, _) = create_object(state, ctx, &mut obj, &manager(ctx), None).await?;
    Ok(respond_served(StatusCode::CREATED, created, &warnings))
}

/// Stamps system metadata on a new object and writes it (or, with dryRun, only checks it).
/// Returns the object as served (JSON) and its key-value (None under dryRun). The object
/// itself goes to the watch cache: `obj` is left empty.
pub async fn create_object(state: &SharedState, ctx: &Ctx, obj: &mut Value, manager: &str, applied_by: Option<&Value>) -> ApiResult<(Bytes, Option<KeyValue>)> {
    let r = ctx.resource;
    obj["apiVersion"] = json!(r.api_version());
    obj["kind"] = json!(r.kind);
    let generate = object::meta_str(obj, "generateName").map(str::to_string);
    if object::name(obj).is_none() {
        match &generate {
            Some(prefix) if !prefix.is_empty() => {
                let name = format!("{prefix}{}", object::random_suffix());
                object::meta_mut(obj).insert("name".into(), json!(name));
            }
            _ => {
                return Err(ApiError::invalid(
                    r.group,
                    r.kind,
                    "",
                    vec![crate::error::Cause {
                        kind: "FieldValueRequired".into(),
                        message: "Required value: name or generateName is required".into(),
                        field: "metadata.name".into(),
                    }],
                ))
            }
        }
    }
    {
        let meta = object::meta_mut(obj);
        meta.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
        meta.insert("creationTimestamp".into(), json!(object::now_rfc3339()));
        if crate::defaults::tracks_generation(r) {
            meta.insert("generation".into(), json!(1));
        } else {
            meta.remove("generation");
        }
        meta.remove("resourceVersion");
        meta.remove("deletionTimestamp");
        meta.remove("deletionGracePeriodSeconds");
        meta.remove("selfLink");
    }
    crate::defaults::apply(r, obj);
    crate::defaults::on_create(r, obj);
    validate(ctx, obj)?;
    // Held until the object is written: it may hold the namespace's quota lock.
    let _admitted = admission::admit_create(state, ctx, obj).await?;
    let name = object::name(obj).unwrap_or_default().to_string();
    let key = object::key(r, ctx.namespace(), &name);
    // A new Service's ClusterIP and NodePorts, held until it is stored.
    let _allocation =
        if is_service(r) { Some(state.services.allocate(&state.cache, state.store.as_ref(), &r.key_prefix(), &key, None, obj).await?) } else { None };
    let now = object::now_micro_rfc3339();
    if applied_by.is_none() {
        obj.as_object_mut().map(|m| m.get_mut("metadata").map(|md| md.as_object_mut().map(|md| md.remove("managedFields"))));
        patch::record_update(r.kind, None, obj, manager, &now);
    }
    if ctx.query.dry_run {
        return Ok((Bytes::from(serde_json::to_vec(obj).map_err(ApiError::internal)?), None));
    }
    let stored = StoredBytes::encode(obj)?;
    let bytes = stored.bytes.clone();
    match state.cache.write_offered(&key, &bytes, std::mem::take(obj), state.store.create(&key, bytes.clone())).await {
        // What was stored is the object: serve its bytes, not the object serialized again.
        Ok(kv) => Ok((stored.served(kv.mod_revision)?, Some(kv))),
        Err(StoreError::AlreadyExists(_)) => Err(ApiError::already_exists(r.group, r.plural, &name)),
        Err(e) => Err(e.into()),
    }
}

/// Reads the current object of a named request from the store: its key, key-value and value.
pub(super) async fn current(state: &SharedState, ctx: &Ctx) -> ApiResult<(String, KeyValue, Value)> {
    let name = ctx.name()?;
    let key = object::key(ctx.resource, ctx.namespace(), name);
    let kv = state.store.get(&key).await?.0.ok_or_else(|| ApiError::not_found(ctx.resource.group, ctx.resource.plural, name))?;
    let value = object::decode(&kv)?;
    Ok((key, kv, value))
}

/// PUT: replace the object (or its status).
pub async fn update(state: &SharedState, ctx: &Ctx, body: Body, target: Target) -> ApiResult<Response> {
    let body = read_body(body).await?;
    let mut obj = decode_body(&ctx.headers, &body)?;
    check_type(ctx, &obj, ctx.resource.kind, &ctx.resource.api_version())?;
    let warnings = field_validation(state, ctx, &obj)?;
    let name = ctx.name()?;
    if object::name(&obj).is_some_and(|n| n != name) {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({}) does not match the name on the URL ({name})",
            object::name(&obj).unwrap_or_default()
        )));
    }
    object::meta_mut(&mut obj).insert("name".into(), json!(name));
    place(ctx, &mut obj)?;
    let (key, kv, old) = current(state, ctx).await?;
    let expected = match object::resource_version(&obj)? {
        Some(rv) if rv != kv.mod_revision => return Err(ApiError::conflict(ctx.resource.group, ctx.resource.plural, name)),
        _ => kv.mod_revision,
    };
    let (written, code) = write_update(state, ctx, &key, expected, &old, obj, target, &manager(ctx), false).await?;
    Ok(written.respond(code, &warnings))
}

/// Merges system fields of `old` into `new`, bumps generation, records managed fields,
/// validates, and writes with a compare on `expected`. Removes the object when its last
/// finalizer goes while it is being deleted.
#[allow(clippy::too_many_arguments)]
pub async fn write_update(
    state: &SharedState,
    ctx: &Ctx,
    key: &str,
    expected: u64,
    old: &Value,
    mut new: Value,
    target: Target,
    manager: &str,
    applied: bool,
) -> ApiResult<(Written, StatusCode)> {
    let r = ctx.resource;
    new["apiVersion"] = json!(r.api_version());
    new["kind"] = json!(r.kind);
    let has_status = r.subresource("status").is_some();
    match target {
        Target::Status => {
            let status = new.get("status").cloned();
            let mut merged = old.clone();
            match status {
                Some(s) => merged["status"] = s,
                None => {
                    merged.as_object_mut().map(|m| m.remove("status"));
                }
            }
            new = merged;
        }
        Target::Main | Target::Finalize if has_status => match old.get("status") {
            Some(s) => new["status"] = s.clone(),
            None => {
                new.as_object_mut().map(|m| m.remove("status"));
            }
        },
        Target::Main | Target::Finalize => {}
    }
    if r.kind == "Namespace" && target != Target::Finalize {
        // Only `finalize` changes a namespace's finalizers, as upstream's strategy.
        if new.get("spec").is_none() {
            new["spec"] = json!({});
        }
        // A spec that is not an object is left for the typed check to refuse.
        if let Some(spec) = new.get_mut("spec").and_then(Value::as_object_mut) {
            match old.pointer("/spec/finalizers") {
                Some(f) => spec.insert("finalizers".into(), f.clone()),
                None => spec.remove("finalizers"),
            };
        }
    }
    {
        let old_meta = object::meta(old).cloned().unwrap_or_default();
        let meta = object::meta_mut(&mut new);
        for field in ["uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation"] {
            match old_meta.get(field) {
                Some(v) => meta.insert(field.into(), v.clone()),
                None => meta.remove(field),
            };
        }
        meta.insert("namespace".into(), old_meta.get("namespace").cloned().unwrap_or(Value::Null));
        if meta.get("namespace") == Some(&Value::Null) {
            meta.remove("namespace");
        }
        meta.remove("resourceVersion");
    }
    if crate::defaults::tracks_generation(r) && generation_relevant(old) != generation_relevant(&new) {
        let g = object::meta(old).and_then(|m| m.get("generation")).and_then(Value::as_i64).unwrap_or(0);
        object::meta_mut(&mut new).insert("generation".into(), json!(g + 1));
    }
    crate::defaults::apply(r, &mut new);
    if is_service(r) && target == Target::Main {
        crate::service_alloc::prepare_update(old, &mut new);
    }
    validate(ctx, &new)?;
    crate::validation::validate_update(r, old, &new).map_err(|causes| ApiError::invalid(r.group, r.kind, object::name(&new).unwrap_or(""), causes))?;
    if !applied {
        let now = object::now_micro_rfc3339();
        if object::meta(&new).and_then(|m| m.get("managedFields")).is_none() {
            if let Some(mf) = object::meta(old).and_then(|m| m.get("managedFields")).cloned() {
                object::meta_mut(&mut new).insert("managedFields".into(), mf);
            }
        }
        patch::record_update(r.kind, Some(old), &mut new, manager, &now);
    }
    let deleting = object::meta(&new).is_some_and(|m| m.contains_key("deletionTimestamp"));
    let non_empty = |v: Option<&Value>| v.and_then(Value::as_array).is_some_and(|f| !f.is_empty());
    // Namespaces also wait for `spec.finalizers` (the namespace controller's `kubernetes`).
    let finalizers_left =
        non_empty(object::meta(&new).and_then(|m| m.get("finalizers"))) || (r.kind == "Namespace" && non_empty(new.pointer("/spec/finalizers")));
    // ResourceQuota charges what an update grows; held, like a create's, until it is stored.
    let _quota =
        if target == Target::Main && !deleting && new != *old { crate::admission::resource_quota::admit_update(state, ctx, old, &new).await? } else { None };
    // A Service keeps its ClusterIP and NodePorts, and gets those a new type needs; held,
    // like the quota's charge, until it is stored. Taken after the quota lock, as on create.
    let _allocation = if is_service(r) && target == Target::Main && !deleting {
        Some(state.services.allocate(&state.cache, state.store.as_ref(), &r.key_prefix(), key, Some(old), &mut new).await?)
    } else {
        None
    };
    if ctx.query.dry_run {
        return Ok((Written::Value(new), StatusCode::OK));
    }
    if deleting && !finalizers_left {
        let (_, rev) = state.store.delete(key, Some(expected)).await.map_err(|e| map_write_error(ctx, e))?;
        state.cache.wrote(key, rev);
        let mut gone = new;
        object::meta_mut(&mut gone).insert("resourceVersion".into(), json!(rev.to_string()));
        return Ok((Written::Value(gone), StatusCode::OK));
    }
    if new == *old {
        // A no-op write keeps the object as it is, with no new revision, as upstream.
        return Ok((Written::Value(old.clone()), StatusCode::OK));
    }
    let stored = StoredBytes::encode(&new)?;
    let bytes = stored.bytes.clone();
    let kv = state.cache.write_offered(key, &bytes, new, state.store.update(key, bytes.clone(), expected)).await.map_err(|e| map_write_error(ctx, e))?;
    // What was stored is `new`: serve its bytes, not the object serialized again.
    Ok((Written::Served(stored.served(kv.mod_revision)?), StatusCode::OK))
}

/// The object a write answers with: a value (a dry run, a no-op, a deletion) or the served
/// JSON of what it stored.
pub enum Written {
    Value(Value),
    Served(Bytes),
}

impl Written {
    pub fn respond(self, code: StatusCode, warnings: &[String]) -> Response {
        match self {
            Written::Value(v) => respond(code, &v, warnings),
            Written::Served(bytes) => respond_served(code, bytes, warnings),
        }
    }

    pub fn into_value(self) -> ApiResult<Value> {
        match self {
            Written::Value(v) => Ok(v),
            Written::Served(bytes) => serde_json::from_slice(&bytes).map_err(ApiError::internal),
        }
    }
}

fn is_service(r: &crate::resources::registry::ResourceDescriptor) -> bool {
    r.group.is_empty() && r.kind == "Service"
}

fn map_write_error(ctx: &Ctx, e: StoreError) -> ApiError {
    let name = ctx.info.name.as_deref().unwrap_or("");
    match e {
        StoreError::Conflict { .. } => ApiError::conflict(ctx.resource.group, ctx.resource.plural, name),
        StoreError::NotFound(_) => ApiError::not_found(ctx.resource.group, ctx.resource.plural, name),
        other => other.into(),
    }
}

/// PATCH with any of the four patch types.
pub async fn patch(state: &SharedState, ctx: &Ctx, body: Body, target: Target) -> ApiResult<Response> {
    let body = read_body(body).await?;
    let media = content_type(&ctx.headers);
    let manager_name = manager(ctx);
    let r = ctx.resource;
    let name = ctx.name()?.to_string();
    let mut attempt = 0;
    loop {
        attempt += 1;
        let existing = current(state, ctx).await;
        if media == "application/apply-patch+yaml" {
            let applied = decode_yaml(&body)?;
            if !applied.is_object() {
                return Err(ApiError::bad_request("the apply configuration must be an object"));
            }
            check_type(ctx, &applied, r.kind, &r.api_version())?;
            let warnings = field_validation(state, ctx, &applied)?;
            if ctx.query.field_manager.is_none() {
                return Err(ApiError::bad_request("PATCH, application/apply-patch+yaml requests require a fieldManager"));
            }
            let now = object::now_micro_rfc3339();
            let live = match &existing {
                Ok((_, _, v)) => Some(v),
                Err(e) if e.code == 404 => None,
                Err(e) => return Err(e.clone()),
            };
            let mut merged = patch::server_side_apply(r.kind, live, &applied, &manager_name, ctx.query.force, &now).map_err(|e| match e {
                patch::ApplyError::Conflict(_) => ApiError::new(409, "Conflict", e.to_string()).with_details(r.group, r.plural, &name),
                other => ApiError::bad_request(other.to_string()),
            })?;
            object::meta_mut(&mut merged).insert("name".into(), json!(name));
            return match existing {
                Ok((key, kv, old)) => {
                    let result = write_update(state, ctx, &key, kv.mod_revision, &old, merged, target, &manager_name, true).await;
                    match result {
                        Err(e) if e.reason == "Conflict" && e.code == 409 && attempt < PATCH_RETRIES && e.message.contains("modified") => continue,
                        Err(e) => Err(e),
                        Ok((written, code)) => Ok(written.respond(code, &warnings)),
                    }
                }
                Err(_) => {
                    place(ctx, &mut merged)?;
                    let (created, _) = create_object(state, ctx, &mut merged, &manager_name, Some(&applied)).await?;
                    Ok(respond_served(StatusCode::CREATED, created, &warnings))
                }
            };
        }
        let (key, kv, old) = existing?;
        let patched = apply_patch(&media, r.kind, &old, &body)?;
        if !patched.is_object() {
            return Err(ApiError::bad_request("the patched object is not an object"));
        }
        let warnings = field_validation(state, ctx, &patched)?;
        if object::name(&patched).is_some_and(|n| n != name) {
            return Err(ApiError::bad_request("the name of a patched object cannot change"));
        }
        // A patch carrying a resourceVersion is a precondition, not something to retry past.
        // The patched object inherits the current resourceVersion unless the patch sets one, so
        // a conflict on the write is a concurrent writer: re-read and re-apply, as upstream's
        // patcher does; a pinned version fails this check on the next attempt.
        if object::resource_version(&patched)?.is_some_and(|rv| rv != kv.mod_revision) {
            return Err(ApiError::conflict(r.group, r.plural, &name));
        }
        match write_update(state, ctx, &key, kv.mod_revision, &old, patched, target, &manager_name, false).await {
            Err(e) if e.code == 409 && attempt < PATCH_RETRIES => continue,
            Err(e) => return Err(e),
            Ok((written, code)) => return Ok(written.respond(code, &warnings)),
        }
    }
}

/// Applies a JSON, merge or strategic merge patch to `old`.
pub fn apply_patch(media: &str, kind: &str, old: &Value, body: &[u8]) -> ApiResult<Value> {
    let parse = || -> ApiResult<Value> { serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}"))) };
    match media {
        "application/json-patch+json" => {
            let ops: json_patch::Patch = serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("error decoding JSON patch: {e}")))?;
            let mut doc = old.clone();
            json_patch::patch(&mut doc, &ops).map_err(|e| ApiError::new(422, "Invalid", format!("the JSON patch could not be applied: {e}")))?;
            Ok(doc)
        }
        "application/merge-patch+json" => {
            let p = parse()?;
            let mut doc = old.clone();
            json_patch::merge(&mut doc, &p);
            Ok(doc)
        }
        "application/strategic-merge-patch+json" => {
            let p = parse()?;
            patch::strategic_merge_patch(kind, old, &p).map_err(|e| ApiError::bad_request(e.to_string()))
        }
        other => Err(ApiError::unsupported_media_type(other)),
    }
}

/// The parts of DeleteOptions the server acts on.
#[derive(Debug, Default)]
pub struct DeleteOptions {
    pub propagation_policy: Option<String>,
    pub grace_period_seconds: Option<i64>,
    pub precondition_uid: Option<String>,
    pub precondition_rv: Option<String>,
    pub dry_run: bool,
}

fn delete_options(ctx: &Ctx, body: &[u8]) -> ApiResult<DeleteOptions> {
    let mut o = DeleteOptions {
        propagation_policy: ctx.query.propagation_policy.clone(),
        grace_period_seconds: ctx.query.grace_period_seconds,
        dry_run: ctx.query.dry_run,
        ..Default::default()
    };
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(o);
    }
    let v = decode_body(&ctx.headers, body)?;
    if let Some(p) = v.get("propagationPolicy").and_then(Value::as_str) {
        o.propagation_policy = Some(p.to_string());
    }
    if v.get("orphanDependents").and_then(Value::as_bool) == Some(true) {
        o.propagation_policy = Some("Orphan".into());
    }
    if let Some(g) = v.get("gracePeriodSeconds").and_then(Value::as_i64) {
        o.grace_period_seconds = Some(g);
    }
    o.precondition_uid = v.pointer("/preconditions/uid").and_then(Value::as_str).map(str::to_string);
    o.precondition_rv = v.pointer("/preconditions/resourceVersion").and_then(Value::as_str).map(str::to_string);
    if v.get("dryRun").and_then(Value::as_array).is_some_and(|a| a.iter().any(|x| x == "All")) {
        o.dry_run = true;
    }
    if let Some(p) = &o.propagation_policy {
        if !matches!(p.as_str(), "Orphan" | "Background" | "Foreground") {
            return Err(ApiError::bad_request(format!("unsupported propagationPolicy {p:?}")));
        }
    }
    Ok(o)
}

/// DELETE of one object.
pub async fn delete(state: &SharedState, ctx: &Ctx, body: Body) -> ApiResult<Response> {
    let body = read_body(body).await?;
    let options = delete_options(ctx, &body)?;
    let (value, code) = delete_one(state, ctx, ctx.name()?, &options).await?;
    Ok(json_response(code, &value))
}

/// Deletes `name`: at once, or by marking it with a deletionTimestamp while finalizers remain.
pub async fn delete_one(state: &SharedState, ctx: &Ctx, name: &str, options: &DeleteOptions) -> ApiResult<(Value, StatusCode)> {
    let r = ctx.resource;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let key = object::key(r, ctx.namespace(), name);
        let kv = state.store.get(&key).await?.0.ok_or_else(|| ApiError::not_found(r.group, r.plural, name))?;
        let old = object::decode(&kv)?;
        if let Some(uid) = &options.precondition_uid {
            if object::meta_str(&old, "uid") != Some(uid.as_str()) {
                return Err(ApiError::new(
                    409,
                    "Conflict",
                    format!("Precondition failed: UID in precondition: {uid}, UID in object meta: {}", object::meta_str(&old, "uid").unwrap_or("")),
                ));
            }
        }
        if let Some(rv) = &options.precondition_rv {
            if parse_rv(rv)? != kv.mod_revision {
                return Err(ApiError::new(
                    409,
                    "Conflict",
                    format!("Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}", kv.mod_revision),
                ));
            }
        }
        let mut finalizers: Vec<Value> = object::meta(&old).and_then(|m| m.get("finalizers")).and_then(Value::as_array).cloned().unwrap_or_default();
        let policy_finalizer = match options.propagation_policy.as_deref() {
            Some("Orphan") => Some("orphan"),
            Some("Foreground") => Some("foregroundDeletion"),
            _ => None,
        };
        let graceful = crate::defaults::needs_graceful_delete(r, &old, options.grace_period_seconds);
        if finalizers.is_empty() && policy_finalizer.is_none() && !graceful {
            if options.dry_run {
                return Ok((old, StatusCode::OK));
            }
            match state.store.delete(&key, Some(kv.mod_revision)).await {
                Ok((_, rev)) => {
                    state.cache.wrote(&key, rev);
                    let mut gone = old;
                    object::meta_mut(&mut gone).insert("resourceVersion".into(), json!(rev.to_string()));
                    return Ok((gone, StatusCode::OK));
                }
                Err(StoreError::Conflict { .. }) if attempt < PATCH_RETRIES => continue,
                Err(e) => return Err(map_write_error(ctx, e)),
            }
        }
        // Mark for deletion; whoever owns the finalizers (or the kubelet) finishes it.
        let mut marked = old.clone();
        if let Some(f) = policy_finalizer {
            if !finalizers.iter().any(|x| x == f) {
                finalizers.push(json!(f));
            }
        }
        {
            let meta = object::meta_mut(&mut marked);
            if !finalizers.is_empty() {
                meta.insert("finalizers".into(), json!(finalizers));
            }
            if !meta.contains_key("deletionTimestamp") {
                meta.insert("deletionTimestamp".into(), json!(object::now_rfc3339()));
                let grace = if graceful { options.grace_period_seconds.unwrap_or(30) } else { 0 };
                meta.insert("deletionGracePeriodSeconds".into(), json!(grace));
            }
            meta.remove("resourceVersion");
        }
        crate::defaults::on_deletion_marked(r, &mut marked);
        if options.dry_run || marked == old {
            return Ok((old, StatusCode::OK));
        }
        let bytes = object::encode(&marked)?;
        match state.cache.write_offered(&key, &bytes, marked.clone(), state.store.update(&key, bytes.clone(), kv.mod_revision)).await {
            Ok(kv) => {
                object::as_stored_at(&mut marked, kv.mod_revision);
                return Ok((marked, StatusCode::OK));
            }
            Err(StoreError::Conflict { .. }) if attempt < PATCH_RETRIES => continue,
            Err(e) => return Err(map_write_error(ctx, e)),
        }
    }
}

/// DELETE of a collection: every object matching the selectors.
pub async fn delete_collection(state: &SharedState, ctx: &Ctx, body: Body) -> ApiResult<Response> {
    let body = read_body(body).await?;
    let options = delete_options(ctx, &body)?;
    let listed = list_objects(state, ctx).await?;
    let mut items = Vec::new();
    for o in &listed.items {
        let name = object::name(&o.value).unwrap_or_default().to_string();
        let ns = object::namespace(&o.value).map(str::to_string);
        let sub = Ctx {
            info: crate::request_info::RequestInfo { namespace: ns, name: Some(name.clone()), ..ctx.info.clone() },
            resource: ctx.resource,
            user: ctx.user.clone(),
            query: ctx.query.clone(),
            headers: ctx.headers.clone(),
        };
        match delete_one(state, &sub, &name, &options).await {
            Ok((v, _)) => items.push(v),
            Err(e) if e.code == 404 => {}
            Err(e) => return Err(e),
        }
    }
    let list = json!({
        "kind": format!("{}List", ctx.resource.kind),
        "apiVersion": ctx.resource.api_version(),
        "metadata": {"resourceVersion": state.store.current_revision().await?.to_string()},
        "items": items,
    });
    Ok(json_response(StatusCode::OK, &list))
}
