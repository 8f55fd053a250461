//! From `--design/--bug/--row/--config` to the configurations to check: the
//! files under `configs/` (or the file given), never a configuration built
//! in Rust.

use crate::cli::Select;
use crate::exit::{Fail, Result};
use crate::paths;
use model::config::BugScope;
use model::gate::{self, GateConfig};
use model::{Bug, BugSet, Design, GmemModel};
use std::path::Path;

/// What to check: one or more configurations, each with its pass, and how
/// the whole is named in reports.
#[derive(Clone, Debug)]
pub struct Target {
    /// `design`, `design+bug`, a row name, or a configuration file's name.
    pub title: String,
    /// In gate order.
    pub rows: Vec<GateConfig>,
}

/// The flags that select exactly `row`.
pub fn row_flags(row: &GateConfig, from_file: bool) -> String {
    if from_file {
        format!("--config {}", row.file.display())
    } else {
        format!("--row {}", row.name)
    }
}

pub fn model(row: &GateConfig) -> Result<GmemModel> {
    Ok(GmemModel::new(row.cfg.clone())?)
}

/// Every gate row, from `configs/` of the checkout.
pub fn gate_rows() -> Result<Vec<GateConfig>> {
    let dir = paths::configs_dir()?;
    Ok(gate::load_dir(&dir)?)
}

/// The deep profile's rows, from `configs/deep/`.
pub fn deep_rows() -> Result<Vec<GateConfig>> {
    let dir = paths::deep_configs_dir()?;
    Ok(gate::load_dir(&dir)?)
}

/// One gate row by name.
pub fn gate_row(name: &str) -> Result<GateConfig> {
    let rows = gate_rows()?;
    let names: Vec<&str> = rows.iter().map(|g| g.name.as_str()).collect();
    match rows.iter().find(|g| g.name == name) {
        Some(g) => Ok(g.clone()),
        None => Err(Fail::usage(format!(
            "unknown gate row '{name}' (the rows are the files under configs/: {})",
            names.join(", ")
        ))),
    }
}

/// A configuration file given on the command line.
pub fn config_file(path: &Path) -> Result<GateConfig> {
    Ok(gate::load_file(path)?)
}

pub fn select(s: &Select) -> Result<Target> {
    if s.pages.is_some() {
        return Err(Fail::usage(
            "--pages was removed: the page count belongs to a configuration, with the pages \
             every actor touches. Copy a file from configs/ (e.g. configs/inplace.json), set \
             config.pages and the actors' pages, and run `check --config FILE` \
             (docs/configuration.md)",
        ));
    }
    if let Some(path) = &s.config {
        let g = config_file(path)?;
        return Ok(Target {
            title: g.name.clone(),
            rows: vec![g],
        });
    }
    if let Some(name) = &s.row {
        let g = gate_row(name)?;
        return Ok(Target {
            title: g.name.clone(),
            rows: vec![g],
        });
    }
    let design = s
        .design
        .as_deref()
        .map(|d| d.parse::<Design>().map_err(Fail::usage))
        .transpose()?;
    let bugs = s
        .bugs
        .iter()
        .map(|b| b.parse::<Bug>().map_err(Fail::usage))
        .collect::<Result<Vec<_>>>()?;
    let set = BugSet::from(bugs.clone());
    // Without --design: the design's own rows are inplace's; a bug's rows
    // are on every design the gate checks it on.
    let design = match (design, bugs.is_empty()) {
        (Some(d), _) => Some(d),
        (None, true) => Some(Design::Inplace),
        (None, false) => None,
    };
    if let Some(d) = design {
        if let Some(b) = bugs.iter().find(|b| !b.applies_to(d)) {
            return Err(Fail::usage(format!(
                "bug switch '{b}' does not apply to design '{d}' (it applies to: {})",
                Design::ALL
                    .into_iter()
                    .filter(|x| b.applies_to(*x))
                    .map(|x| x.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    }
    let all = gate_rows()?;
    let rows: Vec<GateConfig> = all
        .iter()
        .filter(|g| g.cfg.bugs == set && design.is_none_or(|d| g.cfg.design == d))
        .cloned()
        .collect();
    let bug_part = set.iter().map(|b| b.name()).collect::<Vec<_>>().join("+");
    let title = match design {
        Some(d) if bug_part.is_empty() => d.name().to_string(),
        Some(d) => format!("{d}+{bug_part}"),
        // One row: its name says design and switch.
        None if rows.len() == 1 => rows[0].name.clone(),
        None => format!("bug {bug_part}"),
    };
    if rows.is_empty() {
        let near: Vec<&str> = all
            .iter()
            .filter(|g| set.iter().all(|b| g.cfg.bugs.has(b)))
            .map(|g| g.name.as_str())
            .collect();
        return Err(Fail::usage(format!(
            "no configuration under configs/ checks {title}{}; to ask this question, copy the \
             nearest file, change config.design and config.bugs, and run `check --config FILE` \
             (docs/configuration.md)",
            if near.is_empty() {
                String::new()
            } else {
                format!(" (rows with these bug switches: {})", near.join(", "))
            }
        )));
    }
    Ok(Target { title, rows })
}

/// The one configuration `explore` serves: the row selected, or the
/// design's (or bug's) safety row when the selection has several rows.
pub fn select_one(s: &Select) -> Result<(GateConfig, bool)> {
    let t = select(s)?;
    let from_file = s.config.is_some();
    let n = t.rows.len();
    let mut rows = t.rows.into_iter();
    if n == 1 {
        return Ok((rows.next().expect("one row"), from_file));
    }
    let all: Vec<GateConfig> = rows.collect();
    let names = all
        .iter()
        .map(|g| g.name.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    match all.iter().find(|g| g.pass == gate::Pass::Safety) {
        Some(g) => Ok((g.clone(), false)),
        None => Err(Fail::usage(format!(
            "{} selects {n} configurations ({names}); the explorer shows one: pick it with --row NAME",
            t.title
        ))),
    }
}
