//! Which properties apply to a configuration, and their Stateright form.
//!
//! A property that cannot be exercised by a configuration (no guest, so no
//! stage-2; not a huge design, so no pool) is reported "n/a" with a reason
//! instead of "holds": a verdict must never be vacuous. Every applicable
//! safety property brings its sanity partners (`sometimes`), and a partner
//! the design makes impossible is named with the reason.

use crate::config::{Config, Design, PinKind, TruncOp};
use crate::model::GmemModel;
use crate::state::State;
use crate::view::View;
use invariants::{Kind, PropertyId};
use stateright::Property;

/// Why a property does not apply to this configuration, or `None` if it does.
pub fn not_applicable(cfg: &Config, id: PropertyId) -> Option<&'static str> {
    use PropertyId::*;
    // A host reach into the file: a process, a GUP user (or VFIO), a device
    // mirroring it through a secondary MMU.
    let maps = !cfg.procs.is_empty() || !cfg.pinners.is_empty() || cfg.secondary_mmu.is_some();
    let pins_possible = !cfg.pinners.is_empty()
        && !cfg.design.refuses_gup()
        && cfg
            .pinners
            .iter()
            .any(|p| !(cfg.design == Design::Wait && p.kind == PinKind::Longterm));
    let converts_to_private = cfg
        .conversions
        .iter()
        .any(|c| c.to == invariants::Attr::Private);
    let retried_private = cfg.retry_until_ok && converts_to_private;
    let gmem = cfg.design.is_gmem();
    let private_guest_access = gmem
        && cfg
            .guest
            .iter()
            .any(|g| g.access == invariants::Attr::Private);
    // A host access: a process, a GUP holder, or the converter's copy-out.
    let host_touches = maps || cfg.attrs_arg_page.is_some();
    // Only a punch or a close takes folios out of the page cache (a release
    // of one VM's file leaves the inode's memory alone).
    let frees = match cfg.truncate {
        Some(TruncOp::Close) => true,
        // A punch of part of a gigantic folio zeroes it in place.
        Some(TruncOp::Punch { start, pages }) => {
            cfg.design != Design::HugeWhole || (start == 0 && pages == cfg.pages)
        }
        _ => false,
    };
    // Who can hold a folio reference besides the page cache. Since v13 the
    // vCPU is not among them: kvm_gmem_get_pfn() drops its reference.
    let pfnmap = cfg.design == Design::Pfnmap;
    // (A secondary MMU's own fault-in installs a PTE, which holds one.)
    let takes_refs = (!cfg.procs.is_empty() && !pfnmap)
        || (!cfg.pinners.is_empty() && !cfg.design.refuses_gup())
        || (cfg.secondary_mmu.is_some() && !pfnmap)
        || (cfg.attrs_arg_page.is_some() && !pfnmap)
        || cfg.speculative.is_some()
        || cfg.populate.is_some()
        || cfg.lru;
    // The copy-out's fault comes after the conversion failed: it cannot be
    // what makes it fail.
    let holds_refs_at_check = takes_refs
        && !(cfg.attrs_arg_page.is_some()
            && cfg.procs.is_empty()
            && cfg.pinners.is_empty()
            && cfg.speculative.is_none()
            && cfg.populate.is_none()
            && cfg.secondary_mmu.is_none()
            && !cfg.lru);
    let two_vcpus = cfg.vms > 1 && (0..cfg.vms).all(|v| cfg.guest.iter().any(|g| g.vm == v));
    let converter_threads = if cfg.design == Design::ExclusivePin {
        0
    } else {
        cfg.converters().count()
    };
    let lock_users = [
        converter_threads > 0,
        converter_threads > 1,
        !cfg.procs.is_empty() && cfg.design != Design::ExclusivePin,
        cfg.pinners
            .iter()
            .any(|p| p.path == crate::config::GupPath::Slow),
        !cfg.guest.is_empty(),
        cfg.truncate.is_some(),
        cfg.populate.is_some(),
        // The converter's copy-out faults into the guest_memfd: a second
        // acquisition of the invalidate lock by the converter's thread.
        cfg.attrs_arg_page.is_some(),
        cfg.memory_failure.is_some(),
        // hmm_range_fault()'s handle_mm_fault() is the host fault path.
        cfg.secondary_mmu.is_some(),
    ]
    .iter()
    .filter(|x| **x)
    .count();
    match id {
        NoPrivateHostMapping if cfg.design == Design::ExclusivePin => Some(
            "the RFC keeps the VMM's PTE and protects donated memory with the hypervisor's host stage-2: user accesses fault recoverably (lore:CA+EHjTxWWEHfjZ9LJqZy+VCk43qd3SMKiPF7uvAwmDdPeVhrvQ@mail.gmail.com); the fatal path, host kernel access through GUP, is what no_private_pin and host_access_only_shared check",
        ),
        NoPrivateHostMapping | HostAccessOnlyShared | HostMapsPage | HostAccessesPage if !maps => {
            Some("no host process, GUP user or secondary MMU in this configuration")
        }
        NoPrivateHostMapping | HostMapsPage
            if cfg.procs.is_empty()
                && cfg.secondary_mmu.is_none()
                && !cfg.pinners.is_empty()
                && cfg.design.refuses_gup()
                && !cfg.pinners.iter().any(|p| p.vfio && cfg.design == Design::Pfnmap) =>
        {
            Some("GUP is refused before it faults anything in, and nothing else maps the file")
        }
        NoPrivatePin | HostPinsPage if !pins_possible => Some(match cfg.design {
            Design::Pfnmap => "design pfnmap: GUP on a PFNMAP mapping fails (EFAULT)",
            Design::NoDirectMap => {
                "design no_direct_map: GUP-fast and slow GUP refuse AS_NO_DIRECT_MAP (EFAULT)"
            }
            Design::Wait => {
                "design wait refuses FOLL_LONGTERM and this configuration has no short-term pinner"
            }
            _ => "no GUP user in this configuration",
        }),
        Stage2Coherent | GuestMapsPrivate | GuestMapsPage if cfg.guest.is_empty() => {
            Some("no guest vCPU in this configuration")
        }
        HostAccessOnlyHwShared | FreedFolioHwShared | HwPagePrivate if !gmem => Some(
            "anonymous memory: pKVM's donation keeps its own host stage-2, no guest_memfd arch hooks",
        ),
        HostAccessOnlyHwShared | FreedFolioHwShared | HwPagePrivate if !private_guest_access => {
            Some("no private guest access: nothing calls kvm_arch_gmem_make_private()")
        }
        HostAccessOnlyHwShared if !host_touches => {
            Some("no host process, GUP user or copy-out in this configuration")
        }
        FreedFolioHwShared | FolioFreed if !frees => {
            Some("no punch or close: no folio of the file is freed")
        }
        NoStage2ToFreed if cfg.guest.is_empty() => Some("no guest vCPU in this configuration"),
        NoStage2ToFreed if !frees && !matches!(cfg.design, Design::Split | Design::Hugetlb) => {
            Some("no punch or close and no merge: no folio is freed, orphaned or merged away")
        }
        FolioReferenced if !takes_refs => Some(
            "nothing in this configuration takes a folio reference (v13's kvm_gmem_get_pfn() keeps none)",
        ),
        TwoVmsMapPage if !two_vcpus => Some("needs two VMs, each with a vCPU"),
        GuestPoisoned if cfg.memory_failure.is_none() => {
            Some("no memory failure in this configuration")
        }
        ConversionAtomic | ConversionCompletes if cfg.conversions.is_empty() => {
            Some("no conversion in this configuration")
        }
        ConversionSucceeds if !converts_to_private => {
            Some("no to-private conversion in this configuration")
        }
        ConversionFailsEagain => match cfg.design {
            Design::Wait => Some("design wait blocks instead of failing EAGAIN"),
            Design::Pfnmap => {
                Some("design pfnmap has no references to check, so never fails EAGAIN")
            }
            _ if !converts_to_private => Some("no to-private conversion in this configuration"),
            _ if !holds_refs_at_check => {
                Some("nothing in this configuration can hold a reference")
            }
            _ => None,
        },
        PageLongtermPinned if !cfg.pinners.iter().any(|p| p.kind == PinKind::Longterm) => {
            Some("no long-term pinner in this configuration")
        }
        PageLongtermPinned
            if matches!(cfg.design, Design::Wait | Design::Pfnmap | Design::NoDirectMap) =>
        {
            Some("this design refuses long-term pins")
        }
        GiganticPoolSafe | GiganticSplit | GiganticMerged if !cfg.design.is_huge() => {
            Some("not a design backed by a gigantic page")
        }
        GiganticSplit | GiganticMerged if !matches!(cfg.design, Design::Split | Design::Hugetlb) => {
            Some("only design split restructures the gigantic page")
        }
        GiganticMerged
            if cfg.design == Design::Hugetlb
                && cfg.truncate.is_none()
                && !cfg
                    .conversions
                    .iter()
                    .any(|c| c.to == invariants::Attr::Private) =>
        {
            Some("no to-private conversion or punch: nothing merges a huge page")
        }
        GiganticSplit
            if !cfg
                .conversions
                .iter()
                .any(|c| c.to == invariants::Attr::Shared)
                && cfg.init_shared =>
        {
            Some("no to-shared conversion: the page is allocated split and never re-split")
        }
        NoDeadlock | LockContended if lock_users < 2 && cfg.populate.is_none() => {
            Some("fewer than two lock users in this configuration")
        }
        ExclusivePinExclusive | ExclusivePinHeld if cfg.design != Design::ExclusivePin => {
            Some("only the exclusive-pin RFC has exclusive pins")
        }
        IndependentSubpages
            if matches!(cfg.design, Design::Wait | Design::Pfnmap | Design::NoDirectMap) =>
        {
            Some("this design refuses long-term pins (a FOLL_GET held forever is row wait@vmsplice_get)")
        }
        ConversionEventuallySucceeds if !retried_private => {
            Some("no retried to-private conversion in this configuration")
        }
        IndependentSubpages
            if !(retried_private
                && cfg
                    .pinners
                    .iter()
                    .any(|p| p.hold_forever && p.kind == PinKind::Longterm)) =>
        {
            Some("needs a retried to-private conversion and a long-term pin held forever")
        }
        TruncateFrees if !(cfg.design.is_huge() && cfg.truncate == Some(TruncOp::Close)) => {
            Some("needs a huge design and a close")
        }
        _ => None,
    }
}

