//! Priority (upstream's `plugin/pkg/admission/priority/admission.go`): on a pod create, resolves
//! `spec.priorityClassName` to `spec.priority` and `spec.preemptionPolicy` — the named
//! PriorityClass, or the global default when none is named (priority 0 when there is no
//! default) — and refuses a pod naming a class that does not exist or giving a priority other
//! than its class's. On a PriorityClass create, refuses a second global default.

use std::sync::Arc;

use serde_json::{json, Value};

use crate::cache::CachedObject;
use crate::error::{ApiError, ApiResult};
use crate::server::{Ctx, SharedState};

/// Upstream's `scheduling.DefaultPriorityWhenNoDefaultClassExists`.
const PRIORITY_WITHOUT_DEFAULT_CLASS: i64 = 0;
/// The preemption policy of a class that names none, and of pods without a class.
pub const PREEMPT_LOWER_PRIORITY: &str = "PreemptLowerPriority";

/// The PriorityClasses in the watch cache, shared rather than copied (read on every pod create).
fn priority_classes(state: &SharedState) -> Vec<Arc<CachedObject>> {
    state.cache.list("/registry/priorityclasses/", None).0
}

fn is_global_default(class: &Value) -> bool {
    class.get("globalDefault").and_then(Value::as_bool) == Some(true)
}

fn policy_of(class: &Value) -> Option<Value> {
    Some(class.get("preemptionPolicy").cloned().unwrap_or_else(|| json!(PREEMPT_LOWER_PRIORITY)))
}

fn name(obj: &Value) -> &str {
    crate::object::name(obj).unwrap_or_default()
}

/// Upstream's `getDefaultPriorityClass`: of several defaults (which only a race can leave),
/// the lowest value.
fn default_class(classes: &[Arc<CachedObject>]) -> Option<&Value> {
    classes.iter().map(|c| &*c.value).filter(|c| is_global_default(c)).min_by_key(|c| c.get("value").and_then(Value::as_i64).unwrap_or(0))
}

pub fn admit(state: &SharedState, ctx: &Ctx, obj: &mut Value) -> ApiResult<()> {
    let r = ctx.resource;
    match (r.group, r.plural) {
        ("", "pods") => admit_pod(state, obj),
        ("scheduling.k8s.io", "priorityclasses") if is_global_default(obj) => {
            let classes = priority_classes(state);
            match classes.iter().map(|c| &c.value).find(|c| is_global_default(c) && name(c) != name(obj)) {
                Some(existing) => Err(forbidden(
                    "priorityclasses",
                    name(obj),
                    format!("PriorityClass {} is already marked as default. Only one default can exist", name(existing)),
                )),
                None => Ok(()),
            }
        }
        _ => Ok(()),
    }
}

fn forbidden(plural: &str, name: &str, message: String) -> ApiError {
    ApiError::forbidden(format!("{plural} \"{name}\" is forbidden: {message}")).with_details("", plural, name)
}

fn admit_pod(state: &SharedState, pod: &mut Value) -> ApiResult<()> {
    let pod_name = name(pod).to_string();
    let class_name = pod.pointer("/spec/priorityClassName").and_then(Value::as_str).unwrap_or_default().to_string();
    let classes = priority_classes(state);
    let (resolved_name, priority, preemption) = if class_name.is_empty() {
        match default_class(&classes) {
            Some(c) => (name(c).to_string(), c.get("value").and_then(Value::as_i64).unwrap_or(0), policy_of(c)),
            None => (String::new(), PRIORITY_WITHOUT_DEFAULT_CLASS, Some(json!(PREEMPT_LOWER_PRIORITY))),
        }
    } else {
        match classes.iter().map(|c| &c.value).find(|c| name(c) == class_name) {
            Some(c) => (class_name.clone(), c.get("value").and_then(Value::as_i64).unwrap_or(0), policy_of(c)),
            None => return Err(forbidden("pods", &pod_name, format!("no PriorityClass with name {class_name} was found"))),
        }
    };
    let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) else { return Ok(()) };
    if let Some(given) = spec.get("priority").and_then(Value::as_i64) {
        if given != priority {
            return Err(forbidden(
                "pods",
                &pod_name,
                format!(
                    "the integer value of priority ({given}) must not be provided in pod spec; priority admission controller computed {priority} from the given PriorityClass name"
                ),
            ));
        }
    }
    if let Some(policy) = preemption.as_ref().and_then(Value::as_str) {
        if let Some(given) = spec.get("preemptionPolicy").and_then(Value::as_str) {
            if given != policy {
                return Err(forbidden(
                    "pods",
                    &pod_name,
                    format!(
                        "the string value of PreemptionPolicy ({given}) must not be provided in pod spec; priority admission controller computed {policy} from the given PriorityClass name"
                    ),
                ));
            }
        }
        spec.insert("preemptionPolicy".into(), json!(policy));
    }
    if !resolved_name.is_empty() {
        spec.insert("priorityClassName".into(), json!(resolved_name));
    }
    spec.insert("priority".into(), json!(priority));
    Ok(())
}
