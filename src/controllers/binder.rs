//! The scheduler's edge: gathers the scheduler dataflow's rows into a [`Readout`] one complete
//! revision at a time, decides a batch of pending pods on it ([`decide_round`]), and writes the
//! outcome through the API server — a `pods/<name>/binding` for a placed pod; for an
//! unschedulable one the `PodScheduled=False` condition (reason `Unschedulable`) and a
//! `FailedScheduling` Event, as upstream's scheduler records them. It also fills the
//! explain-why views `scheduler-filters` and `scheduler-scores`.
//!
//! **Claims.** A binding is a claim from the moment it is sent until the readout no longer
//! lists its pod as pending (the feed shows it bound, or gone); the claims and the nodes they
//! occupy are kept across rounds ([`Standing`]), and every round counts them, so a node is
//! never over-committed whatever the order in which the feed and the writes arrive. Only a
//! write refused outright (4xx other than a conflict, which may mean
//! the pod is bound already) releases its claim early; the pod then backs off.
//!
//! An unschedulable pod is written again only when its message changes; it stays in the
//! pending rows, so the next round that could place it (any change of nodes or pods) does.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use deltakube_dataflows::scheduler::batch::{decide_round, BatchDecision, Standing};
use deltakube_dataflows::scheduler::config::SchedulerConfig;
use deltakube_dataflows::scheduler::dataflow::SchedulerRow;
use deltakube_dataflows::scheduler::readout::{PodName, Readout};
use deltakube_dataflows::scheduler::reference::Outcome;
use deltakube_dataflows::types::Revision;
use serde_json::json;
use tokio::sync::mpsc;

use super::api::Api;
use super::explain;
use super::metrics::Metrics;
use super::views::ViewStore;

/// Pods decided in one round at most.
const MAX_BATCH: usize = 5_000;
/// Pods decided and not yet seen settled in the feed (claims and unschedulable reports), at
/// most. Throughput is this many pods per round trip (decision, write, store, watch, feed,
/// dataflow, readout), so it must cover a round trip's worth of pods at the rate wanted.
const MAX_UNSETTLED: usize = 5_000;
/// Writes (bindings and unschedulable reports) in flight at once.
const MAX_WRITES: usize = 512;
/// Back-off after a refused write, doubled per failure up to the ceiling.
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// The scheduler's name in Events and field managers.
pub const SCHEDULER_NAME: &str = "default-scheduler";

/// What the binder hears from the collector.
// Most messages are rows, moved once each: boxing would add an allocation to each.
#[allow(clippy::large_enum_variant)]
pub enum BinderInput {
    Row {
        row: SchedulerRow,
        revision: Revision,
        diff: isize,
    },
    /// Every worker has processed this revision.
    Progress(Revision),
}

/// How a write ended.
struct Done {
    pod: PodName,
    /// The write was refused and did not happen; the pod backs off.
    refused: bool,
    /// A failed unschedulable report: the pod uid whose message must be written again.
    unreported: Option<String>,
}

/// What woke the binder.
// Held only while one backlog is taken, and most are rows: as [`BinderInput`].
#[allow(clippy::large_enum_variant)]
enum Wake {
    Input(Option<BinderInput>),
    Done(Done),
    Tick,
}

/// Writes the scheduler's decisions through `api`.
pub struct Binder {
    api: Api,
    config: SchedulerConfig,
    views: Arc<ViewStore>,
    metrics: Arc<Metrics>,
}

impl Binder {
    pub fn new(api: Api, config: SchedulerConfig, views: Arc<ViewStore>, metrics: Arc<Metrics>) -> Binder {
        Binder { api, config, views, metrics }
    }

