//! One vCPU per VM bound to the file, taking stage-2 faults on guest_memfd
//! gfns: the x86 `kvm_mmu_page_fault()` path for a gmem memslot
//! (`arch/x86/kvm/mmu/mmu.c: kvm_mmu_faultin_pfn()`, `kvm_faultin_pfn_gmem()`):
//! snapshot `mmu_invalidate_seq`, compare the fault type with the attribute
//! (a lockless maple-tree read under RCU, `kvm_gmem_is_private_gfn()`),
//! `kvm_gmem_get_pfn()`, then under `mmu_lock` `mmu_invalidate_retry_gfn()`
//! and install.
//!
//! v13 (lore:20260910-gmem-inplace-conversion-v13-0-dd6fbf94f4e1@google.com):
//! `kvm_gmem_get_pfn()` takes the invalidate lock shared around the lookup,
//! calls `kvm_arch_gmem_make_private()` when the index is private, and drops
//! its folio reference before returning; TDX's S-EPT holds no page reference
//! either (lore:20250807094241.4523-1-yan.y.zhao@intel.com). Nothing but the
//! retry check keeps the install from mapping a folio that a punch freed in
//! between.

use crate::actors::{converter, truncate};
use crate::config::{Bug, Config, Design, GuestOp};
use crate::mm;
use crate::state::*;
use invariants::{Accessor, Attr};

/// This VM's accesses, in order.
fn ops(cfg: &Config, vm: usize) -> impl Iterator<Item = &GuestOp> {
    cfg.guest.iter().filter(move |g| g.vm as usize == vm)
}

fn current(cfg: &Config, st: &State, vm: usize) -> Option<GuestOp> {
    ops(cfg, vm).nth(st.guests[vm].op as usize).copied()
}

pub fn can_start(cfg: &Config, st: &State, vm: usize) -> bool {
    st.guests[vm].pc.get() == GuestPc::Idle && current(cfg, st, vm).is_some()
}

pub fn in_flight(st: &State, vm: usize) -> bool {
    st.guests[vm].pc.get() != GuestPc::Idle
}

/// Does VM `vm` have a vCPU in this configuration?
pub fn has_vcpu(cfg: &Config, vm: usize) -> bool {
    ops(cfg, vm).next().is_some()
}

fn done(st: &mut State, vm: usize) {
    st.guests[vm].pc.set(GuestPc::Idle);
    st.guests[vm].op += 1;
}

/// The first step of a (re)tried fault. BUG guest_check_before_seq checks the
/// attribute before taking the snapshot, so a conversion that completes in
/// between goes unnoticed by the retry check (the order fixed by "KVM:
/// x86/mmu: Move private vs. shared check above slot validity checks",
/// commit 44f42ef37deb).
fn first(cfg: &Config) -> GuestPc {
    if cfg.has(Bug::GuestCheckBeforeSeq) {
        GuestPc::CheckAttr
    } else {
        GuestPc::Snapshot
    }
}

fn access(st: &mut State, s: Slot, i: usize, t: Attr) {
    st.last_access.set(Some(LastAccess {
        who: Accessor::Guest,
        folio: s,
        index: i as u8,
        write: true,
        guest_type: Some(t),
    }));
}

pub fn start(cfg: &Config, st: &mut State, vm: usize) {
    let op = current(cfg, st, vm).expect("can_start checked");
    let i = op.page as usize;
    let mapped = match (st.pages[i].s2[vm].get(), op.access) {
        (S2::Shared(s), Attr::Shared) | (S2::Private(s), Attr::Private) => Some(s),
        _ => None,
    };
    if let Some(s) = mapped {
        access(st, s, i, op.access);
        return done(st, vm);
    }
    st.guests[vm].pc.set(first(cfg));
}

/// The pages an invalidation in progress covers in VM `vm`, one bit per
/// page (`mmu_invalidate_in_progress` with a range that contains the gfn).
/// kvm_gmem_error_folio() zaps and bumps the seq inside one step, so it
/// never leaves an invalidation open between steps.
pub fn invalidation_mask(cfg: &Config, st: &State, vm: usize) -> u16 {
    converter::invalidation_mask(cfg, st, vm) | truncate::invalidation_mask(cfg, st, vm)
}

/// Is an invalidation covering page `i` in progress in VM `vm`?
pub fn invalidation_covers(cfg: &Config, st: &State, vm: usize, i: usize) -> bool {
    invalidation_mask(cfg, st, vm) & (1 << i) != 0
}

