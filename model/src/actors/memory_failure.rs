//! Memory failure on a guest_memfd page: `mm/memory-failure.c:
//! memory_failure()` marks the page `PG_hwpoison`, unmaps it from user page
//! tables (`hwpoison_user_mappings()`), then calls the mapping's
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
    cfg.memory_failure.is_some() && st.mf.get() == MfPc::Idle
}

pub fn in_flight(st: &State) -> bool {
    matches!(st.mf.get(), MfPc::ErrorFolio(_))
}

/// The hardware reports an uncorrectable error on the page: `PG_hwpoison` is
/// set on the folio backing it (if the page is allocated at all), and
/// `hwpoison_user_mappings()` takes a mapped folio out of every user page
/// table (`unmap_poisoned_folio()` -> `try_to_unmap(folio, TTU_HWPOISON)`,
/// whose rmap walk fires the mmu notifiers of each mapping) before the
/// mapping's `error_remove_folio` runs. The unmap holds no guest_memfd lock,
/// and the model takes it in the same step as the poison, as the
/// implementation does (`GuestMemFd::memory_failure`).
pub fn start(cfg: &Config, st: &mut State) {
    let i = cfg.memory_failure.expect("can_start checked") as usize;
    let next = match st.pages[i].folio.get() {
        Some(s) => {
            st.folio_mut(s).poisoned = true;
            for j in 0..cfg.pages as usize {
                if st.pages[j].folio.get() == Some(s) && st.pages[j].ptes != 0 {
                    mm::unmap_mapping_pages(cfg, st, j, j + 1);
                }
            }
            MfPc::ErrorFolio(s)
        }
        None => MfPc::Finished,
    };
    st.mf.set(next);
}

/// `kvm_gmem_error_folio()`: under the shared invalidate lock, zap every
/// stage-2 entry of the folio's pages in every bound VM, then
/// `kvm_gmem_invalidate_end()` bumps each VM's `mmu_invalidate_seq`.
pub fn step(cfg: &Config, st: &mut State) -> bool {
    let MfPc::ErrorFolio(s) = st.mf.get() else {
        return false;
    };
    if !st.invalidate_lock.can_read() {
        return false;
    }
    let vms = st.bound;
    for i in 0..cfg.pages as usize {
        if st.pages[i].folio.get() == Some(s) {
            mm::zap_stage2(st, vms, i, i + 1, None);
        }
    }
    mm::bump_seq(st, vms);
    st.mf.set(MfPc::Finished);
    true
}

#[cfg(test)]
mod tests {
    use crate::actors::{Action, Actor};
    use crate::state::MfPc;
    use crate::GmemModel;

    /// Row inplace@memory_failure_mapped: wherever the poisoned page is
    /// mapped by the VMM when the error arrives, the poisoning step leaves
    /// it unmapped, with the PTE's folio reference dropped; and such states
    /// are reached.
    #[test]
    fn a_poisoned_mapped_page_loses_its_ptes() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../configs/inplace@memory_failure_mapped.json");
        let m = GmemModel::new(crate::gate::load_file(&path).unwrap().cfg).unwrap();
        let i = m.cfg().memory_failure.unwrap() as usize;
        let mut seen = 0;
        for st in m.bfs_states(20_000) {
            let (Some(s), MfPc::Idle) = (st.pages[i].folio.get(), st.mf.get()) else {
                continue;
            };
            if st.pages[i].ptes == 0 {
                continue;
            }
            let next = m
                .apply(&st, Action::Start(Actor::MemoryFailure))
                .expect("memory failure can start");
            assert!(next.folio(s).poisoned);
            assert_eq!(next.pages[i].ptes, 0, "{next:?}");
            assert_eq!(
                { next.folio(s).refcount },
                st.folio(s).refcount - st.pages[i].ptes.count_ones() as i32
            );
            seen += 1;
        }
        assert!(seen > 10, "{seen} states with the page mapped");
    }
}
