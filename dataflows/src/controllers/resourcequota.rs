//! ResourceQuota controller: every quota's `status.hard` is its `spec.hard`, and `status.used`
//! holds, for each resource `spec.hard` names that an evaluator measures, the summed usage of
//! the namespace's objects its scopes select, as upstream's resource quota controller.
//!
//! ```text
//! usage ─ explode(each resource: (ns, resource, class), amount as difference) ─ count
//!   ─ key by (ns, resource) ────────────────────────────────────────────────┐
//! quotas ─ flat_map(each tracked hard resource → (ns, resource)) ───────────┴─ join
//!   ─ filter(quota scopes select class) ─▶ Used ─┐
//! quotas ─▶ Quota ───────────────────────────────┴─ reduce per quota ─▶ desired status
//!   ─▶ quota-usage view, and PatchStatus where the observed status differs
//! ```
//! The sums are differential's own accumulation: an object's usage enters with its amount as
//! the difference ([`Total`]), so a pod change updates only its namespace's totals, and a
//! changed total reaches only the quotas of that namespace that name the resource. Nothing is
//! recomputed from all pods.

use std::collections::{BTreeMap, BTreeSet};

use differential_dataflow::difference::{Abelian, IsZero, Monoid, Multiply, Semigroup};
use differential_dataflow::VecCollection;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::rows_quota::{tracked, ResourceQuotaRow, ScopeClass, UsageRow};
use crate::types::{Diff, Intent, Kind, ObjectKey, Revision, Text};
use deltakube_api::quota::quantity::{Format, Quantity};

/// The difference type of the usage sums: the exact amount, and how many non-zero terms of
/// each format it holds (a sum prints in its terms' format).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Total {
    pub nanos: i128,
    pub binary: isize,
    pub decimal: isize,
    pub exponent: isize,
}

impl Total {
    pub fn of(q: &Quantity) -> Total {
        let mut t = Total { nanos: q.nanos, ..Total::default() };
        if q.nanos != 0 {
            match q.format {
                Format::BinarySI => t.binary = 1,
                Format::DecimalSI => t.decimal = 1,
                Format::DecimalExponent => t.exponent = 1,
            }
        }
        t
    }

    /// The sum as a quantity. Upstream's sum takes the format of whichever term its lister
    /// yields first, which it does not specify; here a mixed sum prints as binary if any term
    /// is binary, else as decimal, so that the result does not depend on an order.
    pub fn quantity(&self) -> Quantity {
        let format = if self.binary > 0 {
            Format::BinarySI
        } else if self.decimal > 0 {
            Format::DecimalSI
        } else if self.exponent > 0 {
            Format::DecimalExponent
        } else {
            Format::DecimalSI
        };
        Quantity { nanos: self.nanos, format }
    }
}

impl IsZero for Total {
    fn is_zero(&self) -> bool {
        self.nanos == 0 && self.binary == 0 && self.decimal == 0 && self.exponent == 0
    }
}

impl Semigroup for Total {
    fn plus_equals(&mut self, rhs: &Self) {
        self.nanos += rhs.nanos;
        self.binary += rhs.binary;
        self.decimal += rhs.decimal;
        self.exponent += rhs.exponent;
    }
}

impl Monoid for Total {
    fn zero() -> Self {
        Total::default()
    }
}

impl Abelian for Total {
    fn negate(&mut self) {
        *self = self.multiply(&-1);
    }
}

impl Multiply<Diff> for Total {
    type Output = Total;
    fn multiply(self, rhs: &Diff) -> Total {
        Total { nanos: self.nanos * *rhs as i128, binary: self.binary * rhs, decimal: self.decimal * rhs, exponent: self.exponent * rhs }
    }
}

/// What flows into the per-quota reduce.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Member {
    Quota(ResourceQuotaRow),
    /// The total of one resource over one scope class of the namespace.
    Used(String, Total),
}

pub fn quota_key(q: &ResourceQuotaRow) -> ObjectKey {
    ObjectKey::new(Kind::ResourceQuota, q.namespace.clone(), q.name.clone())
}

