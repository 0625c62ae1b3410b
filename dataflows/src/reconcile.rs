//! The one reconcile operator every controller ends in: desired objects against observed
//! objects, both as `(key, canonical managed content)`, give the writes that close the gap.
//!
//! ```text
//! desired ──┐
//!           ├─ concat(desired, −observed) ─ reduce per key ─▶ intents
//! observed ─┘   (equal rows cancel: no work)
//! ```
//! A key with only desired content is a Create (of the content, which the writer completes
//! with the object's identity), with both a Patch, with only observed
//! content a Delete (when the controller owns what it observes). A Patch is the JSON merge
//! patch from the observed content to the desired one ([`merge_diff`]): only what differs,
//! with `null` for what must go, so a label the desired content drops is removed.

use differential_dataflow::VecCollection;
use serde_json::{Map, Value};

use std::collections::{BTreeMap, BTreeSet};

use crate::types::{Diff, Intent, ObjectKey, Revision, Text};

/// Whether observed objects without a desired counterpart are deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Orphans {
    Keep,
    Delete,
}

/// The body that creates `key` with `content` merged over its identity.
pub fn create_body(key: &ObjectKey, content: &str) -> String {
    let mut body: Value = serde_json::from_str(content).unwrap_or_else(|_| Value::Object(Map::new()));
    identify(key, &mut body);
    body.to_string()
}

/// Completes `body` with the identity of `key`: apiVersion, kind, name and namespace. The
/// writer applies it to every Create, so a controller may leave the identity out.
pub fn identify(key: &ObjectKey, body: &mut Value) {
    if !body.is_object() {
        *body = Value::Object(Map::new());
    }
    body["apiVersion"] = Value::String(key.kind.api_version().into());
    body["kind"] = Value::String(key.kind.kind_name().into());
    if !body.get("metadata").is_some_and(Value::is_object) {
        body["metadata"] = Value::Object(Map::new());
    }
    body["metadata"]["name"] = Value::String(key.name.clone());
    if !key.namespace.is_empty() {
        body["metadata"]["namespace"] = Value::String(key.namespace.clone());
    }
}

/// The JSON merge patch (RFC 7386) that turns `from` into `to`: members that differ (objects
/// recursively), and `null` for members `to` lacks. Arrays are replaced whole.
pub fn merge_diff(from: &Value, to: &Value) -> Value {
    match (from, to) {
        (Value::Object(old), Value::Object(new)) => {
            let mut patch = Map::new();
            for (k, v) in new {
                match old.get(k) {
                    Some(o) if o == v => {}
                    Some(o) => {
                        patch.insert(k.clone(), merge_diff(o, v));
                    }
                    None => {
                        patch.insert(k.clone(), v.clone());
                    }
                }
            }
            for k in old.keys().filter(|k| !new.contains_key(*k)) {
                patch.insert(k.clone(), Value::Null);
            }
            Value::Object(patch)
        }
        _ => to.clone(),
    }
}

/// The patch from observed to desired content, both canonical JSON.
fn patch(observed: &Text, desired: &Text) -> String {
    let desired = desired.to_str();
    match (serde_json::from_str::<Value>(&observed.to_str()), serde_json::from_str::<Value>(&desired)) {
        (Ok(from), Ok(to)) => merge_diff(&from, &to).to_string(),
        _ => desired.into_owned(),
    }
}

/// Diffs desired against observed content per key into intents.
pub fn reconcile<'s>(
    name: &str,
    desired: VecCollection<'s, Revision, (ObjectKey, Text), Diff>,
    observed: VecCollection<'s, Revision, (ObjectKey, Text), Diff>,
    orphans: Orphans,
) -> VecCollection<'s, Revision, Intent, Diff> {
    desired
        .concat(observed.negate())
        .reduce_named(name, move |key: &ObjectKey, input: &[(&Text, Diff)], output: &mut Vec<(Intent, Diff)>| {
            let want = input.iter().find(|(_, d)| *d > 0).map(|(v, _)| *v);
            let have = input.iter().find(|(_, d)| *d < 0).map(|(v, _)| *v);
            let intent = match (want, have) {
                // The content as it is: the writer adds the identity ([`identify`]) when it
                // writes, which keeps JSON parsing out of the workers' hottest reduce.
                (Some(content), None) => Some(Intent::Create { key: key.clone(), body: content.clone() }),
                (Some(content), Some(observed)) => Some(Intent::Patch { key: key.clone(), patch: patch(observed, content).into() }),
                (None, Some(_)) if orphans == Orphans::Delete => Some(Intent::Delete { key: key.clone() }),
                _ => None,
            };
            if let Some(i) = intent {
                output.push((i, 1));
            }
        })
        .map(|(_, intent)| intent)
}

/// The reference form of [`reconcile`]: per key, create, patch or delete.
pub fn reconcile_reference(wanted: &BTreeSet<(ObjectKey, Text)>, have: &BTreeSet<(ObjectKey, Text)>, delete_orphans: bool, out: &mut BTreeSet<Intent>) {
    let have_by_key: BTreeMap<&ObjectKey, &Text> = have.iter().map(|(k, c)| (k, c)).collect();
    let wanted_keys: BTreeSet<&ObjectKey> = wanted.iter().map(|(k, _)| k).collect();
    for (key, content) in wanted {
        if have.contains(&(key.clone(), content.clone())) {
            continue;
        }
        out.insert(match have_by_key.get(key) {
            Some(observed) => Intent::Patch { key: key.clone(), patch: patch(observed, content).into() },
            None => Intent::Create { key: key.clone(), body: content.clone() },
        });
    }
    if delete_orphans {
        for (key, _) in have {
            if !wanted_keys.contains(key) {
                out.insert(Intent::Delete { key: key.clone() });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_patch_carries_only_what_differs_and_removes_what_is_gone() {
        let from = json!({"metadata": {"labels": {"a": "1", "gone": "x"}}, "subsets": [1], "same": true});
        let to = json!({"metadata": {"labels": {"a": "2"}}, "subsets": [1, 2], "same": true});
        assert_eq!(merge_diff(&from, &to), json!({"metadata": {"labels": {"a": "2", "gone": null}}, "subsets": [1, 2]}));
        let mut out = BTreeSet::new();
        let key = ObjectKey::new(crate::types::Kind::Endpoints, "ns", "svc");
        reconcile_reference(&BTreeSet::from([(key.clone(), to.to_string().into())]), &BTreeSet::from([(key.clone(), from.to_string().into())]), true, &mut out);
        assert_eq!(out, BTreeSet::from([Intent::Patch { key, patch: merge_diff(&from, &to).to_string().into() }]));
    }
}
