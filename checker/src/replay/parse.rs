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
    let text = match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    // The JSON path inside the entry names the offending field.
    model::gate::from_json(&text).map_err(|e| format!("bad #meta.{key}: {e}"))
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
            .map_or_else(|| model.cfg().label(), str::to_string),
        model,
        property,
        actions,
        init_index,
        states,
        loop_index,
    })
}

/// The trace parser on arbitrary and mutated input: an error or a trace,
/// never a panic; a trace that parses replays on the model to a verdict or
/// an error, never a panic. Bounded (proptest's default case count), so it
/// runs in CI as an ordinary test.
#[cfg(test)]
mod fuzz {
    use super::parse;
    use proptest::prelude::*;

    const VALID: &str = include_str!(
        "../../../counterexamples/inplace+gup_fast_no_recheck/no_private_pin.itf.json"
    );
    const LASSO: &str = include_str!(
        "../../../counterexamples/huge_whole@pin_subpage_a/independent_subpages.itf.json"
    );

    fn check(text: &str) {
        if let Ok(tf) = parse(text) {
            let _ = super::super::on_model::replay(&tf);
        }
    }

    #[test]
    fn the_committed_traces_parse() {
        assert!(parse(VALID).is_ok());
        assert!(parse(LASSO).is_ok());
    }

    proptest! {
        #[test]
        fn arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            check(&String::from_utf8_lossy(&bytes));
        }

        #[test]
        fn mutated_traces(
            lasso in any::<bool>(),
            edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
        ) {
            let mut b = if lasso { LASSO } else { VALID }.as_bytes().to_vec();
            for (at, byte) in edits {
                let i = at % b.len();
                b[i] = byte;
            }
            check(&String::from_utf8_lossy(&b));
        }

        #[test]
        fn truncated_traces(cut in 0usize..100_000) {
            let end = cut % VALID.len();
            let mut end2 = end;
            while !VALID.is_char_boundary(end2) {
                end2 -= 1;
            }
            check(&VALID[..end2]);
        }

        /// Numbers swapped for other numbers: the structure stays valid
        /// JSON, so the errors come from the meaning (indices, counts).
        #[test]
        fn renumbered_traces(at in any::<usize>(), n in any::<i64>()) {
            let digits: Vec<usize> = VALID
                .char_indices()
                .filter(|(_, c)| c.is_ascii_digit())
                .map(|(i, _)| i)
                .collect();
            let i = digits[at % digits.len()];
            let text = format!("{}{}{}", &VALID[..i], n, &VALID[i + 1..]);
            check(&text);
        }
    }
}
