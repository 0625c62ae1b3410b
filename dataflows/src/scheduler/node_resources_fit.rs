//! NodeResourcesFit (`pkg/scheduler/framework/plugins/noderesources/fit.go`, scoring in
//! `resource_allocation.go`, `least_allocated.go`, `most_allocated.go`).
//!
//! - Filter: one more pod must fit `pods`, and every requested cpu, memory, ephemeral-storage and
//!   scalar resource must fit what the node's pods leave of allocatable (`fitsRequest`). Each
//!   shortfall is a reason (`Too many pods`, `Insufficient cpu`, ...); the code is unresolvable
//!   when the request exceeds the whole node, since then no preemption could help.
//! - Score: per configured resource, LeastAllocated `(allocatable - requested) * 100 / allocatable`
//!   or MostAllocated `requested * 100 / allocatable` (requested capped at allocatable), over the
//!   node's non-zero requests plus the pod's, weighted-averaged. A scalar resource the pod does
//!   not request, or the node does not have, is left out.

use super::config::{NodeResourcesFitArgs, ResourceWeight, ScoringStrategy};
use super::framework::{Code, FilterResult, Plugin, Rejection, MAX_NODE_SCORE};
use super::resources::{is_extended_resource, is_scalar_resource, Resources, CPU, EPHEMERAL_STORAGE, MEMORY};
use super::rows_pod::PodRow;
use super::snapshot::NodeInfo;

/// One resource the node is short of (upstream's `InsufficientResource`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InsufficientResource {
    pub resource: String,
    pub reason: String,
    pub requested: i64,
    pub used: i64,
    pub capacity: i64,
    /// The request exceeds the node's whole allocatable.
    pub unresolvable: bool,
}

fn ignored(name: &str, args: &NodeResourcesFitArgs) -> bool {
    is_extended_resource(name)
        && (args.ignored_resources.iter().any(|r| r == name)
            || name.split_once('/').is_some_and(|(group, _)| args.ignored_resource_groups.iter().any(|g| g == group)))
}

/// Upstream's `fitsRequest`, in its order: pods, cpu, memory, ephemeral-storage, then scalar
/// resources (by name, where upstream follows map order).
pub fn insufficient_resources(request: &Resources, node: &NodeInfo, args: &NodeResourcesFitArgs) -> Vec<InsufficientResource> {
    let mut out = Vec::new();
    let (alloc, used) = (&node.allocatable, &node.requested);
    let pods = node.pods.len() as i64;
    if pods + 1 > alloc.pods {
        out.push(InsufficientResource {
            resource: "pods".into(),
            reason: "Too many pods".into(),
            requested: 1,
            used: pods,
            capacity: alloc.pods,
            unresolvable: false,
        });
    }
    if request.milli_cpu == 0 && request.memory == 0 && request.ephemeral_storage == 0 && request.scalar.values().all(|v| *v == 0) {
        return out;
    }
    let mut check = |resource: &str, requested: i64, used: i64, capacity: i64| {
        if requested > 0 && requested > capacity - used {
            out.push(InsufficientResource {
                resource: resource.to_string(),
                reason: format!("Insufficient {resource}"),
                requested,
                used,
                capacity,
                unresolvable: requested > capacity,
            });
        }
    };
    check(CPU, request.milli_cpu, used.milli_cpu, alloc.milli_cpu);
    check(MEMORY, request.memory, used.memory, alloc.memory);
    check(EPHEMERAL_STORAGE, request.ephemeral_storage, used.ephemeral_storage, alloc.ephemeral_storage);
    for (name, q) in &request.scalar {
        if !ignored(name, args) {
            check(name, *q, used.scalar.get(name).copied().unwrap_or(0), alloc.scalar.get(name).copied().unwrap_or(0));
        }
    }
    out
}

pub fn filter(pod: &PodRow, node: &NodeInfo, args: &NodeResourcesFitArgs) -> FilterResult {
    let short = insufficient_resources(&Resources::from_list(&pod.requests), node, args);
    if short.is_empty() {
        return Ok(());
    }
    let code = if short.iter().any(|s| s.unresolvable) { Code::UnschedulableAndUnresolvable } else { Code::Unschedulable };
    Err(Rejection { plugin: Plugin::NodeResourcesFit, code, reasons: short.into_iter().map(|s| s.reason).collect() })
}

