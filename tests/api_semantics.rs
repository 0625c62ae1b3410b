//! API semantics a Kubernetes user relies on, checked through curl and kubectl against the
//! real binary: paging, compaction and 410, finalizers, deletecollection, dry run, field
//! validation warnings, server-side apply conflicts, generateName, NamespaceLifecycle, and
//! the status and scale subresources.

mod support;

use std::time::Duration;

use serde_json::{json, Value};
use support::{Backend, Cluster};

/// Sends a request with the admin certificate; returns (code, body as JSON).
fn call(cluster: &Cluster, method: &str, path: &str, body: Option<&Value>, content_type: &str) -> (u16, Value) {
    let url = format!("{}{path}", cluster.url());
    let mut args = vec!["-w", "\n%{http_code}", "-X", method, "-H"];
    let header = format!("Content-Type: {content_type}");
    args.push(&header);
    let text;
    if let Some(b) = body {
        text = b.to_string();
        args.push("--data-binary");
        args.push(&text);
    }
    args.push(&url);
    let out = cluster.curl(&args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let (body, code) = stdout.rsplit_once('\n').unwrap_or(("", &stdout));
    (code.trim().parse().unwrap_or(0), serde_json::from_str(body).unwrap_or(Value::Null))
}

fn cm(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": {"app": "paged"}}, "data": {"k": name}})
}

const CMS: &str = "/api/v1/namespaces/default/configmaps";

#[test]
fn lists_page_with_limit_and_continue() {
    let cluster = Cluster::start(Backend::Embedded);
    for i in 0..7 {
        assert_eq!(call(&cluster, "POST", CMS, Some(&cm(&format!("c{i}"))), "application/json").0, 201);
    }
    let mut names = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        // The selector leaves out kube-root-ca.crt, which the token controller publishes.
        let path = match &token {
            Some(t) => format!("{CMS}?labelSelector=app%3Dpaged&limit=3&continue={t}"),
            None => format!("{CMS}?labelSelector=app%3Dpaged&limit=3"),
        };
        let (code, page) = call(&cluster, "GET", &path, None, "application/json");
        assert_eq!(code, 200, "{page}");
        pages += 1;
        names.extend(page["items"].as_array().unwrap().iter().map(|o| o["metadata"]["name"].as_str().unwrap().to_string()));
        // A write between pages must not show up: pages read at the first page's revision.
        if pages == 1 {
            call(&cluster, "POST", CMS, Some(&cm("c9-late")), "application/json");
        }
        match page["metadata"]["continue"].as_str() {
            Some(t) if !t.is_empty() => token = Some(t.to_string()),
            _ => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(names, (0..7).map(|i| format!("c{i}")).collect::<Vec<_>>());
    let (code, status) = call(&cluster, "GET", &format!("{CMS}?limit=3&continue=bm90LWEtdG9rZW4"), None, "application/json");
    assert_eq!((code, status["reason"].as_str()), (400, Some("BadRequest")));
}

#[test]
fn compacted_revisions_answer_410_expired() {
    let mut cluster = Cluster::start_with(Backend::Embedded, &["--etcd-compaction-interval=1s"]);
    let (_, first) = call(&cluster, "POST", CMS, Some(&cm("old")), "application/json");
    let old_rv = first["metadata"]["resourceVersion"].as_str().unwrap().to_string();
    for i in 0..3 {
        call(&cluster, "POST", CMS, Some(&cm(&format!("newer{i}"))), "application/json");
    }
    // Two ticks of the compactor move the compacted revision past `old_rv`.
    std::thread::sleep(Duration::from_millis(3500));
    let (code, status) = call(&cluster, "GET", &format!("{CMS}?resourceVersion={old_rv}&resourceVersionMatch=Exact"), None, "application/json");
    assert_eq!((code, status["reason"].as_str()), (410, Some("Expired")), "{status}");
    // After a restart the watch cache starts fresh, so an old watch goes to the store: 410.
    cluster.kill();
    cluster.launch();
    let out = cluster.curl(&["--max-time", "3", &format!("{}{CMS}?watch=true&resourceVersion={old_rv}", cluster.url())]);
    let first_line = String::from_utf8_lossy(&out.stdout).lines().next().unwrap_or("").to_string();
    let event: Value = serde_json::from_str(&first_line).unwrap_or_else(|_| panic!("watch printed {first_line:?}"));
    assert_eq!(event["type"], "ERROR");
    assert_eq!(event["object"]["code"], 410);
    assert_eq!(event["object"]["reason"], "Expired");
}

#[test]
fn finalizers_hold_deletion_until_removed() {
    let cluster = Cluster::start(Backend::Embedded);
    let mut held = cm("held");
    held["metadata"]["finalizers"] = json!(["example.com/hold"]);
    assert_eq!(call(&cluster, "POST", CMS, Some(&held), "application/json").0, 201);
    let (code, marked) = call(&cluster, "DELETE", &format!("{CMS}/held"), Some(&json!({"kind": "DeleteOptions", "apiVersion": "v1"})), "application/json");
    assert_eq!(code, 200);
    assert!(marked["metadata"]["deletionTimestamp"].is_string(), "{marked}");
    let (code, still) = call(&cluster, "GET", &format!("{CMS}/held"), None, "application/json");
    assert_eq!(code, 200);
    assert!(still["metadata"]["deletionTimestamp"].is_string());
    let (code, _) = call(&cluster, "PATCH", &format!("{CMS}/held"), Some(&json!({"metadata": {"finalizers": null}})), "application/merge-patch+json");
    assert_eq!(code, 200);
    assert_eq!(call(&cluster, "GET", &format!("{CMS}/held"), None, "application/json").0, 404);

    // Preconditions: a stale uid is a conflict.
    call(&cluster, "POST", CMS, Some(&cm("pre")), "application/json");
    let (code, _) = call(&cluster, "DELETE", &format!("{CMS}/pre"), Some(&json!({"preconditions": {"uid": "not-the-uid"}})), "application/json");
    assert_eq!(code, 409);
}

#[test]
fn deletecollection_honours_the_label_selector() {
    let cluster = Cluster::start(Backend::Embedded);
    for i in 0..3 {
        call(&cluster, "POST", CMS, Some(&cm(&format!("gone{i}"))), "application/json");
    }
    let mut keep = cm("kept");
    keep["metadata"]["labels"] = json!({"app": "other"});
    call(&cluster, "POST", CMS, Some(&keep), "application/json");
    let (code, deleted) = call(&cluster, "DELETE", &format!("{CMS}?labelSelector=app%3Dpaged"), None, "application/json");
    assert_eq!(code, 200);
    assert_eq!(deleted["items"].as_array().unwrap().len(), 3);
    let (_, left) = call(&cluster, "GET", CMS, None, "application/json");
    // kube-root-ca.crt is the token controller's, in every namespace; the rest is ours.
    let names: Vec<_> = left["items"].as_array().unwrap().iter().map(|o| o["metadata"]["name"].clone()).filter(|n| n != "kube-root-ca.crt").collect();
    assert_eq!(names, vec![json!("kept")]);
}

#[test]
fn kubectl_dry_run_validation_warnings_conflicts_and_generate_name() {
    let cluster = Cluster::start(Backend::Embedded);
    let k = cluster.kubectl("1.33");
    // dry run on the server stores nothing.
    k.ok(&["create", "configmap", "dry", "--from-literal=a=b", "--dry-run=server"]);
    assert!(k.fails(&["get", "cm", "dry"]).contains("NotFound"));

    // Warn: the object is stored and kubectl prints the server's warning.
    let typo = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: warned\ndata:\n  a: b\nbogusField: 1\n";
    let r = k.run_with_stdin(&["apply", "--validate=warn", "-f", "-"], Some(typo));
    assert!(r.ok, "{}", r.stderr);
    assert!(r.stderr.contains("unknown field \"bogusField\""), "{}", r.stderr);
    // Strict (kubectl's default): refused with a clear error.
    let r = k.run_with_stdin(&["apply", "-f", "-"], Some(&typo.replace("warned", "strict")));
    assert!(!r.ok && r.stderr.contains("unknown field \"bogusField\""), "{}", r.stderr);

    // Server-side apply: another manager changing an owned field conflicts, unless forced.
    let applied = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: owned\ndata:\n  key: one\n";
    k.ok_stdin(&["apply", "--server-side", "--field-manager=alice", "-f", "-"], applied);
    let r = k.run_with_stdin(&["apply", "--server-side", "--field-manager=bob", "-f", "-"], Some(&applied.replace("one", "two")));
    assert!(!r.ok && r.stderr.contains("conflict") && r.stderr.contains("alice"), "{}", r.stderr);
    k.ok_stdin(&["apply", "--server-side", "--field-manager=bob", "--force-conflicts", "-f", "-"], &applied.replace("one", "two"));
    assert_eq!(k.ok(&["get", "cm", "owned", "-o", "jsonpath={.data.key}"]), "two");

    // generateName.
    let out = k.ok_stdin(&["create", "-o", "name", "-f", "-"], "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  generateName: gen-\n");
    let name = out.trim().trim_start_matches("configmap/");
    assert!(name.starts_with("gen-") && name.len() == "gen-".len() + 5, "{name}");
}

#[test]
fn namespace_lifecycle_refuses_missing_and_terminating_namespaces() {
    let cluster = Cluster::start(Backend::Embedded);
    let (code, status) = call(&cluster, "POST", "/api/v1/namespaces/nowhere/configmaps", Some(&cm("x")), "application/json");
    assert_eq!((code, status["reason"].as_str()), (404, Some("NotFound")), "{status}");
    assert_eq!(status["message"], "namespaces \"nowhere\" not found");
    call(&cluster, "POST", "/api/v1/namespaces", Some(&json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "leaving"}})), "application/json");
    // Content with a finalizer holds the namespace in Terminating: the namespace controller
    // cannot finish until someone removes it.
    let mut held = cm("held");
    held["metadata"]["finalizers"] = json!(["example.com/hold"]);
    assert_eq!(call(&cluster, "POST", "/api/v1/namespaces/leaving/configmaps", Some(&held), "application/json").0, 201);
    let (code, ns) = call(&cluster, "DELETE", "/api/v1/namespaces/leaving", None, "application/json");
    assert_eq!(code, 200);
    assert_eq!(ns["status"]["phase"], "Terminating");
    let (code, status) = call(&cluster, "POST", "/api/v1/namespaces/leaving/configmaps", Some(&cm("x")), "application/json");
    assert_eq!((code, status["reason"].as_str()), (403, Some("Forbidden")), "{status}");
    assert!(status["message"].as_str().unwrap().contains("because it is being terminated"));
    // Releasing the content lets the namespace go.
    call(&cluster, "PATCH", "/api/v1/namespaces/leaving/configmaps/held", Some(&json!({"metadata": {"finalizers": null}})), "application/merge-patch+json");
    assert!(support::eventually(Duration::from_secs(15), || call(&cluster, "GET", "/api/v1/namespaces/leaving", None, "application/json").0 == 404));
}

