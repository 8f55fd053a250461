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
    AccessOutcome, Attr, Bug, Config, Design, Errno, Error, GmemFlags, GuestMemFd, PinKind,
};
use invariants::GmemView;

fn gmem(design: Design, pages: usize, init_shared: bool) -> Arc<GuestMemFd> {
    gmem_bugs(design, pages, init_shared, &[])
}

/// As `gmem`, with bug switches on: each harness below takes the switches
/// it can catch, and `{loom,shuttle}_races.rs` check that it does.
fn gmem_bugs(design: Design, pages: usize, init_shared: bool, bugs: &[Bug]) -> Arc<GuestMemFd> {
    let mut c = Config::new(
        design,
        pages,
        GmemFlags {
            mmap: true,
            init_shared,
        },
    );
    c.bugs = bugs.to_vec();
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

/// GUP-fast vs to-private (docs/kernel.md#gup-fast): the page is mapped, so the pin
/// goes through GUP-fast (PTE read, try-add, barrier, PTE re-read) while the
/// converter unmaps and checks refcounts. Either the pin backs off / fails
/// or the conversion fails EAGAIN: while the pin is held the page is shared.
pub fn gup_fast_vs_convert(kind: PinKind) {
    gup_fast_vs_convert_bugs(kind, &[])
}

/// Catches `gup_fast_no_recheck` and `check_before_unmap`.
pub fn gup_fast_vs_convert_bugs(kind: PinKind, bugs: &[Bug]) {
    let g = gmem_bugs(Design::Inplace, 1, true, bugs);
    g.host_write(0, 0, 7).unwrap();
    let g2 = g.clone();
    let pinner = thread::spawn(move || {
        let id = g2.pin(0, 0, kind).ok();
        if id.is_some() {
            // Inside: a completed pin and a private attribute never coexist.
            assert_eq!(g2.attr(0), Some(Attr::Shared), "pinned page went private");
        }
        id
    });
    let r = g.convert(0, 1, Attr::Private);
    assert!(r.is_ok() || is_eagain(&r), "unexpected {r:?}");
    // The pin is still held: no_private_pin sees it if the page went private.
    let id = pinner.join().unwrap();
    invariants_hold(&g);
    if r.is_ok() {
        assert_eq!(g.page(0).host_ptes, 0, "private page still mapped");
    }
    if let Some(id) = id {
        g.unpin(id).unwrap();
    }
}

/// Host fault vs to-private (docs/kernel.md#host-fault): a fault that looked the folio up
/// before the converter took the invalidate lock installs its PTE after the
/// unmap; its reference must make the check fail, never leave a private
/// page mapped.
pub fn host_fault_vs_convert() {
    host_fault_vs_convert_bugs(&[])
}

/// Catches `fault_no_ref` (the PTE holds no reference: `refcount_conserved`).
pub fn host_fault_vs_convert_bugs(bugs: &[Bug]) {
    let g = gmem_bugs(Design::Inplace, 1, true, bugs);
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
    split_merge_vs_gup_fast_bugs(&[])
}

/// Catches `restructure_no_freeze` (a reference lands on a subfolio the
/// merge folds away: `gigantic_pool_safe`).
pub fn split_merge_vs_gup_fast_bugs(bugs: &[Bug]) {
    let g = gmem_bugs(Design::Split, 2, true, bugs);
    g.host_write(0, 0, 3).unwrap();
    g.convert(1, 1, Attr::Private).unwrap();
    let g2 = g.clone();
    let pinner = thread::spawn(move || {
        let id = g2.pin(0, 0, PinKind::Get).ok();
        if id.is_some() {
            assert_eq!(g2.attr(0), Some(Attr::Shared), "GET ref on a private page");
        }
        id
    });
    let r = g.convert(0, 1, Attr::Private);
    assert!(r.is_ok() || is_eagain(&r), "unexpected {r:?}");
    // The reference is still held: gigantic_pool_safe sees it on a folded subfolio.
    let id = pinner.join().unwrap();
    invariants_hold(&g);
    if let Some(id) = id {
        g.unpin(id).unwrap();
    }
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

/// Guest stage-2 fault vs to-private (docs/kernel.md#guest-fault): the vCPU snapshots
/// mmu_invalidate_seq, checks the attribute, gets the pfn and installs the
/// stage-2 entry unless an invalidation raced. Catches
/// `guest_check_before_seq` (a shared entry installed for a page that went
/// private: `stage2_coherent`).
pub fn guest_fault_vs_convert(bugs: &[Bug]) {
    let g = gmem_bugs(Design::Inplace, 1, true, bugs);
    let g2 = g.clone();
    let vcpu = thread::spawn(move || {
        let o = g2.guest_read(0, Some(Attr::Shared)).unwrap();
        assert!(matches!(
            o,
            AccessOutcome::Value(_) | AccessOutcome::MemoryFault
        ));
    });
    // The vCPU's get_pfn reference can make the check fail: EAGAIN is fine.
    let r = g.convert(0, 1, Attr::Private);
    assert!(r.is_ok() || is_eagain(&r), "unexpected {r:?}");
    vcpu.join().unwrap();
    invariants_hold(&g);
}

/// To-private of two pages while a short-term pin on the second is being
/// dropped: the conversion succeeds or fails EAGAIN, and fails as a whole.
/// Catches `partial_flip` (`conversion_atomic`).
pub fn convert_range_vs_unpin(bugs: &[Bug]) {
    let g = gmem_bugs(Design::Inplace, 2, true, bugs);
    g.host_write(0, 0, 1).unwrap();
    g.host_write(0, 1, 2).unwrap();
    let id = g.pin(0, 1, PinKind::Pin).unwrap();
    let g2 = g.clone();
    let unpinner = thread::spawn(move || g2.unpin(id).unwrap());
    let r = g.convert(0, 2, Attr::Private);
    assert!(r.is_ok() || is_eagain(&r), "unexpected {r:?}");
    unpinner.join().unwrap();
    invariants_hold(&g);
}

/// kvm_gmem_populate() from a shared, unmapped page of the same file into a
/// private one, beside a host access. Catches `populate_lock_order` (the
/// source fault waits for the invalidate lock its own thread holds: loom
/// and shuttle report the deadlock).
pub fn populate_vs_host(bugs: &[Bug]) {
    let g = gmem_bugs(Design::Inplace, 2, true, bugs);
    assert_eq!(g.convert(0, 1, Attr::Private), Ok(()));
    let g2 = g.clone();
    let host = thread::spawn(move || {
        let _ = g2.host_read(0, 1).unwrap();
    });
    assert_eq!(g.populate(0, 0, 1), Ok(()));
    host.join().unwrap();
    invariants_hold(&g);
}

/// To-private right after a fault put the new folio in the lru_add batch:
/// the one drain makes the check pass. Catches `no_lru_drain` (the batch's
/// reference makes it EAGAIN forever). Not a race: every schedule fails;
/// a vCPU touching the other page only gives the schedulers a second thread.
pub fn convert_after_fault_in_lru_batch(bugs: &[Bug]) {
    let g = gmem_bugs(Design::Inplace, 2, true, bugs);
    g.host_write(0, 0, 1).unwrap();
    let g2 = g.clone();
    let vcpu = thread::spawn(move || {
        let _ = g2.guest_read(1, Some(Attr::Shared)).unwrap();
    });
    let r = g.convert(0, 1, Attr::Private);
    vcpu.join().unwrap();
    assert_eq!(
        r,
        Ok(()),
        "a folio in the lru_add batch kept to-private failing"
    );
    invariants_hold(&g);
}

/// Design split: punching the whole gigantic page while a GUP pin on a
/// subpage is held and a host thread touches the other subpage: the punch
/// fails EAGAIN (the merge needs the subfolios at baseline) or, if it got
/// there first, releases an unreferenced page. Catches
/// `punch_merge_no_check` (the pinned subfolio is folded away and the page
/// released: `gigantic_pool_safe`).
pub fn punch_vs_unpin_split(bugs: &[Bug]) {
    let g = gmem_bugs(Design::Split, 2, true, bugs);
    g.host_write(0, 0, 1).unwrap();
    let id = g.pin(0, 0, PinKind::Pin).unwrap();
    let g2 = g.clone();
    let host = thread::spawn(move || {
        let _ = g2.host_read(0, 1).unwrap();
    });
    let r = g.punch(0, 2);
    assert!(r.is_ok() || is_eagain(&r), "unexpected {r:?}");
    host.join().unwrap();
    // The pin is still held here.
    invariants_hold(&g);
    g.unpin(id).unwrap();
    invariants_hold(&g);
}

/// Design split, to-shared split vs a PFN walker: the file is all private,
/// backed by one whole gigantic folio; the split freezes it while a walker
/// speculatively try-gets it (no lock). Catches `restructure_no_freeze`
/// (the reference lands on a folio the split retires: `gigantic_pool_safe`).
pub fn split_vs_pfn_walker(bugs: &[Bug]) {
    let g = gmem_bugs(Design::Split, 2, false, bugs);
    assert!(matches!(
        g.guest_read(1, Some(Attr::Private)).unwrap(),
        AccessOutcome::Value(_)
    ));
    let g2 = g.clone();
    // The walker keeps walking (as compaction does), so some try-get
    // falls into the split's window.
    let walker = thread::spawn(move || {
        for _ in 0..8 {
            if let Some(r) = g2.pfn_walker_get(1) {
                assert!(
                    g2.pfn_walker_holds_live(&r),
                    "a speculative reference's folio was split away under it"
                );
                g2.pfn_walker_put(r);
            }
        }
    });
    assert_eq!(g.convert(0, 2, Attr::Shared), Ok(()));
    walker.join().unwrap();
    invariants_hold(&g);
}

/// Design exclusive_pin on an anonymous THP (`Config::thp`): the VMM
/// donates page 0 (an exclusive pin on the large folio) while a device
/// pins page 1 of the same folio. One of them is refused; the exclusive pin
/// never coexists with another pin. Catches `exclusive_cas_bias` (the CAS
/// stores no bias: `refcount_conserved`, `exclusive_pin_exclusive`).
pub fn donate_vs_pin_thp(bugs: &[Bug]) {
    let mut c = Config::new(
        Design::ExclusivePin,
        2,
        GmemFlags {
            mmap: true,
            init_shared: true,
        },
    );
    c.thp = true;
    c.bugs = bugs.to_vec();
    let g = Arc::new(GuestMemFd::new(c).expect("create"));
    g.host_write(0, 0, 1).unwrap();
    let g2 = g.clone();
    let pinner = thread::spawn(move || g2.pin(0, 1, PinKind::Pin).ok());
    let r = g.convert(0, 1, Attr::Private);
    assert!(
        r.is_ok() || matches!(&r, Err(e) if e.errno() == Some(Errno::EBUSY)),
        "unexpected {r:?}"
    );
    let id = pinner.join().unwrap();
    invariants_hold(&g);
    if let Some(id) = id {
        g.unpin(id).unwrap();
    }
}

fn gmem_cfg(
    pages: usize,
    init_shared: bool,
    bugs: &[Bug],
    tweak: impl FnOnce(&mut Config),
) -> Arc<GuestMemFd> {
    let mut c = Config::new(
        Design::Inplace,
        pages,
        GmemFlags {
            mmap: true,
            init_shared,
        },
    );
    c.bugs = bugs.to_vec();
    tweak(&mut c);
    Arc::new(GuestMemFd::new(c).expect("create"))
}

/// v13's typed invalidation in every bound VM: both VMs map page 0 shared,
/// then to-private (which must zap the SHARED entries in both) races a
/// vCPU of VM 1 touching page 1. Catches `zap_wrong_filter` (the to-private
/// zaps PRIVATE entries: both shared entries survive) and
/// `invalidate_one_binding` (VM 1's survives): `stage2_coherent`.
pub fn typed_invalidation_two_vms(bugs: &[Bug]) {
    let g = gmem_cfg(2, true, bugs, |c| c.nr_vms = 2);
    for vm in 0..2 {
        let o = g.guest_access_vm(vm, 0, Some(Attr::Shared), None).unwrap();
        assert!(matches!(o, AccessOutcome::Value(_)));
    }
    let g2 = g.clone();
    let vcpu = thread::spawn(move || {
        let _ = g2.guest_access_vm(1, 1, Some(Attr::Shared), None).unwrap();
    });
    assert_eq!(g.convert(0, 1, Attr::Private), Ok(()));
    vcpu.join().unwrap();
    invariants_hold(&g);
}

/// Hardware ownership: the guest's private fault makes page 0
/// hardware-private (lazy make_private in get_pfn); to-shared must hand it
/// back (make_shared) before a host thread may touch it, and a punch frees
/// it hardware-shared (reclaim on free). A vCPU touches page 1 meanwhile.
/// Catches `no_make_shared` (`host_access_only_hw_shared`) and
/// `no_reclaim_on_free` (`freed_folio_hw_shared`).
pub fn hw_ownership_round_trip(bugs: &[Bug]) {
    let g = gmem_cfg(2, false, bugs, |_| {});
    let o = g.guest_write(0, Some(Attr::Private), 9).unwrap();
    assert_eq!(o, AccessOutcome::Value(9));
    let g2 = g.clone();
    let vcpu = thread::spawn(move || {
        let _ = g2.guest_read(1, Some(Attr::Private)).unwrap();
    });
    assert_eq!(g.convert(0, 1, Attr::Shared), Ok(()));
    assert_eq!(g.host_read(0, 0).unwrap(), AccessOutcome::Value(9));
    vcpu.join().unwrap();
    invariants_hold(&g);
    assert_eq!(g.convert(0, 1, Attr::Private), Ok(()));
    let _ = g.guest_read(0, Some(Attr::Private)).unwrap();
    g.punch(0, 1).unwrap();
    // Right after the punch the freed folio is still in the view.
    invariants_hold(&g);
}

/// v13's ref-less get_pfn: a vCPU's private fault on page 0 races a punch
/// of it. Nothing but the retry check keeps the vCPU from installing the
/// folio the punch just freed. Catches `install_no_retry`
/// (`no_stage2_to_freed`).
pub fn guest_fault_vs_punch(bugs: &[Bug]) {
    let g = gmem_cfg(1, false, bugs, |_| {});
    let g2 = g.clone();
    let vcpu = thread::spawn(move || {
        let o = g2.guest_read(0, Some(Attr::Private)).unwrap();
        assert!(matches!(o, AccessOutcome::Value(0)));
    });
    g.punch(0, 1).unwrap();
    vcpu.join().unwrap();
    invariants_hold(&g);
}

/// A failed conversion whose `struct kvm_memory_attributes2` lives on an
/// untouched page of the guest_memfd mapping: the copy-out of error_offset
/// faults that page in, which takes the invalidate lock shared. A host
/// thread touches the other page meanwhile. Catches `copy_out_under_lock`
/// (the copy-out runs with the lock still held for write: the thread
/// waits for itself, reported as a self-deadlock instead of hanging).
pub fn copy_out_into_gmem(bugs: &[Bug]) {
    let g = gmem_cfg(2, true, bugs, |_| {});
    g.inject_prealloc_failure(1);
    let g2 = g.clone();
    let host = thread::spawn(move || {
        let _ = g2.host_write(0, 1, 3).unwrap();
    });
    let mut a = guest_memfd::KvmMemoryAttributes2 {
        offset: guest_memfd::PAGE_SIZE,
        size: guest_memfd::PAGE_SIZE,
        attributes: guest_memfd::KVM_MEMORY_ATTRIBUTE_PRIVATE,
        ..Default::default()
    };
    let r = g.set_memory_attributes2_at(&mut a, Some((0, 0)));
    host.join().unwrap();
    assert!(
        matches!(&r, Err(e) if e.errno() == Some(Errno::ENOMEM)),
        "the copy-out must not change the result: {r:?}"
    );
    invariants_hold(&g);
    assert_eq!(g.host_read(0, 0).unwrap(), AccessOutcome::Value(1));
}

/// Design hugetlb (the 2026 branch), files of two huge pages of 2 subpages
/// each or of one, starting private (`GUEST_MEMFD_FLAG_HUGETLB` excludes
/// INIT_SHARED).
fn gmem_hugetlb(pages: usize, bugs: &[Bug]) -> Arc<GuestMemFd> {
    let mut c = Config::new(
        Design::Hugetlb,
        pages,
        GmemFlags {
            mmap: true,
            init_shared: false,
        },
    );
    c.pages_per_gigantic = 2;
    c.bugs = bugs.to_vec();
    Arc::new(GuestMemFd::new(c).expect("create"))
}

/// Design hugetlb, to-shared of subpage 1 vs a private vCPU fault on it:
/// the vCPU either installs before the conversion (the conversion zaps the
/// entry) or sees the new attribute (a memory-fault exit), or retries on
/// the sequence the invalidation's end bumps. Catches `store_after_inv_end`
/// (the branch's order: a vCPU that snapshots after the window ended and
/// reads the attribute before the store installs a private entry on a
/// shared page: `stage2_coherent`).
pub fn hugetlb_store_vs_guest_fault(bugs: &[Bug]) {
    let g = gmem_hugetlb(2, bugs);
    let g2 = g.clone();
    let vcpu = thread::spawn(move || {
        let o = g2.guest_read(1, Some(Attr::Private)).unwrap();
        assert!(matches!(
            o,
            AccessOutcome::Value(_) | AccessOutcome::MemoryFault
        ));
    });
    assert_eq!(g.convert(1, 1, Attr::Shared), Ok(()));
    vcpu.join().unwrap();
    invariants_hold(&g);
}

/// Design hugetlb, the fresh-folio split race: a host write to shared
/// subpage 0 of a huge page still in the pool allocates its huge folio and
/// splits it under the shared lock, while a private vCPU fault on subpage 1
/// may get the huge folio before the split (`max_order` = huge). What keeps
/// the vCPU's leaf 4K is `kvm_gmem_mapping_order()`. Catches
/// `huge_map_mixed` (the check starts at the faulting index and reads
/// subpages 1 and 2, both private: a huge leaf maps shared subpage 0
/// private, `stage2_coherent`).
pub fn hugetlb_fresh_split_vs_guest(bugs: &[Bug]) {
    let g = gmem_hugetlb(4, bugs);
    assert_eq!(g.convert(0, 1, Attr::Shared), Ok(()));
    let g2 = g.clone();
    let host = thread::spawn(move || {
        // A host fault that finds the huge folio before its split takes the
        // branch's WARN and SIGBUS (docs/findings.md#hugetlb-2026).
        let o = g2.host_write(0, 0, 1).unwrap();
        assert!(matches!(o, AccessOutcome::Value(_) | AccessOutcome::Sigbus));
    });
    let o = g.guest_read(1, Some(Attr::Private)).unwrap();
    assert!(matches!(o, AccessOutcome::Value(_)));
    host.join().unwrap();
    invariants_hold(&g);
}

/// A secondary MMU (ODP) mirrors page 0 while a to-private conversion
/// runs (docs/kernel.md#non-gup). The device holds no folio reference, so
/// the converter's refcount check cannot see it; only the interval
/// notifier, which the conversion's unmap calls before the PTEs go, and the
/// driver's `mmu_interval_read_retry()` under its own lock keep the device
/// off the page once it is private. Every DMA is judged when it happens
/// (`host_access_only_shared`), and a completed to-private leaves no device
/// mapping behind. Catches `odp_no_retry` (the device programs the pfn it
/// read before the unmap).
pub fn odp_vs_convert(design: Design, bugs: &[Bug]) {
    let g = gmem_bugs(design, 1, true, bugs);
    let dev = g.odp_register(0, 0).unwrap();
    g.host_write(0, 0, 5).unwrap();
    let g2 = g.clone();
    let device = thread::spawn(move || {
        if g2.odp_map(dev).is_ok() {
            // A zapped entry faults and is mirrored again, or -EFAULT once
            // the page is private.
            let o = g2.device_access(dev, Some(7));
            assert!(
                matches!(o, Ok(AccessOutcome::Value(7)))
                    || matches!(&o, Err(e) if e.errno() == Some(Errno::EFAULT)),
                "unexpected {o:?}"
            );
        }
    });
    let r = g.convert(0, 1, Attr::Private);
    assert!(r.is_ok() || is_eagain(&r), "unexpected {r:?}");
    device.join().unwrap();
    invariants_hold(&g);
    if r.is_ok() {
        assert!(
            !g.device_mapped(dev).unwrap(),
            "the device still maps page 0, which is private"
        );
    }
}
