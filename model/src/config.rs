//! What to check: the design, the bug switches, the page count, and which
//! actors exist with their scripts. Configuration lives in the model struct,
//! never in the state (states are hashed on every generation, so they stay
//! small; see docs/benchmarks.md).

use serde::{Deserialize, Serialize};
use std::fmt;

pub use invariants::Attr;

pub use invariants::Design;

pub use invariants::Bug;

/// Where the model puts each bug switch (the names and the property each
/// must be caught by live in `invariants::Bug`).
pub trait BugScope {
    /// The designs whose code contains the guard this switch removes.
    fn applies_to(self, d: Design) -> bool;
    /// The design the gate checks this switch on.
    fn default_design(self) -> Design;
}

impl BugScope for Bug {
    fn applies_to(self, d: Design) -> bool {
        use Design::*;
        match self {
            // The refcount check exists where to-private checks references.
            Bug::CheckBeforeUnmap | Bug::PartialFlip => {
                matches!(d, Inplace | Split | HugeWhole | NoDirectMap)
            }
            // The 2026 hugetlb branch's own guards.
            Bug::StoreAfterInvEnd | Bug::HugeMapMixed => d == Hugetlb,
            // The fault's folio reference matters where PTEs hold references.
            Bug::FaultNoRef => matches!(d, Inplace | Wait | Split | HugeWhole | NoDirectMap),
            Bug::GupFastNoRecheck => matches!(d, Inplace | Wait | Split | HugeWhole),
            Bug::GuestCheckBeforeSeq => d.is_gmem(),
            Bug::RestructureNoFreeze | Bug::PunchMergeNoCheck => matches!(d, Split | Hugetlb),
            Bug::PopulateLockOrder => matches!(d, Inplace | Wait | Pfnmap | NoDirectMap),
            // LRU batches hold references on small (non-hugetlb) folios.
            Bug::NoLruDrain => matches!(d, Inplace | Wait | NoDirectMap),
            Bug::ExclusiveCasBias => d == ExclusivePin,
            // v13's typed filter exists in its invalidation only.
            Bug::ZapWrongFilter => matches!(d, Inplace | NoDirectMap),
            // KVM's fault path, the arch hooks, the gmem_file list and the
            // ioctl's copy-out are the same under every guest_memfd design.
            Bug::InstallNoRetry
            | Bug::NoMakeShared
            | Bug::NoReclaimOnFree
            | Bug::InvalidateOneBinding
            | Bug::CopyOutUnderLock => d.is_gmem(),
            Bug::GupFastRecheckBeforeAdd => matches!(d, Inplace | Wait | Split | HugeWhole),
            // The secondary MMU's retry check is the driver's, the same
            // under every guest_memfd design.
            Bug::OdpNoRetry => d.is_gmem(),
        }
    }

    fn default_design(self) -> Design {
        match self {
            Bug::RestructureNoFreeze | Bug::PunchMergeNoCheck => Design::Split,
            Bug::StoreAfterInvEnd | Bug::HugeMapMixed => Design::Hugetlb,
            Bug::ExclusiveCasBias => Design::ExclusivePin,
            _ => Design::Inplace,
        }
    }
}

fn bit(b: Bug) -> u32 {
    1 << (b as u32)
}

/// A set of bug switches.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "Vec<Bug>", from = "Vec<Bug>")]
pub struct BugSet(u32);

