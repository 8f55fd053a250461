//! # invariants
//!
//! The properties gmem-verify checks, written once. The Stateright model
//! (`model`) and the concrete implementation (`guest_memfd`) both implement
//! [`GmemView`]; every safety, sanity and liveness property of
//! `docs/properties.md` is a predicate over that view ([`PropertyId::eval`]), so a
//! verdict on the model and a check on the implementation are about the same
//! sentence. This crate depends on nothing of ours.

pub mod bugs;
pub mod designs;
pub mod props;
pub mod view;

pub use bugs::Bug;
pub use designs::Design;
pub use props::*;
pub use view::*;
