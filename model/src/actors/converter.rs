//! The converter: `KVM_SET_MEMORY_ATTRIBUTES2` on the guest_memfd fd
//! (`virt/kvm/guest_memfd.c: __kvm_gmem_set_attributes()` of the in-place
//! conversion series v13, lore:20260910-gmem-inplace-conversion-v13-0-dd6fbf94f4e1@google.com),
//! per design; for the exclusive-pin RFC, donation by exclusive pin
//! (`docs/kernel.md#exclusive-pin-rfc`).

use super::host::{fault_step, Fault};
use super::Actor;
use crate::config::{Bug, Config, ConvOp, Design};
use crate::mm::{self, sub_slot};
use crate::state::*;
use invariants::Accessor;
use invariants::{Attr, ConvResult, Structure, GUP_PIN_COUNTING_BIAS, GUP_PIN_EXCLUSIVE_BIAS};

/// Converter thread `k`'s thread id (the invalidate lock's owner).
pub fn tid(k: usize) -> u8 {
    Actor::Converter(k as u8).tid()
}

/// Converter thread `k`'s current request.
pub fn op(cfg: &Config, st: &State, k: usize) -> ConvOp {
    *cfg.conversions_of(k as u8)
        .nth(st.conv[k].op as usize)
        .expect("a converter's request index stays within its script")
}

/// The pages any converter thread's open invalidation covers in VM `vm`,
/// one bit per page (`kvm_gmem_invalidate_begin()` raised
/// `mmu_invalidate_in_progress` over them and `_end()` has not run).
pub fn invalidation_mask(cfg: &Config, st: &State, vm: usize) -> u16 {
    if invalidated_vms(cfg, st) & (1 << vm) == 0 {
        return 0;
    }
    let mut mask = 0;
    for k in cfg.converters() {
        let k = k as usize;
        if in_invalidation(cfg, st, k) {
            let (lo, hi) = invalidation_range(cfg, st, k);
            mask |= mm::page_bits(lo, hi);
        }
    }
    mask
}

/// The converter thread at an allocation the environment may fail (at
/// most one: allocations happen under the exclusive invalidate lock).
pub fn failing_converter(cfg: &Config, st: &State) -> Option<usize> {
    cfg.converters()
        .map(|k| k as usize)
        .find(|&k| prealloc_can_fail(cfg, st, k))
}

/// Pages the request names.
fn range(cfg: &Config, st: &State, k: usize) -> (usize, usize) {
    let o = op(cfg, st, k);
    (o.start as usize, o.start as usize + o.pages as usize)
}

/// Pages the KVM invalidation covers: the request's range, rounded out to the
/// gigantic page where restructuring may happen (RFC v2 1G).
pub fn invalidation_range(cfg: &Config, st: &State, k: usize) -> (usize, usize) {
    if cfg.design == Design::Hugetlb {
        // kvm_gmem_compute_invalidate_start()/_end(): the batch's range
        // rounded out to its huge page.
        return mm::gig_range(cfg, st.conv[k].batch as usize);
    }
    // A gigantic page is mapped in stage-2 as one huge entry, so any
    // invalidation in it covers all of it (RFC v2 rounds the range out,
    // RFC v2 patch 38, docs/kernel.md#hugetlb-rfc-v2; [infer] for huge_whole,
    // which the RFC does not cover).
    if cfg.design.is_huge() {
        (0, cfg.pages as usize)
    } else {
        range(cfg, st, k)
    }
}

/// Between kvm_gmem_invalidate_begin() and _end(): mmu_invalidate_in_progress raised.
pub fn in_invalidation(cfg: &Config, st: &State, k: usize) -> bool {
    if cfg.design == Design::Hugetlb {
        return st.conv[k].inv_open;
    }
    matches!(
        st.conv[k].pc.get(),
        ConvPc::MakeShared
            | ConvPc::SplitFreeze
            | ConvPc::SplitDo
            | ConvPc::Flip
            | ConvPc::MergeFreeze(_)
            | ConvPc::MergeFold
            | ConvPc::InvEnd
    )
}

/// The pages the current step works on: the request's range, or in design
/// hugetlb the current batch's part of it (one huge page per batch).
fn work_range(cfg: &Config, st: &State, k: usize) -> (usize, usize) {
    let (lo, hi) = range(cfg, st, k);
    if cfg.design == Design::Hugetlb {
        let (glo, ghi) = mm::gig_range(cfg, st.conv[k].batch as usize);
        (lo.max(glo), hi.min(ghi))
    } else {
        (lo, hi)
    }
}

fn private_bits(cfg: &Config, st: &State, k: usize) -> u8 {
    let (lo, hi) = range(cfg, st, k);
    (lo..hi).fold(0, |b, i| b | ((st.pages[i].private as u8) << (i - lo)))
}

