//! Strategic merge patch (`application/strategic-merge-patch+json`), server side.
//!
//! Semantics follow upstream `k8s.io/apimachinery/pkg/util/strategicpatch/patch.go`
//! (`StrategicMergeMapPatchUsingLookupPatchMeta`, i.e. `mergeMap` with parallel lists merged
//! and unmatched nulls ignored):
//!
//! * maps merge recursively; a `null` value deletes the key;
//! * lists whose field has `patchStrategy: merge` merge by `patchMergeKey` (objects) or as
//!   sets (primitives); all other lists, and maps with `patchStrategy: replace`, are replaced;
//! * `$patch: replace` / `$patch: delete` on a map replace it by the patch / empty it;
//!   as a list element, `$patch: replace` replaces the whole list by the other patch
//!   elements and `{$patch: delete, <key>: v}` removes elements with that key;
//! * `$retainKeys: [...]` drops live keys not listed; `$setElementOrder/<field>` fixes the
//!   final order of a merged list; `$deleteFromPrimitiveList/<field>` removes primitives.
//!
//! Element order of merged lists is upstream's: items named in the patch take the patch's
//! order and are interleaved with live-only items by their live positions (so an item only
//! present in the patch lands before the live items, unless `$setElementOrder` says otherwise).
//!
//! Deliberate difference: values copied from the patch into the result never keep directive
//! keys or `null`s (upstream leaves them for the typed decoder to drop, with the same outcome).

use super::merge_keys::{PatchStrategy, Schema, TypeRef};
use super::{depth_exceeds, type_name, PatchError, MAX_DEPTH};
use serde_json::{Map, Value};
use std::cmp::Ordering;

const DIRECTIVE: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const SET_ORDER: &str = "$setElementOrder";
const DELETE_PRIMITIVES: &str = "$deleteFromPrimitiveList";

/// Applies a strategic merge `patch` to `original` (an object of `kind`) and returns the
/// patched object. Kinds unknown to [`super::merge_keys`] get no metadata: every list is
/// replaced, which is JSON merge patch plus directives (upstream refuses SMP for them;
/// check [`super::is_known_kind`] first to do the same).
pub fn strategic_merge_patch(kind: &str, original: &Value, patch: &Value) -> Result<Value, PatchError> {
    strategic_merge_patch_with(Schema::builtin().kind(kind), original, patch)
}

/// [`strategic_merge_patch`] with an explicit schema position for the root object.
pub fn strategic_merge_patch_with(root: TypeRef<'_>, original: &Value, patch: &Value) -> Result<Value, PatchError> {
    let original = match original {
        Value::Object(m) => m.clone(),
        Value::Null => Map::new(),
        _ => return Err(PatchError::NotAnObject("original")),
    };
    let patch = match patch {
        Value::Object(m) => m.clone(),
        Value::Null => return Ok(Value::Object(original)),
        _ => return Err(PatchError::NotAnObject("patch")),
    };
    for v in [&Value::Object(original.clone()), &Value::Object(patch.clone())] {
        if depth_exceeds(v, MAX_DEPTH) {
            return Err(PatchError::TooDeep);
        }
    }
    merge_map(original, patch, root, 0).map(Value::Object)
}

fn compact(v: &Value) -> String {
    v.to_string()
}

fn compact_map(m: &Map<String, Value>) -> String {
    Value::Object(m.clone()).to_string()
}

fn compact_list(l: &[Value]) -> String {
    Value::Array(l.to_vec()).to_string()
}

fn is_directive_key(k: &str) -> bool {
    k == DIRECTIVE || k == RETAIN_KEYS || k.starts_with(SET_ORDER) || k.starts_with(DELETE_PRIMITIVES)
}

