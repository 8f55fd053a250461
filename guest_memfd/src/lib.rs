//! # guest_memfd
//!
//! A concrete, thread-safe implementation of guest_memfd shared/private
//! conversion semantics (`docs/kernel.md`), with every design of
//! `docs/designs.md` as a policy of the same code ([`Design`]).
//!
//! Modules, one job each:
//! - [`sync`]: the lock/atomic/thread facade (std, loom or shuttle);
//! - [`sched`]: the model's step boundaries in the code, and the
//!   deterministic scheduler that replays a model trace on the real threads;
//! - [`design`]: the design policies, configuration, GUP kinds;
//! - [`errno`]: errno values, access outcomes, API misuse;
//! - [`range_map`]: the maple-tree-like attribute range map;
//! - [`folio`]: struct folio, refcount encoding, freeze, exclusive pins,
//!   the folio lock, PG_hwpoison, hardware ownership of its memory;
//! - [`mm`]: host processes, page tables with split PTE locks;
//! - [`mmu_notifier`]: each mm's MMU interval notifiers, which every zap of
//!   its page tables calls before the PTEs go;
//! - [`kvm`]: the VMs bound to the file, each with its stage-2 map and
//!   mmu invalidation protocol (typed filters);
//! - [`hugetlb`]: the gigantic-page pool and per-gigantic state;
//! - `hugetlb_branch`: design `hugetlb` (the 2026 HugeTLB branch): the
//!   fresh-folio split, conversion batches per huge page, huge stage-2 leaves;
//! - `gmem`: [`GuestMemFd`] and shared helpers (page cache, LRU batch, puts);
//! - `fault`: host and guest accesses and their fault paths (the folio
//!   lock, `kvm_gmem_get_pfn()` with lazy `make_private` and no reference
//!   kept, -EHWPOISON);
//! - `gup`: GUP-fast, GUP-slow, unpin, accesses through pins;
//! - [`convert`]: KVM_SET_MEMORY_ATTRIBUTES2, split/merge, RFC donation;
//! - `truncate`: fallocate, punch hole, close, release of one VM's file,
//!   memory failure;
//! - `populate`: kvm_gmem_populate and a PFN walker's speculative reference;
//! - [`device`]: devices that reach the memory without a GUP reference of
//!   their own; `odp`: a secondary MMU (`hmm_range_fault()` / ODP) under
//!   the interval notifier; `vfio`: VFIO type1 DMA mappings (a long-term
//!   pin, or a bare pfn from `follow_pfnmap_start()` on VM_PFNMAP);
//! - `view`: the [`invariants::GmemView`] implementation, invariant check,
//!   metadata accounting;
//! - [`mod@bench`]: measurements shared by `benches/conversion.rs` and the CLI;
//! - [`scenario`]: the scenario language (`scenarios/README.md`) and runner.
//!
//! Its place in the whole: the same designs as the Stateright model
//! (`model`), as real code. It implements [`invariants::GmemView`], so the
//! properties checked on the model are checked on it too; `conformance`
//! compares it with the model call by call; its own loom and shuttle tests
//! explore thread interleavings of the real locks and atomics; `checker
//! scenario` runs the kernel selftests re-expressed as `scenarios/*.json`.

pub mod bench;
pub mod convert;
pub mod design;
pub mod device;
pub mod errno;
mod fault;
pub mod folio;
mod gmem;
mod gup;
pub mod hugetlb;
mod hugetlb_branch;
pub mod kvm;
mod locktrack;
pub mod mm;
pub mod mmu_notifier;
mod odp;
mod populate;
pub mod range_map;
pub mod scenario;
pub mod sched;
pub mod sync;
mod truncate;
mod vfio;
mod view;

pub use convert::{KvmMemoryAttributes2, KVM_MEMORY_ATTRIBUTE_PRIVATE};
pub use design::{
    Bug, Config, Design, DesignPolicy, GmemFlags, GupPath, PinKind, PAGES_PER_1G, PAGE_SIZE,
};
pub use device::{DevId, DeviceKind};
pub use errno::{AccessOutcome, Errno, Error, Misuse, Result};
pub use gmem::{GuestMemFd, MmId, PinId, CONVERSION_SNAPSHOT_MAX, LRU_BATCH_SIZE};
pub use invariants::Attr;
pub use populate::SpecRef;
pub use view::InvariantFailure;