/// Thread `k` of the VMM issues its next request. Not after the close: the
/// VMM has exited and the fd is gone, so no ioctl can be issued on it (the
/// scripts never do; `crate::seq` returns -EBADF for one).
pub fn can_start(cfg: &Config, st: &State, k: usize) -> bool {
    if st.closed {
        return false;
    }
    match st.conv[k].pc.get() {
        ConvPc::Idle => cfg.conversions_of(k as u8).next().is_some(),
        ConvPc::Done => {
            !retrying(cfg, st, k)
                && (st.conv[k].op as usize + 1) < cfg.conversions_of(k as u8).count()
        }
        _ => false,
    }
}

/// The VMM retries a failed request (after dropping what it owns); under
/// design hugetlb also one that failed -ENOMEM (question 4 of issue 13).
pub fn retrying(cfg: &Config, st: &State, k: usize) -> bool {
    cfg.retry_until_ok
        && match st.conv[k].result.get() {
            Some(ConvResult::Eagain { .. }) => true,
            Some(ConvResult::Enomem { .. }) => cfg.design == Design::Hugetlb,
            _ => false,
        }
}

pub fn in_flight(cfg: &Config, st: &State, k: usize) -> bool {
    match st.conv[k].pc.get() {
        ConvPc::Idle => false,
        ConvPc::Done => retrying(cfg, st, k),
        _ => true,
    }
}

/// The ioctl is entered.
pub fn start(cfg: &Config, st: &mut State, k: usize) {
    if st.conv[k].pc.get() == ConvPc::Done {
        st.conv[k].op += 1;
    }
    begin_attempt(cfg, st, k);
    st.conv[k].succeeded = false;
    st.conv[k].enomem_seen = false;
}

fn begin_attempt(cfg: &Config, st: &mut State, k: usize) {
    // The snapshots for conversion_atomic are taken where the call has the
    // range to itself (`enter`, `unlock`): another converter thread may
    // store an overlapping range before this one takes the lock.
    st.conv[k].before = 0;
    st.conv[k].after = 0;
    st.conv[k].result.set(None);
    st.conv[k].drained = false;
    st.conv[k].inv_open = false;
    st.conv[k].batch = if cfg.design == Design::Hugetlb {
        mm::gig_of(cfg, range(cfg, st, k).0) as u8
    } else {
        0
    };
    let o = op(cfg, st, k);
    st.conv[k].pc.set(match (cfg.design, o.to) {
        (Design::ExclusivePin, Attr::Private) => ConvPc::ExclPin,
        (Design::ExclusivePin, Attr::Shared) => ConvPc::Unexc,
        (Design::Wait, Attr::Private) if !cfg.block_pins_while_waiting => {
            ConvPc::WaitMapped(o.start)
        }
        _ => ConvPc::Lock,
    });
}

fn finish(cfg: &Config, st: &mut State, k: usize, r: ConvResult) {
    if r != ConvResult::Ok && cfg.attrs_arg_page.is_some() {
        // A failed call writes error_offset back to the user's struct. v13
        // drops the invalidate lock first (`kvm_gmem_set_attributes()`: the
        // copy_to_user() follows the unlock); BUG copy_out_under_lock copies
        // while still holding it.
        if !cfg.has(Bug::CopyOutUnderLock) {
            unlock(cfg, st, k);
        }
        st.conv[k].result.set(Some(r));
        st.conv[k].pc.set(ConvPc::CopyOut(FaultPc::LockInv));
        return;
    }
    returned(cfg, st, k, r);
}

/// The call has the range to itself from here (it holds the invalidate
/// lock for write; the exclusive-pin RFC, which takes no lock, from its
/// first step): snapshot the range's attributes for conversion_atomic.
fn enter(cfg: &Config, st: &mut State, k: usize) {
    st.conv[k].before = private_bits(cfg, st, k);
}

/// The call's exclusive section ends: drop the invalidate lock if this
/// thread holds it, and snapshot the range (what the call left there; once
/// the lock is free another converter thread may store over it before this
/// one returns).
fn unlock(cfg: &Config, st: &mut State, k: usize) {
    if st.invalidate_lock.writer.get() == Some(tid(k)) {
        st.invalidate_lock.writer.set(None);
    }
    st.conv[k].after = private_bits(cfg, st, k);
}

/// The ioctl returns `r` to userspace.
fn returned(cfg: &Config, st: &mut State, k: usize, r: ConvResult) {
    // A copy-out after the unlock already took the snapshot.
    let unlocked = matches!(st.conv[k].pc.get(), ConvPc::CopyOut(_))
        && st.invalidate_lock.writer.get() != Some(tid(k));
    if !unlocked {
        unlock(cfg, st, k);
    }
    st.conv[k].result.set(Some(r));
    st.conv[k].succeeded |= r == ConvResult::Ok;
    st.conv[k].pc.set(ConvPc::Done);
}

