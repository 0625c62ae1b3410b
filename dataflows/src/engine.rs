//! The engine: timely workers running every controller as one dataflow, fed revision by
//! revision, reporting each output change and each worker's progress.
//!
//! - **Inputs** are partitioned by key: every worker sees every feed batch and inserts only the
//!   objects whose key hashes to it; joins and reductions exchange by their own keys.
//! - **Time** is the store revision. A batch at revision R is inserted at R, then every input
//!   advances to R + 1, so that outputs "at R" are complete once the probe passes R.
//! - **Outputs** are named views of `(key, value)` strings; the intents view is what the writer
//!   acts on. Each worker sends its output deltas and then `Progress(R)`; a consumer knows a
//!   view is complete at R once every worker reported R.
//!
//! **Invariant:** no IO and no clock here; batches come in and deltas go out through channels
//! that the edges (the feed reader and the intent writer) own.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use differential_dataflow::input::Input;
use differential_dataflow::{AsCollection, VecCollection};
use timely::dataflow::operators::Exchange;
use timely::dataflow::ProbeHandle;

use crate::controllers;
use crate::controllers::cidr::{AddressPool, NodeCidrs};
use crate::feeder::{self, WorkerProgress};
use crate::inputs::{ControllerCollections, ControllerInputs, Inputs};
use crate::outbox::Outbox;
use crate::scheduler::config::SchedulerConfig;
use crate::scheduler::dataflow::SchedulerRow;
use crate::scheduler::input::SchedulerInput;
use crate::types::{ControllerError, Diff, FeedEvent, Intent, ObjectKey, ProjectionError, Revision};

/// The longest a worker parks at once while the probe is behind; messages wake it sooner.
const WAIT_PARK: Duration = Duration::from_millis(5);
/// How long a worker waiting within a revision polls before it parks: the waits between
/// workers exchanging one revision's data are mostly shorter, and parking there would add
/// a wake-up to each hop; a longer wait (the peer is off its core) parks. Between polls the
/// worker yields its core ([`step_while_behind`]), so the poll costs little when other
/// threads want the CPU. (`DELTAKUBE_IDLE_SPIN_US` overrides it.)
const IDLE_SPIN: Duration = Duration::from_micros(500);

/// One revision's worth of changes. Batches arrive in increasing revision order.
#[derive(Debug, Clone)]
pub struct FeedBatch {
    pub revision: Revision,
    pub events: Vec<FeedEvent>,
}

/// What the engine reports.
// Rows move once per change and most are pods: boxing would add an allocation to each.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum EngineOutput {
    /// A change of a view row at a revision.
    Delta { view: &'static str, key: String, value: String, revision: Revision, diff: Diff },
    /// A change of the intents at a revision.
    Intent { intent: Intent, revision: Revision, diff: Diff },
    /// A change of the problems the controllers report about objects (their refusals, and
    /// objects they cannot read), which the edge records as Events.
    Problem { problem: ControllerError, revision: Revision, diff: Diff },
    /// A change of the scheduler's rows at a revision (see [`crate::scheduler::dataflow`]).
    Scheduler { row: SchedulerRow, revision: Revision, diff: Diff },
    /// Worker `worker` has produced every output up to and including `revision`, and sent
    /// its own; another local worker's may still be on their way, so a consumer knows a
    /// revision complete once every local worker reported it.
    Progress { worker: usize, revision: Revision },
}

/// Configuration of the controllers that is not data: constants given at start.
#[derive(Debug, Clone)]
pub struct ControllerConfig {
    /// The cluster CA (PEM) published in every namespace's `kube-root-ca.crt`.
    pub root_ca: String,
    /// Node IPAM's pool (`--allocate-node-cidrs` with `--cluster-cidr` and
    /// `--node-cidr-mask-size`); None allocates nothing.
    pub node_cidrs: Option<NodeCidrs>,
    /// The load-balancer address pool (`--load-balancer-ip-range`); None leaves Services of
    /// type LoadBalancer alone.
    pub load_balancer_pool: Option<AddressPool>,
    /// The scheduler's profile; None runs no scheduler.
    pub scheduler: Option<SchedulerConfig>,
    /// Whether the controllers run (false for `deltakube scheduler` alone: their inputs stay
    /// empty, so they neither write nor show anything).
    pub run_controllers: bool,
}

/// How the workers run.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Worker threads in this process.
    pub workers: usize,
    /// For several processes: this process's index and every process's `host:port`.
    pub cluster: Option<(usize, Vec<String>)>,
    pub controllers: ControllerConfig,
    /// Merge the batches that queue while the workers are busy into one revision (see
    /// [`crate::feeder`]); ignored across processes. Off, every revision is stepped and
    /// reported on its own, as the per-revision reference checks need.
    pub coalesce: bool,
}

