//! InterPodAffinity against upstream's filtering_test.go and scoring_test.go cases.

use serde_json::{json, Value};

use super::*;
use crate::scheduler::config::SchedulerConfig;
use crate::scheduler::rows::{NamespaceLabelsRow, NodeRow};
use crate::scheduler::rows_pod::PodRow;
use crate::scheduler::test_support::{labelled_node, pod};

/// A required (anti-)affinity term: `matchExpressions: [{key, op, values}]` and a topology key.
fn term(key: &str, op: &str, values: &[&str], topology: &str) -> Value {
    let expr = if values.is_empty() { json!({"key": key, "operator": op}) } else { json!({"key": key, "operator": op, "values": values}) };
    json!({"labelSelector": {"matchExpressions": [expr]}, "topologyKey": topology})
}

/// A pod in the default ("") namespace, as upstream's `st.MakePod()`.
fn affinity_pod(node: &str, labels: Value, affinity: Vec<Value>, anti: Vec<Value>) -> PodRow {
    pod(json!({"metadata": {"name": "p", "labels": labels}, "spec": {"nodeName": node, "affinity": {
        "podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": affinity},
        "podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": anti},
    }}}))
}

/// The filter verdict on `node1` ({region: r1, zone: z11}) with the existing pods: `None` when
/// it passes (or PreFilter skips), else the code and reason.
fn verdict(incoming: &PodRow, existing: Vec<PodRow>) -> Option<(Code, String)> {
    let node1 = labelled_node("node1", json!({"region": "r1", "zone": "z11"}));
    let snapshot = ClusterSnapshot::new(vec![node1.clone()], existing, vec![], vec![]);
    let state = AffinityFilterState::compute(incoming, &snapshot)?;
    state.filter(incoming, &node1).err().map(|r| (r.code, r.reasons[0].clone()))
}

fn security() -> Value {
    json!({"security": "S1"})
}

fn service() -> Value {
    json!({"service": "securityscan"})
}

