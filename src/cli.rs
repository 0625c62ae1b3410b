//! Subcommands and their flags. Flags follow upstream's names where one exists; each becomes a
//! validated config struct before any library sees it.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use deltakube_api::apiserver::{self, ApiServerConfig, StoreConfig};
use deltakube_api::service_alloc::ServiceRanges;
use deltakube_dataflows::controllers::cidr::{AddressPool, Ipv4Cidr, NodeCidrs};
use deltakube_dataflows::engine::ControllerConfig;

use crate::controllers::views_registration;

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
    /// Run the controller manager against an API server, as kube-controller-manager does.
    Controllers(ControllersFlags),
    /// Run the scheduler alone against an API server, as kube-scheduler does.
    Scheduler(SchedulerFlags),
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
    /// Give every Node a pod CIDR from --cluster-cidr. Off by default as upstream; `up` turns
    /// it on (with --cluster-cidr 10.244.0.0/16) unless told otherwise.
    #[arg(long, env = "DELTAKUBE_ALLOCATE_NODE_CIDRS", num_args = 0..=1, default_missing_value = "true")]
    pub allocate_node_cidrs: Option<bool>,
    /// The pods' IPv4 range that Node pod CIDRs are cut from (e.g. 10.244.0.0/16).
    #[arg(long, env = "DELTAKUBE_CLUSTER_CIDR")]
    pub cluster_cidr: Option<Ipv4Cidr>,
    /// The prefix length of each Node's pod CIDR, at most 16 bits longer than --cluster-cidr's.
    #[arg(long, env = "DELTAKUBE_NODE_CIDR_MASK_SIZE", default_value_t = 24)]
    pub node_cidr_mask_size: u8,
    /// The addresses Services of type LoadBalancer get, as `first-last` (e.g.
    /// 172.18.255.200-172.18.255.250) or a CIDR (every address in it); none by default, and
    /// without one such Services get no address.
    #[arg(long, env = "DELTAKUBE_LOAD_BALANCER_IP_RANGE")]
    pub load_balancer_ip_range: Option<AddressPool>,
    /// Run the scheduler (upstream's default profile) beside the controllers; `false` leaves
    /// pods to a scheduler run elsewhere (e.g. `deltakube scheduler`).
    #[arg(long, env = "DELTAKUBE_SCHEDULE", default_value_t = true, action = clap::ArgAction::Set)]
    pub schedule: bool,
    /// The scheduler's `KubeSchedulerConfiguration` file (kubescheduler.config.k8s.io/v1), as
    /// kube-scheduler's `--config`: plugins, weights, scoring strategy.
    #[arg(long, env = "DELTAKUBE_SCHEDULER_CONFIG")]
    pub scheduler_config: Option<PathBuf>,
}

/// Flags of `scheduler`: where the API server is, as kube-scheduler's `--kubeconfig`.
#[derive(Args, Debug, Clone)]
pub struct SchedulerFlags {
    /// The kubeconfig whose current context reaches the API server.
    #[arg(long, env = "KUBECONFIG")]
    pub kubeconfig: PathBuf,
    /// The `KubeSchedulerConfiguration` file (kubescheduler.config.k8s.io/v1): plugins,
    /// weights, scoring strategy; upstream's defaults without it.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Dataflow worker threads.
    #[arg(long, env = "DELTAKUBE_WORKERS", default_value_t = 2)]
    pub workers: usize,
    /// Where to serve `/views` (with the explain-why views) and `/metrics` over plain HTTP;
    /// port 0 picks a free one. The address is registered with the API server, which serves
    /// `/views` through it (endpoints `kube-system/deltakube-views`).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub views_address: SocketAddr,
}

