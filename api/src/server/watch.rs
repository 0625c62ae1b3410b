//! Watch: a chunked stream of `{"type","object"}` JSON events, one per line.
//!
//! - `resourceVersion` unset or `0`: synthetic ADDED events for the current state, then live.
//! - `resourceVersion=N`: every change after N, from the cache's history, or from the store's
//!   log when N is older than that history (so a watch resumed after a restart misses
//!   nothing); a compacted N gets an ERROR event with a 410 Expired Status.
//! - Selectors see transitions: an object that stops matching is sent as DELETED, one that
//!   starts matching as ADDED.
//! - Each watcher writes into a bounded channel; a watcher too slow to drain it is closed
//!   and its client resumes or relists, so memory stays bounded.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::{BufMut, Bytes, BytesMut};
use futures::StreamExt;
use serde_json::{json, Value};
use tokio::sync::{broadcast, mpsc};

use super::negotiate::{check_acceptable, wants_table};
use super::read::{now_unix, parse_rv, Selectors, CACHE_WAIT};
use super::{Ctx, SharedState};
use crate::cache::{CacheEvent, CachedObject, EventType};
use crate::error::{ApiError, ApiResult};
use crate::object;
use crate::resources::registry::ResourceDescriptor;
use crate::store::{Revision, StoreError, StoreEvent, WatchStream};
use crate::table::{build_table, IncludeObject};

/// Frames buffered per watcher before it counts as too slow.
const WATCHER_BUFFER: usize = 4096;
/// Longest watch, as upstream's default `--min-request-timeout` of 30 minutes.
const MAX_TIMEOUT: Duration = Duration::from_secs(1800);
/// How often an idle watch that allows bookmarks is sent one.
const BOOKMARK_EVERY: Duration = Duration::from_secs(10);
/// How soon a watch that allows bookmarks hears of revisions that passed without an event
/// for it. Upstream only promises bookmarks "from time to time"; prompt ones let a client
/// that merges several watches (the remote controllers' feed) know how far each has come.
const BOOKMARK_SOON: Duration = Duration::from_millis(20);

/// Where the events after the initial ones come from.
enum Source {
    /// The cache's broadcast carries every key's events; only those under `prefix` are sent.
    Cache {
        live: broadcast::Receiver<Arc<CacheEvent>>,
        last: Revision,
        prefix: String,
    },
    Store(WatchStream),
}

/// An event before encoding: type, object, and the object's previous state if known.
struct Change {
    kind: EventType,
    value: Arc<Value>,
    /// The cache's object, whose JSON is serialized once for every watcher.
    cached: Option<Arc<CachedObject>>,
    prev: Option<Arc<Value>>,
    revision: Revision,
    /// False for another resource's event (from the cache's shared broadcast): it only marks
    /// that its revision has passed.
    in_scope: bool,
}

/// Encodes events for one watcher: plain JSON, or Tables with column definitions once.
struct Encoder {
    resource: &'static ResourceDescriptor,
    table: Option<IncludeObject>,
    sent_columns: bool,
}

impl Encoder {
    fn frame(&mut self, kind: &str, value: &Value, json: Option<&Bytes>) -> Bytes {
        let mut out = BytesMut::new();
        out.put_slice(b"{\"type\":\"");
        out.put_slice(kind.as_bytes());
        out.put_slice(b"\",\"object\":");
        match (self.table, json) {
            (Some(include), _) if kind != "ERROR" && kind != "BOOKMARK" => {
                let rv = object::meta_str(value, "resourceVersion").unwrap_or("").to_string();
                let table =
                    build_table(self.resource.group, self.resource.plural, std::slice::from_ref(value), include, &rv, None, now_unix(), !self.sent_columns);
                self.sent_columns = true;
                out.put_slice(&serde_json::to_vec(&table).unwrap_or_default());
            }
            (_, Some(json)) => out.put_slice(json),
            _ => out.put_slice(&serde_json::to_vec(value).unwrap_or_default()),
        }
        out.put_slice(b"}\n");
        out.freeze()
    }

