//! A `KubeSchedulerConfiguration` file (`kubescheduler.config.k8s.io/v1`, YAML or JSON), read
//! as upstream's kube-scheduler reads its `--config`:
//! - `profiles[0].plugins`: each extension point's `enabled` and `disabled` lists are merged
//!   into upstream's defaults as `mergePluginSet` does (`pkg/scheduler/apis/config/v1/
//!   default_plugins.go`): a disabled name (or `*`, all of them) drops a default, an enabled
//!   one re-configures a default in place or is added. A plugin filters when `filter` enables
//!   it, or `multiPoint` does and `filter` does not disable it; it scores likewise through
//!   `score`, with its weight from there or from `multiPoint` (0 meaning 1, as the framework
//!   defaults it).
//! - `profiles[0].pluginConfig`: the arguments of NodeResourcesFit (`scoringStrategy` type
//!   and resources, `ignoredResources`, `ignoredResourceGroups`),
//!   NodeResourcesBalancedAllocation (`resources`), InterPodAffinity and PodTopologySpread
//!   (`defaultingType`, `defaultConstraints`).
//!
//! Decoding is strict, as upstream's: an unknown field, an unknown plugin enabled, a plugin
//! enabled twice or at an extension point it does not have is an error. Upstream's plugins
//! that deltakube does not run (volumes, dynamic resources, preemption, the queue sort and
//! binder it has built in) may be named, and any name disabled; settings deltakube does not
//! honour (`parallelism`, `percentageOfNodesToScore`: every feasible node is scored, back-off,
//! leader election, the client connection) are accepted. All of these are reported back as
//! ignored. A plugin's pre-filter runs with its filter and its pre-score with its score, so
//! `preFilter` and `preScore` entries are reported as ignored too. One profile, for
//! `default-scheduler`, is run.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::config::{default_resource_weights, default_weight, DefaultSpreadConstraint, ResourceWeight, SchedulerConfig, ScoringStrategy, SpreadDefaulting};
use super::framework::Plugin;

pub const API_VERSION: &str = "kubescheduler.config.k8s.io/v1";
pub const KIND: &str = "KubeSchedulerConfiguration";

/// Upstream's in-tree plugins that deltakube does not run (`pkg/scheduler/framework/plugins/
/// names/names.go`): a configuration may name them.
const NOT_RUN: &[&str] = &[
    "PrioritySort",
    "DefaultBinder",
    "DefaultPreemption",
    "SchedulingGates",
    "DynamicResources",
    "NodeVolumeLimits",
    "VolumeBinding",
    "VolumeRestrictions",
    "VolumeZone",
];

/// The top-level fields of upstream's v1 configuration that deltakube reads.
const READ_TOP_LEVEL: &[&str] = &["apiVersion", "kind", "profiles", "extenders"];

/// The top-level fields of upstream's v1 configuration that deltakube accepts and does not
/// honour (connections, leader election, queue back-off, profiling, node sampling).
const NOT_HONOURED_TOP_LEVEL: &[&str] = &[
    "parallelism",
    "leaderElection",
    "clientConnection",
    "percentageOfNodesToScore",
    "podInitialBackoffSeconds",
    "podMaxBackoffSeconds",
    "enableProfiling",
    "enableContentionProfiling",
    "delayCacheUntilActive",
];

/// The extension points of a profile's `plugins`.
const EXTENSION_POINTS: &[&str] =
    &["multiPoint", "preEnqueue", "queueSort", "preFilter", "filter", "postFilter", "preScore", "score", "reserve", "permit", "preBind", "bind", "postBind"];

/// A configuration read from a file: the profile, and what of the file was not applied.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigFile {
    pub config: SchedulerConfig,
    /// Plugins and settings named in the file that deltakube does not run, for a warning.
    pub ignored: Vec<String>,
}

