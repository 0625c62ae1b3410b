//! The etcd backend: the store trait over a real etcd through `etcd-client`.
//!
//! Create is a transaction comparing `create_revision == 0`; update and delete compare
//! `mod_revision`. Lists are read in pages at one revision so that no response exceeds gRPC's
//! message limit. Keys and values are exactly what `etcdctl get --prefix` shows.

use async_trait::async_trait;
use bytes::Bytes;
use etcd_client::{Client, CompactionOptions, Compare, CompareOp, DeleteOptions, GetOptions, Txn, TxnOp, TxnOpResponse, WatchOptions};
use futures::StreamExt;

use super::{prefix_end, KeyValue, ListOptions, ListPage, Revision, Store, StoreError, StoreEvent, StoreResult, WatchStream};

/// Keys fetched per range request when a caller asked for everything.
const PAGE: i64 = 2000;

/// A store backed by an etcd cluster.
pub struct EtcdStore {
    client: Client,
}

fn backend(e: etcd_client::Error) -> StoreError {
    let text = e.to_string();
    if text.contains("required revision has been compacted") {
        StoreError::Compacted { requested: 0, compacted: 0 }
    } else if text.contains("future revision") {
        StoreError::FutureRevision { requested: 0, current: 0 }
    } else {
        StoreError::Backend(text)
    }
}

fn convert(kv: &etcd_client::KeyValue) -> StoreResult<KeyValue> {
    Ok(KeyValue {
        key: kv.key_str().map_err(backend)?.to_string(),
        value: Bytes::copy_from_slice(kv.value()),
        create_revision: kv.create_revision() as Revision,
        mod_revision: kv.mod_revision() as Revision,
    })
}

fn header_revision(header: Option<&etcd_client::ResponseHeader>) -> Revision {
    header.map_or(0, |h| h.revision() as Revision)
}

impl EtcdStore {
    /// Connects to the comma-separated `servers` (e.g. `http://127.0.0.1:2379`).
    pub async fn connect(servers: &[String]) -> StoreResult<EtcdStore> {
        let options =
            etcd_client::ConnectOptions::new().with_connect_timeout(std::time::Duration::from_secs(5)).with_timeout(std::time::Duration::from_secs(30));
        let client = Client::connect(servers, Some(options)).await.map_err(backend)?;
        Ok(EtcdStore { client })
    }

    /// The current value of `key` after a failed compare, to tell NotFound from Conflict.
    fn failure(key: &str, expected: Revision, responses: Vec<TxnOpResponse>) -> StoreError {
        let found = responses.into_iter().find_map(|r| match r {
            TxnOpResponse::Get(g) => g.kvs().first().map(|kv| kv.mod_revision() as Revision),
            _ => None,
        });
        match found {
            None => StoreError::NotFound(key.to_string()),
            Some(found) => StoreError::Conflict { key: key.to_string(), expected, found },
        }
    }
}

#[async_trait]
impl Store for EtcdStore {
    async fn get(&self, key: &str) -> StoreResult<(Option<KeyValue>, Revision)> {
        let mut kv = self.client.kv_client();
        let resp = kv.get(key, None).await.map_err(backend)?;
        let rev = header_revision(resp.header());
        let item = resp.kvs().first().map(convert).transpose()?;
        Ok((item, rev))
    }

    async fn list(&self, prefix: &str, options: ListOptions) -> StoreResult<ListPage> {
        let mut kv = self.client.kv_client();
        let end = prefix_end(prefix);
        let mut start: Vec<u8> = match &options.start_after {
            Some(after) if after.as_str() >= prefix => {
                let mut k = after.as_bytes().to_vec();
                k.push(0);
                k
            }
            _ => prefix.as_bytes().to_vec(),
        };
        let want = if options.limit == 0 { usize::MAX } else { options.limit };
        let mut revision = options.revision.map(|r| r as i64);
        let mut items = Vec::new();
        loop {
            let page = (want - items.len()).min(PAGE as usize) as i64;
            // Ask for one more than needed, to learn whether the caller's limit cut the list.
            let mut get = GetOptions::new().with_range(end.clone()).with_limit(page + 1);
            if let Some(r) = revision {
                get = get.with_revision(r);
            }
            let resp = kv.get(start.clone(), Some(get)).await.map_err(|e| match backend(e) {
                StoreError::Compacted { .. } => StoreError::Compacted { requested: options.revision.unwrap_or(0), compacted: 0 },
                other => other,
            })?;
            let at = header_revision(resp.header());
            // Later pages must read at the revision of the first one.
            let rev = *revision.get_or_insert(at as i64) as Revision;
            let kvs = resp.kvs();
            let take = kvs.len().min(page as usize);
            for kv in &kvs[..take] {
                items.push(convert(kv)?);
            }
            let more_in_store = kvs.len() > take || resp.more();
            if !more_in_store {
                return Ok(ListPage { items, revision: rev, more: false });
            }
            if items.len() >= want {
                return Ok(ListPage { items, revision: rev, more: true });
            }
            start = kvs[take - 1].key().to_vec();
            start.push(0);
        }
    }

