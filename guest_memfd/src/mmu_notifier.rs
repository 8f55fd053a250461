//! MMU interval notifiers of one mm (`include/linux/mmu_notifier.h`,
//! `mm/mmu_notifier.c`; docs/kernel.md#non-gup): how a secondary MMU that
//! holds no folio reference learns that the host unmapped a page.
//!
//! A subscriber inserts an interval ([`MmuNotifierSubscriptions::insert`],
//! `mmu_interval_notifier_insert()`). Every zap of the mm's page tables
//! ([`crate::mm::Mm::zap_range`]: `unmap_mapping_pages()`, truncation,
//! MADV_DONTNEED, exit) first calls [`MmuNotifierSubscriptions::invalidate_range_start`]
//! (`mmu_notifier_invalidate_range_start()`), which runs the `invalidate()`
//! callback of every interval overlapping the range *before* the PTEs are
//! cleared, and afterwards [`MmuNotifierSubscriptions::invalidate_range_end`].
//!
//! The sequence protocol is the kernel's: the subscriptions' sequence is
//! odd while an invalidation overlapping some interval is in progress and
//! becomes even (one higher) when the last one ends. The callback stores the
//! odd value in its interval ([`MmuIntervalNotifier::set_seq`],
//! `mmu_interval_set_seq()`) under the subscriber's own lock.
//! [`MmuNotifierSubscriptions::read_begin`] returns the interval's sequence,
//! waiting first if that value is the one of an invalidation still in
//! progress; [`MmuIntervalNotifier::read_retry`] (under the subscriber's
//! lock) says whether an invalidation has set a new one since.

use crate::sched;
use crate::sync::atomic::{AtomicU64, Ordering};
use crate::sync::{lock, Arc, Condvar, Mutex};

/// The `invalidate()` callback of an interval (`struct
/// mmu_interval_notifier_ops`): called with the interval, the invalidated
/// range `[start, end)` and the sequence to store with
/// [`MmuIntervalNotifier::set_seq`] under the subscriber's lock.
pub trait MmuIntervalNotifierOps: Send + Sync + std::fmt::Debug {
    fn invalidate(&self, mni: &MmuIntervalNotifier, start: usize, end: usize, cur_seq: u64);
}

/// A subscriber shares its state with the notifier: the callback of a
/// shared object is the object's.
impl<T: MmuIntervalNotifierOps> MmuIntervalNotifierOps for Arc<T> {
    fn invalidate(&self, mni: &MmuIntervalNotifier, start: usize, end: usize, cur_seq: u64) {
        (**self).invalidate(mni, start, end, cur_seq)
    }
}

/// One subscribed interval of an mm's address space (`struct
/// mmu_interval_notifier`), in pages.
#[derive(Debug)]
pub struct MmuIntervalNotifier {
    pub start: usize,
    pub end: usize,
    invalidate_seq: AtomicU64,
    ops: Box<dyn MmuIntervalNotifierOps>,
}

#[derive(Debug, Default)]
struct SubsState {
    /// Odd while an invalidation overlapping some interval is in progress.
    invalidate_seq: u64,
    /// Invalidations in progress (`active_invalidate_ranges`).
    active: u32,
    list: Vec<Arc<MmuIntervalNotifier>>,
}

#[derive(Debug, Default)]
struct SubsInner {
    state: Mutex<SubsState>,
    /// `subscriptions->wq`: woken when the last invalidation ends.
    wq: Condvar,
}

impl SubsInner {
    fn is_invalidating(st: &SubsState) -> bool {
        st.invalidate_seq & 1 == 1
    }

    /// Wait (under the state lock) until the subscriptions' sequence is no
    /// longer `seq`. A thread driven by `sched` never waits: only one driven
    /// thread runs at a time and every invalidation starts and ends inside
    /// one step, so none is ever in progress when it looks.
    fn wait_while_seq(&self, seq: u64) {
        let mut st = lock(&self.state);
        while st.invalidate_seq == seq && !sched::driven() {
            st = self.wq.wait(st).expect("mmu notifier wq poisoned");
        }
    }
}

