//! The view store: every named dataflow output, kept as the rows it has at the newest
//! revision every worker has finished. Deltas wait until all workers report progress past
//! their revision, so a snapshot is exactly the view "at R". Served over HTTP by
//! [`super::views_http`].

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use deltakube_dataflows::engine::VIEWS;
use deltakube_dataflows::types::{Diff, Revision};
use tokio::sync::{broadcast, watch};

/// One applied change of a view, as the delta stream sends it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ViewDelta {
    pub view: &'static str,
    pub revision: Revision,
    pub key: String,
    pub value: String,
    pub diff: Diff,
}

/// A row an edge keeps unrendered: its text is made only when someone reads it (a snapshot,
/// or a stream open when it changes), so that rows nobody reads cost no text.
pub type LazyRow = Arc<dyn Fn() -> String + Send + Sync>;

struct State {
    rows: BTreeMap<&'static str, BTreeMap<(String, String), Diff>>,
    /// Rows that edges set with [`ViewStore::set_lazy`], by view and key.
    lazy: HashMap<&'static str, BTreeMap<String, LazyRow>>,
    pending: VecDeque<ViewDelta>,
    progress: Vec<Revision>,
    complete: Revision,
}

/// The views and their revision.
pub struct ViewStore {
    state: Mutex<State>,
    revision: watch::Sender<Revision>,
    deltas: broadcast::Sender<ViewDelta>,
}

/// Deltas buffered per streaming client before it is dropped.
const STREAM_BUFFER: usize = 65_536;

impl ViewStore {
    pub fn new(workers: usize) -> ViewStore {
        let mut rows = BTreeMap::new();
        for v in VIEWS {
            rows.insert(*v, BTreeMap::new());
        }
        ViewStore {
            state: Mutex::new(State { rows, lazy: HashMap::new(), pending: VecDeque::new(), progress: vec![0; workers.max(1)], complete: 0 }),
            revision: watch::channel(0).0,
            deltas: broadcast::channel(STREAM_BUFFER).0,
        }
    }

    /// Buffers a delta until its revision is complete.
    pub fn delta(&self, delta: ViewDelta) {
        self.state.lock().expect("views lock").pending.push_back(delta);
    }

    /// Records a worker's progress; applies every delta that is now complete.
    pub fn progress(&self, worker: usize, revision: Revision) {
        let mut state = self.state.lock().expect("views lock");
        if worker >= state.progress.len() {
            return;
        }
        state.progress[worker] = state.progress[worker].max(revision);
        let complete = state.progress.iter().copied().min().unwrap_or(0);
        if complete <= state.complete {
            return;
        }
        state.complete = complete;
        let mut ready: Vec<ViewDelta> = Vec::new();
        let mut keep = VecDeque::new();
        while let Some(d) = state.pending.pop_front() {
            if d.revision <= complete {
                ready.push(d);
            } else {
                keep.push_back(d);
            }
        }
        state.pending = keep;
        ready.sort_by_key(|d| d.revision);
        for d in ready {
            let rows = state.rows.entry(d.view).or_default();
            let count = rows.entry((d.key.clone(), d.value.clone())).or_default();
            *count += d.diff;
            if *count == 0 {
                rows.remove(&(d.key.clone(), d.value.clone()));
            }
            let _ = self.deltas.send(d);
        }
        drop(state);
        self.revision.send_replace(complete);
    }

    /// Sets (or with `None` removes) the row of `key` in a view an edge computes, at the
    /// current revision, kept unrendered (see [`LazyRow`]).
    pub fn set_lazy(&self, view: &'static str, key: &str, row: Option<LazyRow>) {
        let mut state = self.state.lock().expect("views lock");
        let revision = state.complete;
        let rows = state.lazy.entry(view).or_default();
        let old = match &row {
            Some(new) => rows.insert(key.to_string(), new.clone()),
            None => rows.remove(key),
        };
        drop(state);
        if self.deltas.receiver_count() == 0 {
            return;
        }
        let changes = [(old, -1), (row, 1)];
        for (row, diff) in changes {
            if let Some(row) = row {
                let _ = self.deltas.send(ViewDelta { view, revision, key: key.to_string(), value: row(), diff });
            }
        }
    }

    /// The revision every view is complete at.
    pub fn revision(&self) -> Revision {
        *self.revision.borrow()
    }

