//! Replay on the model: every action must be enabled and produce the recorded
//! state; then the violation is checked (safety: the property fails at the
//! last state; liveness: the loop closes, stays pending, and is fair).

use super::{Outcome, TraceFile};
use crate::trace::{self, Trace};
use invariants::Kind;
use liveness::FairModel;
use model::{properties, GmemModel, State};
use serde_json::Value;
use stateright::Model;

/// `Err` when the file does not replay (a bad or stale file); `Ok` says
/// whether the violation reproduces.
pub fn replay(tf: &TraceFile) -> Result<Outcome, String> {
    let m = &tf.model;
    let mut t = trace::replay(m, tf.init_index, &tf.actions)
        .map_err(|e| format!("does not replay: {e}"))?;
    t.loop_start = tf.loop_index;
    if let Some(l) = tf.loop_index {
        if l > t.steps.len() {
            return Err(format!("loop {l} is past the last state {}", t.steps.len()));
        }
    }
    let n = t.distinct_states();
    if tf.states.len() != n {
        return Err(format!(
            "the file has {} states but its actions give {n}",
            tf.states.len()
        ));
    }
    for (i, recorded) in tf.states.iter().enumerate() {
        let prev = (i > 0).then(|| (t.state(i - 1), t.steps[i - 1].action));
        let mine = model::itf::state(m, t.state(i), prev);
        if &mine != recorded {
            return Err(format!(
                "state {i} differs from the model's{}",
                first_difference(&mine, recorded)
                    .map(|k| format!(" (field {k})"))
                    .unwrap_or_default()
            ));
        }
    }
    Ok(match tf.property.kind() {
        Kind::Liveness => check_lasso(m, tf, &t),
        _ => check_safety(m, tf, &t),
    })
}

fn first_difference(a: &Value, b: &Value) -> Option<String> {
    let (Value::Object(a), Value::Object(b)) = (a, b) else {
        return None;
    };
    a.keys()
        .chain(b.keys())
        .find(|k| a.get(*k) != b.get(*k))
        .cloned()
}

fn check_safety(m: &GmemModel, tf: &TraceFile, t: &Trace) -> Outcome {
    let id = tf.property;
    let last = t.steps.len();
    let fails = |i: usize| !properties::eval(m, t.state(i), id);
    let first = (0..=last).find(|&i| fails(i));
    let (reproduces, detail) = match first {
        Some(i) if i == last => (
            true,
            format!("violated at the last state ({last}), and not before"),
        ),
        Some(i) => (
            fails(last),
            format!(
                "violated at state {i}, before the last state {last}; the trace is not minimal"
            ),
        ),
        None => (
            false,
            format!("the property holds in all {} states", last + 1),
        ),
    };
    Outcome {
        backend: "model",
        reproduces,
        skipped: false,
        detail,
    }
}

/// Does an action of fairness class `c` change state `s`?
fn enabled(m: &GmemModel, s: &State, c: liveness::FairClass) -> bool {
    let mut actions = Vec::new();
    m.actions(s, &mut actions);
    actions
        .into_iter()
        .any(|a| m.fairness_class(s, &a) == Some(c) && m.next_state(s, a).is_some_and(|n| n != *s))
}

fn check_lasso(m: &GmemModel, tf: &TraceFile, t: &Trace) -> Outcome {
    let id = tf.property;
    let l = tf.loop_index.unwrap_or(0);
    let last = t.steps.len();
    let fail = |detail: String| Outcome {
        backend: "model",
        reproduces: false,
        skipped: false,
        detail,
    };
    if t.state(last) != t.state(l) {
        return fail(format!(
            "the loop does not close: state {last} is not state {l}"
        ));
    }
    // Pending throughout the loop in one scope (one converter thread's
    // conversion, where the property is checked per thread).
    let scopes = properties::pending_scopes(m.cfg(), id);
    let first_not_pending =
        |scope| (l..=last).find(|&i| !properties::eval_in(m, t.state(i), id, scope));
    if !scopes.iter().any(|&sc| first_not_pending(sc).is_none()) {
        let i = scopes
            .iter()
            .filter_map(|&sc| first_not_pending(sc))
            .max()
            .unwrap_or(l);
        return fail(format!("loop state {i} is not pending"));
    }
    for d in m.fairness_decls() {
        let taken = t.steps[l..].iter().enumerate().any(|(k, s)| {
            m.fairness_class(t.state(l + k), &s.action) == Some(d.class)
                && s.state != *t.state(l + k)
        });
        let disabled_at = |i: usize| !enabled(m, t.state(i), d.class);
        let disabled = match d.kind {
            liveness::Fairness::Weak => (l..=last).any(disabled_at),
            liveness::Fairness::Strong => (l..=last).all(disabled_at),
        };
        if !taken && !disabled {
            return fail(format!(
                "the loop is not fair to {}: enabled throughout and never taken",
                d.name
            ));
        }
    }
    Outcome {
        backend: "model",
        reproduces: true,
        skipped: false,
        detail: format!(
            "pending forever on a fair loop (stem {l} steps, loop {} steps)",
            last - l
        ),
    }
}
