//! Liveness at the scale of safety: every applicable liveness property on a design's full
//! safety configuration, with the VMM's retry as a configuration choice.
//!
//! ```text
//! cargo run --release -p model --example liveness_scale -- [DESIGN] [--no-retry] [--exact]
//!     [--max-states N] [--timeout SECONDS]
//! ```
//! Run under `/usr/bin/time -v` for the peak RSS. `--exact` runs the reference engine
//! (full states).

use liveness::Options;
use model::{properties, Config, Design, GmemModel};
use std::time::Duration;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |f: &str| args.iter().any(|a| a == f);
    let value = |f: &str| {
        args.iter()
            .position(|a| a == f)
            .and_then(|i| args.get(i + 1))
            .map(|v| v.parse::<u64>().expect("a number"))
    };
    let design = args
        .first()
        .filter(|a| !a.starts_with("--"))
        .map(|d| {
            Design::ALL
                .into_iter()
                .find(|x| x.name() == d)
                .expect("a design name")
        })
        .unwrap_or(Design::Inplace);
    let mut cfg = Config::for_design(design);
    cfg.retry_until_ok = !flag("--no-retry");
    let m = GmemModel::new(cfg).expect("valid configuration");
    let opts = Options {
        max_states: value("--max-states").map(|n| n as usize),
        timeout: value("--timeout").map(Duration::from_secs),
        exact: flag("--exact"),
    };
    for id in properties::liveness(&m.cfg) {
        let r = model::live::check(&m, id, &opts);
        println!(
            "{design} retry={} exact={} {}: {}; {:.1} B/state (graph), {:.1} B/state + {:.1} B/edge",
            m.cfg.retry_until_ok,
            opts.exact,
            id.name(),
            r.summary(),
            r.approx_bytes as f64 / r.states as f64,
            (r.approx_bytes as f64 - 8.0 * r.edges as f64) / r.states as f64,
            8.0
        );
    }
}
