//! `explore` serves the counterexample paths it prints.

mod common;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

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

#[test]
fn explorer_serves_the_counterexample_path() {
    let port = free_port();
    let log = common::temp_dir("explore").join("explore.log");
    let out = std::fs::File::create(&log).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_checker"))
        .args([
            "explore",
            "--bug",
            "gup_fast_no_recheck",
            "--port",
            &port.to_string(),
        ])
        .stdout(Stdio::from(out))
        .stderr(Stdio::null())
        .spawn()
        .expect("start explore");
    let _guard = Kill(child);

    let start = Instant::now();
    let status = loop {
        if let Ok(r) = get(port, "/") {
            break r.0;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "explorer did not come up"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.contains(" 200"), "{status}");

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
