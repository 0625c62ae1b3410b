//! Diagnostics from timely's own `"timely"` log stream, costing nothing when unset:
//!
//! - `DELTAKUBE_SLOW_OPERATOR_MS=N`: every time a dataflow operator runs for N ms or more in
//!   one scheduling, the worker logs its name, address and duration (a `tracing` warning).
//!   Used to find which arrangement or reduce a latency stall comes from; at the `debug`
//!   level it also lists every operator with its address when the dataflow is built.
//! - `DELTAKUBE_OPERATOR_PROFILE_SECS=N`: every N seconds the worker logs the operators that
//!   took the most time in that interval (total, schedulings, share of the interval). Used to
//!   see where a steady load goes, operator by operator.

use std::collections::HashMap;
use std::time::Duration;

use timely::logging::{StartStop, TimelyEvent, TimelyEventBuilder};

/// Registers the logger on `worker` when the variable is set.
pub fn register(worker: &mut timely::worker::Worker) {
    let threshold = std::env::var("DELTAKUBE_SLOW_OPERATOR_MS").ok().and_then(|v| v.parse::<u64>().ok()).map(Duration::from_millis);
    let period = std::env::var("DELTAKUBE_OPERATOR_PROFILE_SECS").ok().and_then(|v| v.parse::<u64>().ok()).map(Duration::from_secs);
    if threshold.is_none() && period.is_none() {
        return;
    }
    let mut profile = Profile::default();
    let index = worker.index();
    let mut names: HashMap<usize, (String, Vec<usize>)> = HashMap::new();
    let mut started: HashMap<usize, Duration> = HashMap::new();
    if let Some(mut registry) = worker.log_register() {
        registry.insert::<TimelyEventBuilder, _>("timely", move |_now, data| {
            let Some(events) = data else { return };
            for (at, event) in events.iter() {
                match event {
                    TimelyEvent::Operates(op) => {
                        tracing::debug!(worker = index, operator = %op.name, addr = ?op.addr, "operator");
                        names.insert(op.id, (op.name.clone(), op.addr.clone()));
                    }
                    TimelyEvent::Schedule(s) => match s.start_stop {
                        StartStop::Start => {
                            started.insert(s.id, *at);
                        }
                        StartStop::Stop => {
                            let Some(begun) = started.remove(&s.id) else { continue };
                            let took = at.saturating_sub(begun);
                            // Subgraphs (the dataflow itself) contain their operators' time.
                            let Some((name, addr)) = names.get(&s.id).filter(|(_, addr)| addr.len() > 1) else { continue };
                            if threshold.is_some_and(|threshold| took >= threshold) {
                                tracing::warn!(worker = index, operator = %name, ?addr, ms = took.as_secs_f64() * 1e3, "slow operator");
                            }
                            if let Some(period) = period {
                                let entry = profile.totals.entry(s.id).or_default();
                                entry.0 += took;
                                entry.1 += 1;
                                profile.report(index, *at, period, &names);
                            }
                        }
                    },
                    _ => {}
                }
            }
        });
    }
}

/// Per-operator time within the current interval.
#[derive(Default)]
struct Profile {
    /// By operator id: total time scheduled and schedulings.
    totals: HashMap<usize, (Duration, u64)>,
    /// When the interval began (timely's elapsed time).
    since: Option<Duration>,
}

impl Profile {
    /// At the end of an interval, logs its ten costliest operators and starts the next.
    fn report(&mut self, worker: usize, now: Duration, period: Duration, names: &HashMap<usize, (String, Vec<usize>)>) {
        let since = *self.since.get_or_insert(now);
        let interval = now.saturating_sub(since);
        if interval < period {
            return;
        }
        let mut top: Vec<(usize, (Duration, u64))> = self.totals.drain().collect();
        top.sort_by_key(|(_, (total, _))| std::cmp::Reverse(*total));
        let busy: Duration = top.iter().map(|(_, (d, _))| *d).sum();
        tracing::info!(worker, seconds = interval.as_secs_f64(), busy_share = busy.as_secs_f64() / interval.as_secs_f64(), "operator profile");
        for (id, (total, count)) in top.into_iter().take(10) {
            let (name, addr) = names.get(&id).cloned().unwrap_or_default();
            tracing::info!(
                worker,
                operator = %name,
                ?addr,
                ms = total.as_secs_f64() * 1e3,
                schedulings = count,
                share = total.as_secs_f64() / interval.as_secs_f64(),
                "operator profile"
            );
        }
        self.since = Some(now);
    }
}
