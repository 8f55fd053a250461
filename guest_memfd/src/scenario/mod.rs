//! The scenario language (`scenarios/README.md`): kernel-selftest-like
//! sequences run against [`GuestMemFd`].
//!
//! [`run_files`] is what `cargo run -- scenario FILE...` calls: it prints
//! one line per step, PASS/FAIL per file and a final `N passed, M failed`.
//! [`run_scenario_str`] runs one scenario from a string. Bad scenarios
//! (unknown op, missing or mistyped field, page out of range, unknown pin
//! id, unpinning twice) are a [`ScenarioError`] naming the file, the step
//! and the op; nothing panics on input.

pub mod parse;

use crate::design::PAGE_SIZE;
use crate::device::DevId;
use crate::errno::{AccessOutcome, Errno, Error};
use crate::gmem::{GuestMemFd, MmId, PinId};
// The runner's background threads are the test harness, not kernel code:
// real OS threads (the scenario runner does not run under loom/shuttle).
use crate::sync::Arc;
use parse::{Expect, Op, Range, Scenario, Step};
use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;
use std::path::PathBuf;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// Totals over the files run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScenarioSummary {
    pub passed: usize,
    /// Well-formed scenarios whose outcomes did not match.
    pub failed: usize,
    /// Files that could not be run as written (unreadable, bad JSON, bad
    /// fields, misuse at run time, a background thread that hangs): not
    /// counted in `failed`.
    pub malformed: usize,
}

/// A scenario that could not be run as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScenarioError {
    pub file: String,
    /// 1-based step number, when the error is in a step.
    pub step: Option<usize>,
    pub op: Option<String>,
    pub msg: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.step, &self.op) {
            (Some(n), Some(op)) => write!(f, "{}: step {n} ({op}): {}", self.file, self.msg),
            (Some(n), None) => write!(f, "{}: step {n}: {}", self.file, self.msg),
            _ => write!(f, "{}: {}", self.file, self.msg),
        }
    }
}

impl std::error::Error for ScenarioError {}

/// The result of running a well-formed scenario.
#[derive(Clone, Debug)]
pub struct ScenarioReport {
    pub name: String,
    pub design: crate::Design,
    /// One line per step.
    pub lines: Vec<String>,
    pub passed: bool,
    /// The first mismatch (the run stops there).
    pub failure: Option<String>,
}

/// What a step did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Value(u8),
    Sigbus,
    MemoryFault,
    Errno {
        errno: Errno,
        error_offset: Option<usize>,
    },
    FreeGigantic(usize),
    /// The hardware state of the page's memory: private, shared, or no
    /// memory (no folio).
    Hw(Option<bool>),
    /// Folios in the lru_add batch.
    LruBatch(usize),
    /// The page's attribute.
    Attr(invariants::Attr),
    /// The folio at the page: its size in pages and its refcount (`None`:
    /// no folio in the page cache there).
    Folio(Option<(usize, i64)>),
    /// Whether a device maps its page.
    DeviceMapped(bool),
    /// The page's memory is in the direct map, out of it, or there is no
    /// memory (no folio).
    DirectMap(Option<bool>),
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Ok => f.write_str("ok"),
            Outcome::Value(v) => fmt_value(f, *v),
            Outcome::Sigbus => f.write_str("sigbus"),
            Outcome::MemoryFault => f.write_str("memory_fault"),
            Outcome::Errno {
                errno,
                error_offset: Some(o),
            } => write!(f, "{} error_offset {o}", errno.name()),
            Outcome::Errno {
                errno,
                error_offset: None,
            } => f.write_str(errno.name()),
            Outcome::FreeGigantic(n) => write!(f, "free_gigantic {n}"),
            Outcome::Hw(Some(true)) => f.write_str("hw private"),
            Outcome::Hw(Some(false)) => f.write_str("hw shared"),
            Outcome::Hw(None) => f.write_str("hw none (no folio)"),
            Outcome::LruBatch(n) => write!(f, "lru_batch {n}"),
            Outcome::Attr(invariants::Attr::Private) => f.write_str("attr private"),
            Outcome::Attr(invariants::Attr::Shared) => f.write_str("attr shared"),
            Outcome::Folio(None) => f.write_str("no folio"),
            Outcome::Folio(Some((n, r))) => write!(f, "folio of {n} page(s), refcount {r}"),
            Outcome::DeviceMapped(true) => f.write_str("device mapped"),
            Outcome::DeviceMapped(false) => f.write_str("device not mapped"),
            Outcome::DirectMap(Some(true)) => f.write_str("direct map present"),
            Outcome::DirectMap(Some(false)) => f.write_str("direct map removed"),
            Outcome::DirectMap(None) => f.write_str("direct map none (no folio)"),
        }
    }
}

