//! struct folio: the refcount in the kernel's encoding, plus its memory.
//!
//! The counter is a real `AtomicI64` driven with the kernel's primitives
//! (`include/linux/page_ref.h`; docs/kernel.md#gup, #freeze): `folio_ref_try_add` (add unless zero: fails on
//! a freed or *frozen* folio), `folio_ref_freeze`/`unfreeze` by
//! compare-exchange at an expected count, FOLL_PIN adding
//! GUP_PIN_COUNTING_BIAS (1024) to a small folio and `_pincount`+1 /
//! refcount+1 to a large one, and the exclusive-pin RFC's CAS
//! (docs/kernel.md#exclusive-pin-rfc).
//!
//! Next to the counter each folio keeps a *ghost* record of what the count is
//! made of ([`RefParts`]), where it lives and whether it is frozen or freed.
//! The kernel has no such record; we keep it so that the invariants view can
//! check that the counter always equals the encoding of its parts.

use crate::sync::atomic::{fence, AtomicBool, AtomicI64, Ordering};
use crate::sync::{lock, Arc, Mutex};
use invariants::{FolioHome, FolioId, RefParts, GUP_PIN_COUNTING_BIAS, GUP_PIN_EXCLUSIVE_BIAS};
use std::collections::BTreeMap;

/// Physical memory: one byte of content per 4K page, sparse (an absent
/// entry reads 0), so a 1 GiB gigantic page costs nothing until written.
#[derive(Debug, Default)]
pub struct Phys {
    bytes: Mutex<BTreeMap<usize, u8>>,
    /// Hardware ownership per 4K page (offsets held private by the
    /// hardware: SNP's RMP, TDX's PAMT, pKVM's host stage-2). It belongs to
    /// the memory, not to a folio, so it survives a split or a merge of the
    /// folios made of it.
    hw_private: Mutex<std::collections::BTreeSet<usize>>,
}

impl Phys {
    pub fn new() -> Arc<Phys> {
        Arc::new(Phys::default())
    }
    pub fn read(&self, off: usize) -> u8 {
        lock(&self.bytes).get(&off).copied().unwrap_or(0)
    }
    pub fn write(&self, off: usize, v: u8) {
        let mut b = lock(&self.bytes);
        if v == 0 {
            b.remove(&off);
        } else {
            b.insert(off, v);
        }
    }
    /// Zero `[start, end)` (clear_highpage for every page in it).
    pub fn zero(&self, start: usize, end: usize) {
        let mut b = lock(&self.bytes);
        let keys: Vec<usize> = b.range(start..end).map(|(&k, _)| k).collect();
        for k in keys {
            b.remove(&k);
        }
    }
    pub fn metadata_bytes(&self) -> usize {
        (lock(&self.bytes).len() + lock(&self.hw_private).len()) * 32
    }
    /// Is page `off` held private by the hardware?
    pub fn hw_private(&self, off: usize) -> bool {
        lock(&self.hw_private).contains(&off)
    }
    /// Set or clear the hardware's private ownership of `[start, end)`.
    pub fn set_hw(&self, start: usize, end: usize, private: bool) {
        let mut h = lock(&self.hw_private);
        if private {
            h.extend(start..end);
        } else {
            let keys: Vec<usize> = h.range(start..end).copied().collect();
            for k in keys {
                h.remove(&k);
            }
        }
    }
    /// Does the hardware hold any page of `[start, end)` private?
    pub fn any_hw_private(&self, start: usize, end: usize) -> bool {
        lock(&self.hw_private).range(start..end).next().is_some()
    }
}

/// What a reference is, for the ghost accounting and for its encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ref {
    /// The page cache's references (1 for a small folio, nr_pages for large).
    PageCache(i64),
    /// A host PTE (not for special PFNMAP PTEs, which hold none).
    Pte,
    /// FOLL_GET.
    Get,
    /// FOLL_PIN (short or long term).
    Pin,
    /// Fault lookup, GUP-fast in flight, speculative try-get, LRU batch,
    /// the converter's own lookup.
    Transient,
}

#[derive(Clone, Copy, Debug)]
struct Ghost {
    parts: RefParts,
    home: FolioHome,
    frozen: bool,
    freed: bool,
}

