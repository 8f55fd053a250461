//! Kernel primitives shared by the actors, each one atomic in the kernel:
//! folio allocation into the page cache, reference get/put/try-add, freeze,
//! unmap_mapping_pages(), stage-2 zap. Actors compose them into steps.

use crate::config::{Bug, Config, Design};
use crate::state::*;
use invariants::Structure;

/// The slot of the gigantic page's whole folio in designs split/huge_whole;
/// subfolio of page i is `1 + i`.
pub const WHOLE: Slot = 0;

pub fn sub_slot(i: usize) -> Slot {
    1 + i as Slot
}

/// References the page cache holds on a folio: one per page
/// (`folio_nr_pages()`), i.e. the baseline a quiescent folio sits at.
pub fn baseline(cfg: &Config, f: &Folio) -> i32 {
    if f.large {
        cfg.pages as i32
    } else {
        1
    }
}

/// Does the design's host PTE hold a folio reference? PFNMAP PTEs are
/// "special" and reference nothing (mm/memory.c: vmf_insert_pfn(), vm_normal_page()).
pub fn pte_holds_ref(cfg: &Config) -> bool {
    cfg.design != Design::Pfnmap
}

/// folio_get() / folio_ref_add().
pub fn get(st: &mut State, s: Slot, n: i32) {
    st.folio_mut(s).refcount += n;
}

/// folio_put(): the last reference frees the folio. A large folio's free is
/// free_huge_folio(): the gigantic page goes back to the hugetlb pool.
/// 4K subfolios of a released gigantic page are freed to guest_memfd's
/// allocator, which merges and pools them in its own callback.
pub fn put(cfg: &Config, st: &mut State, s: Slot, n: i32) {
    let f = st.folio_mut(s);
    f.refcount -= n;
    if f.refcount == 0 && !f.frozen && matches!(f.state, FolioState::Orphaned) {
        let large = f.large;
        free(cfg, st, s);
        if large && cfg.design.is_huge() {
            return_gigantic_to_pool(st);
        }
    }
}

/// The folio goes back to the allocator. `kvm_gmem_free_folio()` first calls
/// `kvm_arch_gmem_reclaim()`, which returns every page to the host in the
/// hardware's table (BUG no_reclaim_on_free skips it: the pages reach the
/// allocator still hardware-private).
fn free(cfg: &Config, st: &mut State, s: Slot) {
    let keep_hw = if cfg.has(Bug::NoReclaimOnFree) {
        st.folio(s).hw_private
    } else {
        0
    };
    *st.folio_mut(s) = Folio {
        state: FolioState::Freed,
        hw_private: keep_hw,
        ..Folio::default()
    };
}

/// Is folio `s` locked (`folio_lock()`)? The folio lock is held by a fault
/// from its lookup to `finish_fault()`, i.e. exactly while some fault path
/// sits at `FaultPc::Install(s)`, so it is derived, not stored.
pub fn folio_locked(st: &State, s: Slot) -> bool {
    let at = |pc: FaultPc| pc == FaultPc::Install(s);
    st.procs
        .iter()
        .any(|p| matches!(p.pc, ProcPc::Fault(f) if at(f)))
        || st
            .pinners
            .iter()
            .any(|p| matches!(p.pc, PinPc::SlowFault(f) if at(f)))
        || matches!(st.conv.pc, ConvPc::CopyOut(f) if at(f))
        || matches!(st.dev.pc, DevPc::Fault(f) if at(f))
}

/// `kvm_gmem_invalidate_end()` in the VMs of `vms`: `mmu_invalidate_seq++`,
/// which every vCPU of that VM with a snapshot will see at its retry check.
pub fn bump_seq(st: &mut State, vms: u8) {
    for (v, g) in st.guests.iter_mut().enumerate() {
        if vms & (1 << v) != 0 {
            g.seq_stale = true;
        }
    }
}

/// folio_ref_try_add() as GUP-fast and speculative lookups use it: fails on a
/// frozen or zero refcount (freed, or a tail of a merged page).
pub fn try_add(st: &mut State, s: Slot, n: i32) -> bool {
    let f = st.folio_mut(s);
    if f.frozen || f.refcount <= 0 {
        return false;
    }
    f.refcount += n;
    true
}