/// One step of the copy-out of `error_offset` (a user write to the page
/// `attrs_arg_page` through process 0's mapping of the guest_memfd).
fn copy_out(cfg: &Config, st: &mut State, k: usize, fpc: FaultPc) -> bool {
    let i = cfg
        .attrs_arg_page
        .expect("copy-out only with attrs_arg_page") as usize;
    let r = st.conv[k].result.get().expect("copy-out carries the error");
    if fpc == FaultPc::LockInv && st.pages[i].ptes & 1 != 0 {
        if let Some(s) = st.pages[i].folio.get() {
            write_arg(st, s, i);
            returned(cfg, st, k, r);
            return true;
        }
    }
    match fault_step(cfg, st, tid(k), 0, i, fpc) {
        Fault::Blocked => return false,
        Fault::Next(fpc) => st.conv[k].pc.set(ConvPc::CopyOut(fpc)),
        Fault::Installed(s) => {
            write_arg(st, s, i);
            returned(cfg, st, k, r);
        }
        // The struct's page is private: copy_to_user() fails, -EFAULT.
        Fault::Sigbus => returned(cfg, st, k, ConvResult::Efault),
    }
    true
}

fn write_arg(st: &mut State, s: Slot, i: usize) {
    st.last_access.set(Some(LastAccess {
        who: Accessor::HostCpu { process: 0 },
        folio: s,
        index: i as u8,
        write: true,
        guest_type: None,
    }));
}

/// The environment's choice at `ConvPc::Prealloc`: the maple-tree node
/// allocation fails. -ENOMEM, `error_offset = start`, nothing changed.
pub fn prealloc_can_fail(cfg: &Config, st: &State, k: usize) -> bool {
    if !cfg.enomem {
        return false;
    }
    if cfg.design == Design::Hugetlb {
        // Design hugetlb: kvm_gmem_split_private() (when there is a huge
        // leaf to split) and hugetlb_vmemmap_restore_folio() in the split
        // may fail -ENOMEM; the environment fails at most once per request.
        return !st.conv[k].enomem_seen
            && matches!(st.conv[k].pc.get(), ConvPc::S2Split | ConvPc::SplitDo);
    }
    st.conv[k].pc.get() == ConvPc::Prealloc
}

pub fn prealloc_fail(cfg: &Config, st: &mut State, k: usize) {
    if cfg.design == Design::Hugetlb {
        // *err_index = start of the batch; the batch's attributes are not
        // stored; earlier batches stay converted.
        let err = ConvResult::Enomem {
            error_index: work_range(cfg, st, k).0,
        };
        st.conv[k].enomem_seen = true;
        if st.conv[k].pc.get() == ConvPc::SplitDo {
            // The folio is unfrozen at the page cache's count, still whole.
            let g = st.conv[k].batch as usize;
            let w = mm::whole_slot(cfg, g);
            let n = mm::ppg(cfg) as i32;
            if st.folio(w).frozen {
                mm::unfreeze(st, w, n);
            }
            st.gigantic[g].structure.set(Structure::Whole);
        }
        if st.conv[k].inv_open {
            // kvm_gmem_invalidate_end() before returning.
            st.conv[k].result.set(Some(err));
            st.conv[k].pc.set(ConvPc::InvEnd);
        } else {
            finish(cfg, st, k, err);
        }
        return;
    }
    let start = op(cfg, st, k).start as usize;
    finish(cfg, st, k, ConvResult::Enomem { error_index: start });
}

/// Design hugetlb: the first step of the current batch.
fn batch_first(to: Attr) -> ConvPc {
    match to {
        Attr::Private => ConvPc::Unmap,
        Attr::Shared => ConvPc::InvBegin,
    }
}

/// Design hugetlb: the branch's order (BUG store_after_inv_end) ends the
/// invalidation before the restructure and the store; the fixed order
/// keeps both inside the window, as v13 keeps its store.
fn store_after_end(cfg: &Config) -> bool {
    cfg.has(Bug::StoreAfterInvEnd)
}

/// Design hugetlb, `kvm_gmem_restructure()`: split the batch's huge page
/// (to-shared, when it is whole) or merge it (to-private, when every other
/// subpage of it is private); `None` when there is nothing to do.
fn restructure(cfg: &Config, st: &mut State, k: usize, to: Attr) -> Option<ConvPc> {
    let g = st.conv[k].batch as usize;
    if st.gigantic[g].in_pool {
        return None;
    }
    match to {
        Attr::Shared if st.gigantic[g].structure == Structure::Whole => {
            st.gigantic[g].structure.set(Structure::Splitting);
            Some(ConvPc::SplitFreeze)
        }
        Attr::Private if st.gigantic[g].structure == Structure::Split => {
            let (glo, ghi) = mm::gig_range(cfg, g);
            let (lo, hi) = work_range(cfg, st, k);
            let rest_private = (glo..ghi).all(|j| (lo..hi).contains(&j) || st.pages[j].private);
            rest_private.then(|| {
                st.gigantic[g].structure.set(Structure::Merging);
                ConvPc::MergeFreeze(glo as u8)
            })
        }
        _ => None,
    }
}

