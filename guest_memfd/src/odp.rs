//! A secondary MMU mirroring one page of a process's mapping into a device:
//! the `hmm_range_fault()` pattern (`mm/hmm.c`; RDMA on-demand paging, a
//! GPU's SVM) and KVM's pfncache (`virt/kvm/pfncache.c`),
//! docs/kernel.md#non-gup. The model's `actors/secondary_mmu.rs`.
//!
//! The driver's loop (Documentation/mm/hmm.rst, "Address space mirroring
//! implementation and API"), one model step per line:
//!
//! ```text
//! again:
//!   seq = mmu_interval_read_begin(&sub);        // the operation's start
//!   hmm_range_fault(&range);                    // dev.read_pte (+ the fault's steps)
//!   take_lock(driver->update);                  // dev.map
//!   if (mmu_interval_read_retry(&sub, seq)) { release_lock(driver->update); goto again; }
//!   program the device page table; release_lock(driver->update);
//!   ... the device DMAs through it ...          // dev.access
//! ```
//!
//! The notifier's `invalidate()` ([`DeviceTable`]) takes the same lock,
//! calls `mmu_interval_set_seq()` and zaps the device's entry. Nothing here
//! holds a folio reference (the pfn is all the walk returns): the
//! converter's refcount check cannot see the device; only the notifier,
//! which `unmap_mapping_pages()` fires before it clears PTEs, keeps the
//! device off a page that became private.
//!
//! Choices (the model's, said there too):
//! - `HMM_PFN_REQ_FAULT` is set: an absent PTE is faulted in through the
//!   host fault path (a private page SIGBUSes: `hmm_range_fault()` returns
//!   -EFAULT), then the walk starts over (`hmm_vma_fault()` -> -EBUSY).
//! - A device whose entry the notifier zapped faults at once: its driver's
//!   fault handler waits in `mmu_interval_read_begin()` for that
//!   invalidation to end, then runs the loop from the sequence the
//!   invalidation stored (what `read_begin()` returns once it has ended),
//!   so a second invalidation before the re-walk is a retry.
//! - Design pfnmap: `hmm_range_fault()` refuses `VM_PFNMAP` VMAs
//!   (`hmm_vma_walk_test()`), but KVM's pfncache follows them
//!   (`hva_to_pfn_remapped()` -> `follow_pfnmap_start()`) under the same
//!   notifier protocol: the walk here reads special PTEs too. \[infer\]
//! - Design no_direct_map: the walk reads page tables, not the direct map,
//!   and the device's DMA goes through the IOMMU: `AS_NO_DIRECT_MAP` stops
//!   neither. \[infer\]
//!
//! Bug switch `odp_no_retry` programs the device without
//! `mmu_interval_read_retry()`.

use crate::design::Bug;
use crate::device::{DevId, Device};
use crate::errno::{AccessOutcome, Errno, Error, Misuse, Result};
use crate::fault::FaultError;
use crate::folio::Folio;
use crate::gmem::{GuestMemFd, MmId};
use crate::mm::Mm;
use crate::mmu_notifier::{MmuIntervalNotifier, MmuIntervalNotifierOps};
use crate::sched;
use crate::sync::{lock, Arc, Mutex};

/// The device's page table for the mirrored page and the driver's state,
/// under the driver's own lock (`driver->update`); also the notifier's
/// callback.
#[derive(Debug, Default)]
pub(crate) struct DeviceTable {
    update: Mutex<DevPt>,
}

#[derive(Debug, Default)]
struct DevPt {
    /// The device's entry: the pfn (folio) it DMAs to. No reference.
    pte: Option<Arc<Folio>>,
    /// A pfn `odp_walk` found and `odp_program` has not used yet, with the
    /// sequence it was read under.
    walked: Option<(u64, Arc<Folio>)>,
    /// The notifier zapped a present entry: the device's next access
    /// faults, and the driver's loop starts from this sequence.
    refault_seq: Option<u64>,
}