// Upstream: pkg/scheduler/framework/plugins/interpodaffinity/filtering_test.go, TestRequiredAffinitySingleNode.
#[test]
fn upstream_required_affinity_single_node_cases() {
    let existing = || vec![affinity_pod("node1", service(), vec![], vec![])];
    let affinity = |code| Some((code, ERR_REASON_AFFINITY.to_string()));
    let anti = Some((Code::Unschedulable, ERR_REASON_ANTI_AFFINITY.to_string()));
    let symmetry = Some((Code::Unschedulable, ERR_REASON_EXISTING_ANTI_AFFINITY.to_string()));

    // "A pod that has no required pod affinity scheduling rules can schedule onto a node with no existing pods"
    assert_eq!(verdict(&pod(json!({"metadata": {"name": "p"}})), vec![]), None);
    // "satisfies with requiredDuringSchedulingIgnoredDuringExecution in PodAffinity using In operator that matches the existing pod"
    let p = affinity_pod("", security(), vec![term("service", "In", &["securityscan", "value2"], "region")], vec![]);
    assert_eq!(verdict(&p, existing()), None);
    // "satisfies the pod with requiredDuringSchedulingIgnoredDuringExecution in PodAffinity using not in operator in labelSelector that matches the existing pod"
    let p = affinity_pod("", security(), vec![term("service", "NotIn", &["securityscan3", "value3"], "region")], vec![]);
    assert_eq!(verdict(&p, existing()), None);
    // "Does not satisfy the PodAffinity with labelSelector because of diff Namespace"
    let diff_ns = json!({"labelSelector": {"matchExpressions": [{"key": "service", "operator": "In", "values": ["securityscan", "value2"]}]}, "namespaces": ["DiffNameSpace"]});
    let other = pod(json!({"metadata": {"name": "e", "namespace": "ns", "labels": service()}, "spec": {"nodeName": "node1"}}));
    assert_eq!(verdict(&affinity_pod("", security(), vec![diff_ns], vec![]), vec![other]), affinity(Code::UnschedulableAndUnresolvable));
    // "Doesn't satisfy the PodAffinity because of unmatching labelSelector with the existing pod"
    let p = affinity_pod("", service(), vec![term("service", "In", &["antivirusscan", "value2"], "")], vec![]);
    assert_eq!(verdict(&p, existing()), affinity(Code::UnschedulableAndUnresolvable));
    // "satisfies the PodAffinity with different label Operators in multiple RequiredDuringSchedulingIgnoredDuringExecution "
    let multi = |value: &str| {
        let t1 = json!({"labelSelector": {"matchExpressions": [{"key": "service", "operator": "Exists"}, {"key": "wrongkey", "operator": "DoesNotExist"}]}, "topologyKey": "region"});
        let t2 = json!({"labelSelector": {"matchExpressions": [{"key": "service", "operator": "In", "values": [value]}, {"key": "service", "operator": "NotIn", "values": ["WrongValue"]}]}, "topologyKey": "region"});
        affinity_pod("", security(), vec![t1, t2], vec![])
    };
    assert_eq!(verdict(&multi("securityscan"), existing()), None);
    // "The labelSelector requirements(items of matchExpressions) are ANDed, the pod cannot schedule onto the node because one of the matchExpression item don't match."
    assert_eq!(verdict(&multi("securityscan2"), existing()), affinity(Code::UnschedulableAndUnresolvable));
    // "satisfies the PodAffinity and PodAntiAffinity with the existing pod"
    let with_anti = |labels: Value, anti_topology: &str, anti_values: &[&str]| {
        affinity_pod("", labels, vec![term("service", "In", &["securityscan", "value2"], "region")], vec![term("service", "In", anti_values, anti_topology)])
    };
    assert_eq!(verdict(&with_anti(security(), "node", &["antivirusscan", "value2"]), existing()), None);
    // "satisfies the PodAffinity and PodAntiAffinity and PodAntiAffinity symmetry with the existing pod"
    let e = affinity_pod("node1", service(), vec![], vec![term("service", "In", &["antivirusscan", "value2"], "node")]);
    assert_eq!(verdict(&with_anti(security(), "node", &["antivirusscan", "value2"]), vec![e]), None);
    // "satisfies the PodAffinity but doesn't satisfy the PodAntiAffinity with the existing pod"
    assert_eq!(verdict(&with_anti(security(), "zone", &["securityscan", "value2"]), existing()), anti);
    // "satisfies the PodAffinity and PodAntiAffinity but doesn't satisfy PodAntiAffinity symmetry with the existing pod"
    let e = affinity_pod("node1", service(), vec![], vec![term("service", "In", &["securityscan", "value2"], "zone")]);
    assert_eq!(verdict(&with_anti(service(), "node", &["antivirusscan", "value2"]), vec![e]), symmetry);
    // "pod matches its own Label in PodAffinity and that matches the existing pod Labels" (the pod sits on node2, not in the snapshot)
    let p = affinity_pod("", service(), vec![term("service", "NotIn", &["securityscan", "value2"], "region")], vec![]);
    assert_eq!(verdict(&p, vec![affinity_pod("node2", service(), vec![], vec![])]), affinity(Code::UnschedulableAndUnresolvable));
    // "verify that PodAntiAffinity from existing pod is respected when pod has no AntiAffinity constraints. doesn't satisfy PodAntiAffinity symmetry with the existing pod"
    let plain = pod(json!({"metadata": {"name": "p", "labels": service()}}));
    let e = affinity_pod("node1", service(), vec![], vec![term("service", "In", &["securityscan", "value2"], "zone")]);
    assert_eq!(verdict(&plain, vec![e]), symmetry);
    // "verify that PodAntiAffinity from existing pod is respected when pod has no AntiAffinity constraints. satisfy PodAntiAffinity symmetry with the existing pod"
    let e = affinity_pod("node1", service(), vec![], vec![term("service", "NotIn", &["securityscan", "value2"], "zone")]);
    assert_eq!(verdict(&plain, vec![e]), None);
    // "satisfies the PodAntiAffinity with existing pod but doesn't satisfy PodAntiAffinity symmetry with incoming pod"
    let p = affinity_pod("", service(), vec![], vec![term("service", "Exists", &[], "region"), term("security", "Exists", &[], "region")]);
    let e = affinity_pod("node1", security(), vec![], vec![term("security", "Exists", &[], "zone")]);
    assert_eq!(verdict(&p, vec![e]), anti);
    // "PodAntiAffinity symmetry check a1: incoming pod and existing pod partially match each other on AffinityTerms"
    let p = affinity_pod("", service(), vec![], vec![term("service", "Exists", &[], "zone"), term("security", "Exists", &[], "zone")]);
    let e = affinity_pod("node1", security(), vec![], vec![term("security", "Exists", &[], "zone")]);
    assert_eq!(verdict(&p, vec![e]), anti);
    // "PodAntiAffinity symmetry check a2: incoming pod and existing pod partially match each other on AffinityTerms"
    let p = affinity_pod("", security(), vec![], vec![term("security", "Exists", &[], "zone")]);
    let e = affinity_pod("node1", service(), vec![], vec![term("service", "Exists", &[], "zone"), term("security", "Exists", &[], "zone")]);
    assert_eq!(verdict(&p, vec![e]), symmetry);
    // "PodAntiAffinity symmetry check b1" and "b2"
    let both = || vec![term("abc", "Exists", &[], "zone"), term("def", "Exists", &[], "zone")];
    let p = affinity_pod("", json!({"abc": "", "xyz": ""}), vec![], both());
    let e = affinity_pod("node1", json!({"def": "", "xyz": ""}), vec![], both());
    assert_eq!(verdict(&p, vec![e]), anti);
    let p = affinity_pod("", json!({"def": "", "xyz": ""}), vec![], both());
    let e = affinity_pod("node1", json!({"abc": "", "xyz": ""}), vec![], both());
    assert_eq!(verdict(&p, vec![e]), anti);
}

