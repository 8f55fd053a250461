//! The symmetry machinery on configurations built to have symmetries:
//! every group element maps successors to successors and keeps every
//! property's value (on states sampled from the reachable graph), slot
//! renaming does too, the canonical form is idempotent and the same for
//! every member of an orbit, and the finder rejects renamings that are no
//! symmetry.

use super::group::{automorphisms, check, Perm};
use super::relabel::{relabel, Maps};
use super::{slots, Symmetry};
use crate::config::{
    Attr, Bug, Config, ConvOp, Design, GuestOp, GupPath, HostOp, PinKind, PinnerCfg, TruncOp,
};
use crate::state::{FolioState, State};
use crate::GmemModel;
use stateright::Model;
use std::collections::HashSet;

fn pinner(page: u8, proc: u8) -> PinnerCfg {
    PinnerCfg {
        kind: PinKind::Pin,
        path: GupPath::Fast,
        page,
        proc,
        hold_forever: false,
        repeat: false,
        vfio: false,
    }
}

/// Three pages: page 0 is converted; pages 1 and 2 each have a process
/// writing and a GUP user pinning through that process; a vCPU on page 0.
/// Pages (1 2), processes (0 1) and GUP users (0 1) swap together.
fn mirrored_inplace() -> Config {
    let mut c = Config::empty(Design::Inplace, 3);
    c.procs = vec![
        vec![HostOp::Write { page: 1 }, HostOp::Dontneed { page: 1 }],
        vec![HostOp::Write { page: 2 }, HostOp::Dontneed { page: 2 }],
    ];
    c.pinners = vec![pinner(1, 0), pinner(2, 1)];
    c.conversions = vec![ConvOp {
        converter: 0,
        start: 0,
        pages: 1,
        to: Attr::Private,
    }];
    c.guest = vec![GuestOp {
        page: 0,
        access: Attr::Private,
        vm: 0,
    }];
    c.truncate = Some(TruncOp::Close);
    c
}

/// Two VMs with the same accesses to two pages, and two processes with
/// the same script: VMs (0 1) and processes (0 1) swap independently.
fn mirrored_vms() -> Config {
    let mut c = Config::empty(Design::Wait, 2);
    c.vms = 2;
    c.procs = vec![vec![HostOp::Read { page: 1 }]; 2];
    c.conversions = vec![ConvOp {
        converter: 0,
        start: 0,
        pages: 2,
        to: Attr::Private,
    }];
    for vm in 0..2 {
        c.guest.push(GuestOp {
            page: 0,
            access: Attr::Private,
            vm,
        });
        c.guest.push(GuestOp {
            page: 1,
            access: Attr::Shared,
            vm,
        });
    }
    c
}

/// Design hugetlb, two gigantic pages with mirrored roles: gigantic
/// pages (0 1), processes (0 1) and GUP users (0 1) swap together.
fn mirrored_hugetlb() -> Config {
    let mut c = Config::empty(Design::Hugetlb, 4);
    c.init_shared = false;
    c.procs = vec![
        vec![HostOp::Read { page: 0 }],
        vec![HostOp::Read { page: 2 }],
    ];
    let slow = |page, proc| PinnerCfg {
        kind: PinKind::Longterm,
        path: GupPath::Slow,
        ..pinner(page, proc)
    };
    c.pinners = vec![slow(1, 0), slow(3, 1)];
    c
}

fn configs() -> Vec<(&'static str, Config)> {
    let fresh = gate_row("hugetlb@fresh_split_race");
    let convs = gate_row("hugetlb@two_converters_symmetric");
    vec![
        ("mirrored_inplace", mirrored_inplace()),
        ("mirrored_vms", mirrored_vms()),
        ("mirrored_hugetlb", mirrored_hugetlb()),
        ("hugetlb@fresh_split_race", fresh),
        ("hugetlb@two_converters_symmetric", convs),
    ]
}

