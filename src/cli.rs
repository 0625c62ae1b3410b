//! Subcommands and their flags. Flags follow upstream's names where one exists; each becomes a
//! validated config struct before any library sees it.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use deltakube_api::apiserver::{self, ApiServerConfig, StoreConfig};
use deltakube_dataflows::engine::ControllerConfig;

#[derive(Parser, Debug)]
#[command(name = "deltakube", version, about = "A Kubernetes control plane built on incremental dataflow")]
pub struct Command {
    #[command(subcommand)]
    pub action: Action,
}

#[derive(Subcommand, Debug)]
pub enum Action {
    /// Start the whole cluster on the embedded store and print how to point kubectl at it.
    Up(UpFlags),
    /// Run the API server alone.
    Apiserver(ApiServerFlags),
    /// Run benchmarks of the real parts in one process.
    Bench(crate::bench::BenchFlags),
}

/// Flags of `up`: the API server's, plus the controllers'.
#[derive(Args, Debug, Clone)]
pub struct UpFlags {
    #[command(flatten)]
    pub apiserver: ApiServerFlags,
    #[command(flatten)]
    pub controllers: ControllerFlags,
}

/// Flags of the controller manager, named as kube-controller-manager's where one exists.
#[derive(Args, Debug, Clone)]
pub struct ControllerFlags {
    /// Dataflow worker threads for the controllers.
    #[arg(long, env = "DELTAKUBE_WORKERS", default_value_t = 2)]
    pub workers: usize,
}

impl ControllerFlags {
    /// The controllers' constants; `root_ca` is the cluster CA they publish.
    pub fn config(&self, root_ca: String) -> ControllerConfig {
        ControllerConfig { root_ca }
    }
}

/// Flags of the API server, named as kube-apiserver's.
#[derive(Args, Debug, Clone)]
pub struct ApiServerFlags {
    /// Folder for the embedded store, certificates and the admin kubeconfig.
    #[arg(long, env = "DELTAKUBE_DATA_DIR", default_value = "deltakube-data")]
    pub data_dir: PathBuf,
    /// Comma-separated etcd client URLs; when set, etcd is the store instead of the embedded one.
    #[arg(long, env = "DELTAKUBE_ETCD_SERVERS", value_delimiter = ',')]
    pub etcd_servers: Vec<String>,
    /// The port to serve HTTPS on.
    #[arg(long, env = "DELTAKUBE_SECURE_PORT", default_value_t = 6443)]
    pub secure_port: u16,
    /// The address to listen on. Only loopback is used on these machines.
    #[arg(long, env = "DELTAKUBE_BIND_ADDRESS", default_value = "127.0.0.1")]
    pub bind_address: IpAddr,
    /// The address clients use to reach the server; defaults to the bind address.
    #[arg(long, env = "DELTAKUBE_ADVERTISE_ADDRESS")]
    pub advertise_address: Option<IpAddr>,
    /// A CSV file of static bearer tokens: `token,user,uid,"group1,group2"`.
    #[arg(long, env = "DELTAKUBE_TOKEN_AUTH_FILE")]
    pub token_auth_file: Option<PathBuf>,
    /// How often store history older than one interval is compacted (e.g. `5m`, `30s`; `0` never).
    #[arg(long, env = "DELTAKUBE_ETCD_COMPACTION_INTERVAL", default_value = "5m", value_parser = parse_interval)]
    pub etcd_compaction_interval: std::time::Duration,
}

impl ApiServerFlags {
    fn config(&self) -> ApiServerConfig {
        let store =
            if self.etcd_servers.is_empty() { StoreConfig::Embedded(self.data_dir.join("store.redb")) } else { StoreConfig::Etcd(self.etcd_servers.clone()) };
        let bind = SocketAddr::new(self.bind_address, self.secure_port);
        let advertise_ip = self.advertise_address.unwrap_or(self.bind_address);
        let advertise = SocketAddr::new(advertise_ip, self.secure_port).to_string();
        ApiServerConfig {
            data_dir: self.data_dir.clone(),
            store,
            bind,
            advertise,
            token_auth_file: self.token_auth_file.clone(),
            compaction_interval: self.etcd_compaction_interval,
        }
    }
}

pub async fn run(command: Command) -> anyhow::Result<()> {
    match command.action {
        Action::Up(flags) => {
            let views = std::sync::Arc::new(crate::controllers::views::ViewStore::new(flags.controllers.workers));
            let metrics = std::sync::Arc::new(crate::controllers::metrics::Metrics::new());
            let views_router = crate::controllers::views_http::router(views.clone(), metrics.clone());
            let server = apiserver::start(flags.apiserver.config(), Some(views_router)).await.context("starting the apiserver")?;
            let config = flags.controllers.config(server.pki.ca_cert.clone());
            crate::controllers::start(&server, views, metrics, config, flags.controllers.workers).context("starting the controllers")?;
            let kubeconfig = std::fs::canonicalize(&server.kubeconfig).unwrap_or(server.kubeconfig.clone());
            println!("deltakube is up: API server at https://{}", server.address);
            println!("Point kubectl at it with:");
            println!("  export KUBECONFIG={}", kubeconfig.display());
            println!("  kubectl get namespaces");
            wait_for_shutdown().await;
            server.stop();
        }
        Action::Bench(flags) => crate::bench::run(flags).await?,
        Action::Apiserver(flags) => {
            let server = apiserver::start(flags.config(), None).await.context("starting the apiserver")?;
            println!("apiserver listening on https://{} (kubeconfig: {})", server.address, server.kubeconfig.display());
            wait_for_shutdown().await;
            server.stop();
        }
    }
    Ok(())
}

async fn wait_for_shutdown() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("signal handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

/// Parses a duration such as `5m` or `30s`; a bare `0` means never.
fn parse_interval(text: &str) -> Result<std::time::Duration, humantime::DurationError> {
    if text.trim() == "0" {
        return Ok(std::time::Duration::ZERO);
    }
    humantime::parse_duration(text)
}
