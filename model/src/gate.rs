//! The configurations the CI gate checks: one safety configuration per design
//! and per bug switch, and the liveness configurations (the thread's central
//! questions). The expected verdicts live in `checker/expected.json`.

use crate::config::*;

/// What a gate row checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pass {
    /// Safety (`always`) and sanity (`sometimes`) by exhaustive search.
    Safety,
    /// Liveness by the fairness-aware lasso search.
    Liveness,
}

#[derive(Clone, Debug)]
pub struct GateConfig {
    /// Row name: `design`, `design+bug`, or `design@variant` for liveness rows.
    pub name: String,
    pub pass: Pass,
    pub cfg: Config,
}

fn pinner(kind: PinKind, path: GupPath, page: u8) -> PinnerCfg {
    PinnerCfg {
        kind,
        path,
        page,
        proc: 0,
        hold_forever: false,
        repeat: false,
    }
}

/// The design's gate configuration without the actors a liveness or peer
/// row does not need: no vCPU, no punch, no host process, and a maple-tree
/// preallocation that succeeds. -ENOMEM is the environment's choice, not a
/// fair one, and the VMM does not retry it: a liveness property under an
/// allocator that may fail forever is false for a reason no kernel change
/// can fix, so liveness holds under the premise that the allocation
/// succeeds, and -ENOMEM is a safety question (`conversion_atomic`, the
/// `inplace` row).
fn base(design: Design) -> Config {
    let mut c = Config::for_design(design);
    c.guest.clear();
    c.truncate = None;
    c.procs.clear();
    c.enomem = false;
    c
}

/// The liveness configuration of a design: a retried to-private conversion
/// racing a host fault and a GUP user that releases in its own time.
///
/// The premise of `conversion_eventually_succeeds` is v7's contract: the VMM
/// quiesces its own access to the range and drops what it owns. So the
/// configuration has one GUP user (in flight, releasing in its own time) and
/// no process faulting the range again; [`faulting_gup_users_config`] shows
/// what happens without the premise.
pub fn liveness_config(design: Design) -> Config {
    let mut c = base(design);
    c.pinners.truncate(1);
    c.retry_until_ok = true;
    match design {
        Design::Split => {
            c.conversions = vec![ConvOp {
                start: 0,
                pages: 2,
                to: Attr::Private,
            }];
        }
        Design::Hugetlb => {
            // Subpages 1 and 2 to shared, then the whole file back to
            // private, retried while the pinner of subpage 2 lets go.
            c.retry_until_ok = true;
        }
        Design::ExclusivePin => {}
        _ => {
            c.conversions.truncate(1);
        }
    }
    c
}

/// Without v7's premise: two GUP users keep faulting the range in while the
/// VMM retries. Each attempt can see one fault's transient reference (EAGAIN),
/// and each GUP can lose its fresh PTE to the next attempt's unmap and fault
/// again: a livelock under weak fairness (a finding, see docs).
pub fn faulting_gup_users_config() -> Config {
    let mut c = base(Design::Inplace);
    c.lru = false;
    c.conversions.truncate(1);
    c.pinners = vec![
        pinner(PinKind::Pin, GupPath::Slow, 0),
        pinner(PinKind::Pin, GupPath::Slow, 1),
    ];
    c.retry_until_ok = true;
    c
}

/// The thread's question: a long-term pin on subpage 0, held forever, while
/// the VMM keeps retrying to convert subpage 1 to private.
pub fn independent_subpages_config(design: Design) -> Config {
    let mut c = base(design);
    if design == Design::Hugetlb {
        // Pages start private: subpage 0 (the pinned one) and subpage 1 go
        // shared first, in one gigantic page, which is then split.
        c.pages = 2;
        c.pinners = vec![PinnerCfg {
            hold_forever: true,
            ..pinner(PinKind::Longterm, GupPath::Slow, 0)
        }];
        c.conversions = vec![
            ConvOp {
                start: 0,
                pages: 2,
                to: Attr::Shared,
            },
            ConvOp {
                start: 1,
                pages: 1,
                to: Attr::Private,
            },
        ];
        c.retry_until_ok = true;
        return c;
    }
    c.speculative = None;
    c.lru = false;
    c.pinners = vec![PinnerCfg {
        hold_forever: true,
        ..pinner(PinKind::Longterm, GupPath::Slow, 0)
    }];
    c.conversions = vec![ConvOp {
        start: 1,
        pages: 1,
        to: Attr::Private,
    }];
    c.retry_until_ok = true;
    c
}

/// Close with a long-term pin on a shared subpage: the gigantic page must
/// return to the pool once the pin drops.
pub fn truncate_frees_config(design: Design) -> Config {
    let mut c = base(design);
    c.speculative = None;
    c.conversions.clear();
    if design == Design::Hugetlb {
        // One gigantic page whose subpage 1 is shared (pages start private).
        c.pages = 2;
        c.conversions = vec![ConvOp {
            start: 1,
            pages: 1,
            to: Attr::Shared,
        }];
    }
    c.pinners = vec![pinner(PinKind::Longterm, GupPath::Slow, 1)];
    c.truncate = Some(TruncOp::Close);
    c
}