fn successors(m: &GmemModel, s: &State) -> Vec<Vec<u8>> {
    let mut acts = Vec::new();
    m.actions(s, &mut acts);
    let mut v: Vec<Vec<u8>> = acts
        .into_iter()
        .filter_map(|a| m.next_state(s, a))
        .map(|t| t.encoding().to_vec())
        .collect();
    v.sort();
    v.dedup();
    v
}

fn successors_renamed(m: &GmemModel, s: &State, maps: &Maps) -> Vec<Vec<u8>> {
    let mut acts = Vec::new();
    m.actions(s, &mut acts);
    let mut v: Vec<Vec<u8>> = acts
        .into_iter()
        .filter_map(|a| m.next_state(s, a))
        .map(|t| relabel(&t, maps).encoding().to_vec())
        .collect();
    v.sort();
    v.dedup();
    v
}

/// `maps` is a symmetry at `s`: it maps `s`'s successors onto the
/// renamed state's successors, and no property tells the two apart.
fn assert_symmetric_at(name: &str, m: &GmemModel, s: &State, maps: &Maps) {
    let t = relabel(s, maps);
    assert_eq!(
        successors(m, &t),
        successors_renamed(m, s, maps),
        "{name}: successors of the renamed state are the renamed successors\n{s:?}\n{t:?}"
    );
    for p in m.properties() {
        assert_eq!(
            (p.condition)(m, s),
            (p.condition)(m, &t),
            "{name}: property {} tells a state from its renaming\n{s:?}\n{t:?}",
            p.name
        );
    }
}

/// A renaming of the used folio slots of `s` (a rotation by `k`).
fn rotate_slots(s: &State, k: usize) -> Maps {
    let used = s
        .folios
        .iter()
        .rposition(|f| f.state != FolioState::Unused)
        .map_or(0, |i| i + 1);
    let mut m = Maps::identity();
    for x in 0..used {
        m.slots[x] = ((x + k) % used) as u8;
    }
    m
}

#[test]
fn groups_of_the_mirrored_configurations() {
    let expect = [
        (
            "mirrored_inplace",
            2,
            "pages (1 2), processes (0 1), GUP users (0 1)",
        ),
        ("mirrored_vms", 4, "processes (0 1), VMs (0 1)"),
        (
            "mirrored_hugetlb",
            2,
            "pages (0 2)(1 3), gigantic pages (0 1), processes (0 1), GUP users (0 1)",
        ),
        ("hugetlb@fresh_split_race", 2, "processes (0 1)"),
        (
            "hugetlb@two_converters_symmetric",
            2,
            "pages (0 2)(1 3), gigantic pages (0 1), processes (0 1), converter threads (0 1)",
        ),
    ];
    for ((name, cfg), (n2, order, last)) in configs().iter().zip(expect) {
        assert_eq!(*name, n2);
        let g = automorphisms(cfg);
        assert_eq!(g.len(), order, "{name}: {g:?}");
        assert!(g[0].is_identity(), "{name}");
        assert_eq!(g.last().unwrap().describe(), last, "{name}");
        // A group: closed under composition.
        for a in &g {
            for b in &g {
                assert!(g.contains(&a.after(b)), "{name}: not closed");
            }
        }
    }
}

#[test]
fn group_elements_are_symmetries_of_the_model() {
    for (name, cfg) in configs() {
        let m = GmemModel::new(cfg.clone()).unwrap();
        let sym = Symmetry::of(&cfg);
        assert!(sym.order() > 1, "{name}");
        let init = m.init_state();
        for (i, p) in sym.perms().iter().enumerate() {
            assert_eq!(
                sym.apply(i, &init),
                init,
                "{name}: {} moves the initial state",
                p.describe()
            );
        }
        for s in m.bfs_states(3000) {
            for p in sym.perms() {
                assert_symmetric_at(name, &m, &s, &p.maps(&cfg));
            }
        }
    }
}