#[test]
fn status_and_scale_subresources() {
    let cluster = Cluster::start(Backend::Embedded);
    let deploy = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}});
    let base = "/apis/apps/v1/namespaces/default/deployments";
    let (code, created) = call(&cluster, "POST", base, Some(&deploy), "application/json");
    assert_eq!(code, 201);
    assert_eq!(created["metadata"]["generation"], 1);
    // The main resource ignores status; /status changes only status. The Deployment
    // controller writes status too (2 replicas), so the check is that 9 never lands.
    let (_, patched) = call(&cluster, "PATCH", &format!("{base}/web"), Some(&json!({"status": {"replicas": 9}})), "application/merge-patch+json");
    assert_ne!(patched["status"]["replicas"].as_i64(), Some(9), "{patched}");
    let (code, patched) = call(
        &cluster,
        "PATCH",
        &format!("{base}/web/status"),
        Some(&json!({"status": {"replicas": 2}, "spec": {"replicas": 7}})),
        "application/merge-patch+json",
    );
    assert_eq!(code, 200);
    assert_eq!((patched["status"]["replicas"].as_i64(), patched["spec"]["replicas"].as_i64()), (Some(2), Some(2)));
    assert_eq!(patched["metadata"]["generation"], 1, "a status write does not bump generation");
    // Scale. The Deployment controller owns status and may write what it has observed so far
    // (no pods yet: 0) after the patch above; its status settles at the 2 pods its ReplicaSet
    // creates.
    let scale_of = || call(&cluster, "GET", &format!("{base}/web/scale"), None, "application/json");
    assert!(support::eventually(Duration::from_secs(15), || scale_of().1["status"]["replicas"].as_i64() == Some(2)));
    let (code, scale) = scale_of();
    assert_eq!(code, 200);
    assert_eq!((scale["kind"].as_str(), scale["apiVersion"].as_str()), (Some("Scale"), Some("autoscaling/v1")));
    assert_eq!((scale["spec"]["replicas"].as_i64(), scale["status"]["replicas"].as_i64()), (Some(2), Some(2)));
    assert_eq!(scale["status"]["selector"], "app=web");
    let (code, scale) = call(&cluster, "PATCH", &format!("{base}/web/scale"), Some(&json!({"spec": {"replicas": 4}})), "application/merge-patch+json");
    assert_eq!((code, scale["spec"]["replicas"].as_i64()), (200, Some(4)));
    let (_, d) = call(&cluster, "GET", &format!("{base}/web"), None, "application/json");
    assert_eq!((d["spec"]["replicas"].as_i64(), d["metadata"]["generation"].as_i64()), (Some(4), Some(2)));
}

