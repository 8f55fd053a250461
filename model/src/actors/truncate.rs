//! Truncation: fallocate(PUNCH_HOLE) (`virt/kvm/guest_memfd.c:
//! kvm_gmem_punch_hole()`; for split, the 1G RFC v2 patch "Merge and truncate
//! on fallocate", `docs/kernel.md#hugetlb`), the final close of the file
//! (every mapping goes; pinned folios live on; the gigantic page's merge is
//! deferred to the last put), and the release of one VM's file
//! (`kvm_gmem_release()`: that VM's stage-2 goes, the inode stays).

use crate::actors::converter::fold_subfolios;
use crate::config::{Bug, Config, Design, TruncOp};
use crate::mm::{self, sub_slot};
use crate::state::*;
use invariants::{ConvResult, Structure};

const ME: u8 = 7;

fn range(cfg: &Config) -> (usize, usize) {
    match cfg.truncate {
        Some(TruncOp::Punch { start, pages }) => (start as usize, start as usize + pages as usize),
        _ => (0, cfg.pages as usize),
    }
}

/// The pages the punch's KVM invalidation covers: its range, rounded out to
/// the whole gigantic page in the huge designs (one huge stage-2 entry maps
/// it, as for conversions).
fn invalidation_range(cfg: &Config) -> (usize, usize) {
    if cfg.design == Design::Hugetlb {
        // Design hugetlb punches whole huge pages (fallocate() -EINVAL
        // otherwise), so the range is already aligned.
        range(cfg)
    } else if cfg.design.is_huge() {
        (0, cfg.pages as usize)
    } else {
        range(cfg)
    }
}

/// The VMs this truncation invalidates: every bound VM for a punch or a
/// close (`kvm_gmem_invalidate_start()` walks every gmem_file of the inode),
/// the releasing VM alone for a release.
fn vms(cfg: &Config, st: &State) -> u8 {
    match cfg.truncate {
        Some(TruncOp::Release { vm }) => st.bound & (1 << vm),
        _ => st.bound,
    }
}

/// The pages this truncation's open invalidation covers in VM `vm`, one
/// bit per page.
pub fn invalidation_mask(cfg: &Config, st: &State, vm: usize) -> u16 {
    let active = matches!(
        st.trunc.pc.get(),
        TruncPc::Unmap
            | TruncPc::Check(_)
            | TruncPc::MergeFold
            | TruncPc::Truncate
            | TruncPc::ReleaseVm
            | TruncPc::InvEnd
    );
    if !active || vms(cfg, st) & (1 << vm) == 0 {
        return 0;
    }
    let (lo, hi) = invalidation_range(cfg);
    crate::mm::page_bits(lo, hi)
}

pub fn can_start(cfg: &Config, st: &State) -> bool {
    st.trunc.pc.get() == TruncPc::Idle && cfg.truncate.is_some()
}

pub fn in_flight(st: &State) -> bool {
    !matches!(st.trunc.pc.get(), TruncPc::Idle | TruncPc::Finished)
}

pub fn start(st: &mut State) {
    st.trunc.pc.set(TruncPc::Lock);
}

/// The gigantic page the punch merges (the first of its range).
fn punch_gig(cfg: &Config) -> usize {
    mm::gig_of(cfg, range(cfg).0)
}

fn split_present(cfg: &Config, st: &State) -> bool {
    let g = punch_gig(cfg);
    matches!(cfg.design, Design::Split | Design::Hugetlb)
        && !st.gigantic[g].in_pool
        && st.gigantic[g].structure == Structure::Split
}

