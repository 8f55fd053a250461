//! The first implementation of the lasso search, kept as an oracle: it stores every
//! reachable state in full (a `Vec` of states plus a `HashMap` from state to index), so
//! equality of states is exact and no fingerprint can merge two of them. It costs about
//! 1.2-1.8 KB per state of the gmem model, which is why [`crate::check`] no longer uses it.
//!
//! [`check`] here and [`crate::check`] number states identically (breadth-first, in the
//! model's action order) and run the same fair-SCC judgement, so they must report the same
//! verdict and the same lasso; the tests compare them on every liveness gate row. It is also
//! what [`Options::exact`](crate::Options::exact) runs.

mod graph;
mod lasso;
mod search;

use crate::fairness::{self, FairModel};
use crate::report::{Options, Report, Verdict};
use std::hash::Hash;
use std::time::Instant;

/// The reference check: full states, petgraph's Kosaraju, states read from the graph.
///
/// `opts.timeout` is not honoured here (the enumeration is never interrupted); the
/// reported `collision_probability` is 0 (states are compared in full).
pub fn check<M>(
    model: &M,
    pending: impl Fn(&M::State) -> bool,
    opts: &Options,
) -> Report<M::State, M::Action>
where
    M: FairModel,
    M::State: Clone + Eq + Hash,
{
    let start = Instant::now();
    let classes = fairness::Classes::new(model.fairness_decls());
    let g = graph::explore(model, &classes, opts.max_states);
    let pending: Vec<bool> = g.states.iter().map(pending).collect();
    let search = search::find(&g, &classes, &pending);

    let verdict = match &search.found {
        Some(found) => Verdict::Violated(lasso::build(model, &g, &classes, found)),
        None => match g.truncation_reason(opts.max_states) {
            Some(reason) => Verdict::Incomplete { reason },
            None => Verdict::Holds,
        },
    };
    Report {
        verdict,
        states: g.len(),
        edges: g.edge_count(),
        pending_states: pending.iter().filter(|&&p| p).count(),
        truncated_states: g.truncated.iter().filter(|&&t| t).count(),
        sccs_examined: search.sccs_examined,
        elapsed: start.elapsed(),
        approx_bytes: g.approx_bytes() + pending.capacity(),
        collision_probability: 0.0,
    }
}
