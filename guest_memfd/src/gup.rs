//! get_user_pages: FOLL_GET / FOLL_PIN / FOLL_LONGTERM through GUP-fast and
//! the slow path (`mm/gup.c`; docs/kernel.md#gup), plus accesses made through a pin (a
//! device or O_DIRECT touching the pinned page) and unpinning.
//!
//! Designs pfnmap (`VM_PFNMAP`) and no_direct_map (`AS_NO_DIRECT_MAP`)
//! refuse every GUP with -EFAULT before any page table is read.
//!
//! GUP-fast: read the PTE locklessly; bail on none/special; add references
//! unless the count is zero or frozen; full barrier; re-read the PTE and
//! back off if it changed. Slow: mmap_lock, fault in, grab under the PTE
//! lock. Either way a private page cannot be reached: the converter clears
//! PTEs *before* reading refcounts, and GUP-fast increments *before*
//! re-reading the PTE, so one of them sees the other
//! (`gup_fast_pte_range()`, docs/kernel.md#gup-fast).

use crate::design::DesignPolicy;
use crate::design::{Bug, GupPath, PinKind};
use crate::errno::{AccessOutcome, Errno, Error, Misuse, Result};
use crate::folio::{Folio, Ref};
use crate::gmem::{GuestMemFd, MmId, PinId, PinRecord};
use crate::mm::Mm;
use crate::sched;
use crate::sync::atomic::{fence, Ordering};
use crate::sync::{lock, Arc};
use invariants::Accessor;

impl GuestMemFd {
    /// pin_user_pages / get_user_pages of one page of process `mm`'s mapping.
    pub fn pin(&self, mm: MmId, index: usize, kind: PinKind) -> Result<PinId> {
        self.pin_via(mm, index, kind, GupPath::Auto)
    }

    /// As [`Self::pin`], choosing the path: `GupPath::Slow` skips GUP-fast
    /// (a caller of `get_user_pages` proper rather than `*_fast`).
    pub fn pin_via(&self, mm: MmId, index: usize, kind: PinKind, path: GupPath) -> Result<PinId> {
        self.begin_op();
        let r = self.pin_inner(mm, index, kind, path);
        self.end_op();
        r
    }

    pub(crate) fn pin_inner(
        &self,
        mm: MmId,
        index: usize,
        kind: PinKind,
        path: GupPath,
    ) -> Result<PinId> {
        let m = self.mm(mm)?;
        self.check_open()?;
        let Some(vma) = m.vma() else {
            return Err(Error::sys(Errno::EFAULT));
        };
        if index >= vma.pages {
            return Err(Misuse::PageOutOfRange {
                page: index,
                limit: vma.pages,
            }
            .into());
        }
        if kind == PinKind::Exclusive && !self.cfg.design.exclusive_donation() {
            // FOLL_EXCLUSIVE without CONFIG_EXCLUSIVE_PIN: argument check fails.
            return Err(Error::sys(Errno::EINVAL));
        }
        if matches!(kind, PinKind::Longterm | PinKind::Exclusive)
            && !self.cfg.design.longterm_gup_allowed()
        {
            // [infer] design `wait`: gmem folios are not long-term pinnable.
            return Err(Error::sys(Errno::EFAULT));
        }
        if vma.pfnmap || vma.no_direct_map {
            // GUP-fast bails on special PTEs, and on an AS_NO_DIRECT_MAP
            // mapping (`gup_fast_folio_allowed()`); slow GUP rejects
            // VM_PFNMAP and AS_NO_DIRECT_MAP (`check_vma_flags()`, as for
            // secretmem). Either way: -EFAULT, no page touched.
            return Err(Error::sys(Errno::EFAULT));
        }
        if self.thp() {
            let f = self.gup_anon_thp(&m, index, kind)?;
            return Ok(self.record_pin(mm, index, kind, f));
        }
        // GUP-fast refuses FOLL_LONGTERM on file folios other than shmem
        // (gup_fast_folio_allowed); the RFC's memory is shmem.
        let fast_ok = path == GupPath::Auto
            && (!matches!(kind, PinKind::Longterm | PinKind::Exclusive)
                || self.cfg.design.exclusive_donation());
        if fast_ok {
            if let Some(f) = self.gup_fast(&m, index, kind)? {
                return Ok(self.record_pin(mm, index, kind, f));
            }
        }
        let f = self.gup_slow(&m, index, kind)?;
        Ok(self.record_pin(mm, index, kind, f))
    }

