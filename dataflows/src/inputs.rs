//! The engine's input sessions: where a worker puts the projections of the feed's objects.
//!
//! The controllers' sessions and the scheduler's exist only when that part runs, and so do
//! their operators: a dataflow that is not built costs no progress tracking, which every
//! revision pays across every operator there is (`deltakube scheduler` alone builds only the
//! scheduler's; `deltakube bench churn` only the controllers').

use std::collections::HashMap;
use std::sync::Arc;

use differential_dataflow::input::{Input, InputSession};
use differential_dataflow::VecCollection;
use timely::dataflow::Scope;

use crate::controllers::deployment::DeploymentRow;
use crate::controllers::gc::Member as GcMember;
use crate::deadlines::Micros;
use crate::rows::{project, ConfigMapRow, ManagedRow, NamespaceRow, NodeRow, PodRow, ReplicaSetRow, Row, SecretRow, ServiceAccountRow, ServiceRow};
use crate::rows_quota::{ResourceQuotaRow, UsageRow};
use crate::scheduler::input::SchedulerInput;
use crate::types::{Diff, Kind, ObjectKey, ProjectionError, Revision};

/// Every input session of one worker.
pub struct Inputs {
    /// The controllers' projections, when they run.
    pub controllers: Option<ControllerInputs>,
    /// The scheduler's projection of nodes, pods, namespaces and workloads, when it runs.
    pub scheduler: Option<SchedulerInputs>,
    /// Objects that no projection could read.
    pub errors: InputSession<Revision, ProjectionError, Diff>,
}

/// The controllers' input sessions, one per projected kind.
pub struct ControllerInputs {
    namespaces: InputSession<Revision, NamespaceRow, Diff>,
    accounts: InputSession<Revision, ServiceAccountRow, Diff>,
    secrets: InputSession<Revision, SecretRow, Diff>,
    configmaps: InputSession<Revision, ConfigMapRow, Diff>,
    /// Shared: every controller that reads a pod holds this one row, never a copy.
    pods: InputSession<Revision, Arc<PodRow>, Diff>,
    services: InputSession<Revision, ServiceRow, Diff>,
    nodes: InputSession<Revision, NodeRow, Diff>,
    managed: InputSession<Revision, ManagedRow, Diff>,
    workloads: InputSession<Revision, Arc<ReplicaSetRow>, Diff>,
    deployments: InputSession<Revision, DeploymentRow, Diff>,
    quotas: InputSession<Revision, ResourceQuotaRow, Diff>,
    /// Every namespaced object's quota usage, a second projection beside its row.
    usage: InputSession<Revision, UsageRow, Diff>,
    /// Every object's part in garbage collection, a third projection.
    gc: InputSession<Revision, (u64, GcMember), Diff>,
    /// The time: the clock Lease's renewal ([`crate::clock`]).
    clock: InputSession<Revision, Micros, Diff>,
}

/// The collections behind [`ControllerInputs`], for the controllers to be built over.
pub struct ControllerCollections<'s> {
    pub namespaces: VecCollection<'s, Revision, NamespaceRow, Diff>,
    pub accounts: VecCollection<'s, Revision, ServiceAccountRow, Diff>,
    pub secrets: VecCollection<'s, Revision, SecretRow, Diff>,
    pub configmaps: VecCollection<'s, Revision, ConfigMapRow, Diff>,
    pub pods: VecCollection<'s, Revision, Arc<PodRow>, Diff>,
    pub services: VecCollection<'s, Revision, ServiceRow, Diff>,
    pub nodes: VecCollection<'s, Revision, NodeRow, Diff>,
    pub managed: VecCollection<'s, Revision, ManagedRow, Diff>,
    pub workloads: VecCollection<'s, Revision, Arc<ReplicaSetRow>, Diff>,
    pub deployments: VecCollection<'s, Revision, DeploymentRow, Diff>,
    pub quotas: VecCollection<'s, Revision, ResourceQuotaRow, Diff>,
    pub usage: VecCollection<'s, Revision, UsageRow, Diff>,
    pub gc: VecCollection<'s, Revision, (u64, GcMember), Diff>,
    pub clock: VecCollection<'s, Revision, Micros, Diff>,
}

