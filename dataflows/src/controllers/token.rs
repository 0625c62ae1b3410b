//! Token controller: for every ServiceAccount a `kubernetes.io/service-account-token` Secret
//! named `<account>-token-<five characters from its uid>`, and in every active namespace the
//! `kube-root-ca.crt` ConfigMap holding the cluster CA.
//!
//! ```text
//! serviceaccounts ⋉ active namespaces ─ map(→ token Secret) ─▶ desired ┐
//! secrets ─ filter(our token name for its account) ──────────▶ observed ┴▶ reconcile(Delete)
//! namespaces ─ filter(active) ─ map(→ kube-root-ca.crt) ─────▶ desired ┐
//! configmaps ─ filter(kube-root-ca.crt) ─────────────────────▶ observed ┴▶ reconcile(Keep)
//! ```
//! The token itself is signed by the writer (an edge with the key), not here: the dataflow
//! only decides which Secrets exist. A Secret whose account is gone is deleted, as upstream.

use std::collections::BTreeSet;

use differential_dataflow::VecCollection;
use serde_json::json;

use crate::reconcile::{reconcile, reconcile_reference, Orphans};
use crate::rows::{ConfigMapRow, NamespaceRow, SecretRow, ServiceAccountRow};
use crate::types::{Diff, Intent, Kind, ObjectKey, Revision, Text};

pub const TOKEN_TYPE: &str = "kubernetes.io/service-account-token";
pub const ROOT_CA: &str = "kube-root-ca.crt";

/// Five characters from `uid`, in the alphabet of upstream's random suffixes. Deterministic,
/// so that a restarted or lagging controller never creates a second Secret for one account.
pub fn suffix(uid: &str) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in uid.bytes() {
        hash = (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    (0..5).map(|i| ALPHABET[((hash >> (i * 8)) % ALPHABET.len() as u64) as usize] as char).collect()
}

pub fn secret_name(account: &str, uid: &str) -> String {
    format!("{account}-token-{}", suffix(uid))
}

fn token_content(account: &str, uid: &str) -> Text {
    json!({
        "metadata": {"annotations": {
            "kubernetes.io/service-account.name": account,
            "kubernetes.io/service-account.uid": uid,
        }},
        "type": TOKEN_TYPE,
    })
    .to_string()
    .into()
}

fn root_ca_content(ca: &str) -> Text {
    json!({"data": {"ca.crt": ca}}).to_string().into()
}

/// The dataflow: intents for token Secrets and root CA ConfigMaps.
pub fn tokens<'s>(
    namespaces: VecCollection<'s, Revision, NamespaceRow, Diff>,
    accounts: VecCollection<'s, Revision, ServiceAccountRow, Diff>,
    secrets: VecCollection<'s, Revision, SecretRow, Diff>,
    configmaps: VecCollection<'s, Revision, ConfigMapRow, Diff>,
    root_ca: String,
) -> VecCollection<'s, Revision, Intent, Diff> {
    let active = namespaces.filter(|ns| ns.active).map(|ns| ns.name);
    let desired_secrets = accounts.map(|sa| (sa.namespace.clone(), sa)).semijoin(active.clone()).map(|(ns, sa)| {
        let key = ObjectKey::new(Kind::Secret, ns, secret_name(&sa.name, &sa.uid));
        (key, token_content(&sa.name, &sa.uid))
    });
    let observed_secrets = secrets.flat_map(|s| {
        let (account, uid) = s.service_account.clone()?;
        (s.type_ == TOKEN_TYPE && s.name == secret_name(&account, &uid))
            .then(|| (ObjectKey::new(Kind::Secret, s.namespace, s.name), token_content(&account, &uid)))
    });
    let secret_intents = reconcile("token-secrets", desired_secrets, observed_secrets, Orphans::Delete);

    let ca = root_ca.clone();
    let desired_ca = active.map(move |ns| (ObjectKey::new(Kind::ConfigMap, ns, ROOT_CA), root_ca_content(&ca)));
    let observed_ca = configmaps.flat_map(|c| {
        let ca = c.root_ca.clone()?;
        Some((ObjectKey::new(Kind::ConfigMap, c.namespace, c.name), root_ca_content(&ca)))
    });
    let ca_intents = reconcile("root-ca", desired_ca, observed_ca, Orphans::Keep);
    secret_intents.concat(ca_intents)
}

/// The reference: the same intents, from scratch over a snapshot.
pub fn reference(
    namespaces: &[NamespaceRow],
    accounts: &[ServiceAccountRow],
    secrets: &[SecretRow],
    configmaps: &[ConfigMapRow],
    root_ca: &str,
) -> BTreeSet<Intent> {
    let active: BTreeSet<&str> = namespaces.iter().filter(|n| n.active).map(|n| n.name.as_str()).collect();
    let mut out = BTreeSet::new();
    let mut wanted = BTreeSet::new();
    for sa in accounts.iter().filter(|sa| active.contains(sa.namespace.as_str())) {
        let key = ObjectKey::new(Kind::Secret, sa.namespace.clone(), secret_name(&sa.name, &sa.uid));
        wanted.insert((key, token_content(&sa.name, &sa.uid)));
    }
    let mut have = BTreeSet::new();
    for s in secrets {
        if let Some((account, uid)) = &s.service_account {
            if s.type_ == TOKEN_TYPE && s.name == secret_name(account, uid) {
                have.insert((ObjectKey::new(Kind::Secret, s.namespace.clone(), s.name.clone()), token_content(account, uid)));
            }
        }
    }
    reconcile_reference(&wanted, &have, true, &mut out);
    let wanted_ca: BTreeSet<_> = active.iter().map(|ns| (ObjectKey::new(Kind::ConfigMap, *ns, ROOT_CA), root_ca_content(root_ca))).collect();
    let have_ca: BTreeSet<_> = configmaps
        .iter()
        .filter_map(|c| Some((ObjectKey::new(Kind::ConfigMap, c.namespace.clone(), c.name.clone()), root_ca_content(c.root_ca.as_ref()?))))
        .collect();
    reconcile_reference(&wanted_ca, &have_ca, false, &mut out);
    out
}
