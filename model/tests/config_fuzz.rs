//! The configuration loader on arbitrary and mutated input: an error naming
//! a field or a validated configuration, never a panic; a configuration
//! that loads builds a model that steps without panicking. Bounded
//! (proptest's default case count), so it runs in CI as an ordinary test.

use model::gate::parse;
use model::GmemModel;
use proptest::prelude::*;
use stateright::Model;

const VALID: &str = include_str!("../../configs/inplace.json");
const LIVE: &str = include_str!("../../configs/wait@busy_pinner_unblocked.json");

/// A few steps of the model from the initial state, first action each time.
fn exercise(text: &str) {
    if let Ok(g) = parse(text, "fuzz.json") {
        let m = GmemModel::new(g.cfg).expect("a loaded configuration is valid");
        let mut s = m.init_state();
        for _ in 0..40 {
            let mut acts = vec![];
            m.actions(&s, &mut acts);
            let Some(next) = acts.iter().find_map(|&a| m.next_state(&s, a)) else {
                break;
            };
            s = next;
        }
    }
}

#[test]
fn errors_name_the_field_and_the_allowed_values() {
    let cases = [
        (
            VALID.replace("\"pinners\"", "\"pinnerz\""),
            "config.pinnerz: unknown field `pinnerz`, expected one of `design`, `bugs`, `pages`",
        ),
        (
            VALID.replace("\"kind\": \"longterm\"", "\"kind\": \"forever\""),
            "config.pinners[1].kind: unknown variant `forever`, expected one of `get`, `pin`, `longterm`",
        ),
        (
            VALID.replace("\"page\": 1,\n        \"proc\"", "\"page\": 5,\n        \"proc\""),
            "config.pinners[1].page: page 5 is out of range: pages is 2, so 0..=1",
        ),
        (
            VALID.replace("\"design\": \"inplace\"", "\"design\": \"nosuch\""),
            "config.design: unknown variant `nosuch`, expected one of",
        ),
        (
            VALID.replace("\"pass\": \"safety\"", "\"pass\": \"both\""),
            "pass: unknown variant `both`, expected `safety` or `liveness`",
        ),
        (
            VALID.replace("[\n      [\n        {\n          \"op\": \"write\",\n          \"page\": 0\n        }\n      ]\n    ]", "[[]]"),
            "config.procs[0]: empty script",
        ),
        (
            VALID.replace("\"bugs\": []", "\"bugs\": [\"populate_lock_order\"]"),
            "config.bugs[0]: bug switch 'populate_lock_order' changes nothing here",
        ),
        (String::new(), "empty file"),
        ("[1, 2]".to_string(), "not a configuration: expected a JSON object"),
    ];
    for (text, want) in cases {
        assert_ne!(text, VALID, "the edit for '{want}' did not apply");
        let e = parse(&text, "x.json").expect_err(want);
        assert!(e.0.starts_with("x.json: "), "{}", e.0);
        assert!(e.0.contains(want), "want '{want}', got: {}", e.0);
    }
    // Defaults: only design and pages (and one actor) are needed.
    let small = r#"{"name": "small", "pass": "safety",
        "config": {"design": "inplace", "pages": 1,
                   "conversions": [{"start": 0, "pages": 1, "to": "private"}]}}"#;
    let g = parse(small, "small.json").expect("defaults fill the rest");
    assert!(g.cfg.init_shared && g.cfg.block_pins_while_waiting && g.cfg.pinners.is_empty());
    // A hostile value is not echoed by the megabyte.
    let long = VALID.replace("\"inplace\"", &format!("\"{}\"", "x".repeat(1 << 20)));
    let e = parse(&long, "x.json").expect_err("not a design");
    assert!(e.0.len() < 1000, "{} bytes of error", e.0.len());
}

proptest! {
    #[test]
    fn arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..1024)) {
        exercise(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn mutated_files(
        live in any::<bool>(),
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6),
    ) {
        let mut b = if live { LIVE } else { VALID }.as_bytes().to_vec();
        for (at, byte) in edits {
            let i = at % b.len();
            b[i] = byte;
        }
        exercise(&String::from_utf8_lossy(&b));
    }

    /// Every number replaced by another: valid JSON, so what fails is the
    /// validation (pages, indices, ranges), which must say so, not panic.
    #[test]
    fn renumbered_files(at in any::<usize>(), n in 0u32..300) {
        let digits: Vec<usize> = VALID
            .char_indices()
            .filter(|(_, c)| c.is_ascii_digit())
            .map(|(i, _)| i)
            .collect();
        let i = digits[at % digits.len()];
        let text = format!("{}{}{}", &VALID[..i], n, &VALID[i + 1..]);
        if let Err(e) = parse(&text, "x.json") {
            prop_assert!(e.0.starts_with("x.json: "));
        }
        exercise(&text);
    }
}

#[test]
fn the_documented_examples_load() {
    let doc = include_str!("../../docs/configuration.md");
    let mut n = 0;
    for block in doc.split("```json").skip(1) {
        let text = block.split("```").next().unwrap();
        // A `base` names a gate row: found in configs/.
        let configs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs");
        let lookup = |b: &str| {
            std::fs::read_to_string(configs.join(format!("{b}.json"))).map_err(|e| e.to_string())
        };
        let g = model::gate::parse_with(text, "docs/configuration.md", &lookup)
            .unwrap_or_else(|e| panic!("{e}\n{text}"));
        GmemModel::new(g.cfg).expect("valid");
        n += 1;
    }
    assert!(n >= 9, "only {n} examples");
    // Every field of the schema is documented (a field added to Config
    // without a line in the table fails here).
    let full = serde_json::to_value(parse(VALID, "x").unwrap().cfg).unwrap();
    for field in full.as_object().unwrap().keys() {
        assert!(
            doc.contains(&format!("| `{field}` |")),
            "{field} undocumented"
        );
    }
    let conv = model::config::ConvOp {
        converter: 1,
        ..parse(VALID, "x").unwrap().cfg.conversions[0]
    };
    let conv = serde_json::to_value(conv).unwrap();
    for field in conv.as_object().unwrap().keys() {
        assert!(
            doc.contains(&format!("| `{field}` |")),
            "conversions[].{field} undocumented"
        );
    }
    let pin = serde_json::to_value(parse(VALID, "x").unwrap().cfg.pinners[0]).unwrap();
    for field in pin.as_object().unwrap().keys() {
        assert!(
            doc.contains(&format!("| `{field}` |")),
            "pinners[].{field} undocumented"
        );
    }
}

