//! Schema-aware walks for server-side apply: field sets, merge, comparison and removal.
//!
//! Ports of `sigs.k8s.io/structured-merge-diff/v4/typed` (`tofieldset.go`, `merge.go`,
//! `compare.go`, `remove.go`) onto `serde_json::Value`, driven by [`super::merge_keys`]:
//!
//! * objects are granular (each field owned separately) unless the type is
//!   `+structType=atomic` or the field `+mapType=atomic`;
//! * lists are atomic unless `+listType=set` (elements `v:<value>`) or `+listType=map`
//!   (elements `k:{keys}`, missing keys taking their schema default). A list whose elements
//!   cannot be identified that way is handled as atomic rather than rejected; the apply
//!   entry point rejects such elements in the applied configuration, as upstream does;
//! * inside unknown kinds every object is a plain map (upstream's "deduced" schema).
//!
//! Callers check nesting depth first (see [`super::MAX_DEPTH`]), so recursion is bounded.
//! Differences from upstream: a `null` in an applied configuration removes the field
//! (upstream stores `null`, which the typed decoder then drops), and objects or lists left
//! empty by a removal are dropped rather than set to `null`.

use super::fieldset::{FieldSet, PathElement};
use super::merge_keys::{FieldMeta, ListType, Shape, TypeRef};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};

static NULL: Value = Value::Null;
static EMPTY: std::sync::LazyLock<Value> = std::sync::LazyLock::new(|| Value::Object(Map::new()));

/// The (type, metadata) of field `key` of an object described by (`ty`, `meta`): for map
/// fields every key has the value type and no metadata of its own.
fn field_of<'a>(ty: TypeRef<'a>, meta: Option<&'a FieldMeta>, key: &str) -> (TypeRef<'a>, Option<&'a FieldMeta>) {
    if meta.is_some_and(|m| m.shape == Shape::Map) {
        (ty, None)
    } else {
        (ty.child(key), ty.field(key))
    }
}

fn atomic_object(ty: TypeRef<'_>, meta: Option<&FieldMeta>) -> bool {
    ty.is_atomic() || meta.is_some_and(|m| m.atomic)
}

/// The path element of list element `item`, or `None` if it cannot have one.
pub fn item_element(item: &Value, meta: Option<&FieldMeta>) -> Option<PathElement> {
    let meta = meta?;
    match meta.list_type {
        ListType::Atomic => None,
        ListType::Set => (!item.is_object() && !item.is_array()).then(|| PathElement::Value(item.clone())),
        ListType::Map => {
            let obj = item.as_object()?;
            let mut key = Vec::with_capacity(meta.list_map_keys.len());
            for (name, default) in &meta.list_map_keys {
                let v = obj.get(name).or(default.as_ref())?;
                key.push((name.clone(), v.clone()));
            }
            (!key.is_empty()).then(|| PathElement::key(key))
        }
    }
}

/// Path elements of all items, or `None` if the list must be treated as atomic.
pub fn list_elements(items: &[Value], meta: Option<&FieldMeta>) -> Option<Vec<PathElement>> {
    items.iter().map(|i| item_element(i, meta)).collect()
}

/// The set of fields a value sets (upstream `TypedValue.ToFieldSet`).
pub fn field_set(value: &Value, ty: TypeRef<'_>) -> FieldSet {
    let mut set = FieldSet::new();
    fs_walk(value, ty, None, &mut Vec::new(), &mut set);
    set
}

fn fs_walk(v: &Value, ty: TypeRef<'_>, meta: Option<&FieldMeta>, path: &mut Vec<PathElement>, set: &mut FieldSet) {
    match v {
        Value::Object(m) if !atomic_object(ty, meta) => {
            let map_like = !ty.is_known() || meta.is_some_and(|m| m.shape == Shape::Map);
            for (k, child) in m {
                let (cty, cmeta) = field_of(ty, meta, k);
                path.push(PathElement::Field(k.clone()));
                fs_walk(child, cty, cmeta, path, set);
                if child.is_null() || child.as_object().is_some_and(Map::is_empty) || map_like {
                    set.insert(path);
                }
                path.pop();
            }
        }
        Value::Array(items) => match list_elements(items, meta) {
            None => set.insert(path),
            Some(pes) => {
                let mut seen = BTreeSet::new();
                let mut dups = BTreeSet::new();
                for pe in &pes {
                    if !seen.insert(pe) && dups.insert(pe) {
                        path.push(pe.clone());
                        set.insert(path);
                        path.pop();
                    }
                }
                for (item, pe) in items.iter().zip(&pes) {
                    if dups.contains(pe) {
                        continue;
                    }
                    path.push(pe.clone());
                    fs_walk(item, ty, None, path, set);
                    set.insert(path);
                    path.pop();
                }
            }
        },
        _ => set.insert(path),
    }
}

