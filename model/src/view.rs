//! The model's [`GmemView`]: the facts the properties read. Reference parts
//! are derived from who holds what (the actors' program counters), the
//! counters are the kernel's; `refcount_conserved` compares the two.

use crate::actors::{converter, guest};
use crate::config::{Bug, Config, Design, PinKind, MAX_PAGES};
use crate::mm;
use crate::model::GmemModel;
use crate::state::*;
use invariants::*;

/// Who holds what on one state, for every folio and every page, gathered
/// in ONE pass over the holders (the actors' program counters) the first
/// time a property asks: `refcount_conserved` reads every folio's parts and
/// `no_private_pin` every page's counts, and walking every holder once per
/// folio and per page was a quarter of a safety search's time.
#[derive(Default)]
struct Holders {
    /// `RefParts` per folio slot, but for the parts the folio's own fields
    /// give (the page cache's reference, the LRU batch's): [`View::parts`]
    /// adds those.
    parts: [RefParts; MAX_FOLIOS],
    /// Per page: completed GUP references taken through this index on its
    /// current folio, as [`PageView`] counts them.
    pages: [PageRefs; MAX_PAGES],
}

#[derive(Clone, Copy, Default)]
struct PageRefs {
    gets: u32,
    pins: u32,
    longterm_pins: u32,
    exclusive_pins: u32,
}

impl Holders {
    /// Fills `h`, which is empty (`Holders::default()`), from `st`.
    fn gather(h: &mut Holders, cfg: &Config, st: &State) {
        // The parts of folio slot `s`: a slot always names a folio of the
        // arena (`State::folio` indexes by it), and `parts` has one entry per
        // slot of the arena.
        macro_rules! part {
            ($s:expr) => {
                h.parts[$s as usize]
            };
        }
        let pages = &st.pages[..(cfg.pages as usize).min(MAX_PAGES)];
        if mm::pte_holds_ref(cfg) {
            for pg in pages {
                if let Some(s) = pg.folio.get() {
                    part!(s).ptes += pg.ptes.count_ones() as i32;
                }
            }
        }
        for (pin, pc) in st.pinners.iter().zip(&cfg.pinners) {
            let x = match pin.pc.get() {
                // In flight in GUP-fast (the counter already holds it).
                PinPc::FastRecheck(x) | PinPc::ExclRecheck(x) => x,
                // Completed: also counted through the page it was taken
                // through, while that page still has this folio.
                PinPc::Held(x) | PinPc::Accessed(x) => {
                    let i = pc.page as usize;
                    if pages.get(i).is_some_and(|pg| pg.folio.get() == Some(x)) {
                        let v = &mut h.pages[i];
                        match pc.kind {
                            PinKind::Get => v.gets += 1,
                            PinKind::Pin => v.pins += 1,
                            PinKind::Longterm => v.longterm_pins += 1,
                        }
                    }
                    x
                }
                _ => continue,
            };
            match pc.kind {
                PinKind::Get => part!(x).gets += 1,
                _ => part!(x).pins += 1,
            }
        }
        // kvm_gmem_populate()'s GUP reference on its source, also counted
        // through the source page while it still has this folio.
        if let Some(s) = st.populate.src.get() {
            part!(s).gets += 1;
            if let Some(p) = cfg.populate {
                let i = p.src as usize;
                if pages.get(i).is_some_and(|pg| pg.folio.get() == Some(s)) {
                    h.pages[i].gets += 1;
                }
            }
        }
        for c in &st.conv {
            if let Some(s) = c.excl.get() {
                part!(s).pins += 1;
                part!(s).exclusive += 1;
            }
        }
        // The fault paths' lookup reference (filemap_grab_folio() until the
        // PTE is installed), unless BUG fault_no_ref drops it.
        if !cfg.has(Bug::FaultNoRef) {
            let mut fault = |pc: Option<FaultPc>| {
                if let Some(FaultPc::Install(s)) = pc {
                    part!(s).transient += 1;
                }
            };
            for x in &st.procs {
                fault(match x.pc.get() {
                    ProcPc::Fault(fp) => Some(fp),
                    _ => None,
                });
            }
            for x in &st.pinners {
                fault(match x.pc.get() {
                    PinPc::SlowFault(fp) => Some(fp),
                    _ => None,
                });
            }
            for x in &st.conv {
                fault(match x.pc.get() {
                    ConvPc::CopyOut(fp) => Some(fp),
                    _ => None,
                });
            }
            // kvm_gmem_populate()'s faultin_page() of its source.
            fault(match st.populate.pc.get() {
                PopPc::SrcFault(fp) => Some(fp),
                _ => None,
            });
            // The secondary MMU's handle_mm_fault(); its device mapping
            // holds nothing.
            fault(match st.dev.pc.get() {
                DevPc::Fault(fp) => Some(fp),
                _ => None,
            });
        }
        // A vCPU between kvm_gmem_get_pfn() and the install holds nothing:
        // v13's get_pfn drops its reference before returning. The
        // speculative try-get (SpecPc::Held) holds one.
        if let SpecPc::Held(s) = st.spec.get() {
            part!(s).transient += 1;
        }

        // The exclusive pin, counted through the page its request starts at.
        for k in cfg.converters().map(usize::from) {
            if let Some(s) = st.conv[k].excl.get() {
                let i = converter::op(cfg, st, k).start as usize;
                if pages.get(i).is_some_and(|pg| pg.folio.get() == Some(s)) {
                    h.pages[i].exclusive_pins += 1;
                }
            }
        }
    }
}