impl MmuIntervalNotifier {
    /// `mmu_interval_read_retry()`: has an invalidation overlapping the
    /// interval set a new sequence since
    /// [`MmuNotifierSubscriptions::read_begin`] returned
    /// `seq`? Called under the subscriber's lock, which the callback takes
    /// too, so the answer holds until that lock is dropped.
    pub fn read_retry(&self, seq: u64) -> bool {
        self.invalidate_seq.load(Ordering::Acquire) != seq
    }

    /// `mmu_interval_set_seq()`: from the `invalidate()` callback, under the
    /// subscriber's lock.
    pub fn set_seq(&self, cur_seq: u64) {
        self.invalidate_seq.store(cur_seq, Ordering::Release);
    }

    fn overlaps(&self, start: usize, end: usize) -> bool {
        self.start < end && start < self.end
    }
}

/// The intervals subscribed to one mm (`struct mmu_notifier_subscriptions`).
#[derive(Debug, Default)]
pub struct MmuNotifierSubscriptions {
    inner: Arc<SubsInner>,
}

/// An invalidation in progress, returned by
/// [`MmuNotifierSubscriptions::invalidate_range_start`] and handed back to
/// [`MmuNotifierSubscriptions::invalidate_range_end`].
#[must_use = "an invalidation must be ended"]
#[derive(Debug)]
pub struct InvalidateRange {
    _private: (),
}

impl MmuNotifierSubscriptions {
    /// `mmu_interval_read_begin()` on interval `mni` of this mm: the
    /// sequence to compare with [`MmuIntervalNotifier::read_retry`] once
    /// the subscriber has looked at the page tables; if an invalidation that
    /// already set the interval's sequence is still in progress, wait for it
    /// to end first (its PTEs may not be cleared yet).
    pub fn read_begin(&self, mni: &MmuIntervalNotifier) -> u64 {
        let (seq, invalidating) = {
            let st = lock(&self.inner.state);
            let seq = mni.invalidate_seq.load(Ordering::Acquire);
            (
                seq,
                seq == st.invalidate_seq && SubsInner::is_invalidating(&st),
            )
        };
        if invalidating {
            self.inner.wait_while_seq(seq);
        }
        seq
    }

    /// `mmu_interval_notifier_insert()` of `[start, end)` with callback `ops`.
    /// Inserted while an invalidation is in progress, its first
    /// [`Self::read_begin`] waits for that invalidation to end.
    pub fn insert(
        &self,
        start: usize,
        end: usize,
        ops: Box<dyn MmuIntervalNotifierOps>,
    ) -> Arc<MmuIntervalNotifier> {
        let mut st = lock(&self.inner.state);
        let seq = if SubsInner::is_invalidating(&st) {
            st.invalidate_seq
        } else {
            // Odd and never the sequence of a future invalidation.
            st.invalidate_seq.wrapping_sub(1)
        };
        let mni = Arc::new(MmuIntervalNotifier {
            start,
            end,
            invalidate_seq: AtomicU64::new(seq),
            ops,
        });
        st.list.push(mni.clone());
        mni
    }

    /// `mmu_interval_notifier_remove()`: after it returns no callback of the
    /// interval runs (an invalidation in progress is waited for).
    pub fn remove(&self, mni: &Arc<MmuIntervalNotifier>) {
        let seq = {
            let mut st = lock(&self.inner.state);
            st.list.retain(|x| !Arc::ptr_eq(x, mni));
            SubsInner::is_invalidating(&st).then_some(st.invalidate_seq)
        };
        if let Some(seq) = seq {
            self.inner.wait_while_seq(seq);
        }
    }

