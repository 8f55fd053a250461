//! The bound of a verdict: what a configuration puts in the model (pages
//! and how many actors of each kind, with what they do). Every verdict
//! line carries it, because "holds" means "holds within this bound".

use model::config::{GupPath, HostOp, PinKind, TruncOp};
use model::Config;

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// e.g. `2 pages; 2 conversions, 1 process (1 op), 2 GUP users, 1 vCPU (2
/// faults), 1 punch, LRU batching`.
pub fn describe(c: &Config) -> String {
    let mut parts: Vec<String> = vec![];
    if !c.conversions.is_empty() {
        let mut s = plural(c.conversions.len(), "conversion", "conversions");
        if c.converters().count() > 1 {
            // The second VMM thread converting concurrently (overlapping
            // ranges allowed) is part of what a verdict covers.
            s += &format!(
                " by 2 converter threads (converter: {}, converter1: {})",
                c.conversions_of(0).count(),
                c.conversions_of(1).count()
            );
        }
        if c.retry_until_ok {
            s += if c.conversions.len() == 1 {
                " (retried until it succeeds)"
            } else {
                " (each retried until it succeeds)"
            };
        }
        parts.push(s);
    }
    if !c.procs.is_empty() {
        let ops: usize = c.procs.iter().map(Vec::len).sum();
        let dontneed = c
            .procs
            .iter()
            .flatten()
            .any(|o| matches!(o, HostOp::Dontneed { .. }));
        parts.push(format!(
            "{} ({}{})",
            plural(c.procs.len(), "process", "processes"),
            plural(ops, "access", "accesses"),
            if dontneed { " incl. madvise" } else { "" }
        ));
    }
    if !c.pinners.is_empty() {
        let kinds: Vec<String> = c
            .pinners
            .iter()
            .map(|p| {
                let k = match p.kind {
                    PinKind::Get => "FOLL_GET",
                    PinKind::Pin => "FOLL_PIN",
                    PinKind::Longterm => "FOLL_LONGTERM",
                };
                let path = match p.path {
                    GupPath::Fast => "fast",
                    GupPath::Slow => "slow",
                };
                let how = if p.hold_forever {
                    ", held forever"
                } else if p.repeat {
                    ", repeating"
                } else {
                    ""
                };
                let vfio = if p.vfio { "VFIO type1 " } else { "" };
                format!("{vfio}{k} {path}{how}")
            })
            .collect();
        parts.push(format!(
            "{} ({})",
            plural(c.pinners.len(), "GUP user", "GUP users"),
            kinds.join("; ")
        ));
    }
    if !c.guest.is_empty() {
        let vcpus = (0..c.vms)
            .filter(|&v| c.guest.iter().any(|g| g.vm == v))
            .count();
        parts.push(format!(
            "{} ({})",
            plural(vcpus, "vCPU", "vCPUs"),
            plural(c.guest.len(), "fault", "faults")
        ));
    }
    if c.vms > 1 {
        parts.push(format!("{} VMs bound", c.vms));
    }
    match c.truncate {
        Some(TruncOp::Punch { .. }) => parts.push("1 punch".into()),
        Some(TruncOp::Close) => parts.push("1 close".into()),
        Some(TruncOp::Release { vm }) => parts.push(format!("release of VM {vm}'s file")),
        None => {}
    }
    if c.memory_failure.is_some() {
        parts.push("1 memory failure".into());
    }
    if c.secondary_mmu.is_some() {
        parts.push("1 secondary MMU (device, no folio reference)".into());
    }
    if c.reserved_pfns {
        parts.push("pfns without struct pages".into());
    }
    if c.enomem {
        parts.push("-ENOMEM possible".into());
    }
    if c.attrs_arg_page.is_some() {
        parts.push("ioctl argument in the guest_memfd mapping".into());
    }
    if c.populate.is_some() {
        parts.push("1 populate".into());
    }
    if let Some(s) = c.speculative {
        parts.push(format!(
            "1 PFN walker{}",
            if s.repeat { " (repeating)" } else { "" }
        ));
    }
    if c.lru {
        parts.push("LRU batching".into());
    }
    format!(
        "{}; {}",
        plural(c.pages as usize, "page", "pages"),
        parts.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::config::Attr;
    use model::config::ConvOp;
    use model::Design;

    /// The second converter thread is named in the bound, the one-thread
    /// wording is unchanged.
    #[test]
    fn names_the_second_converter_thread() {
        let mut c = Config::empty(Design::Inplace, 2);
        let op = |converter| ConvOp {
            start: 0,
            pages: 2,
            to: Attr::Private,
            converter,
        };
        c.conversions = vec![op(0)];
        assert_eq!(describe(&c), "2 pages; 1 conversion");
        c.conversions = vec![op(0), op(1), op(1)];
        assert_eq!(
            describe(&c),
            "2 pages; 3 conversions by 2 converter threads (converter: 1, converter1: 2)"
        );
    }
}
