//! Where the repository's files are, independent of the current directory.

use std::path::{Path, PathBuf};

/// The workspace root (the checker crate's parent directory).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

pub fn counterexamples_dir() -> PathBuf {
    repo_root().join("counterexamples")
}

pub fn expected_json() -> PathBuf {
    repo_root().join("checker").join("expected.json")
}

pub fn scenarios_dir() -> PathBuf {
    repo_root().join("scenarios")
}

/// `<dir>/<label>/<property>.itf.json`.
pub fn counterexample_file(dir: &Path, label: &str, property: &str) -> PathBuf {
    dir.join(label).join(format!("{property}.itf.json"))
}

/// `<dir>/<label>/<property>.svg`: the trace as a sequence diagram.
pub fn counterexample_svg(dir: &Path, label: &str, property: &str) -> PathBuf {
    dir.join(label).join(format!("{property}.svg"))
}