/// Parses and validates a configuration file's text.
pub fn parse(text: &str) -> Result<ConfigFile, String> {
    let document: Value = serde_yaml::from_str(text).map_err(|e| format!("decoding the scheduler configuration: {e}"))?;
    let object = document.as_object().ok_or_else(|| "the scheduler configuration is not an object".to_string())?;
    let api_version = object.get("apiVersion").and_then(Value::as_str).unwrap_or_default();
    let kind = object.get("kind").and_then(Value::as_str).unwrap_or_default();
    if api_version != API_VERSION || kind != KIND {
        return Err(format!("the scheduler configuration must be apiVersion {API_VERSION}, kind {KIND}; got apiVersion {api_version:?}, kind {kind:?}"));
    }
    strict(&document, "", &[READ_TOP_LEVEL, NOT_HONOURED_TOP_LEVEL].concat())?;
    if object.get("extenders").and_then(Value::as_array).is_some_and(|e| !e.is_empty()) {
        return Err("extenders: scheduler extenders are not supported by deltakube".into());
    }
    let mut ignored: Vec<String> =
        NOT_HONOURED_TOP_LEVEL.iter().filter(|f| object.contains_key(**f)).map(|f| format!("{f} (not honoured by deltakube)")).collect();
    let profiles = object.get("profiles").and_then(Value::as_array).cloned().unwrap_or_default();
    let config = match profiles.as_slice() {
        [] => SchedulerConfig::default(),
        [profile] => read_profile(profile, &mut ignored)?,
        _ => return Err(format!("profiles: deltakube runs one scheduling profile, for default-scheduler; got {}", profiles.len())),
    };
    config.validate().map_err(|e| e.to_string())?;
    Ok(ConfigFile { config, ignored })
}

/// Fails on a field of `value` (at `path`) not in `known`, as upstream's strict decoding.
fn strict(value: &Value, path: &str, known: &[&str]) -> Result<(), String> {
    let Some(object) = value.as_object() else {
        return if value.is_null() { Ok(()) } else { Err(format!("{}: expected an object", path.trim_end_matches('.'))) };
    };
    match object.keys().find(|k| !known.contains(&k.as_str())) {
        Some(unknown) => Err(format!("strict decoding error: unknown field \"{path}{unknown}\"")),
        None => Ok(()),
    }
}

fn read_profile(profile: &Value, ignored: &mut Vec<String>) -> Result<SchedulerConfig, String> {
    strict(profile, "profiles[0].", &["schedulerName", "plugins", "pluginConfig", "percentageOfNodesToScore"])?;
    if profile.get("percentageOfNodesToScore").is_some() {
        ignored.push("profiles[0].percentageOfNodesToScore (not honoured by deltakube: every feasible node is scored)".into());
    }
    let name = profile["schedulerName"].as_str().unwrap_or(crate::scheduler::rows_pod::DEFAULT_SCHEDULER_NAME);
    if name != crate::scheduler::rows_pod::DEFAULT_SCHEDULER_NAME {
        return Err(format!("profiles[0].schedulerName: deltakube schedules the pods of default-scheduler only; got {name:?}"));
    }
    let mut config = plugins(&profile["plugins"], ignored)?;
    let mut configured = BTreeSet::new();
    for (i, entry) in profile["pluginConfig"].as_array().into_iter().flatten().enumerate() {
        let path = format!("profiles[0].pluginConfig[{i}]");
        if let Some(name) = entry["name"].as_str() {
            if !configured.insert(name.to_string()) {
                return Err(format!("{path}.name: Duplicate value: {name:?}"));
            }
        }
        plugin_args(&mut config, entry, &path, ignored)?;
    }
    Ok(config)
}

/// One extension point's `enabled` (name, weight) and `disabled` names.
#[derive(Default)]
struct PluginSet {
    enabled: Vec<(String, i64)>,
    disabled: BTreeSet<String>,
}

fn plugin_set(value: &Value, path: &str) -> Result<PluginSet, String> {
    strict(value, &format!("{path}."), &["enabled", "disabled"])?;
    let mut set = PluginSet::default();
    for (list, into_enabled) in [("enabled", true), ("disabled", false)] {
        for (i, plugin) in value[list].as_array().into_iter().flatten().enumerate() {
            let at = format!("{path}.{list}[{i}]");
            strict(plugin, &format!("{at}."), &["name", "weight"])?;
            let name = plugin["name"].as_str().filter(|n| !n.is_empty()).ok_or_else(|| format!("{at}.name: Required value"))?;
            if into_enabled && (name == "*" || set.enabled.iter().any(|(n, _)| n == name)) {
                return Err(format!("{at}.name: Invalid value: {name:?}: a plugin is enabled once, and by its name"));
            }
            if into_enabled {
                let weight = match &plugin["weight"] {
                    Value::Null => 0,
                    w => w.as_i64().ok_or_else(|| format!("{at}.weight: must be an integer"))?,
                };
                set.enabled.push((name.to_string(), weight));
            } else {
                set.disabled.insert(name.to_string());
            }
        }
    }
    Ok(set)
}

