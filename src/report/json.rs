//! The JSON decision record (`--report`, `run --format json`): the run record with its identity
//! (`schemaVersion`, tool, run id), RFC 3339 times beside the Unix-millisecond ones, and traffic
//! with stable and canary roles. Published as `schemas/report.schema.json`; numbers keep full
//! precision.

use super::record::RunRecord;
use serde_json::{json, Value};

/// Bumped when a field changes meaning or goes away (new fields do not bump it).
pub const SCHEMA_VERSION: u32 = 1;

/// `2026-01-01T00:00:05.250Z` for Unix milliseconds.
pub fn rfc3339(ms: i64) -> String {
    let s = crate::clients::azure::timespan::iso8601(ms.div_euclid(1000));
    format!("{}.{:03}Z", s.trim_end_matches('Z'), ms.rem_euclid(1000))
}

/// Who holds traffic, by role: `(role, name, percent)`, stable first. A name the platform
/// reports that is neither the canary nor the stable version is `other`.
pub fn roles(r: &RunRecord) -> Vec<(&'static str, String, u32)> {
    let Some(t) = &r.traffic else {
        return Vec::new();
    };
    let rev = r.info.revisions.clone().unwrap_or_default();
    let role = |name: &str| {
        let is = |n: &str, rv: &Option<String>| {
            (!n.is_empty() && n == name) || rv.as_deref() == Some(name)
        };
        // Platforms without revision names (replay, simulate) report the roles as names.
        if is(&rev.stable_name, &rev.stable_revision) || name == "stable" {
            "stable"
        } else if is(&rev.canary_name, &rev.canary_revision) || name == "canary" {
            "canary"
        } else {
            "other"
        }
    };
    let mut out: Vec<(&'static str, String, u32)> = t
        .split
        .iter()
        .map(|(n, p)| (role(n), n.clone(), *p))
        .collect();
    out.extend(
        t.mirror
            .iter()
            .filter(|(_, p)| **p > 0)
            .map(|(n, p)| ("mirror", n.clone(), *p)),
    );
    let rank = |r: &str| match r {
        "stable" => 0,
        "canary" => 1,
        "other" => 2,
        _ => 3,
    };
    out.sort_by_key(|(r, n, _)| (rank(r), n.clone()));
    out
}

/// The report document.
pub fn document(r: &RunRecord) -> Value {
    let mut v = serde_json::to_value(r).unwrap_or(Value::Null);
    let Some(o) = v.as_object_mut() else {
        return v;
    };
    o.insert("schemaVersion".into(), json!(SCHEMA_VERSION));
    o.insert(
        "tool".into(),
        json!({
            "name": "mlcanary",
            "version": env!("CARGO_PKG_VERSION"),
            "commit": option_env!("MLCANARY_COMMIT").unwrap_or("unknown"),
        }),
    );
    o.insert("startedAtMs".into(), json!(r.started_at));
    o.insert("finishedAtMs".into(), json!(r.finished_at));
    o.insert("startedAt".into(), json!(rfc3339(r.started_at)));
    o.insert("finishedAt".into(), json!(rfc3339(r.finished_at)));
    o.insert("durationSeconds".into(), json!(r.duration_seconds()));
    o.insert("result".into(), json!(r.outcome.result()));
    if let Some(reason) = r.outcome.reason() {
        o.insert("reason".into(), json!(reason));
    }
    if let Some(at) = r.info.traffic_read_at {
        o.insert("trafficReadAt".into(), json!(rfc3339(at)));
    }
    if r.traffic.is_some() {
        let roles: Vec<Value> = roles(r)
            .into_iter()
            .map(|(role, name, percent)| json!({"role": role, "name": name, "percent": percent}))
            .collect();
        o.insert("trafficRoles".into(), Value::Array(roles));
    }
    for key in ["events", "queries"] {
        if let Some(Value::Array(items)) = o.get_mut(key) {
            for item in items {
                if let Some(at) = item.get("at").and_then(Value::as_i64) {
                    item["time"] = json!(rfc3339(at));
                }
            }
        }
    }
    v
}

/// The document as pretty JSON, safe to print in a CI log.
pub fn to_string(r: &RunRecord) -> String {
    let text = serde_json::to_string_pretty(&document(r)).unwrap_or_default();
    super::github::safe_json(&text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_times() {
        assert_eq!(rfc3339(1_767_225_605_250), "2026-01-01T00:00:05.250Z");
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
    }
}
