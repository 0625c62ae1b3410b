//! ClusterIPs and NodePorts for Services, allocated on write as upstream's service storage
//! does (`pkg/registry/core/service/storage/alloc.go` with `ipallocator` and
//! `portallocator`), on a single-stack IPv4 cluster:
//! - a Service that needs a ClusterIP (every type but ExternalName, unless headless, `None`)
//!   gets one from `--service-cluster-ip-range` (`clusterIP` and `clusterIPs`), with
//!   `ipFamilies: [IPv4]` and `ipFamilyPolicy: SingleStack` where it sets none (a selectorless
//!   headless Service `RequireDualStack`, as upstream's);
//! - the ports of a NodePort Service, and of a LoadBalancer one unless
//!   `allocateLoadBalancerNodePorts` is false, get nodePorts from `--service-node-port-range`,
//!   one per port number (shared by its protocols), and a LoadBalancer with
//!   `externalTrafficPolicy: Local` a `healthCheckNodePort`;
//! - a requested address or port must be in its range and free, else 422 with upstream's
//!   messages; a full range is upstream's 500 InternalError;
//! - picks are random, from the upper band of each range first: the lower band is left for
//!   those who ask for a value (upstream's static subranges);
//! - an update first keeps what the Service had where the new spec leaves it out (NodePorts by
//!   port name) and drops what a new type no longer needs where the user left it as it was
//!   ([`prepare_update`]); then the ClusterIP may not change, and what the new type needs is
//!   allocated;
//! - upstream's type checks: no nodePort on a ClusterIP Service, no `None` for NodePort or
//!   LoadBalancer, no ClusterIP for ExternalName, no duplicate (protocol, nodePort), no IPv6
//!   or required dual-stack.
//!
//! What is in use is read from the Services in the watch cache, once it has caught up with
//! the store's current revision, so deletions and other servers' writes count. One lock
//! serializes this server's allocating writes until they are stored. Several API servers over
//! one etcd can still race between reading and writing (upstream shares a bitmap, or
//! IPAddress objects, with compare-and-swap); that is left alone.

use std::collections::{BTreeMap, HashSet};
use std::net::Ipv4Addr;
use std::ops::RangeInclusive;
use std::time::Duration;

use serde_json::{json, Value};

use crate::cache::WatchCache;
use crate::error::{ApiError, ApiResult, Cause};
use crate::store::Store;

/// The ranges Services draw from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceRanges {
    /// `--service-cluster-ip-range`: network address and prefix length.
    pub cluster_ips: (u32, u8),
    /// `--service-node-port-range`.
    pub node_ports: RangeInclusive<u16>,
}

impl Default for ServiceRanges {
    /// Upstream's defaults: `10.96.0.0/12` and `30000-32767`.
    fn default() -> ServiceRanges {
        ServiceRanges { cluster_ips: (u32::from(Ipv4Addr::new(10, 96, 0, 0)), 12), node_ports: 30000..=32767 }
    }
}

impl ServiceRanges {
    /// Parses `--service-cluster-ip-range` (an IPv4 CIDR of at most 2^20 addresses, as
    /// upstream's limit) and `--service-node-port-range` (`first-last`).
    pub fn parse(cluster_ips: &str, node_ports: &str) -> Result<ServiceRanges, String> {
        let bad_cidr = || format!("--service-cluster-ip-range {cluster_ips:?} is not an IPv4 CIDR such as 10.96.0.0/12");
        let (address, prefix) = cluster_ips.split_once('/').ok_or_else(bad_cidr)?;
        let address: Ipv4Addr = address.parse().map_err(|_| bad_cidr())?;
        let prefix: u8 = prefix.parse().ok().filter(|p| (12..=30).contains(p)).ok_or_else(|| format!("{}: the prefix must be 12 to 30", bad_cidr()))?;
        let mask = u32::MAX << (32 - prefix);
        let bad_ports = || format!("--service-node-port-range {node_ports:?} is not a port range such as 30000-32767");
        let (first, last) = node_ports.split_once('-').ok_or_else(bad_ports)?;
        let (first, last): (u16, u16) = (first.trim().parse().map_err(|_| bad_ports())?, last.trim().parse().map_err(|_| bad_ports())?);
        if first == 0 || first > last {
            return Err(bad_ports());
        }
        Ok(ServiceRanges { cluster_ips: (u32::from(address) & mask, prefix), node_ports: first..=last })
    }

