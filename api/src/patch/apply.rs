//! Server-side apply and `metadata.managedFields` bookkeeping.
//!
//! Follows upstream's field-manager pipeline (`k8s.io/apimachinery/pkg/util/managedfields/
//! internal`, release-1.33) around `sigs.k8s.io/structured-merge-diff/v4/merge.Updater`:
//!
//! * managers are identified by (manager, operation, apiVersion for `Update`, subresource);
//! * **apply**: the configuration is merged into the live object; the applier's `Apply`
//!   entry becomes exactly the configuration's field set; fields it applied last time and
//!   no longer applies are removed unless some manager still owns them; other managers'
//!   fields whose values change are conflicts (or, forced, change owner); an object without
//!   `managedFields` first attributes all its fields to `before-first-apply`; manager
//!   `kubectl` may take over fields recorded in the client-side
//!   `kubectl.kubernetes.io/last-applied-configuration` annotation without conflict and keeps
//!   that annotation in sync;
//! * **update** (create/update/patch): the manager's `Update` entry gains every field it
//!   added or changed and other managers lose them; removed fields leave every entry;
//!   objects that exist but were never tracked stay untracked; at most 10 `Update` entries
//!   are kept (older ones fold into `ancient-changes`);
//! * `apiVersion`, `kind`, `metadata` and server-owned metadata fields are never owned;
//!   entries are sorted like upstream (operation, time, manager, apiVersion, subresource)
//!   and times are written at second precision, as `metav1.Time` does;
//! * like upstream's reset fields, writes to the main resource of a built-in kind neither
//!   own nor release `status` (an applied `status` is not merged either), and writes to its
//!   `status` subresource leave `spec` alone. Custom resources track everything.
//!
//! Not modelled: conversion between API versions (sets recorded at another version are
//! used as they are; only the applied object's `kind` is checked, the caller checks its
//! version), per-kind refinements of the reset fields, and defaulting of the merged object.
//! An applier entry that never had a time gets one even when the apply changed nothing
//! (upstream leaves it without).

use super::fieldset::{path_string, FieldSet, PathElement};
use super::merge_keys::{Schema, TypeRef};
use super::typed::{compare, field_set, item_element, merge, remove};
use super::{depth_exceeds, ApplyError, Conflict, MAX_DEPTH};
use serde_json::{Map, Value};

const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";
const MAX_UPDATE_MANAGERS: usize = 10;
const STRIPPED_META: [&str; 9] = ["name", "namespace", "creationTimestamp", "selfLink", "uid", "clusterName", "generation", "managedFields", "resourceVersion"];

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct ManagerId {
    manager: String,
    operation: &'static str,
    /// Empty for `Apply` entries: an applier is the same manager at every version.
    api_version: String,
    subresource: String,
}

#[derive(Debug, Clone)]
struct Entry {
    id: ManagerId,
    api_version: String,
    time: Option<String>,
    set: FieldSet,
}

type Managed = Vec<Entry>;

fn find<'m>(managed: &'m mut Managed, id: &ManagerId) -> Option<&'m mut Entry> {
    managed.iter_mut().find(|e| &e.id == id)
}

fn upsert(managed: &mut Managed, entry: Entry) {
    match find(managed, &entry.id) {
        Some(e) => *e = entry,
        None => managed.push(entry),
    }
}

fn id_for(manager: &str, operation: &'static str, api_version: &str, subresource: &str) -> ManagerId {
    ManagerId {
        manager: manager.to_owned(),
        operation,
        api_version: if operation == "Apply" { String::new() } else { api_version.to_owned() },
        subresource: subresource.to_owned(),
    }
}

/// Decodes `metadata.managedFields` (upstream `DecodeManagedFields`).
fn decode(list: Option<&Value>) -> Result<Managed, String> {
    let items = match list {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(_) => return Err("managedFields must be a list".into()),
    };
    let mut managed = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let s = |k: &str| item.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
        let operation = match item.get("operation").and_then(Value::as_str) {
            Some("Apply") => "Apply",
            Some("Update") => "Update",
            _ => return Err("operation must be `Apply` or `Update`".into()),
        };
        let api_version = s("apiVersion");
        if api_version.is_empty() {
            return Err("apiVersion must not be empty".into());
        }
        match item.get("fieldsType").and_then(Value::as_str) {
            Some("FieldsV1") => {}
            None | Some("") => return Err(format!("missing fieldsType in managed fields entry {i}")),
            Some(t) => return Err(format!("invalid fieldsType {t:?} in managed fields entry {i}")),
        }
        let set = match item.get("fieldsV1") {
            None | Some(Value::Null) => FieldSet::new(),
            Some(v) => FieldSet::from_fields_v1(v).map_err(|e| format!("error decoding set: {e}"))?,
        };
        let time = item.get("time").and_then(Value::as_str).map(str::to_owned);
        let id = id_for(&s("manager"), operation, &api_version, &s("subresource"));
        upsert(&mut managed, Entry { id, api_version, time, set });
    }
    Ok(managed)
}

