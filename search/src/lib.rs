//! A fast exhaustive safety/sanity search over any [`stateright::Model`].
//!
//! It explores the reachable states of a model depth-first, evaluates every
//! `always` property (a violation is a discovery) and every `sometimes`
//! property (an example is a discovery) on every state it visits, and
//! reports the same counts as Stateright 0.31's `spawn_dfs`:
//!
//! - **generated** (`state_count`): the initial states within the boundary,
//!   plus one for every successor (`next_state` returned `Some`) within the
//!   boundary of every state expanded, whether new or already visited.
//!   Successors outside `within_boundary` are not counted, nor visited.
//! - **unique** (`unique_state_count`): distinct fingerprints inserted.
//! - **max depth**: the deepest state expanded (initial states are depth 1).
//!
//! What makes it faster than `spawn_dfs` on small fixed-size states:
//!
//! - the visited set is an open-addressing table of 64-bit fingerprints, and
//!   each generated state costs ONE lookup (`insert` returning whether it
//!   was new);
//! - the fingerprint hands the state's `Hash` bytes to ahash in bulk (small
//!   writes are buffered, large ones go straight through; see
//!   [`Fingerprinter`]) instead of one mixing round per field; `model::State`
//!   hands over its own bytes in one write;
//! - the successors of a state are generated first, each one's table slot
//!   prefetched (`_mm_prefetch` on x86_64, nothing elsewhere), and looked up
//!   after the last is generated, so the slots load while the model works
//!   (one thread and several);
//! - a successor is built where it will wait: in a slot on top of the
//!   stack, holding a copy of the state being expanded, which the model
//!   steps in place ([`InPlace::next_state_in_place`]); one that turns out
//!   visited is marked dead where it lies and skipped when popped, so a
//!   generated state is copied once and never moved;
//! - the properties of a state are evaluated in one call
//!   ([`InPlace::evaluate`]), so a model can share the work they have in
//!   common (`model::GmemModel` builds each page's and folio's view once);
//! - a pending state carries its depth and the index of the action that
//!   produced it, not a copy of its whole path: the path of the state being
//!   expanded is kept once per worker thread;
//! - with one thread the set is a plain table (no atomics, no locks); with
//!   more it is the same table in atomics, inserted into by compare-exchange
//!   under a read lock that each worker holds across many inserts.
//!
//! **Fingerprints are 64 bits** by default, as in Stateright. Two distinct
//! states with the same fingerprint would make the second look visited and
//! hide its successors. Every [`Outcome`] says how likely that was
//! ([`FingerprintRisk`]: the bound n·m/2^b over n distinct and m generated
//! states, and TLC's optimistic n²/2^(b+1)); [`Options::fingerprints`]
//! selects 128-bit fingerprints or exact storage of full states when the
//! risk is not negligible.
//!
//! A search ends when the graph is exhausted, when every property has a
//! discovery (as Stateright's default `finish_when(HasDiscoveries::All)`;
//! the counts are then partial, the verdicts final), or when a bound stops
//! it: `max_states` (generated states, like `target_state_count`) or
//! `timeout`. A bounded search that stopped with work left is
//! [`End::MaxStates`] / [`End::Timeout`], never [`End::Exhausted`].
//!
//! **Symmetry reduction** ([`run_reduced`]): given a map from a state to
//! the representative of its orbit under a symmetry group of the model
//! (every state it returns must be a renaming of its argument that the
//! model and its properties cannot tell apart), the search stores and
//! expands representatives only: every initial state and every successor
//! is mapped before it is fingerprinted. Properties are evaluated on the
//! representatives, which is sound when they are invariant under the
//! group. A discovered path of representatives is turned back into a real
//! path from the real initial state (at each step, the first action, in
//! `actions()` order, whose successor has the next representative), so
//! every [`Discovery`] is a path of the model itself; when no action fits,
//! or the real path does not end where the property is discovered, the map
//! is not a symmetry and the run fails ([`Error::NotSymmetric`]).
//! The counts are then of representatives.
//!
//! Not supported: `eventually` properties (an error), visitors, a depth
//! bound.

// Two `unsafe` blocks: the cache prefetch hint (see `prefetch`) and the
// huge-page hint for the visited table (see `advise_huge_pages`).
#![deny(unsafe_code)]

use stateright::{Expectation, Model, Property};
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

// ------------------------------------------------------------ successors

/// How the search builds a successor: into a slot on its own stack that
/// already holds a copy of the state being expanded, rather than into a new
/// value that is then moved onto the stack (for a state of a few hundred
/// bytes, each move is a `memcpy`, and a generated state was moved three
/// or more times). The provided method falls back on
/// [`Model::next_state`]; a model overrides it to step in place.
pub trait InPlace: Model {
    /// On entry `next` equals `prev`. Turns `next` into the successor of
    /// `prev` by `action` and returns true, or returns false when
    /// `next_state(prev, action)` would be `None` (then `next` may hold
    /// anything: the search overwrites it before its next use). Must agree
    /// with [`Model::next_state`]. Called only with an action that
    /// [`Model::actions`] listed for `prev`, so a model need not test again
    /// what its `actions` tested.
    fn next_state_in_place(
        &self,
        prev: &Self::State,
        next: &mut Self::State,
        action: Self::Action,
    ) -> bool {
        match self.next_state(prev, action) {
            Some(s) => {
                *next = s;
                true
            }
            None => false,
        }
    }

    /// One key per property of `props` (the model's `properties()`),
    /// computed once per search and handed back to
    /// [`InPlace::evaluate`]. The provided method gives each its index.
    fn property_keys(&self, props: &[Property<Self>]) -> Vec<usize> {
        (0..props.len()).collect()
    }

    /// Evaluates on `state` the condition of `props[i]` for each `i` in
    /// `pending` (ascending), calling `report(i, holds)`. The search calls
    /// it once per visited state; the provided method calls each condition
    /// in turn, and a model overrides it to share the work the properties
    /// of one state have in common. Must agree with the conditions.
    fn evaluate(
        &self,
        state: &Self::State,
        props: &[Property<Self>],
        keys: &[usize],
        pending: &[usize],
        report: &mut dyn FnMut(usize, bool),
    ) {
        let _ = keys;
        for &i in pending {
            report(i, (props[i].condition)(self, state));
        }
    }
}

// ------------------------------------------------------------ fingerprints

/// Fixed keys: fingerprints are the same from run to run (the visited set
/// and its iteration order, hence the search order, are reproducible).
const KEYS: [u64; 4] = [
    0x243f_6a88_85a3_08d3,
    0x1319_8a2e_0370_7344,
    0xa409_3822_299f_31d0,
    0x082e_fa98_ec4e_6c89,
];

/// Small writes are buffered up to this many bytes before ahash sees them.
const BUF: usize = 64;

/// A [`Hasher`] that hands ahash the bytes of a value's `Hash` in bulk:
/// a derived `Hash` makes one call per field, and a keyed mix per call
/// (ahash's folded multiply, a dependent chain) costs far more than a store
/// into a buffer plus one pass over the buffered bytes. Writes of `BUF`
/// bytes or more (a state that is its own encoding, as `model::State` is) go
/// to ahash directly, after whatever was buffered. The result depends on
/// the sequence of calls, which `Hash` makes the same for equal values.
pub struct Fingerprinter {
    buf: [u8; BUF],
    len: usize,
    inner: ahash::AHasher,
}

impl Fingerprinter {
    fn new(seed: &ahash::RandomState) -> Fingerprinter {
        Fingerprinter {
            buf: [0; BUF],
            len: 0,
            inner: seed.build_hasher(),
        }
    }

    fn spill(&mut self, bytes: &[u8]) {
        if self.len > 0 {
            self.inner.write(&self.buf[..self.len]);
            self.len = 0;
        }
        if bytes.len() >= BUF {
            self.inner.write(bytes);
        } else {
            self.buf[..bytes.len()].copy_from_slice(bytes);
            self.len = bytes.len();
        }
    }
}

impl Hasher for Fingerprinter {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let end = self.len + bytes.len();
        if bytes.len() < BUF && end <= BUF {
            self.buf[self.len..end].copy_from_slice(bytes);
            self.len = end;
        } else {
            self.spill(bytes);
        }
    }
    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.write(&[i]);
    }
    #[inline]
    fn write_u16(&mut self, i: u16) {
        self.write(&i.to_le_bytes());
    }
    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.write(&i.to_le_bytes());
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.write(&i.to_le_bytes());
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.write(&(i as u64).to_le_bytes());
    }
    #[inline]
    fn write_isize(&mut self, i: isize) {
        // Derived `Hash` writes enum discriminants here.
        self.write(&(i as u64).to_le_bytes());
    }
    fn finish(&self) -> u64 {
        if self.len == 0 {
            return self.inner.finish();
        }
        let mut h = self.inner.clone();
        h.write(&self.buf[..self.len]);
        h.finish()
    }
}

/// The 64-bit fingerprint of a value (see the crate docs for collisions).
pub fn fingerprint<T: Hash + ?Sized>(value: &T) -> u64 {
    fingerprint_with(&seed(), value)
}

fn seed() -> ahash::RandomState {
    ahash::RandomState::with_seeds(KEYS[0], KEYS[1], KEYS[2], KEYS[3])
}

#[inline]
fn fingerprint_with<T: Hash + ?Sized>(seed: &ahash::RandomState, value: &T) -> u64 {
    let mut h = Fingerprinter::new(seed);
    value.hash(&mut h);
    h.finish()
}

/// A key of an [`FpTable`]: a fingerprint, with 0 reserved for empty slots.
trait Key: Copy + Eq + Ord + Send + 'static {
    const EMPTY: Self;
    const ONE: Self;
    /// The bits that choose the slot.
    fn low(self) -> usize;
}

impl Key for u64 {
    const EMPTY: u64 = 0;
    const ONE: u64 = 1;
    #[inline]
    fn low(self) -> usize {
        self as usize
    }
}

