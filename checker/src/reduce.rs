//! `--symmetry`: the safety pass's DFS over orbit representatives
//! (`model::symmetry`, `search::run_reduced`), and with
//! `--compare-unreduced` the unreduced DFS too, whose verdicts must be the
//! same and whose state count gives the reduction factor.
//!
//! Only the DFS is reduced. The shortest traces (`bfs`), the pinned sanity
//! examples, the liveness pass and the explorer run on the full graph, so
//! every trace written is the one an unreduced run writes.

use crate::exit::{Fail, Result};
use model::symmetry::Symmetry;
use model::{GmemModel, State};
use std::collections::BTreeSet;
use std::time::Duration;

/// Whether and how the safety DFS is reduced.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// The full graph (the default).
    #[default]
    Off,
    /// Orbit representatives only.
    On,
    /// Reduced, then the full graph too: same verdicts required, factor reported.
    Compare,
}

/// The unreduced search of a `Compare` run.
#[derive(Clone, Debug)]
pub struct Unreduced {
    /// Both searches were complete, so their verdicts were compared.
    pub compared: bool,
    pub unique: usize,
    pub generated: usize,
    pub elapsed: Duration,
}

/// What a reduced safety pass reports.
#[derive(Clone, Debug)]
pub struct Report {
    /// Order of the group of page/actor renamings.
    pub order: usize,
    pub slots_renamed: bool,
    /// `Symmetry::describe()`.
    pub group: String,
    /// Both searches ran to the end of the graph (not stopped when every
    /// property was discovered, nor by a bound): their counts compare.
    pub whole_graphs: bool,
    pub unreduced: Option<Unreduced>,
}

impl Report {
    /// Unreduced over reduced unique states, when both covered the whole graph.
    pub fn factor(&self, reduced_unique: usize) -> Option<f64> {
        let u = self.unreduced.as_ref()?;
        (self.whole_graphs && reduced_unique > 0).then(|| u.unique as f64 / reduced_unique as f64)
    }

    /// One line for `check`: the group, and the factor when measured.
    pub fn line(&self, reduced_unique: usize) -> String {
        let mut s = format!(
            "symmetry: {}; {} orbit representatives",
            self.group,
            crate::table::thousands(reduced_unique)
        );
        match (&self.unreduced, self.factor(reduced_unique)) {
            (Some(u), _) if !u.compared => {
                s += &format!(
                    "; unreduced: {} states (a bound stopped a search: verdicts not compared)",
                    crate::table::thousands(u.unique)
                )
            }
            (Some(u), Some(f)) => {
                s += &format!(
                    "; unreduced: {} states ({}), same verdicts: reduction factor {f:.2}",
                    crate::table::thousands(u.unique),
                    crate::table::secs(u.elapsed)
                )
            }
            (Some(u), None) => {
                s += &format!(
                    "; unreduced: {} states, same verdicts (a search stopped before the end of its graph, so no factor)",
                    crate::table::thousands(u.unique)
                )
            }
            (None, _) => s += " (--compare-unreduced measures the factor)",
        }
        s
    }
}

fn internal(e: search::Error) -> Fail {
    match e {
        search::Error::Panicked(_) => Fail::internal(
            "a checker thread panicked while exploring the model (message above): this is a model bug",
        ),
        e => Fail::internal(e.to_string()),
    }
}

/// The safety DFS as `mode` asks, with its symmetry report (none when off).
pub fn dfs(
    m: &GmemModel,
    opts: &search::Options,
    mode: Mode,
    progress: impl FnMut(search::Progress),
) -> Result<(search::Outcome<GmemModel>, Option<Report>)> {
    let every = Duration::from_millis(100);
    if mode == Mode::Off {
        let o = search::run_with_progress(m, opts, every, progress).map_err(internal)?;
        return Ok((o, None));
    }
    let sym = Symmetry::of(m.cfg());
    let canon = |s: &State| sym.canonical(s);
    let reduced = if sym.is_trivial() {
        search::run_with_progress(m, opts, every, progress)
    } else {
        search::run_reduced_with_progress(m, opts, &canon, every, progress)
    }
    .map_err(internal)?;
    let mut report = Report {
        order: sym.order(),
        slots_renamed: sym.renames_slots(),
        group: sym.describe(),
        whole_graphs: reduced.end == search::End::Exhausted,
        unreduced: None,
    };
    if mode == Mode::Compare {
        let full = search::run(m, opts).map_err(internal)?;
        let compared = reduced.is_complete() && full.is_complete();
        if compared {
            let a: BTreeSet<&str> = reduced.discoveries.keys().copied().collect();
            let b: BTreeSet<&str> = full.discoveries.keys().copied().collect();
            if a != b {
                let only = |x: &BTreeSet<&str>, y: &BTreeSet<&str>| {
                    x.difference(y).copied().collect::<Vec<_>>().join(", ")
                };
                return Err(Fail::internal(format!(
                    "symmetry reduction changed verdicts ({}): discovered only reduced: [{}]; only unreduced: [{}]. The reduction is unsound for this configuration",
                    sym.describe(),
                    only(&a, &b),
                    only(&b, &a)
                )));
            }
        }
        report.whole_graphs &= full.end == search::End::Exhausted;
        report.unreduced = Some(Unreduced {
            compared,
            unique: full.unique,
            generated: full.generated,
            elapsed: full.elapsed,
        });
    }
    Ok((reduced, Some(report)))
}