/// Upstream's default `multiPoint` plugins of deltakube's, with their weights.
fn default_multi_point() -> Vec<(String, i64)> {
    Plugin::ALL.into_iter().map(|p| (p.name().to_string(), default_weight(p))).collect()
}

/// `mergePluginSet`: the defaults less the disabled ones (all of them for `*`), each
/// re-configured in place by an enabled entry of its name, then the other enabled entries.
fn merge(defaults: Vec<(String, i64)>, custom: &PluginSet) -> Vec<(String, i64)> {
    let mut merged = Vec::new();
    let mut replaced = BTreeSet::new();
    if !custom.disabled.contains("*") {
        for (name, weight) in defaults.into_iter().filter(|(name, _)| !custom.disabled.contains(name)) {
            match custom.enabled.iter().position(|(n, _)| *n == name) {
                Some(i) => {
                    replaced.insert(i);
                    merged.push(custom.enabled[i].clone());
                }
                None => merged.push((name, weight)),
            }
        }
    }
    merged.extend(custom.enabled.iter().enumerate().filter(|(i, _)| !replaced.contains(i)).map(|(_, p)| p.clone()));
    merged
}

/// Notes `what` in `ignored` once.
fn note(ignored: &mut Vec<String>, what: String) {
    if !ignored.contains(&what) {
        ignored.push(what);
    }
}

/// A plugin name: one deltakube runs, or one upstream has and deltakube does not run (`None`,
/// noted in `ignored`).
fn known(name: &str, path: &str, ignored: &mut Vec<String>) -> Result<Option<Plugin>, String> {
    if let Some(p) = Plugin::from_name(name) {
        return Ok(Some(p));
    }
    if NOT_RUN.contains(&name) {
        note(ignored, format!("plugin {name} (not run by deltakube)"));
        return Ok(None);
    }
    Err(format!("{path}: plugin \"{name}\" does not exist"))
}

/// Whether `plugin` has the extension point `point` upstream (its `framework.*Plugin`
/// interfaces). `multiPoint` takes any plugin.
fn extends(plugin: Plugin, point: &str) -> bool {
    use Plugin::*;
    match point {
        "multiPoint" => true,
        "preFilter" => matches!(plugin, NodeAffinity | NodePorts | NodeResourcesFit | PodTopologySpread | InterPodAffinity),
        "filter" => plugin.filters(),
        "preScore" => plugin.scores() && plugin != ImageLocality,
        "score" => plugin.scores(),
        _ => false,
    }
}

fn plugins(value: &Value, ignored: &mut Vec<String>) -> Result<SchedulerConfig, String> {
    strict(value, "profiles[0].plugins.", EXTENSION_POINTS)?;
    let mut sets = BTreeMap::new();
    for point in EXTENSION_POINTS {
        let path = format!("profiles[0].plugins.{point}");
        let set = plugin_set(&value[*point], &path)?;
        for (name, _) in &set.enabled {
            let Some(plugin) = known(name, &path, ignored)? else { continue };
            if !extends(plugin, point) {
                return Err(format!("{path}: plugin \"{name}\" does not extend {point} plugin"));
            }
            if matches!(*point, "preFilter" | "preScore") {
                note(ignored, format!("plugins.{point} (a plugin's pre-filter runs with its filter, its pre-score with its score)"));
            }
        }
        for name in set.disabled.iter().filter(|n| *n != "*") {
            if Plugin::from_name(name).is_none() {
                note(ignored, format!("plugin {name}, disabled (not run by deltakube)"));
            } else if matches!(*point, "preFilter" | "preScore") {
                note(ignored, format!("plugins.{point} (a plugin's pre-filter runs with its filter, its pre-score with its score)"));
            }
        }
        sets.insert(*point, set);
    }
    let multi = merge(default_multi_point(), &sets["multiPoint"]);
    let (filter, score) = (&sets["filter"], &sets["score"]);
    let from_multi = |p: Plugin, point: &PluginSet| {
        if point.disabled.contains("*") || point.disabled.contains(p.name()) {
            return None;
        }
        multi.iter().find(|(n, _)| n == p.name()).map(|(_, w)| *w)
    };
    let mut config = SchedulerConfig { filters: BTreeSet::new(), scores: BTreeMap::new(), ..SchedulerConfig::default() };
    for p in Plugin::ALL {
        let explicit = |set: &PluginSet| set.enabled.iter().find(|(n, _)| n == p.name()).map(|(_, w)| *w);
        if p.filters() && (explicit(filter).is_some() || from_multi(p, filter).is_some()) {
            config.filters.insert(p);
        }
        if p.scores() {
            if let Some(weight) = explicit(score).or_else(|| from_multi(p, score)) {
                config.scores.insert(p, if weight == 0 { 1 } else { weight });
            }
        }
    }
    Ok(config)
}

