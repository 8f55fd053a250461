//! `check`, its counterexample files, `replay`, determinism, bounds.

mod common;
use common::*;
use std::path::Path;

fn read_trace(p: &Path) -> itf::Trace<serde_json::Value> {
    let text = std::fs::read_to_string(p).expect("the trace file exists");
    itf::trace_from_str::<serde_json::Value>(&text).expect("the itf crate reads the trace")
}

#[test]
fn correct_design_exits_0() {
    // no_direct_map: safe, and live even with the VMM retrying on its full
    // configuration (GUP is refused, so no fault races the retry).
    let o = checker(&["check", "--design", "no_direct_map", "--no-write"]);
    let out = stdout(&o);
    assert_eq!(code(&o), 0, "{out}{}", stderr(&o));
    assert!(!out.contains("verified"), "{out}");
    assert!(!out.contains("VIOLATED"), "{out}");
    assert!(out.contains("unique states"), "{out}");
    // Every gate row of the design ran, each verdict with its bound.
    for row in [
        "no_direct_map",
        "no_direct_map@full",
        "no_direct_map@full_retry",
        "no_direct_map@secondary_mmu",
        "no_direct_map@vfio",
    ] {
        assert!(out.contains(&format!("== {row} (")), "{row}: {out}");
        assert!(out.contains(&format!("(row {row}: ")), "{row}: {out}");
    }
    let tail: Vec<&str> = out.lines().rev().take(2).collect();
    assert!(tail[1].starts_with("  no_direct_map: safe: "), "{out}");
    assert!(tail[0].starts_with("  no_direct_map: live: "), "{out}");
    assert!(
        tail[1].contains("2 pages; 2 conversions, 1 process"),
        "{out}"
    );
}

/// The design-level verdict includes every liveness row: huge_whole is safe
/// but not live (a pin on one subpage blocks the other), and wait can wait
/// forever for a FOLL_GET reference. Both exit 1.
#[test]
fn design_verdict_includes_its_liveness_rows() {
    let o = checker(&["check", "--design", "huge_whole", "--no-write"]);
    let out = stdout(&o);
    assert_eq!(code(&o), 1, "{out}{}", stderr(&o));
    assert!(out.contains("  huge_whole: safe: "), "{out}");
    // The retried conversion on the design's full configuration (the
    // faulting GUP users' livelock), and the pin on one subpage.
    assert!(
        out.contains("huge_whole: NOT live: conversion_eventually_succeeds violated (row huge_whole@full_retry: 2 pages;"),
        "{out}"
    );
    assert!(
        out.contains("NOT live: conversion_eventually_succeeds, independent_subpages violated (row huge_whole@pin_subpage_a: 2 pages;"),
        "{out}"
    );
    // A bug row is not part of the design's own verdict.
    assert!(!out.contains("huge_whole+"), "{out}");
    let o = checker(&["check", "--design", "wait", "--no-write", "--json"]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("JSON");
    let rows: Vec<&str> = v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["label"].as_str().unwrap())
        .collect();
    assert!(rows.contains(&"wait@vmsplice_get"), "{rows:?}");
    assert!(!rows.iter().any(|r| r.contains('+')), "{rows:?}");
    let lines = v["verdicts"].as_array().unwrap();
    assert!(
        lines[1]
            .as_str()
            .unwrap()
            .contains("NOT live: conversion_completes violated (row wait@busy_pinner_unblocked"),
        "{lines:?}"
    );
}

#[test]
fn check_writes_scratch_counterexamples_not_the_corpus() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let o = checker(&["check", "--bug", "partial_flip", "--no-liveness"]);
    let out = stdout(&o);
    assert_eq!(code(&o), 1, "{out}{}", stderr(&o));
    let scratch = root.join("target/gmem-verify/counterexamples/inplace+partial_flip");
    assert!(
        out.contains("target/gmem-verify/counterexamples/inplace+partial_flip/"),
        "{out}"
    );
    assert!(scratch.join("conversion_atomic.itf.json").is_file());
}

