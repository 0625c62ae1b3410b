//! The controllers as their own processes, `deltakube controllers --kubeconfig`, against
//! `deltakube apiserver`: they list and watch over HTTPS and write back through the API.
//! - They do the work of `up`'s in-process controllers (tokens, Deployments, namespace
//!   deletion), and a `kill -9` at any moment followed by a restart converges with no
//!   duplicate write.
//! - Two processes share one dataflow over timely's cluster communication on loopback.
//! - A lagging feed never makes the writer create or delete a replica twice.
//! - A pod delete the API server refuses is a `FailedDelete` on its ReplicaSet, as upstream's.
//!
//! "No duplicate write" is measured by the controllers' own
//! `deltakube_controller_redundant_writes_total`: a create that met AlreadyExists, or a
//! delete or patch that met NotFound.

mod support;

use std::time::Duration;

use support::{eventually, Backend, Cluster, Controllers, Kubectl};

const REDUNDANT: &str = "deltakube_controller_redundant_writes_total";
const UPDATES: &str = "deltakube_controller_updates_total";

fn count(k: &Kubectl, ns: &str, resource: &str) -> usize {
    k.ok(&["-n", ns, "get", resource, "-o", "name"]).lines().filter(|l| !l.trim().is_empty()).count()
}

fn has_namespace_basics(k: &Kubectl, ns: &str) -> bool {
    let secrets = k.ok(&["-n", ns, "get", "secrets", "-o", "name"]);
    k.run(&["-n", ns, "get", "serviceaccount", "default"]).ok
        && k.run(&["-n", ns, "get", "configmap", "kube-root-ca.crt"]).ok
        && secrets.contains("secret/default-token-")
}

#[test]
fn remote_controllers_do_the_work_and_restart_without_duplicates() {
    let cluster = Cluster::start_apiserver(Backend::Embedded);
    let k = cluster.kubectl("1.33");
    let mut controllers = Controllers::start(&cluster, "controllers", &["--workers", "2"]);

    k.ok(&["create", "namespace", "remote"]);
    assert!(eventually(Duration::from_secs(20), || has_namespace_basics(&k, "remote")), "log:\n{}", controllers.log());

    // Kill the controllers in the middle of creating 40 replicas, then start them again.
    k.ok(&["-n", "remote", "create", "deployment", "web", "--image=busybox", "--replicas=40"]);
    assert!(eventually(Duration::from_secs(20), || count(&k, "remote", "pods") >= 5), "log:\n{}", controllers.log());
    controllers.kill();
    let before = count(&k, "remote", "pods");
    // The killed process's views are unreachable, and the API server says so.
    let gone = k.run(&["get", "--raw", "/views"]);
    assert!(!gone.ok && gone.stderr.contains("controllers-0") && gone.stderr.contains("did not answer"), "{}", gone.stderr);
    controllers.launch();
    assert!(eventually(Duration::from_secs(30), || count(&k, "remote", "pods") == 40), "pods: {}; log:\n{}", count(&k, "remote", "pods"), controllers.log());
    // The views, through the API server: the Deployment's ReplicaSet has all its replicas.
    let diff = || -> serde_json::Value {
        let out = k.ok(&["get", "--raw", "/views/replica-diffs?namespace=remote"]);
        serde_json::from_str(&out).unwrap_or_default()
    };
    assert!(eventually(Duration::from_secs(10), || diff()["rows"][0]["value"]["actual"] == 40), "{}", diff());
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(count(&k, "remote", "pods"), 40, "the restarted controllers overshot (killed at {before} pods)");
    assert_eq!(count(&k, "remote", "replicasets"), 1);
    assert_eq!(controllers.counter(REDUNDANT), 0.0, "the restarted controllers repeated a write; log:\n{}", controllers.log());

    // Deleting the namespace removes its content and then the namespace, through the API.
    k.ok(&["delete", "namespace", "remote", "--wait=false"]);
    assert!(eventually(Duration::from_secs(30), || !k.run(&["get", "namespace", "remote"]).ok), "log:\n{}", controllers.log());
}

