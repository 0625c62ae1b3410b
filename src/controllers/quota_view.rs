//! The `quota-usage` view lent to the in-process API server for ResourceQuota admission
//! ([`deltakube_api::admission::quota_view`]): a namespace's quota rows, read as a range, with
//! the revision the view is complete at.

use std::sync::Arc;

use deltakube_api::admission::quota_view::{used_of_row, QuotaUsageView, ViewUsage, QUOTA_USAGE_VIEW};

use super::metrics::Metrics;
use super::views::ViewStore;

pub struct QuotaViewReader {
    pub views: Arc<ViewStore>,
    pub metrics: Arc<Metrics>,
}

impl QuotaUsageView for QuotaViewReader {
    fn usage(&self, namespace: &str) -> ViewUsage {
        let prefix = format!("{namespace}/");
        let (revision, rows) = self.views.rows_under(QUOTA_USAGE_VIEW, &prefix);
        let used = rows.into_iter().filter_map(|(key, value)| Some((key.strip_prefix(&prefix)?.to_string(), used_of_row(&value)?))).collect();
        ViewUsage { revision, used }
    }

    fn checked(&self, from_view: bool) {
        self.metrics.quota_checked(from_view);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap};

    use super::super::views::ViewDelta;
    use super::*;

    fn row(key: &str, used: &str) -> ViewDelta {
        ViewDelta { view: QUOTA_USAGE_VIEW, revision: 3, key: key.into(), value: format!(r#"{{"hard":{{"pods":"9"}},"used":{{"pods":"{used}"}}}}"#), diff: 1 }
    }

    #[tokio::test]
    async fn reads_one_namespaces_quotas_as_of_the_complete_revision_and_counts_checks() {
        let views = Arc::new(ViewStore::new(1));
        let reader = QuotaViewReader { views: views.clone(), metrics: Arc::new(Metrics::new()) };
        for delta in [row("a/q1", "1"), row("a/q2", "2"), row("ab/q", "3"), row("b/q", "4")] {
            views.delta(delta);
        }
        assert_eq!(reader.usage("a"), ViewUsage::default(), "nothing complete yet");
        views.progress(0, 3);
        let pods = |n: &str| BTreeMap::from([("pods".to_string(), n.to_string())]);
        let want = HashMap::from([("q1".to_string(), pods("1")), ("q2".to_string(), pods("2"))]);
        assert_eq!(reader.usage("a"), ViewUsage { revision: 3, used: want });
        assert_eq!(reader.usage("c"), ViewUsage { revision: 3, used: HashMap::new() });
        reader.checked(true);
        reader.checked(true);
        reader.checked(false);
        let text = String::from_utf8(axum::body::to_bytes(reader.metrics.render().into_body(), 1 << 20).await.unwrap().to_vec()).unwrap();
        assert!(text.contains(r#"deltakube_quota_admission_checks_total{source="view"} 2"#), "{text}");
        assert!(text.contains(r#"deltakube_quota_admission_checks_total{source="summed"} 1"#), "{text}");
    }
}
