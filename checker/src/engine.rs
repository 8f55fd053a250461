//! The passes: exhaustive safety + sanity (the `search` crate's DFS over the
//! Stateright model, then our BFS for shortest traces) and liveness (the
//! lasso search). Shared by check, explore and gate.

use crate::bfs;
use crate::exit::Result;
use crate::progress::Progress;
use crate::reduce;
use crate::table;
use crate::trace::{self, Trace};
use crate::verdict::{PropResult, Verdict};
use invariants::{Kind, PropertyId};
use liveness::{FairClass, FairModel, FairnessDecl};
use model::{properties, Action, GmemModel, State};
use stateright::Model;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Without `--max-states`, the liveness graph stops here. It keeps about 110 B
/// per state (fingerprints and 8-byte edges; with `--exact`, full states at
/// about 1.3 KB each), so the default bound is about 3.3 GB.
pub const DEFAULT_LIVENESS_MAX_STATES: usize = 30_000_000;

#[derive(Clone, Debug)]
pub struct Bounds {
    pub threads: usize,
    pub max_states: Option<usize>,
    pub timeout: Option<Duration>,
    /// How the safety pass tells states apart (`--exact`, `--fingerprint-bits`);
    /// `Exact` also makes the liveness pass keep full states.
    pub fingerprints: search::Fingerprints,
    /// Symmetry reduction of the safety pass's DFS (`--symmetry`).
    pub symmetry: reduce::Mode,
}

impl Default for Bounds {
    fn default() -> Bounds {
        Bounds {
            threads: 2,
            max_states: None,
            timeout: None,
            fingerprints: search::Fingerprints::Bits64,
            symmetry: reduce::Mode::Off,
        }
    }
}

impl Bounds {
    fn liveness_max_states(&self) -> usize {
        self.max_states.unwrap_or(DEFAULT_LIVENESS_MAX_STATES)
    }
}

/// Which shortest traces the safety pass computes.
#[derive(Clone, Copy, Debug)]
pub struct Want {
    pub violations: bool,
    pub examples: bool,
}

#[derive(Clone, Debug)]
pub struct SafetyStats {
    pub generated: usize,
    pub unique: usize,
    pub max_depth: usize,
    pub elapsed: Duration,
    /// `Some(reason)` when a bound stopped the search.
    pub stopped: Option<String>,
    /// The run's fingerprint collision risk.
    pub fingerprints: search::FingerprintRisk,
    /// With `--symmetry`: the group, and the unreduced counts if compared.
    pub symmetry: Option<reduce::Report>,
}

#[derive(Clone, Debug)]
pub struct LiveStats {
    pub id: PropertyId,
    pub states: usize,
    pub edges: usize,
    pub elapsed: Duration,
    pub approx_bytes: usize,
    /// Bound on the probability that a fingerprint collision merged two states.
    pub collision_probability: f64,
}

/// The safety and sanity properties shown for a configuration, in report order:
/// every safety property (checked or n/a), the checked sanity properties, then
/// the sanity properties that are n/a.
pub fn shown_safety_ids(m: &GmemModel) -> (Vec<PropertyId>, Vec<PropertyId>) {
    let cfg = &m.cfg;
    let checked = properties::safety(cfg)
        .into_iter()
        .chain(properties::sanity(cfg))
        .collect();
    let na = PropertyId::safety()
        .chain(PropertyId::sanity())
        .filter(|&id| properties::not_applicable(cfg, id).is_some())
        .collect();
    (checked, na)
}

fn order(results: &mut [PropResult]) {
    let rank = |k: Kind| match k {
        Kind::Safety => 0,
        Kind::Sanity => 1,
        Kind::Liveness => 2,
    };
    results.sort_by_key(|r| (rank(r.kind()), r.verdict.key() == "n/a", r.id));
}

