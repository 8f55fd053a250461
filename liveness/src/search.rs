//! Search for a fair behaviour that stays pending forever, among fully expanded states.
//!
//! Two shapes exist:
//! - *stuttering*: a pending state where every fair class is disabled, so staying there
//!   forever is fair (deadlocks included);
//! - *a fair SCC* of the subgraph induced by pending states: a walk covering the SCC is a
//!   fair infinite behaviour iff, for every class, an edge of the class is taken inside it or
//!   (weak fairness) some state of it disables the class. Strong fairness is refined
//!   Emerson–Lei style: states enabling an SF class that the SCC never takes are removed and
//!   the rest is decomposed again, so fairness is always judged on the violating SCC itself,
//!   never on a larger outer one.
//!
//! Truncated states are left out entirely: their successors, hence their enabled classes,
//! are unknown, so they may not take part in a proof of a violation.
//!
//! The judgement is the reference's (`reference::search`); the SCCs come from an iterative
//! Tarjan over the compact graph's edge arrays (about 13 B per state of scratch) instead of
//! a petgraph copy of the subgraph (20 B or more per edge).

use crate::fairness::{self, Classes, Fairness, NO_CLASS};
use crate::graph::Graph;

/// What the search found. The entry (smallest BFS index, hence a shortest stem) decides
/// which candidate is reported, so results do not depend on SCC enumeration order: fair
/// candidates are disjoint (a fair SCC is never refined), so their entries differ.
pub(crate) enum Found {
    Stutter(u32),
    /// Members of a fair SCC, sorted; `members[0]` is the entry.
    Cycle(Vec<u32>),
}

impl Found {
    pub(crate) fn entry(&self) -> u32 {
        match self {
            Found::Stutter(s) => *s,
            Found::Cycle(members) => members[0],
        }
    }
}

pub(crate) struct Search {
    pub found: Option<Found>,
    /// Non-trivial SCCs whose fairness was judged (including refined sub-SCCs).
    pub sccs_examined: usize,
}

enum Judgement {
    Fair,
    /// A weakly fair class is enabled everywhere in the SCC and never taken: no sub-SCC
    /// can be fair either.
    Unfair,
    /// These strongly fair classes are enabled somewhere but never taken.
    Refine(Vec<u16>),
}

const NONE: u32 = u32::MAX;

/// The search for predicate `k` of the graph's predicates.
pub(crate) fn find(g: &Graph, classes: &Classes, k: usize) -> Search {
    let n = g.len();
    let eligible: Vec<u32> = (0..n as u32)
        .filter(|&i| g.pending(i, k) && !g.truncated(i))
        .collect();

    // A state with no fair class enabled; ties with a cycle go to stuttering (shorter).
    let mut best = eligible
        .iter()
        .copied()
        .find(|&i| g.enabled(i).iter().all(|&w| w == 0))
        .map(Found::Stutter);

    let mut tarjan = Tarjan::new(n);
    let mut sccs_examined = 0;
    let mut work = vec![eligible];
    while let Some(nodes) = work.pop() {
        for scc in tarjan.sccs(g, &nodes) {
            if best.as_ref().is_some_and(|b| b.entry() <= scc[0]) {
                continue; // sub-SCCs cannot have a smaller entry either
            }
            sccs_examined += 1;
            let inside = |u: u32| scc.binary_search(&u).is_ok();
            match judge(g, classes, &scc, inside) {
                Judgement::Fair => best = Some(Found::Cycle(scc)),
                Judgement::Unfair => {}
                Judgement::Refine(bad) => {
                    let rest: Vec<u32> = scc
                        .into_iter()
                        .filter(|&u| bad.iter().all(|&c| !g.is_enabled(u, c)))
                        .collect();
                    if rest.len() >= 2 {
                        work.push(rest);
                    }
                }
            }
        }
    }
    Search {
        found: best,
        sccs_examined,
    }
}

