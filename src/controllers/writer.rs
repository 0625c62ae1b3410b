//! The intent writer (the engine's other edge): applies the dataflow's intents through the
//! API server's normal write path (admission, validation, optimistic concurrency) and keeps
//! the expectations that stop a lagging feed from causing a second write.
//!
//! - An intent is **outstanding** while its multiplicity in the intents collection is
//!   positive; the writer acts only on outstanding intents.
//! - A key is **in flight** from the moment its write is sent until the engine has processed
//!   the revision that write produced; no other write for that key starts meanwhile. This is
//!   upstream's "expectations".
//! - A failed write (or one whose effect did not satisfy the intent) is retried with
//!   exponential back-off, capped, so a disagreement is never a hot loop.
//! - An **allocation** ([`Intent::Allocate`]) starts only once every worker has passed the
//!   last revision at which its pool's allocations changed, and only while no earlier
//!   allocation of that pool is in flight: each batch of a pool's allocations comes from one
//!   view that includes every earlier one, so no slot is handed out twice.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use deltakube_api::auth::serviceaccount::ServiceAccountTokens;
use deltakube_dataflows::clock::WRITE_TIME;
use deltakube_dataflows::controllers::token::TOKEN_TYPE;
use deltakube_dataflows::types::{ControllerError, Intent, Kind, ObjectKey, Pool, Revision};
use serde_json::Value;
use tokio::sync::mpsc;

use super::api::Api;
use super::events;

/// Longest back-off between retries of one key.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Writes in flight at once.
const MAX_IN_FLIGHT: usize = 64;
/// Marks an error that is an expected wait (something else must happen first), not a failure.
const WAITING: &str = "waiting: ";

/// What the writer hears.
pub enum WriterInput {
    /// A change of the intents collection at a revision.
    Intent { intent: Intent, diff: isize, revision: Revision },
    /// Every worker has processed this revision.
    Progress(Revision),
}

enum Flight {
    /// The write was sent and has not answered.
    Sending,
    /// The write answered at this revision; wait for the engine to see it.
    Until(Revision),
}

struct Done {
    key: ObjectKey,
    intent: Intent,
    /// The revision the intent appeared at, for the latency metric.
    born: Revision,
    result: Result<Option<Revision>, String>,
}

/// Writes intents through `api`.
pub struct Writer {
    api: Api,
    metrics: Arc<super::metrics::Metrics>,
    /// Signs token Secrets; None where no token controller runs (`deltakube scheduler`).
    tokens: Option<Arc<ServiceAccountTokens>>,
    root_ca: String,
    /// Where refused creates are reported, for the Event recorder.
    problems: mpsc::UnboundedSender<ControllerError>,
}

pub(crate) fn collection_path(key: &ObjectKey) -> String {
    let (group, version, plural) = key.kind.resource();
    let base = if group.is_empty() { format!("/api/{version}") } else { format!("/apis/{group}/{version}") };
    if key.namespace.is_empty() {
        format!("{base}/{plural}")
    } else {
        format!("{base}/namespaces/{}/{plural}", key.namespace)
    }
}

impl Writer {
    pub fn new(
        api: Api,
        tokens: Option<Arc<ServiceAccountTokens>>,
        root_ca: String,
        metrics: Arc<super::metrics::Metrics>,
        problems: mpsc::UnboundedSender<ControllerError>,
    ) -> Writer {
        Writer { api, metrics, tokens, root_ca, problems }
    }

    /// A create the API server refused is reported on the controller that wanted it, as
    /// upstream's ReplicaSet controller records `FailedCreate` ("Error creating: …").
    fn report_refused_create(&self, key: &ObjectKey, body: &str, message: &str) {
        let Ok(v) = serde_json::from_str::<Value>(body) else { return };
        self.report_on_controller(key, &v, events::FAILED_CREATE, format!("{}{message}", events::ERROR_CREATING));
    }