/// Go drops empty `omitempty` lists and maps when it decodes an object: in known kinds,
/// schema fields declared as lists or maps and not marked always-present are such.
fn omitted_when_empty(ty: TypeRef<'_>, meta: Option<&FieldMeta>, v: &Value) -> bool {
    let declared = |shape| meta.is_some_and(|m| m.shape == shape && !m.always_present);
    ty.is_known()
        && match v {
            Value::Array(a) => a.is_empty() && declared(Shape::List),
            Value::Object(m) => m.is_empty() && declared(Shape::Map),
            _ => false,
        }
}

/// `v` as it lands in a stored object: `null` fields and omitted-when-empty lists dropped.
fn fresh(v: &Value, ty: TypeRef<'_>, meta: Option<&FieldMeta>) -> Value {
    match v {
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, c) in m.iter().filter(|(_, c)| !c.is_null()) {
                let (cty, cmeta) = field_of(ty, meta, k);
                let c = fresh(c, cty, cmeta);
                if !omitted_when_empty(ty, cmeta, &c) {
                    out.insert(k.clone(), c);
                }
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(|i| fresh(i, ty, None)).collect()),
        other => other.clone(),
    }
}

/// Merges an applied configuration into a live object (upstream `TypedValue.Merge`).
pub fn merge(lhs: &Value, rhs: &Value, ty: TypeRef<'_>) -> Value {
    merge_walk(lhs, rhs, ty, None)
}

fn merge_walk(lhs: &Value, rhs: &Value, ty: TypeRef<'_>, meta: Option<&FieldMeta>) -> Value {
    match (lhs, rhs) {
        (Value::Object(l), Value::Object(r)) if !atomic_object(ty, meta) && (!l.is_empty() || !r.is_empty()) => {
            let mut out = l.clone();
            for (k, rv) in r {
                if rv.is_null() {
                    out.shift_remove(k);
                    continue;
                }
                let (cty, cmeta) = field_of(ty, meta, k);
                let merged = match l.get(k) {
                    Some(lv) => merge_walk(lv, rv, cty, cmeta),
                    None => fresh(rv, cty, cmeta),
                };
                if omitted_when_empty(ty, cmeta, &merged) {
                    out.shift_remove(k);
                } else {
                    out.insert(k.clone(), merged);
                }
            }
            Value::Object(out)
        }
        (Value::Array(l), Value::Array(r)) if !l.is_empty() || !r.is_empty() => match (list_elements(l, meta), list_elements(r, meta)) {
            (Some(lp), Some(rp)) => Value::Array(merge_lists(l, &lp, r, &rp, ty)),
            _ => fresh(rhs, ty, meta),
        },
        _ => fresh(rhs, ty, meta),
    }
}

/// Upstream `mergingWalker.visitListItems`: rhs order for shared items, lhs-only items kept
/// near their live neighbours.
fn merge_lists(l: &[Value], lp: &[PathElement], r: &[Value], rp: &[PathElement], ty: TypeRef<'_>) -> Vec<Value> {
    let mut observed_l: BTreeMap<&PathElement, Option<&Value>> = BTreeMap::new();
    for (pe, item) in lp.iter().zip(l) {
        observed_l.entry(pe).and_modify(|v| *v = None).or_insert(Some(item));
    }
    let observed_r: BTreeMap<&PathElement, &Value> = rp.iter().zip(r).rev().collect();
    let mut shared = rp.iter().filter(|pe| observed_l.contains_key(pe));
    let mut next_shared = shared.next();
    let mut merged_r: BTreeSet<&PathElement> = BTreeSet::new();
    let item = |pe: &PathElement, rv: &Value| match observed_l.get(pe).copied().flatten() {
        Some(lv) => merge_walk(lv, rv, ty, None),
        None => fresh(rv, ty, None),
    };
    let mut out = Vec::with_capacity(l.len().max(r.len()));
    let (mut li, mut ri) = (0, 0);
    while li < lp.len() || ri < rp.len() {
        if li < lp.len() && ri < rp.len() {
            if lp[li] == rp[ri] {
                merged_r.insert(&rp[ri]);
                out.push(item(&rp[ri], &r[ri]));
                li += 1;
                ri += 1;
                next_shared = shared.next();
                continue;
            }
            if observed_r.contains_key(&lp[li]) && next_shared.is_some_and(|n| *n != lp[li]) {
                li += 1;
                continue;
            }
        }
        if li < lp.len() {
            if !observed_r.contains_key(&lp[li]) {
                out.push(l[li].clone());
                li += 1;
                continue;
            } else if merged_r.contains(&lp[li]) {
                li += 1;
            }
        }
        if ri < rp.len() {
            let pe = &rp[ri];
            merged_r.insert(pe);
            out.push(item(pe, &r[ri]));
            ri += 1;
            if next_shared == Some(pe) {
                next_shared = shared.next();
            }
        }
    }
    out
}

