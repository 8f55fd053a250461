//! Fairness declarations, and their dense internal numbering.

use serde::Serialize;

/// Identifier of a fairness class, chosen by the model (e.g. one per actor or thread).
pub type FairClass = u16;

/// The kind of fairness assumed for a class.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum Fairness {
    /// `WF`: a class that stays enabled forever is eventually taken.
    Weak,
    /// `SF`: a class that is enabled infinitely often (even intermittently) is eventually
    /// taken.
    Strong,
}

/// One fairness assumption: every action whose [`FairModel::fairness_class`] is `class`
/// together forms one TLA+-style action `A`, and the behaviour is assumed `WF(A)` or `SF(A)`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct FairnessDecl {
    pub class: FairClass,
    /// Human-readable name, used in reports ("ReleasePin(h0)").
    pub name: String,
    pub kind: Fairness,
}

impl FairnessDecl {
    pub fn weak(class: FairClass, name: impl Into<String>) -> Self {
        FairnessDecl {
            class,
            name: name.into(),
            kind: Fairness::Weak,
        }
    }

    pub fn strong(class: FairClass, name: impl Into<String>) -> Self {
        FairnessDecl {
            class,
            name: name.into(),
            kind: Fairness::Strong,
        }
    }
}

/// A Stateright model plus the fairness assumptions under which liveness is checked.
///
/// Fairness only *removes* behaviours: an action with no class (`None`) may be taken or
/// not, at the model's whim. Without fairness on the actor that completes a request, "the
/// actor never runs" is a genuine counterexample, so declare every actor that can always
/// finish what it started.
///
/// The compact engine steps successors in place ([`search::InPlace`]: one copy of the
/// state per action); a model without an in-place step implements it with an empty `impl`.
pub trait FairModel: search::InPlace {
    /// The fairness class of `action` taken in `state`, or `None` if the action is not
    /// fair. The class may depend on the state: one actor's steps can fall under different
    /// assumptions (e.g. weak fairness for its work, strong fairness for acquiring a lock
    /// that hands off to waiters).
    ///
    /// Every returned class must appear in [`fairness_decls`](Self::fairness_decls).
    fn fairness_class(&self, state: &Self::State, action: &Self::Action) -> Option<FairClass>;

    /// The declared fairness classes. Reports list witnesses in this order.
    fn fairness_decls(&self) -> Vec<FairnessDecl>;
}

/// Sentinel dense index for "no fairness class".
pub(crate) const NO_CLASS: u16 = u16::MAX;

/// The declarations, numbered densely `0..len()` so that per-state sets of classes are
/// small bitsets.
pub(crate) struct Classes {
    decls: Vec<FairnessDecl>,
    /// `dense[class]`: the dense index of `class`, or `NO_CLASS` for an undeclared one (a
    /// table, not a map: it is consulted once per generated transition).
    dense: Vec<u16>,
}

impl Classes {
    /// Panics on a duplicate class: a model bug that would make the verdict meaningless.
    pub(crate) fn new(decls: Vec<FairnessDecl>) -> Self {
        assert!(decls.len() < NO_CLASS as usize, "too many fairness classes");
        let top = decls
            .iter()
            .map(|d| d.class as usize + 1)
            .max()
            .unwrap_or(0);
        let mut dense = vec![NO_CLASS; top];
        for (i, d) in decls.iter().enumerate() {
            let slot = &mut dense[d.class as usize];
            assert!(
                *slot == NO_CLASS,
                "fairness class {} declared twice",
                d.class
            );
            *slot = i as u16;
        }
        Classes { decls, dense }
    }

    pub(crate) fn len(&self) -> usize {
        self.decls.len()
    }

    /// Number of [`Word`]s in a bitset over the classes.
    pub(crate) fn words(&self) -> usize {
        self.len().div_ceil(Word::BITS as usize)
    }

    pub(crate) fn decl(&self, dense: u16) -> &FairnessDecl {
        &self.decls[dense as usize]
    }

    /// Panics on an undeclared class, rather than silently treating the action as unfair.
    pub(crate) fn dense(&self, class: Option<FairClass>) -> u16 {
        match class {
            None => NO_CLASS,
            Some(c) => match self.dense.get(c as usize) {
                Some(&d) if d != NO_CLASS => d,
                _ => panic!("fairness class {c} is returned by fairness_class but not declared"),
            },
        }
    }

    /// Dense indices of all classes, in declaration order.
    pub(crate) fn all(&self) -> impl Iterator<Item = u16> {
        0..self.len() as u16
    }
}

/// A word of a bitset over classes: 32 bits, so a model with up to 32 fairness classes
/// (one per actor and lock) spends 4 bytes per state on the classes enabled there.
pub(crate) type Word = u32;

const BITS: usize = Word::BITS as usize;

/// Bitset helpers over `&[Word]`, indexed by dense class.
pub(crate) fn has(bits: &[Word], class: u16) -> bool {
    let c = class as usize;
    bits[c / BITS] >> (c % BITS) & 1 == 1
}

pub(crate) fn set(bits: &mut [Word], class: u16) {
    let c = class as usize;
    bits[c / BITS] |= 1 << (c % BITS);
}
