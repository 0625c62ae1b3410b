//! The explain-why views the binder fills: `scheduler-filters` (per pending pod, every node's
//! filter verdict and reasons) and `scheduler-scores` (per pending or scheduled pod, every
//! feasible node's raw, normalized and weighted scores). Rows are keyed `namespace/name`, so
//! `/views/scheduler-filters?namespace=&name=` selects one pod as the other views do.

use std::collections::BTreeMap;

use deltakube_dataflows::scheduler::batch::BatchDecision;
use deltakube_dataflows::scheduler::explain;
use deltakube_dataflows::scheduler::readout::Departures;
use deltakube_dataflows::scheduler::reference::Outcome;

use super::views::ViewStore;

pub const FILTERS_VIEW: &str = "scheduler-filters";
pub const SCORES_VIEW: &str = "scheduler-scores";

/// What the two views show now, per pod.
#[derive(Default)]
pub struct Shown {
    filters: BTreeMap<(String, String), String>,
    scores: BTreeMap<(String, String), String>,
}

fn set(views: &ViewStore, view: &'static str, rows: &mut BTreeMap<(String, String), String>, pod: &(String, String), value: Option<String>) {
    let old = match value {
        Some(v) => match rows.get_mut(pod) {
            Some(shown) if *shown == v => return,
            Some(shown) => Some(std::mem::replace(shown, v)),
            None => {
                rows.insert(pod.clone(), v);
                None
            }
        },
        None => match rows.remove(pod) {
            Some(shown) => Some(shown),
            None => return,
        },
    };
    let new = rows.get(pod).map(String::as_str);
    views.replace(view, &format!("{}/{}", pod.0, pod.1), old.as_deref(), new);
}

impl Shown {
    /// Forgets the departed pods' rows, then shows this round's decisions; a pod that left the queue loses its filters row, and its
    /// scores row once it no longer exists (a bound pod keeps the scores that placed it). A
    /// decision that lists no per-node verdicts (a pod placed from its class's ranking) leaves
    /// the filters row as it was: the pod is leaving the queue.
    pub fn update(&mut self, views: &ViewStore, departures: &Departures, decisions: &[BatchDecision]) {
        for pod in &departures.left_queue {
            set(views, FILTERS_VIEW, &mut self.filters, pod, None);
        }
        for pod in &departures.gone {
            set(views, SCORES_VIEW, &mut self.scores, pod, None);
        }
        for d in decisions {
            let pod = (d.pod.namespace.clone(), d.pod.name.clone());
            if !d.decision.filters.is_empty() || matches!(d.decision.outcome, Outcome::Unschedulable { .. }) {
                set(views, FILTERS_VIEW, &mut self.filters, &pod, Some(explain::filters(&d.decision).to_string()));
            }
            set(views, SCORES_VIEW, &mut self.scores, &pod, Some(explain::scores_text(&d.decision)));
        }
    }
}