#[test]
fn runs_from_any_directory_of_a_checkout_or_with_repo() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let run_in = |dir: &Path, args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_checker"))
            .current_dir(dir)
            .args(args)
            .output()
            .expect("run the checker")
    };
    let o = run_in(
        &root.join("docs"),
        &["check", "--row", "split@close_pinned"],
    );
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    let outside = temp_dir("outside");
    let o = run_in(&outside, &["check", "--row", "split@close_pinned"]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("not inside a gmem-verify checkout"),
        "{}",
        stderr(&o)
    );
    let r = root.to_str().unwrap();
    let o = run_in(
        &outside,
        &["--repo", r, "check", "--row", "split@close_pinned"],
    );
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    let o = run_in(
        &outside,
        &["check", "--repo", outside.to_str().unwrap(), "--row", "x"],
    );
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains("not a gmem-verify checkout"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_configuration_file_is_a_question() {
    let d = temp_dir("config");
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/huge_whole@pin_subpage_a.json"),
    )
    .unwrap();
    // The same question on split: subpages are independent there.
    let text = text
        .replace("\"huge_whole@pin_subpage_a\"", "\"mine\"")
        .replace("\"design\": \"huge_whole\"", "\"design\": \"split\"");
    let p = write(&d, "mine.json", &text);
    let o = checker(&["check", "--config", p.to_str().unwrap(), "--no-write"]);
    let out = stdout(&o);
    assert_eq!(code(&o), 0, "{out}{}", stderr(&o));
    assert!(out.contains("  mine: live: "), "{out}");
    assert!(out.contains("(row mine: 2 pages; 1 conversion (retried until it succeeds), 1 GUP user (FOLL_LONGTERM slow, held forever))"), "{out}");
}

/// The safety row `inplace` as a liveness row named `big`, with `edit`
/// applied to its text, checked with `--timeout 1`.
fn check_big_with_timeout(name: &str, edit: impl Fn(String) -> String) -> std::process::Output {
    let d = temp_dir(name);
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/inplace.json"),
    )
    .unwrap()
    .replace("\"name\": \"inplace\"", "\"name\": \"big\"")
    .replace("\"pass\": \"safety\"", "\"pass\": \"liveness\"");
    let p = write(&d, "big.json", &edit(text));
    checker(&[
        "check",
        "--config",
        p.to_str().unwrap(),
        "--timeout",
        "1",
        "--no-write",
    ])
}

#[test]
fn timeout_bounds_the_liveness_pass() {
    // One second is far less than the 3.3-million-state liveness graph of
    // this configuration needs (conversion_completes holds there).
    let o = check_big_with_timeout("live-timeout", |t| t);
    let out = stdout(&o);
    assert_eq!(code(&o), 3, "{out}{}", stderr(&o));
    assert!(out.contains("incomplete (stopped by --timeout 1)"), "{out}");
    assert!(out.contains("big: INCOMPLETE"), "{out}");
}

#[test]
fn a_lasso_found_before_the_timeout_is_reported() {
    // With the VMM retrying, conversion_eventually_succeeds is violated three
    // steps in: -ENOMEM ends the ioctl and the VMM does not retry it. The
    // graph is shared by both properties, so the timeout that leaves
    // conversion_completes incomplete still reports that lasso.
    let o = check_big_with_timeout("live-timeout-lasso", |t| {
        t.replace("\"retry_until_ok\": false", "\"retry_until_ok\": true")
    });
    let out = stdout(&o);
    assert_eq!(code(&o), 1, "{out}{}", stderr(&o));
    assert!(
        out.contains(
            "conversion_completes           | liveness | incomplete (stopped by --timeout 1)"
        ),
        "{out}"
    );
    assert!(
        out.contains("conversion_eventually_succeeds | liveness | VIOLATED"),
        "{out}"
    );
    assert!(
        out.contains("kvm_gmem_mas_preallocate() fails: -ENOMEM"),
        "{out}"
    );
}

