//! `kvm_gmem_populate()` (`virt/kvm/guest_memfd.c`, docs/kernel.md#populate)
//! and the speculative PFN walker.
//!
//! Populate copies a shared source page (GUPed through process 0's mapping
//! of the same guest_memfd, as in-place conversion allows: slow GUP, whose
//! faultin_page() runs the guest_memfd fault path and leaves the PTE
//! installed) into a private destination under the invalidate lock. Since Jan 2026 it GUPs the source
//! *before* taking the lock ("KVM: guest_memfd: GUP source pages prior to
//! populating guest memory", lore:20260108214622.1084057-7-michael.roth@amd.com);
//! BUG populate_lock_order restores the old order, in which the source's
//! fault needs the invalidate lock that populate holds for write
//! (rw-semaphores are not recursive).

use crate::actors::host::{self, Fault};
use crate::config::{Bug, Config};
use crate::mm;
use crate::state::*;

const ME: u8 = 8;

pub fn can_start(cfg: &Config, st: &State) -> bool {
    cfg.populate.is_some() && st.populate.pc.get() == PopPc::Idle
}

pub fn in_flight(st: &State) -> bool {
    !matches!(st.populate.pc.get(), PopPc::Idle | PopPc::Finished)
}

/// kvm_gmem_populate() is called. Its source GUP fails at once where GUP
/// refuses the mapping (design pfnmap's VM_PFNMAP, no_direct_map's
/// AS_NO_DIRECT_MAP: check_vma_flags() -> -EFAULT, as for every pinner in
/// `gup::start`) or the file is closed: nothing is locked or copied.
pub fn start(cfg: &Config, st: &mut State) {
    st.populate
        .pc
        .set(if cfg.design.refuses_gup() || st.closed {
            PopPc::Finished
        } else if cfg.has(Bug::PopulateLockOrder) {
            PopPc::Lock
        } else {
            PopPc::SrcGup
        });
}

fn after_src(st: &mut State) {
    st.populate.pc.set(if st.populate.holds_lock {
        PopPc::Copy
    } else {
        PopPc::Lock
    });
}

fn fail(cfg: &Config, st: &mut State) {
    if st.populate.holds_lock {
        st.invalidate_lock.writer.set(None);
        st.populate.holds_lock = false;
    }
    if let Some(s) = st.populate.src.get() {
        st.populate.src.set(None);
        mm::put(cfg, st, s, 1);
    }
    st.populate.pc.set(PopPc::Finished);
}

pub fn step(cfg: &Config, st: &mut State) -> bool {
    let Some(p) = cfg.populate else { return false };
    let (src, dst) = (p.src as usize, p.dst as usize);
    match st.populate.pc.get() {
        PopPc::Idle | PopPc::Finished => return false,
        PopPc::SrcGup => {
            // get_user_pages() of the source, as slow GUP: a mapped page is
            // grabbed under the PTE lock (follow_page_pte()); else
            // faultin_page() runs the fault path for process 0, which
            // installs the PTE, and GUP follows it again.
            match st.pages[src].folio.get() {
                Some(s) if st.pages[src].ptes & 1 != 0 => {
                    mm::get(st, s, 1);
                    st.populate.src.set(Some(s));
                    after_src(st);
                }
                _ => st.populate.pc.set(PopPc::SrcFault(FaultPc::LockInv)),
            }
        }
        PopPc::SrcFault(fpc) => match host::fault_step(cfg, st, ME, 0, src, fpc) {
            Fault::Blocked => return false,
            Fault::Next(fpc) => st.populate.pc.set(PopPc::SrcFault(fpc)),
            Fault::Installed(_) => st.populate.pc.set(PopPc::SrcGup),
            // The source is private (SIGBUS): GUP fails -EFAULT.
            Fault::Sigbus => fail(cfg, st),
        },
        PopPc::Lock => {
            // kvm_gmem_populate() takes filemap_invalidate_lock(), i.e. for
            // write, per page (v13 `virt/kvm/guest_memfd.c`; the deadlock of
            // docs/kernel.md#populate needs the exclusive hold). [infer] The model's rw-semaphore
            // lets readers in while a writer waits; real rwsems queue new
            // readers behind a waiting writer. No verdict here depends on it.
            if !st.invalidate_lock.can_write() {
                return false;
            }
            st.invalidate_lock.writer.set(Some(ME));
            st.populate.holds_lock = true;
            st.populate.pc.set(if st.populate.src.get().is_some() {
                PopPc::Copy
            } else {
                PopPc::SrcGup
            });
        }
        PopPc::Copy => {
            // The destination must be private (else -EINVAL); the copy is the
            // kernel writing into guest-private memory, which is its job.
            if st.pages[dst].private {
                let _ = mm::alloc(cfg, st, dst);
            }
            fail(cfg, st);
        }
    }
    true
}

