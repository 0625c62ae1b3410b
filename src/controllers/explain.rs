//! The explain-why views the binder fills: `scheduler-filters` (per pending pod, every node's
//! filter verdict and reasons) and `scheduler-scores` (per pending or scheduled pod, every
//! feasible node's raw, normalized and weighted scores). Rows are keyed `namespace/name`, so
//! `/views/scheduler-filters?namespace=&name=` selects one pod as the other views do.

use std::sync::Arc;

use deltakube_dataflows::scheduler::explain;
use deltakube_dataflows::scheduler::readout::Departures;
use deltakube_dataflows::scheduler::reference::{Outcome, PodDecision};

use super::views::{LazyRow, ViewStore};

pub const FILTERS_VIEW: &str = "scheduler-filters";
pub const SCORES_VIEW: &str = "scheduler-scores";

fn key(pod: &(String, String)) -> String {
    format!("{}/{}", pod.0, pod.1)
}

/// Forgets the departed pods' rows, then shows this round's decisions; a pod that left the
/// queue loses its filters row, and its scores row once it no longer exists (a bound pod keeps
/// the scores that placed it). A decision that lists no per-node verdicts (a pod placed from
/// its class's ranking) leaves the filters row as it was: the pod is leaving the queue.
///
/// Rows keep the decision and render it when read: a row is set per placed pod, and most are
/// never read.
pub fn show<'a>(views: &ViewStore, departures: &Departures, decisions: impl IntoIterator<Item = &'a Arc<PodDecision>>) {
    for pod in &departures.left_queue {
        views.set_lazy(FILTERS_VIEW, &key(pod), None);
    }
    for pod in &departures.gone {
        views.set_lazy(SCORES_VIEW, &key(pod), None);
    }
    for d in decisions {
        let key = format!("{}/{}", d.namespace, d.name);
        if !d.filters.is_empty() || matches!(d.outcome, Outcome::Unschedulable { .. }) {
            let d = d.clone();
            let row: LazyRow = Arc::new(move || explain::filters(&d).to_string());
            views.set_lazy(FILTERS_VIEW, &key, Some(row));
        }
        let d = d.clone();
        let row: LazyRow = Arc::new(move || explain::scores_text(&d));
        views.set_lazy(SCORES_VIEW, &key, Some(row));
    }
}
