//! Fairness-aware liveness checking over any Stateright [`Model`](stateright::Model).
//!
//! Stateright's `eventually` misses violations that end in a cycle or behind a DAG join,
//! and knows nothing of fairness (stateright 0.31.0 src/checker.rs, test
//! `fixme_can_miss_counterexample_when_revisiting_a_state`). This crate enumerates the
//! reachable graph explicitly and looks for a *lasso*: a path to a loop on which a
//! `pending` state predicate holds forever while every fairness class is either taken or
//! disabled somewhere on the loop (weak fairness as in TLA+: Lamport,
//! "Specifying Systems", 2002, ch. 8; TLC checks it on SCCs).
//!
//! The property checked is `[]<> !pending` under the declared `WF`/`SF` assumptions. For
//! `requested(r) ~> completed(r)`, use `pending = requested(r) && !completed(r)` with a
//! model where a request stays visible in the state until it completes.
//!
//! ```ignore
//! impl liveness::InPlace for MyModel {} // or step successors in place
//! impl FairModel for MyModel {
//!     fn fairness_class(&self, s: &State, a: &Action) -> Option<FairClass> { ... }
//!     fn fairness_decls(&self) -> Vec<FairnessDecl> { ... }
//! }
//! let report = liveness::check(&model, |s| s.requested && !s.done, &Options::default());
//! if let Some(lasso) = report.lasso() {
//!     println!("{lasso}\nhttp://localhost:3000/#/steps/{}", lasso.explorer_path());
//! }
//! ```
//!
//! **Memory.** States are not stored: each is known by its 64-bit fingerprint (the `search`
//! crate's) and numbered in BFS order; the graph keeps per state its BFS parent, its
//! enabled fairness classes and flags, and per transition 8 bytes (see `graph.rs`): about
//! 32-48 bytes per state plus 8 per edge, against 1.2-1.8 KB per state of the gmem model
//! when states were kept in full. The lasso's states are recomputed by replaying its
//! actions. Two distinct states with the same fingerprint would be merged; the report says
//! how likely that is ([`Report::collision_probability`]), and [`Options::exact`] runs the
//! [`mod@reference`] implementation, which keeps full states.
//!
//! Symmetry reduction is not applied: it is unsound for liveness in general.
//!
//! In gmem-verify this crate knows nothing of guest_memfd: the `model` crate
//! implements [`FairModel`] for its model (weak fairness per actor) and the
//! `checker` runs [`check_all`] on the liveness properties of `invariants` (one graph for all),
//! turning a [`Lasso`] into a trace, a timeline and an SVG diagram.

mod build;
mod fairness;
mod graph;
mod lasso;
pub mod reference;
mod report;
mod search;

pub use ::search::InPlace;
pub use fairness::{FairClass, FairModel, Fairness, FairnessDecl};
pub use lasso::{Lasso, Step, Witness, WitnessKind};
pub use report::{collision_bound, Options, Report, Verdict};

use std::hash::Hash;
use std::time::Instant;

/// A pending predicate of [`check_all`].
pub type Predicate<'a, S> = &'a dyn Fn(&S) -> bool;

/// How many predicates [`check_all`] evaluates on one enumeration of the graph; more take
/// one enumeration per this many, in order.
pub const PREDICATES_PER_GRAPH: usize = graph::MAX_PREDICATES;

/// Checks that no fair behaviour of `model` stays `pending` forever.
///
/// States are kept by their 64-bit fingerprint (see "Memory" in the crate docs); with [`Options::exact`] the [`mod@reference`] implementation runs instead, which keeps
/// full states. Deterministic: the same model gives the same report (except `elapsed`). The
/// reported lasso has a shortest stem (BFS) to the violating loop whose entry is discovered
/// first.
///
/// Panics if `fairness_class` returns an undeclared class or a class is declared twice, or
/// if the lasso found does not replay (see [`Report::collision_probability`]).
pub fn check<M>(
    model: &M,
    pending: impl Fn(&M::State) -> bool,
    opts: &Options,
) -> Report<M::State, M::Action>
where
    M: FairModel,
    M::State: Clone + Eq + Hash,
{
    if opts.exact {
        return reference::check(model, pending, opts);
    }
    check_all(model, &[&pending], opts)
        .pop()
        .expect("one report per predicate")
}

/// [`check`] for several predicates of one model, with one enumeration of the graph: it
/// does not depend on the predicate, so only the searches are repeated. Returns one report
/// per predicate, in order, each the one [`check`] gives for it (the same verdict and
/// lasso); `elapsed` is the whole run's. More than [`PREDICATES_PER_GRAPH`] predicates take
/// one enumeration per that many. With [`Options::exact`], each predicate runs the [`mod@reference`] implementation.
pub fn check_all<M>(
    model: &M,
    pending: &[Predicate<'_, M::State>],
    opts: &Options,
) -> Vec<Report<M::State, M::Action>>
where
    M: FairModel,
    M::State: Clone + Eq + Hash,
{
    if opts.exact {
        return pending
            .iter()
            .map(|p| reference::check(model, p, opts))
            .collect();
    }
    let mut reports = Vec::with_capacity(pending.len());
    for chunk in pending.chunks(PREDICATES_PER_GRAPH) {
        let start = Instant::now();
        let classes = fairness::Classes::new(model.fairness_decls());
        let g = graph::explore(model, &classes, chunk, opts.max_states, opts.timeout);
        let first = reports.len();
        for k in 0..chunk.len() {
            let search = search::find(&g, &classes, k);
            let verdict = match &search.found {
                Some(found) => Verdict::Violated(build::build(model, &g, &classes, found)),
                None => match g.truncation_reason(opts.max_states) {
                    Some(reason) => Verdict::Incomplete { reason },
                    None => Verdict::Holds,
                },
            };
            reports.push(Report {
                verdict,
                states: g.len(),
                edges: g.edge_count(),
                pending_states: g.count_pending(k),
                truncated_states: g.count_truncated(),
                sccs_examined: search.sccs_examined,
                elapsed: std::time::Duration::ZERO,
                approx_bytes: g.bytes(),
                collision_probability: report::collision_bound(g.len(), g.lookups, 64),
            });
        }
        let elapsed = start.elapsed();
        for r in &mut reports[first..] {
            r.elapsed = elapsed;
        }
    }
    reports
}
