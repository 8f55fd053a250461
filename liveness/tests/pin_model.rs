//! The prototype this crate grew from: a conversion waits for short-term pins of two
//! holders to drop. If new pins may arrive while the conversion is pending, pins can
//! overlap forever (each holder releasing fairly) and the conversion starves.

mod common;

use common::assert_replays;
use liveness::{check, FairClass, FairModel, FairnessDecl, Options, Verdict, WitnessKind};
use stateright::Model;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Pins {
    pinned: [bool; 2],
    requested: bool,
    converted: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Act {
    Pin(usize),
    Release(usize),
    Request,
    Convert,
}

struct PinModel {
    /// The fix: no new pins while a conversion is pending.
    block_pins_while_pending: bool,
    converter_fair: bool,
    converter_strong: bool,
}

impl PinModel {
    fn new(block_pins_while_pending: bool) -> Self {
        PinModel {
            block_pins_while_pending,
            converter_fair: true,
            converter_strong: false,
        }
    }
}

const CONVERTER: FairClass = 2;

fn pending(s: &Pins) -> bool {
    s.requested && !s.converted
}

impl Model for PinModel {
    type State = Pins;
    type Action = Act;

    fn init_states(&self) -> Vec<Pins> {
        vec![Pins {
            pinned: [false; 2],
            requested: false,
            converted: false,
        }]
    }

    fn actions(&self, s: &Pins, actions: &mut Vec<Act>) {
        for h in 0..2 {
            if s.pinned[h] {
                actions.push(Act::Release(h));
            } else if !(self.block_pins_while_pending && pending(s)) {
                actions.push(Act::Pin(h));
            }
        }
        if !s.requested {
            actions.push(Act::Request);
        }
        if pending(s) && s.pinned == [false; 2] {
            actions.push(Act::Convert);
        }
    }

    fn next_state(&self, s: &Pins, a: Act) -> Option<Pins> {
        let mut t = s.clone();
        match a {
            Act::Pin(h) => t.pinned[h] = true,
            Act::Release(h) => t.pinned[h] = false,
            Act::Request => t.requested = true,
            Act::Convert => t.converted = true,
        }
        Some(t)
    }
}

impl liveness::InPlace for PinModel {}
impl FairModel for PinModel {
    fn fairness_class(&self, _: &Self::State, a: &Act) -> Option<FairClass> {
        match a {
            Act::Release(h) => Some(*h as FairClass),
            Act::Convert if self.converter_fair => Some(CONVERTER),
            _ => None,
        }
    }

    fn fairness_decls(&self) -> Vec<FairnessDecl> {
        let mut decls = vec![
            FairnessDecl::weak(0, "ReleasePin(h0)"),
            FairnessDecl::weak(1, "ReleasePin(h1)"),
        ];
        if self.converter_strong {
            decls.push(FairnessDecl::strong(CONVERTER, "Convert"));
        } else if self.converter_fair {
            decls.push(FairnessDecl::weak(CONVERTER, "Convert"));
        }
        decls
    }
}

#[test]
fn new_pins_while_pending_starve_the_conversion() {
    let m = PinModel::new(false);
    let report = check(&m, pending, &Options::default());
    assert_eq!((report.states, report.edges), (12, 29));
    let lasso = report.lasso().expect("violation");
    assert_replays(&m, lasso, pending);
    assert_eq!(lasso.explorer_actions()[0], Act::Request);
    assert!(lasso.cycle.iter().all(|s| s.action != Act::Convert));
    // Weak fairness on Convert is met because it is disabled somewhere on the loop.
    assert!(matches!(
        lasso.witnesses[2].how,
        WitnessKind::Disabled { .. }
    ));
    println!("{}\n{}", report.summary(), lasso);
}

#[test]
fn strongly_fair_converter_still_starves_under_overlapping_pins() {
    // SF(Convert) removes the unpinned state from the loop; what remains is the classic
    // bug: holders take turns so that some pin is always held.
    let m = PinModel {
        converter_strong: true,
        ..PinModel::new(false)
    };
    let report = check(&m, pending, &Options::default());
    let lasso = report.lasso().expect("violation");
    assert_replays(&m, lasso, pending);
    for j in 0..lasso.cycle.len() {
        assert_ne!(
            lasso.cycle_state(j).pinned,
            [false; 2],
            "a pin is always held"
        );
    }
    let taken = |w: &liveness::Witness| matches!(w.how, WitnessKind::Taken { .. });
    assert!(taken(&lasso.witnesses[0]) && taken(&lasso.witnesses[1]));
}

#[test]
fn blocking_pins_while_pending_makes_conversion_complete() {
    let report = check(&PinModel::new(true), pending, &Options::default());
    assert_eq!(report.verdict, Verdict::Holds);
    assert_eq!((report.states, report.edges), (12, 25));
}

#[test]
fn unfair_converter_is_a_stuttering_counterexample() {
    // Without WF on the converter, "everything is released but it never runs" is a
    // legitimate behaviour (an action without WF may never be taken: Lamport,
    // "Specifying Systems", ch. 8).
    let m = PinModel {
        converter_fair: false,
        ..PinModel::new(true)
    };
    let report = check(&m, pending, &Options::default());
    let lasso = report.lasso().expect("violation");
    assert_replays(&m, lasso, pending);
    assert!(lasso.stuttering);
    assert_eq!(lasso.entry().pinned, [false; 2]);
}

#[test]
fn same_model_gives_the_same_lasso() {
    let a = check(&PinModel::new(false), pending, &Options::default());
    let b = check(&PinModel::new(false), pending, &Options::default());
    assert_eq!(a.verdict, b.verdict);
    assert_eq!(
        a.lasso().unwrap().to_string(),
        b.lasso().unwrap().to_string()
    );
}