/// The view of one state. Properties evaluated together share one view
/// (`search::InPlace::evaluate`): the holders are gathered once, on first
/// use, and every page and folio view is read off them.
pub struct View<'a> {
    pub cfg: &'a Config,
    pub st: &'a State,
    /// Show only this converter thread's conversion (a liveness property
    /// about "the conversion" is checked per thread:
    /// [`crate::properties::pending_scopes`]); `None` shows every thread's.
    pub converter: Option<usize>,
    /// Per VM, the pages an open invalidation covers
    /// ([`guest::invalidation_mask`]), computed on the first
    /// [`GmemView::page`] call: every property reads pages, and the masks
    /// do not depend on the page.
    inv: std::cell::Cell<Option<[u16; MAX_VMS]>>,
    /// Who holds what, gathered in place on first use (a view that no
    /// property asks about holders, as most liveness predicates' views, does
    /// not even clear it).
    holders: std::cell::RefCell<Option<Holders>>,
    /// Page views built so far: the safety properties read every page, a
    /// dozen times per state between them.
    pages: [std::cell::Cell<Option<PageView>>; MAX_PAGES],
    /// Folio views built so far, likewise.
    folios: [std::cell::Cell<Option<FolioView>>; MAX_FOLIOS],
}

impl<'a> View<'a> {
    pub fn new(m: &'a GmemModel, st: &'a State) -> View<'a> {
        View {
            cfg: m.cfg(),
            st,
            converter: None,
            inv: std::cell::Cell::new(None),
            holders: std::cell::RefCell::new(None),
            pages: Default::default(),
            folios: Default::default(),
        }
    }

    /// The view with converter thread `k`'s conversion only.
    pub fn of_converter(m: &'a GmemModel, st: &'a State, k: usize) -> View<'a> {
        View {
            converter: Some(k),
            ..View::new(m, st)
        }
    }

    fn holders(&self) -> std::cell::Ref<'_, Holders> {
        if self.holders.borrow().is_none() {
            let mut h = self.holders.borrow_mut();
            Holders::gather(h.insert(Holders::default()), self.cfg, self.st);
        }
        std::cell::Ref::map(self.holders.borrow(), |h| {
            h.as_ref().expect("gathered just above")
        })
    }

    /// The reference parts of folio `s`: the holders', plus those the
    /// folio's own fields account for (the page cache's reference while it
    /// is in the page cache, the per-CPU LRU batch's).
    pub fn parts(&self, s: Slot) -> RefParts {
        let f = self.st.folio(s);
        let mut p = self.holders().parts[s as usize];
        if f.state == FolioState::PageCache {
            p.pagecache = mm::baseline(self.cfg, f);
        }
        p.transient += f.lru as i32;
        p
    }

    fn folio_view(&self, s: Slot) -> FolioView {
        let cell = &self.folios[s as usize];
        if let Some(v) = cell.get() {
            return v;
        }
        let f = self.st.folio(s);
        let v = FolioView {
            id: s as FolioId,
            index: f.index as usize,
            home: match f.state {
                FolioState::PageCache => FolioHome::PageCache(f.index as usize),
                FolioState::Orphaned => FolioHome::Orphaned,
                _ => FolioHome::Gone,
            },
            large: f.large,
            parts: self.parts(s),
            refcount: f.refcount as i64,
            pincount: f.pincount as i64,
            frozen: f.frozen,
            freed: f.state == FolioState::Freed,
            hw_private: f.hw_private as u64,
            poisoned: f.poisoned,
        };
        cell.set(Some(v));
        v
    }

    fn gigantic_slots(&self, g: usize) -> impl Iterator<Item = Slot> + '_ {
        mm::gig_slots(self.cfg, g)
    }

    fn held(&self, s: Slot) -> i32 {
        let p = self.parts(s);
        p.gets + p.pins + p.transient + p.ptes
    }

    fn build_page(&self, i: usize) -> PageView {
        let (cfg, st) = (self.cfg, self.st);
        let pg = &st.pages[i];
        let r = self.holders().pages[i];
        PageView {
            index: i,
            attr: pg.attr(),
            folio: pg.folio.get().map(|s| s as FolioId),
            host_ptes: pg.ptes as u64,
            gets: r.gets,
            pins: r.pins,
            longterm_pins: r.longterm_pins,
            exclusive_pins: r.exclusive_pins,
            stage2: pg.s2.map(|e| match e.get() {
                S2::None => Stage2::None,
                S2::Shared(s) => Stage2::Shared(s as FolioId),
                S2::Private(s) => Stage2::Private(s as FolioId),
            }),
            invalidating: {
                let inv = self.inv.get().unwrap_or_else(|| {
                    let m = std::array::from_fn(|vm| guest::invalidation_mask(cfg, st, vm));
                    self.inv.set(Some(m));
                    m
                });
                inv.map(|m| m & (1 << i) != 0)
            },
        }
    }
}

