//! The search's fast paths on the real model agree with the plain ones:
//! `search::InPlace::evaluate` (every property of a state on one shared,
//! caching view) gives each property's own condition, and
//! `apply_in_place` gives `next_state`, on the states of every gate row.

use model::gate::{load_dir, Pass};
use model::GmemModel;
use search::InPlace;
use stateright::Model;

#[test]
fn batch_evaluation_and_in_place_steps_agree_on_every_row() {
    let configs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs");
    let rows = load_dir(&configs).expect("configs/ loads");
    let mut checked = 0;
    for g in rows.iter().filter(|g| g.pass == Pass::Safety) {
        let m = GmemModel::new(g.cfg.clone()).unwrap();
        let props = m.properties();
        let keys = m.property_keys(&props);
        assert!(
            keys.iter().all(|&k| k != usize::MAX),
            "{}: every property is a PropertyId",
            g.name
        );
        let all: Vec<usize> = (0..props.len()).collect();
        let mut actions = Vec::new();
        for s in m.bfs_states(1500) {
            // Every property, and every other one (a batch with gaps, as
            // after discoveries): the same answers as the conditions.
            for pending in [all.clone(), all.iter().copied().step_by(2).collect()] {
                let mut got = Vec::new();
                m.evaluate(&s, &props, &keys, &pending, &mut |i, holds| {
                    got.push((i, holds))
                });
                let want: Vec<(usize, bool)> = pending
                    .iter()
                    .map(|&i| (i, (props[i].condition)(&m, &s)))
                    .collect();
                assert_eq!(got, want, "{}: {s:?}", g.name);
            }
            actions.clear();
            m.actions(&s, &mut actions);
            for &a in &actions {
                let mut slot = s;
                let ok = m.next_state_in_place(&s, &mut slot, a);
                match m.next_state(&s, a) {
                    Some(n) => assert!(ok && slot == n, "{}: {a:?}", g.name),
                    None => assert!(!ok, "{}: {a:?}", g.name),
                }
            }
            checked += 1;
        }
    }
    assert!(checked > 10_000, "{checked} states checked");
}