impl Key for u128 {
    const EMPTY: u128 = 0;
    const ONE: u128 = 1;
    #[inline]
    fn low(self) -> usize {
        self as u64 as usize
    }
}

/// A set of fingerprints: open addressing with linear probing in one
/// flat array (0 marks an empty slot, so the fingerprint 0 is stored
/// as 1: one more pair of values that count as equal, which leaves the
/// collision bound as it was). One insert is one probe sequence that
/// almost always stays in one cache line, where a general hash set
/// (hashbrown) reads a control byte group and then the bucket, two lines.
/// The table doubles when it is 3/4 full, so it holds 10.7 to 21.3 bytes per
/// 64-bit fingerprint (twice that for 128 bits).
struct FpTable<K: Key = u64> {
    slots: Vec<K>,
    len: usize,
}

impl<K: Key> FpTable<K> {
    const MIN: usize = 1 << 12;

    fn new() -> FpTable<K> {
        FpTable {
            slots: table(Self::MIN, || K::EMPTY),
            len: 0,
        }
    }

    fn len(&self) -> usize {
        self.len
    }

    #[inline]
    fn insert(&mut self, fp: K) -> bool {
        let fp = fp.max(K::ONE);
        if full(self.len + 1, self.slots.len()) {
            self.grow();
        }
        let mask = self.slots.len() - 1;
        let mut i = fp.low() & mask;
        loop {
            let s = self.slots[i];
            if s == fp {
                return false;
            }
            if s == K::EMPTY {
                self.slots[i] = fp;
                self.len += 1;
                return true;
            }
            i = (i + 1) & mask;
        }
    }

    #[inline]
    fn prefetch(&self, low: u64) {
        let i = low.max(1) as usize & (self.slots.len() - 1);
        prefetch(&self.slots[i]);
    }

    #[cold]
    fn grow(&mut self) {
        let n = 2 * self.slots.len().max(Self::MIN);
        let old = std::mem::replace(&mut self.slots, table(n, || K::EMPTY));
        let mask = self.slots.len() - 1;
        for fp in old.into_iter().filter(|&f| f != K::EMPTY) {
            let mut i = fp.low() & mask;
            while self.slots[i] != K::EMPTY {
                i = (i + 1) & mask;
            }
            self.slots[i] = fp;
        }
    }
}

/// A table of `n` slots, each `fill()`, in memory the kernel is asked to
/// back with transparent huge pages before it is first written. Every
/// probe of the visited set lands on a random slot, so with 4 KiB pages
/// nearly every probe of a table of some hundred megabytes also misses
/// the TLB and walks the page table; a 2 MiB page covers 512 times as
/// many slots per TLB entry. Only a hint: where THP is off (or the
/// system is not Linux) the table is the same, on small pages. (Public
/// for the liveness graph's index.)
pub fn table<T>(n: usize, fill: impl FnMut() -> T) -> Vec<T> {
    let mut v = Vec::with_capacity(n);
    advise_huge_pages(v.spare_capacity_mut());
    v.resize_with(n, fill);
    v
}

/// `madvise(MADV_HUGEPAGE)` over the whole 4 KiB pages of `mem`, when it
/// spans at least one 2 MiB page (smaller tables gain nothing).
fn advise_huge_pages<T>(mem: &mut [std::mem::MaybeUninit<T>]) {
    const PAGE: usize = 4096;
    let start = mem.as_mut_ptr() as usize;
    let end = start + std::mem::size_of_val(mem);
    let first = start.next_multiple_of(PAGE);
    if end.saturating_sub(first) < 2 << 20 {
        return;
    }
    #[cfg(target_os = "linux")]
    // SAFETY: the range lies within `mem`, an allocation this caller owns
    // and has not initialized; MADV_HUGEPAGE changes only how the kernel
    // backs those pages, never their contents or validity. Failure
    // (EINVAL where THP is not built in) leaves the memory as it was, so
    // the result is ignored.
    #[allow(unsafe_code)]
    unsafe {
        libc::madvise(
            first as *mut libc::c_void,
            (end - first) / PAGE * PAGE,
            libc::MADV_HUGEPAGE,
        );
    }
}

/// Asks the CPU to start loading the cache line of `slot`, so that a probe
/// made a little later finds it in cache. A hint only: it reads nothing the
/// program sees and cannot fault. (Public for the liveness graph's index.)
#[inline(always)]
pub fn prefetch<T>(slot: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `_mm_prefetch` is unsafe only for its `target_feature(enable
    // = "sse")`, which every x86_64 target has; the pointer comes from a
    // reference, and a prefetch never dereferences it architecturally.
    #[allow(unsafe_code)]
    unsafe {
        use core::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>((slot as *const T).cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = slot;
}

/// The visited set as a worker sees it. `insert` gets the state's 64-bit
/// fingerprint and the state itself (the 128-bit and exact sets need more
/// than the fingerprint).
trait Visited<S> {
    /// Inserts a state; true when it was not there yet.
    fn insert(&mut self, fp: u64, state: &S) -> bool;
    /// The worker is about to wait for work: let go of shared locks.
    fn pause(&mut self) {}
    /// Starts loading the slot where `fp` would go (a later `insert` finds
    /// it in cache).
    fn touch(&mut self, _fp: u64) {}
}

impl<S> Visited<S> for FpTable<u64> {
    #[inline]
    fn insert(&mut self, fp: u64, _: &S) -> bool {
        FpTable::insert(self, fp)
    }
    #[inline]
    fn touch(&mut self, fp: u64) {
        self.prefetch(fp);
    }
}

/// The second 64 bits of a 128-bit fingerprint: ahash under other keys.
const KEYS_HI: [u64; 4] = [
    0xbe54_66cf_34e9_0c6c,
    0xc0ac_29b7_c97c_50dd,
    0x3f84_d5b5_b547_0917,
    0x9216_d5d9_8979_fb1b,
];

fn seed_hi() -> ahash::RandomState {
    ahash::RandomState::with_seeds(KEYS_HI[0], KEYS_HI[1], KEYS_HI[2], KEYS_HI[3])
}

/// 128-bit fingerprints: the 64-bit one (which picks the slot) and a second,
/// independent one computed only when the state is looked up.
struct Table128 {
    table: FpTable<u128>,
    hi: ahash::RandomState,
}

impl Table128 {
    fn new() -> Table128 {
        Table128 {
            table: FpTable::new(),
            hi: seed_hi(),
        }
    }
}

impl<S: Hash> Visited<S> for Table128 {
    #[inline]
    fn insert(&mut self, fp: u64, state: &S) -> bool {
        let hi = fingerprint_with(&self.hi, state);
        self.table.insert((hi as u128) << 64 | fp as u128)
    }
    #[inline]
    fn touch(&mut self, fp: u64) {
        self.table.prefetch(fp);
    }
}

/// A state kept in full, hashed by its fingerprint, equal by `==`.
struct Exact<S> {
    fp: u64,
    state: S,
}

impl<S> Hash for Exact<S> {
    fn hash<H: Hasher>(&self, h: &mut H) {
        h.write_u64(self.fp);
    }
}

impl<S: PartialEq> PartialEq for Exact<S> {
    fn eq(&self, other: &Self) -> bool {
        self.fp == other.fp && self.state == other.state
    }
}

// States compared by the model's own equality, which is an equivalence for
// every state type a model checker can explore (a state unequal to itself
// would never be found visited).
impl<S: PartialEq> Eq for Exact<S> {}

/// A hasher that passes the fingerprint through (it is already a good hash).
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ b as u64;
        }
    }
    fn write_u64(&mut self, i: u64) {
        self.0 = i;
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

/// The exact visited set: every state in full. No collision can hide a
/// state; it costs the state's size (plus its heap data) per state.
struct ExactSet<S> {
    set: std::collections::HashSet<Exact<S>, std::hash::BuildHasherDefault<PassThrough>>,
}

impl<S> ExactSet<S> {
    fn new() -> ExactSet<S> {
        ExactSet {
            set: Default::default(),
        }
    }
}

impl<S: Clone + PartialEq> Visited<S> for ExactSet<S> {
    fn insert(&mut self, fp: u64, state: &S) -> bool {
        self.set.insert(Exact {
            fp,
            state: state.clone(),
        })
    }
}

/// A set behind 64 mutexes, chosen by the fingerprint's top bits: the
/// several-worker form of the 128-bit and exact sets (their inserts cost
/// more than a lock).
struct Sharded<V> {
    shards: Vec<Mutex<V>>,
}

impl<V> Sharded<V> {
    fn new(make: impl Fn() -> V) -> Sharded<V> {
        Sharded {
            shards: (0..64).map(|_| Mutex::new(make())).collect(),
        }
    }
}

impl<S, V: Visited<S>> Visited<S> for &Sharded<V> {
    fn insert(&mut self, fp: u64, state: &S) -> bool {
        lock(&self.shards[(fp >> 58) as usize]).insert(fp, state)
    }
}

/// A worker's exclusive hold on a single-worker set.
impl<S, V: Visited<S>> Visited<S> for MutexGuard<'_, V> {
    #[inline]
    fn insert(&mut self, fp: u64, state: &S) -> bool {
        (**self).insert(fp, state)
    }
    #[inline]
    fn touch(&mut self, fp: u64) {
        (**self).touch(fp)
    }
}

/// How many states a set holds.
trait Count {
    fn count(&self) -> usize;
}

impl Count for FpTable<u64> {
    fn count(&self) -> usize {
        self.len()
    }
}

impl Count for Table128 {
    fn count(&self) -> usize {
        self.table.len()
    }
}

impl<S> Count for ExactSet<S> {
    fn count(&self) -> usize {
        self.set.len()
    }
}

impl<V: Count> Count for Sharded<V> {
    fn count(&self) -> usize {
        self.shards.iter().map(|m| lock(m).count()).sum()
    }
}

