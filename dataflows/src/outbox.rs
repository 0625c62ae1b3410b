//! A worker's outbox: the output deltas its operators produce wait here, and go to the
//! consumer in one burst when the worker finishes a revision (or the outbox fills).
//!
//! Sent one at a time, each output found the consumer parked on the channel and paid a
//! futex wake-up inside the operator that produced it: the views and the intents are
//! produced by different operators, tens of microseconds apart, so the consumer woke and
//! slept again between them, several times per revision. Sent in a burst, the first send
//! wakes the consumer and the rest land while it drains.
//!
//! **Invariant:** a worker flushes its outbox before it reports a revision complete, so a
//! consumer that saw `Progress(R)` has every delta up to R.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::mpsc::Sender;

use crate::engine::EngineOutput;

/// How many outputs wait before a flush regardless: a large revision (the initial load)
/// still streams to the consumer while the worker computes.
const FLUSH_AT: usize = 4096;

/// Shared by every operator of one worker that produces output (cloning shares it).
#[derive(Clone)]
pub struct Outbox {
    pending: Rc<RefCell<Vec<EngineOutput>>>,
    out: Sender<EngineOutput>,
}

impl Outbox {
    pub fn new(out: Sender<EngineOutput>) -> Outbox {
        Outbox { pending: Rc::default(), out }
    }

    /// Queues one output; flushes once [`FLUSH_AT`] are waiting.
    pub fn push(&self, output: EngineOutput) {
        let full = {
            let mut pending = self.pending.borrow_mut();
            pending.push(output);
            pending.len() >= FLUSH_AT
        };
        if full {
            self.flush();
        }
    }

    /// Sends everything waiting, in the order it was queued.
    pub fn flush(&self) {
        let pending = std::mem::take(&mut *self.pending.borrow_mut());
        for output in pending {
            let _ = self.out.send(output);
        }
    }

    /// Flushes, then sends `output` at once (progress, which must follow the deltas).
    pub fn send_now(&self, output: EngineOutput) {
        self.flush();
        let _ = self.out.send(output);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_wait_for_a_flush_and_keep_their_order() {
        let (tx, rx) = std::sync::mpsc::channel();
        let outbox = Outbox::new(tx);
        let delta = |n: u64| EngineOutput::Delta { view: "v", key: n.to_string(), value: String::new(), revision: n, diff: 1 };
        outbox.push(delta(1));
        outbox.clone().push(delta(2));
        assert!(rx.try_recv().is_err(), "nothing is sent before a flush");
        outbox.send_now(EngineOutput::Progress { worker: 0, revision: 2 });
        let got: Vec<EngineOutput> = rx.try_iter().collect();
        assert_eq!(got, vec![delta(1), delta(2), EngineOutput::Progress { worker: 0, revision: 2 }]);
    }

    #[test]
    fn a_full_outbox_flushes_by_itself() {
        let (tx, rx) = std::sync::mpsc::channel();
        let outbox = Outbox::new(tx);
        for n in 0..FLUSH_AT as u64 {
            outbox.push(EngineOutput::Progress { worker: 0, revision: n });
        }
        assert_eq!(rx.try_iter().count(), FLUSH_AT);
    }
}
