//! The conversion ioctl: `KVM_SET_MEMORY_ATTRIBUTES2` on the guest_memfd
//! fd, as the in-place conversion series applied it (v13,
//! lore:20260910-gmem-inplace-conversion-v13-0-dd6fbf94f4e1@google.com;
//! `virt/kvm/guest_memfd.c: kvm_gmem_set_attributes()`,
//! `__kvm_gmem_set_attributes()`), with the design policies at its
//! decision points:
//!
//! 0. -ENOTTY when the module parameter `gmem_in_place_conversion` is off;
//!    validation (-EINVAL) before any lock;
//! 1. invalidate_lock exclusive (blocks host faults and get_pfn);
//! 2. early exit if the whole range already has the attribute;
//! 3. maple-tree preallocation (`kvm_gmem_mas_preallocate()`), which may
//!    fail -ENOMEM with `error_offset = start` (injected here:
//!    [`GuestMemFd::inject_prealloc_failure`]);
//! 4. to-private only: `unmap_mapping_pages()` of the range, then per
//!    present folio (`kvm_gmem_has_outstanding_references()`): busy at once
//!    if `folio_maybe_dma_pinned() || folio_mapped()`, else one staged LRU
//!    drain per call (`lru_cache_drain_for_folio()`) and the refcount check
//!    against `nr_pages + 1` (the walk's own reference); the first busy
//!    folio fails the call -EAGAIN at `max(start, folio->index)`; design
//!    `wait` waits instead;
//! 5. `kvm_gmem_invalidate_start()` in every bound VM with the typed
//!    filter (to-private zaps SHARED stage-2 entries, to-shared PRIVATE);
//! 6. to-shared: `kvm_arch_gmem_make_shared()` on every present folio
//!    (hardware state -> shared) and, design `split`, split whole gigantic
//!    pages; 7. the attribute store (`mas_store_prealloc()`), design `split`
//!    merges all-private gigantic pages; 8. `kvm_gmem_invalidate_end()`;
//! 9. unlock, and only then copy `error_offset` out to userspace (whose
//!    `struct kvm_memory_attributes2` may live in the guest_memfd mapping:
//!    that copy can fault, and the fault takes the invalidate lock shared).
//!
//! Every check precedes the store, so a failed conversion changes nothing.
//! To-shared never looks at refcounts.
//!
//! Design `exclusive_pin` (the RFC) converts by donation instead: see
//! `GuestMemFd::donate` (private; reached through the conversion entry point).

use crate::design::DesignPolicy;
use crate::design::{Bug, BusyPolicy, FolioLayout, PAGE_SIZE};
use crate::errno::{Errno, Error, Result};
use crate::folio::{Folio, Ref};
use crate::gmem::{GuestMemFd, MmId};
use crate::kvm::Filter;
use crate::sched;
use crate::sync::atomic::Ordering;
use crate::sync::{lock, Arc};
use invariants::{Attr, Structure};
use std::time::{Duration, Instant};

/// KVM_MEMORY_ATTRIBUTE_PRIVATE (bit 3).
pub const KVM_MEMORY_ATTRIBUTE_PRIVATE: u64 = 1 << 3;

/// struct kvm_memory_attributes2 (the fields that matter; `reserved` must
/// be zero and is folded into `flags` here).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KvmMemoryAttributes2 {
    /// Byte offset into the file.
    pub offset: u64,
    /// Bytes.
    pub size: u64,
    pub attributes: u64,
    pub flags: u64,
    /// Out: byte offset of the page that made the conversion fail.
    pub error_offset: u64,
}

/// How long restructuring spins on a freeze before giving up (the kernel
/// WARNs and spins forever; only transient references can be in the way).
const FREEZE_SPIN: Duration = Duration::from_secs(2);

/// The validation (all -EINVAL, before any lock; unchanged from v7 to v13): flags/reserved, unsupported attribute,
/// size 0, overflow, unaligned, offset >= file size, end beyond the file.
/// Returns the page range.
pub fn validate_attributes(a: &KvmMemoryAttributes2, file_pages: usize) -> Result<(usize, usize)> {
    let einval = Error::sys(Errno::EINVAL);
    let file_bytes = (file_pages as u64)
        .checked_mul(PAGE_SIZE)
        .ok_or(einval.clone())?;
    if a.flags != 0 || a.attributes & !KVM_MEMORY_ATTRIBUTE_PRIVATE != 0 || a.size == 0 {
        return Err(einval);
    }
    let end = a.offset.checked_add(a.size).ok_or(einval.clone())?;
    if !a.offset.is_multiple_of(PAGE_SIZE)
        || !a.size.is_multiple_of(PAGE_SIZE)
        || a.offset >= file_bytes
        || end > file_bytes
    {
        return Err(einval);
    }
    Ok(((a.offset / PAGE_SIZE) as usize, (end / PAGE_SIZE) as usize))
}

/// Where the ioctl's argument lives, and what its copy-out did.
struct CopyOut {
    buf: Option<(MmId, usize)>,
    done: Option<Result<()>>,
}

