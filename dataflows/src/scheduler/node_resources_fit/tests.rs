//! NodeResourcesFit's filter and both scoring strategies against upstream's own test cases.

use serde_json::{json, Value};

use super::*;
use crate::scheduler::config::{default_resource_weights, SchedulerConfig};
use crate::scheduler::test_support::{node_info, pod, requesting_pod, sized_node};

fn args(strategy: ScoringStrategy, resources: Vec<ResourceWeight>) -> NodeResourcesFitArgs {
    NodeResourcesFitArgs { strategy, resources, ..SchedulerConfig::default().fit }
}

fn weights(pairs: &[(&str, i64)]) -> Vec<ResourceWeight> {
    pairs.iter().map(|(n, w)| ResourceWeight { name: n.to_string(), weight: *w }).collect()
}

const EXTENDED: &str = "abc.com/xyz";

/// Scores `pod` on each `(capacity, existing pods)` node.
fn scores(strategy: ScoringStrategy, resources: Vec<ResourceWeight>, pod: &PodRow, nodes: Vec<(Value, Vec<PodRow>)>) -> Vec<i64> {
    let a = args(strategy, resources);
    nodes.into_iter().map(|(cap, pods)| score(pod, &node_info(sized_node("n", cap), pods), &a)).collect()
}

fn cap(cpu: &str, memory: &str) -> Value {
    json!({"cpu": cpu, "memory": memory})
}

/// Upstream's `st.MakePod().Req(cpu 1000, memory 2000).Req(cpu 2000, memory 3000)`.
fn two_container_pod() -> PodRow {
    requesting_pod("", &[json!({"cpu": "1000", "memory": "2000"}), json!({"cpu": "2000", "memory": "3000"})])
}

fn on(node: &str, cpu: &str, memory: &str) -> PodRow {
    requesting_pod(node, &[json!({"cpu": cpu, "memory": memory})])
}

// Upstream: pkg/scheduler/framework/plugins/noderesources/least_allocated_test.go, TestLeastAllocatedScoringStrategy.
#[test]
fn upstream_least_allocated_cases() {
    let least = |resources, pod: &PodRow, nodes| scores(ScoringStrategy::LeastAllocated, resources, pod, nodes);
    let empty = pod(json!({"metadata": {"name": "p"}}));
    // "nothing scheduled, nothing requested"
    assert_eq!(least(default_resource_weights(), &empty, vec![(cap("4000", "10000"), vec![]), (cap("4000", "10000"), vec![])]), [100, 100]);
    // "nothing scheduled, resources requested, differently sized nodes"
    assert_eq!(least(default_resource_weights(), &two_container_pod(), vec![(cap("4000", "10000"), vec![]), (cap("6000", "10000"), vec![])]), [37, 50]);
    // "no resources requested, pods scheduled with resources"
    assert_eq!(
        least(
            default_resource_weights(),
            &empty,
            vec![
                (cap("10000", "20000"), vec![on("n", "3000", "0"), on("n", "3000", "0")]),
                (cap("10000", "20000"), vec![on("n", "3000", "0"), on("n", "3000", "5000")]),
            ]
        ),
        [70, 57]
    );
    // "resources requested, pods scheduled with resources"
    let p = two_container_pod();
    assert_eq!(
        least(
            default_resource_weights(),
            &p,
            vec![(cap("10000", "20000"), vec![on("n", "3000", "0")]), (cap("10000", "20000"), vec![on("n", "3000", "5000")])]
        ),
        [57, 45]
    );
    // "resources requested, pods scheduled with resources, differently sized nodes"
    assert_eq!(
        least(
            default_resource_weights(),
            &p,
            vec![(cap("10000", "20000"), vec![on("n", "3000", "0")]), (cap("10000", "50000"), vec![on("n", "3000", "5000")])]
        ),
        [57, 60]
    );
    // "requested resources exceed node capacity"
    let cpu_only = on("", "3000", "0");
    assert_eq!(
        least(
            default_resource_weights(),
            &cpu_only,
            vec![(cap("4000", "10000"), vec![on("n", "3000", "0")]), (cap("4000", "10000"), vec![on("n", "3000", "5000")])]
        ),
        [50, 25]
    );
    // "zero node resources, pods scheduled with resources"
    assert_eq!(least(default_resource_weights(), &empty, vec![(json!({}), vec![on("n", "3000", "0")]), (json!({}), vec![on("n", "3000", "5000")])]), [0, 0]);
    // "nothing scheduled, resources requested with different weight on CPU and memory, differently sized nodes"
    assert_eq!(least(weights(&[("memory", 2), ("cpu", 1)]), &p, vec![(cap("4000", "10000"), vec![]), (cap("6000", "10000"), vec![])]), [41, 50]);
    // "bypass extended resource if the pod does not request"
    let set = weights(&[("cpu", 1), ("memory", 1), (EXTENDED, 1)]);
    assert_eq!(least(set.clone(), &p, vec![(cap("6000", "10000"), vec![]), (json!({"cpu": "6000", "memory": "10000", EXTENDED: "4"}), vec![])]), [50, 50]);
    // "honor extended resource if the pod requests"
    let gpu_pod = requesting_pod("", &[json!({"cpu": "3000", "memory": "5000", EXTENDED: "2"})]);
    assert_eq!(
        least(
            set,
            &gpu_pod,
            vec![(json!({"cpu": "6000", "memory": "10000", EXTENDED: "4"}), vec![]), (json!({"cpu": "6000", "memory": "10000", EXTENDED: "10"}), vec![])]
        ),
        [50, 60]
    );
    // "if the node doesn't have a resource"
    let p = on("", "3000", "4000");
    assert_eq!(
        least(
            weights(&[(EXTENDED, 2), ("cpu", 1), ("memory", 1)]),
            &p,
            vec![(cap("6000", "10000"), vec![]), (json!({"cpu": "6000", "memory": "10000", EXTENDED: "4"}), vec![])]
        ),
        [55, 55]
    );
}

