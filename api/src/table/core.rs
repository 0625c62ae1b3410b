//! Printers of the core (`v1`) group: upstream's printService, printNode, printEndpoints,
//! printNamespace, printSecret, printServiceAccount and printConfigMap, and the dispatch for the
//! whole group: pods live in `pod.rs`, volumes, claims and quotas in `storage.rs`, replication
//! controllers in `apps.rs`, events in `other.rs`; limit ranges and bindings have no printer.

use std::collections::BTreeSet;

use serde_json::Value;

use super::docs;
use super::util::{arr, bool_at, format_labels, get, int_at, map_len, name, str_at, Ctx};
use super::{apps, other, pod, storage, Column, ColumnsFn, Printer, Row, RowFn};

pub(crate) fn printer(plural: &str) -> Option<Printer> {
    let (columns, row): (ColumnsFn, RowFn) = match plural {
        "pods" => (pod::columns, pod::row),
        "services" => (service_columns, service_row),
        "endpoints" => (endpoints_columns, endpoints_row),
        "nodes" => (node_columns, node_row),
        "namespaces" => (namespace_columns, namespace_row),
        "configmaps" => (config_map_columns, config_map_row),
        "secrets" => (secret_columns, secret_row),
        "serviceaccounts" => (service_account_columns, service_account_row),
        "resourcequotas" => return storage::printer(plural),
        "events" => (other::event_columns, other::core_event_row),
        "replicationcontrollers" => return apps::printer(plural),
        "persistentvolumes" | "persistentvolumeclaims" => return storage::printer(plural),
        _ => return None,
    };
    Some(Printer { columns, row })
}

fn service_columns() -> Vec<Column> {
    vec![
        Column::name(),
        Column::string("Type", docs::SERVICE_SPEC_TYPE),
        Column::string("Cluster-IP", docs::SERVICE_SPEC_CLUSTER_IP),
        Column::string("External-IP", docs::SERVICE_SPEC_EXTERNAL_IPS),
        Column::string("Port(s)", docs::SERVICE_SPEC_PORTS),
        Column::age(),
        Column::string("Selector", docs::SERVICE_SPEC_SELECTOR).wide(),
    ]
}

/// `getServiceExternalIP` with `wide` set, as the apiserver always prints.
fn service_external_ip(svc: &Value, ty: &str) -> String {
    let external: Vec<&str> = arr(svc, &["spec", "externalIPs"]).iter().filter_map(Value::as_str).collect();
    match ty {
        "ClusterIP" | "NodePort" if external.is_empty() => "<none>".to_string(),
        "ClusterIP" | "NodePort" => external.join(","),
        "LoadBalancer" => {
            // loadBalancerStatusStringer: the sorted set of ingress IPs, or hostnames without one.
            let lb: BTreeSet<&str> = arr(svc, &["status", "loadBalancer", "ingress"])
                .iter()
                .filter_map(|ing| match (str_at(ing, &["ip"]), str_at(ing, &["hostname"])) {
                    ("", "") => None,
                    ("", host) => Some(host),
                    (ip, _) => Some(ip),
                })
                .collect();
            let mut all: Vec<&str> = lb.into_iter().collect();
            all.extend(external);
            if all.is_empty() {
                "<pending>".to_string()
            } else {
                all.join(",")
            }
        }
        "ExternalName" => str_at(svc, &["spec", "externalName"]).to_string(),
        _ => "<unknown>".to_string(),
    }
}

fn service_row(svc: &Value, ctx: &Ctx) -> Row {
    // Defaulting makes every Service a ClusterIP one unless told otherwise.
    let ty = match str_at(svc, &["spec", "type"]) {
        "" => "ClusterIP",
        ty => ty,
    };
    // clusterIP wins over clusterIPs (the v1 → internal conversion).
    let cluster_ip = match str_at(svc, &["spec", "clusterIP"]) {
        "" => arr(svc, &["spec", "clusterIPs"]).first().and_then(Value::as_str).unwrap_or(""),
        ip => ip,
    };
    let ports: Vec<String> = arr(svc, &["spec", "ports"])
        .iter()
        .map(|p| {
            let protocol = match str_at(p, &["protocol"]) {
                "" => "TCP",
                proto => proto,
            };
            let (port, node_port) = (int_at(p, &["port"]), int_at(p, &["nodePort"]));
            if node_port > 0 {
                format!("{port}:{node_port}/{protocol}")
            } else {
                format!("{port}/{protocol}")
            }
        })
        .collect();
    Row::new(vec![
        name(svc).into(),
        ty.into(),
        (if cluster_ip.is_empty() { "<none>" } else { cluster_ip }).into(),
        service_external_ip(svc, ty).into(),
        (if ports.is_empty() { "<none>".to_string() } else { ports.join(",") }).into(),
        ctx.age(svc),
        format_labels(get(svc, &["spec", "selector"])).into(),
    ])
}

