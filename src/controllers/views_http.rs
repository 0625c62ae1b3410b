//! Views (and the controllers' `/metrics`) over HTTP, mounted inside the API server (its
//! authentication and RBAC apply):
//! - `GET /views`: every view with its revision and row count;
//! - `GET /views/<name>?namespace=&name=&atLeastRevision=R`: a snapshot, waiting (with a
//!   timeout) until the view has caught up to R, for read-your-writes;
//! - `GET /views/<name>?watch=true`: a stream of deltas with their revisions.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use deltakube_api::error::ApiError;
use futures::StreamExt;
use serde_json::{json, Value};

use super::views::ViewStore;

/// Longest wait for `atLeastRevision`.
const MAX_WAIT: Duration = Duration::from_secs(60);

#[derive(Debug, serde::Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ViewQuery {
    namespace: Option<String>,
    name: Option<String>,
    at_least_revision: Option<String>,
    timeout_seconds: Option<String>,
    watch: Option<String>,
}

/// `/views` and `/metrics`.
pub fn router(store: Arc<ViewStore>, metrics: Arc<super::metrics::Metrics>) -> Router {
    let views = Router::new().route("/views", get(list)).route("/views/{name}", get(view)).with_state(store);
    let metrics = Router::new().route("/metrics", get(|| async move { metrics.render() }));
    views.merge(metrics)
}

fn json_response(value: &Value) -> Response {
    let mut r = (StatusCode::OK, value.to_string()).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

async fn list(State(store): State<Arc<ViewStore>>) -> Response {
    let (revision, views) = store.list();
    let views: Vec<Value> = views.into_iter().map(|(name, rows)| json!({"name": name, "revision": revision, "rows": rows})).collect();
    json_response(&json!({"kind": "ViewList", "revision": revision, "views": views}))
}

fn parse_number(name: &str, v: &Option<String>) -> Result<Option<u64>, ApiError> {
    v.as_deref().map(|s| s.parse::<u64>().map_err(|_| ApiError::bad_request(format!("{name} must be a non-negative integer, got {s:?}")))).transpose()
}

async fn view(State(store): State<Arc<ViewStore>>, Path(name): Path<String>, Query(q): Query<ViewQuery>) -> Response {
    match view_inner(store, name, q).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn view_inner(store: Arc<ViewStore>, name: String, q: ViewQuery) -> Result<Response, ApiError> {
    let at_least = parse_number("atLeastRevision", &q.at_least_revision)?;
    let timeout = parse_number("timeoutSeconds", &q.timeout_seconds)?.map_or(Duration::from_secs(10), Duration::from_secs).min(MAX_WAIT);
    if store.snapshot(&name, |_| false).is_none() {
        return Err(ApiError::new(404, "NotFound", format!("view {name:?} not found; GET /views lists them")));
    }
    if let Some(r) = at_least {
        if !store.wait_for(r, timeout).await {
            return Err(ApiError::timeout(format!("view {name} has not reached revision {r} (it is at {})", store.revision())));
        }
    }
    let matches = {
        let (ns, n) = (q.namespace.clone(), q.name.clone());
        move |key: &str| {
            let (key_ns, key_name) = key.split_once('/').unwrap_or(("", key));
            ns.as_deref().is_none_or(|ns| ns == key_ns) && n.as_deref().is_none_or(|n| n == key_name)
        }
    };
    if q.watch.as_deref().is_some_and(|w| w == "true" || w == "1") {
        let view_name = name.clone();
        let deltas = tokio_stream::wrappers::BroadcastStream::new(store.subscribe()).filter_map(move |d| {
            let out = match d {
                Ok(d) if d.view == view_name && matches(&d.key) => Some(Ok::<_, std::convert::Infallible>(format!(
                    "{}\n",
                    json!({"revision": d.revision, "key": d.key, "value": as_json(&d.value), "diff": d.diff})
                ))),
                // A client too slow for the stream is closed; it re-reads a snapshot.
                Err(_) => None,
                _ => None,
            };
            futures::future::ready(out)
        });
        let mut r = (StatusCode::OK, Body::from_stream(deltas)).into_response();
        r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        return Ok(r);
    }
    let (revision, rows) = store.snapshot(&name, matches).unwrap_or_default();
    let rows: Vec<Value> = rows.into_iter().map(|(k, v)| json!({"key": k, "value": as_json(&v)})).collect();
    Ok(json_response(&json!({"kind": "View", "name": name, "revision": revision, "rows": rows})))
}

fn as_json(v: &str) -> Value {
    serde_json::from_str(v).unwrap_or_else(|_| Value::String(v.to_string()))
}
