//! Tests of [`super`]: server-side apply and managedFields bookkeeping, in the flows real
//! kubectl produces (create, client-side apply, `--server-side`, edit, forced takeover).
//! Expected `fieldsV1` documents are those a 1.33 API server stores for the same requests.

use super::*;
use serde_json::json;

const T0: &str = "2024-05-01T10:00:00Z";
const T1: &str = "2024-05-01T10:05:00Z";

fn entries(obj: &Value) -> Vec<Value> {
    obj.pointer("/metadata/managedFields").and_then(Value::as_array).cloned().unwrap_or_default()
}

fn entry(obj: &Value, manager: &str, operation: &str) -> Value {
    entries(obj)
        .into_iter()
        .find(|e| e["manager"] == manager && e["operation"] == operation)
        .unwrap_or_else(|| panic!("no {operation} entry for {manager} in {obj}"))
}

fn owns(obj: &Value, manager: &str, operation: &str, fields_v1_path: &str) -> bool {
    entry(obj, manager, operation)["fieldsV1"].pointer(fields_v1_path).is_some()
}

fn config(replicas: i64, image: &str) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": image, "ports": [{"containerPort": 80}]}]}
            }
        }
    })
}

fn stored(mut v: Value) -> Value {
    let meta = v["metadata"].as_object_mut().unwrap();
    meta.insert("uid".into(), json!("0b7c"));
    meta.insert("resourceVersion".into(), json!("7"));
    v
}

#[test]
fn kubectl_create_records_upstream_fields_v1() {
    let mut new = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "nginx", "namespace": "default", "uid": "u1", "resourceVersion": "1", "generation": 1,
                     "creationTimestamp": "2024-01-01T00:00:00Z", "labels": {"app": "nginx"}},
        "spec": {
            "replicas": 1, "selector": {"matchLabels": {"app": "nginx"}},
            "template": {
                "metadata": {"labels": {"app": "nginx"}, "creationTimestamp": null},
                "spec": {
                    "containers": [{"name": "nginx", "image": "nginx", "resources": {}, "imagePullPolicy": "Always",
                                    "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File"}],
                    "restartPolicy": "Always", "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst",
                    "securityContext": {}, "schedulerName": "default-scheduler"
                }
            },
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
            "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600
        },
        "status": {}
    });
    record_update("Deployment", None, &mut new, "kubectl-create", T0);
    let container = json!({".": {}, "f:image": {}, "f:imagePullPolicy": {}, "f:name": {}, "f:resources": {},
                           "f:terminationMessagePath": {}, "f:terminationMessagePolicy": {}});
    let expected = json!([{
        "manager": "kubectl-create", "operation": "Update", "apiVersion": "apps/v1", "time": T0, "fieldsType": "FieldsV1",
        "fieldsV1": {
            "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
            "f:spec": {
                "f:progressDeadlineSeconds": {}, "f:replicas": {}, "f:revisionHistoryLimit": {}, "f:selector": {},
                "f:strategy": {"f:rollingUpdate": {".": {}, "f:maxSurge": {}, "f:maxUnavailable": {}}, "f:type": {}},
                "f:template": {
                    "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
                    "f:spec": {
                        "f:containers": {"k:{\"name\":\"nginx\"}": container},
                        "f:dnsPolicy": {}, "f:restartPolicy": {}, "f:schedulerName": {}, "f:securityContext": {},
                        "f:terminationGracePeriodSeconds": {}
                    }
                }
            }
        }
    }]);
    assert_eq!(new["metadata"]["managedFields"], expected);
}

#[test]
fn apply_creates_with_apply_entry() {
    let out = server_side_apply("Deployment", None, &config(2, "nginx:1"), "ci", false, T0).unwrap();
    let port = json!({".": {}, "f:containerPort": {}});
    let expected = json!({
        "f:metadata": {"f:labels": {"f:app": {}}},
        "f:spec": {"f:replicas": {}, "f:selector": {}, "f:template": {
            "f:metadata": {"f:labels": {"f:app": {}}},
            "f:spec": {"f:containers": {"k:{\"name\":\"web\"}": {
                ".": {}, "f:image": {}, "f:name": {},
                "f:ports": {"k:{\"containerPort\":80,\"protocol\":\"TCP\"}": port}
            }}}
        }}
    });
    let e = entry(&out, "ci", "Apply");
    assert_eq!((&e["apiVersion"], &e["time"], &e["fieldsType"]), (&json!("apps/v1"), &json!(T0), &json!("FieldsV1")));
    assert_eq!(e["fieldsV1"], expected);
    assert_eq!(out["spec"]["replicas"], 2);
    assert_eq!(entries(&out).len(), 1);
    // Re-applying the same configuration changes nothing, not even the entry's time.
    let again = server_side_apply("Deployment", Some(&stored(out)), &config(2, "nginx:1"), "ci", false, T1).unwrap();
    assert_eq!(entry(&again, "ci", "Apply")["time"], T0);
}

