//! Replay on the implementation: the trace's configuration becomes a real
//! `GuestMemFd` with one thread per model actor running the actor's script
//! (conversions, host accesses, GUP + DMA + unpin, VFIO map + DMA + unmap,
//! guest accesses, populate, a secondary MMU's mirror + DMA), and
//! `guest_memfd::sched` forces the trace's interleaving:
//! every model action grants one actor one step, from the step point it is
//! parked at to its next one.
//!
//! Two runs per trace:
//! - *with the trace's bug switches*: before each action the actor must be
//!   parked at the step the model takes (same step, same page), else the
//!   replay reports where the two diverge; the property is evaluated on the
//!   implementation's own `GmemView` after every step and must fail at the
//!   end (safety), or the loop must be followed again and stay pending, or
//!   every in-flight actor must stay blocked (liveness);
//! - *with them off* (rows that have bug switches): the same actors are
//!   granted steps in the same order, wherever their code has taken them,
//!   then run round-robin to the end; the violation must not occur.

use super::{Outcome, TraceFile};
use crate::trace::{self, Trace};
use guest_memfd::sched::{self, Point, Sched, Status, START};
use guest_memfd::{DevId, DeviceKind, GmemFlags, GuestMemFd, GupPath, PinKind};
use invariants::{ConversionView, GmemView, Kind, PropertyId};
use model::config::{GupPath as MPath, HostOp, PinKind as MPin, TruncOp};
use model::state::*;
use model::{Action, Actor, Design, GmemModel};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How long one step may take before the replay calls it stuck (a step is
/// microseconds; this only guards against a thread blocked for good).
const STEP_TIMEOUT: Duration = Duration::from_secs(5);
/// The bug-off run's round-robin tail: enough for every script here to end.
const TAIL_STEPS: usize = 2_000;

/// Why a trace cannot be replayed on the implementation (it has no
/// counterpart of a model design or actor step there).
fn unsupported(tf: &TraceFile) -> Option<String> {
    if tf.actions.iter().any(|a| a.actor() == Actor::PoolCallback) {
        return Some(
            "the implementation returns a released gigantic page to the pool at the last \
             folio put, not in a separate callback step"
                .into(),
        );
    }
    None
}

fn impl_config(cfg: &model::Config, bugs: bool) -> Result<guest_memfd::Config, String> {
    // One vocabulary (`invariants::Design`, `invariants::Bug`) on both sides.
    let mut c = guest_memfd::Config::new(
        cfg.design,
        cfg.pages as usize,
        GmemFlags {
            mmap: true,
            init_shared: cfg.init_shared,
        },
    );
    c.lru = cfg.lru;
    if cfg.design == Design::Hugetlb {
        // Two subpages per gigantic page (`model::mm::ppg`).
        c.pages_per_gigantic = 2;
    }
    c.block_pins_while_waiting = cfg.block_pins_while_waiting;
    // The model's exclusive_pin memory is an anonymous THP over the file.
    c.thp = cfg.design == Design::ExclusivePin;
    c.nr_vms = cfg.vms as usize;
    // The implementation stops at `conv.prealloc` only where the model has
    // that step (configurations that let the allocation fail).
    c.enomem = cfg.enomem;
    c.reserved_pfns = cfg.reserved_pfns;
    if bugs {
        c.bugs = cfg.bugs.iter().collect();
    }
    // Replay decides when a waiting converter looks again; it never gives up.
    c.wait_timeout = Duration::from_secs(3600);
    Ok(c)
}

/// The step point at which the implementation performs the model step that
/// `actor` takes next in `st` (`START` when it is between operations).
/// `refaulted`: the model's device is at `ReadPte` because an invalidation
/// zapped its mapping ([`device_refaulted`]).
fn model_point(
    cfg: &model::Config,
    st: &State,
    refaulted: bool,
    actor: Actor,
    action: Action,
) -> (&'static str, Option<usize>) {
    if matches!(action, Action::Start(_)) {
        return (START, None);
    }
    fn fault(pc: FaultPc) -> &'static str {
        match pc {
            FaultPc::LockInv => "fault.lock_inv",
            FaultPc::Lookup => "fault.lookup",
            FaultPc::Install(_) => "fault.install",
            FaultPc::InstallLocked(_) => "fault.install_locked",
            // Design hugetlb: __maybe_split_fresh_folio().
            FaultPc::FreshSplit(_) => "fault.fresh_split",
        }
    }
    let p = |i: u8| Some(i as usize);
    match actor {
        Actor::Converter(k) => match st.conv[k as usize].pc.get() {
            ConvPc::Idle => (START, None),
            // The VMM retries an EAGAIN'd request (design hugetlb: an
            // ENOMEM'd one too); otherwise it is between requests (or done
            // with its script).
            ConvPc::Done if model::actors::converter::retrying(cfg, st, k as usize) => {
                ("conv.done", None)
            }
            ConvPc::Done => (START, None),
            ConvPc::Lock => ("conv.lock", None),
            ConvPc::Prealloc => ("conv.prealloc", None),
            ConvPc::MakeShared => ("conv.make_shared", None),
            // The copy-out's first step writes through a present PTE or
            // takes the invalidate lock for the fault; then the fault's steps.
            ConvPc::CopyOut(FaultPc::LockInv) => ("conv.copy_out", None),
            ConvPc::CopyOut(f) => (fault(f), None),
            ConvPc::WaitMapped(i) => ("conv.wait_mapped", p(i)),
            ConvPc::Unmap => ("conv.unmap", None),
            ConvPc::Check(i) => ("conv.check", p(i)),
            ConvPc::Drain(i) => ("conv.drain", p(i)),
            ConvPc::Wait(i) => ("conv.wait", p(i)),
            ConvPc::InvBegin => ("conv.inv_begin", None),
            ConvPc::SplitFreeze => ("conv.split_freeze", None),
            ConvPc::SplitDo => ("conv.split_do", None),
            ConvPc::Flip => ("conv.flip", None),
            ConvPc::MergeFreeze(i) => ("conv.merge_freeze", p(i)),
            ConvPc::MergeFold => ("conv.merge_fold", None),
            ConvPc::InvEnd => ("conv.inv_end", None),
            ConvPc::S2Split => ("conv.s2_split", None),
            ConvPc::ExclPin => ("conv.excl_pin", None),
            ConvPc::Unexc => ("conv.unexc", None),
        },
        Actor::Proc(k) => match st.procs[k as usize].pc.get() {
            ProcPc::Idle => (START, None),
            ProcPc::Fault(f) => (fault(f), None),
        },
        Actor::Pinner(k) => match st.pinners[k as usize].pc.get() {
            PinPc::Idle | PinPc::Finished => (START, None),
            PinPc::FastReadPte => ("gup.fast_read_pte", None),
            PinPc::FastTryAdd(_) => ("gup.fast_try_add", None),
            PinPc::FastRecheck(_) => ("gup.fast_recheck", None),
            PinPc::FastRecheckEarly(_) => ("gup.fast_recheck_early", None),
            PinPc::SlowFollow => ("gup.slow_follow", None),
            PinPc::SlowFault(f) => (fault(f), None),
            PinPc::ExclRecheck(_) => ("gup.excl_recheck", None),
            PinPc::Held(_) => ("gup.held", None),
            PinPc::Accessed(_) => ("gup.accessed", None),
            // VFIO type1 on a VM_PFNMAP mapping (`vfio_map_dma`).
            PinPc::PfnFollow => ("gup.pfn_follow", None),
            PinPc::PfnMapped(_) => ("gup.pfn_mapped", None),
            PinPc::PfnAccessed(_) => ("gup.pfn_accessed", None),
        },
        Actor::Guest(v) => match st.guests[v as usize].pc.get() {
            GuestPc::Idle => (START, None),
            GuestPc::Snapshot => ("guest.snapshot", None),
            GuestPc::CheckAttr => ("guest.check_attr", None),
            GuestPc::GetPfn => ("guest.get_pfn", None),
            GuestPc::Install(_) => ("guest.install", None),
            GuestPc::FreshSplit(_) => ("guest.fresh_split", None),
        },
        Actor::Populate => match st.populate.pc.get() {
            PopPc::Idle | PopPc::Finished => (START, None),
            // The implementation's populate GUPs its source with `gup_slow`.
            PopPc::SrcGup => ("gup.slow_follow", None),
            PopPc::SrcFault(f) => (fault(f), None),
            PopPc::Lock => ("pop.lock", None),
            PopPc::Copy => ("pop.copy", None),
        },
        Actor::Truncator => match st.trunc.pc.get() {
            TruncPc::Idle | TruncPc::Finished => (START, None),
            TruncPc::Lock => ("trunc.lock", None),
            TruncPc::InvBegin => ("trunc.inv_begin", None),
            TruncPc::Unmap => ("trunc.unmap", None),
            TruncPc::Check(i) => ("trunc.check", p(i)),
            TruncPc::MergeFold => ("trunc.merge_fold", None),
            TruncPc::Truncate => ("trunc.truncate", None),
            TruncPc::InvEnd => ("trunc.inv_end", None),
            TruncPc::ReleaseVm => ("trunc.release_vm", None),
        },
        Actor::Speculative => match st.spec.get() {
            SpecPc::Idle | SpecPc::Finished => (START, None),
            SpecPc::Held(_) => ("spec.held", None),
        },
        Actor::PoolCallback => ("pool_callback", None),
        Actor::MemoryFailure => match st.mf.get() {
            MfPc::Idle | MfPc::Finished => (START, None),
            MfPc::ErrorFolio(_) => ("mf.error_folio", None),
        },
        // Not a thread: the environment's choice, taken by the converter
        // at `conv.prealloc` (see `follow`).
        Actor::AllocFail => (START, None),
        Actor::SecondaryMmu => match st.dev.pc.get() {
            DevPc::Idle | DevPc::Finished => (START, None),
            // The device faulted on the zapped entry; the driver thread is
            // still where it was, and its next step is the walk.
            DevPc::ReadPte if refaulted => ("dev.access", None),
            DevPc::ReadPte => ("dev.read_pte", None),
            DevPc::Fault(f) => (fault(f), None),
            DevPc::Map(_) => ("dev.map", None),
            DevPc::Mapped(_) => ("dev.access", None),
        },
    }
}

