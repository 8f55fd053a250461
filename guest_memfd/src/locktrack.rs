//! Locks that report who holds and who waits for them, so the invariants
//! view can list lock holders (`for_each_thread_locks`) and `no_deadlock`
//! can look for a waits-for cycle in the concrete implementation too.

use crate::sync::{lock, Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use invariants::{LockId, LockMode};
use std::collections::BTreeMap;
// A plain std counter (not a scheduling point): ids only need to differ.
use std::sync::atomic::{AtomicU32, Ordering};

static NEXT_TID: AtomicU32 = AtomicU32::new(1);
// The facade's thread-local: under loom/shuttle each modelled thread gets its
// own id (std's would be shared by the modelled threads of one OS thread).
crate::sync::thread_local! {
    static TID: u32 = NEXT_TID.fetch_add(1, Ordering::Relaxed);
}

fn tid() -> u32 {
    TID.with(|t| *t)
}

#[derive(Clone, Debug, Default)]
pub struct ThreadState {
    pub holds: Vec<(LockId, LockMode)>,
    pub waits_for: Option<(LockId, LockMode)>,
}

/// Who holds and waits for which lock, per thread.
#[derive(Debug, Default)]
pub struct LockTracker {
    threads: Mutex<BTreeMap<u32, ThreadState>>,
}

impl LockTracker {
    fn waiting(&self, id: LockId, mode: LockMode) {
        lock(&self.threads).entry(tid()).or_default().waits_for = Some((id, mode));
    }
    fn not_waiting(&self) {
        let mut t = lock(&self.threads);
        let me = tid();
        if let Some(st) = t.get_mut(&me) {
            st.waits_for = None;
            if st.holds.is_empty() {
                t.remove(&me);
            }
        }
    }
    fn acquired(&self, id: LockId, mode: LockMode) {
        let mut t = lock(&self.threads);
        let st = t.entry(tid()).or_default();
        st.waits_for = None;
        st.holds.push((id, mode));
    }
    fn released(&self, id: LockId, mode: LockMode) {
        let mut t = lock(&self.threads);
        let me = tid();
        if let Some(st) = t.get_mut(&me) {
            if let Some(pos) = st.holds.iter().rposition(|&h| h == (id, mode)) {
                st.holds.remove(pos);
            }
            if st.holds.is_empty() && st.waits_for.is_none() {
                t.remove(&me);
            }
        }
    }
    /// Does the calling thread hold lock `id` in `mode`?
    fn held_by_me(&self, id: LockId, mode: LockMode) -> bool {
        lock(&self.threads)
            .get(&tid())
            .is_some_and(|st| st.holds.contains(&(id, mode)))
    }
    /// Threads that hold or wait for a lock right now.
    pub fn snapshot(&self) -> Vec<(u32, ThreadState)> {
        lock(&self.threads)
            .iter()
            .map(|(k, v)| (*k, v.clone()))
            .collect()
    }
}

/// An rw-semaphore (`invalidate_lock`, `mmap_lock`).
#[derive(Debug)]
pub struct TrackedRwLock<T> {
    id: LockId,
    tracker: Arc<LockTracker>,
    inner: RwLock<T>,
}

pub struct ReadGuard<'a, T> {
    owner: &'a TrackedRwLock<T>,
    guard: RwLockReadGuard<'a, T>,
}
pub struct WriteGuard<'a, T> {
    owner: &'a TrackedRwLock<T>,
    guard: RwLockWriteGuard<'a, T>,
}

