//! The view: the per-page, per-folio, per-gigantic-page, per-thread and
//! per-conversion facts that both the Stateright model and the concrete
//! implementation expose. Every property in this crate is a predicate over
//! a [`GmemView`], so the same sentence is checked on both.
//!
//! The view is pull-based and allocation-free (small `Copy` structs handed to
//! callbacks) because the model evaluates every property on every state it
//! generates: building vectors there would dominate the checker's hot path.

/// The per-index memory attribute (the maple tree value in the v7 series;
/// `KVM_MEMORY_ATTRIBUTE_PRIVATE` set or clear).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Attr {
    Shared,
    Private,
}

/// Identifies a folio (struct folio) in the provider's arena. Opaque.
pub type FolioId = u32;

/// VMs that can bind one guest_memfd inode at once in the model and the
/// views (one `struct gmem_file` per VM in `virt/kvm/guest_memfd.c`, each
/// with its own stage-2 and `mmu_invalidate_seq`).
pub const MAX_VMS: usize = 2;

/// One KVM stage-2 (EPT/NPT/S2) entry for a gfn backed by a guest_memfd index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Stage2 {
    None,
    Shared(FolioId),
    Private(FolioId),
}

impl Stage2 {
    pub fn folio(self) -> Option<FolioId> {
        match self {
            Stage2::None => None,
            Stage2::Shared(f) | Stage2::Private(f) => Some(f),
        }
    }
    pub fn attr(self) -> Option<Attr> {
        match self {
            Stage2::None => None,
            Stage2::Shared(_) => Some(Attr::Shared),
            Stage2::Private(_) => Some(Attr::Private),
        }
    }
}

/// What the host can reach through one guest_memfd index: the facts the
/// "no host reach into private memory" properties are about.
///
/// Counts are of *completed* references on the folio currently in the page
/// cache at this index, taken through this index (for a large folio the
/// kernel cannot tell subpages apart, but the model can, and the property is
/// about the subpage). Transient references that back off without touching
/// data (GUP-fast before its PTE re-check, speculative try-get, LRU batch) are
/// not counted here; they live in [`RefParts::transient`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageView {
    pub index: usize,
    pub attr: Attr,
    /// The folio in the page cache at this index, if any.
    pub folio: Option<FolioId>,
    /// Bitmask of host processes (mm) with a present PTE for this index.
    pub host_ptes: u64,
    /// Completed FOLL_GET references (get_user_pages, vmsplice, O_DIRECT plain refs).
    pub gets: u32,
    /// Completed short-term FOLL_PIN pins.
    pub pins: u32,
    /// Completed FOLL_PIN|FOLL_LONGTERM pins.
    pub longterm_pins: u32,
    /// Exclusive pins (exclusive-pin RFC only); held by the donor, not a host reach.
    pub exclusive_pins: u32,
    /// The KVM stage-2 entry for this index's gfn, per VM bound to the file
    /// (`Stage2::None` for a VM that is not bound).
    pub stage2: [Stage2; MAX_VMS],
    /// Per VM: true while a KVM invalidation (`mmu_invalidate_in_progress`
    /// with a range containing the gfn) covers this index: that VM's stage-2
    /// entry may briefly disagree with the attribute there.
    pub invalidating: [bool; MAX_VMS],
}

impl PageView {
    /// Does the host hold any completed reference (GET or PIN) through this index?
    pub fn host_pinned(&self) -> bool {
        self.gets + self.pins + self.longterm_pins > 0
    }
}

/// The parts a folio's refcount is made of. Signed so that a provider can
/// report an underflow (which `refcount_conserved` then flags) instead of
/// wrapping or panicking.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RefParts {
    /// The page cache's reference (1 while in the page cache; nr_pages for a large folio).
    pub pagecache: i32,
    /// One per present host PTE mapping a page of this folio.
    pub ptes: i32,
    /// FOLL_GET references, completed or still in flight in GUP-fast.
    pub gets: i32,
    /// FOLL_PIN pins (short and long), completed or still in flight in GUP-fast
    /// (an in-flight pin already carries its bias in the counter).
    pub pins: i32,
    /// Exclusive pins (RFC), counted on top of their normal pin.
    pub exclusive: i32,
    /// Transient references that never touch data: fault lookup, speculative
    /// try-get, LRU batch, get_pfn.
    pub transient: i32,
}

impl RefParts {
    pub fn all_non_negative(&self) -> bool {
        self.pagecache >= 0
            && self.ptes >= 0
            && self.gets >= 0
            && self.pins >= 0
            && self.exclusive >= 0
            && self.transient >= 0
    }
    pub fn is_zero(&self) -> bool {
        *self == RefParts::default()
    }
    /// Every reference that is not the page cache's own.
    pub fn extra(&self) -> i32 {
        self.ptes + self.gets + self.pins + self.exclusive + self.transient
    }
}

