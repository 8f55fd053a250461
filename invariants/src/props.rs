//! The properties of `docs/properties.md` as predicates over a [`GmemView`].
//!
//! Safety properties must hold in every state. Sanity properties are
//! reachability targets (`sometimes`): each safety property names the sanity
//! properties that keep it from holding vacuously. Liveness properties are
//! given as a *pending* predicate: the property is violated by a fair
//! infinite behaviour that is pending from some point on forever (`<>[]pending`).

use crate::view::*;

/// How a property is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Safety,
    Sanity,
    Liveness,
}

/// Every property, in report order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PropertyId {
    // Safety.
    NoPrivateHostMapping,
    NoPrivatePin,
    HostAccessOnlyShared,
    Stage2Coherent,
    ConversionAtomic,
    RefcountConserved,
    GiganticPoolSafe,
    NoDeadlock,
    ExclusivePinExclusive,
    HostAccessOnlyHwShared,
    FreedFolioHwShared,
    NoStage2ToFreed,
    // Sanity.
    ConversionSucceeds,
    ConversionFailsEagain,
    PageLongtermPinned,
    GuestMapsPrivate,
    GiganticSplit,
    GiganticMerged,
    HostMapsPage,
    HostPinsPage,
    HostAccessesPage,
    FolioReferenced,
    LockContended,
    ExclusivePinHeld,
    HwPagePrivate,
    FolioFreed,
    GuestMapsPage,
    TwoVmsMapPage,
    GuestPoisoned,
    // Liveness.
    ConversionCompletes,
    ConversionEventuallySucceeds,
    IndependentSubpages,
    TruncateFrees,
}

use PropertyId::*;

pub struct PropertySpec {
    pub id: PropertyId,
    pub name: &'static str,
    pub kind: Kind,
    /// The property as one sentence.
    pub sentence: &'static str,
    /// For safety properties: the sanity properties that show it is not vacuous.
    pub partners: &'static [PropertyId],
}