impl<V: Count> Count for Mutex<V> {
    fn count(&self) -> usize {
        lock(self).count()
    }
}

/// The visited set of several workers: the same open-addressing layout in
/// atomics (an insert is a load, then a compare-exchange into an empty
/// slot), behind a `RwLock` that only growing takes for writing. A worker
/// holds the read lock across many inserts (see [`SharedSet`]), so the
/// common path touches no shared lock word: with one mutex per insert, the
/// lock's cache line bounced between the cores and cost more than the work.
struct AtomicTable {
    slots: Vec<AtomicU64>,
}

impl AtomicTable {
    fn with_slots(n: usize) -> AtomicTable {
        AtomicTable {
            slots: table(n, || AtomicU64::new(0)),
        }
    }

    #[inline]
    fn insert(&self, fp: u64) -> bool {
        let fp = fp.max(1);
        let mask = self.slots.len() - 1;
        let mut i = fp as usize & mask;
        // Never full (it grows at 3/4), so some probe finds 0 or fp; the
        // bound only guards against looping forever.
        for _ in 0..self.slots.len() {
            let slot = &self.slots[i];
            match slot.load(Ordering::Relaxed) {
                s if s == fp => return false,
                0 => match slot.compare_exchange(0, fp, Ordering::Relaxed, Ordering::Relaxed) {
                    Ok(_) => return true,
                    Err(s) if s == fp => return false,
                    Err(_) => {}
                },
                _ => {}
            }
            i = (i + 1) & mask;
        }
        true
    }

    fn len(&self) -> usize {
        self.slots
            .iter()
            .filter(|s| s.load(Ordering::Relaxed) != 0)
            .count()
    }
}

/// When a table of `slots` holding `len` fingerprints must grow.
fn full(len: usize, slots: usize) -> bool {
    4 * len >= 3 * slots
}

struct Concurrent {
    table: std::sync::RwLock<AtomicTable>,
    /// Fingerprints inserted, as published by the workers (in batches).
    len: AtomicUsize,
    /// Workers that want the write lock to grow the table. While it is not
    /// zero, the other workers let go of their read locks at their next
    /// insert and wait on `grown` until it is zero again, instead of
    /// relocking at once (the std `RwLock` would let such a reader starve
    /// the writer).
    growers: AtomicUsize,
    gate: Mutex<()>,
    grown: Condvar,
}

/// Inserts a worker makes before it publishes their count.
const SET_BATCH: usize = 64;

impl Concurrent {
    fn new() -> Concurrent {
        Concurrent {
            table: std::sync::RwLock::new(AtomicTable::with_slots(1 << 16)),
            len: AtomicUsize::new(0),
            growers: AtomicUsize::new(0),
            gate: Mutex::new(()),
            grown: Condvar::new(),
        }
    }

    /// Doubles the table if it is at least 3/4 full. With at most
    /// `MAX_THREADS` x `SET_BATCH` = 2^12 unpublished inserts and at least
    /// 2^14 free slots at the threshold, the table never fills up.
    fn grow_if_needed(&self) {
        self.growers.fetch_add(1, Ordering::SeqCst);
        {
            let mut t = self.table.write().unwrap_or_else(|e| e.into_inner());
            let n = t.slots.len();
            if full(self.len.load(Ordering::Relaxed), n) {
                let bigger = AtomicTable::with_slots(2 * n);
                for s in t.slots.iter_mut() {
                    let fp = *s.get_mut();
                    if fp != 0 {
                        bigger.insert(fp);
                    }
                }
                *t = bigger;
            }
        }
        let _g = lock(&self.gate);
        self.growers.fetch_sub(1, Ordering::SeqCst);
        self.grown.notify_all();
    }

    /// Waits until no worker wants to grow the table.
    fn wait_grown(&self) {
        let mut g = lock(&self.gate);
        while self.growers.load(Ordering::SeqCst) > 0 {
            g = self.grown.wait(g).unwrap_or_else(|e| e.into_inner());
        }
    }

    fn len(&self) -> usize {
        self.table.read().unwrap_or_else(|e| e.into_inner()).len()
    }
}

/// One worker's handle on the shared set: it keeps the read lock between
/// inserts and publishes its insert count in batches.
struct SharedSet<'c> {
    set: &'c Concurrent,
    guard: Option<std::sync::RwLockReadGuard<'c, AtomicTable>>,
    new: usize,
}

impl<'c> SharedSet<'c> {
    fn new(set: &'c Concurrent) -> SharedSet<'c> {
        SharedSet {
            set,
            guard: None,
            new: 0,
        }
    }

    fn publish(&mut self) {
        self.set.len.fetch_add(self.new, Ordering::Relaxed);
        self.new = 0;
    }
}

impl<S> Visited<S> for SharedSet<'_> {
    #[inline]
    fn insert(&mut self, fp: u64, _: &S) -> bool {
        let set = self.set;
        if set.growers.load(Ordering::Relaxed) > 0 {
            self.guard = None;
            set.wait_grown();
        }
        let table = self
            .guard
            .get_or_insert_with(|| set.table.read().unwrap_or_else(|e| e.into_inner()));
        let new = table.insert(fp);
        if new {
            self.new += 1;
            if self.new == SET_BATCH {
                let n = table.slots.len();
                self.publish();
                if full(set.len.load(Ordering::Relaxed), n) {
                    self.guard = None;
                    set.grow_if_needed();
                }
            }
        }
        new
    }

    fn pause(&mut self) {
        self.publish();
        self.guard = None;
    }

    /// Prefetches the slot, under the read lock the next insert uses anyway
    /// (nothing while a worker waits to grow the table).
    #[inline]
    fn touch(&mut self, fp: u64) {
        let set = self.set;
        if set.growers.load(Ordering::Relaxed) > 0 {
            return;
        }
        let table = self
            .guard
            .get_or_insert_with(|| set.table.read().unwrap_or_else(|e| e.into_inner()));
        let i = fp.max(1) as usize & (table.slots.len() - 1);
        prefetch(&table.slots[i]);
    }
}

impl Count for Concurrent {
    fn count(&self) -> usize {
        self.len()
    }
}

impl Drop for SharedSet<'_> {
    fn drop(&mut self) {
        self.publish();
    }
}

/// Worker threads at most (see `Concurrent::grow_if_needed`).
pub const MAX_THREADS: usize = 64;

/// A poisoned lock only means another worker panicked; that is reported
/// by the join, so the data is still used as it is.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

// ------------------------------------------------------------ interface

/// Bounds and parallelism of one search.
#[derive(Clone, Debug)]
pub struct Options {
    /// Worker threads (0 is taken as 1).
    pub threads: usize,
    /// Stop once at least this many states were generated (Stateright's
    /// `target_state_count`).
    pub max_states: Option<usize>,
    /// Stop after this long.
    pub timeout: Option<Duration>,
    /// How visited states are told apart.
    pub fingerprints: Fingerprints,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            threads: 1,
            max_states: None,
            timeout: None,
            fingerprints: Fingerprints::Bits64,
        }
    }
}

/// How the visited set tells states apart.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Fingerprints {
    /// 64-bit fingerprints, 8 bytes per state in the table (the default).
    #[default]
    Bits64,
    /// 128-bit fingerprints: a second, independent 64-bit hash of every
    /// generated state; twice the table, slower.
    Bits128,
    /// Every state stored in full and compared with `==`: no collision is
    /// possible, at the state's size (and its heap data) per state.
    Exact,
}

impl Fingerprints {
    /// Bits of the fingerprint, or `None` for exact.
    pub fn bits(self) -> Option<u32> {
        match self {
            Fingerprints::Bits64 => Some(64),
            Fingerprints::Bits128 => Some(128),
            Fingerprints::Exact => None,
        }
    }
}

/// How likely it is that a fingerprint collision hid a state in one search.
///
/// A state is hidden when a generated state's fingerprint equals that of a
/// *different* state already visited: the search takes it as visited and
/// never expands it. Each of the `generated` (m) look-ups compares against at
/// most `unique` (n) stored fingerprints, and for a uniform b-bit hash each
/// comparison is a false match with probability 2^-b, so by the union bound
/// the probability that any state was hidden is at most **n·m / 2^b**. This
/// is the bound reported by [`probability`](Self::probability). TLC prints
/// the smaller "optimistic" estimate n²/2^(b+1) (the chance that any two of
/// the n visited states share a fingerprint), reported here by
/// [`optimistic`](Self::optimistic). Both are 0 in exact mode. (Storing the
/// fingerprint 0 as 1 makes one more pair of values equal, which changes
/// neither figure at the precision printed.)
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FingerprintRisk {
    pub mode: Fingerprints,
    /// Distinct states stored (n).
    pub unique: usize,
    /// Look-ups made (m): every generated state.
    pub generated: usize,
}

impl FingerprintRisk {
    /// The bound n·m / 2^b (capped at 1; 0 when exact).
    pub fn probability(&self) -> f64 {
        match self.mode.bits() {
            None => 0.0,
            Some(b) => (self.unique as f64 * self.generated as f64 / 2f64.powi(b as i32)).min(1.0),
        }
    }

    /// TLC's optimistic estimate n² / 2^(b+1) (0 when exact).
    pub fn optimistic(&self) -> f64 {
        match self.mode.bits() {
            None => 0.0,
            Some(b) => (self.unique as f64 * self.unique as f64 / 2f64.powi(b as i32 + 1)).min(1.0),
        }
    }

    /// One line for a report, e.g. `64-bit fingerprints: P(a collision hid a
    /// state) <= 3.2e-6 (n*m/2^64, n = 2850000, m = 11400000)`.
    pub fn describe(&self) -> String {
        match self.mode.bits() {
            None => format!(
                "exact state storage: no fingerprint collision possible ({} states)",
                self.unique
            ),
            Some(b) => format!(
                "{b}-bit fingerprints: P(a collision hid a state) <= {:.1e} (n*m/2^{b}, n = {}, m = {}{})",
                self.probability(),
                self.unique,
                self.generated,
                if b == 64 {
                    "; --fingerprint-bits 128 or --exact lower it"
                } else {
                    ""
                }
            ),
        }
    }
}

