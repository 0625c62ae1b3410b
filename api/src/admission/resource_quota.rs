//! ResourceQuota admission (upstream's `staging/.../admission/plugin/resourcequota`): a create
//! that would take a namespace past any quota's `spec.hard` is refused with 403 and upstream's
//! message (`exceeded quota: <name>, requested: …, used: …, limited: …`); so is a pod that
//! leaves unset a cpu or memory request or limit a quota constrains (`must specify …`).
//!
//! **Usage** is read from the ResourceQuota controller's `quota-usage` view where the
//! controllers run in this process, brought up to the watch cache's revision by the events
//! since ([`super::quota_view`]); otherwise (or for what the view does not hold) it is summed
//! from the namespace's objects in the watch cache. Upstream reads the quota's `status.used`
//! instead, which trails the controller; either way here is exact at the revision the check
//! runs at, so a quota is enforced from its creation on.
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

use super::quota_view::ViewUsage;
use crate::cache::{CacheEvent, EventType, WatchCache};
use crate::resources::registry::ResourceDescriptor;

/// How long a check waits for the watch cache to catch up with the store.
const CACHE_WAIT: std::time::Duration = std::time::Duration::from_secs(3);
/// Events since the quota view's revision past which a check sums instead of replaying (a
/// view that far behind is stalled; the scan holds the cache's read lock).
const MAX_REPLAY: usize = 10_000;
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

/// What one quota's usage is measured over: the objects of the request's kind in its
/// namespace, as the watch cache holds them.
struct Measure<'a> {
    cache: &'a WatchCache,
    resource: &'a ResourceDescriptor,
    ns: &'a str,
    quota: &'a Quota,
    evaluator: Evaluator,
}

impl Measure<'_> {
    /// The current usage of `resources`: from the quota view where it holds them, the rest
    /// summed from the watch cache; and whether anything was summed.
    fn used(&self, resources: &BTreeSet<&str>, view: Option<&ViewUsage>) -> (List, bool) {
        let mut total = view.and_then(|v| self.replayed_view(resources, v)).unwrap_or_default();
        let rest: BTreeSet<&str> = resources.iter().copied().filter(|r| !total.contains_key(*r)).collect();
        if !rest.is_empty() {
            total.extend(self.summed(&rest));
        }
        (total, !rest.is_empty())
    }

    /// The usage of those of `resources` the view's row of the quota holds, brought from the
    /// view's revision to the watch cache's by the cache's events in between (see
    /// [`super::quota_view`]); None when that cannot be exact: no row, a spec changed since,
    /// or history gone.
    fn replayed_view(&self, resources: &BTreeSet<&str>, view: &ViewUsage) -> Option<List> {
        let row = view.used.get(&self.quota.name)?;
        let quota_key = format!("/registry/resourcequotas/{}/{}", self.ns, self.quota.name);
        let quota_events = self.cache.events_after(&quota_key, view.revision, MAX_REPLAY)?;
        let spec_changed = |e: &CacheEvent| e.kind != EventType::Modified || e.prev.as_ref().is_none_or(|p| p.value.get("spec") != e.object.value.get("spec"));
        if quota_events.iter().any(|e| e.object.key == quota_key && spec_changed(e)) {
            return None;
        }
        // A resource another kind also measures would need that kind's events too.
        let replayable = resources.iter().filter(|r| only_measured_by(self.evaluator, r));
        let mut total: List = replayable.filter_map(|r| Some((r.to_string(), Quantity::parse(row.get(*r)?).ok()?))).collect();
        if total.is_empty() {
            return Some(total);
        }
        for event in self.cache.events_after(&object::list_prefix(self.resource, Some(self.ns)), view.revision, MAX_REPLAY)? {
            let new = (event.kind != EventType::Deleted).then_some(&event.object);
            for (object, sign) in [(new, 1), (event.prev.as_ref(), -1)] {
                for (k, mut q) in object.and_then(|o| self.charged(&o.key, &o.value)).unwrap_or_default() {
                    if let Some(t) = total.get_mut(&k) {
                        q.nanos *= sign;
                        t.add(&q);
                    }
                }
            }
        }
        Some(total)
    }

    /// The current usage of `resources` by the objects the quota's scopes select, summed
    /// from the watch cache.
    fn summed(&self, resources: &BTreeSet<&str>) -> List {
        let (items, _) = self.cache.list(&object::list_prefix(self.resource, Some(self.ns)), None);
        let mut total = List::new();
        for item in items {
            for (k, q) in self.charged(&item.key, &item.value).unwrap_or_default() {
                if resources.contains(k.as_str()) {
                    total.entry(k).or_insert(Quantity::ZERO).add(&q);
                }
            }
        }
        total
    }

    /// What one object uses under the quota: nothing if its scopes leave the object out, or
    /// if the object does not measure (its quantities do not parse).
    fn charged(&self, key: &str, value: &Value) -> Option<List> {
        let measured = class_of(self.evaluator, value).and_then(|class| Ok((class, usage(self.resource.group, self.resource.plural, value)?)));
        match measured {
            Ok((class, list)) => class.matches(&self.quota.scopes).then_some(list),
            Err(error) => {
                tracing::warn!(%key, %error, "object left out of quota usage");
                None
            }
        }
    }
}