/// The safety properties checked on this configuration.
pub fn safety(cfg: &Config) -> Vec<PropertyId> {
    PropertyId::safety()
        .filter(|p| not_applicable(cfg, *p).is_none())
        .collect()
}

/// The sanity properties checked: partners of applicable safety properties,
/// plus the design-level examples of `docs/properties.md`, where possible.
pub fn sanity(cfg: &Config) -> Vec<PropertyId> {
    use PropertyId::*;
    let mut v: Vec<PropertyId> = safety(cfg)
        .iter()
        .flat_map(|p| p.spec().partners.iter().copied())
        .chain([
            ConversionSucceeds,
            ConversionFailsEagain,
            PageLongtermPinned,
            GuestMapsPrivate,
            GiganticSplit,
            GiganticMerged,
            TwoVmsMapPage,
            GuestPoisoned,
        ])
        .filter(|p| not_applicable(cfg, *p).is_none())
        .collect();
    v.sort();
    v.dedup();
    v
}

pub fn liveness(cfg: &Config) -> Vec<PropertyId> {
    PropertyId::liveness()
        .filter(|p| not_applicable(cfg, *p).is_none())
        .collect()
}

/// Evaluate one property on a model state.
pub fn eval(m: &GmemModel, st: &State, id: PropertyId) -> bool {
    id.eval(&View::new(m, st))
}

