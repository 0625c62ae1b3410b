//! `deadlines::expired` against a from-scratch reference at every revision, under seeded
//! random churn: deadlines that come, go and repeat, and a clock that ticks forward, jumps,
//! goes back and vanishes; on one worker and on three.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use deltakube_dataflows::deadlines::{expired, Micros};
use deltakube_dataflows::types::{Diff, Revision};
use differential_dataflow::input::Input;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// One revision's changes: deadlines `(key, at)` and clock values, each with its diff.
type Step = (Vec<((u32, Micros), Diff)>, Vec<(Micros, Diff)>);

/// A seeded history of `revisions` steps, valid as collections (nothing goes below zero).
fn history(seed: u64, revisions: usize) -> Vec<Step> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut deadlines: BTreeMap<(u32, Micros), Diff> = BTreeMap::new();
    let mut clock: Option<Micros> = None;
    let mut steps = Vec::new();
    for _ in 0..revisions {
        let mut changes = Vec::new();
        for _ in 0..rng.random_range(0..4) {
            let existing: Vec<(u32, Micros)> = deadlines.keys().copied().collect();
            if !existing.is_empty() && rng.random_bool(0.4) {
                let d = existing[rng.random_range(0..existing.len())];
                changes.push((d, -1));
                *deadlines.get_mut(&d).unwrap() -= 1;
                deadlines.retain(|_, n| *n > 0);
            } else {
                // Few keys and times, so that keys repeat and times collide with the clock's.
                let d = (rng.random_range(0..20), rng.random_range(0..60));
                changes.push((d, 1));
                *deadlines.entry(d).or_default() += 1;
            }
        }
        let mut ticks = Vec::new();
        if rng.random_bool(0.5) {
            let next = match clock {
                _ if rng.random_bool(0.05) => None,
                None => Some(rng.random_range(0..60)),
                Some(now) if rng.random_bool(0.1) => Some(rng.random_range(0..60).min(now)),
                Some(now) => Some(now + rng.random_range(0..8)),
            };
            if next != clock {
                ticks.extend(clock.map(|t| (t, -1)));
                ticks.extend(next.map(|t| (t, 1)));
                clock = next;
            }
        }
        steps.push((changes, ticks));
    }
    steps
}

/// Expired keys with multiplicities, from scratch.
fn reference(deadlines: &BTreeMap<(u32, Micros), Diff>, clock: &BTreeMap<Micros, Diff>) -> BTreeMap<u32, Diff> {
    let mut out = BTreeMap::new();
    if let Some((&now, _)) = clock.iter().rfind(|(_, d)| **d != 0) {
        for (&(key, at), &diff) in deadlines {
            if at < now && diff != 0 {
                *out.entry(key).or_default() += diff;
            }
        }
    }
    out.retain(|_, d| *d != 0);
    out
}

type Outputs = Arc<Mutex<Vec<(u32, Revision, Diff)>>>;
type Session<D> = differential_dataflow::input::InputSession<Revision, D, Diff>;

/// The operator over two input sessions, its outputs collected in `outputs`.
fn build(worker: &mut timely::worker::Worker, outputs: Outputs) -> (Session<(u32, Micros)>, Session<Micros>) {
    worker.dataflow::<Revision, _, _>(|scope| {
        let (deadlines_in, deadlines) = scope.new_collection::<(u32, Micros), Diff>();
        let (clock_in, clock) = scope.new_collection::<Micros, Diff>();
        expired(deadlines, clock).inspect(move |(key, at, diff)| outputs.lock().unwrap().push((*key, *at, *diff)));
        (deadlines_in, clock_in)
    })
}

fn check(seed: u64, workers: usize) {
    let steps = Arc::new(history(seed, 300));
    let outputs: Outputs = Arc::default();
    let (steps_in, outputs_in) = (steps.clone(), outputs.clone());
    timely::execute(timely::Config::process(workers), move |worker| {
        let (index, peers) = (worker.index(), worker.peers());
        let (mut deadlines, mut clock) = build(worker, outputs_in.clone());
        // Each worker inserts a share of the changes; deadlines reach their owner by key.
        for (revision, (changes, ticks)) in steps_in.iter().enumerate() {
            deadlines.advance_to(revision as Revision);
            clock.advance_to(revision as Revision);
            for (i, (deadline, diff)) in changes.iter().enumerate() {
                if i % peers == index {
                    deadlines.update(*deadline, *diff);
                }
            }
            if revision % peers == index {
                for (time, diff) in ticks {
                    clock.update(*time, *diff);
                }
            }
        }
    })
    .unwrap();

    let mut outputs = outputs.lock().unwrap().clone();
    outputs.sort_by_key(|(_, at, _)| *at);
    let (mut deadlines, mut clock) = (BTreeMap::new(), BTreeMap::new());
    let mut got: BTreeMap<u32, Diff> = BTreeMap::new();
    let mut cursor = 0;
    for (revision, (changes, ticks)) in steps.iter().enumerate() {
        for (d, diff) in changes {
            *deadlines.entry(*d).or_default() += diff;
        }
        for (t, diff) in ticks {
            *clock.entry(*t).or_default() += diff;
        }
        while cursor < outputs.len() && outputs[cursor].1 <= revision as Revision {
            *got.entry(outputs[cursor].0).or_default() += outputs[cursor].2;
            cursor += 1;
        }
        got.retain(|_, d| *d != 0);
        assert_eq!(got, reference(&deadlines, &clock), "seed {seed}, {workers} workers: expired keys differ at revision {revision}");
    }
}

#[test]
fn expired_equals_the_reference_at_every_revision() {
    for seed in 1..=5 {
        check(seed, 1);
        check(seed, 3);
    }
}

/// The work a tick does follows the deadlines it passes: many deadlines far ahead of the
/// clock and a thousand ticks that pass none of them produce no output at all, and each tick
/// that passes one produces exactly that one.
#[test]
fn a_tick_changes_only_the_deadlines_it_passes() {
    let outputs: Outputs = Arc::default();
    let sink = outputs.clone();
    timely::execute(timely::Config::process(1), move |worker| {
        let (mut deadlines, mut clock) = build(worker, sink.clone());
        for key in 0..10_000u32 {
            deadlines.update((key, 1_000_000 + i64::from(key)), 1);
        }
        clock.update(0, 1);
        for t in 1..1_000 {
            clock.advance_to(t);
            deadlines.advance_to(t);
            clock.update((t - 1) as Micros, -1);
            clock.update(t as Micros, 1);
        }
        clock.advance_to(1_000);
        deadlines.advance_to(1_000);
        clock.update(999, -1);
        clock.update(1_000_002, 1);
    })
    .unwrap();
    let outputs = outputs.lock().unwrap().clone();
    assert_eq!(outputs, vec![(0, 1_000, 1), (1, 1_000, 1)]);
}
