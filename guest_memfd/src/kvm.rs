//! KVM's stage-2 (EPT/NPT/S2) map for the guest_memfd-backed memslot and
//! the MMU invalidation protocol (domain.md 2.7):
//! `invalidate_begin` raises `mmu_invalidate_in_progress`, widens the
//! invalidation range and zaps stage-2 entries under `mmu_lock`;
//! `invalidate_end` bumps `mmu_invalidate_seq` and lowers in_progress. A
//! guest fault snapshots the sequence first and installs only if
//! `mmu_invalidate_retry_gfn` says no invalidation raced with it.
//!
//! [infer, domain.md 2.7] Stage-2 entries hold no folio reference (the
//! get_pfn reference is dropped once the fault finishes), so they are
//! invisible to the refcount check and handled only by invalidation.

use crate::folio::Folio;
use crate::locktrack::{LockTracker, TrackedMutex};
use crate::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use crate::sync::Arc;
use invariants::{Attr, LockId};
use std::collections::BTreeMap;

#[derive(Clone, Debug)]
pub struct S2Entry {
    pub folio: Arc<Folio>,
    pub ty: Attr,
}

/// What `mmu_lock` protects.
#[derive(Debug, Default)]
pub struct Stage2 {
    pub entries: BTreeMap<usize, S2Entry>,
    /// The union of in-progress invalidation ranges (gfn == file index here).
    pub inval_start: usize,
    pub inval_end: usize,
}

#[derive(Debug)]
pub struct Kvm {
    pub mmu_lock: TrackedMutex<Stage2>,
    pub mmu_invalidate_in_progress: AtomicU32,
    pub mmu_invalidate_seq: AtomicU64,
}

impl Kvm {
    pub fn new(tracker: Arc<LockTracker>) -> Kvm {
        Kvm {
            mmu_lock: TrackedMutex::new(LockId::MmuLock, tracker, Stage2::default()),
            mmu_invalidate_in_progress: AtomicU32::new(0),
            mmu_invalidate_seq: AtomicU64::new(0),
        }
    }

    /// kvm_mmu_invalidate_begin + range_add + kvm_mmu_unmap_gfn_range.
    pub fn invalidate_begin(&self, start: usize, end: usize) {
        let mut s2 = self.mmu_lock.lock();
        if self
            .mmu_invalidate_in_progress
            .fetch_add(1, Ordering::AcqRel)
            == 0
        {
            s2.inval_start = start;
            s2.inval_end = end;
        } else {
            s2.inval_start = s2.inval_start.min(start);
            s2.inval_end = s2.inval_end.max(end);
        }
        let gone: Vec<usize> = s2.entries.range(start..end).map(|(k, _)| *k).collect();
        for k in gone {
            s2.entries.remove(&k);
        }
        // The remote TLB flush is implied: guest accesses happen under mmu_lock.
    }

    /// Zap stage-2 entries without an invalidation (only bug switch
    /// `partial_flip` does this: it flips pages one at a time).
    pub fn zap(&self, start: usize, end: usize) {
        let mut s2 = self.mmu_lock.lock();
        let gone: Vec<usize> = s2.entries.range(start..end).map(|(k, _)| *k).collect();
        for k in gone {
            s2.entries.remove(&k);
        }
    }

    /// kvm_mmu_invalidate_end.
    pub fn invalidate_end(&self) {
        let mut s2 = self.mmu_lock.lock();
        self.mmu_invalidate_seq.fetch_add(1, Ordering::Release);
        if self
            .mmu_invalidate_in_progress
            .fetch_sub(1, Ordering::AcqRel)
            == 1
        {
            s2.inval_start = 0;
            s2.inval_end = 0;
        }
    }

    /// mmu_invalidate_retry_gfn, called under mmu_lock.
    pub fn retry_gfn(&self, s2: &Stage2, gfn: usize, seq: u64) -> bool {
        if self.mmu_invalidate_in_progress.load(Ordering::Acquire) > 0
            && gfn >= s2.inval_start
            && gfn < s2.inval_end
        {
            return true;
        }
        self.mmu_invalidate_seq.load(Ordering::Acquire) != seq
    }

    /// Is an invalidation covering `gfn` in progress (for the view)?
    pub fn invalidating(&self, s2: &Stage2, gfn: usize) -> bool {
        self.mmu_invalidate_in_progress.load(Ordering::Acquire) > 0
            && gfn >= s2.inval_start
            && gfn < s2.inval_end
    }
}