impl ControllerInputs {
    /// New sessions in `scope`, and their collections.
    pub fn new<'s>(scope: &Scope<'s, Revision>) -> (ControllerInputs, ControllerCollections<'s>) {
        let (namespaces_in, namespaces) = scope.new_collection();
        let (accounts_in, accounts) = scope.new_collection();
        let (secrets_in, secrets) = scope.new_collection();
        let (configmaps_in, configmaps) = scope.new_collection();
        let (pods_in, pods) = scope.new_collection();
        let (services_in, services) = scope.new_collection();
        let (nodes_in, nodes) = scope.new_collection();
        let (managed_in, managed) = scope.new_collection();
        let (workloads_in, workloads) = scope.new_collection();
        let (deployments_in, deployments) = scope.new_collection();
        let (quotas_in, quotas) = scope.new_collection();
        let (usage_in, usage) = scope.new_collection();
        let (gc_in, gc) = scope.new_collection();
        let (clock_in, clock) = scope.new_collection();
        let inputs = ControllerInputs {
            namespaces: namespaces_in,
            accounts: accounts_in,
            secrets: secrets_in,
            configmaps: configmaps_in,
            pods: pods_in,
            services: services_in,
            nodes: nodes_in,
            managed: managed_in,
            workloads: workloads_in,
            deployments: deployments_in,
            quotas: quotas_in,
            usage: usage_in,
            gc: gc_in,
            clock: clock_in,
        };
        let collections = ControllerCollections {
            namespaces,
            accounts,
            secrets,
            configmaps,
            pods,
            services,
            nodes,
            managed,
            workloads,
            deployments,
            quotas,
            usage,
            gc,
            clock,
        };
        (inputs, collections)
    }

    fn update(&mut self, row: Row, diff: Diff) {
        match row {
            Row::Namespace(r) => self.namespaces.update(r, diff),
            Row::ServiceAccount(r) => self.accounts.update(r, diff),
            Row::Secret(r) => self.secrets.update(r, diff),
            Row::ConfigMap(r) => self.configmaps.update(r, diff),
            Row::Pod(r) => self.pods.update(Arc::new(r), diff),
            Row::Service(r) => self.services.update(r, diff),
            Row::Node(r) => self.nodes.update(r, diff),
            Row::Managed(r) => self.managed.update(r, diff),
            Row::ReplicaSet(r) => self.workloads.update(Arc::new(r), diff),
            Row::Deployment(r) => self.deployments.update(r, diff),
            Row::ResourceQuota(r) => self.quotas.update(r, diff),
            Row::CountedOnly(_) => {}
        }
    }

    /// Projects one object (or its removal, `diff` -1) into the sessions; what cannot be read
    /// goes to `errors`.
    fn apply(&mut self, key: &ObjectKey, value: &serde_json::Value, diff: Diff, errors: &mut InputSession<Revision, ProjectionError, Diff>) {
        match project(key, value) {
            Ok(row) => self.update(row, diff),
            Err(e) => errors.update(e, diff),
        }
        match crate::rows_quota::usage(key, value) {
            Ok(Some(usage)) => self.usage.update(usage, diff),
            Ok(None) => {}
            Err(e) => errors.update(e, diff),
        }
        match crate::controllers::gc::members(key, value) {
            Ok(members) => {
                for member in members {
                    self.gc.update(member, diff);
                }
            }
            Err(message) => errors.update(ProjectionError { key: key.clone(), message: format!("garbage collector: {message}") }, diff),
        }
        if crate::clock::is_clock(key) {
            match crate::clock::now_of(value) {
                Ok(Some(now)) => self.clock.update(now, diff),
                Ok(None) => {}
                Err(message) => errors.update(ProjectionError { key: key.clone(), message: format!("clock: {message}") }, diff),
            }
        }
    }

    fn sessions(&mut self) -> [&mut dyn Session; 14] {
        [
            &mut self.namespaces,
            &mut self.accounts,
            &mut self.secrets,
            &mut self.configmaps,
            &mut self.pods,
            &mut self.services,
            &mut self.nodes,
            &mut self.managed,
            &mut self.workloads,
            &mut self.deployments,
            &mut self.quotas,
            &mut self.usage,
            &mut self.gc,
            &mut self.clock,
        ]
    }
}