// Upstream: pkg/scheduler/framework/plugins/noderesources/most_allocated_test.go, TestMostAllocatedScoringStrategy.
#[test]
fn upstream_most_allocated_cases() {
    let most = |resources, pod: &PodRow, nodes| scores(ScoringStrategy::MostAllocated, resources, pod, nodes);
    let empty = pod(json!({"metadata": {"name": "p"}}));
    let p = two_container_pod();
    // "nothing scheduled, nothing requested"
    assert_eq!(most(default_resource_weights(), &empty, vec![(cap("4000", "10000"), vec![]), (cap("4000", "10000"), vec![])]), [0, 0]);
    // "nothing scheduled, resources requested, differently sized nodes"
    assert_eq!(most(default_resource_weights(), &p, vec![(cap("4000", "10000"), vec![]), (cap("6000", "10000"), vec![])]), [62, 50]);
    // "no resources requested, pods scheduled with resources"
    assert_eq!(
        most(
            default_resource_weights(),
            &empty,
            vec![
                (cap("10000", "20000"), vec![on("n", "3000", "0"), on("n", "3000", "0")]),
                (cap("10000", "20000"), vec![on("n", "3000", "0"), on("n", "3000", "5000")]),
            ]
        ),
        [30, 42]
    );
    // "resources requested, pods scheduled with resources"
    assert_eq!(
        most(default_resource_weights(), &p, vec![(cap("10000", "20000"), vec![on("n", "3000", "0")]), (cap("10000", "20000"), vec![on("n", "3000", "5000")])]),
        [42, 55]
    );
    // "resources requested equal node capacity"
    let big = requesting_pod("", &[json!({"cpu": "2000", "memory": "4000"}), json!({"cpu": "3000", "memory": "5000"})]);
    assert_eq!(most(default_resource_weights(), &big, vec![(cap("5000", "10000"), vec![]), (cap("10000", "9000"), vec![])]), [95, 75]);
    // "nothing scheduled, resources requested, differently sized nodes" with memory weight 2
    assert_eq!(most(weights(&[("memory", 2), ("cpu", 1)]), &p, vec![(cap("4000", "10000"), vec![]), (cap("6000", "10000"), vec![])]), [58, 50]);
    // "no resources requested, pods scheduled, nonzero request for resource": containers without
    // requests count 100m and 200Mi each.
    let bare = |node: &str| pod(json!({"metadata": {"name": "p"}, "spec": {"nodeName": node, "containers": [{"name": "container"}]}}));
    assert_eq!(
        most(default_resource_weights(), &bare(""), vec![(cap("250m", "1000Mi"), vec![bare("n"), bare("n")]), (cap("250m", "1000Mi"), vec![])]),
        [80, 30]
    );
    // "honor extended resource if the pod request"
    let gpu_pod = requesting_pod("", &[json!({"cpu": "3000", "memory": "5000", EXTENDED: "2"})]);
    let set = weights(&[("cpu", 1), ("memory", 1), (EXTENDED, 1)]);
    assert_eq!(
        most(
            set,
            &gpu_pod,
            vec![(json!({"cpu": "6000", "memory": "10000", EXTENDED: "4"}), vec![]), (json!({"cpu": "6000", "memory": "10000", EXTENDED: "10"}), vec![])]
        ),
        [50, 40]
    );
    // "if the node doesn't have a resource"
    assert_eq!(
        most(
            weights(&[(EXTENDED, 2), ("cpu", 1), ("memory", 1)]),
            &on("", "3000", "4000"),
            vec![(cap("6000", "10000"), vec![]), (json!({"cpu": "6000", "memory": "10000", EXTENDED: "4"}), vec![])]
        ),
        [45, 45]
    );
}

