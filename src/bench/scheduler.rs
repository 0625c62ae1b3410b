//! `deltakube bench scheduler`: upstream's SchedulingBasic shape (N nodes, then M pods to
//! place) through the whole path in one process — pods created through the API server into
//! the embedded store, the feed, the scheduler dataflow, the batch binder, and every binding
//! written back through the API server. The figure is pods bound per second, from the first
//! pod created to the last pod seen bound.
//!
//! Variants (`--variant`): `basic` (plain pods on plain nodes), `affinity-taints` (every
//! third node tainted, pods with a required node affinity on zones and a toleration), and
//! `anti-affinity` (pods with a required anti-affinity on hostname within a small group).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Args, ValueEnum};
use deltakube_api::apiserver::{self, ApiServerConfig, StoreConfig};
use deltakube_dataflows::engine::ControllerConfig;
use deltakube_dataflows::scheduler::config::SchedulerConfig;
use serde_json::{json, Value};

use crate::controllers::api::Api;

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Variant {
    Basic,
    AffinityTaints,
    AntiAffinity,
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
        Variant::Basic => {}
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

/// Creates every body at `path` with `concurrency` requests in flight.
async fn create_all(api: &Arc<Api>, path: &str, bodies: Vec<Value>, concurrency: usize) -> anyhow::Result<()> {
    let semaphore = Arc::new(tokio::sync::Semaphore::new(concurrency.max(1)));
    let mut tasks = Vec::with_capacity(bodies.len());
    for body in bodies {
        let permit = semaphore.clone().acquire_owned().await?;
        let (api, path) = (api.clone(), path.to_string());
        tasks.push(tokio::spawn(async move {
            let result = api.call("POST", &path, body.to_string(), "application/json").await;
            drop(permit);
            match result {
                Ok((code, _)) if code < 300 => Ok(()),
                Ok((code, v)) => Err(anyhow::anyhow!("create at {path}: {code} {}", v["message"])),
                Err(e) => Err(anyhow::anyhow!("create at {path}: {e}")),
            }
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(())
}

/// Pods bound so far, counted from a LIST.
async fn bound(api: &Api) -> anyhow::Result<usize> {
    let (_, list) = api.call("GET", "/api/v1/namespaces/default/pods", String::new(), "application/json").await.map_err(anyhow::Error::msg)?;
    Ok(list["items"]
        .as_array()
        .map_or(0, |items| items.iter().filter(|p| p.pointer("/spec/nodeName").and_then(Value::as_str).is_some_and(|n| !n.is_empty())).count()))
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
    let server = apiserver::start(
        ApiServerConfig {
            data_dir: dir.path().join("server"),
            store: StoreConfig::Embedded(dir.path().join("store.redb")),
            bind: "127.0.0.1:0".parse()?,
            advertise: "127.0.0.1:0".into(),
            token_auth_file: None,
            compaction_interval: Duration::ZERO,
        },
        None,
    )
    .await
    .context("starting the apiserver")?;
    let api = Arc::new(Api::in_process(server.internal_router.clone()));
    let nodes: Vec<Value> = (0..flags.nodes).map(|i| node(i, flags.variant)).collect();
    create_all(&api, "/api/v1/nodes", nodes, flags.concurrency).await?;

    let views = Arc::new(crate::controllers::views::ViewStore::new(flags.workers));
    let metrics = Arc::new(crate::controllers::metrics::Metrics::new());
    let config = ControllerConfig {
        root_ca: String::new(),
        node_cidrs: None,
        load_balancer_pool: None,
        scheduler: Some(SchedulerConfig::default()),
        run_controllers: false,
    };
    crate::controllers::start(&server, views, metrics, config, flags.workers)?;

    let start = Instant::now();
    let pods: Vec<Value> = (0..flags.pods).map(|i| pod(i, flags.variant)).collect();
    create_all(&api, "/api/v1/namespaces/default/pods", pods, flags.concurrency).await?;
    let created = start.elapsed();
    let mut last = 0;
    let mut stalled = Instant::now();
    loop {
        let n = bound(&api).await?;
        if n >= flags.pods {
            break;
        }
        if n > last {
            last = n;
            stalled = Instant::now();
        }
        anyhow::ensure!(stalled.elapsed() < Duration::from_secs(120), "no pod bound for two minutes ({last}/{} bound)", flags.pods);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let elapsed = start.elapsed();
    println!(
        "{:?}: {} pods created in {:.1}s, all bound after {:.1}s: {:.0} pods/s",
        flags.variant,
        flags.pods,
        created.as_secs_f64(),
        elapsed.as_secs_f64(),
        flags.pods as f64 / elapsed.as_secs_f64()
    );
    server.stop();
    Ok(())
}
