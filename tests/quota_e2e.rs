//! ResourceQuota and LimitRange end to end through real kubectl against `deltakube up`, on the
//! embedded store and on etcd, with the seed's two quotas and LimitRange: `kubectl describe
//! quota` shows the controller's `status.used`; a container without resources gets the
//! LimitRange defaults; creates past a quota are refused with upstream's message; deleting a
//! pod lowers the usage; racing creates never pass a quota; a Deployment past its quota shows
//! ReplicaFailure on its ReplicaSet and itself until the quota lets its pods in.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{json, Value};
use support::{eventually, Backend, Cluster, Kubectl};

const SEED: &str = r#"apiVersion: v1
kind: ResourceQuota
metadata: {name: compute-resources, namespace: quota-demo}
spec:
  hard: {pods: "4", requests.cpu: "1", requests.memory: 1Gi, limits.cpu: "2", limits.memory: 2Gi}
---
apiVersion: v1
kind: ResourceQuota
metadata: {name: object-counts, namespace: quota-demo}
spec:
  hard: {configmaps: "10", persistentvolumeclaims: "4", replicationcontrollers: "20", secrets: "10", services: "10", services.loadbalancers: "2"}
---
apiVersion: v1
kind: LimitRange
metadata: {name: limits, namespace: quota-demo}
spec:
  limits:
  - default: {cpu: 200m, memory: 512Mi}
    defaultRequest: {cpu: 100m, memory: 256Mi}
    type: Container
"#;

/// `kubectl describe quota`'s table: resource → (used, hard).
fn describe(k: &Kubectl, ns: &str, quota: &str) -> BTreeMap<String, (String, String)> {
    let out = k.ok(&["-n", ns, "describe", "quota", quota]);
    out.lines()
        .skip_while(|l| !l.starts_with("--------"))
        .skip(1)
        .filter_map(|l| match l.split_whitespace().collect::<Vec<_>>()[..] {
            [resource, used, hard] => Some((resource.to_string(), (used.to_string(), hard.to_string()))),
            _ => None,
        })
        .collect()
}

fn used(k: &Kubectl, quota: &str) -> BTreeMap<String, String> {
    describe(k, "quota-demo", quota).into_iter().map(|(r, (used, _))| (r, used)).collect()
}

fn expect(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[track_caller]
fn wait_for_usage(k: &Kubectl, quota: &str, want: &[(&str, &str)]) {
    let want = expect(want);
    assert!(eventually(Duration::from_secs(15), || used(k, quota) == want), "{quota}: used {:?}, want {want:?}", used(k, quota));
}

fn pod(name: &str, resources: &str) -> String {
    format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: quota-demo}}\nspec:\n  containers:\n  - name: c\n    image: busybox\n    resources: {resources}\n")
}

