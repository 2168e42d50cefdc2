//! How guardrails translate into an Argo Rollouts AnalysisTemplate, kept apart from the template so the
//! rules are tested once and `plan` can warn about what Argo cannot judge. Argo's Prometheus provider
//! compares one number per measurement (`result[0]`), so threshold and baseline guardrails translate
//! (baseline as the PromQL ratio `(q) / (b)` against the relative value); PSI needs two histograms and
//! sequential tests need state across measurements, so those are left out, as are other providers.

use serde_json::Value;

/// The comparison operators a zone may use; anything else would be spliced into Argo's expression.
const OPS: [&str; 4] = ["<", "<=", ">", ">="];

fn str_at<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// Whether Argo can judge this guardrail (context shape: `guardrails[*]`).
pub fn supported(g: &Value) -> bool {
    let prometheus = g.get("provider").and_then(|p| str_at(p, "type")) == Some("prometheus");
    let has_query = str_at(g, "query").is_some();
    match str_at(g, "kind") {
        Some("threshold") => prometheus && has_query,
        Some("baseline") => prometheus && has_query && str_at(g, "baseline").is_some(),
        _ => false,
    }
}

/// Names of the guardrails left out of the AnalysisTemplate, in config order.
pub fn unsupported_names(guardrails: &[Value]) -> Vec<String> {
    guardrails
        .iter()
        .filter(|g| !supported(g))
        .map(|g| str_at(g, "name").unwrap_or("(unnamed)").to_string())
        .collect()
}

/// `{"op": "<", "value": 0.005}` -> `result[0] < 0.005`.
pub fn condition(zone: &Value) -> Result<String, String> {
    let op = str_at(zone, "op").ok_or_else(|| format!("zone has no op: {zone}"))?;
    if !OPS.contains(&op) {
        return Err(format!("zone op {op:?} is not one of < <= > >="));
    }
    let value = zone
        .get("value")
        .filter(|v| v.as_f64().is_some_and(f64::is_finite))
        .ok_or_else(|| format!("zone value is not a finite number: {zone}"))?;
    Ok(format!("result[0] {op} {value}"))
}

/// The PromQL Argo runs: the query, or for a baseline guardrail `(query) / (baseline)`.
pub fn query(g: &Value) -> Result<String, String> {
    let q = str_at(g, "query").ok_or("guardrail has no query")?;
    match str_at(g, "kind") {
        Some("baseline") => {
            let b = str_at(g, "baseline").ok_or("baseline guardrail has no baseline query")?;
            Ok(format!("({}) / ({})", q.trim(), b.trim()))
        }
        _ => Ok(q.trim().to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn g(kind: &str, provider: &str) -> Value {
        json!({"name": format!("{kind}-{provider}"), "kind": kind, "provider": {"type": provider},
               "query": "q", "baseline": if kind == "baseline" { json!("b") } else { Value::Null }})
    }

    #[test]
    fn only_prometheus_threshold_and_baseline_translate() {
        assert!(supported(&g("threshold", "prometheus")));
        assert!(supported(&g("baseline", "prometheus")));
        assert!(!supported(&g("psi", "prometheus")));
        assert!(!supported(&g("sequential", "prometheus")));
        assert!(!supported(&g("threshold", "azure-monitor")));
        let names = unsupported_names(&[
            g("psi", "prometheus"),
            g("threshold", "prometheus"),
            g("threshold", "http"),
        ]);
        assert_eq!(names, ["psi-prometheus", "threshold-http"]);
    }

    #[test]
    fn conditions_use_result_zero_and_only_known_ops() {
        assert_eq!(
            condition(&json!({"op": "<", "value": 0.005})).unwrap(),
            "result[0] < 0.005"
        );
        assert_eq!(
            condition(&json!({"op": ">=", "value": 200})).unwrap(),
            "result[0] >= 200"
        );
        assert!(condition(&json!({"op": "< 1 || true ||", "value": 1})).is_err());
        assert!(condition(&json!({"op": "<", "value": "1"})).is_err());
    }

    #[test]
    fn baseline_becomes_a_ratio() {
        let mut b = g("baseline", "prometheus");
        b["query"] = json!("  sum(a)\n");
        assert_eq!(query(&b).unwrap(), "(sum(a)) / (b)");
        assert_eq!(query(&g("threshold", "prometheus")).unwrap(), "q");
    }
}