impl<T> TrackedRwLock<T> {
    pub fn new(id: LockId, tracker: Arc<LockTracker>, v: T) -> Self {
        TrackedRwLock {
            id,
            tracker,
            inner: RwLock::new(v),
        }
    }
    /// Does the calling thread hold this lock for write? (An rw-semaphore
    /// is not recursive: a down_read() then waits for itself.)
    pub fn held_exclusive_by_me(&self) -> bool {
        self.tracker.held_by_me(self.id, LockMode::Exclusive)
    }
    /// down_read
    pub fn read(&self) -> ReadGuard<'_, T> {
        self.tracker.waiting(self.id, LockMode::Shared);
        let guard = self.inner.read().expect("rwlock poisoned");
        self.tracker.acquired(self.id, LockMode::Shared);
        ReadGuard { owner: self, guard }
    }
    /// down_read as the model step `step` (a step point; under replay each
    /// grant is one attempt, see [`crate::sched::acquire`]).
    pub fn read_step(&self, step: &'static str) -> ReadGuard<'_, T> {
        let guard = crate::sched::acquire(
            step,
            || self.inner.try_read().ok(),
            || self.tracker.waiting(self.id, LockMode::Shared),
            || self.inner.read().expect("rwlock poisoned"),
        );
        self.tracker.acquired(self.id, LockMode::Shared);
        ReadGuard { owner: self, guard }
    }
    /// down_read inside the step the thread was granted (first attempt at
    /// once; see [`crate::sched::acquire_now`]), parking as `step` while it
    /// is refused.
    pub fn read_now(&self, step: &'static str) -> ReadGuard<'_, T> {
        let guard = crate::sched::acquire_now(
            step,
            || self.inner.try_read().ok(),
            || self.tracker.waiting(self.id, LockMode::Shared),
            || self.inner.read().expect("rwlock poisoned"),
        );
        self.tracker.acquired(self.id, LockMode::Shared);
        ReadGuard { owner: self, guard }
    }
    /// Record that the calling thread is about to wait for this lock
    /// shared (the model counts a thread at a lock step as waiting), before
    /// it parks at that step; [`Self::cancel_wait`] undoes it when the step
    /// turns out not to need the lock.
    pub fn note_waiting_shared(&self) {
        self.tracker.waiting(self.id, LockMode::Shared);
    }
    pub fn cancel_wait(&self) {
        self.tracker.not_waiting();
    }
    /// As [`Self::read_step`], saying whether the previous attempt at the
    /// same step was blocked (by something other than this lock).
    pub fn read_step_blocked(&self, step: &'static str, blocked: bool) -> ReadGuard<'_, T> {
        self.tracker.waiting(self.id, LockMode::Shared);
        let guard = if crate::sched::driven() {
            let mut blocked = blocked;
            loop {
                crate::sched::step_point_blocked(step, None, blocked);
                if let Ok(g) = self.inner.try_read() {
                    break g;
                }
                blocked = true;
            }
        } else {
            self.inner.read().expect("rwlock poisoned")
        };
        self.tracker.acquired(self.id, LockMode::Shared);
        ReadGuard { owner: self, guard }
    }
    /// down_write as the model step `step`.
    pub fn write_step(&self, step: &'static str) -> WriteGuard<'_, T> {
        let guard = crate::sched::acquire(
            step,
            || self.inner.try_write().ok(),
            || self.tracker.waiting(self.id, LockMode::Exclusive),
            || self.inner.write().expect("rwlock poisoned"),
        );
        self.tracker.acquired(self.id, LockMode::Exclusive);
        WriteGuard { owner: self, guard }
    }
    /// down_write
    pub fn write(&self) -> WriteGuard<'_, T> {
        self.tracker.waiting(self.id, LockMode::Exclusive);
        let guard = self.inner.write().expect("rwlock poisoned");
        self.tracker.acquired(self.id, LockMode::Exclusive);
        WriteGuard { owner: self, guard }
    }
}

impl<T> Drop for ReadGuard<'_, T> {
    fn drop(&mut self) {
        self.owner.tracker.released(self.owner.id, LockMode::Shared);
    }
}
impl<T> Drop for WriteGuard<'_, T> {
    fn drop(&mut self) {
        self.owner
            .tracker
            .released(self.owner.id, LockMode::Exclusive);
    }
}
impl<T> std::ops::Deref for ReadGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.guard
    }
}
impl<T> std::ops::Deref for WriteGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.guard
    }
}
impl<T> std::ops::DerefMut for WriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.guard
    }
}

/// A spinlock-like mutex (`kvm->mmu_lock`).
#[derive(Debug)]
pub struct TrackedMutex<T> {
    id: LockId,
    tracker: Arc<LockTracker>,
    inner: Mutex<T>,
}

pub struct MutexGuardT<'a, T> {
    owner: &'a TrackedMutex<T>,
    guard: MutexGuard<'a, T>,
}

impl<T> TrackedMutex<T> {
    pub fn new(id: LockId, tracker: Arc<LockTracker>, v: T) -> Self {
        TrackedMutex {
            id,
            tracker,
            inner: Mutex::new(v),
        }
    }
    pub fn lock(&self) -> MutexGuardT<'_, T> {
        self.tracker.waiting(self.id, LockMode::Exclusive);
        let guard = lock(&self.inner);
        self.tracker.acquired(self.id, LockMode::Exclusive);
        MutexGuardT { owner: self, guard }
    }
}
impl<T> Drop for MutexGuardT<'_, T> {
    fn drop(&mut self) {
        self.owner
            .tracker
            .released(self.owner.id, LockMode::Exclusive);
    }
}
impl<T> std::ops::Deref for MutexGuardT<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.guard
    }
}
impl<T> std::ops::DerefMut for MutexGuardT<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.guard
    }
}