/// A list of resources with weights, defaulted as upstream's v1 defaults do: no list is cpu
/// and memory, and a missing or 0 weight is 1.
fn resources(value: &Value, path: &str) -> Result<Vec<ResourceWeight>, String> {
    let mut out = Vec::new();
    for (i, r) in value.as_array().into_iter().flatten().enumerate() {
        let at = format!("{path}[{i}]");
        strict(r, &format!("{at}."), &["name", "weight"])?;
        let name = r["name"].as_str().filter(|n| !n.is_empty()).ok_or_else(|| format!("{at}.name: Required value"))?;
        let weight = match &r["weight"] {
            Value::Null => 0,
            w => w.as_i64().ok_or_else(|| format!("{at}.weight: must be an integer"))?,
        };
        if out.iter().any(|o: &ResourceWeight| o.name == name) {
            return Err(format!("{at}.name: Duplicate value: {name:?}"));
        }
        out.push(ResourceWeight { name: name.to_string(), weight: if weight == 0 { 1 } else { weight } });
    }
    Ok(if out.is_empty() { default_resource_weights() } else { out })
}

fn strings(value: &Value, path: &str) -> Result<Vec<String>, String> {
    match value {
        Value::Null => Ok(vec![]),
        Value::Array(items) => items.iter().map(|s| s.as_str().map(str::to_string).ok_or_else(|| format!("{path}: must be a list of strings"))).collect(),
        _ => Err(format!("{path}: must be a list of strings")),
    }
}

