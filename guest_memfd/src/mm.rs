//! Host processes (`struct mm_struct`): the VMA mapping the guest_memfd
//! file, the mmap_lock, page tables with split PTE locks (one lock per
//! 512-entry page table, like `pte_lockptr`), and the mm's MMU interval
//! notifiers, which every zap calls before it clears PTEs. Page tables are
//! allocated only where something was faulted in, so an untouched 1 TiB
//! mapping costs nothing.

use crate::folio::Folio;
use crate::locktrack::{LockTracker, TrackedRwLock};
use crate::mmu_notifier::MmuNotifierSubscriptions;
use crate::sync::{lock, Arc, Mutex};
use invariants::LockId;
use std::collections::BTreeMap;

/// Entries per page table (x86-64 PTRS_PER_PTE).
pub const PTRS_PER_PTE: usize = 512;

#[derive(Clone, Debug)]
pub struct Pte {
    pub folio: Arc<Folio>,
    /// A special (VM_PFNMAP) PTE: no struct-page reference is held.
    pub special: bool,
}

impl Pte {
    pub fn same(&self, other: &Pte) -> bool {
        Arc::ptr_eq(&self.folio, &other.folio) && self.special == other.special
    }
}

/// One page table: 512 entries, sparse.
#[derive(Debug, Default)]
pub struct PageTable {
    entries: BTreeMap<u16, Pte>,
}

/// The VMA mapping the guest_memfd file (MAP_SHARED from offset 0).
#[derive(Clone, Copy, Debug)]
pub struct Vma {
    /// Length in pages.
    pub pages: usize,
    /// VM_PFNMAP (design `pfnmap`).
    pub pfnmap: bool,
    /// The file's mapping is `AS_NO_DIRECT_MAP` (design `no_direct_map`):
    /// GUP refuses it (`check_vma_flags()`, `gup_fast_folio_allowed()`).
    pub no_direct_map: bool,
}

#[derive(Debug)]
pub struct Mm {
    pub id: u32,
    pub mmap_lock: TrackedRwLock<()>,
    vma: Mutex<Option<Vma>>,
    /// Upper levels of the page-table tree: table number -> page table
    /// with its own (split) PTE lock.
    tables: Mutex<BTreeMap<usize, Arc<Mutex<PageTable>>>>,
    /// Secondary MMUs mirroring this address space (`mm->notifier_subscriptions`).
    pub notifiers: MmuNotifierSubscriptions,
}

impl Mm {
    pub fn new(id: u32, vma: Option<Vma>, tracker: Arc<LockTracker>) -> Mm {
        Mm {
            id,
            mmap_lock: TrackedRwLock::new(LockId::MmapLock(id), tracker, ()),
            vma: Mutex::new(vma),
            tables: Mutex::new(BTreeMap::new()),
            notifiers: MmuNotifierSubscriptions::default(),
        }
    }

    pub fn vma(&self) -> Option<Vma> {
        *lock(&self.vma)
    }

    /// munmap of the whole VMA; the caller zaps the PTEs first.
    pub fn unmap_vma(&self) {
        *lock(&self.vma) = None;
    }

    fn table(&self, index: usize, create: bool) -> Option<Arc<Mutex<PageTable>>> {
        let mut t = lock(&self.tables);
        let k = index / PTRS_PER_PTE;
        if create {
            Some(t.entry(k).or_default().clone())
        } else {
            t.get(&k).cloned()
        }
    }

    /// Run `f` with the PTE lock of `index` held, on the entry.
    pub fn with_pte<R>(
        &self,
        index: usize,
        create: bool,
        f: impl FnOnce(&mut Option<Pte>) -> R,
    ) -> R {
        let slot = (index % PTRS_PER_PTE) as u16;
        match self.table(index, create) {
            Some(t) => {
                let mut pt = lock(&t);
                let mut e = pt.entries.remove(&slot);
                let r = f(&mut e);
                if let Some(p) = e {
                    pt.entries.insert(slot, p);
                }
                r
            }
            None => f(&mut None),
        }
    }

