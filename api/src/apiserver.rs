//! Assembles the API server from validated configuration: store, bootstrap objects, watch
//! cache, authentication, RBAC, OpenAPI documents and the TLS listener.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::State;
use axum::middleware;

use crate::auth::authn::{authenticate, TokenFileError};
use crate::auth::serviceaccount::{ServiceAccountTokens, TokenKeyError};
use crate::auth::{bootstrap, Authenticator, Authorizer, TokenFile};
use crate::cache::WatchCache;
use crate::openapi::{OpenApiDocs, ServedKind};
use crate::pki::{Pki, PkiError};
use crate::resources::registry::RESOURCES;
use crate::serve::{serve_tls, tls_config, ServeError};
use crate::server::{router, ApiState};
use crate::store::embedded::EmbeddedStore;
use crate::store::etcd::EtcdStore;
use crate::store::{Store, StoreError};

/// Which store backs the server.
#[derive(Debug, Clone)]
pub enum StoreConfig {
    /// The embedded store, in this file.
    Embedded(PathBuf),
    /// A real etcd at these client URLs.
    Etcd(Vec<String>),
}

/// Validated API server configuration.
#[derive(Debug, Clone)]
pub struct ApiServerConfig {
    pub data_dir: PathBuf,
    pub store: StoreConfig,
    pub bind: SocketAddr,
    /// The address written into the kubeconfig and discovery, e.g. `127.0.0.1:6443`.
    pub advertise: String,
    pub token_auth_file: Option<PathBuf>,
    /// How often history older than one interval is compacted away; zero disables it.
    pub compaction_interval: std::time::Duration,
    /// `--service-cluster-ip-range` and `--service-node-port-range`.
    pub service_ranges: crate::service_alloc::ServiceRanges,
}

