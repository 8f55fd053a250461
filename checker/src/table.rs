//! The result table and the cost lines printed after a check.

use crate::engine::{LiveStats, SafetyStats};
use crate::verdict::{kind_name, PropResult};
use std::time::Duration;

/// `5` for a path, `3+4` (stem + loop) for a lasso, empty without a trace.
pub fn steps_cell(r: &PropResult) -> String {
    match r.verdict.trace() {
        None => String::new(),
        Some(t) => match t.loop_start {
            Some(l) => format!("{l}+{}", t.steps.len() - l),
            None => t.steps.len().to_string(),
        },
    }
}

pub fn results(rows: &[PropResult]) -> String {
    let cells: Vec<[String; 4]> = rows
        .iter()
        .map(|r| {
            [
                r.name().to_string(),
                kind_name(r.kind()).to_string(),
                r.verdict.display(),
                steps_cell(r),
            ]
        })
        .collect();
    let header = ["property", "kind", "verdict", "steps"].map(String::from);
    let mut w = header.clone().map(|h| h.len());
    for row in &cells {
        for c in 0..3 {
            w[c] = w[c].max(row[c].chars().count());
        }
    }
    let fmt = |r: &[String; 4]| {
        format!(
            "{:<a$} | {:<b$} | {:<c$} | {}",
            r[0],
            r[1],
            r[2],
            r[3],
            a = w[0],
            b = w[1],
            c = w[2]
        )
        .trim_end()
        .to_string()
    };
    let mut out = fmt(&header) + "\n";
    out += &format!(
        "{}-+-{}-+-{}-+------\n",
        "-".repeat(w[0]),
        "-".repeat(w[1]),
        "-".repeat(w[2])
    );
    for row in &cells {
        out += &fmt(row);
        out.push('\n');
    }
    out
}

/// `2851224` as `2,851,224`.
pub fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

pub fn rate(n: usize, d: Duration) -> String {
    let per = n as f64 / d.as_secs_f64().max(1e-9);
    if per >= 1e6 {
        format!("{:.2} M states/s", per / 1e6)
    } else {
        format!("{:.0} k states/s", per / 1e3)
    }
}

pub fn stats(safety: Option<&SafetyStats>, live: &[LiveStats], wall: Option<Duration>) -> String {
    let mut out = String::new();
    if let Some(s) = safety {
        out += &format!(
            "safety pass: {} unique states, {} generated, max depth {}, {}, {}{}\n",
            thousands(s.unique),
            thousands(s.generated),
            s.max_depth,
            rate(s.generated, s.elapsed),
            secs(s.elapsed),
            s.stopped
                .as_ref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        );
    }
    for l in live {
        out += &format!(
            "liveness {}: graph of {} states, {} edges, {}, ~{:.1} MiB\n",
            l.ids
                .iter()
                .map(|id| id.name())
                .collect::<Vec<_>>()
                .join(", "),
            thousands(l.states),
            thousands(l.edges),
            secs(l.elapsed),
            l.approx_bytes as f64 / (1024.0 * 1024.0)
        );
    }
    if let Some(w) = wall {
        out += &format!("wall time: {}\n", secs(w));
    }
    out
}