/// Design hugetlb: after the zap (and make_shared) of a batch.
fn after_zap(cfg: &Config, st: &mut State, k: usize, to: Attr) -> ConvPc {
    if store_after_end(cfg) {
        ConvPc::InvEnd
    } else {
        restructure(cfg, st, k, to).unwrap_or(ConvPc::Flip)
    }
}

/// Design hugetlb: the batch is stored; the next batch, or return.
fn next_batch(cfg: &Config, st: &mut State, k: usize, to: Attr) {
    let (_, hi) = range(cfg, st, k);
    let next = st.conv[k].batch as usize + 1;
    if mm::gig_range(cfg, next).0 < hi {
        st.conv[k].batch = next as u8;
        st.conv[k].pc.set(batch_first(to));
    } else {
        finish(cfg, st, k, ConvResult::Ok);
    }
}

/// The v13 stage-2 filter of a conversion (`kvm_gmem_invalidate_start()`):
/// to-private zaps shared entries only, to-shared private entries only.
/// Other designs (older series) zap every type.
fn zap_filter(cfg: &Config, to: Attr) -> Option<Attr> {
    if !matches!(
        cfg.design,
        Design::Inplace | Design::NoDirectMap | Design::Hugetlb
    ) {
        return None;
    }
    let filter = match to {
        Attr::Private => Attr::Shared,
        Attr::Shared => Attr::Private,
    };
    if cfg.has(Bug::ZapWrongFilter) {
        // BUG zap_wrong_filter: the two filters swapped.
        Some(to)
    } else {
        Some(filter)
    }
}

/// The VMs an invalidation reaches: every bound gmem_file's VM, or with BUG
/// invalidate_one_binding only the first one.
pub fn invalidated_vms(cfg: &Config, st: &State) -> u8 {
    if cfg.has(Bug::InvalidateOneBinding) {
        st.bound & 1
    } else {
        st.bound
    }
}

/// Is folio `s` mapped by any host PTE (`folio_mapped()`)?
fn folio_mapped(cfg: &Config, st: &State, s: Slot) -> bool {
    (0..cfg.pages as usize).any(|j| st.pages[j].folio.get() == Some(s) && st.pages[j].ptes != 0)
}

/// `folio_maybe_dma_pinned()`: a small folio's refcount carries the pin bias.
fn maybe_dma_pinned(st: &State, s: Slot) -> bool {
    let f = st.folio(s);
    if f.large {
        f.pincount > 0
    } else {
        f.refcount as i64 >= GUP_PIN_COUNTING_BIAS
    }
}

/// The next page at or after `from` in the range whose folio must be
/// checked: present folios only (absent ones cannot be referenced), and one
/// check per folio (a large folio covers every page).
fn next_check(cfg: &Config, st: &State, k: usize, from: usize) -> Option<u8> {
    let (lo, hi) = work_range(cfg, st, k);
    if cfg.has(Bug::PartialFlip) {
        // The buggy loop visits every page in order, flipping as it goes.
        return (from.max(lo) < hi).then_some(from.max(lo) as u8);
    }
    (from.max(lo)..hi)
        .find(|&i| {
            let Some(s) = st.pages[i].folio.get() else {
                return false;
            };
            // Skip pages whose folio an earlier page of the range already covers.
            !(lo..i).any(|j| st.pages[j].folio.get() == Some(s))
        })
        .map(|i| i as u8)
}

/// The refcount the check expects of page i's folio.
fn expected(cfg: &Config, st: &State, s: Slot) -> i32 {
    let f = st.folio(s);
    let mut e = mm::baseline(cfg, f);
    if cfg.has(Bug::CheckBeforeUnmap) {
        // BUG check_before_unmap: checking before unmap_mapping_pages() has to
        // tolerate the PTEs' references (they are about to be zapped), which
        // leaves the window in which GUP-fast turns a PTE into a pin
        // (docs/kernel.md#conversion-check, #gup-fast).
        e += (0..cfg.pages as usize)
            .filter(|&j| st.pages[j].folio.get() == Some(s))
            .map(|j| st.pages[j].ptes.count_ones() as i32)
            .sum::<i32>();
    }
    e
}

fn at_baseline(cfg: &Config, st: &State, s: Slot) -> bool {
    let f = st.folio(s);
    !f.frozen && f.refcount == mm::baseline(cfg, f)
}

/// After unmapping (or, with the bug, instead of it first): where to go.
fn after_unmap(cfg: &Config, st: &State, k: usize) -> ConvPc {
    if cfg.has(Bug::CheckBeforeUnmap) {
        return ConvPc::InvBegin;
    }
    match cfg.design {
        Design::Wait => match next_check(cfg, st, k, 0) {
            Some(i) => ConvPc::Wait(i),
            None => ConvPc::InvBegin,
        },
        // PFNMAP: no references to drain, unmapping is enough
        // (docs/kernel.md#option-c).
        Design::Pfnmap => ConvPc::InvBegin,
        _ => match next_check(cfg, st, k, 0) {
            Some(i) => ConvPc::Check(i),
            None => ConvPc::InvBegin,
        },
    }
}

