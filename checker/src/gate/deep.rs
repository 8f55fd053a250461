//! `gate --deep`: the deep profile (docs/scale.md), run nightly rather
//! than in every CI run. Its rows (`configs/deep/`) are the designs' gate
//! questions in a larger world: 3-4 pages, two converter threads on
//! overlapping ranges, two VMs. Each deep row is named after the standard
//! row it deepens (`configs/deep/inplace.json` deepens `configs/inplace.json`).
//!
//! Three comparisons, any difference fails:
//! - the deep verdicts against `checker/expected-deep.json` (regressions);
//! - every safety and liveness property checked by both a deep row and its
//!   standard row must have the same verdict there, as the standard gate
//!   committed it (`checker/expected.json`), unless the deep row's entry in
//!   `checker/expected-deep.json` records the difference with a reason; a
//!   recorded difference that no longer differs is stale, and fails too;
//! - no example missing, no verdict incomplete (a bound never verifies).
//!
//! No counterexample or document is committed for the deep rows; `check
//! --config configs/deep/NAME.json` writes a row's traces to the scratch
//! directory.

use super::expected::{self, Expected};
use super::{matrix, rows, RowResult};
use crate::cli::GateArgs;
use crate::exit::{Code, Fail, Result};
use crate::progress::Progress;
use crate::table::{secs, thousands};
use invariants::Kind;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

/// The wall-time budget of the deep profile on the reference machine (two
/// cores): a run over it is reported, not failed (machines differ).
const BUDGET: Duration = Duration::from_secs(600);

/// The deep profile's expectation, as messages name it.
const FILE: &str = "checker/expected-deep.json";

/// One deep row's entry in `checker/expected-deep.json`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeepEntry {
    /// Property name -> verdict key, as `checker/expected.json` has them.
    pub verdicts: BTreeMap<String, String>,
    /// Property name -> why the deep row's verdict may differ from the
    /// standard row's (written by a person; `--bless` keeps them).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub differences: BTreeMap<String, String>,
}

pub type DeepExpected = BTreeMap<String, DeepEntry>;

fn load(path: &Path) -> Result<DeepExpected> {
    if !path.exists() {
        return Ok(DeepExpected::new());
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| Fail::usage(format!("cannot read {}: {e}", path.display())))?;
    model::gate::from_json(&text).map_err(|e| {
        Fail::usage(format!(
            "{}: not {{row: {{\"verdicts\": {{property: verdict}}, \"differences\": {{property: reason}}}}}}: {e}",
            path.display()
        ))
    })
}

/// The current verdicts, keeping the recorded differences of rows that
/// still exist.
fn blessed(rows: &[RowResult], old: &DeepExpected) -> DeepExpected {
    let current = expected::from_results(rows);
    current
        .into_iter()
        .map(|(name, verdicts)| {
            let differences = old
                .get(&name)
                .map(|e| e.differences.clone())
                .unwrap_or_default();
            (
                name,
                DeepEntry {
                    verdicts,
                    differences,
                },
            )
        })
        .collect()
}

fn save(path: &Path, e: &DeepExpected) -> Result<()> {
    let text = serde_json::to_string_pretty(e)
        .map_err(|err| Fail::usage(format!("cannot encode {}: {err}", path.display())))?;
    std::fs::write(path, text + "\n")
        .map_err(|err| Fail::usage(format!("cannot write {}: {err}", path.display())))
}

/// The verdicts part, in the standard gate's shape (for its matrix and
/// comparison).
fn verdicts_of(e: &DeepExpected) -> Expected {
    e.iter()
        .map(|(k, v)| (k.clone(), v.verdicts.clone()))
        .collect()
}

/// The outcome of comparing the deep rows with the standard rows.
#[derive(Default)]
struct Comparison {
    failures: Vec<String>,
    /// Per row and property class: what was compared, what was not.
    lines: Vec<String>,
}

/// Does a verdict key decide a property (rather than n/a, incomplete)?
fn decided(v: &str) -> bool {
    matches!(v, "holds" | "violated")
}

