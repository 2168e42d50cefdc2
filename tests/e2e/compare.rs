//! The prediction comparison phase through the binary (`mlcanary run`), on the Kubernetes test API
//! server (`support/kube`) with each protocol's model-server double (`support/inference`): an
//! identical canary passes the phase and the rollout goes on; a canary that predicts differently
//! on a slice stops the rollout before any traffic moves (exit 1, the canary never above 0%); a
//! version that cannot be reached fails the phase at once with the reason; a bad requests line is
//! exit 2 naming the file and line with nothing sent or changed; unreadable answers are errors
//! with an example in the report.
use crate::support::e2e;
use crate::support::inference;

use e2e::{Env, Kind};
use serde_json::Value;
use std::collections::BTreeMap;

const SEQ_V2_TARGET: &str =
    "target:\n  platform: seldon-v2\n  resource: fd\n  stableModel: fd-v1\n  canaryModel: fd-v2\n";

fn config(target: &str, compare: &str, guardrails: &str) -> String {
    format!(
        "apiVersion: mlcanary/v1\nname: fd-compare\nmodel:\n  uri: {}\n  format: sklearn\n{target}compare:\n{compare}stages: [10, 50]\nanalysis:\n  pause: 1s\n  interval: 1s\n  warmup: 0s\n  deadline: 2m\nguardrails:\n{guardrails}",
        e2e::CANARY_URI
    )
}

const LABEL_GUARDRAILS: &str = "  - name: label-disagreement\n    provider: compare\n    query: disagreement\n    rollback: \"> 2%\"\n    critical: true\n  - name: canary-errors\n    provider: compare\n    query: canaryErrorRate\n    rollback: \"> 0\"\n";

fn write_requests(env: &Env, proto: &str, n: usize) {
    let text = inference::jsonl(proto, &inference::feature_rows(n));
    std::fs::write(env.dir.path().join("requests.jsonl"), text).unwrap();
}

/// No request the API server received ever gave the canary Model a weight above 0.
fn seldon_v2_canary_never_weighted(env: &Env) {
    for r in env.kube.requests() {
        let Ok(body) = serde_json::from_str::<Value>(&r.body) else {
            continue;
        };
        for c in body["spec"]["candidates"].as_array().into_iter().flatten() {
            if c["name"] == "fd-v2" {
                assert_eq!(
                    c["weight"], 0,
                    "the canary got traffic: {} {}",
                    r.method, r.body
                );
            }
        }
    }
}

fn mesh(canary: inference::Model) -> inference::Server {
    inference::v2(
        BTreeMap::from([
            ("fd-v1".to_string(), inference::reference()),
            ("fd-v2".to_string(), canary),
        ]),
        true,
    )
}

#[test]
fn seldon_v2_identical_canary_passes_and_the_rollout_goes_on() {
    let env = Env::kube_only(Kind::SeldonV2);
    let server = mesh(inference::reference());
    write_requests(&env, "v2", 60);
    let compare = format!(
        "  requests: requests.jsonl\n  protocol: v2\n  address: {}\n  rate: 500\n  concurrency: 4\n  stopEarly: {{tolerance: \"2%\"}}\n",
        server.url
    );
    let run = env.run(&config(SEQ_V2_TARGET, &compare, LABEL_GUARDRAILS));
    assert_eq!(run.code, 0, "{}", run.log());
    assert_eq!(
        run.weights_started(),
        [0, 10, 50, 100],
        "compare, then every stage"
    );
    let c = &run.report["compare"];
    assert_eq!(c["requests"], 60, "{c}");
    assert_eq!(c["compared"], 60);
    assert_eq!(c["disagreement"], 0.0);
    assert_eq!(c["canaryErrorRate"], 0.0);
    // Both Models were addressed through the mesh by their seldon-model header.
    let seen = server.seen.lock().unwrap();
    for m in ["fd-v1", "fd-v2"] {
        let n = seen
            .iter()
            .filter(|s| s.headers.get("seldon-model").map(String::as_str) == Some(m))
            .count();
        assert_eq!(n, 60, "{m}");
    }
    assert!(
        run.summary.contains("### Prediction comparison"),
        "{}",
        run.summary
    );
}