fn gate_row(name: &str) -> Config {
    crate::gate::load_file(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../configs")
            .join(format!("{name}.json")),
    )
    .expect("the gate row loads")
    .cfg
}

#[test]
fn slot_renaming_is_a_symmetry_of_the_4k_designs() {
    let mut renamed = 0;
    let rows = ["inplace", "wait", "pfnmap", "inplace@memory_failure"];
    let cfgs = configs()
        .into_iter()
        .chain(rows.iter().map(|r| (*r, gate_row(r))));
    for (name, cfg) in cfgs {
        if !slots::renamable(cfg.design) {
            continue;
        }
        let m = GmemModel::new(cfg).unwrap();
        // States with two or more folios allocated.
        let many = m.bfs_states(40_000).into_iter().filter(|s| {
            s.folios
                .iter()
                .filter(|f| f.state != FolioState::Unused)
                .count()
                > 1
        });
        for s in many.take(1500) {
            for k in 1..3 {
                let maps = rotate_slots(&s, k);
                if maps != Maps::identity() {
                    renamed += 1;
                }
                assert_symmetric_at(name, &m, &s, &maps);
            }
        }
    }
    assert!(renamed > 1000, "{renamed}");
}

#[test]
fn canonical_form_is_idempotent_and_the_same_across_an_orbit() {
    for (name, cfg) in configs() {
        let m = GmemModel::new(cfg.clone()).unwrap();
        let sym = Symmetry::of(&cfg);
        let mut orbits = HashSet::new();
        let states = m.bfs_states(3000);
        for s in &states {
            let c = sym.canonical(s);
            assert_eq!(sym.canonical(&c), c, "{name}: not idempotent\n{s:?}");
            for i in 0..sym.order() {
                let g = sym.apply(i, s);
                assert_eq!(sym.canonical(&g), c, "{name}: element {i} changes the form");
                if sym.renames_slots() {
                    let r = relabel(&g, &rotate_slots(&g, 1));
                    assert_eq!(sym.canonical(&r), c, "{name}: a slot renaming changes it");
                }
            }
            orbits.insert(c.encoding().to_vec());
        }
        // The reduction does something on these configurations.
        assert!(orbits.len() < states.len(), "{name}");
    }
}

#[test]
fn canonical_is_a_renaming() {
    // Whatever the state, the representative is in its orbit: some group
    // element, then (4K designs) a slot renaming, gives it.
    let cfg = mirrored_inplace();
    let m = GmemModel::new(cfg.clone()).unwrap();
    let sym = Symmetry::of(&cfg);
    for s in m.bfs_states(500) {
        let c = sym.canonical(&s);
        let hit = (0..sym.order()).any(|i| slots::canonical(&sym.apply(i, &s)) == c);
        assert!(hit, "{s:?}");
    }
}