fn after_prealloc(cfg: &Config, st: &State, k: usize, to: Attr) -> ConvPc {
    match to {
        Attr::Shared => ConvPc::InvBegin,
        Attr::Private if cfg.has(Bug::CheckBeforeUnmap) => match next_check(cfg, st, k, 0) {
            Some(i) => ConvPc::Check(i),
            None => ConvPc::Unmap,
        },
        Attr::Private => ConvPc::Unmap,
    }
}

fn after_checks(cfg: &Config) -> ConvPc {
    if cfg.has(Bug::CheckBeforeUnmap) {
        ConvPc::Unmap
    } else {
        ConvPc::InvBegin
    }
}

fn split_needed(cfg: &Config, st: &State, k: usize) -> bool {
    cfg.design == Design::Split
        && op(cfg, st, k).to == Attr::Shared
        && !st.gigantic[0].in_pool
        && st.gigantic[0].structure == Structure::Whole
}

/// Is the exclusive bias set on this folio? (small: in `_refcount`; large: in `_pincount`)
pub fn exclusive_set(st: &State, s: Slot) -> bool {
    let f = st.folio(s);
    if f.large {
        f.pincount as i64 >= GUP_PIN_EXCLUSIVE_BIAS
    } else {
        f.refcount as i64 >= GUP_PIN_EXCLUSIVE_BIAS
    }
}