#[test]
fn seldon_v2_canary_differing_on_a_slice_stops_before_any_traffic_shift() {
    let env = Env::kube_only(Kind::SeldonV2);
    let server = mesh(inference::differs_on_slice(7.6)); // about 10% of the rows
    write_requests(&env, "v2", 400);
    let compare = format!(
        "  requests: requests.jsonl\n  protocol: v2\n  address: {}\n  rate: 500\n  concurrency: 2\n  stopEarly: {{tolerance: \"2%\"}}\n",
        server.url
    );
    let run = env.run(&config(SEQ_V2_TARGET, &compare, LABEL_GUARDRAILS));
    stopped_in_the_comparison(&run);
    let c = &run.report["compare"];
    let sent = c["requests"].as_u64().unwrap();
    assert!(
        sent < 400,
        "the sequential test stopped the phase early: {c}"
    );
    assert!(
        c["stoppedEarly"]
            .as_str()
            .unwrap()
            .contains("disagreement rate is shown above the 2% tolerance"),
        "{c}"
    );
    assert!(c["disagreement"].as_f64().unwrap() > 0.02);
    let diff = c["mostDifferent"].as_array().unwrap();
    assert!(!diff.is_empty() && diff.len() <= 5, "{c}");
    assert!(diff[0]["input"].as_str().unwrap().starts_with("predict=["));
    seldon_v2_canary_never_weighted(&env);
    assert!(
        run.summary.contains("Most different requests"),
        "{}",
        run.summary
    );
    assert!(
        run.stdout.contains("### Prediction comparison"),
        "{}",
        run.stdout
    );
}

#[test]
fn an_unreachable_canary_fails_the_phase_at_once_with_the_reason() {
    let env = Env::kube_only(Kind::SeldonV2);
    let stable = inference::v2(
        BTreeMap::from([("fd-v1".to_string(), inference::reference())]),
        false,
    );
    // A port that was free a moment ago: nothing listens there.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    write_requests(&env, "v2", 200);
    let compare = format!(
        "  requests: requests.jsonl\n  protocol: v2\n  rate: 50\n  stable: {{url: \"{}/v2/models/fd-v1/infer\"}}\n  canary: {{url: \"{dead}/v2/models/fd-v2/infer\"}}\n",
        stable.url
    );
    let run = env.run(&config(SEQ_V2_TARGET, &compare, LABEL_GUARDRAILS));
    assert_eq!(run.code, 1, "{}", run.log());
    assert!(
        run.reason()
            .contains("the canary version cannot be reached"),
        "{}",
        run.reason()
    );
    assert_eq!(run.weights_started(), [0]);
    let sent = run.report["compare"]["requests"].as_u64().unwrap();
    assert!(
        sent < 20,
        "gave up after the first failures, not all 200: {sent}"
    );
    seldon_v2_canary_never_weighted(&env);
}

#[test]
fn a_malformed_request_line_is_exit_2_naming_file_and_line_before_anything_is_sent() {
    let env = Env::kube_only(Kind::SeldonV2);
    let server = mesh(inference::reference());
    let mut text = inference::jsonl("v2", &inference::feature_rows(5));
    text.push_str("{\"inputs\": [ {\"name\": \"predict\"\n");
    std::fs::write(env.dir.path().join("requests.jsonl"), text).unwrap();
    let compare = format!(
        "  requests: requests.jsonl\n  protocol: v2\n  address: {}\n",
        server.url
    );
    let before = env.kube.requests().len();
    let run = env.run(&config(SEQ_V2_TARGET, &compare, LABEL_GUARDRAILS));
    assert_eq!(run.code, 2, "{}", run.log());
    let file = env.dir.path().join("requests.jsonl");
    assert!(
        run.stderr.contains(&format!(
            "{}:6:1: compare.requests: not a JSON request body",
            file.display()
        )),
        "{}",
        run.stderr
    );
    assert_eq!(
        server.count.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "nothing sent"
    );
    assert_eq!(
        env.kube.requests().len(),
        before,
        "nothing asked of the cluster"
    );
}

