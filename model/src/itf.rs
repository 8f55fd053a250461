//! The Informal Trace Format (ITF, Apalache ADR-015, as Quint writes it):
//! integers as `{"#bigint": "n"}`, sets as `{"#set": [...]}`, maps as
//! `{"#map": [[k, v], ...]}`, variants as `{"tag": "...", "value": ...}`.
//!
//! Each state is encoded from a trimmed mirror of the model state (only the
//! configured pages, actors and used folios), plus `action` (the step that
//! led to it, `init` for the first) and `actor`.

use crate::actors::Action;
use crate::describe::step_label;
use crate::model::GmemModel;
use crate::state::*;
use serde_json::{json, Map, Value};

pub fn int(n: i64) -> Value {
    json!({ "#bigint": n.to_string() })
}

pub fn tag(t: &str, v: Value) -> Value {
    json!({ "tag": t, "value": v })
}

fn unit(t: &str) -> Value {
    tag(t, json!({}))
}

fn opt_slot(s: Option<Slot>) -> Value {
    match s {
        Some(s) => tag("Some", int(s as i64)),
        None => unit("None"),
    }
}

/// A Debug-printed enum like `Check(1)` or `Fault(Install(3))` as an ITF variant.
pub fn debug_variant(d: &str) -> Value {
    match d.find('(') {
        None => unit(d),
        Some(i) => {
            let name = &d[..i];
            let inner = &d[i + 1..d.len() - 1];
            match inner.parse::<i64>() {
                Ok(n) => tag(name, int(n)),
                Err(_) => tag(name, debug_variant(inner)),
            }
        }
    }
}

fn set_of_bits(bits: u16) -> Value {
    json!({ "#set": (0..16i64).filter(|b| bits & (1 << b) != 0).map(int).collect::<Vec<_>>() })
}

