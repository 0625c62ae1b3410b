//! Seeded random churn of a small cluster (≤ 50 nodes with labels, taints, images and mixed
//! sizes; pods bound and pending with requests, host ports, node selectors, node and pod
//! (anti-)affinity, tolerations, spread constraints and priorities; Services and ReplicaSets
//! for default spreading; namespace labels), with creates, updates and deletes: at every
//! revision the scheduler dataflow's readout equals the sequential reference exactly — the
//! queue, every node's filter verdict with its reasons, every plugin's raw and normalized
//! score and the chosen node — on one worker and on four. The batch binder, run on each
//! revision's readout, places pods as the sequential reference does, never over a node's
//! capacity, ports or pod count; and so does the binder's state kept across revisions (its
//! claims in flight, claimed nodes and rankings following every change) against a fresh
//! round with the same claims. A failure prints its seed;
//! `SCHED_SEED=n` replays it.

#[path = "scheduler_churn/world.rs"]
mod world;

use std::collections::BTreeMap;
use std::sync::{mpsc, Arc};

use deltakube_dataflows::engine::{ControllerConfig, Engine, EngineConfig, EngineOutput, FeedBatch};
use deltakube_dataflows::scheduler::batch::{decide_batch, decide_round, BatchDecision, Claim, Standing};
use deltakube_dataflows::scheduler::config::SchedulerConfig;
use deltakube_dataflows::scheduler::explain::MAX_SCORED_NODES;
use deltakube_dataflows::scheduler::input::{project, SchedulerInput};
use deltakube_dataflows::scheduler::node_ports::conflicts;
use deltakube_dataflows::scheduler::pod_topology_spread::constraints_for;
use deltakube_dataflows::scheduler::readout::Readout;
use deltakube_dataflows::scheduler::reference::{queue, schedule, schedule_one, NodeScore, Outcome, PodDecision, SchedulingInput};
use deltakube_dataflows::scheduler::resources::Resources;
use deltakube_dataflows::scheduler::rows::WhenUnsatisfiable;
use deltakube_dataflows::scheduler::snapshot::ClusterSnapshot;
use deltakube_dataflows::types::{FeedEvent, ObjectKey, Revision};
use serde_json::Value;

/// The reference's input from the objects, projected as the engine projects them.
fn reference_input(objects: &BTreeMap<ObjectKey, Value>) -> SchedulingInput {
    let mut input = SchedulingInput::default();
    for (key, value) in objects {
        match project(key, value).expect("churn objects project") {
            Some(SchedulerInput::Node(n)) => input.nodes.push(n),
            Some(SchedulerInput::Pod(p)) => input.pods.push(Arc::unwrap_or_clone(p)),
            Some(SchedulerInput::Namespace(n)) => input.namespaces.push(n),
            Some(SchedulerInput::Workload(w)) => input.workloads.push(w),
            Some(SchedulerInput::PriorityClass(c)) => input.priority_classes.push(c),
            None => {}
        }
    }
    // The readout holds workloads in row order; upstream's lister order is unspecified.
    input.workloads.sort();
    input
}

