//! Design `hugetlb` (the 2026 guest_memfd HugeTLB branch, issue 13): its
//! safety verdicts, each of its bug switches caught and clean when off,
//! the interleavings the questions of `docs/findings.md#hugetlb-2026` rest
//! on (reached, not just allowed), its liveness verdicts, and pinned state
//! counts.

use invariants::{ConvResult, PropertyId, Structure};
use model::state::{FaultPc, GuestPc, ProcPc, State};
use model::{Config, Design, GmemModel};
use stateright::Model;
use std::collections::{HashSet, VecDeque};

mod common;
use common::{row, run};

/// Every reachable state (the hugetlb rows are small).
fn reachable(cfg: Config) -> Vec<State> {
    let m = GmemModel::new(cfg).expect("valid config");
    let mut seen: HashSet<State> = HashSet::new();
    let mut queue: VecDeque<State> = m.init_states().into_iter().collect();
    let mut all = vec![];
    while let Some(s) = queue.pop_front() {
        if !seen.insert(s) {
            continue;
        }
        let mut acts = vec![];
        m.actions(&s, &mut acts);
        for a in acts {
            if let Some(n) = m.next_state(&s, a) {
                if !seen.contains(&n) {
                    queue.push_back(n);
                }
            }
        }
        all.push(s);
    }
    all
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
fn gate_row_violates_only_conversion_atomic_and_finds_every_example() {
    let o = run(row("hugetlb"));
    // One huge page per batch: a failure in the second batch leaves the
    // first converted (question 2), a finding about the branch.
    assert_eq!(o.violated, ["conversion_atomic"]);
    assert!(o.missing_examples.is_empty(), "{:?}", o.missing_examples);
}

#[test]
fn a_failed_second_batch_leaves_the_first_batch_converted() {
    // Conversion 1 (subpages 0..4 to private) returns -EAGAIN at subpage 2
    // (the pinned one, first index of huge page 1) with subpage 1 (huge
    // page 0) already private and subpage 2 still shared.
    let states = reachable(row("hugetlb"));
    assert!(states.iter().any(|s| s.conv[0].op == 1
        && s.conv[0].result.get() == Some(ConvResult::Eagain { error_index: 2 })
        && s.pages[1].private
        && !s.pages[2].private));
}

#[test]
fn the_branch_store_order_breaks_stage2_coherence_and_the_v13_order_holds() {
    let o = run(row("hugetlb+store_after_inv_end"));
    assert_eq!(o.violated, ["stage2_coherent"]);
    let mut fixed = row("hugetlb+store_after_inv_end");
    fixed.bugs = Default::default();
    let o = run(fixed.clone());
    assert!(o.violated.is_empty(), "{:?}", o.violated);
    // The racing fault does run in the fixed order: the vCPU reads the
    // attribute while the conversion holds the lock, and installs after it.
    let states = reachable(fixed);
    assert!(states
        .iter()
        .any(|s| s.invalidate_lock.writer.get() == Some(0)
            && s.guests[0].pc.get() == GuestPc::GetPfn));
}

#[test]
fn each_hugetlb_guard_is_caught_by_its_property_and_clean_when_off() {
    let cases = [
        (row("hugetlb+restructure_no_freeze"), "gigantic_pool_safe"),
        (row("hugetlb+punch_merge_no_check"), "gigantic_pool_safe"),
        (row("hugetlb+huge_map_mixed"), "stage2_coherent"),
        (row("hugetlb+store_after_inv_end"), "stage2_coherent"),
    ];
    for (c, prop) in cases {
        let label = c.label();
        assert_eq!(c.design, Design::Hugetlb);
        let o = run(c.clone());
        assert!(o.violated.contains(&prop), "{label}: {:?}", o.violated);
        let mut off = c;
        off.bugs = Default::default();
        let o = run(off);
        assert!(o.violated.is_empty(), "{label} off: {:?}", o.violated);
    }
}

#[test]
fn fresh_split_race_is_safe_and_both_faulters_race_on_the_huge_folio() {
    let c = row("hugetlb@fresh_split_race");
    let o = run(c.clone());
    assert!(o.violated.is_empty(), "{:?}", o.violated);
    let states = reachable(c);
    // One fault spins in the freeze while the other holds a reference to
    // the huge folio, on its way to the WARN and SIGBUS.
    let spinning_while_held = |s: &State| {
        let at = |p: usize| s.procs[p].pc.get();
        (0..2).any(|p| {
            matches!(at(p), ProcPc::Fault(FaultPc::FreshSplit(0)))
                && matches!(at(1 - p), ProcPc::Fault(FaultPc::Install(f)) if s.folio(f).large)
        })
    };
    assert!(states.iter().any(spinning_while_held));
    // The vCPU gets the huge folio (max_order = huge) before the split and
    // still installs a 4K leaf (kvm_gmem_mapping_order() reads a mixed range).
    assert!(states.iter().any(|s| {
        matches!(s.guests[0].pc.get(), GuestPc::Install(f) if s.folio(f).large)
            && s.gigantic[0].structure == Structure::Splitting
    }));
    // ... and that install is a 4K leaf: the next step of the vCPU from
    // any such state sets no huge bit on a mixed range.
    let m = GmemModel::new(row("hugetlb@fresh_split_race")).unwrap();
    for s in states.iter().filter(|s| {
        matches!(s.guests[0].pc.get(), GuestPc::Install(f) if s.folio(f).large)
            && s.gigantic[0].structure == Structure::Splitting
    }) {
        let n = m
            .next_state(s, model::Action::Step(model::Actor::Guest(0)))
            .expect("the install step is enabled");
        assert!(n.pages.iter().all(|p| p.s2_huge == 0), "{n:?}");
    }
}

#[test]
fn fresh_split_race_is_live() {
    let c = row("hugetlb@fresh_split_race_live");
    assert_eq!(
        liveness_verdict(c, PropertyId::ConversionCompletes),
        "holds"
    );
}

#[test]
fn enomem_in_either_split_keeps_every_property_and_the_retry_succeeds() {
    let c = row("hugetlb@enomem");
    let o = run(c.clone());
    assert!(o.violated.is_empty(), "{:?}", o.violated);
    let states = reachable(c.clone());
    let enomem = |s: &State| matches!(s.conv[0].result.get(), Some(ConvResult::Enomem { .. }));
    // kvm_gmem_split_private() failed: the huge leaf is still there.
    assert!(states.iter().any(|s| enomem(s) && s.pages[0].s2_huge != 0));
    // hugetlb_vmemmap_restore_folio() failed: leaf split, folio still whole.
    assert!(states.iter().any(|s| enomem(s)
        && s.pages[0].s2_huge == 0
        && s.gigantic[0].structure == Structure::Whole
        && !s.gigantic[0].in_pool));
    // After a failure the retry succeeds.
    assert!(states
        .iter()
        .any(|s| s.conv[0].enomem_seen && s.conv[0].result.get() == Some(ConvResult::Ok)));
    assert_eq!(
        liveness_verdict(c, PropertyId::ConversionCompletes),
        "holds"
    );
}

#[test]
fn independent_subpages_and_truncate_frees_hold_on_hugetlb() {
    let c = row("hugetlb@pin_subpage_a");
    assert_eq!(
        liveness_verdict(c, PropertyId::IndependentSubpages),
        "holds"
    );
    let c = row("hugetlb@close_pinned");
    assert_eq!(liveness_verdict(c, PropertyId::TruncateFrees), "holds");
}

#[test]
fn hugetlb_configs_are_checked() {
    // HUGETLB | INIT_SHARED is -EINVAL: a hugetlb file starts private.
    let hugetlb_empty = |pages| Config {
        init_shared: false,
        ..Config::empty(Design::Hugetlb, pages)
    };
    assert!(hugetlb_empty(3).validate().is_err());
    let mut c = hugetlb_empty(4);
    c.init_shared = true;
    assert!(c.validate().is_err());
    let mut c = hugetlb_empty(4);
    c.truncate = Some(model::config::TruncOp::Punch { start: 1, pages: 2 });
    assert!(c.validate().is_err());
}

/// Recorded unique-state counts of design hugetlb's rows: a change here is
/// a change of the model's semantics.
#[test]
fn hugetlb_state_counts_are_pinned() {
    let cases = [
        (row("hugetlb"), 193_839),
        (row("hugetlb+store_after_inv_end"), 88),
        (row("hugetlb@fresh_split_race"), 1549),
        (row("hugetlb@enomem"), 176),
    ];
    let got: Vec<usize> = cases.iter().map(|(c, _)| run(c.clone()).unique).collect();
    let want: Vec<usize> = cases.iter().map(|(_, n)| *n).collect();
    assert_eq!(got, want);
}

/// The shortest path to a state satisfying `goal`, as (actor, step label,
/// changes) lines: `cargo test --release -p model --test hugetlb -- --ignored
/// --nocapture` prints the timelines `docs/findings.md` quotes for the
/// interleavings that no property flags.
fn shortest_path(cfg: Config, goal: impl Fn(&State) -> bool) -> Vec<String> {
    let m = GmemModel::new(cfg).unwrap();
    let mut parent: std::collections::HashMap<State, Option<(State, model::Action)>> =
        Default::default();
    let mut queue: VecDeque<State> = VecDeque::new();
    for s in m.init_states() {
        parent.insert(s, None);
        queue.push_back(s);
    }
    while let Some(s) = queue.pop_front() {
        if goal(&s) {
            let mut lines = vec![];
            let mut cur = s;
            while let Some(Some((prev, a))) = parent.get(&cur).cloned() {
                lines.push(format!(
                    "{:<10} | {:<70} | {}",
                    a.actor().to_string(),
                    model::describe::step_label(&m, &prev, a),
                    model::describe::changes(&m, &prev, &cur).join("; ")
                ));
                cur = prev;
            }
            lines.reverse();
            return lines;
        }
        let mut acts = vec![];
        m.actions(&s, &mut acts);
        for a in acts {
            if let Some(n) = m.next_state(&s, a) {
                if let std::collections::hash_map::Entry::Vacant(e) = parent.entry(n) {
                    e.insert(Some((s, a)));
                    queue.push_back(n);
                }
            }
        }
    }
    panic!("goal not reachable");
}

#[test]
#[ignore = "prints the timelines quoted in docs/findings.md"]
fn print_timelines() {
    let race = |s: &State| {
        matches!(s.procs[1].pc.get(), ProcPc::Fault(FaultPc::FreshSplit(0)))
            && matches!(s.procs[0].pc.get(), ProcPc::Fault(FaultPc::Install(f)) if s.folio(f).large)
    };
    // The race state, then: proc1's freeze is disabled while proc0 holds
    // its reference; proc0 takes its SIGBUS, proc1 splits and installs.
    let c = row("hugetlb@fresh_split_race");
    let m = GmemModel::new(c.clone()).unwrap();
    let mut cur = reachable(c.clone()).into_iter().find(|s| race(s)).unwrap();
    let mut lines = shortest_path(c, |s| *s == cur);
    assert!(m
        .next_state(&cur, model::Action::Step(model::Actor::Proc(1)))
        .is_none_or(|n| n == cur));
    for a in [
        model::Action::Step(model::Actor::Proc(0)),
        model::Action::Step(model::Actor::Proc(1)),
        model::Action::Step(model::Actor::Proc(1)),
    ] {
        let n = m.next_state(&cur, a).expect("enabled");
        lines.push(format!(
            "{:<10} | {:<70} | {}",
            a.actor().to_string(),
            model::describe::step_label(&m, &cur, a),
            model::describe::changes(&m, &cur, &n).join("; ")
        ));
        cur = n;
    }
    println!("fresh split race, proc0 gets SIGBUS:\n{}", lines.join("\n"));
    let s2split = shortest_path(row("hugetlb@enomem"), |s| {
        matches!(s.conv[0].result.get(), Some(ConvResult::Enomem { .. })) && s.pages[0].s2_huge != 0
    });
    println!("\nstage-2 split ENOMEM:\n{}", s2split.join("\n"));
    let enomem = shortest_path(row("hugetlb@enomem"), |s| {
        s.conv[0].enomem_seen && s.conv[0].result.get() == Some(ConvResult::Ok)
    });
    println!("\nENOMEM then retry:\n{}", enomem.join("\n"));
    let vmemmap = shortest_path(row("hugetlb@enomem"), |s| {
        matches!(s.conv[0].result.get(), Some(ConvResult::Enomem { .. })) && s.pages[0].s2_huge == 0
    });
    println!("\nvmemmap restore ENOMEM:\n{}", vmemmap.join("\n"));
}