/// The names of the views, in the order `/views` lists them.
pub const VIEWS: &[&str] = &[
    "endpoints",
    "endpointslices",
    "pod-cidrs",
    "load-balancer-ips",
    "pods-per-node",
    "quota-usage",
    "replica-diffs",
    "controller-errors",
    "projection-errors",
    "intents",
    "scheduler-filters",
    "scheduler-scores",
];

/// Which worker owns an object: its key's hash modulo the number of workers.
pub fn owner(key: &ObjectKey, peers: usize) -> usize {
    let mut h = DefaultHasher::new();
    key.hash(&mut h);
    (h.finish() % peers as u64) as usize
}

fn send_view<'s>(
    name: &'static str,
    view: VecCollection<'s, Revision, (String, String), Diff>,
    out: Outbox,
) -> VecCollection<'s, Revision, (String, String), Diff> {
    view.inspect_batch(move |_t, batch| {
        for ((key, value), revision, diff) in batch {
            out.push(EngineOutput::Delta { view: name, key: key.clone(), value: value.clone(), revision: *revision, diff: *diff });
        }
    })
}

/// Sends a view of problems: each row of the view (`key`: `reason: message`), and each
/// problem for the edge to record as an Event.
fn send_problems<'s>(
    name: &'static str,
    problems: VecCollection<'s, Revision, ControllerError, Diff>,
    out: Outbox,
) -> VecCollection<'s, Revision, ControllerError, Diff> {
    problems.inspect_batch(move |_t, batch| {
        for (problem, revision, diff) in batch {
            let value = format!("{}: {}", problem.reason, problem.message);
            out.push(EngineOutput::Delta { view: name, key: key_string(&problem.key), value, revision: *revision, diff: *diff });
            out.push(EngineOutput::Problem { problem: problem.clone(), revision: *revision, diff: *diff });
        }
    })
}

/// How views key an object: `namespace/name`, or `name` when cluster-scoped.
pub fn key_string(k: &ObjectKey) -> String {
    if k.namespace.is_empty() {
        k.name.clone()
    } else {
        format!("{}/{}", k.namespace, k.name)
    }
}

/// Builds the running parts (the controllers, the scheduler) over their input collections;
/// returns the input handles and a probe.
fn build(worker: &mut timely::worker::Worker, config: &ControllerConfig, out: Outbox) -> (Inputs, ProbeHandle<Revision>) {
    let config = config.clone();
    worker.dataflow::<Revision, _, _>(move |scope| {
        let probe = ProbeHandle::new();
        let (errors_in, errors) = scope.new_collection::<ProjectionError, Diff>();
        let controllers = config.run_controllers.then(|| {
            let (inputs, collections) = ControllerInputs::new(&scope);
            build_controllers(collections, &config, &out, &probe);
            inputs
        });
        let scheduler = config.scheduler.clone().map(|scheduler_config| {
            let (scheduler_in, scheduler_inputs) = scope.new_collection::<SchedulerInput, Diff>();
            let rows_out = out.clone();
            // Every row reaches worker 0, whose process's binder reads them all.
            crate::scheduler::dataflow::scheduler(scheduler_config, scheduler_inputs)
                .inner
                .exchange(|_| 0)
                .as_collection()
                .inspect_batch(move |_t, batch| {
                    for (row, revision, diff) in batch {
                        rows_out.push(EngineOutput::Scheduler { row: row.clone(), revision: *revision, diff: *diff });
                    }
                })
                .probe_with(&probe);
            crate::inputs::SchedulerInputs::new(scheduler_in)
        });
        send_problems("projection-errors", errors.map(|e| e.into_problem()), out).probe_with(&probe);
        (Inputs { controllers, scheduler, errors: errors_in }, probe)
    })
}

