//! ResourceQuota admission (upstream's `staging/.../admission/plugin/resourcequota`): a create
//! that would take a namespace past any quota's `spec.hard` is refused with 403 and upstream's
//! message (`exceeded quota: <name>, requested: …, used: …, limited: …`); so is a pod that
//! leaves unset a cpu or memory request or limit a quota constrains (`must specify …`).
//!
//! **Usage** is summed from the namespace's objects in the watch cache, the API server's own
//! fast path, instead of being read from the quota's `status.used` as upstream does; so a
//! quota is enforced from its creation on, without waiting for the controller's first status.
//!
//! **Concurrency.** Upstream serializes the admissions of a namespace and commits each one by
//! a compare-and-swap of the quota's status. Here a per-namespace async mutex is held from the
//! check until the object is in the store (the [`QuotaGuard`] travels in
//! [`super::Admitted`]), and the check first waits until the watch cache has applied the
//! store's current revision, so it sees every create admitted before it. Only creates into a
//! namespace with a relevant quota take the lock. The lock is in-process: sound for one API
//! server per store, which is how deltakube runs. An update is charged for what it grows
//! ([`admit_update`]).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, LazyLock, Mutex};

use serde_json::Value;
use tokio::sync::OwnedMutexGuard;

use crate::error::{ApiError, ApiResult};
use crate::object;
use crate::quota::quantity::{canonical, Quantity};
use crate::quota::usage::{class_of, container_list, pod_compute_usage, scopes, usage, Evaluator, List, ScopeClass};
use crate::server::{Ctx, SharedState};

/// How long a check waits for the watch cache to catch up with the store.
const CACHE_WAIT: std::time::Duration = std::time::Duration::from_secs(3);
/// Lock entries kept before unused ones are dropped.
const MAX_IDLE_LOCKS: usize = 1024;
/// The quota resources whose requests or limits every container must set (upstream's
/// `validationSet`, "a mistake" it keeps for compatibility).
const MUST_SPECIFY: &[&str] = &["cpu", "memory", "requests.cpu", "requests.memory", "limits.cpu", "limits.memory"];

static LOCKS: LazyLock<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>> = LazyLock::new(Default::default);

/// Holds a namespace's quota lock until the admitted object is written.
pub struct QuotaGuard {
    _guard: OwnedMutexGuard<()>,
}

async fn lock(namespace: &str) -> QuotaGuard {
    let lock = {
        let mut locks = LOCKS.lock().expect("quota locks");
        if locks.len() > MAX_IDLE_LOCKS {
            locks.retain(|_, l| Arc::strong_count(l) > 1);
        }
        locks.entry(namespace.to_string()).or_default().clone()
    };
    QuotaGuard { _guard: lock.lock_owned().await }
}

/// A quota as admission reads it.
struct Quota {
    name: String,
    /// `spec.hard`: value and printed text.
    hard: BTreeMap<String, (Quantity, String)>,
    scopes: Vec<crate::quota::usage::Scope>,
}

