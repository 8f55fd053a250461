//! Small hand-made graphs whose answer is known.

mod common;

use common::{assert_replays, Go, GraphModel};
use liveness::{check, Options, Verdict, WitnessKind};

const A: u16 = 10;
const B: u16 = 20;
const C: u16 = 30;

fn no_bounds() -> Options {
    Options::default()
}

#[test]
fn fair_cycle_that_never_leaves_pending_is_a_violation() {
    // 0 -> 1 (unfair), then 1 <-> 2 by A and B; C can leave, but only from 1.
    let m = GraphModel::new(
        &[0],
        &[
            (0, 1, None),
            (1, 2, Some(A)),
            (2, 1, Some(B)),
            (1, 9, Some(C)),
        ],
    )
    .weak(A, "A")
    .weak(B, "B")
    .weak(C, "C");
    let pending = |s: &u8| *s == 1 || *s == 2;
    let report = check(&m, pending, &no_bounds());
    let lasso = report.lasso().expect("violation");
    assert_replays(&m, lasso, pending);
    assert!(!lasso.stuttering);
    assert_eq!(lasso.init_index, 0);
    assert_eq!(lasso.stem.iter().map(|s| s.state).collect::<Vec<_>>(), [1]);
    assert_eq!(
        lasso.cycle.iter().map(|s| s.state).collect::<Vec<_>>(),
        [2, 1]
    );
    let hows: Vec<_> = lasso.witnesses.iter().map(|w| w.how).collect();
    assert_eq!(
        hows,
        [
            WitnessKind::Taken { cycle_step: 0 },
            WitnessKind::Taken { cycle_step: 1 },
            WitnessKind::Disabled { cycle_state: 1 },
        ]
    );
    let text = lasso.to_string();
    assert!(text.contains("fairness witnesses: A taken at loop step 0; B taken at loop step 1; C disabled at loop state 1"), "{text}");
    assert_eq!(lasso.explorer_path(), "0/0/0/0");
    assert_eq!((report.states, report.edges), (4, 4));
}

#[test]
fn unfair_cycle_is_not_a_violation() {
    // 0 <-> 1 by B, while A (leave to 2) is enabled in both and never taken.
    let edges = [
        (0, 1, Some(B)),
        (1, 0, Some(B)),
        (0, 2, Some(A)),
        (1, 2, Some(A)),
    ];
    let pending = |s: &u8| *s < 2;
    let fair = GraphModel::new(&[0], &edges).weak(A, "A").weak(B, "B");
    let report = check(&fair, pending, &no_bounds());
    assert_eq!(report.verdict, Verdict::Holds);
    assert_eq!(report.sccs_examined, 1);

    // Without fairness on A the same cycle is a legitimate counterexample.
    let edges = edges.map(|(s, t, c)| (s, t, c.filter(|&c| c != A)));
    let unfair = GraphModel::new(&[0], &edges).weak(B, "B");
    let report = check(&unfair, pending, &no_bounds());
    assert_replays(&unfair, report.lasso().expect("violation"), pending);
}

#[test]
fn deadlock_is_a_stuttering_violation() {
    let m = GraphModel::new(&[0], &[(0, 1, Some(A))]).weak(A, "A");
    let pending = |s: &u8| *s == 1;
    let report = check(&m, pending, &no_bounds());
    let lasso = report.lasso().expect("violation");
    assert_replays(&m, lasso, pending);
    assert!(lasso.stuttering && lasso.cycle.is_empty());
    assert_eq!(*lasso.entry(), 1);
    assert_eq!(
        lasso.witnesses[0].how,
        WitnessKind::Disabled { cycle_state: 0 }
    );
    assert!(lasso.to_string().contains("stutters forever"));
}

