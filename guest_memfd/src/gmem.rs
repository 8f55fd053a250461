//! The guest_memfd inode and everything around it that one VM sees: the
//! attribute maple tree, the page cache (filemap), the host processes, KVM's
//! stage-2 map, the hugetlb pool, GUP pins. This module holds the struct and
//! the helpers shared by the operations (fault.rs, gup.rs, convert.rs,
//! truncate.rs); each public operation lives in its own module.

use crate::design::DesignPolicy;
use crate::design::{Config, FolioLayout};
use crate::errno::{Errno, Error, Misuse, Result};
use crate::folio::{Folio, Phys, Ref};
use crate::hugetlb::Hugetlb;
use crate::kvm::{Filter, Invalidation, Kvm};
use crate::locktrack::{LockTracker, TrackedRwLock};
use crate::mm::{Mm, Vma};
use crate::range_map::RangeMap;
use crate::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use crate::sync::{lock, Arc, Condvar, Mutex, RwLock};
use invariants::{
    Access, Accessor, Attr, ConvResult, ConvStatus, FolioHome, FolioId, LockId, Structure,
};
use std::collections::{BTreeMap, VecDeque};

/// A host process handle.
pub type MmId = u32;
/// A GUP reference handle.
pub type PinId = u64;

/// The FOLIO_BATCH_SIZE of the per-CPU lru_add batch.
pub const LRU_BATCH_SIZE: usize = 31;
/// Conversions over more pages than this are not snapshotted for the
/// `conversion_atomic` view (the snapshot would be per-page work).
pub const CONVERSION_SNAPSHOT_MAX: usize = 65_536;
/// How many returned conversions the view keeps.
const CONVERSION_HISTORY: usize = 8;

/// A completed GUP reference.
#[derive(Clone, Debug)]
pub struct PinRecord {
    pub mm: MmId,
    pub index: usize,
    pub kind: crate::design::PinKind,
    pub folio: Arc<Folio>,
}

#[derive(Clone, Debug)]
pub(crate) struct ConversionRecord {
    pub id: u64,
    /// The thread that issued the ioctl (the kernel's `current`): a VMM
    /// may convert from several threads at once.
    pub caller: std::thread::ThreadId,
    /// `after` was taken where the call gave up the invalidate lock.
    pub left: bool,
    pub start: usize,
    pub nr: usize,
    pub to: Attr,
    pub status: ConvStatus,
    pub before: Vec<Attr>,
    pub after: Vec<Attr>,
}

impl ConversionRecord {
    /// The record as the properties see it (the implementation's VMM never
    /// retries on its own).
    pub(crate) fn view(&self) -> invariants::ConversionView<'_> {
        invariants::ConversionView {
            start: self.start,
            nr_pages: self.nr,
            to: self.to,
            status: self.status,
            before: &self.before,
            after: &self.after,
            retries_until_ok: false,
            succeeded: self.status == invariants::ConvStatus::Returned(invariants::ConvResult::Ok),
        }
    }
}

