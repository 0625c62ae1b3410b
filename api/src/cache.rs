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
//!
//! **Written objects are not parsed back.** The write path hands the object it has just
//! stored to [`WatchCache::offer`], with the revision it was written at; the cache takes that
//! object for the event of exactly that key and revision instead of decoding the stored bytes.
//! An offer that comes after its event was applied is dropped, so the cache never holds an
//! offer it cannot match; an event with no offer is decoded as before.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use serde_json::Value;
use tokio::sync::{broadcast, watch};

use crate::error::{ApiError, ApiResult};
use crate::object;
use crate::store::{ListOptions, Revision, Store, StoreError, StoreEvent};

/// Where the store keeps namespaces.
const NAMESPACES: &str = "/registry/namespaces/";
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
        CachedObject::from_value(key, Arc::new(value), revision)
    }

    /// An object already parsed and stamped with `revision`.
    fn from_value(key: &str, value: Arc<Value>, revision: Revision) -> Result<CachedObject, String> {
        let json = Bytes::from(serde_json::to_vec(&*value).map_err(|e| e.to_string())?);
        Ok(CachedObject { key: key.to_string(), value, json, mod_revision: revision })
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
    /// Objects the write path stored and offered, by key, with their revision; each waits for
    /// the event of that key and revision (see the module doc).
    offered: Mutex<HashMap<String, (Revision, Arc<Value>)>>,
    /// The newest revision this server wrote a namespace at: admission reads namespaces from
    /// the cache once it has applied that write (see [`WatchCache::namespace`]).
    namespaces_written: AtomicU64,
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
            offered: Mutex::new(HashMap::new()),
            namespaces_written: AtomicU64::new(0),
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
        // The list stands for every event up to its revision: offers for them are moot.
        self.offered.lock().expect("offers lock").retain(|_, (revision, _)| *revision > page.revision);
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

    /// Hands the cache `value`, just written at `key` at `revision` and stamped with it (as
    /// [`object::as_stored_at`] makes it), so that the cache need not parse the stored bytes
    /// back when the event comes.
    pub fn offer(&self, key: &str, revision: Revision, value: Arc<Value>) {
        self.wrote(key, revision);
        // Under the read lock, `apply` cannot run between this check and the insert.
        let state = self.state.read().expect("cache lock");
        if state.revision >= revision {
            return;
        }
        self.offered.lock().expect("offers lock").insert(key.to_string(), (revision, value));
        drop(state);
    }

    /// Records that this server wrote (or deleted) `key` at `revision`. [`WatchCache::offer`]
    /// records its write itself.
    pub fn wrote(&self, key: &str, revision: Revision) {
        if key.starts_with(NAMESPACES) {
            self.namespaces_written.fetch_max(revision, Ordering::AcqRel);
        }
    }

    /// The namespace at `key` as the cache has it once it has applied every namespace write
    /// this server acknowledged, so that a create right after a namespace's deletion sees it;
    /// `None` when the cache does not have it, or does not catch up within `timeout`.
    pub async fn namespace(&self, key: &str, timeout: Duration) -> Option<Arc<CachedObject>> {
        let written = self.namespaces_written.load(Ordering::Acquire);
        if self.revision() < written && self.wait_for(written, timeout).await.is_err() {
            return None;
        }
        self.get(key)
    }

    /// The offered object for `key` at `revision`, if any; drops an offer for an older
    /// revision of the key, which can no longer match.
    fn take_offer(&self, key: &str, revision: Revision) -> Option<Arc<Value>> {
        let mut offered = self.offered.lock().expect("offers lock");
        match offered.get(key) {
            Some((r, _)) if *r <= revision => offered.remove(key).filter(|(r, _)| *r == revision).map(|(_, v)| v),
            _ => None,
        }
    }

    fn apply(&self, event: StoreEvent) {
        let revision = event.revision();
        let mut state = self.state.write().expect("cache lock");
        // Taken under the write lock, so that no offer for this event can come after it.
        let offered = self.take_offer(event.key(), revision);
        let cache_event = match event {
            StoreEvent::Put { kv, .. } => match offered.map_or_else(
                || CachedObject::from_bytes(&kv.key, &kv.value, kv.mod_revision),
                |value| CachedObject::from_value(&kv.key, value, kv.mod_revision),
            ) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::embedded::EmbeddedStore;

    async fn cache() -> (tempfile::TempDir, Arc<dyn Store>, Arc<WatchCache>) {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(EmbeddedStore::open(&dir.path().join("s.redb")).unwrap());
        let cache = WatchCache::start(store.clone()).await.unwrap();
        (dir, store, cache)
    }

    async fn applied(cache: &WatchCache, revision: Revision) {
        cache.wait_for(revision, Duration::from_secs(5)).await.unwrap();
    }

    #[tokio::test]
    async fn an_offered_object_is_taken_and_equals_the_stored_one() {
        let (_dir, store, cache) = cache().await;
        let pod = serde_json::json!({"kind": "Pod", "metadata": {"name": "a", "namespace": "d"}, "spec": {"n": 1}});
        // Offered before the write (at the revision it will get), so it surely precedes the event.
        let revision = cache.revision() + 1;
        let mut written = pod.clone();
        object::as_stored_at(&mut written, revision);
        let written = Arc::new(written);
        cache.offer("/registry/pods/d/a", revision, written.clone());
        let kv = store.create("/registry/pods/d/a", object::encode(&pod).unwrap()).await.unwrap();
        assert_eq!(kv.mod_revision, revision);
        applied(&cache, revision).await;
        let cached = cache.get("/registry/pods/d/a").unwrap();
        assert!(Arc::ptr_eq(&cached.value, &written), "the offered object is the cached one");
        assert_eq!(*cached.value, object::decode(&kv).unwrap());
        assert_eq!(serde_json::from_slice::<Value>(&cached.json).unwrap(), *cached.value);
        assert!(cache.offered.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_late_or_stale_offer_is_never_kept_or_taken() {
        let (_dir, store, cache) = cache().await;
        let pod = serde_json::json!({"kind": "Pod", "metadata": {"name": "a"}});
        let kv = store.create("/registry/pods/d/a", object::encode(&pod).unwrap()).await.unwrap();
        applied(&cache, kv.mod_revision).await;
        // After its event: dropped.
        cache.offer("/registry/pods/d/a", kv.mod_revision, Arc::new(serde_json::json!({"wrong": true})));
        assert!(cache.offered.lock().unwrap().is_empty());
        // An offer for an older revision of the key is not taken for a newer event: dropped.
        cache.offered.lock().unwrap().insert("/registry/pods/d/a".into(), (kv.mod_revision, Arc::new(serde_json::json!({"wrong": true}))));
        let next = store.update("/registry/pods/d/a", object::encode(&pod).unwrap(), kv.mod_revision).await.unwrap();
        applied(&cache, next.mod_revision).await;
        assert_eq!(*cache.get("/registry/pods/d/a").unwrap().value, object::decode(&next).unwrap());
        assert!(cache.offered.lock().unwrap().is_empty());
        // An offer for a newer revision of the key waits past an older event.
        cache.offered.lock().unwrap().insert("/registry/pods/d/a".into(), (next.mod_revision + 2, Arc::new(serde_json::json!({"later": true}))));
        let third = store.update("/registry/pods/d/a", object::encode(&pod).unwrap(), next.mod_revision).await.unwrap();
        applied(&cache, third.mod_revision).await;
        assert_eq!(*cache.get("/registry/pods/d/a").unwrap().value, object::decode(&third).unwrap());
        assert_eq!(cache.offered.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_namespace_read_waits_for_this_servers_own_namespace_write() {
        let (_dir, store, cache) = cache().await;
        let ns = serde_json::json!({"kind": "Namespace", "metadata": {"name": "n"}});
        let kv = store.create("/registry/namespaces/n", object::encode(&ns).unwrap()).await.unwrap();
        cache.wrote("/registry/namespaces/n", kv.mod_revision);
        let got = cache.namespace("/registry/namespaces/n", Duration::from_secs(5)).await.expect("seen once the cache applied the write");
        assert_eq!(got.mod_revision, kv.mod_revision);
    }
}
