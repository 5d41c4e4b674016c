//! Strategies shared by the property tests of public inputs (feeds, network JSON, ingest
//! bodies): real documents damaged byte by byte, and real JSON with values swapped for
//! hostile ones.

use proptest::prelude::*;
use serde_json::{Value, json};

/// Byte-level damage to a document: each edit overwrites, removes or inserts at a
/// position given as a fraction of the length; then maybe a cut.
pub fn damaged(document: &'static str) -> impl Strategy<Value = Vec<u8>> {
    let edit = (0.0..1.0f64, 0u8..3, any::<u8>(), proptest::collection::vec(any::<u8>(), 0..8));
    (proptest::collection::vec(edit, 0..12), proptest::option::of(0.0..1.0f64)).prop_map(move |(edits, cut)| {
        let mut bytes = document.as_bytes().to_vec();
        for (at, op, byte, inserted) in edits {
            let i = ((bytes.len() as f64) * at) as usize;
            match op {
                0 if i < bytes.len() => bytes[i] = byte,
                1 if i < bytes.len() => {
                    bytes.remove(i);
                }
                _ => {
                    let i = i.min(bytes.len());
                    bytes.splice(i..i, inserted);
                }
            }
        }
        if let Some(cut) = cut {
            bytes.truncate(((bytes.len() as f64) * cut) as usize);
        }
        bytes
    })
}

/// A hostile JSON value: extreme numbers, wrong types, long or odd strings.
pub fn hostile() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        Just(json!(i64::MAX)),
        Just(json!(i64::MIN)),
        Just(json!(u64::MAX)),
        Just(json!(-1)),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,40}".prop_map(Value::String),
        (0usize..40_000).prop_map(|n| Value::String("é".repeat(n))),
        Just(json!("2026-13-45T99:99:99Z")),
        Just(json!("9999-12-31T23:59:59Z")),
        Just(json!("nul \u{0} byte")),
        Just(json!([])),
        Just(json!({})),
    ]
}

/// Every path to a value inside `value`, the root excluded.
fn paths(value: &Value, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    let children: Vec<(String, &Value)> = match value {
        Value::Object(map) => map.iter().map(|(k, v)| (k.clone(), v)).collect(),
        Value::Array(items) => items.iter().enumerate().map(|(i, v)| (i.to_string(), v)).collect(),
        _ => return,
    };
    for (key, child) in children {
        prefix.push(key);
        out.push(prefix.clone());
        paths(child, prefix, out);
        prefix.pop();
    }
}

fn replace(value: &mut Value, path: &[String], with: Value) {
    let mut at = value;
    for key in path {
        at = match at {
            Value::Object(map) => match map.get_mut(key) {
                Some(next) => next,
                None => return,
            },
            Value::Array(items) => match key.parse::<usize>().ok().and_then(|i| items.get_mut(i)) {
                Some(next) => next,
                None => return,
            },
            _ => return,
        };
    }
    *at = with;
}

/// A real payload with some of its values (at any depth) swapped for hostile ones.
pub fn tampered(payload: Value) -> impl Strategy<Value = Vec<u8>> {
    let mut all = Vec::new();
    paths(&payload, &mut Vec::new(), &mut all);
    let count = all.len();
    proptest::collection::vec((0..count, hostile()), 1..4).prop_map(move |swaps| {
        let mut value = payload.clone();
        for (i, with) in swaps {
            replace(&mut value, &all[i], with);
        }
        serde_json::to_vec(&value).expect("JSON")
    })
}
