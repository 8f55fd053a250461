//! Two converter threads (`conversions[i].converter`): the calls serialise
//! on the invalidate lock; what each call did is judged on its own
//! snapshots; the liveness properties about "the conversion" are promises
//! to each thread; and a thread waiting for the lock is not starved by the
//! other's retries (the rw-semaphore's handoff, a strongly fair step).

use invariants::{ConvResult, PropertyId};
use liveness::{FairClass, FairModel, FairnessDecl, Options, Verdict};
use model::config::{ConvOp, GupPath, PinKind, PinnerCfg};
use model::state::{ConvPc, State};
use model::{properties, Action, Actor, Config, Design, GmemModel};
use stateright::Model;

fn op(start: u8, pages: u8, converter: u8) -> ConvOp {
    ConvOp {
        start,
        pages,
        to: invariants::Attr::Private,
        converter,
    }
}

fn run(m: &GmemModel, actions: &[Action]) -> State {
    let mut st = m.init_state();
    for (i, &a) in actions.iter().enumerate() {
        st = m
            .apply(&st, a)
            .unwrap_or_else(|| panic!("step {i} ({a:?}) is not enabled"));
    }
    st
}

/// Thread 0 enters its ioctl; thread 1 converts page 1 to private start to
/// finish; then thread 0's call fails -ENOMEM. Its range changed between
/// its entry and its return, but not while it held the lock: the call
/// changed nothing, and conversion_atomic holds.
#[test]
fn a_call_is_judged_on_what_it_did_under_the_lock() {
    let mut c = Config::empty(Design::Inplace, 2);
    c.conversions = vec![op(0, 2, 0), op(1, 1, 1)];
    c.enomem = true;
    let m = GmemModel::new(c).expect("valid");
    let (c0, c1) = (Actor::Converter(0), Actor::Converter(1));
    let mut path = vec![Action::Start(c0), Action::Start(c1)];
    // Thread 1: lock, preallocate, unmap, invalidate, store, end.
    path.extend([Action::Step(c1); 6]);
    // Thread 0: lock, then the allocation fails.
    path.extend([Action::Step(c0), Action::Start(Actor::AllocFail)]);
    let st = run(&m, &path);
    assert!(st.pages[1].private && !st.pages[0].private);
    assert_eq!(st.conv[1].result.get(), Some(ConvResult::Ok));
    assert_eq!(
        st.conv[0].result.get(),
        Some(ConvResult::Enomem { error_index: 0 })
    );
    // Snapshots from under the lock: page 1 was already private.
    assert_eq!((st.conv[0].before, st.conv[0].after), (0b10, 0b10));
    assert!(properties::eval(&m, &st, PropertyId::ConversionAtomic));
    // A snapshot taken at the ioctl's entry (both pages shared) would have
    // called this call non-atomic.
    let mut at_entry = st;
    at_entry.conv[0].before = 0;
    assert!(!properties::eval(
        &m,
        &at_entry,
        PropertyId::ConversionAtomic
    ));
}

/// The lock is exclusive between the threads: no reachable state has both
/// past their lock step and before their unlock.
#[test]
fn the_two_calls_serialise_on_the_invalidate_lock() {
    let row = model::gate::load_file(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../configs/inplace@two_converters.json"),
    )
    .expect("row loads");
    let m = GmemModel::new(row.cfg).expect("valid");
    let locked = |st: &State, k: usize| {
        st.invalidate_lock.writer.get() == Some(model::actors::converter::tid(k))
    };
    let mut seen = std::collections::HashSet::new();
    let mut todo = vec![m.init_state()];
    let (mut both_in, mut one_waits) = (false, false);
    while let Some(st) = todo.pop() {
        if !seen.insert(st) {
            continue;
        }
        both_in |= locked(&st, 0) && locked(&st, 1);
        one_waits |= (locked(&st, 0) && st.conv[1].pc.get() == ConvPc::Lock)
            || (locked(&st, 1) && st.conv[0].pc.get() == ConvPc::Lock);
        let mut acts = Vec::new();
        m.actions(&st, &mut acts);
        todo.extend(acts.into_iter().filter_map(|a| m.next_state(&st, a)));
    }
    assert!(!both_in, "both threads hold the invalidate lock");
    assert!(
        one_waits,
        "no state has a thread waiting for the other's lock"
    );
}

