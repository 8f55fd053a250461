//! Program counters and the state's other small enums, stored as their
//! codes: two bytes for most, `(tag, argument)`.
//!
//! An actor's program counter is an enum with a payload (`PinPc::Held(slot)`,
//! `ConvPc::CopyOut(FaultPc::Install(slot))`), as are a page's folio slot
//! (`Option<Slot>`), its stage-2 entries, a request's result and the last
//! memory access. Stored as such, their bytes are not canonical: a variant
//! without a payload leaves the payload bytes undefined, so the state could
//! not be hashed or compared as bytes. Stored as a `Coded` they are plain
//! bytes, which the fingerprint reads where they lie (`State`'s `Hash`); an
//! actor reads one with [`Coded::get`] and writes it with [`Coded::set`],
//! and matches on the enum as before. (A method that mutates an `Option`
//! in place, such as `take()`, would act on the decoded copy: read with
//! `get()`, then `set()`.)

use crate::state::*;
use invariants::{Accessor, Attr, ConvResult, Structure};
use std::fmt;
use std::marker::PhantomData;
use zerocopy::{Immutable, IntoBytes};

/// A small enum with an injective encoding in `N` bytes.
pub trait Code<const N: usize = 2>: Copy + Default {
    fn encode(self) -> [u8; N];
    /// The inverse of [`Code::encode`] on its image; any other code (none
    /// is ever stored) decodes to the default.
    fn decode(code: [u8; N]) -> Self;
}

/// A `T` stored as its code: `N` bytes, every one defined, so a state made
/// of codes and plain integers can be read as bytes (`zerocopy::IntoBytes`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, IntoBytes, Immutable)]
#[repr(transparent)]
pub struct Coded<T, const N: usize = 2> {
    code: [u8; N],
    _of: PhantomData<T>,
}

impl<T: Code<N>, const N: usize> Coded<T, N> {
    #[inline(always)]
    pub fn new(v: T) -> Self {
        Coded {
            code: v.encode(),
            _of: PhantomData,
        }
    }
    #[inline(always)]
    pub fn get(self) -> T {
        T::decode(self.code)
    }
    #[inline(always)]
    pub fn set(&mut self, v: T) {
        self.code = v.encode();
    }
    /// The code itself: `(tag, argument)` for the two-byte codes.
    #[inline(always)]
    pub fn bytes(self) -> [u8; N] {
        self.code
    }
}

impl<T: Code<N>, const N: usize> Default for Coded<T, N> {
    fn default() -> Self {
        Coded::new(T::default())
    }
}

impl<T: Code<N>, const N: usize> From<T> for Coded<T, N> {
    fn from(v: T) -> Self {
        Coded::new(v)
    }
}

/// Compares codes: the encoding is injective.
impl<T: Code<N>, const N: usize> PartialEq<T> for Coded<T, N> {
    #[inline(always)]
    fn eq(&self, other: &T) -> bool {
        self.code == other.encode()
    }
}

impl<T: Code<N> + fmt::Debug, const N: usize> fmt::Debug for Coded<T, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.get().fmt(f)
    }
}

/// A gigantic page's structure (`Gigantic::structure`).
impl Code for Structure {
    #[inline(always)]
    fn encode(self) -> [u8; 2] {
        match self {
            Structure::Whole => [0, 0],
            Structure::Split => [1, 0],
            Structure::Splitting => [2, 0],
            Structure::Merging => [3, 0],
        }
    }
    #[inline(always)]
    fn decode([t, _]: [u8; 2]) -> Self {
        match t {
            1 => Structure::Split,
            2 => Structure::Splitting,
            3 => Structure::Merging,
            _ => Structure::Whole,
        }
    }
}

