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
    /// Shallow estimate of the graph's memory: `size_of::<State>()` per stored copy, not
    /// heap data owned by states.
    pub approx_bytes: usize,
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
            "{verdict}; {} states, {} edges, {} pending, {} SCCs examined, {:.1?}, ~{} KiB",
            self.states,
            self.edges,
            self.pending_states,
            self.sccs_examined,
            self.elapsed,
            self.approx_bytes / 1024
        )
    }
}