/// Seconds since the epoch of an RFC 3339 timestamp (0 if unparsable), for sorting.
fn unix_seconds(t: &str) -> i64 {
    let num = |r: std::ops::Range<usize>| t.get(r).and_then(|s| s.parse::<i64>().ok());
    let (Some(y), Some(mo), Some(d), Some(h), Some(mi), Some(s)) = (num(0..4), num(5..7), num(8..10), num(11..13), num(14..16), num(17..19)) else {
        return 0;
    };
    // Days from civil (Howard Hinnant's algorithm).
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if mo > 2 { mo - 3 } else { mo + 9 }) + 2) / 5 + d - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    let tz = t.get(19..).unwrap_or_default().trim_start_matches(|c: char| c == '.' || c.is_ascii_digit());
    let offset = match (tz.get(..1), tz.get(1..3).and_then(|h| h.parse::<i64>().ok()), tz.get(4..6).and_then(|m| m.parse::<i64>().ok())) {
        (Some("+"), Some(h), Some(m)) => h * 3600 + m * 60,
        (Some("-"), Some(h), Some(m)) => -(h * 3600 + m * 60),
        _ => 0,
    };
    days * 86_400 + h * 3600 + mi * 60 + s - offset
}

/// `t` with fractional seconds dropped: `metav1.Time` serializes at second precision.
fn seconds_precision(t: &str) -> String {
    match t.get(19..).and_then(|rest| rest.strip_prefix('.')) {
        Some(frac) => format!("{}{}", &t[..19], frac.trim_start_matches(|c: char| c.is_ascii_digit())),
        None => t.to_owned(),
    }
}

/// Writes the entries into `obj.metadata.managedFields`, sorted like upstream.
fn encode(obj: &mut Value, mut managed: Managed) {
    if !obj.is_object() {
        return;
    }
    managed.retain(|e| !e.set.is_empty());
    let secs = |e: &Entry| e.time.as_deref().map_or(0, unix_seconds);
    managed.sort_by(|p, q| {
        (p.id.operation, secs(p), &p.id.manager, &p.api_version, &p.id.subresource).cmp(&(
            q.id.operation,
            secs(q),
            &q.id.manager,
            &q.api_version,
            &q.id.subresource,
        ))
    });
    let entries = managed.into_iter().map(|e| {
        let fields = e.set.to_fields_v1();
        render(e.id, e.api_version, e.time, fields)
    });
    write_entries(obj, entries.collect());
}

/// Sets `obj.metadata.managedFields` to `entries` (rendered, in order), or removes it when
/// there are none.
fn write_entries(obj: &mut Value, entries: Vec<Value>) {
    let Some(root) = obj.as_object_mut() else {
        return;
    };
    let meta = root.entry("metadata").or_insert_with(|| Value::Object(Map::new()));
    let Some(meta) = meta.as_object_mut() else {
        return;
    };
    if entries.is_empty() {
        meta.shift_remove("managedFields");
    } else {
        meta.insert("managedFields".into(), Value::Array(entries));
    }
}

/// One `managedFields` entry as upstream writes it.
fn render(id: ManagerId, api_version: String, time: Option<String>, fields_v1: Value) -> Value {
    let mut m = Map::new();
    if !id.manager.is_empty() {
        m.insert("manager".into(), id.manager.into());
    }
    m.insert("operation".into(), id.operation.into());
    m.insert("apiVersion".into(), api_version.into());
    if let Some(t) = time {
        m.insert("time".into(), t.into());
    }
    m.insert("fieldsType".into(), "FieldsV1".into());
    m.insert("fieldsV1".into(), fields_v1);
    if !id.subresource.is_empty() {
        m.insert("subresource".into(), id.subresource.into());
    }
    Value::Object(m)
}