fn fmt_value(f: &mut fmt::Formatter<'_>, v: u8) -> fmt::Result {
    if v.is_ascii_graphic() {
        write!(f, "value {v} ('{}')", v as char)
    } else {
        write!(f, "value {v}")
    }
}

fn matches(e: &Expect, o: &Outcome) -> bool {
    match (e, o) {
        (Expect::Ok, Outcome::Ok | Outcome::Value(_)) => true,
        (Expect::Value(a), Outcome::Value(b)) => a == b,
        (Expect::Sigbus, Outcome::Sigbus) => true,
        (Expect::MemoryFault, Outcome::MemoryFault) => true,
        (
            Expect::Errno {
                errno: a,
                error_offset: ao,
            },
            Outcome::Errno {
                errno: b,
                error_offset: bo,
            },
        ) => a == b && (ao.is_none() || ao == bo),
        (Expect::FreeGigantic(a), Outcome::FreeGigantic(b)) => a == b,
        (Expect::Hw(a), Outcome::Hw(b)) => a == b,
        (Expect::LruBatch(a), Outcome::LruBatch(b)) => a == b,
        (Expect::Attr(a), Outcome::Attr(b)) => a == b,
        (Expect::Folio(a), Outcome::Folio(b)) => a == b,
        (Expect::DeviceMapped(a), Outcome::DeviceMapped(b)) => a == b,
        (Expect::DirectMap(a), Outcome::DirectMap(b)) => a == b,
        _ => false,
    }
}

/// Run errors from the library: errno values are outcomes, misuse is a
/// scenario error.
fn outcome_of<T>(r: crate::Result<T>, ok: impl FnOnce(T) -> Outcome) -> Result<Outcome, String> {
    match r {
        Ok(v) => Ok(ok(v)),
        Err(Error::Sys { errno, error_index }) => Ok(Outcome::Errno {
            errno,
            error_offset: error_index,
        }),
        Err(Error::Misuse(m)) => Err(m.to_string()),
    }
}

fn access(o: AccessOutcome, write: bool) -> Outcome {
    match o {
        AccessOutcome::Value(_) if write => Outcome::Ok,
        AccessOutcome::Value(v) => Outcome::Value(v),
        AccessOutcome::Sigbus => Outcome::Sigbus,
        AccessOutcome::MemoryFault => Outcome::MemoryFault,
    }
}

fn bytes(r: Range) -> Result<(u64, u64), String> {
    match r {
        Range::Bytes { offset, len } => Ok((offset, len)),
        Range::Pages { offset, pages } => {
            let o = (offset as u64)
                .checked_mul(PAGE_SIZE)
                .ok_or("offset overflows")?;
            let l = (pages as u64)
                .checked_mul(PAGE_SIZE)
                .ok_or("pages overflows")?;
            Ok((o, l))
        }
    }
}

/// The handles a step names, resolved by the runner.
#[derive(Clone, Copy, Debug, Default)]
struct Handles {
    mm: Option<MmId>,
    pin: Option<PinId>,
    dev: Option<DevId>,
}