    fn cidr(&self) -> String {
        format!("{}/{}", Ipv4Addr::from(self.cluster_ips.0), self.cluster_ips.1)
    }

    /// The addresses that may be handed out: all but the network and broadcast addresses.
    fn ip_offsets(&self) -> RangeInclusive<u32> {
        1..=(1u32 << (32 - self.cluster_ips.1)) - 2
    }

    fn ports(&self) -> String {
        format!("{}-{}", self.node_ports.start(), self.node_ports.end())
    }
}

/// Upstream's `calculateRangeOffset`: where the upper (dynamic) band of a range starts.
fn band_offset(size: u32, max: u32, step: u32) -> u32 {
    const MIN: u32 = 16;
    if size <= MIN {
        0
    } else {
        (size / step).clamp(MIN, max)
    }
}

/// The allocations a Service holds.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Held {
    ips: Vec<u32>,
    ports: Vec<u16>,
}

impl Held {
    fn of(service: &Value) -> Held {
        let mut held = Held::default();
        let spec = &service["spec"];
        let ips = spec["clusterIPs"].as_array().cloned().unwrap_or_else(|| vec![spec["clusterIP"].clone()]);
        held.ips = ips.iter().filter_map(Value::as_str).filter_map(|ip| ip.parse::<Ipv4Addr>().ok()).map(u32::from).collect();
        let ports = spec["ports"].as_array().into_iter().flatten().map(|p| &p["nodePort"]).chain([&spec["healthCheckNodePort"]]);
        held.ports = ports.filter_map(Value::as_u64).filter_map(|p| u16::try_from(p).ok()).collect();
        held
    }
}

/// What a Service of this spec needs (upstream's `needsClusterIP`, `needsNodePort`,
/// `needsHCNodePort`).
fn needs_cluster_ip(spec: &Value) -> bool {
    spec["type"].as_str() != Some("ExternalName")
}

fn needs_node_ports(spec: &Value) -> bool {
    matches!(spec["type"].as_str(), Some("NodePort" | "LoadBalancer"))
}

/// A LoadBalancer may ask for no NodePorts of its own: then only requested ones are held.
fn allocates_node_ports(spec: &Value) -> bool {
    needs_node_ports(spec) && !(spec["type"].as_str() == Some("LoadBalancer") && spec["allocateLoadBalancerNodePorts"].as_bool() == Some(false))
}

fn needs_health_check_port(spec: &Value) -> bool {
    spec["type"].as_str() == Some("LoadBalancer") && spec["externalTrafficPolicy"].as_str() == Some("Local")
}

fn is_headless(spec: &Value) -> bool {
    spec["clusterIP"].as_str() == Some("None")
}

/// A headless Service without a selector may carry any IP family (upstream's
/// `initIPFamilyFields`).
fn is_selectorless_headless(spec: &Value) -> bool {
    is_headless(spec) && spec["selector"].as_object().is_none_or(|s| s.is_empty())
}

/// A non-zero integer field; zero is unset, as upstream's.
fn set_number(v: &Value) -> Option<i64> {
    v.as_i64().filter(|n| *n != 0)
}

/// Hands out ClusterIPs and NodePorts; one per API server.
pub struct ServiceAllocator {
    ranges: ServiceRanges,
    /// Held by an allocating write until its Service is stored.
    lock: tokio::sync::Mutex<()>,
}

/// An allocating write in progress: holds the allocator until it is dropped, after the
/// Service is stored (or the write failed).
#[must_use = "hold it until the Service is stored"]
pub struct Allocation<'a> {
    _guard: Option<tokio::sync::MutexGuard<'a, ()>>,
}

