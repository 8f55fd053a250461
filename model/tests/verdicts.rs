//! The model's verdicts at small bounds, run to completion: every design's
//! safety properties, every sanity example (so no verdict is vacuous), every
//! bug switch caught by its named property, the liveness verdicts of the
//! thread's questions, and recorded state counts so that an unintended model
//! change fails a test (as Stateright's own examples do).

use invariants::{Kind, PropertyId};
use model::config::BugScope;
use model::gate::{self, Pass};
use model::{properties, Bug, Config, Design, GmemModel};
use std::path::Path;

mod common;
use common::{row, run};

/// The repository's `configs/` (tests run in the checkout).
fn configs_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs")
}

/// The configuration of gate row `name` (`configs/<name>.json`).
/// The gate row of bug switch `b` on its default design.
fn bug_row(b: Bug) -> Config {
    row(&format!("{}+{b}", b.default_design()))
}

/// A smaller configuration than the gate's, so debug-mode tests stay fast:
/// one host process, one GUP user, the guest, to-private then to-shared.
fn small(d: Design) -> Config {
    let mut c = row(d.name());
    c.truncate = None;
    c.pinners.truncate(1);
    if d != Design::ExclusivePin {
        c.guest.truncate(1);
    }
    c
}

#[test]
fn correct_designs_hold_every_safety_property_and_find_every_example() {
    for d in [
        Design::Inplace,
        Design::Wait,
        Design::Split,
        Design::Pfnmap,
        Design::HugeWhole,
        Design::NoDirectMap,
    ] {
        let o = run(small(d));
        assert!(o.violated.is_empty(), "{d}: violated {:?}", o.violated);
        assert!(
            o.missing_examples.is_empty(),
            "{d}: sanity examples not found {:?}",
            o.missing_examples
        );
    }
}

#[test]
fn exclusive_pin_rfc_leaves_foll_get_and_the_vmm_mapping_uncovered() {
    let o = run(small(Design::ExclusivePin));
    // FOLL_GET is not covered by the exclusive bias (docs/kernel.md#exclusive-pin-rfc).
    assert_eq!(
        o.violated,
        vec!["no_private_pin", "host_access_only_shared"]
    );
    assert!(o.missing_examples.is_empty(), "{:?}", o.missing_examples);
}

#[test]
fn every_safety_bug_switch_is_caught_by_its_named_property() {
    for b in Bug::ALL {
        if b.expected_catch().kind() != Kind::Safety {
            continue;
        }
        let o = run(bug_row(b));
        assert!(
            o.violated.contains(&b.expected_catch().name()),
            "{b}: expected {} violated, got {:?}",
            b.expected_catch().name(),
            o.violated
        );
    }
}

#[test]
fn the_same_switches_do_nothing_when_off() {
    for b in Bug::ALL {
        let mut c = bug_row(b);
        c.bugs = Default::default();
        let o = run(c.clone());
        let expected: &[&str] = if c.design == Design::ExclusivePin {
            &["no_private_pin", "host_access_only_shared"]
        } else {
            &[]
        };
        assert_eq!(o.violated, expected, "{b} off");
    }
}

fn liveness_verdict(cfg: Config, id: PropertyId) -> &'static str {
    let m = GmemModel::new(cfg).unwrap();
    match model::live::check(&m, id, &Default::default()).verdict {
        liveness::Verdict::Holds => "holds",
        liveness::Verdict::Violated(_) => "violated",
        liveness::Verdict::Incomplete { .. } => "incomplete",
    }
}

#[test]
fn a_pin_on_subpage_a_blocks_subpage_b_only_under_huge_whole() {
    for d in [Design::Inplace, Design::Split, Design::HugeWhole] {
        let v = liveness_verdict(
            row(&format!("{d}@pin_subpage_a")),
            PropertyId::IndependentSubpages,
        );
        let want = if d == Design::HugeWhole {
            "violated"
        } else {
            "holds"
        };
        assert_eq!(v, want, "{d}");
    }
    for d in [Design::Wait, Design::Pfnmap, Design::NoDirectMap] {
        let c = row(&format!("{d}@pin_subpage_a"));
        assert!(properties::not_applicable(&c, PropertyId::IndependentSubpages).is_some());
    }
}