/// Is the model's device at `ReadPte` in state `j` because an invalidation
/// took it there from `Mapped` (the device faults at once on the zapped
/// entry, `mm::mmu_notifier_invalidate`), rather than by its start, a
/// retry or a fault-in? The implementation's driver thread is then still
/// parked at `dev.access`, where the device finds its entry gone, and the
/// walk is the step it performs next.
fn device_refaulted(t: &Trace, j: usize) -> bool {
    let pc = |i: usize| t.state(i).dev.pc.get();
    if pc(j) != DevPc::ReadPte {
        return false;
    }
    let mut i = j;
    while i > 0 && pc(i - 1) == DevPc::ReadPte {
        i -= 1;
    }
    i > 0 && matches!(pc(i - 1), DevPc::Mapped(_))
}

/// What the VMM knows that the kernel does not: whether the current
/// conversion request is one it retries until it succeeds, and whether it
/// has (per converter thread).
#[derive(Default)]
struct Vmm {
    retry: bool,
    succeeded: [AtomicBool; model::config::MAX_CONVERTERS],
}

/// The implementation's view with the VMM's knowledge added to the
/// conversion records (the liveness properties ask about retried requests):
/// per converter thread, only its newest record (the current attempt) is
/// shown; `converter` limits it to one thread (`properties::pending_scopes`).
struct WithVmm<'a> {
    gm: &'a GuestMemFd,
    vmm: &'a Vmm,
    callers: &'a [(usize, std::thread::ThreadId)],
    converter: Option<usize>,
}

