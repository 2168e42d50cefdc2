//! The prediction comparison against REAL model servers: two MLServer processes
//! (`support/mlserver`, scikit-learn pipelines trained at test time) as the stable and the canary,
//! the `mlcanary` binary rolling out on the Kubernetes test API server (KServe). A canary retrained
//! with the same recipe (it flips about 1% of borderline transactions) passes the comparison and the rollout goes on to promotion; a canary that
//! predicts differently on one slice (travel transactions mislabelled in training) stops the
//! rollout before any traffic moves: exit 1, canaryTrafficPercent never above 0.
//!
//! The benchmark (`bench_compare_1000_requests`, ignored in the suite) times the phase for 1,000
//! requests: `bash scripts/bench-compare.sh`.
use crate::support::e2e;
use crate::support::mlserver;

use crate::compare::stopped_in_the_comparison;
use e2e::{Env, Kind};
use mlserver::{MlServer, Variant};
use serde_json::Value;

fn pair(canary: Variant) -> Option<(MlServer, MlServer)> {
    let second = std::thread::spawn(move || MlServer::start(canary));
    let stable = MlServer::start(Variant::V1);
    let canary = second.join().expect("MLServer start thread");
    Some((stable?, canary?))
}

fn write_requests(env: &Env, n: u64) {
    let text: String = (0..n)
        .map(|i| mlserver::load::txn(i).body().to_string() + "\n")
        .collect();
    std::fs::write(env.dir.path().join("requests.jsonl"), text).unwrap();
}

const KSERVE: &str = "target:\n  platform: kserve\n  resource: fd\n";
/// Drive mode with a traffic router and the two Services: the Rollout's first steps hold one
/// canary pod at weight 0 (`setCanaryScale`) while the comparison runs.
const ARGO: &str = "target:\n  platform: argo-rollouts\n  resource: fd\n  mode: drive\n  image: ghcr.io/acme/fd:2\n  replicas: 2\n  canaryService: fd-canary\n  stableService: fd-stable\n  trafficRouting: {nginx: {stableIngress: fd}}\n";

fn config(stable: &MlServer, canary: &MlServer, extra: &str) -> String {
    config_for(KSERVE, stable, canary, extra)
}

fn config_for(target: &str, stable: &MlServer, canary: &MlServer, extra: &str) -> String {
    format!(
        r#"apiVersion: mlcanary/v1
name: fd-compare
model:
  uri: {uri}
  format: sklearn
{target}compare:
  requests: requests.jsonl
  protocol: v2
  prediction: {{output: predict, kind: label}}
  stable: {{url: "{s}"}}
  canary: {{url: "{c}"}}
{extra}stages: [10, 50]
analysis:
  pause: 1s
  interval: 1s
  warmup: 0s
  deadline: 5m
guardrails:
  - name: label-disagreement
    provider: compare
    query: disagreement
    promote: "< 2%"
    rollback: "> 3%"
    critical: true
  - name: canary-errors
    provider: compare
    query: canaryErrorRate
    rollback: "> 0"
  - name: latency-p99-ratio
    provider: compare
    query: latencyP99Ratio
    rollback: "> 5"
    dryRun: true
"#,
        uri = e2e::CANARY_URI,
        s = stable.infer_url(),
        c = canary.infer_url(),
    )
}

fn canary_never_above_zero(env: &Env) {
    for r in env.kube.requests() {
        if let Ok(b) = serde_json::from_str::<Value>(&r.body) {
            if let Some(p) = b["spec"]["predictor"]["canaryTrafficPercent"].as_u64() {
                assert_eq!(p, 0, "{} {}", r.method, r.body);
            }
            for op in b.as_array().into_iter().flatten() {
                if op["path"] == "/spec/predictor/canaryTrafficPercent" {
                    assert_eq!(op["value"], 0, "{}", r.body);
                }
            }
        }
    }
}

