//! `explore`: print every counterexample's and example's explorer link, then
//! serve the Stateright explorer on loopback (unless `--bind` says otherwise).

use crate::check;
use crate::cli::ExploreArgs;
use crate::engine::{Bounds, Want};
use crate::exit::{Code, Fail, Result};
use crate::select::{self, select_one};
use crate::verdict::{kind_name, Verdict};
use stateright::Model;
use std::net::{IpAddr, SocketAddr, TcpListener};

pub fn cmd(a: &ExploreArgs) -> Result<Code> {
    let (g, _) = select_one(&a.select)?;
    let m = select::model(&g)?;
    let ip: IpAddr = a
        .bind
        .parse()
        .map_err(|_| Fail::usage(format!("--bind: '{}' is not an IP address", a.bind)))?;
    // The explorer's server panics when it cannot listen: find out first,
    // and with --port 0 learn which free port the system picks.
    let probe = TcpListener::bind(SocketAddr::new(ip, a.port)).map_err(|e| {
        Fail::usage(format!(
            "cannot listen on {}: {e}",
            SocketAddr::new(ip, a.port)
        ))
    })?;
    let port = probe
        .local_addr()
        .map_err(|e| Fail::usage(format!("cannot read the bound address: {e}")))?
        .port();
    drop(probe);
    let addr = SocketAddr::new(ip, port);

    let want = Want {
        violations: true,
        examples: true,
    };
    let out = check::run(&g, &m, &Bounds::default(), want, true)?;
    let host = match ip {
        IpAddr::V4(v4) if v4.is_unspecified() => "127.0.0.1".to_string(),
        IpAddr::V6(v6) if v6.is_unspecified() => "[::1]".to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
        IpAddr::V4(v4) => v4.to_string(),
    };
    let base = format!("http://{host}:{port}");
    println!("{} ({} pass): paths in the explorer", g.name, g.pass);
    for r in &out.results {
        let what = match &r.verdict {
            Verdict::Violated(_) => "counterexample",
            Verdict::Found(_) => "example",
            _ => continue,
        };
        if let Some(tr) = r.verdict.trace() {
            println!(
                "  {what:<14} {:<8} {:<40} {base}/#/steps/{}",
                kind_name(r.kind()),
                r.name(),
                tr.explorer_path()
            );
        }
    }
    println!("serving the Stateright explorer on {base}/ (Ctrl-C to stop)");
    m.checker().serve(addr);
    Ok(Code::Ok)
}