/// Fields no manager may own (upstream `stripMetaManager`).
fn strip_set() -> &'static FieldSet {
    static STRIPPED: std::sync::LazyLock<FieldSet> = std::sync::LazyLock::new(|| {
        let mut s = FieldSet::new();
        for top in ["apiVersion", "kind", "metadata"] {
            s.insert(&[PathElement::Field(top.into())]);
        }
        for f in STRIPPED_META {
            s.insert(&[PathElement::Field("metadata".into()), PathElement::Field(f.into())]);
        }
        s
    });
    &STRIPPED
}

/// Top-level fields a write to `subresource` never owns (upstream's per-strategy
/// `GetResetFields`, used as the updater's ignore filter): the main resource of a built-in
/// kind does not own `status`, its `status` subresource does not own `spec`. Custom
/// resources may lack a status subresource, so nothing is ignored for them.
fn reset_fields(ty: TypeRef<'_>, subresource: &str) -> &'static [&'static str] {
    match (ty.is_known(), subresource) {
        (true, "") => &["status"],
        (true, "status") => &["spec"],
        _ => &[],
    }
}

fn ignoring(mut set: FieldSet, fields: &[&str]) -> FieldSet {
    for f in fields {
        set.remove_subtree(&PathElement::Field((*f).to_owned()));
    }
    set
}

fn without_managed_fields(v: &Value) -> Value {
    let mut v = v.clone();
    strip_managed_fields(&mut v);
    v
}

/// Removes `metadata.managedFields`, keeping the other fields' order.
fn strip_managed_fields(v: &mut Value) {
    if let Some(meta) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.shift_remove("managedFields");
    }
}

fn str_field<'v>(v: &'v Value, path: &[&str]) -> Option<&'v str> {
    path.iter().try_fold(v, |v, k| v.get(k)).and_then(Value::as_str)
}

/// Caps `Update` entries at [`MAX_UPDATE_MANAGERS`] (upstream `capManagersManager`).
fn cap_update_managers(managed: &mut Managed) {
    let mut updaters: Vec<(i64, ManagerId)> =
        managed.iter().filter(|e| e.id.operation == "Update").map(|e| (e.time.as_deref().map_or(0, unix_seconds), e.id.clone())).collect();
    if updaters.len() <= MAX_UPDATE_MANAGERS {
        return;
    }
    updaters.sort();
    let mut remaining = updaters.len();
    let mut first_per_version: Vec<(String, ManagerId)> = Vec::new();
    for (_, id) in updaters {
        if remaining <= MAX_UPDATE_MANAGERS {
            break;
        }
        let Some(pos) = managed.iter().position(|e| e.id == id) else {
            continue;
        };
        let version = managed[pos].api_version.clone();
        let Some((_, first)) = first_per_version.iter().find(|(v, _)| *v == version).cloned() else {
            first_per_version.push((version, id));
            continue;
        };
        let entry = managed.remove(pos);
        let bucket = id_for("ancient-changes", "Update", &version, "");
        if find(managed, &bucket).is_none() {
            if let Some(p) = managed.iter().position(|e| e.id == first) {
                let mut moved = managed.remove(p);
                moved.id = bucket.clone();
                managed.push(moved);
            }
        }
        if let Some(b) = find(managed, &bucket) {
            b.set = entry.set.union(&b.set);
            b.time = entry.time;
        }
        remaining -= 1;
    }
}

/// Records an ordinary write (create, update, patch) by `manager` in `new`'s
/// `metadata.managedFields`. `old` is the stored object (`None` for a create); `new` is the
/// object about to be stored. A `managedFields` sent by the client in `new` is honoured as
/// upstream does (an empty list resets tracking); otherwise `old`'s entries are carried
/// over. Never fails: undecodable entries are dropped, as upstream does.
pub fn record_update(kind: &str, old: Option<&Value>, new: &mut Value, manager: &str, now_rfc3339: &str) {
    record_update_subresource(kind, old, new, manager, "", now_rfc3339);
}

