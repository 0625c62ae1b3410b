//! The change-feed reader (an edge of the engine): in `deltakube up` it follows the API
//! server's watch cache in-process — one list at revision R, then every event after R — and
//! hands the engine one batch per revision. Events of kinds no controller reads still advance
//! time, so that a view "at R" exists for every store revision R.

use std::sync::Arc;

use deltakube_api::cache::{CacheEvent, EventType, WatchCache};
use deltakube_dataflows::engine::{Engine, FeedBatch};
use deltakube_dataflows::types::{FeedEvent, Kind, ObjectKey};

/// Splits a store key `/registry/<plural>/[<ns>/]<name>` into an engine key.
pub fn object_key(store_key: &str) -> Option<ObjectKey> {
    let kind = Kind::from_store_key(store_key)?;
    let rest = store_key.strip_prefix("/registry/")?;
    let parts: Vec<&str> = rest.split('/').collect();
    match parts.as_slice() {
        [_, name] => Some(ObjectKey::new(kind, "", *name)),
        [_, ns, name] => Some(ObjectKey::new(kind, *ns, *name)),
        _ => None,
    }
}

fn to_feed_event(event: &CacheEvent) -> Option<FeedEvent> {
    let key = object_key(&event.object.key)?;
    let (old, new) = match event.kind {
        EventType::Added => (None, Some(event.object.value.clone())),
        EventType::Modified => (event.prev.as_ref().map(|p| p.value.clone()), Some(event.object.value.clone())),
        EventType::Deleted => (event.prev.as_ref().map(|p| p.value.clone()), None),
    };
    Some(FeedEvent { revision: event.revision, key, old, new })
}

/// Feeds the engine from the cache until the cache closes. The subscription is lossless: a
/// feed that falls behind (its task starved while writes pour in) catches up on every event it
/// missed, instead of losing its place as a watcher of the broadcast would; and a cache that
/// relists (fallen behind compaction) sends what the list changed, so the engine stays equal
/// to it.
pub async fn follow_cache(cache: Arc<WatchCache>, engine: Arc<Engine>, metrics: Arc<super::metrics::Metrics>) {
    let (items, revision, mut live) = cache.subscribe_lossless_with_state("/registry/");
    let events = items
        .iter()
        .filter_map(|o| {
            let key = object_key(&o.key)?;
            Some(FeedEvent { revision, key, old: None, new: Some(o.value.clone()) })
        })
        .collect::<Vec<_>>();
    metrics.pushed(revision, events.len());
    engine.push(FeedBatch { revision, events });
    tracing::info!(revision, "controllers loaded the initial state");
    let mut last = revision;
    // One revision's events a message: a store event, or what a relist of the cache changed.
    while let Some(changes) = live.recv().await {
        let Some(revision) = changes.first().map(|e| e.revision).filter(|r| *r > last) else { continue };
        last = revision;
        let events: Vec<FeedEvent> = changes.iter().filter_map(|e| to_feed_event(e)).collect();
        metrics.pushed(revision, events.len());
        engine.push(FeedBatch { revision, events });
    }
}