#[test]
fn only_unfair_actions_enabled_is_a_stuttering_violation() {
    // 1 <-> 2 are unfair moves, so nothing forces progress at 1.
    let m = GraphModel::new(
        &[1],
        &[(1, 2, None), (2, 1, None), (1, 3, None), (2, 3, Some(A))],
    )
    .weak(A, "A");
    let pending = |s: &u8| *s != 3;
    let lasso = check(&m, pending, &no_bounds())
        .lasso()
        .cloned()
        .expect("violation");
    assert_replays(&m, &lasso, pending);
    assert!(lasso.stuttering);
    assert_eq!(*lasso.entry(), 1);
}

#[test]
fn strong_fairness_forbids_an_intermittently_enabled_class_from_starving() {
    // 0 <-> 1 by B; A leaves pending, but is enabled only at 0.
    let edges = [(0, 1, Some(B)), (1, 0, Some(B)), (0, 2, Some(A))];
    let pending = |s: &u8| *s < 2;

    let weak = GraphModel::new(&[0], &edges).weak(A, "A").weak(B, "B");
    let report = check(&weak, pending, &no_bounds());
    let lasso = report.lasso().expect("WF allows the loop");
    assert_replays(&weak, lasso, pending);
    assert_eq!(
        lasso.witnesses[0].how,
        WitnessKind::Disabled { cycle_state: 1 }
    );

    let strong = GraphModel::new(&[0], &edges).strong(A, "A").weak(B, "B");
    let report = check(&strong, pending, &no_bounds());
    assert_eq!(report.verdict, Verdict::Holds);
}

#[test]
fn strong_fairness_refinement_finds_the_inner_fair_cycle() {
    // Outer SCC {0,1,2}: A enabled only at 0 and never taken inside; after removing 0,
    // the inner cycle 1 <-> 2 is fair on its own.
    let edges = [
        (0, 1, Some(B)),
        (1, 0, Some(B)),
        (1, 2, Some(B)),
        (2, 1, Some(B)),
        (0, 3, Some(A)),
    ];
    let m = GraphModel::new(&[0], &edges).strong(A, "A").weak(B, "B");
    let pending = |s: &u8| *s < 3;
    let report = check(&m, pending, &no_bounds());
    let lasso = report.lasso().expect("violation");
    assert_replays(&m, lasso, pending);
    assert_eq!(*lasso.entry(), 1);
    assert!(lasso.cycle.iter().all(|s| s.state != 0));
    assert_eq!(report.sccs_examined, 2);
}

#[test]
fn self_loops_neither_witness_nor_enable() {
    // A only stutters at 1 (a self-loop): it is not enabled there, so staying in the
    // B loop 1 <-> 2 is fair, and A is witnessed as disabled, not taken.
    let m = GraphModel::new(&[1], &[(1, 1, Some(A)), (1, 2, Some(B)), (2, 1, Some(B))])
        .weak(A, "A")
        .weak(B, "B");
    let pending = |_: &u8| true;
    let report = check(&m, pending, &no_bounds());
    let lasso = report.lasso().expect("violation");
    assert_replays(&m, lasso, pending);
    assert!(!lasso.stuttering);
    assert_eq!(
        lasso.witnesses[0].how,
        WitnessKind::Disabled { cycle_state: 0 }
    );
    assert_eq!(
        lasso.cycle[0].action_index, 1,
        "index counts the self-loop action"
    );
    assert_eq!(report.edges, 2);
}

/// 0 -> 1 -> 2 -> 3, then a fair pending loop 3 <-> 4.
fn chain_to_loop() -> GraphModel {
    GraphModel::new(
        &[0],
        &[
            (0, 1, None),
            (1, 2, None),
            (2, 3, None),
            (3, 4, Some(A)),
            (4, 3, Some(A)),
        ],
    )
    .weak(A, "A")
}

