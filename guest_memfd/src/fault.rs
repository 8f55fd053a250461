//! Memory accesses and the two fault paths.
//!
//! Host: a CPU access goes through the PTE (taken under the PTE lock, so a
//! zap + TLB flush is atomic with respect to it); a miss runs
//! `kvm_gmem_fault_user_mapping` (docs/kernel.md#host-fault): under mmap_lock and
//! invalidate_lock *shared*, SIGBUS beyond i_size or on a private index,
//! otherwise look up / create the folio (locked, +1 reference); drop the
//! invalidate lock; install the PTE (the fault's reference becomes the PTE's).
//!
//! Guest (one vCPU of VM `vm`): snapshot that VM's mmu_invalidate_seq ->
//! compare the access type with the attribute, read locklessly
//! (`kvm_gmem_is_private_gfn()`; mismatch = KVM_EXIT_MEMORY_FAULT) ->
//! `kvm_gmem_get_pfn()` under invalidate_lock shared: -EHWPOISON on a
//! poisoned folio, lazy `kvm_arch_gmem_make_private()` when the index is
//! private, and the folio reference dropped before it returns (v13) -> under
//! the VM's mmu_lock, `mmu_invalidate_retry_gfn()` -> install the stage-2
//! entry (`arch/x86/kvm/mmu/mmu.c: kvm_mmu_faultin_pfn()`,
//! `kvm_tdp_mmu_map()`).

use crate::design::Bug;
use crate::design::DesignPolicy;
use crate::errno::{AccessOutcome, Errno, Error, Misuse, Result};
use crate::folio::{Folio, Ref};
use crate::gmem::{GuestMemFd, MmId};
use crate::kvm::{S2Entry, VmId};
use crate::mm::{Mm, Pte};
use crate::sched;
use crate::sync::atomic::{fence, Ordering};
use crate::sync::{lock, Arc};
use invariants::{Accessor, Attr};

/// Why a host fault did not install a PTE.
pub(crate) enum FaultError {
    Sigbus,
    /// The faulting thread holds the invalidate lock exclusive itself (bug
    /// switch `copy_out_under_lock`): the kernel would wait forever; an
    /// undriven thread reports it instead (a driven one stays parked).
    SelfDeadlock,
}

impl GuestMemFd {
    /// A host CPU read (`write == None`) or write of one page through
    /// process `mm`'s mapping of the file.
    pub fn host_access(&self, mm: MmId, index: usize, write: Option<u8>) -> Result<AccessOutcome> {
        self.begin_op();
        let r = self.host_access_inner(mm, index, write);
        self.end_op();
        r
    }

    pub fn host_read(&self, mm: MmId, index: usize) -> Result<AccessOutcome> {
        self.host_access(mm, index, None)
    }

    pub fn host_write(&self, mm: MmId, index: usize, v: u8) -> Result<AccessOutcome> {
        self.host_access(mm, index, Some(v))
    }

    pub(crate) fn host_access_inner(
        &self,
        mm: MmId,
        index: usize,
        write: Option<u8>,
    ) -> Result<AccessOutcome> {
        let mm = self.mm(mm)?;
        self.check_open()?;
        let Some(vma) = mm.vma() else {
            // No MMAP flag: mmap() of the file failed with -ENODEV
            // (guest_memfd_test mmap_not_supported).
            return Err(Error::sys(crate::errno::Errno::ENODEV));
        };
        if index >= vma.pages {
            return Err(Misuse::PageOutOfRange {
                page: index,
                limit: vma.pages,
            }
            .into());
        }
        loop {
            let hit = mm.with_pte(index, false, |pte| {
                pte.as_ref()
                    .map(|pte| self.access_through_pte(&mm, pte, index, write))
            });
            if let Some(out) = hit {
                return Ok(out);
            }
            match self.handle_mm_fault(&mm, index) {
                Ok(()) => {}
                Err(FaultError::Sigbus) => return Ok(AccessOutcome::Sigbus),
                Err(FaultError::SelfDeadlock) => return Err(Error::sys(Errno::EDEADLK)),
            }
        }
    }