    /// A lockless PTE read (GUP-fast, `ptep_get_lockless`): one consistent
    /// snapshot of the entry; nothing is held afterwards.
    pub fn pte_read(&self, index: usize) -> Option<Pte> {
        self.with_pte(index, false, |e| e.clone())
    }

    /// Zap the PTEs of `[start, end)` (`zap_page_range_single()` with TLB
    /// flush; the TLB flush is implied because host accesses happen under
    /// the PTE lock). While the VMA maps the file, the mm's interval
    /// notifiers overlapping the range are called first, whether or not a
    /// PTE is present (`mmu_notifier_invalidate_range_start()` before the
    /// PTEs go, `_end()` after). Returns the removed entries; the caller
    /// drops their references.
    pub fn zap_range(&self, start: usize, end: usize) -> Vec<(usize, Pte)> {
        if start >= end {
            return Vec::new();
        }
        let inv = self
            .vma()
            .map(|_| self.notifiers.invalidate_range_start(start, end));
        let out = self.zap_ptes(start, end);
        if let Some(inv) = inv {
            self.notifiers.invalidate_range_end(inv);
        }
        out
    }

    fn zap_ptes(&self, start: usize, end: usize) -> Vec<(usize, Pte)> {
        let mut out = Vec::new();
        let tables: Vec<(usize, Arc<Mutex<PageTable>>)> = lock(&self.tables)
            .range(start / PTRS_PER_PTE..=(end - 1) / PTRS_PER_PTE)
            .map(|(k, t)| (*k, t.clone()))
            .collect();
        for (k, t) in tables {
            let mut pt = lock(&t);
            let base = k * PTRS_PER_PTE;
            let lo = start.saturating_sub(base).min(PTRS_PER_PTE) as u16;
            let hi = (end - base).min(PTRS_PER_PTE) as u16;
            let slots: Vec<u16> = pt.entries.range(lo..hi).map(|(s, _)| *s).collect();
            for s in slots {
                if let Some(p) = pt.entries.remove(&s) {
                    out.push((base + s as usize, p));
                }
            }
        }
        out
    }

    /// Is any PTE of `[start, end)` present? (Visits only the page tables
    /// that exist.)
    pub fn any_pte_in(&self, start: usize, end: usize) -> bool {
        if start >= end {
            return false;
        }
        let tables: Vec<(usize, Arc<Mutex<PageTable>>)> = lock(&self.tables)
            .range(start / PTRS_PER_PTE..=(end - 1) / PTRS_PER_PTE)
            .map(|(k, t)| (*k, t.clone()))
            .collect();
        tables.into_iter().any(|(k, t)| {
            let base = k * PTRS_PER_PTE;
            let lo = start.saturating_sub(base).min(PTRS_PER_PTE) as u16;
            let hi = (end - base).min(PTRS_PER_PTE) as u16;
            lock(&t).entries.range(lo..hi).next().is_some()
        })
    }

    /// Every present PTE (for fork and the invariants view).
    pub fn all_ptes(&self) -> Vec<(usize, Pte)> {
        let tables: Vec<(usize, Arc<Mutex<PageTable>>)> = lock(&self.tables)
            .iter()
            .map(|(k, t)| (*k, t.clone()))
            .collect();
        let mut out = Vec::new();
        for (k, t) in tables {
            for (s, p) in lock(&t).entries.iter() {
                out.push((k * PTRS_PER_PTE + *s as usize, p.clone()));
            }
        }
        out
    }

    pub fn metadata_bytes(&self) -> usize {
        let tables = lock(&self.tables);
        let mut n = std::mem::size_of::<Mm>();
        for t in tables.values() {
            n += 64 + lock(t).entries.len() * (std::mem::size_of::<(u16, Pte)>() + 16);
        }
        n + self.notifiers.len() * std::mem::size_of::<crate::mmu_notifier::MmuIntervalNotifier>()
    }
}
