//! The committed counterexamples: one ITF file and one SVG diagram per
//! violation of a gate row, and counterexamples/README.md listing them.

use super::RowResult;
use crate::itf_out;
use crate::verdict::Verdict;
use model::describe::step_label;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

pub struct Corpus {
    /// (path relative to counterexamples/, contents), in gate order: each
    /// violation's `.itf.json`, then its `.svg`.
    pub traces: Vec<(String, String)>,
    pub readme: String,
}

pub fn render(rows: &[RowResult]) -> Corpus {
    let mut traces = Vec::new();
    let mut table = Vec::new();
    for r in rows {
        for p in &r.results {
            let Verdict::Violated(Some(t)) = &p.verdict else {
                continue;
            };
            let rel = format!("{}/{}.itf.json", r.name, p.name());
            let svg = format!("{}/{}.svg", r.name, p.name());
            traces.push((rel.clone(), itf_out::render(&r.model, &r.name, p.id, t)));
            traces.push((svg.clone(), itf_out::render_svg(&r.model, &r.name, p.id, t)));
            let steps = match t.loop_start {
                Some(l) => format!("{l} + loop {}", t.steps.len() - l),
                None => t.steps.len().to_string(),
            };
            let last = t.steps.len().checked_sub(1).map(|k| {
                let s = &t.steps[k];
                format!(
                    "{}: {}",
                    s.action.actor(),
                    step_label(&r.model, t.state(k), s.action)
                )
            });
            let what = match (t.loop_start, last) {
                (Some(l), _) if t.steps.len() == l => {
                    "stays pending forever with every fair actor disabled".to_string()
                }
                (Some(_), _) => "a fair loop on which it stays pending forever".to_string(),
                (None, Some(last)) => format!("last step `{last}`"),
                (None, None) => "violated in the initial state".to_string(),
            };
            table.push(format!(
                "| [{rel}]({}) | [svg]({}) | {} | {} | {steps} | {what} |",
                rel.replace('+', "%2B"),
                svg.replace('+', "%2B"),
                r.name,
                p.name()
            ));
        }
    }
    Corpus {
        readme: readme(&table),
        traces,
    }
}

fn readme(table: &[String]) -> String {
    format!(
        r#"# Counterexamples

The regression corpus: one trace per expected violation of the CI gate
(every `violated` cell of `checker/expected.json`), as the gate's row
configuration produces it, and beside it the same trace as an SVG sequence
diagram (`<property>.svg`: one lane per actor, one box per atomic step, the
page state after each step, the violation in red, a lasso's loop bracketed).
Safety traces are shortest (breadth-first, first
in `actions()` order); liveness traces are lassos (stem, then a loop that
repeats forever). The gate regenerates every trace and fails when a file
here is missing, stale or orphaned. This file is generated too.

| file | diagram | row | property | steps | what happens |
| --- | --- | --- | --- | --- | --- |
{}

## Reading, replaying, regenerating

```sh
cargo run --release -- replay counterexamples/<row>/<property>.itf.json   # does it still reproduce on the model?
cargo run --release -- check --row <row>                                   # print the timeline, rewrite the file
cargo run --release -- explore --row <row>                                 # open it in the Stateright explorer
cargo run --release -- gate --write-counterexamples                        # regenerate this directory after a reviewed model change
```

Format: ITF (Apalache ADR-015, as Quint writes it; readable with the `itf`
crate and the ITF trace viewer). `states[i]` is the state after step `i`
(state 0 is initial) with the variables listed in `vars`; `action` and
`actor` name the step that led to it. A lasso sets `loop`: the last state's
successor is `states[loop]`. `#meta` carries what replay needs, as strings
(the `itf` crate reads `#meta` entries as strings only): `config` (the model
configuration as JSON), `property`, `kind`, `actions` (the exact model
actions as JSON, stem and one loop unrolling), `init_index`, and
`explorer_path` (append to `http://127.0.0.1:3000/#/steps/` while `explore`
runs the same row).
"#,
        table.join("\n")
    )
}

fn existing(dir: &Path) -> BTreeSet<String> {
    let mut v = BTreeSet::new();
    let Ok(rows) = std::fs::read_dir(dir) else {
        return v;
    };
    for row in rows.flatten().filter(|e| e.path().is_dir()) {
        let Ok(files) = std::fs::read_dir(row.path()) else {
            continue;
        };
        for f in files.flatten() {
            let name = f.file_name().to_string_lossy().to_string();
            if name.ends_with(".itf.json") || name.ends_with(".svg") {
                v.insert(format!("{}/{name}", row.file_name().to_string_lossy()));
            }
        }
    }
    v
}

pub fn compare(dir: &Path, c: &Corpus) -> Vec<String> {
    let mut diffs = Vec::new();
    let fix = "run gate --write-counterexamples";
    for (rel, text) in &c.traces {
        match std::fs::read_to_string(dir.join(rel)) {
            Err(_) => diffs.push(format!("counterexamples/{rel}: missing ({fix})")),
            Ok(old) if old != *text => diffs.push(format!(
                "counterexamples/{rel}: stale: the model now gives a different trace ({fix})"
            )),
            _ => {}
        }
    }
    let wanted: BTreeSet<&str> = c.traces.iter().map(|(r, _)| r.as_str()).collect();
    for rel in existing(dir) {
        if !wanted.contains(rel.as_str()) {
            diffs.push(format!(
                "counterexamples/{rel}: orphan: not a violation of any gate row (delete it, or {fix})"
            ));
        }
    }
    if std::fs::read_to_string(dir.join("README.md"))
        .ok()
        .as_deref()
        != Some(c.readme.as_str())
    {
        diffs.push(format!("counterexamples/README.md: stale ({fix})"));
    }
    diffs
}

/// Writes every trace and the README; removes orphaned traces (and empty row directories).
pub fn write(dir: &Path, c: &Corpus) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let wanted: BTreeSet<&str> = c.traces.iter().map(|(r, _)| r.as_str()).collect();
    for rel in existing(dir) {
        if !wanted.contains(rel.as_str()) {
            std::fs::remove_file(dir.join(&rel))?;
            if let Some(parent) = dir.join(&rel).parent() {
                let _ = std::fs::remove_dir(parent); // only succeeds when empty
            }
        }
    }
    let mut written = Vec::new();
    for (rel, text) in &c.traces {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, text)?;
        written.push(path);
    }
    std::fs::write(dir.join("README.md"), &c.readme)?;
    Ok(written)
}
