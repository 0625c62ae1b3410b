//! Node IPAM: every Node without `spec.podCIDR` gets a block of `--node-cidr-mask-size` bits
//! from `--cluster-cidr`, as upstream's range allocator
//! (pkg/controller/nodeipam/ipam/range_allocator.go with cidrset/cidr_set.go). Blocks that
//! Nodes already hold are occupied, whoever set them; a deleted Node frees its blocks.
//!
//! ```text
//! nodes ─ flat_map(held CIDRs → blocks they overlap) ─▶ occupied ─┐
//! nodes ─ filter(no podCIDR) ─ key ────────────────────▶ claimants ┴─ pool::allocate ─┬─ block ─▶ Allocate(spec.podCIDR, podCIDRs), pod-cidrs view
//!                                                                                     └─ none ──▶ CIDRNotAvailable error
//! nodes ─ flat_map(unusable held CIDRs) ─────────────────────────────────────────────────────────▶ errors
//! ```
//! What is and is not incremental is [`super::pool`]'s: a Node change touches its own blocks'
//! chunk and the one placement reduce over the Nodes still waiting for a block.
//!
//! **Deviations from upstream.** The lowest free block goes to the waiting Nodes in name order
//! (upstream's `AllocateNext` rotates a cursor), so that the choice is a function of what
//! exists and a restart can never hand one block out twice. Blocks are not reserved in
//! memory between the choice and the write; [`crate::types::Intent::Allocate`] has the writer
//! wait for a pool's earlier writes instead. Upstream crashes the controller on a Node CIDR
//! it cannot occupy; here that Node gets an `InvalidPodCIDR` error row. Upstream also
//! reserves `--service-cluster-ip-range` inside the cluster CIDR; this API server does not
//! allocate cluster IPs yet, so nothing is reserved. IPv4 only.

use std::collections::BTreeSet;

use differential_dataflow::VecCollection;
use serde_json::json;

use super::cidr::{Ipv4Cidr, NodeCidrs};
use super::pool::{allocate, allocate_reference, split, split_reference, Outcome, OutputSets, Outputs, Slot};
use crate::rows::NodeRow;
use crate::types::{ControllerError, Diff, Intent, Kind, ObjectKey, Pool, Revision, Text};

/// The upstream Event reason when the cluster CIDR has no block left.
pub const CIDR_NOT_AVAILABLE: &str = "CIDRNotAvailable";
/// Our reason for a Node CIDR that cannot be occupied (upstream logs it and exits).
pub const INVALID_POD_CIDR: &str = "InvalidPodCIDR";

fn node_key(name: &str) -> ObjectKey {
    ObjectKey::new(Kind::Node, "", name)
}

/// The blocks a Node's CIDRs occupy, and the errors of those it cannot, as upstream's
/// `occupyCIDRs`: the first CIDR belongs to the one cluster CIDR; any further one (a
/// dual-stack Node in an IPv4 cluster) has no cluster CIDR to belong to.
pub fn held(config: &NodeCidrs, node: &NodeRow) -> (Vec<Slot>, Vec<ControllerError>) {
    let error = |message: String| ControllerError { key: node_key(&node.name), reason: INVALID_POD_CIDR.into(), message };
    let mut blocks = Vec::new();
    let mut errors = Vec::new();
    for (index, text) in node.pod_cidrs.iter().enumerate() {
        if index > 0 {
            errors.push(error(format!("node {} has an allocated cidr {text} at index {index} that does not exist in cluster cidrs configuration", node.name)));
            continue;
        }
        match text.parse::<Ipv4Cidr>().map_err(|e| e.to_string()).and_then(|c| config.occupied_by(&c)) {
            Ok(range) => blocks.extend(range),
            Err(e) => errors.push(error(format!("failed to mark cidr {text} as occupied for node {}: {e}", node.name))),
        }
    }
    (blocks, errors)
}

/// What follows from a waiting Node's placement: the patch and its view row, or the error.
pub fn decide(config: &NodeCidrs, node: &ObjectKey, block: Option<Slot>) -> Outcome {
    match block {
        Some(b) => {
            let cidr = config.block(b).to_string();
            let patch = json!({"spec": {"podCIDR": cidr, "podCIDRs": [cidr]}}).to_string();
            Ok((Some(Intent::Allocate { key: node.clone(), pool: Pool::PodCidr, patch: patch.into() }), (node.clone(), cidr.into())))
        }
        None => Err(ControllerError {
            key: node.clone(),
            reason: CIDR_NOT_AVAILABLE.into(),
            message: format!("failed to allocate cidr from cluster cidr {}: no remaining CIDRs left to allocate in the accepted range", config.cluster),
        }),
    }
}

