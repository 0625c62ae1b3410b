//! The scheduler's configuration, shaped as upstream's `KubeSchedulerConfiguration` profile
//! (`pkg/scheduler/apis/config/types_pluginargs.go`), with upstream's defaults
//! (`pkg/scheduler/apis/config/v1/default_plugins.go` and `defaults.go`):
//!
//! | plugin | default weight |
//! |---|---|
//! | TaintToleration | 3 |
//! | NodeAffinity | 2 |
//! | NodeResourcesFit | 1 (LeastAllocated over cpu 1, memory 1) |
//! | PodTopologySpread | 2 (system default constraints) |
//! | InterPodAffinity | 2 (hardPodAffinityWeight 1) |
//! | NodeResourcesBalancedAllocation | 1 (cpu 1, memory 1) |
//! | ImageLocality | 1 |
//!
//! NodeUnschedulable, NodeName and NodePorts only filter. A plugin's filter and its score are
//! enabled apart, as a profile's `plugins.filter` and `plugins.score` do, weights change, and
//! NodeResourcesFit can score with MostAllocated; [`super::config_file`] reads all of it from
//! a `KubeSchedulerConfiguration`.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::framework::Plugin;

/// NodeResourcesFit's `scoringStrategy.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ScoringStrategy {
    LeastAllocated,
    MostAllocated,
}

/// A resource and its weight in a scoring strategy (`config.ResourceSpec`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ResourceWeight {
    pub name: String,
    pub weight: i64,
}

/// Upstream's default resources for both resource scorers: cpu and memory, weight 1.
pub fn default_resource_weights() -> Vec<ResourceWeight> {
    vec![ResourceWeight { name: "cpu".into(), weight: 1 }, ResourceWeight { name: "memory".into(), weight: 1 }]
}

/// `NodeResourcesFitArgs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeResourcesFitArgs {
    pub strategy: ScoringStrategy,
    pub resources: Vec<ResourceWeight>,
    /// Extended resources the filter does not check.
    pub ignored_resources: Vec<String>,
    /// Extended resource groups (the part before `/`) the filter does not check.
    pub ignored_resource_groups: Vec<String>,
}

/// `InterPodAffinityArgs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterPodAffinityArgs {
    /// The weight an existing pod's required affinity term gives a pod it matches.
    pub hard_pod_affinity_weight: i64,
    pub ignore_preferred_terms_of_existing_pods: bool,
}

/// A default spread constraint of `PodTopologySpreadArgs.defaultConstraints` (its selector
/// always comes from the pod's Services and controller).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DefaultSpreadConstraint {
    pub max_skew: i64,
    pub topology_key: String,
    pub schedule_anyway: bool,
}

/// `PodTopologySpreadArgs.defaultingType`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SpreadDefaulting {
    /// Upstream's `systemDefaultConstraints`: hostname maxSkew 3 and zone maxSkew 5,
    /// ScheduleAnyway; nodes without a zone label still spread by hostname.
    System,
    /// The listed constraints, every topology key required of a node.
    List(Vec<DefaultSpreadConstraint>),
}

/// Why a configuration is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A scoring resource weight is outside upstream's range.
    #[error("resource weight of {0} should be in range [1, 100]")]
    ResourceWeight(String),
    /// A score plugin weight is not positive, or so large that a total could overflow.
    #[error("weight of plugin {0} should be in range [1, {MAX_PLUGIN_WEIGHT}]")]
    PluginWeight(&'static str),
}

/// The largest plugin weight accepted: with every plugin at it, totals stay far from overflow.
pub const MAX_PLUGIN_WEIGHT: i64 = 1_000_000;

/// A scheduling profile: the plugins that filter, those that score with their weights, and
/// the plugins' arguments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchedulerConfig {
    /// Plugins whose filter (with its pre-filter) runs.
    pub filters: BTreeSet<Plugin>,
    /// Plugins whose score runs, with their weights.
    pub scores: BTreeMap<Plugin, i64>,
    pub fit: NodeResourcesFitArgs,
    pub balanced_allocation_resources: Vec<ResourceWeight>,
    pub inter_pod_affinity: InterPodAffinityArgs,
    pub spread_defaulting: SpreadDefaulting,
    /// How many revisions a class's pairs stay after its last pending pod left (deltakube's
    /// own; no upstream counterpart): the next pod of a workload arriving at a steady pace
    /// then finds its class's pairs and ranking standing, instead of one pair per node made
    /// again. 0 drops them at once.
    pub class_linger_revisions: u64,
}

/// The default of [`SchedulerConfig::class_linger_revisions`]: a few seconds of a busy
/// cluster's writes (pod creates and bindings, node heartbeats).
pub const CLASS_LINGER_REVISIONS: u64 = 2_000;