/// What the to-private check found on one folio.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Busy {
    Idle,
    /// `folio_maybe_dma_pinned() || folio_mapped()`: busy, no drain.
    PinnedOrMapped,
    /// An unexplained reference (maybe the lru_add batch's).
    Refcount,
}

struct WaitingGuard<'a>(&'a GuestMemFd);
impl Drop for WaitingGuard<'_> {
    fn drop(&mut self) {
        self.0.waiting_converters.fetch_sub(1, Ordering::AcqRel);
    }
}

impl GuestMemFd {
    /// The ioctl with its uAPI struct (byte offsets). On a failure of the
    /// conversion itself (-EAGAIN, -ENOMEM), `error_offset` is set (bytes).
    pub fn set_memory_attributes2(&self, a: &mut KvmMemoryAttributes2) -> Result<()> {
        self.set_memory_attributes2_at(a, None)
    }

    /// As [`Self::set_memory_attributes2`], with the ioctl's argument
    /// living at page `buf.1` of process `buf.0`'s mapping of this very
    /// guest_memfd: the copy-out of `error_offset` is then a host write to
    /// that page (byte model: the failing page index, truncated to a byte),
    /// which faults if the page is not mapped. A copy that cannot complete
    /// (SIGBUS: the page is private) makes the ioctl fail -EFAULT.
    pub fn set_memory_attributes2_at(
        &self,
        a: &mut KvmMemoryAttributes2,
        buf: Option<(MmId, usize)>,
    ) -> Result<()> {
        if let Some((mm, _)) = buf {
            // Misuse (a process that does not exist) changes nothing.
            self.mm(mm)?;
        }
        self.begin_op();
        let mut out = CopyOut { buf, done: None };
        let mut r = self.set_attributes_inner(a, &mut out);
        if let Err(Error::Sys {
            error_index: Some(i),
            errno,
        }) = &r
        {
            if matches!(
                errno,
                Errno::EAGAIN | Errno::ENOMEM | Errno::ETIMEDOUT | Errno::EBUSY
            ) {
                a.error_offset = *i as u64 * PAGE_SIZE;
            }
        }
        if let Some(Err(e)) = out.done {
            r = Err(e);
        }
        self.end_op();
        r
    }

    /// Inject a failure of the next `n` maple-tree preallocations
    /// (`kvm_gmem_mas_preallocate()` returning -ENOMEM): the environment's
    /// choice, as memory pressure would make it. Design `hugetlb`
    /// preallocates per batch (huge page): a failure there leaves the
    /// earlier batches converted.
    pub fn inject_prealloc_failure(&self, n: u32) {
        self.prealloc_failures.fetch_add(n, Ordering::AcqRel);
    }

    /// One byte written to page `page` of process `mm`'s mapping of the
    /// file, faulting it in if needed (the fault's lock acquisition is part
    /// of the step being performed, `conv.copy_out`). -EFAULT if the fault
    /// SIGBUSes; -EDEADLK for the self-deadlock an undriven thread reports.
    fn copy_to_user(&self, mm: MmId, page: usize, v: u8) -> Result<()> {
        let m = self.mm(mm)?;
        if m.vma().is_none_or(|vma| page >= vma.pages) {
            return Err(Error::sys(Errno::EFAULT));
        }
        loop {
            let done = m.with_pte(page, false, |pte| {
                pte.as_ref().map(|pte| {
                    self.record_access(
                        invariants::Accessor::HostCpu { process: m.id },
                        &pte.folio,
                        page,
                        true,
                        None,
                    );
                    pte.folio.write(page, v);
                })
            });
            if done.is_some() {
                return Ok(());
            }
            match self.handle_mm_fault_as(&m, page, Some("conv.copy_out")) {
                Ok(()) => {}
                Err(crate::fault::FaultError::Sigbus) => return Err(Error::sys(Errno::EFAULT)),
                Err(crate::fault::FaultError::SelfDeadlock) => {
                    return Err(Error::sys(Errno::EDEADLK))
                }
            }
        }
    }

    /// The copy-out of `error_offset` (`copy_to_user()` in
    /// `kvm_gmem_set_attributes()`), model step `conv.copy_out`, only
    /// where the argument lives in the guest_memfd mapping.
    fn copy_out(&self, r: &Result<()>, out: &mut CopyOut) {
        let Err(Error::Sys {
            error_index: Some(i),
            ..
        }) = r
        else {
            return;
        };
        let Some((mm, page)) = out.buf else {
            return;
        };
        // copy_to_user(): a user write through the VMM's mapping. The model
        // step `conv.copy_out` writes through a present PTE, or takes the
        // invalidate lock shared for the fault: with no PTE there, the
        // thread counts as waiting for the lock from the moment it is at
        // the step (as the model counts it).
        let unmapped = self.mm(mm).is_ok_and(|m| m.pte_read(page).is_none());
        if unmapped {
            self.invalidate_lock.note_waiting_shared();
        }
        sched::step_point("conv.copy_out", None);
        let res = self.copy_to_user(mm, page, *i as u8);
        self.invalidate_lock.cancel_wait();
        out.done = Some(res);
    }

