//! End to end on Kubernetes: the `mlcanary` binary rolls a model out on the test API server
//! (KServe, Seldon v1, Seldon v2, Argo Rollouts drive and watch) while a real Prometheus scrapes
//! the canary's and stable's request metrics. A healthy canary is promoted through every stage; a
//! canary with 5% errors is rolled back at the first stage with exit 1, and `kubectl` reads the
//! traffic back on stable from the same server.
use crate::support::e2e;

use e2e::{Env, Kind, Opts, CANARY_URI};
use serde_json::Value;

/// Checks of the first stage in the report.
fn first_stage_checks(run: &e2e::Run) -> Vec<Value> {
    run.events("check")
        .into_iter()
        .filter(|e| e["phase"] == 0)
        .collect()
}

/// Promoted after walking exactly these weights (the plan ends with a judged 100% stage).
fn assert_promoted(run: &e2e::Run, weights: &[u64]) {
    assert_eq!(run.code, 0, "{}", run.log());
    assert_eq!(run.result(), "promoted", "{}", run.report);
    let started = run.weights_started();
    assert_eq!(started, weights, "every stage ran");
    for (i, _) in started.iter().enumerate().filter(|(_, w)| **w < 100) {
        let checks = run
            .events("check")
            .into_iter()
            .filter(|c| c["phase"] == i as u64)
            .count();
        assert!(checks >= 1, "stage {i} was judged: {}", run.report);
    }
    assert!(run.summary.contains("promoted"), "{}", run.summary);
    assert_eq!(
        run.output("result").as_deref(),
        Some("promoted"),
        "GITHUB_OUTPUT: {}",
        run.outputs
    );
}

/// Rolled back at the first stage because the error-rate guardrail failed.
fn assert_rolled_back_at_first_stage(run: &e2e::Run) {
    assert_eq!(run.code, 1, "{}", run.log());
    assert_eq!(run.result(), "rolled-back", "{}", run.report);
    assert!(
        run.reason()
            .contains("critical guardrail error-rate failed"),
        "{}",
        run.reason()
    );
    assert_eq!(run.events("phaseStarted").len(), 1, "{}", run.report);
    let failed = first_stage_checks(run)
        .iter()
        .flat_map(|c| c["judgements"].as_array().cloned().unwrap_or_default())
        .any(|j| j["verdict"] == "fail");
    assert!(failed, "a failing check in stage 1: {}", run.report);
    assert!(run.summary.contains("rolled back"), "{}", run.summary);
    assert_eq!(run.output("result").as_deref(), Some("rolled-back"));
}

/// Time from the failing check (its query start and its journal entry) to the rollback request
/// the API server received; printed for the report.
fn measure_rollback(env: &Env, run: &e2e::Run, path_prefix: &str, needle: Option<&str>) -> i64 {
    let check = run
        .events("check")
        .into_iter()
        .find(|c| c["decision"].as_str().is_some_and(|d| d.contains("roll")))
        .unwrap_or_else(|| panic!("a check deciding rollback: {}", run.report));
    let decided = check["at"].as_i64().expect("event time");
    let query_at = run.report["queries"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|q| q["phase"] == check["phase"] && q["check"] == check["check"])
        .filter_map(|q| q["at"].as_i64())
        .min()
        .expect("the failing check's queries");
    let after_decision = env
        .ms_to_request(decided, path_prefix, needle)
        .expect("a rollback request after the failing check");
    let after_query = env
        .ms_to_request(query_at, path_prefix, needle)
        .expect("a rollback request after the failing check");
    eprintln!(
        "[{:?}] failing check -> rollback request: {after_decision} ms after the verdict, {after_query} ms after the check's query was sent",
        env.kind
    );
    after_query
}

// ---------- KServe ----------