#[test]
fn conflicts_shared_ownership_and_force() {
    let mut live = stored(config(3, "nginx:1"));
    record_update("Deployment", None, &mut live, "kubectl-client-side-apply", T0);
    let change = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {"replicas": 5}});
    let err = server_side_apply("Deployment", Some(&live), &change, "ci", false, T1).unwrap_err();
    assert_eq!(err.to_string(), "Apply failed with 1 conflict: conflict with \"kubectl-client-side-apply\" using apps/v1: .spec.replicas");
    let ApplyError::Conflict(conflicts) = err else { panic!() };
    assert_eq!((conflicts[0].manager.as_str(), conflicts[0].field_path.as_str()), ("kubectl-client-side-apply", ".spec.replicas"));
    // Same value: no conflict, both own the field.
    let same = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {"replicas": 3}});
    let out = server_side_apply("Deployment", Some(&live), &same, "ci", false, T1).unwrap();
    assert!(owns(&out, "ci", "Apply", "/f:spec/f:replicas"));
    assert!(owns(&out, "kubectl-client-side-apply", "Update", "/f:spec/f:replicas"));
    // Forced: the field changes owner.
    let out = server_side_apply("Deployment", Some(&live), &change, "ci", true, T1).unwrap();
    assert_eq!(out["spec"]["replicas"], 5);
    assert!(owns(&out, "ci", "Apply", "/f:spec/f:replicas"));
    assert!(!owns(&out, "kubectl-client-side-apply", "Update", "/f:spec/f:replicas"));
    assert!(owns(&out, "kubectl-client-side-apply", "Update", "/f:spec/f:selector"));
    // Sorted like upstream: Apply before Update.
    assert_eq!(entries(&out).iter().map(|e| e["operation"].clone()).collect::<Vec<_>>(), [json!("Apply"), json!("Update")]);
}

#[test]
fn fields_dropped_from_the_config_are_removed_unless_owned_elsewhere() {
    let mut cfg = config(2, "nginx:1");
    cfg["metadata"]["labels"] = json!({"app": "web", "a": "1", "b": "2"});
    cfg["spec"]["template"]["spec"]["containers"] = json!([{"name": "web", "image": "nginx:1"}, {"name": "log", "image": "fluent"}]);
    let live = stored(server_side_apply("Deployment", None, &cfg, "ci", false, T0).unwrap());
    // Another applier also sets label b.
    let other = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "labels": {"b": "2"}}});
    let live = server_side_apply("Deployment", Some(&live), &other, "other", false, T0).unwrap();
    let mut next = cfg.clone();
    next["metadata"]["labels"] = json!({"app": "web"});
    next["spec"]["template"]["spec"]["containers"] = json!([{"name": "web", "image": "nginx:1"}]);
    let out = server_side_apply("Deployment", Some(&live), &next, "ci", false, T1).unwrap();
    assert_eq!(out["metadata"]["labels"], json!({"app": "web", "b": "2"}), "a pruned, b still owned by other");
    assert_eq!(out["spec"]["template"]["spec"]["containers"], json!([{"name": "web", "image": "nginx:1"}]));
    assert!(!owns(&out, "ci", "Apply", "/f:metadata/f:labels/f:a"));
}

#[test]
fn updates_take_ownership_and_later_applies_conflict() {
    let live = stored(server_side_apply("Deployment", None, &config(2, "nginx:1"), "ci", false, T0).unwrap());
    let mut edited = live.clone();
    edited["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:2");
    record_update("Deployment", Some(&live), &mut edited, "kubectl-edit", T1);
    let image = "/f:spec/f:template/f:spec/f:containers/k:{\"name\":\"web\"}/f:image";
    assert!(owns(&edited, "kubectl-edit", "Update", image));
    assert!(!owns(&edited, "ci", "Apply", image));
    assert_eq!(entry(&edited, "kubectl-edit", "Update")["time"], T1);
    let err = server_side_apply("Deployment", Some(&edited), &config(2, "nginx:1"), "ci", false, T1).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Apply failed with 1 conflict: conflict with \"kubectl-edit\" using apps/v1: .spec.template.spec.containers[name=\"web\"].image"
    );
    // An unchanged write records nothing new.
    let mut same = edited.clone();
    record_update("Deployment", Some(&edited), &mut same, "someone", T1);
    assert_eq!(entries(&same), entries(&edited));
}

