//! The churn's networking objects: Nodes with and without pod CIDRs (some landed from the
//! controller's own choice, some conflicting or unusable), EndpointSlices written by the
//! controller or by someone else, Services' load-balancer fields and status, and the pod
//! fields slices read (pod IPs of both families, hostnames, sidecar ports).

use deltakube_dataflows::controllers::cidr::{AddressPool, NodeCidrs};
use deltakube_dataflows::controllers::{endpointslices, loadbalancer, nodeipam};
use deltakube_dataflows::reconcile::create_body;
use deltakube_dataflows::rows::{project, Row, ZONE_LABEL};
use deltakube_dataflows::types::{Kind, ObjectKey};
use rand::Rng;
use serde_json::{json, Value};

use super::World;

/// Four blocks, so that churning five Nodes exhausts them.
pub fn node_cidrs() -> NodeCidrs {
    NodeCidrs::new("10.244.0.0/22".parse().unwrap(), 24).unwrap()
}

/// Three addresses, so that the churn's load balancers exhaust them.
pub fn balancer_pool() -> AddressPool {
    "172.18.255.200-172.18.255.202".parse().unwrap()
}

fn rows<T>(objects: &std::collections::BTreeMap<ObjectKey, Value>, pick: impl Fn(Row) -> Option<T>) -> Vec<T> {
    objects.iter().filter_map(|(k, v)| pick(project(k, v).ok()?)).collect()
}

impl World {
    /// Pod fields for slices: no Node, dual-stack IPs, a hostname in a service's subdomain,
    /// a sidecar serving the named port.
    pub fn pod_network(&mut self, pod: &mut Value) {
        if self.rng.random_bool(0.1) {
            pod["spec"].as_object_mut().unwrap().remove("nodeName");
        } else {
            pod["spec"]["nodeName"] = json!(format!("node-{}", self.rng.random_range(0..4)));
        }
        if let Some(ip) = pod["status"]["podIP"].as_str().map(str::to_string) {
            let v6 = format!("fd00::{}", self.rng.random_range(1..99));
            match self.rng.random_range(0..8) {
                0 => pod["status"]["podIPs"] = json!([{"ip": ip}, {"ip": v6}]),
                1 => {
                    pod["status"]["podIP"] = json!(v6);
                    pod["status"]["podIPs"] = json!([{"ip": v6}, {"ip": ip}]);
                }
                2 => pod["status"]["podIP"] = json!(v6),
                _ => {}
            }
        }
        if self.rng.random_bool(0.15) {
            pod["spec"]["hostname"] = json!("h");
            pod["spec"]["subdomain"] = json!(format!("svc-{}", self.rng.random_range(0..4)));
        }
        if self.rng.random_bool(0.2) {
            let sidecar = json!({"name": "side", "image": "x", "restartPolicy": "Always", "ports": [{"name": "http", "containerPort": 9090}]});
            match pod["spec"]["initContainers"].as_array_mut() {
                Some(init) => init.push(sidecar),
                None => pod["spec"]["initContainers"] = json!([sidecar]),
            }
        }
        if self.rng.random_bool(0.2) {
            pod["spec"]["containers"][0]["ports"][0]["name"] = json!("web");
        }
    }

