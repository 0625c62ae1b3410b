//! Seeded random churn with creates, updates, label changes and deletes: at every revision
//! the dataflow's intents and views equal the from-scratch references', on one worker and on
//! four. A failure prints its seed; `CHURN_SEED=n` replays it.

#[path = "churn/network.rs"]
mod network;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::mpsc;

use deltakube_dataflows::clock;
use deltakube_dataflows::controllers::{
    deployment, endpoints, endpointslices, gc, loadbalancer, namespace, nodeipam, replicaset, resourcequota, serviceaccount, token,
};
use deltakube_dataflows::deadlines::{Micros, MICROS_PER_SECOND};
use deltakube_dataflows::engine::{key_string, ControllerConfig, Engine, EngineConfig, EngineOutput, FeedBatch};
use deltakube_dataflows::rows::{project, Row};
use deltakube_dataflows::rows_quota;
use deltakube_dataflows::types::{FeedEvent, Intent, Kind, ObjectKey, Revision, Text};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

const ROOT_CA: &str = "-----BEGIN CERTIFICATE-----\ntest\n-----END CERTIFICATE-----\n";
const NAMESPACES: &[&str] = &["a", "b", "c"];
const APPS: &[&str] = &["web", "db", "cache"];
/// The clock's first time, just before the pods' ready times (`2026-01-01T00:01:0x`).
const FIRST_TICK: Micros = 1_767_225_658 * MICROS_PER_SECOND;

/// The world the churn mutates: the objects as the store would hold them.
struct World {
    objects: BTreeMap<ObjectKey, Value>,
    rng: StdRng,
    uid: u64,
    /// Besides the rest, one Deployment's family of ReplicaSets, most changes falling on them
    /// and their many running pods ([`World::family_step`]): surplus is common there, so that
    /// upstream's deletion order, down to the family's pods per node, decides which pods go.
    dense: bool,
}

