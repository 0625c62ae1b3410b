//! The change feed over HTTPS (an edge of the engine, for `deltakube controllers
//! --kubeconfig`): every kind the engine reads is listed at one revision R, then watched
//! from R, and the watches are merged back into one batch per revision, in order.
//!
//! Watches of different resources are separate streams, so an event at revision R on one
//! stream may arrive after an event at a later revision on another. Each stream has a
//! **watermark**: the revision of its last event or bookmark (the API server sends a
//! bookmark within 20 ms when revisions pass without an event for that watch). A revision
//! is handed to the engine only once every stream's watermark has reached it; until then
//! its events wait. Objects are kept as last seen (as an informer's store does) so that each
//! update retracts the state it replaces.
//!
//! A watch that ends is resumed from its watermark; one that can no longer resume (410
//! Expired after compaction) ends the feed with an error: the engine cannot be rebuilt in
//! place, and a restart relists (names of created objects are deterministic, so nothing is
//! created twice).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use deltakube_dataflows::engine::{Engine, FeedBatch};
use deltakube_dataflows::types::{FeedEvent, Kind, ObjectKey, Revision};
use http_body_util::BodyExt;
use serde_json::Value;
use tokio::sync::mpsc;

use super::metrics::Metrics;
use crate::client::ApiClient;

/// Items per page of the initial lists.
const PAGE: usize = 500;
/// A watch's server-side timeout; it is resumed when it ends.
const WATCH_SECONDS: u64 = 300;
/// Longest wait between attempts to reach the API server.
const MAX_RETRY: Duration = Duration::from_secs(5);

/// What one watch stream reports.
enum Frame {
    Event {
        kind: Kind,
        event: String,
        object: Value,
        revision: Revision,
    },
    Bookmark(Revision),
    /// The watch cannot resume.
    Failed(String),
}

/// The collection path of a kind across all namespaces.
fn collection(kind: Kind) -> String {
    match kind.resource() {
        ("", version, plural) => format!("/api/{version}/{plural}"),
        (group, version, plural) => format!("/apis/{group}/{version}/{plural}"),
    }
}

fn revision_of(object: &Value) -> Option<Revision> {
    object.pointer("/metadata/resourceVersion").and_then(Value::as_str).and_then(|r| r.parse().ok())
}

fn key_of(kind: Kind, object: &Value) -> Option<ObjectKey> {
    let meta = object.get("metadata")?;
    let name = meta.get("name").and_then(Value::as_str)?;
    Some(ObjectKey::new(kind, meta.get("namespace").and_then(Value::as_str).unwrap_or(""), name))
}

async fn get_json(client: &ApiClient, path: &str) -> anyhow::Result<Value> {
    let (status, body) = client.send(hyper::Method::GET, path, None).await?;
    let value: Value = serde_json::from_slice(&body).with_context(|| format!("GET {path}: the answer is not JSON"))?;
    if !status.is_success() {
        bail!("GET {path}: {status} {}", value["message"].as_str().unwrap_or(""));
    }
    Ok(value)
}

/// The store's current revision, as a list reports it.
async fn current_revision(client: &ApiClient) -> anyhow::Result<Revision> {
    let list = get_json(client, "/api/v1/namespaces?limit=1").await?;
    list.pointer("/metadata/resourceVersion").and_then(Value::as_str).and_then(|r| r.parse().ok()).ok_or_else(|| anyhow!("a list without a resourceVersion"))
}

/// Every object of `kind` exactly at `revision`, page by page.
async fn list_at(client: &ApiClient, kind: Kind, revision: Revision) -> anyhow::Result<Vec<Value>> {
    let mut items = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let mut path = format!("{}?limit={PAGE}", collection(kind));
        match &next {
            Some(token) => path.push_str(&format!("&continue={token}")),
            None => path.push_str(&format!("&resourceVersion={revision}&resourceVersionMatch=Exact")),
        }
        let mut page = get_json(client, &path).await?;
        if let Some(Value::Array(list)) = page.get_mut("items").map(Value::take) {
            items.extend(list);
        }
        next = page.pointer("/metadata/continue").and_then(Value::as_str).filter(|c| !c.is_empty()).map(str::to_string);
        if next.is_none() {
            return Ok(items);
        }
    }
}

