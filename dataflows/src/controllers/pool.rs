//! Lowest-free allocation from a pool of numbered slots, shared by node IPAM (pod CIDR blocks)
//! and the load-balancer pool (addresses): the claimants, in key order, take the lowest slots
//! that are not occupied, one each; claimants beyond the free slots get none.
//!
//! ```text
//! occupied ─ distinct ─ key by chunk ─ reduce per chunk ─▶ (chunk, occupied slots) ─┬─ count ─┐
//! claimants ─────────────────────────────────────────────────────────────────────────┼─────────┴─ reduce (one key) ─▶ placements
//! placements(in an occupied chunk, at a rank) ───────────────────────────────────────┴─ join on chunk ─▶ (claimant, slot)
//! ```
//! **Incremental:** a slot that changes re-runs the reduce of its chunk only (at most [`CHUNK`]
//! slots). The one global reduce reads one count per chunk that has occupied slots (at most
//! [`MAX_SLOTS`] / [`CHUNK`] = 256) and the claimants still waiting, never the occupied slots
//! themselves, and only claimants whose placement changed reach the join.
//!
//! **Not incremental:** the global reduce re-reads every chunk count and every waiting claimant
//! on each change, since one arrival can move every later claimant. Waiting claimants are few
//! in steady state (nodes not yet given a CIDR, services not yet given an address), so a change
//! costs O(chunks + waiting), not O(pool).
//!
//! The choice is a function of the current snapshot (upstream's `cidrset.AllocateNext` instead
//! rotates a cursor, which depends on history), so the reference and a restarted controller
//! agree with the running one; [`crate::types::Intent::Allocate`] makes the writer send one
//! snapshot's allocations at a time.

use std::collections::{BTreeMap, BTreeSet};

use differential_dataflow::VecCollection;
use serde::{Deserialize, Serialize};

use crate::types::{ControllerError, Diff, Intent, ObjectKey, Revision, Text};

/// A slot's number in its pool.
pub type Slot = u32;

/// Slots per chunk of the two-level allocation.
pub const CHUNK: Slot = 256;

/// The largest pool: upstream's bound on a node CIDR set (`clusterSubnetMaxDiff`, 2^16 blocks).
pub const MAX_SLOTS: Slot = 1 << 16;

/// What the global reduce sees: one count per occupied chunk, and each waiting claimant.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
enum Entry {
    Chunk { chunk: Slot, occupied: Slot },
    Claimant(ObjectKey),
}

/// Where the global reduce puts a claimant.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
enum Place {
    /// A slot of a chunk with nothing occupied.
    Slot(Slot),
    /// The `rank`-th free slot of a chunk with occupied slots.
    InChunk { chunk: Slot, rank: Slot },
    /// No free slot is left.
    Exhausted,
}

fn chunk_len(size: Slot, chunk: Slot) -> Slot {
    CHUNK.min(size - chunk * CHUNK)
}

/// The `rank`-th slot of `chunk` that is not in `occupied` (sorted).
fn nth_free(chunk: Slot, rank: Slot, occupied: &[Slot]) -> Slot {
    let mut slot = chunk * CHUNK;
    let mut left = rank;
    let mut taken = occupied.iter().peekable();
    loop {
        while taken.next_if(|s| **s < slot).is_some() {}
        if taken.peek() != Some(&&slot) {
            if left == 0 {
                return slot;
            }
            left -= 1;
        }
        slot += 1;
    }
}

/// Places the claimants (sorted) over the chunks' occupied counts (sorted by chunk).
fn place(size: Slot, chunks: &[(Slot, Slot)], claimants: &[&ObjectKey]) -> Vec<(ObjectKey, Place)> {
    let mut out = Vec::with_capacity(claimants.len());
    let mut waiting = claimants.iter();
    let mut counts = chunks.iter().peekable();
    'chunks: for chunk in 0..size.div_ceil(CHUNK) {
        let occupied = counts.next_if(|(c, _)| *c == chunk).map_or(0, |(_, n)| *n);
        for rank in 0..chunk_len(size, chunk).saturating_sub(occupied) {
            let Some(claimant) = waiting.next() else {
                break 'chunks;
            };
            let place = if occupied == 0 { Place::Slot(chunk * CHUNK + rank) } else { Place::InChunk { chunk, rank } };
            out.push(((*claimant).clone(), place));
        }
    }
    out.extend(waiting.map(|c| ((*c).clone(), Place::Exhausted)));
    out
}

