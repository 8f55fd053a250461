//! Renaming the indices a state carries: file pages, folio slots, gigantic
//! pages, processes, GUP users, VMs and the thread ids derived from them.
//!
//! [`relabel`] is the one function that knows every field of [`State`]
//! that holds such an index. It destructures every struct and matches
//! every enum without wildcards (as `state.rs`'s packing does), so a new
//! field or variant does not compile until it is placed here: either
//! renamed, or named as carrying no index.

use crate::coded::Coded;
use crate::config::{MAX_CONVERTERS, MAX_PAGES, MAX_PINNERS, MAX_PROCS};
use crate::state::*;
use invariants::{Accessor, ConvResult, MAX_VMS};

/// Thread ids (`Actor::tid`) are below this.
pub const MAX_TIDS: usize = 16;

/// One renaming per kind of index: entry `x` is the new name of `x`. Each
/// is a permutation of its range; [`relabel`] trusts that.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Maps {
    pub pages: [u8; MAX_PAGES],
    pub slots: [u8; MAX_FOLIOS],
    pub gigantic: [u8; 2],
    pub procs: [u8; MAX_PROCS],
    pub pinners: [u8; MAX_PINNERS],
    pub vms: [u8; MAX_VMS],
    /// Converter threads (`State::conv`).
    pub convs: [u8; MAX_CONVERTERS],
    /// Derived from `procs`, `pinners`, `vms` and `convs` (a lock
    /// holder's id).
    pub tids: [u8; MAX_TIDS],
}

fn identity<const N: usize>() -> [u8; N] {
    std::array::from_fn(|i| i as u8)
}

impl Maps {
    pub fn identity() -> Maps {
        Maps {
            pages: identity(),
            slots: identity(),
            gigantic: identity(),
            procs: identity(),
            pinners: identity(),
            vms: identity(),
            convs: identity(),
            tids: identity(),
        }
    }

    fn page(&self, i: u8) -> u8 {
        self.pages[i as usize]
    }
    fn slot(&self, s: Slot) -> Slot {
        self.slots[s as usize]
    }
    fn gig(&self, g: u8) -> u8 {
        self.gigantic[g as usize]
    }
    fn tid(&self, t: u8) -> u8 {
        self.tids[t as usize]
    }
}

/// Renames the bits of a bitmask (bit `b` becomes bit `map[b]`); bits the
/// map does not cover stay where they are.
fn bits<T>(mask: T, map: &[u8]) -> T
where
    T: Copy + Into<u32> + TryFrom<u32>,
{
    let m: u32 = mask.into();
    let mut out = 0u32;
    for b in 0..32 {
        if m & (1 << b) != 0 {
            let to = map.get(b as usize).map_or(b, |&x| x as u32);
            out |= 1 << to;
        }
    }
    T::try_from(out).unwrap_or(mask)
}

fn fault(m: &Maps, f: FaultPc) -> FaultPc {
    match f {
        FaultPc::LockInv => FaultPc::LockInv,
        FaultPc::Lookup => FaultPc::Lookup,
        FaultPc::Install(s) => FaultPc::Install(m.slot(s)),
        FaultPc::InstallLocked(s) => FaultPc::InstallLocked(m.slot(s)),
        FaultPc::FreshSplit(g) => FaultPc::FreshSplit(m.gig(g)),
    }
}

fn result(m: &Maps, r: Option<ConvResult>) -> Option<ConvResult> {
    let page = |i: usize| m.page(i as u8) as usize;
    r.map(|r| match r {
        ConvResult::Eagain { error_index } => ConvResult::Eagain {
            error_index: page(error_index),
        },
        ConvResult::Enomem { error_index } => ConvResult::Enomem {
            error_index: page(error_index),
        },
        ConvResult::Ok
        | ConvResult::Einval
        | ConvResult::Timeout
        | ConvResult::Efault
        | ConvResult::Enotty => r,
    })
}

fn s2(m: &Maps, e: S2) -> S2 {
    match e {
        S2::None => S2::None,
        S2::Shared(s) => S2::Shared(m.slot(s)),
        S2::Private(s) => S2::Private(m.slot(s)),
    }
}