/// Before an update is validated: what the stored Service had carries over where the new spec
/// leaves it out (upstream's `patchAllocatedValues`), and what a new type no longer needs is
/// dropped where the user left it as it was (`dropTypeDependentFields`).
pub fn prepare_update(old: &Value, service: &mut Value) {
    let (old_spec, Some(spec)) = (&old["spec"], service.get_mut("spec").filter(|s| s.is_object())) else { return };
    normalize_cluster_ips(spec);
    if needs_cluster_ip(old_spec) && needs_cluster_ip(spec) {
        if spec["clusterIP"].as_str().unwrap_or_default().is_empty() && !old_spec["clusterIP"].is_null() {
            spec["clusterIP"] = old_spec["clusterIP"].clone();
        }
        if spec["clusterIPs"].as_array().is_none_or(Vec::is_empty) && !old_spec["clusterIPs"].is_null() {
            spec["clusterIPs"] = old_spec["clusterIPs"].clone();
        }
    }
    let node_ports = |s: &Value| -> Vec<i64> { s["ports"].as_array().into_iter().flatten().filter_map(|p| set_number(&p["nodePort"])).collect() };
    if needs_node_ports(old_spec) && needs_node_ports(spec) {
        // By port name; never a value the new spec already gives another port.
        let in_new = node_ports(spec);
        let mut used: HashSet<i64> = node_ports(old_spec).into_iter().filter(|p| in_new.contains(p)).collect();
        let by_name: BTreeMap<String, Value> =
            old_spec["ports"].as_array().into_iter().flatten().map(|p| (p["name"].as_str().unwrap_or_default().to_string(), p["nodePort"].clone())).collect();
        for port in spec["ports"].as_array_mut().into_iter().flatten().filter(|p| p.is_object()) {
            if set_number(&port["nodePort"]).is_some() {
                continue;
            }
            let name = port["name"].as_str().unwrap_or_default().to_string();
            if let Some(old) = by_name.get(&name).and_then(set_number).filter(|n| !used.contains(n)) {
                port["nodePort"] = json!(old);
                used.insert(old);
            }
        }
    }
    if needs_health_check_port(old_spec) && needs_health_check_port(spec) && set_number(&spec["healthCheckNodePort"]).is_none() {
        spec["healthCheckNodePort"] = old_spec["healthCheckNodePort"].clone();
    }
    // dropTypeDependentFields.
    if needs_cluster_ip(old_spec) && !needs_cluster_ip(spec) {
        let spec = spec.as_object_mut().expect("an object");
        for field in ["clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"] {
            if spec.get(field) == old_spec.get(field) {
                spec.remove(field);
            }
        }
    }
    if needs_node_ports(old_spec) && !needs_node_ports(spec) && node_ports(old_spec) == node_ports(spec) {
        for port in spec["ports"].as_array_mut().into_iter().flatten().filter_map(Value::as_object_mut) {
            port.remove("nodePort");
        }
    }
    if needs_health_check_port(old_spec) && !needs_health_check_port(spec) && spec["healthCheckNodePort"] == old_spec["healthCheckNodePort"] {
        spec.as_object_mut().expect("an object").remove("healthCheckNodePort");
    }
}

/// Upstream's `NormalizeClusterIPs`: `clusterIP` is `clusterIPs[0]` when only the list is given.
fn normalize_cluster_ips(spec: &mut Value) {
    let first = spec["clusterIPs"].as_array().and_then(|l| l.first()).cloned();
    if spec["clusterIP"].as_str().unwrap_or_default().is_empty() {
        if let Some(first) = first {
            spec["clusterIP"] = first;
        }
    }
}

