//! `deltakube bench churn`: the controllers' dataflow at cluster scale, in one process.
//!
//! - **initial load**: every object into all controllers, until every worker is done;
//! - **one pod readiness change**: incremental (dataflow) vs the endpoints controller
//!   recomputed from scratch (`endpoints::recompute`, indexed as a conventional controller
//!   would be), with the outputs checked identical;
//! - **latency under churn** ([`super::churn_latency`]): a steady rate of pod readiness
//!   flips, deletes and creates, per controller (Endpoints, EndpointSlices, ResourceQuota) and
//!   until every output is out (p50/p99), in rounds (`--rounds`, 3 by default), reported as
//!   the medians over the rounds;
//! - **memory**: the heap the dataflows keep after the load ([`crate::heap::live_bytes`]: the
//!   feed's objects are built before the first reading and freed before the second), against
//!   the raw JSON size of the objects (spine merges still under way count, as they do in a
//!   running engine); and, beside it, resident memory grown by the load, which also moves
//!   with how much of the freed feed the allocator has handed back.
//!
//! The engine is fed directly (no API server), which isolates the dataflow's cost. The Nodes
//! exist (EndpointSlices list only pods on existing Nodes) and start without pod CIDRs, so
//! the initial load includes node IPAM handing out one block to each. With `--owned`, each
//! Service's pods are a ReplicaSet's (its replicas and status as they stand), so the memory
//! and work of the ReplicaSet controller and the garbage collector over owned pods are in the
//! figures. Every namespace has a
//! ResourceQuota on pods and cpu requests, which every pod makes.

use std::collections::HashMap;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use deltakube_dataflows::controllers::cidr::NodeCidrs;
use deltakube_dataflows::controllers::endpoints;
use deltakube_dataflows::engine::{ControllerConfig, Engine, EngineConfig, EngineOutput, FeedBatch};
use deltakube_dataflows::rows::{project, PodRow, Row, ServiceRow};
use deltakube_dataflows::types::{FeedEvent, Kind, ObjectKey, Revision};
use serde_json::{json, Value};

use super::{churn_latency, median};

#[derive(Args, Debug, Clone)]
pub struct ChurnBenchFlags {
    #[arg(long, env = "DELTAKUBE_BENCH_NAMESPACES", default_value_t = 1000)]
    pub namespaces: usize,
    #[arg(long, env = "DELTAKUBE_BENCH_SERVICES", default_value_t = 10_000)]
    pub services: usize,
    #[arg(long, env = "DELTAKUBE_BENCH_PODS", default_value_t = 150_000)]
    pub pods: usize,
    #[arg(long, env = "DELTAKUBE_BENCH_NODES", default_value_t = 5000)]
    pub nodes: usize,
    /// Dataflow worker threads.
    #[arg(long, env = "DELTAKUBE_WORKERS", default_value_t = 1)]
    pub workers: usize,
    /// Pod changes per second during the churn phase.
    #[arg(long, env = "DELTAKUBE_BENCH_RATE", default_value_t = 1000)]
    pub rate: u64,
    /// Seconds of churn in each round.
    #[arg(long, env = "DELTAKUBE_BENCH_SECONDS", default_value_t = 10)]
    pub seconds: u64,
    /// Rounds of churn, one after the other; the figures reported are the medians over the
    /// rounds (a tail percentile of one round moves with a single stall).
    #[arg(long, env = "DELTAKUBE_BENCH_ROUNDS", default_value_t = 3)]
    pub rounds: usize,
    /// Give each Service's initial pods a ReplicaSet that owns them.
    #[arg(long)]
    pub owned: bool,
    /// Readiness flips measured one at a time.
    #[arg(long, env = "DELTAKUBE_BENCH_FLIPS", default_value_t = 30)]
    pub flips: usize,
    /// Step every revision on its own instead of merging those that queue while the workers
    /// are busy (the engine's default).
    #[arg(long)]
    pub every_revision: bool,
    #[arg(long, env = "DELTAKUBE_BENCH_OUT", default_value = "bench-churn.json")]
    pub out: std::path::PathBuf,
}

/// The name of each namespace's ResourceQuota.
const QUOTA: &str = "compute";

/// Room for 65,536 Nodes' /24 blocks; no load-balancer pool (the cluster has none).
fn bench_controllers() -> anyhow::Result<ControllerConfig> {
    let node_cidrs = NodeCidrs::new("10.0.0.0/8".parse()?, 24)?;
    Ok(ControllerConfig { root_ca: "ca".into(), node_cidrs: Some(node_cidrs), load_balancer_pool: None, scheduler: None, run_controllers: true })
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok()))
        .unwrap_or(0)
}