/// Run an op that needs no runner state (also on a background thread).
fn exec_stateless(g: &GuestMemFd, op: &Op, h: Handles) -> Result<Outcome, String> {
    let Handles { mm, pin, dev } = h;
    let dev = || dev.ok_or_else(|| "internal: device op without a device".to_string());
    match op {
        Op::HostRead { page, .. } => {
            outcome_of(g.host_read(mm.unwrap_or(0), *page), |o| access(o, false))
        }
        Op::HostWrite { page, value, .. } => {
            outcome_of(g.host_write(mm.unwrap_or(0), *page, *value), |o| {
                access(o, true)
            })
        }
        Op::GuestRead {
            page,
            access: a,
            vm,
        } => outcome_of(g.guest_access_vm(*vm, *page, *a, None), |o| {
            access(o, false)
        }),
        Op::GuestWrite {
            page,
            value,
            access: a,
            vm,
        } => outcome_of(g.guest_access_vm(*vm, *page, *a, Some(*value)), |o| {
            access(o, true)
        }),
        Op::PinRead { .. } => {
            outcome_of(g.pin_access(pin.unwrap_or(0), None), |o| access(o, false))
        }
        Op::PinWrite { value, .. } => {
            outcome_of(g.pin_access(pin.unwrap_or(0), Some(*value)), |o| {
                access(o, true)
            })
        }
        Op::Convert { range, to, arg } => {
            let (offset, size) = bytes(*range)?;
            let mut a = crate::KvmMemoryAttributes2 {
                offset,
                size,
                attributes: if *to == invariants::Attr::Private {
                    crate::KVM_MEMORY_ATTRIBUTE_PRIVATE
                } else {
                    0
                },
                ..Default::default()
            };
            let buf = arg.as_ref().map(|(page, _)| (mm.unwrap_or(0), *page));
            outcome_of(g.set_memory_attributes2_at(&mut a, buf), |_| Outcome::Ok)
        }
        Op::ReleaseVm { vm } => outcome_of(g.release_vm(*vm), |_| Outcome::Ok),
        Op::MemoryFailure { page } => outcome_of(g.memory_failure(*page), |_| Outcome::Ok),
        Op::FailPrealloc { count } => {
            g.inject_prealloc_failure(*count);
            Ok(Outcome::Ok)
        }
        Op::FailAlloc { count } => {
            g.inject_alloc_failure(*count);
            Ok(Outcome::Ok)
        }
        Op::LruBatch => Ok(Outcome::LruBatch(g.lru_batch_len())),
        Op::Attr { page } => match g.attr(*page) {
            Some(a) => Ok(Outcome::Attr(a)),
            None => Err(crate::errno::Misuse::PageOutOfRange {
                page: *page,
                limit: g.nr_pages(),
            }
            .to_string()),
        },
        Op::Folio { page } => {
            if *page >= g.nr_pages() {
                return Err(crate::errno::Misuse::PageOutOfRange {
                    page: *page,
                    limit: g.nr_pages(),
                }
                .to_string());
            }
            Ok(Outcome::Folio(g.folio_at(*page)))
        }
        Op::HwState { page } => {
            if *page >= g.nr_pages() {
                return Err(crate::errno::Misuse::PageOutOfRange {
                    page: *page,
                    limit: g.nr_pages(),
                }
                .to_string());
            }
            Ok(Outcome::Hw(g.hw_state(*page)))
        }
        Op::Allocate { range } => {
            let (o, l) = bytes(*range)?;
            outcome_of(g.fallocate(o, l), |_| Outcome::Ok)
        }
        Op::Punch { range } => {
            let (o, l) = bytes(*range)?;
            outcome_of(g.punch_hole(o, l), |_| Outcome::Ok)
        }
        Op::MadviseDontneed { page, .. } => {
            outcome_of(g.madvise_dontneed(mm.unwrap_or(0), *page), |_| Outcome::Ok)
        }
        Op::Close => outcome_of(g.close(), |_| Outcome::Ok),
        Op::LruDrain => {
            g.lru_add_drain_all();
            Ok(Outcome::Ok)
        }
        Op::Pool => Ok(Outcome::FreeGigantic(g.free_gigantic())),
        Op::OdpMap { .. } => outcome_of(g.odp_map(dev()?), |_| Outcome::Ok),
        Op::OdpWalk { .. } => outcome_of(g.odp_walk(dev()?), |_| Outcome::Ok),
        Op::OdpProgram { .. } => outcome_of(g.odp_program(dev()?), |_| Outcome::Ok),
        Op::DeviceRead { .. } => outcome_of(g.device_access(dev()?, None), |o| access(o, false)),
        Op::DeviceWrite { value, .. } => {
            outcome_of(g.device_access(dev()?, Some(*value)), |o| access(o, true))
        }
        Op::DeviceMapped { .. } => outcome_of(g.device_mapped(dev()?), Outcome::DeviceMapped),
        Op::DirectMap { page } => {
            if *page >= g.nr_pages() {
                return Err(crate::errno::Misuse::PageOutOfRange {
                    page: *page,
                    limit: g.nr_pages(),
                }
                .to_string());
            }
            Ok(Outcome::DirectMap(g.in_direct_map(*page)))
        }
        Op::Pin { .. }
        | Op::Unpin { .. }
        | Op::Fork { .. }
        | Op::Join { .. }
        | Op::OdpRegister { .. }
        | Op::OdpUnregister { .. }
        | Op::VfioMapDma { .. }
        | Op::VfioUnmapDma { .. } => Err("internal: stateful op run statelessly".into()),
    }
}

