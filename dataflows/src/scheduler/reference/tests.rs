//! The sequential reference scheduler end to end: queue order, accounting between pods,
//! the FailedScheduling message, ties, and the explain-why data.

use serde_json::{json, Value};

use super::*;
use crate::scheduler::config::SchedulerConfig;
use crate::scheduler::test_support::{node, pod};

fn worker(name: &str, cpu: &str, extra: Value) -> NodeRow {
    let mut v = json!({"metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}}, "status": {"allocatable": {"cpu": cpu, "memory": "4Gi", "pods": "110"}}});
    for (k, val) in extra.as_object().into_iter().flatten() {
        v[k] = val.clone();
    }
    node(v)
}

fn pending(name: &str, created: &str, cpu: &str, spec: Value) -> PodRow {
    let mut spec_v = json!({"containers": [{"image": "app", "resources": {"requests": {"cpu": cpu, "memory": "64Mi"}}}]});
    for (k, val) in spec.as_object().into_iter().flatten() {
        spec_v[k] = val.clone();
    }
    pod(json!({"metadata": {"namespace": "ns", "name": name, "creationTimestamp": created, "labels": {"app": "web"}}, "spec": spec_v}))
}

fn input(nodes: Vec<NodeRow>, pods: Vec<PodRow>) -> SchedulingInput {
    SchedulingInput { nodes, pods, ..SchedulingInput::default() }
}

fn placements(decisions: &[PodDecision]) -> Vec<(String, String)> {
    decisions
        .iter()
        .map(|d| {
            let where_ = match &d.outcome {
                Outcome::Bound { node } => node.clone(),
                Outcome::Unschedulable { message, .. } => message.clone(),
            };
            (d.name.clone(), where_)
        })
        .collect()
}

#[test]
fn the_issues_failed_scheduling_message() {
    let taint = json!({"spec": {"taints": [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]}});
    let nodes = vec![
        worker("n1", "500m", json!({})),
        worker("n2", "500m", json!({})),
        worker("n3", "8", taint.clone()),
        worker("n4", "8", taint.clone()),
        worker("n5", "8", taint),
    ];
    let decisions = schedule(&SchedulerConfig::default(), input(nodes, vec![pending("big", "t1", "2", json!({}))]));
    assert_eq!(
        placements(&decisions),
        [("big".into(), "0/5 nodes are available: 2 Insufficient cpu, 3 node(s) had untolerated taint {dedicated: gpu}.".into())]
    );
    // Every node's verdict is kept for explain-why.
    let verdicts: Vec<&str> = decisions[0].filters.iter().map(|v| v.result.as_ref().unwrap_err().plugin.name()).collect();
    assert_eq!(verdicts, ["NodeResourcesFit", "NodeResourcesFit", "TaintToleration", "TaintToleration", "TaintToleration"]);
}

#[test]
fn each_pod_sees_the_pods_placed_before_it() {
    let nodes = vec![worker("a", "1", json!({})), worker("b", "1", json!({}))];
    let pods = vec![pending("p1", "t1", "600m", json!({})), pending("p2", "t2", "600m", json!({})), pending("p3", "t3", "600m", json!({}))];
    let decisions = schedule(&SchedulerConfig::default(), input(nodes, pods));
    assert_eq!(
        placements(&decisions),
        [("p1".into(), "a".into()), ("p2".into(), "b".into()), ("p3".into(), "0/2 nodes are available: 2 Insufficient cpu.".into())]
    );
}

#[test]
fn queue_order_is_priority_then_creation() {
    let nodes = vec![worker("a", "1", json!({}))];
    let classes = vec![PriorityClassRow { name: "high".into(), value: 1000, global_default: false }];
    let pods = vec![
        pending("early-low", "t1", "600m", json!({})),
        pending("late-high", "t3", "600m", json!({"priorityClassName": "high"})),
        pending("later-low", "t2", "600m", json!({})),
    ];
    let decisions = schedule(&SchedulerConfig::default(), SchedulingInput { priority_classes: classes, ..input(nodes, pods) });
    let order: Vec<(&str, i32)> = decisions.iter().map(|d| (d.name.as_str(), d.priority)).collect();
    assert_eq!(order, [("late-high", 1000), ("early-low", 0), ("later-low", 0)]);
    assert_eq!(decisions[0].outcome, Outcome::Bound { node: "a".into() });
}

#[test]
fn only_pending_pods_of_the_default_scheduler_are_taken() {
    let nodes = vec![worker("a", "4", json!({}))];
    let mut bound = pending("bound", "t0", "100m", json!({"nodeName": "a"}));
    bound.node_name = "a".into();
    let pods = vec![
        bound,
        pending("other", "t1", "100m", json!({"schedulerName": "my-scheduler"})),
        pending("gated", "t2", "100m", json!({"schedulingGates": [{"name": "wait"}]})),
        pod(json!({"metadata": {"namespace": "ns", "name": "going", "deletionTimestamp": "t"}, "spec": {}})),
        pending("mine", "t3", "100m", json!({})),
    ];
    let decisions = schedule(&SchedulerConfig::default(), input(nodes, pods));
    assert_eq!(placements(&decisions), [("mine".into(), "a".into())]);
}

#[test]
fn host_ports_are_claimed_by_placed_pods() {
    let nodes = vec![worker("a", "4", json!({})), worker("b", "4", json!({}))];
    let with_port = |name: &str, t: &str| {
        pod(json!({"metadata": {"namespace": "ns", "name": name, "creationTimestamp": t},
            "spec": {"containers": [{"ports": [{"containerPort": 80, "hostPort": 8080}]}]}}))
    };
    let decisions = schedule(&SchedulerConfig::default(), input(nodes, vec![with_port("p1", "t1"), with_port("p2", "t2"), with_port("p3", "t3")]));
    assert_eq!(
        placements(&decisions),
        [
            ("p1".into(), "a".into()),
            ("p2".into(), "b".into()),
            ("p3".into(), "0/2 nodes are available: 2 node(s) didn't have free ports for the requested pod ports.".into())
        ]
    );
}

#[test]
fn required_anti_affinity_counts_pods_placed_in_the_same_run() {
    let nodes = vec![worker("a", "4", json!({})), worker("b", "4", json!({}))];
    let anti = json!({"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": "web"}}, "topologyKey": "kubernetes.io/hostname"}
    ]}}});
    let pods = (1..=3).map(|i| pending(&format!("r{i}"), &format!("t{i}"), "100m", anti.clone())).collect();
    let decisions = schedule(&SchedulerConfig::default(), input(nodes, pods));
    assert_eq!(placements(&decisions)[2].1, "0/2 nodes are available: 2 node(s) didn't match pod anti-affinity rules.");
    assert_ne!(placements(&decisions)[0].1, placements(&decisions)[1].1);
}