#[test]
fn mlserver_retrained_same_recipe_passes_and_the_rollout_goes_on() {
    let Some((stable, canary)) = pair(Variant::V2Good) else {
        return;
    };
    let env = Env::kube_only(Kind::Kserve);
    write_requests(&env, 300);
    let run = env.run(&config(
        &stable,
        &canary,
        "  rate: 200\n  concurrency: 4\n  stopEarly: {tolerance: \"3%\"}\n",
    ));
    let c = &run.report["compare"];
    eprintln!("same recipe: {c}");
    assert_eq!(run.code, 0, "{}", run.log());
    assert_eq!(run.weights_started(), [0, 10, 50, 100]);
    assert_eq!(c["requests"], 300);
    assert_eq!(c["canaryErrors"], 0);
    // Retrained on another sample, it flips a few borderline transactions (about 1%): within the
    // 2% promote zone.
    assert!(c["disagreement"].as_f64().unwrap() < 0.02, "{c}");
}

#[test]
fn mlserver_canary_predicting_differently_on_a_slice_stops_before_any_traffic_shift() {
    let Some((stable, canary)) = pair(Variant::V2Slice) else {
        return;
    };
    let env = Env::kube_only(Kind::Kserve);
    write_requests(&env, 1000);
    let run = env.run(&config(
        &stable,
        &canary,
        "  rate: 200\n  concurrency: 4\n  stopEarly: {tolerance: \"3%\"}\n",
    ));
    let c = &run.report["compare"];
    eprintln!("slice: {c}\n{}", run.stdout);
    stopped_in_the_comparison(&run);
    assert!(
        c["requests"].as_u64().unwrap() < 1000,
        "the sequential test stopped it early: {c}"
    );
    // The most different requests are the mislabelled slice.
    let travel = c["mostDifferent"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["input"].as_str().unwrap().contains("travel"))
        .count();
    assert!(travel >= 1, "{c}");
    canary_never_above_zero(&env);
    assert_eq!(
        env.object(&Kind::Kserve.path()).unwrap()["spec"]["predictor"]["canaryTrafficPercent"],
        0,
        "rolled back to the stable revision"
    );
}

/// `mlcanary run` on an Argo Rollout (drive mode, traffic router) comparing the stable MLServer
/// with `canary` over `n` requests at `rate` per second (None: MLServer unavailable locally).
fn argo_run(canary: Variant, n: u64, rate: u32) -> Option<(Env, e2e::Run)> {
    let (stable, canary) = pair(canary)?;
    let env = Env::kube_only(Kind::ArgoDrive);
    write_requests(&env, n);
    let extra = format!("  rate: {rate}\n  concurrency: 4\n  stopEarly: {{tolerance: \"3%\"}}\n");
    let run = env.run(&config_for(ARGO, &stable, &canary, &extra));
    Some((env, run))
}

/// Argo Rollouts, identical behaviour: the comparison passes while the Rollout is paused at
/// `setWeight: 0` with one canary pod (`setCanaryScale`), then mlcanary releases that pause and the
/// rollout goes on through the stages to Healthy.
#[test]
fn mlserver_argo_identical_model_passes_and_the_rollout_goes_on() {
    let Some((env, run)) = argo_run(Variant::V1, 200, 400) else {
        return;
    };
    let c = &run.report["compare"];
    assert_eq!(run.code, 0, "{}", run.log());
    assert_eq!(run.weights_started(), [0, 10, 50, 100]);
    assert_eq!(
        (c["requests"].as_u64(), c["disagreement"].as_f64()),
        (Some(200), Some(0.0)),
        "{c}"
    );
    let ro = env.object(&Kind::ArgoDrive.path()).unwrap();
    assert_eq!(ro["status"]["phase"], "Healthy", "{ro}");
    assert_eq!(ro["status"]["stableRS"], ro["status"]["currentPodHash"]);
    let steps = &ro["spec"]["strategy"]["canary"]["steps"];
    assert_eq!(
        steps[0],
        serde_json::json!({"setCanaryScale": {"replicas": 1}}),
        "{steps}"
    );
    assert_eq!(steps[1], serde_json::json!({"setWeight": 0}));
}

