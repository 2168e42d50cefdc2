//! Reading predictions out of an inference answer, per protocol. Pure.
//!
//! - v2 (Open Inference Protocol): `outputs[]`, the one named `prediction.output` or the first;
//!   `data` is row-major, shaped by `shape` (`[n]` or `[n, k]`).
//! - v1 (KServe v1 / TF-Serving row format): `predictions: [...]`, one element per instance.
//! - seldon (Seldon Core v1): `data.ndarray` (rows), or `data.tensor {shape, values}`.
//! - azureml: the scoring script's return value. Azure ML's default scoring server JSON-encodes
//!   what `run()` returns, and scripts that `return json.dumps(...)` are encoded twice, so a JSON
//!   string is decoded once more. A list is the predictions; an object needs `prediction.path`
//!   unless it has `predictions` or `result`.
//!
//! A row with several numbers (class probabilities) becomes its argmax for `kind: label` and its
//! last column (the positive class) for `kind: score`. A JSON pointer (`prediction.path`)
//! overrides the protocol's place.

use crate::config::compare::{Prediction, PredictionKind, Protocol};
use serde_json::Value;

/// One prediction. Labels compare by text (`1`, `1.0` and `"1"` are the same label).
#[derive(Debug, Clone, PartialEq)]
pub enum Pred {
    Label(String),
    Score(f64),
}

impl Pred {
    pub fn text(&self) -> String {
        match self {
            Pred::Label(l) => l.clone(),
            Pred::Score(s) => crate::core::judge::fmt_num(*s),
        }
    }
}

/// The predictions of one answer body.
pub fn predictions(proto: Protocol, p: &Prediction, body: &Value) -> Result<Vec<Pred>, String> {
    if let Some(ptr) = p.path.as_deref().filter(|s| !s.is_empty()) {
        let v = body
            .pointer(ptr)
            .ok_or_else(|| format!("the answer has nothing at {ptr}"))?;
        return rows(v, p.kind);
    }
    match proto {
        Protocol::V2 => v2(p, body),
        Protocol::V1 => {
            let v = body
                .get("predictions")
                .ok_or("the answer has no `predictions` (KServe v1)")?;
            rows(v, p.kind)
        }
        Protocol::Seldon => seldon(p.kind, body),
        Protocol::Azureml => azureml(p.kind, body),
    }
}

fn v2(p: &Prediction, body: &Value) -> Result<Vec<Pred>, String> {
    let outputs = body
        .get("outputs")
        .and_then(Value::as_array)
        .ok_or("the answer has no `outputs` list (Open Inference Protocol v2)")?;
    let out = match &p.output {
        Some(name) => outputs
            .iter()
            .find(|o| o.get("name").and_then(Value::as_str) == Some(name))
            .ok_or_else(|| {
                let names: Vec<&str> = outputs
                    .iter()
                    .filter_map(|o| o.get("name").and_then(Value::as_str))
                    .collect();
                format!("no output named {name:?} (outputs: {})", names.join(", "))
            })?,
        None => outputs.first().ok_or("the answer's `outputs` is empty")?,
    };
    let data = out.get("data").ok_or("the output has no `data`")?;
    let flat = flatten(data);
    shaped(&flat, &shape_of(out), p.kind)
}

/// A tensor's `shape` (v2 output, Seldon `data.tensor`); empty when absent.
fn shape_of(tensor: &Value) -> Vec<usize> {
    tensor
        .get("shape")
        .and_then(Value::as_array)
        .map(|s| {
            s.iter()
                .filter_map(Value::as_u64)
                .map(|n| n as usize)
                .collect()
        })
        .unwrap_or_default()
}

fn seldon(kind: PredictionKind, body: &Value) -> Result<Vec<Pred>, String> {
    let data = body
        .get("data")
        .ok_or("the answer has no `data` (Seldon protocol)")?;
    if let Some(nd) = data.get("ndarray") {
        return rows(nd, kind);
    }
    if let Some(t) = data.get("tensor") {
        let values = t.get("values").ok_or("data.tensor has no `values`")?;
        return shaped(&flatten(values), &shape_of(t), kind);
    }
    Err("the answer's `data` has neither `ndarray` nor `tensor`".into())
}

