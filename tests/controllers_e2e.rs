//! The controllers end to end through real kubectl against `deltakube up`, on the embedded
//! store and on etcd: namespaces get their `default` ServiceAccount, token Secret and
//! `kube-root-ca.crt`; the seed's bearer flow works with that token; Services get Endpoints
//! and EndpointSlices listing exactly their ready pods, with not-ready pods under
//! `notReadyAddresses` and `ready: false`; Nodes get pod CIDRs; Services of type
//! LoadBalancer get addresses from the pool; a Deployment scaled in the middle of a rollout
//! spreads the change over its ReplicaSets in proportion; time-bound rollouts (`minReadySeconds`, the
//! progress deadline) run on the controller manager's Lease; and the views answer with
//! read-your-writes.

mod support;

use std::time::Duration;

use base64::Engine;
use serde_json::{json, Value};
use support::{eventually, Backend, Cluster, Kubectl};

fn json(k: &Kubectl, args: &[&str]) -> Value {
    serde_json::from_str(&k.ok(args)).unwrap()
}

fn namespaces_and_tokens(cluster: &Cluster, k: &Kubectl) {
    k.ok(&["create", "namespace", "team"]);
    let ready = eventually(Duration::from_secs(10), || {
        let r = k.run(&["-n", "team", "get", "sa/default", "cm/kube-root-ca.crt", "-o", "name"]);
        r.ok && k.run(&["-n", "team", "get", "secrets", "-o", "name"]).stdout.contains("default-token-")
    });
    assert!(ready, "the namespace did not get its account, token and CA");
    let ca = k.ok(&["-n", "team", "get", "cm", "kube-root-ca.crt", "-o", "jsonpath={.data.ca\\.crt}"]);
    assert!(ca.contains("BEGIN CERTIFICATE"));
    let secrets = k.ok(&["-n", "team", "get", "secrets"]);
    assert!(secrets.contains("kubernetes.io/service-account-token"), "{secrets}");

    // The seed's bearer flow: take the token with jsonpath, decode it, curl /api with it.
    let name = k.ok(&["-n", "team", "get", "secrets", "-o", "jsonpath={.items[0].metadata.name}"]);
    assert!(name.starts_with("default-token-") && name.len() == "default-token-".len() + 5, "{name}");
    let encoded = k.ok(&["-n", "team", "get", "secret", &name, "-o", "jsonpath={.data.token}"]);
    let token = String::from_utf8(base64::engine::general_purpose::STANDARD.decode(encoded.trim()).unwrap()).unwrap();
    let out = std::process::Command::new("curl")
        .args(["-sS", "--insecure", &format!("{}/api", cluster.url()), "--header", &format!("Authorization: Bearer {token}")])
        .output()
        .unwrap();
    let body: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    assert_eq!(body["kind"], "APIVersions", "{}", String::from_utf8_lossy(&out.stdout));

    // The views sit behind the API server's RBAC: the account may not read them until a
    // role grants their non-resource URLs.
    let views_as_account = || {
        let out = std::process::Command::new("curl")
            .args(["-sS", "--insecure", &format!("{}/views/endpoints", cluster.url()), "--header", &format!("Authorization: Bearer {token}")])
            .output()
            .unwrap();
        serde_json::from_slice::<Value>(&out.stdout).unwrap_or(Value::Null)
    };
    let denied = views_as_account();
    assert_eq!((denied["kind"].as_str(), denied["code"].as_i64(), denied["reason"].as_str()), (Some("Status"), Some(403), Some("Forbidden")), "{denied}");
    assert!(denied["message"].as_str().unwrap().contains("system:serviceaccount:team:default"), "{denied}");
    k.ok(&["create", "clusterrole", "views-reader", "--verb=get", "--non-resource-url=/views", "--non-resource-url=/views/*"]);
    k.ok(&["create", "clusterrolebinding", "views-reader", "--clusterrole=views-reader", "--serviceaccount=team:default"]);
    assert!(eventually(Duration::from_secs(5), || views_as_account()["kind"] == "View"), "the role grants the views");

    // A deleted token Secret comes back (with a fresh signed token); exactly one, never two.
    k.ok(&["-n", "team", "delete", "secret", &name]);
    assert!(eventually(Duration::from_secs(10), || k.run(&["-n", "team", "get", "secret", &name]).ok));
    std::thread::sleep(Duration::from_millis(500));
    let tokens = k.ok(&["-n", "team", "get", "secrets", "-o", "name"]);
    assert_eq!(tokens.lines().filter(|l| l.contains("default-token-")).count(), 1, "{tokens}");
}