#[test]
fn no_lru_drain_starves_the_conversion() {
    use PropertyId::*;
    let wait = row("wait+no_lru_drain");
    assert_eq!(
        liveness_verdict(wait.clone(), ConversionCompletes),
        "violated"
    );
    let mut fixed = wait;
    fixed.bugs = Default::default();
    assert_eq!(liveness_verdict(fixed, ConversionCompletes), "holds");
    let inplace = bug_row(Bug::NoLruDrain);
    assert_eq!(
        liveness_verdict(inplace.clone(), ConversionCompletes),
        "holds"
    );
    assert_eq!(
        liveness_verdict(inplace, ConversionEventuallySucceeds),
        "violated"
    );
}

#[test]
fn wait_completes_only_when_new_pins_are_blocked() {
    let id = PropertyId::ConversionCompletes;
    assert_eq!(
        liveness_verdict(row("wait@busy_pinner_blocked"), id),
        "holds"
    );
    assert_eq!(
        liveness_verdict(row("wait@busy_pinner_unblocked"), id),
        "violated"
    );
}

#[test]
fn correct_designs_satisfy_every_applicable_liveness_property() {
    for d in [Design::Inplace, Design::Wait, Design::Split, Design::Pfnmap] {
        let c = row(&format!("{d}@retry"));
        for id in properties::liveness(&c) {
            assert_eq!(
                liveness_verdict(c.clone(), id),
                "holds",
                "{d} {}",
                id.name()
            );
        }
    }
    for d in [Design::Split, Design::HugeWhole] {
        let c = row(&format!("{d}@close_pinned"));
        assert_eq!(
            liveness_verdict(c, PropertyId::TruncateFrees),
            "holds",
            "{d}"
        );
    }
}

/// Recorded unique-state counts: a change here is a change of the model's
/// semantics, to be explained in the commit that makes it.
#[test]
fn unique_state_counts_are_pinned() {
    let cases = [
        (small(Design::Pfnmap), 993),
        (small(Design::ExclusivePin), 129),
        (bug_row(Bug::GupFastNoRecheck), 411),
        (bug_row(Bug::RestructureNoFreeze), 110),
    ];
    let got: Vec<usize> = cases.iter().map(|(c, _)| run(c.clone()).unique).collect();
    let want: Vec<usize> = cases.iter().map(|(_, n)| *n).collect();
    assert_eq!(got, want);
}

#[test]
fn invalid_configs_are_errors_not_panics() {
    let base = row("inplace");
    let bad = [
        Config {
            pages: 0,
            ..base.clone()
        },
        Config {
            pages: 9,
            ..base.clone()
        },
        base.clone().with_bug(Bug::ExclusiveCasBias),
        Config {
            pinners: vec![base.pinners[0]; 4],
            ..base.clone()
        },
        Config {
            guest: vec![model::config::GuestOp {
                page: 7,
                access: invariants::Attr::Private,
                vm: 0,
            }],
            ..base.clone()
        },
    ];
    for c in bad {
        let e = GmemModel::new(c).expect_err("must be rejected");
        assert!(!e.0.is_empty());
    }
    assert!("nonsense".parse::<Design>().is_err());
    assert!("nonsense".parse::<Bug>().is_err());
    assert!(base.with_pages(0).is_err());
}

#[test]
fn gate_rows_are_valid_and_uniquely_named() {
    let rows = gate::load_dir(&configs_dir()).expect("configs/ loads");
    let mut names: Vec<_> = rows.iter().map(|r| r.name.clone()).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), rows.len());
    for r in rows {
        assert!(GmemModel::new(r.cfg.clone()).is_ok(), "{}", r.name);
        if r.pass == Pass::Liveness {
            assert!(!properties::liveness(&r.cfg).is_empty(), "{}", r.name);
        }
    }
}

#[test]
fn without_quiesced_userspace_two_faulting_gup_users_livelock_the_retry() {
    assert_eq!(
        liveness_verdict(
            row("inplace@faulting_gup_users"),
            PropertyId::ConversionEventuallySucceeds
        ),
        "violated"
    );
}

#[test]
fn option_a_waits_forever_for_a_foll_get_held_forever() {
    assert_eq!(
        liveness_verdict(row("wait@vmsplice_get"), PropertyId::ConversionCompletes),
        "violated"
    );
}
