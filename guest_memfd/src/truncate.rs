//! fallocate (allocate and PUNCH_HOLE|KEEP_SIZE) and release (close).
//!
//! 4K designs (`kvm_gmem_punch_hole()`, docs/kernel.md#punch): punch takes invalidate_lock exclusive,
//! zaps stage-2, unmaps PTEs and drops the page cache's reference; a pinned
//! folio is *orphaned* (keeps its data for the pinner, no longer the
//! guest's page) and the next access allocates a fresh zeroed folio.
//! Attributes are not changed by truncation.
//!
//! Design split (RFC v2 patch 39, docs/kernel.md#hugetlb-rfc-v2): the punched folios
//! must be at baseline after unmapping, else -EAGAIN ("pages pinned, need
//! merge"); a gigantic page punched whole is merged (freeze at baseline) and
//! returned to the pool; a partial punch zeroes the subpages in place
//! (hugetlbfs semantics) [infer]. On close the merge/return is deferred
//! until the last reference drops.
//!
//! Design hugetlb (the 2026 branch, docs/kernel.md#hugetlb-2026) punches
//! whole huge pages only (an unaligned fallocate() is -EINVAL) and merges
//! them as design split does (`merge_truncate_range(require_merge=true)`:
//! -EAGAIN when a subfolio is referenced); close truncates without merging
//! and the deferred merge returns each gigantic page at its last free.
//!
//! Design huge_whole never splits or merges, so it has no such check: a
//! punch of a whole gigantic page truncates its large folio like a 4K
//! design (orphaned if referenced; the page returns to the pool at the last
//! put), a partial punch zeroes and unmaps that part, the folio stays.
//! The huge designs invalidate stage-2 over whole gigantic pages.

use crate::design::Bug;
use crate::design::DesignPolicy;
use crate::design::{FolioLayout, PAGE_SIZE};
use crate::errno::{Errno, Error, Result};
use crate::folio::{Folio, Ref};
use crate::gmem::GuestMemFd;
use crate::kvm::{Filter, VmId};
use crate::sched;
use crate::sync::atomic::Ordering;
use crate::sync::{lock, Arc};
use invariants::{FolioHome, Structure};

/// vfs_fallocate + kvm_gmem_fallocate argument checks: len > 0, no
/// overflow, page aligned. Returns the page range.
fn validate_fallocate(offset: u64, len: u64) -> Result<(usize, usize)> {
    let einval = Error::sys(Errno::EINVAL);
    if len == 0 || !offset.is_multiple_of(PAGE_SIZE) || !len.is_multiple_of(PAGE_SIZE) {
        return Err(einval);
    }
    let end = offset.checked_add(len).ok_or(einval.clone())?;
    let s = usize::try_from(offset / PAGE_SIZE).map_err(|_| einval.clone())?;
    let e = usize::try_from(end / PAGE_SIZE).map_err(|_| einval)?;
    Ok((s, e))
}

fn pages_to_bytes(start: usize, nr: usize) -> Result<(u64, u64)> {
    let einval = Error::sys(Errno::EINVAL);
    let o = (start as u64)
        .checked_mul(PAGE_SIZE)
        .ok_or(einval.clone())?;
    let l = (nr as u64).checked_mul(PAGE_SIZE).ok_or(einval)?;
    Ok((o, l))
}

impl GuestMemFd {
    /// fallocate(FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE), byte units.
    pub fn punch_hole(&self, offset: u64, len: u64) -> Result<()> {
        self.begin_op();
        let r = (|| {
            let (start, end) = validate_fallocate(offset, len)?;
            self.check_huge_aligned(start, end)?;
            self.check_open()?;
            // Punching at or beyond i_size succeeds and does nothing.
            let end = end.min(self.cfg.nr_pages);
            if start >= end {
                return Ok(());
            }
            let _inv = self.invalidate_lock.write_step("trunc.lock");
            if self.cfg.design.huge_backed() {
                self.punch_huge(start, end)
            } else {
                self.punch_small(start, end);
                Ok(())
            }
        })();
        self.end_op();
        r
    }

