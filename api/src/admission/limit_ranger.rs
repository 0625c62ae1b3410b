//! LimitRanger (upstream's `plugin/pkg/admission/limitranger/admission.go`): on a pod create,
//! every container and init container gets the namespace's LimitRange `defaultRequest` and
//! `default` (type Container) for each resource it leaves unset, recorded in the
//! `kubernetes.io/limit-ranger` annotation; then pods violating `min`, `max` or
//! `maxLimitRequestRatio` (types Container and Pod), and claims violating type
//! PersistentVolumeClaim, are refused with 403 in upstream's words.
//!
//! LimitRanges are read from the watch cache, as upstream reads its informer; a LimitRange
//! created a moment before may not be seen yet (upstream's live lookup on an empty informer is
//! left out).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{LimitRange, LimitRangeItem};
use serde_json::{json, Value};

use crate::error::{ApiError, ApiResult};
use crate::quota::quantity::{canonical, Quantity};
use crate::quota::usage::{aggregate, container_list, List};
use crate::server::{Ctx, SharedState};

const ANNOTATION: &str = "kubernetes.io/limit-ranger";
/// Upstream's `resource.MaxMilliValue`: above it, values compare in whole units.
const MAX_MILLI_VALUE: i128 = (i64::MAX / 1000) as i128;

/// The namespace's LimitRanges, by name.
fn limit_ranges(state: &SharedState, ns: &str) -> Vec<LimitRange> {
    let (items, _) = state.cache.list(&format!("/registry/limitranges/{ns}/"), None);
    items.iter().filter_map(|o| serde_json::from_value(Value::clone(&o.value)).ok()).collect()
}

fn items(range: &LimitRange) -> &[LimitRangeItem] {
    range.spec.as_ref().map_or(&[], |s| s.limits.as_slice())
}

type Quantities = BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>;

fn entries(map: &Option<Quantities>) -> impl Iterator<Item = (&String, &str)> {
    map.iter().flatten().map(|(k, q)| (k, q.0.as_str()))
}

/// Defaults and checks a create of a pod or claim against the namespace's LimitRanges.
pub fn admit(state: &SharedState, ctx: &Ctx, obj: &mut Value) -> ApiResult<()> {
    let r = ctx.resource;
    let Some(ns) = ctx.namespace() else {
        return Ok(());
    };
    if !r.group.is_empty() || !matches!(r.plural, "pods" | "persistentvolumeclaims") {
        return Ok(());
    }
    let ranges = limit_ranges(state, ns);
    if ranges.is_empty() {
        return Ok(());
    }
    let name = crate::object::name(obj).unwrap_or_default().to_string();
    let forbidden = |message: String| ApiError::forbidden(format!("{} \"{name}\" is forbidden: {message}", r.plural)).with_details("", r.plural, &name);
    // Upstream's mutating pass runs for every LimitRange before its validating pass.
    if r.plural == "pods" {
        for range in &ranges {
            apply_defaults(range, obj);
        }
    }
    for range in &ranges {
        let errors = if r.plural == "pods" { validate_pod(range, obj) } else { validate_claim(range, obj) };
        if let Some(message) = aggregate_errors(errors.map_err(ApiError::bad_request)?) {
            return Err(forbidden(message));
        }
    }
    Ok(())
}