fn quotas_and_limits(cluster: &Cluster) {
    let k = cluster.kubectl("1.33");
    k.ok(&["create", "namespace", "quota-demo"]);
    k.ok_stdin(&["apply", "-f", "-"], SEED);

    // The controller writes status: the namespace's token Secret and kube-root-ca.crt count.
    wait_for_usage(&k, "compute-resources", &[("limits.cpu", "0"), ("limits.memory", "0"), ("pods", "0"), ("requests.cpu", "0"), ("requests.memory", "0")]);
    wait_for_usage(
        &k,
        "object-counts",
        &[
            ("configmaps", "1"),
            ("persistentvolumeclaims", "0"),
            ("replicationcontrollers", "0"),
            ("secrets", "1"),
            ("services", "0"),
            ("services.loadbalancers", "0"),
        ],
    );
    let table = describe(&k, "quota-demo", "compute-resources");
    assert_eq!(table["requests.memory"].1, "1Gi");
    assert_eq!(table["limits.cpu"].1, "2");

    // A container without resources gets the LimitRange defaults.
    k.ok(&["-n", "quota-demo", "run", "web-1", "--image=busybox", "--restart=Never"]);
    let got: Value = serde_json::from_str(&k.ok(&["-n", "quota-demo", "get", "pod", "web-1", "-o", "json"])).unwrap();
    assert_eq!(
        got["spec"]["containers"][0]["resources"],
        json!({"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"cpu": "200m", "memory": "512Mi"}})
    );
    assert_eq!(
        got["metadata"]["annotations"]["kubernetes.io/limit-ranger"],
        "LimitRanger plugin set: cpu, memory request for container web-1; cpu, memory limit for container web-1"
    );
    k.ok(&["-n", "quota-demo", "run", "web-2", "--image=busybox", "--restart=Never"]);
    wait_for_usage(
        &k,
        "compute-resources",
        &[("limits.cpu", "400m"), ("limits.memory", "1Gi"), ("pods", "2"), ("requests.cpu", "200m"), ("requests.memory", "512Mi")],
    );

    // Past requests.cpu: refused with upstream's message.
    let big = pod("big", "{requests: {cpu: 900m}, limits: {cpu: \"1\"}}");
    let r = k.run_with_stdin(&["apply", "-f", "-"], Some(&big));
    assert!(!r.ok, "{}", r.stdout);
    assert!(
        r.stderr.contains(
            r#"pods "big" is forbidden: exceeded quota: compute-resources, requested: requests.cpu=900m, used: requests.cpu=200m, limited: requests.cpu=1"#
        ),
        "{}",
        r.stderr
    );

    // Up to four pods, then the fifth is refused on three resources at once.
    k.ok(&["-n", "quota-demo", "run", "web-3", "--image=busybox", "--restart=Never"]);
    k.ok(&["-n", "quota-demo", "run", "web-4", "--image=busybox", "--restart=Never"]);
    let r = k.run(&["-n", "quota-demo", "run", "web-5", "--image=busybox", "--restart=Never"]);
    assert!(!r.ok, "{}", r.stdout);
    assert!(
        r.stderr.contains("exceeded quota: compute-resources, requested: limits.memory=512Mi,pods=1,requests.memory=256Mi, used: limits.memory=2Gi,pods=4,requests.memory=1Gi, limited: limits.memory=2Gi,pods=4,requests.memory=1Gi"),
        "{}",
        r.stderr
    );
    wait_for_usage(
        &k,
        "compute-resources",
        &[("limits.cpu", "800m"), ("limits.memory", "2Gi"), ("pods", "4"), ("requests.cpu", "400m"), ("requests.memory", "1Gi")],
    );

    // Deleting a pod lowers the usage, and makes room again.
    k.ok(&["-n", "quota-demo", "delete", "pod", "web-1", "--wait=false"]);
    wait_for_usage(
        &k,
        "compute-resources",
        &[("limits.cpu", "600m"), ("limits.memory", "1536Mi"), ("pods", "3"), ("requests.cpu", "300m"), ("requests.memory", "768Mi")],
    );
    k.ok(&["-n", "quota-demo", "run", "web-5", "--image=busybox", "--restart=Never"]);

    // A ReplicaSet whose pod the quota refuses says so where a user looks, as upstream's
    // FailedCreate Event ("Error creating: …").
    let rs = json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "over", "namespace": "quota-demo"},
                    "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "over"}},
                             "template": {"metadata": {"labels": {"app": "over"}}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}});
    k.ok_stdin(&["apply", "-f", "-"], &rs.to_string());
    let described = || k.ok(&["-n", "quota-demo", "describe", "rs", "over"]);
    assert!(
        eventually(Duration::from_secs(15), || described().lines().any(|l| l.contains("Warning")
            && l.contains("FailedCreate")
            && l.contains("Error creating: pods \"over-")
            && l.contains("exceeded quota: compute-resources"))),
        "{}",
        described()
    );
    k.ok(&["-n", "quota-demo", "delete", "rs", "over"]);

    // Object counts: two load balancers, then a third is refused.
    k.ok(&["-n", "quota-demo", "create", "service", "loadbalancer", "lb-1", "--tcp=80:80"]);
    k.ok(&["-n", "quota-demo", "create", "service", "loadbalancer", "lb-2", "--tcp=80:80"]);
    let refused = k.fails(&["-n", "quota-demo", "create", "service", "loadbalancer", "lb-3", "--tcp=80:80"]);
    assert!(
        refused.contains(r#"services "lb-3" is forbidden: exceeded quota: object-counts, requested: services.loadbalancers=1, used: services.loadbalancers=2, limited: services.loadbalancers=2"#),
        "{refused}"
    );
    // An update is charged for what it grows: a Service turning into a third load balancer.
    k.ok(&["-n", "quota-demo", "create", "service", "clusterip", "lb-3", "--tcp=80:80"]);
    let refused = k.fails(&["-n", "quota-demo", "patch", "service", "lb-3", "-p", r#"{"spec":{"type":"LoadBalancer"}}"#]);
    assert!(
        refused.contains(r#"services "lb-3" is forbidden: exceeded quota: object-counts, requested: services.loadbalancers=1, used: services.loadbalancers=2, limited: services.loadbalancers=2"#),
        "{refused}"
    );
    assert_eq!(k.ok(&["-n", "quota-demo", "get", "service", "lb-3", "-o", "jsonpath={.spec.type}"]), "ClusterIP");
    k.ok(&["-n", "quota-demo", "delete", "service", "lb-3"]);
    k.ok(&["-n", "quota-demo", "create", "configmap", "settings", "--from-literal=a=b"]);
    wait_for_usage(
        &k,
        "object-counts",
        &[
            ("configmaps", "2"),
            ("persistentvolumeclaims", "0"),
            ("replicationcontrollers", "0"),
            ("secrets", "1"),
            ("services", "2"),
            ("services.loadbalancers", "2"),
        ],
    );

    // The quota-usage view holds each quota's desired status.
    let view: Value = serde_json::from_str(&k.ok(&["get", "--raw", "/views/quota-usage?namespace=quota-demo&name=object-counts"])).unwrap();
    assert_eq!(view["rows"][0]["value"]["used"]["services.loadbalancers"], "2", "{view}");

    // Without a LimitRange, a quota on compute makes every container say what it needs.
    k.ok(&["create", "namespace", "strict"]);
    k.ok_stdin(&["apply", "-f", "-"], &SEED.split("---").next().unwrap().replace("quota-demo", "strict"));
    assert!(eventually(Duration::from_secs(15), || describe(&k, "strict", "compute-resources").get("pods").is_some_and(|(used, _)| used == "0")));
    let bare = k.fails(&["-n", "strict", "run", "bare", "--image=busybox", "--restart=Never"]);
    assert!(
        bare.contains(r#"pods "bare" is forbidden: failed quota: compute-resources: must specify limits.cpu for: bare; limits.memory for: bare; requests.cpu for: bare; requests.memory for: bare"#),
        "{bare}"
    );

    concurrent_creates(&k);
    let log = cluster.log();
    assert!(!log.contains("controller write failed"), "the writer retried writes:\n{log}");
    // Refused creates from here on: the writer retries them, by design.
    replica_failures(&k);
}

/// A Deployment past a quota: its ReplicaSet, and the Deployment, carry ReplicaFailure
/// (FailedCreate, with the refusal as message) until the quota lets the pods in.
fn replica_failures(k: &Kubectl) {
    let ns = "tight";
    k.ok(&["create", "namespace", ns]);
    k.ok(&["-n", ns, "create", "quota", "q", "--hard=pods=1"]);
    assert!(eventually(Duration::from_secs(15), || describe(k, ns, "q").get("pods").is_some_and(|(used, _)| used == "0")));
    k.ok(&["-n", ns, "create", "deployment", "web", "--image=busybox", "--replicas=2"]);
    let failure = |kind: &str| {
        let path =
            r#"jsonpath={.items[0].status.conditions[?(@.type=="ReplicaFailure")].reason}|{.items[0].status.conditions[?(@.type=="ReplicaFailure")].message}"#;
        k.ok(&["-n", ns, "get", kind, "-o", path])
    };
    let marked = eventually(Duration::from_secs(20), || failure("rs").starts_with("FailedCreate|"));
    assert!(marked, "the ReplicaSet shows the refusal: {:?}", failure("rs"));
    let message = failure("rs");
    assert!(message.contains("is forbidden: exceeded quota: q, requested: pods=1, used: pods=1, limited: pods=1"), "{message}");
    assert!(eventually(Duration::from_secs(20), || failure("deploy") == message), "the Deployment copies it: {:?}", failure("deploy"));
    let described = k.ok(&["-n", ns, "describe", "rs"]);
    assert!(described.contains("ReplicaFailure") && described.contains("FailedCreate"), "{described}");

    // Room for the second pod: it is created, and both conditions go.
    k.ok(&["-n", ns, "patch", "quota", "q", "--type=merge", "-p", r#"{"spec":{"hard":{"pods":"2"}}}"#]);
    let cleared = eventually(Duration::from_secs(40), || {
        k.ok(&["-n", ns, "get", "pods", "-o", "name"]).lines().count() == 2 && failure("rs") == "|" && failure("deploy") == "|"
    });
    assert!(cleared, "after the quota grew: rs {:?}, deploy {:?}", failure("rs"), failure("deploy"));
}

/// Creates racing for the last places of a quota: exactly `hard` of them win.
fn concurrent_creates(k: &Kubectl) {
    k.ok(&["create", "namespace", "race"]);
    k.ok(&["-n", "race", "create", "quota", "q", "--hard=pods=5,configmaps=6"]);
    assert!(eventually(Duration::from_secs(15), || describe(k, "race", "q").get("configmaps").is_some_and(|(used, _)| used == "1")));
    std::thread::scope(|s| {
        for i in 0..12 {
            s.spawn(move || k.run(&["-n", "race", "run", &format!("p-{i}"), "--image=busybox", "--restart=Never"]));
            s.spawn(move || k.run(&["-n", "race", "create", "configmap", &format!("c-{i}")]));
        }
    });
    let count = |kind: &str| k.ok(&["-n", "race", "get", kind, "-o", "name"]).lines().count();
    assert_eq!(count("pods"), 5, "pods past the quota");
    assert_eq!(count("configmaps"), 6, "configmaps past the quota (kube-root-ca.crt is one)");
    // Each of those 24 checks took its usage from the ResourceQuota controller's view.
    let metrics = k.ok(&["get", "--raw", "/metrics"]);
    let checks = |source: &str| -> Option<u64> {
        let prefix = format!("deltakube_quota_admission_checks_total{{source=\"{source}\"}} ");
        metrics.lines().find_map(|l| l.strip_prefix(&prefix)).and_then(|n| n.trim().parse().ok())
    };
    assert!(checks("view").is_some_and(|n| n >= 24), "quota checks from the view: {:?}, summed: {:?}", checks("view"), checks("summed"));
}

#[test]
fn quotas_and_limit_ranges_on_the_embedded_store() {
    quotas_and_limits(&Cluster::start(Backend::Embedded));
}

#[test]
fn quotas_and_limit_ranges_on_etcd() {
    quotas_and_limits(&Cluster::start(Backend::Etcd));
}
