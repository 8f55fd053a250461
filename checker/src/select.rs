//! From `--design/--bug/--row/--pages` to a validated model configuration.

use crate::cli::Select;
use crate::exit::{Fail, Result};
use model::gate::{gate_config, gate_configs, Pass};
use model::{Bug, Config, Design, GmemModel};

/// What to check, and how it is named in reports and file paths.
#[derive(Clone, Debug)]
pub struct Target {
    /// `design`, `design+bug`, or the gate row name.
    pub label: String,
    pub cfg: Config,
    /// For a gate row: the pass the gate runs. `None`: every pass.
    pub pass: Option<Pass>,
    /// The selection flags that reproduce this target (for `explore` hints).
    pub flags: String,
    /// Where liveness is checked when it is not `cfg` itself: a design-level
    /// `check --design D` checks liveness on the design's liveness row
    /// (`D@retry`: a retried conversion racing a GUP user), because the
    /// safety configuration has no retry and is too large to store.
    pub live: Option<(String, Config)>,
}

impl Target {
    pub fn model(&self) -> Result<GmemModel> {
        Ok(GmemModel::new(self.cfg.clone())?)
    }
    /// The label and model the liveness pass runs on.
    pub fn live_model(&self) -> Result<(String, GmemModel)> {
        match &self.live {
            Some((label, cfg)) => Ok((label.clone(), GmemModel::new(cfg.clone())?)),
            None => Ok((self.label.clone(), self.model()?)),
        }
    }
    pub fn runs_safety(&self) -> bool {
        self.pass != Some(Pass::Liveness)
    }
    pub fn runs_liveness(&self) -> bool {
        self.pass != Some(Pass::Safety)
    }
}

pub fn select(s: &Select) -> Result<Target> {
    let mut t = match &s.row {
        Some(name) => {
            let row = gate_config(name).ok_or_else(|| {
                Fail::usage(format!(
                    "unknown gate row '{name}' (expected one of: {})",
                    gate_configs()
                        .iter()
                        .map(|g| g.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })?;
            Target {
                flags: format!("--row {}", row.name),
                label: row.name,
                cfg: row.cfg,
                pass: Some(row.pass),
                live: None,
            }
        }
        None => {
            let design = s
                .design
                .as_deref()
                .map(|d| d.parse::<Design>().map_err(model::ConfigError))
                .transpose()?;
            let bugs = s
                .bugs
                .iter()
                .map(|b| b.parse::<Bug>().map_err(model::ConfigError))
                .collect::<std::result::Result<Vec<_>, _>>()?;
            let cfg = Config::from_flags(design, &bugs)?;
            let mut flags = format!("--design {}", cfg.design);
            for b in cfg.bugs.iter() {
                flags += &format!(" --bug {b}");
            }
            let live = (bugs.is_empty() && s.pages.is_none()).then(|| {
                let row = format!("{}@retry", cfg.design);
                (row, model::gate::liveness_config(cfg.design))
            });
            Target {
                label: cfg.label(),
                cfg,
                pass: None,
                flags,
                live,
            }
        }
    };
    if let Some(n) = s.pages {
        if n != t.cfg.pages {
            t.cfg = t.cfg.with_pages(n)?;
            // A resized configuration gets its own counterexample directory.
            t.label = format!("{}@pages{n}", t.label);
            t.flags += &format!(" --pages {n}");
        }
    }
    t.cfg.validate()?;
    Ok(t)
}
