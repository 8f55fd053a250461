//! The symmetries of one configuration: renamings of pages, gigantic
//! pages, processes, GUP users and VMs that map the configuration to
//! itself and that the model's steps and properties cannot tell apart,
//! together with a renaming of the two converter threads.
//!
//! A [`Perm`] is a list of per-component permutations. [`check`] says why
//! a renaming is not a symmetry of a configuration (or accepts it);
//! [`automorphisms`] tries every candidate (the groups are tiny) and keeps
//! those `check` accepts. The conditions, and why each is needed, are in
//! docs/scale.md ("Symmetry reduction"); in short:
//!
//! - **Config**: every actor's script, renamed, is the script of the actor
//!   it is renamed to (a process's operations, a GUP user's page, kind,
//!   path and process, a VM's guest accesses in order).
//! - **Converter threads**: each thread's requests, renamed, are its
//!   image's, op by op; a range must land on a contiguous range of the
//!   same length in the same order, because the ioctl scans it in index
//!   order (`ConvPc::Check(i)`, batches, `error_offset`). With one thread
//!   (or two different scripts) a conversion's pages stay in place. The
//!   threads stay under `attrs_arg_page` and design exclusive_pin.
//! - **Fixed pages**: a page in a punch's range is scanned in index order
//!   (`TruncPc::Check`), and a page named once by the configuration
//!   (memory failure, the PFN walker, the secondary MMU, populate's source
//!   and destination, the copy-out's argument) has no partner to swap
//!   with: both stay where they are.
//! - **Fixed actors**: process 0 where the converter's copy-out, populate's
//!   source GUP or the exclusive-pin RFC's donation go through it; the
//!   secondary MMU's process; VM 0 under BUG invalidate_one_binding; the
//!   VM a `release` names.
//! - **Designs**: pages move only in the 4K designs (inplace, wait,
//!   pfnmap, no_direct_map) and, in design hugetlb, as whole gigantic
//!   pages (subpage order kept). Design split and huge_whole back the
//!   file with one gigantic folio whose subpages are places, and the
//!   exclusive-pin RFC with one THP covering every page.
//!
//! Pages no actor names and no range covers are never touched (their
//! state stays the initial one), so renamings that move them among
//! themselves change no state: candidates leave them in place.

use super::relabel::{Maps, MAX_TIDS};
use crate::actors::Actor;
use crate::config::{
    Bug, Config, ConvOp, Design, GuestOp, HostOp, PinnerCfg, SecondaryMmuCfg, TruncOp,
    MAX_CONVERTERS, MAX_PAGES, MAX_PINNERS, MAX_PROCS,
};
use crate::mm;
use crate::state::MAX_FOLIOS;
use invariants::MAX_VMS;

/// One renaming: entry `x` of each array is the new name of `x`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Perm {
    pub pages: [u8; MAX_PAGES],
    pub gigantic: [u8; 2],
    pub procs: [u8; MAX_PROCS],
    pub pinners: [u8; MAX_PINNERS],
    pub vms: [u8; MAX_VMS],
    /// Converter threads (`ConvOp::converter`).
    pub convs: [u8; MAX_CONVERTERS],
}

impl Default for Perm {
    fn default() -> Perm {
        Perm::identity()
    }
}

fn id<const N: usize>() -> [u8; N] {
    std::array::from_fn(|i| i as u8)
}

/// Cycle notation of a permutation, fixed points left out: `(0 1)(2 3)`.
fn cycles(p: &[u8]) -> String {
    let mut seen = vec![false; p.len()];
    let mut out = String::new();
    for start in 0..p.len() {
        if seen[start] || p[start] as usize == start {
            continue;
        }
        let mut c = vec![start];
        seen[start] = true;
        let mut x = p[start] as usize;
        while x != start && x < p.len() && !seen[x] {
            seen[x] = true;
            c.push(x);
            x = p[x] as usize;
        }
        let c: Vec<String> = c.iter().map(|x| x.to_string()).collect();
        out += &format!("({})", c.join(" "));
    }
    out
}

impl Perm {
    pub fn identity() -> Perm {
        Perm {
            pages: id(),
            gigantic: id(),
            procs: id(),
            pinners: id(),
            vms: id(),
            convs: id(),
        }
    }

    pub fn is_identity(&self) -> bool {
        *self == Perm::identity()
    }