/// Upstream `removeDirectives` + `discardNullValuesFromPatch`: a patch value as it should
/// land in the object. `None` when the value is itself a directive map.
fn clean(v: Value) -> Option<Value> {
    match v {
        Value::Object(m) if m.contains_key(DIRECTIVE) => None,
        Value::Object(m) => {
            Some(Value::Object(m.into_iter().filter(|(k, v)| !v.is_null() && !is_directive_key(k)).filter_map(|(k, v)| clean(v).map(|v| (k, v))).collect()))
        }
        Value::Array(a) => Some(Value::Array(a.into_iter().filter_map(clean).collect())),
        other => Some(other),
    }
}

fn merge_map(mut original: Map<String, Value>, mut patch: Map<String, Value>, ty: TypeRef<'_>, depth: usize) -> Result<Map<String, Value>, PatchError> {
    if depth > MAX_DEPTH {
        return Err(PatchError::TooDeep);
    }
    if let Some(directive) = patch.get(DIRECTIVE) {
        return match directive.as_str() {
            Some("replace") => {
                patch.shift_remove(DIRECTIVE);
                match clean(Value::Object(patch)) {
                    Some(Value::Object(m)) => Ok(m),
                    _ => Ok(Map::new()),
                }
            }
            Some("delete") => Ok(Map::new()),
            _ => Err(PatchError::BadDirective { directive: directive_text(directive), map: compact_map(&patch) }),
        };
    }
    apply_retain_keys(&mut original, &mut patch)?;
    apply_set_element_order(&mut original, &mut patch, ty, depth)?;

    for (key, patch_value) in patch {
        let (key, delete_list) = match key.strip_prefix(DELETE_PRIMITIVES) {
            Some(rest) => (rest.strip_prefix('/').ok_or(PatchError::BadPrimitiveList)?.to_owned(), true),
            None => (key, false),
        };
        if patch_value.is_null() {
            original.shift_remove(&key);
            continue;
        }
        let Some(live) = original.get_mut(&key) else {
            if !delete_list {
                if let Some(v) = clean(patch_value) {
                    original.insert(key, v);
                }
            }
            continue;
        };
        let meta = ty.field(&key);
        let strategy = meta.map(|m| m.patch_strategy);
        match (live, patch_value) {
            (Value::Object(live_map), Value::Object(patch_map)) => {
                let merged = if strategy == Some(PatchStrategy::Replace) {
                    clean(Value::Object(patch_map)).unwrap_or_default()
                } else {
                    Value::Object(merge_map(std::mem::take(live_map), patch_map, ty.child(&key), depth + 1)?)
                };
                original.insert(key, merged);
            }
            (Value::Array(live_list), Value::Array(patch_list)) => {
                let merged = if delete_list || strategy == Some(PatchStrategy::Merge) {
                    let merge_key = meta.and_then(|m| m.patch_merge_key.as_deref());
                    let list = std::mem::take(live_list);
                    merge_list(list, patch_list, ty.child(&key), &key, merge_key, delete_list, depth + 1)?
                } else {
                    patch_list.into_iter().filter_map(clean).collect()
                };
                original.insert(key, Value::Array(merged));
            }
            (_, _) if delete_list => {}
            (_, patch_value) => match clean(patch_value) {
                Some(v) => {
                    original.insert(key, v);
                }
                None => {
                    original.shift_remove(&key);
                }
            },
        }
    }
    Ok(original)
}

fn directive_text(v: &Value) -> String {
    v.as_str().map(str::to_owned).unwrap_or_else(|| compact(v))
}

/// `$retainKeys`: validate against the patch, then drop live keys not retained.
fn apply_retain_keys(original: &mut Map<String, Value>, patch: &mut Map<String, Value>) -> Result<(), PatchError> {
    let Some(retain) = patch.shift_remove(RETAIN_KEYS) else {
        return Ok(());
    };
    let Value::Array(retain) = retain else {
        return Err(PatchError::BadRetainKeys);
    };
    let retained = |k: &str| retain.iter().any(|r| r.as_str() == Some(k));
    for (k, v) in patch.iter() {
        if v.is_null() || k.starts_with(DELETE_PRIMITIVES) || k.starts_with(SET_ORDER) {
            continue;
        }
        if !retained(k) {
            return Err(PatchError::BadRetainKeys);
        }
    }
    original.retain(|k, _| retained(k));
    Ok(())
}