const EXTENDED_A: &str = "example.com/aaa";

/// Upstream's TestEnoughRequests node: `makeAllocatableResources(10, 20, 32, 5, 20, 5)`.
fn enough_requests_node(existing: Value) -> NodeInfo {
    let alloc = json!({"cpu": "10m", "memory": "20", "pods": "32", EXTENDED_A: "5", "ephemeral-storage": "20", "hugepages-2Mi": "5"});
    node_info(sized_node("n", alloc), vec![requesting_pod("n", &[existing])])
}

fn reasons(pod: &PodRow, node: &NodeInfo) -> Vec<String> {
    filter(pod, node, &SchedulerConfig::default().fit).err().map(|r| r.reasons).unwrap_or_default()
}

fn with_init(containers: &[Value], init: &[Value]) -> PodRow {
    let wrap = |rs: &[Value]| rs.iter().map(|r| json!({"resources": {"requests": r}})).collect::<Vec<Value>>();
    pod(json!({"metadata": {"name": "p"}, "spec": {"containers": wrap(containers), "initContainers": wrap(init)}}))
}

// Upstream: pkg/scheduler/framework/plugins/noderesources/fit_test.go, TestEnoughRequests.
#[test]
fn upstream_enough_requests_cases() {
    let r = |cpu: i64, mem: i64| json!({"cpu": format!("{cpu}m"), "memory": mem.to_string()});
    // "no resources requested always fits"
    assert!(reasons(&pod(json!({"metadata": {"name": "p"}})), &enough_requests_node(r(10, 20))).is_empty());
    // "too many resources fails"
    let node = enough_requests_node(r(10, 20));
    let p = requesting_pod("", &[r(1, 1)]);
    assert_eq!(reasons(&p, &node), ["Insufficient cpu", "Insufficient memory"]);
    let short = insufficient_resources(&Resources::from_list(&p.requests), &node, &SchedulerConfig::default().fit);
    assert_eq!((short[0].requested, short[0].used, short[0].capacity), (1, 10, 10));
    assert_eq!(filter(&p, &node, &SchedulerConfig::default().fit).unwrap_err().code, Code::Unschedulable);
    // "too many resources fails due to init container cpu"
    assert_eq!(reasons(&with_init(&[r(1, 1)], &[r(3, 1)]), &enough_requests_node(r(8, 19))), ["Insufficient cpu"]);
    // "too many resources fails due to highest init container cpu"
    assert_eq!(reasons(&with_init(&[r(1, 1)], &[r(3, 1), r(2, 1)]), &enough_requests_node(r(8, 19))), ["Insufficient cpu"]);
    // "too many resources fails due to init container memory"
    assert_eq!(reasons(&with_init(&[r(1, 1)], &[r(1, 3)]), &enough_requests_node(r(9, 19))), ["Insufficient memory"]);
    // "init container fits because it's the max, not sum, of containers and init containers"
    assert!(reasons(&with_init(&[r(1, 1)], &[r(1, 1)]), &enough_requests_node(r(9, 19))).is_empty());
    // "both resources fit"
    assert!(reasons(&requesting_pod("", &[r(1, 1)]), &enough_requests_node(r(5, 5))).is_empty());
    // "one resource memory fits"
    assert_eq!(reasons(&requesting_pod("", &[r(2, 1)]), &enough_requests_node(r(9, 5))), ["Insufficient cpu"]);
    // "one resource cpu fits"
    assert_eq!(reasons(&requesting_pod("", &[r(1, 2)]), &enough_requests_node(r(5, 19))), ["Insufficient memory"]);
    // "equal edge case"
    assert!(reasons(&requesting_pod("", &[r(5, 1)]), &enough_requests_node(r(5, 19))).is_empty());
    // "equal edge case for init container"
    assert!(reasons(&with_init(&[r(4, 1)], &[r(5, 1)]), &enough_requests_node(r(5, 19))).is_empty());
    // "extended resource fits"
    assert!(reasons(&requesting_pod("", &[json!({EXTENDED_A: "1"})]), &enough_requests_node(json!({}))).is_empty());
    // "extended resource capacity enforced": asking more than the node has is unresolvable.
    let p = requesting_pod("", &[json!({"cpu": "1m", "memory": "1", EXTENDED_A: "10"})]);
    let rejection = filter(&p, &enough_requests_node(json!({EXTENDED_A: "0"})), &SchedulerConfig::default().fit).unwrap_err();
    assert_eq!((rejection.code, rejection.reasons), (Code::UnschedulableAndUnresolvable, vec![format!("Insufficient {EXTENDED_A}")]));
    // "extended resource allocatable enforced"
    assert_eq!(
        reasons(&requesting_pod("", &[json!({"cpu": "1m", "memory": "1", EXTENDED_A: "1"})]), &enough_requests_node(json!({EXTENDED_A: "5"}))),
        [format!("Insufficient {EXTENDED_A}")]
    );
    // "extended resource allocatable enforced for multiple containers"
    let two = requesting_pod("", &[json!({"cpu": "1m", "memory": "1", EXTENDED_A: "3"}), json!({"cpu": "1m", "memory": "1", EXTENDED_A: "3"})]);
    assert_eq!(reasons(&two, &enough_requests_node(json!({EXTENDED_A: "2"}))), [format!("Insufficient {EXTENDED_A}")]);
    // "extended resource allocatable admits multiple init containers"
    let inits = with_init(&[], &[json!({"cpu": "1m", "memory": "1", EXTENDED_A: "3"}), json!({"cpu": "1m", "memory": "1", EXTENDED_A: "3"})]);
    assert!(reasons(&inits, &enough_requests_node(json!({EXTENDED_A: "2"}))).is_empty());
}

#[test]
fn too_many_pods_and_ignored_groups() {
    let full = node_info(sized_node("n", json!({"cpu": "1", "memory": "1Gi", "pods": "1"})), vec![requesting_pod("n", &[json!({})])]);
    assert_eq!(reasons(&pod(json!({"metadata": {"name": "p"}})), &full), ["Too many pods"]);
    let mut a = SchedulerConfig::default().fit;
    a.ignored_resource_groups = vec!["example.com".into()];
    let p = requesting_pod("", &[json!({EXTENDED_A: "100"})]);
    assert!(filter(&p, &enough_requests_node(json!({})), &a).is_ok());
}