/// Whether the observed values equal the desired ones, by value (upstream's `quota.Equals`).
fn same(observed: &[(String, Option<i128>)], desired: &BTreeMap<&str, i128>) -> bool {
    observed.len() == desired.len() && observed.iter().all(|(k, v)| v.is_some() && desired.get(k.as_str()).copied() == *v)
}

/// The desired status of a quota (the `quota-usage` view's value) and the status patch when
/// the observed status differs. Shared by the dataflow and the reference: they differ in how
/// the totals are found, which is what the churn test checks.
pub fn decide(q: &ResourceQuotaRow, used: &BTreeMap<String, Total>) -> (Text, Option<Intent>) {
    let mut hard_text = Map::new();
    let mut hard_value = BTreeMap::new();
    let mut used_text = Map::new();
    let mut used_value = BTreeMap::new();
    for (resource, text, quantity) in &q.hard {
        hard_text.insert(resource.clone(), json!(text));
        hard_value.insert(resource.as_str(), quantity.nanos);
        if tracked(resource) {
            let total = used.get(resource).map_or(Quantity::ZERO, Total::quantity);
            used_text.insert(resource.clone(), json!(total.to_string()));
            used_value.insert(resource.as_str(), total.nanos);
        }
    }
    let status = json!({"hard": hard_text, "used": used_text});
    if same(&q.observed_hard, &hard_value) && same(&q.observed_used, &used_value) {
        return (status.to_string().into(), None);
    }
    // A merge patch: resources that left `spec.hard` are removed with nulls.
    let mut patch = status.clone();
    for (field, observed) in [("hard", &q.observed_hard), ("used", &q.observed_used)] {
        for (k, _) in observed {
            if patch[field].get(k).is_none() {
                patch[field][k] = Value::Null;
            }
        }
    }
    let intent = Intent::PatchStatus { key: quota_key(q), patch: json!({"status": patch}).to_string().into() };
    (status.to_string().into(), Some(intent))
}

/// The dataflow: each quota's desired status (the `quota-usage` view) and the status patches.
#[allow(clippy::type_complexity)]
pub fn resource_quotas<'s>(
    quotas: VecCollection<'s, Revision, ResourceQuotaRow, Diff>,
    usage: VecCollection<'s, Revision, UsageRow, Diff>,
) -> (VecCollection<'s, Revision, (ObjectKey, Text), Diff>, VecCollection<'s, Revision, Intent, Diff>) {
    let totals = usage
        .explode(|u: UsageRow| {
            let UsageRow { namespace, class, usage } = u;
            usage
                .into_iter()
                .filter(|(_, q)| !q.is_zero())
                .map(|(resource, q)| ((namespace.clone(), resource, class.clone()), Total::of(&q)))
                .collect::<Vec<_>>()
        })
        .count()
        .map(|((namespace, resource, class), total)| ((namespace, resource), (class, total)));
    let wanted = quotas.clone().flat_map(|q| {
        let key = quota_key(&q);
        q.hard
            .iter()
            .filter(|(resource, ..)| tracked(resource))
            .map(|(resource, ..)| ((q.namespace.clone(), resource.clone()), (key.clone(), q.scopes.clone())))
            .collect::<Vec<_>>()
    });
    let used = wanted
        .join_map(totals, |(_, resource), (key, scopes), (class, total): &(ScopeClass, Total)| {
            class.matches(scopes).then(|| (key.clone(), Member::Used(resource.clone(), *total)))
        })
        .flat_map(|m| m);
    let markers = quotas.map(|q| (quota_key(&q), Member::Quota(q)));
    let decided =
        markers.concat(used).reduce_named("resourcequota-status", |_key, input: &[(&Member, Diff)], output: &mut Vec<((Text, Option<Intent>), Diff)>| {
            let mut quota = None;
            let mut used: BTreeMap<String, Total> = BTreeMap::new();
            for (member, diff) in input {
                match member {
                    Member::Quota(q) if *diff > 0 => quota = Some(q),
                    // Equal totals of two scope classes arrive as one member with count two.
                    Member::Used(resource, total) if *diff > 0 => used.entry(resource.clone()).or_default().plus_equals(&total.multiply(diff)),
                    _ => {}
                }
            }
            if let Some(q) = quota {
                output.push((decide(q, &used), 1));
            }
        });
    let view = decided.clone().map(|(key, (status, _))| (key, status));
    let intents = decided.flat_map(|(_, (_, intent))| intent);
    (view, intents)
}