    /// `self` after `other`: `(self * other)(x) = self(other(x))`.
    pub fn after(&self, other: &Perm) -> Perm {
        fn c<const N: usize>(a: &[u8; N], b: &[u8; N]) -> [u8; N] {
            std::array::from_fn(|i| a[b[i] as usize])
        }
        Perm {
            pages: c(&self.pages, &other.pages),
            gigantic: c(&self.gigantic, &other.gigantic),
            procs: c(&self.procs, &other.procs),
            pinners: c(&self.pinners, &other.pinners),
            vms: c(&self.vms, &other.vms),
            convs: c(&self.convs, &other.convs),
        }
    }

    /// The renaming of every index a state carries: the folio slots the
    /// page renaming moves (design hugetlb's structural slots: a gigantic
    /// page's whole folio and its subfolios travel with it; the 4K
    /// designs' slots are not places and stay) and the thread ids of the
    /// renamed actors.
    pub fn maps(&self, cfg: &Config) -> Maps {
        let mut slots: [u8; MAX_FOLIOS] = id();
        if cfg.design == Design::Hugetlb {
            for g in 0..mm::nr_gigantic(cfg) {
                let to = self.gigantic[g] as usize;
                slots[mm::whole_slot(cfg, g) as usize] = mm::whole_slot(cfg, to);
            }
            for i in 0..cfg.pages as usize {
                slots[mm::sub_slot(i) as usize] = mm::sub_slot(self.pages[i] as usize);
            }
        }
        let mut tids: [u8; MAX_TIDS] = id();
        let mut set = |from: Actor, to: Actor| tids[from.tid() as usize] = to.tid();
        for p in 0..MAX_PROCS as u8 {
            set(Actor::Proc(p), Actor::Proc(self.procs[p as usize]));
        }
        for k in 0..MAX_PINNERS as u8 {
            set(Actor::Pinner(k), Actor::Pinner(self.pinners[k as usize]));
        }
        for v in 0..MAX_VMS as u8 {
            set(Actor::Guest(v), Actor::Guest(self.vms[v as usize]));
        }
        for k in 0..MAX_CONVERTERS as u8 {
            set(
                Actor::Converter(k),
                Actor::Converter(self.convs[k as usize]),
            );
        }
        Maps {
            pages: self.pages,
            slots,
            gigantic: self.gigantic,
            procs: self.procs,
            pinners: self.pinners,
            vms: self.vms,
            convs: self.convs,
            tids,
        }
    }

    /// `pages (0 2)(1 3), gigantic pages (0 1), procs (0 1)`; `identity`.
    pub fn describe(&self) -> String {
        let parts: Vec<String> = [
            ("pages", cycles(&self.pages)),
            ("gigantic pages", cycles(&self.gigantic)),
            ("processes", cycles(&self.procs)),
            ("GUP users", cycles(&self.pinners)),
            ("VMs", cycles(&self.vms)),
            ("converter threads", cycles(&self.convs)),
        ]
        .into_iter()
        .filter(|(_, c)| !c.is_empty())
        .map(|(n, c)| format!("{n} {c}"))
        .collect();
        if parts.is_empty() {
            "identity".into()
        } else {
            parts.join(", ")
        }
    }
}

/// `p` permutes `0..n` and leaves the rest of its range in place.
fn permutes(p: &[u8], n: usize) -> bool {
    let mut hit = vec![false; p.len()];
    p.iter().enumerate().all(|(i, &x)| {
        let x = x as usize;
        let ok = x < p.len() && !hit[x] && ((i < n) == (x < n)) && (i < n || x == i);
        if x < p.len() {
            hit[x] = true;
        }
        ok
    })
}

/// The pages every symmetry must leave in place (see the module docs),
/// each with the reason.
/// A conversion's pages are not among them: [`check`] maps each converter
/// thread's requests onto its image's instead (see `conv_op`).
pub fn fixed_pages(cfg: &Config) -> Vec<(u8, &'static str)> {
    let mut v = Vec::new();
    if let Some(TruncOp::Punch { start, pages }) = cfg.truncate {
        for i in start..start + pages {
            v.push((i, "the punch scans it in index order"));
        }
    }
    let single = [
        (cfg.memory_failure, "memory_failure names it"),
        (cfg.speculative.map(|s| s.page), "speculative names it"),
        (cfg.secondary_mmu.map(|d| d.page), "secondary_mmu names it"),
        (cfg.populate.map(|p| p.src), "populate.src names it"),
        (cfg.populate.map(|p| p.dst), "populate.dst names it"),
        (cfg.attrs_arg_page, "attrs_arg_page names it"),
    ];
    v.extend(
        single
            .into_iter()
            .filter_map(|(p, why)| p.map(|p| (p, why))),
    );
    v
}

