//! Bad input gets a one-line error and exit code 2, never a panic.

mod common;
use common::*;

#[test]
fn unknown_design() {
    let o = checker(&["check", "--design", "nosuch"]);
    assert_usage_error(&o, "unknown design 'nosuch'");
    assert_eq!(stderr(&o).lines().count(), 1, "{}", stderr(&o));
}

#[test]
fn unknown_bug() {
    let o = checker(&["check", "--design", "inplace", "--bug", "nosuch"]);
    assert_usage_error(&o, "unknown bug switch 'nosuch'");
    assert_eq!(stderr(&o).lines().count(), 1);
}

#[test]
fn bug_not_applying_to_design() {
    let o = checker(&[
        "check",
        "--design",
        "pfnmap",
        "--bug",
        "gup_fast_no_recheck",
    ]);
    assert_usage_error(&o, "does not apply to design 'pfnmap'");
    assert_eq!(stderr(&o).lines().count(), 1);
}

#[test]
fn pages_flag_points_to_configuration_files() {
    for n in ["2", "8", "many"] {
        let o = checker(&["check", "--design", "inplace", "--pages", n]);
        assert_usage_error(&o, "--pages was removed");
        assert!(stderr(&o).contains("--config FILE"), "{}", stderr(&o));
    }
}

#[test]
fn unknown_row_and_flags() {
    assert_usage_error(
        &checker(&["check", "--row", "nosuch"]),
        "unknown gate row 'nosuch'",
    );
    assert_usage_error(&checker(&["check", "--frobnicate"]), "--frobnicate");
    assert_usage_error(
        &checker(&["check", "--row", "inplace", "--design", "wait"]),
        "--design",
    );
    assert_usage_error(
        &checker(&["explore", "--bind", "not-an-ip"]),
        "not an IP address",
    );
}

#[test]
fn malformed_trace_file() {
    let d = temp_dir("malformed");
    let p = write(&d, "bad.itf.json", "{ \"#meta\": ");
    let o = checker(&["replay", p.to_str().unwrap()]);
    assert_usage_error(&o, "not JSON");
    assert_eq!(stderr(&o).lines().count(), 1);
    let o = checker(&["replay", d.join("missing.json").to_str().unwrap()]);
    assert_usage_error(&o, "cannot read");
}

#[test]
fn foreign_json() {
    let d = temp_dir("foreign");
    let p = write(&d, "foreign.json", r#"{"hello": [1, 2, 3]}"#);
    assert_usage_error(
        &checker(&["replay", p.to_str().unwrap()]),
        "not an ITF trace",
    );
    // Valid ITF, but not ours.
    let p = write(
        &d,
        "quint.itf.json",
        r##"{"#meta": {"format": "ITF", "source": "quint"}, "vars": ["x"], "states": [{"#meta": {"index": 0}, "x": {"#bigint": "1"}}]}"##,
    );
    assert_usage_error(&checker(&["replay", p.to_str().unwrap()]), "#meta.source");
    // Ours, with a configuration that does not exist.
    let p = write(
        &d,
        "badcfg.itf.json",
        r##"{"#meta": {"source": "gmem-verify", "config": "{\"design\": \"nosuch\"}"}, "vars": [], "states": []}"##,
    );
    assert_usage_error(&checker(&["replay", p.to_str().unwrap()]), "#meta.config");
}

#[test]
fn scenario_file_missing() {
    assert_usage_error(
        &checker(&["scenario", "/nonexistent/scenario.json"]),
        "no such scenario file",
    );
}

#[test]
fn dev_null_and_directories_are_not_files() {
    let d = temp_dir("notfiles");
    for cmd in [&["replay"][..], &["check", "--config"][..]] {
        let mut args = cmd.to_vec();
        args.push("/dev/null");
        let o = checker(&args);
        assert_usage_error(&o, "/dev/null: empty");
        let mut args = cmd.to_vec();
        args.push(d.to_str().unwrap());
        let o = checker(&args);
        assert_usage_error(&o, "is a directory");
        assert_eq!(stderr(&o).lines().count(), 1, "{}", stderr(&o));
    }
    assert_usage_error(
        &checker(&["--repo", "/dev/null", "check", "--row", "inplace"]),
        "--repo /dev/null: not a directory",
    );
}

#[test]
fn replay_caps_its_input_and_never_echoes_it() {
    let d = temp_dir("replay-cap");
    // Over the cap: refused before parsing.
    let big = d.join("big.itf.json");
    std::fs::write(&big, vec![b' '; (16 << 20) + 1]).unwrap();
    assert_usage_error(
        &checker(&["replay", big.to_str().unwrap()]),
        "larger than the 16777216 byte limit",
    );
    // A megabyte-long bad value: the error names the field, not the value.
    let long = "x".repeat(1 << 20);
    let p = write(
        &d,
        "long.itf.json",
        &format!(
            r##"{{"#meta": {{"source": "gmem-verify", "config": "{{\"design\": \"{long}\", \"pages\": 2}}"}}, "vars": [], "states": []}}"##
        ),
    );
    let o = checker(&["replay", p.to_str().unwrap()]);
    assert_usage_error(&o, "bad #meta.config: design: unknown variant");
    assert!(
        stderr(&o).len() < 1000,
        "{} bytes on stderr",
        stderr(&o).len()
    );
}

#[test]
fn configuration_errors_name_the_field() {
    let d = temp_dir("cfg-errors");
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let valid = std::fs::read_to_string(root.join("configs/inplace.json")).unwrap();
    let text = valid
        .replace("\"name\": \"inplace\"", "\"name\": \"mine\"")
        .replace(
            "\"page\": 1,\n        \"proc\"",
            "\"page\": 7,\n        \"proc\"",
        );
    let p = write(&d, "mine.json", &text);
    let o = checker(&["check", "--config", p.to_str().unwrap()]);
    assert_usage_error(
        &o,
        "config.pinners[1].page: page 7 is out of range: pages is 2",
    );
    // The name must match the file, so --row and the file agree.
    let p = write(&d, "other.json", &valid);
    let o = checker(&["check", "--config", p.to_str().unwrap()]);
    assert_usage_error(
        &o,
        "name: 'inplace' differs from the file name 'other.json'",
    );
    // A design and bug switch without a gate row: say how to ask.
    let o = checker(&["check", "--design", "wait", "--bug", "fault_no_ref"]);
    assert_usage_error(
        &o,
        "no configuration under configs/ checks wait+fault_no_ref",
    );
    assert!(stderr(&o).contains("--config FILE"), "{}", stderr(&o));
}

#[test]
fn gate_and_bench_flags() {
    assert_usage_error(&checker(&["gate", "--threads", "0"]), "--threads");
    // The deep profile commits no traces or documents.
    assert_usage_error(
        &checker(&["gate", "--deep", "--write-counterexamples"]),
        "--write-counterexamples",
    );
    let o = checker(&["bench", "--model-only", "--filter", "nosuch"]);
    assert_usage_error(&o, "--filter 'nosuch' matches no safety gate row");
}

#[test]
fn no_liveness_on_a_liveness_row_is_an_error_not_a_pass() {
    let o = checker(&["check", "--row", "wait@vmsplice_get", "--no-liveness"]);
    assert_usage_error(&o, "--no-liveness leaves nothing to check");
}
