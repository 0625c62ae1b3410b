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
//! **Written objects are not parsed back.** Before it writes, the write path hands the cache
//! the object with the exact bytes it is about to store ([`WatchCache::offer`]). When the
//! event of that key comes with those bytes, the cache stamps the offered object with the
//! event's revision instead of decoding the bytes; any other event of the key drops the
//! offer. Matching on the bytes, not on timing, makes an offer right whatever the order of
//! writes, replies and events.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use serde_json::Value;
use tokio::sync::{broadcast, mpsc, watch};

use crate::error::{ApiError, ApiResult};
use crate::object;
use crate::store::{KeyValue, ListOptions, Revision, Store, StoreError, StoreEvent};

/// Where the store keeps namespaces.
const NAMESPACES: &str = "/registry/namespaces/";
/// Offers waiting for their events, at most (see [`WatchCache::offer`]).
const MAX_OFFERS: usize = 16_384;
/// Events kept for watchers that resume from a recent revision.
const HISTORY_LIMIT: usize = 100_000;
/// Events buffered per slow watcher before it is closed (it then relists).
const BROADCAST_BUFFER: usize = 100_000;

/// An object as the cache holds it: parsed, and serialized with its resourceVersion once
/// something sends it.
#[derive(Debug)]
pub struct CachedObject {
    pub key: String,
    /// Shared, so that in-process readers (the controllers' feed) take it without a copy.
    pub value: Arc<Value>,
    json: OnceLock<Bytes>,
    pub mod_revision: Revision,
}

impl CachedObject {
    fn from_bytes(key: &str, bytes: &[u8], revision: Revision) -> Result<CachedObject, String> {
        let value = object::decode_at(bytes, revision).map_err(|e| e.message)?;
        Ok(CachedObject::from_value(key.to_string(), Arc::new(value), revision))
    }

    /// An object already parsed and stamped with `revision`.
    pub fn from_value(key: String, value: Arc<Value>, revision: Revision) -> CachedObject {
        CachedObject { key, value, json: OnceLock::new(), mod_revision: revision }
    }

    /// The object as JSON, serialized on first use: most objects are only read in process
    /// (by the controllers' feed), and those sent are serialized once for every watcher.
    pub fn json(&self) -> &Bytes {
        self.json.get_or_init(|| Bytes::from(serde_json::to_vec(&*self.value).expect("a JSON value serializes")))
    }
}

/// An object about to be written: the bytes it is stored as, and itself, parsed.
struct Offer {
    bytes: Bytes,
    value: Value,
}

/// A store event as the cache applies it: the object put (`None` if it did not decode), or
/// the key deleted.
enum Change {
    Put(Option<CachedObject>),
    Delete(String),
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

impl CacheEvent {
    /// The deletion of `prev` at `revision`: its last state, stamped with that revision.
    fn deleted(key: String, prev: Arc<CachedObject>, revision: Revision) -> CacheEvent {
        let mut last = Value::clone(&prev.value);
        object::stamp_revision(&mut last, revision);
        let object = Arc::new(CachedObject::from_value(key, Arc::new(last), revision));
        CacheEvent { kind: EventType::Deleted, object, prev: Some(prev), revision }
    }
}

struct CacheState {
    objects: BTreeMap<String, Arc<CachedObject>>,
    revision: Revision,
    history: VecDeque<Arc<CacheEvent>>,
    /// Every event with a revision above this one is in `history`.
    history_floor: Revision,
}

/// One revision's events, as lossless subscribers get them.
pub type RevisionEvents = Vec<Arc<CacheEvent>>;

/// What a relist changed, as events at its revision: objects added, modified (by their
/// revision) and deleted (their last state stamped with the list's revision).
fn differences(old: &BTreeMap<String, Arc<CachedObject>>, new: &BTreeMap<String, Arc<CachedObject>>, revision: Revision) -> RevisionEvents {
    let mut out = Vec::new();
    for (key, object) in new {
        match old.get(key) {
            Some(prev) if prev.mod_revision == object.mod_revision => {}
            prev => {
                let kind = if prev.is_some() { EventType::Modified } else { EventType::Added };
                out.push(Arc::new(CacheEvent { kind, object: object.clone(), prev: prev.cloned(), revision }));
            }
        }
    }
    for (key, prev) in old.iter().filter(|(k, _)| !new.contains_key(*k)) {
        out.push(Arc::new(CacheEvent::deleted(key.clone(), prev.clone(), revision)));
    }
    out
}

/// The shared cache.
pub struct WatchCache {
    state: RwLock<CacheState>,
    /// Objects the write path is storing, by key, with the bytes it stores (see the module doc).
    offered: Mutex<HashMap<String, Offer>>,
    /// The newest revision this server wrote a namespace at: admission reads namespaces from
    /// the cache once it has applied that write (see [`WatchCache::namespace`]).
    namespaces_written: AtomicU64,
    /// The watchers' broadcast; replaced at a relist, which ends every watch on it (as
    /// upstream's cacher terminates its watchers when it reinitializes), so that a watcher
    /// resumes (from a revision now before history: 410 Gone, then a relist) instead of going
    /// on without the changes the relist skipped.
    events: RwLock<broadcast::Sender<Arc<CacheEvent>>>,
    /// Subscribers that must never miss an event (the in-process controllers): unbounded, so
    /// one that falls behind holds the events it has not taken instead of losing them.
    lossless: Mutex<Vec<mpsc::UnboundedSender<RevisionEvents>>>,
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
            events: RwLock::new(events),
            lossless: Mutex::new(Vec::new()),
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
        // The list may stand for the events the offers wait for.
        self.offered.lock().expect("offers lock").clear();
        // Lossless subscribers (the in-process controllers' feed) get what changed as one
        // batch at the list's revision, so they stay equal to the cache.
        let changes = differences(&state.objects, &objects, page.revision);
        if !changes.is_empty() {
            self.lossless.lock().expect("lossless lock").retain(|subscriber| subscriber.send(changes.clone()).is_ok());
        }
        *self.events.write().expect("events lock") = broadcast::channel(BROADCAST_BUFFER).0;
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