/// Upstream's `mergePodResourceRequirements`.
fn apply_defaults(range: &LimitRange, pod: &mut Value) {
    let (mut requests, mut limits) = (BTreeMap::new(), BTreeMap::new());
    for item in items(range).iter().filter(|i| i.type_ == "Container") {
        for (k, q) in entries(&item.default_request) {
            requests.insert(k.clone(), canonical(q).unwrap_or_else(|_| q.to_string()));
        }
        for (k, q) in entries(&item.default) {
            limits.insert(k.clone(), canonical(q).unwrap_or_else(|_| q.to_string()));
        }
    }
    if requests.is_empty() && limits.is_empty() {
        return;
    }
    let mut notes = Vec::new();
    for (field, prefix) in [("containers", "container"), ("initContainers", "init container")] {
        let Some(containers) = pod.pointer_mut(&format!("/spec/{field}")).and_then(Value::as_array_mut) else {
            continue;
        };
        for c in containers {
            let cname = c.get("name").and_then(Value::as_str).unwrap_or_default().to_string();
            for (kind, defaults) in [("requests", &requests), ("limits", &limits)] {
                let mut set = Vec::new();
                for (k, q) in defaults {
                    if c.pointer(&format!("/resources/{kind}/{}", k.replace('~', "~0").replace('/', "~1"))).is_none() {
                        if !c.get("resources").is_some_and(Value::is_object) {
                            c["resources"] = json!({});
                        }
                        if !c["resources"].get(kind).is_some_and(Value::is_object) {
                            c["resources"][kind] = json!({});
                        }
                        c["resources"][kind][k] = json!(q);
                        set.push(k.as_str());
                    }
                }
                if !set.is_empty() {
                    let word = if kind == "requests" { "request" } else { "limit" };
                    notes.push(format!("{} {word} for {prefix} {cname}", set.join(", ")));
                }
            }
        }
    }
    if !notes.is_empty() {
        let meta = crate::object::meta_mut(pod);
        if !meta.get("annotations").is_some_and(Value::is_object) {
            meta.insert("annotations".into(), json!({}));
        }
        meta["annotations"][ANNOTATION] = json!(format!("LimitRanger plugin set: {}", notes.join("; ")));
    }
}

/// A quantity and how upstream prints it.
#[derive(Clone)]
struct Shown {
    value: Quantity,
    text: String,
}

fn shown(list: &List) -> BTreeMap<String, Shown> {
    list.iter().map(|(k, q)| (k.clone(), Shown { value: *q, text: q.to_string() })).collect()
}

/// A container's list, printed as the container wrote it (`ParseQuantity(s).String()`).
fn container_shown(c: &Value, field: &str) -> Result<BTreeMap<String, Shown>, String> {
    let list = container_list(c, field)?;
    let mut out = shown(&list);
    for (k, s) in out.iter_mut() {
        if let Some(text) = c.pointer(&format!("/resources/{field}/{}", k.replace('~', "~0").replace('/', "~1"))).and_then(Value::as_str) {
            s.text = canonical(text).unwrap_or_else(|_| text.to_string());
        }
    }
    Ok(out)
}

fn enforced_list(map: &Option<Quantities>) -> Result<Vec<(String, Shown)>, String> {
    entries(map)
        .map(|(k, text)| {
            let value = Quantity::parse(text).map_err(|e| format!("limit range {k}: {text:?}: {e}"))?;
            Ok((k.clone(), Shown { value, text: canonical(text).unwrap_or_else(|_| text.to_string()) }))
        })
        .collect()
}

/// Upstream's `requestLimitEnforcedValues`: milli-units when all three fit, else units.
fn compared(request: Option<&Shown>, limit: Option<&Shown>, enforced: &Shown) -> (i128, i128, i128) {
    let value = |s: Option<&Shown>, d| s.map_or(0, |s| s.value.scaled(d));
    let whole = (value(request, 0), value(limit, 0), enforced.value.scaled(0));
    if whole.0 <= MAX_MILLI_VALUE && whole.1 <= MAX_MILLI_VALUE && whole.2 <= MAX_MILLI_VALUE {
        (value(request, 3), value(limit, 3), enforced.value.scaled(3))
    } else {
        whole
    }
}

type Lists<'a> = (&'a BTreeMap<String, Shown>, &'a BTreeMap<String, Shown>);

fn min_constraint(kind: &str, resource: &str, enforced: &Shown, (requests, limits): Lists) -> Option<String> {
    let (req, lim) = (requests.get(resource), limits.get(resource));
    let (r, l, e) = compared(req, lim, enforced);
    let head = format!("minimum {resource} usage per {kind} is {}", enforced.text);
    match (req, lim) {
        (None, _) => Some(format!("{head}.  No request is specified")),
        (Some(req), _) if r < e => Some(format!("{head}, but request is {}", req.text)),
        (_, Some(lim)) if l < e => Some(format!("{head}, but limit is {}", lim.text)),
        _ => None,
    }
}

