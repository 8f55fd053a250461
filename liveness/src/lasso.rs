//! Counterexamples of liveness: a stem from an init state to an entry state, and a closed
//! walk of real transitions that repeats forever (TLC prints the same prefix +
//! cycle shape, "Back to state i"; ITF stores it with `loop`, Apalache ADR-015).

use crate::fairness::{FairClass, Fairness};
use serde::Serialize;
use stateright::{Model, Path};
use std::fmt::{self, Debug, Display};

/// One transition of a lasso.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Step<S, A> {
    pub action: A,
    /// Index of `action` in `model.actions(previous state)`, ignored actions included, as
    /// Stateright's `Path::encode` and Explorer URLs count them.
    pub action_index: usize,
    pub class: Option<FairClass>,
    /// The state after the action.
    pub state: S,
}

/// How one fairness class is satisfied on the loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum WitnessKind {
    /// `cycle[cycle_step]` is an action of the class.
    Taken { cycle_step: usize },
    /// The class is disabled in loop state `cycle_state` (see [`Lasso::cycle_state`]).
    Disabled { cycle_state: usize },
}

/// Why the loop is fair with respect to one declared class.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Witness {
    pub class: FairClass,
    pub name: String,
    pub kind: Fairness,
    pub how: WitnessKind,
}

/// A fair behaviour that stays pending forever: `init --stem--> entry`, then `cycle`
/// from `entry` back to `entry`, repeated forever.
///
/// Every step is a real transition of the model (`state != previous`), every loop state is
/// pending, and `witnesses` discharges every declared fairness class. If `stuttering`, the
/// loop is empty: the behaviour stays at `entry`, where every fair class is disabled.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Lasso<S, A> {
    /// Index of `init` in `model.init_states()`.
    pub init_index: usize,
    pub init: S,
    pub stem: Vec<Step<S, A>>,
    pub cycle: Vec<Step<S, A>>,
    pub witnesses: Vec<Witness>,
    pub stuttering: bool,
}

impl<S, A> Lasso<S, A> {
    /// The state where the loop starts and ends: the last stem state, or `init`.
    pub fn entry(&self) -> &S {
        self.stem.last().map_or(&self.init, |step| &step.state)
    }

    /// Loop state `j`: `0` is the entry, `j > 0` is the state after `cycle[j - 1]`.
    pub fn cycle_state(&self, j: usize) -> &S {
        match j {
            0 => self.entry(),
            j => &self.cycle[j - 1].state,
        }
    }

    /// Actions of the stem followed by one unrolling of the loop, for
    /// `Path::from_actions(&model, lasso.init.clone(), &actions)`.
    pub fn explorer_actions(&self) -> Vec<A>
    where
        A: Clone,
    {
        self.steps().map(|step| step.action.clone()).collect()
    }

    /// Stateright Explorer path of stem + one loop unrolling, `init/a1/a2/...` (append to
    /// `http://HOST:PORT/#/steps/`). Equal to `Path::encode` when actions are distinct.
    pub fn explorer_path(&self) -> String {
        std::iter::once(self.init_index)
            .chain(self.steps().map(|step| step.action_index))
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join("/")
    }

    /// The stem + one loop unrolling as a Stateright [`Path`], or `None` if the model does
    /// not replay it (which would mean the model is not deterministic).
    pub fn to_path<M>(&self, model: &M) -> Option<Path<S, A>>
    where
        M: Model<State = S, Action = A>,
        S: Clone + PartialEq,
        A: PartialEq,
    {
        let actions = self.steps().map(|step| &step.action);
        Path::from_actions(model, self.init.clone(), actions)
    }

    fn steps(&self) -> impl Iterator<Item = &Step<S, A>> {
        self.stem.iter().chain(&self.cycle)
    }

    /// Text rendering with caller-chosen formatting (e.g. `Model::format_action`).
    pub fn render_with(
        &self,
        state: impl Fn(&S) -> String,
        action: impl Fn(&A) -> String,
    ) -> String {
        let mut out = format!("stem (init state #{}):\n", self.init_index);
        out += &format!("  init: {}\n", state(&self.init));
        for (k, step) in self.stem.iter().enumerate() {
            out += &format!(
                "  [{k}] {} -> {}\n",
                action(&step.action),
                state(&step.state)
            );
        }
        if self.stuttering {
            out += "loop: stutters forever at the last stem state (every fair class is disabled there)\n";
        } else {
            out += "loop (from the last stem state, back to it, forever):\n";
            for (k, step) in self.cycle.iter().enumerate() {
                out += &format!(
                    "  [{k}] {} -> {}\n",
                    action(&step.action),
                    state(&step.state)
                );
            }
        }
        let witnesses: Vec<String> = self
            .witnesses
            .iter()
            .map(|w| match w.how {
                WitnessKind::Taken { cycle_step } => {
                    format!("{} taken at loop step {cycle_step}", w.name)
                }
                WitnessKind::Disabled { cycle_state } => {
                    format!("{} disabled at loop state {cycle_state}", w.name)
                }
            })
            .collect();
        if witnesses.is_empty() {
            out += "fairness witnesses: none (no fairness declared)\n";
        } else {
            out += &format!("fairness witnesses: {}\n", witnesses.join("; "));
        }
        out
    }
}

impl<S: Debug, A: Debug> Display for Lasso<S, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render_with(|s| format!("{s:?}"), |a| format!("{a:?}")))
    }
}