/// `$setElementOrder/<field>` (upstream `mergePatchIntoOriginal`): merge the field's list,
/// then order it: items in the order list first by that order, interleaved with live-only
/// items by their live positions.
fn apply_set_element_order(original: &mut Map<String, Value>, patch: &mut Map<String, Value>, ty: TypeRef<'_>, depth: usize) -> Result<(), PatchError> {
    let keys: Vec<String> = patch.keys().filter(|k| k.starts_with(SET_ORDER)).cloned().collect();
    for directive in keys {
        let Some(order) = patch.shift_remove(&directive) else {
            continue;
        };
        let Value::Array(order) = order else {
            return Err(PatchError::WrongType { expected: "list", actual: type_name(&order) });
        };
        let field = directive[SET_ORDER.len()..].strip_prefix('/').ok_or(PatchError::BadSetElementOrder)?.to_owned();
        let as_list = |v: Option<&Value>| match v {
            None => Ok(None),
            Some(Value::Array(a)) => Ok(Some(a.clone())),
            Some(other) => Err(PatchError::WrongType { expected: "list", actual: type_name(other) }),
        };
        let live = as_list(original.get(&field))?;
        let patch_list = as_list(patch.get(&field))?;
        let meta = ty.field(&field);
        let merge_key = meta.and_then(|m| m.patch_merge_key.as_deref());
        validate_order(patch_list.as_deref().unwrap_or_default(), &order, merge_key)?;
        let mut live_order = live.clone().unwrap_or_default();
        let merged = match (live, patch_list) {
            (Some(live), None) => live,
            (None, Some(p)) => p.into_iter().filter_map(clean).collect(),
            (Some(live), Some(p)) => {
                if meta.is_some_and(|m| m.patch_strategy == PatchStrategy::Merge) {
                    if let Some(k) = merge_key {
                        live_order = aliased_live_order(&live, &p, k);
                    }
                    merge_list(live, p, ty.child(&field), &field, merge_key, false, depth + 1)?
                } else {
                    p.into_iter().filter_map(clean).collect()
                }
            }
            (None, None) => continue,
        };
        patch.shift_remove(&field);
        let (named, live_only) = partition(merged, &order, merge_key)?;
        original.insert(field, Value::Array(normalize(named, live_only, &order, &live_order, merge_key)?));
    }
    Ok(())
}

/// The live list as upstream sees it when ordering by `$setElementOrder`. Upstream's
/// `mergeSlice` deletes and appends in the live slice's backing array, so the slice header
/// it later uses as "live order" shows the shifted survivors followed by appended patch
/// items (up to the original length). Reproduced because observable element order (and
/// upstream's tests) depend on it.
fn aliased_live_order(live: &[Value], patch: &[Value], key: &str) -> Vec<Value> {
    let mut view = live.to_vec();
    let mut len = view.len();
    for p in patch.iter().filter(|p| p.get(DIRECTIVE).and_then(Value::as_str) == Some("delete")) {
        let Some(wanted) = p.get(key) else {
            return live.to_vec();
        };
        while let Some(i) = view[..len].iter().position(|v| v.get(key) == Some(wanted)) {
            for j in i..len - 1 {
                view[j] = view[j + 1].clone();
            }
            len -= 1;
        }
    }
    if patch.iter().any(|p| p.get(DIRECTIVE).and_then(Value::as_str) == Some("replace")) {
        return view;
    }
    let mut current: Vec<Value> = view[..len].to_vec();
    for p in patch.iter().filter(|p| p.get(DIRECTIVE).is_none()) {
        if current.iter().all(|v| v.get(key) != p.get(key)) {
            if current.len() < view.len() {
                view[current.len()] = p.clone();
            }
            current.push(p.clone());
        }
    }
    view
}

