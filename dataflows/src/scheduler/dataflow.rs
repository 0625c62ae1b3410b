//! The scheduler as an incremental dataflow: per-node aggregates of bound pods, equivalence
//! classes of pending pods, and the node-local verdict and raw scores of every
//! `(class, node)` pair, maintained as the store changes.
//!
//! ```text
//! nodes ─ key by name ─────────────────────────────┐
//! pods ─ filter(occupies a node) ─ key by node ─────┴─ reduce per node ─▶ node infos ─┬──────────────────────▶ Node rows
//!                                                                                     └─ key by bucket(node) ─┐
//! pods ─ filter(awaits default-scheduler) ─┬─ map(class) ─ distinct ─ linger ─ flat_map(every bucket) ────────┴─ join ─ evaluate ─▶ Pair rows
//!                                          └──────────────────────────────────────────────────────────────────────────────────────────▶ Pending rows
//! namespaces, workloads, priority classes ────────────────────────────────────────────────────────────────────────────────────────────▶ as they are
//! ```
//!
//! What a change costs:
//! - a node, or a pod bound to it, changes: its reduce (over its own pods) and its pairs with
//!   every class; no other node's pairs move;
//! - a pending pod of an existing class arrives or leaves: one Pending row, no pair;
//! - a new class: one pair per node. A class stays for
//!   [`class_linger_revisions`](super::config::SchedulerConfig::class_linger_revisions) after
//!   its last pending pod left, so that pods arriving one by one do not make and drop their
//!   class's pairs each time.
//!
//! Classes reach every bucket and each node one bucket (its name's hash), so the join spreads
//! over the workers by node without any exchange of the (class, node) product.
//!
//! The cluster-wide plugins (PodTopologySpread, InterPodAffinity, ImageLocality's share of
//! nodes) and the normalizations over a class's feasible nodes are applied when the rows are
//! read out ([`super::readout`]), with the same functions as [`super::reference`].

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use differential_dataflow::VecCollection;
use serde::{Deserialize, Serialize};

use super::config::SchedulerConfig;
use super::input::SchedulerInput;
use super::pair::{class_id, class_of, evaluate, ClassId, PairEval};
use super::rows::{NamespaceLabelsRow, NodeRow, PriorityClassRow, WorkloadRow};
use super::rows_pod::PodRow;
use super::snapshot::NodeInfo;
use crate::types::{Diff, Revision};

/// How many buckets the nodes are spread over for the class × node join.
pub const NODE_BUCKETS: u64 = 64;

/// What the scheduler dataflow maintains, for the readout and the binder.
// Rows move once per change and most are pods: boxing would add an allocation to each.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum SchedulerRow {
    /// A node with the pods bound to it and their totals.
    Node(NodeInfo),
    /// A pod waiting for this scheduler, with its class.
    Pending {
        class: ClassId,
        pod: Arc<PodRow>,
    },
    /// The node-local verdict and raw scores of one class on one node.
    Pair {
        class: ClassId,
        node: String,
        eval: PairEval,
    },
    Namespace(NamespaceLabelsRow),
    Workload(WorkloadRow),
    PriorityClass(PriorityClassRow),
}

/// What the per-node reduce sees.
// Rows move once per change and most are pods: boxing would add an allocation to each.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
enum NodeMember {
    Node(Arc<NodeRow>),
    Pod(Arc<PodRow>),
}

fn bucket(node: &str) -> u64 {
    let mut h = DefaultHasher::new();
    node.hash(&mut h);
    h.finish() % NODE_BUCKETS
}

