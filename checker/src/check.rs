//! `check`: every configuration selected (a design's gate rows, one row, or
//! a file), each with its pass; a table, timelines and ITF files per row;
//! then one verdict line per property class, each with its bound.

use crate::cli::CheckArgs;
use crate::engine::{self, Bounds, LiveStats, SafetyStats, Want};
use crate::exit::{Code, Fail, Result};
use crate::select::{self, select, Target};
use crate::table::secs;
use crate::verdict::{kind_name, PropResult, Verdict};
use crate::{bound, itf_out, paths, table, timeline};
use invariants::Kind;
use model::gate::{GateConfig, Pass};
use model::GmemModel;
use serde_json::json;
use std::path::PathBuf;
use std::time::{Duration, Instant};

pub const EXPLORER: &str = "http://127.0.0.1:3000";

pub struct Outcome {
    pub results: Vec<PropResult>,
    pub safety: Option<SafetyStats>,
    pub live: Vec<LiveStats>,
}

/// Runs the pass a configuration asks for.
pub fn run(
    g: &GateConfig,
    m: &GmemModel,
    b: &Bounds,
    want: Want,
    show_progress: bool,
) -> Result<Outcome> {
    let mut out = Outcome {
        results: vec![],
        safety: None,
        live: vec![],
    };
    match g.pass {
        Pass::Safety => {
            let (r, s) = engine::safety_pass(m, b, want, show_progress)?;
            out.results = r;
            out.safety = s;
        }
        Pass::Liveness => {
            let (r, s) = engine::liveness_pass(m, b, show_progress);
            out.results = r;
            out.live = s;
        }
    }
    Ok(out)
}

/// The exit code of a set of results: failures first, then incompleteness.
pub fn code(results: &[PropResult]) -> Code {
    results.iter().fold(Code::Ok, |c, r| match r.verdict {
        Verdict::Violated(_) | Verdict::NotFound => c.worst(Code::Failed),
        Verdict::Incomplete(_) => c.worst(Code::Incomplete),
        _ => c,
    })
}

/// One checked configuration of a `check` run.
struct Checked {
    row: GateConfig,
    model: GmemModel,
    out: Outcome,
    files: Vec<(usize, PathBuf)>,
}