/// The converter thread of a request is validated: in range, thread 1 only
/// beside thread 0, and no page donated by both threads under design
/// exclusive_pin.
#[test]
fn converter_threads_are_validated() {
    let file = |design: &str, convs: &str| {
        format!(
            r#"{{"name": "x", "pass": "safety", "config": {{"design": "{design}", "pages": 2,
               "conversions": [{convs}]}}}}"#
        )
    };
    let err = |design: &str, convs: &str| match parse(&file(design, convs), "x.json") {
        Ok(_) => panic!("accepted: {convs}"),
        Err(e) => e.0,
    };
    let e = err(
        "inplace",
        r#"{"start": 0, "pages": 1, "to": "private", "converter": 2}"#,
    );
    assert!(e.contains("conversions[0].converter"), "{e}");
    let e = err(
        "inplace",
        r#"{"start": 0, "pages": 1, "to": "private", "converter": 1}"#,
    );
    assert!(e.contains("none converter 0"), "{e}");
    let e = err(
        "exclusive_pin",
        r#"{"start": 0, "pages": 1, "to": "private"},
           {"start": 0, "pages": 1, "to": "shared", "converter": 1}"#,
    );
    assert!(e.contains("both converter threads donate page 0"), "{e}");
    // Overlapping ranges are the point elsewhere.
    let ok = file(
        "inplace",
        r#"{"start": 0, "pages": 2, "to": "private"},
           {"start": 1, "pages": 1, "to": "private", "converter": 1}"#,
    );
    let g = parse(&ok, "x.json").expect("overlapping ranges of two threads are valid");
    assert_eq!(g.cfg.converters().collect::<Vec<_>>(), [0, 1]);
}

/// A row with a `base` starts from the base row's configuration, each of
/// its own fields replacing the base's; a missing, self-naming, chained or
/// broken base, or a bad field over a good base, is an error naming it.
#[test]
fn a_base_row_is_the_base_with_its_fields_replaced() {
    use model::gate::{load_file, parse_with};
    let dir = std::env::temp_dir().join(format!("gmem-base-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let write = |name: &str, text: &str| {
        let p = dir.join(format!("{name}.json"));
        std::fs::write(&p, text).unwrap();
        p
    };
    write("inplace", VALID);
    let row = |name: &str, base: &str, config: &str| {
        format!(r#"{{"name": "{name}", "pass": "liveness", "base": "{base}", "config": {config}}}"#)
    };
    let base = parse(VALID, "inplace.json").unwrap().cfg;

    // Fields replace the base's; the rest is the base's.
    let p = write(
        "r1",
        &row("r1", "inplace", r#"{"retry_until_ok": true, "pages": 2}"#),
    );
    let g = load_file(&p).expect("loads");
    assert_eq!(g.base.as_deref(), Some("inplace"));
    assert!(g.cfg.retry_until_ok && !base.retry_until_ok);
    let mut expect = base.clone();
    expect.retry_until_ok = true;
    assert_eq!(format!("{:?}", g.cfg), format!("{expect:?}"));
    // An empty object is the base's configuration itself.
    let p = write("r2", &row("r2", "inplace", "{}"));
    assert_eq!(
        format!("{:?}", load_file(&p).unwrap().cfg),
        format!("{base:?}")
    );

    let cases = [
        (row("r3", "nosuch", "{}"), "base: no row 'nosuch'"),
        (
            row("r3", "r3", "{}"),
            "base: 'r3' is not another row's name",
        ),
        (
            row("r3", "../x", "{}"),
            "base: '../x' is not another row's name",
        ),
        (row("r3", "r1", "{}"), "base: row 'r1' has a base itself"),
        (
            row("r3", "inplace", r#"{"pinnerz": []}"#),
            "config.pinnerz: unknown field `pinnerz`",
        ),
        (row("r3", "inplace", r#"{"pages": 0}"#), "config.pages"),
        (row("r3", "inplace", "[]"), "config: invalid type: sequence"),
    ];
    for (text, want) in cases {
        let p = write("r3", &text);
        let e = load_file(&p).expect_err(want);
        assert!(e.0.contains(want), "want '{want}', got: {}", e.0);
    }
    write("broken", "{");
    let p = write("r3", &row("r3", "broken", "{}"));
    let e = load_file(&p).expect_err("broken base");
    assert!(e.0.contains("base: row 'broken' does not parse"), "{}", e.0);
    // Without a directory (text only) a base cannot be found.
    let e = parse(&row("r4", "inplace", "{}"), "r4.json").expect_err("no directory");
    assert!(e.0.contains("base:"), "{}", e.0);
    // A lookup that fails says why.
    let e = parse_with(&row("r4", "inplace", "{}"), "r4.json", &|_| {
        Err("gone".into())
    })
    .expect_err("lookup fails");
    assert!(e.0.contains("base: gone"), "{}", e.0);
    let _ = std::fs::remove_dir_all(&dir);
}
