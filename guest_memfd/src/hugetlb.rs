//! The hugetlb pool of gigantic pages and the per-gigantic-page state of
//! huge-backed designs (1G RFC v2, docs/kernel.md#hugetlb-rfc-v2).
//!
//! A gigantic page leaves the pool when the first of its subpages is needed
//! and returns only when it no longer backs anything: every subpage punched
//! (or the file closed) *and* every folio made of it freed or merged away,
//! so a pin on a subpage defers the return (RFC v2's folio_put callback).

use crate::folio::Phys;
use crate::range_map::RangeMap;
use crate::sync::Arc;
use invariants::Structure;
use std::collections::BTreeMap;

#[derive(Debug)]
pub struct Gigantic {
    pub id: u32,
    pub first_index: usize,
    pub nr_pages: usize,
    pub phys: Arc<Phys>,
    pub structure: Structure,
    pub in_pool: bool,
    /// The file let go of it (punched whole, or closed).
    pub released: bool,
    /// Subpages (relative index) whose memory holds file data; a punch
    /// clears them, a fault sets them again (zeroed).
    pub populated: RangeMap<bool>,
    /// Folios made of this page's memory that are neither freed nor merged
    /// away.
    pub live_folios: usize,
}

#[derive(Debug, Default)]
pub struct Hugetlb {
    /// Free gigantic pages in the pool.
    pub free: usize,
    /// Gigantic pages this file has taken from the pool at least once.
    pub pages: BTreeMap<u32, Gigantic>,
}

impl Hugetlb {
    pub fn new(nr_gigantic: usize) -> Hugetlb {
        Hugetlb {
            free: nr_gigantic,
            pages: BTreeMap::new(),
        }
    }

    /// Is gigantic page `g` currently backing the file?
    pub fn backing(&self, g: u32) -> Option<&Gigantic> {
        self.pages.get(&g).filter(|p| !p.in_pool && !p.released)
    }

    /// Take gigantic page `g` from the pool (zeroed memory, no folios yet).
    pub fn take(&mut self, g: u32, first_index: usize, nr_pages: usize) -> Option<&mut Gigantic> {
        if self.free == 0 {
            return None;
        }
        self.free -= 1;
        self.pages.insert(
            g,
            Gigantic {
                id: g,
                first_index,
                nr_pages,
                phys: Phys::new(),
                structure: Structure::Whole,
                in_pool: false,
                released: false,
                populated: RangeMap::new(nr_pages, false),
                live_folios: 0,
            },
        );
        self.pages.get_mut(&g)
    }

    /// Return `g` to the pool if the file released it and no folio of it
    /// is left (merge + free, 1G RFC v2 patch 39, docs/kernel.md#hugetlb-rfc-v2).
    pub fn maybe_return(&mut self, g: u32) {
        if let Some(p) = self.pages.get_mut(&g) {
            if p.released && !p.in_pool && p.live_folios == 0 {
                p.in_pool = true;
                p.structure = Structure::Whole;
                p.phys.zero(0, p.nr_pages);
                self.free += 1;
            }
        }
    }

    pub fn metadata_bytes(&self) -> usize {
        self.pages
            .values()
            .map(|g| std::mem::size_of::<Gigantic>() + 16 + g.populated.metadata_bytes())
            .sum()
    }
}
