//! Filters the templates may use. They live in Rust (not in template macros) so that they are tested once
//! and an override cannot get them subtly wrong: durations in Go/Prometheus style, Kubernetes-safe names,
//! the Seldon v1 implementation table, map editing, and the Argo translation of guardrail zones.

use minijinja::{Error, ErrorKind, Value};

use super::argo;

/// Registers every filter on the environment.
pub(crate) fn register(env: &mut minijinja::Environment<'static>) {
    env.add_filter("duration", duration);
    env.add_filter("k8s_name", k8s_name);
    env.add_filter("k8s_label", k8s_label);
    env.add_filter("seldon_implementation", seldon_implementation);
    env.add_filter("merge", merge);
    env.add_filter("without", without);
    env.add_filter("argo_metrics", argo_metrics);
    env.add_filter("argo_unsupported", argo_unsupported);
    env.add_filter("argo_condition", argo_condition);
    env.add_filter("argo_query", argo_query);
}

fn invalid(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, msg.into())
}

fn to_json(value: &Value) -> Result<serde_json::Value, Error> {
    serde_json::to_value(value).map_err(|e| invalid(format!("value is not plain data: {e}")))
}

/// Seconds as a Go/Prometheus duration: 0 -> "0s", 90 -> "1m30s", 300 -> "5m", 5400 -> "1h30m".
pub fn format_duration(seconds: u64) -> String {
    if seconds == 0 {
        return "0s".to_string();
    }
    let (h, m, s) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    let mut out = String::new();
    for (n, unit) in [(h, 'h'), (m, 'm'), (s, 's')] {
        if n > 0 {
            out.push_str(&format!("{n}{unit}"));
        }
    }
    out
}

fn duration(value: Value) -> Result<String, Error> {
    let json = to_json(&value)?;
    let secs = json
        .as_f64()
        .filter(|s| s.is_finite() && *s >= 0.0)
        .ok_or_else(|| {
            invalid(format!(
                "duration expects a number of seconds >= 0, got {json}"
            ))
        })?;
    Ok(format_duration(secs.round() as u64))
}

/// A DNS-1123 label (the rule for most Kubernetes object names): lower case alphanumerics and '-',
/// starting and ending with an alphanumeric, at most 63 characters.
pub fn to_k8s_name(s: &str) -> Option<String> {
    let mapped: String = s
        .chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9') => c,
            _ => '-',
        })
        .collect();
    let trimmed: String = mapped.trim_matches('-').chars().take(63).collect();
    let trimmed = trimmed.trim_end_matches('-').to_string();
    (!trimmed.is_empty()).then_some(trimmed)
}

fn k8s_name(value: String) -> Result<String, Error> {
    to_k8s_name(&value).ok_or_else(|| {
        invalid(format!(
            "{value:?} has no character usable in a Kubernetes name"
        ))
    })
}

/// A label value: alphanumerics, '-', '_', '.', starting and ending with an alphanumeric, at most 63.
pub fn to_k8s_label(s: &str) -> String {
    let mapped: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    let edge = |c: char| !c.is_ascii_alphanumeric();
    let cut: String = mapped.trim_matches(edge).chars().take(63).collect();
    cut.trim_end_matches(edge).to_string()
}

fn k8s_label(value: String) -> String {
    to_k8s_label(&value)
}

/// Seldon Core v1 prepackaged server for a model format.
pub fn seldon_server(format: &str) -> Option<&'static str> {
    Some(match format.to_ascii_lowercase().as_str() {
        "sklearn" => "SKLEARN_SERVER",
        "xgboost" => "XGBOOST_SERVER",
        "mlflow" => "MLFLOW_SERVER",
        "tensorflow" => "TENSORFLOW_SERVER",
        "triton" => "TRITON_SERVER",
        "huggingface" => "HUGGINGFACE_SERVER",
        _ => return None,
    })
}

fn seldon_implementation(format: String) -> Result<String, Error> {
    seldon_server(&format).map(str::to_string).ok_or_else(|| {
        invalid(format!(
            "model.format {format:?} has no Seldon v1 prepackaged server (known: sklearn, xgboost, mlflow, \
             tensorflow, triton, huggingface); set target.implementation"
        ))
    })
}

fn object(value: &Value, what: &str) -> Result<serde_json::Map<String, serde_json::Value>, Error> {
    match to_json(value)? {
        serde_json::Value::Object(map) => Ok(map),
        other => Err(invalid(format!("{what} expects a mapping, got {other}"))),
    }
}

