//! A counterexample or example path through the model: init state, steps
//! (with the action indices explorer URLs use), and for lassos where the loop starts.

use liveness::{Lasso, WitnessKind};
use model::{Action, GmemModel, State};
use stateright::Model;

#[derive(Clone, Debug)]
pub struct Step {
    pub action: Action,
    /// Index into `model.actions(previous state)` (ignored actions included), as
    /// Stateright's `Path::encode` counts it.
    pub action_index: usize,
    /// The state after the action.
    pub state: State,
}

#[derive(Clone, Debug)]
pub struct Trace {
    pub init_index: usize,
    pub init: State,
    /// For a lasso: the stem, then one full unrolling of the loop (whose last
    /// step returns to the loop's first state).
    pub steps: Vec<Step>,
    /// Lasso only: the index (0 = init) of the state where the loop starts.
    pub loop_start: Option<usize>,
    /// Lasso only: why the loop is fair, one line per fairness class.
    pub witnesses: Vec<String>,
}

impl Trace {
    /// State `i`: 0 is the initial state, `i > 0` the state after step `i - 1`.
    pub fn state(&self, i: usize) -> &State {
        match i {
            0 => &self.init,
            i => &self.steps[i - 1].state,
        }
    }

    /// The distinct states written to a trace file: every state, except that a
    /// lasso's last state (equal to the loop start) is not repeated.
    pub fn distinct_states(&self) -> usize {
        match self.loop_start {
            Some(l) if self.steps.len() > l => self.steps.len(),
            _ => self.steps.len() + 1,
        }
    }

    pub fn actions(&self) -> Vec<Action> {
        self.steps.iter().map(|s| s.action).collect()
    }

    /// `init/a1/a2/...`, the path part of an explorer URL.
    pub fn explorer_path(&self) -> String {
        std::iter::once(self.init_index)
            .chain(self.steps.iter().map(|s| s.action_index))
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join("/")
    }

    pub fn from_lasso(m: &GmemModel, l: &Lasso<State, Action>) -> Trace {
        let step = |s: &liveness::Step<State, Action>| Step {
            action: s.action,
            action_index: s.action_index,
            state: s.state,
        };
        let steps: Vec<Step> = l.stem.iter().chain(&l.cycle).map(step).collect();
        let loop_start = l.stem.len();
        let mut witnesses: Vec<String> = l
            .witnesses
            .iter()
            .map(|w| match w.how {
                WitnessKind::Taken { cycle_step } => {
                    let k = loop_start + cycle_step;
                    format!(
                        "{}: taken at step {} ({})",
                        w.name,
                        k + 1,
                        model::describe::step_label(m, replayed_state(l, k), steps[k].action)
                    )
                }
                // A strongly fair class enabled anywhere on the loop must be
                // taken there (the search refines such loops away).
                WitnessKind::Disabled { .. } if w.kind == liveness::Fairness::Strong => format!(
                    "{}: disabled throughout the loop (strong fairness: never enabled there)",
                    w.name
                ),
                WitnessKind::Disabled { cycle_state } => format!(
                    "{}: disabled at state {} (none of its steps can change the state there)",
                    w.name,
                    loop_start + cycle_state
                ),
            })
            .collect();
        if l.stuttering {
            witnesses.insert(
                0,
                "the loop is stuttering: every fair actor is disabled in the last state".into(),
            );
        }
        Trace {
            init_index: l.init_index,
            init: l.init,
            steps,
            loop_start: Some(loop_start),
            witnesses,
        }
    }
}

/// State `k` of the lasso's stem + loop unrolling (0 = init).
fn replayed_state(l: &Lasso<State, Action>, k: usize) -> &State {
    if k == 0 {
        &l.init
    } else if k <= l.stem.len() {
        &l.stem[k - 1].state
    } else {
        &l.cycle[k - 1 - l.stem.len()].state
    }
}

/// Replays `actions` from init state `init_index`; each action must be offered
/// and enabled. Errors name the first step that does not replay.
pub fn replay(m: &GmemModel, init_index: usize, actions: &[Action]) -> Result<Trace, String> {
    let inits = m.init_states();
    let init = inits.get(init_index).cloned().ok_or_else(|| {
        format!(
            "init_index {init_index} out of range (the model has {} initial states)",
            inits.len()
        )
    })?;
    let mut steps = Vec::with_capacity(actions.len());
    let mut cur = init;
    let mut offered = Vec::new();
    for (k, &a) in actions.iter().enumerate() {
        offered.clear();
        m.actions(&cur, &mut offered);
        let idx = offered.iter().position(|&o| o == a).ok_or_else(|| {
            format!(
                "step {}: action '{}' is not offered in this state",
                k + 1,
                action_text(&a)
            )
        })?;
        let next = m.next_state(&cur, a).ok_or_else(|| {
            format!(
                "step {}: action '{}' is not enabled in this state",
                k + 1,
                action_text(&a)
            )
        })?;
        steps.push(Step {
            action: a,
            action_index: idx,
            state: next,
        });
        cur = next;
    }
    Ok(Trace {
        init_index,
        init,
        steps,
        loop_start: None,
        witnesses: vec![],
    })
}

/// An action without its state: the actor and whether it starts an
/// operation or takes its next step (for errors; labels need the state).
fn action_text(a: &Action) -> String {
    match a {
        Action::Start(x) => format!("{x}: start an operation"),
        Action::Step(x) => format!("{x}: next step"),
    }
}