pub const ALL: &[PropertySpec] = &[
    PropertySpec {
        id: NoPrivateHostMapping,
        name: "no_private_host_mapping",
        kind: Kind::Safety,
        sentence: "No host page table maps a page whose attribute is private.",
        partners: &[HostMapsPage, ConversionSucceeds],
    },
    PropertySpec {
        id: NoPrivatePin,
        name: "no_private_pin",
        kind: Kind::Safety,
        sentence: "No completed GUP reference (FOLL_GET or FOLL_PIN) exists on a page whose attribute is private.",
        partners: &[HostPinsPage, ConversionSucceeds],
    },
    PropertySpec {
        id: HostAccessOnlyShared,
        name: "host_access_only_shared",
        kind: Kind::Safety,
        sentence: "The host CPU, the kernel or a device touches a guest_memfd page only while it is shared (or after it was orphaned by truncation), and never a freed folio.",
        partners: &[HostAccessesPage],
    },
    PropertySpec {
        id: Stage2Coherent,
        name: "stage2_coherent",
        kind: Kind::Safety,
        sentence: "In every VM, outside that VM's invalidation window, every stage-2 entry has the type of its page's attribute and maps the page's current folio.",
        partners: &[GuestMapsPrivate],
    },
    PropertySpec {
        id: ConversionAtomic,
        name: "conversion_atomic",
        kind: Kind::Safety,
        sentence: "A conversion that returned an error changed no attribute in its range; one that succeeded changed them all.",
        partners: &[ConversionSucceeds, ConversionFailsEagain],
    },
    PropertySpec {
        id: RefcountConserved,
        name: "refcount_conserved",
        kind: Kind::Safety,
        sentence: "Refcount parts are never negative, the counter equals their encoding, a folio is freed only at zero, and nobody touches a freed folio.",
        partners: &[FolioReferenced],
    },
    PropertySpec {
        id: GiganticPoolSafe,
        name: "gigantic_pool_safe",
        kind: Kind::Safety,
        sentence: "No reference survives into a subpage that was merged away, and a gigantic page is back in the hugetlb pool only when nothing references it.",
        partners: &[GiganticSplit, GiganticMerged],
    },
    PropertySpec {
        id: NoDeadlock,
        name: "no_deadlock",
        kind: Kind::Safety,
        sentence: "No set of threads waits for locks in a cycle (a thread waiting for a lock it holds itself included).",
        partners: &[LockContended],
    },
    PropertySpec {
        id: ExclusivePinExclusive,
        name: "exclusive_pin_exclusive",
        kind: Kind::Safety,
        sentence: "While a folio is exclusively pinned, no other FOLL_PIN pin is held on it.",
        partners: &[ExclusivePinHeld],
    },
    PropertySpec {
        id: HostAccessOnlyHwShared,
        name: "host_access_only_hw_shared",
        kind: Kind::Safety,
        sentence: "No host CPU, GUP holder or device touches a page that the hardware holds private (an RMP/PAMT/host stage-2 violation: fatal on confidential hardware).",
        partners: &[HostAccessesPage, HwPagePrivate],
    },
    PropertySpec {
        id: FreedFolioHwShared,
        name: "freed_folio_hw_shared",
        kind: Kind::Safety,
        sentence: "A folio returned to the allocator, and a gigantic page returned to the hugetlb pool, is hardware-shared.",
        partners: &[FolioFreed, HwPagePrivate],
    },
    PropertySpec {
        id: NoStage2ToFreed,
        name: "no_stage2_to_freed",
        kind: Kind::Safety,
        sentence: "No stage-2 entry in any VM maps a folio that was freed, merged away or orphaned by truncation.",
        partners: &[GuestMapsPage, FolioFreed],
    },
    PropertySpec {
        id: ConversionSucceeds,
        name: "a conversion to private succeeds",
        kind: Kind::Sanity,
        sentence: "Some to-private conversion returns success.",
        partners: &[],
    },
    PropertySpec {
        id: ConversionFailsEagain,
        name: "a conversion fails EAGAIN",
        kind: Kind::Sanity,
        sentence: "Some conversion returns -EAGAIN.",
        partners: &[],
    },
    PropertySpec {
        id: PageLongtermPinned,
        name: "a page is long-term pinned",
        kind: Kind::Sanity,
        sentence: "Some page holds a FOLL_LONGTERM pin.",
        partners: &[],
    },
    PropertySpec {
        id: GuestMapsPrivate,
        name: "a guest maps a private page",
        kind: Kind::Sanity,
        sentence: "Some stage-2 entry maps a private page.",
        partners: &[],
    },
    PropertySpec {
        id: GiganticSplit,
        name: "a gigantic page is split",
        kind: Kind::Sanity,
        sentence: "Some gigantic page is being split into 4K folios.",
        partners: &[],
    },
    PropertySpec {
        id: GiganticMerged,
        name: "a gigantic page is merged",
        kind: Kind::Sanity,
        sentence: "Some gigantic page is being merged back from 4K folios.",
        partners: &[],
    },
    PropertySpec {
        id: HostMapsPage,
        name: "a host process maps a page",
        kind: Kind::Sanity,
        sentence: "Some host PTE maps a guest_memfd page.",
        partners: &[],
    },
    PropertySpec {
        id: HostPinsPage,
        name: "the host holds a GUP reference",
        kind: Kind::Sanity,
        sentence: "Some page holds a completed FOLL_GET or FOLL_PIN reference.",
        partners: &[],
    },
    PropertySpec {
        id: HostAccessesPage,
        name: "the host touches a page",
        kind: Kind::Sanity,
        sentence: "The host CPU, a GUP holder or a device accesses a guest_memfd page.",
        partners: &[],
    },
    PropertySpec {
        id: FolioReferenced,
        name: "a folio holds an extra reference",
        kind: Kind::Sanity,
        sentence: "Some folio holds a reference besides the page cache's.",
        partners: &[],
    },
    PropertySpec {
        id: LockContended,
        name: "a thread waits for a lock",
        kind: Kind::Sanity,
        sentence: "Some thread is blocked acquiring a lock another thread holds.",
        partners: &[],
    },
    PropertySpec {
        id: ExclusivePinHeld,
        name: "a page is exclusively pinned",
        kind: Kind::Sanity,
        sentence: "Some page holds an exclusive pin.",
        partners: &[],
    },
    PropertySpec {
        id: HwPagePrivate,
        name: "the hardware holds a page private",
        kind: Kind::Sanity,
        sentence: "Some page is private in the hardware's ownership table (kvm_arch_gmem_make_private() ran).",
        partners: &[],
    },
    PropertySpec {
        id: FolioFreed,
        name: "a folio is freed",
        kind: Kind::Sanity,
        sentence: "Some folio of the file has gone back to the allocator.",
        partners: &[],
    },
    PropertySpec {
        id: GuestMapsPage,
        name: "a guest maps a page",
        kind: Kind::Sanity,
        sentence: "Some VM has a stage-2 entry for a guest_memfd page.",
        partners: &[],
    },
    PropertySpec {
        id: TwoVmsMapPage,
        name: "two VMs map one page",
        kind: Kind::Sanity,
        sentence: "Both VMs bound to the file have a stage-2 entry for the same page.",
        partners: &[],
    },
    PropertySpec {
        id: GuestPoisoned,
        name: "memory failure poisons a page",
        kind: Kind::Sanity,
        sentence: "Memory failure marked a folio of the file hardware-poisoned (PG_hwpoison).",
        partners: &[],
    },
    PropertySpec {
        id: ConversionCompletes,
        name: "conversion_completes",
        kind: Kind::Liveness,
        sentence: "Every conversion ioctl eventually returns.",
        partners: &[],
    },
    PropertySpec {
        id: ConversionEventuallySucceeds,
        name: "conversion_eventually_succeeds",
        kind: Kind::Liveness,
        sentence: "A to-private conversion that the VMM retries (after dropping what it owns) eventually succeeds.",
        partners: &[],
    },
    PropertySpec {
        id: IndependentSubpages,
        name: "independent_subpages",
        kind: Kind::Liveness,
        sentence: "A long-term pin on one subpage, held forever, never stops a retried conversion of other subpages from succeeding.",
        partners: &[],
    },
    PropertySpec {
        id: TruncateFrees,
        name: "truncate_frees",
        kind: Kind::Liveness,
        sentence: "After the file is closed, every gigantic page eventually returns to the hugetlb pool.",
        partners: &[],
    },
];