/// Why the search ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// Every reachable state within the boundary was visited.
    Exhausted,
    /// Every property has a discovery; the rest of the graph was not needed.
    AllDiscovered,
    /// `max_states` stopped it with states left to explore.
    MaxStates(usize),
    /// `timeout` stopped it with states left to explore.
    Timeout(Duration),
}

/// A path to a state where a property was discovered: the initial state's
/// index in `init_states()` (those within the boundary), the actions taken,
/// and every state on the way (`states.len() == actions.len() + 1`).
pub struct Discovery<M: Model> {
    pub init: usize,
    pub actions: Vec<M::Action>,
    pub states: Vec<M::State>,
}

impl<M: Model> Discovery<M> {
    pub fn last_state(&self) -> Option<&M::State> {
        self.states.last()
    }
}

pub struct Outcome<M: Model> {
    pub end: End,
    pub generated: usize,
    pub unique: usize,
    pub max_depth: usize,
    pub elapsed: Duration,
    /// By property name.
    pub discoveries: HashMap<&'static str, Discovery<M>>,
    /// The collision risk of this run (see [`FingerprintRisk`]).
    pub fingerprints: FingerprintRisk,
}

impl<M: Model> Outcome<M> {
    pub fn discovery(&self, name: &str) -> Option<&Discovery<M>> {
        self.discoveries.get(name)
    }
    /// True when the verdicts are final: the graph was exhausted or every
    /// property has a discovery (no bound stopped the search first).
    pub fn is_complete(&self) -> bool {
        matches!(self.end, End::Exhausted | End::AllDiscovered)
    }
    /// The bound on the probability that a fingerprint collision hid a
    /// state (see [`FingerprintRisk::probability`]).
    pub fn collision_probability(&self) -> f64 {
        self.fingerprints.probability()
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// The model has an `eventually` property (not supported here).
    Eventually(&'static str),
    /// A worker panicked (the model's panic message went to stderr).
    Panicked(String),
    /// Replaying a discovered path failed: the model is not deterministic.
    Replay(&'static str),
    /// A worker thread could not be started.
    Spawn(String),
    /// A reduced search's path to the discovery of this property has no
    /// real counterpart ending where the property is discovered: the
    /// canonical map is not a symmetry of the model.
    NotSymmetric(&'static str),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Eventually(p) => write!(
                f,
                "property '{p}' is an `eventually` property, which this search does not check"
            ),
            Error::Panicked(m) => write!(f, "a search thread panicked: {m}"),
            Error::Replay(p) => write!(
                f,
                "the path to the discovery of '{p}' does not replay: the model is not deterministic"
            ),
            Error::Spawn(e) => write!(f, "cannot start a search thread: {e}"),
            Error::NotSymmetric(p) => write!(
                f,
                "the reduced search's discovery of '{p}' has no real path of the model that ends where '{p}' is discovered: the symmetry reduction is unsound for this configuration"
            ),
        }
    }
}

impl std::error::Error for Error {}

/// Counts while the search runs (approximate: workers publish them in batches).
#[derive(Clone, Copy, Debug, Default)]
pub struct Progress {
    pub generated: usize,
    pub unique: usize,
}

/// Runs the search to its end.
pub fn run<M>(model: &M, opts: &Options) -> Result<Outcome<M>, Error>
where
    M: InPlace + Sync,
    M::State: Hash + Send + Clone + PartialEq,
    M::Action: Clone,
{
    run_with_progress(model, opts, Duration::from_millis(100), |_| {})
}

/// Runs the search, calling `progress` from the calling thread every `every`.
pub fn run_with_progress<M, F>(
    model: &M,
    opts: &Options,
    every: Duration,
    progress: F,
) -> Result<Outcome<M>, Error>
where
    M: InPlace + Sync,
    M::State: Hash + Send + Clone + PartialEq,
    M::Action: Clone,
    F: FnMut(Progress),
{
    search(model, opts, None, every, progress)
}

/// A map from a state to the representative of its orbit (see the crate
/// docs on symmetry reduction).
pub type Canonical<'a, S> = &'a (dyn Fn(&S) -> S + Sync);

/// Runs the search with symmetry reduction: `canon` maps every state to
/// its orbit's representative (see the crate docs).
pub fn run_reduced<M>(
    model: &M,
    opts: &Options,
    canon: Canonical<'_, M::State>,
) -> Result<Outcome<M>, Error>
where
    M: InPlace + Sync,
    M::State: Hash + Send + Clone + PartialEq,
    M::Action: Clone,
{
    search(model, opts, Some(canon), Duration::from_millis(100), |_| {})
}

/// [`run_reduced`], calling `progress` from the calling thread every `every`.
pub fn run_reduced_with_progress<M, F>(
    model: &M,
    opts: &Options,
    canon: Canonical<'_, M::State>,
    every: Duration,
    progress: F,
) -> Result<Outcome<M>, Error>
where
    M: InPlace + Sync,
    M::State: Hash + Send + Clone + PartialEq,
    M::Action: Clone,
    F: FnMut(Progress),
{
    search(model, opts, Some(canon), every, progress)
}

fn search<M, F>(
    model: &M,
    opts: &Options,
    canon: Option<Canonical<'_, M::State>>,
    every: Duration,
    mut progress: F,
) -> Result<Outcome<M>, Error>
where
    M: InPlace + Sync,
    M::State: Hash + Send + Clone + PartialEq,
    M::Action: Clone,
    F: FnMut(Progress),
{
    let start = Instant::now();
    let props = model.properties();
    if let Some(p) = props
        .iter()
        .find(|p| p.expectation == Expectation::Eventually)
    {
        return Err(Error::Eventually(p.name));
    }
    let threads = opts.threads.clamp(1, MAX_THREADS);
    let seed = seed();

    // Initial states: as Stateright, those within the boundary, all of them
    // pending and counted as generated (duplicates too), the set deduplicated.
    let inits: Vec<M::State> = model
        .init_states()
        .into_iter()
        .map(|s| represent(canon, s))
        .filter(|s| model.within_boundary(s))
        .collect();
    let entries: Vec<Entry<M::State>> = inits
        .into_iter()
        .enumerate()
        .map(|(i, state)| Entry {
            state,
            depth: 0,
            step: i as u32,
        })
        .collect();
    let generated0 = entries.len();

    let all = props.len();
    let shared = Shared {
        model,
        canon,
        props: &props,
        keys: model.property_keys(&props),
        seed,
        threads,
        max_states: opts.max_states,
        deadline: opts.timeout.map(|t| (t, start + t)),
        stop: AtomicBool::new(false),
        why: Mutex::new(None),
        found: (0..all).map(|_| AtomicBool::new(false)).collect(),
        found_count: AtomicUsize::new(0),
        paths: Mutex::new(vec![None; all]),
        generated: AtomicUsize::new(generated0),
        unique: AtomicUsize::new(0),
        max_depth: AtomicU64::new(0),
        pool: Mutex::new(Pool {
            chunks: vec![Chunk {
                base: Vec::new(),
                entries,
            }],
            idle: 0,
            done: false,
        }),
        wake: Condvar::new(),
        idle_hint: AtomicUsize::new(0),
        ended: AtomicUsize::new(0),
    };
    if all == 0 {
        // As Stateright: with nothing to discover, every property "has" its
        // discovery before the first state is expanded.
        shared.halt(End::AllDiscovered);
    }

    // One visited set per mode; each worker gets its own handle on it.
    let (mut left, failed, unique) = {
        use Fingerprints::*;
        let p = &mut progress;
        match (threads > 1, opts.fingerprints) {
            (false, Bits64) => drive(&shared, &Mutex::new(FpTable::<u64>::new()), lock, every, p),
            (false, Bits128) => drive(&shared, &Mutex::new(Table128::new()), lock, every, p),
            (false, Exact) => drive(&shared, &Mutex::new(ExactSet::new()), lock, every, p),
            (true, Bits64) => drive(&shared, &Concurrent::new(), SharedSet::new, every, p),
            (true, Bits128) => drive(&shared, &Sharded::new(Table128::new), |s| s, every, p),
            (true, Exact) => drive(&shared, &Sharded::new(ExactSet::new), |s| s, every, p),
        }
    };
    if let Some(e) = failed {
        return Err(e);
    }
    left |= lock(&shared.pool)
        .chunks
        .iter()
        .any(|c| c.entries.iter().any(Entry::live));
    let why = *lock(&shared.why);
    let end = match why {
        Some(End::AllDiscovered) => End::AllDiscovered,
        Some(bound) if left => bound,
        _ => End::Exhausted,
    };
    let paths = std::mem::take(&mut *lock(&shared.paths));
    let mut discoveries = HashMap::new();
    for (p, path) in props.iter().zip(paths) {
        if let Some(path) = path {
            let d = replay(model, canon, &path).ok_or(Error::Replay(p.name))?;
            let d = match canon {
                None => d,
                Some(c) => {
                    // The real path must exist and end where the property
                    // is discovered; else the map was no symmetry.
                    let real = realize(model, c, &d).ok_or(Error::NotSymmetric(p.name))?;
                    let last = real.last_state().ok_or(Error::NotSymmetric(p.name))?;
                    let holds = (p.condition)(model, last);
                    let hit = match p.expectation {
                        Expectation::Always => !holds,
                        Expectation::Sometimes => holds,
                        Expectation::Eventually => false,
                    };
                    if !hit {
                        return Err(Error::NotSymmetric(p.name));
                    }
                    real
                }
            };
            discoveries.insert(p.name, d);
        }
    }
    let generated = shared.generated.load(Ordering::Relaxed);
    Ok(Outcome {
        end,
        generated,
        unique,
        max_depth: shared.max_depth.load(Ordering::Relaxed) as usize,
        elapsed: start.elapsed(),
        discoveries,
        fingerprints: FingerprintRisk {
            mode: opts.fingerprints,
            unique,
            generated,
        },
    })
}

/// Inserts the initial states into `set`, runs the workers, each with the
/// handle `handle(set)`, and reports progress until they end. Returns
/// whether states were left unexplored, the first error, and the number of
/// distinct states in the set.
fn drive<'s, M, T, V, H, F>(
    shared: &Shared<'_, M>,
    set: &'s T,
    handle: H,
    every: Duration,
    progress: &mut F,
) -> (bool, Option<Error>, usize)
where
    M: InPlace + Sync,
    M::State: Hash + Send + Clone,
    T: Count + Sync,
    V: Visited<M::State>,
    H: Fn(&'s T) -> V + Sync,
    F: FnMut(Progress),
{
    {
        let mut h = handle(set);
        let pool = lock(&shared.pool);
        let unique0 = pool.chunks[0]
            .entries
            .iter()
            .filter(|e| h.insert(fingerprint_with(&shared.seed, &e.state), &e.state))
            .count();
        shared.unique.store(unique0, Ordering::Relaxed);
    }
    let mut left = false;
    let mut failed: Option<Error> = None;
    std::thread::scope(|scope| {
        let mut handles = Vec::new();
        let main = std::thread::current();
        for t in 0..shared.threads {
            let main = main.clone();
            let handle = &handle;
            let spawned = std::thread::Builder::new()
                .name(format!("search-{t}"))
                .spawn_scoped(scope, move || {
                    Worker::new(shared, main).run(&mut handle(set))
                });
            match spawned {
                Ok(h) => handles.push(h),
                Err(e) => {
                    failed = Some(Error::Spawn(e.to_string()));
                    shared.halt(End::Exhausted);
                    break;
                }
            }
        }
        // Workers count themselves out, then unpark this thread.
        while shared.ended.load(Ordering::Acquire) < handles.len() {
            std::thread::park_timeout(every);
            progress(Progress {
                generated: shared.generated.load(Ordering::Relaxed),
                unique: shared.unique.load(Ordering::Relaxed),
            });
        }
        for h in handles {
            match h.join() {
                Ok(l) => left |= l,
                Err(e) => {
                    let msg = e
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_else(|| "(no message)".into());
                    failed.get_or_insert(Error::Panicked(msg));
                }
            }
        }
    });
    (left, failed, set.count())
}

/// The state the search stores for `s`: its representative when reduced.
#[inline]
fn represent<S>(canon: Option<Canonical<'_, S>>, s: S) -> S {
    match canon {
        None => s,
        Some(c) => c(&s),
    }
}

/// The states and actions of a path given as [init index, action indices...]
/// (with `canon`: the path of representatives the reduced search took).
fn replay<M>(
    model: &M,
    canon: Option<Canonical<'_, M::State>>,
    path: &[u32],
) -> Option<Discovery<M>>
where
    M: Model,
    M::Action: Clone,
{
    let (&init, steps) = path.split_first()?;
    let mut state = model
        .init_states()
        .into_iter()
        .map(|s| represent(canon, s))
        .filter(|s| model.within_boundary(s))
        .nth(init as usize)?;
    let mut states = Vec::with_capacity(path.len());
    let mut actions = Vec::with_capacity(steps.len());
    let mut buf = Vec::new();
    for &i in steps {
        buf.clear();
        model.actions(&state, &mut buf);
        let a = buf.drain(..).nth(i as usize)?;
        let copy = a.clone();
        let next = represent(canon, model.next_state(&state, a)?);
        states.push(state);
        actions.push(copy);
        state = next;
    }
    states.push(state);
    Some(Discovery {
        init: init as usize,
        actions,
        states,
    })
}

/// The real path behind a reduced search's path of representatives `d`:
/// from the real initial state, at each step the first action (in
/// `actions()` order) whose successor's representative is the next one.
/// `None` if some step has no such action (`canon` is not a symmetry).
/// Deterministic: the same `d` gives the same path.
fn realize<M>(model: &M, canon: Canonical<'_, M::State>, d: &Discovery<M>) -> Option<Discovery<M>>
where
    M: Model,
    M::State: PartialEq,
    M::Action: Clone,
{
    let mut state = model
        .init_states()
        .into_iter()
        .filter(|s| model.within_boundary(&canon(s)))
        .nth(d.init)?;
    if canon(&state) != d.states[0] {
        return None;
    }
    let mut states = Vec::with_capacity(d.states.len());
    let mut actions = Vec::with_capacity(d.actions.len());
    let mut buf = Vec::new();
    for want in &d.states[1..] {
        buf.clear();
        model.actions(&state, &mut buf);
        let (a, next) = buf.drain(..).find_map(|a| {
            let next = model.next_state(&state, a.clone())?;
            (canon(&next) == *want).then_some((a, next))
        })?;
        states.push(state);
        actions.push(a);
        state = next;
    }
    states.push(state);
    Some(Discovery {
        init: d.init,
        actions,
        states,
    })
}

// ------------------------------------------------------------ the workers

/// A state waiting to be expanded: its depth (initial states 0) and the
/// step that produced it (the action's index in `actions()` of its parent,
/// or for an initial state its index among the initial states).
struct Entry<S> {
    state: S,
    depth: u32,
    step: u32,
}

/// The depth of an entry whose state was found visited after it was
/// generated onto the stack: it is skipped when popped (dropping it where it
/// lies instead of closing the gap moves no state).
const DEAD: u32 = u32::MAX;

impl<S> Entry<S> {
    fn live(&self) -> bool {
        self.depth != DEAD
    }
}

/// A worker's DFS stack: the entries `slots[..len]`. The slots above keep
/// whatever state was last written there, and a new entry is written over
/// one of them (`clone_from`: one copy, into place) rather than pushed (a
/// push builds the entry and then moves it: two copies of the state). A
/// slot is added only when the stack is deeper than it has ever been.
struct Stack<S> {
    slots: Vec<Entry<S>>,
    len: usize,
}

impl<S> Stack<S> {
    fn new() -> Self {
        Stack {
            slots: Vec::new(),
            len: 0,
        }
    }

    fn len(&self) -> usize {
        self.len
    }

    fn entries(&self) -> &[Entry<S>] {
        &self.slots[..self.len]
    }

    fn entry_mut(&mut self, i: usize) -> &mut Entry<S> {
        &mut self.slots[..self.len][i]
    }

    fn truncate(&mut self, n: usize) {
        self.len = self.len.min(n);
    }

    fn commit(&mut self) {
        debug_assert!(self.len < self.slots.len());
        self.len += 1;
    }

    /// Puts `entries` on the stack (its slots above the top are dropped).
    fn extend(&mut self, entries: Vec<Entry<S>>) {
        self.slots.truncate(self.len);
        self.slots.extend(entries);
        self.len = self.slots.len();
    }

    /// Takes the bottom `k` entries out.
    fn take_bottom(&mut self, k: usize) -> std::vec::Drain<'_, Entry<S>> {
        let k = k.min(self.len);
        self.len -= k;
        self.slots.drain(..k)
    }
}

impl<S: Clone> Stack<S> {
    /// Removes the top entry, copying its state into `into` (the successors
    /// are written over its slot); returns its depth and step.
    fn pop_into(&mut self, into: &mut Option<S>) -> Option<(u32, u32)> {
        self.len = self.len.checked_sub(1)?;
        let e = &self.slots[self.len];
        match into {
            Some(s) => s.clone_from(&e.state),
            None => *into = Some(e.state.clone()),
        }
        Some((e.depth, e.step))
    }

    /// The slot just above the top, holding a copy of `state` at `depth`;
    /// [`Stack::commit`] makes it the top entry.
    fn scratch(&mut self, state: &S, depth: u32) -> &mut Entry<S> {
        if self.len == self.slots.len() {
            self.slots.push(Entry {
                state: state.clone(),
                depth,
                step: 0,
            });
        } else {
            let slot = &mut self.slots[self.len];
            slot.state.clone_from(state);
            slot.depth = depth;
        }
        &mut self.slots[self.len]
    }
}

/// Work handed from one worker to another: entries from the bottom of the
/// giver's stack and the giver's path down to the deepest of them.
struct Chunk<S> {
    base: Vec<u32>,
    entries: Vec<Entry<S>>,
}

struct Pool<S> {
    chunks: Vec<Chunk<S>>,
    idle: usize,
    done: bool,
}

struct Shared<'a, M: Model> {
    model: &'a M,
    /// The orbit representative map of a reduced search.
    canon: Option<Canonical<'a, M::State>>,
    props: &'a [Property<M>],
    /// [`InPlace::property_keys`] of `props`.
    keys: Vec<usize>,
    seed: ahash::RandomState,
    threads: usize,
    max_states: Option<usize>,
    /// The timeout and when it expires.
    deadline: Option<(Duration, Instant)>,
    stop: AtomicBool,
    /// The first reason to stop (a bound, or every property discovered).
    why: Mutex<Option<End>>,
    found: Vec<AtomicBool>,
    found_count: AtomicUsize,
    /// The first path found for each property.
    paths: Mutex<Vec<Option<Vec<u32>>>>,
    generated: AtomicUsize,
    unique: AtomicUsize,
    max_depth: AtomicU64,
    pool: Mutex<Pool<M::State>>,
    wake: Condvar,
    /// `pool.idle`, readable without the lock (a hint to share work).
    idle_hint: AtomicUsize,
    /// Workers that have ended.
    ended: AtomicUsize,
}