// Upstream: filtering_test.go, TestRequiredAffinitySingleNode, "PodAffinity fails PreFilter with an
// invalid affinity label syntax": the parse error is kept for the pod to be reported unschedulable.
#[test]
fn invalid_affinity_label_syntax_is_a_constraint_error() {
    let p = affinity_pod(
        "",
        service(),
        vec![term("service", "In", &["{{.bad-value.}}"], "region"), term("service", "In", &["antivirusscan", "value2"], "node")],
        vec![],
    );
    assert!(p.required_affinity.is_empty());
    assert!(p.constraint_errors[0].starts_with("requiredAffinityTerms: values[0][service]: Invalid value: \"{{.bad-value.}}\""));
}

fn preferred(weight: i64, key: &str, op: &str, values: &[&str], topology: &str) -> Value {
    json!({"weight": weight, "podAffinityTerm": term(key, op, values, topology)})
}

fn scored_pod(node: &str, namespace: &str, labels: Value, affinity: Value) -> PodRow {
    pod(json!({"metadata": {"name": "p", "namespace": namespace, "labels": labels}, "spec": {"nodeName": node, "affinity": affinity}}))
}

fn score_all(incoming: &PodRow, existing: Vec<PodRow>, nodes: Vec<NodeRow>, namespaces: Vec<NamespaceLabelsRow>) -> Option<Vec<i64>> {
    let snapshot = ClusterSnapshot::new(nodes.clone(), existing, namespaces, vec![]);
    let state = AffinityScoreState::compute(incoming, &snapshot, &SchedulerConfig::default().inter_pod_affinity)?;
    let mut scores: Vec<i64> = nodes.iter().map(|n| state.score(n)).collect();
    normalize(&mut scores);
    Some(scores)
}

