//! PodTopologySpread against upstream's filtering_test.go and scoring_test.go cases.

use serde_json::{json, Value};

use super::*;
use crate::scheduler::rows::project_workload;
use crate::scheduler::test_support::{labelled_node, pod};

/// Upstream's `st.MakePod().Name(name).Label(k, "").SpreadConstraint(...)`.
fn spreading_pod(labels: Value, constraints: Vec<Value>, extra_spec: Value) -> PodRow {
    let mut spec = json!({"topologySpreadConstraints": constraints});
    for (k, v) in extra_spec.as_object().into_iter().flatten() {
        spec[k] = v.clone();
    }
    pod(json!({"metadata": {"name": "p", "labels": labels}, "spec": spec}))
}

fn constraint(max_skew: i64, key: &str, when: &str, selector: Value) -> Value {
    json!({"maxSkew": max_skew, "topologyKey": key, "whenUnsatisfiable": when, "labelSelector": selector})
}

fn foo_exists() -> Value {
    json!({"matchExpressions": [{"key": "foo", "operator": "Exists"}]})
}

/// Existing pods labelled `foo` on these nodes (one per entry).
fn foo_pods(nodes: &[&str]) -> Vec<PodRow> {
    nodes.iter().map(|n| pod(json!({"metadata": {"name": format!("p-{n}"), "labels": {"foo": ""}}, "spec": {"nodeName": n}}))).collect()
}

/// node-a, node-b in zone1 and node-x, node-y in zone2, each also labelled `node: <name>`.
fn four_nodes() -> Vec<NodeRow> {
    [("node-a", "zone1"), ("node-b", "zone1"), ("node-x", "zone2"), ("node-y", "zone2")]
        .iter()
        .map(|(n, z)| labelled_node(n, json!({"zone": z, "node": n})))
        .collect()
}

/// Each node's filter verdict: `None` for success, else the code.
fn codes(p: &PodRow, nodes: Vec<NodeRow>, existing: Vec<PodRow>) -> Vec<Option<Code>> {
    let snapshot = ClusterSnapshot::new(nodes.clone(), existing, vec![], vec![]);
    let state = SpreadFilterState::compute(p, &snapshot, &SpreadDefaulting::System).expect("hard constraints");
    nodes.iter().map(|n| state.filter(p, n).err().map(|r| r.code)).collect()
}

const U: Option<Code> = Some(Code::Unschedulable);
const UU: Option<Code> = Some(Code::UnschedulableAndUnresolvable);

// Upstream: pkg/scheduler/framework/plugins/podtopologyspread/filtering_test.go, TestSingleConstraint.
#[test]
fn upstream_single_constraint_cases() {
    let zone = || spreading_pod(json!({"foo": ""}), vec![constraint(1, "zone", "DoNotSchedule", foo_exists())], json!({}));
    let by_node = |skew: i64, labels: Value| spreading_pod(labels, vec![constraint(skew, "node", "DoNotSchedule", foo_exists())], json!({}));
    // "no existing pods"
    assert_eq!(codes(&zone(), four_nodes(), vec![]), [None, None, None, None]);
    // "no existing pods, incoming pod doesn't match itself"
    let p = spreading_pod(
        json!({"foo": ""}),
        vec![constraint(1, "zone", "DoNotSchedule", json!({"matchExpressions": [{"key": "bar", "operator": "Exists"}]}))],
        json!({}),
    );
    assert_eq!(codes(&p, four_nodes(), vec![]), [None, None, None, None]);
    // "existing pods in a different namespace do not count"
    let other_ns = |name: &str, ns: &str| pod(json!({"metadata": {"name": name, "namespace": ns, "labels": {"foo": ""}}, "spec": {"nodeName": "node-a"}}));
    let mut existing = vec![other_ns("p-a1", "ns1"), other_ns("p-b1", "ns2")];
    existing.extend(foo_pods(&["node-x", "node-y"]));
    assert_eq!(codes(&zone(), four_nodes(), existing), [None, None, U, U]);
    // "pods spread across zones as 3/3, all nodes fit"
    let spread_2103 = || foo_pods(&["node-a", "node-a", "node-b", "node-y", "node-y", "node-y"]);
    assert_eq!(codes(&zone(), four_nodes(), spread_2103()), [None, None, None, None]);
    // "pods spread across zones as 1/2 due to absence of label 'zone' on node-b"
    let mut nodes = four_nodes();
    nodes[1] = labelled_node("node-b", json!({"zon": "zone1", "node": "node-b"}));
    assert_eq!(codes(&zone(), nodes, foo_pods(&["node-a", "node-b", "node-x", "node-y"])), [None, UU, U, U]);
    // "pod cannot be scheduled as all nodes don't have label 'rack'"
    let rack = spreading_pod(json!({"foo": ""}), vec![constraint(1, "rack", "DoNotSchedule", foo_exists())], json!({}));
    let two = vec![labelled_node("node-a", json!({"zone": "zone1", "node": "node-a"})), labelled_node("node-x", json!({"zone": "zone2", "node": "node-x"}))];
    assert_eq!(codes(&rack, two, vec![]), [UU, UU]);
    // "pods spread across nodes as 2/1/0/3, only node-x fits"
    assert_eq!(codes(&by_node(1, json!({"foo": ""})), four_nodes(), spread_2103()), [U, U, None, U]);
    // "pods spread across nodes as 2/1/0/3, maxSkew is 2, node-b and node-x fit"
    assert_eq!(codes(&by_node(2, json!({"foo": ""})), four_nodes(), spread_2103()), [U, None, None, U]);
    // "pods spread across nodes as 2/1/0/3, but pod doesn't match itself"
    assert_eq!(codes(&by_node(1, json!({"bar": ""})), four_nodes(), spread_2103()), [U, None, None, U]);
    // "incoming pod has nodeAffinity, pods spread as 2/~1~/~0~/3, hence node-a fits"
    let affinity = json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "node", "operator": "In", "values": ["node-a", "node-y"]}]}
    ]}}}});
    let p = spreading_pod(json!({"foo": ""}), vec![constraint(1, "node", "DoNotSchedule", foo_exists())], affinity);
    assert_eq!(codes(&p, four_nodes(), spread_2103()), [None, None, None, U]);
    // "terminating Pods should be excluded"
    let two = vec![labelled_node("node-a", json!({"node": "node-a"})), labelled_node("node-b", json!({"node": "node-b"}))];
    let terminating =
        pod(json!({"metadata": {"name": "p-a", "labels": {"foo": ""}, "deletionTimestamp": "2024-01-01T00:00:00Z"}, "spec": {"nodeName": "node-a"}}));
    assert_eq!(codes(&by_node(1, json!({"foo": ""})), two, vec![terminating, foo_pods(&["node-b"]).remove(0)]), [None, U]);
}