impl GmemView for WithVmm<'_> {
    fn nr_pages(&self) -> usize {
        self.gm.nr_pages()
    }
    fn page(&self, index: usize) -> invariants::PageView {
        self.gm.page(index)
    }
    fn for_each_folio(&self, f: &mut dyn FnMut(&invariants::FolioView)) {
        self.gm.for_each_folio(f)
    }
    fn for_each_gigantic(&self, f: &mut dyn FnMut(&invariants::GiganticView)) {
        self.gm.for_each_gigantic(f)
    }
    fn for_each_access(&self, f: &mut dyn FnMut(&invariants::Access)) {
        self.gm.for_each_access(f)
    }
    fn for_each_thread_locks(&self, f: &mut dyn FnMut(&invariants::ThreadLocks<'_>)) {
        self.gm.for_each_thread_locks(f)
    }
    fn for_each_conversion(&self, f: &mut dyn FnMut(&ConversionView<'_>)) {
        for &(k, caller) in self.callers {
            if self.converter.is_some_and(|only| only != k) {
                continue;
            }
            self.gm.last_conversion_of(caller, &mut |c| {
                f(&ConversionView {
                    retries_until_ok: self.vmm.retry,
                    succeeded: self.vmm.succeeded[k].load(Ordering::SeqCst),
                    ..*c
                })
            });
        }
    }
}

/// One actor's script, as the model's configuration gives it.
enum Script {
    /// Converter thread `k` and its requests.
    Converter(usize, Vec<model::config::ConvOp>),
    Proc(u32, Vec<HostOp>),
    Pinner(model::config::PinnerCfg),
    Guest(usize, Vec<model::config::GuestOp>),
    Truncate(model::config::TruncOp),
    Populate(model::config::PopulateCfg),
    MemoryFailure(u8),
    Speculative(model::config::SpeculativeCfg),
    /// The secondary MMU's device, registered (its interval notifier
    /// inserted) before the first step.
    SecondaryMmu(DevId),
}

/// What a pinner holds: a GUP reference, or a VFIO DMA mapping.
#[derive(Clone, Copy)]
enum Held {
    Pin(guest_memfd::PinId),
    Dma(DevId),
}

fn pin_kind(k: MPin) -> PinKind {
    match k {
        MPin::Get => PinKind::Get,
        MPin::Pin => PinKind::Pin,
        MPin::Longterm => PinKind::Longterm,
    }
}

fn run_script(gm: &GuestMemFd, vmm: &Vmm, id: usize, s: Script, arg: Option<u8>) {
    // Design hugetlb: the VMM also retries -ENOMEM (the model's
    // `converter::retrying`).
    let enomem_retried = gm.design() == guest_memfd::Design::Hugetlb;
    let value = id as u8 + 1;
    match s {
        Script::Converter(k, ops) => {
            for op in ops {
                sched::step_point(START, None);
                vmm.succeeded[k].store(false, Ordering::SeqCst);
                loop {
                    let r = convert(gm, op, arg);
                    if r.is_ok() {
                        vmm.succeeded[k].store(true, Ordering::SeqCst);
                    }
                    // The implementation refuses a donation with -EBUSY
                    // [infer], the model calls it EAGAIN: the VMM retries both.
                    let eagain = matches!(&r, Err(e) if matches!(
                        e.errno(),
                        Some(guest_memfd::Errno::EAGAIN | guest_memfd::Errno::EBUSY)
                    ) || (enomem_retried && e.errno() == Some(guest_memfd::Errno::ENOMEM)));
                    if vmm.retry && eagain {
                        // The VMM drops what it owns and retries the request.
                        sched::step_point("conv.done", None);
                        continue;
                    }
                    break;
                }
            }
        }
        Script::Proc(mm, ops) => {
            for op in ops {
                sched::step_point(START, None);
                let page = op.page() as usize;
                let _ = match op {
                    HostOp::Read { .. } => gm.host_read(mm, page).map(|_| ()),
                    HostOp::Write { .. } => gm.host_write(mm, page, value).map(|_| ()),
                    HostOp::Dontneed { .. } => gm.madvise_dontneed(mm, page),
                };
            }
        }
        Script::Pinner(pc) => loop {
            sched::step_point(START, None);
            let path = match pc.path {
                MPath::Fast => GupPath::Auto,
                MPath::Slow => GupPath::Slow,
            };
            let kind = pin_kind(pc.kind);
            let (mm, page) = (pc.proc as u32, pc.page as usize);
            let held = if pc.vfio {
                gm.vfio_map_dma(mm, page).map(Held::Dma)
            } else {
                gm.pin_via(mm, page, kind, path).map(Held::Pin)
            };
            match held {
                Ok(h) => {
                    // A pin, or VFIO's IOMMU mapping of a pinned page, is
                    // the model's Held/Accessed; a bare pfn (VFIO on
                    // VM_PFNMAP) its PfnMapped/PfnAccessed.
                    let bare =
                        matches!(h, Held::Dma(d) if gm.device_kind(d) == Some(DeviceKind::VfioPfn));
                    let (mapped, accessed) = if bare {
                        ("gup.pfn_mapped", "gup.pfn_accessed")
                    } else {
                        ("gup.held", "gup.accessed")
                    };
                    sched::step_point(mapped, None);
                    let _ = match h {
                        Held::Pin(pin) => gm.pin_access(pin, Some(value)),
                        Held::Dma(d) => gm.device_access(d, Some(value)),
                    };
                    if pc.hold_forever {
                        // Never released: the model's last step is disabled.
                        loop {
                            sched::step_point_blocked(accessed, None, true);
                        }
                    }
                    sched::step_point(accessed, None);
                    let _ = match h {
                        Held::Pin(pin) => gm.unpin(pin),
                        Held::Dma(d) => gm.vfio_unmap_dma(d),
                    };
                }
                Err(_) => {
                    // A GUP refused at once (closed file, FOLL_LONGTERM
                    // under design wait, PFNMAP, no direct map) ends the
                    // pinner; a SIGBUS'd one, or VFIO's pfn lookup on
                    // PFNMAP (refused or not), retries if it repeats, as in
                    // the model.
                    let pfn_follow = pc.vfio && gm.design() == Design::Pfnmap;
                    let refused = gm.is_closed()
                        || (gm.design() == Design::Wait && kind == PinKind::Longterm)
                        || (gm.design().refuses_gup() && !pfn_follow);
                    if refused {
                        return;
                    }
                }
            }
            if !pc.repeat {
                return;
            }
        },
        Script::Guest(vm, ops) => {
            for op in ops.iter().filter(|o| o.vm as usize == vm) {
                sched::step_point(START, None);
                let _ = gm.guest_access_vm(vm, op.page as usize, Some(op.access), Some(value));
            }
        }
        Script::MemoryFailure(page) => {
            sched::step_point(START, None);
            let _ = gm.memory_failure(page as usize);
        }
        Script::Truncate(op) => {
            sched::step_point(START, None);
            let _ = match op {
                TruncOp::Punch { start, pages } => gm.punch(start as usize, pages as usize),
                TruncOp::Close => gm.close(),
                TruncOp::Release { vm } => gm.release_vm(vm as usize),
            };
        }
        Script::Populate(p) => {
            sched::step_point(START, None);
            let _ = gm.populate(p.dst as usize, 0, p.src as usize);
        }
        Script::SecondaryMmu(dev) => {
            // The device mirrors the page (read_begin, walk, retry,
            // program), DMAs through its mapping (faulting and mirroring
            // again if the notifier zapped it meanwhile), and its driver
            // unmaps it.
            sched::step_point(START, None);
            if gm.odp_map(dev).is_ok() {
                sched::step_point("dev.access", None);
                let _ = gm.device_access(dev, Some(value));
            }
            let _ = gm.odp_unregister(dev);
        }
        Script::Speculative(sc) => loop {
            // A PFN walker: folio_try_get() on the page's folio, hold, put.
            sched::step_point(START, None);
            if let Some(r) = gm.pfn_walker_get(sc.page as usize) {
                sched::step_point("spec.held", None);
                gm.pfn_walker_put(r);
            }
            if !sc.repeat {
                return;
            }
        },
    }
}

/// One conversion request; its `struct kvm_memory_attributes2` lives at
/// page `arg` of process 0's mapping of the file when the model says so.
fn convert(gm: &GuestMemFd, op: model::config::ConvOp, arg: Option<u8>) -> guest_memfd::Result<()> {
    let mut a = guest_memfd::KvmMemoryAttributes2 {
        offset: op.start as u64 * guest_memfd::PAGE_SIZE,
        size: op.pages as u64 * guest_memfd::PAGE_SIZE,
        attributes: if op.to == invariants::Attr::Private {
            guest_memfd::KVM_MEMORY_ATTRIBUTE_PRIVATE
        } else {
            0
        },
        ..Default::default()
    };
    gm.set_memory_attributes2_at(&mut a, arg.map(|p| (0, p as usize)))
}

/// The running implementation and its actor threads.
struct World {
    cfg: model::Config,
    gm: Arc<GuestMemFd>,
    vmm: Arc<Vmm>,
    sched: Arc<Sched>,
    ids: BTreeMap<Actor, usize>,
    /// Each converter thread's OS thread (whose ioctls are its conversions).
    callers: Vec<(usize, std::thread::ThreadId)>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl World {
    fn new(m: &GmemModel, bugs: bool) -> Result<World, String> {
        let cfg = m.cfg();
        let gm = Arc::new(
            GuestMemFd::new(impl_config(cfg, bugs)?)
                .map_err(|e| format!("cannot create the guest_memfd: {e}"))?,
        );
        let mut mms = vec![0u32];
        for _ in 1..cfg.procs.len().max(1) {
            mms.push(gm.fork(0).map_err(|e| format!("fork: {e}"))?);
        }
        let vmm = Arc::new(Vmm {
            retry: cfg.retry_until_ok,
            ..Vmm::default()
        });
        let actors = m.actors();
        let sched = Sched::new(actors.len());
        let mut ids = BTreeMap::new();
        let mut callers = Vec::new();
        let mut threads = Vec::new();
        for (id, &a) in actors.iter().enumerate() {
            let script = match a {
                Actor::Converter(k) => {
                    Script::Converter(k as usize, cfg.conversions_of(k).copied().collect())
                }
                Actor::Proc(p) => Script::Proc(mms[p as usize], cfg.procs[p as usize].clone()),
                Actor::Pinner(k) => Script::Pinner(cfg.pinners[k as usize]),
                Actor::Guest(v) => Script::Guest(v as usize, cfg.guest.clone()),
                Actor::Populate => match cfg.populate {
                    Some(p) => Script::Populate(p),
                    None => continue,
                },
                Actor::Truncator => match cfg.truncate {
                    Some(op) => Script::Truncate(op),
                    None => continue,
                },
                Actor::Speculative => match cfg.speculative {
                    Some(sc) => Script::Speculative(sc),
                    None => continue,
                },
                // Folded into the last folio put (`unsupported` refuses
                // traces in which it acts).
                Actor::MemoryFailure => match cfg.memory_failure {
                    Some(p) => Script::MemoryFailure(p),
                    None => continue,
                },
                Actor::SecondaryMmu => match cfg.secondary_mmu {
                    // Its interval notifier is inserted before anything
                    // runs: the model's notifier is there from the start.
                    Some(d) => {
                        let mm = *mms.get(d.proc as usize).ok_or_else(|| {
                            format!("secondary_mmu.proc {} is not a process here", d.proc)
                        })?;
                        Script::SecondaryMmu(
                            gm.odp_register(mm, d.page as usize)
                                .map_err(|e| format!("cannot register the secondary MMU: {e}"))?,
                        )
                    }
                    None => continue,
                },
                // The environment's -ENOMEM is injected into the converter
                // (see `follow`); the pool callback is folded into the last
                // folio put (`unsupported` refuses traces in which it acts).
                Actor::PoolCallback | Actor::AllocFail => continue,
            };
            ids.insert(a, id);
            let (gm2, vmm2, s2) = (gm.clone(), vmm.clone(), sched.clone());
            let arg = cfg.attrs_arg_page;
            sched.launch(id);
            let h = std::thread::Builder::new()
                .name(format!("replay-{a}"))
                .spawn(move || {
                    s2.enter(id);
                    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        run_script(&gm2, &vmm2, id, script, arg)
                    }));
                    s2.exit(id, r.is_err());
                })
                .map_err(|e| format!("cannot spawn a thread: {e}"))?;
            if let Actor::Converter(k) = a {
                callers.push((k as usize, h.thread().id()));
            }
            threads.push(h);
            // One at a time, so no two actors ever run together.
            sched
                .settle(STEP_TIMEOUT)
                .map_err(|e| format!("actor {a} did not reach its first step point: {e}"))?;
        }
        Ok(World {
            cfg: cfg.clone(),
            gm,
            vmm,
            sched,
            ids,
            callers,
            threads,
        })
    }

    fn view(&self, converter: Option<usize>) -> WithVmm<'_> {
        WithVmm {
            gm: &self.gm,
            vmm: &self.vmm,
            callers: &self.callers,
            converter,
        }
    }

    /// Does property `id` fail here (safety: violated; liveness: pending,
    /// in converter scope `scope`, `properties::pending_scopes`)?
    fn fails_in(&self, id: PropertyId, scope: Option<usize>) -> bool {
        match id.kind() {
            Kind::Liveness => id.eval(&self.view(scope)),
            _ => !id.eval(&*self.gm),
        }
    }

    /// Does property `id` fail here, in every scope it is checked in?
    fn fails(&self, id: PropertyId) -> bool {
        self.fails_in(id, None)
    }

    /// One step of actor `sid`; the accesses the view shows are this step's.
    fn grant(&self, sid: usize) -> Result<Status, sched::StepError> {
        self.gm.forget_accesses();
        let mut st = self.sched.grant(sid, STEP_TIMEOUT)?;
        // The implementation always has its maple-tree preallocation step
        // and, on failure, its copy-out of error_offset; the model has them
        // only where they matter (`enomem`, `attrs_arg_page`). Where they do
        // not, the implementation passes those points within the model's
        // step.
        let converter = self
            .ids
            .iter()
            .any(|(a, &id)| matches!(a, Actor::Converter(_)) && id == sid);
        if converter {
            let unmodelled = |name: &str| {
                (name == "conv.prealloc" && !self.cfg.enomem)
                    || (name == "conv.copy_out" && self.cfg.attrs_arg_page.is_none())
            };
            while matches!(&st, Status::Parked(p) if unmodelled(p.name)) {
                st = self.sched.grant(sid, STEP_TIMEOUT)?;
            }
        }
        Ok(st)
    }

    fn parked(&self, a: Actor) -> Option<Point> {
        match self.sched.status(*self.ids.get(&a)?) {
            Status::Parked(p) => Some(p),
            _ => None,
        }
    }
}

