//! Wiring of the controller manager: the engine with its edges (a change feed, the intent
//! writer, the Event recorder and the clock's Lease) and the view store they fill. In `deltakube up` the edges are in-process
//! (the watch cache and the API router); `deltakube controllers --kubeconfig` reaches the
//! API server over HTTPS instead ([`remote_feed`], [`api::Api::Remote`]).

pub mod api;
pub mod binder;
pub mod events;
pub mod explain;
pub mod feed;
pub mod lease;
pub mod metrics;
pub mod quota_view;
pub mod remote_feed;
pub mod views;
pub mod views_http;
pub mod views_registration;
pub mod writer;

use std::sync::Arc;

use deltakube_api::apiserver::RunningApiServer;
use deltakube_api::auth::serviceaccount::ServiceAccountTokens;
use deltakube_dataflows::engine::{ControllerConfig, Engine, EngineConfig, EngineOutput};

use views::{ViewDelta, ViewStore};
use writer::{Writer, WriterInput};

/// The writer's means: the route to the API server and what it signs tokens with.
pub struct WriteBack {
    pub api: api::Api,
    /// None where no token controller runs (`deltakube scheduler`).
    pub tokens: Option<Arc<ServiceAccountTokens>>,
    pub root_ca: String,
}

/// Starts the engine, the writer and the collector between them, and, in the process that
/// keeps the clock, the Lease's renewals; the caller feeds the engine it returns once the
/// clock's first renewal is in ([`lease::first_renewal`]). Worker progress is reported by
/// global worker index; the view store counts this process's workers.
fn launch(config: EngineConfig, write_back: WriteBack, views: Arc<ViewStore>, metrics: Arc<metrics::Metrics>) -> anyhow::Result<Launched> {
    let local_workers = config.workers.max(1);
    let keeps_clock = config.controllers.run_controllers && config.cluster.as_ref().is_none_or(|(process, _)| *process == 0);
    let (out_tx, out_rx) = std::sync::mpsc::channel::<EngineOutput>();
    let scheduler = config.controllers.scheduler.clone();
    let engine = Arc::new(Engine::start(config, out_tx).map_err(anyhow::Error::msg)?);
    let clock = keeps_clock.then(|| {
        let (first_tx, first_rx) = tokio::sync::oneshot::channel();
        tokio::spawn(lease::renew(write_back.api.clone(), lease::identity(), first_tx));
        first_rx
    });
    let (writer_tx, writer_rx) = tokio::sync::mpsc::unbounded_channel();
    let binder_tx = scheduler.map(|scheduler| {
        let (binder_tx, binder_rx) = tokio::sync::mpsc::unbounded_channel();
        let binder = Arc::new(binder::Binder::new(write_back.api.as_scheduler(), scheduler, views.clone(), metrics.clone()));
        tokio::spawn(binder.run(binder_rx));
        binder_tx
    });
    let (events_tx, events_rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(events::EventRecorder::new(write_back.api.clone()).run(events_rx));
    let writer = Arc::new(Writer::new(write_back.api, write_back.tokens, write_back.root_ca, metrics.clone(), events_tx.clone()));
    tokio::spawn(writer.run(writer_rx));

    std::thread::Builder::new().name("dataflow-collector".into()).spawn(move || {
        let mut complete = 0;
        while let Ok(output) = out_rx.recv() {
            match output {
                EngineOutput::Delta { view, key, value, revision, diff } => views.delta(ViewDelta { view, revision, key, value, diff }),
                EngineOutput::Intent { intent, revision, diff } => {
                    views.delta(ViewDelta {
                        view: "intents",
                        revision,
                        key: format!("{:?}", intent.key()),
                        value: serde_json::to_string(&intent).unwrap_or_default(),
                        diff,
                    });
                    let _ = writer_tx.send(WriterInput::Intent { intent, diff, revision });
                }
                // A problem that appears is recorded; one that goes leaves its Event, as upstream's.
                EngineOutput::Problem { problem, diff, .. } => {
                    if diff > 0 {
                        let _ = events_tx.send(problem);
                    }
                }
                EngineOutput::Scheduler { row, revision, diff } => {
                    if let Some(tx) = &binder_tx {
                        let _ = tx.send(binder::BinderInput::Row { row, revision, diff });
                    }
                }
                EngineOutput::Progress { worker, revision } => {
                    // Timely's progress is global: a local worker past R means the whole
                    // dataflow, in every process, is past R. Each local worker sends its
                    // outputs before its progress, so R is complete here once every local
                    // worker has reported it (`views.revision()` is their minimum).
                    views.progress(worker % local_workers, revision);
                    let now = views.revision();
                    if now > complete {
                        complete = now;
                        metrics.complete(now);
                        let _ = writer_tx.send(WriterInput::Progress(now));
                        if let Some(tx) = &binder_tx {
                            let _ = tx.send(binder::BinderInput::Progress(now));
                        }
                    }
                }
            }
        }
    })?;
    Ok(Launched { engine, clock })
}

/// A launched engine, and the first renewal of the clock it keeps, if it keeps it.
struct Launched {
    engine: Arc<Engine>,
    clock: Option<tokio::sync::oneshot::Receiver<()>>,
}

impl Launched {
    /// Waits for the clock's first renewal, so that the feed lists the current time.
    async fn clock_started(clock: Option<tokio::sync::oneshot::Receiver<()>>) {
        if let Some(first) = clock {
            lease::first_renewal(first).await;
        }
    }
}

/// Starts the controllers in-process against `server`, filling `views`.
/// The engine lives as long as its feed task, which runs for the life of the process.
pub fn start(
    server: &RunningApiServer,
    views: Arc<ViewStore>,
    metrics: Arc<metrics::Metrics>,
    controllers: ControllerConfig,
    workers: usize,
) -> anyhow::Result<()> {
    let config = EngineConfig { workers, cluster: None, controllers, coalesce: true };
    let server_cache = server.cache.clone();
    let write_back = WriteBack {
        api: api::Api::in_process(server.internal_router.clone()).binding_through(server.pod_bindings.clone()),
        tokens: Some(server.service_account_tokens.clone()),
        root_ca: server.pki.ca_cert.clone(),
    };
    let Launched { engine, clock } = launch(config, write_back, views, metrics.clone())?;
    tokio::spawn(async move {
        Launched::clock_started(clock).await;
        feed::follow_cache(server_cache, engine, metrics).await
    });
    Ok(())
}

/// Runs the controllers against a remote API server until the feed fails (a watch that can
/// no longer resume); the caller exits then, and a restart relists.
pub async fn run_remote(
    client: crate::client::ApiClient,
    config: EngineConfig,
    write_back: WriteBack,
    views: Arc<ViewStore>,
    metrics: Arc<metrics::Metrics>,
    feed_delay: std::time::Duration,
) -> anyhow::Result<()> {
    let Launched { engine, clock } = launch(config, write_back, views, metrics.clone())?;
    Launched::clock_started(clock).await;
    remote_feed::follow_api(client, engine, metrics, feed_delay).await
}