/// Every safety and liveness property checked by a deep row and by its
/// standard row must agree, unless `recorded` explains the difference.
fn compare_with_standard(
    rows: &[RowResult],
    standard: &Expected,
    recorded: &DeepExpected,
) -> Comparison {
    let mut c = Comparison::default();
    for r in rows {
        let Some(std_row) = standard.get(&r.name) else {
            c.failures.push(format!(
                "{}: no standard row of that name in checker/expected.json (a deep row deepens configs/{}.json)",
                r.name, r.name
            ));
            continue;
        };
        let notes = recorded
            .get(&r.name)
            .map(|e| e.differences.clone())
            .unwrap_or_default();
        for kind in [Kind::Safety, Kind::Liveness] {
            let (mut agree, mut explained, mut unexercised, mut only_deep) = (0, 0, vec![], vec![]);
            for p in r.results.iter().filter(|p| p.kind() == kind) {
                let deep = p.verdict.key();
                let std = std_row.get(p.name()).map(String::as_str).unwrap_or("n/a");
                let reason = notes.get(p.name());
                match (decided(deep), decided(std)) {
                    (true, true) => {}
                    // Incomplete and not-found are the intrinsic checks' to report.
                    (false, true) if deep == "n/a" => {
                        unexercised.push(p.name());
                        continue;
                    }
                    (true, false) => {
                        only_deep.push(p.name());
                        continue;
                    }
                    _ => continue,
                }
                match (deep == std, reason) {
                    (true, None) => agree += 1,
                    (false, Some(_)) => explained += 1,
                    (false, None) => c.failures.push(format!(
                        "{} / {}: deep row {deep}, standard row {std}: the verdicts differ \
                         (a larger world changed the answer: fix it, or record why in \
                         checker/expected-deep.json under \"differences\")",
                        r.name,
                        p.name()
                    )),
                    (true, Some(why)) => c.failures.push(format!(
                        "{} / {}: stale recorded difference (both {deep} now): {why}",
                        r.name,
                        p.name()
                    )),
                }
            }
            let class = crate::verdict::kind_name(kind);
            if agree + explained == 0 && unexercised.is_empty() && only_deep.is_empty() {
                continue;
            }
            let mut line = format!(
                "{} {class}: {agree} propert{} agree{} with the standard row",
                r.name,
                if agree == 1 { "y" } else { "ies" },
                if agree == 1 { "s" } else { "" }
            );
            if explained > 0 {
                line += &format!(", {explained} differ for a recorded reason");
            }
            if !unexercised.is_empty() {
                line += &format!(
                    "; not compared (n/a in the deep row): {}",
                    unexercised.join(", ")
                );
            }
            if !only_deep.is_empty() {
                line += &format!("; checked by the deep row only: {}", only_deep.join(", "));
            }
            c.lines.push(line);
        }
        for p in notes.keys() {
            let compared = r.results.iter().any(|x| {
                x.name() == p
                    && x.kind() != Kind::Sanity
                    && decided(x.verdict.key())
                    && std_row.get(p).is_some_and(|v| decided(v))
            });
            if !compared {
                c.failures.push(format!(
                    "{} / {p}: a difference is recorded for a property the two rows do not both check",
                    r.name
                ));
            }
        }
    }
    for name in recorded.keys() {
        if !rows.iter().any(|r| &r.name == name) {
            c.failures.push(format!(
                "{name}: in checker/expected-deep.json but no longer a deep row"
            ));
        }
    }
    c
}

fn row_stats(r: &RowResult) -> String {
    let states = match (&r.safety, r.live.iter().map(|l| l.states).max()) {
        (Some(s), _) => format!("{} states", thousands(s.unique)),
        (None, Some(n)) => format!("liveness graph of up to {} states", thousands(n)),
        (None, None) => "nothing searched".into(),
    };
    format!(
        "{}: {} ({}), {}",
        r.name,
        states,
        crate::bound::describe(r.model.cfg()),
        secs(r.elapsed)
    )
}