/// The memory access of the last step, if any (`State::last_access`), in
/// six bytes: who (tag 1 to 4; 0 for none) and which of them, the folio,
/// the index, write, and the type the guest accessed it as. An accessor's
/// number is a process, GUP user or device index, below `MAX_PROCS`,
/// `MAX_PINNERS` and 1.
impl Code<6> for Option<LastAccess> {
    #[inline(always)]
    fn encode(self) -> [u8; 6] {
        let Some(LastAccess {
            who,
            folio,
            index,
            write,
            guest_type,
        }) = self
        else {
            return [0; 6];
        };
        let id = |n: u32| {
            debug_assert!(n <= u8::MAX as u32, "accessor {n} beyond a byte");
            n as u8
        };
        let (w, n) = match who {
            Accessor::HostCpu { process } => (1, id(process)),
            Accessor::GupHolder { holder } => (2, id(holder)),
            Accessor::Guest => (3, 0),
            Accessor::Device { device } => (4, id(device)),
        };
        let gt = match guest_type {
            None => 0,
            Some(Attr::Shared) => 1,
            Some(Attr::Private) => 2,
        };
        [w, n, folio, index, write as u8, gt]
    }
    #[inline(always)]
    fn decode([w, n, folio, index, write, gt]: [u8; 6]) -> Self {
        let n = n as u32;
        let who = match w {
            1 => Accessor::HostCpu { process: n },
            2 => Accessor::GupHolder { holder: n },
            3 => Accessor::Guest,
            4 => Accessor::Device { device: n },
            _ => return None,
        };
        let guest_type = match gt {
            1 => Some(Attr::Shared),
            2 => Some(Attr::Private),
            _ => None,
        };
        Some(LastAccess {
            who,
            folio,
            index,
            write: write != 0,
            guest_type,
        })
    }
}

/// A folio slot or none (`Page::folio`, a converter's exclusive pin,
/// populate's source), or the invalidate lock's writer.
impl Code for Option<Slot> {
    #[inline(always)]
    fn encode(self) -> [u8; 2] {
        match self {
            None => [0, 0],
            Some(s) => [1, s],
        }
    }
    #[inline(always)]
    fn decode([t, a]: [u8; 2]) -> Self {
        (t == 1).then_some(a)
    }
}

/// A converter's or the truncator's result. `error_index` is a page index
/// of the file (at most `MAX_PAGES`), so one byte holds it.
impl Code for Option<ConvResult> {
    #[inline(always)]
    fn encode(self) -> [u8; 2] {
        let index = |i: usize| {
            debug_assert!(i <= u8::MAX as usize, "error_index {i} beyond a byte");
            i as u8
        };
        match self {
            None => [0, 0],
            Some(ConvResult::Ok) => [1, 0],
            Some(ConvResult::Eagain { error_index }) => [2, index(error_index)],
            Some(ConvResult::Einval) => [3, 0],
            Some(ConvResult::Timeout) => [4, 0],
            Some(ConvResult::Enomem { error_index }) => [5, index(error_index)],
            Some(ConvResult::Efault) => [6, 0],
            Some(ConvResult::Enotty) => [7, 0],
        }
    }
    #[inline(always)]
    fn decode([t, a]: [u8; 2]) -> Self {
        let error_index = a as usize;
        Some(match t {
            1 => ConvResult::Ok,
            2 => ConvResult::Eagain { error_index },
            3 => ConvResult::Einval,
            4 => ConvResult::Timeout,
            5 => ConvResult::Enomem { error_index },
            6 => ConvResult::Efault,
            7 => ConvResult::Enotty,
            _ => return None,
        })
    }
}

/// A stage-2 entry, `Page::s2`.
impl Code for S2 {
    #[inline(always)]
    fn encode(self) -> [u8; 2] {
        match self {
            S2::None => [0, 0],
            S2::Shared(s) => [1, s],
            S2::Private(s) => [2, s],
        }
    }
    #[inline(always)]
    fn decode([t, a]: [u8; 2]) -> Self {
        match t {
            1 => S2::Shared(a),
            2 => S2::Private(a),
            _ => S2::None,
        }
    }
}

impl Code for FaultPc {
    #[inline(always)]
    fn encode(self) -> [u8; 2] {
        match self {
            FaultPc::LockInv => [0, 0],
            FaultPc::Lookup => [1, 0],
            FaultPc::Install(s) => [2, s],
            FaultPc::InstallLocked(s) => [3, s],
            FaultPc::FreshSplit(g) => [4, g],
        }
    }
    #[inline(always)]
    fn decode([t, a]: [u8; 2]) -> Self {
        match t {
            1 => FaultPc::Lookup,
            2 => FaultPc::Install(a),
            3 => FaultPc::InstallLocked(a),
            4 => FaultPc::FreshSplit(a),
            _ => FaultPc::LockInv,
        }
    }
}

