//! Deadlines against the clock: the keys whose deadline has passed.
//!
//! Time enters the dataflows as data ([`crate::clock`]): a collection that holds the current
//! time, one row that each tick replaces. A deadline is a row `(key, at)`; [`expired`] holds
//! each key whose deadline is strictly before the clock, as upstream compares
//! (`deadline.Before(now)`, e.g. `IsPodAvailable`, `DeploymentTimedOut`).
//!
//! A join of every deadline with the clock would visit them all on every tick. This operator
//! keeps its deadlines sorted by time instead, so its work follows what changes:
//! - a tick from `a` to `b` visits only the deadlines in `[a, b)` (in `[b, a)`, retracting,
//!   should the clock go back);
//! - a deadline that comes or goes is compared with the clock once.
//!
//! Deadlines are partitioned by key across the workers; every worker hears the clock.
//! Revisions are totally ordered, so the operator applies each revision's changes once both
//! inputs are complete for it, in order, and emits what they change at that revision.

use std::collections::btree_map::Entry;
use std::collections::BTreeMap;
use std::ops::Bound;

use differential_dataflow::{AsCollection, ExchangeData, Hashable, VecCollection};
use timely::dataflow::channels::pact::{Exchange, Pipeline};
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::vec::Broadcast;
use timely::dataflow::operators::Capability;

use crate::types::{Diff, Revision};

/// Microseconds since the Unix epoch: the clock's unit (a Lease's `renewTime` is a MicroTime).
pub type Micros = i64;

pub const MICROS_PER_SECOND: Micros = 1_000_000;

/// What one revision brings: the deadlines' changes and the clock's.
struct Pending<K> {
    capability: Capability<Revision>,
    deadlines: Vec<((K, Micros), Diff)>,
    clock: Vec<(Micros, Diff)>,
}

/// The keys of `deadlines` whose time is before the clock's time. With no clock row, nothing
/// has expired; with several (never, from one Lease), the latest counts.
pub fn expired<'s, K>(
    deadlines: VecCollection<'s, Revision, (K, Micros), Diff>,
    clock: VecCollection<'s, Revision, Micros, Diff>,
) -> VecCollection<'s, Revision, K, Diff>
where
    K: ExchangeData + std::hash::Hash,
{
    let by_key = Exchange::new(|((key, _), _, _): &((K, Micros), Revision, Diff)| key.hashed());
    deadlines
        .inner
        .binary_frontier(clock.inner.broadcast(), by_key, Pipeline, "Deadlines", |_, _| {
            let mut pending: BTreeMap<Revision, Pending<K>> = BTreeMap::new();
            // Deadlines by time, then key, with their multiplicities.
            let mut held: BTreeMap<Micros, BTreeMap<K, Diff>> = BTreeMap::new();
            let mut clock: BTreeMap<Micros, Diff> = BTreeMap::new();
            move |(deadlines, deadlines_frontier), (ticks, ticks_frontier), output| {
                deadlines.for_each(|capability, data| {
                    for (deadline, at, diff) in data.drain(..) {
                        let entry = pending.entry(at).or_insert_with(|| Pending { capability: capability.delayed(&at, 0), deadlines: vec![], clock: vec![] });
                        entry.deadlines.push((deadline, diff));
                    }
                });
                ticks.for_each(|capability, data| {
                    for (now, at, diff) in data.drain(..) {
                        let entry = pending.entry(at).or_insert_with(|| Pending { capability: capability.delayed(&at, 0), deadlines: vec![], clock: vec![] });
                        entry.clock.push((now, diff));
                    }
                });
                while let Some(entry) = pending.first_entry() {
                    let revision = *entry.key();
                    if deadlines_frontier.less_equal(&revision) || ticks_frontier.less_equal(&revision) {
                        break;
                    }
                    let Pending { capability, deadlines, clock: ticks } = entry.remove();
                    let before = now(&clock);
                    for (time, diff) in ticks {
                        add(&mut clock, time, diff);
                    }
                    let after = now(&clock);
                    let mut changes: Vec<(K, Diff)> = Vec::new();
                    passed_over(&held, before, after, &mut changes);
                    for ((key, time), diff) in deadlines {
                        if after.is_some_and(|now| time < now) {
                            changes.push((key.clone(), diff));
                        }
                        let at_time = held.entry(time).or_default();
                        add(at_time, key, diff);
                        if at_time.is_empty() {
                            held.remove(&time);
                        }
                    }
                    differential_dataflow::consolidation::consolidate(&mut changes);
                    let mut session = output.session(&capability);
                    for (key, diff) in changes {
                        session.give((key, revision, diff));
                    }
                }
            }
        })
        .as_collection()
}

/// The clock's time: its latest row, if it has any.
fn now(clock: &BTreeMap<Micros, Diff>) -> Option<Micros> {
    clock.last_key_value().map(|(time, _)| *time)
}

fn add<T: Ord>(counts: &mut BTreeMap<T, Diff>, item: T, diff: Diff) {
    match counts.entry(item) {
        Entry::Vacant(slot) if diff != 0 => {
            slot.insert(diff);
        }
        Entry::Vacant(_) => {}
        Entry::Occupied(mut slot) => {
            *slot.get_mut() += diff;
            if *slot.get() == 0 {
                slot.remove();
            }
        }
    }
}

/// The held deadlines whose state the clock's move from `before` to `after` changes: those it
/// passed going forward, expiring (+), or going back, unexpiring (-).
fn passed_over<K: Clone>(held: &BTreeMap<Micros, BTreeMap<K, Diff>>, before: Option<Micros>, after: Option<Micros>, changes: &mut Vec<(K, Diff)>) {
    // No clock is earlier than every time: nothing has expired.
    let (from, to, sign) = match (before, after) {
        (b, a) if b == a => return,
        (None, Some(a)) => (Bound::Unbounded, Bound::Excluded(a), 1),
        (Some(b), None) => (Bound::Unbounded, Bound::Excluded(b), -1),
        (Some(b), Some(a)) if a > b => (Bound::Included(b), Bound::Excluded(a), 1),
        (Some(b), Some(a)) => (Bound::Included(a), Bound::Excluded(b), -1),
        (None, None) => return,
    };
    for keys in held.range((from, to)).map(|(_, keys)| keys) {
        changes.extend(keys.iter().map(|(key, diff)| (key.clone(), sign * diff)));
    }
}