fn describe(op: &Op) -> String {
    let r = |r: &Range| match r {
        Range::Pages { offset, pages } => format!("[{offset}, {})", offset.saturating_add(*pages)),
        Range::Bytes { offset, len } => format!("bytes {offset}+{len}"),
    };
    let v = |vm: usize| {
        if vm == 0 {
            String::new()
        } else {
            format!(" in VM {vm}")
        }
    };
    let a = |a: &Option<invariants::Attr>| match a {
        Some(invariants::Attr::Private) => " private",
        Some(invariants::Attr::Shared) => " shared",
        None => "",
    };
    match op {
        Op::HostRead { page, proc } => format!("host_read page {page} by {proc}"),
        Op::HostWrite { page, value, proc } => {
            format!("host_write page {page} = {value} by {proc}")
        }
        Op::GuestRead { page, access, vm } => {
            format!("guest_read{} page {page}{}", a(access), v(*vm))
        }
        Op::GuestWrite {
            page,
            value,
            access,
            vm,
        } => format!("guest_write{} page {page} = {value}{}", a(access), v(*vm)),
        Op::Pin {
            page,
            kind,
            id,
            proc,
        } => format!("pin {} page {page} by {proc} as {id}", kind.name()),
        Op::Unpin { id } => format!("unpin {id}"),
        Op::PinRead { id } => format!("pin_read {id}"),
        Op::PinWrite { id, value } => format!("pin_write {id} = {value}"),
        Op::Convert { range, to, arg } => format!(
            "convert {} to {}{}",
            r(range),
            if *to == invariants::Attr::Private {
                "private"
            } else {
                "shared"
            },
            arg.as_ref()
                .map(|(p, proc)| format!(" (argument at page {p} of {proc}'s mapping)"))
                .unwrap_or_default()
        ),
        Op::Allocate { range } => format!("allocate {}", r(range)),
        Op::Punch { range } => format!("punch {}", r(range)),
        Op::MadviseDontneed { page, proc } => format!("madvise_dontneed page {page} in {proc}"),
        Op::Fork { parent, child } => format!("fork {parent} -> {child}"),
        Op::Close => "close".into(),
        Op::Pool => "pool".into(),
        Op::LruDrain => "lru_drain".into(),
        Op::Join { thread } => format!("join {thread}"),
        Op::ReleaseVm { vm } => format!("release_vm {vm}"),
        Op::MemoryFailure { page } => format!("memory_failure page {page}"),
        Op::FailPrealloc { count } => format!("fail_prealloc next {count}"),
        Op::FailAlloc { count } => format!("fail_alloc next {count}"),
        Op::Attr { page } => format!("attr page {page}"),
        Op::Folio { page } => format!("folio page {page}"),
        Op::HwState { page } => format!("hw_state page {page}"),
        Op::LruBatch => "lru_batch".into(),
        Op::OdpRegister { page, id, proc } => {
            format!("odp_register {id} mirroring page {page} of {proc}")
        }
        Op::OdpMap { id } => format!("odp_map {id}"),
        Op::OdpWalk { id } => format!("odp_walk {id}"),
        Op::OdpProgram { id } => format!("odp_program {id}"),
        Op::OdpUnregister { id } => format!("odp_unregister {id}"),
        Op::VfioMapDma { page, id, proc } => {
            format!("vfio_map_dma page {page} of {proc} as {id}")
        }
        Op::VfioUnmapDma { id } => format!("vfio_unmap_dma {id}"),
        Op::DeviceRead { id } => format!("device_read {id}"),
        Op::DeviceWrite { id, value } => format!("device_write {id} = {value}"),
        Op::DeviceMapped { id } => format!("device_mapped {id}"),
        Op::DirectMap { page } => format!("direct_map page {page}"),
    }
}

