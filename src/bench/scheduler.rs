//! `deltakube bench scheduler`: upstream's SchedulingBasic shape (N nodes, then M pods to
//! place) through the whole path in one process — pods created through the API server into
//! the embedded store, the feed, the scheduler dataflow, the batch binder, and every binding
//! written back through the API server. The figure is pods bound per second, from the first
//! pod created to the last pod seen bound.
//!
//! Variants (`--variant`): `basic` (plain pods on plain nodes), `affinity-taints` (every
//! third node tainted, pods with a required node affinity on zones and a toleration), and
//! `anti-affinity` (pods with a required anti-affinity on hostname within a small group), and
//! `spread` (each group selected by a Service, so upstream's default spreading over hostname
//! and zone scores every pod, as for any Deployment's).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Args, ValueEnum};
use deltakube_api::apiserver;
use deltakube_dataflows::engine::ControllerConfig;
use deltakube_dataflows::scheduler::config::SchedulerConfig;
use serde_json::{json, Value};

use crate::controllers::api::Api;

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Variant {
    Basic,
    AffinityTaints,
    AntiAffinity,
    Spread,
}

#[derive(Args, Debug, Clone)]
pub struct SchedulerBenchFlags {
    #[arg(long, env = "DELTAKUBE_BENCH_NODES", default_value_t = 5000)]
    pub nodes: usize,
    #[arg(long, env = "DELTAKUBE_BENCH_PODS", default_value_t = 10_000)]
    pub pods: usize,
    /// Dataflow worker threads.
    #[arg(long, env = "DELTAKUBE_WORKERS", default_value_t = 2)]
    pub workers: usize,
    #[arg(long, value_enum, default_value = "basic")]
    pub variant: Variant,
    /// Concurrent creates.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Create every pod before the scheduler starts, and time the scheduler alone (its initial
    /// load included) from its start to the last pod bound.
    #[arg(long)]
    pub precreate: bool,
    /// Create pods at this steady rate (pods/s) instead of all at once, from once the
    /// scheduler has loaded the nodes, and report the create → bound latency percentiles.
    #[arg(long)]
    pub rate: Option<f64>,
    #[arg(long, env = "DELTAKUBE_BENCH_OUT", default_value = "bench-scheduler.json")]
    pub out: std::path::PathBuf,
    /// With `--rate`: write each binding as a line `seconds-since-the-first-create
    /// create-to-bound-ms` to this file, to see when the slow ones happen.
    #[arg(long)]
    pub latency_trace: Option<std::path::PathBuf>,
}

fn node(i: usize, variant: Variant) -> Value {
    let name = format!("node-{i}");
    let mut n = json!({"apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, "topology.kubernetes.io/zone": format!("zone-{}", i % 3)}},
        "status": {"allocatable": {"cpu": "32", "memory": "128Gi", "pods": "110"}, "capacity": {"cpu": "32", "memory": "128Gi", "pods": "110"},
                   "conditions": [{"type": "Ready", "status": "True"}]}});
    if matches!(variant, Variant::AffinityTaints) && i.is_multiple_of(3) {
        n["spec"] = json!({"taints": [{"key": "dedicated", "value": "batch", "effect": "NoSchedule"}]});
    }
    n
}

fn pod(i: usize, variant: Variant) -> Value {
    let mut p = json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": format!("pod-{i}"), "namespace": "default", "labels": {"group": format!("g-{}", i % 100)}},
        "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10", "resources": {"requests": {"cpu": "100m", "memory": "500Mi"}}}]}});
    match variant {
        Variant::Basic | Variant::Spread => {}
        Variant::AffinityTaints => {
            p["spec"]["tolerations"] = json!([{"key": "dedicated", "operator": "Equal", "value": "batch", "effect": "NoSchedule"}]);
            p["spec"]["affinity"] = json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchExpressions": [{"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["zone-0", "zone-1"]}]}]}}});
        }
        Variant::AntiAffinity => {
            p["spec"]["affinity"] = json!({"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                {"labelSelector": {"matchLabels": {"group": format!("g-{}", i % 100)}}, "topologyKey": "kubernetes.io/hostname"}]}});
        }
    }
    p
}