#[test]
fn unreadable_answers_count_as_errors_with_an_example() {
    let env = Env::kube_only(Kind::SeldonV2);
    let stable = inference::v2(
        BTreeMap::from([("fd-v1".to_string(), inference::reference())]),
        false,
    );
    let bad = inference::garbage();
    write_requests(&env, "v2", 10);
    let compare = format!(
        "  requests: requests.jsonl\n  protocol: v2\n  rate: 200\n  stable: {{url: \"{}/v2/models/fd-v1/infer\"}}\n  canary: {{url: \"{}/v2/models/fd-v2/infer\"}}\n",
        stable.url, bad.url
    );
    let run = env.run(&config(SEQ_V2_TARGET, &compare, LABEL_GUARDRAILS));
    assert_eq!(run.code, 1, "{}", run.log());
    let c = &run.report["compare"];
    assert_eq!(c["canaryErrorRate"], 1.0, "{c}");
    assert_eq!(c["stableErrorRate"], 0.0, "{c}");
    let ex = &c["errorExamples"][0];
    assert_eq!(ex["side"], "canary");
    assert_eq!(ex["status"], 200);
    assert!(
        ex["message"]
            .as_str()
            .unwrap()
            .contains("unreadable answer: not JSON"),
        "{ex}"
    );
    assert!(
        c.get("unreachable").is_none(),
        "it answered, so it is reachable: {c}"
    );
    assert!(run.reason().contains("canary-errors"), "{}", run.reason());
}

#[test]
fn kserve_tag_routing_hosts_address_each_revision_over_v1() {
    let env = Env::kube_only(Kind::Kserve);
    let server = inference::kserve_v1(BTreeMap::from([
        (
            "prev-fd-predictor.ml.example.com".to_string(),
            inference::reference(),
        ),
        (
            "latest-fd-predictor.ml.example.com".to_string(),
            inference::differs_on_slice(7.0),
        ),
    ]));
    write_requests(&env, "v1", 80);
    let compare = format!(
        "  requests: requests.jsonl\n  protocol: v1\n  address: {}\n  domain: example.com\n  rate: 500\n",
        server.url
    );
    let target = "target:\n  platform: kserve\n  resource: fd\n";
    let run = env.run(&config(target, &compare, LABEL_GUARDRAILS));
    assert_eq!(run.code, 1, "{}", run.log());
    assert_eq!(run.weights_started(), [0]);
    let c = &run.report["compare"];
    assert_eq!(c["requests"], 80, "no stopEarly: every request: {c}");
    assert!(c["disagreement"].as_f64().unwrap() > 0.1, "{c}");
    // The canary went out at 0% (canaryTrafficPercent 0) and never above.
    for r in env.kube.requests() {
        if let Ok(b) = serde_json::from_str::<Value>(&r.body) {
            if let Some(p) = b["spec"]["predictor"]["canaryTrafficPercent"].as_u64() {
                assert_eq!(p, 0, "{}", r.body);
            }
        }
        assert!(
            !r.body.contains("\"value\":10"),
            "no stage weight was set: {}",
            r.body
        );
    }
}

