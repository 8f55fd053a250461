//! KVM's side of a guest_memfd: the VMs bound to the file, each with its
//! own stage-2 (EPT/NPT/S2) map and MMU invalidation protocol.
//!
//! One inode can be bound to several VMs, one `struct gmem_file` per VM
//! (`virt/kvm/guest_memfd.c`, lore:20260910-gmem-inplace-conversion-v13-0-dd6fbf94f4e1@google.com);
//! `kvm_gmem_invalidate_start()`/`_end()` walk every file of the inode.
//! Per VM (`virt/kvm/kvm_main.c`):
//! `kvm_mmu_invalidate_start()` raises `mmu_invalidate_in_progress`, widens
//! the invalidation range and zaps the stage-2 entries of the requested
//! type under `mmu_lock`; `kvm_mmu_invalidate_end()` bumps
//! `mmu_invalidate_seq` and lowers in_progress. A guest fault snapshots the
//! sequence first and installs only if `mmu_invalidate_retry_gfn()` says no
//! invalidation raced with it.
//!
//! Stage-2 entries hold no folio reference: `kvm_gmem_get_pfn()` drops its
//! reference before returning (v13), and TDX no longer holds one on private
//! pages (lore:20250807094241.4523-1-yan.y.zhao@intel.com). Only
//! invalidation keeps an entry from outliving its folio.

use crate::folio::Folio;
use crate::locktrack::{LockTracker, TrackedMutex};
use crate::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use crate::sync::Arc;
use invariants::{Attr, LockId};
use std::collections::BTreeMap;

pub use invariants::MAX_VMS;

/// A VM handle (index of its binding; VM 0 is the VMM's first VM).
pub type VmId = usize;

#[derive(Clone, Debug)]
pub struct S2Entry {
    pub folio: Arc<Folio>,
    pub ty: Attr,
    /// Design `hugetlb`: this gfn is mapped by one huge (gigantic-page
    /// sized) private leaf over the file pages `[start, end)`, rather than
    /// a 4K leaf. A huge leaf is zapped as a whole and split into 4K leaves
    /// by `kvm_gmem_split_private()` (`kvm_split_cross_boundary_leafs()`).
    pub huge: Option<(usize, usize)>,
}

impl S2Entry {
    /// A 4K leaf.
    pub fn leaf(folio: Arc<Folio>, ty: Attr) -> S2Entry {
        S2Entry {
            folio,
            ty,
            huge: None,
        }
    }
}

/// Which stage-2 entries an invalidation zaps (`enum kvm_gfn_range_filter`):
/// with in-place conversion, to-private zaps only SHARED entries and
/// to-shared only PRIVATE ones (`kvm_gmem_set_attributes()`); punch,
/// release and memory failure zap both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Filter {
    Shared,
    Private,
    All,
}

impl Filter {
    /// The filter of a conversion to `to`.
    pub fn for_conversion(to: Attr) -> Filter {
        match to {
            Attr::Private => Filter::Shared,
            Attr::Shared => Filter::Private,
        }
    }
    /// The other type (bug switch `zap_wrong_filter`).
    pub fn swapped(self) -> Filter {
        match self {
            Filter::Shared => Filter::Private,
            Filter::Private => Filter::Shared,
            Filter::All => Filter::All,
        }
    }
    fn zaps(self, ty: Attr) -> bool {
        match self {
            Filter::All => true,
            Filter::Shared => ty == Attr::Shared,
            Filter::Private => ty == Attr::Private,
        }
    }
}

/// What `mmu_lock` protects.
#[derive(Debug, Default)]
pub struct Stage2 {
    pub entries: BTreeMap<usize, S2Entry>,
    /// The union of in-progress invalidation ranges (gfn == file index here).
    pub inval_start: usize,
    pub inval_end: usize,
}

/// One VM: its binding of the file, `mmu_lock` with the stage-2 map, and
/// the invalidation counters.
#[derive(Debug)]
pub struct Vm {
    pub id: VmId,
    pub mmu_lock: TrackedMutex<Stage2>,
    pub mmu_invalidate_in_progress: AtomicU32,
    pub mmu_invalidate_seq: AtomicU64,
    /// Its `gmem_file` is open (bound to the inode through a memslot).
    bound: AtomicBool,
}

impl Vm {
    fn new(id: VmId, tracker: Arc<LockTracker>, bound: bool) -> Vm {
        Vm {
            id,
            mmu_lock: TrackedMutex::new(LockId::MmuLock, tracker, Stage2::default()),
            mmu_invalidate_in_progress: AtomicU32::new(0),
            mmu_invalidate_seq: AtomicU64::new(0),
            bound: AtomicBool::new(bound),
        }
    }

    pub fn is_bound(&self) -> bool {
        self.bound.load(Ordering::Acquire)
    }

    /// kvm_mmu_invalidate_start + range_add + kvm_mmu_unmap_gfn_range with
    /// `filter`.
    pub fn invalidate_start(&self, start: usize, end: usize, filter: Filter) {
        self.invalidate_begin_only(start, end);
        self.zap(start, end, filter);
    }

    /// Zap the stage-2 entries of `filter`'s type in `[start, end)`
    /// (kvm_mmu_unmap_gfn_range under mmu_lock).
    pub fn zap(&self, start: usize, end: usize, filter: Filter) {
        Self::zap_locked(&mut self.mmu_lock.lock(), start, end, filter);
    }

    /// kvm_mmu_invalidate_start + range_add, without the zap (which
    /// [`Self::zap`] does as a later step).
    pub fn invalidate_begin_only(&self, start: usize, end: usize) {
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
        // The remote TLB flush is implied: guest accesses happen under mmu_lock.
    }

