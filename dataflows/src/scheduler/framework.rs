//! The vocabulary the plugins share, after upstream's scheduling framework
//! (`k8s.io/kube-scheduler/framework` and `pkg/scheduler/framework`): plugin names, a filter's
//! rejection with its status code and reasons, the score range and the default normalization.

use serde::{Deserialize, Serialize};

/// Upstream's `framework.MaxNodeScore`: every normalized score lies in `0..=MAX_NODE_SCORE`.
pub const MAX_NODE_SCORE: i64 = 100;

/// The plugins deltakube runs, by upstream name. The declaration order is upstream's
/// multi-point order (`pkg/scheduler/apis/config/v1/default_plugins.go`), which is also the
/// order filters run in: a node is reported with the first filter that rejects it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Plugin {
    NodeUnschedulable,
    NodeName,
    TaintToleration,
    NodeAffinity,
    NodePorts,
    NodeResourcesFit,
    PodTopologySpread,
    InterPodAffinity,
    NodeResourcesBalancedAllocation,
    ImageLocality,
}

impl Plugin {
    /// Every plugin, in upstream's multi-point order.
    pub const ALL: [Plugin; 10] = [
        Plugin::NodeUnschedulable,
        Plugin::NodeName,
        Plugin::TaintToleration,
        Plugin::NodeAffinity,
        Plugin::NodePorts,
        Plugin::NodeResourcesFit,
        Plugin::PodTopologySpread,
        Plugin::InterPodAffinity,
        Plugin::NodeResourcesBalancedAllocation,
        Plugin::ImageLocality,
    ];

    /// Upstream's plugin name (`pkg/scheduler/framework/plugins/names/names.go`).
    pub fn name(self) -> &'static str {
        match self {
            Plugin::NodeUnschedulable => "NodeUnschedulable",
            Plugin::NodeName => "NodeName",
            Plugin::TaintToleration => "TaintToleration",
            Plugin::NodeAffinity => "NodeAffinity",
            Plugin::NodePorts => "NodePorts",
            Plugin::NodeResourcesFit => "NodeResourcesFit",
            Plugin::PodTopologySpread => "PodTopologySpread",
            Plugin::InterPodAffinity => "InterPodAffinity",
            Plugin::NodeResourcesBalancedAllocation => "NodeResourcesBalancedAllocation",
            Plugin::ImageLocality => "ImageLocality",
        }
    }

    /// The plugin of an upstream name.
    pub fn from_name(name: &str) -> Option<Plugin> {
        Plugin::ALL.into_iter().find(|p| p.name() == name)
    }

    /// Whether the plugin has a filter.
    pub fn filters(self) -> bool {
        !matches!(self, Plugin::NodeResourcesBalancedAllocation | Plugin::ImageLocality)
    }

    /// Whether the plugin scores nodes.
    pub fn scores(self) -> bool {
        matches!(
            self,
            Plugin::TaintToleration
                | Plugin::NodeAffinity
                | Plugin::NodeResourcesFit
                | Plugin::PodTopologySpread
                | Plugin::InterPodAffinity
                | Plugin::NodeResourcesBalancedAllocation
                | Plugin::ImageLocality
        )
    }
}

/// Upstream's rejection codes. Only `Unschedulable` nodes are worth preemption.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Code {
    Unschedulable,
    UnschedulableAndUnresolvable,
}

/// Why a filter rejected a node: the plugin, the code, and upstream's reason strings (one per
/// failure; NodeResourcesFit may give several, e.g. `Insufficient cpu` and `Insufficient memory`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Rejection {
    pub plugin: Plugin,
    pub code: Code,
    pub reasons: Vec<String>,
}

impl Rejection {
    pub fn new(plugin: Plugin, code: Code, reason: impl Into<String>) -> Rejection {
        Rejection { plugin, code, reasons: vec![reason.into()] }
    }
}

/// A filter's verdict on one node.
pub type FilterResult = Result<(), Rejection>;

/// Upstream's `helper.DefaultNormalizeScore` (`pkg/scheduler/framework/plugins/helper/normalize_score.go`):
/// scales `[0, max(scores)]` to `[0, max_priority]`, reversed when asked; all-zero scores stay
/// zero, or become `max_priority` when reversed.
pub fn default_normalize(max_priority: i64, reverse: bool, scores: &mut [i64]) {
    let max = scores.iter().copied().fold(0, i64::max);
    if max == 0 {
        if reverse {
            scores.iter_mut().for_each(|s| *s = max_priority);
        }
        return;
    }
    for s in scores.iter_mut() {
        let scaled = max_priority * *s / max;
        *s = if reverse { max_priority - scaled } else { scaled };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn normalized(reverse: bool, scores: &[i64]) -> Vec<i64> {
        let mut s = scores.to_vec();
        default_normalize(MAX_NODE_SCORE, reverse, &mut s);
        s
    }

    // Upstream: pkg/scheduler/framework/plugins/helper/normalize_score_test.go,
    // TestDefaultNormalizeScore, cases 0 to 6.
    #[test]
    fn default_normalize_score_matches_upstream_cases() {
        assert_eq!(normalized(false, &[1, 2, 3, 4]), [25, 50, 75, 100]);
        assert_eq!(normalized(true, &[1, 2, 3, 4]), [75, 50, 25, 0]);
        assert_eq!(normalized(false, &[1000, 10, 20, 30]), [100, 1, 2, 3]);
        assert_eq!(normalized(true, &[1000, 10, 20, 30]), [0, 99, 98, 97]);
        assert_eq!(normalized(false, &[1, 1, 1, 1]), [100, 100, 100, 100]);
        assert_eq!(normalized(false, &[1000, 1, 1, 1]), [100, 0, 0, 0]);
        assert_eq!(normalized(true, &[0, 1, 1, 1]), [100, 0, 0, 0]);
    }

    #[test]
    fn plugin_names_round_trip() {
        for p in Plugin::ALL {
            assert_eq!(Plugin::from_name(p.name()), Some(p));
        }
    }
}