#[test]
fn kserve_healthy_canary_is_promoted_through_all_stages() {
    let Some(mut env) = Env::start(Kind::Kserve) else {
        return;
    };
    env.drive(0.0);
    let opts = Opts {
        stages: vec![10, 30, 60],
        ..Opts::default()
    };
    let run = env.run(&env.config(&opts));
    assert_promoted(&run, &[10, 30, 60, 100]);
    let o = env.object(&Kind::Kserve.path()).unwrap();
    assert!(
        o["spec"]["predictor"].get("canaryTrafficPercent").is_none(),
        "{o}"
    );
    assert_eq!(o["spec"]["predictor"]["model"]["storageUri"], CANARY_URI);
    let k = env
        .kubectl_main()
        .expect("kubectl sees the InferenceService");
    let p = &k["status"]["components"]["predictor"];
    assert_eq!(p["latestRolledoutRevision"], "fd-predictor-00002", "{k}");
    assert_eq!(p["traffic"][0]["percent"], 100, "{k}");
    // The canary queries named the revision the controller created.
    let q = run.report["queries"][0]["query"].as_str().unwrap();
    assert!(q.contains("fd-predictor-00002"), "{q}");
}

#[test]
fn kserve_canary_with_5_percent_errors_rolls_back_at_the_first_stage() {
    let Some(mut env) = Env::start(Kind::Kserve) else {
        return;
    };
    env.drive(0.05);
    let run = env.run(&env.config(&Opts::default()));
    assert_rolled_back_at_first_stage(&run);
    let o = env.object(&Kind::Kserve.path()).unwrap();
    assert_eq!(o["spec"]["predictor"]["canaryTrafficPercent"], 0, "{o}");
    let k = env
        .kubectl_main()
        .expect("kubectl sees the InferenceService");
    let traffic = k["status"]["components"]["predictor"]["traffic"].clone();
    let stable = traffic
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["revisionName"] == "fd-predictor-00001")
        .unwrap_or_else(|| panic!("{traffic}"));
    assert_eq!(stable["percent"], 100, "{traffic}");
    assert_eq!(run.report["traffic"]["split"]["fd-predictor-00001"], 100);
    measure_rollback(&env, &run, &Kind::Kserve.path(), Some("\"value\":0"));
    eprintln!("--- GITHUB_STEP_SUMMARY ---\n{}", run.summary);
}

