//! The controller manager's Lease, `kube-system/kube-controller-manager`, renewed every
//! second: the dataflows' clock ([`deltakube_dataflows::clock`]). Its `renewTime` comes back
//! through the feed, and each renewal is a tick that lets time-bound decisions (a pod's
//! `minReadySeconds`, a Deployment's progress deadline) fall due.
//!
//! It is upstream's leader election reduced to one candidate:
//! - the Lease is taken when it is absent, already ours, or expired (its `renewTime` plus
//!   `leaseDurationSeconds` has passed); another holder's live Lease is waited out, so a real
//!   kube-controller-manager keeps its own;
//! - each renewal is conditional on the `resourceVersion` of our last write, so a write by
//!   anyone else sends us back to taking it;
//! - the identity is stable per host (`<hostname>_deltakube`), so a restarted controller
//!   manager resumes its Lease at once instead of waiting out its own last renewal;
//! - `renewTime` never goes back, even when this host's clock is behind the Lease's: the
//!   dataflows' time only moves forward.

use std::time::Duration;

use deltakube_dataflows::clock::{micros, LEASE_NAME, LEASE_NAMESPACE};
use deltakube_dataflows::deadlines::{Micros, MICROS_PER_SECOND};
use serde_json::{json, Value};
use tokio::sync::oneshot;

use super::api::Api;

/// How often the Lease is renewed: the clock's resolution. Upstream renews every 2 s.
pub const RENEW_EVERY: Duration = Duration::from_secs(1);
/// What the Lease claims, as upstream's default.
const LEASE_DURATION_SECONDS: i64 = 15;
/// The longest one step (a read and a write) may take before the tick counts as failed.
const STEP_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the feed waits for the first renewal, so that the first list carries the time.
pub const FIRST_RENEWAL_PATIENCE: Duration = Duration::from_secs(5);

/// The Lease as we last wrote it.
struct Held {
    resource_version: String,
    renewed: Micros,
}

fn path() -> String {
    format!("/apis/coordination.k8s.io/v1/namespaces/{LEASE_NAMESPACE}/leases/{LEASE_NAME}")
}

fn now() -> Micros {
    jiff::Timestamp::now().as_microsecond()
}

/// A time as a `MicroTime`.
fn micro_time(t: Micros) -> String {
    jiff::Timestamp::from_microsecond(t).unwrap_or_default().strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// This process's identity in the Lease: `<hostname>_deltakube`.
pub fn identity() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or_else(|_| "localhost".into());
    format!("{host}_deltakube")
}

/// Takes and renews the Lease for the life of the process; `first` hears of the first
/// renewal. Failures are logged and retried on the next tick.
pub async fn renew(api: Api, identity: String, first: oneshot::Sender<()>) {
    let mut ticker = tokio::time::interval(RENEW_EVERY);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut first = Some(first);
    let mut held: Option<Held> = None;
    let mut waiting_for: Option<String> = None;
    loop {
        ticker.tick().await;
        let step = async {
            if let Some(h) = &held {
                if let Some(renewed) = renew_held(&api, &identity, h).await? {
                    return Ok(renewed);
                }
            }
            take(&api, &identity).await
        };
        match tokio::time::timeout(STEP_TIMEOUT, step).await.unwrap_or_else(|_| Err(Refusal::Failed("no answer in time".into()))) {
            Ok(renewed) => {
                held = Some(renewed);
                waiting_for = None;
                if let Some(first) = first.take() {
                    let _ = first.send(());
                }
            }
            Err(Refusal::HeldBy(holder)) => {
                held = None;
                if waiting_for.as_ref() != Some(&holder) {
                    tracing::warn!(%holder, "the controller manager's lease is held by another; waiting for it to expire");
                    waiting_for = Some(holder);
                }
            }
            Err(Refusal::Failed(e)) => {
                held = None;
                tracing::warn!(error = %e, "renewing the controller manager's lease (the controllers' clock)");
            }
        }
    }
}

enum Refusal {
    /// Another identity holds a live Lease.
    HeldBy(String),
    Failed(String),
}