fn endpoints_columns() -> Vec<Column> {
    vec![Column::name(), Column::string("Endpoints", docs::ENDPOINTS_SUBSETS), Column::age()]
}

/// `formatEndpoints` for all ports: up to three `ip:port` entries, then `+ N more...`.
fn format_endpoints(ep: &Value) -> String {
    let subsets = arr(ep, &["subsets"]);
    if subsets.is_empty() {
        return "<none>".to_string();
    }
    const MAX: usize = 3;
    let (mut list, mut more, mut count) = (Vec::new(), false, 0usize);
    for ss in subsets {
        let addresses = arr(ss, &["addresses"]);
        let ports = arr(ss, &["ports"]);
        // Headless services may have no ports: list the bare addresses.
        let port_numbers: Vec<Option<i64>> = if ports.is_empty() { vec![None] } else { ports.iter().map(|p| Some(int_at(p, &["port"]))).collect() };
        for port in port_numbers {
            count += addresses.len();
            for addr in addresses {
                if list.len() == MAX {
                    more = true;
                    break;
                }
                let ip = str_at(addr, &["ip"]);
                list.push(match port {
                    None => ip.to_string(),
                    // net.JoinHostPort brackets IPv6 addresses.
                    Some(port) if ip.contains(':') => format!("[{ip}]:{port}"),
                    Some(port) => format!("{ip}:{port}"),
                });
            }
        }
    }
    let joined = list.join(",");
    if more {
        format!("{joined} + {} more...", count - MAX)
    } else {
        joined
    }
}

fn endpoints_row(ep: &Value, ctx: &Ctx) -> Row {
    Row::new(vec![name(ep).into(), format_endpoints(ep).into(), ctx.age(ep)])
}

fn node_columns() -> Vec<Column> {
    vec![
        Column::name(),
        Column::string("Status", "The status of the node"),
        Column::string("Roles", "The roles of the node"),
        Column::age(),
        Column::string("Version", docs::NODE_INFO_KUBELET_VERSION),
        Column::string("Internal-IP", docs::NODE_STATUS_ADDRESSES).wide(),
        Column::string("External-IP", docs::NODE_STATUS_ADDRESSES).wide(),
        Column::string("OS-Image", docs::NODE_INFO_OS_IMAGE).wide(),
        Column::string("Kernel-Version", docs::NODE_INFO_KERNEL_VERSION).wide(),
        Column::string("Container-Runtime", docs::NODE_INFO_CONTAINER_RUNTIME_VERSION).wide(),
    ]
}

/// `findNodeRoles`: `node-role.kubernetes.io/<role>` labels and the `kubernetes.io/role` label.
fn node_roles(node: &Value) -> String {
    let mut roles = BTreeSet::new();
    for (key, value) in get(node, &["metadata", "labels"]).and_then(Value::as_object).into_iter().flatten() {
        if let Some(role) = key.strip_prefix("node-role.kubernetes.io/") {
            if !role.is_empty() {
                roles.insert(role.to_string());
            }
        } else if key == "kubernetes.io/role" {
            if let Some(role) = value.as_str().filter(|r| !r.is_empty()) {
                roles.insert(role.to_string());
            }
        }
    }
    if roles.is_empty() {
        "<none>".to_string()
    } else {
        roles.into_iter().collect::<Vec<_>>().join(",")
    }
}

fn node_row(node: &Value, ctx: &Ctx) -> Row {
    // Only the Ready condition is shown; the last one of that type wins, as in upstream's map.
    let ready = arr(node, &["status", "conditions"]).iter().rev().find(|c| str_at(c, &["type"]) == "Ready");
    let mut status = match ready {
        Some(c) if str_at(c, &["status"]) == "True" => "Ready".to_string(),
        Some(_) => "NotReady".to_string(),
        None => "Unknown".to_string(),
    };
    if bool_at(node, &["spec", "unschedulable"]) {
        status.push_str(",SchedulingDisabled");
    }
    let address =
        |ty: &str| arr(node, &["status", "addresses"]).iter().find(|a| str_at(a, &["type"]) == ty).map_or("<none>", |a| str_at(a, &["address"])).to_string();
    let info = |field: &str| match str_at(node, &["status", "nodeInfo", field]) {
        "" => "<unknown>".to_string(),
        v => v.to_string(),
    };
    Row::new(vec![
        name(node).into(),
        status.into(),
        node_roles(node).into(),
        ctx.age(node),
        str_at(node, &["status", "nodeInfo", "kubeletVersion"]).into(),
        address("InternalIP").into(),
        address("ExternalIP").into(),
        info("osImage").into(),
        info("kernelVersion").into(),
        info("containerRuntimeVersion").into(),
    ])
}

