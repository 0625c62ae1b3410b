//! Helpers over objects as JSON: metadata access, store keys, encoding with the
//! resourceVersion taken from the store revision, and upstream's name rules.

use bytes::Bytes;
use serde_json::{Map, Value};

use crate::error::{ApiError, ApiResult, Cause};
use crate::resources::registry::ResourceDescriptor;
use crate::store::{KeyValue, Revision};

/// The store key of an object: `/registry/<resource>/[<namespace>/]<name>`.
pub fn key(resource: &ResourceDescriptor, namespace: Option<&str>, name: &str) -> String {
    match (resource.namespaced, namespace) {
        (true, Some(ns)) => format!("{}{ns}/{name}", resource.key_prefix()),
        _ => format!("{}{name}", resource.key_prefix()),
    }
}

/// The key prefix listing a resource, in one namespace or all.
pub fn list_prefix(resource: &ResourceDescriptor, namespace: Option<&str>) -> String {
    match (resource.namespaced, namespace) {
        (true, Some(ns)) => format!("{}{ns}/", resource.key_prefix()),
        _ => resource.key_prefix(),
    }
}

pub fn meta(object: &Value) -> Option<&Map<String, Value>> {
    object.get("metadata").and_then(Value::as_object)
}

/// `metadata`, created if missing (and replaced if it is not an object).
pub fn meta_mut(object: &mut Value) -> &mut Map<String, Value> {
    if !object.get("metadata").is_some_and(Value::is_object) {
        object["metadata"] = Value::Object(Map::new());
    }
    object["metadata"].as_object_mut().expect("metadata is an object")
}

pub fn meta_str<'a>(object: &'a Value, field: &str) -> Option<&'a str> {
    meta(object).and_then(|m| m.get(field)).and_then(Value::as_str)
}

pub fn name(object: &Value) -> Option<&str> {
    meta_str(object, "name").filter(|s| !s.is_empty())
}

pub fn namespace(object: &Value) -> Option<&str> {
    meta_str(object, "namespace").filter(|s| !s.is_empty())
}

/// `Value::pointer` without its per-token allocations: the same lookup, for the hot paths
/// that read many fields of every object. A pointer with an escape (`~`) takes the general path.
pub fn at<'a>(value: &'a Value, pointer: &str) -> Option<&'a Value> {
    if pointer.contains('~') {
        return value.pointer(pointer);
    }
    let rest = if pointer.is_empty() { return Some(value) } else { pointer.strip_prefix('/')? };
    rest.split('/').try_fold(value, |v, token| match v {
        Value::Object(m) => m.get(token),
        Value::Array(items) => index(token).and_then(|i| items.get(i)),
        _ => None,
    })
}

/// An array index token as JSON Pointer reads it: digits, no sign, no leading zero.
fn index(token: &str) -> Option<usize> {
    if token.is_empty() || !token.bytes().all(|b| b.is_ascii_digit()) || (token.len() > 1 && token.starts_with('0')) {
        return None;
    }
    token.parse().ok()
}

/// Parses a stored value and stamps it with the revision as its resourceVersion.
pub fn decode(kv: &KeyValue) -> ApiResult<Value> {
    decode_at(&kv.value, kv.mod_revision)
}

pub fn decode_at(bytes: &[u8], revision: Revision) -> ApiResult<Value> {
    let mut value: Value = serde_json::from_slice(bytes).map_err(|e| ApiError::internal(format!("corrupt stored object: {e}")))?;
    stamp_revision(&mut value, revision);
    Ok(value)
}

/// Sets the object's resourceVersion to `revision`, the store revision it is at.
pub fn stamp_revision(object: &mut Value, revision: Revision) {
    meta_mut(object).insert("resourceVersion".into(), Value::String(revision.to_string()));
}

/// Makes `object` what [`decode_at`] gives back from its [`encode`]d bytes at `revision`,
/// without the round trip: the metadata the store never keeps goes, and the revision is
/// stamped. Only the order of metadata fields may differ from the decoded copy.
pub fn as_stored_at(object: &mut Value, revision: Revision) {
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        for field in NOT_STORED {
            meta.remove(field);
        }
    }
    stamp_revision(object, revision);
}

/// Serializes an object for the store, without its resourceVersion (the store revision is it)
/// and selfLink. The object is written as it is, skipping those two, not copied first.
pub fn encode(object: &Value) -> ApiResult<Bytes> {
    crate::stored_bytes::StoredBytes::encode(object).map(|stored| stored.bytes)
}

/// Metadata fields the store never keeps.
const NOT_STORED: [&str; 2] = ["resourceVersion", "selfLink"];

/// A metadata map without [`NOT_STORED`].
pub(crate) struct StoredMeta<'a>(pub(crate) &'a Map<String, Value>);