    /// The CPU access itself, under the PTE lock.
    fn access_through_pte(
        &self,
        mm: &Mm,
        pte: &Pte,
        index: usize,
        write: Option<u8>,
    ) -> AccessOutcome {
        if self.cfg.design.exclusive_donation() && self.attr_at(index) == Attr::Private {
            // The RFC keeps the VMM's PTE on donated memory; the access is
            // stopped by pKVM's host stage-2 and surfaces as SIGBUS.
            return AccessOutcome::Sigbus;
        }
        let f = &pte.folio;
        self.record_access(
            Accessor::HostCpu { process: mm.id },
            f,
            index,
            write.is_some(),
            None,
        );
        match write {
            Some(v) => {
                f.write(index, v);
                AccessOutcome::Value(v)
            }
            None => AccessOutcome::Value(f.read(index)),
        }
    }

    /// handle_mm_fault on a guest_memfd VMA.
    pub(crate) fn handle_mm_fault(
        &self,
        mm: &Arc<Mm>,
        index: usize,
    ) -> std::result::Result<(), FaultError> {
        self.handle_mm_fault_as(mm, index, None)
    }

    /// The fault path; `lock_now` names the step, already granted, whose
    /// own work the invalidate-lock acquisition is (the copy-out of
    /// `error_offset`): it is tried at once and a refusal parks there.
    /// Otherwise the acquisition is its own step, `fault.lock_inv`.
    pub(crate) fn handle_mm_fault_as(
        &self,
        mm: &Arc<Mm>,
        index: usize,
        lock_now: Option<&'static str>,
    ) -> std::result::Result<(), FaultError> {
        let _mmap = mm.mmap_lock.read();
        if index >= self.cfg.nr_pages || self.is_closed() {
            return Err(FaultError::Sigbus);
        }
        if self.thp() {
            return self.anon_fault(mm, index);
        }
        if !sched::driven() && self.invalidate_lock.held_exclusive_by_me() {
            // The kernel's rwsem would block this thread for good; a
            // driven thread parks blocked at `fault.lock_inv` instead (the
            // lock tracker shows the cycle), an undriven one reports it.
            lock(&self.self_deadlocks).push(format!(
                "a fault on page {index} waits for the invalidate lock its own thread holds"
            ));
            return Err(FaultError::SelfDeadlock);
        }
        let inv = match lock_now {
            Some(step) => self.invalidate_lock.read_now(step),
            None => self.invalidate_lock.read_step("fault.lock_inv"),
        };
        sched::step_point("fault.lookup", None);
        // The RFC design uses ordinary shmem, whose fault path knows nothing
        // about donation. The attribute comes first: a private index
        // SIGBUSes before kvm_gmem_get_folio() is called.
        if !self.cfg.design.exclusive_donation() && self.attr_at(index) == Attr::Private {
            return Err(FaultError::Sigbus);
        }
        // kvm_gmem_get_folio() locks the folio: it sleeps (still holding the
        // invalidate lock) while another fault holds the folio lock, and
        // filemap_lock_folio()'s folio_try_get() retries while the folio is
        // frozen (design hugetlb: another fault is splitting it).
        sched::wait_until("fault.lookup", None, || {
            self.filemap_find(index)
                .is_none_or(|f| !f.folio_test_locked() && !f.frozen())
        });
        let folio = match self.get_folio_ref_fresh(index, true) {
            Ok(Some((f, None))) => f,
            Ok(Some((f, Some(g)))) => {
                // Design hugetlb, __maybe_split_fresh_folio(): the fresh
                // huge folio's range is not all private. Still under the
                // shared lock: unlock it, drop our reference, split it
                // (step `fault.fresh_split`), then take our subfolio.
                self.folio_put(&f, Ref::Transient);
                self.split_fresh(g, "fault.fresh_split");
                match self.get_folio_ref(index, false) {
                    Ok(Some(f)) => f,
                    _ => return Err(FaultError::Sigbus),
                }
            }
            _ => return Err(FaultError::Sigbus),
        };
        if folio.poisoned() {
            // __do_fault(): a hwpoisoned page is VM_FAULT_HWPOISON (SIGBUS).
            self.folio_put(&folio, Ref::Transient);
            return Err(FaultError::Sigbus);
        }
        if self.cfg.design.special_ptes() {
            // VM_PFNMAP: the ->fault handler inserts the PFN itself
            // (vmf_insert_pfn) while still under invalidate_lock, and the
            // PTE holds no reference.
            sched::step_point("fault.install_locked", None);
            mm.with_pte(index, true, |e| {
                if e.is_none() {
                    *e = Some(Pte {
                        folio: folio.clone(),
                        special: true,
                    });
                }
            });
            drop(inv);
            self.folio_put(&folio, Ref::Transient);
            return Ok(());
        }
        // The folio stays locked from lookup until the PTE is installed, so
        // truncation (which locks the folio) cannot remove it in between.
        let folio_lock = folio.folio_lock();
        drop(inv);
        let no_ref = self.cfg.has(Bug::FaultNoRef);
        if no_ref {
            // BUG fault_no_ref (docs/kernel.md#host-fault): the lookup reference is
            // dropped before the PTE is installed, so the PTE maps the folio
            // without holding a reference on it.
            self.folio_put(&folio, Ref::Transient);
        }
        // [infer, docs/kernel.md#host-fault] finish_fault installs the PTE after the
        // invalidate lock is dropped; a concurrent to-private sees this
        // fault's reference in its refcount check.
        sched::step_point("fault.install", None);
        if folio.large && self.cfg.design == crate::design::Design::Hugetlb {
            // kvm_gmem_fault_user_mapping() of the 2026 branch:
            // WARN_ON_ONCE(folio_test_large(folio)) -> VM_FAULT_SIGBUS,
            // folio_unlock(), folio_put(). A fault that found another
            // fault's fresh huge folio before its split lands here.
            drop(folio_lock);
            if !no_ref {
                self.folio_put(&folio, Ref::Transient);
            }
            return Err(FaultError::Sigbus);
        }
        let installed = Self::install_pte(mm, index, &folio);
        match (installed, no_ref) {
            (true, false) => folio.transfer(Ref::Transient, Ref::Pte),
            (true, true) => folio.ghost_uncounted(Ref::Pte),
            (false, false) => self.folio_put(&folio, Ref::Transient),
            (false, true) => {}
        }
        drop(folio_lock);
        Ok(())
    }