#[test]
fn concurrent_patches_without_a_resource_version_all_land() {
    // Upstream re-applies a patch that lost a race with another writer; only a patch that
    // names a resourceVersion may answer 409. Four writers patch one object at once.
    let cluster = Cluster::start(Backend::Embedded);
    let base = "/api/v1/namespaces/default/configmaps";
    assert_eq!(call(&cluster, "POST", base, Some(&cm("shared")), "application/json").0, 201);
    let path = format!("{base}/shared");
    std::thread::scope(|scope| {
        for writer in 0..4 {
            let (cluster, path) = (&cluster, &path);
            scope.spawn(move || {
                for i in 0..10 {
                    let patch = json!({"data": {format!("w{writer}-{i}"): "x"}});
                    let (code, body) = call(cluster, "PATCH", path, Some(&patch), "application/merge-patch+json");
                    assert_eq!(code, 200, "{body}");
                }
            });
        }
    });
    let (_, shared) = call(&cluster, "GET", &path, None, "application/json");
    // Forty patched keys beside the `k` that `cm` starts with.
    assert_eq!(shared["data"].as_object().map(|d| d.len()), Some(41), "{shared}");
    // A patch pinned to a stale resourceVersion is a precondition and still fails.
    let stale = json!({"metadata": {"resourceVersion": "1"}, "data": {"late": "x"}});
    let (code, status) = call(&cluster, "PATCH", &path, Some(&stale), "application/merge-patch+json");
    assert_eq!((code, status["reason"].as_str()), (409, Some("Conflict")), "{status}");
}