#[test]
fn finder_rejects_what_is_no_symmetry() {
    let swap_pages = Perm {
        pages: [1, 0, 2, 3, 4, 5, 6, 7],
        ..Perm::identity()
    };
    let swap_procs = Perm {
        procs: [1, 0],
        ..Perm::identity()
    };
    let both = swap_pages.after(&swap_procs);
    let mut c = Config::empty(Design::Inplace, 2);
    c.procs = vec![
        vec![HostOp::Write { page: 0 }],
        vec![HostOp::Write { page: 1 }],
    ];
    assert_eq!(check(&c, &both), Ok(()));
    assert!(check(&c, &swap_pages).unwrap_err().contains("script"));
    assert!(check(&c, &swap_procs).unwrap_err().contains("script"));
    assert_eq!(automorphisms(&c).len(), 2);

    // A GUP user on page 0 only breaks the page swap.
    let mut pinned = c.clone();
    pinned.pinners = vec![pinner(0, 0)];
    assert!(check(&pinned, &both).unwrap_err().contains("GUP user 0"));
    assert_eq!(automorphisms(&pinned), vec![Perm::identity()]);

    // A conversion scans its pages in order: with one converter thread
    // its range cannot move (onto itself, reversed).
    let mut converted = c.clone();
    converted.conversions = vec![ConvOp {
        converter: 0,
        start: 0,
        pages: 2,
        to: Attr::Private,
    }];
    assert!(check(&converted, &both)
        .unwrap_err()
        .contains("converter 0's requests"));

    // Page-naming switches and actors pin pages and processes.
    let mut named = c.clone();
    named.memory_failure = Some(1);
    assert!(check(&named, &both).unwrap_err().contains("memory_failure"));
    let mut copy = c.clone();
    copy.conversions = vec![ConvOp {
        converter: 0,
        start: 0,
        pages: 1,
        to: Attr::Private,
    }];
    copy.attrs_arg_page = Some(0);
    assert!(check(&copy, &swap_procs)
        .unwrap_err()
        .contains("process 0 must stay"));

    // Not a permutation, or moving pages the design keeps in place.
    let bad = Perm {
        pages: [1, 1, 2, 3, 4, 5, 6, 7],
        ..Perm::identity()
    };
    assert!(check(&c, &bad).unwrap_err().contains("not a permutation"));
    let mut split = c.clone();
    split.design = Design::Split;
    assert!(check(&split, &both).unwrap_err().contains("design split"));
    let mut thp = c.clone();
    thp.design = Design::ExclusivePin;
    assert!(check(&thp, &both).unwrap_err().contains("exclusive_pin"));
    let mut reclaim = c.clone();
    reclaim.bugs.insert(Bug::NoReclaimOnFree);
    assert!(check(&reclaim, &both)
        .unwrap_err()
        .contains("no_reclaim_on_free"));

    // VMs: a bug that singles out VM 0, and a release that names one.
    let v = mirrored_vms();
    let swap_vms = Perm {
        vms: [1, 0],
        ..Perm::identity()
    };
    assert_eq!(check(&v, &swap_vms), Ok(()));
    let mut one = v.clone();
    one.bugs.insert(Bug::InvalidateOneBinding);
    assert!(check(&one, &swap_vms)
        .unwrap_err()
        .contains("VM 0 must stay"));
    let mut rel = v.clone();
    rel.truncate = Some(TruncOp::Release { vm: 1 });
    assert!(check(&rel, &swap_vms).unwrap_err().contains("release"));
    let mut uneven = v.clone();
    uneven.guest.pop();
    assert!(check(&uneven, &swap_vms)
        .unwrap_err()
        .contains("guest accesses"));

    // Design hugetlb: whole gigantic pages only, and not with close.
    let h = mirrored_hugetlb();
    let g = *automorphisms(&h).last().unwrap();
    assert_eq!(check(&h, &g), Ok(()));
    let half = Perm {
        pages: [2, 1, 0, 3, 4, 5, 6, 7],
        ..g
    };
    assert!(check(&h, &half)
        .unwrap_err()
        .contains("whole gigantic pages"));
    let mut closed = h.clone();
    closed.truncate = Some(TruncOp::Close);
    assert!(check(&closed, &g).unwrap_err().contains("pool callback"));
    assert_eq!(automorphisms(&closed).len(), 1);
}

#[test]
fn a_rejected_renaming_is_really_no_symmetry() {
    // The page swap that a GUP user on page 0 rules out: applied anyway,
    // some reachable state's successors or properties tell it apart.
    let mut c = Config::empty(Design::Inplace, 2);
    c.procs = vec![
        vec![HostOp::Write { page: 0 }],
        vec![HostOp::Write { page: 1 }],
    ];
    c.pinners = vec![pinner(0, 0)];
    let m = GmemModel::new(c.clone()).unwrap();
    let both = Perm {
        pages: [1, 0, 2, 3, 4, 5, 6, 7],
        procs: [1, 0],
        ..Perm::identity()
    };
    let maps = both.maps(&c);
    let differs = m.bfs_states(2000).iter().any(|s| {
        let t = relabel(s, &maps);
        successors(&m, &t) != successors_renamed(&m, s, &maps)
    });
    assert!(differs);
}

