//! Command-line definitions (clap derive). Parsing only: no work here.

use clap::builder::TypedValueParser;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// gmem-verify: check the guest_memfd shared/private conversion model.
#[derive(Parser, Debug)]
#[command(name = "checker", version, about, long_about = None)]
pub struct Cli {
    /// The gmem-verify checkout to use (default: the current directory or
    /// its nearest parent holding checker/expected.json and configs/).
    #[arg(long, global = true, value_name = "DIR")]
    pub repo: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Check a design (every gate row of it: safety, sanity and liveness),
    /// one gate row, or any configuration file.
    Check(CheckArgs),
    /// Print the explorer links of every counterexample and example, then
    /// serve the Stateright explorer for the configuration (never returns).
    Explore(ExploreArgs),
    /// The CI gate: check every gate row and compare with checker/expected.json.
    Gate(GateArgs),
    /// Re-run a counterexample file (ITF) on the model and say whether it reproduces.
    Replay(ReplayArgs),
    /// Run scenario files on the concrete implementation (default: every file in scenarios/).
    Scenario(ScenarioArgs),
    /// Benchmarks: the checker on the gate configurations, the gate's wall
    /// time, and the implementation's conversion cost and metadata size.
    Bench(BenchArgs),
    /// Measure one gate row in this process (used by `bench`).
    #[command(hide = true)]
    BenchRow(BenchRowArgs),
}

#[derive(Args, Debug, Clone)]
pub struct BenchArgs {
    /// Print the figures as JSON (to track them over time).
    #[arg(long)]
    pub json: bool,
    /// Only the gate rows whose name contains this (skips the gate timing).
    #[arg(long, value_name = "TEXT")]
    pub filter: Option<String>,
    /// Checker threads per row.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..))]
    pub threads: u16,
    /// Only the model (no implementation benchmarks).
    #[arg(long, conflicts_with = "impl_only")]
    pub model_only: bool,
    /// Only the implementation benchmarks.
    #[arg(long = "impl-only")]
    pub impl_only: bool,
}

#[derive(Args, Debug, Clone)]
pub struct BenchRowArgs {
    #[arg(long)]
    pub row: String,
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..))]
    pub threads: u16,
}

/// Which configuration to check.
#[derive(Args, Debug, Clone, Default)]
pub struct Select {
    /// Design: inplace, wait, split, pfnmap, huge_whole, exclusive_pin, hugetlb
    /// (default: the first bug's default design, or inplace).
    #[arg(long, value_name = "DESIGN")]
    pub design: Option<String>,
    /// Bug switch to turn on (repeatable).
    #[arg(long = "bug", value_name = "BUG")]
    pub bugs: Vec<String>,
    /// A gate row by name (e.g. `huge_whole@pin_subpage_a`, the file
    /// configs/NAME.json): check exactly what the gate checks for that row.
    #[arg(long, value_name = "ROW", conflicts_with_all = ["design", "bugs"])]
    pub row: Option<String>,
    /// A configuration file (docs/configuration.md): your own question.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["design", "bugs", "row"])]
    pub config: Option<PathBuf>,
    /// Removed: the page count belongs to a configuration file (--config).
    #[arg(long, value_name = "N", hide = true)]
    pub pages: Option<String>,
}

