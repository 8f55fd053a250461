//! Search for a fair behaviour that stays pending forever, among fully expanded states.
//!
//! Two shapes exist (the fair-SCC test of TLC's liveness checker, plus TLA+'s
//! implicit stuttering):
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

use super::graph::StateGraph;
use crate::fairness::{self, Classes, Fairness, NO_CLASS};
use petgraph::algo::kosaraju_scc;
use petgraph::graph::{DiGraph, NodeIndex};

/// What the search found. The entry (smallest BFS index, hence a shortest stem) decides
/// which candidate is reported, so results do not depend on SCC enumeration order.
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

pub(crate) fn find<S>(g: &StateGraph<S>, classes: &Classes, pending: &[bool]) -> Search {
    let n = g.len();
    let eligible: Vec<u32> = (0..n as u32)
        .filter(|&i| pending[i as usize] && !g.truncated[i as usize])
        .collect();

    // A state with no fair class enabled; ties with a cycle go to stuttering (shorter).
    let mut best = eligible
        .iter()
        .copied()
        .find(|&i| g.enabled(i).iter().all(|&w| w == 0))
        .map(Found::Stutter);

    let mut scratch = vec![u32::MAX; n];
    let mut mark = vec![u32::MAX; n];
    let mut stamp = 0;
    let mut sccs_examined = 0;
    let mut work = vec![eligible];
    while let Some(nodes) = work.pop() {
        for scc in sccs(g, &nodes, &mut scratch) {
            // No self-loops are stored, so a single state is never a cycle.
            if scc.len() < 2 || best.as_ref().is_some_and(|b| b.entry() <= scc[0]) {
                continue; // sub-SCCs cannot have a smaller entry either
            }
            sccs_examined += 1;
            stamp += 1;
            for &u in &scc {
                mark[u as usize] = stamp;
            }
            match judge(g, classes, &scc, |u| mark[u as usize] == stamp) {
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

/// SCCs of the subgraph induced by `nodes`, each sorted by state index. Uses petgraph's
/// iterative Kosaraju: `tarjan_scc` is recursive and overflows the stack on deep graphs.
/// `scratch` maps state index to local node index; it is all `u32::MAX` on entry and exit.
fn sccs<S>(g: &StateGraph<S>, nodes: &[u32], scratch: &mut [u32]) -> Vec<Vec<u32>> {
    let mut sub = DiGraph::<(), ()>::with_capacity(nodes.len(), 0);
    for (local, &u) in nodes.iter().enumerate() {
        scratch[u as usize] = local as u32;
        sub.add_node(());
    }
    for (local, &u) in nodes.iter().enumerate() {
        for e in g.out(u) {
            let dst = scratch[e.dst as usize];
            if dst != u32::MAX {
                sub.add_edge(NodeIndex::new(local), NodeIndex::new(dst as usize), ());
            }
        }
    }
    for &u in nodes {
        scratch[u as usize] = u32::MAX;
    }
    kosaraju_scc(&sub)
        .into_iter()
        .map(|scc| {
            let mut members: Vec<u32> = scc.into_iter().map(|x| nodes[x.index()]).collect();
            members.sort_unstable();
            members
        })
        .collect()
}

fn judge<S>(
    g: &StateGraph<S>,
    classes: &Classes,
    scc: &[u32],
    inside: impl Fn(u32) -> bool,
) -> Judgement {
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