/// Runs the churn and checks every revision; returns how many pods the batch placed from
/// their class's ranking (a placement without per-node verdicts).
/// Runs the churn; returns how many pods the batch placed from a ranking: all, and those under
/// inter-pod affinity (their own terms, or terms of pods placed).
fn run(mut world: world::World, seed: u64, workers: usize, steps: usize, config: &SchedulerConfig) -> Placed {
    // Classes linger past their last pending pod for a seeded number of revisions (none, a
    // few, many), so that the churn both keeps and drops them.
    let config = &SchedulerConfig { class_linger_revisions: [0, 8, 40][seed as usize % 3], ..config.clone() };
    let mut history: Vec<(Revision, ObjectKey, Option<Value>)> = Vec::new();
    let (tx, rx) = mpsc::channel();
    let controllers =
        ControllerConfig { root_ca: String::new(), node_cidrs: None, load_balancer_pool: None, scheduler: Some(config.clone()), run_controllers: false };
    let engine = Engine::start(EngineConfig { workers, cluster: None, controllers, coalesce: false }, tx).unwrap();
    for step in 0..steps {
        let revision = step as Revision + 1;
        let (key, new) = world.step();
        let old = world.objects.get(&key).cloned();
        let events = if old.is_none() && new.is_none() {
            vec![]
        } else {
            vec![FeedEvent { revision, key: key.clone(), old: old.map(std::sync::Arc::new), new: new.clone().map(std::sync::Arc::new) }]
        };
        match &new {
            Some(v) => world.objects.insert(key.clone(), v.clone()),
            None => world.objects.remove(&key),
        };
        engine.push(FeedBatch { revision, events });
        history.push((revision, key, new));
    }
    let last = steps as Revision;
    let mut done = vec![0; workers];
    let mut outputs = Vec::new();
    while done.iter().any(|r| *r < last) {
        match rx.recv_timeout(std::time::Duration::from_secs(120)).expect("engine output within two minutes") {
            EngineOutput::Progress { worker, revision } => done[worker] = done[worker].max(revision),
            EngineOutput::Scheduler { row, revision, diff } => outputs.push((revision, row, diff)),
            _ => {}
        }
    }
    engine.shutdown();
    outputs.sort_by_key(|(r, _, _)| *r);

    let mut objects = BTreeMap::new();
    let mut readout = Readout::default();
    let mut cursor = 0;
    let mut pending_checked = 0;
    let mut ranked = 0;
    let mut ranked_with_affinity = 0;
    let mut ranked_with_spread = 0;
    // The binder's state kept across revisions: its claims stay in flight (the test writes no
    // bindings) until their pods leave the queue or a seeded share is released as refused.
    let mut standing = Standing::default();
    let mut standing_claims = 0;
    let mut recent_pending: std::collections::VecDeque<(Revision, Vec<deltakube_dataflows::scheduler::rows_pod::PodRow>)> = Default::default();
    for (revision, key, new) in history {
        match new {
            Some(v) => objects.insert(key, v),
            None => objects.remove(&key),
        };
        while cursor < outputs.len() && outputs[cursor].0 <= revision {
            let (_, row, diff) = outputs[cursor].clone();
            readout.apply(row, diff);
            cursor += 1;
        }
        readout.compact();
        let input = reference_input(&objects);
        // The pods pending at each revision from `class_linger_revisions` before this one to
        // this one: their classes are the ones whose pairs stand (a class pending last at
        // revision r stands until r + class_linger_revisions).
        recent_pending.push_back((revision, input.pods.iter().filter(|p| p.awaits_default_scheduler()).cloned().collect::<Vec<_>>()));
        while recent_pending.front().is_some_and(|(r, _)| r + config.class_linger_revisions < revision) {
            recent_pending.pop_front();
        }
        let lingering: Vec<_> = recent_pending.iter().flat_map(|(_, pods)| pods.iter().cloned()).collect();
        let scratch = Readout::from_scratch_lingering(config, &input, &lingering);
        assert_eq!(readout.rows(), scratch.rows(), "seed {seed}, {workers} workers: the dataflow's rows differ from scratch at revision {revision}");
        let want_queue: Vec<(i32, String, String)> =
            queue(&input.pods, &input.priority_classes).into_iter().map(|(p, pod)| (p, pod.namespace, pod.name)).collect();
        let got_queue: Vec<(i32, String, String)> = readout.queue().into_iter().map(|(p, _, pod)| (p, pod.namespace, pod.name)).collect();
        assert_eq!(got_queue, want_queue, "seed {seed}, {workers} workers: the queue differs at revision {revision}");

        let snapshot = ClusterSnapshot::new(input.nodes.clone(), input.pods.clone(), input.namespaces.clone(), input.workloads.clone());
        assert_eq!(readout.snapshot(), &snapshot, "seed {seed}, {workers} workers: the node aggregates differ at revision {revision}");
        let got = readout.explain(config).unwrap_or_else(|e| panic!("seed {seed}, {workers} workers, revision {revision}: {e}"));
        let want: Vec<_> =
            queue(&input.pods, &input.priority_classes).into_iter().map(|(priority, pod)| schedule_one(config, &snapshot, &pod, priority)).collect();
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(g, w, "seed {seed}, {workers} workers: the decision on {}/{} differs at revision {revision}", w.namespace, w.name);
        }
        pending_checked += want.len();
        if std::env::var("SCHED_DEBUG").is_ok() {
            let bound = want.iter().filter(|d| matches!(d.outcome, Outcome::Bound { .. })).count();
            let affinity = input.pods.iter().filter(|p| p.awaits_default_scheduler() && (p.has_pod_affinity() || !p.spread_constraints.is_empty())).count();
            eprintln!(
                "rev {revision}: {} nodes, {} pods, {} pending ({bound} placeable, {affinity} with pod affinity or spread)",
                input.nodes.len(),
                input.pods.len(),
                want.len()
            );
        }

        // The batch binder, from the same readout, places every pod as the sequential reference
        // does, and each placement fits its node with the pods placed before it.
        let batch = decide_batch(config, &readout, &[], &|_| false, usize::MAX).unwrap_or_else(|e| panic!("seed {seed}, revision {revision}: {e}"));
        let sequential = schedule(config, input.clone());
        let from_ranking: Vec<&BatchDecision> = batch.iter().filter(|d| matches!(d.decision.outcome, Outcome::Bound { .. }) && d.ranked).collect();
        ranked += from_ranking.len();
        let affinity_around = input.pods.iter().any(|p| p.occupies_node() && p.has_pod_affinity());
        ranked_with_affinity += from_ranking.iter().filter(|d| affinity_around || d.pod.has_pod_affinity()).count();
        let spreads = |pod: &deltakube_dataflows::scheduler::rows_pod::PodRow| {
            !constraints_for(pod, WhenUnsatisfiable::ScheduleAnyway, &config.spread_defaulting, &snapshot.workloads).is_empty()
        };
        ranked_with_spread += from_ranking.iter().filter(|d| spreads(&d.pod)).count();
        let got: Vec<(&str, &Outcome)> = batch.iter().map(|d| (d.pod.name.as_str(), &d.decision.outcome)).collect();
        let want: Vec<(&str, &Outcome)> = sequential.iter().map(|d| (d.name.as_str(), &d.outcome)).collect();
        assert_eq!(got, want, "seed {seed}, {workers} workers: the batch differs from the sequential reference at revision {revision}");
        // The chosen node's scores, plugin by plugin, are the reference's too (the batch
        // decides most pods from its class's ranking, not by the reference's code).
        for (b, s) in batch.iter().zip(&sequential) {
            let Outcome::Bound { node } = &s.outcome else { continue };
            let chosen = |scores: &[deltakube_dataflows::scheduler::reference::NodeScore]| scores.iter().find(|n| &n.node == node).cloned();
            assert_eq!(
                chosen(&b.decision.scores),
                chosen(&s.scores),
                "seed {seed}, {workers} workers: the scores of {}/{} on {node} differ at revision {revision}",
                s.namespace,
                s.name
            );
        }
        // A pod placed from a ranking lists the best nodes' scores, all of them, as the
        // reference ranks every feasible node (the explain view shows these).
        for (b, s) in batch.iter().zip(&sequential) {
            if !b.ranked || !matches!(s.outcome, Outcome::Bound { .. }) {
                continue;
            }
            let mut best = s.scores.clone();
            best.sort_by(NodeScore::best_first);
            best.truncate(MAX_SCORED_NODES);
            assert_eq!(b.decision.scores, best, "seed {seed}, {workers} workers: the best nodes of {}/{} differ at revision {revision}", s.namespace, s.name);
        }
        let score = |decisions: &[PodDecision]| -> i64 {
            decisions
                .iter()
                .filter_map(|d| match &d.outcome {
                    Outcome::Bound { node } => d.scores.iter().find(|s| &s.node == node).map(|s| s.total),
                    Outcome::Unschedulable { .. } => None,
                })
                .sum()
        };
        let batch_decisions: Vec<PodDecision> = batch.iter().map(|d| d.decision.clone()).collect();
        assert!(score(&batch_decisions) >= score(&sequential), "seed {seed}: the batch scores lower than the reference at revision {revision}");
        // A round on the standing state decides as a fresh round with the same claims in
        // flight: its rankings and claimed nodes followed every change exactly. (It leaves out
        // the pods already told their class's unchanged unschedulable decision.)
        let changes = readout.take_changes();
        standing.catch_up(config, &readout, &changes);
        let in_flight: Vec<Claim> = standing.in_flight().map(|(_, c)| c.clone()).collect();
        standing_claims += in_flight.len();
        let fresh = decide_batch(config, &readout, &in_flight, &|_| false, usize::MAX).unwrap_or_else(|e| panic!("seed {seed}, revision {revision}: {e}"));
        let kept = decide_round(config, &readout, &mut standing, &|_| false, usize::MAX).unwrap_or_else(|e| panic!("seed {seed}, revision {revision}: {e}"));
        let decided: std::collections::BTreeSet<(&str, &str)> = kept.iter().map(|d| (d.pod.namespace.as_str(), d.pod.name.as_str())).collect();
        let (same, told): (Vec<_>, Vec<_>) = fresh.iter().partition(|d| decided.contains(&(d.pod.namespace.as_str(), d.pod.name.as_str())));
        assert_eq!(kept.iter().collect::<Vec<_>>(), same, "seed {seed}, {workers} workers: the standing round differs from a fresh one at revision {revision}");
        assert!(
            told.iter().all(|d| matches!(d.decision.outcome, Outcome::Unschedulable { .. })),
            "seed {seed}, {workers} workers: the standing round left out a pod it could place at revision {revision}"
        );
        let refused: Vec<_> = standing.in_flight().map(|(k, _)| k.clone()).filter(|(_, name)| (revision as usize + name.len()).is_multiple_of(4)).collect();
        for pod in &refused {
            standing.release(&readout, pod);
        }

        let mut placed = snapshot.clone();
        for d in &batch {
            let Outcome::Bound { node } = &d.decision.outcome else { continue };
            let i = placed.node_index(node).expect("placed on a known node");
            let info = &placed.nodes[i];
            let request = Resources::from_list(&d.pod.requests);
            assert!(
                info.requested.milli_cpu + request.milli_cpu <= info.allocatable.milli_cpu || request.milli_cpu == 0,
                "seed {seed}: {} over-commits cpu on {node}",
                d.pod.name
            );
            assert!(
                info.requested.memory + request.memory <= info.allocatable.memory || request.memory == 0,
                "seed {seed}: {} over-commits memory on {node}",
                d.pod.name
            );
            assert!((info.pods.len() as i64) < info.allocatable.pods, "seed {seed}: {} exceeds the pod count of {node}", d.pod.name);
            assert!(d.pod.host_ports.iter().all(|p| !conflicts(&info.used_ports, p)), "seed {seed}: {} takes a used host port on {node}", d.pod.name);
            let mut bound = d.pod.clone();
            bound.node_name = node.clone();
            placed.nodes[i].add_pod(std::sync::Arc::new(bound));
        }
    }
    assert!(pending_checked > steps, "seed {seed}: the churn kept too few pods pending ({pending_checked} decisions checked)");
    assert!(standing_claims > steps, "seed {seed}: too few claims stood across revisions ({standing_claims})");
    if std::env::var("SCHED_DEBUG").is_ok() {
        eprintln!("seed {seed}: {ranked} placed from a ranking, {ranked_with_affinity} under inter-pod affinity, {ranked_with_spread} spreading");
    }
    Placed { ranked, ranked_with_affinity, ranked_with_spread }
}