/// Design wait converting its one page to private while `pin` uses it.
fn wait_one_page(pin: PinnerCfg) -> Config {
    let mut c = base(Design::Wait);
    c.lru = false;
    c.pages = 1;
    c.pinners = vec![pin];
    c.conversions = vec![ConvOp {
        start: 0,
        pages: 1,
        to: Attr::Private,
    }];
    c
}

/// Design wait with a busy short-term pinner that pins again after every
/// release: with `block` the converter blocks faults first (so new pins
/// cannot arrive), without it new pins keep arriving while it waits.
pub fn wait_busy_pinner_config(block: bool) -> Config {
    let mut c = wait_one_page(PinnerCfg {
        repeat: true,
        ..pinner(PinKind::Pin, GupPath::Fast, 0)
    });
    c.block_pins_while_waiting = block;
    c
}

/// Design wait refuses FOLL_LONGTERM, but a plain FOLL_GET reference can be
/// held forever too (vmsplice into a pipe nobody reads: the selftest
/// elevated_refcount in x86/guest_memfd_conversions_test.c does exactly that
/// in v7/v8; docs/kernel.md#selftests, #gup-references): the waiting
/// converter then sleeps forever with the invalidate lock held.
pub fn wait_vmsplice_get_config() -> Config {
    wait_one_page(PinnerCfg {
        hold_forever: true,
        ..pinner(PinKind::Get, GupPath::Fast, 0)
    })
}

/// The LRU bug under a design that waits (the ioctl never returns) and
/// under the v7 design (EAGAIN forever).
pub fn no_lru_drain_config(design: Design) -> Config {
    let mut c = Config::for_bug(Bug::NoLruDrain);
    c.design = design;
    c
}

/// Two VMs bound to one guest_memfd (v13: one `gmem_file` per VM, every
/// invalidation walks all of them): both vCPUs fault page 1 shared, VM 0's
/// then faults page 0 private and VM 1's page 0 shared, while the VMM
/// converts both pages to private and back and VM 1's file is released.
pub fn two_vms_config() -> Config {
    let mut c = base(Design::Inplace);
    c.vms = 2;
    c.lru = false;
    c.pinners.clear();
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
        GuestOp {
            page: 1,
            access: Attr::Shared,
            vm: 1,
        },
        GuestOp {
            page: 0,
            access: Attr::Shared,
            vm: 1,
        },
    ];
    c.truncate = Some(TruncOp::Release { vm: 1 });
    c
}

/// Memory failure on a private page the vCPU faults in, racing the
/// conversions and a host writer (`kvm_gmem_error_folio()` runs under the
/// shared invalidate lock, concurrently with `kvm_gmem_get_pfn()`).
pub fn memory_failure_config() -> Config {
    let mut c = base(Design::Inplace);
    c.lru = false;
    c.pinners.clear();
    c.procs = vec![vec![HostOp::Write { page: 1 }]];
    c.guest = vec![
        GuestOp {
            page: 0,
            access: Attr::Private,
            vm: 0,
        },
        GuestOp {
            page: 0,
            access: Attr::Private,
            vm: 0,
        },
    ];
    c.memory_failure = Some(0);
    c.truncate = Some(TruncOp::Punch { start: 1, pages: 1 });
    c
}

/// Design hugetlb, question 3: two VMM threads fault subpage 0 of a fresh
/// huge folio whose range is mixed (one splits it in the fault path, the
/// other may find the huge folio first) while the vCPU faults subpage 1
/// private. With `live`, the VMM then converts subpage 0 back to private:
/// the conversion needs the invalidate lock the splitting fault holds.
pub fn hugetlb_fresh_split_config(live: bool) -> Config {
    let mut c = Config::hugetlb_mixed_race();
    c.procs = vec![
        vec![HostOp::Write { page: 0 }],
        vec![HostOp::Write { page: 0 }],
    ];
    if live {
        c.guest.clear();
        c.conversions.push(ConvOp {
            start: 0,
            pages: 1,
            to: Attr::Private,
        });
    }
    c
}

/// Design hugetlb, question 4: the vCPU maps subpage 0 through a huge
/// leaf; the VMM converts subpage 1 to shared, which must split that
/// leaf (kvm_gmem_split_private()) and the folio
/// (hugetlb_vmemmap_restore_folio()); either allocation may fail -ENOMEM
/// once, and the VMM retries.
pub fn hugetlb_enomem_config() -> Config {
    let mut c = Config::hugetlb_empty(2);
    c.guest = vec![GuestOp {
        page: 0,
        access: Attr::Private,
        vm: 0,
    }];
    c.conversions = vec![ConvOp {
        start: 1,
        pages: 1,
        to: Attr::Shared,
    }];
    c.enomem = true;
    c.retry_until_ok = true;
    c
}

