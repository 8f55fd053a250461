//! # conformance
//!
//! Differential testing of the Stateright model against the concrete
//! implementation, in the style of ShardStore (Bornholt et al., "Using
//! Lightweight Formal Methods to Validate a Key-Value Storage Node in Amazon
//! S3", SOSP 2021, doi:10.1145/3477132.3483540):
//! one history of uAPI calls drives the model's sequential layer
//! ([`model::seq::SeqMachine`]) and [`guest_memfd::GuestMemFd`] of the same
//! design side by side; after *every* call the two must agree on
//!
//! - the call's outcome ([`Obs`]: ok / SIGBUS / memory fault / no memory /
//!   errno, with the conversion's or punch's `error_offset`);
//! - the per-page facts of the shared [`invariants::GmemView`] ([`Facts`]):
//!   attribute, which host processes map the page, completed GET / PIN /
//!   LONGTERM references through the page, the stage-2 entry's type, whether
//!   a folio is in the page cache (not for `split`, see below), and for the
//!   huge designs whether the gigantic page is in the pool and its structure;
//! - and each side's safety invariants must hold (the model's properties on
//!   its view; `GuestMemFd::check_invariants` on the implementation).
//!
//! Not compared, because the two represent them differently: folio ids,
//! raw refcounts and pincounts, transient references (LRU batch), data values
//! (the model does not track them), lock states.
//!
//! ## Where the generator is restricted, and why
//!
//! - Designs: `inplace`, `wait`, `split`, `pfnmap`, `huge_whole`,
//!   `no_direct_map`. Design
//!   `exclusive_pin` is left out: the model's RFC memory is one *anonymous
//!   THP* covering every page (`mm::alloc`), the implementation's is shmem
//!   with 4K folios, so pins on other pages interact differently by
//!   construction.
//! - `split` punches whole files only: the model punches whole gigantic pages
//!   only (hugetlb alignment, `Config::validate`), the implementation also
//!   zeroes partial ranges in place.
//! - `split`: folio presence is not compared. The model creates every 4K
//!   subfolio when it splits; the implementation creates them as they are
//!   touched.
//! - `huge_whole`: punches of any range and close are generated (D3, the
//!   punch of a pinned gigantic page, is resolved: both orphan the folio).
//! - Stage-2 entries are compared exactly ([`Strictness`], the default;
//!   D1, D2 and D4 were the stage-2 divergences, all resolved).
//! - Design `wait`: a to-private conversion with a held short-term reference
//!   blocks forever in the model (no clock) and returns `-ETIMEDOUT` after
//!   `wait_timeout` in the implementation. Both count as [`Obs::Blocked`];
//!   the history is cut there (the model cannot continue sequentially).
//! - At most [`MAX_HELD`] references are held at once (the model's fixed
//!   pinner slots); a pin beyond that is skipped on both sides. `Unpin`
//!   names a held pin by position, so shrinking keeps histories valid.
//! - Two host processes: the model's 0 and 1, the implementation's VMM and
//!   a child forked before the first call.
//!
//! ## Regressions
//!
//! A failing history (after proptest's shrinking) is written to
//! `conformance/regressions/found-<design>.json`. Every `*.json` there is
//! replayed by `tests/regressions.rs`: the history must agree (or, for a
//! file with `"divergence"`, must still disagree at the recorded step, so a
//! fix of either side is noticed), and any `expect` outcomes must match.

use guest_memfd::{AccessOutcome, Config as ImplConfig, Errno, Error, GmemFlags, GuestMemFd};
use invariants::{Attr, GmemView, PropertyId, Stage2, Structure};
use model::config::PinKind;
use model::seq::{Outcome, PinHandle, SeqMachine};
use model::Design;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

/// References held at once (the model's pinner slots).
pub const MAX_HELD: usize = model::config::MAX_PINNERS;

/// Designs whose model and implementation are meant to agree sequentially.
pub const DESIGNS: [Design; 6] = [
    Design::Inplace,
    Design::Wait,
    Design::Split,
    Design::Pfnmap,
    Design::HugeWhole,
    Design::NoDirectMap,
];

/// Model/implementation differences found by this crate and not (yet)
/// resolved; `regressions/` pins each with a minimal history. D1-D4 are
/// resolved (docs/conformance.md) and their histories are ordinary agreeing
/// regressions now.
pub const KNOWN_DIVERGENCES: &[&str] = &[];

/// How strictly facts are compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Strictness {
    /// Require equal stage-2 entries (the default). Off, the implementation
    /// may have *fewer* entries than the model (never more, never of another
    /// type): kept for pinning a future divergence, unused today.
    #[serde(default = "strict")]
    pub stage2_exact: bool,
}