/// The Node's own CIDR as the `pod-cidrs` view shows it.
fn held_row(node: &NodeRow) -> Option<(ObjectKey, Text)> {
    node.pod_cidrs.first().map(|c| (node_key(&node.name), c.as_str().into()))
}

/// The dataflow: each Node's CIDR (the `pod-cidrs` view), the allocations, and the errors.
/// Without `config` (`--allocate-node-cidrs` off) everything is empty.
pub fn node_ipam<'s>(config: Option<NodeCidrs>, nodes: VecCollection<'s, Revision, NodeRow, Diff>) -> Outputs<'s> {
    let nodes = nodes.filter(move |_| config.is_some());
    let config = config.unwrap_or(NodeCidrs { cluster: Ipv4Cidr { network: 0, prefix: 32 }, mask: 32 });
    let occupied = nodes.clone().flat_map(move |n| held(&config, &n).0);
    let bad = nodes.clone().flat_map(move |n| held(&config, &n).1);
    let claimants = nodes.clone().filter(|n| n.pod_cidrs.is_empty()).map(|n| node_key(&n.name));
    let (view, intents, errors) = split(allocate("nodeipam", config.blocks(), occupied, claimants).map(move |(node, block)| decide(&config, &node, block)));
    (view.concat(nodes.flat_map(|n| held_row(&n))), intents, errors.concat(bad))
}

/// The reference: the same outputs, from scratch over a snapshot.
pub fn reference(config: Option<NodeCidrs>, nodes: &[NodeRow]) -> OutputSets {
    let Some(config) = config else {
        return OutputSets::default();
    };
    let (mut occupied, mut claimants, mut held_rows, mut bad) = (BTreeSet::new(), BTreeSet::new(), Vec::new(), Vec::new());
    for n in nodes {
        let (blocks, errors) = held(&config, n);
        occupied.extend(blocks);
        bad.extend(errors);
        held_rows.extend(held_row(n));
        if n.pod_cidrs.is_empty() {
            claimants.insert(node_key(&n.name));
        }
    }
    let (mut view, intents, mut errors) =
        split_reference(allocate_reference(config.blocks(), &occupied, &claimants).into_iter().map(|(node, block)| decide(&config, &node, block)));
    view.extend(held_rows);
    errors.extend(bad);
    (view, intents, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, cidrs: &[&str]) -> NodeRow {
        NodeRow { name: name.into(), pod_cidrs: cidrs.iter().map(|c| c.to_string()).collect(), zone: None }
    }

    #[test]
    fn waiting_nodes_take_the_lowest_free_blocks_in_name_order_until_none_is_left() {
        let config = NodeCidrs::new("10.244.0.0/22".parse().unwrap(), 24).unwrap();
        let nodes = [node("c", &[]), node("a", &["10.244.1.0/24"]), node("b", &[]), node("d", &[]), node("e", &[])];
        let (view, intents, errors) = reference(Some(config), &nodes);
        let cidrs: Vec<(String, String)> = view.into_iter().map(|(k, c)| (k.name, c.to_string())).collect();
        let want = [("a", "10.244.1.0/24"), ("b", "10.244.0.0/24"), ("c", "10.244.2.0/24"), ("d", "10.244.3.0/24")];
        assert_eq!(cidrs, want.map(|(n, c)| (n.to_string(), c.to_string())));
        assert!(intents.contains(&Intent::Allocate {
            key: node_key("b"),
            pool: Pool::PodCidr,
            patch: r#"{"spec":{"podCIDR":"10.244.0.0/24","podCIDRs":["10.244.0.0/24"]}}"#.into()
        }));
        assert_eq!(intents.len(), 3);
        assert_eq!(errors.into_iter().map(|e| (e.key.name, e.reason)).collect::<Vec<_>>(), vec![("e".to_string(), CIDR_NOT_AVAILABLE.to_string())]);
    }

    #[test]
    fn unusable_node_cidrs_are_errors_and_occupy_nothing() {
        let config = NodeCidrs::new("10.244.0.0/16".parse().unwrap(), 24).unwrap();
        let (blocks, errors) = held(&config, &node("x", &["10.99.0.0/24", "fd00::/64"]));
        assert!(blocks.is_empty());
        assert_eq!(errors.len(), 2);
        assert!(reference(None, &[node("y", &[])]).1.is_empty(), "without --allocate-node-cidrs nothing is allocated");
    }
}
