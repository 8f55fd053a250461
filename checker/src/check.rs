//! `check`: one configuration, every pass, a table, timelines and ITF files.

use crate::cli::CheckArgs;
use crate::engine::{self, Bounds, LiveStats, SafetyStats, Want};
use crate::exit::{Code, Fail, Result};
use crate::select::{select, Target};
use crate::verdict::{kind_name, PropResult, Verdict};
use crate::{itf_out, paths, table, timeline};
use model::GmemModel;
use serde_json::json;
use std::path::PathBuf;
use std::time::{Duration, Instant};

pub const EXPLORER: &str = "http://127.0.0.1:3000";

pub struct Outcome {
    pub results: Vec<PropResult>,
    pub safety: Option<SafetyStats>,
    pub live: Vec<LiveStats>,
    /// The label and model liveness results come from (see `Target::live`).
    pub live_model: Option<(String, GmemModel)>,
}

impl Outcome {
    /// The label and model that produced result `r`.
    pub fn source<'a>(
        &'a self,
        t: &'a Target,
        m: &'a GmemModel,
        r: &PropResult,
    ) -> (&'a str, &'a GmemModel) {
        match (&self.live_model, r.kind()) {
            (Some((l, lm)), invariants::Kind::Liveness) => (l.as_str(), lm),
            _ => (t.label.as_str(), m),
        }
    }
}

