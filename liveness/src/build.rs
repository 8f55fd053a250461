//! Building the lasso for what the search found. The graph holds no states, so the
//! lasso's states are recomputed: from `init_states()[init_index]` along the stem's
//! actions, then along the loop's, each action regenerated from its index (models are
//! deterministic). The replay is checked: it must come back to the entry state.

use crate::fairness::{Classes, FairModel, NO_CLASS};
use crate::graph::{Edge, Graph, ROOT};
use crate::lasso::{Lasso, Step, Witness, WitnessKind};
use crate::search::Found;
use std::collections::{HashMap, VecDeque};

/// Builds the lasso for what the search found.
///
/// Panics if the model does not replay (a nondeterministic model, or a fingerprint
/// collision that merged two states on the lasso): the loop must close on its entry.
pub(crate) fn build<M>(
    model: &M,
    g: &Graph,
    classes: &Classes,
    found: &Found,
) -> Lasso<M::State, M::Action>
where
    M: FairModel,
    M::State: Clone + PartialEq,
{
    let entry = found.entry();

    // Stem: BFS parents, hence a shortest path from some init state.
    let mut stem_edges = Vec::new();
    let mut cur = entry;
    let init_index = loop {
        let p = g.parent(cur);
        if p.src == ROOT {
            break p.index as usize;
        }
        stem_edges.push(p.index as usize);
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

    let init = model
        .init_states()
        .into_iter()
        .nth(init_index)
        .expect("internal error: the lasso's init state is gone");
    let mut state = init.clone();
    let stem: Vec<_> = stem_edges
        .into_iter()
        .map(|ai| replay(model, &mut state, ai))
        .collect();
    let entry_state = state.clone();
    let cycle: Vec<_> = cycle_edges
        .iter()
        .map(|&(_, e)| replay(model, &mut state, e.action_index as usize))
        .collect();
    assert!(
        state == entry_state,
        "the lasso does not replay: the model is not deterministic, or a fingerprint \
         collision merged two states (run with Options::exact)"
    );
    Lasso {
        init_index,
        init,
        stem,
        cycle,
        witnesses,
        stuttering: matches!(found, Found::Stutter(_)),
    }
}

/// Takes action number `action_index` of `state`, moving `state` to its successor.
fn replay<M>(model: &M, state: &mut M::State, action_index: usize) -> Step<M::State, M::Action>
where
    M: FairModel,
    M::State: Clone,
{
    // Actions need not be `Clone`: generate them twice, one to keep and one to take.
    let mut actions = Vec::new();
    model.actions(state, &mut actions);
    let action = actions.swap_remove(action_index);
    let class = model.fairness_class(state, &action);
    actions.clear();
    model.actions(state, &mut actions);
    let next = model
        .next_state(state, actions.swap_remove(action_index))
        .expect("the lasso does not replay: an action of the graph is now ignored");
    *state = next.clone();
    Step {
        class,
        action,
        action_index,
        state: next,
    }
}

/// A closed walk `entry -> ... -> entry` of real edges inside the fair SCC `members`
/// (sorted, `members[0]` is the entry) passing a witness for every class. Greedy: take a
/// witnessing edge from where we are if there is one, else walk the shortest path to the
/// nearest state that offers a witness, and finally the shortest path home. Not minimal,
/// but short, deterministic, and made only of real transitions.
fn fair_walk(g: &Graph, classes: &Classes, members: &[u32]) -> Vec<(u32, Edge)> {
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

struct Walk<'a> {
    g: &'a Graph,
    members: &'a [u32],
    /// Per dense class: not yet witnessed on the walk so far.
    remaining: Vec<bool>,
    cur: u32,
    edges: Vec<(u32, Edge)>,
}

impl Walk<'_> {
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