    /// A pod delete the API server refused is reported on the pod's controller, as upstream's
    /// ReplicaSet controller records `FailedDelete` ("Error deleting: …"). The pod is read
    /// for its owner.
    async fn report_refused_delete(&self, key: &ObjectKey, message: &str) {
        let Ok((200, pod)) = self.call("GET", &format!("{}/{}", collection_path(key), key.name), String::new(), "application/json").await else { return };
        self.report_on_controller(key, &pod, events::FAILED_DELETE, format!("{}{message}", events::ERROR_DELETING));
    }

    /// Tells the Event recorder about `object`'s controller (its controlling owner).
    fn report_on_controller(&self, key: &ObjectKey, object: &Value, reason: &str, message: String) {
        let owners = object.pointer("/metadata/ownerReferences").and_then(Value::as_array).into_iter().flatten();
        let Some(owner) = owners.into_iter().find(|r| r["controller"] == true) else { return };
        let (Some(api_version), Some(kind), Some(name)) = (owner["apiVersion"].as_str(), owner["kind"].as_str(), owner["name"].as_str()) else { return };
        let Some(kind) = Kind::from_reference(api_version, kind) else { return };
        let _ = self.problems.send(ControllerError { key: ObjectKey::new(kind, key.namespace.clone(), name), reason: reason.into(), message });
    }