/// `GUP_PIN_COUNTING_BIAS` (include/linux/page_ref.h): what one FOLL_PIN adds
/// to a small folio's refcount.
pub const GUP_PIN_COUNTING_BIAS: i64 = 1024;
/// `GUP_PIN_EXCLUSIVE_BIAS` from the exclusive-pin RFC (patch 2): 2^30.
pub const GUP_PIN_EXCLUSIVE_BIAS: i64 = 1 << 30;

/// The refcount a folio must have given its parts, in the kernel's encoding:
/// small folio: one per reference, 1024 per pin (+2^30 per exclusive pin);
/// large folio: one per reference and per pin (the pins also live in `_pincount`).
pub fn encoded_refcount(parts: &RefParts, large: bool) -> i64 {
    let plain = (parts.pagecache + parts.ptes + parts.gets + parts.transient) as i64;
    if large {
        plain + parts.pins as i64
    } else {
        plain
            + parts.pins as i64 * GUP_PIN_COUNTING_BIAS
            + parts.exclusive as i64 * GUP_PIN_EXCLUSIVE_BIAS
    }
}

/// The `_pincount` a large folio must have: one per pin, plus the exclusive bias.
pub fn encoded_pincount(parts: &RefParts) -> i64 {
    parts.pins as i64 + parts.exclusive as i64 * GUP_PIN_EXCLUSIVE_BIAS
}

/// Where a folio lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FolioHome {
    /// In the page cache at this index (the first index for a large folio).
    PageCache(usize),
    /// Removed from the page cache (punched/closed) but still referenced:
    /// no longer the guest's page.
    Orphaned,
    /// A 4K subfolio that was merged back into its gigantic page, or a folio
    /// whose memory went back to the allocator. Must hold no reference.
    Gone,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FolioView {
    pub id: FolioId,
    /// The first file index the folio covers; kept after it leaves the page
    /// cache (what `hw_private`'s bit 0 stands for).
    pub index: usize,
    pub home: FolioHome,
    pub large: bool,
    pub parts: RefParts,
    /// The `_refcount` value as the provider's counter holds it.
    pub refcount: i64,
    /// The `_pincount` value (large folios only; 0 otherwise).
    pub pincount: i64,
    /// Frozen by `folio_ref_freeze` (refcount reads 0, try-get fails).
    pub frozen: bool,
    /// Released to the allocator.
    pub freed: bool,
    /// Hardware ownership, one bit per 4K page of the folio (bit 0 = the
    /// folio's first page): set while the hardware holds the page private
    /// (SNP RMP assigned, TDX PAMT owned by a TD, pKVM donated from the host
    /// stage-2). Moved by `kvm_arch_gmem_make_private()` (lazily, in
    /// `kvm_gmem_get_pfn()`), `kvm_arch_gmem_make_shared()` (to-shared
    /// conversion) and `kvm_arch_gmem_reclaim()` (`free_folio`).
    pub hw_private: u64,
    /// `PG_hwpoison`: memory failure hit this folio.
    pub poisoned: bool,
}

/// Structural state of a gigantic (hugetlb) page backing guest_memfd.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Structure {
    /// One folio (merged, or never split).
    #[default]
    Whole,
    /// Split into 4K folios.
    Split,
    /// Being split (4K subfolios are being created).
    Splitting,
    /// Being merged back (4K subfolios are being frozen and folded).
    Merging,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GiganticView {
    pub id: u32,
    /// First file index and number of 4K subpages it backs.
    pub first_index: usize,
    pub nr_pages: usize,
    pub structure: Structure,
    /// Back in the hugetlb pool (free, not backing any index).
    pub in_pool: bool,
    /// The file no longer owns it (closed, or its range punched): it must
    /// find its way back to the pool once references drop.
    pub released: bool,
    /// Sum of the absolute references still held on its 4K subfolios that no
    /// longer exist as folios (merged away or pooled): must be zero.
    pub refs_on_dead_subfolios: i32,
    /// Any reference (of any kind) on any part of it while in the pool.
    pub refs_while_pooled: i32,
    /// Back in the pool while the hardware still holds one of its pages private.
    pub hw_private_while_pooled: bool,
}

/// Who touched memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Accessor {
    /// A host process's CPU through its PTE.
    HostCpu { process: u32 },
    /// The kernel or a device through a completed GUP reference (O_DIRECT, DMA).
    GupHolder { holder: u32 },
    /// The guest through its stage-2 entry.
    Guest,
    /// A device through a mapping that holds no folio reference: a
    /// secondary MMU's (`hmm_range_fault()`/ODP, KVM pfncache) or an IOMMU
    /// mapping VFIO type1 made from a `VM_PFNMAP` PTE (`follow_pfnmap_start()`).
    Device { device: u32 },
}