impl World {
    fn uid(&mut self) -> String {
        self.uid += 1;
        format!("uid-{}", self.uid)
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.rng.random_range(0..items.len())]
    }

    fn random_pod(&mut self, ns: &str, name: &str, uid: String) -> Value {
        let app = self.pick(APPS);
        let tier = self.pick(&["fe", "be"]);
        let ready = self.rng.random_bool(0.6);
        let has_ip = self.rng.random_bool(0.9);
        let phase = self.pick(&["Running", "Running", "Running", "Pending", "Succeeded"]);
        let mut pod = json!({
            "metadata": {"name": name, "namespace": ns, "uid": uid, "labels": {"app": app, "tier": tier}},
            "spec": {"nodeName": format!("node-{}", self.rng.random_range(0..3)),
                     "containers": [{"name": "c", "image": "x", "ports": [{"name": "http", "containerPort": 8080 + self.rng.random_range(0..2), "protocol": "TCP"}]}]},
            "status": {"phase": phase, "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]},
        });
        self.add_resources(&mut pod);
        if has_ip {
            pod["status"]["podIP"] = json!(format!("10.0.{}.{}", self.rng.random_range(0..4), self.rng.random_range(1..250)));
        }
        self.pod_network(&mut pod);
        if self.rng.random_bool(0.1) {
            pod["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
        }
        pod["metadata"]["creationTimestamp"] = json!(format!("2026-01-01T00:00:{:02}Z", self.rng.random_range(0..60)));
        // What upstream's deletion order reads past readiness: when the pod became ready, its
        // restarts, and its deletion cost (some of them not canonical, so read as 0).
        if ready && self.rng.random_bool(0.7) {
            pod["status"]["conditions"][0]["lastTransitionTime"] = json!(format!("2026-01-01T00:01:{:02}Z", self.rng.random_range(0..4)));
        }
        if self.rng.random_bool(0.4) {
            pod["status"]["containerStatuses"] = json!([{"name": "c", "restartCount": self.rng.random_range(0..3)}]);
        }
        if self.rng.random_bool(0.2) {
            pod["metadata"]["annotations"] = json!({"controller.kubernetes.io/pod-deletion-cost": self.pick(&["-1", "0", "5", "+3", "07"])});
        }
        // Sometimes owned by a workload of the namespace, or by one that no longer exists.
        let owners: Vec<(ObjectKey, String)> = self
            .objects
            .iter()
            .filter(|(k, _)| matches!(k.kind, Kind::ReplicaSet | Kind::ReplicationController) && k.namespace == ns)
            .map(|(k, v)| (k.clone(), v["metadata"]["uid"].as_str().unwrap().to_string()))
            .collect();
        if !owners.is_empty() && self.rng.random_bool(0.5) {
            let (k, uid) = owners[self.rng.random_range(0..owners.len())].clone();
            pod["metadata"]["ownerReferences"] =
                json!([{"apiVersion": k.kind.api_version(), "kind": k.kind.kind_name(), "name": k.name, "uid": uid, "controller": true}]);
            // Mostly the owner's own pod, which its selector matches: that makes surplus, and
            // with it upstream's deletion order, common.
            let selector = &self.objects[&k]["spec"]["selector"];
            if let Some(app) = selector.pointer("/matchLabels/app").or_else(|| selector.get("app")).cloned() {
                if self.rng.random_bool(0.7) {
                    pod["metadata"]["labels"]["app"] = app;
                }
            }
        } else if self.rng.random_bool(0.1) {
            pod["metadata"]["ownerReferences"] =
                json!([{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "gone", "uid": "uid-gone", "controller": true}]);
        }
        pod
    }

    fn random_workload(&mut self, kind: Kind, ns: &str, name: &str, uid: String) -> Value {
        let ns_owned = ns.to_string();
        let ns = ns_owned.as_str();
        let app = self.pick(APPS);
        let selector = if kind == Kind::ReplicationController { json!({"app": app}) } else { json!({"matchLabels": {"app": app}}) };
        let mut w = json!({
            "apiVersion": kind.api_version(), "kind": kind.kind_name(),
            "metadata": {"name": name, "namespace": ns, "uid": uid, "generation": self.rng.random_range(1..4)},
            "spec": {"replicas": self.rng.random_range(0..4), "selector": selector,
                     "template": {"metadata": {"labels": {"app": app}}, "spec": {"containers": [{"name": "c", "image": "x"}]}}},
        });
        if self.rng.random_bool(0.3) {
            w["status"] =
                json!({"replicas": self.rng.random_range(0..3), "readyReplicas": 0, "availableReplicas": self.rng.random_range(0..3), "observedGeneration": 1});
        }
        self.min_ready_seconds(&mut w);
        // ReplicaSets are often a Deployment's: its template (or an older one), a revision.
        let deployments: Vec<(ObjectKey, Value)> =
            self.objects.iter().filter(|(k, _)| k.kind == Kind::Deployment && k.namespace == ns).map(|(k, v)| (k.clone(), v.clone())).collect();
        if kind == Kind::ReplicaSet && !deployments.is_empty() && self.rng.random_bool(0.6) {
            let (dk, dv) = deployments[self.rng.random_range(0..deployments.len())].clone();
            let mut template = dv["spec"]["template"].clone();
            if self.rng.random_bool(0.4) {
                template["spec"]["containers"][0]["image"] = json!(self.pick(&["v1", "v2", "v3"]));
            }
            template["metadata"]["labels"]["pod-template-hash"] = json!("h");
            w["spec"]["template"] = template;
            w["metadata"]["ownerReferences"] =
                json!([{"apiVersion": "apps/v1", "kind": "Deployment", "name": dk.name, "uid": dv["metadata"]["uid"], "controller": true}]);
            w["metadata"]["annotations"] = json!({deployment::REVISION: self.rng.random_range(1..5).to_string()});
            w["metadata"]["creationTimestamp"] = json!(format!("2026-01-01T00:00:{:02}Z", self.rng.random_range(0..60)));
        }
        if self.rng.random_bool(0.15) {
            w["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
            w["metadata"]["finalizers"] = json!([self.pick(&[gc::ORPHAN, gc::FOREGROUND])]);
        }
        w
    }

    /// A Deployment's status as an earlier step might have left it: counts, and conditions
    /// of every reason, updated around the clock's times (or never).
    fn deployment_status(&mut self) -> Value {
        let mut conditions = vec![];
        if self.rng.random_bool(0.7) {
            conditions.push(json!({"type": "Available", "status": self.pick(&["True", "False"]), "reason": "MinimumReplicasAvailable",
                                   "message": "Deployment has minimum availability.",
                                   "lastUpdateTime": "2026-01-01T00:00:30Z", "lastTransitionTime": "2026-01-01T00:00:30Z"}));
        }
        if self.rng.random_bool(0.8) {
            let reason = self.pick(&[
                "ReplicaSetUpdated",
                "NewReplicaSetCreated",
                "FoundNewReplicaSet",
                "NewReplicaSetAvailable",
                "ProgressDeadlineExceeded",
                "DeploymentPaused",
                "DeploymentResumed",
            ]);
            let status = match reason {
                "ProgressDeadlineExceeded" => "False",
                "DeploymentPaused" | "DeploymentResumed" => "Unknown",
                _ => "True",
            };
            let mut c = json!({"type": "Progressing", "status": status, "reason": reason, "message": "m", "lastTransitionTime": "2026-01-01T00:00:40Z"});
            if self.rng.random_bool(0.9) {
                c["lastUpdateTime"] = json!(format!("2026-01-01T00:00:{:02}Z", self.rng.random_range(40..60)));
            }
            conditions.push(c);
        }
        json!({"observedGeneration": 1, "replicas": self.rng.random_range(0..4), "updatedReplicas": self.rng.random_range(0..4),
               "readyReplicas": self.rng.random_range(0..4), "availableReplicas": self.rng.random_range(0..4), "conditions": conditions})
    }

    /// Sometimes a `minReadySeconds`, short or long against the clock's steps.
    fn min_ready_seconds(&mut self, w: &mut Value) {
        if self.rng.random_bool(0.5) {
            w["spec"]["minReadySeconds"] = json!(self.pick(&["0", "2", "5", "30"]).parse::<i64>().unwrap());
        }
    }

    fn random_service(&mut self, ns: &str, name: &str, uid: String) -> Value {
        let app = self.pick(APPS);
        let mut selector = json!({"app": app});
        if self.rng.random_bool(0.3) {
            selector["tier"] = json!(self.pick(&["fe", "be"]));
        }
        let target = if self.rng.random_bool(0.5) { json!("http") } else { json!(8080) };
        let mut svc = json!({
            "metadata": {"name": name, "namespace": ns, "uid": uid, "labels": {"svc": name}},
            "spec": {"ports": [{"name": "main", "port": 80, "targetPort": target, "protocol": "TCP"}]},
        });
        if self.rng.random_bool(0.85) {
            svc["spec"]["selector"] = selector;
        }
        if self.rng.random_bool(0.2) {
            svc["spec"]["publishNotReadyAddresses"] = json!(true);
        }
        match self.rng.random_range(0..6) {
            0 => svc["spec"]["type"] = json!("NodePort"),
            1 => svc["spec"]["type"] = json!("LoadBalancer"),
            2 => {
                svc["spec"] = json!({"type": "LoadBalancer", "allocateLoadBalancerNodePorts": false, "ports": [{"port": 80, "nodePort": 30080}, {"port": 81}]})
            }
            _ => {}
        }
        self.service_network(&ObjectKey::new(Kind::Service, ns, name), &mut svc);
        svc
    }

    /// Requests and limits in mixed notations, init containers (some of them sidecars),
    /// overhead, and the fields quota scopes read.
    fn add_resources(&mut self, pod: &mut Value) {
        const CPU: &[&str] = &["100m", "250m", "0.5", "1", "1500m", "0"];
        const MEMORY: &[&str] = &["64Mi", "128Mi", "1G", "100M", "0.5Gi", "1Gi"];
        let resources = |rng: &mut StdRng| {
            let mut r = json!({});
            for (field, p) in [("requests", 0.7), ("limits", 0.4)] {
                if rng.random_bool(p) {
                    r[field] = json!({"cpu": CPU[rng.random_range(0..CPU.len())], "memory": MEMORY[rng.random_range(0..MEMORY.len())]});
                    if rng.random_bool(0.2) {
                        r[field]["ephemeral-storage"] = json!("1Gi");
                    }
                    if rng.random_bool(0.1) {
                        r[field]["nvidia.com/gpu"] = json!("1");
                    }
                }
            }
            r
        };
        pod["spec"]["containers"][0]["resources"] = resources(&mut self.rng);
        if self.rng.random_bool(0.3) {
            pod["spec"]["containers"].as_array_mut().unwrap().push(json!({"name": "d", "image": "x", "resources": resources(&mut self.rng)}));
        }
        if self.rng.random_bool(0.25) {
            let sidecar = self.rng.random_bool(0.5);
            let mut init = json!({"name": "i", "image": "x", "resources": resources(&mut self.rng)});
            if sidecar {
                init["restartPolicy"] = json!("Always");
            }
            pod["spec"]["initContainers"] = json!([init, {"name": "j", "image": "x", "resources": resources(&mut self.rng)}]);
        }
        if self.rng.random_bool(0.1) {
            pod["spec"]["overhead"] = json!({"cpu": "10m", "memory": "1Mi"});
        }
        if self.rng.random_bool(0.2) {
            pod["spec"]["activeDeadlineSeconds"] = json!(30);
        }
        if self.rng.random_bool(0.3) {
            pod["spec"]["priorityClassName"] = json!(self.pick(&["high", "low"]));
        }
    }

    /// A ResourceQuota over a random subset of what quotas can name, sometimes scoped, and
    /// sometimes with the status the controller would write for the world as it is now.
    fn random_quota(&mut self, ns: &str, name: &str) -> Value {
        const HARD: &[(&str, &[&str])] = &[
            ("pods", &["2", "4"]),
            ("count/pods", &["5"]),
            ("requests.cpu", &["1", "2500m"]),
            ("cpu", &["1.5"]),
            ("requests.memory", &["1Gi", "1G"]),
            ("memory", &["2Gi"]),
            ("limits.cpu", &["2"]),
            ("limits.memory", &["2Gi"]),
            ("requests.ephemeral-storage", &["10Gi"]),
            ("requests.nvidia.com/gpu", &["2"]),
            ("services", &["5"]),
            ("services.loadbalancers", &["1"]),
            ("services.nodeports", &["3"]),
            ("configmaps", &["10"]),
            ("secrets", &["10"]),
            ("count/secrets", &["10"]),
            ("persistentvolumeclaims", &["4"]),
            ("requests.storage", &["10Gi"]),
            ("gold.storageclass.storage.k8s.io/requests.storage", &["5Gi"]),
            ("replicationcontrollers", &["20"]),
            ("count/replicasets.apps", &["3"]),
            ("resourcequotas", &["3"]),
            ("not-a-resource", &["1"]),
        ];
        let mut hard = serde_json::Map::new();
        for (resource, values) in HARD {
            if self.rng.random_bool(0.35) {
                hard.insert(resource.to_string(), json!(self.pick(values)));
            }
        }
        let mut quota = json!({"metadata": {"name": name, "namespace": ns}, "spec": {"hard": hard}});
        match self.rng.random_range(0..8) {
            0 => quota["spec"]["scopes"] = json!(["BestEffort"]),
            1 => quota["spec"]["scopes"] = json!(["NotBestEffort", "NotTerminating"]),
            2 => quota["spec"]["scopeSelector"] = json!({"matchExpressions": [{"scopeName": "PriorityClass", "operator": "In", "values": ["high"]}]}),
            _ => {}
        }
        if self.rng.random_bool(0.4) {
            let key = ObjectKey::new(Kind::ResourceQuota, ns, name);
            let (_, status) = quota_reference(&self.objects_with(&key, &quota));
            if let Some((_, s)) = status.into_iter().find(|(k, _)| *k == format!("{ns}/{name}")) {
                quota["status"] = serde_json::from_str(&s).unwrap();
            }
        } else if self.rng.random_bool(0.3) {
            quota["status"] = json!({"hard": {"pods": "1"}, "used": {"pods": "0", "secrets": "1"}});
        }
        quota
    }

    fn objects_with(&self, key: &ObjectKey, value: &Value) -> BTreeMap<ObjectKey, Value> {
        let mut objects = self.objects.clone();
        objects.insert(key.clone(), value.clone());
        objects
    }

    /// What quotas count besides pods and services: claims, and user ConfigMaps and Secrets.
    fn quota_step(&mut self, ns: &str) -> (ObjectKey, Option<Value>) {
        let (key, value) = match self.rng.random_range(0..5) {
            0 | 1 => {
                let name = format!("q-{}", self.rng.random_range(0..2));
                let key = ObjectKey::new(Kind::ResourceQuota, ns, name.clone());
                (key, self.random_quota(ns, &name))
            }
            2 => {
                let name = format!("pvc-{}", self.rng.random_range(0..3));
                let mut pvc = json!({"metadata": {"name": name, "namespace": ns},
                    "spec": {"resources": {"requests": {"storage": self.pick(&["1Gi", "1.5", "500Mi"])}}}});
                if self.rng.random_bool(0.6) {
                    pvc["spec"]["storageClassName"] = json!(self.pick(&["gold", "silver"]));
                }
                if self.rng.random_bool(0.3) {
                    pvc["status"] = json!({"allocatedResources": {"storage": "2Gi"}});
                }
                (ObjectKey::new(Kind::PersistentVolumeClaim, ns, name), pvc)
            }
            3 => {
                let name = format!("cm-{}", self.rng.random_range(0..3));
                (ObjectKey::new(Kind::ConfigMap, ns, name.clone()), json!({"metadata": {"name": name, "namespace": ns}, "data": {"a": "b"}}))
            }
            _ => {
                let name = format!("secret-{}", self.rng.random_range(0..3));
                (ObjectKey::new(Kind::Secret, ns, name.clone()), json!({"metadata": {"name": name, "namespace": ns}, "type": "Opaque"}))
            }
        };
        if self.objects.contains_key(&key) && self.rng.random_bool(0.3) {
            return (key, None);
        }
        (key, Some(value))
    }

    /// In the crowded world: the ReplicaSets `fam-0..2` of one Deployment in namespace `a`
    /// (each selecting its own `pod-template-hash`, as a Deployment's do), and pods `fp-*`
    /// each owned by one of them, running on four nodes, mostly ready, with ready times,
    /// restarts and deletion costs drawn small so that ties reach the later rules.
    fn family_step(&mut self) -> (ObjectKey, Option<Value>) {
        let ns = "a";
        let family: Vec<(String, String)> = (0..3)
            .filter_map(|i| {
                let key = ObjectKey::new(Kind::ReplicaSet, ns, format!("fam-{i}"));
                self.objects.get(&key).map(|v| (key.name.clone(), v["metadata"]["uid"].as_str().unwrap().to_string()))
            })
            .collect();
        if family.is_empty() || self.rng.random_bool(0.2) {
            let name = format!("fam-{}", self.rng.random_range(0..3));
            let key = ObjectKey::new(Kind::ReplicaSet, ns, name.clone());
            if self.objects.contains_key(&key) && self.rng.random_bool(0.1) {
                return (key, None);
            }
            let uid = self.objects.get(&key).map(|v| v["metadata"]["uid"].as_str().unwrap().to_string()).unwrap_or_else(|| self.uid());
            let labels = json!({"app": "family", "pod-template-hash": name});
            let w = json!({
                "apiVersion": "apps/v1", "kind": "ReplicaSet",
                "metadata": {"name": name, "namespace": ns, "uid": uid, "generation": 1,
                             "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "family", "uid": "uid-family", "controller": true}]},
                "spec": {"replicas": self.rng.random_range(0..6), "selector": {"matchLabels": labels},
                         "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "c", "image": "x"}]}}},
            });
            let mut w = w;
            self.min_ready_seconds(&mut w);
            return (key, Some(w));
        }
        let name = format!("fp-{}", self.rng.random_range(0..16));
        let key = ObjectKey::new(Kind::Pod, ns, name.clone());
        if self.objects.contains_key(&key) && self.rng.random_bool(0.15) {
            return (key, None);
        }
        let uid = self.objects.get(&key).map(|v| v["metadata"]["uid"].as_str().unwrap().to_string()).unwrap_or_else(|| self.uid());
        let (owner, owner_uid) = family[self.rng.random_range(0..family.len())].clone();
        let ready = self.rng.random_bool(0.85);
        let mut pod = json!({
            "metadata": {"name": name, "namespace": ns, "uid": uid, "labels": {"app": "family", "pod-template-hash": owner},
                         "creationTimestamp": format!("2026-01-01T00:00:{:02}Z", self.rng.random_range(0..3)),
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": owner, "uid": owner_uid, "controller": true}]},
            "spec": {"nodeName": format!("node-{}", self.rng.random_range(0..4)), "containers": [{"name": "c", "image": "x"}]},
            "status": {"phase": if self.rng.random_bool(0.9) { "Running" } else { "Pending" },
                       "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]},
        });
        if ready && self.rng.random_bool(0.5) {
            pod["status"]["conditions"][0]["lastTransitionTime"] = json!(format!("2026-01-01T00:01:{:02}Z", self.rng.random_range(0..3)));
        }
        if self.rng.random_bool(0.2) {
            pod["status"]["containerStatuses"] = json!([{"name": "c", "restartCount": self.rng.random_range(0..2)}]);
        }
        if self.rng.random_bool(0.2) {
            // A sidecar's restarts break a tie in the regular containers'; a plain init
            // container's do not count.
            pod["spec"]["initContainers"] = json!([{"name": "s", "image": "x", "restartPolicy": "Always"}, {"name": "i", "image": "x"}]);
            pod["status"]["initContainerStatuses"] =
                json!([{"name": "s", "restartCount": self.rng.random_range(0..2)}, {"name": "i", "restartCount": self.rng.random_range(0..2)}]);
        }
        if self.rng.random_bool(0.1) {
            pod["metadata"]["annotations"] = json!({"controller.kubernetes.io/pod-deletion-cost": self.pick(&["-1", "5"])});
        }
        (key, Some(pod))
    }

    /// A ConfigMap or a Job with owners of many kinds (some recreated, some gone, some the
    /// collector cannot see), sometimes being deleted with a garbage-collection finalizer.
    fn owned_step(&mut self, ns: &str) -> (ObjectKey, Option<Value>) {
        let kind = if self.rng.random_bool(0.6) { Kind::ConfigMap } else { Kind::Job };
        let key = ObjectKey::new(kind, ns, format!("owned-{}", self.rng.random_range(0..4)));
        if self.objects.contains_key(&key) && self.rng.random_bool(0.25) {
            return (key, None);
        }
        let uid = match self.objects.get(&key) {
            Some(v) if self.rng.random_bool(0.8) => v["metadata"]["uid"].as_str().unwrap().to_string(),
            _ => self.uid(),
        };
        let candidates: Vec<(ObjectKey, String)> = self
            .objects
            .iter()
            .filter(|(k, _)| k.namespace == ns && *k != &key && matches!(k.kind, Kind::ConfigMap | Kind::Job | Kind::Deployment | Kind::ReplicaSet | Kind::Pod))
            .map(|(k, v)| (k.clone(), v["metadata"]["uid"].as_str().unwrap_or_default().to_string()))
            .collect();
        let mut owners = Vec::new();
        for _ in 0..self.rng.random_range(0..3) {
            let (api_version, kind, name, uid) = match self.rng.random_range(0..10) {
                // An owner of a kind the engine does not read.
                0 => ("example.com/v1".to_string(), "Widget".to_string(), "w".to_string(), "uid-widget".to_string()),
                // One that never existed, or whose uid is stale.
                1 => ("batch/v1".to_string(), "Job".to_string(), "gone".to_string(), self.uid()),
                _ if candidates.is_empty() => continue,
                _ => {
                    let (k, uid) = candidates[self.rng.random_range(0..candidates.len())].clone();
                    (k.kind.api_version().to_string(), k.kind.kind_name().to_string(), k.name.clone(), uid)
                }
            };
            owners.push(json!({"apiVersion": api_version, "kind": kind, "name": name, "uid": uid,
                               "controller": owners.is_empty() && self.rng.random_bool(0.5), "blockOwnerDeletion": self.rng.random_bool(0.5)}));
        }
        let mut v = json!({"metadata": {"name": key.name, "namespace": ns, "uid": uid}});
        if !owners.is_empty() {
            v["metadata"]["ownerReferences"] = json!(owners);
        }
        if self.rng.random_bool(0.25) {
            v["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
            let mut finalizers = vec![json!(self.pick(&[gc::ORPHAN, gc::FOREGROUND]))];
            if self.rng.random_bool(0.3) {
                finalizers.push(json!("example.com/keep"));
            }
            v["metadata"]["finalizers"] = json!(finalizers);
        }
        (key, Some(v))
    }

    /// A tick of the clock Lease: mostly forward a few seconds (sometimes within a second),
    /// sometimes back, sometimes with no renewal time or gone; around the pods' ready times,
    /// so that their `minReadySeconds` run out as it goes.
    fn clock_step(&mut self) -> (ObjectKey, Option<Value>) {
        let key = ObjectKey::new(Kind::Lease, clock::LEASE_NAMESPACE, clock::LEASE_NAME);
        if self.objects.contains_key(&key) && self.rng.random_bool(0.05) {
            return (key, None);
        }
        let now = self.objects.get(&key).and_then(|v| clock::now_of(v).unwrap()).unwrap_or(FIRST_TICK);
        let next = match self.rng.random_range(0..20) {
            0 => None,
            1 => Some(now - self.rng.random_range(0..10) * MICROS_PER_SECOND),
            2 => Some(now + self.rng.random_range(0..MICROS_PER_SECOND)),
            _ => Some(now + self.rng.random_range(0..6) * MICROS_PER_SECOND),
        };
        let renew = next.map(|t| jiff::Timestamp::from_microsecond(t).unwrap().to_string());
        (
            key,
            Some(json!({"metadata": {"name": clock::LEASE_NAME, "namespace": clock::LEASE_NAMESPACE, "uid": "uid-lease"},
                          "spec": {"holderIdentity": "churn", "renewTime": renew}})),
        )
    }

    /// One random change: returns the key and the new state (None to delete).
    fn step(&mut self) -> (ObjectKey, Option<Value>) {
        if self.rng.random_bool(0.08) {
            return self.clock_step();
        }
        if self.dense && self.rng.random_bool(0.6) {
            return self.family_step();
        }
        let ns = self.pick(NAMESPACES).to_string();
        if self.rng.random_bool(0.12) {
            return self.quota_step(&ns);
        }
        if self.rng.random_bool(0.1) {
            return self.owned_step(&ns);
        }
        if self.rng.random_bool(0.06) {
            return self.node_step();
        }
        if self.rng.random_bool(0.08) {
            return self.slice_step(&ns);
        }
        if self.rng.random_bool(0.08) {
            let name = format!("d-{}", self.rng.random_range(0..2));
            let key = ObjectKey::new(Kind::Deployment, ns.clone(), name.clone());
            let value = if self.objects.contains_key(&key) && self.rng.random_bool(0.2) {
                None
            } else {
                let uid = self.objects.get(&key).map(|v| v["metadata"]["uid"].as_str().unwrap().to_string()).unwrap_or_else(|| self.uid());
                let app = self.pick(APPS);
                let mut d = json!({
                    "apiVersion": "apps/v1", "kind": "Deployment",
                    "metadata": {"name": name, "namespace": ns, "uid": uid, "generation": self.rng.random_range(1..4),
                                 "annotations": {deployment::REVISION: self.rng.random_range(0..4).to_string()}},
                    "spec": {"replicas": self.rng.random_range(0..5), "selector": {"matchLabels": {"app": app}},
                             "revisionHistoryLimit": self.rng.random_range(0..3),
                             "template": {"metadata": {"labels": {"app": app}}, "spec": {"containers": [{"name": "c", "image": self.pick(&["v1", "v2", "v3"])}]}}},
                });
                if self.rng.random_bool(0.3) {
                    d["spec"]["strategy"] = json!({"type": "Recreate"});
                } else if self.rng.random_bool(0.5) {
                    d["spec"]["strategy"] = json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": self.rng.random_range(0..3), "maxUnavailable": self.pick(&["0", "50%", "1"])}});
                }
                if self.rng.random_bool(0.15) {
                    d["spec"]["paused"] = json!(true);
                }
                self.min_ready_seconds(&mut d);
                if self.rng.random_bool(0.8) {
                    d["spec"]["progressDeadlineSeconds"] = json!(self.pick(&["3", "20", "600", "2147483647"]).parse::<i64>().unwrap());
                }
                if self.rng.random_bool(0.6) {
                    d["status"] = self.deployment_status();
                }
                if self.rng.random_bool(0.1) {
                    d["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
                    d["metadata"]["finalizers"] = json!([self.pick(&[gc::ORPHAN, gc::FOREGROUND])]);
                }
                Some(d)
            };
            return (key, value);
        }
        if self.rng.random_bool(0.2) {
            let kind = if self.rng.random_bool(0.7) { Kind::ReplicaSet } else { Kind::ReplicationController };
            let name = format!("w-{}", self.rng.random_range(0..3));
            let key = ObjectKey::new(kind, ns.clone(), name.clone());
            let value = if self.objects.contains_key(&key) && self.rng.random_bool(0.25) {
                None
            } else {
                let uid = self.objects.get(&key).map(|v| v["metadata"]["uid"].as_str().unwrap().to_string()).unwrap_or_else(|| self.uid());
                Some(self.random_workload(kind, &ns, &name, uid))
            };
            return (key, value);
        }
        match self.rng.random_range(0..10) {
            0 => {
                let key = ObjectKey::new(Kind::Namespace, "", ns.clone());
                let value = match self.objects.get(&key) {
                    None => Some(json!({"metadata": {"name": ns, "uid": self.uid()}, "status": {"phase": "Active"}})),
                    Some(v) if self.rng.random_bool(0.5) => {
                        let mut v = v.clone();
                        v["status"]["phase"] = json!("Terminating");
                        v["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
                        if self.rng.random_bool(0.7) {
                            v["spec"] = json!({"finalizers": ["kubernetes"]});
                        }
                        Some(v)
                    }
                    Some(_) => None,
                };
                (key, value)
            }
            1 => {
                let name = self.pick(&["default", "robot"]);
                let key = ObjectKey::new(Kind::ServiceAccount, ns.clone(), name);
                let value = if self.objects.contains_key(&key) && self.rng.random_bool(0.5) {
                    None
                } else {
                    Some(json!({"metadata": {"name": name, "namespace": ns, "uid": self.uid()}}))
                };
                (key, value)
            }
            2 => {
                // A token Secret: ours (for an existing account), or a user's.
                let accounts: Vec<(String, String)> = self
                    .objects
                    .iter()
                    .filter(|(k, _)| k.kind == Kind::ServiceAccount && k.namespace == ns)
                    .map(|(k, v)| (k.name.clone(), v["metadata"]["uid"].as_str().unwrap().to_string()))
                    .collect();
                let (account, uid) = match accounts.first() {
                    Some(a) if self.rng.random_bool(0.7) => a.clone(),
                    _ => ("ghost".to_string(), "uid-ghost".to_string()),
                };
                let name = if self.rng.random_bool(0.7) { token::secret_name(&account, &uid) } else { format!("{account}-manual") };
                let key = ObjectKey::new(Kind::Secret, ns.clone(), name.clone());
                let value = if self.objects.contains_key(&key) && self.rng.random_bool(0.5) {
                    None
                } else {
                    Some(json!({"metadata": {"name": name, "namespace": ns, "annotations": {
                        "kubernetes.io/service-account.name": account, "kubernetes.io/service-account.uid": uid}},
                        "type": token::TOKEN_TYPE, "data": {"token": "x"}}))
                };
                (key, value)
            }
            3 => {
                let key = ObjectKey::new(Kind::ConfigMap, ns.clone(), token::ROOT_CA);
                let ca = if self.rng.random_bool(0.7) { ROOT_CA } else { "stale" };
                let value = if self.objects.contains_key(&key) && self.rng.random_bool(0.3) {
                    None
                } else {
                    Some(json!({"metadata": {"name": token::ROOT_CA, "namespace": ns}, "data": {"ca.crt": ca}}))
                };
                (key, value)
            }
            4..=6 => {
                let name = format!("pod-{}", self.rng.random_range(0..8));
                let key = ObjectKey::new(Kind::Pod, ns.clone(), name.clone());
                let value = if self.objects.contains_key(&key) && self.rng.random_bool(0.25) {
                    None
                } else {
                    let uid = self.objects.get(&key).map(|v| v["metadata"]["uid"].as_str().unwrap().to_string()).unwrap_or_else(|| self.uid());
                    Some(self.random_pod(&ns, &name, uid))
                };
                (key, value)
            }
            7 | 8 => {
                let name = format!("svc-{}", self.rng.random_range(0..4));
                let key = ObjectKey::new(Kind::Service, ns.clone(), name.clone());
                let value = if self.objects.contains_key(&key) && self.rng.random_bool(0.25) {
                    None
                } else {
                    let uid = self.objects.get(&key).map(|v| v["metadata"]["uid"].as_str().unwrap().to_string()).unwrap_or_else(|| self.uid());
                    Some(self.random_service(&ns, &name, uid))
                };
                (key, value)
            }
            _ => {
                // Endpoints written by someone: sometimes what the controller wants, sometimes not.
                let name = format!("svc-{}", self.rng.random_range(0..5));
                let key = ObjectKey::new(Kind::Endpoints, ns.clone(), name.clone());
                let value = if self.objects.contains_key(&key) && self.rng.random_bool(0.4) {
                    None
                } else {
                    let mut labels = json!({"svc": name});
                    if self.rng.random_bool(0.5) {
                        labels[endpoints::MANAGED_BY] = json!(endpoints::CONTROLLER_NAME);
                    }
                    Some(json!({"metadata": {"name": name, "namespace": ns, "labels": labels},
                        "subsets": [{"addresses": [{"ip": "10.9.9.9"}], "ports": [{"name": "main", "port": 8080, "protocol": "TCP"}]}]}))
                };
                (key, value)
            }
        }
    }
}

/// Every view the churn compares, by name.
type Views = BTreeMap<&'static str, BTreeSet<(String, String)>>;

fn view(rows: impl IntoIterator<Item = (ObjectKey, Text)>) -> BTreeSet<(String, String)> {
    rows.into_iter().map(|(k, v)| (key_string(&k), v.to_string())).collect()
}

/// Intents by multiplicity: how many controllers want each.
type Intents = BTreeMap<Intent, isize>;

/// Adds one controller's intents: each wanted once by it (two controllers may want one
/// write, as the garbage collector and the EndpointSlice controller both delete a slice whose
/// Service is gone).
fn count(intents: &mut Intents, wanted: impl IntoIterator<Item = Intent>) {
    for intent in wanted {
        *intents.entry(intent).or_default() += 1;
    }
}

/// The references' intents and views over a snapshot.
fn reference(objects: &BTreeMap<ObjectKey, Value>) -> (Intents, Views) {
    let (mut namespaces, mut accounts, mut secrets, mut configmaps, mut pods, mut services, mut managed, mut workloads) =
        (vec![], vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
    let (mut deployments, mut nodes) = (vec![], vec![]);
    for (k, v) in objects {
        match project(k, v).expect("the churn writes well-formed objects") {
            Row::Namespace(r) => namespaces.push(r),
            Row::ServiceAccount(r) => accounts.push(r),
            Row::Secret(r) => secrets.push(r),
            Row::ConfigMap(r) => configmaps.push(r),
            Row::Pod(r) => pods.push(r),
            Row::Service(r) => services.push(r),
            Row::Node(r) => nodes.push(r),
            Row::Managed(r) => managed.push(r),
            Row::ReplicaSet(r) => workloads.push(r),
            Row::Deployment(r) => deployments.push(r),
            Row::ResourceQuota(_) | Row::CountedOnly(_) => {}
        }
    }
    let mut intents = Intents::new();
    count(&mut intents, serviceaccount::reference(&namespaces, &accounts));
    count(&mut intents, namespace::reference(&namespaces));
    let now = objects.iter().find(|(k, _)| clock::is_clock(k)).and_then(|(_, v)| clock::now_of(v).unwrap());
    let (replica_diffs, replica_intents) = replicaset::reference(&workloads, &pods, now);
    count(&mut intents, replica_intents);
    count(&mut intents, deployment::reference(&deployments, &workloads, now));
    count(&mut intents, gc::reference(objects));
    count(&mut intents, token::reference(&namespaces, &accounts, &secrets, &configmaps, ROOT_CA));
    let (desired_endpoints, endpoint_intents) = endpoints::reference(&services, &pods, &managed);
    count(&mut intents, endpoint_intents);
    let (desired_slices, slice_intents) = endpointslices::reference(&services, &pods, &nodes, &managed);
    count(&mut intents, slice_intents);
    let (pod_cidrs, ipam_intents, ipam_errors) = nodeipam::reference(Some(network::node_cidrs()), &nodes);
    count(&mut intents, ipam_intents);
    let (balancer_ips, balancer_intents, balancer_errors) = loadbalancer::reference(Some(network::balancer_pool()), &services);
    count(&mut intents, balancer_intents);
    let (quota_intents, quota_view) = quota_reference(objects);
    count(&mut intents, quota_intents);
    let errors = ipam_errors.into_iter().chain(balancer_errors).map(|e| (key_string(&e.key), format!("{}: {}", e.reason, e.message))).collect();
    let views = BTreeMap::from([
        ("endpoints", view(desired_endpoints)),
        ("endpointslices", view(desired_slices)),
        ("pod-cidrs", view(pod_cidrs)),
        ("load-balancer-ips", view(balancer_ips)),
        ("controller-errors", errors),
        ("quota-usage", quota_view),
        ("replica-diffs", view(replica_diffs)),
    ]);
    (intents, views)
}

/// The quota reference's intents and `quota-usage` view over a snapshot.
fn quota_reference(objects: &BTreeMap<ObjectKey, Value>) -> (BTreeSet<Intent>, BTreeSet<(String, String)>) {
    let mut quotas = vec![];
    let mut usage = vec![];
    for (k, v) in objects {
        if let Ok(Row::ResourceQuota(q)) = project(k, v) {
            quotas.push(q);
        }
        usage.extend(rows_quota::usage(k, v).expect("the churn writes well-formed quantities"));
    }
    let (view, intents) = resourcequota::reference(&quotas, &usage);
    (intents, view.into_iter().map(|(k, v)| (format!("{}/{}", k.namespace, k.name), v.to_string())).collect())
}

/// Pushes `steps` seeded changes and checks the outputs against the references. Stepped
/// revision by revision (`coalesce` off), every revision is checked; coalescing, the engine
/// merges what queues while its workers are busy, and every revision it reports complete is
/// checked (the pushes are paced unevenly so that merges of many sizes happen).
fn run(seed: u64, workers: usize, steps: usize, coalesce: bool) {
    run_world(seed, workers, steps, coalesce, false)
}

fn run_world(seed: u64, workers: usize, steps: usize, coalesce: bool, dense: bool) {
    let mut world = World { objects: BTreeMap::new(), rng: StdRng::seed_from_u64(seed), uid: 0, dense };
    let mut history: Vec<(Revision, ObjectKey, Option<Value>)> = Vec::new();
    let (tx, rx) = mpsc::channel();
    let controllers = ControllerConfig {
        root_ca: ROOT_CA.into(),
        node_cidrs: Some(network::node_cidrs()),
        load_balancer_pool: Some(network::balancer_pool()),
        scheduler: None,
        run_controllers: true,
    };
    let engine = Engine::start(EngineConfig { workers, cluster: None, controllers, coalesce }, tx).unwrap();
    for step in 0..steps {
        let revision = step as Revision + 1;
        let (key, new) = world.step();
        let old = world.objects.get(&key).cloned();
        if old.is_none() && new.is_none() {
            engine.push(FeedBatch { revision, events: vec![] });
            history.push((revision, key, None));
            continue;
        }
        match &new {
            Some(v) => world.objects.insert(key.clone(), v.clone()),
            None => world.objects.remove(&key),
        };
        engine.push(FeedBatch {
            revision,
            events: vec![FeedEvent { revision, key: key.clone(), old: old.map(std::sync::Arc::new), new: new.clone().map(std::sync::Arc::new) }],
        });
        history.push((revision, key, new));
        if coalesce && world.rng.random_bool(0.1) {
            std::thread::sleep(std::time::Duration::from_micros(world.rng.random_range(0..3000)));
        }
    }
    let last = steps as Revision;
    let mut done = vec![0; workers];
    let mut outputs = Vec::new();
    let mut reported = BTreeSet::new();
    while done.iter().any(|r| *r < last) {
        match rx.recv_timeout(std::time::Duration::from_secs(60)).expect("engine output within a minute") {
            EngineOutput::Progress { worker, revision } => {
                done[worker] = done[worker].max(revision);
                reported.insert(revision);
            }
            other => {
                // Every worker sends a revision's outputs before its progress past it.
                let complete = done.iter().min().copied().unwrap_or(0);
                if let EngineOutput::Intent { revision, .. } | EngineOutput::Delta { revision, .. } = &other {
                    assert!(*revision > complete, "seed {seed}: an output at revision {revision} arrived after every worker reported {complete}");
                }
                outputs.push(other)
            }
        }
    }
    engine.shutdown();
    if coalesce {
        eprintln!("seed {seed}, {workers} workers: {} of {steps} revisions reported complete", reported.len());
    }

    // Replay: at every revision, the accumulated outputs equal the references.
    let mut objects = BTreeMap::new();
    let mut intents: BTreeMap<Intent, isize> = BTreeMap::new();
    let mut views: BTreeMap<&'static str, BTreeMap<(String, String), isize>> = BTreeMap::new();
    // The problems sent for Events, as the error views show them.
    let mut problems: BTreeMap<(String, String), isize> = BTreeMap::new();
    outputs.sort_by_key(|o| match o {
        EngineOutput::Intent { revision, .. }
        | EngineOutput::Delta { revision, .. }
        | EngineOutput::Problem { revision, .. }
        | EngineOutput::Scheduler { revision, .. } => *revision,
        EngineOutput::Progress { revision, .. } => *revision,
    });
    let mut cursor = 0;
    for (revision, key, new) in history {
        match new {
            Some(v) => objects.insert(key, v),
            None => objects.remove(&key),
        };
        while cursor < outputs.len() {
            match &outputs[cursor] {
                EngineOutput::Intent { intent, revision: r, diff } if *r <= revision => {
                    *intents.entry(intent.clone()).or_default() += diff;
                }
                EngineOutput::Delta { view, key, value, revision: r, diff } if *r <= revision => {
                    *views.entry(*view).or_default().entry((key.clone(), value.clone())).or_default() += diff;
                }
                EngineOutput::Problem { problem, revision: r, diff } if *r <= revision => {
                    *problems.entry((key_string(&problem.key), format!("{}: {}", problem.reason, problem.message))).or_default() += diff;
                }
                _ => break,
            }
            cursor += 1;
        }
        if coalesce && !reported.contains(&revision) {
            continue;
        }
        // Each intent's multiplicity is the number of controllers that want it.
        let got: Intents = intents.iter().filter(|(_, d)| **d != 0).map(|(i, d)| (i.clone(), *d)).collect();
        let (want, want_views) = reference(&objects);
        if std::env::var("CHURN_DEBUG").is_ok() {
            let sizes: Vec<String> = want_views.iter().map(|(name, rows)| format!("{} {name}", rows.len())).collect();
            let allocations = want.keys().filter(|i| matches!(i, Intent::Allocate { .. })).count();
            eprintln!("rev {revision}: {} intents ({allocations} allocations), {}", want.len(), sizes.join(", "));
        }
        assert_eq!(got, want, "seed {seed}, {workers} workers: intents differ at revision {revision}");
        let got_problems: BTreeSet<(String, String)> = problems.iter().filter(|(_, d)| **d != 0).map(|(p, _)| p.clone()).collect();
        assert_eq!(got_problems, want_views["controller-errors"], "seed {seed}, {workers} workers: the problems for Events differ at revision {revision}");
        for (name, want_view) in want_views {
            let got_view: BTreeSet<(String, String)> = views.get(name).into_iter().flatten().filter(|(_, d)| **d != 0).map(|(r, _)| r.clone()).collect();
            assert_eq!(got_view, want_view, "seed {seed}, {workers} workers: the {name} view differs at revision {revision}");
        }
    }
}

fn seeds() -> Vec<u64> {
    match std::env::var("CHURN_SEED") {
        Ok(s) => vec![s.parse().expect("CHURN_SEED is a number")],
        Err(_) => vec![1, 2, 3],
    }
}

#[test]
fn dataflow_equals_reference_on_one_worker() {
    for seed in seeds() {
        run(seed, 1, 400, false);
    }
}

#[test]
fn dataflow_equals_reference_on_four_workers() {
    for seed in seeds() {
        run(seed, 4, 400, false);
    }
}

#[test]
fn coalesced_dataflow_equals_reference_at_every_reported_revision() {
    for seed in seeds() {
        run(seed, 1, 400, true);
        run(seed, 4, 400, true);
    }
}

#[test]
fn dataflow_equals_reference_in_a_crowded_world_on_one_worker_and_on_four() {
    for seed in seeds() {
        run_world(seed, 1, 400, false, true);
        run_world(seed, 4, 400, false, true);
        run_world(seed, 4, 400, true, true);
    }
}
