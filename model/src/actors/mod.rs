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
///
/// Serde form: the variant name in snake_case (`"truncator"`, `{"proc": 1}`);
/// the converter threads are `"converter"` and `"converter1"`, as
/// [`Actor::name`] calls them (traces written before the second thread
/// existed say `"converter"` and keep meaning thread 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(into = "ActorRepr", from = "ActorRepr")]
pub enum Actor {
    /// A VMM thread issuing KVM_SET_MEMORY_ATTRIBUTES2 (or, for the RFC,
    /// donating pages): thread 0 or 1 (`ConvOp::converter`).
    Converter(u8),
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
            Actor::Converter(0) => 0,
            // The one thread id left below 16 (the invalidate lock's reader
            // set is 16 bits).
            Actor::Converter(_) => 15,
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
            Actor::Converter(0) => "converter".into(),
            Actor::Converter(k) => format!("converter{k}"),
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

/// The serde form of [`Actor`].
#[derive(Clone, Copy, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum ActorRepr {
    Converter,
    Converter1,
    Proc(u8),
    Pinner(u8),
    Guest(u8),
    Truncator,
    Populate,
    Speculative,
    PoolCallback,
    MemoryFailure,
    AllocFail,
    SecondaryMmu,
}

impl From<Actor> for ActorRepr {
    fn from(a: Actor) -> ActorRepr {
        match a {
            Actor::Converter(0) => ActorRepr::Converter,
            Actor::Converter(_) => ActorRepr::Converter1,
            Actor::Proc(p) => ActorRepr::Proc(p),
            Actor::Pinner(k) => ActorRepr::Pinner(k),
            Actor::Guest(v) => ActorRepr::Guest(v),
            Actor::Truncator => ActorRepr::Truncator,
            Actor::Populate => ActorRepr::Populate,
            Actor::Speculative => ActorRepr::Speculative,
            Actor::PoolCallback => ActorRepr::PoolCallback,
            Actor::MemoryFailure => ActorRepr::MemoryFailure,
            Actor::AllocFail => ActorRepr::AllocFail,
            Actor::SecondaryMmu => ActorRepr::SecondaryMmu,
        }
    }
}

impl From<ActorRepr> for Actor {
    fn from(a: ActorRepr) -> Actor {
        match a {
            ActorRepr::Converter => Actor::Converter(0),
            ActorRepr::Converter1 => Actor::Converter(1),
            ActorRepr::Proc(p) => Actor::Proc(p),
            ActorRepr::Pinner(k) => Actor::Pinner(k),
            ActorRepr::Guest(v) => Actor::Guest(v),
            ActorRepr::Truncator => Actor::Truncator,
            ActorRepr::Populate => Actor::Populate,
            ActorRepr::Speculative => Actor::Speculative,
            ActorRepr::PoolCallback => Actor::PoolCallback,
            ActorRepr::MemoryFailure => Actor::MemoryFailure,
            ActorRepr::AllocFail => Actor::AllocFail,
            ActorRepr::SecondaryMmu => Actor::SecondaryMmu,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Thread 0 keeps the serde form traces had before the second thread;
    /// every actor round-trips.
    #[test]
    fn serde_form_round_trips_and_keeps_the_old_converter_name() {
        let all = [
            Actor::Converter(0),
            Actor::Converter(1),
            Actor::Proc(1),
            Actor::Pinner(2),
            Actor::Guest(1),
            Actor::Truncator,
            Actor::Populate,
            Actor::Speculative,
            Actor::PoolCallback,
            Actor::MemoryFailure,
            Actor::AllocFail,
            Actor::SecondaryMmu,
        ];
        for a in all {
            let j = serde_json::to_string(&Action::Step(a)).expect("serializes");
            let back: Action = serde_json::from_str(&j).expect("parses");
            assert_eq!(back, Action::Step(a), "{j}");
        }
        assert_eq!(
            serde_json::to_string(&Actor::Converter(0)).expect("serializes"),
            "\"converter\""
        );
        assert_eq!(
            serde_json::to_string(&Actor::Converter(1)).expect("serializes"),
            "\"converter1\""
        );
        // Distinct thread ids, so lock views and fairness classes tell the
        // two converter threads apart.
        let tids: std::collections::HashSet<u8> = all.iter().map(|a| a.tid()).collect();
        assert_eq!(tids.len(), all.len());
    }
}
