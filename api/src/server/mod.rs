//! The REST API: one axum router. Fixed paths (discovery, version, health, OpenAPI) have
//! their own routes; every resource path goes through [`dispatch`], which parses the request
//! as upstream's `RequestInfoFactory` does and hands it to the verb's handler.

mod discovery;
mod negotiate;
mod query;
mod read;
mod subresource;
mod watch;
mod write;

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::auth::{Authenticator, Authorizer, UserInfo};
use crate::cache::WatchCache;
use crate::error::{ApiError, ApiResult};
use crate::openapi::OpenApiDocs;
use crate::request_info::{self, RequestInfo};
use crate::resources::registry::{self, ResourceDescriptor};
use crate::store::Store;

pub use negotiate::json_response as negotiate_json;
pub use query::Query;

/// Largest request body accepted, as upstream's 3 MiB limit.
pub const MAX_BODY_BYTES: usize = 3 * 1024 * 1024;

/// Everything the handlers share.
pub struct ApiState {
    pub store: Arc<dyn Store>,
    pub cache: Arc<WatchCache>,
    pub openapi: Arc<OpenApiDocs>,
    pub authorizer: Arc<Authorizer>,
    pub authenticator: Arc<Authenticator>,
    /// Signs TokenRequest tokens (and, later, the token controller's Secrets).
    pub service_account_tokens: Arc<crate::auth::serviceaccount::ServiceAccountTokens>,
    /// `host:port` clients reach us at, for `serverAddressByClientCIDRs`.
    pub advertise_address: String,
    /// Services' ClusterIPs and NodePorts.
    pub services: crate::service_alloc::ServiceAllocator,
    /// The in-process controllers' `quota-usage` view, for ResourceQuota admission; None
    /// when the controllers run elsewhere.
    pub quota_usage: Option<Arc<dyn crate::admission::quota_view::QuotaUsageView>>,
}

pub type SharedState = Arc<ApiState>;

/// `pods/binding` for a scheduler in this process: the binding the HTTP subresource makes
/// (the same checks, the same compare on the pod's revision), without a request to build,
/// route, authorize and answer. Remote schedulers post the subresource.
#[derive(Clone)]
pub struct PodBindings(SharedState);

impl PodBindings {
    pub fn new(state: SharedState) -> PodBindings {
        PodBindings(state)
    }

    /// Binds `namespace/name` (the pod with `uid`) to `node`.
    pub async fn bind(&self, namespace: &str, name: &str, uid: &str, node: &str) -> crate::error::ApiResult<()> {
        subresource::bind_pod(&self.0, Some(namespace), name, Some(uid), node).await
    }
}

/// Builds the whole API router over `state`.
pub fn router(state: SharedState) -> Router {
    Router::new()
        .route("/version", get(discovery::version))
        .route("/healthz", get(discovery::ok))
        .route("/livez", get(discovery::ok))
        .route("/readyz", get(discovery::ok))
        .route("/api", get(discovery::core_versions))
        .route("/api/", get(discovery::core_versions))
        .route("/apis", get(discovery::group_list))
        .route("/apis/", get(discovery::group_list))
        .route("/openapi/v2", get(discovery::openapi_v2))
        .route("/openapi/v3", get(discovery::openapi_v3_index))
        .route("/openapi/v3/{*path}", get(discovery::openapi_v3_document))
        .fallback(dispatch)
        .with_state(state)
}

/// A parsed resource request with its resource, user and query.
pub struct Ctx {
    pub info: RequestInfo,
    pub resource: &'static ResourceDescriptor,
    pub user: Option<UserInfo>,
    pub query: Query,
    pub headers: http::HeaderMap,
}

impl Ctx {
    /// The namespace of a namespaced request; cluster-scoped resources have none.
    pub fn namespace(&self) -> Option<&str> {
        if self.resource.namespaced {
            self.info.namespace.as_deref()
        } else {
            None
        }
    }

    pub fn name(&self) -> ApiResult<&str> {
        self.info.name.as_deref().ok_or_else(|| ApiError::bad_request("a name is required"))
    }
}

async fn dispatch(State(state): State<SharedState>, request: Request) -> Response {
    match dispatch_inner(state, request).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn dispatch_inner(state: SharedState, request: Request) -> ApiResult<Response> {
    let (parts, body) = request.into_parts();
    let query = Query::parse(parts.uri.query())?;
    let path = parts.uri.path().to_string();
    // Group and version documents: /api/v1 and /apis/<g>, /apis/<g>/<v>.
    if let Some(response) = discovery::group_document(&path) {
        return Ok(response);
    }
    let Some(info) = request_info::parse(&parts.method, &path, query.watch)? else {
        return Err(ApiError::new(404, "NotFound", "the server could not find the requested resource"));
    };
    let resource = registry::find(&info.group, &info.version, &info.resource)
        .ok_or_else(|| ApiError::new(404, "NotFound", "the server could not find the requested resource"))?;
    let user = crate::auth::impersonation::impersonate(&state.authorizer, parts.extensions.get::<UserInfo>().cloned(), &parts.headers)?;
    state.authorizer.authorize(user.as_ref(), &info)?;
    let ctx = Ctx { info, resource, user, query, headers: parts.headers };
    if resource.namespaced && ctx.info.namespace.is_none() && !matches!(ctx.info.verb, "list" | "watch") {
        return Err(ApiError::bad_request("a namespace is required for this resource"));
    }
    if let Some(sub) = ctx.info.subresource.clone() {
        return subresource::handle(&state, &ctx, &sub, body).await;
    }
    if !resource.verbs.contains(&ctx.info.verb) {
        return Err(ApiError::method_not_allowed(ctx.info.verb));
    }
    if resource.plural == "bindings" && ctx.info.verb == "create" {
        return subresource::bind(&state, &ctx, body).await;
    }
    match ctx.info.verb {
        "get" => read::get(&state, &ctx).await,
        "list" => read::list(&state, &ctx).await,
        "watch" => watch::watch(&state, &ctx).await,
        "create" => write::create(&state, &ctx, body).await,
        "update" => write::update(&state, &ctx, body, write::Target::Main).await,
        "patch" => write::patch(&state, &ctx, body, write::Target::Main).await,
        "delete" => write::delete(&state, &ctx, body).await,
        "deletecollection" => write::delete_collection(&state, &ctx, body).await,
        other => Err(ApiError::method_not_allowed(other)),
    }
}

/// Reads a request body up to [`MAX_BODY_BYTES`], answering 413 past it.
pub async fn read_body(body: Body) -> ApiResult<bytes::Bytes> {
    axum::body::to_bytes(body, MAX_BODY_BYTES).await.map_err(|_| ApiError::too_large(MAX_BODY_BYTES))
}
