//! Counterexamples as ITF (Apalache ADR-015, as Quint writes it).
//!
//! `#meta` holds what replay needs: the configuration, the property, the exact
//! model actions, the init index and the explorer path. The itf crate reads
//! `#meta` entries as strings only (itf 0.4.0: `Meta::other` is a
//! `BTreeMap<String, String>`, src/state.rs and src/trace.rs), so structured
//! entries (`config`, `actions`) are compact JSON inside a string. States are
//! `model::itf::state` records with `#meta: {"index": i}`; a lasso lists the
//! stem and loop states once each and sets `loop` to the loop's first state.
//! No timestamps: the same trace always gives the same bytes.

use crate::trace::Trace;
use crate::verdict::kind_name;
use invariants::PropertyId;
use model::GmemModel;
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};

pub const FORMAT_DESCRIPTION: &str = "https://apalache-mc.org/docs/adr/015adr-trace.html";

/// One line describing the counterexample (also used in counterexamples/README.md).
pub fn description(label: &str, id: PropertyId, t: &Trace) -> String {
    match t.loop_start {
        Some(l) => format!(
            "{label}: {} violated by a fair lasso ({l}-step stem, {}-step loop): {}",
            id.name(),
            t.steps.len() - l,
            id.spec().sentence
        ),
        None => format!(
            "{label}: {} violated after {} steps: {}",
            id.name(),
            t.steps.len(),
            id.spec().sentence
        ),
    }
}

pub fn to_itf(m: &GmemModel, label: &str, id: PropertyId, t: &Trace) -> Value {
    let config = serde_json::to_string(m.cfg()).unwrap_or_default();
    let actions = serde_json::to_string(&t.actions()).unwrap_or_default();
    let meta = json!({
        "format": "ITF",
        "format-description": FORMAT_DESCRIPTION,
        "source": "gmem-verify",
        "description": description(label, id, t),
        "label": label,
        "config": config,
        "property": id.name(),
        "kind": kind_name(id.kind()),
        "actions": actions,
        "init_index": t.init_index.to_string(),
        "explorer_path": t.explorer_path(),
    });
    let states: Vec<Value> = (0..t.distinct_states())
        .map(|i| {
            let prev = (i > 0).then(|| (t.state(i - 1), t.steps[i - 1].action));
            let mut v = model::itf::state(m, t.state(i), prev);
            if let Value::Object(o) = &mut v {
                o.insert("#meta".into(), json!({ "index": i }));
            }
            v
        })
        .collect();
    let mut top = Map::new();
    top.insert("#meta".into(), meta);
    top.insert("vars".into(), json!(model::itf::vars(m)));
    top.insert("states".into(), Value::Array(states));
    if let Some(l) = t.loop_start {
        top.insert("loop".into(), json!(l));
    }
    Value::Object(top)
}

/// The exact bytes of the file: `#meta` pretty-printed, one state per line
/// (readable diffs in review).
pub fn render(m: &GmemModel, label: &str, id: PropertyId, t: &Trace) -> String {
    let v = to_itf(m, label, id, t);
    let compact = |v: &Value| serde_json::to_string(v).unwrap_or_default();
    let pretty = serde_json::to_string_pretty(&v["#meta"])
        .unwrap_or_default()
        .replace('\n', "\n  ");
    let states: Vec<String> = v["states"]
        .as_array()
        .map(|a| a.iter().map(|s| format!("    {}", compact(s))).collect())
        .unwrap_or_default();
    let mut s = format!(
        "{{\n  \"#meta\": {pretty},\n  \"vars\": {},\n  \"states\": [\n{}\n  ]",
        compact(&v["vars"]),
        states.join(",\n")
    );
    if let Some(l) = v.get("loop") {
        s += &format!(",\n  \"loop\": {l}");
    }
    s += "\n}\n";
    s
}

/// The trace as an SVG sequence diagram (`model::svg`), written beside the
/// ITF file as `<property>.svg`.
pub fn render_svg(m: &GmemModel, label: &str, id: PropertyId, t: &Trace) -> String {
    let mut path: Vec<(model::State, Option<model::Action>)> = Vec::new();
    for k in 0..=t.steps.len() {
        path.push((*t.state(k), t.steps.get(k).map(|s| s.action)));
    }
    let what = match t.loop_start {
        Some(l) if t.steps.len() == l => format!(
            "{} violated: stuck forever after {l} steps (every fair actor disabled)",
            id.name()
        ),
        Some(l) => format!(
            "{} violated by a fair lasso ({l}-step stem, {}-step loop)",
            id.name(),
            t.steps.len() - l
        ),
        None => format!("{} violated after {} steps", id.name(), t.steps.len()),
    };
    let opts = model::svg::Options {
        title: Some(format!("{label}: {what}")),
        subtitle: Some(format!(
            "{} ({} page{}; actors: {})",
            id.spec().sentence,
            m.cfg().pages,
            if m.cfg().pages == 1 { "" } else { "s" },
            m.actors()
                .iter()
                .map(|a| a.name())
                .collect::<Vec<_>>()
                .join(", ")
        )),
        loop_start: t.loop_start,
        marker: Some(match t.loop_start {
            Some(_) => format!("VIOLATES {}: pending forever", id.name()),
            None => format!("VIOLATES {}", id.name()),
        }),
        notes: t.witnesses.clone(),
    };
    model::svg::render(m, &path, &opts)
}

/// Writes `text` to `<dir>/<label>/<property>.itf.json`, creating directories.
pub fn write(dir: &Path, label: &str, id: PropertyId, text: &str) -> std::io::Result<PathBuf> {
    let path = crate::paths::counterexample_file(dir, label, id.name());
    write_file(&path, text)?;
    Ok(path)
}

/// Writes `svg` to `<dir>/<label>/<property>.svg`, creating directories.
pub fn write_svg(dir: &Path, label: &str, id: PropertyId, svg: &str) -> std::io::Result<PathBuf> {
    let path = crate::paths::counterexample_svg(dir, label, id.name());
    write_file(&path, svg)?;
    Ok(path)
}

fn write_file(path: &Path, text: &str) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(path, text)
}
