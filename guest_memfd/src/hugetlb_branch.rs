//! Design `hugetlb`: the 2026 guest_memfd HugeTLB branch
//! (`virt/kvm/guest_memfd.c`, `mm/hugetlb_restructuring.c`;
//! docs/kernel.md#hugetlb-2026), in the steps of the model's design
//! `hugetlb` (`model/src/actors/converter.rs`, `host.rs`, `guest.rs`).
//!
//! - The fresh-folio split (`__maybe_split_fresh_folio()`): a fault or
//!   `kvm_gmem_get_pfn()` that took a gigantic page from the pool for a
//!   range that is not all private drops its own reference and, still
//!   under the **shared** invalidate lock, freezes the huge folio at the
//!   page cache's count (spinning while anyone else holds a reference),
//!   splits it to 4K and unfreezes each subfolio.
//! - The conversion (`__kvm_gmem_set_attributes()` -> `kvm_gmem_convert()`):
//!   one huge page per batch under one hold of the invalidate lock.
//!   To-private unmaps the batch's range and requires
//!   `refcount == nr_pages + 1` of each folio (`kvm_gmem_has_safe_refcount()`,
//!   no LRU drain; -EAGAIN at `folio->index`); `kvm_gmem_invalidate_begin()`
//!   over the huge page; to-shared first splits the huge private stage-2
//!   leaves (`kvm_gmem_split_private()`, may fail -ENOMEM) and zaps, then
//!   `kvm_arch_gmem_make_shared()`; the split (freeze,
//!   `hugetlb_vmemmap_restore_folio()` which may fail -ENOMEM, split,
//!   unfreeze) or the merge (freeze every subfolio, merge, unfreeze); the
//!   attribute store; `kvm_gmem_invalidate_end()`. Bug switch
//!   `store_after_inv_end` is the branch's own order: the window ends
//!   before the restructure and the store. A failure in batch k leaves the
//!   batches before k converted.
//! - Stage-2 maps a huge leaf only when the folio `kvm_gmem_get_pfn()`
//!   returned is huge and `kvm_gmem_mapping_order()` finds the huge page's
//!   whole range private (bug switch `huge_map_mixed`: from the faulting
//!   index, as the branch's code does); entries follow their pfn across a
//!   split or merge.

use crate::design::Bug;
use crate::errno::{Errno, Error, Result};
use crate::folio::{Folio, Ref};
use crate::gmem::GuestMemFd;
use crate::kvm::{Filter, S2Entry};
use crate::sched;
use crate::sync::atomic::Ordering;
use crate::sync::{lock, Arc};
use invariants::{Attr, FolioHome, Structure};

impl GuestMemFd {
    /// Inject failures of the next `n` allocations of design `hugetlb`'s
    /// conversions: the stage-2 split of `kvm_gmem_split_private()` and
    /// `hugetlb_vmemmap_restore_folio()` of a folio split each take one
    /// (-ENOMEM, `error_offset` = the batch's start). Other designs make no
    /// such allocation and never take them.
    pub fn inject_alloc_failure(&self, n: u32) {
        self.alloc_failures.fetch_add(n, Ordering::AcqRel);
    }

    /// Does the allocation being made now fail (an injected failure)?
    fn take_alloc_failure(&self) -> bool {
        self.alloc_failures
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            .is_ok()
    }

    /// Does the maple-tree preallocation of this batch fail (an injected
    /// `fail_prealloc`)? Not a step of the model, which leaves that
    /// failure to the v13 rows.
    fn take_prealloc_failure(&self) -> bool {
        self.prealloc_failures
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            .is_ok()
    }

    /// First page, page count and memory of gigantic page `g`, if it backs
    /// the file, with its structure.
    fn gigantic_backing(&self, g: u32) -> Option<(usize, usize, Structure)> {
        lock(&self.hugetlb)
            .backing(g)
            .map(|p| (p.first_index, p.nr_pages, p.structure))
    }

    fn set_structure(&self, g: u32, s: Structure) {
        if let Some(p) = lock(&self.hugetlb).pages.get_mut(&g) {
            p.structure = s;
        }
    }

    /// Stage-2 maps pfns: once the folios of `[first, first + nr)` were
    /// split or merged, every VM's entries there name the folio backing
    /// their pfn now (the model's `mm::restage2`).
    pub(crate) fn follow_pfns(&self, first: usize, nr: usize) {
        let backing: Vec<(usize, Arc<Folio>)> = (first..first + nr)
            .filter_map(|i| self.filemap_find(i).map(|f| (i, f)))
            .collect();
        self.kvm.follow_pfns(&backing);
    }

