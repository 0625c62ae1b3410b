//! The clock: time enters the dataflows as an input collection, never as a clock reading.
//!
//! The controller manager renews its Lease, `kube-system/kube-controller-manager`, every
//! second (the edge in `src/controllers/lease.rs`), as upstream's leader election renews it.
//! The Lease comes back through the feed like any object, and its `spec.renewTime` is the
//! dataflows' time: each renewal is a tick at a store revision. So the dataflows' outputs at a
//! revision depend only on the store at that revision, a restart lists the same time back,
//! and every process of a cluster agrees on it. What depends on time (a pod's availability
//! after `minReadySeconds`, a Deployment's progress deadline) is a deadline compared with the
//! clock by [`crate::deadlines::expired`].
//!
//! A condition's timestamps are the time of the write that changes it, as upstream's are:
//! the dataflows put [`WRITE_TIME`] where a new timestamp goes, and the writer fills in its
//! time when it sends the patch.

use serde_json::Value;

use crate::deadlines::Micros;
use crate::types::{Kind, ObjectKey};

pub const LEASE_NAMESPACE: &str = "kube-system";
pub const LEASE_NAME: &str = "kube-controller-manager";

/// Stands for "the time of this write" in an intent's patch; the writer replaces the whole
/// JSON string (quotes included) with the time it writes at.
pub const WRITE_TIME: &str = "deltakube:write-time";

/// Whether an object is the Lease whose renewals are the clock.
pub fn is_clock(key: &ObjectKey) -> bool {
    key.kind == Kind::Lease && key.namespace == LEASE_NAMESPACE && key.name == LEASE_NAME
}

/// The time the clock Lease says: its `spec.renewTime`, if set.
pub fn now_of(lease: &Value) -> Result<Option<Micros>, String> {
    match lease.pointer("/spec/renewTime") {
        None | Some(Value::Null) => Ok(None),
        t => micros(t, "spec.renewTime").map(Some),
    }
}

/// An RFC 3339 time in microseconds since the epoch; 0 when unset (upstream's zero time).
pub fn micros(t: Option<&Value>, field: &str) -> Result<Micros, String> {
    match t {
        None | Some(Value::Null) => Ok(0),
        Some(t) => {
            t.as_str().and_then(|t| t.parse::<jiff::Timestamp>().ok()).map(|t| t.as_microsecond()).ok_or_else(|| format!("{field} is not an RFC 3339 time"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_lease_renewal_is_the_time() {
        let lease = json!({"spec": {"holderIdentity": "x", "renewTime": "2026-12-07T06:00:00.250000Z"}});
        assert_eq!(now_of(&lease), Ok(Some(1_796_623_200_250_000)));
        assert_eq!(now_of(&json!({"spec": {}})), Ok(None));
        assert!(now_of(&json!({"spec": {"renewTime": "yesterday"}})).is_err());
        assert!(is_clock(&ObjectKey::new(Kind::Lease, LEASE_NAMESPACE, LEASE_NAME)));
        assert!(!is_clock(&ObjectKey::new(Kind::Lease, "default", LEASE_NAME)));
    }
}