/// The reference: desired statuses and intents, from scratch over a snapshot.
pub fn reference(quotas: &[ResourceQuotaRow], usage: &[UsageRow]) -> (BTreeSet<(ObjectKey, Text)>, BTreeSet<Intent>) {
    let mut view = BTreeSet::new();
    let mut intents = BTreeSet::new();
    for q in quotas {
        let mut used: BTreeMap<String, Total> = BTreeMap::new();
        for u in usage.iter().filter(|u| u.namespace == q.namespace && u.class.matches(&q.scopes)) {
            for (resource, amount) in &u.usage {
                used.entry(resource.clone()).or_default().plus_equals(&Total::of(amount));
            }
        }
        let (status, intent) = decide(q, &used);
        view.insert((quota_key(q), status));
        intents.extend(intent);
    }
    (view, intents)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rows_quota::{project_quota, usage as usage_of};

    fn quota(hard: Value, status: Value) -> ResourceQuotaRow {
        let v = json!({"spec": {"hard": hard}, "status": status});
        project_quota(&ObjectKey::new(Kind::ResourceQuota, "ns", "q"), &v).unwrap()
    }

    fn pod(name: &str, cpu: &str, memory: &str) -> UsageRow {
        let v = json!({"spec": {"containers": [{"name": "c", "resources": {"requests": {"cpu": cpu, "memory": memory}}}]}});
        usage_of(&ObjectKey::new(Kind::Pod, "ns", name), &v).unwrap().unwrap()
    }

    #[test]
    fn sums_requests_and_patches_the_status() {
        let q = quota(json!({"pods": "4", "requests.cpu": "1", "requests.memory": "1Gi", "foo": "3"}), json!({}));
        let (status, intent) = reference(&[q], &[pod("a", "500m", "256Mi"), pod("b", "250m", "256Mi")]);
        let (_, status) = status.into_iter().next().unwrap();
        assert_eq!(
            status,
            r#"{"hard":{"foo":"3","pods":"4","requests.cpu":"1","requests.memory":"1Gi"},"used":{"pods":"2","requests.cpu":"750m","requests.memory":"512Mi"}}"#
                .into()
        );
        let Some(Intent::PatchStatus { patch, .. }) = intent.into_iter().next() else { panic!("no patch") };
        assert_eq!(patch, format!(r#"{{"status":{status}}}"#).into());
    }

    #[test]
    fn an_equal_status_is_left_alone_and_stale_entries_are_removed() {
        let hard = json!({"pods": "2"});
        let same = quota(hard.clone(), json!({"hard": {"pods": "2"}, "used": {"pods": "1000m"}}));
        assert!(reference(&[same], &[pod("a", "1", "1")]).1.is_empty(), "equal by value");
        let stale = quota(hard, json!({"hard": {"pods": "2", "secrets": "1"}, "used": {"pods": "1", "secrets": "0"}}));
        let intents = reference(&[stale], &[pod("a", "1", "1")]).1;
        let Some(Intent::PatchStatus { patch, .. }) = intents.into_iter().next() else { panic!("no patch") };
        assert_eq!(patch, r#"{"status":{"hard":{"pods":"2","secrets":null},"used":{"pods":"1","secrets":null}}}"#.into());
    }

    #[test]
    fn mixed_formats_print_in_a_fixed_precedence() {
        let mut t = Total::of(&Quantity::parse("1G").unwrap());
        t.plus_equals(&Total::of(&Quantity::parse("1Gi").unwrap()));
        assert_eq!(t.quantity().format, Format::BinarySI);
        assert_eq!(Total::of(&Quantity::parse("0").unwrap()), Total::default());
        assert_eq!(Total::default().quantity().to_string(), "0");
    }
}