/// folio_ref_freeze(folio, count): succeeds only at exactly `count`.
pub fn freeze(st: &mut State, s: Slot, count: i32) -> bool {
    let f = st.folio_mut(s);
    if f.frozen || f.refcount != count {
        return false;
    }
    f.frozen = true;
    f.refcount = 0;
    true
}

pub fn unfreeze(st: &mut State, s: Slot, count: i32) {
    let f = st.folio_mut(s);
    f.frozen = false;
    f.refcount = count;
}

/// The folio that backs pfn `i` right now (page_folio() of the physical page):
/// for designs backed by a gigantic page this follows the structure, not the
/// page cache.
pub fn folio_of_pfn(cfg: &Config, st: &State, i: usize) -> Option<Slot> {
    if cfg.design.is_huge() {
        if st.gigantic.in_pool {
            return None;
        }
        match st.gigantic.structure {
            Structure::Whole | Structure::Splitting => Some(WHOLE),
            Structure::Split | Structure::Merging => Some(sub_slot(i)),
        }
    } else {
        st.pages[i].folio
    }
}

/// kvm_gmem_get_folio() / filemap_grab_folio(): the folio at index `i`,
/// allocated (zeroed) if absent. `None` when nothing can be allocated (the
/// file is closed, or the only gigantic page is still out of the pool).
pub fn alloc(cfg: &Config, st: &mut State, i: usize) -> Option<Slot> {
    if let Some(s) = st.pages[i].folio {
        return Some(s);
    }
    if st.closed {
        return None;
    }
    let n = cfg.pages as usize;
    if cfg.design.is_huge() {
        // One gigantic page backs the whole file; it leaves the pool when the
        // first subpage is allocated.
        if !st.gigantic.in_pool {
            return None;
        }
        st.gigantic.in_pool = false;
        let any_shared = (0..n).any(|j| !st.pages[j].private);
        if cfg.design == Design::Split && any_shared {
            // RFC v2 1G: pages are split to 4K before being handed out while
            // any subpage is shared ("Split iff some subpage is shared").
            st.gigantic.structure = Structure::Split;
            for j in 0..n {
                *st.folio_mut(sub_slot(j)) = Folio {
                    state: FolioState::PageCache,
                    index: j as u8,
                    refcount: 1,
                    ..Folio::default()
                };
                st.pages[j].folio = Some(sub_slot(j));
            }
        } else {
            st.gigantic.structure = Structure::Whole;
            *st.folio_mut(WHOLE) = Folio {
                state: FolioState::PageCache,
                large: true,
                index: 0,
                refcount: n as i32,
                ..Folio::default()
            };
            for j in 0..n {
                st.pages[j].folio = Some(WHOLE);
            }
        }
        return st.pages[i].folio;
    }
    let slot = st
        .folios
        .iter()
        .position(|f| f.state == FolioState::Unused)? as Slot;
    // filemap_add_folio() -> folio_add_lru(): a fresh small folio sits in
    // the per-CPU lru_add batch, which holds a reference (mm/swap.c:
    // folio_add_lru(), folio_batch_add_and_move()).
    let lru = cfg.lru;
    *st.folio_mut(slot) = Folio {
        state: FolioState::PageCache,
        large: cfg.design == Design::ExclusivePin && cfg.pages > 1,
        index: i as u8,
        refcount: 1 + lru as i32,
        lru,
        ..Folio::default()
    };
    if st.folio(slot).large {
        // An anonymous THP covering every page (exclusive-pin RFC).
        let total = cfg.pages as i32;
        st.folio_mut(slot).refcount = total + lru as i32;
        for j in 0..n {
            st.pages[j].folio = Some(slot);
        }
    } else {
        st.pages[i].folio = Some(slot);
    }
    Some(slot)
}

/// lru_add_drain_all(): every per-CPU batch is flushed, dropping its references.
pub fn lru_add_drain_all(cfg: &Config, st: &mut State) {
    for s in 0..MAX_FOLIOS as Slot {
        if st.folio(s).lru {
            st.folio_mut(s).lru = false;
            put(cfg, st, s, 1);
        }
    }
}

