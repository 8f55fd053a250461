//! Parsing scenario JSON (`scenarios/README.md`) into typed steps, with
//! errors that name the step and the field. Unknown fields are rejected so
//! a typo does not silently fall back to a default.

use super::ScenarioError;
use crate::design::DesignPolicy;
use crate::design::{Config, Design, GmemFlags, PinKind};
use crate::errno::Errno;
use invariants::Attr;
use serde_json::{Map, Value};
use std::time::Duration;

/// The largest file a scenario may create, in pages (256 MiB): the runner
/// checks every safety property over every page after each step, so a
/// step costs time proportional to the file size.
pub const MAX_PAGES: usize = 1 << 16;
/// The largest host mapping, in pages (`gmem.map_pages`).
pub const MAX_MAP_PAGES: usize = 1 << 20;
/// The longest design-`wait` timeout a scenario may ask for (60 s).
pub const MAX_WAIT_TIMEOUT_MS: u64 = 60_000;
/// The most steps a scenario may have.
pub const MAX_STEPS: usize = 1_000;
/// The most failures one `fail_prealloc` or `fail_alloc` step may inject.
pub const MAX_INJECT: u32 = 1_000;

/// A page range given in pages or, for the EINVAL cases, in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Range {
    Pages { offset: usize, pages: usize },
    Bytes { offset: u64, len: u64 },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    HostRead {
        page: usize,
        proc: String,
    },
    HostWrite {
        page: usize,
        value: u8,
        proc: String,
    },
    GuestRead {
        page: usize,
        access: Option<Attr>,
        vm: usize,
    },
    GuestWrite {
        page: usize,
        value: u8,
        access: Option<Attr>,
        vm: usize,
    },
    Pin {
        page: usize,
        kind: PinKind,
        id: String,
        proc: String,
    },
    Unpin {
        id: String,
    },
    PinRead {
        id: String,
    },
    PinWrite {
        id: String,
        value: u8,
    },
    Convert {
        range: Range,
        to: Attr,
        /// The ioctl's argument lives at this page of `proc`'s mapping of
        /// the file (the copy-out of error_offset writes there).
        arg: Option<(usize, String)>,
    },
    Allocate {
        range: Range,
    },
    Punch {
        range: Range,
    },
    MadviseDontneed {
        page: usize,
        proc: String,
    },
    Fork {
        parent: String,
        child: String,
    },
    Close,
    Pool,
    LruDrain,
    Join {
        thread: String,
    },
    /// Release one VM's guest_memfd file (`kvm_gmem_release()`).
    ReleaseVm {
        vm: usize,
    },
    /// Memory failure on the page's folio (`kvm_gmem_error_folio()`).
    MemoryFailure {
        page: usize,
    },
    /// The next `count` maple-tree preallocations fail -ENOMEM.
    FailPrealloc {
        count: u32,
    },
    /// Design hugetlb: the next `count` allocations of a conversion (the
    /// stage-2 split, the vmemmap restore of a folio split) fail -ENOMEM.
    FailAlloc {
        count: u32,
    },
    /// The page's attribute.
    Attr {
        page: usize,
    },
    /// The folio in the page cache at the page: its size and refcount.
    Folio {
        page: usize,
    },
    /// Which state the hardware holds the page's memory in.
    HwState {
        page: usize,
    },
    /// How many folios sit in the per-CPU lru_add batch.
    LruBatch,
    /// A secondary MMU (ODP) `id` mirrors `page` of `proc`'s mapping:
    /// `mmu_interval_notifier_insert()`.
    OdpRegister {
        page: usize,
        id: String,
        proc: String,
    },
    /// The driver's whole mirror loop (walk, read_retry, program).
    OdpMap {
        id: String,
    },
    /// Its first half: `mmu_interval_read_begin()` and `hmm_range_fault()`.
    OdpWalk {
        id: String,
    },
    /// Its second half: under the driver's lock `mmu_interval_read_retry()`,
    /// then program the device (or start over).
    OdpProgram {
        id: String,
    },
    OdpUnregister {
        id: String,
    },
    /// `VFIO_IOMMU_MAP_DMA` of `page` of `proc`'s mapping as device `id`.
    VfioMapDma {
        page: usize,
        id: String,
        proc: String,
    },
    VfioUnmapDma {
        id: String,
    },
    /// Device `id` DMAs from (read) or to (write) its page.
    DeviceRead {
        id: String,
    },
    DeviceWrite {
        id: String,
        value: u8,
    },
    /// Does device `id` map its page now?
    DeviceMapped {
        id: String,
    },
    /// Is the page's memory in the kernel's direct map?
    DirectMap {
        page: usize,
    },
}