/// A fault nested in another program counter at tags `base..base + 5`.
#[inline(always)]
fn fault_at(base: u8, fp: FaultPc) -> [u8; 2] {
    let [t, a] = fp.encode();
    [base + t, a]
}

#[inline(always)]
fn fault_of(base: u8, [t, a]: [u8; 2]) -> FaultPc {
    FaultPc::decode([t - base, a])
}

impl Code for ConvPc {
    #[inline(always)]
    fn encode(self) -> [u8; 2] {
        match self {
            ConvPc::Idle => [0, 0],
            ConvPc::Lock => [1, 0],
            ConvPc::WaitMapped(i) => [2, i],
            ConvPc::Unmap => [3, 0],
            ConvPc::Check(i) => [4, i],
            ConvPc::Drain(i) => [5, i],
            ConvPc::Wait(i) => [6, i],
            ConvPc::InvBegin => [7, 0],
            ConvPc::SplitFreeze => [8, 0],
            ConvPc::SplitDo => [9, 0],
            ConvPc::Flip => [10, 0],
            ConvPc::MergeFreeze(i) => [11, i],
            ConvPc::MergeFold => [12, 0],
            ConvPc::InvEnd => [13, 0],
            ConvPc::ExclPin => [14, 0],
            ConvPc::Unexc => [15, 0],
            ConvPc::Done => [16, 0],
            ConvPc::Prealloc => [17, 0],
            ConvPc::MakeShared => [18, 0],
            ConvPc::CopyOut(fp) => fault_at(19, fp),
            ConvPc::S2Split => [24, 0],
        }
    }
    #[inline(always)]
    fn decode(c: [u8; 2]) -> Self {
        let a = c[1];
        match c[0] {
            1 => ConvPc::Lock,
            2 => ConvPc::WaitMapped(a),
            3 => ConvPc::Unmap,
            4 => ConvPc::Check(a),
            5 => ConvPc::Drain(a),
            6 => ConvPc::Wait(a),
            7 => ConvPc::InvBegin,
            8 => ConvPc::SplitFreeze,
            9 => ConvPc::SplitDo,
            10 => ConvPc::Flip,
            11 => ConvPc::MergeFreeze(a),
            12 => ConvPc::MergeFold,
            13 => ConvPc::InvEnd,
            14 => ConvPc::ExclPin,
            15 => ConvPc::Unexc,
            16 => ConvPc::Done,
            17 => ConvPc::Prealloc,
            18 => ConvPc::MakeShared,
            19..=23 => ConvPc::CopyOut(fault_of(19, c)),
            24 => ConvPc::S2Split,
            _ => ConvPc::Idle,
        }
    }
}

impl Code for ProcPc {
    #[inline(always)]
    fn encode(self) -> [u8; 2] {
        match self {
            ProcPc::Idle => [0, 0],
            ProcPc::Fault(fp) => fault_at(1, fp),
        }
    }
    #[inline(always)]
    fn decode(c: [u8; 2]) -> Self {
        match c[0] {
            1..=5 => ProcPc::Fault(fault_of(1, c)),
            _ => ProcPc::Idle,
        }
    }
}