/// The ReplicaSet of Service `s`'s pods, its status as the pods stand (all ready).
fn replica_set(ns: &str, s: usize, replicas: usize) -> Value {
    let app = format!("app-{s}");
    json!({"apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": format!("rs-{s}"), "namespace": ns, "uid": format!("rs-uid-{s}"), "generation": 1, "labels": {"app": app},
                     "creationTimestamp": "2026-11-26T00:00:00Z"},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": app}},
                 "template": {"metadata": {"labels": {"app": app}}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}},
        "status": {"replicas": replicas, "fullyLabeledReplicas": replicas, "readyReplicas": replicas, "availableReplicas": replicas, "observedGeneration": 1}})
}

/// Makes `pod` Service `s`'s ReplicaSet's.
fn owned_by_replica_set(pod: &mut Value, s: usize) {
    pod["metadata"]["ownerReferences"] = json!([{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": format!("rs-{s}"), "uid": format!("rs-uid-{s}"),
                                                 "controller": true, "blockOwnerDeletion": true}]);
}

fn pod(ns: &str, name: &str, app: &str, node: usize, ip: &str, ready: bool, i: usize) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "uid": format!("pod-uid-{i}"), "labels": {"app": app},
                     "creationTimestamp": "2026-11-26T00:00:00Z"},
        "spec": {"nodeName": format!("node-{node}"), "containers": [{"name": "c", "image": "busybox", "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
                 "resources": {"requests": {"cpu": "100m"}}}]},
        "status": {"phase": "Running", "podIP": ip, "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}})
}

/// Waits until every worker reported progress at or past `revision`; returns the deltas of
/// the endpoints view seen meanwhile.
fn wait_for(rx: &Receiver<EngineOutput>, progress: &mut [Revision], revision: Revision, mut on_delta: impl FnMut(&EngineOutput)) -> anyhow::Result<()> {
    while progress.iter().any(|p| *p < revision) {
        match rx.recv_timeout(Duration::from_secs(600)) {
            Ok(EngineOutput::Progress { worker, revision }) => progress[worker] = progress[worker].max(revision),
            Ok(other) => on_delta(&other),
            Err(RecvTimeoutError::Timeout) => {
                anyhow::bail!("the engine made no progress for 10 minutes")
            }
            Err(RecvTimeoutError::Disconnected) => anyhow::bail!("the engine stopped"),
        }
    }
    Ok(())
}

/// Steps `revision` with no changes through every controller; returns the seconds it took.
fn revision_without_changes(engine: &Engine, rx: &Receiver<EngineOutput>, progress: &mut [Revision], revision: Revision) -> anyhow::Result<f64> {
    let started = Instant::now();
    engine.push(FeedBatch { revision, events: vec![] });
    wait_for(rx, progress, revision, |_| {})?;
    Ok(started.elapsed().as_secs_f64())
}

