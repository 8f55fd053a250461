//! Cases where Stateright's own `eventually` reports nothing, yet a violation exists
//! (stateright 0.31.0 src/checker.rs, `fixme_can_miss_counterexample_when_revisiting_a_state`).
//! Stateright's verdicts are asserted too, so that a future
//! Stateright fix shows up here.

mod common;

use common::{assert_replays, GraphModel};
use liveness::{check, Options};
use stateright::{Checker, Model};

const STEP: u16 = 1;

/// Runs Stateright's DFS and BFS checkers; returns whether each found a discovery for the
/// `eventually` property "goal".
fn stateright_finds(m: &GraphModel, states: usize) -> (bool, bool) {
    let dfs = m.clone().checker().spawn_dfs().join();
    let bfs = m.clone().checker().spawn_bfs().join();
    for c in [&dfs as &dyn Checker<GraphModel>, &bfs] {
        assert!(c.is_done());
        assert_eq!(
            c.unique_state_count(),
            states,
            "Stateright explored the whole graph"
        );
    }
    (
        dfs.discovery("goal").is_some(),
        bfs.discovery("goal").is_some(),
    )
}

#[test]
fn dag_join_hides_the_violation_from_stateright_dfs() {
    // 0 -> 2 -> 3 and 0 -> 1 -> 4 -> 3, goal = {4}. DFS explores 0,1,4,3 first (goal seen),
    // then 2 -> 3 is pruned as "already generated": the path 0,2,3 that never reaches the
    // goal and ends in the deadlock 3 is lost.
    let m = GraphModel {
        goals: vec![4],
        ..GraphModel::new(
            &[0],
            &[
                (0, 2, Some(STEP)),
                (0, 1, Some(STEP)),
                (1, 4, Some(STEP)),
                (4, 3, Some(STEP)),
                (2, 3, Some(STEP)),
            ],
        )
        .weak(STEP, "Step")
    };
    // (BFS happens to reach 3 via 2 first here, so only DFS is fooled.)
    let (dfs, _bfs) = stateright_finds(&m, 5);
    assert!(!dfs, "Stateright DFS misses the DAG-join violation");

    let pending = |s: &u8| *s != 4;
    let report = check(&m, pending, &Options::default());
    let lasso = report.lasso().expect("liveness finds it");
    assert_replays(&m, lasso, pending);
    assert!(lasso.stuttering);
    assert_eq!(lasso.init, 0);
    let visited: Vec<u8> = lasso.stem.iter().map(|s| s.state).collect();
    assert_eq!(visited, [2, 3], "the stem avoids the goal");
}

#[test]
fn pure_cycle_hides_the_violation_from_stateright() {
    // 0 -> 1 -> 0 forever; the goal 2 is never reached.
    let m = GraphModel {
        goals: vec![2],
        ..GraphModel::new(&[0], &[(0, 1, Some(STEP)), (1, 0, Some(STEP))]).weak(STEP, "Step")
    };
    assert_eq!(
        stateright_finds(&m, 2),
        (false, false),
        "both checkers miss it"
    );

    let pending = |s: &u8| *s != 2;
    let report = check(&m, pending, &Options::default());
    let lasso = report.lasso().expect("liveness finds it");
    assert_replays(&m, lasso, pending);
    assert!(lasso.stem.is_empty());
    assert_eq!(
        lasso.cycle.iter().map(|s| s.state).collect::<Vec<_>>(),
        [1, 0]
    );
}

#[test]
fn both_agree_when_the_goal_is_always_reached() {
    // Sanity for the helper: no false alarms on either side.
    let m = GraphModel {
        goals: vec![1],
        ..GraphModel::new(&[0], &[(0, 1, Some(STEP))]).weak(STEP, "Step")
    };
    assert_eq!(m.init_states(), [0]);
    assert_eq!(stateright_finds(&m, 2), (false, false));
    let report = check(&m, |s| *s != 1, &Options::default());
    assert!(report.holds(), "{}", report.summary());
}