pub fn step(cfg: &Config, st: &mut State, vm: usize) -> bool {
    let Some(op) = current(cfg, st, vm) else {
        return false;
    };
    let i = op.page as usize;
    let bug = cfg.has(Bug::GuestCheckBeforeSeq);
    match st.guests[vm].pc.get() {
        GuestPc::Idle => return false,
        GuestPc::Snapshot => {
            st.guests[vm].seq_stale = false;
            st.guests[vm].pc.set(if bug {
                GuestPc::GetPfn
            } else {
                GuestPc::CheckAttr
            });
        }
        GuestPc::CheckAttr => {
            if st.pages[i].attr() != op.access {
                // KVM_EXIT_MEMORY_FAULT: userspace must convert first.
                done(st, vm);
            } else {
                st.guests[vm].pc.set(if bug {
                    GuestPc::Snapshot
                } else {
                    GuestPc::GetPfn
                });
            }
        }
        GuestPc::GetPfn => {
            // kvm_gmem_get_pfn(): filemap_invalidate_lock_shared() around
            // kvm_gmem_get_folio(), which locks the folio.
            if !st.invalidate_lock.can_read() {
                return false;
            }
            if st.bound & (1 << vm) == 0 {
                // The VM's file was released: no memslot binding, -EFAULT.
                done(st, vm);
                return true;
            }
            if st.pages[i]
                .folio
                .get()
                .is_some_and(|s| mm::folio_locked(st, s) || st.folio(s).frozen)
            {
                return false;
            }
            let fresh = mm::fresh_gigantic(cfg, st, i);
            let got = mm::alloc(cfg, st, i);
            if let Some(g) = fresh.filter(|&g| got.is_some() && mm::needs_fresh_split(st, g)) {
                // Design hugetlb: __maybe_split_fresh_folio() under the
                // shared lock (held across the split: `tid`'s reader bit).
                st.invalidate_lock.readers |= 1 << tid(vm);
                st.guests[vm].pc.set(GuestPc::FreshSplit(g as u8));
                return true;
            }
            match got {
                Some(s) if st.folio(s).poisoned => {
                    // -EHWPOISON: KVM reports the poisoned pfn to userspace.
                    done(st, vm);
                }
                Some(s) => {
                    if st.pages[i].private && converter::arch_converts(cfg) {
                        // Lazy kvm_arch_gmem_make_private() under the shared lock.
                        let first = st.folio(s).index as usize;
                        st.folio_mut(s).hw_private |= 1 << (i - first);
                    }
                    // folio_unlock(); folio_put(): no reference survives.
                    st.guests[vm].pc.set(GuestPc::Install(s));
                }
                None => done(st, vm),
            }
        }
        GuestPc::FreshSplit(g) => {
            // Freeze at the page cache's count (spinning), split, unfreeze.
            if !mm::fresh_split(cfg, st, g as usize) {
                return false;
            }
            st.invalidate_lock.readers &= !(1 << tid(vm));
            let s = mm::sub_slot(i);
            if st.pages[i].private && converter::arch_converts(cfg) {
                st.folio_mut(s).hw_private |= 1;
            }
            st.guests[vm].pc.set(GuestPc::Install(s));
        }
        GuestPc::Install(s) => {
            // Under mmu_lock: retry if an invalidation is in progress for the
            // gfn or mmu_invalidate_seq moved since the snapshot. BUG
            // install_no_retry installs without looking.
            let stale = st.guests[vm].seq_stale || invalidation_covers(cfg, st, vm, i);
            if stale && !cfg.has(Bug::InstallNoRetry) {
                st.guests[vm].pc.set(first(cfg));
                return true;
            }
            if cfg.design == Design::Hugetlb {
                install_hugetlb(cfg, st, vm, i, s, op.access);
                access(st, mm::folio_of_pfn(cfg, st, i).unwrap_or(s), i, op.access);
                done(st, vm);
                return true;
            }
            st.pages[i].s2[vm].set(match op.access {
                Attr::Shared => S2::Shared(s),
                Attr::Private => S2::Private(s),
            });
            access(st, s, i, op.access);
            done(st, vm);
        }
    }
    true
}

/// The thread id of VM `vm`'s vCPU (as `Actor::Guest(vm).tid()`).
fn tid(vm: usize) -> u8 {
    crate::actors::Actor::Guest(vm as u8).tid()
}

/// Design hugetlb: the install of page `i` for a pfn whose folio was `s`
/// when `kvm_gmem_get_pfn()` returned. Stage-2 maps pfns: the entry names
/// the folio that backs the pfn now (a split or merge in between keeps the
/// pfn; a freed gigantic page leaves `s` as it was). The level is huge when
/// get_pfn's `max_order` (the folio's order) and `kvm_gmem_mapping_order()`
/// (the huge page's whole range private, read without the lock) both allow
/// it; the leaf then maps every subpage of the huge page.
fn install_hugetlb(cfg: &Config, st: &mut State, vm: usize, i: usize, s: Slot, t: Attr) {
    let g = mm::gig_of(cfg, i);
    let pfn = |st: &State, j: usize| {
        if st.gigantic[g].in_pool {
            if j == i {
                s
            } else {
                mm::sub_slot(j)
            }
        } else {
            mm::folio_of_pfn(cfg, st, j).unwrap_or(s)
        }
    };
    let (glo, ghi) = mm::gig_range(cfg, g);
    // kvm_gmem_mapping_order(): kvm_gmem_range_has_attributes() from
    // `index_floor`; BUG huge_map_mixed checks from the faulting `index`,
    // as the branch's code does (it computes `index_floor` and leaves it
    // unused), which crosses into the next huge page.
    let (mlo, mhi) = if cfg.has(Bug::HugeMapMixed) {
        (i, (i + mm::ppg(cfg)).min(cfg.pages as usize))
    } else {
        (glo, ghi)
    };
    let order_ok = (mlo..mhi).all(|j| st.pages[j].private);
    let huge = t == Attr::Private && st.folio(s).large && order_ok;
    if huge {
        for j in glo..ghi {
            let e = pfn(st, j);
            st.pages[j].s2[vm].set(S2::Private(e));
            st.pages[j].s2_huge |= 1 << vm;
        }
    } else {
        let e = pfn(st, i);
        st.pages[i].s2[vm].set(match t {
            Attr::Shared => S2::Shared(e),
            Attr::Private => S2::Private(e),
        });
    }
}