#[test]
fn a_binding_places_a_pod_once_and_only_the_pod_it_names() {
    let cluster = Cluster::start(Backend::Embedded);
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}});
    let (code, created) = call(&cluster, "POST", "/api/v1/namespaces/default/pods", Some(&pod), "application/json");
    assert_eq!(code, 201, "{created}");
    let uid = created["metadata"]["uid"].as_str().unwrap().to_string();
    let binding = |uid: &str, node: &str| json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "p", "uid": uid}, "target": {"apiVersion": "v1", "kind": "Node", "name": node}});
    let path = "/api/v1/namespaces/default/pods/p/binding";
    // A binding decided for an earlier pod of the same name is refused.
    let (code, status) = call(&cluster, "POST", path, Some(&binding("not-this-pod", "n1")), "application/json");
    assert_eq!((code, status["reason"].as_str()), (409, Some("Conflict")), "{status}");
    assert!(status["message"].as_str().unwrap().contains("UID in precondition: not-this-pod"), "{status}");
    let (code, status) = call(&cluster, "POST", path, Some(&binding(&uid, "n1")), "application/json");
    assert_eq!(code, 201, "{status}");
    let (_, placed) = call(&cluster, "GET", "/api/v1/namespaces/default/pods/p", None, "application/json");
    assert_eq!(placed["spec"]["nodeName"], "n1");
    // A second binding never moves it.
    let (code, status) = call(&cluster, "POST", path, Some(&binding(&uid, "n2")), "application/json");
    assert_eq!(code, 409, "{status}");
    assert!(status["message"].as_str().unwrap().contains("already assigned to node \"n1\""), "{status}");
}