/// Iterative Tarjan over induced subgraphs. `local` maps a state to its position in the
/// current node list (or [`NONE`]); it is all `NONE` between calls, so a call costs time in
/// the size of its subgraph, not of the whole graph.
struct Tarjan {
    local: Vec<u32>,
}

impl Tarjan {
    fn new(n: usize) -> Tarjan {
        Tarjan {
            local: vec![NONE; n],
        }
    }

    /// SCCs of at least two states of the subgraph induced by `nodes`, each sorted. (No
    /// self-loops are stored, so a single state is never a cycle.)
    fn sccs(&mut self, g: &Graph, nodes: &[u32]) -> Vec<Vec<u32>> {
        for (k, &u) in nodes.iter().enumerate() {
            self.local[u as usize] = k as u32;
        }
        let m = nodes.len();
        let mut index = vec![NONE; m];
        let mut low = vec![0u32; m];
        let mut on_stack = vec![false; m];
        let mut stack: Vec<u32> = Vec::new();
        let mut call: Vec<(u32, u32)> = Vec::new();
        let mut next = 0u32;
        let mut out = Vec::new();
        for root in 0..m as u32 {
            if index[root as usize] != NONE {
                continue;
            }
            index[root as usize] = next;
            low[root as usize] = next;
            next += 1;
            stack.push(root);
            on_stack[root as usize] = true;
            call.push((root, 0));
            while let Some(&mut (v, ref mut pos)) = call.last_mut() {
                let edges = g.out(nodes[v as usize]);
                if let Some(e) = edges.get(*pos as usize) {
                    *pos += 1;
                    let w = self.local[e.dst as usize];
                    if w == NONE {
                        continue;
                    }
                    let wi = w as usize;
                    if index[wi] == NONE {
                        index[wi] = next;
                        low[wi] = next;
                        next += 1;
                        stack.push(w);
                        on_stack[wi] = true;
                        call.push((w, 0));
                    } else if on_stack[wi] {
                        low[v as usize] = low[v as usize].min(index[wi]);
                    }
                    continue;
                }
                call.pop();
                let vi = v as usize;
                if let Some(&(u, _)) = call.last() {
                    low[u as usize] = low[u as usize].min(low[vi]);
                }
                if low[vi] == index[vi] {
                    let mut members = Vec::new();
                    loop {
                        let w = stack.pop().expect("Tarjan stack underflow");
                        on_stack[w as usize] = false;
                        members.push(nodes[w as usize]);
                        if w == v {
                            break;
                        }
                    }
                    if members.len() >= 2 {
                        members.sort_unstable();
                        out.push(members);
                    }
                }
            }
        }
        for &u in nodes {
            self.local[u as usize] = NONE;
        }
        out
    }
}

fn judge(g: &Graph, classes: &Classes, scc: &[u32], inside: impl Fn(u32) -> bool) -> Judgement {
    let words = classes.words();
    let mut taken = vec![0 as fairness::Word; words];
    let mut enabled_somewhere = vec![0 as fairness::Word; words];
    let mut enabled_everywhere = vec![fairness::Word::MAX; words];
    for &u in scc {
        for e in g.out(u) {
            if e.class != NO_CLASS && inside(e.dst) {
                fairness::set(&mut taken, e.class);
            }
        }
        for (k, &w) in g.enabled(u).iter().enumerate() {
            enabled_somewhere[k] |= w;
            enabled_everywhere[k] &= w;
        }
    }
    let mut bad = Vec::new();
    for c in classes.all() {
        if fairness::has(&taken, c) {
            continue;
        }
        match classes.decl(c).kind {
            Fairness::Weak if fairness::has(&enabled_everywhere, c) => return Judgement::Unfair,
            Fairness::Strong if fairness::has(&enabled_somewhere, c) => bad.push(c),
            _ => {}
        }
    }
    if bad.is_empty() {
        Judgement::Fair
    } else {
        Judgement::Refine(bad)
    }
}