/// Whether no evaluator but `evaluator` measures `resource` (a pod's extended resource
/// `requests.<x>` could be named as a storage class's claim resource).
fn only_measured_by(evaluator: Evaluator, resource: &str) -> bool {
    let others = [(Evaluator::Pod, "pods"), (Evaluator::Service, "services"), (Evaluator::Claim, "persistentvolumeclaims")];
    others.iter().all(|(other, plural)| *other == evaluator || !other.matches("", plural, resource))
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
/// before this one; returns the lock and, with in-process controllers, the quota view's rows.
async fn lock_current(state: &SharedState, ns: &str) -> ApiResult<(QuotaGuard, Option<ViewUsage>)> {
    let guard = lock(ns).await;
    let current = state.store.current_revision().await?;
    state.cache.wait_for(current, CACHE_WAIT).await?;
    Ok((guard, state.quota_usage.as_ref().map(|view| view.usage(ns))))
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
    let (guard, view) = lock_current(state, ns).await?;
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
    charge(state, ctx, ns, &interesting, &input, evaluator, view.as_ref(), &forbidden)?;
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
    let (guard, view) = lock_current(state, ns).await?;
    let forbidden = refusal(ctx, new);
    let class: ScopeClass = class_of(evaluator, new).map_err(ApiError::bad_request)?;
    let quotas = relevant_quotas(state, ns, evaluator, r.group, r.plural);
    let applying: Vec<&Quota> = quotas.iter().filter(|q| class.matches(&q.scopes)).collect();
    charge(state, ctx, ns, &applying, &grown, evaluator, view.as_ref(), &forbidden)?;
    Ok(Some(guard))
}

/// Refuses `input` when it would take the namespace past any of `quotas`, with upstream's
/// `exceeded quota` message.
#[allow(clippy::too_many_arguments)]
fn charge(
    state: &SharedState,
    ctx: &Ctx,
    ns: &str,
    quotas: &[&Quota],
    input: &List,
    evaluator: Evaluator,
    view: Option<&ViewUsage>,
    forbidden: &dyn Fn(String) -> ApiError,
) -> ApiResult<()> {
    for quota in quotas {
        let requested: BTreeMap<&str, Quantity> =
            input.iter().filter(|(k, q)| !q.is_zero() && quota.hard.contains_key(*k)).map(|(k, q)| (k.as_str(), *q)).collect();
        if requested.is_empty() {
            continue;
        }
        let names: BTreeSet<&str> = requested.keys().copied().collect();
        let (used, summed) = Measure { cache: &state.cache, resource: ctx.resource, ns, quota, evaluator }.used(&names, view);
        if let Some(view) = &state.quota_usage {
            view.checked(!summed);
        }
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

    mod view_replay {
        use std::sync::Arc;
        use std::time::Duration;

        use super::*;
        use crate::store::embedded::EmbeddedStore;
        use crate::store::Store;

        fn pod(ns: &str, name: &str, cpu: &str, phase: &str) -> bytes::Bytes {
            let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns},
                             "spec": {"containers": [{"name": "c", "image": "i", "resources": {"requests": {"cpu": cpu}}}]},
                             "status": {"phase": phase}});
            object::encode(&pod).unwrap()
        }

        fn quota(hard: &str) -> bytes::Bytes {
            object::encode(&json!({"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "q", "namespace": "d"}, "spec": {"hard": {"pods": hard}}}))
                .unwrap()
        }

        /// The view's rows at one revision, brought forward by the events since, equal the
        /// sum over the objects at the cache's revision; a quota whose spec changed since is
        /// left to the sum.
        #[tokio::test]
        async fn the_view_brought_forward_by_the_events_since_equals_the_sum() {
            let dir = tempfile::tempdir().unwrap();
            let store: Arc<dyn Store> = Arc::new(EmbeddedStore::open(&dir.path().join("s.redb")).unwrap());
            let cache = WatchCache::start(store.clone()).await.unwrap();
            let pods = crate::resources::registry::RESOURCES.iter().find(|r| r.group.is_empty() && r.plural == "pods").unwrap();
            let q = Quota { name: "q".into(), hard: BTreeMap::new(), scopes: Vec::new() };
            let other = Quota { name: "other".into(), hard: BTreeMap::new(), scopes: Vec::new() };
            let measure = |quota| Measure { cache: &cache, resource: pods, ns: "d", quota, evaluator: Evaluator::Pod };
            let resources: BTreeSet<&str> = ["pods", "requests.cpu"].into();
            let settle = |revision| cache.wait_for(revision, Duration::from_secs(5));

            let quota_kv = store.create("/registry/resourcequotas/d/q", quota("10")).await.unwrap();
            let mut last = quota_kv.mod_revision;
            for i in 0..4 {
                last = store.create(&format!("/registry/pods/d/p{i}"), pod("d", &format!("p{i}"), "100m", "Running")).await.unwrap().mod_revision;
            }
            settle(last).await.unwrap();
            // The view at `last`, as the dataflow keeps it: the sum at that revision.
            let at_view = measure(&q).summed(&resources);
            let row = at_view.iter().map(|(k, v)| (k.clone(), v.to_string())).collect();
            let view = ViewUsage { revision: last, used: [("q".to_string(), row)].into() };

            // After it: a create, a delete, a pod that ends (uses no more), and another namespace's pod.
            store.create("/registry/pods/d/p9", pod("d", "p9", "250m", "Pending")).await.unwrap();
            store.delete("/registry/pods/d/p0", None).await.unwrap();
            let p1 = store.get("/registry/pods/d/p1").await.unwrap().0.unwrap();
            store.update("/registry/pods/d/p1", pod("d", "p1", "100m", "Succeeded"), p1.mod_revision).await.unwrap();
            let now = store.create("/registry/pods/dd/x", pod("dd", "x", "1", "Running")).await.unwrap().mod_revision;
            settle(now).await.unwrap();

            let replayed = measure(&q).replayed_view(&resources, &view).unwrap();
            assert_eq!(replayed, measure(&q).summed(&resources));
            assert_eq!((replayed["pods"].to_string(), replayed["requests.cpu"].to_string()), ("3".to_string(), "450m".to_string()));

            // The quota's status written (spec unchanged): still replayed.
            let mut with_status: Value = serde_json::from_slice(&quota("10")).unwrap();
            with_status["status"] = json!({"used": {"pods": "3"}});
            let kv = store.update("/registry/resourcequotas/d/q", object::encode(&with_status).unwrap(), quota_kv.mod_revision).await.unwrap();
            settle(kv.mod_revision).await.unwrap();
            assert!(measure(&q).replayed_view(&resources, &view).is_some());
            // Its spec changed after the view's revision: left to the sum.
            let kv = store.update("/registry/resourcequotas/d/q", quota("20"), kv.mod_revision).await.unwrap();
            settle(kv.mod_revision).await.unwrap();
            assert_eq!(measure(&q).replayed_view(&resources, &view), None);
            // A quota the view has no row for: left to the sum.
            assert_eq!(measure(&other).replayed_view(&resources, &view), None);
        }
    }

    #[test]
    fn a_resource_is_replayed_only_when_no_other_kind_measures_it() {
        assert!(only_measured_by(Evaluator::Pod, "requests.cpu"));
        assert!(only_measured_by(Evaluator::Pod, "pods"));
        assert!(only_measured_by(Evaluator::Claim, "requests.storage"));
        assert!(only_measured_by(Evaluator::Service, "services.loadbalancers"));
        assert!(only_measured_by(Evaluator::Count, "count/deployments.apps"));
        // An extended resource a pod requests, named as a storage class's claim resource.
        let both = "requests.gold.storageclass.storage.k8s.io/requests.storage";
        assert!(!only_measured_by(Evaluator::Pod, both) && !only_measured_by(Evaluator::Claim, both));
    }

    #[test]
    fn pretty_prints_sorted_pairs() {
        let list: BTreeMap<&str, String> = [("requests.cpu", "500m".to_string()), ("pods", "1".to_string())].into();
        assert_eq!(pretty(&list), "pods=1,requests.cpu=500m");
    }
}
