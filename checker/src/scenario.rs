//! `scenario`: run scenario files on the concrete implementation (guest_memfd).

use crate::cli::ScenarioArgs;
use crate::exit::{Code, Fail, Result};
use crate::paths;
use std::path::PathBuf;

pub fn cmd(a: &ScenarioArgs) -> Result<Code> {
    let files = if a.files.is_empty() {
        all_scenarios()?
    } else {
        a.files.clone()
    };
    for f in &files {
        if !f.is_file() {
            return Err(Fail::usage(format!(
                "no such scenario file: {}",
                f.display()
            )));
        }
    }
    let mut stdout = std::io::stdout();
    let sum = guest_memfd::scenario::run_files(&files, &mut stdout);
    // A file that cannot be run as written is bad input (2), not a
    // mismatch (1); with both, the bad input wins.
    let mut code = Code::Ok;
    if sum.failed > 0 {
        code = code.worst(Code::Failed);
    }
    if sum.malformed > 0 {
        code = code.worst(Code::Usage);
    }
    Ok(code)
}

/// Every `*.json` file in the repository's scenarios/ directory, sorted.
fn all_scenarios() -> Result<Vec<PathBuf>> {
    let dir = paths::scenarios_dir();
    let entries = std::fs::read_dir(&dir)
        .map_err(|e| Fail::usage(format!("cannot read {}: {e}", dir.display())))?;
    let mut v: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    v.sort();
    if v.is_empty() {
        return Err(Fail::usage(format!(
            "no scenario files in {}",
            dir.display()
        )));
    }
    Ok(v)
}
