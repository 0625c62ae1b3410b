//! Namespace controller: a namespace marked for deletion (Terminating) has its content
//! deleted, then its `kubernetes` finalizer removed, after which the API server removes it.
//!
//! ```text
//! namespaces ─ filter(awaiting purge) ─ map(→ PurgeNamespace) ─▶ intents
//! ```
//! The content spans every resource, so deleting it is the writer's work at the edge: it
//! deletes each namespaced collection, checks that nothing is left, then finalizes. While
//! anything remains (finalizers, graceful pods) the intent stays and the writer retries.

use std::collections::BTreeSet;

use differential_dataflow::VecCollection;

use crate::rows::NamespaceRow;
use crate::types::{Diff, Intent, Kind, ObjectKey, Revision};

pub fn namespaces<'s>(namespaces: VecCollection<'s, Revision, NamespaceRow, Diff>) -> VecCollection<'s, Revision, Intent, Diff> {
    namespaces.filter(|ns| ns.awaiting_purge).map(|ns| Intent::PurgeNamespace { key: ObjectKey::new(Kind::Namespace, "", ns.name) })
}

/// The reference: one purge per namespace awaiting it.
pub fn reference(namespaces: &[NamespaceRow]) -> BTreeSet<Intent> {
    namespaces.iter().filter(|ns| ns.awaiting_purge).map(|ns| Intent::PurgeNamespace { key: ObjectKey::new(Kind::Namespace, "", ns.name.clone()) }).collect()
}
