//! Service load balancers from a local address pool (`--load-balancer-ip-range`), as a
//! bare-metal implementation such as MetalLB does it (metallb controller/service.go) within
//! upstream's contract for load-balancer controllers
//! (staging/src/k8s.io/cloud-provider/controllers/service/controller.go):
//! - a Service wants an address when it is of type LoadBalancer without `loadBalancerClass`
//!   (`wantsLoadBalancer`); one with a class belongs to another implementation and is left
//!   alone;
//! - it keeps the address in its `status.loadBalancer.ingress` when that is its only entry, is
//!   in the pool, matches `spec.loadBalancerIP` if one is requested, and no Service earlier in
//!   (namespace, name) order keeps the same address;
//! - otherwise it gets its requested address if that is in the pool and no other Service
//!   holds it, or else the lowest free address; the status patch replaces the ingress list;
//! - a Service that no longer wants one, or that gets none, has its ingress cleared;
//! - every address in any Service's ingress is occupied until that ingress changes.
//!
//! Without a pool the controller does nothing.
//!
//! ```text
//! services ─ flat_map(ingress addresses → Hold; requested address → Want) ─ reduce per address ─┬─ Keep/Grant/Refuse/Displace
//!                                                                                              └─ occupied ─┐
//! services(wanting, no request, no kept address) + Displaced ─▶ claimants ─────────────────────────────────┴─ pool::allocate
//!   ─▶ Allocate(status.loadBalancer.ingress), load-balancer-ips view, AllocationFailed errors
//! services(not wanting, or failed, with ingress) ─▶ PatchStatus(ingress: null)
//! ```
//! The per-address reduce sees only the Services naming that address; the rest is
//! [`super::pool`]'s incremental placement.

use std::collections::{BTreeMap, BTreeSet};

use differential_dataflow::VecCollection;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::cidr::AddressPool;
use super::pool::{allocate, allocate_reference, split, split_reference, Outcome, OutputSets, Outputs, Slot};
use crate::rows::ServiceRow;
use crate::types::{ControllerError, Diff, Intent, Kind, ObjectKey, Pool, Revision, Text};

/// MetalLB's Event reason when no address can be given.
pub const ALLOCATION_FAILED: &str = "AllocationFailed";

fn service_key(s: &ServiceRow) -> ObjectKey {
    ObjectKey::new(Kind::Service, s.namespace.clone(), s.name.clone())
}

/// `wantsLoadBalancer`: type LoadBalancer and no class naming another implementation.
fn wants(s: &ServiceRow) -> bool {
    s.type_ == "LoadBalancer" && s.load_balancer_class.is_none()
}

/// One Service's claim on one address of the pool.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Claim {
    /// The address is in the Service's ingress; `keepable` when the Service may keep it,
    /// `requested` when it is the Service's `spec.loadBalancerIP`.
    Hold { service: ObjectKey, keepable: bool, requested: bool },
    /// The Service requests the address (`spec.loadBalancerIP`) and does not keep it.
    Want(ObjectKey),
}

/// What the per-address reduce decides.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Decision {
    /// Some Service holds or is granted the address.
    Occupied(Slot),
    Keep(ObjectKey, Slot),
    Grant(ObjectKey, Slot),
    /// A requested address another Service holds.
    Refuse(ObjectKey, Slot),
    /// A keepable, unrequested address an earlier Service keeps: this one needs another.
    Displace(ObjectKey),
}

/// The claims a Service makes on the pool's addresses.
pub fn claims(pool: &AddressPool, s: &ServiceRow) -> Vec<(Slot, Claim)> {
    let key = service_key(s);
    let request = s.load_balancer_ip.as_str();
    let keepable = |address: &str| wants(s) && s.ingress.len() == 1 && (request.is_empty() || request == address);
    let mut out: Vec<(Slot, Claim)> =
        s.ingress.iter().filter_map(|a| Some((pool.slot(a)?, Claim::Hold { service: key.clone(), keepable: keepable(a), requested: a == request }))).collect();
    if wants(s) && !request.is_empty() && s.ingress != [request] {
        out.extend(pool.slot(request).map(|slot| (slot, Claim::Want(key))));
    }
    out.sort();
    out.dedup();
    out
}