#[derive(Args, Debug, Clone)]
pub struct CheckArgs {
    #[command(flatten)]
    pub select: Select,
    /// Checker threads for the safety pass.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..))]
    pub threads: u16,
    /// Stop after about N generated states (safety) or N stored states per
    /// liveness graph (the run is then incomplete).
    #[arg(long, value_name = "N")]
    pub max_states: Option<usize>,
    /// Stop the safety pass, and the liveness pass, each after S seconds
    /// (the run is then incomplete; a violation found before is reported).
    #[arg(long, value_name = "S")]
    pub timeout: Option<u64>,
    /// Print the result as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Skip the liveness pass.
    #[arg(long)]
    pub no_liveness: bool,
    /// Directory for counterexample files (default: target/gmem-verify/counterexamples/
    /// of the checkout; the committed counterexamples/ is written only by
    /// `gate --write-counterexamples`).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Do not write counterexample files.
    #[arg(long)]
    pub no_write: bool,
    /// Store full states instead of fingerprints (safety and liveness): no
    /// collision can hide a state; slower, and much more memory.
    #[arg(long, conflicts_with = "fingerprint_bits")]
    pub exact: bool,
    /// Width of the safety pass's state fingerprints (64 or 128).
    #[arg(long, value_name = "BITS", default_value_t = 64,
          value_parser = clap::builder::PossibleValuesParser::new(["64", "128"])
              .map(|s| s.parse::<u16>().unwrap_or(64)))]
    pub fingerprint_bits: u16,
    /// Symmetry reduction of the safety pass's search: one state per orbit
    /// of the configuration's interchangeable pages, gigantic pages,
    /// processes, GUP users and VMs (and folio slots in the 4K designs);
    /// docs/scale.md. Traces, sanity examples and liveness stay unreduced.
    #[arg(long)]
    pub symmetry: bool,
    /// With --symmetry: also search the unreduced graph, require the same
    /// verdicts, and print the reduction factor.
    #[arg(long, requires = "symmetry")]
    pub compare_unreduced: bool,
}

impl CheckArgs {
    /// The fingerprint mode the flags select.
    pub fn fingerprints(&self) -> search::Fingerprints {
        match (self.exact, self.fingerprint_bits) {
            (true, _) => search::Fingerprints::Exact,
            (false, 128) => search::Fingerprints::Bits128,
            _ => search::Fingerprints::Bits64,
        }
    }

    /// The symmetry reduction the flags select.
    pub fn symmetry(&self) -> crate::reduce::Mode {
        match (self.symmetry, self.compare_unreduced) {
            (false, _) => crate::reduce::Mode::Off,
            (true, false) => crate::reduce::Mode::On,
            (true, true) => crate::reduce::Mode::Compare,
        }
    }
}

#[derive(Args, Debug, Clone)]
pub struct ExploreArgs {
    #[command(flatten)]
    pub select: Select,
    /// TCP port of the explorer (0: any free port, printed).
    #[arg(long, default_value_t = 3000)]
    pub port: u16,
    /// Address to bind (loopback unless you say otherwise).
    #[arg(long, default_value = "127.0.0.1", value_name = "ADDR")]
    pub bind: String,
}

#[derive(Args, Debug, Clone)]
pub struct GateArgs {
    /// Print the results as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// The deep profile instead (nightly, not CI): the rows of
    /// configs/deep/ (3-4 pages, two converter threads, two VMs), compared
    /// with checker/expected-deep.json and with the standard gate's
    /// verdicts of the same-named rows (checker/expected.json).
    #[arg(long, conflicts_with_all = ["write_counterexamples", "write_docs"])]
    pub deep: bool,
    /// Rewrite checker/expected.json and checker/sanity.json from the current
    /// results (with --deep: the verdicts of checker/expected-deep.json).
    #[arg(long)]
    pub bless: bool,
    /// Rewrite counterexamples/ (one ITF file and one SVG diagram per
    /// expected violation, and its README).
    #[arg(long)]
    pub write_counterexamples: bool,
    /// Rewrite docs/verdicts.md (the verdict matrix, generated from the results).
    #[arg(long)]
    pub write_docs: bool,
    /// Rows checked in parallel.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: u16,
    /// Checker threads per row (the safety pass).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..))]
    pub threads: u16,
    /// Symmetry reduction of every safety row's search (see `check
    /// --symmetry`); the verdicts, traces and examples compared are the
    /// same ones.
    #[arg(long)]
    pub symmetry: bool,
}

#[derive(Args, Debug, Clone)]
pub struct ReplayArgs {
    /// A counterexample file written by `check` or `gate` (ITF JSON).
    pub file: PathBuf,
}

#[derive(Args, Debug, Clone)]
pub struct ScenarioArgs {
    /// Scenario files (JSON); none means every file in scenarios/.
    pub files: Vec<PathBuf>,
}