/// The dataflow: each claimant's slot, or None when the pool is exhausted. Occupied slots at
/// or past `size` are ignored; `size` is at most [`MAX_SLOTS`].
pub fn allocate<'s>(
    name: &str,
    size: Slot,
    occupied: VecCollection<'s, Revision, Slot, Diff>,
    claimants: VecCollection<'s, Revision, ObjectKey, Diff>,
) -> VecCollection<'s, Revision, (ObjectKey, Option<Slot>), Diff> {
    assert!(size <= MAX_SLOTS, "a pool of {size} slots is past the bound of {MAX_SLOTS}");
    let chunks = occupied.filter(move |s| *s < size).distinct().map(|s| (s / CHUNK, s)).reduce_named(
        &format!("{name}-chunks"),
        |_chunk, input: &[(&Slot, Diff)], output: &mut Vec<(Vec<Slot>, Diff)>| {
            output.push((input.iter().map(|(s, _)| **s).collect(), 1));
        },
    );
    let counts = chunks.clone().map(|(chunk, occupied)| ((), Entry::Chunk { chunk, occupied: occupied.len() as Slot }));
    let placed = counts.concat(claimants.map(|c| ((), Entry::Claimant(c)))).reduce_named(
        &format!("{name}-place"),
        move |_unit, input: &[(&Entry, Diff)], output: &mut Vec<((ObjectKey, Place), Diff)>| {
            let mut chunks = Vec::new();
            let mut claimants = Vec::new();
            for (entry, diff) in input {
                match entry {
                    _ if *diff <= 0 => {}
                    Entry::Chunk { chunk, occupied } => chunks.push((*chunk, *occupied)),
                    Entry::Claimant(c) => claimants.push(c),
                }
            }
            output.extend(place(size, &chunks, &claimants).into_iter().map(|p| (p, 1)));
        },
    );
    let placed = placed.map(|((), placement)| placement);
    let direct = placed.clone().flat_map(|(claimant, place)| match place {
        Place::Slot(slot) => Some((claimant, Some(slot))),
        Place::Exhausted => Some((claimant, None)),
        Place::InChunk { .. } => None,
    });
    let in_chunks = placed
        .flat_map(|(claimant, place)| match place {
            Place::InChunk { chunk, rank } => Some((chunk, (claimant, rank))),
            _ => None,
        })
        .join_map(chunks, |chunk, (claimant, rank), occupied| (claimant.clone(), Some(nth_free(*chunk, *rank, occupied))));
    direct.concat(in_chunks)
}

/// What one claimant's allocation yields for its controller: the write (when one is needed)
/// and the claimant's view row, or the error the controller reports instead.
pub type Outcome = Result<(Option<Intent>, (ObjectKey, Text)), ControllerError>;

/// A pool controller's outputs: its view rows, its intents and its errors.
pub type Outputs<'s> =
    (VecCollection<'s, Revision, (ObjectKey, Text), Diff>, VecCollection<'s, Revision, Intent, Diff>, VecCollection<'s, Revision, ControllerError, Diff>);

/// The reference form of [`Outputs`].
pub type OutputSets = (BTreeSet<(ObjectKey, Text)>, BTreeSet<Intent>, BTreeSet<ControllerError>);

/// Splits outcomes into a pool controller's outputs.
pub fn split<'s>(outcomes: VecCollection<'s, Revision, Outcome, Diff>) -> Outputs<'s> {
    let view = outcomes.clone().flat_map(|o| o.ok().map(|(_, row)| row));
    let intents = outcomes.clone().flat_map(|o| o.ok().and_then(|(intent, _)| intent));
    (view, intents, outcomes.flat_map(Result::err))
}

/// The reference form of [`split`].
pub fn split_reference(outcomes: impl IntoIterator<Item = Outcome>) -> OutputSets {
    let mut sets = OutputSets::default();
    for outcome in outcomes {
        match outcome {
            Ok((intent, row)) => {
                sets.1.extend(intent);
                sets.0.insert(row);
            }
            Err(e) => {
                sets.2.insert(e);
            }
        }
    }
    sets
}