pub fn step(cfg: &Config, st: &mut State, k: usize) -> bool {
    let (rlo, rhi) = range(cfg, st, k);
    let (lo, hi) = work_range(cfg, st, k);
    let to = op(cfg, st, k).to;
    let hugetlb = cfg.design == Design::Hugetlb;
    match st.conv[k].pc.get() {
        ConvPc::Idle => return false,
        ConvPc::Done => {
            // The VMM dropped what it owns and retries the same request.
            begin_attempt(cfg, st, k);
        }
        ConvPc::WaitMapped(i) => {
            // Variant of design wait: wait for GUP references to drain while
            // the page is still mapped and faultable; new pins may keep coming.
            let i = i as usize;
            if let Some(s) = st.pages[i].folio.get() {
                let ptes = st.pages[i].ptes.count_ones() as i32;
                let f = st.folio(s);
                if f.frozen || f.refcount != mm::baseline(cfg, f) + ptes {
                    return false;
                }
            }
            st.conv[k].pc.set(if i + 1 < hi {
                ConvPc::WaitMapped(i as u8 + 1)
            } else {
                ConvPc::Lock
            });
        }
        ConvPc::Lock => {
            // filemap_invalidate_lock(): exclusive.
            if !st.invalidate_lock.can_write() {
                return false;
            }
            st.invalidate_lock.writer.set(Some(tid(k)));
            enter(cfg, st, k);
            // Early exit: the whole range already has the attribute.
            if (rlo..rhi).all(|i| st.pages[i].attr() == to) {
                finish(cfg, st, k, ConvResult::Ok);
                return true;
            }
            st.conv[k].pc.set(if cfg.enomem && !hugetlb {
                ConvPc::Prealloc
            } else {
                after_prealloc(cfg, st, k, to)
            });
        }
        ConvPc::Prealloc => {
            // kvm_gmem_mas_preallocate() succeeded.
            st.conv[k].pc.set(after_prealloc(cfg, st, k, to));
        }
        ConvPc::CopyOut(fpc) => return copy_out(cfg, st, k, fpc),
        ConvPc::Unmap => {
            // unmap_mapping_pages(): every process, TLB flushed. huge_whole
            // unmaps the whole folio, as Hildenbrand's protocol does for a
            // large folio (lore:53d1e7c5-3e77-467b-be33-a618c3bb6cb3@redhat.com).
            let (ulo, uhi) = if cfg.design == Design::HugeWhole {
                (0, cfg.pages as usize)
            } else {
                (lo, hi)
            };
            mm::unmap_mapping_pages(cfg, st, ulo, uhi);
            st.conv[k].pc.set(after_unmap(cfg, st, k));
        }
        ConvPc::Check(i) => {
            let i = i as usize;
            let busy = match st.pages[i].folio.get() {
                // Only the partial_flip loop visits pages without a folio.
                None => false,
                Some(s) => {
                    let f = st.folio(s);
                    f.frozen || f.refcount != expected(cfg, st, s)
                }
            };
            // v13 kvm_gmem_has_outstanding_references(): a pinned or mapped
            // folio is busy at once, whatever its refcount, without the LRU
            // drain.
            let busy_at_once = matches!(cfg.design, Design::Inplace | Design::NoDirectMap)
                && !cfg.has(Bug::CheckBeforeUnmap)
                && st.pages[i]
                    .folio
                    .get()
                    .is_some_and(|s| maybe_dma_pinned(st, s) || folio_mapped(cfg, st, s));
            let busy = busy || busy_at_once;
            if !busy {
                if cfg.has(Bug::PartialFlip) {
                    // BUG partial_flip: flip this page now, before knowing
                    // the rest of the range is free (v13 checks everything
                    // before its one store, docs/kernel.md#conversion-ioctl).
                    mm::zap_stage2(st, st.bound, i, i + 1, None);
                    st.pages[i].private = to == Attr::Private;
                }
                st.conv[k].pc.set(match next_check(cfg, st, k, i + 1) {
                    Some(j) => ConvPc::Check(j),
                    None => after_checks(cfg),
                });
            } else if !busy_at_once
                && st.pages[i].folio.get().is_some_and(|s| st.folio(s).lru)
                && !st.conv[k].drained
                && !cfg.has(Bug::NoLruDrain)
            {
                // A folio that may sit in an lru_add batch gets one drain
                // per call and a re-check (v13: lru_cache_drain_for_folio(),
                // local CPU then all CPUs, state shared across the call's
                // folios; mm/swap.c). BUG no_lru_drain removes this.
                st.conv[k].pc.set(ConvPc::Drain(i as u8));
            } else {
                // -EAGAIN, error_offset = max(start, folio->index) (design
                // hugetlb: kvm_gmem_has_safe_refcount() sets folio->index).
                let index = st.pages[i]
                    .folio
                    .get()
                    .map_or(i, |s| st.folio(s).index as usize);
                let err = if hugetlb { index } else { index.max(lo) };
                finish(cfg, st, k, ConvResult::Eagain { error_index: err });
            }
        }
        ConvPc::Drain(i) => {
            mm::lru_add_drain_all(cfg, st);
            st.conv[k].drained = true;
            st.conv[k].pc.set(ConvPc::Check(i));
        }
        ConvPc::Wait(i) => {
            // Option (a): sleep until short-term references drain.
            let i = i as usize;
            if let Some(s) = st.pages[i].folio.get() {
                if !at_baseline(cfg, st, s) {
                    if (lo..hi).any(|j| st.pages[j].ptes != 0) {
                        // A fault that passed the attribute check before the
                        // lock was taken installs its PTE after our unmap (its
                        // reference is what v7's check turns into EAGAIN). A
                        // converter that only sleeps would wait for that PTE
                        // forever (the model found this), so the wait loop
                        // unmaps again before sleeping.
                        mm::unmap_mapping_pages(cfg, st, lo, hi);
                        return true;
                    }
                    let f = *st.folio(s);
                    if f.lru && !st.conv[k].drained && !cfg.has(Bug::NoLruDrain) {
                        mm::lru_add_drain_all(cfg, st);
                        st.conv[k].drained = true;
                        return true;
                    }
                    return false;
                }
            }
            st.conv[k].pc.set(match next_check(cfg, st, k, i + 1) {
                Some(j) => ConvPc::Wait(j),
                None => ConvPc::InvBegin,
            });
        }
        ConvPc::InvBegin => {
            // kvm_gmem_invalidate_start(): point of no return. Zap the
            // stage-2 entries of the filter's type in every bound VM and
            // raise each VM's mmu_invalidate_in_progress.
            let (ilo, ihi) = invalidation_range(cfg, st, k);
            let vms = invalidated_vms(cfg, st);
            if hugetlb {
                // kvm_gmem_invalidate_begin() over the huge page; to-shared
                // first splits huge private leaves (kvm_gmem_split_private(),
                // which may fail), then kvm_gmem_zap() of the batch's range.
                st.conv[k].inv_open = true;
                if to == Attr::Shared && mm::has_huge_leaf(st, vms, ilo, ihi) {
                    st.conv[k].pc.set(ConvPc::S2Split);
                    return true;
                }
                mm::zap_stage2(st, vms, lo, hi, zap_filter(cfg, to));
                let next = if to == Attr::Shared && !cfg.has(Bug::NoMakeShared) {
                    ConvPc::MakeShared
                } else {
                    after_zap(cfg, st, k, to)
                };
                st.conv[k].pc.set(next);
                return true;
            }
            mm::zap_stage2(st, vms, ilo, ihi, zap_filter(cfg, to));
            // BUG no_make_shared: the to-shared path skips the arch hook.
            let next = if to == Attr::Shared && arch_converts(cfg) && !cfg.has(Bug::NoMakeShared) {
                ConvPc::MakeShared
            } else {
                after_make_shared(cfg, st, k)
            };
            st.conv[k].pc.set(next);
        }
        ConvPc::S2Split => {
            // kvm_split_cross_boundary_leafs() succeeded: 4K leaves to the
            // same pfns; then kvm_gmem_zap() of the batch's private entries.
            let (ilo, ihi) = invalidation_range(cfg, st, k);
            let vms = invalidated_vms(cfg, st);
            mm::split_stage2(st, vms, ilo, ihi);
            mm::zap_stage2(st, vms, lo, hi, zap_filter(cfg, to));
            let next = if !cfg.has(Bug::NoMakeShared) {
                ConvPc::MakeShared
            } else {
                after_zap(cfg, st, k, to)
            };
            st.conv[k].pc.set(next);
        }
        ConvPc::MakeShared => {
            // kvm_arch_gmem_make_shared() on every present folio of the
            // range, under the exclusive lock (SNP: RMP entries back to the
            // hypervisor).
            for i in lo..hi {
                if let Some(s) = st.pages[i].folio.get() {
                    let first = st.folio(s).index as usize;
                    st.folio_mut(s).hw_private &= !(1u8 << (i - first));
                }
            }
            let next = if hugetlb {
                after_zap(cfg, st, k, to)
            } else {
                after_make_shared(cfg, st, k)
            };
            st.conv[k].pc.set(next);
        }
        ConvPc::SplitFreeze => {
            // folio_ref_freeze() at the page cache's count, spinning while
            // speculative references are held (RFC v2 patch 38).
            let w = mm::whole_slot(cfg, st.conv[k].batch as usize);
            let n = mm::ppg(cfg) as i32;
            if cfg.has(Bug::RestructureNoFreeze) {
                // BUG restructure_no_freeze: a plain read of the count instead
                // of folio_ref_freeze(), so a speculative folio_try_get() can
                // still land on the folio being split (docs/kernel.md#freeze).
                if st.folio(w).refcount != n {
                    return false;
                }
            } else if !mm::freeze(st, w, n) {
                return false;
            }
            st.conv[k].pc.set(ConvPc::SplitDo);
        }
        ConvPc::SplitDo => {
            // The page cache's references move to the 4K folios. (Design
            // hugetlb: hugetlb_vmemmap_restore_folio() succeeded; its
            // -ENOMEM is the environment's `prealloc_fail` at this pc.)
            let g = st.conv[k].batch as usize;
            mm::split_gigantic(cfg, st, g);
            st.conv[k].pc.set(ConvPc::Flip);
        }
        ConvPc::Flip => {
            // The maple tree store (kvm_gmem_set_attributes' point of effect).
            for p in &mut st.pages[lo..hi] {
                p.private = to == Attr::Private;
            }
            if cfg.design == Design::ExclusivePin {
                finish(cfg, st, k, ConvResult::Ok);
                return true;
            }
            if hugetlb {
                if store_after_end(cfg) {
                    next_batch(cfg, st, k, to);
                } else {
                    st.conv[k].pc.set(ConvPc::InvEnd);
                }
                return true;
            }
            st.conv[k].pc.set(if merge_after_flip(cfg, st) {
                st.gigantic[0].structure.set(Structure::Merging);
                ConvPc::MergeFreeze(0)
            } else {
                ConvPc::InvEnd
            });
        }
        ConvPc::MergeFreeze(i) => {
            let s = sub_slot(i as usize);
            if cfg.has(Bug::RestructureNoFreeze) {
                // BUG restructure_no_freeze (docs/kernel.md#freeze): check without
                // folio_ref_freeze(), so a
                // speculative try-get can still land before the fold.
                if st.folio(s).refcount != 1 {
                    return false;
                }
            } else if !mm::freeze(st, s, 1) {
                return false;
            }
            let end = mm::gig_range(cfg, st.conv[k].batch as usize).1;
            st.conv[k].pc.set(if (i as usize + 1) < end {
                ConvPc::MergeFreeze(i + 1)
            } else {
                ConvPc::MergeFold
            });
        }
        ConvPc::MergeFold => {
            fold_subfolios(cfg, st, st.conv[k].batch as usize);
            st.conv[k].pc.set(if hugetlb {
                ConvPc::Flip
            } else {
                ConvPc::InvEnd
            });
        }
        ConvPc::InvEnd => {
            // kvm_gmem_invalidate_end(): mmu_invalidate_seq++ and
            // in_progress-- in every VM the start reached.
            let vms = invalidated_vms(cfg, st);
            mm::bump_seq(st, vms);
            if hugetlb {
                st.conv[k].inv_open = false;
                if let Some(r) = st.conv[k].result.get() {
                    // A failed batch (-ENOMEM) returns after the end.
                    finish(cfg, st, k, r);
                } else if store_after_end(cfg) {
                    // The branch: kvm_gmem_restructure(), then
                    // mas_store_prealloc(), after the window closed.
                    let next = restructure(cfg, st, k, to).unwrap_or(ConvPc::Flip);
                    st.conv[k].pc.set(next);
                } else {
                    next_batch(cfg, st, k, to);
                }
                return true;
            }
            finish(cfg, st, k, ConvResult::Ok);
        }
        ConvPc::ExclPin => return excl_pin(cfg, st, k),
        ConvPc::Unexc => {
            enter(cfg, st, k);
            if let Some(s) = st.conv[k].excl.get() {
                // unexc_user_page(): drop the exclusive bias, keeping one
                // normal pin, then the VMM unpins it.
                let large = st.folio(s).large;
                let bias_set = exclusive_set(st, s);
                let f = st.folio_mut(s);
                if bias_set {
                    if large {
                        f.pincount -= GUP_PIN_EXCLUSIVE_BIAS as i32;
                    } else {
                        f.refcount -= GUP_PIN_EXCLUSIVE_BIAS as i32;
                    }
                }
                if large {
                    f.pincount -= 1;
                    mm::put(cfg, st, s, 1);
                } else {
                    mm::put(cfg, st, s, GUP_PIN_COUNTING_BIAS as i32);
                }
                st.conv[k].excl.set(None);
            }
            st.conv[k].pc.set(ConvPc::Flip);
        }
    }
    true
}

