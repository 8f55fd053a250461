//! The designs of `docs/designs.md`, as *policies* of one implementation.
//!
//! Every design runs the same code; the handful of places where the designs
//! differ ask the [`Design`] value a question (is FOLL_LONGTERM allowed? are
//! host PTEs special? one large folio or 4K folios? fail or wait?) instead of
//! forking the code path.

use std::time::Duration;

pub use invariants::Design;

/// How a design reacts to a busy folio during to-private.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BusyPolicy {
    /// Return -EAGAIN with error_offset (v7 to v13).
    Fail,
    /// Keep faults blocked and wait for references to drain (option (a)).
    Wait,
    /// No check: option (c)'s PFNMAP PTEs hold no references and GUP cannot
    /// reach the memory, so unmapping is enough (docs/kernel.md#option-c); a
    /// transient kernel reference (get_pfn) only reads the pfn.
    Unchecked,
}

/// How folios are laid out over the backing memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FolioLayout {
    /// Order-0 folios allocated per index (mainline, v7 to v13, shmem).
    Small,
    /// Gigantic pages, kept as one large folio while all-private and split
    /// into 4K folios while any subpage is shared (1G RFC v2).
    SplitOnShare,
    /// Gigantic pages, always one large folio.
    WholeGigantic,
    /// The 2026 HugeTLB branch (design `hugetlb`, docs/kernel.md#hugetlb-2026):
    /// gigantic pages from the inode's pool, each added to the page cache as
    /// one large folio and split to 4K at once, in the fault or
    /// `kvm_gmem_get_pfn()` path, unless its range is all private; split by
    /// to-shared and merged by to-private conversions, one huge page per
    /// batch; stage-2 maps a huge leaf only over an all-private huge page.
    HugetlbBatched,
}

/// The questions the implementation asks a design where designs differ
/// (one code path, a handful of decision points). The answers that are not
/// derived from another name every design, so a new design has to take a
/// position on each question.
pub trait DesignPolicy {
    fn longterm_gup_allowed(self) -> bool;
    fn gup_refused(self) -> bool;
    fn special_ptes(self) -> bool;
    fn direct_map(self) -> bool;
    fn busy_policy(self) -> BusyPolicy;
    fn busy_fast_fail(self) -> bool;
    fn typed_invalidation(self) -> bool;
    fn folio_layout(self) -> FolioLayout;
    fn huge_backed(self) -> bool;
    fn exclusive_donation(self) -> bool;
    fn uses_lru(self) -> bool;
    fn known_violations(self) -> &'static [invariants::PropertyId];
}

impl DesignPolicy for Design {
    /// Is FOLL_PIN|FOLL_LONGTERM allowed on guest_memfd memory (where GUP
    /// reaches it at all, [`DesignPolicy::gup_refused`])?
    /// \[infer\] Option (a) needs a new rule that makes gmem folios "not
    /// long-term pinnable" (`folio_is_longterm_pinnable()`,
    /// docs/kernel.md#gup-longterm); we return -EFAULT like other
    /// refused long-term pins.
    fn longterm_gup_allowed(self) -> bool {
        match self {
            Design::Wait => false,
            Design::Inplace
            | Design::Split
            | Design::Pfnmap
            | Design::HugeWhole
            | Design::ExclusivePin
            | Design::NoDirectMap
            | Design::Hugetlb => true,
        }
    }

    /// Does every GUP (fast and slow, any FOLL_* flag) fail with -EFAULT on
    /// the host mapping? Option (c): GUP-fast bails on the special PTE and
    /// slow GUP rejects `VM_PFNMAP` (docs/kernel.md#option-c). No direct
    /// map: `gup_fast_folio_allowed()` returns false for an
    /// `AS_NO_DIRECT_MAP` mapping and `check_vma_flags()` -EFAULT, as for
    /// secretmem (docs/kernel.md#non-gup). The model's
    /// `Design::refuses_gup()`.
    fn gup_refused(self) -> bool {
        match self {
            Design::Pfnmap | Design::NoDirectMap => true,
            Design::Inplace
            | Design::Wait
            | Design::Split
            | Design::HugeWhole
            | Design::ExclusivePin
            | Design::Hugetlb => false,
        }
    }

