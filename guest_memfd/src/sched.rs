//! Step points: the model's atomic-step boundaries, marked in the real code,
//! and a deterministic scheduler that drives the implementation's threads
//! through them one step at a time (`checker replay` on the implementation).
//!
//! Every operation of this crate calls [`step_point`] where the Stateright
//! model ends one atomic step and begins the next, naming the model step it
//! is about to perform (`"conv.check"` is `ConvPc::Check`, and so on). A
//! thread that is not driven by a [`Sched`] passes through at the cost of a
//! thread-local read. A driven thread parks there until the scheduler grants
//! it one step; it then runs to its next step point (or the end of its
//! script) and parks again. Only one driven thread runs at a time, so a lock
//! that is never held across a step point is always free when taken: the
//! only contention the scheduler can see is on the locks the model has (the
//! invalidate lock), whose acquisition is itself a step ([`acquire`]), and
//! on spins (freeze) and sleeps (design `wait`), which re-park at the same
//! point instead of spinning or sleeping.
//!
//! Under loom and shuttle, step points are ordinary code (those tools choose
//! the interleavings themselves), and the scheduler is not available.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// A model step the thread is about to perform.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Point {
    /// The model's step, `actor.pc` in snake case (`"fault.lock_inv"`).
    pub name: &'static str,
    /// The page the step is about, where the model's pc names one.
    pub page: Option<usize>,
    /// The previous attempt at this step found it blocked (a lock held, a
    /// freeze refused, references not drained): nothing changed.
    pub blocked: bool,
}

impl std::fmt::Display for Point {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)?;
        if let Some(p) = self.page {
            write!(f, "({p})")?;
        }
        if self.blocked {
            f.write_str(" [blocked]")?;
        }
        Ok(())
    }
}

/// The point every scripted actor parks at between two operations.
pub const START: &str = "start";

/// Where a driven thread is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Not launched yet.
    Spawning,
    /// Granted a step and running it.
    Running,
    Parked(Point),
    /// Its script is done (the thread exited).
    Finished,
    /// It panicked.
    Panicked,
}

#[derive(Debug)]
struct Inner {
    actors: Vec<Status>,
    /// The actor allowed to run; `None` while the driver decides.
    turn: Option<usize>,
    /// The driver is done with its actors: parked ones unwind and exit.
    cancelled: bool,
}

/// The unwinding payload of a parked thread whose scheduler was cancelled
/// ([`Sched::cancel`]); raised with `resume_unwind`, so no panic message.
#[derive(Debug)]
pub struct Cancelled;

/// The deterministic scheduler: the driver grants one actor one step at a time.
#[derive(Debug)]
pub struct Sched {
    inner: Mutex<Inner>,
    cv: Condvar,
}

/// Why a granted step did not end at a step point.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StepError {
    /// The actor is not parked (finished, panicked, or never started).
    NotParked(Status),
    /// It did not reach a step point within the timeout: it blocks where the
    /// model has no blocking step, or loops.
    Stuck,
}

impl std::fmt::Display for StepError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StepError::NotParked(s) => write!(f, "the thread is not at a step point ({s:?})"),
            StepError::Stuck => f.write_str(
                "the thread did not reach its next step point: it blocks or spins where the model's step completes",
            ),
        }
    }
}

thread_local! {
    static DRIVEN: std::cell::RefCell<Option<(Arc<Sched>, usize)>> =
        const { std::cell::RefCell::new(None) };
}