/// `a | merge(b)`: a copy of mapping `a` with the keys of `b` set (shallow).
fn merge(base: Value, other: Value) -> Result<Value, Error> {
    let mut map = object(&base, "merge")?;
    map.extend(object(&other, "merge")?);
    Ok(Value::from(minijinja::value::Serde(&map)))
}

/// `a | without("k1", "k2")`: a copy of mapping `a` without those keys.
fn without(base: Value, keys: minijinja::value::Rest<String>) -> Result<Value, Error> {
    let mut map = object(&base, "without")?;
    for key in keys.iter() {
        map.shift_remove(key);
    }
    Ok(Value::from(minijinja::value::Serde(&map)))
}

fn guardrail_list(value: &Value) -> Result<Vec<serde_json::Value>, Error> {
    match to_json(value)? {
        serde_json::Value::Array(items) => Ok(items),
        serde_json::Value::Null => Ok(Vec::new()),
        other => Err(invalid(format!(
            "expected the guardrails list, got {other}"
        ))),
    }
}

fn argo_metrics(guardrails: Value) -> Result<Value, Error> {
    let kept: Vec<_> = guardrail_list(&guardrails)?
        .into_iter()
        .filter(argo::supported)
        .collect();
    Ok(Value::from(minijinja::value::Serde(&kept)))
}

fn argo_unsupported(guardrails: Value) -> Result<Vec<String>, Error> {
    Ok(argo::unsupported_names(&guardrail_list(&guardrails)?))
}

fn argo_condition(zone: Value) -> Result<String, Error> {
    argo::condition(&to_json(&zone)?).map_err(invalid)
}

fn argo_query(guardrail: Value) -> Result<String, Error> {
    argo::query(&to_json(&guardrail)?).map_err(invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_go_style() {
        assert_eq!(format_duration(0), "0s");
        assert_eq!(format_duration(45), "45s");
        assert_eq!(format_duration(90), "1m30s");
        assert_eq!(format_duration(300), "5m");
        assert_eq!(format_duration(5400), "1h30m");
        assert_eq!(format_duration(3601), "1h1s");
    }

    #[test]
    fn duration_filter_rejects_negative_and_text() {
        assert!(duration(Value::from(-1)).is_err());
        assert!(duration(Value::from("5m")).is_err());
        assert_eq!(duration(Value::from(120.4)).unwrap(), "2m");
    }

    #[test]
    fn k8s_names_are_dns_labels() {
        assert_eq!(
            to_k8s_name("Fraud_Detector v2").as_deref(),
            Some("fraud-detector-v2")
        );
        assert_eq!(to_k8s_name("--a--").as_deref(), Some("a"));
        assert_eq!(to_k8s_name("\"{{x}}\"").as_deref(), Some("x"));
        assert_eq!(to_k8s_name("!!!"), None);
        let long = to_k8s_name(&format!("{}-b", "a".repeat(62))).unwrap();
        assert_eq!(long, "a".repeat(62), "cut to 63 then no trailing dash");
    }

    #[test]
    fn label_values_keep_dots_and_underscores() {
        assert_eq!(to_k8s_label("v2.1_rc"), "v2.1_rc");
        assert_eq!(to_k8s_label("s3://x/y"), "s3---x-y");
        assert_eq!(to_k8s_label("..v1.."), "v1");
    }

    #[test]
    fn seldon_table_matches_the_prepackaged_servers() {
        assert_eq!(seldon_server("sklearn"), Some("SKLEARN_SERVER"));
        assert_eq!(seldon_server("XGBoost"), Some("XGBOOST_SERVER"));
        assert_eq!(seldon_server("huggingface"), Some("HUGGINGFACE_SERVER"));
        assert_eq!(seldon_server("onnx"), None);
        let err = seldon_implementation("onnx".into())
            .unwrap_err()
            .to_string();
        assert!(err.contains("target.implementation"), "{err}");
    }

    #[test]
    fn merge_and_without_edit_copies() {
        let base = Value::from(minijinja::value::Serde(
            serde_json::json!({"name": "a", "traffic": 10, "shadow": true}),
        ));
        let merged = merge(
            base.clone(),
            Value::from(minijinja::value::Serde(serde_json::json!({"traffic": 90}))),
        )
        .unwrap();
        let out = without(merged, minijinja::value::Rest(vec!["shadow".into()])).unwrap();
        assert_eq!(
            serde_json::to_value(&out).unwrap(),
            serde_json::json!({"name": "a", "traffic": 90})
        );
        assert!(merge(Value::from(1), base).is_err());
    }
}