impl Op {
    pub fn may_run_in_background(&self) -> bool {
        !matches!(
            self,
            Op::Pin { .. }
                | Op::Unpin { .. }
                | Op::Fork { .. }
                | Op::Join { .. }
                | Op::Pool
                | Op::FailPrealloc { .. }
                | Op::FailAlloc { .. }
                | Op::Attr { .. }
                | Op::Folio { .. }
                | Op::HwState { .. }
                | Op::LruBatch
                | Op::OdpRegister { .. }
                | Op::OdpUnregister { .. }
                | Op::VfioMapDma { .. }
                | Op::VfioUnmapDma { .. }
                | Op::DeviceMapped { .. }
                | Op::DirectMap { .. }
        )
    }

    /// The device id a step names, if it uses one it did not create.
    pub fn device(&self) -> Option<&str> {
        match self {
            Op::OdpMap { id }
            | Op::OdpWalk { id }
            | Op::OdpProgram { id }
            | Op::OdpUnregister { id }
            | Op::VfioUnmapDma { id }
            | Op::DeviceRead { id }
            | Op::DeviceWrite { id, .. }
            | Op::DeviceMapped { id } => Some(id),
            _ => None,
        }
    }
}

/// An expected outcome: the same values a step can have, read as a pattern
/// (`ok` also accepts a value; an errno without `error_offset` accepts any
/// offset; see `matches` in the runner).
pub type Expect = super::Outcome;

#[derive(Clone, Debug)]
pub struct Step {
    /// 1-based.
    pub number: usize,
    pub op_name: String,
    pub op: Op,
    /// None: the default ("ok"; for a join, the background step's own expect).
    pub expect: Option<Expect>,
    pub background: Option<String>,
    /// The safety properties the invariant check must find violated after
    /// this step, exactly (only on the last step: nothing is promised after
    /// a violation). Empty: every invariant must hold.
    pub violates: Vec<invariants::PropertyId>,
}

#[derive(Clone, Debug)]
pub struct Scenario {
    pub name: String,
    pub config: Config,
    pub steps: Vec<Step>,
}

struct Ctx<'a> {
    file: &'a str,
    step: Option<(usize, String)>,
}

impl Ctx<'_> {
    fn err(&self, msg: impl Into<String>) -> ScenarioError {
        ScenarioError {
            file: self.file.to_string(),
            step: self.step.as_ref().map(|s| s.0),
            op: self.step.as_ref().map(|s| s.1.clone()),
            msg: msg.into(),
        }
    }
}

fn check_fields(
    ctx: &Ctx,
    obj: &Map<String, Value>,
    allowed: &[&str],
    what: &str,
) -> Result<(), ScenarioError> {
    for k in obj.keys() {
        if !allowed.contains(&k.as_str()) {
            return Err(ctx.err(format!(
                "unknown field '{k}' in {what} (allowed: {})",
                allowed.join(", ")
            )));
        }
    }
    Ok(())
}

fn req<'v>(ctx: &Ctx, obj: &'v Map<String, Value>, k: &str) -> Result<&'v Value, ScenarioError> {
    obj.get(k)
        .ok_or_else(|| ctx.err(format!("missing field '{k}'")))
}

fn as_u64(ctx: &Ctx, v: &Value, k: &str) -> Result<u64, ScenarioError> {
    v.as_u64().ok_or_else(|| {
        ctx.err(format!(
            "field '{k}' must be a non-negative integer, got {v}"
        ))
    })
}

fn as_usize(ctx: &Ctx, v: &Value, k: &str) -> Result<usize, ScenarioError> {
    let n = as_u64(ctx, v, k)?;
    usize::try_from(n).map_err(|_| ctx.err(format!("field '{k}' too large: {n}")))
}

fn req_usize(ctx: &Ctx, obj: &Map<String, Value>, k: &str) -> Result<usize, ScenarioError> {
    as_usize(ctx, req(ctx, obj, k)?, k)
}

fn as_str<'v>(ctx: &Ctx, v: &'v Value, k: &str) -> Result<&'v str, ScenarioError> {
    v.as_str()
        .ok_or_else(|| ctx.err(format!("field '{k}' must be a string, got {v}")))
}

