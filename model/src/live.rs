//! Fairness for the liveness pass: every actor is weakly fair for the steps
//! of an operation it has started ("an actor that can always finish what it
//! started": faults complete, short-term pins drop, the converter runs, the
//! LRU drains when the converter asks). Starting a new operation is the
//! environment's choice and is not fair. A long-term pin held forever simply
//! has no release step, so fairness cannot force it.

use crate::actors::Action;
use crate::model::GmemModel;
use crate::properties;
use crate::state::State;
use invariants::PropertyId;
use liveness::{FairClass, FairModel, FairnessDecl, Options, Report};

impl FairModel for GmemModel {
    fn fairness_class(&self, action: &Action) -> Option<FairClass> {
        match action {
            Action::Start(_) => None,
            Action::Step(a) => Some(a.tid() as FairClass),
        }
    }

    fn fairness_decls(&self) -> Vec<FairnessDecl> {
        self.actors()
            .into_iter()
            .map(|a| FairnessDecl::weak(a.tid() as FairClass, format!("WF({a})")))
            .collect()
    }
}

/// Check one liveness property: no fair behaviour stays pending forever.
pub fn check(m: &GmemModel, id: PropertyId, opts: &Options) -> Report<State, Action> {
    liveness::check(m, |s| properties::eval(m, s, id), opts)
}
