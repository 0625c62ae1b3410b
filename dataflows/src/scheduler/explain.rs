//! The explain-why rows of a decision, as the `scheduler-filters` and `scheduler-scores` views
//! show them: the nodes' filter verdicts with the plugin and upstream's reasons, and the
//! feasible nodes' raw, normalized and weighted scores per plugin.
//!
//! A row is bounded whatever the cluster's size: the filters row counts every reason over all
//! nodes but lists at most [`MAX_LISTED_NODES`] rejected nodes by name (the first by name);
//! the scores row lists the best [`MAX_SCORED_NODES`] nodes.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{json, Value};

/// Rejected nodes a filters row names, at most.
pub const MAX_LISTED_NODES: usize = 200;
/// Feasible nodes a scores row lists, best first, at most.
pub const MAX_SCORED_NODES: usize = 20;

use super::reference::{NodeScore, Outcome, PodDecision};

fn outcome(decision: &PodDecision) -> Value {
    match &decision.outcome {
        Outcome::Bound { node } => json!({"node": node}),
        Outcome::Unschedulable { message, .. } => json!({"unschedulable": message}),
    }
}

/// The nodes' filter verdicts for the pod: how many fit, each reason's count, and the
/// rejected nodes with their plugin and reasons.
pub fn filters(decision: &PodDecision) -> Value {
    let mut reasons: BTreeMap<&str, usize> = BTreeMap::new();
    let mut rejected = Vec::new();
    for v in &decision.filters {
        let Err(r) = &v.result else { continue };
        for reason in &r.reasons {
            *reasons.entry(reason.as_str()).or_insert(0) += 1;
        }
        if rejected.len() < MAX_LISTED_NODES {
            rejected.push(json!({"node": v.node, "plugin": r.plugin.name(), "reasons": r.reasons}));
        }
    }
    let feasible = decision.filters.iter().filter(|v| v.result.is_ok()).count();
    json!({"priority": decision.priority, "outcome": outcome(decision), "nodes": decision.filters.len(), "feasible": feasible,
           "reasons": reasons, "rejected": rejected})
}

/// A scores row as it is written: fields in the order the view shows them.
#[derive(Serialize)]
struct ScoresRow<'a> {
    priority: i32,
    outcome: OutcomeView<'a>,
    nodes: Vec<NodeView<'a>>,
}

#[derive(Serialize)]
enum OutcomeView<'a> {
    #[serde(rename = "node")]
    Node(&'a str),
    #[serde(rename = "unschedulable")]
    Unschedulable(&'a str),
}

#[derive(Serialize)]
struct NodeView<'a> {
    node: &'a str,
    total: i64,
    plugins: Vec<PluginView>,
}

#[derive(Serialize)]
struct PluginView {
    plugin: &'static str,
    raw: Option<i64>,
    normalized: i64,
    weight: i64,
    weighted: i64,
}

fn scores_row(decision: &PodDecision) -> ScoresRow<'_> {
    let mut ranked: Vec<_> = decision.scores.iter().collect();
    ranked.sort_by(|a, b| NodeScore::best_first(a, b));
    let nodes = ranked
        .into_iter()
        .take(MAX_SCORED_NODES)
        .map(|s| NodeView {
            node: &s.node,
            total: s.total,
            plugins: s
                .plugins
                .iter()
                .map(|p| PluginView { plugin: p.plugin.name(), raw: p.raw, normalized: p.normalized, weight: p.weight, weighted: p.normalized * p.weight })
                .collect(),
        })
        .collect();
    let outcome = match &decision.outcome {
        Outcome::Bound { node } => OutcomeView::Node(node),
        Outcome::Unschedulable { message, .. } => OutcomeView::Unschedulable(message),
    };
    ScoresRow { priority: decision.priority, outcome, nodes }
}

/// Every feasible node's scores for the pod, best first (ties by name, as the choice).
pub fn scores(decision: &PodDecision) -> Value {
    serde_json::to_value(scores_row(decision)).expect("a scores row serializes")
}

/// [`scores`] as the view's text, written straight from the decision (a row is written per
/// placed pod, so it skips the intermediate JSON tree).
pub fn scores_text(decision: &PodDecision) -> String {
    serde_json::to_string(&scores_row(decision)).expect("a scores row serializes")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::config::SchedulerConfig;
    use crate::scheduler::reference::{schedule, SchedulingInput};
    use crate::scheduler::test_support::{node, pod};

    #[test]
    fn the_views_name_plugins_and_reasons() {
        let nodes = vec![
            node(
                json!({"metadata": {"name": "a"}, "spec": {"taints": [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]}, "status": {"allocatable": {"cpu": "1", "pods": "10"}}}),
            ),
            node(json!({"metadata": {"name": "b"}, "status": {"allocatable": {"cpu": "1", "pods": "10"}}})),
        ];
        let p = pod(json!({"metadata": {"namespace": "ns", "name": "p"}, "spec": {"containers": [{"resources": {"requests": {"cpu": "100m"}}}]}}));
        let decisions = schedule(&SchedulerConfig::default(), SchedulingInput { nodes, pods: vec![p], ..SchedulingInput::default() });
        let f = filters(&decisions[0]);
        assert_eq!(f["rejected"], json!([{"node": "a", "plugin": "TaintToleration", "reasons": ["node(s) had untolerated taint {dedicated: gpu}"]}]));
        assert_eq!((f["nodes"].clone(), f["feasible"].clone()), (json!(2), json!(1)));
        assert_eq!(f["reasons"], json!({"node(s) had untolerated taint {dedicated: gpu}": 1}));
        assert_eq!(f["outcome"], json!({"node": "b"}));
        let s = scores(&decisions[0]);
        assert_eq!(serde_json::from_str::<Value>(&scores_text(&decisions[0])).unwrap(), s);
        assert_eq!(s["outcome"], json!({"node": "b"}));
        assert_eq!(s["nodes"].as_array().unwrap().len(), 1);
        let fit = s["nodes"][0]["plugins"].as_array().unwrap().iter().find(|p| p["plugin"] == "NodeResourcesFit").unwrap().clone();
        assert_eq!(fit["weight"], 1);
    }
}
