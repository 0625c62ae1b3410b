//! One conformance suite for every store backend: the embedded store and a real etcd.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use deltakube_api::store::embedded::EmbeddedStore;
use deltakube_api::store::etcd::EtcdStore;
use deltakube_api::store::etcd_process::EtcdProcess;
use deltakube_api::store::{ListOptions, Store, StoreError, StoreEvent};
use futures::StreamExt;

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

async fn create_is_only_if_absent(store: &dyn Store) {
    let kv = store.create("/registry/pods/ns/a", b("1")).await.unwrap();
    assert_eq!(kv.create_revision, kv.mod_revision);
    let err = store.create("/registry/pods/ns/a", b("2")).await.unwrap_err();
    assert!(matches!(err, StoreError::AlreadyExists(_)), "{err:?}");
    let (got, rev) = store.get("/registry/pods/ns/a").await.unwrap();
    assert_eq!(got.unwrap().value, b("1"));
    assert!(rev >= kv.mod_revision);
}

async fn update_and_delete_compare_the_mod_revision(store: &dyn Store) {
    let kv = store.create("/registry/cas/x", b("v1")).await.unwrap();
    let kv2 = store.update("/registry/cas/x", b("v2"), kv.mod_revision).await.unwrap();
    assert!(kv2.mod_revision > kv.mod_revision);
    assert_eq!(kv2.create_revision, kv.create_revision);
    let stale = store.update("/registry/cas/x", b("v3"), kv.mod_revision).await.unwrap_err();
    assert!(matches!(stale, StoreError::Conflict { .. }), "{stale:?}");
    let missing = store.update("/registry/cas/none", b("v"), 1).await.unwrap_err();
    assert!(matches!(missing, StoreError::NotFound(_)), "{missing:?}");
    let stale = store.delete("/registry/cas/x", Some(kv.mod_revision)).await.unwrap_err();
    assert!(matches!(stale, StoreError::Conflict { .. }), "{stale:?}");
    let (prev, rev) = store.delete("/registry/cas/x", Some(kv2.mod_revision)).await.unwrap();
    assert_eq!(prev.value, b("v2"));
    assert!(rev > kv2.mod_revision);
    let gone = store.delete("/registry/cas/x", None).await.unwrap_err();
    assert!(matches!(gone, StoreError::NotFound(_)), "{gone:?}");
}

async fn list_pages_and_reads_at_a_revision(store: &dyn Store) {
    for i in 0..5 {
        store.create(&format!("/registry/cm/ns/k{i}"), b(&format!("{i}"))).await.unwrap();
    }
    // A neighbour prefix must not leak into the list.
    store.create("/registry/cmx/ns/k0", b("other")).await.unwrap();
    let all = store.list("/registry/cm/", ListOptions::default()).await.unwrap();
    assert_eq!(all.items.len(), 5);
    assert!(!all.more);
    let at = all.revision;

    let first = store.list("/registry/cm/", ListOptions { limit: 2, ..Default::default() }).await.unwrap();
    assert_eq!(first.items.len(), 2);
    assert!(first.more);
    let rest =
        store.list("/registry/cm/", ListOptions { start_after: Some(first.items[1].key.clone()), revision: Some(first.revision), limit: 0 }).await.unwrap();
    assert_eq!(rest.items.len(), 3);
    assert_eq!(rest.items[0].key, "/registry/cm/ns/k2");

    // Change the world, then read the past.
    let k1 = &all.items[1];
    store.update(&k1.key, b("changed"), k1.mod_revision).await.unwrap();
    store.delete("/registry/cm/ns/k0", None).await.unwrap();
    let past = store.list("/registry/cm/", ListOptions { revision: Some(at), ..Default::default() }).await.unwrap();
    let values: Vec<_> = past.items.iter().map(|kv| kv.value.clone()).collect();
    assert_eq!(values, vec![b("0"), b("1"), b("2"), b("3"), b("4")]);
    let now = store.list("/registry/cm/", ListOptions::default()).await.unwrap();
    assert_eq!(now.items.len(), 4);
    assert_eq!(now.items[0].value, b("changed"));
}

