//! Run-to-completion semantics of the uAPI operations on the model (for
//! conformance testing against the concrete implementation).
//!
//! A [`SeqMachine`] holds a [`GmemModel`] and one [`State`]. Each method is
//! one userspace call: it appends the operation to the acting actor's script
//! in the machine's own [`Config`] copy, then applies `Start(actor)` and
//! `Step(actor)` through [`GmemModel::apply`] until that actor is idle or
//! finished. No other actor moves in between: that is the sequential
//! semantics, one complete call after another. The [`Outcome`] is read off
//! the model state the call ended in (the converter's `result`, whether the
//! host access happened, whether the pinner ended holding a reference...),
//! never computed on the side.
//!
//! What the layer adds, each documented where it happens:
//! - fixed state arrays: host processes are 0..[`MAX_PROCS`]; a pin lives in
//!   one of [`MAX_PINNERS`] pinner slots, reused after its unpin;
//! - one truncation actor per call: a finished truncator is reset to idle
//!   before the next punch/close (the model has one punch or close per run);
//! - the closed file descriptor: `convert`, `punch` and `close` after close
//!   return [`Outcome::Ebadf`] without touching the model (the model's
//!   scripts never issue ioctls on a closed fd); accesses and pins after
//!   close do run (the model refuses them itself) and report `Ebadf`;
//! - argument validation (empty or out-of-range ranges: [`Outcome::Einval`]);
//! - the hugetlb pool callback (an asynchronous kernel actor) runs to
//!   quiescence after every call, as the implementation returns the page in
//!   the put path itself;
//! - a call the model cannot finish alone (design `wait` sleeping on a
//!   reference nobody else will drop) reports [`Outcome::Blocked`] and
//!   leaves the state where it stopped: the sequential history ends there.
//!
//! Not bounded here: the folio arena ([`crate::state::MAX_FOLIOS`]) is never
//! reused, so a history can allocate at most that many 4K folios; callers
//! keep histories short (the conformance tests use at most 12 calls).

use crate::actors::{Action, Actor};
use crate::config::{
    Config, ConvOp, GuestOp, GupPath, HostOp, PinKind, PinnerCfg, TruncOp, MAX_PINNERS, MAX_PROCS,
};
use crate::model::GmemModel;
use crate::state::{ConvPc, GuestPc, PinPc, Pinner, ProcPc, State, TruncPc, Truncator};
use crate::view::View;
use crate::Design;
use invariants::{Accessor, Attr, ConvResult};
use std::fmt;

/// What a call returned (no data values: the model does not track them).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Access performed, pin taken, conversion / punch / close succeeded.
    Ok,
    /// A host access whose fault path ended without a PTE (private page, or
    /// no memory to allocate from).
    Sigbus,
    /// A guest access whose fault type mismatches the attribute
    /// (KVM_EXIT_MEMORY_FAULT).
    MemoryFault,
    /// A guest access that found no memory to map (gigantic page not back in
    /// the pool).
    NoMemory,
    /// GUP failed: refused (long-term under `wait`, PFNMAP, exclusive pin
    /// held) or the fault-in hit a private page.
    Efault,
    /// The conversion or punch failed -EAGAIN at this page.
    Eagain { error_index: usize },
    /// The conversion's preallocation failed (-ENOMEM; `error_offset` = start).
    Enomem { error_index: usize },
    /// `KVM_SET_MEMORY_ATTRIBUTES2` with in-place conversion off.
    Enotty,
    /// Argument validation failed.
    Einval,
    /// The file is closed.
    Ebadf,
    /// The call cannot complete without another actor (design `wait`
    /// sleeping on a held short-term reference). The history ends here.
    Blocked,
}

/// Misuse of the machine itself (never a model verdict).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SeqError {
    /// Process out of 0..MAX_PROCS, page out of range.
    BadArgument(String),
    /// Every pinner slot holds a reference.
    NoFreePinSlot,
    /// The handle names no held pin (never taken, or already released).
    UnknownPin(PinHandle),
    /// The operation is outside what the model expresses for this design.
    Unsupported(String),
    /// A previous call blocked; the machine cannot continue.
    Stuck,
}

impl fmt::Display for SeqError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SeqError::BadArgument(m) => write!(f, "bad argument: {m}"),
            SeqError::NoFreePinSlot => {
                write!(f, "all {MAX_PINNERS} pinner slots hold a reference")
            }
            SeqError::UnknownPin(h) => write!(f, "unknown pin handle {}", h.0),
            SeqError::Unsupported(m) => write!(f, "unsupported: {m}"),
            SeqError::Stuck => f.write_str("a previous call blocked"),
        }
    }
}