/// Decides one address over the claims on it (sorted, so Services come in key order).
pub fn decide_address(slot: Slot, claims: &[&Claim]) -> Vec<Decision> {
    let wanting: BTreeSet<&ObjectKey> = claims.iter().filter_map(|c| if let Claim::Want(k) = c { Some(k) } else { None }).collect();
    let mut out = Vec::new();
    let mut keeper = None;
    let mut blocked = false;
    for claim in claims {
        match claim {
            Claim::Hold { service, keepable: true, .. } if keeper.is_none() => {
                keeper = Some(service);
                out.push(Decision::Keep(service.clone(), slot));
            }
            Claim::Hold { service, keepable: true, requested: true } => out.push(Decision::Refuse(service.clone(), slot)),
            Claim::Hold { service, keepable: true, requested: false } => out.push(Decision::Displace(service.clone())),
            // A stale holder blocks the address until its ingress changes, unless it is the
            // one requesting it.
            Claim::Hold { service, keepable: false, .. } => blocked |= !wanting.contains(service),
            Claim::Want(_) => {}
        }
    }
    let mut granted = keeper.is_some() || blocked;
    for k in wanting {
        if granted {
            out.push(Decision::Refuse(k.clone(), slot));
        } else {
            granted = true;
            out.push(Decision::Grant(k.clone(), slot));
        }
    }
    if !claims.is_empty() {
        out.push(Decision::Occupied(slot));
    }
    out
}

/// Whether a wanting Service waits for the pool: no request, and no address it might keep.
fn claimant(pool: &AddressPool, s: &ServiceRow) -> bool {
    wants(s) && s.load_balancer_ip.is_empty() && !(s.ingress.len() == 1 && pool.slot(&s.ingress[0]).is_some())
}

fn failed(key: &ObjectKey, why: String) -> ControllerError {
    ControllerError {
        key: key.clone(),
        reason: ALLOCATION_FAILED.into(),
        message: format!("Failed to allocate IP for \"{}/{}\": {why}", key.namespace, key.name),
    }
}

/// A request outside the pool fails at once.
fn outside_pool(pool: &AddressPool, s: &ServiceRow) -> Option<ControllerError> {
    (wants(s) && !s.load_balancer_ip.is_empty() && pool.slot(&s.load_balancer_ip).is_none())
        .then(|| failed(&service_key(s), format!("requested IP {} is not in the pool", s.load_balancer_ip)))
}

fn clear_intent(key: ObjectKey) -> Intent {
    Intent::PatchStatus { key, patch: json!({"status": {"loadBalancer": {"ingress": null}}}).to_string().into() }
}

/// The write clearing the ingress of a Service that no longer wants an address.
fn clear(s: &ServiceRow) -> Option<Intent> {
    (!wants(s) && s.load_balancer_class.is_none() && !s.ingress.is_empty()).then(|| clear_intent(service_key(s)))
}

/// A wanting Service with an ingress: cleared if it gets no address (MetalLB clears the
/// state it cannot keep before it tries to allocate).
fn stale(s: &ServiceRow) -> Option<ObjectKey> {
    (wants(s) && !s.ingress.is_empty()).then(|| service_key(s))
}

/// The Service's address once decided: the patch (when it must be written) and its view row.
fn assigned(pool: &AddressPool, key: &ObjectKey, slot: Slot, write: bool) -> (Option<Intent>, (ObjectKey, Text)) {
    let ip = pool.address(slot);
    let patch = json!({"status": {"loadBalancer": {"ingress": [{"ip": ip}]}}}).to_string();
    (write.then(|| Intent::Allocate { key: key.clone(), pool: Pool::LoadBalancerIp, patch: patch.into() }), (key.clone(), ip.into()))
}

/// What a decision yields: a kept or granted address, or a refusal.
fn outcome(pool: &AddressPool, d: Decision) -> Option<Outcome> {
    match d {
        Decision::Keep(k, slot) => Some(Ok(assigned(pool, &k, slot, false))),
        Decision::Grant(k, slot) => Some(Ok(assigned(pool, &k, slot, true))),
        Decision::Refuse(k, slot) => Some(Err(failed(&k, format!("requested IP {} is already in use", pool.address(slot))))),
        Decision::Occupied(_) | Decision::Displace(_) => None,
    }
}