fn conv_pc(m: &Maps, pc: ConvPc) -> ConvPc {
    match pc {
        ConvPc::WaitMapped(i) => ConvPc::WaitMapped(m.page(i)),
        ConvPc::Check(i) => ConvPc::Check(m.page(i)),
        ConvPc::Drain(i) => ConvPc::Drain(m.page(i)),
        ConvPc::Wait(i) => ConvPc::Wait(m.page(i)),
        ConvPc::MergeFreeze(i) => ConvPc::MergeFreeze(m.page(i)),
        ConvPc::CopyOut(f) => ConvPc::CopyOut(fault(m, f)),
        ConvPc::Idle
        | ConvPc::Lock
        | ConvPc::Prealloc
        | ConvPc::Unmap
        | ConvPc::InvBegin
        | ConvPc::MakeShared
        | ConvPc::SplitFreeze
        | ConvPc::SplitDo
        | ConvPc::Flip
        | ConvPc::S2Split
        | ConvPc::MergeFold
        | ConvPc::InvEnd
        | ConvPc::ExclPin
        | ConvPc::Unexc
        | ConvPc::Done => pc,
    }
}

fn pin_pc(m: &Maps, pc: PinPc) -> PinPc {
    match pc {
        PinPc::FastTryAdd(s) => PinPc::FastTryAdd(m.slot(s)),
        PinPc::FastRecheck(s) => PinPc::FastRecheck(m.slot(s)),
        PinPc::FastRecheckEarly(s) => PinPc::FastRecheckEarly(m.slot(s)),
        PinPc::SlowFault(f) => PinPc::SlowFault(fault(m, f)),
        PinPc::ExclRecheck(s) => PinPc::ExclRecheck(m.slot(s)),
        PinPc::Held(s) => PinPc::Held(m.slot(s)),
        PinPc::Accessed(s) => PinPc::Accessed(m.slot(s)),
        PinPc::PfnMapped(s) => PinPc::PfnMapped(m.slot(s)),
        PinPc::PfnAccessed(s) => PinPc::PfnAccessed(m.slot(s)),
        PinPc::Idle
        | PinPc::FastReadPte
        | PinPc::SlowFollow
        | PinPc::Finished
        | PinPc::PfnFollow => pc,
    }
}

fn guest_pc(m: &Maps, pc: GuestPc) -> GuestPc {
    match pc {
        GuestPc::Install(s) => GuestPc::Install(m.slot(s)),
        GuestPc::FreshSplit(g) => GuestPc::FreshSplit(m.gig(g)),
        GuestPc::Idle | GuestPc::Snapshot | GuestPc::CheckAttr | GuestPc::GetPfn => pc,
    }
}

fn trunc_pc(m: &Maps, pc: TruncPc) -> TruncPc {
    match pc {
        TruncPc::Check(i) => TruncPc::Check(m.page(i)),
        TruncPc::Idle
        | TruncPc::Lock
        | TruncPc::InvBegin
        | TruncPc::Unmap
        | TruncPc::MergeFold
        | TruncPc::Truncate
        | TruncPc::ReleaseVm
        | TruncPc::InvEnd
        | TruncPc::Finished => pc,
    }
}

fn dev_pc(m: &Maps, pc: DevPc) -> DevPc {
    match pc {
        DevPc::Fault(f) => DevPc::Fault(fault(m, f)),
        DevPc::Map(s) => DevPc::Map(m.slot(s)),
        DevPc::Mapped(s) => DevPc::Mapped(m.slot(s)),
        DevPc::Idle | DevPc::ReadPte | DevPc::Finished => pc,
    }
}

fn accessor(m: &Maps, who: Accessor) -> Accessor {
    match who {
        Accessor::HostCpu { process } => Accessor::HostCpu {
            process: m.procs.get(process as usize).map_or(process, |&p| p as u32),
        },
        Accessor::GupHolder { holder } => Accessor::GupHolder {
            holder: m.pinners.get(holder as usize).map_or(holder, |&k| k as u32),
        },
        Accessor::Guest => Accessor::Guest,
        // Device 0 is the secondary MMU; device 1 + k is GUP user k's
        // IOMMU mapping (`actors::gup`, `PinPc::PfnMapped`).
        Accessor::Device { device: 0 } => Accessor::Device { device: 0 },
        Accessor::Device { device } => Accessor::Device {
            device: 1 + m
                .pinners
                .get(device as usize - 1)
                .map_or(device - 1, |&k| k as u32),
        },
    }
}

