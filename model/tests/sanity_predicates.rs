//! Every sanity predicate (`PropertyId` of kind Sanity) pinned by examples, so that a
//! weakened predicate fails a test rather than passing the gate vacuously:
//!
//! - it is false in the initial state of every design's configuration that exercises it;
//! - it is true on a view built for it (one fact changed from a quiet view);
//! - it is false on near misses built for it: the same view with the one fact that makes
//!   the predicate true replaced by its nearest neighbour (a to-shared success, a short-term
//!   pin, a guest access, ...), which is what a mutated `&&`, `!` or comparison lets in;
//! - both hold with the fact on the first or on the second of two pages (folios, gigantic
//!   pages, conversions, threads), which is what a mutated `any` or `|=` gets wrong.
//!
//! The views are hand-built [`GmemView`]s, independent of the model's state layout.

use invariants::*;
use model::{properties, Design, GmemModel};

/// A hand-built view. `quiet()` is an idle system: one shared page with its folio, a
/// gigantic page in one piece, one to-private conversion not issued yet, one thread
/// holding no lock, no access. No sanity predicate holds there.
#[derive(Clone)]
struct Mock {
    pages: Vec<PageView>,
    folios: Vec<FolioView>,
    gigantic: Vec<GiganticView>,
    accesses: Vec<Access>,
    convs: Vec<(Attr, ConvStatus)>,
    before: Vec<Attr>,
    after: Vec<Attr>,
    waits: Vec<Option<(LockId, LockMode)>>,
    holds: Vec<(LockId, LockMode)>,
}

fn quiet() -> Mock {
    Mock {
        pages: vec![PageView {
            index: 0,
            attr: Attr::Shared,
            folio: Some(7),
            host_ptes: 0,
            gets: 0,
            pins: 0,
            longterm_pins: 0,
            exclusive_pins: 0,
            stage2: [Stage2::None; MAX_VMS],
            invalidating: [false; MAX_VMS],
        }],
        folios: vec![FolioView {
            id: 7,
            index: 0,
            home: FolioHome::PageCache(0),
            large: false,
            parts: RefParts {
                pagecache: 1,
                ..Default::default()
            },
            refcount: 1,
            pincount: 0,
            frozen: false,
            freed: false,
            hw_private: 0,
            poisoned: false,
        }],
        gigantic: vec![GiganticView {
            id: 0,
            first_index: 0,
            nr_pages: 1,
            structure: Structure::Whole,
            in_pool: false,
            released: false,
            refs_on_dead_subfolios: 0,
            refs_while_pooled: 0,
            hw_private_while_pooled: false,
        }],
        accesses: vec![],
        convs: vec![(Attr::Private, ConvStatus::Idle)],
        before: vec![Attr::Shared],
        after: vec![Attr::Shared],
        waits: vec![None],
        holds: vec![],
    }
}