    /// finish_fault(): install a PTE mapping `folio` at `index` unless one
    /// is there already. Returns whether it did.
    fn install_pte(mm: &Mm, index: usize, folio: &Arc<crate::folio::Folio>) -> bool {
        mm.with_pte(index, true, |e| {
            if e.is_none() {
                *e = Some(Pte {
                    folio: folio.clone(),
                    special: false,
                });
                true
            } else {
                false
            }
        })
    }

    /// An anonymous fault (design exclusive_pin on a THP): the folio is
    /// looked up or allocated and the PTE installed in one step, with no
    /// guest_memfd lock (the RFC's memory is ordinary memory).
    fn anon_fault(&self, mm: &Arc<Mm>, index: usize) -> std::result::Result<(), FaultError> {
        let folio = match self.get_folio_ref(index, true) {
            Ok(Some(f)) => f,
            _ => return Err(FaultError::Sigbus),
        };
        let installed = Self::install_pte(mm, index, &folio);
        if installed {
            folio.transfer(Ref::Transient, Ref::Pte);
        } else {
            self.folio_put(&folio, Ref::Transient);
        }
        Ok(())
    }

    /// madvise(MADV_DONTNEED) of one page in process `mm`.
    pub fn madvise_dontneed(&self, mm: MmId, index: usize) -> Result<()> {
        self.begin_op();
        let r = (|| {
            let m = self.mm(mm)?;
            let limit = m.vma().map(|v| v.pages).unwrap_or(self.cfg.map_pages);
            if index >= limit {
                return Err(Misuse::PageOutOfRange { page: index, limit }.into());
            }
            let _mmap = m.mmap_lock.read();
            for (_, pte) in m.zap_range(index, index + 1) {
                if !pte.special {
                    self.folio_put(&pte.folio, Ref::Pte);
                }
            }
            Ok(())
        })();
        self.end_op();
        r
    }