impl std::error::Error for SeqError {}

/// A held GUP reference: the pinner slot that holds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PinHandle(pub u8);

/// Steps one call may take before it counts as blocked (a sequential call
/// takes a handful; design `wait`'s sleeping converter takes none).
const STEP_LIMIT: usize = 256;

pub struct SeqMachine {
    model: GmemModel,
    st: State,
    stuck: bool,
}

impl SeqMachine {
    /// A fresh file of `pages` pages under `design`, no actor scripted yet.
    /// `init_shared` is GUEST_MEMFD_FLAG_INIT_SHARED. Both host processes
    /// map the file (the implementation side forks process 0 once).
    pub fn new(design: Design, pages: u8, init_shared: bool) -> Result<SeqMachine, SeqError> {
        let mut cfg = Config::empty(design, pages);
        cfg.pages = pages;
        cfg.init_shared = init_shared;
        cfg.procs = vec![vec![]; MAX_PROCS];
        cfg.pinners = vec![];
        cfg.conversions = vec![];
        cfg.guest = vec![];
        cfg.truncate = None;
        cfg.populate = None;
        cfg.speculative = None;
        cfg.retry_until_ok = false;
        // Sequential calls allocate successfully; -ENOMEM is an explicit
        // injection on the implementation side.
        cfg.enomem = false;
        // Mirror the implementation: every 4K-folio design puts fresh folios
        // in the lru_add batch (guest_memfd `Design::uses_lru`).
        cfg.lru = matches!(
            design,
            Design::Inplace
                | Design::Wait
                | Design::Pfnmap
                | Design::ExclusivePin
                | Design::NoDirectMap
        );
        cfg.block_pins_while_waiting = true;
        cfg.validate()
            .map_err(|e| SeqError::BadArgument(e.to_string()))?;
        let model = GmemModel::of_valid(cfg);
        let st = model.init_state();
        Ok(SeqMachine {
            model,
            st,
            stuck: false,
        })
    }

