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
                matches!(d, Inplace | Split | HugeWhole)
            }
            // The 2026 hugetlb branch's own guards.
            Bug::StoreAfterInvEnd | Bug::HugeMapMixed => d == Hugetlb,
            // The fault's folio reference matters where PTEs hold references.
            Bug::FaultNoRef => matches!(d, Inplace | Wait | Split | HugeWhole),
            Bug::GupFastNoRecheck => matches!(d, Inplace | Wait | Split | HugeWhole),
            Bug::GuestCheckBeforeSeq => d.is_gmem(),
            Bug::RestructureNoFreeze | Bug::PunchMergeNoCheck => matches!(d, Split | Hugetlb),
            Bug::PopulateLockOrder => matches!(d, Inplace | Wait | Pfnmap),
            // LRU batches hold references on small (non-hugetlb) folios.
            Bug::NoLruDrain => matches!(d, Inplace | Wait),
            Bug::ExclusiveCasBias => d == ExclusivePin,
            // v13's typed filter exists in its invalidation only.
            Bug::ZapWrongFilter => d == Inplace,
            // KVM's fault path, the arch hooks, the gmem_file list and the
            // ioctl's copy-out are the same under every guest_memfd design.
            Bug::InstallNoRetry
            | Bug::NoMakeShared
            | Bug::NoReclaimOnFree
            | Bug::InvalidateOneBinding
            | Bug::CopyOutUnderLock => d.is_gmem(),
            Bug::GupFastRecheckBeforeAdd => matches!(d, Inplace | Wait | Split | HugeWhole),
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
#[serde(rename_all = "snake_case", tag = "op")]
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
pub struct PinnerCfg {
    pub kind: PinKind,
    pub path: GupPath,
    pub page: u8,
    pub proc: u8,
    /// Never released (a long-term pin the VMM does not drop): not weakly fair.
    #[serde(default)]
    pub hold_forever: bool,
    /// Pins again after releasing, forever (a busy O_DIRECT user).
    #[serde(default)]
    pub repeat: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ConvOp {
    pub start: u8,
    pub pages: u8,
    pub to: Attr,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
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
#[serde(rename_all = "snake_case", tag = "op")]
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
pub struct PopulateCfg {
    /// The private page being populated (kvm_gmem_populate destination).
    pub dst: u8,
    /// The shared source page, GUPed through process 0's mapping.
    pub src: u8,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SpeculativeCfg {
    /// The pfn (subpage) a PFN walker (compaction, memory-failure) try-gets.
    pub page: u8,
    #[serde(default)]
    pub repeat: bool,
}

/// A model configuration. Build with [`Config::for_design`] / [`Config::for_bug`]
/// and adjust, then [`Config::validate`].
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Config {
    pub design: Design,
    pub bugs: BugSet,
    pub pages: u8,
    /// GUEST_MEMFD_FLAG_INIT_SHARED: pages start shared.
    pub init_shared: bool,
    /// One script per host process (1-2 processes).
    pub procs: Vec<Vec<HostOp>>,
    pub pinners: Vec<PinnerCfg>,
    pub conversions: Vec<ConvOp>,
    /// The VMM retries a failed conversion until it succeeds.
    pub retry_until_ok: bool,
    pub guest: Vec<GuestOp>,
    pub truncate: Option<TruncOp>,
    pub populate: Option<PopulateCfg>,
    pub speculative: Option<SpeculativeCfg>,
    /// Fresh small folios sit in a per-CPU lru_add batch holding a reference.
    pub lru: bool,
    /// Design `wait`: block faults and unmap before waiting (true), or wait for
    /// GUP references to drain while the page stays mapped (false: the
    /// variant where new short-term pins keep arriving).
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
}

fn one() -> u8 {
    1
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
pub const MAX_HOST_OPS: usize = 4;

impl Config {
    fn empty(design: Design, pages: u8) -> Config {
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
        }
    }

    /// The gate configuration of a design: two pages, every actor that the
    /// design's safety argument depends on, small budgets.
    pub fn for_design(design: Design) -> Config {
        let mut c = Config::empty(design, 2);
        let whole = |to| ConvOp {
            start: 0,
            pages: 2,
            to,
        };
        let pin = |kind, path, page, proc| PinnerCfg {
            kind,
            path,
            page,
            proc,
            hold_forever: false,
            repeat: false,
        };
        match design {
            Design::Inplace | Design::Wait | Design::Pfnmap | Design::HugeWhole => {
                // A VMM process, a GUP-fast user and a slow long-term pinner
                // (short-term under `wait`, which refuses long-term pins), a
                // vCPU faulting both ways, a punch and LRU batching racing a
                // to-private then a to-shared conversion of both pages.
                c.procs = vec![vec![HostOp::Write { page: 0 }]];
                let long = if design == Design::Wait {
                    PinKind::Pin
                } else {
                    PinKind::Longterm
                };
                c.pinners = vec![
                    pin(PinKind::Get, GupPath::Fast, 0, 0),
                    pin(long, GupPath::Slow, 1, 0),
                ];
                c.conversions = vec![whole(Attr::Private), whole(Attr::Shared)];
                c.guest = vec![
                    GuestOp {
                        page: 0,
                        access: Attr::Private,
                        vm: 0,
                    },
                    GuestOp {
                        page: 1,
                        access: Attr::Shared,
                        vm: 0,
                    },
                ];
                c.truncate = Some(TruncOp::Punch { start: 1, pages: 1 });
                c.lru = matches!(design, Design::Inplace | Design::Wait);
                // v13's maple-tree preallocation may fail (-ENOMEM).
                c.enomem = design == Design::Inplace;
            }
            Design::Split => {
                c.procs = vec![vec![HostOp::Write { page: 1 }]];
                c.pinners = vec![
                    pin(PinKind::Pin, GupPath::Fast, 0, 0),
                    pin(PinKind::Longterm, GupPath::Slow, 1, 0),
                ];
                c.conversions = vec![whole(Attr::Private), whole(Attr::Shared)];
                c.guest = vec![GuestOp {
                    page: 0,
                    access: Attr::Private,
                    vm: 0,
                }];
                c.speculative = Some(SpeculativeCfg {
                    page: 0,
                    repeat: false,
                });
            }
            Design::Hugetlb => c = Config::hugetlb_gate(),
            Design::ExclusivePin => {
                c.procs = vec![vec![HostOp::Write { page: 0 }]];
                c.pinners = vec![
                    pin(PinKind::Pin, GupPath::Fast, 0, 0),
                    pin(PinKind::Get, GupPath::Slow, 0, 0),
                ];
                c.conversions = vec![
                    ConvOp {
                        start: 0,
                        pages: 1,
                        to: Attr::Private,
                    },
                    ConvOp {
                        start: 0,
                        pages: 1,
                        to: Attr::Shared,
                    },
                ];
            }
        }
        c
    }

    /// The gate configuration of a bug switch on its default design: the
    /// actors that the removed guard protects against.
    pub fn for_bug(bug: Bug) -> Config {
        let design = bug.default_design();
        let mut c = Config::empty(design, 2);
        c.bugs.insert(bug);
        let to_private = |start, pages| ConvOp {
            start,
            pages,
            to: Attr::Private,
        };
        let pinner = |kind, path, page| PinnerCfg {
            kind,
            path,
            page,
            proc: 0,
            hold_forever: false,
            repeat: false,
        };
        let guest = |page, access, vm| GuestOp { page, access, vm };
        match bug {
            Bug::CheckBeforeUnmap | Bug::GupFastNoRecheck => {
                c.pages = 1;
                c.procs = vec![vec![HostOp::Read { page: 0 }]];
                c.pinners = vec![pinner(PinKind::Pin, GupPath::Fast, 0)];
                c.conversions = vec![to_private(0, 1)];
            }
            Bug::FaultNoRef => {
                c.pages = 1;
                c.procs = vec![vec![HostOp::Write { page: 0 }]];
                c.conversions = vec![to_private(0, 1)];
            }
            Bug::GuestCheckBeforeSeq => {
                c.pages = 1;
                c.guest = vec![
                    GuestOp {
                        page: 0,
                        access: Attr::Shared,
                        vm: 0,
                    },
                    GuestOp {
                        page: 0,
                        access: Attr::Private,
                        vm: 0,
                    },
                ];
                c.conversions = vec![to_private(0, 1)];
            }
            Bug::RestructureNoFreeze => {
                c.procs = vec![vec![HostOp::Read { page: 0 }]];
                c.conversions = vec![to_private(0, 2)];
                c.speculative = Some(SpeculativeCfg {
                    page: 0,
                    repeat: false,
                });
            }
            Bug::PunchMergeNoCheck => {
                c.pinners = vec![pinner(PinKind::Longterm, GupPath::Slow, 1)];
                c.truncate = Some(TruncOp::Punch { start: 0, pages: 2 });
            }
            Bug::PartialFlip => {
                c.pinners = vec![pinner(PinKind::Longterm, GupPath::Slow, 1)];
                c.conversions = vec![to_private(0, 2)];
            }
            Bug::PopulateLockOrder => {
                c.init_shared = false;
                c.conversions = vec![ConvOp {
                    start: 1,
                    pages: 1,
                    to: Attr::Shared,
                }];
                // The VMM reads the source once it is shared: in orders where
                // populate runs first its source is unmapped and the GUP must
                // fault, which is where the old lock order deadlocks.
                c.procs = vec![vec![HostOp::Read { page: 1 }]];
                c.populate = Some(PopulateCfg { dst: 0, src: 1 });
            }
            Bug::NoLruDrain => {
                c.pages = 1;
                c.lru = true;
                c.procs = vec![vec![HostOp::Write { page: 0 }]];
                c.conversions = vec![to_private(0, 1)];
                c.retry_until_ok = true;
            }
            Bug::ExclusiveCasBias => {
                c = Config::for_design(Design::ExclusivePin);
                c.bugs.insert(bug);
                c.pinners.truncate(1);
            }
            Bug::ZapWrongFilter => {
                // The vCPU maps the shared page, then the VMM converts it.
                c.pages = 1;
                c.guest = vec![guest(0, Attr::Shared, 0), guest(0, Attr::Private, 0)];
                c.conversions = vec![to_private(0, 1)];
            }
            Bug::InstallNoRetry | Bug::NoReclaimOnFree => {
                // A private page faulted in by the vCPU races a punch.
                c.pages = 1;
                c.init_shared = false;
                c.guest = vec![guest(0, Attr::Private, 0)];
                c.truncate = Some(TruncOp::Punch { start: 0, pages: 1 });
            }
            Bug::NoMakeShared => {
                // The vCPU makes the page hardware-private; the VMM converts
                // it to shared and touches it.
                c.pages = 1;
                c.init_shared = false;
                c.guest = vec![guest(0, Attr::Private, 0)];
                c.conversions = vec![ConvOp {
                    start: 0,
                    pages: 1,
                    to: Attr::Shared,
                }];
                c.procs = vec![vec![HostOp::Write { page: 0 }]];
            }
            Bug::InvalidateOneBinding => {
                // The second VM maps the shared page; the VMM converts it.
                c.pages = 1;
                c.vms = 2;
                c.guest = vec![guest(0, Attr::Shared, 1), guest(0, Attr::Private, 1)];
                c.conversions = vec![to_private(0, 1)];
            }
            Bug::GupFastRecheckBeforeAdd => {
                c.pages = 1;
                c.procs = vec![vec![HostOp::Read { page: 0 }]];
                c.pinners = vec![pinner(PinKind::Pin, GupPath::Fast, 0)];
                c.conversions = vec![to_private(0, 1)];
            }
            Bug::StoreAfterInvEnd => {
                // One huge page, private (HUGETLB excludes INIT_SHARED): the
                // VMM converts subpage 1 to shared while the vCPU faults it
                // private.
                c = Config::hugetlb_empty(2);
                c.bugs.insert(bug);
                c.conversions = vec![ConvOp {
                    start: 1,
                    pages: 1,
                    to: Attr::Shared,
                }];
                c.guest = vec![guest(1, Attr::Private, 0)];
            }
            Bug::HugeMapMixed => {
                c = Config::hugetlb_mixed_race();
                c.bugs.insert(bug);
            }
            Bug::CopyOutUnderLock => {
                // The ioctl's argument lives in page 0 of the guest_memfd
                // mapping, which the VMM may not have touched yet;
                // converting page 1 fails, -EAGAIN while the VMM touches it
                // or -ENOMEM.
                c.procs = vec![vec![HostOp::Write { page: 0 }, HostOp::Write { page: 1 }]];
                c.conversions = vec![to_private(1, 1)];
                c.enomem = true;
                c.attrs_arg_page = Some(0);
            }
        }
        c
    }

    /// Design hugetlb without actors: `pages` file pages (2 or 4, one or
    /// two gigantic pages), private at creation (the branch refuses
    /// GUEST_MEMFD_FLAG_HUGETLB | INIT_SHARED with -EINVAL).
    pub fn hugetlb_empty(pages: u8) -> Config {
        let mut c = Config::empty(Design::Hugetlb, pages);
        c.init_shared = false;
        c
    }

    /// Design hugetlb's gate configuration (questions 1 and 2 of issue 13):
    /// four pages in two gigantic pages; the VMM converts subpages 1 and 2
    /// (one in each huge page) to shared, then the whole file to private
    /// (two batches); a slow long-term pinner on subpage 2; the vCPU
    /// faults subpage 1 shared and subpage 0 private; a VMM thread writes
    /// subpage 1; huge page 1 is punched.
    pub fn hugetlb_gate() -> Config {
        let mut c = Config::hugetlb_empty(4);
        c.conversions = vec![
            ConvOp {
                start: 1,
                pages: 2,
                to: Attr::Shared,
            },
            ConvOp {
                start: 0,
                pages: 4,
                to: Attr::Private,
            },
        ];
        c.pinners = vec![PinnerCfg {
            kind: PinKind::Longterm,
            path: GupPath::Slow,
            page: 2,
            proc: 0,
            hold_forever: false,
            repeat: false,
        }];
        c.guest = vec![
            GuestOp {
                page: 1,
                access: Attr::Shared,
                vm: 0,
            },
            GuestOp {
                page: 0,
                access: Attr::Private,
                vm: 0,
            },
        ];
        // A VMM thread writes subpage 1; huge page 1 is punched (-EAGAIN
        // while subpage 2 is pinned).
        c.procs = vec![vec![HostOp::Write { page: 1 }]];
        c.truncate = Some(TruncOp::Punch { start: 2, pages: 2 });
        c
    }

    /// Design hugetlb, the fresh-folio split race (question 3): subpage 0
    /// is converted to shared while gigantic page 0 is still in the pool,
    /// so its first fault allocates a huge folio over a mixed range and
    /// splits it in the fault path under the shared lock; a VMM thread
    /// faults subpage 0 and the vCPU faults subpage 1 private meanwhile.
    pub fn hugetlb_mixed_race() -> Config {
        let mut c = Config::hugetlb_empty(4);
        c.conversions = vec![ConvOp {
            start: 0,
            pages: 1,
            to: Attr::Shared,
        }];
        c.procs = vec![vec![HostOp::Write { page: 0 }]];
        c.guest = vec![GuestOp {
            page: 1,
            access: Attr::Private,
            vm: 0,
        }];
        c
    }

    /// The configuration `check --design D --bug B...` runs: the first bug's
    /// gate configuration moved to design D (or the bug's default design), or
    /// D's own gate configuration without bugs. Errors name the bad flag.
    pub fn from_flags(design: Option<Design>, bugs: &[Bug]) -> Result<Config, ConfigError> {
        let mut c = match (design, bugs.first()) {
            (None, None) => Config::for_design(Design::Inplace),
            (Some(d), None) => Config::for_design(d),
            (d, Some(&b)) => {
                let d = d.unwrap_or(b.default_design());
                if !b.applies_to(d) {
                    return Err(ConfigError(format!(
                        "bug switch '{b}' does not apply to design '{d}'"
                    )));
                }
                let mut c = Config::for_bug(b);
                if c.design != d {
                    // The bug's scenario on another design that has the guard.
                    let base = Config::for_design(d);
                    c.design = d;
                    if d == Design::ExclusivePin {
                        c = base.with_bug(b);
                    }
                }
                c
            }
        };
        for &b in bugs {
            c.bugs.insert(b);
        }
        c.validate()?;
        Ok(c)
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

    pub fn with_bug(mut self, bug: Bug) -> Config {
        self.bugs.insert(bug);
        self
    }

    pub fn has(&self, bug: Bug) -> bool {
        self.bugs.has(bug)
    }

    /// Checks every field; the error names what is wrong.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let err = |m: String| Err(ConfigError(m));
        let n = self.pages as usize;
        if n == 0 || n > MAX_PAGES {
            return err(format!("pages must be 1..={MAX_PAGES}, got {n}"));
        }
        for b in self.bugs.iter() {
            if !b.applies_to(self.design) {
                return err(format!(
                    "bug switch '{b}' does not apply to design '{}' (it applies to: {})",
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
                "at most {MAX_PROCS} host processes, got {}",
                self.procs.len()
            ));
        }
        for (p, ops) in self.procs.iter().enumerate() {
            if ops.len() > MAX_HOST_OPS {
                return err(format!("process {p}: at most {MAX_HOST_OPS} operations"));
            }
            for op in ops {
                if op.page() as usize >= n {
                    return err(format!(
                        "process {p}: page {} out of range 0..{n}",
                        op.page()
                    ));
                }
            }
        }
        if self.pinners.len() > MAX_PINNERS {
            return err(format!(
                "at most {MAX_PINNERS} GUP pinners, got {}",
                self.pinners.len()
            ));
        }
        for (i, pin) in self.pinners.iter().enumerate() {
            if pin.page as usize >= n {
                return err(format!("pinner {i}: page {} out of range 0..{n}", pin.page));
            }
            if pin.proc as usize >= MAX_PROCS {
                return err(format!("pinner {i}: process {} out of range", pin.proc));
            }
            if pin.hold_forever && pin.repeat {
                return err(format!(
                    "pinner {i}: hold_forever and repeat exclude each other"
                ));
            }
        }
        if self.conversions.len() > MAX_CONVERSIONS {
            return err(format!("at most {MAX_CONVERSIONS} conversions"));
        }
        for (i, c) in self.conversions.iter().enumerate() {
            if c.pages == 0 || c.start as usize + c.pages as usize > n {
                return err(format!(
                    "conversion {i}: range {}..{} is empty or outside 0..{n}",
                    c.start,
                    c.start as usize + c.pages as usize
                ));
            }
        }
        if self.guest.len() > MAX_GUEST_OPS {
            return err(format!("at most {MAX_GUEST_OPS} guest accesses"));
        }
        if self.vms == 0 || self.vms as usize > invariants::MAX_VMS {
            return err(format!(
                "vms must be 1..={}, got {}",
                invariants::MAX_VMS,
                self.vms
            ));
        }
        for (k, g) in self.guest.iter().enumerate() {
            if g.page as usize >= n {
                return err(format!("guest[{k}].page: {} out of range 0..{n}", g.page));
            }
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
            if p as usize >= n {
                return err(format!("attrs_arg_page: page {p} out of range 0..{n}"));
            }
            if self.conversions.is_empty() {
                return err("attrs_arg_page: no conversion copies anything out".into());
            }
        }
        if let Some(p) = self.memory_failure {
            if p as usize >= n {
                return err(format!("memory_failure: page {p} out of range 0..{n}"));
            }
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
            if self.populate.is_some() || self.memory_failure.is_some() || self.vms > 1 || self.lru
            {
                return err(
                    "design hugetlb models no populate, memory failure, second VM or LRU batch"
                        .into(),
                );
            }
        }
        if let Some(TruncOp::Punch { start, pages }) = self.truncate {
            if pages == 0 || start as usize + pages as usize > n {
                return err(format!("punch range {start}+{pages} outside 0..{n}"));
            }
            if self.design == Design::Hugetlb && (start % 2 != 0 || pages % 2 != 0 || pages > 2) {
                return err(
                    "design hugetlb punches one whole huge page (fallocate() -EINVAL when unaligned)".into(),
                );
            }
            if self.design == Design::Split && (start != 0 || pages as usize != n) {
                return err(
                    "design split punches whole gigantic pages only (hugetlb alignment)".into(),
                );
            }
        }
        if let Some(p) = self.populate {
            if p.dst as usize >= n || p.src as usize >= n || p.dst == p.src {
                return err("populate: dst and src must be distinct pages in range".into());
            }
            if !self.design.is_gmem() {
                return err("populate exists only for guest_memfd designs".into());
            }
        }
        if let Some(s) = self.speculative {
            if s.page as usize >= n {
                return err(format!("speculative: page {} out of range", s.page));
            }
        }
        if self.design == Design::ExclusivePin {
            if self.truncate.is_some() || self.populate.is_some() || !self.guest.is_empty() {
                return err("design exclusive_pin models anonymous memory: no punch, close, populate or guest faults".into());
            }
            if self.conversions.iter().any(|c| c.pages != 1) {
                return err("design exclusive_pin donates one page per conversion (one exclusive pin per folio)".into());
            }
        }
        if !self.block_pins_while_waiting && self.design != Design::Wait {
            return err("block_pins_while_waiting=false is a variant of design wait only".into());
        }
        // Every page can be reallocated at most once after a punch/close.
        Ok(())
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
