//! `bench`: the checker's own figures on the gate configurations (unique and
//! generated states, states/s, bytes per visited state, peak RSS, gate wall
//! time) and the implementation's (1 GiB conversion and punch, metadata
//! bytes per 4K page at 1 TiB). Each model row runs in a child process
//! (`bench-row`), so its peak RSS is its own.

use crate::cli::{BenchArgs, BenchRowArgs};
use crate::exit::{Code, Fail, Result};
use crate::select::{gate_row, gate_rows};
use model::gate::Pass;
use model::GmemModel;
use serde_json::{json, Value};
use std::process::Command;
use std::time::Instant;

/// Peak and current resident set size of this process, in KiB (Linux).
fn rss_kib() -> (u64, u64) {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        s.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

/// One model row, measured in this process; prints one JSON line.
pub fn row_cmd(a: &BenchRowArgs) -> Result<Code> {
    let g = gate_row(&a.row)?;
    let m = GmemModel::new(g.cfg)?;
    let (_, baseline) = rss_kib();
    let start = Instant::now();
    // The safety pass's engine (checker/src/engine.rs), without the BFS for traces.
    let opts = search::Options {
        threads: a.threads as usize,
        ..Default::default()
    };
    let o = search::run(&m, &opts).map_err(|e| Fail::internal(e.to_string()))?;
    let secs = start.elapsed().as_secs_f64();
    let (hwm, _) = rss_kib();
    println!(
        "{}",
        json!({
            "row": a.row,
            "threads": a.threads,
            "unique_states": o.unique,
            "generated_states": o.generated,
            "seconds": secs,
            "peak_rss_kib": hwm,
            "baseline_rss_kib": baseline,
        })
    );
    Ok(Code::Ok)
}

fn child(args: &[&str]) -> Result<(std::process::Output, f64)> {
    let exe = std::env::current_exe()
        .map_err(|e| Fail::internal(format!("cannot find the checker binary: {e}")))?;
    // The child works on the same checkout, whatever its current directory.
    let root = crate::paths::repo_root()?;
    let start = Instant::now();
    let out = Command::new(exe)
        .arg("--repo")
        .arg(root)
        .args(args)
        .output()
        .map_err(|e| Fail::internal(format!("cannot run a child checker: {e}")))?;
    Ok((out, start.elapsed().as_secs_f64()))
}

pub fn cmd(a: &BenchArgs) -> Result<Code> {
    let mut rows: Vec<Value> = Vec::new();
    if !a.impl_only {
        let all = gate_rows()?;
        let selected: Vec<_> = all
            .iter()
            .filter(|g| g.pass == Pass::Safety)
            .filter(|g| {
                a.filter
                    .as_ref()
                    .is_none_or(|f| g.name.contains(f.as_str()))
            })
            .collect();
        if selected.is_empty() {
            let f = a.filter.as_deref().unwrap_or("");
            return Err(Fail::usage(format!(
                "--filter '{f}' matches no safety gate row (the rows: {})",
                all.iter()
                    .filter(|g| g.pass == Pass::Safety)
                    .map(|g| g.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        for g in selected {
            let threads = a.threads.to_string();
            let (out, _) = child(&["bench-row", "--row", &g.name, "--threads", &threads])?;
            let line = String::from_utf8_lossy(&out.stdout);
            let mut v: Value = serde_json::from_str(line.trim()).map_err(|e| {
                Fail::internal(format!(
                    "bench-row {} printed no result ({e}): {}",
                    g.name,
                    String::from_utf8_lossy(&out.stderr)
                ))
            })?;
            let unique = v["unique_states"].as_f64().unwrap_or(0.0);
            let generated = v["generated_states"].as_f64().unwrap_or(0.0);
            let secs = v["seconds"].as_f64().unwrap_or(0.0).max(1e-9);
            let grown = v["peak_rss_kib"].as_f64().unwrap_or(0.0)
                - v["baseline_rss_kib"].as_f64().unwrap_or(0.0);
            v["unique_per_second"] = json!(unique / secs);
            v["generated_per_second"] = json!(generated / secs);
            v["bytes_per_visited_state"] = json!(if unique > 0.0 {
                grown.max(0.0) * 1024.0 / unique
            } else {
                0.0
            });
            if !a.json {
                eprintln!("  measured {}", g.name);
            }
            rows.push(v);
        }
    }
    let gate = if a.impl_only || a.filter.is_some() {
        None
    } else {
        let (out, secs) = child(&["gate"])?;
        Some(json!({ "wall_seconds": secs, "passed": out.status.success() }))
    };
    let mut imp: Vec<Value> = Vec::new();
    if !a.model_only {
        for d in guest_memfd::design::Design::ALL {
            let r = guest_memfd::bench::measure(d).map_err(|e| {
                Fail::internal(format!("implementation benchmark {}: {e}", d.name()))
            })?;
            imp.push(json!({
                "design": d.name(),
                "range_pages": r.range_pages,
                "file_pages": r.file_pages,
                "convert_round_trip_us": r.convert_round_trip.as_secs_f64() * 1e6,
                "convert_populated_round_trip_us": r.convert_populated_round_trip.as_secs_f64() * 1e6,
                "punch_us": r.punch.as_secs_f64() * 1e6,
                "metadata_bytes_per_4k_page_untouched_1t": r.meta_per_page_untouched,
                "metadata_bytes_per_4k_page_populated": r.meta_per_page_populated,
            }));
        }
    }
    let all = json!({ "model": rows, "gate": gate, "implementation": imp });
    if a.json {
        println!("{}", serde_json::to_string_pretty(&all).unwrap_or_default());
        return Ok(Code::Ok);
    }
    if !rows.is_empty() {
        println!(
            "{:<32} {:>11} {:>12} {:>8} {:>11} {:>12} {:>9} {:>10}",
            "gate row (safety, DFS)",
            "unique",
            "generated",
            "seconds",
            "unique/s",
            "generated/s",
            "B/state",
            "peak RSS"
        );
        for v in &rows {
            println!(
                "{:<32} {:>11} {:>12} {:>8.2} {:>11.0} {:>12.0} {:>9.1} {:>7} MiB",
                v["row"].as_str().unwrap_or(""),
                v["unique_states"].as_u64().unwrap_or(0),
                v["generated_states"].as_u64().unwrap_or(0),
                v["seconds"].as_f64().unwrap_or(0.0),
                v["unique_per_second"].as_f64().unwrap_or(0.0),
                v["generated_per_second"].as_f64().unwrap_or(0.0),
                v["bytes_per_visited_state"].as_f64().unwrap_or(0.0),
                v["peak_rss_kib"].as_u64().unwrap_or(0) / 1024,
            );
        }
    }
    if let Some(g) = &gate {
        println!(
            "\ngate wall time: {:.2} s ({})",
            g["wall_seconds"].as_f64().unwrap_or(0.0),
            if g["passed"].as_bool() == Some(true) {
                "passed"
            } else {
                "FAILED"
            }
        );
    }
    if !imp.is_empty() {
        println!(
            "\n{:<14} {:>22} {:>22} {:>14} {:>26} {:>24}",
            "implementation",
            "1 GiB to-private+back",
            "populated, there+back",
            "1 GiB punch",
            "metadata B/4K, 1 TiB file",
            "B/4K, 1 GiB populated"
        );
        for v in &imp {
            println!(
                "{:<14} {:>19.1} us {:>19.1} us {:>11.1} us {:>26.6} {:>24.1}",
                v["design"].as_str().unwrap_or(""),
                v["convert_round_trip_us"].as_f64().unwrap_or(0.0),
                v["convert_populated_round_trip_us"].as_f64().unwrap_or(0.0),
                v["punch_us"].as_f64().unwrap_or(0.0),
                v["metadata_bytes_per_4k_page_untouched_1t"]
                    .as_f64()
                    .unwrap_or(0.0),
                v["metadata_bytes_per_4k_page_populated"]
                    .as_f64()
                    .unwrap_or(0.0),
            );
        }
    }
    Ok(Code::Ok)
}