fn host_op(p: &Perm, op: HostOp) -> HostOp {
    let m = |page: u8| p.pages[page as usize];
    match op {
        HostOp::Read { page } => HostOp::Read { page: m(page) },
        HostOp::Write { page } => HostOp::Write { page: m(page) },
        HostOp::Dontneed { page } => HostOp::Dontneed { page: m(page) },
    }
}

/// Request `c`, renamed: its range must land on a contiguous range of the
/// same length in the same order (the ioctl scans, batches and reports
/// `error_offset` in index order, and `Converter::before`/`after` are bits
/// relative to the range's start), and it is issued by the image thread.
fn conv_op(p: &Perm, c: ConvOp) -> Option<ConvOp> {
    let start = p.pages[c.start as usize];
    let in_order = (0..c.pages).all(|j| p.pages[(c.start + j) as usize] == start + j);
    in_order.then_some(ConvOp {
        start,
        pages: c.pages,
        to: c.to,
        converter: p.convs[c.converter as usize],
    })
}

fn pinner(p: &Perm, c: PinnerCfg) -> PinnerCfg {
    let PinnerCfg {
        kind,
        path,
        page,
        proc,
        hold_forever,
        repeat,
        vfio,
    } = c;
    PinnerCfg {
        kind,
        path,
        page: p.pages[page as usize],
        proc: p.procs.get(proc as usize).copied().unwrap_or(proc),
        hold_forever,
        repeat,
        vfio,
    }
}

/// VM `vm`'s accesses in order, as `actors::guest` runs them.
fn vm_ops(cfg: &Config, vm: u8) -> Vec<GuestOp> {
    cfg.guest.iter().filter(|g| g.vm == vm).copied().collect()
}

