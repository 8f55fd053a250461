//! `replay FILE`: re-run a counterexample and say whether the violation reproduces.
//!
//! Backends: the model (`on_model`) and the concrete implementation
//! (`on_impl`: the same interleaving forced on guest_memfd's threads, with
//! the trace's bug switches, then with them off). Each takes the parsed
//! [`TraceFile`] and returns an [`Outcome`].

mod on_impl;
mod on_model;
mod parse;

use crate::cli::ReplayArgs;
use crate::exit::{Code, Fail, Result};
use crate::input::{clip, read_text};
pub use parse::TraceFile;

/// What one backend concluded.
pub struct Outcome {
    /// Which backend ("model").
    pub backend: &'static str,
    pub reproduces: bool,
    /// The backend cannot run this trace (it says why in `detail`).
    pub skipped: bool,
    /// One line: what was checked, or why it does not reproduce.
    pub detail: String,
}

impl Outcome {
    pub fn skipped(backend: &'static str, detail: String) -> Outcome {
        Outcome {
            backend,
            reproduces: false,
            skipped: true,
            detail,
        }
    }
}

/// Trace files larger than this are refused (the committed ones are a few
/// hundred KiB at most).
pub const MAX_TRACE_BYTES: u64 = 16 << 20;

pub fn cmd(a: &ReplayArgs) -> Result<Code> {
    let name = a.file.display().to_string();
    let bad = |e: String| Fail::usage(format!("{name}: {}", clip(&e)));
    let text = read_text(&a.file, MAX_TRACE_BYTES, "an ITF trace").map_err(bad)?;
    let tf = parse::parse(&text).map_err(bad)?;
    let mut outcomes = vec![on_model::replay(&tf).map_err(bad)?];
    outcomes.push(on_impl::replay(&tf));
    outcomes.extend(on_impl::replay_bug_off(&tf));
    let mut code = Code::Ok;
    for o in &outcomes {
        let bug_off = o.backend.ends_with("off");
        let verdict = match (o.skipped, bug_off, o.reproduces) {
            (true, _, _) => "skipped",
            (false, false, true) => "reproduces",
            (false, true, false) => "does not occur",
            (false, false, false) => {
                code = Code::Failed;
                "DOES NOT reproduce"
            }
            (false, true, true) => {
                code = Code::Failed;
                "OCCURS although the bug switches are off"
            }
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
