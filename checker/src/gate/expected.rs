//! `checker/expected.json`: `{row: {property: verdict}}` in gate order, and
//! the comparison of results with it.

use super::RowResult;
use crate::exit::{Fail, Result};
use crate::verdict::Verdict;
use std::collections::BTreeMap;
use std::path::Path;

pub type Expected = BTreeMap<String, BTreeMap<String, String>>;

pub fn load(path: &Path) -> Result<Expected> {
    if !path.exists() {
        return Ok(Expected::new());
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| Fail::usage(format!("cannot read {}: {e}", path.display())))?;
    serde_json::from_str(&text).map_err(|e| {
        Fail::usage(format!(
            "{}: not {{row: {{property: verdict}}}} JSON: {e}",
            path.display()
        ))
    })
}

pub fn from_results(rows: &[RowResult]) -> Expected {
    rows.iter()
        .map(|r| {
            (
                r.name.clone(),
                r.results
                    .iter()
                    .map(|p| (p.name().to_string(), p.verdict.key().to_string()))
                    .collect(),
            )
        })
        .collect()
}

/// Writes the expectation in gate order (rows) and report order (properties).
pub fn save(path: &Path, rows: &[RowResult]) -> std::io::Result<()> {
    let q = |s: &str| serde_json::to_string(s).unwrap_or_default();
    let body: Vec<String> = rows
        .iter()
        .map(|r| {
            let props: Vec<String> = r
                .results
                .iter()
                .map(|p| format!("    {}: {}", q(p.name()), q(p.verdict.key())))
                .collect();
            format!("  {}: {{\n{}\n  }}", q(&r.name), props.join(",\n"))
        })
        .collect();
    std::fs::write(path, format!("{{\n{}\n}}\n", body.join(",\n")))
}

fn explain(row: &str, prop: &str, want: &str, got: &str) -> String {
    let what = match (want, got) {
        (_, "violated") => "NEW VIOLATION",
        ("violated", _) => "expected violation no longer found",
        ("found", _) => "expected sanity example no longer found",
        _ => "verdict changed",
    };
    format!("{row} / {prop}: {what}: expected {want}, got {got}")
}

/// Differences between results and the expectation.
pub fn compare(rows: &[RowResult], exp: &Expected) -> Vec<String> {
    compare_with(rows, exp, "checker/expected.json")
}

/// Differences between results and the expectation read from `file`.
pub fn compare_with(rows: &[RowResult], exp: &Expected, file: &str) -> Vec<String> {
    let mut diffs = Vec::new();
    for r in rows {
        let Some(e) = exp.get(&r.name) else {
            diffs.push(format!(
                "{}: row missing from {file} (review, then gate --bless)",
                r.name
            ));
            continue;
        };
        for p in &r.results {
            match e.get(p.name()) {
                None => diffs.push(format!(
                    "{} / {}: property missing from {file} (got {})",
                    r.name,
                    p.name(),
                    p.verdict.key()
                )),
                Some(want) if want != p.verdict.key() => {
                    diffs.push(explain(&r.name, p.name(), want, p.verdict.key()))
                }
                _ => {}
            }
        }
        for prop in e.keys() {
            if !r.results.iter().any(|p| p.name() == prop) {
                diffs.push(format!(
                    "{} / {prop}: expected but no longer checked",
                    r.name
                ));
            }
        }
    }
    for row in exp.keys() {
        if !rows.iter().any(|r| &r.name == row) {
            diffs.push(format!("{row}: expected row is no longer in the gate"));
        }
    }
    diffs
}

/// Failures whatever the expectation says: missing examples and incomplete runs.
pub fn intrinsic_failures(rows: &[RowResult]) -> Vec<String> {
    let mut v = Vec::new();
    for r in rows {
        for p in &r.results {
            match &p.verdict {
                Verdict::NotFound => v.push(format!(
                    "{} / {}: sanity example missing (the safety verdicts of this row are vacuous)",
                    r.name,
                    p.name()
                )),
                Verdict::Incomplete(why) => {
                    v.push(format!("{} / {}: incomplete ({why})", r.name, p.name()))
                }
                _ => {}
            }
        }
    }
    v
}