#[derive(Debug)]
pub struct Folio {
    pub id: FolioId,
    /// First file index covered.
    pub index: usize,
    pub nr_pages: usize,
    /// A large folio (hugetlb gigantic page kept whole).
    pub large: bool,
    /// The gigantic page whose memory this folio is (huge designs).
    pub gigantic: Option<u32>,
    phys: Arc<Phys>,
    phys_off: usize,
    refcount: AtomicI64,
    pincount: AtomicI64,
    /// Sitting in the per-CPU lru_add batch ("may be LRU cached").
    pub in_lru_batch: AtomicBool,
    /// PG_locked: held by the fault path from lookup until the PTE is
    /// installed, and by truncation while it removes the folio.
    lock: Mutex<()>,
    /// PG_hwpoison: memory failure hit this folio
    /// (`mm/memory-failure.c: memory_failure()`).
    poisoned: AtomicBool,
    /// The folio's pages are not in the kernel's direct map (design
    /// `no_direct_map`: `set_direct_map_invalid_noflush()` at allocation,
    /// `set_direct_map_default_noflush()` when freed).
    direct_map_removed: AtomicBool,
    ghost: Mutex<Ghost>,
}

impl Folio {
    /// A folio fresh from the allocator, owned by the page cache: refcount
    /// = its page-cache references.
    pub fn new(
        id: FolioId,
        index: usize,
        nr_pages: usize,
        large: bool,
        gigantic: Option<u32>,
        phys: Arc<Phys>,
        phys_off: usize,
    ) -> Folio {
        let pc = if large { nr_pages as i64 } else { 1 };
        Folio {
            id,
            index,
            nr_pages,
            large,
            gigantic,
            phys,
            phys_off,
            refcount: AtomicI64::new(pc),
            pincount: AtomicI64::new(0),
            in_lru_batch: AtomicBool::new(false),
            lock: Mutex::new(()),
            poisoned: AtomicBool::new(false),
            direct_map_removed: AtomicBool::new(false),
            ghost: Mutex::new(Ghost {
                parts: RefParts {
                    pagecache: pc as i32,
                    ..RefParts::default()
                },
                home: FolioHome::PageCache(index),
                frozen: false,
                freed: false,
            }),
        }
    }