/// Does this design call the arch conversion hooks (`kvm_arch_gmem_make_shared()`,
/// `_make_private()`, `_reclaim()`)? Every guest_memfd design does; the
/// exclusive-pin RFC's anonymous memory has pKVM's own donation path.
pub fn arch_converts(cfg: &Config) -> bool {
    cfg.design.is_gmem()
}

fn after_make_shared(cfg: &Config, st: &mut State, k: usize) -> ConvPc {
    if split_needed(cfg, st, k) {
        st.gigantic[0].structure.set(Structure::Splitting);
        ConvPc::SplitFreeze
    } else {
        ConvPc::Flip
    }
}

fn merge_after_flip(cfg: &Config, st: &State) -> bool {
    cfg.design == Design::Split
        && !st.gigantic[0].in_pool
        && st.gigantic[0].structure == Structure::Split
        && (0..cfg.pages as usize).all(|i| st.pages[i].private)
}

/// Fold the (frozen) 4K subfolios of gigantic page `g` back into one folio
/// and unfreeze it (design hugetlb: `gmem_hugetlb_restructure_folio()` to
/// the huge order, `hugetlb_vmemmap_optimize_folio()`).
pub fn fold_subfolios(cfg: &Config, st: &mut State, g: usize) {
    let (lo, hi) = mm::gig_range(cfg, g);
    let w = mm::whole_slot(cfg, g);
    let mut hw = 0u8;
    let mut poisoned = false;
    for j in lo..hi {
        let f = st.folio_mut(sub_slot(j));
        hw |= (f.hw_private & 1) << (j - lo);
        poisoned |= f.poisoned;
        f.hw_private = 0;
        if f.frozen {
            f.frozen = false;
        } else {
            // Unfrozen (bug): the page cache's reference moves to the whole
            // folio, anything else stays behind on a subfolio that is gone.
            f.refcount -= 1;
        }
        f.state = FolioState::Gone;
        st.pages[j].folio.set(Some(w));
    }
    let leftover = st.folio(w).refcount;
    *st.folio_mut(w) = Folio {
        state: FolioState::PageCache,
        large: true,
        index: lo as u8,
        refcount: (hi - lo) as i32 + leftover,
        hw_private: hw,
        poisoned,
        ..Folio::default()
    };
    st.gigantic[g].structure.set(Structure::Whole);
    mm::restage2(cfg, st, g);
}