/// Flags of `controllers`: where the API server is, and the controllers' own flags.
#[derive(Args, Debug, Clone)]
pub struct ControllersFlags {
    /// The kubeconfig whose current context reaches the API server (e.g. `up`'s
    /// `<data-dir>/admin.kubeconfig`).
    #[arg(long, env = "KUBECONFIG")]
    pub kubeconfig: PathBuf,
    /// The PEM key that signs service account tokens: the API server's `<data-dir>/pki/sa.key`.
    #[arg(long)]
    pub service_account_private_key_file: PathBuf,
    /// The CA published in every namespace's `kube-root-ca.crt`; the kubeconfig's CA by default.
    #[arg(long)]
    pub root_ca_file: Option<PathBuf>,
    /// This process's index in `--hosts`.
    #[arg(long, default_value_t = 0)]
    pub process: usize,
    /// A file with every controller process's `host:port` (timely's cluster addresses), one
    /// per line; without it the controllers run in this process alone.
    #[arg(long)]
    pub hosts: Option<PathBuf>,
    /// Where to serve `/views` and `/metrics` over plain HTTP; port 0 picks a free one. The
    /// address is registered with the API server, which serves `/views` through it (endpoints
    /// `kube-system/deltakube-views`; in `up` the views are in the API server's process).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub views_address: SocketAddr,
    /// Holds every feed batch back this long before the dataflows see it (e.g. `300ms`): a
    /// lagging feed, for testing that expectations never let a write happen twice.
    #[arg(long, default_value = "0", value_parser = parse_interval, hide = true)]
    pub debug_feed_delay: std::time::Duration,
    #[command(flatten)]
    pub controllers: ControllerFlags,
}

impl ControllersFlags {
    /// Timely's cluster: this process's index and every process's address.
    fn cluster(&self) -> anyhow::Result<Option<(usize, Vec<String>)>> {
        let Some(path) = &self.hosts else {
            anyhow::ensure!(self.process == 0, "--process {} needs --hosts", self.process);
            return Ok(None);
        };
        let text = std::fs::read_to_string(path).with_context(|| format!("reading --hosts {}", path.display()))?;
        let hosts: Vec<String> = text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(str::to_string).collect();
        anyhow::ensure!(self.process < hosts.len(), "--process {} is not an index into the {} hosts of {}", self.process, hosts.len(), path.display());
        Ok(Some((self.process, hosts)))
    }
}

/// The pod range `up` allocates Node CIDRs from when none is given (flannel's and kind's).
const UP_CLUSTER_CIDR: &str = "10.244.0.0/16";

impl ControllerFlags {
    /// `up`'s defaults for a cluster on one machine: Nodes get pod CIDRs from 10.244.0.0/16, as
    /// on kind or kubeadm with flannel, unless `--allocate-node-cidrs=false` or another
    /// `--cluster-cidr` is given. `controllers` keeps upstream's defaults (no allocation).
    pub fn with_up_defaults(mut self) -> ControllerFlags {
        self.allocate_node_cidrs.get_or_insert(true);
        if self.cluster_cidr.is_none() {
            self.cluster_cidr = UP_CLUSTER_CIDR.parse().ok();
        }
        self
    }