    /// Hands the cache `value`, which is about to be stored at `key` as `bytes` (its
    /// [`object::encode`]), so that the cache need not parse the bytes back when the event
    /// comes. The last offer for a key stands.
    fn offer(&self, key: &str, bytes: &Bytes, value: Value) {
        let offer = Offer { bytes: bytes.clone(), value };
        let mut offered = self.offered.lock().expect("offers lock");
        // An offer whose write never happened (its request was cancelled before the store
        // took it) waits for the key's next event; this bounds how many can wait. Offers are
        // only a saving, so dropping them all is safe.
        if offered.len() >= MAX_OFFERS {
            offered.clear();
        }
        offered.insert(key.to_string(), offer);
    }

    /// Runs `write`, the store's create or update of `bytes` at `key`, with `value` offered
    /// for it: the one way the write path stores an object. The offer is withdrawn if the
    /// write fails, and the write recorded ([`WatchCache::wrote`]) if it succeeds.
    pub async fn write_offered(
        &self,
        key: &str,
        bytes: &Bytes,
        value: Value,
        write: impl std::future::Future<Output = Result<KeyValue, StoreError>>,
    ) -> Result<KeyValue, StoreError> {
        self.offer(key, bytes, value);
        let written = write.await;
        match &written {
            Ok(kv) => self.wrote(key, kv.mod_revision),
            Err(_) => self.withdraw(key, bytes),
        }
        written
    }

    /// Withdraws an offer whose write failed.
    fn withdraw(&self, key: &str, bytes: &Bytes) {
        let mut offered = self.offered.lock().expect("offers lock");
        if offered.get(key).is_some_and(|o| o.bytes == *bytes) {
            offered.remove(key);
        }
    }

    /// Records that this server wrote (or deleted) `key` at `revision`.
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

    /// The offered object for an event of `key`, stamped with `revision`, when it was
    /// offered with the event's `bytes`; any offer for the key goes.
    fn take_offer(&self, key: &str, bytes: Option<&Bytes>, revision: Revision) -> Option<Value> {
        let offer = self.offered.lock().expect("offers lock").remove(key)?;
        bytes.filter(|b| **b == offer.bytes)?;
        let mut value = offer.value;
        object::as_stored_at(&mut value, revision);
        Some(value)
    }

