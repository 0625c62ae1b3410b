//! A keyed multiset as a dataflow's diffs leave it: per key the values with their counts, and
//! the keys touched since the last [`Keyed::compact`], so that a reader applying one revision's
//! changes does work in proportion to them, not to everything it holds.

use std::collections::BTreeMap;

use crate::types::Diff;

/// Values by key, each with its count; a key normally has one present value, and briefly two
/// while one revision's retraction and insertion are both applied.
#[derive(Debug, Clone)]
pub struct Keyed<K: Ord, V> {
    map: BTreeMap<K, Vec<(V, Diff)>>,
    touched: Vec<K>,
}

impl<K: Ord, V> Default for Keyed<K, V> {
    fn default() -> Self {
        Keyed { map: BTreeMap::new(), touched: Vec::new() }
    }
}

impl<K: Ord + Clone, V: PartialEq> Keyed<K, V> {
    /// Adds `diff` to the count of `value` under `key`.
    pub fn update(&mut self, key: K, value: V, diff: Diff) {
        let entries = self.map.entry(key.clone()).or_default();
        match entries.iter_mut().find(|(v, _)| *v == value) {
            Some((_, count)) => *count += diff,
            None => entries.push((value, diff)),
        }
        self.touched.push(key);
    }

    /// Drops the values whose changes cancelled and returns the keys touched since the last
    /// call, sorted and without repeats.
    pub fn compact(&mut self) -> Vec<K> {
        let mut touched = std::mem::take(&mut self.touched);
        touched.sort();
        touched.dedup();
        for key in &touched {
            if let Some(entries) = self.map.get_mut(key) {
                entries.retain(|(_, d)| *d != 0);
                if entries.is_empty() {
                    self.map.remove(key);
                }
            }
        }
        touched
    }

    /// The value present (with a positive count) under `key`.
    pub fn get<Q: Ord + ?Sized>(&self, key: &Q) -> Option<&V>
    where
        K: std::borrow::Borrow<Q>,
    {
        self.map.get(key)?.iter().find(|(_, d)| *d > 0).map(|(v, _)| v)
    }

    /// Every key's present value, in key order.
    pub fn present(&self) -> impl Iterator<Item = (&K, &V)> {
        self.map.iter().filter_map(|(k, entries)| entries.iter().find(|(_, d)| *d > 0).map(|(v, _)| (k, v)))
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Every value with its count, zero counts included until the next compaction.
    pub fn all(&self) -> impl Iterator<Item = (&K, &V, Diff)> {
        self.map.iter().flat_map(|(k, entries)| entries.iter().map(move |(v, d)| (k, v, *d)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replaced_value_is_the_one_present_after_compaction() {
        let mut k: Keyed<&str, u32> = Keyed::default();
        k.update("a", 1, 1);
        assert_eq!(k.compact(), vec!["a"]);
        k.update("a", 2, 1);
        k.update("a", 1, -1);
        assert_eq!(k.get(&"a"), Some(&2));
        assert_eq!(k.compact(), vec!["a"]);
        assert_eq!(k.all().count(), 1);
        k.update("a", 2, -1);
        k.compact();
        assert_eq!(k.get(&"a"), None);
        assert_eq!(k.present().count(), 0);
    }
}
