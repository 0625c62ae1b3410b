//! The store: an etcd-shaped, revisioned key-value interface with two backends.
//!
//! Every write gets the next store revision. Create succeeds only when the key is absent;
//! update and delete compare the key's mod-revision. A watch replays every change after a
//! revision, in revision order; once history before a revision is compacted, a watch or list
//! at an older revision fails with [`StoreError::Compacted`].
//!
//! **Invariant:** only the apiserver touches the store; the dataflows see it through the watch.

pub mod embedded;
pub mod etcd;
pub mod etcd_process;

use std::pin::Pin;

use async_trait::async_trait;
use bytes::Bytes;
use futures::Stream;

/// A store revision, as etcd's. Revision 0 means "none yet"; the first write gets 1 or more.
pub type Revision = u64;

/// One key's value with its revisions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    pub key: String,
    pub value: Bytes,
    /// The revision at which the key was created (etcd's `create_revision`).
    pub create_revision: Revision,
    /// The revision of the key's last change (etcd's `mod_revision`).
    pub mod_revision: Revision,
}

/// One change, as delivered by a watch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreEvent {
    /// The key was created or updated; `prev` is its value before, when known.
    Put { kv: KeyValue, prev: Option<KeyValue> },
    /// The key was deleted at `revision`; `prev` is its last value.
    Delete { key: String, revision: Revision, prev: Option<KeyValue> },
}

impl StoreEvent {
    pub fn revision(&self) -> Revision {
        match self {
            StoreEvent::Put { kv, .. } => kv.mod_revision,
            StoreEvent::Delete { revision, .. } => *revision,
        }
    }

    pub fn key(&self) -> &str {
        match self {
            StoreEvent::Put { kv, .. } => &kv.key,
            StoreEvent::Delete { key, .. } => key,
        }
    }
}

/// A page of a list: the items, the revision the list was read at, and whether more remain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListPage {
    pub items: Vec<KeyValue>,
    pub revision: Revision,
    /// True when `limit` cut the list short; continue after the last item's key.
    pub more: bool,
}

/// What a list asks for.
#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    /// Only keys strictly after this one (for paging).
    pub start_after: Option<String>,
    /// At most this many items; 0 means no limit.
    pub limit: usize,
    /// Read at this revision instead of the newest.
    pub revision: Option<Revision>,
}

/// Errors of every store backend.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// A create found the key present.
    #[error("key {0} already exists")]
    AlreadyExists(String),
    /// An update or delete found no such key.
    #[error("key {0} not found")]
    NotFound(String),
    /// An update or delete's expected mod-revision did not match; carries the current value.
    #[error("key {key} was modified (expected revision {expected}, found {found})")]
    Conflict { key: String, expected: Revision, found: Revision },
    /// The requested revision has been compacted away.
    #[error("revision {requested} has been compacted (oldest kept is {compacted})")]
    Compacted { requested: Revision, compacted: Revision },
    /// The requested revision is newer than the store's.
    #[error("revision {requested} is in the future (current is {current})")]
    FutureRevision { requested: Revision, current: Revision },
    /// A watch fell too far behind the writes and was dropped; the client must relist.
    #[error("watch fell behind and was closed")]
    WatchLagged,
    /// The backend failed: disk, network, or a corrupt record.
    #[error("store backend: {0}")]
    Backend(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// A stream of watch events. It ends with an error item when the watch breaks.
pub type WatchStream = Pin<Box<dyn Stream<Item = StoreResult<StoreEvent>> + Send>>;

/// The store interface, shaped like etcd's data model (kine's `Backend` is the model).
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Reads one key at the newest revision; returns it and the store revision of the read.
    async fn get(&self, key: &str) -> StoreResult<(Option<KeyValue>, Revision)>;

    /// Lists keys under `prefix`, in key order.
    async fn list(&self, prefix: &str, options: ListOptions) -> StoreResult<ListPage>;

    /// Creates `key` only if it is absent. Returns the new key-value.
    async fn create(&self, key: &str, value: Bytes) -> StoreResult<KeyValue>;

    /// Replaces `key` only if its mod-revision equals `expected`. Returns the new key-value.
    async fn update(&self, key: &str, value: Bytes, expected: Revision) -> StoreResult<KeyValue>;

    /// Deletes `key`, if `expected` is given only when its mod-revision equals it.
    /// Returns the deleted key-value and the revision of the delete.
    async fn delete(&self, key: &str, expected: Option<Revision>) -> StoreResult<(KeyValue, Revision)>;

    /// Streams every change under `prefix` with a revision strictly greater than `after`.
    async fn watch(&self, prefix: &str, after: Revision) -> StoreResult<WatchStream>;

    /// The newest revision.
    async fn current_revision(&self) -> StoreResult<Revision>;

    /// Discards history before `revision`; reads and watches older than it fail afterwards.
    async fn compact(&self, revision: Revision) -> StoreResult<()>;

    /// A short name for logs and benchmarks: `embedded` or `etcd`.
    fn backend_name(&self) -> &'static str;
}

/// The smallest key greater than every key with this prefix, as etcd's range_end.
pub fn prefix_end(prefix: &str) -> Vec<u8> {
    let mut end = prefix.as_bytes().to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}