fn req_str(ctx: &Ctx, obj: &Map<String, Value>, k: &str) -> Result<String, ScenarioError> {
    Ok(as_str(ctx, req(ctx, obj, k)?, k)?.to_string())
}

fn opt_str(
    ctx: &Ctx,
    obj: &Map<String, Value>,
    k: &str,
    default: &str,
) -> Result<String, ScenarioError> {
    match obj.get(k) {
        None => Ok(default.to_string()),
        Some(v) => Ok(as_str(ctx, v, k)?.to_string()),
    }
}

/// A byte value: an integer 0..=255 or a one-character ASCII string ("A").
fn as_byte(ctx: &Ctx, v: &Value, k: &str) -> Result<u8, ScenarioError> {
    if let Some(s) = v.as_str() {
        let b = s.as_bytes();
        if b.len() == 1 {
            return Ok(b[0]);
        }
        return Err(ctx.err(format!(
            "field '{k}' must be a byte (0..=255 or one ASCII character), got {v}"
        )));
    }
    let n = as_u64(ctx, v, k)?;
    u8::try_from(n).map_err(|_| ctx.err(format!("field '{k}' must be a byte (0..=255), got {n}")))
}

fn attr(ctx: &Ctx, v: &Value, k: &str) -> Result<Attr, ScenarioError> {
    match as_str(ctx, v, k)? {
        "private" => Ok(Attr::Private),
        "shared" => Ok(Attr::Shared),
        other => Err(ctx.err(format!(
            "field '{k}' must be \"private\" or \"shared\", got \"{other}\""
        ))),
    }
}

fn check_vm(ctx: &Ctx, v: usize) -> Result<usize, ScenarioError> {
    if v >= invariants::MAX_VMS {
        return Err(ctx.err(format!(
            "field 'vm' must be 0..{}, got {v}",
            invariants::MAX_VMS
        )));
    }
    Ok(v)
}

fn opt_vm(ctx: &Ctx, obj: &Map<String, Value>) -> Result<usize, ScenarioError> {
    match obj.get("vm") {
        None => Ok(0),
        Some(v) => check_vm(ctx, as_usize(ctx, v, "vm")?),
    }
}

fn opt_attr(ctx: &Ctx, obj: &Map<String, Value>, k: &str) -> Result<Option<Attr>, ScenarioError> {
    obj.get(k).map(|v| attr(ctx, v, k)).transpose()
}

fn range(ctx: &Ctx, obj: &Map<String, Value>, len_key: &str) -> Result<Range, ScenarioError> {
    let bytes = obj.contains_key("offset_bytes") || obj.contains_key(len_key);
    if bytes {
        if obj.contains_key("offset") || obj.contains_key("pages") {
            return Err(ctx.err(format!(
                "give either offset+pages or offset_bytes+{len_key}, not both"
            )));
        }
        Ok(Range::Bytes {
            offset: as_u64(ctx, req(ctx, obj, "offset_bytes")?, "offset_bytes")?,
            len: as_u64(ctx, req(ctx, obj, len_key)?, len_key)?,
        })
    } else {
        Ok(Range::Pages {
            offset: req_usize(ctx, obj, "offset")?,
            pages: req_usize(ctx, obj, "pages")?,
        })
    }
}