/// Why `p` is not a symmetry of `cfg`, or `Ok` if it is one.
pub fn check(cfg: &Config, p: &Perm) -> Result<(), String> {
    // Every field, so that a new one does not compile until it is
    // considered here.
    let Config {
        design,
        bugs,
        pages,
        init_shared: _,
        procs,
        pinners,
        conversions,
        retry_until_ok: _,
        guest: _,
        truncate,
        populate,
        speculative: _,
        lru: _,
        block_pins_while_waiting: _,
        vms,
        enomem: _,
        attrs_arg_page,
        memory_failure: _,
        secondary_mmu,
        reserved_pfns: _,
    } = cfg;
    let n = *pages as usize;
    let err = |m: String| Err(m);
    if !permutes(&p.pages, n)
        || !permutes(&p.gigantic, mm::nr_gigantic(cfg))
        || !permutes(&p.procs, MAX_PROCS)
        || !permutes(&p.pinners, pinners.len())
        || !permutes(&p.vms, *vms as usize)
        || !permutes(&p.convs, MAX_CONVERTERS)
    {
        return err(format!(
            "{}: not a permutation of the configuration's pages, gigantic pages, processes, GUP users, VMs and converter threads",
            p.describe()
        ));
    }
    let moves_pages = p.pages != Perm::identity().pages;
    let moves_gig = p.gigantic != Perm::identity().gigantic;
    match design {
        Design::Split | Design::HugeWhole if moves_pages => {
            return err(format!(
                "design {design}: one gigantic folio backs every page, its subpages are places (mm::sub_slot)"
            ))
        }
        Design::ExclusivePin if moves_pages => {
            return err(
                "design exclusive_pin: one THP covers every page, indexed from the page that faulted it".into(),
            )
        }
        Design::Hugetlb => {
            let block = (0..n).all(|i| {
                let g = p.gigantic[mm::gig_of(cfg, i)] as usize;
                p.pages[i] as usize == mm::gig_range(cfg, g).0 + i % mm::ppg(cfg)
            });
            if !block {
                return err(
                    "design hugetlb: pages move only as whole gigantic pages, subpage order kept"
                        .into(),
                );
            }
            if moves_gig && matches!(truncate, Some(TruncOp::Close)) {
                return err(
                    "design hugetlb with close: the pool callback returns the first released gigantic page first"
                        .into(),
                );
            }
            if moves_gig && bugs.has(Bug::HugeMapMixed) {
                return err(
                    "BUG huge_map_mixed: the mapping-order check runs past the faulting index, into the next gigantic page only from the first"
                        .into(),
                );
            }
        }
        _ => {}
    }
    if moves_pages && bugs.has(Bug::NoReclaimOnFree) {
        return err(
            "BUG no_reclaim_on_free: a freed folio keeps hw_private bits relative to index 0, which mm::free() writes"
                .into(),
        );
    }
    let moves_convs = p.convs != Perm::identity().convs;
    if moves_convs && attrs_arg_page.is_some() {
        return err(
            "converter threads must stay: the copy-out of error_offset (kept conservative)".into(),
        );
    }
    if moves_convs && *design == Design::ExclusivePin {
        return err("converter threads must stay: design exclusive_pin (each thread owns its donated pages)".into());
    }
    for (i, why) in fixed_pages(cfg) {
        if p.pages[i as usize] != i {
            return err(format!("page {i} must stay: {why}"));
        }
    }
    let proc0 = [
        (
            attrs_arg_page.is_some(),
            "the copy-out of error_offset writes through process 0",
        ),
        (
            populate.is_some(),
            "populate GUPs its source through process 0",
        ),
        (
            *design == Design::ExclusivePin,
            "the exclusive-pin donation GUPs through process 0",
        ),
    ];
    for (on, why) in proc0 {
        if on && p.procs[0] != 0 {
            return err(format!("process 0 must stay: {why}"));
        }
    }
    if let Some(SecondaryMmuCfg { proc, .. }) = secondary_mmu {
        if p.procs[*proc as usize] != *proc {
            return err(format!(
                "process {proc} must stay: the secondary MMU's notifier is on its mm"
            ));
        }
    }
    if bugs.has(Bug::InvalidateOneBinding) && p.vms[0] != 0 {
        return err("VM 0 must stay: BUG invalidate_one_binding invalidates VM 0 only".into());
    }
    if let Some(TruncOp::Release { vm }) = truncate {
        if p.vms[*vm as usize] != *vm {
            return err(format!("VM {vm} must stay: truncate releases its file"));
        }
    }
    for k in 0..MAX_CONVERTERS as u8 {
        let to = p.convs[k as usize];
        let of = |t: u8| conversions.iter().filter(move |c| c.converter == t);
        let renamed: Option<Vec<ConvOp>> = of(k).map(|&c| conv_op(p, c)).collect();
        let theirs: Vec<ConvOp> = of(to).copied().collect();
        if renamed.as_ref() != Some(&theirs) {
            return err(format!(
                "converter {k}'s requests, renamed (ranges in index order), are not converter {to}'s"
            ));
        }
    }
    let script = |q: usize| procs.get(q).map(Vec::as_slice).unwrap_or(&[]);
    for q in 0..MAX_PROCS {
        let renamed: Vec<HostOp> = script(q).iter().map(|&op| host_op(p, op)).collect();
        if renamed != script(p.procs[q] as usize) {
            return err(format!(
                "process {q}'s script, renamed, is not process {}'s",
                p.procs[q]
            ));
        }
    }
    for (k, c) in pinners.iter().enumerate() {
        let to = p.pinners[k] as usize;
        if pinner(p, *c) != pinners[to] {
            return err(format!("GUP user {k}, renamed, is not GUP user {to}"));
        }
    }
    for v in 0..*vms {
        let to = p.vms[v as usize];
        let renamed: Vec<(u8, invariants::Attr)> = vm_ops(cfg, v)
            .iter()
            .map(|g| (p.pages[g.page as usize], g.access))
            .collect();
        let theirs: Vec<(u8, invariants::Attr)> =
            vm_ops(cfg, to).iter().map(|g| (g.page, g.access)).collect();
        if renamed != theirs {
            return err(format!(
                "VM {v}'s guest accesses, renamed, are not VM {to}'s"
            ));
        }
    }
    Ok(())
}

/// Every permutation of `items`, as maps on `0..len` (the rest in place),
/// the identity first.
fn perms_of(items: &[u8], len: usize) -> Vec<Vec<u8>> {
    fn rec(items: &[u8], used: &mut Vec<bool>, cur: &mut Vec<u8>, out: &mut Vec<Vec<u8>>) {
        if cur.len() == items.len() {
            out.push(cur.clone());
            return;
        }
        for j in 0..items.len() {
            if !used[j] {
                used[j] = true;
                cur.push(items[j]);
                rec(items, used, cur, out);
                cur.pop();
                used[j] = false;
            }
        }
    }
    let mut images = Vec::new();
    rec(
        items,
        &mut vec![false; items.len()],
        &mut Vec::new(),
        &mut images,
    );
    images
        .into_iter()
        .map(|img| {
            let mut m: Vec<u8> = (0..len as u8).collect();
            for (from, to) in items.iter().zip(img) {
                m[*from as usize] = to;
            }
            m
        })
        .collect()
}