    /// Fills what only an edge may compute: the signed token of a token Secret.
    fn complete_body(&self, key: &ObjectKey, body: &str) -> String {
        let Ok(mut v) = serde_json::from_str::<Value>(body) else {
            return body.to_string();
        };
        deltakube_dataflows::reconcile::identify(key, &mut v);
        let Some(tokens) = &self.tokens else {
            return v.to_string();
        };
        if v.get("type").and_then(Value::as_str) == Some(TOKEN_TYPE) {
            let ann = |k: &str| v.pointer("/metadata/annotations").and_then(|a| a.get(k)).and_then(Value::as_str).unwrap_or("").to_string();
            let (account, uid) = (ann("kubernetes.io/service-account.name"), ann("kubernetes.io/service-account.uid"));
            let token = tokens.issue_legacy(&key.namespace, &account, &uid, &key.name);
            let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s.as_bytes());
            v["data"] = serde_json::json!({"token": b64(&token), "ca.crt": b64(&self.root_ca), "namespace": b64(&key.namespace)});
        }
        v.to_string()
    }

    async fn call(&self, method: &str, path: &str, body: String, content_type: &str) -> Result<(u16, Value), String> {
        self.api.call(method, path, body, content_type).await
    }

    /// Deletes everything in a Terminating namespace, then finalizes it, as upstream's
    /// namespace controller: every namespaced collection is deleted, and only when all are
    /// empty is the `kubernetes` finalizer removed.
    async fn purge_namespace(&self, namespace: &str) -> Result<Option<Revision>, String> {
        let mut remaining = 0;
        for r in deltakube_api::resources::registry::RESOURCES.iter().filter(|r| r.namespaced && r.verbs.contains(&"deletecollection")) {
            let base = if r.group.is_empty() { format!("/api/{}", r.version) } else { format!("/apis/{}/{}", r.group, r.version) };
            let path = format!("{base}/namespaces/{namespace}/{}", r.plural);
            let (code, body) = self.call("DELETE", &path, String::new(), "application/json").await?;
            if code >= 300 {
                return Err(format!("deleting {path}: {code} {}", body["message"].as_str().unwrap_or("")));
            }
            let (_, left) = self.call("GET", &format!("{path}?limit=1"), String::new(), "application/json").await?;
            remaining += left["items"].as_array().map_or(0, Vec::len);
        }
        if remaining > 0 {
            return Err(format!("{WAITING}namespace {namespace} still has content (finalizers or graceful deletion)"));
        }
        let body = serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}, "spec": {"finalizers": []}});
        let (code, value) = self.call("PUT", &format!("/api/v1/namespaces/{namespace}/finalize"), body.to_string(), "application/json").await?;
        match code {
            200..=299 => Ok(value.pointer("/metadata/resourceVersion").and_then(Value::as_str).and_then(|r| r.parse().ok())),
            404 => Ok(None),
            _ => Err(format!("finalizing namespace {namespace}: {code} {}", value["message"].as_str().unwrap_or(""))),
        }
    }

    async fn send(&self, intent: &Intent) -> Result<Option<Revision>, String> {
        let key = intent.key();
        if let Intent::PurgeNamespace { key } = intent {
            return self.purge_namespace(&key.name).await;
        }
        let (method, path, body, content_type) = match intent {
            Intent::Create { body, .. } => ("POST", collection_path(key), self.complete_body(key, &body.to_str()), "application/json"),
            Intent::Patch { patch, .. } => ("PATCH", format!("{}/{}", collection_path(key), key.name), patch.to_string(), "application/merge-patch+json"),
            Intent::PatchStatus { patch, .. } => {
                ("PATCH", format!("{}/{}/status", collection_path(key), key.name), patch.to_string(), "application/merge-patch+json")
            }
            Intent::Allocate { pool, patch, .. } => {
                let subresource = if pool.status() { "/status" } else { "" };
                ("PATCH", format!("{}/{}{subresource}", collection_path(key), key.name), patch.to_string(), "application/merge-patch+json")
            }
            Intent::Delete { .. } => ("DELETE", format!("{}/{}", collection_path(key), key.name), String::new(), "application/json"),
            Intent::DeleteForeground { .. } => {
                ("DELETE", format!("{}/{}?propagationPolicy=Foreground", collection_path(key), key.name), String::new(), "application/json")
            }
            Intent::PurgeNamespace { .. } => unreachable!("handled above"),
        };
        // Only a status patch carries condition times; other bodies hold users' content.
        let body = if matches!(intent, Intent::PatchStatus { .. }) { stamp_write_time(body) } else { body };
        let separator = if path.contains('?') { '&' } else { '?' };
        let (status, value) = self.call(method, &format!("{path}{separator}fieldManager=deltakube-controllers"), body, content_type).await?;
        let revision = value.pointer("/metadata/resourceVersion").and_then(Value::as_str).and_then(|r| r.parse().ok());
        match status {
            200..=299 => Ok(revision),
            // Someone else already did it; the feed will show it.
            409 if matches!(intent, Intent::Create { .. }) && value["reason"] == "AlreadyExists" => {
                self.metrics.redundant(intent);
                Ok(None)
            }
            // The object is gone: a delete is done, a patch is moot (the intent goes with it).
            404 if matches!(
                intent,
                Intent::Delete { .. } | Intent::DeleteForeground { .. } | Intent::Patch { .. } | Intent::PatchStatus { .. } | Intent::Allocate { .. }
            ) =>
            {
                self.metrics.redundant(intent);
                Ok(None)
            }
            // The namespace is going away; its purge will settle this key.
            403 if value["message"].as_str().is_some_and(|m| m.contains("being terminated")) => {
                Err(format!("{WAITING}namespace {} is terminating", key.namespace))
            }
            // Refused (a quota spent, or no permission): told on the owner, and retried with
            // back-off, as upstream's controllers retry. A spent quota is an expected wait until
            // room is made or the intent goes; anything else is a failure.
            403 if matches!(intent, Intent::Create { .. }) => {
                let message = value["message"].as_str().unwrap_or("");
                if let Intent::Create { body, .. } = intent {
                    self.report_refused_create(key, &body.to_str(), message);
                }
                let quota = message.contains("exceeded quota:") || message.contains("failed quota:");
                Err(format!("{}{method} {path}: 403 {message}", if quota { WAITING } else { "" }))
            }
            // The namespace was purged after the intent was computed; the feed retracts it.
            404 if matches!(intent, Intent::Create { .. }) && !key.namespace.is_empty() => Err(format!("{WAITING}namespace {} is gone", key.namespace)),
            code => {
                let message = value["message"].as_str().unwrap_or("");
                // A refused pod delete is told on the pod's controller; every refusal is
                // retried with back-off.
                if matches!(intent, Intent::Delete { .. }) && key.kind == Kind::Pod {
                    self.report_refused_delete(key, message).await;
                }
                Err(format!("{method} {path}: {code} {message}"))
            }
        }
    }

    /// Runs until `input` closes.
    pub async fn run(self: Arc<Self>, mut input: mpsc::UnboundedReceiver<WriterInput>) {
        // Per key, each intent's multiplicity and the revision it (last) appeared at.
        let mut outstanding: BTreeMap<ObjectKey, BTreeMap<Intent, (isize, Revision)>> = BTreeMap::new();
        let mut flights: HashMap<ObjectKey, Flight> = HashMap::new();
        let mut backoff: HashMap<ObjectKey, (Duration, Instant)> = HashMap::new();
        // Per pool, the last revision its allocations changed at; the keys of its writes in flight.
        let mut pool_changed: HashMap<Pool, Revision> = HashMap::new();
        let mut pooled: HashMap<ObjectKey, Pool> = HashMap::new();
        let mut progress: Revision = 0;
        let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Done>();
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        loop {
            tokio::select! {
                message = input.recv() => match message {
                    None => return,
                    Some(WriterInput::Intent { intent, diff, revision }) => {
                        if let Intent::Allocate { pool, .. } = &intent {
                            let changed = pool_changed.entry(*pool).or_default();
                            *changed = (*changed).max(revision);
                        }
                        let per_key = outstanding.entry(intent.key().clone()).or_default();
                        let entry = per_key.entry(intent).or_insert((0, revision));
                        entry.0 += diff;
                        if diff > 0 {
                            entry.1 = revision;
                        }
                        per_key.retain(|_, (c, _)| *c != 0);
                        outstanding.retain(|_, m| !m.is_empty());
                    }
                    Some(WriterInput::Progress(r)) => {
                        progress = progress.max(r);
                        flights.retain(|_, f| !matches!(f, Flight::Until(w) if *w <= progress));
                    }
                },
                Some(done) = done_rx.recv() => {
                    match done.result {
                        Ok(revision) => {
                            self.metrics.written(&done.intent, done.born);
                            // Without a revision (already done by someone), wait one step of progress.
                            flights.insert(done.key.clone(), Flight::Until(revision.unwrap_or(progress + 1)));
                            if let Some((delay, _)) = backoff.get_mut(&done.key) {
                                // The intent may outlive its write if they disagree: keep backing off.
                                *delay = (*delay * 2).min(MAX_BACKOFF);
                            }
                        }
                        Err(e) => {
                            flights.remove(&done.key);
                            let delay = backoff.get(&done.key).map_or(Duration::from_millis(200), |(d, _)| (*d * 2).min(MAX_BACKOFF));
                            match e.strip_prefix(WAITING) {
                                Some(reason) => tracing::info!(key = ?done.key, reason, retry_in = ?delay, "controller write waiting"),
                                None => {
                                    self.metrics.failed(&done.intent);
                                    tracing::warn!(key = ?done.key, error = %e, retry_in = ?delay, "controller write failed");
                                }
                            }
                            backoff.insert(done.key, (delay, Instant::now() + delay));
                        }
                    }
                }
                _ = tick.tick() => {}
            }
            // Start writes for outstanding keys that are not in flight or backing off.
            let now = Instant::now();
            pooled.retain(|k, _| flights.contains_key(k));
            let busy: HashSet<Pool> = pooled.values().copied().collect();
            for (key, intents) in &outstanding {
                if flights.len() >= MAX_IN_FLIGHT {
                    break;
                }
                if flights.contains_key(key) || backoff.get(key).is_some_and(|(_, until)| *until > now) {
                    continue;
                }
                let Some((intent, (_, born))) = intents.iter().find(|(_, (c, _))| *c > 0) else {
                    continue;
                };
                if let Intent::Allocate { pool, .. } = intent {
                    if busy.contains(pool) || pool_changed.get(pool).is_some_and(|r| *r > progress) {
                        continue;
                    }
                    pooled.insert(key.clone(), *pool);
                }
                if backoff.contains_key(key) {
                    let (delay, _) = backoff[key];
                    backoff.insert(key.clone(), (delay, now + delay));
                } else {
                    backoff.insert(key.clone(), (Duration::from_millis(200), now));
                }
                flights.insert(key.clone(), Flight::Sending);
                let (writer, intent, key, done, born) = (self.clone(), intent.clone(), key.clone(), done_tx.clone(), *born);
                tokio::spawn(async move {
                    let result = writer.send(&intent).await;
                    let _ = done.send(Done { key, intent, born, result });
                });
            }
            // Keys with nothing outstanding forget their back-off.
            backoff.retain(|k, _| outstanding.contains_key(k));
        }
    }
}