    /// Upstream's `updatePod` with `PodScheduled=False`, then the `FailedScheduling` Event.
    async fn report_unschedulable(&self, pod: &PodName, uid: &str, message: &str) -> Result<(), (u16, String)> {
        let (ns, name) = pod;
        let now = deltakube_api::object::now_rfc3339();
        let patch = json!({"status": {"conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                                                        "message": message, "lastProbeTime": null, "lastTransitionTime": now}]}});
        let path = format!("/api/v1/namespaces/{ns}/pods/{name}/status?fieldManager={SCHEDULER_NAME}");
        self.api.send("PATCH", &path, patch.to_string(), "application/strategic-merge-patch+json").await?;
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let event = json!({
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": format!("{name}.{nanos:x}"), "namespace": ns},
            "involvedObject": {"apiVersion": "v1", "kind": "Pod", "namespace": ns, "name": name, "uid": uid},
            "reason": "FailedScheduling", "message": message, "type": "Warning",
            "source": {"component": SCHEDULER_NAME}, "reportingComponent": SCHEDULER_NAME, "reportingInstance": SCHEDULER_NAME,
            "firstTimestamp": now, "lastTimestamp": now, "count": 1,
        });
        self.api.send("POST", &format!("/api/v1/namespaces/{ns}/events"), event.to_string(), "application/json").await
    }

    /// Runs until `input` closes.
    pub async fn run(self: Arc<Self>, mut input: mpsc::UnboundedReceiver<BinderInput>) {
        let mut readout = Readout::default();
        let mut buffered: BTreeMap<Revision, Vec<(SchedulerRow, isize)>> = BTreeMap::new();
        let mut complete: Revision = 0;
        // Claims in flight, the claimed nodes and the classes' rankings, kept across rounds.
        let mut standing = Standing::default();
        // Unschedulable reports: the pod uid and message last written per pod, and those in flight.
        let mut reported: HashMap<PodName, (String, String)> = HashMap::new();
        let mut reporting: BTreeSet<PodName> = BTreeSet::new();
        let mut backoff: HashMap<PodName, (Duration, Instant)> = HashMap::new();
        let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Done>();
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        let mut dirty = false;
        let writes = Arc::new(tokio::sync::Semaphore::new(MAX_WRITES));
        loop {
            let first = tokio::select! {
                message = input.recv() => Wake::Input(message),
                Some(done) = done_rx.recv() => Wake::Done(done),
                _ = tick.tick() => Wake::Tick,
            };
            // A backlog is taken whole before deciding: it costs one round, not one per message.
            let mut wakes = vec![first];
            while let Ok(message) = input.try_recv() {
                wakes.push(Wake::Input(Some(message)));
            }
            while let Ok(done) = done_rx.try_recv() {
                wakes.push(Wake::Done(done));
            }
            for wake in wakes {
                match wake {
                    Wake::Input(None) => return,
                    Wake::Input(Some(BinderInput::Row { row, revision, diff })) => buffered.entry(revision).or_default().push((row, diff)),
                    Wake::Input(Some(BinderInput::Progress(r))) if r > complete => {
                        let later = buffered.split_off(&(r + 1));
                        for (row, diff) in std::mem::replace(&mut buffered, later).into_values().flatten() {
                            readout.apply(row, diff);
                        }
                        readout.compact();
                        complete = r;
                        dirty = true;
                    }
                    Wake::Input(Some(BinderInput::Progress(_))) => {}
                    Wake::Done(done) => {
                        let was_reporting = reporting.remove(&done.pod);
                        if let Some(uid) = &done.unreported {
                            if reported.get(&done.pod).is_some_and(|(u, _)| u == uid) {
                                reported.remove(&done.pod);
                            }
                            // Decide it again, so that the report is written again.
                            standing.forget(&done.pod);
                        }
                        if done.refused {
                            standing.release(&readout, &done.pod);
                            let delay = backoff.get(&done.pod).map_or(FIRST_BACKOFF, |(d, _)| (*d * 2).min(MAX_BACKOFF));
                            backoff.insert(done.pod, (delay, Instant::now() + delay));
                            dirty = true;
                        }
                        // A finished report lets its pod be decided again (a round skips it
                        // meanwhile). A binding that went through changes nothing a round
                        // reads: its pod stays claimed until the feed shows it bound.
                        if was_reporting {
                            dirty = true;
                        }
                    }
                    Wake::Tick => {
                        let now = Instant::now();
                        if backoff.values().any(|(_, until)| *until <= now && *until + Duration::from_millis(100) > now) {
                            dirty = true;
                        }
                    }
                }
            }
            if !dirty || complete == 0 {
                continue;
            }
            dirty = false;
            let changes = readout.take_changes();
            let departures = &changes.departures;
            for pod in &departures.left_queue {
                standing.forget(pod);
                reported.remove(pod);
            }
            standing.catch_up(&self.config, &readout, &changes);
            self.metrics.scheduler_caught_up(complete);
            backoff.retain(|k, _| readout.pending(k).is_some());
            let now = Instant::now();
            let skip = |key: &PodName| reporting.contains(key) || backoff.get(key).is_some_and(|(_, until)| *until > now);
            let unsettled = standing.claims() + reporting.len();
            let room = MAX_UNSETTLED.saturating_sub(unsettled).min(MAX_BATCH);
            if room == 0 {
                explain::show(&self.views, departures, []);
                continue;
            }
            let span = tracing::info_span!("scheduling round", revision = complete, pending = readout.pending_count());
            let _enter = span.enter();
            let started = Instant::now();
            let mut decide = || decide_round(&self.config, &readout, &mut standing, &skip, room);
            // A round can take tens of milliseconds: on a multi-threaded runtime the worker
            // hands its other tasks (the API server's, in process) to another thread meanwhile.
            let decided = match tokio::runtime::Handle::current().runtime_flavor() {
                tokio::runtime::RuntimeFlavor::MultiThread => tokio::task::block_in_place(decide),
                _ => decide(),
            };
            let decisions = match decided {
                Ok(d) => d,
                Err(e) => {
                    tracing::warn!(revision = complete, error = %e, "scheduler readout incomplete");
                    continue;
                }
            };
            tracing::debug!(claims = standing.claims(), decided = decisions.len(), ms = started.elapsed().as_secs_f64() * 1e3, "round decided");
            // Shared with the explain rows, which render them only when read.
            let decisions: Vec<_> = decisions.into_iter().map(|BatchDecision { pod, decision, .. }| (pod, Arc::new(decision))).collect();
            explain::show(&self.views, departures, decisions.iter().map(|(_, d)| d));
            for (pod, decision) in decisions {
                let key = (pod.namespace.clone(), pod.name.clone());
                match &decision.outcome {
                    Outcome::Bound { node } => {
                        let node = node.clone();
                        tracing::debug!(ns = %key.0, pod = %key.1, node = %node, "pod bound");
                        let (binder, done, writes) = (self.clone(), done_tx.clone(), writes.clone());
                        tokio::spawn(async move {
                            let _permit = writes.acquire_owned().await;
                            let result = binder.api.bind_pod(&key.0, &key.1, &pod.uid, &node).await;
                            let refused = match &result {
                                Ok(()) => false,
                                // A conflict may mean the pod is bound already: hold the claim
                                // until the feed says.
                                Err((409, _)) => false,
                                Err((code, message)) => {
                                    tracing::warn!(ns = %key.0, pod = %key.1, node = %node, code, error = %message, "binding failed");
                                    true
                                }
                            };
                            let _ = done.send(Done { pod: key, refused, unreported: None });
                        });
                    }
                    Outcome::Unschedulable { message, .. } => {
                        let message = message.clone();
                        if reported.get(&key).is_some_and(|(uid, m)| *uid == pod.uid && *m == message) {
                            continue;
                        }
                        reported.insert(key.clone(), (pod.uid.clone(), message.clone()));
                        reporting.insert(key.clone());
                        let (binder, done, writes) = (self.clone(), done_tx.clone(), writes.clone());
                        tokio::spawn(async move {
                            let _permit = writes.acquire_owned().await;
                            let result = binder.report_unschedulable(&key, &pod.uid, &message).await;
                            if let Err((code, error)) = &result {
                                tracing::warn!(ns = %key.0, pod = %key.1, code, error = %error, "reporting an unschedulable pod failed");
                            }
                            let unreported = result.is_err().then(|| pod.uid.clone());
                            let _ = done.send(Done { pod: key, refused: result.is_err(), unreported });
                        });
                    }
                }
            }
        }
    }
}
