//! The feeder between whoever pushes feed batches and the workers: it hands each batch to
//! every local worker, and, when asked to coalesce, merges the batches that queue up while
//! the workers are busy into one batch at the newest revision.
//!
//! Each revision a worker steps costs a fixed amount of progress tracking across every
//! operator, whatever it carries, so under a steady stream of single-change revisions the
//! workers fall behind one revision at a time. Merged, the waiting changes are one revision
//! for the dataflow: the outputs at the newest revision are exactly those of the store at
//! that revision (a change and its successor consolidate), and the revisions in between are
//! skipped, reported complete when the newest one is. An idle engine gets each batch at
//! once, unmerged.
//!
//! **Invariant:** every local worker receives the same sequence of batches, so they agree on
//! the timestamps. Across processes feeds are read independently and could merge differently,
//! so a cluster of processes never coalesces.

use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use crate::engine::FeedBatch;
use crate::types::Revision;

/// What each local worker has completed, for the feeder to wait on.
#[derive(Default)]
pub struct WorkerProgress {
    done: Mutex<Vec<Revision>>,
    changed: Condvar,
}

impl WorkerProgress {
    pub fn new(workers: usize) -> WorkerProgress {
        WorkerProgress { done: Mutex::new(vec![0; workers]), changed: Condvar::new() }
    }

    /// Worker `local` (an index among this process's workers) has completed `revision`.
    pub fn report(&self, local: usize, revision: Revision) {
        let mut done = self.done.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(slot) = done.get_mut(local) {
            *slot = (*slot).max(revision);
        }
        self.changed.notify_all();
    }

    /// Waits until every local worker completed `revision`, or `patience` passed.
    fn wait_for(&self, revision: Revision, patience: Duration) {
        let done = self.done.lock().unwrap_or_else(|e| e.into_inner());
        let _ = self.changed.wait_timeout_while(done, patience, |done| done.iter().any(|d| *d < revision));
    }
}

/// Runs until the pushing side hangs up; then the workers' feeds close too.
pub fn run(input: Receiver<FeedBatch>, workers: Vec<Sender<Arc<FeedBatch>>>, progress: Arc<WorkerProgress>, coalesce: bool) {
    let mut sent: Option<Revision> = None;
    while let Ok(mut batch) = input.recv() {
        if coalesce {
            // While the workers work on what they have, more batches queue; take them all.
            if let Some(previous) = sent {
                progress.wait_for(previous, Duration::from_secs(1));
            }
            while let Ok(next) = input.try_recv() {
                batch.revision = batch.revision.max(next.revision);
                batch.events.extend(next.events);
            }
        }
        sent = Some(batch.revision);
        let batch = Arc::new(batch);
        for worker in &workers {
            let _ = worker.send(batch.clone());
        }
    }
}
