//! The guest vCPU's stage-2 fault (x86 `kvm_mmu_page_fault()` for a
//! guest_memfd slot, domain.md 2.7): snapshot mmu_invalidate_seq, check the
//! fault type against the attribute, kvm_gmem_get_pfn(), then under mmu_lock
//! mmu_invalidate_retry_gfn() and install.

use crate::actors::{converter, truncate};
use crate::config::{Bug, Config};
use crate::mm;
use crate::state::*;
use invariants::{Accessor, Attr};

pub fn can_start(cfg: &Config, st: &State) -> bool {
    st.guest.pc == GuestPc::Idle && (st.guest.op as usize) < cfg.guest.len()
}

pub fn in_flight(st: &State) -> bool {
    st.guest.pc != GuestPc::Idle
}

fn done(st: &mut State) {
    st.guest.pc = GuestPc::Idle;
    st.guest.op += 1;
}

/// The first step of a (re)tried fault. BUG guest_check_before_seq checks the
/// attribute before taking the snapshot, so a conversion that completes in
/// between goes unnoticed by the retry check (the bug fixed by "KVM: x86/mmu:
/// Move private vs. shared check above slot validity checks", domain.md 2.7).
fn first(cfg: &Config) -> GuestPc {
    if cfg.has(Bug::GuestCheckBeforeSeq) {
        GuestPc::CheckAttr
    } else {
        GuestPc::Snapshot
    }
}

fn access(st: &mut State, s: Slot, i: usize, t: Attr) {
    st.last_access = Some(LastAccess {
        who: Accessor::Guest,
        folio: s,
        index: i as u8,
        write: true,
        guest_type: Some(t),
    });
}

pub fn start(cfg: &Config, st: &mut State) {
    let op = cfg.guest[st.guest.op as usize];
    let i = op.page as usize;
    let mapped = match (st.pages[i].s2, op.access) {
        (S2::Shared(s), Attr::Shared) | (S2::Private(s), Attr::Private) => Some(s),
        _ => None,
    };
    if let Some(s) = mapped {
        access(st, s, i, op.access);
        return done(st);
    }
    st.guest.pc = first(cfg);
}

/// Is an invalidation covering page `i` in progress (mmu_invalidate_in_progress
/// with a range that contains the gfn)?
pub fn invalidation_covers(cfg: &Config, st: &State, i: usize) -> bool {
    let conv = converter::in_invalidation(st) && {
        let (lo, hi) = converter::invalidation_range(cfg, st);
        (lo..hi).contains(&i)
    };
    conv || truncate::invalidation_covers(cfg, st, i)
}

pub fn step(cfg: &Config, st: &mut State) -> bool {
    let op = cfg.guest[st.guest.op as usize];
    let i = op.page as usize;
    let bug = cfg.has(Bug::GuestCheckBeforeSeq);
    match st.guest.pc {
        GuestPc::Idle => return false,
        GuestPc::Snapshot => {
            st.guest.seq_stale = false;
            st.guest.pc = if bug {
                GuestPc::GetPfn
            } else {
                GuestPc::CheckAttr
            };
        }
        GuestPc::CheckAttr => {
            if st.pages[i].attr() != op.access {
                // KVM_EXIT_MEMORY_FAULT: userspace must convert first.
                done(st);
            } else {
                st.guest.pc = if bug {
                    GuestPc::Snapshot
                } else {
                    GuestPc::GetPfn
                };
            }
        }
        GuestPc::GetPfn => {
            // kvm_gmem_get_pfn(): invalidate_lock shared around the lookup;
            // the reference is dropped once the fault finishes.
            if !st.invalidate_lock.can_read() {
                return false;
            }
            match mm::alloc(cfg, st, i) {
                Some(s) => {
                    mm::get(st, s, 1);
                    st.guest.pc = GuestPc::Install(s);
                }
                None => done(st),
            }
        }
        GuestPc::Install(s) => {
            // Under mmu_lock: retry if an invalidation is in progress for the
            // gfn or mmu_invalidate_seq moved since the snapshot.
            if st.guest.seq_stale || invalidation_covers(cfg, st, i) {
                mm::put(cfg, st, s, 1);
                st.guest.pc = first(cfg);
                return true;
            }
            // [infer] (domain.md 2.7, "check TDX S-EPT"): the stage-2 entry
            // keeps no folio reference once the fault finishes, so stage-2
            // mappings are invisible to the converter's refcount check and
            // only the invalidation protocol keeps them coherent.
            st.pages[i].s2 = match op.access {
                Attr::Shared => S2::Shared(s),
                Attr::Private => S2::Private(s),
            };
            mm::put(cfg, st, s, 1);
            access(st, s, i, op.access);
            done(st);
        }
    }
    true
}
