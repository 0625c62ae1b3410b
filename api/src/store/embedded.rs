//! The embedded store: redb on local disk, with group commit.
//!
//! One writer thread takes every queued write, applies them in order in a single redb write
//! transaction (each write gets its own revision), commits once with fsync, and only then
//! answers the writers and publishes the events. An acknowledged write therefore survives
//! `kill -9`, and concurrent writers share one fsync.
//!
//! Tables:
//! - `kv`: key → current record (create revision, mod revision, value), for fast current reads;
//! - `history`: (key, revision) → record or tombstone, for reads at older revisions;
//! - `log`: revision → key, the change log that watches replay;
//! - `meta`: the current and compacted revisions.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};

use async_trait::async_trait;
use bytes::Bytes;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use tokio::sync::{broadcast, oneshot};

use super::{KeyValue, ListOptions, ListPage, Revision, Store, StoreError, StoreEvent, StoreResult, WatchStream};

const KV: TableDefinition<&str, &[u8]> = TableDefinition::new("kv");
const HISTORY: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("history");
const LOG: TableDefinition<u64, &str> = TableDefinition::new("log");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

const META_REVISION: &str = "revision";
const META_COMPACTED: &str = "compacted";

/// Most writes folded into one commit; bounds the latency of the first writer in a group.
const MAX_GROUP: usize = 4096;
/// Events buffered for live watchers before a slow watcher is dropped with `WatchLagged`.
const WATCH_BUFFER: usize = 1 << 16;

/// A record in `kv` and `history`: create revision, a tombstone flag, then the value.
fn encode_record(create_revision: Revision, value: Option<&[u8]>) -> Vec<u8> {
    let mut out = Vec::with_capacity(9 + value.map_or(0, |v| v.len()));
    out.extend_from_slice(&create_revision.to_be_bytes());
    out.push(u8::from(value.is_some()));
    if let Some(v) = value {
        out.extend_from_slice(v);
    }
    out
}

/// Decodes a record into (create revision, value or None for a tombstone).
fn decode_record(bytes: &[u8]) -> StoreResult<(Revision, Option<Bytes>)> {
    if bytes.len() < 9 {
        return Err(StoreError::Backend("corrupt record: too short".into()));
    }
    let create = u64::from_be_bytes(bytes[..8].try_into().expect("eight bytes"));
    let value = (bytes[8] == 1).then(|| Bytes::copy_from_slice(&bytes[9..]));
    Ok((create, value))
}

fn backend<E: std::fmt::Display>(e: E) -> StoreError {
    StoreError::Backend(e.to_string())
}

enum WriteOp {
    Create { key: String, value: Bytes },
    Update { key: String, value: Bytes, expected: Revision },
    Delete { key: String, expected: Option<Revision> },
    Compact { revision: Revision },
}

enum WriteOutcome {
    Written(KeyValue),
    Deleted(KeyValue, Revision),
    Compacted,
}

struct WriteRequest {
    op: WriteOp,
    reply: oneshot::Sender<StoreResult<WriteOutcome>>,
}

/// The embedded, durable store.
pub struct EmbeddedStore {
    db: Arc<Database>,
    writes: mpsc::Sender<WriteRequest>,
    events: broadcast::Sender<Arc<StoreEvent>>,
    revision: Arc<AtomicU64>,
    compacted: Arc<AtomicU64>,
}

impl EmbeddedStore {
    /// Opens (or creates) the database file at `path` and starts the writer thread.
    pub fn open(path: &Path) -> StoreResult<EmbeddedStore> {
        let db = Database::create(path).map_err(backend)?;
        let txn = db.begin_write().map_err(backend)?;
        let (revision, compacted) = {
            txn.open_table(KV).map_err(backend)?;
            txn.open_table(HISTORY).map_err(backend)?;
            txn.open_table(LOG).map_err(backend)?;
            let meta = txn.open_table(META).map_err(backend)?;
            let rev = meta.get(META_REVISION).map_err(backend)?.map_or(0, |v| v.value());
            let comp = meta.get(META_COMPACTED).map_err(backend)?.map_or(0, |v| v.value());
            (rev, comp)
        };
        txn.commit().map_err(backend)?;

        let db = Arc::new(db);
        let (events, _) = broadcast::channel(WATCH_BUFFER);
        let revision = Arc::new(AtomicU64::new(revision));
        let compacted = Arc::new(AtomicU64::new(compacted));
        let (writes, queue) = mpsc::channel();
        let writer = Writer { db: db.clone(), events: events.clone(), revision: revision.clone(), compacted: compacted.clone() };
        std::thread::Builder::new().name("store-writer".into()).spawn(move || writer.run(queue)).map_err(backend)?;
        Ok(EmbeddedStore { db, writes, events, revision, compacted })
    }