    fn record_pin(&self, mm: MmId, index: usize, kind: PinKind, folio: Arc<Folio>) -> PinId {
        let id = self.new_pin_id();
        lock(&self.pins).insert(
            id,
            PinRecord {
                mm,
                index,
                kind,
                folio,
            },
        );
        id
    }

    /// try_grab_folio: take the reference `kind` asks for; the RFC's rules
    /// for pins (exclusive CAS, optimistic add + re-check) when configured.
    /// Err(EBUSY) means the exclusive pin refused it.
    fn try_grab(&self, f: &Folio, kind: PinKind) -> std::result::Result<bool, Errno> {
        match kind {
            PinKind::Get => Ok(f.try_get(Ref::Get)),
            PinKind::Exclusive => {
                if f.folio_ref_count() == 0 {
                    Ok(false)
                } else if f.try_pin_exclusive(true) {
                    Ok(true)
                } else {
                    Err(Errno::EBUSY)
                }
            }
            PinKind::Pin | PinKind::Longterm => {
                if !self.cfg.design.exclusive_donation() {
                    return Ok(f.try_get(Ref::Pin));
                }
                if f.folio_ref_count() == 0 {
                    return Ok(false);
                }
                if f.try_pin_checking_exclusive() {
                    Ok(true)
                } else if f.exclusive_set() {
                    Err(Errno::EBUSY)
                } else {
                    Ok(false)
                }
            }
        }
    }

    fn release_grab(&self, f: &Arc<Folio>, kind: PinKind) {
        match kind {
            PinKind::Get => self.folio_put(f, Ref::Get),
            PinKind::Pin | PinKind::Longterm => self.folio_put(f, Ref::Pin),
            PinKind::Exclusive => {
                f.unexc();
                self.folio_put(f, Ref::Pin)
            }
        }
    }

    /// gup_fast_pte_range for one PTE. Ok(None): fall back to the slow path.
    fn gup_fast(&self, m: &Mm, index: usize, kind: PinKind) -> Result<Option<Arc<Folio>>> {
        // 1. Lockless PTE read (interrupts off in the kernel).
        sched::step_point("gup.fast_read_pte", None);
        let Some(pte) = m.pte_read(index) else {
            return Ok(None);
        };
        if pte.special {
            return Ok(None);
        }
        let f = pte.folio.clone();
        if self.cfg.has(Bug::GupFastRecheckBeforeAdd) {
            // BUG gup_fast_recheck_before_add: the PTE is re-read *before*
            // the increment (the barrier order of mm/gup.c:
            // gup_fast_pte_range() reversed), so an unmap plus the
            // converter's refcount check can fall between the re-read and
            // the increment, and neither side sees the other.
            sched::step_point("gup.fast_recheck_early", None);
            if !m.pte_read(index).is_some_and(|p2| p2.same(&pte)) {
                return Ok(None);
            }
            sched::step_point("gup.fast_try_add", None);
            return match self.try_grab(&f, kind) {
                Ok(true) => Ok(Some(f)),
                Ok(false) => Ok(None),
                Err(e) => Err(Error::sys(e)),
            };
        }
        // 2. Add unless zero/frozen (try_grab_folio_fast).
        sched::step_point("gup.fast_try_add", None);
        match self.try_grab(&f, kind) {
            Ok(true) => {}
            Ok(false) => return Ok(None),
            Err(e) => return Err(Error::sys(e)),
        }
        // 3. "Adjust the pincount before re-checking the PTE."
        sched::step_point("gup.fast_recheck", None);
        fence(Ordering::SeqCst);
        if self.cfg.has(Bug::GupFastNoRecheck) {
            // BUG gup_fast_no_recheck (docs/kernel.md#gup-fast): the PTE is not
            // re-read, so a zap (to-private's unmap) between the lockless
            // read and the increment goes unnoticed.
            return Ok(Some(f));
        }
        // 4. Re-read the PTE; back off if it changed.
        match m.pte_read(index) {
            Some(p2) if p2.same(&pte) => Ok(Some(f)),
            _ => {
                self.release_grab(&f, kind);
                Ok(None)
            }
        }
    }

