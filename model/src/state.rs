//! The model state: pages, folios, the gigantic page, locks, and one program
//! counter (plus locals) per actor. Fixed arrays of small integers, so a state
//! hashes and clones cheaply; unused slots stay at their defaults.
//!
//! The kernel's counters (`_refcount`, `_pincount`) are stored. Who holds which
//! reference is *not* stored twice: it is derived from the actors' program
//! counters (see `view.rs`), so `refcount_conserved` compares the kernel's
//! counter against the ground truth of who holds what.

use crate::config::{MAX_PAGES, MAX_PINNERS, MAX_PROCS};
use invariants::{Attr, ConvResult, Structure};

/// Folio arena size: every page once, plus one reallocation per page after a
/// punch, plus the gigantic page's whole folio.
pub const MAX_FOLIOS: usize = 2 * MAX_PAGES + 1;

pub type Slot = u8;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum FolioState {
    /// Never allocated.
    #[default]
    Unused,
    /// In the page cache (filemap) of the guest_memfd inode.
    PageCache,
    /// Removed from the page cache while still referenced.
    Orphaned,
    /// A 4K subfolio folded back into its gigantic page by a merge.
    Gone,
    /// Returned to the allocator.
    Freed,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Folio {
    pub state: FolioState,
    pub large: bool,
    /// First file index (large folios cover every page of the file).
    pub index: u8,
    /// `folio->_refcount` (0 while frozen).
    pub refcount: i32,
    /// `folio->_pincount` (large folios only).
    pub pincount: i32,
    /// Frozen by `folio_ref_freeze()`.
    pub frozen: bool,
    /// Sitting in a per-CPU `lru_add` batch, which holds a reference.
    pub lru: bool,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum S2 {
    #[default]
    None,
    Shared(Slot),
    Private(Slot),
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Page {
    pub private: bool,
    /// The folio in the page cache at this index.
    pub folio: Option<Slot>,
    /// Bitmask of processes with a present PTE.
    pub ptes: u8,
    /// The KVM stage-2 entry of this index's gfn.
    pub s2: S2,
}

impl Page {
    pub fn attr(&self) -> Attr {
        if self.private {
            Attr::Private
        } else {
            Attr::Shared
        }
    }
}

/// The gigantic (hugetlb) page backing the file in designs split/huge_whole.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Gigantic {
    pub in_pool: bool,
    pub structure: Structure,
    /// The file let go of it (close): it must return to the pool once unreferenced.
    pub released: bool,
}

impl Default for Gigantic {
    fn default() -> Self {
        Gigantic {
            in_pool: true,
            structure: Structure::Whole,
            released: false,
        }
    }
}

/// An rw-semaphore: one writer or a set of readers (bitmask of thread ids).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct RwSem {
    pub writer: Option<u8>,
    pub readers: u16,
}

impl RwSem {
    pub fn can_read(&self) -> bool {
        self.writer.is_none()
    }
    pub fn can_write(&self) -> bool {
        self.writer.is_none() && self.readers == 0
    }
}

// ---- Converter (the VMM's KVM_SET_MEMORY_ATTRIBUTES2 ioctl) ----

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ConvPc {
    /// Between requests.
    #[default]
    Idle,
    /// filemap_invalidate_lock(): acquiring the invalidate lock for write.
    Lock,
    /// Design wait variant: waiting, unlocked and still mapped, for GUP
    /// references on page n to drain.
    WaitMapped(u8),
    /// unmap_mapping_pages() of the range (to-private).
    Unmap,
    /// Reading the refcount of page n's folio (to-private safety check).
    Check(u8),
    /// lru_add_drain_all() after page n's check failed.
    Drain(u8),
    /// Design wait: sleeping until page n's folio is at its baseline.
    Wait(u8),
    /// kvm_gmem_invalidate_begin(): zap stage-2, raise mmu_invalidate_in_progress.
    InvBegin,
    /// Split design: folio_ref_freeze() of the whole gigantic folio.
    SplitFreeze,
    /// Split design: split into 4K folios and unfreeze them.
    SplitDo,
    /// Store the new attribute for the range (maple tree store).
    Flip,
    /// Split design: freeze subfolio n at its baseline before merging.
    MergeFreeze(u8),
    /// Split design: fold the frozen subfolios into one folio, unfreeze it.
    MergeFold,
    /// kvm_gmem_invalidate_end(): bump mmu_invalidate_seq, drop in_progress, unlock.
    InvEnd,
    /// Exclusive-pin RFC: pin_user_pages(FOLL_PIN|FOLL_LONGTERM|FOLL_EXCLUSIVE).
    ExclPin,
    /// Exclusive-pin RFC: unexc_user_page() then unpin_user_page().
    Unexc,
    /// The ioctl returned; `status` holds the result.
    Done,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Converter {
    /// Index of the current request in the script.
    pub op: u8,
    pub pc: ConvPc,
    pub result: Option<ConvResult>,
    /// Private bits of the range when the request was issued / returned.
    pub before: u8,
    pub after: u8,
    /// The current request has succeeded (for retried requests).
    pub succeeded: bool,
    /// lru_add_drain_all() already called in this attempt.
    pub drained: bool,
    /// Holds the exclusive pin on this page's folio (exclusive-pin RFC).
    pub excl: Option<Slot>,
}

// ---- Host process (a VMM thread touching the mmap) ----

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum FaultPc {
    /// filemap_invalidate_lock_shared() in kvm_gmem_fault_user_mapping().
    #[default]
    LockInv,
    /// Holding the lock: check the attribute, look up or allocate the folio (+1).
    Lookup,
    /// Lock dropped, holding the folio reference: core mm installs the PTE.
    Install(Slot),
    /// PFNMAP/anon: the PTE is installed with the lock still held (no reference).
    InstallLocked(Slot),
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ProcPc {
    #[default]
    Idle,
    Fault(FaultPc),
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Proc {
    pub op: u8,
    pub pc: ProcPc,
}

// ---- GUP user ----

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum PinPc {
    #[default]
    Idle,
    /// gup_fast_pte_range(): lockless read of the PTE.
    FastReadPte,
    /// try_grab_folio_fast(): add unless zero/frozen.
    FastTryAdd(Slot),
    /// Full barrier, then re-read the PTE; keep or back off.
    FastRecheck(Slot),
    /// Slow GUP under mmap_lock: follow_page_pte(), grab under the PTE lock, or fault.
    SlowFollow,
    /// Slow GUP fault-in: the fault path's steps.
    SlowFault(FaultPc),
    /// Exclusive-pin RFC: a normal pin added, re-checking the exclusive bias.
    ExclRecheck(Slot),
    /// Holding a completed reference; the holder has not touched memory yet.
    Held(Slot),
    /// Holding it after the DMA/O_DIRECT access.
    Accessed(Slot),
    /// Finished its budget.
    Finished,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Pinner {
    pub pc: PinPc,
}

// ---- Guest vCPU ----

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum GuestPc {
    #[default]
    Idle,
    /// Snapshot mmu_invalidate_seq (smp_rmb).
    Snapshot,
    /// Compare the fault type with the attribute (KVM_EXIT_MEMORY_FAULT on mismatch).
    CheckAttr,
    /// kvm_gmem_get_pfn(): invalidate_lock shared around the folio lookup.
    GetPfn,
    /// Under mmu_lock: mmu_invalidate_retry_gfn(), then install the stage-2 entry.
    Install(Slot),
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Guest {
    pub op: u8,
    pub pc: GuestPc,
    /// mmu_invalidate_seq moved since the snapshot (only the comparison
    /// matters, so the model keeps this bit instead of an unbounded counter).
    pub seq_stale: bool,
}

// ---- Truncation (punch hole / close) ----

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum TruncPc {
    #[default]
    Idle,
    Lock,
    InvBegin,
    /// Split design: unmap the huge range before checking for a merge.
    Unmap,
    Check(u8),
    MergeFold,
    /// truncate_inode_pages_range() / the release path.
    Truncate,
    InvEnd,
    Finished,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Truncator {
    pub pc: TruncPc,
    pub result: Option<ConvResult>,
}

// ---- kvm_gmem_populate() ----

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum PopPc {
    #[default]
    Idle,
    /// GUP of the source page through process 0's mapping.
    SrcGup,
    /// The source fault's filemap_invalidate_lock_shared().
    SrcLockInv,
    SrcLookup,
    /// filemap_invalidate_lock() for the populate itself.
    Lock,
    /// Copy into the private destination, unlock, put the source.
    Copy,
    Finished,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Populate {
    pub pc: PopPc,
    pub src: Option<Slot>,
    pub holds_lock: bool,
}

// ---- Speculative reference (PFN walker) ----

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum SpecPc {
    #[default]
    Idle,
    Held(Slot),
    Finished,
}

/// The last memory access (a history variable: set by the step that accessed,
/// cleared by every other step).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LastAccess {
    pub who: invariants::Accessor,
    pub folio: Slot,
    pub index: u8,
    pub write: bool,
    pub guest_type: Option<Attr>,
}

#[derive(Clone, PartialEq, Eq)]
pub struct State {
    /// Configured page count (constant per model; kept here so the state
    /// can print itself compactly).
    pub nr_pages: u8,
    pub pages: [Page; MAX_PAGES],
    pub folios: [Folio; MAX_FOLIOS],
    pub gigantic: Gigantic,
    pub invalidate_lock: RwSem,
    /// The file was closed: no fd, no host mapping.
    pub closed: bool,
    pub conv: Converter,
    pub procs: [Proc; MAX_PROCS],
    pub pinners: [Pinner; MAX_PINNERS],
    pub guest: Guest,
    pub trunc: Truncator,
    pub populate: Populate,
    pub spec: SpecPc,
    pub last_access: Option<LastAccess>,
}

impl State {
    pub fn folio(&self, s: Slot) -> &Folio {
        &self.folios[s as usize]
    }
    pub fn folio_mut(&mut self, s: Slot) -> &mut Folio {
        &mut self.folios[s as usize]
    }
}

/// A compact rendering for the explorer and for test failures: configured
/// pages only, live folios only, actors that are doing something.
impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "pages:")?;
        for (i, p) in self.pages.iter().take(self.nr_pages as usize).enumerate() {
            write!(f, "  [{i}] {:?}", p.attr())?;
            match p.folio {
                Some(s) => write!(f, "  folio f{s}")?,
                None => write!(f, "  no folio")?,
            }
            if p.ptes != 0 {
                let procs: Vec<String> = (0..8)
                    .filter(|b| p.ptes & (1 << b) != 0)
                    .map(|b| format!("proc{b}"))
                    .collect();
                write!(f, "  PTE in {}", procs.join(","))?;
            }
            match p.s2 {
                S2::None => {}
                S2::Shared(s) => write!(f, "  stage2 Shared(f{s})")?,
                S2::Private(s) => write!(f, "  stage2 Private(f{s})")?,
            }
            writeln!(f)?;
        }
        writeln!(f, "folios:")?;
        for (s, fo) in self.folios.iter().enumerate() {
            if fo.state == FolioState::Unused {
                continue;
            }
            write!(f, "  f{s}: {:?}", fo.state)?;
            if fo.state != FolioState::Freed {
                write!(f, " index {} refcount {}", fo.index, fo.refcount)?;
                if fo.large {
                    write!(f, " large pincount {}", fo.pincount)?;
                }
                if fo.frozen {
                    write!(f, " FROZEN")?;
                }
                if fo.lru {
                    write!(f, " in lru_add batch")?;
                }
            }
            writeln!(f)?;
        }
        let g = self.gigantic;
        if !(g.in_pool && g.structure == Structure::Whole && !g.released) {
            writeln!(
                f,
                "gigantic page: {:?}{}{}",
                g.structure,
                if g.in_pool { ", in hugetlb pool" } else { "" },
                if g.released {
                    ", released by close"
                } else {
                    ""
                }
            )?;
        }
        let l = self.invalidate_lock;
        match (l.writer, l.readers) {
            (Some(w), _) => writeln!(f, "invalidate_lock: held for write by thread {w}")?,
            (None, 0) => {}
            (None, r) => writeln!(f, "invalidate_lock: held for read by threads {r:b}")?,
        }
        if self.closed {
            writeln!(f, "file closed")?;
        }
        if self.conv.pc != ConvPc::Idle {
            write!(f, "converter: request #{} {:?}", self.conv.op, self.conv.pc)?;
            if let Some(r) = self.conv.result {
                write!(f, " returned {r:?}")?;
            }
            if let Some(s) = self.conv.excl {
                write!(f, " holds exclusive pin on f{s}")?;
            }
            writeln!(f)?;
        }
        for (p, pr) in self.procs.iter().enumerate() {
            if pr.pc != ProcPc::Idle || pr.op != 0 {
                writeln!(f, "proc{p}: op #{} {:?}", pr.op, pr.pc)?;
            }
        }
        for (k, pin) in self.pinners.iter().enumerate() {
            if pin.pc != PinPc::Idle {
                writeln!(f, "gup{k}: {:?}", pin.pc)?;
            }
        }
        if self.guest.pc != GuestPc::Idle || self.guest.op != 0 {
            writeln!(
                f,
                "vcpu: op #{} {:?}{}",
                self.guest.op,
                self.guest.pc,
                if self.guest.seq_stale {
                    " (mmu_invalidate_seq moved)"
                } else {
                    ""
                }
            )?;
        }
        if self.trunc.pc != TruncPc::Idle {
            writeln!(f, "truncate: {:?}", self.trunc.pc)?;
        }
        if self.populate.pc != PopPc::Idle {
            writeln!(f, "populate: {:?}", self.populate.pc)?;
        }
        if self.spec != SpecPc::Idle {
            writeln!(f, "pfn_walker: {:?}", self.spec)?;
        }
        if let Some(a) = self.last_access {
            writeln!(
                f,
                "this step accessed f{} at index {} ({:?}{})",
                a.folio,
                a.index,
                a.who,
                if a.write { ", write" } else { ", read" }
            )?;
        }
        Ok(())
    }
}

/// Hashes what can differ: the configured pages and the used prefix of the
/// folio arena (pages beyond `nr_pages` and never-used slots always hold
/// their defaults, so this stays consistent with `Eq`). Every generated
/// state is hashed, so this is on the checker's hot path.
impl std::hash::Hash for State {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        let used = self
            .folios
            .iter()
            .rposition(|f| f.state != FolioState::Unused)
            .map_or(0, |i| i + 1);
        self.nr_pages.hash(h);
        self.pages[..self.nr_pages as usize].hash(h);
        self.folios[..used].hash(h);
        self.gigantic.hash(h);
        self.invalidate_lock.hash(h);
        self.closed.hash(h);
        self.conv.hash(h);
        self.procs.hash(h);
        self.pinners.hash(h);
        self.guest.hash(h);
        self.trunc.hash(h);
        self.populate.hash(h);
        self.spec.hash(h);
        self.last_access.hash(h);
    }
}
