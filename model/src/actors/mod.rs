//! The actors. Each is a thread with a program counter; every `step` is one
//! atomic kernel step, and returns `false` when the step is not enabled (the
//! thread is blocked on a lock or spinning on a freeze).

pub mod converter;
pub mod guest;
pub mod gup;
pub mod host;
pub mod memory_failure;
pub mod populate;
pub mod secondary_mmu;
pub mod truncate;

use serde::{Deserialize, Serialize};
use std::fmt;

/// Who acts. Thread ids (for lock views) are fixed per actor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Actor {
    /// The VMM issuing KVM_SET_MEMORY_ATTRIBUTES2 (or, for the RFC, donating pages).
    Converter,
    /// A VMM thread touching the host mapping (page faults, madvise).
    Proc(u8),
    /// A GUP user (O_DIRECT, vmsplice, VFIO/io_uring long-term pin).
    Pinner(u8),
    /// The vCPU of VM `n` (one per VM bound to the file) taking stage-2 faults.
    Guest(u8),
    /// fallocate(PUNCH_HOLE) or the final close of the file.
    Truncator,
    /// kvm_gmem_populate() (TDX/SNP initial image).
    Populate,
    /// A PFN walker's speculative folio_try_get() (compaction, memory-failure).
    Speculative,
    /// guest_memfd's hugetlb allocator callback that merges a released
    /// gigantic page and returns it to the pool once nothing references it.
    PoolCallback,
    /// Memory failure on one page (`memory_failure()` -> `kvm_gmem_error_folio()`).
    MemoryFailure,
    /// The environment's allocation failure: the maple-tree preallocation of
    /// a conversion fails with -ENOMEM (not fair: it may never happen).
    AllocFail,
    /// A secondary MMU (`hmm_range_fault()` / ODP / KVM pfncache) mirroring
    /// a page into a device under an mmu interval notifier.
    SecondaryMmu,
}

impl Actor {
    pub fn tid(self) -> u8 {
        match self {
            Actor::Converter => 0,
            Actor::Proc(p) => 1 + p,
            Actor::Pinner(k) => 3 + k,
            Actor::Guest(0) => 6,
            Actor::Guest(_) => 11,
            Actor::Truncator => 7,
            Actor::Populate => 8,
            Actor::Speculative => 9,
            Actor::PoolCallback => 10,
            Actor::MemoryFailure => 12,
            Actor::AllocFail => 13,
            Actor::SecondaryMmu => secondary_mmu::TID,
        }
    }
    pub fn name(self) -> String {
        match self {
            Actor::Converter => "converter".into(),
            Actor::Proc(p) => format!("proc{p}"),
            Actor::Pinner(k) => format!("gup{k}"),
            Actor::Guest(v) => format!("vcpu{v}"),
            Actor::Truncator => "truncate".into(),
            Actor::Populate => "populate".into(),
            Actor::Speculative => "pfn_walker".into(),
            Actor::PoolCallback => "hugetlb_cb".into(),
            Actor::MemoryFailure => "memory_failure".into(),
            Actor::AllocFail => "alloc_fail".into(),
            Actor::SecondaryMmu => "secondary_mmu".into(),
        }
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// A model action: an actor starts its next scripted operation (the
/// environment's choice: not fair), or takes the next atomic step of the
/// operation it is in (weakly fair per actor: what it started, it can finish).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Start(Actor),
    Step(Actor),
}

impl Action {
    pub fn actor(self) -> Actor {
        match self {
            Action::Start(a) | Action::Step(a) => a,
        }
    }
}