/// Creates every body at `path` with `concurrency` requests in flight, at `rate` bodies per
/// second when given; each create's start goes into `started` under the body's name.
async fn create_all(api: &Arc<Api>, path: &str, bodies: Vec<Value>, concurrency: usize, rate: Option<f64>, started: Option<Started>) -> anyhow::Result<()> {
    let semaphore = Arc::new(tokio::sync::Semaphore::new(concurrency.max(1)));
    let mut tasks = Vec::with_capacity(bodies.len());
    let begin = Instant::now();
    for (i, body) in bodies.into_iter().enumerate() {
        if let Some(rate) = rate {
            tokio::time::sleep_until((begin + Duration::from_secs_f64(i as f64 / rate)).into()).await;
        }
        let permit = semaphore.clone().acquire_owned().await?;
        let (api, path, started) = (api.clone(), path.to_string(), started.clone());
        tasks.push(tokio::spawn(async move {
            if let Some(started) = started {
                let name = body["metadata"]["name"].as_str().unwrap_or_default().to_string();
                started.lock().expect("started lock").insert(name, Instant::now());
            }
            // The created object is not read back: the bench must not load the machine it measures.
            let result = api.call_raw("POST", &path, body.to_string(), "application/json").await;
            drop(permit);
            match result {
                Ok((code, _)) if code < 300 => Ok(()),
                Ok((code, bytes)) => Err(anyhow::anyhow!("create at {path}: {code} {}", String::from_utf8_lossy(&bytes))),
                Err(e) => Err(anyhow::anyhow!("create at {path}: {e}")),
            }
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(())
}

/// When each pod's create was sent, by name.
type Started = Arc<std::sync::Mutex<std::collections::HashMap<String, Instant>>>;

/// What the binding watcher saw.
#[derive(Default)]
struct Bound {
    count: usize,
    first: Option<Instant>,
    last: Option<Instant>,
    /// Create → bound, for the pods whose create start is known, with when each was bound.
    latencies: Vec<(Instant, Duration)>,
}

/// Counts pods as the API server's watch cache shows them bound (a MODIFIED event that sets
/// `spec.nodeName`), without listing: the bench must not load the machine it measures.
fn watch_bindings(server: &apiserver::RunningApiServer, started: Started) -> Arc<std::sync::Mutex<Bound>> {
    let bound = Arc::new(std::sync::Mutex::new(Bound::default()));
    let (_, _, mut events) = server.cache.subscribe_with_state("/registry/pods/");
    let out = bound.clone();
    tokio::spawn(async move {
        let node_of = |v: &Value| deltakube_api::object::at(v, "/spec/nodeName").and_then(Value::as_str).is_some_and(|n| !n.is_empty());
        loop {
            let event = match events.recv().await {
                Ok(e) => e,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    eprintln!("the bench's binding watcher lagged by {n} events; counts are low");
                    continue;
                }
                Err(_) => return,
            };
            if !event.object.key.starts_with("/registry/pods/") || !node_of(&event.object.value) || event.prev.as_ref().is_some_and(|p| node_of(&p.value)) {
                continue;
            }
            let now = Instant::now();
            let name = deltakube_api::object::at(&event.object.value, "/metadata/name").and_then(Value::as_str).unwrap_or_default();
            let latency = started.lock().expect("started lock").get(name).map(|t| now - *t);
            let mut b = out.lock().expect("bound lock");
            b.count += 1;
            b.first.get_or_insert(now);
            b.last = Some(now);
            b.latencies.extend(latency.map(|l| (now, l)));
        }
    });
    bound
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize].as_secs_f64() * 1e3
}

pub async fn run(flags: SchedulerBenchFlags) -> anyhow::Result<()> {
    println!(
        "deltakube bench scheduler — {} cores, {:?}: {} nodes, {} pods, {} worker(s)",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        flags.variant,
        flags.nodes,
        flags.pods,
        flags.workers
    );
    let dir = tempfile::tempdir()?;
    let server =
        apiserver::start(super::loopback_server(dir.path().join("server"), dir.path().join("store.redb")), None).await.context("starting the apiserver")?;
    let api = Arc::new(Api::in_process(server.internal_router.clone()));
    let nodes: Vec<Value> = (0..flags.nodes).map(|i| node(i, flags.variant)).collect();
    create_all(&api, "/api/v1/nodes", nodes, flags.concurrency, None, None).await?;
    if matches!(flags.variant, Variant::Spread) {
        let services = (0..100)
            .map(|g| {
                json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": format!("g-{g}"), "namespace": "default"},
                            "spec": {"selector": {"group": format!("g-{g}")}, "ports": [{"port": 80}]}})
            })
            .collect();
        create_all(&api, "/api/v1/namespaces/default/services", services, flags.concurrency, None, None).await?;
    }

    let started: Started = Started::default();
    let bound = watch_bindings(&server, started.clone());
    let pods: Vec<Value> = (0..flags.pods).map(|i| pod(i, flags.variant)).collect();
    let path = "/api/v1/namespaces/default/pods";
    let views = Arc::new(crate::controllers::views::ViewStore::new(flags.workers));
    let metrics = Arc::new(crate::controllers::metrics::Metrics::new());
    let start_scheduler = || {
        let metrics = metrics.clone();
        let config = ControllerConfig {
            root_ca: String::new(),
            node_cidrs: None,
            load_balancer_pool: None,
            scheduler: Some(SchedulerConfig::default()),
            run_controllers: false,
        };
        crate::controllers::start(&server, views.clone(), metrics, config, flags.workers)
    };
    let cpu_before = super::process_cpu();
    let threads_before = super::thread_cpu();
    let (start, created) = if flags.precreate {
        let t = Instant::now();
        create_all(&api, path, pods, flags.concurrency, None, None).await?;
        let created = t.elapsed();
        let start = Instant::now();
        start_scheduler()?;
        (start, created)
    } else {
        start_scheduler()?;
        if flags.rate.is_some() {
            // A steady rate is measured in the steady state: from once the scheduler has
            // loaded the cluster (its initial list of the nodes), not during that load.
            // That is once the binder has read the dataflow's rows of that list (15,000 nodes
            // take it some 100 ms after the dataflow is done with them), not only the views.
            let loaded = server.cache.revision();
            while views.revision() < loaded || metrics.scheduler_revision() < loaded {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        let start = Instant::now();
        create_all(&api, path, pods, flags.concurrency, flags.rate, flags.rate.map(|_| started.clone())).await?;
        (start, start.elapsed())
    };
    let mut last = 0;
    let mut stalled = Instant::now();
    loop {
        let n = bound.lock().expect("bound lock").count;
        if n >= flags.pods {
            break;
        }
        if n > last {
            last = n;
            stalled = Instant::now();
        }
        anyhow::ensure!(stalled.elapsed() < Duration::from_secs(120), "no pod bound for two minutes ({last}/{} bound)", flags.pods);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let cpu = super::process_cpu() - cpu_before;
    let threads = super::thread_cpu_spent(&threads_before, &super::thread_cpu());
    let b = bound.lock().expect("bound lock");
    let elapsed = b.last.map_or(start.elapsed(), |l| l - start);
    let how = if flags.precreate { "created before the scheduler started" } else { "created with the scheduler running" };
    println!(
        "{:?}: {} pods {how} in {:.1}s; all bound {:.2}s after {}: {:.0} pods/s (first to last binding: {:.0} pods/s)",
        flags.variant,
        flags.pods,
        created.as_secs_f64(),
        elapsed.as_secs_f64(),
        if flags.precreate { "the scheduler started" } else { "the first create" },
        flags.pods as f64 / elapsed.as_secs_f64(),
        match (b.first, b.last) {
            (Some(f), Some(l)) if l > f => flags.pods as f64 / (l - f).as_secs_f64(),
            _ => f64::NAN,
        }
    );
    // With the pods created first, the create phase is in this figure too.
    println!("CPU over the pods' phase: {:.2}s, {:.0} µs per pod", cpu.as_secs_f64(), cpu.as_secs_f64() * 1e6 / flags.pods as f64);
    println!("  by thread: {}", threads.iter().take(6).map(|(name, s)| format!("{name} {s:.2}s")).collect::<Vec<_>>().join(", "));
    let mut results = serde_json::json!({
        "variant": format!("{:?}", flags.variant), "nodes": flags.nodes, "pods": flags.pods, "workers": flags.workers, "precreate": flags.precreate,
        "seconds_to_all_bound": elapsed.as_secs_f64(), "pods_per_second": flags.pods as f64 / elapsed.as_secs_f64(),
        "cpu_seconds": cpu.as_secs_f64(), "cpu_micros_per_pod": cpu.as_secs_f64() * 1e6 / flags.pods as f64,
        "cpu_seconds_by_thread": threads.iter().map(|(name, s)| (name.clone(), serde_json::json!(s))).collect::<serde_json::Map<String, serde_json::Value>>(),
    });
    if let Some(rate) = flags.rate {
        if let Some(path) = &flags.latency_trace {
            let lines: String = b.latencies.iter().map(|(at, l)| format!("{:.4} {:.2}\n", (*at - start).as_secs_f64(), l.as_secs_f64() * 1e3)).collect();
            std::fs::write(path, lines).with_context(|| format!("writing {}", path.display()))?;
        }
        let mut l: Vec<Duration> = b.latencies.iter().map(|(_, l)| *l).collect();
        l.sort();
        results["create_to_bound_ms"] =
            serde_json::json!({"rate": rate, "p50": percentile(&l, 0.5), "p90": percentile(&l, 0.9), "p99": percentile(&l, 0.99), "max": percentile(&l, 1.0)});
        println!(
            "create → bound at {rate:.0} pods/s over {} pods: p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            l.len(),
            percentile(&l, 0.5),
            percentile(&l, 0.9),
            percentile(&l, 0.99),
            percentile(&l, 1.0)
        );
    }
    std::fs::write(&flags.out, serde_json::to_vec_pretty(&results)?)?;
    println!("results written to {}", flags.out.display());
    server.stop();
    Ok(())
}
