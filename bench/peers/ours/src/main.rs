//! Our checker on the peer configurations of bench/peers:
//! `model::gate::peer_config(design, bug)`, optionally resized with
//! `Config::with_pages(n)`. The search is the workspace's `search` crate
//! (the engine of `checker`'s safety pass; no symmetry), or with the engine
//! argument `stateright` Stateright 0.31's `spawn_dfs` (the engine before).
//! Checks exactly the four invariants the TLA+ and Promela encodings check,
//! and prints one machine-readable line:
//!
//!   OURS config=<name> pages=<n> threads=<t> distinct=<u> generated=<g>
//!        secs=<s> init=<i> no_private_host_mapping=holds|violated ...
//!
//! Usage: peers-ours <inplace|huge_whole|inplace+gup_fast_no_recheck|
//!                    inplace+check_before_unmap|scaled:...> [pages] [threads]
//!                    [search|stateright]
//!        peers-ours dump <config> [pages]   (every distinct state, one a line)

use invariants::PropertyId;
use model::{gate::peer_config, Bug, Design, GmemModel, State};
use stateright::{Checker, Expectation, Model, Property};
use std::time::Instant;

/// GmemModel restricted to the four invariants the peers check.
struct Peer(GmemModel);

const PROPS: [PropertyId; 4] = [
    PropertyId::NoPrivateHostMapping,
    PropertyId::NoPrivatePin,
    PropertyId::HostAccessOnlyShared,
    PropertyId::RefcountConserved,
];

fn ev(m: &Peer, s: &State, id: PropertyId) -> bool {
    model::properties::eval(&m.0, s, id)
}
fn p0(m: &Peer, s: &State) -> bool {
    ev(m, s, PROPS[0])
}
fn p1(m: &Peer, s: &State) -> bool {
    ev(m, s, PROPS[1])
}
fn p2(m: &Peer, s: &State) -> bool {
    ev(m, s, PROPS[2])
}
fn p3(m: &Peer, s: &State) -> bool {
    ev(m, s, PROPS[3])
}

// As GmemModel's own: successors stepped in the search's stack slot, the
// four properties of a state evaluated on one shared view.
impl search::InPlace for Peer {
    fn next_state_in_place(&self, s: &State, n: &mut State, a: model::Action) -> bool {
        self.0.next_state_in_place(s, n, a)
    }
    fn evaluate(
        &self,
        s: &State,
        _: &[Property<Self>],
        keys: &[usize],
        pending: &[usize],
        report: &mut dyn FnMut(usize, bool),
    ) {
        let view = model::view::View::new(&self.0, s);
        for &i in pending {
            report(i, PROPS[keys[i]].eval(&view));
        }
    }
}

impl Model for Peer {
    type State = State;
    type Action = model::Action;
    fn init_states(&self) -> Vec<State> {
        self.0.init_states()
    }
    fn actions(&self, s: &State, a: &mut Vec<model::Action>) {
        self.0.actions(s, a)
    }
    fn next_state(&self, s: &State, a: model::Action) -> Option<State> {
        self.0.next_state(s, a)
    }
    fn properties(&self) -> Vec<Property<Self>> {
        vec![
            Property::always(PROPS[0].name(), p0),
            Property::always(PROPS[1].name(), p1),
            Property::always(PROPS[2].name(), p2),
            Property::always(PROPS[3].name(), p3),
        ]
    }
}

fn config(name: &str, pages: Option<u8>) -> model::Config {
    if let Some(rest) = name.strip_prefix("scaled:") {
        return scaled(rest, pages.unwrap_or(2));
    }
    let (d, b) = match name {
        "inplace" => (Design::Inplace, None),
        "huge_whole" => (Design::HugeWhole, None),
        "inplace+gup_fast_no_recheck" => (Design::Inplace, Some(Bug::GupFastNoRecheck)),
        "inplace+check_before_unmap" => (Design::Inplace, Some(Bug::CheckBeforeUnmap)),
        _ => panic!("unknown peer configuration {name}"),
    };
    let c = peer_config(d, b);
    match pages {
        Some(n) => c.with_pages(n).expect("resize"),
        None => c,
    }
}