impl Code for PinPc {
    #[inline(always)]
    fn encode(self) -> [u8; 2] {
        match self {
            PinPc::Idle => [0, 0],
            PinPc::FastReadPte => [1, 0],
            PinPc::FastTryAdd(s) => [2, s],
            PinPc::FastRecheck(s) => [3, s],
            PinPc::SlowFollow => [4, 0],
            // Faults at 5..=8, FreshSplit at 14 + 4 = 18 (tags 9..=17 were
            // taken when it was added).
            PinPc::SlowFault(fp) => {
                let [t, a] = fp.encode();
                [if t < 4 { 5 + t } else { 14 + t }, a]
            }
            PinPc::ExclRecheck(s) => [9, s],
            PinPc::Held(s) => [10, s],
            PinPc::Accessed(s) => [11, s],
            PinPc::Finished => [12, 0],
            PinPc::FastRecheckEarly(s) => [13, s],
            PinPc::PfnFollow => [14, 0],
            PinPc::PfnMapped(s) => [15, s],
            PinPc::PfnAccessed(s) => [16, s],
        }
    }
    #[inline(always)]
    fn decode(c: [u8; 2]) -> Self {
        let a = c[1];
        match c[0] {
            1 => PinPc::FastReadPte,
            2 => PinPc::FastTryAdd(a),
            3 => PinPc::FastRecheck(a),
            4 => PinPc::SlowFollow,
            5..=8 => PinPc::SlowFault(fault_of(5, c)),
            18 => PinPc::SlowFault(FaultPc::decode([4, a])),
            9 => PinPc::ExclRecheck(a),
            10 => PinPc::Held(a),
            11 => PinPc::Accessed(a),
            12 => PinPc::Finished,
            13 => PinPc::FastRecheckEarly(a),
            14 => PinPc::PfnFollow,
            15 => PinPc::PfnMapped(a),
            16 => PinPc::PfnAccessed(a),
            _ => PinPc::Idle,
        }
    }
}

impl Code for GuestPc {
    #[inline(always)]
    fn encode(self) -> [u8; 2] {
        match self {
            GuestPc::Idle => [0, 0],
            GuestPc::Snapshot => [1, 0],
            GuestPc::CheckAttr => [2, 0],
            GuestPc::GetPfn => [3, 0],
            GuestPc::Install(s) => [4, s],
            GuestPc::FreshSplit(g) => [5, g],
        }
    }
    #[inline(always)]
    fn decode([t, a]: [u8; 2]) -> Self {
        match t {
            1 => GuestPc::Snapshot,
            2 => GuestPc::CheckAttr,
            3 => GuestPc::GetPfn,
            4 => GuestPc::Install(a),
            5 => GuestPc::FreshSplit(a),
            _ => GuestPc::Idle,
        }
    }
}

impl Code for TruncPc {
    #[inline(always)]
    fn encode(self) -> [u8; 2] {
        match self {
            TruncPc::Idle => [0, 0],
            TruncPc::Lock => [1, 0],
            TruncPc::InvBegin => [2, 0],
            TruncPc::Unmap => [3, 0],
            TruncPc::Check(i) => [4, i],
            TruncPc::MergeFold => [5, 0],
            TruncPc::Truncate => [6, 0],
            TruncPc::InvEnd => [7, 0],
            TruncPc::Finished => [8, 0],
            TruncPc::ReleaseVm => [9, 0],
        }
    }
    #[inline(always)]
    fn decode([t, a]: [u8; 2]) -> Self {
        match t {
            1 => TruncPc::Lock,
            2 => TruncPc::InvBegin,
            3 => TruncPc::Unmap,
            4 => TruncPc::Check(a),
            5 => TruncPc::MergeFold,
            6 => TruncPc::Truncate,
            7 => TruncPc::InvEnd,
            8 => TruncPc::Finished,
            9 => TruncPc::ReleaseVm,
            _ => TruncPc::Idle,
        }
    }
}

impl Code for PopPc {
    #[inline(always)]
    fn encode(self) -> [u8; 2] {
        match self {
            PopPc::Idle => [0, 0],
            PopPc::SrcGup => [1, 0],
            PopPc::SrcFault(fp) => fault_at(2, fp),
            PopPc::Lock => [7, 0],
            PopPc::Copy => [8, 0],
            PopPc::Finished => [9, 0],
        }
    }
    #[inline(always)]
    fn decode(c: [u8; 2]) -> Self {
        match c[0] {
            1 => PopPc::SrcGup,
            2..=6 => PopPc::SrcFault(fault_of(2, c)),
            7 => PopPc::Lock,
            8 => PopPc::Copy,
            9 => PopPc::Finished,
            _ => PopPc::Idle,
        }
    }
}

