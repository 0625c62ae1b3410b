//! The batch binder against the sequential reference, and claims in flight.

use serde_json::{json, Value};

use super::*;
use crate::scheduler::reference::{schedule, SchedulingInput};
use crate::scheduler::rows::NodeRow;
use crate::scheduler::test_support::{node, pod};

fn worker(name: &str, cpu: &str) -> NodeRow {
    node(
        json!({"metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}}, "status": {"allocatable": {"cpu": cpu, "memory": "4Gi", "pods": "110"}}}),
    )
}

fn pending(name: &str, cpu: &str, extra: Value) -> PodRow {
    let mut container = json!({"image": "app", "resources": {"requests": {"cpu": cpu, "memory": "64Mi"}}});
    for (k, v) in extra.as_object().into_iter().flatten() {
        container[k] = v.clone();
    }
    pod(
        json!({"metadata": {"namespace": "ns", "name": name, "creationTimestamp": "2026-01-01T00:00:00Z", "labels": {"app": "web"}}, "spec": {"containers": [container]}}),
    )
}

fn placements(decisions: &[BatchDecision]) -> Vec<(String, Outcome)> {
    decisions.iter().map(|d| (d.pod.name.clone(), d.decision.outcome.clone())).collect()
}

#[test]
fn a_round_places_as_the_sequential_reference() {
    let config = SchedulerConfig::default();
    let nodes = vec![worker("a", "2"), worker("b", "1")];
    let pods: Vec<PodRow> = (0..5).map(|i| pending(&format!("p{i}"), "600m", json!({}))).collect();
    let input = SchedulingInput { nodes, pods, ..SchedulingInput::default() };
    let readout = Readout::from_scratch(&config, &input);
    let batch = decide_batch(&config, &readout, &[], &|_| false, usize::MAX).unwrap();
    let want: Vec<(String, Outcome)> = schedule(&config, input).into_iter().map(|d| (d.name, d.outcome)).collect();
    assert_eq!(placements(&batch), want);
    let bound = batch.iter().filter(|d| matches!(d.decision.outcome, Outcome::Bound { .. })).count();
    // 2 cpus hold three pods of 600m, 1 cpu one: the fifth pod fits nowhere.
    assert_eq!(bound, 4);
}

#[test]
fn claims_in_flight_hold_their_capacity_and_ports() {
    let config = SchedulerConfig::default();
    let nodes = vec![worker("a", "1")];
    let ports = json!({"ports": [{"containerPort": 80, "hostPort": 8080}]});
    let pods = vec![pending("first", "100m", ports.clone()), pending("second", "100m", ports)];
    let input = SchedulingInput { nodes, pods, ..SchedulingInput::default() };
    let readout = Readout::from_scratch(&config, &input);
    // "first" was sent to a and is not yet seen bound: "second" must not take its port.
    let claim = Claim { pod: input.pods[0].clone(), node: "a".into() };
    let batch = decide_batch(&config, &readout, &[claim], &|_| false, usize::MAX).unwrap();
    assert_eq!(batch.len(), 1, "the pod in flight is not decided again");
    match &batch[0].decision.outcome {
        Outcome::Unschedulable { message, .. } => {
            assert_eq!(message, "0/1 nodes are available: 1 node(s) didn't have free ports for the requested pod ports.")
        }
        other => panic!("second pod placed despite the claim: {other:?}"),
    }
}

#[test]
fn a_claim_on_a_vanished_node_holds_nothing() {
    let config = SchedulerConfig::default();
    let input = SchedulingInput { nodes: vec![worker("a", "1")], pods: vec![pending("p", "800m", json!({}))], ..SchedulingInput::default() };
    let readout = Readout::from_scratch(&config, &input);
    let gone = Claim { pod: pending("q", "800m", json!({})), node: "gone".into() };
    let batch = decide_batch(&config, &readout, &[gone], &|_| false, usize::MAX).unwrap();
    assert_eq!(batch[0].decision.outcome, Outcome::Bound { node: "a".into() });
}

/// A readout of one node of one cpu and `n` tiny pending pods.
fn tiny_pods(config: &SchedulerConfig, n: usize) -> Readout {
    let pods: Vec<PodRow> = (0..n).map(|i| pending(&format!("p{i}"), "1m", json!({}))).collect();
    Readout::from_scratch(config, &SchedulingInput { nodes: vec![worker("a", "1")], pods, ..SchedulingInput::default() })
}

#[test]
fn the_limit_bounds_a_round() {
    let config = SchedulerConfig::default();
    assert_eq!(decide_batch(&config, &tiny_pods(&config, 5), &[], &|_| false, 2).unwrap().len(), 2);
}

#[test]
fn skipped_pods_are_not_decided() {
    let config = SchedulerConfig::default();
    let batch = decide_batch(&config, &tiny_pods(&config, 3), &[], &|(_, name)| name == "p1", usize::MAX).unwrap();
    assert_eq!(batch.iter().map(|d| d.pod.name.as_str()).collect::<Vec<_>>(), ["p0", "p2"]);
}

#[test]
fn an_unschedulable_class_is_decided_again_only_when_it_may_fit() {
    use crate::scheduler::dataflow::SchedulerRow;
    use crate::scheduler::pair::{class_id, class_of, evaluate};
    use crate::scheduler::snapshot::NodeInfo;

    let config = SchedulerConfig::default();
    let big = pending("big", "2", json!({}));
    let input = SchedulingInput { nodes: vec![worker("a", "1")], pods: vec![big.clone()], ..SchedulingInput::default() };
    let mut readout = Readout::from_scratch(&config, &input);
    let mut standing = Standing::default();
    let round = |readout: &Readout, standing: &mut Standing| decide_round(&config, readout, standing, &|_| false, usize::MAX).unwrap();

    let first = round(&readout, &mut standing);
    assert!(matches!(first[0].decision.outcome, Outcome::Unschedulable { .. }), "{first:?}");
    assert!(round(&readout, &mut standing).is_empty(), "nothing changed: the pod is not decided again");
    // A claim released (its write refused) gives capacity back: the class is decided again.
    let other = pending("other", "1m", json!({}));
    standing.claim(readout.snapshot(), &other, "a");
    standing.release(&readout, &("ns".to_string(), "other".to_string()));
    assert!(round(&readout, &mut standing).is_empty(), "a released claim left the same verdicts: nothing to tell");

    // A second pod of the class is told the class's decision at once.
    let twin = pending("twin", "2", json!({}));
    let class = class_id(&class_of(&big));
    readout.apply(SchedulerRow::Pending { class, pod: twin.into() }, 1);
    readout.compact();
    let changes = readout.take_changes();
    standing.catch_up(&config, &readout, &changes);
    let told = round(&readout, &mut standing);
    assert_eq!(placements(&told), vec![("twin".to_string(), first[0].decision.outcome.clone())]);

    // A node that fits changes the class's pairs: both pods are decided and placed.
    let info = NodeInfo::new(worker("b", "4"));
    readout.apply(SchedulerRow::Pair { class, node: "b".into(), eval: evaluate(&config, &big, &info) }, 1);
    readout.apply(SchedulerRow::Node(info), 1);
    readout.compact();
    let changes = readout.take_changes();
    standing.catch_up(&config, &readout, &changes);
    let placed = round(&readout, &mut standing);
    assert_eq!(placements(&placed), vec![("big".to_string(), Outcome::Bound { node: "b".into() }), ("twin".to_string(), Outcome::Bound { node: "b".into() })]);
}

#[test]
fn a_class_that_is_gone_is_forgotten() {
    use crate::scheduler::dataflow::SchedulerRow;
    use crate::scheduler::pair::{class_id, class_of, evaluate};
    use crate::scheduler::snapshot::NodeInfo;

    let config = SchedulerConfig::default();
    let big = pending("big", "2", json!({}));
    let input = SchedulingInput { nodes: vec![worker("a", "1")], pods: vec![big.clone()], ..SchedulingInput::default() };
    let mut readout = Readout::from_scratch(&config, &input);
    let mut standing = Standing::default();
    decide_round(&config, &readout, &mut standing, &|_| false, usize::MAX).unwrap();
    assert_eq!(standing.memo.unschedulable.len(), 1);
    // The pod and its class's pairs leave.
    let class = class_id(&class_of(&big));
    readout.apply(SchedulerRow::Pending { class, pod: big.clone().into() }, -1);
    readout.apply(SchedulerRow::Pair { class, node: "a".into(), eval: evaluate(&config, &big, &NodeInfo::new(worker("a", "1"))) }, -1);
    readout.compact();
    let changes = readout.take_changes();
    standing.catch_up(&config, &readout, &changes);
    assert!(decide_round(&config, &readout, &mut standing, &|_| false, usize::MAX).unwrap().is_empty());
    assert!(standing.memo.unschedulable.is_empty(), "the gone class's decision is dropped");
}

/// A round that fails part way (its readout lacks a pair) sends nothing, so it keeps no claim.
#[test]
fn a_failed_round_keeps_no_claims() {
    use crate::scheduler::dataflow::SchedulerRow;
    use crate::scheduler::pair::{class_id, class_of, evaluate};

    let config = SchedulerConfig::default();
    let input = SchedulingInput { nodes: vec![worker("a", "2"), worker("b", "2")], pods: vec![pending("p0", "100m", json!({}))], ..SchedulingInput::default() };
    let mut readout = Readout::from_scratch(&config, &input);
    // A pod of a new class whose pair with node b has not arrived.
    let late = pending("q-late", "300m", json!({}));
    let class = class_id(&class_of(&late));
    readout.apply(SchedulerRow::Pending { class, pod: late.clone().into() }, 1);
    readout.apply(SchedulerRow::Pair { class, node: "a".into(), eval: evaluate(&config, &late, &readout.snapshot().nodes[0]) }, 1);
    readout.compact();
    let mut standing = Standing::default();
    let failed = decide_round(&config, &readout, &mut standing, &|_| false, usize::MAX);
    assert!(matches!(failed, Err(ReadoutError::MissingPair { .. })), "{failed:?}");
    assert_eq!(standing.claims(), 0, "p0's claim went with the round");
}

/// A binding refused after the node list changed, before the binder caught up with it, leaves
/// the placed-pod index for the catch-up to drop (its positions moved).
#[test]
fn a_release_across_a_layout_change_waits_for_the_catch_up() {
    use crate::scheduler::dataflow::SchedulerRow;
    use crate::scheduler::pair::{class_id, class_of, evaluate};
    use crate::scheduler::snapshot::NodeInfo;

    let config = SchedulerConfig::default();
    let anti = json!({"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": "web"}}, "topologyKey": "kubernetes.io/hostname"}]}});
    let mut web = pending("web", "100m", json!({}));
    web = pod(json!({"metadata": {"namespace": "ns", "name": web.name, "creationTimestamp": "2026-01-01T00:00:00Z", "labels": {"app": "web"}},
                     "spec": {"affinity": anti, "containers": [{"image": "app", "resources": {"requests": {"cpu": "100m"}}}]}}));
    let input = SchedulingInput { nodes: vec![worker("n1", "2"), worker("n9", "4")], pods: vec![web.clone()], ..SchedulingInput::default() };
    let mut readout = Readout::from_scratch(&config, &input);
    let mut standing = Standing::default();
    let placed = decide_round(&config, &readout, &mut standing, &|_| false, usize::MAX).unwrap();
    assert!(placed[0].ranked, "decided from the ranking, with the placed-pod index");
    assert_eq!(placed[0].decision.outcome, Outcome::Bound { node: "n9".into() });

    // Node n5 arrives (n9 moves to position 2), and the binding to n9 is refused.
    let info = NodeInfo::new(worker("n5", "1"));
    readout.apply(SchedulerRow::Pair { class: class_id(&class_of(&web)), node: "n5".into(), eval: evaluate(&config, &web, &info) }, 1);
    readout.apply(SchedulerRow::Node(info), 1);
    readout.compact();
    standing.release(&readout, &("ns".to_string(), "web".to_string()));
    let changes = readout.take_changes();
    standing.catch_up(&config, &readout, &changes);
    let again = decide_round(&config, &readout, &mut standing, &|_| false, usize::MAX).unwrap();
    assert_eq!(again[0].decision.outcome, Outcome::Bound { node: "n9".into() });
}

