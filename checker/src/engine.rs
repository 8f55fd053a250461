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

/// One enumerated liveness graph and the properties searched on it.
#[derive(Clone, Debug)]
pub struct LiveStats {
    pub ids: Vec<PropertyId>,
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
    let cfg = m.cfg();
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
            verdict: Verdict::NotApplicable(properties::not_applicable(m.cfg(), id).unwrap_or("")),
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

impl search::InPlace for Bounded<'_> {
    fn next_state_in_place(&self, prev: &State, next: &mut State, action: Action) -> bool {
        self.m.next_state_in_place(prev, next, action)
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

/// Every liveness property: checked, or n/a with the reason. The reachable
/// graph does not depend on the property, so it is enumerated once and
/// searched once per property and converter scope (`liveness::check_all`).
/// `--max-states` bounds that graph, `--timeout` the whole pass.
pub fn liveness_pass(
    m: &GmemModel,
    b: &Bounds,
    show_progress: bool,
) -> (Vec<PropResult>, Vec<LiveStats>) {
    let opts = liveness::Options {
        max_states: Some(b.liveness_max_states()),
        timeout: b.timeout,
        exact: b.fingerprints == search::Fingerprints::Exact,
    };
    // One search per scope (each converter thread's conversion, or the
    // whole system) of every applicable property.
    let searches: Vec<(PropertyId, Option<usize>)> = PropertyId::liveness()
        .filter(|&id| properties::not_applicable(m.cfg(), id).is_none())
        .flat_map(|id| {
            properties::pending_scopes(m.cfg(), id)
                .into_iter()
                .map(move |scope| (id, scope))
        })
        .collect();
    let mut verdicts: Vec<(PropertyId, Verdict)> = Vec::new();
    let mut stats = Vec::new();
    if !searches.is_empty() {
        let deadline = b.timeout.map(|t| Instant::now() + t);
        let p = Progress::new("liveness", show_progress);
        let mut names: Vec<&str> = searches.iter().map(|(id, _)| id.name()).collect();
        names.dedup();
        p.message(names.join(", "));
        let bounded = Bounded {
            m,
            deadline,
            expanded: AtomicUsize::new(0),
            stopped: AtomicBool::new(deadline.is_some_and(|d| Instant::now() >= d)),
            progress: &p,
            name: "liveness",
        };
        let preds: Vec<_> = searches
            .iter()
            .map(|&(id, scope)| move |s: &State| properties::eval_in(m, s, id, scope))
            .collect();
        let refs: Vec<liveness::Predicate<State>> = preds
            .iter()
            .map(|p| p as liveness::Predicate<State>)
            .collect();
        let reports = liveness::check_all(&bounded, &refs, &opts);
        let timed_out = bounded.stopped.load(Ordering::Relaxed);
        p.finish();
        for (&(id, _), report) in searches.iter().zip(&reports) {
            verdicts.push((id, live_verdict(m, b, report, timed_out)));
        }
        // One entry per enumerated graph (exact mode: one per search).
        let per_graph = if opts.exact {
            1
        } else {
            liveness::PREDICATES_PER_GRAPH
        };
        for (chunk, rs) in searches.chunks(per_graph).zip(reports.chunks(per_graph)) {
            let r = &rs[0];
            let mut ids: Vec<PropertyId> = chunk.iter().map(|&(id, _)| id).collect();
            ids.dedup();
            stats.push(LiveStats {
                ids,
                states: r.states,
                edges: r.edges,
                elapsed: r.elapsed,
                approx_bytes: r.approx_bytes,
                collision_probability: r.collision_probability,
            });
        }
    }
    let results = PropertyId::liveness()
        .map(|id| {
            let verdict = match properties::not_applicable(m.cfg(), id) {
                Some(r) => Verdict::NotApplicable(r),
                // Violated if any scope's search finds a lasso (the first
                // one's is shown), holds only if all hold.
                None => verdicts.iter().filter(|(v_id, _)| *v_id == id).fold(
                    Verdict::Holds,
                    |acc, (_, v)| match (acc, v) {
                        (Verdict::Violated(t), _) => Verdict::Violated(t),
                        (_, Verdict::Violated(t)) => Verdict::Violated(t.clone()),
                        (Verdict::Incomplete(r), _) => Verdict::Incomplete(r),
                        (_, v) => v.clone(),
                    },
                ),
            };
            PropResult { id, verdict }
        })
        .collect();
    (results, stats)
}

/// The verdict of one lasso search.
fn live_verdict(
    m: &GmemModel,
    b: &Bounds,
    report: &liveness::Report<State, Action>,
    timed_out: bool,
) -> Verdict {
    match &report.verdict {
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
