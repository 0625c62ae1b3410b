//! Equal owner-reference lists, held once.
//!
//! Every pod of a ReplicaSet names the same owner, and a list of owner references costs
//! about 250 bytes (four strings). The pod's row and the garbage collector's dependent
//! both keep the list, so with 150,000 owned pods the copies were a fifth of the dataflows'
//! memory. [`OwnerRefs`] is an `Arc<[OwnerRef]>` taken from a per-thread pool of the lists
//! seen: equal lists share one allocation.
//!
//! Hand-written rather than from an interning crate: those hash and order their handles by
//! address, while rows must hash and compare by content, the same in every timely process
//! (keys are partitioned by their hash). A std `Arc` does exactly that.
//!
//! The pool is per thread (no lock): each worker shares the lists it projects. A list no
//! row holds any more is dropped from the pool when the pool next doubles.

use std::cell::RefCell;
use std::collections::HashSet;
use std::ops::Deref;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::rows::OwnerRef;

/// A list of owner references, shared with every equal list the thread has projected.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OwnerRefs(Arc<[OwnerRef]>);

/// The pool of one thread: the lists handed out, and the size at which it next drops those
/// only it holds.
struct Pool {
    lists: HashSet<Arc<[OwnerRef]>>,
    sweep_at: usize,
}

const FIRST_SWEEP: usize = 64;

thread_local! {
    static POOL: RefCell<Pool> = RefCell::new(Pool { lists: HashSet::new(), sweep_at: FIRST_SWEEP });
}

impl OwnerRefs {
    /// The shared list equal to `refs`.
    pub fn share(refs: Vec<OwnerRef>) -> OwnerRefs {
        POOL.with_borrow_mut(|pool| {
            if let Some(list) = pool.lists.get(refs.as_slice()) {
                return OwnerRefs(list.clone());
            }
            if pool.lists.len() >= pool.sweep_at {
                pool.lists.retain(|list| Arc::strong_count(list) > 1);
                pool.sweep_at = FIRST_SWEEP.max(2 * pool.lists.len());
            }
            let list: Arc<[OwnerRef]> = refs.into();
            pool.lists.insert(list.clone());
            OwnerRefs(list)
        })
    }

    /// How many lists this thread's pool holds (for tests).
    pub fn pooled() -> usize {
        POOL.with_borrow(|pool| pool.lists.len())
    }
}

impl Default for OwnerRefs {
    fn default() -> OwnerRefs {
        OwnerRefs::share(Vec::new())
    }
}

impl Deref for OwnerRefs {
    type Target = [OwnerRef];

    fn deref(&self) -> &[OwnerRef] {
        &self.0
    }
}

impl From<Vec<OwnerRef>> for OwnerRefs {
    fn from(refs: Vec<OwnerRef>) -> OwnerRefs {
        OwnerRefs::share(refs)
    }
}

impl<const N: usize> From<[OwnerRef; N]> for OwnerRefs {
    fn from(refs: [OwnerRef; N]) -> OwnerRefs {
        OwnerRefs::share(refs.into())
    }
}

impl Serialize for OwnerRefs {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

/// A list from another process joins the receiving thread's pool.
impl<'de> Deserialize<'de> for OwnerRefs {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<OwnerRefs, D::Error> {
        Vec::<OwnerRef>::deserialize(deserializer).map(OwnerRefs::share)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(name: &str) -> OwnerRef {
        OwnerRef {
            api_version: "apps/v1".into(),
            kind: "ReplicaSet".into(),
            name: name.into(),
            uid: format!("{name}-uid"),
            controller: true,
            block_owner_deletion: true,
        }
    }

    #[test]
    fn equal_lists_share_one_allocation_and_compare_by_content() {
        let a = OwnerRefs::share(vec![owner("web")]);
        let b = OwnerRefs::share(vec![owner("web")]);
        let c = OwnerRefs::share(vec![owner("db")]);
        assert!(Arc::ptr_eq(&a.0, &b.0));
        assert_eq!(a, b);
        assert!(c < a, "ordered by content: db before web");
        assert_eq!(a[0].name, "web");
        let through_json: OwnerRefs = serde_json::from_str(&serde_json::to_string(&a).unwrap()).unwrap();
        assert!(Arc::ptr_eq(&a.0, &through_json.0), "a deserialized list joins the pool");
    }

    #[test]
    fn lists_no_row_holds_leave_the_pool() {
        let kept = OwnerRefs::share(vec![owner("kept")]);
        for i in 0..10 * FIRST_SWEEP {
            OwnerRefs::share(vec![owner(&format!("gone-{i}"))]);
        }
        assert!(OwnerRefs::pooled() <= 2 * FIRST_SWEEP, "{} lists pooled", OwnerRefs::pooled());
        assert!(Arc::ptr_eq(&kept.0, &OwnerRefs::share(vec![owner("kept")]).0), "a held list stays");
    }
}