/// A Service's pods spread by upstream's defaults (hostname and zone, ScheduleAnyway): each is
/// decided from its class's ranking with PodTopologySpread's score added, and lands where the
/// sequential reference puts it, zone by zone and node by node.
#[test]
fn default_spreading_is_decided_from_the_ranking() {
    use crate::scheduler::rows::{project_workload, WorkloadKind};
    let config = SchedulerConfig::default();
    let zoned = |name: &str, zone: &str| {
        node(json!({"metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, "topology.kubernetes.io/zone": zone}},
                    "status": {"allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"}}}))
    };
    // Zone z1 has three nodes, z2 two and z3 one: balancing zones and nodes pulls apart.
    let nodes = vec![zoned("a", "z1"), zoned("b", "z1"), zoned("c", "z1"), zoned("d", "z2"), zoned("e", "z2"), zoned("f", "z3")];
    let pods: Vec<PodRow> = (0..12).map(|i| pending(&format!("p{i:02}"), "100m", json!({}))).collect();
    let service =
        project_workload(WorkloadKind::Service, &json!({"metadata": {"namespace": "ns", "name": "web"}, "spec": {"selector": {"app": "web"}}})).unwrap();
    let input = SchedulingInput { nodes, pods, workloads: vec![service], ..SchedulingInput::default() };
    let readout = Readout::from_scratch(&config, &input);
    let batch = decide_batch(&config, &readout, &[], &|_| false, usize::MAX).unwrap();
    let reference = schedule(&config, input);
    assert_eq!(placements(&batch), reference.iter().map(|d| (d.name.clone(), d.outcome.clone())).collect::<Vec<_>>());
    assert!(batch.iter().all(|d| d.ranked), "every pod decided from the ranking");
    for (b, r) in batch.iter().zip(&reference) {
        let mut best = r.scores.clone();
        best.sort_by(NodeScore::best_first);
        assert_eq!(b.decision.scores, best, "{}: every node's scores, best first", r.name);
    }
    let on = |node: &str| batch.iter().filter(|d| d.decision.outcome == Outcome::Bound { node: node.into() }).count();
    assert_eq!(["a", "b", "c", "d", "e", "f"].map(on).iter().sum::<usize>(), 12);
    assert!(on("f") >= 3, "the zone with one node takes its share of the zone spread: {}", on("f"));
}
