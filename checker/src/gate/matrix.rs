//! The verdict matrix: rows x properties, one symbol per cell, with a legend.

use super::expected::Expected;
use super::RowResult;
use invariants::{Kind, PropertyId};
use model::gate::Pass;

fn symbol(key: &str) -> &'static str {
    match key {
        "holds" => ".",
        "violated" => "X",
        "found" => "+",
        "not_found" => "!",
        "n/a" => "-",
        "incomplete" => "?",
        _ => " ",
    }
}

const LEGEND: &str = ". holds   X violated   + example found   ! example NOT found   - n/a   ? incomplete   (blank: not checked)   * differs from";

fn table(rows: &[&RowResult], cols: &[PropertyId], exp: &Expected) -> String {
    let w = rows.iter().map(|r| r.name.len()).max().unwrap_or(3).max(3);
    let mut out = format!("{:<w$} |", "row");
    for (i, _) in cols.iter().enumerate() {
        out += &format!("{:>3}", i + 1);
    }
    out += " | time\n";
    out += &format!(
        "{}-+{}-+------\n",
        "-".repeat(w),
        "-".repeat(3 * cols.len())
    );
    for r in rows {
        out += &format!("{:<w$} |", r.name);
        for id in cols {
            let got = r
                .results
                .iter()
                .find(|p| p.id == *id)
                .map(|p| p.verdict.key())
                .unwrap_or("");
            let want = exp
                .get(&r.name)
                .and_then(|e| e.get(id.name()))
                .map(String::as_str)
                .unwrap_or("");
            let mark = if got != want { "*" } else { " " };
            out += &format!(" {}{mark}", symbol(got));
        }
        out += &format!(" | {:.2} s\n", r.elapsed.as_secs_f64());
    }
    out += "columns:";
    for (i, id) in cols.iter().enumerate() {
        out += &format!(
            "{} {}={}",
            if i % 4 == 0 { "\n " } else { "," },
            i + 1,
            id.name()
        );
    }
    out.push('\n');
    out
}

pub fn render(rows: &[RowResult], exp: &Expected) -> String {
    render_against(rows, exp, "checker/expected.json")
}

/// The matrix, marking cells that differ from `exp`, read from `file`.
pub fn render_against(rows: &[RowResult], exp: &Expected, file: &str) -> String {
    let safety_cols: Vec<PropertyId> = PropertyId::all()
        .filter(|p| p.kind() != Kind::Liveness)
        .collect();
    let live_cols: Vec<PropertyId> = PropertyId::liveness().collect();
    let safety_rows: Vec<&RowResult> = rows.iter().filter(|r| r.pass == Pass::Safety).collect();
    let live_rows: Vec<&RowResult> = rows.iter().filter(|r| r.pass == Pass::Liveness).collect();
    let mut out = String::new();
    out += "safety and sanity (exhaustive DFS):\n";
    out += &table(&safety_rows, &safety_cols, exp);
    out += "\nliveness (fair lasso search):\n";
    out += &table(&live_rows, &live_cols, exp);
    out += &format!("\nlegend: {LEGEND} {file}\n");
    out
}