/// The scaled family for throughput: `scaled:<design>:<procs>:<pinners>:<ops>`.
/// Process p writes pages p, p+1, ... (mod N), `ops` operations; pinner k is a
/// GUP-fast FOLL_PIN user of page k mod N through process k mod procs; one
/// to-private conversion of every page. `scaled:inplace:1:1:1` = peer_config.
fn scaled(spec: &str, n: u8) -> model::Config {
    let v: Vec<&str> = spec.split(':').collect();
    let d: Design = v[0].parse().unwrap();
    let (np, nk, l): (u8, u8, u8) = (
        v[1].parse().unwrap(),
        v[2].parse().unwrap(),
        v[3].parse().unwrap(),
    );
    let mut c = peer_config(d, None).with_pages(n).expect("resize");
    c.procs = (0..np)
        .map(|p| {
            (0..l)
                .map(|j| model::config::HostOp::Write { page: (p + j) % n })
                .collect()
        })
        .collect();
    let pin = c.pinners[0];
    c.pinners = (0..nk)
        .map(|k| model::config::PinnerCfg {
            page: k % n,
            proc: k % np,
            ..pin
        })
        .collect();
    c.validate().expect("valid");
    c
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(|s| s.as_str()) == Some("live") {
        return live(&args[1]);
    }
    if args.first().map(|s| s.as_str()) == Some("dump") {
        return dump(&args[1], args.get(2).map(|s| s.parse().unwrap()));
    }
    let name = args.first().expect("configuration name").clone();
    let pages: Option<u8> = args.get(1).map(|s| s.parse().unwrap());
    let threads: usize = args.get(2).map(|s| s.parse().unwrap()).unwrap_or(2);
    let engine = args.get(3).map_or("search", |s| s.as_str());
    let cfg = config(&name, pages);
    let n = cfg.pages;
    let m = Peer(GmemModel::new(cfg).unwrap());
    let init = m.init_states().len();
    let t = Instant::now();
    let (distinct, generated, violated): (usize, usize, Vec<bool>) = match engine {
        "search" => {
            let opts = search::Options {
                threads,
                ..Default::default()
            };
            let o = search::run(&m, &opts).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(
                o.end,
                search::End::Exhausted,
                "the search must cover the whole graph"
            );
            let v = m
                .properties()
                .iter()
                .map(|p| o.discovery(p.name).is_some())
                .collect();
            (o.unique, o.generated, v)
        }
        "stateright" => {
            let c = Peer(m.0.clone())
                .checker()
                .threads(threads)
                .spawn_dfs()
                .join();
            let v = m
                .properties()
                .iter()
                .map(|p| c.discovery(p.name).is_some())
                .collect();
            (c.unique_state_count(), c.state_count(), v)
        }
        e => panic!("unknown engine {e} (search or stateright)"),
    };
    let secs = t.elapsed().as_secs_f64();
    let mut line = format!(
        "OURS config={name} pages={n} threads={threads} distinct={distinct} generated={generated} secs={secs:.6} init={init}"
    );
    for (p, v) in m.properties().iter().zip(violated) {
        assert!(matches!(p.expectation, Expectation::Always));
        let v = if v { "violated" } else { "holds" };
        line.push_str(&format!(" {}={v}", p.name));
    }
    println!("{line}");
}

/// Our liveness verdict on the gate row `configs/<design>@pin_subpage_a.json`
/// (the fairness-aware lasso search of model/src/live.rs).
fn live(design: &str) {
    let d: Design = design.parse().unwrap();
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(format!("../../../configs/{d}@pin_subpage_a.json"));
    let m = GmemModel::new(model::gate::load_file(&file).unwrap().cfg).unwrap();
    let t = Instant::now();
    let r = model::live::check(&m, PropertyId::IndependentSubpages, &Default::default());
    let v = match r.verdict {
        liveness::Verdict::Holds => "holds",
        liveness::Verdict::Violated(_) => "violated",
        liveness::Verdict::Incomplete { .. } => "incomplete",
    };
    println!(
        "OURS-LIVE config=live_{design} distinct={} edges={} secs={:.6} independent_subpages={v}",
        r.states,
        r.edges,
        t.elapsed().as_secs_f64()
    );
}

/// Every reachable state (BFS over the model), for diffing with the peers.
fn dump(name: &str, pages: Option<u8>) {
    let m = GmemModel::new(config(name, pages)).unwrap();
    let mut seen = std::collections::HashSet::new();
    let mut q: std::collections::VecDeque<State> = m.init_states().into();
    for s in &q {
        seen.insert(*s);
    }
    let mut acts = Vec::new();
    while let Some(s) = q.pop_front() {
        println!("{}", canon(&m, &s));
        acts.clear();
        m.actions(&s, &mut acts);
        for a in acts.drain(..) {
            if let Some(n) = m.next_state(&s, a) {
                if seen.insert(n) {
                    q.push_back(n);
                }
            }
        }
    }
}