/// Safety + sanity by exhaustive DFS, then shortest traces by BFS.
pub fn safety_pass(
    m: &GmemModel,
    b: &Bounds,
    want: Want,
    show_progress: bool,
) -> Result<(Vec<PropResult>, Option<SafetyStats>)> {
    let (checked, na) = shown_safety_ids(m);
    let mut results: Vec<PropResult> = na
        .iter()
        .map(|&id| PropResult {
            id,
            verdict: Verdict::NotApplicable(properties::not_applicable(&m.cfg, id).unwrap_or("")),
        })
        .collect();
    if checked.is_empty() {
        // Stateright explores nothing without properties: a run is done once
        // every property has a discovery (stateright 0.31.0
        // src/checker/dfs.rs), which holds at once when there are none.
        order(&mut results);
        return Ok((results, None));
    }

    let opts = search::Options {
        threads: b.threads,
        max_states: b.max_states,
        timeout: b.timeout,
        fingerprints: b.fingerprints,
    };
    let progress = Progress::new("safety", show_progress);
    let outcome = reduce::dfs(m, &opts, b.symmetry, |p| {
        progress.states(p.generated, p.unique)
    });
    progress.finish();
    let (outcome, symmetry) = outcome?;
    // A bound that stopped the search with states left: incomplete, never
    // "holds". (Every property discovered is complete: the verdicts are final.)
    let stopped = match outcome.end {
        search::End::Exhausted | search::End::AllDiscovered => None,
        search::End::MaxStates(n) => Some(format!("stopped by --max-states {n}")),
        search::End::Timeout(t) => Some(format!("stopped by --timeout {}", t.as_secs())),
    };
    let stats = SafetyStats {
        generated: outcome.generated,
        unique: outcome.unique,
        max_depth: outcome.max_depth,
        elapsed: outcome.elapsed,
        stopped: stopped.clone(),
        fingerprints: outcome.fingerprints,
        symmetry,
    };
    let discoveries = &outcome.discoveries;

    // Shortest traces for what the DFS discovered.
    let targets: Vec<PropertyId> = checked
        .iter()
        .copied()
        .filter(|id| discoveries.contains_key(id.name()))
        .filter(|id| match id.kind() {
            Kind::Safety => want.violations,
            _ => want.examples,
        })
        .collect();
    let mut traces = if targets.is_empty() {
        Default::default()
    } else {
        let p = Progress::new("shortest traces", show_progress);
        p.message(format!("BFS for {} properties", targets.len()));
        let t = bfs::shortest(
            m,
            &targets,
            |s, id| properties::eval(m, s, id) == (id.kind() != Kind::Safety),
            b.max_states,
        );
        p.finish();
        t
    };
    for id in checked {
        let found = discoveries.get(id.name());
        let trace = found.and_then(|d| {
            traces.remove(&id).or_else(|| {
                // The BFS stopped at --max-states: fall back to the DFS path.
                trace::replay(m, d.init, &d.actions).ok()
            })
        });
        let wanted = |k| {
            if k == Kind::Safety {
                want.violations
            } else {
                want.examples
            }
        };
        let trace = trace.filter(|_| wanted(id.kind()));
        let verdict = match (id.kind(), found.is_some(), &stopped) {
            (Kind::Safety, true, _) => Verdict::Violated(trace),
            (_, true, _) => Verdict::Found(trace),
            (_, false, Some(r)) => Verdict::Incomplete(r.clone()),
            (Kind::Safety, false, None) => Verdict::Holds,
            (_, false, None) => Verdict::NotFound,
        };
        results.push(PropResult { id, verdict });
    }
    order(&mut results);
    Ok((results, Some(stats)))
}

/// The model as the liveness graph sees it, with the run's bounds: after
/// `--timeout` every state still to expand is left unexpanded (the graph's
/// own truncation, so a lasso found before is still a real one and "holds"
/// becomes incomplete), and every 4096 expanded states the progress line
/// shows the count and the process's resident memory.
struct Bounded<'a> {
    m: &'a GmemModel,
    deadline: Option<Instant>,
    expanded: AtomicUsize,
    stopped: AtomicBool,
    progress: &'a Progress,
    name: &'static str,
}

impl Model for Bounded<'_> {
    type State = State;
    type Action = Action;
    fn init_states(&self) -> Vec<State> {
        self.m.init_states()
    }
    fn actions(&self, st: &State, actions: &mut Vec<Action>) {
        self.m.actions(st, actions)
    }
    fn next_state(&self, st: &State, action: Action) -> Option<State> {
        self.m.next_state(st, action)
    }
    fn within_boundary(&self, _: &State) -> bool {
        if self.stopped.load(Ordering::Relaxed) {
            return false;
        }
        let n = self.expanded.fetch_add(1, Ordering::Relaxed) + 1;
        if n.is_multiple_of(4096) {
            self.progress.message(format!(
                "{}: {} states expanded, {}",
                self.name,
                table::thousands(n),
                rss_text()
            ));
            if self.deadline.is_some_and(|d| Instant::now() >= d) {
                self.stopped.store(true, Ordering::Relaxed);
                return false;
            }
        }
        true
    }
}

impl FairModel for Bounded<'_> {
    fn fairness_class(&self, s: &State, a: &Action) -> Option<FairClass> {
        self.m.fairness_class(s, a)
    }
    fn fairness_decls(&self) -> Vec<FairnessDecl> {
        self.m.fairness_decls()
    }
}

/// The resident memory of this process (Linux `/proc/self/statm`).
fn rss_text() -> String {
    let pages = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok());
    match pages {
        Some(p) => format!("{:.1} MiB resident", (p * 4096) as f64 / (1024.0 * 1024.0)),
        None => "memory unknown".into(),
    }
}