    async fn create(&self, key: &str, value: Bytes) -> StoreResult<KeyValue> {
        let mut kv = self.client.kv_client();
        let txn = Txn::new()
            .when([Compare::create_revision(key, CompareOp::Equal, 0)])
            .and_then([TxnOp::put(key, value.to_vec(), None)])
            .or_else([TxnOp::get(key, None)]);
        let resp = kv.txn(txn).await.map_err(backend)?;
        if !resp.succeeded() {
            return Err(StoreError::AlreadyExists(key.to_string()));
        }
        let rev = header_revision(resp.header());
        Ok(KeyValue { key: key.to_string(), value, create_revision: rev, mod_revision: rev })
    }

    async fn update(&self, key: &str, value: Bytes, expected: Revision) -> StoreResult<KeyValue> {
        let mut kv = self.client.kv_client();
        let txn = Txn::new()
            .when([Compare::mod_revision(key, CompareOp::Equal, expected as i64)])
            .and_then([TxnOp::put(key, value.to_vec(), Some(etcd_client::PutOptions::new().with_prev_key()))])
            .or_else([TxnOp::get(key, None)]);
        let resp = kv.txn(txn).await.map_err(backend)?;
        let rev = header_revision(resp.header());
        if !resp.succeeded() {
            return Err(Self::failure(key, expected, resp.op_responses()));
        }
        let create_revision = resp
            .op_responses()
            .into_iter()
            .find_map(|r| match r {
                TxnOpResponse::Put(p) => p.prev_key().map(|kv| kv.create_revision() as Revision),
                _ => None,
            })
            .unwrap_or(rev);
        Ok(KeyValue { key: key.to_string(), value, create_revision, mod_revision: rev })
    }

    async fn delete(&self, key: &str, expected: Option<Revision>) -> StoreResult<(KeyValue, Revision)> {
        let mut kv = self.client.kv_client();
        let compare = match expected {
            Some(e) => Compare::mod_revision(key, CompareOp::Equal, e as i64),
            None => Compare::create_revision(key, CompareOp::Greater, 0),
        };
        let txn = Txn::new().when([compare]).and_then([TxnOp::delete(key, Some(DeleteOptions::new().with_prev_key()))]).or_else([TxnOp::get(key, None)]);
        let resp = kv.txn(txn).await.map_err(backend)?;
        let rev = header_revision(resp.header());
        if !resp.succeeded() {
            return Err(Self::failure(key, expected.unwrap_or(0), resp.op_responses()));
        }
        let prev = resp.op_responses().into_iter().find_map(|r| match r {
            TxnOpResponse::Delete(d) => d.prev_kvs().first().map(convert),
            _ => None,
        });
        match prev {
            Some(prev) => Ok((prev?, rev)),
            // Deleted by someone else between compare and delete cannot happen in one txn.
            None => Err(StoreError::NotFound(key.to_string())),
        }
    }

    async fn watch(&self, prefix: &str, after: Revision) -> StoreResult<WatchStream> {
        let mut client = self.client.clone();
        let options = WatchOptions::new().with_prefix().with_start_revision(after as i64 + 1).with_prev_key().with_progress_notify();
        let stream = client.watch(prefix, Some(options)).await.map_err(backend)?;
        let events = stream
            .map(move |resp| -> Vec<StoreResult<StoreEvent>> {
                let resp = match resp {
                    Ok(r) => r,
                    Err(e) => return vec![Err(backend(e))],
                };
                if resp.compact_revision() > 0 {
                    return vec![Err(StoreError::Compacted { requested: after, compacted: resp.compact_revision() as Revision })];
                }
                if resp.canceled() {
                    return vec![Err(StoreError::Backend(format!("watch canceled: {}", resp.cancel_reason())))];
                }
                resp.events()
                    .iter()
                    .map(|event| {
                        let kv = event.kv().ok_or_else(|| StoreError::Backend("event without kv".into()))?;
                        let prev = event.prev_kv().map(convert).transpose()?;
                        Ok(match event.event_type() {
                            etcd_client::EventType::Put => StoreEvent::Put { kv: convert(kv)?, prev },
                            etcd_client::EventType::Delete => {
                                StoreEvent::Delete { key: kv.key_str().map_err(backend)?.to_string(), revision: kv.mod_revision() as Revision, prev }
                            }
                        })
                    })
                    .collect()
            })
            .flat_map(futures::stream::iter);
        // End the stream after its first error, as the embedded store does.
        let ended = events.scan(false, |failed, item| {
            if *failed {
                return futures::future::ready(None);
            }
            *failed = item.is_err();
            futures::future::ready(Some(item))
        });
        Ok(Box::pin(ended))
    }

    async fn current_revision(&self) -> StoreResult<Revision> {
        let mut kv = self.client.kv_client();
        let resp = kv.get("/", Some(GetOptions::new().with_count_only())).await.map_err(backend)?;
        Ok(header_revision(resp.header()))
    }

    async fn compact(&self, revision: Revision) -> StoreResult<()> {
        let mut client = self.client.clone();
        client.compact(revision as i64, Some(CompactionOptions::new().with_physical())).await.map_err(|e| match backend(e) {
            StoreError::Compacted { .. } => StoreError::Compacted { requested: revision, compacted: revision },
            other => other,
        })?;
        Ok(())
    }

    fn backend_name(&self) -> &'static str {
        "etcd"
    }
}
