//! A maple-tree-like range map: every index of `[0, len)` has a value, kept
//! as non-overlapping ranges `start -> (end, value)` in a `BTreeMap`, with
//! adjacent equal ranges merged on every store (v13
//! `kvm_gmem_mas_preallocate()`, docs/kernel.md#state-and-locking; the maple tree was chosen over an xarray
//! because per-page updates of 1G were too slow: 1G RFC v2 patch 04). A store is O(log n + k)
//! for k ranges it overlaps, never O(pages).

use std::collections::BTreeMap;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RangeMap<V> {
    len: usize,
    map: BTreeMap<usize, (usize, V)>,
}

impl<V: Copy + Eq> RangeMap<V> {
    /// Every index of `[0, len)` starts with `init`.
    pub fn new(len: usize, init: V) -> RangeMap<V> {
        let mut map = BTreeMap::new();
        if len > 0 {
            map.insert(0, (len, init));
        }
        RangeMap { len, map }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of stored ranges (the tree's size).
    pub fn nr_ranges(&self) -> usize {
        self.map.len()
    }

    /// The value at `index` (None beyond the end).
    pub fn get(&self, index: usize) -> Option<V> {
        let (_, &(end, v)) = self.map.range(..=index).next_back()?;
        (index < end).then_some(v)
    }

    /// The ranges overlapping `[start, end)`, clipped to it, in order.
    pub fn ranges_in(&self, start: usize, end: usize) -> Vec<(usize, usize, V)> {
        let mut out = Vec::new();
        if start >= end {
            return out;
        }
        if let Some((&s, &(e, v))) = self.map.range(..start).next_back() {
            if e > start {
                out.push((start, e.min(end), v));
            }
            let _ = s;
        }
        for (&s, &(e, v)) in self.map.range(start..end) {
            out.push((s, e.min(end), v));
        }
        out
    }

    /// Does every index of `[start, end)` hold `v`?
    pub fn all_equal(&self, start: usize, end: usize, v: V) -> bool {
        self.ranges_in(start, end).iter().all(|&(_, _, x)| x == v)
    }

    /// Store `v` over `[start, end)` (clipped to the map), merging with
    /// equal neighbours.
    pub fn store(&mut self, start: usize, end: usize, v: V) {
        let end = end.min(self.len);
        if start >= end {
            return;
        }
        // Split a range that straddles `start`.
        if let Some((&s, &(e, old))) = self.map.range(..start).next_back() {
            if e > start {
                self.map.insert(s, (start, old));
                self.map.insert(start, (e, old));
            }
        }
        // Split a range that straddles `end`.
        if let Some((&s, &(e, old))) = self.map.range(..end).next_back() {
            if e > end {
                self.map.insert(s, (end, old));
                self.map.insert(end, (e, old));
            }
        }
        // Remove everything inside [start, end).
        let inside: Vec<usize> = self.map.range(start..end).map(|(&s, _)| s).collect();
        for s in inside {
            self.map.remove(&s);
        }
        let mut new_start = start;
        let mut new_end = end;
        // Merge with the left neighbour.
        if let Some((&s, &(e, old))) = self.map.range(..start).next_back() {
            if e == start && old == v {
                self.map.remove(&s);
                new_start = s;
            }
        }
        // Merge with the right neighbour.
        if let Some(&(e, old)) = self.map.get(&end) {
            if old == v {
                self.map.remove(&end);
                new_end = e;
            }
        }
        self.map.insert(new_start, (new_end, v));
    }

    /// Iterate over all ranges.
    pub fn iter(&self) -> impl Iterator<Item = (usize, usize, V)> + '_ {
        self.map.iter().map(|(&s, &(e, v))| (s, e, v))
    }

    /// Bytes of metadata (keys, values and an estimate of B-tree overhead).
    pub fn metadata_bytes(&self) -> usize {
        self.map.len() * (std::mem::size_of::<usize>() + std::mem::size_of::<(usize, V)>() + 16)
    }

    /// Internal consistency: ranges cover [0, len) exactly, and no two
    /// adjacent ranges hold equal values.
    pub fn well_formed(&self) -> bool {
        let mut next = 0;
        let mut prev: Option<V> = None;
        for (&s, &(e, v)) in &self.map {
            if s != next || e <= s || prev == Some(v) {
                return false;
            }
            next = e;
            prev = Some(v);
        }
        next == self.len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_merges_adjacent_equal_ranges() {
        let mut m = RangeMap::new(10, false);
        assert_eq!(m.nr_ranges(), 1);
        m.store(2, 4, true);
        assert_eq!(m.nr_ranges(), 3);
        m.store(4, 6, true);
        assert_eq!(m.nr_ranges(), 3, "[2,4) and [4,6) merge");
        assert_eq!(
            m.ranges_in(0, 10),
            vec![(0, 2, false), (2, 6, true), (6, 10, false)]
        );
        m.store(2, 6, false);
        assert_eq!(m.nr_ranges(), 1);
        assert!(m.well_formed());
    }

    #[test]
    fn get_and_all_equal() {
        let mut m = RangeMap::new(8, 0u8);
        m.store(3, 5, 1);
        assert_eq!(m.get(2), Some(0));
        assert_eq!(m.get(3), Some(1));
        assert_eq!(m.get(4), Some(1));
        assert_eq!(m.get(5), Some(0));
        assert_eq!(m.get(8), None);
        assert!(m.all_equal(3, 5, 1));
        assert!(!m.all_equal(2, 5, 1));
        m.store(7, 100, 2);
        assert_eq!(m.get(7), Some(2));
        assert!(m.well_formed());
    }

    #[test]
    fn huge_map_is_cheap() {
        let mut m = RangeMap::new(268_435_456, 0u8);
        for i in 0..1000 {
            m.store(i * 1000, i * 1000 + 1, 1);
        }
        assert_eq!(m.nr_ranges(), 2000);
        for i in 0..1000 {
            m.store(i * 1000, i * 1000 + 1, 0);
        }
        assert_eq!(m.nr_ranges(), 1);
    }
}