fn strict() -> bool {
    true
}

impl Default for Strictness {
    fn default() -> Self {
        Strictness { stage2_exact: true }
    }
}

/// One uAPI call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "op")]
pub enum Op {
    HostRead {
        proc: u8,
        page: u8,
    },
    HostWrite {
        proc: u8,
        page: u8,
    },
    Dontneed {
        proc: u8,
        page: u8,
    },
    Pin {
        kind: PinKind,
        page: u8,
        proc: u8,
    },
    /// Release the `nth` (modulo the number held) held reference, oldest first.
    Unpin {
        nth: u8,
    },
    Convert {
        start: u8,
        pages: u8,
        to: Attr,
    },
    Punch {
        start: u8,
        pages: u8,
    },
    Close,
    Guest {
        page: u8,
        access: Attr,
        write: bool,
    },
}

/// What a call returned, on either side.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Obs {
    Ok,
    Sigbus,
    MemoryFault,
    NoMemory,
    Efault,
    Eagain {
        error_index: usize,
    },
    /// -ENOMEM from a conversion's maple-tree preallocation, at `start`.
    Enomem {
        error_index: usize,
    },
    /// -ENOTTY: in-place conversion is off.
    Enotty,
    Einval,
    Ebadf,
    /// Model: cannot finish alone; implementation: -ETIMEDOUT (design wait).
    Blocked,
    /// Skipped on both sides (no pin to release, or every slot in use).
    Skipped,
    /// An errno or misuse the model has no counterpart for.
    Other,
}

impl From<Outcome> for Obs {
    fn from(o: Outcome) -> Obs {
        match o {
            Outcome::Ok => Obs::Ok,
            Outcome::Sigbus => Obs::Sigbus,
            Outcome::MemoryFault => Obs::MemoryFault,
            Outcome::NoMemory => Obs::NoMemory,
            Outcome::Efault => Obs::Efault,
            Outcome::Eagain { error_index } => Obs::Eagain { error_index },
            Outcome::Einval => Obs::Einval,
            Outcome::Ebadf => Obs::Ebadf,
            Outcome::Blocked => Obs::Blocked,
            Outcome::Enomem { error_index } => Obs::Enomem { error_index },
            Outcome::Enotty => Obs::Enotty,
        }
    }
}

fn obs_of_access(r: guest_memfd::Result<AccessOutcome>) -> Obs {
    match r {
        Ok(AccessOutcome::Value(_)) => Obs::Ok,
        Ok(AccessOutcome::Sigbus) => Obs::Sigbus,
        Ok(AccessOutcome::MemoryFault) => Obs::MemoryFault,
        Err(e) => obs_of_err(&e),
    }
}

fn obs_of_unit(r: guest_memfd::Result<()>) -> Obs {
    match r {
        Ok(()) => Obs::Ok,
        Err(e) => obs_of_err(&e),
    }
}

fn obs_of_err(e: &Error) -> Obs {
    match e {
        Error::Sys { errno, error_index } => match (errno, error_index) {
            (Errno::EAGAIN, Some(i)) => Obs::Eagain { error_index: *i },
            (Errno::ENOMEM, Some(i)) => Obs::Enomem { error_index: *i },
            (Errno::ENOTTY, _) => Obs::Enotty,
            (Errno::EFAULT, _) => Obs::Efault,
            (Errno::EINVAL, _) => Obs::Einval,
            (Errno::EBADF, _) => Obs::Ebadf,
            (Errno::ENOMEM, _) => Obs::NoMemory,
            (Errno::ETIMEDOUT, _) => Obs::Blocked,
            _ => Obs::Other,
        },
        Error::Misuse(_) => Obs::Other,
    }
}

/// The facts of one page both sides must agree on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageFacts {
    pub attr: Attr,
    /// Bitmask of host processes (0, 1) with a present PTE.
    pub host_ptes: u64,
    pub gets: u32,
    pub pins: u32,
    pub longterm_pins: u32,
    /// The stage-2 entry's type in each VM (None: no entry).
    pub stage2: [Option<Attr>; invariants::MAX_VMS],
    /// A folio is in the page cache at this index (`None`: not compared).
    pub folio: Option<bool>,
}

/// The compared facts of the whole file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Facts {
    pub pages: Vec<PageFacts>,
    /// Huge designs: (in the pool, structure) of the gigantic page.
    pub gigantic: Option<(bool, Structure)>,
}

