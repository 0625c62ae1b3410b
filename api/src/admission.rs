//! Admission steps run on writes before they reach the store. Today: NamespaceLifecycle,
//! which refuses creates into a namespace that is missing or Terminating.

use serde_json::Value;

use crate::error::{ApiError, ApiResult};
use crate::object;
use crate::server::{Ctx, SharedState};

/// Namespaces that always exist; upstream's lifecycle plugin never blocks them.
pub const IMMORTAL_NAMESPACES: &[&str] = &["default", "kube-system", "kube-public", "kube-node-lease"];

/// Checks a create against every admission step.
pub async fn admit_create(state: &SharedState, ctx: &Ctx, obj: &Value) -> ApiResult<()> {
    namespace_lifecycle(state, ctx, obj).await
}

async fn namespace_lifecycle(state: &SharedState, ctx: &Ctx, obj: &Value) -> ApiResult<()> {
    if !ctx.resource.namespaced {
        return Ok(());
    }
    let Some(ns) = object::namespace(obj) else { return Ok(()) };
    let key = format!("/registry/namespaces/{ns}");
    // The store, not the cache: a namespace created just before must be seen.
    let namespace = match state.store.get(&key).await?.0 {
        Some(kv) => object::decode(&kv)?,
        None if IMMORTAL_NAMESPACES.contains(&ns) => return Ok(()),
        None => return Err(ApiError::not_found("", "namespaces", ns)),
    };
    let terminating = namespace.pointer("/status/phase").and_then(Value::as_str) == Some("Terminating")
        || object::meta(&namespace).is_some_and(|m| m.contains_key("deletionTimestamp"));
    if terminating {
        return Err(ApiError::forbidden(format!(
            "{} \"{}\" is forbidden: unable to create new content in namespace {ns} because it is being terminated",
            ctx.resource.plural,
            object::name(obj).unwrap_or("")
        )));
    }
    Ok(())
}