/// The pod's request of one resource for scoring: with upstream's non-zero cpu and memory
/// defaults unless `use_requested` (BalancedAllocation), which scores actual requests.
pub fn pod_score_request(pod: &PodRow, exact: &Resources, resource: &str, use_requested: bool) -> i64 {
    match resource {
        CPU if !use_requested => pod.nonzero_cpu_memory.0,
        MEMORY if !use_requested => pod.nonzero_cpu_memory.1,
        other => exact.get(other),
    }
}

/// Upstream's `calculateResourceAllocatableRequest` for each configured resource: the node's
/// allocatable and what it would have requested with the pod (`(0, 0)` for a resource left out).
pub fn allocatable_and_requested(pod_requests: &[i64], node: &NodeInfo, resources: &[ResourceWeight], use_requested: bool) -> (Vec<i64>, Vec<i64>) {
    let mut allocatable = vec![0; resources.len()];
    let mut requested = vec![0; resources.len()];
    for (i, r) in resources.iter().enumerate() {
        let pod = pod_requests[i];
        if pod == 0 && is_scalar_resource(&r.name) {
            continue;
        }
        let (alloc, req) = match r.name.as_str() {
            CPU => (node.allocatable.milli_cpu, if use_requested { node.requested.milli_cpu } else { node.nonzero_requested.0 } + pod),
            MEMORY => (node.allocatable.memory, if use_requested { node.requested.memory } else { node.nonzero_requested.1 } + pod),
            EPHEMERAL_STORAGE => (node.allocatable.ephemeral_storage, node.requested.ephemeral_storage + pod),
            other => match node.allocatable.scalar.get(other) {
                Some(a) => (*a, node.requested.scalar.get(other).copied().unwrap_or(0) + pod),
                None => (0, 0),
            },
        };
        if alloc != 0 {
            allocatable[i] = alloc;
            requested[i] = req;
        }
    }
    (allocatable, requested)
}

/// Upstream's `leastRequestedScore`.
pub fn least_requested_score(requested: i64, capacity: i64) -> i64 {
    if capacity == 0 || requested > capacity {
        return 0;
    }
    (capacity - requested) * MAX_NODE_SCORE / capacity
}

/// Upstream's `mostRequestedScore`.
pub fn most_requested_score(requested: i64, capacity: i64) -> i64 {
    if capacity == 0 {
        return 0;
    }
    requested.min(capacity) * MAX_NODE_SCORE / capacity
}

/// The weighted average of per-resource scores over resources the node has.
pub fn weighted_resource_score(strategy: ScoringStrategy, resources: &[ResourceWeight], requested: &[i64], allocatable: &[i64]) -> i64 {
    let (mut total, mut weights) = (0, 0);
    for (i, r) in resources.iter().enumerate() {
        if allocatable[i] == 0 {
            continue;
        }
        let s = match strategy {
            ScoringStrategy::LeastAllocated => least_requested_score(requested[i], allocatable[i]),
            ScoringStrategy::MostAllocated => most_requested_score(requested[i], allocatable[i]),
        };
        total += s * r.weight;
        weights += r.weight;
    }
    if weights == 0 {
        0
    } else {
        total / weights
    }
}

/// NodeResourcesFit's score of the node for the pod (already in `0..=100`; no normalization).
pub fn score(pod: &PodRow, node: &NodeInfo, args: &NodeResourcesFitArgs) -> i64 {
    let exact = Resources::from_list(&pod.requests);
    let pod_requests: Vec<i64> = args.resources.iter().map(|r| pod_score_request(pod, &exact, &r.name, false)).collect();
    let (allocatable, requested) = allocatable_and_requested(&pod_requests, node, &args.resources, false);
    weighted_resource_score(args.strategy, &args.resources, &requested, &allocatable)
}

#[cfg(test)]
mod tests;