/// Argo Rollouts, a canary that predicts differently on a slice: stopped while paused at
/// `setWeight: 0` (exit 1), the pause never released, the Rollout aborted (Degraded, canary
/// weight 0 and scaled down), no traffic stage begun.
#[test]
fn mlserver_argo_differing_model_stops_before_any_traffic_shift() {
    let Some((env, run)) = argo_run(Variant::V2Slice, 1000, 200) else {
        return;
    };
    stopped_in_the_comparison(&run);
    let mut aborted = false;
    for r in env.kube.requests() {
        let Ok(b) = serde_json::from_str::<Value>(&r.body) else {
            continue;
        };
        assert!(
            !b["status"]
                .as_object()
                .is_some_and(|s| s.contains_key("pauseConditions")),
            "the pause at weight 0 is never released: {} {} {}",
            r.method,
            r.path,
            r.body
        );
        assert_ne!(b["status"]["promoteFull"], true, "{}", r.body);
        aborted |= b["status"]["abort"] == true;
    }
    assert!(aborted, "the Rollout is aborted");
    let ro = env.object(&Kind::ArgoDrive.path()).unwrap();
    let st = &ro["status"];
    assert_eq!(st["phase"], "Degraded", "{ro}");
    assert_eq!(st["canary"]["weights"]["canary"]["weight"], 0, "{ro}");
    assert_eq!(st["updatedReplicas"], 0, "the canary is scaled down: {ro}");
    assert_ne!(
        st["stableRS"], st["currentPodHash"],
        "the stable stays stable"
    );
    let summary = std::fs::read_to_string(env.dir.path().join("step-summary.md")).unwrap();
    eprintln!("step summary:\n{summary}");
    assert!(summary.contains("Prediction comparison"), "{summary}");
}

/// Benchmark (documented in docs/compare.md): the comparison phase for 1,000 requests against the
/// local MLServer pair, at an unthrottled rate with 8 in flight per version. Prints the figures.
#[test]
#[ignore = "benchmark: bash scripts/bench-compare.sh"]
fn bench_compare_1000_requests() {
    let Some((stable, canary)) = pair(Variant::V2Good) else {
        return;
    };
    let env = Env::kube_only(Kind::Kserve);
    write_requests(&env, 1000);
    let concurrency = std::env::var("BENCH_CONCURRENCY").unwrap_or_else(|_| "8".into());
    let extra = format!("  rate: 10000\n  concurrency: {concurrency}\n");
    let run = env.run(&config(&stable, &canary, &extra));
    assert_eq!(run.code, 0, "{}", run.log());
    let ev = |kind: &str| {
        run.events(kind)
            .into_iter()
            .find(|e| e["phase"] == 0)
            .unwrap()["at"]
            .as_i64()
            .unwrap()
    };
    let phase_ms = ev("check") - ev("ready");
    let ms = |v: &Value| v.as_f64().unwrap_or(f64::NAN);
    let c = &run.report["compare"];
    println!(
        "compare phase: {} requests x 2 versions in {:.2} s ({:.0} pairs/s), concurrency {concurrency}; latency p50 stable/canary {:.1} / {:.1} ms, p99 {:.1} / {:.1} ms; whole run {:.2} s",
        c["requests"],
        phase_ms as f64 / 1000.0,
        c["requests"].as_f64().unwrap() * 1000.0 / phase_ms as f64,
        ms(&c["latencyP50Ms"][0]), ms(&c["latencyP50Ms"][1]), ms(&c["latencyP99Ms"][0]), ms(&c["latencyP99Ms"][1]),
        run.took.as_secs_f64()
    );
}
