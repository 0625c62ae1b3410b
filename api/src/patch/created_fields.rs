//! The fields a create records as its manager's, remembered per object shape.
//!
//! A create's `managedFields` entry holds the fields the new object sets: upstream's
//! comparison of the object against nothing, less `status` and the fields no manager owns.
//! That set depends on the object's *shape* only:
//!
//! * its objects' keys, in order, and the kind of each scalar (null, bool, number, string):
//!   the comparison's leaf test weighs a value against the zero of an always-present field
//!   (`{}` or `null`), and whether they differ depends on the value's kind and emptiness,
//!   never on the value itself;
//! * its lists verbatim: a list-map element's path is its key fields' values, and a set
//!   element's path is its value.
//!
//! Objects of one workload (the pods of one ReplicaSet, say) share a shape, so the entry's
//! `fieldsV1` is computed once per shape and copied after: the set's construction, the
//! comparison and the rendering were most of a create's bookkeeping. Hand-written: no crate
//! does upstream's field management.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use serde_json::Value;

/// Shapes remembered at most; past that the memo starts again.
const MAX_SHAPES: usize = 512;

static REMEMBERED: LazyLock<Mutex<HashMap<Vec<u8>, Option<Value>>>> = LazyLock::new(|| Mutex::new(HashMap::new()));

/// The `fieldsV1` of a create of `kind` setting `object` (its `managedFields` already
/// removed), from the memo, or from `compute` for a shape not seen yet. `None`: the create
/// sets no field a manager owns.
pub(super) fn remembered(kind: &str, object: &Value, compute: impl FnOnce() -> Option<Value>) -> Option<Value> {
    let mut key = Vec::with_capacity(1024);
    key.extend_from_slice(kind.as_bytes());
    key.push(b'\n');
    write_shape(object, &mut key);
    if let Some(fields) = REMEMBERED.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return fields.clone();
    }
    let fields = compute();
    let mut memo = REMEMBERED.lock().unwrap_or_else(|e| e.into_inner());
    if memo.len() >= MAX_SHAPES {
        memo.clear();
    }
    memo.insert(key, fields.clone());
    fields
}

/// Writes `v`'s shape: objects with their keys, scalars as their kind, lists as they are.
fn write_shape(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Object(m) => {
            out.push(b'{');
            for (k, child) in m {
                // A key is written as JSON, so no key can pass for another's shape.
                let _ = serde_json::to_writer(&mut *out, k);
                out.push(b':');
                write_shape(child, out);
                out.push(b',');
            }
            out.push(b'}');
        }
        Value::Array(_) => {
            out.push(b'[');
            let _ = serde_json::to_writer(&mut *out, v);
        }
        Value::Null => out.push(b'z'),
        Value::Bool(_) => out.push(b'b'),
        Value::Number(_) => out.push(b'n'),
        Value::String(_) => out.push(b's'),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn shape(v: &Value) -> Vec<u8> {
        let mut out = Vec::new();
        write_shape(v, &mut out);
        out
    }

    #[test]
    fn scalar_values_in_objects_do_not_count_but_their_kind_and_lists_do() {
        let pod = |name: &str, label: &str, container: &str| json!({"metadata": {"name": name, "labels": {"app": label}}, "spec": {"containers": [{"name": container, "image": "x"}]}});
        assert_eq!(shape(&pod("a", "web", "c")), shape(&pod("b", "db", "c")));
        assert_ne!(shape(&pod("a", "web", "c")), shape(&pod("a", "web", "d")));
        assert_ne!(shape(&json!({"a": 1})), shape(&json!({"a": "1"})));
        assert_ne!(shape(&json!({"a": null})), shape(&json!({"a": "x"})));
        assert_ne!(shape(&json!({"a": {}})), shape(&json!({"a": {"b": "s"}})));
        assert_ne!(shape(&json!({"a:s": "s"})), shape(&json!({"a": "s:s"})));
    }
}
