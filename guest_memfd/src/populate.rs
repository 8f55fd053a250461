//! `kvm_gmem_populate()` and a PFN walker's speculative reference.
//!
//! `kvm_gmem_populate()` (TDX/SNP initial image, docs/kernel.md#populate): copy a
//! source page, reached by GUP through a process's mapping, into a private
//! destination page, under the invalidate lock held exclusive.
//!
//! The source is GUP'd *before* the invalidate lock is taken: the source
//! page may itself be a guest_memfd page whose fault takes the same lock
//! shared (in-place conversion), and the lock is not recursive. Bug switch
//! `populate_lock_order` takes the lock first, and the source fault then
//! waits for a lock its own thread holds.

use crate::design::DesignPolicy;
use crate::design::{Bug, PinKind};
use crate::errno::{Errno, Error, Misuse, Result};
use crate::folio::{Folio, Ref};
use crate::gmem::{GuestMemFd, MmId};
use crate::sched;
use crate::sync::Arc;
use invariants::Attr;

impl GuestMemFd {
    /// Populate private page `dst` from page `src` of process `mm`'s mapping.
    pub fn populate(&self, dst: usize, mm: MmId, src: usize) -> Result<()> {
        self.begin_op();
        let r = self.populate_inner(dst, mm, src);
        self.end_op();
        r
    }

    fn populate_inner(&self, dst: usize, mm: MmId, src: usize) -> Result<()> {
        let m = self.mm(mm)?;
        for page in [dst, src] {
            if page >= self.cfg.nr_pages {
                return Err(Misuse::PageOutOfRange {
                    page,
                    limit: self.cfg.nr_pages,
                }
                .into());
            }
        }
        self.check_open()?;
        if m.vma().is_some_and(|v| v.pfnmap || v.no_direct_map) {
            // GUP refuses the mapping outright (`check_vma_flags()`:
            // VM_PFNMAP, AS_NO_DIRECT_MAP), as for every pinner
            // (`pin_inner`): nothing is copied.
            return Err(Error::sys(Errno::EFAULT));
        }
        let bug = self.cfg.has(Bug::PopulateLockOrder);
        let mut inv = bug.then(|| self.invalidate_lock.write_step("pop.lock"));
        // get_user_pages(src) is slow GUP: grab the mapped page under the PTE
        // lock, else faultin_page() runs the fault path, which installs the
        // PTE, and GUP follows it again.
        let source = self.gup_slow(&m, src, PinKind::Get)?;
        if inv.is_none() {
            inv = Some(self.invalidate_lock.write_step("pop.lock"));
        }
        sched::step_point("pop.copy", None);
        let r = if self.attr_at(dst) == Attr::Private {
            match self.get_folio_ref(dst, true) {
                Ok(Some(d)) => {
                    d.write(dst, source.read(src));
                    self.folio_put(&d, Ref::Transient);
                    Ok(())
                }
                _ => Err(Error::sys(Errno::ENOMEM)),
            }
        } else {
            // kvm_gmem_populate() only writes private memory.
            Err(Error::sys(Errno::EINVAL))
        };
        drop(inv);
        self.folio_put(&source, Ref::Get);
        r
    }
}

/// A speculative reference taken by a PFN walker.
#[derive(Debug)]
pub struct SpecRef(Arc<Folio>);

impl GuestMemFd {
    /// A PFN walker (compaction, memory-failure, page_idle) taking a
    /// speculative `folio_try_get()` on the folio backing file page
    /// `index`, with no lock held (docs/kernel.md#freeze): it fails only on a frozen
    /// or freed folio, which is why restructuring must freeze.
    pub fn pfn_walker_get(&self, index: usize) -> Option<SpecRef> {
        let f = self
            .filemap_find(index)
            .or_else(|| self.orphan_backing_pfn(index))?;
        f.try_get(Ref::Transient).then_some(SpecRef(f))
    }

    /// The walker reaches a pfn, not a file index: memory of a gigantic
    /// page that was truncated but is still referenced (so not back in the
    /// pool) is still a folio, orphaned from the page cache. 4K designs'
    /// orphaned folios are not found by index.
    fn orphan_backing_pfn(&self, index: usize) -> Option<Arc<Folio>> {
        if !self.cfg.design.huge_backed() {
            return None;
        }
        self.arena_snapshot().into_iter().find(|f| {
            f.gigantic.is_some()
                && f.covers(index)
                && !f.freed()
                && f.home() == invariants::FolioHome::Orphaned
        })
    }

    /// Is the folio the walker holds still a folio of the file (not folded
    /// away by a split or merge while it held it)? Restructuring freezes
    /// the folio first precisely so that this never fails.
    pub fn pfn_walker_holds_live(&self, r: &SpecRef) -> bool {
        r.0.home() != invariants::FolioHome::Gone
    }

    /// The walker drops its speculative reference.
    pub fn pfn_walker_put(&self, r: SpecRef) {
        self.folio_put(&r.0, Ref::Transient);
    }
}