/// Fields added, modified and removed between two versions of an object.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Comparison {
    /// Present only in the new object (including containers that appeared).
    pub added: FieldSet,
    /// Leaves (or atomic values) whose value changed.
    pub modified: FieldSet,
    /// Present only in the old object.
    pub removed: FieldSet,
}

/// Upstream `TypedValue.Compare`. Fields that Go always serializes (`=` in the schema) are
/// taken as present in both objects, as they are in upstream's typed objects.
pub fn compare(old: &Value, new: &Value, ty: TypeRef<'_>) -> Comparison {
    let mut c = Comparison::default();
    cmp_walk(Some(old), Some(new), ty, None, &mut Vec::new(), &mut c);
    c
}

fn cmp_walk(l: Option<&Value>, r: Option<&Value>, ty: TypeRef<'_>, meta: Option<&FieldMeta>, path: &mut Vec<PathElement>, c: &mut Comparison) {
    // `null` on one side counts as an empty container of the other side's kind.
    let either = |f: fn(&Value) -> bool| l.is_some_and(f) || r.is_some_and(f);
    let fits = |f: fn(&Value) -> bool| [l, r].iter().all(|v| v.is_none_or(|v| v.is_null() || f(v)));
    let empty = |v: Option<&Value>| v.is_none_or(|v| v.is_null() || v.as_object().is_some_and(Map::is_empty));
    let is_leaf = if either(Value::is_object) && fits(Value::is_object) {
        atomic_object(ty, meta) || (empty(l) && empty(r)) || {
            cmp_fields(l.and_then(Value::as_object), r.and_then(Value::as_object), (l.is_some(), r.is_some()), ty, meta, path, c);
            false
        }
    } else if either(Value::is_array) && fits(Value::is_array) {
        match (list_elements(items(l), meta), list_elements(items(r), meta)) {
            (Some(lp), Some(rp)) if !lp.is_empty() || !rp.is_empty() => {
                cmp_lists(items(l), &lp, items(r), &rp, ty, path, c);
                false
            }
            _ => true,
        }
    } else {
        true
    };
    match (l, r) {
        (None, Some(_)) => c.added.insert(path),
        (Some(_), None) => c.removed.insert(path),
        (Some(a), Some(b)) if is_leaf && a != b => c.modified.insert(path),
        _ => {}
    }
}

/// Compares the fields of two objects; `present` tells which sides exist at all.
fn cmp_fields(
    lm: Option<&Map<String, Value>>,
    rm: Option<&Map<String, Value>>,
    present: (bool, bool),
    ty: TypeRef<'_>,
    meta: Option<&FieldMeta>,
    path: &mut Vec<PathElement>,
    c: &mut Comparison,
) {
    let mut keys: Vec<&String> = lm.into_iter().flat_map(|m| m.keys()).collect();
    keys.extend(rm.into_iter().flat_map(|m| m.keys()).filter(|k| !lm.is_some_and(|m| m.contains_key(*k))));
    for k in keys {
        let (cty, cmeta) = field_of(ty, meta, k);
        let implied = cmeta.filter(|m| m.always_present && ty.is_known()).map(|m| m.shape);
        let lv = read_field(lm, k, ty, cmeta).or_else(|| zero(implied.filter(|_| present.0)));
        let rv = read_field(rm, k, ty, cmeta).or_else(|| zero(implied.filter(|_| present.1)));
        path.push(PathElement::Field(k.clone()));
        cmp_walk(lv, rv, cty, cmeta, path, c);
        path.pop();
    }
}