// ---- The speculative reference of a PFN walker ----

pub fn spec_can_start(cfg: &Config, st: &State) -> bool {
    cfg.speculative.is_some() && st.spec.get() == SpecPc::Idle
}

pub fn spec_in_flight(st: &State) -> bool {
    matches!(st.spec.get(), SpecPc::Held(_))
}

/// folio_try_get() on whatever folio backs the pfn now. Returns false when
/// the try-get fails and the walker has nothing more to do (no state change
/// for a repeating walker: the action is then not enabled).
pub fn spec_start(cfg: &Config, st: &mut State) -> bool {
    let Some(sc) = cfg.speculative else {
        return false;
    };
    let got = mm::folio_of_pfn(cfg, st, sc.page as usize).filter(|&s| mm::try_add(st, s, 1));
    match got {
        Some(s) => st.spec.set(SpecPc::Held(s)),
        None if sc.repeat => return false,
        None => st.spec.set(SpecPc::Finished),
    }
    true
}

/// folio_put(): the walker never touched the data.
pub fn spec_step(cfg: &Config, st: &mut State) -> bool {
    let SpecPc::Held(s) = st.spec.get() else {
        return false;
    };
    mm::put(cfg, st, s, 1);
    st.spec.set(match cfg.speculative {
        Some(sc) if sc.repeat => SpecPc::Idle,
        _ => SpecPc::Finished,
    });
    true
}

#[cfg(test)]
mod tests {
    use crate::config::{Design, PopulateCfg};
    use crate::state::PopPc;
    use crate::GmemModel;

    /// The source GUP of kvm_gmem_populate() goes through process 0's
    /// mapping of the guest_memfd: where the design refuses GUP on that
    /// mapping, populate never holds a source reference and never reaches
    /// the copy; in design inplace it does both, and holds the source
    /// together with the PTE its fault installed (no other actor maps page
    /// 1 here; the conversion may unmap it afterwards).
    #[test]
    fn populate_gets_no_source_where_gup_is_refused() {
        for design in [Design::Inplace, Design::Pfnmap, Design::NoDirectMap] {
            let mut cfg = crate::gate::peer_config(design, None);
            cfg.populate = Some(PopulateCfg { dst: 0, src: 1 });
            let m = GmemModel::new(cfg).expect("valid");
            let states = m.bfs_states(200_000);
            let held = states.iter().any(|s| s.populate.src.get().is_some());
            let copied = states.iter().any(|s| s.populate.pc.get() == PopPc::Copy);
            let ended = states
                .iter()
                .any(|s| s.populate.pc.get() == PopPc::Finished);
            // The source fault installs process 0's PTE, and GUP takes its
            // reference through it (no other actor maps page 1 here).
            let through_pte = states
                .iter()
                .any(|s| s.populate.src.get().is_some() && s.pages[1].ptes & 1 != 0);
            let refused = design.refuses_gup();
            assert_eq!((held, copied), (!refused, !refused), "{design}");
            assert_eq!(through_pte, !refused, "{design}");
            assert!(ended, "{design}: populate never finished");
        }
    }
}
