//! Node conditions as the scheduler sees them: as `NoSchedule` taints.
//!
//! Upstream's scheduler has no condition filter any more (the `CheckNodeCondition` predicate was
//! removed in 1.17). Instead the node lifecycle controller taints nodes by condition
//! (`nodeConditionToTaintKeyStatusMap` and `doNoScheduleTaintingPass` in
//! `pkg/controller/nodelifecycle/node_lifecycle_controller.go`), and TaintToleration rejects them:
//! a NotReady node reads `node(s) had untolerated taint {node.kubernetes.io/not-ready: }`, and a
//! DaemonSet pod that tolerates it still lands. deltakube derives the same taints from the
//! conditions here, so the scheduler behaves as upstream's whether or not a lifecycle controller
//! has written them yet; a taint the node already carries is not added twice.
//!
//! A node without a Ready condition gets no taint, exactly as the tainting pass, which only
//! looks at conditions that exist.

use super::rows::Taint;

/// `node.kubernetes.io/not-ready`: Ready is False.
pub const TAINT_NOT_READY: &str = "node.kubernetes.io/not-ready";
/// `node.kubernetes.io/unreachable`: Ready is Unknown.
pub const TAINT_UNREACHABLE: &str = "node.kubernetes.io/unreachable";
pub const TAINT_MEMORY_PRESSURE: &str = "node.kubernetes.io/memory-pressure";
pub const TAINT_DISK_PRESSURE: &str = "node.kubernetes.io/disk-pressure";
pub const TAINT_NETWORK_UNAVAILABLE: &str = "node.kubernetes.io/network-unavailable";
pub const TAINT_PID_PRESSURE: &str = "node.kubernetes.io/pid-pressure";
/// `node.kubernetes.io/unschedulable`, the taint `spec.unschedulable` stands for.
pub const TAINT_UNSCHEDULABLE: &str = "node.kubernetes.io/unschedulable";

/// Upstream's `nodeConditionToTaintKeyStatusMap`: (condition type, status) → taint key.
const CONDITION_TAINTS: &[(&str, &str, &str)] = &[
    ("Ready", "False", TAINT_NOT_READY),
    ("Ready", "Unknown", TAINT_UNREACHABLE),
    ("MemoryPressure", "True", TAINT_MEMORY_PRESSURE),
    ("DiskPressure", "True", TAINT_DISK_PRESSURE),
    ("NetworkUnavailable", "True", TAINT_NETWORK_UNAVAILABLE),
    ("PIDPressure", "True", TAINT_PID_PRESSURE),
];

/// The `NoSchedule` taints the node's `(type, status)` conditions imply, minus those `existing`
/// already holds (same key and effect).
pub fn condition_taints(conditions: &[(String, String)], existing: &[Taint]) -> Vec<Taint> {
    let mut out = Vec::new();
    for (kind, status) in conditions {
        for (c, st, key) in CONDITION_TAINTS {
            if kind == c && status == st && !existing.iter().chain(out.iter()).any(|t: &Taint| t.key == *key && t.effect == "NoSchedule") {
                out.push(Taint { key: key.to_string(), value: String::new(), effect: "NoSchedule".into() });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conds(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
    }

    #[test]
    fn conditions_map_to_upstream_taint_keys() {
        let t = condition_taints(&conds(&[("DiskPressure", "True"), ("MemoryPressure", "False"), ("Ready", "Unknown")]), &[]);
        let keys: Vec<&str> = t.iter().map(|t| t.key.as_str()).collect();
        assert_eq!(keys, [TAINT_DISK_PRESSURE, TAINT_UNREACHABLE]);
        assert!(condition_taints(&conds(&[("Ready", "True")]), &[]).is_empty());
        assert!(condition_taints(&[], &[]).is_empty());
    }

    #[test]
    fn a_taint_already_written_is_not_doubled() {
        let existing = [Taint { key: TAINT_NOT_READY.into(), value: String::new(), effect: "NoSchedule".into() }];
        assert!(condition_taints(&conds(&[("Ready", "False")]), &existing).is_empty());
    }
}
