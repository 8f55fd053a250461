//! A long cycle: the SCC search and the lasso construction must not recurse per state.

mod common;

use common::assert_replays;
use liveness::{check, FairClass, FairModel, FairnessDecl, Options};
use stateright::Model;

/// `0 -> 1 -> ... -> n-1 -> 0` by a weakly fair `Tick`, plus an unfair `Skip` to `n`.
struct Ring(u32);

impl Model for Ring {
    type State = u32;
    type Action = &'static str;

    fn init_states(&self) -> Vec<u32> {
        vec![0]
    }

    fn actions(&self, s: &u32, actions: &mut Vec<&'static str>) {
        if *s < self.0 {
            actions.extend(["Tick", "Skip"]);
        }
    }

    fn next_state(&self, s: &u32, a: &'static str) -> Option<u32> {
        Some(match a {
            "Tick" => (s + 1) % self.0,
            _ => self.0,
        })
    }
}

impl liveness::InPlace for Ring {}
impl FairModel for Ring {
    fn fairness_class(&self, _: &u32, a: &&'static str) -> Option<FairClass> {
        (*a == "Tick").then_some(0)
    }

    fn fairness_decls(&self) -> Vec<FairnessDecl> {
        vec![FairnessDecl::weak(0, "Tick")]
    }
}

#[test]
fn ring_of_200k_states() {
    let m = Ring(200_000);
    let pending = |s: &u32| *s < 200_000;
    let report = check(&m, pending, &Options::default());
    println!("{}", report.summary());
    assert_eq!((report.states, report.edges), (200_001, 400_000));
    let lasso = report.lasso().expect("violation");
    assert_eq!((lasso.stem.len(), lasso.cycle.len()), (0, 200_000));
    assert_replays(&m, lasso, pending);
    assert!(report.approx_bytes > 200_000 * 8);
}

#[test]
#[should_panic(expected = "fairness class 0 is returned by fairness_class but not declared")]
fn undeclared_class_is_a_model_bug() {
    struct NoDecls;
    impl Model for NoDecls {
        type State = u32;
        type Action = &'static str;
        fn init_states(&self) -> Vec<u32> {
            vec![0]
        }
        fn actions(&self, _: &u32, actions: &mut Vec<&'static str>) {
            actions.push("Tick");
        }
        fn next_state(&self, s: &u32, _: &'static str) -> Option<u32> {
            Some(s + 1)
        }
    }
    impl liveness::InPlace for NoDecls {}
    impl FairModel for NoDecls {
        fn fairness_class(&self, _: &u32, _: &&'static str) -> Option<FairClass> {
            Some(0)
        }
        fn fairness_decls(&self) -> Vec<FairnessDecl> {
            vec![]
        }
    }
    check(
        &NoDecls,
        |_| true,
        &Options {
            max_states: Some(3),
            ..Default::default()
        },
    );
}