impl From<String> for Refusal {
    fn from(e: String) -> Refusal {
        Refusal::Failed(e)
    }
}

/// Renews the Lease we hold, on the condition that nobody wrote it since; None when someone
/// did (or it is gone), for the caller to take it again.
async fn renew_held(api: &Api, identity: &str, held: &Held) -> Result<Option<Held>, Refusal> {
    let renewed = now().max(held.renewed);
    let patch = json!({"metadata": {"resourceVersion": held.resource_version},
                       "spec": {"holderIdentity": identity, "renewTime": micro_time(renewed)}});
    match api.call("PATCH", &path(), patch.to_string(), "application/merge-patch+json").await? {
        (200, lease) => Ok(Some(Held { resource_version: resource_version(&lease), renewed })),
        (404 | 409, _) => Ok(None),
        (code, body) => Err(Refusal::Failed(format!("{code} {}", body["message"].as_str().unwrap_or("")))),
    }
}

/// Takes the Lease: creates it, or takes it over when it is ours or has expired.
async fn take(api: &Api, identity: &str) -> Result<Held, Refusal> {
    let (status, lease) = api.call("GET", &path(), String::new(), "application/json").await?;
    let time = |field: &str| micros(lease.pointer(&format!("/spec/{field}")), field).unwrap_or(0);
    let renewed = now().max(time("renewTime"));
    let spec = |transitions: i64| {
        json!({"holderIdentity": identity, "leaseDurationSeconds": LEASE_DURATION_SECONDS,
               "acquireTime": micro_time(renewed), "renewTime": micro_time(renewed), "leaseTransitions": transitions})
    };
    let (status, written) = match status {
        404 => {
            let body = json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                              "metadata": {"name": LEASE_NAME, "namespace": LEASE_NAMESPACE}, "spec": spec(0)});
            let collection = format!("/apis/coordination.k8s.io/v1/namespaces/{LEASE_NAMESPACE}/leases");
            api.call("POST", &collection, body.to_string(), "application/json").await?
        }
        200 => {
            let holder = lease.pointer("/spec/holderIdentity").and_then(Value::as_str).unwrap_or_default().to_string();
            let duration = lease.pointer("/spec/leaseDurationSeconds").and_then(Value::as_i64).unwrap_or(LEASE_DURATION_SECONDS);
            let expired = time("renewTime") + duration * MICROS_PER_SECOND < now();
            if !holder.is_empty() && holder != identity && !expired {
                return Err(Refusal::HeldBy(holder));
            }
            let transitions = lease.pointer("/spec/leaseTransitions").and_then(Value::as_i64).unwrap_or(0);
            let mut lease = lease;
            // Our own Lease keeps its acquire time; a taken one counts a transition.
            lease["spec"] = if holder == identity {
                let mut spec = spec(transitions);
                spec["acquireTime"] = lease["spec"]["acquireTime"].clone();
                spec
            } else {
                spec(transitions + 1)
            };
            api.call("PUT", &path(), lease.to_string(), "application/json").await?
        }
        code => return Err(Refusal::Failed(format!("reading the lease: {code} {}", lease["message"].as_str().unwrap_or("")))),
    };
    match status {
        200 | 201 => Ok(Held { resource_version: resource_version(&written), renewed }),
        code => Err(Refusal::Failed(format!("taking the lease: {code} {}", written["message"].as_str().unwrap_or("")))),
    }
}

fn resource_version(lease: &Value) -> String {
    lease.pointer("/metadata/resourceVersion").and_then(Value::as_str).unwrap_or_default().to_string()
}

/// Waits for the first renewal (at most [`FIRST_RENEWAL_PATIENCE`]), so that a feed started
/// after it lists the current time rather than a stale one.
pub async fn first_renewal(first: oneshot::Receiver<()>) {
    if !matches!(tokio::time::timeout(FIRST_RENEWAL_PATIENCE, first).await, Ok(Ok(()))) {
        tracing::warn!("the controller manager's lease is not renewed yet; the controllers start with the time it last had");
    }
}