fn lock(m: &Mutex<Inner>) -> MutexGuard<'_, Inner> {
    // A driven thread that panics never holds this lock (it only waits on
    // it), so poisoning cannot hide a state change: recover.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Sched {
    pub fn new(actors: usize) -> Arc<Sched> {
        Arc::new(Sched {
            inner: Mutex::new(Inner {
                actors: vec![Status::Spawning; actors],
                turn: None,
                cancelled: false,
            }),
            cv: Condvar::new(),
        })
    }

    /// Called by the driver just before it spawns actor `id`'s thread: the
    /// new thread owns the turn until its first step point.
    pub fn launch(&self, id: usize) {
        let mut g = lock(&self.inner);
        g.actors[id] = Status::Running;
        g.turn = Some(id);
    }

    /// Called on the actor's own thread first: from now on its step points park.
    pub fn enter(self: &Arc<Self>, id: usize) {
        DRIVEN.with(|d| *d.borrow_mut() = Some((self.clone(), id)));
    }

    /// Called on the actor's thread when its script is done (or it panicked).
    pub fn exit(&self, id: usize, panicked: bool) {
        DRIVEN.with(|d| *d.borrow_mut() = None);
        let mut g = lock(&self.inner);
        g.actors[id] = if panicked {
            Status::Panicked
        } else {
            Status::Finished
        };
        if g.turn == Some(id) {
            g.turn = None;
        }
        self.cv.notify_all();
    }

    fn park(&self, id: usize, p: Point) {
        let mut g = lock(&self.inner);
        g.actors[id] = Status::Parked(p);
        if g.turn == Some(id) {
            g.turn = None;
        }
        self.cv.notify_all();
        while g.turn != Some(id) {
            if g.cancelled {
                drop(g);
                std::panic::resume_unwind(Box::new(Cancelled));
            }
            g = self.cv.wait(g).unwrap_or_else(|e| e.into_inner());
        }
        g.actors[id] = Status::Running;
    }

    /// The driver is done: every thread parked now or later unwinds out of
    /// its step point (payload [`Cancelled`], caught by whoever spawned it)
    /// instead of waiting forever for a grant, so no thread is leaked.
    pub fn cancel(&self) {
        lock(&self.inner).cancelled = true;
        self.cv.notify_all();
    }

    pub fn status(&self, id: usize) -> Status {
        lock(&self.inner).actors[id]
    }

    /// Wait until nobody runs (every actor parked, finished or panicked).
    pub fn settle(&self, timeout: Duration) -> Result<(), StepError> {
        let deadline = Instant::now() + timeout;
        let mut g = lock(&self.inner);
        loop {
            let busy = g.turn.is_some() || g.actors.contains(&Status::Running);
            if !busy {
                return Ok(());
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(StepError::Stuck);
            }
            g = self
                .cv
                .wait_timeout(g, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Let actor `id` perform the step it is parked at, and wait until it
    /// parks again (or ends). Returns where it is then.
    pub fn grant(&self, id: usize, timeout: Duration) -> Result<Status, StepError> {
        {
            let mut g = lock(&self.inner);
            match g.actors[id] {
                Status::Parked(_) => {}
                s => return Err(StepError::NotParked(s)),
            }
            g.turn = Some(id);
            self.cv.notify_all();
        }
        self.settle(timeout)?;
        Ok(self.status(id))
    }

    /// The parked actors and where.
    pub fn parked(&self) -> Vec<(usize, Point)> {
        lock(&self.inner)
            .actors
            .iter()
            .enumerate()
            .filter_map(|(i, s)| match s {
                Status::Parked(p) => Some((i, *p)),
                _ => None,
            })
            .collect()
    }
}

/// Is this thread driven by a scheduler?
pub fn driven() -> bool {
    DRIVEN.with(|d| d.borrow().is_some())
}

/// A model step boundary: the thread is about to perform step `name` (on
/// `page`). Driven threads park here until granted.
#[inline]
pub fn step_point(name: &'static str, page: Option<usize>) {
    step_point_blocked(name, page, false)
}

/// As [`step_point`], saying whether the previous attempt at the same step
/// was blocked (spins and sleeps re-park here rather than loop).
pub fn step_point_blocked(name: &'static str, page: Option<usize>, blocked: bool) {
    let d = DRIVEN.with(|d| d.borrow().clone());
    if let Some((s, id)) = d {
        s.park(
            id,
            Point {
                name,
                page,
                blocked,
            },
        );
    }
}

/// Acquire a lock whose acquisition is a model step. `waiting` is called
/// first (lock tracking: the model counts a thread at a lock step as
/// waiting for the lock). Undriven threads then block in `blocking`; a
/// driven thread parks, and each grant is one attempt (`try_acquire`); a
/// failed attempt re-parks at the same point, marked blocked.
pub fn acquire<G>(
    name: &'static str,
    try_acquire: impl Fn() -> Option<G>,
    waiting: impl FnOnce(),
    blocking: impl FnOnce() -> G,
) -> G {
    waiting();
    if !driven() {
        return blocking();
    }
    let mut blocked = false;
    loop {
        step_point_blocked(name, None, blocked);
        if let Some(g) = try_acquire() {
            return g;
        }
        blocked = true;
    }
}

/// As [`acquire`], but the first attempt is made at once, inside the step
/// already granted (the model's step that takes the lock is the one the
/// thread is performing, e.g. the copy-out of `error_offset` whose fault
/// takes the invalidate lock); a failed attempt parks at `name`, blocked.
pub fn acquire_now<G>(
    name: &'static str,
    try_acquire: impl Fn() -> Option<G>,
    waiting: impl FnOnce(),
    blocking: impl FnOnce() -> G,
) -> G {
    waiting();
    if !driven() {
        return blocking();
    }
    loop {
        if let Some(g) = try_acquire() {
            return g;
        }
        step_point_blocked(name, None, true);
    }
}

/// For a driven thread: wait, as the model step `name` on `page`, until
/// `ready()`, re-parking blocked, one look per grant (the condition is a
/// lock another driven thread holds across its own step points, such as a
/// folio lock held from a fault's lookup to its PTE install, which the
/// caller then takes without blocking). An undriven thread returns at once
/// and blocks in the lock itself.
pub fn wait_until(name: &'static str, page: Option<usize>, ready: impl Fn() -> bool) {
    if !driven() {
        return;
    }
    while !ready() {
        step_point_blocked(name, page, true);
    }
}

#[cfg(all(test, not(loom), not(feature = "shuttle")))]
mod tests {
    use super::*;

    fn spawn(s: &Arc<Sched>, id: usize, f: impl FnOnce() + Send + 'static) {
        let s2 = s.clone();
        s.launch(id);
        std::thread::spawn(move || {
            s2.enter(id);
            f();
            s2.exit(id, false);
        });
        s.settle(Duration::from_secs(5))
            .expect("reaches its first point");
    }

    #[test]
    fn one_step_per_grant_in_the_order_given() {
        let s = Sched::new(2);
        let log = Arc::new(Mutex::new(Vec::new()));
        for id in 0..2 {
            let l = log.clone();
            spawn(&s, id, move || {
                step_point(START, None);
                l.lock().unwrap().push((id, 1));
                step_point("second", Some(7));
                l.lock().unwrap().push((id, 2));
            });
        }
        assert_eq!(s.parked().len(), 2);
        assert!(log.lock().unwrap().is_empty(), "nobody runs before a grant");
        let t = Duration::from_secs(5);
        let at = s.grant(1, t).unwrap();
        assert!(matches!(at, Status::Parked(p) if p.name == "second" && p.page == Some(7)));
        s.grant(0, t).unwrap();
        assert_eq!(s.grant(0, t).unwrap(), Status::Finished);
        assert_eq!(s.grant(1, t).unwrap(), Status::Finished);
        assert_eq!(*log.lock().unwrap(), vec![(1, 1), (0, 1), (0, 2), (1, 2)]);
        assert_eq!(s.grant(0, t), Err(StepError::NotParked(Status::Finished)));
    }

    #[test]
    fn a_step_that_blocks_outside_a_step_point_is_reported_stuck() {
        let s = Sched::new(1);
        let m = Arc::new(Mutex::new(()));
        let held = m.lock().unwrap();
        let m2 = m.clone();
        spawn(&s, 0, move || {
            step_point(START, None);
            drop(m2.lock().unwrap());
        });
        assert_eq!(
            s.grant(0, Duration::from_millis(200)),
            Err(StepError::Stuck)
        );
        drop(held);
        s.settle(Duration::from_secs(5)).unwrap();
        assert_eq!(s.status(0), Status::Finished);
    }

    #[test]
    fn cancel_unwinds_parked_threads() {
        let s = Sched::new(1);
        let s2 = s.clone();
        s.launch(0);
        let h = std::thread::spawn(move || {
            s2.enter(0);
            let r = std::panic::catch_unwind(|| loop {
                step_point_blocked("forever", None, true);
            });
            s2.exit(0, r.is_err());
            r.err().is_some_and(|e| e.is::<Cancelled>())
        });
        s.settle(Duration::from_secs(5)).unwrap();
        assert!(matches!(s.status(0), Status::Parked(p) if p.name == "forever"));
        s.cancel();
        assert!(h.join().unwrap(), "unwound with the Cancelled payload");
        assert_eq!(s.status(0), Status::Panicked);
    }

    #[test]
    fn a_refused_acquire_re_parks_blocked() {
        let s = Sched::new(1);
        let free = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let f2 = free.clone();
        spawn(&s, 0, move || {
            acquire(
                "lock",
                || f2.load(std::sync::atomic::Ordering::SeqCst).then_some(()),
                || {},
                || unreachable!("driven threads never block"),
            );
        });
        let t = Duration::from_secs(5);
        assert!(matches!(s.status(0), Status::Parked(p) if p.name == "lock" && !p.blocked));
        assert!(
            matches!(s.grant(0, t).unwrap(), Status::Parked(p) if p.name == "lock" && p.blocked)
        );
        free.store(true, std::sync::atomic::Ordering::SeqCst);
        assert_eq!(s.grant(0, t).unwrap(), Status::Finished);
    }
}
