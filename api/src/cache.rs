//! The watch cache: one store watch over `/registry/`, kept in memory, serving lists and
//! fanning events out to every HTTP watcher.
//!
//! State machine of the feeder task:
//! - **Listing**: read everything at revision R; the cache's revision becomes R.
//! - **Following**: apply store events in revision order; each is recorded in a bounded
//!   history and broadcast. On a broken watch it re-watches from its revision, which the
//!   store replays from its log; only a compaction past it forces a fresh list.
//!
//! **Invariant:** history and broadcast are updated under the write lock, so a subscriber that
//! takes history and subscribes under the read lock sees every event exactly once.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use serde_json::Value;
use tokio::sync::{broadcast, watch};

use crate::error::{ApiError, ApiResult};
use crate::object;
use crate::store::{ListOptions, Revision, Store, StoreError, StoreEvent};

/// Events kept for watchers that resume from a recent revision.
const HISTORY_LIMIT: usize = 100_000;
/// Events buffered per slow watcher before it is closed (it then relists).
const BROADCAST_BUFFER: usize = 100_000;

/// An object as the cache holds it: parsed, and serialized with its resourceVersion.
#[derive(Debug)]
pub struct CachedObject {
    pub key: String,
    /// Shared, so that in-process readers (the controllers' feed) take it without a copy.
    pub value: Arc<Value>,
    pub json: Bytes,
    pub mod_revision: Revision,
}

impl CachedObject {
    fn from_bytes(key: &str, bytes: &[u8], revision: Revision) -> Result<CachedObject, String> {
        let value = object::decode_at(bytes, revision).map_err(|e| e.message)?;
        let json = Bytes::from(serde_json::to_vec(&value).map_err(|e| e.to_string())?);
        Ok(CachedObject { key: key.to_string(), value: Arc::new(value), json, mod_revision: revision })
    }
}

/// The type of a watch event, as the watch API names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One change as watchers see it. For a delete, `object` is the last state stamped with the
/// delete's revision.
#[derive(Debug)]
pub struct CacheEvent {
    pub kind: EventType,
    pub object: Arc<CachedObject>,
    /// The state before, for selector transitions.
    pub prev: Option<Arc<CachedObject>>,
    pub revision: Revision,
}

struct CacheState {
    objects: BTreeMap<String, Arc<CachedObject>>,
    revision: Revision,
    history: VecDeque<Arc<CacheEvent>>,
    /// Every event with a revision above this one is in `history`.
    history_floor: Revision,
}

/// The shared cache.
pub struct WatchCache {
    state: RwLock<CacheState>,
    events: broadcast::Sender<Arc<CacheEvent>>,
    revision: watch::Sender<Revision>,
}

/// What a watcher gets when it subscribes: the events it missed, then a live feed.
pub struct Subscription {
    pub backlog: Vec<Arc<CacheEvent>>,
    pub live: broadcast::Receiver<Arc<CacheEvent>>,
}

impl WatchCache {
    /// Lists the store and starts following it.
    pub async fn start(store: Arc<dyn Store>) -> Result<Arc<WatchCache>, StoreError> {
        let (events, _) = broadcast::channel(BROADCAST_BUFFER);
        let (revision, _) = watch::channel(0);
        let cache = Arc::new(WatchCache {
            state: RwLock::new(CacheState { objects: BTreeMap::new(), revision: 0, history: VecDeque::new(), history_floor: 0 }),
            events,
            revision,
        });
        let at = cache.relist(store.as_ref()).await?;
        let feeder = cache.clone();
        tokio::spawn(async move { feeder.follow(store, at).await });
        Ok(cache)
    }

    async fn relist(&self, store: &dyn Store) -> Result<Revision, StoreError> {
        let page = store.list("/registry/", ListOptions::default()).await?;
        let mut objects = BTreeMap::new();
        for kv in page.items {
            match CachedObject::from_bytes(&kv.key, &kv.value, kv.mod_revision) {
                Ok(o) => {
                    objects.insert(kv.key.clone(), Arc::new(o));
                }
                Err(e) => tracing::warn!(key = %kv.key, error = %e, "skipping undecodable object"),
            }
        }
        let mut state = self.state.write().expect("cache lock");
        state.objects = objects;
        state.revision = page.revision;
        state.history.clear();
        state.history_floor = page.revision;
        drop(state);
        self.revision.send_replace(page.revision);
        Ok(page.revision)
    }