/// [`record_update`] for writes to a subresource (`status`, `scale`): the entry carries
/// `subresource`, `managedFields` in the request body is ignored, and for `status` changes
/// to `spec` are not recorded.
pub fn record_update_subresource(kind: &str, old: Option<&Value>, new: &mut Value, manager: &str, subresource: &str, now_rfc3339: &str) {
    if !new.is_object() {
        return;
    }
    let old_fields = old.and_then(|o| o.pointer("/metadata/managedFields"));
    let new_fields = new.pointer("/metadata/managedFields").cloned();
    let reset = match &new_fields {
        Some(Value::Array(items)) => items.is_empty() || (items.len() == 1 && items[0].as_object().is_some_and(Map::is_empty)),
        _ => false,
    };
    let mut managed = if reset && subresource.is_empty() {
        Vec::new()
    } else {
        match decode(new_fields.as_ref()) {
            Ok(m) if !m.is_empty() && subresource.is_empty() => m,
            _ => decode(old_fields).unwrap_or_default(),
        }
    };
    strip_managed_fields(new);
    let new_clean: &Value = new;
    let existing = old.is_some_and(|o| str_field(o, &["metadata", "uid"]).is_some_and(|u| !u.is_empty()));
    if managed.is_empty() && existing {
        return; // never tracked: stays untracked (upstream skipNonAppliedManager)
    }
    let old_clean = old.map(without_managed_fields).unwrap_or_else(|| Value::Object(Map::new()));
    if depth_exceeds(&old_clean, MAX_DEPTH) || depth_exceeds(new_clean, MAX_DEPTH) {
        return;
    }
    let api_version = str_field(new_clean, &["apiVersion"]).or_else(|| str_field(&old_clean, &["apiVersion"])).unwrap_or_default();
    let manager = if manager.is_empty() { "unknown" } else { manager };
    let ty = Schema::builtin().kind(kind);
    let now = seconds_precision(now_rfc3339);
    let id = id_for(manager, "Update", api_version, subresource);
    if old.is_none() && managed.is_empty() && subresource.is_empty() {
        // A create: its entry depends on the object's shape only, and is remembered by it.
        let fields = super::created_fields::remembered(kind, new_clean, || {
            let mut created = Managed::new();
            update_managed(&mut created, ty, &old_clean, new_clean, id.clone(), &now, reset_fields(ty, subresource));
            created.pop().map(|e| e.set.to_fields_v1())
        });
        let api_version = id.api_version.clone();
        write_entries(new, fields.map(|fields| render(id, api_version, Some(now), fields)).into_iter().collect());
        return;
    }
    update_managed(&mut managed, ty, &old_clean, new_clean, id, &now, reset_fields(ty, subresource));
    cap_update_managers(&mut managed);
    encode(new, managed);
}

/// Upstream `Updater.Update` as wrapped by `managedFieldsUpdater` and `stripMetaManager`;
/// changes below the `ignored` top-level fields neither take nor release ownership.
fn update_managed(managed: &mut Managed, ty: TypeRef<'_>, old: &Value, new: &Value, id: ManagerId, now: &str, ignored: &[&str]) {
    let cmp = compare(old, new, ty);
    let changed = ignoring(if cmp.modified.is_empty() { cmp.added } else { cmp.modified.union(&cmp.added) }, ignored);
    let removed = ignoring(cmp.removed, ignored);
    for e in managed.iter_mut() {
        e.set = e.set.difference(&changed).difference(&removed);
    }
    managed.retain(|e| !e.set.is_empty());
    let taken = changed.difference(strip_set());
    if taken.is_empty() {
        return;
    }
    let set = match find(managed, &id) {
        Some(prev) => taken.union(&prev.set),
        None => taken,
    };
    let api_version = id.api_version.clone();
    upsert(managed, Entry { id, api_version, time: Some(now.to_owned()), set });
}

/// Rejects applied lists whose elements cannot be keyed, or that repeat a key.
fn validate_lists(v: &Value, ty: TypeRef<'_>, meta: Option<&super::FieldMeta>, path: &mut Vec<PathElement>) -> Result<(), String> {
    match v {
        Value::Object(m) => {
            let map_field = meta.is_some_and(|m| m.shape == super::Shape::Map);
            for (k, child) in m {
                let (cty, cmeta) = if map_field { (ty, None) } else { (ty.child(k), ty.field(k)) };
                path.push(PathElement::Field(k.clone()));
                validate_lists(child, cty, cmeta, path)?;
                path.pop();
            }
        }
        Value::Array(items) if meta.is_some_and(|m| m.list_type != super::ListType::Atomic) => {
            let mut seen = Vec::new();
            for item in items {
                let pe = item_element(item, meta).ok_or_else(|| match meta.map(|m| &m.list_map_keys) {
                    Some(keys) if !keys.is_empty() => format!(
                        "{}: associative list with keys has an element that omits key field (and doesn't have default value) or is not an object: {item}",
                        path_string(path)
                    ),
                    _ => format!("{}: associative list without keys has an element that is not a scalar: {item}", path_string(path)),
                })?;
                if seen.contains(&pe) {
                    return Err(format!("{}: duplicate entries for key {}", path_string(path), pe.display()));
                }
                path.push(pe.clone());
                validate_lists(item, ty, None, path)?;
                path.pop();
                seen.push(pe);
            }
        }
        _ => {}
    }
    Ok(())
}