pub fn cmd(a: &GateArgs) -> Result<Code> {
    let start = Instant::now();
    let progress = Progress::new("gate --deep", !a.json);
    let configs = crate::select::deep_rows()?;
    let rows = rows::run_all(
        &configs,
        a.jobs as usize,
        a.threads as usize,
        a.symmetry,
        &progress,
    )?;
    progress.finish();

    let path = crate::paths::expected_deep_json()?;
    let old = load(&path)?;
    let mut blessed_changes = vec![];
    let expectation = if a.bless {
        blessed_changes = expected::compare_with(&rows, &verdicts_of(&old), FILE);
        let e = blessed(&rows, &old);
        save(&path, &e)?;
        e
    } else {
        old
    };
    let mut diffs = expected::compare_with(&rows, &verdicts_of(&expectation), FILE);
    diffs.extend(expected::intrinsic_failures(&rows));
    let standard = expected::load(&crate::paths::expected_json()?)?;
    let cmp = compare_with_standard(&rows, &standard, &expectation);
    diffs.extend(cmp.failures.iter().cloned());
    let wall = start.elapsed();

    if a.json {
        let v = json!({
            "rows": rows.iter().map(RowResult::to_json).collect::<Vec<_>>(),
            "comparison": cmp.lines,
            "differences": diffs,
            "blessed_changes": blessed_changes,
            "wall_seconds": wall.as_secs_f64(),
        });
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    } else {
        print!(
            "{}",
            matrix::render_against(&rows, &verdicts_of(&expectation), FILE)
        );
        println!("\nrows (unique states of the safety search, or the largest liveness graph):");
        for r in &rows {
            println!("  {}", row_stats(r));
        }
        println!("\nagainst the standard gate (checker/expected.json), per property class:");
        for l in &cmp.lines {
            println!("  {l}");
        }
        if !blessed_changes.is_empty() {
            println!(
                "\nblessed into {} ({} changes):",
                path.display(),
                blessed_changes.len()
            );
            for d in &blessed_changes {
                println!("  {d}");
            }
        }
        if wall > BUDGET {
            println!(
                "\nnote: wall time {} is over the deep profile's budget of {} (docs/scale.md)",
                secs(wall),
                secs(BUDGET)
            );
        }
        if diffs.is_empty() {
            println!(
                "\ngate --deep: PASS: {} rows match checker/expected-deep.json and agree with the standard gate (wall time {})",
                rows.len(),
                secs(wall)
            );
        } else {
            super::print_failures("gate --deep", &diffs, wall);
        }
    }
    Ok(super::verdict_code(&diffs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verdict::{PropResult, Verdict};
    use invariants::PropertyId;
    use model::gate::Pass;

    fn row(name: &str, verdicts: &[(PropertyId, Verdict)]) -> RowResult {
        let cfg = model::gate::peer_config(model::Design::Inplace, None);
        RowResult {
            name: name.into(),
            pass: Pass::Safety,
            model: model::GmemModel::new(cfg).expect("valid"),
            results: verdicts
                .iter()
                .map(|(id, v)| PropResult {
                    id: *id,
                    verdict: v.clone(),
                })
                .collect(),
            safety: None,
            live: vec![],
            elapsed: Duration::ZERO,
        }
    }

    fn standard(name: &str, verdicts: &[(&str, &str)]) -> Expected {
        let mut e = Expected::new();
        e.insert(
            name.into(),
            verdicts
                .iter()
                .map(|(p, v)| (p.to_string(), v.to_string()))
                .collect(),
        );
        e
    }

    fn recorded(name: &str, prop: &str, why: &str) -> DeepExpected {
        let mut d = DeepExpected::new();
        d.insert(
            name.into(),
            DeepEntry {
                verdicts: BTreeMap::new(),
                differences: [(prop.to_string(), why.to_string())].into(),
            },
        );
        d
    }

    use PropertyId::{ConversionAtomic, NoPrivatePin, Stage2Coherent};

    #[test]
    fn equal_verdicts_agree_and_unexercised_ones_are_named() {
        let rows = [row(
            "inplace",
            &[
                (NoPrivatePin, Verdict::Holds),
                (ConversionAtomic, Verdict::Violated(None)),
                (Stage2Coherent, Verdict::NotApplicable("no guest")),
            ],
        )];
        let std = standard(
            "inplace",
            &[
                ("no_private_pin", "holds"),
                ("conversion_atomic", "violated"),
                ("stage2_coherent", "holds"),
            ],
        );
        let c = compare_with_standard(&rows, &std, &DeepExpected::new());
        assert!(c.failures.is_empty(), "{:?}", c.failures);
        assert_eq!(
            c.lines,
            ["inplace safety: 2 properties agree with the standard row; not compared (n/a in the deep row): stage2_coherent"]
        );
    }

    #[test]
    fn a_difference_fails_unless_recorded_and_a_stale_record_fails() {
        let deep = [row("wait", &[(NoPrivatePin, Verdict::Violated(None))])];
        let std = standard("wait", &[("no_private_pin", "holds")]);
        let c = compare_with_standard(&deep, &std, &DeepExpected::new());
        assert_eq!(c.failures.len(), 1);
        assert!(c.failures[0]
            .starts_with("wait / no_private_pin: deep row violated, standard row holds"));
        let why = recorded("wait", "no_private_pin", "a reason");
        let c = compare_with_standard(&deep, &std, &why);
        assert!(c.failures.is_empty(), "{:?}", c.failures);
        assert!(c.lines[0].contains("1 differ for a recorded reason"));
        // The same record once the verdicts agree again: stale.
        let agree = [row("wait", &[(NoPrivatePin, Verdict::Holds)])];
        let c = compare_with_standard(&agree, &std, &why);
        assert_eq!(c.failures.len(), 1);
        assert!(c.failures[0].contains("stale recorded difference"));
    }

    #[test]
    fn a_deep_row_needs_its_standard_row_and_records_need_rows() {
        let deep = [row("nosuch", &[(NoPrivatePin, Verdict::Holds)])];
        let c = compare_with_standard(&deep, &Expected::new(), &DeepExpected::new());
        assert!(c.failures[0].contains("no standard row of that name"));
        let std = standard("inplace", &[("no_private_pin", "holds")]);
        let deep = [row("inplace", &[(NoPrivatePin, Verdict::Holds)])];
        let c = compare_with_standard(&deep, &std, &recorded("gone", "no_private_pin", "x"));
        assert!(c
            .failures
            .iter()
            .any(|f| f.contains("gone: in checker/expected-deep.json but no longer a deep row")));
        let c = compare_with_standard(&deep, &std, &recorded("inplace", "stage2_coherent", "x"));
        assert!(c.failures.iter().any(|f| f.contains("do not both check")));
    }

    #[test]
    fn bless_keeps_the_recorded_reasons() {
        let rows = [row("inplace", &[(NoPrivatePin, Verdict::Holds)])];
        let old = recorded("inplace", "no_private_pin", "why");
        let e = blessed(&rows, &old);
        assert_eq!(e["inplace"].verdicts["no_private_pin"], "holds");
        assert_eq!(e["inplace"].differences["no_private_pin"], "why");
    }

    /// The profile is what docs/scale.md says it is: every design has a
    /// deep safety row; every deep row deepens a standard row of the same
    /// name and pass, with 3-4 pages, two converter threads and two VMs
    /// (none on the exclusive-pin RFC's anonymous memory).
    #[test]
    fn every_deep_row_deepens_a_standard_row() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let deep = model::gate::load_dir(&root.join("configs").join(model::gate::DEEP_DIR))
            .expect("configs/deep/ loads");
        let standard = model::gate::load_dir(&root.join("configs")).expect("configs/ loads");
        for d in model::Design::ALL {
            assert!(
                deep.iter()
                    .any(|r| r.name == d.name() && r.pass == Pass::Safety),
                "no deep safety row for design {d}"
            );
        }
        for r in &deep {
            let s = standard
                .iter()
                .find(|s| s.name == r.name)
                .unwrap_or_else(|| panic!("{}: no standard row", r.name));
            assert_eq!((s.pass, s.cfg.design), (r.pass, r.cfg.design), "{}", r.name);
            assert!((3..=4).contains(&r.cfg.pages), "{}: pages", r.name);
            assert_eq!(
                r.cfg.converters().count(),
                2,
                "{}: converter threads",
                r.name
            );
            let vms = if r.cfg.design.is_gmem() { 2 } else { 1 };
            assert_eq!(r.cfg.vms, vms, "{}: VMs", r.name);
        }
    }
}
