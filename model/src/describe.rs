//! Human-readable names for steps and state changes, in the kernel's words,
//! for timelines, the explorer and ITF traces.

use crate::actors::{converter, Action, Actor};
use crate::config::{Bug, GupPath, HostOp, PinKind, TruncOp};
use crate::model::GmemModel;
use crate::state::*;
use invariants::{Attr, ConvResult, Structure};

fn attr(a: Attr) -> &'static str {
    match a {
        Attr::Private => "private",
        Attr::Shared => "shared",
    }
}

/// A conversion's return value in kernel notation (`-EAGAIN, error_offset 1`).
pub fn result_text(r: ConvResult) -> String {
    match r {
        ConvResult::Ok => "0".into(),
        ConvResult::Eagain { error_index } => format!("-EAGAIN, error_offset {error_index}"),
        ConvResult::Einval => "-EINVAL".into(),
        ConvResult::Timeout => "-ETIMEDOUT (gave up waiting)".into(),
        ConvResult::Enomem { .. } | ConvResult::Efault | ConvResult::Enotty => r.kernel(),
    }
}

/// The actor behind a lock-holder id ([`Actor::tid`]).
pub fn actor_of_tid(t: u8) -> Option<Actor> {
    Some(match t {
        0 => Actor::Converter(0),
        1 | 2 => Actor::Proc(t - 1),
        3..=5 => Actor::Pinner(t - 3),
        6 => Actor::Guest(0),
        7 => Actor::Truncator,
        8 => Actor::Populate,
        9 => Actor::Speculative,
        10 => Actor::PoolCallback,
        11 => Actor::Guest(1),
        12 => Actor::MemoryFailure,
        13 => Actor::AllocFail,
        14 => Actor::SecondaryMmu,
        15 => Actor::Converter(1),
        _ => return None,
    })
}

/// `converter1: ` before a converter thread's line where there are two
/// threads; nothing where there is one (the one-thread wording of every
/// trace and timeline stays as it was).
fn who(two: bool, k: u8) -> String {
    if two {
        format!("{}: ", Actor::Converter(k))
    } else {
        String::new()
    }
}

fn tid_name(t: u8) -> String {
    actor_of_tid(t).map_or_else(|| format!("thread {t}"), |a| a.name())
}