/// The namespace's quotas naming a resource this kind's evaluator measures, by name.
fn relevant_quotas(state: &SharedState, ns: &str, evaluator: Evaluator, group: &str, plural: &str) -> Vec<Quota> {
    let (items, _) = state.cache.list(&format!("/registry/resourcequotas/{ns}/"), None);
    let mut out = Vec::new();
    for item in items {
        let v = &item.value;
        let mut hard = BTreeMap::new();
        for (k, q) in v.pointer("/spec/hard").and_then(Value::as_object).into_iter().flatten() {
            let text = q.as_str().map(str::to_string).unwrap_or_else(|| q.to_string());
            // An unparsable limit (which upstream's validation refuses) limits nothing.
            if let Ok(value) = Quantity::parse(&text) {
                hard.insert(k.clone(), (value, canonical(&text).unwrap_or(text)));
            }
        }
        if hard.keys().any(|r| evaluator.matches(group, plural, r)) {
            out.push(Quota { name: object::name(v).unwrap_or_default().to_string(), hard, scopes: scopes(v) });
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// Upstream's `prettyPrint`: `name=value` sorted by name, comma-separated.
fn pretty(list: &BTreeMap<&str, String>) -> String {
    list.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")
}

/// Upstream's pod `Constraints`: every container and init container sets what is required.
fn missing_requirements(pod: &Value, required: &BTreeSet<&str>) -> Result<Option<String>, String> {
    let mut missing: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for field in ["containers", "initContainers"] {
        for c in pod.pointer(&format!("/spec/{field}")).and_then(Value::as_array).into_iter().flatten() {
            let mut has = List::new();
            pod_compute_usage(&container_list(c, "requests")?, &container_list(c, "limits")?, &mut has);
            for resource in required.iter().filter(|r| !has.contains_key(**r)) {
                missing.entry(resource.to_string()).or_default().insert(c.get("name").and_then(Value::as_str).unwrap_or_default().to_string());
            }
        }
    }
    if missing.is_empty() {
        return Ok(None);
    }
    let parts: Vec<String> = missing.iter().map(|(r, cs)| format!("{r} for: {}", cs.iter().cloned().collect::<Vec<_>>().join(","))).collect();
    Ok(Some(format!("must specify {}", parts.join("; "))))
}

/// The namespace's current usage of `resources` by the objects of this kind that `scopes`
/// select, summed from the watch cache.
fn used(state: &SharedState, ctx: &Ctx, ns: &str, quota: &Quota, resources: &BTreeSet<&str>, evaluator: Evaluator) -> List {
    let r = ctx.resource;
    let (items, _) = state.cache.list(&object::list_prefix(r, Some(ns)), None);
    let mut total = List::new();
    for item in items {
        // A stored object that does not measure (its quantities do not parse) uses nothing.
        let measured = class_of(evaluator, &item.value).and_then(|class| Ok((class, usage(r.group, r.plural, &item.value)?)));
        let (class, list) = match measured {
            Ok(m) => m,
            Err(error) => {
                tracing::warn!(key = %item.key, %error, "object left out of quota usage");
                continue;
            }
        };
        if !class.matches(&quota.scopes) {
            continue;
        }
        for (k, q) in list {
            if resources.contains(k.as_str()) {
                total.entry(k).or_insert(Quantity::ZERO).add(&q);
            }
        }
    }
    total
}

/// The namespace and evaluator of the request, when some quota of its namespace measures its
/// kind.
fn quotas_apply<'c>(state: &SharedState, ctx: &'c Ctx) -> Option<(&'c str, Evaluator)> {
    let r = ctx.resource;
    let ns = ctx.namespace()?;
    let evaluator = Evaluator::of(r.group, r.plural);
    (!relevant_quotas(state, ns, evaluator, r.group, r.plural).is_empty()).then_some((ns, evaluator))
}

/// Takes the namespace's lock, then waits until the watch cache has every write admitted
/// before this one.
async fn lock_current(state: &SharedState, ns: &str) -> ApiResult<QuotaGuard> {
    let guard = lock(ns).await;
    let current = state.store.current_revision().await?;
    state.cache.wait_for(current, CACHE_WAIT).await?;
    Ok(guard)
}

/// Upstream's refusal of the object: 403, `<resource> "<name>" is forbidden: <why>`.
fn refusal(ctx: &Ctx, obj: &Value) -> impl Fn(String) -> ApiError {
    let r = ctx.resource;
    let name = object::name(obj).unwrap_or_default().to_string();
    let qualified = if r.group.is_empty() { r.plural.to_string() } else { format!("{}.{}", r.plural, r.group) };
    move |message: String| ApiError::forbidden(format!("{qualified} \"{name}\" is forbidden: {message}")).with_details(r.group, r.plural, &name)
}

/// Checks a create against the namespace's quotas. On success, returns the lock to hold until
/// the object is written (None when no quota applies).
pub async fn admit(state: &SharedState, ctx: &Ctx, obj: &Value) -> ApiResult<Option<QuotaGuard>> {
    let r = ctx.resource;
    let Some((ns, evaluator)) = quotas_apply(state, ctx) else {
        return Ok(None);
    };
    let guard = lock_current(state, ns).await?;
    let forbidden = refusal(ctx, obj);
    let class: ScopeClass = class_of(evaluator, obj).map_err(ApiError::bad_request)?;

    let quotas = relevant_quotas(state, ns, evaluator, r.group, r.plural);
    let mut interesting = Vec::new();
    for quota in &quotas {
        if !class.matches(&quota.scopes) {
            continue;
        }
        if evaluator == Evaluator::Pod {
            let required: BTreeSet<&str> = quota.hard.keys().map(String::as_str).filter(|k| MUST_SPECIFY.contains(k)).collect();
            if let Some(message) = missing_requirements(obj, &required).map_err(ApiError::bad_request)? {
                return Err(forbidden(format!("failed quota: {}: {message}", quota.name)));
            }
        }
        interesting.push(quota);
    }
    if interesting.is_empty() {
        return Ok(None);
    }
    let input = usage(r.group, r.plural, obj).map_err(ApiError::bad_request)?;
    let negative: Vec<&str> = input.iter().filter(|(_, q)| q.nanos < 0).map(|(k, _)| k.as_str()).collect();
    if !negative.is_empty() {
        return Err(forbidden(format!("quota usage is negative for resource(s): {}", negative.join(","))));
    }
    charge(state, ctx, ns, &interesting, &input, evaluator, &forbidden)?;
    Ok(Some(guard))
}

/// Checks an update against the namespace's quotas, charging only what grows, as upstream's
/// `Validate` on UPDATE (the new object's usage less the old one's): a Service that becomes a
/// LoadBalancer or gains node ports, a claim that grows. Subresources (`status`) are not
/// charged, as upstream's admission skips them. On success, returns the lock to hold until
/// the object is written (None when nothing is charged).
pub async fn admit_update(state: &SharedState, ctx: &Ctx, old: &Value, new: &Value) -> ApiResult<Option<QuotaGuard>> {
    let r = ctx.resource;
    let Some((ns, evaluator)) = quotas_apply(state, ctx) else {
        return Ok(None);
    };
    // An old object that does not measure charged nothing.
    let before = usage(r.group, r.plural, old).unwrap_or_default();
    let after = usage(r.group, r.plural, new).map_err(ApiError::bad_request)?;
    let grown: List = after
        .into_iter()
        .filter_map(|(k, mut q)| {
            q.nanos -= before.get(&k).map_or(0, |b| b.nanos);
            (q.nanos > 0).then_some((k, q))
        })
        .collect();
    if grown.is_empty() {
        return Ok(None);
    }
    let guard = lock_current(state, ns).await?;
    let forbidden = refusal(ctx, new);
    let class: ScopeClass = class_of(evaluator, new).map_err(ApiError::bad_request)?;
    let quotas = relevant_quotas(state, ns, evaluator, r.group, r.plural);
    let applying: Vec<&Quota> = quotas.iter().filter(|q| class.matches(&q.scopes)).collect();
    charge(state, ctx, ns, &applying, &grown, evaluator, &forbidden)?;
    Ok(Some(guard))
}

/// Refuses `input` when it would take the namespace past any of `quotas`, with upstream's
/// `exceeded quota` message.
fn charge(
    state: &SharedState,
    ctx: &Ctx,
    ns: &str,
    quotas: &[&Quota],
    input: &List,
    evaluator: Evaluator,
    forbidden: &dyn Fn(String) -> ApiError,
) -> ApiResult<()> {
    for quota in quotas {
        let requested: BTreeMap<&str, Quantity> =
            input.iter().filter(|(k, q)| !q.is_zero() && quota.hard.contains_key(*k)).map(|(k, q)| (k.as_str(), *q)).collect();
        if requested.is_empty() {
            continue;
        }
        let names: BTreeSet<&str> = requested.keys().copied().collect();
        let used = used(state, ctx, ns, quota, &names, evaluator);
        let mut exceeded = BTreeSet::new();
        for (k, q) in &requested {
            let mut after = used.get(*k).copied().unwrap_or(Quantity::ZERO);
            after.add(q);
            if after.cmp_value(&quota.hard[*k].0).is_gt() {
                exceeded.insert(*k);
            }
        }
        if !exceeded.is_empty() {
            let pick = |f: &dyn Fn(&str) -> String| exceeded.iter().map(|k| (*k, f(k))).collect::<BTreeMap<&str, String>>();
            return Err(forbidden(format!(
                "exceeded quota: {}, requested: {}, used: {}, limited: {}",
                quota.name,
                pretty(&pick(&|k| requested[k].to_string())),
                pretty(&pick(&|k| used.get(k).copied().unwrap_or(Quantity::ZERO).to_string())),
                pretty(&pick(&|k| quota.hard[k].1.clone())),
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn must_specify_names_each_missing_resource_and_container() {
        let pod = json!({"spec": {
            "containers": [{"name": "a", "resources": {"requests": {"cpu": "1"}}}, {"name": "b"}],
            "initContainers": [{"name": "i", "resources": {"requests": {"cpu": "1", "memory": "1Gi"}}}],
        }});
        let required: BTreeSet<&str> = ["requests.cpu", "requests.memory"].into();
        assert_eq!(missing_requirements(&pod, &required).unwrap().unwrap(), "must specify requests.cpu for: b; requests.memory for: a,b");
        assert_eq!(missing_requirements(&pod, &BTreeSet::new()).unwrap(), None);
    }

    #[test]
    fn pretty_prints_sorted_pairs() {
        let list: BTreeMap<&str, String> = [("requests.cpu", "500m".to_string()), ("pods", "1".to_string())].into();
        assert_eq!(pretty(&list), "pods=1,requests.cpu=500m");
    }
}
