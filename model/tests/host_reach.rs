//! Host reach without GUP (issue 14; docs/kernel.md#non-gup): the secondary
//! MMU (`hmm_range_fault()` / ODP under an mmu interval notifier), VFIO type1
//! (a long-term pin, or `follow_pfnmap_start()` on a `VM_PFNMAP` VMA) and
//! design `no_direct_map`. Verdicts per design, the `odp_no_retry` switch,
//! and reachability checks that the new steps are taken at all.

use invariants::{Accessor, Kind, PropertyId};
use model::config::{HostOp, SecondaryMmuCfg};
use model::gate;

mod common;
use common::{row, row_file};

fn secondary_mmu_config(d: Design) -> Config {
    row(&format!("{d}@secondary_mmu"))
}

fn vfio_config(d: Design, reserved_pfns: bool) -> Config {
    if reserved_pfns {
        row(&format!("{d}@vfio_reserved_pfns"))
    } else {
        row(&format!("{d}@vfio"))
    }
}
use model::state::{DevPc, PinPc, State};
use model::{Bug, Config, Design, GmemModel};
use stateright::{Checker, Model};
use std::collections::{HashSet, VecDeque};

/// Violated safety properties and missing sanity examples (exhaustive DFS).
fn run(cfg: Config) -> (Vec<&'static str>, Vec<&'static str>) {
    let m = GmemModel::new(cfg).expect("valid config");
    let props = m.properties();
    let c = m.clone().checker().threads(1).spawn_dfs().join();
    assert!(c.is_done());
    let (mut violated, mut missing) = (vec![], vec![]);
    for p in props {
        let found = c.discovery(p.name).is_some();
        match PropertyId::by_name(p.name).map(|id| id.kind()) {
            Some(Kind::Safety) if found => violated.push(p.name),
            Some(Kind::Sanity) if !found => missing.push(p.name),
            _ => {}
        }
    }
    (violated, missing)
}

/// Is a state satisfying `pred` reachable? (Plain BFS over the model.)
fn reachable(cfg: Config, pred: impl Fn(&State) -> bool) -> bool {
    let m = GmemModel::new(cfg).expect("valid config");
    let mut seen: HashSet<State> = HashSet::new();
    let mut q: VecDeque<State> = m.init_states().into();
    let mut actions = Vec::new();
    while let Some(s) = q.pop_front() {
        if pred(&s) {
            return true;
        }
        if !seen.insert(s) {
            continue;
        }
        actions.clear();
        m.actions(&s, &mut actions);
        for &a in &actions {
            if let Some(n) = m.next_state(&s, a) {
                if !seen.contains(&n) {
                    q.push_back(n);
                }
            }
        }
    }
    false
}

/// The guest_memfd designs with host-reach rows (design hugetlb's rows do
/// not have these accessors yet: its own questions come first, see
/// docs/findings.md).
fn gmem_designs() -> impl Iterator<Item = Design> {
    Design::ALL
        .into_iter()
        .filter(|d| d.is_gmem() && *d != Design::Hugetlb)
}

fn device_access(s: &State) -> bool {
    s.last_access
        .get()
        .is_some_and(|a| matches!(a.who, Accessor::Device { .. }))
}

#[test]
fn every_design_stays_safe_with_a_secondary_mmu() {
    for d in gmem_designs() {
        let (violated, missing) = run(secondary_mmu_config(d));
        assert!(
            violated.is_empty(),
            "{d}@secondary_mmu: violated {violated:?}"
        );
        assert!(missing.is_empty(), "{d}@secondary_mmu: missing {missing:?}");
        // The device does reach the page (the verdict is not vacuous).
        assert!(reachable(secondary_mmu_config(d), device_access), "{d}");
    }
}

#[test]
fn the_notifier_makes_the_retry_fail_and_zaps_the_device_mapping() {
    let c = secondary_mmu_config(Design::Inplace);
    // unmap_mapping_pages() between the PTE read and the retry check.
    assert!(reachable(c.clone(), |s| matches!(
        s.dev.pc.get(),
        DevPc::Map(_)
    ) && s.dev.seq_stale));
    // A mapped device loses its mapping to the unmap and mirrors again:
    // the device is back at its walk while the page is private.
    assert!(reachable(c, |s| s.dev.pc.get() == DevPc::ReadPte
        && s.pages[0].private));
}