/// One memory access performed by the step that produced the current state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Access {
    pub who: Accessor,
    pub folio: FolioId,
    /// The file index the accessor used (for a GUP holder: the index it pinned through).
    pub index: usize,
    pub write: bool,
    /// The access type for a guest access (Shared or Private fault type).
    pub guest_type: Option<Attr>,
}

/// Outcome of a conversion ioctl (`KVM_SET_MEMORY_ATTRIBUTES2`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConvResult {
    Ok,
    /// -EAGAIN with `error_offset` (in pages).
    Eagain {
        error_index: usize,
    },
    Einval,
    /// Design `wait`: gave up waiting (implementation only; the model has no clock).
    Timeout,
    /// -ENOMEM from the maple-tree preallocation (`kvm_gmem_mas_preallocate()`),
    /// `error_offset` = start; nothing changed.
    Enomem {
        error_index: usize,
    },
    /// -EFAULT: copying `error_offset` back to userspace faulted.
    Efault,
    /// -ENOTTY: `KVM_SET_MEMORY_ATTRIBUTES2` with in-place conversion off
    /// (module parameter `gmem_in_place_conversion=0`).
    Enotty,
}

impl ConvResult {
    /// Kernel notation: `0`, `-EAGAIN (error_offset 1)`.
    pub fn kernel(self) -> String {
        match self {
            ConvResult::Ok => "0".into(),
            ConvResult::Eagain { error_index } => format!("-EAGAIN, error_offset {error_index}"),
            ConvResult::Einval => "-EINVAL".into(),
            ConvResult::Timeout => "-ETIMEDOUT".into(),
            ConvResult::Enomem { error_index } => format!("-ENOMEM, error_offset {error_index}"),
            ConvResult::Efault => "-EFAULT".into(),
            ConvResult::Enotty => "-ENOTTY".into(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConvStatus {
    /// Not issued yet, or finished its script.
    Idle,
    /// Inside the ioctl (or blocked waiting in design `wait`).
    InProgress,
    /// The ioctl returned.
    Returned(ConvResult),
}

/// A conversion request, with attribute snapshots of its range taken when it
/// was issued (`before`) and when it returned (`after`), so atomicity is a
/// predicate over one view.
#[derive(Clone, Copy, Debug)]
pub struct ConversionView<'a> {
    pub start: usize,
    pub nr_pages: usize,
    pub to: Attr,
    pub status: ConvStatus,
    pub before: &'a [Attr],
    pub after: &'a [Attr],
    /// The VMM keeps retrying this request (after dropping what it owns) until it succeeds.
    pub retries_until_ok: bool,
    /// The request has succeeded at least once (for retried requests).
    pub succeeded: bool,
}

/// Locks the model and the implementation know about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LockId {
    /// `mapping->invalidate_lock` of the guest_memfd inode (rw-semaphore).
    InvalidateLock,
    /// A process's `mmap_lock` (rw-semaphore).
    MmapLock(u32),
    /// `kvm->mmu_lock`.
    MmuLock,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LockMode {
    Shared,
    Exclusive,
}

impl LockMode {
    pub fn conflicts(self, other: LockMode) -> bool {
        matches!(self, LockMode::Exclusive) || matches!(other, LockMode::Exclusive)
    }
}

/// One thread's lock state: what it holds, and what it is blocked acquiring.
/// Locks are not recursive (an rw-semaphore held for write blocks its own
/// holder's down_read), so a thread waiting for a lock it holds is deadlocked.
#[derive(Clone, Copy, Debug)]
pub struct ThreadLocks<'a> {
    pub thread: u32,
    pub holds: &'a [(LockId, LockMode)],
    pub waits_for: Option<(LockId, LockMode)>,
}

/// The system as the properties see it.
pub trait GmemView {
    fn nr_pages(&self) -> usize;
    fn page(&self, index: usize) -> PageView;
    /// `page(index).attr` alone. Properties about private pages ask it
    /// first and build the whole view only of a private page; a provider
    /// whose page views are costly overrides it.
    fn page_attr(&self, index: usize) -> Attr {
        self.page(index).attr
    }
    fn for_each_folio(&self, f: &mut dyn FnMut(&FolioView));
    fn for_each_gigantic(&self, f: &mut dyn FnMut(&GiganticView));
    /// Memory accesses performed by the step that produced this state.
    fn for_each_access(&self, f: &mut dyn FnMut(&Access));
    fn for_each_conversion(&self, f: &mut dyn FnMut(&ConversionView<'_>));
    fn for_each_thread_locks(&self, f: &mut dyn FnMut(&ThreadLocks<'_>));
    /// The folio with this id, freed or not, if the provider knows it.
    /// Providers with an index override this linear search.
    fn folio(&self, id: FolioId) -> Option<FolioView> {
        let mut found = None;
        self.for_each_folio(&mut |fv| {
            if fv.id == id {
                found = Some(*fv);
            }
        });
        found
    }
}
