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

/// Pages `lo..hi` as a bit set, one bit per page index (`MAX_PAGES` <= 16).
pub fn page_bits(lo: usize, hi: usize) -> u16 {
    const _: () = assert!(crate::config::MAX_PAGES <= 16);
    let below = |n: usize| if n >= 16 { u16::MAX } else { (1u16 << n) - 1 };
    below(hi) & !below(lo)
}

/// Pages per gigantic page: two in design hugetlb (two gigantic pages of
/// two subpages), the whole file in split/huge_whole.
pub fn ppg(cfg: &Config) -> usize {
    if cfg.design == Design::Hugetlb {
        2
    } else {
        cfg.pages as usize
    }
}

/// Gigantic pages backing the file.
pub fn nr_gigantic(cfg: &Config) -> usize {
    if !cfg.design.is_huge() {
        0
    } else {
        (cfg.pages as usize).div_ceil(ppg(cfg))
    }
}

/// The gigantic page that holds file page `i`.
pub fn gig_of(cfg: &Config, i: usize) -> usize {
    i / ppg(cfg)
}

/// File pages of gigantic page `g`.
pub fn gig_range(cfg: &Config, g: usize) -> (usize, usize) {
    let n = ppg(cfg);
    (g * n, (g + 1) * n)
}

/// The slot of gigantic page `g`'s whole folio: `WHOLE` for the first (so
/// split/huge_whole keep their layout), after the subfolio slots
/// (`sub_slot(i)` = 1 + i for every page) for the second.
pub fn whole_slot(cfg: &Config, g: usize) -> Slot {
    if g == 0 {
        WHOLE
    } else {
        (cfg.pages as usize + g) as Slot
    }
}

/// Every folio slot of gigantic page `g`: its whole folio and its subfolios.
pub fn gig_slots(cfg: &Config, g: usize) -> impl Iterator<Item = Slot> {
    let (lo, hi) = gig_range(cfg, g);
    std::iter::once(whole_slot(cfg, g)).chain((lo..hi).map(sub_slot))
}