    /// Waits until the views are complete at `revision`; false on timeout.
    pub async fn wait_for(&self, revision: Revision, timeout: std::time::Duration) -> bool {
        let mut rx = self.revision.subscribe();
        tokio::time::timeout(timeout, rx.wait_for(|r| *r >= revision)).await.is_ok_and(|r| r.is_ok())
    }

    /// A view's rows whose key passes `filter`, and the revision they are complete at.
    pub fn snapshot(&self, view: &str, filter: impl Fn(&str) -> bool) -> Option<(Revision, Vec<(String, String)>)> {
        let state = self.state.lock().expect("views lock");
        let rows = state.rows.get(view)?;
        let mut out: Vec<(String, String)> = rows.keys().filter(|(k, _)| filter(k)).cloned().collect();
        let lazy: Vec<(String, LazyRow)> =
            state.lazy.get(view).into_iter().flatten().filter(|(k, _)| filter(k)).map(|(k, row)| (k.clone(), row.clone())).collect();
        let complete = state.complete;
        drop(state);
        // Rendered outside the lock.
        if !lazy.is_empty() {
            out.extend(lazy.into_iter().map(|(k, row)| (k, row())));
            out.sort();
        }
        Some((complete, out))
    }

    /// The rows of a view whose keys start with `prefix` (a namespace's, with `ns/`), read
    /// as a range, and the revision they are complete at. Views edges set lazily are not
    /// included.
    pub fn rows_under(&self, view: &str, prefix: &str) -> (Revision, Vec<(String, String)>) {
        let state = self.state.lock().expect("views lock");
        let rows = state.rows.get(view).into_iter().flat_map(|rows| rows.range((prefix.to_string(), String::new())..));
        let out = rows.map(|(row, _)| row).take_while(|(k, _)| k.starts_with(prefix)).cloned().collect();
        (state.complete, out)
    }

    /// Every view with its row count.
    pub fn list(&self) -> (Revision, Vec<(&'static str, usize)>) {
        let state = self.state.lock().expect("views lock");
        let lazy = |view: &str| state.lazy.get(view).map_or(0, BTreeMap::len);
        (state.complete, state.rows.iter().map(|(k, v)| (*k, v.len() + lazy(k))).collect())
    }

    pub fn subscribe(&self) -> broadcast::Receiver<ViewDelta> {
        self.deltas.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn counted(text: &'static str, renders: &Arc<AtomicUsize>) -> LazyRow {
        let renders = renders.clone();
        Arc::new(move || {
            renders.fetch_add(1, Ordering::SeqCst);
            text.to_string()
        })
    }

    #[test]
    fn lazy_rows_render_only_when_read_and_stream_as_text_rows_do() {
        let views = ViewStore::new(1);
        let renders = Arc::new(AtomicUsize::new(0));
        views.set_lazy("scheduler-scores", "ns/a", Some(counted("{\"a\":1}", &renders)));
        views.set_lazy("scheduler-scores", "ns/b", Some(counted("{\"b\":1}", &renders)));
        assert_eq!(renders.load(Ordering::SeqCst), 0, "nothing read, nothing rendered");
        assert!(views.list().1.contains(&("scheduler-scores", 2)));
        let (_, rows) = views.snapshot("scheduler-scores", |k| k == "ns/b").unwrap();
        assert_eq!(rows, vec![("ns/b".to_string(), "{\"b\":1}".to_string())]);
        assert_eq!(renders.load(Ordering::SeqCst), 1, "only the row read");

        let mut stream = views.subscribe();
        views.set_lazy("scheduler-scores", "ns/a", Some(counted("{\"a\":2}", &renders)));
        views.set_lazy("scheduler-scores", "ns/b", None);
        let deltas: Vec<(String, String, Diff)> = std::iter::from_fn(|| stream.try_recv().ok()).map(|d| (d.key, d.value, d.diff)).collect();
        assert_eq!(deltas, vec![("ns/a".into(), "{\"a\":1}".into(), -1), ("ns/a".into(), "{\"a\":2}".into(), 1), ("ns/b".into(), "{\"b\":1}".into(), -1)]);
        let (_, rows) = views.snapshot("scheduler-scores", |_| true).unwrap();
        assert_eq!(rows, vec![("ns/a".to_string(), "{\"a\":2}".to_string())]);
    }
}
