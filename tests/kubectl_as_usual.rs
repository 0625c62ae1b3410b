//! Real kubectl (1.27, 1.30, 1.33) against `deltakube up`, on the embedded store and on a
//! real etcd: the everyday commands work as usual, without `--validate=false`.

mod support;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

use support::{write_file, Backend, Cluster, Kubectl, KUBECTL_VERSIONS};

fn deployment(ns: &str, replicas: u32, image: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: {ns}\n  labels: {{app: web}}\nspec:\n  replicas: {replicas}\n  selector:\n    matchLabels: {{app: web}}\n  template:\n    metadata:\n      labels: {{app: web}}\n    spec:\n      containers:\n      - name: web\n        image: {image}\n        ports:\n        - containerPort: 80\n        env:\n        - name: A\n          value: a\n"
    )
}

fn pod(ns: &str, name: &str, tier: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  namespace: {ns}\n  labels: {{app: db, tier: {tier}}}\nspec:\n  containers:\n  - name: main\n    image: busybox:1.36\n    command: [sleep, '3600']\n"
    )
}

fn configmap(ns: &str, name: &str, value: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: {ns}\ndata:\n  key: {value}\n")
}

/// Reads lines of a `kubectl get -w` until one contains `want`.
fn watch_until(k: &Kubectl, args: &[&str], trigger: impl FnOnce(), want: &str) -> Vec<String> {
    let mut child = k.command().args(args).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // The first line (headers or the current state) shows the watch is established.
    let mut lines = vec![rx.recv_timeout(Duration::from_secs(20)).expect("kubectl get -w printed nothing")];
    trigger();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while std::time::Instant::now() < deadline {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(line) => {
                let done = line.contains(want);
                lines.push(line);
                if done {
                    break;
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(_) => break,
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    lines
}

fn everyday_commands(cluster: &Cluster, version: &str) {
    let k = cluster.kubectl(version);
    let ns = format!("v{}", version.replace('.', ""));
    let dir = cluster.dir.path();
    k.ok(&["create", "namespace", &ns]);
    assert!(k.ok(&["get", "ns"]).contains(&ns));

    // apply, client-side, twice: the second is a strategic merge patch computed by kubectl.
    let d1 = write_file(dir, &format!("deploy-{ns}.yaml"), &deployment(&ns, 2, "nginx:1.25"));
    assert!(k.ok(&["apply", "-f", d1.to_str().unwrap()]).contains("deployment.apps/web created"));
    let d2 = write_file(dir, &format!("deploy2-{ns}.yaml"), &deployment(&ns, 3, "nginx:1.26"));
    assert!(k.ok(&["apply", "-f", d2.to_str().unwrap()]).contains("configured"));
    let image = k.ok(&[
        "-n",
        &ns,
        "get",
        "deploy",
        "web",
        "-o",
        "jsonpath={.spec.template.spec.containers[0].image} {.spec.replicas} {.spec.template.spec.containers[0].env[0].name}",
    ]);
    assert_eq!(image, "nginx:1.26 3 A");
    let wide = k.ok(&["-n", &ns, "get", "deploy", "-o", "wide"]);
    assert!(wide.contains("CONTAINERS") && wide.contains("nginx:1.26") && wide.contains("app=web"), "{wide}");

    // apply --server-side, twice, with managedFields recorded for the manager.
    let c1 = write_file(dir, &format!("cm-{ns}.yaml"), &configmap(&ns, "settings", "one"));
    k.ok(&["apply", "--server-side", "-f", c1.to_str().unwrap()]);
    let c2 = write_file(dir, &format!("cm2-{ns}.yaml"), &configmap(&ns, "settings", "two"));
    k.ok(&["apply", "--server-side", "-f", c2.to_str().unwrap()]);
    assert_eq!(k.ok(&["-n", &ns, "get", "cm", "settings", "-o", "jsonpath={.data.key}"]), "two");
    let managers = k.ok(&["-n", &ns, "get", "cm", "settings", "--show-managed-fields", "-o", "jsonpath={.metadata.managedFields[*].manager}"]);
    assert!(managers.contains("kubectl"), "{managers}");

    // create, get in every output, describe.
    let p = write_file(dir, &format!("pod-{ns}.yaml"), &pod(&ns, "db-b", "back"));
    k.ok(&["create", "-f", p.to_str().unwrap()]);
    let p2 = write_file(dir, &format!("pod2-{ns}.yaml"), &pod(&ns, "db-a", "front"));
    k.ok(&["create", "-f", p2.to_str().unwrap()]);
    let table = k.ok(&["-n", &ns, "get", "pods"]);
    assert!(table.contains("READY") && table.contains("STATUS") && table.contains("RESTARTS") && table.contains("Pending"), "{table}");
    // The Deployment above owns pods too: the Deployment controller runs in `deltakube up`.
    let json = k.ok(&["-n", &ns, "get", "pods", "-l", "app=db", "-o", "json"]);
    let list: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(list["kind"], "List");
    assert_eq!(list["items"].as_array().unwrap().len(), 2);
    assert!(k.ok(&["-n", &ns, "get", "pod", "db-a", "-o", "yaml"]).contains("kind: Pod"));
    assert_eq!(k.ok(&["-n", &ns, "get", "pods", "-l", "app=db", "--sort-by=.metadata.name", "-o", "jsonpath={.items[*].metadata.name}"]), "db-a db-b");
    let sorted = k.ok(&["-n", &ns, "get", "pods", "--sort-by=.metadata.name"]);
    assert!(sorted.find("db-a").unwrap() < sorted.find("db-b").unwrap(), "{sorted}");
    assert!(k.ok(&["get", "pods", "-A"]).contains(&ns));
    assert!(k.ok(&["-n", &ns, "get", "pods", "--show-labels"]).contains("app=db,tier=front"));
    assert!(k.ok(&["-n", &ns, "get", "pods", "-l", "tier in (front)", "-o", "name"]).trim() == "pod/db-a");
    let wide = k.ok(&["-n", &ns, "get", "pods", "-o", "wide"]);
    assert!(wide.contains("NOMINATED NODE") && wide.contains("NODE"), "{wide}");
    let described = k.ok(&["-n", &ns, "describe", "pod", "db-a"]);
    assert!(described.contains("Name:") && described.contains("busybox:1.36") && described.contains("tier=front"), "{described}");

    // replace, edit with a scripted editor, label, annotate.
    let replaced = pod(&ns, "db-a", "front").replace("tier: front", "tier: front, replaced: 'yes'");
    let r = write_file(dir, &format!("pod3-{ns}.yaml"), &replaced);
    k.ok(&["replace", "-f", r.to_str().unwrap()]);
    assert_eq!(k.ok(&["-n", &ns, "get", "pod", "db-a", "-o", "jsonpath={.metadata.labels.replaced}"]), "yes");
    let editor = write_file(dir, "editor.sh", "#!/bin/sh\nsed -i 's/key: two/key: edited/' \"$1\"\n");
    std::fs::set_permissions(&editor, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let edited = k.command().env("EDITOR", &editor).args(["-n", &ns, "edit", "cm", "settings"]).output().unwrap();
    assert!(edited.status.success(), "edit: {}", String::from_utf8_lossy(&edited.stderr));
    assert_eq!(k.ok(&["-n", &ns, "get", "cm", "settings", "-o", "jsonpath={.data.key}"]), "edited");
    k.ok(&["-n", &ns, "label", "pod", "db-a", "color=blue"]);
    k.ok(&["-n", &ns, "annotate", "pod", "db-a", "note=hello"]);
    assert_eq!(k.ok(&["-n", &ns, "get", "pod", "db-a", "-o", "jsonpath={.metadata.labels.color}/{.metadata.annotations.note}"]), "blue/hello");
    k.ok(&["-n", &ns, "label", "pod", "db-a", "color-"]);
    assert_eq!(k.ok(&["-n", &ns, "get", "pod", "db-a", "-o", "jsonpath={.metadata.labels.color}"]), "");

    // patch, all three client patch types.
    k.ok(&["-n", &ns, "patch", "deploy", "web", "--type=merge", "-p", r#"{"metadata":{"labels":{"merged":"yes"}}}"#]);
    k.ok(&["-n", &ns, "patch", "deploy", "web", "--type=json", "-p", r#"[{"op":"replace","path":"/spec/replicas","value":4}]"#]);
    k.ok(&["-n", &ns, "patch", "deploy", "web", "-p", r#"{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"nginx:1.27"}]}}}}"#]);
    let patched = k.ok(&[
        "-n",
        &ns,
        "get",
        "deploy",
        "web",
        "-o",
        "jsonpath={.metadata.labels.merged} {.spec.replicas} {.spec.template.spec.containers[0].image} {.spec.template.spec.containers[0].env[0].value}",
    ]);
    assert_eq!(patched, "yes 4 nginx:1.27 a", "a strategic merge keeps the container's other fields");

    // scale through the scale subresource.
    k.ok(&["-n", &ns, "scale", "deploy", "web", "--replicas=5"]);
    assert_eq!(k.ok(&["-n", &ns, "get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"]), "5");

    // get -w prints events as they arrive.
    let lines = watch_until(
        &k,
        &["-n", &ns, "get", "configmaps", "-w"],
        || {
            // Another resource's event first: a watch of configmaps must not show it.
            k.ok(&["-n", &ns, "create", "secret", "generic", "other-kind", "--from-literal=a=b"]);
            k.ok_stdin(&["apply", "-f", "-"], &configmap(&ns, "arrives-later", "x"));
        },
        "arrives-later",
    );
    assert!(lines.iter().any(|l| l.contains("arrives-later")), "watch saw: {lines:?}");
    assert!(!lines.iter().any(|l| l.contains("other-kind")), "a configmap watch showed a secret: {lines:?}");

    // Typed creates (kubectl 1.32+ sends these as protobuf).
    k.ok(&["-n", &ns, "create", "configmap", "literal", "--from-literal=a=b"]);
    assert_eq!(k.ok(&["-n", &ns, "get", "cm", "literal", "-o", "jsonpath={.data.a}"]), "b");
    k.ok(&["-n", &ns, "create", "deployment", "typed", "--image=busybox:1.36", "--replicas=2"]);
    assert_eq!(k.ok(&["-n", &ns, "get", "deploy", "typed", "-o", "jsonpath={.spec.replicas} {.spec.selector.matchLabels.app}"]), "2 typed");
    k.ok(&["-n", &ns, "create", "secret", "generic", "creds", "--from-literal=user=admin"]);
    assert_eq!(k.ok(&["-n", &ns, "get", "secret", "creds", "-o", "jsonpath={.data.user}"]), "YWRtaW4=");
    k.ok(&["-n", &ns, "create", "serviceaccount", "robot"]);
    k.ok(&["-n", &ns, "create", "service", "clusterip", "front", "--tcp=80:8080"]);
    let services = k.ok(&["-n", &ns, "get", "svc"]);
    assert!(services.contains("front") && services.contains("80/TCP") && services.contains("CLUSTER-IP"), "{services}");

    // delete, waiting for the object to go.
    k.ok(&["-n", &ns, "delete", "cm", "settings", "--wait"]);
    k.ok(&["-n", &ns, "delete", "pod", "db-b", "--wait"]);
    assert!(k.fails(&["-n", &ns, "get", "pod", "db-b"]).contains("NotFound"));
    assert!(k.ok(&["-n", &ns, "get", "cm", "-o", "name"]).contains("arrives-later"));
}

fn discovery_and_tools(cluster: &Cluster, version: &str) {
    let k = cluster.kubectl(version);
    let apps = k.ok(&["api-resources", "--api-group", "apps"]);
    for (name, short) in [("controllerrevisions", ""), ("daemonsets", "ds"), ("deployments", "deploy"), ("replicasets", "rs"), ("statefulsets", "sts")] {
        let line = apps.lines().find(|l| l.starts_with(name)).unwrap_or_else(|| panic!("{name} missing from:\n{apps}"));
        assert!(line.contains(short), "{line}");
    }
    assert!(k.ok(&["api-versions"]).lines().any(|l| l == "apps/v1"));
    let explain = k.ok(&["explain", "svc.spec"]);
    assert!(explain.contains("ports") && explain.contains("selector"), "{explain}");
    assert_eq!(k.ok(&["auth", "can-i", "create", "pods"]).trim(), "yes");
    let view = k.ok(&["config", "view"]);
    assert!(
        view.contains("certificate-authority-data: DATA+OMITTED")
            && view.contains("client-certificate-data")
            && view.contains(&format!("server: https://127.0.0.1:{}", cluster.port)),
        "{view}"
    );

    // kubectl proxy, then plain curl through it.
    let port = support::free_port().to_string();
    let mut proxy = k.command().args(["proxy", &format!("--port={port}")]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let url = format!("http://localhost:{port}/api/");
    let mut body = String::new();
    let reached = support::eventually(Duration::from_secs(15), || {
        let out = std::process::Command::new("curl").args(["-sS", &url]).output().unwrap();
        body = String::from_utf8_lossy(&out.stdout).into_owned();
        body.contains("APIVersions")
    });
    let _ = proxy.kill();
    let _ = proxy.wait();
    assert!(reached && body.contains("serverAddressByClientCIDRs"), "{body}");
}

fn acceptance(backend: Backend) -> Cluster {
    let cluster = Cluster::start(backend);
    for version in KUBECTL_VERSIONS {
        everyday_commands(&cluster, version);
        discovery_and_tools(&cluster, version);
    }
    cluster
}

#[test]
fn kubectl_works_as_usual_on_the_embedded_store() {
    acceptance(Backend::Embedded);
}

#[test]
fn kubectl_works_as_usual_on_etcd() {
    let cluster = acceptance(Backend::Etcd);
    // Keys and values are upstream's: etcdctl lists the pods (seed §4.3.1).
    let out = std::process::Command::new("etcdctl")
        .env("ETCDCTL_API", "3")
        .args(["--endpoints", cluster.etcd_endpoint().unwrap(), "get", "/registry/pods", "--prefix", "--keys-only"])
        .output()
        .expect("etcdctl is installed by the test command (etcd-client)");
    let keys = String::from_utf8_lossy(&out.stdout);
    assert!(keys.contains("/registry/pods/v127/db-a"), "etcdctl listed: {keys}");
    let out = std::process::Command::new("etcdctl")
        .env("ETCDCTL_API", "3")
        .args(["--endpoints", cluster.etcd_endpoint().unwrap(), "get", "/registry/pods/v127/db-a", "--print-value-only"])
        .output()
        .unwrap();
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).expect("values are JSON");
    assert_eq!(value["kind"], "Pod");
}

fn service_manifest(name: &str, ty: &str, port: u16) -> String {
    format!("apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\nspec:\n  type: {ty}\n  selector:\n    app: {name}\n  ports:\n  - name: {port}-8080\n    port: {port}\n    targetPort: 8080\n")
}

/// Services get ClusterIPs and NodePorts from the ranges the flags give, as upstream's
/// allocators hand them out: requested values are checked, updates keep what was allocated,
/// deletion frees it, and a full range says so.
#[test]
fn services_get_cluster_ips_and_node_ports_from_their_ranges() {
    let cluster = Cluster::start_with(Backend::Embedded, &["--service-cluster-ip-range=10.0.0.0/28", "--service-node-port-range=30000-30004"]);
    let k = cluster.kubectl(KUBECTL_VERSIONS[KUBECTL_VERSIONS.len() - 1]);
    let dir = cluster.dir.path();
    let field = |name: &str, path: &str| k.ok(&["get", "svc", name, "-o", &format!("jsonpath={path}")]);

    k.ok(&["create", "service", "clusterip", "a", "--tcp=80:8080"]);
    let ip_a = field("a", "{.spec.clusterIP}");
    let address: std::net::Ipv4Addr = ip_a.parse().unwrap_or_else(|_| panic!("clusterIP {ip_a:?}"));
    assert!((1..=14).contains(&address.octets()[3]) && address.octets()[..3] == [10, 0, 0], "{ip_a} is in 10.0.0.0/28, not its network or broadcast address");
    assert_eq!(field("a", "{.spec.clusterIPs} {.spec.ipFamilies} {.spec.ipFamilyPolicy}"), format!("[\"{ip_a}\"] [\"IPv4\"] SingleStack"));
    assert!(k.ok(&["get", "svc", "a"]).contains(&ip_a));

    k.ok(&["create", "service", "nodeport", "b", "--tcp=80:8080"]);
    let port_b: u16 = field("b", "{.spec.ports[0].nodePort}").parse().unwrap();
    assert!((30000..=30004).contains(&port_b), "{port_b}");
    assert!(k.ok(&["get", "svc", "b"]).contains(&format!("80:{port_b}/TCP")));

    // What is taken, or out of range, is refused with upstream's words.
    let taken = k.fails(&["create", "service", "clusterip", "c", "--tcp=80:8080", &format!("--clusterip={ip_a}")]);
    assert!(taken.contains(&format!("failed to allocate IP {ip_a}: provided IP is already allocated")), "{taken}");
    let outside = k.fails(&["create", "service", "clusterip", "c", "--tcp=80:8080", "--clusterip=10.1.0.5"]);
    assert!(outside.contains("is not in the valid range. The range of valid IPs is 10.0.0.0/28"), "{outside}");
    let port_taken = k.fails(&["create", "service", "nodeport", "d", "--tcp=81:8080", &format!("--node-port={port_b}")]);
    assert!(port_taken.contains("provided port is already allocated"), "{port_taken}");
    let port_outside = k.fails(&["create", "service", "nodeport", "d", "--tcp=81:8080", "--node-port=31000"]);
    assert!(port_outside.contains("The range of valid ports is 30000-30004"), "{port_outside}");

    // Updates keep what was allocated; the ClusterIP cannot change.
    let replaced = write_file(dir, "b.yaml", &service_manifest("b", "NodePort", 80));
    k.ok(&["replace", "-f", replaced.to_str().unwrap()]);
    assert_eq!(field("b", "{.spec.ports[0].nodePort}"), port_b.to_string(), "a replace without nodePort keeps it, by the port's name");
    assert!(!field("b", "{.spec.clusterIPs[0]}").is_empty());
    // Any other address of the range will do; it must differ from the one `a` was given.
    let other_ip = if ip_a == "10.0.0.3" { "10.0.0.4" } else { "10.0.0.3" };
    let change = format!(r#"{{"spec":{{"clusterIP":"{other_ip}","clusterIPs":["{other_ip}"]}}}}"#);
    let immutable = k.fails(&["patch", "svc", "a", "--type=merge", "-p", &change]);
    assert!(immutable.contains(&format!("spec.clusterIPs[0]: Invalid value: []string{{\"{other_ip}\"}}: may not change once set")), "{immutable}");
    k.ok(&["patch", "svc", "b", "--type=merge", "-p", r#"{"spec":{"type":"ClusterIP"}}"#]);
    assert_eq!(field("b", "{.spec.ports[0].nodePort}"), "", "a ClusterIP Service has no nodePort");

    // Headless Services get no address.
    k.ok(&["create", "service", "clusterip", "h", "--clusterip=None"]);
    assert_eq!(field("h", "{.spec.clusterIP}"), "None");

    // A /28 has 14 addresses: a and b hold two, so 12 more fit and the 13th does not.
    let many: String = (0..12).map(|i| format!("---\n{}", service_manifest(&format!("s{i}"), "ClusterIP", 80))).collect();
    k.ok_stdin(&["create", "-f", "-"], &many);
    let full = k.fails(&["create", "service", "clusterip", "overflow", "--tcp=80:8080"]);
    assert!(full.contains("Internal error occurred: failed to allocate a serviceIP: range is full"), "{full}");
    let ips = k.ok(&["get", "svc", "-o", "jsonpath={.items[*].spec.clusterIP}"]);
    let mut distinct: Vec<&str> = ips.split_whitespace().filter(|ip| *ip != "None").collect();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 14, "every Service has its own address: {ips}");

    // Deleting a Service frees its address at once.
    k.ok(&["delete", "svc", "a", "--wait"]);
    k.ok(&["create", "service", "clusterip", "c", "--tcp=80:8080", &format!("--clusterip={ip_a}")]);

    // One port number over two protocols shares a NodePort.
    k.ok(&["delete", "svc", "b"]);
    let dns = "apiVersion: v1\nkind: Service\nmetadata:\n  name: dns\nspec:\n  type: NodePort\n  selector:\n    app: dns\n  ports:\n  \
               - name: udp\n    port: 53\n    protocol: UDP\n  - name: tcp\n    port: 53\n    protocol: TCP\n";
    k.ok_stdin(&["create", "-f", "-"], dns);
    let ports = field("dns", "{.spec.ports[0].nodePort} {.spec.ports[1].nodePort}");
    let (udp, tcp) = ports.split_once(' ').unwrap();
    assert!(!udp.is_empty() && udp == tcp, "{ports}");
    // A headless Service of type NodePort is refused as upstream refuses it.
    let headless = k.run_with_stdin(
        &["create", "-f", "-"],
        Some(&service_manifest("hn", "NodePort", 80).replace("  type: NodePort\n", "  type: NodePort\n  clusterIP: None\n")),
    );
    assert!(
        !headless.ok && headless.stderr.contains("spec.clusterIPs[0]: Invalid value: \"None\": may not be set to 'None' for NodePort services"),
        "{headless:?}"
    );
}