fn azureml(kind: PredictionKind, body: &Value) -> Result<Vec<Pred>, String> {
    if let Value::String(s) = body {
        if let Ok(inner) = serde_json::from_str::<Value>(s) {
            if !inner.is_string() {
                return azureml(kind, &inner);
            }
        }
    }
    match body {
        Value::Array(_) => rows(body, kind),
        Value::Object(o) => match o.get("predictions").or_else(|| o.get("result")) {
            Some(v) => rows(v, kind),
            None => Err("the scoring answer is an object without `predictions` or `result`: set compare.prediction.path".into()),
        },
        other => rows(other, kind),
    }
}

/// Row-major data with an optional `[n, k]` shape into one prediction per row.
fn shaped(flat: &[Value], shape: &[usize], kind: PredictionKind) -> Result<Vec<Pred>, String> {
    let k = match shape {
        [_, k, ..] if *k > 1 => *k,
        _ => 1,
    };
    if k == 1 {
        return flat.iter().map(|v| one(v, kind)).collect();
    }
    if !flat.len().is_multiple_of(k) {
        return Err(format!(
            "{} values do not fill rows of {k} (shape {shape:?})",
            flat.len()
        ));
    }
    flat.chunks(k).map(|row| row_pred(row, kind)).collect()
}

/// A list of predictions: each element a scalar or a row of numbers.
fn rows(v: &Value, kind: PredictionKind) -> Result<Vec<Pred>, String> {
    match v {
        Value::Array(items) => items
            .iter()
            .map(|it| match it {
                Value::Array(row) => row_pred(row, kind),
                other => one(other, kind),
            })
            .collect(),
        other => Ok(vec![one(other, kind)?]),
    }
}

fn row_pred(row: &[Value], kind: PredictionKind) -> Result<Pred, String> {
    if row.len() == 1 {
        return one(&row[0], kind);
    }
    let nums: Vec<f64> = row
        .iter()
        .map(|v| {
            v.as_f64()
                .ok_or_else(|| format!("{v} in a row is not a number"))
        })
        .collect::<Result<_, _>>()?;
    if nums.is_empty() {
        return Err("an empty prediction row".into());
    }
    match kind {
        PredictionKind::Label => {
            let mut best = 0;
            for (i, x) in nums.iter().enumerate() {
                if *x > nums[best] {
                    best = i;
                }
            }
            Ok(Pred::Label(best.to_string()))
        }
        PredictionKind::Score => Ok(Pred::Score(nums[nums.len() - 1])),
    }
}

fn one(v: &Value, kind: PredictionKind) -> Result<Pred, String> {
    match (kind, v) {
        (PredictionKind::Score, Value::Number(n)) => n
            .as_f64()
            .filter(|x| x.is_finite())
            .map(Pred::Score)
            .ok_or_else(|| format!("{n} is not a finite score")),
        (PredictionKind::Score, other) => Err(format!("{other} is not a numeric score")),
        (PredictionKind::Label, Value::Number(n)) => Ok(Pred::Label(label_number(n))),
        (PredictionKind::Label, Value::String(s)) => Ok(Pred::Label(s.clone())),
        (PredictionKind::Label, Value::Bool(b)) => Ok(Pred::Label(b.to_string())),
        (PredictionKind::Label, other) => Err(format!("{other} is not a label")),
    }
}