struct Background {
    handle: JoinHandle<Result<Outcome, String>>,
    step: Step,
    /// What the thread was doing when the runner moved on.
    state: &'static str,
}

struct Runner<'a> {
    file: &'a str,
    g: Arc<GuestMemFd>,
    procs: BTreeMap<String, MmId>,
    pins: BTreeMap<String, PinId>,
    devices: BTreeMap<String, DevId>,
    threads: BTreeMap<String, Background>,
    /// [`WATCHDOG_SLACK`], shorter in the runner's own tests.
    slack: Duration,
}

/// How long a background thread may still run once the scenario waits
/// for it, beyond the design-`wait` timeout: every operation here finishes
/// in microseconds, or gives up after `gmem.wait_timeout_ms`.
const WATCHDOG_SLACK: Duration = Duration::from_secs(10);

impl Runner<'_> {
    /// Join a background thread, or give up after the watchdog: a thread
    /// that would hang is an error naming its step (it is left detached).
    fn join_watched(&self, name: &str, bg: Background) -> Result<Outcome, String> {
        let limit = self.g.config().wait_timeout + self.slack;
        let t0 = Instant::now();
        while !bg.handle.is_finished() {
            if t0.elapsed() >= limit {
                return Err(format!(
                    "watchdog: thread \"{name}\" (step {}, {}) did not finish within {} ms; it hangs",
                    bg.step.number,
                    bg.step.op_name,
                    limit.as_millis()
                ));
            }
            thread::sleep(Duration::from_millis(1));
        }
        match bg.handle.join() {
            Ok(r) => r,
            Err(_) => Err(format!("background step {} panicked", bg.step.number)),
        }
    }

    fn err(&self, step: &Step, msg: impl Into<String>) -> ScenarioError {
        ScenarioError {
            file: self.file.to_string(),
            step: Some(step.number),
            op: Some(step.op_name.clone()),
            msg: msg.into(),
        }
    }

    fn proc(&self, step: &Step, name: &str) -> Result<MmId, ScenarioError> {
        self.procs
            .get(name)
            .copied()
            .ok_or_else(|| self.err(step, format!("unknown process \"{name}\"")))
    }

    fn pin_id(&self, step: &Step, id: &str) -> Result<PinId, ScenarioError> {
        self.pins.get(id).copied().ok_or_else(|| {
            self.err(
                step,
                format!("unknown pin id \"{id}\" (never pinned, pin failed, or already unpinned)"),
            )
        })
    }

    fn dev_id(&self, step: &Step, id: &str) -> Result<DevId, ScenarioError> {
        self.devices.get(id).copied().ok_or_else(|| {
            self.err(
                step,
                format!(
                    "unknown device id \"{id}\" (never registered or mapped, mapping failed, or already gone)"
                ),
            )
        })
    }

    /// A new device named `id` made by `make` (ids are unique while held).
    fn new_device(
        &mut self,
        step: &Step,
        id: &str,
        make: impl FnOnce(&GuestMemFd) -> crate::Result<DevId>,
    ) -> Result<Outcome, ScenarioError> {
        if self.devices.contains_key(id) {
            return Err(self.err(
                step,
                format!("device id \"{id}\" is still held; release it first or pick another id"),
            ));
        }
        let r = make(&self.g);
        if let Ok(d) = &r {
            self.devices.insert(id.to_string(), *d);
        }
        outcome_of(r, |_| Outcome::Ok).map_err(|m| self.err(step, m))
    }

    /// Run one step to its outcome (for a background step: start it).
    fn exec(&mut self, step: &Step) -> Result<Option<Outcome>, ScenarioError> {
        let mm = match &step.op {
            Op::HostRead { proc, .. }
            | Op::HostWrite { proc, .. }
            | Op::MadviseDontneed { proc, .. }
            | Op::Convert {
                arg: Some((_, proc)),
                ..
            } => Some(self.proc(step, proc)?),
            _ => None,
        };
        let pin = match &step.op {
            Op::PinRead { id } | Op::PinWrite { id, .. } => Some(self.pin_id(step, id)?),
            _ => None,
        };
        let dev = match step.op.device() {
            Some(id) => Some(self.dev_id(step, id)?),
            None => None,
        };
        let h = Handles { mm, pin, dev };
        if let Some(t) = &step.background {
            if self.threads.contains_key(t) {
                return Err(self.err(step, format!("thread \"{t}\" is already running")));
            }
            let g = self.g.clone();
            let op = step.op.clone();
            let handle = thread::spawn(move || exec_stateless(&g, &op, h));
            // Let it get going: until it finished, or it is blocked waiting
            // for references (design wait), or a short grace period passed.
            let t0 = Instant::now();
            while !handle.is_finished()
                && self.g.waiting_converters() == 0
                && t0.elapsed() < Duration::from_millis(150)
            {
                thread::sleep(Duration::from_millis(1));
            }
            let state = if handle.is_finished() {
                "finished"
            } else if self.g.waiting_converters() > 0 {
                "blocked waiting for references"
            } else {
                "running"
            };
            self.threads.insert(
                t.clone(),
                Background {
                    handle,
                    step: step.clone(),
                    state,
                },
            );
            return Ok(None);
        }
        let out = match &step.op {
            Op::Pin {
                page,
                kind,
                id,
                proc,
            } => {
                if self.pins.contains_key(id) {
                    return Err(self.err(
                        step,
                        format!("pin id \"{id}\" is still held; unpin it first or pick another id"),
                    ));
                }
                let mm = self.proc(step, proc)?;
                let r = self.g.pin(mm, *page, *kind);
                if let Ok(pid) = &r {
                    self.pins.insert(id.clone(), *pid);
                }
                outcome_of(r, |_| Outcome::Ok)
            }
            Op::Unpin { id } => {
                let pid = self.pin_id(step, id)?;
                self.pins.remove(id);
                outcome_of(self.g.unpin(pid), |_| Outcome::Ok)
            }
            Op::Fork { parent, child } => {
                if self.procs.contains_key(child) {
                    return Err(self.err(step, format!("process \"{child}\" already exists")));
                }
                let p = self.proc(step, parent)?;
                let r = self.g.fork(p);
                if let Ok(c) = &r {
                    self.procs.insert(child.clone(), *c);
                }
                outcome_of(r, |_| Outcome::Ok)
            }
            Op::Join { thread } => {
                let bg = self
                    .threads
                    .remove(thread)
                    .ok_or_else(|| self.err(step, format!("unknown thread \"{thread}\"")))?;
                self.join_watched(thread, bg)
            }
            Op::OdpRegister { page, id, proc } => {
                let mm = self.proc(step, proc)?;
                return self
                    .new_device(step, id, |g| g.odp_register(mm, *page))
                    .map(Some);
            }
            Op::VfioMapDma { page, id, proc } => {
                let mm = self.proc(step, proc)?;
                return self
                    .new_device(step, id, |g| g.vfio_map_dma(mm, *page))
                    .map(Some);
            }
            Op::OdpUnregister { id } | Op::VfioUnmapDma { id } => {
                let d = self.dev_id(step, id)?;
                let r = match &step.op {
                    Op::OdpUnregister { .. } => self.g.odp_unregister(d),
                    _ => self.g.vfio_unmap_dma(d),
                };
                if r.is_ok() {
                    self.devices.remove(id);
                }
                outcome_of(r, |_| Outcome::Ok)
            }
            op => exec_stateless(&self.g, op, h),
        };
        out.map(Some).map_err(|m| self.err(step, m))
    }
}