// Upstream: filtering_test.go, TestMultipleConstraints, the first two cases.
#[test]
fn upstream_multiple_constraints_cases() {
    let p = spreading_pod(
        json!({"foo": ""}),
        vec![constraint(1, "zone", "DoNotSchedule", foo_exists()), constraint(1, "node", "DoNotSchedule", foo_exists())],
        json!({}),
    );
    // "two Constraints on zone and node, spreads = [3/3, 2/1/0/3]"
    assert_eq!(codes(&p, four_nodes(), foo_pods(&["node-a", "node-a", "node-b", "node-y", "node-y", "node-y"])), [U, U, None, U]);
    // "two Constraints on zone and node, spreads = [3/4, 2/1/0/4]"
    assert_eq!(codes(&p, four_nodes(), foo_pods(&["node-a", "node-a", "node-b", "node-y", "node-y", "node-y", "node-y"])), [U, U, U, U]);
}

/// Scores of the feasible `nodes`; `failed` nodes exist but were filtered out.
fn scores(p: &PodRow, nodes: Vec<NodeRow>, failed: Vec<NodeRow>, existing: Vec<PodRow>, workloads: Vec<WorkloadRow>) -> Vec<i64> {
    let mut all = nodes.clone();
    all.extend(failed);
    let snapshot = ClusterSnapshot::new(all, existing, vec![], workloads);
    let feasible: Vec<&NodeRow> = nodes.iter().collect();
    let state = SpreadScoreState::compute(p, &snapshot, &feasible, &SpreadDefaulting::System).expect("soft constraints");
    let mut raw: Vec<i64> = nodes.iter().map(|n| state.score(p, &snapshot.nodes[snapshot.node_index(&n.name).unwrap()])).collect();
    let ignored: Vec<bool> = nodes.iter().map(|n| state.ignores(&n.name)).collect();
    normalize(&mut raw, &ignored);
    raw
}

fn hosts(names: &[&str]) -> Vec<NodeRow> {
    names.iter().map(|n| labelled_node(n, json!({LABEL_HOSTNAME: n}))).collect()
}

