//! Synchronisation facade.
//!
//! Every lock, atomic, thread and thread-local in this crate comes from
//! here, so the same code runs on `std`, under loom or under shuttle the way
//! tokio's `src/loom` facade does. Production code never names loom or
//! shuttle:
//!
//! - default: `std`;
//! - `RUSTFLAGS="--cfg loom"`: loom's types (exhaustive interleavings with a
//!   C11 memory model; every use must run inside `loom::model`);
//! - `--features shuttle`: shuttle's types (randomised / PCT scheduling,
//!   every atomic treated as SeqCst; every use must run inside a
//!   `shuttle::check_*` closure).
//!
//! `loom` wins if both are selected. Under shuttle, `Condvar::wait_timeout`
//! never times out (shuttle 0.9), so design `wait`'s give-up path is not
//! exercised there; under loom, timeouts are spurious wake-ups.

#[cfg(loom)]
mod imp {
    pub use loom::sync::atomic;
    pub use loom::sync::{
        Arc, Condvar, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard,
    };
    pub use loom::thread;
    pub use loom::thread_local;
}

#[cfg(all(feature = "shuttle", not(loom)))]
mod imp {
    pub use shuttle::sync::atomic;
    pub use shuttle::sync::{
        Arc, Condvar, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard,
    };
    pub use shuttle::thread;
    pub use shuttle::thread_local;
}

#[cfg(all(not(feature = "shuttle"), not(loom)))]
mod imp {
    pub use std::sync::atomic;
    pub use std::sync::{
        Arc, Condvar, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard,
    };
    pub use std::thread;
    pub use std::thread_local;
}

pub use imp::*;

/// Lock a mutex; poisoning means another thread panicked while holding it,
/// which is already a bug being reported, so propagate it as a panic.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().expect("mutex poisoned")
}

/// Spin-wait hint used by the few places the kernel spins (freeze loops):
/// a scheduling point under loom and shuttle.
pub fn spin_yield() {
    thread::yield_now();
}