pub struct GuestMemFd {
    pub(crate) cfg: Config,
    pub(crate) tracker: Arc<LockTracker>,
    /// `mapping->invalidate_lock` (docs/kernel.md#state-and-locking).
    pub(crate) invalidate_lock: TrackedRwLock<()>,
    /// The attributes maple tree; its own lock is the maple tree's internal
    /// spinlock (leaf lock); writers also hold invalidate_lock exclusive.
    pub(crate) attrs: Mutex<RangeMap<Attr>>,
    /// The page cache (`mapping->i_pages`): first index -> folio.
    pub(crate) filemap: Mutex<BTreeMap<usize, Arc<Folio>>>,
    pub(crate) mms: RwLock<BTreeMap<MmId, Arc<Mm>>>,
    next_mm: AtomicU32,
    pub(crate) kvm: Kvm,
    pub(crate) pins: Mutex<BTreeMap<PinId, PinRecord>>,
    next_pin: AtomicU64,
    /// exclusive_pin design: donated indices and their exclusively pinned folio.
    pub(crate) donations: Mutex<BTreeMap<usize, Arc<Folio>>>,
    /// The per-CPU lru_add batch (one CPU modelled).
    pub(crate) lru: Mutex<Vec<Arc<Folio>>>,
    pub(crate) hugetlb: Mutex<Hugetlb>,
    /// Every folio that may still matter to the view.
    arena: Mutex<BTreeMap<FolioId, Arc<Folio>>>,
    next_folio: AtomicU32,
    pub(crate) closed: AtomicBool,
    /// Injected failures of the next maple-tree preallocations
    /// (`kvm_gmem_mas_preallocate()` -ENOMEM): an environment choice.
    pub(crate) prealloc_failures: AtomicU32,
    /// Design `hugetlb`: injected failures of the next allocations a
    /// conversion makes (`kvm_gmem_split_private()`'s stage-2 split,
    /// `hugetlb_vmemmap_restore_folio()` of a folio split), the model's
    /// `alloc_fail` there.
    pub(crate) alloc_failures: AtomicU32,
    /// Self-deadlocks detected instead of hanging (see `locktrack`).
    pub(crate) self_deadlocks: Mutex<Vec<String>>,
    /// Wait queue woken on every folio put except the waiting converter's
    /// own (design `wait`): a generation counter and its condition variable.
    pub(crate) put_wq: (Mutex<u64>, Condvar),
    pub(crate) waiting_converters: AtomicUsize,
    pub(crate) accesses: Mutex<Vec<Access>>,
    pub(crate) access_violations: Mutex<Vec<String>>,
    pub(crate) hw_access_violations: Mutex<Vec<String>>,
    pub(crate) conversions: Mutex<VecDeque<ConversionRecord>>,
    next_conv: AtomicU64,
    pub(crate) debug_checks: AtomicBool,
    pub(crate) debug_failure: Mutex<Option<String>>,
    /// Devices that reach the memory without a lasting folio reference of
    /// their own: secondary MMUs (ODP) and VFIO type1 DMA mappings.
    pub(crate) devices: Mutex<BTreeMap<crate::device::DevId, crate::device::Device>>,
    next_dev: AtomicU32,
}

