//! Each property against a hand-built view: a state that must violate it and
//! one that must satisfy it, so no predicate can pass vacuously.

use invariants::*;

/// (start, pages, to, status, before, after)
type Conv = (usize, usize, Attr, ConvStatus, Vec<Attr>, Vec<Attr>);
/// (thread, holds, waits for)
type Locks = (u32, Vec<(LockId, LockMode)>, Option<(LockId, LockMode)>);

#[derive(Clone, Default)]
struct V {
    pages: Vec<PageView>,
    folios: Vec<FolioView>,
    gigantic: Vec<GiganticView>,
    accesses: Vec<Access>,
    convs: Vec<Conv>,
    locks: Vec<Locks>,
}

impl GmemView for V {
    fn nr_pages(&self) -> usize {
        self.pages.len()
    }
    fn page(&self, i: usize) -> PageView {
        self.pages[i]
    }
    fn for_each_folio(&self, f: &mut dyn FnMut(&FolioView)) {
        self.folios.iter().for_each(f)
    }
    fn for_each_gigantic(&self, f: &mut dyn FnMut(&GiganticView)) {
        self.gigantic.iter().for_each(f)
    }
    fn for_each_access(&self, f: &mut dyn FnMut(&Access)) {
        self.accesses.iter().for_each(f)
    }
    fn for_each_conversion(&self, f: &mut dyn FnMut(&ConversionView<'_>)) {
        for (start, n, to, status, before, after) in &self.convs {
            f(&ConversionView {
                start: *start,
                nr_pages: *n,
                to: *to,
                status: *status,
                before,
                after,
                retries_until_ok: true,
                succeeded: *status == ConvStatus::Returned(ConvResult::Ok),
            })
        }
    }
    fn for_each_thread_locks(&self, f: &mut dyn FnMut(&ThreadLocks<'_>)) {
        for (t, holds, waits) in &self.locks {
            f(&ThreadLocks {
                thread: *t,
                holds,
                waits_for: *waits,
            })
        }
    }
}

fn page(i: usize, attr: Attr) -> PageView {
    PageView {
        index: i,
        attr,
        folio: Some(i as FolioId),
        host_ptes: 0,
        gets: 0,
        pins: 0,
        longterm_pins: 0,
        exclusive_pins: 0,
        stage2: [Stage2::None; MAX_VMS],
        invalidating: [false; MAX_VMS],
    }
}

fn folio(id: FolioId, parts: RefParts) -> FolioView {
    FolioView {
        id,
        index: id as usize,
        home: FolioHome::PageCache(id as usize),
        large: false,
        parts,
        refcount: encoded_refcount(&parts, false),
        pincount: 0,
        frozen: false,
        freed: false,
        hw_private: 0,
        poisoned: false,
    }
}

fn one_private_page() -> V {
    let pc = RefParts {
        pagecache: 1,
        ..Default::default()
    };
    V {
        pages: vec![page(0, Attr::Private)],
        folios: vec![folio(0, pc)],
        ..Default::default()
    }
}

fn check(id: PropertyId, good: &V, bad: &V) {
    assert!(id.eval(good), "{} must hold on the good view", id.name());
    assert!(!id.eval(bad), "{} must fail on the bad view", id.name());
}

#[test]
fn private_page_must_not_be_mapped_or_pinned() {
    let good = one_private_page();
    let mut mapped = good.clone();
    mapped.pages[0].host_ptes = 0b10;
    check(PropertyId::NoPrivateHostMapping, &good, &mapped);
    let mut pinned = good.clone();
    pinned.pages[0].gets = 1;
    check(PropertyId::NoPrivatePin, &good, &pinned);
    // A shared page may be both.
    let mut shared = mapped.clone();
    shared.pages[0].attr = Attr::Shared;
    shared.pages[0].longterm_pins = 1;
    assert!(no_private_host_mapping(&shared) && no_private_pin(&shared));
}

#[test]
fn host_access_needs_a_shared_or_orphaned_page() {
    let mut good = one_private_page();
    good.pages[0].attr = Attr::Shared;
    good.accesses = vec![Access {
        who: Accessor::GupHolder { holder: 0 },
        folio: 0,
        index: 0,
        write: true,
        guest_type: None,
    }];
    let mut bad = good.clone();
    bad.pages[0].attr = Attr::Private;
    check(PropertyId::HostAccessOnlyShared, &good, &bad);
    // Through an orphaned folio (after a punch) the access is not the guest's page.
    let mut orphan = bad.clone();
    orphan.folios[0].home = FolioHome::Orphaned;
    assert!(host_access_only_shared(&orphan));
    // The guest's own accesses are not host accesses.
    let mut guest = bad.clone();
    guest.accesses[0].who = Accessor::Guest;
    assert!(host_access_only_shared(&guest));
}

#[test]
fn stage2_must_match_attribute_outside_invalidation() {
    let mut good = one_private_page();
    good.pages[0].stage2[0] = Stage2::Private(0);
    let mut bad = good.clone();
    bad.pages[0].stage2[0] = Stage2::Shared(0);
    check(PropertyId::Stage2Coherent, &good, &bad);
    let mut stale_folio = good.clone();
    stale_folio.pages[0].stage2[0] = Stage2::Private(7);
    assert!(!stage2_coherent(&stale_folio));
    let mut window = bad.clone();
    window.pages[0].invalidating[0] = true;
    assert!(stage2_coherent(&window));
    // Per VM: the second VM's stale entry is not excused by the first VM's
    // invalidation window.
    let mut second_vm = good.clone();
    second_vm.pages[0].stage2[1] = Stage2::Shared(0);
    second_vm.pages[0].invalidating[0] = true;
    assert!(!stage2_coherent(&second_vm));
    second_vm.pages[0].invalidating[1] = true;
    assert!(stage2_coherent(&second_vm));
}

#[test]
fn host_never_touches_a_hardware_private_page() {
    let mut good = one_private_page();
    good.pages[0].attr = Attr::Shared;
    good.accesses = vec![Access {
        who: Accessor::HostCpu { process: 0 },
        folio: 0,
        index: 0,
        write: true,
        guest_type: None,
    }];
    let mut bad = good.clone();
    bad.folios[0].hw_private = 1;
    check(PropertyId::HostAccessOnlyHwShared, &good, &bad);
    // The guest touching its hardware-private page is the point.
    let mut guest = bad.clone();
    guest.accesses[0].who = Accessor::Guest;
    assert!(host_access_only_hw_shared(&guest));
    // Another page of a large folio being private does not matter.
    let mut large = good.clone();
    large.folios[0].large = true;
    large.folios[0].hw_private = 0b10;
    assert!(host_access_only_hw_shared(&large));
    large.accesses[0].index = 1;
    assert!(!host_access_only_hw_shared(&large));
    // A large folio of the second gigantic page (file indices 2 and 3),
    // orphaned by truncation while pinned: its bits stay relative to its
    // own first index, not to index 0.
    let mut orphan = good.clone();
    orphan.folios[0].large = true;
    orphan.folios[0].index = 2;
    orphan.folios[0].home = FolioHome::Orphaned;
    orphan.folios[0].hw_private = 0b10;
    orphan.accesses[0].index = 2;
    assert!(host_access_only_hw_shared(&orphan));
    orphan.accesses[0].index = 3;
    assert!(!host_access_only_hw_shared(&orphan));
}

#[test]
fn freed_memory_is_hardware_shared() {
    let mut good = one_private_page();
    good.folios[0].freed = true;
    good.folios[0].parts = RefParts::default();
    good.folios[0].refcount = 0;
    let mut bad = good.clone();
    bad.folios[0].hw_private = 1;
    check(PropertyId::FreedFolioHwShared, &good, &bad);
    // A live hardware-private folio is fine.
    let mut live = bad.clone();
    live.folios[0].freed = false;
    assert!(freed_folio_hw_shared(&live));
    // A gigantic page pooled while hardware-private is not.
    let mut pooled = good.clone();
    pooled.gigantic = vec![GiganticView {
        id: 0,
        first_index: 0,
        nr_pages: 2,
        structure: Structure::Whole,
        in_pool: true,
        released: false,
        refs_on_dead_subfolios: 0,
        refs_while_pooled: 0,
        hw_private_while_pooled: true,
    }];
    assert!(!freed_folio_hw_shared(&pooled));
}

#[test]
fn no_stage2_entry_outlives_its_folio() {
    let mut good = one_private_page();
    good.pages[0].stage2[1] = Stage2::Private(0);
    let mut bad = good.clone();
    bad.folios[0].freed = true;
    check(PropertyId::NoStage2ToFreed, &good, &bad);
    let mut orphan = good.clone();
    orphan.folios[0].home = FolioHome::Orphaned;
    assert!(!no_stage2_to_freed(&orphan));
    let mut unknown = good.clone();
    unknown.pages[0].stage2[1] = Stage2::Shared(9);
    assert!(!no_stage2_to_freed(&unknown));
}

#[test]
fn failed_conversion_changes_nothing_and_success_changes_all() {
    use Attr::*;
    let mut good = one_private_page();
    good.convs = vec![(
        0,
        2,
        Private,
        ConvStatus::Returned(ConvResult::Eagain { error_index: 1 }),
        vec![Shared, Shared],
        vec![Shared, Shared],
    )];
    let mut bad = good.clone();
    bad.convs[0].5 = vec![Private, Shared];
    check(PropertyId::ConversionAtomic, &good, &bad);
    let mut ok_partial = good.clone();
    ok_partial.convs[0].3 = ConvStatus::Returned(ConvResult::Ok);
    ok_partial.convs[0].5 = vec![Private, Shared];
    assert!(!conversion_atomic(&ok_partial));
}

#[test]
fn refcount_must_match_its_parts_in_the_kernel_encoding() {
    let good = one_private_page();
    let mut bad = good.clone();
    bad.folios[0].refcount = 2;
    check(PropertyId::RefcountConserved, &good, &bad);
    // A pin is worth GUP_PIN_COUNTING_BIAS on a small folio.
    let parts = RefParts {
        pagecache: 1,
        pins: 1,
        ..Default::default()
    };
    assert_eq!(encoded_refcount(&parts, false), 1 + 1024);
    assert_eq!(encoded_refcount(&parts, true), 2);
    let mut negative = good.clone();
    negative.folios[0].parts.transient = -1;
    negative.folios[0].refcount = 0;
    assert!(!refcount_conserved(&negative));
    let mut freed_with_refs = good.clone();
    freed_with_refs.folios[0].freed = true;
    assert!(!refcount_conserved(&freed_with_refs));
}

#[test]
fn gigantic_page_pooled_or_merged_only_unreferenced() {
    let g = GiganticView {
        id: 0,
        first_index: 0,
        nr_pages: 2,
        structure: Structure::Whole,
        in_pool: true,
        released: true,
        refs_on_dead_subfolios: 0,
        refs_while_pooled: 0,
        hw_private_while_pooled: false,
    };
    let good = V {
        gigantic: vec![g],
        ..Default::default()
    };
    let mut bad = good.clone();
    bad.gigantic[0].refs_while_pooled = 1;
    check(PropertyId::GiganticPoolSafe, &good, &bad);
    let mut dead = good.clone();
    dead.gigantic[0].refs_on_dead_subfolios = 1;
    assert!(!gigantic_pool_safe(&dead));
}

#[test]
fn deadlock_is_a_cycle_in_the_waits_for_graph() {
    use LockId::*;
    use LockMode::*;
    // Thread 0 holds the invalidate lock for write and waits to read it: a
    // self-deadlock (rw-semaphores are not recursive).
    let bad = V {
        locks: vec![(
            0,
            vec![(InvalidateLock, Exclusive)],
            Some((InvalidateLock, Shared)),
        )],
        ..Default::default()
    };
    // Plain contention is not a deadlock.
    let good = V {
        locks: vec![
            (0, vec![(InvalidateLock, Exclusive)], None),
            (1, vec![], Some((InvalidateLock, Shared))),
        ],
        ..Default::default()
    };
    check(PropertyId::NoDeadlock, &good, &bad);
    // ABBA between two threads.
    let abba = V {
        locks: vec![
            (
                0,
                vec![(InvalidateLock, Exclusive)],
                Some((MmapLock(0), Exclusive)),
            ),
            (
                1,
                vec![(MmapLock(0), Shared)],
                Some((InvalidateLock, Shared)),
            ),
        ],
        ..Default::default()
    };
    assert!(!no_deadlock(&abba));
    // Two readers do not conflict.
    let readers = V {
        locks: vec![
            (
                0,
                vec![(MmapLock(0), Shared)],
                Some((InvalidateLock, Shared)),
            ),
            (
                1,
                vec![(InvalidateLock, Shared)],
                Some((MmapLock(0), Shared)),
            ),
        ],
        ..Default::default()
    };
    assert!(no_deadlock(&readers));
}

#[test]
fn exclusive_pin_excludes_other_pins() {
    let parts = RefParts {
        pagecache: 1,
        pins: 1,
        exclusive: 1,
        ..Default::default()
    };
    let good = V {
        folios: vec![folio(0, parts)],
        ..Default::default()
    };
    let mut bad = good.clone();
    bad.folios[0].parts.pins = 2;
    check(PropertyId::ExclusivePinExclusive, &good, &bad);
}

#[test]
fn liveness_pending_predicates() {
    use Attr::*;
    let mut v = one_private_page();
    v.pages.push(page(1, Shared));
    v.convs = vec![(
        1,
        1,
        Private,
        ConvStatus::InProgress,
        vec![Shared],
        vec![Shared],
    )];
    assert!(conversion_in_progress(&v));
    assert!(retried_conversion_pending(&v));
    assert!(!conversion_blocked_by_other_subpage_pin(&v));
    v.pages[0].longterm_pins = 1;
    assert!(conversion_blocked_by_other_subpage_pin(&v));
    v.convs[0].3 = ConvStatus::Returned(ConvResult::Ok);
    assert!(!retried_conversion_pending(&v));
}

#[test]
fn every_safety_property_names_existing_sanity_partners() {
    for s in ALL.iter().filter(|s| s.kind == Kind::Safety) {
        assert!(!s.partners.is_empty(), "{} has no sanity partner", s.name);
        for p in s.partners {
            assert_eq!(p.kind(), Kind::Sanity);
        }
    }
    for s in ALL {
        assert_eq!(PropertyId::by_name(s.name), Some(s.id));
    }
}