    /// Service fields for slices and load balancers, and sometimes the status the controller
    /// would write now (its allocation having landed).
    pub fn service_network(&mut self, key: &ObjectKey, svc: &mut Value) {
        if self.rng.random_bool(0.2) {
            svc["spec"]["ports"][0]["appProtocol"] = json!("http");
        }
        if self.rng.random_bool(0.1) {
            svc["metadata"]["labels"][endpointslices::SERVICE_NAME] = json!("spoofed");
        }
        match self.rng.random_range(0..20) {
            0 | 1 => svc["spec"]["clusterIP"] = json!("None"),
            2 => {
                svc["spec"]["clusterIP"] = json!("None");
                svc["spec"].as_object_mut().unwrap().remove("ports");
            }
            3 => svc["spec"]["type"] = json!("ExternalName"),
            _ => {}
        }
        if svc["spec"]["type"] == "LoadBalancer" {
            if self.rng.random_bool(0.1) {
                svc["spec"]["loadBalancerClass"] = json!("example.com/other");
            }
            if self.rng.random_bool(0.2) {
                svc["spec"]["loadBalancerIP"] = json!(self.pick(&["172.18.255.201", "172.18.255.202", "10.1.1.1"]));
            }
        }
        if self.rng.random_bool(0.05) {
            svc["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
        }
        match self.rng.random_range(0..9) {
            0 | 7 => svc["status"] = json!({"loadBalancer": {"ingress": [{"ip": self.pick(&["172.18.255.200", "172.18.255.201", "172.18.255.202"])}]}}),
            1 => svc["status"] = json!({"loadBalancer": {"ingress": [{"ip": "172.18.255.200"}, {"ip": "172.18.255.202"}]}}),
            2 => svc["status"] = json!({"loadBalancer": {"ingress": [{"ip": self.pick(&["10.1.1.1", "192.0.2.7"])}]}}),
            3 => svc["status"] = json!({"loadBalancer": {"ingress": [{"hostname": "lb.example.com"}]}}),
            4..=6 => {
                // The controller's allocation for this service has landed.
                let objects = self.objects_with(key, svc);
                let (view, _, _) = loadbalancer::reference(Some(balancer_pool()), &rows(&objects, |r| if let Row::Service(s) = r { Some(s) } else { None }));
                if let Some((_, ip)) = view.into_iter().find(|(k, _)| k == key) {
                    svc["status"] = json!({"loadBalancer": {"ingress": [{"ip": ip}]}});
                }
            }
            _ => {}
        }
    }

    /// A Node created, changed or deleted: with a zone or not, with a pod CIDR the controller
    /// chose, or one that conflicts, lies outside the cluster CIDR, or does not parse.
    pub fn node_step(&mut self) -> (ObjectKey, Option<Value>) {
        let name = format!("node-{}", self.rng.random_range(0..5));
        let key = ObjectKey::new(Kind::Node, "", name.clone());
        if self.objects.contains_key(&key) && self.rng.random_bool(0.25) {
            return (key, None);
        }
        let mut node = json!({"metadata": {"name": name, "uid": self.uid()}, "spec": {}});
        if self.rng.random_bool(0.7) {
            node["metadata"]["labels"] = json!({ZONE_LABEL: self.pick(&["z1", "z2", ""])});
        }
        let cidrs: Vec<String> = match self.rng.random_range(0..20) {
            0..=7 => vec![],
            8..=13 => {
                let objects = self.objects_with(&key, &node);
                let (view, _, _) = nodeipam::reference(Some(node_cidrs()), &rows(&objects, |r| if let Row::Node(n) = r { Some(n) } else { None }));
                view.into_iter().find(|(k, _)| *k == key).map(|(_, c)| c.to_string()).into_iter().collect()
            }
            14 | 15 => vec![format!("10.244.{}.0/24", self.rng.random_range(0..4))],
            16 => vec!["10.244.2.0/23".into()],
            17 => vec!["10.99.0.0/24".into()],
            18 => vec!["10.244.3.0/24".into(), "fd00:1::/64".into()],
            _ => vec!["x".into()],
        };
        if let Some(first) = cidrs.first() {
            node["spec"] = json!({"podCIDR": first, "podCIDRs": cidrs});
        }
        (key, Some(node))
    }

    /// An EndpointSlice written by someone: one the controller wants (exact or drifted), a
    /// managed one it does not want, or a user's; or a slice deleted.
    pub fn slice_step(&mut self, ns: &str) -> (ObjectKey, Option<Value>) {
        let existing: Vec<ObjectKey> = self.objects.keys().filter(|k| k.kind == Kind::EndpointSlice && k.namespace == ns).cloned().collect();
        if !existing.is_empty() && self.rng.random_bool(0.3) {
            return (existing[self.rng.random_range(0..existing.len())].clone(), None);
        }
        let services = rows(&self.objects, |r| if let Row::Service(s) = r { Some(s) } else { None });
        let pods = rows(&self.objects, |r| if let Row::Pod(p) = r { Some(p) } else { None });
        let nodes = rows(&self.objects, |r| if let Row::Node(n) = r { Some(n) } else { None });
        let (wanted, _) = endpointslices::reference(&services, &pods, &nodes, &[]);
        let wanted: Vec<_> = wanted.into_iter().filter(|(k, _)| k.namespace == ns).collect();
        if !wanted.is_empty() && self.rng.random_bool(0.6) {
            let (key, content) = wanted[self.rng.random_range(0..wanted.len())].clone();
            let mut slice: Value = serde_json::from_str(&create_body(&key, &content.to_str())).unwrap();
            match self.rng.random_range(0..5) {
                0 => slice["metadata"]["labels"]["extra"] = json!("x"),
                1 => slice["endpoints"] = json!([]),
                2 => slice["metadata"]["ownerReferences"][0]["uid"] = json!("uid-old"),
                _ => {}
            }
            return (key, Some(slice));
        }
        let service = format!("svc-{}", self.rng.random_range(0..5));
        let name = format!("{service}-zzzzz");
        let mut labels = json!({endpointslices::SERVICE_NAME: service});
        if self.rng.random_bool(0.7) {
            labels[endpointslices::MANAGED_BY] = json!(endpointslices::CONTROLLER_NAME);
        }
        let slice = json!({"metadata": {"name": name, "namespace": ns, "labels": labels}, "addressType": "IPv4",
            "endpoints": [{"addresses": ["10.9.9.9"], "conditions": {"ready": true}}], "ports": [{"name": "main", "port": 8080, "protocol": "TCP"}]});
        (ObjectKey::new(Kind::EndpointSlice, ns, name), Some(slice))
    }
}