/// The state in the line format of gmem.pml's `dump()` (DUMP build), so the
/// two state sets can be diffed.
fn canon(m: &GmemModel, s: &State) -> String {
    use model::state::*;
    use std::fmt::Write;
    let c = m.cfg();
    let n = c.pages as usize;
    let mut o = String::from("S priv=");
    for i in 0..n {
        write!(o, "{}", s.pages[i].private as u8).unwrap();
    }
    o += " pf=";
    for i in 0..n {
        write!(o, "{},", s.pages[i].folio.get().unwrap_or(255)).unwrap();
    }
    o += " ptes=";
    for i in 0..n {
        write!(o, "{},", s.pages[i].ptes).unwrap();
    }
    o += " fo=";
    for f in &s.folios[..n] {
        write!(
            o,
            "{}:{}:{}:{},",
            (f.state != FolioState::Unused) as u8,
            f.index,
            { f.refcount },
            { f.pincount }
        )
        .unwrap();
    }
    let (cpc, carg) = match s.conv[0].pc.get() {
        ConvPc::Idle => (0, 0),
        ConvPc::Lock => (1, 0),
        ConvPc::Unmap => (2, 0),
        ConvPc::Check(i) => (3, i),
        ConvPc::InvBegin => (4, 0),
        ConvPc::Flip => (5, 0),
        ConvPc::InvEnd => (6, 0),
        ConvPc::Done => (7, 0),
        x => panic!("{x:?}"),
    };
    let cres = match s.conv[0].result.get() {
        None => 254,
        Some(invariants::ConvResult::Ok) => 253,
        Some(invariants::ConvResult::Eagain { error_index }) => error_index,
        Some(x) => panic!("{x:?}"),
    };
    write!(
        o,
        " pool={} w={} r={} conv={cpc}:{carg}:{cres}:{}:{}:{}:{}",
        s.gigantic[0].in_pool as u8,
        (s.invalidate_lock.writer.get() == Some(0)) as u8,
        s.invalidate_lock.readers,
        s.conv[0].before,
        s.conv[0].after,
        s.conv[0].succeeded as u8,
        s.guests[0].seq_stale as u8
    )
    .unwrap();
    o += " procs=";
    for p in &s.procs[..c.procs.len()] {
        let (pc, sl) = match p.pc.get() {
            ProcPc::Idle => (0, 0),
            ProcPc::Fault(FaultPc::LockInv) => (1, 0),
            ProcPc::Fault(FaultPc::Lookup) => (2, 0),
            ProcPc::Fault(FaultPc::Install(x)) => (3, x),
            x => panic!("{x:?}"),
        };
        write!(o, "{}:{pc}:{sl},", p.op).unwrap();
    }
    o += " pins=";
    for k in &s.pinners[..c.pinners.len()] {
        let (pc, sl) = match k.pc.get() {
            PinPc::Idle => (0, 0),
            PinPc::FastReadPte => (1, 0),
            PinPc::FastTryAdd(x) => (2, x),
            PinPc::FastRecheck(x) => (3, x),
            PinPc::SlowFollow => (4, 0),
            PinPc::SlowFault(FaultPc::LockInv) => (5, 0),
            PinPc::SlowFault(FaultPc::Lookup) => (6, 0),
            PinPc::SlowFault(FaultPc::Install(x)) => (7, x),
            PinPc::Held(x) => (8, x),
            PinPc::Accessed(x) => (9, x),
            PinPc::Finished => (10, 0),
            x => panic!("{x:?}"),
        };
        write!(o, "{pc}:{sl},").unwrap();
    }
    let (w, id, f, i) = match s.last_access.get() {
        None => (0, 0, 0, 0),
        Some(a) => match a.who {
            invariants::Accessor::HostCpu { process } => (1, process, a.folio, a.index),
            invariants::Accessor::GupHolder { holder } => (2, holder, a.folio, a.index),
            x => panic!("{x:?}"),
        },
    };
    write!(o, " last={w}:{id}:{f}:{i}").unwrap();
    o
}