impl serde::Serialize for StoredMeta<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(None)?;
        for (k, v) in self.0.iter().filter(|(k, _)| !NOT_STORED.contains(&k.as_str())) {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

/// The resourceVersion an object carries, parsed; `Ok(None)` when unset.
pub fn resource_version(object: &Value) -> ApiResult<Option<Revision>> {
    match meta_str(object, "resourceVersion") {
        None | Some("") => Ok(None),
        Some(rv) => rv.parse().map(Some).map_err(|_| ApiError::bad_request(format!("invalid resourceVersion {rv:?}: must be a decimal number"))),
    }
}

/// Now, in the RFC 3339 form Kubernetes writes timestamps in (second precision).
pub fn now_rfc3339() -> String {
    let now = jiff::Timestamp::now();
    jiff::Timestamp::from_second(now.as_second()).unwrap_or(now).to_string()
}

/// Now, with microseconds, as `managedFields` and MicroTime fields use.
pub fn now_micro_rfc3339() -> String {
    jiff::Timestamp::now().round(jiff::Unit::Microsecond).map(|t| t.to_string()).unwrap_or_default()
}

/// Five random lowercase alphanumerics, as upstream's `generateName` suffix (no vowels).
pub fn random_suffix() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut rng = rand::rng();
    (0..5).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char).collect()
}

/// Checks a DNS-1123 subdomain (most object names), returning upstream's messages.
pub fn dns1123_subdomain_errors(value: &str) -> Vec<String> {
    let mut errors = Vec::new();
    if value.len() > 253 {
        errors.push("must be no more than 253 characters".to_string());
    }
    let ok = !value.is_empty()
        && value.split('.').all(|label| {
            !label.is_empty()
                && label.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        });
    if !ok {
        errors.push("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')".to_string());
    }
    errors
}

/// Checks a DNS-1123 label (namespaces, services), returning upstream's messages.
pub fn dns1123_label_errors(value: &str) -> Vec<String> {
    let mut errors = Vec::new();
    if value.len() > 63 {
        errors.push("must be no more than 63 characters".to_string());
    }
    let ok = !value.is_empty()
        && value.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !value.starts_with('-')
        && !value.ends_with('-');
    if !ok {
        errors.push("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')".to_string());
    }
    errors
}

/// Validates the name of an object of `resource`, as upstream's per-kind name rules.
pub fn validate_name(resource: &ResourceDescriptor, name: &str) -> Vec<Cause> {
    let label_named = matches!(resource.plural, "namespaces" | "services");
    let errors = if label_named {
        dns1123_label_errors(name)
    } else if matches!(resource.plural, "clusterroles" | "roles" | "clusterrolebindings" | "rolebindings") {
        // RBAC names are path segments: anything but "", ".", "..", or containing "/" or "%".
        if name.is_empty() || name == "." || name == ".." || name.contains('/') || name.contains('%') {
            vec!["may not contain '/' or '%' and may not be '.' or '..'".to_string()]
        } else {
            vec![]
        }
    } else {
        dns1123_subdomain_errors(name)
    };
    errors
        .into_iter()
        .map(|m| Cause { kind: "FieldValueInvalid".into(), message: format!("Invalid value: {name:?}: {m}"), field: "metadata.name".into() })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subdomain_rules() {
        assert!(dns1123_subdomain_errors("web-1.example").is_empty());
        assert!(!dns1123_subdomain_errors("Web").is_empty());
        assert!(!dns1123_subdomain_errors("-a").is_empty());
        assert!(!dns1123_label_errors("a.b").is_empty());
    }

    #[test]
    fn encode_drops_the_resource_version_and_decode_restores_it() {
        let obj = serde_json::json!({"metadata": {"name": "a", "resourceVersion": "7"}});
        let bytes = encode(&obj).unwrap();
        assert!(!String::from_utf8_lossy(&bytes).contains("resourceVersion"));
        let back = decode_at(&bytes, 9).unwrap();
        assert_eq!(back["metadata"]["resourceVersion"], "9");
    }

    #[test]
    fn at_agrees_with_value_pointer() {
        let v = serde_json::json!({"a": {"b": [10, {"c": "x"}], "d/e": 1, "m~n": 2, "": {"": 3}}, "01": 4});
        for p in [
            "",
            "/",
            "/a",
            "/a/b",
            "/a/b/0",
            "/a/b/1/c",
            "/a/b/2",
            "/a/b/01",
            "/a/b/+1",
            "/a/b/-1",
            "/a/d~1e",
            "/a/m~0n",
            "/a//",
            "/01",
            "/x/y",
            "a",
            "/a/b/1/c/z",
        ] {
            assert_eq!(at(&v, p), v.pointer(p), "{p}");
        }
    }

    #[test]
    fn as_stored_at_equals_the_round_trip() {
        let cases = [
            serde_json::json!({"metadata": {"name": "a", "resourceVersion": "7", "selfLink": "/x", "labels": {"k": "v"}}, "spec": {"n": 1, "f": 0.5, "neg": -3, "l": [1, "a", null, true]}}),
            serde_json::json!({"metadata": {"name": "b"}}),
            serde_json::json!({"kind": "Pod"}),
        ];
        for obj in cases {
            let decoded = decode_at(&encode(&obj).unwrap(), 12).unwrap();
            let mut stored = obj.clone();
            as_stored_at(&mut stored, 12);
            assert_eq!(stored, decoded, "{obj}");
        }
    }
}