/// Builds every controller over its input collections, sending intents and views to `out`.
fn build_controllers(inputs: ControllerCollections<'_>, config: &ControllerConfig, out: &Outbox, probe: &ProbeHandle<Revision>) {
    let ControllerCollections { namespaces, accounts, secrets, configmaps, pods, services, nodes, managed, workloads, deployments, quotas, usage, gc, clock } =
        inputs;
    let namespace_intents = controllers::namespace::namespaces(namespaces.clone());
    let sa_intents = controllers::serviceaccount::service_accounts(namespaces.clone(), accounts.clone());
    let token_intents = controllers::token::tokens(namespaces, accounts, secrets, configmaps, config.root_ca.clone());
    let selected = controllers::selection::selected(services.clone(), pods.clone());
    let (desired_endpoints, endpoint_intents) = controllers::endpoints::endpoints(services.clone(), selected.clone(), managed.clone());
    let (desired_slices, slice_intents) = controllers::endpointslices::endpoint_slices(services.clone(), selected, nodes.clone(), managed);
    let (pod_cidrs, ipam_intents, ipam_errors) = controllers::nodeipam::node_ipam(config.node_cidrs, nodes);
    let (balancer_ips, balancer_intents, balancer_errors) = controllers::loadbalancer::load_balancers(config.load_balancer_pool, services);
    let (replica_diffs, replica_intents) = controllers::replicaset::replicasets(workloads.clone(), pods.clone(), clock.clone());
    let deployment_intents = controllers::deployment::deployments(deployments.clone(), workloads.clone(), clock.clone());
    let gc_intents = controllers::gc::garbage_collect(gc);
    let (quota_status, quota_intents) = controllers::resourcequota::resource_quotas(quotas, usage);
    let intents = namespace_intents
        .concat(sa_intents)
        .concat(token_intents)
        .concat(endpoint_intents)
        .concat(slice_intents)
        .concat(ipam_intents)
        .concat(balancer_intents)
        .concat(replica_intents)
        .concat(deployment_intents)
        .concat(gc_intents)
        .concat(quota_intents);

    // A pool's allocations must all reach one writer, which orders them (see
    // `Intent::Allocate`); in a cluster of processes each writer hears only its own workers.
    let is_allocation = |i: &Intent| matches!(i, Intent::Allocate { .. });
    let allocations = intents.clone().filter(is_allocation).inner.exchange(|(i, _, _)| if let Intent::Allocate { pool, .. } = i { *pool as u64 } else { 0 });
    let intents = intents.filter(move |i| !is_allocation(i)).concat(allocations.as_collection());

    let intents_out = out.clone();
    intents
        .inspect_batch(move |_t, batch| {
            for (intent, revision, diff) in batch {
                intents_out.push(EngineOutput::Intent { intent: intent.clone(), revision: *revision, diff: *diff });
            }
        })
        .probe_with(probe);
    send_view("endpoints", desired_endpoints.map(|(k, v)| (key_string(&k), v.to_string())), out.clone()).probe_with(probe);
    send_view("endpointslices", desired_slices.map(|(k, v)| (key_string(&k), v.to_string())), out.clone()).probe_with(probe);
    send_view("pod-cidrs", pod_cidrs.map(|(k, v)| (key_string(&k), v.to_string())), out.clone()).probe_with(probe);
    send_view("load-balancer-ips", balancer_ips.map(|(k, v)| (key_string(&k), v.to_string())), out.clone()).probe_with(probe);
    send_problems("controller-errors", ipam_errors.concat(balancer_errors), out.clone()).probe_with(probe);
    let per_node = pods.map(|p| p.node.to_string()).count().map(|(node, n)| (node, n.to_string()));
    send_view("pods-per-node", per_node, out.clone()).probe_with(probe);
    send_view("replica-diffs", replica_diffs.map(|(k, v)| (key_string(&k), v.to_string())), out.clone()).probe_with(probe);
    send_view("quota-usage", quota_status.map(|(k, v)| (key_string(&k), v.to_string())), out.clone()).probe_with(probe);
}

/// A running engine.
pub struct Engine {
    feed: Option<Sender<FeedBatch>>,
    /// Total workers across every process (for key ownership).
    pub peers: usize,
    thread: Option<std::thread::JoinHandle<()>>,
    feeder: Option<std::thread::JoinHandle<()>>,
}

