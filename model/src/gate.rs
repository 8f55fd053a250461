//! Configurations are data: one JSON file per gate row under `configs/`
//! (schema: docs/configuration.md). This module loads and validates them; it
//! builds no gate configuration itself. The expected verdicts live in
//! `checker/expected.json`.
//!
//! A file is `{"name", "pass", "description", "config"}`, where `config` is
//! the serde form of [`Config`]. Unknown fields are errors; fields with a
//! default may be left out (and a field added later gets a default, so old
//! files stay valid). Every error names the file and the JSON path of the
//! offending field.

use crate::config::*;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::{Path, PathBuf};

/// What a gate row checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pass {
    /// Safety (`always`) and sanity (`sometimes`) by exhaustive search.
    Safety,
    /// Liveness by the fairness-aware lasso search.
    Liveness,
}

impl fmt::Display for Pass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Pass::Safety => "safety",
            Pass::Liveness => "liveness",
        })
    }
}

/// The serde form of one configuration file.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// The row name: `design`, `design+bug`, or `design@question`; equal to
    /// the file name without `.json`.
    pub name: String,
    pub pass: Pass,
    /// What question the row asks, for people.
    #[serde(default)]
    pub description: String,
    /// Another row of the same directory whose configuration this one
    /// starts from: `config` then holds only the fields that differ (each
    /// replaces the base's field of that name). The base must not have a
    /// base itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<String>,
    /// The configuration (the serde form of [`Config`]), or with `base`
    /// the fields that differ from the base row's.
    pub config: serde_json::Map<String, serde_json::Value>,
}

/// One loaded, validated configuration.
#[derive(Clone, Debug)]
pub struct GateConfig {
    /// Row name: `design`, `design+bug`, or `design@variant` for liveness rows.
    pub name: String,
    pub pass: Pass,
    pub description: String,
    pub cfg: Config,
    /// The row whose configuration this one starts from ([`ConfigFile::base`]).
    pub base: Option<String>,
    /// The file it came from.
    pub file: PathBuf,
}

/// Finds a base row's file text by row name (see [`parse_with`]).
pub type BaseLookup<'a> = &'a dyn Fn(&str) -> Result<String, String>;

/// Configuration files larger than this are refused before parsing.
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// Longest error message quoted from the parser: a hostile file must not
/// turn into megabytes of output.
pub const MAX_MESSAGE: usize = 300;

/// `s` cut to [`MAX_MESSAGE`] bytes (on a character boundary), saying how
/// much was cut: error messages quote input, and input can be huge.
pub fn clip(s: &str) -> String {
    if s.len() <= MAX_MESSAGE {
        return s.to_string();
    }
    let mut end = MAX_MESSAGE;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}... ({} bytes cut)", &s[..end], s.len() - end)
}

fn name_ok(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 100
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_+@-.".contains(c))
        && !name.starts_with('.')
}

/// Deserializes `text`; the error starts with the JSON path of the
/// offending field (`pinners[1].page: invalid type ...`) and is clipped to a
/// few hundred bytes.
pub fn from_json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, String> {
    let de = &mut serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de).map_err(|err| {
        let path = err.path().to_string();
        let inner = clip(&err.into_inner().to_string());
        if path == "." {
            inner
        } else {
            format!("{path}: {inner}")
        }
    })
}

/// Parses and validates one configuration file's text. `origin` names the
/// file in error messages. A file with a `base` needs its directory: see
/// [`load_file`] (here it is an error).
pub fn parse(text: &str, origin: &str) -> Result<GateConfig, ConfigError> {
    parse_with(text, origin, &|_| {
        Err(
            "a row with a base is read from its file (the base is a file of the same directory)"
                .into(),
        )
    })
}

/// The raw file: the fields, checked for shape, with `config` unparsed.
fn parse_file(text: &str) -> Result<ConfigFile, String> {
    if text.trim().is_empty() {
        return Err("empty file (expected a JSON configuration: docs/configuration.md)".into());
    }
    if !text.trim_start().starts_with('{') {
        return Err("not a configuration: expected a JSON object with name, pass, description and config (docs/configuration.md)".into());
    }
    let f: ConfigFile = from_json(text)?;
    if !name_ok(&f.name) {
        return Err(format!(
            "name: '{}' is not a row name (1-100 characters of a-z, 0-9, _ + @ - .)",
            clip(&f.name)
        ));
    }
    Ok(f)
}

/// [`parse`], finding a `base` row's file text with `lookup`.
pub fn parse_with(text: &str, origin: &str, lookup: BaseLookup) -> Result<GateConfig, ConfigError> {
    let e = |m: String| ConfigError(format!("{origin}: {m}"));
    let f = parse_file(text).map_err(e)?;
    let mut fields = f.config;
    if let Some(base) = &f.base {
        if !name_ok(base) || *base == f.name {
            return Err(e(format!(
                "base: '{}' is not another row's name",
                clip(base)
            )));
        }
        let base_text = lookup(base).map_err(|m| e(format!("base: {m}")))?;
        let b = parse_file(&base_text)
            .map_err(|m| e(format!("base: row '{base}' does not parse: {m}")))?;
        if b.base.is_some() {
            return Err(e(format!(
                "base: row '{base}' has a base itself (a base must spell out its configuration)"
            )));
        }
        let mut merged = b.config;
        merged.extend(fields);
        fields = merged;
    }
    let config: Config = serde_path_to_error::deserialize(serde_json::Value::Object(fields))
        .map_err(|err| {
            let path = err.path().to_string();
            let inner = clip(&err.into_inner().to_string());
            if path == "." {
                e(format!("config: {inner}"))
            } else {
                e(format!("config.{path}: {inner}"))
            }
        })?;
    config
        .validate_work()
        .map_err(|err| e(format!("config.{}", err.0)))?;
    Ok(GateConfig {
        name: f.name,
        pass: f.pass,
        description: f.description,
        cfg: config,
        base: f.base,
        file: PathBuf::from(origin),
    })
}

