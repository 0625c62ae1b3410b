//! Views (and the controllers' `/metrics`) over HTTP, mounted inside the API server (its
//! authentication and RBAC apply):
//! - `GET /views`: every view with its revision and row count;
//! - `GET /views/<name>?namespace=&name=&atLeastRevision=R`: a snapshot, waiting (with a
//!   timeout) until the view has caught up to R, for read-your-writes;
//! - `GET /views/<name>?watch=true`: a stream of deltas with their revisions, one JSON object
//!   a line; a client too slow for it gets an `{"error": …}` line and the stream ends.

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
        // A client too slow for the stream misses deltas: it is told so, and the stream
        // ends, so that it re-reads a snapshot instead of going on with a view that lost rows.
        let deltas = tokio_stream::wrappers::BroadcastStream::new(store.subscribe())
            .scan(false, move |lagged, d| {
                if *lagged {
                    return futures::future::ready(None);
                }
                let line = match d {
                    Ok(d) if d.view == view_name && matches(&d.key) => {
                        Some(json!({"revision": d.revision, "key": d.key, "value": as_json(&d.value), "diff": d.diff}))
                    }
                    Ok(_) => None,
                    Err(tokio_stream::wrappers::errors::BroadcastStreamRecvError::Lagged(missed)) => {
                        *lagged = true;
                        Some(json!({"error": format!("the stream fell {missed} deltas behind and is closed; read a snapshot and watch again")}))
                    }
                };
                futures::future::ready(Some(line))
            })
            .filter_map(|line| futures::future::ready(line.map(|l| Ok::<_, std::convert::Infallible>(format!("{l}\n")))));
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

#[cfg(test)]
mod tests {
    use axum::http::Request;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use super::super::views::ViewDelta;
    use super::*;

    fn delta(revision: u64, key: &str) -> ViewDelta {
        ViewDelta { view: "endpoints", revision, key: key.into(), value: "{}".into(), diff: 1 }
    }

    async fn open_stream(store: &Arc<ViewStore>, query: &str) -> Body {
        let router = router(store.clone(), Arc::new(super::super::metrics::Metrics::new()));
        let response = router.oneshot(Request::get(format!("/views/endpoints?watch=true{query}")).body(Body::empty()).unwrap()).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        response.into_body()
    }

    async fn next_line(body: &mut Body) -> Option<Value> {
        let frame = tokio::time::timeout(Duration::from_secs(5), body.frame()).await.expect("a line in time")?.unwrap();
        Some(serde_json::from_slice(frame.data_ref().expect("data")).unwrap())
    }

    #[tokio::test]
    async fn a_stream_sends_its_views_deltas_and_ends_when_the_client_falls_behind() {
        let store = Arc::new(ViewStore::new(1));
        let mut body = open_stream(&store, "&namespace=shop").await;
        store.delta(delta(3, "other/a"));
        store.delta(delta(3, "shop/front"));
        store.progress(0, 3);
        let line = next_line(&mut body).await.unwrap();
        assert_eq!((line["revision"].as_u64(), line["key"].as_str(), line["diff"].as_i64()), (Some(3), Some("shop/front"), Some(1)), "{line}");

        // More deltas than the stream buffers, unread: the client is told, and the stream ends.
        let mut slow = open_stream(&store, "").await;
        for i in 0..70_000 {
            store.delta(delta(4, &format!("shop/s{i}")));
        }
        store.progress(0, 4);
        let line = next_line(&mut slow).await.unwrap();
        assert!(line["error"].as_str().is_some_and(|e| e.contains("deltas behind")), "{line}");
        assert!(next_line(&mut slow).await.is_none(), "the stream ends after the error");
    }
}
