//! Host processes: user accesses to the guest_memfd mapping, the page fault
//! path (`virt/kvm/guest_memfd.c: kvm_gmem_fault_user_mapping()`), and
//! madvise(MADV_DONTNEED). The fault path is shared with GUP's slow path,
//! populate's source fault and the converter's copy-out of `error_offset`.

use crate::config::{Bug, Config, Design, HostOp};
use crate::mm;
use crate::state::*;
use invariants::Accessor;

/// What one fault step did.
pub enum Fault {
    /// Blocked (the invalidate lock is held for write).
    Blocked,
    /// Moved on to the next fault step.
    Next(FaultPc),
    /// The PTE is installed for `proc`, mapping this folio.
    Installed(Slot),
    /// The attribute is private (or nothing can be allocated): SIGBUS / EFAULT.
    Sigbus,
}

/// One atomic step of the fault path of process `proc` on page `i`, run by
/// thread `tid`.
pub fn fault_step(cfg: &Config, st: &mut State, tid: u8, proc: u8, i: usize, pc: FaultPc) -> Fault {
    let bit = 1u16 << tid;
    match pc {
        FaultPc::LockInv => {
            if !st.invalidate_lock.can_read() {
                return Fault::Blocked;
            }
            st.invalidate_lock.readers |= bit;
            Fault::Next(FaultPc::Lookup)
        }
        FaultPc::Lookup => {
            // Under the lock: shared? then look up or allocate the folio and
            // lock it (kvm_gmem_get_folio() -> filemap_lock_folio(), which
            // sleeps, still holding the invalidate lock, while another fault
            // holds the folio lock).
            // The attribute first: a private index SIGBUSes without
            // touching the folio (kvm_gmem_fault_user_mapping() returns
            // before kvm_gmem_get_folio()).
            let fresh = mm::fresh_gigantic(cfg, st, i);
            let folio = if st.pages[i].private {
                None
            } else if st.pages[i]
                .folio
                .get()
                .is_some_and(|s| mm::folio_locked(st, s))
            {
                return Fault::Blocked;
            } else if st.pages[i].folio.get().is_some_and(|s| st.folio(s).frozen) {
                // filemap_lock_folio()'s folio_try_get() fails on a frozen
                // folio (design hugetlb: another fault is splitting it) and
                // the lookup retries.
                return Fault::Blocked;
            } else {
                mm::alloc(cfg, st, i)
            };
            let Some(s) = folio else {
                st.invalidate_lock.readers &= !bit;
                return Fault::Sigbus;
            };
            if let Some(g) = fresh.filter(|&g| mm::needs_fresh_split(st, g)) {
                // Design hugetlb, __maybe_split_fresh_folio(): the fresh
                // folio's range is not all private; still under the shared
                // lock, unlock it, drop our reference, split.
                return Fault::Next(FaultPc::FreshSplit(g as u8));
            }
            if cfg.design == Design::Pfnmap {
                // [infer] A PFNMAP fault (vmf_insert_pfn) holds no folio
                // reference, so it must install while still holding the lock.
                return Fault::Next(FaultPc::InstallLocked(s));
            }
            // The PTE is installed after the invalidate lock is dropped
            // (VM_FAULT_LOCKED: the folio stays locked until finish_fault());
            // what keeps a concurrent to-private correct is this reference,
            // which the converter's refcount check sees, and the PTE, which
            // its folio_mapped() check sees.
            mm::get(st, s, 1);
            st.invalidate_lock.readers &= !bit;
            if cfg.has(Bug::FaultNoRef) {
                // BUG fault_no_ref: the fault drops its folio reference before
                // core mm installs the PTE, so the converter's refcount check
                // cannot see the fault in flight.
                mm::put(cfg, st, s, 1);
            }
            Fault::Next(FaultPc::Install(s))
        }
        FaultPc::FreshSplit(g) => {
            // gmem_hugetlb_restructure_folio(): folio_ref_freeze() at the
            // page cache's count, spinning while anyone else holds a
            // reference; then split, unfreeze each subfolio, and lock and
            // get the subfolio of our index.
            if !mm::fresh_split(cfg, st, g as usize) {
                return Fault::Blocked;
            }
            let s = mm::sub_slot(i);
            mm::get(st, s, 1);
            st.invalidate_lock.readers &= !bit;
            Fault::Next(FaultPc::Install(s))
        }
        FaultPc::Install(s) if cfg.design == Design::Hugetlb && st.folio(s).large => {
            // kvm_gmem_fault_user_mapping(): WARN_ON_ONCE(folio_test_large())
            // -> VM_FAULT_SIGBUS, folio_unlock(), folio_put(). A fault that
            // found another fault's fresh huge folio before its split lands
            // here.
            mm::put(cfg, st, s, 1);
            Fault::Sigbus
        }
        FaultPc::Install(s) => {
            // finish_fault(): the fault's reference becomes the PTE's, then
            // folio_unlock(). Truncation waits for the folio lock, so the
            // folio is still the page's; the re-check below only matters for
            // BUG fault_no_ref, where the folio can be freed meanwhile.
            if st.pages[i].folio.get() != Some(s) {
                if !cfg.has(Bug::FaultNoRef) {
                    mm::put(cfg, st, s, 1);
                }
                return Fault::Next(FaultPc::LockInv);
            }
            if st.pages[i].ptes & (1 << proc) != 0 {
                // Another fault of this process won the race: finish_fault()
                // finds the PTE present and drops its own reference.
                if !cfg.has(Bug::FaultNoRef) {
                    mm::put(cfg, st, s, 1);
                }
                return Fault::Installed(s);
            }
            // With BUG fault_no_ref the PTE maps the folio on the strength of
            // a reference that was already dropped.
            st.pages[i].ptes |= 1 << proc;
            Fault::Installed(s)
        }
        FaultPc::InstallLocked(s) => {
            st.pages[i].ptes |= 1 << proc;
            st.invalidate_lock.readers &= !bit;
            Fault::Installed(s)
        }
    }
}

