//! `deltakube bench quota`: pod creates into a namespace under a ResourceQuota that already
//! holds many pods, with the controllers in the process as in `deltakube up`. Admission reads
//! the namespace's usage from the ResourceQuota controller's `quota-usage` view; the baseline,
//! alternated round by round in the same run, sums it from the watch cache (what admission
//! does with no controllers in the process). Creates into one namespace under a quota are
//! serialized by its quota lock, so the figure is creates/s and the latency of each.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use deltakube_api::admission::quota_view::{QuotaUsageView, ViewUsage};
use deltakube_api::apiserver::{self, InProcessControllers};
use deltakube_api::quota::quantity::Quantity;
use deltakube_dataflows::engine::ControllerConfig;
use serde_json::{json, Value};

use super::{median, percentile};
use crate::controllers::api::Api;
use crate::controllers::metrics::Metrics;
use crate::controllers::quota_view::QuotaViewReader;
use crate::controllers::views::ViewStore;

#[derive(Args, Debug, Clone)]
pub struct QuotaBenchFlags {
    /// Pods in the namespace before the quota and the measured creates.
    #[arg(long, default_value_t = 10_000)]
    pub existing: usize,
    /// Pods created per round and mode.
    #[arg(long, default_value_t = 200)]
    pub creates: usize,
    /// Rounds; each runs both modes, and the medians are reported.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// Creates in flight (one namespace's quota lock serializes them).
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Dataflow worker threads.
    #[arg(long, env = "DELTAKUBE_WORKERS", default_value_t = 2)]
    pub workers: usize,
    #[arg(long, env = "DELTAKUBE_BENCH_OUT", default_value = "bench-quota.json")]
    pub out: std::path::PathBuf,
}

/// The view, or (switched off) no rows, so that admission sums from the cache.
struct Switchable {
    reader: QuotaViewReader,
    on: AtomicBool,
}

impl QuotaUsageView for Switchable {
    fn usage(&self, namespace: &str) -> ViewUsage {
        if !self.on.load(Ordering::SeqCst) {
            return ViewUsage::default();
        }
        self.reader.usage(namespace)
    }

    fn checked(&self, from_view: bool) {
        self.reader.checked(from_view);
    }
}

const NAMESPACE: &str = "bench";

