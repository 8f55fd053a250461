//! API-level tests: misuse leaves state unchanged, random operation
//! sequences keep every safety invariant, design `wait` blocks, and a racy
//! stress run of GUP-fast / faults / conversions stays consistent.

use guest_memfd::DesignPolicy;
use guest_memfd::{
    AccessOutcome, Attr, Config, Design, Errno, Error, GmemFlags, GuestMemFd, PinKind,
};
use proptest::prelude::*;
use std::sync::Arc;
use std::time::Duration;

const PAGES: usize = 8;

fn cfg(design: Design, init_shared: bool) -> Config {
    let mut c = Config::new(
        design,
        PAGES,
        GmemFlags {
            mmap: true,
            // GUEST_MEMFD_FLAG_HUGETLB | INIT_SHARED is -EINVAL.
            init_shared: init_shared && design != Design::Hugetlb,
        },
    );
    c.pages_per_gigantic = 4;
    c.wait_timeout = Duration::from_millis(3);
    c.nr_vms = 2;
    c
}

#[derive(Clone, Debug)]
enum Op {
    HostRead(u32, usize),
    HostWrite(u32, usize, u8),
    GuestRead(usize, Option<Attr>),
    GuestWrite(usize, Option<Attr>, u8),
    Pin(u32, usize, PinKind),
    Unpin(usize),
    PinAccess(usize, Option<u8>),
    Convert(usize, usize, Attr),
    Punch(usize, usize),
    Allocate(usize, usize),
    Dontneed(u32, usize),
    Fork(u32),
    LruDrain,
    Close,
    /// v13: a vCPU of VM `vm` (2 is no VM), one VM's file released, memory
    /// failure, an injected -ENOMEM, a conversion whose argument lives in
    /// the mapping of the file.
    GuestVm(usize, usize, Option<Attr>),
    ReleaseVm(usize),
    MemoryFailure(usize),
    FailPrealloc,
    ConvertArg(usize, usize, Attr, usize),
}

fn attr() -> impl Strategy<Value = Attr> {
    prop_oneof![Just(Attr::Shared), Just(Attr::Private)]
}