// Upstream: pkg/scheduler/framework/plugins/podtopologyspread/scoring_test.go, TestPodTopologySpreadScore.
#[test]
fn upstream_score_cases() {
    let soft = |skew: i64, key: &str, selector: Value| spreading_pod(json!({"foo": ""}), vec![constraint(skew, key, "ScheduleAnyway", selector)], json!({}));
    // "one constraint on node, no existing pods"
    assert_eq!(scores(&soft(1, LABEL_HOSTNAME, foo_exists()), hosts(&["node-a", "node-b"]), vec![], vec![], vec![]), [100, 100]);
    // "one constraint on node, only one node is candidate"
    assert_eq!(
        scores(&soft(1, LABEL_HOSTNAME, foo_exists()), hosts(&["node-a"]), hosts(&["node-b"]), foo_pods(&["node-a", "node-a", "node-b"]), vec![]),
        [100]
    );
    // "one constraint on node, all nodes have the same number of matching pods"
    assert_eq!(scores(&soft(1, LABEL_HOSTNAME, foo_exists()), hosts(&["node-a", "node-b"]), vec![], foo_pods(&["node-a", "node-b"]), vec![]), [100, 100]);
    // "one constraint on node, all 4 nodes are candidates" (matching pods spread as 2/1/0/3)
    let abcd = || hosts(&["node-a", "node-b", "node-c", "node-d"]);
    let spread_2103 = || foo_pods(&["node-a", "node-a", "node-b", "node-d", "node-d", "node-d"]);
    assert_eq!(scores(&soft(1, LABEL_HOSTNAME, foo_exists()), abcd(), vec![], spread_2103(), vec![]), [20, 60, 100, 0]);
    // "one constraint on node, null selector"
    assert_eq!(scores(&soft(1, LABEL_HOSTNAME, Value::Null), abcd(), vec![], spread_2103(), vec![]), [100, 100, 100, 100]);
    // "one constraint on node, all 4 nodes are candidates, maxSkew=2"
    assert_eq!(scores(&soft(2, LABEL_HOSTNAME, foo_exists()), abcd(), vec![], spread_2103(), vec![]), [33, 66, 100, 16]);
    // "one constraint on node, all 4 nodes are candidates, maxSkew=3" (spread as 4/3/2/1)
    let spread_4321 = || foo_pods(&["node-a", "node-a", "node-a", "node-a", "node-b", "node-b", "node-b", "node-c", "node-c", "node-d"]);
    assert_eq!(scores(&soft(3, LABEL_HOSTNAME, foo_exists()), abcd(), vec![], spread_4321(), vec![]), [44, 66, 77, 100]);
    // "system defaulting, nodes don't have zone, pods match service"
    let service = project_workload(WorkloadKind::Service, &json!({"metadata": {"name": "s"}, "spec": {"selector": {"foo": ""}}})).unwrap();
    let plain = pod(json!({"metadata": {"name": "p", "labels": {"foo": ""}}}));
    assert_eq!(scores(&plain, abcd(), vec![], spread_4321(), vec![service]), [44, 66, 77, 100]);
    // "one constraint on node, 3 out of 4 nodes are candidates" (4/2/1/~3~)
    let spread_421_3 = || foo_pods(&["node-a", "node-a", "node-a", "node-a", "node-b", "node-b", "node-x", "node-y", "node-y", "node-y"]);
    let got = scores(&soft(1, LABEL_HOSTNAME, foo_exists()), hosts(&["node-a", "node-b", "node-x"]), hosts(&["node-y"]), spread_421_3(), vec![]);
    assert_eq!(got, [33, 83, 100]);
    // "one constraint on node, 3 out of 4 nodes are candidates, one node doesn't match topology key"
    let mut nodes = hosts(&["node-a", "node-b", "node-x"]);
    nodes[1] = labelled_node("node-b", json!({"n": "node-b"}));
    assert_eq!(scores(&soft(1, LABEL_HOSTNAME, foo_exists()), nodes, hosts(&["node-y"]), spread_421_3(), vec![]), [16, 0, 100]);
}

#[test]
fn default_selector_merges_services_and_the_controlling_replica_set() {
    let svc = project_workload(WorkloadKind::Service, &json!({"metadata": {"namespace": "ns", "name": "s"}, "spec": {"selector": {"app": "web"}}})).unwrap();
    let rs = project_workload(
        WorkloadKind::ReplicaSet,
        &json!({"metadata": {"namespace": "ns", "name": "rs"}, "spec": {"selector": {"matchLabels": {"pod-template-hash": "h"}}}}),
    )
    .unwrap();
    let p = pod(json!({"metadata": {"namespace": "ns", "name": "p", "labels": {"app": "web", "pod-template-hash": "h"},
        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": "u", "controller": true}]}}));
    let selector = default_selector(&p, &[svc, rs]);
    let sibling = vec![("app".to_string(), "web".to_string()), ("pod-template-hash".to_string(), "h".to_string())];
    let other_revision = vec![("app".to_string(), "web".to_string()), ("pod-template-hash".to_string(), "g".to_string())];
    assert!(selector.matches(&sibling));
    assert!(!selector.matches(&other_revision));
    // A pod nothing selects and no controller owns gets no default constraint.
    let lone = pod(json!({"metadata": {"namespace": "ns", "name": "lone", "labels": {"x": "y"}}}));
    assert!(constraints_for(&lone, WhenUnsatisfiable::ScheduleAnyway, &SpreadDefaulting::System, &[]).is_empty());
}
