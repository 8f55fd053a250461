//! The model state: pages, folios, the gigantic page, locks, and one program
//! counter (plus locals) per actor. Fixed arrays of small integers, so a state
//! hashes and clones cheaply; unused slots stay at their defaults.
//!
//! The kernel's counters (`_refcount`, `_pincount`) are stored. Who holds which
//! reference is *not* stored twice: it is derived from the actors' program
//! counters (see `view.rs`), so `refcount_conserved` compares the kernel's
//! counter against the ground truth of who holds what.

use crate::coded::Coded;
use crate::config::{MAX_CONVERTERS, MAX_PAGES, MAX_PINNERS, MAX_PROCS};
use invariants::{Attr, ConvResult, Structure, MAX_VMS};
use zerocopy::{Immutable, IntoBytes};

/// Folio arena size: every page once, plus one reallocation per page after a
/// punch, plus the gigantic page's whole folio.
pub const MAX_FOLIOS: usize = 2 * MAX_PAGES + 1;

pub type Slot = u8;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, IntoBytes, Immutable)]
#[repr(u8)]
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

/// Packed: the two counters would otherwise align the folio to 4 bytes
/// and leave one byte of padding, which the fingerprint cannot read (an
/// unaligned load costs nothing on the machines this runs on).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, IntoBytes, Immutable)]
#[repr(C, packed)]
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
    /// Hardware ownership, one bit per page of the folio (bit 0 = `index`):
    /// private in the RMP/PAMT/host stage-2. Set by `kvm_arch_gmem_make_private()`
    /// in `kvm_gmem_get_pfn()`, cleared by `kvm_arch_gmem_make_shared()` and by
    /// `kvm_arch_gmem_reclaim()` in `kvm_gmem_free_folio()`.
    pub hw_private: u8,
    /// `PG_hwpoison`, set by memory failure.
    pub poisoned: bool,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum S2 {
    #[default]
    None,
    Shared(Slot),
    Private(Slot),
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, IntoBytes, Immutable)]
#[repr(C)]
pub struct Page {
    pub private: bool,
    /// The folio in the page cache at this index.
    pub folio: Coded<Option<Slot>>,
    /// Bitmask of processes with a present PTE.
    pub ptes: u8,
    /// The KVM stage-2 entry of this index's gfn, per VM.
    pub s2: [Coded<S2>; MAX_VMS],
    /// Design hugetlb: bit v set when VM v maps this gfn through a huge
    /// (gigantic-page-sized) private stage-2 leaf rather than a 4K one.
    pub s2_huge: u8,
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

/// A gigantic (hugetlb) page: the one backing the file in designs
/// split/huge_whole, or one of the two of design hugetlb (`mm::gig_of`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, IntoBytes, Immutable)]
#[repr(C)]
pub struct Gigantic {
    pub in_pool: bool,
    pub structure: Coded<Structure>,
    /// The file let go of it (close): it must return to the pool once unreferenced.
    pub released: bool,
}

impl Default for Gigantic {
    fn default() -> Self {
        Gigantic {
            in_pool: true,
            structure: Coded::new(Structure::Whole),
            released: false,
        }
    }
}

/// An rw-semaphore: one writer or a set of readers (bitmask of thread ids).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, IntoBytes, Immutable)]
#[repr(C)]
pub struct RwSem {
    pub writer: Coded<Option<u8>>,
    pub readers: u16,
}

impl RwSem {
    pub fn can_read(&self) -> bool {
        self.writer.get().is_none()
    }
    pub fn can_write(&self) -> bool {
        self.writer.get().is_none() && self.readers == 0
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
    /// kvm_gmem_mas_preallocate(): maple-tree nodes for the store (v13); the
    /// allocation may fail (-ENOMEM), an environment choice.
    Prealloc,
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
    /// kvm_gmem_invalidate_start(): zap stage-2 (typed filter in v13) in every
    /// bound VM, raise mmu_invalidate_in_progress.
    InvBegin,
    /// To-shared: kvm_arch_gmem_make_shared() on every present folio (v13).
    MakeShared,
    /// Split design: folio_ref_freeze() of the whole gigantic folio.
    SplitFreeze,
    /// Split design: split into 4K folios and unfreeze them.
    SplitDo,
    /// Store the new attribute for the range (maple tree store).
    Flip,
    /// Design hugetlb, to-shared: kvm_gmem_split_private() splits the huge
    /// private stage-2 leaves of the batch's huge page (may fail -ENOMEM,
    /// an environment choice).
    S2Split,
    /// Split design: freeze subfolio n at its baseline before merging.
    MergeFreeze(u8),
    /// Split design: fold the frozen subfolios into one folio, unfreeze it.
    MergeFold,
    /// kvm_gmem_invalidate_end(): bump mmu_invalidate_seq, drop in_progress, unlock.
    InvEnd,
    /// The failed ioctl copies `error_offset` back to the user's struct, which
    /// lives in process 0's mapping of the guest_memfd: a user write that may
    /// fault (v13 copies out after the unlock).
    CopyOut(FaultPc),
    /// Exclusive-pin RFC: pin_user_pages(FOLL_PIN|FOLL_LONGTERM|FOLL_EXCLUSIVE).
    ExclPin,
    /// Exclusive-pin RFC: unexc_user_page() then unpin_user_page().
    Unexc,
    /// The ioctl returned; `status` holds the result.
    Done,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, IntoBytes, Immutable)]
#[repr(C)]
pub struct Converter {
    /// Index of the current request in the script.
    pub op: u8,
    pub pc: Coded<ConvPc>,
    pub result: Coded<Option<ConvResult>>,
    /// Private bits of the range when the request was issued / returned.
    pub before: u8,
    pub after: u8,
    /// The current request has succeeded (for retried requests).
    pub succeeded: bool,
    /// lru_add_drain_all() already called in this attempt.
    pub drained: bool,
    /// Holds the exclusive pin on this page's folio (exclusive-pin RFC).
    pub excl: Coded<Option<Slot>>,
    /// Design hugetlb: the gigantic page of the current batch
    /// (`__kvm_gmem_set_attributes()` converts one huge page per batch).
    pub batch: u8,
    /// Design hugetlb: between kvm_gmem_invalidate_begin() and _end() of
    /// the current batch (the restructure and the store may follow the end).
    pub inv_open: bool,
    /// Design hugetlb: an allocation of this request already failed
    /// -ENOMEM (the environment fails at most once per request).
    pub enomem_seen: bool,
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
    /// Design hugetlb, still under the shared lock: this fault allocated
    /// gigantic page g's fresh folio over a range that is not all private;
    /// `__maybe_split_fresh_folio()` unlocked it, dropped its own reference
    /// and spins in folio_ref_freeze() at the page cache's count before
    /// splitting it to 4K.
    FreshSplit(u8),
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ProcPc {
    #[default]
    Idle,
    Fault(FaultPc),
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, IntoBytes, Immutable)]
#[repr(C)]
pub struct Proc {
    pub op: u8,
    pub pc: Coded<ProcPc>,
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
    /// BUG gup_fast_recheck_before_add: the PTE re-read before the increment.
    FastRecheckEarly(Slot),
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
    /// VFIO type1 on a `VM_PFNMAP` VMA, after `pin_user_pages_remote()`
    /// failed: `follow_fault_pfn()` -> `follow_pfnmap_start()` reads the PTE
    /// (faulting it in with `fixup_user_fault()` if absent), then
    /// `is_invalid_reserved_pfn()` decides.
    PfnFollow,
    /// The pfn is in the IOMMU page table: no reference, no notifier.
    PfnMapped(Slot),
    /// The device has DMAed through it; `VFIO_IOMMU_UNMAP_DMA` next.
    PfnAccessed(Slot),
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, IntoBytes, Immutable)]
#[repr(C)]
pub struct Pinner {
    pub pc: Coded<PinPc>,
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
    /// kvm_gmem_get_pfn(): invalidate_lock shared around the folio lookup,
    /// lazy make_private; the folio reference is dropped before it returns.
    GetPfn,
    /// Under mmu_lock: mmu_invalidate_retry_gfn(), then install the stage-2
    /// entry for the pfn get_pfn returned (no reference held).
    Install(Slot),
    /// Design hugetlb: inside kvm_gmem_get_pfn() under the shared lock,
    /// splitting gigantic page g's fresh folio (as `FaultPc::FreshSplit`).
    FreshSplit(u8),
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, IntoBytes, Immutable)]
#[repr(C)]
pub struct Guest {
    /// Index of the next access among this VM's accesses.
    pub op: u8,
    pub pc: Coded<GuestPc>,
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
    /// Release of one VM's file (kvm_gmem_release()): zap that VM's stage-2
    /// entries of every type and unbind it.
    ReleaseVm,
    InvEnd,
    Finished,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, IntoBytes, Immutable)]
