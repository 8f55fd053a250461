//! A counterexample as a timeline: one row per step, one column per actor
//! (the acting actor's column holds the kernel step), and what changed.

use crate::trace::Trace;
use model::describe::{changes, page_summary, step_label};
use model::GmemModel;

/// Renders `t`; `verdict` marks the last row (e.g. `VIOLATES no_private_pin`).
pub fn render(m: &GmemModel, t: &Trace, verdict: &str) -> String {
    let actors = m.actors();
    let ncols = actors.len() + 2;
    let mut header: Vec<String> = vec!["#".into()];
    header.extend(actors.iter().map(|a| a.name()));
    header.push("after the step".into());

    // Rows of cells; `None` is a separator line.
    let mut rows: Vec<Option<Vec<String>>> = Vec::new();
    let init: Vec<String> = (0..m.cfg().pages as usize)
        .map(|i| format!("page{i}: {}", page_summary(m, &t.init, i)))
        .collect();
    let mut first = vec![String::new(); ncols];
    first[0] = "0".into();
    first[ncols - 1] = format!("init: {}", init.join("; "));
    rows.push(Some(first));
    for (k, step) in t.steps.iter().enumerate() {
        if t.loop_start == Some(k) {
            rows.push(None);
        }
        let prev = t.state(k);
        let mut row = vec![String::new(); ncols];
        row[0] = (k + 1).to_string();
        let col = actors
            .iter()
            .position(|&a| a == step.action.actor())
            .map_or(ncols - 2, |c| c + 1);
        row[col] = step_label(m, prev, step.action);
        row[ncols - 1] = changes(m, prev, &step.state).join("; ");
        rows.push(Some(row));
    }

    let mut width: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows.iter().flatten() {
        for (c, cell) in row.iter().enumerate().take(ncols - 1) {
            width[c] = width[c].max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let mut s = String::new();
        for (c, cell) in cells.iter().enumerate() {
            if c + 1 == ncols {
                s.push_str(cell);
            } else {
                s.push_str(&format!("{cell:<w$} | ", w = width[c]));
            }
        }
        s.trim_end().to_string()
    };
    let rule: String = width
        .iter()
        .take(ncols - 1)
        .map(|w| "-".repeat(*w))
        .collect::<Vec<_>>()
        .join("-+-")
        + "-+-"
        + &"-".repeat(14);

    let mut out = String::new();
    out += &line(&header);
    out.push('\n');
    out += &rule;
    out.push('\n');
    let last = rows.len() - 1;
    for (i, row) in rows.iter().enumerate() {
        match row {
            None => {
                out += &format!(
                    "~~~~ loop: from state {} the steps below repeat forever ~~~~\n",
                    t.loop_start.unwrap_or(0)
                );
            }
            Some(cells) => {
                out += &line(cells);
                if i == last {
                    match t.loop_start {
                        Some(l) if t.steps.len() > l => {
                            out += &format!("   <== back to state {l}; {verdict}")
                        }
                        Some(_) => out += &format!("   <== stutters here forever; {verdict}"),
                        None => out += &format!("   <== {verdict}"),
                    }
                }
                out.push('\n');
            }
        }
    }
    if !t.witnesses.is_empty() {
        out += "fairness (why this loop is a fair behaviour):\n";
        for w in &t.witnesses {
            out += &format!("  {w}\n");
        }
    }
    out
}