fn placed(pool: &AddressPool, key: &ObjectKey, slot: Option<Slot>) -> Outcome {
    slot.map(|s| assigned(pool, key, s, true)).ok_or_else(|| failed(key, "no available IPs".into()))
}

/// The dataflow: each Service's address (the `load-balancer-ips` view), the writes, and the
/// errors. Without a pool everything is empty.
pub fn load_balancers<'s>(pool: Option<AddressPool>, services: VecCollection<'s, Revision, ServiceRow, Diff>) -> Outputs<'s> {
    let services = services.filter(move |_| pool.is_some());
    let pool = pool.unwrap_or(AddressPool { first: 0, last: 0 });
    let decisions = services.clone().flat_map(move |s| claims(&pool, &s)).reduce_named(
        "loadbalancer-address",
        |slot, input: &[(&Claim, Diff)], output: &mut Vec<(Decision, Diff)>| {
            let claims: Vec<&Claim> = input.iter().filter(|(_, d)| *d > 0).map(|(c, _)| *c).collect();
            output.extend(decide_address(*slot, &claims).into_iter().map(|d| (d, 1)));
        },
    );
    let decisions = decisions.map(|(_, d)| d);
    let occupied = decisions.clone().flat_map(|d| if let Decision::Occupied(s) = d { Some(s) } else { None });
    let displaced = decisions.clone().flat_map(|d| if let Decision::Displace(k) = d { Some(k) } else { None });
    let claimants = services.clone().filter(move |s| claimant(&pool, s)).map(|s| service_key(&s)).concat(displaced);
    let outcomes = decisions
        .flat_map(move |d| outcome(&pool, d))
        .concat(allocate("loadbalancer", pool.size(), occupied, claimants).map(move |(k, slot)| placed(&pool, &k, slot)));
    let (view, intents, errors) = split(outcomes);
    let errors = errors.concat(services.clone().flat_map(move |s| outside_pool(&pool, &s)));
    let failed_clears = errors.clone().map(|e| (e.key, ())).semijoin(services.clone().flat_map(|s| stale(&s))).map(|(key, ())| clear_intent(key));
    (view, intents.concat(services.flat_map(|s| clear(&s))).concat(failed_clears), errors)
}

