//! Measurements shared by `benches/conversion.rs` and the checker's `bench`
//! command: conversion and punch time of a 1 GiB range on a 1 TiB file with
//! no folios present, conversion of a populated 1 GiB range (every page has
//! its folio), and metadata bytes per 4K page (from
//! [`GuestMemFd::metadata_bytes`]).

use crate::design::{Config, Design, GmemFlags, PAGES_PER_1G};
use crate::errno::Result;
use crate::gmem::GuestMemFd;
use invariants::Attr;
use std::time::{Duration, Instant};

/// 1 TiB of 4K pages.
pub const PAGES_1T: usize = 268_435_456;

#[derive(Clone, Debug)]
pub struct BenchRow {
    pub design: Design,
    pub file_pages: usize,
    pub range_pages: usize,
    /// Convert the range to private and back, no folios present.
    pub convert_round_trip: Duration,
    /// Punch the range (after the round trip).
    pub punch: Duration,
    /// Metadata bytes per 4K page of the whole file after those operations.
    pub meta_per_page_untouched: f64,
    /// Metadata bytes per 4K page of a file of `range_pages` pages whose
    /// every page is allocated.
    pub meta_per_page_populated: f64,
    /// Convert that populated file to the other type and back (to-private
    /// and back from shared; design hugetlb, whose files start private,
    /// to-shared and back): the per-folio work of the conversion (unmap,
    /// the refcount check, the hardware ownership, hugetlb's split and
    /// merge).
    pub convert_populated_round_trip: Duration,
}

fn config(design: Design, pages: usize, ppg: usize) -> Config {
    let mut c = Config::new(
        design,
        pages,
        GmemFlags {
            mmap: true,
            // GUEST_MEMFD_FLAG_HUGETLB | INIT_SHARED is -EINVAL.
            init_shared: design != Design::Hugetlb,
        },
    );
    c.pages_per_gigantic = ppg.min(pages).max(1);
    c
}

/// Measure one design at the given scale (`measure(d, PAGES_1T, PAGES_PER_1G)`
/// is the benchmark's configuration).
pub fn measure_at(design: Design, file_pages: usize, range_pages: usize) -> Result<BenchRow> {
    let ppg = PAGES_PER_1G.min(range_pages);
    let g = GuestMemFd::new(config(design, file_pages, ppg))?;
    let t = Instant::now();
    g.convert(0, range_pages, Attr::Private)?;
    g.convert(0, range_pages, Attr::Shared)?;
    let convert_round_trip = t.elapsed();
    let t = Instant::now();
    g.punch(0, range_pages)?;
    let punch = t.elapsed();
    let meta_per_page_untouched = g.metadata_bytes() as f64 / file_pages as f64;
    let p = GuestMemFd::new(config(design, range_pages, ppg))?;
    p.allocate(0, range_pages)?;
    let meta_per_page_populated = p.metadata_bytes() as f64 / range_pages as f64;
    let (there, back) = if design == Design::Hugetlb {
        (Attr::Shared, Attr::Private)
    } else {
        (Attr::Private, Attr::Shared)
    };
    let t = Instant::now();
    p.convert(0, range_pages, there)?;
    p.convert(0, range_pages, back)?;
    let convert_populated_round_trip = t.elapsed();
    Ok(BenchRow {
        design,
        file_pages,
        range_pages,
        convert_round_trip,
        punch,
        meta_per_page_untouched,
        meta_per_page_populated,
        convert_populated_round_trip,
    })
}

/// The benchmark's configuration: 1 GiB range, 1 TiB file.
pub fn measure(design: Design) -> Result<BenchRow> {
    measure_at(design, PAGES_1T, PAGES_PER_1G)
}

/// A plain-text table of rows.
pub fn table(rows: &[BenchRow]) -> String {
    let mut s = String::new();
    s.push_str(&format!(
        "{:<14} {:>18} {:>18} {:>12} {:>22} {:>22}\n",
        "design",
        "1G to-priv+back",
        "1G populated",
        "1G punch",
        "meta B/4K @1T untouched",
        "meta B/4K @1G populated"
    ));
    for r in rows {
        s.push_str(&format!(
            "{:<14} {:>18} {:>18} {:>12} {:>22.6} {:>22.2}\n",
            r.design.name(),
            format!("{:.3?}", r.convert_round_trip),
            format!("{:.3?}", r.convert_populated_round_trip),
            format!("{:.3?}", r.punch),
            r.meta_per_page_untouched,
            r.meta_per_page_populated
        ));
    }
    s
}
