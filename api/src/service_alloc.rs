//! ClusterIPs and NodePorts for Services, allocated on write as upstream's service storage
//! does (`pkg/registry/core/service/storage/alloc.go` with `ipallocator` and
//! `portallocator`):
//! - a Service that needs a ClusterIP (every type but ExternalName, unless headless, `None`)
//!   gets one from `--service-cluster-ip-range`, with `clusterIPs`, `ipFamilies: [IPv4]` and
//!   `ipFamilyPolicy: SingleStack`; a headless one gets the family fields alone;
//! - the ports of a NodePort Service, and of a LoadBalancer one unless
//!   `allocateLoadBalancerNodePorts` is false, get nodePorts from `--service-node-port-range`,
//!   and a LoadBalancer with `externalTrafficPolicy: Local` a `healthCheckNodePort`;
//! - a requested address or port must be in its range and free, else 422 with upstream's
//!   messages;
//! - picks are random, from the upper band of each range first: the lower band is left for
//!   those who ask for a value (upstream's static subranges);
//! - an update keeps what the Service had where the new spec leaves it out, allocates what a
//!   new type needs, drops what it no longer has, and refuses a changed ClusterIP.
//!
//! What is in use is read from the Services in the watch cache, plus what this server wrote
//! that the cache has not applied yet. One lock serializes allocating writes until they are
//! stored. Several API servers over one etcd allocate independently (upstream keeps a shared
//! bitmap); that is left alone.

use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::ops::RangeInclusive;

use serde_json::{json, Value};

use crate::cache::WatchCache;
use crate::error::{ApiError, ApiResult, Cause};

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
    if size < MIN {
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

/// What a Service of this spec needs.
fn needs_cluster_ip(spec: &Value) -> bool {
    spec["type"].as_str() != Some("ExternalName")
}

fn needs_node_ports(spec: &Value) -> bool {
    match spec["type"].as_str() {
        Some("NodePort") => true,
        Some("LoadBalancer") => spec["allocateLoadBalancerNodePorts"].as_bool() != Some(false),
        _ => false,
    }
}

fn needs_health_check_port(spec: &Value) -> bool {
    spec["type"].as_str() == Some("LoadBalancer") && spec["externalTrafficPolicy"].as_str() == Some("Local")
}

/// Hands out ClusterIPs and NodePorts; one per API server.
pub struct ServiceAllocator {
    ranges: ServiceRanges,
    /// Allocations written by this server, with their revisions, until the cache has them.
    written: tokio::sync::Mutex<Vec<(Held, u64)>>,
}

/// An allocating write in progress: holds the allocator until the Service is stored.
#[must_use = "record the write, or drop it on failure"]
pub struct Allocation<'a> {
    guard: Option<tokio::sync::MutexGuard<'a, Vec<(Held, u64)>>>,
    held: Held,
}

impl Allocation<'_> {
    /// The Service is stored at `revision`: its allocations count as used until the cache has
    /// applied it.
    pub fn stored(mut self, revision: u64) {
        if let Some(guard) = &mut self.guard {
            guard.push((std::mem::take(&mut self.held), revision));
        }
    }
}

impl ServiceAllocator {
    pub fn new(ranges: ServiceRanges) -> ServiceAllocator {
        ServiceAllocator { ranges, written: tokio::sync::Mutex::new(Vec::new()) }
    }