fn expect(ctx: &Ctx, v: &Value) -> Result<Expect, ScenarioError> {
    match v {
        Value::String(s) => match s.as_str() {
            "ok" => Ok(Expect::Ok),
            "sigbus" => Ok(Expect::Sigbus),
            "memory_fault" => Ok(Expect::MemoryFault),
            "no_folio" => Ok(Expect::Folio(None)),
            other => Err(ctx.err(format!(
                "unknown expect \"{other}\" (use \"ok\", \"sigbus\", \"memory_fault\", \"no_folio\", {{\"value\": v}}, {{\"errno\": NAME}}, {{\"free_gigantic\": n}}, {{\"hw\": STATE}}, {{\"lru_batch\": n}}, {{\"attr\": ATTR}}, {{\"folio_pages\": n, \"refcount\": r}}, {{\"device_mapped\": bool}} or {{\"direct_map\": STATE}})"
            ))),
        },
        Value::Object(o) => {
            if let Some(val) = o.get("value") {
                check_fields(ctx, o, &["value"], "expect")?;
                Ok(Expect::Value(as_byte(ctx, val, "value")?))
            } else if let Some(e) = o.get("errno") {
                check_fields(ctx, o, &["errno", "error_offset"], "expect")?;
                let name = as_str(ctx, e, "errno")?;
                let errno = Errno::by_name(name).ok_or_else(|| ctx.err(format!("unknown errno \"{name}\"")))?;
                let error_offset = o.get("error_offset").map(|v| as_usize(ctx, v, "error_offset")).transpose()?;
                Ok(Expect::Errno { errno, error_offset })
            } else if let Some(n) = o.get("free_gigantic") {
                check_fields(ctx, o, &["free_gigantic"], "expect")?;
                Ok(Expect::FreeGigantic(as_usize(ctx, n, "free_gigantic")?))
            } else if let Some(a) = o.get("attr") {
                check_fields(ctx, o, &["attr"], "expect")?;
                Ok(Expect::Attr(attr(ctx, a, "attr")?))
            } else if let Some(n) = o.get("folio_pages") {
                check_fields(ctx, o, &["folio_pages", "refcount"], "expect")?;
                let pages = as_usize(ctx, n, "folio_pages")?;
                let r = as_u64(ctx, req(ctx, o, "refcount")?, "refcount")?;
                let refcount = i64::try_from(r).map_err(|_| ctx.err(format!("refcount too large: {r}")))?;
                if pages == 0 {
                    return Err(ctx.err("folio_pages must be at least 1 (a page without a folio is \"no_folio\")"));
                }
                Ok(Expect::Folio(Some((pages, refcount))))
            } else if let Some(n) = o.get("lru_batch") {
                check_fields(ctx, o, &["lru_batch"], "expect")?;
                Ok(Expect::LruBatch(as_usize(ctx, n, "lru_batch")?))
            } else if let Some(h) = o.get("hw") {
                check_fields(ctx, o, &["hw"], "expect")?;
                let hw = match as_str(ctx, h, "hw")? {
                    "private" => Some(true),
                    "shared" => Some(false),
                    "none" => None,
                    other => return Err(ctx.err(format!("field 'hw' must be \"private\", \"shared\" or \"none\", got \"{other}\""))),
                };
                Ok(Expect::Hw(hw))
            } else if let Some(m) = o.get("device_mapped") {
                check_fields(ctx, o, &["device_mapped"], "expect")?;
                let m = m.as_bool().ok_or_else(|| ctx.err(format!("field 'device_mapped' must be true or false, got {m}")))?;
                Ok(Expect::DeviceMapped(m))
            } else if let Some(d) = o.get("direct_map") {
                check_fields(ctx, o, &["direct_map"], "expect")?;
                let d = match as_str(ctx, d, "direct_map")? {
                    "present" => Some(true),
                    "removed" => Some(false),
                    "none" => None,
                    other => return Err(ctx.err(format!("field 'direct_map' must be \"present\", \"removed\" or \"none\", got \"{other}\""))),
                };
                Ok(Expect::DirectMap(d))
            } else {
                Err(ctx.err(format!("expect object must have 'value', 'errno', 'free_gigantic', 'hw', 'lru_batch', 'attr', 'folio_pages', 'device_mapped' or 'direct_map': {v}")))
            }
        }
        other => Err(ctx.err(format!("expect must be a string or an object, got {other}"))),
    }
}