impl Drop for World {
    /// Threads still parked (a hold-forever pinner, a deadlock, an actor
    /// in mid-operation at the end of a walk) unwind out of their step
    /// point and exit (`Sched::cancel`); thousands of walks would otherwise
    /// leak thousands of threads.
    fn drop(&mut self) {
        self.sched.cancel();
        for h in std::mem::take(&mut self.threads) {
            let t0 = std::time::Instant::now();
            while !h.is_finished() && t0.elapsed() < STEP_TIMEOUT {
                std::thread::sleep(Duration::from_millis(1));
            }
            if h.is_finished() {
                let _ = h.join();
            }
        }
    }
}

fn step_desc(k: usize, a: Action) -> String {
    match a {
        Action::Start(x) => format!("step {}: {x} starts", k + 1),
        Action::Step(x) => format!("step {}: {x}", k + 1),
    }
}

/// Replay with the trace's own bug switches, strictly.
pub fn replay(tf: &TraceFile) -> Outcome {
    if let Some(why) = unsupported(tf) {
        return Outcome::skipped("implementation", format!("not replayed: {why}"));
    }
    match strict(tf) {
        Ok(o) => o,
        Err(why) => Outcome {
            backend: "implementation",
            reproduces: false,
            skipped: false,
            detail: why,
        },
    }
}

