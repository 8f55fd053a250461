//! The actors. Each is a thread with a program counter; every `step` is one
//! atomic kernel step, and returns `false` when the step is not enabled (the
//! thread is blocked on a lock or spinning on a freeze).

pub mod converter;
pub mod guest;
pub mod gup;
pub mod host;
pub mod populate;
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
    /// A vCPU taking stage-2 faults.
    Guest,
    /// fallocate(PUNCH_HOLE) or the final close of the file.
    Truncator,
    /// kvm_gmem_populate() (TDX/SNP initial image).
    Populate,
    /// A PFN walker's speculative folio_try_get() (compaction, memory-failure).
    Speculative,
    /// guest_memfd's hugetlb allocator callback that merges a released
    /// gigantic page and returns it to the pool once nothing references it.
    PoolCallback,
}

impl Actor {
    pub fn tid(self) -> u8 {
        match self {
            Actor::Converter => 0,
            Actor::Proc(p) => 1 + p,
            Actor::Pinner(k) => 3 + k,
            Actor::Guest => 6,
            Actor::Truncator => 7,
            Actor::Populate => 8,
            Actor::Speculative => 9,
            Actor::PoolCallback => 10,
        }
    }
    pub fn name(self) -> String {
        match self {
            Actor::Converter => "converter".into(),
            Actor::Proc(p) => format!("proc{p}"),
            Actor::Pinner(k) => format!("gup{k}"),
            Actor::Guest => "vcpu".into(),
            Actor::Truncator => "truncate".into(),
            Actor::Populate => "populate".into(),
            Actor::Speculative => "pfn_walker".into(),
            Actor::PoolCallback => "hugetlb_cb".into(),
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