fn max_constraint(kind: &str, resource: &str, enforced: &Shown, (requests, limits): Lists) -> Option<String> {
    let (req, lim) = (requests.get(resource), limits.get(resource));
    let (r, l, e) = compared(req, lim, enforced);
    let head = format!("maximum {resource} usage per {kind} is {}", enforced.text);
    match (req, lim) {
        (_, None) => Some(format!("{head}.  No limit is specified")),
        (_, Some(lim)) if l > e => Some(format!("{head}, but limit is {}", lim.text)),
        (Some(req), _) if r > e => Some(format!("{head}, but request is {}", req.text)),
        _ => None,
    }
}

/// Upstream's `maxRequestConstraint`, for claims, whose limits are not user input.
fn max_request_constraint(kind: &str, resource: &str, enforced: &Shown, requests: &BTreeMap<String, Shown>) -> Option<String> {
    let req = requests.get(resource);
    let (r, _, e) = compared(req, None, enforced);
    let head = format!("maximum {resource} usage per {kind} is {}", enforced.text);
    match req {
        None => Some(format!("{head}.  No request is specified")),
        Some(req) if r > e => Some(format!("{head}, but request is {}", req.text)),
        _ => None,
    }
}

fn ratio_constraint(kind: &str, resource: &str, enforced: &Shown, (requests, limits): Lists) -> Option<String> {
    let (req, lim) = (requests.get(resource), limits.get(resource));
    let (r, l, _) = compared(req, lim, enforced);
    let head = format!("{resource} max limit to request ratio per {kind} is {}", enforced.text);
    if req.is_none() || r == 0 {
        return Some(format!("{head}, but no request is specified or request is 0"));
    }
    if lim.is_none() || l == 0 {
        return Some(format!("{head}, but no limit is specified or limit is 0"));
    }
    let observed = l as f64 / r as f64;
    let (mut scaled, mut max) = (observed, enforced.value.scaled(0) as f64);
    if enforced.value.scaled(0) <= MAX_MILLI_VALUE {
        scaled *= 1000.0;
        max = enforced.value.scaled(3) as f64;
    }
    (scaled > max).then(|| format!("{head}, but provided ratio is {observed:.6}"))
}

/// Checks min, max and ratio of one item against one requests/limits pair.
fn check(item: &LimitRangeItem, lists: Lists, errors: &mut Vec<String>) -> Result<(), String> {
    let kind = item.type_.as_str();
    for (k, v) in enforced_list(&item.min)? {
        errors.extend(min_constraint(kind, &k, &v, lists));
    }
    for (k, v) in enforced_list(&item.max)? {
        errors.extend(max_constraint(kind, &k, &v, lists));
    }
    for (k, v) in enforced_list(&item.max_limit_request_ratio)? {
        errors.extend(ratio_constraint(kind, &k, &v, lists));
    }
    Ok(())
}

/// Upstream's `PodValidateLimitFunc`.
fn validate_pod(range: &LimitRange, pod: &Value) -> Result<Vec<String>, String> {
    let mut errors = Vec::new();
    let spec = pod.get("spec").cloned().unwrap_or(Value::Null);
    for item in items(range) {
        match item.type_.as_str() {
            "Container" => {
                for field in ["containers", "initContainers"] {
                    for c in spec.get(field).and_then(Value::as_array).into_iter().flatten() {
                        let (requests, limits) = (container_shown(c, "requests")?, container_shown(c, "limits")?);
                        check(item, (&requests, &limits), &mut errors)?;
                    }
                }
            }
            "Pod" => {
                // Pod overhead is left out here, as upstream's LimitRanger does.
                let (requests, limits) = (shown(&aggregate(&spec, "requests")?), shown(&aggregate(&spec, "limits")?));
                check(item, (&requests, &limits), &mut errors)?;
            }
            _ => {}
        }
    }
    Ok(errors)
}

/// Upstream's `PersistentVolumeClaimValidateLimitFunc`.
fn validate_claim(range: &LimitRange, claim: &Value) -> Result<Vec<String>, String> {
    let mut errors = Vec::new();
    let requests: List = container_list(claim.get("spec").unwrap_or(&Value::Null), "requests")?;
    let requests = shown(&requests);
    for item in items(range).iter().filter(|i| i.type_ == "PersistentVolumeClaim") {
        for (k, v) in enforced_list(&item.min)? {
            errors.extend(min_constraint(&item.type_, &k, &v, (&requests, &BTreeMap::new())));
        }
        for (k, v) in enforced_list(&item.max)? {
            errors.extend(max_request_constraint(&item.type_, &k, &v, &requests));
        }
    }
    Ok(errors)
}