fn arr<const N: usize>(v: &[u8]) -> [u8; N] {
    std::array::from_fn(|i| v.get(i).copied().unwrap_or(i as u8))
}

/// Movable pages beyond this many are left in place (the candidates grow
/// as their factorial; no gate row comes near).
pub const MAX_MOVABLE_PAGES: usize = 6;

/// The page (and gigantic page) renamings worth trying on `cfg`.
fn page_candidates(cfg: &Config) -> Vec<([u8; MAX_PAGES], [u8; 2])> {
    let n = cfg.pages as usize;
    match cfg.design {
        Design::Inplace | Design::Wait | Design::Pfnmap | Design::NoDirectMap => {
            // Conversion ranges stay in place here (a range moving onto
            // another thread's range is tried in design hugetlb only).
            let fixed: Vec<u8> = fixed_pages(cfg)
                .into_iter()
                .map(|(i, _)| i)
                .chain(
                    cfg.conversions
                        .iter()
                        .flat_map(|c| c.start..c.start + c.pages),
                )
                .collect();
            let mut named: Vec<u8> = cfg
                .procs
                .iter()
                .flatten()
                .map(|op| op.page())
                .chain(cfg.pinners.iter().map(|c| c.page))
                .chain(cfg.guest.iter().map(|g| g.page))
                .filter(|i| !fixed.contains(i) && (*i as usize) < n)
                .collect();
            named.sort_unstable();
            named.dedup();
            if named.len() > MAX_MOVABLE_PAGES {
                return vec![(id(), id())];
            }
            perms_of(&named, MAX_PAGES)
                .into_iter()
                .map(|m| (arr(&m), id()))
                .collect()
        }
        Design::Hugetlb => {
            let gigs: Vec<u8> = (0..mm::nr_gigantic(cfg) as u8).collect();
            perms_of(&gigs, 2)
                .into_iter()
                .map(|gm| {
                    let g = arr::<2>(&gm);
                    let pages = std::array::from_fn(|i| {
                        if i < n {
                            let to = g[mm::gig_of(cfg, i)] as usize;
                            (mm::gig_range(cfg, to).0 + i % mm::ppg(cfg)) as u8
                        } else {
                            i as u8
                        }
                    });
                    (pages, g)
                })
                .collect()
        }
        Design::Split | Design::HugeWhole | Design::ExclusivePin => vec![(id(), id())],
    }
}

/// The processes something in `cfg` runs in or goes through. No step
/// touches another process's PTE bit, so candidates leave the others in
/// place (as pages no actor names, and VMs without a vCPU, whose only
/// state is their binding, which a `release` would name).
fn named_procs(cfg: &Config) -> Vec<u8> {
    (0..MAX_PROCS as u8)
        .filter(|&p| {
            (p as usize) < cfg.procs.len()
                || cfg.pinners.iter().any(|c| c.proc == p)
                || cfg.secondary_mmu.is_some_and(|d| d.proc == p)
                || (p == 0
                    && (cfg.attrs_arg_page.is_some()
                        || cfg.populate.is_some()
                        || cfg.design == Design::ExclusivePin))
        })
        .collect()
}

/// Every symmetry of `cfg` among the candidates (see the module docs),
/// the identity first. A group: the candidates are closed under
/// composition and inverse, and so is the set `check` accepts (it is the
/// stabiliser of the configuration and of its fixed points).
pub fn automorphisms(cfg: &Config) -> Vec<Perm> {
    let procs = perms_of(&named_procs(cfg), MAX_PROCS);
    let pinners = perms_of(
        &(0..cfg.pinners.len() as u8).collect::<Vec<_>>(),
        MAX_PINNERS,
    );
    let vcpus: Vec<u8> = (0..cfg.vms)
        .filter(|&v| cfg.guest.iter().any(|g| g.vm == v))
        .collect();
    let vms = perms_of(&vcpus, MAX_VMS);
    let convs = perms_of(&cfg.converters().collect::<Vec<_>>(), MAX_CONVERTERS);
    let mut out = Vec::new();
    for (pages, gigantic) in page_candidates(cfg) {
        for pr in &procs {
            for pi in &pinners {
                for vm in &vms {
                    for cv in &convs {
                        let p = Perm {
                            pages,
                            gigantic,
                            procs: arr(pr),
                            pinners: arr(pi),
                            vms: arr(vm),
                            convs: arr(cv),
                        };
                        if check(cfg, &p).is_ok() {
                            out.push(p);
                        }
                    }
                }
            }
        }
    }
    out
}