pub fn cmd(a: &CheckArgs) -> Result<Code> {
    if a.max_states == Some(0) {
        return Err(Fail::usage("--max-states must be at least 1"));
    }
    if a.timeout == Some(0) {
        return Err(Fail::usage("--timeout must be at least 1 second"));
    }
    let t = select(&a.select)?;
    let from_file = a.select.config.is_some();
    let b = Bounds {
        threads: a.threads as usize,
        max_states: a.max_states,
        timeout: a.timeout.map(Duration::from_secs),
        fingerprints: a.fingerprints(),
        symmetry: a.symmetry(),
    };
    let start = Instant::now();
    let dir = a
        .out
        .clone()
        .unwrap_or_else(paths::scratch_counterexamples_dir);
    let skipped: Vec<&str> = t
        .rows
        .iter()
        .filter(|g| a.no_liveness && g.pass == Pass::Liveness)
        .map(|g| g.name.as_str())
        .collect();
    if skipped.len() == t.rows.len() {
        return Err(Fail::usage(format!(
            "--no-liveness leaves nothing to check: {} is liveness only",
            skipped.join(", ")
        )));
    }
    if !a.json {
        println!(
            "checking {}: {} configuration{} ({})",
            t.title,
            t.rows.len(),
            if t.rows.len() == 1 { "" } else { "s" },
            t.rows
                .iter()
                .map(|g| g.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let want = Want {
        violations: true,
        examples: true,
    };
    let mut checked: Vec<Checked> = vec![];
    for g in &t.rows {
        if a.no_liveness && g.pass == Pass::Liveness {
            continue;
        }
        let m = select::model(g)?;
        if !a.json {
            println!(
                "\n== {} ({} pass; {})",
                g.name,
                g.pass,
                bound::describe(m.cfg())
            );
            if !g.description.is_empty() {
                println!("   {}", g.description);
            }
            println!("   actors: {}", actor_names(&m));
        }
        let out = run(g, &m, &b, want, !a.json)?;
        let mut files = vec![];
        if !a.no_write {
            for (i, r) in out.results.iter().enumerate() {
                if let Verdict::Violated(Some(tr)) = &r.verdict {
                    let cannot = |e: std::io::Error| {
                        Fail::usage(format!(
                            "cannot write a counterexample under {}: {e}",
                            dir.display()
                        ))
                    };
                    let text = itf_out::render(&m, &g.name, r.id, tr);
                    let path = itf_out::write(&dir, &g.name, r.id, &text).map_err(cannot)?;
                    let svg = itf_out::render_svg(&m, &g.name, r.id, tr);
                    itf_out::write_svg(&dir, &g.name, r.id, &svg).map_err(cannot)?;
                    files.push((i, path));
                }
            }
        }
        let c = Checked {
            row: g.clone(),
            model: m,
            out,
            files,
        };
        if !a.json {
            print_row(&c, from_file);
            if a.symmetry && c.row.pass == Pass::Liveness {
                println!("symmetry: not applied: the liveness pass searches the full graph (docs/scale.md#symmetry-reduction)");
            }
        }
        checked.push(c);
    }
    let wall = start.elapsed();
    let code = checked
        .iter()
        .fold(Code::Ok, |c, x| c.worst(code(&x.out.results)));
    let mut lines = verdict_lines(&t.title, &checked);
    if !skipped.is_empty() {
        lines.push(format!(
            "{}: liveness NOT CHECKED (--no-liveness): rows {}",
            t.title,
            skipped.join(", ")
        ));
    }
    if a.json {
        print_json(&t, &checked, &lines, wall, code);
        return Ok(code);
    }
    println!("\nwall time: {}", secs(wall));
    println!("verdict of {}, within the bounds stated:", t.title);
    for l in &lines {
        println!("  {l}");
    }
    Ok(code)
}

/// `p` relative to the current directory when it is under it.
fn shown_path(p: &std::path::Path) -> PathBuf {
    std::env::current_dir()
        .ok()
        .and_then(|d| p.strip_prefix(d).ok().map(PathBuf::from))
        .unwrap_or_else(|| p.to_path_buf())
}

fn actor_names(m: &GmemModel) -> String {
    m.actors()
        .iter()
        .map(|x| x.name())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Timelines of the violations, explorer links, the table and the cost of one row.
fn print_row(c: &Checked, from_file: bool) {
    let flags = select::row_flags(&c.row, from_file);
    for (i, r) in c.out.results.iter().enumerate() {
        let Verdict::Violated(Some(tr)) = &r.verdict else {
            continue;
        };
        println!("\n{} {} violated:", kind_name(r.kind()), r.name());
        println!("  {}", r.id.spec().sentence);
        print!(
            "{}",
            timeline::render(&c.model, tr, &format!("VIOLATES {}", r.name()))
        );
        if let Some((_, p)) = c.files.iter().find(|(j, _)| *j == i) {
            let p = shown_path(p);
            println!(
                "trace: {}  (diagram: {})",
                p.display(),
                p.with_extension("").with_extension("svg").display()
            );
        }
        println!(
            "explorer: {EXPLORER}/#/steps/{}  (run: cargo run --release -- explore {flags})",
            tr.explorer_path(),
        );
    }
    let examples: Vec<&PropResult> = c
        .out
        .results
        .iter()
        .filter(|r| matches!(r.verdict, Verdict::Found(Some(_))))
        .collect();
    if !examples.is_empty() {
        println!("\nsanity examples (open in `explore {flags}`):");
        for r in examples {
            if let Some(tr) = r.verdict.trace() {
                println!(
                    "  {:<40} {:>3} steps  {EXPLORER}/#/steps/{}",
                    r.name(),
                    tr.steps.len(),
                    tr.explorer_path()
                );
            }
        }
    }
    println!();
    print!("{}", table::results(&c.out.results));
    print!("{}", table::stats(c.out.safety.as_ref(), &c.out.live, None));
    if let Some(s) = &c.out.safety {
        if let Some(y) = &s.symmetry {
            println!("{}", y.line(s.unique));
        }
        println!("{}", engine::risk_line(&[s]));
    }
}

fn names(rs: &[&PropResult]) -> String {
    rs.iter().map(|r| r.name()).collect::<Vec<_>>().join(", ")
}

/// One row's verdict on its property class, e.g. `NOT live:
/// independent_subpages violated`.
fn row_verdict(c: &Checked) -> (bool, String) {
    let rs = &c.out.results;
    let of = |f: fn(&Verdict) -> bool, k: Option<Kind>| -> Vec<&PropResult> {
        rs.iter()
            .filter(|r| f(&r.verdict) && k.is_none_or(|k| r.kind() == k))
            .collect()
    };
    let violated = of(|v| matches!(v, Verdict::Violated(_)), None);
    let missing = of(|v| matches!(v, Verdict::NotFound), None);
    let incomplete = of(|v| matches!(v, Verdict::Incomplete(_)), None);
    let (good, bad) = match c.row.pass {
        Pass::Safety => ("safe", "NOT safe"),
        Pass::Liveness => ("live", "NOT live"),
    };
    let mut parts = vec![];
    if !violated.is_empty() {
        parts.push(format!("{bad}: {} violated", names(&violated)));
    }
    if !missing.is_empty() {
        parts.push(format!(
            "FAILED: sanity examples not found (safety would be vacuous): {}",
            names(&missing)
        ));
    }
    if !incomplete.is_empty() {
        parts.push(format!(
            "INCOMPLETE: no verdict for {} (a bound stopped the search)",
            names(&incomplete)
        ));
    }
    if parts.is_empty() {
        let holds = of(|v| matches!(v, Verdict::Holds), None);
        let found = of(|v| matches!(v, Verdict::Found(_)), None);
        let what = match c.row.pass {
            Pass::Safety => format!(
                "{good}: {} safety properties hold, {} sanity examples found",
                holds.len(),
                found.len()
            ),
            Pass::Liveness if holds.is_empty() => {
                "nothing checked: no liveness property applies".to_string()
            }
            Pass::Liveness => format!(
                "{good}: {} hold{}",
                names(&holds),
                if holds.len() == 1 { "s" } else { "" }
            ),
        };
        return (true, what);
    }
    (false, parts.join("; "))
}

/// One line per property class (safety, liveness): every row's verdict with
/// the row name and its bound. Never a bare "verified".
fn verdict_lines(title: &str, checked: &[Checked]) -> Vec<String> {
    let mut lines = vec![];
    for pass in [Pass::Safety, Pass::Liveness] {
        let rows: Vec<&Checked> = checked.iter().filter(|c| c.row.pass == pass).collect();
        if rows.is_empty() {
            continue;
        }
        let mut verdicts: Vec<(bool, String)> = rows
            .iter()
            .map(|c| {
                let (ok, v) = row_verdict(c);
                (
                    ok,
                    format!(
                        "{v} (row {}: {})",
                        c.row.name,
                        bound::describe(c.model.cfg())
                    ),
                )
            })
            .collect();
        // Failures first: the line leads with what is wrong.
        verdicts.sort_by_key(|(ok, _)| *ok);
        lines.push(format!(
            "{title}: {}",
            verdicts
                .into_iter()
                .map(|(_, v)| v)
                .collect::<Vec<_>>()
                .join("; ")
        ));
    }
    lines
}

fn print_json(t: &Target, checked: &[Checked], lines: &[String], wall: Duration, code: Code) {
    let rows: Vec<_> = checked
        .iter()
        .map(|c| {
            let props: Vec<_> = c
                .out
                .results
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    let mut o = json!({
                        "property": r.name(),
                        "kind": kind_name(r.kind()),
                        "verdict": r.verdict.key(),
                    });
                    match &r.verdict {
                        Verdict::NotApplicable(reason) => o["reason"] = json!(reason),
                        Verdict::Incomplete(reason) => o["reason"] = json!(reason),
                        _ => {}
                    }
                    if let Some(tr) = r.verdict.trace() {
                        o["steps"] = json!(tr.steps.len());
                        o["explorer_path"] = json!(tr.explorer_path());
                        if let Some(l) = tr.loop_start {
                            o["loop"] = json!(l);
                        }
                    }
                    if let Some((_, p)) = c.files.iter().find(|(j, _)| *j == i) {
                        o["file"] = json!(p.display().to_string());
                        o["svg"] = json!(p
                            .with_extension("")
                            .with_extension("svg")
                            .display()
                            .to_string());
                    }
                    o
                })
                .collect();
            json!({
                "label": c.row.name,
                "pass": c.row.pass,
                "bound": bound::describe(c.model.cfg()),
                "config": c.model.cfg(),
                "exit_code": code_of(&c.out.results) as i32,
                "safety": c.out.safety.as_ref().map(|s| json!({
                    "unique_states": s.unique,
                    "generated_states": s.generated,
                    "max_depth": s.max_depth,
                    "seconds": s.elapsed.as_secs_f64(),
                    "stopped": s.stopped,
                    "fingerprint_bits": s.fingerprints.mode.bits(),
                    "collision_probability": s.fingerprints.probability(),
                    "symmetry": s.symmetry.as_ref().map(|y| json!({
                        "group": y.group,
                        "group_order": y.order,
                        "folio_slots_renamed": y.slots_renamed,
                        "unreduced_unique_states": y.unreduced.as_ref().map(|u| u.unique),
                        "unreduced_generated_states": y.unreduced.as_ref().map(|u| u.generated),
                        "verdicts_compared": y.unreduced.as_ref().map(|u| u.compared),
                        "reduction_factor": y.factor(s.unique),
                    })),
                })),
                "liveness": c.out.live.iter().map(|l| json!({
                    "properties": l.ids.iter().map(|id| id.name()).collect::<Vec<_>>(),
                    "states": l.states,
                    "edges": l.edges,
                    "seconds": l.elapsed.as_secs_f64(),
                    "approx_bytes": l.approx_bytes,
                    "collision_probability": l.collision_probability,
                })).collect::<Vec<_>>(),
                "properties": props,
            })
        })
        .collect();
    let v = json!({
        "title": t.title,
        "exit_code": code as i32,
        "rows": rows,
        "verdicts": lines,
        "wall_seconds": wall.as_secs_f64(),
    });
    println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
}

fn code_of(results: &[PropResult]) -> Code {
    code(results)
}
