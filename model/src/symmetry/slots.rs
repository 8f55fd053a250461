//! Folio slots are names, not places, in the designs with small folios.
//!
//! `mm::alloc()` takes the lowest never-used slot of the folio arena and
//! no slot ever becomes unused again (a freed folio stays `Freed`), so the
//! used slots are always a prefix of the arena. Nothing else reads a slot
//! number: steps and properties compare slots for equality and look
//! folios up by them (`lru_add_drain_all()` visits every slot, but what it
//! does to each does not depend on the others). So renaming the used slots
//! among themselves maps every state to one that behaves the same, step
//! for step, and satisfies the same properties: the order in which pages
//! happened to be allocated is forgotten.
//!
//! Not in the huge designs: there, slots are places (`mm::WHOLE`,
//! `mm::sub_slot`, `mm::whole_slot`), and a gigantic-page renaming moves
//! them as a block (`crate::symmetry::group`).

use super::relabel::{relabel, slot_refs, Maps};
use crate::config::Design;
use crate::state::*;

/// Does design `d` allocate its folio slots by `mm::alloc()`'s lowest
/// unused slot, with no slot carrying a meaning?
pub fn renamable(d: Design) -> bool {
    !d.is_huge()
}

/// An order on folio contents (no slot numbers in a folio), for the slots
/// no reference names.
fn key(f: &Folio) -> (u8, bool, u8, i32, i32, bool, bool, u8, bool) {
    let Folio {
        state,
        large,
        index,
        refcount,
        pincount,
        frozen,
        lru,
        hw_private,
        poisoned,
    } = *f;
    let st = match state {
        FolioState::Unused => 0,
        FolioState::PageCache => 1,
        FolioState::Orphaned => 2,
        FolioState::Gone => 3,
        FolioState::Freed => 4,
    };
    (
        st, large, index, refcount, pincount, frozen, lru, hw_private, poisoned,
    )
}

/// The state with its used slots renamed 0, 1, 2... in the order in which
/// the state first refers to them (page by page, then actor by actor:
/// [`slot_refs`]); slots nothing refers to come last, ordered by content.
///
/// The result depends only on the state up to a renaming of used slots:
/// two states that differ only by such a renaming give the same result
/// (positions do not depend on slot numbers, and unreferenced slots with
/// equal contents are interchangeable). Whatever the state, the result is
/// a renaming of it, which is all soundness needs; canonicity is what
/// makes the reduction large.
pub fn canonical(st: &State) -> State {
    let used = st
        .folios
        .iter()
        .rposition(|f| f.state != FolioState::Unused)
        .map_or(0, |i| i + 1);
    const NONE: u8 = u8::MAX;
    let mut name = [NONE; MAX_FOLIOS];
    let mut next = 0u8;
    slot_refs(st, &mut |s| {
        let s = s as usize;
        if s < used && name[s] == NONE {
            name[s] = next;
            next += 1;
        }
    });
    // No allocation: this runs on every generated state.
    let mut rest = [0usize; MAX_FOLIOS];
    let mut n = 0;
    for s in (0..used).filter(|&s| name[s] == NONE) {
        rest[n] = s;
        n += 1;
    }
    rest[..n].sort_unstable_by_key(|&s| key(&st.folios[s]));
    for &s in &rest[..n] {
        name[s] = next;
        next += 1;
    }
    if (0..used).all(|s| name[s] as usize == s) {
        // Already in canonical order (the common case): no renaming.
        return *st;
    }
    let mut m = Maps::identity();
    for (s, n) in name.iter().enumerate().take(used) {
        m.slots[s] = *n;
    }
    relabel(st, &m)
}