#[test]
fn seldon_v1_scores_psi_and_differences_over_explicit_predictor_urls() {
    let env = Env::kube_only(Kind::Seldon);
    let stable = inference::seldon_v1(inference::reference());
    let canary = inference::seldon_v1(inference::reference());
    // Enough predictions that PSI's chance level ((1/n + 1/m) x 9 bins) is well below 0.1: the
    // judge holds a PSI guardrail while the sample is too small for its threshold to mean anything.
    write_requests(&env, "seldon", 600);
    let compare = format!(
        "  requests: requests.jsonl\n  protocol: seldon\n  prediction: {{kind: score}}\n  rate: 1000\n  concurrency: 8\n  stable: {{url: \"{}/api/v1.0/predictions\"}}\n  canary: {{url: \"{}/api/v1.0/predictions\"}}\n",
        stable.url, canary.url
    );
    let guardrails = "  - name: score-diff-max\n    provider: compare\n    query: scoreDiffMax\n    promote: \"< 0.01\"\n    rollback: \"> 0.1\"\n  - name: score-psi\n    provider: compare\n    psi: {query: canary, baseline: stable}\n    promote: \"< 0.1\"\n    rollback: \"> 0.2\"\n";
    let target = "target:\n  platform: seldon\n  resource: fd\n  stablePredictor: main\n  canaryPredictor: canary\n  stableModelUri: s3://m/v1\n";
    let run = env.run(&config(target, &compare, guardrails));
    assert_eq!(run.code, 0, "{}", run.log());
    let c = &run.report["compare"];
    assert_eq!(c["scoreDiffMax"], 0.0, "{c}");
    let psi = run.events("check")[0]["judgements"][1].clone();
    assert_eq!(psi["guardrail"], "score-psi");
    assert_eq!(psi["verdict"], "pass", "{psi}");
}

/// `plan` and `run --dry-run` show the comparison phase for every platform's example: the phase
/// first at 0%, what would be sent and where (header names, never `${VAR}` values), nothing sent.
#[test]
fn plan_and_dry_run_show_the_comparison_for_every_platform() {
    let cases = [
        ("kserve", "Host: latest-iris-predictor.ml.example.com"),
        (
            "seldon",
            "http://income-canary.ml:8000/api/v1.0/predictions",
        ),
        ("seldon-v2", "seldon-model: income-v2"),
        ("azureml", "azureml-model-deployment: green"),
        (
            "argo-rollouts",
            "canary POST http://income-canary.ml/v2/models/income/infer",
        ),
    ];
    for (name, canary) in cases {
        let file = format!("examples/compare/{name}.yaml");
        let plan = assert_cmd::Command::cargo_bin("mlcanary")
            .unwrap()
            .args(["plan", "-c", &file])
            .env("SCORER_TOKEN", "tok-DoNotPrint")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&plan.stdout);
        assert!(plan.status.success(), "{name}: {text}");
        assert!(
            text.lines()
                .any(|l| l.starts_with("compare ") && l.contains(" 0% ")),
            "{name}: {text}"
        );
        assert!(
            text.contains("compare (canary at 0%, before any traffic moves): 20 request(s)"),
            "{name}: {text}"
        );
        assert!(text.contains(canary), "{name}: {text}");
        let dry = assert_cmd::Command::cargo_bin("mlcanary")
            .unwrap()
            .args(["run", "--dry-run", "-c", &file])
            .env("SCORER_TOKEN", "tok-DoNotPrint")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&dry.stdout);
        assert!(dry.status.success(), "{name}: {text}");
        assert!(text.contains("compare | "), "{name}: {text}");
        assert!(text.contains(canary), "{name}: {text}");
        assert!(!text.contains("tok-DoNotPrint"), "{name}: {text}");
    }
}