impl MmuIntervalNotifierOps for DeviceTable {
    fn invalidate(&self, mni: &MmuIntervalNotifier, _start: usize, _end: usize, cur_seq: u64) {
        let mut t = lock(&self.update);
        mni.set_seq(cur_seq);
        if t.pte.take().is_some() {
            t.refault_seq = Some(cur_seq);
        }
    }
}

/// One mirrored page: the process, the page, its interval notifier and the
/// device's table.
#[derive(Debug)]
pub(crate) struct OdpMirror {
    mm: Arc<Mm>,
    index: usize,
    mni: Arc<MmuIntervalNotifier>,
    table: Arc<DeviceTable>,
}

impl OdpMirror {
    pub(crate) fn mapped(&self) -> bool {
        lock(&self.table.update).pte.is_some()
    }
}

impl GuestMemFd {
    /// A device driver mirrors page `index` of process `mm`'s mapping:
    /// `mmu_interval_notifier_insert()` of that page (RDMA: an ODP memory
    /// region). Nothing is mapped yet.
    pub fn odp_register(&self, mm: MmId, index: usize) -> Result<DevId> {
        let m = self.mm(mm)?;
        let limit = m.vma().map_or(self.cfg.map_pages, |v| v.pages);
        if index >= limit {
            return Err(Misuse::PageOutOfRange { page: index, limit }.into());
        }
        let table = Arc::new(DeviceTable::default());
        let mni = m
            .notifiers
            .insert(index, index + 1, Box::new(table.clone()));
        Ok(self.add_device(Device::Odp(Arc::new(OdpMirror {
            mm: m,
            index,
            mni,
            table,
        }))))
    }

    /// The driver is done: `mmu_interval_notifier_remove()` and the device
    /// entry goes.
    pub fn odp_unregister(&self, id: DevId) -> Result<()> {
        let m = self.odp(id)?;
        m.mm.notifiers.remove(&m.mni);
        lock(&m.table.update).pte = None;
        lock(&self.devices).remove(&id);
        Ok(())
    }

    fn odp(&self, id: DevId) -> Result<Arc<OdpMirror>> {
        match self.device(id)? {
            Device::Odp(m) => Ok(m),
            _ => Err(Misuse::WrongDevice(id, "not a secondary MMU (ODP) device").into()),
        }
    }

    /// The driver's whole loop: read_begin, walk (faulting the page in),
    /// then under its lock read_retry and program the device, starting over
    /// as long as an invalidation intervened. -EFAULT if the host cannot map
    /// the page (private, beyond i_size, the mapping gone).
    pub fn odp_map(&self, id: DevId) -> Result<()> {
        self.begin_op();
        let r = self.odp(id).and_then(|m| {
            self.odp_check_mapping(&m)?;
            let seq = m.mm.notifiers.read_begin(&m.mni);
            self.odp_mirror(&m, seq, false)
        });
        self.end_op();
        r
    }

    /// The first half of [`Self::odp_map`]: `mmu_interval_read_begin()` and
    /// `hmm_range_fault()`; the driver holds the pfn (no reference) until
    /// [`Self::odp_program`].
    pub fn odp_walk(&self, id: DevId) -> Result<()> {
        self.begin_op();
        let r = self.odp(id).and_then(|m| {
            self.odp_check_mapping(&m)?;
            let seq = m.mm.notifiers.read_begin(&m.mni);
            let pfn = self.odp_walk_until_present(&m, true)?;
            lock(&m.table.update).walked = Some((seq, pfn));
            Ok(())
        });
        self.end_op();
        r
    }

    /// The second half: under the driver's lock `mmu_interval_read_retry()`
    /// on the walked pfn and, if nothing intervened, program the device; if
    /// something did, the loop starts over (walk, retry, program).
    pub fn odp_program(&self, id: DevId) -> Result<()> {
        self.begin_op();
        let r = self.odp(id).and_then(|m| {
            let (seq, pfn) = lock(&m.table.update)
                .walked
                .take()
                .ok_or(Misuse::NothingWalked(id))?;
            if self.odp_program_pfn(&m, seq, pfn) {
                return Ok(());
            }
            let seq = m.mm.notifiers.read_begin(&m.mni);
            self.odp_mirror(&m, seq, false)
        });
        self.end_op();
        r
    }

