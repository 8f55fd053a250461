//! Reading a file named on the command line: a size cap (checked before and
//! while reading, so `/dev/zero` or a growing file cannot exhaust memory),
//! a clear message for a directory, an empty file (`/dev/null`) or non-UTF-8
//! bytes, and error messages clipped so that bad input is never echoed by
//! the megabyte.

use std::io::Read;
use std::path::Path;

/// Error messages quote input cut to `model::gate::MAX_MESSAGE` bytes: one rule
/// for configuration files, traces and scenarios.
pub use model::gate::clip;

/// Reads `path` as UTF-8 text of at most `cap` bytes; `what` names the
/// expected content in errors ("an ITF trace"). The error does not repeat
/// the path: the caller prefixes it.
pub fn read_text(path: &Path, cap: u64, what: &str) -> Result<String, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read: {e}"))?;
    if meta.is_dir() {
        return Err(format!("is a directory, not {what}"));
    }
    if meta.len() > cap {
        return Err(format!(
            "{} bytes: larger than the {cap} byte limit for {what}",
            meta.len()
        ));
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(cap + 1).read_to_end(&mut bytes))
        .map_err(|e| format!("cannot read: {e}"))?;
    if bytes.len() as u64 > cap {
        return Err(format!("larger than the {cap} byte limit for {what}"));
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(format!("empty: not {what}"));
    }
    String::from_utf8(bytes).map_err(|e| {
        format!(
            "not UTF-8 text (invalid byte at offset {}): not {what}",
            e.utf8_error().valid_up_to()
        )
    })
}