impl Code for SpecPc {
    #[inline(always)]
    fn encode(self) -> [u8; 2] {
        match self {
            SpecPc::Idle => [0, 0],
            SpecPc::Held(s) => [1, s],
            SpecPc::Finished => [2, 0],
        }
    }
    #[inline(always)]
    fn decode([t, a]: [u8; 2]) -> Self {
        match t {
            1 => SpecPc::Held(a),
            2 => SpecPc::Finished,
            _ => SpecPc::Idle,
        }
    }
}

impl Code for MfPc {
    #[inline(always)]
    fn encode(self) -> [u8; 2] {
        match self {
            MfPc::Idle => [0, 0],
            MfPc::ErrorFolio(s) => [1, s],
            MfPc::Finished => [2, 0],
        }
    }
    #[inline(always)]
    fn decode([t, a]: [u8; 2]) -> Self {
        match t {
            1 => MfPc::ErrorFolio(a),
            2 => MfPc::Finished,
            _ => MfPc::Idle,
        }
    }
}

impl Code for DevPc {
    #[inline(always)]
    fn encode(self) -> [u8; 2] {
        match self {
            DevPc::Idle => [0, 0],
            DevPc::ReadPte => [1, 0],
            // The fault's first four steps at 2..=5; its FreshSplit at 9
            // (6 is Map's: the hash encoding before the codes put both at
            // 6, so those two states shared a fingerprint).
            DevPc::Fault(fp) => {
                let [t, a] = fp.encode();
                [if t < 4 { 2 + t } else { 5 + t }, a]
            }
            DevPc::Map(s) => [6, s],
            DevPc::Mapped(s) => [7, s],
            DevPc::Finished => [8, 0],
        }
    }
    #[inline(always)]
    fn decode(c: [u8; 2]) -> Self {
        let a = c[1];
        match c[0] {
            1 => DevPc::ReadPte,
            2..=5 => DevPc::Fault(fault_of(2, c)),
            9 => DevPc::Fault(FaultPc::decode([4, a])),
            6 => DevPc::Map(a),
            7 => DevPc::Mapped(a),
            8 => DevPc::Finished,
            _ => DevPc::Idle,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    /// Every value of `T` in `all` survives the round trip through its
    /// code, and no two share one (a shared code would make two states
    /// one: the actor would read back the other program counter).
    fn injective<T: Code<N> + PartialEq + fmt::Debug, const N: usize>(all: Vec<T>) {
        let mut seen = HashSet::new();
        for &x in &all {
            assert_eq!(T::decode(x.encode()), x, "{x:?} as {:?}", x.encode());
            assert!(seen.insert(x.encode()), "{x:?} shares {:?}", x.encode());
        }
        assert_eq!(T::decode(T::default().encode()), T::default());
    }

    fn args() -> impl Iterator<Item = u8> + Clone {
        0..=u8::MAX
    }

    fn faults() -> Vec<FaultPc> {
        let mut v = vec![FaultPc::LockInv, FaultPc::Lookup];
        for a in args() {
            v.extend([
                FaultPc::Install(a),
                FaultPc::InstallLocked(a),
                FaultPc::FreshSplit(a),
            ]);
        }
        v
    }

    #[test]
    fn every_program_counter_has_its_own_code() {
        let mut slots = vec![None];
        slots.extend(args().map(Some));
        injective(slots);
        let mut s2 = vec![S2::None];
        for a in args() {
            s2.extend([S2::Shared(a), S2::Private(a)]);
        }
        injective(s2);
        let mut results = vec![
            None,
            Some(ConvResult::Ok),
            Some(ConvResult::Einval),
            Some(ConvResult::Timeout),
            Some(ConvResult::Efault),
            Some(ConvResult::Enotty),
        ];
        for error_index in args().map(usize::from) {
            results.extend([
                Some(ConvResult::Eagain { error_index }),
                Some(ConvResult::Enomem { error_index }),
            ]);
        }
        injective(results);
        injective(faults());
        let mut conv = vec![
            ConvPc::Idle,
            ConvPc::Lock,
            ConvPc::Prealloc,
            ConvPc::Unmap,
            ConvPc::InvBegin,
            ConvPc::MakeShared,
            ConvPc::SplitFreeze,
            ConvPc::SplitDo,
            ConvPc::Flip,
            ConvPc::S2Split,
            ConvPc::MergeFold,
            ConvPc::InvEnd,
            ConvPc::ExclPin,
            ConvPc::Unexc,
            ConvPc::Done,
        ];
        for a in args() {
            conv.extend([
                ConvPc::WaitMapped(a),
                ConvPc::Check(a),
                ConvPc::Drain(a),
                ConvPc::Wait(a),
                ConvPc::MergeFreeze(a),
            ]);
        }
        conv.extend(faults().into_iter().map(ConvPc::CopyOut));
        injective(conv);

        let mut procs = vec![ProcPc::Idle];
        procs.extend(faults().into_iter().map(ProcPc::Fault));
        injective(procs);

        let mut pins = vec![
            PinPc::Idle,
            PinPc::FastReadPte,
            PinPc::SlowFollow,
            PinPc::Finished,
            PinPc::PfnFollow,
        ];
        for a in args() {
            pins.extend([
                PinPc::FastTryAdd(a),
                PinPc::FastRecheck(a),
                PinPc::FastRecheckEarly(a),
                PinPc::ExclRecheck(a),
                PinPc::Held(a),
                PinPc::Accessed(a),
                PinPc::PfnMapped(a),
                PinPc::PfnAccessed(a),
            ]);
        }
        pins.extend(faults().into_iter().map(PinPc::SlowFault));
        injective(pins);

        let mut guests = vec![
            GuestPc::Idle,
            GuestPc::Snapshot,
            GuestPc::CheckAttr,
            GuestPc::GetPfn,
        ];
        for a in args() {
            guests.extend([GuestPc::Install(a), GuestPc::FreshSplit(a)]);
        }
        injective(guests);

        let mut trunc = vec![
            TruncPc::Idle,
            TruncPc::Lock,
            TruncPc::InvBegin,
            TruncPc::Unmap,
            TruncPc::MergeFold,
            TruncPc::Truncate,
            TruncPc::ReleaseVm,
            TruncPc::InvEnd,
            TruncPc::Finished,
        ];
        trunc.extend(args().map(TruncPc::Check));
        injective(trunc);

        let mut pop = vec![
            PopPc::Idle,
            PopPc::SrcGup,
            PopPc::Lock,
            PopPc::Copy,
            PopPc::Finished,
        ];
        pop.extend(faults().into_iter().map(PopPc::SrcFault));
        injective(pop);

        let mut spec = vec![SpecPc::Idle, SpecPc::Finished];
        spec.extend(args().map(SpecPc::Held));
        injective(spec);

        let mut mf = vec![MfPc::Idle, MfPc::Finished];
        mf.extend(args().map(MfPc::ErrorFolio));
        injective(mf);

        let mut dev = vec![DevPc::Idle, DevPc::ReadPte, DevPc::Finished];
        for a in args() {
            dev.extend([DevPc::Map(a), DevPc::Mapped(a)]);
        }
        dev.extend(faults().into_iter().map(DevPc::Fault));
        injective(dev);

        injective(vec![
            Structure::Whole,
            Structure::Split,
            Structure::Splitting,
            Structure::Merging,
        ]);
    }

    /// Every last access an actor can record (accessor numbers and
    /// slots of a byte) has a code of its own.
    #[test]
    fn every_last_access_has_its_own_code() {
        let mut all = vec![None];
        let small = [0u8, 1, 2, 7, 16, u8::MAX];
        let n = [0u32, 1, 2, u8::MAX as u32];
        let mut who = vec![Accessor::Guest];
        for &k in &n {
            who.extend([
                Accessor::HostCpu { process: k },
                Accessor::GupHolder { holder: k },
                Accessor::Device { device: k },
            ]);
        }
        for &w in &who {
            for &folio in &small {
                for &index in &small {
                    for write in [false, true] {
                        for guest_type in [None, Some(Attr::Shared), Some(Attr::Private)] {
                            all.push(Some(LastAccess {
                                who: w,
                                folio,
                                index,
                                write,
                                guest_type,
                            }));
                        }
                    }
                }
            }
        }
        injective(all);
    }
}