    /// folio_lock.
    pub fn folio_lock(&self) -> crate::sync::MutexGuard<'_, ()> {
        lock(&self.lock)
    }
    /// folio_trylock.
    pub fn folio_trylock(&self) -> Option<crate::sync::MutexGuard<'_, ()>> {
        self.lock.try_lock().ok()
    }
    /// folio_test_locked (a snapshot).
    pub fn folio_test_locked(&self) -> bool {
        self.folio_trylock().is_none()
    }

    pub fn covers(&self, index: usize) -> bool {
        index >= self.index && index < self.index + self.nr_pages
    }

    /// The refcount the converter expects with only the page cache's
    /// references (v7: `nr_pages + 1` including its own lookup).
    pub fn baseline(&self) -> i64 {
        if self.large {
            self.nr_pages as i64
        } else {
            1
        }
    }

    // ---- memory ---------------------------------------------------------

    pub fn read(&self, index: usize) -> u8 {
        self.phys.read(self.phys_off + (index - self.index))
    }
    pub fn write(&self, index: usize, v: u8) {
        self.phys.write(self.phys_off + (index - self.index), v)
    }
    /// Is page `index` of this folio held private by the hardware?
    pub fn hw_private(&self, index: usize) -> bool {
        self.covers(index) && self.phys.hw_private(self.phys_off + (index - self.index))
    }
    /// Hardware ownership of `[start, end)` (clamped to the folio):
    /// `kvm_arch_gmem_make_private()` (true), `kvm_arch_gmem_make_shared()`
    /// and `kvm_arch_gmem_reclaim()` (false).
    pub fn set_hw(&self, start: usize, end: usize, private: bool) {
        let s = start.max(self.index);
        let e = end.min(self.index + self.nr_pages);
        if s < e {
            self.phys.set_hw(
                s - self.index + self.phys_off,
                e - self.index + self.phys_off,
                private,
            );
        }
    }
    /// The hardware-private pages of the folio, one bit per page (bit 0 =
    /// its first page; pages beyond the 64th are not shown).
    pub fn hw_private_bits(&self) -> u64 {
        let mut bits = 0u64;
        for k in 0..self.nr_pages.min(64) {
            if self.phys.hw_private(self.phys_off + k) {
                bits |= 1 << k;
            }
        }
        bits
    }
    /// Does the hardware hold any page of the folio private?
    pub fn any_hw_private(&self) -> bool {
        self.phys
            .any_hw_private(self.phys_off, self.phys_off + self.nr_pages)
    }
    /// `folio_test_hwpoison()`.
    pub fn poisoned(&self) -> bool {
        self.poisoned.load(Ordering::Acquire)
    }
    /// `folio_set_hwpoison()`.
    pub fn set_poisoned(&self) {
        self.poisoned.store(true, Ordering::Release);
    }

    /// Are the folio's pages in the kernel's direct map?
    pub fn in_direct_map(&self) -> bool {
        !self.direct_map_removed.load(Ordering::Acquire)
    }
    /// Remove the folio's pages from the direct map (after zeroing them
    /// through it) or put them back (before the allocator reuses them).
    pub fn set_direct_map(&self, present: bool) {
        self.direct_map_removed.store(!present, Ordering::Release);
    }

    /// Zero the folio's memory (a fresh folio reads 0).
    pub fn zero_all(&self) {
        self.phys.zero(self.phys_off, self.phys_off + self.nr_pages);
    }
    pub fn zero_range(&self, start: usize, end: usize) {
        let s = start.max(self.index) - self.index + self.phys_off;
        let e = end.min(self.index + self.nr_pages) - self.index + self.phys_off;
        self.phys.zero(s, e);
    }

    // ---- refcount primitives (include/linux/page_ref.h) ------------------

    pub fn folio_ref_count(&self) -> i64 {
        self.refcount.load(Ordering::Acquire)
    }
    pub fn folio_pincount(&self) -> i64 {
        self.pincount.load(Ordering::Acquire)
    }
    /// `folio_maybe_dma_pinned()` (include/linux/mm.h): a large folio's
    /// `_pincount`, else a refcount of at least GUP_PIN_COUNTING_BIAS.
    pub fn maybe_dma_pinned(&self) -> bool {
        if self.large {
            self.folio_pincount() > 0
        } else {
            self.folio_ref_count() >= GUP_PIN_COUNTING_BIAS
        }
    }

    /// `folio_ref_try_add`: add `n` unless the count is zero (freed or frozen).
    pub fn folio_ref_try_add(&self, n: i64) -> bool {
        let mut cur = self.refcount.load(Ordering::Relaxed);
        loop {
            if cur == 0 {
                return false;
            }
            match self.refcount.compare_exchange_weak(
                cur,
                cur + n,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(now) => cur = now,
            }
        }
    }

    /// `folio_ref_freeze`: compare-exchange `expected -> 0`.
    pub fn folio_ref_freeze(&self, expected: i64) -> bool {
        let ok = self
            .refcount
            .compare_exchange(expected, 0, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok();
        if ok {
            lock(&self.ghost).frozen = true;
        }
        ok
    }

    /// `folio_ref_unfreeze`: set the count back (release).
    pub fn folio_ref_unfreeze(&self, count: i64) {
        lock(&self.ghost).frozen = false;
        self.refcount.store(count, Ordering::Release);
    }

    fn encode(&self, r: Ref) -> (i64, i64) {
        match r {
            Ref::PageCache(n) => (n, 0),
            Ref::Pte | Ref::Get | Ref::Transient => (1, 0),
            Ref::Pin if self.large => (1, 1),
            Ref::Pin => (GUP_PIN_COUNTING_BIAS, 0),
        }
    }

    fn ghost_add(&self, r: Ref, sign: i32) {
        let mut g = lock(&self.ghost);
        let p = &mut g.parts;
        match r {
            Ref::PageCache(n) => p.pagecache += sign * n as i32,
            Ref::Pte => p.ptes += sign,
            Ref::Get => p.gets += sign,
            Ref::Pin => p.pins += sign,
            Ref::Transient => p.transient += sign,
        }
    }

    /// Take a reference unless the folio is frozen or freed
    /// (`try_grab_folio_fast` / `folio_try_get`). For FOLL_PIN on a large
    /// folio the pincount is raised after the refcount, as GUP-fast does.
    pub fn try_get(&self, r: Ref) -> bool {
        let (rc, pc) = self.encode(r);
        if !self.folio_ref_try_add(rc) {
            return false;
        }
        if pc != 0 {
            self.pincount.fetch_add(pc, Ordering::AcqRel);
        }
        self.ghost_add(r, 1);
        true
    }

    /// Move a reference from one kind to another without touching the
    /// counter's total where the encodings agree (e.g. the fault's lookup
    /// reference becomes the PTE's reference, docs/kernel.md#host-fault).
    pub fn transfer(&self, from: Ref, to: Ref) {
        let (a, ap) = self.encode(from);
        let (b, bp) = self.encode(to);
        if b != a {
            self.refcount.fetch_add(b - a, Ordering::AcqRel);
        }
        if bp != ap {
            self.pincount.fetch_add(bp - ap, Ordering::AcqRel);
        }
        self.ghost_add(from, -1);
        self.ghost_add(to, 1);
    }

    /// Record a holder of kind `r` without counting it: only bug switch
    /// `fault_no_ref` does this (a PTE installed without its reference), so
    /// the ghost bookkeeping (who holds what) stays the ground truth and
    /// `refcount_conserved` sees the counter fall behind it.
    pub fn ghost_uncounted(&self, r: Ref) {
        self.ghost_add(r, 1);
    }

    /// The holder of a reference of kind `r` now holds `to` instead, while
    /// the count it took stays where it was: a PTE whose page was folded
    /// into another folio without a freeze (bug switches only).
    pub fn ghost_move(&self, to: &Folio, r: Ref) {
        self.ghost_add(r, -1);
        to.ghost_add(r, 1);
    }

    /// Drop a reference; returns true when the count reached zero (the
    /// caller frees the folio, like `folio_put` calling `__folio_put`).
    #[must_use]
    pub fn put(&self, r: Ref) -> bool {
        let (rc, pc) = self.encode(r);
        self.ghost_add(r, -1);
        if pc != 0 {
            self.pincount.fetch_sub(pc, Ordering::AcqRel);
        }
        let prev = self.refcount.fetch_sub(rc, Ordering::AcqRel);
        prev == rc
    }

    // ---- exclusive-pin RFC (docs/kernel.md#exclusive-pin-rfc) -----------

    /// "exclusive set?": small: refcount carries the 2^30 bias; large:
    /// pincount carries it.
    pub fn exclusive_set(&self) -> bool {
        if self.large {
            self.folio_pincount() >= GUP_PIN_EXCLUSIVE_BIAS
        } else {
            self.folio_ref_count() >= GUP_PIN_EXCLUSIVE_BIAS
        }
    }

    /// A normal FOLL_PIN under the RFC: check exclusive, add, full barrier,
    /// re-check, undo if an exclusive pin appeared in between.
    pub fn try_pin_checking_exclusive(&self) -> bool {
        if self.exclusive_set() {
            return false;
        }
        if !self.try_get(Ref::Pin) {
            return false;
        }
        fence(Ordering::SeqCst);
        if self.exclusive_set() {
            // Cannot reach zero: the page cache still holds its reference.
            let _ = self.put(Ref::Pin);
            return false;
        }
        true
    }

    /// Take an exclusive pin (one normal pin + the exclusive bias) by CAS,
    /// only if no pin of any kind exists (small: refcount < 1024; large:
    /// pincount == 0).
    ///
    /// `with_bias: false` is bug switch `exclusive_cas_bias`
    /// (docs/kernel.md#exclusive-pin-rfc; RFC patch 2's large_folio_pin_setexc()): the large folio's CAS
    /// stores the plain pin count, so the exclusive bias is never set.
    pub fn try_pin_exclusive(&self, with_bias: bool) -> bool {
        if self.large {
            if !self.folio_ref_try_add(1) {
                return false;
            }
            let new = if with_bias {
                1 + GUP_PIN_EXCLUSIVE_BIAS
            } else {
                1
            };
            let ok = self
                .pincount
                .compare_exchange(0, new, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok();
            if !ok {
                self.refcount.fetch_sub(1, Ordering::AcqRel);
                return false;
            }
        } else {
            let mut cur = self.refcount.load(Ordering::Relaxed);
            loop {
                if cur == 0 || cur >= GUP_PIN_COUNTING_BIAS {
                    return false;
                }
                let new = cur + GUP_PIN_COUNTING_BIAS + GUP_PIN_EXCLUSIVE_BIAS;
                match self.refcount.compare_exchange_weak(
                    cur,
                    new,
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => break,
                    Err(now) => cur = now,
                }
            }
        }
        let mut g = lock(&self.ghost);
        g.parts.pins += 1;
        g.parts.exclusive += 1;
        true
    }

    /// `unexc_user_page`: drop only the exclusive bias, keep one normal pin.
    /// (A bias that was never stored, bug `exclusive_cas_bias`, is not
    /// subtracted: the RFC checks the bias before clearing it.)
    pub fn unexc(&self) {
        if self.exclusive_set() {
            if self.large {
                self.pincount
                    .fetch_sub(GUP_PIN_EXCLUSIVE_BIAS, Ordering::AcqRel);
            } else {
                self.refcount
                    .fetch_sub(GUP_PIN_EXCLUSIVE_BIAS, Ordering::AcqRel);
            }
        }
        lock(&self.ghost).parts.exclusive -= 1;
    }

    // ---- ghost state ------------------------------------------------------

    pub fn parts(&self) -> RefParts {
        lock(&self.ghost).parts
    }
    pub fn home(&self) -> FolioHome {
        lock(&self.ghost).home
    }
    pub fn set_home(&self, h: FolioHome) {
        lock(&self.ghost).home = h;
    }
    pub fn frozen(&self) -> bool {
        lock(&self.ghost).frozen
    }
    pub fn freed(&self) -> bool {
        lock(&self.ghost).freed
    }
    pub fn mark_freed(&self) {
        lock(&self.ghost).freed = true;
    }
    /// A frozen folio whose references moved elsewhere (merged into a large
    /// folio, or split into subfolios): it no longer exists and holds none.
    /// Folded into another folio by a split or merge: the page cache's
    /// references moved to the new folio(s); any other holder (only
    /// possible when a bug switch skipped the freeze) still holds this one.
    pub fn mark_gone(&self) {
        let mut g = lock(&self.ghost);
        g.parts.pagecache = 0;
        g.home = FolioHome::Gone;
    }
    /// Extra references: everything but the page cache's own.
    pub fn extra_refs(&self) -> i32 {
        lock(&self.ghost).parts.extra()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use invariants::encoded_refcount;

    fn small() -> Folio {
        Folio::new(1, 0, 1, false, None, Phys::new(), 0)
    }
    fn large() -> Folio {
        Folio::new(2, 0, 8, true, None, Phys::new(), 0)
    }

    fn consistent(f: &Folio) -> bool {
        f.folio_ref_count() == encoded_refcount(&f.parts(), f.large)
            && (!f.large || f.folio_pincount() == invariants::encoded_pincount(&f.parts()))
    }

    #[test]
    fn pin_encoding_small_and_large() {
        let s = small();
        assert!(s.try_get(Ref::Pin));
        assert_eq!(s.folio_ref_count(), 1 + 1024);
        assert!(s.try_get(Ref::Get));
        assert_eq!(s.folio_ref_count(), 1 + 1024 + 1);
        assert!(consistent(&s));
        let l = large();
        assert!(l.try_get(Ref::Pin));
        assert_eq!(l.folio_ref_count(), 8 + 1);
        assert_eq!(l.folio_pincount(), 1);
        assert!(consistent(&l));
        assert!(!l.put(Ref::Pin));
        assert_eq!(l.folio_pincount(), 0);
        assert!(consistent(&l));
    }

    #[test]
    fn freeze_only_at_expected_count_and_blocks_try_get() {
        let f = small();
        assert!(f.try_get(Ref::Transient));
        assert!(!f.folio_ref_freeze(1), "freeze at the wrong count fails");
        assert!(!f.put(Ref::Transient));
        assert!(f.folio_ref_freeze(1));
        assert!(f.frozen());
        assert_eq!(f.folio_ref_count(), 0);
        assert!(!f.try_get(Ref::Get), "try-get fails on a frozen folio");
        assert!(!f.try_get(Ref::Pin));
        f.folio_ref_unfreeze(1);
        assert!(f.try_get(Ref::Get));
        assert!(consistent(&f));
    }

    #[test]
    fn try_get_fails_on_zero_and_put_reports_zero() {
        let f = small();
        assert!(f.put(Ref::PageCache(1)), "last reference");
        assert!(!f.try_get(Ref::Transient));
        assert!(!f.try_get(Ref::Get));
    }

    #[test]
    fn exclusive_pin_excludes_normal_pins_but_not_get() {
        let f = small();
        assert!(f.try_pin_exclusive(true));
        assert!(f.exclusive_set());
        assert!(!f.try_pin_checking_exclusive(), "normal pin backs off");
        assert!(
            !f.try_pin_exclusive(true),
            "second exclusive gets zero pages"
        );
        assert!(f.try_get(Ref::Get), "FOLL_GET is not covered (RFC hole)");
        assert!(consistent(&f));
        f.unexc();
        assert!(!f.exclusive_set());
        assert!(f.try_pin_checking_exclusive());
        assert!(consistent(&f));
        let g = small();
        assert!(g.try_get(Ref::Pin));
        assert!(
            !g.try_pin_exclusive(true),
            "exclusive needs no pin of any kind"
        );
        let l = large();
        assert!(l.try_pin_exclusive(true));
        assert!(!l.try_pin_checking_exclusive());
        assert!(consistent(&l));
    }

    #[test]
    fn transfer_keeps_total() {
        let f = small();
        assert!(f.try_get(Ref::Transient));
        f.transfer(Ref::Transient, Ref::Pte);
        assert_eq!(f.folio_ref_count(), 2);
        assert_eq!(f.parts().ptes, 1);
        assert_eq!(f.parts().transient, 0);
        assert!(consistent(&f));
    }
}
