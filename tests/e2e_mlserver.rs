//! Real model servers: MLServer serving scikit-learn models trained at test time
//! (tests/support/mlserver/), behind a router playing the KServe ingress, scraped by a real
//! Prometheus, rolled out by the `mlcanary` binary on the Kubernetes API test server.
#[path = "support/e2e/mod.rs"]
mod e2e;
#[path = "support/mlserver/mod.rs"]
mod mlserver;
#[path = "support/mlserver/stack.rs"]
mod stack;

use mlserver::{MlServer, Txn, Variant};
use stack::{Plan, Stack, CANARY_REVISION};

fn txn(category: &'static str) -> Txn {
    Txn {
        category,
        amount: 42.5,
        hour: 3,
    }
}

/// The harness itself: each variant answers as train.py says, and MLServer's own metrics count
/// what it served under the names the guardrails query.
#[test]
fn mlserver_serves_the_trained_variants_and_counts_them() {
    let Some(v1) = MlServer::start(Variant::V1) else {
        return;
    };
    let Some(unseen) = MlServer::start(Variant::V2Unseen) else {
        return;
    };
    for category in ["grocery", "gaming"] {
        let (code, answer) = v1.infer(&txn(category));
        assert_eq!(code, 200, "v1 {category}: {answer}");
        assert_eq!(answer["outputs"][0]["name"], "predict", "{answer}");
        let class = answer["outputs"][0]["data"][0].as_i64();
        assert!(matches!(class, Some(0 | 1)), "{answer}");
    }
    let (code, answer) = unseen.infer(&txn("grocery"));
    assert_eq!(code, 200, "{answer}");
    let (code, _) = unseen.infer(&txn("gaming"));
    assert_eq!(code, 500, "{}", unseen.log());
    // The server logs the traceback and updates its request metrics after it answered: poll.
    let logged = || unseen.log().contains("Found unknown categories ['gaming']");
    assert!(mlserver::eventually(logged), "{}", unseen.log());
    for series in [
        r#"model_infer_request_success_total{model="fd",version="None"} 1.0"#,
        r#"model_infer_request_failure_total{model="fd",version="None"} 1.0"#,
        r#"rest_server_requests_total{app_name="mlserver",method="POST",path="/v2/models/{model_name}/infer",status_code="500"} 1.0"#,
        r#"rest_server_request_duration_seconds_bucket{app_name="mlserver",le="+Inf",method="POST",path="/v2/models/{model_name}/infer",status_code="200"} 1.0"#,
    ] {
        let seen = || unseen.metrics_text().contains(series);
        assert!(
            mlserver::eventually(seen),
            "{series} in:\n{}",
            unseen.metrics_text()
        );
    }
    // What exists before the first failure (the guardrail queries depend on it): MLServer's
    // failure counter is created at 0 with the first request (`labels()` runs on every request),
    // but the HTTP metrics have no 5xx series until a request fails (Prometheus: no data, not 0).
    let text = v1.metrics_text();
    assert!(
        text.contains(r#"model_infer_request_failure_total{model="fd",version="None"} 0.0"#),
        "{text}"
    );
    assert!(!text.contains(r#"status_code="500""#), "{text}");
}

/// The slow variant takes its feature-lookup time on every request.
#[test]
fn slow_variant_is_slow() {
    let Some(slow) = MlServer::start(Variant::V2Slow) else {
        return;
    };
    let started = std::time::Instant::now();
    let (code, answer) = slow.infer(&txn("fuel"));
    assert_eq!(code, 200, "{answer}");
    assert!(
        started.elapsed().as_secs_f64() >= mlserver::SLOW_SECONDS,
        "{:?}",
        started.elapsed()
    );
}

/// The guardrails that failed in the run's checks.
fn failed_guardrails(run: &e2e::Run) -> Vec<String> {
    let mut names: Vec<String> = run
        .events("check")
        .iter()
        .flat_map(|c| c["judgements"].as_array().cloned().unwrap_or_default())
        .filter(|j| j["verdict"] == "fail")
        .filter_map(|j| j["guardrail"].as_str().map(str::to_string))
        .collect();
    names.dedup();
    names
}

/// Rolled back at the first stage: exit 1, one stage started, the object back at 0%, and the
/// router sent nothing more to the canary once the controller reported the rollback.
fn assert_rolled_back_at_first_stage(s: &mut Stack, run: &e2e::Run, label: &str) {
    assert_eq!(run.code, 1, "{}", run.log());
    assert_eq!(run.result(), "rolled-back", "{}", run.report);
    assert_eq!(run.events("phaseStarted").len(), 1, "{}", run.report);
    let o = s
        .env
        .object(&e2e::Kind::Kserve.path())
        .expect("the InferenceService");
    assert_eq!(o["spec"]["predictor"]["canaryTrafficPercent"], 0, "{o}");
    let written = s.rollback_write().expect("a rollback write");
    let (served, failed) = s.canary_served(Some(written));
    let tally = s.stop_load();
    let (after, _) = s.canary_served(None);
    eprintln!(
        "[{label}] bad model served {served} requests ({failed} failed) before the rollback write; \
         {} after it (until the ingress followed); guardrails failed: {:?} ({}); mlcanary took {:?}; load {tally:?}",
        after - served,
        failed_guardrails(run),
        run.reason(),
        run.took,
    );
    assert!(served > 0, "the canary got traffic before the rollback");
}

#[test]
fn good_v2_on_mlserver_is_promoted() {
    let Some(mut s) = Stack::start(Variant::V2Good) else {
        return;
    };
    let run = s.env.run(&s.config(&Plan::default()));
    let tally = s.stop_load();
    let (served, failed) = s.canary_served(None);
    eprintln!(
        "[good v2] canary served {served} ({failed} failed); mlcanary took {:?}; load {tally:?}",
        run.took
    );
    assert_eq!(run.code, 0, "{}\n{}", run.log(), run.report);
    assert_eq!(run.result(), "promoted", "{}", run.report);
    let weights: Vec<u64> = run
        .events("phaseStarted")
        .iter()
        .filter_map(|e| e["weight"].as_u64())
        .collect();
    assert_eq!(weights, [20, 50, 100], "{}", run.report);
    let o = s
        .env
        .object(&e2e::Kind::Kserve.path())
        .expect("the InferenceService");
    assert!(
        o["spec"]["predictor"].get("canaryTrafficPercent").is_none(),
        "{o}"
    );
    assert_eq!(
        o["status"]["components"]["predictor"]["latestRolledoutRevision"], CANARY_REVISION,
        "{o}"
    );
    assert_eq!(failed, 0, "the good model never failed");
    assert!(served > 0 && tally.failed == 0, "{tally:?}");
}

#[test]
fn v2_failing_on_an_unseen_category_is_rolled_back_at_the_first_stage() {
    let Some(mut s) = Stack::start(Variant::V2Unseen) else {
        return;
    };
    let run = s.env.run(&s.config(&Plan::default()));
    assert_rolled_back_at_first_stage(&mut s, &run, "unseen category");
    let (_, failed) = s.canary_served(None);
    assert!(failed > 0, "the canary failed some requests");
}

#[test]
fn slow_v2_is_rolled_back_at_the_first_stage() {
    let Some(mut s) = Stack::start(Variant::V2Slow) else {
        return;
    };
    let run = s.env.run(&s.config(&Plan::default()));
    assert_rolled_back_at_first_stage(&mut s, &run, "slow");
    let slow = s
        .router
        .served()
        .iter()
        .filter(|r| r.revision == CANARY_REVISION)
        .all(|r| r.took.as_secs_f64() >= mlserver::SLOW_SECONDS);
    assert!(slow, "every canary answer took the slow lookup");
}