#[test]
fn bug_exits_1_and_writes_a_replayable_itf_trace() {
    let d = temp_dir("bug");
    let o = checker(&[
        "check",
        "--design",
        "inplace",
        "--bug",
        "gup_fast_no_recheck",
        "--out",
        d.to_str().unwrap(),
    ]);
    let out = stdout(&o);
    assert_eq!(code(&o), 1, "{out}{}", stderr(&o));
    assert!(out.contains("VIOLATES no_private_pin"), "{out}");
    assert!(out.contains("http://127.0.0.1:3000/#/steps/0/"), "{out}");
    let f = d.join("inplace+gup_fast_no_recheck/no_private_pin.itf.json");
    let t = read_trace(&f);
    assert_eq!(t.meta.format.as_deref(), Some("ITF"));
    assert_eq!(
        t.meta.other.get("property").map(String::as_str),
        Some("no_private_pin")
    );
    assert!(t.loop_index.is_none());
    assert!(t.states.len() > 2);
    assert_eq!(t.states[0].meta.index, Some(0));
    assert_eq!(t.states[0].value["action"], "init");
    let o = checker(&["replay", f.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("reproduces"), "{}", stdout(&o));
}

#[test]
fn same_command_writes_identical_files() {
    let (a, b) = (temp_dir("det-a"), temp_dir("det-b"));
    for d in [&a, &b] {
        let o = checker(&[
            "check",
            "--bug",
            "check_before_unmap",
            "--out",
            d.to_str().unwrap(),
        ]);
        assert_eq!(code(&o), 1, "{}", stderr(&o));
    }
    let dir = "inplace+check_before_unmap";
    let mut names: Vec<_> = std::fs::read_dir(a.join(dir))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    assert!(!names.is_empty());
    for n in names.clone() {
        let n = n.to_string_lossy().to_string();
        if let Some(stem) = n.strip_suffix(".itf.json") {
            let svg = a.join(dir).join(format!("{stem}.svg"));
            let text = std::fs::read_to_string(&svg).expect("a diagram beside each trace");
            assert!(
                text.starts_with("<svg") && text.contains("VIOLATES"),
                "{svg:?}"
            );
        }
    }
    for n in names {
        let x = std::fs::read(a.join(dir).join(&n)).unwrap();
        let y = std::fs::read(b.join(dir).join(&n)).unwrap();
        assert!(x == y, "{n:?} differs between two runs");
    }
}

#[test]
fn liveness_counterexample_is_a_lasso() {
    let d = temp_dir("lasso");
    let o = checker(&[
        "check",
        "--row",
        "huge_whole@pin_subpage_a",
        "--out",
        d.to_str().unwrap(),
    ]);
    let out = stdout(&o);
    assert_eq!(code(&o), 1, "{out}{}", stderr(&o));
    assert!(out.contains("loop: from state"), "{out}");
    assert!(out.contains("WF(converter)"), "{out}");
    let f = d.join("huge_whole@pin_subpage_a/independent_subpages.itf.json");
    let t = read_trace(&f);
    let l = t.loop_index.expect("a liveness counterexample sets loop") as usize;
    assert!(l < t.states.len());
    let o = checker(&["replay", f.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
}

#[test]
fn tampered_trace_does_not_replay() {
    let d = temp_dir("tamper");
    let o = checker(&[
        "check",
        "--bug",
        "fault_no_ref",
        "--out",
        d.to_str().unwrap(),
        "--no-liveness",
    ]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let f = d.join("inplace+fault_no_ref/refcount_conserved.itf.json");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&f).unwrap()).unwrap();
    // Drop the last action and state: a valid replay that no longer violates.
    let actions: Vec<serde_json::Value> =
        serde_json::from_str(v["#meta"]["actions"].as_str().unwrap()).unwrap();
    let shorter = serde_json::to_string(&actions[..actions.len() - 1]).unwrap();
    v["#meta"]["actions"] = serde_json::Value::String(shorter);
    v["states"].as_array_mut().unwrap().pop();
    let p = write(&d, "short.itf.json", &v.to_string());
    let o = checker(&["replay", p.to_str().unwrap()]);
    assert_eq!(code(&o), 1, "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("DOES NOT reproduce"), "{}", stdout(&o));
    // A recorded state that the model does not produce: a bad file.
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&f).unwrap()).unwrap();
    v["states"][1]["closed"] = serde_json::Value::Bool(true);
    let p = write(&d, "edited.itf.json", &v.to_string());
    assert_usage_error(
        &checker(&["replay", p.to_str().unwrap()]),
        "state 1 differs",
    );
}

#[test]
fn bounded_run_is_incomplete_never_verified() {
    let o = checker(&[
        "check",
        "--design",
        "split",
        "--max-states",
        "2000",
        "--no-write",
    ]);
    let out = stdout(&o);
    assert_eq!(code(&o), 3, "{out}{}", stderr(&o));
    assert!(
        out.contains("incomplete (stopped by --max-states 2000)"),
        "{out}"
    );
    assert!(!out.contains("verified"), "{out}");
    // No safety verdict from the bounded pass.
    assert!(!out.contains("| safety   | holds"), "{out}");
    assert!(out.contains("  split: INCOMPLETE: no verdict for"), "{out}");
}

#[test]
fn json_output_parses() {
    let o = checker(&["check", "--bug", "partial_flip", "--json", "--no-write"]);
    assert_eq!(code(&o), 1);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("--json prints JSON");
    assert_eq!(v["exit_code"], 1);
    assert_eq!(v["rows"][0]["label"], "inplace+partial_flip");
    assert!(v["rows"][0]["properties"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["property"] == "conversion_atomic" && p["verdict"] == "violated"));
}

#[test]
fn committed_counterexamples_replay() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../counterexamples");
    let mut n = 0;
    let mut on_impl = 0;
    for row in std::fs::read_dir(&dir)
        .expect("counterexamples/ exists")
        .flatten()
    {
        if !row.path().is_dir() {
            continue;
        }
        for f in std::fs::read_dir(row.path()).unwrap().flatten() {
            // Each trace has its diagram (`.svg`) beside it: replay the traces.
            if !f.file_name().to_string_lossy().ends_with(".itf.json") {
                continue;
            }
            let o = checker(&["replay", f.path().to_str().unwrap()]);
            let out = stdout(&o);
            assert_eq!(code(&o), 0, "{}: {out}{}", f.path().display(), stderr(&o));
            let row = row.file_name().to_string_lossy().to_string();
            n += 1;
            // Every committed trace replays on the implementation, step for
            // step, and with the bug switches off the violation does not occur.
            assert!(
                out.contains("on the implementation: reproduces: the same"),
                "{row}: {out}"
            );
            on_impl += 1;
            if row.contains('+') {
                assert!(
                    out.contains("on the implementation, bug switches off: does not occur"),
                    "{row}: {out}"
                );
            }
        }
    }
    assert!(n > 0, "no committed counterexamples");
    assert_eq!(
        on_impl, n,
        "only {on_impl} of {n} traces replayed on the implementation"
    );
}