/// Upstream `validatePatchWithSetOrderList`: the patch list must follow the order list.
fn validate_order(patch: &[Value], order: &[Value], key: Option<&str>) -> Result<(), PatchError> {
    if patch.is_empty() || order.is_empty() {
        return Ok(());
    }
    let mut items = Vec::new();
    for p in patch {
        if key.is_some() {
            let Value::Object(m) = p else {
                return Err(PatchError::WrongType { expected: "map", actual: type_name(p) });
            };
            if m.get(DIRECTIVE).and_then(Value::as_str) == Some("delete") {
                continue;
            }
        }
        items.push(p);
    }
    let (mut pi, mut oi) = (0, 0);
    while pi < items.len() && oi < order.len() {
        if items[pi].as_object().is_some_and(|m| m.contains_key(DIRECTIVE)) {
            pi += 1;
            continue;
        }
        if same_item(items[pi], &order[oi], key)? {
            pi += 1;
        }
        oi += 1;
    }
    if pi < items.len() {
        return Err(PatchError::SetElementOrderMismatch { patch: compact_list(patch), order: compact_list(order) });
    }
    Ok(())
}

fn key_of<'v>(v: &'v Value, key: &str) -> Result<&'v Value, PatchError> {
    let Value::Object(m) = v else {
        return Err(PatchError::WrongType { expected: "map", actual: type_name(v) });
    };
    m.get(key).ok_or_else(|| PatchError::MissingMergeKey { key: key.to_owned(), element: compact(v) })
}

fn same_item(a: &Value, b: &Value, key: Option<&str>) -> Result<bool, PatchError> {
    match key {
        None => Ok(a == b),
        Some(k) => Ok(key_of(a, k)? == key_of(b, k)?),
    }
}

#[derive(PartialEq, Clone, Copy)]
enum Kind {
    Null,
    Bool,
    Int,
    Float,
    Str,
    Map,
}

/// Upstream `sliceElementType`: one element type across both lists, no nested lists.
fn element_kind(lists: [&[Value]; 2]) -> Result<Option<Kind>, PatchError> {
    let mut kind = None;
    for v in lists.iter().flat_map(|l| l.iter()) {
        let k = match v {
            Value::Null => Kind::Null,
            Value::Bool(_) => Kind::Bool,
            Value::Number(n) if n.is_f64() => Kind::Float,
            Value::Number(_) => Kind::Int,
            Value::String(_) => Kind::Str,
            Value::Object(_) => Kind::Map,
            Value::Array(_) => return Err(PatchError::ListOfLists),
        };
        match kind {
            None => kind = Some(k),
            Some(prev) if prev != k => return Err(PatchError::MixedElementTypes(format!("{} and {}", compact_list(lists[0]), compact_list(lists[1])))),
            _ => {}
        }
    }
    Ok(kind)
}

