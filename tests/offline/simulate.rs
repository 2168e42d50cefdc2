//! `simulate` and `replay` over the shipped examples and a sequential policy.

use assert_cmd::Command;

fn mlcanary(args: &[&str]) -> serde_json::Value {
    let out = Command::cargo_bin("mlcanary")
        .unwrap()
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{args:?}: {e}: {}", String::from_utf8_lossy(&out.stdout)))
}

const SEQUENTIAL: &str = r#"apiVersion: mlcanary/v1
name: fraud
model: {uri: s3://m/v2, format: sklearn}
target: {platform: kserve, namespace: ml}
stages: [{weight: 10, pause: 10m}]
analysis: {interval: 10s, warmup: 0s}
providers: {prom: {type: prometheus, address: "http://p:9090"}}
guardrails:
  - name: errors-vs-stable
    provider: prom
    sequential:
      test: rate
      canary: {events: e, total: t}
      baseline: {events: e0, total: t0}
"#;

fn sim(scenario: &str, runs: &str, seed: &str) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let c = dir.path().join("c.yaml");
    std::fs::write(&c, SEQUENTIAL).unwrap();
    let c = c.to_str().unwrap().to_string();
    mlcanary(&[
        "simulate",
        "-c",
        &c,
        "--scenario",
        scenario,
        "--qps",
        "200",
        "--runs",
        runs,
        "--seed",
        seed,
        "--format",
        "json",
    ])
}

#[test]
fn deterministic_per_seed() {
    assert_eq!(sim("errors-2x", "5", "7"), sim("errors-2x", "5", "7"));
    assert_ne!(
        sim("errors-2x", "5", "7")["rollback"],
        sim("errors-2x", "5", "8")["rollback"]
    );
}

#[test]
fn a_healthy_canary_is_promoted_and_a_5x_regression_caught_fast() {
    let aa = sim("aa", "20", "1");
    assert_eq!(aa["rolledBack"], 0.0, "{aa}");
    assert_eq!(aa["promote"]["medianMinutes"], 10.0);
    let bad = sim("errors-5x", "20", "1");
    assert_eq!(bad["rolledBack"], 1.0, "{bad}");
    assert!(
        bad["rollback"]["medianCanaryRequests"].as_f64().unwrap() <= 400.0,
        "{bad}"
    );
}

#[test]
fn custom_scenarios_and_bad_names() {
    let v = sim("custom:errors=0.08", "5", "1");
    assert_eq!(v["scenario"], "custom");
    assert_eq!(v["rolledBack"], 1.0);
    let out = Command::cargo_bin("mlcanary")
        .unwrap()
        .args([
            "simulate",
            "-c",
            "examples/kserve.yaml",
            "--scenario",
            "nope",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("errors-2x"));
}

/// `simulate --scenario aa` on config `c` with `runs` runs and `extra` options, as JSON.
fn simulate_aa(c: &str, runs: &str, extra: &[&str]) -> serde_json::Value {
    let mut args = vec![
        "simulate",
        "-c",
        c,
        "--scenario",
        "aa",
        "--runs",
        runs,
        "--format",
        "json",
    ];
    args.extend_from_slice(extra);
    mlcanary(&args)
}

#[test]
fn simulate_and_replay_run_on_every_example() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.json");
    std::fs::write(&empty, r#"{"start": 1700000000, "series": {}}"#).unwrap();
    for name in [
        "kserve",
        "seldon",
        "seldon-v2",
        "argo-rollouts-drive",
        "argo-rollouts-watch",
        "azureml",
    ] {
        let c = format!("examples/{name}.yaml");
        let v = simulate_aa(&c, "2", &[]);
        assert_eq!(v["runs"], 2, "{name}");
        let r = mlcanary(&[
            "replay",
            "-c",
            &c,
            "--metrics",
            empty.to_str().unwrap(),
            "--format",
            "json",
        ]);
        assert!(r["result"].is_string(), "{name}: {r}");
    }
}

/// Issue 11: the shipped examples teach good practice. A canary identical to the stable (A/A) must
/// not be rolled back in more than 1% of seeded runs at 20 QPS (the harder, low-traffic case: a
/// threshold at the stable's own level, or a short window at low traffic, fails this at once).
/// 200 runs per example: at a true 1% the chance of seeing more than 2 rollbacks is 32%, at 3% it
/// is 94%; deterministic through the seed.
#[test]
fn every_example_keeps_aa_false_rollbacks_at_or_below_one_percent() {
    let mut examples: Vec<String> = std::fs::read_dir("examples")
        .unwrap()
        .filter_map(|e| {
            let p = e.unwrap().path();
            (p.extension().is_some_and(|x| x == "yaml")).then(|| p.display().to_string())
        })
        .collect();
    examples.sort();
    assert!(examples.len() >= 6, "{examples:?}");
    for c in examples {
        let v = simulate_aa(&c, "200", &["--qps", "20", "--seed", "11"]);
        let rate = v["rolledBack"].as_f64().unwrap();
        assert!(
            rate <= 0.01,
            "{c}: A/A rolled back in {:.1}% of runs: {}",
            rate * 100.0,
            v["rollbackReasons"]
        );
    }
}