pub fn run(flags: ChurnBenchFlags) -> anyhow::Result<()> {
    println!(
        "deltakube bench churn — {} cores, {} namespaces, {} services, {} pods, {} nodes, {} worker(s), {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        flags.namespaces,
        flags.services,
        flags.pods,
        flags.nodes,
        flags.workers,
        if flags.every_revision { "every revision stepped" } else { "queued revisions merged" }
    );
    let mut results = serde_json::Map::new();
    // The cluster: services spread over namespaces; pods spread over services and nodes.
    let mut objects: Vec<(ObjectKey, Value)> = Vec::new();
    for n in 0..flags.namespaces {
        let ns = format!("ns-{n}");
        objects.push((
            ObjectKey::new(Kind::Namespace, "", ns.clone()),
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "uid": format!("ns-uid-{n}")}, "status": {"phase": "Active"}}),
        ));
        objects.push((
            ObjectKey::new(Kind::ResourceQuota, ns.clone(), QUOTA),
            json!({"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": QUOTA, "namespace": ns, "uid": format!("quota-uid-{n}")},
                   "spec": {"hard": {"pods": "100000", "requests.cpu": "10k"}}}),
        ));
    }
    for n in 0..flags.nodes {
        let name = format!("node-{n}");
        objects.push((
            ObjectKey::new(Kind::Node, "", name.clone()),
            json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "uid": format!("node-uid-{n}"),
                   "labels": {"topology.kubernetes.io/zone": format!("zone-{}", n % 3)}}}),
        ));
    }
    for s in 0..flags.services {
        let ns = format!("ns-{}", s % flags.namespaces);
        let name = format!("svc-{s}");
        objects.push((
            ObjectKey::new(Kind::Service, ns.clone(), name.clone()),
            json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": ns, "uid": format!("svc-uid-{s}")},
            "spec": {"selector": {"app": format!("app-{s}")}, "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]}}),
        ));
    }
    let mut pods: Vec<(ObjectKey, Value)> = Vec::with_capacity(flags.pods);
    for i in 0..flags.pods {
        let s = i % flags.services;
        let ns = format!("ns-{}", s % flags.namespaces);
        let name = format!("pod-{i}");
        let ip = format!("10.{}.{}.{}", i >> 16 & 255, i >> 8 & 255, i & 255);
        let mut value = pod(&ns, &name, &format!("app-{s}"), i % flags.nodes, &ip, true, i);
        if flags.owned {
            owned_by_replica_set(&mut value, s);
        }
        pods.push((ObjectKey::new(Kind::Pod, ns.clone(), name.clone()), value));
    }
    if flags.owned {
        for s in 0..flags.services {
            let ns = format!("ns-{}", s % flags.namespaces);
            let replicas = flags.pods / flags.services + usize::from(s < flags.pods % flags.services);
            objects.push((ObjectKey::new(Kind::ReplicaSet, ns.clone(), format!("rs-{s}")), replica_set(&ns, s, replicas)));
        }
    }
    objects.extend(pods.iter().cloned());
    let raw_bytes: usize = objects.iter().map(|(_, v)| v.to_string().len()).sum();
    println!("objects: {} ({:.1} MiB of JSON)", objects.len(), raw_bytes as f64 / 1048576.0);

    let (tx, rx) = std::sync::mpsc::channel();
    let engine = Engine::start(EngineConfig { workers: flags.workers, cluster: None, controllers: bench_controllers()?, coalesce: !flags.every_revision }, tx)
        .map_err(anyhow::Error::msg)?;
    let mut progress = vec![0; flags.workers];

    // 1. Initial load. The feed's events are built before the first reading and freed (the
    // workers drop the batch once stepped) before the second, so that the growth is what the
    // dataflows keep.
    // The workers build their dataflows once started; what that allocates is not the load's.
    std::thread::sleep(Duration::from_millis(500));
    let heap_before = crate::heap::live_bytes();
    let events: Vec<FeedEvent> = objects.iter().map(|(k, v)| FeedEvent { revision: 1, key: k.clone(), old: None, new: Some(Arc::new(v.clone())) }).collect();
    std::thread::sleep(Duration::from_millis(500));
    let rss_before = rss_kib();
    let start = Instant::now();
    engine.push(FeedBatch { revision: 1, events });
    wait_for(&rx, &mut progress, 1, |_| {})?;
    let load = start.elapsed().as_secs_f64();
    revision_without_changes(&engine, &rx, &mut progress, 2)?;
    std::thread::sleep(Duration::from_millis(500));
    let heap_grown = (crate::heap::live_bytes() - heap_before) as f64;
    let rss_grown = rss_kib().saturating_sub(rss_before) as f64 * 1024.0;
    println!(
        "initial load into all controllers: {load:.2} s; the dataflows keep {:.0} MiB ({:.2}x the raw JSON); resident memory grew {:.0} MiB ({:.2}x)",
        heap_grown / 1048576.0,
        heap_grown / raw_bytes as f64,
        rss_grown / 1048576.0,
        rss_grown / raw_bytes as f64
    );
    results.insert("initial_load_seconds".into(), json!(load));
    results.insert("raw_json_bytes".into(), json!(raw_bytes));
    results.insert("heap_growth_bytes".into(), json!(heap_grown));
    results.insert("rss_growth_bytes".into(), json!(rss_grown));

    // The snapshot for the from-scratch baseline.
    let mut services: Vec<ServiceRow> = Vec::new();
    let mut pod_rows: HashMap<ObjectKey, PodRow> = HashMap::new();
    for (k, v) in &objects {
        match project(k, v) {
            Ok(Row::Service(s)) => services.push(s),
            Ok(Row::Pod(p)) => {
                pod_rows.insert(k.clone(), p);
            }
            _ => {}
        }
    }

    // 2. One pod readiness change at a time: incremental vs recompute, outputs compared.
    let mut revision: Revision = 2;
    let (mut incremental, mut recompute) = (Vec::new(), Vec::new());
    let mut current: HashMap<ObjectKey, Value> = pods.iter().cloned().collect();
    for flip in 0..flags.flips {
        let (key, _) = &pods[(flip * 7919) % pods.len()];
        let old = current[key].clone();
        let mut new = old.clone();
        let ready = new["status"]["conditions"][0]["status"] == "True";
        new["status"]["conditions"][0]["status"] = json!(if ready { "False" } else { "True" });
        revision += 1;
        let started = Instant::now();
        engine.push(FeedBatch { revision, events: vec![FeedEvent { revision, key: key.clone(), old: Some(Arc::new(old)), new: Some(Arc::new(new.clone())) }] });
        let mut view: Option<String> = None;
        wait_for(&rx, &mut progress, revision, |o| {
            if let EngineOutput::Delta { view: "endpoints", value, diff, .. } = o {
                if *diff > 0 {
                    view = Some(value.clone());
                }
            }
        })?;
        incremental.push(started.elapsed().as_secs_f64());
        current.insert(key.clone(), new.clone());
        if let Ok(Row::Pod(p)) = project(key, &new) {
            pod_rows.insert(key.clone(), p);
        }
        if flip < 5 {
            let rows: Vec<PodRow> = pod_rows.values().cloned().collect();
            let t = Instant::now();
            let desired = endpoints::recompute(&services, &rows);
            recompute.push(t.elapsed().as_secs_f64());
            let service = format!("svc-{}", ((flip * 7919) % pods.len()) % flags.services);
            let want = desired.get(&ObjectKey::new(Kind::Endpoints, key.namespace.clone(), service)).map(|c| c.to_string());
            anyhow::ensure!(view == want, "incremental and recomputed endpoints differ after flip {flip}");
        }
    }
    let (inc, rec) = (median(&mut incremental), median(&mut recompute));
    println!("one pod readiness change: incremental {:.3} ms, recomputed from scratch {:.1} ms ({:.0}x), outputs identical", inc * 1e3, rec * 1e3, rec / inc);
    results.insert("readiness_change_incremental_ms".into(), json!(inc * 1e3));
    results.insert("readiness_change_recompute_ms".into(), json!(rec * 1e3));

    // The floor under every change: one revision with no changes through all controllers.
    let mut empty = Vec::new();
    for _ in 0..flags.flips {
        revision += 1;
        empty.push(revision_without_changes(&engine, &rx, &mut progress, revision)?);
    }
    let empty = median(&mut empty);
    println!("one revision without changes: {:.3} ms", empty * 1e3);
    results.insert("empty_revision_ms".into(), json!(empty * 1e3));

    // 3. Latency under a steady rate of pod changes, per controller, in rounds.
    println!(
        "latency under {} changes/s, {} round(s) of {} s (8 readiness flips, 1 delete, 1 create in 10), feed to output:",
        flags.rate, flags.rounds, flags.seconds
    );
    results.insert("churn_rate_per_s".into(), json!(flags.rate));
    let mut rounds: Vec<Vec<(&'static str, f64, f64, usize)>> = Vec::new();
    for round in 1..=flags.rounds.max(1) {
        let state = churn_latency::ChurnState { pods: &pods, services: flags.services, current: &mut current, quota: QUOTA };
        let mut latencies = churn_latency::run(&engine, &rx, &mut progress, &mut revision, state, flags.rate, flags.seconds)?;
        println!("  round {round}:");
        let summary = latencies.summary();
        for (name, p50, p99, samples) in &summary {
            println!("    {name:<14} p50 {p50:>8.2} ms   p99 {p99:>8.2} ms   ({samples} changes)");
        }
        rounds.push(summary);
    }
    println!("  median over the rounds:");
    for (i, name) in rounds[0].iter().map(|r| r.0).enumerate() {
        let mut p50s: Vec<f64> = rounds.iter().map(|r| r[i].1).collect();
        let mut p99s: Vec<f64> = rounds.iter().map(|r| r[i].2).collect();
        let field = name.replace(' ', "_");
        results.insert(format!("churn_latency_{field}_p99_ms_rounds"), json!(p99s));
        let (p50, p99) = (median(&mut p50s), median(&mut p99s));
        println!("    {name:<14} p50 {p50:>8.2} ms   p99 {p99:>8.2} ms");
        results.insert(format!("churn_latency_{field}_p50_ms"), json!(p50));
        results.insert(format!("churn_latency_{field}_p99_ms"), json!(p99));
    }

    std::fs::write(&flags.out, serde_json::to_vec_pretty(&Value::Object(results))?)?;
    println!("results written to {}", flags.out.display());
    engine.shutdown();
    Ok(())
}
