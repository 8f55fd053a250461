//! `docs/verdicts.md`: the verdict matrix as Markdown, generated from the
//! gate's results (never by hand). `gate --write-docs` writes it; plain
//! `gate` fails when the committed file differs from what the results give.
//!
//! Only deterministic content goes in (verdicts, configurations, trace
//! lengths), never timings, so a current file stays current.

use super::RowResult;
use crate::verdict::Verdict;
use invariants::PropertyId;
use model::config::{GupPath, HostOp, PinKind, TruncOp};
use model::gate::Pass;
use model::{Actor, Config, GmemModel};
use std::path::Path;

fn symbol(v: &Verdict) -> &'static str {
    match v {
        Verdict::Holds => "✓",
        Verdict::Violated(_) => "**✗**",
        Verdict::Found(_) => "+",
        Verdict::NotFound => "**!**",
        Verdict::NotApplicable(_) => "–",
        Verdict::Incomplete(_) => "**?**",
    }
}

const LEGEND: &str = "✓ holds (exhaustively, at the row's bounds); **✗** violated (a counterexample is committed, linked under [Rows](#rows)); + sanity example found; **!** sanity example NOT found; – not applicable to this configuration (`check --row ROW` prints the reason); **?** incomplete.";

fn cell(r: &RowResult, id: PropertyId) -> &'static str {
    r.results
        .iter()
        .find(|p| p.id == id)
        .map_or(" ", |p| symbol(&p.verdict))
}

/// A link to a committed file, relative to docs/.
fn link(rel: &str) -> String {
    format!("../counterexamples/{}", rel.replace('+', "%2B"))
}

fn table(rows: &[&RowResult], cols: &[PropertyId], header: &[String]) -> String {
    let mut out = format!("| row | {} |\n", header.join(" | "));
    out += &format!("| --- |{}\n", " :-: |".repeat(cols.len()));
    for r in rows {
        let cells: Vec<&str> = cols.iter().map(|&id| cell(r, id)).collect();
        out += &format!(
            "| [`{}`](#{}) | {} |\n",
            r.name,
            anchor(&r.name),
            cells.join(" | ")
        );
    }
    out
}

/// The anchor a code host gives the heading `` `name` ``.
fn anchor(name: &str) -> String {
    name.chars()
        .filter_map(|c| match c {
            'a'..='z' | '0'..='9' | '_' | '-' => Some(c),
            'A'..='Z' => Some(c.to_ascii_lowercase()),
            ' ' => Some('-'),
            _ => None,
        })
        .collect()
}