    /// Allocates what a new Service (or the new state of an updated one, `old` its stored
    /// state) needs, in place; `prefix` is where Services are kept in the cache and `key`
    /// this one's key.
    pub async fn allocate<'a>(&'a self, cache: &WatchCache, prefix: &str, key: &str, old: Option<&Value>, service: &mut Value) -> ApiResult<Allocation<'a>> {
        let name = service.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default().to_string();
        let invalid = |causes: Vec<Cause>| ApiError::invalid("", "Service", &name, causes);
        if !service.get("spec").is_some_and(Value::is_object) {
            return Ok(Allocation { guard: None, held: Held::default() });
        }
        carry_over(old, service).map_err(|cause| invalid(vec![cause]))?;
        let mut guard = self.written.lock().await;
        let applied = cache.revision();
        guard.retain(|(_, revision)| *revision > applied);
        let mut used = Held::default();
        let (services, _) = cache.list(prefix, None);
        for s in services.iter().filter(|s| s.key != key) {
            let held = Held::of(&s.value);
            used.ips.extend(held.ips);
            used.ports.extend(held.ports);
        }
        for (held, _) in guard.iter() {
            used.ips.extend(held.ips.iter().copied());
            used.ports.extend(held.ports.iter().copied());
        }
        let mut used_ips: HashSet<u32> = used.ips.into_iter().collect();
        let mut used_ports: HashSet<u16> = used.ports.into_iter().collect();
        let kept = old.map(Held::of).unwrap_or_default();
        let mut causes = Vec::new();
        let spec = service["spec"].as_object_mut().expect("checked above");
        let spec_value = Value::Object(spec.clone());

        // ClusterIP.
        if needs_cluster_ip(&spec_value) {
            spec.insert("ipFamilies".into(), json!(["IPv4"]));
            spec.insert("ipFamilyPolicy".into(), json!("SingleStack"));
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
                        Err(e) => causes.push(cause("spec.clusterIPs", format!("Invalid value: []string{{{ip:?}}}: failed to allocate IP {ip}: {e}"))),
                    }
                }
                None => match self.pick_ip(&mut used_ips) {
                    Some(ip) => {
                        spec.insert("clusterIP".into(), json!(ip));
                        spec.insert("clusterIPs".into(), json!([ip]));
                    }
                    None => causes.push(cause("spec.clusterIPs", "failed to allocate a serviceIP: range is full".into())),
                },
            }
        } else {
            for field in ["clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"] {
                spec.remove(field);
            }
        }

        // NodePorts.
        let node_ports = needs_node_ports(&spec_value);
        if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
            for (i, port) in ports.iter_mut().enumerate() {
                let Some(port) = port.as_object_mut() else { continue };
                if !node_ports {
                    port.remove("nodePort");
                    continue;
                }
                match port.get("nodePort").and_then(Value::as_i64).filter(|p| *p != 0) {
                    Some(requested) => {
                        if let Err(e) = self.claim_port(requested, &kept, &mut used_ports) {
                            causes.push(cause(&format!("spec.ports[{i}].nodePort"), format!("Invalid value: {requested}: {e}")));
                        }
                    }
                    None => match self.pick_port(&mut used_ports) {
                        Some(p) => {
                            port.insert("nodePort".into(), json!(p));
                        }
                        None => causes.push(cause(&format!("spec.ports[{i}].nodePort"), "failed to allocate a nodePort: range is full".into())),
                    },
                }
            }
        }
        if needs_health_check_port(&spec_value) {
            match spec.get("healthCheckNodePort").and_then(Value::as_i64).filter(|p| *p != 0) {
                Some(requested) => {
                    if let Err(e) = self.claim_port(requested, &kept, &mut used_ports) {
                        causes.push(cause("spec.healthCheckNodePort", format!("Invalid value: {requested}: {e}")));
                    }
                }
                None => match self.pick_port(&mut used_ports) {
                    Some(p) => {
                        spec.insert("healthCheckNodePort".into(), json!(p));
                    }
                    None => causes.push(cause("spec.healthCheckNodePort", "failed to allocate a nodePort: range is full".into())),
                },
            }
        } else {
            spec.remove("healthCheckNodePort");
        }
        if !causes.is_empty() {
            return Err(invalid(causes));
        }
        let held = Held::of(service);
        Ok(Allocation { guard: Some(guard), held })
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

    fn claim_port(&self, port: i64, kept: &Held, used: &mut HashSet<u16>) -> Result<(), String> {
        let Some(port) = u16::try_from(port).ok().filter(|p| self.ranges.node_ports.contains(p)) else {
            return Err(format!("provided port is not in the valid range. The range of valid ports is {}", self.ranges.ports()));
        };
        if !kept.ports.contains(&port) && !used.insert(port) {
            return Err("provided port is already allocated".into());
        }
        Ok(())
    }

    fn pick_ip(&self, used: &mut HashSet<u32>) -> Option<String> {
        let offsets = self.ranges.ip_offsets();
        let band = band_offset(*offsets.end(), 256, 16);
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

fn cause(field: &str, message: String) -> Cause {
    Cause { kind: "FieldValueInvalid".into(), message, field: field.into() }
}

/// On update: what the Service had carries over where the new spec leaves it out (upstream's
/// `patchAllocatedValues`), and its ClusterIP cannot change.
fn carry_over(old: Option<&Value>, service: &mut Value) -> Result<(), Cause> {
    let Some(old) = old else { return Ok(()) };
    let (old_spec, spec) = (&old["spec"], &mut service["spec"]);
    if needs_cluster_ip(old_spec) && needs_cluster_ip(spec) {
        let old_ip = old_spec["clusterIP"].as_str().unwrap_or_default();
        match spec["clusterIP"].as_str().unwrap_or_default() {
            "" if !old_ip.is_empty() => {
                spec["clusterIP"] = json!(old_ip);
                spec["clusterIPs"] = old_spec["clusterIPs"].clone();
            }
            ip if !old_ip.is_empty() && ip != old_ip => {
                return Err(cause("spec.clusterIP", format!("Invalid value: {ip:?}: field is immutable")));
            }
            _ => {}
        }
    }
    if needs_node_ports(old_spec) && needs_node_ports(spec) {
        let old_ports = old_spec["ports"].as_array().cloned().unwrap_or_default();
        for port in spec["ports"].as_array_mut().into_iter().flatten() {
            if port.get("nodePort").and_then(Value::as_i64).unwrap_or(0) != 0 {
                continue;
            }
            let same = |p: &&Value| p["port"] == port["port"] && p["protocol"].as_str().unwrap_or("TCP") == port["protocol"].as_str().unwrap_or("TCP");
            if let Some(node_port) = old_ports.iter().find(same).map(|p| p["nodePort"].clone()).filter(|n| !n.is_null()) {
                port["nodePort"] = node_port;
            }
        }
    }
    if needs_health_check_port(old_spec) && needs_health_check_port(spec) && spec.get("healthCheckNodePort").is_none_or(Value::is_null) {
        spec["healthCheckNodePort"] = old_spec["healthCheckNodePort"].clone();
    }
    Ok(())
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
        // Upstream's TestCalculateRangeOffset: a /24 has 254 addresses and an offset of 16;
        // a /12 caps at 256; the default port range's is 86.
        assert_eq!(band_offset(254, 256, 16), 16);
        assert_eq!(band_offset(1_048_574, 256, 16), 256);
        assert_eq!(band_offset(2768, 128, 32), 86);
        assert_eq!(band_offset(8, 256, 16), 0);
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
    fn updates_keep_what_was_allocated() {
        let old = json!({"spec": {"type": "NodePort", "clusterIP": "10.96.0.9", "clusterIPs": ["10.96.0.9"],
                                  "ports": [{"port": 80, "protocol": "TCP", "nodePort": 30080}]}});
        let mut new = json!({"spec": {"type": "NodePort", "ports": [{"port": 80, "protocol": "TCP"}, {"port": 81, "protocol": "TCP"}]}});
        carry_over(Some(&old), &mut new).unwrap();
        assert_eq!(new["spec"]["clusterIP"], "10.96.0.9");
        assert_eq!(new["spec"]["ports"][0]["nodePort"], 30080);
        assert!(new["spec"]["ports"][1].get("nodePort").is_none());
        let mut changed = json!({"spec": {"type": "ClusterIP", "clusterIP": "10.96.0.10", "ports": [{"port": 80}]}});
        assert!(carry_over(Some(&old), &mut changed).unwrap_err().message.contains("field is immutable"));
    }
}
