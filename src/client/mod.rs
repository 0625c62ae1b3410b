//! An HTTPS client of the API server: hyper over rustls, authenticated with a client
//! certificate or a bearer token, speaking HTTP/2 (or HTTP/1.1 for one connection per
//! request). Used by the remote controllers (`deltakube controllers --kubeconfig`) and the
//! benchmarks; [`kubeconfig`] reads the credentials the way kubectl does.

pub mod kubeconfig;

use anyhow::Context;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// How to reach and authenticate to one API server.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// `https://host:port`.
    pub server: String,
    /// PEM of the CA that signed the server's certificate.
    pub ca_pem: String,
    /// PEM certificate and key of the client, for x509 authentication.
    pub client_cert: Option<(String, String)>,
    /// A bearer token, for token authentication.
    pub token: Option<String>,
}

impl Credentials {
    /// The admin identity of a local server's PKI.
    pub fn admin(pki: &deltakube_api::pki::Pki, server: &str) -> Credentials {
        Credentials { server: server.to_string(), ca_pem: pki.ca_cert.clone(), client_cert: Some((pki.admin_cert.clone(), pki.admin_key.clone())), token: None }
    }
}

/// An authenticated client of one API server.
#[derive(Clone)]
pub struct ApiClient {
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
    base: String,
    token: Option<String>,
}

fn tls_config(credentials: &Credentials) -> anyhow::Result<rustls::ClientConfig> {
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for ca in CertificateDer::pem_slice_iter(credentials.ca_pem.as_bytes()) {
        roots.add(ca.context("reading the CA certificate")?)?;
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider).with_safe_default_protocol_versions()?.with_root_certificates(roots);
    Ok(match &credentials.client_cert {
        Some((cert, key)) => {
            let certs: Vec<CertificateDer<'static>> =
                CertificateDer::pem_slice_iter(cert.as_bytes()).collect::<Result<_, _>>().context("reading the client certificate")?;
            let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).context("reading the client key")?;
            builder.with_client_auth_cert(certs, key)?
        }
        None => builder.with_no_client_auth(),
    })
}

impl ApiClient {
    /// A client of `credentials.server`; `http2` multiplexes on few connections, otherwise
    /// each concurrent request gets its own HTTP/1.1 connection.
    pub fn new(credentials: &Credentials, http2: bool) -> anyhow::Result<ApiClient> {
        let builder = hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(tls_config(credentials)?).https_only();
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
        Ok(ApiClient { client: client.build(connector), base: credentials.server.trim_end_matches('/').to_string(), token: credentials.token.clone() })
    }

    /// Sends a JSON request and reads the whole answer.
    pub async fn send(&self, method: hyper::Method, path: &str, body: Option<Bytes>) -> anyhow::Result<(hyper::StatusCode, Bytes)> {
        self.send_as(method, path, body, "application/json").await
    }

    /// Sends a request with a body of `content_type` and reads the whole answer.
    pub async fn send_as(&self, method: hyper::Method, path: &str, body: Option<Bytes>, content_type: &str) -> anyhow::Result<(hyper::StatusCode, Bytes)> {
        let response = self.open_as(method, path, body, content_type).await?;
        let status = response.status();
        let bytes = response.into_body().collect().await.context("reading the body")?.to_bytes();
        Ok((status, bytes))
    }

    /// Sends a JSON request and returns the streaming response (for watches).
    pub async fn open(&self, method: hyper::Method, path: &str, body: Option<Bytes>) -> anyhow::Result<hyper::Response<Incoming>> {
        self.open_as(method, path, body, "application/json").await
    }

    async fn open_as(&self, method: hyper::Method, path: &str, body: Option<Bytes>, content_type: &str) -> anyhow::Result<hyper::Response<Incoming>> {
        let mut request = hyper::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header("Content-Type", content_type)
            .header("Accept", "application/json");
        if let Some(token) = &self.token {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        let request = request.body(Full::new(body.unwrap_or_default()))?;
        self.client.request(request).await.with_context(|| format!("sending the request to {}", self.base))
    }
}
