//! GUP users: GUP-fast (`mm/gup.c: gup_fast_pte_range()`, docs/kernel.md#gup-fast) falling back
//! to the slow path (mmap_lock, fault in, grab under the PTE lock), FOLL_GET /
//! FOLL_PIN / FOLL_LONGTERM references, the device access, and the release.

use super::host::{fault_step, Fault};
use crate::actors::converter::exclusive_set;
use crate::config::{Bug, Config, Design, GupPath, PinKind, PinnerCfg};
use crate::mm;
use crate::state::*;
use invariants::{Accessor, GUP_PIN_COUNTING_BIAS};

fn cfg_of(cfg: &Config, k: usize) -> PinnerCfg {
    cfg.pinners[k]
}

/// Add this pinner's reference in the kernel's encoding: FOLL_GET +1; FOLL_PIN
/// +1024 on a small folio, +1 and `_pincount`+1 on a large one. `try` uses
/// folio_ref_try_add() (GUP-fast: fails on zero/frozen).
fn grab(st: &mut State, s: Slot, kind: PinKind, try_: bool) -> bool {
    let large = st.folio(s).large;
    let n = match kind {
        PinKind::Get => 1,
        _ if large => 1,
        _ => GUP_PIN_COUNTING_BIAS as i32,
    };
    if try_ {
        if !mm::try_add(st, s, n) {
            return false;
        }
    } else {
        mm::get(st, s, n);
    }
    if kind != PinKind::Get && large {
        st.folio_mut(s).pincount += 1;
    }
    true
}

/// put_page() / unpin_user_page().
fn release(cfg: &Config, st: &mut State, s: Slot, kind: PinKind) {
    let large = st.folio(s).large;
    match kind {
        PinKind::Get => mm::put(cfg, st, s, 1),
        _ if large => {
            st.folio_mut(s).pincount -= 1;
            mm::put(cfg, st, s, 1)
        }
        _ => mm::put(cfg, st, s, GUP_PIN_COUNTING_BIAS as i32),
    }
}

pub fn can_start(cfg: &Config, st: &State, k: usize) -> bool {
    st.pinners[k].pc.get() == PinPc::Idle && k < cfg.pinners.len()
}

pub fn in_flight(cfg: &Config, st: &State, k: usize) -> bool {
    match st.pinners[k].pc.get() {
        PinPc::Idle | PinPc::Finished => false,
        // A pin (or IOMMU mapping) held forever is never released: no step left.
        PinPc::Accessed(_) | PinPc::PfnAccessed(_) => !cfg_of(cfg, k).hold_forever,
        _ => true,
    }
}

fn finish(cfg: &Config, st: &mut State, k: usize) {
    st.pinners[k].pc.set(if cfg_of(cfg, k).repeat {
        PinPc::Idle
    } else {
        PinPc::Finished
    });
}

/// pin_user_pages()/get_user_pages() is called.
pub fn start(cfg: &Config, st: &mut State, k: usize) {
    let pc = cfg_of(cfg, k);
    let refused = st.closed
        // Option (a): FOLL_LONGTERM on guest_memfd is refused. [infer] EFAULT,
        // like other mappings GUP refuses outright.
        || (cfg.design == Design::Wait && pc.kind == PinKind::Longterm)
        // Option (c): GUP-fast bails on the special PTE, slow GUP on VM_PFNMAP.
        // no_direct_map: gup_fast_folio_allowed() bails on AS_NO_DIRECT_MAP,
        // check_vma_flags() returns -EFAULT (as for secretmem).
        || cfg.design.refuses_gup();
    if refused {
        // VFIO type1's vaddr_get_pfns(): pin_user_pages_remote() failed; on
        // a VM_PFNMAP VMA it falls back to follow_fault_pfn()
        // (drivers/vfio/vfio_iommu_type1.c). A no_direct_map VMA is not
        // VM_PFNMAP: -EFAULT.
        st.pinners[k]
            .pc
            .set(if pc.vfio && !st.closed && cfg.design == Design::Pfnmap {
                PinPc::PfnFollow
            } else {
                PinPc::Finished
            });
        return;
    }
    if cfg.design == Design::ExclusivePin {
        return excl_start(cfg, st, k);
    }
    // gup_fast_folio_allowed(): FOLL_LONGTERM pins of non-shmem file folios
    // go through the slow path (`mm/gup.c`, docs/kernel.md#gup-fast). [infer]
    // (docs/kernel.md#gup-longterm): slow GUP
    // allows long-term writable pins of guest_memfd (no dirty tracking
    // needed) and its folios are long-term pinnable without migration.
    st.pinners[k].pc.set(
        if pc.path == GupPath::Fast && pc.kind != PinKind::Longterm {
            PinPc::FastReadPte
        } else {
            PinPc::SlowFollow
        },
    );
}