    /// The process no longer maps the file (closed): nothing to mirror.
    fn odp_check_mapping(&self, m: &OdpMirror) -> Result<()> {
        if self.is_closed() || m.mm.vma().is_none() {
            return Err(Error::sys(Errno::EFAULT));
        }
        Ok(())
    }

    /// From `seq` on: walk until the PTE is there (model step `dev.read_pte`,
    /// parked at first unless `walk_now`: the step being performed is the
    /// walk), then program it (`dev.map`), again while the retry says so.
    fn odp_mirror(&self, m: &OdpMirror, mut seq: u64, mut walk_now: bool) -> Result<()> {
        loop {
            let pfn = self.odp_walk_until_present(m, walk_now)?;
            sched::step_point("dev.map", None);
            if self.odp_program_pfn(m, seq, pfn) {
                return Ok(());
            }
            // mmu_interval_read_retry() said an invalidation intervened:
            // drop the pfn and start over.
            seq = m.mm.notifiers.read_begin(&m.mni);
            walk_now = false;
        }
    }

    /// `hmm_range_fault()` until it returns a pfn: each walk (`dev.read_pte`)
    /// reads the PTE under the mmap lock; an absent one is faulted in (the
    /// host fault path's own steps) and the walk starts over.
    fn odp_walk_until_present(&self, m: &OdpMirror, mut walk_now: bool) -> Result<Arc<Folio>> {
        loop {
            if !walk_now {
                sched::step_point("dev.read_pte", None);
            }
            walk_now = false;
            let pte = {
                let _mmap = m.mm.mmap_lock.read();
                self.odp_check_mapping(m)?;
                m.mm.pte_read(m.index)
            };
            if let Some(pte) = pte {
                // The pfn only: no folio reference is taken.
                return Ok(pte.folio);
            }
            match self.handle_mm_fault(&m.mm, m.index) {
                Ok(()) => {}
                Err(FaultError::Sigbus) => return Err(Error::sys(Errno::EFAULT)),
                Err(FaultError::SelfDeadlock) => return Err(Error::sys(Errno::EDEADLK)),
            }
        }
    }

    /// Under the driver's lock: `mmu_interval_read_retry()`, then program
    /// the device's entry. False: an invalidation intervened (nothing
    /// programmed). BUG odp_no_retry programs without the check.
    fn odp_program_pfn(&self, m: &OdpMirror, seq: u64, pfn: Arc<Folio>) -> bool {
        let mut t = lock(&m.table.update);
        if !self.cfg.has(Bug::OdpNoRetry) && m.mni.read_retry(seq) {
            return false;
        }
        t.pte = Some(pfn);
        t.refault_seq = None;
        true
    }

    /// The device's DMA through its page table (under the driver's lock,
    /// which the notifier takes to zap the entry: the zap and the device
    /// TLB flush are atomic with respect to it). A missing entry is a device
    /// page fault: the driver mirrors the page (the walk is the step being
    /// performed) and the access waits for its next step (`dev.access`).
    pub(crate) fn odp_access(
        &self,
        id: DevId,
        m: &OdpMirror,
        write: Option<u8>,
    ) -> Result<AccessOutcome> {
        loop {
            let refault = {
                let mut t = lock(&m.table.update);
                if let Some(f) = t.pte.clone() {
                    return Ok(self.dma(id, &f, m.index, write));
                }
                t.refault_seq.take()
            };
            // The fault handler's mmu_interval_read_begin() waits while the
            // invalidation that zapped the entry is still in progress (its
            // PTEs may not be cleared yet); the loop then compares with the
            // sequence that invalidation stored, so any later one is a retry.
            let now = m.mm.notifiers.read_begin(&m.mni);
            let seq = refault.unwrap_or(now);
            self.odp_mirror(m, seq, true)?;
            sched::step_point("dev.access", None);
        }
    }
}
