//! Shared test fixtures: a model given as an explicit edge list, and a lasso replayer.
#![allow(dead_code)] // each test binary uses a different subset

use liveness::{FairClass, FairModel, FairnessDecl, Lasso, WitnessKind};
use serde::Serialize;
use stateright::{Model, Property};
use std::fmt::Debug;

/// Move to state `to`; fair iff `class` is `Some`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Go {
    pub to: u8,
    pub class: Option<FairClass>,
}

/// A model whose states are `u8` and whose transitions are listed explicitly, in action
/// order. `goals` feeds a Stateright `eventually` property, for comparison.
#[derive(Clone, Debug, Default)]
pub struct GraphModel {
    pub inits: Vec<u8>,
    pub edges: Vec<(u8, u8, Option<FairClass>)>,
    pub decls: Vec<FairnessDecl>,
    /// States `>= boundary` are outside `within_boundary`.
    pub boundary: Option<u8>,
    pub goals: Vec<u8>,
}

impl GraphModel {
    pub fn new(inits: &[u8], edges: &[(u8, u8, Option<FairClass>)]) -> Self {
        GraphModel {
            inits: inits.to_vec(),
            edges: edges.to_vec(),
            ..Default::default()
        }
    }

    pub fn weak(mut self, class: FairClass, name: &str) -> Self {
        self.decls.push(FairnessDecl::weak(class, name));
        self
    }

    pub fn strong(mut self, class: FairClass, name: &str) -> Self {
        self.decls.push(FairnessDecl::strong(class, name));
        self
    }
}

impl Model for GraphModel {
    type State = u8;
    type Action = Go;

    fn init_states(&self) -> Vec<u8> {
        self.inits.clone()
    }

    fn actions(&self, s: &u8, actions: &mut Vec<Go>) {
        for &(src, to, class) in &self.edges {
            if src == *s {
                actions.push(Go { to, class });
            }
        }
    }

    fn next_state(&self, _: &u8, action: Go) -> Option<u8> {
        Some(action.to)
    }

    fn within_boundary(&self, s: &u8) -> bool {
        self.boundary.is_none_or(|b| *s < b)
    }

    fn properties(&self) -> Vec<Property<Self>> {
        vec![Property::eventually("goal", |m: &GraphModel, s| {
            m.goals.contains(s)
        })]
    }
}

impl liveness::InPlace for GraphModel {}
impl FairModel for GraphModel {
    fn fairness_class(&self, _: &u8, action: &Go) -> Option<FairClass> {
        action.class
    }

    fn fairness_decls(&self) -> Vec<FairnessDecl> {
        self.decls.clone()
    }
}

/// Replays a lasso through the model and checks everything it claims: it starts at the
/// named init state, every step is the indexed action and a real transition, the loop
/// closes at the entry and stays pending, the witnesses hold, and Stateright accepts the
/// path with the same Explorer encoding.
pub fn assert_replays<M>(
    model: &M,
    lasso: &Lasso<M::State, M::Action>,
    pending: impl Fn(&M::State) -> bool,
) where
    M: FairModel,
    M::State: Clone + Eq + Debug,
    M::Action: Clone + PartialEq + Debug,
{
    assert_eq!(model.init_states()[lasso.init_index], lasso.init);
    let mut cur = lasso.init.clone();
    for step in lasso.stem.iter().chain(&lasso.cycle) {
        let mut actions = Vec::new();
        model.actions(&cur, &mut actions);
        assert_eq!(actions[step.action_index], step.action);
        assert_eq!(model.fairness_class(&cur, &step.action), step.class);
        let next = model
            .next_state(&cur, step.action.clone())
            .expect("ignored action");
        assert_ne!(next, cur, "stuttering step in a lasso");
        assert_eq!(next, step.state);
        cur = next;
    }
    assert_eq!(&cur, lasso.entry(), "loop does not close at the entry");
    assert_eq!(lasso.stuttering, lasso.cycle.is_empty());
    for j in 0..lasso.cycle.len().max(1) {
        assert!(
            pending(lasso.cycle_state(j)),
            "loop state {j} is not pending"
        );
    }

    let decls = model.fairness_decls();
    assert_eq!(lasso.witnesses.len(), decls.len());
    for (w, d) in lasso.witnesses.iter().zip(&decls) {
        assert_eq!((w.class, &w.name), (d.class, &d.name));
        match w.how {
            WitnessKind::Taken { cycle_step } => {
                assert_eq!(lasso.cycle[cycle_step].class, Some(w.class))
            }
            WitnessKind::Disabled { cycle_state } => {
                let s = lasso.cycle_state(cycle_state);
                let enabled = model
                    .next_steps(s)
                    .into_iter()
                    .any(|(a, t)| model.fairness_class(s, &a) == Some(w.class) && t != *s);
                assert!(
                    !enabled,
                    "{} is enabled at loop state {cycle_state}",
                    w.name
                );
            }
        }
    }

    let path = lasso
        .to_path(model)
        .expect("Stateright cannot replay the lasso");
    assert_eq!(path.encode(model), lasso.explorer_path());
    assert_eq!(path.into_actions(), lasso.explorer_actions());
}