fn script(cfg: &Config, p: usize) -> &[HostOp] {
    cfg.procs.get(p).map(|v| v.as_slice()).unwrap_or(&[])
}

pub fn can_start(cfg: &Config, st: &State, p: usize) -> bool {
    st.procs[p].pc.get() == ProcPc::Idle && (st.procs[p].op as usize) < script(cfg, p).len()
}

pub fn in_flight(st: &State, p: usize) -> bool {
    st.procs[p].pc.get() != ProcPc::Idle
}

fn access(st: &mut State, p: usize, s: Slot, i: usize, write: bool) {
    st.last_access.set(Some(LastAccess {
        who: Accessor::HostCpu { process: p as u32 },
        folio: s,
        index: i as u8,
        write,
        guest_type: None,
    }));
}

fn done(st: &mut State, p: usize) {
    st.procs[p].pc.set(ProcPc::Idle);
    st.procs[p].op += 1;
}

/// Start the next scripted operation.
pub fn start(cfg: &Config, st: &mut State, p: usize) {
    let op = script(cfg, p)[st.procs[p].op as usize];
    let i = op.page() as usize;
    let pbit = 1u8 << p;
    if st.closed {
        // The mapping is gone: SIGSEGV, nothing touched.
        return done(st, p);
    }
    match op {
        HostOp::Dontneed { .. } => {
            // zap_page_range_single() fires this mm's notifiers.
            mm::mmu_notifier_invalidate(cfg, st, pbit, i, i + 1);
            if st.pages[i].ptes & pbit != 0 {
                st.pages[i].ptes &= !pbit;
                if let (Some(s), true) = (st.pages[i].folio.get(), mm::pte_holds_ref(cfg)) {
                    mm::put(cfg, st, s, 1);
                }
            }
            done(st, p)
        }
        HostOp::Read { .. } | HostOp::Write { .. } => {
            let write = matches!(op, HostOp::Write { .. });
            if let (true, Some(s)) = (st.pages[i].ptes & pbit != 0, st.pages[i].folio.get()) {
                if cfg.design == Design::ExclusivePin && st.pages[i].private {
                    // pKVM: the hypervisor removed the donated page from the
                    // host's stage-2; a user access faults recoverably.
                    return done(st, p);
                }
                access(st, p, s, i, write);
                return done(st, p);
            }
            if cfg.design == Design::ExclusivePin {
                // Anonymous memory: do_anonymous_page(), no attribute check.
                if let Some(s) = mm::alloc(cfg, st, i) {
                    st.pages[i].ptes |= pbit;
                    mm::get(st, s, 1);
                    if !st.pages[i].private {
                        access(st, p, s, i, write);
                    }
                }
                return done(st, p);
            }
            st.procs[p].pc.set(ProcPc::Fault(FaultPc::LockInv));
        }
    }
}

pub fn step(cfg: &Config, st: &mut State, p: usize) -> bool {
    let ProcPc::Fault(pc) = st.procs[p].pc.get() else {
        return false;
    };
    let op = script(cfg, p)[st.procs[p].op as usize];
    let i = op.page() as usize;
    let tid = 1 + p as u8;
    match fault_step(cfg, st, tid, p as u8, i, pc) {
        Fault::Blocked => return false,
        Fault::Next(pc) => st.procs[p].pc.set(ProcPc::Fault(pc)),
        Fault::Installed(s) => {
            // The faulting instruction is restarted and completes.
            access(st, p, s, i, matches!(op, HostOp::Write { .. }));
            done(st, p);
        }
        Fault::Sigbus => done(st, p),
    }
    true
}