/// Watches `kind` from `from`, resuming as long as it can; reports on `out`.
async fn watch_kind(client: ApiClient, kind: Kind, mut from: Revision, out: mpsc::Sender<Frame>) {
    let mut retry = Duration::from_millis(100);
    loop {
        let path = format!("{}?watch=true&allowWatchBookmarks=true&resourceVersion={from}&timeoutSeconds={WATCH_SECONDS}", collection(kind));
        let response = match client.open(hyper::Method::GET, &path, None).await {
            Ok(r) if r.status().is_success() => r,
            Ok(r) if r.status() == hyper::StatusCode::GONE => {
                let _ = out.send(Frame::Failed(format!("watch of {} from {from}: 410 Gone", collection(kind)))).await;
                return;
            }
            Ok(r) => {
                tracing::warn!(kind = ?kind, status = %r.status(), "controller watch refused; retrying");
                tokio::time::sleep(retry).await;
                retry = (retry * 2).min(MAX_RETRY);
                continue;
            }
            Err(e) => {
                tracing::warn!(kind = ?kind, error = %format!("{e:#}"), "controller watch could not connect; retrying");
                tokio::time::sleep(retry).await;
                retry = (retry * 2).min(MAX_RETRY);
                continue;
            }
        };
        let mut body = response.into_body();
        let mut buffer: Vec<u8> = Vec::new();
        let mut broken = false;
        // Any frame that cannot be trusted ends this watch; the next one resumes from the
        // last revision delivered, so nothing is skipped and nothing is delivered twice.
        'stream: while let Some(frame) = body.frame().await {
            let Ok(data) = frame.map(|f| f.into_data()) else { break };
            let Ok(data) = data else { continue };
            buffer.extend_from_slice(&data);
            while let Some(end) = buffer.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = buffer.drain(..=end).collect();
                let message = match serde_json::from_slice::<Value>(&line) {
                    Ok(message) => message,
                    Err(e) => {
                        tracing::warn!(kind = ?kind, error = %e, "controller watch sent a line that is not JSON; resuming from {from}");
                        broken = true;
                        break 'stream;
                    }
                };
                let event = message["type"].as_str().unwrap_or_default().to_string();
                let object = message.get("object").cloned().unwrap_or(Value::Null);
                let frame = match event.as_str() {
                    "ERROR" if object["code"] == 410 => Frame::Failed(format!("watch of {} from {from}: {}", collection(kind), object["message"])),
                    "ERROR" => {
                        tracing::warn!(kind = ?kind, error = %object, "controller watch error; resuming from {from}");
                        broken = true;
                        break 'stream;
                    }
                    _ => match revision_of(&object) {
                        Some(r) if event == "BOOKMARK" => {
                            from = from.max(r);
                            Frame::Bookmark(r)
                        }
                        Some(r) => {
                            from = from.max(r);
                            Frame::Event { kind, event, object, revision: r }
                        }
                        None => {
                            tracing::warn!(kind = ?kind, event, "controller watch event has no resourceVersion; resuming from {from}");
                            broken = true;
                            break 'stream;
                        }
                    },
                };
                let failed = matches!(frame, Frame::Failed(_));
                if out.send(frame).await.is_err() || failed {
                    return;
                }
            }
        }
        // A watch that ran out its timeout reconnects at once; a broken one backs off.
        if broken {
            tokio::time::sleep(retry).await;
            retry = (retry * 2).min(MAX_RETRY);
        } else {
            retry = Duration::from_millis(100);
        }
    }
}

/// Hands batches to the engine, each `delay` after it was ready (zero in normal use; tests
/// set a delay to show that a lagging feed never makes the writer act twice).
struct Pusher {
    engine: Arc<Engine>,
    metrics: Arc<Metrics>,
    delayed: Option<mpsc::UnboundedSender<(tokio::time::Instant, FeedBatch)>>,
}

