//! # model
//!
//! The Stateright model of guest_memfd shared/private conversion: pages
//! (attribute, page-cache folio, host PTEs, stage-2 entry), folios (the
//! kernel's `_refcount`/`_pincount`, freeze, LRU batch), the gigantic page
//! of the huge designs, the invalidate lock, and one thread per actor (the
//! converter, host processes, GUP users, a vCPU, truncation, populate, a
//! speculative PFN walker). Every [`Action`] is one atomic kernel step.
//!
//! The designs and bug switches of `docs/designs.md` are
//! [`Design`] and [`Bug`]; the properties are the `invariants` crate's,
//! evaluated through [`view::View`].
//!
//! Its place in the whole: `checker` checks this model (Stateright's search
//! for safety and sanity, the `liveness` crate's lasso search through
//! [`live`]) on the configurations of [`gate`], prints traces with
//! [`describe`], writes them as ITF ([`itf`]) and draws them as SVG sequence
//! diagrams ([`svg`], also shown by the explorer). `conformance` drives the
//! run-to-completion layer [`seq`] side by side with the concrete
//! implementation (`guest_memfd`), so the model and the code answer the same
//! questions.

pub mod actors;
pub mod coded;
pub mod config;
pub mod describe;
pub mod gate;
pub mod itf;
pub mod live;
pub mod mm;
pub mod model;
pub mod properties;
pub mod seq;
pub mod state;
pub mod svg;
pub mod symmetry;
pub mod view;

pub use actors::{Action, Actor};
pub use config::{Bug, BugSet, Config, ConfigError, Design};
pub use model::GmemModel;
pub use state::State;