/// Internal conflict: the Conflict plus its raw path.
type RawConflicts = Vec<(Conflict, Vec<PathElement>)>;

/// The fixed inputs of an apply.
struct ApplyRequest<'a> {
    ty: TypeRef<'a>,
    live: &'a Value,
    applied: &'a Value,
    id: ManagerId,
    api_version: &'a str,
    now: &'a str,
}

/// Upstream `Updater.Apply` + `update` + `stripMetaManager` for one attempt.
fn apply_once(req: &ApplyRequest<'_>, mut managed: Managed, force: bool) -> Result<(Value, Managed), RawConflicts> {
    let ApplyRequest { ty, live, applied, ref id, api_version, now } = *req;
    let mut merged = merge(live, applied, ty);
    let config_set = field_set(applied, ty);
    let last = find(&mut managed, id).map(|e| e.set.clone());
    let previous_time = find(&mut managed, id).and_then(|e| e.time.clone());
    upsert(&mut managed, Entry { id: id.clone(), api_version: api_version.to_owned(), time: previous_time, set: config_set });
    if let Some(last) = last.filter(|l| !l.is_empty()) {
        let named = ty.is_known();
        let owned = managed.iter().fold(FieldSet::new(), |acc, e| acc.union(&e.set)).ensure_named_fields(named);
        remove(&mut merged, &last.ensure_named_fields(named).difference(&owned), ty);
    }
    let cmp = compare(live, &merged, ty);
    let changed = cmp.modified.union(&cmp.added);
    let mut conflicts: RawConflicts = Vec::new();
    managed.sort_by(|a, b| a.id.cmp(&b.id));
    for e in managed.iter_mut().filter(|e| &e.id != id) {
        let clash = e.set.intersection(&changed);
        for path in clash.paths() {
            let c = Conflict {
                manager: e.id.manager.clone(),
                operation: e.id.operation.to_owned(),
                api_version: e.api_version.clone(),
                subresource: e.id.subresource.clone(),
                field_path: path_string(&path),
            };
            conflicts.push((c, path));
        }
        if force {
            e.set = e.set.difference(&clash);
        }
        e.set = e.set.difference(&cmp.removed);
    }
    if !force && !conflicts.is_empty() {
        return Err(conflicts);
    }
    let strip = strip_set();
    let changed_object = merged != *live;
    if let Some(e) = find(&mut managed, id) {
        e.set = e.set.difference(strip);
        if changed_object || e.time.is_none() {
            e.time = Some(now.to_owned());
        }
    }
    managed.retain(|e| !e.set.is_empty());
    Ok((merged, managed))
}

/// Fields kubectl's client-side apply recorded and that still hold their recorded value:
/// manager `kubectl` may take these over without conflict (upstream `lastAppliedManager`).
fn allowed_from_last_applied(ty: TypeRef<'_>, live: &Value, api_version: &str) -> Option<FieldSet> {
    let text = str_field(live, &["metadata", "annotations", LAST_APPLIED]).filter(|t| !t.is_empty())?;
    let last: Value = serde_json::from_str(text).ok()?;
    if str_field(&last, &["apiVersion"]) != Some(api_version) || depth_exceeds(&last, MAX_DEPTH) {
        return None;
    }
    let cmp = compare(&last, live, ty);
    Some(field_set(&last, ty).difference(&cmp.modified).difference(&cmp.added).difference(&cmp.removed))
}

/// JSON with object keys sorted, as Go's encoder writes maps.
fn sorted(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            Value::Object(keys.into_iter().map(|k| (k.clone(), sorted(&m[k]))).collect())
        }
        Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

