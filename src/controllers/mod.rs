//! Wiring of the controller manager: the engine with its two edges (the feed from the watch
//! cache and the intent writer through the API router) and the view store they fill.

pub mod feed;
pub mod metrics;
pub mod views;
pub mod views_http;
pub mod writer;

use std::sync::Arc;

use deltakube_api::apiserver::RunningApiServer;
use deltakube_dataflows::engine::{ControllerConfig, Engine, EngineConfig, EngineOutput};

use views::{ViewDelta, ViewStore};
use writer::{Writer, WriterInput};

/// Starts the controllers in-process against `server`, filling `views`.
/// The engine lives as long as its feed task, which runs for the life of the process.
pub fn start(server: &RunningApiServer, views: Arc<ViewStore>, metrics: Arc<metrics::Metrics>, controllers: ControllerConfig, workers: usize) -> anyhow::Result<()> {
    let config = EngineConfig { workers, cluster: None, controllers };
    let (out_tx, out_rx) = std::sync::mpsc::channel::<EngineOutput>();
    let engine = Arc::new(Engine::start(config, out_tx).map_err(anyhow::Error::msg)?);
    let (writer_tx, writer_rx) = tokio::sync::mpsc::unbounded_channel();
    let writer = Arc::new(Writer::new(server.internal_router.clone(), server.service_account_tokens.clone(), server.pki.ca_cert.clone(), metrics.clone()));
    tokio::spawn(writer.run(writer_rx));

    // The collector: engine outputs to the view store and the writer.
    let collector_views = views.clone();
    let collector_metrics = metrics.clone();
    std::thread::Builder::new().name("dataflow-collector".into()).spawn(move || {
        let mut complete = 0;
        while let Ok(output) = out_rx.recv() {
            match output {
                EngineOutput::Delta { view, key, value, revision, diff } => collector_views.delta(ViewDelta { view, revision, key, value, diff }),
                EngineOutput::Intent { intent, revision, diff } => {
                    collector_views.delta(ViewDelta {
                        view: "intents",
                        revision,
                        key: format!("{:?}", intent.key()),
                        value: serde_json::to_string(&intent).unwrap_or_default(),
                        diff,
                    });
                    let _ = writer_tx.send(WriterInput::Intent { intent, diff, revision });
                }
                EngineOutput::Progress { worker, revision } => {
                    collector_views.progress(worker, revision);
                    let now = collector_views.revision();
                    if now > complete {
                        complete = now;
                        collector_metrics.complete(now);
                        let _ = writer_tx.send(WriterInput::Progress(now));
                    }
                }
            }
        }
    })?;
    tokio::spawn(feed::follow_cache(server.cache.clone(), engine, metrics));
    Ok(())
}