/// Evaluate one property on a model state, seeing only converter thread
/// `k`'s conversion (`None`: every thread's).
pub fn eval_in(m: &GmemModel, st: &State, id: PropertyId, converter: Option<usize>) -> bool {
    match converter {
        None => eval(m, st, id),
        Some(k) => id.eval(&View::of_converter(m, st, k)),
    }
}

/// The scopes a liveness property is checked in, each by its own lasso
/// search. A property about "the conversion" (a requested conversion
/// eventually returns, a retried one eventually succeeds) is a promise to
/// each converter thread: with two threads it is checked once per thread
/// (`Some(0)`, `Some(1)`), because "no conversion is pending" infinitely
/// often is weaker than "each thread's is not": two retrying threads can
/// take turns being pending forever while each returns infinitely often.
/// Every other property, and every property with one thread, is checked
/// once (`None`).
pub fn pending_scopes(cfg: &Config, id: PropertyId) -> Vec<Option<usize>> {
    use PropertyId::*;
    let per_thread = matches!(
        id,
        ConversionCompletes | ConversionEventuallySucceeds | IndependentSubpages
    );
    if per_thread && cfg.converters().count() > 1 {
        cfg.converters().map(|k| Some(k as usize)).collect()
    } else {
        vec![None]
    }
}

