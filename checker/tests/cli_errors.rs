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
