//! The process's allocator: mimalloc, with a count of the bytes in use.
//!
//! mimalloc instead of glibc's malloc: the dataflows allocate and free many small rows per
//! revision, which glibc's allocator serves several times slower (its consolidation showed as
//! a third of the time under churn) and returns to the system less readily. Built with
//! `no_thp`: otherwise it asks for transparent huge pages on its arenas, and each first touch
//! of a fresh (or purged) allocator page faults in and zeroes a whole 2 MiB page — a sixth of
//! the scheduler bench's time and a third of the churn bench's system time (BENCHMARKS.md).
//! Unlike `MIMALLOC_ALLOW_THP=0`, this does not turn THP off for child processes.
//!
//! The count ([`live_bytes`]) is what the churn bench reports as the memory the dataflows
//! keep. Resident memory cannot tell it: how much of the feed's freed objects an allocator
//! has handed back to the system by the time it is read depends on the allocator's purge
//! timing, not on the dataflows (with `MIMALLOC_PURGE_DELAY=0` the growth reads as zero).
//! Each thread adds to a counter of its own, with a plain load and store on a cache line no
//! other thread writes, so counting costs no locked instruction; threads past the first
//! [`SLOTS`] − 1 share the last counter, atomically. A thread's counter goes negative when it
//! frees what another allocated; only the sum means anything, so the counters wrap rather than
//! check for overflow (a panic inside the allocator would abort). The thread-local is
//! constant-initialized and has no destructor, so on targets with native thread-locals
//! (Linux, macOS) reading it neither allocates nor registers anything.

use std::alloc::{GlobalAlloc, Layout};
use std::cell::Cell;
use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering::Relaxed};

use mimalloc::MiMalloc;

/// Counters, one per thread for the first `SLOTS - 1` threads to allocate; the last is shared.
const SLOTS: usize = 256;

/// A counter on a cache line of its own.
#[repr(align(64))]
struct Counter(AtomicIsize);

static COUNTERS: [Counter; SLOTS] = [const { Counter(AtomicIsize::new(0)) }; SLOTS];
static NEXT_SLOT: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// This thread's counter; `usize::MAX` until its first allocation. Constant-initialized
    /// and without a destructor, so reading it never allocates.
    static SLOT: Cell<usize> = const { Cell::new(usize::MAX) };
}

fn count(bytes: isize) {
    let slot = SLOT
        .try_with(|s| {
            if s.get() == usize::MAX {
                s.set(NEXT_SLOT.fetch_add(1, Relaxed).min(SLOTS - 1));
            }
            s.get()
        })
        .unwrap_or(SLOTS - 1);
    let counter = &COUNTERS[slot].0;
    if slot < SLOTS - 1 {
        counter.store(counter.load(Relaxed).wrapping_add(bytes), Relaxed);
    } else {
        counter.fetch_add(bytes, Relaxed);
    }
}

/// The bytes allocated and not yet freed, across every thread (requested sizes: the
/// allocator's own rounding and bookkeeping are not in it).
pub fn live_bytes() -> isize {
    COUNTERS.iter().fold(0isize, |sum, c| sum.wrapping_add(c.0.load(Relaxed)))
}

/// mimalloc, counting.
pub struct CountingMiMalloc;

// SAFETY: every call is passed to mimalloc unchanged; the count has no effect on memory.
unsafe impl GlobalAlloc for CountingMiMalloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { MiMalloc.alloc(layout) };
        if !p.is_null() {
            count(layout.size() as isize);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { MiMalloc.alloc_zeroed(layout) };
        if !p.is_null() {
            count(layout.size() as isize);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { MiMalloc.dealloc(ptr, layout) };
        count(-(layout.size() as isize));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { MiMalloc.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            count(new_size as isize - layout.size() as isize);
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_count_follows_allocations_across_threads() {
        // Other tests allocate concurrently; a large block moves the count far past them.
        const BLOCK: usize = 256 << 20;
        let before = live_bytes();
        let block = std::thread::spawn(|| vec![1u8; BLOCK]).join().unwrap();
        let grown = live_bytes() - before;
        assert!(grown >= BLOCK as isize - (32 << 20), "grew {grown}");
        drop(block); // freed on this thread: its counter goes down, the other's stays up
        let after = live_bytes() - before;
        assert!(after.abs() < 32 << 20, "left {after}");
    }
}
