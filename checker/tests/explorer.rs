//! `explore` serves the counterexample paths it prints.

mod common;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

struct Kill(Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    l.local_addr().unwrap().port()
}

/// HTTP/1.0 GET: (status line, body).
fn get(port: u16, path: &str) -> std::io::Result<(String, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(20)))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text.lines().next().unwrap_or("").to_string();
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    Ok((status, body))
}

/// Start `explore --port 0` and read the port it bound from what it prints.
fn start_explorer(log: &std::path::Path) -> (Kill, u16) {
    let out = std::fs::File::create(log).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_checker"))
        .args(["explore", "--bug", "gup_fast_no_recheck", "--port", "0"])
        .stdout(Stdio::from(out))
        .stderr(Stdio::null())
        .spawn()
        .expect("start explore");
    let mut guard = Kill(child);
    let port: u16 = loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if let Some(l) = text
            .lines()
            .find(|l| l.starts_with("serving the Stateright explorer on "))
        {
            let addr = l.split_whitespace().nth(5).unwrap();
            let port = addr.trim_end_matches('/').rsplit(':').next().unwrap();
            break port.parse().expect("a port number");
        }
        assert!(
            guard.0.try_wait().ok().flatten().is_none(),
            "explore exited: {text}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_ne!(port, 0, "the printed port is the one bound");
    loop {
        if let Ok(r) = get(port, "/") {
            assert!(r.0.contains(" 200"), "{}", r.0);
            return (guard, port);
        }
        assert!(
            guard.0.try_wait().ok().flatten().is_none(),
            "explore exited"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn explorer_serves_the_counterexample_path() {
    let log = common::temp_dir("explore").join("explore.log");
    let (_guard, port) = start_explorer(&log);

    let printed = std::fs::read_to_string(&log).unwrap();
    let url = printed
        .lines()
        .find(|l| l.contains("counterexample") && l.contains("no_private_pin"))
        .and_then(|l| l.split_whitespace().last())
        .unwrap_or_else(|| panic!("no counterexample link printed: {printed}"))
        .to_string();
    assert!(
        url.starts_with(&format!("http://127.0.0.1:{port}/#/steps/")),
        "{url}"
    );
    let path = url.split("#/steps/").nth(1).unwrap();

    let (status, body) = get(port, "/.status").unwrap();
    assert!(status.contains(" 200"), "{status}");
    assert!(body.contains("no_private_pin"), "{body}");
    let (status, body) = get(port, &format!("/.states/{path}")).unwrap();
    assert!(status.contains(" 200"), "{status}: {body}");
    assert!(body.trim_start().starts_with('['), "{body}");
}

#[test]
fn explorer_screenshot_renders() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let have_chromium = ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .any(|b| {
            Command::new("sh")
                .args(["-c", &format!("command -v {b}")])
                .output()
                .is_ok_and(|o| o.status.success())
        });
    if !have_chromium {
        eprintln!(
            "SKIPPED explorer_screenshot_renders: chromium is not installed (.ci/run installs it)"
        );
        return;
    }
    let png = common::temp_dir("screenshot").join("explorer.png");
    let o = Command::new("bash")
        .arg(root.join("scripts/explorer-screenshot.sh"))
        .arg(&png)
        .env("CHECKER", env!("CARGO_BIN_EXE_checker"))
        .env("PORT", free_port().to_string())
        .output()
        .expect("run scripts/explorer-screenshot.sh");
    assert!(
        o.status.success(),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(std::fs::metadata(&png).unwrap().len() > 20_000);
}

fn find_browser() -> Option<&'static str> {
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|b| {
            Command::new("sh")
                .args(["-c", &format!("command -v {b}")])
                .output()
                .is_ok_and(|o| o.status.success())
        })
}

/// As a user would: `explore --port 0` prints the port it bound, and the
/// counterexample URL it prints, opened in headless Chromium, shows the
/// kernel steps in Path of Actions and Next Action Choices.
#[test]
fn explorer_shows_kernel_steps_in_a_browser() {
    let Some(browser) = find_browser() else {
        eprintln!(
            "SKIPPED explorer_shows_kernel_steps_in_a_browser: chromium is not installed (.ci/run installs it)"
        );
        return;
    };
    let dir = common::temp_dir("browser");
    let log = dir.join("explore.log");
    let (_guard, port) = start_explorer(&log);
    let printed = std::fs::read_to_string(&log).unwrap();
    let url = printed
        .lines()
        .find(|l| l.contains("counterexample") && l.contains("no_private_pin"))
        .and_then(|l| l.split_whitespace().last())
        .unwrap_or_else(|| panic!("no counterexample link printed: {printed}"))
        .to_string();
    assert!(
        url.starts_with(&format!("http://127.0.0.1:{port}/#/steps/")),
        "{url}"
    );
    let profile = dir.join("profile");
    let o = Command::new("timeout")
        .arg("120")
        .arg(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            // Let the explorer's scripts fetch the path's states first.
            "--virtual-time-budget=10000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(&url)
        .output()
        .expect("run chromium");
    let dom = String::from_utf8_lossy(&o.stdout);
    assert!(dom.contains("Path of Actions"), "{dom}");
    for step in [
        "converter: filemap_invalidate_lock()",
        "converter: unmap_mapping_pages()",
        "gup0: gup_fast: read PTE",
        "gup0: gup_fast: folio_try_add()",
        // The bug switch's step, not the guard it removes.
        "gup0: gup_fast: keep the reference (no PTE re-read)",
    ] {
        assert!(
            dom.contains(step),
            "'{step}' not in the explorer page:\n{dom}"
        );
    }
    assert!(
        !dom.contains("next step</") && !dom.contains("start an operation</"),
        "{dom}"
    );
    assert!(!dom.contains("re-read PTE</"), "{dom}");
}