/// Errors starting the server.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("certificates: {0}")]
    Pki(#[from] PkiError),
    #[error("tls: {0}")]
    Tls(#[from] ServeError),
    #[error("service account key: {0}")]
    TokenKey(#[from] TokenKeyError),
    #[error("token file: {0}")]
    Tokens(#[from] TokenFileError),
    #[error("listening on {0}: {1}")]
    Listen(SocketAddr, std::io::Error),
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
}

/// A running server.
pub struct RunningApiServer {
    pub address: SocketAddr,
    /// The API router without network authentication, for in-process clients (the
    /// controllers' writer) that put their [`crate::auth::UserInfo`] in the request.
    pub internal_router: axum::Router,
    /// Bindings for the in-process scheduler, without the router.
    pub pod_bindings: crate::server::PodBindings,
    pub service_account_tokens: Arc<ServiceAccountTokens>,
    pub kubeconfig: PathBuf,
    pub store: Arc<dyn Store>,
    pub cache: Arc<WatchCache>,
    pub pki: Pki,
    server: tokio::task::JoinHandle<()>,
}

impl RunningApiServer {
    /// Stops accepting connections.
    pub fn stop(&self) {
        self.server.abort();
    }
}

/// Opens the configured store.
pub async fn open_store(config: &StoreConfig) -> Result<Arc<dyn Store>, StoreError> {
    Ok(match config {
        StoreConfig::Embedded(path) => Arc::new(EmbeddedStore::open(path)?),
        StoreConfig::Etcd(servers) => Arc::new(EtcdStore::connect(servers).await?),
    })
}

/// The kinds the OpenAPI documents describe: every served resource.
pub fn served_kinds() -> Vec<ServedKind> {
    RESOURCES
        .iter()
        .map(|r| ServedKind {
            group: r.group,
            version: r.version,
            kind: r.kind,
            plural: r.plural,
            namespaced: r.namespaced,
            verbs: r.verbs,
            subresources: r.subresources.iter().map(|s| (s.name, s.kind)).collect(),
        })
        .collect()
}

/// What controllers running in the API server's process (`deltakube up`) lend it.
pub struct InProcessControllers {
    /// Their `/views` and `/metrics` routes.
    pub views: axum::Router,
    /// Their `quota-usage` view, which ResourceQuota admission reads.
    pub quota_usage: Arc<dyn crate::admission::quota_view::QuotaUsageView>,
}

/// Starts the API server and returns once it accepts connections. The in-process
/// controllers' views are served behind the same authentication, with RBAC deciding on their
/// paths as non-resource URLs; without them, `/views` is forwarded to the views that
/// controller processes registered ([`crate::views_proxy`]), and quota admission sums usage
/// from the watch cache.
pub async fn start(config: ApiServerConfig, in_process: Option<InProcessControllers>) -> Result<RunningApiServer, StartError> {
    std::fs::create_dir_all(&config.data_dir).map_err(|e| StartError::Io(config.data_dir.clone(), e))?;
    let host = config.advertise.rsplit_once(':').map_or(config.advertise.as_str(), |(h, _)| h).to_string();
    let pki = Pki::ensure(&config.data_dir.join("pki"), &[host])?;
    let store = open_store(&config.store).await?;
    bootstrap::ensure(store.as_ref()).await?;
    let cache = WatchCache::start(store.clone()).await?;
    let tokens = Arc::new(ServiceAccountTokens::new(&pki.service_account_key, Some(cache.clone()))?);
    let mut authenticator = Authenticator::default();
    if let Some(path) = &config.token_auth_file {
        authenticator.tokens = TokenFile::load(path)?;
    }
    authenticator.verifiers.push(tokens.clone());
    let authenticator = Arc::new(authenticator);
    let openapi = Arc::new(OpenApiDocs::build(&served_kinds()));
    let authorizer = Arc::new(Authorizer::new(cache.clone()));
    let state = Arc::new(ApiState {
        store: store.clone(),
        cache: cache.clone(),
        openapi,
        authorizer: authorizer.clone(),
        authenticator: authenticator.clone(),
        service_account_tokens: tokens.clone(),
        advertise_address: config.advertise.clone(),
        services: crate::service_alloc::ServiceAllocator::new(config.service_ranges.clone()),
        quota_usage: in_process.as_ref().map(|c| c.quota_usage.clone()),
    });
    let pod_bindings = crate::server::PodBindings::new(state.clone());
    let internal_router = router(state);
    // Without the controllers in-process, `/views` goes to the processes that registered theirs.
    let extra = in_process.map_or_else(|| crate::views_proxy::router(cache.clone()), |c| c.views);
    let app = internal_router.clone().merge(extra.route_layer(middleware::from_fn_with_state(authorizer, authorize_path)));
    let app = app.layer(middleware::from_fn_with_state(authenticator, authenticate));
    let listener = tokio::net::TcpListener::bind(config.bind).await.map_err(|e| StartError::Listen(config.bind, e))?;
    let address = listener.local_addr().map_err(|e| StartError::Listen(config.bind, e))?;
    let tls = tls_config(&pki)?;
    let server = tokio::spawn(serve_tls(listener, app, tls));
    if !config.compaction_interval.is_zero() {
        tokio::spawn(compact_periodically(store.clone(), config.compaction_interval));
    }
    let kubeconfig = config.data_dir.join("admin.kubeconfig");
    let server_url = format!("https://{}", config.advertise);
    std::fs::write(&kubeconfig, pki.admin_kubeconfig(&server_url)).map_err(|e| StartError::Io(kubeconfig.clone(), e))?;
    tracing::info!(address = %address, store = store.backend_name(), "apiserver listening");
    Ok(RunningApiServer { address, internal_router, pod_bindings, service_account_tokens: tokens, kubeconfig, store, cache, pki, server })
}

/// Compacts the store as upstream's apiserver does: every interval, to the revision seen one
/// interval earlier, so that watchers have at least one interval to resume.
async fn compact_periodically(store: Arc<dyn Store>, interval: std::time::Duration) {
    let mut previous: Option<u64> = None;
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let current = match store.current_revision().await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "compaction skipped: no current revision");
                continue;
            }
        };
        if let Some(target) = previous.filter(|r| *r > 0) {
            match store.compact(target).await {
                Ok(()) => tracing::info!(revision = target, "store compacted"),
                Err(StoreError::Compacted { .. }) => {}
                Err(e) => tracing::warn!(error = %e, revision = target, "compaction failed"),
            }
        }
        previous = Some(current);
    }
}

/// RBAC for extra routes: the request's path is a non-resource URL, its method the verb.
async fn authorize_path(State(authorizer): State<Arc<Authorizer>>, request: axum::extract::Request, next: middleware::Next) -> axum::response::Response {
    use axum::response::IntoResponse;
    let path = request.uri().path().to_string();
    let verb = match *request.method() {
        http::Method::GET | http::Method::HEAD => "get",
        http::Method::POST => "post",
        http::Method::PUT => "put",
        http::Method::PATCH => "patch",
        http::Method::DELETE => "delete",
        _ => "unknown",
    };
    let user = request.extensions().get::<crate::auth::UserInfo>().cloned();
    let attributes = crate::auth::rbac::Attributes { verb, group: "", resource: "", subresource: None, namespace: None, name: None, path: Some(&path) };
    match user {
        Some(u) if authorizer.allows(&u, &attributes) => next.run(request).await,
        Some(u) => crate::error::ApiError::forbidden(format!("forbidden: User \"{}\" cannot {verb} path \"{path}\"", u.name)).into_response(),
        None => crate::error::ApiError::unauthorized().into_response(),
    }
}