    /// fork(): the child gets the parent's VMA. Shared file mappings do not
    /// copy PTEs (they refault; `vma_needs_copy`), except VM_PFNMAP ones,
    /// which are copied (special, no references).
    pub fn fork(&self, parent: MmId) -> Result<MmId> {
        self.begin_op();
        let r = (|| {
            let p = self.mm(parent)?;
            let _mmap = p.mmap_lock.write();
            let vma = p.vma();
            let child = self.add_mm(vma)?;
            if vma.is_some_and(|v| v.pfnmap) {
                let c = self.mm(child)?;
                for (i, pte) in p.all_ptes() {
                    c.with_pte(i, true, |e| *e = Some(pte.clone()));
                }
            }
            Ok(child)
        })();
        self.end_op();
        r
    }

    /// A guest (vCPU) access to gfn `index` in VM 0. `access` is the fault
    /// type the guest uses (private or shared GPA); by default the page's
    /// current attribute.
    pub fn guest_access(
        &self,
        index: usize,
        access: Option<Attr>,
        write: Option<u8>,
    ) -> Result<AccessOutcome> {
        self.guest_access_vm(0, index, access, write)
    }

    /// A vCPU of VM `vm` accessing gfn `index` (see [`Self::guest_access`]).
    /// A VM whose file was released has no binding: -EFAULT from
    /// `kvm_gmem_get_pfn()`; a poisoned folio: -EHWPOISON.
    pub fn guest_access_vm(
        &self,
        vm: VmId,
        index: usize,
        access: Option<Attr>,
        write: Option<u8>,
    ) -> Result<AccessOutcome> {
        self.begin_op();
        let r = self.guest_access_inner(vm, index, access, write);
        self.end_op();
        r
    }

    fn guest_access_inner(
        &self,
        vm: VmId,
        index: usize,
        access: Option<Attr>,
        write: Option<u8>,
    ) -> Result<AccessOutcome> {
        let v = self.kvm.vm(vm).ok_or(Misuse::UnknownVm(vm))?;
        if index >= self.cfg.nr_pages {
            return Err(Misuse::PageOutOfRange {
                page: index,
                limit: self.cfg.nr_pages,
            }
            .into());
        }
        self.check_open()?;
        let ty = access.unwrap_or_else(|| self.attr_at(index));
        loop {
            // TLB/stage-2 hit: the access happens under mmu_lock so that a
            // zap + remote TLB flush is atomic with respect to it.
            {
                let s2 = v.mmu_lock.lock();
                if let Some(e) = s2.entries.get(&index) {
                    if e.ty == ty {
                        let f = e.folio.clone();
                        self.record_access(Accessor::Guest, &f, index, write.is_some(), Some(ty));
                        return Ok(match write {
                            Some(val) => {
                                f.write(index, val);
                                AccessOutcome::Value(val)
                            }
                            None => AccessOutcome::Value(f.read(index)),
                        });
                    }
                }
            }
            // Stage-2 fault. Snapshot the sequence *before* the attribute
            // check (mainline 44f42ef37deb, "KVM: x86/mmu: Check for
            // invalidation... after the mmu_invalidate_seq snapshot"). BUG
            // guest_check_before_seq checks the attribute first, so a
            // conversion that completes in between goes unnoticed.
            let bug = self.cfg.has(Bug::GuestCheckBeforeSeq);
            let mut seq = 0;
            if !bug {
                sched::step_point("guest.snapshot", None);
                seq = v.mmu_invalidate_seq.load(Ordering::Acquire);
                fence(Ordering::Acquire); // smp_rmb
            }
            sched::step_point("guest.check_attr", None);
            if self.attr_at(index) != ty {
                return Ok(AccessOutcome::MemoryFault);
            }
            if bug {
                sched::step_point("guest.snapshot", None);
                seq = v.mmu_invalidate_seq.load(Ordering::Acquire);
                fence(Ordering::Acquire);
            }
            let folio = self.get_pfn(v, index)?;
            let Some(folio) = folio else {
                return Ok(AccessOutcome::MemoryFault);
            };
            // No reference is held here: only the retry check under
            // mmu_lock keeps a folio truncated since from being mapped.
            sched::step_point("guest.install", None);
            let retry = {
                let mut s2 = v.mmu_lock.lock();
                // BUG install_no_retry: no mmu_invalidate_retry_gfn().
                if !self.cfg.has(Bug::InstallNoRetry) && v.retry_gfn(&s2, index, seq) {
                    true
                } else {
                    // Design hugetlb: the leaf may be huge, and each entry
                    // names the folio backing its pfn now, read under
                    // mmu_lock so that a split racing with the install
                    // (which re-points entries under mmu_lock once the page
                    // cache holds the new folios) cannot leave the entry on
                    // the old folio. The page cache's and the attributes'
                    // locks nest inside mmu_lock, never the other way round.
                    if self.cfg.design == crate::design::Design::Hugetlb {
                        s2.entries.extend(self.hugetlb_leaf(index, &folio, ty));
                    } else {
                        s2.entries.insert(index, S2Entry::leaf(folio, ty));
                    }
                    false
                }
            };
            if retry {
                crate::sync::spin_yield();
            }
        }
    }