/// The ITF record of one state.
pub fn state(m: &GmemModel, st: &State, action: Option<(&State, Action)>) -> Value {
    let c = m.cfg();
    let n = c.pages as usize;
    let mut rec = Map::new();
    rec.insert(
        "attr".into(),
        json!({ "#map": (0..n).map(|i| json!([int(i as i64), unit(if st.pages[i].private { "Private" } else { "Shared" })])).collect::<Vec<_>>() }),
    );
    rec.insert(
        "page_folio".into(),
        json!({ "#map": (0..n).map(|i| json!([int(i as i64), opt_slot(st.pages[i].folio.get())])).collect::<Vec<_>>() }),
    );
    rec.insert(
        "host_ptes".into(),
        json!({ "#map": (0..n).map(|i| json!([int(i as i64), set_of_bits(st.pages[i].ptes as u16)])).collect::<Vec<_>>() }),
    );
    for vm in 0..c.vms as usize {
        // VM 0's stage-2 keeps the one-VM name.
        let key = if vm == 0 {
            "stage2".to_string()
        } else {
            format!("stage2_vm{vm}")
        };
        rec.insert(
            key,
            json!({ "#map": (0..n).map(|i| json!([int(i as i64), match st.pages[i].s2[vm].get() {
                S2::None => unit("None"),
                S2::Shared(f) => tag("Shared", int(f as i64)),
                S2::Private(f) => tag("Private", int(f as i64)),
            }])).collect::<Vec<_>>() }),
        );
    }
    let folios: Vec<Value> = (0..MAX_FOLIOS)
        .filter(|&s| st.folios[s].state != FolioState::Unused)
        .map(|s| {
            let f = st.folios[s];
            json!([int(s as i64), {
                "state": debug_variant(&format!("{:?}", f.state)),
                "large": f.large,
                "index": int(f.index as i64),
                "refcount": int(f.refcount as i64),
                "pincount": int(f.pincount as i64),
                "frozen": f.frozen,
                "lru": f.lru,
                "hw_private": set_of_bits(f.hw_private as u16),
                "poisoned": f.poisoned,
            }])
        })
        .collect();
    rec.insert("folios".into(), json!({ "#map": folios }));
    for k in 0..crate::mm::nr_gigantic(c) {
        let g = st.gigantic[k];
        let name = if k == 0 {
            "gigantic".to_string()
        } else {
            format!("gigantic{k}")
        };
        rec.insert(
            name,
            json!({
                "in_pool": g.in_pool,
                "structure": debug_variant(&format!("{:?}", g.structure)),
                "released": g.released,
            }),
        );
    }
    let l = st.invalidate_lock;
    rec.insert(
        "invalidate_lock".into(),
        json!({
            "writer": match l.writer.get() { Some(w) => tag("Some", int(w as i64)), None => unit("None") },
            "readers": set_of_bits(l.readers),
        }),
    );
    rec.insert("closed".into(), json!(st.closed));
    for k in c.converters() {
        let cv = &st.conv[k as usize];
        rec.insert(
            crate::actors::Actor::Converter(k).name(),
            json!({
                "op": int(cv.op as i64),
                "pc": debug_variant(&format!("{:?}", cv.pc.get())),
                "result": match cv.result.get() {
                    None => unit("None"),
                    Some(invariants::ConvResult::Eagain { error_index }) => tag("EAGAIN", int(error_index as i64)),
                    Some(invariants::ConvResult::Enomem { error_index }) => tag("ENOMEM", int(error_index as i64)),
                    Some(r) => unit(&format!("{r:?}")),
                },
                "succeeded": cv.succeeded,
            }),
        );
    }
    for (p, proc) in st.procs.iter().enumerate().take(c.procs.len()) {
        rec.insert(
            format!("proc{p}"),
            json!({ "op": int(proc.op as i64), "pc": debug_variant(&format!("{:?}", proc.pc.get())) }),
        );
    }
    for (k, pin) in st.pinners.iter().enumerate().take(c.pinners.len()) {
        rec.insert(
            format!("gup{k}"),
            debug_variant(&format!("{:?}", pin.pc.get())),
        );
    }
    for vm in 0..c.vms as usize {
        if !crate::actors::guest::has_vcpu(c, vm) {
            continue;
        }
        let g = st.guests[vm];
        // VM 0's vCPU keeps the one-VM name.
        let key = if vm == 0 {
            "vcpu".to_string()
        } else {
            format!("vcpu{vm}")
        };
        rec.insert(
            key,
            json!({
                "op": int(g.op as i64),
                "pc": debug_variant(&format!("{:?}", g.pc.get())),
                "seq_stale": g.seq_stale,
            }),
        );
    }
    if c.vms > 1 {
        rec.insert("bound_vms".into(), set_of_bits(st.bound as u16));
    }
    if c.memory_failure.is_some() {
        rec.insert(
            "memory_failure".into(),
            debug_variant(&format!("{:?}", st.mf.get())),
        );
    }
    if c.truncate.is_some() {
        rec.insert(
            "truncate".into(),
            debug_variant(&format!("{:?}", st.trunc.pc.get())),
        );
    }
    if c.populate.is_some() {
        rec.insert(
            "populate".into(),
            debug_variant(&format!("{:?}", st.populate.pc.get())),
        );
    }
    if c.speculative.is_some() {
        rec.insert(
            "pfn_walker".into(),
            debug_variant(&format!("{:?}", st.spec.get())),
        );
    }
    if c.secondary_mmu.is_some() {
        rec.insert(
            "secondary_mmu".into(),
            json!({
                "pc": debug_variant(&format!("{:?}", st.dev.pc.get())),
                "seq_stale": st.dev.seq_stale,
            }),
        );
    }
    let (label, actor) = match action {
        None => ("init".to_string(), "init".to_string()),
        Some((prev, a)) => (step_label(m, prev, a), a.actor().name()),
    };
    rec.insert("action".into(), json!(label));
    rec.insert("actor".into(), json!(actor));
    Value::Object(rec)
}

/// The names of the state variables (`vars` of the trace).
pub fn vars(m: &GmemModel) -> Vec<String> {
    let st = m.init_state();
    match state(m, &st, None) {
        Value::Object(o) => o.keys().cloned().collect(),
        _ => vec![],
    }
}