fn page_facts(v: &dyn GmemView, design: Design) -> Vec<PageFacts> {
    (0..v.nr_pages())
        .map(|i| {
            let p = v.page(i);
            PageFacts {
                attr: p.attr,
                host_ptes: p.host_ptes,
                gets: p.gets,
                pins: p.pins,
                longterm_pins: p.longterm_pins,
                stage2: p.stage2.map(|s| match s {
                    Stage2::None => None,
                    s => s.attr(),
                }),
                folio: (design != Design::Split).then_some(p.folio.is_some()),
            }
        })
        .collect()
}

fn model_facts(m: &SeqMachine) -> Facts {
    let st = m.state();
    Facts {
        pages: page_facts(&m.view(), m.design()),
        gigantic: m
            .design()
            .is_huge()
            .then_some((st.gigantic[0].in_pool, st.gigantic[0].structure.get())),
    }
}

fn impl_facts(g: &GuestMemFd, design: Design) -> Facts {
    let gigantic = design.is_huge().then(|| {
        let mut s = Structure::Whole;
        g.for_each_gigantic(&mut |gv| s = gv.structure);
        (g.free_gigantic() == 1, s)
    });
    Facts {
        pages: page_facts(g, design),
        gigantic,
    }
}

fn impl_kind(k: PinKind) -> guest_memfd::PinKind {
    match k {
        PinKind::Get => guest_memfd::PinKind::Get,
        PinKind::Pin => guest_memfd::PinKind::Pin,
        PinKind::Longterm => guest_memfd::PinKind::Longterm,
    }
}

/// A history: the file and the calls.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct History {
    pub design: Design,
    #[serde(default)]
    pub strictness: Strictness,
    pub pages: u8,
    pub init_shared: bool,
    pub ops: Vec<Op>,
}

/// The first disagreement of a history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mismatch {
    /// Index of the call after which the sides disagree.
    pub step: usize,
    pub op: Op,
    pub what: String,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "after call {} ({:?}): {}", self.step, self.op, self.what)
    }
}

/// Both sides side by side.
pub struct Pair {
    pub model: SeqMachine,
    pub imp: GuestMemFd,
    design: Design,
    /// Held references, oldest first: (model slot, implementation pin id).
    held: Vec<(PinHandle, u64)>,
}

impl Pair {
    pub fn new(design: Design, pages: u8, init_shared: bool) -> Result<Pair, String> {
        let model = SeqMachine::new(design, pages, init_shared).map_err(|e| e.to_string())?;
        let mut c = ImplConfig::new(
            design,
            pages as usize,
            GmemFlags {
                mmap: true,
                init_shared,
            },
        );
        // Design wait: a blocked conversion gives up quickly.
        c.wait_timeout = Duration::from_millis(1);
        let imp = GuestMemFd::new(c).map_err(|e| e.to_string())?;
        // The model's second host process.
        imp.fork(0).map_err(|e| e.to_string())?;
        imp.set_debug_checks(true);
        Ok(Pair {
            model,
            imp,
            design,
            held: Vec::new(),
        })
    }

    /// Run one call on both sides; returns both observations.
    pub fn step(&mut self, op: Op) -> Result<(Obs, Obs), String> {
        let (m, g) = (&mut self.model, &self.imp);
        let e = |e: model::seq::SeqError| e.to_string();
        Ok(match op {
            Op::HostRead { proc, page } => (
                m.host_read(proc, page).map_err(e)?.into(),
                obs_of_access(g.host_read(proc as u32, page as usize)),
            ),
            Op::HostWrite { proc, page } => (
                m.host_write(proc, page).map_err(e)?.into(),
                obs_of_access(g.host_write(proc as u32, page as usize, 0x41)),
            ),
            Op::Dontneed { proc, page } => (
                m.madvise_dontneed(proc, page).map_err(e)?.into(),
                obs_of_unit(g.madvise_dontneed(proc as u32, page as usize)),
            ),
            Op::Pin { kind, page, proc } => {
                if self.held.len() >= MAX_HELD {
                    return Ok((Obs::Skipped, Obs::Skipped));
                }
                let (mo, mh) = m.pin(kind, page, proc).map_err(e)?;
                let r = g.pin(proc as u32, page as usize, impl_kind(kind));
                let io = match &r {
                    Ok(_) => Obs::Ok,
                    Err(x) => obs_of_err(x),
                };
                match (mh, r) {
                    (Some(h), Ok(id)) => self.held.push((h, id)),
                    // One side holds, the other does not: the outcome
                    // comparison reports it; release what was taken so the
                    // sides stay comparable.
                    (Some(h), Err(_)) => {
                        let _ = m.unpin(h);
                    }
                    (None, Ok(id)) => {
                        let _ = g.unpin(id);
                    }
                    (None, Err(_)) => {}
                }
                (mo.into(), io)
            }
            Op::Unpin { nth } => {
                if self.held.is_empty() {
                    return Ok((Obs::Skipped, Obs::Skipped));
                }
                let (h, id) = self.held.remove(nth as usize % self.held.len());
                (m.unpin(h).map_err(e)?.into(), obs_of_unit(g.unpin(id)))
            }
            Op::Convert { start, pages, to } => (
                m.convert(start, pages, to).map_err(e)?.into(),
                obs_of_unit(g.convert(start as usize, pages as usize, to)),
            ),
            Op::Punch { start, pages } => (
                m.punch(start, pages).map_err(e)?.into(),
                obs_of_unit(g.punch(start as usize, pages as usize)),
            ),
            Op::Close => (m.close().map_err(e)?.into(), obs_of_unit(g.close())),
            Op::Guest {
                page,
                access,
                write,
            } => {
                let r = if write {
                    g.guest_write(page as usize, Some(access), 0x42)
                } else {
                    g.guest_read(page as usize, Some(access))
                };
                (
                    m.guest_access(page, access).map_err(e)?.into(),
                    obs_of_access(r),
                )
            }
        })
    }