impl<M: Model> Shared<'_, M> {
    fn halt(&self, why: End) {
        lock(&self.why).get_or_insert(why);
        self.stop.store(true, Ordering::SeqCst);
        let _p = lock(&self.pool);
        self.wake.notify_all();
    }

    fn discovered(&self, i: usize, path: &[u32]) {
        if self.found[i].swap(true, Ordering::AcqRel) {
            return;
        }
        lock(&self.paths)[i] = Some(path.to_vec());
        if self.found_count.fetch_add(1, Ordering::AcqRel) + 1 == self.props.len() {
            self.halt(End::AllDiscovered);
        }
    }

    /// The next chunk of work, or `None` when the search is over.
    fn take(&self) -> Option<Chunk<M::State>> {
        let mut p = lock(&self.pool);
        loop {
            if p.done || self.stop.load(Ordering::Relaxed) {
                return None;
            }
            if let Some(c) = p.chunks.pop() {
                return Some(c);
            }
            p.idle += 1;
            self.idle_hint.store(p.idle, Ordering::Relaxed);
            if p.idle == self.threads {
                p.done = true;
                self.wake.notify_all();
                return None;
            }
            p = self.wake.wait(p).unwrap_or_else(|e| e.into_inner());
            p.idle -= 1;
            self.idle_hint.store(p.idle, Ordering::Relaxed);
        }
    }

    /// Hands the bottom half of `stack` (the shallowest states, whose
    /// subtrees are the largest) to an idle worker.
    fn give(&self, stack: &mut Stack<M::State>, path: &[u32]) {
        let mut p = lock(&self.pool);
        if p.idle == 0 || !p.chunks.is_empty() {
            return;
        }
        let k = stack.len() / 2;
        let entries: Vec<_> = stack.take_bottom(k).filter(Entry::live).collect();
        if entries.is_empty() {
            return;
        }
        let deepest = entries.last().map_or(0, |e| e.depth as usize);
        p.chunks.push(Chunk {
            base: path[..deepest.min(path.len())].to_vec(),
            entries,
        });
        self.wake.notify_one();
    }
}

