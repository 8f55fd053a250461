//! Symmetry reduction for the safety search (`check --symmetry`).
//!
//! A configuration's symmetries ([`group`]) rename pages, gigantic pages,
//! processes, GUP users and VMs without changing what the model can do or
//! what any property says; in the designs with small folios the folio
//! slots are names too ([`slots`]). [`Symmetry::canonical`] maps a state to
//! the smallest, by its encoding (`State::encoding`), of its renamings: the search then
//! keeps one state per orbit. Why this is sound, which configurations get
//! which symmetries, and the measured reduction: docs/scale.md, "Symmetry
//! reduction".
//!
//! Liveness is not reduced (the lasso search runs on the full graph).

pub mod group;
pub mod relabel;
pub mod slots;

use crate::config::Config;
use crate::state::State;
pub use group::Perm;
use relabel::Maps;

/// The reduction of one configuration: its symmetry group and whether
/// folio slots are renamed.
#[derive(Clone, Debug)]
pub struct Symmetry {
    perms: Vec<Perm>,
    /// `perms[i]`'s renaming of state indices (identity first).
    maps: Vec<Maps>,
    rename_slots: bool,
}

impl Symmetry {
    /// The symmetries of `cfg` (never fewer than the identity).
    pub fn of(cfg: &Config) -> Symmetry {
        let perms = group::automorphisms(cfg);
        let maps = perms.iter().map(|p| p.maps(cfg)).collect();
        Symmetry {
            perms,
            maps,
            rename_slots: slots::renamable(cfg.design),
        }
    }

    /// No reduction at all: the identity only, slots kept.
    pub fn none() -> Symmetry {
        Symmetry {
            perms: vec![Perm::identity()],
            maps: vec![Maps::identity()],
            rename_slots: false,
        }
    }

    /// The group's elements, the identity first.
    pub fn perms(&self) -> &[Perm] {
        &self.perms
    }

    /// The order of the group of page/actor renamings (slot renaming
    /// not counted).
    pub fn order(&self) -> usize {
        self.perms.len()
    }

    pub fn renames_slots(&self) -> bool {
        self.rename_slots
    }

    /// Does the reduction change nothing (`canonical` is the identity)?
    pub fn is_trivial(&self) -> bool {
        self.order() == 1 && !self.rename_slots
    }

    /// One line: `group of order 2 (processes (0 1)); folio slots renamed`.
    pub fn describe(&self) -> String {
        let elems: Vec<String> = self
            .perms
            .iter()
            .filter(|p| !p.is_identity())
            .map(Perm::describe)
            .collect();
        let group = if elems.is_empty() {
            "group of order 1 (no page, gigantic page, process, GUP user or VM is interchangeable)"
                .to_string()
        } else {
            format!("group of order {} ({})", self.order(), elems.join("; "))
        };
        let slots = if self.rename_slots {
            "folio slots renamed"
        } else {
            "folio slots kept (huge design: slots are places)"
        };
        format!("{group}; {slots}")
    }

    /// The representative of `st`'s orbit: the renaming of `st` by a group
    /// element (then, in the 4K designs, by `slots::canonical`) whose
    /// encoding is smallest. Always a renaming of `st`.
    pub fn canonical(&self, st: &State) -> State {
        if self.is_trivial() {
            return *st;
        }
        if self.maps.len() == 1 {
            return slots::canonical(st);
        }
        let mut best: Option<State> = None;
        for (i, m) in self.maps.iter().enumerate() {
            let t = if i == 0 { *st } else { relabel::relabel(st, m) };
            let t = if self.rename_slots {
                slots::canonical(&t)
            } else {
                t
            };
            if best.as_ref().is_none_or(|b| t.encoding() < b.encoding()) {
                best = Some(t);
            }
        }
        best.unwrap_or(*st)
    }

    /// `st` renamed by group element `i` (no slot renaming): for tests
    /// and for checking that a renaming is a symmetry.
    pub fn apply(&self, i: usize, st: &State) -> State {
        relabel::relabel(st, &self.maps[i])
    }
}

#[cfg(test)]
mod tests;