/// Every liveness property: checked, or n/a with the reason. `--max-states`
/// bounds each property's graph, `--timeout` the whole pass.
pub fn liveness_pass(
    m: &GmemModel,
    b: &Bounds,
    show_progress: bool,
) -> (Vec<PropResult>, Vec<LiveStats>) {
    let mut results = Vec::new();
    let mut stats = Vec::new();
    let opts = liveness::Options {
        max_states: Some(b.liveness_max_states()),
        timeout: b.timeout,
        exact: b.fingerprints == search::Fingerprints::Exact,
    };
    let run = LiveRun {
        m,
        b,
        opts,
        deadline: b.timeout.map(|t| Instant::now() + t),
        show_progress,
    };
    for id in PropertyId::liveness() {
        if let Some(r) = properties::not_applicable(&m.cfg, id) {
            results.push(PropResult {
                id,
                verdict: Verdict::NotApplicable(r),
            });
            continue;
        }
        // One search per scope (each converter thread's conversion, or the
        // whole system): violated if any finds a lasso, holds only if all
        // hold.
        let mut verdict = Verdict::Holds;
        for scope in properties::pending_scopes(&m.cfg, id) {
            let v = run.search(id, scope, &mut stats);
            verdict = match (verdict, v) {
                (Verdict::Violated(t), _) => Verdict::Violated(t),
                (_, Verdict::Violated(t)) => Verdict::Violated(t),
                (Verdict::Incomplete(r), _) => Verdict::Incomplete(r),
                (_, v) => v,
            };
        }
        results.push(PropResult { id, verdict });
    }
    (results, stats)
}

/// What every lasso search of one liveness pass shares.
struct LiveRun<'a> {
    m: &'a GmemModel,
    b: &'a Bounds,
    opts: liveness::Options,
    /// `--timeout` bounds the whole pass.
    deadline: Option<Instant>,
    show_progress: bool,
}

impl LiveRun<'_> {
    /// One lasso search for liveness property `id` in converter scope `scope`.
    fn search(&self, id: PropertyId, scope: Option<usize>, stats: &mut Vec<LiveStats>) -> Verdict {
        let (m, b, deadline, opts) = (self.m, self.b, self.deadline, &self.opts);
        let p = Progress::new("liveness", self.show_progress);
        p.message(match scope {
            None => id.name().to_string(),
            Some(k) => format!("{} ({})", id.name(), model::Actor::Converter(k as u8)),
        });
        let bounded = Bounded {
            m,
            deadline,
            expanded: AtomicUsize::new(0),
            stopped: AtomicBool::new(deadline.is_some_and(|d| Instant::now() >= d)),
            progress: &p,
            name: id.name(),
        };
        let report = liveness::check(&bounded, |s| properties::eval_in(m, s, id, scope), opts);
        let timed_out = bounded.stopped.load(Ordering::Relaxed);
        p.finish();
        let verdict = match &report.verdict {
            liveness::Verdict::Violated(l) => Verdict::Violated(Some(Trace::from_lasso(m, l))),
            _ if timed_out => Verdict::Incomplete(format!(
                "stopped by --timeout {}",
                b.timeout.map(|t| t.as_secs()).unwrap_or(0)
            )),
            liveness::Verdict::Holds => Verdict::Holds,
            liveness::Verdict::Incomplete { reason } => Verdict::Incomplete(match b.max_states {
                _ if reason.contains("timeout") => format!(
                    "stopped by --timeout {}",
                    b.timeout.map_or(0, |t| t.as_secs())
                ),
                Some(n) => format!("stopped by --max-states {n}"),
                None => format!(
                    "stopped at the liveness graph limit of {} states; raise it with --max-states",
                    b.liveness_max_states()
                ),
            }),
        };
        stats.push(LiveStats {
            id,
            states: report.states,
            edges: report.edges,
            elapsed: report.elapsed,
            approx_bytes: report.approx_bytes,
            collision_probability: report.collision_probability,
        });
        verdict
    }
}

/// One line on the fingerprint collision risk of a set of safety runs (a
/// `check`, or every row of the gate): the union bound over the runs, i.e.
/// the sum of each run's n*m/2^b, and the largest run's own line.
pub fn risk_line(stats: &[&SafetyStats]) -> String {
    let total: f64 = stats.iter().map(|s| s.fingerprints.probability()).sum();
    match stats.iter().max_by_key(|s| s.unique) {
        None => "fingerprints: no safety search ran".into(),
        Some(s) if stats.len() == 1 => s.fingerprints.describe(),
        Some(s) => format!(
            "fingerprints: P(a collision hid a state in any of {} runs) <= {:.1e}; largest run: {}",
            stats.len(),
            total.min(1.0),
            s.fingerprints.describe()
        ),
    }
}