impl Pusher {
    fn new(engine: Arc<Engine>, metrics: Arc<Metrics>, delay: Duration) -> Pusher {
        if delay.is_zero() {
            return Pusher { engine, metrics, delayed: None };
        }
        let (tx, mut rx) = mpsc::unbounded_channel::<(tokio::time::Instant, FeedBatch)>();
        let (engine_, metrics_) = (engine.clone(), metrics.clone());
        tokio::spawn(async move {
            while let Some((ready, batch)) = rx.recv().await {
                tokio::time::sleep_until(ready + delay).await;
                metrics_.pushed(batch.revision, batch.events.len());
                engine_.push(batch);
            }
        });
        Pusher { engine, metrics, delayed: Some(tx) }
    }

    fn push(&self, batch: FeedBatch) {
        match &self.delayed {
            Some(queue) => {
                let _ = queue.send((tokio::time::Instant::now(), batch));
            }
            None => {
                self.metrics.pushed(batch.revision, batch.events.len());
                self.engine.push(batch);
            }
        }
    }
}

/// Lists, then follows every watch, feeding the engine one batch per revision (each `delay`
/// late) until a watch can no longer resume.
pub async fn follow_api(client: ApiClient, engine: Arc<Engine>, metrics: Arc<Metrics>, delay: Duration) -> anyhow::Result<()> {
    let feed = Pusher::new(engine, metrics, delay);
    let start = current_revision(&client).await.context("reading the API server's revision")?;
    let mut known: HashMap<ObjectKey, Arc<Value>> = HashMap::new();
    let mut events = Vec::new();
    for kind in Kind::ALL {
        for item in list_at(&client, *kind, start).await.with_context(|| format!("listing {}", collection(*kind)))? {
            let Some(key) = key_of(*kind, &item) else { continue };
            let item = Arc::new(item);
            known.insert(key.clone(), item.clone());
            events.push(FeedEvent { revision: start, key, old: None, new: Some(item) });
        }
    }
    feed.push(FeedBatch { revision: start, events });
    tracing::info!(revision = start, objects = known.len(), "controllers listed the cluster");

    let (tx, mut rx) = mpsc::channel::<(usize, Frame)>(4096);
    for (stream, kind) in Kind::ALL.iter().enumerate() {
        let (frames_tx, mut frames_rx) = mpsc::channel::<Frame>(1024);
        tokio::spawn(watch_kind(client.clone(), *kind, start, frames_tx));
        let tx = tx.clone();
        tokio::spawn(async move {
            while let Some(frame) = frames_rx.recv().await {
                if tx.send((stream, frame)).await.is_err() {
                    return;
                }
            }
        });
    }
    drop(tx);

    let mut watermarks = vec![start; Kind::ALL.len()];
    let mut waiting: BTreeMap<Revision, Vec<(Kind, String, Value)>> = BTreeMap::new();
    let mut pushed = start;
    while let Some((stream, frame)) = rx.recv().await {
        match frame {
            Frame::Event { kind, event, object, revision } => {
                watermarks[stream] = watermarks[stream].max(revision);
                if revision > pushed {
                    waiting.entry(revision).or_default().push((kind, event, object));
                }
            }
            Frame::Bookmark(revision) => watermarks[stream] = watermarks[stream].max(revision),
            Frame::Failed(reason) => bail!("the controllers' feed cannot resume ({reason}); restart to relist"),
        }
        let watermark = watermarks.iter().copied().min().unwrap_or(start);
        if watermark <= pushed {
            continue;
        }
        while let Some(entry) = waiting.first_entry().filter(|e| *e.key() <= watermark) {
            let (revision, changes) = entry.remove_entry();
            let events: Vec<FeedEvent> = changes
                .into_iter()
                .filter_map(|(kind, event, object)| {
                    let key = key_of(kind, &object)?;
                    let object = Arc::new(object);
                    let (old, new) = if event == "DELETED" { (known.remove(&key), None) } else { (known.insert(key.clone(), object.clone()), Some(object)) };
                    Some(FeedEvent { revision, key, old, new })
                })
                .collect();
            feed.push(FeedBatch { revision, events });
            pushed = revision;
        }
        if pushed < watermark {
            // Revisions of kinds no controller reads still advance time, so views and the
            // writer's expectations see that the feed has passed them.
            feed.push(FeedBatch { revision: watermark, events: Vec::new() });
            pushed = watermark;
        }
    }
    Err(anyhow!("every watch of the controllers' feed ended"))
}
