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
    if let Err(e) = run() {
        eprintln!("liveness_scale: {e}");
        std::process::exit(2);
    }
}

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |f: &str| args.iter().any(|a| a == f);
    let value = |f: &str| -> Result<Option<u64>, String> {
        match args.iter().position(|a| a == f) {
            None => Ok(None),
            Some(i) => args
                .get(i + 1)
                .and_then(|v| v.parse::<u64>().ok())
                .map(Some)
                .ok_or_else(|| format!("{f} takes a whole number")),
        }
    };
    let design = match args.first().filter(|a| !a.starts_with("--")) {
        None => Design::Inplace,
        Some(d) => Design::ALL
            .into_iter()
            .find(|x| x.name() == d)
            .ok_or_else(|| format!("unknown design '{d}'"))?,
    };
    // The design's safety gate row (configs/DESIGN.json), retried.
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../configs")
        .join(format!("{design}.json"));
    let mut cfg: Config = model::gate::load_file(&file)
        .map_err(|e| e.to_string())?
        .cfg;
    cfg.retry_until_ok = !flag("--no-retry");
    let m = GmemModel::new(cfg).map_err(|e| e.to_string())?;
    let opts = Options {
        max_states: value("--max-states")?.map(|n| n as usize),
        timeout: value("--timeout")?.map(Duration::from_secs),
        exact: flag("--exact"),
    };
    for id in properties::liveness(m.cfg()) {
        let r = model::live::check(&m, id, &opts);
        println!(
            "{design} retry={} exact={} {}: {}; {:.1} B/state (graph), {:.1} B/state + {:.1} B/edge",
            m.cfg().retry_until_ok,
            opts.exact,
            id.name(),
            r.summary(),
            r.approx_bytes as f64 / r.states as f64,
            (r.approx_bytes as f64 - 8.0 * r.edges as f64) / r.states as f64,
            8.0
        );
    }
    Ok(())
}