/// Fills in the time of this write where the dataflows left [`WRITE_TIME`] (a condition's
/// new `lastTransitionTime` or `lastUpdateTime`), in seconds, as upstream's `metav1.Time`.
fn stamp_write_time(body: String) -> String {
    let placeholder = format!("\"{WRITE_TIME}\"");
    if !body.contains(&placeholder) {
        return body;
    }
    let now = jiff::Timestamp::now().strftime("\"%Y-%m-%dT%H:%M:%SZ\"").to_string();
    body.replace(&placeholder, &now)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use axum::response::IntoResponse;
    use deltakube_api::apiserver::{self, RunningApiServer};

    use super::*;

    /// The real API server, with the first `conflicts` PATCH requests answered 409 Conflict as
    /// a lost optimistic-concurrency race is; counts the PATCHes that reach it.
    fn conflicting(server: &RunningApiServer, conflicts: usize, patches: Arc<AtomicUsize>) -> Api {
        let refused = Arc::new(AtomicUsize::new(0));
        let router = server.internal_router.clone().layer(axum::middleware::from_fn(move |request: axum::extract::Request, next: axum::middleware::Next| {
            let (refused, patches) = (refused.clone(), patches.clone());
            async move {
                if request.method() == http::Method::PATCH {
                    patches.fetch_add(1, Ordering::SeqCst);
                    if refused.fetch_add(1, Ordering::SeqCst) < conflicts {
                        let status = serde_json::json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Conflict", "code": 409,
                            "message": "Operation cannot be fulfilled on configmaps \"cm\": the object has been modified; please apply your changes to the latest version and try again"});
                        return (http::StatusCode::CONFLICT, axum::Json(status)).into_response();
                    }
                }
                next.run(request).await
            }
        }));
        Api::in_process(router)
    }

    /// A write that loses an optimistic-concurrency race (409 Conflict) is retried with
    /// back-off until it lands, and counted as a failed write each time it lost.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_conflicting_write_is_retried_until_it_lands() {
        let dir = tempfile::tempdir().unwrap();
        let server = apiserver::start(crate::bench::loopback_server(dir.path().join("server"), dir.path().join("store.redb")), None).await.unwrap();
        let api = Api::in_process(server.internal_router.clone());
        let cm = serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm", "namespace": "default"}});
        let (code, _) = api.call("POST", "/api/v1/namespaces/default/configmaps", cm.to_string(), "application/json").await.unwrap();
        assert_eq!(code, 201);

        let patches = Arc::new(AtomicUsize::new(0));
        let metrics = Arc::new(super::super::metrics::Metrics::new());
        let (problems, _) = mpsc::unbounded_channel();
        let writer = Arc::new(Writer::new(conflicting(&server, 2, patches.clone()), None, String::new(), metrics.clone(), problems));
        let (input, rx) = mpsc::unbounded_channel();
        tokio::spawn(writer.run(rx));
        let key = ObjectKey::new(Kind::ConfigMap, "default", "cm");
        input.send(WriterInput::Intent { intent: Intent::Patch { key, patch: r#"{"data":{"a":"1"}}"#.into() }, diff: 1, revision: 1 }).unwrap();
        input.send(WriterInput::Progress(1)).unwrap();

        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (_, got) = api.call("GET", "/api/v1/namespaces/default/configmaps/cm", String::new(), "application/json").await.unwrap();
            if got.pointer("/data/a") == Some(&Value::from("1")) {
                break;
            }
            assert!(Instant::now() < deadline, "the patch never landed after {} attempts", patches.load(Ordering::SeqCst));
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(patches.load(Ordering::SeqCst), 3, "two conflicts, then the write that landed");
        let text = String::from_utf8(axum::body::to_bytes(metrics.render().into_body(), 1 << 20).await.unwrap().to_vec()).unwrap();
        assert!(text.contains(r#"deltakube_controller_write_errors_total{controller="token"} 2"#), "{text}");
        server.stop();
    }
}