fn strict(tf: &TraceFile) -> Result<Outcome, String> {
    let m = &tf.model;
    let t = trace::replay(m, tf.init_index, &tf.actions)?;
    let w = World::new(m, true)?;
    let id = tf.property;
    let l = tf.loop_index.unwrap_or(t.steps.len());
    let scope = lasso_scope(tf);
    let mut first_fail = w.fails_in(id, scope).then_some(0);
    // Liveness: the first state of the loop (or after) that is not pending.
    let mut loop_not_pending = (l == 0 && !w.fails_in(id, scope)).then_some(0);
    let safety = model::properties::safety(m.cfg());
    for (k, step) in t.steps.iter().enumerate() {
        follow(&w, &t, k, step.action)?;
        same_safety_verdicts(m, &w, &t, k, &safety)?;
        let fails = w.fails_in(id, scope);
        if first_fail.is_none() && fails {
            first_fail = Some(k + 1);
        }
        if k + 1 >= l && !fails && loop_not_pending.is_none() {
            loop_not_pending = Some(k + 1);
        }
    }
    let last = t.steps.len();
    let o = |reproduces, detail| Outcome {
        backend: "implementation",
        reproduces,
        skipped: false,
        detail,
    };
    if id.kind() != Kind::Liveness {
        return Ok(match first_fail {
            Some(i) if i == last => o(
                true,
                format!(
                    "the same {last} steps, step for step, every safety verdict the model's; \
                     violated at the last, not before"
                ),
            ),
            Some(i) => o(
                w.fails(id),
                format!("the same {last} steps; violated from step {i}, before the last"),
            ),
            None => o(
                false,
                format!("the same {last} steps, but the property holds throughout"),
            ),
        });
    }
    if let Some(i) = loop_not_pending {
        return Ok(o(false, format!("not pending after step {i}, in the loop")));
    }
    if l == last {
        // Every fair actor disabled: each in-flight actor, granted again,
        // must stay where it is with nothing changed.
        let mut stuck = Vec::new();
        for (&a, &sid) in &w.ids {
            let Some(p) = w.parked(a) else { continue };
            if p.name == START {
                continue;
            }
            w.grant(sid)
                .map_err(|e| format!("after the trace, {a}: {e}"))?;
            match w.parked(a) {
                Some(q) if q.name == p.name && q.page == p.page && q.blocked => {
                    stuck.push(format!("{a} at {}", q))
                }
                other => {
                    return Ok(o(
                        false,
                        format!(
                            "after the trace {a} can still move in the implementation ({p} -> {})",
                            other.map_or("ended".into(), |q| q.to_string())
                        ),
                    ))
                }
            }
        }
        if !w.fails_in(id, scope) {
            return Ok(o(false, "the conversion completed after all".into()));
        }
        return Ok(o(
            true,
            format!(
                "the same {last} steps, then nothing can move: {}",
                stuck.join(", ")
            ),
        ));
    }
    // Follow the loop once more: the same steps must be possible again,
    // and the property must stay pending throughout.
    for k in l..last {
        follow(&w, &t, k, t.steps[k].action)
            .map_err(|e| format!("second time round the loop: {e}"))?;
        if !w.fails_in(id, scope) {
            return Ok(o(
                false,
                format!(
                    "second time round the loop: not pending after step {}",
                    k + 1
                ),
            ));
        }
    }
    Ok(o(
        true,
        format!(
            "the same {l} steps, then the {}-step loop twice, pending throughout",
            last - l
        ),
    ))
}

