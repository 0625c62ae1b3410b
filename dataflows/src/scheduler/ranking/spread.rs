//! PodTopologySpread's score (`scoring.go`) for a pod decided from its class's ranking,
//! without a pass that weighs every node: the same raw and normalized scores as
//! [`SpreadScoreState`](crate::scheduler::pod_topology_spread::SpreadScoreState) gives over
//! the feasible nodes, computed from the [`PlacedIndex`].
//!
//! A node's raw score reads two things: the matching pods on the node itself (hostname
//! constraints), and the matching pods in its domain of the one other topology key (zone
//! constraints). Matching pods sit on few nodes, found through the index's groups; every
//! other node scores by its domain alone. So the nodes fall into the few *touched* nodes, each
//! scored on its own, and one class of untouched nodes per domain (or per lack of the key),
//! all scored alike. Normalization's minimum and maximum are taken over those.
//!
//! Shapes this does not cover are left to the reference's code (`None`): constraints over
//! more than one key besides `kubernetes.io/hostname`, a hostname constraint while some node
//! has no hostname label, and a pod's own constraints over a key no node has.

use std::collections::{BTreeMap, HashMap};

use super::cluster::FeasibleNodes;
use crate::scheduler::placed::PlacedIndex;
use crate::scheduler::pod_topology_spread::{self, included, LABEL_HOSTNAME};
use crate::scheduler::rows::SpreadConstraint;
use crate::scheduler::rows_pod::PodRow;
use crate::scheduler::selectors::label_value;
use crate::scheduler::snapshot::ClusterSnapshot;

/// See the module doc.
#[derive(Debug)]
pub struct RankedSpread<'a> {
    constraints: Vec<SpreadConstraint>,
    /// The one topology key other than hostname, when a constraint has one.
    key: Option<&'a str>,
    /// Nodes without `key` are left out of scoring (the pod's own constraints, or configured
    /// defaults), rather than spread by hostname alone (the system defaults).
    require_all: bool,
    weights: Vec<f64>,
    /// Per constraint over `key`, the matching pods per domain of the feasible nodes.
    domain_counts: Vec<HashMap<&'a str, i64>>,
    /// Per node with matching pods of a hostname constraint, their count per constraint.
    touched: BTreeMap<usize, Vec<i64>>,
    /// The raw score of an untouched node, per domain of `key` (`None`: without the key), in
    /// order (domains are few; a search beats hashing the value).
    untouched: Vec<(Option<&'a str>, i64)>,
    min: i64,
    max: i64,
    /// The lowest raw score of an untouched feasible node scored (`None`: there is none).
    least_untouched: Option<i64>,
    snapshot: &'a ClusterSnapshot,
}

impl<'a> RankedSpread<'a> {
    /// The state for `pod` under its soft `constraints` over the `feasible` nodes; `None` for
    /// a shape left to the reference.
    pub fn compute(
        pod: &PodRow,
        constraints: &'a [SpreadConstraint],
        require_all: bool,
        snapshot: &'a ClusterSnapshot,
        placed: &'a PlacedIndex,
        feasible: &FeasibleNodes,
    ) -> Option<RankedSpread<'a>> {
        let feasible_count = feasible.count();
        let nodes = snapshot.nodes.len();
        let mut kept = Vec::new();
        let mut key: Option<&'a str> = None;
        for c in constraints {
            let with_key = placed.nodes_with_key(&c.topology_key);
            if c.topology_key == LABEL_HOSTNAME {
                if with_key != nodes {
                    return None;
                }
            } else {
                if with_key == 0 && !require_all {
                    // No node has the key: the constraint adds to no node's score.
                    continue;
                }
                if with_key == 0 || key.is_some_and(|k| k != c.topology_key) {
                    return None;
                }
                key = Some(c.topology_key.as_str());
            }
            kept.push(c.clone());
        }

