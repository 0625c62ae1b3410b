//! How the controllers reach the API server's write path: in-process through its router, as
//! the controller manager's identity (`deltakube up`), or over HTTPS with the kubeconfig's
//! credentials (`deltakube controllers --kubeconfig`). Either way every write passes
//! admission, validation and optimistic concurrency.

use axum::body::Body;
use axum::Router;
use deltakube_api::auth::UserInfo;
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

use crate::client::ApiClient;

/// The route to the API server.
#[derive(Clone)]
pub enum Api {
    /// The router itself, without its network authentication; requests carry `user`.
    InProcess {
        router: Router,
        user: UserInfo,
    },
    Remote(Box<ApiClient>),
}

impl Api {
    /// The in-process route, as upstream's controller manager identity.
    pub fn in_process(router: Router) -> Api {
        Api::InProcess { router, user: UserInfo::authenticated("system:kube-controller-manager", "", vec!["system:masters".into()]) }
    }

    /// The in-process route as upstream's scheduler identity; a remote route keeps its
    /// kubeconfig's credentials.
    pub fn as_scheduler(&self) -> Api {
        match self {
            Api::InProcess { router, .. } => {
                Api::InProcess { router: router.clone(), user: UserInfo::authenticated("system:kube-scheduler", "", vec!["system:masters".into()]) }
            }
            Api::Remote(client) => Api::Remote(client.clone()),
        }
    }

    /// Sends one request; returns the status and the body as JSON (null when it is not JSON).
    pub async fn call(&self, method: &str, path: &str, body: String, content_type: &str) -> Result<(u16, Value), String> {
        let (status, bytes) = self.call_raw(method, path, body, content_type).await?;
        Ok((status, serde_json::from_slice(&bytes).unwrap_or(Value::Null)))
    }

    /// [`Api::call`] with the response body as it came, for a caller that reads it only on
    /// failure.
    pub async fn call_raw(&self, method: &str, path: &str, body: String, content_type: &str) -> Result<(u16, bytes::Bytes), String> {
        Ok(match self {
            Api::InProcess { router, user } => {
                let request = http::Request::builder()
                    .method(method)
                    .uri(path)
                    .header("Content-Type", content_type)
                    .extension(user.clone())
                    .body(Body::from(body))
                    .map_err(|e| e.to_string())?;
                let response = router.clone().oneshot(request).await.map_err(|e| e.to_string())?;
                let status = response.status().as_u16();
                (status, response.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes())
            }
            Api::Remote(client) => {
                let method = hyper::Method::from_bytes(method.as_bytes()).map_err(|e| e.to_string())?;
                let body = (!body.is_empty()).then(|| bytes::Bytes::from(body));
                let (status, bytes) = client.send_as(method, path, body, content_type).await.map_err(|e| format!("{e:#}"))?;
                (status.as_u16(), bytes)
            }
        })
    }
}