fn namespace_columns() -> Vec<Column> {
    vec![Column::name(), Column::string("Status", "The status of the namespace"), Column::age()]
}

fn namespace_row(ns: &Value, ctx: &Ctx) -> Row {
    // Defaulting sets the phase of a new namespace to Active.
    let phase = match str_at(ns, &["status", "phase"]) {
        "" => "Active",
        phase => phase,
    };
    Row::new(vec![name(ns).into(), phase.into(), ctx.age(ns)])
}

fn config_map_columns() -> Vec<Column> {
    vec![Column::name(), Column::string("Data", docs::CONFIG_MAP_DATA), Column::age()]
}

fn config_map_row(cm: &Value, ctx: &Ctx) -> Row {
    let entries = map_len(cm, &["data"]) + map_len(cm, &["binaryData"]);
    Row::new(vec![name(cm).into(), (entries as i64).into(), ctx.age(cm)])
}

fn secret_columns() -> Vec<Column> {
    vec![Column::name(), Column::string("Type", docs::SECRET_TYPE), Column::string("Data", docs::SECRET_DATA), Column::age()]
}

fn secret_row(secret: &Value, ctx: &Ctx) -> Row {
    let ty = match str_at(secret, &["type"]) {
        "" => "Opaque",
        ty => ty,
    };
    Row::new(vec![name(secret).into(), ty.into(), (map_len(secret, &["data"]) as i64).into(), ctx.age(secret)])
}

fn service_account_columns() -> Vec<Column> {
    vec![Column::name(), Column::string("Secrets", docs::SERVICE_ACCOUNT_SECRETS), Column::age()]
}

fn service_account_row(sa: &Value, ctx: &Ctx) -> Row {
    Row::new(vec![name(sa).into(), (arr(sa, &["secrets"]).len() as i64).into(), ctx.age(sa)])
}

