//! Admission steps run on creates before they reach the store, in upstream's order:
//!
//! - NamespaceLifecycle (here): no creates into a missing or Terminating namespace.
//! - Quantities (here): resource quantities must parse, as upstream's decoding requires.
//! - [`limit_ranger`]: LimitRange defaults for pods, then min, max and ratio checks.
//! - [`priority`]: a pod's priority from its PriorityClass; one global default class.
//! - [`resource_quota`]: ResourceQuota `hard` limits, checked last, against usage from the
//!   controllers' [`quota_view`] where they run in this process.
//!
//! Quantities and usage rules are in [`crate::quota`].

pub mod limit_ranger;
pub mod priority;
pub mod quota_view;
pub mod resource_quota;

use serde_json::Value;

use crate::error::{ApiError, ApiResult};
use crate::object;
use crate::quota::quantity;
use crate::server::{Ctx, SharedState};

/// Namespaces that always exist; upstream's lifecycle plugin never blocks them.
pub const IMMORTAL_NAMESPACES: &[&str] = &["default", "kube-system", "kube-public", "kube-node-lease"];

/// A create that passed admission. It holds the namespace's quota lock, if a quota applied,
/// so it must live until the object is in the store.
#[must_use = "hold the admission until the object is written"]
pub struct Admitted {
    _quota: Option<resource_quota::QuotaGuard>,
}

/// Checks a create against every admission step; LimitRanger may default the object.
pub async fn admit_create(state: &SharedState, ctx: &Ctx, obj: &mut Value) -> ApiResult<Admitted> {
    namespace_lifecycle(state, ctx, obj).await?;
    quantities(ctx, obj)?;
    limit_ranger::admit(state, ctx, obj)?;
    priority::admit(state, ctx, obj)?;
    let quota = resource_quota::admit(state, ctx, obj).await?;
    Ok(Admitted { _quota: quota })
}

/// Where quantities sit in the kinds admission measures.
fn quantity_fields<'a>(group: &str, plural: &str, obj: &'a Value) -> Vec<&'a Value> {
    const NULL: &Value = &Value::Null;
    let at = |p: &str| object::at(obj, p).unwrap_or(NULL);
    let each = |p: &str, fields: &[&str]| -> Vec<&'a Value> {
        object::at(obj, p)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .flat_map(|item| fields.iter().map(|f| object::at(item, f).unwrap_or(NULL)).collect::<Vec<_>>())
            .collect()
    };
    match (group, plural) {
        ("", "pods") => {
            let mut out = each("/spec/containers", &["/resources/requests", "/resources/limits"]);
            out.extend(each("/spec/initContainers", &["/resources/requests", "/resources/limits"]));
            out.push(at("/spec/overhead"));
            out
        }
        ("", "resourcequotas") => vec![at("/spec/hard")],
        ("", "limitranges") => each("/spec/limits", &["/default", "/defaultRequest", "/min", "/max", "/maxLimitRequestRatio"]),
        ("", "persistentvolumeclaims") => {
            vec![at("/spec/resources/requests"), at("/spec/resources/limits")]
        }
        _ => vec![],
    }
}

/// Upstream refuses an unparsable quantity while decoding the body (400), before admission;
/// the typed decoding here takes any string, so the check happens on create.
fn quantities(ctx: &Ctx, obj: &Value) -> ApiResult<()> {
    let r = ctx.resource;
    for list in quantity_fields(r.group, r.plural, obj) {
        for q in list.as_object().into_iter().flat_map(|m| m.values()) {
            let text = q.as_str().map(str::to_string).unwrap_or_else(|| q.to_string());
            if let Err(e) = quantity::Quantity::parse(&text) {
                return Err(ApiError::bad_request(format!("{} in version \"{}\" cannot be handled as a {}: {e}", r.kind, r.version, r.kind)));
            }
        }
    }
    Ok(())
}

async fn namespace_lifecycle(state: &SharedState, ctx: &Ctx, obj: &Value) -> ApiResult<()> {
    if !ctx.resource.namespaced {
        return Ok(());
    }
    let Some(ns) = object::namespace(obj) else {
        return Ok(());
    };
    let key = format!("/registry/namespaces/{ns}");
    // The watch cache first, as upstream's lister, once it has applied this server's own
    // namespace writes; a namespace the cache does not have (created through another server
    // just before) is looked up in the store, as upstream's live lookup.
    let namespace = match state.cache.namespace(&key, std::time::Duration::from_secs(1)).await {
        Some(cached) => cached.value.clone(),
        None => match state.store.get(&key).await?.0 {
            Some(kv) => std::sync::Arc::new(object::decode(&kv)?),
            None if IMMORTAL_NAMESPACES.contains(&ns) => return Ok(()),
            None => return Err(ApiError::not_found("", "namespaces", ns)),
        },
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