/// The scope in which a lasso stays pending on the model (one converter
/// thread's conversion where the property is checked per thread,
/// `properties::pending_scopes`); `None` for a safety trace or a property
/// checked once.
fn lasso_scope(tf: &TraceFile) -> Option<usize> {
    let m = &tf.model;
    let (Some(l), Ok(t)) = (tf.loop_index, trace::replay(m, tf.init_index, &tf.actions)) else {
        return None;
    };
    model::properties::pending_scopes(m.cfg(), tf.property)
        .into_iter()
        .find(|&sc| {
            (l..=t.steps.len()).all(|i| model::properties::eval_in(m, t.state(i), tf.property, sc))
        })
        .flatten()
}

/// After step `k`, every safety property has the same verdict on the model
/// and on the implementation.
fn same_safety_verdicts(
    m: &GmemModel,
    w: &World,
    t: &Trace,
    k: usize,
    safety: &[PropertyId],
) -> Result<(), String> {
    for &id in safety {
        let on_model = model::properties::eval(m, t.state(k + 1), id);
        let on_impl = id.eval(&*w.gm);
        if on_model != on_impl {
            return Err(format!(
                "{}: {} {} on the model but {} on the implementation",
                step_desc(k, t.steps[k].action),
                id.name(),
                if on_model { "holds" } else { "fails" },
                if on_impl { "holds" } else { "fails" },
            ));
        }
    }
    Ok(())
}