    /// Design `hugetlb` (`kvm_gmem_fallocate()` of the 2026 branch): the
    /// range must be aligned to the huge page size, else -EINVAL.
    fn check_huge_aligned(&self, start: usize, end: usize) -> Result<()> {
        let ppg = self.cfg.pages_per_gigantic.max(1);
        if self.cfg.design.folio_layout() == FolioLayout::HugetlbBatched
            && (!start.is_multiple_of(ppg) || !end.is_multiple_of(ppg))
        {
            return Err(Error::sys(Errno::EINVAL));
        }
        Ok(())
    }

    /// Punch `nr` pages from `start`.
    pub fn punch(&self, start: usize, nr: usize) -> Result<()> {
        let (o, l) = pages_to_bytes(start, nr)?;
        self.punch_hole(o, l)
    }

    /// fallocate(mode 0 | KEEP_SIZE): allocate (and zero) the folios.
    /// \[infer\] A range beyond i_size is -EINVAL.
    pub fn fallocate(&self, offset: u64, len: u64) -> Result<()> {
        self.begin_op();
        let r = (|| {
            let (start, end) = validate_fallocate(offset, len)?;
            self.check_huge_aligned(start, end)?;
            self.check_open()?;
            if end > self.cfg.nr_pages {
                return Err(Error::sys(Errno::EINVAL));
            }
            let _inv = self.invalidate_lock.read();
            let mut i = start;
            while i < end {
                let f = self
                    .get_folio_ref(i, true)?
                    .ok_or(Error::sys(Errno::ENOMEM))?;
                let next = (f.index + f.nr_pages).max(i + 1);
                // A large folio covers many indices: mark them populated.
                if f.large {
                    self.mark_range_populated(&f, i, next.min(end));
                }
                self.folio_put(&f, Ref::Transient);
                i = next;
            }
            Ok(())
        })();
        self.end_op();
        r
    }

    /// Allocate `nr` pages from `start`.
    pub fn allocate(&self, start: usize, nr: usize) -> Result<()> {
        let (o, l) = pages_to_bytes(start, nr)?;
        self.fallocate(o, l)
    }

    fn mark_range_populated(&self, f: &Folio, s: usize, e: usize) {
        if let Some(g) = f.gigantic {
            if let Some(p) = lock(&self.hugetlb).pages.get_mut(&g) {
                p.populated
                    .store(s - p.first_index, e - p.first_index, true);
            }
        }
    }

    /// Remove `f` from the page cache (truncate_inode_folio): under the
    /// folio lock, unmap it once more if it is still mapped (a fault may
    /// have been installing a PTE: `truncate_cleanup_folio()` calls
    /// `unmap_mapping_folio()` only `if (folio_mapped(folio))`, so the
    /// interval notifiers do not run a second time for nothing), drop the
    /// page cache's references; a still-referenced folio is orphaned.
    fn truncate_folio(&self, f: &Arc<Folio>) {
        {
            let _l = f.folio_lock();
            self.unmap_if_mapped(f.index, f.index + f.nr_pages);
            self.filemap_remove(f);
            f.set_home(FolioHome::Orphaned);
        }
        self.folio_put(f, Ref::PageCache(f.baseline()));
    }

    /// The second unmap of a truncation, under the folio lock: only where
    /// a PTE is still (or again) present.
    fn unmap_if_mapped(&self, start: usize, end: usize) {
        if self.any_pte_in(start, end) {
            self.unmap_mapping_range(start, end);
        }
    }

    fn punch_small(&self, start: usize, end: usize) {
        sched::step_point("trunc.inv_begin", None);
        let inv = self.kvm.invalidate_start(start, end, Filter::All, false);
        sched::step_point("trunc.truncate", None);
        self.wait_folios_unlocked(start, end);
        self.unmap_mapping_range(start, end);
        for f in self.filemap_folios_in(start, end) {
            self.truncate_folio(&f);
        }
        sched::step_point("trunc.inv_end", None);
        self.kvm.invalidate_end(inv);
    }

    fn punch_huge(&self, start: usize, end: usize) -> Result<()> {
        // A gigantic page is mapped in stage-2 as one huge entry: the
        // invalidation covers every gigantic page the punch touches.
        let (istart, iend) = self.invalidation_range(start, end);
        sched::step_point("trunc.inv_begin", None);
        let inv = self.kvm.invalidate_start(istart, iend, Filter::All, false);
        let r = match self.cfg.design.folio_layout() {
            FolioLayout::WholeGigantic => {
                sched::step_point("trunc.truncate", None);
                self.punch_whole_gigantic(start, end);
                Ok(())
            }
            // Designs split and hugetlb: merge (under frozen subfolios,
            // else -EAGAIN), then truncate, step by step as the model does.
            _ => self.punch_split(start, end),
        };
        sched::step_point("trunc.inv_end", None);
        self.kvm.invalidate_end(inv);
        r
    }