#[test]
fn kubectl_server_side_takes_over_client_side_apply_fields() {
    let mut first = config(3, "nginx:1");
    let last_applied = format!("{}\n", first);
    first["metadata"]["annotations"] = json!({ "kubectl.kubernetes.io/last-applied-configuration": last_applied });
    let mut live = stored(first);
    record_update("Deployment", None, &mut live, "kubectl-client-side-apply", T0);
    let out = server_side_apply("Deployment", Some(&live), &config(4, "nginx:1"), "kubectl", false, T1).unwrap();
    assert_eq!(out["spec"]["replicas"], 4);
    let ann = out["metadata"]["annotations"][LAST_APPLIED].as_str().unwrap();
    assert!(ann.ends_with('\n') && ann.contains("\"replicas\":4"), "{ann}");
    assert!(server_side_apply("Deployment", Some(&live), &config(4, "nginx:1"), "other", false, T1).is_err());
}

#[test]
fn tracking_starts_on_create_or_first_apply() {
    let untracked = stored(config(1, "nginx:1"));
    let mut updated = untracked.clone();
    updated["spec"]["replicas"] = json!(2);
    record_update("Deployment", Some(&untracked), &mut updated, "kubectl-scale", T0);
    assert!(updated["metadata"].get("managedFields").is_none(), "existing untracked objects stay untracked");
    let out = server_side_apply("Deployment", Some(&untracked), &config(1, "nginx:1"), "ci", false, T1).unwrap();
    let image = "/f:spec/f:template/f:spec/f:containers/k:{\"name\":\"web\"}/f:image";
    assert!(owns(&out, "before-first-apply", "Update", image) && owns(&out, "ci", "Apply", image));
    let err = server_side_apply("Deployment", Some(&untracked), &config(1, "nginx:2"), "ci", false, T1).unwrap_err();
    assert!(err.to_string().contains("conflict with \"before-first-apply\" using apps/v1"), "{err}");
}

#[test]
fn status_belongs_to_the_status_subresource() {
    let mut created = stored(config(1, "nginx:1"));
    created["status"] = json!({"replicas": 0});
    record_update("Deployment", None, &mut created, "kubectl-create", T0);
    assert!(entry(&created, "kubectl-create", "Update")["fieldsV1"].get("f:status").is_none());
    let mut status = created.clone();
    status["status"] = json!({"replicas": 1, "conditions": [{"type": "Available", "status": "True"}]});
    status["spec"]["replicas"] = json!(9);
    record_update_subresource("Deployment", Some(&created), &mut status, "kube-controller-manager", "status", T1);
    let e = entry(&status, "kube-controller-manager", "Update");
    assert_eq!(e["subresource"], "status");
    assert_eq!(
        e["fieldsV1"],
        json!({"f:status": {"f:conditions": {".": {}, "k:{\"type\":\"Available\"}": {".": {}, "f:status": {}, "f:type": {}}}, "f:replicas": {}}})
    );
    // Applied status is neither merged nor owned.
    let mut cfg = config(9, "nginx:1");
    cfg["status"] = json!({"replicas": 5});
    let out = server_side_apply("Deployment", Some(&status), &cfg, "ci", false, T1).unwrap();
    assert_eq!(out["status"]["replicas"], 1);
    assert!(entry(&out, "ci", "Apply")["fieldsV1"].get("f:status").is_none());
}

#[test]
fn no_more_than_ten_update_managers() {
    let mut obj = stored(config(1, "nginx:1"));
    record_update("Deployment", None, &mut obj, "creator", "2024-05-01T09:00:00Z");
    for i in 0..12 {
        let old = obj.clone();
        obj["metadata"]["labels"][format!("l{i}")] = json!("x");
        record_update("Deployment", Some(&old), &mut obj, &format!("m{i:02}"), &format!("2024-05-01T10:{i:02}:00Z"));
    }
    let all = entries(&obj);
    assert_eq!(all.len(), 10);
    assert!(all.iter().any(|e| e["manager"] == "ancient-changes"));
    assert!(owns(&obj, "m11", "Update", "/f:metadata/f:labels/f:l11"));
}