impl GmemView for Mock {
    fn nr_pages(&self) -> usize {
        self.pages.len()
    }
    fn page(&self, index: usize) -> PageView {
        self.pages[index]
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
        for &(to, status) in &self.convs {
            f(&ConversionView {
                start: 0,
                nr_pages: 1,
                to,
                status,
                before: &self.before,
                after: &self.after,
                retries_until_ok: false,
                succeeded: false,
            })
        }
    }
    fn for_each_thread_locks(&self, f: &mut dyn FnMut(&ThreadLocks<'_>)) {
        for (k, &w) in self.waits.iter().enumerate() {
            f(&ThreadLocks {
                thread: k as u32,
                holds: &self.holds,
                waits_for: w,
            })
        }
    }
}

type Edit = fn(&mut Mock);

fn with(edit: Edit) -> Mock {
    let mut m = quiet();
    edit(&mut m);
    m
}

/// `a` and `b` side by side: two pages, two folios, two gigantic pages, two conversions,
/// two sets of threads, both views' accesses. A predicate that says "some X" must see an
/// example in either position: this catches an `any` turned into `all`, or a `found |=`
/// turned into `found =` (the last item wins).
fn two(a: Mock, b: Mock) -> Mock {
    let mut m = a;
    m.pages
        .extend(b.pages.into_iter().map(|p| PageView { index: 1, ..p }));
    m.folios.extend(b.folios);
    m.gigantic.extend(b.gigantic);
    m.accesses.extend(b.accesses);
    m.convs.extend(b.convs);
    m.waits.extend(b.waits);
    m.holds.extend(b.holds);
    m
}

/// The view alone, first of two, and second of two.
fn placements(edit: Edit) -> [Mock; 3] {
    [
        with(edit),
        two(with(edit), quiet()),
        two(quiet(), with(edit)),
    ]
}

fn returned(r: ConvResult) -> ConvStatus {
    ConvStatus::Returned(r)
}

/// For each sanity predicate: the edits that make it true, and the near misses.
fn cases(id: PropertyId) -> (Vec<Edit>, Vec<Edit>) {
    use PropertyId::*;
    match id {
        ConversionSucceeds => (
            vec![|m| m.convs[0] = (Attr::Private, returned(ConvResult::Ok))],
            vec![
                |m| m.convs[0] = (Attr::Shared, returned(ConvResult::Ok)),
                |m| {
                    m.convs[0] = (
                        Attr::Private,
                        returned(ConvResult::Eagain { error_index: 0 }),
                    )
                },
                |m| m.convs[0] = (Attr::Private, returned(ConvResult::Einval)),
                |m| m.convs[0] = (Attr::Private, ConvStatus::InProgress),
            ],
        ),
        ConversionFailsEagain => (
            vec![
                |m| {
                    m.convs[0] = (
                        Attr::Private,
                        returned(ConvResult::Eagain { error_index: 0 }),
                    )
                },
                |m| {
                    m.convs[0] = (
                        Attr::Shared,
                        returned(ConvResult::Eagain { error_index: 1 }),
                    )
                },
            ],
            vec![
                |m| m.convs[0] = (Attr::Private, returned(ConvResult::Ok)),
                |m| m.convs[0] = (Attr::Private, returned(ConvResult::Einval)),
                |m| m.convs[0] = (Attr::Private, returned(ConvResult::Timeout)),
                |m| m.convs[0] = (Attr::Private, ConvStatus::InProgress),
            ],
        ),
        PageLongtermPinned => (
            vec![|m| m.pages[0].longterm_pins = 1],
            vec![|m| m.pages[0].pins = 1, |m| m.pages[0].gets = 1, |m| {
                m.pages[0].exclusive_pins = 1
            }],
        ),
        GuestMapsPrivate => (
            vec![|m| m.pages[0].stage2[0] = Stage2::Private(7)],
            vec![|m| m.pages[0].stage2[0] = Stage2::Shared(7), |m| {
                m.pages[0].attr = Attr::Private
            }],
        ),
        GiganticSplit => (
            vec![|m| m.gigantic[0].structure = Structure::Splitting],
            vec![|m| m.gigantic[0].structure = Structure::Split, |m| {
                m.gigantic[0].structure = Structure::Merging
            }],
        ),
        GiganticMerged => (
            vec![|m| m.gigantic[0].structure = Structure::Merging],
            vec![|m| m.gigantic[0].structure = Structure::Split, |m| {
                m.gigantic[0].structure = Structure::Splitting
            }],
        ),
        HostMapsPage => (
            vec![|m| m.pages[0].host_ptes = 1, |m| m.pages[0].host_ptes = 2],
            vec![|m| m.pages[0].stage2[0] = Stage2::Shared(7), |m| {
                m.pages[0].gets = 1
            }],
        ),
        HostPinsPage => (
            vec![|m| m.pages[0].gets = 1, |m| m.pages[0].pins = 1, |m| {
                m.pages[0].longterm_pins = 1
            }],
            vec![
                |m| m.pages[0].exclusive_pins = 1,
                |m| m.pages[0].host_ptes = 1,
                |m| m.folios[0].parts.transient = 1,
            ],
        ),
        HostAccessesPage => (
            vec![
                |m| m.accesses.push(access(Accessor::HostCpu { process: 0 })),
                |m| m.accesses.push(access(Accessor::GupHolder { holder: 0 })),
            ],
            vec![|m| m.accesses.push(access(Accessor::Guest)), |m| {
                m.pages[0].host_ptes = 1
            }],
        ),
        FolioReferenced => (
            vec![
                |m| m.folios[0].parts.ptes = 1,
                |m| m.folios[0].parts.transient = 1,
                |m| m.folios[0].parts.pins = 1,
            ],
            vec![
                // A freed folio's leftover parts are refcount_conserved's business.
                |m| {
                    m.folios[0].parts.ptes = 1;
                    m.folios[0].freed = true;
                },
                |m| m.folios[0].parts.pagecache = 2,
                |m| m.folios[0].refcount = 5,
            ],
        ),
        LockContended => (
            vec![|m| m.waits[0] = Some((LockId::InvalidateLock, LockMode::Shared))],
            vec![|m| m.holds = vec![(LockId::InvalidateLock, LockMode::Exclusive)]],
        ),
        ExclusivePinHeld => (
            vec![|m| m.pages[0].exclusive_pins = 1],
            vec![
                |m| m.pages[0].pins = 1,
                |m| m.pages[0].longterm_pins = 1,
                |m| m.folios[0].parts.exclusive = 1,
            ],
        ),
        HwPagePrivate => (
            vec![|m| m.folios[0].hw_private = 1, |m| {
                m.folios[0].large = true;
                m.folios[0].hw_private = 0b10;
            }],
            vec![|m| m.pages[0].attr = Attr::Private, |m| {
                m.folios[0].poisoned = true
            }],
        ),
        FolioFreed => (
            vec![|m| {
                m.folios[0].freed = true;
                m.folios[0].parts = RefParts::default();
                m.folios[0].refcount = 0;
            }],
            vec![|m| m.folios[0].home = FolioHome::Orphaned, |m| {
                m.folios[0].frozen = true
            }],
        ),
        GuestMapsPage => (
            vec![|m| m.pages[0].stage2[0] = Stage2::Shared(7), |m| {
                m.pages[0].stage2[1] = Stage2::Private(7)
            }],
            vec![|m| m.pages[0].host_ptes = 1, |m| {
                m.pages[0].invalidating = [true; MAX_VMS]
            }],
        ),
        TwoVmsMapPage => (
            vec![|m| m.pages[0].stage2 = [Stage2::Shared(7); MAX_VMS], |m| {
                m.pages[0].stage2 = [Stage2::Shared(7), Stage2::Private(7)]
            }],
            vec![|m| m.pages[0].stage2[0] = Stage2::Shared(7), |m| {
                m.pages[0].stage2[1] = Stage2::Private(7)
            }],
        ),
        GuestPoisoned => (
            vec![|m| m.folios[0].poisoned = true],
            vec![
                |m| {
                    m.folios[0].poisoned = true;
                    m.folios[0].freed = true;
                },
                |m| m.folios[0].hw_private = 1,
            ],
        ),
        other => panic!("{other:?} is not a sanity property"),
    }
}

fn access(who: Accessor) -> Access {
    Access {
        who,
        folio: 7,
        index: 0,
        write: true,
        guest_type: None,
    }
}

#[test]
fn every_sanity_predicate_is_false_on_the_quiet_view() {
    for id in PropertyId::sanity() {
        assert!(!id.eval(&quiet()), "{}: true on the quiet view", id.name());
    }
}

#[test]
fn every_sanity_predicate_is_true_on_a_view_built_for_it_and_false_on_near_misses() {
    for id in PropertyId::sanity() {
        let (hits, misses) = cases(id);
        assert!(!hits.is_empty() && !misses.is_empty(), "{}", id.name());
        for (k, edit) in hits.into_iter().enumerate() {
            for (at, v) in placements(edit).iter().enumerate() {
                assert!(
                    id.eval(v),
                    "{}: example {k} not seen (placement {at})",
                    id.name()
                );
            }
        }
        for (k, edit) in misses.into_iter().enumerate() {
            for (at, v) in placements(edit).iter().enumerate() {
                assert!(
                    !id.eval(v),
                    "{}: near miss {k} accepted (placement {at})",
                    id.name()
                );
            }
        }
    }
}

#[test]
fn every_sanity_predicate_is_false_in_the_initial_state_of_every_design_exercising_it() {
    let mut exercised = std::collections::BTreeSet::new();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs");
    let rows = model::gate::load_dir(&dir).expect("configs/ loads");
    for d in Design::ALL {
        assert!(
            rows.iter().any(|r| r.cfg.design == d),
            "{d} has no gate row"
        );
    }
    for row in rows {
        let m = GmemModel::new(row.cfg.clone()).expect("valid");
        let init = m.init_state();
        for id in properties::sanity(m.cfg()) {
            exercised.insert(id);
            assert!(
                !properties::eval(&m, &init, id),
                "{}: {} holds in the initial state",
                row.name,
                id.name()
            );
        }
    }
    // Every sanity property is exercised by some gate row.
    assert_eq!(exercised.len(), PropertyId::sanity().count());
}