    fn zap_locked(s2: &mut Stage2, start: usize, end: usize, filter: Filter) {
        let gone: Vec<(usize, Option<(usize, usize)>)> = s2
            .entries
            .range(start..end)
            .filter(|(_, e)| filter.zaps(e.ty))
            .map(|(k, e)| (*k, e.huge))
            .collect();
        for (k, huge) in gone {
            s2.entries.remove(&k);
            if let Some((lo, hi)) = huge {
                // Design hugetlb: a huge leaf goes as a whole, whatever part
                // of it the range names.
                let leaf: Vec<usize> = s2
                    .entries
                    .range(lo..hi)
                    .filter(|(_, e)| e.huge == huge)
                    .map(|(j, _)| *j)
                    .collect();
                for j in leaf {
                    s2.entries.remove(&j);
                }
            }
        }
    }

    /// Design `hugetlb`: are there huge leaves over `[start, end)`?
    pub fn has_huge_leaf(&self, start: usize, end: usize) -> bool {
        self.mmu_lock
            .lock()
            .entries
            .range(start..end)
            .any(|(_, e)| e.huge.is_some())
    }

    /// Design `hugetlb`, `kvm_gmem_split_private()` /
    /// `kvm_split_cross_boundary_leafs()`: the huge leaves over `[start,
    /// end)` become 4K leaves to the same pfns.
    pub fn split_huge_leaves(&self, start: usize, end: usize) {
        let mut s2 = self.mmu_lock.lock();
        for (_, e) in s2.entries.range_mut(start..end) {
            e.huge = None;
        }
    }

    /// Stage-2 maps pfns: after the folios of a gigantic page were split or
    /// merged, each entry of a page in `backing` names the folio that backs
    /// that page's pfn now (computed by the caller from the page cache
    /// before taking `mmu_lock`: the page cache's lock nests inside
    /// `mmu_lock`, so a stage-2 install, which reads the page cache under
    /// `mmu_lock`, sees either the old folios and is re-pointed here, or
    /// the new ones).
    pub fn follow_pfns(&self, backing: &[(usize, Arc<Folio>)]) {
        let mut s2 = self.mmu_lock.lock();
        for (i, f) in backing {
            if let Some(e) = s2.entries.get_mut(i) {
                e.folio = f.clone();
            }
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
        if self.invalidating(s2, gfn) {
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

/// Every VM that may bind the file (`MAX_VMS`, the first `nr_vms` bound at
/// creation).
#[derive(Debug)]
pub struct Kvm {
    pub vms: Vec<Vm>,
}

/// The VMs one invalidation covered, so that its end covers the same ones.
#[derive(Debug)]
#[must_use = "an invalidation must be ended"]
pub struct Invalidation(Vec<VmId>);

impl Kvm {
    pub fn new(tracker: Arc<LockTracker>, nr_vms: usize) -> Kvm {
        Kvm {
            vms: (0..MAX_VMS)
                .map(|i| Vm::new(i, tracker.clone(), i < nr_vms))
                .collect(),
        }
    }

    pub fn vm(&self, id: VmId) -> Option<&Vm> {
        self.vms.get(id)
    }

    /// `kvm_gmem_invalidate_start()`: every bound VM (with bug switch
    /// `invalidate_one_binding`, `only_first`, only the first one).
    pub fn invalidate_start(
        &self,
        start: usize,
        end: usize,
        filter: Filter,
        only_first: bool,
    ) -> Invalidation {
        let mut done = Vec::new();
        for vm in self.vms.iter().filter(|v| v.is_bound()) {
            vm.invalidate_start(start, end, filter);
            done.push(vm.id);
            if only_first {
                break;
            }
        }
        Invalidation(done)
    }

    /// `kvm_gmem_invalidate_begin()` without the zap (design `hugetlb`,
    /// whose conversion zaps as a later step, and only part of the range):
    /// every bound VM, or the first one only (`only_first`).
    pub fn invalidate_begin(&self, start: usize, end: usize, only_first: bool) -> Invalidation {
        let mut done = Vec::new();
        for vm in self.vms.iter().filter(|v| v.is_bound()) {
            vm.invalidate_begin_only(start, end);
            done.push(vm.id);
            if only_first {
                break;
            }
        }
        Invalidation(done)
    }

    /// The VMs an invalidation covers.
    pub fn covered(&self, inv: &Invalidation) -> Vec<&Vm> {
        inv.0.iter().map(|&id| &self.vms[id]).collect()
    }

    /// Every VM's entries follow their pfns ([`Vm::follow_pfns`]).
    pub fn follow_pfns(&self, backing: &[(usize, Arc<Folio>)]) {
        for vm in &self.vms {
            vm.follow_pfns(backing);
        }
    }

    /// `kvm_gmem_invalidate_end()` in the VMs `inv` covered.
    pub fn invalidate_end(&self, inv: Invalidation) {
        for id in inv.0 {
            self.vms[id].invalidate_end();
        }
    }

    /// Zap stage-2 entries in every bound VM without an invalidation (only
    /// bug switch `partial_flip` does this: it flips pages one at a time).
    pub fn zap(&self, start: usize, end: usize) {
        for vm in self.vms.iter().filter(|v| v.is_bound()) {
            Vm::zap_locked(&mut vm.mmu_lock.lock(), start, end, Filter::All);
        }
    }

    /// Unbind VM `id` (its `gmem_file` was released).
    pub fn unbind(&self, id: VmId) {
        if let Some(vm) = self.vms.get(id) {
            vm.bound.store(false, Ordering::Release);
        }
    }
}
