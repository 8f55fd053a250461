//! `gate`: every configuration file under `configs/`, compared with the
//! committed expectation (`checker/expected.json`), the committed
//! counterexamples (`counterexamples/`: ITF traces and SVG diagrams) and the
//! generated verdict page (`docs/verdicts.md`), and the pinned sanity examples
//! (`checker/sanity.json`). Any difference fails the gate.

mod corpus;
mod deep;
mod docs;
mod expected;
mod matrix;
mod rows;
mod sanity;

use crate::cli::GateArgs;
use crate::exit::{Code, Fail, Result};
use crate::paths;
use crate::progress::Progress;
use crate::table::secs;
use serde_json::json;
use std::time::Instant;

pub use rows::RowResult;

pub fn cmd(a: &GateArgs) -> Result<Code> {
    if a.deep {
        return deep::cmd(a);
    }
    let start = Instant::now();
    let progress = Progress::new("gate", !a.json);
    let configs = crate::select::gate_rows()?;
    let rows = rows::run_all(
        &configs,
        a.jobs as usize,
        a.threads as usize,
        a.symmetry,
        &progress,
    )?;
    progress.finish();

    let exp_path = paths::expected_json()?;
    let old = expected::load(&exp_path)?;
    let current = expected::from_results(&rows);
    let mut blessed = Vec::new();
    let expectation = if a.bless {
        blessed = expected::compare(&rows, &old);
        expected::save(&exp_path, &rows)
            .map_err(|e| Fail::usage(format!("cannot write {}: {e}", exp_path.display())))?;
        current
    } else {
        old
    };
    let mut diffs = expected::compare(&rows, &expectation);
    diffs.extend(expected::intrinsic_failures(&rows));
    // Pinned sanity examples (checker/sanity.json): length and final state.
    let pins = sanity::examples(&rows, a.jobs as usize);
    if a.bless {
        sanity::save(&sanity::path()?, &pins)?;
    } else {
        diffs.extend(sanity::compare(&pins, &sanity::load(&sanity::path()?)?));
    }

    let dir = paths::counterexamples_dir()?;
    let files = corpus::render(&rows);
    if a.write_counterexamples {
        corpus::write(&dir, &files)
            .map_err(|e| Fail::usage(format!("cannot write {}: {e}", dir.display())))?;
    } else {
        diffs.extend(corpus::compare(&dir, &files));
    }
    let verdicts_path = paths::verdicts_md()?;
    let verdicts = docs::render(&rows);
    if a.write_docs {
        if let Some(parent) = verdicts_path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| Fail::usage(format!("cannot create {}: {e}", parent.display())))?;
        }
        std::fs::write(&verdicts_path, &verdicts)
            .map_err(|e| Fail::usage(format!("cannot write {}: {e}", verdicts_path.display())))?;
    } else {
        diffs.extend(docs::compare(&verdicts_path, &verdicts));
    }
    let wall = start.elapsed();

    if a.json {
        let v = json!({
            "rows": rows.iter().map(RowResult::to_json).collect::<Vec<_>>(),
            "differences": diffs,
            "blessed_changes": blessed,
            "wall_seconds": wall.as_secs_f64(),
        });
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    } else {
        print!("{}", matrix::render(&rows, &expectation));
        if !blessed.is_empty() {
            println!(
                "\nblessed into {} ({} changes):",
                exp_path.display(),
                blessed.len()
            );
            for d in &blessed {
                println!("  {d}");
            }
        }
        if a.write_counterexamples {
            println!(
                "\nwrote {} counterexample files (ITF and SVG) and README.md under {}",
                files.traces.len(),
                dir.display()
            );
        }
        if a.write_docs {
            println!("\nwrote {}", verdicts_path.display());
        }
        if diffs.is_empty() {
            println!(
                "\ngate: PASS: {} rows match checker/expected.json, counterexamples/ and docs/verdicts.md (wall time {})",
                rows.len(),
                secs(wall)
            );
            let stats: Vec<_> = rows.iter().filter_map(|r| r.safety.as_ref()).collect();
            println!("{}", crate::engine::risk_line(&stats));
            if a.symmetry {
                println!("{}", symmetry_line(&rows));
            }
        } else {
            print_failures("gate", &diffs, wall);
        }
    }
    Ok(verdict_code(&diffs))
}

/// A failed gate run's report: each difference, then the wall time.
pub(crate) fn print_failures(label: &str, diffs: &[String], wall: std::time::Duration) {
    println!("\n{label}: FAIL: {} differences:", diffs.len());
    for d in diffs {
        println!("  {d}");
    }
    println!("(wall time {})", secs(wall));
}

/// The gate's exit code: it passes only without differences.
pub(crate) fn verdict_code(diffs: &[String]) -> Code {
    if diffs.is_empty() {
        Code::Ok
    } else {
        Code::Failed
    }
}

/// `gate --symmetry`: which rows had something to reduce.
fn symmetry_line(rows: &[RowResult]) -> String {
    let reduced: Vec<&RowResult> = rows
        .iter()
        .filter(|r| r.safety.as_ref().is_some_and(|s| s.symmetry.is_some()))
        .collect();
    let grouped: Vec<String> = reduced
        .iter()
        .filter_map(|r| {
            let y = r.safety.as_ref()?.symmetry.as_ref()?;
            (y.order > 1).then(|| format!("{} (order {})", r.name, y.order))
        })
        .collect();
    let slots = reduced
        .iter()
        .filter(|r| {
            r.safety
                .as_ref()
                .and_then(|s| s.symmetry.as_ref())
                .is_some_and(|y| y.slots_renamed)
        })
        .count();
    format!(
        "symmetry: {} safety rows searched over orbit representatives ({} with folio slots renamed; a page/actor group on {}); traces, sanity examples and liveness unreduced",
        reduced.len(),
        slots,
        if grouped.is_empty() {
            "none".to_string()
        } else {
            grouped.join(", ")
        }
    )
}