/// After a step with `violates`: the invariant check must fail on exactly
/// those safety properties and nothing else (no consistency failure).
/// Returns what it found, as text, and whether that is the expectation.
fn violations_as_expected(
    want: &[invariants::PropertyId],
    bad: &[crate::InvariantFailure],
) -> (String, bool) {
    let mut names: Vec<&str> = Vec::new();
    let mut other = Vec::new();
    for f in bad {
        match f.property {
            Some(p) if !names.contains(&p.name()) => names.push(p.name()),
            Some(_) => {}
            None => other.push(f.to_string()),
        }
    }
    let same = names.len() == want.len() && want.iter().all(|p| names.contains(&p.name()));
    let mut found = if names.is_empty() {
        "nothing".to_string()
    } else {
        names.join(", ")
    };
    if !other.is_empty() {
        found.push_str(&format!(" and inconsistencies: {}", other.join("; ")));
    }
    (found, same && other.is_empty())
}

/// Run one scenario given as JSON text; `name` names it in messages.
pub fn run_scenario_str(name: &str, json: &str) -> Result<ScenarioReport, ScenarioError> {
    let sc: Scenario = parse::parse(name, json)?;
    run_scenario(name, &sc)
}

/// Run a parsed scenario.
pub fn run_scenario(file: &str, sc: &Scenario) -> Result<ScenarioReport, ScenarioError> {
    let g = GuestMemFd::new(sc.config.clone()).map_err(|e| ScenarioError {
        file: file.to_string(),
        step: None,
        op: None,
        msg: format!("cannot create guest_memfd: {e}"),
    })?;
    let mut r = Runner {
        file,
        g: Arc::new(g),
        procs: BTreeMap::from([("p0".to_string(), 0)]),
        pins: BTreeMap::new(),
        devices: BTreeMap::new(),
        threads: BTreeMap::new(),
        slack: WATCHDOG_SLACK,
    };
    let mut report = ScenarioReport {
        name: sc.name.clone(),
        design: sc.config.design,
        lines: Vec::new(),
        passed: true,
        failure: None,
    };
    for step in &sc.steps {
        let res = r.exec(step);
        let res = match res {
            Ok(x) => x,
            Err(e) => {
                // Do not leave threads running behind an error (the
                // watchdog detaches one that hangs).
                for (t, bg) in std::mem::take(&mut r.threads) {
                    let _ = r.join_watched(&t, bg);
                }
                return Err(e);
            }
        };
        let head = format!("  step {:>2} {}", step.number, describe(&step.op));
        let Some(out) = res else {
            let t = step.background.as_deref().unwrap_or("?");
            let state = r.threads.get(t).map(|b| b.state).unwrap_or("?");
            report
                .lines
                .push(format!("{head}: started on thread {t} ({state})"));
            continue;
        };
        let expect = match (&step.op, &step.expect) {
            (_, Some(e)) => e.clone(),
            (Op::Join { thread: _ }, None) => Expect::Ok,
            (_, None) => Expect::Ok,
        };
        let mut ok = matches(&expect, &out);
        let mut line = format!("{head}: {out}");
        if !ok {
            line.push_str(&format!(" MISMATCH (expected {expect})"));
        } else if !r.threads.is_empty() {
            // The invariant check is only meaningful with nothing in flight.
            if step.violates.is_empty() {
                line.push_str(" PASS");
            } else {
                ok = false;
                line.push_str(" MISMATCH (expected violations, but background threads are still running: join them first)");
            }
        } else {
            let bad = r.g.invariant_failures();
            if step.violates.is_empty() {
                if bad.is_empty() {
                    line.push_str(" PASS");
                } else {
                    ok = false;
                    let e: Vec<String> = bad.iter().map(|f| f.to_string()).collect();
                    line.push_str(&format!(" INVARIANT VIOLATED: {}", e.join("; ")));
                }
            } else {
                let (found, verdict) = violations_as_expected(&step.violates, &bad);
                ok = verdict;
                line.push_str(&format!(", the invariant check finds violated: {found}"));
                if ok {
                    line.push_str(" PASS");
                } else {
                    let want: Vec<&str> = step.violates.iter().map(|p| p.name()).collect();
                    line.push_str(&format!(
                        " MISMATCH (expected violated: {})",
                        want.join(", ")
                    ));
                }
            }
        }
        report.lines.push(line);
        if !ok {
            report.passed = false;
            report.failure = Some(format!("step {} ({}) failed", step.number, step.op_name));
            break;
        }
    }
    for (t, bg) in std::mem::take(&mut r.threads) {
        let step = bg.step.clone();
        if let Err(msg) = r.join_watched(&t, bg) {
            if msg.starts_with("watchdog") {
                return Err(ScenarioError {
                    file: file.to_string(),
                    step: Some(step.number),
                    op: Some(step.op_name.clone()),
                    msg: format!("{msg} (never joined)"),
                });
            }
        }
        if report.passed {
            report.lines.push(format!(
                "  thread {t} (step {}) was never joined",
                step.number
            ));
        }
    }
    Ok(report)
}