    /// The controllers' constants, validated; `root_ca` is the cluster CA they publish.
    pub fn config(&self, root_ca: String) -> anyhow::Result<ControllerConfig> {
        let node_cidrs = match (self.allocate_node_cidrs.unwrap_or(false), self.cluster_cidr) {
            (false, _) => None,
            (true, Some(cidr)) => Some(NodeCidrs::new(cidr, self.node_cidr_mask_size).context("--cluster-cidr with --node-cidr-mask-size")?),
            // Upstream refuses to start the same way.
            (true, None) => anyhow::bail!("--allocate-node-cidrs needs --cluster-cidr"),
        };
        let scheduler = if self.schedule { Some(scheduler_config(self.scheduler_config.as_deref())?) } else { None };
        Ok(ControllerConfig { root_ca, node_cidrs, load_balancer_pool: self.load_balancer_ip_range, scheduler, run_controllers: true })
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
    /// The IPv4 CIDR Services' ClusterIPs come from (at most 2^20 addresses).
    #[arg(long, env = "DELTAKUBE_SERVICE_CLUSTER_IP_RANGE", default_value = "10.96.0.0/12")]
    pub service_cluster_ip_range: String,
    /// The ports NodePort and LoadBalancer Services' node ports come from, `first-last`.
    #[arg(long, env = "DELTAKUBE_SERVICE_NODE_PORT_RANGE", default_value = "30000-32767")]
    pub service_node_port_range: String,
}

impl ApiServerFlags {
    fn config(&self) -> anyhow::Result<ApiServerConfig> {
        let store =
            if self.etcd_servers.is_empty() { StoreConfig::Embedded(self.data_dir.join("store.redb")) } else { StoreConfig::Etcd(self.etcd_servers.clone()) };
        let bind = SocketAddr::new(self.bind_address, self.secure_port);
        let advertise_ip = self.advertise_address.unwrap_or(self.bind_address);
        let advertise = SocketAddr::new(advertise_ip, self.secure_port).to_string();
        let service_ranges = ServiceRanges::parse(&self.service_cluster_ip_range, &self.service_node_port_range).map_err(anyhow::Error::msg)?;
        Ok(ApiServerConfig {
            data_dir: self.data_dir.clone(),
            store,
            bind,
            advertise,
            token_auth_file: self.token_auth_file.clone(),
            compaction_interval: self.etcd_compaction_interval,
            service_ranges,
        })
    }
}

pub async fn run(command: Command) -> anyhow::Result<()> {
    match command.action {
        Action::Up(flags) => {
            // Validated before anything starts; the CA is the API server's, known once it has.
            let mut config = flags.controllers.clone().with_up_defaults().config(String::new())?;
            let views = std::sync::Arc::new(crate::controllers::views::ViewStore::new(flags.controllers.workers));
            let metrics = std::sync::Arc::new(crate::controllers::metrics::Metrics::new());
            let in_process = apiserver::InProcessControllers {
                views: crate::controllers::views_http::router(views.clone(), metrics.clone()),
                quota_usage: std::sync::Arc::new(crate::controllers::quota_view::QuotaViewReader { views: views.clone(), metrics: metrics.clone() }),
            };
            let server = apiserver::start(flags.apiserver.config()?, Some(in_process)).await.context("starting the apiserver")?;
            config.root_ca = server.pki.ca_cert.clone();
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
        Action::Controllers(flags) => run_controllers(flags).await?,
        Action::Scheduler(flags) => run_scheduler(flags).await?,
        Action::Apiserver(flags) => {
            let server = apiserver::start(flags.config()?, None).await.context("starting the apiserver")?;
            println!("apiserver listening on https://{} (kubeconfig: {})", server.address, server.kubeconfig.display());
            wait_for_shutdown().await;
            server.stop();
        }
    }
    Ok(())
}

/// `deltakube controllers`: the controllers over HTTPS, until a signal or a feed that can
/// no longer resume.
async fn run_controllers(flags: ControllersFlags) -> anyhow::Result<()> {
    use crate::controllers::{api::Api, metrics::Metrics, views::ViewStore, WriteBack};
    use deltakube_api::auth::serviceaccount::ServiceAccountTokens;
    use deltakube_dataflows::engine::EngineConfig;

    let credentials = crate::client::kubeconfig::load(&flags.kubeconfig)?;
    let key = std::fs::read_to_string(&flags.service_account_private_key_file)
        .with_context(|| format!("reading --service-account-private-key-file {}", flags.service_account_private_key_file.display()))?;
    let tokens = std::sync::Arc::new(ServiceAccountTokens::new(&key, None).map_err(|e| anyhow::anyhow!("--service-account-private-key-file: {e}"))?);
    let root_ca = match &flags.root_ca_file {
        Some(path) => std::fs::read_to_string(path).with_context(|| format!("reading --root-ca-file {}", path.display()))?,
        None => credentials.ca_pem.clone(),
    };
    let client = crate::client::ApiClient::new(&credentials, true)?;
    let workers = flags.controllers.workers;
    let config = EngineConfig { workers, cluster: flags.cluster()?, controllers: flags.controllers.config(root_ca.clone())?, coalesce: true };
    let views = std::sync::Arc::new(ViewStore::new(workers));
    let metrics = std::sync::Arc::new(Metrics::new());
    let views_at = serve_views(flags.views_address, &views, &metrics).await?;
    let write_back = WriteBack { api: Api::Remote(Box::new(client.clone())), tokens: Some(tokens), root_ca };
    println!("controllers following {} (process {})", credentials.server, flags.process);
    let work = crate::controllers::run_remote(client.clone(), config, write_back, views, metrics, flags.debug_feed_delay);
    run_with_views_registered(&client, &format!("controllers-{}", flags.process), views_at, work).await
}

/// `deltakube scheduler`: the scheduler alone over HTTPS (the controllers' inputs stay empty).
async fn run_scheduler(flags: SchedulerFlags) -> anyhow::Result<()> {
    use crate::controllers::{api::Api, metrics::Metrics, views::ViewStore, WriteBack};
    use deltakube_dataflows::engine::EngineConfig;

    let scheduler = scheduler_config(flags.config.as_deref())?;
    let credentials = crate::client::kubeconfig::load(&flags.kubeconfig)?;
    let client = crate::client::ApiClient::new(&credentials, true)?;
    let controllers =
        ControllerConfig { root_ca: String::new(), node_cidrs: None, load_balancer_pool: None, scheduler: Some(scheduler), run_controllers: false };
    let config = EngineConfig { workers: flags.workers, cluster: None, controllers, coalesce: true };
    let views = std::sync::Arc::new(ViewStore::new(flags.workers));
    let metrics = std::sync::Arc::new(Metrics::new());
    let views_at = serve_views(flags.views_address, &views, &metrics).await?;
    let write_back = WriteBack { api: Api::Remote(Box::new(client.clone())), tokens: None, root_ca: String::new() };
    println!("scheduler following {}", credentials.server);
    let work = crate::controllers::run_remote(client.clone(), config, write_back, views, metrics, std::time::Duration::ZERO);
    run_with_views_registered(&client, SCHEDULER_PROCESS, views_at, work).await
}

/// The scheduler's profile: read from a `KubeSchedulerConfiguration` file, or upstream's
/// defaults. What the file names and deltakube does not run is logged.
fn scheduler_config(path: Option<&std::path::Path>) -> anyhow::Result<deltakube_dataflows::scheduler::config::SchedulerConfig> {
    let Some(path) = path else { return Ok(Default::default()) };
    let file = deltakube_dataflows::scheduler::config_file::load(path).map_err(anyhow::Error::msg)?;
    for ignored in &file.ignored {
        tracing::warn!(config = %path.display(), "ignored: {ignored}");
    }
    Ok(file.config)
}

/// The name `deltakube scheduler` registers its views under.
const SCHEDULER_PROCESS: &str = "scheduler";

/// Serves `/views` and `/metrics` over plain HTTP at `--views-address`; returns the address
/// others reach them at.
async fn serve_views(
    address: SocketAddr,
    views: &std::sync::Arc<crate::controllers::views::ViewStore>,
    metrics: &std::sync::Arc<crate::controllers::metrics::Metrics>,
) -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(address).await.with_context(|| format!("binding --views-address {address}"))?;
    let bound = views_registration::advertised(listener.local_addr().with_context(|| format!("binding --views-address {address}"))?);
    let router = crate::controllers::views_http::router(views.clone(), metrics.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });
    println!("views and metrics at http://{bound}/views");
    Ok(bound)
}

/// Runs `work` (a process's controllers or scheduler) with its views registered under
/// `process`, until it ends or a signal comes. Then the views are taken out of the API
/// server's `/views`, once the task that renews them has stopped; a failure only leaves an
/// entry that answers 503 until it goes stale.
async fn run_with_views_registered(
    client: &crate::client::ApiClient,
    process: &str,
    views_at: SocketAddr,
    work: impl std::future::Future<Output = anyhow::Result<()>>,
) -> anyhow::Result<()> {
    let registration = views_registration::keep_registered(client.clone(), process.to_string(), views_at);
    let result = tokio::select! {
        result = work => result,
        _ = wait_for_shutdown() => Ok(()),
    };
    registration.abort();
    let _ = registration.await;
    let withdrawn = tokio::time::timeout(std::time::Duration::from_secs(5), views_registration::set(client, process, None)).await;
    if !matches!(withdrawn, Ok(Ok(()))) {
        tracing::warn!(process, "could not withdraw the views from the API server");
    }
    result
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
