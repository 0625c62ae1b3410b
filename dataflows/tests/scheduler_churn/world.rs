//! The random cluster the scheduler churn mutates: objects as the store would hold them.

use std::collections::BTreeMap;

use deltakube_dataflows::types::{Kind, ObjectKey};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

const NAMESPACES: &[&str] = &["a", "b"];
const APPS: &[&str] = &["web", "db", "cache"];
const ZONES: &[&str] = &["z1", "z2", "z3"];
const MAX_NODES: usize = 50;

pub struct World {
    pub objects: BTreeMap<ObjectKey, Value>,
    rng: StdRng,
    serial: u64,
    /// Whether pods get pod (anti-)affinity terms; without, most pods are placed from their
    /// class's ranking rather than by the reference's code.
    pod_affinity: bool,
}

impl World {
    pub fn new(seed: u64) -> World {
        World { objects: BTreeMap::new(), rng: StdRng::seed_from_u64(seed), serial: 0, pod_affinity: true }
    }

    /// A world whose pods never carry pod (anti-)affinity terms.
    pub fn without_pod_affinity(seed: u64) -> World {
        World { pod_affinity: false, ..World::new(seed) }
    }

    fn next(&mut self) -> u64 {
        self.serial += 1;
        self.serial
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.rng.random_range(0..items.len())]
    }

    fn chance(&mut self, p: f64) -> bool {
        self.rng.random_bool(p)
    }

    fn existing(&self, kind: Kind) -> Vec<ObjectKey> {
        self.objects.keys().filter(|k| k.kind == kind).cloned().collect()
    }

    fn random_node(&mut self, name: &str) -> Value {
        let size = self.pick(&["1", "2", "4"]);
        let memory = self.pick(&["2Gi", "4Gi", "8Gi"]);
        let pods = self.pick(&["3", "10", "110"]);
        let zone = self.pick(ZONES);
        let mut labels = json!({"kubernetes.io/hostname": name, "topology.kubernetes.io/zone": zone});
        if self.chance(0.5) {
            labels["disk"] = json!(self.pick(&["ssd", "hdd"]));
        }
        if self.chance(0.2) {
            labels.as_object_mut().unwrap().remove("topology.kubernetes.io/zone");
        }
        let mut node = json!({
            "metadata": {"name": name, "labels": labels},
            "spec": {},
            "status": {
                "allocatable": {"cpu": size, "memory": memory, "pods": pods, "example.com/gpu": self.pick(&["0", "1"])},
                "conditions": [{"type": "Ready", "status": if self.chance(0.9) { "True" } else { "False" }}],
                "images": [{"names": [format!("img-{}:v1", self.rng.random_range(0..3))], "sizeBytes": self.rng.random_range(1..1000) * 1_000_000}],
            },
        });
        let mut taints = Vec::new();
        if self.chance(0.25) {
            taints.push(
                json!({"key": "dedicated", "value": self.pick(&["gpu", "infra"]), "effect": self.pick(&["NoSchedule", "PreferNoSchedule", "NoExecute"])}),
            );
        }
        if self.chance(0.15) {
            taints.push(json!({"key": "spot", "effect": "PreferNoSchedule"}));
        }
        if !taints.is_empty() {
            node["spec"]["taints"] = json!(taints);
        }
        if self.chance(0.05) {
            node["spec"]["unschedulable"] = json!(true);
        }
        node
    }

    fn random_pod(&mut self, ns: &str, name: &str) -> Value {
        let app = self.pick(APPS);
        // Few templates, so that classes hold several pods.
        let cpu = self.pick(&["100m", "500m", "1", "1500m"]);
        let memory = self.pick(&["128Mi", "1Gi", "3Gi"]);
        let mut container =
            json!({"name": "c", "image": format!("img-{}:v1", self.rng.random_range(0..3)), "resources": {"requests": {"cpu": cpu, "memory": memory}}});
        if self.chance(0.1) {
            container["resources"]["requests"]["example.com/gpu"] = json!("1");
        }
        if self.chance(0.15) {
            container["ports"] = json!([{"containerPort": 80, "hostPort": 8000 + self.rng.random_range(0..2)}]);
        }
        let mut spec = json!({"containers": [container]});
        if self.chance(0.15) {
            spec["nodeSelector"] = json!({"disk": self.pick(&["ssd", "hdd"])});
        }
        if self.chance(0.2) {
            spec["tolerations"] = json!([{"key": "dedicated", "operator": "Equal", "value": self.pick(&["gpu", "infra"])}]);
        }
        if self.chance(0.1) {
            spec["tolerations"] = json!([{"operator": "Exists"}]);
        }
        let mut affinity = json!({});
        if self.chance(0.15) {
            affinity["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"] = json!({"nodeSelectorTerms": [{"matchExpressions": [{"key": "topology.kubernetes.io/zone", "operator": "In", "values": [self.pick(ZONES), self.pick(ZONES)]}]}]});
        }
        if self.chance(0.2) {
            affinity["nodeAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"] = json!([{"weight": self.rng.random_range(1..100), "preference": {"matchExpressions": [{"key": "disk", "operator": self.pick(&["In", "NotIn", "Exists"]), "values": ["ssd"]}]}}]);
        }
        if self.pod_affinity && self.chance(0.1) {
            let key = self.pick(&["kubernetes.io/hostname", "topology.kubernetes.io/zone"]);
            affinity["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"] =
                json!([{"labelSelector": {"matchLabels": {"app": app}}, "topologyKey": key}]);
        }
        if self.pod_affinity && self.chance(0.1) {
            affinity["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"] =
                json!([{"labelSelector": {"matchLabels": {"app": self.pick(APPS)}}, "topologyKey": "topology.kubernetes.io/zone"}]);
        }
        if self.pod_affinity && self.chance(0.15) {
            let which = self.pick(&["podAffinity", "podAntiAffinity"]);
            affinity[which]["preferredDuringSchedulingIgnoredDuringExecution"] = json!([{"weight": self.rng.random_range(1..100),
                "podAffinityTerm": {"labelSelector": {"matchExpressions": [{"key": "app", "operator": "In", "values": [self.pick(APPS)]}]},
                                    "namespaceSelector": if self.chance(0.5) { json!({}) } else { json!({"matchLabels": {"team": "x"}}) },
                                    "topologyKey": self.pick(&["kubernetes.io/hostname", "topology.kubernetes.io/zone"])}}]);
        }
        if affinity.as_object().is_some_and(|a| !a.is_empty()) {
            spec["affinity"] = affinity;
        }
        if self.chance(0.15) {
            spec["topologySpreadConstraints"] = json!([{"maxSkew": self.rng.random_range(1..3),
                "topologyKey": self.pick(&["kubernetes.io/hostname", "topology.kubernetes.io/zone"]),
                "whenUnsatisfiable": self.pick(&["DoNotSchedule", "ScheduleAnyway"]),
                "labelSelector": {"matchLabels": {"app": app}}}]);
        }
        if self.chance(0.2) {
            spec["priority"] = json!(self.pick(&["0", "100", "1000"]).parse::<i64>().unwrap());
        }
        if self.chance(0.05) {
            spec["schedulerName"] = json!("other-scheduler");
        }
        let nodes = self.existing(Kind::Node);
        if !nodes.is_empty() && self.chance(0.4) {
            spec["nodeName"] = json!(nodes[self.rng.random_range(0..nodes.len())].name);
        }
        let mut pod = json!({
            "metadata": {"name": name, "namespace": ns, "uid": format!("uid-{}", self.next()), "labels": {"app": app},
                         "creationTimestamp": format!("2026-01-01T00:{:02}:{:02}Z", self.rng.random_range(0..60), self.rng.random_range(0..60))},
            "spec": spec,
            "status": {"phase": "Pending"},
        });
        let owners = self.existing(Kind::ReplicaSet).into_iter().filter(|k| k.namespace == ns).collect::<Vec<_>>();
        if !owners.is_empty() && self.chance(0.5) {
            let owner = &owners[self.rng.random_range(0..owners.len())];
            pod["metadata"]["ownerReferences"] = json!([{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": owner.name, "uid": "u", "controller": true}]);
        }
        pod
    }

    /// One change: the key and its new state (None deletes it).
    pub fn step(&mut self) -> (ObjectKey, Option<Value>) {
        let roll = self.rng.random_range(0..100);
        let nodes = self.existing(Kind::Node);
        let pods = self.existing(Kind::Pod);
        match roll {
            0..=14 if nodes.len() < MAX_NODES => {
                let name = format!("node-{:02}", self.rng.random_range(0..MAX_NODES));
                let v = self.random_node(&name);
                (ObjectKey::new(Kind::Node, "", name), Some(v))
            }
            15..=17 if !nodes.is_empty() => (nodes[self.rng.random_range(0..nodes.len())].clone(), None),
            18..=54 => {
                let ns = self.pick(NAMESPACES);
                let name = format!("pod-{}", self.rng.random_range(0..120));
                let v = self.random_pod(ns, &name);
                (ObjectKey::new(Kind::Pod, ns, name), Some(v))
            }
            55..=64 if !pods.is_empty() => (pods[self.rng.random_range(0..pods.len())].clone(), None),
            65..=79 if !pods.is_empty() && !nodes.is_empty() => {
                // Bind a pod, finish one, or mark one as being deleted.
                let key = pods[self.rng.random_range(0..pods.len())].clone();
                let mut v = self.objects[&key].clone();
                match self.rng.random_range(0..4) {
                    0 => v["status"]["phase"] = json!("Succeeded"),
                    1 => v["metadata"]["deletionTimestamp"] = json!("2026-01-02T00:00:00Z"),
                    _ => v["spec"]["nodeName"] = json!(nodes[self.rng.random_range(0..nodes.len())].name),
                }
                (key, Some(v))
            }
            80..=86 => {
                let ns = self.pick(NAMESPACES);
                let name = self.pick(APPS);
                let v = if self.chance(0.5) {
                    json!({"metadata": {"name": name, "namespace": ns}, "spec": {"selector": {"app": name}}})
                } else {
                    json!({"metadata": {"name": name, "namespace": ns}, "spec": {}})
                };
                (ObjectKey::new(Kind::Service, ns, name), if self.chance(0.8) { Some(v) } else { None })
            }
            87..=92 => {
                let ns = self.pick(NAMESPACES);
                let name = format!("rs-{}", self.pick(APPS));
                let app = self.pick(APPS);
                let v = json!({"metadata": {"name": name, "namespace": ns}, "spec": {"selector": {"matchLabels": {"app": app}}}});
                (ObjectKey::new(Kind::ReplicaSet, ns, name), if self.chance(0.8) { Some(v) } else { None })
            }
            _ => {
                let ns = self.pick(NAMESPACES);
                let labels = if self.chance(0.5) { json!({"team": "x"}) } else { json!({}) };
                (ObjectKey::new(Kind::Namespace, "", ns), Some(json!({"metadata": {"name": ns, "labels": labels}})))
            }
        }
    }
}