    /// The gigantic pages overlapping `[start, end)` that back the file.
    fn gigantic_backing_in(&self, start: usize, end: usize) -> Vec<(u32, usize, usize, Structure)> {
        let ppg = self.cfg.pages_per_gigantic;
        let lo = (start / ppg) as u32;
        let hi = ((end - 1) / ppg) as u32;
        let h = lock(&self.hugetlb);
        h.pages
            .range(lo..=hi)
            .filter_map(|(g, _)| {
                h.backing(*g)
                    .map(|p| (*g, p.first_index, p.nr_pages, p.structure))
            })
            .collect()
    }

    /// Design huge_whole: the large folio is never split or merged, so no
    /// baseline refcount is needed (RFC v2's -EAGAIN exists for the merge,
    /// docs/kernel.md#hugetlb-rfc-v2). A punch covering a whole gigantic page removes
    /// its large folio from the page cache like a 4K truncation: a
    /// referenced folio is orphaned (keeps its data for the pinner) and the
    /// gigantic page returns to the pool when the last reference drops. A
    /// punch of part of it zeroes that part in place (hugetlbfs) and
    /// unmaps it; the folio stays.
    fn punch_whole_gigantic(&self, start: usize, end: usize) {
        self.unmap_mapping_range(start, end);
        for (g, first, nr, _) in self.gigantic_backing_in(start, end) {
            let (s, e) = (start.max(first), end.min(first + nr));
            if s == first && e == first + nr {
                self.release_gigantic(g, first, nr);
                continue;
            }
            if let Some(f) = self.filemap_find(first) {
                // A fault installing a PTE holds the folio lock: unmap again
                // under it (if it did map), then zero.
                let _l = f.folio_lock();
                self.unmap_if_mapped(s, e);
                f.zero_range(s, e);
            }
            if let Some(p) = lock(&self.hugetlb).pages.get_mut(&g) {
                p.populated.store(s - first, e - first, false);
            }
        }
    }

    /// Design split (RFC v2 patch 39). A gigantic page punched whole is
    /// merged first (model steps `trunc.unmap`, `trunc.check` per subpage:
    /// freeze each subfolio at its baseline, one attempt, else -EAGAIN
    /// "pages pinned, need merge" with nothing changed; `trunc.merge_fold`),
    /// then truncated (`trunc.truncate`): the large folio leaves the page
    /// cache and the page returns to the pool when it is unreferenced. A
    /// partial punch [infer] requires the punched folios at baseline after
    /// unmapping (else -EAGAIN), then truncates the 4K subfolios (split) or
    /// zeroes in place (whole); a gigantic page left without file data is
    /// released. The model punches whole files only.
    fn punch_split(&self, start: usize, end: usize) -> Result<()> {
        let no_check = self.cfg.has(Bug::PunchMergeNoCheck);
        let backing = self.gigantic_backing_in(start, end);
        if backing.is_empty() {
            // Nothing allocated: the truncation finds nothing to remove; its
            // unmap of the range still runs (and with it the interval
            // notifiers), as in the 4K punch.
            sched::step_point("trunc.truncate", None);
            self.unmap_mapping_range(start, end);
            self.wait_folios_unlocked(start, end);
        }
        for (g, first, nr, structure) in backing {
            let (s, e) = (start.max(first), end.min(first + nr));
            if s == first && e == first + nr {
                if structure == Structure::Split {
                    sched::step_point("trunc.unmap", None);
                    self.unmap_mapping_range(first, first + nr);
                    if let Some(p) = lock(&self.hugetlb).pages.get_mut(&g) {
                        p.structure = Structure::Merging;
                    }
                    // BUG punch_merge_no_check (RFC v2 patch 39): merge without
                    // checking that the subfolios are unreferenced.
                    if !no_check {
                        self.freeze_each_once(g, first, nr)?;
                    }
                    sched::step_point("trunc.merge_fold", None);
                    self.fold_subfolios(g, first, nr);
                }
                sched::step_point("trunc.truncate", None);
                self.wait_folios_unlocked(first, first + nr);
                self.unmap_mapping_range(first, first + nr);
                self.release_gigantic(g, first, nr);
                continue;
            }
            // Partial punch.
            self.unmap_mapping_range(s, e);
            for f in self.filemap_folios_in(s, e) {
                if !f.try_get(Ref::Transient) {
                    continue;
                }
                let ok = f.folio_ref_count() == f.baseline() + 1;
                self.folio_put(&f, Ref::Transient);
                if !ok && !no_check {
                    return Err(Error::at(Errno::EAGAIN, s.max(f.index)));
                }
            }
            if structure == Structure::Split {
                for f in self.filemap_folios_in(s, e) {
                    self.truncate_folio(&f);
                }
            } else if let Some(f) = self.filemap_find(first) {
                f.zero_range(s, e);
            }
            let empty = {
                let mut h = lock(&self.hugetlb);
                match h.pages.get_mut(&g) {
                    Some(p) => {
                        p.populated.store(s - first, e - first, false);
                        p.populated.all_equal(0, nr, false)
                    }
                    None => false,
                }
            };
            if empty {
                if structure == Structure::Split {
                    self.freeze_each_once(g, first, nr)?;
                    self.fold_subfolios(g, first, nr);
                }
                self.release_gigantic(g, first, nr);
            }
        }
        Ok(())
    }