#[test]
fn madv_dontneed_fires_the_notifier_too() {
    let mut c = row("inplace+odp_no_retry");
    c.bugs = Default::default();
    c.conversions.clear();
    c.procs = vec![vec![HostOp::Dontneed { page: 0 }]];
    assert!(reachable(c.clone(), |s| matches!(
        s.dev.pc.get(),
        DevPc::Map(_)
    ) && s.dev.seq_stale));
    // A process's MADV_DONTNEED is its own mm's invalidation only.
    c.procs = vec![vec![], vec![HostOp::Dontneed { page: 0 }]];
    c.secondary_mmu = Some(SecondaryMmuCfg { page: 0, proc: 0 });
    assert!(!reachable(c, |s| s.dev.seq_stale));
}

#[test]
fn odp_no_retry_is_caught_by_host_access_only_shared_on_every_design() {
    for d in gmem_designs() {
        let mut c = secondary_mmu_config(d);
        c.bugs.insert(Bug::OdpNoRetry);
        let (violated, _) = run(c);
        assert!(
            violated.contains(&"host_access_only_shared"),
            "{d}+odp_no_retry: {violated:?}"
        );
    }
    let (violated, missing) = run(row("inplace+odp_no_retry"));
    assert_eq!(violated, vec!["host_access_only_shared"]);
    assert!(missing.is_empty(), "{missing:?}");
}

#[test]
fn vfio_verdicts_per_design() {
    for d in gmem_designs() {
        let (violated, missing) = run(vfio_config(d, false));
        assert!(violated.is_empty(), "{d}@vfio: violated {violated:?}");
        assert!(missing.is_empty(), "{d}@vfio: missing {missing:?}");
    }
    // Memory without struct pages: VFIO maps the pfn with no reference and
    // no notifier; the mapping outlives the conversion and the punch.
    let (violated, missing) = run(vfio_config(Design::Pfnmap, true));
    assert_eq!(
        violated,
        vec![
            "host_access_only_shared",
            "refcount_conserved",
            "host_access_only_hw_shared"
        ]
    );
    assert!(missing.is_empty(), "{missing:?}");
}

#[test]
fn vfio_reaches_follow_pfnmap_start_on_pfnmap_only_and_maps_only_reserved_pfns() {
    let iommu = |s: &State| matches!(s.pinners[0].pc.get(), PinPc::PfnMapped(_));
    let follow = |s: &State| s.pinners[0].pc.get() == PinPc::PfnFollow;
    // Struct-page memory: follow_pfnmap_start() runs, vaddr_get_pfns() refuses.
    assert!(reachable(vfio_config(Design::Pfnmap, false), follow));
    assert!(!reachable(vfio_config(Design::Pfnmap, false), iommu));
    assert!(reachable(vfio_config(Design::Pfnmap, true), iommu));
    // no_direct_map is not VM_PFNMAP: pin_user_pages_remote() fails, -EFAULT.
    assert!(!reachable(vfio_config(Design::NoDirectMap, false), follow));
    // Elsewhere VFIO is a long-term pin.
    let pinned = |s: &State| matches!(s.pinners[0].pc.get(), PinPc::Held(_));
    assert!(reachable(vfio_config(Design::Inplace, false), pinned));
    assert!(!reachable(vfio_config(Design::Inplace, false), follow));
}

#[test]
fn no_direct_map_refuses_gup_and_otherwise_behaves_like_inplace() {
    let c = row("no_direct_map");
    let grabbed = |s: &State| {
        s.pinners.iter().any(|p| {
            matches!(
                p.pc.get(),
                PinPc::FastTryAdd(_) | PinPc::Held(_) | PinPc::SlowFollow | PinPc::FastReadPte
            )
        })
    };
    assert!(!reachable(c.clone(), grabbed));
    // The same configuration under inplace does reach GUP.
    let mut i = c.clone();
    i.design = Design::Inplace;
    assert!(reachable(i, grabbed));
    // v13's conversion: a host mapping still makes to-private fail -EAGAIN.
    use invariants::ConvResult;
    assert!(reachable(c, |s| matches!(
        s.conv[0].result.get(),
        Some(ConvResult::Eagain { .. })
    )));
    let row = gate::load_file(&row_file("no_direct_map")).expect("gate row");
    let (violated, missing) = run(row.cfg);
    assert!(violated.is_empty(), "{violated:?}");
    assert!(missing.is_empty(), "{missing:?}");
}

#[test]
fn host_reach_configs_are_validated() {
    let mut c = secondary_mmu_config(Design::Inplace);
    c.secondary_mmu = Some(SecondaryMmuCfg { page: 3, proc: 0 });
    assert!(GmemModel::new(c).is_err());
    let mut c = vfio_config(Design::Inplace, false);
    c.reserved_pfns = true;
    assert!(GmemModel::new(c).is_err());
    let mut c = row("exclusive_pin");
    c.secondary_mmu = Some(SecondaryMmuCfg { page: 0, proc: 0 });
    assert!(GmemModel::new(c).is_err());
}