    /// Replace gigantic page `g`'s (frozen) whole folio `f` in the page
    /// cache by one 4K folio per subpage, each at the page cache's count
    /// (`gmem_hugetlb_restructure_folio()` to order 0); stage-2 entries
    /// follow their pfns.
    fn split_whole(&self, g: u32, f: &Arc<Folio>) {
        let Some((first, nr, phys)) = lock(&self.hugetlb)
            .pages
            .get(&g)
            .map(|p| (p.first_index, p.nr_pages, p.phys.clone()))
        else {
            return;
        };
        {
            let mut map = lock(&self.filemap);
            if map.get(&first).is_some_and(|x| Arc::ptr_eq(x, f)) {
                map.remove(&first);
            }
            self.retire(f);
            self.insert_subfolios(&mut map, g, first, 0..nr, phys);
        }
        self.set_structure(g, Structure::Split);
        self.follow_pfns(first, nr);
    }

    /// `__maybe_split_fresh_folio()` of gigantic page `g`, as model step
    /// `step` (`fault.fresh_split`, `guest.fresh_split`): the caller holds
    /// the invalidate lock shared and no reference. Freeze the huge folio
    /// at the page cache's count, one attempt per step (spinning, as the
    /// kernel does with a WARN: only transient references can be in the
    /// way, a fault's on its way to SIGBUS or a PFN walker's), then split.
    pub(crate) fn split_fresh(&self, g: u32, step: &'static str) {
        let Some((first, _, Structure::Splitting)) = self.gigantic_backing(g) else {
            return;
        };
        let Some(f) = self.filemap_find(first).filter(|f| f.large) else {
            return;
        };
        let mut blocked = false;
        loop {
            sched::step_point_blocked(step, None, blocked);
            if f.folio_ref_freeze(f.baseline()) {
                break;
            }
            if !sched::driven() {
                crate::sync::spin_yield();
            }
            blocked = true;
        }
        self.split_whole(g, &f);
    }

    /// The conversion of design `hugetlb` under the invalidate lock (taken
    /// by the caller as step `conv.lock`): the early exit, then one batch
    /// per huge page; the first failing batch ends the call.
    pub(crate) fn convert_hugetlb(&self, start: usize, end: usize, to: Attr) -> Result<()> {
        if lock(&self.attrs).all_equal(start, end, to) {
            return Ok(());
        }
        let ppg = self.cfg.pages_per_gigantic;
        let mut g = start / ppg;
        while g * ppg < end {
            let (glo, ghi) = (g * ppg, ((g + 1) * ppg).min(self.cfg.nr_pages));
            self.convert_batch(g as u32, (glo, ghi), (start.max(glo), end.min(ghi)), to)?;
            g += 1;
        }
        Ok(())
    }

    /// `kvm_gmem_has_safe_refcount()` for one folio, under the walk's own
    /// lookup reference: `refcount == nr_pages + 1`; a frozen folio is not
    /// safe.
    fn has_safe_refcount(&self, f: &Arc<Folio>) -> bool {
        if !f.try_get(Ref::Transient) {
            return false;
        }
        let ok = f.folio_ref_count() == f.baseline() + 1;
        self.folio_put_nowake(f, Ref::Transient);
        ok
    }

    /// `kvm_gmem_convert()` of the pages `[lo, hi)` of gigantic page `g`
    /// (`[glo, ghi)`).
    fn convert_batch(
        &self,
        g: u32,
        (glo, ghi): (usize, usize),
        (lo, hi): (usize, usize),
        to: Attr,
    ) -> Result<()> {
        if self.take_prealloc_failure() {
            return Err(Error::at(Errno::ENOMEM, lo));
        }
        if to == Attr::Private {
            sched::step_point("conv.unmap", None);
            self.unmap_mapping_range(lo, hi);
            for f in self.filemap_folios_in(lo, hi) {
                sched::step_point("conv.check", Some(lo.max(f.index)));
                if !self.has_safe_refcount(&f) {
                    return Err(Error::at(Errno::EAGAIN, f.index));
                }
            }
        }
        // Point of no return for this batch.
        sched::step_point("conv.inv_begin", None);
        let one = self.cfg.has(Bug::InvalidateOneBinding);
        let mut inv = Some(self.kvm.invalidate_begin(glo, ghi, one));
        let r = (|| -> Result<()> {
            let Some(open) = inv.as_ref() else {
                return Ok(());
            };
            let covered = self.kvm.covered(open);
            if to == Attr::Shared && covered.iter().any(|v| v.has_huge_leaf(glo, ghi)) {
                // kvm_gmem_split_private(): the stage-2 split allocates.
                sched::step_point("conv.s2_split", None);
                if self.take_alloc_failure() {
                    return Err(Error::at(Errno::ENOMEM, lo));
                }
                for v in &covered {
                    v.split_huge_leaves(glo, ghi);
                }
            }
            // kvm_gmem_zap(): v13's typed filter, over the batch's range.
            let mut filter = Filter::for_conversion(to);
            if self.cfg.has(Bug::ZapWrongFilter) {
                filter = filter.swapped();
            }
            for v in &covered {
                v.zap(lo, hi, filter);
            }
            if to == Attr::Shared && !self.cfg.has(Bug::NoMakeShared) {
                sched::step_point("conv.make_shared", None);
                for f in self.filemap_folios_in(lo, hi) {
                    f.set_hw(lo, hi, false);
                }
            }
            if self.cfg.has(Bug::StoreAfterInvEnd) {
                // BUG store_after_inv_end, the branch's order: the window
                // ends before the restructure and mas_store_prealloc(), so
                // a vCPU that snapshots mmu_invalidate_seq now reads the
                // old attribute and nothing makes it retry.
                sched::step_point("conv.inv_end", None);
                if let Some(i) = inv.take() {
                    self.kvm.invalidate_end(i);
                }
            }
            self.restructure_batch(g, (glo, ghi), (lo, hi), to)?;
            sched::step_point("conv.flip", None);
            lock(&self.attrs).store(lo, hi, to);
            Ok(())
        })();
        if let Some(i) = inv {
            sched::step_point("conv.inv_end", None);
            self.kvm.invalidate_end(i);
        }
        r
    }