#[test]
fn equal_totals_go_to_the_lowest_node_name() {
    let nodes = vec![worker("c", "2", json!({})), worker("a", "2", json!({})), worker("b", "2", json!({}))];
    let decisions = schedule(&SchedulerConfig::default(), input(nodes, vec![pending("p", "t1", "100m", json!({}))]));
    assert_eq!(decisions[0].outcome, Outcome::Bound { node: "a".into() });
    let totals: Vec<i64> = decisions[0].scores.iter().map(|s| s.total).collect();
    assert!(totals.iter().all(|t| *t == totals[0]));
}

#[test]
fn most_allocated_packs_and_least_allocated_spreads() {
    let nodes = || vec![worker("a", "4", json!({})), worker("b", "4", json!({}))];
    let pods = || vec![pending("p1", "t1", "1", json!({})), pending("p2", "t2", "1", json!({}))];
    // Default spreading needs a Service or controller; these pods have neither, so only the
    // resource scores differ.
    let spread = schedule(&SchedulerConfig::default(), input(nodes(), pods()));
    assert_eq!(placements(&spread), [("p1".into(), "a".into()), ("p2".into(), "b".into())]);
    let packed = schedule(&SchedulerConfig::default().most_allocated(), input(nodes(), pods()));
    assert_eq!(placements(&packed), [("p1".into(), "a".into()), ("p2".into(), "a".into())]);
}

