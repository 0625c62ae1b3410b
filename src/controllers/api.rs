//! How the controllers reach the API server's write path: in-process through its router, as
//! the controller manager's identity (`deltakube up`), or over HTTPS with the kubeconfig's
//! credentials (`deltakube controllers --kubeconfig`). Either way every write passes
//! admission, validation and optimistic concurrency. In process, the scheduler's bindings skip
//! the router and call the API server's binding write (`PodBindings`) directly: the same
//! write, without building, routing, authorizing and answering a request for every pod.

use axum::body::Body;
use axum::Router;
use deltakube_api::auth::UserInfo;
use deltakube_api::server::PodBindings;
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

use crate::client::ApiClient;

/// The route to the API server.
#[derive(Clone)]
pub enum Api {
    /// The router itself, without its network authentication; requests carry `user`.
    /// Bindings go straight to the API server's binding write when `bindings` is given.
    InProcess {
        router: Router,
        user: UserInfo,
        bindings: Option<PodBindings>,
    },
    Remote(Box<ApiClient>),
}

impl Api {
    /// The in-process route, as upstream's controller manager identity.
    pub fn in_process(router: Router) -> Api {
        Api::InProcess { router, user: UserInfo::authenticated("system:kube-controller-manager", "", vec!["system:masters".into()]), bindings: None }
    }

    /// The in-process route, binding pods through `bindings` rather than the router.
    pub fn binding_through(self, bindings: PodBindings) -> Api {
        match self {
            Api::InProcess { router, user, .. } => Api::InProcess { router, user, bindings: Some(bindings) },
            remote => remote,
        }
    }

    /// The in-process route as upstream's scheduler identity; a remote route keeps its
    /// kubeconfig's credentials.
    pub fn as_scheduler(&self) -> Api {
        match self {
            Api::InProcess { router, bindings, .. } => Api::InProcess {
                router: router.clone(),
                user: UserInfo::authenticated("system:kube-scheduler", "", vec!["system:masters".into()]),
                bindings: bindings.clone(),
            },
            Api::Remote(client) => Api::Remote(client.clone()),
        }
    }

    /// Binds `namespace/name` (the pod with `uid`) to `node`: `POST …/pods/<name>/binding`, or
    /// the API server's binding write itself in process. A refusal is its code and message.
    pub async fn bind_pod(&self, namespace: &str, name: &str, uid: &str, node: &str) -> Result<(), (u16, String)> {
        if let Api::InProcess { bindings: Some(bindings), .. } = self {
            return bindings.bind(namespace, name, uid, node).await.map_err(|e| (e.code, e.message));
        }
        let body = serde_json::json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": name, "namespace": namespace, "uid": uid},
                                      "target": {"apiVersion": "v1", "kind": "Node", "name": node}});
        self.send("POST", &format!("/api/v1/namespaces/{namespace}/pods/{name}/binding"), body.to_string(), "application/json").await
    }

    /// Sends one request whose answer matters only when refused: a status outside 2xx is its
    /// code and the Status's message (code 0 when no answer came).
    pub async fn send(&self, method: &str, path: &str, body: String, content_type: &str) -> Result<(), (u16, String)> {
        let (code, value) = self.call(method, path, body, content_type).await.map_err(|e| (0, e))?;
        match code {
            200..=299 => Ok(()),
            code => Err((code, value["message"].as_str().unwrap_or_default().to_string())),
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
            Api::InProcess { router, user, .. } => {
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

#[cfg(test)]
mod tests {
    use deltakube_api::apiserver;
    use serde_json::json;

    use super::*;

    /// The in-process binding and the posted `pods/binding` give the same answers: a binding
    /// for another pod of the name is refused, the pod is placed once, and a second binding
    /// never moves it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_in_process_binding_answers_as_the_posted_one() {
        let dir = tempfile::tempdir().unwrap();
        let server = apiserver::start(crate::bench::loopback_server(dir.path().join("server"), dir.path().join("store.redb")), None).await.unwrap();
        let posted = Api::in_process(server.internal_router.clone()).as_scheduler();
        let direct = posted.clone().binding_through(server.pod_bindings.clone());
        for (api, name) in [(&posted, "posted"), (&direct, "direct")] {
            let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}});
            let (code, created) = api.call("POST", "/api/v1/namespaces/default/pods", pod.to_string(), "application/json").await.unwrap();
            assert_eq!(code, 201, "{created}");
            let uid = created["metadata"]["uid"].as_str().unwrap();
            let (code, message) = api.bind_pod("default", name, "not-this-pod", "n1").await.unwrap_err();
            assert_eq!(code, 409, "{name}: {message}");
            assert!(message.contains("UID in precondition: not-this-pod"), "{name}: {message}");
            api.bind_pod("default", name, uid, "n1").await.unwrap();
            let (code, message) = api.bind_pod("default", name, uid, "n2").await.unwrap_err();
            assert_eq!(code, 409, "{name}: {message}");
            assert!(message.contains("already assigned to node \"n1\""), "{name}: {message}");
            let (_, placed) = api.call("GET", &format!("/api/v1/namespaces/default/pods/{name}"), String::new(), "application/json").await.unwrap();
            assert_eq!(placed["spec"]["nodeName"], "n1");
            assert_eq!(placed["status"]["conditions"][0]["type"], "PodScheduled", "{placed}");
            let (code, message) = api.bind_pod("default", "missing", "u", "n1").await.unwrap_err();
            assert_eq!(code, 404, "{name}: {message}");
        }
    }
}