/// Grant the step the model takes at `k`, checking the actor is parked
/// where the model says it is.
fn follow(w: &World, t: &Trace, k: usize, a: Action) -> Result<(), String> {
    // The environment's -ENOMEM: the converter, at its preallocation step
    // (design hugetlb: its stage-2 split or its vmemmap restore), takes an
    // injected failure.
    let (actor, a) = match a.actor() {
        Actor::AllocFail => {
            let k = model::actors::converter::failing_converter(&w.cfg, t.state(k))
                .ok_or_else(|| format!("{}: no converter can fail", step_desc(k, a)))?;
            let c = Actor::Converter(k as u8);
            inject_alloc_fail(w);
            (c, Action::Step(c))
        }
        x => (x, a),
    };
    let sid = *w
        .ids
        .get(&actor)
        .ok_or_else(|| format!("{}: no such actor in the implementation", step_desc(k, a)))?;
    let (name, page) = model_point(&w.cfg, t.state(k), device_refaulted(t, k), actor, a);
    let at = match w.sched.status(sid) {
        Status::Parked(p) => p,
        s => {
            return Err(format!(
                "{}: the model's {actor} takes step {name} but the implementation's is {s:?}",
                step_desc(k, a)
            ))
        }
    };
    if at.name != name || at.page != page {
        return Err(format!(
            "{}: the model's {actor} takes step {}, the implementation's is at {at}",
            step_desc(k, a),
            Point {
                name,
                page,
                blocked: false
            }
        ));
    }
    w.grant(sid)
        .map_err(|e| format!("{}: {e}", step_desc(k, a)))?;
    // Every actor, not only the one that moved, is where the model says.
    let after = t.state(k + 1);
    let refaulted = device_refaulted(t, k + 1);
    for (&other, &oid) in &w.ids {
        let (name, page) = model_point(&w.cfg, after, refaulted, other, Action::Step(other));
        let ok = match w.sched.status(oid) {
            Status::Parked(p) => p.name == name && p.page == page,
            // Its script is done: the model's actor must be idle too.
            Status::Finished => name == START,
            _ => false,
        };
        if !ok {
            return Err(format!(
                "after {}: the model's {other} is at {name}{}, the implementation's is {:?}",
                step_desc(k, a),
                page.map(|p| format!("({p})")).unwrap_or_default(),
                w.sched.status(oid)
            ));
        }
    }
    Ok(())
}

/// The model's `alloc_fail` as an injected failure where the converter
/// allocates: the maple-tree preallocation, or under design hugetlb the
/// stage-2 split and the vmemmap restore of a split.
fn inject_alloc_fail(w: &World) {
    if w.cfg.design == Design::Hugetlb {
        w.gm.inject_alloc_failure(1);
    } else {
        w.gm.inject_prealloc_failure(1);
    }
}

/// Where the converter's code takes the environment's `alloc_fail`.
fn alloc_fail_point(design: Design) -> &'static [&'static str] {
    if design == Design::Hugetlb {
        &["conv.s2_split", "conv.split_do"]
    } else {
        &["conv.prealloc"]
    }
}

/// The same interleaving with the bug switches off: the violation must not occur.
pub fn replay_bug_off(tf: &TraceFile) -> Option<Outcome> {
    let m = &tf.model;
    if m.cfg().bugs.is_empty() || unsupported(tf).is_some() {
        return None;
    }
    let backend = "implementation, bug switches off";
    Some(match bug_off(tf) {
        Ok((held, detail)) => Outcome {
            backend,
            reproduces: !held,
            skipped: false,
            detail,
        },
        Err(e) => Outcome {
            backend,
            reproduces: true,
            skipped: false,
            detail: format!("the replay could not run: {e}"),
        },
    })
}

/// Ok((property held, detail)).
fn bug_off(tf: &TraceFile) -> Result<(bool, String), String> {
    let w = World::new(&tf.model, false)?;
    let id = tf.property;
    let scope = lasso_scope(tf);
    let mut granted = 0;
    let check = |w: &World, when: &str| -> Result<(), String> {
        match id.kind() {
            Kind::Liveness => Ok(()),
            _ if w.fails(id) => Err(format!("violated {when}")),
            _ => Ok(()),
        }
    };
    for (k, &a) in tf.actions.iter().enumerate() {
        let a = match a.actor() {
            // The environment's -ENOMEM, where the converter preallocates.
            Actor::AllocFail => {
                let points = alloc_fail_point(w.cfg.design);
                let at_point = w
                    .cfg
                    .converters()
                    .map(Actor::Converter)
                    .find(|&c| w.parked(c).is_some_and(|p| points.contains(&p.name)));
                let Some(c) = at_point else {
                    continue;
                };
                inject_alloc_fail(&w);
                Action::Step(c)
            }
            _ => a,
        };
        let Some(&sid) = w.ids.get(&a.actor()) else {
            continue;
        };
        let Some(p) = w.parked(a.actor()) else {
            continue;
        };
        // A Start is granted only to an actor between operations, a Step
        // only to one inside an operation; otherwise the actor's code has
        // already gone elsewhere and this action has no counterpart.
        if matches!(a, Action::Start(_)) != (p.name == START) {
            continue;
        }
        w.grant(sid)
            .map_err(|e| format!("{}: {e}", step_desc(k, a)))?;
        granted += 1;
        if let Err(e) = check(&w, &format!("after {}", step_desc(k, a))) {
            return Ok((false, e));
        }
    }
    // Round-robin to the end: every parked actor is granted a step, round
    // after round, until a whole round changes nothing (everyone ended, or
    // is blocked) or the budget is spent.
    let mut tail = 0;
    let mut pending_seen_clear = !w.fails_in(id, scope);
    while tail < TAIL_STEPS {
        let mut progress = false;
        for (&a, &sid) in &w.ids {
            let Some(before) = w.parked(a) else { continue };
            w.grant(sid)
                .map_err(|e| format!("running {a} to the end: {e}"))?;
            tail += 1;
            match w.parked(a) {
                Some(after) if after == before && after.blocked => {}
                _ => progress = true,
            }
            if let Err(e) = check(&w, &format!("while running {a} to the end")) {
                return Ok((false, e));
            }
            pending_seen_clear |= !w.fails_in(id, scope);
        }
        if !progress {
            break;
        }
    }
    if id.kind() == Kind::Liveness && !pending_seen_clear {
        return Ok((
            false,
            format!("still pending after {granted} trace steps and {tail} more"),
        ));
    }
    Ok((
        true,
        format!(
            "{granted} of the trace's {} steps apply, then {tail} more to the end; {}",
            tf.actions.len(),
            if id.kind() == Kind::Liveness {
                "no longer pending"
            } else {
                "the property holds throughout"
            }
        ),
    ))
}