    async fn follow(self: Arc<Self>, store: Arc<dyn Store>, mut at: Revision) {
        loop {
            let mut stream = match store.watch("/registry/", at).await {
                Ok(s) => s,
                Err(StoreError::Compacted { .. }) => {
                    tracing::warn!(revision = at, "cache fell behind compaction; relisting");
                    match self.relist(store.as_ref()).await {
                        Ok(r) => at = r,
                        Err(e) => tracing::error!(error = %e, "relist failed"),
                    }
                    continue;
                }
                Err(e) => {
                    tracing::error!(error = %e, "cache watch failed; retrying");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
            };
            while let Some(item) = stream.next().await {
                match item {
                    Ok(event) => {
                        at = event.revision();
                        self.apply(event);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, revision = at, "cache watch broke; resuming");
                        break;
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn apply(&self, event: StoreEvent) {
        let revision = event.revision();
        let mut state = self.state.write().expect("cache lock");
        let cache_event = match event {
            StoreEvent::Put { kv, .. } => match CachedObject::from_bytes(&kv.key, &kv.value, kv.mod_revision) {
                Ok(o) => {
                    let object = Arc::new(o);
                    let prev = state.objects.insert(kv.key.clone(), object.clone());
                    let kind = if prev.is_some() { EventType::Modified } else { EventType::Added };
                    Some(CacheEvent { kind, object, prev, revision })
                }
                Err(e) => {
                    tracing::warn!(key = %kv.key, error = %e, "skipping undecodable object");
                    None
                }
            },
            StoreEvent::Delete { key, .. } => state.objects.remove(&key).and_then(|prev| {
                let mut last = Value::clone(&prev.value);
                object::stamp_revision(&mut last, revision);
                let json = Bytes::from(serde_json::to_vec(&last).ok()?);
                let object = Arc::new(CachedObject { key, value: Arc::new(last), json, mod_revision: revision });
                Some(CacheEvent { kind: EventType::Deleted, object, prev: Some(prev), revision })
            }),
        };
        state.revision = revision;
        if let Some(event) = cache_event {
            let event = Arc::new(event);
            state.history.push_back(event.clone());
            while state.history.len() > HISTORY_LIMIT {
                if let Some(old) = state.history.pop_front() {
                    state.history_floor = old.revision;
                }
            }
            let _ = self.events.send(event);
        }
        drop(state);
        self.revision.send_replace(revision);
    }

    /// The revision the cache has applied.
    pub fn revision(&self) -> Revision {
        *self.revision.borrow()
    }

    /// Waits until the cache has applied `revision`, or fails with upstream's
    /// "Too large resource version" after `timeout`.
    pub async fn wait_for(&self, revision: Revision, timeout: Duration) -> ApiResult<()> {
        let mut rx = self.revision.subscribe();
        let reached = tokio::time::timeout(timeout, rx.wait_for(|r| *r >= revision)).await.is_ok_and(|r| r.is_ok());
        match reached {
            true => Ok(()),
            _ => {
                let mut e = ApiError::timeout(format!("Too large resource version: {revision}, current: {}", self.revision()));
                e.retry_after_seconds = Some(1);
                Err(e)
            }
        }
    }

    /// One object by key.
    pub fn get(&self, key: &str) -> Option<Arc<CachedObject>> {
        self.state.read().expect("cache lock").objects.get(key).cloned()
    }

    /// Every object under `prefix`, in key order, starting after `start_after`, and the
    /// revision of that state.
    pub fn list(&self, prefix: &str, start_after: Option<&str>) -> (Vec<Arc<CachedObject>>, Revision) {
        let state = self.state.read().expect("cache lock");
        let from = match start_after {
            Some(s) if s >= prefix => std::ops::Bound::Excluded(s.to_string()),
            _ => std::ops::Bound::Included(prefix.to_string()),
        };
        let items = state.objects.range((from, std::ops::Bound::Unbounded)).take_while(|(k, _)| k.starts_with(prefix)).map(|(_, v)| v.clone()).collect();
        (items, state.revision)
    }

    /// Subscribes from `revision`: the events after it that are still in history, then live.
    /// Fails with `None` when history no longer reaches back that far.
    pub fn subscribe_after(&self, prefix: &str, revision: Revision) -> Option<Subscription> {
        let state = self.state.read().expect("cache lock");
        if revision < state.history_floor {
            return None;
        }
        let backlog = state.history.iter().filter(|e| e.revision > revision && e.object.key.starts_with(prefix)).cloned().collect();
        let live = self.events.subscribe();
        Some(Subscription { backlog, live })
    }

    /// Subscribes at the current state: the objects under `prefix` now, and a live feed after.
    pub fn subscribe_with_state(&self, prefix: &str) -> (Vec<Arc<CachedObject>>, Revision, broadcast::Receiver<Arc<CacheEvent>>) {
        let state = self.state.read().expect("cache lock");
        let items = state.objects.range(prefix.to_string()..).take_while(|(k, _)| k.starts_with(prefix)).map(|(_, v)| v.clone()).collect();
        (items, state.revision, self.events.subscribe())
    }

    /// The oldest revision a watch can resume from without going to the store.
    pub fn history_floor(&self) -> Revision {
        self.state.read().expect("cache lock").history_floor
    }
}