#[repr(C)]
pub struct Truncator {
    pub pc: Coded<TruncPc>,
    pub result: Coded<Option<ConvResult>>,
}

// ---- kvm_gmem_populate() ----

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum PopPc {
    #[default]
    Idle,
    /// GUP of the source page through process 0's mapping, as slow GUP's
    /// follow_page_pte(): grab the mapped page under the PTE lock, or fault.
    SrcGup,
    /// faultin_page() of the source: the fault path's steps for process 0
    /// (it installs the PTE; GUP then follows it again).
    SrcFault(FaultPc),
    /// filemap_invalidate_lock() for the populate itself.
    Lock,
    /// Copy into the private destination, unlock, put the source.
    Copy,
    Finished,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, IntoBytes, Immutable)]
#[repr(C)]
pub struct Populate {
    pub pc: Coded<PopPc>,
    pub src: Coded<Option<Slot>>,
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

/// Memory failure on one page (`memory_failure()` -> `kvm_gmem_error_folio()`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum MfPc {
    #[default]
    Idle,
    /// PG_hwpoison is set; `kvm_gmem_error_folio()` next: invalidate lock
    /// shared, zap stage-2 entries of every type in every VM, no truncate.
    ErrorFolio(Slot),
    Finished,
}

// ---- Secondary MMU (hmm_range_fault() / ODP / KVM pfncache) ----

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum DevPc {
    #[default]
    Idle,
    /// After `mmu_interval_read_begin()`: `hmm_range_fault()` walks the
    /// process's page table for the page.
    ReadPte,
    /// `HMM_PFN_REQ_FAULT`: `handle_mm_fault()` on the absent PTE (the host
    /// fault path), then the walk restarts.
    Fault(FaultPc),
    /// Holding the pfn (no reference): under the driver's lock,
    /// `mmu_interval_read_retry()`, then program the device page table.
    Map(Slot),
    /// The device page table maps the folio; the device DMAs next.
    Mapped(Slot),
    Finished,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, IntoBytes, Immutable)]