/// `free`, `held for write by converter`, `held for read by gup0, proc1`.
pub fn lock_text(l: RwSem) -> String {
    match (l.writer.get(), l.readers) {
        (Some(w), _) => format!("held for write by {}", tid_name(w)),
        (None, 0) => "free".into(),
        (None, r) => format!(
            "held for read by {}",
            (0..16u8)
                .filter(|t| r & (1 << t) != 0)
                .map(tid_name)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn folio_state_text(f: FolioState) -> &'static str {
    match f {
        FolioState::Unused => "never allocated",
        FolioState::PageCache => "in the page cache",
        FolioState::Orphaned => "removed from the page cache, still referenced",
        FolioState::Gone => "gone (split up, or folded back by a merge)",
        FolioState::Freed => "freed",
    }
}

fn structure_text(s: Structure) -> &'static str {
    match s {
        Structure::Whole => "one gigantic folio",
        Structure::Split => "split into 4K folios",
        Structure::Splitting => "being split",
        Structure::Merging => "being merged",
    }
}

/// The state as the explorer shows it: pages, folios, the lock, and what
/// each actor does next, in the words of the step labels (no program
/// counter names).
pub fn state_text(m: &GmemModel, st: &State) -> String {
    use stateright::Model;
    let mut out = String::new();
    for i in 0..m.cfg().pages as usize {
        out += &format!("page{i}: {}\n", page_summary(m, st, i));
    }
    for (k, f) in st.folios.iter().enumerate() {
        if f.state != FolioState::Unused {
            out += &format!(
                "f{k}: {}, refcount {}{}{}\n",
                folio_state_text(f.state),
                { f.refcount },
                if f.frozen { ", frozen" } else { "" },
                if f.lru { ", in an LRU batch" } else { "" }
            );
        }
    }
    if m.cfg().design.is_huge() {
        let n = crate::mm::nr_gigantic(m.cfg());
        for (k, g) in st.gigantic.iter().enumerate().take(n) {
            out += &format!(
                "gigantic page{}: {}{}{}\n",
                if n > 1 {
                    format!(" {k}")
                } else {
                    String::new()
                },
                structure_text(g.structure.get()),
                if g.in_pool {
                    ", in the hugetlb pool"
                } else {
                    ""
                },
                if g.released { ", released" } else { "" }
            );
        }
    }
    out += &format!("invalidate_lock: {}\n", lock_text(st.invalidate_lock));
    if st.closed {
        out += "file: closed\n";
    }
    let two = m.cfg().converters().count() > 1;
    for k in m.cfg().converters() {
        if let Some(r) = st.conv[k as usize].result.get() {
            out += &format!("{}last ioctl returned {}\n", who(two, k), result_text(r));
        }
    }
    let mut acts = Vec::new();
    m.actions(st, &mut acts);
    for a in m.actors() {
        let what = if acts.contains(&Action::Step(a)) {
            let blocked = m.apply(st, Action::Step(a)).is_none();
            format!(
                "next step: {}{}",
                step_label(m, st, Action::Step(a)),
                if blocked { " (blocked)" } else { "" }
            )
        } else if acts.contains(&Action::Start(a)) {
            format!("idle; may start: {}", step_label(m, st, Action::Start(a)))
        } else {
            "nothing left to do".into()
        };
        out += &format!("{a}: {what}\n");
    }
    out
}

/// What `action` does from `st`, as the kernel function it models.
pub fn step_label(m: &GmemModel, st: &State, action: Action) -> String {
    let c = m.cfg();
    match action {
        Action::Start(a) => match a {
            Actor::Converter(k) => {
                let cv = &st.conv[k as usize];
                let idx = if cv.pc.get() == ConvPc::Idle {
                    0
                } else {
                    cv.op as usize + 1
                };
                let ops: Vec<_> = c.conversions_of(k).collect();
                let o = ops[idx.min(ops.len() - 1)];
                format!(
                    "ioctl(SET_MEMORY_ATTRIBUTES2, {}..{} -> {})",
                    o.start,
                    o.start + o.pages,
                    attr(o.to)
                )
            }
            Actor::Proc(p) => {
                let op = c.procs[p as usize][st.procs[p as usize].op as usize];
                match op {
                    HostOp::Read { page } => format!("read page {page}"),
                    HostOp::Write { page } => format!("write page {page}"),
                    HostOp::Dontneed { page } => format!("madvise(DONTNEED) page {page}"),
                }
            }
            Actor::Pinner(k) => {
                let pc = c.pinners[k as usize];
                if pc.vfio {
                    format!(
                        "VFIO_IOMMU_MAP_DMA of page {}: pin_user_pages_remote(FOLL_LONGTERM){}",
                        pc.page,
                        if c.design.refuses_gup() {
                            " -EFAULT"
                        } else {
                            ""
                        }
                    )
                } else {
                    let f = match pc.kind {
                        PinKind::Get => "get_user_pages",
                        _ => "pin_user_pages",
                    };
                    let fast = if pc.path == GupPath::Fast {
                        "_fast"
                    } else {
                        ""
                    };
                    let longterm = if pc.kind == PinKind::Longterm {
                        ", FOLL_LONGTERM"
                    } else {
                        ""
                    };
                    format!("{f}{fast}(page {}{longterm})", pc.page)
                }
            }
            Actor::Guest(vm) => {
                let op = c
                    .guest
                    .iter()
                    .filter(|g| g.vm == vm)
                    .nth(st.guests[vm as usize].op as usize)
                    .copied()
                    .unwrap_or(c.guest[0]);
                format!("guest {} access to page {}", attr(op.access), op.page)
            }
            Actor::Truncator => match c.truncate {
                Some(TruncOp::Punch { start, pages }) => {
                    format!("fallocate(PUNCH_HOLE, {start}..{})", start + pages)
                }
                Some(TruncOp::Release { vm }) => {
                    format!("close(vm{vm}'s gmem fd): kvm_gmem_release()")
                }
                _ => "close(gmem fd)".into(),
            },
            Actor::Populate => "kvm_gmem_populate()".into(),
            Actor::Speculative => "folio_try_get() (speculative)".into(),
            Actor::PoolCallback => "hugetlb pool callback".into(),
            Actor::MemoryFailure => format!(
                "memory_failure(page {}): SetPageHWPoison()",
                c.memory_failure.unwrap_or(0)
            ),
            Actor::AllocFail => match converter::failing_converter(c, st).map(|k| st.conv[k].pc.get()) {
                Some(ConvPc::S2Split) => "kvm_gmem_split_private() fails: -ENOMEM".into(),
                Some(ConvPc::SplitDo) => "hugetlb_vmemmap_restore_folio() fails: -ENOMEM".into(),
                _ => "kvm_gmem_mas_preallocate() fails: -ENOMEM".into(),
            },
            Actor::SecondaryMmu => {
                let p = c.secondary_mmu.map_or(0, |d| d.page);
                format!("device fault on page {p}: mmu_interval_read_begin()")
            }
        },
        Action::Step(a) => match a {
            Actor::Converter(k) => conv_step_label(c, st, k as usize),
            Actor::Proc(p) => match st.procs[p as usize].pc.get() {
                ProcPc::Fault(FaultPc::Install(s))
                    if c.design == crate::config::Design::Hugetlb && st.folio(s).large =>
                {
                    "fault: WARN_ON_ONCE(folio_test_large()): VM_FAULT_SIGBUS, folio_put()".into()
                }
                ProcPc::Fault(FaultPc::Lookup) if c.design == crate::config::Design::Hugetlb => {
                    "fault: check attribute, kvm_gmem_get_folio(), unlock (unless a fresh huge folio must be split first)".into()
                }
                ProcPc::Fault(f) => fault_label(c, f),
                ProcPc::Idle => "idle".into(),
            },
            Actor::Pinner(k) => match st.pinners[k as usize].pc.get() {
                PinPc::FastReadPte => "gup_fast: read PTE".into(),
                PinPc::FastTryAdd(_) => "gup_fast: folio_try_add()".into(),
                // gup_fast_no_recheck keeps the reference without the re-read.
                PinPc::FastRecheck(_) if c.has(Bug::GupFastNoRecheck) => {
                    "gup_fast: keep the reference (no PTE re-read)".into()
                }
                PinPc::FastRecheck(_) => "gup_fast: re-read PTE".into(),
                PinPc::FastRecheckEarly(_) => "gup_fast: re-read PTE (before the increment)".into(),
                PinPc::SlowFollow => "gup: follow_page_pte()".into(),
                PinPc::SlowFault(f) => format!("gup: {}", fault_label(c, f)),
                PinPc::ExclRecheck(_) => "gup: re-check exclusive".into(),
                PinPc::Held(_) => "DMA access through the reference".into(),
                PinPc::PfnFollow => {
                    let i = c.pinners[k as usize].page as usize;
                    let pbit = 1u8 << c.pinners[k as usize].proc;
                    match (st.pages[i].ptes & pbit != 0, c.reserved_pfns) {
                        (false, _) => "follow_fault_pfn(): no PTE, fixup_user_fault()".into(),
                        (true, true) => "follow_fault_pfn(): follow_pfnmap_start(), is_invalid_reserved_pfn(): map pfn into the IOMMU".into(),
                        (true, false) => "follow_fault_pfn(): follow_pfnmap_start(), pfn has a struct page: -EFAULT".into(),
                    }
                }
                PinPc::PfnMapped(_) => "DMA through the IOMMU mapping (no reference)".into(),
                PinPc::PfnAccessed(_) => "VFIO_IOMMU_UNMAP_DMA".into(),
                PinPc::Accessed(_) if c.pinners[k as usize].vfio => {
                    "VFIO_IOMMU_UNMAP_DMA: unpin_user_page()".into()
                }
                PinPc::Accessed(_) => {
                    if c.pinners[k as usize].kind == crate::config::PinKind::Get {
                        "put_page()".into()
                    } else {
                        "unpin_user_page()".into()
                    }
                }
                PinPc::Idle | PinPc::Finished => "idle".into(),
            },
            Actor::Guest(vm) => match st.guests[vm as usize].pc.get() {
                GuestPc::Snapshot => "snapshot mmu_invalidate_seq".into(),
                GuestPc::CheckAttr => "kvm_gmem_is_private_gfn(): check attribute".into(),
                GuestPc::GetPfn => "kvm_gmem_get_pfn()".into(),
                GuestPc::FreshSplit(g) => {
                    format!("kvm_gmem_get_pfn(): __maybe_split_fresh_folio() of huge page {g}: freeze, split")
                }
                GuestPc::Install(_) if c.has(crate::config::Bug::InstallNoRetry) => {
                    "install stage-2 (no retry check)".into()
                }
                GuestPc::Install(_) => "mmu_invalidate_retry_gfn(), install stage-2".into(),
                GuestPc::Idle => "idle".into(),
            },
            Actor::Truncator => match st.trunc.pc.get() {
                TruncPc::Lock => "filemap_invalidate_lock()".into(),
                TruncPc::InvBegin => "kvm_gmem_invalidate_start()".into(),
                TruncPc::ReleaseVm => "kvm_gmem_release(): zap this VM's stage-2, unbind".into(),
                TruncPc::Unmap => "unmap_mapping_pages()".into(),
                TruncPc::Check(i) => format!("folio_ref_freeze(subpage {i}) or EAGAIN"),
                TruncPc::MergeFold => "merge subfolios".into(),
                TruncPc::Truncate => "truncate_inode_pages_range()".into(),
                TruncPc::InvEnd => "kvm_gmem_invalidate_end(), unlock".into(),
                TruncPc::Idle | TruncPc::Finished => "idle".into(),
            },
            Actor::Populate => match st.populate.pc.get() {
                PopPc::SrcGup => "get_user_pages(src): follow the PTE, or fault".into(),
                PopPc::SrcFault(f) => format!("src {}", fault_label(c, f)),
                PopPc::Lock => "filemap_invalidate_lock()".into(),
                PopPc::Copy => "copy to private dst, unlock, put src".into(),
                PopPc::Idle | PopPc::Finished => "idle".into(),
            },
            Actor::Speculative => "folio_put() (speculative)".into(),
            Actor::PoolCallback => "merge and return gigantic page to pool".into(),
            Actor::MemoryFailure => "kvm_gmem_error_folio(): zap stage-2 (shared lock)".into(),
            Actor::AllocFail => "idle".into(),
            Actor::SecondaryMmu => match st.dev.pc.get() {
                DevPc::ReadPte => "hmm_range_fault(): read PTE (no reference)".into(),
                DevPc::Fault(f) => {
                    format!(
                        "hmm_range_fault(): handle_mm_fault(): {}",
                        fault_label(c, f)
                    )
                }
                DevPc::Map(_) if c.has(crate::config::Bug::OdpNoRetry) => {
                    "program device page table (no mmu_interval_read_retry())".into()
                }
                DevPc::Map(_) if st.dev.seq_stale => {
                    "mmu_interval_read_retry(): sequence moved, start over".into()
                }
                DevPc::Map(_) => {
                    "mmu_interval_read_retry() under the driver lock, program device page table"
                        .into()
                }
                DevPc::Mapped(_) => "device DMA through its page table, driver unmaps".into(),
                DevPc::Idle | DevPc::Finished => "idle".into(),
            },
        },
    }
}

/// What converter thread `k`'s next step does.
fn conv_step_label(c: &crate::Config, st: &State, k: usize) -> String {
    let cv = &st.conv[k];
    match cv.pc.get() {
        ConvPc::Done if matches!(cv.result.get(), Some(invariants::ConvResult::Enomem { .. })) => {
            "retry after ENOMEM".into()
        }
        ConvPc::Done => "retry after EAGAIN".into(),
        ConvPc::Lock => "filemap_invalidate_lock()".into(),
        ConvPc::Prealloc => "kvm_gmem_mas_preallocate()".into(),
        ConvPc::MakeShared => "kvm_arch_gmem_make_shared()".into(),
        ConvPc::CopyOut(f) => format!("copy_to_user(error_offset): {}", fault_label(c, f)),
        ConvPc::WaitMapped(i) => format!("wait for GUP refs on page {i} (still mapped)"),
        ConvPc::Unmap => "unmap_mapping_pages()".into(),
        ConvPc::Check(i) if c.has(Bug::PartialFlip) => {
            format!("check refcount of page {i}, store its attribute if free")
        }
        ConvPc::Check(i) => format!("check refcount of page {i}"),
        ConvPc::Drain(_) => "lru_cache_drain_for_folio()".into(),
        ConvPc::Wait(i) => format!("wait for refcount of page {i}"),
        ConvPc::InvBegin if c.design == crate::config::Design::Hugetlb => {
            let (lo, hi) = converter::invalidation_range(c, st, k);
            format!(
                "kvm_gmem_invalidate_begin({lo}..{hi}), kvm_gmem_zap() (batch: huge page {})",
                cv.batch
            )
        }
        ConvPc::InvBegin => "kvm_gmem_invalidate_start()".into(),
        // restructure_no_freeze reads the count instead of freezing it.
        ConvPc::SplitFreeze if c.has(Bug::RestructureNoFreeze) => {
            "folio_ref_count(gigantic) == page cache's (no freeze)".into()
        }
        ConvPc::SplitFreeze => "folio_ref_freeze(gigantic)".into(),
        ConvPc::SplitDo if c.design == crate::config::Design::Hugetlb => format!(
            "hugetlb_vmemmap_restore_folio(), split huge page {} to 4K, unfreeze",
            cv.batch
        ),
        ConvPc::SplitDo => "split gigantic folio".into(),
        ConvPc::S2Split => format!(
            "kvm_gmem_split_private(): split huge stage-2 leaves of huge page {}",
            cv.batch
        ),
        ConvPc::Flip if c.design == crate::config::Design::Hugetlb => {
            let o = converter::op(c, st, k);
            let (glo, ghi) = crate::mm::gig_range(c, cv.batch as usize);
            let (lo, hi) = (
                glo.max(o.start as usize),
                ghi.min((o.start + o.pages) as usize),
            );
            format!("mas_store_prealloc(): attributes {lo}..{hi} = {:?}", o.to)
        }
        ConvPc::Flip => {
            let o = converter::op(c, st, k);
            format!(
                "store attributes {}..{} = {}",
                o.start,
                o.start + o.pages,
                attr(o.to)
            )
        }
        ConvPc::MergeFreeze(i) if c.has(Bug::RestructureNoFreeze) => {
            format!("folio_ref_count(subpage {i}) == 1 (no freeze)")
        }
        ConvPc::MergeFreeze(i) => format!("folio_ref_freeze(subpage {i})"),
        ConvPc::MergeFold if c.design == crate::config::Design::Hugetlb => format!(
            "merge huge page {}, hugetlb_vmemmap_optimize_folio(), unfreeze",
            cv.batch
        ),
        ConvPc::MergeFold => "merge subfolios".into(),
        ConvPc::InvEnd if c.design == crate::config::Design::Hugetlb => {
            format!("kvm_gmem_invalidate_end() (huge page {})", cv.batch)
        }
        ConvPc::InvEnd => "kvm_gmem_invalidate_end(), unlock".into(),
        // exclusive_cas_bias stores the pin count without the bias.
        ConvPc::ExclPin if c.has(Bug::ExclusiveCasBias) => {
            "pin_user_pages(FOLL_EXCLUSIVE), storing no exclusive bias".into()
        }
        ConvPc::ExclPin => "pin_user_pages(FOLL_EXCLUSIVE)".into(),
        ConvPc::Unexc => "unexc_user_page(), unpin".into(),
        ConvPc::Idle => "idle".into(),
    }
}

fn fault_label(c: &crate::Config, f: FaultPc) -> String {
    match f {
        FaultPc::LockInv => "fault: filemap_invalidate_lock_shared()".into(),
        // fault_no_ref drops the folio reference before the PTE is installed.
        FaultPc::Lookup if c.has(Bug::FaultNoRef) => {
            "fault: check attribute, get and put folio, unlock".into()
        }
        FaultPc::Lookup => "fault: check attribute, get folio, unlock".into(),
        FaultPc::Install(_) => "fault: install PTE".into(),
        FaultPc::InstallLocked(_) => "fault: install PFNMAP PTE, unlock".into(),
        FaultPc::FreshSplit(g) => format!(
            "fault: __maybe_split_fresh_folio() of huge page {g}: folio_ref_freeze(), split, unlock"
        ),
    }
}

/// One line per page summarising the fields a reviewer looks at.
pub fn page_summary(m: &GmemModel, st: &State, i: usize) -> String {
    let p = &st.pages[i];
    let mut s = (if p.private { "P" } else { "S" }).to_string();
    if let Some(f) = p.folio.get() {
        let fo = st.folio(f);
        s.push_str(&format!(" f{f}:rc{}", { fo.refcount }));
        if fo.frozen {
            s.push('*');
        }
    }
    if p.ptes != 0 {
        s.push_str(&format!(" pte{:b}", p.ptes));
    }
    for (vm, e) in p.s2.iter().enumerate().take(m.cfg().vms as usize) {
        // VM 0 keeps the one-VM notation.
        let who = if vm == 0 {
            String::new()
        } else {
            format!("vm{vm}")
        };
        match e.get() {
            S2::None => {}
            S2::Shared(f) => s.push_str(&format!(" s2{who}:S(f{f})")),
            S2::Private(f) => s.push_str(&format!(" s2{who}:P(f{f})")),
        }
    }
    if let Some(fo) = p.folio.get().map(|f| st.folio(f)) {
        let bit = i - fo.index as usize;
        if fo.hw_private & (1 << bit) != 0 {
            s.push_str(" HW-PRIVATE");
        }
        if fo.poisoned {
            s.push_str(" HWPOISON");
        }
    }
    // Completed GUP references through this index (what no_private_pin reads).
    let v = invariants::GmemView::page(&crate::view::View::new(m, st), i);
    for (n, what) in [
        (v.gets, "GET"),
        (v.pins, "PIN"),
        (v.longterm_pins, "LONGTERM"),
    ] {
        if n > 0 {
            s.push_str(&format!(" {what}x{n}"));
        }
    }
    // Device mappings that hold no reference (what host_access_only_shared
    // is about when they are used).
    if let (Some(d), DevPc::Mapped(f)) = (m.cfg().secondary_mmu, st.dev.pc.get()) {
        if d.page as usize == i {
            s.push_str(&format!(" DEVMAP(f{f})"));
        }
    }
    for (k, pin) in st.pinners.iter().enumerate().take(m.cfg().pinners.len()) {
        if let (PinPc::PfnMapped(f) | PinPc::PfnAccessed(f), true) =
            (pin.pc.get(), m.cfg().pinners[k].page as usize == i)
        {
            s.push_str(&format!(" IOMMU(f{f})"));
        }
    }
    s
}

/// Per-page and global fields that differ between two states.
pub fn changes(m: &GmemModel, before: &State, after: &State) -> Vec<String> {
    let mut v = Vec::new();
    for i in 0..m.cfg().pages as usize {
        let (a, b) = (page_summary(m, before, i), page_summary(m, after, i));
        if a != b {
            v.push(format!("page{i}: {b}"));
        }
    }
    for s in 0..MAX_FOLIOS {
        let (a, b) = (before.folios[s], after.folios[s]);
        if a.state != b.state {
            v.push(format!("f{s}: {}", folio_state_text(b.state)));
        }
        if a.hw_private != b.hw_private && b.state == FolioState::Freed && b.hw_private != 0 {
            v.push(format!("f{s}: freed hardware-private {:b}", b.hw_private));
        }
    }
    for k in 0..after.gigantic.len() {
        if before.gigantic[k] != after.gigantic[k] {
            let g = after.gigantic[k];
            v.push(format!(
                "gigantic{}: {}{}{}",
                if k == 0 { String::new() } else { k.to_string() },
                structure_text(g.structure.get()),
                if g.in_pool { " in pool" } else { "" },
                if g.released { " released" } else { "" }
            ));
        }
    }
    if !before.dev.seq_stale && after.dev.seq_stale {
        v.push("mmu notifier: interval sequence moved".into());
    }
    if before.invalidate_lock != after.invalidate_lock {
        v.push(format!(
            "invalidate_lock: {}",
            lock_text(after.invalidate_lock)
        ));
    }
    let two = m.cfg().converters().count() > 1;
    for k in m.cfg().converters() {
        let (b, a) = (&before.conv[k as usize], &after.conv[k as usize]);
        if let (ConvPc::CopyOut(_), false, Some(r)) = (
            a.pc.get(),
            matches!(b.pc.get(), ConvPc::CopyOut(_)),
            a.result.get(),
        ) {
            v.push(format!(
                "{}{}: copy error_offset to the user's struct next{}",
                who(two, k),
                result_text(r),
                if after.invalidate_lock.writer.get() == Some(converter::tid(k as usize)) {
                    ", invalidate_lock still held"
                } else {
                    ""
                }
            ));
        }
        let returned = a.pc.get() == ConvPc::Done
            && (b.pc.get() != ConvPc::Done || b.result.get() != a.result.get());
        if let (true, Some(r)) = (returned, a.result.get()) {
            v.push(format!("{}ioctl returns {}", who(two, k), result_text(r)));
        }
    }
    v
}