// Upstream: pkg/scheduler/framework/plugins/interpodaffinity/scoring_test.go, TestPreferredAffinity.
#[test]
fn upstream_preferred_affinity_cases() {
    let china = json!({"region": "China"});
    let india = json!({"region": "India"});
    let az1 = json!({"az": "az1"});
    let az2 = json!({"az": "az2"});
    let s1 = json!({"security": "S1"});
    let s2 = json!({"security": "S2"});
    let stay_with_s1_in_region =
        json!({"podAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [preferred(5, "security", "In", &["S1"], "region")]}});
    let stay_with_s2_in_region =
        json!({"podAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [preferred(6, "security", "In", &["S2"], "region")]}});
    let away_from_s1_in_az = json!({"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [preferred(5, "security", "In", &["S1"], "az")]}});
    let away_from_s2_in_az = json!({"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [preferred(5, "security", "In", &["S2"], "az")]}});
    let stay_s1_away_s2 = json!({
        "podAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [preferred(8, "security", "In", &["S1"], "region")]},
        "podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [preferred(5, "security", "In", &["S2"], "az")]},
    });
    let n = |name: &str, labels: &Value| labelled_node(name, labels.clone());
    let on = |node: &str, labels: &Value| scored_pod(node, "", labels.clone(), json!(null));

    // "all nodes are same priority as Affinity is nil"
    assert_eq!(score_all(&on("", &s1), vec![], vec![n("node1", &china), n("node2", &india), n("node3", &az1)], vec![]), None);
    // "Affinity: pod that matches topology key & pods in nodes will get high score comparing to others which doesn't match either pods in nodes or in topology key"
    let p = scored_pod("", "", s1.clone(), stay_with_s1_in_region.clone());
    let got = score_all(&p, vec![on("node1", &s1), on("node2", &s2), on("node3", &s1)], vec![n("node1", &china), n("node2", &india), n("node3", &az1)], vec![]);
    assert_eq!(got, Some(vec![100, 0, 0]));
    // "All the nodes that have the same topology key & label value with one of them has an existing pod that match the affinity rules, have the same score"
    let china_az1 = json!({"region": "China", "az": "az1"});
    let p = scored_pod("", "", json!({}), stay_with_s1_in_region.clone());
    assert_eq!(score_all(&p, vec![on("node1", &s1)], vec![n("node1", &china), n("node2", &china_az1), n("node3", &india)], vec![]), Some(vec![100, 100, 0]));
    // "Affinity: nodes in one region has more matching pods comparing to other region, so the region which has more matches will get high score"
    let p = scored_pod("", "", s1.clone(), stay_with_s2_in_region.clone());
    let existing = ["node1", "node1", "node2", "node3", "node4", "node5"].iter().map(|node| on(node, &s2)).collect();
    let nodes = vec![n("node1", &china), n("node2", &india), n("node3", &china), n("node4", &china), n("node5", &india)];
    assert_eq!(score_all(&p, existing, nodes, vec![]), Some(vec![100, 0, 100, 100, 0]));
    // "Affinity: different Label operators and values for pod affinity scheduling preference, including some match failures "
    let affinity3 = json!({"podAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 8, "podAffinityTerm": {"labelSelector": {"matchExpressions": [{"key": "security", "operator": "NotIn", "values": ["S1"]}, {"key": "security", "operator": "In", "values": ["S2"]}]}, "topologyKey": "region"}},
        {"weight": 2, "podAffinityTerm": {"labelSelector": {"matchExpressions": [{"key": "security", "operator": "Exists"}, {"key": "wrongkey", "operator": "DoesNotExist"}]}, "topologyKey": "region"}},
    ]}});
    let p = scored_pod("", "", s1.clone(), affinity3);
    let got = score_all(&p, vec![on("node1", &s1), on("node2", &s2), on("node3", &s1)], vec![n("node1", &china), n("node2", &india), n("node3", &az1)], vec![]);
    assert_eq!(got, Some(vec![20, 100, 0]));
    // "Affinity symmetry: considered only the preferredDuringSchedulingIgnoredDuringExecution in pod affinity symmetry"
    let existing =
        vec![scored_pod("node1", "", s1.clone(), stay_with_s1_in_region.clone()), scored_pod("node2", "", s2.clone(), stay_with_s2_in_region.clone())];
    assert_eq!(score_all(&on("", &s2), existing, vec![n("node1", &china), n("node2", &india), n("node3", &az1)], vec![]), Some(vec![0, 100, 0]));
    // "Affinity symmetry: considered RequiredDuringSchedulingIgnoredDuringExecution in pod affinity symmetry"
    let hard = json!({"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        term("security", "In", &["S1", "value2"], "region"),
        {"labelSelector": {"matchExpressions": [{"key": "security", "operator": "Exists"}, {"key": "wrongkey", "operator": "DoesNotExist"}]}, "topologyKey": "region"},
    ]}});
    let existing = vec![scored_pod("node1", "", s1.clone(), hard.clone()), scored_pod("node2", "", s2.clone(), hard)];
    assert_eq!(score_all(&on("", &s1), existing, vec![n("node1", &china), n("node2", &india), n("node3", &az1)], vec![]), Some(vec![100, 100, 0]));
    // "Anti Affinity: pod that does not match existing pods in node will get high score "
    let p = scored_pod("", "", s1.clone(), away_from_s1_in_az.clone());
    assert_eq!(score_all(&p, vec![on("node1", &s1), on("node2", &s2)], vec![n("node1", &az1), n("node2", &china)], vec![]), Some(vec![0, 100]));
    // "Anti Affinity: one node has more matching pods comparing to other node, so the node which has more unmatches will get high score"
    let got = score_all(&p, vec![on("node1", &s1), on("node1", &s1), on("node2", &s2)], vec![n("node1", &az1), n("node2", &india)], vec![]);
    assert_eq!(got, Some(vec![0, 100]));
    // "Anti Affinity symmetry: the existing pods in node which has anti affinity match will get high score"
    let existing = vec![scored_pod("node1", "", s1.clone(), away_from_s2_in_az), scored_pod("node2", "", s2.clone(), away_from_s1_in_az.clone())];
    assert_eq!(score_all(&on("", &s2), existing, vec![n("node1", &az1), n("node2", &az2)], vec![]), Some(vec![0, 100]));
    // "Affinity and Anti Affinity and symmetry: considered only preferredDuringSchedulingIgnoredDuringExecution in both pod affinity & anti affinity & symmetry"
    let p = scored_pod("", "", s1.clone(), stay_s1_away_s2.clone());
    let existing = vec![
        on("node1", &s1),
        on("node2", &s2),
        scored_pod("node3", "", json!({}), stay_s1_away_s2.clone()),
        scored_pod("node4", "", json!({}), away_from_s1_in_az),
    ];
    let got = score_all(&p, existing, vec![n("node1", &china), n("node2", &az1), n("node3", &india), n("node4", &az2)], vec![]);
    assert_eq!(got, Some(vec![100, 0, 100, 0]));
    // "Avoid panic when partial nodes in a topology don't have pods with affinity"
    let existing = vec![on("node1", &s1), scored_pod("node2", "", json!({}), stay_s1_away_s2)];
    assert_eq!(score_all(&on("", &s1), existing, vec![n("node1", &china), n("node2", &china)], vec![]), Some(vec![0, 0]));
}

// Upstream: scoring_test.go, TestPreferredAffinity, "Affinity symmetry with namespace selector" and
// "AntiAffinity symmetry with namespace selector".
#[test]
fn upstream_namespace_selector_symmetry_cases() {
    let ns = |name: &str, team: &str| NamespaceLabelsRow { name: name.into(), labels: vec![("team".into(), team.into())] };
    let namespaces = || vec![ns("subteam1.team1", "team1"), ns("subteam2.team1", "team1"), ns("subteam1.team2", "team2"), ns("subteam2.team2", "team2")];
    let with_selector = |kind: &str| {
        let t = json!({"labelSelector": {"matchExpressions": [{"key": "security", "operator": "In", "values": ["S1"]}]}, "topologyKey": "region",
            "namespaces": ["subteam2.team2"], "namespaceSelector": {"matchExpressions": [{"key": "team", "operator": "In", "values": ["team1"]}]}});
        json!({kind: {"preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 5, "podAffinityTerm": t}]}})
    };
    let stay_with_s2 = json!({"podAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [preferred(6, "security", "In", &["S2"], "region")]}});
    let nodes = || {
        vec![
            labelled_node("node1", json!({"region": "China"})),
            labelled_node("node2", json!({"region": "India"})),
            labelled_node("node3", json!({"az": "az1"})),
        ]
    };
    let incoming = scored_pod("", "subteam1.team1", json!({"security": "S1"}), json!(null));
    let existing = |kind: &str| {
        vec![scored_pod("node1", "", json!({"security": "S1"}), with_selector(kind)), scored_pod("node2", "", json!({"security": "S2"}), stay_with_s2.clone())]
    };
    assert_eq!(score_all(&incoming, existing("podAffinity"), nodes(), namespaces()), Some(vec![100, 0, 0]));
    assert_eq!(score_all(&incoming, existing("podAntiAffinity"), nodes(), namespaces()), Some(vec![0, 100, 100]));
}
