//! The HTTPS listener: rustls with optional client certificates. A verified client
//! certificate becomes the request's [`PeerIdentity`] (CN the user, each O a group).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::RootCertStore;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use crate::auth::authn::PeerIdentity;
use crate::auth::UserInfo;
use crate::pki::Pki;

/// Errors setting up TLS.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("bad PEM: {0}")]
    Pem(String),
    #[error("tls configuration: {0}")]
    Tls(#[from] rustls::Error),
    #[error("client verifier: {0}")]
    Verifier(String),
}

/// Builds the rustls server configuration from the cluster PKI.
pub fn tls_config(pki: &Pki) -> Result<Arc<rustls::ServerConfig>, ServeError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(pki.serving_cert.as_bytes()).collect::<Result<_, _>>().map_err(|e| ServeError::Pem(e.to_string()))?;
    let key = PrivateKeyDer::from_pem_slice(pki.serving_key.as_bytes()).map_err(|e| ServeError::Pem(e.to_string()))?;
    let mut roots = RootCertStore::empty();
    for ca in CertificateDer::pem_slice_iter(pki.ca_cert.as_bytes()) {
        roots.add(ca.map_err(|e| ServeError::Pem(e.to_string()))?)?;
    }
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .allow_unauthenticated()
        .build()
        .map_err(|e| ServeError::Verifier(e.to_string()))?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The user a client certificate names: CN is the user, each O a group.
pub fn identity_of(cert: &CertificateDer<'_>) -> Option<UserInfo> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref()).ok()?;
    let subject = parsed.subject();
    let cn = subject.iter_common_name().next()?.as_str().ok()?.to_string();
    let groups = subject.iter_organization().filter_map(|o| o.as_str().ok().map(str::to_string)).collect();
    Some(UserInfo::authenticated(cn, String::new(), groups))
}

/// Serves `app` over TLS on `listener` until the task is dropped.
pub async fn serve_tls(listener: TcpListener, app: Router, tls: Arc<rustls::ServerConfig>) {
    let acceptor = TlsAcceptor::from(tls);
    loop {
        let (tcp, peer): (tokio::net::TcpStream, SocketAddr) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let app = app.clone();
        tokio::spawn(async move {
            let stream = match acceptor.accept(tcp).await {
                Ok(s) => s,
                Err(e) => {
                    tracing::debug!(peer = %peer, error = %e, "tls handshake failed");
                    return;
                }
            };
            let identity = stream.get_ref().1.peer_certificates().and_then(|certs| certs.first()).and_then(identity_of).map(PeerIdentity);
            let service = hyper::service::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
                if let Some(id) = &identity {
                    request.extensions_mut().insert(id.clone());
                }
                app.clone().oneshot(request.map(axum::body::Body::new))
            });
            let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            if let Err(e) = builder.serve_connection_with_upgrades(TokioIo::new(stream), service).await {
                tracing::debug!(peer = %peer, error = %e, "connection ended with an error");
            }
        });
    }
}