#[test]
fn nodes_outside_a_name_pin_are_reported_as_absent() {
    let tainted = json!({"spec": {"taints": [{"key": "k", "value": "v", "effect": "NoExecute"}]}});
    let nodes = vec![worker("a", "4", json!({})), worker("b", "4", tainted), worker("c", "4", json!({}))];
    let pinned = json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["b"]}]}
    ]}}}});
    let decisions = schedule(&SchedulerConfig::default(), input(nodes, vec![pending("ds", "t1", "100m", pinned)]));
    assert_eq!(
        placements(&decisions)[0].1,
        "0/3 nodes are available: 1 node(s) had untolerated taint {k: v}, 2 node(s) didn't satisfy plugin(s) [NodeAffinity]."
    );
}

#[test]
fn a_parse_error_in_a_pending_pods_terms_is_its_message() {
    let bad = json!({"affinity": {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchExpressions": [{"key": "service", "operator": "In", "values": ["{{.bad-value.}}"]}]}, "topologyKey": "region"}
    ]}}});
    let decisions = schedule(&SchedulerConfig::default(), input(vec![worker("a", "4", json!({}))], vec![pending("p", "t1", "100m", bad)]));
    let message = &placements(&decisions)[0].1;
    assert!(
        message.starts_with("0/1 nodes are available: parsing pod: requiredAffinityTerms: values[0][service]: Invalid value: \"{{.bad-value.}}\""),
        "{message}"
    );
}

#[test]
fn scores_are_explained_per_plugin_with_weights() {
    let nodes = vec![worker("a", "4", json!({"spec": {"taints": [{"key": "slow", "value": "", "effect": "PreferNoSchedule"}]}})), worker("b", "4", json!({}))];
    let decisions = schedule(&SchedulerConfig::default(), input(nodes, vec![pending("p", "t1", "100m", json!({}))]));
    let d = &decisions[0];
    assert_eq!(d.outcome, Outcome::Bound { node: "b".into() });
    for s in &d.scores {
        assert_eq!(s.total, s.plugins.iter().map(|p| p.normalized * p.weight).sum::<i64>());
        assert!(s.plugins.iter().all(|p| (0..=100).contains(&p.normalized)));
    }
    let taint = |node: usize| d.scores[node].plugins.iter().find(|p| p.plugin == Plugin::TaintToleration).cloned().unwrap();
    assert_eq!((taint(0).raw, taint(0).normalized, taint(0).weight), (Some(1), 0, 3));
    assert_eq!((taint(1).raw, taint(1).normalized), (Some(0), 100));
    // Without preferred node affinity, NodeAffinity skips the pod.
    assert!(d.scores[0].plugins.iter().any(|p| p.plugin == Plugin::NodeAffinity && p.raw.is_none()));
}

#[test]
fn default_spreading_separates_replicas_of_a_replica_set() {
    // With MostAllocated the resource score wants the pods together; the default hostname
    // spreading (weight 2) must still separate the ReplicaSet's second replica.
    let nodes = vec![worker("a", "64", json!({})), worker("b", "64", json!({}))];
    let rs = crate::scheduler::rows::project_workload(
        crate::scheduler::rows::WorkloadKind::ReplicaSet,
        &json!({"metadata": {"namespace": "ns", "name": "rs"}, "spec": {"selector": {"matchLabels": {"app": "web"}}}}),
    )
    .unwrap();
    let replica = |name: &str, t: &str| {
        pod(json!({"metadata": {"namespace": "ns", "name": name, "creationTimestamp": t, "labels": {"app": "web"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": "u", "controller": true}]},
            "spec": {"containers": [{"resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}}]}}))
    };
    let decisions = schedule(
        &SchedulerConfig::default().most_allocated(),
        SchedulingInput { workloads: vec![rs], ..input(nodes, vec![replica("r1", "t1"), replica("r2", "t2")]) },
    );
    assert_eq!(placements(&decisions), [("r1".into(), "a".into()), ("r2".into(), "b".into())]);
}

#[test]
fn a_cluster_without_nodes_says_so() {
    let decisions = schedule(&SchedulerConfig::default(), input(vec![], vec![pending("p", "t1", "100m", json!({}))]));
    assert_eq!(placements(&decisions), [("p".into(), "no nodes available to schedule pods".into())]);
}