    fn bookmark(&mut self, revision: Revision, initial_events_end: bool) -> Bytes {
        let mut metadata = json!({"resourceVersion": revision.to_string()});
        if initial_events_end {
            metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        let object = json!({"kind": self.resource.kind, "apiVersion": self.resource.api_version(), "metadata": metadata});
        self.frame("BOOKMARK", &object, None)
    }
}

/// Applies selectors to a change, turning transitions into ADDED or DELETED.
fn filter(selectors: &Selectors, change: Change) -> Option<Change> {
    let now = selectors.matches(&change.value);
    let before = change.prev.as_ref().is_some_and(|p| selectors.matches(p));
    let kind = match change.kind {
        EventType::Added => now.then_some(EventType::Added)?,
        EventType::Modified => match (before, now) {
            (true, true) => EventType::Modified,
            (false, true) => EventType::Added,
            (true, false) => EventType::Deleted,
            (false, false) => return None,
        },
        EventType::Deleted => (before || now).then_some(EventType::Deleted)?,
    };
    Some(Change { kind, ..change })
}

fn from_cache(event: &CacheEvent) -> Change {
    Change {
        kind: event.kind,
        value: event.object.value.clone(),
        cached: Some(event.object.clone()),
        prev: event.prev.as_ref().map(|p| p.value.clone()),
        revision: event.revision,
        in_scope: true,
    }
}

fn from_store(event: StoreEvent) -> ApiResult<Change> {
    Ok(match event {
        StoreEvent::Put { kv, prev } => Change {
            kind: if prev.is_some() { EventType::Modified } else { EventType::Added },
            value: Arc::new(object::decode(&kv)?),
            cached: None,
            prev: prev.as_ref().map(object::decode).transpose()?.map(Arc::new),
            revision: kv.mod_revision,
            in_scope: true,
        },
        StoreEvent::Delete { revision, prev, .. } => {
            let prev = prev.ok_or_else(|| ApiError::internal("delete event without its last state"))?;
            let last = Arc::new(object::decode_at(&prev.value, revision)?);
            Change { kind: EventType::Deleted, value: last.clone(), cached: None, prev: Some(last), revision, in_scope: true }
        }
    })
}

/// WATCH.
pub async fn watch(state: &SharedState, ctx: &Ctx) -> ApiResult<Response> {
    check_acceptable(&ctx.headers)?;
    let selectors = Selectors::from_ctx(ctx)?;
    let prefix = object::list_prefix(ctx.resource, ctx.namespace());
    let table = wants_table(&ctx.headers).then(|| IncludeObject::parse(ctx.query.include_object.as_deref()));
    let mut encoder = Encoder { resource: ctx.resource, table, sent_columns: false };
    let timeout = ctx.query.timeout_seconds.map_or(MAX_TIMEOUT, |s| Duration::from_secs(s).min(MAX_TIMEOUT));
    let bookmarks = ctx.query.allow_watch_bookmarks;

    let mut initial: Vec<Bytes> = Vec::new();
    let rv = ctx.query.resource_version.as_deref();
    let send_initial = ctx.query.send_initial_events.unwrap_or(matches!(rv, None | Some("0")));
    let source = match rv {
        None | Some("0") => {
            let (items, revision, live) = state.cache.subscribe_with_state(&prefix);
            if send_initial {
                for o in items.iter().filter(|o| selectors.matches(&o.value)) {
                    initial.push(encoder.frame("ADDED", &o.value, Some(o.json())));
                }
                if ctx.query.send_initial_events == Some(true) {
                    initial.push(encoder.bookmark(revision, true));
                }
            }
            Source::Cache { live, last: revision, prefix }
        }
        Some(rv) => {
            let rv = parse_rv(rv)?;
            if rv > state.cache.revision() {
                state.cache.wait_for(rv, CACHE_WAIT).await?;
            }
            match state.cache.subscribe_after(&prefix, rv) {
                Some(sub) => {
                    let mut last = rv;
                    for event in &sub.backlog {
                        last = event.revision;
                        if let Some(c) = filter(&selectors, from_cache(event)) {
                            initial.push(encoder.frame(c.kind.as_str(), &c.value, c.cached.as_ref().map(|o| o.json())));
                        }
                    }
                    Source::Cache { live: sub.live, last, prefix }
                }
                None => match state.store.watch(&prefix, rv).await {
                    Ok(stream) => Source::Store(stream),
                    Err(StoreError::Compacted { .. }) => {
                        let status = ApiError::expired(format!("too old resource version: {rv}")).status();
                        initial.push(encoder.frame("ERROR", &status, None));
                        return Ok(stream_response(initial, None));
                    }
                    Err(e) => return Err(e.into()),
                },
            }
        }
    };

    let (tx, rx) = mpsc::channel::<Bytes>(WATCHER_BUFFER);
    tokio::spawn(pump(initial, source, tx, encoder, selectors, timeout, bookmarks));
    Ok(stream_response(Vec::new(), Some(rx)))
}

async fn pump(
    initial: Vec<Bytes>,
    mut source: Source,
    tx: mpsc::Sender<Bytes>,
    mut encoder: Encoder,
    selectors: Selectors,
    timeout: Duration,
    bookmarks: bool,
) {
    // The initial state may exceed the buffer; it goes out as the reader drains it.
    for frame in initial {
        if tx.send(frame).await.is_err() {
            return;
        }
    }
    let deadline = tokio::time::sleep(timeout);
    tokio::pin!(deadline);
    let mut ticker = tokio::time::interval(BOOKMARK_EVERY);
    ticker.tick().await;
    let mut last_sent: Revision = 0;
    // A revision that passed without a frame, owed as a bookmark once BOOKMARK_SOON is up.
    let mut owed: Option<Revision> = None;
    let soon = tokio::time::sleep(BOOKMARK_SOON);
    tokio::pin!(soon);
    loop {
        let change = tokio::select! {
            _ = &mut deadline => return,
            _ = tx.closed() => return,
            _ = &mut soon, if owed.is_some() => {
                let rev = owed.take().unwrap_or_default();
                if tx.send(encoder.bookmark(rev, false)).await.is_err() {
                    return;
                }
                continue;
            }
            _ = ticker.tick() => {
                if bookmarks {
                    // Only what this watch has passed: the cache may be ahead of the events
                    // still queued for it, and a bookmark promises that nothing before it is owed.
                    let rev = match &source { Source::Cache { last, .. } => *last, Source::Store(_) => last_sent };
                    if rev > 0 && tx.send(encoder.bookmark(rev, false)).await.is_err() {
                        return;
                    }
                }
                continue;
            }
            change = next_change(&mut source) => change,
        };
        let change = match change {
            Some(Ok(c)) => c,
            Some(Err(e)) => {
                let _ = tx.send(encoder.frame("ERROR", &e.status(), None)).await;
                return;
            }
            None => return,
        };
        last_sent = change.revision;
        let revision = change.revision;
        match change.in_scope.then(|| filter(&selectors, change)).flatten() {
            Some(c) => {
                owed = None;
                let frame = encoder.frame(c.kind.as_str(), &c.value, c.cached.as_ref().map(|o| o.json()));
                if tx.send(frame).await.is_err() {
                    return;
                }
            }
            None if bookmarks => {
                if owed.is_none() {
                    soon.as_mut().reset(tokio::time::Instant::now() + BOOKMARK_SOON);
                }
                owed = Some(revision);
            }
            None => {}
        }
    }
}

async fn next_change(source: &mut Source) -> Option<ApiResult<Change>> {
    match source {
        Source::Cache { live, last, prefix } => loop {
            match live.recv().await {
                Ok(event) if event.revision <= *last => continue,
                Ok(event) => {
                    *last = event.revision;
                    let in_scope = event.object.key.starts_with(prefix.as_str());
                    return Some(Ok(Change { in_scope, ..from_cache(&event) }));
                }
                Err(broadcast::error::RecvError::Lagged(_)) => return Some(Err(ApiError::expired("watch fell behind; resume from your last resourceVersion"))),
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        },
        Source::Store(stream) => match stream.next().await? {
            Ok(event) => Some(from_store(event)),
            Err(e) => Some(Err(e.into())),
        },
    }
}

fn stream_response(initial: Vec<Bytes>, rest: Option<mpsc::Receiver<Bytes>>) -> Response {
    let head = futures::stream::iter(initial);
    let body = match rest {
        Some(rx) => Body::from_stream(head.chain(tokio_stream::wrappers::ReceiverStream::new(rx)).map(Ok::<_, std::convert::Infallible>)),
        None => Body::from_stream(head.map(Ok::<_, std::convert::Infallible>)),
    };
    let mut response = (StatusCode::OK, body).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache, private"));
    response
}
