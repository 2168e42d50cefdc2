//! `mlcanary replay`: the real loop on recorded series, through the binary.

use assert_cmd::Command;

const CONFIG: &str = r#"apiVersion: mlcanary/v1
name: fraud
model: {uri: s3://m/v2, format: sklearn}
target: {platform: kserve, namespace: ml}
stages: [{weight: 5, pause: 2m}, {weight: 25, pause: 2m}, {weight: 50, pause: 2m}]
analysis: {interval: 1m, warmup: 0s}
providers: {prom: {type: prometheus, address: "http://prometheus:9090"}}
guardrails:
  - name: error-rate
    provider: prom
    query: sum(rate(errors{revision="{{ canary.revision }}"}[1m]))
    promote: "< 0.5%"
    rollback: "> 1%"
"#;

const QUERY: &str = "sum(rate(errors{revision=\"{{ canary.revision }}\"}[1m]))";
const T: i64 = 1_700_000_000;

fn replay(series: serde_json::Value) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let c = dir.path().join("c.yaml");
    let m = dir.path().join("m.json");
    std::fs::write(&c, CONFIG).unwrap();
    std::fs::write(
        &m,
        serde_json::json!({"start": T, "series": series}).to_string(),
    )
    .unwrap();
    let out = Command::cargo_bin("mlcanary")
        .unwrap()
        .args(["replay", "--format", "json", "-c"])
        .arg(&c)
        .arg("--metrics")
        .arg(&m)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn an_incident_in_the_third_stage_is_caught_at_the_next_check() {
    // Healthy, then 5% errors from +290 s: stage 3 (50%) starts at +240 s, its second check at +300 s.
    let v = replay(serde_json::json!({QUERY: [[T, 0.001], [T + 290, 0.05]]}));
    assert_eq!(v["result"], "rolled-back");
    assert_eq!(v["decidedAt"], 300.0);
    assert_eq!(v["stage"], "stage 3 (50%)");
    let checks = v["checks"].as_array().unwrap();
    assert_eq!(checks.len(), 8, "3 + 3 + 2 checks");
    assert_eq!(checks[7]["verdict"], "fail");
    assert_eq!(checks[7]["value"], 0.05);
    assert!(checks[..7].iter().all(|c| c["verdict"] == "pass"));
}

#[test]
fn a_healthy_recording_promotes_after_the_planned_time() {
    let v = replay(serde_json::json!({QUERY: [[T - 60, 0.002]]}));
    assert_eq!(v["result"], "promoted");
    assert_eq!(v["decidedAt"], 360.0);
}

#[test]
fn missing_series_are_no_data_and_end_inconclusive() {
    let v = replay(serde_json::json!({}));
    assert_eq!(v["result"], "rolled-back");
    // 3 checks + inconclusiveLimit 3 extensions of 1 minute, all holds.
    assert_eq!(v["decidedAt"], 300.0);
    assert!(v["reason"].as_str().unwrap().contains("inconclusive"));
}

#[test]
fn a_bad_recording_is_a_usage_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let c = dir.path().join("c.yaml");
    let m = dir.path().join("m.json");
    std::fs::write(&c, CONFIG).unwrap();
    std::fs::write(&m, "{\"start\": 1, \"seriez\": {}}").unwrap();
    let out = Command::cargo_bin("mlcanary")
        .unwrap()
        .args(["replay", "-c"])
        .arg(&c)
        .arg("--metrics")
        .arg(&m)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("m.json:1:") && err.contains("seriez"), "{err}");
}