    /// Are host PTEs special (VM_PFNMAP: no struct-page refcount, GUP-fast
    /// bails, slow GUP -EFAULT; docs/kernel.md#option-c)? Design
    /// no_direct_map keeps ordinary PTEs that hold references: only GUP is
    /// refused.
    fn special_ptes(self) -> bool {
        match self {
            Design::Pfnmap => true,
            Design::Inplace
            | Design::Wait
            | Design::Split
            | Design::HugeWhole
            | Design::ExclusivePin
            | Design::NoDirectMap
            | Design::Hugetlb => false,
        }
    }

    /// Do guest_memfd folios stay in the kernel's direct map? Not with
    /// `GUEST_MEMFD_FLAG_NO_DIRECT_MAP`: each folio is removed when it is
    /// allocated and restored when it is freed (the posted series'
    /// `kvm_gmem_folio_zap_direct_map()` / `folio_restore_direct_map()`,
    /// docs/kernel.md#non-gup).
    fn direct_map(self) -> bool {
        match self {
            Design::NoDirectMap => false,
            Design::Inplace
            | Design::Wait
            | Design::Split
            | Design::Pfnmap
            | Design::HugeWhole
            | Design::ExclusivePin
            | Design::Hugetlb => true,
        }
    }

    fn busy_policy(self) -> BusyPolicy {
        match self {
            Design::Wait => BusyPolicy::Wait,
            Design::Pfnmap => BusyPolicy::Unchecked,
            Design::Inplace
            | Design::Split
            | Design::HugeWhole
            | Design::ExclusivePin
            | Design::NoDirectMap
            | Design::Hugetlb => BusyPolicy::Fail,
        }
    }

    /// v13's `kvm_gmem_has_outstanding_references()`: a folio that is
    /// `folio_maybe_dma_pinned() || folio_mapped()` is busy at once, without
    /// the LRU drain (docs/kernel.md#conversion-ioctl). No direct map is
    /// v13's conversion on another mapping.
    fn busy_fast_fail(self) -> bool {
        match self {
            Design::Inplace | Design::NoDirectMap => true,
            Design::Wait
            | Design::Split
            | Design::Pfnmap
            | Design::HugeWhole
            | Design::ExclusivePin
            | Design::Hugetlb => false,
        }
    }

    /// v13's typed stage-2 invalidation: to-private zaps only SHARED
    /// entries, to-shared only PRIVATE ones (`kvm_gmem_invalidate_start()`
    /// with `KVM_FILTER_SHARED` / `KVM_FILTER_PRIVATE`). The other designs
    /// encode older series, which zap every type.
    /// Design hugetlb is typed too; its batches build their filter in
    /// `hugetlb_branch.rs` (`convert_batch`), over the batch's range.
    fn typed_invalidation(self) -> bool {
        match self {
            Design::Inplace | Design::NoDirectMap | Design::Hugetlb => true,
            Design::Wait
            | Design::Split
            | Design::Pfnmap
            | Design::HugeWhole
            | Design::ExclusivePin => false,
        }
    }

    /// Design hugetlb has its own layout: fresh huge folios, split or
    /// merged per huge page in the conversion's batches (`hugetlb_branch.rs`).
    fn folio_layout(self) -> FolioLayout {
        match self {
            Design::Split => FolioLayout::SplitOnShare,
            Design::HugeWhole => FolioLayout::WholeGigantic,
            Design::Hugetlb => FolioLayout::HugetlbBatched,
            Design::Inplace
            | Design::Wait
            | Design::Pfnmap
            | Design::ExclusivePin
            | Design::NoDirectMap => FolioLayout::Small,
        }
    }

    /// Backed by gigantic hugetlb pages (and only by them).
    fn huge_backed(self) -> bool {
        self.folio_layout() != FolioLayout::Small
    }