fn config(ctx: &Ctx, root: &Map<String, Value>) -> Result<Config, ScenarioError> {
    let dname = req_str(ctx, root, "design")?;
    let design = Design::by_name(&dname).ok_or_else(|| {
        let all: Vec<&str> = Design::ALL.iter().map(|d| d.name()).collect();
        ctx.err(format!(
            "unknown design \"{dname}\" (one of {})",
            all.join(", ")
        ))
    })?;
    let g = req(ctx, root, "gmem")?
        .as_object()
        .ok_or_else(|| ctx.err("field 'gmem' must be an object"))?;
    check_fields(
        ctx,
        g,
        &[
            "pages",
            "flags",
            "huge",
            "pages_per_gigantic",
            "map_pages",
            "wait_timeout_ms",
            "vms",
            "in_place_conversion",
            "reserved_pfns",
        ],
        "gmem",
    )?;
    let pages = req_usize(ctx, g, "pages")?;
    if pages == 0 {
        return Err(ctx.err("gmem.pages must be at least 1"));
    }
    if pages > MAX_PAGES {
        return Err(ctx.err(format!(
            "gmem.pages = {pages} is over the limit of {MAX_PAGES} pages (scenarios check every page after every step)"
        )));
    }
    let mut flags = GmemFlags::default();
    if let Some(f) = g.get("flags") {
        let arr = f
            .as_array()
            .ok_or_else(|| ctx.err("gmem.flags must be an array of strings"))?;
        for x in arr {
            match as_str(ctx, x, "flags")? {
                "mmap" => flags.mmap = true,
                "init_shared" => flags.init_shared = true,
                other => {
                    return Err(
                        ctx.err(format!("unknown gmem flag \"{other}\" (mmap, init_shared)"))
                    )
                }
            }
        }
    }
    if let Some(h) = g.get("huge") {
        let huge = h
            .as_bool()
            .ok_or_else(|| ctx.err("gmem.huge must be true or false"))?;
        if huge != design.huge_backed() {
            return Err(ctx.err(format!(
                "gmem.huge = {huge} does not fit design {design}: split, huge_whole and hugetlb are backed by gigantic pages, the other designs by 4K folios"
            )));
        }
    }
    let mut c = Config::new(design, pages, flags);
    if let Some(v) = g.get("pages_per_gigantic") {
        let n = as_usize(ctx, v, "pages_per_gigantic")?;
        if n == 0 {
            return Err(ctx.err("gmem.pages_per_gigantic must be at least 1"));
        }
        c.pages_per_gigantic = n;
    }
    if let Some(v) = g.get("map_pages") {
        let n = as_usize(ctx, v, "map_pages")?;
        if n > MAX_MAP_PAGES {
            return Err(ctx.err(format!(
                "gmem.map_pages = {n} is over the limit of {MAX_MAP_PAGES} pages"
            )));
        }
        c.map_pages = n;
    }
    if let Some(v) = g.get("wait_timeout_ms") {
        let ms = as_u64(ctx, v, "wait_timeout_ms")?;
        if ms > MAX_WAIT_TIMEOUT_MS {
            return Err(ctx.err(format!(
                "gmem.wait_timeout_ms = {ms} is over the limit of {MAX_WAIT_TIMEOUT_MS} ms"
            )));
        }
        c.wait_timeout = Duration::from_millis(ms);
    }
    if let Some(v) = g.get("vms") {
        let n = as_usize(ctx, v, "vms")?;
        if n == 0 || n > invariants::MAX_VMS {
            return Err(ctx.err(format!(
                "gmem.vms must be 1..={}, got {n}",
                invariants::MAX_VMS
            )));
        }
        c.nr_vms = n;
    }
    if let Some(v) = g.get("in_place_conversion") {
        c.in_place_conversion = v
            .as_bool()
            .ok_or_else(|| ctx.err("gmem.in_place_conversion must be true or false"))?;
    }
    if let Some(v) = g.get("reserved_pfns") {
        c.reserved_pfns = v
            .as_bool()
            .ok_or_else(|| ctx.err("gmem.reserved_pfns must be true or false"))?;
        if c.reserved_pfns && !design.special_ptes() {
            return Err(ctx.err(format!(
                "gmem.reserved_pfns is a variant of design pfnmap only, not {design}"
            )));
        }
    }
    Ok(c)
}

/// The `count` of `fail_prealloc` / `fail_alloc`: 1..=[`MAX_INJECT`].
fn inject_count(ctx: &Ctx, o: &Map<String, Value>) -> Result<u32, ScenarioError> {
    let n = req_usize(ctx, o, "count")?;
    u32::try_from(n)
        .ok()
        .filter(|&n| (1..=MAX_INJECT).contains(&n))
        .ok_or_else(|| ctx.err(format!("field 'count' must be 1..={MAX_INJECT}, got {n}")))
}

