//! Explicit state graph, enumerated breadth-first from a Stateright model.
//!
//! Unlike Stateright's checkers, which keep only fingerprints, this keeps every state,
//! every non-stuttering edge and its fairness class, and which classes are enabled in
//! each state: that is what the fair-cycle search needs.

use crate::fairness::{self, Classes, FairModel, NO_CLASS};
use std::collections::HashMap;
use std::hash::Hash;
use std::mem::size_of;

/// Marks an init state in [`Parent::src`].
pub(crate) const ROOT: u32 = u32::MAX;

/// A transition `src -> dst` with `dst != src`. Self-loops are stuttering steps and are not
/// stored: they neither witness that a class was taken nor make it enabled.
#[derive(Clone, Copy)]
pub(crate) struct Edge {
    pub dst: u32,
    /// Index of the action in `model.actions(src)`, ignored actions included, exactly as
    /// Stateright's `Path::encode` counts it.
    pub action_index: u32,
    /// Dense fairness class, or [`NO_CLASS`].
    pub class: u16,
}

/// How BFS first reached a state: from `src` by action `index`, or, if `src == ROOT`, as
/// `init_states()[index]`. Following parents gives a shortest stem.
#[derive(Clone, Copy)]
pub(crate) struct Parent {
    pub src: u32,
    pub index: u32,
}

pub(crate) struct StateGraph<S> {
    pub states: Vec<S>,
    index: HashMap<S, u32>,
    pub parents: Vec<Parent>,
    /// Out-edges of state `i` are `edges[offsets[i]..offsets[i + 1]]`, in action order.
    offsets: Vec<usize>,
    edges: Vec<Edge>,
    /// Per state, a bitset (`words` words) of the classes enabled there (`ENABLED <<A>>_v`).
    enabled: Vec<fairness::Word>,
    words: usize,
    /// Successors unknown or incomplete: outside the boundary, or cut by `max_states`.
    pub truncated: Vec<bool>,
    pub out_of_boundary: usize,
    /// Successors (or init states) that were not stored because of `max_states`.
    pub cut_by_max_states: usize,
}

impl<S> StateGraph<S> {
    pub(crate) fn len(&self) -> usize {
        self.states.len()
    }

    pub(crate) fn edge_count(&self) -> usize {
        self.edges.len()
    }

    pub(crate) fn out(&self, s: u32) -> &[Edge] {
        let s = s as usize;
        &self.edges[self.offsets[s]..self.offsets[s + 1]]
    }

    pub(crate) fn enabled(&self, s: u32) -> &[fairness::Word] {
        let s = s as usize;
        &self.enabled[s * self.words..(s + 1) * self.words]
    }

    pub(crate) fn is_enabled(&self, s: u32, class: u16) -> bool {
        fairness::has(self.enabled(s), class)
    }

    /// Shallow estimate of the memory held: counts `size_of::<S>()` per stored copy of a
    /// state (one in the vector, one as a map key) but not heap data owned by states.
    pub(crate) fn approx_bytes(&self) -> usize {
        let map_slot = size_of::<(S, u32)>() + 1; // hashbrown: one control byte per slot
        self.states.capacity() * size_of::<S>()
            + self.index.capacity() * map_slot
            + self.parents.capacity() * size_of::<Parent>()
            + self.offsets.capacity() * size_of::<usize>()
            + self.edges.capacity() * size_of::<Edge>()
            + self.enabled.capacity() * size_of::<fairness::Word>()
            + self.truncated.capacity()
    }

    /// Why the graph is not the whole reachable state space, if it is not.
    pub(crate) fn truncation_reason(&self, max_states: Option<usize>) -> Option<String> {
        let mut reasons = Vec::new();
        if self.out_of_boundary > 0 {
            reasons.push(format!(
                "{} state(s) outside within_boundary were not expanded",
                self.out_of_boundary
            ));
        }
        if self.cut_by_max_states > 0 {
            let bound = max_states.map_or("the u32 state index limit".into(), |m| {
                format!("max_states = {m}")
            });
            reasons.push(format!(
                "{bound} reached ({} successor(s) not stored)",
                self.cut_by_max_states
            ));
        }
        (!reasons.is_empty()).then(|| {
            format!(
                "{}; no fair pending cycle was found among the fully expanded states",
                reasons.join("; ")
            )
        })
    }
}

/// Enumerates the graph breadth-first, in the model's own order, so that state indices,
/// parents and edge order are the same on every run.
pub(crate) fn explore<M>(
    model: &M,
    classes: &Classes,
    max_states: Option<usize>,
) -> StateGraph<M::State>
where
    M: FairModel,
    M::State: Clone + Eq + Hash,
{
    let cap = max_states.unwrap_or(usize::MAX).min(ROOT as usize);
    let words = classes.words();
    let mut g = StateGraph {
        states: Vec::new(),
        index: HashMap::new(),
        parents: Vec::new(),
        offsets: vec![0],
        edges: Vec::new(),
        enabled: Vec::new(),
        words,
        truncated: Vec::new(),
        out_of_boundary: 0,
        cut_by_max_states: 0,
    };
    for (i, s) in model.init_states().into_iter().enumerate() {
        if g.index.contains_key(&s) {
            continue;
        }
        if g.len() >= cap {
            g.cut_by_max_states += 1;
            continue;
        }
        g.insert(s, ROOT, i as u32);
    }

    let mut actions = Vec::new();
    let mut successors = Vec::new();
    // BFS: states are expanded in index order, so a queue is just a cursor.
    let mut id = 0;
    while id < g.len() {
        let s = &g.states[id];
        if !model.within_boundary(s) {
            g.truncated[id] = true;
            g.out_of_boundary += 1;
            g.offsets.push(g.edges.len());
            id += 1;
            continue;
        }
        model.actions(s, &mut actions);
        for (ai, a) in actions.drain(..).enumerate() {
            let class = classes.dense(model.fairness_class(s, &a));
            match model.next_state(s, a) {
                Some(t) if t != *s => {
                    if class != NO_CLASS {
                        fairness::set(&mut g.enabled[id * words..(id + 1) * words], class);
                    }
                    successors.push((ai as u32, class, t));
                }
                _ => {} // ignored action or stuttering step
            }
        }
        for (action_index, class, t) in successors.drain(..) {
            let dst = match g.index.get(&t) {
                Some(&dst) => dst,
                None if g.len() < cap => g.insert(t, id as u32, action_index),
                None => {
                    g.truncated[id] = true;
                    g.cut_by_max_states += 1;
                    continue;
                }
            };
            g.edges.push(Edge {
                dst,
                action_index,
                class,
            });
        }
        g.offsets.push(g.edges.len());
        id += 1;
    }
    g
}

impl<S: Clone + Eq + Hash> StateGraph<S> {
    fn insert(&mut self, s: S, src: u32, index: u32) -> u32 {
        let id = self.states.len() as u32;
        self.index.insert(s.clone(), id);
        self.states.push(s);
        self.parents.push(Parent { src, index });
        self.enabled.extend(std::iter::repeat_n(0, self.words));
        self.truncated.push(false);
        id
    }
}
