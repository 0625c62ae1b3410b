//! The apiserver figures of issue 2, each a median over rounds with its baseline from the
//! same run:
//! - durable store writes/s, 16 writers on one key each: embedded (group commit) vs etcd;
//! - HTTP creates/s of small pods, vs the raw store's creates/s;
//! - LIST of many pods as JSON, from the watch cache vs from the store at a revision;
//! - one event delivered to many concurrent watchers: p50 and p99, vs one watcher.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use clap::Args;
use deltakube_api::apiserver;
use deltakube_api::store::embedded::EmbeddedStore;
use deltakube_api::store::etcd::EtcdStore;
use deltakube_api::store::etcd_process::EtcdProcess;
use deltakube_api::store::Store;
use futures::StreamExt;
use http_body_util::BodyExt;
use hyper::Method;
use serde_json::json;

use super::{median, percentile};
use crate::client::{ApiClient, Credentials};

#[derive(Args, Debug, Clone)]
pub struct ApiserverBenchFlags {
    /// Concurrent store writers, each on its own key.
    #[arg(long, env = "DELTAKUBE_BENCH_WRITERS", default_value_t = 16)]
    pub writers: usize,
    /// Seconds each store-write round runs.
    #[arg(long, env = "DELTAKUBE_BENCH_SECONDS", default_value_t = 3)]
    pub seconds: u64,
    /// Rounds per figure; the median is reported.
    #[arg(long, env = "DELTAKUBE_BENCH_ROUNDS", default_value_t = 3)]
    pub rounds: usize,
    /// Pods created over HTTP per round.
    #[arg(long, env = "DELTAKUBE_BENCH_CREATES", default_value_t = 20_000)]
    pub creates: usize,
    /// Requests in flight during the HTTP creates.
    #[arg(long, env = "DELTAKUBE_BENCH_CONCURRENCY", default_value_t = 64)]
    pub concurrency: usize,
    /// Pods in the large LIST.
    #[arg(long, env = "DELTAKUBE_BENCH_LIST_PODS", default_value_t = 100_000)]
    pub list_pods: usize,
    /// Concurrent watchers for the fan-out figure.
    #[arg(long, env = "DELTAKUBE_BENCH_WATCHERS", default_value_t = 1000)]
    pub watchers: usize,
    /// Events sent to the watchers.
    #[arg(long, env = "DELTAKUBE_BENCH_EVENTS", default_value_t = 30)]
    pub events: usize,
    /// Skip the etcd baseline even if etcd is installed.
    #[arg(long, env = "DELTAKUBE_BENCH_NO_ETCD")]
    pub no_etcd: bool,
    /// Where to write the JSON results.
    #[arg(long, env = "DELTAKUBE_BENCH_OUT", default_value = "bench-apiserver.json")]
    pub out: std::path::PathBuf,
}

/// Writes/s of `writers` tasks updating their own key for `seconds`.
async fn store_writes(store: Arc<dyn Store>, writers: usize, seconds: u64, round: usize) -> anyhow::Result<f64> {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for w in 0..writers {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let key = format!("/registry/bench/r{round}/w{w}");
            let mut rev = store.create(&key, Bytes::from_static(b"{}")).await?.mod_revision;
            let mut n = 1u64;
            while Instant::now() < deadline {
                rev = store.update(&key, Bytes::from(format!("{{\"n\":{n}}}")), rev).await?.mod_revision;
                n += 1;
            }
            anyhow::Ok(n)
        }));
    }
    let start = Instant::now();
    let mut total = 0;
    for t in tasks {
        total += t.await??;
    }
    Ok(total as f64 / start.elapsed().as_secs_f64())
}

fn pod_body(name: &str) -> Bytes {
    Bytes::from(
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": "bench"}},
               "spec": {"containers": [{"name": "c", "image": "busybox"}]}})
        .to_string(),
    )
}