/// Runs the passes the target asks for.
pub fn run(
    t: &Target,
    m: &GmemModel,
    b: &Bounds,
    want: Want,
    liveness: bool,
    show_progress: bool,
) -> Result<Outcome> {
    let mut out = Outcome {
        results: vec![],
        safety: None,
        live: vec![],
        live_model: None,
    };
    if t.runs_safety() {
        let (r, s) = engine::safety_pass(m, b, want, show_progress)?;
        out.results.extend(r);
        out.safety = s;
    }
    if t.runs_liveness() && liveness {
        let (label, lm) = t.live_model()?;
        let (r, s) = engine::liveness_pass(&lm, b, show_progress);
        out.results.extend(r);
        out.live = s;
        if t.live.is_some() {
            out.live_model = Some((label, lm));
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

pub fn cmd(a: &CheckArgs) -> Result<Code> {
    let t = select(&a.select)?;
    let m = t.model()?;
    let b = Bounds {
        threads: a.threads as usize,
        max_states: a.max_states,
        timeout: a.timeout.map(Duration::from_secs),
        fingerprints: a.fingerprints(),
    };
    if a.max_states == Some(0) {
        return Err(Fail::usage("--max-states must be at least 1"));
    }
    let start = Instant::now();
    if !a.json {
        println!(
            "checking {} ({} page{}; actors: {})",
            t.label,
            m.cfg.pages,
            if m.cfg.pages == 1 { "" } else { "s" },
            m.actors()
                .iter()
                .map(|x| x.name())
                .collect::<Vec<_>>()
                .join(", ")
        );
        if let (Some((row, _)), false) = (&t.live, a.no_liveness) {
            println!("liveness on the design's liveness configuration: row {row} (`--row {row}`)");
        }
    }
    let want = Want {
        violations: true,
        examples: true,
    };
    let out = run(&t, &m, &b, want, !a.no_liveness, !a.json)?;
    let wall = start.elapsed();
    let dir = a.out.clone().unwrap_or_else(paths::counterexamples_dir);

    // Counterexample files.
    let mut files: Vec<(usize, PathBuf)> = vec![];
    for (i, r) in out.results.iter().enumerate() {
        if let (Verdict::Violated(Some(tr)), false) = (&r.verdict, a.no_write) {
            let (label, rm) = out.source(&t, &m, r);
            let text = itf_out::render(rm, label, r.id, tr);
            let cannot = |e: std::io::Error| {
                Fail::usage(format!(
                    "cannot write a counterexample under {}: {e}",
                    dir.display()
                ))
            };
            let path = itf_out::write(&dir, label, r.id, &text).map_err(cannot)?;
            let svg = itf_out::render_svg(rm, label, r.id, tr);
            itf_out::write_svg(&dir, label, r.id, &svg).map_err(cannot)?;
            files.push((i, path));
        }
    }
    let code = code(&out.results);

    if a.json {
        print_json(&t, &m, &out, &files, wall, code);
        return Ok(code);
    }
    for (i, r) in out.results.iter().enumerate() {
        let Verdict::Violated(Some(tr)) = &r.verdict else {
            continue;
        };
        println!("\n{} {} violated:", kind_name(r.kind()), r.name());
        println!("  {}", r.id.spec().sentence);
        print!(
            "{}",
            timeline::render(
                out.source(&t, &m, r).1,
                tr,
                &format!("VIOLATES {}", r.name())
            )
        );
        if let Some((_, p)) = files.iter().find(|(j, _)| *j == i) {
            println!(
                "trace: {}  (diagram: {})",
                p.display(),
                p.with_extension("").with_extension("svg").display()
            );
        }
        let flags = match out.source(&t, &m, r).0 {
            l if l != t.label => format!("--row {l}"),
            _ => t.flags.clone(),
        };
        println!(
            "explorer: {EXPLORER}/#/steps/{}  (run: cargo run --release -- explore {flags})",
            tr.explorer_path(),
        );
    }
    let examples: Vec<&PropResult> = out
        .results
        .iter()
        .filter(|r| matches!(r.verdict, Verdict::Found(Some(_))))
        .collect();
    if !examples.is_empty() {
        println!("\nsanity examples (open in `explore {}`):", t.flags);
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
    let live_row = out.live_model.as_ref().map(|(l, _)| l.as_str());
    print!("{}", table::results(&out.results, live_row));
    println!();
    print!("{}", table::stats(out.safety.as_ref(), &out.live, wall));
    println!("{}", summary(&t.label, &out.results, code));
    if let Some(s) = &out.safety {
        println!("{}", engine::risk_line(&[s]));
    }
    Ok(code)
}

fn summary(label: &str, results: &[PropResult], code: Code) -> String {
    let count = |f: fn(&Verdict) -> bool| results.iter().filter(|r| f(&r.verdict)).count();
    let violated = count(|v| matches!(v, Verdict::Violated(_)));
    let missing = count(|v| matches!(v, Verdict::NotFound));
    let incomplete = count(|v| matches!(v, Verdict::Incomplete(_)));
    let checked = results.len() - count(|v| matches!(v, Verdict::NotApplicable(_)));
    match code {
        Code::Ok => format!("{label}: verified: all {checked} applicable properties hold or have examples"),
        Code::Incomplete => format!(
            "{label}: INCOMPLETE: {incomplete} properties have no verdict (a bound stopped the search), so no conclusion can be drawn"
        ),
        _ => format!(
            "{label}: FAILED: {violated} violated, {missing} sanity examples missing{}",
            if incomplete > 0 {
                format!(", {incomplete} incomplete")
            } else {
                String::new()
            }
        ),
    }
}

fn print_json(
    t: &Target,
    m: &GmemModel,
    out: &Outcome,
    files: &[(usize, PathBuf)],
    wall: Duration,
    code: Code,
) {
    let props: Vec<_> = out
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
            if let Some((_, p)) = files.iter().find(|(j, _)| *j == i) {
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
    let v = json!({
        "label": t.label,
        "config": m.cfg,
        "exit_code": code as i32,
        "safety": out.safety.as_ref().map(|s| json!({
            "unique_states": s.unique,
            "generated_states": s.generated,
            "max_depth": s.max_depth,
            "seconds": s.elapsed.as_secs_f64(),
            "stopped": s.stopped,
            "fingerprint_bits": s.fingerprints.mode.bits(),
            "collision_probability": s.fingerprints.probability(),
        })),
        "liveness": out.live.iter().map(|l| json!({
            "property": l.id.name(),
            "states": l.states,
            "edges": l.edges,
            "seconds": l.elapsed.as_secs_f64(),
            "approx_bytes": l.approx_bytes,
            "collision_probability": l.collision_probability,
        })).collect::<Vec<_>>(),
        "properties": props,
        "wall_seconds": wall.as_secs_f64(),
    });
    println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
}
