//! The latency phase of `deltakube bench churn`: a steady rate of pod changes, measured per
//! controller and for the whole engine.
//!
//! The mix, decided by the change's number: eight in ten flip a pod's readiness (the
//! Endpoints and EndpointSlice controllers answer), one in ten deletes a pod and one in ten
//! creates one again (those two also move the namespace's ResourceQuota usage).
//!
//! A controller's latency for a change runs from the change entering the feed to the first
//! intent that controller emits for the object the change concerns (its Endpoints, a slice of
//! its Service, its namespace's quota) at that revision or a later one. When merging queued
//! revisions cancels a change out (a pod deleted and created again in one batch), there is no
//! such intent, and the change counts as answered once every output of its revision is out,
//! which is also the engine-wide figure.

use std::collections::HashMap;
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::time::{Duration, Instant};

use deltakube_dataflows::engine::{Engine, EngineOutput, FeedBatch};
use deltakube_dataflows::types::{FeedEvent, Intent, Kind, ObjectKey, Revision};
use serde_json::{json, Value};

use super::percentile;

/// The controllers the churn reaches, as the `/metrics` labels name them.
pub const CONTROLLERS: [&str; 3] = ["endpoints", "endpointslice", "resourcequota"];

/// The objects whose intents answer a change: per controller, `(namespace, name)` of the
/// Endpoints, of the Service whose slices, of the quota.
type Target = (&'static str, String, String);

/// Latencies in seconds: per controller, and until every output of the change's revision.
#[derive(Default)]
pub struct Latencies {
    pub per_controller: HashMap<&'static str, Vec<f64>>,
    pub all_outputs: Vec<f64>,
}

impl Latencies {
    /// `(name, p50 ms, p99 ms, samples)` per controller, then `"all outputs"`.
    pub fn summary(&mut self) -> Vec<(&'static str, f64, f64, usize)> {
        let mut out = Vec::new();
        for name in CONTROLLERS {
            let samples = self.per_controller.entry(name).or_default();
            out.push((name, percentile(samples, 50.0) * 1e3, percentile(samples, 99.0) * 1e3, samples.len()));
        }
        out.push(("all outputs", percentile(&mut self.all_outputs, 50.0) * 1e3, percentile(&mut self.all_outputs, 99.0) * 1e3, self.all_outputs.len()));
        out
    }
}

/// Per target, the changes waiting for an answer: (revision, sent).
type Waiting = HashMap<Target, Vec<(Revision, Instant)>>;

impl Latencies {
    /// Records, at `now`, the target's waiting changes whose revision `settles`, and stops
    /// waiting for them.
    fn settle(&mut self, waiting: &mut Waiting, target: &Target, now: Instant, settles: impl Fn(Revision) -> bool) {
        let Some(list) = waiting.get_mut(target) else { return };
        let samples = self.per_controller.entry(target.0).or_default();
        list.retain(|(at, sent)| {
            let settled = settles(*at);
            if settled {
                samples.push(now.duration_since(*sent).as_secs_f64());
            }
            !settled
        });
    }
}

/// The intent's controller and object, in the terms of [`Target`].
fn answered(intent: &Intent) -> Option<Target> {
    let key = intent.key();
    match key.kind {
        Kind::Endpoints => Some(("endpoints", key.namespace.clone(), key.name.clone())),
        // Slices are named `<service>-<suffix>`.
        Kind::EndpointSlice => Some(("endpointslice", key.namespace.clone(), key.name.rsplit_once('-')?.0.to_string())),
        Kind::ResourceQuota => Some(("resourcequota", key.namespace.clone(), key.name.clone())),
        _ => None,
    }
}

/// The pods the churn changes, and the state it keeps of them.
pub struct ChurnState<'a> {
    /// Every pod of the cluster at the start; pod `i` is selected by Service `svc-{i % services}`.
    pub pods: &'a [(ObjectKey, Value)],
    pub services: usize,
    /// The pods as they are now (absent when deleted).
    pub current: &'a mut HashMap<ObjectKey, Value>,
    /// The name of each namespace's ResourceQuota.
    pub quota: &'a str,
}