/// The state with every index renamed by `m`: page `i`'s contents move to
/// page `m.pages[i]`, folio slot `s`'s to slot `m.slots[s]`, and so on,
/// and every reference to an index is renamed the same way.
///
/// Converter thread `k`'s state moves to thread `m.convs[k]`, whose
/// requests are `k`'s renamed (`crate::symmetry::group::check`): its
/// request index `op` and the range-relative `before`/`after` bits stay,
/// and `batch`, the gigantic page of the current batch, is renamed once
/// the thread has left `Idle` (`begin_attempt` sets it; an idle thread's
/// is the default 0, which names nothing). Not renamed: a freed folio's `index`: `mm::free` resets it to 0 and
/// no step or property reads it (`host_access_only_hw_shared` reads a
/// freed folio's `hw_private` only under BUG no_reclaim_on_free, where the
/// group renames no page).
pub fn relabel(st: &State, m: &Maps) -> State {
    let State {
        nr_pages,
        pages,
        folios,
        gigantic,
        invalidate_lock,
        closed,
        conv,
        procs,
        pinners,
        guests,
        bound,
        trunc,
        populate,
        spec,
        mf,
        dev,
        last_access,
    } = st;

    let mut new_pages = [Page::default(); MAX_PAGES];
    for (i, p) in pages.iter().enumerate() {
        let Page {
            private,
            folio,
            ptes,
            s2: entries,
            s2_huge,
        } = *p;
        let mut e = [Coded::new(S2::None); MAX_VMS];
        for (v, x) in entries.iter().enumerate() {
            e[m.vms[v] as usize].set(s2(m, x.get()));
        }
        new_pages[m.pages[i] as usize] = Page {
            private,
            folio: folio.get().map(|s| m.slot(s)).into(),
            ptes: bits(ptes, &m.procs),
            s2: e,
            s2_huge: bits(s2_huge, &m.vms),
        };
    }

    let mut new_folios = [Folio::default(); MAX_FOLIOS];
    for (s, f) in folios.iter().enumerate() {
        let Folio {
            state,
            large,
            index,
            refcount,
            pincount,
            frozen,
            lru,
            hw_private,
            poisoned,
        } = *f;
        let index = match state {
            FolioState::PageCache | FolioState::Orphaned | FolioState::Gone => m.page(index),
            FolioState::Unused | FolioState::Freed => index,
        };
        new_folios[m.slots[s] as usize] = Folio {
            state,
            large,
            index,
            refcount,
            pincount,
            frozen,
            lru,
            hw_private,
            poisoned,
        };
    }

    let mut new_gigantic = *gigantic;
    for (g, x) in gigantic.iter().enumerate() {
        new_gigantic[m.gigantic[g] as usize] = *x;
    }

    let RwSem { writer, readers } = *invalidate_lock;
    let invalidate_lock = RwSem {
        writer: writer.get().map(|t| m.tid(t)).into(),
        readers: bits(readers, &m.tids),
    };

    let mut new_conv = *conv;
    for (k, c) in conv.iter().enumerate() {
        let Converter {
            op,
            pc,
            result: res,
            before,
            after,
            succeeded,
            drained,
            excl,
            batch,
            inv_open,
            enomem_seen,
        } = *c;
        new_conv[m.convs[k] as usize] = Converter {
            op,
            pc: conv_pc(m, pc.get()).into(),
            result: result(m, res.get()).into(),
            before,
            after,
            succeeded,
            drained,
            excl: excl.get().map(|s| m.slot(s)).into(),
            batch: if pc == ConvPc::Idle {
                batch
            } else {
                m.gig(batch)
            },
            inv_open,
            enomem_seen,
        };
    }

    let mut new_procs = *procs;
    for (p, x) in procs.iter().enumerate() {
        let Proc { op, pc } = *x;
        let pc = match pc.get() {
            ProcPc::Idle => ProcPc::Idle,
            ProcPc::Fault(f) => ProcPc::Fault(fault(m, f)),
        };
        new_procs[m.procs[p] as usize] = Proc { op, pc: pc.into() };
    }

    let mut new_pinners = *pinners;
    for (k, x) in pinners.iter().enumerate() {
        let Pinner { pc } = *x;
        new_pinners[m.pinners[k] as usize] = Pinner {
            pc: pin_pc(m, pc.get()).into(),
        };
    }

    let mut new_guests = *guests;
    for (v, x) in guests.iter().enumerate() {
        let Guest { op, pc, seq_stale } = *x;
        new_guests[m.vms[v] as usize] = Guest {
            op,
            pc: guest_pc(m, pc.get()).into(),
            seq_stale,
        };
    }

    let Truncator { pc, result: res } = *trunc;
    let trunc = Truncator {
        pc: trunc_pc(m, pc.get()).into(),
        result: result(m, res.get()).into(),
    };

    let Populate {
        pc,
        src,
        holds_lock,
    } = *populate;
    let populate = Populate {
        pc: match pc.get() {
            PopPc::SrcFault(f) => PopPc::SrcFault(fault(m, f)),
            x @ (PopPc::Idle | PopPc::SrcGup | PopPc::Lock | PopPc::Copy | PopPc::Finished) => x,
        }
        .into(),
        src: src.get().map(|s| m.slot(s)).into(),
        holds_lock,
    };

    let spec = match spec.get() {
        SpecPc::Held(s) => SpecPc::Held(m.slot(s)),
        x @ (SpecPc::Idle | SpecPc::Finished) => x,
    }
    .into();
    let mf = match mf.get() {
        MfPc::ErrorFolio(s) => MfPc::ErrorFolio(m.slot(s)),
        x @ (MfPc::Idle | MfPc::Finished) => x,
    }
    .into();
    let Device { pc, seq_stale } = *dev;
    let dev = Device {
        pc: dev_pc(m, pc.get()).into(),
        seq_stale,
    };
    let last_access = last_access.get().map(|a| {
        let LastAccess {
            who,
            folio,
            index,
            write,
            guest_type,
        } = a;
        LastAccess {
            who: accessor(m, who),
            folio: m.slot(folio),
            index: m.page(index),
            write,
            guest_type,
        }
    });

    State {
        nr_pages: *nr_pages,
        pages: new_pages,
        folios: new_folios,
        gigantic: new_gigantic,
        invalidate_lock,
        closed: *closed,
        conv: new_conv,
        procs: new_procs,
        pinners: new_pinners,
        guests: new_guests,
        bound: bits(*bound, &m.vms),
        trunc,
        populate,
        spec,
        mf,
        dev,
        last_access: last_access.into(),
    }
}

