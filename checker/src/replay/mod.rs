//! `replay FILE`: re-run a counterexample and say whether the violation reproduces.
//!
//! Backends: the model (`on_model`). The concrete implementation
//! (guest_memfd) is meant to be a second backend with the same shape: take
//! the parsed [`TraceFile`], return an [`Outcome`]; `cmd` runs every backend
//! that supports the trace's design.

mod on_model;
mod parse;

use crate::cli::ReplayArgs;
use crate::exit::{Code, Fail, Result};
pub use parse::TraceFile;

/// What one backend concluded.
pub struct Outcome {
    /// Which backend ("model").
    pub backend: &'static str,
    pub reproduces: bool,
    /// One line: what was checked, or why it does not reproduce.
    pub detail: String,
}

pub fn cmd(a: &ReplayArgs) -> Result<Code> {
    let name = a.file.display().to_string();
    let text = std::fs::read_to_string(&a.file)
        .map_err(|e| Fail::usage(format!("{name}: cannot read: {e}")))?;
    let tf = parse::parse(&text).map_err(|e| Fail::usage(format!("{name}: {e}")))?;
    let outcomes = vec![on_model::replay(&tf).map_err(|e| Fail::usage(format!("{name}: {e}")))?];
    let mut code = Code::Ok;
    for o in &outcomes {
        let verdict = if o.reproduces {
            "reproduces"
        } else {
            code = Code::Failed;
            "DOES NOT reproduce"
        };
        println!(
            "{name}: {} {} on the {}: {verdict}: {}",
            tf.label,
            tf.property.name(),
            o.backend,
            o.detail
        );
    }
    Ok(code)
}