    /// GUP on the exclusive-pin RFC's anonymous THP: fault the page in if
    /// needed and take the reference in one step; a normal pin is refused
    /// while the exclusive bias is set, and re-checks it after adding
    /// (model step `gup.excl_recheck`), backing off if a donation took the
    /// exclusive pin in between. Refusals are -EBUSY.
    fn gup_anon_thp(&self, m: &Arc<Mm>, index: usize, kind: PinKind) -> Result<Arc<Folio>> {
        if m.pte_read(index).is_none() && self.handle_mm_fault(m, index).is_err() {
            return Err(Error::sys(Errno::EFAULT));
        }
        let Some(pte) = m.pte_read(index) else {
            return Err(Error::sys(Errno::EFAULT));
        };
        let f = pte.folio;
        match kind {
            PinKind::Get => {
                if !f.try_get(Ref::Get) {
                    return Err(Error::sys(Errno::EFAULT));
                }
            }
            PinKind::Exclusive => {
                if !f.try_pin_exclusive(!self.cfg.has(Bug::ExclusiveCasBias)) {
                    return Err(Error::sys(Errno::EBUSY));
                }
            }
            PinKind::Pin | PinKind::Longterm => {
                if f.exclusive_set() || !f.try_get(Ref::Pin) {
                    return Err(Error::sys(Errno::EBUSY));
                }
                sched::step_point("gup.excl_recheck", None);
                fence(Ordering::SeqCst);
                if f.exclusive_set() {
                    self.folio_put(&f, Ref::Pin);
                    return Err(Error::sys(Errno::EBUSY));
                }
            }
        }
        Ok(f)
    }

    /// __get_user_pages: under mmap_lock, fault the page in if needed and
    /// grab it under the PTE lock (also `populate`'s GUP of its source).
    pub(crate) fn gup_slow(&self, m: &Arc<Mm>, index: usize, kind: PinKind) -> Result<Arc<Folio>> {
        for _ in 0..1000 {
            sched::step_point("gup.slow_follow", None);
            let grabbed = {
                let _mmap = m.mmap_lock.read();
                m.with_pte(index, false, |e| match e {
                    Some(pte) if !pte.special => {
                        let f = pte.folio.clone();
                        self.try_grab(&f, kind).map(|ok| ok.then_some(f))
                    }
                    Some(_) => Err(Errno::EFAULT),
                    None => Ok(None),
                })
            };
            match grabbed {
                Ok(Some(f)) => return Ok(f),
                Err(e) => return Err(Error::sys(e)),
                Ok(None) => {}
            }
            // faultin_page: a SIGBUS becomes -EFAULT for GUP.
            if self.handle_mm_fault(m, index).is_err() {
                return Err(Error::sys(Errno::EFAULT));
            }
        }
        // Raced with zaps a thousand times in a row: give up like a
        // fatal-signal-pending GUP would.
        Err(Error::sys(Errno::EFAULT))
    }

    /// Who holds pin `id`, on which page, of which kind.
    pub fn pin_info(&self, id: PinId) -> Option<(MmId, usize, PinKind)> {
        lock(&self.pins).get(&id).map(|r| (r.mm, r.index, r.kind))
    }

    /// unpin_user_page / put_page for a reference taken by [`Self::pin`].
    pub fn unpin(&self, id: PinId) -> Result<()> {
        self.begin_op();
        let r = match lock(&self.pins).remove(&id) {
            None => Err(Misuse::UnknownPin(id).into()),
            Some(rec) => {
                self.release_grab(&rec.folio, rec.kind);
                Ok(())
            }
        };
        self.end_op();
        r
    }

    /// A device / the kernel touching the page through its GUP reference
    /// (DMA, O_DIRECT). It reaches the pinned folio whatever happened to the
    /// file since (an orphaned folio keeps its data for the pinner).
    pub fn pin_access(&self, id: PinId, write: Option<u8>) -> Result<AccessOutcome> {
        self.begin_op();
        let r = self.pin_access_inner(id, write);
        self.end_op();
        r
    }

    pub(crate) fn pin_access_inner(&self, id: PinId, write: Option<u8>) -> Result<AccessOutcome> {
        let rec = lock(&self.pins)
            .get(&id)
            .cloned()
            .ok_or(Misuse::UnknownPin(id))?;
        self.record_access(
            Accessor::GupHolder { holder: id as u32 },
            &rec.folio,
            rec.index,
            write.is_some(),
            None,
        );
        Ok(match write {
            Some(v) => {
                rec.folio.write(rec.index, v);
                AccessOutcome::Value(v)
            }
            None => AccessOutcome::Value(rec.folio.read(rec.index)),
        })
    }
}
