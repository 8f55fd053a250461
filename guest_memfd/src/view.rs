//! The implementation as the invariants see it ([`invariants::GmemView`]),
//! the debug check that evaluates every safety property on it, and the
//! metadata accounting used by the benchmark.
//!
//! The view is a snapshot read under the implementation's own locks; it is
//! meant to be taken when no operation is in flight (after each operation
//! in single-threaded use, after joins in threaded tests).

use crate::design::DesignPolicy;
use crate::gmem::GuestMemFd;
use crate::sync::atomic::Ordering;
use crate::sync::{lock, Arc};
use invariants::{
    Attr, ConversionView, FolioHome, FolioView, GiganticView, GmemView, PageView, PropertyId,
    Stage2, ThreadLocks, MAX_VMS,
};

impl GmemView for GuestMemFd {
    fn nr_pages(&self) -> usize {
        self.cfg.nr_pages
    }

    fn page(&self, index: usize) -> PageView {
        let attr = self.attr_at(index);
        let folio = self.filemap_find(index);
        let mut host_ptes = 0u64;
        for mm in self.all_mms() {
            if mm.pte_read(index).is_some() && mm.id < 64 {
                host_ptes |= 1 << mm.id;
            }
        }
        let (mut gets, mut pins, mut longterm_pins, mut exclusive_pins) = (0, 0, 0, 0);
        for rec in lock(&self.pins).values() {
            if rec.index != index || !folio.as_ref().is_some_and(|f| Arc::ptr_eq(f, &rec.folio)) {
                continue;
            }
            match rec.kind {
                crate::design::PinKind::Get => gets += 1,
                crate::design::PinKind::Pin => pins += 1,
                crate::design::PinKind::Longterm => longterm_pins += 1,
                crate::design::PinKind::Exclusive => exclusive_pins += 1,
            }
        }
        if lock(&self.donations)
            .get(&index)
            .is_some_and(|d| folio.as_ref().is_some_and(|f| Arc::ptr_eq(f, d)))
        {
            exclusive_pins += 1;
        }
        let mut stage2 = [Stage2::None; MAX_VMS];
        let mut invalidating = [false; MAX_VMS];
        for vm in &self.kvm.vms {
            let s2 = vm.mmu_lock.lock();
            stage2[vm.id] = match s2.entries.get(&index) {
                None => Stage2::None,
                Some(e) if e.ty == Attr::Shared => Stage2::Shared(e.folio.id),
                Some(e) => Stage2::Private(e.folio.id),
            };
            invalidating[vm.id] = vm.invalidating(&s2, index);
        }
        PageView {
            index,
            attr,
            folio: folio.map(|f| f.id),
            host_ptes,
            gets,
            pins,
            longterm_pins,
            exclusive_pins,
            stage2,
            invalidating,
        }
    }

    fn for_each_folio(&self, f: &mut dyn FnMut(&FolioView)) {
        for x in self.arena_snapshot() {
            f(&FolioView {
                id: x.id,
                index: x.index,
                home: x.home(),
                large: x.large,
                parts: x.parts(),
                refcount: x.folio_ref_count(),
                pincount: if x.large { x.folio_pincount() } else { 0 },
                frozen: x.frozen(),
                freed: x.freed(),
                hw_private: x.hw_private_bits(),
                poisoned: x.poisoned(),
            });
        }
    }

    fn for_each_gigantic(&self, f: &mut dyn FnMut(&GiganticView)) {
        let folios = self.arena_snapshot();
        let h = lock(&self.hugetlb);
        for p in h.pages.values() {
            let mut dead = 0i32;
            let mut pooled = 0i32;
            for x in folios.iter().filter(|x| x.gigantic == Some(p.id)) {
                let parts = x.parts();
                let refs = parts.pagecache.abs() + parts.extra().abs();
                let counter = x.folio_ref_count().unsigned_abs().min(i32::MAX as u64) as i32;
                if x.home() == FolioHome::Gone {
                    dead += refs + counter;
                }
                if p.in_pool && !x.freed() && x.home() != FolioHome::Gone {
                    pooled += refs.max(counter).max(1);
                }
            }
            f(&GiganticView {
                id: p.id,
                first_index: p.first_index,
                nr_pages: p.nr_pages,
                structure: p.structure,
                in_pool: p.in_pool,
                released: p.released,
                refs_on_dead_subfolios: dead,
                refs_while_pooled: pooled,
                hw_private_while_pooled: p.in_pool && p.phys.any_hw_private(0, p.nr_pages),
            });
        }
    }

