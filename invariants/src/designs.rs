//! The designs of `docs/designs.md`, by name: the model (`model`) and the
//! implementation (`guest_memfd`) each give them their semantics, and both
//! name them with this type.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A design of the shared/private conversion (`docs/designs.md`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Design {
    /// The in-place conversion series v13
    /// (lore:20260910-gmem-inplace-conversion-v13-0-dd6fbf94f4e1@google.com;
    /// docs/kernel.md#conversion-ioctl): 4K folios, unmap,
    /// check refcount, fail -EAGAIN; long-term pins allowed.
    Inplace,
    /// Option (a) (lore:66a285fc-e54e-4247-8801-e7e17ad795a6@redhat.com;
    /// docs/kernel.md#option-a): no FOLL_LONGTERM on guest_memfd;
    /// to-private waits for short-term references to drain.
    Wait,
    /// Option (b) / 1G RFC v2 (lore:cover.1747264138.git.ackerleytng@google.com;
    /// docs/kernel.md#hugetlb-rfc-v2): gigantic hugetlb pages split
    /// into 4K folios while any subpage is shared, merged back when all
    /// private; freeze for both.
    Split,
    /// Option (c) (lore:20240620230832.GM2494510@nvidia.com;
    /// docs/kernel.md#option-c): PFNMAP host mappings, so GUP is impossible.
    Pfnmap,
    /// The naive huge design: one large folio (one refcount) for all subpages.
    HugeWhole,
    /// The June 2024 exclusive-GUP-pin RFC
    /// (lore:20240618-exclusive-gup-v1-0-30472a19c5d1@quicinc.com).
    ExclusivePin,
    /// `GUEST_MEMFD_FLAG_NO_DIRECT_MAP` (Patrick Roy, Nikita Kalyazin;
    /// posted, not applied; docs/kernel.md#non-gup): an mmap-able
    /// guest_memfd with v13's conversion semantics whose folios are removed
    /// from the kernel direct map and whose mapping is `AS_NO_DIRECT_MAP`:
    /// GUP-fast refuses it (`gup_fast_folio_allowed()`) and slow GUP returns
    /// -EFAULT (`check_vma_flags()`), as for secretmem. Struct pages are kept:
    /// the realistic upstream form of option (c). PFN users that never touch
    /// the direct map (`hmm_range_fault()`, a device's DMA) still reach it.
    NoDirectMap,
    /// The guest_memfd HugeTLB branch of 2026 on top of in-place conversion
    /// (docs/kernel.md#hugetlb-2026; `virt/kvm/guest_memfd.c`,
    /// `mm/hugetlb_restructuring.c`): two gigantic pages of two subpages
    /// each from a per-inode pool; a fresh huge folio is split to 4K in the
    /// fault / `kvm_gmem_get_pfn()` path under the shared invalidate lock
    /// unless its whole range is private; `kvm_gmem_convert()` runs one huge
    /// page per batch (unmap and `kvm_gmem_has_safe_refcount()` for
    /// to-private, `kvm_gmem_invalidate_begin()` rounded to the huge page,
    /// `kvm_gmem_split_private()` of huge stage-2 leaves for to-shared, zap,
    /// then split or merge and the attribute store); stage-2 maps a huge
    /// page only when its whole range is private. The branch's order (store
    /// after `kvm_gmem_invalidate_end()`) is bug switch
    /// `store_after_inv_end`; the design without it keeps the store inside
    /// the window, as v13 does.
    Hugetlb,
}

impl Design {
    pub const ALL: [Design; 8] = [
        Design::Inplace,
        Design::Wait,
        Design::Split,
        Design::Pfnmap,
        Design::HugeWhole,
        Design::ExclusivePin,
        Design::NoDirectMap,
        Design::Hugetlb,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Design::Inplace => "inplace",
            Design::Wait => "wait",
            Design::Split => "split",
            Design::Pfnmap => "pfnmap",
            Design::HugeWhole => "huge_whole",
            Design::ExclusivePin => "exclusive_pin",
            Design::NoDirectMap => "no_direct_map",
            Design::Hugetlb => "hugetlb",
        }
    }

    pub fn by_name(name: &str) -> Option<Design> {
        Design::ALL.into_iter().find(|d| d.name() == name)
    }

    /// Backed by a gigantic page (hugetlb pool semantics apply).
    pub fn is_huge(self) -> bool {
        matches!(self, Design::Split | Design::HugeWhole | Design::Hugetlb)
    }

    /// GUP (fast and slow, any FOLL_* flag) fails on the host mapping:
    /// option (c)'s `VM_PFNMAP`, and `AS_NO_DIRECT_MAP`.
    pub fn refuses_gup(self) -> bool {
        matches!(self, Design::Pfnmap | Design::NoDirectMap)
    }

    /// Memory is guest_memfd (attribute checked on fault) rather than the
    /// RFC's ordinary memory.
    pub fn is_gmem(self) -> bool {
        !matches!(self, Design::ExclusivePin)
    }
}

impl fmt::Display for Design {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Design {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Design::by_name(s).ok_or_else(|| {
            format!(
                "unknown design '{s}' (expected one of: {})",
                Design::ALL.map(|d| d.name()).join(", ")
            )
        })
    }
}
