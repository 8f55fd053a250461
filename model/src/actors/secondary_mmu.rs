//! A secondary MMU mirroring one page of a process's mapping into a device:
//! the `hmm_range_fault()` pattern (`mm/hmm.c`; RDMA ODP, a GPU's SVM) and
//! KVM's pfncache (`virt/kvm/pfncache.c`), docs/kernel.md#non-gup.
//!
//! The driver's loop (Documentation/mm/hmm.rst, "Address space mirroring
//! implementation and API"):
//!
//! ```text
//! again:
//!   seq = mmu_interval_read_begin(&sub);        // Start
//!   hmm_range_fault(&range);                    // ReadPte / Fault
//!   take_lock(driver->update);
//!   if (mmu_interval_read_retry(&sub, seq)) {   // Map
//!       release_lock(driver->update); goto again;
//!   }
//!   program the device page table; release_lock(driver->update);
//! ```
//!
//! and the notifier's `invalidate()` callback takes the same driver lock,
//! calls `mmu_interval_set_seq()` and zaps the device page table
//! ([`crate::mm::mmu_notifier_invalidate`]). Nothing here holds a folio
//! reference: the converter's refcount check cannot see the device, only
//! the notifier that `unmap_mapping_pages()` fires can stop it.
//!
//! Choices (kept simple, said here):
//! - `HMM_PFN_REQ_FAULT` is set: an absent PTE is faulted in with
//!   `handle_mm_fault()` (the host fault path, so a private page fails with
//!   SIGBUS -> `hmm_range_fault()` returns -EFAULT and the driver gives up),
//!   then the walk restarts (`hmm_vma_fault()` returns -EBUSY).
//! - One device access through the mapping, then the driver tears its
//!   mapping down. If the notifier zapped the mapping first, the device
//!   takes a page fault and the driver runs the loop again (ODP).
//! - Design pfnmap: `hmm_range_fault()` refuses `VM_PFNMAP` VMAs
//!   (`hmm_vma_walk_test()`: -EFAULT), but KVM's pfncache reaches them
//!   through `hva_to_pfn_remapped()` -> `follow_pfnmap_start()` under the
//!   same notifier protocol (`mmu_invalidate_seq`, `gfn_to_pfn_cache_invalidate_start()`);
//!   the actor stands for the pfncache there. \[infer\]
//! - Design no_direct_map: `hmm_range_fault()` walks page tables and
//!   returns pfns; it takes no GUP path and needs no direct-map alias, and
//!   the device's DMA goes through the IOMMU, not the direct map, so
//!   `AS_NO_DIRECT_MAP` stops neither. \[infer\] (the posted series gates
//!   `gup_fast_folio_allowed()` and `check_vma_flags()` only)

use super::host::{fault_step, Fault};
use crate::config::{Bug, Config};
use crate::state::*;
use invariants::Accessor;

/// Thread id of the device driver's thread (for the invalidate lock).
pub const TID: u8 = 14;

pub fn can_start(cfg: &Config, st: &State) -> bool {
    cfg.secondary_mmu.is_some() && st.dev.pc.get() == DevPc::Idle
}

pub fn in_flight(st: &State) -> bool {
    !matches!(st.dev.pc.get(), DevPc::Idle | DevPc::Finished)
}

/// `mmu_interval_read_begin()`: snapshot the notifier sequence (the model
/// keeps only "moved since": the invalidation is one atomic step, so there
/// is never one in progress to wait for here).
fn read_begin(st: &mut State) {
    st.dev.seq_stale = false;
    st.dev.pc.set(DevPc::ReadPte);
}

/// The driver mirrors the page (an ODP device fault, or a prefetch).
pub fn start(st: &mut State) {
    if st.closed {
        // The mapping is gone: mmu_interval_notifier_insert() fails, nothing to mirror.
        st.dev.pc.set(DevPc::Finished);
        return;
    }
    read_begin(st);
}

pub fn step(cfg: &Config, st: &mut State) -> bool {
    let d = cfg.secondary_mmu.expect("in_flight checked");
    let i = d.page as usize;
    let pbit = 1u8 << d.proc;
    match st.dev.pc.get() {
        DevPc::Idle | DevPc::Finished => return false,
        DevPc::ReadPte => {
            // hmm_range_fault() under mmap_read_lock(): the pfn of a present
            // PTE, no reference taken.
            st.dev.pc.set(match st.pages[i].folio.get() {
                _ if st.closed => DevPc::Finished,
                Some(s) if st.pages[i].ptes & pbit != 0 => DevPc::Map(s),
                _ => DevPc::Fault(FaultPc::LockInv),
            });
        }
        DevPc::Fault(fpc) => match fault_step(cfg, st, TID, d.proc, i, fpc) {
            Fault::Blocked => return false,
            Fault::Next(fpc) => st.dev.pc.set(DevPc::Fault(fpc)),
            // hmm_vma_fault() returns -EBUSY: the walk starts over.
            Fault::Installed(_) => st.dev.pc.set(DevPc::ReadPte),
            // The page is private: -EFAULT, the device access fails.
            Fault::Sigbus => st.dev.pc.set(DevPc::Finished),
        },
        DevPc::Map(s) => {
            // take_lock(driver->update); mmu_interval_read_retry(). An
            // invalidation since read_begin means the pfn may be stale:
            // drop it and start over. BUG odp_no_retry programs the device
            // without the check.
            if st.dev.seq_stale && !cfg.has(Bug::OdpNoRetry) {
                read_begin(st);
            } else {
                st.dev.pc.set(DevPc::Mapped(s));
            }
        }
        DevPc::Mapped(s) => {
            // The device DMAs through its page table (no folio reference),
            // then the driver unmaps it.
            st.last_access.set(Some(LastAccess {
                who: Accessor::Device { device: 0 },
                folio: s,
                index: i as u8,
                write: true,
                guest_type: None,
            }));
            st.dev.pc.set(DevPc::Finished);
        }
    }
    true
}