impl Default for SchedulerConfig {
    fn default() -> SchedulerConfig {
        SchedulerConfig {
            filters: Plugin::ALL.into_iter().filter(|p| p.filters()).collect(),
            scores: Plugin::ALL.into_iter().filter(|p| p.scores()).map(|p| (p, default_weight(p))).collect(),
            fit: NodeResourcesFitArgs {
                strategy: ScoringStrategy::LeastAllocated,
                resources: default_resource_weights(),
                ignored_resources: vec![],
                ignored_resource_groups: vec![],
            },
            balanced_allocation_resources: default_resource_weights(),
            inter_pod_affinity: InterPodAffinityArgs { hard_pod_affinity_weight: 1, ignore_preferred_terms_of_existing_pods: false },
            spread_defaulting: SpreadDefaulting::System,
            class_linger_revisions: CLASS_LINGER_REVISIONS,
        }
    }
}

/// Upstream's default score weight of a plugin (`getDefaultPlugins`); 0 for filter-only ones.
pub fn default_weight(plugin: Plugin) -> i64 {
    match plugin {
        Plugin::TaintToleration => 3,
        Plugin::NodeAffinity | Plugin::PodTopologySpread | Plugin::InterPodAffinity => 2,
        Plugin::NodeResourcesFit | Plugin::NodeResourcesBalancedAllocation | Plugin::ImageLocality => 1,
        Plugin::NodeUnschedulable | Plugin::NodeName | Plugin::NodePorts => 0,
    }
}

impl SchedulerConfig {
    /// Whether the plugin's filter runs.
    pub fn filters(&self, plugin: Plugin) -> bool {
        self.filters.contains(&plugin)
    }

    /// Whether the plugin's score runs.
    pub fn scores(&self, plugin: Plugin) -> bool {
        self.scores.contains_key(&plugin)
    }

    /// The plugin's score weight; 0 when it does not score.
    pub fn weight(&self, plugin: Plugin) -> i64 {
        self.scores.get(&plugin).copied().unwrap_or(0)
    }

    /// The plugins that score, in upstream's order.
    pub fn scoring(&self) -> impl Iterator<Item = Plugin> + '_ {
        Plugin::ALL.into_iter().filter(|p| self.scores(*p))
    }

    /// Neither the plugin's filter nor its score runs.
    pub fn disable(mut self, plugin: Plugin) -> SchedulerConfig {
        self.filters.remove(&plugin);
        self.scores.remove(&plugin);
        self
    }

    pub fn with_weight(mut self, plugin: Plugin, weight: i64) -> SchedulerConfig {
        self.scores.insert(plugin, weight);
        self
    }

    /// NodeResourcesFit scores with MostAllocated (bin packing).
    pub fn most_allocated(mut self) -> SchedulerConfig {
        self.fit.strategy = ScoringStrategy::MostAllocated;
        self
    }

    /// Upstream's validation of the arguments deltakube honours.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for r in self.fit.resources.iter().chain(&self.balanced_allocation_resources) {
            if !(1..=100).contains(&r.weight) {
                return Err(ConfigError::ResourceWeight(r.name.clone()));
            }
        }
        for (p, w) in &self.scores {
            if !(1..=MAX_PLUGIN_WEIGHT).contains(w) {
                return Err(ConfigError::PluginWeight(p.name()));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_upstreams() {
        let c = SchedulerConfig::default();
        assert_eq!(c.weight(Plugin::TaintToleration), 3);
        assert_eq!(c.weight(Plugin::NodeAffinity), 2);
        assert_eq!(c.weight(Plugin::PodTopologySpread), 2);
        assert_eq!(c.weight(Plugin::InterPodAffinity), 2);
        assert_eq!(c.weight(Plugin::NodeResourcesFit), 1);
        assert_eq!(c.weight(Plugin::NodeResourcesBalancedAllocation), 1);
        assert_eq!(c.weight(Plugin::ImageLocality), 1);
        assert!(c.validate().is_ok());
    }

    // Upstream: noderesources/least_allocated_test.go, TestLeastAllocatedScoringStrategy,
    // "resource with negative weight", "resource with zero weight", "resource weight larger than MaxNodeScore".
    #[test]
    fn resource_weights_outside_1_to_100_are_refused() {
        for w in [-1, 0, 101] {
            let mut c = SchedulerConfig::default();
            c.fit.resources[1].weight = w;
            assert_eq!(c.validate(), Err(ConfigError::ResourceWeight("memory".into())));
        }
        assert!(SchedulerConfig::default().with_weight(Plugin::ImageLocality, 0).validate().is_err());
        assert!(!SchedulerConfig::default().disable(Plugin::ImageLocality).scores(Plugin::ImageLocality));
    }
}