/// The checks of upstream's `ValidateService` and `ValidateServiceUpdate` that concern what
/// this allocator hands out, on a single-stack IPv4 cluster.
fn check(old: Option<&Value>, spec: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    let ty = spec["type"].as_str().unwrap_or("ClusterIP");
    let ports = spec["ports"].as_array().cloned().unwrap_or_default();
    if ty == "ClusterIP" {
        for (i, _) in ports.iter().enumerate().filter(|(_, p)| set_number(&p["nodePort"]).is_some()) {
            causes.push(forbidden(&format!("spec.ports[{i}].nodePort"), "may not be used when `type` is 'ClusterIP'"));
        }
    }
    if matches!(ty, "NodePort" | "LoadBalancer") && is_headless(spec) {
        causes.push(invalid("spec.clusterIPs[0]", "Invalid value: \"None\"", &format!("may not be set to 'None' for {ty} services")));
    }
    if ty == "ExternalName" && !spec["clusterIP"].as_str().unwrap_or_default().is_empty() {
        causes.push(forbidden("spec.clusterIP", "may not be set for ExternalName services"));
    }
    if let Some(port) = set_number(&spec["healthCheckNodePort"]).filter(|_| !needs_health_check_port(spec)) {
        causes.push(invalid(
            "spec.healthCheckNodePort",
            &format!("Invalid value: {port}"),
            "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'",
        ));
    }
    let mut seen = HashSet::new();
    for (i, port) in ports.iter().enumerate() {
        if let Some(node_port) = set_number(&port["nodePort"]) {
            if !seen.insert((port["protocol"].as_str().unwrap_or("TCP").to_string(), node_port)) {
                causes.push(Cause {
                    kind: "FieldValueDuplicate".into(),
                    message: format!("Duplicate value: {node_port}"),
                    field: format!("spec.ports[{i}].nodePort"),
                });
            }
        }
    }
    if needs_cluster_ip(spec) {
        for (i, family) in spec["ipFamilies"].as_array().into_iter().flatten().enumerate().filter(|(_, f)| f.as_str() != Some("IPv4")) {
            causes.push(invalid(&format!("spec.ipFamilies[{i}]"), &format!("Invalid value: {family}"), "not configured on this cluster"));
        }
        if spec["ipFamilyPolicy"].as_str() == Some("RequireDualStack") && !is_selectorless_headless(spec) {
            causes.push(invalid("spec.ipFamilyPolicy", "Invalid value: \"RequireDualStack\"", "this cluster is not configured for dual-stack services"));
        }
    }
    if let Some(old_spec) = old.map(|o| &o["spec"]).filter(|o| needs_cluster_ip(o) && needs_cluster_ip(spec)) {
        let first = |s: &Value| s["clusterIPs"].as_array().and_then(|l| l.first()).and_then(Value::as_str).map(str::to_string);
        let (was, now) = (old_spec["clusterIP"].as_str().unwrap_or_default(), spec["clusterIP"].as_str().unwrap_or_default());
        if (!was.is_empty() && was != now) || (first(old_spec).is_some() && first(old_spec) != first(spec)) {
            let list: Vec<String> = spec["clusterIPs"].as_array().into_iter().flatten().map(|ip| format!("{ip}")).collect();
            causes.push(invalid("spec.clusterIPs[0]", &format!("Invalid value: []string{{{}}}", list.join(", ")), "may not change once set"));
        }
    }
    causes
}

impl ServiceAllocator {
    pub fn new(ranges: ServiceRanges) -> ServiceAllocator {
        ServiceAllocator { ranges, lock: tokio::sync::Mutex::new(()) }
    }