/// The scheduler's input session, and the row each pod it holds was projected to.
///
/// Most changes the scheduler sees are pods updated (bound, then their status as it moves),
/// and a change retracts the old object's row: the row kept for the object the feed names as
/// old (the same allocation, so the same object) is retracted as it is, not projected again.
pub struct SchedulerInputs {
    session: InputSession<Revision, SchedulerInput, Diff>,
    /// Per pod, the object last inserted and its row.
    pods: HashMap<ObjectKey, (Arc<serde_json::Value>, SchedulerInput)>,
}

impl SchedulerInputs {
    pub fn new(session: InputSession<Revision, SchedulerInput, Diff>) -> SchedulerInputs {
        SchedulerInputs { session, pods: HashMap::new() }
    }

    /// Retracts the row of `old` (the object as last inserted) and inserts the row of `new`.
    fn change(
        &mut self,
        key: &ObjectKey,
        old: Option<&Arc<serde_json::Value>>,
        new: Option<&Arc<serde_json::Value>>,
        errors: &mut InputSession<Revision, ProjectionError, Diff>,
    ) {
        let kept = if key.kind == Kind::Pod { self.pods.remove(key) } else { None };
        if let Some(old) = old {
            let row = match kept {
                Some((object, row)) if Arc::ptr_eq(&object, old) => Some(row),
                _ => scheduler_row(key, old, -1, errors),
            };
            if let Some(row) = row {
                self.session.update(row, -1);
            }
        }
        if let Some(new) = new {
            if let Some(row) = scheduler_row(key, new, 1, errors) {
                if key.kind == Kind::Pod {
                    self.pods.insert(key.clone(), (new.clone(), row.clone()));
                }
                self.session.update(row, 1);
            }
        }
    }
}

/// `value`'s scheduler row, if it has one; what cannot be read goes to `errors` with `diff`.
fn scheduler_row(key: &ObjectKey, value: &serde_json::Value, diff: Diff, errors: &mut InputSession<Revision, ProjectionError, Diff>) -> Option<SchedulerInput> {
    crate::scheduler::input::project(key, value).unwrap_or_else(|message| {
        errors.update(ProjectionError { key: key.clone(), message: format!("scheduler: {message}") }, diff);
        None
    })
}

/// What the engine does to every session alike, whatever its row type.
trait Session {
    fn advance_to(&mut self, t: Revision);
    fn flush(&mut self);
}

impl<D: differential_dataflow::Data> Session for InputSession<Revision, D, Diff> {
    fn advance_to(&mut self, t: Revision) {
        InputSession::advance_to(self, t)
    }
    fn flush(&mut self) {
        InputSession::flush(self)
    }
}

impl Inputs {
    /// Projects one change of an object (`old` to `new`, either absent for a create or a
    /// delete) into every running part's sessions.
    pub fn apply(&mut self, key: &ObjectKey, old: Option<&Arc<serde_json::Value>>, new: Option<&Arc<serde_json::Value>>) {
        if let Some(controllers) = &mut self.controllers {
            if let Some(old) = old {
                controllers.apply(key, old, -1, &mut self.errors);
            }
            if let Some(new) = new {
                controllers.apply(key, new, 1, &mut self.errors);
            }
        }
        if let Some(scheduler) = &mut self.scheduler {
            scheduler.change(key, old, new, &mut self.errors);
        }
    }

    pub fn advance_to(&mut self, t: Revision) {
        self.each(|s| s.advance_to(t));
    }

    pub fn flush(&mut self) {
        self.each(|s| s.flush());
    }

    fn each(&mut self, mut f: impl FnMut(&mut dyn Session)) {
        if let Some(controllers) = &mut self.controllers {
            for session in controllers.sessions() {
                f(session);
            }
        }
        if let Some(scheduler) = &mut self.scheduler {
            f(&mut scheduler.session);
        }
        f(&mut self.errors);
    }
}