#[cfg_attr(not(test), allow(dead_code))]
/// Follow any model path on the implementation, step for step (the same
/// checks as a strict replay), and require every safety property to give
/// the same verdict on both after every step. Returns the steps followed.
/// Paths that act through the pool callback are cut before it; a path
/// stops at its first violation (after it, a bug switch has corrupted the
/// state, and nothing is promised).
pub fn follow_path(m: &GmemModel, actions: &[Action]) -> Result<usize, String> {
    let actions: Vec<Action> = actions
        .iter()
        .copied()
        .take_while(|a| a.actor() != Actor::PoolCallback)
        .collect();
    let t = trace::replay(m, 0, &actions)?;
    let w = World::new(m, true)?;
    let safety: Vec<PropertyId> = model::properties::safety(m.cfg());
    for (k, step) in t.steps.iter().enumerate() {
        follow(&w, &t, k, step.action)?;
        same_safety_verdicts(m, &w, &t, k, &safety)?;
        if safety
            .iter()
            .any(|&id| !model::properties::eval(m, t.state(k + 1), id))
        {
            return Ok(k + 1);
        }
    }
    Ok(t.steps.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use stateright::Model;

    /// A deterministic walk: at each state, pick an enabled action by a
    /// fixed xorshift sequence.
    fn walk(m: &GmemModel, seed: u64, len: usize) -> Vec<Action> {
        let mut x = seed.max(1);
        let mut s = m.init_states().remove(0);
        let mut path = Vec::new();
        let mut offered = Vec::new();
        for _ in 0..len {
            offered.clear();
            m.actions(&s, &mut offered);
            let enabled: Vec<(Action, State)> = offered
                .iter()
                .filter_map(|&a| m.next_state(&s, a).map(|n| (a, n)))
                .collect();
            if enabled.is_empty() {
                break;
            }
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let (a, n) = enabled[(x % enabled.len() as u64) as usize];
            path.push(a);
            s = n;
        }
        path
    }

    /// Random interleavings of every gate configuration the implementation
    /// lines up with, replayed step for step: same steps, same safety
    /// verdicts after every step (bug switches included).
    #[test]
    fn random_interleavings_agree_step_for_step() {
        let mut followed = 0;
        let configs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs");
        for row in model::gate::load_dir(&configs).expect("configs/ loads") {
            let Ok(m) = GmemModel::new(row.cfg.clone()) else {
                continue;
            };
            // REPLAY_ROWS (a row-name prefix) restricts the rows walked.
            if std::env::var("REPLAY_ROWS").is_ok_and(|p| !row.name.starts_with(&p)) {
                continue;
            }
            // REPLAY_WALKS (default 200) sets the walks per configuration.
            let walks: u64 = std::env::var("REPLAY_WALKS")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(200);
            for seed in 1..=walks {
                let path = walk(&m, seed * 7919 + row.name.len() as u64, 80);
                match follow_path(&m, &path) {
                    Ok(n) => followed += n,
                    Err(e) => panic!("{} (seed {seed}): {e}\npath: {path:?}", row.name),
                }
            }
        }
        assert!(
            followed > 1000 || std::env::var("REPLAY_ROWS").is_ok(),
            "only {followed} steps followed"
        );
    }

    /// Two converter threads of the implementation run the model's
    /// interleavings of `inplace@two_converters` step for step, including
    /// ones where a thread is inside its ioctl while the other holds the
    /// invalidate lock, and ones where a failed call copies error_offset
    /// out after its unlock while the other thread has taken the lock.
    #[test]
    fn two_converter_threads_follow_the_model() {
        let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../configs/inplace@two_converters.json");
        let row = model::gate::load_file(&file).expect("row loads");
        let m = GmemModel::new(row.cfg).expect("valid");
        let (mut overlapped, mut copy_out_while_other_locks) = (0, 0);
        for seed in 1..=300u64 {
            let path = walk(&m, seed * 104_729, 60);
            let n = follow_path(&m, &path).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
            let t = trace::replay(&m, 0, &path[..n]).expect("replays");
            for k in 0..=n {
                let st = t.state(k);
                let busy = |c: &model::state::Converter| {
                    !matches!(c.pc.get(), ConvPc::Idle | ConvPc::Done)
                };
                if busy(&st.conv[0]) && busy(&st.conv[1]) {
                    overlapped += 1;
                }
                let other_locks = |j: usize| {
                    st.invalidate_lock.writer.get() == Some(model::actors::converter::tid(j))
                };
                if (matches!(st.conv[0].pc.get(), ConvPc::CopyOut(_)) && other_locks(1))
                    || (matches!(st.conv[1].pc.get(), ConvPc::CopyOut(_)) && other_locks(0))
                {
                    copy_out_while_other_locks += 1;
                }
            }
        }
        assert!(overlapped > 0, "no walk had both threads inside the ioctl");
        assert!(
            copy_out_while_other_locks > 0,
            "no walk copied error_offset out while the other thread held the lock"
        );
    }
}