    /// `mmu_notifier_invalidate_range_start()` over `[start, end)`: every
    /// overlapping interval's `invalidate()` runs now, before the caller
    /// clears the PTEs.
    pub fn invalidate_range_start(&self, start: usize, end: usize) -> InvalidateRange {
        let (hits, cur_seq) = {
            let mut st = lock(&self.inner.state);
            st.active += 1;
            let hits: Vec<Arc<MmuIntervalNotifier>> = st
                .list
                .iter()
                .filter(|m| m.overlaps(start, end))
                .cloned()
                .collect();
            if !hits.is_empty() {
                st.invalidate_seq |= 1;
            }
            (hits, st.invalidate_seq)
        };
        for m in &hits {
            m.ops.invalidate(m, start, end, cur_seq);
        }
        InvalidateRange { _private: () }
    }

    /// `mmu_notifier_invalidate_range_end()`: when the last invalidation in
    /// progress ends, the sequence becomes even and waiting readers wake.
    pub fn invalidate_range_end(&self, _range: InvalidateRange) {
        let mut st = lock(&self.inner.state);
        st.active -= 1;
        if st.active == 0 && SubsInner::is_invalidating(&st) {
            st.invalidate_seq = st.invalidate_seq.wrapping_add(1);
            self.inner.wq.notify_all();
        }
    }

    /// Subscribed intervals (for the metadata accounting).
    pub fn len(&self) -> usize {
        lock(&self.inner.state).list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(all(test, not(loom), not(feature = "shuttle")))]
mod tests {
    use super::*;

    #[derive(Debug, Default)]
    struct Recorder {
        calls: Mutex<Vec<(usize, usize, u64)>>,
    }

    impl MmuIntervalNotifierOps for Recorder {
        fn invalidate(&self, mni: &MmuIntervalNotifier, start: usize, end: usize, cur_seq: u64) {
            lock(&self.calls).push((start, end, cur_seq));
            mni.set_seq(cur_seq);
        }
    }

    #[test]
    fn only_overlapping_intervals_are_called_and_retry_sees_them() {
        let subs = MmuNotifierSubscriptions::default();
        let r = Arc::new(Recorder::default());
        let mni = subs.insert(3, 4, Box::new(r.clone()));
        let seq = subs.read_begin(&mni);
        assert!(!mni.read_retry(seq));
        subs.invalidate_range_end(subs.invalidate_range_start(0, 3));
        assert!(lock(&r.calls).is_empty(), "[0, 3) does not overlap [3, 4)");
        assert!(
            !mni.read_retry(seq),
            "an invalidation elsewhere is not a retry"
        );
        let inv = subs.invalidate_range_start(2, 5);
        assert_eq!(lock(&r.calls).len(), 1);
        assert!(mni.read_retry(seq), "set_seq() ran before the range ended");
        subs.invalidate_range_end(inv);
        let seq2 = subs.read_begin(&mni);
        assert!(!mni.read_retry(seq2), "read_begin after the end is current");
        subs.remove(&mni);
        subs.invalidate_range_end(subs.invalidate_range_start(0, 10));
        assert_eq!(lock(&r.calls).len(), 1, "a removed interval is not called");
        assert!(subs.is_empty());
    }

    #[test]
    fn read_begin_waits_for_an_invalidation_in_progress() {
        let subs = Arc::new(MmuNotifierSubscriptions::default());
        let mni = subs.insert(0, 1, Box::new(Recorder::default()));
        let inv = subs.invalidate_range_start(0, 1);
        let (s2, m2) = (subs.clone(), mni.clone());
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let d2 = done.clone();
        let h = std::thread::spawn(move || {
            let s = s2.read_begin(&m2);
            d2.store(true, std::sync::atomic::Ordering::SeqCst);
            s
        });
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert!(
            !done.load(std::sync::atomic::Ordering::SeqCst),
            "read_begin returned while the invalidation was in progress"
        );
        subs.invalidate_range_end(inv);
        let seq = h.join().unwrap();
        assert!(!mni.read_retry(seq));
    }
}
