//! The one reconcile operator every controller ends in: desired objects against observed
//! objects, both as `(key, canonical managed content)`, give the writes that close the gap.
//!
//! ```text
//! desired ──┐
//!           ├─ concat(desired, −observed) ─ reduce per key ─▶ intents
//! observed ─┘   (equal rows cancel: no work)
//! ```
//! A key with only desired content is a Create, with both a Patch, with only observed
//! content a Delete (when the controller owns what it observes).

use differential_dataflow::VecCollection;
use serde_json::{Map, Value};

use std::collections::BTreeSet;

use crate::types::{Diff, Intent, ObjectKey, Revision};

/// Whether observed objects without a desired counterpart are deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Orphans {
    Keep,
    Delete,
}

/// The body that creates `key` with `content` merged over its identity.
pub fn create_body(key: &ObjectKey, content: &str) -> String {
    let mut body: Value = serde_json::from_str(content).unwrap_or_else(|_| Value::Object(Map::new()));
    if !body.is_object() {
        body = Value::Object(Map::new());
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
    body.to_string()
}

/// Diffs desired against observed content per key into intents.
pub fn reconcile<'s>(
    name: &str,
    desired: VecCollection<'s, Revision, (ObjectKey, String), Diff>,
    observed: VecCollection<'s, Revision, (ObjectKey, String), Diff>,
    orphans: Orphans,
) -> VecCollection<'s, Revision, Intent, Diff> {
    desired
        .concat(observed.negate())
        .reduce_named(name, move |key: &ObjectKey, input: &[(&String, Diff)], output: &mut Vec<(Intent, Diff)>| {
            let want = input.iter().find(|(_, d)| *d > 0).map(|(v, _)| (*v).clone());
            let have = input.iter().any(|(_, d)| *d < 0);
            let intent = match (want, have) {
                (Some(content), false) => Some(Intent::Create { key: key.clone(), body: create_body(key, &content) }),
                (Some(content), true) => Some(Intent::Patch { key: key.clone(), patch: content }),
                (None, true) if orphans == Orphans::Delete => Some(Intent::Delete { key: key.clone() }),
                _ => None,
            };
            if let Some(i) = intent {
                output.push((i, 1));
            }
        })
        .map(|(_, intent)| intent)
}

/// The reference form of [`reconcile`]: per key, create, patch or delete.
pub fn reconcile_reference(wanted: &BTreeSet<(ObjectKey, String)>, have: &BTreeSet<(ObjectKey, String)>, delete_orphans: bool, out: &mut BTreeSet<Intent>) {
    let have_keys: BTreeSet<&ObjectKey> = have.iter().map(|(k, _)| k).collect();
    let wanted_keys: BTreeSet<&ObjectKey> = wanted.iter().map(|(k, _)| k).collect();
    for (key, content) in wanted {
        if have.contains(&(key.clone(), content.clone())) {
            continue;
        }
        out.insert(if have_keys.contains(key) {
            Intent::Patch { key: key.clone(), patch: content.clone() }
        } else {
            Intent::Create { key: key.clone(), body: create_body(key, content) }
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
