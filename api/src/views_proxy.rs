//! `/views` in an API server whose controllers run as processes of their own
//! (`deltakube controllers`, `deltakube scheduler`). Each such process serves its views over
//! plain HTTP and registers that address in the Endpoints object `kube-system/deltakube-views`
//! (one address per process, told apart by its `hostname`). The API server forwards `/views`
//! requests there, behind its own authentication and RBAC, as upstream's aggregation layer
//! forwards to the endpoints of an extension API server's Service.
//!
//! Several processes (a timely cluster, or controllers beside a scheduler) each hold the rows
//! of their own workers. A snapshot is then merged: rows in key order, at the lowest revision
//! any process has reached; a `/views` listing sums the row counts; a stream interleaves the
//! processes' deltas line by line. A process that does not answer makes the request fail with
//! 503 naming it, as the aggregator does, rather than serve a partial view.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt};
use http_body_util::{BodyExt, BodyStream, Empty};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};

use crate::cache::WatchCache;
use crate::error::ApiError;

/// Where views register: the namespace and name of their Endpoints object.
pub const NAMESPACE: &str = "kube-system";
pub const NAME: &str = "deltakube-views";
/// The name of the port views register under.
pub const PORT_NAME: &str = "http";
/// The annotation a process renews with the time, for its entry (`<prefix><hostname>`).
pub const RENEWED_ANNOTATION_PREFIX: &str = "deltakube.io/views-renewed-";
/// An entry not renewed for this long is a process that is gone: it is left out.
pub const STALE_AFTER: Duration = Duration::from_secs(90);
/// How long a views server may take to connect.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a views server may take to answer: the longest `atLeastRevision` wait, and more.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(75);

/// One registered views server: the process that registered it and its `host:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backend {
    pub name: String,
    pub address: String,
}

/// The views servers an Endpoints object lists: each subset's addresses on its `http` port,
/// in name order, less those whose renewal (if annotated) is older than [`STALE_AFTER`] at
/// `now`.
pub fn backends(endpoints: &Value, now: jiff::Timestamp) -> Vec<Backend> {
    let stale = |name: &str| {
        let renewed = endpoints["metadata"]["annotations"][format!("{RENEWED_ANNOTATION_PREFIX}{name}")].as_str();
        renewed.and_then(|t| t.parse::<jiff::Timestamp>().ok()).is_some_and(|t| now.duration_since(t).unsigned_abs() > STALE_AFTER && t < now)
    };
    let mut out = Vec::new();
    for subset in endpoints["subsets"].as_array().into_iter().flatten() {
        let ports = subset["ports"].as_array().into_iter().flatten().filter(|p| p["name"].as_str().unwrap_or(PORT_NAME) == PORT_NAME);
        for port in ports.filter_map(|p| p["port"].as_u64()) {
            for address in subset["addresses"].as_array().into_iter().flatten() {
                let Some(ip) = address["ip"].as_str() else { continue };
                let host = if ip.contains(':') { format!("[{ip}]") } else { ip.to_string() };
                let name = address["hostname"].as_str().unwrap_or(ip).to_string();
                out.push(Backend { name, address: format!("{host}:{port}") });
            }
        }
    }
    out.retain(|b| !stale(&b.name));
    out.sort_by(|a, b| (&a.name, &a.address).cmp(&(&b.name, &b.address)));
    out
}

struct Proxy {
    cache: Arc<WatchCache>,
    client: Client<HttpConnector, Empty<Bytes>>,
}

/// `/views` and `/views/<name>`, forwarded to the registered views servers.
pub fn router(cache: Arc<WatchCache>) -> Router {
    let mut connector = HttpConnector::new();
    connector.set_connect_timeout(Some(CONNECT_TIMEOUT));
    let client = Client::builder(TokioExecutor::new()).build(connector);
    let proxy = Arc::new(Proxy { cache, client });
    Router::new().route("/views", get(forward)).route("/views/{name}", get(forward)).with_state(proxy)
}

