//! Bad scenario input is a clear error naming the file, the step and the
//! op; it never panics.

use guest_memfd::scenario::{run_files, run_scenario_str};

fn err(json: &str) -> String {
    match run_scenario_str("bad.json", json) {
        Ok(r) => panic!("expected an error, got report {:?}", r.lines),
        Err(e) => e.to_string(),
    }
}

fn wrap(steps: &str) -> String {
    format!(
        r#"{{"name": "x", "design": "inplace", "gmem": {{"pages": 4, "flags": ["mmap", "init_shared"]}}, "steps": [{steps}]}}"#
    )
}

#[test]
fn unknown_op_names_file_step_and_op() {
    let e = err(&wrap(
        r#"{"op": "host_read", "page": 0}, {"op": "frobnicate"}"#,
    ));
    assert!(
        e.starts_with("bad.json: step 2 (frobnicate): unknown op"),
        "{e}"
    );
}

#[test]
fn missing_field_and_wrong_type() {
    let e = err(&wrap(r#"{"op": "host_write", "page": 0}"#));
    assert!(
        e.contains("step 1 (host_write): missing field 'value'"),
        "{e}"
    );
    let e = err(&wrap(r#"{"op": "host_write", "page": "zero", "value": 1}"#));
    assert!(
        e.contains("field 'page' must be a non-negative integer"),
        "{e}"
    );
    let e = err(&wrap(r#"{"op": "host_write", "page": 0, "value": 300}"#));
    assert!(e.contains("must be a byte"), "{e}");
    let e = err(&wrap(
        r#"{"op": "convert", "offset": 0, "pages": 1, "to": "secret"}"#,
    ));
    assert!(e.contains("\"private\" or \"shared\""), "{e}");
    let e = err(&wrap(r#"{"op": "host_read", "pgae": 0}"#));
    assert!(e.contains("unknown field 'pgae'"), "{e}");
    let e = err(&wrap(
        r#"{"op": "pin", "page": 0, "kind": "forever", "id": "p"}"#,
    ));
    assert!(e.contains("unknown pin kind"), "{e}");
    let e = err(&wrap(r#"{"op": "pool"}"#));
    assert!(e.contains("free_gigantic"), "{e}");
    let e = err(&wrap(
        r#"{"op": "host_read", "page": 0, "expect": {"errno": "EWHAT"}}"#,
    ));
    assert!(e.contains("unknown errno"), "{e}");
}

#[test]
fn bad_config() {
    let e = err(r#"{"design": "magic", "gmem": {"pages": 4}, "steps": []}"#);
    assert!(e.contains("unknown design \"magic\""), "{e}");
    let e = err(r#"{"design": "inplace", "gmem": {"pages": 4, "huge": true}, "steps": []}"#);
    assert!(e.contains("does not fit design inplace"), "{e}");
    let e = err(r#"{"design": "inplace", "gmem": {"pages": 0}, "steps": []}"#);
    assert!(e.contains("at least 1"), "{e}");
    let e = err("{not json");
    assert!(e.contains("invalid JSON"), "{e}");
    let e = err(r#"{"design": "inplace", "steps": []}"#);
    assert!(e.contains("missing field 'gmem'"), "{e}");
}

#[test]
fn page_out_of_range_unknown_pin_and_double_unpin() {
    let e = err(&wrap(r#"{"op": "host_read", "page": 99}"#));
    assert!(
        e.contains("step 1 (host_read): page 99 out of range"),
        "{e}"
    );
    let e = err(&wrap(r#"{"op": "guest_read", "page": 4}"#));
    assert!(e.contains("page 4 out of range"), "{e}");
    let e = err(&wrap(r#"{"op": "unpin", "id": "nope"}"#));
    assert!(e.contains("step 1 (unpin): unknown pin id \"nope\""), "{e}");
    let e = err(&wrap(
        r#"{"op": "pin", "page": 1, "kind": "pin", "id": "p"}, {"op": "unpin", "id": "p"}, {"op": "unpin", "id": "p"}"#,
    ));
    assert!(e.contains("step 3 (unpin): unknown pin id \"p\""), "{e}");
    let e = err(&wrap(
        r#"{"op": "pin", "page": 1, "kind": "pin", "id": "p"}, {"op": "pin", "page": 2, "kind": "pin", "id": "p"}"#,
    ));
    assert!(
        e.contains("step 2 (pin): pin id \"p\" is still held"),
        "{e}"
    );
    let e = err(&wrap(r#"{"op": "host_read", "page": 0, "proc": "ghost"}"#));
    assert!(e.contains("unknown process \"ghost\""), "{e}");
    let e = err(&wrap(r#"{"op": "join", "thread": "t9"}"#));
    assert!(e.contains("unknown thread \"t9\""), "{e}");
}

#[test]
fn mismatch_is_reported_and_counted() {
    let dir = std::env::temp_dir().join(format!("gmem-scenario-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp dir");
    let good = dir.join("good.json");
    let bad = dir.join("bad.json");
    let broken = dir.join("broken.json");
    std::fs::write(&good, wrap(r#"{"op": "host_write", "page": 0, "value": 7}, {"op": "host_read", "page": 0, "expect": {"value": 7}}"#)).expect("write");
    std::fs::write(
        &bad,
        wrap(
            r#"{"op": "host_read", "page": 0, "expect": "sigbus"}, {"op": "host_read", "page": 1}"#,
        ),
    )
    .expect("write");
    std::fs::write(&broken, "[]").expect("write");
    let missing = dir.join("missing.json");
    let mut out = Vec::new();
    let sum = run_files(&[good, bad, broken, missing], &mut out);
    let text = String::from_utf8_lossy(&out);
    assert_eq!((sum.passed, sum.failed), (1, 3), "{text}");
    assert!(
        text.contains("step  1 host_read page 0 by p0: value 0 MISMATCH (expected sigbus)"),
        "{text}"
    );
    assert!(
        !text.contains("step  2 host_read page 1"),
        "the run stops at the first mismatch: {text}"
    );
    assert!(text.contains("cannot read"), "{text}");
    assert!(text.trim_end().ends_with("1 passed, 3 failed"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}
