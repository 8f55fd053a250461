//! `checker`: the gmem-verify command line, and the crate that ties the
//! others together (`cargo run --release -- <command>` runs it).
//!
//! - `check` runs every configuration selected (a design's gate rows, one
//!   row, or a configuration file; `select`): the `model` crate's Stateright
//!   model exhaustively for safety rows (safety and sanity properties from
//!   `invariants`), the `liveness` crate's fair-lasso search for liveness
//!   rows; prints a timeline per violation, writes the trace as ITF
//!   (`itf_out`) with an SVG sequence diagram beside it (`model::svg`), and
//!   ends with one verdict line per property class, with its bound.
//! - `explore` serves the Stateright explorer on the same model.
//! - `gate` checks every configuration file under `configs/` against
//!   `checker/expected.json`, the committed `counterexamples/` and the
//!   generated `docs/verdicts.md`: the CI gate.
//! - `replay` re-runs a committed trace on the model.
//! - `scenario` runs scenario files on the concrete implementation
//!   (`guest_memfd`).
//! - `bench` measures the model checker and the implementation.
//!
//! Exit codes: `exit::Code`.

mod bench;
mod bfs;
mod bound;
mod check;
mod cli;
mod engine;
mod exit;
mod explore;
mod gate;
mod input;
mod itf_out;
mod paths;
mod progress;
mod reduce;
mod replay;
mod scenario;
mod select;
mod table;
mod timeline;
mod trace;
mod verdict;

use clap::Parser;
use cli::{Cli, Command};
use exit::Code;

fn run(cli: Cli) -> exit::Result<Code> {
    paths::init(cli.repo.as_deref());
    match cli.command {
        Command::Check(a) => check::cmd(&a),
        Command::Explore(a) => explore::cmd(&a),
        Command::Gate(a) => gate::cmd(&a),
        Command::Replay(a) => replay::cmd(&a),
        Command::Scenario(a) => scenario::cmd(&a),
        Command::Bench(a) => bench::cmd(&a),
        Command::BenchRow(a) => bench::row_cmd(&a),
    }
}

/// `checker ... | head` closes stdout early: end quietly, like a tool killed by
/// SIGPIPE (exit 141), instead of reporting a panic.
fn quiet_broken_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let msg = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if msg.contains("Broken pipe") {
            std::process::exit(141);
        }
        default(info);
    }));
}

fn main() {
    quiet_broken_pipe();
    // Clap exits 2 on bad usage and 0 on --help/--version.
    let cli = Cli::parse();
    let code = match std::panic::catch_unwind(|| run(cli)) {
        Ok(Ok(code)) => code,
        Ok(Err(fail)) => {
            eprintln!("error: {fail}");
            fail.code
        }
        Err(_) => {
            eprintln!(
                "internal error: the model panicked (message above); this is a bug in the model, not in your input"
            );
            Code::Internal
        }
    };
    std::process::exit(code as i32);
}