    /// Gigantic page `g` no longer backs the file: its folios leave the page
    /// cache (orphaned if still referenced) and it returns to the pool once
    /// none is left. Marked released first, so the last put of a folio
    /// (maybe the truncation's own) hands the page back.
    fn release_gigantic(&self, g: u32, first: usize, nr: usize) {
        if let Some(p) = lock(&self.hugetlb).pages.get_mut(&g) {
            p.released = true;
            p.populated.store(0, nr, false);
        }
        for f in self.filemap_folios_in(first, first + nr) {
            self.truncate_folio(&f);
        }
        lock(&self.hugetlb).maybe_return(g);
    }

    /// The punch's merge check: freeze every subfolio of gigantic page `g`
    /// at its baseline, one attempt each (model step `trunc.check`); on the
    /// first failure unfreeze the others, leave the page split, -EAGAIN.
    fn freeze_each_once(&self, g: u32, first: usize, nr: usize) -> Result<()> {
        let subs = self.filemap_folios_in(first, first + nr);
        for (k, f) in subs.iter().enumerate() {
            sched::step_point("trunc.check", Some(f.index));
            if !f.folio_ref_freeze(f.baseline()) {
                for x in subs[..k].iter().filter(|x| x.frozen()) {
                    x.folio_ref_unfreeze(x.baseline());
                }
                if let Some(p) = lock(&self.hugetlb).pages.get_mut(&g) {
                    p.structure = Structure::Split;
                }
                return Err(Error::at(Errno::EAGAIN, f.index.max(first)));
            }
        }
        Ok(())
    }

    /// truncate_inode_pages_range() locks each folio it removes: as a
    /// driven thread, wait (re-parking at `trunc.truncate`) while a fault
    /// holds the lock of a folio in `[start, end)` from its lookup to its
    /// PTE install (an undriven thread blocks in `folio_lock()` itself).
    fn wait_folios_unlocked(&self, start: usize, end: usize) {
        sched::wait_until("trunc.truncate", None, || {
            self.filemap_folios_in(start, end)
                .iter()
                .all(|f| !f.folio_test_locked())
        });
    }

    /// One VM's guest_memfd file is released (`kvm_gmem_release()`): under
    /// the invalidate lock, that VM's stage-2 entries of every type are
    /// zapped and its binding goes; the memory stays with the inode (other
    /// VMs and the host mapping keep it). Model steps: `trunc.lock` (with
    /// the invalidation of that VM begun), `trunc.release_vm` (the zap),
    /// `trunc.inv_end` (seq++, unbind, unlock).
    pub fn release_vm(&self, vm: VmId) -> Result<()> {
        self.begin_op();
        let r = (|| {
            let v = self
                .kvm
                .vm(vm)
                .ok_or(Error::Misuse(crate::errno::Misuse::UnknownVm(vm)))?;
            self.check_open()?;
            let _inv = self.invalidate_lock.write_step("trunc.lock");
            if !v.is_bound() {
                return Err(Error::sys(Errno::EBADF));
            }
            v.invalidate_begin_only(0, self.cfg.nr_pages);
            sched::step_point("trunc.release_vm", None);
            v.zap(0, self.cfg.nr_pages, Filter::All);
            sched::step_point("trunc.inv_end", None);
            v.invalidate_end();
            self.kvm.unbind(vm);
            Ok(())
        })();
        self.end_op();
        r
    }