    /// Convert `nr` pages from `start` to `to` (page units; errors carry
    /// error_offset in pages).
    pub fn convert(&self, start: usize, nr: usize, to: Attr) -> Result<()> {
        let einval = Error::sys(Errno::EINVAL);
        let mut a = KvmMemoryAttributes2 {
            offset: (start as u64)
                .checked_mul(PAGE_SIZE)
                .ok_or(einval.clone())?,
            size: (nr as u64).checked_mul(PAGE_SIZE).ok_or(einval)?,
            attributes: if to == Attr::Private {
                KVM_MEMORY_ATTRIBUTE_PRIVATE
            } else {
                0
            },
            ..Default::default()
        };
        self.set_memory_attributes2(&mut a)
    }

    fn set_attributes_inner(&self, a: &KvmMemoryAttributes2, out: &mut CopyOut) -> Result<()> {
        if !self.cfg.in_place_conversion {
            // kvm_gmem_ioctl(): the ioctl does not exist in this mode.
            return Err(Error::sys(Errno::ENOTTY));
        }
        let (start, end) = validate_attributes(a, self.cfg.nr_pages)?;
        self.check_open()?;
        let to = if a.attributes & KVM_MEMORY_ATTRIBUTE_PRIVATE != 0 {
            Attr::Private
        } else {
            Attr::Shared
        };
        let rec = self.conversion_begin(start, end - start, to);
        let r = if self.cfg.design.exclusive_donation() {
            self.donate(start, end, to, rec)
        } else {
            self.convert_v13(start, end, to, out, rec)
        };
        self.conversion_end(rec, &r);
        r
    }

    /// The range KVM invalidates: huge designs round out to gigantic-page
    /// boundaries so no fault can happen anywhere in a gigantic page while
    /// it is restructured (1G RFC v2 patch 38, docs/kernel.md#hugetlb-rfc-v2).
    pub(crate) fn invalidation_range(&self, start: usize, end: usize) -> (usize, usize) {
        if !self.cfg.design.huge_backed() {
            return (start, end);
        }
        let ppg = self.cfg.pages_per_gigantic;
        (
            start / ppg * ppg,
            end.div_ceil(ppg).saturating_mul(ppg).min(self.cfg.nr_pages),
        )
    }

    fn convert_v13(
        &self,
        start: usize,
        end: usize,
        to: Attr,
        out: &mut CopyOut,
        rec: Option<u64>,
    ) -> Result<()> {
        if to == Attr::Private
            && self.cfg.design.busy_policy() == BusyPolicy::Wait
            && !self.cfg.block_pins_while_waiting
        {
            self.wait_mapped(start, end)?;
        }
        let inv = self.invalidate_lock.write_step("conv.lock");
        self.conversion_entered(rec);
        let r = if self.cfg.design.folio_layout() == FolioLayout::HugetlbBatched {
            self.convert_hugetlb(start, end, to)
        } else {
            self.convert_locked(start, end, to)
        };
        if self.cfg.has(Bug::CopyOutUnderLock) {
            // BUG copy_out_under_lock: error_offset is copied to the user's
            // buffer with the invalidate lock still held; a buffer in the
            // guest_memfd mapping faults, and the fault takes the same lock
            // shared: the thread waits for itself.
            self.copy_out(&r, out);
            self.conversion_left(rec);
            drop(inv);
        } else {
            self.conversion_left(rec);
            drop(inv);
            self.copy_out(&r, out);
        }
        r
    }

    /// Is the stage-2 invalidation of a conversion typed? v13 (designs
    /// `inplace` and `no_direct_map`, [`DesignPolicy::typed_invalidation`])
    /// zaps only the entries of the old type; the other designs encode older
    /// series, which zap every type (and the huge designs fold or split the
    /// folios under every entry of a gigantic page).
    fn conversion_filter(&self, to: Attr) -> Filter {
        if !self.cfg.design.typed_invalidation() {
            return Filter::All;
        }
        let f = Filter::for_conversion(to);
        if self.cfg.has(Bug::ZapWrongFilter) {
            // BUG zap_wrong_filter: the two filters swapped.
            f.swapped()
        } else {
            f
        }
    }