/// Two threads retrying conversions that a pin held forever makes fail:
/// "some conversion is in progress" holds forever on a fair loop (the
/// threads take turns inside the ioctl), while each thread's own call
/// returns again and again. conversion_completes is checked per thread.
#[test]
fn conversion_completes_is_a_promise_to_each_thread() {
    let mut c = Config::empty(Design::Inplace, 2);
    c.pinners = vec![PinnerCfg {
        kind: PinKind::Longterm,
        path: GupPath::Slow,
        page: 0,
        proc: 0,
        hold_forever: true,
        repeat: false,
        vfio: false,
    }];
    c.conversions = vec![op(0, 2, 0), op(0, 1, 1)];
    c.retry_until_ok = true;
    let m = GmemModel::new(c).expect("valid");
    let id = PropertyId::ConversionCompletes;
    assert_eq!(properties::pending_scopes(m.cfg(), id), [Some(0), Some(1)]);
    let opts = Options::default();
    let any = liveness::check(&m, |s| properties::eval_in(&m, s, id, None), &opts);
    assert!(
        matches!(any.verdict, Verdict::Violated(_)),
        "some thread is always inside the ioctl on a fair loop"
    );
    for k in 0..2 {
        let each = liveness::check(&m, |s| properties::eval_in(&m, s, id, Some(k)), &opts);
        assert!(matches!(each.verdict, Verdict::Holds), "thread {k}");
    }
}

/// The same two threads under weak fairness only (the lock step no
/// stronger than any other step): the retrying thread takes the lock at
/// every release and the waiting thread's call never returns. The
/// rw-semaphore's handoff (RWSEM_FLAG_HANDOFF) is what rules that out.
#[test]
fn without_the_lock_handoff_a_retrying_thread_starves_the_other() {
    struct WeakOnly(GmemModel);
    impl Model for WeakOnly {
        type State = State;
        type Action = Action;
        fn init_states(&self) -> Vec<State> {
            self.0.init_states()
        }
        fn actions(&self, s: &State, a: &mut Vec<Action>) {
            self.0.actions(s, a)
        }
        fn next_state(&self, s: &State, a: Action) -> Option<State> {
            self.0.next_state(s, a)
        }
    }
    impl liveness::InPlace for WeakOnly {}
    impl FairModel for WeakOnly {
        fn fairness_class(&self, _: &State, a: &Action) -> Option<FairClass> {
            match a {
                Action::Start(_) => None,
                Action::Step(x) => Some(x.tid() as FairClass),
            }
        }
        fn fairness_decls(&self) -> Vec<FairnessDecl> {
            self.0
                .actors()
                .into_iter()
                .map(|a| FairnessDecl::weak(a.tid() as FairClass, format!("WF({a})")))
                .collect()
        }
    }
    let row = model::gate::load_file(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../configs/inplace@two_converters_pinned.json"),
    )
    .expect("row loads");
    let m = GmemModel::new(row.cfg).expect("valid");
    let id = PropertyId::ConversionCompletes;
    let opts = Options::default();
    let weak = WeakOnly(m.clone());
    let starved = (0..2).any(|k| {
        let r = liveness::check(&weak, |s| properties::eval_in(&m, s, id, Some(k)), &opts);
        matches!(r.verdict, Verdict::Violated(_))
    });
    assert!(
        starved,
        "weak fairness alone lets one thread starve the other"
    );
    for k in 0..2 {
        let r = liveness::check(&m, |s| properties::eval_in(&m, s, id, Some(k)), &opts);
        assert!(matches!(r.verdict, Verdict::Holds), "thread {k}");
    }
}