    async fn submit(&self, op: WriteOp) -> StoreResult<WriteOutcome> {
        let (reply, answer) = oneshot::channel();
        self.writes.send(WriteRequest { op, reply }).map_err(|_| StoreError::Backend("store writer stopped".into()))?;
        answer.await.map_err(|_| StoreError::Backend("store writer stopped".into()))?
    }

    async fn read<T: Send + 'static>(&self, f: impl FnOnce(&Database) -> StoreResult<T> + Send + 'static) -> StoreResult<T> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || f(&db)).await.map_err(backend)?
    }
}

/// The value of `key` just before `revision`, from history.
fn value_before(history: &impl ReadableTable<(&'static str, u64), &'static [u8]>, key: &str, revision: Revision) -> StoreResult<Option<KeyValue>> {
    let mut range = history.range((key, 0)..(key, revision)).map_err(backend)?;
    match range.next_back() {
        Some(entry) => {
            let (k, v) = entry.map_err(backend)?;
            let mod_revision = k.value().1;
            let (create_revision, value) = decode_record(v.value())?;
            Ok(value.map(|value| KeyValue { key: key.to_string(), value, create_revision, mod_revision }))
        }
        None => Ok(None),
    }
}

/// Replays the log after `after` for keys under `prefix`.
fn replay(db: &Database, prefix: &str, after: Revision) -> StoreResult<Vec<StoreEvent>> {
    let txn = db.begin_read().map_err(backend)?;
    let log = txn.open_table(LOG).map_err(backend)?;
    let history = txn.open_table(HISTORY).map_err(backend)?;
    let mut out = Vec::new();
    for entry in log.range(after + 1..).map_err(backend)? {
        let (rev, key) = entry.map_err(backend)?;
        let (rev, key) = (rev.value(), key.value());
        if !key.starts_with(prefix) {
            continue;
        }
        let record = history.get((key, rev)).map_err(backend)?.ok_or_else(|| StoreError::Backend(format!("log names {key}@{rev} with no history")))?;
        let (create_revision, value) = decode_record(record.value())?;
        let prev = value_before(&history, key, rev)?;
        out.push(match value {
            Some(value) => StoreEvent::Put { kv: KeyValue { key: key.to_string(), value, create_revision, mod_revision: rev }, prev },
            None => StoreEvent::Delete { key: key.to_string(), revision: rev, prev },
        });
    }
    Ok(out)
}

#[async_trait]
impl Store for EmbeddedStore {
    async fn get(&self, key: &str) -> StoreResult<(Option<KeyValue>, Revision)> {
        let key = key.to_string();
        self.read(move |db| {
            let txn = db.begin_read().map_err(backend)?;
            let kv = txn.open_table(KV).map_err(backend)?;
            let meta = txn.open_table(META).map_err(backend)?;
            let rev = meta.get(META_REVISION).map_err(backend)?.map_or(0, |v| v.value());
            let Some(record) = kv.get(key.as_str()).map_err(backend)? else {
                return Ok((None, rev));
            };
            Ok((Some(decode_current(&key, record.value())?), rev))
        })
        .await
    }

    async fn list(&self, prefix: &str, options: ListOptions) -> StoreResult<ListPage> {
        let prefix = prefix.to_string();
        let current = self.revision.load(Ordering::Acquire);
        let compacted = self.compacted.load(Ordering::Acquire);
        if let Some(r) = options.revision {
            if r > current {
                return Err(StoreError::FutureRevision { requested: r, current });
            }
            if r < compacted {
                return Err(StoreError::Compacted { requested: r, compacted });
            }
        }
        self.read(move |db| {
            let txn = db.begin_read().map_err(backend)?;
            let meta = txn.open_table(META).map_err(backend)?;
            let now = meta.get(META_REVISION).map_err(backend)?.map_or(0, |v| v.value());
            let at = options.revision.unwrap_or(now);
            let limit = if options.limit == 0 { usize::MAX } else { options.limit };
            let end = String::from_utf8(super::prefix_end(&prefix)).map_err(backend)?;
            let start = options.start_after.clone().unwrap_or_default();
            let mut items = Vec::new();
            let mut more = false;
            if at == now {
                let kv = txn.open_table(KV).map_err(backend)?;
                let lower = if start.as_str() > prefix.as_str() { start.as_str() } else { prefix.as_str() };
                for entry in kv.range(lower..end.as_str()).map_err(backend)? {
                    let (k, v) = entry.map_err(backend)?;
                    if options.start_after.as_deref() == Some(k.value()) {
                        continue;
                    }
                    if items.len() == limit {
                        more = true;
                        break;
                    }
                    items.push(decode_current(k.value(), v.value())?);
                }
            } else {
                let history = txn.open_table(HISTORY).map_err(backend)?;
                let lower = if start.as_str() > prefix.as_str() { start.as_str() } else { prefix.as_str() };
                // For each key, the newest history entry at or before `at` decides its state.
                let mut pending: Option<KeyValue> = None;
                let mut pending_key: Option<String> = None;
                for entry in history.range((lower, 0)..(end.as_str(), 0)).map_err(backend)? {
                    let (k, v) = entry.map_err(backend)?;
                    let (key, rev) = k.value();
                    if options.start_after.as_deref() == Some(key) || rev > at {
                        continue;
                    }
                    if pending_key.as_deref() != Some(key) {
                        if let Some(done) = pending.take() {
                            if items.len() == limit {
                                more = true;
                                break;
                            }
                            items.push(done);
                        }
                        pending_key = Some(key.to_string());
                    }
                    let (create_revision, value) = decode_record(v.value())?;
                    pending = value.map(|value| KeyValue { key: key.to_string(), value, create_revision, mod_revision: rev });
                }
                if !more {
                    if let Some(done) = pending.take() {
                        if items.len() == limit {
                            more = true;
                        } else {
                            items.push(done);
                        }
                    }
                }
            }
            Ok(ListPage { items, revision: at, more })
        })
        .await
    }

    async fn create(&self, key: &str, value: Bytes) -> StoreResult<KeyValue> {
        match self.submit(WriteOp::Create { key: key.to_string(), value }).await? {
            WriteOutcome::Written(kv) => Ok(kv),
            _ => unreachable!("create answers with Written"),
        }
    }

    async fn update(&self, key: &str, value: Bytes, expected: Revision) -> StoreResult<KeyValue> {
        match self.submit(WriteOp::Update { key: key.to_string(), value, expected }).await? {
            WriteOutcome::Written(kv) => Ok(kv),
            _ => unreachable!("update answers with Written"),
        }
    }

    async fn delete(&self, key: &str, expected: Option<Revision>) -> StoreResult<(KeyValue, Revision)> {
        match self.submit(WriteOp::Delete { key: key.to_string(), expected }).await? {
            WriteOutcome::Deleted(kv, rev) => Ok((kv, rev)),
            _ => unreachable!("delete answers with Deleted"),
        }
    }

    async fn watch(&self, prefix: &str, after: Revision) -> StoreResult<WatchStream> {
        let compacted = self.compacted.load(Ordering::Acquire);
        if after + 1 < compacted {
            return Err(StoreError::Compacted { requested: after, compacted });
        }
        // Subscribe before replaying so that no event falls between the two.
        let live = self.events.subscribe();
        let owned_prefix = prefix.to_string();
        let replayed = self.read(move |db| replay(db, &owned_prefix, after)).await?;
        let last = replayed.last().map_or(after, StoreEvent::revision);
        let stream = live_after_replay(replayed, live, prefix.to_string(), last);
        Ok(stream)
    }

    async fn current_revision(&self) -> StoreResult<Revision> {
        Ok(self.revision.load(Ordering::Acquire))
    }

    async fn compact(&self, revision: Revision) -> StoreResult<()> {
        self.submit(WriteOp::Compact { revision }).await.map(|_| ())
    }

    fn backend_name(&self) -> &'static str {
        "embedded"
    }
}