#[test]
fn kserve_prometheus_killed_mid_stage_rolls_back_after_error_limit() {
    let Some(mut env) = Env::start(Kind::Kserve) else {
        return;
    };
    env.drive(0.0);
    let opts = Opts {
        pause: "8s",
        error_limit: 1,
        ..Opts::default()
    };
    let running = env.spawn_run(&env.config(&opts));
    // Kill Prometheus once the first stage is live and has been judged at least once.
    let path = Kind::Kserve.path();
    running.wait_for_stdout("check 1: ");
    env.prom().kill();
    let run = running.wait();
    assert_eq!(run.code, 1, "{}", run.log());
    assert_eq!(run.result(), "rolled-back", "{}", run.report);
    assert!(
        run.reason()
            .contains("provider errors in a row (errorLimit 1)"),
        "the report says why: {}",
        run.reason()
    );
    // At least one check passed before the kill, then errorLimit + 1 errors in a row.
    let verdicts: Vec<String> = first_stage_checks(&run)
        .iter()
        .map(|c| {
            c["judgements"][0]["verdict"]
                .as_str()
                .unwrap_or("")
                .to_string()
        })
        .collect();
    assert_eq!(
        verdicts.first().map(String::as_str),
        Some("pass"),
        "{verdicts:?}"
    );
    assert!(
        verdicts.ends_with(&["error".into(), "error".into()]),
        "{verdicts:?}"
    );
    let errors: Vec<&Value> = run.report["queries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|q| q["error"].is_string())
        .collect();
    assert!(!errors.is_empty(), "the provider errors are recorded");
    let o = env.object(&path).unwrap();
    assert_eq!(o["spec"]["predictor"]["canaryTrafficPercent"], 0, "{o}");
    assert!(
        run.stdout.contains("provider errors in a row"),
        "{}",
        run.stdout
    );
    eprintln!("[Kserve] Prometheus killed: {}", run.reason());
}

#[test]
fn kserve_revision_that_never_gets_ready_is_rolled_back_not_waited_for() {
    let Some(mut env) = Env::start(Kind::Kserve) else {
        return;
    };
    env.drive(0.0);
    let opts = Opts {
        model_uri: "s3://models/fd-broken".into(),
        ..Opts::default()
    };
    let run = env.run(&env.config(&opts));
    assert_eq!(run.code, 1, "{}", run.log());
    assert_eq!(run.result(), "rolled-back", "{}", run.report);
    assert!(run.reason().contains("RevisionFailed"), "{}", run.reason());
    assert!(
        run.events("check").is_empty(),
        "no check of a dead revision"
    );
    let o = env.object(&Kind::Kserve.path()).unwrap();
    assert_eq!(o["spec"]["predictor"]["canaryTrafficPercent"], 0, "{o}");
    assert!(
        !run.reason().contains("not ready within"),
        "failed, not timed out"
    );
}

// ---------- Seldon Core v1 ----------

#[test]
fn seldon_healthy_canary_is_promoted_into_the_stable_predictor() {
    let Some(mut env) = Env::start(Kind::Seldon) else {
        return;
    };
    env.drive(0.0);
    let run = env.run(&env.config(&Opts::default()));
    assert_promoted(&run, &[10, 50, 100]);
    let k = env
        .kubectl_main()
        .expect("kubectl sees the SeldonDeployment");
    let preds = k["spec"]["predictors"].as_array().unwrap();
    assert_eq!(preds.len(), 1, "{k}");
    assert_eq!(preds[0]["name"], "main");
    assert_eq!(preds[0]["traffic"], 100);
    assert_eq!(preds[0]["graph"]["modelUri"], CANARY_URI, "{k}");
    assert_eq!(env.object(&Kind::Seldon.path()).unwrap()["spec"], k["spec"]);
}

#[test]
fn seldon_canary_with_5_percent_errors_rolls_back_at_the_first_stage() {
    let Some(mut env) = Env::start(Kind::Seldon) else {
        return;
    };
    env.drive(0.05);
    let run = env.run(&env.config(&Opts::default()));
    assert_rolled_back_at_first_stage(&run);
    let k = env
        .kubectl_main()
        .expect("kubectl sees the SeldonDeployment");
    let preds = k["spec"]["predictors"].as_array().unwrap();
    assert_eq!(preds.len(), 1, "the canary predictor is gone: {k}");
    assert_eq!(preds[0]["name"], "main");
    assert_eq!(preds[0]["traffic"], 100);
    assert_eq!(preds[0]["graph"]["modelUri"], e2e::STABLE_URI, "{k}");
    assert_eq!(env.object(&Kind::Seldon.path()).unwrap()["spec"], k["spec"]);
    assert_eq!(
        run.report["traffic"]["split"]["main"], 100,
        "{}",
        run.report
    );
    measure_rollback(&env, &run, &Kind::Seldon.path(), Some("\"value\":0"));
}

// ---------- Seldon Core v2 ----------

#[test]
fn seldon_v2_healthy_canary_is_promoted_onto_the_stable_model() {
    let Some(mut env) = Env::start(Kind::SeldonV2) else {
        return;
    };
    env.drive(0.0);
    let run = env.run(&env.config(&Opts::default()));
    assert_promoted(&run, &[10, 50, 100]);
    let stable = env
        .kubectl_get("models.mlops.seldon.io", "fd-v1")
        .expect("the stable Model stays");
    assert_eq!(stable["spec"]["storageUri"], CANARY_URI, "{stable}");
    assert!(env.kubectl_main().is_none(), "the Experiment is removed");
    assert!(env.kubectl_get("models.mlops.seldon.io", "fd-v2").is_none());
    assert!(env.object(&e2e::model_path("fd-v2")).is_none());
}

#[test]
fn seldon_v2_canary_with_5_percent_errors_rolls_back_at_the_first_stage() {
    let Some(mut env) = Env::start(Kind::SeldonV2) else {
        return;
    };
    env.drive(0.05);
    let run = env.run(&env.config(&Opts::default()));
    assert_rolled_back_at_first_stage(&run);
    assert!(env.kubectl_main().is_none(), "the Experiment is removed");
    assert!(env.object(&Kind::SeldonV2.path()).is_none());
    assert!(env.kubectl_get("models.mlops.seldon.io", "fd-v2").is_none());
    let stable = env
        .kubectl_get("models.mlops.seldon.io", "fd-v1")
        .expect("the stable Model stays");
    assert_eq!(stable["spec"]["storageUri"], e2e::STABLE_URI, "{stable}");
    assert_eq!(
        run.report["traffic"]["split"]["fd-v1"], 100,
        "{}",
        run.report
    );
    measure_rollback(&env, &run, &Kind::SeldonV2.path(), None);
}

// ---------- Argo Rollouts ----------

fn canary_weight(rollout: &Value) -> u64 {
    rollout["status"]["canary"]["weights"]["canary"]["weight"]
        .as_u64()
        .unwrap_or(999)
}

#[test]
fn argo_drive_healthy_canary_is_promoted_through_all_pauses() {
    let Some(mut env) = Env::start(Kind::ArgoDrive) else {
        return;
    };
    env.drive(0.0);
    let run = env.run(&env.config(&Opts {
        pause: "4s",
        ..Opts::default()
    }));
    assert_promoted(&run, &[10, 50, 100]);
    let canary = env
        .followed_canary()
        .expect("the controller named a canary");
    let k = env.kubectl_main().expect("kubectl sees the Rollout");
    assert_eq!(k["status"]["phase"], "Healthy", "{k}");
    assert_eq!(k["status"]["stableRS"], canary.as_str(), "{k}");
    assert_eq!(canary_weight(&k), 100);
    let q = run.report["queries"][0]["query"].as_str().unwrap();
    assert!(q.contains(&canary), "queries name the canary hash: {q}");
}

#[test]
fn argo_drive_canary_with_5_percent_errors_is_aborted_at_the_first_stage() {
    let Some(mut env) = Env::start(Kind::ArgoDrive) else {
        return;
    };
    env.drive(0.05);
    let run = env.run(&env.config(&Opts {
        pause: "4s",
        ..Opts::default()
    }));
    assert_rolled_back_at_first_stage(&run);
    let k = env.kubectl_main().expect("kubectl sees the Rollout");
    assert_eq!(k["status"]["abort"], true, "{k}");
    assert_eq!(k["status"]["phase"], "Degraded", "{k}");
    assert_eq!(canary_weight(&k), 0, "{k}");
    assert_eq!(k["status"]["stableRS"], env.stable_revision.as_str());
    measure_rollback(&env, &run, &Kind::ArgoDrive.path(), Some("abort"));
}

#[test]
fn argo_watch_follows_the_rollout_to_healthy() {
    let Some(mut env) = Env::start(Kind::ArgoWatch) else {
        return;
    };
    env.drive(0.0);
    let run = env.run(&env.config(&Opts {
        pause: "1s",
        ..Opts::default()
    }));
    assert_promoted(&run, &[100]);
    // The log says what Argo will do (its first setWeight and steps), not "canary 100%".
    assert!(
        run.stdout.contains("Argo starts the canary at 10% and walks its steps: setWeight 10%, pause 1s, analysis, setWeight 50%"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("(canary 100%)"), "{}", run.stdout);
    let k = env.kubectl_main().expect("kubectl sees the Rollout");
    assert_eq!(k["status"]["phase"], "Healthy", "{k}");
    let steps = k["spec"]["strategy"]["canary"]["steps"].to_string();
    assert!(
        steps.contains("analysis"),
        "watch mode hands judging to Argo: {steps}"
    );
    let tmpl = env
        .kubectl_get("analysistemplates.argoproj.io", "fd-guardrails")
        .expect("the AnalysisTemplate was applied");
    let q = tmpl["spec"]["metrics"][0]["provider"]["prometheus"]["query"].to_string();
    assert!(q.contains("args.canary-hash"), "{q}");
}

#[test]
fn argo_watch_degraded_rollout_exits_1() {
    let Some(mut env) = Env::start(Kind::ArgoWatch) else {
        return;
    };
    env.drive(0.0);
    let running = env.spawn_run(&env.config(&Opts {
        pause: "1s",
        ..Opts::default()
    }));
    // Argo's AnalysisRun fails: its controller aborts the Rollout (the test server cannot run
    // analysis, so the test plays that part once the new revision is progressing).
    let path = Kind::ArgoWatch.path();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while env.followed_canary().is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "the Rollout never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let mut o = env.object(&path).unwrap();
    o["status"]["abort"] = Value::Bool(true);
    o["status"]["canary"]["currentStepAnalysisRunStatus"] = serde_json::json!({
        "name": "fd-guardrails-1", "status": "Failed", "message": "Metric \"error-rate\" assessed Failed"
    });
    env.kube.insert(&path, o);
    let run = running.wait();
    assert_eq!(run.code, 1, "{}", run.log());
    assert_eq!(run.result(), "rolled-back", "{}", run.report);
    assert!(
        run.reason().contains("Argo aborted the rollout"),
        "{}",
        run.reason()
    );
    let k = env.kubectl_main().expect("kubectl sees the Rollout");
    assert_eq!(k["status"]["phase"], "Degraded", "{k}");
    assert_eq!(canary_weight(&k), 0, "{k}");
}

/// Seldon v1: `render` at 100% is the object the live promote leaves (the stable predictor alone
/// on the new graph), and a config without `stableModelUri` is refused by `validate` (exit 2,
/// FILE:LINE:COL and the key) instead of rendering a placeholder.
#[test]
fn seldon_render_at_100_is_what_promote_leaves_and_stable_model_uri_is_required() {
    let Some(mut env) = Env::start(Kind::Seldon) else {
        return;
    };
    env.drive(0.0);
    let cfg = env.config(&Opts::default());
    let run = env.run(&cfg);
    assert_promoted(&run, &[10, 50, 100]);
    let path = env.write_config(&cfg);
    let rendered = env.mlcanary(&[
        "render".into(),
        "-c".into(),
        path.display().to_string(),
        "--stage".into(),
        "3".into(),
    ]);
    assert_eq!(rendered.code, 0, "{}", rendered.log());
    let doc: Value = yaml_serde::from_str(&rendered.stdout).expect("one YAML document");
    let live = env
        .kubectl_main()
        .expect("kubectl sees the SeldonDeployment");
    assert_eq!(
        doc["spec"]["predictors"], live["spec"]["predictors"],
        "render at 100% vs the promoted object"
    );

    let without = cfg.replace("  stableModelUri: s3://models/fd-v1\n", "");
    assert_ne!(without, cfg);
    let path = env.write_config(&without);
    let v = env.mlcanary(&["validate".into(), "-c".into(), path.display().to_string()]);
    assert_eq!(v.code, 2, "{}", v.log());
    let file = path.display().to_string();
    assert!(
        v.stderr.contains(&format!("{file}:")) && v.stderr.contains("target.stableModelUri"),
        "{}",
        v.stderr
    );
}

/// `plan` says what Seldon v1 does with a shadow predictor: it receives a copy of every request,
/// whatever `shadow.percent` says.
#[test]
fn plan_says_seldon_v1_shadow_copies_every_request() {
    let dir = tempfile::tempdir().unwrap();
    let text = include_str!("../../examples/seldon.yaml").replace("percent: 100", "percent: 10");
    assert!(text.contains("percent: 10\n"));
    let path = dir.path().join("seldon.yaml");
    std::fs::write(&path, text).unwrap();
    let out = assert_cmd::Command::cargo_bin("mlcanary")
        .unwrap()
        .args(["plan", "-c", path.to_str().unwrap()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains("copies EVERY request to the shadow predictor")
            && stdout.contains("whatever `percent` (10%) says"),
        "{stdout}"
    );
}

/// `plan` warns about GitOps owners: offline from the rendered manifests (a tracking annotation
/// the templates render), and from the live object when the kubeconfig's cluster answers, with
/// GETs only; a cluster that cannot be read is one line, never an error.
#[test]
fn plan_warns_about_gitops_owners_offline_and_on_the_live_object_read_only() {
    let env = Env::kube_only(Kind::Kserve);
    let path = Kind::Kserve.path();
    let mut o = env.object(&path).unwrap();
    o["metadata"]["labels"] = serde_json::json!({"kustomize.toolkit.fluxcd.io/name": "apps"});
    o["metadata"]["managedFields"] =
        serde_json::json!([{"manager": "kustomize-controller", "operation": "Apply"}]);
    env.kube.insert(&path, o);
    let config = env
        .config(&Opts::default())
        .replace(
            &format!("  resource: {}\n", e2e::NAME),
            &format!(
                "  resource: {}\n  annotations: {{argocd.argoproj.io/tracking-id: \"fraud:serving.kserve.io/InferenceService:ml/fd\"}}\n",
                e2e::NAME
            ),
        );
    assert!(config.contains("tracking-id"), "{config}");
    let file = env.write_config(&config);
    let before = env.kube.requests().len();
    let plan = env.mlcanary(&["plan".into(), "-c".into(), file.display().to_string()]);
    assert_eq!(plan.code, 0, "{}", plan.log());
    for text in [&plan.stdout, &plan.summary] {
        assert!(
            text.contains("in the rendered manifests: InferenceService fd is managed by Argo CD (annotation argocd.argoproj.io/tracking-id=fraud:"),
            "{text}"
        );
        assert!(
            text.contains("live: InferenceService fd is managed by Flux (label kustomize.toolkit.fluxcd.io/name=apps, field manager kustomize-controller)"),
            "{text}"
        );
        assert!(!text.contains("not checked"), "{text}");
    }
    let sent: Vec<String> = env.kube.requests()[before..]
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert_eq!(sent, vec![format!("GET {path}")]);
    // The same config against a kubeconfig whose cluster does not answer: one line, exit 0.
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    std::fs::write(
        &kc,
        "apiVersion: v1\nkind: Config\ncurrent-context: x\nclusters: [{name: x, cluster: {server: \"http://127.0.0.1:9\"}}]\nusers: [{name: x, user: {}}]\ncontexts: [{name: x, context: {cluster: x, user: x, namespace: ml}}]\n",
    )
    .unwrap();
    let out = assert_cmd::Command::cargo_bin("mlcanary")
        .unwrap()
        .args(["plan", "-c", file.to_str().unwrap()])
        .env("KUBECONFIG", &kc)
        .env_remove("GITHUB_STEP_SUMMARY")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert_eq!(
        stdout
            .lines()
            .filter(|l| l.starts_with("GitOps owners not checked: "))
            .count(),
        1,
        "{stdout}"
    );
    assert!(
        stdout.contains("in the rendered manifests: InferenceService fd is managed by Argo CD"),
        "{stdout}"
    );
    assert!(!stdout.contains("live: "), "{stdout}");
}

/// A target managed by Argo CD (its tracking annotation and field manager): the run warns on
/// the console and in the step summary that self-heal can revert the weights it sets.
#[test]
fn gitops_owned_target_is_warned_about_in_the_log_and_the_summary() {
    let Some(mut env) = Env::start(Kind::Kserve) else {
        return;
    };
    let path = Kind::Kserve.path();
    let mut o = env.object(&path).unwrap();
    o["metadata"]["annotations"] = serde_json::json!({
        "argocd.argoproj.io/tracking-id": "fraud:serving.kserve.io/InferenceService:ml/fd"
    });
    o["metadata"]["managedFields"] =
        serde_json::json!([{"manager": "argocd-controller", "operation": "Apply"}]);
    env.kube.insert(&path, o);
    env.drive(0.0);
    let run = env.run(&env.config(&Opts {
        stages: vec![50],
        pause: "2s",
        ..Opts::default()
    }));
    assert_eq!(run.code, 0, "{}", run.log());
    for text in [&run.stdout, &run.summary] {
        assert!(
            text.contains("is managed by Argo CD")
                && text.contains("field manager argocd-controller")
                && text.contains("docs/kubernetes.md"),
            "{text}"
        );
    }
}

/// Seldon v1 on a slow cluster (controller 1 s late, pods ready 2 s later): readiness comes from
/// evidence of the new spec (the canary predictor's Deployment available), not from the
/// `state: Available` left over from before the write, so no check runs before the canary serves.
#[test]
fn seldon_readiness_waits_for_the_canary_deployment_not_a_stale_available() {
    let Some(mut env) = Env::start_slow(
        Kind::Seldon,
        std::time::Duration::from_millis(1000),
        std::time::Duration::from_millis(2000),
    ) else {
        return;
    };
    env.drive(0.0);
    let running = env.spawn_run(&env.config(&Opts {
        stages: vec![20],
        pause: "3s",
        ..Opts::default()
    }));
    let path = Kind::Seldon.path();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(40);
    let canary_live = loop {
        let o = env.object(&path).unwrap();
        if o["status"]["deploymentStatus"]
            .as_object()
            .is_some_and(|d| d.keys().any(|k| k.starts_with("fd-canary-")))
        {
            break e2e::unix_ms(std::time::SystemTime::now());
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the canary never became available"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    let run = running.wait();
    assert_eq!(run.code, 0, "{}", run.log());
    let first_check = run.events("check")[0]["at"].as_i64().unwrap();
    assert!(
        first_check >= canary_live,
        "first check {} ms before the canary's Deployment was available",
        canary_live - first_check
    );
}
