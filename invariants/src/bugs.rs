//! The bug switches of `docs/designs.md#bug-switches`, by name: the model (`model`)
//! and the implementation (`guest_memfd`) each remove the same guard when a
//! switch is on, and both name it with this type.

use crate::props::PropertyId;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// One mutation: each removes exactly one guard; the comment at the
/// guarded step (in the model and in the implementation) names the kernel
/// function and its source (see `docs/kernel.md`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Bug {
    CheckBeforeUnmap,
    FaultNoRef,
    GupFastNoRecheck,
    GuestCheckBeforeSeq,
    RestructureNoFreeze,
    PunchMergeNoCheck,
    PartialFlip,
    PopulateLockOrder,
    NoLruDrain,
    ExclusiveCasBias,
    ZapWrongFilter,
    InstallNoRetry,
    NoMakeShared,
    NoReclaimOnFree,
    InvalidateOneBinding,
    GupFastRecheckBeforeAdd,
    CopyOutUnderLock,
    OdpNoRetry,
    StoreAfterInvEnd,
    HugeMapMixed,
}

impl Bug {
    pub const ALL: [Bug; 20] = [
        Bug::CheckBeforeUnmap,
        Bug::FaultNoRef,
        Bug::GupFastNoRecheck,
        Bug::GuestCheckBeforeSeq,
        Bug::RestructureNoFreeze,
        Bug::PunchMergeNoCheck,
        Bug::PartialFlip,
        Bug::PopulateLockOrder,
        Bug::NoLruDrain,
        Bug::ExclusiveCasBias,
        Bug::ZapWrongFilter,
        Bug::InstallNoRetry,
        Bug::NoMakeShared,
        Bug::NoReclaimOnFree,
        Bug::InvalidateOneBinding,
        Bug::GupFastRecheckBeforeAdd,
        Bug::CopyOutUnderLock,
        Bug::OdpNoRetry,
        Bug::StoreAfterInvEnd,
        Bug::HugeMapMixed,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Bug::CheckBeforeUnmap => "check_before_unmap",
            Bug::FaultNoRef => "fault_no_ref",
            Bug::GupFastNoRecheck => "gup_fast_no_recheck",
            Bug::GuestCheckBeforeSeq => "guest_check_before_seq",
            Bug::RestructureNoFreeze => "restructure_no_freeze",
            Bug::PunchMergeNoCheck => "punch_merge_no_check",
            Bug::PartialFlip => "partial_flip",
            Bug::PopulateLockOrder => "populate_lock_order",
            Bug::NoLruDrain => "no_lru_drain",
            Bug::ExclusiveCasBias => "exclusive_cas_bias",
            Bug::ZapWrongFilter => "zap_wrong_filter",
            Bug::InstallNoRetry => "install_no_retry",
            Bug::NoMakeShared => "no_make_shared",
            Bug::NoReclaimOnFree => "no_reclaim_on_free",
            Bug::InvalidateOneBinding => "invalidate_one_binding",
            Bug::GupFastRecheckBeforeAdd => "gup_fast_recheck_before_add",
            Bug::CopyOutUnderLock => "copy_out_under_lock",
            Bug::OdpNoRetry => "odp_no_retry",
            Bug::StoreAfterInvEnd => "store_after_inv_end",
            Bug::HugeMapMixed => "huge_map_mixed",
        }
    }

    pub fn by_name(s: &str) -> Option<Bug> {
        Bug::ALL.into_iter().find(|b| b.name() == s)
    }

    /// The property that must catch this switch (`docs/designs.md#bug-switches`).
    pub fn expected_catch(self) -> PropertyId {
        use PropertyId::*;
        match self {
            Bug::CheckBeforeUnmap | Bug::GupFastNoRecheck => NoPrivatePin,
            Bug::FaultNoRef => NoPrivateHostMapping,
            Bug::GuestCheckBeforeSeq => Stage2Coherent,
            Bug::RestructureNoFreeze | Bug::PunchMergeNoCheck => GiganticPoolSafe,
            Bug::PartialFlip => ConversionAtomic,
            Bug::PopulateLockOrder => NoDeadlock,
            // Under the v7 design the ioctl keeps returning EAGAIN; under
            // design wait it never returns (gate row wait+no_lru_drain).
            Bug::NoLruDrain => ConversionEventuallySucceeds,
            Bug::ExclusiveCasBias => ExclusivePinExclusive,
            // The two filters of kvm_gmem_invalidate_start() swapped: a
            // to-private conversion leaves the shared stage-2 entries.
            Bug::ZapWrongFilter => Stage2Coherent,
            // No mmu_invalidate_retry_gfn() before the stage-2 install: with
            // the reference dropped inside kvm_gmem_get_pfn(), a punch in
            // between frees the folio that is then mapped.
            Bug::InstallNoRetry => NoStage2ToFreed,
            Bug::NoMakeShared => HostAccessOnlyHwShared,
            Bug::NoReclaimOnFree => FreedFolioHwShared,
            // Only the first gmem_file's VM is invalidated.
            Bug::InvalidateOneBinding => Stage2Coherent,
            // gup_fast_pte_range() re-reads the PTE before its increment.
            Bug::GupFastRecheckBeforeAdd => NoPrivatePin,
            // error_offset copied to a user buffer in the guest_memfd mapping
            // with the invalidate lock held: the copy faults and the fault
            // takes the same lock shared.
            Bug::CopyOutUnderLock => NoDeadlock,
            // A secondary MMU programs the device with the pfn it read
            // without mmu_interval_read_retry() under its own lock: an
            // unmap between the PTE read and the device map goes unseen,
            // and the device DMAs into a page converted to private.
            Bug::OdpNoRetry => HostAccessOnlyShared,
            // The 2026 hugetlb branch's order: mas_store_prealloc() after
            // kvm_gmem_invalidate_end(). A vCPU that snapshots the seq after
            // the end reads the old attribute, waits in kvm_gmem_get_pfn()
            // for the lock, and installs with the old type.
            Bug::StoreAfterInvEnd => Stage2Coherent,
            // The stage-2 level from kvm_gmem_mapping_order() alone, whose
            // attribute check starts at the faulting index instead of the
            // huge page's first index (`index_floor` is computed, unused):
            // a huge leaf over a range with a shared subpage.
            Bug::HugeMapMixed => Stage2Coherent,
        }
    }
}

impl fmt::Display for Bug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Bug {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Bug::by_name(s).ok_or_else(|| {
            format!(
                "unknown bug switch '{s}' (expected one of: {})",
                Bug::ALL.map(|b| b.name()).join(", ")
            )
        })
    }
}