async fn forward(State(proxy): State<Arc<Proxy>>, request: Request) -> Response {
    match forward_inner(&proxy, request).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

fn unavailable(message: String) -> ApiError {
    ApiError::new(503, "ServiceUnavailable", message)
}

async fn forward_inner(proxy: &Proxy, request: Request) -> Result<Response, ApiError> {
    let target = request.uri().path_and_query().map_or("/views", |pq| pq.as_str()).to_string();
    let registered = proxy.cache.get(&format!("/registry/endpoints/{NAMESPACE}/{NAME}"));
    let backends = registered.map(|e| backends(&e.value, jiff::Timestamp::now())).unwrap_or_default();
    if backends.is_empty() {
        return Err(unavailable(format!(
            "no views are registered: the controllers run in no process this API server knows of (`deltakube controllers` and `deltakube scheduler` register theirs in endpoints {NAMESPACE}/{NAME})"
        )));
    }
    let target = &target;
    let requests = backends.iter().map(|b| async move {
        let uri = format!("http://{}{target}", b.address);
        let request = http::Request::get(uri).body(Empty::new()).map_err(ApiError::internal)?;
        let silent = |e: String| unavailable(format!("the views of {} at {} did not answer: {e}", b.name, b.address));
        match tokio::time::timeout(ANSWER_TIMEOUT, proxy.client.request(request)).await {
            Ok(answer) => answer.map_err(|e| silent(e.to_string())),
            Err(_) => Err(silent(format!("no answer in {} s", ANSWER_TIMEOUT.as_secs()))),
        }
    });
    let mut responses = futures::future::try_join_all(requests).await?;
    if responses.len() == 1 {
        let response = responses.pop().expect("one response");
        let (parts, body) = response.into_parts();
        let mut out = Response::new(Body::new(body));
        *out.status_mut() = parts.status;
        if let Some(t) = parts.headers.get(header::CONTENT_TYPE) {
            out.headers_mut().insert(header::CONTENT_TYPE, t.clone());
        }
        return Ok(out);
    }
    if let Some(i) = responses.iter().position(|r| r.status() != StatusCode::OK) {
        let failed = responses.swap_remove(i);
        let status = failed.status();
        let body = failed.into_body().collect().await.map_err(|e| unavailable(format!("the views of {} broke off: {e}", backends[i].name)))?.to_bytes();
        return Ok(json_response(status, body));
    }
    let watching = request.uri().query().is_some_and(|q| q.split('&').any(|p| p == "watch=true" || p == "watch=1"));
    if watching {
        // The merged stream ends as soon as one process's does (it restarted, say): the
        // client re-reads a snapshot rather than miss that process's deltas.
        let streams = responses.into_iter().map(|r| {
            let chunks =
                BodyStream::new(r.into_body()).take_while(|f| futures::future::ready(f.is_ok())).filter_map(|f| async move { f.ok()?.into_data().ok() });
            Box::pin(lines(chunks).map(Some).chain(futures::stream::once(async { None })))
        });
        let merged = futures::stream::select_all(streams).take_while(|line| futures::future::ready(line.is_some())).filter_map(futures::future::ready);
        let mut out = Response::new(Body::from_stream(merged.map(Ok::<_, std::convert::Infallible>)));
        out.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        return Ok(out);
    }
    let mut documents = Vec::new();
    for (response, backend) in responses.into_iter().zip(&backends) {
        let body = match tokio::time::timeout(ANSWER_TIMEOUT, response.into_body().collect()).await {
            Ok(body) => body.map_err(|e| unavailable(format!("the views of {} broke off: {e}", backend.name)))?.to_bytes(),
            Err(_) => return Err(unavailable(format!("the views of {} did not finish in {} s", backend.name, ANSWER_TIMEOUT.as_secs()))),
        };
        let document: Value =
            serde_json::from_slice(&body).map_err(|e| unavailable(format!("the views of {} answered with something other than JSON: {e}", backend.name)))?;
        documents.push(document);
    }
    Ok(json_response(StatusCode::OK, Bytes::from(merge(documents).to_string())))
}

fn json_response(status: StatusCode, body: Bytes) -> Response {
    let mut r = (status, body).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

/// A byte stream cut at newlines: each item one whole line with its newline, so that lines
/// of several streams interleave without tearing. A last line without its newline was cut off
/// and is dropped.
fn lines(chunks: impl Stream<Item = Bytes> + Send + 'static) -> impl Stream<Item = Bytes> + Send + 'static {
    // The state: the chunks, what is buffered, and how much of it has been searched.
    futures::stream::unfold((Box::pin(chunks), BytesMut::new(), 0), |(mut chunks, mut buffer, mut searched)| async move {
        loop {
            if let Some(end) = buffer[searched..].iter().position(|b| *b == b'\n') {
                let line = buffer.split_to(searched + end + 1).freeze();
                return Some((line, (chunks, buffer, 0)));
            }
            searched = buffer.len();
            buffer.extend_from_slice(&chunks.next().await?);
        }
    })
}

/// Merges the same request's answers from several processes: a `View` gets every row, in
/// key order; a `ViewList` sums each view's rows; both take the lowest revision.
pub fn merge(documents: Vec<Value>) -> Value {
    let revision = documents.iter().filter_map(|d| d["revision"].as_u64()).min().unwrap_or(0);
    let Some(first) = documents.first() else { return Value::Null };
    match first["kind"].as_str() {
        Some("ViewList") => {
            let mut views: Vec<(String, u64, u64)> = Vec::new();
            for view in documents.iter().flat_map(|d| d["views"].as_array().into_iter().flatten()) {
                let name = view["name"].as_str().unwrap_or_default();
                let (rows, at) = (view["rows"].as_u64().unwrap_or(0), view["revision"].as_u64().unwrap_or(0));
                match views.iter_mut().find(|(n, _, _)| n == name) {
                    Some((_, total, lowest)) => {
                        *total += rows;
                        *lowest = (*lowest).min(at);
                    }
                    None => views.push((name.to_string(), rows, at)),
                }
            }
            let views: Vec<Value> = views.into_iter().map(|(name, rows, at)| json!({"name": name, "revision": at, "rows": rows})).collect();
            json!({"kind": "ViewList", "revision": revision, "views": views})
        }
        _ => {
            let mut rows: Vec<Value> = documents.iter().flat_map(|d| d["rows"].as_array().cloned().unwrap_or_default()).collect();
            rows.sort_by(|a, b| a["key"].as_str().cmp(&b["key"].as_str()));
            json!({"kind": "View", "name": first["name"], "revision": revision, "rows": rows})
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backends_are_every_address_on_the_http_port() {
        let endpoints = json!({"subsets": [
            {"addresses": [{"ip": "127.0.0.1", "hostname": "scheduler"}], "ports": [{"name": "http", "port": 4001, "protocol": "TCP"}]},
            {"addresses": [{"ip": "127.0.0.1", "hostname": "controllers-1"}, {"ip": "::1"}], "ports": [{"name": "http", "port": 4000}, {"name": "other", "port": 9}]},
        ]});
        let now = jiff::Timestamp::now();
        let got: Vec<(String, String)> = backends(&endpoints, now).into_iter().map(|b| (b.name, b.address)).collect();
        let want = [("::1", "[::1]:4000"), ("controllers-1", "127.0.0.1:4000"), ("scheduler", "127.0.0.1:4001")];
        assert_eq!(got, want.map(|(n, a)| (n.to_string(), a.to_string())));
        assert!(backends(&json!({}), now).is_empty());
    }

    #[test]
    fn entries_not_renewed_for_long_are_left_out() {
        let now: jiff::Timestamp = "2026-11-30T12:00:00Z".parse().unwrap();
        let endpoints = json!({
            "metadata": {"annotations": {
                "deltakube.io/views-renewed-old": "2026-11-30T11:58:00Z",
                "deltakube.io/views-renewed-fresh": "2026-11-30T11:59:50Z",
            }},
            "subsets": [
                {"addresses": [{"ip": "127.0.0.1", "hostname": "old"}], "ports": [{"name": "http", "port": 1}]},
                {"addresses": [{"ip": "127.0.0.1", "hostname": "fresh"}], "ports": [{"name": "http", "port": 2}]},
                {"addresses": [{"ip": "127.0.0.1", "hostname": "unannotated"}], "ports": [{"name": "http", "port": 3}]},
            ],
        });
        let names: Vec<String> = backends(&endpoints, now).into_iter().map(|b| b.name).collect();
        assert_eq!(names, ["fresh", "unannotated"]);
    }

    #[test]
    fn snapshots_merge_in_key_order_at_the_lowest_revision() {
        let a = json!({"kind": "View", "name": "endpoints", "revision": 12, "rows": [{"key": "b/x", "value": 1}, {"key": "d/x", "value": 2}]});
        let b = json!({"kind": "View", "name": "endpoints", "revision": 10, "rows": [{"key": "a/x", "value": 3}, {"key": "c/x", "value": 4}]});
        let merged = merge(vec![a, b]);
        let keys: Vec<&str> = merged["rows"].as_array().unwrap().iter().map(|r| r["key"].as_str().unwrap()).collect();
        assert_eq!(keys, ["a/x", "b/x", "c/x", "d/x"]);
        assert_eq!(merged["revision"], 10);
        assert_eq!(merged["name"], "endpoints");
    }

    #[test]
    fn listings_sum_the_rows_of_each_view() {
        let a = json!({"kind": "ViewList", "revision": 7, "views": [{"name": "endpoints", "revision": 7, "rows": 2}, {"name": "intents", "revision": 7, "rows": 5}]});
        let b = json!({"kind": "ViewList", "revision": 9, "views": [{"name": "endpoints", "revision": 9, "rows": 3}, {"name": "intents", "revision": 9, "rows": 0}]});
        let merged = merge(vec![a, b]);
        assert_eq!(merged["revision"], 7);
        assert_eq!(merged["views"], json!([{"name": "endpoints", "revision": 7, "rows": 5}, {"name": "intents", "revision": 7, "rows": 5}]));
    }

    #[tokio::test]
    async fn streams_are_cut_into_whole_lines() {
        let chunks = futures::stream::iter(["{\"a\":", "1}\n{\"b\"", ":2}\n{\"c\":3}\n{\"torn"].map(|s: &'static str| Bytes::from_static(s.as_bytes())));
        let got: Vec<Bytes> = lines(chunks).collect().await;
        assert_eq!(got, ["{\"a\":1}\n", "{\"b\":2}\n", "{\"c\":3}\n"].map(|s: &'static str| Bytes::from_static(s.as_bytes())));
    }
}
