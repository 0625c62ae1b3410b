//! A diagnostic: with `DELTAKUBE_SLOW_OPERATOR_MS=N` set, every time a dataflow operator
//! runs for N ms or more in one scheduling, the worker logs its name, address and duration
//! (a `tracing` warning). It reads timely's own `"timely"` log stream, so it costs nothing
//! when unset. Used to find which arrangement or reduce a latency stall comes from; at the
//! `debug` level it also lists every operator with its address when the dataflow is built.

use std::collections::HashMap;
use std::time::Duration;

use timely::logging::{StartStop, TimelyEvent, TimelyEventBuilder};

/// Registers the logger on `worker` when the variable is set.
pub fn register(worker: &mut timely::worker::Worker) {
    let Some(threshold) = std::env::var("DELTAKUBE_SLOW_OPERATOR_MS").ok().and_then(|v| v.parse::<u64>().ok()) else {
        return;
    };
    let threshold = Duration::from_millis(threshold);
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
                            let (name, addr) = names.get(&s.id).cloned().unwrap_or_default();
                            if took >= threshold && addr.len() > 1 {
                                tracing::warn!(worker = index, operator = %name, ?addr, ms = took.as_secs_f64() * 1e3, "slow operator");
                            }
                        }
                    },
                    _ => {}
                }
            }
        });
    }
}
