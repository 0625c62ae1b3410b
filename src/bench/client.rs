//! A small HTTPS client for benchmarks: hyper over rustls, authenticated with the admin
//! client certificate, speaking HTTP/2 (or HTTP/1.1 for one connection per watcher).

use anyhow::Context;
use bytes::Bytes;
use deltakube_api::pki::Pki;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// An authenticated client of one API server.
#[derive(Clone)]
pub struct ApiClient {
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
    base: String,
}

fn tls_config(pki: &Pki) -> anyhow::Result<rustls::ClientConfig> {
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for ca in CertificateDer::pem_slice_iter(pki.ca_cert.as_bytes()) {
        roots.add(ca?)?;
    }
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pki.admin_cert.as_bytes()).collect::<Result<_, _>>()?;
    let key = PrivateKeyDer::from_pem_slice(pki.admin_key.as_bytes())?;
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_client_auth_cert(certs, key)?)
}

impl ApiClient {
    /// A client of `base` (e.g. `https://127.0.0.1:6443`); `http2` multiplexes on few
    /// connections, otherwise each concurrent request gets its own HTTP/1.1 connection.
    pub fn new(pki: &Pki, base: &str, http2: bool) -> anyhow::Result<ApiClient> {
        let builder = hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(tls_config(pki)?).https_only();
        // Without TCP_NODELAY, Nagle's algorithm and delayed ACKs add ~40 ms to small writes.
        let mut tcp = HttpConnector::new();
        tcp.set_nodelay(true);
        tcp.enforce_http(false);
        let connector = if http2 { builder.enable_http2().wrap_connector(tcp) } else { builder.enable_http1().wrap_connector(tcp) };
        let mut client = Client::builder(TokioExecutor::new());
        client.pool_max_idle_per_host(usize::MAX);
        if http2 {
            client.http2_only(true);
        }
        Ok(ApiClient { client: client.build(connector), base: base.trim_end_matches('/').to_string() })
    }

    /// Sends a request and reads the whole answer.
    pub async fn send(&self, method: hyper::Method, path: &str, body: Option<Bytes>) -> anyhow::Result<(hyper::StatusCode, Bytes)> {
        let response = self.open(method, path, body).await?;
        let status = response.status();
        let bytes = response.into_body().collect().await.context("reading the body")?.to_bytes();
        Ok((status, bytes))
    }

    /// Sends a request and returns the streaming response (for watches).
    pub async fn open(&self, method: hyper::Method, path: &str, body: Option<Bytes>) -> anyhow::Result<hyper::Response<Incoming>> {
        let request = hyper::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header("Content-Type", "application/json")
            .header("Accept", "application/json")
            .body(Full::new(body.unwrap_or_default()))?;
        self.client.request(request).await.context("sending the request")
    }
}