fn plural(n: usize, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

/// One actor's part of the configuration, from `Config` fields.
fn actor_script(c: &Config, a: Actor) -> String {
    let range = |s: u8, n: u8| {
        if n == 1 {
            format!("page {s}")
        } else {
            format!("pages {s}..{}", s + n)
        }
    };
    let what = match a {
        Actor::Converter(k) => {
            let ops: Vec<String> = c
                .conversions_of(k)
                .map(|o| format!("{} to {:?}", range(o.start, o.pages), o.to).to_lowercase())
                .collect();
            let mut s = format!("converts {}", ops.join(", then "));
            if c.retry_until_ok {
                s += ", retried until it succeeds";
            }
            if !c.block_pins_while_waiting {
                s += ", waits for GUP references while still mapped";
            }
            if let Some(p) = c.attrs_arg_page {
                s += &format!(", its ioctl argument in page {p} of the guest_memfd mapping");
            }
            s
        }
        Actor::Proc(p) => {
            let ops: Vec<String> = c.procs[p as usize]
                .iter()
                .map(|op| match op {
                    HostOp::Read { page } => format!("reads page {page}"),
                    HostOp::Write { page } => format!("writes page {page}"),
                    HostOp::Dontneed { page } => format!("madvise(DONTNEED) page {page}"),
                })
                .collect();
            ops.join(", then ")
        }
        Actor::Pinner(k) => {
            let p = c.pinners[k as usize];
            let kind = match p.kind {
                PinKind::Get => "FOLL_GET",
                PinKind::Pin => "FOLL_PIN",
                PinKind::Longterm => "FOLL_PIN|FOLL_LONGTERM",
            };
            let path = match p.path {
                GupPath::Fast => "GUP-fast",
                GupPath::Slow => "slow GUP",
            };
            let mut s = format!("{kind} via {path} on page {} (proc{})", p.page, p.proc);
            if p.vfio {
                s = format!(
                    "VFIO type1 VFIO_IOMMU_MAP_DMA of page {} (proc{}): {kind} via {path}, \
                     follow_pfnmap_start() on a VM_PFNMAP VMA",
                    p.page, p.proc
                );
                if c.reserved_pfns {
                    s += " (pfns without struct pages: is_invalid_reserved_pfn() accepts them)";
                }
            }
            if p.hold_forever {
                s += ", held forever";
            }
            if p.repeat {
                s += ", pins again after every release";
            }
            s
        }
        Actor::Guest(vm) => {
            let ops: Vec<String> = c
                .guest
                .iter()
                .filter(|g| g.vm == vm)
                .map(|g| format!("{:?} access to page {}", g.access, g.page).to_lowercase())
                .collect();
            ops.join(", then ")
        }
        Actor::Truncator => match c.truncate {
            Some(TruncOp::Punch { start, pages }) => {
                format!("fallocate(PUNCH_HOLE) {}", range(start, pages))
            }
            Some(TruncOp::Close) => "close()".into(),
            Some(TruncOp::Release { vm }) => format!("releases VM {vm}'s guest_memfd file"),
            None => String::new(),
        },
        Actor::Populate => match c.populate {
            Some(p) => format!(
                "kvm_gmem_populate() dst page {} from src page {}",
                p.dst, p.src
            ),
            None => String::new(),
        },
        Actor::Speculative => match c.speculative {
            Some(s) => format!(
                "folio_try_get() on page {}{}",
                s.page,
                if s.repeat { ", repeatedly" } else { "" }
            ),
            None => String::new(),
        },
        Actor::PoolCallback => "returns the gigantic page to the pool".into(),
        Actor::MemoryFailure => format!(
            "poisons page {} (memory_failure, kvm_gmem_error_folio)",
            c.memory_failure.unwrap_or(0)
        ),
        Actor::AllocFail if c.design == model::Design::Hugetlb => {
            "fails the conversion's stage-2 split or the vmemmap restore of its folio split, once per request (-ENOMEM)".into()
        }
        Actor::AllocFail => "fails the conversion's maple-tree preallocation (-ENOMEM)".into(),
        Actor::SecondaryMmu => match c.secondary_mmu {
            Some(d) => format!(
                "mirrors page {} of proc{}'s mapping into a device: mmu_interval_read_begin(), \
                 hmm_range_fault() (faults it in), mmu_interval_read_retry() under the driver \
                 lock, one DMA; no folio reference",
                d.page, d.proc
            ),
            None => String::new(),
        },
    };
    format!("`{a}` {what}")
}

/// The row's configuration in one line, from its `Config` (design, bugs,
/// pages, flags, and every actor with its script).
fn config_line(m: &GmemModel) -> String {
    let c = m.cfg();
    let mut head = format!("Design `{}`", c.design.name());
    let bugs: Vec<String> = c.bugs.iter().map(|b| format!("`{}`", b.name())).collect();
    if !bugs.is_empty() {
        head += &format!(", bug {}", bugs.join(", "));
    }
    head += &format!(
        "; {}, initially {}",
        plural(c.pages as usize, "page"),
        if c.init_shared { "shared" } else { "private" }
    );
    if c.lru {
        head += "; fresh folios sit in an LRU batch";
    }
    let actors: Vec<String> = m.actors().into_iter().map(|a| actor_script(c, a)).collect();
    format!("{head}. Actors: {}.", actors.join("; "))
}

fn counterexample_links(r: &RowResult) -> Vec<String> {
    r.results
        .iter()
        .filter_map(|p| {
            let Verdict::Violated(Some(t)) = &p.verdict else {
                return None;
            };
            let base = format!("{}/{}", r.name, p.name());
            let steps = match t.loop_start {
                Some(l) => format!("{l}-step stem + {}-step loop", t.steps.len() - l),
                None => plural(t.steps.len(), "step"),
            };
            Some(format!(
                "`{}` ({steps}): [diagram]({}) · [ITF trace]({})",
                p.name(),
                link(&format!("{base}.svg")),
                link(&format!("{base}.itf.json"))
            ))
        })
        .collect()
}

pub fn render(rows: &[RowResult]) -> String {
    let safety: Vec<PropertyId> = PropertyId::safety().collect();
    let sanity: Vec<PropertyId> = PropertyId::sanity().collect();
    let live: Vec<PropertyId> = PropertyId::liveness().collect();
    let safety_rows: Vec<&RowResult> = rows.iter().filter(|r| r.pass == Pass::Safety).collect();
    let live_rows: Vec<&RowResult> = rows.iter().filter(|r| r.pass == Pass::Liveness).collect();
    let names = |ids: &[PropertyId]| -> Vec<String> {
        ids.iter().map(|id| format!("`{}`", id.name())).collect()
    };
    let numbered =
        |ids: &[PropertyId]| -> Vec<String> { (1..=ids.len()).map(|i| format!("S{i}")).collect() };

    let mut out = String::new();
    out += "# Verdicts\n\n";
    out += "<!-- Generated by `cargo run --release -- gate --write-docs`; do not edit. \
            `cargo run --release -- gate` fails when this file is not current. -->\n\n";
    out += "Every row the CI gate checks (one file per row under `configs/`, \
            [configuration.md](configuration.md)) against every \
            property, as `cargo run --release -- gate` finds them at the gate's bounds. \
            `checker/expected.json` pins these verdicts; this page is generated from the \
            gate's results and the gate fails when it is out of date. What each property \
            means: [properties.md](properties.md). Each row's configuration and its \
            committed counterexamples are listed [below](#rows).\n\n";
    out += &format!("Legend: {LEGEND}\n\n");

    out += "## Safety (exhaustive search)\n\n";
    out += &table(&safety_rows, &safety, &names(&safety));
    out += "\n## Sanity (examples that keep the safety verdicts from being vacuous)\n\n";
    out += &table(&safety_rows, &sanity, &numbered(&sanity));
    out += "\n";
    for (i, id) in sanity.iter().enumerate() {
        out += &format!("S{}: {}. ", i + 1, id.name());
    }
    out = out.trim_end().to_string();
    out += "\n\n## Liveness (fair-lasso search, weak fairness per actor, strong for a converter's lock)\n\n";
    out += &table(&live_rows, &live, &names(&live));

    out += "\n## Rows\n\n";
    out += "Reproduce any row with `cargo run --release -- check --row ROW`; open it with \
            `cargo run --release -- explore --row ROW`.\n";
    for r in rows {
        let pass = match r.pass {
            Pass::Safety => "safety and sanity",
            Pass::Liveness => "liveness",
        };
        out += &format!("\n### `{}`\n\n", r.name);
        out += &format!("Checks {pass}. {}\n", config_line(&r.model));
        let links = counterexample_links(r);
        if !links.is_empty() {
            out += "\nCounterexamples:\n\n";
            for l in links {
                out += &format!("- {l}\n");
            }
        }
    }
    out
}

/// The difference between the committed file and the rendered one, if any.
pub fn compare(path: &Path, text: &str) -> Option<String> {
    match std::fs::read_to_string(path) {
        Ok(old) if old == text => None,
        Ok(_) => Some("docs/verdicts.md: stale (run gate --write-docs)".into()),
        Err(_) => Some("docs/verdicts.md: missing (run gate --write-docs)".into()),
    }
}
