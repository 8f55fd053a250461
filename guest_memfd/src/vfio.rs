//! VFIO type1 DMA mappings (`VFIO_IOMMU_MAP_DMA`,
//! `drivers/vfio/vfio_iommu_type1.c: vaddr_get_pfns()`),
//! docs/kernel.md#non-gup. The model's pinners with `vfio` set.
//!
//! `vaddr_get_pfns()` first tries `pin_user_pages_remote(FOLL_LONGTERM)`:
//! on a normal mapping that is the IOMMU mapping's long-term pin (the same
//! slow GUP as any FOLL_LONGTERM user; the pinned page is the pin holder's
//! access). If GUP fails and the VMA is `VM_PFNMAP`, `follow_fault_pfn()`
//! reads the PTE with `follow_pfnmap_start()` (faulting it in with
//! `fixup_user_fault()` if absent): the pfn only, no reference, and no
//! MMU notifier is registered. The pfn is kept only if
//! `is_invalid_reserved_pfn()` (no struct page, or `PageReserved`;
//! [`crate::Config::reserved_pfns`]), else -EFAULT. A kept mapping outlives
//! any unmap, punch or conversion of the page: nothing the converter or
//! truncation can see or reach holds it (gate row
//! `pfnmap@vfio_reserved_pfns`).

use crate::design::{GupPath, PinKind};
use crate::device::{DevId, Device, IommuMapping};
use crate::errno::{Errno, Error, Misuse, Result};
use crate::folio::Folio;
use crate::gmem::{GuestMemFd, MmId};
use crate::mm::Mm;
use crate::sched;
use crate::sync::{lock, Arc};

impl GuestMemFd {
    /// `VFIO_IOMMU_MAP_DMA` of page `index` of process `mm`'s mapping.
    pub fn vfio_map_dma(&self, mm: MmId, index: usize) -> Result<DevId> {
        self.begin_op();
        let r = (|| {
            let m = self.mm(mm)?;
            match self.pin_inner(mm, index, PinKind::Longterm, GupPath::Slow) {
                Ok(pin) => Ok(self.add_device(Device::VfioPinned { pin })),
                Err(Error::Sys {
                    errno: Errno::EFAULT,
                    ..
                }) if m.vma().is_some_and(|v| v.pfnmap) => {
                    let folio = self.follow_fault_pfn(&m, index)?;
                    Ok(self.add_device(Device::VfioPfn(IommuMapping { index, folio })))
                }
                Err(e) => Err(e),
            }
        })();
        self.end_op();
        r
    }

    /// `VFIO_IOMMU_UNMAP_DMA`: a pinned page is unpinned; a bare pfn has
    /// nothing to put.
    pub fn vfio_unmap_dma(&self, id: DevId) -> Result<()> {
        match self.device(id)? {
            Device::VfioPinned { pin } => {
                self.unpin(pin)?;
            }
            Device::VfioPfn(_) => {}
            Device::Odp(_) => {
                return Err(Misuse::WrongDevice(id, "not a VFIO DMA mapping").into());
            }
        }
        lock(&self.devices).remove(&id);
        Ok(())
    }

    /// `follow_fault_pfn()` (model step `gup.pfn_follow`): under the mmap
    /// lock, `follow_pfnmap_start()` reads the PTE; if absent,
    /// `fixup_user_fault()` faults it in (the host fault path's own steps)
    /// and the lookup repeats. A present pfn is kept only if reserved.
    fn follow_fault_pfn(&self, m: &Arc<Mm>, index: usize) -> Result<Arc<Folio>> {
        loop {
            sched::step_point("gup.pfn_follow", None);
            let pte = {
                let _mmap = m.mmap_lock.read();
                if self.is_closed() || m.vma().is_none() {
                    return Err(Error::sys(Errno::EFAULT));
                }
                m.pte_read(index)
            };
            if let Some(pte) = pte {
                return if self.is_invalid_reserved_pfn(&pte.folio) {
                    Ok(pte.folio)
                } else {
                    Err(Error::sys(Errno::EFAULT))
                };
            }
            if self.handle_mm_fault(m, index).is_err() {
                return Err(Error::sys(Errno::EFAULT));
            }
        }
    }

    /// `is_invalid_reserved_pfn()`: guest_memfd's folios come from the page
    /// allocator (valid pfns, not `PageReserved`) unless the configuration
    /// says the memory has no struct pages.
    fn is_invalid_reserved_pfn(&self, _folio: &Folio) -> bool {
        self.cfg.reserved_pfns
    }
}