fn step(ctx: &mut Ctx, n: usize, v: &Value, design: Design) -> Result<Step, ScenarioError> {
    ctx.step = Some((n, "?".into()));
    let o = v
        .as_object()
        .ok_or_else(|| ctx.err("a step must be an object"))?;
    let op_name = req_str(ctx, o, "op")?;
    ctx.step = Some((n, op_name.clone()));
    let common = ["op", "expect", "background", "violates"];
    let fields: &[&str] = match op_name.as_str() {
        "host_read" => &["page", "proc"],
        "host_write" => &["page", "value", "proc"],
        "guest_read" => &["page", "access", "vm"],
        "guest_write" => &["page", "value", "access", "vm"],
        "pin" => &["page", "kind", "id", "proc"],
        "unpin" | "pin_read" => &["id"],
        "pin_write" => &["id", "value"],
        "convert" => &[
            "offset",
            "pages",
            "offset_bytes",
            "size_bytes",
            "to",
            "arg_page",
            "proc",
        ],
        "allocate" | "punch" => &["offset", "pages", "offset_bytes", "len_bytes"],
        "madvise_dontneed" => &["page", "proc"],
        "fork" => &["parent", "child"],
        "close" | "pool" | "lru_drain" | "lru_batch" => &[],
        "join" => &["thread"],
        "release_vm" => &["vm"],
        "memory_failure" | "hw_state" | "attr" | "folio" => &["page"],
        "fail_prealloc" | "fail_alloc" => &["count"],
        "odp_register" | "vfio_map_dma" => &["page", "id", "proc"],
        "odp_map" | "odp_walk" | "odp_program" | "odp_unregister" | "vfio_unmap_dma"
        | "device_read" | "device_mapped" => &["id"],
        "device_write" => &["id", "value"],
        "direct_map" => &["page"],
        other => {
            return Err(ctx.err(format!(
                "unknown op \"{other}\" (host_read, host_write, guest_read, guest_write, pin, unpin, pin_read, pin_write, convert, allocate, punch, madvise_dontneed, fork, close, pool, lru_drain, join, release_vm, memory_failure, fail_prealloc, fail_alloc, hw_state, lru_batch, attr, folio, odp_register, odp_map, odp_walk, odp_program, odp_unregister, vfio_map_dma, vfio_unmap_dma, device_read, device_write, device_mapped, direct_map)"
            )))
        }
    };
    let allowed: Vec<&str> = common.iter().chain(fields.iter()).copied().collect();
    check_fields(ctx, o, &allowed, "step")?;
    let proc = |ctx: &Ctx| opt_str(ctx, o, "proc", "p0");
    let op = match op_name.as_str() {
        "host_read" => Op::HostRead {
            page: req_usize(ctx, o, "page")?,
            proc: proc(ctx)?,
        },
        "host_write" => Op::HostWrite {
            page: req_usize(ctx, o, "page")?,
            value: as_byte(ctx, req(ctx, o, "value")?, "value")?,
            proc: proc(ctx)?,
        },
        "guest_read" => Op::GuestRead {
            page: req_usize(ctx, o, "page")?,
            access: opt_attr(ctx, o, "access")?,
            vm: opt_vm(ctx, o)?,
        },
        "guest_write" => Op::GuestWrite {
            page: req_usize(ctx, o, "page")?,
            value: as_byte(ctx, req(ctx, o, "value")?, "value")?,
            access: opt_attr(ctx, o, "access")?,
            vm: opt_vm(ctx, o)?,
        },
        "pin" => {
            let k = req_str(ctx, o, "kind")?;
            let kind = PinKind::by_name(&k).ok_or_else(|| {
                ctx.err(format!(
                    "unknown pin kind \"{k}\" (get, pin, longterm, exclusive)"
                ))
            })?;
            Op::Pin {
                page: req_usize(ctx, o, "page")?,
                kind,
                id: req_str(ctx, o, "id")?,
                proc: proc(ctx)?,
            }
        }
        "unpin" => Op::Unpin {
            id: req_str(ctx, o, "id")?,
        },
        "pin_read" => Op::PinRead {
            id: req_str(ctx, o, "id")?,
        },
        "pin_write" => Op::PinWrite {
            id: req_str(ctx, o, "id")?,
            value: as_byte(ctx, req(ctx, o, "value")?, "value")?,
        },
        "convert" => Op::Convert {
            range: range(ctx, o, "size_bytes")?,
            to: attr(ctx, req(ctx, o, "to")?, "to")?,
            arg: match o.get("arg_page") {
                Some(v) => Some((as_usize(ctx, v, "arg_page")?, proc(ctx)?)),
                None if o.contains_key("proc") => {
                    return Err(ctx.err("'proc' on convert needs 'arg_page'"))
                }
                None => None,
            },
        },
        "allocate" => Op::Allocate {
            range: range(ctx, o, "len_bytes")?,
        },
        "punch" => Op::Punch {
            range: range(ctx, o, "len_bytes")?,
        },
        "madvise_dontneed" => Op::MadviseDontneed {
            page: req_usize(ctx, o, "page")?,
            proc: proc(ctx)?,
        },
        "fork" => Op::Fork {
            parent: req_str(ctx, o, "parent")?,
            child: req_str(ctx, o, "child")?,
        },
        "close" => Op::Close,
        "pool" => Op::Pool,
        "lru_drain" => Op::LruDrain,
        "lru_batch" => Op::LruBatch,
        "release_vm" => Op::ReleaseVm {
            vm: {
                let v = req_usize(ctx, o, "vm")?;
                check_vm(ctx, v)?
            },
        },
        "memory_failure" => Op::MemoryFailure {
            page: req_usize(ctx, o, "page")?,
        },
        "hw_state" => Op::HwState {
            page: req_usize(ctx, o, "page")?,
        },
        "fail_prealloc" => Op::FailPrealloc {
            count: inject_count(ctx, o)?,
        },
        "fail_alloc" => {
            if design != Design::Hugetlb {
                return Err(ctx.err(format!(
                    "fail_alloc is for design hugetlb (its conversions' stage-2 split and vmemmap restore), not {design}"
                )));
            }
            Op::FailAlloc {
                count: inject_count(ctx, o)?,
            }
        }
        "attr" => Op::Attr {
            page: req_usize(ctx, o, "page")?,
        },
        "folio" => Op::Folio {
            page: req_usize(ctx, o, "page")?,
        },
        "odp_register" => Op::OdpRegister {
            page: req_usize(ctx, o, "page")?,
            id: req_str(ctx, o, "id")?,
            proc: proc(ctx)?,
        },
        "vfio_map_dma" => Op::VfioMapDma {
            page: req_usize(ctx, o, "page")?,
            id: req_str(ctx, o, "id")?,
            proc: proc(ctx)?,
        },
        "odp_map" => Op::OdpMap {
            id: req_str(ctx, o, "id")?,
        },
        "odp_walk" => Op::OdpWalk {
            id: req_str(ctx, o, "id")?,
        },
        "odp_program" => Op::OdpProgram {
            id: req_str(ctx, o, "id")?,
        },
        "odp_unregister" => Op::OdpUnregister {
            id: req_str(ctx, o, "id")?,
        },
        "vfio_unmap_dma" => Op::VfioUnmapDma {
            id: req_str(ctx, o, "id")?,
        },
        "device_read" => Op::DeviceRead {
            id: req_str(ctx, o, "id")?,
        },
        "device_write" => Op::DeviceWrite {
            id: req_str(ctx, o, "id")?,
            value: as_byte(ctx, req(ctx, o, "value")?, "value")?,
        },
        "device_mapped" => Op::DeviceMapped {
            id: req_str(ctx, o, "id")?,
        },
        "direct_map" => Op::DirectMap {
            page: req_usize(ctx, o, "page")?,
        },
        _ => Op::Join {
            thread: req_str(ctx, o, "thread")?,
        },
    };
    let expect = o.get("expect").map(|v| expect(ctx, v)).transpose()?;
    if op == Op::Pool && !matches!(expect, Some(Expect::FreeGigantic(_))) {
        return Err(ctx.err("pool needs \"expect\": {\"free_gigantic\": n}"));
    }
    if op != Op::Pool && matches!(expect, Some(Expect::FreeGigantic(_))) {
        return Err(ctx.err("{\"free_gigantic\": n} is only for the pool op"));
    }
    if (op == Op::LruBatch) != matches!(expect, Some(Expect::LruBatch(_))) {
        return Err(
            ctx.err("lru_batch needs \"expect\": {\"lru_batch\": n}, and only lru_batch takes it")
        );
    }
    let attr_op = matches!(op, Op::Attr { .. });
    if attr_op != matches!(expect, Some(Expect::Attr(_))) {
        return Err(ctx.err(
            "attr needs \"expect\": {\"attr\": \"private\"|\"shared\"}, and only attr takes it",
        ));
    }
    let folio_op = matches!(op, Op::Folio { .. });
    if folio_op != matches!(expect, Some(Expect::Folio(_))) {
        return Err(ctx.err(
            "folio needs \"expect\": {\"folio_pages\": n, \"refcount\": r} or \"no_folio\", and only folio takes it",
        ));
    }
    let hw_op = matches!(op, Op::HwState { .. });
    if hw_op != matches!(expect, Some(Expect::Hw(_))) {
        return Err(ctx.err(
            "hw_state needs \"expect\": {\"hw\": \"private\"|\"shared\"|\"none\"}, and only hw_state takes it",
        ));
    }
    let mapped_op = matches!(op, Op::DeviceMapped { .. });
    if mapped_op != matches!(expect, Some(Expect::DeviceMapped(_))) {
        return Err(ctx.err(
            "device_mapped needs \"expect\": {\"device_mapped\": true|false}, and only device_mapped takes it",
        ));
    }
    let dm_op = matches!(op, Op::DirectMap { .. });
    if dm_op != matches!(expect, Some(Expect::DirectMap(_))) {
        return Err(ctx.err(
            "direct_map needs \"expect\": {\"direct_map\": \"present\"|\"removed\"|\"none\"}, and only direct_map takes it",
        ));
    }
    let violates = match o.get("violates") {
        None => Vec::new(),
        Some(v) => violated_properties(ctx, v)?,
    };
    let background = o
        .get("background")
        .map(|v| as_str(ctx, v, "background").map(str::to_string))
        .transpose()?;
    if background.is_some() && !op.may_run_in_background() {
        return Err(ctx.err(format!("op {op_name} cannot run in the background")));
    }
    if background.is_some() && !violates.is_empty() {
        return Err(
            ctx.err("'violates' is checked after the step completes: not on a background step")
        );
    }
    Ok(Step {
        number: n,
        op_name,
        op,
        expect,
        background,
        violates,
    })
}