/// Reads a file of at most [`MAX_CONFIG_BYTES`] as UTF-8 text.
fn read_text(path: &Path) -> Result<String, String> {
    let meta = std::fs::metadata(path).map_err(|err| format!("cannot read: {err}"))?;
    if meta.is_dir() {
        return Err(
            "is a directory, not a configuration file (a gate row's file is configs/NAME.json)"
                .into(),
        );
    }
    if meta.len() > MAX_CONFIG_BYTES {
        return Err(format!(
            "{} bytes: larger than the {} byte limit of a configuration file",
            meta.len(),
            MAX_CONFIG_BYTES
        ));
    }
    // `take` also bounds what a character device (or a file that grows) yields.
    let mut bytes = Vec::new();
    {
        use std::io::Read;
        std::fs::File::open(path)
            .and_then(|f| f.take(MAX_CONFIG_BYTES + 1).read_to_end(&mut bytes))
            .map_err(|err| format!("cannot read: {err}"))?;
    }
    if bytes.len() as u64 > MAX_CONFIG_BYTES {
        return Err(format!(
            "larger than the {MAX_CONFIG_BYTES} byte limit of a configuration file"
        ));
    }
    String::from_utf8(bytes).map_err(|_| "not UTF-8 text".into())
}

/// Reads, parses and validates one configuration file; its `name` must be
/// its file name without `.json`.
pub fn load_file(path: &Path) -> Result<GateConfig, ConfigError> {
    let shown = path.display().to_string();
    let e = |m: String| ConfigError(format!("{shown}: {m}"));
    let text = read_text(path).map_err(e)?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let lookup = |base: &str| {
        let p = dir.join(format!("{base}.json"));
        if !p.exists() {
            return Err(format!("no row '{base}' ({} does not exist)", p.display()));
        }
        read_text(&p).map_err(|m| format!("{}: {m}", p.display()))
    };
    let g = parse_with(&text, &shown, &lookup)?;
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    if path.extension().and_then(|x| x.to_str()) == Some("json") && stem != g.name {
        return Err(e(format!(
            "name: '{}' differs from the file name '{stem}.json' (a row is found by its file name)",
            g.name
        )));
    }
    Ok(GateConfig {
        file: path.to_path_buf(),
        ..g
    })
}

/// The subdirectory of `configs/` holding the deep profile's rows (`gate
/// --deep`: 3-4 pages, two converter threads, two VMs), loaded on their
/// own and skipped by [`load_dir`] of `configs/`.
pub const DEEP_DIR: &str = "deep";

/// Every `*.json` file of `dir`, in file-name order (byte order: a design's
/// rows `D`, `D+bug`, `D@question` sort together). Any other file, except a
/// `README.md` and the deep profile's directory [`DEEP_DIR`], is an error: a
/// stray file is more likely a mistake than a note.
pub fn load_dir(dir: &Path) -> Result<Vec<GateConfig>, ConfigError> {
    let e = |m: String| ConfigError(format!("{}: {m}", dir.display()));
    let entries = std::fs::read_dir(dir).map_err(|err| e(format!("cannot read: {err}")))?;
    let mut paths = Vec::new();
    for entry in entries {
        let p = entry
            .map_err(|err| e(format!("cannot read: {err}")))?
            .path();
        let fname = p.file_name().and_then(|s| s.to_str()).unwrap_or("");
        if fname == "README.md" || (fname == DEEP_DIR && p.is_dir()) {
            continue;
        }
        if p.extension().and_then(|x| x.to_str()) != Some("json") || p.is_dir() {
            return Err(e(format!(
                "'{fname}' is not a configuration (only NAME.json files and README.md belong here)"
            )));
        }
        paths.push(p);
    }
    paths.sort();
    if paths.is_empty() {
        return Err(e("no configuration files (*.json)".into()));
    }
    paths.iter().map(|p| load_file(p)).collect()
}

/// The small fixed configuration encoded action for action in TLA+ and
/// Promela (bench/peers/), so that TLC, SPIN and this checker can be compared
/// on the same state graph: two pages, one VMM process writing page 0, one
/// GUP-fast short-term pinner on page 0, one to-private conversion of both
/// pages. (A benchmark fixture, not a gate row.)
pub fn peer_config(design: Design, bug: Option<Bug>) -> Config {
    let mut c = Config::empty(design, 2);
    c.procs = vec![vec![HostOp::Write { page: 0 }]];
    c.pinners = vec![PinnerCfg {
        kind: PinKind::Pin,
        path: GupPath::Fast,
        page: 0,
        proc: 0,
        hold_forever: false,
        repeat: false,
        vfio: false,
    }];
    c.conversions = vec![ConvOp {
        start: 0,
        pages: if design == Design::ExclusivePin { 1 } else { 2 },
        to: Attr::Private,
        converter: 0,
    }];
    if let Some(b) = bug {
        c.bugs.insert(b);
    }
    c
}