impl PropertyId {
    pub fn spec(self) -> &'static PropertySpec {
        ALL.iter()
            .find(|s| s.id == self)
            .expect("every PropertyId has a spec")
    }
    pub fn name(self) -> &'static str {
        self.spec().name
    }
    pub fn kind(self) -> Kind {
        self.spec().kind
    }
    pub fn by_name(name: &str) -> Option<PropertyId> {
        ALL.iter().find(|s| s.name == name).map(|s| s.id)
    }
    pub fn all() -> impl Iterator<Item = PropertyId> {
        ALL.iter().map(|s| s.id)
    }
    pub fn safety() -> impl Iterator<Item = PropertyId> {
        ALL.iter().filter(|s| s.kind == Kind::Safety).map(|s| s.id)
    }
    pub fn sanity() -> impl Iterator<Item = PropertyId> {
        ALL.iter().filter(|s| s.kind == Kind::Sanity).map(|s| s.id)
    }
    pub fn liveness() -> impl Iterator<Item = PropertyId> {
        ALL.iter()
            .filter(|s| s.kind == Kind::Liveness)
            .map(|s| s.id)
    }

    /// Safety and sanity: does the predicate hold in this state?
    /// Liveness: is the system *pending* in this state?
    pub fn eval<V: GmemView + ?Sized>(self, v: &V) -> bool {
        match self {
            NoPrivateHostMapping => no_private_host_mapping(v),
            NoPrivatePin => no_private_pin(v),
            HostAccessOnlyShared => host_access_only_shared(v),
            Stage2Coherent => stage2_coherent(v),
            ConversionAtomic => conversion_atomic(v),
            RefcountConserved => refcount_conserved(v),
            GiganticPoolSafe => gigantic_pool_safe(v),
            NoDeadlock => no_deadlock(v),
            ExclusivePinExclusive => exclusive_pin_exclusive(v),
            HostAccessOnlyHwShared => host_access_only_hw_shared(v),
            FreedFolioHwShared => freed_folio_hw_shared(v),
            NoStage2ToFreed => no_stage2_to_freed(v),
            ConversionSucceeds => any_conversion(v, |c| {
                c.to == Attr::Private && c.status == ConvStatus::Returned(ConvResult::Ok)
            }),
            ConversionFailsEagain => any_conversion(v, |c| {
                matches!(c.status, ConvStatus::Returned(ConvResult::Eagain { .. }))
            }),
            PageLongtermPinned => any_page(v, |p| p.longterm_pins > 0),
            GuestMapsPrivate => any_page(v, |p| {
                p.stage2.iter().any(|s| matches!(s, Stage2::Private(_)))
            }),
            GiganticSplit => any_gigantic(v, |g| g.structure == Structure::Splitting),
            GiganticMerged => any_gigantic(v, |g| g.structure == Structure::Merging),
            HostMapsPage => any_page(v, |p| p.host_ptes != 0),
            HostPinsPage => any_page(v, |p| p.host_pinned()),
            HostAccessesPage => {
                let mut found = false;
                v.for_each_access(&mut |a| {
                    found |= !matches!(a.who, Accessor::Guest);
                });
                found
            }
            FolioReferenced => {
                let mut found = false;
                v.for_each_folio(&mut |f| found |= !f.freed && f.parts.extra() > 0);
                found
            }
            LockContended => {
                let mut found = false;
                v.for_each_thread_locks(&mut |t| found |= t.waits_for.is_some());
                found
            }
            ExclusivePinHeld => any_page(v, |p| p.exclusive_pins > 0),
            HwPagePrivate => {
                let mut found = false;
                v.for_each_folio(&mut |f| found |= f.hw_private != 0);
                found
            }
            FolioFreed => {
                let mut found = false;
                v.for_each_folio(&mut |f| found |= f.freed);
                found
            }
            GuestMapsPage => any_page(v, |p| p.stage2.iter().any(|s| *s != Stage2::None)),
            TwoVmsMapPage => any_page(v, |p| p.stage2.iter().all(|s| *s != Stage2::None)),
            GuestPoisoned => {
                let mut found = false;
                v.for_each_folio(&mut |f| found |= f.poisoned && !f.freed);
                found
            }
            ConversionCompletes => conversion_in_progress(v),
            ConversionEventuallySucceeds => retried_conversion_pending(v),
            IndependentSubpages => conversion_blocked_by_other_subpage_pin(v),
            TruncateFrees => released_gigantic_not_pooled(v),
        }
    }
}

