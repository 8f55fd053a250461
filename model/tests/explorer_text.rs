//! What the Stateright explorer shows: kernel step names in Path of Actions
//! and Next Action Choices (`Model::format_action`), states without
//! program-counter names (`Model::format_step`), lassos marked in the
//! diagram, and bug switches labelled by what they do rather than by the
//! guard they remove.

use invariants::PropertyId;
use model::{Action, GmemModel, State};
use stateright::Model;
use std::collections::{HashSet, VecDeque};

mod common;
use common::row;

/// Every reachable state with its enabled actions, as the explorer lists
/// them: `format_step` first, then `format_action` (stateright 0.31's order).
fn every_choice(m: &GmemModel, mut f: impl FnMut(&State, Action, String, Option<String>)) {
    let mut seen = HashSet::new();
    let mut queue: VecDeque<State> = m.init_states().into();
    while let Some(s) = queue.pop_front() {
        if !seen.insert(s) {
            continue;
        }
        let mut acts = vec![];
        m.actions(&s, &mut acts);
        for a in acts {
            let outcome = m.format_step(&s, a);
            let shown = m.format_action(&a);
            f(&s, a, shown, outcome);
            if let Some(t) = m.next_state(&s, a) {
                queue.push_back(t);
            }
        }
    }
}

#[test]
fn actions_are_named_by_their_kernel_step() {
    let m = GmemModel::new(row("inplace+gup_fast_no_recheck")).unwrap();
    let mut names = HashSet::new();
    every_choice(&m, |s, a, shown, outcome| {
        let label = model::describe::step_label(&m, s, a);
        assert_eq!(shown, format!("{}: {label}", a.actor()));
        assert!(!shown.contains("next step"), "{shown}");
        if let Some(text) = outcome {
            assert!(text.starts_with(&shown), "{text}");
            for pc in [
                "Held(",
                "InvEnd",
                "FastTryAdd",
                "Eagain",
                "error_index",
                "by t0",
            ] {
                assert!(!text.contains(pc), "{pc} in {text}");
            }
        }
        names.insert(shown);
    });
    for want in [
        "converter: filemap_invalidate_lock()",
        "gup0: gup_fast: folio_try_add()",
        "converter: unmap_mapping_pages()",
    ] {
        assert!(names.contains(want), "{want} not among {names:?}");
    }
    // Outside the explorer's order the label is not known: the state-free form.
    assert_eq!(
        m.format_action(&Action::Step(model::Actor::Converter(0))),
        "converter: next step"
    );
}

#[test]
fn a_bug_switch_never_shows_the_guard_it_removes() {
    for (name, guard) in [
        ("split+restructure_no_freeze", "folio_ref_freeze"),
        ("inplace+gup_fast_no_recheck", "re-read PTE"),
        ("inplace+fault_no_ref", "get folio,"),
    ] {
        let m = GmemModel::new(row(name)).unwrap();
        let mut n = 0;
        every_choice(&m, |_, _, shown, _| {
            assert!(!shown.contains(guard), "{name}: {shown}");
            n += 1;
        });
        assert!(n > 10, "{name}: only {n} choices");
    }
    // Without the switch, the guard is there.
    let mut c = row("split+restructure_no_freeze");
    c.bugs = Default::default();
    let m = GmemModel::new(c).unwrap();
    let mut freeze = false;
    every_choice(&m, |_, _, shown, _| {
        freeze |= shown.contains("folio_ref_freeze")
    });
    assert!(freeze);
}

#[test]
fn the_explorer_marks_a_lasso() {
    let m = GmemModel::new(row("huge_whole@pin_subpage_a")).unwrap();
    let report = model::live::check(&m, PropertyId::IndependentSubpages, &Default::default());
    let liveness::Verdict::Violated(l) = report.verdict else {
        panic!("expected a lasso");
    };
    let mut path = vec![(l.init, None)];
    for s in l.stem.iter().chain(&l.cycle) {
        path.push((s.state, Some(s.action)));
    }
    assert_eq!(
        model::svg::lasso_of(&m, &path).map(|(i, _)| i),
        Some(l.stem.len())
    );
    let svg = model::svg::explorer(&m, &path);
    assert!(svg.contains("back to state"), "{svg}");
    assert!(svg.contains("independent_subpages"), "{svg}");
    assert!(svg.contains("repeats"), "{svg}");
    // A path that does not come back is not a lasso.
    path.pop();
    assert!(!model::svg::explorer(&m, &path).contains("back to state"));
}
