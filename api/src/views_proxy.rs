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

/// One registered views server: the process that registered it and its `host:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backend {
    pub name: String,
    pub address: String,
}

/// The views servers an Endpoints object lists: each subset's addresses on its `http` port,
/// in name order.
pub fn backends(endpoints: &Value) -> Vec<Backend> {
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
    out.sort_by(|a, b| (&a.name, &a.address).cmp(&(&b.name, &b.address)));
    out
}

struct Proxy {
    cache: Arc<WatchCache>,
    client: Client<HttpConnector, Empty<Bytes>>,
}

/// `/views` and `/views/<name>`, forwarded to the registered views servers.
pub fn router(cache: Arc<WatchCache>) -> Router {
    let client = Client::builder(TokioExecutor::new()).build_http();
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
    let backends = registered.map(|e| backends(&e.value)).unwrap_or_default();
    if backends.is_empty() {
        return Err(unavailable(format!(
            "no views are registered: the controllers run in no process this API server knows of (`deltakube controllers` and `deltakube scheduler` register theirs in endpoints {NAMESPACE}/{NAME})"
        )));
    }
    let target = &target;
    let requests = backends.iter().map(|b| async move {
        let uri = format!("http://{}{target}", b.address);
        let request = http::Request::get(uri).body(Empty::new()).map_err(ApiError::internal)?;
        proxy.client.request(request).await.map_err(|e| unavailable(format!("the views of {} at {} did not answer: {e}", b.name, b.address)))
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
        let streams = responses.into_iter().map(|r| lines(BodyStream::new(r.into_body()).filter_map(|f| async move { f.ok()?.into_data().ok() })));
        let mut out = Response::new(Body::from_stream(futures::stream::select_all(streams.map(Box::pin)).map(Ok::<_, std::convert::Infallible>)));
        out.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        return Ok(out);
    }
    let mut documents = Vec::new();
    for (response, backend) in responses.into_iter().zip(&backends) {
        let body = response.into_body().collect().await.map_err(|e| unavailable(format!("the views of {} broke off: {e}", backend.name)))?.to_bytes();
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
/// of several streams interleave without tearing.
fn lines(chunks: impl Stream<Item = Bytes> + Send + 'static) -> impl Stream<Item = Bytes> + Send + 'static {
    futures::stream::unfold((Box::pin(chunks), BytesMut::new(), false), |(mut chunks, mut buffer, mut ended)| async move {
        loop {
            if let Some(end) = buffer.iter().position(|b| *b == b'\n') {
                let line = buffer.split_to(end + 1).freeze();
                return Some((line, (chunks, buffer, ended)));
            }
            if ended {
                return (!buffer.is_empty()).then(|| (buffer.split().freeze(), (chunks, BytesMut::new(), true)));
            }
            match chunks.next().await {
                Some(chunk) => buffer.extend_from_slice(&chunk),
                None => ended = true,
            }
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
        let got: Vec<(String, String)> = backends(&endpoints).into_iter().map(|b| (b.name, b.address)).collect();
        let want = [("::1", "[::1]:4000"), ("controllers-1", "127.0.0.1:4000"), ("scheduler", "127.0.0.1:4001")];
        assert_eq!(got, want.map(|(n, a)| (n.to_string(), a.to_string())));
        assert!(backends(&json!({})).is_empty());
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
        let chunks = futures::stream::iter(["{\"a\":", "1}\n{\"b\"", ":2}\n{\"c\":3}\n"].map(|s: &'static str| Bytes::from_static(s.as_bytes())));
        let got: Vec<Bytes> = lines(chunks).collect().await;
        assert_eq!(got, ["{\"a\":1}\n", "{\"b\":2}\n", "{\"c\":3}\n"].map(|s: &'static str| Bytes::from_static(s.as_bytes())));
    }
}
