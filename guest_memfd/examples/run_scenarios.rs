//! `cargo run -p guest_memfd --example run_scenarios -- FILE...`: the
//! scenario runner without the checker CLI.

use std::path::PathBuf;

fn main() {
    let paths: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let sum = guest_memfd::scenario::run_files(&paths, &mut std::io::stdout());
    // 2: a file that cannot be run as written (or none given); 1: a mismatch.
    if sum.malformed > 0 || paths.is_empty() {
        std::process::exit(2);
    }
    if sum.failed > 0 {
        std::process::exit(1);
    }
}