/// How many pods a run placed from their class's ranking: in all, under inter-pod affinity,
/// and spreading (ScheduleAnyway constraints of their own or by default).
struct Placed {
    ranked: usize,
    ranked_with_affinity: usize,
    ranked_with_spread: usize,
}

fn seeds() -> Vec<u64> {
    match std::env::var("SCHED_SEED") {
        Ok(s) => vec![s.parse().expect("SCHED_SEED is a number")],
        Err(_) => vec![1, 2, 3],
    }
}

#[test]
fn scheduler_dataflow_equals_reference_on_one_worker() {
    for seed in seeds() {
        // Pods under inter-pod affinity are placed from their class's ranking too, most of them.
        let placed = run(world::World::new(seed), seed, 1, 500, &SchedulerConfig::default());
        let with_affinity = placed.ranked_with_affinity;
        assert!(with_affinity > 500, "seed {seed}: only {with_affinity} pods under inter-pod affinity were placed from a ranking");
        // And so are pods that spread (ScheduleAnyway, their own or by default).
        let spreading = placed.ranked_with_spread;
        assert!(spreading > 1000, "seed {seed}: only {spreading} spreading pods were placed from a ranking");
    }
}

#[test]
fn scheduler_dataflow_equals_reference_on_four_workers() {
    for seed in seeds() {
        run(world::World::new(seed), seed, 4, 300, &SchedulerConfig::default());
    }
}