    /// Conversion is donation under an exclusive pin (the RFC), not the v7
    /// unmap-and-check; the VMM's mapping is kept and the kernel does not
    /// consult the attribute on host faults.
    fn exclusive_donation(self) -> bool {
        match self {
            Design::ExclusivePin => true,
            Design::Inplace
            | Design::Wait
            | Design::Split
            | Design::Pfnmap
            | Design::HugeWhole
            | Design::NoDirectMap
            | Design::Hugetlb => false,
        }
    }

    /// 4K page-cache folios go through the per-CPU lru_add batch (v7 keeps
    /// gmem folios on the LRU and drains once, docs/kernel.md#lru-batches); the
    /// guestmem_hugetlb allocator keeps its folios off the LRU (RFC v2 patch 05).
    fn uses_lru(self) -> bool {
        self.folio_layout() == FolioLayout::Small
    }

    /// Safety properties this design violates *by design*, so the debug
    /// check does not flag them: the RFC keeps the VMM's mapping of donated
    /// memory and does not cover FOLL_GET (docs/kernel.md#exclusive-pin-rfc);
    /// the 2026 HugeTLB branch converts one huge page per batch and keeps
    /// the batches before a failing one (docs/kernel.md#hugetlb-2026; gate
    /// row `hugetlb`, docs/findings.md#hugetlb-2026).
    fn known_violations(self) -> &'static [invariants::PropertyId] {
        use invariants::PropertyId::*;
        match self {
            Design::ExclusivePin => &[NoPrivateHostMapping, NoPrivatePin, HostAccessOnlyShared],
            Design::Hugetlb => &[ConversionAtomic],
            Design::Inplace
            | Design::Wait
            | Design::Split
            | Design::Pfnmap
            | Design::HugeWhole
            | Design::NoDirectMap => &[],
        }
    }
}

/// guest_memfd creation flags (uAPI GUEST_MEMFD_FLAG_*).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GmemFlags {
    /// GUEST_MEMFD_FLAG_MMAP (bit 0).
    pub mmap: bool,
    /// GUEST_MEMFD_FLAG_INIT_SHARED (bit 1).
    pub init_shared: bool,
}

/// PAGE_SIZE.
pub const PAGE_SIZE: u64 = 4096;
/// Subpages of a 1 GiB gigantic page.
pub const PAGES_PER_1G: usize = 262_144;

/// Everything needed to create a guest_memfd and its surroundings.
#[derive(Clone, Debug)]
pub struct Config {
    pub design: Design,
    /// File size in pages.
    pub nr_pages: usize,
    pub flags: GmemFlags,
    /// Size in pages of each gigantic page (huge-backed designs only;
    /// design `hugetlb` requires the file size to be a multiple of it, as
    /// `GUEST_MEMFD_FLAG_HUGETLB` requires a huge-aligned size).
    pub pages_per_gigantic: usize,
    /// Size in pages of the VMM's host mapping (default: the file size);
    /// accesses past i_size but inside the mapping SIGBUS (fault_overflow).
    pub map_pages: usize,
    /// Design `wait`: how long to-private waits before -ETIMEDOUT.
    pub wait_timeout: Duration,
    /// Whether new 4K folios go through the per-CPU lru_add batch (default:
    /// [`Design::uses_lru`]); the model's configurations choose.
    pub lru: bool,
    /// Bug switches (`docs/designs.md#bug-switches`): each removes one guard, as in the model.
    pub bugs: Vec<Bug>,
    /// Design `wait`: take the invalidate lock (blocking new faults and so
    /// new slow-path pins) *before* waiting for references to drain (the
    /// default), or wait first, unlocked and still mapped, for each page's
    /// count to come down to its baseline plus its PTEs (the variant the
    /// gate row `wait@busy_pinner_unblocked` shows can wait forever).
    pub block_pins_while_waiting: bool,
    /// Design `exclusive_pin`: the memory is one anonymous THP over the
    /// whole file (the model's case, where the RFC keeps the exclusive bias
    /// in the large folio's `_pincount`) instead of 4K shmem folios (the
    /// default). Its faults are anonymous faults: no invalidate lock.
    pub thp: bool,
    /// VMs bound to the file at creation (1..=`invariants::MAX_VMS`), each
    /// with its own stage-2 and `mmu_invalidate_seq`.
    pub nr_vms: usize,
    /// The read-only module parameter `gmem_in_place_conversion`
    /// (`virt/kvm/guest_memfd.c`, v13): off, `KVM_SET_MEMORY_ATTRIBUTES2`
    /// on the guest_memfd fails with -ENOTTY.
    pub in_place_conversion: bool,
    /// The maple-tree preallocation is a step of its own (`conv.prealloc`),
    /// at which the environment may make it fail (the model's `enomem`);
    /// off, it is part of the lock step. Injected failures
    /// ([`crate::GuestMemFd::inject_prealloc_failure`]) are taken either way.
    pub enomem: bool,
    /// Design `pfnmap` on memory whose pfns `is_invalid_reserved_pfn()`
    /// calls reserved (no struct page, or `PageReserved`): VFIO type1 then
    /// keeps the pfn `follow_pfnmap_start()` found (`vaddr_get_pfns()` in
    /// `drivers/vfio/vfio_iommu_type1.c`), with no reference and no
    /// notifier. Off (the default, page-allocator folios), it refuses them
    /// with -EFAULT. The model's `reserved_pfns`.
    pub reserved_pfns: bool,
}