fn kind() -> impl Strategy<Value = PinKind> {
    prop_oneof![
        Just(PinKind::Get),
        Just(PinKind::Pin),
        Just(PinKind::Longterm),
        Just(PinKind::Exclusive)
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let page = 0..PAGES;
    prop_oneof![
        3 => (0u32..2, page.clone()).prop_map(|(m, p)| Op::HostRead(m, p)),
        3 => (0u32..2, page.clone(), any::<u8>()).prop_map(|(m, p, v)| Op::HostWrite(m, p, v)),
        2 => (page.clone(), proptest::option::of(attr())).prop_map(|(p, a)| Op::GuestRead(p, a)),
        2 => (page.clone(), proptest::option::of(attr()), any::<u8>()).prop_map(|(p, a, v)| Op::GuestWrite(p, a, v)),
        3 => (0u32..2, page.clone(), kind()).prop_map(|(m, p, k)| Op::Pin(m, p, k)),
        3 => (0usize..8).prop_map(Op::Unpin),
        1 => (0usize..8, proptest::option::of(any::<u8>())).prop_map(|(i, v)| Op::PinAccess(i, v)),
        4 => (page.clone(), 1usize..5, attr()).prop_map(|(s, n, a)| Op::Convert(s, n, a)),
        1 => (page.clone(), 1usize..5).prop_map(|(s, n)| Op::Punch(s, n)),
        1 => (page.clone(), 1usize..3).prop_map(|(s, n)| Op::Allocate(s, n)),
        1 => (0u32..2, page.clone()).prop_map(|(m, p)| Op::Dontneed(m, p)),
        1 => (0u32..1).prop_map(Op::Fork),
        1 => Just(Op::LruDrain),
        1 => Just(Op::Close),
        2 => (0usize..3, page.clone(), proptest::option::of(attr())).prop_map(|(v, p, a)| Op::GuestVm(v, p, a)),
        1 => (0usize..3).prop_map(Op::ReleaseVm),
        1 => (0..PAGES + 1).prop_map(Op::MemoryFailure),
        1 => Just(Op::FailPrealloc),
        2 => (page.clone(), 1usize..5, attr(), 0..PAGES + 1).prop_map(|(s, n, a, p)| Op::ConvertArg(s, n, a, p)),
    ]
}

/// Apply one op; kernel errors are fine, misuse is fine (bad handles are
/// generated on purpose), panics are not.
fn apply(g: &GuestMemFd, pins: &mut Vec<u64>, procs: &mut u32, op: &Op) {
    let mm = |m: u32| m.min(*procs);
    match op {
        Op::HostRead(m, p) => drop(g.host_read(mm(*m), *p)),
        Op::HostWrite(m, p, v) => drop(g.host_write(mm(*m), *p, *v)),
        Op::GuestRead(p, a) => drop(g.guest_read(*p, *a)),
        Op::GuestWrite(p, a, v) => drop(g.guest_write(*p, *a, *v)),
        Op::Pin(m, p, k) => {
            if let Ok(id) = g.pin(mm(*m), *p, *k) {
                pins.push(id);
            }
        }
        Op::Unpin(i) => {
            if !pins.is_empty() {
                let id = pins.remove(i % pins.len());
                assert_eq!(g.unpin(id), Ok(()));
            }
        }
        Op::PinAccess(i, v) => {
            if !pins.is_empty() {
                let id = pins[i % pins.len()];
                assert!(matches!(g.pin_access(id, *v), Ok(AccessOutcome::Value(_))));
            }
        }
        Op::Convert(s, n, a) => drop(g.convert(*s, *n, *a)),
        Op::Punch(s, n) => drop(g.punch(*s, *n)),
        Op::Allocate(s, n) => drop(g.allocate(*s, (*n).min(PAGES - *s).max(1))),
        Op::Dontneed(m, p) => drop(g.madvise_dontneed(mm(*m), *p)),
        Op::Fork(p) => {
            if let Ok(c) = g.fork(*p) {
                *procs = (*procs).max(c);
            }
        }
        Op::LruDrain => g.lru_add_drain_all(),
        Op::Close => drop(g.close()),
        Op::GuestVm(v, p, a) => drop(g.guest_access_vm(*v, *p, *a, Some(1))),
        Op::ReleaseVm(v) => drop(g.release_vm(*v)),
        Op::MemoryFailure(p) => drop(g.memory_failure(*p)),
        Op::FailPrealloc => g.inject_prealloc_failure(1),
        Op::ConvertArg(s, n, a, p) => {
            let mut x = guest_memfd::KvmMemoryAttributes2 {
                offset: *s as u64 * 4096,
                size: *n as u64 * 4096,
                attributes: if *a == Attr::Private {
                    guest_memfd::KVM_MEMORY_ATTRIBUTE_PRIVATE
                } else {
                    0
                },
                ..Default::default()
            };
            drop(g.set_memory_attributes2_at(&mut x, Some((0, *p))))
        }
    }
}

fn design() -> impl Strategy<Value = Design> {
    proptest::sample::select(Design::ALL.to_vec())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Random op sequences on every design, with the debug invariant check
    /// after every public operation.
    #[test]
    fn random_ops_keep_invariants(d in design(), shared in any::<bool>(), ops in proptest::collection::vec(op(), 1..40)) {
        let g = GuestMemFd::new(cfg(d, shared)).expect("create");
        g.set_debug_checks(true);
        let mut pins = Vec::new();
        let mut procs = 0;
        for (i, o) in ops.iter().enumerate() {
            apply(&g, &mut pins, &mut procs, o);
            if let Some(f) = g.take_debug_failure() {
                prop_assert!(false, "design {} after op {} {:?}: {}", d, i, o, f);
            }
        }
        for id in pins {
            prop_assert_eq!(g.unpin(id), Ok(()));
        }
        prop_assert!(g.check_invariants().is_ok(), "{:?}", g.check_invariants());
        if g.is_closed() && d.huge_backed() {
            // truncate_frees: once the file is closed and every pin dropped,
            // every gigantic page is back in the pool.
            prop_assert_eq!(g.free_gigantic(), g.config().nr_gigantic());
        }
    }

    /// API misuse returns a typed error and changes nothing.
    #[test]
    fn misuse_changes_nothing(d in design(), shared in any::<bool>(), ops in proptest::collection::vec(op(), 0..20), which in 0usize..14, big in (PAGES as u64)..u64::MAX / 8192) {
        let g = GuestMemFd::new(cfg(d, shared)).expect("create");
        let mut pins = Vec::new();
        let mut procs = 0;
        for o in &ops {
            apply(&g, &mut pins, &mut procs, o);
        }
        let before = g.debug_snapshot();
        let big_page = big as usize;
        let r: Result<(), Error> = match which {
            0 => g.unpin(u64::MAX).map(|_| ()),
            1 => {
                // Unpin twice.
                match pins.pop() {
                    Some(id) => {
                        g.unpin(id).expect("first unpin");
                        let mid = g.debug_snapshot();
                        let r = g.unpin(id);
                        prop_assert_eq!(mid, g.debug_snapshot());
                        prop_assert!(matches!(r, Err(Error::Misuse(_))));
                        return Ok(());
                    }
                    None => g.unpin(12345),
                }
            }
            2 => g.host_read(0, big_page).map(|_| ()),
            3 => g.guest_write(big_page, None, 1).map(|_| ()),
            4 => g.pin(0, big_page, PinKind::Pin).map(|_| ()),
            5 => g.convert(0, 0, Attr::Private),
            6 => g.convert(big_page, 1, Attr::Private),
            7 => g.convert(PAGES - 1, 2, Attr::Shared),
            8 => g.host_write(63, 0, 1).map(|_| ()),
            9 => g.guest_access_vm(7, 0, None, None).map(|_| ()),
            10 => g.release_vm(9),
            11 => g.memory_failure(big_page),
            12 => {
                let mut a = guest_memfd::KvmMemoryAttributes2 { offset: 0, size: 4096, attributes: guest_memfd::KVM_MEMORY_ATTRIBUTE_PRIVATE, ..Default::default() };
                g.set_memory_attributes2_at(&mut a, Some((40, 0)))
            }
            _ => {
                let mut a = guest_memfd::KvmMemoryAttributes2 { offset: 1, size: 4096, attributes: guest_memfd::KVM_MEMORY_ATTRIBUTE_PRIVATE, ..Default::default() };
                g.set_memory_attributes2(&mut a)
            }
        };
        let typed = match &r {
            Err(Error::Misuse(_)) => true,
            Err(Error::Sys { errno: Errno::EINVAL, .. }) => (5..=8).contains(&which) || which == 13,
            Err(Error::Sys { errno: Errno::EBADF, .. }) => g.is_closed(),
            _ => false,
        };
        prop_assert!(typed, "case {}: {:?}", which, r);
        prop_assert_eq!(before, g.debug_snapshot());
    }
}

/// kvm_gmem_populate() GUPs its source through the process's mapping of
/// the file: where GUP refuses that mapping (VM_PFNMAP, AS_NO_DIRECT_MAP)
/// it fails -EFAULT and the destination is not written; in design inplace
/// the copy lands.
#[test]
fn populate_fails_where_gup_refuses_the_mapping() {
    for design in [Design::Inplace, Design::Pfnmap, Design::NoDirectMap] {
        let g = GuestMemFd::new(cfg(design, true)).expect("create");
        g.host_write(0, 1, b'S').expect("write the source");
        assert_eq!(g.convert(0, 1, Attr::Private), Ok(()), "{design:?}");
        let r = g.populate(0, 0, 1);
        if design.gup_refused() {
            assert_eq!(r, Err(Error::sys(Errno::EFAULT)), "{design:?}");
            assert_ne!(
                g.guest_read(0, None),
                Ok(AccessOutcome::Value(b'S')),
                "{design:?}"
            );
        } else {
            assert_eq!(r, Ok(()), "{design:?}");
            assert_eq!(
                g.guest_read(0, None),
                Ok(AccessOutcome::Value(b'S')),
                "{design:?}"
            );
        }
        g.assert_invariants();
    }
}

#[test]
fn wait_design_blocks_until_short_term_pin_drops() {
    let mut c = cfg(Design::Wait, true);
    c.wait_timeout = Duration::from_secs(10);
    let g = Arc::new(GuestMemFd::new(c).expect("create"));
    g.host_write(0, 3, b'A').expect("write");
    assert_eq!(
        g.pin(0, 3, PinKind::Longterm),
        Err(Error::sys(Errno::EFAULT))
    );
    let pin = g.pin(0, 3, PinKind::Pin).expect("short-term pin");
    let g2 = g.clone();
    let t = std::thread::spawn(move || g2.convert(0, PAGES, Attr::Private));
    let t0 = std::time::Instant::now();
    while g.waiting_converters() == 0 && t0.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(g.waiting_converters(), 1, "the conversion waits");
    std::thread::sleep(Duration::from_millis(20));
    assert!(!t.is_finished(), "still blocked while the pin is held");
    assert_eq!(g.attr(3), Some(Attr::Shared), "nothing flipped yet");
    assert_eq!(g.pin_access(pin, None), Ok(AccessOutcome::Value(b'A')));
    g.unpin(pin).expect("unpin");
    assert_eq!(t.join().expect("join"), Ok(()));
    assert_eq!(g.attr(3), Some(Attr::Private));
    assert_eq!(g.host_read(0, 3), Ok(AccessOutcome::Sigbus));
    assert_eq!(g.guest_read(3, None), Ok(AccessOutcome::Value(b'A')));
    g.assert_invariants();
}

/// A few threads racing GUP-fast pins, host faults, guest faults,
/// conversions and punches; the invariants must hold after the joins and
/// no host access may have touched a private page at any time.
#[test]
fn racy_stress_keeps_invariants() {
    for d in Design::ALL {
        let mut c = cfg(d, true);
        c.wait_timeout = Duration::from_millis(2);
        let g = Arc::new(GuestMemFd::new(c).expect("create"));
        let child = g.fork(0).expect("fork");
        let mut hs = Vec::new();
        for t in 0..4u32 {
            let g = g.clone();
            hs.push(std::thread::spawn(move || {
                let mut x = t as usize * 7 + 1;
                let mut next = || {
                    x = x
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    x >> 33
                };
                for _ in 0..150 {
                    let p = next() % PAGES;
                    match (t, next() % 4) {
                        (0, 0 | 1) => drop(g.convert(p, 1 + next() % 3, Attr::Private)),
                        (0, _) => drop(g.convert(p, 1 + next() % 3, Attr::Shared)),
                        (1, 0) => {
                            if let Ok(id) = g.pin(0, p, PinKind::Pin) {
                                let _ = g.pin_access(id, Some(7));
                                g.unpin(id).expect("unpin");
                            }
                        }
                        (1, 1) => {
                            if let Ok(id) = g.pin(child, p, PinKind::Get) {
                                g.unpin(id).expect("unpin");
                            }
                        }
                        (1, _) => drop(g.host_write(child, p, 9)),
                        (2, 0) => drop(g.guest_read(p, None)),
                        (2, 1) => drop(g.guest_write(p, None, 5)),
                        (2, _) => drop(g.host_read(0, p)),
                        (_, 0) => drop(g.punch(p, 1)),
                        (_, 1) => drop(g.madvise_dontneed(0, p)),
                        (_, _) => drop(g.host_write(0, p, 3)),
                    }
                }
            }));
        }
        for h in hs {
            h.join().expect("thread");
        }
        g.clear_last_accesses();
        if let Err(e) = g.check_invariants() {
            panic!("design {d}: {e}");
        }
        g.close().expect("close");
        g.assert_invariants();
        assert_eq!(g.free_gigantic(), g.config().nr_gigantic(), "design {d}");
    }
}

#[test]
fn huge_file_untouched_costs_no_per_page_state() {
    for d in Design::ALL {
        let mut c = Config::new(
            d,
            guest_memfd::bench::PAGES_1T,
            GmemFlags {
                mmap: true,
                init_shared: d != Design::Hugetlb,
            },
        );
        c.pages_per_gigantic = guest_memfd::PAGES_PER_1G;
        let g = GuestMemFd::new(c).expect("create");
        if d != Design::ExclusivePin {
            g.convert(1000, guest_memfd::PAGES_PER_1G, Attr::Private)
                .expect("to private");
        }
        g.convert(5, 1, Attr::Private).expect("one page");
        assert!(g.attr_ranges() <= 5);
        // The RFC donates by pinning, which faults the page in.
        assert_eq!(g.nr_folios(), usize::from(d == Design::ExclusivePin));
        assert!(
            g.metadata_bytes() < 64 * 1024,
            "design {d}: {}",
            g.metadata_bytes()
        );
        if d == Design::Hugetlb {
            // A hugetlb file starts private: share the last page first.
            g.convert(guest_memfd::bench::PAGES_1T - 1, 1, Attr::Shared)
                .expect("to shared");
        }
        g.host_write(0, guest_memfd::bench::PAGES_1T - 1, 1)
            .expect("touch the last page");
        assert_eq!(
            g.host_read(0, guest_memfd::bench::PAGES_1T - 1),
            Ok(AccessOutcome::Value(1))
        );
    }
}
