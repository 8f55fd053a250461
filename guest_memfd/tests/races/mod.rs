//! Concurrency harnesses over the real implementation, written once against
//! the `guest_memfd::sync` facade and run by `loom_races.rs` (`--cfg loom`,
//! exhaustive up to LOOM_MAX_PREEMPTIONS) and `shuttle_races.rs`
//! (`--features shuttle`, randomised and PCT schedules). Each uses at most
//! three threads (the main one included) doing one to three operations,
//! asserts a safety fact *inside* a thread where one is meaningful, and
//! checks every safety invariant (`GuestMemFd::check_invariants`) after the
//! joins.

#![allow(dead_code)]

use guest_memfd::sync::{thread, Arc};
use guest_memfd::{
    AccessOutcome, Attr, Config, Design, Errno, Error, GmemFlags, GuestMemFd, PinKind,
};
use invariants::GmemView;

fn gmem(design: Design, pages: usize, init_shared: bool) -> Arc<GuestMemFd> {
    let c = Config::new(
        design,
        pages,
        GmemFlags {
            mmap: true,
            init_shared,
        },
    );
    Arc::new(GuestMemFd::new(c).expect("create"))
}

/// Every safety invariant after the joins. The "last accesses" history is
/// cleared first: it holds the accesses of whichever operations ran last,
/// and evaluating them against the attribute *now* flags an access that was
/// legal when it happened (a host write followed by a concurrent, later
/// to-private). Accesses are still checked at the moment they happen
/// (`access_violations`, part of `check_invariants`).
fn invariants_hold(g: &GuestMemFd) {
    g.clear_last_accesses();
    if let Err(e) = g.check_invariants() {
        panic!(
            "invariant violated ({}): {e}\n{}",
            g.design(),
            g.debug_snapshot()
        );
    }
}

fn is_eagain(r: &Result<(), Error>) -> bool {
    matches!(r, Err(e) if e.errno() == Some(Errno::EAGAIN))
}

/// GUP-fast vs to-private (domain.md 3.3): the page is mapped, so the pin
/// goes through GUP-fast (PTE read, try-add, barrier, PTE re-read) while the
/// converter unmaps and checks refcounts. Either the pin backs off / fails
/// or the conversion fails EAGAIN: while the pin is held the page is shared.
pub fn gup_fast_vs_convert(kind: PinKind) {
    let g = gmem(Design::Inplace, 1, true);
    g.host_write(0, 0, 7).unwrap();
    let g2 = g.clone();
    let pinner = thread::spawn(move || {
        if let Ok(id) = g2.pin(0, 0, kind) {
            // Inside: a completed pin and a private attribute never coexist.
            assert_eq!(g2.attr(0), Some(Attr::Shared), "pinned page went private");
            g2.unpin(id).unwrap();
        }
    });
    let r = g.convert(0, 1, Attr::Private);
    assert!(r.is_ok() || is_eagain(&r), "unexpected {r:?}");
    pinner.join().unwrap();
    invariants_hold(&g);
    if r.is_ok() {
        assert_eq!(g.page(0).host_ptes, 0, "private page still mapped");
    }
}

/// Host fault vs to-private (domain.md 2.5): a fault that looked the folio up
/// before the converter took the invalidate lock installs its PTE after the
/// unmap; its reference must make the check fail, never leave a private
/// page mapped.
pub fn host_fault_vs_convert() {
    let g = gmem(Design::Inplace, 1, true);
    let g2 = g.clone();
    let host = thread::spawn(move || {
        let a = g2.host_write(0, 0, 1).unwrap();
        if a != AccessOutcome::Sigbus {
            // The write went through a PTE: a second access sees either
            // that PTE (still shared) or a SIGBUS (converted meanwhile).
            let b = g2.host_read(0, 0).unwrap();
            assert!(matches!(b, AccessOutcome::Value(_) | AccessOutcome::Sigbus));
        }
    });
    let r = g.convert(0, 1, Attr::Private);
    assert!(r.is_ok() || is_eagain(&r), "unexpected {r:?}");
    host.join().unwrap();
    invariants_hold(&g);
    let p = g.page(0);
    assert!(
        p.attr == Attr::Shared || p.host_ptes == 0,
        "private page mapped: {p:?}"
    );
}

/// Design split, merge vs GUP-fast: page 1 is private, page 0 shared and
/// mapped; the converter makes page 0 private, which merges the gigantic
/// page (freeze every 4K subfolio at baseline, fold), while a GUP-fast
/// FOLL_GET try-adds on page 0's subfolio. The try-add must fail on a frozen
/// folio and no reference may survive on a folded subfolio.
pub fn split_merge_vs_gup_fast() {
    let g = gmem(Design::Split, 2, true);
    g.host_write(0, 0, 3).unwrap();
    g.convert(1, 1, Attr::Private).unwrap();
    let g2 = g.clone();
    let pinner = thread::spawn(move || {
        if let Ok(id) = g2.pin(0, 0, PinKind::Get) {
            assert_eq!(g2.attr(0), Some(Attr::Shared), "GET ref on a private page");
            g2.unpin(id).unwrap();
        }
    });
    let r = g.convert(0, 1, Attr::Private);
    assert!(r.is_ok() || is_eagain(&r), "unexpected {r:?}");
    pinner.join().unwrap();
    invariants_hold(&g);
}

/// Design split, split vs speculative lookup: the file is all private and
/// backed by one whole gigantic folio; to-shared freezes it and splits it
/// while a vCPU's get_pfn looks the folio up (the page-cache lookup's
/// try-get, retried while frozen) and maps it.
pub fn split_freeze_vs_lookup() {
    let g = gmem(Design::Split, 2, false);
    assert!(matches!(
        g.guest_read(1, Some(Attr::Private)).unwrap(),
        AccessOutcome::Value(_)
    ));
    let g2 = g.clone();
    let vcpu = thread::spawn(move || {
        let o = g2.guest_read(1, Some(Attr::Private)).unwrap();
        assert!(matches!(
            o,
            AccessOutcome::Value(_) | AccessOutcome::MemoryFault
        ));
    });
    let r = g.convert(0, 2, Attr::Shared);
    assert_eq!(r, Ok(()));
    vcpu.join().unwrap();
    invariants_hold(&g);
}

/// Design wait: a short-term pin dropped concurrently with the converter's
/// check must wake it (no lost wake-up: the converter would sleep forever,
/// which loom and shuttle report as a deadlock).
pub fn wait_wakeup() {
    let g = gmem(Design::Wait, 1, true);
    g.host_write(0, 0, 1).unwrap();
    let id = g.pin(0, 0, PinKind::Pin).unwrap();
    let g2 = g.clone();
    let unpinner = thread::spawn(move || g2.unpin(id).unwrap());
    assert_eq!(g.convert(0, 1, Attr::Private), Ok(()));
    unpinner.join().unwrap();
    invariants_hold(&g);
}
