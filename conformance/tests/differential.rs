//! The differential test: for every design whose sequential semantics are
//! meant to agree, random histories run on the model and the
//! implementation side by side (see the crate documentation for what is
//! compared and where the generator is restricted). A failure shrinks to a
//! minimal history, which is also written to `regressions/found-<design>.json`.
//!
//! Bounded by default (`PROPTEST_CASES`, default 256 per design); the long
//! run is `PROPTEST_CASES=10000 cargo test --release -p conformance`.

use conformance::{gen, run, save_failure, History};
use model::Design;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

const MAX_OPS: usize = 12;

fn check(d: Design) {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(256);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let r = runner.run(&gen::history(d, MAX_OPS), |h: History| {
        if let Err(m) = run(&h) {
            save_failure(&h, &m);
            prop_assert!(
                false,
                "{m}\nhistory: {}",
                serde_json::to_string(&h).unwrap()
            );
        }
        Ok(())
    });
    if let Err(e) = r {
        panic!("design {d}: {e}");
    }
}

#[test]
fn inplace() {
    check(Design::Inplace);
}

#[test]
fn wait() {
    check(Design::Wait);
}

#[test]
fn split() {
    check(Design::Split);
}

#[test]
fn pfnmap() {
    check(Design::Pfnmap);
}

#[test]
fn huge_whole() {
    check(Design::HugeWhole);
}

#[test]
fn no_direct_map() {
    check(Design::NoDirectMap);
}