    /// Memory failure on file page `index` (`mm/memory-failure.c:
    /// memory_failure()` -> `kvm_gmem_error_folio()`): first the folio is
    /// marked PG_hwpoison and unmapped from every process
    /// (`hwpoison_user_mappings()`); then, as model step `mf.error_folio`,
    /// the invalidate lock is taken shared and every stage-2 type is
    /// invalidated in every bound VM over the folio (start, zap, end in one
    /// step); nothing is truncated (MF_DELAYED).
    /// Later `kvm_gmem_get_pfn()` fails -EHWPOISON and a host fault SIGBUSes.
    /// A page with no folio has no memory to fail: nothing happens.
    pub fn memory_failure(&self, index: usize) -> Result<()> {
        self.begin_op();
        let r = (|| {
            if index >= self.cfg.nr_pages {
                return Err(crate::errno::Misuse::PageOutOfRange {
                    page: index,
                    limit: self.cfg.nr_pages,
                }
                .into());
            }
            self.check_open()?;
            let Some(f) = self.filemap_find(index) else {
                return Ok(());
            };
            f.set_poisoned();
            self.unmap_mapping_range(f.index, f.index + f.nr_pages);
            let _inv = self.invalidate_lock.read_step("mf.error_folio");
            let inv = self
                .kvm
                .invalidate_start(f.index, f.index + f.nr_pages, Filter::All, false);
            self.kvm.invalidate_end(inv);
            Ok(())
        })();
        self.end_op();
        r
    }

    /// The VMM exits: every fd and every host mapping of the file goes
    /// away (kvm_gmem_release: zap KVM mappings). Folios leave the page
    /// cache; pinned ones live on until unpinned, and gigantic pages return
    /// to the pool once nothing of them is referenced.
    pub fn close(&self) -> Result<()> {
        self.begin_op();
        let r = (|| {
            self.check_open()?;
            let _inv = self.invalidate_lock.write_step("trunc.lock");
            sched::step_point("trunc.truncate", None);
            self.wait_folios_unlocked(0, self.cfg.nr_pages);
            // Checked again under the lock: one of two racing closes wins.
            if self.closed.swap(true, Ordering::AcqRel) {
                return Err(Error::sys(Errno::EBADF));
            }
            let n = self.cfg.nr_pages;
            // Every VM's file is released with the VMM.
            let inv = self.kvm.invalidate_start(0, n, Filter::All, false);
            // Lock order is mmap_lock -> invalidate_lock
            // (docs/kernel.md#state-and-locking), so
            // the zap runs under the PTE locks only, like unmap_mapping_range.
            for mm in self.all_mms() {
                for (_, pte) in mm.zap_range(0, usize::MAX / 2) {
                    if !pte.special {
                        self.folio_put(&pte.folio, Ref::Pte);
                    }
                }
                mm.unmap_vma();
            }
            // The VM is gone: KVM gives donated memory back (RFC).
            let donated: Vec<Arc<Folio>> = std::mem::take(&mut *lock(&self.donations))
                .into_values()
                .collect();
            for f in donated {
                f.unexc();
                self.folio_put(&f, Ref::Pin);
            }
            {
                let mut h = lock(&self.hugetlb);
                for p in h.pages.values_mut() {
                    if !p.in_pool {
                        p.released = true;
                    }
                }
            }
            for f in self.filemap_folios_in(0, n) {
                self.truncate_folio(&f);
            }
            {
                let mut h = lock(&self.hugetlb);
                let ids: Vec<u32> = h.pages.keys().copied().collect();
                for g in ids {
                    h.maybe_return(g);
                }
            }
            sched::step_point("trunc.inv_end", None);
            self.kvm.invalidate_end(inv);
            for vm in 0..crate::kvm::MAX_VMS {
                self.kvm.unbind(vm);
            }
            Ok(())
        })();
        self.end_op();
        r
    }
}