pub fn step(cfg: &Config, st: &mut State) -> bool {
    let (lo, hi) = range(cfg);
    let close = matches!(cfg.truncate, Some(TruncOp::Close));
    match st.trunc.pc.get() {
        TruncPc::Idle | TruncPc::Finished => return false,
        TruncPc::Lock => {
            if !st.invalidate_lock.can_write() {
                return false;
            }
            st.invalidate_lock.writer.set(Some(ME));
            st.trunc.pc.set(match cfg.truncate {
                Some(TruncOp::Close) => TruncPc::Truncate,
                Some(TruncOp::Release { .. }) => TruncPc::ReleaseVm,
                _ => TruncPc::InvBegin,
            });
        }
        TruncPc::ReleaseVm => {
            // kvm_gmem_release(): that VM's stage-2 entries of every type go
            // and its binding is cut; memory stays with the inode.
            let v = vms(cfg, st);
            mm::zap_stage2(st, v, 0, cfg.pages as usize, None);
            st.trunc.pc.set(TruncPc::InvEnd);
        }
        TruncPc::InvBegin => {
            // kvm_gmem_invalidate_start(): zap stage-2 entries of every type
            // in range, in every bound VM.
            let (ilo, ihi) = invalidation_range(cfg);
            let v = vms(cfg, st);
            // Design hugetlb: kvm_gmem_split_private() then kvm_gmem_zap();
            // the punch covers whole huge pages, so the zap below takes the
            // huge leaves with it (the split's -ENOMEM is not modelled for
            // the punch).
            mm::zap_stage2(st, v, ilo, ihi, None);
            st.trunc.pc.set(if split_present(cfg, st) {
                TruncPc::Unmap
            } else {
                TruncPc::Truncate
            });
        }
        TruncPc::Unmap => {
            mm::unmap_mapping_pages(cfg, st, lo, hi);
            st.gigantic[punch_gig(cfg)]
                .structure
                .set(Structure::Merging);
            st.trunc.pc.set(if cfg.has(Bug::PunchMergeNoCheck) {
                // BUG punch_merge_no_check: merge and truncate without making
                // sure no subpage is still referenced (the 1G RFC v2's
                // truncate_shared_while_pinned selftest expects -EAGAIN).
                TruncPc::MergeFold
            } else {
                TruncPc::Check(lo as u8)
            });
        }
        TruncPc::Check(i) => {
            // The merge's guard: folio_ref_freeze() each subfolio at its
            // page-cache count; any extra reference (a pinned shared subpage)
            // fails the punch with -EAGAIN (RFC v2; test truncate_shared_while_pinned).
            let i = i as usize;
            if mm::freeze(st, sub_slot(i), 1) {
                st.trunc.pc.set(if i + 1 < hi {
                    TruncPc::Check(i as u8 + 1)
                } else {
                    TruncPc::MergeFold
                });
            } else {
                for j in lo..i {
                    mm::unfreeze(st, sub_slot(j), 1);
                }
                st.gigantic[punch_gig(cfg)].structure.set(Structure::Split);
                st.trunc
                    .result
                    .set(Some(ConvResult::Eagain { error_index: i }));
                st.trunc.pc.set(TruncPc::InvEnd);
            }
        }
        TruncPc::MergeFold => {
            fold_subfolios(cfg, st, punch_gig(cfg));
            st.trunc.pc.set(TruncPc::Truncate);
        }
        TruncPc::Truncate => {
            // truncate_inode_pages_range() locks each folio before removing
            // it: it waits for a fault that holds the folio lock until
            // finish_fault().
            if (lo..hi).any(|i| {
                st.pages[i]
                    .folio
                    .get()
                    .is_some_and(|s| mm::folio_locked(st, s))
            }) {
                return false;
            }
            if close {
                // Release: KVM mappings, host mappings and fds all go away.
                st.closed = true;
                let v = st.bound;
                mm::zap_stage2(st, v, 0, cfg.pages as usize, None);
            }
            // truncate_inode_pages_range(): unmap, then drop the page cache's
            // references; a referenced folio is orphaned, not freed.
            mm::unmap_mapping_pages(cfg, st, lo, hi);
            for i in lo..hi {
                let partial_large = st.pages[i].folio.get().is_some_and(|s| {
                    let f = st.folio(s);
                    let first = f.index as usize;
                    f.large && (first < lo || first + mm::baseline(cfg, f) as usize > hi)
                });
                // [infer] (hugetlbfs behaviour, fs/hugetlbfs/inode.c:
                // hugetlbfs_zero_partial_page()): a punch that covers only
                // part of a large folio zeroes that part in place; the folio
                // stays in the page cache.
                if !partial_large {
                    mm::remove_from_page_cache(cfg, st, i);
                }
            }
            if close {
                for g in 0..mm::nr_gigantic(cfg) {
                    if !st.gigantic[g].in_pool {
                        st.gigantic[g].released = true;
                    }
                }
            }
            st.trunc.result.set(Some(ConvResult::Ok));
            st.trunc.pc.set(TruncPc::InvEnd);
        }
        TruncPc::InvEnd => {
            let v = vms(cfg, st);
            mm::bump_seq(st, v);
            if let Some(TruncOp::Release { vm }) = cfg.truncate {
                st.bound &= !(1 << vm);
            }
            if st.invalidate_lock.writer.get() == Some(ME) {
                st.invalidate_lock.writer.set(None);
            }
            st.trunc.pc.set(TruncPc::Finished);
        }
    }
    true
}

/// guest_memfd's hugetlb allocator: once every folio of a released gigantic
/// page is freed, merge it and return it to the pool (the deferred merge of
/// RFC v2 for close with pins outstanding).
fn pool_callback_gig(cfg: &Config, st: &State) -> Option<usize> {
    (0..mm::nr_gigantic(cfg)).find(|&g| {
        st.gigantic[g].released && !st.gigantic[g].in_pool && mm::gigantic_unreferenced(cfg, st, g)
    })
}

pub fn pool_callback_enabled(cfg: &Config, st: &State) -> bool {
    cfg.design.is_huge() && pool_callback_gig(cfg, st).is_some()
}

/// The first released, unreferenced gigantic page goes back to the pool
/// (design hugetlb: `nr_pages_waiting_to_be_merged` reaches the page's
/// size and the deferred merge returns it).
pub fn pool_callback(cfg: &Config, st: &mut State) {
    if let Some(g) = pool_callback_gig(cfg, st) {
        mm::return_gigantic_to_pool(st, g);
    }
}
