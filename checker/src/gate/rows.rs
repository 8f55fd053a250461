//! Running the gate rows, two at a time.

use crate::check;
use crate::engine::{Bounds, LiveStats, SafetyStats, Want};
use crate::exit::Result;
use crate::progress::Progress;
use crate::verdict::{PropResult, Verdict};
use model::gate::{GateConfig, Pass};
use model::GmemModel;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct RowResult {
    pub name: String,
    pub pass: Pass,
    pub model: GmemModel,
    pub results: Vec<PropResult>,
    pub safety: Option<SafetyStats>,
    pub live: Vec<LiveStats>,
    pub elapsed: Duration,
}

impl RowResult {
    pub fn to_json(&self) -> Value {
        let verdicts: serde_json::Map<String, Value> = self
            .results
            .iter()
            .map(|r| {
                let mut o = json!({ "verdict": r.verdict.key() });
                if let Verdict::NotApplicable(reason) = r.verdict {
                    o["reason"] = json!(reason);
                }
                if let Some(t) = r.verdict.trace() {
                    o["steps"] = json!(t.steps.len());
                    if let Some(l) = t.loop_start {
                        o["loop"] = json!(l);
                    }
                }
                (r.name().to_string(), o)
            })
            .collect();
        json!({
            "name": self.name,
            "pass": match self.pass { Pass::Safety => "safety", Pass::Liveness => "liveness" },
            "config": self.model.cfg(),
            "seconds": self.elapsed.as_secs_f64(),
            "unique_states": self.safety.as_ref().map(|s| s.unique),
            // With `gate --symmetry`: the count above is of orbit representatives.
            "symmetry": self.safety.as_ref().and_then(|s| s.symmetry.as_ref()).map(|y| json!({
                "group": y.group,
                "group_order": y.order,
                "folio_slots_renamed": y.slots_renamed,
            })),
            "liveness_states": self.live.iter().map(|l| l.states).max(),
            "verdicts": verdicts,
        })
    }
}

fn run_row(g: &GateConfig, threads: usize, symmetry: bool) -> Result<RowResult> {
    let start = Instant::now();
    let m = crate::select::model(g)?;
    let want = Want {
        violations: true,
        examples: false,
    };
    let b = Bounds {
        threads,
        symmetry: if symmetry {
            crate::reduce::Mode::On
        } else {
            crate::reduce::Mode::Off
        },
        ..Bounds::default()
    };
    let out = check::run(g, &m, &b, want, false)?;
    Ok(RowResult {
        name: g.name.clone(),
        pass: g.pass,
        model: m,
        results: out.results,
        safety: out.safety,
        live: out.live,
        elapsed: start.elapsed(),
    })
}

/// Every gate row, in gate order, `jobs` rows at a time, `threads` checker
/// threads each, the safety searches reduced by symmetry if `symmetry`.
pub fn run_all(
    configs: &[GateConfig],
    jobs: usize,
    threads: usize,
    symmetry: bool,
    progress: &Progress,
) -> Result<Vec<RowResult>> {
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<RowResult>>>> =
        Mutex::new((0..configs.len()).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..jobs.max(1) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(g) = configs.get(i) else { break };
                let r = run_row(g, threads, symmetry);
                let failed = r.is_err();
                if let Ok(mut v) = results.lock() {
                    v[i] = Some(r);
                }
                let n = done.fetch_add(1, Ordering::SeqCst) + 1;
                progress.message(format!(
                    "{n}/{} rows done (last: {})",
                    configs.len(),
                    g.name
                ));
                if failed {
                    break;
                }
            });
        }
    });
    let v = results.into_inner().unwrap_or_default();
    v.into_iter().flatten().collect::<Result<Vec<_>>>()
}