impl Config {
    pub fn new(design: Design, nr_pages: usize, flags: GmemFlags) -> Config {
        Config {
            design,
            nr_pages,
            flags,
            pages_per_gigantic: nr_pages.max(1),
            map_pages: nr_pages,
            wait_timeout: Duration::from_secs(2),
            lru: design.uses_lru(),
            bugs: Vec::new(),
            block_pins_while_waiting: true,
            thp: false,
            nr_vms: 1,
            in_place_conversion: true,
            enomem: false,
            reserved_pfns: false,
        }
    }

    /// Is bug switch `b` on?
    pub fn has(&self, b: Bug) -> bool {
        self.bugs.contains(&b)
    }

    /// Number of gigantic pages the file needs (0 for 4K designs).
    pub fn nr_gigantic(&self) -> usize {
        if self.design.huge_backed() {
            self.nr_pages.div_ceil(self.pages_per_gigantic.max(1))
        } else {
            0
        }
    }
}

/// The bug switches of `docs/designs.md#bug-switches`: the model's switches (one
/// vocabulary, `invariants::Bug`), each removing the same guard here, at
/// the place its comment names. Only replay and the concurrency harnesses
/// turn them on.
pub use invariants::Bug;

/// Which GUP path a caller takes (the model's `GupPath`): `Auto` is the
/// kernel's choice (GUP-fast first where allowed); `Slow` is a caller that
/// goes straight to `__get_user_pages` (e.g. FOLL_LONGTERM users, or
/// get_user_pages_remote).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum GupPath {
    #[default]
    Auto,
    Slow,
}

/// How a GUP caller asks for a page (docs/kernel.md#gup-references).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PinKind {
    /// FOLL_GET: +1 on the refcount (get_user_pages, vmsplice).
    Get,
    /// FOLL_PIN, short-term (O_DIRECT).
    Pin,
    /// FOLL_PIN | FOLL_LONGTERM (VFIO, RDMA, io_uring fixed buffers).
    Longterm,
    /// FOLL_PIN | FOLL_LONGTERM | FOLL_EXCLUSIVE (RFC only).
    Exclusive,
}

impl PinKind {
    pub fn name(self) -> &'static str {
        match self {
            PinKind::Get => "get",
            PinKind::Pin => "pin",
            PinKind::Longterm => "longterm",
            PinKind::Exclusive => "exclusive",
        }
    }
    pub fn by_name(s: &str) -> Option<PinKind> {
        [
            PinKind::Get,
            PinKind::Pin,
            PinKind::Longterm,
            PinKind::Exclusive,
        ]
        .into_iter()
        .find(|k| k.name() == s)
    }
    /// FOLL_PIN semantics (counts in the pin bias / pincount).
    pub fn is_pin(self) -> bool {
        !matches!(self, PinKind::Get)
    }
}