    /// `kvm_gmem_restructure()` of one batch: split gigantic page `g` when
    /// converting to shared and it is whole, merge it when converting to
    /// private and every subpage outside `[lo, hi)` is private already.
    fn restructure_batch(
        &self,
        g: u32,
        (glo, ghi): (usize, usize),
        (lo, hi): (usize, usize),
        to: Attr,
    ) -> Result<()> {
        let Some((first, nr, structure)) = self.gigantic_backing(g) else {
            return Ok(());
        };
        let no_freeze = self.cfg.has(Bug::RestructureNoFreeze);
        match (to, structure) {
            (Attr::Shared, Structure::Whole) => {
                let Some(f) = self.filemap_find(first).filter(|f| f.large) else {
                    return Ok(());
                };
                self.set_structure(g, Structure::Splitting);
                // BUG restructure_no_freeze: wait for the count to read the
                // page cache's, without freezing it (docs/kernel.md#freeze).
                if !Self::restructure_freeze("conv.split_freeze", None, &f, no_freeze) {
                    // Only an undriven thread gives up (the kernel spins).
                    self.set_structure(g, Structure::Whole);
                    return Err(Error::at(Errno::EBUSY, lo));
                }
                sched::step_point("conv.split_do", None);
                if self.take_alloc_failure() {
                    // hugetlb_vmemmap_restore_folio() failed: the folio is
                    // unfrozen whole; this batch stores nothing.
                    if f.frozen() {
                        f.folio_ref_unfreeze(f.baseline());
                    }
                    self.set_structure(g, Structure::Whole);
                    return Err(Error::at(Errno::ENOMEM, lo));
                }
                self.split_whole(g, &f);
            }
            (Attr::Private, Structure::Split) => {
                let rest_private = {
                    let a = lock(&self.attrs);
                    (glo..ghi).all(|j| (lo..hi).contains(&j) || a.get(j) == Some(Attr::Private))
                };
                if !rest_private {
                    return Ok(());
                }
                self.set_structure(g, Structure::Merging);
                if self.freeze_subfolios(g, first, nr, "conv.merge_freeze", no_freeze) {
                    sched::step_point("conv.merge_fold", None);
                    self.fold_subfolios(g, first, nr);
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// The stage-2 install of page `index` for a vCPU fault of type `ty`
    /// whose `kvm_gmem_get_pfn()` returned folio `f`: the leaf entries to
    /// write. Huge when get_pfn's `max_order` (the folio is still one huge
    /// folio) and `kvm_gmem_mapping_order()` (the huge page's whole range
    /// private, read without the lock) allow it; the leaf then maps every
    /// subpage of the huge page. Each entry names the folio backing its pfn
    /// now (a fresh split since get_pfn moved no pfn).
    pub(crate) fn hugetlb_leaf(
        &self,
        index: usize,
        f: &Arc<Folio>,
        ty: Attr,
    ) -> Vec<(usize, S2Entry)> {
        let ppg = self.cfg.pages_per_gigantic;
        let n = self.cfg.nr_pages;
        let glo = index / ppg * ppg;
        let ghi = (glo + ppg).min(n);
        // kvm_gmem_mapping_order(): kvm_gmem_range_has_attributes() from
        // `index_floor`; BUG huge_map_mixed checks from the faulting
        // `index`, as the branch's code does (it computes `index_floor` and
        // leaves it unused), which crosses into the next huge page.
        let (mlo, mhi) = if self.cfg.has(Bug::HugeMapMixed) {
            (index, (index + ppg).min(n))
        } else {
            (glo, ghi)
        };
        let order_ok = lock(&self.attrs).all_equal(mlo, mhi, Attr::Private);
        let still_huge = f.large
            && !f.freed()
            && matches!(f.home(), FolioHome::PageCache(_) | FolioHome::Orphaned);
        let pfn = |j: usize| self.filemap_find(j).unwrap_or_else(|| f.clone());
        if ty == Attr::Private && still_huge && order_ok {
            (glo..ghi)
                .map(|j| {
                    (
                        j,
                        S2Entry {
                            folio: pfn(j),
                            ty: Attr::Private,
                            huge: Some((glo, ghi)),
                        },
                    )
                })
                .collect()
        } else {
            vec![(index, S2Entry::leaf(pfn(index), ty))]
        }
    }
}