fn pod(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": NAMESPACE},
           "spec": {"containers": [{"name": "c", "image": "busybox", "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}]}})
}

/// Creates `names` with `concurrency` in flight; returns each create's latency in ms.
async fn create(api: &Arc<Api>, names: Vec<String>, concurrency: usize) -> anyhow::Result<Vec<f64>> {
    let semaphore = Arc::new(tokio::sync::Semaphore::new(concurrency.max(1)));
    let path = format!("/api/v1/namespaces/{NAMESPACE}/pods");
    let mut tasks = Vec::with_capacity(names.len());
    for name in names {
        let permit = semaphore.clone().acquire_owned().await?;
        let (api, path) = (api.clone(), path.clone());
        tasks.push(tokio::spawn(async move {
            let t = Instant::now();
            let result = api.call_raw("POST", &path, pod(&name).to_string(), "application/json").await;
            drop(permit);
            match result {
                Ok((code, _)) if code < 300 => Ok(t.elapsed().as_secs_f64() * 1e3),
                Ok((code, bytes)) => Err(anyhow::anyhow!("create {name}: {code} {}", String::from_utf8_lossy(&bytes))),
                Err(e) => Err(anyhow::anyhow!("create {name}: {e}")),
            }
        }));
    }
    let mut latencies = Vec::with_capacity(tasks.len());
    for t in tasks {
        latencies.push(t.await??);
    }
    Ok(latencies)
}

pub async fn run(flags: QuotaBenchFlags) -> anyhow::Result<()> {
    println!(
        "quota bench: {} pods in the namespace, then {} creates per round and mode, {} rounds, {} in flight, {} workers",
        flags.existing, flags.creates, flags.rounds, flags.concurrency, flags.workers
    );
    let dir = tempfile::tempdir()?;
    let views = Arc::new(ViewStore::new(flags.workers));
    let metrics = Arc::new(Metrics::new());
    let switch = Arc::new(Switchable { reader: QuotaViewReader { views: views.clone(), metrics: metrics.clone() }, on: AtomicBool::new(true) });
    let in_process = InProcessControllers { views: crate::controllers::views_http::router(views.clone(), metrics.clone()), quota_usage: switch.clone() };
    let server = apiserver::start(super::loopback_server(dir.path().join("server"), dir.path().join("store.redb")), Some(in_process))
        .await
        .context("starting the apiserver")?;
    let config = ControllerConfig { root_ca: server.pki.ca_cert.clone(), node_cidrs: None, load_balancer_pool: None, scheduler: None, run_controllers: true };
    crate::controllers::start(&server, views.clone(), metrics.clone(), config, flags.workers)?;
    let api = Arc::new(Api::in_process(server.internal_router.clone()));

    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}});
    let (code, _) = api.call("POST", "/api/v1/namespaces", ns.to_string(), "application/json").await.map_err(anyhow::Error::msg)?;
    anyhow::ensure!(code < 300, "creating the namespace: {code}");
    let t = Instant::now();
    create(&api, (0..flags.existing).map(|i| format!("existing-{i}")).collect(), 64).await?;
    println!("{} pods created in {:.1}s (no quota yet)", flags.existing, t.elapsed().as_secs_f64());
    let quota = json!({"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "q", "namespace": NAMESPACE},
                       "spec": {"hard": {"pods": "10000000", "requests.cpu": "100000", "requests.memory": "100Ti"}}});
    let quota_path = format!("/api/v1/namespaces/{NAMESPACE}/resourcequotas");
    let (code, _) = api.call("POST", &quota_path, quota.to_string(), "application/json").await.map_err(anyhow::Error::msg)?;
    anyhow::ensure!(code < 300, "creating the quota: {code}");
    // The quota's status is the controller's first output: from then on the view holds it.
    let counted = Quantity::parse(&flags.existing.to_string()).map_err(anyhow::Error::msg)?;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (_, q) = api.call("GET", &format!("{quota_path}/q"), String::new(), "application/json").await.map_err(anyhow::Error::msg)?;
        let used = q.pointer("/status/used/pods").and_then(Value::as_str).and_then(|t| Quantity::parse(t).ok());
        if used.is_some_and(|u| u.cmp_value(&counted).is_eq()) {
            break;
        }
        anyhow::ensure!(Instant::now() < deadline, "the quota's status did not count the pods: {}", q["status"]);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let mut rates: [Vec<f64>; 2] = Default::default();
    let mut p50s: [Vec<f64>; 2] = Default::default();
    let mut p99s: [Vec<f64>; 2] = Default::default();
    let modes = ["summed from the watch cache", "read from the quota view"];
    for round in 0..flags.rounds {
        // Each mode goes first in every other round.
        for m in if round % 2 == 0 { [0, 1] } else { [1, 0] } {
            let mode = modes[m];
            switch.on.store(m == 1, Ordering::SeqCst);
            let names = (0..flags.creates).map(|i| format!("r{round}-m{m}-{i}")).collect();
            let t = Instant::now();
            let mut latencies = create(&api, names, flags.concurrency).await?;
            let rate = flags.creates as f64 / t.elapsed().as_secs_f64();
            let (p50, p99) = (percentile(&mut latencies, 50.0), percentile(&mut latencies, 99.0));
            println!("round {round}, usage {mode}: {rate:.0} creates/s, p50 {p50:.2} ms, p99 {p99:.2} ms");
            rates[m].push(rate);
            p50s[m].push(p50);
            p99s[m].push(p99);
        }
    }
    let (cache_rate, view_rate) = (median(&mut rates[0]), median(&mut rates[1]));
    let (cache_p50, view_p50) = (median(&mut p50s[0]), median(&mut p50s[1]));
    let (cache_p99, view_p99) = (median(&mut p99s[0]), median(&mut p99s[1]));
    println!(
        "medians: from the view {view_rate:.0} creates/s (p50 {view_p50:.2} ms, p99 {view_p99:.2} ms), from the cache {cache_rate:.0} creates/s (p50 {cache_p50:.2} ms, p99 {cache_p99:.2} ms): {:.1}×",
        view_rate / cache_rate
    );
    let results = json!({
        "existing": flags.existing, "creates": flags.creates, "rounds": flags.rounds, "concurrency": flags.concurrency, "workers": flags.workers,
        "view": {"creates_per_second": view_rate, "p50_ms": view_p50, "p99_ms": view_p99},
        "cache": {"creates_per_second": cache_rate, "p50_ms": cache_p50, "p99_ms": cache_p99},
    });
    std::fs::write(&flags.out, serde_json::to_vec_pretty(&results)?)?;
    println!("results written to {}", flags.out.display());
    server.stop();
    Ok(())
}