impl GuestMemFd {
    /// `KVM_CREATE_GUEST_MEMFD` plus the VMM process `0` that mmaps it
    /// (when the MMAP flag is set).
    pub fn new(cfg: Config) -> Result<GuestMemFd> {
        if cfg.nr_pages == 0 {
            return Err(Error::sys(Errno::EINVAL));
        }
        if cfg.design.huge_backed() && cfg.pages_per_gigantic == 0 {
            return Err(Error::sys(Errno::EINVAL));
        }
        if cfg.design.folio_layout() == FolioLayout::HugetlbBatched
            && (cfg.flags.init_shared || !cfg.nr_pages.is_multiple_of(cfg.pages_per_gigantic))
        {
            // kvm_gmem_create() of the 2026 branch: GUEST_MEMFD_FLAG_HUGETLB
            // with INIT_SHARED, or a size that is not huge-aligned, is
            // -EINVAL (docs/kernel.md#hugetlb-2026).
            return Err(Error::sys(Errno::EINVAL));
        }
        if cfg.nr_vms == 0 || cfg.nr_vms > crate::kvm::MAX_VMS {
            return Err(Misuse::UnknownVm(cfg.nr_vms.saturating_sub(1)).into());
        }
        if cfg.has(crate::design::Bug::ExclusiveCasBias)
            && !(cfg.thp && cfg.design.exclusive_donation())
        {
            // The RFC's bias bug is in large_folio_pin_setexc(); the
            // implementation's donated memory is 4K shmem folios.
            return Err(Misuse::UnsupportedBug(
                "exclusive_cas_bias",
                "it is in the large-folio exclusive pin; set Config::thp for design exclusive_pin",
            )
            .into());
        }
        if cfg.reserved_pfns && !cfg.design.special_ptes() {
            // Only a VM_PFNMAP mapping hands VFIO a pfn without a struct
            // page reference; elsewhere the pfns are page-allocator folios.
            return Err(
                Misuse::BadConfig("reserved_pfns is a variant of design pfnmap only").into(),
            );
        }
        let tracker = Arc::new(LockTracker::default());
        let init = if cfg.flags.init_shared {
            Attr::Shared
        } else {
            Attr::Private
        };
        let g = GuestMemFd {
            invalidate_lock: TrackedRwLock::new(LockId::InvalidateLock, tracker.clone(), ()),
            attrs: Mutex::new(RangeMap::new(cfg.nr_pages, init)),
            filemap: Mutex::new(BTreeMap::new()),
            mms: RwLock::new(BTreeMap::new()),
            next_mm: AtomicU32::new(0),
            kvm: Kvm::new(tracker.clone(), cfg.nr_vms),
            pins: Mutex::new(BTreeMap::new()),
            next_pin: AtomicU64::new(1),
            donations: Mutex::new(BTreeMap::new()),
            lru: Mutex::new(Vec::new()),
            hugetlb: Mutex::new(Hugetlb::new(cfg.nr_gigantic())),
            arena: Mutex::new(BTreeMap::new()),
            next_folio: AtomicU32::new(1),
            closed: AtomicBool::new(false),
            prealloc_failures: AtomicU32::new(0),
            alloc_failures: AtomicU32::new(0),
            self_deadlocks: Mutex::new(Vec::new()),
            put_wq: (Mutex::new(0), Condvar::new()),
            waiting_converters: AtomicUsize::new(0),
            accesses: Mutex::new(Vec::new()),
            access_violations: Mutex::new(Vec::new()),
            hw_access_violations: Mutex::new(Vec::new()),
            conversions: Mutex::new(VecDeque::new()),
            next_conv: AtomicU64::new(1),
            debug_checks: AtomicBool::new(false),
            debug_failure: Mutex::new(None),
            devices: Mutex::new(BTreeMap::new()),
            next_dev: AtomicU32::new(0),
            tracker,
            cfg,
        };
        let vma = g.cfg.flags.mmap.then_some(Vma {
            pages: g.cfg.map_pages,
            pfnmap: g.cfg.design.special_ptes(),
            no_direct_map: !g.cfg.design.direct_map(),
        });
        g.add_mm(vma)?;
        Ok(g)
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }
    pub fn design(&self) -> crate::design::Design {
        self.cfg.design
    }
    pub fn nr_pages(&self) -> usize {
        self.cfg.nr_pages
    }
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }
    /// The attribute of `index` (None beyond the file).
    pub fn attr(&self, index: usize) -> Option<Attr> {
        lock(&self.attrs).get(index)
    }
    /// Number of attribute ranges stored (maple tree size).
    pub fn attr_ranges(&self) -> usize {
        lock(&self.attrs).nr_ranges()
    }
    /// Is the memory of file page `index` in the kernel's direct map?
    /// `None`: no folio there.
    pub fn in_direct_map(&self, index: usize) -> Option<bool> {
        self.filemap_find(index).map(|f| f.in_direct_map())
    }
    /// Free gigantic pages in the hugetlb pool.
    pub fn free_gigantic(&self) -> usize {
        lock(&self.hugetlb).free
    }
    /// Conversions currently blocked waiting for references (design `wait`).
    pub fn waiting_converters(&self) -> usize {
        self.waiting_converters.load(Ordering::Acquire)
    }
    /// Number of folios in the page cache.
    pub fn nr_folios(&self) -> usize {
        lock(&self.filemap).len()
    }
    /// Folios sitting in the per-CPU lru_add batch.
    pub fn lru_batch_len(&self) -> usize {
        lock(&self.lru).len()
    }
    /// The folio in the page cache at `index`: its size in pages and its
    /// refcount (`folio_nr_pages()`, `folio_ref_count()`).
    pub fn folio_at(&self, index: usize) -> Option<(usize, i64)> {
        self.filemap_find(index)
            .map(|f| (f.nr_pages, f.folio_ref_count()))
    }
    /// Outstanding GUP references.
    pub fn nr_pins(&self) -> usize {
        lock(&self.pins).len()
    }

    // ---- processes ----------------------------------------------------------

    pub(crate) fn add_mm(&self, vma: Option<Vma>) -> Result<MmId> {
        let id = self.next_mm.fetch_add(1, Ordering::AcqRel);
        if id >= 64 {
            return Err(Misuse::TooManyProcesses.into());
        }
        let mm = Arc::new(Mm::new(id, vma, self.tracker.clone()));
        self.mms.write().expect("mms poisoned").insert(id, mm);
        Ok(id)
    }

    pub(crate) fn mm(&self, id: MmId) -> Result<Arc<Mm>> {
        self.mms
            .read()
            .expect("mms poisoned")
            .get(&id)
            .cloned()
            .ok_or(Error::Misuse(Misuse::UnknownProcess(id)))
    }

    pub(crate) fn all_mms(&self) -> Vec<Arc<Mm>> {
        self.mms
            .read()
            .expect("mms poisoned")
            .values()
            .cloned()
            .collect()
    }

    // ---- attributes -----------------------------------------------------------

    pub(crate) fn attr_at(&self, index: usize) -> Attr {
        lock(&self.attrs).get(index).unwrap_or(Attr::Private)
    }

    // ---- page cache ---------------------------------------------------------

    fn find_in(map: &BTreeMap<usize, Arc<Folio>>, index: usize) -> Option<Arc<Folio>> {
        let (_, f) = map.range(..=index).next_back()?;
        f.covers(index).then(|| f.clone())
    }

    /// The folio in the page cache at `index` (no reference taken).
    pub(crate) fn filemap_find(&self, index: usize) -> Option<Arc<Folio>> {
        Self::find_in(&lock(&self.filemap), index)
    }

    /// The folios in the page cache overlapping `[start, end)`: only present
    /// folios are visited (never a loop over absent pages).
    pub(crate) fn filemap_folios_in(&self, start: usize, end: usize) -> Vec<Arc<Folio>> {
        let map = lock(&self.filemap);
        let mut out = Vec::new();
        if start >= end {
            return out;
        }
        if let Some((_, f)) = map.range(..start).next_back() {
            if f.covers(start) {
                out.push(f.clone());
            }
        }
        out.extend(map.range(start..end).map(|(_, f)| f.clone()));
        out
    }

    /// `__filemap_get_folio` (with FGP_CREAT when `create`): a transient
    /// reference on the folio at `index`. Callers that create hold
    /// invalidate_lock shared. A frozen folio (restructuring) is retried,
    /// like the RCU lookup's retry loop.
    pub(crate) fn get_folio_ref(&self, index: usize, create: bool) -> Result<Option<Arc<Folio>>> {
        match self.get_folio_ref_fresh(index, create)? {
            Some((f, None)) => Ok(Some(f)),
            Some((f, Some(g))) => {
                // Design hugetlb: a fresh huge folio over a range that is not
                // all private is split before anyone uses it.
                self.folio_put(&f, Ref::Transient);
                self.split_fresh(g, "fault.fresh_split");
                self.get_folio_ref(index, create)
            }
            None => Ok(None),
        }
    }

    /// As [`Self::get_folio_ref`], saying also whether this call took
    /// gigantic page `g` from the pool for a huge folio that must be split
    /// before use (design `hugetlb`, `__maybe_split_fresh_folio()`: the huge
    /// page's range is not all private): `Some(g)`. The fault and
    /// `kvm_gmem_get_pfn()` paths split it as a step of their own.
    pub(crate) fn get_folio_ref_fresh(
        &self,
        index: usize,
        create: bool,
    ) -> Result<Option<(Arc<Folio>, Option<u32>)>> {
        loop {
            let mut map = lock(&self.filemap);
            if let Some(f) = Self::find_in(&map, index) {
                if f.try_get(Ref::Transient) {
                    drop(map);
                    if create && f.gigantic.is_some() {
                        self.mark_populated(&f, index);
                    }
                    return Ok(Some((f, None)));
                }
                drop(map);
                crate::sync::spin_yield();
                continue;
            }
            // A closed file allocates nothing: a fault or get_pfn that was
            // already under way when the release ran finds nothing to map
            // (callers create under invalidate_lock, which close holds
            // exclusive while it sets `closed`).
            if !create || self.is_closed() {
                return Ok(None);
            }
            let mut fresh = None;
            let f = match self.cfg.design.folio_layout() {
                FolioLayout::HugetlbBatched => {
                    let (f, g) = self.alloc_hugetlb(&mut map, index)?;
                    fresh = g;
                    f
                }
                FolioLayout::Small if self.thp() => {
                    // One anonymous THP over the whole file (index 0); a
                    // one-page file gets an order-0 page.
                    let n = self.cfg.nr_pages;
                    let f = self.new_folio(0, n, n > 1, None, Phys::new(), 0);
                    f.zero_all();
                    map.insert(0, f.clone());
                    f
                }
                FolioLayout::Small => {
                    let f = self.new_folio(index, 1, false, None, Phys::new(), 0);
                    f.zero_all();
                    if !self.cfg.design.direct_map() {
                        // GUEST_MEMFD_FLAG_NO_DIRECT_MAP: zeroed through the
                        // direct map, then removed from it
                        // (`kvm_gmem_folio_zap_direct_map()`).
                        f.set_direct_map(false);
                    }
                    map.insert(index, f.clone());
                    f
                }
                _ => self.alloc_huge(&mut map, index)?,
            };
            let ok = f.try_get(Ref::Transient);
            debug_assert!(ok, "a new folio has its page-cache reference");
            drop(map);
            if self.cfg.lru && self.cfg.design.uses_lru() && !f.large {
                self.lru_add(&f);
            }
            return Ok(Some((f, fresh)));
        }
    }

    fn mark_populated(&self, f: &Folio, index: usize) {
        if let Some(g) = f.gigantic {
            let mut h = lock(&self.hugetlb);
            if let Some(p) = h.pages.get_mut(&g) {
                let rel = index - p.first_index;
                p.populated.store(rel, rel + 1, true);
            }
        }
    }

    /// Allocate memory for `index` from its gigantic page, taking the page
    /// from the pool if needed (called with the filemap lock held).
    fn alloc_huge(
        &self,
        map: &mut BTreeMap<usize, Arc<Folio>>,
        index: usize,
    ) -> Result<Arc<Folio>> {
        let ppg = self.cfg.pages_per_gigantic;
        let gidx = (index / ppg) as u32;
        let first = gidx as usize * ppg;
        let nr = ppg.min(self.cfg.nr_pages - first);
        let mut h = lock(&self.hugetlb);
        let need_take = match h.pages.get(&gidx) {
            None => true,
            Some(p) if p.in_pool => true,
            // Punched whole but a transient reference still delays its
            // return to the pool: no memory for this index right now.
            Some(p) if p.released => return Err(Error::sys(Errno::ENOMEM)),
            Some(_) => false,
        };
        if need_take {
            let whole = self.cfg.design.folio_layout() == FolioLayout::WholeGigantic
                || lock(&self.attrs).all_equal(first, first + nr, Attr::Private);
            let p = h.take(gidx, first, nr).ok_or(Error::sys(Errno::ENOMEM))?;
            p.structure = if whole {
                Structure::Whole
            } else {
                Structure::Split
            };
        }
        let p = h.pages.get_mut(&gidx).ok_or(Error::sys(Errno::ENOMEM))?;
        let phys = p.phys.clone();
        match p.structure {
            Structure::Whole => {
                // The large folio covers the whole gigantic page.
                p.populated.store(0, nr, true);
                p.live_folios += 1;
                drop(h);
                let f = self.new_folio(first, nr, true, Some(gidx), phys, 0);
                map.insert(first, f.clone());
                Ok(f)
            }
            _ => {
                // Split: 4K subfolios over the subpages' memory, zeroed only
                // where the subpage holds no file data. A gigantic page that
                // is split (here, fresh from the pool, or by a to-shared
                // conversion) has a folio for every subpage in the page
                // cache, as split_folio() leaves it; only a subpage punched
                // since gets its folio back alone.
                let rel = index - first;
                let all = need_take;
                drop(h);
                let rels = if all { 0..nr } else { rel..rel + 1 };
                self.insert_subfolios(map, gidx, first, rels, phys);
                map.get(&index).cloned().ok_or(Error::sys(Errno::ENOMEM))
            }
        }
    }

    /// Design `hugetlb` (`kvm_gmem_get_folio()` of the 2026 branch): the
    /// gigantic page of `index` leaves the pool and its whole (large) folio
    /// enters the page cache; `Some(g)` when it must be split before use
    /// (its range is not all private; `__maybe_split_fresh_folio()`), and
    /// meanwhile its structure is `Splitting`. A page with no folio whose
    /// gigantic page is still out of the pool (punched, referenced by a
    /// folio being freed) has no memory: -ENOMEM (called with the filemap
    /// lock held).
    fn alloc_hugetlb(
        &self,
        map: &mut BTreeMap<usize, Arc<Folio>>,
        index: usize,
    ) -> Result<(Arc<Folio>, Option<u32>)> {
        let ppg = self.cfg.pages_per_gigantic;
        let gidx = (index / ppg) as u32;
        let first = gidx as usize * ppg;
        let nr = ppg.min(self.cfg.nr_pages - first);
        let mut h = lock(&self.hugetlb);
        if h.pages.get(&gidx).is_some_and(|p| !p.in_pool) {
            return Err(Error::sys(Errno::ENOMEM));
        }
        let private = lock(&self.attrs).all_equal(first, first + nr, Attr::Private);
        let p = h.take(gidx, first, nr).ok_or(Error::sys(Errno::ENOMEM))?;
        p.structure = if private {
            Structure::Whole
        } else {
            Structure::Splitting
        };
        p.populated.store(0, nr, true);
        p.live_folios += 1;
        let phys = p.phys.clone();
        drop(h);
        let f = self.new_folio(first, nr, true, Some(gidx), phys, 0);
        map.insert(first, f.clone());
        Ok((f, (!private).then_some(gidx)))
    }

    /// Put 4K subfolios of gigantic page `g` for the relative indices
    /// `rels` into the page cache (`map`, held by the caller), zeroing the
    /// subpages that hold no file data.
    pub(crate) fn insert_subfolios(
        &self,
        map: &mut BTreeMap<usize, Arc<Folio>>,
        g: u32,
        first: usize,
        rels: std::ops::Range<usize>,
        phys: Arc<Phys>,
    ) {
        for rel in rels {
            if map.contains_key(&(first + rel)) {
                continue;
            }
            let fresh = {
                let mut h = lock(&self.hugetlb);
                let Some(p) = h.pages.get_mut(&g) else { return };
                let fresh = p.populated.get(rel) != Some(true);
                p.populated.store(rel, rel + 1, true);
                p.live_folios += 1;
                fresh
            };
            let f = self.new_folio(first + rel, 1, false, Some(g), phys.clone(), rel);
            if fresh {
                f.zero_all();
            }
            map.insert(first + rel, f);
        }
    }

    pub(crate) fn new_folio(
        &self,
        index: usize,
        nr: usize,
        large: bool,
        gigantic: Option<u32>,
        phys: Arc<Phys>,
        off: usize,
    ) -> Arc<Folio> {
        let id = self.next_folio.fetch_add(1, Ordering::AcqRel);
        let f = Arc::new(Folio::new(id, index, nr, large, gigantic, phys, off));
        lock(&self.arena).insert(id, f.clone());
        f
    }

    /// Remove `f` from the page cache (it must be there).
    pub(crate) fn filemap_remove(&self, f: &Arc<Folio>) {
        let mut map = lock(&self.filemap);
        if map.get(&f.index).is_some_and(|x| Arc::ptr_eq(x, f)) {
            map.remove(&f.index);
        }
    }

    // ---- references ---------------------------------------------------------

    /// folio_put: drop a reference and free the folio at zero, then wake
    /// the put wait queue (design `wait`'s converter).
    pub(crate) fn folio_put(&self, f: &Arc<Folio>, r: Ref) {
        self.folio_put_nowake(f, r);
        self.wake_put_waiters();
    }

    /// folio_put without the wake-up, for the waiting converter's own
    /// lookup reference: dropping it only undoes the converter's own `+1`,
    /// it never brings a folio the converter waits for closer to baseline,
    /// so it must not count as progress (it would bump the generation the
    /// converter just sampled and keep it from ever sleeping).
    pub(crate) fn folio_put_nowake(&self, f: &Arc<Folio>, r: Ref) {
        if f.put(r) {
            self.free_folio(f);
        }
    }

    /// The folio's memory goes back: to the buddy allocator (4K), or, for
    /// memory of a gigantic page, back to it; the gigantic page returns to
    /// the pool once nothing of it is left (RFC v2's deferred merge).
    /// `kvm_gmem_free_folio()` first hands every page back to the host
    /// (`kvm_arch_gmem_reclaim()`: hardware state -> shared); bug switch
    /// `no_reclaim_on_free` skips it.
    fn free_folio(&self, f: &Arc<Folio>) {
        if !self.cfg.has(crate::design::Bug::NoReclaimOnFree) {
            f.set_hw(f.index, f.index + f.nr_pages, false);
        }
        // A folio out of the direct map goes back into it before the
        // allocator hands its pages to anyone else (the no-direct-map
        // series' `kvm_gmem_free_folio()`).
        f.set_direct_map(true);
        f.mark_freed();
        if let Some(g) = f.gigantic {
            let mut h = lock(&self.hugetlb);
            if let Some(p) = h.pages.get_mut(&g) {
                p.live_folios = p.live_folios.saturating_sub(1);
            }
            h.maybe_return(g);
        }
    }

    /// A folio that was frozen and folded into another (merge/split): its
    /// memory lives on in the new folio(s).
    pub(crate) fn folio_gone(&self, f: &Arc<Folio>) {
        f.mark_gone();
        if let Some(g) = f.gigantic {
            let mut h = lock(&self.hugetlb);
            if let Some(p) = h.pages.get_mut(&g) {
                p.live_folios = p.live_folios.saturating_sub(1);
            }
        }
    }

    /// Bump the put wait queue's generation and wake every waiter. The
    /// generation is what the converter samples *before* its check, so a put
    /// that lands between its check and its sleep is never lost.
    pub(crate) fn wake_put_waiters(&self) {
        let (m, cv) = &self.put_wq;
        *lock(m) += 1;
        cv.notify_all();
    }

    /// lru_add: the per-CPU batch holds a reference until drained.
    fn lru_add(&self, f: &Arc<Folio>) {
        if !f.try_get(Ref::Transient) {
            return;
        }
        f.in_lru_batch.store(true, Ordering::Release);
        let full = {
            let mut b = lock(&self.lru);
            b.push(f.clone());
            b.len() >= LRU_BATCH_SIZE
        };
        if full {
            self.lru_add_drain_all();
        }
    }

    /// lru_add_drain_all: move every batched folio to the LRU, dropping the
    /// batch's reference.
    pub fn lru_add_drain_all(&self) {
        let batch: Vec<Arc<Folio>> = std::mem::take(&mut *lock(&self.lru));
        for f in batch {
            f.in_lru_batch.store(false, Ordering::Release);
            self.folio_put(&f, Ref::Transient);
        }
    }

    /// A conversion's `kvm_gmem_invalidate_start()` over `[start, end)`
    /// with `filter` in every VM bound to the file (bug switch
    /// `invalidate_one_binding`: only the first).
    pub(crate) fn invalidate_start(
        &self,
        start: usize,
        end: usize,
        filter: Filter,
    ) -> Invalidation {
        let one = self.cfg.has(crate::design::Bug::InvalidateOneBinding);
        self.kvm.invalidate_start(start, end, filter, one)
    }

    /// Does any process map a page of `[start, end)`?
    pub(crate) fn any_pte_in(&self, start: usize, end: usize) -> bool {
        self.all_mms().iter().any(|m| m.any_pte_in(start, end))
    }

    /// unmap_mapping_pages over `[start, end)` in every process, dropping
    /// the PTEs' references (special PFNMAP PTEs hold none). Each process's
    /// interval notifiers run first ([`crate::mm::Mm::zap_range`]).
    pub(crate) fn unmap_mapping_range(&self, start: usize, end: usize) {
        for mm in self.all_mms() {
            for (_, pte) in mm.zap_range(start, end) {
                if !pte.special {
                    self.folio_put(&pte.folio, Ref::Pte);
                }
            }
        }
    }

    // ---- per-operation bookkeeping ------------------------------------------

    /// Start of a public operation: forget the previous operation's accesses
    /// and folios that no longer matter.
    pub(crate) fn begin_op(&self) {
        self.forget_accesses();
        lock(&self.arena).retain(|_, f| {
            let dead = f.freed() || f.home() == FolioHome::Gone;
            !dead || f.folio_ref_count() != 0 || !f.parts().is_zero()
        });
    }

    /// The view's accesses are those of the last operation; a driver that
    /// steps threads through `sched` wants those of the last *step* (the
    /// model's `last_access`), so it calls this before each step.
    pub fn forget_accesses(&self) {
        lock(&self.accesses).clear();
    }

    /// End of a public operation: run the debug invariant check if enabled.
    pub(crate) fn end_op(&self) {
        if self.debug_checks.load(Ordering::Acquire) {
            if let Err(e) = self.check_invariants() {
                let mut f = lock(&self.debug_failure);
                if f.is_none() {
                    *f = Some(e);
                }
            }
        }
    }

    pub(crate) fn record_access(
        &self,
        who: Accessor,
        f: &Folio,
        index: usize,
        write: bool,
        guest_type: Option<Attr>,
    ) {
        if !matches!(who, Accessor::Guest) {
            // host_access_only_shared, checked at the moment of the access.
            let guest_page = f.home() == FolioHome::PageCache(f.index) && !f.freed();
            if f.freed() || f.home() == FolioHome::Gone {
                lock(&self.access_violations).push(format!(
                    "{who:?} touched dead folio {} at page {index}",
                    f.id
                ));
            } else if guest_page && self.attr_at(index) != Attr::Shared {
                lock(&self.access_violations).push(format!("{who:?} touched private page {index}"));
            }
            // host_access_only_hw_shared, at the moment of the access.
            if f.hw_private(index) {
                lock(&self.hw_access_violations).push(format!(
                    "{who:?} touched page {index}, which the hardware holds private"
                ));
            }
        }
        lock(&self.accesses).push(Access {
            who,
            folio: f.id,
            index,
            write,
            guest_type,
        });
    }

    pub(crate) fn arena_snapshot(&self) -> Vec<Arc<Folio>> {
        lock(&self.arena).values().cloned().collect()
    }

    pub(crate) fn snapshot_attrs(&self, start: usize, nr: usize) -> Vec<Attr> {
        let a = lock(&self.attrs);
        let mut v = Vec::with_capacity(nr);
        for (s, e, x) in a.ranges_in(start, start + nr) {
            v.extend(std::iter::repeat_n(x, e - s));
        }
        v
    }

    pub(crate) fn conversion_begin(&self, start: usize, nr: usize, to: Attr) -> Option<u64> {
        if nr > CONVERSION_SNAPSHOT_MAX {
            return None;
        }
        let id = self.next_conv.fetch_add(1, Ordering::AcqRel);
        let before = self.snapshot_attrs(start, nr);
        lock(&self.conversions).push_back(ConversionRecord {
            id,
            caller: std::thread::current().id(),
            left: false,
            start,
            nr,
            to,
            status: ConvStatus::InProgress,
            before,
            after: Vec::new(),
        });
        Some(id)
    }

    /// The call has its range to itself from here (it took the invalidate
    /// lock for write): the `before` snapshot of `conversion_atomic` is
    /// taken again here, since another thread may have converted an
    /// overlapping range between the ioctl's entry and now.
    pub(crate) fn conversion_entered(&self, id: Option<u64>) {
        let Some(id) = id else { return };
        let mut c = lock(&self.conversions);
        if let Some(rec) = c.iter_mut().find(|r| r.id == id) {
            rec.before = self.snapshot_attrs(rec.start, rec.nr);
        }
    }

    /// The call is about to drop the invalidate lock: the `after` snapshot
    /// (what it left in its range; another thread may store over it once
    /// the lock is free, before this call returns).
    pub(crate) fn conversion_left(&self, id: Option<u64>) {
        let Some(id) = id else { return };
        let mut c = lock(&self.conversions);
        if let Some(rec) = c.iter_mut().find(|r| r.id == id) {
            rec.after = self.snapshot_attrs(rec.start, rec.nr);
            rec.left = true;
        }
    }

    pub(crate) fn conversion_end(&self, id: Option<u64>, res: &Result<()>) {
        let Some(id) = id else { return };
        let mut c = lock(&self.conversions);
        if let Some(rec) = c.iter_mut().find(|r| r.id == id) {
            if !rec.left {
                rec.after = self.snapshot_attrs(rec.start, rec.nr);
            }
            rec.status = ConvStatus::Returned(match res {
                Ok(()) => ConvResult::Ok,
                Err(Error::Sys {
                    errno: Errno::EAGAIN,
                    error_index,
                }) => ConvResult::Eagain {
                    error_index: error_index.unwrap_or(rec.start),
                },
                Err(Error::Sys {
                    errno: Errno::ETIMEDOUT,
                    ..
                }) => ConvResult::Timeout,
                Err(Error::Sys {
                    errno: Errno::ENOMEM,
                    error_index,
                }) => ConvResult::Enomem {
                    error_index: error_index.unwrap_or(rec.start),
                },
                Err(Error::Sys {
                    errno: Errno::EFAULT,
                    ..
                }) => ConvResult::Efault,
                Err(Error::Sys {
                    errno: Errno::ENOTTY,
                    ..
                }) => ConvResult::Enotty,
                Err(_) => ConvResult::Einval,
            });
        }
        // Keep every in-flight record and the last few returned ones.
        while c
            .iter()
            .filter(|r| r.status != ConvStatus::InProgress)
            .count()
            > CONVERSION_HISTORY
        {
            if let Some(pos) = c.iter().position(|r| r.status != ConvStatus::InProgress) {
                c.remove(pos);
            }
        }
    }

    /// Design exclusive_pin on one anonymous THP (`Config::thp`).
    pub(crate) fn thp(&self) -> bool {
        self.cfg.thp && self.cfg.design.exclusive_donation()
    }

    pub(crate) fn check_open(&self) -> Result<()> {
        if self.is_closed() {
            Err(Error::sys(Errno::EBADF))
        } else {
            Ok(())
        }
    }

    pub(crate) fn new_pin_id(&self) -> PinId {
        self.next_pin.fetch_add(1, Ordering::AcqRel)
    }

    pub(crate) fn new_dev_id(&self) -> crate::device::DevId {
        self.next_dev.fetch_add(1, Ordering::AcqRel)
    }

    /// Turn on the per-operation invariant check (single-threaded use: a
    /// check in the middle of another thread's operation may see it half done).
    pub fn set_debug_checks(&self, on: bool) {
        self.debug_checks.store(on, Ordering::Release);
    }

    /// The first invariant failure seen by the per-operation check.
    pub fn take_debug_failure(&self) -> Option<String> {
        lock(&self.debug_failure).take()
    }
}