        // The feasible nodes per domain of `key`, and those without it (all, without a key).
        let feasible_in: HashMap<&'a str, usize> = match key {
            Some(key) => feasible.per_value(key, snapshot, placed)?,
            None => HashMap::new(),
        };
        let lacking = feasible_count.checked_sub(feasible_in.values().sum())?;
        let leaves_out_lacking = require_all && key.is_some();
        let ignored = if leaves_out_lacking { lacking } else { 0 };
        let weights = kept
            .iter()
            .map(|c| {
                let size =
                    if c.topology_key == LABEL_HOSTNAME { feasible_count - ignored } else { feasible_in.len() + usize::from(!require_all && lacking > 0) };
                ((size + 2) as f64).ln()
            })
            .collect();

        let mut touched: BTreeMap<usize, Vec<i64>> = BTreeMap::new();
        let mut domain_counts: Vec<HashMap<&'a str, i64>> = vec![HashMap::new(); kept.len()];
        for (ci, c) in kept.iter().enumerate() {
            if c.selector.is_empty() {
                continue;
            }
            let matching = placed.groups_by_position().filter(|(p, _)| !p.deleting && p.namespace == pod.namespace && c.selector.matches(&p.labels));
            for (_, on_nodes) in matching {
                for (&i, &count) in on_nodes {
                    if c.topology_key == LABEL_HOSTNAME {
                        touched.entry(i).or_insert_with(|| vec![0; kept.len()])[ci] += count;
                        continue;
                    }
                    let node = &snapshot.nodes[i].node;
                    let value = label_value(&node.labels, &c.topology_key);
                    if (require_all && value.is_none()) || !included(c, pod, node) {
                        continue;
                    }
                    // Domains of the feasible nodes only; without the key a node's domain is
                    // "", which scores nothing.
                    if let Some(value) = value.filter(|v| feasible_in.contains_key(v)) {
                        *domain_counts[ci].entry(value).or_insert(0) += count;
                    }
                }
            }
        }
        let mut spread = RankedSpread {
            constraints: kept,
            key,
            require_all,
            weights,
            domain_counts,
            touched,
            untouched: Vec::new(),
            min: i64::MAX,
            max: 0,
            least_untouched: None,
            snapshot,
        };
        let values = feasible_in.keys().map(|v| Some(*v)).chain(std::iter::once(None));
        spread.untouched = values.map(|v| (v, spread.raw_with(v, None))).collect();
        spread.untouched.sort_unstable();

        // Normalization over the feasible nodes not left out: each touched one, and each
        // domain (or lack of the key) with an untouched feasible node.
        let mut untouched_in = feasible_in.clone();
        let mut untouched_lacking = lacking;
        let mut raws = Vec::new();
        for &i in spread.touched.keys().filter(|i| feasible.contains(**i)) {
            let (raw, value) = spread.raw_in(i);
            // A feasible node's domain is among those counted (else the index and the
            // snapshot disagree on its labels: left to the reference's code).
            match value {
                Some(v) => *untouched_in.get_mut(v)? -= 1,
                None => untouched_lacking -= 1,
            }
            if !spread.leaves_out(value) {
                raws.push(raw);
            }
        }
        let mut untouched_raws = Vec::new();
        for (value, n) in &untouched_in {
            if *n > 0 {
                untouched_raws.push(spread.untouched_raw(Some(value))?);
            }
        }
        if untouched_lacking > 0 && !leaves_out_lacking {
            untouched_raws.push(spread.untouched_raw(None)?);
        }
        spread.least_untouched = untouched_raws.iter().copied().min();
        raws.extend(untouched_raws);
        for raw in raws {
            spread.min = spread.min.min(raw);
            spread.max = spread.max.max(raw);
        }
        Some(spread)
    }

    /// The nodes scored on their own (matching pods on them), in position order.
    pub fn touched(&self) -> impl Iterator<Item = usize> + '_ {
        self.touched.keys().copied()
    }

    pub fn is_touched(&self, i: usize) -> bool {
        self.touched.contains_key(&i)
    }

    fn value_of(&self, i: usize) -> Option<&'a str> {
        let labels = &self.snapshot.nodes[i].node.labels;
        self.key.and_then(|key| label_value(labels, key))
    }

    /// Node `i`'s raw score (0 when left out of scoring), with its domain.
    fn raw_in(&self, i: usize) -> (i64, Option<&'a str>) {
        let value = self.value_of(i);
        if self.leaves_out(value) {
            return (0, value);
        }
        let raw = match self.touched.get(&i) {
            Some(counts) => self.raw_with(value, Some(counts)),
            None => self.untouched_raw(value).unwrap_or_else(|| self.raw_with(value, None)),
        };
        (raw, value)
    }

    /// Node `i`'s raw score (0 when left out of scoring: it lacks a key the constraints require).
    pub fn raw(&self, i: usize) -> i64 {
        self.raw_in(i).0
    }

    /// The rounded sum, constraint by constraint in order as the reference adds them.
    fn raw_with(&self, value: Option<&str>, on_node: Option<&[i64]>) -> i64 {
        let mut score = 0.0;
        for (ci, c) in self.constraints.iter().enumerate() {
            let count = if c.topology_key == LABEL_HOSTNAME {
                on_node.map_or(0, |counts| counts[ci])
            } else {
                let Some(value) = value else { continue };
                self.domain_counts[ci].get(value).copied().unwrap_or(0)
            };
            score += count as f64 * self.weights[ci] + (c.max_skew - 1) as f64;
        }
        score.round() as i64
    }

    fn untouched_raw(&self, value: Option<&str>) -> Option<i64> {
        self.untouched.binary_search_by(|(v, _)| (*v).cmp(&value)).ok().map(|at| self.untouched[at].1)
    }

    /// The highest normalized score an untouched node has (0 when none has one).
    pub fn most_untouched(&self) -> i64 {
        self.least_untouched.map_or(0, |raw| self.normalize(raw))
    }

    /// Node `i`'s normalized score, as [`normalize`](crate::scheduler::pod_topology_spread::normalize) gives it.
    pub fn normalized(&self, i: usize) -> i64 {
        let (raw, value) = self.raw_in(i);
        if self.leaves_out(value) {
            0
        } else {
            self.normalize(raw)
        }
    }

    fn normalize(&self, raw: i64) -> i64 {
        pod_topology_spread::normalized(self.min, self.max, raw)
    }

    /// Whether a node in this domain is left out of scoring (it lacks a key the constraints
    /// require).
    fn leaves_out(&self, value: Option<&str>) -> bool {
        self.require_all && self.key.is_some() && value.is_none()
    }
}