/// A design-split bug switch moved to design hugetlb: the same guard in
/// `mm/hugetlb_restructuring.c` and `kvm_gmem_punch_hole()`.
pub fn hugetlb_bug_config(bug: Bug) -> Config {
    let mut c = Config::hugetlb_empty(2);
    c.bugs.insert(bug);
    match bug {
        Bug::RestructureNoFreeze => {
            // The vCPU faults subpage 0 private (a whole huge folio); the
            // VMM converts subpage 1 to shared, splitting it, while a PFN
            // walker try-gets the folio.
            c.guest = vec![GuestOp {
                page: 0,
                access: Attr::Private,
                vm: 0,
            }];
            c.conversions = vec![ConvOp {
                start: 1,
                pages: 1,
                to: Attr::Shared,
            }];
            c.speculative = Some(SpeculativeCfg {
                page: 0,
                repeat: false,
            });
        }
        _ => {
            // Subpage 1 shared and long-term pinned, then the huge page
            // is punched (the branch's truncate_shared_while_pinned).
            c.conversions = vec![ConvOp {
                start: 1,
                pages: 1,
                to: Attr::Shared,
            }];
            c.pinners = vec![pinner(PinKind::Longterm, GupPath::Slow, 1)];
            c.truncate = Some(TruncOp::Punch { start: 0, pages: 2 });
        }
    }
    c
}

/// Every gate row, in report order.
pub fn gate_configs() -> Vec<GateConfig> {
    let mut v = Vec::new();
    let row = |name: String, pass: Pass, cfg: Config| GateConfig { name, pass, cfg };
    for d in Design::ALL {
        v.push(row(d.name().into(), Pass::Safety, Config::for_design(d)));
    }
    v.push(row(
        "inplace@two_vms".into(),
        Pass::Safety,
        two_vms_config(),
    ));
    v.push(row(
        "inplace@memory_failure".into(),
        Pass::Safety,
        memory_failure_config(),
    ));
    v.push(row(
        "hugetlb@fresh_split_race".into(),
        Pass::Safety,
        hugetlb_fresh_split_config(false),
    ));
    v.push(row(
        "hugetlb@enomem".into(),
        Pass::Safety,
        hugetlb_enomem_config(),
    ));
    for b in [Bug::RestructureNoFreeze, Bug::PunchMergeNoCheck] {
        let c = hugetlb_bug_config(b);
        v.push(row(c.label(), Pass::Safety, c));
    }
    for b in Bug::ALL {
        let c = Config::for_bug(b);
        let pass = if b == Bug::NoLruDrain {
            Pass::Liveness
        } else {
            Pass::Safety
        };
        v.push(row(c.label(), pass, c));
    }
    v.push(row(
        "wait+no_lru_drain".into(),
        Pass::Liveness,
        no_lru_drain_config(Design::Wait),
    ));
    for d in Design::ALL {
        v.push(row(
            format!("{d}@retry"),
            Pass::Liveness,
            liveness_config(d),
        ));
    }
    v.push(row(
        "inplace@faulting_gup_users".into(),
        Pass::Liveness,
        faulting_gup_users_config(),
    ));
    for d in Design::ALL {
        if d == Design::ExclusivePin {
            continue;
        }
        v.push(row(
            format!("{d}@pin_subpage_a"),
            Pass::Liveness,
            independent_subpages_config(d),
        ));
    }
    for d in [Design::Split, Design::HugeWhole, Design::Hugetlb] {
        v.push(row(
            format!("{d}@close_pinned"),
            Pass::Liveness,
            truncate_frees_config(d),
        ));
    }
    v.push(row(
        "hugetlb@fresh_split_race_live".into(),
        Pass::Liveness,
        hugetlb_fresh_split_config(true),
    ));
    v.push(row(
        "hugetlb@enomem_retry".into(),
        Pass::Liveness,
        hugetlb_enomem_config(),
    ));
    v.push(row(
        "wait@vmsplice_get".into(),
        Pass::Liveness,
        wait_vmsplice_get_config(),
    ));
    v.push(row(
        "wait@busy_pinner_blocked".into(),
        Pass::Liveness,
        wait_busy_pinner_config(true),
    ));
    v.push(row(
        "wait@busy_pinner_unblocked".into(),
        Pass::Liveness,
        wait_busy_pinner_config(false),
    ));
    v
}

/// Look a row up by name.
pub fn gate_config(name: &str) -> Option<GateConfig> {
    gate_configs().into_iter().find(|g| g.name == name)
}

/// The small fixed configuration encoded action for action in TLA+ and
/// Promela (bench/peers/), so that TLC, SPIN and this checker can be compared
/// on the same state graph: two pages, one VMM process writing page 0, one
/// GUP-fast short-term pinner on page 0, one to-private conversion of both
/// pages.
pub fn peer_config(design: Design, bug: Option<Bug>) -> Config {
    let mut c = base(design);
    c.lru = false;
    c.speculative = None;
    c.procs = vec![vec![HostOp::Write { page: 0 }]];
    c.pinners = vec![pinner(PinKind::Pin, GupPath::Fast, 0)];
    c.conversions.truncate(1);
    if let Some(b) = bug {
        c.bugs.insert(b);
    }
    c
}