#[test]
fn truncation_before_the_violation_is_incomplete_never_holds() {
    let pending = |s: &u8| *s >= 3;
    let full = check(&chain_to_loop(), pending, &no_bounds());
    assert_replays(&chain_to_loop(), full.lasso().expect("violation"), pending);

    let capped = check(
        &chain_to_loop(),
        pending,
        &Options {
            max_states: Some(3),
            ..Default::default()
        },
    );
    match &capped.verdict {
        Verdict::Incomplete { reason } => assert!(reason.contains("max_states = 3"), "{reason}"),
        v => panic!("expected Incomplete, got {v:?}"),
    }
    assert_eq!((capped.states, capped.truncated_states), (3, 1));

    let bounded = GraphModel {
        boundary: Some(3),
        ..chain_to_loop()
    };
    match check(&bounded, pending, &no_bounds()).verdict {
        Verdict::Incomplete { reason } => assert!(reason.contains("within_boundary"), "{reason}"),
        v => panic!("expected Incomplete, got {v:?}"),
    }
}

#[test]
fn stuttering_at_a_truncated_state_is_not_a_violation() {
    // The cap stores states 0..=3: 3 is pending and looks like a deadlock, but its
    // successor 4 was not stored, so it is truncated and proves nothing.
    let pending = |s: &u8| *s >= 3;
    let report = check(
        &chain_to_loop(),
        pending,
        &Options {
            max_states: Some(4),
            ..Default::default()
        },
    );
    assert!(
        matches!(report.verdict, Verdict::Incomplete { .. }),
        "{:?}",
        report.verdict
    );
}

#[test]
fn violation_found_before_the_bound_is_reported() {
    // The fair loop 0 <-> 1 is fully explored; the cap only cuts the tail 2 -> 3 -> 4.
    let m = GraphModel::new(
        &[0],
        &[
            (0, 1, Some(A)),
            (1, 0, Some(A)),
            (0, 2, None),
            (2, 3, None),
            (3, 4, None),
        ],
    )
    .weak(A, "A");
    let pending = |s: &u8| *s < 2;
    let report = check(
        &m,
        pending,
        &Options {
            max_states: Some(3),
            ..Default::default()
        },
    );
    assert!(report.truncated_states > 0);
    assert_replays(
        &m,
        report.lasso().expect("sound violation despite the cap"),
        pending,
    );
}

#[test]
fn lasso_is_deterministic_and_picks_the_earliest_entry() {
    // Two fair pending loops; the one reached first by BFS (entry 1) is reported.
    let m = GraphModel::new(
        &[0, 7],
        &[
            (0, 5, None),
            (0, 1, None),
            (5, 6, Some(A)),
            (6, 5, Some(A)),
            (1, 2, Some(A)),
            (2, 1, Some(A)),
        ],
    )
    .weak(A, "A");
    let pending = |s: &u8| *s != 0;
    let first = check(&m, pending, &no_bounds());
    let second = check(&m.clone(), pending, &no_bounds());
    assert_eq!(first.verdict, second.verdict);
    // 7 is an init state with no successors: stuttering there has the shortest stem.
    let lasso = first.lasso().expect("violation");
    assert_replays(&m, lasso, pending);
    assert_eq!((lasso.init_index, lasso.stuttering), (1, true));

    let pending = |s: &u8| *s != 0 && *s != 7;
    let lasso = check(&m, pending, &no_bounds())
        .lasso()
        .cloned()
        .expect("violation");
    assert_replays(&m, &lasso, pending);
    assert_eq!(*lasso.entry(), 5, "5 is discovered before 1 (action order)");
}

#[test]
fn report_serializes_to_json() {
    let m = GraphModel::new(&[0], &[(0, 1, Some(A)), (1, 0, Some(A))]).weak(A, "A");
    let report = check(&m, |_| true, &no_bounds());
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(
        json["verdict"]["Violated"]["cycle"][0]["action"],
        serde_json::json!(Go {
            to: 1,
            class: Some(A)
        })
    );
    assert!(report
        .summary()
        .starts_with("VIOLATED (loop of 2 steps); 2 states, 2 edges"));
}

#[test]
fn no_fairness_makes_every_pending_state_a_deadlock() {
    let m = GraphModel::new(&[0], &[(0, 1, None), (1, 0, None)]);
    let lasso = check(&m, |s| *s == 1, &no_bounds())
        .lasso()
        .cloned()
        .unwrap();
    assert!(lasso.stuttering);
    assert!(lasso.to_string().contains("fairness witnesses: none"));
}