    /// Compare facts and check both sides' invariants.
    pub fn compare(&self, how: Strictness) -> Result<(), String> {
        let mf = model_facts(&self.model);
        let mut gf = impl_facts(&self.imp, self.design);
        if !how.stage2_exact {
            for (g, m) in gf.pages.iter_mut().zip(&mf.pages) {
                for (gs, ms) in g.stage2.iter_mut().zip(m.stage2) {
                    if gs.is_none() {
                        *gs = ms;
                    }
                }
            }
        }
        if mf != gf {
            return Err(format!(
                "facts differ:\n  model: {}\n  impl:  {}",
                show(&mf),
                show(&gf)
            ));
        }
        let v = self.model.view();
        let bad: Vec<_> = PropertyId::safety()
            .filter(|p| !p.eval(&v))
            .map(|p| p.name())
            .collect();
        if !bad.is_empty() {
            return Err(format!("model violates {bad:?}"));
        }
        if let Some(f) = self.imp.take_debug_failure() {
            return Err(format!("implementation violates: {f}"));
        }
        Ok(())
    }
}

fn show(f: &Facts) -> String {
    let mut s = String::new();
    for (i, p) in f.pages.iter().enumerate() {
        let a = |x: Attr| if x == Attr::Private { 'P' } else { 'S' };
        s += &format!(
            "[{i}:{} pte={:b} g{}p{}l{} s2={} f={}] ",
            a(p.attr),
            p.host_ptes,
            p.gets,
            p.pins,
            p.longterm_pins,
            p.stage2
                .map(|s| s.map_or('-', a))
                .iter()
                .collect::<String>(),
            match p.folio {
                None => '?',
                Some(true) => 'y',
                Some(false) => 'n',
            }
        );
    }
    if let Some((pool, st)) = f.gigantic {
        s += &format!("gigantic(in_pool={pool}, {st:?})");
    }
    s
}

/// Run a history on both sides. `Ok(outcomes)` if they agree after every
/// call (the history is cut after a matching [`Obs::Blocked`]).
pub fn run(h: &History) -> Result<Vec<Obs>, Mismatch> {
    let setup = |what: String| Mismatch {
        step: 0,
        op: Op::Close,
        what: format!("setup: {what}"),
    };
    let mut p = Pair::new(h.design, h.pages, h.init_shared).map_err(setup)?;
    p.compare(h.strictness)
        .map_err(|w| setup(format!("initial state: {w}")))?;
    let mut out = Vec::new();
    for (step, &op) in h.ops.iter().enumerate() {
        let fail = |what: String| Mismatch { step, op, what };
        let (mo, io) = p
            .step(op)
            .map_err(|w| fail(format!("model refused: {w}")))?;
        if mo != io {
            return Err(fail(format!(
                "outcome differs: model {mo:?}, implementation {io:?}"
            )));
        }
        out.push(mo);
        if mo == Obs::Blocked {
            break;
        }
        p.compare(h.strictness).map_err(fail)?;
    }
    Ok(out)
}

/// A stored regression: a history, optionally the outcomes it must
/// produce, or the divergence it must still show.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Regression {
    /// What the history exercises.
    pub note: String,
    #[serde(flatten)]
    pub history: History,
    /// Expected outcome of each call (checked on both sides).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<Vec<Obs>>,
    /// A known model/implementation disagreement: the call index at which
    /// the replay must still disagree.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub divergence: Option<usize>,
}