#[test]
fn malformed_input_is_rejected() {
    let apply = |cfg: Value| server_side_apply("Deployment", None, &cfg, "ci", false, T0).unwrap_err();
    assert!(matches!(apply(json!([])), ApplyError::BadRequest(_)));
    assert!(matches!(apply(json!({"apiVersion": "v1", "kind": "Pod"})), ApplyError::BadRequest(_)));
    let mut with_mf = config(1, "x");
    with_mf["metadata"]["managedFields"] = json!([]);
    assert_eq!(apply(with_mf), ApplyError::BadRequest("metadata.managedFields must be nil".into()));
    let mut no_key = config(1, "x");
    no_key["spec"]["template"]["spec"]["containers"] = json!([{"image": "x"}]);
    assert!(matches!(apply(no_key), ApplyError::BadRequest(m) if m.contains("omits key field")));
    let mut dup = config(1, "x");
    dup["spec"]["template"]["spec"]["containers"] = json!([{"name": "a"}, {"name": "a"}]);
    assert!(matches!(apply(dup), ApplyError::BadRequest(m) if m.contains("duplicate entries")));
    let mut live = stored(config(1, "x"));
    live["metadata"]["managedFields"] = json!([{"manager": "x", "operation": "Patch", "apiVersion": "v1"}]);
    let err = server_side_apply("Deployment", Some(&live), &config(1, "x"), "ci", false, T0).unwrap_err();
    assert!(matches!(err, ApplyError::InvalidManagedFields(_)));
    // record_update never fails: bad entries are dropped.
    let mut new = live.clone();
    record_update("Deployment", Some(&live), &mut new, "m", T0);
    assert!(new["metadata"].get("managedFields").is_none());
}

#[test]
fn unknown_kinds_use_a_deduced_schema() {
    let cr = json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
                    "spec": {"size": 3, "items": [{"name": "a"}]}});
    let out = server_side_apply("Widget", None, &cr, "ci", false, T0).unwrap();
    let fields = &entry(&out, "ci", "Apply")["fieldsV1"];
    assert_eq!(fields["f:spec"], json!({".": {}, "f:items": {}, "f:size": {}}));
    assert_eq!(unix_seconds("2024-05-01T12:00:00+02:00"), unix_seconds("2024-05-01T10:00:00Z"));
    assert_eq!(unix_seconds("1970-01-02T00:00:00.5Z"), 86_400);
    assert_eq!(seconds_precision("2024-05-01T10:00:00.123456Z"), "2024-05-01T10:00:00Z");
    assert_eq!(seconds_precision("2024-05-01T10:00:00.1+02:00"), "2024-05-01T10:00:00+02:00");
    assert_eq!(seconds_precision("bogus"), "bogus");
}

/// A create's entry computed the long way: the comparison against nothing, as for any write.
fn created_uncached(kind: &str, obj: &Value, manager: &str) -> Value {
    let mut obj = obj.clone();
    let ty = Schema::builtin().kind(kind);
    let api_version = str_field(&obj, &["apiVersion"]).unwrap_or_default().to_string();
    let mut managed = Managed::new();
    let new_clean = obj.clone();
    update_managed(&mut managed, ty, &json!({}), &new_clean, id_for(manager, "Update", &api_version, ""), T0, reset_fields(ty, ""));
    encode(&mut obj, managed);
    obj
}

#[test]
fn a_create_remembered_by_shape_records_what_the_comparison_records() {
    let pod = |name: &str, image: &str, extra: Value| {
        let mut p = json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default", "labels": {"app": name}, "annotations": {}, "finalizers": ["a/b", "c/d"]},
            "spec": {"containers": [{"name": "c", "image": image, "ports": [{"containerPort": 80, "protocol": "TCP"}],
                                     "resources": {"requests": {"cpu": "100m"}}, "args": []}],
                     "nodeSelector": null, "tolerations": [{"key": "k", "operator": "Exists"}], "securityContext": {}},
            "status": {"phase": "Pending"}});
        if let (Some(p), Some(extra)) = (p.as_object_mut(), extra.as_object()) {
            p.extend(extra.clone());
        }
        p
    };
    let crd = |name: &str, n: i64| json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": name}, "spec": {"size": n, "tags": ["x"], "empty": {}}});
    let cases = [
        ("Pod", pod("a", "nginx", json!({}))),
        // The same shape: every scalar in an object differs, the lists do not.
        ("Pod", pod("b", "redis", json!({}))),
        ("Pod", pod("c", "nginx", json!({"spec": {"containers": [{"name": "other", "image": "x"}], "hostNetwork": true}}))),
        ("Pod", pod("d", "nginx", json!({"spec": {"containers": [], "volumes": null}}))),
        ("Pod", json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "bare"}})),
        ("Widget", crd("w1", 1)),
        ("Widget", crd("w2", 2)),
        (
            "Service",
            json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}, "spec": {"ports": [{"port": 80}, {"port": 443, "protocol": "TCP"}], "selector": {"app": "s"}}}),
        ),
    ];
    for round in 0..2 {
        for (kind, obj) in &cases {
            let mut created = obj.clone();
            record_update(kind, None, &mut created, "kubectl-create", T0);
            assert_eq!(created, created_uncached(kind, obj, "kubectl-create"), "{kind} {obj} (round {round})");
        }
    }
}