/// RFC semantics for a normal pin: back off if exclusive, add, re-check.
/// FOLL_GET is not covered by the exclusive bias at all.
fn excl_start(cfg: &Config, st: &mut State, k: usize) {
    let pc = cfg_of(cfg, k);
    let i = pc.page as usize;
    let Some(s) = mm::alloc(cfg, st, i) else {
        return finish(cfg, st, k);
    };
    let pbit = 1u8 << pc.proc;
    if st.pages[i].ptes & pbit == 0 {
        // Anonymous fault-in by the slow path.
        st.pages[i].ptes |= pbit;
        mm::get(st, s, 1);
    }
    if pc.kind == PinKind::Get {
        grab(st, s, pc.kind, false);
        st.pinners[k].pc.set(PinPc::Held(s));
        return;
    }
    if exclusive_set(st, s) {
        return finish(cfg, st, k);
    }
    grab(st, s, pc.kind, false);
    st.pinners[k].pc.set(PinPc::ExclRecheck(s));
}

pub fn step(cfg: &Config, st: &mut State, k: usize) -> bool {
    let pc = cfg_of(cfg, k);
    let i = pc.page as usize;
    let pbit = 1u8 << pc.proc;
    let pte_maps =
        |st: &State, s: Slot| st.pages[i].ptes & pbit != 0 && st.pages[i].folio.get() == Some(s);
    match st.pinners[k].pc.get() {
        PinPc::Idle | PinPc::Finished => return false,
        PinPc::FastReadPte => {
            // Lockless PTE read with interrupts off.
            st.pinners[k].pc.set(match st.pages[i].folio.get() {
                // BUG gup_fast_recheck_before_add: the re-read moves before
                // the increment, so nothing orders the increment after the
                // converter's unmap.
                Some(s)
                    if st.pages[i].ptes & pbit != 0 && cfg.has(Bug::GupFastRecheckBeforeAdd) =>
                {
                    PinPc::FastRecheckEarly(s)
                }
                Some(s) if st.pages[i].ptes & pbit != 0 => PinPc::FastTryAdd(s),
                _ => PinPc::SlowFollow,
            });
        }
        PinPc::FastRecheckEarly(s) => {
            st.pinners[k].pc.set(if pte_maps(st, s) {
                PinPc::FastTryAdd(s)
            } else {
                PinPc::SlowFollow
            });
        }
        PinPc::FastTryAdd(s) => {
            let next = match grab(st, s, pc.kind, true) {
                false => PinPc::SlowFollow,
                // The buggy order already re-read the PTE: keep the reference.
                true if cfg.has(Bug::GupFastRecheckBeforeAdd) => PinPc::Held(s),
                true => PinPc::FastRecheck(s),
            };
            st.pinners[k].pc.set(next);
        }
        PinPc::FastRecheck(s) => {
            // "Adjust the pincount before re-checking the PTE": if the PTE
            // changed, drop what was taken and fall back. [infer] (docs/kernel.md#gup-fast): with
            // the converter's "unmap, then read refcount", every GUP-fast
            // either sees the cleared PTE here or its increment precedes the
            // converter's read.
            // BUG gup_fast_no_recheck keeps the reference without re-reading
            // the PTE in gup_fast_pte_range() (docs/kernel.md#gup-fast).
            if cfg.has(Bug::GupFastNoRecheck) || pte_maps(st, s) {
                st.pinners[k].pc.set(PinPc::Held(s));
            } else {
                release(cfg, st, s, pc.kind);
                st.pinners[k].pc.set(PinPc::SlowFollow);
            }
        }
        PinPc::SlowFollow => {
            // Under mmap_lock: follow_page_pte() grabs under the PTE lock, so
            // the PTE cannot change between the check and the grab.
            if st.closed {
                finish(cfg, st, k);
            } else if let Some(s) = st.pages[i].folio.get().filter(|&s| pte_maps(st, s)) {
                grab(st, s, pc.kind, false);
                st.pinners[k].pc.set(PinPc::Held(s));
            } else {
                st.pinners[k].pc.set(PinPc::SlowFault(FaultPc::LockInv));
            }
        }
        PinPc::SlowFault(fpc) => match fault_step(cfg, st, 3 + k as u8, pc.proc, i, fpc) {
            Fault::Blocked => return false,
            Fault::Next(fpc) => st.pinners[k].pc.set(PinPc::SlowFault(fpc)),
            // The fault installed the PTE; GUP retries follow_page_pte(),
            // VFIO's follow_fault_pfn() its follow_pfnmap_start().
            Fault::Installed(_) if cfg.design.refuses_gup() => {
                st.pinners[k].pc.set(PinPc::PfnFollow)
            }
            Fault::Installed(_) => st.pinners[k].pc.set(PinPc::SlowFollow),
            // The page is private: GUP fails with EFAULT.
            Fault::Sigbus => finish(cfg, st, k),
        },
        PinPc::ExclRecheck(s) => {
            if exclusive_set(st, s) {
                release(cfg, st, s, pc.kind);
                finish(cfg, st, k);
            } else {
                st.pinners[k].pc.set(PinPc::Held(s));
            }
        }
        PinPc::Held(s) => {
            // The device / O_DIRECT touches the page through the reference.
            st.last_access.set(Some(LastAccess {
                who: Accessor::GupHolder { holder: k as u32 },
                folio: s,
                index: i as u8,
                write: true,
                guest_type: None,
            }));
            st.pinners[k].pc.set(PinPc::Accessed(s));
        }
        PinPc::Accessed(s) => {
            if pc.hold_forever {
                return false;
            }
            release(cfg, st, s, pc.kind);
            finish(cfg, st, k);
        }
        PinPc::PfnFollow => {
            // follow_fault_pfn() under mmap_read_lock(): follow_pfnmap_start()
            // reads the PFNMAP PTE (no reference; the pfn only); if absent,
            // fixup_user_fault() faults it in and the lookup repeats.
            if st.closed {
                finish(cfg, st, k);
            } else if let Some(s) = st.pages[i]
                .folio
                .get()
                .filter(|_| st.pages[i].ptes & pbit != 0)
            {
                // vaddr_get_pfns(): `if (is_invalid_reserved_pfn(*pfn))` map
                // it, else -EFAULT (drivers/vfio/vfio_iommu_type1.c, kept
                // by lore:20250205231728.2527186-6-alex.williamson@redhat.com).
                // guest_memfd's folios come from the page allocator: valid,
                // not PageReserved, refused. Only memory without struct pages
                // (or reserved ones) gets through, with no reference and no
                // notifier: the IOMMU mapping outlives any unmap.
                if cfg.reserved_pfns {
                    st.pinners[k].pc.set(PinPc::PfnMapped(s));
                } else {
                    finish(cfg, st, k);
                }
            } else {
                st.pinners[k].pc.set(PinPc::SlowFault(FaultPc::LockInv));
            }
        }
        PinPc::PfnMapped(s) => {
            // The device DMAs through the IOMMU mapping of the pfn.
            st.last_access.set(Some(LastAccess {
                who: Accessor::Device {
                    device: 1 + k as u32,
                },
                folio: s,
                index: i as u8,
                write: true,
                guest_type: None,
            }));
            st.pinners[k].pc.set(PinPc::PfnAccessed(s));
        }
        PinPc::PfnAccessed(_) => {
            // VFIO_IOMMU_UNMAP_DMA: nothing to put (no reference was taken).
            if pc.hold_forever {
                return false;
            }
            finish(cfg, st, k);
        }
    }
    true
}
