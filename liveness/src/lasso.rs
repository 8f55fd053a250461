//! Counterexamples of liveness: a stem from an init state to an entry state, and a closed
//! walk of real transitions that repeats forever (stateright-notes §6.3).

use crate::fairness::{Classes, FairClass, FairModel, Fairness, NO_CLASS};
use crate::graph::{Edge, StateGraph, ROOT};
use crate::search::Found;
use serde::Serialize;
use stateright::{Model, Path};
use std::collections::{HashMap, VecDeque};
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

/// Builds the lasso for what the search found.
pub(crate) fn build<M>(
    model: &M,
    g: &StateGraph<M::State>,
    classes: &Classes,
    found: &Found,
) -> Lasso<M::State, M::Action>
where
    M: FairModel,
    M::State: Clone,
{
    let entry = found.entry();

    // Stem: BFS parents, hence a shortest path from some init state.
    let mut stem_edges = Vec::new();
    let mut cur = entry;
    let init_index = loop {
        let p = g.parents[cur as usize];
        if p.src == ROOT {
            break p.index as usize;
        }
        stem_edges.push((p.src, p.index, cur));
        cur = p.src;
    };
    stem_edges.reverse();

    let cycle_edges = match found {
        Found::Stutter(_) => Vec::new(),
        Found::Cycle(members) => fair_walk(g, classes, members),
    };
    let mut loop_states = vec![entry];
    loop_states.extend(cycle_edges.iter().map(|(_, e)| e.dst));
    loop_states.pop(); // the last one is the entry again (or, if stuttering, the only one)
    if loop_states.is_empty() {
        loop_states.push(entry);
    }
    let witnesses = classes
        .all()
        .map(|c| {
            let decl = classes.decl(c);
            let how = cycle_edges
                .iter()
                .position(|(_, e)| e.class == c)
                .map(|cycle_step| WitnessKind::Taken { cycle_step })
                .or_else(|| {
                    let j = loop_states.iter().position(|&u| !g.is_enabled(u, c))?;
                    Some(WitnessKind::Disabled { cycle_state: j })
                })
                .expect("internal error: fair loop without a witness");
            Witness {
                class: decl.class,
                name: decl.name.clone(),
                kind: decl.kind,
                how,
            }
        })
        .collect();

    Lasso {
        init_index,
        init: g.states[cur as usize].clone(),
        stem: stem_edges
            .into_iter()
            .map(|(src, ai, dst)| step(model, g, src, ai as usize, dst))
            .collect(),
        cycle: cycle_edges
            .iter()
            .map(|&(src, e)| step(model, g, src, e.action_index as usize, e.dst))
            .collect(),
        witnesses,
        stuttering: matches!(found, Found::Stutter(_)),
    }
}

/// Regenerates the action from its index (models are deterministic, so this is exact).
fn step<M>(
    model: &M,
    g: &StateGraph<M::State>,
    src: u32,
    action_index: usize,
    dst: u32,
) -> Step<M::State, M::Action>
where
    M: FairModel,
    M::State: Clone,
{
    let mut actions = Vec::new();
    model.actions(&g.states[src as usize], &mut actions);
    let action = actions.swap_remove(action_index);
    Step {
        class: model.fairness_class(&action),
        action,
        action_index,
        state: g.states[dst as usize].clone(),
    }
}

/// A closed walk `entry -> ... -> entry` of real edges inside the fair SCC `members`
/// (sorted, `members[0]` is the entry) passing a witness for every class. Greedy: take a
/// witnessing edge from where we are if there is one, else walk the shortest path to the
/// nearest state that offers a witness, and finally the shortest path home. Not minimal,
/// but short, deterministic, and made only of real transitions.
fn fair_walk<S>(g: &StateGraph<S>, classes: &Classes, members: &[u32]) -> Vec<(u32, Edge)> {
    let entry = members[0];
    let mut walk = Walk {
        g,
        members,
        remaining: vec![true; classes.len()],
        cur: entry,
        edges: Vec::new(),
    };
    walk.discharge_disabled();
    while walk.remaining.contains(&true) {
        if let Some(e) = walk.witness_edge(walk.cur) {
            walk.take(e);
        } else {
            let path = walk.shortest_path(walk.cur, |u| walk.offers_witness(u));
            path.into_iter().for_each(|e| walk.take(e));
        }
    }
    if walk.edges.is_empty() {
        // Every class is disabled at the entry; any real step inside the SCC starts a loop.
        let first = *g
            .out(entry)
            .iter()
            .find(|e| walk.inside(e.dst))
            .expect("internal error: SCC entry without an edge inside the SCC");
        walk.take(first);
    }
    if walk.cur != entry {
        let path = walk.shortest_path(walk.cur, |u| u == entry);
        path.into_iter().for_each(|e| walk.take(e));
    }
    walk.edges
}

struct Walk<'a, S> {
    g: &'a StateGraph<S>,
    members: &'a [u32],
    /// Per dense class: not yet witnessed on the walk so far.
    remaining: Vec<bool>,
    cur: u32,
    edges: Vec<(u32, Edge)>,
}

impl<S> Walk<'_, S> {
    fn inside(&self, u: u32) -> bool {
        self.members.binary_search(&u).is_ok()
    }

    fn discharge_disabled(&mut self) {
        for (c, r) in self.remaining.iter_mut().enumerate() {
            *r &= self.g.is_enabled(self.cur, c as u16);
        }
    }

    fn take(&mut self, e: Edge) {
        self.edges.push((self.cur, e));
        if e.class != NO_CLASS {
            self.remaining[e.class as usize] = false;
        }
        self.cur = e.dst;
        self.discharge_disabled();
    }

    fn witness_edge(&self, u: u32) -> Option<Edge> {
        let g = self.g;
        g.out(u)
            .iter()
            .find(|e| e.class != NO_CLASS && self.remaining[e.class as usize] && self.inside(e.dst))
            .copied()
    }

    fn offers_witness(&self, u: u32) -> bool {
        self.witness_edge(u).is_some()
            || (0..self.remaining.len())
                .any(|c| self.remaining[c] && !self.g.is_enabled(u, c as u16))
    }

    /// BFS inside the SCC from `from` to the nearest other state satisfying `target`.
    fn shortest_path(&self, from: u32, target: impl Fn(u32) -> bool) -> Vec<Edge> {
        let mut pred: HashMap<u32, (u32, Edge)> = HashMap::new();
        let mut queue = VecDeque::from([from]);
        while let Some(u) = queue.pop_front() {
            for &e in self.g.out(u) {
                if e.dst == from || !self.inside(e.dst) || pred.contains_key(&e.dst) {
                    continue;
                }
                pred.insert(e.dst, (u, e));
                if target(e.dst) {
                    let mut path = vec![e];
                    let mut v = u;
                    while v != from {
                        let (p, pe) = pred[&v];
                        path.push(pe);
                        v = p;
                    }
                    path.reverse();
                    return path;
                }
                queue.push_back(e.dst);
            }
        }
        panic!("internal error: no path inside a fair SCC");
    }
}