/// Server-side apply of `applied` (the `application/apply-patch+yaml` body, already parsed)
/// by `manager` to `live` (`None` when the apply creates the object). Returns the object to
/// store, with `metadata.managedFields` updated; see the module docs for the rules.
pub fn server_side_apply(kind: &str, live: Option<&Value>, applied: &Value, manager: &str, force: bool, now_rfc3339: &str) -> Result<Value, ApplyError> {
    let bad = |m: String| Err(ApplyError::BadRequest(m));
    if !applied.is_object() {
        return bad("the applied configuration must be an object".into());
    }
    let api_version = str_field(applied, &["apiVersion"]).unwrap_or_default().to_owned();
    let applied_kind = str_field(applied, &["kind"]).unwrap_or_default();
    if api_version.is_empty() || applied_kind != kind {
        return bad(format!("invalid object type: {api_version}, Kind={applied_kind}"));
    }
    if applied.pointer("/metadata/managedFields").is_some_and(|v| !v.is_null()) {
        return bad("metadata.managedFields must be nil".into());
    }
    if live.is_some_and(|l| !l.is_object()) {
        return bad("the live object must be an object".into());
    }
    if depth_exceeds(applied, MAX_DEPTH) || live.is_some_and(|l| depth_exceeds(l, MAX_DEPTH)) {
        return bad(format!("object is nested more than {MAX_DEPTH} levels deep"));
    }
    let ty = Schema::builtin().kind(kind);
    validate_lists(applied, ty, None, &mut Vec::new()).map_err(ApplyError::BadRequest)?;
    let now_rfc3339 = &seconds_precision(now_rfc3339);
    let mut managed = match live {
        Some(l) => decode(l.pointer("/metadata/managedFields")).map_err(ApplyError::InvalidManagedFields)?,
        None => Vec::new(),
    };
    let live_v = live.map(without_managed_fields).unwrap_or_else(|| Value::Object(Map::new()));
    if managed.is_empty() && live.is_some() {
        let live_version = str_field(&live_v, &["apiVersion"]).unwrap_or(&api_version).to_owned();
        let id = id_for("before-first-apply", "Update", &live_version, "");
        let empty = Value::Object(Map::new());
        update_managed(&mut managed, ty, &empty, &live_v, id, now_rfc3339, reset_fields(ty, ""));
    }
    let manager = if manager.is_empty() { "unknown" } else { manager };
    // Reset fields (`status`) are neither merged nor owned, as after upstream's registry.
    let mut effective = applied.clone();
    if let Some(m) = effective.as_object_mut() {
        reset_fields(ty, "").iter().for_each(|f| drop(m.shift_remove(*f)));
    }
    let req =
        ApplyRequest { ty, live: &live_v, applied: &effective, id: id_for(manager, "Apply", &api_version, ""), api_version: &api_version, now: now_rfc3339 };
    let attempt = |force: bool| apply_once(&req, managed.clone(), force);
    let (mut object, managed) = match attempt(force) {
        Ok(done) => done,
        Err(conflicts) => {
            let allowed = (manager == "kubectl").then(|| allowed_from_last_applied(ty, &live_v, &api_version)).flatten();
            let remaining: Vec<Conflict> = conflicts.into_iter().filter(|(_, path)| !allowed.as_ref().is_some_and(|a| a.has(path))).map(|(c, _)| c).collect();
            if !remaining.is_empty() || allowed.is_none() {
                return Err(ApplyError::Conflict(remaining));
            }
            attempt(true).map_err(|c| ApplyError::Conflict(c.into_iter().map(|(c, _)| c).collect()))?
        }
    };
    if manager == "kubectl" && str_field(&object, &["metadata", "annotations", LAST_APPLIED]).is_some_and(|t| !t.is_empty()) {
        let mut config = applied.clone();
        if let Some(ann) = config.pointer_mut("/metadata/annotations").and_then(Value::as_object_mut) {
            ann.shift_remove(LAST_APPLIED);
        }
        let text = format!("{}\n", sorted(&config));
        if let Some(ann) = object.pointer_mut("/metadata/annotations").and_then(Value::as_object_mut) {
            ann.insert(LAST_APPLIED.into(), Value::String(text));
        }
    }
    encode(&mut object, managed);
    Ok(object)
}

#[cfg(test)]
#[path = "apply_tests.rs"]
mod tests;