#[test]
fn two_controller_processes_share_one_dataflow_over_loopback() {
    let cluster = Cluster::start_apiserver(Backend::Embedded);
    let k = cluster.kubectl("1.33");
    let hosts = cluster.dir.path().join("hosts");
    std::fs::write(&hosts, format!("127.0.0.1:{}\n127.0.0.1:{}\n", support::free_port(), support::free_port())).unwrap();
    let hosts = hosts.display().to_string();
    let first = Controllers::start(&cluster, "process-0", &["--workers", "1", "--process", "0", "--hosts", &hosts]);
    let second = Controllers::start(&cluster, "process-1", &["--workers", "1", "--process", "1", "--hosts", &hosts]);

    let namespaces: Vec<String> = (0..6).map(|i| format!("shared-{i}")).collect();
    for ns in &namespaces {
        k.ok(&["create", "namespace", ns]);
    }
    k.ok(&["-n", "shared-0", "create", "deployment", "web", "--image=busybox", "--replicas=12"]);
    let logs = || format!("process 0:\n{}\nprocess 1:\n{}", first.log(), second.log());
    assert!(eventually(Duration::from_secs(30), || namespaces.iter().all(|ns| has_namespace_basics(&k, ns))), "{}", logs());
    assert!(eventually(Duration::from_secs(30), || count(&k, "shared-0", "pods") == 12), "{}", logs());
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(count(&k, "shared-0", "pods"), 12);
    // Keys are partitioned over the two processes' workers: both wrote, neither repeated.
    assert!(first.counter(UPDATES) > 0.0 && second.counter(UPDATES) > 0.0, "updates: {} and {}", first.counter(UPDATES), second.counter(UPDATES));
    assert_eq!(first.counter(REDUNDANT) + second.counter(REDUNDANT), 0.0, "{}", logs());

    // Both processes registered their views; the API server merges what each holds.
    let registered = k.ok(&["-n", "kube-system", "get", "endpoints", "deltakube-views", "-o", "jsonpath={.subsets[*].addresses[*].hostname}"]);
    assert_eq!(registered, "controllers-0 controllers-1");
    let listing: serde_json::Value = serde_json::from_str(&k.ok(&["get", "--raw", "/views"])).unwrap();
    let diffs = listing["views"].as_array().unwrap().iter().find(|v| v["name"] == "replica-diffs").cloned().unwrap_or_default();
    assert!(diffs["rows"].as_u64().unwrap_or(0) >= 1, "{listing}");
    let snapshot = || -> serde_json::Value { serde_json::from_str(&k.ok(&["get", "--raw", "/views/replica-diffs?namespace=shared-0"])).unwrap() };
    assert!(eventually(Duration::from_secs(10), || snapshot()["rows"][0]["value"]["actual"] == 12), "{}", snapshot());
    assert_eq!(snapshot()["rows"].as_array().unwrap().len(), 1, "{}", snapshot());

    // A stream of deltas through the API server interleaves both processes' lines whole.
    let stream = std::thread::spawn({
        let (ca, cert, key) = cluster.admin_pems();
        let url = format!("https://127.0.0.1:{}/views/replica-diffs?watch=true", cluster.port);
        move || {
            let out = std::process::Command::new("curl")
                .args(["-sS", "-N", "--max-time", "6", "--cacert"])
                .arg(ca)
                .arg("--cert")
                .arg(cert)
                .arg("--key")
                .arg(key)
                .arg(url)
                .output()
                .expect("curl is installed");
            String::from_utf8_lossy(&out.stdout).to_string()
        }
    });
    std::thread::sleep(Duration::from_secs(1));
    k.ok(&["-n", "shared-0", "scale", "deployment", "web", "--replicas=14"]);
    let streamed = stream.join().unwrap();
    let deltas: Vec<serde_json::Value> = streamed.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}"))).collect();
    assert!(deltas.iter().any(|d| d["value"]["desired"] == 14 && d["diff"] == 1), "{streamed}");
}

#[test]
fn a_lagging_feed_never_writes_a_replica_twice() {
    let cluster = Cluster::start_apiserver(Backend::Embedded);
    let k = cluster.kubectl("1.33");
    let controllers = Controllers::start(&cluster, "lagging", &["--workers", "2", "--debug-feed-delay", "400ms"]);
    k.ok(&["create", "namespace", "lag"]);
    k.ok(&["-n", "lag", "create", "deployment", "web", "--image=busybox", "--replicas=10"]);
    let mut most = 0;
    for replicas in ["25", "5", "15"] {
        std::thread::sleep(Duration::from_millis(300));
        most = most.max(count(&k, "lag", "pods"));
        k.ok(&["-n", "lag", "scale", "deployment", "web", &format!("--replicas={replicas}")]);
    }
    let settled = eventually(Duration::from_secs(30), || {
        let n = count(&k, "lag", "pods");
        most = most.max(n);
        n == 15
    });
    assert!(settled, "pods: {}; log:\n{}", count(&k, "lag", "pods"), controllers.log());
    assert!(most <= 25, "at some point {most} pods existed, more than any desired count");
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(count(&k, "lag", "pods"), 15);
    assert_eq!(controllers.counter(REDUNDANT), 0.0, "a write was repeated while the feed lagged; log:\n{}", controllers.log());
}