/// `mmu_notifier_invalidate_range_start()` on the mms of `procs` over pages
/// `lo..hi`, as `zap_page_range_single()` fires it for every VMA it walks,
/// whether or not a PTE is present (`unmap_mapping_pages()`, truncation,
/// MADV_DONTNEED). An interval notifier overlapping it runs its
/// `invalidate()` callback under the driver's lock: `mmu_interval_set_seq()`
/// (a reader between `mmu_interval_read_begin()` and its retry check will
/// retry) and the device page table is zapped (a device that still maps
/// the page faults on its next access and mirrors it again). VFIO type1's
/// PFNMAP mappings register no notifier and are not here.
pub fn mmu_notifier_invalidate(cfg: &Config, st: &mut State, procs: u8, lo: usize, hi: usize) {
    let Some(d) = cfg.secondary_mmu else { return };
    let i = d.page as usize;
    if procs & (1 << d.proc) == 0 || i < lo || i >= hi {
        return;
    }
    match st.dev.pc {
        DevPc::Idle | DevPc::Finished => {}
        // The device's page table entry goes; its next access faults and the
        // driver starts over with mmu_interval_read_begin().
        DevPc::Mapped(_) => {
            st.dev.pc = DevPc::ReadPte;
            st.dev.seq_stale = false;
        }
        _ => st.dev.seq_stale = true,
    }
}

/// unmap_mapping_pages(): zap every process's PTE on pages `lo..hi` (with TLB
/// flush); each PTE's folio reference is dropped. Every process maps the
/// file, so every mm's notifiers fire.
pub fn unmap_mapping_pages(cfg: &Config, st: &mut State, lo: usize, hi: usize) {
    mmu_notifier_invalidate(cfg, st, u8::MAX, lo, hi);
    for i in lo..hi {
        let ptes = st.pages[i].ptes;
        if ptes == 0 {
            continue;
        }
        st.pages[i].ptes = 0;
        if let (Some(s), true) = (st.pages[i].folio, pte_holds_ref(cfg)) {
            put(cfg, st, s, ptes.count_ones() as i32);
        }
    }
}

/// kvm_mmu_unmap_gfn_range() under each VM's mmu_lock: zap the stage-2
/// entries of pages `lo..hi` in the VMs of the bitmask `vms`, optionally only
/// those of one type (v13's `KVM_FILTER_SHARED` / `KVM_FILTER_PRIVATE`).
pub fn zap_stage2(st: &mut State, vms: u8, lo: usize, hi: usize, only: Option<invariants::Attr>) {
    for p in &mut st.pages[lo..hi] {
        for (v, e) in p.s2.iter_mut().enumerate() {
            if vms & (1 << v) == 0 {
                continue;
            }
            let zap = match (*e, only) {
                (S2::None, _) => false,
                (_, None) => true,
                (S2::Shared(_), Some(a)) => a == invariants::Attr::Shared,
                (S2::Private(_), Some(a)) => a == invariants::Attr::Private,
            };
            if zap {
                *e = S2::None;
            }
        }
    }
}

/// Remove page `i`'s folio from the page cache (truncate/release): the page
/// cache drops its reference(s); a folio still referenced is orphaned.
pub fn remove_from_page_cache(cfg: &Config, st: &mut State, i: usize) {
    let Some(s) = st.pages[i].folio else { return };
    let f = *st.folio(s);
    if f.large {
        // A large folio leaves the page cache as a whole.
        for p in &mut st.pages[..cfg.pages as usize] {
            if p.folio == Some(s) {
                p.folio = None;
            }
        }
    } else {
        st.pages[i].folio = None;
    }
    st.folio_mut(s).state = FolioState::Orphaned;
    let nr = baseline(cfg, &f);
    put(cfg, st, s, nr);
}

/// The gigantic page goes back to the hugetlb pool. Its folio slots keep
/// their freed/gone states until the next allocation rewrites them all; a
/// reference still held on one of them is what `gigantic_pool_safe` flags.
/// `released` stays set only after a close (a punch hands the page back
/// while the file still owns the range).
pub fn return_gigantic_to_pool(st: &mut State) {
    st.gigantic.in_pool = true;
    st.gigantic.structure = Structure::Whole;
    st.gigantic.released = st.closed;
}

/// The gigantic page's memory holds no reference and no folio of it is in
/// the page cache: guest_memfd's allocator may merge it and pool it.
pub fn gigantic_unreferenced(cfg: &Config, st: &State) -> bool {
    let n = cfg.pages as usize;
    std::iter::once(WHOLE).chain((0..n).map(sub_slot)).all(|s| {
        matches!(
            st.folio(s).state,
            FolioState::Unused | FolioState::Freed | FolioState::Gone
        ) && st.folio(s).refcount == 0
    })
}