/// One `pluginConfig` entry's arguments, into `config`.
fn plugin_args(config: &mut SchedulerConfig, entry: &Value, path: &str, ignored: &mut Vec<String>) -> Result<(), String> {
    strict(entry, &format!("{path}."), &["name", "args"])?;
    let name = entry["name"].as_str().unwrap_or_default();
    let args = &entry["args"];
    let at = format!("{path}.args");
    let typed = |fields: &[&str]| -> Result<(), String> {
        let mut known = vec!["apiVersion", "kind"];
        known.extend_from_slice(fields);
        strict(args, &format!("{at}."), &known)
    };
    match known(name, &format!("{path}.name"), ignored)? {
        Some(Plugin::NodeResourcesFit) => {
            typed(&["scoringStrategy", "ignoredResources", "ignoredResourceGroups"])?;
            let strategy = &args["scoringStrategy"];
            strict(strategy, &format!("{at}.scoringStrategy."), &["type", "resources", "requestedToCapacityRatio"])?;
            config.fit.strategy = match strategy["type"].as_str() {
                None | Some("LeastAllocated") => ScoringStrategy::LeastAllocated,
                Some("MostAllocated") => ScoringStrategy::MostAllocated,
                Some(other) => {
                    return Err(format!("{at}.scoringStrategy.type: Unsupported value: {other:?}: supported values: \"LeastAllocated\", \"MostAllocated\""))
                }
            };
            if strategy.get("requestedToCapacityRatio").is_some() {
                return Err(format!("{at}.scoringStrategy.requestedToCapacityRatio: Forbidden: only valid for RequestedToCapacityRatio type"));
            }
            config.fit.resources = resources(&strategy["resources"], &format!("{at}.scoringStrategy.resources"))?;
            config.fit.ignored_resources = strings(&args["ignoredResources"], &format!("{at}.ignoredResources"))?;
            config.fit.ignored_resource_groups = strings(&args["ignoredResourceGroups"], &format!("{at}.ignoredResourceGroups"))?;
        }
        Some(Plugin::NodeResourcesBalancedAllocation) => {
            typed(&["resources"])?;
            config.balanced_allocation_resources = resources(&args["resources"], &format!("{at}.resources"))?;
            // Upstream's ValidateNodeResourcesBalancedAllocationArgs: every weight is 1.
            if let Some(r) = config.balanced_allocation_resources.iter().find(|r| r.weight != 1) {
                return Err(format!("{at}.resources: Invalid value: {}: resource weight of {} not in valid range [1, 1]", r.weight, r.name));
            }
        }
        Some(Plugin::InterPodAffinity) => {
            typed(&["hardPodAffinityWeight", "ignorePreferredTermsOfExistingPods"])?;
            if let Some(w) = args.get("hardPodAffinityWeight") {
                let w = w.as_i64().filter(|w| (0..=100).contains(w));
                config.inter_pod_affinity.hard_pod_affinity_weight =
                    w.ok_or_else(|| format!("{at}.hardPodAffinityWeight: Invalid value: must be in the range 0-100"))?;
            }
            if let Some(b) = args.get("ignorePreferredTermsOfExistingPods") {
                config.inter_pod_affinity.ignore_preferred_terms_of_existing_pods =
                    b.as_bool().ok_or_else(|| format!("{at}.ignorePreferredTermsOfExistingPods: must be a boolean"))?;
            }
        }
        Some(Plugin::PodTopologySpread) => {
            typed(&["defaultingType", "defaultConstraints"])?;
            let constraints = spread_constraints(&args["defaultConstraints"], &format!("{at}.defaultConstraints"))?;
            config.spread_defaulting = match args["defaultingType"].as_str() {
                None | Some("System") if constraints.is_empty() => SpreadDefaulting::System,
                None | Some("System") => {
                    return Err(format!("{at}.defaultConstraints: Invalid value: when .defaultingType is \"System\", .defaultConstraints must be empty"))
                }
                Some("List") => SpreadDefaulting::List(constraints),
                Some(other) => return Err(format!("{at}.defaultingType: Unsupported value: {other:?}: supported values: \"System\", \"List\"")),
            };
        }
        Some(p) => return Err(format!("{path}.name: plugin {} takes no arguments in deltakube", p.name())),
        None => {}
    }
    Ok(())
}

fn spread_constraints(value: &Value, path: &str) -> Result<Vec<DefaultSpreadConstraint>, String> {
    let mut out = Vec::new();
    for (i, c) in value.as_array().into_iter().flatten().enumerate() {
        let at = format!("{path}[{i}]");
        strict(c, &format!("{at}."), &["maxSkew", "topologyKey", "whenUnsatisfiable", "labelSelector"])?;
        if !c["labelSelector"].is_null() {
            return Err(format!("{at}.labelSelector: Forbidden: constraint must not define a selector, as they deduced for each pod"));
        }
        let max_skew = c["maxSkew"].as_i64().filter(|s| *s > 0).ok_or_else(|| format!("{at}.maxSkew: Invalid value: must be greater than zero"))?;
        let topology_key = c["topologyKey"].as_str().filter(|k| !k.is_empty()).ok_or_else(|| format!("{at}.topologyKey: Required value: can not be empty"))?;
        let schedule_anyway = match c["whenUnsatisfiable"].as_str() {
            Some("ScheduleAnyway") => true,
            Some("DoNotSchedule") => false,
            None => return Err(format!("{at}.whenUnsatisfiable: Required value")),
            Some(other) => {
                return Err(format!("{at}.whenUnsatisfiable: Unsupported value: {other:?}: supported values: \"DoNotSchedule\", \"ScheduleAnyway\""))
            }
        };
        out.push(DefaultSpreadConstraint { max_skew, topology_key: topology_key.to_string(), schedule_anyway });
    }
    Ok(out)
}