#[test]
fn scenarios_run() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let first = std::fs::read_dir(&dir)
        .expect("scenarios/ exists")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .min()
        .expect("a scenario file");
    let o = checker(&["scenario", first.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("1 passed, 0 failed"), "{}", stdout(&o));
}

#[test]
fn skipped_liveness_rows_are_named_in_the_verdict() {
    let o = checker(&["check", "--design", "split", "--no-liveness", "--no-write"]);
    let out = stdout(&o);
    assert_eq!(code(&o), 0, "{out}{}", stderr(&o));
    let last = out.lines().last().unwrap();
    assert!(
        last.contains("split: liveness NOT CHECKED (--no-liveness): rows split@close_pinned"),
        "{out}"
    );
}

/// Two processes with the same script make a group of order 2: `check
/// --symmetry --compare-unreduced` reports it and a factor above 1 with the
/// same verdicts, and the counterexample files are byte for byte those of
/// the unreduced run (traces come from the unreduced BFS either way).
#[test]
fn symmetry_reports_its_group_and_keeps_the_traces() {
    let d = temp_dir("symmetry");
    let cfg = write(
        &d,
        "twin.json",
        r#"{"name": "twin", "pass": "safety", "config": {
            "design": "inplace", "bugs": ["fault_no_ref"], "pages": 2,
            "procs": [[{"op": "write", "page": 0}], [{"op": "write", "page": 0}]],
            "conversions": [{"start": 0, "pages": 2, "to": "private"}]}}"#,
    );
    let cfg = cfg.to_str().unwrap();
    let run = |extra: &[&str], out: &str| {
        let dir = d.join(out);
        let mut args = vec!["check", "--config", cfg, "--json", "--out"];
        args.push(dir.to_str().unwrap());
        args.extend_from_slice(extra);
        let o = checker(&args);
        assert_eq!(code(&o), 1, "{}{}", stdout(&o), stderr(&o));
        let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("JSON");
        (v, dir)
    };
    let (plain, plain_dir) = run(&[], "plain");
    let (red, red_dir) = run(&["--symmetry", "--compare-unreduced"], "reduced");
    let y = &red["rows"][0]["safety"]["symmetry"];
    assert_eq!(y["group_order"], 2, "{y}");
    assert!(
        y["group"].as_str().unwrap().contains("processes (0 1)"),
        "{y}"
    );
    assert_eq!(y["folio_slots_renamed"], true);
    assert_eq!(y["verdicts_compared"], true);
    assert!(y["reduction_factor"].as_f64().unwrap() > 1.2, "{y}");
    assert_eq!(
        y["unreduced_unique_states"],
        plain["rows"][0]["safety"]["unique_states"]
    );
    assert!(plain["rows"][0]["safety"]["symmetry"].is_null());
    let verdicts = |v: &serde_json::Value| -> Vec<(String, String)> {
        v["rows"][0]["properties"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p["property"].to_string(), p["verdict"].to_string()))
            .collect()
    };
    assert_eq!(verdicts(&plain), verdicts(&red));
    let files = |dir: &Path| -> Vec<(String, Vec<u8>)> {
        let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir.join("twin"))
            .expect("counterexamples written")
            .map(|e| {
                let p = e.unwrap().path();
                (p.display().to_string(), std::fs::read(&p).unwrap())
            })
            .map(|(n, b)| (n.rsplit('/').next().unwrap().to_string(), b))
            .collect();
        v.sort();
        v
    };
    let a = files(&plain_dir);
    assert!(!a.is_empty());
    assert_eq!(a, files(&red_dir));
    // Without --symmetry, --compare-unreduced has nothing to compare.
    assert_usage_error(
        &checker(&["check", "--config", cfg, "--compare-unreduced"]),
        "--symmetry",
    );
}
