//! Devices that reach guest_memfd memory without a GUP reference of their
//! own (docs/kernel.md#non-gup): a secondary MMU mirroring a process's
//! mapping (`odp`: `hmm_range_fault()` / RDMA ODP, KVM's pfncache), and
//! VFIO type1 DMA mappings (`vfio`: a long-term pin on a normal mapping, a
//! bare pfn from `follow_pfnmap_start()` on a `VM_PFNMAP` one).
//!
//! A device's DMA is a host access for every property (`Accessor::Device`,
//! as in the model; a VFIO mapping backed by a pin is the pin holder's
//! access, `Accessor::GupHolder`): it is recorded at the moment it happens,
//! so `host_access_only_shared`, `host_access_only_hw_shared` and
//! `refcount_conserved` judge it like a CPU access through a PTE.

use crate::errno::{AccessOutcome, Misuse, Result};
use crate::folio::Folio;
use crate::gmem::{GuestMemFd, PinId};
use crate::odp::OdpMirror;
use crate::sync::{lock, Arc};
use invariants::Accessor;

/// A device handle.
pub type DevId = u32;

/// What kind of device a handle names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceKind {
    /// A secondary MMU (ODP): maps through the mm's interval notifier.
    Odp,
    /// VFIO type1 on a normal mapping: the IOMMU maps a long-term pinned page.
    VfioPinned,
    /// VFIO type1 on a `VM_PFNMAP` mapping: the IOMMU maps the pfn with no
    /// reference and no notifier.
    VfioPfn,
}

/// An IOMMU mapping of one pfn that holds nothing (`vfio_iommu_type1`'s
/// `vfio_dma` of a reserved pfn).
#[derive(Clone, Debug)]
pub(crate) struct IommuMapping {
    pub index: usize,
    pub folio: Arc<Folio>,
}

#[derive(Clone, Debug)]
pub(crate) enum Device {
    Odp(Arc<OdpMirror>),
    VfioPinned { pin: PinId },
    VfioPfn(IommuMapping),
}

impl Device {
    fn kind(&self) -> DeviceKind {
        match self {
            Device::Odp(_) => DeviceKind::Odp,
            Device::VfioPinned { .. } => DeviceKind::VfioPinned,
            Device::VfioPfn(_) => DeviceKind::VfioPfn,
        }
    }
}

impl GuestMemFd {
    pub(crate) fn add_device(&self, d: Device) -> DevId {
        let id = self.new_dev_id();
        lock(&self.devices).insert(id, d);
        id
    }

    pub(crate) fn device(&self, id: DevId) -> Result<Device> {
        lock(&self.devices)
            .get(&id)
            .cloned()
            .ok_or(Misuse::UnknownDevice(id).into())
    }

    /// The kind of device `id` names (`None`: no such device).
    pub fn device_kind(&self, id: DevId) -> Option<DeviceKind> {
        lock(&self.devices).get(&id).map(Device::kind)
    }

    /// Does device `id`'s page table (or IOMMU) map the page now? An ODP
    /// mapping goes when the notifier invalidates it; a VFIO mapping stays
    /// until `vfio_unmap_dma`.
    pub fn device_mapped(&self, id: DevId) -> Result<bool> {
        Ok(match self.device(id)? {
            Device::Odp(m) => m.mapped(),
            Device::VfioPinned { .. } | Device::VfioPfn(_) => true,
        })
    }

    /// The device DMAs to (`write`) or from its page. ODP: through its
    /// page table; a missing entry is a device page fault, which the driver
    /// resolves by mirroring the page again (-EFAULT if the host cannot map
    /// it, e.g. a private page). VFIO: through the IOMMU mapping, whatever
    /// happened to the file since (a pinned page is the pinner's access).
    pub fn device_access(&self, id: DevId, write: Option<u8>) -> Result<AccessOutcome> {
        self.begin_op();
        let r = self.device(id).and_then(|d| match d {
            Device::Odp(m) => self.odp_access(id, &m, write),
            Device::VfioPinned { pin } => self.pin_access_inner(pin, write),
            Device::VfioPfn(map) => Ok(self.dma(id, &map.folio, map.index, write)),
        });
        self.end_op();
        r
    }

    /// One DMA by device `id` to `folio`'s page `index`, recorded as a
    /// host access.
    pub(crate) fn dma(
        &self,
        id: DevId,
        folio: &Folio,
        index: usize,
        write: Option<u8>,
    ) -> AccessOutcome {
        self.record_access(
            Accessor::Device { device: id },
            folio,
            index,
            write.is_some(),
            None,
        );
        match write {
            Some(v) => {
                folio.write(index, v);
                AccessOutcome::Value(v)
            }
            None => AccessOutcome::Value(folio.read(index)),
        }
    }

    /// Devices registered now (for the metadata accounting).
    pub(crate) fn nr_devices(&self) -> usize {
        lock(&self.devices).len()
    }
}
