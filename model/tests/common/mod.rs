//! Helpers shared by the model's integration tests (each test file uses
//! some of them).
#![allow(dead_code)]

use invariants::{Kind, PropertyId};
use model::{Config, GmemModel};
use stateright::{Checker, Model};
use std::path::{Path, PathBuf};

/// `configs/NAME.json`.
pub fn row_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../configs/{name}.json"))
}

/// A gate row's configuration, from `configs/NAME.json`.
pub fn row(name: &str) -> Config {
    model::gate::load_file(&row_file(name))
        .unwrap_or_else(|e| panic!("{e}"))
        .cfg
}

/// What an exhaustive Stateright search of a configuration found.
pub struct Outcome {
    pub unique: usize,
    pub violated: Vec<&'static str>,
    pub missing_examples: Vec<&'static str>,
}

/// Search every state of `cfg` (Stateright's own DFS, one thread).
pub fn run(cfg: Config) -> Outcome {
    let m = GmemModel::new(cfg).expect("valid config");
    let props = m.properties();
    assert!(
        !props.is_empty(),
        "a model with no properties explores nothing"
    );
    let c = m.clone().checker().threads(1).spawn_dfs().join();
    assert!(c.is_done());
    let mut o = Outcome {
        unique: c.unique_state_count(),
        violated: vec![],
        missing_examples: vec![],
    };
    for p in props {
        let found = c.discovery(p.name).is_some();
        match PropertyId::by_name(p.name).map(|id| id.kind()) {
            Some(Kind::Safety) if found => o.violated.push(p.name),
            Some(Kind::Sanity) if !found => o.missing_examples.push(p.name),
            _ => {}
        }
    }
    o
}