    /// Steps 2-8, under the invalidate lock.
    fn convert_locked(&self, start: usize, end: usize, to: Attr) -> Result<()> {
        if lock(&self.attrs).all_equal(start, end, to) {
            return Ok(());
        }
        if self.cfg.enomem {
            sched::step_point("conv.prealloc", None);
        }
        if self
            .prealloc_failures
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(Error::at(Errno::ENOMEM, start));
        }
        let (istart, iend) = self.invalidation_range(start, end);
        if to == Attr::Private {
            // huge_whole: the folio is the unit of mapping, so unmap all its
            // subpages from every process (Hildenbrand's protocol).
            let (us, ue) = match self.cfg.design.folio_layout() {
                FolioLayout::WholeGigantic => (istart, iend),
                _ => (start, end),
            };
            if self.cfg.has(Bug::CheckBeforeUnmap) {
                // BUG check_before_unmap: the refcount check runs before
                // unmap_mapping_pages(), so it has to tolerate the PTEs'
                // references, and GUP-fast can turn a PTE into a pin after
                // the check (docs/kernel.md#conversion-check, #gup-fast).
                self.check_folios(start, end)?;
                sched::step_point("conv.unmap", None);
                self.unmap_mapping_range(us, ue);
            } else {
                sched::step_point("conv.unmap", None);
                self.unmap_mapping_range(us, ue);
                match self.cfg.design.busy_policy() {
                    BusyPolicy::Fail => self.check_folios(start, end)?,
                    BusyPolicy::Wait => self.wait_folios(start, end, (us, ue))?,
                    BusyPolicy::Unchecked => {}
                }
            }
        }
        // Point of no return.
        sched::step_point("conv.inv_begin", None);
        let inval = self.invalidate_start(istart, iend, self.conversion_filter(to));
        let r = (|| {
            // kvm_arch_gmem_make_shared() on every present folio. BUG
            // no_make_shared skips it: the hardware keeps the pages private
            // while the host may now map them.
            if to == Attr::Shared && self.arch_hooks() && !self.cfg.has(Bug::NoMakeShared) {
                sched::step_point("conv.make_shared", None);
                for f in self.filemap_folios_in(start, end) {
                    f.set_hw(start, end, false);
                }
            }
            if to == Attr::Shared && self.cfg.design.folio_layout() == FolioLayout::SplitOnShare {
                self.split_range(start, end)?;
            }
            sched::step_point("conv.flip", None);
            lock(&self.attrs).store(start, end, to);
            if to == Attr::Private && self.cfg.design.folio_layout() == FolioLayout::SplitOnShare {
                self.merge_range(start, end);
            }
            Ok(())
        })();
        sched::step_point("conv.inv_end", None);
        self.kvm.invalidate_end(inval);
        r
    }

    /// Is `f` at its baseline, counting the caller's one lookup reference
    /// and, with bug `check_before_unmap`, the PTEs still mapping it?
    fn at_baseline_with_lookup(&self, f: &Folio) -> bool {
        let mut expected = f.baseline() + 1;
        if self.cfg.has(Bug::CheckBeforeUnmap) {
            expected += self.ptes_mapping(f) as i64;
        }
        f.folio_ref_count() == expected
    }

    /// How many PTEs, in all processes, map a page of `f` (each holds a
    /// reference on it; special PFNMAP PTEs hold none).
    fn ptes_mapping(&self, f: &Folio) -> usize {
        self.all_mms()
            .iter()
            .flat_map(|m| m.all_ptes())
            .filter(|(i, pte)| f.covers(*i) && !pte.special && std::ptr::eq(&*pte.folio, f))
            .count()
    }

    /// The v13 safety check (step 4, `kvm_gmem_has_outstanding_references()`):
    /// one check per present folio, each a model step `conv.check` (lookup
    /// reference, test, put). A folio that is DMA-pinned or still mapped is
    /// busy at once; otherwise one that may sit in an lru_add batch gets the
    /// call's one drain (step `conv.drain`, `lru_cache_drain_for_folio()`)
    /// and a re-check of its count; busy -> -EAGAIN at
    /// `max(start, folio->index)`.
    ///
    /// BUG partial_flip (v13 checks before its one store,
    /// docs/kernel.md#conversion-ioctl) visits every page of the range in
    /// order instead and flips each free page as it goes, before knowing the
    /// rest of the range is free; -EAGAIN then leaves the range half
    /// converted.
    fn check_folios(&self, start: usize, end: usize) -> Result<()> {
        let flip_each = self.cfg.has(Bug::PartialFlip);
        // The invalidate lock is held: no folio appears in the range meanwhile.
        let points: Vec<(usize, Option<Arc<Folio>>)> = if flip_each {
            (start..end).map(|i| (i, self.filemap_find(i))).collect()
        } else {
            self.filemap_folios_in(start, end)
                .into_iter()
                .map(|f| (start.max(f.index), Some(f)))
                .collect()
        };
        let mut drained = false;
        for (page, f) in points {
            loop {
                sched::step_point("conv.check", Some(page));
                let busy = f.as_ref().map_or(Busy::Idle, |f| self.outstanding(f));
                let Some(f) = f.as_ref().filter(|_| busy != Busy::Idle) else {
                    if flip_each {
                        self.kvm.zap(page, page + 1);
                        lock(&self.attrs).store(page, page + 1, Attr::Private);
                    }
                    break;
                };
                if busy == Busy::Refcount
                    && !drained
                    && f.in_lru_batch.load(Ordering::Acquire)
                    && !self.cfg.has(Bug::NoLruDrain)
                {
                    // BUG no_lru_drain removes this drain
                    // (`lru_cache_drain_for_folio()`, docs/kernel.md#lru-batches).
                    drained = true;
                    sched::step_point("conv.drain", Some(page));
                    self.lru_add_drain_all();
                    continue;
                }
                return Err(Error::at(Errno::EAGAIN, start.max(f.index)));
            }
        }
        Ok(())
    }

    /// `__kvm_gmem_has_outstanding_references()` for one folio, under the
    /// walk's own lookup reference: a DMA-pinned or mapped folio fails at
    /// once, without the drain, whatever its refcount; otherwise one at its
    /// baseline is idle.
    /// With bug switch `check_before_unmap` the PTEs are still there and
    /// their references are tolerated, so there is no fast-fail.
    fn outstanding(&self, f: &Arc<Folio>) -> Busy {
        if !f.try_get(Ref::Transient) {
            return Busy::Idle;
        }
        // Only v13 (designs inplace and no_direct_map) has the
        // pinned-or-mapped fast-fail.
        let fast_fail = self.cfg.design.busy_fast_fail() && !self.cfg.has(Bug::CheckBeforeUnmap);
        let busy = if fast_fail && (f.maybe_dma_pinned() || self.ptes_mapping(f) > 0) {
            // Whatever the refcount says (a PTE without its reference, bug
            // fault_no_ref, is still a mapping).
            Busy::PinnedOrMapped
        } else if self.at_baseline_with_lookup(f) {
            Busy::Idle
        } else {
            Busy::Refcount
        };
        self.folio_put_nowake(f, Ref::Transient);
        busy
    }

    /// Is `f` at baseline (or gone)? The lookup reference is the caller's own.
    fn idle_folio(&self, f: &Arc<Folio>) -> bool {
        if !f.try_get(Ref::Transient) {
            return true;
        }
        let ok = self.at_baseline_with_lookup(f);
        self.folio_put_nowake(f, Ref::Transient);
        ok
    }

    /// Design `wait` (option (a)): with faults blocked and PTEs gone, only
    /// short-term references remain; wait for each present folio in turn
    /// (model step `conv.wait`), woken by every folio put, or give up with
    /// -ETIMEDOUT after the configured timeout (the model waits forever;
    /// replay disables the timeout).
    ///
    /// A host fault that looked the folio up before we took the lock may
    /// install its PTE after our unmap (docs/kernel.md#host-fault, [infer]); v7 sees its
    /// reference and fails, so while PTEs are present in the range we unmap
    /// again instead of sleeping. A folio that may sit in an lru_add batch
    /// gets one `lru_add_drain_all()`.
    ///
    /// No lost wake-up, no busy loop: the wait queue's generation is sampled
    /// (under its mutex) *before* each check, and every other thread's folio
    /// put bumps it (under the mutex) *after* its refcount decrement. A put
    /// the check missed therefore bumps the generation after the sample:
    /// either before we re-take the mutex (we see the change and re-check)
    /// or while we sleep (its notify wakes us). The converter's own lookup
    /// put does not bump it (`idle_folio`), so a round without outside
    /// progress sleeps; an unmap or drain is progress and re-checks at once.
    fn wait_folios(&self, start: usize, end: usize, unmap: (usize, usize)) -> Result<()> {
        let deadline = Instant::now() + self.cfg.wait_timeout;
        let mut guard = None;
        let mut drained = false;
        let m = &self.put_wq.0;
        for f in self.filemap_folios_in(start, end) {
            let page = start.max(f.index);
            let mut blocked = false;
            loop {
                let gen = *lock(m);
                sched::step_point_blocked("conv.wait", Some(page), blocked);
                if self.idle_folio(&f) {
                    break;
                }
                if self.any_pte_in(unmap.0, unmap.1) {
                    self.unmap_mapping_range(unmap.0, unmap.1);
                    blocked = false;
                    continue;
                }
                if !drained
                    && f.in_lru_batch.load(Ordering::Acquire)
                    && !self.cfg.has(Bug::NoLruDrain)
                {
                    drained = true;
                    self.lru_add_drain_all();
                    blocked = false;
                    continue;
                }
                if guard.is_none() {
                    self.waiting_converters.fetch_add(1, Ordering::AcqRel);
                    guard = Some(WaitingGuard(self));
                }
                blocked = true;
                self.sleep_on_puts(gen, deadline, page)?;
            }
        }
        Ok(())
    }

    /// Design `wait`'s variant without blocking pins first: before taking
    /// the invalidate lock, wait for each page's folio to come down to its
    /// baseline plus the references of the PTEs mapping it (model step
    /// `conv.wait_mapped`). Faults and GUP go on meanwhile, so a busy
    /// pinner can keep it waiting forever (gate row
    /// `wait@busy_pinner_unblocked`); -ETIMEDOUT after the configured wait.
    fn wait_mapped(&self, start: usize, end: usize) -> Result<()> {
        let deadline = Instant::now() + self.cfg.wait_timeout;
        let m = &self.put_wq.0;
        for i in start..end {
            let mut blocked = false;
            loop {
                let gen = *lock(m);
                sched::step_point_blocked("conv.wait_mapped", Some(i), blocked);
                let idle = self.filemap_find(i).is_none_or(|f| {
                    !f.frozen()
                        && f.folio_ref_count() == f.baseline() + self.ptes_mapping(&f) as i64
                });
                if idle {
                    break;
                }
                blocked = true;
                self.sleep_on_puts(gen, deadline, i)?;
            }
        }
        Ok(())
    }

    /// Sleep on the put wait queue until a folio put after generation
    /// `gen` was sampled, or -ETIMEDOUT (at `page`) once `deadline` passes.
    /// A thread driven by `sched` does not sleep: the scheduler decides
    /// when it looks again (the model waits forever).
    fn sleep_on_puts(&self, gen: u64, deadline: Instant, page: usize) -> Result<()> {
        if sched::driven() {
            return Ok(());
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(Error::at(Errno::ETIMEDOUT, page));
        }
        let (m, cv) = &self.put_wq;
        let g = lock(m);
        if *g == gen {
            let _ = cv.wait_timeout(g, deadline - now).expect("put_wq poisoned");
        }
        Ok(())
    }

    // ---- restructuring (design split; docs/kernel.md#hugetlb-rfc-v2, #freeze)

    /// A folio folded into another by a split or merge is gone. Frozen, it
    /// holds nothing; not frozen (bug switches), its page-cache references
    /// move to the new folio(s) and whatever else landed stays behind on a
    /// folio that no longer exists.
    pub(crate) fn retire(&self, f: &Arc<Folio>) {
        if !f.frozen() {
            let _ = f.put(Ref::PageCache(f.baseline()));
        }
        self.folio_gone(f);
    }

    fn gigantic_ids_in(&self, start: usize, end: usize) -> Vec<u32> {
        let ppg = self.cfg.pages_per_gigantic;
        let lo = (start / ppg) as u32;
        let hi = ((end.max(1) - 1) / ppg) as u32;
        lock(&self.hugetlb)
            .pages
            .range(lo..=hi)
            .map(|(g, _)| *g)
            .collect()
    }

    /// Split every whole gigantic page overlapping the range: freeze the
    /// large folio at its page-cache count (model step `conv.split_freeze`,
    /// spinning while speculative references are held), then replace it in
    /// the page cache by a 4K folio per subpage (`conv.split_do`).
    fn split_range(&self, start: usize, end: usize) -> Result<()> {
        for g in self.gigantic_ids_in(start, end) {
            let (first, nr, phys) = {
                let mut h = lock(&self.hugetlb);
                let Some(p) = h.pages.get_mut(&g).filter(|p| !p.in_pool && !p.released) else {
                    continue;
                };
                if p.structure != Structure::Whole {
                    continue;
                }
                p.structure = Structure::Splitting;
                (p.first_index, p.nr_pages, p.phys.clone())
            };
            let no_freeze = self.cfg.has(Bug::RestructureNoFreeze);
            if let Some(f) = self.filemap_find(first).filter(|f| f.large) {
                if !Self::restructure_freeze("conv.split_freeze", None, &f, no_freeze) {
                    if let Some(p) = lock(&self.hugetlb).pages.get_mut(&g) {
                        p.structure = Structure::Whole;
                    }
                    return Err(Error::at(Errno::EBUSY, first));
                }
                sched::step_point("conv.split_do", None);
                let mut map = lock(&self.filemap);
                if map.get(&first).is_some_and(|x| Arc::ptr_eq(x, &f)) {
                    map.remove(&first);
                }
                self.retire(&f);
                self.insert_subfolios(&mut map, g, first, 0..nr, phys);
            }
            if let Some(p) = lock(&self.hugetlb).pages.get_mut(&g) {
                p.structure = Structure::Split;
            }
        }
        Ok(())
    }

    /// folio_ref_freeze() of `f` at its baseline for a split or merge, as
    /// the model step `step`: spin while transient references are held and
    /// give up after FREEZE_SPIN (the kernel spins; only transient
    /// references can be in the way); a thread driven by `sched` makes one
    /// attempt per grant instead, re-parking blocked. BUG
    /// restructure_no_freeze (`no_freeze`): only wait until the count
    /// *reads* the baseline, without freezing, so a speculative try-get can
    /// still land before the fold (docs/kernel.md#freeze).
    pub(crate) fn restructure_freeze(
        step: &'static str,
        page: Option<usize>,
        f: &Folio,
        no_freeze: bool,
    ) -> bool {
        let deadline = Instant::now() + FREEZE_SPIN;
        let mut blocked = false;
        loop {
            sched::step_point_blocked(step, page, blocked);
            let done = if no_freeze {
                f.folio_ref_count() == f.baseline()
            } else {
                f.folio_ref_freeze(f.baseline())
            };
            if done {
                return true;
            }
            if !sched::driven() {
                if Instant::now() >= deadline {
                    return false;
                }
                crate::sync::spin_yield();
            }
            blocked = true;
        }
    }

    /// Merge every split gigantic page overlapping the range whose subpages
    /// are now all private: freeze every subfolio at baseline (model step
    /// `conv.merge_freeze`, per subpage), fold them into one large folio
    /// (`conv.merge_fold`). If a freeze cannot succeed the page stays split
    /// (safe; the next to-private retries).
    fn merge_range(&self, start: usize, end: usize) {
        for g in self.gigantic_ids_in(start, end) {
            let (first, nr) = {
                let mut h = lock(&self.hugetlb);
                let Some(p) = h.pages.get_mut(&g).filter(|p| !p.in_pool && !p.released) else {
                    continue;
                };
                if p.structure != Structure::Split
                    || !lock(&self.attrs).all_equal(
                        p.first_index,
                        p.first_index + p.nr_pages,
                        Attr::Private,
                    )
                {
                    continue;
                }
                p.structure = Structure::Merging;
                (p.first_index, p.nr_pages)
            };
            let no_freeze = self.cfg.has(Bug::RestructureNoFreeze);
            if !self.freeze_subfolios(g, first, nr, "conv.merge_freeze", no_freeze) {
                continue;
            }
            sched::step_point("conv.merge_fold", None);
            self.fold_subfolios(g, first, nr);
        }
    }

    /// Freeze every subfolio of gigantic page `g` at its baseline, each a
    /// model step `step` on its page; on failure, unfreeze the frozen ones
    /// and leave the page split.
    pub(crate) fn freeze_subfolios(
        &self,
        g: u32,
        first: usize,
        nr: usize,
        step: &'static str,
        no_freeze: bool,
    ) -> bool {
        let subs = self.filemap_folios_in(first, first + nr);
        let mut frozen: Vec<&Arc<Folio>> = Vec::new();
        for s in &subs {
            if Self::restructure_freeze(step, Some(s.index), s, no_freeze) {
                frozen.push(s);
                continue;
            }
            for s in frozen.iter().filter(|s| s.frozen()) {
                s.folio_ref_unfreeze(s.baseline());
            }
            if let Some(p) = lock(&self.hugetlb).pages.get_mut(&g) {
                p.structure = Structure::Split;
            }
            return false;
        }
        true
    }

    /// Fold the (frozen) subfolios of gigantic page `g` into one large
    /// folio in the page cache; holes (punched subpages) are zeroed.
    pub(crate) fn fold_subfolios(&self, g: u32, first: usize, nr: usize) {
        let subs = self.filemap_folios_in(first, first + nr);
        for s in &subs {
            self.filemap_remove(s);
            self.retire(s);
        }
        let phys = {
            let mut h = lock(&self.hugetlb);
            let Some(p) = h.pages.get_mut(&g) else { return };
            for (s, e, v) in p.populated.ranges_in(0, nr) {
                if !v {
                    p.phys.zero(s, e);
                }
            }
            p.populated.store(0, nr, true);
            p.live_folios += 1;
            p.structure = Structure::Whole;
            p.phys.clone()
        };
        let large = self.new_folio(first, nr, true, Some(g), phys, 0);
        lock(&self.filemap).insert(first, large.clone());
        if self.cfg.design.folio_layout() == FolioLayout::HugetlbBatched {
            // Design hugetlb: stage-2 entries follow their pfns.
            self.follow_pfns(first, nr);
        }
        // A PTE maps a pfn, and the kernel finds its folio through the page
        // (`page_folio()`) when it zaps: from now on that is the large
        // folio. Only a bug switch (a fold without the freeze) leaves PTEs
        // here; their references were counted on the old subfolios, and stay
        // counted there (the ghost bookkeeping moves the holder, so
        // `refcount_conserved` sees both counts go wrong, as the model does).
        for mm in self.all_mms() {
            for (i, pte) in mm.all_ptes() {
                if (first..first + nr).contains(&i) && !Arc::ptr_eq(&pte.folio, &large) {
                    mm.with_pte(i, false, |e| {
                        if let Some(p) = e.as_mut() {
                            if !p.special {
                                p.folio.ghost_move(&large, Ref::Pte);
                            }
                            p.folio = large.clone();
                        }
                    });
                }
            }
        }
    }

    // ---- the exclusive-pin RFC (docs/kernel.md#exclusive-pin-rfc) ---------

    /// Donation: to-private takes an FOLL_PIN|FOLL_LONGTERM|FOLL_EXCLUSIVE
    /// pin on every page (CAS that succeeds only with no pin of any kind),
    /// then marks the range private; the VMM's mapping is kept and FOLL_GET
    /// is not covered. to-shared: unexc (keep one normal pin), then unpin.
    /// [infer] A refused exclusive pin fails the donation with -EBUSY (the
    /// RFC's error for "exclusivity cannot be had", reexc_user_page) at that
    /// page, after undoing the pins already taken (atomic).
    fn donate(&self, start: usize, end: usize, to: Attr, rec: Option<u64>) -> Result<()> {
        if self.thp() {
            return self.donate_thp(start, end, to, rec);
        }
        let _inv = self.invalidate_lock.write();
        self.conversion_entered(rec);
        if lock(&self.attrs).all_equal(start, end, to) {
            return Ok(());
        }
        if to == Attr::Private {
            let mut taken: Vec<(usize, Arc<Folio>)> = Vec::new();
            let ranges = lock(&self.attrs).ranges_in(start, end);
            for (s, e, a) in ranges {
                if a == Attr::Private {
                    continue;
                }
                for i in s..e {
                    let f = match self.get_folio_ref(i, true) {
                        Ok(Some(f)) => f,
                        _ => {
                            self.undo_donation(taken);
                            return Err(Error::at(Errno::ENOMEM, i));
                        }
                    };
                    let ok = f.try_pin_exclusive(true);
                    self.folio_put(&f, Ref::Transient);
                    if !ok {
                        self.undo_donation(taken);
                        return Err(Error::at(Errno::EBUSY, i));
                    }
                    taken.push((i, f));
                }
            }
            let inv = self.invalidate_start(start, end, Filter::All);
            lock(&self.donations).extend(taken);
            lock(&self.attrs).store(start, end, Attr::Private);
            self.kvm.invalidate_end(inv);
        } else {
            let inv = self.invalidate_start(start, end, Filter::All);
            lock(&self.attrs).store(start, end, Attr::Shared);
            let back: Vec<(usize, Arc<Folio>)> = {
                let mut d = lock(&self.donations);
                let keys: Vec<usize> = d.range(start..end).map(|(k, _)| *k).collect();
                keys.into_iter()
                    .filter_map(|k| d.remove(&k).map(|f| (k, f)))
                    .collect()
            };
            for (_, f) in back {
                f.unexc();
                self.folio_put(&f, Ref::Pin);
            }
            self.kvm.invalidate_end(inv);
        }
        Ok(())
    }

    /// Donation on the RFC's anonymous THP, in the model's steps: to-private
    /// GUPs each page through the VMM's mapping (process 0; faulting it in)
    /// with FOLL_EXCLUSIVE (`conv.excl_pin`; the CAS succeeds only with no
    /// pin of any kind on the folio), then stores the attribute
    /// (`conv.flip`); to-shared drops the exclusive bias and the pin
    /// (`conv.unexc`), then stores (`conv.flip`). Refused: -EBUSY, undone.
    fn donate_thp(&self, start: usize, end: usize, to: Attr, rec: Option<u64>) -> Result<()> {
        // No lock: the donation's first step is where it starts to act.
        if to == Attr::Private {
            sched::step_point("conv.excl_pin", None);
            self.conversion_entered(rec);
            let vmm = self.mm(0)?;
            let mut taken: Vec<(usize, Arc<Folio>)> = Vec::new();
            for i in start..end {
                if vmm.pte_read(i).is_none() {
                    let _ = self.handle_mm_fault(&vmm, i);
                }
                let Some(pte) = vmm.pte_read(i) else {
                    self.undo_donation(taken);
                    return Err(Error::at(Errno::EBUSY, i));
                };
                if !pte
                    .folio
                    .try_pin_exclusive(!self.cfg.has(Bug::ExclusiveCasBias))
                {
                    self.undo_donation(taken);
                    return Err(Error::at(Errno::EBUSY, i));
                }
                taken.push((i, pte.folio));
            }
            sched::step_point("conv.flip", None);
            let inv = self.invalidate_start(start, end, Filter::All);
            lock(&self.donations).extend(taken);
            lock(&self.attrs).store(start, end, Attr::Private);
            self.kvm.invalidate_end(inv);
        } else {
            sched::step_point("conv.unexc", None);
            self.conversion_entered(rec);
            let back: Vec<Arc<Folio>> = {
                let mut d = lock(&self.donations);
                let keys: Vec<usize> = d.range(start..end).map(|(k, _)| *k).collect();
                keys.into_iter().filter_map(|k| d.remove(&k)).collect()
            };
            for f in back {
                f.unexc();
                self.folio_put(&f, Ref::Pin);
            }
            sched::step_point("conv.flip", None);
            let inv = self.invalidate_start(start, end, Filter::All);
            lock(&self.attrs).store(start, end, Attr::Shared);
            self.kvm.invalidate_end(inv);
        }
        Ok(())
    }

    fn undo_donation(&self, taken: Vec<(usize, Arc<Folio>)>) {
        for (_, f) in taken {
            f.unexc();
            self.folio_put(&f, Ref::Pin);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(offset: u64, size: u64) -> KvmMemoryAttributes2 {
        KvmMemoryAttributes2 {
            offset,
            size,
            attributes: KVM_MEMORY_ATTRIBUTE_PRIVATE,
            ..Default::default()
        }
    }

    #[test]
    fn einval_cases() {
        let p = PAGE_SIZE;
        let bad =
            |x: KvmMemoryAttributes2| validate_attributes(&x, 4) == Err(Error::sys(Errno::EINVAL));
        assert!(bad(a(0, 0)), "size 0");
        assert!(bad(a(1, p)), "unaligned offset");
        assert!(bad(a(0, p + 1)), "unaligned size");
        assert!(bad(a(u64::MAX - p + 1, 2 * p)), "overflow");
        assert!(bad(a(4 * p, p)), "offset >= file size");
        assert!(bad(a(3 * p, 2 * p)), "end beyond file");
        assert!(
            bad(KvmMemoryAttributes2 {
                flags: 1,
                ..a(0, p)
            }),
            "flags"
        );
        assert!(
            bad(KvmMemoryAttributes2 {
                attributes: 1,
                ..a(0, p)
            }),
            "unsupported attribute"
        );
        assert_eq!(validate_attributes(&a(p, 3 * p), 4), Ok((1, 4)));
    }
}