#[test]
fn converter_threads_swap_only_with_their_requests() {
    let row = gate_row("hugetlb@two_converters_symmetric");
    let g = automorphisms(&row);
    assert_eq!(g.len(), 2);
    let swap = g[1];
    assert_eq!(swap.convs, [1, 0]);
    assert_eq!(swap.gigantic, [1, 0]);
    // Neither half of the swap alone is a symmetry.
    let pages_only = Perm {
        convs: [0, 1],
        ..swap
    };
    assert!(check(&row, &pages_only)
        .unwrap_err()
        .contains("converter 0's requests"));
    let threads_only = Perm {
        convs: [1, 0],
        ..Perm::identity()
    };
    assert!(check(&row, &threads_only)
        .unwrap_err()
        .contains("converter 0's requests"));

    // The two threads' requests differ: in direction, in length, in
    // number.
    let mut to = row.clone();
    to.conversions[3].to = Attr::Shared;
    let mut len = row.clone();
    len.conversions[2].pages = 1;
    let mut fewer = row.clone();
    fewer.conversions.pop();
    for (what, cfg) in [("to", &to), ("length", &len), ("count", &fewer)] {
        assert!(check(cfg, &swap).is_err(), "{what}");
        assert_eq!(automorphisms(cfg), vec![Perm::identity()], "{what}");
    }

    // A range must land in order: one thread converting the whole file
    // cannot be mapped onto itself by the gigantic swap.
    let mut whole = row.clone();
    whole.conversions = vec![ConvOp {
        converter: 0,
        start: 0,
        pages: 4,
        to: Attr::Shared,
    }];
    let gig = Perm {
        convs: [0, 1],
        ..swap
    };
    assert!(check(&whole, &gig)
        .unwrap_err()
        .contains("converter 0's requests"));

    // The copy-out keeps the threads in place.
    let mut copy = row.clone();
    copy.attrs_arg_page = Some(1);
    assert!(check(&copy, &swap)
        .unwrap_err()
        .contains("converter threads must stay"));
}

#[test]
fn the_converter_swap_is_no_symmetry_without_the_page_swap() {
    // Applied to states anyway, renaming the threads alone is told apart:
    // the test harness can fail.
    let row = gate_row("hugetlb@two_converters_symmetric");
    let m = GmemModel::new(row.clone()).unwrap();
    let threads_only = Perm {
        convs: [1, 0],
        ..Perm::identity()
    };
    let maps = threads_only.maps(&row);
    let differs = m.bfs_states(2000).iter().any(|s| {
        let t = relabel(s, &maps);
        successors(&m, &t) != successors_renamed(&m, s, &maps)
    });
    assert!(differs);
}

#[test]
fn equal_converter_scripts_swap_in_place() {
    // Two threads issuing the same request on the same range (design
    // inplace, the range stays): the thread swap alone is a symmetry.
    let mut c = Config::empty(Design::Inplace, 2);
    c.procs = vec![vec![HostOp::Write { page: 1 }]];
    let op = |converter| ConvOp {
        converter,
        start: 0,
        pages: 2,
        to: Attr::Private,
    };
    c.conversions = vec![op(0), op(1)];
    let g = automorphisms(&c);
    assert_eq!(g.len(), 2, "{g:?}");
    assert_eq!(g[1].describe(), "converter threads (0 1)");
    let m = GmemModel::new(c.clone()).unwrap();
    let states = m.bfs_states(3000);
    assert!(states.len() > 100, "{}", states.len());
    for s in states {
        assert_symmetric_at("equal scripts", &m, &s, &g[1].maps(&c));
    }
}