/// The reference: the same outputs, from scratch over a snapshot.
pub fn reference(pool: Option<AddressPool>, services: &[ServiceRow]) -> OutputSets {
    let Some(pool) = pool else {
        return OutputSets::default();
    };
    let mut by_address: BTreeMap<Slot, BTreeSet<Claim>> = BTreeMap::new();
    for s in services {
        for (slot, c) in claims(&pool, s) {
            by_address.entry(slot).or_default().insert(c);
        }
    }
    let mut occupied = BTreeSet::new();
    let mut claimants: BTreeSet<ObjectKey> = services.iter().filter(|s| claimant(&pool, s)).map(service_key).collect();
    let mut outcomes = Vec::new();
    for (slot, claims) in &by_address {
        for d in decide_address(*slot, &claims.iter().collect::<Vec<_>>()) {
            match &d {
                Decision::Occupied(s) => {
                    occupied.insert(*s);
                }
                Decision::Displace(k) => {
                    claimants.insert(k.clone());
                }
                _ => {}
            }
            outcomes.extend(outcome(&pool, d));
        }
    }
    outcomes.extend(allocate_reference(pool.size(), &occupied, &claimants).into_iter().map(|(k, slot)| placed(&pool, &k, slot)));
    let (view, mut intents, mut errors) = split_reference(outcomes);
    intents.extend(services.iter().filter_map(clear));
    errors.extend(services.iter().filter_map(|s| outside_pool(&pool, s)));
    let stale: BTreeSet<ObjectKey> = services.iter().filter_map(stale).collect();
    intents.extend(errors.iter().filter(|e| stale.contains(&e.key)).map(|e| clear_intent(e.key.clone())));
    (view, intents, errors)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rows::IpFamily;

    fn service(name: &str, type_: &str, ingress: &[&str], request: &str) -> ServiceRow {
        ServiceRow {
            namespace: "ns".into(),
            name: name.into(),
            uid: format!("uid-{name}"),
            labels: vec![],
            selector: None,
            ports: vec![],
            headless: false,
            publish_not_ready: false,
            type_: type_.into(),
            load_balancer_class: None,
            load_balancer_ip: request.into(),
            ingress: ingress.iter().map(|s| s.to_string()).collect(),
            deleting: false,
            ip_family: Some(IpFamily::V4),
        }
    }

    /// Addresses by Service name, the intents, and the errors as (Service name, message).
    type Summary = (BTreeMap<String, String>, BTreeSet<Intent>, Vec<(String, String)>);

    fn run(services: &[ServiceRow]) -> Summary {
        let pool: AddressPool = "10.0.0.1-10.0.0.3".parse().unwrap();
        let (view, intents, errors) = reference(Some(pool), services);
        (view.into_iter().map(|(k, ip)| (k.name, ip.to_string())).collect(), intents, errors.into_iter().map(|e| (e.key.name, e.message)).collect())
    }

    fn allocation(name: &str, ip: &str) -> Intent {
        let patch = json!({"status": {"loadBalancer": {"ingress": [{"ip": ip}]}}}).to_string();
        Intent::Allocate { key: ObjectKey::new(Kind::Service, "ns", name), pool: Pool::LoadBalancerIp, patch: patch.into() }
    }

    #[test]
    fn held_addresses_stay_and_new_services_take_the_lowest_free_one() {
        let (view, intents, errors) = run(&[
            service("a", "LoadBalancer", &["10.0.0.1"], ""),
            service("b", "LoadBalancer", &[], ""),
            service("c", "ClusterIP", &[], ""),
            service("d", "LoadBalancer", &["10.9.9.9"], ""),
        ]);
        assert_eq!(view, BTreeMap::from([("a".into(), "10.0.0.1".into()), ("b".into(), "10.0.0.2".into()), ("d".into(), "10.0.0.3".into())]));
        assert_eq!(intents, BTreeSet::from([allocation("b", "10.0.0.2"), allocation("d", "10.0.0.3")]), "an address outside the pool is replaced");
        assert!(errors.is_empty());
    }

    #[test]
    fn a_service_that_stops_being_a_load_balancer_is_cleared_and_its_address_waits_for_that() {
        let (view, intents, _) = run(&[service("a", "ClusterIP", &["10.0.0.1"], ""), service("b", "LoadBalancer", &[], "")]);
        assert_eq!(view, BTreeMap::from([("b".into(), "10.0.0.2".into())]));
        let clear = Intent::PatchStatus { key: ObjectKey::new(Kind::Service, "ns", "a"), patch: r#"{"status":{"loadBalancer":{"ingress":null}}}"#.into() };
        assert!(intents.contains(&clear));
        let mut other = service("x", "LoadBalancer", &["10.0.0.1"], "");
        other.load_balancer_class = Some("example.com/lb".into());
        assert!(run(&[other]).1.is_empty(), "a service with a loadBalancerClass belongs to another implementation");
    }

    #[test]
    fn duplicates_requests_and_exhaustion_follow_key_order() {
        let (view, intents, errors) = run(&[
            service("a", "LoadBalancer", &["10.0.0.2"], ""),
            service("b", "LoadBalancer", &["10.0.0.2"], ""),
            service("c", "LoadBalancer", &[], "10.0.0.3"),
            service("d", "LoadBalancer", &[], "10.0.0.3"),
            service("e", "LoadBalancer", &[], "10.7.7.7"),
            service("f", "LoadBalancer", &["10.9.9.9"], ""),
        ]);
        assert_eq!(view, BTreeMap::from([("a".into(), "10.0.0.2".into()), ("b".into(), "10.0.0.1".into()), ("c".into(), "10.0.0.3".into())]));
        assert!(intents.contains(&allocation("b", "10.0.0.1")) && intents.contains(&allocation("c", "10.0.0.3")));
        let failed: Vec<&str> = errors.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(failed, vec!["d", "e", "f"]);
        assert!(errors[0].1.contains("already in use") && errors[1].1.contains("not in the pool") && errors[2].1.contains("no available IPs"), "{errors:?}");
        let cleared = Intent::PatchStatus { key: ObjectKey::new(Kind::Service, "ns", "f"), patch: r#"{"status":{"loadBalancer":{"ingress":null}}}"#.into() };
        assert!(intents.contains(&cleared), "a service that gets no address loses the one it cannot keep");
    }
}