// Expectations from upstream's pkg/printers/internalversion/printers_test.go (TestPrintNodeStatus,
// TestPrintNodeRole, TestPrintNodeExternalIP, TestPrintNodeInternalIP, TestPrintServiceLoadBalancer,
// TestPrintNamespace, TestPrintSecret, TestPrintServiceAccount, TestPrintConfigMap).
#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cells(row: RowFn, obj: Value) -> Vec<Value> {
        row(&obj, &Ctx::new(1_700_000_000)).cells
    }

    fn v(x: Value) -> Vec<Value> {
        x.as_array().unwrap().clone()
    }

    #[test]
    fn nodes() {
        let node = |spec: Value, status: Value| json!({"metadata": {"name": "foo"}, "spec": spec, "status": status});
        let ready = json!({"conditions": [{"type": "Ready", "status": "True"}]});
        assert_eq!(cells(node_row, node(json!({}), ready.clone()))[..5], v(json!(["foo", "Ready", "<none>", "<unknown>", ""]))[..]);
        assert_eq!(cells(node_row, node(json!({"unschedulable": true}), ready))[1], "Ready,SchedulingDisabled");
        let not_ready = json!({"conditions": [{"type": "Ready", "status": "False"}]});
        assert_eq!(cells(node_row, node(json!({"unschedulable": true}), not_ready))[1], "NotReady,SchedulingDisabled");
        let invalid = json!({"conditions": [{"type": "InvalidValue", "status": "True"}]});
        assert_eq!(cells(node_row, node(json!({}), invalid))[1], "Unknown");
        assert_eq!(cells(node_row, node(json!({"unschedulable": true}), json!({"conditions": [{}]})))[1], "Unknown,SchedulingDisabled");

        let labeled = json!({"metadata": {"name": "foo10", "labels": {"node-role.kubernetes.io/master": "",
            "node-role.kubernetes.io/control-plane": "", "node-role.kubernetes.io/proxy": "", "kubernetes.io/role": "node"}}});
        assert_eq!(cells(node_row, labeled)[2], "control-plane,master,node,proxy");

        let addrs = json!({"metadata": {"name": "foo3"}, "status": {"addresses": [
            {"type": "ExternalIP", "address": "2.2.2.2"}, {"type": "InternalIP", "address": "3.3.3.3"},
            {"type": "ExternalIP", "address": "4.4.4.4"}]}});
        assert_eq!(
            cells(node_row, addrs),
            v(json!(["foo3", "Unknown", "<none>", "<unknown>", "", "3.3.3.3", "2.2.2.2", "<unknown>", "<unknown>", "<unknown>"]))
        );
        let info = json!({"metadata": {"name": "foo1"}, "status": {"nodeInfo": {"osImage": "fake-os-image",
            "kubeletVersion": "v1.34.0"}}});
        assert_eq!(cells(node_row, info)[4..8], v(json!(["v1.34.0", "<none>", "<none>", "fake-os-image"]))[..]);
    }

    #[test]
    fn services() {
        let lb = |ports: Value, ingress: Value| {
            json!({"metadata": {"name": "service1"},
            "spec": {"clusterIPs": ["1.2.3.4"], "type": "LoadBalancer", "ports": ports, "selector": {"foo": "bar"}},
            "status": {"loadBalancer": {"ingress": ingress}}})
        };
        let tcp80 = json!([{"port": 80, "protocol": "TCP"}]);
        assert_eq!(
            cells(service_row, lb(tcp80.clone(), json!([{"ip": "2.3.4.5"}, {"ip": "3.4.5.6"}])))[..5],
            v(json!(["service1", "LoadBalancer", "1.2.3.4", "2.3.4.5,3.4.5.6", "80/TCP"]))[..]
        );
        let many = json!([{"port": 80, "protocol": "TCP"}, {"port": 8090, "protocol": "UDP"},
                          {"port": 8000, "protocol": "TCP"}, {"port": 7777, "protocol": "SCTP"}]);
        assert_eq!(cells(service_row, lb(many, json!([])))[3..5], v(json!(["<pending>", "80/TCP,8090/UDP,8000/TCP,7777/SCTP"]))[..]);
        // Wide output never elides the load balancer addresses.
        let c = cells(service_row, lb(tcp80, json!([{"ip": "2.3.4.5"}, {"ip": "3.4.5.6"}, {"ip": "5.6.7.8", "hostname": "host5678"}])));
        assert_eq!(c[3], "2.3.4.5,3.4.5.6,5.6.7.8");
        assert_eq!(c[6], "foo=bar");

        let np = json!({"metadata": {"name": "np"}, "spec": {"type": "NodePort", "clusterIP": "10.0.0.1",
            "ports": [{"port": 80, "nodePort": 30080}]}});
        assert_eq!(cells(service_row, np)[..5], v(json!(["np", "NodePort", "10.0.0.1", "<none>", "80:30080/TCP"]))[..]);
        let plain = json!({"metadata": {"name": "k"}, "spec": {"clusterIP": "None", "externalIPs": ["9.9.9.9"]}});
        assert_eq!(cells(service_row, plain), v(json!(["k", "ClusterIP", "None", "9.9.9.9", "<none>", "<unknown>", "<none>"])));
        let ext = json!({"metadata": {"name": "e"}, "spec": {"type": "ExternalName", "externalName": "example.com"}});
        assert_eq!(cells(service_row, ext)[2..4], v(json!(["<none>", "example.com"]))[..]);
    }

    #[test]
    fn endpoints() {
        let ep = json!({"metadata": {"name": "e"}, "subsets": [
            {"addresses": [{"ip": "10.0.0.1"}, {"ip": "fd00::1"}], "ports": [{"port": 80}, {"port": 443}]}]});
        assert_eq!(cells(endpoints_row, ep)[1], "10.0.0.1:80,[fd00::1]:80,10.0.0.1:443 + 1 more...");
        let headless = json!({"subsets": [{"addresses": [{"ip": "10.0.0.1"}]}]});
        assert_eq!(cells(endpoints_row, headless)[1], "10.0.0.1");
        assert_eq!(cells(endpoints_row, json!({}))[1], "<none>");
    }

    #[test]
    fn small_kinds() {
        let soon = "2023-11-14T22:13:21Z"; // 1s in the future: "0s"
        let ns = json!({"metadata": {"name": "namespace1", "creationTimestamp": soon}, "status": {"phase": "FooStatus"}});
        assert_eq!(cells(namespace_row, ns), v(json!(["namespace1", "FooStatus", "0s"])));
        let secret = json!({"metadata": {"name": "secret1", "creationTimestamp": soon},
            "type": "kubernetes.io/service-account-token", "data": {"token": "c2VjcmV0"}});
        assert_eq!(cells(secret_row, secret), v(json!(["secret1", "kubernetes.io/service-account-token", 1, "0s"])));
        let sa = json!({"metadata": {"name": "sa1"}, "secrets": [{"name": "Secret1"}, {"name": "Secret2"}]});
        assert_eq!(cells(service_account_row, sa), v(json!(["sa1", 2, "<unknown>"])));
        let cm = json!({"metadata": {"name": "configmap3"}, "data": {"foo": "bar"}, "binaryData": {"bin": "YQ=="}});
        assert_eq!(cells(config_map_row, cm)[1], 2);
    }
}