/// Exclusive-pin RFC (lore:20240618-exclusive-gup-v1-2-30472a19c5d1@quicinc.com;
/// docs/kernel.md#exclusive-pin-rfc): GUP the page through the VMM's mapping
/// with FOLL_PIN|FOLL_LONGTERM|FOLL_EXCLUSIVE. The CAS succeeds only if no
/// pin of any kind exists.
fn excl_pin(cfg: &Config, st: &mut State, k: usize) -> bool {
    enter(cfg, st, k);
    let i = op(cfg, st, k).start as usize;
    // GUP slow path on anonymous memory: fault the page in if needed.
    let Some(s) = mm::alloc(cfg, st, i) else {
        finish(cfg, st, k, ConvResult::Eagain { error_index: i });
        return true;
    };
    if st.pages[i].ptes & 1 == 0 {
        st.pages[i].ptes |= 1;
        mm::get(st, s, 1);
    }
    let f = *st.folio(s);
    let ok = if f.large {
        f.pincount == 0
    } else {
        (f.refcount as i64) < GUP_PIN_COUNTING_BIAS
    };
    if !ok {
        // GUP returns no page: the donation fails.
        finish(cfg, st, k, ConvResult::Eagain { error_index: i });
        return true;
    }
    let fm = st.folio_mut(s);
    if f.large {
        // large_folio_pin_setexc() (docs/kernel.md#exclusive-pin-rfc): BUG exclusive_cas_bias stores the plain
        // pin count instead of the value with the exclusive bias (RFC patch 2).
        fm.pincount = if cfg.has(Bug::ExclusiveCasBias) {
            1
        } else {
            1 + GUP_PIN_EXCLUSIVE_BIAS as i32
        };
        fm.refcount += 1;
    } else {
        fm.refcount += (GUP_PIN_COUNTING_BIAS + GUP_PIN_EXCLUSIVE_BIAS) as i32;
    }
    st.conv[k].excl.set(Some(s));
    st.conv[k].pc.set(ConvPc::Flip);
    true
}