/// Upstream's `NodeInfo` of every node, from its row and the pods bound to it.
pub fn node_infos<'s>(
    nodes: VecCollection<'s, Revision, NodeRow, Diff>,
    pods: VecCollection<'s, Revision, Arc<PodRow>, Diff>,
) -> VecCollection<'s, Revision, (String, NodeInfo), Diff> {
    let nodes = nodes.map(|n| (n.name.clone(), NodeMember::Node(Arc::new(n))));
    let bound = pods.filter(|p| p.occupies_node()).map(|p| (p.node_name.clone(), NodeMember::Pod(p)));
    nodes.concat(bound).reduce_named("scheduler-node-info", |_name, input: &[(&NodeMember, Diff)], output: &mut Vec<(NodeInfo, Diff)>| {
        let Some(node) = input.iter().find_map(|(m, d)| match m {
            NodeMember::Node(n) if *d > 0 => Some(n),
            _ => None,
        }) else {
            return;
        };
        let mut info = NodeInfo::new(node.clone());
        // Members arrive sorted, pods by namespace then name: the order the reference adds them.
        for (m, d) in input {
            if let NodeMember::Pod(p) = m {
                for _ in 0..*d {
                    info.add_pod(p.clone());
                }
            }
        }
        output.push((info, 1));
    })
}

/// The classes, each kept `revisions` past its last pending pod: a class present over the
/// revisions `[a, b)` is present over `[a, b + revisions)`, and over the union of such spans
/// when it comes and goes. Each retraction is moved `revisions` later (a time after the
/// message's, as differential allows), and `distinct` merges overlapping spans.
fn linger<'s>(classes: VecCollection<'s, Revision, (ClassId, PodRow), Diff>, revisions: Revision) -> VecCollection<'s, Revision, (ClassId, PodRow), Diff> {
    use differential_dataflow::AsCollection;
    use timely::dataflow::channels::pact::Pipeline;
    use timely::dataflow::operators::generic::Operator;
    if revisions == 0 {
        return classes;
    }
    classes
        .inner
        .unary(Pipeline, "ClassLinger", move |_, _| {
            move |input, output| {
                input.for_each(|time, data| {
                    for (_, at, diff) in data.iter_mut() {
                        if *diff < 0 {
                            *at = at.saturating_add(revisions);
                        }
                    }
                    output.session(&time).give_container(data);
                })
            }
        })
        .as_collection()
        .distinct()
}

/// The scheduler's rows from its inputs (see the module doc for the graph).
pub fn scheduler<'s>(config: SchedulerConfig, inputs: VecCollection<'s, Revision, SchedulerInput, Diff>) -> VecCollection<'s, Revision, SchedulerRow, Diff> {
    let nodes = inputs.clone().flat_map(|i| if let SchedulerInput::Node(n) = i { Some(n) } else { None });
    let pods = inputs.clone().flat_map(|i| if let SchedulerInput::Pod(p) = i { Some(p) } else { None });
    let others = inputs.flat_map(|i| match i {
        SchedulerInput::Namespace(n) => Some(SchedulerRow::Namespace(n)),
        SchedulerInput::Workload(w) => Some(SchedulerRow::Workload(w)),
        SchedulerInput::PriorityClass(c) => Some(SchedulerRow::PriorityClass(c)),
        SchedulerInput::Node(_) | SchedulerInput::Pod(_) => None,
    });

    let infos = node_infos(nodes, pods.clone());
    let pending = pods.filter(|p| p.awaits_default_scheduler()).map(|p| {
        let signature = class_of(&p);
        (class_id(&signature), signature, p)
    });
    let classes = linger(pending.clone().map(|(id, signature, _)| (id, signature)).distinct(), config.class_linger_revisions);
    let classes_per_bucket = classes.flat_map(|c| (0..NODE_BUCKETS).map(move |b| (b, c.clone())));
    let nodes_per_bucket = infos.clone().map(|(name, info)| (bucket(&name), info));
    let pairs = classes_per_bucket.join_map(nodes_per_bucket, move |_bucket, (id, signature), info| SchedulerRow::Pair {
        class: *id,
        node: info.node.name.clone(),
        eval: evaluate(&config, signature, info),
    });

    infos.map(|(_, info)| SchedulerRow::Node(info)).concat(pending.map(|(class, _, pod)| SchedulerRow::Pending { class, pod })).concat(pairs).concat(others)
}