    fn for_each_access(&self, f: &mut dyn FnMut(&invariants::Access)) {
        let a = lock(&self.accesses).clone();
        for x in &a {
            f(x);
        }
    }

    fn for_each_conversion(&self, f: &mut dyn FnMut(&ConversionView<'_>)) {
        let c = lock(&self.conversions).clone();
        for r in &c {
            f(&r.view());
        }
    }

    fn for_each_thread_locks(&self, f: &mut dyn FnMut(&ThreadLocks<'_>)) {
        for (tid, st) in self.tracker.snapshot() {
            f(&ThreadLocks {
                thread: tid,
                holds: &st.holds,
                waits_for: st.waits_for,
            });
        }
    }
}

impl GuestMemFd {
    /// Evaluate every safety property (except those the design violates by
    /// construction, [`crate::Design::known_violations`]) plus the
    /// implementation's own consistency checks. Cost is O(pages): meant for
    /// small files.
    pub fn check_invariants(&self) -> Result<(), String> {
        let bad: Vec<String> = self
            .invariant_failures()
            .into_iter()
            .map(|f| f.to_string())
            .collect();
        if bad.is_empty() {
            Ok(())
        } else {
            Err(bad.join("; "))
        }
    }

    /// What [`Self::check_invariants`] finds, one entry per failure: the
    /// safety property it breaks (`None` for the implementation's own
    /// consistency checks) and, where the failure was seen at the moment of
    /// an access or a lock wait, what happened.
    pub fn invariant_failures(&self) -> Vec<InvariantFailure> {
        let known = self.cfg.design.known_violations();
        let prop = |p: PropertyId, detail: Option<String>| InvariantFailure {
            property: Some(p),
            detail,
        };
        let mut bad: Vec<InvariantFailure> = PropertyId::safety()
            .filter(|p| !known.contains(p))
            .filter(|p| !p.eval(self))
            .map(|p| prop(p, None))
            .collect();
        if !known.contains(&PropertyId::HostAccessOnlyShared) {
            bad.extend(
                lock(&self.access_violations)
                    .iter()
                    .map(|v| prop(PropertyId::HostAccessOnlyShared, Some(v.clone()))),
            );
        }
        if !known.contains(&PropertyId::HostAccessOnlyHwShared) {
            bad.extend(
                lock(&self.hw_access_violations)
                    .iter()
                    .map(|v| prop(PropertyId::HostAccessOnlyHwShared, Some(v.clone()))),
            );
        }
        bad.extend(
            lock(&self.self_deadlocks)
                .iter()
                .map(|v| prop(PropertyId::NoDeadlock, Some(v.clone()))),
        );
        let own = |detail: String| InvariantFailure {
            property: None,
            detail: Some(detail),
        };
        if !lock(&self.attrs).well_formed() {
            bad.push(own("attribute range map not well formed".into()));
        }
        bad.extend(self.direct_map_inconsistencies().into_iter().map(own));
        bad
    }

    /// The direct map (design `no_direct_map`): a guest_memfd folio in the
    /// page cache is out of it, and a freed folio is back in it (its pages
    /// go back to the allocator, whose next user reaches them through it).
    fn direct_map_inconsistencies(&self) -> Vec<String> {
        let mut bad = Vec::new();
        for f in self.arena_snapshot() {
            if f.freed() && !f.in_direct_map() {
                bad.push(format!(
                    "folio {} was freed without being put back in the direct map",
                    f.id
                ));
            }
            let cached = matches!(f.home(), FolioHome::PageCache(_)) && !f.freed();
            if cached && !self.cfg.design.direct_map() && f.in_direct_map() {
                bad.push(format!(
                    "folio {} of a no-direct-map file is in the direct map",
                    f.id
                ));
            }
        }
        bad
    }

    /// Panic if [`Self::check_invariants`] fails (for tests).
    pub fn assert_invariants(&self) {
        if let Err(e) = self.check_invariants() {
            panic!("invariant violated ({} design): {e}", self.cfg.design);
        }
    }

    /// Bytes of metadata this implementation keeps: the attribute tree,
    /// page-cache entries and struct folios, page tables, stage-2 entries,
    /// gigantic-page records, pins. Memory contents are not counted.
    pub fn metadata_bytes(&self) -> usize {
        let folio = std::mem::size_of::<crate::folio::Folio>() + 16;
        let mut n = std::mem::size_of::<GuestMemFd>();
        n += lock(&self.attrs).metadata_bytes();
        n += lock(&self.filemap).len()
            * (std::mem::size_of::<(usize, Arc<crate::folio::Folio>)>() + 16);
        let live = self
            .arena_snapshot()
            .iter()
            .filter(|f| !((f.freed() || f.home() == FolioHome::Gone) && f.folio_ref_count() == 0))
            .count();
        n += live * folio;
        n += self
            .all_mms()
            .iter()
            .map(|m| m.metadata_bytes())
            .sum::<usize>();
        for vm in &self.kvm.vms {
            n += vm.mmu_lock.lock().entries.len()
                * (std::mem::size_of::<(usize, crate::kvm::S2Entry)>() + 16);
        }
        n += lock(&self.hugetlb).metadata_bytes();
        n += lock(&self.pins).len() * (std::mem::size_of::<crate::gmem::PinRecord>() + 24);
        n += lock(&self.donations).len() * 40;
        n += lock(&self.lru).len() * 8;
        n += self.nr_devices() * 64;
        n
    }

    /// Forget the accesses of the last operation (not the violations seen
    /// at access time). Threaded tests call this before judging the final
    /// state, since an access by one thread may precede another thread's
    /// later conversion.
    pub fn clear_last_accesses(&self) {
        lock(&self.accesses).clear();
    }

    /// A textual snapshot of the whole observable state (pages, folios,
    /// gigantic pages, pool, pins): equal snapshots mean nothing changed.
    /// O(pages); for tests on small files.
    pub fn debug_snapshot(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        for i in 0..self.cfg.nr_pages {
            let _ = writeln!(
                s,
                "{:?} data={}",
                self.page(i),
                self.filemap_find(i).map(|f| f.read(i)).unwrap_or(0)
            );
        }
        self.for_each_folio(&mut |f| {
            // Dead folios with no reference are garbage the next operation
            // may collect; they are not state.
            let dead =
                (f.freed || f.home == FolioHome::Gone) && f.refcount == 0 && f.parts.is_zero();
            if !dead {
                let _ = writeln!(s, "{f:?}");
            }
        });
        self.for_each_gigantic(&mut |g| {
            let _ = writeln!(s, "{g:?}");
        });
        let _ = writeln!(
            s,
            "free_gigantic={} pins={} closed={}",
            self.free_gigantic(),
            self.nr_pins(),
            self.is_closed()
        );
        s
    }

    /// The newest conversion `caller` issued (the view a VMM thread has of
    /// its own ioctl), if any.
    pub fn last_conversion_of(
        &self,
        caller: std::thread::ThreadId,
        f: &mut dyn FnMut(&ConversionView<'_>),
    ) {
        let c = lock(&self.conversions)
            .iter()
            .rev()
            .find(|r| r.caller == caller)
            .cloned();
        if let Some(r) = c {
            f(&r.view());
        }
    }

    /// Is a conversion in progress right now?
    pub fn conversion_in_flight(&self) -> bool {
        lock(&self.conversions)
            .iter()
            .any(|c| c.status == invariants::ConvStatus::InProgress)
            || self.waiting_converters.load(Ordering::Acquire) > 0
    }
}

/// One failure of the invariant check ([`GuestMemFd::invariant_failures`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvariantFailure {
    /// The safety property broken; `None`: an implementation consistency
    /// check (the attribute tree, the direct map).
    pub property: Option<PropertyId>,
    /// What was seen, for failures recorded when they happened.
    pub detail: Option<String>,
}

impl std::fmt::Display for InvariantFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.property, &self.detail) {
            (Some(p), Some(d)) => write!(f, "{}: {d}", p.name()),
            (Some(p), None) => f.write_str(p.name()),
            (None, Some(d)) => f.write_str(d),
            (None, None) => f.write_str("inconsistent"),
        }
    }
}