    /// Allocates what a new Service (or the new state of an updated one, `old` its stored
    /// state, after [`prepare_update`]) needs, in place; `prefix` is where Services are kept
    /// in the cache and `key` this one's key. Before reading what is in use, the cache
    /// catches up with the store, so that deletions and other servers' writes count.
    pub async fn allocate<'a>(
        &'a self,
        cache: &WatchCache,
        store: &dyn Store,
        prefix: &str,
        key: &str,
        old: Option<&Value>,
        service: &mut Value,
    ) -> ApiResult<Allocation<'a>> {
        let name = service.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default().to_string();
        let invalid_service = |causes: Vec<Cause>| ApiError::invalid("", "Service", &name, causes);
        let Some(spec) = service.get_mut("spec").filter(|s| s.is_object()) else {
            return Ok(Allocation { _guard: None });
        };
        normalize_cluster_ips(spec);
        let causes = check(old, spec);
        if !causes.is_empty() {
            return Err(invalid_service(causes));
        }
        let guard = self.lock.lock().await;
        let current = store.current_revision().await.map_err(ApiError::internal)?;
        cache.wait_for(current, Duration::from_secs(5)).await?;
        let (mut used_ips, mut used_ports) = (HashSet::new(), HashSet::new());
        let (services, _) = cache.list(prefix, None);
        for s in services.iter().filter(|s| s.key != key) {
            let held = Held::of(&s.value);
            used_ips.extend(held.ips);
            used_ports.extend(held.ports);
        }
        let kept = old.map(Held::of).unwrap_or_default();
        let mut causes = Vec::new();
        let (cluster_ip, node_ports, allocates, health_check, selectorless_headless) =
            (needs_cluster_ip(spec), needs_node_ports(spec), allocates_node_ports(spec), needs_health_check_port(spec), is_selectorless_headless(spec));
        let spec = spec.as_object_mut().expect("checked above");

        // ClusterIP, and the family fields of a single-stack IPv4 cluster (upstream's
        // `initIPFamilyFields`: a selectorless headless Service may carry any family).
        if cluster_ip {
            let policy = if selectorless_headless { "RequireDualStack" } else { "SingleStack" };
            spec.entry("ipFamilyPolicy").or_insert_with(|| json!(policy));
            spec.entry("ipFamilies").or_insert_with(|| json!(["IPv4"]));
            match spec.get("clusterIP").and_then(Value::as_str).filter(|ip| !ip.is_empty()) {
                Some("None") => {
                    spec.insert("clusterIPs".into(), json!(["None"]));
                }
                Some(ip) => {
                    let ip = ip.to_string();
                    match self.claim_ip(&ip, &kept, &mut used_ips) {
                        Ok(()) => {
                            spec.insert("clusterIPs".into(), json!([ip]));
                        }
                        Err(e) => {
                            causes.push(invalid("spec.clusterIPs", &format!("Invalid value: []string{{{ip:?}}}"), &format!("failed to allocate IP {ip}: {e}")))
                        }
                    }
                }
                None => match self.pick_ip(&mut used_ips) {
                    Some(ip) => {
                        spec.insert("clusterIP".into(), json!(ip));
                        spec.insert("clusterIPs".into(), json!([ip]));
                    }
                    None => return Err(range_full("failed to allocate a serviceIP: range is full")),
                },
            }
        } else {
            for field in ["clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"] {
                spec.remove(field);
            }
        }

        // NodePorts: one per port number, shared by its protocols (upstream's `initNodePorts`).
        if node_ports {
            let mut mine: BTreeMap<i64, u16> = BTreeMap::new();
            let mut claimed: HashSet<u16> = HashSet::new();
            for (i, port) in spec.get_mut("ports").and_then(Value::as_array_mut).into_iter().flatten().enumerate() {
                let Some(port) = port.as_object_mut() else { continue };
                let number = port.get("port").and_then(Value::as_i64).unwrap_or(0);
                match port.get("nodePort").and_then(set_number) {
                    Some(requested) => match u16::try_from(requested).ok().filter(|p| claimed.contains(p)) {
                        Some(_) => {}
                        None => match self.claim_port(requested, &kept, &mut used_ports) {
                            Ok(p) => {
                                claimed.insert(p);
                                mine.entry(number).or_insert(p);
                            }
                            Err(e) => causes.push(invalid(&format!("spec.ports[{i}].nodePort"), &format!("Invalid value: {requested}"), &e)),
                        },
                    },
                    None if !allocates => {}
                    None => {
                        let p = match mine.get(&number) {
                            Some(p) => *p,
                            None => match self.pick_port(&mut used_ports) {
                                Some(p) => p,
                                None => return Err(range_full("failed to allocate a nodePort: range is full")),
                            },
                        };
                        claimed.insert(p);
                        mine.entry(number).or_insert(p);
                        port.insert("nodePort".into(), json!(p));
                    }
                }
            }
        } else {
            // ExternalName: ports are names for DNS alone.
            for port in spec.get_mut("ports").and_then(Value::as_array_mut).into_iter().flatten().filter_map(Value::as_object_mut) {
                port.remove("nodePort");
            }
        }
        if health_check {
            match spec.get("healthCheckNodePort").and_then(set_number) {
                Some(requested) => {
                    if let Err(e) = self.claim_port(requested, &kept, &mut used_ports) {
                        causes.push(invalid("spec.healthCheckNodePort", &format!("Invalid value: {requested}"), &e));
                    }
                }
                None => match self.pick_port(&mut used_ports) {
                    Some(p) => {
                        spec.insert("healthCheckNodePort".into(), json!(p));
                    }
                    None => return Err(range_full("failed to allocate a nodePort: range is full")),
                },
            }
        } else {
            spec.remove("healthCheckNodePort");
        }
        if !causes.is_empty() {
            return Err(invalid_service(causes));
        }
        Ok(Allocation { _guard: Some(guard) })
    }

    /// Claims an address a Service asks for: in the range, and free (or its own already).
    fn claim_ip(&self, ip: &str, kept: &Held, used: &mut HashSet<u32>) -> Result<(), String> {
        let Ok(address) = ip.parse::<Ipv4Addr>() else {
            return Err("must be a valid IP address".into());
        };
        let address = u32::from(address);
        let (network, _) = self.ranges.cluster_ips;
        let in_range = address.checked_sub(network).is_some_and(|offset| self.ranges.ip_offsets().contains(&offset));
        if !in_range {
            return Err(format!("the provided IP ({ip}) is not in the valid range. The range of valid IPs is {}", self.ranges.cidr()));
        }
        if !kept.ips.contains(&address) && !used.insert(address) {
            return Err("provided IP is already allocated".into());
        }
        Ok(())
    }

    fn claim_port(&self, port: i64, kept: &Held, used: &mut HashSet<u16>) -> Result<u16, String> {
        let Some(port) = u16::try_from(port).ok().filter(|p| self.ranges.node_ports.contains(p)) else {
            return Err(format!("provided port is not in the valid range. The range of valid ports is {}", self.ranges.ports()));
        };
        if !kept.ports.contains(&port) && !used.insert(port) {
            return Err("provided port is already allocated".into());
        }
        Ok(port)
    }

    fn pick_ip(&self, used: &mut HashSet<u32>) -> Option<String> {
        let offsets = self.ranges.ip_offsets();
        let band = band_offset(1u32 << (32 - self.ranges.cluster_ips.1), 256, 16);
        let (network, _) = self.ranges.cluster_ips;
        let offset = pick(*offsets.start()..=*offsets.end(), band, |o| !used.contains(&(network + o)))?;
        used.insert(network + offset);
        Some(Ipv4Addr::from(network + offset).to_string())
    }

    fn pick_port(&self, used: &mut HashSet<u16>) -> Option<u16> {
        let (first, last) = (u32::from(*self.ranges.node_ports.start()), u32::from(*self.ranges.node_ports.end()));
        let band = band_offset(last - first + 1, 128, 32);
        let port = pick(first..=last, band, |p| !used.contains(&(p as u16)))? as u16;
        used.insert(port);
        Some(port)
    }
}