/// Reads and parses a configuration file.
pub fn load(path: &std::path::Path) -> Result<ConfigFile, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("reading the scheduler configuration {}: {e}", path.display()))?;
    parse(&text).map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(plugins: &str) -> String {
        format!("apiVersion: {API_VERSION}\nkind: {KIND}\nprofiles:\n- schedulerName: default-scheduler\n{plugins}")
    }

    #[test]
    fn no_profile_is_upstreams_default() {
        let parsed = parse(&format!("apiVersion: {API_VERSION}\nkind: {KIND}\nparallelism: 16\n")).unwrap();
        assert_eq!(parsed.config, SchedulerConfig::default());
        assert_eq!(parsed.ignored, vec!["parallelism (not honoured by deltakube)".to_string()]);
    }

    // Upstream: pkg/scheduler/apis/config/v1/default_plugins_test.go, TestMergePlugins,
    // "DisablePluginsInDefaultPlugins" and "ReplaceDefaultPluginsWithCustomPlugins" (weights
    // of re-configured defaults replace the defaults' in place).
    #[test]
    fn multi_point_disables_and_reweights_defaults() {
        let text = profile(
            "  plugins:\n    multiPoint:\n      enabled: [{name: NodeResourcesFit, weight: 5}]\n      disabled: [{name: ImageLocality}, {name: VolumeBinding}]\n",
        );
        let parsed = parse(&text).unwrap();
        assert_eq!(parsed.config.weight(Plugin::NodeResourcesFit), 5);
        assert!(!parsed.config.scores(Plugin::ImageLocality));
        assert_eq!(parsed.config.weight(Plugin::TaintToleration), 3, "untouched defaults keep their weights");
        assert!(parsed.config.filters(Plugin::NodeResourcesFit));
        assert_eq!(parsed.ignored, vec!["plugin VolumeBinding, disabled (not run by deltakube)".to_string()]);
    }

    // Upstream: TestMergePlugins, "DisableAllPlugin" ("*" drops every default).
    #[test]
    fn star_disables_every_default_at_its_point() {
        let parsed = parse(&profile("  plugins:\n    score:\n      disabled: [{name: \"*\"}]\n      enabled: [{name: ImageLocality, weight: 0}]\n")).unwrap();
        assert_eq!(parsed.config.scores.keys().copied().collect::<Vec<_>>(), vec![Plugin::ImageLocality]);
        assert_eq!(parsed.config.weight(Plugin::ImageLocality), 1, "a weight of 0 is defaulted to 1");
        assert_eq!(parsed.config.filters, SchedulerConfig::default().filters, "filters stay");
    }

    #[test]
    fn a_filter_can_be_disabled_without_its_score() {
        let parsed = parse(&profile("  plugins:\n    filter:\n      disabled: [{name: TaintToleration}]\n")).unwrap();
        assert!(!parsed.config.filters(Plugin::TaintToleration));
        assert_eq!(parsed.config.weight(Plugin::TaintToleration), 3);
    }

    #[test]
    fn plugin_args_set_the_strategy_and_resources() {
        let text = profile(
            "  pluginConfig:\n  - name: NodeResourcesFit\n    args:\n      kind: NodeResourcesFitArgs\n      scoringStrategy:\n        type: MostAllocated\n        resources: [{name: cpu, weight: 3}, {name: memory, weight: 1}]\n      ignoredResources: [example.com/foo]\n  - name: PodTopologySpread\n    args:\n      defaultingType: List\n      defaultConstraints: [{maxSkew: 1, topologyKey: topology.kubernetes.io/zone, whenUnsatisfiable: ScheduleAnyway}]\n  - name: VolumeBinding\n    args: {bindTimeoutSeconds: 600}\n",
        );
        let c = parse(&text).unwrap().config;
        assert_eq!(c.fit.strategy, ScoringStrategy::MostAllocated);
        assert_eq!(c.fit.resources, vec![ResourceWeight { name: "cpu".into(), weight: 3 }, ResourceWeight { name: "memory".into(), weight: 1 }]);
        assert_eq!(c.fit.ignored_resources, vec!["example.com/foo".to_string()]);
        assert_eq!(
            c.spread_defaulting,
            SpreadDefaulting::List(vec![DefaultSpreadConstraint { max_skew: 1, topology_key: "topology.kubernetes.io/zone".into(), schedule_anyway: true }])
        );
    }

    #[test]
    fn mistakes_are_refused_with_their_field() {
        let cases: Vec<(String, &str)> = vec![
            (format!("apiVersion: kubescheduler.config.k8s.io/v1beta2\nkind: {KIND}\n"), "must be apiVersion kubescheduler.config.k8s.io/v1"),
            (format!("apiVersion: {API_VERSION}\nkind: {KIND}\nprofile: []\n"), "unknown field \"profile\""),
            (profile("  plugins:\n    score:\n      enabled: [{name: NodePorts}]\n"), "plugin \"NodePorts\" does not extend score plugin"),
            (profile("  plugins:\n    filter:\n      enabled: [{name: Magic}]\n"), "plugin \"Magic\" does not exist"),
            (profile("  plugins:\n    multiPoint:\n      enabled: [{name: ImageLocality, weight: -2}]\n"), "weight of plugin ImageLocality"),
            (profile("  pluginConfig:\n  - name: NodeResourcesFit\n    args: {scoringStrategy: {type: RequestedToCapacityRatio}}\n"), "Unsupported value"),
            (profile("  pluginConfig:\n  - name: NodeResourcesFit\n    args: {scoringStrategy: {resources: [{name: cpu, weight: 101}]}}\n"), "resource weight of cpu"),
            (profile("  pluginConfig:\n  - name: PodTopologySpread\n    args: {defaultConstraints: [{maxSkew: 1, topologyKey: zone, whenUnsatisfiable: DoNotSchedule}]}\n"), "must be empty"),
            (format!("apiVersion: {API_VERSION}\nkind: {KIND}\nprofiles:\n- schedulerName: mine\n"), "default-scheduler only"),
            (format!("apiVersion: {API_VERSION}\nkind: {KIND}\nprofiles: [{{}}, {{}}]\n"), "one scheduling profile"),
            (profile("  plugins:\n    score:\n      enabled: [{name: ImageLocality}, {name: ImageLocality, weight: 2}]\n"), "enabled once"),
            (profile("  plugins:\n    preScore:\n      enabled: [{name: ImageLocality}]\n"), "does not extend preScore plugin"),
            (profile("  pluginConfig:\n  - name: NodeResourcesBalancedAllocation\n    args: {resources: [{name: cpu, weight: 2}]}\n"), "not in valid range [1, 1]"),
            (profile("  pluginConfig:\n  - {name: InterPodAffinity}\n  - {name: InterPodAffinity}\n"), "Duplicate value"),
        ];
        for (text, want) in cases {
            let e = parse(&text).unwrap_err();
            assert!(e.contains(want), "{e:?} should say {want:?}");
        }
    }

    // Upstream: pkg/scheduler/apis/config/v1/defaults_test.go, "NodeResourcesFitArgs resources
    // empty" and "resources with zero weight": cpu and memory, and weight 1.
    #[test]
    fn resources_are_defaulted_as_upstream() {
        let c = parse(&profile("  pluginConfig:\n  - name: NodeResourcesFit\n    args: {scoringStrategy: {type: MostAllocated, resources: []}}\n  - name: NodeResourcesBalancedAllocation\n    args: {resources: [{name: cpu}, {name: example.com/gpu, weight: 0}]}\n")).unwrap().config;
        assert_eq!(c.fit.resources, default_resource_weights());
        assert_eq!(
            c.balanced_allocation_resources,
            vec![ResourceWeight { name: "cpu".into(), weight: 1 }, ResourceWeight { name: "example.com/gpu".into(), weight: 1 }]
        );
    }

    #[test]
    fn what_is_not_run_or_honoured_is_reported() {
        let text = format!(
            "apiVersion: {API_VERSION}\nkind: {KIND}\npercentageOfNodesToScore: 50\nprofiles:\n- plugins:\n    preFilter:\n      disabled: [{{name: NodeAffinity}}]\n    multiPoint:\n      disabled: [{{name: EBSLimits}}]\n"
        );
        let parsed = parse(&text).unwrap();
        assert_eq!(parsed.config, SchedulerConfig::default());
        assert_eq!(parsed.ignored.len(), 3, "{:?}", parsed.ignored);
        assert!(parsed.ignored[0].starts_with("percentageOfNodesToScore"), "{:?}", parsed.ignored);
    }
}
