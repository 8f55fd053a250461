//! Reading a counterexample file: ITF structure (checked with the itf crate)
//! and the `#meta` fields replay needs. Errors name the missing or bad field.

use invariants::{Kind, PropertyId};
use model::{Action, Config, GmemModel};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

pub struct TraceFile {
    pub label: String,
    pub model: GmemModel,
    pub property: PropertyId,
    pub actions: Vec<Action>,
    pub init_index: usize,
    /// The recorded states, `#meta` removed.
    pub states: Vec<Value>,
    pub loop_index: Option<usize>,
}

/// A `#meta` entry holding JSON: a string of JSON (what we write, since the
/// itf crate wants string-valued `#meta`) or the JSON value itself.
fn structured<T: DeserializeOwned>(meta: &Map<String, Value>, key: &str) -> Result<T, String> {
    let v = meta
        .get(key)
        .ok_or_else(|| format!("missing #meta.{key}"))?;
    let parsed = match v {
        Value::String(s) => serde_json::from_str(s),
        other => serde_json::from_value(other.clone()),
    };
    parsed.map_err(|e| format!("bad #meta.{key}: {e}"))
}

fn string<'a>(meta: &'a Map<String, Value>, key: &str) -> Result<&'a str, String> {
    meta.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("missing #meta.{key} (a string)"))
}

pub fn parse(text: &str) -> Result<TraceFile, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    if !v.is_object() || v.get("#meta").is_none() || v.get("states").is_none() {
        return Err(
            "not an ITF trace written by gmem-verify (needs #meta and states at the top level)"
                .into(),
        );
    }
    itf::trace_from_value::<Value>(v.clone()).map_err(|e| format!("not a valid ITF trace: {e}"))?;
    let meta = v["#meta"].as_object().ok_or("#meta is not an object")?;
    if meta.get("source").and_then(Value::as_str) != Some("gmem-verify") {
        return Err("#meta.source is not \"gmem-verify\": not a trace this tool wrote".into());
    }
    let cfg: Config = structured(meta, "config")?;
    let model = GmemModel::new(cfg)
        .map_err(|e| format!("#meta.config is not a valid configuration: {e}"))?;
    let pname = string(meta, "property")?;
    let property = PropertyId::by_name(pname)
        .ok_or_else(|| format!("unknown property '{pname}' in #meta.property"))?;
    if property.kind() == Kind::Sanity {
        return Err(format!(
            "'{pname}' is a sanity property: there is no violation to replay"
        ));
    }
    let actions: Vec<Action> = structured(meta, "actions")?;
    let init_index: usize = structured(meta, "init_index")?;
    let states = v["states"]
        .as_array()
        .ok_or("states is not a list")?
        .iter()
        .map(|s| {
            let mut s = s.clone();
            if let Value::Object(o) = &mut s {
                o.remove("#meta");
            }
            s
        })
        .collect();
    let loop_index = match v.get("loop") {
        None | Some(Value::Null) => None,
        Some(l) => Some(l.as_u64().ok_or("loop is not a non-negative integer")? as usize),
    };
    if property.kind() == Kind::Liveness && loop_index.is_none() {
        return Err(format!(
            "'{pname}' is a liveness property but the trace has no loop"
        ));
    }
    if property.kind() == Kind::Safety && loop_index.is_some() {
        return Err(format!(
            "'{pname}' is a safety property but the trace has a loop"
        ));
    }
    Ok(TraceFile {
        label: meta
            .get("label")
            .and_then(Value::as_str)
            .map_or_else(|| model.cfg.label(), str::to_string),
        model,
        property,
        actions,
        init_index,
        states,
        loop_index,
    })
}