/// Upstream `mergeSlice` (and the parallel deletion list when `delete_list`).
fn merge_list(
    live: Vec<Value>,
    patch: Vec<Value>,
    elem: TypeRef<'_>,
    field: &str,
    merge_key: Option<&str>,
    delete_list: bool,
    depth: usize,
) -> Result<Vec<Value>, PatchError> {
    if live.is_empty() && patch.is_empty() {
        return Ok(live);
    }
    if element_kind([&live, &patch])? != Some(Kind::Map) {
        if delete_list {
            return Ok(live.into_iter().filter(|v| !patch.contains(v)).collect());
        }
        let mut merged: Vec<Value> = Vec::with_capacity(live.len() + patch.len());
        for v in live.iter().chain(patch.iter()) {
            if !merged.contains(v) {
                merged.push(v.clone());
            }
        }
        let (named, live_only) = partition(merged, &patch, None)?;
        return normalize(named, live_only, &patch, &live, None);
    }
    let key = merge_key.ok_or_else(|| PatchError::NoMergeKey { field: field.to_owned() })?;
    // Special elements: `$patch: delete` removes by key, `$patch: replace` drops the live list.
    let mut live = live;
    let mut rest = Vec::with_capacity(patch.len());
    let mut replace = false;
    for item in patch {
        let directive = item.get(DIRECTIVE).cloned();
        match directive {
            None => rest.push(item),
            Some(d) => match d.as_str() {
                Some("delete") => {
                    let wanted = key_of(&item, key)?.clone();
                    live.retain(|v| v.get(key) != Some(&wanted));
                }
                Some("replace") => replace = true,
                Some("merge") => return Err(PatchError::MergeListDirective),
                _ => return Err(PatchError::BadDirective { directive: directive_text(&d), map: compact(&item) }),
            },
        }
    }
    let (live, patch) = if replace { (rest.into_iter().filter_map(clean).collect(), Vec::new()) } else { (live, rest) };
    let mut merged = live.clone();
    for item in &patch {
        let wanted = key_of(item, key)?;
        match merged.iter().position(|v| v.get(key) == Some(wanted)) {
            Some(i) => {
                let (Value::Object(l), Value::Object(p)) = (std::mem::take(&mut merged[i]), item.clone()) else {
                    return Err(PatchError::WrongType { expected: "map", actual: type_name(item) });
                };
                merged[i] = Value::Object(merge_map(l, p, elem, depth + 1)?);
            }
            None => merged.extend(clean(item.clone())),
        }
    }
    let (named, live_only) = partition(merged, &patch, Some(key))?;
    normalize(named, live_only, &patch, &live, Some(key))
}

/// Position of `item` in `list`: by merge key value for objects, by value otherwise.
fn index_in(list: &[Value], item: &Value, key: Option<&str>) -> Option<usize> {
    match key {
        Some(k) => list.iter().position(|v| v.get(k) == item.get(k)),
        None => list.iter().position(|v| v == item),
    }
}

/// Splits `merged` into items named by `by` and the rest (upstream `partition*ByPresentInList`).
fn partition(merged: Vec<Value>, by: &[Value], key: Option<&str>) -> Result<(Vec<Value>, Vec<Value>), PatchError> {
    let mut named = Vec::new();
    let mut rest = Vec::new();
    for v in merged {
        if let Some(k) = key {
            key_of(&v, k)?;
        }
        if index_in(by, &v, key).is_some() {
            named.push(v);
        } else {
            rest.push(v);
        }
    }
    Ok((named, rest))
}

/// Upstream `normalizeElementOrder`: sort both parts by their reference orders, then
/// interleave them (`mergeSortedSlice`).
fn normalize(
    mut named: Vec<Value>,
    mut live_only: Vec<Value>,
    named_order: &[Value],
    live_order: &[Value],
    key: Option<&str>,
) -> Result<Vec<Value>, PatchError> {
    if let Some(k) = key {
        for v in named.iter().chain(live_only.iter()).chain(named_order).chain(live_order) {
            if v.as_object().is_some_and(|m| m.contains_key(DIRECTIVE)) {
                continue;
            }
            key_of(v, k)?;
        }
    }
    let rank = |order: &[Value], v: &Value| index_in(order, v, key).unwrap_or(usize::MAX);
    named.sort_by_key(|v| rank(named_order, v));
    live_only.sort_by_key(|v| rank(live_order, v));
    let mut out = Vec::with_capacity(named.len() + live_only.len());
    let (mut left, mut right) = (live_only.into_iter().peekable(), named.into_iter().peekable());
    loop {
        let take_left = match (left.peek(), right.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(l), Some(r)) => match (index_in(live_order, l, key), index_in(live_order, r, key)) {
                (Some(li), Some(ri)) => li.cmp(&ri) == Ordering::Less,
                _ => false,
            },
        };
        out.extend(if take_left { left.next() } else { right.next() });
    }
    Ok(out)
}
