//! Pinned sanity examples (`checker/sanity.json`), so that no change can make a safety
//! verdict vacuous unnoticed.
//!
//! `expected.json` only says that each sanity property is `found`. A weakened predicate
//! (an `&&` turned into `||`), a model change that makes an example trivially reachable, or
//! a state-space reduction that drops the interesting states would all still say `found`.
//! So for every safety row the gate also computes each found sanity property's *shortest*
//! example (our deterministic BFS: initial states, then actions in the model's order) and
//! records its length and a summary of its final state: every page (attribute, folio and
//! refcount, PTEs, stage-2 entry, completed GUP references) and the last step. Any
//! difference with the committed file fails the gate; `gate --bless` rewrites it.

use super::RowResult;
use crate::exit::{Fail, Result};
use crate::verdict::Verdict;
use invariants::{Kind, PropertyId};
use model::{describe, properties, GmemModel};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// One pinned example.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Example {
    /// Steps from the initial state (0: the initial state is an example).
    pub steps: usize,
    /// The final state, page by page, then the step that reached it.
    #[serde(rename = "final")]
    pub final_state: String,
}

/// `{row: {property: example}}`, rows in name order.
pub type Pins = BTreeMap<String, BTreeMap<String, Example>>;

pub fn path() -> crate::exit::Result<PathBuf> {
    Ok(crate::paths::repo_root()?
        .join("checker")
        .join("sanity.json"))
}

/// The shortest example of every sanity property found on every safety row, `jobs` rows
/// at a time.
pub fn examples(rows: &[RowResult], jobs: usize) -> Pins {
    let next = AtomicUsize::new(0);
    let out = Mutex::new(Pins::new());
    std::thread::scope(|s| {
        for _ in 0..jobs.max(1) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(r) = rows.get(i) else { break };
                let found: Vec<PropertyId> = r
                    .results
                    .iter()
                    .filter(|p| p.kind() == Kind::Sanity && matches!(p.verdict, Verdict::Found(_)))
                    .map(|p| p.id)
                    .collect();
                if found.is_empty() {
                    continue;
                }
                let pins = row_examples(&r.model, &found);
                if let Ok(mut o) = out.lock() {
                    o.insert(r.name.clone(), pins);
                }
            });
        }
    });
    out.into_inner().unwrap_or_default()
}

fn row_examples(m: &GmemModel, ids: &[PropertyId]) -> BTreeMap<String, Example> {
    let traces = crate::bfs::shortest(m, ids, |s, id| properties::eval(m, s, id), None);
    ids.iter()
        .map(|&id| {
            let ex = match traces.get(&id) {
                Some(t) => {
                    let last = t.steps.last();
                    let (before, after) = match t.steps.len() {
                        0 => (&t.init, &t.init),
                        1 => (&t.init, &t.steps[0].state),
                        n => (&t.steps[n - 2].state, &t.steps[n - 1].state),
                    };
                    let pages: Vec<String> = (0..m.cfg().pages as usize)
                        .map(|i| describe::page_summary(m, after, i))
                        .collect();
                    let step = last.map_or("initial state".to_string(), |s| {
                        describe::step_label(m, before, s.action)
                    });
                    Example {
                        steps: t.steps.len(),
                        final_state: format!("{}; after: {step}", pages.join(" | ")),
                    }
                }
                // The DFS found it, the BFS did not: itself a difference worth failing on.
                None => Example {
                    steps: usize::MAX,
                    final_state: "not found by the shortest-path search".into(),
                },
            };
            (id.name().to_string(), ex)
        })
        .collect()
}

pub fn load(path: &Path) -> Result<Pins> {
    if !path.exists() {
        return Ok(Pins::new());
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| Fail::usage(format!("cannot read {}: {e}", path.display())))?;
    serde_json::from_str(&text).map_err(|e| {
        Fail::usage(format!(
            "{}: not {{row: {{property: {{steps, final}}}}}} JSON: {e}",
            path.display()
        ))
    })
}

pub fn save(path: &Path, pins: &Pins) -> Result<()> {
    let text = serde_json::to_string_pretty(pins).unwrap_or_default() + "\n";
    std::fs::write(path, text)
        .map_err(|e| Fail::usage(format!("cannot write {}: {e}", path.display())))
}

/// Every difference between the current examples and the pinned ones, as gate lines.
pub fn compare(current: &Pins, pinned: &Pins) -> Vec<String> {
    let mut diffs = Vec::new();
    let file = "checker/sanity.json";
    for (row, props) in current {
        let Some(old) = pinned.get(row) else {
            diffs.push(format!(
                "{row}: no sanity examples pinned in {file} (run gate --bless)"
            ));
            continue;
        };
        for (prop, ex) in props {
            match old.get(prop) {
                None => diffs.push(format!("{row} / {prop}: example not pinned in {file}")),
                Some(o) if o.steps != ex.steps => diffs.push(format!(
                    "{row} / {prop}: SANITY EXAMPLE CHANGED: shortest example has {} steps, pinned {} \
                     (final state now: {})",
                    ex.steps, o.steps, ex.final_state
                )),
                Some(o) if o.final_state != ex.final_state => diffs.push(format!(
                    "{row} / {prop}: SANITY EXAMPLE CHANGED: final state {:?}, pinned {:?}",
                    ex.final_state, o.final_state
                )),
                Some(_) => {}
            }
        }
        for prop in old.keys().filter(|p| !props.contains_key(*p)) {
            diffs.push(format!("{row} / {prop}: pinned example no longer found"));
        }
    }
    for row in pinned.keys().filter(|r| !current.contains_key(*r)) {
        diffs.push(format!(
            "{row}: pinned sanity examples for a row that found none"
        ));
    }
    diffs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pins(steps: usize, fin: &str) -> Pins {
        let ex = Example {
            steps,
            final_state: fin.into(),
        };
        Pins::from([(
            "inplace".to_string(),
            BTreeMap::from([("a conversion to private succeeds".to_string(), ex)]),
        )])
    }

    #[test]
    fn equal_pins_pass_and_every_change_is_a_difference() {
        let p = pins(9, "P f0:rc1 | S; after: conv");
        assert!(compare(&p, &p).is_empty());
        // A shorter example (what a weakened predicate gives), a different final state,
        // a vanished example and an unpinned row all fail.
        assert_eq!(
            compare(&pins(0, "S | S; after: initial state"), &p).len(),
            1
        );
        assert_eq!(compare(&pins(9, "S f0:rc1 | S; after: conv"), &p).len(), 1);
        let mut gone = p.clone();
        gone.get_mut("inplace").map(BTreeMap::clear);
        assert_eq!(compare(&gone, &p).len(), 1);
        assert_eq!(compare(&p, &Pins::new()).len(), 1);
        assert_eq!(compare(&Pins::new(), &p).len(), 1);
    }

    #[test]
    fn the_shortest_example_of_a_conversion_is_pinned_by_length_and_final_state() {
        let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/inplace.json");
        let g = model::gate::load_file(&file).expect("row");
        let m = GmemModel::new(g.cfg).expect("valid");
        let ex = row_examples(&m, &[PropertyId::ConversionSucceeds]);
        let e = &ex["a conversion to private succeeds"];
        // Issued, locked, unmapped, checked, invalidated, flipped, ended, returned: the
        // example is not the initial state, and its last step is the converter's.
        assert!(e.steps >= 4 && e.steps != usize::MAX, "{e:?}");
        assert!(e.final_state.contains("P"), "a page is private: {e:?}");
        // Deterministic: the same example again.
        assert_eq!(row_examples(&m, &[PropertyId::ConversionSucceeds]), ex);
    }
}
