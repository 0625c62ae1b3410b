//! NodeResourcesBalancedAllocation (`pkg/scheduler/framework/plugins/noderesources/balanced_allocation.go`).
//!
//! For each configured resource the node has, the fraction `requested / allocatable`, capped at
//! one, with the pod's actual requests added. The score is `(1 - std) * 100`, where std is
//! `|f1 - f2| / 2` for two resources and the population standard deviation for more. A pod that
//! requests nothing of those resources is not scored (upstream's PreScore Skip, #129138).
//!
//! This is upstream's formula through 1.35, checked against its test file. Upstream's master
//! has since begun to score the change in balance the pod makes (with versus without it); that
//! source was not available to verify, so it is not followed here.

use super::config::ResourceWeight;
use super::framework::MAX_NODE_SCORE;
use super::node_resources_fit::{allocatable_and_requested, pod_score_request};
use super::resources::Resources;
use super::rows_pod::PodRow;
use super::snapshot::NodeInfo;

/// Upstream's `balancedResourceScorer`.
pub fn balanced_resource_score(requested: &[i64], allocatable: &[i64]) -> i64 {
    let fractions: Vec<f64> = requested.iter().zip(allocatable).filter(|(_, a)| **a != 0).map(|(r, a)| (*r as f64 / *a as f64).min(1.0)).collect();
    let std = match fractions.len() {
        2 => ((fractions[0] - fractions[1]) / 2.0).abs(),
        n if n > 2 => {
            let mean = fractions.iter().sum::<f64>() / n as f64;
            (fractions.iter().map(|f| (f - mean) * (f - mean)).sum::<f64>() / n as f64).sqrt()
        }
        _ => 0.0,
    };
    ((1.0 - std) * MAX_NODE_SCORE as f64) as i64
}

/// The score, or `None` for a best-effort pod (upstream's PreScore Skip).
pub fn score(pod: &PodRow, node: &NodeInfo, resources: &[ResourceWeight]) -> Option<i64> {
    let exact = Resources::from_list(&pod.requests);
    let pod_requests: Vec<i64> = resources.iter().map(|r| pod_score_request(pod, &exact, &r.name, true)).collect();
    if pod_requests.iter().all(|r| *r == 0) {
        return None;
    }
    let (allocatable, requested) = allocatable_and_requested(&pod_requests, node, resources, true);
    Some(balanced_resource_score(&requested, &allocatable))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::config::default_resource_weights;
    use crate::scheduler::rows_pod::PodRow;
    use crate::scheduler::test_support::{node_info, pod, requesting_pod, sized_node};
    use serde_json::{json, Value};

    /// Upstream's `makeNode(name, milliCPU, memory, extended)`.
    fn node(milli_cpu: i64, memory: i64, extended: Value) -> serde_json::Value {
        let mut alloc = json!({"cpu": format!("{milli_cpu}m"), "memory": memory.to_string(), "pods": "100"});
        for (k, v) in extended.as_object().into_iter().flatten() {
            alloc[k] = v.clone();
        }
        alloc
    }

    /// Upstream's `cpuOnly` (1000m + 2000m, memory 0) on a node.
    fn cpu_only(node: &str) -> PodRow {
        requesting_pod(node, &[json!({"cpu": "1000m", "memory": "0"}), json!({"cpu": "2000m", "memory": "0"})])
    }

    /// Upstream's `cpuAndMemory` (1000m/2000 + 2000m/3000) on a node.
    fn cpu_and_memory(node: &str) -> PodRow {
        requesting_pod(node, &[json!({"cpu": "1000m", "memory": "2000"}), json!({"cpu": "2000m", "memory": "3000"})])
    }

    fn run(p: &PodRow, existing: &[PodRow], nodes: Vec<(&str, Value)>, resources: &[ResourceWeight]) -> Vec<Option<i64>> {
        nodes
            .into_iter()
            .map(|(name, alloc)| {
                let pods = existing.iter().filter(|e| e.node_name == name).cloned().collect();
                score(p, &node_info(sized_node(name, alloc), pods), resources)
            })
            .collect()
    }

    // Upstream: pkg/scheduler/framework/plugins/noderesources/balanced_allocation_test.go,
    // TestNodeResourcesBalancedAllocation.
    #[test]
    fn upstream_balanced_allocation_cases() {
        let d = default_resource_weights();
        // "nothing scheduled, nothing requested, skip in PreScore"
        let nothing = pod(json!({"metadata": {"name": "p"}}));
        assert_eq!(run(&nothing, &[], vec![("node1", node(4000, 10000, json!({}))), ("node2", node(4000, 10000, json!({})))], &d), [None, None]);
        // "nothing scheduled, resources requested, differently sized nodes"
        let incoming = cpu_and_memory("");
        assert_eq!(run(&incoming, &[], vec![("node1", node(4000, 10000, json!({}))), ("node2", node(6000, 10000, json!({})))], &d), [Some(87), Some(100)]);
        // "resources requested, pods scheduled with resources"
        let existing = [cpu_only("node1"), cpu_and_memory("node2")];
        assert_eq!(
            run(&incoming, &existing, vec![("node1", node(10000, 20000, json!({}))), ("node2", node(10000, 20000, json!({})))], &d),
            [Some(82), Some(95)]
        );
        // "resources requested, pods scheduled with resources, differently sized nodes"
        assert_eq!(
            run(&incoming, &existing, vec![("node1", node(10000, 20000, json!({}))), ("node2", node(10000, 50000, json!({})))], &d),
            [Some(82), Some(80)]
        );
        // "requested resources at node capacity"
        assert_eq!(
            run(&cpu_only(""), &existing, vec![("node1", node(6000, 10000, json!({}))), ("node2", node(6000, 10000, json!({})))], &d),
            [Some(50), Some(75)]
        );
        // "include scalar resource on a node for balanced resource allocation"
        let gpu = json!({"nvidia.com/gpu": "8"});
        let three = [
            ResourceWeight { name: "cpu".into(), weight: 1 },
            ResourceWeight { name: "memory".into(), weight: 1 },
            ResourceWeight { name: "nvidia.com/gpu".into(), weight: 1 },
        ];
        let with_gpu =
            |n: &str| requesting_pod(n, &[json!({"cpu": "1000m", "memory": "2000", "nvidia.com/gpu": "3"}), json!({"cpu": "2000m", "memory": "3000"})]);
        let gpu_pod = requesting_pod("", &[json!({"memory": "0", "nvidia.com/gpu": "1"})]);
        let existing = [with_gpu("node1"), cpu_and_memory("node2")];
        assert_eq!(
            run(&gpu_pod, &existing, vec![("node1", node(3500, 40000, gpu.clone())), ("node2", node(3500, 40000, gpu.clone()))], &three),
            [Some(70), Some(65)]
        );
        // "node without the scalar resource should skip the scalar resource"
        assert_eq!(run(&incoming, &[], vec![("node1", node(3500, 40000, gpu)), ("node2", node(3500, 40000, json!({})))], &three), [Some(63), Some(63)]);
    }

    #[test]
    fn standard_deviation_for_more_than_two_resources() {
        // Upstream's worked example: fractions 0.8571, 0.125, 0.5 give std 0.3002 and score 70.
        assert_eq!(balanced_resource_score(&[3000, 5000, 4], &[3500, 40000, 8]), 70);
    }
}
