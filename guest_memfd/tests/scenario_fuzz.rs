//! Bounded fuzzing of the scenario parser and runner (proptest): arbitrary
//! bytes, and mutations of the committed scenario files, never panic; a bad
//! file is a `ScenarioError`, a good one runs to a report.
//!
//! PROPTEST_CASES (default 256 here) sets the cases per test.

use guest_memfd::scenario::{parse::parse, run_scenario};
use proptest::prelude::*;
use serde_json::Value;
use std::path::PathBuf;

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

fn corpus() -> Vec<Value> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("scenarios directory")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| serde_json::from_str(&std::fs::read_to_string(p).expect("read")).expect("json"))
        .collect()
}

/// A replacement value: the shapes a careless or hostile file would hold.
fn wild() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<u64>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (0u64..8).prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        "[a-z_]{0,12}".prop_map(Value::from),
        prop_oneof![
            Just("private"),
            Just("shared"),
            Just("convert"),
            Just("join"),
            Just("EAGAIN"),
            Just("p0"),
            Just("t1"),
            Just("d"),
            Just("device_write"),
            Just("host_access_only_shared"),
        ]
        .prop_map(Value::from),
        Just(Value::Array(vec![])),
        Just(serde_json::json!({})),
    ]
}

/// One edit at a path chosen by `pick` (a walk down the tree): replace a
/// value, drop an object key, duplicate or drop an array element.
#[derive(Clone, Debug)]
enum Edit {
    Replace(Value),
    DropKey,
    Duplicate,
    DropElem,
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        4 => wild().prop_map(Edit::Replace),
        1 => Just(Edit::DropKey),
        1 => Just(Edit::Duplicate),
        1 => Just(Edit::DropElem),
    ]
}

fn apply(v: &mut Value, mut pick: u64, e: &Edit) {
    // Descend while there are children, using `pick` as a source of choices.
    let len = match v {
        Value::Object(m) => m.len(),
        Value::Array(a) => a.len(),
        _ => 0,
    };
    let stop = len == 0 || pick.is_multiple_of(4);
    pick /= 4;
    if stop {
        if let Edit::Replace(x) = e {
            *v = x.clone();
        }
        return;
    }
    let k = (pick % len as u64) as usize;
    pick /= len as u64;
    match v {
        Value::Object(m) => {
            let key = m.keys().nth(k).cloned().unwrap_or_default();
            if matches!(e, Edit::DropKey) && pick.is_multiple_of(3) {
                m.remove(&key);
                return;
            }
            if let Some(c) = m.get_mut(&key) {
                apply(c, pick, e);
            }
        }
        Value::Array(a) => {
            match e {
                Edit::Duplicate if pick.is_multiple_of(3) => {
                    let c = a[k].clone();
                    a.insert(k, c);
                    return;
                }
                Edit::DropElem if pick.is_multiple_of(3) => {
                    a.remove(k);
                    return;
                }
                _ => {}
            }
            apply(&mut a[k], pick, e);
        }
        _ => {}
    }
}

/// Small enough to run in a fuzz case: a few pages, no design `wait`
/// (whose conversions may sleep until their timeout), no background threads.
fn cheap(sc: &guest_memfd::scenario::parse::Scenario) -> bool {
    sc.config.nr_pages <= 16
        && sc.config.map_pages <= 64
        && sc.config.design != guest_memfd::Design::Wait
        && sc.steps.iter().all(|s| s.background.is_none())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    /// Arbitrary bytes: an error, never a panic.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let text = String::from_utf8_lossy(&bytes);
        let _ = parse("fuzz.json", &text);
    }

    /// Arbitrary JSON-ish text built from scenario tokens.
    #[test]
    fn token_soup_never_panics(toks in proptest::collection::vec(prop_oneof![
        Just("{"), Just("}"), Just("["), Just("]"), Just(","), Just(":"),
        Just("\"op\""), Just("\"steps\""), Just("\"gmem\""), Just("\"pages\""),
        Just("\"design\""), Just("\"inplace\""), Just("4"), Just("-1"),
        Just("1e400"), Just("\"convert\""), Just("null"),
        Just("\"odp_map\""), Just("\"vfio_map_dma\""), Just("\"id\""),
        Just("\"violates\""), Just("\"direct_map\""), Just("\"reserved_pfns\""),
    ], 0..64)) {
        let _ = parse("fuzz.json", &toks.concat());
    }

    /// A committed scenario with up to three edits: parsing gives a
    /// scenario or an error naming the file; a cheap scenario then runs to
    /// a report or an error, without panicking.
    #[test]
    fn mutated_scenarios_never_panic(
        which in any::<prop::sample::Index>(),
        edits in proptest::collection::vec((any::<u64>(), edit()), 1..4),
    ) {
        let all = corpus();
        let mut v = all[which.index(all.len())].clone();
        for (pick, e) in &edits {
            apply(&mut v, *pick, e);
        }
        let text = serde_json::to_string(&v).expect("serialise");
        match parse("fuzz.json", &text) {
            Err(e) => prop_assert!(e.to_string().starts_with("fuzz.json"), "{e}"),
            Ok(sc) if cheap(&sc) => {
                if let Err(e) = run_scenario("fuzz.json", &sc) {
                    prop_assert!(e.to_string().starts_with("fuzz.json"), "{e}");
                }
            }
            Ok(_) => {}
        }
    }
}

/// The unmutated corpus parses (so the mutations start from valid files).
#[test]
fn corpus_parses() {
    for v in corpus() {
        let text = serde_json::to_string(&v).expect("serialise");
        parse("corpus.json", &text).expect("a committed scenario parses");
    }
}