/// Yields the replayed events, then live events under `prefix` newer than `last`, ending
/// after the first error (a lagging watcher is told to relist rather than buffered forever).
fn live_after_replay(replayed: Vec<StoreEvent>, live: broadcast::Receiver<Arc<StoreEvent>>, prefix: String, last: Revision) -> WatchStream {
    use futures::StreamExt;
    let head = futures::stream::iter(replayed.into_iter().map(Ok));
    let tail = futures::stream::unfold(Some((live, last)), move |state| {
        let prefix = prefix.clone();
        async move {
            let (mut live, mut last) = state?;
            loop {
                match live.recv().await {
                    Ok(event) => {
                        if event.revision() <= last || !event.key().starts_with(&prefix) {
                            continue;
                        }
                        last = event.revision();
                        return Some((Ok((*event).clone()), Some((live, last))));
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => return Some((Err(StoreError::WatchLagged), None)),
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        }
    });
    Box::pin(head.chain(tail))
}

fn decode_current(key: &str, bytes: &[u8]) -> StoreResult<KeyValue> {
    if bytes.len() < 17 {
        return Err(StoreError::Backend(format!("corrupt current record for {key}")));
    }
    let create_revision = u64::from_be_bytes(bytes[..8].try_into().expect("eight bytes"));
    let mod_revision = u64::from_be_bytes(bytes[8..16].try_into().expect("eight bytes"));
    Ok(KeyValue { key: key.to_string(), value: Bytes::copy_from_slice(&bytes[17..]), create_revision, mod_revision })
}

fn encode_current(create_revision: Revision, mod_revision: Revision, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(17 + value.len());
    out.extend_from_slice(&create_revision.to_be_bytes());
    out.extend_from_slice(&mod_revision.to_be_bytes());
    out.push(1);
    out.extend_from_slice(value);
    out
}

/// The single writer: drains the queue into one transaction per group, commits, then answers.
struct Writer {
    db: Arc<Database>,
    events: broadcast::Sender<Arc<StoreEvent>>,
    revision: Arc<AtomicU64>,
    compacted: Arc<AtomicU64>,
}

impl Writer {
    fn run(self, queue: mpsc::Receiver<WriteRequest>) {
        while let Ok(first) = queue.recv() {
            let mut group = vec![first];
            while group.len() < MAX_GROUP {
                match queue.try_recv() {
                    Ok(more) => group.push(more),
                    Err(_) => break,
                }
            }
            self.commit_group(group);
        }
    }

    fn commit_group(&self, group: Vec<WriteRequest>) {
        let result = self.apply_group(&group);
        match result {
            Ok((outcomes, events, revision, compacted)) => {
                self.revision.store(revision, Ordering::Release);
                self.compacted.store(compacted, Ordering::Release);
                for (request, outcome) in group.into_iter().zip(outcomes) {
                    let _ = request.reply.send(outcome);
                }
                for event in events {
                    // No receivers is fine: nobody is watching.
                    let _ = self.events.send(Arc::new(event));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "store group commit failed");
                for request in group {
                    let _ = request.reply.send(Err(e.clone()));
                }
            }
        }
    }

    #[allow(clippy::type_complexity)]
    fn apply_group(&self, group: &[WriteRequest]) -> StoreResult<(Vec<StoreResult<WriteOutcome>>, Vec<StoreEvent>, Revision, Revision)> {
        let txn = self.db.begin_write().map_err(backend)?;
        let mut outcomes = Vec::with_capacity(group.len());
        let mut events = Vec::new();
        let (revision, compacted);
        {
            let mut kv = txn.open_table(KV).map_err(backend)?;
            let mut history = txn.open_table(HISTORY).map_err(backend)?;
            let mut log = txn.open_table(LOG).map_err(backend)?;
            let mut meta = txn.open_table(META).map_err(backend)?;
            let mut rev = meta.get(META_REVISION).map_err(backend)?.map_or(0, |v| v.value());
            let mut comp = meta.get(META_COMPACTED).map_err(backend)?.map_or(0, |v| v.value());
            for request in group {
                let current = |kv: &redb::Table<&str, &[u8]>, key: &str| -> StoreResult<Option<KeyValue>> {
                    kv.get(key).map_err(backend)?.map(|r| decode_current(key, r.value())).transpose()
                };
                let outcome = match &request.op {
                    WriteOp::Create { key, value } => match current(&kv, key)? {
                        Some(_) => Err(StoreError::AlreadyExists(key.clone())),
                        None => {
                            rev += 1;
                            kv.insert(key.as_str(), encode_current(rev, rev, value).as_slice()).map_err(backend)?;
                            history.insert((key.as_str(), rev), encode_record(rev, Some(value)).as_slice()).map_err(backend)?;
                            log.insert(rev, key.as_str()).map_err(backend)?;
                            let new = KeyValue { key: key.clone(), value: value.clone(), create_revision: rev, mod_revision: rev };
                            events.push(StoreEvent::Put { kv: new.clone(), prev: None });
                            Ok(WriteOutcome::Written(new))
                        }
                    },
                    WriteOp::Update { key, value, expected } => match current(&kv, key)? {
                        None => Err(StoreError::NotFound(key.clone())),
                        Some(old) if old.mod_revision != *expected => {
                            Err(StoreError::Conflict { key: key.clone(), expected: *expected, found: old.mod_revision })
                        }
                        Some(old) => {
                            rev += 1;
                            kv.insert(key.as_str(), encode_current(old.create_revision, rev, value).as_slice()).map_err(backend)?;
                            history.insert((key.as_str(), rev), encode_record(old.create_revision, Some(value)).as_slice()).map_err(backend)?;
                            log.insert(rev, key.as_str()).map_err(backend)?;
                            let new = KeyValue { key: key.clone(), value: value.clone(), create_revision: old.create_revision, mod_revision: rev };
                            events.push(StoreEvent::Put { kv: new.clone(), prev: Some(old) });
                            Ok(WriteOutcome::Written(new))
                        }
                    },
                    WriteOp::Delete { key, expected } => match current(&kv, key)? {
                        None => Err(StoreError::NotFound(key.clone())),
                        Some(old) if expected.is_some_and(|e| e != old.mod_revision) => {
                            Err(StoreError::Conflict { key: key.clone(), expected: expected.unwrap_or_default(), found: old.mod_revision })
                        }
                        Some(old) => {
                            rev += 1;
                            kv.remove(key.as_str()).map_err(backend)?;
                            history.insert((key.as_str(), rev), encode_record(old.create_revision, None).as_slice()).map_err(backend)?;
                            log.insert(rev, key.as_str()).map_err(backend)?;
                            events.push(StoreEvent::Delete { key: key.clone(), revision: rev, prev: Some(old.clone()) });
                            Ok(WriteOutcome::Deleted(old, rev))
                        }
                    },
                    WriteOp::Compact { revision } => {
                        if *revision > rev {
                            Err(StoreError::FutureRevision { requested: *revision, current: rev })
                        } else if *revision <= comp {
                            Err(StoreError::Compacted { requested: *revision, compacted: comp })
                        } else {
                            compact_history(&mut history, &mut log, *revision)?;
                            comp = *revision;
                            Ok(WriteOutcome::Compacted)
                        }
                    }
                };
                outcomes.push(outcome);
            }
            meta.insert(META_REVISION, rev).map_err(backend)?;
            meta.insert(META_COMPACTED, comp).map_err(backend)?;
            revision = rev;
            compacted = comp;
        }
        txn.commit().map_err(backend)?;
        Ok((outcomes, events, revision, compacted))
    }
}

/// Drops log entries before `revision`, and history entries that no read at or after
/// `revision` can see: for each key changed before it, all but its newest entry below it, and
/// that one too when it is a tombstone.
fn compact_history(history: &mut redb::Table<(&str, u64), &[u8]>, log: &mut redb::Table<u64, &str>, revision: Revision) -> StoreResult<()> {
    let mut keys: Vec<String> = Vec::new();
    for entry in log.range(..revision).map_err(backend)? {
        let (_, key) = entry.map_err(backend)?;
        keys.push(key.value().to_string());
    }
    keys.sort();
    keys.dedup();
    for key in &keys {
        let mut below: Vec<(u64, bool)> = Vec::new();
        for entry in history.range((key.as_str(), 0)..(key.as_str(), revision)).map_err(backend)? {
            let (k, v) = entry.map_err(backend)?;
            let (_, value) = decode_record(v.value())?;
            below.push((k.value().1, value.is_some()));
        }
        let keep_last = below.last().is_some_and(|(_, live)| *live);
        let drop_count = if keep_last { below.len() - 1 } else { below.len() };
        for (rev, _) in &below[..drop_count] {
            history.remove((key.as_str(), *rev)).map_err(backend)?;
        }
    }
    let old: Vec<u64> = log.range(..revision).map_err(backend)?.map(|e| e.map(|(k, _)| k.value()).map_err(backend)).collect::<StoreResult<_>>()?;
    for rev in old {
        log.remove(rev).map_err(backend)?;
    }
    Ok(())
}