impl BugSet {
    pub fn has(self, b: Bug) -> bool {
        self.0 & bit(b) != 0
    }
    pub fn insert(&mut self, b: Bug) {
        self.0 |= bit(b);
    }
    pub fn iter(self) -> impl Iterator<Item = Bug> {
        Bug::ALL.into_iter().filter(move |b| self.has(*b))
    }
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl From<BugSet> for Vec<Bug> {
    fn from(s: BugSet) -> Vec<Bug> {
        s.iter().collect()
    }
}

impl From<Vec<Bug>> for BugSet {
    fn from(v: Vec<Bug>) -> BugSet {
        let mut s = BugSet::default();
        v.into_iter().for_each(|b| s.insert(b));
        s
    }
}

/// One operation of a host process (a VMM thread touching the mmap of the file).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "op", deny_unknown_fields)]
pub enum HostOp {
    Read {
        page: u8,
    },
    Write {
        page: u8,
    },
    /// madvise(MADV_DONTNEED): zap this process's PTE.
    Dontneed {
        page: u8,
    },
}

impl HostOp {
    pub fn page(self) -> u8 {
        match self {
            HostOp::Read { page } | HostOp::Write { page } | HostOp::Dontneed { page } => page,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PinKind {
    /// FOLL_GET (get_user_pages, vmsplice, plain O_DIRECT references).
    Get,
    /// FOLL_PIN, short-term.
    Pin,
    /// FOLL_PIN | FOLL_LONGTERM.
    Longterm,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GupPath {
    /// Lockless GUP-fast first, falling back to the slow path.
    Fast,
    /// The slow path only (mmap_lock, fault in, grab under the PTE lock).
    Slow,
}

/// A GUP user: takes one reference through `proc`'s mapping of `page`,
/// touches the memory (DMA/O_DIRECT), and releases it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PinnerCfg {
    pub kind: PinKind,
    pub path: GupPath,
    pub page: u8,
    /// The process (mm) whose mapping the GUP goes through: 0 or 1. It
    /// needs no script of its own (the GUP faults the page in itself).
    #[serde(default)]
    pub proc: u8,
    /// Never released (a long-term pin the VMM does not drop): not weakly fair.
    #[serde(default)]
    pub hold_forever: bool,
    /// Pins again after releasing, forever (a busy O_DIRECT user).
    #[serde(default)]
    pub repeat: bool,
    /// VFIO type1 (`VFIO_IOMMU_MAP_DMA` -> `vaddr_get_pfns()`): a long-term
    /// pin through `pin_user_pages_remote(FOLL_LONGTERM)`, and where that
    /// fails on a `VM_PFNMAP` VMA, `follow_fault_pfn()` ->
    /// `follow_pfnmap_start()`: the pfn is mapped into the IOMMU with no
    /// reference and no notifier, if `is_invalid_reserved_pfn()` accepts it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub vfio: bool,
}

/// A secondary MMU (the `hmm_range_fault()` pattern: RDMA ODP, a GPU's SVM,
/// KVM's pfncache) mirroring one page of a process's mapping into a device.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SecondaryMmuCfg {
    pub page: u8,
    /// The process whose mm the interval notifier is registered on.
    pub proc: u8,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConvOp {
    pub start: u8,
    pub pages: u8,
    pub to: Attr,
    /// The VMM thread that issues this request: 0 or 1. Each converter
    /// thread runs its own requests in order, concurrently with the other
    /// (a VMM serving several vCPUs' `KVM_EXIT_MEMORY_FAULT` exits issues
    /// `KVM_SET_MEMORY_ATTRIBUTES2` from several threads; ranges may
    /// overlap).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub converter: u8,
}

fn is_zero(x: &u8) -> bool {
    *x == 0
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuestOp {
    pub page: u8,
    /// The fault type (the private bit of the GPA).
    pub access: Attr,
    /// The VM whose vCPU makes this access (each VM bound to the file has
    /// one vCPU actor running its accesses in order).
    #[serde(default)]
    pub vm: u8,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "op", deny_unknown_fields)]
pub enum TruncOp {
    /// fallocate(PUNCH_HOLE | KEEP_SIZE).
    Punch { start: u8, pages: u8 },
    /// The VMM exits: every fd and host mapping of the file goes away.
    Close,
    /// One VM's guest_memfd file is released (`kvm_gmem_release()`): that
    /// VM's stage-2 entries go and its binding is removed; the inode, its
    /// memory and the other VM's binding stay.
    Release { vm: u8 },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PopulateCfg {
    /// The private page being populated (kvm_gmem_populate destination).
    pub dst: u8,
    /// The shared source page, GUPed through process 0's mapping.
    pub src: u8,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpeculativeCfg {
    /// The pfn (subpage) a PFN walker (compaction, memory-failure) try-gets.
    pub page: u8,
    #[serde(default)]
    pub repeat: bool,
}

/// A model configuration: the `config` object of a file under `configs/`
/// (docs/configuration.md), loaded with [`crate::gate::load_file`], then
/// [`Config::validate`]d.
///
/// Serde form: `design` and `pages` are required; every other field has a
/// default (`#[serde(default)]`), so a field added later keeps old files
/// valid; unknown fields are errors (`deny_unknown_fields`), so a typo is
/// never silently ignored.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub design: Design,
    #[serde(default)]
    pub bugs: BugSet,
    pub pages: u8,
    /// GUEST_MEMFD_FLAG_INIT_SHARED: pages start shared.
    #[serde(default = "yes")]
    pub init_shared: bool,
    /// One script per host process (1-2 processes).
    #[serde(default)]
    pub procs: Vec<Vec<HostOp>>,
    #[serde(default)]
    pub pinners: Vec<PinnerCfg>,
    #[serde(default)]
    pub conversions: Vec<ConvOp>,
    /// The VMM retries a failed conversion until it succeeds.
    #[serde(default)]
    pub retry_until_ok: bool,
    #[serde(default)]
    pub guest: Vec<GuestOp>,
    #[serde(default)]
    pub truncate: Option<TruncOp>,
    #[serde(default)]
    pub populate: Option<PopulateCfg>,
    #[serde(default)]
    pub speculative: Option<SpeculativeCfg>,
    /// Fresh small folios sit in a per-CPU lru_add batch holding a reference.
    #[serde(default)]
    pub lru: bool,
    /// Design `wait`: block faults and unmap before waiting (true), or wait for
    /// GUP references to drain while the page stays mapped (false: the
    /// variant where new short-term pins keep arriving).
    #[serde(default = "yes")]
    pub block_pins_while_waiting: bool,
    /// VMs bound to the file (1 or 2), each with its own stage-2 and
    /// `mmu_invalidate_seq`.
    #[serde(default = "one")]
    pub vms: u8,
    /// The maple-tree preallocation of a conversion may fail with -ENOMEM
    /// (an environment choice the checker explores, not a fair one).
    #[serde(default)]
    pub enomem: bool,
    /// The conversion's `struct kvm_memory_attributes2` lives in process 0's
    /// mapping of this guest_memfd page, so copying `error_offset` back is a
    /// user write that may fault into the guest_memfd.
    #[serde(default)]
    pub attrs_arg_page: Option<u8>,
    /// Memory failure hits this page once (`kvm_gmem_error_folio()`).
    #[serde(default)]
    pub memory_failure: Option<u8>,
    /// A secondary MMU mirrors one page into a device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secondary_mmu: Option<SecondaryMmuCfg>,
    /// Design pfnmap only: the memory has no struct pages, or they are
    /// `PageReserved` (a `mem=`/`memmap=` carve-out handed to guest_memfd),
    /// so `is_invalid_reserved_pfn()` is true and VFIO type1 accepts the
    /// pfns of a `VM_PFNMAP` mapping. With ordinary page-allocator folios
    /// it is false and `vaddr_get_pfns()` returns -EFAULT.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reserved_pfns: bool,
}

fn one() -> u8 {
    1
}

fn yes() -> bool {
    true
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for ConfigError {}

pub const MAX_PAGES: usize = 8;
pub const MAX_PROCS: usize = 2;
pub const MAX_PINNERS: usize = 3;
pub const MAX_GUEST_OPS: usize = 4;
pub const MAX_CONVERSIONS: usize = 4;
/// Converter threads (`ConvOp::converter`).
pub const MAX_CONVERTERS: usize = 2;
pub const MAX_HOST_OPS: usize = 4;

impl Config {
    /// A configuration of a design with no actor at all: the caller adds
    /// them (`crate::seq` drives one by hand; a configuration file with no
    /// actor is rejected by [`Config::validate_work`]).
    pub fn empty(design: Design, pages: u8) -> Config {
        Config {
            design,
            bugs: BugSet::default(),
            pages,
            init_shared: true,
            procs: vec![],
            pinners: vec![],
            conversions: vec![],
            retry_until_ok: false,
            guest: vec![],
            truncate: None,
            populate: None,
            speculative: None,
            lru: false,
            block_pins_while_waiting: true,
            vms: 1,
            enomem: false,
            attrs_arg_page: None,
            memory_failure: None,
            secondary_mmu: None,
            reserved_pfns: false,
        }
    }

    /// Resize to `n` pages: requests and punches that covered the whole file
    /// keep covering it. Errors if the result is invalid.
    pub fn with_pages(mut self, n: u8) -> Result<Config, ConfigError> {
        let old = self.pages;
        if n == 0 || n as usize > MAX_PAGES {
            return Err(ConfigError(format!(
                "pages must be 1..={MAX_PAGES}, got {n}"
            )));
        }
        for c in &mut self.conversions {
            if c.start == 0 && c.pages == old {
                c.pages = n;
            }
        }
        if let Some(TruncOp::Punch { start: 0, pages }) = &mut self.truncate {
            if *pages == old {
                *pages = n;
            }
        }
        self.pages = n;
        self.validate()?;
        Ok(self)
    }

    /// The converter threads with at least one request (0, or 0 and 1).
    pub fn converters(&self) -> impl Iterator<Item = u8> + '_ {
        (0..MAX_CONVERTERS as u8).filter(|&k| self.conversions.iter().any(|c| c.converter == k))
    }

    /// Converter thread `k`'s requests, in order.
    pub fn conversions_of(&self, k: u8) -> impl Iterator<Item = &ConvOp> + '_ {
        self.conversions.iter().filter(move |c| c.converter == k)
    }

    pub fn with_bug(mut self, bug: Bug) -> Config {
        self.bugs.insert(bug);
        self
    }

    pub fn has(&self, bug: Bug) -> bool {
        self.bugs.has(bug)
    }

    /// Checks every field. The error starts with the field's path in the
    /// file's `config` object (`pinners[1].page: ...`) and says what is
    /// allowed. A configuration that leaves an actor or a switch with nothing
    /// to do is an error too: it would check less than it seems to.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let err = |m: String| Err(ConfigError(m));
        let n = self.pages as usize;
        if n == 0 || n > MAX_PAGES {
            return err(format!("pages: must be 1..={MAX_PAGES}, got {n}"));
        }
        let page_ok = |field: String, page: u8| -> Result<(), ConfigError> {
            if page as usize >= n {
                return err(format!(
                    "{field}: page {page} is out of range: pages is {n}, so 0..={}",
                    n - 1
                ));
            }
            Ok(())
        };
        for (i, b) in self.bugs.iter().enumerate() {
            if !b.applies_to(self.design) {
                return err(format!(
                    "bugs[{i}]: bug switch '{b}' does not apply to design '{}' (it applies to: {})",
                    self.design,
                    Design::ALL
                        .into_iter()
                        .filter(|d| b.applies_to(*d))
                        .map(|d| d.name())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        }
        if self.procs.len() > MAX_PROCS {
            return err(format!(
                "procs: at most {MAX_PROCS} host processes, got {}",
                self.procs.len()
            ));
        }
        for (p, ops) in self.procs.iter().enumerate() {
            if ops.len() > MAX_HOST_OPS {
                return err(format!(
                    "procs[{p}]: at most {MAX_HOST_OPS} operations, got {}",
                    ops.len()
                ));
            }
            for (j, op) in ops.iter().enumerate() {
                page_ok(format!("procs[{p}][{j}].page"), op.page())?;
            }
        }
        if self.pinners.len() > MAX_PINNERS {
            return err(format!(
                "pinners: at most {MAX_PINNERS} GUP users, got {}",
                self.pinners.len()
            ));
        }
        for (i, pin) in self.pinners.iter().enumerate() {
            page_ok(format!("pinners[{i}].page"), pin.page)?;
            if pin.proc as usize >= MAX_PROCS {
                return err(format!(
                    "pinners[{i}].proc: process {} out of range 0..={}",
                    pin.proc,
                    MAX_PROCS - 1
                ));
            }
            if pin.hold_forever && pin.repeat {
                return err(format!(
                    "pinners[{i}]: hold_forever and repeat exclude each other (a reference held forever is never taken again)"
                ));
            }
        }
        if self.conversions.len() > MAX_CONVERSIONS {
            return err(format!(
                "conversions: at most {MAX_CONVERSIONS} conversions, got {}",
                self.conversions.len()
            ));
        }
        for (i, c) in self.conversions.iter().enumerate() {
            if c.pages == 0 || c.start as usize + c.pages as usize > n {
                return err(format!(
                    "conversions[{i}]: range start {} + pages {} is empty or outside the file's 0..{n}",
                    c.start, c.pages
                ));
            }
            if c.converter as usize >= MAX_CONVERTERS {
                return err(format!(
                    "conversions[{i}].converter: thread {} out of range 0..={}",
                    c.converter,
                    MAX_CONVERTERS - 1
                ));
            }
        }
        if self.guest.len() > MAX_GUEST_OPS {
            return err(format!(
                "guest: at most {MAX_GUEST_OPS} vCPU accesses, got {}",
                self.guest.len()
            ));
        }
        if self.vms == 0 || self.vms as usize > invariants::MAX_VMS {
            return err(format!(
                "vms: must be 1..={}, got {}",
                invariants::MAX_VMS,
                self.vms
            ));
        }
        for (k, g) in self.guest.iter().enumerate() {
            page_ok(format!("guest[{k}].page"), g.page)?;
            if g.vm >= self.vms {
                return err(format!(
                    "guest[{k}].vm: VM {} is not bound (vms = {}, allowed 0..{})",
                    g.vm, self.vms, self.vms
                ));
            }
        }
        if let Some(TruncOp::Release { vm }) = self.truncate {
            if vm >= self.vms {
                return err(format!(
                    "truncate.release.vm: VM {vm} is not bound (vms = {})",
                    self.vms
                ));
            }
        }
        if let Some(p) = self.attrs_arg_page {
            page_ok("attrs_arg_page".into(), p)?;
            if self.conversions.is_empty() {
                return err("attrs_arg_page: no conversion copies anything out".into());
            }
        }
        if let Some(p) = self.memory_failure {
            page_ok("memory_failure".into(), p)?;
        }
        if let Some(d) = self.secondary_mmu {
            if d.page as usize >= n {
                return err(format!(
                    "secondary_mmu.page: {} out of range 0..{n}",
                    d.page
                ));
            }
            if d.proc as usize >= MAX_PROCS {
                return err(format!(
                    "secondary_mmu.proc: process {} out of range",
                    d.proc
                ));
            }
            if !self.design.is_gmem() {
                return err(
                    "secondary_mmu: design exclusive_pin models anonymous memory, mirrored by nothing here".into(),
                );
            }
        }
        if self.reserved_pfns && self.design != Design::Pfnmap {
            return err("reserved_pfns is a variant of design pfnmap only".into());
        }
        if self.enomem && self.conversions.is_empty() {
            return err("enomem: no conversion preallocates anything".into());
        }
        if !self.design.is_gmem()
            && (self.vms > 1
                || self.enomem
                || self.attrs_arg_page.is_some()
                || self.memory_failure.is_some())
        {
            return err(format!(
                "design {} models anonymous memory: vms, enomem, attrs_arg_page and memory_failure are guest_memfd features",
                self.design
            ));
        }
        if self.design == Design::Hugetlb {
            if n != 2 && n != 4 {
                return err(format!(
                    "design hugetlb has one or two gigantic pages of two subpages: pages must be 2 or 4, got {n}"
                ));
            }
            if self.init_shared {
                return err(
                    "design hugetlb: GUEST_MEMFD_FLAG_HUGETLB | INIT_SHARED is -EINVAL (init_shared must be false)"
                        .into(),
                );
            }
            if self.populate.is_some() || self.memory_failure.is_some() || self.lru {
                return err(
                    "design hugetlb models no populate, memory failure or LRU batch".into(),
                );
            }
        }
        if let Some(TruncOp::Punch { start, pages }) = self.truncate {
            if pages == 0 || start as usize + pages as usize > n {
                return err(format!(
                    "truncate: punch range start {start} + pages {pages} is empty or outside the file's 0..{n}"
                ));
            }
            if self.design == Design::Hugetlb && (start % 2 != 0 || pages % 2 != 0 || pages > 2) {
                return err(
                    "design hugetlb punches one whole huge page (fallocate() -EINVAL when unaligned)".into(),
                );
            }
            if self.design == Design::Split && (start != 0 || pages as usize != n) {
                return err(format!(
                    "truncate: design split punches whole gigantic pages only (hugetlb alignment): start 0, pages {n}"
                ));
            }
        }
        if let Some(p) = self.populate {
            page_ok("populate.dst".into(), p.dst)?;
            page_ok("populate.src".into(), p.src)?;
            if p.dst == p.src {
                return err("populate: dst and src must be distinct pages".into());
            }
            if !self.design.is_gmem() {
                return err(format!(
                    "populate: kvm_gmem_populate() exists only for guest_memfd designs, not '{}'",
                    self.design
                ));
            }
        }
        if let Some(s) = self.speculative {
            page_ok("speculative.page".into(), s.page)?;
        }
        if self.design == Design::ExclusivePin {
            if self.truncate.is_some() {
                return err(
                    "truncate: design exclusive_pin models anonymous memory: no punch or close"
                        .into(),
                );
            }
            if self.populate.is_some() {
                return err("populate: design exclusive_pin models anonymous memory: no kvm_gmem_populate()".into());
            }
            if !self.guest.is_empty() {
                return err(
                    "guest: design exclusive_pin models anonymous memory: no guest_memfd faults"
                        .into(),
                );
            }
            if let Some(i) = self.conversions.iter().position(|c| c.pages != 1) {
                return err(format!("conversions[{i}].pages: design exclusive_pin donates one page per conversion (one exclusive pin per folio): must be 1"));
            }
            let page_of = |k: u8| self.conversions_of(k).map(|c| c.start).collect::<Vec<_>>();
            if let Some(p) = page_of(1).into_iter().find(|p| page_of(0).contains(p)) {
                return err(format!("conversions: design exclusive_pin: both converter threads donate page {p} (a donated page's exclusive pin belongs to the thread that took it: give each thread its own pages)"));
            }
        }
        if !self.block_pins_while_waiting && self.design != Design::Wait {
            return err(format!(
                "block_pins_while_waiting: false is a variant of design wait only, not '{}'",
                self.design
            ));
        }
        Ok(())
    }

    /// Every actor and every switch of the configuration has something to
    /// do: an empty process script, a bug switch whose guard no actor here
    /// reaches, a populate that can only fail, or a flag with no effect on
    /// this design is an error, not a silent no-op. Checked for every
    /// configuration file ([`crate::gate::parse`]); [`Config::validate`]
    /// checks only what the model needs (the sequential machine of
    /// `crate::seq` scripts no actor, and is valid).
    pub fn validate_work(&self) -> Result<(), ConfigError> {
        self.validate()?;
        let err = |m: String| Err(ConfigError(m));
        if self.conversions.is_empty()
            && self.procs.is_empty()
            && self.pinners.is_empty()
            && self.guest.is_empty()
            && self.truncate.is_none()
            && self.populate.is_none()
            && self.speculative.is_none()
            && self.memory_failure.is_none()
            && self.secondary_mmu.is_none()
        {
            return err("no actor: add at least one of conversions, procs, pinners, guest, truncate, populate, speculative, memory_failure, secondary_mmu".into());
        }
        if self.vms > 1 && !self.guest.iter().any(|g| g.vm > 0) && self.truncate.is_none() {
            return err(format!(
                "vms: {} VMs are bound but only VM 0 has a vCPU and no release: the second binding changes nothing (give a guest access \"vm\": 1, or a truncate)",
                self.vms
            ));
        }
        for (i, b) in self.bugs.iter().enumerate() {
            if let Some(why) = self.bug_without_effect(b) {
                return err(format!(
                    "bugs[{i}]: bug switch '{b}' changes nothing here: {why}"
                ));
            }
        }
        for (p, ops) in self.procs.iter().enumerate() {
            if ops.is_empty() {
                return err(format!(
                    "procs[{p}]: empty script: a host process needs 1..={MAX_HOST_OPS} operations \
                 (read, write, dontneed); a GUP user needs no script for its process"
                ));
            }
        }
        if self.conversions.iter().any(|c| c.converter > 0)
            && !self.conversions.iter().any(|c| c.converter == 0)
        {
            return err(
                "conversions: every request names converter 1 and none converter 0 (one converter thread is converter 0; give the second thread's requests \"converter\": 1)"
                    .into(),
            );
        }
        if self.retry_until_ok && self.conversions.is_empty() {
            return err(
                "retry_until_ok: true but there is no conversion to retry (add one to conversions)"
                    .into(),
            );
        }
        if let Some(p) = self.populate {
            // The destination must be private when populate copies (else
            // -EINVAL): with every page shared and nothing converting dst to
            // private, populate can only fail.
            let dst_private = !self.init_shared
                || self.conversions.iter().any(|c| {
                    c.to == Attr::Private && c.start <= p.dst && p.dst < c.start + c.pages
                });
            if !dst_private {
                return err(format!(
                    "populate.dst: page {} is never private (init_shared is true and no conversion makes it private), so populate can only fail with -EINVAL",
                    p.dst
                ));
            }
        }
        if self.lru && self.design.is_huge() {
            return err(format!(
                "lru: design '{}' backs the file with hugetlb folios, which are never in an LRU batch (lru is for the designs with small folios: inplace, wait, pfnmap, exclusive_pin)",
                self.design
            ));
        }
        Ok(())
    }

    /// Why bug switch `b` cannot change any behaviour of this configuration:
    /// the guard it removes is on a path no actor here takes.
    fn bug_without_effect(&self, b: Bug) -> Option<&'static str> {
        let no_conv = self.conversions.is_empty();
        match b {
            Bug::CheckBeforeUnmap
            | Bug::PartialFlip
            | Bug::RestructureNoFreeze
            | Bug::ExclusiveCasBias
                if no_conv =>
            {
                Some("it changes the conversion, and conversions is empty")
            }
            Bug::NoLruDrain if !self.lru => Some(
                "it skips lru_add_drain_all(), and lru is false (no LRU batch holds a reference)",
            ),
            Bug::NoLruDrain if no_conv => {
                Some("it changes the conversion, and conversions is empty")
            }
            Bug::GuestCheckBeforeSeq if self.guest.is_empty() => {
                Some("it changes the vCPU's fault, and guest is empty")
            }
            Bug::PopulateLockOrder if self.populate.is_none() => {
                Some("it changes kvm_gmem_populate(), and populate is absent")
            }
            Bug::PunchMergeNoCheck if !matches!(self.truncate, Some(TruncOp::Punch { .. })) => {
                Some("it changes the punch, and truncate is not a punch")
            }
            Bug::GupFastNoRecheck | Bug::GupFastRecheckBeforeAdd
                if !self.pinners.iter().any(|p| p.path == GupPath::Fast) =>
            {
                Some("it changes GUP-fast, and no pinner has path fast")
            }
            Bug::ZapWrongFilter | Bug::NoMakeShared if no_conv => {
                Some("it changes the conversion, and conversions is empty")
            }
            Bug::InstallNoRetry if self.guest.is_empty() => {
                Some("it changes the vCPU's fault, and guest is empty")
            }
            Bug::InvalidateOneBinding if self.vms < 2 => {
                Some("it skips the second VM's invalidation, and vms is 1")
            }
            Bug::NoReclaimOnFree
                if !matches!(self.truncate, Some(TruncOp::Punch { .. } | TruncOp::Close)) =>
            {
                Some("it changes the free of a folio, and no punch or close frees one")
            }
            Bug::OdpNoRetry if self.secondary_mmu.is_none() => {
                Some("it changes the secondary MMU's mapping, and secondary_mmu is absent")
            }
            Bug::CopyOutUnderLock if self.attrs_arg_page.is_none() => Some(
                "it moves the copy-out of error_offset, and attrs_arg_page is absent (the argument is not in the guest_memfd mapping)",
            ),
            _ => None,
        }
    }

    /// A short label: design or design+bug.
    pub fn label(&self) -> String {
        let mut s = self.design.name().to_string();
        for b in self.bugs.iter() {
            s.push('+');
            s.push_str(b.name());
        }
        s
    }
}
