//! Real model servers: MLServer serving scikit-learn models trained at test time
//! (tests/support/mlserver/), behind a router playing the KServe ingress, scraped by a real
//! Prometheus, rolled out by the `mlcanary` binary on the Kubernetes API test server.
use crate::support::e2e;
use crate::support::mlserver;
use crate::support::mlserver::stack;

use mlserver::router::kserve_split;
use mlserver::{MlServer, Txn, Variant};
use stack::{Plan, Stack, CANARY_REVISION};
use std::time::SystemTime;

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

/// The router's split: the share each revision gets follows the percentages (deterministic draws),
/// a revision at 0% gets nothing, and the split is read from KServe's reported traffic.
#[test]
fn router_splits_by_the_reported_traffic() {
    use mlserver::router::{kserve_split, pick};
    let split = vec![("a".to_string(), 80), ("b".to_string(), 20)];
    let to_b = (0..10_000)
        .filter(|&n| pick(&split, n) == Some("b"))
        .count();
    assert!(
        (1_800..=2_200).contains(&to_b),
        "{to_b} of 10000 to the 20% revision"
    );
    let rolled_back = vec![("a".to_string(), 100), ("b".to_string(), 0)];
    assert!((0..1_000).all(|n| pick(&rolled_back, n) == Some("a")));
    assert_eq!(pick(&[], 0), None, "no ready revision: no backend");
    let obj = serde_json::json!({"status": {"components": {"predictor": {"traffic": [
        {"tag": "prev", "revisionName": "fd-predictor-00001", "latestRevision": false, "percent": 80},
        {"tag": "latest", "revisionName": "fd-predictor-00002", "latestRevision": true, "percent": 20}
    ]}}}});
    assert_eq!(
        kserve_split(&obj),
        [
            ("fd-predictor-00001".to_string(), 80),
            ("fd-predictor-00002".to_string(), 20)
        ]
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

/// Rolled back at the first stage: exit 1, one stage started, the object back at 0%, and once the
/// controller reports the canary at 0% the router sends it nothing more. Prints how many requests
/// the bad model served before the rollback write.
fn assert_rolled_back_at_first_stage(s: &mut Stack, run: &e2e::Run, label: &str) {
    assert_eq!(run.code, 1, "{}", run.log());
    assert_eq!(run.result(), "rolled-back", "{}", run.report);
    assert_eq!(run.events("phaseStarted").len(), 1, "{}", run.report);
    // Rolled back because a guardrail saw the defect, not because the stage stayed inconclusive.
    assert!(
        run.reason().starts_with("critical guardrail"),
        "{}\n{}\n{}",
        run.log(),
        run.report,
        s.scrape_health()
    );
    let path = e2e::Kind::Kserve.path();
    let o = s.env.object(&path).expect("the InferenceService");
    assert_eq!(o["spec"]["predictor"]["canaryTrafficPercent"], 0, "{o}");
    let written = s.rollback_write().expect("a rollback write");
    let (served, failed) = s.canary_served(Some(written));
    // The controller may report the new split later than the write (poll, don't assume).
    let canary_at_zero = || {
        let split = kserve_split(&s.env.object(&path).unwrap_or_default());
        split
            .iter()
            .all(|(rev, p)| rev != CANARY_REVISION || *p == 0)
    };
    assert!(
        mlserver::eventually(canary_at_zero),
        "{:?}",
        s.env.object(&path)
    );
    let seen_at_zero = SystemTime::now();
    let tally = s.stop_load();
    let late = s
        .router
        .served()
        .iter()
        .filter(|r| r.revision == CANARY_REVISION && r.at > seen_at_zero)
        .count();
    assert_eq!(late, 0, "canary requests after the reported rollback");
    let (all, _) = s.canary_served(None);
    eprintln!(
        "[{label}] bad model served {served} requests ({failed} failed) before the rollback write, \
         {} after it until the ingress followed; failed guardrails {:?} ({}); mlcanary took {:.1} s; load {tally:?}",
        all - served,
        failed_guardrails(run),
        run.reason(),
        run.took.as_secs_f64(),
    );
    assert!(served > 0, "the canary got traffic before the rollback");
}

/// A good v2 walks 20% and 50% and is promoted; the router sent it nothing before mlcanary's
/// first write and its share once the controller reported the split.
#[test]
fn good_v2_on_mlserver_is_promoted() {
    let Some(mut s) = Stack::start(Variant::V2Good) else {
        return;
    };
    let plan = Plan {
        pause: "8s",
        ..Plan::default()
    };
    let run = s.env.run(&s.config(&plan));
    let tally = s.stop_load();
    let (served, failed) = s.canary_served(None);
    eprintln!(
        "[good v2] canary served {served} ({failed} failed); mlcanary took {:.1} s; load {tally:?}",
        run.took.as_secs_f64()
    );
    assert_eq!(run.code, 0, "{}\n{}", run.log(), run.report);
    assert_eq!(run.result(), "promoted", "{}", run.report);
    let weights = run.weights_started();
    assert_eq!(weights, [20, 50, 100], "{}", run.report);
    let path = e2e::Kind::Kserve.path();
    let o = s.env.object(&path).expect("the InferenceService");
    assert!(
        o["spec"]["predictor"].get("canaryTrafficPercent").is_none(),
        "{o}"
    );
    let rolled_out = || {
        let o = s.env.object(&path).unwrap_or_default();
        o["status"]["components"]["predictor"]["latestRolledoutRevision"] == CANARY_REVISION
    };
    assert!(
        mlserver::eventually(rolled_out),
        "{:?}",
        s.env.object(&path)
    );
    let first_write = s
        .env
        .kube
        .requests()
        .iter()
        .find(|r| r.method == "PATCH" && r.path == path && !r.query.contains("dryRun"))
        .map(|r| r.at)
        .expect("mlcanary wrote the InferenceService");
    assert_eq!(
        s.canary_served(Some(first_write)),
        (0, 0),
        "no canary traffic before the rollout"
    );
    assert_eq!(failed, 0, "the good model never failed");
    assert!(served > 0 && tally.failed == 0, "{tally:?}");
}

/// A v2 that raises on the merchant category it never saw (~10% of requests) is rolled back at
/// the first stage; the canary failed exactly its `gaming` requests.
#[test]
fn v2_failing_on_an_unseen_category_is_rolled_back_at_the_first_stage() {
    let Some(mut s) = Stack::start(Variant::V2Unseen) else {
        return;
    };
    let run = s.env.run(&s.config(&Plan::default()));
    assert_rolled_back_at_first_stage(&mut s, &run, "unseen category");
    let canary: Vec<_> = s
        .router
        .served()
        .into_iter()
        .filter(|r| r.revision == CANARY_REVISION)
        .collect();
    let category = |r: &mlserver::router::Served| r.request["inputs"][0]["data"][0].clone();
    assert!(
        canary.iter().any(|r| r.status == 500),
        "the canary failed some requests"
    );
    for r in &canary {
        assert_eq!(r.status == 500, category(r) == "gaming", "{r:?}");
    }
}

/// A v2 whose feature lookup adds 0.2 s per request is rolled back at the first stage.
#[test]
fn slow_v2_is_rolled_back_at_the_first_stage() {
    let Some(mut s) = Stack::start(Variant::V2Slow) else {
        return;
    };
    // 10% first: 2 req/s of 0.2 s keep the slow server's event loop 40% busy, so its /metrics
    // (served on the same loop with parallel_workers 0) still answers the 1 s scrapes.
    let plan = Plan {
        stages: vec![10, 50],
        ..Plan::default()
    };
    let run = s.env.run(&s.config(&plan));
    assert_rolled_back_at_first_stage(&mut s, &run, "slow");
    let slow = s
        .router
        .served()
        .iter()
        .filter(|r| r.revision == CANARY_REVISION)
        .all(|r| r.took.as_secs_f64() >= mlserver::SLOW_SECONDS);
    assert!(slow, "every canary answer took the slow lookup");
}

/// The name the test harness knows test `f` of this module by (`e2e_mlserver::f`: this file is a
/// module of the `e2e` binary), for `--exact` when the binary runs one of its own tests.
fn this_test(f: &str) -> String {
    let path = module_path!();
    let module = path.split_once("::").map_or(path, |(_, m)| m);
    format!("{module}::{f}")
}

/// Run by `missing_venv_fails_in_ci_and_skips_only_when_asked` in a child process with a chosen
/// environment: applies the missing-virtualenv policy.
#[test]
#[ignore = "run as a child process by missing_venv_fails_in_ci_and_skips_only_when_asked"]
fn venv_policy_probe() {
    assert!(
        mlserver::venv().is_none(),
        "the probe runs with a missing venv"
    );
}

/// A missing MLServer virtualenv fails the tests under `CI`, even with the local skip variable;
/// locally it fails unless `MLCANARY_SKIP_MLSERVER=1`.
#[test]
fn missing_venv_fails_in_ci_and_skips_only_when_asked() {
    let missing = tempfile::tempdir().expect("temp dir");
    let probe = |ci: bool, skip: bool| {
        let mut cmd = std::process::Command::new(std::env::current_exe().expect("test binary"));
        cmd.args(["--ignored", "--exact", &this_test("venv_policy_probe")])
            .env("MLCANARY_TEST_VENV", missing.path())
            .env_remove("CI")
            .env_remove("MLCANARY_SKIP_MLSERVER");
        if ci {
            cmd.env("CI", "true");
        }
        if skip {
            cmd.env("MLCANARY_SKIP_MLSERVER", "1");
        }
        let out = cmd.output().expect("run the probe");
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        (out.status.success(), text)
    };
    let (ok, text) = probe(true, true);
    assert!(
        !ok && text.contains("CI is set: MLServer tests may not be skipped"),
        "{text}"
    );
    let (ok, text) = probe(false, false);
    assert!(!ok && text.contains("scripts/test-venv.sh"), "{text}");
    let (ok, text) = probe(false, true);
    assert!(ok && text.contains("this test is SKIPPED"), "{text}");
}

/// Run by `mlserver_stops_when_the_test_process_is_killed` as a child process: starts a server,
/// prints its pid, then waits (at most 60 s) to be killed.
#[test]
#[ignore = "run as a child process by mlserver_stops_when_the_test_process_is_killed"]
fn orphan_probe() {
    let Some(server) = MlServer::start(Variant::V1) else {
        return;
    };
    println!("MLSERVER_PID {}", server.pid());
    std::thread::sleep(std::time::Duration::from_secs(60));
}

/// A test process killed with SIGKILL cannot stop its MLServer: the server stops by itself.
#[test]
fn mlserver_stops_when_the_test_process_is_killed() {
    use std::io::BufRead;
    if mlserver::venv().is_none() {
        return;
    }
    let mut probe = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--ignored",
            "--exact",
            &this_test("orphan_probe"),
            "--nocapture",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start the probe");
    let stdout = std::io::BufReader::new(probe.stdout.take().expect("probe stdout"));
    let pid = stdout
        .lines()
        .map_while(Result::ok)
        .find_map(|l| l.strip_prefix("MLSERVER_PID ").map(str::to_string))
        .expect("the probe started a server");
    let alive = || {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
            !stat
                .rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        })
    };
    assert!(alive(), "the server runs while the probe does");
    probe.kill().expect("SIGKILL the probe");
    probe.wait().expect("reap the probe");
    assert!(
        mlserver::eventually(|| !alive()),
        "MLServer {pid} still runs"
    );
}
