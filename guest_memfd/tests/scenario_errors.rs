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
    // The broken and the missing file are malformed input, not mismatches.
    assert_eq!((sum.passed, sum.failed, sum.malformed), (1, 1, 2), "{text}");
    assert!(
        text.contains("step  1 host_read page 0 by p0: value 0 MISMATCH (expected sigbus)"),
        "{text}"
    );
    assert!(
        !text.contains("step  2 host_read page 1"),
        "the run stops at the first mismatch: {text}"
    );
    assert!(text.contains("MALFORMED"), "{text}");
    assert!(text.contains("cannot read"), "{text}");
    assert!(
        text.trim_end().ends_with("1 passed, 1 failed, 2 malformed"),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn caps_on_size_timeout_and_steps() {
    let cfg =
        |g: &str| format!(r#"{{"name": "x", "design": "inplace", "gmem": {g}, "steps": []}}"#);
    let e = err(&cfg(r#"{"pages": 1048577, "flags": ["mmap"]}"#));
    assert!(e.contains("gmem.pages = 1048577 is over the limit"), "{e}");
    let e = err(&cfg(
        r#"{"pages": 4, "flags": ["mmap"], "map_pages": 99999999999}"#,
    ));
    assert!(e.contains("gmem.map_pages"), "{e}");
    let e = err(&cfg(
        r#"{"pages": 4, "flags": ["mmap"], "wait_timeout_ms": 18446744073709551615}"#,
    ));
    assert!(e.contains("gmem.wait_timeout_ms"), "{e}");
    let e = err(&cfg(r#"{"pages": 4, "flags": ["mmap"], "vms": 3}"#));
    assert!(e.contains("gmem.vms must be 1..=2"), "{e}");
    let e = err(&wrap(r#"{"op": "guest_read", "page": 0, "vm": 2}"#));
    assert!(e.contains("field 'vm' must be 0..2"), "{e}");
    let e = err(&wrap(r#"{"op": "fail_prealloc", "count": 0}"#));
    assert!(e.contains("field 'count' must be 1..="), "{e}");
    let e = err(&wrap(r#"{"op": "hw_state", "page": 0}"#));
    assert!(e.contains("hw_state needs"), "{e}");
    let e = err(&wrap(
        r#"{"op": "hw_state", "page": 9, "expect": {"hw": "none"}}"#,
    ));
    assert!(e.contains("page 9 out of range"), "{e}");
    let e = err(&wrap(
        r#"{"op": "convert", "offset": 0, "pages": 1, "to": "private", "proc": "p0"}"#,
    ));
    assert!(e.contains("'proc' on convert needs 'arg_page'"), "{e}");
    let many = vec![r#"{"op": "lru_drain"}"#; 1_001].join(",");
    let e = err(&wrap(&many));
    assert!(e.contains("over the limit of 1000"), "{e}");
}

/// The hugetlb ops and design: each misuse is an error naming it.
#[test]
fn hugetlb_ops_and_config_errors() {
    let e = err(&wrap(r#"{"op": "fail_alloc", "count": 1}"#));
    assert!(
        e.contains("step 1 (fail_alloc): fail_alloc is for design hugetlb"),
        "{e}"
    );
    let e = err(&wrap(r#"{"op": "attr", "page": 0}"#));
    assert!(e.contains("attr needs"), "{e}");
    let e = err(&wrap(r#"{"op": "folio", "page": 0, "expect": "ok"}"#));
    assert!(e.contains("folio needs"), "{e}");
    let e = err(&wrap(
        r#"{"op": "host_read", "page": 0, "expect": {"attr": "shared"}}"#,
    ));
    assert!(e.contains("only attr takes it"), "{e}");
    let e = err(&wrap(
        r#"{"op": "folio", "page": 0, "expect": {"folio_pages": 0, "refcount": 0}}"#,
    ));
    assert!(e.contains("folio_pages must be at least 1"), "{e}");
    let e = err(&wrap(
        r#"{"op": "folio", "page": 0, "expect": {"folio_pages": 1}}"#,
    ));
    assert!(e.contains("missing field 'refcount'"), "{e}");
    let e = err(&wrap(
        r#"{"op": "attr", "page": 9, "expect": {"attr": "shared"}}"#,
    ));
    assert!(e.contains("page 9 out of range"), "{e}");
    let e = err(&wrap(r#"{"op": "folio", "page": 9, "expect": "no_folio"}"#));
    assert!(e.contains("page 9 out of range"), "{e}");
    // GUEST_MEMFD_FLAG_HUGETLB | INIT_SHARED, and a size that is not
    // huge-aligned, fail the file's creation.
    let e = err(
        r#"{"design": "hugetlb", "gmem": {"pages": 4, "flags": ["mmap", "init_shared"], "pages_per_gigantic": 2}, "steps": []}"#,
    );
    assert!(e.contains("cannot create guest_memfd"), "{e}");
    let e = err(
        r#"{"design": "hugetlb", "gmem": {"pages": 3, "flags": ["mmap"], "pages_per_gigantic": 2}, "steps": []}"#,
    );
    assert!(e.contains("cannot create guest_memfd"), "{e}");
    let e = err(r#"{"design": "hugetlb", "gmem": {"pages": 4, "huge": false}, "steps": []}"#);
    assert!(e.contains("split, huge_whole and hugetlb"), "{e}");
}

/// The device ops (secondary MMU, VFIO, direct map) and `violates`: bad
/// input names the step and what is wrong.
#[test]
fn device_ops_and_violates_errors() {
    let e = err(&wrap(r#"{"op": "device_read", "id": "d"}"#));
    assert!(
        e.contains("step 1 (device_read): unknown device id \"d\""),
        "{e}"
    );
    let e = err(&wrap(
        r#"{"op": "odp_register", "page": 0, "id": "d"}, {"op": "vfio_map_dma", "page": 1, "id": "d"}"#,
    ));
    assert!(
        e.contains("step 2 (vfio_map_dma): device id \"d\" is still held"),
        "{e}"
    );
    let e = err(&wrap(r#"{"op": "odp_register", "page": 9, "id": "d"}"#));
    assert!(e.contains("page 9 out of range"), "{e}");
    let e = err(&wrap(
        r#"{"op": "odp_register", "page": 0, "id": "d"}, {"op": "odp_program", "id": "d"}"#,
    ));
    assert!(
        e.contains("step 2 (odp_program): device 0: nothing to program"),
        "{e}"
    );
    let e = err(&wrap(
        r#"{"op": "odp_register", "page": 0, "id": "d"}, {"op": "vfio_unmap_dma", "id": "d"}"#,
    ));
    assert!(e.contains("not a VFIO DMA mapping"), "{e}");
    let e = err(&wrap(
        r#"{"op": "host_write", "page": 0, "value": 1}, {"op": "vfio_map_dma", "page": 0, "id": "v"}, {"op": "odp_map", "id": "v"}"#,
    ));
    assert!(e.contains("not a secondary MMU (ODP) device"), "{e}");
    let e = err(&wrap(
        r#"{"op": "odp_register", "page": 0, "id": "d"}, {"op": "odp_unregister", "id": "d"}, {"op": "device_read", "id": "d"}"#,
    ));
    assert!(e.contains("step 3 (device_read): unknown device id"), "{e}");
    let e = err(&wrap(r#"{"op": "device_mapped", "id": "d"}"#));
    assert!(e.contains("device_mapped needs"), "{e}");
    let e = err(&wrap(
        r#"{"op": "direct_map", "page": 0, "expect": {"direct_map": "gone"}}"#,
    ));
    assert!(e.contains("\"present\", \"removed\" or \"none\""), "{e}");
    let e = err(&wrap(
        r#"{"op": "device_write", "id": "d", "value": 1, "background": "t"}"#,
    ));
    assert!(e.contains("unknown device id"), "{e}");
    let e = err(&wrap(
        r#"{"op": "lru_drain", "violates": ["host_access_only_shared"]}, {"op": "lru_drain"}"#,
    ));
    assert!(
        e.contains("step 1 (lru_drain): 'violates' is only for the last step"),
        "{e}"
    );
    let e = err(&wrap(
        r#"{"op": "lru_drain", "violates": ["no_such_thing"]}"#,
    ));
    assert!(
        e.contains("\"no_such_thing\" is not a safety property"),
        "{e}"
    );
    let e = err(&wrap(
        r#"{"op": "lru_drain", "violates": ["conversion_succeeds"]}"#,
    ));
    assert!(e.contains("is not a safety property"), "{e}");
    let e = err(&wrap(r#"{"op": "lru_drain", "violates": []}"#));
    assert!(e.contains("non-empty list"), "{e}");
    let e = err(&wrap(
        r#"{"op": "lru_drain", "violates": ["no_deadlock", "no_deadlock"]}"#,
    ));
    assert!(e.contains("names no_deadlock twice"), "{e}");
    let e = err(&wrap(
        r#"{"op": "host_read", "page": 0, "background": "t", "violates": ["no_deadlock"]}"#,
    ));
    assert!(e.contains("not on a background step"), "{e}");
    let e = err(
        r#"{"design": "inplace", "gmem": {"pages": 1, "flags": ["mmap"], "reserved_pfns": true}, "steps": []}"#,
    );
    assert!(
        e.contains("gmem.reserved_pfns is a variant of design pfnmap only"),
        "{e}"
    );
    let e = err(
        r#"{"design": "pfnmap", "gmem": {"pages": 1, "flags": ["mmap"], "reserved_pfns": 1}, "steps": []}"#,
    );
    assert!(
        e.contains("gmem.reserved_pfns must be true or false"),
        "{e}"
    );
}

/// `violates` is an expectation like any other: the step fails when the
/// check finds fewer, more or other violations than it names.
#[test]
fn violates_must_match_exactly() {
    let run = |steps: &str| {
        let json = format!(
            r#"{{"name": "v", "design": "pfnmap", "gmem": {{"pages": 1, "flags": ["mmap", "init_shared"], "reserved_pfns": true}}, "steps": [{steps}]}}"#
        );
        run_scenario_str("v.json", &json).expect("well-formed")
    };
    let setup = r#"{"op": "host_write", "page": 0, "value": 1}, {"op": "vfio_map_dma", "page": 0, "id": "v"}"#;
    // Nothing is violated by a DMA to a shared page.
    let r = run(&format!(
        r#"{setup}, {{"op": "device_read", "id": "v", "violates": ["host_access_only_shared"]}}"#
    ));
    assert!(!r.passed, "{:?}", r.lines);
    assert!(r
        .lines
        .last()
        .unwrap()
        .contains("finds violated: nothing MISMATCH"));
    // Two properties are violated after a punch and drain; naming one is not enough.
    let punched =
        format!(r#"{setup}, {{"op": "punch", "offset": 0, "pages": 1}}, {{"op": "lru_drain"}}"#);
    let r = run(&format!(
        r#"{punched}, {{"op": "device_write", "id": "v", "value": 2, "violates": ["refcount_conserved"]}}"#
    ));
    assert!(!r.passed, "{:?}", r.lines);
    let r = run(&format!(
        r#"{punched}, {{"op": "device_write", "id": "v", "value": 2, "violates": ["host_access_only_shared", "refcount_conserved"]}}"#
    ));
    assert!(r.passed, "{:?}", r.lines);
    // Without `violates`, the same step is an invariant violation.
    let r = run(&format!(
        r#"{punched}, {{"op": "device_write", "id": "v", "value": 2}}"#
    ));
    assert!(!r.passed);
    assert!(
        r.lines.last().unwrap().contains("INVARIANT VIOLATED"),
        "{:?}",
        r.lines
    );
}