/// Calls `f` on every folio slot the state refers to, in an order fixed by
/// position (page by page, then actor by actor), never by slot number:
/// [`crate::symmetry::slots`] names slots by where they first appear here.
pub fn slot_refs(st: &State, f: &mut impl FnMut(Slot)) {
    let State {
        nr_pages,
        pages,
        folios: _,
        gigantic: _,
        invalidate_lock: _,
        closed: _,
        conv,
        procs,
        pinners,
        guests,
        bound: _,
        trunc: _,
        populate,
        spec,
        mf,
        dev,
        last_access,
    } = st;
    let fault_slot = |fp: FaultPc| match fp {
        FaultPc::Install(s) | FaultPc::InstallLocked(s) => Some(s),
        FaultPc::LockInv | FaultPc::Lookup | FaultPc::FreshSplit(_) => None,
    };
    let e2 = |e: S2| match e {
        S2::None => None,
        S2::Shared(s) | S2::Private(s) => Some(s),
    };
    for p in pages.iter().take(*nr_pages as usize) {
        p.folio.get().into_iter().for_each(&mut *f);
        p.s2.iter().filter_map(|e| e2(e.get())).for_each(&mut *f);
    }
    for c in conv {
        c.excl.get().into_iter().for_each(&mut *f);
        if let ConvPc::CopyOut(fp) = c.pc.get() {
            fault_slot(fp).into_iter().for_each(&mut *f);
        }
    }
    for p in procs {
        if let ProcPc::Fault(fp) = p.pc.get() {
            fault_slot(fp).into_iter().for_each(&mut *f);
        }
    }
    for p in pinners {
        let s = match p.pc.get() {
            PinPc::FastTryAdd(s)
            | PinPc::FastRecheck(s)
            | PinPc::FastRecheckEarly(s)
            | PinPc::ExclRecheck(s)
            | PinPc::Held(s)
            | PinPc::Accessed(s)
            | PinPc::PfnMapped(s)
            | PinPc::PfnAccessed(s) => Some(s),
            PinPc::SlowFault(fp) => fault_slot(fp),
            PinPc::Idle
            | PinPc::FastReadPte
            | PinPc::SlowFollow
            | PinPc::Finished
            | PinPc::PfnFollow => None,
        };
        s.into_iter().for_each(&mut *f);
    }
    for g in guests {
        if let GuestPc::Install(s) = g.pc.get() {
            f(s);
        }
    }
    if let PopPc::SrcFault(fp) = populate.pc.get() {
        fault_slot(fp).into_iter().for_each(&mut *f);
    }
    populate.src.get().into_iter().for_each(&mut *f);
    if let SpecPc::Held(s) = spec.get() {
        f(s);
    }
    if let MfPc::ErrorFolio(s) = mf.get() {
        f(s);
    }
    let d = match dev.pc.get() {
        DevPc::Fault(fp) => fault_slot(fp),
        DevPc::Map(s) | DevPc::Mapped(s) => Some(s),
        DevPc::Idle | DevPc::ReadPte | DevPc::Finished => None,
    };
    d.into_iter().for_each(&mut *f);
    if let Some(a) = last_access.get() {
        f(a.folio);
    }
}