/// References the page cache holds on a folio: one per page
/// (`folio_nr_pages()`), i.e. the baseline a quiescent folio sits at.
pub fn baseline(cfg: &Config, f: &Folio) -> i32 {
    if f.large {
        if cfg.design == Design::Hugetlb {
            ppg(cfg) as i32
        } else {
            cfg.pages as i32
        }
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
        let g = gig_of(cfg, f.index as usize);
        free(cfg, st, s);
        if large && cfg.design.is_huge() {
            return_gigantic_to_pool(st, g);
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
        .any(|p| matches!(p.pc.get(), ProcPc::Fault(f) if at(f)))
        || st
            .pinners
            .iter()
            .any(|p| matches!(p.pc.get(), PinPc::SlowFault(f) if at(f)))
        || st
            .conv
            .iter()
            .any(|c| matches!(c.pc.get(), ConvPc::CopyOut(f) if at(f)))
        || matches!(st.dev.pc.get(), DevPc::Fault(f) if at(f))
        || matches!(st.populate.pc.get(), PopPc::SrcFault(f) if at(f))
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
        let g = gig_of(cfg, i);
        if st.gigantic[g].in_pool {
            return None;
        }
        match st.gigantic[g].structure.get() {
            Structure::Whole | Structure::Splitting => Some(whole_slot(cfg, g)),
            Structure::Split | Structure::Merging => Some(sub_slot(i)),
        }
    } else {
        st.pages[i].folio.get()
    }
}

/// kvm_gmem_get_folio() / filemap_grab_folio(): the folio at index `i`,
/// allocated (zeroed) if absent. `None` when nothing can be allocated (the
/// file is closed, or the only gigantic page is still out of the pool).
pub fn alloc(cfg: &Config, st: &mut State, i: usize) -> Option<Slot> {
    if let Some(s) = st.pages[i].folio.get() {
        return Some(s);
    }
    if st.closed {
        return None;
    }
    let n = cfg.pages as usize;
    if cfg.design.is_huge() {
        // A gigantic page backs the file (design hugetlb: each half); it
        // leaves the pool when its first subpage is allocated.
        let g = gig_of(cfg, i);
        let (glo, ghi) = gig_range(cfg, g);
        let w = whole_slot(cfg, g);
        if !st.gigantic[g].in_pool {
            return None;
        }
        st.gigantic[g].in_pool = false;
        st.gigantic[g].released = false;
        let any_shared = (glo..ghi).any(|j| !st.pages[j].private);
        if cfg.design == Design::Split && any_shared {
            // RFC v2 1G: pages are split to 4K before being handed out while
            // any subpage is shared ("Split iff some subpage is shared").
            st.gigantic[g].structure.set(Structure::Split);
            for j in 0..n {
                *st.folio_mut(sub_slot(j)) = Folio {
                    state: FolioState::PageCache,
                    index: j as u8,
                    refcount: 1,
                    ..Folio::default()
                };
                st.pages[j].folio.set(Some(sub_slot(j)));
            }
        } else {
            // Design hugetlb: kvm_gmem_get_folio() adds the whole huge folio
            // to the page cache; if its range is not all private, the
            // caller splits it next (`__maybe_split_fresh_folio()`, the
            // faults' `FreshSplit` step) and meanwhile it is `Splitting`.
            st.gigantic[g]
                .structure
                .set(if cfg.design == Design::Hugetlb && any_shared {
                    Structure::Splitting
                } else {
                    Structure::Whole
                });
            *st.folio_mut(w) = Folio {
                state: FolioState::PageCache,
                large: true,
                index: glo as u8,
                refcount: (ghi - glo) as i32,
                ..Folio::default()
            };
            for j in glo..ghi {
                st.pages[j].folio.set(Some(w));
            }
        }
        return st.pages[i].folio.get();
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
            st.pages[j].folio.set(Some(slot));
        }
    } else {
        st.pages[i].folio.set(Some(slot));
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
    match st.dev.pc.get() {
        DevPc::Idle | DevPc::Finished => {}
        // The device's page table entry goes; its next access faults and the
        // driver starts over with mmu_interval_read_begin().
        DevPc::Mapped(_) => {
            st.dev.pc.set(DevPc::ReadPte);
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
        if let (Some(s), true) = (st.pages[i].folio.get(), pte_holds_ref(cfg)) {
            put(cfg, st, s, ptes.count_ones() as i32);
        }
    }
}

/// kvm_mmu_unmap_gfn_range() under each VM's mmu_lock: zap the stage-2
/// entries of pages `lo..hi` in the VMs of the bitmask `vms`, optionally only
/// those of one type (v13's `KVM_FILTER_SHARED` / `KVM_FILTER_PRIVATE`).
pub fn zap_stage2(st: &mut State, vms: u8, lo: usize, hi: usize, only: Option<invariants::Attr>) {
    for i in lo..hi {
        let p = &mut st.pages[i];
        let mut leaf = 0u8;
        for (v, e) in p.s2.iter_mut().enumerate() {
            if vms & (1 << v) == 0 {
                continue;
            }
            let zap = match (e.get(), only) {
                (S2::None, _) => false,
                (_, None) => true,
                (S2::Shared(_), Some(a)) => a == invariants::Attr::Shared,
                (S2::Private(_), Some(a)) => a == invariants::Attr::Private,
            };
            if zap {
                e.set(S2::None);
                leaf |= p.s2_huge & (1 << v);
            }
        }
        if leaf != 0 {
            // Design hugetlb: a huge leaf goes as a whole (its two
            // subpages are the aligned pair i, i ^ 1).
            st.pages[i].s2_huge &= !leaf;
            let q = &mut st.pages[i ^ 1];
            for v in 0..MAX_VMS_U8 {
                if leaf & (1 << v) != 0 {
                    q.s2[v as usize].set(S2::None);
                }
            }
            q.s2_huge &= !leaf;
        }
    }
}

const MAX_VMS_U8: u8 = invariants::MAX_VMS as u8;

/// Design hugetlb, `kvm_gmem_split_private()` /
/// `kvm_split_cross_boundary_leafs()`: the huge private leaves over pages
/// `lo..hi` in the VMs of `vms` become 4K leaves to the same pfns.
pub fn split_stage2(st: &mut State, vms: u8, lo: usize, hi: usize) {
    for p in &mut st.pages[lo..hi] {
        p.s2_huge &= !vms;
    }
}

/// Are there huge stage-2 leaves over pages `lo..hi` in the VMs of `vms`?
pub fn has_huge_leaf(st: &State, vms: u8, lo: usize, hi: usize) -> bool {
    st.pages[lo..hi].iter().any(|p| p.s2_huge & vms != 0)
}

/// Design hugetlb: stage-2 maps pfns, so when gigantic page `g` is split
/// or merged its entries follow their pfn to the new folio (the model
/// names a pfn by the folio that backs it).
pub fn restage2(cfg: &Config, st: &mut State, g: usize) {
    if cfg.design != Design::Hugetlb {
        return;
    }
    let (lo, hi) = gig_range(cfg, g);
    for i in lo..hi {
        let Some(s) = folio_of_pfn(cfg, st, i) else {
            continue;
        };
        for e in st.pages[i].s2.iter_mut() {
            e.set(match e.get() {
                S2::None => S2::None,
                S2::Shared(_) => S2::Shared(s),
                S2::Private(_) => S2::Private(s),
            });
        }
    }
}

/// Design hugetlb: split gigantic page `g`'s (frozen) whole folio into
/// 4K subfolios at the page cache's count and unfreeze each
/// (`gmem_hugetlb_restructure_folio()` to order 0, after
/// `hugetlb_vmemmap_restore_folio()`, `mm/hugetlb_restructuring.c`).
/// Shared with design split's converter.
pub fn split_gigantic(cfg: &Config, st: &mut State, g: usize) {
    let (lo, hi) = gig_range(cfg, g);
    let w = st.folio_mut(whole_slot(cfg, g));
    if w.frozen {
        w.frozen = false;
    } else {
        // Unfrozen (bug): the page cache's references move to the 4K
        // folios, anything else stays behind on the folio that is gone.
        w.refcount -= (hi - lo) as i32;
    }
    w.state = FolioState::Gone;
    w.large = false;
    // Each 4K subfolio keeps its page's hardware state and poison.
    let (hw, poisoned) = (w.hw_private, w.poisoned);
    w.hw_private = 0;
    for j in lo..hi {
        *st.folio_mut(sub_slot(j)) = Folio {
            state: FolioState::PageCache,
            index: j as u8,
            refcount: 1,
            hw_private: (hw >> (j - lo)) & 1,
            poisoned,
            ..Folio::default()
        };
        st.pages[j].folio.set(Some(sub_slot(j)));
    }
    st.gigantic[g].structure.set(Structure::Split);
    restage2(cfg, st, g);
}

/// Remove page `i`'s folio from the page cache (truncate/release): the page
/// cache drops its reference(s); a folio still referenced is orphaned.
pub fn remove_from_page_cache(cfg: &Config, st: &mut State, i: usize) {
    let Some(s) = st.pages[i].folio.get() else {
        return;
    };
    let f = *st.folio(s);
    if f.large {
        // A large folio leaves the page cache as a whole.
        for p in &mut st.pages[..cfg.pages as usize] {
            if p.folio.get() == Some(s) {
                p.folio.set(None);
            }
        }
    } else {
        st.pages[i].folio.set(None);
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
pub fn return_gigantic_to_pool(st: &mut State, g: usize) {
    st.gigantic[g].in_pool = true;
    st.gigantic[g].structure.set(Structure::Whole);
    st.gigantic[g].released = st.closed;
}

/// The gigantic page's memory holds no reference and no folio of it is in
/// the page cache: guest_memfd's allocator may merge it and pool it.
pub fn gigantic_unreferenced(cfg: &Config, st: &State, g: usize) -> bool {
    gig_slots(cfg, g).all(|s| {
        matches!(
            st.folio(s).state,
            FolioState::Unused | FolioState::Freed | FolioState::Gone
        ) && st.folio(s).refcount == 0
    })
}

/// Design hugetlb: is page `i`'s gigantic page still in the pool, so that
/// allocating page `i` takes a fresh huge folio? Returns that gigantic page.
pub fn fresh_gigantic(cfg: &Config, st: &State, i: usize) -> Option<usize> {
    let g = gig_of(cfg, i);
    (cfg.design == Design::Hugetlb && st.pages[i].folio.get().is_none() && st.gigantic[g].in_pool)
        .then_some(g)
}

/// Design hugetlb: the fresh folio of gigantic page `g` must be split
/// (its range is not all private: `kvm_gmem_range_has_attributes()` in
/// `__maybe_split_fresh_folio()`).
pub fn needs_fresh_split(st: &State, g: usize) -> bool {
    st.gigantic[g].structure == Structure::Splitting
}

/// Design hugetlb, the fault path's split of a fresh folio: freeze the
/// whole folio at the page cache's count (false: someone else holds a
/// reference, spin), then split it to 4K.
pub fn fresh_split(cfg: &Config, st: &mut State, g: usize) -> bool {
    if !freeze(st, whole_slot(cfg, g), ppg(cfg) as i32) {
        return false;
    }
    split_gigantic(cfg, st, g);
    true
}
