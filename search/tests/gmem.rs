//! The search against Stateright's own DFS on the real model: the same
//! unique and generated counts, and the same discoveries, on the peer
//! configurations and the smaller safety gate rows.

use model::gate::{load_dir, peer_config, Pass};
use model::{Bug, Design, GmemModel};
use stateright::{Checker, Model};
use std::collections::BTreeSet;

fn compare(name: &str, m: &GmemModel) {
    let sr = m.clone().checker().spawn_dfs().join();
    let sr_found: BTreeSet<&str> = sr.discoveries().into_keys().collect();
    for threads in [1, 2] {
        let o = search::run(
            m,
            &search::Options {
                threads,
                ..Default::default()
            },
        )
        .unwrap();
        let found: BTreeSet<&str> = o.discoveries.keys().copied().collect();
        assert_eq!(found, sr_found, "{name}: discoveries, {threads} threads");
        assert!(o.is_complete(), "{name}");
        if o.end == search::End::Exhausted {
            // Both explored the whole graph (Stateright too: some property
            // was left undiscovered).
            assert_eq!(
                (o.unique, o.generated),
                (sr.unique_state_count(), sr.state_count()),
                "{name}: counts, {threads} threads"
            );
        }
        for (p, d) in &o.discoveries {
            let holds = m
                .properties()
                .iter()
                .find(|q| q.name == *p)
                .map(|q| (q.condition)(m, d.last_state().unwrap()));
            let always = m
                .properties()
                .iter()
                .any(|q| q.name == *p && q.expectation == stateright::Expectation::Always);
            assert_eq!(holds, Some(!always), "{name}: {p} at the end of its path");
        }
    }
}

#[test]
fn peer_configurations() {
    for (d, b) in [
        (Design::Inplace, None),
        (Design::HugeWhole, None),
        (Design::Inplace, Some(Bug::GupFastNoRecheck)),
        (Design::Inplace, Some(Bug::CheckBeforeUnmap)),
    ] {
        let m = GmemModel::new(peer_config(d, b)).unwrap();
        compare(&format!("peer {d:?} {b:?}"), &m);
    }
    // The peers' published counts.
    let m = GmemModel::new(peer_config(Design::Inplace, None)).unwrap();
    let o = search::run(&m, &Default::default()).unwrap();
    assert_eq!((o.unique, o.generated), (403, 807));
}

#[test]
fn small_gate_rows() {
    let mut compared = Vec::new();
    let configs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs");
    for g in load_dir(&configs)
        .expect("configs/ loads")
        .into_iter()
        .filter(|g| g.pass == Pass::Safety)
    {
        let m = GmemModel::new(g.cfg.clone()).unwrap();
        // Rows up to ~30k states (pfnmap and the bug rows); the large
        // design rows are the benchmark's.
        let probe = search::run(
            &m,
            &search::Options {
                threads: 1,
                max_states: Some(200_000),
                timeout: None,
                ..Default::default()
            },
        )
        .unwrap();
        if probe.is_complete() {
            compare(&g.name, &m);
            compared.push(g.name);
        }
    }
    assert!(compared.iter().any(|n| n == "pfnmap"), "{compared:?}");
    assert!(compared.len() >= 10, "{compared:?}");
}
