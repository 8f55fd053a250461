//! Synchronisation facade.
//!
//! Every lock, atomic and thread in this crate comes from here, so the same
//! code can later be compiled against `loom` or `shuttle` (behind a cfg) the
//! way tokio's `src/loom` facade does. Today it re-exports `std`.

pub use std::sync::atomic;
pub use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
pub use std::thread;

/// Lock a mutex; poisoning means another thread panicked while holding it,
/// which is already a bug being reported, so propagate it as a panic.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().expect("mutex poisoned")
}

/// Spin-wait hint used by the few places the kernel spins (freeze loops).
pub fn spin_yield() {
    thread::yield_now();
}
