//! Human-readable names for steps and state changes, in the kernel's words,
//! for timelines, the explorer and ITF traces.

use crate::actors::{converter, Action, Actor};
use crate::config::{HostOp, TruncOp};
use crate::model::GmemModel;
use crate::state::*;

/// What `action` does from `st`, as the kernel function it models.
pub fn step_label(m: &GmemModel, st: &State, action: Action) -> String {
    let c = &m.cfg;
    match action {
        Action::Start(a) => match a {
            Actor::Converter => {
                let idx = if st.conv.pc == ConvPc::Idle {
                    0
                } else {
                    st.conv.op as usize + 1
                };
                let o = c.conversions[idx.min(c.conversions.len() - 1)];
                format!(
                    "ioctl(SET_MEMORY_ATTRIBUTES2, {}..{} -> {:?})",
                    o.start,
                    o.start + o.pages,
                    o.to
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
                format!("{:?} GUP of page {}", pc.kind, pc.page).to_lowercase()
            }
            Actor::Guest(vm) => {
                let op = c
                    .guest
                    .iter()
                    .filter(|g| g.vm == vm)
                    .nth(st.guests[vm as usize].op as usize)
                    .copied()
                    .unwrap_or(c.guest[0]);
                format!("guest {:?} access page {}", op.access, op.page).to_lowercase()
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
            Actor::AllocFail => match st.conv.pc {
                ConvPc::S2Split => "kvm_gmem_split_private() fails: -ENOMEM".into(),
                ConvPc::SplitDo => "hugetlb_vmemmap_restore_folio() fails: -ENOMEM".into(),
                _ => "kvm_gmem_mas_preallocate() fails: -ENOMEM".into(),
            },
        },
        Action::Step(a) => match a {
            Actor::Converter => match st.conv.pc {
                ConvPc::Done
                    if matches!(st.conv.result, Some(invariants::ConvResult::Enomem { .. })) =>
                {
                    "retry after ENOMEM".into()
                }
                ConvPc::Done => "retry after EAGAIN".into(),
                ConvPc::Lock => "filemap_invalidate_lock()".into(),
                ConvPc::Prealloc => "kvm_gmem_mas_preallocate()".into(),
                ConvPc::MakeShared => "kvm_arch_gmem_make_shared()".into(),
                ConvPc::CopyOut(f) => format!("copy_to_user(error_offset): {}", fault_label(f)),
                ConvPc::WaitMapped(i) => format!("wait for GUP refs on page {i} (still mapped)"),
                ConvPc::Unmap => "unmap_mapping_pages()".into(),
                ConvPc::Check(i) => format!("check refcount of page {i}"),
                ConvPc::Drain(_) => "lru_add_drain_all()".into(),
                ConvPc::Wait(i) => format!("wait for refcount of page {i}"),
                ConvPc::InvBegin if c.design == crate::config::Design::Hugetlb => {
                    let (lo, hi) = converter::invalidation_range(c, st);
                    format!(
                        "kvm_gmem_invalidate_begin({lo}..{hi}), kvm_gmem_zap() (batch: huge page {})",
                        st.conv.batch
                    )
                }
                ConvPc::InvBegin => "kvm_gmem_invalidate_start()".into(),
                ConvPc::SplitFreeze => "folio_ref_freeze(gigantic)".into(),
                ConvPc::SplitDo if c.design == crate::config::Design::Hugetlb => format!(
                    "hugetlb_vmemmap_restore_folio(), split huge page {} to 4K, unfreeze",
                    st.conv.batch
                ),
                ConvPc::SplitDo => "split gigantic folio".into(),
                ConvPc::S2Split => format!(
                    "kvm_gmem_split_private(): split huge stage-2 leaves of huge page {}",
                    st.conv.batch
                ),
                ConvPc::Flip if c.design == crate::config::Design::Hugetlb => {
                    let o = converter::op(c, st);
                    let (glo, ghi) = crate::mm::gig_range(c, st.conv.batch as usize);
                    let (lo, hi) = (
                        glo.max(o.start as usize),
                        ghi.min((o.start + o.pages) as usize),
                    );
                    format!("mas_store_prealloc(): attributes {lo}..{hi} = {:?}", o.to)
                }
                ConvPc::Flip => {
                    let o = converter::op(c, st);
                    format!(
                        "store attributes {}..{} = {:?}",
                        o.start,
                        o.start + o.pages,
                        o.to
                    )
                }
                ConvPc::MergeFreeze(i) => format!("folio_ref_freeze(subpage {i})"),
                ConvPc::MergeFold if c.design == crate::config::Design::Hugetlb => format!(
                    "merge huge page {}, hugetlb_vmemmap_optimize_folio(), unfreeze",
                    st.conv.batch
                ),
                ConvPc::MergeFold => "merge subfolios".into(),
                ConvPc::InvEnd if c.design == crate::config::Design::Hugetlb => {
                    format!("kvm_gmem_invalidate_end() (huge page {})", st.conv.batch)
                }
                ConvPc::InvEnd => "kvm_gmem_invalidate_end(), unlock".into(),
                ConvPc::ExclPin => "pin_user_pages(FOLL_EXCLUSIVE)".into(),
                ConvPc::Unexc => "unexc_user_page(), unpin".into(),
                ConvPc::Idle => "idle".into(),
            },
            Actor::Proc(p) => match st.procs[p as usize].pc {
                ProcPc::Fault(FaultPc::Install(s))
                    if c.design == crate::config::Design::Hugetlb && st.folio(s).large =>
                {
                    "fault: WARN_ON_ONCE(folio_test_large()): VM_FAULT_SIGBUS, folio_put()".into()
                }
                ProcPc::Fault(FaultPc::Lookup) if c.design == crate::config::Design::Hugetlb => {
                    "fault: check attribute, kvm_gmem_get_folio(), unlock (unless a fresh huge folio must be split first)".into()
                }
                ProcPc::Fault(f) => fault_label(f),
                ProcPc::Idle => "idle".into(),
            },
            Actor::Pinner(k) => match st.pinners[k as usize].pc {
                PinPc::FastReadPte => "gup_fast: read PTE".into(),
                PinPc::FastTryAdd(_) => "gup_fast: folio_try_add()".into(),
                PinPc::FastRecheck(_) => "gup_fast: re-read PTE".into(),
                PinPc::FastRecheckEarly(_) => "gup_fast: re-read PTE (before the increment)".into(),
                PinPc::SlowFollow => "gup: follow_page_pte()".into(),
                PinPc::SlowFault(f) => format!("gup: {}", fault_label(f)),
                PinPc::ExclRecheck(_) => "gup: re-check exclusive".into(),
                PinPc::Held(_) => "DMA access through the reference".into(),
                PinPc::Accessed(_) => {
                    if c.pinners[k as usize].kind == crate::config::PinKind::Get {
                        "put_page()".into()
                    } else {
                        "unpin_user_page()".into()
                    }
                }
                PinPc::Idle | PinPc::Finished => "idle".into(),
            },
            Actor::Guest(vm) => match st.guests[vm as usize].pc {
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
            Actor::Truncator => match st.trunc.pc {
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
            Actor::Populate => match st.populate.pc {
                PopPc::SrcGup => "get_user_pages(src)".into(),
                PopPc::SrcLockInv => "src fault: filemap_invalidate_lock_shared()".into(),
                PopPc::SrcLookup => "src fault: look up folio".into(),
                PopPc::Lock => "filemap_invalidate_lock()".into(),
                PopPc::Copy => "copy to private dst, unlock, put src".into(),
                PopPc::Idle | PopPc::Finished => "idle".into(),
            },
            Actor::Speculative => "folio_put() (speculative)".into(),
            Actor::PoolCallback => "merge and return gigantic page to pool".into(),
            Actor::MemoryFailure => "kvm_gmem_error_folio(): zap stage-2 (shared lock)".into(),
            Actor::AllocFail => "idle".into(),
        },
    }
}

fn fault_label(f: FaultPc) -> String {
    match f {
        FaultPc::LockInv => "fault: filemap_invalidate_lock_shared()".into(),
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
    if let Some(f) = p.folio {
        let fo = st.folio(f);
        s.push_str(&format!(" f{f}:rc{}", fo.refcount));
        if fo.frozen {
            s.push('*');
        }
    }
    if p.ptes != 0 {
        s.push_str(&format!(" pte{:b}", p.ptes));
    }
    for (vm, e) in p.s2.iter().enumerate().take(m.cfg.vms as usize) {
        // VM 0 keeps the one-VM notation.
        let who = if vm == 0 {
            String::new()
        } else {
            format!("vm{vm}")
        };
        match e {
            S2::None => {}
            S2::Shared(f) => s.push_str(&format!(" s2{who}:S(f{f})")),
            S2::Private(f) => s.push_str(&format!(" s2{who}:P(f{f})")),
        }
    }
    if let Some(fo) = p.folio.map(|f| st.folio(f)) {
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
    s
}

/// Per-page and global fields that differ between two states.
pub fn changes(m: &GmemModel, before: &State, after: &State) -> Vec<String> {
    let mut v = Vec::new();
    for i in 0..m.cfg.pages as usize {
        let (a, b) = (page_summary(m, before, i), page_summary(m, after, i));
        if a != b {
            v.push(format!("page{i}: {b}"));
        }
    }
    for s in 0..MAX_FOLIOS {
        let (a, b) = (before.folios[s], after.folios[s]);
        if a.state != b.state {
            v.push(format!("f{s}: {:?}", b.state));
        }
        if a.hw_private != b.hw_private && b.state == FolioState::Freed && b.hw_private != 0 {
            v.push(format!("f{s}: freed hardware-private {:b}", b.hw_private));
        }
    }
    for k in 0..after.gigantic.len() {
        if before.gigantic[k] != after.gigantic[k] {
            let g = after.gigantic[k];
            v.push(format!(
                "gigantic{}: {:?}{}{}",
                if k == 0 { String::new() } else { k.to_string() },
                g.structure,
                if g.in_pool { " in pool" } else { "" },
                if g.released { " released" } else { "" }
            ));
        }
    }
    if before.invalidate_lock != after.invalidate_lock {
        let l = after.invalidate_lock;
        v.push(match (l.writer, l.readers) {
            (Some(w), _) => format!("invalidate_lock: W by t{w}"),
            (None, 0) => "invalidate_lock: free".into(),
            (None, r) => format!("invalidate_lock: R {r:b}"),
        });
    }
    if let (ConvPc::CopyOut(_), false, Some(r)) = (
        after.conv.pc,
        matches!(before.conv.pc, ConvPc::CopyOut(_)),
        after.conv.result,
    ) {
        v.push(format!(
            "{}: copy error_offset to the user's struct next{}",
            r.kernel(),
            if after.invalidate_lock.writer == Some(0) {
                ", invalidate_lock still held"
            } else {
                ""
            }
        ));
    }
    let returned = after.conv.pc == ConvPc::Done
        && (before.conv.pc != ConvPc::Done || before.conv.result != after.conv.result);
    if let (true, Some(r)) = (returned, after.conv.result) {
        v.push(format!("ioctl returns {}", r.kernel()));
    }
    v
}