/// `1`, `1.0` (FP64 class outputs) are the same label.
fn label_number(n: &serde_json::Number) -> String {
    match n.as_f64() {
        Some(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", f as i64),
        _ => n.to_string(),
    }
}

fn flatten(v: &Value) -> Vec<Value> {
    match v {
        Value::Array(items) => items.iter().flat_map(flatten).collect(),
        other => vec![other.clone()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pred(kind: PredictionKind, output: Option<&str>, path: Option<&str>) -> Prediction {
        Prediction {
            kind,
            output: output.map(Into::into),
            path: path.map(Into::into),
            agree_within: None,
        }
    }
    fn labels(v: &[&str]) -> Vec<Pred> {
        v.iter().map(|s| Pred::Label(s.to_string())).collect()
    }

    #[test]
    fn protocol_table() {
        use PredictionKind::{Label, Score};
        type Case = (Protocol, Prediction, Value, Result<Vec<Pred>, &'static str>);
        let cases: Vec<Case> = vec![
            // MLServer sklearn: INT64 labels, shape [n] or [n, 1].
            (Protocol::V2, pred(Label, None, None),
             json!({"model_name":"m","outputs":[{"name":"predict","shape":[2,1],"datatype":"INT64","data":[1,0]}]}),
             Ok(labels(&["1", "0"]))),
            // Triton style nested data and a named output among several.
            (Protocol::V2, pred(Score, Some("proba"), None),
             json!({"outputs":[{"name":"label","shape":[2],"data":[1,0]},{"name":"proba","shape":[2,2],"datatype":"FP32","data":[0.2,0.8,0.9,0.1]}]}),
             Ok(vec![Pred::Score(0.8), Pred::Score(0.1)])),
            (Protocol::V2, pred(Label, Some("proba"), None),
             json!({"outputs":[{"name":"proba","shape":[2,2],"data":[[0.2,0.8],[0.9,0.1]]}]}),
             Ok(labels(&["1", "0"]))),
            (Protocol::V2, pred(Label, Some("nope"), None),
             json!({"outputs":[{"name":"predict","shape":[1],"data":[1]}]}),
             Err("no output named \"nope\" (outputs: predict)")),
            (Protocol::V2, pred(Label, None, None), json!({"error": "x"}),
             Err("the answer has no `outputs` list (Open Inference Protocol v2)")),
            // KServe v1: labels as FP64 and strings; probability rows.
            (Protocol::V1, pred(Label, None, None), json!({"predictions":[1.0, 2, "setosa"]}),
             Ok(labels(&["1", "2", "setosa"]))),
            (Protocol::V1, pred(Score, None, None), json!({"predictions":[[0.3,0.7]]}),
             Ok(vec![Pred::Score(0.7)])),
            // Seldon v1 ndarray and tensor.
            (Protocol::Seldon, pred(Label, None, None),
             json!({"data":{"names":["t:0","t:1"],"ndarray":[[0.1,0.9],[0.6,0.4]]},"meta":{}}),
             Ok(labels(&["1", "0"]))),
            (Protocol::Seldon, pred(Score, None, None),
             json!({"data":{"tensor":{"shape":[2,2],"values":[0.1,0.9,0.6,0.4]}}}),
             Ok(vec![Pred::Score(0.9), Pred::Score(0.4)])),
            // Azure ML: a list, a list encoded twice, an object with `predictions`.
            (Protocol::Azureml, pred(Label, None, None), json!([1, 0]), Ok(labels(&["1", "0"]))),
            (Protocol::Azureml, pred(Label, None, None), json!("[1, 0]"), Ok(labels(&["1", "0"]))),
            (Protocol::Azureml, pred(Score, None, None), json!({"predictions":[0.25]}),
             Ok(vec![Pred::Score(0.25)])),
            (Protocol::Azureml, pred(Label, None, None), json!({"x": 1}),
             Err("the scoring answer is an object without `predictions` or `result`: set compare.prediction.path")),
            // A JSON pointer overrides the protocol.
            (Protocol::Azureml, pred(Score, None, Some("/out/scores")), json!({"out":{"scores":[0.5, 0.1]}}),
             Ok(vec![Pred::Score(0.5), Pred::Score(0.1)])),
            (Protocol::V1, pred(Score, None, Some("/missing")), json!({}),
             Err("the answer has nothing at /missing")),
            (Protocol::V1, pred(Score, None, None), json!({"predictions":["a"]}),
             Err("\"a\" is not a numeric score")),
        ];
        for (i, (proto, p, body, want)) in cases.into_iter().enumerate() {
            let got = predictions(proto, &p, &body);
            match want {
                Ok(w) => assert_eq!(got, Ok(w), "case {i}"),
                Err(e) => assert_eq!(got, Err(e.to_string()), "case {i}"),
            }
        }
    }
}