/// Pods/s created over HTTP with `concurrency` requests in flight.
async fn http_creates(client: &ApiClient, ns: &str, count: usize, concurrency: usize) -> anyhow::Result<f64> {
    let start = Instant::now();
    let path = format!("/api/v1/namespaces/{ns}/pods");
    let results: Vec<anyhow::Result<()>> = futures::stream::iter(0..count)
        .map(|i| {
            let client = client.clone();
            let path = path.clone();
            async move {
                let (status, body) = client.send(Method::POST, &path, Some(pod_body(&format!("p{i}")))).await?;
                anyhow::ensure!(status == 201, "create answered {status}: {}", String::from_utf8_lossy(&body));
                Ok(())
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    results.into_iter().collect::<anyhow::Result<()>>()?;
    Ok(count as f64 / start.elapsed().as_secs_f64())
}

/// Creates/s straight into the store, the baseline of the HTTP figure.
async fn raw_store_creates(store: Arc<dyn Store>, prefix: &str, count: usize, concurrency: usize) -> anyhow::Result<f64> {
    let start = Instant::now();
    let results: Vec<_> = futures::stream::iter(0..count)
        .map(|i| {
            let store = store.clone();
            let key = format!("{prefix}{i}");
            async move { store.create(&key, pod_body(&format!("p{i}"))).await }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    for r in results {
        r?;
    }
    Ok(count as f64 / start.elapsed().as_secs_f64())
}

/// Seconds to GET `path` and read all of it.
async fn timed_get(client: &ApiClient, path: &str) -> anyhow::Result<(f64, usize)> {
    let start = Instant::now();
    let (status, body) = client.send(Method::GET, path, None).await?;
    anyhow::ensure!(status == 200, "GET {path} answered {status}");
    Ok((start.elapsed().as_secs_f64(), body.len()))
}

/// Opens `n` watchers and measures, per event, the time from sending the write to each
/// watcher receiving it. Returns all delivery latencies in milliseconds.
async fn watch_fanout(pki: &deltakube_api::pki::Pki, base: &str, client: &ApiClient, ns: &str, n: usize, events: usize, tag: &str) -> anyhow::Result<Vec<f64>> {
    let marker = format!("\"name\":\"{tag}-");
    let (rv_status, list) = client.send(Method::GET, &format!("/api/v1/namespaces/{ns}/configmaps"), None).await?;
    anyhow::ensure!(rv_status == 200, "list answered {rv_status}");
    let list: serde_json::Value = serde_json::from_slice(&list)?;
    let rv = list["metadata"]["resourceVersion"].as_str().unwrap_or("0").to_string();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(usize, Instant)>();
    let mut ready = Vec::new();
    for w in 0..n {
        // One HTTP/1.1 connection per watcher, as independent clients would have.
        let watcher = ApiClient::new(&Credentials::admin(pki, base), false)?;
        let path = format!("/api/v1/namespaces/{ns}/configmaps?watch=true&resourceVersion={rv}");
        let tx = tx.clone();
        let marker = marker.clone();
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        ready.push(ready_rx);
        tokio::spawn(async move {
            let response = match watcher.open(Method::GET, &path, None).await {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(watcher = w, error = %e, "watch failed");
                    return;
                }
            };
            let _ = ready_tx.send(());
            let mut body = response.into_body();
            let mut pending = Vec::new();
            while let Some(Ok(frame)) = body.frame().await {
                let Ok(data) = frame.into_data() else {
                    continue;
                };
                let now = Instant::now();
                pending.extend_from_slice(&data);
                while let Some(pos) = pending.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = pending.drain(..=pos).collect();
                    if let Some(i) = find_event_index(&line, &marker) {
                        let _ = tx.send((i, now));
                    }
                }
            }
        });
    }
    for r in ready {
        r.await.context("a watcher failed to start")?;
    }
    let mut latencies = Vec::with_capacity(n * events);
    for i in 0..events {
        let body = Bytes::from(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": format!("{tag}-{i}")}}).to_string());
        let sent = Instant::now();
        let (status, _) = client.send(Method::POST, &format!("/api/v1/namespaces/{ns}/configmaps"), Some(body)).await?;
        anyhow::ensure!(status == 201, "event create answered {status}");
        let mut got = 0;
        let deadline = Instant::now() + Duration::from_secs(30);
        while got < n {
            let remaining = deadline.saturating_duration_since(Instant::now());
            let Ok(Some((idx, at))) = tokio::time::timeout(remaining, rx.recv()).await else {
                anyhow::bail!("only {got} of {n} watchers received event {i}");
            };
            if idx == i {
                latencies.push(at.duration_since(sent).as_secs_f64() * 1000.0);
                got += 1;
            }
        }
    }
    Ok(latencies)
}

fn find_event_index(line: &[u8], marker: &str) -> Option<usize> {
    let text = std::str::from_utf8(line).ok()?;
    let start = text.find(marker)? + marker.len();
    let end = text[start..].find('"')? + start;
    text[start..end].parse().ok()
}

pub async fn run(flags: ApiserverBenchFlags) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut results = serde_json::Map::new();
    println!("deltakube bench apiserver — {} cores, {}", std::thread::available_parallelism().map_or(0, |n| n.get()), jiff_now());

    // 1. Store writes: embedded vs etcd, same rounds.
    let embedded: Arc<dyn Store> = Arc::new(EmbeddedStore::open(&dir.path().join("bench-store.redb"))?);
    let etcd_process = if flags.no_etcd { None } else { EtcdProcess::start(dir.path()).ok() };
    let etcd: Option<Arc<dyn Store>> = match &etcd_process {
        Some(p) => Some(Arc::new(EtcdStore::connect(std::slice::from_ref(&p.endpoint)).await?)),
        None => None,
    };
    let (mut emb, mut etc) = (Vec::new(), Vec::new());
    for round in 0..flags.rounds {
        emb.push(store_writes(embedded.clone(), flags.writers, flags.seconds, round).await?);
        if let Some(e) = &etcd {
            etc.push(store_writes(e.clone(), flags.writers, flags.seconds, round).await?);
        }
    }
    let emb_median = median(&mut emb);
    println!("store writes/s, {} writers: embedded {:.0}", flags.writers, emb_median);
    results.insert("store_writes_per_s_embedded".into(), json!(emb_median));
    if !etc.is_empty() {
        let etcd_median = median(&mut etc);
        println!("store writes/s, {} writers: etcd {:.0} (embedded is {:.1}x)", flags.writers, etcd_median, emb_median / etcd_median);
        results.insert("store_writes_per_s_etcd".into(), json!(etcd_median));
    } else {
        println!("store writes/s: etcd baseline skipped (no etcd on PATH or --no-etcd)");
    }
    drop(embedded);
    drop(etcd);
    drop(etcd_process);

    // 2–4 run against a real server on the embedded store.
    let server = apiserver::start(super::loopback_server(dir.path().join("server"), dir.path().join("server-store.redb")), None).await?;
    let base = format!("https://{}", server.address);
    let client = ApiClient::new(&Credentials::admin(&server.pki, &base), true)?;
    for ns in ["bench-create", "bench-watch"] {
        let body = Bytes::from(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}).to_string());
        client.send(Method::POST, "/api/v1/namespaces", Some(body)).await?;
    }

    // 2. HTTP creates vs raw store creates.
    let (mut http, mut raw) = (Vec::new(), Vec::new());
    for round in 0..flags.rounds {
        let ns = format!("bench-create-{round}");
        let body = Bytes::from(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}).to_string());
        client.send(Method::POST, "/api/v1/namespaces", Some(body)).await?;
        http.push(http_creates(&client, &ns, flags.creates, flags.concurrency).await?);
        raw.push(raw_store_creates(server.store.clone(), &format!("/registry/rawbench/{round}/"), flags.creates, flags.concurrency).await?);
    }
    let (http_m, raw_m) = (median(&mut http), median(&mut raw));
    println!("HTTP creates/s of small pods: {:.0} (raw store creates/s {:.0}; HTTP is {:.2}x of raw)", http_m, raw_m, http_m / raw_m);
    results.insert("http_pod_creates_per_s".into(), json!(http_m));
    results.insert("raw_store_creates_per_s".into(), json!(raw_m));

    // 3. LIST of many pods.
    let loaded = flags.list_pods.saturating_sub(flags.creates * flags.rounds);
    raw_store_creates_in_pods(server.store.clone(), loaded, 128).await?;
    let current = server.store.current_revision().await?;
    server.cache.wait_for(current, Duration::from_secs(120)).await.map_err(|e| anyhow::anyhow!(e.message))?;
    let (mut cache_t, mut store_t) = (Vec::new(), Vec::new());
    let mut bytes = 0;
    let mut items = 0;
    for _ in 0..flags.rounds.max(3) {
        let (t, b) = timed_get(&client, "/api/v1/pods").await?;
        cache_t.push(t);
        bytes = b;
        let (t, _) = timed_get(&client, &format!("/api/v1/pods?resourceVersion={current}&resourceVersionMatch=Exact")).await?;
        store_t.push(t);
    }
    let (_, body) = client.send(Method::GET, "/api/v1/pods?limit=1", None).await?;
    let _ = body;
    let (_, all) = client.send(Method::GET, "/api/v1/pods", None).await?;
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&all) {
        items = v["items"].as_array().map_or(0, Vec::len);
    }
    let (cache_m, store_m) = (median(&mut cache_t), median(&mut store_t));
    println!(
        "LIST of {items} pods as JSON ({:.1} MiB): {:.3} s from the watch cache, {:.3} s from the store at a revision ({:.1}x)",
        bytes as f64 / 1048576.0,
        cache_m,
        store_m,
        store_m / cache_m
    );
    results.insert("list_pods".into(), json!(items));
    results.insert("list_seconds_cache".into(), json!(cache_m));
    results.insert("list_seconds_store_exact".into(), json!(store_m));

    // 4. Watch fan-out: many watchers vs one.
    let mut one = watch_fanout(&server.pki, &base, &client, "bench-watch", 1, flags.events.min(10), "one").await?;
    let mut many = watch_fanout(&server.pki, &base, &client, "bench-watch", flags.watchers, flags.events, "many").await?;
    let one_p99 = percentile(&mut one, 99.0);
    let (p50, p99) = (percentile(&mut many, 50.0), percentile(&mut many, 99.0));
    println!("event delivered to {} watchers: p50 {:.1} ms, p99 {:.1} ms (one watcher p99 {:.1} ms)", flags.watchers, p50, p99, one_p99);
    results.insert("watch_watchers".into(), json!(flags.watchers));
    results.insert("watch_p50_ms".into(), json!(p50));
    results.insert("watch_p99_ms".into(), json!(p99));
    results.insert("watch_one_watcher_p99_ms".into(), json!(one_p99));

    std::fs::write(&flags.out, serde_json::to_vec_pretty(&serde_json::Value::Object(results))?)?;
    println!("results written to {}", flags.out.display());
    server.stop();
    Ok(())
}

/// Loads `count` pods straight into the store under namespace `bench-list`.
async fn raw_store_creates_in_pods(store: Arc<dyn Store>, count: usize, concurrency: usize) -> anyhow::Result<()> {
    let results: Vec<_> = futures::stream::iter(0..count)
        .map(|i| {
            let store = store.clone();
            async move {
                let name = format!("l{i}");
                let body = json!({"apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": name, "namespace": "bench-list", "uid": format!("00000000-0000-0000-0000-{i:012}"),
                                 "creationTimestamp": "2026-11-26T00:00:00Z", "labels": {"app": "bench"}},
                    "spec": {"containers": [{"name": "c", "image": "busybox"}]}, "status": {"phase": "Pending"}});
                store.create(&format!("/registry/pods/bench-list/{name}"), Bytes::from(body.to_string())).await
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    for r in results {
        r?;
    }
    Ok(())
}

fn jiff_now() -> String {
    std::process::Command::new("date").arg("-u").output().map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string()).unwrap_or_default()
}
