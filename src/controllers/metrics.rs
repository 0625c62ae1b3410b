//! Prometheus metrics of the controllers, served at `/metrics`: per controller, the
//! reconcile latency from the revision entering the feed to the write that answers it being
//! confirmed, and the updates written and failed; plus the feed's and views' revisions.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Instant;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use deltakube_dataflows::types::{Intent, Kind, Revision};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// Feed revisions remembered for latency; older ones are dropped.
const REMEMBERED: usize = 200_000;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ControllerLabel {
    pub controller: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SourceLabel {
    pub source: &'static str,
}

type HistogramFamily = Family<ControllerLabel, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

/// Every metric, and when each feed revision was pushed.
pub struct Metrics {
    registry: Registry,
    latency: HistogramFamily,
    updates: Family<ControllerLabel, Counter>,
    errors: Family<ControllerLabel, Counter>,
    redundant: Family<ControllerLabel, Counter>,
    feed_revision: Gauge,
    complete_revision: Gauge,
    scheduler_revision: Gauge,
    feed_events: Counter,
    quota_checks: Family<SourceLabel, Counter>,
    pushed: Mutex<BTreeMap<Revision, Instant>>,
}

/// The controller an intent comes from, for labels: by the kind it writes, except that the
/// ReplicaSet controller writes ReplicaSets' status (the Deployment controller the rest of
/// them), and the garbage collector is the one that writes foreground deletions and any kind
/// no other controller writes.
pub fn controller_of(intent: &Intent) -> &'static str {
    let kind = intent.key().kind;
    match intent {
        Intent::PurgeNamespace { .. } => "namespace",
        Intent::DeleteForeground { .. } => "garbagecollector",
        Intent::PatchStatus { .. } if matches!(kind, Kind::ReplicaSet | Kind::ReplicationController) => "replicaset",
        _ => match kind {
            Kind::ServiceAccount => "serviceaccount",
            Kind::Secret | Kind::ConfigMap => "token",
            Kind::Endpoints => "endpoints",
            Kind::EndpointSlice => "endpointslice",
            Kind::Node => "nodeipam",
            Kind::Service => "loadbalancer",
            Kind::Pod | Kind::ReplicationController => "replicaset",
            Kind::ReplicaSet | Kind::Deployment => "deployment",
            Kind::ResourceQuota => "resourcequota",
            _ => "garbagecollector",
        },
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("deltakube");
        let latency = HistogramFamily::new_with_constructor(latency_histogram);
        let updates = Family::<ControllerLabel, Counter>::default();
        let errors = Family::<ControllerLabel, Counter>::default();
        let redundant = Family::<ControllerLabel, Counter>::default();
        let feed_revision = Gauge::default();
        let complete_revision = Gauge::default();
        let scheduler_revision = Gauge::default();
        let feed_events = Counter::default();
        let quota_checks = Family::<SourceLabel, Counter>::default();
        registry.register("controller_reconcile_latency_seconds", "From a change entering the feed to the write answering it being confirmed", latency.clone());
        registry.register("controller_updates", "Writes the controllers made", updates.clone());
        registry.register("controller_write_errors", "Controller writes that failed and were retried", errors.clone());
        registry.register(
            "controller_redundant_writes",
            "Writes that found their effect already there (a create answered AlreadyExists, a delete or patch NotFound): expectations should keep this at zero",
            redundant.clone(),
        );
        registry.register("dataflow_feed_revision", "Newest store revision fed to the dataflows", feed_revision.clone());
        registry.register("dataflow_complete_revision", "Revision every dataflow worker has finished", complete_revision.clone());
        registry.register(
            "scheduler_readout_revision",
            "Revision the scheduler's binder has read the dataflow's rows through and caught its standing rankings up with",
            scheduler_revision.clone(),
        );
        registry.register("dataflow_feed_events", "Object changes fed to the dataflows", feed_events.clone());
        registry.register(
            "quota_admission_checks",
            "Quotas ResourceQuota admission checked, by where the usage came from: the quota-usage view (brought up to date by the events since) or summed from the watch cache",
            quota_checks.clone(),
        );
        Metrics {
            registry,
            latency,
            updates,
            errors,
            redundant,
            feed_revision,
            complete_revision,
            scheduler_revision,
            feed_events,
            quota_checks,
            pushed: Mutex::new(BTreeMap::new()),
        }
    }

    /// The feed pushed `revision` with `events` changes.
    pub fn pushed(&self, revision: Revision, events: usize) {
        self.feed_revision.set(revision as i64);
        self.feed_events.inc_by(events as u64);
        let mut pushed = self.pushed.lock().expect("metrics lock");
        pushed.insert(revision, Instant::now());
        while pushed.len() > REMEMBERED {
            pushed.pop_first();
        }
    }

    pub fn complete(&self, revision: Revision) {
        self.complete_revision.set(revision as i64);
    }

    /// The scheduler's binder has read the rows through `revision` and caught up with them.
    pub fn scheduler_caught_up(&self, revision: Revision) {
        self.scheduler_revision.set(revision as i64);
    }

    /// The revision the scheduler's binder has caught up with (0 before it has).
    pub fn scheduler_revision(&self) -> Revision {
        self.scheduler_revision.get().max(0) as Revision
    }

    /// A write answering an intent born at `revision` was confirmed.
    pub fn written(&self, intent: &Intent, revision: Revision) {
        let label = ControllerLabel { controller: controller_of(intent).into() };
        self.updates.get_or_create(&label).inc();
        if let Some(at) = self.pushed.lock().expect("metrics lock").get(&revision) {
            self.latency.get_or_create(&label).observe(at.elapsed().as_secs_f64());
        }
    }

    pub fn failed(&self, intent: &Intent) {
        self.errors.get_or_create(&ControllerLabel { controller: controller_of(intent).into() }).inc();
    }

    /// ResourceQuota admission checked a quota, with its usage from the view or summed.
    pub fn quota_checked(&self, from_view: bool) {
        let source = if from_view { "view" } else { "summed" };
        self.quota_checks.get_or_create(&SourceLabel { source }).inc();
    }

    /// A write whose effect was already there.
    pub fn redundant(&self, intent: &Intent) {
        self.redundant.get_or_create(&ControllerLabel { controller: controller_of(intent).into() }).inc();
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> Response {
        let mut text = String::new();
        if prometheus_client::encoding::text::encode(&mut text, &self.registry).is_err() {
            return (StatusCode::INTERNAL_SERVER_ERROR, "encoding metrics failed").into_response();
        }
        let mut r = (StatusCode::OK, text).into_response();
        r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"));
        r
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

#[cfg(test)]
mod tests {
    use deltakube_dataflows::types::ObjectKey;

    use super::*;

    #[test]
    fn writes_are_labelled_with_the_controller_that_makes_them() {
        let key = |kind| ObjectKey::new(kind, "ns", "x");
        let patch = || "{}".into();
        assert_eq!(controller_of(&Intent::PatchStatus { key: key(Kind::ReplicaSet), patch: patch() }), "replicaset");
        assert_eq!(controller_of(&Intent::Patch { key: key(Kind::ReplicaSet), patch: patch() }), "deployment");
        assert_eq!(controller_of(&Intent::PatchStatus { key: key(Kind::Deployment), patch: patch() }), "deployment");
        assert_eq!(controller_of(&Intent::Create { key: key(Kind::Pod), body: patch() }), "replicaset");
        assert_eq!(controller_of(&Intent::DeleteForeground { key: key(Kind::ReplicaSet) }), "garbagecollector");
        assert_eq!(controller_of(&Intent::Delete { key: key(Kind::Job) }), "garbagecollector");
        assert_eq!(controller_of(&Intent::PurgeNamespace { key: key(Kind::Namespace) }), "namespace");
    }
}