/// Upstream's `utilerrors.NewAggregate(errs).Error()`: one message as it is, several
/// deduplicated in brackets.
fn aggregate_errors(errors: Vec<String>) -> Option<String> {
    match errors.len() {
        0 => None,
        1 => errors.into_iter().next(),
        _ => {
            let mut seen = Vec::new();
            for e in errors {
                if !seen.contains(&e) {
                    seen.push(e);
                }
            }
            Some(if seen.len() == 1 { seen.remove(0) } else { format!("[{}]", seen.join(", ")) })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(limits: Value) -> LimitRange {
        serde_json::from_value(json!({"metadata": {"name": "limits"}, "spec": {"limits": limits}})).unwrap()
    }

    #[test]
    fn defaults_fill_only_what_is_unset() {
        let r = range(json!([{"type": "Container", "default": {"cpu": "200m", "memory": "512Mi"}, "defaultRequest": {"cpu": "0.1", "memory": "256Mi"}}]));
        let mut pod = json!({"metadata": {"name": "p"}, "spec": {"containers": [
            {"name": "a"},
            {"name": "b", "resources": {"requests": {"cpu": "300m"}, "limits": {"cpu": "1"}}},
        ]}});
        apply_defaults(&r, &mut pod);
        assert_eq!(
            pod["spec"]["containers"][0]["resources"],
            json!({"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"cpu": "200m", "memory": "512Mi"}})
        );
        assert_eq!(
            pod["spec"]["containers"][1]["resources"],
            json!({"requests": {"cpu": "300m", "memory": "256Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}})
        );
        assert_eq!(
            pod["metadata"]["annotations"][ANNOTATION],
            "LimitRanger plugin set: cpu, memory request for container a; cpu, memory limit for container a; memory request for container b; memory limit for container b"
        );
    }

    #[test]
    fn min_and_max_speak_upstream() {
        let r = range(json!([{"type": "Container", "min": {"cpu": "100m"}, "max": {"memory": "1Gi"}}]));
        let pod = json!({"spec": {"containers": [{"name": "a", "resources": {"requests": {"cpu": "50m"}, "limits": {"memory": "1536Mi"}}}]}});
        let errors = validate_pod(&r, &pod).unwrap();
        assert_eq!(
            aggregate_errors(errors).unwrap(),
            "[minimum cpu usage per Container is 100m, but request is 50m, maximum memory usage per Container is 1Gi, but limit is 1536Mi]"
        );
        let ok = json!({"spec": {"containers": [{"name": "a", "resources": {"requests": {"cpu": "0.1"}, "limits": {"memory": "1Gi"}}}]}});
        assert!(validate_pod(&r, &ok).unwrap().is_empty());
        let unset = json!({"spec": {"containers": [{"name": "a"}]}});
        assert_eq!(
            aggregate_errors(validate_pod(&r, &unset).unwrap()).unwrap(),
            "[minimum cpu usage per Container is 100m.  No request is specified, maximum memory usage per Container is 1Gi.  No limit is specified]"
        );
    }

    #[test]
    fn ratio_and_pod_totals() {
        let r = range(json!([{"type": "Container", "maxLimitRequestRatio": {"cpu": "2"}}, {"type": "Pod", "max": {"cpu": "1"}}]));
        let pod = json!({"spec": {"containers": [
            {"name": "a", "resources": {"requests": {"cpu": "250m"}, "limits": {"cpu": "750m"}}},
            {"name": "b", "resources": {"requests": {"cpu": "250m"}, "limits": {"cpu": "500m"}}},
        ]}});
        assert_eq!(
            aggregate_errors(validate_pod(&r, &pod).unwrap()).unwrap(),
            "[cpu max limit to request ratio per Container is 2, but provided ratio is 3.000000, maximum cpu usage per Pod is 1, but limit is 1250m]"
        );
    }

    #[test]
    fn one_error_has_no_brackets() {
        assert_eq!(aggregate_errors(vec!["a".into(), "a".into()]).unwrap(), "a");
        assert_eq!(aggregate_errors(vec!["a".into()]).unwrap(), "a");
        assert_eq!(aggregate_errors(vec![]), None);
    }
}