macro_rules! prop_fns {
    ($($id:ident => $f:ident),* $(,)?) => {
        $(fn $f(m: &GmemModel, s: &State) -> bool { eval(m, s, PropertyId::$id) })*
        fn prop_fn(id: PropertyId) -> fn(&GmemModel, &State) -> bool {
            match id { $(PropertyId::$id => $f,)* }
        }
    };
}

prop_fns! {
    NoPrivateHostMapping => p_no_private_host_mapping,
    NoPrivatePin => p_no_private_pin,
    HostAccessOnlyShared => p_host_access_only_shared,
    Stage2Coherent => p_stage2_coherent,
    ConversionAtomic => p_conversion_atomic,
    RefcountConserved => p_refcount_conserved,
    GiganticPoolSafe => p_gigantic_pool_safe,
    NoDeadlock => p_no_deadlock,
    ExclusivePinExclusive => p_exclusive_pin_exclusive,
    HostAccessOnlyHwShared => p_host_access_only_hw_shared,
    FreedFolioHwShared => p_freed_folio_hw_shared,
    NoStage2ToFreed => p_no_stage2_to_freed,
    ConversionSucceeds => p_conversion_succeeds,
    ConversionFailsEagain => p_conversion_fails_eagain,
    PageLongtermPinned => p_page_longterm_pinned,
    GuestMapsPrivate => p_guest_maps_private,
    GiganticSplit => p_gigantic_split,
    GiganticMerged => p_gigantic_merged,
    HostMapsPage => p_host_maps_page,
    HostPinsPage => p_host_pins_page,
    HostAccessesPage => p_host_accesses_page,
    FolioReferenced => p_folio_referenced,
    LockContended => p_lock_contended,
    ExclusivePinHeld => p_exclusive_pin_held,
    HwPagePrivate => p_hw_page_private,
    FolioFreed => p_folio_freed,
    GuestMapsPage => p_guest_maps_page,
    TwoVmsMapPage => p_two_vms_map_page,
    GuestPoisoned => p_guest_poisoned,
    ConversionCompletes => p_conversion_completes,
    ConversionEventuallySucceeds => p_conversion_eventually_succeeds,
    IndependentSubpages => p_independent_subpages,
    TruncateFrees => p_truncate_frees,
}

/// The Stateright property for a safety or sanity property.
pub fn stateright_property(id: PropertyId) -> Property<GmemModel> {
    match id.kind() {
        Kind::Safety => Property::always(id.name(), prop_fn(id)),
        Kind::Sanity => Property::sometimes(id.name(), prop_fn(id)),
        // Liveness is checked by the fairness-aware lasso search, not by
        // Stateright's `eventually` (which misses cycles).
        Kind::Liveness => Property::sometimes(id.name(), prop_fn(id)),
    }
}

/// Safety (`always`) and sanity (`sometimes`) properties of this configuration.
pub fn stateright_properties(m: &GmemModel) -> Vec<Property<GmemModel>> {
    safety(m.cfg())
        .into_iter()
        .chain(sanity(m.cfg()))
        .map(stateright_property)
        .collect()
}
