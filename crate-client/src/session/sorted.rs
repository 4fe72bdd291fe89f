//! [`SortedMap`]: an ordered map over a sorted `Vec`.
//!
//! The session core keeps a few small ordered collections (the joined rooms; per room the
//! sequence numbers known above the mark, which arrive mostly in order). `BTreeMap`
//! instantiated for each of them cost the browser library several KiB per key and value
//! type; a sorted `Vec` with binary search is a fraction of that, and for these sizes as fast.

use std::borrow::Borrow;

/// A map ordered by key, over a sorted `Vec` of pairs.
#[derive(Debug, Clone)]
pub(crate) struct SortedMap<K, V> {
    pairs: Vec<(K, V)>,
}

impl<K, V> Default for SortedMap<K, V> {
    fn default() -> Self {
        SortedMap { pairs: Vec::new() }
    }
}

impl<K: Ord, V> SortedMap<K, V> {
    /// Where `key` is (`Ok`) or would go (`Err`).
    fn find<Q: Ord + ?Sized>(&self, key: &Q) -> Result<usize, usize>
    where
        K: Borrow<Q>,
    {
        self.pairs.binary_search_by(|(k, _)| k.borrow().cmp(key))
    }

    /// The value of `key`.
    pub fn get<Q: Ord + ?Sized>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
    {
        self.find(key).ok().map(|i| &self.pairs[i].1)
    }

    /// The value of `key`, to change.
    pub fn get_mut<Q: Ord + ?Sized>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
    {
        self.find(key).ok().map(|i| &mut self.pairs[i].1)
    }

    /// Whether `key` is in the map.
    pub fn contains_key<Q: Ord + ?Sized>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
    {
        self.find(key).is_ok()
    }

    /// Sets `key` to `value`, returning the value it replaced.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        match self.find(&key) {
            Ok(i) => Some(std::mem::replace(&mut self.pairs[i].1, value)),
            Err(i) => {
                self.pairs.insert(i, (key, value));
                None
            }
        }
    }

    /// The value of `key`, inserted as `V::default()` first if missing.
    pub fn get_or_default(&mut self, key: K) -> &mut V
    where
        V: Default,
    {
        let i = match self.find(&key) {
            Ok(i) => i,
            Err(i) => {
                self.pairs.insert(i, (key, V::default()));
                i
            }
        };
        &mut self.pairs[i].1
    }

    /// Removes `key`, returning its value.
    pub fn remove<Q: Ord + ?Sized>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
    {
        self.find(key).ok().map(|i| self.pairs.remove(i).1)
    }

    /// Removes and returns the first entry, if `take` says yes to its key.
    pub fn pop_first_if(&mut self, take: impl FnOnce(&K) -> bool) -> Option<(K, V)> {
        let taken = take(&self.pairs.first()?.0);
        taken.then(|| self.pairs.remove(0))
    }

    /// The keys, in order.
    pub fn keys(&self) -> impl Iterator<Item = &K> {
        self.pairs.iter().map(|(k, _)| k)
    }

    /// The entries, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.pairs.iter().map(|(k, v)| (k, v))
    }

    /// The entries, in key order, values to change.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&K, &mut V)> {
        self.pairs.iter_mut().map(|(k, v)| (&*k, v))
    }

    /// The values, in key order, to change.
    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut V> {
        self.pairs.iter_mut().map(|(_, v)| v)
    }

    /// Whether the map is empty.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// How many entries the map holds.
    #[cfg_attr(not(feature = "app"), allow(dead_code))] // used by the chat page
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// Keeps only the entries for which `keep` says yes.
    #[cfg_attr(not(feature = "app"), allow(dead_code))] // used by the chat page
    pub fn retain(&mut self, mut keep: impl FnMut(&K, &mut V) -> bool) {
        self.pairs.retain_mut(|(k, v)| keep(k, v));
    }

    /// Removes everything.
    pub fn clear(&mut self) {
        self.pairs.clear();
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    /// splitmix64, seeded.
    fn next(state: &mut u64) -> u64 {
        *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = *state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Random operations on a `SortedMap` and a `BTreeMap` give the same answers and
    /// contents.
    #[test]
    fn behaves_as_a_btree_map() {
        for seed in 0..300 {
            let mut state = seed;
            let mut ours = SortedMap::default();
            let mut theirs = BTreeMap::new();
            for step in 0..200 {
                let key = next(&mut state) % 40;
                let value = next(&mut state);
                match next(&mut state) % 8 {
                    0 | 1 => assert_eq!(ours.insert(key, value), theirs.insert(key, value)),
                    2 => assert_eq!(ours.remove(&key), theirs.remove(&key)),
                    3 => assert_eq!(ours.get(&key), theirs.get(&key)),
                    4 => {
                        *ours.get_or_default(key) += 1;
                        *theirs.entry(key).or_default() += 1;
                    }
                    5 => {
                        let first = theirs.first_key_value().map(|(k, _)| *k);
                        let take = first.is_some_and(|first| first <= key);
                        let expected = if take { theirs.pop_first() } else { None };
                        assert_eq!(ours.pop_first_if(|first| *first <= key), expected);
                    }
                    6 => {
                        ours.retain(|k, v| (k + *v) % 3 != 0);
                        theirs.retain(|k, v| (k + *v) % 3 != 0);
                        assert_eq!(ours.len(), theirs.len());
                    }
                    _ => assert_eq!(ours.contains_key(&key), theirs.contains_key(&key)),
                }
                assert!(
                    ours.pairs.iter().map(|(k, v)| (k, v)).eq(theirs.iter()),
                    "seed {seed} step {step}"
                );
            }
        }
    }
}