/// With both `compare` and `shadow`, the comparison phase (weight 0, no mirror) must not render as
/// the shadow phase: the built-in templates mirror only while `stage.mirror > 0` (before, any
/// weight-0 phase of a config with `shadow` rendered the mirror, and on Seldon v2 dropped the canary
/// candidate the comparison calls).
#[test]
fn the_comparison_phase_is_not_rendered_as_the_shadow_phase() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("requests.jsonl"),
        inference::jsonl("v2", &inference::feature_rows(3)),
    )
    .unwrap();
    let cfg = dir.path().join("c.yaml");
    std::fs::write(
        &cfg,
        format!(
            "{}compare: {{requests: requests.jsonl, protocol: v2, address: \"http://mesh\"}}\nshadow: {{percent: 10, duration: 1m}}\nstages: [50]\nguardrails:\n{LABEL_GUARDRAILS}",
            config(SEQ_V2_TARGET, "", "").split("compare:\n").next().unwrap()
        ),
    )
    .unwrap();
    let out = assert_cmd::Command::cargo_bin("mlcanary")
        .unwrap()
        .args(["run", "--dry-run", "--format", "json", "-c"])
        .arg(&cfg)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let record: Value = serde_json::from_str(&text).unwrap();
    let experiments: Vec<&Value> = record["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| {
            r["method"] == "PATCH"
                && r["body"]["kind"] == "Experiment"
                && !r["path"].as_str().unwrap().contains("dryRun")
        })
        .map(|r| &r["body"])
        .collect();
    let first = experiments
        .first()
        .expect("the comparison phase applies the Experiment");
    assert!(
        first["spec"].get("mirror").is_none(),
        "no mirror while comparing: {first}"
    );
    let canary = first["spec"]["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "fd-v2");
    assert_eq!(
        canary.map(|c| c["weight"].clone()),
        Some(serde_json::json!(0)),
        "{first}"
    );
    // The shadow phase then mirrors (a merge patch of the Experiment's spec).
    let mirrored = record["requests"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["method"] == "PATCH" && r["body"]["spec"]["mirror"]["percent"] == 10);
    assert!(
        mirrored,
        "the shadow phase still mirrors: {}",
        record["requests"]
    );
}

/// Argo Rollouts: a user Rollout template that pauses at `setWeight: 0` without `setCanaryScale`
/// holds no canary pods, and Argo then leaves `canaryService` on the stable pods: mlcanary refuses
/// to compare (exit 1 with the reason, nothing sent to either address) and aborts the Rollout.
#[test]
fn argo_pause_at_zero_without_canary_pods_is_refused_before_sending() {
    let env = Env::kube_only(Kind::ArgoDrive);
    write_requests(&env, "v2", 20);
    let dir = env.dir.path().join("templates");
    std::fs::create_dir_all(&dir).unwrap();
    let builtin = std::fs::read_to_string("templates/argo-rollout.yaml").unwrap();
    let without: String = builtin
        .replace("        - setCanaryScale:\n            replicas: {{ target.canaryReplicas | default(1) }}\n", "")
        .replace("        - setCanaryScale:\n            matchTrafficWeight: true\n", "");
    assert_ne!(
        without, builtin,
        "the template's compare steps moved: update this test"
    );
    std::fs::write(dir.join("argo-rollout.yaml"), without).unwrap();
    // Nothing listens on port 9: a comparison that ran would fail as unreachable instead.
    let compare = "  requests: requests.jsonl\n  protocol: v2\n  stable: {url: \"http://127.0.0.1:9/v2/models/fd/infer\"}\n  canary: {url: \"http://127.0.0.1:9/v2/models/fd/infer\"}\n";
    let target = "templates: templates\ntarget:\n  platform: argo-rollouts\n  resource: fd\n  image: ghcr.io/acme/fd:2\n  replicas: 2\n  trafficRouting: {nginx: {stableIngress: fd}}\n";
    let run = env.run(&config(target, compare, LABEL_GUARDRAILS));
    assert_eq!(run.code, 1, "{}", run.log());
    assert!(run.reason().contains("no canary pods"), "{}", run.reason());
    assert_eq!(
        run.report["compare"].get("requests"),
        None,
        "{}",
        run.report["compare"]
    );
    let ro = env.object(&Kind::ArgoDrive.path()).unwrap();
    assert_eq!(ro["status"]["phase"], "Degraded", "{ro}");
    assert_eq!(ro["status"]["abort"], true, "{ro}");
}

/// Exit 1 by the critical disagreement guardrail, in the comparison phase: no stage began.
pub fn stopped_in_the_comparison(run: &e2e::Run) {
    assert_eq!(run.code, 1, "{}", run.log());
    assert!(
        run.reason()
            .contains("critical guardrail label-disagreement failed"),
        "{}",
        run.reason()
    );
    assert_eq!(run.weights_started(), [0], "no traffic stage began");
}