/// The reference: walk the slots from the lowest, skipping occupied ones.
pub fn allocate_reference(size: Slot, occupied: &BTreeSet<Slot>, claimants: &BTreeSet<ObjectKey>) -> BTreeMap<ObjectKey, Option<Slot>> {
    let mut free = (0..size).filter(|s| !occupied.contains(s));
    claimants.iter().map(|c| (c.clone(), free.next())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Kind;
    use differential_dataflow::input::Input;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    use std::cell::RefCell;
    use std::rc::Rc;

    type Placements = BTreeMap<(ObjectKey, Option<Slot>), Diff>;

    fn node(i: u32) -> ObjectKey {
        ObjectKey::new(Kind::Node, "", format!("node-{i:03}"))
    }

    #[test]
    fn the_reference_takes_the_lowest_free_slots_in_claimant_order() {
        let occupied = BTreeSet::from([0, 2]);
        let got = allocate_reference(5, &occupied, &BTreeSet::from([node(2), node(1), node(3), node(4)]));
        assert_eq!(got.into_iter().collect::<Vec<_>>(), vec![(node(1), Some(1)), (node(2), Some(3)), (node(3), Some(4)), (node(4), None)]);
    }

    #[test]
    fn nth_free_skips_occupied_slots_of_its_chunk() {
        assert_eq!(nth_free(1, 0, &[256, 257, 259]), 258);
        assert_eq!(nth_free(1, 1, &[256, 257, 259]), 260);
        assert_eq!(nth_free(0, 3, &[]), 3);
    }

    /// Random occupancy over three chunks (the last one partial) and random claimants, changed
    /// over many rounds: the dataflow's placements equal the reference's after every round.
    #[test]
    fn the_dataflow_equals_the_reference_across_chunks() {
        const SIZE: Slot = 2 * CHUNK + 60;
        timely::execute_directly(move |worker| {
            let got: Rc<RefCell<Placements>> = Rc::default();
            let sink = got.clone();
            let (mut occupied_in, mut claimants_in, probe) = worker.dataflow::<Revision, _, _>(|scope| {
                let (occupied_in, occupied) = scope.new_collection::<Slot, Diff>();
                let (claimants_in, claimants) = scope.new_collection::<ObjectKey, Diff>();
                let (probe, _) = allocate("test", SIZE, occupied, claimants)
                    .inspect(move |(row, _, diff)| *sink.borrow_mut().entry(row.clone()).or_default() += diff)
                    .probe();
                (occupied_in, claimants_in, probe)
            });
            let mut rng = StdRng::seed_from_u64(7);
            let (mut occupied, mut claimants) = (BTreeMap::<Slot, isize>::new(), BTreeSet::new());
            for round in 1..200u64 {
                for _ in 0..rng.random_range(1..40) {
                    // Fill mostly the first chunks, so that claimants cross into later ones.
                    let slot = if rng.random_bool(0.7) { rng.random_range(0..CHUNK + 20) } else { rng.random_range(0..SIZE + 5) };
                    let diff = if occupied.get(&slot).is_some_and(|n| *n > 0) && rng.random_bool(0.4) { -1 } else { 1 };
                    *occupied.entry(slot).or_default() += diff;
                    occupied_in.update(slot, diff);
                }
                for _ in 0..rng.random_range(0..6) {
                    let c = node(rng.random_range(0..300));
                    if claimants.remove(&c) {
                        claimants_in.remove(c);
                    } else {
                        claimants.insert(c.clone());
                        claimants_in.insert(c);
                    }
                }
                occupied_in.advance_to(round);
                claimants_in.advance_to(round);
                occupied_in.flush();
                claimants_in.flush();
                worker.step_while(|| probe.less_than(&round));
                let want = allocate_reference(SIZE, &occupied.iter().filter(|(_, n)| **n > 0).map(|(s, _)| *s).collect(), &claimants);
                let have: BTreeMap<ObjectKey, Option<Slot>> = got
                    .borrow()
                    .iter()
                    .filter(|(_, d)| **d != 0)
                    .map(|((c, s), d)| {
                        assert_eq!(*d, 1, "round {round}: {c:?} placed with multiplicity {d}");
                        (c.clone(), *s)
                    })
                    .collect();
                assert_eq!(have, want, "round {round}");
            }
        });
    }
}