fn any_page<V: GmemView + ?Sized>(v: &V, f: impl Fn(&PageView) -> bool) -> bool {
    (0..v.nr_pages()).any(|i| f(&v.page(i)))
}

/// `any_page` over the private pages only.
fn any_private_page<V: GmemView + ?Sized>(v: &V, f: impl Fn(&PageView) -> bool) -> bool {
    (0..v.nr_pages()).any(|i| v.page_attr(i) == Attr::Private && f(&v.page(i)))
}

fn any_gigantic<V: GmemView + ?Sized>(v: &V, f: impl Fn(&GiganticView) -> bool) -> bool {
    let mut found = false;
    v.for_each_gigantic(&mut |g| found |= f(g));
    found
}

fn any_conversion<V: GmemView + ?Sized>(v: &V, f: impl Fn(&ConversionView<'_>) -> bool) -> bool {
    let mut found = false;
    v.for_each_conversion(&mut |c| found |= f(c));
    found
}

/// `no_private_host_mapping` (docs/properties.md); the kernel's guard is
/// `unmap_mapping_pages()` before the check (docs/kernel.md#conversion-check).
pub fn no_private_host_mapping<V: GmemView + ?Sized>(v: &V) -> bool {
    !any_private_page(v, |p| p.host_ptes != 0)
}

/// `no_private_pin` (docs/properties.md; docs/kernel.md#gup-fast). Transient
/// references are allowed.
pub fn no_private_pin<V: GmemView + ?Sized>(v: &V) -> bool {
    !any_private_page(v, |p| p.host_pinned())
}

/// `host_access_only_shared` (docs/properties.md): private memory is never
/// reached by the host (docs/kernel.md#seed-thread).
pub fn host_access_only_shared<V: GmemView + ?Sized>(v: &V) -> bool {
    let mut ok = true;
    v.for_each_access(&mut |a| {
        if matches!(a.who, Accessor::Guest) {
            return;
        }
        match v.folio(a.folio) {
            None => ok = false,
            Some(f) if f.freed || f.home == FolioHome::Gone => ok = false,
            Some(f) if f.home == FolioHome::Orphaned => {}
            Some(_) => {
                let p = v.page(a.index);
                // The folio is still the guest's page at this index: it must be shared.
                if p.folio == Some(a.folio) && p.attr != Attr::Shared {
                    ok = false;
                }
            }
        }
    });
    ok
}

/// `stage2_coherent`: the invariant KVM's invalidation protocol keeps
/// (`kvm_mmu_invalidate_start()`/`_end()`, `mmu_invalidate_retry_gfn()` in
/// `virt/kvm/kvm_main.c`), per VM.
pub fn stage2_coherent<V: GmemView + ?Sized>(v: &V) -> bool {
    !any_page(v, |p| {
        p.stage2
            .iter()
            .zip(p.invalidating)
            .any(|(s, inv)| match (s, inv) {
                (_, true) | (Stage2::None, _) => false,
                (s, false) => s.attr() != Some(p.attr) || s.folio() != p.folio,
            })
    })
}

/// `host_access_only_hw_shared`: a host access (CPU, GUP holder, device) to
/// a page the hardware holds private is an RMP fault on SNP, a machine check
/// on TDX, a host stage-2 fault on pKVM.
pub fn host_access_only_hw_shared<V: GmemView + ?Sized>(v: &V) -> bool {
    let mut ok = true;
    v.for_each_access(&mut |a| {
        if matches!(a.who, Accessor::Guest) {
            return;
        }
        if let Some(f) = v.folio(a.folio) {
            let bit = a.index.wrapping_sub(f.index);
            if bit < 64 && f.hw_private & (1 << bit) != 0 {
                ok = false;
            }
        }
    });
    ok
}

/// `freed_folio_hw_shared`: memory handed back to the allocator (or the
/// hugetlb pool) while the hardware holds it private is the bug that
/// `kvm_arch_gmem_reclaim()` in `kvm_gmem_free_folio()` exists to prevent.
pub fn freed_folio_hw_shared<V: GmemView + ?Sized>(v: &V) -> bool {
    let mut ok = true;
    v.for_each_folio(&mut |f| ok &= !(f.freed && f.hw_private != 0));
    ok && !any_gigantic(v, |g| g.hw_private_while_pooled)
}

/// `no_stage2_to_freed`: since `kvm_gmem_get_pfn()` drops its folio
/// reference before returning, a stage-2 entry pins nothing; only the
/// invalidation protocol keeps it from outliving the folio.
pub fn no_stage2_to_freed<V: GmemView + ?Sized>(v: &V) -> bool {
    !any_page(v, |p| {
        p.stage2.iter().any(|s| {
            s.folio().is_some_and(|id| match v.folio(id) {
                None => true,
                Some(f) => f.freed || !matches!(f.home, FolioHome::PageCache(_)),
            })
        })
    })
}

/// `conversion_atomic` (docs/properties.md): v13's `__kvm_gmem_set_attributes()`
/// checks every folio before it stores (docs/kernel.md#conversion-ioctl).
pub fn conversion_atomic<V: GmemView + ?Sized>(v: &V) -> bool {
    !any_conversion(v, |c| match c.status {
        ConvStatus::Returned(ConvResult::Ok) => c.after.iter().any(|a| *a != c.to),
        ConvStatus::Returned(_) => c.after != c.before,
        _ => false,
    })
}

/// `refcount_conserved` (docs/properties.md; `include/linux/page_ref.h`,
/// docs/kernel.md#gup-references).
pub fn refcount_conserved<V: GmemView + ?Sized>(v: &V) -> bool {
    let mut ok = true;
    v.for_each_folio(&mut |f| {
        if !f.parts.all_non_negative() {
            ok = false;
        } else if f.freed {
            ok &= f.parts.is_zero() && f.refcount == 0;
        } else if f.frozen {
            ok &= f.refcount == 0;
        } else {
            ok &= f.refcount == encoded_refcount(&f.parts, f.large);
            if f.large {
                ok &= f.pincount == encoded_pincount(&f.parts);
            }
        }
    });
    if ok {
        v.for_each_access(&mut |a| match v.folio(a.folio) {
            Some(f) if !f.freed => {}
            _ => ok = false,
        });
    }
    ok
}

/// `gigantic_pool_safe` (docs/properties.md; 1G RFC v2 patches 38-39,
/// docs/kernel.md#hugetlb-rfc-v2).
pub fn gigantic_pool_safe<V: GmemView + ?Sized>(v: &V) -> bool {
    !any_gigantic(v, |g| {
        g.refs_on_dead_subfolios != 0 || g.refs_while_pooled != 0
    })
}

/// `no_deadlock` (docs/properties.md; the populate lock order,
/// docs/kernel.md#populate). A cycle in the
/// waits-for graph (thread -> holder of a conflicting mode of the lock it waits for).
pub fn no_deadlock<V: GmemView + ?Sized>(v: &V) -> bool {
    // Evaluated on every generated state: no allocation. Threads are
    // collected into a fixed table (the model has 14 thread ids, the
    // implementation's lock tracker fewer); a provider with more threads than
    // the table holds is reported as a deadlock rather than silently cut.
    const MAX_T: usize = 32;
    const MAX_H: usize = 4;
    #[derive(Clone, Copy)]
    struct T {
        holds: [(LockId, LockMode); MAX_H],
        nholds: usize,
        waits: Option<(LockId, LockMode)>,
    }
    let mut any_wait = false;
    v.for_each_thread_locks(&mut |t| any_wait |= t.waits_for.is_some());
    if !any_wait {
        return true;
    }
    let empty = T {
        holds: [(LockId::MmuLock, LockMode::Shared); MAX_H],
        nholds: 0,
        waits: None,
    };
    let mut ts = [empty; MAX_T];
    let mut n = 0;
    let mut overflow = false;
    v.for_each_thread_locks(&mut |t| {
        if n == MAX_T || t.holds.len() > MAX_H {
            overflow = true;
            return;
        }
        ts[n].holds[..t.holds.len()].copy_from_slice(t.holds);
        ts[n].nholds = t.holds.len();
        ts[n].waits = t.waits_for;
        n += 1;
    });
    if overflow {
        return false;
    }
    let ts = &ts[..n];
    // Does thread `h` hold `lock` in a mode conflicting with `mode`?
    let blocks = |h: usize, (lock, mode): (LockId, LockMode)| {
        ts[h].holds[..ts[h].nholds]
            .iter()
            .any(|&(l, m)| l == lock && m.conflicts(mode))
    };
    // Iterative three-colour DFS over the waits-for graph (edges computed on
    // the fly: thread -> every holder of a conflicting mode).
    let mut colour = [0u8; MAX_T];
    let mut stack = [(0usize, 0usize); MAX_T];
    for root in 0..n {
        if colour[root] != 0 {
            continue;
        }
        let mut depth = 1;
        stack[0] = (root, 0);
        colour[root] = 1;
        while depth > 0 {
            let (node, next) = stack[depth - 1];
            let succ = ts[node]
                .waits
                .and_then(|w| (next..n).find(|&h| blocks(h, w)));
            match succ {
                Some(h) => {
                    stack[depth - 1].1 = h + 1;
                    match colour[h] {
                        0 => {
                            colour[h] = 1;
                            stack[depth] = (h, 0);
                            depth += 1;
                        }
                        1 => return false,
                        _ => {}
                    }
                }
                None => {
                    colour[node] = 2;
                    depth -= 1;
                }
            }
        }
    }
    true
}

/// `exclusive_pin_exclusive` (docs/properties.md; RFC patch 2,
/// lore:20240618-exclusive-gup-v1-2-30472a19c5d1@quicinc.com). The exclusive
/// pin is taken on top of one normal pin, so the folio's pins must all be
/// the exclusive holders' own.
pub fn exclusive_pin_exclusive<V: GmemView + ?Sized>(v: &V) -> bool {
    let mut ok = true;
    v.for_each_folio(&mut |f| {
        if f.parts.exclusive > 0 && f.parts.pins > f.parts.exclusive {
            ok = false;
        }
    });
    ok
}

/// Liveness `conversion_completes`: a conversion ioctl is in progress.
pub fn conversion_in_progress<V: GmemView + ?Sized>(v: &V) -> bool {
    any_conversion(v, |c| c.status == ConvStatus::InProgress)
}

/// Liveness `conversion_eventually_succeeds`: a retried to-private request
/// has not succeeded yet.
pub fn retried_conversion_pending<V: GmemView + ?Sized>(v: &V) -> bool {
    any_conversion(v, |c| {
        c.retries_until_ok && c.to == Attr::Private && !c.succeeded && c.status != ConvStatus::Idle
    })
}

/// Liveness `independent_subpages`: a retried to-private request has not
/// succeeded while a page outside its range holds a long-term pin.
pub fn conversion_blocked_by_other_subpage_pin<V: GmemView + ?Sized>(v: &V) -> bool {
    any_conversion(v, |c| {
        c.retries_until_ok
            && c.to == Attr::Private
            && !c.succeeded
            && c.status != ConvStatus::Idle
            && (0..v.nr_pages())
                .filter(|i| *i < c.start || *i >= c.start + c.nr_pages)
                .any(|i| v.page(i).longterm_pins > 0)
    })
}

/// Liveness `truncate_frees`: the file let go of a gigantic page (close)
/// that is not back in the pool yet.
pub fn released_gigantic_not_pooled<V: GmemView + ?Sized>(v: &V) -> bool {
    any_gigantic(v, |g| g.released && !g.in_pool)
}