async fn watch_replays_from_a_revision_then_follows(store: &dyn Store) {
    let start = store.current_revision().await.unwrap();
    let a = store.create("/registry/w/a", b("1")).await.unwrap();
    store.update("/registry/w/a", b("2"), a.mod_revision).await.unwrap();
    store.create("/registry/other/z", b("x")).await.unwrap();
    let mut watch = store.watch("/registry/w/", start).await.unwrap();
    store.delete("/registry/w/a", None).await.unwrap();
    store.create("/registry/w/b", b("3")).await.unwrap();

    let mut seen = Vec::new();
    while seen.len() < 4 {
        let event = tokio::time::timeout(Duration::from_secs(10), watch.next()).await.expect("watch event in time").expect("stream open").expect("no error");
        seen.push(event);
    }
    let revisions: Vec<_> = seen.iter().map(StoreEvent::revision).collect();
    assert!(revisions.windows(2).all(|w| w[0] < w[1]), "{revisions:?}");
    match &seen[1] {
        StoreEvent::Put { kv, prev } => {
            assert_eq!(kv.value, b("2"));
            assert_eq!(prev.as_ref().unwrap().value, b("1"));
        }
        other => panic!("want put, got {other:?}"),
    }
    match &seen[2] {
        StoreEvent::Delete { key, prev, .. } => {
            assert_eq!(key, "/registry/w/a");
            assert_eq!(prev.as_ref().unwrap().value, b("2"));
        }
        other => panic!("want delete, got {other:?}"),
    }
    assert_eq!(seen[3].key(), "/registry/w/b");
}

async fn compaction_fails_older_watches_and_reads(store: &dyn Store) {
    let first = store.create("/registry/c/a", b("1")).await.unwrap();
    let second = store.update("/registry/c/a", b("2"), first.mod_revision).await.unwrap();
    store.create("/registry/c/b", b("3")).await.unwrap();
    store.compact(second.mod_revision).await.unwrap();

    let err = match store.watch("/registry/c/", first.mod_revision - 1).await {
        Err(e) => e,
        Ok(mut stream) => {
            tokio::time::timeout(Duration::from_secs(10), stream.next()).await.expect("answer in time").expect("an item").expect_err("a compacted watch fails")
        }
    };
    assert!(matches!(err, StoreError::Compacted { .. }), "{err:?}");
    let err = store.list("/registry/c/", ListOptions { revision: Some(first.mod_revision), ..Default::default() }).await.unwrap_err();
    assert!(matches!(err, StoreError::Compacted { .. }), "{err:?}");
    // Reads at or after the compaction revision still work.
    let kept = store.list("/registry/c/", ListOptions { revision: Some(second.mod_revision), ..Default::default() }).await.unwrap();
    assert_eq!(kept.items.len(), 1);
    assert_eq!(kept.items[0].value, b("2"));
    let mut watch = store.watch("/registry/c/", second.mod_revision).await.unwrap();
    let next = tokio::time::timeout(Duration::from_secs(10), watch.next()).await.unwrap().unwrap().unwrap();
    assert_eq!(next.key(), "/registry/c/b");
}

async fn concurrent_creates_get_distinct_revisions(store: Arc<dyn Store>) {
    let mut tasks = Vec::new();
    for w in 0..16 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut revs = Vec::new();
            for i in 0..20 {
                revs.push(store.create(&format!("/registry/many/{w}/{i}"), b("x")).await.unwrap().mod_revision);
            }
            revs
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let n = all.len();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), n, "every write has its own revision");
    let listed = store.list("/registry/many/", ListOptions::default()).await.unwrap();
    assert_eq!(listed.items.len(), 320);
}

async fn suite(store: Arc<dyn Store>) {
    create_is_only_if_absent(store.as_ref()).await;
    update_and_delete_compare_the_mod_revision(store.as_ref()).await;
    list_pages_and_reads_at_a_revision(store.as_ref()).await;
    watch_replays_from_a_revision_then_follows(store.as_ref()).await;
    concurrent_creates_get_distinct_revisions(store.clone()).await;
    compaction_fails_older_watches_and_reads(store.as_ref()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_store_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(&dir.path().join("store.redb")).unwrap();
    suite(Arc::new(store)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_store_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let etcd = EtcdProcess::start(dir.path()).expect("a real etcd (the test command installs etcd-server)");
    let store = EtcdStore::connect(std::slice::from_ref(&etcd.endpoint)).await.unwrap();
    suite(Arc::new(store)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_store_keeps_acknowledged_writes_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.redb");
    let rev = {
        let store = EmbeddedStore::open(&path).unwrap();
        store.create("/registry/p/a", b("1")).await.unwrap();
        store.create("/registry/p/b", b("2")).await.unwrap().mod_revision
    };
    // The writer thread holds the database until its queue closes; give it a moment.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let store = EmbeddedStore::open(&path).unwrap();
    assert_eq!(store.current_revision().await.unwrap(), rev);
    let listed = store.list("/registry/p/", ListOptions::default()).await.unwrap();
    assert_eq!(listed.items.len(), 2);
    let next = store.create("/registry/p/c", b("3")).await.unwrap();
    assert_eq!(next.mod_revision, rev + 1);
}