/// `violates`: a non-empty list of distinct safety property names.
fn violated_properties(ctx: &Ctx, v: &Value) -> Result<Vec<invariants::PropertyId>, ScenarioError> {
    let arr = v.as_array().filter(|a| !a.is_empty()).ok_or_else(|| {
        ctx.err(format!(
            "'violates' must be a non-empty list of safety property names, got {v}"
        ))
    })?;
    let mut out = Vec::new();
    for x in arr {
        let name = as_str(ctx, x, "violates")?;
        let p = invariants::PropertyId::by_name(name)
            .filter(|p| p.kind() == invariants::Kind::Safety)
            .ok_or_else(|| {
                let all: Vec<&str> = invariants::PropertyId::safety().map(|p| p.name()).collect();
                ctx.err(format!(
                    "'violates': \"{name}\" is not a safety property (one of {})",
                    all.join(", ")
                ))
            })?;
        if out.contains(&p) {
            return Err(ctx.err(format!("'violates' names {name} twice")));
        }
        out.push(p);
    }
    Ok(out)
}

/// Parse a scenario; `file` names it in errors.
pub fn parse(file: &str, json: &str) -> Result<Scenario, ScenarioError> {
    let mut ctx = Ctx { file, step: None };
    let root: Value =
        serde_json::from_str(json).map_err(|e| ctx.err(format!("invalid JSON: {e}")))?;
    let root = root
        .as_object()
        .ok_or_else(|| ctx.err("a scenario must be a JSON object"))?;
    check_fields(
        &ctx,
        root,
        &["name", "design", "gmem", "steps", "comment", "source"],
        "scenario",
    )?;
    let name = match root.get("name") {
        Some(v) => as_str(&ctx, v, "name")?.to_string(),
        None => file.to_string(),
    };
    let config = config(&ctx, root)?;
    let steps_v = req(&ctx, root, "steps")?
        .as_array()
        .ok_or_else(|| ctx.err("field 'steps' must be an array"))?;
    if steps_v.len() > MAX_STEPS {
        return Err(ctx.err(format!(
            "{} steps is over the limit of {MAX_STEPS}",
            steps_v.len()
        )));
    }
    let mut steps = Vec::with_capacity(steps_v.len());
    for (i, s) in steps_v.iter().enumerate() {
        let st = step(&mut ctx, i + 1, s, config.design)?;
        if !st.violates.is_empty() && i + 1 != steps_v.len() {
            return Err(ctx.err(
                "'violates' is only for the last step: nothing is promised after a violation",
            ));
        }
        steps.push(st);
    }
    Ok(Scenario {
        name,
        config,
        steps,
    })
}