/// A field as upstream's typed objects hold it: in known kinds an explicit `null` or an
/// omitted-when-empty list or map is no value at all.
fn read_field<'v>(m: Option<&'v Map<String, Value>>, k: &str, ty: TypeRef<'_>, meta: Option<&FieldMeta>) -> Option<&'v Value> {
    let absent = |v: &Value| (v.is_null() && ty.is_known()) || omitted_when_empty(ty, meta, v);
    m.and_then(|m| m.get(k)).filter(|v| !absent(v))
}

fn items(v: Option<&Value>) -> &[Value] {
    v.and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default()
}

/// The zero value Go serializes for an always-present field: `{}` for structs, `null` for
/// lists and maps.
fn zero(implied: Option<Shape>) -> Option<&'static Value> {
    match implied? {
        Shape::Struct => Some(&EMPTY),
        _ => Some(&NULL),
    }
}

fn cmp_lists(l: &[Value], lp: &[PathElement], r: &[Value], rp: &[PathElement], ty: TypeRef<'_>, path: &mut Vec<PathElement>, c: &mut Comparison) {
    let mut order: Vec<&PathElement> = Vec::new();
    let mut lv: BTreeMap<&PathElement, Vec<&Value>> = BTreeMap::new();
    let mut rv: BTreeMap<&PathElement, Vec<&Value>> = BTreeMap::new();
    for (pe, item) in lp.iter().zip(l) {
        lv.entry(pe).or_insert_with(|| {
            order.push(pe);
            Vec::new()
        });
        lv.entry(pe).or_default().push(item);
    }
    for (pe, item) in rp.iter().zip(r) {
        if !lv.contains_key(pe) && !rv.contains_key(pe) {
            order.push(pe);
        }
        rv.entry(pe).or_default().push(item);
    }
    for pe in order {
        let (ls, rs) = (lv.get(pe).cloned().unwrap_or_default(), rv.get(pe).cloned().unwrap_or_default());
        path.push(pe.clone());
        match (ls.len(), rs.len()) {
            (0..=1, 0..=1) => cmp_walk(ls.first().copied(), rs.first().copied(), ty, None, path, c),
            (2.., 2..) if ls != rs => c.modified.insert(path),
            (2.., 2..) => {}
            (2.., _) => {
                if let Some(r0) = rs.first() {
                    cmp_walk(None, Some(r0), ty, None, path, c);
                }
                c.removed.insert(path);
            }
            (_, _) => {
                if let Some(l0) = ls.first() {
                    cmp_walk(Some(l0), None, ty, None, path, c);
                }
                c.added.insert(path);
            }
        }
        path.pop();
    }
}

/// Removes every path of `set` (with its subtree) from `value` (upstream `RemoveItems`).
pub fn remove(value: &mut Value, set: &FieldSet, ty: TypeRef<'_>) {
    remove_walk(value, set, ty, None);
}

fn is_empty_container(v: &Value) -> bool {
    v.as_object().is_some_and(Map::is_empty) || v.as_array().is_some_and(Vec::is_empty)
}

fn remove_walk(v: &mut Value, set: &FieldSet, ty: TypeRef<'_>, meta: Option<&FieldMeta>) {
    match v {
        Value::Object(m) if !atomic_object(ty, meta) => {
            let keys: Vec<String> = m.keys().cloned().collect();
            for k in keys {
                let pe = PathElement::Field(k.clone());
                if set.has_member(&pe) {
                    m.shift_remove(&k);
                } else if let (Some(sub), Some(child)) = (set.child(&pe), m.get_mut(&k)) {
                    let (cty, cmeta) = field_of(ty, meta, &k);
                    remove_walk(child, sub, cty, cmeta);
                    if is_empty_container(child) && !(ty.is_known() && cmeta.is_some_and(|m| m.always_present)) {
                        m.shift_remove(&k);
                    }
                }
            }
        }
        Value::Array(items) => {
            let Some(pes) = list_elements(items, meta) else {
                return;
            };
            let old = std::mem::take(items);
            for (mut item, pe) in old.into_iter().zip(pes) {
                if set.has_member(&pe) {
                    continue;
                }
                if let Some(sub) = set.child(&pe) {
                    remove_walk(&mut item, sub, ty, None);
                    if is_empty_container(&item) {
                        continue;
                    }
                }
                items.push(item);
            }
        }
        _ => {}
    }
}