/// Publish counts and check the clock every this many expansions.
const BATCH: u32 = 1024;

/// One worker. Its `path` is the path of the state being expanded: step
/// `path[d]` leads to depth d. Because the stack is LIFO and its depths never
/// decrease from bottom to top, when an entry of depth d is popped,
/// `path[..d]` are exactly its ancestors' steps.
struct Worker<'s, 'a, M: Model> {
    sh: &'s Shared<'a, M>,
    /// The thread that waits for the workers (unparked when this one ends).
    main: std::thread::Thread,
    stack: Stack<M::State>,
    /// The state being expanded (a copy of the popped entry's, whose slot
    /// its successors overwrite).
    state: Option<M::State>,
    path: Vec<u32>,
    actions: Vec<M::Action>,
    /// Fingerprints of the successors being looked up.
    fps: Vec<u64>,
    /// Indices of the properties not yet discovered.
    pending: Vec<usize>,
    /// Generated and unique counts not yet added to the shared ones.
    gen: usize,
    uniq: usize,
    /// The shared generated count as last seen (for `max_states`).
    seen: usize,
    max_depth: u64,
    tick: u32,
}

impl<'s, 'a, M> Worker<'s, 'a, M>
where
    M: InPlace,
    M::State: Hash + Clone,
{
    fn new(sh: &'s Shared<'a, M>, main: std::thread::Thread) -> Self {
        Worker {
            sh,
            main,
            stack: Stack::new(),
            state: None,
            path: Vec::new(),
            actions: Vec::new(),
            fps: Vec::new(),
            pending: Vec::new(),
            gen: 0,
            uniq: 0,
            seen: sh.generated.load(Ordering::Relaxed),
            max_depth: 0,
            tick: 0,
        }
    }

    fn publish(&mut self) {
        let sh = self.sh;
        self.seen = sh.generated.fetch_add(self.gen, Ordering::Relaxed) + self.gen;
        sh.unique.fetch_add(self.uniq, Ordering::Relaxed);
        sh.max_depth.fetch_max(self.max_depth, Ordering::Relaxed);
        self.gen = 0;
        self.uniq = 0;
    }

    /// Explores until the search is over; true if it left states unexplored.
    fn run<V: Visited<M::State>>(mut self, visited: &mut V) -> bool {
        // A panicking worker stops the others (the join reports the panic;
        // the `End` given here is never used); an ending one wakes the
        // waiting thread.
        struct Guard<'g, 'a, M: Model>(&'g Shared<'a, M>, std::thread::Thread);
        impl<M: Model> Drop for Guard<'_, '_, M> {
            fn drop(&mut self) {
                if std::thread::panicking() {
                    self.0.halt(End::Exhausted);
                }
                self.0.ended.fetch_add(1, Ordering::Release);
                self.1.unpark();
            }
        }
        let sh = self.sh;
        let _guard = Guard(sh, self.main.clone());
        let props = sh.props;
        let model = sh.model;
        loop {
            if sh.stop.load(Ordering::Relaxed) {
                break;
            }
            // Skip the dead entries in place (no state is moved for them).
            while self.stack.entries().last().is_some_and(|e| !e.live()) {
                self.stack.truncate(self.stack.len() - 1);
            }
            let Some((depth, step)) = self.stack.pop_into(&mut self.state) else {
                self.publish();
                visited.pause();
                match sh.take() {
                    Some(c) => {
                        self.path.clear();
                        self.path.extend_from_slice(&c.base);
                        self.stack.extend(c.entries);
                        continue;
                    }
                    None => break,
                }
            };
            self.path.truncate(depth as usize);
            self.path.push(step);
            self.max_depth = self.max_depth.max(depth as u64 + 1);
            let Some(state) = self.state.as_ref() else {
                unreachable!("pop_into leaves the popped state")
            };

            // Properties: every one not yet discovered, on every state.
            if sh.found_count.load(Ordering::Relaxed) < props.len() {
                self.pending.clear();
                self.pending
                    .extend((0..props.len()).filter(|&i| !sh.found[i].load(Ordering::Relaxed)));
                let path = &self.path;
                model.evaluate(state, props, &sh.keys, &self.pending, &mut |i, holds| {
                    let hit = match props[i].expectation {
                        Expectation::Always => !holds,
                        Expectation::Sometimes => holds,
                        Expectation::Eventually => false,
                    };
                    if hit {
                        sh.discovered(i, path);
                    }
                });
                if sh.stop.load(Ordering::Relaxed) {
                    // Every property discovered: as Stateright, this state
                    // is not expanded.
                    break;
                }
            }

            // Successors: each one counted, fingerprinted, looked up once.
            // Each is built in the slot above the top of the stack, which
            // starts as a copy of `state` (one copy per attempt, none per
            // move), its table slot prefetched; they are looked up after
            // the last is generated, so the table's cache lines load while
            // the model works. A visited one is marked dead where it lies.
            // An action that was not enabled or led out of the boundary
            // leaves its slot above the top, to be written over.
            model.actions(state, &mut self.actions);
            let base = self.stack.len();
            self.fps.clear();
            for (i, a) in self.actions.drain(..).enumerate() {
                let slot = self.stack.scratch(state, depth + 1);
                if !model.next_state_in_place(state, &mut slot.state, a) {
                    continue;
                }
                if let Some(c) = sh.canon {
                    slot.state = c(&slot.state);
                }
                if !model.within_boundary(&slot.state) {
                    continue;
                }
                slot.step = i as u32;
                self.gen += 1;
                let fp = fingerprint_with(&sh.seed, &slot.state);
                visited.touch(fp);
                self.fps.push(fp);
                self.stack.commit();
            }
            for (k, &fp) in self.fps.iter().enumerate() {
                let entry = self.stack.entry_mut(base + k);
                if visited.insert(fp, &entry.state) {
                    self.uniq += 1;
                } else {
                    entry.depth = DEAD;
                }
            }

            if let Some(max) = sh.max_states {
                if self.seen + self.gen >= max {
                    self.publish();
                    if self.seen >= max {
                        sh.halt(End::MaxStates(max));
                        break;
                    }
                }
            }
            self.tick += 1;
            if self.tick == BATCH {
                self.tick = 0;
                self.publish();
                if let Some((t, d)) = sh.deadline {
                    if Instant::now() >= d {
                        sh.halt(End::Timeout(t));
                        break;
                    }
                }
            }
            if sh.threads > 1 && self.stack.len() >= 2 && sh.idle_hint.load(Ordering::Relaxed) > 0 {
                sh.give(&mut self.stack, &self.path);
            }
        }
        self.publish();
        self.stack.entries().iter().any(Entry::live)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stateright::{Checker, Property};

    /// Two counters on a small torus with a boundary, a blocked action and
    /// duplicate initial states: every counting rule of Stateright shows up.
    #[derive(Clone)]
    struct Grid {
        n: u8,
        bad: (u8, u8),
    }

    impl InPlace for Grid {}

    impl Model for Grid {
        type State = (u8, u8);
        type Action = u8;
        fn init_states(&self) -> Vec<(u8, u8)> {
            // (0, 0) twice, and one outside the boundary.
            vec![(0, 0), (0, 0), (1, 0), (self.n, self.n)]
        }
        fn actions(&self, _: &(u8, u8), a: &mut Vec<u8>) {
            a.extend([0, 1, 2, 3]);
        }
        fn next_state(&self, &(x, y): &(u8, u8), a: u8) -> Option<(u8, u8)> {
            match a {
                0 => Some(((x + 1) % self.n, y)),
                1 => Some((x, (y + 1) % self.n)),
                // Blocked unless x is even; may leave the boundary.
                2 => (x % 2 == 0).then_some((x + y, y)),
                _ => None,
            }
        }
        fn within_boundary(&self, &(x, y): &(u8, u8)) -> bool {
            x < self.n && y < self.n && (x, y) != (self.n - 1, self.n - 1)
        }
        fn properties(&self) -> Vec<Property<Self>> {
            vec![
                Property::always("not bad", |m: &Grid, s: &(u8, u8)| *s != m.bad),
                Property::sometimes("diagonal", |_, s: &(u8, u8)| s.0 == s.1 && s.0 > 0),
                Property::always("in range", |m: &Grid, s: &(u8, u8)| s.0 < m.n),
            ]
        }
    }

    /// 2^17 states, each with two successors.
    struct Wide;
    impl InPlace for Wide {}
    impl Model for Wide {
        type State = u32;
        type Action = u32;
        fn init_states(&self) -> Vec<u32> {
            vec![0]
        }
        fn actions(&self, _: &u32, a: &mut Vec<u32>) {
            a.extend([1, 2]);
        }
        fn next_state(&self, s: &u32, a: u32) -> Option<u32> {
            let n = (s * 2 + a) % (1 << 17);
            Some(n)
        }
        fn properties(&self) -> Vec<Property<Self>> {
            vec![Property::always("true", |_, _| true)]
        }
    }

    fn grid() -> Grid {
        // `bad` is outside the boundary: nothing is violated, the whole
        // graph is explored.
        Grid { n: 7, bad: (6, 6) }
    }

    fn opts(threads: usize) -> Options {
        Options {
            threads,
            ..Default::default()
        }
    }

    /// Grid, stepping in place the way a real model does: the slot is
    /// scribbled on before an action turns out disabled or leads out of the
    /// boundary, and the properties are evaluated in one batch (in reverse,
    /// to show the order is the search's, not the model's).
    struct DirtyGrid(Grid);

    impl InPlace for DirtyGrid {
        /// Grid's steps, made on `next` itself (so they are right only if
        /// `next` starts as a copy of `prev`); a disabled action scribbles
        /// on it first.
        fn next_state_in_place(&self, _: &(u8, u8), next: &mut (u8, u8), a: u8) -> bool {
            let n = self.0.n;
            match a {
                0 => next.0 = (next.0 + 1) % n,
                1 => next.1 = (next.1 + 1) % n,
                2 if next.0.is_multiple_of(2) => next.0 += next.1,
                2 => {
                    next.1 = 99;
                    return false;
                }
                _ => {
                    *next = (77, 77);
                    return false;
                }
            }
            true
        }
        fn property_keys(&self, props: &[Property<Self>]) -> Vec<usize> {
            (0..props.len()).rev().collect()
        }
        fn evaluate(
            &self,
            state: &(u8, u8),
            props: &[Property<Self>],
            keys: &[usize],
            pending: &[usize],
            report: &mut dyn FnMut(usize, bool),
        ) {
            assert_eq!(keys.len(), props.len());
            for &i in pending {
                assert_eq!(keys[i], props.len() - 1 - i);
                report(i, (props[i].condition)(self, state));
            }
        }
    }

    impl Model for DirtyGrid {
        type State = (u8, u8);
        type Action = u8;
        fn init_states(&self) -> Vec<(u8, u8)> {
            self.0.init_states()
        }
        fn actions(&self, s: &(u8, u8), a: &mut Vec<u8>) {
            self.0.actions(s, a)
        }
        fn next_state(&self, s: &(u8, u8), a: u8) -> Option<(u8, u8)> {
            self.0.next_state(s, a)
        }
        fn within_boundary(&self, s: &(u8, u8)) -> bool {
            self.0.within_boundary(s)
        }
        fn properties(&self) -> Vec<Property<Self>> {
            vec![
                Property::always("not bad", |m: &DirtyGrid, s: &(u8, u8)| *s != m.0.bad),
                Property::sometimes("diagonal", |_, s: &(u8, u8)| s.0 == s.1 && s.0 > 0),
                Property::always("in range", |m: &DirtyGrid, s: &(u8, u8)| s.0 < m.0.n),
            ]
        }
    }

    /// A slot left dirty by a failed step is restored before the next
    /// action, visited successors are dropped where they lie, and a batch
    /// evaluation reports what the conditions say: counts, depth and
    /// discoveries equal Grid's (Stateright's), on one thread and several,
    /// and a violation's path replays.
    #[test]
    fn in_place_steps_and_batch_evaluation_agree() {
        for bad in [(6, 6), (3, 2)] {
            let plain = Grid { n: 7, bad };
            let dirty = DirtyGrid(plain.clone());
            for threads in [1, 2, 3] {
                let a = run(&plain, &opts(threads)).unwrap();
                let b = run(&dirty, &opts(threads)).unwrap();
                assert_eq!(a.end, b.end, "threads {threads}");
                let mut na: Vec<&str> = a.discoveries.keys().copied().collect();
                let mut nb: Vec<&str> = b.discoveries.keys().copied().collect();
                na.sort();
                nb.sort();
                assert_eq!(na, nb, "threads {threads}");
                if threads == 1 {
                    assert_eq!(
                        (a.unique, a.generated, a.max_depth),
                        (b.unique, b.generated, b.max_depth)
                    );
                    for (p, d) in &b.discoveries {
                        assert_eq!(d.states, a.discoveries[p].states, "{p}");
                    }
                }
                if let Some(d) = b.discovery("not bad") {
                    assert_eq!(*d.last_state().unwrap(), bad);
                }
            }
        }
    }

    #[test]
    fn counts_equal_stateright() {
        let m = grid();
        let bfs = m.clone().checker().spawn_bfs().join();
        let dfs = m.clone().checker().spawn_dfs().join();
        assert_eq!(bfs.unique_state_count(), dfs.unique_state_count());
        assert_eq!(bfs.state_count(), dfs.state_count());
        for threads in [1, 2, 3] {
            let o = run(&m, &opts(threads)).unwrap();
            assert_eq!(o.end, End::Exhausted);
            assert_eq!(o.unique, bfs.unique_state_count(), "threads {threads}");
            assert_eq!(o.generated, bfs.state_count(), "threads {threads}");
            assert!(o.discovery("not bad").is_none());
            assert!(o.discovery("diagonal").is_some());
            assert!(o.discovery("in range").is_none());
        }
        // One thread explores in Stateright's DFS order, so its depth agrees.
        assert_eq!(run(&m, &opts(1)).unwrap().max_depth, dfs.max_depth());
    }

    #[test]
    fn violation_is_found_with_a_replayable_path() {
        let m = Grid { n: 7, bad: (3, 2) };
        for threads in [1, 2] {
            let o = run(&m, &opts(threads)).unwrap();
            let d = o.discovery("not bad").expect("violation found");
            assert_eq!(d.last_state(), Some(&(3, 2)));
            assert_eq!(d.states.len(), d.actions.len() + 1);
            let inits: Vec<_> = m
                .init_states()
                .into_iter()
                .filter(|s| m.within_boundary(s))
                .collect();
            assert_eq!(d.states[0], inits[d.init]);
            for (k, a) in d.actions.iter().enumerate() {
                assert_eq!(m.next_state(&d.states[k], *a), Some(d.states[k + 1]));
            }
            // Not every property was discovered, so the search went on.
            assert_eq!(o.end, End::Exhausted);
        }
    }

    #[test]
    fn every_property_discovered_ends_the_search() {
        struct AllFound;
        impl InPlace for AllFound {}
        impl Model for AllFound {
            type State = u32;
            type Action = ();
            fn init_states(&self) -> Vec<u32> {
                vec![0]
            }
            fn actions(&self, _: &u32, a: &mut Vec<()>) {
                a.push(());
            }
            fn next_state(&self, s: &u32, _: ()) -> Option<u32> {
                Some(s + 1)
            }
            fn properties(&self) -> Vec<Property<Self>> {
                vec![
                    Property::always("small", |_, s: &u32| *s < 10),
                    Property::sometimes("five", |_, s: &u32| *s == 5),
                ]
            }
        }
        // An infinite chain: only the discoveries can end it.
        let o = run(&AllFound, &opts(2)).unwrap();
        assert_eq!(o.end, End::AllDiscovered);
        assert!(o.is_complete());
        assert_eq!(o.discovery("small").and_then(|d| d.last_state()), Some(&10));
        assert_eq!(o.discovery("five").map(|d| d.actions.len()), Some(5));
    }

    #[test]
    fn a_bound_makes_the_run_incomplete() {
        let m = grid();
        let full = run(&m, &opts(1)).unwrap();
        for threads in [1, 2] {
            let o = run(
                &m,
                &Options {
                    threads,
                    max_states: Some(10),
                    timeout: None,
                    fingerprints: Fingerprints::Bits64,
                },
            )
            .unwrap();
            assert_eq!(o.end, End::MaxStates(10));
            assert!(!o.is_complete());
            assert!(o.generated >= 10 && o.unique < full.unique);
            // The clock is read every `BATCH` expansions: a larger model.
            let o = run(
                &Wide,
                &Options {
                    threads,
                    max_states: None,
                    timeout: Some(Duration::ZERO),
                    fingerprints: Fingerprints::Bits64,
                },
            )
            .unwrap();
            assert!(!o.is_complete());
            assert_eq!(o.end, End::Timeout(Duration::ZERO));
            assert!(o.unique < 1 << 17);
        }
        // A bound the search never reaches changes nothing.
        let o = run(
            &m,
            &Options {
                threads: 1,
                max_states: Some(full.generated + 1),
                timeout: Some(Duration::from_secs(3600)),
                fingerprints: Fingerprints::Bits64,
            },
        )
        .unwrap();
        assert_eq!(
            (o.end, o.unique, o.generated),
            (End::Exhausted, full.unique, full.generated)
        );
    }

    #[test]
    fn eventually_properties_are_refused() {
        struct Ev;
        impl InPlace for Ev {}
        impl Model for Ev {
            type State = u8;
            type Action = ();
            fn init_states(&self) -> Vec<u8> {
                vec![0]
            }
            fn actions(&self, _: &u8, _: &mut Vec<()>) {}
            fn next_state(&self, _: &u8, _: ()) -> Option<u8> {
                None
            }
            fn properties(&self) -> Vec<Property<Self>> {
                vec![Property::eventually("never", |_, _| false)]
            }
        }
        assert_eq!(run(&Ev, &opts(1)).err(), Some(Error::Eventually("never")));
    }

    #[test]
    fn a_panicking_model_is_an_error() {
        struct Boom;
        impl InPlace for Boom {}
        impl Model for Boom {
            type State = u32;
            type Action = ();
            fn init_states(&self) -> Vec<u32> {
                vec![0]
            }
            fn actions(&self, _: &u32, a: &mut Vec<()>) {
                a.push(());
            }
            fn next_state(&self, s: &u32, _: ()) -> Option<u32> {
                assert!(*s < 1000, "boom");
                Some(s + 1)
            }
            fn properties(&self) -> Vec<Property<Self>> {
                vec![Property::always("true", |_, _| true)]
            }
        }
        for threads in [1, 2] {
            assert!(
                matches!(run(&Boom, &opts(threads)), Err(Error::Panicked(m)) if m.contains("boom"))
            );
        }
    }

    #[test]
    fn large_state_spaces_grow_the_tables() {
        // The single table and the shared one both grow several times.
        for threads in [1, 2] {
            let o = run(&Wide, &opts(threads)).unwrap();
            assert_eq!(o.unique, 1 << 17);
            assert_eq!(o.generated, 1 + 2 * (1 << 17));
        }
    }

    #[test]
    fn fingerprints_follow_equality() {
        let a = (vec![1u8, 2, 3], "x", [7u64; 40]);
        assert_eq!(fingerprint(&a), fingerprint(&a.clone()));
        assert_ne!(
            fingerprint(&a),
            fingerprint(&(vec![1u8, 2], "x", [7u64; 40]))
        );
        // Writes longer than the buffer take the direct path.
        let big = vec![5u8; 3 * BUF];
        assert_eq!(fingerprint(&big), fingerprint(&big.clone()));
        assert_ne!(fingerprint(&big), fingerprint(&vec![5u8; 3 * BUF - 1]));
    }

    /// A state whose `Hash` sees only `x`: every state with the same `x`
    /// has the same fingerprint (of either width), so a fingerprinting
    /// search hides all but one of them, and only the exact one sees all.
    #[derive(Clone, Debug, PartialEq)]
    struct Blind {
        x: u8,
        y: u8,
    }
    impl Hash for Blind {
        fn hash<H: Hasher>(&self, h: &mut H) {
            self.x.hash(h);
        }
    }
    struct Colliding;
    impl InPlace for Colliding {}
    impl Model for Colliding {
        type State = Blind;
        type Action = u8;
        fn init_states(&self) -> Vec<Blind> {
            vec![Blind { x: 0, y: 0 }]
        }
        fn actions(&self, _: &Blind, a: &mut Vec<u8>) {
            a.extend([0, 1]);
        }
        fn next_state(&self, s: &Blind, a: u8) -> Option<Blind> {
            match a {
                0 if s.x < 3 => Some(Blind { x: s.x + 1, y: s.y }),
                1 if s.y < 3 => Some(Blind { x: s.x, y: s.y + 1 }),
                _ => None,
            }
        }
        fn properties(&self) -> Vec<Property<Self>> {
            // Never discovered, so the search covers the whole graph.
            vec![Property::always("true", |_, _: &Blind| true)]
        }
    }

    #[test]
    fn every_mode_counts_the_same_graph_and_reports_its_risk() {
        let m = grid();
        for threads in [1, 2] {
            let mut counts = Vec::new();
            for mode in [
                Fingerprints::Bits64,
                Fingerprints::Bits128,
                Fingerprints::Exact,
            ] {
                let o = run(
                    &m,
                    &Options {
                        threads,
                        fingerprints: mode,
                        ..Default::default()
                    },
                )
                .unwrap();
                assert_eq!(o.fingerprints.mode, mode);
                assert_eq!(
                    (o.fingerprints.unique, o.fingerprints.generated),
                    (o.unique, o.generated)
                );
                counts.push((o.unique, o.generated, o.discovery("diagonal").is_some()));
                let (n, g) = (o.unique as f64, o.generated as f64);
                let want = match mode {
                    Fingerprints::Bits64 => n * g / 2f64.powi(64),
                    Fingerprints::Bits128 => n * g / 2f64.powi(128),
                    Fingerprints::Exact => 0.0,
                };
                assert_eq!(o.collision_probability(), want, "{mode:?}");
                assert!(o.fingerprints.optimistic() <= o.collision_probability());
            }
            assert!(counts.windows(2).all(|w| w[0] == w[1]), "{counts:?}");
        }
        let w = run(
            &Wide,
            &Options {
                threads: 2,
                fingerprints: Fingerprints::Bits128,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(w.unique, 1 << 17);
    }

    #[test]
    fn exact_mode_sees_states_that_fingerprints_merge() {
        for threads in [1, 2] {
            let o = |mode| {
                run(
                    &Colliding,
                    &Options {
                        threads,
                        fingerprints: mode,
                        ..Default::default()
                    },
                )
                .unwrap()
            };
            let exact = o(Fingerprints::Exact);
            assert_eq!(exact.unique, 16);
            assert_eq!(exact.collision_probability(), 0.0);
            for mode in [Fingerprints::Bits64, Fingerprints::Bits128] {
                let fp = o(mode);
                assert_eq!(fp.unique, 4, "{mode:?}: one state per x");
                assert!(fp.collision_probability() > 0.0);
            }
        }
    }

    #[test]
    fn the_risk_line_names_the_bound_and_the_counts() {
        let r = FingerprintRisk {
            mode: Fingerprints::Bits64,
            unique: 2_000_000,
            generated: 8_000_000,
        };
        // 2e6 * 8e6 / 2^64 = 8.67e-7; optimistic 4e12 / 2^65 = 1.08e-7.
        assert!((r.probability() - 8.674e-7).abs() < 1e-10);
        assert!((r.optimistic() - 1.084e-7).abs() < 1e-10);
        let line = r.describe();
        assert!(line.contains("64-bit") && line.contains("8.7e-7"), "{line}");
        let exact = FingerprintRisk {
            mode: Fingerprints::Exact,
            ..r
        };
        assert!(exact
            .describe()
            .contains("no fingerprint collision possible"));
        let huge = FingerprintRisk {
            unique: 1 << 40,
            generated: 1 << 42,
            ..r
        };
        assert_eq!(huge.probability(), 1.0);
    }

    /// Two counters mod 5, each incremented by its own action: swapping
    /// them (and the actions) is a symmetry, and so are the properties.
    struct Pair;
    impl InPlace for Pair {}
    impl Model for Pair {
        type State = (u8, u8);
        type Action = u8;
        fn init_states(&self) -> Vec<(u8, u8)> {
            vec![(0, 0)]
        }
        fn actions(&self, _: &(u8, u8), a: &mut Vec<u8>) {
            a.extend([0, 1]);
        }
        fn next_state(&self, &(x, y): &(u8, u8), a: u8) -> Option<(u8, u8)> {
            Some(if a == 0 {
                ((x + 1) % 5, y)
            } else {
                (x, (y + 1) % 5)
            })
        }
        fn properties(&self) -> Vec<Property<Self>> {
            vec![
                Property::always("not both 3", |_, s: &(u8, u8)| *s != (3, 3)),
                Property::sometimes("2 and 0", |_, s: &(u8, u8)| {
                    s.0.max(s.1) == 2 && s.0.min(s.1) == 0
                }),
                Property::always("below 5", |_, s: &(u8, u8)| s.0 < 5),
            ]
        }
    }

    #[test]
    fn reduced_search_keeps_verdicts_and_gives_real_paths() {
        let sorted = |s: &(u8, u8)| (s.0.min(s.1), s.0.max(s.1));
        for threads in [1, 2] {
            let full = run(&Pair, &opts(threads)).unwrap();
            let red = run_reduced(&Pair, &opts(threads), &sorted).unwrap();
            let names = |o: &Outcome<Pair>| {
                let mut v: Vec<&str> = o.discoveries.keys().copied().collect();
                v.sort();
                v
            };
            assert_eq!(names(&full), vec!["2 and 0", "not both 3"]);
            assert_eq!(names(&red), names(&full));
            for d in red.discoveries.values() {
                assert_eq!(d.states[0], (0, 0));
                for (k, a) in d.actions.iter().enumerate() {
                    assert_eq!(Pair.next_state(&d.states[k], *a), Some(d.states[k + 1]));
                }
            }
            assert_eq!(
                red.discovery("not both 3").unwrap().last_state(),
                Some(&(3, 3))
            );
        }
        // With the violation out of reach, the whole quotient: the 15
        // unordered pairs of 0..5 instead of 25 states.
        struct NoBad;
        impl InPlace for NoBad {}
        impl Model for NoBad {
            type State = (u8, u8);
            type Action = u8;
            fn init_states(&self) -> Vec<(u8, u8)> {
                Pair.init_states()
            }
            fn actions(&self, s: &(u8, u8), a: &mut Vec<u8>) {
                Pair.actions(s, a)
            }
            fn next_state(&self, s: &(u8, u8), a: u8) -> Option<(u8, u8)> {
                Pair.next_state(s, a)
            }
            fn properties(&self) -> Vec<Property<Self>> {
                vec![Property::always("below 5", |_, s: &(u8, u8)| s.0 < 5)]
            }
        }
        let full = run(&NoBad, &opts(1)).unwrap();
        let red = run_reduced(&NoBad, &opts(1), &sorted).unwrap();
        assert_eq!((full.unique, red.unique), (25, 15));
        assert_eq!(red.end, End::Exhausted);
    }

    #[test]
    fn a_map_that_is_no_symmetry_fails_the_run() {
        // (x, y) -> (x, x) is no renaming: the reduced search "finds"
        // (3, 3) along representatives whose real states never get there.
        let bogus = |s: &(u8, u8)| (s.0, s.0);
        match run_reduced(&Pair, &opts(1), &bogus) {
            Err(Error::NotSymmetric(p)) => assert_eq!(p, "not both 3"),
            Err(e) => panic!("{e}"),
            Ok(_) => panic!("an unsound map was accepted"),
        }
    }
}