/// A random free value of `range`, from its upper band (past `band` values from its start)
/// first: a random start, then onward with wrap-around, as upstream's allocators scan.
fn pick(range: RangeInclusive<u32>, band: u32, free: impl Fn(u32) -> bool) -> Option<u32> {
    let (first, last) = (*range.start(), *range.end());
    let split = (first + band).min(last + 1);
    let scan = |lo: u32, hi: u32| -> Option<u32> {
        if lo > hi {
            return None;
        }
        let start = rand::random_range(lo..=hi);
        (start..=hi).chain(lo..start).find(|v| free(*v))
    };
    scan(split, last).or_else(|| scan(first, split.saturating_sub(1)))
}

fn invalid(field: &str, value: &str, message: &str) -> Cause {
    Cause { kind: "FieldValueInvalid".into(), message: format!("{value}: {message}"), field: field.into() }
}

fn forbidden(field: &str, message: &str) -> Cause {
    Cause { kind: "FieldValueForbidden".into(), message: format!("Forbidden: {message}"), field: field.into() }
}

/// A full range is the server's state, not the request's fault: upstream's 500 InternalError.
fn range_full(message: &str) -> ApiError {
    ApiError::new(500, "InternalError", format!("Internal error occurred: {message}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_parse_and_bands_follow_upstream() {
        assert_eq!(ServiceRanges::parse("10.96.0.0/12", "30000-32767").unwrap(), ServiceRanges::default());
        assert_eq!(ServiceRanges::parse("10.0.0.7/24", "30000-30010").unwrap().cluster_ips, (u32::from(Ipv4Addr::new(10, 0, 0, 0)), 24));
        assert!(ServiceRanges::parse("10.0.0.0/8", "30000-32767").is_err(), "more than 2^20 addresses");
        assert!(ServiceRanges::parse("10.96.0.0/12", "32767-30000").is_err());
        // Upstream's TestCalculateRangeOffset: by the size of the CIDR (a /24: 256 → 16; a
        // /28's 16 → none; a /12 caps at 256) and of the port range (the default's: 86).
        assert_eq!(band_offset(256, 256, 16), 16);
        assert_eq!(band_offset(16, 256, 16), 0);
        assert_eq!(band_offset(1 << 20, 256, 16), 256);
        assert_eq!(band_offset(4096, 256, 16), 256);
        assert_eq!(band_offset(2768, 128, 32), 86);
    }

    #[test]
    fn picks_come_from_the_upper_band_until_it_is_full() {
        let used: HashSet<u32> = (20..=100).collect();
        for _ in 0..50 {
            let v = pick(0..=100, 20, |v| !used.contains(&v)).unwrap();
            assert!(v < 20, "{v}");
        }
        let v = pick(0..=100, 20, |v| v >= 20).unwrap();
        assert!(v >= 20);
        assert_eq!(pick(0..=3, 0, |_| false), None);
    }

    #[test]
    fn updates_keep_what_was_allocated_by_port_name() {
        let old = json!({"spec": {"type": "NodePort", "clusterIP": "10.96.0.9", "clusterIPs": ["10.96.0.9"],
                                  "ports": [{"name": "http", "port": 80, "protocol": "TCP", "nodePort": 30080}]}});
        // The port's number changes; its name keeps the NodePort. A new port gets none here.
        let mut new = json!({"spec": {"type": "NodePort", "ports": [{"name": "http", "port": 8080}, {"name": "admin", "port": 81}]}});
        prepare_update(&old, &mut new);
        assert_eq!(new["spec"]["clusterIP"], "10.96.0.9");
        assert_eq!(new["spec"]["ports"][0]["nodePort"], 30080);
        assert!(new["spec"]["ports"][1].get("nodePort").is_none());
        assert!(check(Some(&old), &new["spec"]).is_empty());
        // A changed address is refused in upstream's words.
        let changed = json!({"type": "NodePort", "clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"], "ports": [{"port": 80}]});
        let causes = check(Some(&old), &changed);
        assert_eq!(causes[0].field, "spec.clusterIPs[0]");
        assert_eq!(causes[0].message, "Invalid value: []string{\"10.96.0.10\"}: may not change once set");
        // Switching to ClusterIP drops the NodePorts left as they were; a new one is refused.
        let mut to_cluster_ip = json!({"spec": {"type": "ClusterIP", "ports": [{"name": "http", "port": 80, "nodePort": 30080}]}});
        prepare_update(&old, &mut to_cluster_ip);
        assert!(to_cluster_ip["spec"]["ports"][0].get("nodePort").is_none(), "{to_cluster_ip}");
        let kept = json!({"type": "ClusterIP", "ports": [{"port": 80, "nodePort": 30081}]});
        assert_eq!(check(None, &kept)[0].message, "Forbidden: may not be used when `type` is 'ClusterIP'");
    }

    #[test]
    fn type_checks_follow_upstreams_validation() {
        let headless_node_port = json!({"type": "NodePort", "clusterIP": "None", "ports": [{"port": 80}]});
        assert_eq!(check(None, &headless_node_port)[0].message, "Invalid value: \"None\": may not be set to 'None' for NodePort services");
        let duplicate =
            json!({"type": "NodePort", "ports": [{"port": 53, "protocol": "UDP", "nodePort": 30053}, {"port": 54, "protocol": "UDP", "nodePort": 30053}]});
        assert_eq!(check(None, &duplicate)[0].message, "Duplicate value: 30053");
        // One port number over two protocols shares its NodePort.
        let shared =
            json!({"type": "NodePort", "ports": [{"port": 53, "protocol": "UDP", "nodePort": 30053}, {"port": 53, "protocol": "TCP", "nodePort": 30053}]});
        assert!(check(None, &shared).is_empty());
        let v6 = json!({"type": "ClusterIP", "ipFamilies": ["IPv6"], "ports": [{"port": 80}]});
        assert_eq!(check(None, &v6)[0].field, "spec.ipFamilies[0]");
    }
}
