//! Options and results of a liveness check.

use crate::lasso::Lasso;
use serde::Serialize;
use std::time::Duration;

/// Bounds on the enumeration.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Stop storing new states beyond this many. States whose successors were not all
    /// stored count as truncated: the verdict is then `Violated` or `Incomplete`, never
    /// `Holds`.
    pub max_states: Option<usize>,
    /// Stop expanding after this long: the states not expanded yet count as truncated, so
    /// the verdict is then `Violated` or `Incomplete`, never `Holds`.
    pub timeout: Option<Duration>,
    /// Keep full states (the [`reference`](crate::reference) implementation): no
    /// fingerprint collision is possible, at 1-2 KB per state. `timeout` is then ignored.
    pub exact: bool,
}

/// Outcome of [`check`](crate::check).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum Verdict<S, A> {
    /// Every fair behaviour leaves the pending set infinitely often; the whole reachable
    /// graph was enumerated.
    Holds,
    /// A fair behaviour that is pending forever from some point on. Sound even when the
    /// graph was truncated: the lasso uses only fully expanded states.
    Violated(Lasso<S, A>),
    /// No violation among the explored states, but a bound cut the graph, so a violation
    /// may exist beyond it. `reason` names the bound.
    Incomplete { reason: String },
}

/// Verdict plus the cost of obtaining it.
#[derive(Clone, Debug, Serialize)]
pub struct Report<S, A> {
    pub verdict: Verdict<S, A>,
    /// Distinct states stored.
    pub states: usize,
    /// Stored non-stuttering transitions (self-loops and ignored actions excluded).
    pub edges: usize,
    /// Stored states that are pending.
    pub pending_states: usize,
    /// States whose successors are unknown or incomplete (boundary or `max_states`).
    pub truncated_states: usize,
    /// Non-trivial SCCs whose fairness was judged, strong-fairness refinements included.
    pub sccs_examined: usize,
    pub elapsed: Duration,
    /// The graph's memory: the compact graph's arrays (capacities), or, with
    /// [`Options::exact`], a shallow estimate (`size_of::<State>()` per stored copy, not heap
    /// data owned by states). The BFS queue of full states is not counted.
    pub approx_bytes: usize,
    /// Upper bound on the probability that two distinct states shared a 64-bit fingerprint
    /// and were merged (0 with [`Options::exact`]); see [`collision_bound`].
    pub collision_probability: f64,
}

/// Union bound on the probability that a fingerprint collision merged two states: `m`
/// look-ups (initial states plus every generated successor) each compared against at
/// most `n` stored fingerprints, each match false with probability `2^-bits` for a uniform
/// hash: `n * m / 2^bits`. (TLC prints the smaller "optimistic" `n^2 / 2^(bits+1)`; this is
/// the bound, not an estimate.)
pub fn collision_bound(n: usize, m: usize, bits: u32) -> f64 {
    (n as f64 * m as f64 / 2f64.powi(bits as i32)).min(1.0)
}

impl<S, A> Report<S, A> {
    pub fn holds(&self) -> bool {
        matches!(self.verdict, Verdict::Holds)
    }

    pub fn lasso(&self) -> Option<&Lasso<S, A>> {
        match &self.verdict {
            Verdict::Violated(lasso) => Some(lasso),
            _ => None,
        }
    }

    /// One line: verdict and graph size, e.g. for a CLI or CI log.
    pub fn summary(&self) -> String {
        let verdict = match &self.verdict {
            Verdict::Holds => "holds".to_string(),
            Verdict::Violated(l) if l.stuttering => "VIOLATED (stuttering)".to_string(),
            Verdict::Violated(l) => format!("VIOLATED (loop of {} steps)", l.cycle.len()),
            Verdict::Incomplete { reason } => format!("incomplete: {reason}"),
        };
        format!(
            "{verdict}; {} states, {} edges, {} pending, {} SCCs examined, {:.1?}, ~{} KiB, \
             P(fingerprint collision) <= {:.1e}",
            self.states,
            self.edges,
            self.pending_states,
            self.sccs_examined,
            self.elapsed,
            self.approx_bytes / 1024,
            self.collision_probability
        )
    }
}