impl Engine {
    /// Starts the workers on their own threads; outputs go to `out`.
    pub fn start(config: EngineConfig, out: Sender<EngineOutput>) -> Result<Engine, String> {
        let local = config.workers.max(1);
        let spin = std::env::var("DELTAKUBE_IDLE_SPIN_US").ok().and_then(|v| v.parse().ok()).map_or(IDLE_SPIN, Duration::from_micros);
        // The workers poll in [`step_while_behind`], yielding between polls; timely's own
        // idle spin would keep the core without yielding it.
        let worker = timely::WorkerConfig::default().idle_spin(Duration::ZERO);
        let (timely_config, peers) = match &config.cluster {
            None => (timely::Config { communication: timely::CommunicationConfig::Process(local), worker }, local),
            Some((process, addresses)) => {
                let comm =
                    timely::CommunicationConfig::Cluster { threads: local, process: *process, addresses: addresses.clone(), report: false, zerocopy: false };
                (timely::Config { communication: comm, worker }, local * addresses.len())
            }
        };
        let mut feeds = Vec::new();
        let mut receivers = Vec::new();
        for _ in 0..local {
            let (tx, rx) = std::sync::mpsc::channel::<Arc<FeedBatch>>();
            feeds.push(tx);
            receivers.push(Mutex::new(Some(rx)));
        }
        let receivers = Arc::new(receivers);
        let controllers = config.controllers.clone();
        let out = Mutex::new(out);
        let progress = Arc::new(WorkerProgress::new(local));
        let (feed, feed_rx) = std::sync::mpsc::channel::<FeedBatch>();
        let coalesce = config.coalesce && config.cluster.is_none();
        let feeder_progress = progress.clone();
        let feeder = std::thread::Builder::new()
            .name("dataflow-feeder".into())
            .spawn(move || feeder::run(feed_rx, feeds, feeder_progress, coalesce))
            .map_err(|e| e.to_string())?;
        let thread = std::thread::Builder::new()
            .name("dataflow-engine".into())
            .spawn(move || {
                let result = timely::execute(timely_config, move |worker| {
                    let local_index = worker.index() % local;
                    let rx = receivers[local_index].lock().expect("receiver lock").take().expect("one receiver per worker");
                    let out = out.lock().expect("output lock").clone();
                    run_worker(worker, &controllers, rx, out, &progress, local_index, spin);
                });
                if let Err(e) = result {
                    tracing::error!(error = %e, "dataflow engine failed");
                }
            })
            .map_err(|e| e.to_string())?;
        Ok(Engine { feed: Some(feed), peers, thread: Some(thread), feeder: Some(feeder) })
    }

    /// Sends a batch to every local worker (through the feeder).
    pub fn push(&self, batch: FeedBatch) {
        if let Some(feed) = &self.feed {
            let _ = feed.send(batch);
        }
    }

    /// Closes the feeds and waits for the workers to finish.
    pub fn shutdown(mut self) {
        self.feed = None;
        if let Some(t) = self.feeder.take() {
            let _ = t.join();
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Steps `worker` until `behind` turns false. While it waits on the other workers it polls for
/// up to `spin`, yielding its core between polls, then parks until a message or progress
/// from a peer unparks it (or [`WAIT_PARK`] passes). On a machine with as many cores as
/// threads that want them (the API server's, the store writer), a worker that spun without
/// yielding took the CPU from the very work it waited for: a yield hands the core to any
/// such thread and returns at once when there is none, so the poll stays quick when the
/// machine is idle.
fn step_while_behind(worker: &mut timely::worker::Worker, spin: Duration, mut behind: impl FnMut() -> bool) {
    let mut polling = Duration::ZERO;
    while behind() {
        let started = Instant::now();
        if polling < spin {
            worker.step();
            if behind() {
                std::thread::yield_now();
            }
            polling += started.elapsed();
        } else {
            worker.step_or_park(Some(WAIT_PARK));
            polling = Duration::ZERO;
        }
    }
}

fn run_worker(
    worker: &mut timely::worker::Worker,
    config: &ControllerConfig,
    rx: Receiver<Arc<FeedBatch>>,
    out: Sender<EngineOutput>,
    progress: &WorkerProgress,
    local_index: usize,
    spin: Duration,
) {
    let index = worker.index();
    let peers = worker.peers();
    crate::slow_operators::register(worker);
    let outbox = Outbox::new(out);
    let (mut inputs, probe) = build(worker, config, outbox.clone());
    let mut reported: Option<Revision> = None;
    let mut next: Revision = 0;
    loop {
        // Take every batch that is waiting, then let the dataflow catch up.
        let first = match rx.recv_timeout(Duration::from_millis(5)) {
            Ok(b) => Some(b),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => break,
        };
        let mut batches: Vec<Arc<FeedBatch>> = first.into_iter().collect();
        while let Ok(b) = rx.try_recv() {
            batches.push(b);
        }
        for batch in &batches {
            if batch.revision < next {
                continue;
            }
            inputs.advance_to(batch.revision);
            for e in &batch.events {
                if owner(&e.key, peers) != index {
                    continue;
                }
                inputs.apply(&e.key, e.old.as_ref(), e.new.as_ref());
            }
            next = batch.revision + 1;
            inputs.advance_to(next);
        }
        if !batches.is_empty() {
            inputs.flush();
        }
        step_while_behind(worker, spin, || probe.less_than(&next));
        outbox.flush();
        if next > 0 && reported != Some(next - 1) && !probe.less_than(&next) {
            reported = Some(next - 1);
            outbox.send_now(EngineOutput::Progress { worker: index, revision: next - 1 });
            progress.report(local_index, next - 1);
        }
    }
    outbox.flush();
}
