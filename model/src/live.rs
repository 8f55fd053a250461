//! Fairness for the liveness pass: every actor is weakly fair for the steps
//! of an operation it has started ("an actor that can always finish what it
//! started": faults complete, short-term pins drop, the converter runs, the
//! LRU drains when the converter asks). Starting a new operation is the
//! environment's choice and is not fair. A long-term pin held forever simply
//! has no release step, so fairness cannot force it.
//!
//! One step is strongly fair instead: a converter thread's
//! `filemap_invalidate_lock()` (`down_write()` of the inode's rw-semaphore).
//! A waiter queued in `rwsem_down_write_slowpath()` that has waited longer
//! than `RWSEM_WAIT_TIMEOUT` sets `RWSEM_FLAG_HANDOFF`, after which no other
//! task can steal the lock from it (`rwsem_try_write_lock()`,
//! `kernel/locking/rwsem.c`): a writer whose lock is free again and again
//! gets it. Under weak fairness alone, a second converter thread retrying
//! its conversion would take the lock at every release forever, starving
//! the first, which the kernel's handoff rules out.

use crate::actors::{Action, Actor};
use crate::config::{Design, MAX_CONVERTERS};
use crate::model::GmemModel;
use crate::properties;
use crate::state::{ConvPc, State};
use invariants::PropertyId;
use liveness::{FairClass, FairModel, FairnessDecl, Options, Report};

/// The strongly fair class of converter thread `k`'s lock acquisition
/// (above the thread ids, which name the weakly fair classes).
fn lock_class(k: u8) -> FairClass {
    32 + k as FairClass
}

impl FairModel for GmemModel {
    fn fairness_class(&self, st: &State, action: &Action) -> Option<FairClass> {
        match action {
            Action::Start(_) => None,
            Action::Step(Actor::Converter(k))
                if st.conv[*k as usize % MAX_CONVERTERS].pc.get() == ConvPc::Lock =>
            {
                Some(lock_class(*k))
            }
            Action::Step(a) => Some(a.tid() as FairClass),
        }
    }

    fn fairness_decls(&self) -> Vec<FairnessDecl> {
        let mut v: Vec<FairnessDecl> = self
            .actors()
            .into_iter()
            .map(|a| FairnessDecl::weak(a.tid() as FairClass, format!("WF({a})")))
            .collect();
        // The exclusive-pin RFC's donation takes no invalidate lock.
        let locks = self.cfg().design != Design::ExclusivePin;
        v.extend(self.cfg().converters().filter(|_| locks).map(|k| {
            FairnessDecl::strong(
                lock_class(k),
                format!("SF({}: filemap_invalidate_lock())", Actor::Converter(k)),
            )
        }));
        v
    }
}

/// Check one liveness property: no fair behaviour stays pending forever.
pub fn check(m: &GmemModel, id: PropertyId, opts: &Options) -> Report<State, Action> {
    liveness::check(m, |s| properties::eval(m, s, id), opts)
}
