//! The verdict of one property on one configuration.

use crate::trace::Trace;
use invariants::{Kind, PropertyId};

#[derive(Clone, Debug)]
pub enum Verdict {
    /// Safety: no reachable state violates it. Liveness: no fair lasso.
    Holds,
    /// Safety or liveness counterexample (shortest for safety).
    Violated(Option<Trace>),
    /// Sanity: an example was found.
    Found(Option<Trace>),
    /// Sanity: no reachable state is an example (a failure: safety would be vacuous).
    NotFound,
    /// The property cannot be exercised by this configuration.
    NotApplicable(&'static str),
    /// A bound stopped the search before a verdict.
    Incomplete(String),
}

impl Verdict {
    /// The gate's short name (checker/expected.json).
    pub fn key(&self) -> &'static str {
        match self {
            Verdict::Holds => "holds",
            Verdict::Violated(_) => "violated",
            Verdict::Found(_) => "found",
            Verdict::NotFound => "not_found",
            Verdict::NotApplicable(_) => "n/a",
            Verdict::Incomplete(_) => "incomplete",
        }
    }

    /// What a reader sees in the `check` table.
    pub fn display(&self) -> String {
        match self {
            Verdict::Holds => "holds".into(),
            Verdict::Violated(_) => "VIOLATED".into(),
            Verdict::Found(_) => "example found".into(),
            Verdict::NotFound => "NOT FOUND".into(),
            Verdict::NotApplicable(r) => format!("n/a: {r}"),
            Verdict::Incomplete(r) => format!("incomplete ({r})"),
        }
    }

    pub fn trace(&self) -> Option<&Trace> {
        match self {
            Verdict::Violated(t) | Verdict::Found(t) => t.as_ref(),
            _ => None,
        }
    }
}

/// One row of a result table.
#[derive(Clone, Debug)]
pub struct PropResult {
    pub id: PropertyId,
    pub verdict: Verdict,
}

impl PropResult {
    pub fn name(&self) -> &'static str {
        self.id.name()
    }
    pub fn kind(&self) -> Kind {
        self.id.kind()
    }
}

pub fn kind_name(k: Kind) -> &'static str {
    match k {
        Kind::Safety => "safety",
        Kind::Sanity => "sanity",
        Kind::Liveness => "liveness",
    }
}