#[test]
fn scheduler_dataflow_equals_reference_with_most_allocated() {
    for seed in seeds() {
        run(world::World::new(seed), seed, 2, 200, &SchedulerConfig::default().most_allocated());
    }
}

/// Without pod affinity anywhere, most pods are placed from their class's ranking (the
/// batch's fast path), those spreading by Services, ReplicaSets and ScheduleAnyway
/// constraints too; DoNotSchedule constraints still send some through the reference's code. Both must place as the sequential reference, scores included.
#[test]
fn ranked_placements_equal_the_reference() {
    for seed in seeds() {
        let placed = run(world::World::without_pod_affinity(seed), seed, 1, 400, &SchedulerConfig::default());
        assert!(placed.ranked > 100, "seed {seed}: only {} pods were placed from a ranking", placed.ranked);
        assert!(placed.ranked_with_spread > 1000, "seed {seed}: only {} spreading pods were placed from a ranking", placed.ranked_with_spread);
        let placed = run(world::World::without_pod_affinity(seed), seed, 3, 200, &SchedulerConfig::default().most_allocated());
        assert!(placed.ranked > 50, "seed {seed}: only {} pods were placed from a ranking with MostAllocated", placed.ranked);
    }
}

/// A profile read from a `KubeSchedulerConfiguration`: TaintToleration's filter off with its
/// score kept, InterPodAffinity's and PodTopologySpread's scores off with their filters kept,
/// weights changed, MostAllocated over cpu weighted 3. The dataflow still equals the reference.
#[test]
fn scheduler_dataflow_equals_reference_with_a_configuration_file() {
    let text = "apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
profiles:
- schedulerName: default-scheduler
  plugins:
    filter:
      disabled: [{name: TaintToleration}]
    score:
      disabled: [{name: InterPodAffinity}, {name: PodTopologySpread}]
      enabled: [{name: ImageLocality, weight: 4}, {name: NodeAffinity, weight: 7}]
  pluginConfig:
  - name: NodeResourcesFit
    args:
      scoringStrategy:
        type: MostAllocated
        resources: [{name: cpu, weight: 3}, {name: memory, weight: 1}]
";
    let config = deltakube_dataflows::scheduler::config_file::parse(text).unwrap().config;
    for seed in seeds() {
        run(world::World::new(seed), seed, 2, 200, &config);
    }
}