fn set_pod_status(k: &Kubectl, ns: &str, pod: &str, ip: &str, ready: bool) {
    let patch =
        format!(r#"{{"status":{{"phase":"Running","podIP":"{ip}","conditions":[{{"type":"Ready","status":"{}"}}]}}}}"#, if ready { "True" } else { "False" });
    k.ok(&["-n", ns, "patch", "pod", pod, "--subresource=status", "--type=merge", "-p", &patch]);
}

/// The endpoints of the Service's EndpointSlices: address and `ready`, sorted.
fn slice_endpoints(k: &Kubectl, ns: &str, service: &str) -> Vec<(String, bool)> {
    let slices = json(k, &["-n", ns, "get", "endpointslices", "-l", &format!("kubernetes.io/service-name={service}"), "-o", "json"]);
    let mut out: Vec<(String, bool)> = slices["items"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["endpoints"].as_array().cloned().unwrap_or_default())
        .map(|e| (e["addresses"][0].as_str().unwrap_or_default().to_string(), e["conditions"]["ready"] == true))
        .collect();
    out.sort();
    out
}

fn endpoint_slices(k: &Kubectl) {
    let want = |list: &[(&str, bool)]| list.iter().map(|(ip, ready)| (ip.to_string(), *ready)).collect::<Vec<_>>();
    let listed = || slice_endpoints(k, "shop", "front");
    let expected = want(&[("10.2.0.1", true), ("10.2.0.2", true), ("10.2.0.3", false)]);
    assert!(eventually(Duration::from_secs(10), || listed() == expected), "slices: {:?}", listed());
    let slices = json(k, &["-n", "shop", "get", "endpointslices", "-l", "kubernetes.io/service-name=front", "-o", "json"]);
    let slice = &slices["items"][0];
    assert_eq!(slices["items"].as_array().unwrap().len(), 1, "{slices}");
    assert_eq!(slice["addressType"], "IPv4");
    assert_eq!(slice["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"], "endpointslice-controller.k8s.io");
    let owner = &slice["metadata"]["ownerReferences"][0];
    assert_eq!(
        (&owner["kind"], &owner["name"], &owner["controller"], &owner["blockOwnerDeletion"]),
        (&json!("Service"), &json!("front"), &json!(true), &json!(true))
    );
    assert_eq!(slice["ports"], json!([{"name": "http", "port": 8080, "protocol": "TCP"}]), "named targetPort resolved to the container port");
    let first = &slice["endpoints"][0];
    assert_eq!((&first["nodeName"], &first["zone"], &first["targetRef"]["name"]), (&json!("n1"), &json!("zone-a"), &json!("front-1")));
    let name = slice["metadata"]["name"].as_str().unwrap();
    assert!(name.starts_with("front-") && name.len() == "front-".len() + 5, "{name}");
    // The table printer: name, address type, ports and endpoints.
    let table = k.ok(&["-n", "shop", "get", "endpointslices"]);
    let row = table.lines().find(|l| l.starts_with(name)).unwrap_or_else(|| panic!("{table}"));
    assert!(table.starts_with("NAME") && row.contains("IPv4") && row.contains("8080") && row.contains("10.2.0.1,10.2.0.2,10.2.0.3"), "{table}");
}

fn services_and_endpoints(k: &Kubectl) {
    k.ok(&["create", "namespace", "shop"]);
    // The Node the pods run on: EndpointSlices list only pods whose Node exists.
    k.ok_stdin(&["apply", "-f", "-"], "apiVersion: v1\nkind: Node\nmetadata:\n  name: n1\n  labels: {topology.kubernetes.io/zone: zone-a}\n");
    k.ok_stdin(
        &["apply", "-f", "-"],
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: front\n  namespace: shop\nspec:\n  selector: {app: front}\n  ports:\n  - {name: http, port: 80, targetPort: web}\n",
    );
    for (i, ready) in [(1, true), (2, true), (3, false)] {
        k.ok_stdin(
            &["apply", "-f", "-"],
            &format!("apiVersion: v1\nkind: Pod\nmetadata:\n  name: front-{i}\n  namespace: shop\n  labels: {{app: front}}\nspec:\n  nodeName: n1\n  containers:\n  - name: c\n    image: busybox\n    ports: [{{name: web, containerPort: 8080}}]\n"),
        );
        set_pod_status(k, "shop", &format!("front-{i}"), &format!("10.2.0.{i}"), ready);
    }
    // A pod the selector does not match stays out.
    k.ok(&["-n", "shop", "run", "other", "--image=busybox", "--labels=app=other", "--restart=Never"]);
    set_pod_status(k, "shop", "other", "10.2.0.9", true);

    let ready_ips = || k.ok(&["-n", "shop", "get", "endpoints", "front", "-o", "jsonpath={.subsets[*].addresses[*].ip}"]);
    assert!(eventually(Duration::from_secs(10), || ready_ips() == "10.2.0.1 10.2.0.2"), "endpoints: {}", ready_ips());
    let ep = json(k, &["-n", "shop", "get", "endpoints", "front", "-o", "json"]);
    assert_eq!(ep["subsets"][0]["notReadyAddresses"][0]["ip"], "10.2.0.3");
    assert_eq!(ep["subsets"][0]["ports"][0]["port"], 8080, "named targetPort resolved to the container port");
    assert_eq!(ep["subsets"][0]["addresses"][0]["targetRef"]["name"], "front-1");
    endpoint_slices(k);

    // Readiness moves a pod between the lists; deletion removes it.
    set_pod_status(k, "shop", "front-2", "10.2.0.2", false);
    assert!(eventually(Duration::from_secs(10), || ready_ips() == "10.2.0.1"), "after not-ready: {}", ready_ips());
    let not_ready = k.ok(&["-n", "shop", "get", "endpoints", "front", "-o", "jsonpath={.subsets[*].notReadyAddresses[*].ip}"]);
    assert_eq!(not_ready, "10.2.0.2 10.2.0.3");
    let slices_now = || slice_endpoints(k, "shop", "front");
    let expected = vec![("10.2.0.1".to_string(), true), ("10.2.0.2".to_string(), false), ("10.2.0.3".to_string(), false)];
    assert!(eventually(Duration::from_secs(10), || slices_now() == expected), "slices after not-ready: {:?}", slices_now());
    // A pod on a Node is deleted gracefully (no kubelet confirms it here): while it is
    // terminating, Endpoints drop it and its EndpointSlice endpoint is serving, terminating
    // and not ready, as upstream; a forced delete then removes it.
    k.ok(&["-n", "shop", "delete", "pod", "front-1", "--wait=false"]);
    assert!(eventually(Duration::from_secs(10), || ready_ips().is_empty()), "after delete: {}", ready_ips());
    let terminating = || {
        let slices = json(k, &["-n", "shop", "get", "endpointslices", "-l", "kubernetes.io/service-name=front", "-o", "json"]);
        slices["items"][0]["endpoints"].as_array().into_iter().flatten().find(|e| e["targetRef"]["name"] == "front-1").map(|e| e["conditions"].clone())
    };
    let conditions = json!({"ready": false, "serving": true, "terminating": true});
    assert!(eventually(Duration::from_secs(10), || terminating() == Some(conditions.clone())), "front-1 terminating: {:?}", terminating());
    k.ok(&["-n", "shop", "delete", "pod", "front-1", "--grace-period=0", "--force"]);
    let expected = vec![("10.2.0.2".to_string(), false), ("10.2.0.3".to_string(), false)];
    assert!(eventually(Duration::from_secs(10), || slices_now() == expected), "slices after delete: {:?}", slices_now());

    // The view answers at least at the revision of our own write (read-your-writes).
    let svc = json(k, &["-n", "shop", "label", "svc", "front", "tier=edge", "-o", "json"]);
    let rv = svc["metadata"]["resourceVersion"].as_str().unwrap();
    let view: Value = serde_json::from_str(&k.ok(&["get", "--raw", &format!("/views/endpoints?namespace=shop&name=front&atLeastRevision={rv}")])).unwrap();
    assert!(view["revision"].as_u64().unwrap() >= rv.parse::<u64>().unwrap());
    assert_eq!(view["rows"][0]["value"]["metadata"]["labels"]["tier"], "edge", "{view}");
    // A revision the views will not reach in time is a 504 Timeout, not a stale answer.
    let far = rv.parse::<u64>().unwrap() + 1_000_000;
    let late = k.fails(&["get", "--raw", &format!("/views/endpoints?atLeastRevision={far}&timeoutSeconds=1")]);
    assert!(late.contains(&format!("has not reached revision {far}")), "{late}");
    let bad = k.fails(&["get", "--raw", "/views/endpoints?atLeastRevision=soon"]);
    assert!(bad.contains("atLeastRevision must be a non-negative integer"), "{bad}");
    let views: Value = serde_json::from_str(&k.ok(&["get", "--raw", "/views"])).unwrap();
    let names: Vec<&str> = views["views"].as_array().unwrap().iter().map(|v| v["name"].as_str().unwrap()).collect();
    for want in
        ["endpoints", "endpointslices", "pod-cidrs", "load-balancer-ips", "controller-errors", "intents", "pods-per-node", "replica-diffs", "quota-usage"]
    {
        assert!(names.contains(&want), "{names:?}");
    }

    // /metrics reports each controller's reconcile latency and updates.
    let metrics = k.ok(&["get", "--raw", "/metrics"]);
    assert!(metrics.contains("deltakube_controller_reconcile_latency_seconds_bucket") && metrics.contains("controller=\"endpoints\""), "{metrics}");
    assert!(metrics.contains("deltakube_controller_updates_total{controller=\"endpoints\"}"), "{metrics}");

    // Deleting the Service deletes its Endpoints and EndpointSlices.
    k.ok(&["-n", "shop", "delete", "svc", "front"]);
    assert!(eventually(Duration::from_secs(10), || !k.run(&["-n", "shop", "get", "endpoints", "front"]).ok));
    let left = || k.ok(&["-n", "shop", "get", "endpointslices", "-l", "kubernetes.io/service-name=front", "-o", "name"]);
    assert!(eventually(Duration::from_secs(10), || left().trim().is_empty()), "slices left: {}", left());
}

fn pod_cidr(k: &Kubectl, node: &str) -> String {
    k.ok(&["get", "node", node, "-o", "jsonpath={.spec.podCIDR} {.spec.podCIDRs}"])
}

/// Node IPAM with `up`'s defaults: blocks of 10.244.0.0/16, none given twice, a deleted
/// Node's block given to the next Node, a Node's own CIDR respected.
fn node_ipam(k: &Kubectl) {
    let node = |name: &str| format!("apiVersion: v1\nkind: Node\nmetadata:\n  name: {name}\n");
    k.ok_stdin(&["apply", "-f", "-"], &["ipam-b", "ipam-a", "ipam-c"].map(node).join("---\n"));
    k.ok_stdin(
        &["apply", "-f", "-"],
        "apiVersion: v1\nkind: Node\nmetadata:\n  name: ipam-own\nspec:\n  podCIDR: 10.244.9.0/24\n  podCIDRs: [10.244.9.0/24]\n",
    );
    let names = ["n1", "ipam-a", "ipam-b", "ipam-c"];
    let all_set = || names.iter().all(|n| !pod_cidr(k, n).trim().is_empty());
    assert!(eventually(Duration::from_secs(10), all_set), "{:?}", names.map(|n| pod_cidr(k, n)));
    let mut cidrs: Vec<String> = names.iter().map(|n| pod_cidr(k, n)).collect();
    for c in &cidrs {
        let (single, list) = c.split_once(' ').unwrap();
        assert!(single.starts_with("10.244.") && single.ends_with(".0/24") && list == format!("[\"{single}\"]"), "{c}");
    }
    assert_eq!(pod_cidr(k, "ipam-own"), "10.244.9.0/24 [\"10.244.9.0/24\"]");
    cidrs.sort();
    cidrs.dedup();
    assert_eq!(cidrs.len(), 4, "a block was given twice: {cidrs:?}");
    // The blocks are the four lowest; a freed one goes to the next Node.
    let freed = pod_cidr(k, "ipam-b");
    k.ok(&["delete", "node", "ipam-b"]);
    k.ok_stdin(&["apply", "-f", "-"], &node("ipam-d"));
    assert!(eventually(Duration::from_secs(10), || pod_cidr(k, "ipam-d") == freed), "ipam-d: {} (freed {freed})", pod_cidr(k, "ipam-d"));
    let view: Value = serde_json::from_str(&k.ok(&["get", "--raw", "/views/pod-cidrs?name=ipam-d"])).unwrap();
    assert_eq!(view["rows"][0]["value"], freed.split(' ').next().unwrap(), "{view}");
}

fn external_ip(k: &Kubectl, service: &str) -> String {
    k.ok(&["-n", "lb", "get", "svc", service, "-o", "jsonpath={.status.loadBalancer.ingress[*].ip}"])
}

/// Services of type LoadBalancer get addresses from `--load-balancer-ip-range` (two here):
/// the lowest free one, none when the pool is spent, a freed one when another Service goes,
/// and a Service that stops being a LoadBalancer gives its address back.
fn load_balancers(k: &Kubectl) {
    k.ok(&["create", "namespace", "lb"]);
    k.ok(&["-n", "lb", "create", "service", "loadbalancer", "web", "--tcp=80:8080"]);
    assert!(eventually(Duration::from_secs(10), || external_ip(k, "web") == "172.18.255.200"), "web: {}", external_ip(k, "web"));
    let table = k.ok(&["-n", "lb", "get", "svc", "web"]);
    assert!(
        table.contains("EXTERNAL-IP") && table.lines().any(|l| l.starts_with("web") && l.contains("LoadBalancer") && l.contains("172.18.255.200")),
        "{table}"
    );

    k.ok(&["-n", "lb", "run", "api", "--image=busybox", "--labels=app=api", "--restart=Never"]);
    k.ok(&["-n", "lb", "expose", "pod", "api", "--type=LoadBalancer", "--port=80", "--name=api"]);
    assert!(eventually(Duration::from_secs(10), || external_ip(k, "api") == "172.18.255.201"), "api: {}", external_ip(k, "api"));

    // The pool is spent: the third waits, and says why.
    k.ok(&["-n", "lb", "create", "service", "loadbalancer", "third", "--tcp=80"]);
    let error = || k.ok(&["get", "--raw", "/views/controller-errors?namespace=lb&name=third"]);
    assert!(eventually(Duration::from_secs(10), || error().contains("AllocationFailed")), "{}", error());
    assert!(k.ok(&["-n", "lb", "get", "svc", "third"]).contains("<pending>"));
    // And tells it where a user looks: a Warning Event on the Service.
    let described = || k.ok(&["-n", "lb", "describe", "svc", "third"]);
    assert!(eventually(Duration::from_secs(10), || described().lines().any(|l| l.contains("Warning") && l.contains("AllocationFailed"))), "{}", described());
    k.ok(&["-n", "lb", "delete", "svc", "web"]);
    assert!(eventually(Duration::from_secs(10), || external_ip(k, "third") == "172.18.255.200"), "third: {}", external_ip(k, "third"));

    // No longer a LoadBalancer: the address is cleared.
    k.ok(&["-n", "lb", "patch", "svc", "api", "-p", r#"{"spec":{"type":"ClusterIP"}}"#]);
    assert!(eventually(Duration::from_secs(10), || external_ip(k, "api").is_empty()), "api: {}", external_ip(k, "api"));
}

fn namespace_deletion(k: &Kubectl) {
    // Deleting a namespace removes everything in it, then the namespace itself.
    k.ok(&["create", "namespace", "doomed"]);
    k.ok(&["-n", "doomed", "create", "configmap", "c1", "--from-literal=a=b"]);
    k.ok(&["-n", "doomed", "create", "deployment", "d1", "--image=busybox"]);
    k.ok(&["-n", "doomed", "run", "p1", "--image=busybox", "--restart=Never"]);
    assert!(eventually(Duration::from_secs(10), || k.run(&["-n", "doomed", "get", "sa", "default"]).ok));
    k.ok(&["delete", "namespace", "doomed", "--wait", "--timeout=30s"]);
    assert!(k.fails(&["get", "namespace", "doomed"]).contains("NotFound"));
    for kind in ["configmaps", "deployments", "pods", "serviceaccounts", "secrets"] {
        let left = k.ok(&["get", kind, "-n", "doomed", "-o", "name"]);
        assert!(left.trim().is_empty(), "{kind} left behind: {left}");
    }
    // And the name can be used again at once.
    k.ok(&["create", "namespace", "doomed"]);
}

fn owned_pods(k: &Kubectl, ns: &str, owner: &str) -> Vec<String> {
    let pods = json(k, &["-n", ns, "get", "pods", "-o", "json"]);
    let mut names: Vec<String> = pods["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
        .filter(|p| p["metadata"]["ownerReferences"].as_array().is_some_and(|o| o.iter().any(|r| r["name"] == owner && r["controller"] == true)))
        .map(|p| p["metadata"]["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

fn replica_set(ns: &str, name: &str, replicas: u32) -> String {
    format!(
        "apiVersion: apps/v1\nkind: ReplicaSet\nmetadata:\n  name: {name}\n  namespace: {ns}\nspec:\n  replicas: {replicas}\n  selector:\n    matchLabels: {{app: {name}}}\n  template:\n    metadata:\n      labels: {{app: {name}}}\n    spec:\n      containers:\n      - name: c\n        image: busybox\n"
    )
}

fn replica_sets(k: &Kubectl) {
    k.ok(&["create", "namespace", "rs"]);
    k.ok_stdin(&["apply", "-f", "-"], &replica_set("rs", "web", 3));
    assert!(eventually(Duration::from_secs(10), || owned_pods(k, "rs", "web").len() == 3), "{:?}", owned_pods(k, "rs", "web"));
    let pod = json(k, &["-n", "rs", "get", "pod", &owned_pods(k, "rs", "web")[0], "-o", "json"]);
    assert_eq!(pod["metadata"]["labels"]["app"], "web");
    assert_eq!(pod["metadata"]["ownerReferences"][0]["kind"], "ReplicaSet");
    assert_eq!(pod["metadata"]["ownerReferences"][0]["blockOwnerDeletion"], true);

    // kubectl scale goes through the scale subresource; the controller follows.
    k.ok(&["-n", "rs", "scale", "rs", "web", "--replicas=5"]);
    assert!(eventually(Duration::from_secs(10), || owned_pods(k, "rs", "web").len() == 5));
    k.ok(&["-n", "rs", "scale", "rs", "web", "--replicas=1"]);
    assert!(eventually(Duration::from_secs(10), || owned_pods(k, "rs", "web").len() == 1));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(owned_pods(k, "rs", "web").len(), 1, "never more than asked for");
    assert!(eventually(Duration::from_secs(10), || k.ok(&["-n", "rs", "get", "rs", "web", "-o", "jsonpath={.status.replicas}"]) == "1"));

    // Readiness shows in the status.
    let survivor = owned_pods(k, "rs", "web")[0].clone();
    set_pod_status(k, "rs", &survivor, "10.3.0.1", true);
    assert!(eventually(Duration::from_secs(10), || k.ok(&["-n", "rs", "get", "rs", "web", "-o", "jsonpath={.status.readyReplicas}"]) == "1"));
    // The replica diff of the ReplicaSet, as a view at least as new as the readiness write.
    let rv = k.ok(&["-n", "rs", "get", "pod", &survivor, "-o", "jsonpath={.metadata.resourceVersion}"]);
    let diff: Value = serde_json::from_str(&k.ok(&["get", "--raw", &format!("/views/replica-diffs?namespace=rs&name=web&atLeastRevision={rv}")])).unwrap();
    let want = json!({"kind": "ReplicaSet", "desired": 1, "actual": 1, "ready": 1, "available": 1, "toCreate": 0, "toDelete": 0, "toAdopt": 0, "toRelease": 0});
    assert_eq!(diff["rows"][0]["value"], want, "{diff}");

    // Changing a pod's labels releases it, and a replacement is created.
    k.ok(&["-n", "rs", "label", "pod", &survivor, "app=released", "--overwrite"]);
    assert!(eventually(Duration::from_secs(10), || {
        let owned = owned_pods(k, "rs", "web");
        owned.len() == 1 && owned[0] != survivor
    }));
    let released = json(k, &["-n", "rs", "get", "pod", &survivor, "-o", "json"]);
    assert!(released["metadata"]["ownerReferences"].is_null(), "{released}");

    // Deleting with --cascade=orphan keeps the pods, without their owner reference.
    let kept = owned_pods(k, "rs", "web");
    k.ok(&["-n", "rs", "delete", "rs", "web", "--cascade=orphan"]);
    assert!(eventually(Duration::from_secs(10), || !k.run(&["-n", "rs", "get", "rs", "web"]).ok));
    let orphan = json(k, &["-n", "rs", "get", "pod", &kept[0], "-o", "json"]);
    assert!(orphan["metadata"]["ownerReferences"].is_null(), "{orphan}");

    // Background (the default) and foreground deletion remove the pods.
    for (name, cascade) in [("bg", "background"), ("fg", "foreground")] {
        k.ok_stdin(&["apply", "-f", "-"], &replica_set("rs", name, 2));
        assert!(eventually(Duration::from_secs(10), || owned_pods(k, "rs", name).len() == 2));
        k.ok(&["-n", "rs", "delete", "rs", name, &format!("--cascade={cascade}"), "--wait", "--timeout=30s"]);
        assert!(eventually(Duration::from_secs(10), || owned_pods(k, "rs", name).is_empty()), "{cascade}: {:?}", owned_pods(k, "rs", name));
        let all = k.ok(&["-n", "rs", "get", "pods", "-o", "name"]);
        assert!(!all.contains(&format!("pod/{name}-")), "{cascade} left pods: {all}");
    }
}

/// Owners and dependents of kinds no other controller reads (a ConfigMap owning a Secret and
/// a ConfigMap): each of kubectl's three cascades completes, as upstream's collector makes it.
fn garbage_collection_of_any_kind(k: &Kubectl) {
    k.ok(&["create", "namespace", "gc"]);
    let exists = |kind: &str, name: &str| k.run(&["-n", "gc", "get", kind, name]).ok;
    for cascade in ["orphan", "foreground", "background"] {
        let owner = format!("owner-{cascade}");
        k.ok(&["-n", "gc", "create", "configmap", &owner]);
        let uid = k.ok(&["-n", "gc", "get", "configmap", &owner, "-o", "jsonpath={.metadata.uid}"]);
        let refs = json!([{"apiVersion": "v1", "kind": "ConfigMap", "name": owner, "uid": uid, "blockOwnerDeletion": true}]);
        let dependents = json!({"apiVersion": "v1", "kind": "List", "items": [
            {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": format!("{owner}-secret"), "namespace": "gc", "ownerReferences": refs}},
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": format!("{owner}-cm"), "namespace": "gc", "ownerReferences": refs}},
        ]});
        k.ok_stdin(&["apply", "-f", "-"], &dependents.to_string());
        // kubectl waits until the owner is gone: a finalizer nobody removes would time it out.
        k.ok(&["-n", "gc", "delete", "configmap", &owner, &format!("--cascade={cascade}"), "--timeout=30s"]);
        assert!(!exists("configmap", &owner), "{cascade}: the owner is still there");
        let secret = format!("{owner}-secret");
        let configmap = format!("{owner}-cm");
        match cascade {
            "orphan" => {
                for (kind, name) in [("secret", &secret), ("configmap", &configmap)] {
                    let kept = json(k, &["-n", "gc", "get", kind, name, "-o", "json"]);
                    assert!(kept["metadata"]["ownerReferences"].is_null(), "orphan: {kept}");
                }
            }
            // Dependents that block their owner are gone before it is.
            "foreground" => assert!(!exists("secret", &secret) && !exists("configmap", &configmap), "foreground left dependents"),
            _ => assert!(eventually(Duration::from_secs(10), || !exists("secret", &secret) && !exists("configmap", &configmap)), "background left dependents"),
        }
    }
}

/// Stands in for the kubelets of a later issue: every pod not yet ready becomes Running and
/// Ready with an address.
fn make_pods_ready(k: &Kubectl, ns: &str) {
    let pods = json(k, &["-n", ns, "get", "pods", "-o", "json"]);
    for (i, p) in pods["items"].as_array().unwrap().iter().enumerate() {
        let ready = p["status"]["conditions"].as_array().is_some_and(|c| c.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"));
        if !ready && p["metadata"]["deletionTimestamp"].is_null() {
            let name = p["metadata"]["name"].as_str().unwrap();
            let _ = k.run(&[
                "-n",
                ns,
                "patch",
                "pod",
                name,
                "--subresource=status",
                "--type=merge",
                "-p",
                &format!(r#"{{"status":{{"phase":"Running","podIP":"10.4.{}.{}","conditions":[{{"type":"Ready","status":"True"}}]}}}}"#, i / 200, i % 200 + 1),
            ]);
        }
    }
}

/// Marks pods ready until `done` holds.
fn drive(k: &Kubectl, ns: &str, what: &str, mut done: impl FnMut() -> bool) {
    let ok = eventually(Duration::from_secs(30), || {
        make_pods_ready(k, ns);
        done()
    });
    assert!(ok, "{what} did not happen");
}

fn replica_sets_of(k: &Kubectl, ns: &str) -> Vec<(String, i64, String)> {
    let list = json(k, &["-n", ns, "get", "rs", "-o", "json"]);
    let mut out: Vec<(String, i64, String)> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["metadata"]["name"].as_str().unwrap().to_string(),
                r["spec"]["replicas"].as_i64().unwrap_or(0),
                r["spec"]["template"]["spec"]["containers"][0]["image"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

fn deployments(k: &Kubectl) {
    let ns = "deploy";
    k.ok(&["create", "namespace", ns]);
    k.ok(&["-n", ns, "create", "deployment", "web", "--image=busybox:1.36", "--replicas=3"]);
    drive(k, ns, "three pods", || owned_pods_of_kind(k, ns, "ReplicaSet").len() == 3);
    let sets = replica_sets_of(k, ns);
    assert_eq!(sets.len(), 1, "{sets:?}");
    let rs = json(k, &["-n", ns, "get", "rs", &sets[0].0, "-o", "json"]);
    let hash = rs["metadata"]["labels"]["pod-template-hash"].as_str().unwrap().to_string();
    assert_eq!(sets[0].0, format!("web-{hash}"));
    assert_eq!(rs["metadata"]["ownerReferences"][0]["kind"], "Deployment");
    assert_eq!(rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"], "1");
    let pod = json(k, &["-n", ns, "get", "pod", &owned_pods_of_kind(k, ns, "ReplicaSet")[0], "-o", "json"]);
    assert_eq!(pod["metadata"]["labels"]["app"], "web");
    assert_eq!(pod["metadata"]["labels"]["pod-template-hash"], hash.as_str());
    k.ok(&["-n", ns, "rollout", "status", "deployment/web", "--timeout=30s"]);

    // Scale to 5, then 1.
    k.ok(&["-n", ns, "scale", "deployment", "web", "--replicas=5"]);
    drive(k, ns, "five pods", || owned_pods_of_kind(k, ns, "ReplicaSet").len() == 5);
    k.ok(&["-n", ns, "scale", "deployment", "web", "--replicas=1"]);
    drive(k, ns, "one pod", || owned_pods_of_kind(k, ns, "ReplicaSet").len() == 1);

    // A new image rolls a new ReplicaSet; rollout status completes once pods are ready.
    k.ok(&["-n", ns, "scale", "deployment", "web", "--replicas=3"]);
    drive(k, ns, "three again", || owned_pods_of_kind(k, ns, "ReplicaSet").len() == 3);
    k.ok(&["-n", ns, "set", "image", "deployment/web", "busybox=busybox:1.37"]);
    drive(k, ns, "the rollout to 1.37", || {
        let sets = replica_sets_of(k, ns);
        sets.len() == 2
            && sets.iter().any(|(_, n, image)| *n == 3 && image == "busybox:1.37")
            && sets.iter().any(|(_, n, image)| *n == 0 && image == "busybox:1.36")
    });
    drive(k, ns, "rollout status", || k.run(&["-n", ns, "rollout", "status", "deployment/web", "--timeout=2s"]).ok);
    // The change cause annotated on the Deployment goes to its new ReplicaSet, where
    // `rollout history` reads it.
    k.ok(&["-n", ns, "annotate", "deployment/web", "kubernetes.io/change-cause=image 1.37"]);
    drive(k, ns, "the change cause in the history", || k.ok(&["-n", ns, "rollout", "history", "deployment/web"]).contains("image 1.37"));
    let history = k.ok(&["-n", ns, "rollout", "history", "deployment/web"]);
    let rows: Vec<&str> = history.lines().filter(|l| l.starts_with(|c: char| c.is_ascii_digit())).collect();
    assert_eq!(rows.len(), 2, "{history}");
    assert!(rows[0].starts_with('1') && rows[0].contains("<none>") && rows[1].starts_with('2') && rows[1].contains("image 1.37"), "{history}");

    // Undo goes back to the first template, as revision 3.
    k.ok(&["-n", ns, "rollout", "undo", "deployment/web"]);
    drive(k, ns, "the undo", || {
        let image = k.ok(&["-n", ns, "get", "deploy", "web", "-o", "jsonpath={.spec.template.spec.containers[0].image}"]);
        let sets = replica_sets_of(k, ns);
        image == "busybox:1.36"
            && sets.iter().any(|(_, n, image)| *n == 3 && image == "busybox:1.36")
            && sets.iter().any(|(_, n, image)| *n == 0 && image == "busybox:1.37")
    });
    drive(k, ns, "revision 3", || {
        k.ok(&["-n", ns, "get", "deploy", "web", "-o", "jsonpath={.metadata.annotations.deployment\\.kubernetes\\.io/revision}"]) == "3"
    });
    drive(k, ns, "rollout status after undo", || k.run(&["-n", ns, "rollout", "status", "deployment/web", "--timeout=2s"]).ok);

    // Restart makes a new ReplicaSet with the same image; pause holds a rollout back.
    k.ok(&["-n", ns, "rollout", "pause", "deployment/web"]);
    k.ok(&["-n", ns, "set", "image", "deployment/web", "busybox=busybox:1.38"]);
    std::thread::sleep(Duration::from_millis(500));
    assert!(!replica_sets_of(k, ns).iter().any(|(_, _, image)| image == "busybox:1.38"), "a paused deployment rolled out");
    // Paused, it still scales, as upstream's.
    k.ok(&["-n", ns, "scale", "deployment", "web", "--replicas=4"]);
    drive(k, ns, "four pods while paused", || owned_pods_of_kind(k, ns, "ReplicaSet").len() == 4);
    k.ok(&["-n", ns, "scale", "deployment", "web", "--replicas=3"]);
    drive(k, ns, "three pods while paused", || owned_pods_of_kind(k, ns, "ReplicaSet").len() == 3);
    assert!(!replica_sets_of(k, ns).iter().any(|(_, _, image)| image == "busybox:1.38"), "a paused deployment rolled out");
    k.ok(&["-n", ns, "rollout", "resume", "deployment/web"]);
    drive(k, ns, "the resumed rollout", || replica_sets_of(k, ns).iter().any(|(_, n, image)| *n == 3 && image == "busybox:1.38"));
    let before = replica_sets_of(k, ns).len();
    k.ok(&["-n", ns, "rollout", "restart", "deployment/web"]);
    drive(k, ns, "the restart", || replica_sets_of(k, ns).len() == before + 1);
    drive(k, ns, "rollout status after restart", || k.run(&["-n", ns, "rollout", "status", "deployment/web", "--timeout=2s"]).ok);

    // Deleting the deployment removes its ReplicaSets and pods.
    k.ok(&["-n", ns, "delete", "deployment", "web", "--wait", "--timeout=30s"]);
    assert!(eventually(Duration::from_secs(15), || replica_sets_of(k, ns).is_empty() && owned_pods_of_kind(k, ns, "ReplicaSet").is_empty()));
}

/// Upstream's example of proportional scaling: 10 replicas with maxSurge 3 and
/// maxUnavailable 2, a rollout whose new pods never turn ready stops at 8 old and 5 new;
/// scaled to 15 meanwhile, 3 more go to the old ReplicaSet and 2 to the new.
fn proportional_scaling(k: &Kubectl) {
    let ns = "proportional";
    k.ok(&["create", "namespace", ns]);
    let manifest = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 10\n  \
                    strategy:\n    type: RollingUpdate\n    rollingUpdate:\n      maxSurge: 3\n      maxUnavailable: 2\n  \
                    selector:\n    matchLabels:\n      app: web\n  template:\n    metadata:\n      labels:\n        app: web\n    \
                    spec:\n      containers:\n      - name: busybox\n        image: busybox:1.36\n";
    k.ok_stdin(&["-n", ns, "apply", "-f", "-"], manifest);
    drive(k, ns, "ten ready pods", || k.run(&["-n", ns, "rollout", "status", "deployment/web", "--timeout=2s"]).ok);
    k.ok(&["-n", ns, "set", "image", "deployment/web", "busybox=busybox:1.37"]);
    let sizes = |k: &Kubectl| -> Vec<(i64, String)> { replica_sets_of(k, ns).into_iter().map(|(_, n, image)| (n, image)).collect() };
    let stuck = vec![(5, "busybox:1.37".to_string()), (8, "busybox:1.36".to_string())];
    let mut seen = vec![];
    let stopped = eventually(Duration::from_secs(20), || {
        seen = sizes(k);
        seen.sort();
        seen == stuck
    });
    assert!(stopped, "the rollout stops at 8 old and 5 new: {seen:?}");
    k.ok(&["-n", ns, "scale", "deployment", "web", "--replicas=15"]);
    let scaled = vec![(7, "busybox:1.37".to_string()), (11, "busybox:1.36".to_string())];
    let spread = eventually(Duration::from_secs(20), || {
        seen = sizes(k);
        seen.sort();
        seen == scaled
    });
    assert!(spread, "15 replicas spread as 11 old and 7 new: {seen:?}");
    let annotations = json(k, &["-n", ns, "get", "rs", "-o", "json"]);
    for rs in annotations["items"].as_array().unwrap().iter().filter(|r| r["spec"]["replicas"].as_i64() != Some(0)) {
        assert_eq!(rs["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"], "15", "{rs}");
        assert_eq!(rs["metadata"]["annotations"]["deployment.kubernetes.io/max-replicas"], "18", "{rs}");
    }
    // Once the new pods turn ready, the rollout completes at 15.
    drive(k, ns, "the rollout at 15", || k.run(&["-n", ns, "rollout", "status", "deployment/web", "--timeout=2s"]).ok);
    let mut done = sizes(k);
    done.sort();
    assert_eq!(done, vec![(0, "busybox:1.36".to_string()), (15, "busybox:1.37".to_string())]);
}

/// A Deployment with `minReadySeconds` and `progressDeadlineSeconds` in the given namespace.
fn timed_deployment(name: &str, min_ready_seconds: u32, progress_deadline_seconds: u32) -> String {
    format!(
        r#"{{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {{"name": "{name}"}},
            "spec": {{"replicas": 2, "minReadySeconds": {min_ready_seconds}, "progressDeadlineSeconds": {progress_deadline_seconds},
                     "selector": {{"matchLabels": {{"app": "{name}"}}}},
                     "template": {{"metadata": {{"labels": {{"app": "{name}"}}}}, "spec": {{"containers": [{{"name": "c", "image": "busybox:1.36"}}]}}}}}}}}"#
    )
}

fn rs_counts(k: &Kubectl, ns: &str) -> (i64, i64) {
    let list = json(k, &["-n", ns, "get", "rs", "-o", "json"]);
    let rs = &list["items"][0];
    (rs["status"]["readyReplicas"].as_i64().unwrap_or(0), rs["status"]["availableReplicas"].as_i64().unwrap_or(0))
}

/// Time enters the controllers as the renewals of their Lease: pods count as available only
/// `minReadySeconds` after they turned ready, and a rollout that makes no progress fails
/// `kubectl rollout status` once its progress deadline passes.
fn time_bound_rollouts(k: &Kubectl) {
    let lease = json(k, &["-n", "kube-system", "get", "lease", "kube-controller-manager", "-o", "json"]);
    assert!(lease["spec"]["holderIdentity"].as_str().is_some_and(|h| !h.is_empty()), "{lease}");
    let renewed = lease["spec"]["renewTime"].clone();
    assert!(eventually(Duration::from_secs(5), || json(k, &["-n", "kube-system", "get", "lease", "kube-controller-manager", "-o", "json"])["spec"]
        ["renewTime"]
        != renewed));

    let ns = "timed";
    k.ok(&["create", "namespace", ns]);
    k.ok_stdin(&["-n", ns, "apply", "-f", "-"], &timed_deployment("slow", 5, 600));
    assert!(eventually(Duration::from_secs(15), || owned_pods_of_kind(k, ns, "ReplicaSet").len() == 2));
    let rs = &json(k, &["-n", ns, "get", "rs", "-o", "json"])["items"][0];
    assert_eq!(rs["spec"]["minReadySeconds"], 5, "the Deployment's minReadySeconds goes to its ReplicaSet");
    // Ready now, as a kubelet reports it: with the time of the transition.
    let since = std::time::Instant::now();
    let now = jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
    for (i, pod) in owned_pods_of_kind(k, ns, "ReplicaSet").iter().enumerate() {
        let status = format!(
            r#"{{"status":{{"phase":"Running","podIP":"10.5.0.{}","conditions":[{{"type":"Ready","status":"True","lastTransitionTime":"{now}"}}]}}}}"#,
            i + 1
        );
        k.ok(&["-n", ns, "patch", "pod", pod, "--subresource=status", "--type=merge", "-p", &status]);
    }
    assert!(eventually(Duration::from_secs(10), || rs_counts(k, ns).0 == 2), "the pods turned ready");
    assert_eq!(rs_counts(k, ns), (2, 0), "ready, but not yet for minReadySeconds");
    assert!(eventually(Duration::from_secs(15), || rs_counts(k, ns) == (2, 2)), "the pods became available");
    // The transition time has whole seconds, so availability comes at least 4 s on.
    assert!(since.elapsed() >= Duration::from_secs(4), "available after {:?}", since.elapsed());
    k.ok(&["-n", ns, "rollout", "status", "deployment/slow", "--timeout=20s"]);
    assert!(eventually(Duration::from_secs(10), || {
        k.ok(&["-n", ns, "get", "deploy", "slow", "-o", "jsonpath={.status.conditions[?(@.type==\"Progressing\")].reason}"]) == "NewReplicaSetAvailable"
    }));
    let deployment = json(k, &["-n", ns, "get", "deploy", "slow", "-o", "json"]);
    for condition in deployment["status"]["conditions"].as_array().unwrap() {
        for field in ["lastUpdateTime", "lastTransitionTime"] {
            let time = condition[field].as_str().unwrap_or_default();
            assert!(time.parse::<jiff::Timestamp>().is_ok(), "{field} of {condition} is a time");
        }
    }

    // A rollout whose pods never turn ready runs out of its two seconds.
    k.ok_stdin(&["-n", ns, "apply", "-f", "-"], &timed_deployment("stuck", 0, 2));
    let failed = k.run(&["-n", ns, "rollout", "status", "deployment/stuck", "--timeout=30s"]);
    assert!(!failed.ok && failed.stderr.contains("deployment \"stuck\" exceeded its progress deadline"), "{failed:?}");
    let described = k.ok(&["-n", ns, "describe", "deployment", "stuck"]);
    assert!(described.lines().any(|l| l.contains("Progressing") && l.contains("False") && l.contains("ProgressDeadlineExceeded")), "{described}");
    k.ok(&["delete", "namespace", ns, "--wait=false"]);

    // Another holder's live Lease is waited out, as upstream's leader election does, then
    // taken over with a transition counted.
    let lease = |k: &Kubectl| json(k, &["-n", "kube-system", "get", "lease", "kube-controller-manager", "-o", "json"]);
    let ours = lease(k)["spec"]["holderIdentity"].as_str().unwrap().to_string();
    let transitions = lease(k)["spec"]["leaseTransitions"].as_i64().unwrap_or(0);
    let now = jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string();
    let other = format!(r#"{{"spec":{{"holderIdentity":"someone-else","renewTime":"{now}","leaseDurationSeconds":4}}}}"#);
    k.ok(&["-n", "kube-system", "patch", "lease", "kube-controller-manager", "--type=merge", "-p", &other]);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(lease(k)["spec"]["holderIdentity"], "someone-else", "a live Lease of another holder was taken");
    assert!(eventually(Duration::from_secs(15), || lease(k)["spec"]["holderIdentity"] == ours.as_str()), "the expired Lease was not taken back");
    assert_eq!(lease(k)["spec"]["leaseTransitions"], transitions + 1);
}

/// ReplicationControllers (core/v1) run on the same controller as ReplicaSets: the selector
/// defaults to the template's labels, `kubectl scale` and the status follow, and deletion
/// removes the pods.
fn replication_controllers(k: &Kubectl) {
    let ns = "rc";
    k.ok(&["create", "namespace", ns]);
    let manifest = "apiVersion: v1\nkind: ReplicationController\nmetadata:\n  name: legacy\nspec:\n  replicas: 3\n  template:\n    \
                    metadata:\n      labels:\n        app: legacy\n    spec:\n      containers:\n      - name: c\n        image: busybox\n";
    k.ok_stdin(&["-n", ns, "create", "-f", "-"], manifest);
    assert_eq!(k.ok(&["-n", ns, "get", "rc", "legacy", "-o", "jsonpath={.spec.selector.app} {.metadata.labels.app}"]), "legacy legacy");
    assert!(eventually(Duration::from_secs(10), || owned_pods(k, ns, "legacy").len() == 3), "{:?}", owned_pods(k, ns, "legacy"));
    let pod = json(k, &["-n", ns, "get", "pod", &owned_pods(k, ns, "legacy")[0], "-o", "json"]);
    let owner = &pod["metadata"]["ownerReferences"][0];
    assert_eq!((owner["apiVersion"].as_str(), owner["kind"].as_str()), (Some("v1"), Some("ReplicationController")), "{owner}");

    k.ok(&["-n", ns, "scale", "rc", "legacy", "--replicas=2"]);
    assert!(eventually(Duration::from_secs(10), || owned_pods(k, ns, "legacy").len() == 2));
    for (i, pod) in owned_pods(k, ns, "legacy").iter().enumerate() {
        set_pod_status(k, ns, pod, &format!("10.5.0.{}", i + 1), true);
    }
    let table = || k.ok(&["-n", ns, "get", "rc", "legacy", "--no-headers"]);
    assert!(eventually(Duration::from_secs(10), || table().split_whitespace().take(4).collect::<Vec<_>>() == ["legacy", "2", "2", "2"]), "{}", table());
    let diff: Value = serde_json::from_str(&k.ok(&["get", "--raw", "/views/replica-diffs?namespace=rc&name=legacy"])).unwrap();
    assert_eq!(diff["rows"][0]["value"]["kind"], "ReplicationController", "{diff}");

    k.ok(&["-n", ns, "delete", "rc", "legacy", "--wait", "--timeout=30s"]);
    assert!(eventually(Duration::from_secs(10), || owned_pods(k, ns, "legacy").is_empty()));
}

fn owned_pods_of_kind(k: &Kubectl, ns: &str, kind: &str) -> Vec<String> {
    let pods = json(k, &["-n", ns, "get", "pods", "-o", "json"]);
    pods["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
        .filter(|p| p["metadata"]["ownerReferences"].as_array().is_some_and(|o| o.iter().any(|r| r["kind"] == kind)))
        .map(|p| p["metadata"]["name"].as_str().unwrap().to_string())
        .collect()
}

fn controllers(backend: Backend) {
    let cluster = Cluster::start_with(backend, &["--load-balancer-ip-range=172.18.255.200-172.18.255.201"]);
    let k = cluster.kubectl("1.33");
    namespaces_and_tokens(&cluster, &k);
    services_and_endpoints(&k);
    node_ipam(&k);
    load_balancers(&k);
    namespace_deletion(&k);
    replica_sets(&k);
    replication_controllers(&k);
    deployments(&k);
    proportional_scaling(&k);
    time_bound_rollouts(&k);
    garbage_collection_of_any_kind(&k);
    let log = cluster.log();
    assert!(!log.contains("controller write failed"), "the writer retried writes:\n{log}");
}

#[test]
fn controllers_work_end_to_end_on_the_embedded_store() {
    controllers(Backend::Embedded);
}

#[test]
fn controllers_work_end_to_end_on_etcd() {
    controllers(Backend::Etcd);
}