    pub fn model(&self) -> &GmemModel {
        &self.model
    }
    pub fn state(&self) -> &State {
        &self.st
    }
    /// The invariants' view of the current state.
    pub fn view(&self) -> View<'_> {
        View::new(&self.model, &self.st)
    }
    pub fn design(&self) -> Design {
        self.model.cfg().design
    }
    fn pages(&self) -> usize {
        self.model.cfg().pages as usize
    }

    fn check_page(&self, page: u8) -> Result<(), SeqError> {
        if self.stuck {
            return Err(SeqError::Stuck);
        }
        if page as usize >= self.pages() {
            return Err(SeqError::BadArgument(format!(
                "page {page} out of range 0..{}",
                self.pages()
            )));
        }
        Ok(())
    }

    fn check_proc(&self, proc: u8) -> Result<(), SeqError> {
        if proc as usize >= MAX_PROCS {
            return Err(SeqError::BadArgument(format!(
                "process {proc} out of range 0..{MAX_PROCS}"
            )));
        }
        Ok(())
    }

    /// Apply one action; it must be enabled.
    fn apply(&mut self, a: Action) -> bool {
        match self.model.apply(&self.st, a) {
            Some(next) => {
                self.st = next;
                true
            }
            None => false,
        }
    }

    /// Start `actor` and step it until `done` holds. Returns whether the
    /// actor accessed memory in its last step (the model's `last_access`
    /// history variable), or `None` if it blocked.
    fn run(&mut self, actor: Actor, done: impl Fn(&State) -> bool) -> Option<Option<Accessor>> {
        if !self.apply(Action::Start(actor)) {
            self.stuck = true;
            return None;
        }
        let mut steps = 0;
        while !done(&self.st) {
            if steps == STEP_LIMIT || !self.apply(Action::Step(actor)) {
                self.stuck = true;
                return None;
            }
            steps += 1;
        }
        let who = self.st.last_access.get().map(|a| a.who);
        self.quiesce();
        Some(who)
    }

    /// Let the hugetlb pool callback return a released, unreferenced
    /// gigantic page (the implementation does it in the put path).
    fn quiesce(&mut self) {
        while self.apply(Action::Step(Actor::PoolCallback)) {}
    }

    fn host_op(&mut self, proc: u8, op: HostOp) -> Result<Outcome, SeqError> {
        self.check_page(op.page())?;
        self.check_proc(proc)?;
        let p = proc as usize;
        let closed = self.st.closed;
        self.model.edit_cfg(|c| c.procs[p].push(op));
        let Some(who) = self.run(Actor::Proc(proc), |st| st.procs[p].pc.get() == ProcPc::Idle)
        else {
            return Ok(Outcome::Blocked);
        };
        Ok(match (closed, op, who) {
            // madvise() never reports the file's state.
            (_, HostOp::Dontneed { .. }, _) => Outcome::Ok,
            (true, _, _) => Outcome::Ebadf,
            (_, _, Some(Accessor::HostCpu { .. })) => Outcome::Ok,
            _ => Outcome::Sigbus,
        })
    }

    /// A host CPU read of `page` through process `proc`'s mapping.
    pub fn host_read(&mut self, proc: u8, page: u8) -> Result<Outcome, SeqError> {
        self.host_op(proc, HostOp::Read { page })
    }

    /// A host CPU write.
    pub fn host_write(&mut self, proc: u8, page: u8) -> Result<Outcome, SeqError> {
        self.host_op(proc, HostOp::Write { page })
    }

    /// madvise(MADV_DONTNEED) of one page (always succeeds).
    pub fn madvise_dontneed(&mut self, proc: u8, page: u8) -> Result<Outcome, SeqError> {
        self.host_op(proc, HostOp::Dontneed { page })
    }

    /// GUP of one page through process `proc` (GUP-fast first where the
    /// kernel allows it, like the implementation). On success the handle
    /// names the held reference.
    pub fn pin(
        &mut self,
        kind: PinKind,
        page: u8,
        proc: u8,
    ) -> Result<(Outcome, Option<PinHandle>), SeqError> {
        self.check_page(page)?;
        self.check_proc(proc)?;
        // Reuse a slot whose pinner holds nothing (never started, or
        // finished after its unpin or a failed GUP).
        let free = |k: usize| matches!(self.st.pinners[k].pc.get(), PinPc::Idle | PinPc::Finished);
        let k = (0..MAX_PINNERS).find(|&k| free(k));
        let Some(k) = k else {
            return Err(SeqError::NoFreePinSlot);
        };
        let pc = PinnerCfg {
            kind,
            path: GupPath::Fast,
            page,
            proc,
            hold_forever: false,
            repeat: false,
            vfio: false,
        };
        self.model.edit_cfg(|cfg| {
            if k < cfg.pinners.len() {
                cfg.pinners[k] = pc;
            } else {
                cfg.pinners.push(pc);
            }
        });
        self.st.pinners[k] = Pinner::default();
        let closed = self.st.closed;
        let held = |st: &State| matches!(st.pinners[k].pc.get(), PinPc::Held(_) | PinPc::Finished);
        if self.run(Actor::Pinner(k as u8), held).is_none() {
            return Ok((Outcome::Blocked, None));
        }
        Ok(match self.st.pinners[k].pc.get() {
            PinPc::Held(_) => (Outcome::Ok, Some(PinHandle(k as u8))),
            _ if closed => (Outcome::Ebadf, None),
            _ => (Outcome::Efault, None),
        })
    }

    /// Release a held reference: the holder's access through it (DMA /
    /// O_DIRECT), then put_page()/unpin_user_page().
    pub fn unpin(&mut self, h: PinHandle) -> Result<Outcome, SeqError> {
        if self.stuck {
            return Err(SeqError::Stuck);
        }
        let k = h.0 as usize;
        if k >= MAX_PINNERS
            || k >= self.model.cfg().pinners.len()
            || !matches!(self.st.pinners[k].pc.get(), PinPc::Held(_))
        {
            return Err(SeqError::UnknownPin(h));
        }
        let mut steps = 0;
        while self.st.pinners[k].pc.get() != PinPc::Finished {
            if steps == STEP_LIMIT || !self.apply(Action::Step(Actor::Pinner(h.0))) {
                self.stuck = true;
                return Ok(Outcome::Blocked);
            }
            steps += 1;
        }
        self.quiesce();
        Ok(Outcome::Ok)
    }

    /// The pinner slots currently holding a reference.
    pub fn held_pins(&self) -> Vec<PinHandle> {
        (0..MAX_PINNERS)
            .filter(|&k| matches!(self.st.pinners[k].pc.get(), PinPc::Held(_)))
            .map(|k| PinHandle(k as u8))
            .collect()
    }

    /// KVM_SET_MEMORY_ATTRIBUTES2 of `pages` pages from `start`. The result
    /// is the converter's `result` when it reaches `Done`.
    pub fn convert(&mut self, start: u8, pages: u8, to: Attr) -> Result<Outcome, SeqError> {
        if self.stuck {
            return Err(SeqError::Stuck);
        }
        if pages == 0 || start as usize + pages as usize > self.pages() {
            return Ok(Outcome::Einval);
        }
        if self.st.closed {
            return Ok(Outcome::Ebadf);
        }
        if self.design() == Design::ExclusivePin && pages != 1 {
            return Err(SeqError::Unsupported(
                "design exclusive_pin converts (donates) one page per call".into(),
            ));
        }
        self.model.edit_cfg(|c| {
            c.conversions.push(ConvOp {
                start,
                pages,
                to,
                converter: 0,
            })
        });
        if self
            .run(Actor::Converter(0), |st| {
                st.conv[0].pc.get() == ConvPc::Done
            })
            .is_none()
        {
            return Ok(Outcome::Blocked);
        }
        Ok(match self.st.conv[0].result.get() {
            Some(ConvResult::Ok) => Outcome::Ok,
            Some(ConvResult::Eagain { error_index }) => Outcome::Eagain { error_index },
            Some(ConvResult::Einval) => Outcome::Einval,
            Some(ConvResult::Enomem { error_index }) => Outcome::Enomem { error_index },
            Some(ConvResult::Efault) => Outcome::Efault,
            Some(ConvResult::Enotty) => Outcome::Enotty,
            // The model has no clock: it never times out.
            Some(ConvResult::Timeout) | None => Outcome::Blocked,
        })
    }

    fn truncate(&mut self, op: TruncOp) -> Result<Outcome, SeqError> {
        if self.stuck {
            return Err(SeqError::Stuck);
        }
        if self.st.closed {
            return Ok(Outcome::Ebadf);
        }
        if self.design() == Design::ExclusivePin {
            return Err(SeqError::Unsupported(
                "design exclusive_pin models anonymous memory: no punch or close".into(),
            ));
        }
        self.model.edit_cfg(|c| c.truncate = Some(op));
        // One truncation actor per call: the model runs one punch or close.
        self.st.trunc = Truncator::default();
        if self
            .run(Actor::Truncator, |st| {
                st.trunc.pc.get() == TruncPc::Finished
            })
            .is_none()
        {
            return Ok(Outcome::Blocked);
        }
        Ok(match self.st.trunc.result.get() {
            Some(ConvResult::Eagain { error_index }) => Outcome::Eagain { error_index },
            Some(ConvResult::Einval) => Outcome::Einval,
            _ => Outcome::Ok,
        })
    }

    /// fallocate(PUNCH_HOLE | KEEP_SIZE) of `pages` pages from `start`.
    /// Design `split` punches whole gigantic pages only (the model's
    /// restriction, as `Config::validate` states).
    pub fn punch(&mut self, start: u8, pages: u8) -> Result<Outcome, SeqError> {
        if pages == 0 || start as usize + pages as usize > self.pages() {
            return Ok(Outcome::Einval);
        }
        if self.design() == Design::Split && (start != 0 || pages as usize != self.pages()) {
            return Err(SeqError::Unsupported(
                "design split punches whole gigantic pages only".into(),
            ));
        }
        self.truncate(TruncOp::Punch { start, pages })
    }

    /// The VMM exits: every fd and host mapping goes away.
    pub fn close(&mut self) -> Result<Outcome, SeqError> {
        self.truncate(TruncOp::Close)
    }

    /// A vCPU access to `page` with fault type `access`.
    pub fn guest_access(&mut self, page: u8, access: Attr) -> Result<Outcome, SeqError> {
        self.check_page(page)?;
        if self.design() == Design::ExclusivePin {
            return Err(SeqError::Unsupported(
                "design exclusive_pin has no guest faults in the model".into(),
            ));
        }
        let closed = self.st.closed;
        self.model.edit_cfg(|c| {
            c.guest.push(GuestOp {
                page,
                access,
                vm: 0,
            })
        });
        let Some(who) = self.run(Actor::Guest(0), |st| st.guests[0].pc.get() == GuestPc::Idle)
        else {
            return Ok(Outcome::Blocked);
        };
        Ok(if closed {
            Outcome::Ebadf
        } else if who == Some(Accessor::Guest) {
            Outcome::Ok
        } else if self.st.pages[page as usize].attr() != access {
            // Sequentially the attribute cannot change during the call, so
            // the fault ended at the attribute check.
            Outcome::MemoryFault
        } else {
            Outcome::NoMemory
        })
    }
}