    fn apply(&self, event: StoreEvent) {
        let revision = event.revision();
        // A put is parsed (or taken from its offer) before the lock: readers wait only for
        // the map and history updates.
        let change = match event {
            StoreEvent::Put { kv, .. } => {
                let parsed = match self.take_offer(&kv.key, Some(&kv.value), revision) {
                    Some(value) => Ok(CachedObject::from_value(kv.key.clone(), Arc::new(value), kv.mod_revision)),
                    None => CachedObject::from_bytes(&kv.key, &kv.value, kv.mod_revision),
                };
                Change::Put(parsed.map_err(|e| tracing::warn!(key = %kv.key, error = %e, "skipping undecodable object")).ok())
            }
            StoreEvent::Delete { key, .. } => {
                self.take_offer(&key, None, revision);
                Change::Delete(key)
            }
        };
        let mut state = self.state.write().expect("cache lock");
        let cache_event = match change {
            Change::Put(Some(o)) => {
                let object = Arc::new(o);
                let prev = state.objects.insert(object.key.clone(), object.clone());
                let kind = if prev.is_some() { EventType::Modified } else { EventType::Added };
                Some(CacheEvent { kind, object, prev, revision })
            }
            Change::Put(None) => None,
            Change::Delete(key) => state.objects.remove(&key).map(|prev| CacheEvent::deleted(key, prev, revision)),
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
            self.lossless.lock().expect("lossless lock").retain(|subscriber| subscriber.send(vec![event.clone()]).is_ok());
            let _ = self.events.read().expect("events lock").send(event);
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
        let live = self.events.read().expect("events lock").subscribe();
        Some(Subscription { backlog, live })
    }

    /// The events after `revision` whose keys start with `prefix`, oldest first, found from
    /// the newest back (so the cost is the events since `revision`); None when history no
    /// longer reaches back that far, or when more than `at_most` events came since.
    pub fn events_after(&self, prefix: &str, revision: Revision, at_most: usize) -> Option<Vec<Arc<CacheEvent>>> {
        let state = self.state.read().expect("cache lock");
        if revision < state.history_floor {
            return None;
        }
        let since = state.history.iter().rev().take_while(|e| e.revision > revision);
        let mut events = Vec::new();
        for (seen, e) in since.enumerate() {
            if seen >= at_most {
                return None;
            }
            if e.object.key.starts_with(prefix) {
                events.push(e.clone());
            }
        }
        events.reverse();
        Some(events)
    }

    /// Subscribes at the current state: the objects under `prefix` now, and a live feed after.
    pub fn subscribe_with_state(&self, prefix: &str) -> (Vec<Arc<CachedObject>>, Revision, broadcast::Receiver<Arc<CacheEvent>>) {
        let state = self.state.read().expect("cache lock");
        let items = state.objects.range(prefix.to_string()..).take_while(|(k, _)| k.starts_with(prefix)).map(|(_, v)| v.clone()).collect();
        (items, state.revision, self.events.read().expect("events lock").subscribe())
    }

    /// As [`WatchCache::subscribe_with_state`], but the live feed never lags: every event after
    /// the state arrives, however far behind the subscriber falls. Each message is one
    /// revision's events: one store event, or after a relist everything the list changed.
    pub fn subscribe_lossless_with_state(&self, prefix: &str) -> (Vec<Arc<CachedObject>>, Revision, mpsc::UnboundedReceiver<RevisionEvents>) {
        let state = self.state.read().expect("cache lock");
        let items = state.objects.range(prefix.to_string()..).take_while(|(k, _)| k.starts_with(prefix)).map(|(_, v)| v.clone()).collect();
        // Registered under the state's lock, which every event is sent under: no event is
        // both in the state and missing from the feed, nor missing from both.
        let (tx, rx) = mpsc::unbounded_channel();
        self.lossless.lock().expect("lossless lock").push(tx);
        (items, state.revision, rx)
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

    fn pod(n: i64) -> Value {
        serde_json::json!({"kind": "Pod", "metadata": {"name": "a", "namespace": "d", "resourceVersion": "3", "selfLink": "/x"}, "spec": {"n": n}})
    }

    #[test]
    fn a_relist_tells_lossless_subscribers_what_it_changed() {
        let object = |key: &str, revision: Revision| Arc::new(CachedObject::from_value(key.to_string(), Arc::new(pod(revision as i64)), revision));
        let map = |objects: Vec<Arc<CachedObject>>| objects.into_iter().map(|o| (o.key.clone(), o)).collect::<BTreeMap<_, _>>();
        let old = map(vec![object("a", 1), object("b", 2), object("c", 3)]);
        let new = map(vec![object("a", 1), object("b", 5), object("d", 6)]);
        let changes = differences(&old, &new, 9);
        let seen: Vec<(EventType, &str, Option<Revision>, Revision)> =
            changes.iter().map(|e| (e.kind, e.object.key.as_str(), e.prev.as_ref().map(|p| p.mod_revision), e.revision)).collect();
        assert_eq!(seen, vec![(EventType::Modified, "b", Some(2), 9), (EventType::Added, "d", None, 9), (EventType::Deleted, "c", Some(3), 9)]);
        assert_eq!(changes[2].object.value["metadata"]["resourceVersion"], "9", "a deletion carries the last state at the list's revision");
    }

    /// A relist (the cache's watch fell behind compaction) tells the in-process feed what it
    /// changed, as one revision's events, and ends every HTTP watch on the cache.
    #[tokio::test]
    async fn a_relist_feeds_its_changes_and_ends_the_watches() {
        let (_dir, store, cache) = cache().await;
        let kv = store.create("/registry/pods/d/a", object::encode(&pod(1)).unwrap()).await.unwrap();
        applied(&cache, kv.mod_revision).await;
        let (_, _, mut watch) = cache.subscribe_with_state("/registry/pods/");
        let (_, _, mut feed) = cache.subscribe_lossless_with_state("/registry/");
        // An object whose deletion the cache missed.
        let missed = Arc::new(CachedObject::from_value("/registry/pods/d/gone".into(), Arc::new(pod(7)), 1));
        cache.state.write().unwrap().objects.insert(missed.key.clone(), missed);
        let at = cache.relist(store.as_ref()).await.unwrap();
        let changes = feed.try_recv().unwrap();
        let seen: Vec<(EventType, &str, Revision)> = changes.iter().map(|e| (e.kind, e.object.key.as_str(), e.revision)).collect();
        assert_eq!(seen, vec![(EventType::Deleted, "/registry/pods/d/gone", at)]);
        assert!(matches!(watch.recv().await, Err(broadcast::error::RecvError::Closed)), "the watch ends");
        assert!(cache.subscribe_after("/registry/pods/", kv.mod_revision - 1).is_none(), "history starts at the relist");
    }

    #[tokio::test]
    async fn a_lossless_subscriber_gets_every_event_after_its_state_and_goes_when_dropped() {
        let (_dir, store, cache) = cache().await;
        let first = store.create("/registry/pods/d/a", object::encode(&pod(1)).unwrap()).await.unwrap();
        applied(&cache, first.mod_revision).await;
        let (items, at, mut live) = cache.subscribe_lossless_with_state("/registry/pods/");
        assert_eq!((items.len(), at), (1, first.mod_revision));
        let mut revisions = Vec::new();
        for n in 2..5 {
            let kv = store.create(&format!("/registry/pods/d/p{n}"), object::encode(&pod(n)).unwrap()).await.unwrap();
            revisions.push(kv.mod_revision);
        }
        applied(&cache, *revisions.last().unwrap()).await;
        let mut got = Vec::new();
        while let Ok(events) = live.try_recv() {
            got.extend(events.iter().map(|e| e.revision));
        }
        assert_eq!(got, revisions, "every event after the state, once, in order");
        drop(live);
        let kv = store.create("/registry/pods/d/p9", object::encode(&pod(9)).unwrap()).await.unwrap();
        applied(&cache, kv.mod_revision).await;
        assert!(cache.lossless.lock().unwrap().is_empty(), "a dropped subscriber is forgotten at the next event");
    }

    #[tokio::test]
    async fn an_offered_object_is_taken_stamped_and_equals_the_stored_one() {
        let (_dir, store, cache) = cache().await;
        let bytes = object::encode(&pod(1)).unwrap();
        // A marker the stored bytes do not have: seen only if the offer was taken.
        let mut offered = pod(1);
        offered["status"] = serde_json::json!({"marker": true});
        cache.offer("/registry/pods/d/a", &bytes, offered);
        let kv = store.create("/registry/pods/d/a", bytes).await.unwrap();
        applied(&cache, kv.mod_revision).await;
        let cached = cache.get("/registry/pods/d/a").unwrap();
        assert_eq!(cached.value["status"]["marker"], true, "the offer was taken");
        let mut expected = object::decode(&kv).unwrap();
        expected["status"] = serde_json::json!({"marker": true});
        assert_eq!(*cached.value, expected, "stamped as the stored bytes decode");
        assert_eq!(serde_json::from_slice::<Value>(cached.json()).unwrap(), *cached.value);
        assert!(cache.offered.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn an_offer_is_taken_only_for_its_bytes_and_any_event_of_the_key_ends_it() {
        let (_dir, store, cache) = cache().await;
        let kv = store.create("/registry/pods/d/a", object::encode(&pod(1)).unwrap()).await.unwrap();
        applied(&cache, kv.mod_revision).await;
        // Offered for other bytes than the write's: the event is decoded, and the offer goes.
        let mut wrong = pod(2);
        wrong["status"] = serde_json::json!({"marker": true});
        cache.offer("/registry/pods/d/a", &object::encode(&pod(2)).unwrap(), wrong.clone());
        let next = store.update("/registry/pods/d/a", object::encode(&pod(3)).unwrap(), kv.mod_revision).await.unwrap();
        applied(&cache, next.mod_revision).await;
        assert_eq!(*cache.get("/registry/pods/d/a").unwrap().value, object::decode(&next).unwrap());
        assert!(cache.offered.lock().unwrap().is_empty());
        // A withdrawn offer is gone; a delete ends an offer too.
        let bytes = object::encode(&pod(4)).unwrap();
        cache.offer("/registry/pods/d/a", &bytes, wrong.clone());
        cache.withdraw("/registry/pods/d/a", &bytes);
        assert!(cache.offered.lock().unwrap().is_empty());
        cache.offer("/registry/pods/d/a", &bytes, wrong);
        let (_, gone) = store.delete("/registry/pods/d/a", None).await.unwrap();
        applied(&cache, gone).await;
        assert!(cache.get("/registry/pods/d/a").is_none());
        assert!(cache.offered.lock().unwrap().is_empty());
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