impl Regression {
    /// Replay; `Err` says what no longer holds.
    pub fn check(&self) -> Result<(), String> {
        match (run(&self.history), self.divergence) {
            (Ok(obs), None) => match &self.expect {
                Some(e) if *e != obs => Err(format!("outcomes {obs:?}, expected {e:?}")),
                _ => Ok(()),
            },
            (Err(m), None) => Err(m.to_string()),
            (Err(m), Some(s)) if m.step == s => Ok(()),
            (Err(m), Some(s)) => Err(format!(
                "expected the known divergence at call {s}, got: {m}"
            )),
            (Ok(_), Some(s)) => Err(format!(
                "the known divergence at call {s} is gone: the sides agree now \
                 (update the regression file and KNOWN_DIVERGENCES)"
            )),
        }
    }
}

/// The generator: histories biased towards conflicts on one hot page.
pub mod gen {
    use super::*;
    use proptest::prelude::*;

    fn attr() -> impl Strategy<Value = Attr> {
        prop_oneof![Just(Attr::Shared), Just(Attr::Private)]
    }

    fn kind(d: Design) -> BoxedStrategy<PinKind> {
        if d == Design::Wait {
            // Long-term pins are refused outright: keep a few to check that.
            prop_oneof![4 => Just(PinKind::Get), 4 => Just(PinKind::Pin), 1 => Just(PinKind::Longterm)].boxed()
        } else {
            prop_oneof![
                Just(PinKind::Get),
                Just(PinKind::Pin),
                Just(PinKind::Longterm)
            ]
            .boxed()
        }
    }

    /// One call on a file of `n` pages where `hot` attracts most accesses.
    pub fn op(d: Design, n: u8, hot: u8) -> BoxedStrategy<Op> {
        let page = prop_oneof![3 => Just(hot), 2 => 0..n];
        let proc = prop_oneof![3 => Just(0u8), 1 => Just(1u8)];
        let range = (0..n).prop_flat_map(move |s| (Just(s), 1..=n - s)).boxed();
        let whole = Just((0u8, n)).boxed();
        let conv_range = prop_oneof![1 => whole.clone(), 2 => range.clone()];
        let punch_range = match d {
            // Whole-file punches only (see the crate documentation).
            Design::Split => whole.boxed(),
            _ => range.boxed(),
        };
        let punch_weight = 2;
        prop_oneof![
            6 => (proc.clone(), page.clone()).prop_map(|(proc, page)| Op::HostRead { proc, page }),
            6 => (proc.clone(), page.clone()).prop_map(|(proc, page)| Op::HostWrite { proc, page }),
            2 => (proc.clone(), page.clone()).prop_map(|(proc, page)| Op::Dontneed { proc, page }),
            8 => (kind(d), page.clone(), proc).prop_map(|(kind, page, proc)| Op::Pin { kind, page, proc }),
            5 => (0u8..3).prop_map(|nth| Op::Unpin { nth }),
            8 => (conv_range, attr()).prop_map(|((start, pages), to)| Op::Convert { start, pages, to }),
            punch_weight => punch_range.prop_map(|(start, pages)| Op::Punch { start, pages }),
            1 => Just(Op::Close),
            6 => (page, attr(), any::<bool>()).prop_map(|(page, access, write)| Op::Guest { page, access, write }),
        ]
        .boxed()
    }

    /// A history of up to `max_ops` calls on 2-4 pages.
    pub fn history(d: Design, max_ops: usize) -> impl Strategy<Value = History> {
        (2u8..=4, any::<bool>(), any::<prop::sample::Index>())
            .prop_flat_map(move |(n, init_shared, hot)| {
                let hot = hot.index(n as usize) as u8;
                // Start shared most of the time: that is where host reach exists.
                let init = prop_oneof![3 => Just(true), 1 => Just(init_shared)];
                (
                    Just(n),
                    init,
                    prop::collection::vec(op(d, n, hot), 1..=max_ops),
                )
            })
            .prop_map(move |(pages, init_shared, ops)| History {
                design: d,
                strictness: Strictness::default(),
                pages,
                init_shared,
                ops,
            })
    }
}

/// Where regression files live.
pub fn regressions_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("regressions")
}

/// Store a failing history as `regressions/found-<design>.json` (the last
/// write is the shrunk, minimal one).
pub fn save_failure(h: &History, m: &Mismatch) {
    let r = Regression {
        note: format!("found by the differential test: {m}"),
        history: h.clone(),
        expect: None,
        divergence: None,
    };
    let path = regressions_dir().join(format!("found-{}.json", h.design.name()));
    if let Ok(s) = serde_json::to_string_pretty(&r) {
        let _ = std::fs::write(path, s + "\n");
    }
}