/// May read and write everything, and delete nothing.
const NO_DELETES: &str = r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: no-deletes}
rules:
- apiGroups: ["*"]
  resources: ["*"]
  verbs: [get, list, watch, create, update, patch]
- nonResourceURLs: ["*"]
  verbs: [get]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: no-deletes}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: no-deletes}
subjects:
- {kind: ServiceAccount, name: no-deletes, namespace: kube-system}
"#;

const REPLICA_SET: &str = r#"
apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: web, namespace: nodel}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: busybox}]}
"#;

/// Upstream's ReplicaSet controller tells a refused pod delete with a `FailedDelete` Event
/// ("Error deleting: …") and the condition `ReplicaFailure=True`, reason `FailedDelete`, message
/// "unable to delete pods: …"; the condition goes once nothing is left to delete. Here the
/// controllers run as an identity RBAC lets delete nothing, until a binding lets it delete pods.
#[test]
fn a_refused_pod_delete_is_a_failed_delete_on_its_replica_set() {
    let cluster = Cluster::start_apiserver(Backend::Embedded);
    let k = cluster.kubectl("1.33");
    k.ok(&["-n", "kube-system", "create", "serviceaccount", "no-deletes"]);
    k.ok_stdin(&["apply", "-f", "-"], NO_DELETES);
    let token = k.ok(&["-n", "kube-system", "create", "token", "no-deletes", "--duration=1h"]).trim().to_string();
    let kubeconfig = cluster.dir.path().join("no-deletes.kubeconfig");
    std::fs::copy(&cluster.kubeconfig, &kubeconfig).unwrap();
    let as_no_deletes = Kubectl { kubeconfig: kubeconfig.clone(), ..cluster.kubectl("1.33") };
    as_no_deletes.ok(&["config", "set-credentials", "no-deletes", &format!("--token={token}")]);
    as_no_deletes.ok(&["config", "set-context", "--current", "--user=no-deletes"]);
    assert!(as_no_deletes.run(&["-n", "kube-system", "delete", "configmap", "nothing"]).stderr.contains("cannot delete resource"));
    let controllers = Controllers::start_as(&cluster, "no-deletes", &kubeconfig, &["--workers", "1"]);

    k.ok(&["create", "namespace", "nodel"]);
    k.ok_stdin(&["apply", "-f", "-"], REPLICA_SET);
    assert!(eventually(Duration::from_secs(20), || count(&k, "nodel", "pods") == 2), "log:\n{}", controllers.log());
    k.ok(&["-n", "nodel", "scale", "rs", "web", "--replicas=0"]);
    let failure = || {
        let jsonpath = r#"-o=jsonpath={range .status.conditions[?(@.type=="ReplicaFailure")]}{.status}|{.reason}|{.message}{end}"#;
        k.ok(&["-n", "nodel", "get", "rs", "web", jsonpath])
    };
    let refused = r#"is forbidden: User "system:serviceaccount:kube-system:no-deletes" cannot delete resource "pods" in API group "" in the namespace "nodel""#;
    assert!(
        eventually(Duration::from_secs(20), || failure().starts_with("True|FailedDelete|unable to delete pods: pods \"web-") && failure().ends_with(refused)),
        "condition: {:?}; log:\n{}",
        failure(),
        controllers.log()
    );
    let events =
        k.ok(&["-n", "nodel", "get", "events", "--field-selector=involvedObject.name=web", "-o=jsonpath={range .items[*]}{.reason}|{.message}{\"\\n\"}{end}"]);
    assert!(events.lines().any(|l| l.starts_with("FailedDelete|Error deleting: pods \"web-") && l.ends_with(refused)), "{events}");
    assert_eq!(count(&k, "nodel", "pods"), 2);

    k.ok(&["create", "clusterrole", "pod-deleter", "--verb=delete", "--resource=pods"]);
    k.ok(&["create", "clusterrolebinding", "pod-deleter", "--clusterrole=pod-deleter", "--serviceaccount=kube-system:no-deletes"]);
    let settled = eventually(Duration::from_secs(40), || count(&k, "nodel", "pods") == 0 && failure().is_empty());
    assert!(settled, "pods {}, condition {:?}; log:\n{}", count(&k, "nodel", "pods"), failure(), controllers.log());
}
