//! ServiceAccount controller: a `default` ServiceAccount in every active namespace.
//!
//! ```text
//! namespaces ─ filter(active) ─ map(→ default SA key) ─▶ desired
//! serviceaccounts ─ filter(name = default) ──────────▶ observed
//! ```
//! Nothing is deleted: an account in a Terminating namespace goes with the namespace.

use std::collections::BTreeSet;

use differential_dataflow::VecCollection;

use crate::reconcile::{reconcile, Orphans};
use crate::rows::{NamespaceRow, ServiceAccountRow};
use crate::types::{Diff, Intent, Kind, ObjectKey, Revision};

/// The account every namespace gets.
pub const DEFAULT: &str = "default";

/// The dataflow: intents that create missing `default` accounts.
pub fn service_accounts<'s>(
    namespaces: VecCollection<'s, Revision, NamespaceRow, Diff>,
    accounts: VecCollection<'s, Revision, ServiceAccountRow, Diff>,
) -> VecCollection<'s, Revision, Intent, Diff> {
    let desired = namespaces.filter(|ns| ns.active).map(|ns| (ObjectKey::new(Kind::ServiceAccount, ns.name, DEFAULT), "{}".into()));
    let observed = accounts.filter(|sa| sa.name == DEFAULT).map(|sa| (ObjectKey::new(Kind::ServiceAccount, sa.namespace, sa.name), "{}".into()));
    reconcile("serviceaccount", desired, observed, Orphans::Keep)
}

/// The reference: the same intents, from scratch over a snapshot.
pub fn reference(namespaces: &[NamespaceRow], accounts: &[ServiceAccountRow]) -> BTreeSet<Intent> {
    let existing: BTreeSet<&str> = accounts.iter().filter(|a| a.name == DEFAULT).map(|a| a.namespace.as_str()).collect();
    namespaces
        .iter()
        .filter(|ns| ns.active && !existing.contains(ns.name.as_str()))
        .map(|ns| {
            let key = ObjectKey::new(Kind::ServiceAccount, ns.name.clone(), DEFAULT);
            Intent::Create { body: "{}".into(), key }
        })
        .collect()
}