#[repr(C)]
pub struct Device {
    pub pc: Coded<DevPc>,
    /// The interval notifier's sequence moved since `mmu_interval_read_begin()`
    /// (only the comparison matters, as for the vCPU's `seq_stale`).
    pub seq_stale: bool,
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

/// `Copy`: every field is plain data, and a bitwise copy is one `memcpy`
/// where a derived `Clone` copied field by field.
///
/// `repr(C)`, every byte defined (`IntoBytes` proves it when this
/// compiles): the fingerprint reads the state where it lies
/// ([`State::encoding`]). The fixed part comes first, then the pages, then
/// the folios, so the fixed part, the pages and the used folio slots (up
/// to the last one allocated) are one run of bytes.
#[derive(Clone, Copy, PartialEq, Eq, IntoBytes, Immutable)]
#[repr(C)]
pub struct State {
    /// First: its `u16` reader count is the only field aligned to more
    /// than a byte (the folios are packed).
    pub invalidate_lock: RwSem,
    /// Configured page count (constant per model; kept here so the state
    /// can print itself compactly).
    pub nr_pages: u8,
    /// Gigantic pages: index 0 in designs split/huge_whole, 0 and 1 in
    /// design hugetlb (the second stays at its default otherwise).
    pub gigantic: [Gigantic; 2],
    /// The file was closed: no fd, no host mapping.
    pub closed: bool,
    /// One per converter thread (`ConvOp::converter`); the second stays at
    /// its default in configurations with one.
    pub conv: [Converter; MAX_CONVERTERS],
    pub procs: [Proc; MAX_PROCS],
    pub pinners: [Pinner; MAX_PINNERS],
    /// One vCPU per VM bound to the file.
    pub guests: [Guest; MAX_VMS],
    /// Bitmask of VMs whose gmem_file is still bound (release clears a bit).
    pub bound: u8,
    pub trunc: Truncator,
    pub populate: Populate,
    pub spec: Coded<SpecPc>,
    pub mf: Coded<MfPc>,
    pub dev: Device,
    pub last_access: Coded<Option<LastAccess>, 6>,
    pub pages: [Page; MAX_PAGES],
    pub folios: [Folio; MAX_FOLIOS],
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
            match p.folio.get() {
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
            for (vm, e) in p.s2.iter().enumerate() {
                match e.get() {
                    S2::None => {}
                    S2::Shared(s) => write!(f, "  vm{vm} stage-2 shared -> f{s}")?,
                    S2::Private(s) => write!(f, "  vm{vm} stage-2 private -> f{s}")?,
                }
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
                write!(f, " index {} refcount {}", fo.index, { fo.refcount })?;
                if fo.large {
                    write!(f, " large pincount {}", { fo.pincount })?;
                }
                if fo.frozen {
                    write!(f, " FROZEN")?;
                }
                if fo.lru {
                    write!(f, " in lru_add batch")?;
                }
                if fo.poisoned {
                    write!(f, " HWPOISON")?;
                }
            }
            if fo.hw_private != 0 {
                write!(f, " hardware-private pages {:b}", fo.hw_private)?;
            }
            writeln!(f)?;
        }
        for (k, g) in self.gigantic.iter().enumerate() {
            if !(g.in_pool && g.structure == Structure::Whole && !g.released) {
                writeln!(
                    f,
                    "gigantic page {k}: {:?}{}{}",
                    g.structure,
                    if g.in_pool { ", in hugetlb pool" } else { "" },
                    if g.released {
                        ", released by close"
                    } else {
                        ""
                    }
                )?;
            }
        }
        let l = self.invalidate_lock;
        match (l.writer.get(), l.readers) {
            (Some(w), _) => writeln!(f, "invalidate_lock: held for write by thread {w}")?,
            (None, 0) => {}
            (None, r) => writeln!(f, "invalidate_lock: held for read by threads {r:b}")?,
        }
        if self.closed {
            writeln!(f, "file closed")?;
        }
        for (k, c) in self.conv.iter().enumerate() {
            if c.pc == ConvPc::Idle {
                continue;
            }
            let name = if k == 0 {
                "converter".to_string()
            } else {
                format!("converter{k}")
            };
            write!(f, "{name}: request #{} {:?}", c.op, c.pc)?;
            if let Some(r) = c.result.get() {
                write!(f, " returned {r:?}")?;
            }
            if let Some(s) = c.excl.get() {
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
        for (vm, g) in self.guests.iter().enumerate() {
            if g.pc != GuestPc::Idle || g.op != 0 {
                writeln!(
                    f,
                    "vcpu{vm}: access #{} {:?}{}",
                    g.op,
                    g.pc,
                    if g.seq_stale {
                        " (mmu_invalidate_seq moved)"
                    } else {
                        ""
                    }
                )?;
            }
        }
        if self.bound != (1 << MAX_VMS) - 1 {
            writeln!(f, "bound VMs: {:b}", self.bound)?;
        }
        if self.mf != MfPc::Idle {
            writeln!(f, "memory_failure: {:?}", self.mf)?;
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
        if self.dev.pc != DevPc::Idle {
            writeln!(
                f,
                "secondary_mmu: {:?}{}",
                self.dev.pc,
                if self.dev.seq_stale {
                    " (notifier sequence moved)"
                } else {
                    ""
                }
            )?;
        }
        if let Some(a) = self.last_access.get() {
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

impl State {
    /// The state's injective byte encoding: its own bytes, read where they
    /// lie and in one run: the fixed part, every page slot, then the folio
    /// slots up to the last one ever allocated. The slots after it are at
    /// their default, all zeros, in every state the model reaches (a slot
    /// never goes back to `Unused`; `the_bytes_left_out_are_at_their_default`
    /// checks it), so there the length says how many slots were read, and
    /// two states are equal exactly when their encodings are. The
    /// fingerprint hashes it (`Hash`), and `crate::symmetry` picks an
    /// orbit's representative by comparing it.
    /// (The page slots beyond `nr_pages`, at their defaults, cost less to
    /// hash than a second run would.)
    #[inline]
    pub fn encoding(&self) -> &[u8] {
        let used = self
            .folios
            .iter()
            .rposition(|f| f.state != FolioState::Unused)
            .map_or(0, |i| i + 1);
        let folios = std::mem::offset_of!(State, folios);
        &self.as_bytes()[..folios + used * std::mem::size_of::<Folio>()]
    }
}

/// One `Hasher::write` of [`State::encoding`]: every generated state is
/// hashed, and nothing is copied or encoded on the way (a derived `Hash`
/// made one hasher call per field, an enum's tag and payload apart).
impl std::hash::Hash for State {
    #[inline]
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        h.write(self.encoding());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn base() -> State {
        // The initial state of a 2-page configuration.
        let cfg = crate::gate::peer_config(crate::Design::Inplace, None);
        crate::GmemModel::new(cfg).expect("valid").init_state()
    }

    /// The layout has no padding (else `IntoBytes` would not derive):
    /// the state is the sum of its fields. With every folio slot used the
    /// encoding is the whole state.
    #[test]
    fn encoding_size() {
        assert_eq!(std::mem::size_of::<Page>(), 9);
        assert_eq!(std::mem::size_of::<Folio>(), 15);
        assert_eq!(std::mem::size_of::<State>(), 412);
        let mut st = base();
        assert_eq!(st.encoding().len(), std::mem::offset_of!(State, folios));
        for f in st.folios.iter_mut() {
            f.state = FolioState::Freed;
        }
        assert_eq!(st.encoding().len(), std::mem::size_of::<State>());
    }

    /// What makes the encoding injective on reachable states: the bytes it
    /// leaves out (the folio slots after the last one allocated) are all
    /// zero, the default folio's bytes, on the states of every gate row
    /// and deep row (the first 3,000 of each, breadth first).
    #[test]
    fn the_bytes_left_out_are_at_their_default() {
        assert!(Folio::default().as_bytes().iter().all(|&b| b == 0));
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs");
        let mut short = 0;
        for dir in [root.clone(), root.join("deep")] {
            for g in crate::gate::load_dir(&dir).expect("configs/ loads") {
                let m = crate::GmemModel::new(g.cfg.clone()).unwrap();
                for st in m.bfs_states(3000) {
                    let n = st.encoding().len();
                    assert!(
                        st.as_bytes()[n..].iter().all(|&b| b == 0),
                        "{}: a folio slot after the last used one is set in {st:?}",
                        g.name
                    );
                    short += (n < std::mem::size_of::<State>()) as usize;
                }
            }
        }
        assert!(short > 100_000, "{short}");
    }

    /// Single-field changes all encode differently (spot check of
    /// injectivity: every field has bytes of its own).
    #[test]
    fn field_changes_encode_differently() {
        let mut variants = vec![base()];
        let edits: Vec<fn(&mut State)> = vec![
            |s| s.pages[0].private = true,
            |s| s.pages[0].folio.set(Some(0)),
            |s| s.pages[1].ptes = 1,
            |s| s.pages[1].s2[0].set(S2::Shared(0)),
            |s| s.pages[1].s2[0].set(S2::Private(0)),
            |s| s.pages[1].s2[1].set(S2::Shared(0)),
            |s| {
                s.folios[0].state = FolioState::PageCache;
                s.folios[0].hw_private = 1
            },
            |s| {
                s.folios[0].state = FolioState::PageCache;
                s.folios[0].poisoned = true
            },
            |s| s.bound = 3,
            |s| s.mf.set(MfPc::ErrorFolio(0)),
            |s| s.guests[1].seq_stale = true,
            |s| s.conv[0].pc.set(ConvPc::CopyOut(FaultPc::Install(0))),
            |s| s.conv[0].pc.set(ConvPc::Prealloc),
            |s| s.folios[0].state = FolioState::PageCache,
            |s| {
                s.folios[0].state = FolioState::PageCache;
                s.folios[0].large = true
            },
            |s| {
                s.folios[0].state = FolioState::PageCache;
                s.folios[0].frozen = true
            },
            |s| {
                s.folios[0].state = FolioState::PageCache;
                s.folios[0].lru = true
            },
            |s| {
                s.folios[0].state = FolioState::PageCache;
                s.folios[0].refcount = 1
            },
            |s| {
                s.folios[0].state = FolioState::PageCache;
                s.folios[0].pincount = 1
            },
            |s| s.gigantic[0].in_pool = false,
            |s| s.gigantic[0].released = true,
            |s| s.gigantic[0].structure.set(Structure::Split),
            |s| s.gigantic[1].in_pool = false,
            |s| s.pages[0].s2_huge = 1,
            |s| s.conv[0].batch = 1,
            |s| s.conv[0].inv_open = true,
            |s| s.conv[0].enomem_seen = true,
            |s| s.conv[0].pc.set(ConvPc::S2Split),
            |s| s.conv[1].pc.set(ConvPc::Lock),
            |s| s.conv[1].pc.set(ConvPc::Check(0)),
            |s| s.conv[1].op = 1,
            |s| s.conv[1].batch = 1,
            |s| s.conv[1].inv_open = true,
            |s| {
                s.conv[1].pc.set(ConvPc::Done);
                s.conv[1].result.set(Some(ConvResult::Ok))
            },
            |s| s.procs[0].pc.set(ProcPc::Fault(FaultPc::FreshSplit(1))),
            |s| {
                s.pinners[0]
                    .pc
                    .set(PinPc::SlowFault(FaultPc::FreshSplit(0)))
            },
            |s| s.guests[0].pc.set(GuestPc::FreshSplit(0)),
            |s| s.invalidate_lock.writer.set(Some(0)),
            |s| s.invalidate_lock.readers = 1,
            |s| s.closed = true,
            |s| s.conv[0].succeeded = true,
            |s| s.conv[0].drained = true,
            |s| s.conv[0].result.set(Some(ConvResult::Ok)),
            |s| {
                s.conv[0]
                    .result
                    .set(Some(ConvResult::Eagain { error_index: 0 }))
            },
            |s| s.conv[0].pc.set(ConvPc::Check(0)),
            |s| s.conv[0].pc.set(ConvPc::Drain(0)),
            |s| s.procs[1].pc.set(ProcPc::Fault(FaultPc::LockInv)),
            |s| s.procs[1].pc.set(ProcPc::Fault(FaultPc::Install(0))),
            |s| s.pinners[2].pc.set(PinPc::SlowFault(FaultPc::LockInv)),
            |s| s.pinners[2].pc.set(PinPc::Held(0)),
            |s| s.guests[0].seq_stale = true,
            |s| s.trunc.pc.set(TruncPc::Check(0)),
            |s| s.populate.holds_lock = true,
            |s| s.populate.src.set(Some(0)),
            |s| s.spec.set(SpecPc::Held(0)),
            |s| s.dev.pc.set(DevPc::Mapped(0)),
            |s| s.dev.pc.set(DevPc::Fault(FaultPc::Install(0))),
            |s| s.dev.seq_stale = true,
            |s| s.pinners[0].pc.set(PinPc::PfnMapped(0)),
            |s| {
                s.last_access.set(Some(LastAccess {
                    who: invariants::Accessor::Device { device: 0 },
                    folio: 0,
                    index: 0,
                    write: true,
                    guest_type: None,
                }))
            },
            |s| {
                s.last_access.set(Some(LastAccess {
                    who: invariants::Accessor::Guest,
                    folio: 0,
                    index: 0,
                    write: false,
                    guest_type: None,
                }))
            },
        ];
        for e in edits {
            let mut s = base();
            e(&mut s);
            variants.push(s);
        }
        let distinct: HashSet<Vec<u8>> = variants.iter().map(|s| s.encoding().to_vec()).collect();
        assert_eq!(distinct.len(), variants.len());
    }
}
