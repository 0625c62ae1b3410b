//! Where ResourceQuota admission reads a namespace's usage from: the ResourceQuota
//! controller's `quota-usage` view, when the controllers run in the API server's process
//! (`deltakube up`). The view is the dataflow's incrementally kept `status.used` of each
//! quota, so a check costs a lookup of the namespace's quotas instead of a pass over the
//! namespace's objects.
//!
//! Admission does not wait for the view: it takes the rows at the revision the view is
//! complete at, V, and brings them to the watch cache's revision with the cache's events after
//! V of the kind it charges (a handful: the dataflow trails the cache by a few writes). That is
//! exact, as the view at V equals the sum over the objects at V (the churn test checks the
//! dataflow against that sum at every revision), and the events after V are every change since.
//! A quota the view has no row for, or whose spec changed after V, a resource its row leaves
//! out or that another kind also measures, or a V older than the cache's history or more
//! than 10,000 events behind, is summed from the watch cache instead, as it is with no
//! controllers in the process.

use std::collections::{BTreeMap, HashMap};

/// The name of the view admission reads.
pub const QUOTA_USAGE_VIEW: &str = "quota-usage";

/// One namespace's quota rows at the revision the view is complete at.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ViewUsage {
    pub revision: u64,
    /// By quota name, its `status.used` as the view prints it (resource → quantity text).
    pub used: HashMap<String, BTreeMap<String, String>>,
}

/// The `quota-usage` view, as the in-process controllers keep it.
pub trait QuotaUsageView: Send + Sync {
    /// The rows of `namespace`'s quotas, as of the revision the view is complete at.
    fn usage(&self, namespace: &str) -> ViewUsage;

    /// Admission checked one quota: `from_view` if the view gave all of the usage, else
    /// some of it was summed from the cache.
    fn checked(&self, from_view: bool);
}

/// Reads a `quota-usage` row's value (`{"hard": {…}, "used": {…}}`) into its `used`.
pub fn used_of_row(value: &str) -> Option<BTreeMap<String, String>> {
    let v: serde_json::Value = serde_json::from_str(value).ok()?;
    let used = v.get("used")?.as_object()?;
    Some(used.iter().filter_map(|(k, q)| Some((k.clone(), q.as_str()?.to_string()))).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_used_from_a_view_row() {
        let used = used_of_row(r#"{"hard":{"pods":"2","requests.cpu":"1"},"used":{"pods":"1","requests.cpu":"500m"}}"#).unwrap();
        assert_eq!(used, BTreeMap::from([("pods".to_string(), "1".to_string()), ("requests.cpu".to_string(), "500m".to_string())]));
        assert_eq!(used_of_row("not json"), None);
        assert_eq!(used_of_row(r#"{"hard":{}}"#), None);
    }
}
