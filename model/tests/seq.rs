//! The sequential layer over the model: each call runs to completion and
//! its outcome is read off the model state.

use invariants::{Attr, GmemView, PropertyId};
use model::config::PinKind;
use model::seq::{Outcome, SeqError, SeqMachine};
use model::Design;

fn safe(m: &SeqMachine) {
    for p in PropertyId::safety() {
        assert!(p.eval(&m.view()), "{} violated", p.name());
    }
}

#[test]
fn pin_blocks_to_private_until_unpinned() {
    let mut m = SeqMachine::new(Design::Inplace, 4, true).unwrap();
    assert_eq!(m.host_write(0, 2).unwrap(), Outcome::Ok);
    let (o, h) = m.pin(PinKind::Longterm, 2, 0).unwrap();
    assert_eq!(o, Outcome::Ok);
    assert_eq!(m.view().page(2).longterm_pins, 1);
    assert_eq!(
        m.convert(0, 4, Attr::Private).unwrap(),
        Outcome::Eagain { error_index: 2 }
    );
    assert_eq!(m.view().page(2).attr, Attr::Shared);
    assert_eq!(m.unpin(h.unwrap()).unwrap(), Outcome::Ok);
    assert_eq!(m.convert(0, 4, Attr::Private).unwrap(), Outcome::Ok);
    assert_eq!(m.host_read(0, 2).unwrap(), Outcome::Sigbus);
    assert_eq!(m.guest_access(2, Attr::Private).unwrap(), Outcome::Ok);
    assert_eq!(
        m.guest_access(1, Attr::Shared).unwrap(),
        Outcome::MemoryFault
    );
    safe(&m);
}

#[test]
fn gup_refused_where_the_design_refuses_it() {
    let mut m = SeqMachine::new(Design::Wait, 2, true).unwrap();
    assert_eq!(m.pin(PinKind::Longterm, 0, 0).unwrap().0, Outcome::Efault);
    let mut m = SeqMachine::new(Design::Pfnmap, 2, true).unwrap();
    assert_eq!(m.host_read(0, 0).unwrap(), Outcome::Ok);
    assert_eq!(m.pin(PinKind::Get, 0, 0).unwrap().0, Outcome::Efault);
    let mut m = SeqMachine::new(Design::Inplace, 2, false).unwrap();
    assert_eq!(m.pin(PinKind::Pin, 0, 0).unwrap().0, Outcome::Efault);
}

#[test]
fn wait_blocks_on_a_short_term_pin() {
    let mut m = SeqMachine::new(Design::Wait, 2, true).unwrap();
    let (_, h) = m.pin(PinKind::Pin, 1, 0).unwrap();
    assert!(h.is_some());
    assert_eq!(m.convert(0, 2, Attr::Private).unwrap(), Outcome::Blocked);
    assert_eq!(m.host_read(0, 0), Err(SeqError::Stuck));
}

#[test]
fn pin_slots_are_reused_and_bounded() {
    let mut m = SeqMachine::new(Design::Inplace, 2, true).unwrap();
    let hs: Vec<_> = (0..3)
        .map(|_| m.pin(PinKind::Get, 0, 1).unwrap().1.unwrap())
        .collect();
    assert_eq!(m.view().page(0).gets, 3);
    assert_eq!(m.pin(PinKind::Get, 0, 0), Err(SeqError::NoFreePinSlot));
    m.unpin(hs[1]).unwrap();
    assert_eq!(m.unpin(hs[1]), Err(SeqError::UnknownPin(hs[1])));
    assert_eq!(m.pin(PinKind::Pin, 1, 0).unwrap().1, Some(hs[1]));
    safe(&m);
}

#[test]
fn punch_close_and_the_pool() {
    let mut m = SeqMachine::new(Design::Split, 2, true).unwrap();
    assert_eq!(m.host_write(0, 0).unwrap(), Outcome::Ok);
    let (_, h) = m.pin(PinKind::Longterm, 1, 0).unwrap();
    assert_eq!(m.punch(0, 2).unwrap(), Outcome::Eagain { error_index: 1 });
    assert!(matches!(m.punch(0, 1), Err(SeqError::Unsupported(_))));
    assert_eq!(m.close().unwrap(), Outcome::Ok);
    assert!(!m.state().gigantic[0].in_pool);
    assert_eq!(m.unpin(h.unwrap()).unwrap(), Outcome::Ok);
    assert!(
        m.state().gigantic[0].in_pool,
        "pool callback ran after the last put"
    );
    assert_eq!(m.convert(0, 1, Attr::Private).unwrap(), Outcome::Ebadf);
    assert_eq!(m.host_read(0, 0).unwrap(), Outcome::Ebadf);
    assert_eq!(m.close().unwrap(), Outcome::Ebadf);
    safe(&m);
}

/// Each scripted call adds to the configuration (a GUP user, a conversion,
/// a guest fault, a punch), and the model's list of actors, made once per
/// configuration, follows it: after every call it is the list a model made
/// afresh from the same configuration would have.
#[test]
fn the_actor_list_follows_the_scripted_calls() {
    let mut m = SeqMachine::new(Design::Inplace, 2, true).unwrap();
    let fresh = |m: &SeqMachine| {
        model::GmemModel::new(m.model().cfg().clone())
            .unwrap()
            .actors()
    };
    let before = m.model().actors();
    assert_eq!(before, fresh(&m));
    assert_eq!(m.host_write(0, 0).unwrap(), Outcome::Ok);
    let (o, h) = m.pin(PinKind::Get, 1, 0).unwrap();
    assert_eq!(o, Outcome::Ok);
    assert_eq!(m.model().actors(), fresh(&m));
    assert_eq!(m.unpin(h.unwrap()).unwrap(), Outcome::Ok);
    assert_eq!(m.convert(0, 2, Attr::Private).unwrap(), Outcome::Ok);
    assert_eq!(m.guest_access(0, Attr::Private).unwrap(), Outcome::Ok);
    assert_eq!(m.punch(0, 2).unwrap(), Outcome::Ok);
    let after = m.model().actors();
    assert_eq!(after, fresh(&m));
    // The calls added a GUP user, the converter, the vCPU and the truncator.
    assert!(after.len() >= before.len() + 4, "{before:?} -> {after:?}");
    safe(&m);
}
