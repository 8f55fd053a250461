//! Memory failure on a guest_memfd page: `mm/memory-failure.c:
//! memory_failure()` marks the page `PG_hwpoison`, then calls the mapping's
//! `error_remove_folio`, which for guest_memfd is `kvm_gmem_error_folio()`
//! (`virt/kvm/guest_memfd.c`): invalidate lock **shared**, invalidate and zap
//! the stage-2 entries of every type in every bound VM, no truncation,
//! `MF_DELAYED`. A later `kvm_gmem_get_pfn()` on the folio returns
//! -EHWPOISON. The shared lock means this runs concurrently with vCPUs'
//! `kvm_gmem_get_pfn()`: only the seq bump keeps a fault that looked the
//! folio up before the poison from mapping it.

use crate::config::Config;
use crate::mm;
use crate::state::*;

pub fn can_start(cfg: &Config, st: &State) -> bool {
    cfg.memory_failure.is_some() && st.mf == MfPc::Idle
}

pub fn in_flight(st: &State) -> bool {
    matches!(st.mf, MfPc::ErrorFolio(_))
}

/// The hardware reports an uncorrectable error on the page: `PG_hwpoison` is
/// set on the folio backing it (if the page is allocated at all).
pub fn start(cfg: &Config, st: &mut State) {
    let i = cfg.memory_failure.expect("can_start checked") as usize;
    st.mf = match st.pages[i].folio {
        Some(s) => {
            st.folio_mut(s).poisoned = true;
            MfPc::ErrorFolio(s)
        }
        None => MfPc::Finished,
    };
}

/// `kvm_gmem_error_folio()`: under the shared invalidate lock, zap every
/// stage-2 entry of the folio's pages in every bound VM, then
/// `kvm_gmem_invalidate_end()` bumps each VM's `mmu_invalidate_seq`.
pub fn step(cfg: &Config, st: &mut State) -> bool {
    let MfPc::ErrorFolio(s) = st.mf else {
        return false;
    };
    if !st.invalidate_lock.can_read() {
        return false;
    }
    let vms = st.bound;
    for i in 0..cfg.pages as usize {
        if st.pages[i].folio == Some(s) {
            mm::zap_stage2(st, vms, i, i + 1, None);
        }
    }
    mm::bump_seq(st, vms);
    st.mf = MfPc::Finished;
    true
}