/// Sends `rate × seconds` changes at a steady rate; returns their latencies.
pub fn run(
    engine: &Engine,
    rx: &Receiver<EngineOutput>,
    progress: &mut [Revision],
    revision: &mut Revision,
    mut state: ChurnState<'_>,
    rate: u64,
    seconds: u64,
) -> anyhow::Result<Latencies> {
    let interval = Duration::from_secs_f64(1.0 / rate.max(1) as f64);
    let total = (rate * seconds) as usize;
    let mut latencies = Latencies::default();
    let mut waiting: Waiting = HashMap::new();
    // Per revision, when it was sent and what it waits on.
    let mut sent: HashMap<Revision, (Instant, Vec<Target>)> = HashMap::new();
    let mut done_through = *revision;
    let mut deleted: Vec<usize> = Vec::new();
    let start = Instant::now();
    let mut n = 0;
    loop {
        // Take what the engine reported; send the next change when it is due.
        let now = Instant::now();
        match rx.try_recv() {
            Ok(EngineOutput::Intent { intent, revision: r, diff }) if diff > 0 => {
                if let Some(target) = answered(&intent) {
                    latencies.settle(&mut waiting, &target, now, |at| at <= r);
                }
                continue;
            }
            Ok(EngineOutput::Progress { worker, revision: r }) => {
                progress[worker] = progress[worker].max(r);
                let complete = progress.iter().copied().min().unwrap_or(0);
                while done_through < complete {
                    done_through += 1;
                    let Some((t, targets)) = sent.remove(&done_through) else { continue };
                    latencies.all_outputs.push(now.duration_since(t).as_secs_f64());
                    // What got no intent was cancelled out by a merged change.
                    for target in targets {
                        latencies.settle(&mut waiting, &target, now, |at| at == done_through);
                    }
                }
                if n == total && done_through >= *revision {
                    return Ok(latencies);
                }
                continue;
            }
            Ok(_) => continue,
            Err(std::sync::mpsc::TryRecvError::Disconnected) => anyhow::bail!("the engine stopped"),
            Err(std::sync::mpsc::TryRecvError::Empty) => {}
        }
        if n == total || now < start + interval * n as u32 {
            if now > start + interval * total as u32 + Duration::from_secs(600) {
                anyhow::bail!("the engine made no progress for 10 minutes");
            }
            std::thread::sleep(Duration::from_micros(50));
            continue;
        }
        let (event, targets) = change(n, &mut state, &mut deleted, *revision + 1);
        *revision += 1;
        let t = Instant::now();
        for target in &targets {
            waiting.entry(target.clone()).or_default().push((*revision, t));
        }
        sent.insert(*revision, (t, targets));
        engine.push(FeedBatch { revision: *revision, events: vec![event] });
        n += 1;
    }
}

/// The `n`th change of the mix, applied to `state`, and the objects whose intents answer it.
fn change(n: usize, state: &mut ChurnState<'_>, deleted: &mut Vec<usize>, revision: Revision) -> (FeedEvent, Vec<Target>) {
    let mut index = (n * 104_729) % state.pods.len();
    let present = state.current.contains_key(&state.pods[index].0);
    let (old, new) = if n % 10 == 9 && !deleted.is_empty() {
        // Create again the pod deleted longest ago.
        index = deleted.remove(0);
        (None, Some(state.pods[index].1.clone()))
    } else if !present {
        // Its turn came while it was deleted: create it now.
        deleted.retain(|i| *i != index);
        (None, Some(state.pods[index].1.clone()))
    } else if n % 10 == 8 {
        deleted.push(index);
        (state.current.get(&state.pods[index].0).cloned(), None)
    } else {
        let old = state.current[&state.pods[index].0].clone();
        let mut new = old.clone();
        let ready = new["status"]["conditions"][0]["status"] == "True";
        new["status"]["conditions"][0]["status"] = json!(if ready { "False" } else { "True" });
        (Some(old), Some(new))
    };
    let (key, _) = &state.pods[index];
    let service = format!("svc-{}", index % state.services);
    match &new {
        Some(v) => state.current.insert(key.clone(), v.clone()),
        None => state.current.remove(key),
    };
    let mut targets = vec![("endpoints", key.namespace.clone(), service.clone()), ("endpointslice", key.namespace.clone(), service)];
    if old.is_none() || new.is_none() {
        targets.push(("resourcequota", key.namespace.clone(), state.quota.to_string()));
    }
    (FeedEvent { revision, key: key.clone(), old: old.map(Arc::new), new: new.map(Arc::new) }, targets)
}
