//! The controller manager's Lease, `kube-system/kube-controller-manager`, renewed every
//! second: the dataflows' clock ([`deltakube_dataflows::clock`]). Its `renewTime` comes back
//! through the feed, and each renewal is a tick that lets time-bound decisions (a pod's
//! `minReadySeconds`, a Deployment's progress deadline) fall due.
//!
//! Like upstream's leader election it shows who holds the controllers (`kubectl get lease -n
//! kube-system`). Unlike it, it does not wait out another holder: deltakube runs one controller
//! manager (one process, or process 0 of a cluster of them), so a restarted one takes the Lease
//! over at once, counting a transition.

use std::time::Duration;

use deltakube_dataflows::clock::{LEASE_NAME, LEASE_NAMESPACE};
use serde_json::{json, Value};

use super::api::Api;

/// How often the Lease is renewed: the clock's resolution. Upstream renews every 2 s.
pub const RENEW_EVERY: Duration = Duration::from_secs(1);
/// What the Lease claims, as upstream's default.
const LEASE_DURATION_SECONDS: i64 = 15;

/// The time now as a `MicroTime`.
fn micro_time() -> String {
    jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

fn path() -> String {
    format!("/apis/coordination.k8s.io/v1/namespaces/{LEASE_NAMESPACE}/leases/{LEASE_NAME}")
}

/// Takes the Lease (creating it, or taking it from another holder) and renews it for the
/// life of the process; failures are logged and retried on the next tick.
pub async fn renew(api: Api, identity: String) {
    let mut ticker = tokio::time::interval(RENEW_EVERY);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut held = false;
    loop {
        ticker.tick().await;
        let result = if held { renew_once(&api, &identity).await } else { take(&api, &identity).await };
        match result {
            Ok(()) => held = true,
            Err(e) => {
                held = false;
                tracing::warn!(error = %e, "renewing the controller manager's lease");
            }
        }
    }
}

async fn renew_once(api: &Api, identity: &str) -> Result<(), String> {
    let patch = json!({"spec": {"holderIdentity": identity, "renewTime": micro_time()}});
    match api.call("PATCH", &path(), patch.to_string(), "application/merge-patch+json").await? {
        (200, _) => Ok(()),
        (code, body) => Err(format!("{code} {}", body["message"].as_str().unwrap_or(""))),
    }
}

async fn take(api: &Api, identity: &str) -> Result<(), String> {
    let now = micro_time();
    let spec = |transitions: i64| {
        json!({"holderIdentity": identity, "leaseDurationSeconds": LEASE_DURATION_SECONDS,
               "acquireTime": now, "renewTime": now, "leaseTransitions": transitions})
    };
    let (status, lease) = api.call("GET", &path(), String::new(), "application/json").await?;
    let (status, body) = match status {
        404 => {
            let body = json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                              "metadata": {"name": LEASE_NAME, "namespace": LEASE_NAMESPACE}, "spec": spec(0)});
            let collection = format!("/apis/coordination.k8s.io/v1/namespaces/{LEASE_NAMESPACE}/leases");
            api.call("POST", &collection, body.to_string(), "application/json").await?
        }
        200 => {
            let previous = lease.pointer("/spec/holderIdentity").and_then(Value::as_str);
            let transitions = lease.pointer("/spec/leaseTransitions").and_then(Value::as_i64).unwrap_or(0);
            let transitions = if previous.is_some_and(|p| p != identity) { transitions + 1 } else { transitions };
            let mut lease = lease;
            lease["spec"] = spec(transitions);
            api.call("PUT", &path(), lease.to_string(), "application/json").await?
        }
        code => return Err(format!("reading the lease: {code} {}", lease["message"].as_str().unwrap_or(""))),
    };
    match status {
        200 | 201 => Ok(()),
        code => Err(format!("taking the lease: {code} {}", body["message"].as_str().unwrap_or(""))),
    }
}

/// This process's identity in the Lease, as upstream's: `<hostname>_<uuid>`.
pub fn identity() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or_else(|_| "deltakube".into());
    format!("{host}_{}", uuid::Uuid::new_v4())
}