/// Run scenario files, printing one line per step, PASS/FAIL per file and
/// a final `N passed, M failed` line.
pub fn run_files(paths: &[PathBuf], out: &mut dyn Write) -> ScenarioSummary {
    let mut sum = ScenarioSummary::default();
    for p in paths {
        let file = p.display().to_string();
        let text = match std::fs::read_to_string(p) {
            Ok(t) => t,
            Err(e) => {
                let _ = writeln!(out, "MALFORMED {file}: cannot read: {e}");
                sum.malformed += 1;
                continue;
            }
        };
        match run_scenario_str(&file, &text) {
            Ok(rep) => {
                let _ = writeln!(out, "{file} ({}, design {}):", rep.name, rep.design);
                for l in &rep.lines {
                    let _ = writeln!(out, "{l}");
                }
                if rep.passed {
                    let _ = writeln!(out, "PASS {file}");
                    sum.passed += 1;
                } else {
                    let _ = writeln!(
                        out,
                        "FAIL {file}: {}",
                        rep.failure.as_deref().unwrap_or("mismatch")
                    );
                    sum.failed += 1;
                }
            }
            Err(e) => {
                let _ = writeln!(out, "MALFORMED {e}");
                sum.malformed += 1;
            }
        }
    }
    if sum.malformed == 0 {
        let _ = writeln!(out, "{} passed, {} failed", sum.passed, sum.failed);
    } else {
        let _ = writeln!(
            out,
            "{} passed, {} failed, {} malformed",
            sum.passed, sum.failed, sum.malformed
        );
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A background thread that never finishes is reported by the
    /// watchdog, naming its step, instead of hanging the run.
    #[test]
    fn watchdog_names_the_hanging_step() {
        let sc = parse::parse(
            "w.json",
            r#"{"design": "inplace", "gmem": {"pages": 1, "flags": ["mmap"], "wait_timeout_ms": 0},
                "steps": [{"op": "lru_drain"}, {"op": "close", "background": "t"}]}"#,
        )
        .expect("parses");
        let mut cfg = sc.config.clone();
        cfg.wait_timeout = Duration::ZERO;
        let r = Runner {
            file: "w.json",
            g: Arc::new(GuestMemFd::new(cfg).expect("create")),
            procs: BTreeMap::new(),
            pins: BTreeMap::new(),
            devices: BTreeMap::new(),
            threads: BTreeMap::new(),
            slack: Duration::from_millis(50),
        };
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let bg = Background {
            // Blocks until the sender goes: a thread that hangs.
            handle: thread::spawn(move || {
                let _ = rx.recv();
                Ok(Outcome::Ok)
            }),
            step: sc.steps[1].clone(),
            state: "running",
        };
        let e = r.join_watched("t", bg).expect_err("the watchdog fires");
        assert!(
            e.starts_with("watchdog: thread \"t\" (step 2, close) did not finish within 50 ms"),
            "{e}"
        );
        drop(tx);
    }
}