    /// `kvm_gmem_get_pfn()` (model step `guest.get_pfn`): under the
    /// invalidate lock shared, -EFAULT if the VM's file was released (no
    /// memslot binding); look the folio up and lock it (allocating and
    /// zeroing it on first use; waiting while a host fault holds the folio
    /// lock); -EHWPOISON if it is poisoned; if the index is private,
    /// `kvm_arch_gmem_make_private()` (hardware state -> private); then
    /// `folio_unlock()` and `folio_put()` before returning: the caller gets
    /// the folio's identity (its pfn), not a reference. `None`: nothing to
    /// map (the file was closed).
    fn get_pfn(&self, vm: &crate::kvm::Vm, index: usize) -> Result<Option<Arc<Folio>>> {
        let mut blocked = false;
        let _inv = loop {
            let inv = self
                .invalidate_lock
                .read_step_blocked("guest.get_pfn", blocked);
            let free = !sched::driven()
                || !vm.is_bound()
                || self
                    .filemap_find(index)
                    .is_none_or(|f| !f.folio_test_locked() && !f.frozen());
            if free {
                break inv;
            }
            // The model's step is blocked as a whole: nothing changes.
            drop(inv);
            blocked = true;
        };
        if !vm.is_bound() {
            return Err(Error::sys(Errno::EFAULT));
        }
        let f = match self.get_folio_ref_fresh(index, true)? {
            None => return Ok(None),
            Some((f, None)) => f,
            Some((f, Some(g))) => {
                // Design hugetlb: __maybe_split_fresh_folio() under the
                // shared lock (step `guest.fresh_split`), as in the fault.
                self.folio_put(&f, Ref::Transient);
                self.split_fresh(g, "guest.fresh_split");
                match self.get_folio_ref(index, false)? {
                    Some(f) => f,
                    None => return Ok(None),
                }
            }
        };
        let r = {
            let _l = f.folio_lock();
            if f.poisoned() {
                Err(Error::sys(Errno::EHWPOISON))
            } else {
                if self.arch_hooks() && self.attr_at(index) == Attr::Private {
                    f.set_hw(index, index + 1, true);
                }
                Ok(Some(f.clone()))
            }
        };
        self.folio_put(&f, Ref::Transient);
        r
    }

    /// Does the architecture convert pages (SNP, TDX, pKVM:
    /// `CONFIG_HAVE_KVM_ARCH_GMEM_CONVERT`)? Always, here, for every
    /// guest_memfd design; the exclusive-pin RFC's memory is ordinary
    /// memory that pKVM donates by other means.
    pub(crate) fn arch_hooks(&self) -> bool {
        !self.cfg.design.exclusive_donation()
    }

    /// The hardware state of file page `index`'s memory: `Some(true)`
    /// private, `Some(false)` shared, `None` no folio there.
    pub fn hw_state(&self, index: usize) -> Option<bool> {
        self.filemap_find(index).map(|f| f.hw_private(index))
    }

    pub fn guest_read(&self, index: usize, access: Option<Attr>) -> Result<AccessOutcome> {
        self.guest_access(index, access, None)
    }

    pub fn guest_write(&self, index: usize, access: Option<Attr>, v: u8) -> Result<AccessOutcome> {
        self.guest_access(index, access, Some(v))
    }
}