impl GmemView for View<'_> {
    fn nr_pages(&self) -> usize {
        self.cfg.pages as usize
    }

    fn page(&self, i: usize) -> PageView {
        let cell = &self.pages[i];
        cell.get().unwrap_or_else(|| {
            let v = self.build_page(i);
            cell.set(Some(v));
            v
        })
    }

    fn page_attr(&self, i: usize) -> Attr {
        self.st.pages[i].attr()
    }

    fn for_each_folio(&self, f: &mut dyn FnMut(&FolioView)) {
        for s in 0..MAX_FOLIOS as Slot {
            if self.st.folio(s).state != FolioState::Unused {
                f(&self.folio_view(s));
            }
        }
    }

    fn folio(&self, id: FolioId) -> Option<FolioView> {
        let s = id as Slot;
        ((s as usize) < MAX_FOLIOS && self.st.folio(s).state != FolioState::Unused)
            .then(|| self.folio_view(s))
    }

    fn for_each_gigantic(&self, f: &mut dyn FnMut(&GiganticView)) {
        if !self.cfg.design.is_huge() {
            return;
        }
        let st = self.st;
        for g in 0..mm::nr_gigantic(self.cfg) {
            let gig = st.gigantic[g];
            let (glo, ghi) = mm::gig_range(self.cfg, g);
            let mut dead = 0;
            let mut pooled = 0;
            let mut hw_pooled = false;
            for s in self.gigantic_slots(g) {
                let fo = st.folio(s);
                hw_pooled |= gig.in_pool && fo.hw_private != 0;
                let refs = fo.refcount.abs() + self.held(s);
                if fo.state == FolioState::Gone {
                    dead += refs;
                }
                if gig.in_pool {
                    pooled += refs;
                }
            }
            if gig.in_pool {
                pooled += (glo..ghi)
                    .filter(|&i| st.pages[i].folio.get().is_some())
                    .count() as i32;
            }
            f(&GiganticView {
                id: g as u32,
                first_index: glo,
                nr_pages: ghi - glo,
                structure: gig.structure.get(),
                in_pool: gig.in_pool,
                released: gig.released,
                refs_on_dead_subfolios: dead,
                refs_while_pooled: pooled,
                hw_private_while_pooled: hw_pooled,
            });
        }
    }

    fn for_each_access(&self, f: &mut dyn FnMut(&Access)) {
        if let Some(a) = self.st.last_access.get() {
            f(&Access {
                who: a.who,
                folio: a.folio as FolioId,
                index: a.index as usize,
                write: a.write,
                guest_type: a.guest_type,
            });
        }
    }

    fn for_each_conversion(&self, f: &mut dyn FnMut(&ConversionView<'_>)) {
        let (cfg, st) = (self.cfg, self.st);
        for k in cfg.converters().map(usize::from) {
            if self.converter.is_some_and(|only| only != k) || st.conv[k].pc.get() == ConvPc::Idle {
                continue;
            }
            let c = &st.conv[k];
            let op = converter::op(cfg, st, k);
            let n = op.pages as usize;
            let unpack = |bits: u8| {
                let mut a = [Attr::Shared; 8];
                for (j, x) in a.iter_mut().enumerate().take(n) {
                    if bits & (1 << j) != 0 {
                        *x = Attr::Private;
                    }
                }
                a
            };
            let before = unpack(c.before);
            let after = unpack(c.after);
            f(&ConversionView {
                start: op.start as usize,
                nr_pages: n,
                to: op.to,
                status: match (c.pc.get(), c.result.get()) {
                    (ConvPc::Done, Some(r)) => ConvStatus::Returned(r),
                    _ => ConvStatus::InProgress,
                },
                before: &before[..n],
                after: &after[..n],
                retries_until_ok: cfg.retry_until_ok,
                succeeded: c.succeeded,
            });
        }
    }

    fn for_each_thread_locks(&self, f: &mut dyn FnMut(&ThreadLocks<'_>)) {
        let (cfg, st) = (self.cfg, self.st);
        let inv = st.invalidate_lock;
        // Only threads that hold the lock or stand at an acquisition can
        // appear; the rest are skipped without asking `waits_for`.
        let mut tids = inv.readers | inv.writer.get().map_or(0, |w| 1 << w) | acquiring(st);
        while tids != 0 {
            let tid = tids.trailing_zeros() as u8;
            tids &= tids - 1;
            let mut holds: [(LockId, LockMode); 2] = [(LockId::MmuLock, LockMode::Shared); 2];
            let mut n = 0;
            if inv.writer.get() == Some(tid) {
                holds[n] = (LockId::InvalidateLock, LockMode::Exclusive);
                n += 1;
            }
            if inv.readers & (1 << tid) != 0 {
                holds[n] = (LockId::InvalidateLock, LockMode::Shared);
                n += 1;
            }
            let waits = waits_for(cfg, st, tid);
            if n == 0 && waits.is_none() {
                continue;
            }
            f(&ThreadLocks {
                thread: tid as u32,
                holds: &holds[..n],
                waits_for: waits,
            });
        }
    }
}

/// The threads standing at an acquisition of the invalidate lock (a
/// superset of those `waits_for` finds blocked), one bit per thread id.
fn acquiring(st: &State) -> u16 {
    let mut t = 0u16;
    let mut add = |tid: u8, yes: bool| t |= (yes as u16) << tid;
    for (k, c) in st.conv.iter().enumerate() {
        add(
            converter::tid(k),
            matches!(c.pc.get(), ConvPc::Lock | ConvPc::CopyOut(FaultPc::LockInv)),
        );
    }
    for (p, proc) in st.procs.iter().enumerate() {
        add(
            crate::Actor::Proc(p as u8).tid(),
            proc.pc.get() == ProcPc::Fault(FaultPc::LockInv),
        );
    }
    for (k, pin) in st.pinners.iter().enumerate() {
        add(
            crate::Actor::Pinner(k as u8).tid(),
            pin.pc.get() == PinPc::SlowFault(FaultPc::LockInv),
        );
    }
    for (v, g) in st.guests.iter().enumerate() {
        add(
            crate::Actor::Guest(v as u8).tid(),
            g.pc.get() == GuestPc::GetPfn,
        );
    }
    add(
        crate::Actor::Truncator.tid(),
        st.trunc.pc.get() == TruncPc::Lock,
    );
    add(
        crate::Actor::Populate.tid(),
        matches!(
            st.populate.pc.get(),
            PopPc::SrcFault(FaultPc::LockInv) | PopPc::Lock
        ),
    );
    add(
        crate::Actor::MemoryFailure.tid(),
        matches!(st.mf.get(), MfPc::ErrorFolio(_)),
    );
    add(
        crate::Actor::SecondaryMmu.tid(),
        st.dev.pc.get() == DevPc::Fault(FaultPc::LockInv),
    );
    t
}

fn i_arg(cfg: &Config) -> usize {
    cfg.attrs_arg_page.unwrap_or(0) as usize
}

/// The lock thread `tid` is blocked acquiring, if any.
fn waits_for(cfg: &Config, st: &State, tid: u8) -> Option<(LockId, LockMode)> {
    let inv = st.invalidate_lock;
    let read = (!inv.can_read()).then_some((LockId::InvalidateLock, LockMode::Shared));
    let write = (!inv.can_write()).then_some((LockId::InvalidateLock, LockMode::Exclusive));
    let conv = |k: usize| (converter::tid(k) == tid).then(|| &st.conv[k]);
    let converter = conv(0).or_else(|| conv(1));
    match tid {
        _ if converter.is_some_and(|c| c.pc.get() == ConvPc::Lock) => write,
        // The copy-out's fault takes the lock shared (BUG copy_out_under_lock:
        // while the converter itself still holds it for write).
        _ if converter.is_some_and(|c| c.pc.get() == ConvPc::CopyOut(FaultPc::LockInv))
            && st.pages[i_arg(cfg)].ptes & 1 == 0 =>
        {
            read
        }
        1 | 2 if st.procs[tid as usize - 1].pc.get() == ProcPc::Fault(FaultPc::LockInv) => read,
        3..=5 if st.pinners[tid as usize - 3].pc.get() == PinPc::SlowFault(FaultPc::LockInv) => {
            read
        }
        6 if st.guests[0].pc.get() == GuestPc::GetPfn => read,
        11 if st.guests[1].pc.get() == GuestPc::GetPfn => read,
        12 if matches!(st.mf.get(), MfPc::ErrorFolio(_)) => read,
        14 if st.dev.pc.get() == DevPc::Fault(FaultPc::LockInv) => read,
        7 if st.trunc.pc.get() == TruncPc::Lock => write,
        8 if st.populate.pc.get() == PopPc::SrcFault(FaultPc::LockInv) => read,
        8 if st.populate.pc.get() == PopPc::Lock => write,
        _ => None,
    }
    .filter(|_| cfg.design != Design::ExclusivePin)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every thread `waits_for` finds blocked is among the threads
    /// `acquiring` lets `for_each_thread_locks` ask about, on the states of
    /// every gate row (the first 3,000 of each, breadth first), and every
    /// row reaches a blocked thread somewhere.
    #[test]
    fn acquiring_covers_every_blocked_thread() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs");
        let mut blocked = 0;
        for g in crate::gate::load_dir(&dir).expect("configs/ loads") {
            let m = GmemModel::new(g.cfg.clone()).unwrap();
            for st in m.bfs_states(3000) {
                let acq = acquiring(&st);
                for tid in 0..16u8 {
                    if waits_for(m.cfg(), &st, tid).is_some() {
                        blocked += 1;
                        assert!(acq & (1 << tid) != 0, "{}: thread {tid} in {st:?}", g.name);
                    }
                }
            }
        }
        assert!(blocked > 1000, "{blocked} blocked threads seen");
    }
    /// The holders gathered in one pass give every folio the parts, and
    /// every page the counts, that walking every holder for that one folio
    /// or page gives (the definitions below, as the view computed them
    /// before), on the states of every gate row and deep row (the first
    /// 3,000 of each, breadth first).
    #[test]
    fn one_pass_holders_match_the_per_folio_walk() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs");
        let (mut folios, mut referenced, mut pages) = (0, 0, 0);
        for dir in [root.clone(), root.join("deep")] {
            for g in crate::gate::load_dir(&dir).expect("configs/ loads") {
                let m = GmemModel::new(g.cfg.clone()).unwrap();
                for st in m.bfs_states(3000) {
                    let v = View::new(&m, &st);
                    for s in 0..MAX_FOLIOS as Slot {
                        let want = reference_parts(m.cfg(), &st, s);
                        assert_eq!(v.parts(s), want, "{}: folio {s} of {st:?}", g.name);
                        folios += 1;
                        referenced += (want.extra() != 0) as usize;
                    }
                    for i in 0..m.cfg().pages as usize {
                        let want = reference_page_refs(m.cfg(), &st, i);
                        let p = v.page(i);
                        let got = [p.gets, p.pins, p.longterm_pins, p.exclusive_pins];
                        assert_eq!(got, want, "{}: page {i} of {st:?}", g.name);
                        pages += (want != [0; 4]) as usize;
                    }
                }
            }
        }
        assert!(folios > 100_000 && referenced > 10_000 && pages > 10_000);
    }

    fn reference_parts(cfg: &Config, st: &State, s: Slot) -> RefParts {
        let f = st.folio(s);
        let mut p = RefParts::default();
        if f.state == FolioState::PageCache {
            p.pagecache = mm::baseline(cfg, f);
        }
        if mm::pte_holds_ref(cfg) {
            p.ptes = (0..cfg.pages as usize)
                .filter(|&i| st.pages[i].folio.get() == Some(s))
                .map(|i| st.pages[i].ptes.count_ones() as i32)
                .sum();
        }
        for (k, pin) in st.pinners.iter().enumerate().take(cfg.pinners.len()) {
            let held = match pin.pc.get() {
                PinPc::FastRecheck(x)
                | PinPc::ExclRecheck(x)
                | PinPc::Held(x)
                | PinPc::Accessed(x) => x == s,
                _ => false,
            };
            if held {
                match cfg.pinners[k].kind {
                    PinKind::Get => p.gets += 1,
                    _ => p.pins += 1,
                }
            }
        }
        if st.populate.src.get() == Some(s) {
            p.gets += 1;
        }
        for c in &st.conv {
            if c.excl.get() == Some(s) {
                p.pins += 1;
                p.exclusive += 1;
            }
        }
        let fault_ref = !cfg.has(Bug::FaultNoRef);
        let install = FaultPc::Install(s);
        let transient = st
            .procs
            .iter()
            .filter(|x| x.pc.get() == ProcPc::Fault(install))
            .count()
            + st.pinners
                .iter()
                .filter(|x| x.pc.get() == PinPc::SlowFault(install))
                .count()
            + st.conv
                .iter()
                .filter(|x| x.pc.get() == ConvPc::CopyOut(install))
                .count()
            + (st.populate.pc.get() == PopPc::SrcFault(install)) as usize
            + (st.dev.pc.get() == DevPc::Fault(install)) as usize;
        if fault_ref {
            p.transient += transient as i32;
        }
        if st.spec.get() == SpecPc::Held(s) {
            p.transient += 1;
        }
        if f.lru {
            p.transient += 1;
        }
        p
    }

    fn reference_page_refs(cfg: &Config, st: &State, i: usize) -> [u32; 4] {
        let pg = &st.pages[i];
        let mut v = [0; 4];
        for (k, pin) in st.pinners.iter().enumerate().take(cfg.pinners.len()) {
            let pc = cfg.pinners[k];
            if pc.page as usize != i {
                continue;
            }
            if let PinPc::Held(s) | PinPc::Accessed(s) = pin.pc.get() {
                if pg.folio.get() == Some(s) {
                    match pc.kind {
                        PinKind::Get => v[0] += 1,
                        PinKind::Pin => v[1] += 1,
                        PinKind::Longterm => v[2] += 1,
                    }
                }
            }
        }
        if let (Some(p), Some(s)) = (cfg.populate, st.populate.src.get()) {
            if p.src as usize == i && pg.folio.get() == Some(s) {
                v[0] += 1;
            }
        }
        for k in cfg.converters().map(usize::from) {
            if let Some(s) = st.conv[k].excl.get() {
                if pg.folio.get() == Some(s) && converter::op(cfg, st, k).start as usize == i {
                    v[3] += 1;
                }
            }
        }
        v
    }
}
